//! `telemetry/opentelemetry` natively: a [`Sink`] that keeps the metrics and encodes the spans
//! of sampled requests into batches of at most [`BATCH`] spans, [`READY`] of them at most
//! waiting (beyond that the spans are dropped and counted: a request never waits for the
//! collector); [`Exporter::flush`] sends the batches to every collector (OTLP/HTTP protobuf,
//! `/v1/traces`, or OTLP/gRPC: `otlp_grpc.rs`), [`Exporter::run`] does so in the background,
//! as soon as a batch is full or every [`FLUSH_EVERY`], and pushes the metrics every
//! `metric_reporting_period`; [`serve_prometheus`] serves `/metrics` on its own port. The
//! payloads are the core's (`manifold_core::otlp`), the HTTP client is the platform's own.
//!
//! The spans are encoded when the request ends, while its record is still in the cache, and
//! the record is freed then: keeping records for the exporter cost more than encoding them
//! (bench/profile-notes.md, issue 14).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use manifold_core::config::extra::{Collector, OpenTelemetry};
use manifold_core::metrics::Metrics;
use manifold_core::otlp::{self, Resource};
use manifold_core::platform::{BackendCall, TraceIds};
use manifold_core::push::MetricPushes;
use manifold_core::{Clock, Config, HttpClient, Platform, RequestRecord, Sink};
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::otlp_grpc::GrpcClient;

/// Spans in one OTLP request (about 400 bytes each: 2048 make well under a megabyte, far below
/// the collectors' request limits, and four times fewer POSTs than 512 under load); a
/// request's spans stay in one batch, so a batch may have a few more.
pub const BATCH: usize = 2048;
/// Full batches that may wait for the exporter (with the one being filled, about 10,000
/// spans, 4 MB); beyond that a batch is dropped.
pub const READY: usize = 4;
/// Bytes a batch's buffer is made with: room for [`BATCH`] spans of up to 512 bytes, so a
/// batch is written where it starts and never copied to grow (the pages are touched only as
/// spans are written).
const BATCH_BYTES: usize = BATCH * 512;
/// How often the background exporter sends what is queued.
pub const FLUSH_EVERY: Duration = Duration::from_millis(500);
/// The longest one export may take before it counts as failed.
pub const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// The most a serverless invocation waits for its spans to be sent (Lambda freezes the sandbox
/// after the answer, so they are sent before it).
pub const FLUSH_BUDGET: Duration = Duration::from_secs(2);
/// Largest answer read from a collector.
const MAX_ANSWER: usize = 64 * 1024;

/// Counters about the telemetry itself (in `/metrics`).
#[derive(Debug, Default)]
pub struct Stats {
    /// Spans dropped because the queue was full.
    pub dropped: AtomicU64,
    /// Spans a collector accepted.
    pub exported: AtomicU64,
    /// Exports that failed (no answer, or not 2xx).
    pub failed: AtomicU64,
}

/// The sink half: metrics and the span queue.
pub struct OtelSink {
    config: OpenTelemetry,
    metrics: Arc<Metrics>,
    spans: Arc<Spans>,
    stats: Arc<Stats>,
    traces: bool,
    /// The spans the config's `layers` ask for.
    shape: otlp::Shape,
    /// Per-request mode: the exporter the sink's flush drives.
    flusher: Option<Arc<Exporter>>,
}

/// The exporter half: sends the queued spans and the metrics.
pub struct Exporter {
    spans: Arc<Spans>,
    traces: Vec<Collector>,
    /// The collectors that take metrics, and when.
    pushes: MetricPushes,
    resource: Resource,
    metrics: Arc<Metrics>,
    client: Arc<dyn HttpClient>,
    /// The OTLP/gRPC collectors' HTTP/2 client, when there is one (`use_http` unset).
    grpc: Option<GrpcClient>,
    clock: Arc<dyn Clock>,
    stats: Arc<Stats>,
}

/// The encoded spans between the sink and the exporter.
#[derive(Default)]
struct Spans {
    /// Bytes kept free in front of each batch's spans for the request's head
    /// ([`otlp::head_room`]): the exporter writes it there rather than copying the spans.
    room: usize,
    batches: Mutex<Batches>,
    /// A batch is full (the background exporter sends it now rather than at its next tick).
    full: Notify,
}

