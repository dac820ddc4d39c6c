//! Telemetry ports: a source of random ids, and the [`Sink`] that receives one
//! [`RequestRecord`] per answered request. The core builds the record (the access log line and
//! the spans of the request); the adapter chooses where it goes (stderr natively, stdout on
//! Lambda, `console.log` on Workers, an OTLP exporter...).

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use http::{HeaderMap, HeaderName, HeaderValue};

use super::log_write::{into_string, json_key, push_hex, Json};
use super::overrides::{BackendOverride, EndpointOverride};
use super::{BoxFuture, MaybeSend, MaybeSync};

/// Headers reported as span attributes (`report_headers`): name and value, in the order of
/// the map they were taken from (a name's values together). Boxed where a record keeps them:
/// a record without them (the usual case) then moves and drops one null pointer.
pub type ReportedHeaders = Vec<(HeaderName, HeaderValue)>;

/// Random numbers for trace, span and request ids (not for secrets). Natively seeded by the OS,
/// `Math.random()` on Workers, a counter in the tests, so the core itself stays deterministic.
/// Any `Fn() -> u64` closure is one.
pub trait Random: MaybeSend + MaybeSync {
    /// The next random 64-bit number.
    fn next_u64(&self) -> u64;
}

impl<F: Fn() -> u64 + MaybeSend + MaybeSync> Random for F {
    fn next_u64(&self) -> u64 {
        self()
    }
}

/// Where the per-request records go. Called after the answer is complete; it must not block
/// (queue, or write one line).
pub trait Sink: MaybeSend + MaybeSync {
    /// A request arrived (requests in flight); nothing by default.
    fn begin(&self) {}

    /// One answered request, with the backend calls that ended before the answer (shared, so
    /// that an exporter can keep it for its next batch without copying it).
    fn request(&self, record: &Arc<RequestRecord>);

    /// A backend call that ended after its request was recorded (a shadow call deferred past
    /// the answer): a span of the same trace. Nothing by default.
    fn straggler(&self, trace: &TraceIds, call: &BackendCall) {
        let _ = (trace, call);
    }

    /// Work that must finish before the platform stops this request's execution (a serverless
    /// export): run by the request's after-response facility, or awaited before the answer
    /// where there is none (Lambda). None by default (a sink that writes a line, or whose
    /// exporter runs in the background).
    fn flush(&self) -> Option<BoxFuture<'static, ()>> {
        None
    }
}

/// W3C trace context of one request: the trace it belongs to and its spans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceIds {
    /// The trace id (the client's, when it sent a valid `traceparent`).
    pub trace_id: [u8; 16],
    /// The gateway's server span.
    pub server_span: [u8; 8],
    /// The endpoint's proxy span, parent of the backend spans.
    pub proxy_span: [u8; 8],
    /// The client's span (the parent of the server span), when it sent one.
    pub parent_span: Option<[u8; 8]>,
    /// The trace is sampled (exported).
    pub sampled: bool,
    /// The client's `tracestate`, passed on unchanged.
    pub tracestate: Option<String>,
}

/// One answered request, as the access log and the exporters see it.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    /// When the gateway started on it, microseconds since the Unix epoch (the clock port).
    pub start_micros: u64,
    /// How long the gateway took to answer, in microseconds.
    pub duration_micros: u64,
    /// The request id (the client's valid `X-Request-Id`, or a new one), the answer's header
    /// value (shared with it).
    pub request_id: HeaderValue,
    /// Its trace context.
    pub trace: TraceIds,
    /// The request method (borrowed for the standard ones: nothing to allocate).
    pub method: Cow<'static, str>,
    /// The endpoint template it was routed to (`/users/{id}`); `None` when no endpoint matched.
    /// Shared with the compiled endpoint: a request only counts a reference.
    pub endpoint: Option<Arc<str>>,
    /// The request path, without the query (it may carry secrets).
    pub path: String,
    /// The answer's status.
    pub status: u16,
    /// `X-Krakend-Completed` of the answer, when it has one.
    pub completed: Option<bool>,
    /// Bytes of the answer's body.
    pub bytes_out: usize,
    /// The client's address.
    pub client: Option<IpAddr>,
    /// The backend calls that ended before the answer, in the order they ended.
    pub backends: Vec<BackendCall>,
    /// The client's headers on the server span (`layers.global.report_headers`).
    pub headers: Option<Box<ReportedHeaders>>,
    /// The headers the endpoint passed on to its backends, on the proxy span
    /// (`layers.proxy.report_headers`).
    pub proxy_headers: Option<Box<ReportedHeaders>>,
    /// Whether this request belongs in the access log (`router.disable_access_log`,
    /// `router.logger_skip_paths`); metrics and traces see every request.
    pub log: bool,
    /// The endpoint's own `telemetry/opentelemetry`, when it has one.
    pub overrides: Option<Arc<EndpointOverride>>,
}

