//! The request metrics, kept from the records: request count, duration and body size per
//! endpoint, method and status; backend call count, duration and body size per backend host,
//! method and status (or failure kind); requests in flight. Rendered as Prometheus text
//! (`/metrics`) or as an OTLP `ExportMetricsServiceRequest` (cumulative), so every platform
//! reports the same series.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, PoisonError};

use super::otlp::{self, Resource, Value};
use crate::config::extra::{prometheus_label, Histograms, Layers, StaticAttribute};
use crate::platform::{is_standard_method, BackendCall, RequestRecord};

/// A histogram's bucket bounds: as they are written out (seconds, bytes), and in the whole
/// units it observes (microseconds, bytes), so that a value finds its bucket without floating
/// point.
#[derive(Debug, Clone)]
struct Bounds {
    written: Vec<f64>,
    units: Vec<u64>,
    /// Units in one written unit (10⁶ µs in a second; 1 for bytes): a histogram's sum is
    /// written as its units over this.
    scale: f64,
}

impl Bounds {
    /// Duration bounds in `seconds` (ascending, positive, finite: the config checked them).
    fn seconds(seconds: &[f64]) -> Self {
        Self {
            written: seconds.to_vec(),
            units: seconds.iter().map(|b| bound_micros(*b)).collect(),
            scale: 1e6,
        }
    }

    /// Size bounds in `bytes` (as [`Self::seconds`]; at most 2^53, so whole numbers are exact):
    /// a size is within a bound when it is within the bound's whole part.
    fn bytes(bytes: &[f64]) -> Self {
        Self {
            written: bytes.to_vec(),
            units: bytes.iter().map(|b| b.floor() as u64).collect(),
            scale: 1.0,
        }
    }

    /// The sum of a histogram of these bounds, in the written unit.
    fn sum(&self, h: &Histogram) -> f64 {
        h.sum as f64 / self.scale
    }
}

/// The largest whole number of microseconds `m` with `m as f64 / 1e6 <= bound` (below 2^53
/// both sides round to the nearest `f64` and rounding keeps the order, so `m <= this` is
/// exactly that comparison).
fn bound_micros(bound: f64) -> u64 {
    let seconds = |m: u64| m as f64 / 1e6;
    // Saturating: a bound over 2^64 µs takes every duration.
    let mut m = (bound * 1e6).floor() as u64;
    while m > 0 && seconds(m) > bound {
        m -= 1;
    }
    while m < u64::MAX && seconds(m + 1) <= bound {
        m += 1;
    }
    m
}

/// The series, updated by [`Metrics::begin`] and [`Metrics::record`].
#[derive(Debug)]
pub struct Metrics {
    start_micros: u64,
    /// Requests in flight: an atomic, so that a request's start takes no lock.
    in_flight: AtomicI64,
    state: Mutex<State>,
    /// The global layer's series (`http.server.*`) and their static labels; `None` with
    /// `layers.global.disable_metrics`.
    server: Option<Vec<(String, String)>>,
    /// The backend layer's (`http.client.*`); `None` with
    /// `layers.backend.metrics.disable_stage` (a backend's own layer may still keep them).
    client: Option<Vec<(String, String)>>,
    /// `histograms.time_buckets`, `histograms.size_buckets`.
    bounds: Buckets,
}

/// The bounds of both histograms of a series.
#[derive(Debug, Clone)]
struct Buckets {
    durations: Bounds,
    sizes: Bounds,
}

#[derive(Debug, Default)]
struct State {
    /// (method, route, status)
    server: Series,
    /// (host, method, status or failure kind)
    client: Series,
    /// The series of endpoints and backends with static labels of their own
    /// (`telemetry/opentelemetry` at their level): one group per label set.
    own: Vec<Group>,
}

/// The series whose static labels are `labels` (in place of the service's).
#[derive(Debug)]
struct Group {
    labels: Vec<(String, String)>,
    server: Series,
    client: Series,
}

impl State {
    /// The group of `labels`, made when it is new (a few label sets per config: a walk).
    fn group(&mut self, labels: &[(String, String)]) -> &mut Group {
        let i = match self.own.iter().position(|g| g.labels == labels) {
            Some(i) => i,
            None => {
                self.own.push(Group {
                    labels: labels.to_vec(),
                    server: Series::default(),
                    client: Series::default(),
                });
                self.own.len() - 1
            }
        };
        &mut self.own[i]
    }

    /// The server series with each one's static labels: the service's (`statics`), then each
    /// group's that has any.
    fn servers<'a>(&'a self, statics: &'a [(String, String)]) -> Vec<Labelled<'a>> {
        let own = self.own.iter().filter(|g| !g.server.entries.is_empty());
        std::iter::once((&self.server, statics))
            .chain(own.map(|g| (&g.server, g.labels.as_slice())))
            .collect()
    }

