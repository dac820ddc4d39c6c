//! `telemetry/logging` and `telemetry/opentelemetry` (root), with KrakenD CE's keys. The core
//! reads what decides the records (sampling, propagation); the adapters read where they go
//! (level, prefix, stdout, exporters).

use serde::Deserialize;

use super::{checked, Namespace};
use crate::config::decode::Cx;

/// `telemetry/logging`: KrakenD CE's application-log options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Logging {
    /// `DEBUG`, `INFO`, `WARNING`, `ERROR` or `CRITICAL` (required by CE; INFO when absent).
    pub level: String,
    /// Written before every log line.
    pub prefix: String,
    /// Send the logs to syslog: not supported, the adapter's channel is used (a warning).
    pub syslog: bool,
    /// Write the logs to stdout instead of stderr (native).
    pub stdout: bool,
    /// `default` (text), `logstash` (JSON lines) or `custom` (not supported: text).
    pub format: String,
    /// The `custom` format's pattern: not supported (a warning).
    pub custom_format: String,
    /// The syslog facility: only with `syslog`.
    pub syslog_facility: String,
}

/// `telemetry/opentelemetry`: KrakenD CE's traces and metrics options.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct OpenTelemetry {
    /// `service.name` of the exported data (unset: the config's `name`, else `manifold`).
    pub service_name: String,
    /// `service.version` of the exported data (default: Manifold's version).
    pub service_version: String,
    /// `deployment.environment` of the exported data.
    pub deploy_env: String,
    /// Seconds between two metric exports (default 30).
    pub metric_reporting_period: u64,
    /// Share of new traces that are sampled, 0 to 1 (default 1). A client's sampled flag is
    /// followed.
    pub trace_sample_rate: f64,
    /// Where the data goes.
    pub exporters: Exporters,
    /// What each layer reports.
    pub layers: Layers,
    /// The duration histograms' buckets.
    pub histograms: Histograms,
    /// Endpoints (as written, `{placeholders}` included) and paths that produce neither spans
    /// nor metrics; an entry ending in `/` also covers what is under it. KrakenD's default
    /// when absent or empty: `/__health`, `/__debug/`, `/__echo/`, `/__stats/` (`[""]` skips
    /// nothing).
    pub skip_paths: Vec<String>,
}

/// `histograms`: bucket bounds.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct Histograms {
    /// Bounds in seconds of the duration histograms, ascending (KrakenD CE's default:
    /// [`TIME_BUCKETS`]).
    pub time_buckets: Vec<f64>,
    /// Bounds in bytes of the body size histograms, ascending (KrakenD CE's default:
    /// [`SIZE_BUCKETS`]).
    pub size_buckets: Vec<f64>,
}

/// KrakenD CE's default duration buckets, in seconds.
pub const TIME_BUCKETS: [f64; 20] = [
    0.01, 0.02, 0.05, 0.075, 0.1, 0.125, 0.15, 0.175, 0.2, 0.25, 0.3, 0.35, 0.5, 0.75, 1.0, 1.5,
    2.0, 3.5, 5.0, 10.0,
];

/// KrakenD CE's default body size buckets, in bytes (128 B to 64 MiB).
pub const SIZE_BUCKETS: [f64; 15] = [
    128.0,
    256.0,
    512.0,
    1024.0,
    4096.0,
    8192.0,
    16_384.0,
    32_768.0,
    65_536.0,
    262_144.0,
    524_288.0,
    1_048_576.0,
    4_194_304.0,
    16_777_216.0,
    67_108_864.0,
];

/// Most bounds a histogram may have (each is a series per label set).
const MAX_BUCKETS: usize = 64;

impl Default for Histograms {
    fn default() -> Self {
        Self {
            time_buckets: TIME_BUCKETS.to_vec(),
            size_buckets: SIZE_BUCKETS.to_vec(),
        }
    }
}

/// `exporters`: OTLP collectors and Prometheus endpoints.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Exporters {
    /// OTLP collectors.
    pub otlp: Vec<Otlp>,
    /// Prometheus `/metrics` listeners.
    pub prometheus: Vec<Prometheus>,
}

/// One OTLP collector.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Otlp {
    /// A name for messages.
    pub name: String,
    /// The collector's host (a URL with scheme, or a host name: `http://` is assumed); it may
    /// carry the port when `port` is not set.
    pub host: String,
    /// The collector's port (default: the one in `host`, else 4318).
    pub port: u16,
    /// OTLP over HTTP (protobuf, `/v1/traces`, port 4318 by default); unset, OTLP over gRPC
    /// (port 4317 by default) natively, OTLP/HTTP from a Worker, which cannot send gRPC.
    pub use_http: bool,
    /// Send no metrics to this collector.
    pub disable_metrics: bool,
    /// Send no traces to this collector.
    pub disable_traces: bool,
    /// Seconds between two metric exports to this collector (0: `metric_reporting_period`).
    pub custom_metric_reporting_period: u64,
}

