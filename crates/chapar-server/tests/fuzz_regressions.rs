//! The Bot API fuzz targets' regressions and seeds, replayed through each target's own check
//! (fuzz/src/<target>.rs): inputs that once failed, or edge cases, stay fixed.

#[path = "../../../fuzz/src/botapi_format.rs"]
mod botapi_format;
#[path = "../../../fuzz/src/botapi_params.rs"]
mod botapi_params;
#[path = "../../../fuzz/src/replay.rs"]
mod replay;
#[path = "../../../fuzz/src/webhook_answer.rs"]
mod webhook_answer;
#[path = "../../../fuzz/src/webhook_url.rs"]
mod webhook_url;

use replay::{dir, replay};

const HERE: &str = env!("CARGO_MANIFEST_DIR");

fn both(target: &str, check: fn(&[u8])) {
    replay(&dir(HERE, "regressions", target), check);
    replay(&dir(HERE, "seeds", target), check);
}

#[test]
fn botapi_params_regressions_and_seeds_pass() {
    both("botapi_params", botapi_params::check);
}

#[test]
fn botapi_format_regressions_and_seeds_pass() {
    both("botapi_format", botapi_format::check);
}

#[test]
fn webhook_answer_regressions_and_seeds_pass() {
    both("webhook_answer", webhook_answer::check);
}

#[test]
fn webhook_url_regressions_and_seeds_pass() {
    both("webhook_url", webhook_url::check);
}
