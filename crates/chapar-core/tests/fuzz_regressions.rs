//! The `rules` fuzz target's regressions and seeds, replayed through the target's own check
//! (fuzz/src/rules.rs): inputs that once failed, or edge cases, stay fixed.

#[path = "../../../fuzz/src/replay.rs"]
mod replay;
#[path = "../../../fuzz/src/rules.rs"]
mod rules;

use replay::{dir, replay};

const HERE: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn rules_regressions_and_seeds_pass() {
    replay(&dir(HERE, "regressions", "rules"), rules::check);
    replay(&dir(HERE, "seeds", "rules"), rules::check);
}
