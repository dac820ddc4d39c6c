//! An endpoint's or a backend's own `telemetry/opentelemetry` (KrakenD CE's overrides of the
//! service's layers), compiled once and carried by the records of its requests and calls: the
//! encoder and the metrics read it there instead of the service's layer. A record without one
//! (the usual case) carries a null pointer.

use super::telemetry::HeaderReport;

/// Static attributes as written (key, value) and as the OTLP encoder writes them: the span
/// attribute fields, encoded once, copied into each span as one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Statics {
    /// Key and value of each, in the config's order.
    pub attributes: Vec<(String, String)>,
    /// Their `Span.attributes` fields, pre-encoded.
    pub encoded: Vec<u8>,
}

/// An endpoint's own telemetry options: its `global` static attributes (added to the
/// service's) and its `proxy` layer (the service's when it has none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointOverride {
    /// Added to the server span's static attributes.
    pub server_attributes: Statics,
    /// The server series' static labels: the service's and the endpoint's.
    pub server_labels: Vec<(String, String)>,
    /// The endpoint's span is written (`proxy.disable_traces` unset).
    pub proxy_span: bool,
    /// Its static attributes.
    pub proxy_attributes: Statics,
    /// The headers it reports (`proxy.report_headers`).
    pub(crate) proxy_headers: Option<HeaderReport>,
}

/// A backend's own `backend` layer (or its endpoint's), in place of the service's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackendOverride {
    /// Each call is a span of its own (`traces.disable_stage` unset).
    pub span: bool,
    /// The spans' static attributes.
    pub span_attributes: Statics,
    /// The headers they report (`traces.report_headers`).
    pub(crate) headers: Option<HeaderReport>,
    /// The calls are counted in the `http.client.*` series (`metrics.disable_stage` unset).
    pub series: bool,
    /// Those series' static labels, in place of the service's.
    pub labels: Vec<(String, String)>,
}
