//! OTLP/HTTP protobuf payloads (`/v1/traces`, `/v1/metrics`), encoded by hand from the
//! opentelemetry-proto field numbers: the spans of a [`RequestRecord`] and the
//! [`super::metrics::Metrics`] series. Hand-written because it is small (a protobuf writer of
//! five wire forms), pure (it runs in the core on every platform, wasm32 included, where the
//! official `opentelemetry` crates do not build without a runtime), and because the official
//! SDK would bring its own batching, runtime and HTTP client to the 2-core build, where the
//! adapters already have all three.

use crate::platform::{BackendCall, RequestRecord, TraceIds};

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
}

/// The spans of one request: the server span, the endpoint's proxy span (when routed) and one
/// client span per backend call, parented server → proxy → backend.
pub fn spans(record: &RequestRecord) -> Vec<Span> {
    let ids = &record.trace;
    let start = record.start_micros.saturating_mul(1000);
    let end = record
        .start_micros
        .saturating_add(record.duration_micros)
        .saturating_mul(1000);
    let route = record.endpoint.as_deref().unwrap_or(&record.path);
    let mut attributes = vec![
        ("http.request.method", Value::Str(record.method.clone())),
        ("url.path", Value::Str(record.path.clone())),
        (
            "http.response.status_code",
            Value::Int(i64::from(record.status)),
        ),
        ("manifold.request_id", Value::Str(record.request_id.clone())),
    ];
    if let Some(endpoint) = &record.endpoint {
        attributes.push(("http.route", Value::Str(endpoint.clone())));
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
    }];
    let parent = match &record.endpoint {
        Some(endpoint) => {
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
                    ("http.route", Value::Str(endpoint.clone())),
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
            });
            ids.proxy_span
        }
        None => ids.server_span,
    };
    out.extend(
        record
            .backends
            .iter()
            .map(|call| backend(ids, call, parent)),
    );
    out
}

/// The client span of one backend call, child of `parent`.
pub fn backend(ids: &TraceIds, call: &BackendCall, parent: [u8; 8]) -> Span {
    let mut attributes = vec![
        ("http.request.method", Value::Str(call.method.clone())),
        ("server.address", Value::Str(call.host.clone())),
        (
            "url.full",
            Value::Str(format!("{}{}", call.host, call.path)),
        ),
        ("manifold.backend", Value::Str(call.name.clone())),
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
        parent: Some(parent),
        trace_state: ids.tracestate.clone(),
        name: call.method.clone(),
        kind: Kind::Client,
        start_nanos: call.start_micros.saturating_mul(1000),
        end_nanos: call
            .start_micros
            .saturating_add(call.duration_micros)
            .saturating_mul(1000),
        attributes,
        error: call.failure.as_ref().map(|f| f.message.clone()),
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
        });
    });
}

// The five wire forms OTLP needs.

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

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
pub(crate) fn bytes(out: &mut Vec<u8>, field: u32, v: &[u8]) {
    tag(out, field, 2);
    varint(out, v.len() as u64);
    out.extend_from_slice(v);
}

/// A string field (wire type 2).
pub(crate) fn string(out: &mut Vec<u8>, field: u32, v: &str) {
    bytes(out, field, v.as_bytes());
}

/// An embedded message (wire type 2), written by `body`.
pub(crate) fn message(out: &mut Vec<u8>, field: u32, body: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    body(&mut inner);
    bytes(out, field, &inner);
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
}
