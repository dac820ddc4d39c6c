//! Replays every committed fuzz corpus file (`fuzz/corpus/<target>/`) and every crash
//! regression input (`fuzz/regressions/<target>/`) through the same target bodies the fuzzer
//! runs (`fuzz/src/targets/`, compiled into this test), on stable, in `cargo test`. The fuzzing
//! itself needs libFuzzer and is not part of CI: see docs/fuzzing.md and scripts/fuzz.sh.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

#[allow(unreachable_pub, dead_code)]
#[path = "../fuzz/src/targets/mod.rs"]
mod targets;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of `dir`, sorted (empty when it does not exist).
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect(),
        Err(_) => Vec::new(),
    };
    out.sort();
    out
}

/// Run every input of `target` from `dir`; fail naming each input that panicked.
fn replay(dir: &str, target: &str) -> usize {
    let (_, run) = targets::ALL
        .iter()
        .find(|(name, _)| *name == target)
        .unwrap_or_else(|| panic!("no fuzz target {target}"));
    let inputs = files(&fuzz_dir().join(dir).join(target));
    let failed: Vec<String> = inputs
        .iter()
        .filter(|path| {
            let data = std::fs::read(path).unwrap();
            catch_unwind(AssertUnwindSafe(|| run(&data))).is_err()
        })
        .map(|p| p.display().to_string())
        .collect();
    assert!(failed.is_empty(), "{target}: inputs that panicked: {failed:#?}");
    inputs.len()
}

/// Replay a target's whole committed corpus, which must not be empty.
fn corpus(target: &str) {
    let n = replay("corpus", target);
    assert!(n > 0, "fuzz/corpus/{target} is empty");
    eprintln!("fuzz_replay: {target}: {n} corpus inputs");
}

#[test]
fn corpus_cel() {
    corpus("cel");
}

#[test]
fn corpus_config() {
    corpus("config");
}

#[test]
fn corpus_jose() {
    corpus("jose");
}

#[test]
fn corpus_json() {
    corpus("json");
}

#[test]
fn corpus_lambda() {
    corpus("lambda");
}

#[test]
fn corpus_pipeline() {
    corpus("pipeline");
}

#[test]
fn corpus_server_head() {
    corpus("server_head");
}

#[test]
fn corpus_url() {
    corpus("url");
}

/// Every corpus directory belongs to a target and every target has one (a new target
/// without a test above, or a renamed directory, fails here).
#[test]
fn corpus_directories_match_the_targets() {
    let mut dirs: Vec<String> = std::fs::read_dir(fuzz_dir().join("corpus"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    let names: Vec<&str> = targets::ALL.iter().map(|(n, _)| *n).collect();
    assert_eq!(dirs, names);
}

/// The fixed configs inside the targets compile and the server starts: otherwise a target
/// would return early on every input and fuzz nothing.
#[test]
fn target_fixtures_work() {
    let harness = targets::Harness::new();
    let configs = [
        ("pipeline", targets::pipeline::CONFIG.to_owned()),
        ("lambda", targets::lambda::CONFIG.to_owned()),
        ("jose", targets::jose::config()),
        ("cel", targets::cel::config("req_method == 'GET'")),
    ];
    for (name, config) in configs {
        if let Err(e) = harness.gateway(&config) {
            panic!("{name}: the target's config does not compile: {e}");
        }
    }
    assert!(targets::server_head::started(), "server_head: no server");
}

/// Crash inputs found by fuzzing, each kept as a file under fuzz/regressions/<target>/ and
/// replayed here by name (docs/fuzzing.md says what each one was).
mod regressions {
    use super::replay;

    #[test]
    fn regression_inputs_replay() {
        for (target, _) in super::targets::ALL {
            replay("regressions", target);
        }
    }
}