    /// The client series likewise (the service's only when that layer is on).
    fn clients<'a>(&'a self, statics: Option<&'a [(String, String)]>) -> Vec<Labelled<'a>> {
        let own = self.own.iter().filter(|g| !g.client.entries.is_empty());
        (statics.map(|s| (&self.client, s)).into_iter())
            .chain(own.map(|g| (&g.client, g.labels.as_slice())))
            .collect()
    }
}

/// Series and the static labels they are written with.
type Labelled<'a> = (&'a Series, &'a [(String, String)]);

/// The third label: a status code, or a word (a failure kind, `none`); its text is made only
/// when the series are rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Code(u16),
    Word(&'static str),
}

/// The request's method as a label: OpenTelemetry's `_OTHER` for one outside the standard
/// set, because a client can send any token as a method (to an unmatched path) and each new
/// label value would be a new series kept for the life of the process.
fn method_label(method: &str) -> &str {
    if is_standard_method(method) {
        method
    } else {
        "_OTHER"
    }
}

/// Three label values, borrowed from a record.
type Labels<'a> = (&'a str, &'a str, Status);

/// One series: its owned labels (made once, when it is new) and its histograms.
#[derive(Debug)]
struct Entry {
    labels: (String, String, Status),
    /// The next entry whose labels have the same hash.
    next: Option<usize>,
    /// Durations in microseconds (its count is the series' count).
    duration: Histogram,
    /// Body sizes in bytes.
    size: Histogram,
}

/// What one request or backend call adds to its series.
#[derive(Debug, Clone, Copy)]
struct Sample {
    micros: u64,
    bytes: u64,
}

/// The series of one metric, found by a hash of their labels (a request's lookup is a hash of
/// a few words and one comparison, no tree walk); rendered in the order of their label texts.
#[derive(Debug, Default)]
struct Series {
    /// Label hash -> the last entry added with it (the others chained through `next`).
    index: HashMap<u64, usize, BuildHasherDefault<Identity>>,
    entries: Vec<Entry>,
}

/// The hasher of an already hashed `u64` key.
#[derive(Debug, Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A word-at-a-time hash of `bytes` into `h` (FxHash's step: not for untrusted keys in a
/// table an attacker can fill, but the labels here are the config's endpoints and backends, a
/// method, and a status).
#[inline]
fn hash_bytes(mut h: u64, bytes: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let step = |h: u64, w: u64| (h.rotate_left(5) ^ w).wrapping_mul(K);
    let mut words = bytes.chunks_exact(8);
    for word in words.by_ref() {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(word);
        h = step(h, u64::from_le_bytes(eight));
    }
    let mut last = [0u8; 8];
    let rest = words.remainder();
    if let Some(dst) = last.get_mut(..rest.len()) {
        dst.copy_from_slice(rest);
    }
    // The length separates ("ab", "c") from ("a", "bc").
    step(step(h, u64::from_le_bytes(last)), bytes.len() as u64)
}

fn hash_labels(labels: Labels<'_>) -> u64 {
    let h = hash_bytes(hash_bytes(0, labels.0.as_bytes()), labels.1.as_bytes());
    match labels.2 {
        Status::Code(code) => hash_bytes(h, &code.to_le_bytes()),
        Status::Word(word) => hash_bytes(h ^ 1, word.as_bytes()),
    }
}

/// Adds `sample` to the series `labels` (histogram bounds `bounds`), created if it is new.
fn observe(series: &mut Series, labels: Labels<'_>, sample: Sample, bounds: &Buckets) {
    let hash = hash_labels(labels);
    let mut at = series.index.get(&hash).copied();
    while let Some(i) = at {
        let Some(entry) = series.entries.get_mut(i) else {
            break;
        };
        if (
            entry.labels.0.as_str(),
            entry.labels.1.as_str(),
            entry.labels.2,
        ) == labels
        {
            entry.observe(sample, bounds);
            return;
        }
        at = entry.next;
    }
    let i = series.entries.len();
    let next = series.index.insert(hash, i);
    let mut entry = Entry {
        labels: (labels.0.to_owned(), labels.1.to_owned(), labels.2),
        next,
        duration: Histogram::default(),
        size: Histogram::default(),
    };
    entry.observe(sample, bounds);
    series.entries.push(entry);
}

