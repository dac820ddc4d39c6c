//! OTLP/HTTP protobuf payloads (`/v1/traces`, `/v1/metrics`), encoded by hand from the
//! opentelemetry-proto field numbers: the spans of a [`RequestRecord`] and the
//! [`super::metrics::Metrics`] series. Hand-written because it is small (a protobuf writer of
//! five wire forms), pure (it runs in the core on every platform, wasm32 included, where the
//! official `opentelemetry` crates do not build without a runtime), and because the official
//! SDK would bring its own batching, runtime and HTTP client to the 2-core build, where the
//! adapters already have all three.

use std::sync::Arc;

use bytes::Bytes;

use crate::config::extra::{Layers, StaticAttribute};
use crate::platform::{BackendCall, ReportedHeaders, RequestRecord, Statics, TraceIds};

/// Who sends the data: the resource attributes.
#[derive(Debug, Clone, Default)]
pub struct Resource {
    /// `service.name`.
    pub service_name: String,
    /// `service.version`.
    pub service_version: String,
    /// `deployment.environment` (left out when empty).
    pub deploy_env: String,
}

/// What the config's `layers` make of a request's spans, compiled once by the sink that
/// encodes them: which spans are written, and each layer's static attributes.
#[derive(Debug, Clone)]
pub struct Shape {
    /// The endpoint's proxy span is written (`layers.proxy.disable_traces` unset).
    proxy: bool,
    /// A client span per backend call is written (`layers.backend.traces.disable_stage` unset).
    client: bool,
    /// The static attributes of the server, proxy and client spans.
    server_attrs: Statics,
    proxy_attrs: Statics,
    client_attrs: Statics,
}

/// `attributes` as [`Statics`]: as written, and pre-encoded as span attribute fields (the
/// bytes [`attribute`] writes for each).
pub(crate) fn statics(attributes: &[StaticAttribute]) -> Statics {
    let mut encoded = Vec::new();
    for a in attributes {
        attribute(&mut encoded, 9, &a.key, &Value::Str(a.value.clone()));
    }
    Statics {
        attributes: super::metrics::pairs(attributes),
        encoded,
    }
}

impl Shape {
    /// The spans `layers` asks for.
    pub fn new(layers: &Layers) -> Self {
        Self {
            proxy: !layers.proxy.disable_traces,
            client: !layers.backend.traces.disable_stage,
            server_attrs: statics(&layers.global.traces_static_attributes),
            proxy_attrs: statics(&layers.proxy.traces_static_attributes),
            client_attrs: statics(&layers.backend.traces.static_attributes),
        }
    }

    /// `call` is a span of its own (its backend's layer, else the service's).
    pub fn client_span(&self, call: &BackendCall) -> bool {
        call.overrides.as_ref().map_or(self.client, |o| o.span)
    }

    /// The static attributes of `call`'s span.
    fn client_attrs<'a>(&'a self, call: &'a BackendCall) -> &'a Statics {
        call.overrides
            .as_ref()
            .map_or(&self.client_attrs, |o| &o.span_attributes)
    }

    /// The endpoint of `record` has a span of its own (when one was routed to).
    fn proxy_span(&self, record: &RequestRecord) -> bool {
        record.endpoint.is_some()
            && record
                .overrides
                .as_ref()
                .map_or(self.proxy, |o| o.proxy_span)
    }

    /// The static attributes of `record`'s endpoint span.
    fn proxy_attrs<'a>(&'a self, record: &'a RequestRecord) -> &'a Statics {
        record
            .overrides
            .as_ref()
            .map_or(&self.proxy_attrs, |o| &o.proxy_attributes)
    }
}

impl Default for Shape {
    /// Every span, no static attributes.
    fn default() -> Self {
        Self::new(&Layers::default())
    }
}

/// A span's kind (OTLP `SpanKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An operation inside the gateway (the endpoint's proxy span).
    Internal = 1,
    /// The client's request to the gateway.
    Server = 2,
    /// A call to a backend.
    Client = 3,
}

/// An attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// An array of strings (a header's values).
    Strs(Vec<String>),
}

/// One span, ready to encode.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    /// Its trace.
    pub trace_id: [u8; 16],
    /// Its id.
    pub span_id: [u8; 8],
    /// Its parent, if any.
    pub parent: Option<[u8; 8]>,
    /// The client's `tracestate`.
    pub trace_state: Option<String>,
    /// Its name (`GET /users/{id}`).
    pub name: String,
    /// Its kind.
    pub kind: Kind,
    /// Start, nanoseconds since the Unix epoch.
    pub start_nanos: u64,
    /// End, nanoseconds since the Unix epoch.
    pub end_nanos: u64,
    /// HTTP semantic-convention attributes.
    pub attributes: Vec<(&'static str, Value)>,
    /// The error, when the span failed (status ERROR with this message).
    pub error: Option<String>,
    /// Attributes named by the config, after [`Self::attributes`]: the reported headers
    /// (`report_headers`), then the layer's static attributes.
    pub extra_attributes: Vec<(String, Value)>,
}

/// The spans of one request: the server span, the endpoint's proxy span (when routed) and one
/// client span per backend call, parented server → proxy → backend; those `shape` keeps.
pub fn spans(record: &RequestRecord, shape: &Shape) -> Vec<Span> {
    let ids = &record.trace;
    let start = record.start_micros.saturating_mul(1000);
    let end = record
        .start_micros
        .saturating_add(record.duration_micros)
        .saturating_mul(1000);
    let route = record.endpoint.as_deref().unwrap_or(&record.path);
    let mut attributes = vec![
        ("http.request.method", Value::Str(record.method.to_string())),
        ("url.path", Value::Str(record.path.clone())),
        (
            "http.response.status_code",
            Value::Int(i64::from(record.status)),
        ),
        (
            "manifold.request_id",
            Value::Str(record.request_id().to_owned()),
        ),
    ];
    if let Some(endpoint) = &record.endpoint {
        attributes.push(("http.route", Value::Str(endpoint.to_string())));
    }
    if let Some(client) = record.client {
        attributes.push(("client.address", Value::Str(client.to_string())));
    }
    // A server span fails on 5xx only (semantic conventions: a 4xx is the client's).
    let error = (record.status >= 500).then(|| format!("status {}", record.status));
    let mut out = vec![Span {
        trace_id: ids.trace_id,
        span_id: ids.server_span,
        parent: ids.parent_span,
        trace_state: ids.tracestate.clone(),
        name: format!("{} {route}", record.method),
        kind: Kind::Server,
        start_nanos: start,
        end_nanos: end,
        attributes,
        error: error.clone(),
        extra_attributes: {
            let mut extra = extra(record.headers.as_deref(), &shape.server_attrs);
            if let Some(own) = &record.overrides {
                extra.extend(extra_statics(&own.server_attributes));
            }
            extra
        },
    }];
    match &record.endpoint {
        Some(endpoint) if shape.proxy_span(record) => {
            out.push(Span {
                trace_id: ids.trace_id,
                span_id: ids.proxy_span,
                parent: Some(ids.server_span),
                trace_state: ids.tracestate.clone(),
                name: format!("proxy {endpoint}"),
                kind: Kind::Internal,
                start_nanos: start,
                end_nanos: end,
                attributes: vec![
                    ("http.route", Value::Str(endpoint.to_string())),
                    (
                        "manifold.backends",
                        Value::Int(record.backends.len() as i64),
                    ),
                    (
                        "manifold.completed",
                        Value::Str(
                            record
                                .completed
                                .map_or("", |c| if c { "true" } else { "false" })
                                .to_owned(),
                        ),
                    ),
                ],
                error,
                extra_attributes: extra(record.proxy_headers.as_deref(), shape.proxy_attrs(record)),
            });
        }
        _ => {}
    }
    out.extend(
        (record.backends.iter())
            .filter(|call| shape.client_span(call))
            .map(|call| backend(ids, call, shape)),
    );
    out
}