/// One backend call (all the redirects it followed included), a client span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendCall {
    /// The span id sent in `traceparent`.
    pub span_id: [u8; 8],
    /// The span it is part of: the endpoint's, or the server span when the endpoint has none.
    pub parent: [u8; 8],
    /// Its name in `Server-Timing` and metrics: the backend's `group`, else its host (then
    /// the same shared text).
    pub name: Arc<str>,
    /// Scheme and authority called (`http://users:8080`).
    pub host: Arc<str>,
    /// The path called (no query).
    pub path: String,
    /// The method sent (borrowed for the standard ones).
    pub method: Cow<'static, str>,
    /// The last status received, if any answer came.
    pub status: Option<u16>,
    /// Why the call failed, if it did (once: the cause, not its consequences).
    pub failure: Option<Failure>,
    /// When it started, microseconds since the Unix epoch.
    pub start_micros: u64,
    /// How long it took, in microseconds.
    pub duration_micros: u64,
    /// Body bytes received (as sent, before any decompression).
    pub bytes: usize,
    /// The headers sent, on the client span (`layers.backend.traces.report_headers`).
    pub headers: Option<Box<ReportedHeaders>>,
    /// The backend's own `backend` layer, when it has one.
    pub overrides: Option<Arc<BackendOverride>>,
}

/// Which headers a layer reports on its spans (`report_headers`): all but its `skip_headers`
/// and the credentials (`Authorization`, `Proxy-Authorization`, `Cookie`), which never leave
/// the gateway in telemetry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct HeaderReport {
    skip: Vec<HeaderName>,
}

impl HeaderReport {
    /// The report that leaves out `skip` (names in any case; an invalid name cannot occur in
    /// a request and is ignored).
    pub(crate) fn new(skip: &[String]) -> Self {
        let skip = skip
            .iter()
            .filter_map(|s| HeaderName::from_bytes(s.as_bytes()).ok())
            .collect();
        Self { skip }
    }

    /// The reported headers of `headers`.
    pub(crate) fn pick(&self, headers: &HeaderMap) -> Box<ReportedHeaders> {
        let picked = headers
            .iter()
            .filter(|(name, _)| {
                !matches!(
                    *name,
                    &http::header::AUTHORIZATION
                        | &http::header::PROXY_AUTHORIZATION
                        | &http::header::COOKIE
                ) && !self.skip.contains(name)
            })
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        Box::new(picked)
    }
}

/// The layers that report headers, compiled once (`None` each where `report_headers` is off).
#[derive(Debug, Clone, Default)]
pub(crate) struct HeaderReports {
    /// The server span's: the client's headers.
    pub(crate) server: Option<HeaderReport>,
    /// The proxy span's: the headers passed on to the backends.
    pub(crate) proxy: Option<HeaderReport>,
    /// The client spans': the headers sent to each backend.
    pub(crate) client: Option<HeaderReport>,
}

/// Why a backend call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What kind of failure.
    pub kind: FailureKind,
    /// The cause, in words.
    pub message: String,
}

/// The kinds of backend failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// No answer before the deadline: the call was cancelled.
    Timeout,
    /// The connection could not be made (refused, DNS, TLS).
    Refused,
    /// The answer's body was over the limit.
    BodyTooLarge,
    /// The connection broke or the peer broke the protocol.
    Protocol,
    /// The body could not be decoded (bad JSON, bad gzip...).
    BadEncoding,
    /// A status other than 200/201 where data was expected.
    Status,
    /// A redirect that is not followed (another origin, too many).
    Redirect,
    /// `"sd": "dns"`: the SRV name did not resolve to any target (no records, or the DNS
    /// server failed and no recent answer was kept).
    Discovery,
}

// === impl FailureKind ===