/// The OTLP/gRPC method that takes spans: gRPC is HTTP/2 `POST`s to such paths.
pub const GRPC_TRACES: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
/// The OTLP/gRPC method that takes metrics.
pub const GRPC_METRICS: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";

/// Where a platform sends one kind of OTLP payload, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collector {
    /// The URL: an OTLP/HTTP path's, or an OTLP/gRPC method's.
    pub url: String,
    /// A unary gRPC call (HTTP/2) to [`Self::url`]; else an OTLP/HTTP `POST`.
    pub grpc: bool,
}

impl Otlp {
    /// Where a platform sends `traces` (else metrics): OTLP/gRPC ([`Self::grpc_url`]) when the
    /// collector takes it (`use_http` unset, KrakenD's default) and the platform can send it
    /// (`grpc`: natively, not from a Worker), else OTLP/HTTP ([`Self::url`]).
    pub fn collector(&self, grpc: bool, traces: bool) -> Collector {
        let grpc = grpc && !self.use_http;
        let url = match (grpc, traces) {
            (true, true) => self.grpc_url(GRPC_TRACES),
            (true, false) => self.grpc_url(GRPC_METRICS),
            (false, true) => self.url("/v1/traces"),
            (false, false) => self.url("/v1/metrics"),
        };
        Collector { url, grpc }
    }

    /// The collector's URL for `path` (`/v1/traces`, `/v1/metrics`): `http://` unless `host`
    /// has a scheme; `port`, else the one in `host`, else 4318.
    pub fn url(&self, path: &str) -> String {
        self.url_on(4318, path)
    }

    /// The collector's OTLP/gRPC URL for `method` ([`GRPC_TRACES`], [`GRPC_METRICS`]): as
    /// [`Self::url`], with gRPC's port 4317 by default.
    pub fn grpc_url(&self, method: &str) -> String {
        self.url_on(4317, method)
    }

    fn url_on(&self, default_port: u16, path: &str) -> String {
        let host = self.host.trim_end_matches('/');
        let host = if host.contains("://") {
            host.to_owned()
        } else {
            format!("http://{host}")
        };
        // After the scheme: `name:port` or `[v6]:port` (an IPv6 literal's colons are inside
        // its brackets).
        let authority = host.split_once("://").map_or(host.as_str(), |(_, a)| a);
        let port = match authority.rfind(']') {
            Some(end) => authority.get(end + 1..).and_then(|r| r.strip_prefix(':')),
            None => authority.rsplit_once(':').map(|(_, p)| p),
        };
        let has_port = port.is_some_and(|p| p.parse::<u16>().is_ok());
        match self.port {
            0 if has_port => format!("{host}{path}"),
            0 => format!("{host}:{default_port}{path}"),
            port => format!("{host}:{port}{path}"),
        }
    }

    /// Microseconds between two metric exports to this collector, `common` (seconds) unless
    /// it has its own.
    pub fn metric_period_micros(&self, common: u64) -> u64 {
        let seconds = match self.custom_metric_reporting_period {
            0 => common,
            own => own,
        };
        seconds.max(1).saturating_mul(1_000_000)
    }
}

/// One Prometheus listener.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Prometheus {
    /// A name for messages.
    pub name: String,
    /// The port `/metrics` is served on (default 9090).
    pub port: u16,
    /// The address to listen on (default all).
    pub listen_ip: String,
    /// Go runtime metrics in CE: nothing to report here (a warning).
    pub go_metrics: bool,
    /// The process's own series (CPU seconds, memory, file descriptors, start time), under
    /// the names of Prometheus' standard process collector.
    pub process_metrics: bool,
    /// CE's reader period for this exporter: nothing to do for a scraped endpoint (accepted).
    pub custom_metric_reporting_period: u64,
    /// Serve nothing.
    pub disable_metrics: bool,
}

/// `layers`: what each layer reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Layers {
    /// The server layer (one span and the request metrics per request).
    pub global: Layer,
    /// The endpoint layer (one span per endpoint).
    pub proxy: Layer,
    /// The backend layer (one span and the call metrics per backend call).
    pub backend: BackendLayer,
}

