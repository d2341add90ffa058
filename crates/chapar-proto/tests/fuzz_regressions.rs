//! The `client_frame` fuzz target's regressions and seeds, replayed through the target's own
//! check (fuzz/src/client_frame.rs): inputs that once failed, or edge cases, stay fixed.

#[path = "../../../fuzz/src/client_frame.rs"]
mod client_frame;
#[path = "../../../fuzz/src/replay.rs"]
mod replay;

use replay::{dir, replay};

const HERE: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn client_frame_regressions_and_seeds_pass() {
    replay(
        &dir(HERE, "regressions", "client_frame"),
        client_frame::check,
    );
    replay(&dir(HERE, "seeds", "client_frame"), client_frame::check);
}