impl FailureKind {
    /// The name used in the logs and span attributes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Refused => "refused",
            Self::BodyTooLarge => "body_too_large",
            Self::Protocol => "protocol",
            Self::BadEncoding => "bad_encoding",
            Self::Status => "status",
            Self::Redirect => "redirect",
            Self::Discovery => "discovery",
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `method`'s name: a constant for the standard methods (RFC 9110 and PATCH: no allocation
/// per request or call), a copy for an extension method.
pub fn method_name(method: &http::Method) -> Cow<'static, str> {
    // Matched as `Method`s (one jump on the tag for the standard ones), not searched for.
    Cow::Borrowed(match *method {
        http::Method::GET => "GET",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::DELETE => "DELETE",
        http::Method::PATCH => "PATCH",
        http::Method::HEAD => "HEAD",
        http::Method::OPTIONS => "OPTIONS",
        http::Method::CONNECT => "CONNECT",
        http::Method::TRACE => "TRACE",
        _ => return Cow::Owned(method.as_str().to_owned()),
    })
}

/// Whether `name` is one of the standard methods' names (those [`method_name`] borrows): the
/// method label values of the metrics.
pub(crate) fn is_standard_method(name: &str) -> bool {
    // A match on the text: the length picks the candidates, not nine comparisons.
    matches!(
        name,
        "GET" | "POST" | "PUT" | "DELETE" | "PATCH" | "HEAD" | "OPTIONS" | "CONNECT" | "TRACE"
    )
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    // Request ids are 16 bytes: their 32 digits are written as bytes and checked once.
    let mut out = Vec::with_capacity(bytes.len() * 2);
    push_hex(&mut out, bytes);
    into_string(out)
}

/// [`hex`] as a `Display` value, for formatting without an intermediate `String`.
#[derive(Debug, Clone, Copy)]
pub struct Hex<'a>(pub &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = Vec::with_capacity(32);
        for chunk in self.0.chunks(16) {
            buf.clear();
            push_hex(&mut buf, chunk);
            f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)?;
        }
        Ok(())
    }
}

// === impl RequestRecord ===

impl RequestRecord {
    /// [`Self::request_id`] as text (it is ASCII: a client's is checked when it arrives).
    pub fn request_id(&self) -> &str {
        self.request_id.to_str().unwrap_or_default()
    }

    /// The record as one JSON object (one line): what Lambda writes to stdout, what Workers
    /// pass to `console.log`, what `--log-format json` shows natively. Keys in sorted order,
    /// absent values left out (as a `serde_json` object would print it), written straight
    /// into one buffer: this runs for every logged request.
    pub fn to_json(&self) -> String {
        let mut text = Vec::with_capacity(320 + 240 * self.backends.len());
        self.push_json(&mut text);
        into_string(text)
    }

    /// Appends [`Self::to_json`]'s text to `out` as bytes (no `String` check: a line writer
    /// needs only the bytes).
    pub fn push_json(&self, text: &mut Vec<u8>) {
        let mut out = Json::<false>::new(text);
        out.first_key(json_key!("backends"));
        self.write_backends(&mut out);
        out.key_int(json_key!("bytes"), self.bytes_out as u64);
        if let Some(client) = self.client {
            out.key(json_key!("client"));
            out.ip(client);
        }
        if let Some(completed) = self.completed {
            out.key(json_key!("completed"));
            out.raw(if completed { "true" } else { "false" });
        }
        out.key(json_key!("duration_ms"));
        out.millis(self.duration_micros);
        if let Some(endpoint) = &self.endpoint {
            out.key_str(json_key!("endpoint"), endpoint);
        }
        out.key_str(json_key!("level"), "INFO");
        out.key_str(json_key!("message"), "request");
        out.key_str(json_key!("method"), &self.method);
        out.key_str(json_key!("path"), &self.path);
        out.key_str(json_key!("request_id"), self.request_id());
        out.key_hex(json_key!("span_id"), &self.trace.server_span);
        out.key_int(json_key!("status"), u64::from(self.status));
        out.key_timestamp(json_key!("timestamp"), self.start_micros / 1000);
        out.key_hex(json_key!("trace_id"), &self.trace.trace_id);
        out.raw("}");
    }

    /// The backend calls as one JSON array (the native text log's `calls` field).
    pub fn backends_json(&self) -> String {
        let mut text = Vec::with_capacity(240 * self.backends.len() + 2);
        self.write_backends(&mut Json::<false>::new(&mut text));
        into_string(text)
    }

    /// Appends `{:?}` of [`Self::backends_json`] (quoted, escaped as a Rust string) to `out`,
    /// in one pass: the native text log's `calls` field.
    pub fn push_backends_debug(&self, out: &mut Vec<u8>) {
        out.push(b'"');
        self.write_backends(&mut Json::<true>::new(out));
        out.push(b'"');
    }