/// Options of the global and proxy layers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Layer {
    /// No metrics from this layer (the proxy layer has none of its own).
    pub disable_metrics: bool,
    /// No spans from this layer (global: no traces at all; proxy: the backend spans are
    /// children of the server span).
    pub disable_traces: bool,
    /// (global) Neither continue the client's trace nor send `traceparent` to backends.
    pub disable_propagation: bool,
    /// The request's headers as attributes of this layer's span (`http.request.header.*`;
    /// global: the client's, proxy: those passed on to the backends).
    pub report_headers: bool,
    /// Headers left out of `report_headers` (credentials always are).
    pub skip_headers: Vec<String>,
    /// Attributes added to this layer's metric series (global: the server metrics).
    pub metrics_static_attributes: Vec<StaticAttribute>,
    /// Attributes added to this layer's spans (global: the server span; proxy: the endpoint's).
    pub traces_static_attributes: Vec<StaticAttribute>,
    /// (global) `1.27` or empty (the names before 1.27, which Manifold does not write: a
    /// warning); Manifold writes the current HTTP semantic conventions.
    pub semantic_convention: Option<String>,
}

/// Options of the backend layer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct BackendLayer {
    /// Metrics options.
    pub metrics: BackendDetail,
    /// Traces options.
    pub traces: BackendDetail,
}

/// The backend layer's metrics or traces options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct BackendDetail {
    /// No data from the backend layer (traces: no client spans, and each call's
    /// `traceparent` names the endpoint's span; metrics: no `http.client.*` series).
    pub disable_stage: bool,
    /// Accepted (the call spans cover the round trip).
    pub round_trip: bool,
    /// Accepted (the call spans include reading the body).
    pub read_payload: bool,
    /// Accepted, not reported.
    pub detailed_connection: bool,
    /// Attributes added to the backend spans or to the `http.client.*` series.
    pub static_attributes: Vec<StaticAttribute>,
    /// (traces) The headers sent to the backend as attributes of its span.
    pub report_headers: bool,
    /// Headers left out of `report_headers` (credentials always are).
    pub skip_headers: Vec<String>,
}

/// `telemetry/opentelemetry` at an endpoint or a backend: KrakenD CE's overrides of the
/// service's layers for that endpoint or backend (each layer given replaces the service's as a
/// whole, not merged; the `global` static attributes are added to the service's).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct TelemetryOverride {
    /// (endpoint) Its `traces_static_attributes` and `metrics_static_attributes` are added to
    /// the server span and series of the endpoint's requests; its other options have no
    /// effect here.
    pub global: Option<Layer>,
    /// (endpoint) In place of the service's `layers.proxy` for the endpoint's span.
    pub proxy: Option<Layer>,
    /// In place of the service's `layers.backend` for the backend's calls (at an endpoint:
    /// for each of its backends that has none of its own).
    pub backend: Option<BackendLayer>,
}

/// One of a layer's static attributes: a fixed `key` and `value` on every span or series.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct StaticAttribute {
    /// The attribute's (or label's) name.
    pub key: String,
    /// Its value.
    pub value: String,
}

/// `skip_paths` when the key is absent, as in KrakenD CE: the gateway's own routes.
const DEFAULT_SKIP_PATHS: [&str; 4] = ["/__health", "/__debug/", "/__echo/", "/__stats/"];

impl Default for OpenTelemetry {
    fn default() -> Self {
        Self {
            service_name: String::new(),
            service_version: crate::VERSION.to_owned(),
            deploy_env: String::new(),
            metric_reporting_period: 30,
            trace_sample_rate: 1.0,
            exporters: Exporters::default(),
            layers: Layers::default(),
            histograms: Histograms::default(),
            skip_paths: DEFAULT_SKIP_PATHS.iter().map(|p| (*p).to_owned()).collect(),
        }
    }
}

const LEVELS: &[&str] = &["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"];

// === impl Logging ===

impl Logging {
    /// The level as a `tracing` filter directive (`info` when absent).
    pub fn filter(&self) -> &'static str {
        match self.level.to_ascii_uppercase().as_str() {
            "DEBUG" => "debug",
            "WARNING" => "warn",
            "ERROR" | "CRITICAL" => "error",
            _ => "info",
        }
    }

    /// `logstash`: one JSON object per line.
    pub fn json(&self) -> bool {
        self.format == "logstash"
    }
}

impl Namespace for Logging {
    type Raw = Self;

