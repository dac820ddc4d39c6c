//! The request metrics, kept from the records: request count and duration per endpoint, method
//! and status; backend call count and duration per backend host, method and status (or failure
//! kind); requests in flight. Rendered as Prometheus text (`/metrics`) or as an OTLP
//! `ExportMetricsServiceRequest` (cumulative), so every platform reports the same series.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};

use super::otlp::{self, Resource, Value};
use crate::platform::{BackendCall, RequestRecord};

/// Histogram bucket bounds in seconds (OpenTelemetry's HTTP duration advice).
pub const BOUNDS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// The series, updated by [`Metrics::begin`] and [`Metrics::record`].
#[derive(Debug)]
pub struct Metrics {
    start_micros: u64,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    in_flight: i64,
    /// (method, route, status)
    server: Series,
    /// (host, method, status or failure kind)
    client: Series,
}

/// The labels of one series. Looked up by `&str`s ([`Labels`]), so that recording into an
/// existing series allocates nothing; the owned strings are made once, for a new series.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key((String, String, String));

/// Three label values, owned or borrowed, ordered as the tuple of their strings.
trait Labels {
    fn parts(&self) -> (&str, &str, &str);
}

impl Labels for Key {
    fn parts(&self) -> (&str, &str, &str) {
        (&self.0 .0, &self.0 .1, &self.0 .2)
    }
}

impl Labels for (&str, &str, &str) {
    fn parts(&self) -> (&str, &str, &str) {
        (self.0, self.1, self.2)
    }
}

impl<'a> Borrow<dyn Labels + 'a> for Key {
    fn borrow(&self) -> &(dyn Labels + 'a) {
        self
    }
}

impl PartialEq for dyn Labels + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn Labels + '_ {}

impl PartialOrd for dyn Labels + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for dyn Labels + '_ {
    fn cmp(&self, other: &Self) -> Ordering {
        self.parts().cmp(&other.parts())
    }
}

/// Adds `micros` to the series `labels`, created if it is new.
fn observe(series: &mut Series, labels: (&str, &str, &str), micros: u64) {
    if let Some(h) = series.get_mut(&labels as &dyn Labels) {
        h.observe(micros);
        return;
    }
    let key = Key((
        labels.0.to_owned(),
        labels.1.to_owned(),
        labels.2.to_owned(),
    ));
    series.entry(key).or_default().observe(micros);
}

