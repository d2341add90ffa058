//! The checks behind chapar's fuzz targets, one module per target (`fuzz_targets/<name>.rs`
//! calls `<name>::check`). Each module uses only the public API of the crate it tests, so the
//! owning crate's `fuzz_regressions` test includes the same file and replays
//! `fuzz/regressions/<name>/` and `fuzz/seeds/<name>/` through it.

pub mod botapi_format;
pub mod botapi_params;
pub mod client_frame;
pub mod replay;
pub mod rules;
pub mod webhook_answer;
pub mod webhook_url;