    fn plan(raw: Self, cx: &mut Cx<'_, '_>) -> Option<Self> {
        let mut problems = Vec::new();
        if !raw.level.is_empty() && !LEVELS.contains(&raw.level.to_ascii_uppercase().as_str()) {
            problems.push((
                "level",
                format!("`{}` is not one of {}", raw.level, LEVELS.join(", ")),
            ));
        }
        if !["", "default", "logstash", "custom"].contains(&raw.format.as_str()) {
            problems.push((
                "format",
                format!("`{}` is not one of default, logstash, custom", raw.format),
            ));
        }
        if raw.syslog {
            cx.at("syslog").warn("syslog is not supported by Manifold: the logs go to the platform's log channel (stderr or stdout natively, stdout on Lambda, console on Workers)");
        }
        if raw.format == "custom" {
            cx.at("format").warn(
                "the `custom` format is not supported by Manifold: the default text format is used",
            );
        }
        checked(cx, raw, &problems)
    }
}

// === impl OpenTelemetry ===

impl OpenTelemetry {
    /// Traces are on: some collector takes them and the global layer has them.
    pub fn traces(&self) -> bool {
        !self.layers.global.disable_traces && self.exporters.otlp.iter().any(|o| !o.disable_traces)
    }

    /// Metrics are on: the global or the backend layer has series.
    pub fn metrics(&self) -> bool {
        !self.layers.global.disable_metrics || !self.layers.backend.metrics.disable_stage
    }

    /// Whether a request to `endpoint` (the template it matched, if any) at `path` produces
    /// spans and metrics.
    pub fn reports(&self, endpoint: Option<&str>, path: &str) -> bool {
        let skipped = |p: &String| {
            endpoint == Some(p.as_str())
                || path == p
                // `/` is the root endpoint only, not every path.
                || (p.len() > 1 && p.ends_with('/') && path.starts_with(p.as_str()))
        };
        !self.skip_paths.iter().any(skipped)
    }
}

/// A histogram's bounds (`at`): 1 to [`MAX_BUCKETS`] of them, each above the one before, above
/// 0 and at most `max` (`what` they must be, for the error).
fn check_bounds(at: &mut Cx<'_, '_>, bounds: &[f64], (max, what): (f64, &str)) {
    if bounds.is_empty() || bounds.len() > MAX_BUCKETS {
        at.error(format!(
            "{} bounds: a histogram needs 1 to {MAX_BUCKETS}",
            bounds.len()
        ));
    }
    for (i, pair) in bounds.windows(2).enumerate() {
        if let [a, b] = pair {
            if a >= b {
                at.item(i + 1)
                    .error(format!("{b} does not come after {a}: bounds go up"));
            }
        }
    }
    for (i, b) in bounds.iter().enumerate() {
        if !(b.is_finite() && *b > 0.0 && *b <= max) {
            at.item(i).error(format!("{b} is not {what}"));
        }
    }
}

impl Namespace for OpenTelemetry {
    type Raw = Self;

    fn plan(mut raw: Self, cx: &mut Cx<'_, '_>) -> Option<Self> {
        if raw.skip_paths.is_empty() {
            // As KrakenD: an empty list is the default one too (`[""]` skips nothing).
            raw.skip_paths = DEFAULT_SKIP_PATHS.iter().map(|p| (*p).to_owned()).collect();
        }
        let mut problems = Vec::new();
        if !(0.0..=1.0).contains(&raw.trace_sample_rate) {
            problems.push((
                "trace_sample_rate",
                format!("{} is not between 0 and 1", raw.trace_sample_rate),
            ));
        }
        let mut at = cx.at("layers");
        check_layers(&raw.layers, &mut at);
        drop(at);
        let mut histograms = cx.at("histograms");
        check_bounds(
            &mut histograms.at("time_buckets"),
            &raw.histograms.time_buckets,
            (1e9, "a duration in seconds (above 0, at most 1e9)"),
        );
        check_bounds(
            &mut histograms.at("size_buckets"),
            &raw.histograms.size_buckets,
            // Exact in an `f64`: a bound is then a whole number of bytes and its floor.
            (
                9_007_199_254_740_992.0,
                "a size in bytes (above 0, at most 2^53)",
            ),
        );
        drop(histograms);
        // Exporter names are unique across both kinds, as krakend-otel checks.
        let otlp: Vec<&str> = raw.exporters.otlp.iter().map(|o| o.name.as_str()).collect();
        let prometheus: Vec<&str> = (raw.exporters.prometheus.iter())
            .map(|p| p.name.as_str())
            .collect();
        let mut seen: Vec<&str> = Vec::new();
        for (kind, names) in [("otlp", otlp), ("prometheus", prometheus)] {
            for (i, name) in names.into_iter().enumerate() {
                if !name.is_empty() && seen.contains(&name) {
                    let mut at = cx.at("exporters");
                    let mut at = at.at(kind);
                    let message = format!("another exporter is named `{name}` already");
                    at.item(i).at("name").error(message);
                }
                seen.push(name);
            }
        }
        for (i, prometheus) in raw.exporters.prometheus.iter().enumerate() {
            if prometheus.go_metrics {
                let mut at = cx.at("exporters");
                let mut at = at.at("prometheus");
                at.item(i).at("go_metrics").warn("Manifold has no Go runtime to report: `go_metrics` has no effect (`process_metrics` reports the process)");
            }
        }
        for (i, otlp) in raw.exporters.otlp.iter().enumerate() {
            let mut at = cx.at("exporters");
            let mut at = at.at("otlp");
            let mut at = at.item(i);
            if otlp.host.is_empty() {
                at.at("host").error("an OTLP exporter needs a `host`");
            }
        }
        checked(cx, raw, &problems)
    }
}