/// The batch being filled and the full ones.
#[derive(Default)]
struct Batches {
    /// [`Spans::room`] bytes, then `ScopeSpans.spans` fields ([`otlp::encode_request`]).
    filling: Vec<u8>,
    /// Spans in `filling`.
    count: usize,
    /// Full batches and their span counts, oldest first, at most [`READY`].
    ready: VecDeque<(Vec<u8>, usize)>,
    /// Buffers of sent batches, for the next ones: their memory is warm, and a batch then
    /// grows without being copied.
    spare: Vec<Vec<u8>>,
    /// The client address's text, while a span is encoded.
    scratch: Vec<u8>,
}

/// The sink and the exporter of one `telemetry/opentelemetry`.
pub type Halves = (Arc<OtelSink>, Arc<Exporter>);

/// When the spans are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// By [`Exporter::run`] in the background (a long-running server).
    Background,
    /// Before each invocation returns, within [`FLUSH_BUDGET`] (Lambda freezes the sandbox
    /// after the answer): the sink's `flush`, which the gateway awaits.
    PerRequest,
}

/// `platform` with its sink for `config`: `access` (the access log, if any) alone, or, with
/// `telemetry/opentelemetry`, `access` and the OTLP sink, with its exporter (to run in the
/// background, or already flushed per request, as `mode` says).
pub fn attach(
    platform: Platform,
    config: &Config,
    access: Option<Arc<dyn Sink>>,
    mode: Mode,
) -> (Platform, Option<Halves>) {
    let Some(otel) = config.telemetry.otel() else {
        // No sink at all when nothing is logged: the gateway then builds no records.
        return (
            access.map_or(platform.clone(), |a| platform.with_sink(a)),
            None,
        );
    };
    let (client, clock) = (platform.client.clone(), platform.clock.clone());
    let (mut sink, exporter) = pipeline(otel, client, clock);
    if mode == Mode::PerRequest {
        if let Some(s) = Arc::get_mut(&mut sink) {
            s.flusher = Some(exporter.clone());
        }
    }
    let sinks: Vec<Arc<dyn Sink>> = access
        .into_iter()
        .chain([sink.clone() as Arc<dyn Sink>])
        .collect();
    let platform = platform.with_sink(Arc::new(crate::Tee(sinks)));
    (platform, Some((sink, exporter)))
}

/// The serverless (Lambda) platform's sinks: the access log as JSON lines on stdout
/// ([`crate::JsonLines`], one object per line, as CloudWatch and Lambda's JSON log format
/// expect) and, with `telemetry/opentelemetry`, the OTLP sink flushed before each invocation
/// returns.
pub fn serverless(platform: Platform, config: &Config) -> Platform {
    let logged = !config.router.disable_access_log;
    let access = logged.then(|| Arc::new(crate::JsonLines) as Arc<dyn Sink>);
    attach(platform, config, access, Mode::PerRequest).0
}

/// Both halves for `config`: give the sink to the platform, run or flush the exporter.
pub fn pipeline(
    config: &OpenTelemetry,
    client: Arc<dyn HttpClient>,
    clock: Arc<dyn Clock>,
) -> (Arc<OtelSink>, Arc<Exporter>) {
    let resource = Resource {
        service_name: config.service_name.clone(),
        service_version: config.service_version.clone(),
        deploy_env: config.deploy_env.clone(),
    };
    let spans = Arc::new(Spans::new(otlp::head_room(&resource)));
    let metrics = Arc::new(Metrics::with_layers(
        clock.now_micros(),
        &config.layers,
        &config.histograms,
    ));
    let stats = Arc::new(Stats::default());
    let exporter = Exporter {
        spans: spans.clone(),
        traces: config
            .exporters
            .otlp
            .iter()
            .filter(|o| !o.disable_traces)
            .map(|o| o.collector(true, true))
            .collect(),
        // Serverless: the first invocation pushes (its sandbox may be the only one).
        pushes: MetricPushes::new(config, 0, true),
        // Without a gRPC client (rustls could not be set up) a gRPC export fails and counts.
        grpc: (config.exporters.otlp.iter())
            .any(|o| !o.use_http)
            .then(GrpcClient::new)
            .and_then(Result::ok),
        resource,
        metrics: metrics.clone(),
        client,
        clock,
        stats: stats.clone(),
    };
    let sink = OtelSink {
        traces: config.traces(),
        shape: otlp::Shape::new(&config.layers),
        config: config.clone(),
        metrics,
        spans,
        stats,
        flusher: None,
    };
    (Arc::new(sink), Arc::new(exporter))
}

// === impl OtelSink ===

