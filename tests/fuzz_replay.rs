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
    assert!(
        failed.is_empty(),
        "{target}: inputs that panicked: {failed:#?}"
    );
    inputs.len()
}

/// Replay a target's whole committed corpus, which must not be empty.
fn corpus(target: &str) {
    let n = replay("corpus", target);
    assert!(n > 0, "fuzz/corpus/{target} is empty");
    println!("fuzz_replay: {target}: {n} corpus inputs");
}

#[test]
fn corpus_cel() {
    corpus("cel");
}

#[test]
fn corpus_client_response() {
    corpus("client_response");
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
    assert!(
        targets::client_response::started(),
        "client_response: no backend or client"
    );
}

/// The targets reach the code behind their fixtures: a good input is served, a bad one
/// refused (a target that answered everything with the same error would fuzz only that).
#[test]
fn targets_reach_their_code() {
    use http::StatusCode;
    use targets::jose::ALGS;

    // jose: the scenario suite's valid HS256 token verifies; a flipped signature does not.
    let token = include_str!("scenarios/jwt/alg_hs256_valid/plan.json");
    let token = token
        .split("Bearer ")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let hs256 = ALGS[0];
    assert_eq!(targets::jose::status(hs256, token), Some(StatusCode::OK));
    let broken = format!("{}A", &token[..token.len() - 1]);
    let refused = targets::jose::status(hs256, &broken).unwrap();
    assert!(refused.is_client_error(), "{refused}");

    // cel: a true check serves, a false one aborts (KrakenD's 500), a syntax error does not
    // compile.
    let ok = "req_method == 'GET' && JWT.sub == 'user-1' && req_params.Id == '7'";
    assert_eq!(targets::cel::status(ok), Some(StatusCode::OK));
    let refused = targets::cel::status("req_method == 'POST'");
    assert_eq!(refused, Some(StatusCode::INTERNAL_SERVER_ERROR));
    assert_eq!(targets::cel::status("(("), None);

    // lambda: the sample events decode and are answered by their routes.
    for event in
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("lambda/events")).unwrap()
    {
        let path = event.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let status = targets::lambda::status(&text);
        assert_eq!(status, Some(StatusCode::OK), "{}", path.display());
    }

    // pipeline: a JSON object is served by every endpoint that reads an object, a JSON array
    // by the collection endpoint, XML by the XML-reading ones.
    let answers = targets::pipeline::answers(br#"{"a":[{"b":1,"d":2}],"b":{"c":3},"f":[4]}"#);
    assert_eq!(answers.len(), 12);
    for (path, status) in answers {
        if !path.starts_with("/xml") && path != "/collection" {
            assert_eq!(status, StatusCode::OK, "{path}");
        }
    }
    let answers = targets::pipeline::answers(br#"[{"a":1},{"b":2}]"#);
    assert!(
        answers.contains(&("/collection", StatusCode::OK)),
        "{answers:?}"
    );
    let answers = targets::pipeline::answers(b"<root><a>1</a><b>2</b></root>");
    assert!(answers.contains(&("/xml", StatusCode::OK)), "{answers:?}");
    assert!(
        answers.contains(&("/xml-json", StatusCode::OK)),
        "{answers:?}"
    );
}

/// Crash inputs found by fuzzing, each kept as a file under fuzz/regressions/<target>/ and
/// replayed here by name (docs/fuzzing.md says what each one was).
mod regressions {
    use super::replay;

    /// fuzz `config`, first input: an empty config text was refused at column 0 (serde_json's
    /// column at the start of a line), outside the 1-based positions diagnostics promise.
    /// Also EOF right after a newline.
    #[test]
    fn config_empty_text_is_located_at_1_1() {
        for (text, line) in [("", 1), ("{\n", 2), ("{\n\n", 3)] {
            let errors = manifold_core::parse_config(text).unwrap_err();
            let d = &errors.errors[0];
            assert_eq!((d.line, d.column), (line, 1), "{text:?}: {d}");
        }
        super::targets::config::run(b"");
    }

    /// fuzz `lambda`, after 7 s: an event whose body is marked `isBase64Encoded` but is not
    /// base64 makes lambda_http's conversion panic (aws_lambda_events' `Body::from_maybe_encoded`
    /// calls `expect`), in the bootstrap's adapter. lambda_http's panic, not Manifold's: the
    /// bootstrap's runtime (lambda_runtime's CatchPanicService) turns it into a failed
    /// invocation, and the target contains it the same way. A valid base64 body decodes and is
    /// served.
    #[test]
    fn lambda_body_marked_base64_that_is_not_base64_is_contained() {
        use super::targets::lambda::{lambda_http_alone, status};
        use lambda_http::request::LambdaRequest;

        let path = super::fuzz_dir().join("regressions/lambda/alb-body-marked-base64-not-base64");
        let text = std::fs::read_to_string(path).unwrap();
        let raw = |text: &str| -> LambdaRequest { serde_json::from_str(text).unwrap() };
        let converted = lambda_http_alone(|| lambda_http::Request::from(raw(&text)));
        assert!(converted.is_none(), "lambda_http converts it now");
        assert_eq!(status(&text), None);

        let mut event: serde_json::Value = serde_json::from_str(&text).unwrap();
        event["body"] = "eyJmcm9tIjoiYWxiIn0=".into();
        let request = lambda_http::Request::from(raw(&event.to_string()));
        let (request, _) = manifold_lambda::to_core(request).unwrap();
        assert_eq!(request.body().as_ref(), br#"{"from":"alb"}"#);
        assert_eq!(status(&event.to_string()), Some(http::StatusCode::OK));
    }

    /// fuzz `lambda` on main, after 12 s: an HTTP API event whose X-Forwarded-Proto is `ht:tps`
    /// made lambda_http's conversion panic while building the request URI ("failed to build
    /// request: InvalidUri(InvalidAuthority)"). Contained like the base64 body above. The same
    /// event with a real scheme and path is served.
    #[test]
    fn lambda_uri_that_lambda_http_cannot_build_is_contained() {
        use super::targets::lambda::{lambda_http_alone, status};
        use lambda_http::request::LambdaRequest;

        let path = super::fuzz_dir().join("regressions/lambda/v2-forwarded-proto-not-a-scheme");
        let text = std::fs::read_to_string(path).unwrap();
        let event: LambdaRequest = serde_json::from_str(&text).unwrap();
        let converted = lambda_http_alone(|| lambda_http::Request::from(event));
        assert!(converted.is_none(), "lambda_http converts it now");
        assert_eq!(status(&text), None);

        let mut event: serde_json::Value = serde_json::from_str(&text).unwrap();
        event["headers"]["x-forwarded-proto"] = "https".into();
        event["rawPath"] = "/users/42".into();
        assert_eq!(status(&event.to_string()), Some(http::StatusCode::OK));
    }

    /// The two tests above rely on the bootstrap unwinding: lambda_runtime can only turn a
    /// panic into a failed invocation if it unwinds. `cargo lambda build --release` (and
    /// `sam build`) use the workspace's release profile, which must not abort on panic.
    #[test]
    fn lambda_release_profile_unwinds() {
        let manifest = std::fs::read_to_string(super::fuzz_dir().join("../Cargo.toml")).unwrap();
        let release = manifest
            .split("\n[")
            .find(|section| section.starts_with("profile.release]"))
            .expect("the workspace has a [profile.release]");
        let panic = release
            .lines()
            .find(|l| l.trim_start().starts_with("panic"));
        assert!(panic.is_none(), "[profile.release] sets {panic:?}");
    }

    /// fuzz `server_head`: after a request with `Expect: 100-continue`, or a NUL-prefixed
    /// header line and a pipelined GET, each half-closed by the client, the target's health
    /// probe sometimes got no answer. The harness, not the server: the probe half-closed too,
    /// and hyper may drop the answer to a half-closed request. The probe no longer half-closes.
    /// A race, so repeated: with the old probe six trials failed after 0 to 1,591 runs (median
    /// about 190); with the new one 30,000 runs passed.
    #[test]
    fn server_head_probe_after_half_closed_inputs() {
        const RUNS: usize = 500;
        let inputs = super::files(&super::fuzz_dir().join("regressions/server_head"));
        assert_eq!(inputs.len(), 2, "{inputs:?}");
        for path in inputs {
            let data = std::fs::read(&path).unwrap();
            for _ in 0..RUNS {
                super::targets::server_head::run(&data);
            }
        }
    }

    #[test]
    fn regression_inputs_replay() {
        for (target, _) in super::targets::ALL {
            replay("regressions", target);
        }
    }
}
