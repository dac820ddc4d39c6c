//! The bodies of Manifold's fuzz targets, one module per target. The same files are compiled
//! into `tests/fuzz_replay.rs`, so what the fuzzer ran and what CI replays cannot drift.

pub mod targets;