    fn write_backends<const DEBUG: bool>(&self, out: &mut Json<'_, DEBUG>) {
        out.raw("[");
        for (i, call) in self.backends.iter().enumerate() {
            if i > 0 {
                out.raw(",");
            }
            call.write_json(out);
        }
        out.raw("]");
    }
}

/// Microseconds as milliseconds with three decimals.
pub fn millis(micros: u64) -> serde_json::Value {
    serde_json::Number::from_f64(millis_f64(micros))
        .map_or(serde_json::Value::Null, serde_json::Value::Number)
}

pub(super) fn millis_f64(micros: u64) -> f64 {
    let ms = micros as f64 / 1000.0;
    (ms * 1000.0).round() / 1000.0
}

// === impl BackendCall ===

impl BackendCall {
    /// This call as a JSON object.
    pub fn json(&self) -> serde_json::Value {
        let mut text = Vec::with_capacity(240);
        self.write_json(&mut Json::<false>::new(&mut text));
        serde_json::from_slice(&text).unwrap_or(serde_json::Value::Null)
    }

    /// This call as a JSON object, keys sorted, absent values left out.
    fn write_json<const DEBUG: bool>(&self, out: &mut Json<'_, DEBUG>) {
        out.first_key(json_key!("bytes"));
        out.int(self.bytes as u64);
        out.key(json_key!("duration_ms"));
        out.millis(self.duration_micros);
        if let Some(failure) = &self.failure {
            out.key_str(json_key!("error"), &failure.message);
            out.key_str(json_key!("failure"), failure.kind.as_str());
        }
        out.key_str(json_key!("host"), &self.host);
        out.key_str(json_key!("method"), &self.method);
        out.key_str(json_key!("path"), &self.path);
        out.key_hex(json_key!("span_id"), &self.span_id);
        if let Some(status) = self.status {
            out.key_int(json_key!("status"), u64::from(status));
        }
        out.raw("}");
    }
}

/// The live state of one request, shared by its backend calls through the
/// [`super::RequestContext`]: ids and the calls that ended so far.
pub(crate) struct Live {
    pub(crate) ids: TraceIds,
    /// Send `traceparent` to the backends.
    pub(crate) propagate: bool,
    /// Each backend call is a span of its own (unless `layers.backend.traces.disable_stage`:
    /// then its `traceparent` names the endpoint's span).
    pub(crate) client_spans: bool,
    /// The layers that report headers, when one does.
    pub(crate) reports: Option<Arc<HeaderReports>>,
    /// The endpoint has a span of its own, the parent of its calls (the service's
    /// `layers.proxy.disable_traces`, then the endpoint's override, once routed).
    proxy_span: AtomicBool,
    /// The calls that ended so far and the endpoint the router chose: one lock for both (a
    /// `OnceLock` of its own cost more to set than this lock).
    state: Mutex<LiveState>,
    /// The request was recorded: later calls go to the sink on their own.
    recorded: AtomicBool,
    /// The endpoint has its own telemetry options (in the state).
    overridden: AtomicBool,
    sink: Option<Arc<dyn Sink>>,
}

impl Live {
    pub(crate) fn new(
        ids: TraceIds,
        propagate: bool,
        (client_spans, proxy_span): (bool, bool),
        reports: Option<Arc<HeaderReports>>,
        sink: Option<Arc<dyn Sink>>,
    ) -> Self {
        Self {
            ids,
            propagate,
            client_spans,
            reports,
            proxy_span: AtomicBool::new(proxy_span),
            state: Mutex::new(LiveState::default()),
            recorded: AtomicBool::new(false),
            overridden: AtomicBool::new(false),
            sink,
        }
    }

    /// A backend call ended.
    pub(crate) fn push(&self, call: BackendCall) {
        let mut state = self.lock();
        if self.recorded.load(Ordering::Acquire) {
            drop(state);
            if let Some(sink) = &self.sink {
                sink.straggler(&self.ids, &call);
            }
        } else {
            state.calls.push(call);
        }
    }

