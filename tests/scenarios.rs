//! Scenario suite: every folder `tests/scenarios/<feature>/<case>/` holding `config.json` (a
//! KrakenD config) and `plan.json` (scripted backend replies, one request, the expected answer)
//! is one test. Adding a behaviour test means adding a folder; no Rust code, no recompiling.
//!
//! `plan.json`:
//! ```text
//! { "description": "...",
//!   "backends": { "<url>": { "status", "headers": {name: value|[values]}, "body": string|json,
//!                            "gzip": bool, "delay_ms": n, "refuse": bool } },
//!   "request":  { "method", "path", "headers": {...}, "body": string, "peer": "ip",
//!                 "https": bool (the adapter saw HTTPS) },
//!   "expect":   { "status", "headers": {name: value|null}, "body": string (exact) | "json": value,
//!                 "elapsed_ms": n (virtual), "calls": [{"method","url","headers":{..},"absent":[..],"body"}],
//!                 "call_count": n,
//!                 "record": {..} (the access-log JSON, plus "log": bool; keys given must match) },
//!   "expect_config_error": ["substring", ...]   // instead of request/expect: the config must fail
//!   "expect_warning": ["substring", ...]        // the config loads with these warnings
//!   "steps": [                                  // instead of request/expect: several requests
//!     { "wait_ms": n,                           // virtual time passing before this step
//!       "backends": {...},                      // re-script replies from here on
//!       "request": {...}, "expect": {...} }     // as above; call counts are cumulative
//!     | { "wait_ms": n, "parallel": [{"request", "expect"}, ...] }  // sent concurrently
//!   ]
//! }
//! ```
//! Every key is checked (`manifold_tests::plan`): an unknown or misspelled one, at any level,
//! fails the case with the file, the key path and its line.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use libtest_mimic::{Arguments, Failed, Trial};
use manifold_core::{whole_body, Gateway, RequestContext};
use manifold_tests::plan::{Call, Expect, Plan, Reply, Request, Values};
use manifold_tests::{platform, run, FakeTime, MockClient, MockReply, RecordedCall, Records};
use serde_json::Value;

fn main() {
    let args = Arguments::from_args();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut dirs = Vec::new();
    collect(&root, &mut dirs);
    dirs.sort();
    let trials = dirs
        .into_iter()
        .map(|dir| {
            let name = dir.strip_prefix(&root).unwrap().display().to_string();
            Trial::test(name, move || run_scenario(&dir))
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.join("plan.json").exists() {
                out.push(p);
            } else {
                collect(&p, out);
            }
        }
    }
}

fn as_bytes(v: &Value) -> Bytes {
    match v {
        Value::Null => Bytes::new(),
        Value::String(s) => Bytes::from(s.clone()),
        other => Bytes::from(other.to_string()),
    }
}

