//! The built `manifold` binary, as a user runs it: `--version`, `check` on every shipped config
//! and on a broken copy, and `run` stopped by SIGTERM with a request in flight.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use http::StatusCode;
use serde_json::json;
use support::*;

const BIN: &str = env!("CARGO_BIN_EXE_manifold");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A fresh directory for this test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("manifold-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A config with no endpoints, in its own scratch folder `name`.
fn no_endpoints(name: &str) -> PathBuf {
    let file = scratch(name).join("gateway.json");
    std::fs::write(
        &file,
        r#"{"version": 3, "listen_ip": "127.0.0.1", "endpoints": []}"#,
    )
    .unwrap();
    file
}

/// 1-based line and column of the first occurrence of `needle`.
fn position(text: &str, needle: &str) -> (usize, usize) {
    let offset = text.find(needle).unwrap();
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap().chars().count() + 1;
    (line, column)
}

#[test]
fn version_is_name_and_version() {
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "manifold 0.1.0\n");
}

fn config_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            config_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

#[test]
fn check_passes_every_file_in_config() {
    let mut files = Vec::new();
    config_files(&repo().join("config"), &mut files);
    assert!(files.len() >= 5, "{files:?}");
    for file in files {
        let out = Command::new(BIN)
            .args(["check", "-c"])
            .arg(&file)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{}: {stdout}", file.display());
        assert!(stdout.contains(": valid ("), "{stdout}");
    }
}

#[test]
fn check_reports_a_typo_and_a_missing_backend_with_positions() {
    let original = std::fs::read_to_string(repo().join("config/examples/merge.json")).unwrap();
    let broken = original
        .replacen("\"url_pattern\"", "\"url_patern\"", 1)
        .replacen(
            "  ]\n}",
            "  ,{ \"endpoint\": \"/orphan/{id}\", \"method\": \"GET\" }\n  ]\n}",
            1,
        );
    assert_ne!(broken, original);
    let file = scratch("check").join("broken.json");
    std::fs::write(&file, &broken).unwrap();
    let (typo_line, typo_col) = position(&broken, "\"url_patern\"");
    let (orphan_line, orphan_col) = position(&broken, "{ \"endpoint\": \"/orphan/{id}\"");

    let out = Command::new(BIN)
        .args(["check", "-c"])
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let f = file.display();
    assert!(
        stdout.contains(&format!(
            "error: {f}:{typo_line}:{typo_col}: endpoints[0].backend[0].url_patern"
        )),
        "{stdout}"
    );
    assert!(stdout.contains("did you mean `url_pattern`?"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "error: {f}:{orphan_line}:{orphan_col}: endpoints[1].backend (GET /orphan/{{id}}): an endpoint needs at least one backend"
        )),
        "{stdout}"
    );

    let out = Command::new(BIN)
        .args(["check", "--json", "-c"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["valid"], false);
    let errors = report["errors"].as_array().unwrap();
    assert!(errors
        .iter()
        .any(|e| e["path"] == "endpoints[0].backend[0].url_patern"
            && e["line"] == typo_line
            && e["column"] == typo_col));
    assert!(errors
        .iter()
        .any(|e| e["path"] == "endpoints[1].backend" && e["line"] == orphan_line));
}