/// The client span of one backend call, child of the span it is part of.
pub fn backend(ids: &TraceIds, call: &BackendCall, shape: &Shape) -> Span {
    let mut attributes = vec![
        ("http.request.method", Value::Str(call.method.to_string())),
        ("server.address", Value::Str(call.host.to_string())),
        (
            "url.full",
            Value::Str(format!("{}{}", call.host, call.path)),
        ),
        ("manifold.backend", Value::Str(call.name.to_string())),
        ("http.response.body.size", Value::Int(call.bytes as i64)),
    ];
    if let Some(status) = call.status {
        attributes.push(("http.response.status_code", Value::Int(i64::from(status))));
    }
    if let Some(failure) = &call.failure {
        attributes.push(("error.type", Value::Str(failure.kind.as_str().to_owned())));
    }
    Span {
        trace_id: ids.trace_id,
        span_id: call.span_id,
        parent: Some(call.parent),
        trace_state: ids.tracestate.clone(),
        name: call.method.to_string(),
        kind: Kind::Client,
        start_nanos: call.start_micros.saturating_mul(1000),
        end_nanos: call
            .start_micros
            .saturating_add(call.duration_micros)
            .saturating_mul(1000),
        attributes,
        error: call.failure.as_ref().map(|f| f.message.clone()),
        extra_attributes: extra(call.headers.as_deref(), shape.client_attrs(call)),
    }
}

/// A span's reported headers and static attributes, as [`Span::extra_attributes`].
fn extra(headers: Option<&ReportedHeaders>, statics: &Statics) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = header_groups(headers.map_or(&[], Vec::as_slice))
        .map(|(name, values)| (header_key(name), Value::Strs(values)))
        .collect();
    out.extend(extra_statics(statics));
    out
}

/// Static attributes as [`Span::extra_attributes`].
fn extra_statics(statics: &Statics) -> impl Iterator<Item = (String, Value)> + '_ {
    (statics.attributes.iter()).map(|(k, v)| (k.clone(), Value::Str(v.clone())))
}

/// The attribute name of a reported header (semantic conventions: its lower-case name).
fn header_key(name: &http::HeaderName) -> String {
    format!("http.request.header.{}", name.as_str())
}

/// The reported headers by name, each with its values (a name's values are together).
fn header_groups(
    headers: &[(http::HeaderName, http::HeaderValue)],
) -> impl Iterator<Item = (&http::HeaderName, Vec<String>)> + '_ {
    let mut rest = headers;
    std::iter::from_fn(move || {
        let (name, _) = rest.first()?;
        let n = rest.iter().take_while(|(other, _)| other == name).count();
        let (group, tail) = rest.split_at(n);
        rest = tail;
        let values = (group.iter())
            .map(|(_, v)| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        Some((name, values))
    })
}

/// A span's reported headers (field 9) and static attributes (pre-encoded), as [`extra`] lists
/// them. Out of line: most spans have neither (two tests inlined).
#[inline]
fn extra_attributes(s: &mut Vec<u8>, headers: Option<&ReportedHeaders>, statics: &Statics) {
    if headers.is_some() || !statics.encoded.is_empty() {
        write_extra(s, headers, statics);
    }
}

#[inline(never)]
fn write_extra(s: &mut Vec<u8>, headers: Option<&ReportedHeaders>, statics: &Statics) {
    for (name, values) in header_groups(headers.map_or(&[], Vec::as_slice)) {
        attribute(s, 9, &header_key(name), &Value::Strs(values));
    }
    s.extend_from_slice(&statics.encoded);
}

/// What a sink keeps for the next export: the record itself, its spans encoded only when the
/// batch is sent (off the request path natively; no intermediate [`Span`] values anywhere).
#[derive(Debug, Clone)]
pub enum Pending {
    /// An answered request: its server span, proxy span and one client span per backend call.
    Request(Arc<RequestRecord>),
    /// A backend call that ended after its request was recorded, child of the proxy span.
    Straggler(Box<(TraceIds, BackendCall)>),
}

impl Pending {
    /// How many spans this exports.
    pub fn spans(&self, shape: &Shape) -> usize {
        match self {
            Self::Request(r) => request_spans(r, shape),
            Self::Straggler(straggler) => usize::from(shape.client_span(&straggler.1)),
        }
    }
}

/// How many spans [`encode_request`] writes for `record`: server, proxy (when an endpoint
/// matched) and one per backend call, those `shape` keeps.
pub fn request_spans(record: &RequestRecord, shape: &Shape) -> usize {
    1 + usize::from(shape.proxy_span(record))
        + (record.backends.iter())
            .filter(|call| shape.client_span(call))
            .count()
}

