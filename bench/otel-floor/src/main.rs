//! The telemetry of scenario a (one backend) or b (three backends) for N requests, made with the
//! official OpenTelemetry Rust SDK and tracing-subscriber as a gateway instrumented with them
//! would make it: per request a server span, a proxy span and a client span per backend call
//! (with the attributes Manifold's spans carry, `traceparent` injected into each backend
//! request), the HTTP server and client duration and body-size histograms and the active
//! requests counter, and one text access line. Spans leave through the SDK's batch processor
//! and metrics through its periodic reader; both exporters encode their batch as
//! opentelemetry-otlp's HTTP exporter does (opentelemetry-proto's transform, prost) and drop
//! it. No network, no HTTP: what is counted is the telemetry alone, so it is a floor for the
//! instructions Manifold's own telemetry adds (`bench/telemetry.py --instructions N --floor`).
//!
//! Usage: bench-otel-floor SCENARIO MODE REQUESTS LOG_PATH  (SCENARIO a|b, MODE logs|tracing)

use std::io::{BufWriter, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use opentelemetry::metrics::{Histogram, MeterProvider as _, UpDownCounter};
use opentelemetry::propagation::{Injector, TextMapPropagator};
use opentelemetry::trace::{
    Span as _, SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter,
};
use opentelemetry_sdk::Resource;
use prost::Message as _;

// The same allocator as `manifold run`: the floor should not pay for glibc's malloc.
#[global_allocator]
static GLOBAL: manifold_alloc::Mimalloc = manifold_alloc::Mimalloc;

/// Bytes encoded, so that the encoding cannot be optimised away and the run can be checked.
static ENCODED: AtomicUsize = AtomicUsize::new(0);

/// Spans exported: all of them must be, or the floor would count less work than it claims.
static SPANS: AtomicUsize = AtomicUsize::new(0);

/// opentelemetry-otlp's HTTP span exporter up to the POST: the batch as an
/// `ExportTraceServiceRequest`, encoded with prost.
#[derive(Debug)]
struct ProtobufSpans {
    resource: ResourceAttributesWithSchema,
}

impl SpanExporter for ProtobufSpans {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        SPANS.fetch_add(batch.len(), Ordering::Relaxed);
        let request = ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(batch, &self.resource),
        };
        ENCODED.fetch_add(request.encode_to_vec().len(), Ordering::Relaxed);
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = resource.into();
    }
}

/// opentelemetry-otlp's HTTP metric exporter up to the POST.
struct ProtobufMetrics;

impl PushMetricExporter for ProtobufMetrics {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let request = ExportMetricsServiceRequest::from(metrics);
        ENCODED.fetch_add(request.encode_to_vec().len(), Ordering::Relaxed);
        Ok(())
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }

    fn temporality(&self) -> Temporality {
        Temporality::Cumulative
    }
}

/// `traceparent` into the backend request's headers.
struct Headers<'a>(&'a mut http::HeaderMap);

impl Injector for Headers<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// One backend call as the access line's `calls` field lists it.
#[derive(serde::Serialize)]
struct Call<'a> {
    host: &'a str,
    method: &'a str,
    status: u16,
    duration_ms: f64,
    bytes: u64,
}