#[test]
fn check_exits_2_on_an_unreadable_file() {
    let out = Command::new(BIN)
        .args(["check", "-c", "/nonexistent/manifold.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("cannot read /nonexistent/manifold.json"));
}

#[test]
fn check_names_an_undefined_environment_variable() {
    let file = scratch("env").join("env.json");
    std::fs::write(
        &file,
        "{\n  \"version\": 3,\n  \"host\": [\"${MANIFOLD_TEST_SURELY_UNSET}\"]\n}\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["check", "-c"])
        .arg(&file)
        .env_remove("MANIFOLD_TEST_SURELY_UNSET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains(":3:13: environment variable `MANIFOLD_TEST_SURELY_UNSET` is not set"),
        "{stdout}"
    );
    let out = Command::new(BIN)
        .args(["check", "-c"])
        .arg(&file)
        .env("MANIFOLD_TEST_SURELY_UNSET", "http://localhost:9000")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
}

/// KrakenD's `KRAKEND_*` variables override root keys like their `MANIFOLD_*` twins; when both
/// are set, Manifold's wins and `check` (and `run`'s log) says so.
#[test]
fn krakend_overrides_apply_and_check_says_when_manifold_wins() {
    let file = scratch("krakend-env").join("gateway.json");
    std::fs::write(
        &file,
        r#"{"version": 3, "listen_ip": "127.0.0.1", "timeout": "1s", "endpoints": []}"#,
    )
    .unwrap();
    let check = |vars: &[(&str, &str)]| {
        let out = Command::new(BIN)
            .args(["check", "--json", "-c"])
            .arg(&file)
            .env_remove("MANIFOLD_TIMEOUT")
            .env_remove("KRAKEND_TIMEOUT")
            .envs(vars.iter().copied())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        // All but "no endpoints declared".
        let warnings = report["warnings"].as_array().unwrap().iter();
        warnings
            .filter(|w| w["path"] != "endpoints")
            .cloned()
            .collect::<Vec<_>>()
    };
    let both = check(&[("MANIFOLD_TIMEOUT", "3s"), ("KRAKEND_TIMEOUT", "5s")]);
    assert_eq!(both.len(), 1, "{both:?}");
    assert_eq!(both[0]["path"], "timeout");
    assert_eq!(
        both[0]["message"],
        "MANIFOLD_TIMEOUT=\"3s\" overrides `timeout` and wins over KRAKEND_TIMEOUT=\"5s\", which is ignored"
    );
    assert_eq!(
        check(&[("KRAKEND_TIMEOUT", "5s")]),
        Vec::<serde_json::Value>::new()
    );
    // A KRAKEND_* value is parsed like its twin: a bad one is an error naming it.
    let out = Command::new(BIN)
        .args(["check", "-c"])
        .arg(&file)
        .env("KRAKEND_TIMEOUT", "soon")
        .env_remove("MANIFOLD_TIMEOUT")
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("KRAKEND_TIMEOUT"), "{stdout}");

    // `run`: KRAKEND_PORT=0 (no -p, the file has no port) listens on a free port, not 8080.
    let krakend_only = [("KRAKEND_PORT", "0")];
    let server = Running::start_with(&file, &[], &krakend_only);
    assert_ne!(server.addr().port(), 8080);
    server.terminate();
    assert_eq!(server.wait().0, Some(0));
    // Both set: MANIFOLD_PORT=0 wins over a KRAKEND_PORT that could not be bound, and the
    // log says which one was applied.
    let both = [("MANIFOLD_PORT", "0"), ("KRAKEND_PORT", "1")];
    let server = Running::start_with(&file, &[], &both);
    let note = server.wait_for("wins over KRAKEND_PORT");
    assert!(
        note.contains("MANIFOLD_PORT=\"0\" overrides `port`"),
        "{note}"
    );
    assert_ne!(server.addr().port(), 1);
    server.terminate();
    assert_eq!(server.wait().0, Some(0));
}

/// A `manifold run` child process and its stderr lines, read on a thread.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Running {
    fn start(config: &Path, extra: &[&str]) -> Running {
        Self::start_with(config, extra, &[])
    }

    /// [`Running::start`] with these environment variables set.
    fn start_with(config: &Path, extra: &[&str], vars: &[(&str, &str)]) -> Running {
        let mut child = Command::new(BIN)
            .args(["run", "-c"])
            .arg(config)
            .args(extra)
            .env_remove("RUST_LOG")
            .env_remove("MIMALLOC_ALLOW_THP")
            // Whether lines are styled depends on stderr being a terminal (it is a pipe here),
            // not on the caller's NO_COLOR.
            .env_remove("NO_COLOR")
            .envs(vars.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running { child, lines }
    }

    /// Wait for a log line containing `needle`; return it.
    fn wait_for(&self, needle: &str) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("no log line with {needle:?}"));
            if line.contains(needle) {
                return line;
            }
        }
    }

    /// The address from the "listening on http://…" line.
    fn addr(&self) -> std::net::SocketAddr {
        let line = self.wait_for("listening on http://");
        let start = line.find("http://").unwrap() + "http://".len();
        let rest = &line[start..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == ':'))
            .unwrap_or(rest.len());
        rest[..end].parse().unwrap()
    }

    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Wait for the process to exit (bounded); its exit code.
    fn wait(mut self) -> (Option<i32>, Vec<String>) {
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status.code(), self.lines.try_iter().collect());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        panic!("manifold did not exit after SIGTERM");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_finishes_in_flight_requests_on_sigterm() {
    let (mut backend, open) = gated_backend(r#"{"answered": true}"#).await;
    let file = scratch("run").join("gateway.json");
    let cfg = json!({
        "version": 3,
        "listen_ip": "127.0.0.1",
        "timeout": "20s",
        "endpoints": [{ "endpoint": "/slow", "backend": [
            { "host": [backend.url()], "url_pattern": "/s" } ] }]
    });
    std::fs::write(&file, cfg.to_string()).unwrap();
    let server = Running::start(&file, &["-p", "0"]);
    let addr = server.addr();

    let request = tokio::spawn(async move { get(addr, "/slow").await });
    tokio::time::timeout(Duration::from_secs(20), backend.next_hit())
        .await
        .unwrap();
    server.terminate();
    server.wait_for("SIGTERM received");
    open.send(true).unwrap();
    let reply = request.await.unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), json!({"answered": true}));
    let (code, _) = tokio::task::spawn_blocking(move || server.wait())
        .await
        .unwrap();
    assert_eq!(code, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_logs_json_lines_with_an_access_log() {
    let file = scratch("json").join("gateway.json");
    std::fs::write(
        &file,
        r#"{"version": 3, "listen_ip": "127.0.0.1", "endpoints": [],
            "extra_config": {"router": {"logger_skip_paths": ["/__health"]}}}"#,
    )
    .unwrap();
    let server = Running::start(&file, &["-p", "0", "-d", "--log-format", "json"]);
    let addr = server.addr();
    assert_eq!(get(addr, "/__health").await.status, StatusCode::OK);
    // -d also turns on KrakenD's debug endpoint.
    let debug = get(addr, "/__debug/x").await;
    assert_eq!(debug.json(), json!({"message": "pong"}));
    let access = server.wait_for("manifold::access");
    server.terminate();
    let (code, _) = tokio::task::spawn_blocking(move || server.wait())
        .await
        .unwrap();
    assert_eq!(code, Some(0));
    let line: serde_json::Value = serde_json::from_str(&access).unwrap();
    assert_eq!(line["target"], "manifold::access");
    assert_eq!(line["fields"]["status"], 200);
    // The first request's path is in KrakenD's `logger_skip_paths`: not logged.
    assert_eq!(line["fields"]["path"], "/__debug/x");
    assert_eq!(line["fields"]["backends"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_writes_text_lines_without_colour_codes_to_a_pipe() {
    let file = no_endpoints("plain");
    // stderr is a pipe here (not a terminal); NO_COLOR unset, so only that turns styles off.
    let server = Running::start(&file, &["-p", "0"]);
    assert_eq!(get(server.addr(), "/__health").await.status, StatusCode::OK);
    let access = server.wait_for("manifold::access");
    server.terminate();
    let (code, rest) = tokio::task::spawn_blocking(move || server.wait())
        .await
        .unwrap();
    assert_eq!(code, Some(0));
    assert!(
        access.contains(" INFO manifold::access: request request_id="),
        "{access}"
    );
    for line in std::iter::once(&access).chain(&rest) {
        assert!(!line.contains('\x1b'), "{line:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_reads_runtime_secrets_at_start_and_check_does_not_need_them() {
    let tokens = std::fs::read_to_string(repo().join("tests/e2e-jwt/tokens.json")).unwrap();
    let tokens: serde_json::Value = serde_json::from_str(&tokens).unwrap();
    let (k, token) = (&tokens["jwk"]["k"], &tokens["tokens"]["valid"]);
    let mut backend = json_backend(r#"{"ok": true}"#).await;
    let file = scratch("secrets").join("gateway.json");
    let cfg = json!({
        "version": 3,
        "listen_ip": "127.0.0.1",
        "endpoints": [{ "endpoint": "/jwt", "backend": [
            { "host": [backend.url()], "url_pattern": "/b?key=${env:MANIFOLD_TEST_API_KEY}" } ],
            "extra_config": { "auth/validator": { "alg": "HS256", "jwk_keys": { "keys": [
                { "kty": "oct", "kid": "e2e", "alg": "HS256", "k": "${env:MANIFOLD_TEST_JWT_K}" }
            ] } } } }]
    });
    std::fs::write(&file, serde_json::to_string_pretty(&cfg).unwrap()).unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    let (line, column) = position(&text, "${env:MANIFOLD_TEST_JWT_K}");

    // check: valid without the values, each unset placeholder noted where it is.
    let out = Command::new(BIN)
        .args(["check", "-c"])
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let note = format!(":{line}:{column}: `${{env:MANIFOLD_TEST_JWT_K}}` is not set here");
    assert!(stdout.contains(&note), "{stdout}");
    assert_eq!(stdout.matches("note: ").count(), 2, "{stdout}");

    // run without them: does not start, names the variable where it is used.
    let missing = Running::start_with(&file, &["-p", "0"], &[("MANIFOLD_TEST_API_KEY", "k-42")]);
    let (code, lines) = missing.wait();
    let stderr = lines.join("\n");
    assert_eq!(code, Some(1), "{stderr}");
    let error = format!(":{line}:{column}: run-time variable `MANIFOLD_TEST_JWT_K` is not set");
    assert!(stderr.contains(&error), "{stderr}");
    assert!(!stderr.contains("k-42"), "{stderr}");

    // run with them: the key verifies the token, the credential reaches the backend.
    let vars = [
        ("MANIFOLD_TEST_JWT_K", k.as_str().unwrap()),
        ("MANIFOLD_TEST_API_KEY", "k-42"),
    ];
    let server = Running::start_with(&file, &["-p", "0"], &vars);
    let addr = server.addr();
    assert_eq!(get(addr, "/jwt").await.status, StatusCode::UNAUTHORIZED);
    let mut request = get_request(addr, "/jwt");
    let bearer = format!("Bearer {}", token.as_str().unwrap());
    request
        .headers_mut()
        .insert("authorization", bearer.parse().unwrap());
    assert_eq!(send(addr, request).await.status, StatusCode::OK);
    assert_eq!(backend.next_hit().await.uri, "/b?key=k-42");
    server.terminate();
    let (code, _) = tokio::task::spawn_blocking(move || server.wait())
        .await
        .unwrap();
    assert_eq!(code, Some(0));
}

/// `THP_enabled` of a running process (Linux's /proc/PID/status): 0 once it turned them off.
#[cfg(target_os = "linux")]
fn thp_enabled(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("THP_enabled:"))
        .unwrap_or_else(|| panic!("no THP_enabled in {status}"));
    line["THP_enabled:".len()..].trim().to_string()
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_turns_transparent_huge_pages_off_unless_mimalloc_allow_thp_is_set() {
    let file = no_endpoints("thp");
    // With the variable set, the child keeps what it inherits (the flag survives fork and exec).
    let inherited = thp_enabled(std::process::id());
    for (vars, want) in [
        (&[][..], "0"),
        (&[("MIMALLOC_ALLOW_THP", "1")][..], inherited.as_str()),
    ] {
        let server = Running::start_with(&file, &["-p", "0"], vars);
        let addr = server.addr();
        assert_eq!(get(addr, "/__health").await.status, StatusCode::OK);
        assert_eq!(thp_enabled(server.child.id()), want, "{vars:?}");
        server.terminate();
        let (code, _) = tokio::task::spawn_blocking(move || server.wait())
            .await
            .unwrap();
        assert_eq!(code, Some(0));
    }
}