/// An `ExportTraceServiceRequest` with the spans of `pending`: the same bytes as
/// [`encode_traces`] of their [`spans`] and [`backend`] spans, written straight from the
/// records (after room for the head, so nothing is copied to wrap them).
pub fn encode_pending(resource: &Resource, shape: &Shape, pending: &[Pending]) -> Bytes {
    let room = head_room(resource);
    let size: usize = pending.iter().map(|p| p.spans(shape) * 320).sum();
    let mut out = Vec::with_capacity(room + size);
    out.resize(room, 0);
    // The client's address, written once per span into this one buffer.
    let mut scratch = Vec::with_capacity(40);
    for item in pending {
        match item {
            Pending::Request(record) => encode_request(&mut out, record, &mut scratch, shape),
            Pending::Straggler(straggler) => {
                let (ids, call) = &**straggler;
                encode_straggler(&mut out, ids, call, shape);
            }
        }
    }
    let start = wrap_in_place(resource, &mut out, room);
    Bytes::from(out).slice(start..)
}

/// Appends the span of a straggling backend call (a child of the proxy span) to `out`, as
/// [`encode_request`] does (nothing when `shape` has no client spans).
pub fn encode_straggler(out: &mut Vec<u8>, ids: &TraceIds, call: &BackendCall, shape: &Shape) {
    if shape.client_span(call) {
        span(out, |s| encode_backend(s, ids, call, shape));
    }
}

/// Bytes to keep in front of a batch of encoded spans for [`wrap_in_place`] (the most its
/// head can take).
pub fn head_room(resource: &Resource) -> usize {
    let (head, scope) = head_parts(resource);
    // Two tags and two lengths of at most ten varint bytes each.
    2 * 11 + head.len() + scope.len()
}

/// Makes `batch` an `ExportTraceServiceRequest` of `resource`: `batch[room..]` are spans
/// encoded by [`encode_request`] and [`encode_straggler`], `room` is [`head_room`]'s (kept
/// free in front of them). The head is written just before the spans, so the spans are never
/// copied (a batch is up to a megabyte); returns where the request starts in `batch`. (With
/// less room than the head needs, the spans are moved to make it.)
pub fn wrap_in_place(resource: &Resource, batch: &mut Vec<u8>, room: usize) -> usize {
    let (head, scope) = head_parts(resource);
    let spans = batch.len().saturating_sub(room);
    // ResourceSpans { resource (1), scope_spans (2): ScopeSpans { scope (1), spans (2)… } }
    let scope_spans = scope.len() + spans;
    let resource_spans = head.len() + 1 + varint_len(scope_spans as u64) + scope_spans;
    let mut prefix = Vec::with_capacity(room);
    tag(&mut prefix, 1, 2);
    varint(&mut prefix, resource_spans as u64);
    prefix.extend_from_slice(&head);
    tag(&mut prefix, 2, 2);
    varint(&mut prefix, scope_spans as u64);
    prefix.extend_from_slice(&scope);
    let room = room.min(batch.len());
    match room.checked_sub(prefix.len()) {
        Some(start) => {
            if let Some(at) = batch.get_mut(start..room) {
                at.copy_from_slice(&prefix);
            }
            start
        }
        None => {
            batch.splice(..room, prefix);
            0
        }
    }
}

/// The `ResourceSpans.resource` and `ScopeSpans.scope` fields of every trace export.
fn head_parts(resource: &Resource) -> (Vec<u8>, Vec<u8>) {
    let mut head = Vec::with_capacity(128);
    message(&mut head, 1, |r| encode_resource(r, resource));
    let mut scope = Vec::with_capacity(32);
    message(&mut scope, 1, scope_name);
    (head, scope)
}

/// An attribute key, pre-encoded: `KeyValue.key` (field 1, the key's length and bytes) and
/// the tag of `KeyValue.value` (field 2). Keys are constants: these bytes are made at compile
/// time (see [`attr_key!`]), so an attribute costs two varints and two copies.
const fn key_bytes<const N: usize>(key: &str) -> [u8; N] {
    let mut out = [0u8; N];
    let k = key.as_bytes();
    // Compile time only: a wrong `N` or a key over 127 bytes fails the build, not a request.
    assert!(N == k.len() + 3 && k.len() < 0x80);
    out[0] = 0x0a;
    out[1] = k.len() as u8;
    let mut i = 0;
    while i < k.len() {
        out[2 + i] = k[i];
        i += 1;
    }
    out[N - 1] = 0x12;
    out
}

/// The pre-encoded bytes of attribute key `$name` (a string literal), as a constant.
macro_rules! attr_key {
    ($name:literal) => {{
        const KEY: [u8; $name.len() + 3] = key_bytes::<{ $name.len() + 3 }>($name);
        &KEY
    }};
}

/// Bytes a span's header and fixed fields take at most, besides its strings.
const SPAN_FIXED: usize = 128;
/// Bytes an attribute takes at most besides its key and value (tag, three lengths, tags).
const ATTR_FIXED: usize = 16;

/// A span (`ScopeSpans.spans`, field 2) written by `body`, which first reserves all the room
/// it needs (one `reserve` per span; the writes after it never grow the buffer).
/// Two bytes are kept for its length: a span takes 128 to 16,383 bytes, so it is written
/// where it stays (one byte kept would move every span once its length is known).
#[inline]
fn span(out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
    sized_message::<2>(out, 2, body);
}

/// `trace_id` (1), `span_id` (2), `trace_state` (3), `parent_span_id` (4) of a span: put
/// together on the stack and copied as one run (without a `tracestate`, the usual case, the
/// four fields are 38 bytes of fixed layout).
#[inline(always)]
fn span_ids(s: &mut Vec<u8>, ids: &TraceIds, span_id: &[u8; 8], parent: Option<&[u8; 8]>) {
    let mut head = [0u8; 38];
    put(&mut head, 0, &[0x0a, 16]);
    put(&mut head, 2, &ids.trace_id);
    put(&mut head, 18, &[0x12, 8]);
    put(&mut head, 20, span_id);
    match (&ids.tracestate, parent) {
        (None, Some(parent)) => {
            put(&mut head, 28, &[0x22, 8]);
            put(&mut head, 30, parent);
            s.extend_from_slice(&head);
        }
        (state, parent) => {
            s.extend_from_slice(head.get(..28).unwrap_or_default());
            if let Some(state) = state {
                string(s, 3, state);
            }
            if let Some(parent) = parent {
                s.extend_from_slice(&[0x22, 8]);
                s.extend_from_slice(parent);
            }
        }
    }
}

/// `kind` (6), `start_time_unix_nano` (7), `end_time_unix_nano` (8) of a span: 20 bytes of
/// fixed layout, copied as one run.
#[inline(always)]
fn span_times(s: &mut Vec<u8>, kind: Kind, start: u64, end: u64) {
    let mut times = [0u8; 20];
    put(&mut times, 0, &[0x30, kind as u8, 0x39]);
    put(&mut times, 3, &start.to_le_bytes());
    put(&mut times, 11, &[0x41]);
    put(&mut times, 12, &end.to_le_bytes());
    s.extend_from_slice(&times);
}

