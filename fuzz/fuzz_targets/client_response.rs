#![no_main]
//! Fuzz target `client_response`: the body is `manifold_fuzz::targets::client_response::run` (shared with the replay test).

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| manifold_fuzz::targets::client_response::run(data));
