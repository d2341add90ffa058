//! Replays committed inputs through a target's check, for the owning crates' `fuzz_regressions`
//! tests (they include this file and the check's file by path, so a plain `cargo test` runs
//! exactly what the fuzzer runs).

use std::path::{Path, PathBuf};

/// `fuzz/<kind>/<target>` from a crate's manifest directory (`crates/<name>`).
pub fn dir(manifest_dir: &str, kind: &str, target: &str) -> PathBuf {
    Path::new(manifest_dir)
        .join("../../fuzz")
        .join(kind)
        .join(target)
}

/// Runs every file of `dir` through `check`; fails when the directory is missing or empty, or
/// naming every file whose check panicked. Returns how many files ran.
pub fn replay(dir: &Path, check: fn(&[u8])) -> usize {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no inputs", dir.display());
    let failed: Vec<String> = files
        .iter()
        .filter(|f| {
            let data = std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            std::panic::catch_unwind(|| check(&data)).is_err()
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(failed.is_empty(), "these inputs fail: {failed:?}");
    files.len()
}