/// Copies `src` into `dst` at `at`: the pieces of a fixed layout on the stack, whose offsets
/// are constants (so the range check folds away; the tests compare the bytes).
#[inline(always)]
fn put(dst: &mut [u8], at: usize, src: &[u8]) {
    if let Some(d) = dst.get_mut(at..at + src.len()) {
        d.copy_from_slice(src);
    }
}

/// Appends the spans of `record` (those of [`spans`], encoded as they are built there) to `ss`
/// as `ScopeSpans.spans` fields, for [`wrap_in_place`]; `scratch` is room for the client's
/// address, reused across calls.
pub fn encode_request(
    ss: &mut Vec<u8>,
    record: &RequestRecord,
    scratch: &mut Vec<u8>,
    shape: &Shape,
) {
    let ids = &record.trace;
    let start = record.start_micros.saturating_mul(1000);
    let end = record
        .start_micros
        .saturating_add(record.duration_micros)
        .saturating_mul(1000);
    let route = record.endpoint.as_deref().unwrap_or(&record.path);
    let failed = record.status >= 500;
    let span_error = |s: &mut Vec<u8>| {
        if failed {
            message(s, 15, |status| {
                string_parts(status, 2, &["status ", &record.status.to_string()]);
                uint(status, 3, 2);
            });
        }
    };
    let state_len = ids.tracestate.as_ref().map_or(0, String::len);
    span(ss, |s| {
        s.reserve(
            SPAN_FIXED
                + state_len
                + 2 * record.method.len()
                + route.len()
                + record.path.len()
                + record.request_id.len()
                + record.endpoint.as_deref().map_or(0, str::len)
                + 6 * ATTR_FIXED
                + shape.server_attrs.encoded.len()
                + record
                    .overrides
                    .as_ref()
                    .map_or(0, |o| o.server_attributes.encoded.len())
                + 160,
        );
        span_ids(s, ids, &ids.server_span, ids.parent_span.as_ref());
        string_parts(s, 5, &[&record.method, " ", route]);
        span_times(s, Kind::Server, start, end);
        attr_str(s, attr_key!("http.request.method"), &record.method);
        attr_str(s, attr_key!("url.path"), &record.path);
        attr_int(
            s,
            attr_key!("http.response.status_code"),
            i64::from(record.status),
        );
        attr_str_parts(
            s,
            attr_key!("manifold.request_id"),
            record.request_id.as_bytes(),
            b"",
        );
        if let Some(endpoint) = &record.endpoint {
            attr_str(s, attr_key!("http.route"), endpoint);
        }
        if let Some(client) = record.client {
            scratch.clear();
            crate::platform::push_ip(scratch, client);
            attr_str_parts(s, attr_key!("client.address"), scratch, b"");
        }
        extra_attributes(s, record.headers.as_deref(), &shape.server_attrs);
        if let Some(own) = &record.overrides {
            s.extend_from_slice(&own.server_attributes.encoded);
        }
        span_error(s);
    });
    match &record.endpoint {
        Some(endpoint) if shape.proxy_span(record) => {
            let proxy_attrs = shape.proxy_attrs(record);
            span(ss, |s| {
                s.reserve(
                    SPAN_FIXED
                        + state_len
                        + 2 * endpoint.len()
                        + 3 * ATTR_FIXED
                        + proxy_attrs.encoded.len()
                        + 160,
                );
                span_ids(s, ids, &ids.proxy_span, Some(&ids.server_span));
                string_parts(s, 5, &["proxy ", endpoint]);
                span_times(s, Kind::Internal, start, end);
                attr_str(s, attr_key!("http.route"), endpoint);
                attr_int(
                    s,
                    attr_key!("manifold.backends"),
                    record.backends.len() as i64,
                );
                let completed = record
                    .completed
                    .map_or("", |c| if c { "true" } else { "false" });
                attr_str(s, attr_key!("manifold.completed"), completed);
                extra_attributes(s, record.proxy_headers.as_deref(), proxy_attrs);
                span_error(s);
            });
        }
        _ => {}
    }
    for call in &record.backends {
        if shape.client_span(call) {
            span(ss, |s| encode_backend(s, ids, call, shape));
        }
    }
}

/// The span of [`backend`], encoded as it is built there.
fn encode_backend(s: &mut Vec<u8>, ids: &TraceIds, call: &BackendCall, shape: &Shape) {
    let client_attrs = shape.client_attrs(call);
    s.reserve(
        SPAN_FIXED
            + client_attrs.encoded.len()
            + ids.tracestate.as_ref().map_or(0, String::len)
            + call
                .failure
                .as_ref()
                .map_or(0, |f| f.message.len() + ATTR_FIXED + 32)
            + 3 * call.method.len()
            + 3 * call.host.len()
            + call.path.len()
            + call.name.len()
            + 7 * ATTR_FIXED
            + 160,
    );
    span_ids(s, ids, &call.span_id, Some(&call.parent));
    string(s, 5, &call.method);
    span_times(
        s,
        Kind::Client,
        call.start_micros.saturating_mul(1000),
        call.start_micros
            .saturating_add(call.duration_micros)
            .saturating_mul(1000),
    );
    attr_str(s, attr_key!("http.request.method"), &call.method);
    attr_str(s, attr_key!("server.address"), &call.host);
    attr_str_parts(
        s,
        attr_key!("url.full"),
        call.host.as_bytes(),
        call.path.as_bytes(),
    );
    attr_str(s, attr_key!("manifold.backend"), &call.name);
    attr_int(s, attr_key!("http.response.body.size"), call.bytes as i64);
    if let Some(status) = call.status {
        attr_int(s, attr_key!("http.response.status_code"), i64::from(status));
    }
    if let Some(failure) = &call.failure {
        attr_str(s, attr_key!("error.type"), failure.kind.as_str());
    }
    extra_attributes(s, call.headers.as_deref(), client_attrs);
    if let Some(failure) = &call.failure {
        message(s, 15, |status| {
            string(status, 2, &failure.message);
            uint(status, 3, 2);
        });
    }
}

/// A span attribute (field 9) with a string value: the bytes [`attribute`] writes, from the
/// pre-encoded `key` ([`attr_key!`]) with the lengths computed up front (no length to patch;
/// attributes are most of a span). Always inlined: the key's length is then a constant, its
/// copy a few moves, and most of the length arithmetic folds away.
#[inline(always)]
fn attr_str(out: &mut Vec<u8>, key: &[u8], value: &str) {
    attr_str_parts(out, key, value.as_bytes(), b"");
}