/// The span attributes Manifold writes itself: a static attribute may not take their names.
const SPAN_ATTRIBUTES: &[&str] = &[
    "client.address",
    "error.type",
    "http.request.method",
    "http.response.body.size",
    "http.response.status_code",
    "http.route",
    "manifold.backend",
    "manifold.backends",
    "manifold.completed",
    "manifold.request_id",
    "server.address",
    "url.full",
    "url.path",
];

/// The Prometheus labels of Manifold's series (their OTLP attributes are the span names above).
const METRIC_LABELS: &[&str] = &["host", "method", "route", "status"];

/// The layers' options Manifold cannot honour get a warning; static attributes must have
/// names of their own (a located error otherwise).
fn check_layers(layers: &Layers, cx: &mut Cx<'_, '_>) {
    check_layer("global", &layers.global, &mut cx.at("global"));
    check_layer("proxy", &layers.proxy, &mut cx.at("proxy"));
    let mut global = cx.at("global");
    let mut at = global.at("semantic_convention");
    match layers.global.semantic_convention.as_deref() {
        None | Some("1.27") => {}
        Some("") => at.warn(
            "Manifold writes the HTTP semantic conventions of 1.27 and later (`http.request.method`, `http.response.status_code`, …); the older names are not available",
        ),
        Some(other) => at.error(format!("`{other}` is not one of \"\", \"1.27\"")),
    }
    drop(global);
    check_backend(&layers.backend, &mut cx.at("backend"));
}

/// The static attributes of the `global` or `proxy` layer at `cx`.
fn check_layer(name: &str, layer: &Layer, at: &mut Cx<'_, '_>) {
    check_attributes(
        &layer.traces_static_attributes,
        false,
        &mut at.at("traces_static_attributes"),
    );
    check_attributes(
        &layer.metrics_static_attributes,
        true,
        &mut at.at("metrics_static_attributes"),
    );
    if name == "proxy" && !layer.metrics_static_attributes.is_empty() {
        at.at("metrics_static_attributes").warn(
            "Manifold has no proxy-layer metrics (only the global layer's `http.server.*` and the backend layer's `http.client.*`): it has no effect",
        );
    }
}

/// The `backend` layer at `cx`.
fn check_backend(layer: &BackendLayer, backend: &mut Cx<'_, '_>) {
    for (name, detail) in [("metrics", &layer.metrics), ("traces", &layer.traces)] {
        let mut at = backend.at(name);
        check_attributes(
            &detail.static_attributes,
            name == "metrics",
            &mut at.at("static_attributes"),
        );
        if name == "metrics" && detail.report_headers {
            at.at("report_headers")
                .warn("headers are reported on spans (`traces.report_headers`), not on metrics: it has no effect");
        }
    }
}

// === impl TelemetryOverride ===

impl TelemetryOverride {
    /// An endpoint's own layers (`own`, decoded at `cx`, its `extra_config`), resolved against
    /// the service's `telemetry/opentelemetry` (`service`): its `proxy` layer, else the
    /// service's; its `backend` layer given to each of `backends` that has none of its own.
    /// `None` when nothing is left to override (a warning when there is no `service`).
    pub(crate) fn for_endpoint(
        own: Option<Self>,
        service: Option<&OpenTelemetry>,
        backends: &mut [crate::config::Backend],
        cx: &mut Cx<'_, '_>,
    ) -> Option<Self> {
        let mut own = Self::in_effect(own, service.is_some(), cx)?;
        let service = &service?.layers;
        if own.proxy.is_none() {
            own.proxy = Some(service.proxy.clone());
        }
        if let Some(layer) = own.backend.take().map(std::sync::Arc::new) {
            for b in backends.iter_mut().filter(|b| b.telemetry.is_none()) {
                b.telemetry = Some(layer.clone());
            }
        }
        if let Some(global) = &own.global {
            check_global(
                global,
                &service.global,
                &mut cx.at("telemetry/opentelemetry"),
            );
        }
        (own.global.is_some() || own.proxy.as_ref() != Some(&service.proxy)).then_some(own)
    }

