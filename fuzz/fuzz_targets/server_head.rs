#![no_main]
//! Fuzz target `server_head`: the body is `manifold_fuzz::targets::server_head::run` (shared with the replay test).

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| manifold_fuzz::targets::server_head::run(data));
