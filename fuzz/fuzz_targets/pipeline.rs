#![no_main]
//! Fuzz target `pipeline`: the body is `manifold_fuzz::targets::pipeline::run` (shared with the replay test).

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| manifold_fuzz::targets::pipeline::run(data));