    /// The endpoint passes `headers` on to its backends: kept for the proxy span when that
    /// layer reports headers (the first set stays).
    pub(crate) fn proxy_headers(&self, headers: &HeaderMap) {
        let service = self.reports.as_ref().and_then(|r| r.proxy.as_ref());
        // Without a report of its own or the service's, the lock is not taken.
        if service.is_none() && !self.overridden.load(Ordering::Relaxed) {
            return;
        }
        let mut state = self.lock();
        let report = match &state.overrides {
            Some(own) => own.proxy_headers.as_ref(),
            None => service,
        };
        if let (Some(report), None) = (report, &state.proxy_headers) {
            state.proxy_headers = Some(report.pick(headers));
        }
    }

    /// The router chose `endpoint`, with its own telemetry options if it has them (the first
    /// choice stays).
    pub(crate) fn route(&self, endpoint: &Arc<str>, overrides: Option<&Arc<EndpointOverride>>) {
        let mut state = self.lock();
        if state.endpoint.is_some() {
            return;
        }
        state.endpoint = Some(endpoint.clone());
        if let Some(own) = overrides {
            self.proxy_span.store(own.proxy_span, Ordering::Relaxed);
            self.overridden.store(true, Ordering::Relaxed);
            state.overrides = Some(own.clone());
        }
    }

    /// The span a backend call is part of: the endpoint's, or the server span when the
    /// endpoint has none.
    pub(crate) fn call_parent(&self) -> [u8; 8] {
        if self.proxy_span.load(Ordering::Relaxed) {
            self.ids.proxy_span
        } else {
            self.ids.server_span
        }
    }