/// [`attr_str`] of the value `first` followed by `second`, without joining them first.
#[inline(always)]
fn attr_str_parts(out: &mut Vec<u8>, key: &[u8], first: &[u8], second: &[u8]) {
    let len = first.len() + second.len();
    // The usual attribute is under 128 bytes: each of its lengths is then one varint byte,
    // and its head (tag, length, key, value's length and tag, string's length) is put
    // together on the stack and copied as one run (the key's length is a constant here).
    let kv = key.len() + 3 + len;
    if kv < 0x80 {
        if let Some(head) = attr_head(key, kv, &[(len + 2) as u8, 0x0a, len as u8]) {
            out.extend_from_slice(head.0.get(..head.1).unwrap_or_default());
            out.extend_from_slice(first);
            out.extend_from_slice(second);
            return;
        }
    }
    let any = 1 + varint_len(len as u64) + len;
    let kv = key.len() + varint_len(any as u64) + any;
    out.push(0x4a);
    varint(out, kv as u64);
    out.extend_from_slice(key);
    varint(out, any as u64);
    out.push(0x0a);
    varint(out, len as u64);
    out.extend_from_slice(first);
    out.extend_from_slice(second);
}

/// Longest pre-encoded key ([`attr_key!`]) whose attribute head [`attr_head`] puts together.
const KEY_MAX: usize = 40;

/// An attribute's head on the stack: tag 9, `kv` (one varint byte), `key`, then `tail`; and
/// its length. None for a key over [`KEY_MAX`] (not one of ours; the caller writes the
/// fields one by one).
#[inline(always)]
fn attr_head(key: &[u8], kv: usize, tail: &[u8]) -> Option<([u8; KEY_MAX + 16], usize)> {
    let mut head = [0u8; KEY_MAX + 16];
    let end = 2 + key.len() + tail.len();
    head.get_mut(..2)?.copy_from_slice(&[0x4a, kv as u8]);
    head.get_mut(2..2 + key.len())?.copy_from_slice(key);
    head.get_mut(2 + key.len()..end)?.copy_from_slice(tail);
    Some((head, end))
}

/// A span attribute (field 9) with an integer value, as [`attr_str`].
#[inline(always)]
fn attr_int(out: &mut Vec<u8>, key: &[u8], value: i64) {
    let v = value as u64;
    let any = 1 + varint_len(v);
    let kv = key.len() + varint_len(any as u64) + any;
    if kv < 0x80 {
        // As in `attr_str_parts`: the whole attribute from one stack buffer.
        let mut tail = [0u8; 12];
        put(&mut tail, 0, &[any as u8, 0x18]);
        let n = put_varint(tail.get_mut(2..).unwrap_or_default(), v);
        if let Some(head) = attr_head(key, kv, tail.get(..2 + n).unwrap_or_default()) {
            out.extend_from_slice(head.0.get(..head.1).unwrap_or_default());
            return;
        }
    }
    out.push(0x4a);
    varint(out, kv as u64);
    out.extend_from_slice(key);
    varint(out, any as u64);
    out.push(0x18);
    varint(out, v);
}

/// Writes `v` as a varint at the start of `buf` (ten bytes hold any); returns its length.
#[inline(always)]
fn put_varint(buf: &mut [u8], mut v: u64) -> usize {
    let mut n = 0;
    for b in buf.iter_mut() {
        n += 1;
        if v < 0x80 {
            *b = v as u8;
            break;
        }
        *b = (v as u8) | 0x80;
        v >>= 7;
    }
    n
}