impl OtelSink {
    /// The metrics this sink keeps.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The exporter's counters.
    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    /// Add `n` spans, encoded by `encode` (into the batch, with room for an address's text).
    fn queue(&self, n: usize, encode: impl FnOnce(&mut Vec<u8>, &mut Vec<u8>)) {
        let dropped = self.spans.add(n, encode);
        if dropped > 0 {
            self.stats
                .dropped
                .fetch_add(dropped as u64, Ordering::Relaxed);
        }
    }

    /// Prometheus text: the request metrics and the exporter's own counters.
    pub fn prometheus(&self) -> String {
        let s = &self.stats;
        self.metrics.prometheus(&[
            (
                "manifold_telemetry_spans_dropped_total",
                "Spans dropped because the export queue was full.",
                s.dropped.load(Ordering::Relaxed),
            ),
            (
                "manifold_telemetry_spans_exported_total",
                "Spans accepted by a collector.",
                s.exported.load(Ordering::Relaxed),
            ),
            (
                "manifold_telemetry_export_failures_total",
                "OTLP exports that failed.",
                s.failed.load(Ordering::Relaxed),
            ),
        ])
    }
}

impl std::fmt::Debug for OtelSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtelSink").finish_non_exhaustive()
    }
}

impl Sink for OtelSink {
    fn begin(&self) {
        self.metrics.begin();
    }

    fn request(&self, record: &Arc<RequestRecord>) {
        if !self
            .config
            .reports(record.endpoint.as_deref(), &record.path)
        {
            self.metrics.abandon();
            return;
        }
        self.metrics.record(record);
        if self.traces && record.trace.sampled {
            self.queue(otlp::request_spans(record, &self.shape), |out, scratch| {
                otlp::encode_request(out, record, scratch, &self.shape);
            });
        }
    }

    fn straggler(&self, trace: &TraceIds, call: &BackendCall) {
        self.metrics.straggler(call);
        if self.traces && trace.sampled && self.shape.client_span(call) {
            self.queue(1, |out, _| {
                otlp::encode_straggler(out, trace, call, &self.shape);
            });
        }
    }

    fn flush(&self) -> Option<manifold_core::BoxFuture<'static, ()>> {
        let exporter = self.flusher.clone()?;
        Some(Box::pin(async move {
            let _ = tokio::time::timeout(FLUSH_BUDGET, exporter.after_invocation()).await;
        }))
    }
}

// === impl Exporter ===

impl Exporter {
    /// Send every span queued so far, in batches of about [`BATCH`] spans (a request's spans
    /// stay in one batch), to every collector. Returns the spans sent.
    pub async fn flush(&self) -> usize {
        let batches = self.spans.take();
        let mut total = 0;
        for (mut batch, n) in batches {
            total += n;
            let start = otlp::wrap_in_place(&self.resource, &mut batch, self.spans.room);
            let body = Bytes::from(batch).slice(start..);
            for to in &self.traces {
                if self.post(to, body.clone()).await {
                    self.stats.exported.fetch_add(n as u64, Ordering::Relaxed);
                }
            }
            self.spans.recycle(body);
        }
        total
    }

    /// Send the metrics (cumulative) to the collectors whose period has passed (`slack` µs
    /// early included).
    async fn push_metrics(&self, slack: u64) {
        let now = self.clock.now_micros();
        let due = self.pushes.due(now, slack);
        if due.is_empty() {
            return;
        }
        let body = Bytes::from(self.metrics.otlp(&self.resource, now));
        for to in due {
            self.post(to, body.clone()).await;
        }
    }

    /// A serverless invocation ended: its spans now, the metrics to each collector whose
    /// period has passed.
    pub async fn after_invocation(&self) {
        self.flush().await;
        self.push_metrics(0).await;
    }