    /// What the request's record takes (later calls are stragglers).
    pub(crate) fn take(&self) -> RecordParts {
        let mut state = self.lock();
        self.recorded.store(true, Ordering::Release);
        RecordParts {
            calls: std::mem::take(&mut state.calls),
            endpoint: state.endpoint.take(),
            proxy_headers: state.proxy_headers.take(),
            overrides: state.overrides.take(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LiveState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What [`Live`] keeps under its lock.
#[derive(Default)]
struct LiveState {
    calls: Vec<BackendCall>,
    endpoint: Option<Arc<str>>,
    proxy_headers: Option<Box<ReportedHeaders>>,
    overrides: Option<Arc<EndpointOverride>>,
}

/// What a request's record takes from its [`Live`] state when the answer is ready.
#[derive(Default)]
pub(crate) struct RecordParts {
    /// The calls that ended so far (later ones are stragglers).
    pub(crate) calls: Vec<BackendCall>,
    /// The endpoint the router chose, if any.
    pub(crate) endpoint: Option<Arc<str>>,
    /// The headers it passed on, when reported.
    pub(crate) proxy_headers: Option<Box<ReportedHeaders>>,
    /// Its own telemetry options, if any.
    pub(crate) overrides: Option<Arc<EndpointOverride>>,
}

impl fmt::Debug for Live {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Live")
            .field("ids", &self.ids)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reported_headers_leave_out_the_skipped_and_the_credentials() {
        let mut headers = HeaderMap::new();
        for (n, v) in [
            ("accept", "a"),
            ("authorization", "Bearer secret"),
            ("cookie", "s=1"),
            ("proxy-authorization", "Basic x"),
            ("x-skip", "1"),
            ("accept", "b"),
            ("x-team", "core"),
        ] {
            headers.append(HeaderName::from_static(n), HeaderValue::from_static(v));
        }
        let picked = HeaderReport::new(&["X-Skip".into(), "bad name".into()]).pick(&headers);
        let picked: Vec<_> = picked
            .iter()
            .map(|(n, v)| (n.as_str(), v.to_str().unwrap()))
            .collect();
        assert_eq!(
            picked,
            [("accept", "a"), ("accept", "b"), ("x-team", "core")]
        );
        let all = HeaderReport::new(&[]).pick(&headers);
        assert_eq!(all.len(), 4, "{all:?}");
    }

    /// The record as the `serde_json::Value` it was first built as: the direct writer must
    /// print exactly what this prints.
    fn reference(r: &RequestRecord) -> String {
        let call = |c: &BackendCall| {
            let mut o = serde_json::json!({
                "span_id": hex(&c.span_id), "host": &*c.host, "method": c.method, "path": c.path,
                "status": c.status, "failure": c.failure.as_ref().map(|f| f.kind.as_str()),
                "error": c.failure.as_ref().map(|f| f.message.as_str()),
                "duration_ms": millis(c.duration_micros), "bytes": c.bytes,
            });
            o.as_object_mut().unwrap().retain(|_, v| !v.is_null());
            o
        };
        let backends: Vec<serde_json::Value> = r.backends.iter().map(call).collect();
        let mut o = serde_json::json!({
            "timestamp": crate::time::rfc3339(r.start_micros / 1000, true),
            "level": "INFO", "message": "request", "request_id": r.request_id(),
            "trace_id": hex(&r.trace.trace_id), "span_id": hex(&r.trace.server_span),
            "method": r.method, "endpoint": r.endpoint.as_deref(), "path": r.path, "status": r.status,
            "duration_ms": millis(r.duration_micros), "completed": r.completed,
            "bytes": r.bytes_out, "client": r.client.map(|ip| ip.to_string()),
            "backends": backends,
        });
        o.as_object_mut().unwrap().retain(|_, v| !v.is_null());
        o.to_string()
    }

    fn call(i: u64, failure: Option<Failure>, status: Option<u16>) -> BackendCall {
        BackendCall {
            headers: None,
            overrides: None,
            parent: [9; 8],
            span_id: (0x00f0_67aa_0ba9_02b7 + i).to_be_bytes(),
            name: "users".into(),
            host: "http://users:8080".into(),
            path: format!("/u/{i}\"\\\u{1}é"),
            method: "GET".into(),
            status,
            failure,
            start_micros: 1_795_651_200_123_456,
            duration_micros: i * 1_234_567 + 1,
            bytes: (i * 1000) as usize,
        }
    }

    fn record(backends: Vec<BackendCall>, full: bool) -> RequestRecord {
        RequestRecord {
            headers: None,
            proxy_headers: None,
            overrides: None,
            start_micros: 1_795_651_200_123_456,
            duration_micros: 999_999,
            request_id: HeaderValue::from_static("req-1/=+@"),
            trace: TraceIds {
                trace_id: *b"\x4b\xf9\x2f\x35\x77\xb3\x4d\xa6\xa3\xce\x92\x9d\x0e\x0e\x47\x36",
                server_span: [0, 1, 2, 3, 4, 5, 6, 0xff],
                proxy_span: [9; 8],
                parent_span: None,
                sampled: true,
                tracestate: None,
            },
            method: "POST".into(),
            endpoint: full.then(|| "/users/{id}".into()),
            path: "/users/\"1\"\n".into(),
            status: 502,
            completed: full.then_some(false),
            bytes_out: 12,
            client: full.then(|| "2001:db8::1".parse().unwrap()),
            backends,
            log: true,
        }
    }

    #[test]
    fn json_lines_print_what_serde_json_printed() {
        let failed = Failure {
            kind: FailureKind::Timeout,
            message: "deadline \"100ms\"\tpassed".into(),
        };
        let calls = vec![
            call(0, None, Some(200)),
            call(1, Some(failed.clone()), None),
            call(2, Some(failed), Some(503)),
        ];
        for (backends, full) in [
            (vec![], false),
            (vec![], true),
            (calls.clone(), true),
            (calls, false),
        ] {
            let r = record(backends, full);
            assert_eq!(r.to_json(), reference(&r));
            let array: Vec<serde_json::Value> = serde_json::from_str(&r.backends_json()).unwrap();
            let expected: serde_json::Value = serde_json::from_str(&reference(&r)).unwrap();
            assert_eq!(
                serde_json::Value::Array(array.clone()),
                expected["backends"]
            );
            assert_eq!(
                r.backends_json(),
                serde_json::Value::Array(array).to_string()
            );
            let mut debug = b"x".to_vec();
            r.push_backends_debug(&mut debug);
            let debug = String::from_utf8(debug).unwrap();
            assert_eq!(debug, format!("x{:?}", r.backends_json()));
        }
        assert_eq!(hex(&[0, 0x0f, 0xa0, 0xff]), "000fa0ff");
        let bytes: Vec<u8> = (0..=255).collect();
        for len in [0, 1, 16, 31, 32, 33, 64, 100, 256] {
            let expected: String = bytes[..len].iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(hex(&bytes[..len]), expected);
        }
        for name in [
            "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE",
            "PURGE", "get",
        ] {
            let m = http::Method::from_bytes(name.as_bytes()).unwrap();
            let got = method_name(&m);
            assert_eq!(got, name);
            assert_eq!(
                matches!(got, Cow::Borrowed(_)),
                name.bytes().all(|b| b.is_ascii_uppercase()) && name != "PURGE"
            );
            assert_eq!(is_standard_method(name), matches!(got, Cow::Borrowed(_)));
        }
        assert_eq!(Hex(&[0xab; 20]).to_string(), "ab".repeat(20));
    }
}