/// Bytes of `v` as a varint.
#[inline(always)]
fn varint_len(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// A string field made of `parts`, without joining them first.
#[inline(always)]
fn string_parts(out: &mut Vec<u8>, field: u32, parts: &[&str]) {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    if field < 16 && len < 0x80 {
        // Tag and length one byte each: one two-byte copy.
        out.extend_from_slice(&[(field << 3) as u8 | 2, len as u8]);
    } else {
        tag(out, field, 2);
        varint(out, len as u64);
    }
    for part in parts {
        out.extend_from_slice(part.as_bytes());
    }
}

/// An `ExportTraceServiceRequest` with `spans`.
pub fn encode_traces(resource: &Resource, spans: &[Span]) -> Vec<u8> {
    let mut out = Vec::new();
    message(&mut out, 1, |rs| {
        message(rs, 1, |r| encode_resource(r, resource));
        message(rs, 2, |ss| {
            message(ss, 1, scope_name);
            for span in spans {
                message(ss, 2, |s| encode_span(s, span));
            }
        });
    });
    out
}

fn scope_name(out: &mut Vec<u8>) {
    string(out, 1, "manifold");
    string(out, 2, crate::VERSION);
}

fn encode_resource(out: &mut Vec<u8>, resource: &Resource) {
    attribute(
        out,
        1,
        "service.name",
        &Value::Str(resource.service_name.clone()),
    );
    attribute(
        out,
        1,
        "service.version",
        &Value::Str(resource.service_version.clone()),
    );
    if !resource.deploy_env.is_empty() {
        attribute(
            out,
            1,
            "deployment.environment",
            &Value::Str(resource.deploy_env.clone()),
        );
    }
}

fn encode_span(out: &mut Vec<u8>, span: &Span) {
    bytes(out, 1, &span.trace_id);
    bytes(out, 2, &span.span_id);
    if let Some(state) = &span.trace_state {
        string(out, 3, state);
    }
    if let Some(parent) = &span.parent {
        bytes(out, 4, parent);
    }
    string(out, 5, &span.name);
    uint(out, 6, span.kind as u64);
    fixed64(out, 7, span.start_nanos);
    fixed64(out, 8, span.end_nanos);
    for (key, value) in &span.attributes {
        attribute(out, 9, key, value);
    }
    for (key, value) in &span.extra_attributes {
        attribute(out, 9, key, value);
    }
    if let Some(error) = &span.error {
        // Status { message = 2; code = 3 (ERROR = 2) }
        message(out, 15, |status| {
            string(status, 2, error);
            uint(status, 3, 2);
        });
    }
}

/// A `KeyValue` in field `field`.
pub(crate) fn attribute(out: &mut Vec<u8>, field: u32, key: &str, value: &Value) {
    message(out, field, |kv| {
        string(kv, 1, key);
        message(kv, 2, |any| match value {
            Value::Str(s) => string(any, 1, s),
            Value::Int(i) => uint(any, 3, *i as u64),
            // AnyValue.array_value (5): ArrayValue { values (1): AnyValue { string_value } }
            Value::Strs(values) => message(any, 5, |array| {
                for v in values {
                    message(array, 1, |item| string(item, 1, v));
                }
            }),
        });
    });
}

// The five wire forms OTLP needs.

#[inline(always)]
fn varint(out: &mut Vec<u8>, mut v: u64) {
    if v < 0x80 {
        out.push(v as u8);
        return;
    }
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[inline]
fn tag(out: &mut Vec<u8>, field: u32, wire: u8) {
    varint(out, (u64::from(field) << 3) | u64::from(wire));
}

/// A varint field (wire type 0).
pub(crate) fn uint(out: &mut Vec<u8>, field: u32, v: u64) {
    tag(out, field, 0);
    varint(out, v);
}

/// A fixed64 field (wire type 1).
pub(crate) fn fixed64(out: &mut Vec<u8>, field: u32, v: u64) {
    tag(out, field, 1);
    out.extend_from_slice(&v.to_le_bytes());
}

/// A double field (wire type 1).
pub(crate) fn double(out: &mut Vec<u8>, field: u32, v: f64) {
    tag(out, field, 1);
    out.extend_from_slice(&v.to_le_bytes());
}

/// A bytes field (wire type 2).
#[inline]
pub(crate) fn bytes(out: &mut Vec<u8>, field: u32, v: &[u8]) {
    if field < 16 && v.len() < 0x80 {
        // Tag and length one byte each: one two-byte copy.
        out.extend_from_slice(&[(field << 3) as u8 | 2, v.len() as u8]);
    } else {
        tag(out, field, 2);
        varint(out, v.len() as u64);
    }
    out.extend_from_slice(v);
}

/// A string field (wire type 2).
#[inline]
pub(crate) fn string(out: &mut Vec<u8>, field: u32, v: &str) {
    bytes(out, field, v.as_bytes());
}

/// An embedded message (wire type 2), written by `body`. Written in place: one byte is kept
/// for the length and widened afterwards if the body needs a longer varint (a span's
/// attributes are small; only the outer messages move), so nesting costs no allocation.
#[inline]
pub(crate) fn message(out: &mut Vec<u8>, field: u32, body: impl FnOnce(&mut Vec<u8>)) {
    sized_message::<1>(out, field, body);
}

/// [`message`] with `ROOM` bytes kept for the length: a body whose length takes exactly that
/// many varint bytes stays where it was written; any other is moved once so that the length
/// is the shortest varint (the bytes are those of [`message`] either way).
#[inline]
fn sized_message<const ROOM: usize>(
    out: &mut Vec<u8>,
    field: u32,
    body: impl FnOnce(&mut Vec<u8>),
) {
    tag(out, field, 2);
    let at = out.len();
    out.extend_from_slice(&[0; ROOM]);
    body(out);
    let end = out.len();
    let len = end - at - ROOM;
    let need = varint_len(len as u64);
    if need != ROOM {
        // Moved in place (no allocation): right to widen, left to narrow.
        if need > ROOM {
            out.resize(end + need - ROOM, 0);
        }
        out.copy_within(at + ROOM..end, at + need);
        out.truncate(at + need + len);
    }
    let mut v = len as u64;
    for b in out.get_mut(at..at + need).unwrap_or_default() {
        *b = (v as u8 & 0x7f) | if v >= 0x80 { 0x80 } else { 0 };
        v >>= 7;
    }
}

/// The scope of every payload, for the metrics encoder.
pub(crate) fn scope(out: &mut Vec<u8>) {
    scope_name(out);
}

/// The resource, for the metrics encoder.
pub(crate) fn resource(out: &mut Vec<u8>, resource: &Resource) {
    encode_resource(out, resource);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_fields_follow_the_protobuf_encoding() {
        let mut out = Vec::new();
        uint(&mut out, 1, 150);
        assert_eq!(out, [0x08, 0x96, 0x01]);
        let mut out = Vec::new();
        string(&mut out, 2, "testing");
        assert_eq!(out, b"\x12\x07testing");
        let mut out = Vec::new();
        fixed64(&mut out, 7, 1);
        assert_eq!(out, [0x39, 1, 0, 0, 0, 0, 0, 0, 0]);
        let mut out = Vec::new();
        message(&mut out, 3, |m| uint(m, 1, 150));
        assert_eq!(out, [0x1a, 0x03, 0x08, 0x96, 0x01]);
    }

    fn call(i: u8, status: Option<u16>, failure: Option<crate::platform::Failure>) -> BackendCall {
        BackendCall {
            headers: None,
            overrides: None,
            parent: [9; 8],
            span_id: [i + 1; 8],
            name: format!("group{i}").into(),
            host: "http://users:8080".into(),
            path: format!("/u/{i}"),
            method: "GET".into(),
            status,
            failure,
            start_micros: 1_700_000_000_000_000 + u64::from(i),
            duration_micros: 1500 * u64::from(i),
            bytes: 300 * usize::from(i),
        }
    }

    fn record(endpoint: bool, status: u16, tracestate: bool, n: u8) -> RequestRecord {
        use crate::platform::{Failure, FailureKind};
        let header = |n: &'static str, v: &[u8]| {
            (
                http::HeaderName::from_static(n),
                http::HeaderValue::from_bytes(v).unwrap(),
            )
        };
        let reported = |on: bool| -> Option<Box<crate::platform::ReportedHeaders>> {
            on.then(|| {
                Box::new(vec![
                    header("x-team", b"core"),
                    header("accept", b"a"),
                    header("accept", b"b\xff"),
                    header("x-long", &[b'v'; 200]),
                ])
            })
        };
        RequestRecord {
            headers: reported(endpoint),
            proxy_headers: reported(endpoint && tracestate),
            overrides: None,
            start_micros: 1_700_000_000_000_000,
            duration_micros: 4321,
            request_id: http::HeaderValue::from_static("r1"),
            trace: TraceIds {
                trace_id: [7; 16],
                server_span: [8; 8],
                proxy_span: [9; 8],
                parent_span: tracestate.then_some([6; 8]),
                sampled: true,
                tracestate: tracestate.then(|| "k=v".into()),
            },
            method: "GET".into(),
            endpoint: endpoint.then(|| "/users/{id}".into()),
            path: "/users/1".into(),
            status,
            completed: endpoint.then_some(status < 500),
            bytes_out: 10,
            client: endpoint.then(|| "10.0.0.1".parse().unwrap()),
            backends: (0..n)
                .map(|i| match i % 3 {
                    0 => BackendCall {
                        headers: reported(true),
                        ..call(i, Some(200), None)
                    },
                    1 => call(
                        i,
                        Some(503),
                        Some(Failure {
                            kind: FailureKind::Status,
                            message: "x".repeat(200),
                        }),
                    ),
                    _ => call(
                        i,
                        None,
                        Some(Failure {
                            kind: FailureKind::Timeout,
                            message: "late".into(),
                        }),
                    ),
                })
                .collect(),
            log: true,
        }
    }

    /// A record whose endpoint and backends have their own layers: the endpoint's span on or
    /// off, a call without a span, one with its own attributes, one with the service's.
    fn overridden(proxy_span: bool) -> RequestRecord {
        use crate::platform::{BackendOverride, EndpointOverride};
        let attrs = |key: &str, value: &str| {
            statics(&[crate::config::extra::StaticAttribute {
                key: key.into(),
                value: value.into(),
            }])
        };
        let mut record = record(true, 200, false, 3);
        record.overrides = Some(Arc::new(EndpointOverride {
            server_attributes: attrs("team", "a"),
            proxy_span,
            proxy_attributes: attrs("endpoint.k", "b"),
            ..EndpointOverride::default()
        }));
        record.backends[0].overrides = Some(Arc::new(BackendOverride::default()));
        record.backends[1].overrides = Some(Arc::new(BackendOverride {
            span: true,
            span_attributes: attrs("backend.k", &"c".repeat(130)),
            ..BackendOverride::default()
        }));
        record
    }

    /// Shapes: every span, and each layer switched off or given static attributes.
    fn shapes() -> Vec<Shape> {
        use crate::config::extra::{Layers, StaticAttribute};
        let attrs = |prefix: &str, n: usize| -> Vec<StaticAttribute> {
            (0..n)
                .map(|i| StaticAttribute {
                    key: format!("{prefix}.k{i}"),
                    value: "v".repeat(i * 90),
                })
                .collect()
        };
        let mut shapes = vec![Shape::default()];
        for (proxy_off, client_off) in [(false, false), (true, false), (false, true), (true, true)]
        {
            let mut layers = Layers::default();
            layers.proxy.disable_traces = proxy_off;
            layers.backend.traces.disable_stage = client_off;
            layers.global.traces_static_attributes = attrs("server", 2);
            layers.proxy.traces_static_attributes = attrs("proxy", 1);
            layers.backend.traces.static_attributes = attrs("client", 3);
            shapes.push(Shape::new(&layers));
        }
        shapes
    }

    #[test]
    fn pending_records_encode_as_their_spans_do() {
        let resource = Resource {
            service_name: "svc".into(),
            service_version: "1".into(),
            deploy_env: "prod".into(),
        };
        let records: Vec<RequestRecord> = [
            record(true, 200, false, 1),
            record(false, 404, true, 0),
            record(true, 502, true, 3),
            record(false, 500, false, 2),
            overridden(true),
            overridden(false),
        ]
        .into_iter()
        .collect();
        let straggler = call(4, Some(200), None);
        let mut pending: Vec<Pending> = records
            .iter()
            .cloned()
            .map(|r| Pending::Request(Arc::new(r)))
            .collect();
        pending.push(Pending::Straggler(Box::new((
            records[2].trace.clone(),
            straggler.clone(),
        ))));
        for shape in shapes() {
            let mut spans_of: Vec<Span> = records.iter().flat_map(|r| spans(r, &shape)).collect();
            if shape.client_span(&straggler) {
                spans_of.push(backend(&records[2].trace, &straggler, &shape));
            }
            assert_eq!(
                pending.iter().map(|p| p.spans(&shape)).sum::<usize>(),
                spans_of.len()
            );
            assert_eq!(
                encode_pending(&resource, &shape, &pending),
                encode_traces(&resource, &spans_of)
            );
            assert_eq!(
                encode_pending(&resource, &shape, &[]),
                encode_traces(&resource, &[])
            );
            // Too little room kept: the spans move, the bytes are the same.
            let mut short = vec![7; 5];
            encode_request(&mut short, &records[0], &mut Vec::new(), &shape);
            let start = wrap_in_place(&resource, &mut short, 5);
            assert_eq!(
                short[start..],
                encode_traces(&resource, &spans(&records[0], &shape))
            );
            // Many spans: the outer messages' lengths take several varint bytes.
            let many: Vec<Pending> = (0..200).map(|_| pending[2].clone()).collect();
            let many_spans: Vec<Span> = (0..200).flat_map(|_| spans(&records[2], &shape)).collect();
            assert_eq!(
                encode_pending(&resource, &shape, &many),
                encode_traces(&resource, &many_spans)
            );
        }
    }

    #[test]
    fn layers_leave_out_spans_and_add_their_static_attributes() {
        let mut record = record(true, 200, false, 2);
        record.headers = None;
        record.backends.iter_mut().for_each(|b| b.headers = None);
        let ids = &record.trace;
        let all = spans(&record, &Shape::default());
        let kinds = |spans: &[Span]| spans.iter().map(|s| s.kind).collect::<Vec<_>>();
        assert_eq!(
            kinds(&all),
            [Kind::Server, Kind::Internal, Kind::Client, Kind::Client]
        );
        assert!(all.iter().all(|s| s.extra_attributes.is_empty()));
        let shapes = shapes();
        // Every layer on, with attributes: each span has its own layer's.
        let with = spans(&record, &shapes[1]);
        let keys = |s: &Span| {
            s.extra_attributes
                .iter()
                .map(|(k, _)| k.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(keys(&with[0]), ["server.k0", "server.k1"]);
        assert_eq!(keys(&with[1]), ["proxy.k0"]);
        assert_eq!(keys(&with[2]), ["client.k0", "client.k1", "client.k2"]);
        // No proxy span; a call's span is a child of the span it recorded as its parent.
        let flat = spans(&record, &shapes[2]);
        assert_eq!(kinds(&flat), [Kind::Server, Kind::Client, Kind::Client]);
        assert!(flat[1..]
            .iter()
            .all(|s| s.parent == Some(record.backends[0].parent)));
        // No client spans.
        assert_eq!(
            kinds(&spans(&record, &shapes[3])),
            [Kind::Server, Kind::Internal]
        );
        assert_eq!(kinds(&spans(&record, &shapes[4])), [Kind::Server]);
        let mut out = Vec::new();
        encode_straggler(&mut out, ids, &call(1, Some(200), None), &shapes[3]);
        assert!(out.is_empty());
        // The attribute is in the encoded span.
        let mut out = Vec::new();
        encode_request(&mut out, &record, &mut Vec::new(), &shapes[1]);
        let needle = b"proxy.k0";
        assert!(out.windows(needle.len()).any(|w| w == needle));
        // An endpoint's and its backends' own layers, in place of the service's.
        for shape in [&shapes[1], &shapes[4]] {
            for proxy_span in [true, false] {
                let own = overridden(proxy_span);
                let spans = spans(&own, shape);
                let mut expected = vec![Kind::Server];
                expected.extend(proxy_span.then_some(Kind::Internal));
                // Call 0 has no span of its own, call 1 has one, call 2 follows the service.
                expected.push(Kind::Client);
                expected.extend(shape.client.then_some(Kind::Client));
                assert_eq!(kinds(&spans), expected);
                let server = keys(&spans[0]);
                assert_eq!(server.last().map(String::as_str), Some("team"));
                if proxy_span {
                    assert_eq!(keys(&spans[1]), ["endpoint.k"]);
                }
                let own_call = &spans[1 + usize::from(proxy_span)];
                assert_eq!(own_call.span_id, own.backends[1].span_id);
                assert_eq!(keys(own_call), ["backend.k"]);
            }
        }
    }

    #[test]
    fn reported_headers_are_string_arrays_named_after_the_header() {
        let record = record(true, 200, false, 1);
        let server = &spans(&record, &Shape::default())[0];
        let values = |key: &str| {
            server
                .extra_attributes
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(
            values("http.request.header.accept"),
            Some(Value::Strs(vec!["a".into(), "b\u{fffd}".into()]))
        );
        assert_eq!(
            values("http.request.header.x-team"),
            Some(Value::Strs(vec!["core".into()]))
        );
        assert_eq!(server.extra_attributes.len(), 3);
        // KeyValue { key, value: AnyValue { array_value: ArrayValue { values: [AnyValue] } } }
        let mut out = Vec::new();
        attribute(
            &mut out,
            9,
            "k",
            &Value::Strs(vec!["a".into(), "bc".into()]),
        );
        assert_eq!(
            out,
            [
                0x4a, 18, 0x0a, 1, b'k', 0x12, 13, 0x2a, 11, 0x0a, 3, 0x0a, 1, b'a', 0x0a, 4, 0x0a,
                2, b'b', b'c'
            ]
        );
    }

    #[test]
    fn long_messages_get_a_longer_length_prefix() {
        let mut out = Vec::new();
        message(&mut out, 1, |m| m.extend_from_slice(&[0xaa; 300]));
        assert_eq!(&out[..3], [0x0a, 0xac, 0x02]);
        assert_eq!(out.len(), 303);
        assert!(out[3..].iter().all(|b| *b == 0xaa));
        let mut out = vec![1, 2];
        message(&mut out, 1, |m| m.extend_from_slice(&[0xbb; 20_000]));
        assert_eq!(&out[..6], [1, 2, 0x0a, 0xa0, 0x9c, 0x01]);
        assert_eq!(out.len(), 20_006);
        assert!(out[6..].iter().all(|b| *b == 0xbb));
    }

    fn pre_key(key: &str) -> Vec<u8> {
        let mut pre = vec![0x0a];
        varint(&mut pre, key.len() as u64);
        pre.extend_from_slice(key.as_bytes());
        pre.push(0x12);
        pre
    }

    #[test]
    fn attributes_encode_as_nested_messages_do() {
        // Around the one-byte-lengths fast path's edges too: a value that just fits with
        // the key's 13 bytes (111) or not (112), keys of `KEY_MAX` bytes pre-encoded and one
        // more (written field by field).
        for n in [
            0, 1, 100, 110, 111, 112, 113, 115, 116, 127, 128, 200, 16_370, 16_400, 70_000,
        ] {
            let value = "v".repeat(n);
            let (fits, over) = ("f".repeat(KEY_MAX - 3), "o".repeat(KEY_MAX - 2));
            for key in ["http.route", &fits, &over, &"k".repeat(130)] {
                let pre = pre_key(key);
                let mut fast = Vec::new();
                attr_str(&mut fast, &pre, &value);
                let mut nested = Vec::new();
                attribute(&mut nested, 9, key, &Value::Str(value.clone()));
                assert_eq!(fast, nested, "{n}");
                // Statuses and sizes (one to three varint bytes) and a negative (ten).
                for i in [
                    (n as i64) * 1_000_003 - 5,
                    n as i64,
                    200,
                    16_383,
                    16_384,
                    i64::MAX,
                ] {
                    let mut fast = Vec::new();
                    attr_int(&mut fast, &pre, i);
                    let mut nested = Vec::new();
                    attribute(&mut nested, 9, key, &Value::Int(i));
                    assert_eq!(fast, nested, "{i}");
                }
            }
        }
        assert_eq!(attr_key!("http.route"), &pre_key("http.route")[..]);
        for v in [0, 1, 127, 128, 16_383, 16_384, u64::MAX] {
            let mut out = Vec::new();
            varint(&mut out, v);
            assert_eq!(varint_len(v), out.len(), "{v}");
        }
    }

    #[test]
    fn a_message_with_room_for_its_length_is_a_message() {
        for len in [
            0usize, 1, 127, 128, 129, 300, 16_383, 16_384, 20_000, 2_097_152,
        ] {
            let body = |out: &mut Vec<u8>| out.extend((0..len).map(|i| i as u8));
            let mut plain = vec![7];
            message(&mut plain, 2, body);
            let mut one = vec![7];
            sized_message::<1>(&mut one, 2, body);
            let mut two = vec![7];
            sized_message::<2>(&mut two, 2, body);
            let mut three = vec![7];
            sized_message::<3>(&mut three, 2, body);
            assert_eq!(one, plain, "{len}");
            assert_eq!(two, plain, "{len}");
            assert_eq!(three, plain, "{len}");
            let mut spanned = vec![7];
            span(&mut spanned, body);
            assert_eq!(spanned, plain, "{len}");
        }
        // The reference: tag, shortest varint length, body.
        let mut out = Vec::new();
        message(&mut out, 2, |o| o.extend([1u8; 300]));
        assert_eq!(out[..3], [0x12, 0xac, 0x02]);
        assert_eq!(out.len(), 303);
    }
}
