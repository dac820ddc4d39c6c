//! Hot reload on the real binary: `manifold run --watch` under load swaps to an edited config
//! without a failed request or a request answered from both configs, an in-flight request
//! finishes on the config it started with, a broken edit is refused (located errors in the
//! log) and changes nothing, and SIGHUP reloads without `--watch`. Readiness and the reloads
//! are observed by polling the server and its log, never by sleeping a fixed time.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Response;
use serde_json::{json, Value};
use support::{backend, get_request, try_send};
use tokio::sync::watch;

/// The most time any awaited change may take (the watcher checks twice a second).
const PATIENCE: Duration = Duration::from_secs(20);
/// Between two polls of the server or its log.
const POLL: Duration = Duration::from_millis(25);

/// The gateway process, killed when dropped.
struct Gateway {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
    dir: PathBuf,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Gateway {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait until the log contains `needle` `n` times.
    async fn log_has(&self, needle: &str, n: usize) -> String {
        let waited = tokio::time::timeout(PATIENCE, async {
            loop {
                let log = self.log();
                if log.matches(needle).count() >= n {
                    return log;
                }
                tokio::time::sleep(POLL).await;
            }
        })
        .await;
        waited.unwrap_or_else(|_| panic!("log never said {needle:?}:\n{}", self.log()))
    }

    /// The body of `GET path` (None when the request failed).
    async fn get(&self, path: &str) -> Option<(u16, Value)> {
        let reply = try_send(self.addr, get_request(self.addr, path))
            .await
            .ok()?;
        let body = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
        Some((reply.status.as_u16(), body))
    }

    /// Poll until `GET /v` answers `want`.
    async fn until(&self, want: &Value) {
        let waited = tokio::time::timeout(PATIENCE, async {
            while !self
                .get("/v")
                .await
                .is_some_and(|(s, b)| s == 200 && &b == want)
            {
                tokio::time::sleep(POLL).await;
            }
        })
        .await;
        assert!(waited.is_ok(), "never answered {want}:\n{}", self.log());
    }
}

/// A config whose `/v` merges `prefix`1 and `prefix`2, and whose `/slow` calls `slow`.
fn config(backend: &str, prefix: &str, slow: &str) -> Value {
    json!({
        "version": 3,
        "timeout": "10s",
        "host": [backend],
        "endpoints": [
            { "endpoint": "/v", "backend": [
                { "url_pattern": format!("/{prefix}1"), "group": "one" },
                { "url_pattern": format!("/{prefix}2"), "group": "two" }
            ]},
            { "endpoint": "/slow", "backend": [{ "url_pattern": slow }] }
        ]
    })
}

/// What `/v` answers under the config with `prefix`.
fn answer(prefix: &str) -> Value {
    json!({ "one": { "src": format!("/{prefix}1") }, "two": { "src": format!("/{prefix}2") } })
}

/// Replace the file as editors do (write aside, rename over).
fn write(path: &Path, text: &str) {
    let aside = path.with_extension("tmp");
    std::fs::write(&aside, text).unwrap();
    std::fs::rename(&aside, path).unwrap();
}

async fn start(config: &Value, watch: bool) -> Gateway {
    let dir = std::env::temp_dir().join(format!(
        "manifold-reload-{}-{}",
        std::process::id(),
        if watch { "watch" } else { "hup" }
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("gateway.json");
    write(&file, &serde_json::to_string_pretty(config).unwrap());
    let log = dir.join("log.txt");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_manifold"));
    cmd.args(["run", "-c"])
        .arg(&file)
        .args(["-p", &port.to_string()]);
    if watch {
        cmd.arg("--watch");
    }
    let child = cmd
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let gateway = Gateway {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        log,
        dir,
    };
    gateway.log_has("listening on", 1).await;
    gateway
}

async fn mock() -> (support::Backend, watch::Sender<bool>) {
    let (open, gate) = watch::channel(false);
    let b = backend(move |req| {
        let mut gate = gate.clone();
        async move {
            let path = req.uri().path().to_owned();
            if path.starts_with("/gate") {
                let _ = gate.wait_for(|open| *open).await;
            }
            let body = json!({ "src": path }).to_string();
            Response::builder()
                .header("content-type", "application/json")
                .body(Bytes::from(body))
                .unwrap()
        }
    })
    .await;
    (b, open)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_swaps_under_load_and_refuses_a_broken_edit() {
    let (b, gate) = mock().await;
    let gw = start(&config(&b.url(), "a", "/gate-old"), true).await;
    let file = gw.dir.join("gateway.json");
    gw.until(&answer("a")).await;

    // An in-flight request, held by its backend across the reload.
    let in_flight = {
        let addr = gw.addr;
        tokio::spawn(async move { try_send(addr, get_request(addr, "/slow")).await })
    };

    // Load: four clients in a loop; every answer must be a whole `a` or a whole `b`.
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (stop, addr) = (stop.clone(), gw.addr);
            tokio::spawn(async move {
                let (mut seen_a, mut seen_b, mut bad) = (0, 0, Vec::new());
                while !stop.load(Ordering::Relaxed) {
                    match try_send(addr, get_request(addr, "/v")).await {
                        Ok(r) if r.status == 200 => {
                            let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
                            if v == answer("a") {
                                seen_a += 1;
                            } else if v == answer("b") {
                                seen_b += 1;
                            } else {
                                bad.push(format!("mixed or wrong: {v}"));
                            }
                        }
                        Ok(r) => bad.push(format!("status {}", r.status)),
                        Err(e) => bad.push(format!("request failed: {e}")),
                    }
                }
                (seen_a, seen_b, bad)
            })
        })
        .collect();

    write(&file, &config(&b.url(), "b", "/new").to_string());
    gw.until(&answer("b")).await;
    gw.log_has("config reloaded", 1).await;

    // The held request started on the old config and ends on it.
    gate.send(true).unwrap();
    let held = in_flight.await.unwrap().unwrap();
    assert_eq!(held.status, 200);
    assert_eq!(held.json(), json!({ "src": "/gate-old" }));
    assert_eq!(gw.get("/slow").await.unwrap().1, json!({ "src": "/new" }));

    // A broken edit: refused with located errors, `b` keeps serving.
    write(
        &file,
        "{\n  \"version\": 3,\n  \"endpoints\": [ { \"endpoint\": \"/v\" } ]\n}\n",
    );
    let log = gw.log_has("config reload refused", 1).await;
    assert!(
        log.contains("3:18") || log.contains("endpoints[0]"),
        "no location in:\n{log}"
    );
    assert!(log.contains("at least one backend"), "{log}");
    for _ in 0..20 {
        assert_eq!(gw.get("/v").await.unwrap(), (200, answer("b")));
    }

    stop.store(true, Ordering::Relaxed);
    let (mut a, mut bb) = (0, 0);
    for c in clients {
        let (seen_a, seen_b, bad) = c.await.unwrap();
        assert!(bad.is_empty(), "{bad:?}");
        a += seen_a;
        bb += seen_b;
    }
    assert!(
        a > 0 && bb > 0,
        "load saw {a} answers from a and {bb} from b"
    );
    assert_eq!(
        gw.log().matches("config reloaded").count(),
        1,
        "{}",
        gw.log()
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_without_watch() {
    let (b, _gate) = mock().await;
    let gw = start(&config(&b.url(), "a", "/x"), false).await;
    let file = gw.dir.join("gateway.json");
    gw.until(&answer("a")).await;
    write(&file, &config(&b.url(), "b", "/x").to_string());
    // Not watched: nothing changes until the signal.
    assert_eq!(gw.get("/v").await.unwrap(), (200, answer("a")));
    let status = Command::new("kill")
        .args(["-HUP", &gw.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    gw.until(&answer("b")).await;
    let log = gw.log_has("config reloaded", 1).await;
    assert!(log.contains("SIGHUP"), "{log}");
}