fn run_scenario(dir: &Path) -> Result<(), Failed> {
    let config = std::fs::read_to_string(dir.join("config.json"))
        .map_err(|e| format!("config.json: {e}"))?;
    let plan_file = dir.join("plan.json");
    let plan = std::fs::read_to_string(&plan_file)
        .map_err(|e| e.to_string())
        .and_then(|text| Plan::parse(&text))
        .map_err(|e| format!("{}: {e}", plan_file.display()))?;
    let time = FakeTime::new();
    let mock = MockClient::new(time.clone());

    if let Some(expected) = &plan.expect_config_error {
        let errors = match Gateway::from_json(&config, platform(&mock, &time)) {
            Ok(_) => return Err("config was accepted but errors were expected".into()),
            Err(e) => e
                .errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        };
        for want in expected {
            if !errors.contains(want.as_str()) {
                return Err(
                    format!("expected an error containing {want:?}; got:\n{errors}").into(),
                );
            }
        }
        return Ok(());
    }

    script(&mock, &plan.backends);
    let records = Records::default();
    let platform = platform(&mock, &time).with_sink(std::sync::Arc::new(records.clone()));
    let gateway =
        Gateway::from_json(&config, platform).map_err(|e| format!("config rejected: {e}"))?;
    let warnings = gateway
        .config()
        .warnings
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    for want in &plan.expect_warning {
        if !warnings.contains(want.as_str()) {
            return Err(format!("expected a warning containing {want:?}; got:\n{warnings}").into());
        }
    }
    let steps = plan.steps();
    let mut problems = Vec::new();
    for (n, step) in steps.iter().enumerate() {
        let label = if steps.len() > 1 {
            format!("step {n}: ")
        } else {
            String::new()
        };
        if let Some(ms) = step.wait_ms {
            time.advance_by(Duration::from_millis(ms));
        }
        script(&mock, &step.backends);
        let (list, parallel) = step.exchanges();
        let requests = list
            .iter()
            .map(|(request, _)| build_request(request))
            .collect::<Result<Vec<_>, _>>()?;
        let start = manifold_core::Clock::now_millis(&time);
        let responses = run(
            &time,
            futures_util::future::join_all(
                requests
                    .into_iter()
                    // `serve`, as the serverless adapters call it: the request limits apply.
                    .map(|(request, context)| gateway.serve(request.map(whole_body), context)),
            ),
        );
        let elapsed = manifold_core::Clock::now_millis(&time) - start;
        for (i, (response, (_, expect))) in responses.iter().zip(&list).enumerate() {
            let label = if parallel {
                format!("{label}request {i}: ")
            } else {
                label.clone()
            };
            check(expect, response, elapsed, &mock, &label, &mut problems);
            check_record(expect, response, &records, &label, &mut problems);
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n").into())
    }
}

/// Script the mock's replies from a plan's `backends`.
fn script(mock: &MockClient, backends: &BTreeMap<String, Reply>) {
    for (url, reply) in backends {
        let mut body = as_bytes(&reply.body);
        let mut headers: Vec<(String, String)> = Vec::new();
        for (k, v) in &reply.headers {
            headers.extend(v.to_vec().into_iter().map(|x| (k.clone(), x)));
        }
        if reply.gzip {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(&body).unwrap();
            body = Bytes::from(enc.finish().unwrap());
            headers.push(("Content-Encoding".into(), "gzip".into()));
        }
        mock.reply(
            url,
            MockReply {
                status: reply.status,
                headers,
                body,
                delay: Duration::from_millis(reply.delay_ms),
                refuse: reply.refuse,
            },
        );
    }
}

/// A plan's `request` as an HTTP request and what the adapter would know about it.
fn build_request(req: &Request) -> Result<(http::Request<Bytes>, RequestContext), Failed> {
    let mut builder = http::Request::builder()
        .method(req.method.as_str())
        .uri(req.path.as_str());
    for (k, v) in &req.headers {
        for x in v.to_vec() {
            builder = builder.header(k.as_str(), x);
        }
    }
    let request = builder
        .body(Bytes::from(req.body.clone()))
        .map_err(|e| format!("bad request in plan: {e}"))?;
    let context = RequestContext::new()
        .with_peer(Some(req.peer))
        .with_https(req.https);
    Ok((request, context))
}

/// Compare one response with a plan's `expect`, adding what differs to `problems`.
fn check(
    expect: &Expect,
    response: &http::Response<Bytes>,
    elapsed: u64,
    mock: &MockClient,
    label: &str,
    problems: &mut Vec<String>,
) {
    let before = problems.len();
    let body = String::from_utf8_lossy(response.body()).into_owned();
    if let Some(status) = expect.status {
        if response.status().as_u16() != status {
            problems.push(format!(
                "status: expected {status}, got {} (body {body:?})",
                response.status()
            ));
        }
    }
    for (name, want) in &expect.headers {
        let got: Vec<String> = response
            .headers()
            .get_all(name.as_str())
            .iter()
            .map(|v| v.to_str().unwrap_or("?").to_owned())
            .collect();
        match want.as_ref().map(Values::to_vec) {
            None if !got.is_empty() => {
                problems.push(format!("header {name}: expected absent, got {got:?}"));
            }
            Some(want) if got != want => {
                problems.push(format!("header {name}: expected {want:?}, got {got:?}"));
            }
            _ => {}
        }
    }
    if let Some(want) = &expect.body {
        if &body != want {
            problems.push(format!("body:\n  expected {want:?}\n  got      {body:?}"));
        }
    }
    if let Some(want) = &expect.json {
        match serde_json::from_str::<Value>(&body) {
            Ok(got) if &got == want => {}
            Ok(got) => problems.push(format!("json body:\n  expected {want}\n  got      {got}")),
            Err(e) => problems.push(format!("json body: not JSON ({e}): {body:?}")),
        }
    }
    if let Some(want) = expect.elapsed_ms {
        if elapsed != want {
            problems.push(format!(
                "elapsed (virtual): expected {want} ms, got {elapsed} ms"
            ));
        }
    }
    let calls = mock.calls();
    if let Some(n) = expect.call_count {
        if calls.len() != n {
            problems.push(format!(
                "backend calls: expected {n}, got {}: {:?}",
                calls.len(),
                calls.iter().map(|c| &c.url).collect::<Vec<_>>()
            ));
        }
    }
    for (i, want) in expect.calls.iter().enumerate() {
        let Some(got) = calls.get(i) else {
            problems.push(format!(
                "call {i}: expected {want:?}, but only {} calls were made",
                calls.len()
            ));
            continue;
        };
        check_call(i, want, got, problems);
    }
    for p in problems.iter_mut().skip(before) {
        p.insert_str(0, label);
    }
}

/// Compare the request's record (found by the answer's `X-Request-Id`) with `expect.record`.
fn check_record(
    expect: &Expect,
    response: &http::Response<Bytes>,
    records: &Records,
    label: &str,
    problems: &mut Vec<String>,
) {
    let Some(want) = &expect.record else { return };
    let id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok());
    let Some(record) = id.and_then(|id| records.find(id)) else {
        problems.push(format!("{label}record: none for request id {id:?}"));
        return;
    };
    let mut got: Value = serde_json::from_str(&record.to_json()).unwrap();
    got["log"] = Value::Bool(record.log);
    if let Err(at) = subset(want, &got, "record") {
        problems.push(format!(
            "{label}{at}
  record: {got}"
        ));
    }
}