impl Entry {
    fn observe(&mut self, sample: Sample, bounds: &Buckets) {
        self.duration
            .observe(sample.micros, &bounds.durations.units);
        self.size.observe(sample.bytes, &bounds.sizes.units);
    }
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

// === impl Series ===

impl Series {
    /// Every series with its label texts, in the order of those texts (as the tuple of the
    /// three strings): what the exporters print.
    fn sorted(&self) -> Vec<((String, String, String), &Entry)> {
        let mut all: Vec<_> = self
            .entries
            .iter()
            .map(|e| {
                let status = match e.labels.2 {
                    Status::Code(code) => status_text(code, &mut [0; 5]).to_owned(),
                    Status::Word(word) => word.to_owned(),
                };
                ((e.labels.0.clone(), e.labels.1.clone(), status), e)
            })
            .collect();
        crate::sort::sort_by(&mut all, |a, b| a.0.cmp(&b.0));
        all
    }
}

#[derive(Debug, Clone, Default)]
struct Histogram {
    count: u64,
    /// In whole units (µs, bytes): exact, where adding fractions of a second was not.
    sum: u64,
    /// Per bucket (not cumulative), the last one above every bound.
    buckets: Vec<u64>,
}

impl Histogram {
    /// One observation of `value`, against the bounds `bounds` (in the same units).
    fn observe(&mut self, value: u64, bounds: &[u64]) {
        if self.buckets.len() != bounds.len() + 1 {
            self.buckets = vec![0; bounds.len() + 1];
        }
        self.count += 1;
        self.sum = self.sum.saturating_add(value);
        let i = bounds
            .iter()
            .position(|b| value <= *b)
            .unwrap_or(bounds.len());
        if let Some(bucket) = self.buckets.get_mut(i) {
            *bucket += 1;
        }
    }
}

// === impl Metrics ===

impl Metrics {
    /// No series yet; cumulative data starts at `start_micros`. Every layer, no static
    /// attributes.
    pub fn new(start_micros: u64) -> Self {
        Self::with_layers(start_micros, &Layers::default(), &Histograms::default())
    }