    /// Export in the background, forever: spans every [`FLUSH_EVERY`], metrics at each
    /// collector's period (a timer at the shortest).
    pub async fn run(self: Arc<Self>) {
        let tick = self.pushes.tick_micros();
        let mut spans = tokio::time::interval(FLUSH_EVERY);
        let mut metrics = tokio::time::interval(Duration::from_micros(tick));
        spans.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        metrics.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = spans.tick() => { self.flush().await; }
                () = self.spans.full.notified() => { self.flush().await; }
                _ = metrics.tick() => self.push_metrics(tick / 2).await,
            }
        }
    }

    /// Send `body` to the collector `to`: `true` when it took it.
    async fn post(&self, to: &Collector, body: Bytes) -> bool {
        let ok = if to.grpc {
            match &self.grpc {
                Some(grpc) => matches!(
                    tokio::time::timeout(EXPORT_TIMEOUT, grpc.export(&to.url, &body)).await,
                    Ok(true)
                ),
                None => false,
            }
        } else {
            self.post_http(&to.url, body).await
        };
        if !ok {
            self.stats.failed.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }

    async fn post_http(&self, url: &str, body: Bytes) -> bool {
        let request = Request::builder()
            .method(Method::POST)
            .uri(url)
            .header(http::header::CONTENT_TYPE, "application/x-protobuf")
            .header(http::header::CONTENT_LENGTH, body.len())
            .body(body);
        let Ok(request) = request else {
            return false;
        };
        let sent =
            tokio::time::timeout(EXPORT_TIMEOUT, self.client.send(request, MAX_ANSWER)).await;
        matches!(sent, Ok(Ok(ref r)) if r.status().is_success())
    }
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter")
            .field("traces", &self.traces)
            .field("metrics", &self.pushes)
            .finish_non_exhaustive()
    }
}

// === impl Spans ===

impl Spans {
    /// No spans yet; each batch keeps `room` bytes in front of its spans.
    fn new(room: usize) -> Self {
        let spans = Self {
            room,
            ..Self::default()
        };
        if let Ok(mut b) = spans.batches.lock() {
            b.filling = spans.fresh();
        }
        spans
    }

    /// An empty batch: its room, and capacity for a full one.
    fn fresh(&self) -> Vec<u8> {
        let mut batch = Vec::with_capacity(self.room + BATCH_BYTES);
        batch.resize(self.room, 0);
        batch
    }

    /// Add `n` spans, written by `write`, to the batch being filled; when it is full, queue it
    /// for the exporter (or drop it, when [`READY`] batches already wait). Returns the spans
    /// dropped. The spans are encoded under the lock, straight into the batch: a copy would
    /// cost more than the (rare) wait of another thread.
    fn add(&self, n: usize, write: impl FnOnce(&mut Vec<u8>, &mut Vec<u8>)) -> usize {
        let Ok(mut guard) = self.batches.lock() else {
            return n;
        };
        let b = &mut *guard;
        write(&mut b.filling, &mut b.scratch);
        b.count += n;
        if b.count < BATCH {
            return 0;
        }
        let next = b.spare.pop().unwrap_or_else(|| self.fresh());
        let full = (
            std::mem::replace(&mut b.filling, next),
            std::mem::take(&mut b.count),
        );
        let dropped = if b.ready.len() < READY {
            b.ready.push_back(full);
            0
        } else {
            let (mut buffer, n) = full;
            buffer.truncate(self.room);
            b.spare.push(buffer);
            n
        };
        drop(guard);
        self.full.notify_one();
        dropped
    }

    /// The queued batches and the one being filled, taken.
    fn take(&self) -> Vec<(Vec<u8>, usize)> {
        let Ok(mut b) = self.batches.lock() else {
            return Vec::new();
        };
        let mut taken: Vec<_> = b.ready.drain(..).collect();
        if b.count > 0 {
            let next = b.spare.pop().unwrap_or_else(|| self.fresh());
            let filling = std::mem::replace(&mut b.filling, next);
            taken.push((filling, std::mem::take(&mut b.count)));
        }
        taken
    }

    /// A sent batch's buffer, kept for a next batch (two at most), when nothing else holds
    /// it any more.
    fn recycle(&self, sent: Bytes) {
        let Ok(mut buffer) = sent.try_into_mut() else {
            return;
        };
        // Emptied first: the conversion then moves no byte, and the buffer is the whole
        // allocation again (the room in front included).
        buffer.clear();
        let mut buffer = Vec::from(buffer);
        buffer.resize(self.room, 0);
        if let Ok(mut b) = self.batches.lock() {
            if b.spare.len() < 2 {
                b.spare.push(buffer);
            }
        }
    }
}

