//! The shared Store conformance suite (chapar-core, feature `conformance`) against SqliteStore,
//! one test per case, each on a fresh database in a temporary directory.

use chapar_core::conformance;
use chapar_store_sqlite::{SqliteOptions, SqliteStore};

fn fresh_store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let store =
        chapar_store_sqlite::open(dir.path(), SqliteOptions::default(), conformance::limits())
            .unwrap_or_else(|e| panic!("open: {e}"));
    (dir, store)
}

chapar_core::store_conformance_tests!(fresh_store);