    /// A backend's own `backend` layer, where the service has `telemetry/opentelemetry`.
    pub(crate) fn for_backend(
        own: Option<Self>,
        service: bool,
        cx: &mut Cx<'_, '_>,
    ) -> Option<std::sync::Arc<BackendLayer>> {
        Self::in_effect(own, service, cx)?
            .backend
            .map(std::sync::Arc::new)
    }

    /// `own` where the service has `telemetry/opentelemetry`; a warning and `None` without it.
    fn in_effect(own: Option<Self>, service: bool, cx: &mut Cx<'_, '_>) -> Option<Self> {
        if own.is_some() && !service {
            cx.at("telemetry/opentelemetry").warn("the service has no `telemetry/opentelemetry` (in the root `extra_config`), so there are no spans or series to override: it has no effect");
            return None;
        }
        own
    }
}

/// An endpoint's `global` static attributes (at `cx`, its namespace) are added to the
/// service's `service`: none may take a name (or, for a metric, a Prometheus label) the
/// service's have (a located error).
fn check_global(own: &Layer, service: &Layer, cx: &mut Cx<'_, '_>) {
    for (key, own, service, metrics) in [
        (
            "traces_static_attributes",
            &own.traces_static_attributes,
            &service.traces_static_attributes,
            false,
        ),
        (
            "metrics_static_attributes",
            &own.metrics_static_attributes,
            &service.metrics_static_attributes,
            true,
        ),
    ] {
        let name = |key: &str| {
            if metrics {
                prometheus_label(key)
            } else {
                key.to_owned()
            }
        };
        for (i, attribute) in own.iter().enumerate() {
            if service.iter().any(|s| name(&s.key) == name(&attribute.key)) {
                cx.at("global").at(key).item(i).at("key").error(format!(
                    "`{}` is a static attribute of the service's `layers.global` already (the endpoint's are added to those)",
                    attribute.key
                ));
            }
        }
    }
}

impl Namespace for TelemetryOverride {
    type Raw = Self;

    /// KrakenD Enterprise's per-endpoint exporters.
    const NO_EFFECT: &'static [&'static str] = &["exporters_override"];

    fn plan(raw: Self, cx: &mut Cx<'_, '_>) -> Option<Self> {
        let endpoint = cx.level() == super::Level::Endpoint;
        let mark = cx.mark();
        for (name, layer) in [("global", &raw.global), ("proxy", &raw.proxy)] {
            let Some(layer) = layer else { continue };
            let mut at = cx.at(name);
            if !endpoint {
                at.warn(format!("`{name}` is an endpoint's option (in the endpoint's `telemetry/opentelemetry`); it has no effect on a backend"));
                continue;
            }
            check_layer(name, layer, &mut at);
            let only_attributes = Layer {
                metrics_static_attributes: layer.metrics_static_attributes.clone(),
                traces_static_attributes: layer.traces_static_attributes.clone(),
                ..Layer::default()
            };
            if name == "global" && *layer != only_attributes {
                at.warn("only the static attributes of `global` apply to an endpoint (they are added to the service's); its other options are the service's own and have no effect here");
            }
            if name == "proxy" && layer.semantic_convention.is_some() {
                at.at("semantic_convention")
                    .warn("`semantic_convention` is a `global` option: it has no effect here");
            }
        }
        if let Some(backend) = &raw.backend {
            check_backend(backend, &mut cx.at("backend"));
        }
        (!cx.failed_since(mark)).then_some(raw)
    }
}