/// Bind every enabled `exporters.prometheus` listener (default port 9090, all addresses) and
/// serve `GET /metrics` from `sink` on each, in the background. Fails if one cannot be bound.
pub async fn serve_prometheus(
    config: &OpenTelemetry,
    sink: Arc<OtelSink>,
) -> std::io::Result<Vec<SocketAddr>> {
    let mut bound = Vec::new();
    for p in config
        .exporters
        .prometheus
        .iter()
        .filter(|p| !p.disable_metrics)
    {
        let ip: IpAddr = p
            .listen_ip
            .parse()
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let port = if p.port == 0 { 9090 } else { p.port };
        let listener = TcpListener::bind(SocketAddr::new(ip, port))
            .await
            .map_err(|e| {
                std::io::Error::new(e.kind(), format!("prometheus exporter on {ip}:{port}: {e}"))
            })?;
        bound.push(listener.local_addr()?);
        let sink = sink.clone();
        let process = p.process_metrics;
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let sink = sink.clone();
                let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let sink = sink.clone();
                    async move { Ok::<_, Infallible>(metrics_answer(&req, &sink, process)) }
                });
                tokio::spawn(async move {
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service);
                    let _ = conn.await;
                });
            }
        });
    }
    Ok(bound)
}

/// `GET /metrics`: the series, and the process's own with `process_metrics`.
fn metrics_answer(
    req: &Request<hyper::body::Incoming>,
    sink: &OtelSink,
    process: bool,
) -> Response<Full<Bytes>> {
    let (status, body) = if req.uri().path() == "/metrics" {
        let mut text = sink.prometheus();
        if process {
            text.push_str(&crate::process_metrics::prometheus_text());
        }
        (StatusCode::OK, text)
    } else {
        (StatusCode::NOT_FOUND, "404 page not found\n".to_owned())
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Adds `n` spans of one byte each (`x`).
    fn add(spans: &Spans, n: usize) -> usize {
        spans.add(n, |out, _| out.extend(std::iter::repeat_n(b'x', n)))
    }

    #[test]
    fn full_batches_queue_up_to_ready_then_are_dropped_and_counted() {
        let spans = Spans::default();
        assert_eq!(add(&spans, BATCH - 1), 0);
        assert!(spans.batches.lock().unwrap().ready.is_empty());
        // The request that fills the batch stays in it, and the batch is queued.
        assert_eq!(add(&spans, 3), 0);
        {
            let b = spans.batches.lock().unwrap();
            assert_eq!(b.ready.len(), 1);
            assert_eq!(b.ready[0].1, BATCH + 2);
            assert_eq!(b.ready[0].0.len(), BATCH + 2);
            assert_eq!(b.count, 0);
        }
        for _ in 1..READY {
            assert_eq!(add(&spans, BATCH), 0);
        }
        // READY batches wait: the next full one is dropped, with its spans counted.
        assert_eq!(add(&spans, BATCH + 5), BATCH + 5);
        assert_eq!(add(&spans, 7), 0);
        let taken = spans.take();
        assert_eq!(taken.len(), READY + 1);
        assert_eq!(taken.last().map(|t| t.1), Some(7));
        let sent: usize = taken.iter().map(|t| t.1).sum();
        assert_eq!(sent, BATCH + 2 + (READY - 1) * BATCH + 7);
        assert!(spans.take().is_empty());
    }

    #[test]
    fn sent_buffers_are_reused_for_the_next_batches() {
        let resource = Resource::default();
        let room = otlp::head_room(&resource);
        let spans = Spans::new(room);
        add(&spans, BATCH);
        let (mut batch, _) = spans.take().remove(0);
        assert_eq!(batch.len(), room + BATCH);
        assert!(batch.capacity() >= room + BATCH_BYTES);
        let address = batch.as_ptr();
        // As the exporter sends it: the head before the spans, the body a slice of the batch.
        let start = otlp::wrap_in_place(&resource, &mut batch, room);
        assert!(start > 0);
        let sent = Bytes::from(batch).slice(start..);
        let held = sent.clone();
        // Still held elsewhere (a send in progress): not taken back.
        spans.recycle(sent);
        assert!(spans.batches.lock().unwrap().spare.is_empty());
        spans.recycle(held);
        // The next full batch hands the filling over to the recycled buffer, emptied to its
        // room.
        add(&spans, BATCH);
        {
            let b = spans.batches.lock().unwrap();
            assert_eq!(b.filling.as_ptr(), address);
            assert_eq!(b.filling, vec![0; room]);
            assert!(b.spare.is_empty());
        }
        let (sent, n) = spans.take().remove(0);
        assert_eq!(n, BATCH);
        // Two spares at most.
        spans.recycle(Bytes::from(sent));
        spans.recycle(Bytes::from(vec![1u8; 8]));
        spans.recycle(Bytes::from(vec![1u8; 8]));
        assert_eq!(spans.batches.lock().unwrap().spare.len(), 2);
    }
}