/// `want`'s keys have the same values in `got` (objects key by key, arrays item by item).
fn subset(want: &Value, got: &Value, at: &str) -> Result<(), String> {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => w.iter().try_for_each(|(k, v)| {
            let path = format!("{at}.{k}");
            match g.get(k) {
                Some(gv) => subset(v, gv, &path),
                None if v.is_null() => Ok(()),
                None => Err(format!("{path}: expected {v}, absent")),
            }
        }),
        (Value::Array(w), Value::Array(g)) if w.len() == g.len() => w
            .iter()
            .zip(g)
            .enumerate()
            .try_for_each(|(i, (wv, gv))| subset(wv, gv, &format!("{at}[{i}]"))),
        _ if want == got => Ok(()),
        _ => Err(format!("{at}: expected {want}, got {got}")),
    }
}

/// Compare backend call `i` with its expectation.
fn check_call(i: usize, want: &Call, got: &RecordedCall, problems: &mut Vec<String>) {
    if let Some(m) = &want.method {
        if &got.method != m {
            problems.push(format!("call {i}: method expected {m}, got {}", got.method));
        }
    }
    if let Some(u) = &want.url {
        if &got.url != u {
            problems.push(format!("call {i}: url expected {u}, got {}", got.url));
        }
    }
    for (name, v) in &want.headers {
        let got_v = got
            .headers
            .get(&name.to_ascii_lowercase())
            .cloned()
            .unwrap_or_default();
        if got_v != v.to_vec() {
            problems.push(format!(
                "call {i}: header {name} expected {:?}, got {got_v:?}",
                v.to_vec()
            ));
        }
    }
    for name in &want.absent {
        if let Some(v) = got.headers.get(&name.to_ascii_lowercase()) {
            problems.push(format!(
                "call {i}: header {name} should be absent, got {v:?}"
            ));
        }
    }
    if let Some(b) = &want.body {
        if got.body != b.as_bytes() {
            problems.push(format!(
                "call {i}: body expected {b:?}, got {:?}",
                String::from_utf8_lossy(&got.body)
            ));
        }
    }
}