/// `attributes` name no built-in attribute (or, for `metrics`, Prometheus label) and no other
/// of the list; a metric's key is also a Prometheus label name once its dots are underscores.
fn check_attributes(attributes: &[StaticAttribute], metrics: bool, cx: &mut Cx<'_, '_>) {
    for (i, attribute) in attributes.iter().enumerate() {
        let mut item = cx.item(i);
        let mut at = item.at("key");
        let key = attribute.key.as_str();
        let label = prometheus_label(key);
        let problem = if key.is_empty() {
            Some("a static attribute needs a `key`".to_owned())
        } else if SPAN_ATTRIBUTES.contains(&key) {
            Some(format!("`{key}` is an attribute Manifold writes itself"))
        } else if metrics
            && !key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        {
            Some(format!(
                "`{key}` is not a metric label name (letters, digits, `_` and `.`)"
            ))
        } else if metrics && (METRIC_LABELS.contains(&label.as_str()) || label.starts_with("__")) {
            Some(format!("`{key}` is the label `{label}`, which Manifold's series have already (or Prometheus reserves)"))
        } else if attributes
            .get(..i)
            .unwrap_or_default()
            .iter()
            .any(|a| a.key == key || (metrics && prometheus_label(&a.key) == label))
        {
            Some(format!(
                "`{key}` is already a static attribute of this list"
            ))
        } else {
            None
        };
        if let Some(problem) = problem {
            at.error(problem);
        }
    }
}

