#![no_main]
//! Fuzz target `jose`: the body is `manifold_fuzz::targets::jose::run` (shared with the replay test).

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| manifold_fuzz::targets::jose::run(data));