    /// [`Self::new`] with the series and static attributes `layers` asks for, and the
    /// histograms' bucket bounds (`histograms`: durations in seconds, sizes in bytes).
    pub fn with_layers(start_micros: u64, layers: &Layers, histograms: &Histograms) -> Self {
        let backend = &layers.backend.metrics;
        Self {
            bounds: Buckets {
                durations: Bounds::seconds(&histograms.time_buckets),
                sizes: Bounds::bytes(&histograms.size_buckets),
            },
            start_micros,
            in_flight: AtomicI64::new(0),
            state: Mutex::new(State::default()),
            server: (!layers.global.disable_metrics)
                .then(|| pairs(&layers.global.metrics_static_attributes)),
            client: (!backend.disable_stage).then(|| pairs(&backend.static_attributes)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A request started.
    pub fn begin(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// A request ended (it had begun).
    pub fn record(&self, record: &RequestRecord) {
        let route = record.endpoint.as_deref().unwrap_or("unmatched");
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        let mut state = self.lock();
        if self.server.is_some() {
            let series = match &record.overrides {
                Some(own) => &mut state.group(&own.server_labels).server,
                None => &mut state.server,
            };
            observe(
                series,
                (
                    method_label(&record.method),
                    route,
                    Status::Code(record.status),
                ),
                Sample {
                    micros: record.duration_micros,
                    bytes: record.bytes_out as u64,
                },
                &self.bounds,
            );
        }
        for call in &record.backends {
            self.observe_call(&mut state, call);
        }
    }

    /// Counts `call` in its backend's series (its own layer's, else the service's), if kept.
    fn observe_call(&self, state: &mut State, call: &BackendCall) {
        let series = match &call.overrides {
            Some(own) if own.series => &mut state.group(&own.labels).client,
            None if self.client.is_some() => &mut state.client,
            _ => return,
        };
        let status = match (&call.failure, call.status) {
            (Some(f), None) => Status::Word(f.kind.as_str()),
            (_, Some(s)) => Status::Code(s),
            (None, None) => Status::Word("none"),
        };
        observe(
            series,
            (&call.host, &call.method, status),
            Sample {
                micros: call.duration_micros,
                bytes: call.bytes as u64,
            },
            &self.bounds,
        );
    }

    /// A request ended that is not reported (`skip_paths`): no longer in flight, nothing else.
    pub fn abandon(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    /// A backend call that ended after its request (a deferred shadow call).
    pub fn straggler(&self, call: &BackendCall) {
        self.observe_call(&mut self.lock(), call);
    }

    /// Prometheus text exposition format, with `extra` counters (`name`, value) appended.
    pub fn prometheus(&self, extra: &[(&str, &str, u64)]) -> String {
        let state = self.lock();
        let mut out = String::new();
        if let Some(statics) = &self.server {
            family(&mut out, &SERVER, &state.servers(statics), &self.bounds);
            let labels = fixed_labels(statics);
            let labels = labels.strip_prefix(',').unwrap_or_default();
            let labels = if labels.is_empty() {
                String::new()
            } else {
                format!("{{{labels}}}")
            };
            let _ = writeln!(
                out,
                "# HELP manifold_http_server_active_requests Requests in flight."
            );
            let _ = writeln!(out, "# TYPE manifold_http_server_active_requests gauge");
            let _ = writeln!(
                out,
                "manifold_http_server_active_requests{labels} {}",
                self.in_flight.load(Ordering::Relaxed)
            );
        }
        let clients = state.clients(self.client.as_deref());
        if !clients.is_empty() {
            family(&mut out, &CLIENT, &clients, &self.bounds);
        }
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
                let (durations, sizes) = (&self.bounds.durations, &self.bounds.sizes);
                if let Some(statics) = &self.server {
                    let servers = state.servers(statics);
                    let metrics = [
                        ("http.server.request.duration", "s", durations, DURATION),
                        ("http.server.response.body.size", "By", sizes, SIZE),
                    ];
                    for metric in metrics {
                        otlp_histogram(sm, metric, &servers, server_attrs, (start, now));
                    }
                }
                let clients = state.clients(self.client.as_deref());
                if !clients.is_empty() {
                    let metrics = [
                        ("http.client.request.duration", "s", durations, DURATION),
                        ("http.client.response.body.size", "By", sizes, SIZE),
                    ];
                    for metric in metrics {
                        otlp_histogram(sm, metric, &clients, client_attrs, (start, now));
                    }
                }
                let Some(statics) = &self.server else {
                    return;
                };
                // Metric { name = 1; unit = 3; sum = 7 { data_points = 1; temporality = 2; monotonic = 3 } }
                otlp::message(sm, 2, |m| {
                    otlp::string(m, 1, "http.server.active_requests");
                    otlp::string(m, 3, "{request}");
                    otlp::message(m, 7, |sum| {
                        otlp::message(sum, 1, |p| {
                            static_attributes(p, statics);
                            otlp::fixed64(p, 2, start);
                            otlp::fixed64(p, 3, now);
                            // as_int = 6 (sfixed64)
                            otlp::fixed64(p, 6, self.in_flight.load(Ordering::Relaxed) as u64);
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

/// A label value with `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A layer's three Prometheus metrics: a request counter, a duration and a body size
/// histogram, with their label names and help texts.
struct Family {
    labels: [&'static str; 3],
    counter: (&'static str, &'static str),
    duration: (&'static str, &'static str),
    size: (&'static str, &'static str),
}

const SERVER: Family = Family {
    labels: ["method", "route", "status"],
    counter: ("manifold_http_server_requests_total", "Requests answered."),
    duration: (
        "manifold_http_server_request_duration_seconds",
        "Time to answer a request.",
    ),
    size: (
        "manifold_http_server_response_body_size_bytes",
        "Bytes of an answer's body.",
    ),
};

const CLIENT: Family = Family {
    labels: ["host", "method", "status"],
    counter: ("manifold_http_client_requests_total", "Backend calls."),
    duration: (
        "manifold_http_client_request_duration_seconds",
        "Time of a backend call.",
    ),
    size: (
        "manifold_http_client_response_body_size_bytes",
        "Bytes of a backend answer's body, as received.",
    ),
};

/// A series' histogram of one kind.
type Pick = fn(&Entry) -> &Histogram;
/// Its duration histogram.
const DURATION: Pick = |e| &e.duration;
/// Its body size histogram.
const SIZE: Pick = |e| &e.size;

/// `f`'s metrics of `groups`: each series' three labels, then its group's static ones.
fn family(out: &mut String, f: &Family, groups: &[Labelled<'_>], bounds: &Buckets) {
    let [a, b, c] = f.labels;
    // Each series with its label text, written once for both metrics.
    let mut all = Vec::new();
    for (series, statics) in groups {
        let fixed = fixed_labels(statics);
        for (l, h) in series.sorted() {
            let text = format!(
                "{a}=\"{}\",{b}=\"{}\",{c}=\"{}\"{fixed}",
                escape(&l.0),
                escape(&l.1),
                escape(&l.2)
            );
            all.push((text, h));
        }
    }
    let (name, help) = f.counter;
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} counter");
    for (labels, e) in &all {
        let _ = writeln!(out, "{name}{{{labels}}} {}", e.duration.count);
    }
    histogram(out, f.duration, &all, DURATION, &bounds.durations);
    histogram(out, f.size, &all, SIZE, &bounds.sizes);
}

fn histogram(
    out: &mut String,
    (name, help): (&str, &str),
    all: &[(String, &Entry)],
    pick: Pick,
    bounds: &Bounds,
) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} histogram");
    for (l, e) in all {
        let h = pick(e);
        let mut cumulative = 0;
        for (bound, n) in bounds.written.iter().zip(&h.buckets) {
            cumulative += n;
            let _ = writeln!(out, "{name}_bucket{{{l},le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{{l},le=\"+Inf\"}} {}", h.count);
        let _ = writeln!(out, "{name}_sum{{{l}}} {}", bounds.sum(h));
        let _ = writeln!(out, "{name}_count{{{l}}} {}", h.count);
    }
}

/// A data point's layer attributes (field 9), after its own.
fn static_attributes(point: &mut Vec<u8>, statics: &[(String, String)]) {
    for (key, value) in statics {
        otlp::attribute(point, 9, key, &Value::Str(value.clone()));
    }
}

/// `,label="value"` of each static attribute, for a series' Prometheus labels.
fn fixed_labels(statics: &[(String, String)]) -> String {
    (statics.iter())
        .map(|(key, value)| format!(",{}=\"{}\"", prometheus_label(key), escape(value)))
        .collect()
}

/// Static attributes as (key, value) pairs.
pub(crate) fn pairs<'a>(
    attributes: impl IntoIterator<Item = &'a StaticAttribute>,
) -> Vec<(String, String)> {
    (attributes.into_iter())
        .map(|a| (a.key.clone(), a.value.clone()))
        .collect()
}

/// Metric { name = 1; unit = 3; histogram = 9 { data_points = 1; temporality = 2 } }.
/// The histogram metric `name` (in `unit`, its bounds, which of a series' histograms) of
/// `groups`: each point's attributes from its labels, then the layer's static ones.
fn otlp_histogram(
    out: &mut Vec<u8>,
    (name, unit, bounds, pick): (&str, &str, &Bounds, Pick),
    groups: &[Labelled<'_>],
    attributes: impl Fn(&(String, String, String)) -> Vec<(&'static str, Value)>,
    (start, now): (u64, u64),
) {
    otlp::message(out, 2, |m| {
        otlp::string(m, 1, name);
        otlp::string(m, 3, unit);
        otlp::message(m, 9, |hist| {
            let all = (groups.iter()).flat_map(|(series, statics)| {
                series
                    .sorted()
                    .into_iter()
                    .map(move |(key, e)| (key, pick(e), *statics))
            });
            for (key, h, statics) in all {
                // HistogramDataPoint { attributes = 9; start = 2; time = 3; count = 4; sum = 5;
                // bucket_counts = 6; explicit_bounds = 7 }
                otlp::message(hist, 1, |p| {
                    for (k, v) in attributes(&key) {
                        otlp::attribute(p, 9, k, &v);
                    }
                    static_attributes(p, statics);
                    otlp::fixed64(p, 2, start);
                    otlp::fixed64(p, 3, now);
                    otlp::fixed64(p, 4, h.count);
                    otlp::double(p, 5, bounds.sum(h));
                    for n in &h.buckets {
                        otlp::fixed64(p, 6, *n);
                    }
                    for b in &bounds.written {
                        otlp::double(p, 7, *b);
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
    use crate::config::extra::{SIZE_BUCKETS, TIME_BUCKETS};
    use crate::platform::TraceIds;
    use std::sync::Arc;

    fn record(endpoint: Option<&str>, status: u16, micros: u64) -> RequestRecord {
        RequestRecord {
            headers: None,
            proxy_headers: None,
            overrides: None,
            start_micros: 0,
            duration_micros: micros,
            request_id: http::HeaderValue::from_static("r"),
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
        assert_lines(&text, [
            "manifold_http_server_requests_total{method=\"GET\",route=\"/a\",status=\"200\"} 2",
            "manifold_http_server_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 1",
            "manifold_http_server_request_duration_seconds_bucket{method=\"GET\",route=\"/a\",status=\"200\",le=\"0.01\"} 1",
            "manifold_http_server_request_duration_seconds_bucket{method=\"GET\",route=\"/a\",status=\"200\",le=\"0.05\"} 2",
            "manifold_http_server_request_duration_seconds_count{method=\"GET\",route=\"/a\",status=\"200\"} 2",
            "manifold_http_server_active_requests 1",
            "manifold_x_total 7",
        ]);
    }

    /// Every one of `lines` is a whole line of `text`.
    fn assert_lines<S: AsRef<str>>(text: &str, lines: impl IntoIterator<Item = S>) {
        for line in lines {
            let line = line.as_ref();
            assert!(text.lines().any(|l| l == line), "{line}\n{text}");
        }
    }

    /// Each of `needles` is somewhere in `bytes`.
    fn assert_contains(bytes: &[u8], needles: &[&[u8]]) {
        for needle in needles {
            let found = bytes.windows(needle.len()).any(|w| w == *needle);
            assert!(found, "{}", String::from_utf8_lossy(needle));
        }
    }

    /// One microsecond, one byte.
    const ONE: Sample = Sample {
        micros: 1,
        bytes: 1,
    };

    /// No bounds: every value in the one bucket.
    fn buckets() -> Buckets {
        Buckets {
            durations: Bounds::seconds(&[]),
            sizes: Bounds::bytes(&[]),
        }
    }

    fn call(status: u16) -> BackendCall {
        BackendCall {
            headers: None,
            overrides: None,
            parent: [3; 8],
            span_id: [4; 8],
            name: "users".into(),
            host: "http://users".into(),
            path: "/u".into(),
            method: "GET".into(),
            status: Some(status),
            failure: None,
            start_micros: 0,
            duration_micros: 10,
            bytes: 0,
        }
    }

    #[test]
    fn layers_add_static_labels_and_leave_out_disabled_series() {
        let attr = |key: &str, value: &str| StaticAttribute {
            key: key.into(),
            value: value.into(),
        };
        let mut layers = Layers::default();
        layers.global.metrics_static_attributes =
            vec![attr("team", "core"), attr("deploy.zone", "a\"b")];
        layers.backend.metrics.static_attributes = vec![attr("tier", "db")];
        let m = Metrics::with_layers(0, &layers, &Histograms::default());
        let mut r = record(Some("/a"), 200, 5);
        r.backends.push(call(201));
        m.begin();
        m.record(&r);
        m.straggler(&call(202));
        let text = m.prometheus(&[]);
        assert_lines(&text, [
            "manifold_http_server_requests_total{method=\"GET\",route=\"/a\",status=\"200\",team=\"core\",deploy_zone=\"a\\\"b\"} 1",
            "manifold_http_server_active_requests{team=\"core\",deploy_zone=\"a\\\"b\"} 0",
            "manifold_http_client_requests_total{host=\"http://users\",method=\"GET\",status=\"201\",tier=\"db\"} 1",
            "manifold_http_client_requests_total{host=\"http://users\",method=\"GET\",status=\"202\",tier=\"db\"} 1",
        ]);
        let otlp = m.otlp(&Resource::default(), 1);
        assert_contains(
            &otlp,
            &[b"deploy.zone", b"tier", b"http.client.request.duration"],
        );
        // Each layer off: its series are neither kept nor written.
        for (server, client) in [(false, true), (true, false), (false, false)] {
            let mut layers = Layers::default();
            layers.global.disable_metrics = !server;
            layers.backend.metrics.disable_stage = !client;
            let m = Metrics::with_layers(0, &layers, &Histograms::default());
            m.begin();
            m.record(&r);
            m.straggler(&call(202));
            let text = m.prometheus(&[]);
            let otlp = m.otlp(&Resource::default(), 1);
            let has = |needle: &[u8]| otlp.windows(needle.len()).any(|w| w == needle);
            assert_eq!(text.contains("manifold_http_server_"), server, "{text}");
            assert_eq!(text.contains("manifold_http_client_"), client, "{text}");
            assert_eq!(has(b"http.server."), server);
            assert_eq!(has(b"http.client."), client);
            assert_eq!(m.lock().server.entries.len(), usize::from(server));
            assert_eq!(m.lock().client.entries.len(), 2 * usize::from(client));
        }
    }

    #[test]
    fn endpoints_and_backends_with_their_own_layers_get_their_own_labels() {
        use crate::platform::{BackendOverride, EndpointOverride};
        let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        let mut layers = Layers::default();
        layers.backend.metrics.disable_stage = true;
        layers.global.metrics_static_attributes = vec![StaticAttribute {
            key: "team".into(),
            value: "core".into(),
        }];
        let m = Metrics::with_layers(0, &layers, &Histograms::default());
        let mut own = record(Some("/own"), 200, 5);
        own.overrides = Some(Arc::new(EndpointOverride {
            server_labels: vec![pair("team", "core"), pair("owner", "charlie")],
            ..EndpointOverride::default()
        }));
        let counted = Arc::new(BackendOverride {
            series: true,
            labels: vec![pair("tier", "db")],
            ..BackendOverride::default()
        });
        let mut kept = call(200);
        kept.overrides = Some(counted);
        let mut left_out = call(500);
        left_out.overrides = Some(Arc::new(BackendOverride::default()));
        own.backends = vec![kept.clone(), left_out, call(201)];
        for r in [own, record(Some("/a"), 200, 5)] {
            m.begin();
            m.record(&r);
        }
        m.straggler(&kept);
        let text = m.prometheus(&[]);
        assert_lines(&text, [
            "manifold_http_server_requests_total{method=\"GET\",route=\"/a\",status=\"200\",team=\"core\"} 1",
            "manifold_http_server_requests_total{method=\"GET\",route=\"/own\",status=\"200\",team=\"core\",owner=\"charlie\"} 1",
            "manifold_http_client_requests_total{host=\"http://users\",method=\"GET\",status=\"200\",tier=\"db\"} 2",
        ]);
        // The service's backend layer is off; the call without a layer of its own and the
        // one whose layer is off are not counted.
        assert_eq!(
            text.matches("manifold_http_client_requests_total{").count(),
            1,
            "{text}"
        );
        assert_eq!(
            text.matches("# TYPE manifold_http_server_requests_total")
                .count(),
            1
        );
        let otlp = m.otlp(&Resource::default(), 1);
        assert_contains(
            &otlp,
            &[
                b"owner",
                b"charlie",
                b"tier",
                b"http.client.request.duration",
            ],
        );
    }

    #[test]
    fn made_up_methods_share_one_series() {
        let m = Metrics::new(0);
        for i in 0..100 {
            let mut r = record(None, 405, 1);
            r.method = format!("M{i}").into();
            m.begin();
            m.record(&r);
        }
        let text = m.prometheus(&[]);
        let line = "manifold_http_server_requests_total{method=\"_OTHER\",route=\"unmatched\",status=\"405\"} 100";
        assert_lines(&text, [line]);
        assert!(!text.contains("method=\"M1"), "{text}");
        assert_eq!(m.lock().server.entries.len(), 1);
    }

    #[test]
    fn status_text_is_the_decimal_number() {
        for n in [0u16, 7, 42, 200, 404, 999, 1000, 65535] {
            assert_eq!(status_text(n, &mut [0; 5]), n.to_string());
        }
    }

    #[test]
    fn series_are_ordered_as_their_label_tuples() {
        let mut series = Series::default();
        for labels in [
            ("GET", "/b", Status::Code(200)),
            ("GET", "/a", Status::Code(500)),
            ("GETX", "/", Status::Code(200)),
            ("GET", "/a", Status::Code(200)),
            ("GET", "/b", Status::Code(200)),
            ("GET", "/a", Status::Word("timeout")),
            ("GET", "/a", Status::Code(1000)),
            ("GET", "/a", Status::Word("200")),
        ] {
            observe(&mut series, labels, ONE, &buckets());
        }
        let keys: Vec<_> = series
            .sorted()
            .into_iter()
            .map(|(k, e)| (k, e.duration.count))
            .collect();
        let k = |a: &str, b: &str, c: &str| (a.to_owned(), b.to_owned(), c.to_owned());
        assert_eq!(
            keys,
            [
                (k("GET", "/a", "1000"), 1),
                (k("GET", "/a", "200"), 1),
                (k("GET", "/a", "200"), 1),
                (k("GET", "/a", "500"), 1),
                (k("GET", "/a", "timeout"), 1),
                (k("GET", "/b", "200"), 2),
                (k("GETX", "/", "200"), 1),
            ]
        );
    }

    #[test]
    fn colliding_hashes_keep_their_series_apart() {
        let mut series = Series::default();
        let labels = [
            ("a", "b", Status::Code(1)),
            ("a", "b", Status::Code(2)),
            ("ab", "", Status::Code(1)),
        ];
        observe(&mut series, labels[0], ONE, &buckets());
        // Every later series filed under the first one's hash: a chain of three.
        let hash = hash_labels(labels[0]);
        for (n, l) in labels.iter().enumerate().skip(1) {
            let next = series.index.insert(hash, n);
            series.entries.push(Entry {
                labels: (l.0.to_owned(), l.1.to_owned(), l.2),
                next,
                duration: Histogram::default(),
                size: Histogram::default(),
            });
            series.index.insert(hash_labels(*l), n);
        }
        let first = series.index.get(&hash).copied();
        assert_eq!(first, Some(2));
        // Lookups through the chain find each one.
        for (n, l) in labels.iter().enumerate() {
            let mut at = series.index.get(&hash).copied();
            let mut found = None;
            while let Some(i) = at {
                let e = &series.entries[i];
                if (e.labels.0.as_str(), e.labels.1.as_str(), e.labels.2) == *l {
                    found = Some(i);
                    break;
                }
                at = e.next;
            }
            assert_eq!(found, Some(n));
        }
        observe(&mut series, labels[1], ONE, &buckets());
        observe(&mut series, labels[1], ONE, &buckets());
        let counts: Vec<u64> = series.entries.iter().map(|e| e.duration.count).collect();
        assert_eq!(counts, [1, 2, 0]);
        assert_ne!(hash_labels(labels[0]), hash_labels(labels[2]));
    }

    #[test]
    fn buckets_in_micros_are_the_buckets_in_seconds() {
        let odd = [1e-7, 1.5e-6, 0.1 + 0.2, 0.3, 1.005, 123.456_789, 1e9];
        let otel = [
            0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
        ];
        for seconds in [&TIME_BUCKETS[..], &otel, &odd] {
            let bounds = Bounds::seconds(seconds);
            let mut values = vec![0u64, 1, 4_999, u64::from(u32::MAX), 1 << 52];
            for b in &bounds.units {
                values.extend([b.saturating_sub(1), *b, b + 1]);
            }
            for m in values {
                let s = m as f64 / 1_000_000.0;
                let by_seconds = seconds.iter().position(|b| s <= *b);
                let by_micros = bounds.units.iter().position(|b| m <= *b);
                assert_eq!(by_seconds, by_micros, "{m} in {seconds:?}");
            }
        }
        assert_eq!(Bounds::seconds(&[0.01]).units, [10_000]);
        assert_eq!(Bounds::seconds(&[1e-7]).units, [0]);
    }

    #[test]
    fn buckets_in_bytes_are_the_whole_parts_of_the_bounds() {
        let odd = [0.5, 1.0, 100.5, 128.0, 9_007_199_254_740_992.0];
        for written in [&SIZE_BUCKETS[..], &odd] {
            let bounds = Bounds::bytes(written);
            let mut values = vec![0u64, 1, 127, 128, 129, u64::MAX];
            for b in &bounds.units {
                values.extend([b.saturating_sub(1), *b, b.saturating_add(1)]);
            }
            for n in values {
                let by_units = bounds.units.iter().position(|b| n <= *b);
                if n > 1 << 53 {
                    // Above every bound (a bound is at most 2^53).
                    assert_eq!(by_units, None, "{n} in {written:?}");
                    continue;
                }
                // Up to 2^53 a size is exact as an `f64`.
                let by_written = written.iter().position(|b| (n as f64) <= *b);
                assert_eq!(by_written, by_units, "{n} in {written:?}");
            }
        }
    }

    #[test]
    fn time_buckets_are_the_histograms_bounds() {
        let histograms = Histograms {
            time_buckets: vec![0.001, 0.3],
            ..Histograms::default()
        };
        let m = Metrics::with_layers(0, &Layers::default(), &histograms);
        for us in [500, 1_000, 1_001, 300_000, 300_001] {
            m.begin();
            m.record(&record(Some("/a"), 200, us));
        }
        let text = m.prometheus(&[]);
        let bucket = |le: &str, n: u64| {
            format!("manifold_http_server_request_duration_seconds_bucket{{method=\"GET\",route=\"/a\",status=\"200\",le=\"{le}\"}} {n}")
        };
        assert_lines(
            &text,
            [bucket("0.001", 2), bucket("0.3", 4), bucket("+Inf", 5)],
        );
        assert!(!text.contains("le=\"0.01\""), "{text}");
    }

    #[test]
    fn body_sizes_are_histograms_of_their_own_buckets() {
        let histograms = Histograms {
            size_buckets: vec![100.0, 1024.0],
            ..Histograms::default()
        };
        let m = Metrics::with_layers(0, &Layers::default(), &histograms);
        for (bytes, call_bytes) in [(0, 7), (100, 101), (101, 1024), (5000, 1025)] {
            let mut r = record(Some("/a"), 200, 10);
            r.bytes_out = bytes;
            let mut c = call(200);
            c.bytes = call_bytes;
            r.backends.push(c);
            m.begin();
            m.record(&r);
        }
        let text = m.prometheus(&[]);
        let server = "manifold_http_server_response_body_size_bytes";
        let labels = "method=\"GET\",route=\"/a\",status=\"200\"";
        let client = "manifold_http_client_response_body_size_bytes";
        let call_labels = "host=\"http://users\",method=\"GET\",status=\"200\"";
        assert_lines(
            &text,
            [
                format!("# TYPE {server} histogram"),
                format!("{server}_bucket{{{labels},le=\"100\"}} 2"),
                format!("{server}_bucket{{{labels},le=\"1024\"}} 3"),
                format!("{server}_bucket{{{labels},le=\"+Inf\"}} 4"),
                format!("{server}_sum{{{labels}}} 5201"),
                format!("{server}_count{{{labels}}} 4"),
                format!("{client}_bucket{{{call_labels},le=\"100\"}} 1"),
                format!("{client}_bucket{{{call_labels},le=\"1024\"}} 3"),
                format!("{client}_sum{{{call_labels}}} 2157"),
                // The durations keep their own bounds and sum (in seconds).
                format!("manifold_http_server_request_duration_seconds_sum{{{labels}}} 0.00004"),
            ],
        );
        let otlp = m.otlp(&Resource::default(), 1);
        assert_contains(
            &otlp,
            &[
                b"http.server.response.body.size",
                b"http.client.response.body.size",
                b"By",
            ],
        );
    }
}
