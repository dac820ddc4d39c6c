//! Telemetry on Workers: ids from `Math.random()`, each logged request as one JSON object
//! through `console.log` (what Workers Logs and `wrangler tail` show as structured fields), and
//! with `telemetry/opentelemetry` the OTLP export: spans and metrics kept per isolate and sent
//! through `fetch` after the answer, in the request's `ctx.wait_until` (the core hands the
//! sink's flush to the request's after-response facility). The payloads are the core's
//! protobuf encoding (`manifold_core::otlp`), the same bytes as natively.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use manifold_core::config::capability::OPENTELEMETRY;
use manifold_core::config::extra::OpenTelemetry;
use manifold_core::metrics::Metrics;
use manifold_core::otlp::{self, Pending, Resource, Shape};
use manifold_core::push::MetricPushes;
use manifold_core::platform::{BackendCall, TraceIds};
use manifold_core::{BoxFuture, Clock, Config, HttpClient, Platform, Random, RequestRecord, Sink};
use worker::js_sys::Math;

/// Spans kept for the next flush; beyond that they are dropped (and counted).
const QUEUE: usize = 2048;
/// Largest answer read from a collector.
const MAX_ANSWER: usize = 64 * 1024;

/// Ids from `Math.random()` (two draws of 32 bits each): the runtime seeds it per isolate.
/// Not for secrets.
#[derive(Debug, Clone, Copy, Default)]
pub struct MathRandom;

impl Random for MathRandom {
    fn next_u64(&self) -> u64 {
        let draw = || (Math::random() * 4_294_967_296.0) as u64 & 0xffff_ffff;
        draw() << 32 | draw()
    }
}

/// `console.log` of one JSON object per logged request, and the OTLP export when configured.
#[derive(Default)]
pub struct ConsoleLog {
    otel: Option<Arc<Otel>>,
}

/// The isolate's spans and metrics, and where they go.
struct Otel {
    config: OpenTelemetry,
    metrics: Metrics,
    /// The spans the config's `layers` ask for.
    shape: Shape,
    queue: Mutex<Vec<Pending>>,
    dropped: AtomicU64,
    /// Spans in `queue`.
    queued: AtomicUsize,
    traces: Vec<String>,
    /// The collectors that take metrics, and when.
    pushes: MetricPushes,
    resource: Resource,
    client: Arc<dyn HttpClient>,
    clock: Arc<dyn Clock>,
}

/// `platform` with the sink `config` asks for: the console access log, and the OTLP export
/// with `telemetry/opentelemetry`.
pub fn observed(platform: Platform, config: &Config) -> Platform {
    let otel = config.telemetry.otel().map(|o| {
        let now = platform.clock.now_micros();
        for e in o.exporters.otlp.iter().filter(|e| !e.use_http) {
            // KrakenD's default transport; `fetch` cannot make gRPC calls.
            let url = e.collector(false, true).url;
            worker::console_warn!("manifold: OTLP collector `{}`: a Worker cannot send OTLP/gRPC; it gets OTLP/HTTP at {url}", e.name);
        }
        Arc::new(Otel {
            traces: (o.exporters.otlp.iter())
                .filter(|e| !e.disable_traces)
                .map(|e| e.collector(false, true).url)
                .collect(),
            // The first push after a period: an isolate lives on across requests.
            pushes: MetricPushes::new(o, now, false),
            resource: Resource {
                service_name: o.service_name.clone(),
                service_version: o.service_version.clone(),
                deploy_env: o.deploy_env.clone(),
            },
            metrics: Metrics::with_layers(
                now,
                &o.layers,
                &o.histograms,
            ),
            shape: Shape::new(&o.layers),
            queue: Mutex::new(Vec::new()),
            queued: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
            client: platform.client.clone(),
            clock: platform.clock.clone(),
            config: o.clone(),
        })
    });
    platform.with_sink(Arc::new(ConsoleLog { otel }))
}

impl std::fmt::Debug for ConsoleLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleLog")
            .field("otel", &self.otel.is_some())
            .finish()
    }
}

impl ConsoleLog {
    /// The OTLP export, if configured; a constant `None` without the `opentelemetry` feature, so
    /// that the export's code (spans, metrics, protobuf, the async `send`) is not linked.
    fn otel(&self) -> Option<&Arc<Otel>> {
        self.otel.as_ref().filter(|_| OPENTELEMETRY)
    }
}

impl Sink for ConsoleLog {
    fn begin(&self) {
        if let Some(otel) = self.otel() {
            otel.metrics.begin();
        }
    }

    fn request(&self, record: &Arc<RequestRecord>) {
        if record.log {
            worker::console_log!("{}", record.to_json());
        }
        let Some(otel) = self.otel() else { return };
        if !otel.config.reports(record.endpoint.as_deref(), &record.path) {
            otel.metrics.abandon();
            return;
        }
        otel.metrics.record(record);
        if otel.config.traces() && record.trace.sampled {
            otel.queue(Pending::Request(record.clone()));
        }
    }

    fn straggler(&self, trace: &TraceIds, call: &BackendCall) {
        let Some(otel) = self.otel() else { return };
        otel.metrics.straggler(call);
        if otel.config.traces() && trace.sampled && otel.shape.client_span(call) {
            otel.queue(Pending::Straggler(Box::new((trace.clone(), call.clone()))));
        }
    }

    fn flush(&self) -> Option<BoxFuture<'static, ()>> {
        let otel = self.otel()?.clone();
        Some(Box::pin(async move { otel.send().await }))
    }
}

impl Otel {
    /// Keeps the record (its spans are encoded when sent, after the answer).
    fn queue(&self, pending: Pending) {
        let n = pending.spans(&self.shape);
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        if self.queued.load(Ordering::Relaxed) + n > QUEUE {
            self.dropped.fetch_add(n as u64, Ordering::Relaxed);
        } else {
            self.queued.fetch_add(n, Ordering::Relaxed);
            queue.push(pending);
        }
    }

    /// Send the queued spans, and the metrics once per reporting period.
    async fn send(&self) {
        let pending = {
            let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            self.queued.store(0, Ordering::Relaxed);
            std::mem::take(&mut *queue)
        };
        if !pending.is_empty() {
            let body = otlp::encode_pending(&self.resource, &self.shape, &pending);
            for url in &self.traces {
                self.post(url, body.clone()).await;
            }
        }
        let now = self.clock.now_micros();
        let due = self.pushes.due(now, 0);
        if !due.is_empty() {
            let body = Bytes::from(self.metrics.otlp(&self.resource, now));
            for to in due {
                self.post(&to.url, body.clone()).await;
            }
        }
    }

    async fn post(&self, url: &str, body: Bytes) {
        let request = http::Request::post(url)
            .header(http::header::CONTENT_TYPE, "application/x-protobuf")
            .body(body);
        if let Ok(request) = request {
            // A collector that is down loses this batch; the answer is already sent.
            if let Err(e) = self.client.send(request, MAX_ANSWER).await {
                worker::console_error!("manifold: OTLP export to {url} failed: {e}");
            }
        }
    }
}