/// A metric attribute's name as a Prometheus label: dots as underscores, a leading digit
/// behind one.
pub(crate) fn prometheus_label(key: &str) -> String {
    let mut label: String = key
        .chars()
        .map(|c| if c == '.' { '_' } else { c })
        .collect();
    if label.starts_with(|c: char| c.is_ascii_digit()) {
        label.insert(0, '_');
    }
    label
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(feature = "opentelemetry")]
    fn service_name_and_skip_paths_default_as_in_krakend() {
        let otel = |root: &str, own: &str| {
            let text = format!(
                r#"{{"version": 3, {root} "extra_config": {{"telemetry/opentelemetry": {{{own}
                "exporters": {{"otlp": [{{"host": "c", "use_http": true}}]}}}}}}, "endpoints": []}}"#
            );
            let config = crate::config::parse(&text).unwrap();
            config.telemetry.otel().unwrap().service_name.clone()
        };
        assert_eq!(otel(r#""name": "shop","#, ""), "shop");
        assert_eq!(
            otel(r#""name": "shop","#, r#""service_name": "api","#),
            "api"
        );
        assert_eq!(otel("", ""), "manifold");
        assert_eq!(otel(r#""name": "","#, ""), "manifold");
        let skip = |own: &str| {
            let text = format!(
                r#"{{"version": 3, "extra_config": {{"telemetry/opentelemetry": {{{own}
                "exporters": {{"otlp": [{{"host": "c", "use_http": true}}]}}}}}}, "endpoints": []}}"#
            );
            let config = crate::config::parse(&text).unwrap();
            config.telemetry.otel().unwrap().skip_paths.clone()
        };
        assert_eq!(skip(r#""skip_paths": [],"#), DEFAULT_SKIP_PATHS);
        assert_eq!(skip(""), DEFAULT_SKIP_PATHS);
        assert_eq!(skip(r#""skip_paths": [""],"#), [""]);
    }

    #[test]
    #[cfg(all(feature = "opentelemetry", feature = "api-keys"))]
    fn an_endpoints_layers_reach_its_backends_and_never_report_credentials() {
        let text = |root: &str| {
            format!(
                r#"{{"version": 3, "host": ["http://b"], "extra_config": {{{root}
                "auth/api-keys": {{"identifier": "X-Key", "keys": [{{"key": "k1", "roles": ["a"]}}]}}}},
                "endpoints": [{{"endpoint": "/a", "extra_config": {{
                  "auth/api-keys": {{"roles": ["a"]}},
                  "telemetry/opentelemetry": {{"global": {{"traces_static_attributes": [{{"key": "k", "value": "v"}}]}},
                    "backend": {{"traces": {{"report_headers": true}}}}}}}},
                  "backend": [{{"url_pattern": "/a"}}, {{"url_pattern": "/b", "extra_config": {{
                    "telemetry/opentelemetry": {{"backend": {{"metrics": {{"disable_stage": true}}}}}}}}}}]}}]}}"#
            )
        };
        let otel = r#""telemetry/opentelemetry": {"exporters": {"otlp": [{"host": "c", "use_http": true}]},
            "layers": {"proxy": {"report_headers": true}}},"#;
        let config = crate::config::parse(&text(otel)).unwrap();
        let endpoint = &config.endpoints[0];
        let own = endpoint.telemetry.as_deref().unwrap();
        // No `proxy` of its own: the service's, with the credential header left out.
        let proxy = own.proxy.as_ref().unwrap();
        assert!(proxy.report_headers && proxy.skip_headers == ["X-Key"]);
        // The service's layers leave it out too.
        let service = &config.telemetry.otel().unwrap().layers;
        assert_eq!(service.global.skip_headers, ["X-Key"]);
        assert_eq!(service.backend.traces.skip_headers, ["X-Key"]);
        let first = endpoint.backend[0].telemetry.as_deref().unwrap();
        assert!(first.traces.report_headers && first.traces.skip_headers == ["X-Key"]);
        let second = endpoint.backend[1].telemetry.as_deref().unwrap();
        assert!(second.metrics.disable_stage && !second.traces.report_headers);
        // Without the service's `telemetry/opentelemetry` there is nothing to override.
        let config = crate::config::parse(&text("")).unwrap();
        let endpoint = &config.endpoints[0];
        assert!(
            endpoint.telemetry.is_none() && endpoint.backend.iter().all(|b| b.telemetry.is_none())
        );
        let said = |d: &crate::config::Diagnostic| {
            d.message
                .contains("there are no spans or series to override")
        };
        assert_eq!(config.warnings.iter().filter(|d| said(d)).count(), 2);
    }

    #[test]
    fn an_otlp_url_takes_the_port_from_the_key_the_host_or_4318() {
        let url = |host: &str, port: u16| {
            Otlp {
                host: host.into(),
                port,
                ..Otlp::default()
            }
            .url("/v1/traces")
        };
        assert_eq!(url("collector", 0), "http://collector:4318/v1/traces");
        assert_eq!(
            url("http://collector:4000/", 0),
            "http://collector:4000/v1/traces"
        );
        assert_eq!(
            url("https://c.example", 443),
            "https://c.example:443/v1/traces"
        );
        assert_eq!(url("http://[::1]:9000", 0), "http://[::1]:9000/v1/traces");
        assert_eq!(url("http://[::1]", 0), "http://[::1]:4318/v1/traces");
        assert_eq!(url("10.0.0.1", 4319), "http://10.0.0.1:4319/v1/traces");
        // KrakenD's default transport is gRPC (`use_http` unset): where the platform sends it.
        let otlp = |use_http: bool| Otlp {
            host: "collector".into(),
            use_http,
            ..Otlp::default()
        };
        let to = |url: &str, grpc: bool| Collector {
            url: url.into(),
            grpc,
        };
        assert_eq!(
            otlp(false).collector(true, true),
            to(
                "http://collector:4317/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                true
            )
        );
        assert_eq!(
            otlp(false).collector(true, false),
            to(
                "http://collector:4317/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
                true
            )
        );
        // A platform that cannot send gRPC, and a collector that takes OTLP/HTTP.
        assert_eq!(
            otlp(false).collector(false, true),
            to("http://collector:4318/v1/traces", false)
        );
        assert_eq!(
            otlp(true).collector(true, false),
            to("http://collector:4318/v1/metrics", false)
        );
        let own = Otlp {
            custom_metric_reporting_period: 5,
            ..Otlp::default()
        };
        assert_eq!(own.metric_period_micros(30), 5_000_000);
        assert_eq!(Otlp::default().metric_period_micros(30), 30_000_000);
        assert_eq!(Otlp::default().metric_period_micros(0), 1_000_000);
    }

    #[test]
    fn skip_paths_match_the_endpoint_as_written_or_the_path() {
        let default = OpenTelemetry::default();
        for path in ["/__health", "/__debug/x", "/__echo/a/b", "/__stats/"] {
            assert!(!default.reports(None, path), "{path}");
        }
        for path in ["/", "/__healthz", "/__debug", "/users/1"] {
            assert!(default.reports(None, path), "{path}");
        }
        let otel = OpenTelemetry {
            skip_paths: vec!["/users/{id}".into(), "/static/".into()],
            ..OpenTelemetry::default()
        };
        assert!(!otel.reports(Some("/users/{id}"), "/users/7"));
        assert!(otel.reports(Some("/users/{id}/x"), "/users/7/x"));
        assert!(!otel.reports(None, "/static/app.js"));
        assert!(
            otel.reports(None, "/__health"),
            "a list replaces the default"
        );
        let none = OpenTelemetry {
            skip_paths: vec![String::new()],
            ..OpenTelemetry::default()
        };
        assert!(none.reports(None, "/__health"));
        assert!(none.reports(Some("/a"), "/a"));
        let root = OpenTelemetry {
            skip_paths: vec!["/".into()],
            ..OpenTelemetry::default()
        };
        assert!(!root.reports(Some("/"), "/"));
        assert!(root.reports(Some("/a"), "/a"));
    }
}