/// A status code as text, without allocating (`u16`: at most five digits).
fn status_text(status: u16, buf: &mut [u8; 5]) -> &str {
    let mut n = status;
    let mut i = buf.len();
    loop {
        i -= 1;
        if let Some(d) = buf.get_mut(i) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    buf.get(i..)
        .and_then(|d| std::str::from_utf8(d).ok())
        .unwrap_or("")
}

#[derive(Debug, Clone, Default)]
struct Histogram {
    count: u64,
    sum: f64,
    /// Per bucket (not cumulative), the last one above every bound.
    buckets: [u64; BOUNDS.len() + 1],
}

impl Histogram {
    fn observe(&mut self, micros: u64) {
        let seconds = micros as f64 / 1_000_000.0;
        self.count += 1;
        self.sum += seconds;
        let i = BOUNDS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(BOUNDS.len());
        if let Some(bucket) = self.buckets.get_mut(i) {
            *bucket += 1;
        }
    }
}

// === impl Metrics ===

impl Metrics {
    /// No series yet; cumulative data starts at `start_micros`.
    pub fn new(start_micros: u64) -> Self {
        Self {
            start_micros,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A request started.
    pub fn begin(&self) {
        self.lock().in_flight += 1;
    }

    /// A request ended (it had begun).
    pub fn record(&self, record: &RequestRecord) {
        let route = record.endpoint.as_deref().unwrap_or("unmatched");
        let mut buf = [0; 5];
        let status = status_text(record.status, &mut buf);
        let mut state = self.lock();
        state.in_flight -= 1;
        observe(
            &mut state.server,
            (&record.method, route, status),
            record.duration_micros,
        );
        for call in &record.backends {
            observe_call(&mut state, call);
        }
    }

    /// A request ended that is not reported (`skip_paths`): no longer in flight, nothing else.
    pub fn abandon(&self) {
        self.lock().in_flight -= 1;
    }

    /// A backend call that ended after its request (a deferred shadow call).
    pub fn straggler(&self, call: &BackendCall) {
        observe_call(&mut self.lock(), call);
    }

    /// Prometheus text exposition format, with `extra` counters (`name`, value) appended.
    pub fn prometheus(&self, extra: &[(&str, &str, u64)]) -> String {
        let state = self.lock();
        let mut out = String::new();
        let server = |labels: &(String, String, String)| {
            format!(
                "method=\"{}\",route=\"{}\",status=\"{}\"",
                escape(&labels.0),
                escape(&labels.1),
                escape(&labels.2)
            )
        };
        let client = |labels: &(String, String, String)| {
            format!(
                "host=\"{}\",method=\"{}\",status=\"{}\"",
                escape(&labels.0),
                escape(&labels.1),
                escape(&labels.2)
            )
        };
        counter(
            &mut out,
            "manifold_http_server_requests_total",
            "Requests answered.",
            &state.server,
            server,
        );
        histogram(
            &mut out,
            "manifold_http_server_request_duration_seconds",
            "Time to answer a request.",
            &state.server,
            server,
        );
        let _ = writeln!(
            out,
            "# HELP manifold_http_server_active_requests Requests in flight."
        );
        let _ = writeln!(out, "# TYPE manifold_http_server_active_requests gauge");
        let _ = writeln!(
            out,
            "manifold_http_server_active_requests {}",
            state.in_flight
        );
        counter(
            &mut out,
            "manifold_http_client_requests_total",
            "Backend calls.",
            &state.client,
            client,
        );
        histogram(
            &mut out,
            "manifold_http_client_request_duration_seconds",
            "Time of a backend call.",
            &state.client,
            client,
        );
        for (name, help, value) in extra {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {value}");
        }
        out
    }

    /// An `ExportMetricsServiceRequest` with every series, cumulative since the start.
    pub fn otlp(&self, resource: &Resource, now_micros: u64) -> Vec<u8> {
        let state = self.lock();
        let (start, now) = (self.start_micros * 1000, now_micros * 1000);
        let server_attrs = |k: &(String, String, String)| {
            vec![
                ("http.request.method", Value::Str(k.0.clone())),
                ("http.route", Value::Str(k.1.clone())),
                ("http.response.status_code", Value::Str(k.2.clone())),
            ]
        };
        let client_attrs = |k: &(String, String, String)| {
            vec![
                ("server.address", Value::Str(k.0.clone())),
                ("http.request.method", Value::Str(k.1.clone())),
                ("http.response.status_code", Value::Str(k.2.clone())),
            ]
        };
        let mut out = Vec::new();
        otlp::message(&mut out, 1, |rm| {
            otlp::message(rm, 1, |r| otlp::resource(r, resource));
            otlp::message(rm, 2, |sm| {
                otlp::message(sm, 1, otlp::scope);
                otlp_histogram(
                    sm,
                    "http.server.request.duration",
                    &state.server,
                    server_attrs,
                    start,
                    now,
                );
                otlp_histogram(
                    sm,
                    "http.client.request.duration",
                    &state.client,
                    client_attrs,
                    start,
                    now,
                );
                // Metric { name = 1; unit = 3; sum = 7 { data_points = 1; temporality = 2; monotonic = 3 } }
                otlp::message(sm, 2, |m| {
                    otlp::string(m, 1, "http.server.active_requests");
                    otlp::string(m, 3, "{request}");
                    otlp::message(m, 7, |sum| {
                        otlp::message(sum, 1, |p| {
                            otlp::fixed64(p, 2, start);
                            otlp::fixed64(p, 3, now);
                            // as_int = 6 (sfixed64)
                            otlp::fixed64(p, 6, state.in_flight as u64);
                        });
                        otlp::uint(sum, 2, 2);
                        otlp::uint(sum, 3, 0);
                    });
                });
            });
        });
        out
    }
}

fn observe_call(state: &mut State, call: &BackendCall) {
    let mut buf = [0; 5];
    let status = match (&call.failure, call.status) {
        (Some(f), None) => f.kind.as_str(),
        (_, Some(s)) => status_text(s, &mut buf),
        (None, None) => "none",
    };
    observe(
        &mut state.client,
        (&call.host, &call.method, status),
        call.duration_micros,
    );
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

type Series = BTreeMap<Key, Histogram>;

fn counter(
    out: &mut String,
    name: &str,
    help: &str,
    series: &Series,
    labels: impl Fn(&(String, String, String)) -> String,
) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} counter");
    for (key, h) in series {
        let _ = writeln!(out, "{name}{{{}}} {}", labels(&key.0), h.count);
    }
}

fn histogram(
    out: &mut String,
    name: &str,
    help: &str,
    series: &Series,
    labels: impl Fn(&(String, String, String)) -> String,
) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} histogram");
    for (key, h) in series {
        let l = labels(&key.0);
        let mut cumulative = 0;
        for (bound, n) in BOUNDS.iter().zip(&h.buckets) {
            cumulative += n;
            let _ = writeln!(out, "{name}_bucket{{{l},le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{{l},le=\"+Inf\"}} {}", h.count);
        let _ = writeln!(out, "{name}_sum{{{l}}} {}", h.sum);
        let _ = writeln!(out, "{name}_count{{{l}}} {}", h.count);
    }
}

/// Metric { name = 1; unit = 3; histogram = 9 { data_points = 1; temporality = 2 } }.
fn otlp_histogram(
    out: &mut Vec<u8>,
    name: &str,
    series: &Series,
    attributes: impl Fn(&(String, String, String)) -> Vec<(&'static str, Value)>,
    start: u64,
    now: u64,
) {
    otlp::message(out, 2, |m| {
        otlp::string(m, 1, name);
        otlp::string(m, 3, "s");
        otlp::message(m, 9, |hist| {
            for (key, h) in series {
                // HistogramDataPoint { attributes = 9; start = 2; time = 3; count = 4; sum = 5;
                // bucket_counts = 6; explicit_bounds = 7 }
                otlp::message(hist, 1, |p| {
                    for (k, v) in attributes(&key.0) {
                        otlp::attribute(p, 9, k, &v);
                    }
                    otlp::fixed64(p, 2, start);
                    otlp::fixed64(p, 3, now);
                    otlp::fixed64(p, 4, h.count);
                    otlp::double(p, 5, h.sum);
                    for n in &h.buckets {
                        otlp::fixed64(p, 6, *n);
                    }
                    for b in BOUNDS {
                        otlp::double(p, 7, b);
                    }
                });
            }
            otlp::uint(hist, 2, 2);
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::TraceIds;

    fn record(endpoint: Option<&str>, status: u16, micros: u64) -> RequestRecord {
        RequestRecord {
            start_micros: 0,
            duration_micros: micros,
            request_id: "r".into(),
            trace: TraceIds {
                trace_id: [1; 16],
                server_span: [2; 8],
                proxy_span: [3; 8],
                parent_span: None,
                sampled: true,
                tracestate: None,
            },
            method: "GET".into(),
            endpoint: endpoint.map(Into::into),
            path: "/x".into(),
            status,
            completed: None,
            bytes_out: 0,
            client: None,
            backends: Vec::new(),
            log: true,
        }
    }

    #[test]
    fn prometheus_counts_per_endpoint_and_status() {
        let m = Metrics::new(0);
        for (e, s, us) in [
            (Some("/a"), 200, 3_000),
            (Some("/a"), 200, 30_000),
            (None, 404, 1),
        ] {
            m.begin();
            m.record(&record(e, s, us));
        }
        m.begin();
        let text = m.prometheus(&[("manifold_x_total", "X.", 7)]);
        for line in [
            "manifold_http_server_requests_total{method=\"GET\",route=\"/a\",status=\"200\"} 2",
            "manifold_http_server_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 1",
            "manifold_http_server_request_duration_seconds_bucket{method=\"GET\",route=\"/a\",status=\"200\",le=\"0.005\"} 1",
            "manifold_http_server_request_duration_seconds_bucket{method=\"GET\",route=\"/a\",status=\"200\",le=\"0.05\"} 2",
            "manifold_http_server_request_duration_seconds_count{method=\"GET\",route=\"/a\",status=\"200\"} 2",
            "manifold_http_server_active_requests 1",
            "manifold_x_total 7",
        ] {
            assert!(text.lines().any(|l| l == line), "{line}\n{text}");
        }
    }

    #[test]
    fn status_text_is_the_decimal_number() {
        for n in [0u16, 7, 42, 200, 404, 999, 1000, 65535] {
            assert_eq!(status_text(n, &mut [0; 5]), n.to_string());
        }
    }

    #[test]
    fn series_are_ordered_as_their_label_tuples() {
        let mut series = Series::new();
        for labels in [
            ("GET", "/b", "200"),
            ("GET", "/a", "500"),
            ("GETX", "/", "200"),
            ("GET", "/a", "200"),
            ("GET", "/b", "200"),
        ] {
            observe(&mut series, labels, 1);
        }
        let keys: Vec<_> = series.iter().map(|(k, h)| (k.parts(), h.count)).collect();
        assert_eq!(
            keys,
            [
                (("GET", "/a", "200"), 1),
                (("GET", "/a", "500"), 1),
                (("GET", "/b", "200"), 2),
                (("GETX", "/", "200"), 1),
            ]
        );
    }
}