/// The instruments a request updates.
struct Instruments {
    active: UpDownCounter<i64>,
    server_duration: Histogram<f64>,
    server_size: Histogram<u64>,
    client_duration: Histogram<f64>,
    client_size: Histogram<u64>,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, scenario, mode, requests, log] = &args[..] else {
        eprintln!("usage: bench-otel-floor a|b logs|tracing REQUESTS LOG_PATH");
        std::process::exit(2);
    };
    let backends: &[&str] = match scenario.as_str() {
        "a" => &["127.0.0.1:8081"],
        "b" => &["127.0.0.1:8081", "127.0.0.1:8082", "127.0.0.1:8083"],
        _ => panic!("scenario a or b"),
    };
    let tracing_on = match mode.as_str() {
        "logs" => false,
        "tracing" => true,
        _ => panic!("mode logs or tracing"),
    };
    let requests: u64 = requests.parse().expect("REQUESTS");
    let spans = if tracing_on {
        requests as usize * (2 + backends.len())
    } else {
        0
    };
    let file = std::fs::File::create(log).expect("LOG_PATH");
    // Lines leave in batches (64 KB writes), as Manifold's access log writes several at once.
    let writer = Mutex::new(BufWriter::with_capacity(64 * 1024, file));
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .init();

    let resource = Resource::builder()
        .with_service_name("manifold-bench")
        .build();
    let traces = SdkTracerProvider::builder()
        .with_resource(resource.clone())
        .with_span_processor(
            BatchSpanProcessor::builder(ProtobufSpans {
                resource: (&resource).into(),
            })
            // Batches of 2,048 spans as Manifold's; a queue that holds the whole run, so
            // that none is dropped however far the loop runs ahead of the exporter.
            .with_batch_config(
                BatchConfigBuilder::default()
                    .with_max_export_batch_size(2048)
                    .with_max_queue_size(spans.max(2048))
                    .build(),
            )
            .build(),
        )
        .build();
    let metrics = SdkMeterProvider::builder()
        .with_resource(resource)
        .with_reader(
            PeriodicReader::builder(ProtobufMetrics)
                .with_interval(Duration::from_secs(30))
                .build(),
        )
        .build();
    let tracer = traces.tracer("manifold");
    let meter = metrics.meter("manifold");
    let instruments = Instruments {
        active: meter
            .i64_up_down_counter("http.server.active_requests")
            .build(),
        server_duration: meter
            .f64_histogram("http.server.request.duration")
            .with_unit("s")
            .build(),
        server_size: meter
            .u64_histogram("http.server.response.body.size")
            .with_unit("By")
            .build(),
        client_duration: meter
            .f64_histogram("http.client.request.duration")
            .with_unit("s")
            .build(),
        client_size: meter
            .u64_histogram("http.client.response.body.size")
            .with_unit("By")
            .build(),
    };
    let propagator = TraceContextPropagator::new();

    for n in 0..requests {
        let started = Instant::now();
        let route = scenario_route(scenario);
        let path = format!("{route}?n={n}");
        let request_id = format!("{:032x}", u128::from(n) * 0x9e37_79b9_7f4a_7c15);
        let mut calls = Vec::with_capacity(backends.len());
        let trace_id;
        if tracing_on {
            instruments
                .active
                .add(1, &[KeyValue::new("http.request.method", "GET")]);
            let server = tracer
                .span_builder(format!("GET {route}"))
                .with_kind(SpanKind::Server)
                .with_attributes([
                    KeyValue::new("http.request.method", "GET"),
                    KeyValue::new("url.path", path.clone()),
                    KeyValue::new("manifold.request_id", request_id.clone()),
                    KeyValue::new("http.route", route),
                    KeyValue::new("client.address", "127.0.0.1"),
                ])
                .start(&tracer);
            trace_id = server.span_context().trace_id().to_string();
            let server_cx = Context::current_with_span(server);
            let proxy = tracer
                .span_builder(format!("proxy {route}"))
                .with_kind(SpanKind::Internal)
                .with_attributes([
                    KeyValue::new("http.route", route),
                    KeyValue::new("manifold.backends", backends.len() as i64),
                ])
                .start_with_context(&tracer, &server_cx);
            let proxy_cx = server_cx.with_span(proxy);
            for (i, host) in backends.iter().enumerate() {
                let call_started = Instant::now();
                let mut client = tracer
                    .span_builder("GET")
                    .with_kind(SpanKind::Client)
                    .with_attributes([
                        KeyValue::new("http.request.method", "GET"),
                        KeyValue::new("server.address", *host),
                        KeyValue::new("url.full", format!("http://{host}/data/{i}.json")),
                        KeyValue::new("manifold.backend", format!("backend{i}")),
                    ])
                    .start_with_context(&tracer, &proxy_cx);
                let mut headers = http::HeaderMap::new();
                let call_cx = proxy_cx.with_remote_span_context(client.span_context().clone());
                propagator.inject_context(&call_cx, &mut Headers(&mut headers));
                std::hint::black_box(&headers);
                let bytes = 180 + i as u64;
                client.set_attribute(KeyValue::new("http.response.body.size", bytes as i64));
                client.set_attribute(KeyValue::new("http.response.status_code", 200));
                client.end();
                let elapsed = call_started.elapsed();
                let attrs = [
                    KeyValue::new("server.address", *host),
                    KeyValue::new("http.request.method", "GET"),
                    KeyValue::new("http.response.status_code", 200),
                ];
                instruments
                    .client_duration
                    .record(elapsed.as_secs_f64(), &attrs);
                instruments.client_size.record(bytes, &attrs);
                calls.push(Call {
                    host,
                    method: "GET",
                    status: 200,
                    duration_ms: elapsed.as_secs_f64() * 1e3,
                    bytes,
                });
            }
            let proxy = proxy_cx.span();
            proxy.set_attribute(KeyValue::new("manifold.completed", "true"));
            proxy.end();
            let server = server_cx.span();
            server.set_attribute(KeyValue::new("http.response.status_code", 200));
            server.set_status(Status::Ok);
            server.end();
            let attrs = [
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new("http.route", route),
                KeyValue::new("http.response.status_code", 200),
            ];
            instruments
                .server_duration
                .record(started.elapsed().as_secs_f64(), &attrs);
            instruments.server_size.record(600, &attrs);
            instruments
                .active
                .add(-1, &[KeyValue::new("http.request.method", "GET")]);
        } else {
            // The log line's trace id is still a fresh one (Manifold logs one in every mode).
            trace_id = format!("{:032x}", u128::from(n).wrapping_mul(0x2545_f491_4f6c_dd1d));
            for (i, host) in backends.iter().enumerate() {
                let call_started = Instant::now();
                calls.push(Call {
                    host,
                    method: "GET",
                    status: 200,
                    duration_ms: call_started.elapsed().as_secs_f64() * 1e3,
                    bytes: 180 + i as u64,
                });
            }
        }
        tracing::info!(
            target: "manifold::access",
            request_id = %request_id,
            trace_id = %trace_id,
            method = "GET",
            endpoint = ?route,
            path = %path,
            status = 200,
            duration_ms = started.elapsed().as_secs_f64() * 1e3,
            completed = true,
            bytes = 600,
            peer = "127.0.0.1",
            backends = backends.len(),
            calls = %serde_json::to_string(&calls).unwrap_or_default(),
        );
    }
    let _ = traces.shutdown();
    let _ = metrics.shutdown();
    // tracing-subscriber's global writer is never dropped: the lines left in its buffer stay
    // unwritten, at most 64 KB, as a gateway's would until its next write.
    let _ = std::io::stdout().flush();
    let exported = SPANS.load(Ordering::Relaxed);
    println!(
        "{exported} spans, {} bytes encoded",
        ENCODED.load(Ordering::Relaxed)
    );
    if exported != spans {
        eprintln!("{spans} spans made, {exported} exported");
        std::process::exit(1);
    }
}

/// The endpoint of bench.py's scenario.
fn scenario_route(scenario: &str) -> &'static str {
    if scenario == "a" {
        "/a"
    } else {
        "/b"
    }
}
