//! Observability from one place: each request gets its ids (request id, W3C trace context) when
//! it arrives, its backend calls are recorded as spans ([`BackendSpan`]), and when the answer
//! is ready the gateway adds `X-Request-Id` (and `Server-Timing` when asked for) and hands one
//! [`RequestRecord`] to the platform's [`crate::platform::Sink`], which is the access log line,
//! the spans and the metrics' input at once. Times come from the clock port, ids from the
//! random port: the core makes neither call itself.

pub mod metrics;
pub mod otlp;
mod overrides;
pub mod push;
mod request_id;
mod server_timing;
mod span;
mod trace_context;

use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderName, HeaderValue, Response};

use crate::config::Config;
use crate::platform::{
    EndpointOverride, HeaderReport, HeaderReports, Live, Platform, RecordParts, RequestContext,
    RequestRecord,
};

pub(crate) use overrides::{backend_override, endpoint_override};
pub(crate) use span::{BackendSpan, SpanClient, SpanSource};

/// `X-Krakend-Completed`, as a constant: compared with the answer's header names as they are.
const X_KRAKEND_COMPLETED: HeaderName = HeaderName::from_static("x-krakend-completed");

/// What the config asks of the telemetry, compiled once.
#[derive(Debug, Clone, Default)]
pub(crate) struct Telemetry {
    /// Continue the client's trace (unless `layers.global.disable_propagation`).
    continue_trace: bool,
    /// Send `traceparent` to backends (`telemetry/opentelemetry` configured).
    propagate: bool,
    /// Share of new traces sampled.
    sample_rate: f64,
    /// `layers.proxy.disable_traces`: no span for the endpoint, the backend calls are
    /// children of the server span.
    no_proxy_span: bool,
    /// `layers.backend.traces.disable_stage`: no span of their own for the backend calls.
    no_client_spans: bool,
    /// The layers whose spans report headers (`report_headers`), when one does.
    reports: Option<Arc<HeaderReports>>,
    /// `router.server_timing`.
    server_timing: bool,
}

/// One request in progress.
pub(crate) struct Started {
    /// None when nothing reads the request's ids and calls (no sink, no propagation, no
    /// `Server-Timing`).
    live: Option<Arc<Live>>,
    start_micros: u64,
    request_id: HeaderValue,
}

// === impl Telemetry ===

impl Telemetry {
    /// The telemetry `config` asks for.
    pub(crate) fn new(config: &Config) -> Self {
        let otel = config.telemetry.otel();
        let no_propagation = otel.is_some_and(|o| o.layers.global.disable_propagation);
        Self {
            continue_trace: !no_propagation,
            propagate: otel.is_some() && !no_propagation,
            sample_rate: otel.map_or(0.0, |o| o.trace_sample_rate),
            no_proxy_span: otel.is_some_and(|o| o.layers.proxy.disable_traces),
            no_client_spans: otel.is_some_and(|o| o.layers.backend.traces.disable_stage),
            reports: otel.and_then(|o| {
                // (The config put the headers it reads credentials from in each `skip_headers`.)
                let layer = |on: bool, skip: &[String]| on.then(|| HeaderReport::new(skip));
                let (global, proxy, backend) =
                    (&o.layers.global, &o.layers.proxy, &o.layers.backend.traces);
                let reports = HeaderReports {
                    server: layer(global.report_headers, &global.skip_headers),
                    proxy: layer(proxy.report_headers, &proxy.skip_headers),
                    client: layer(backend.report_headers, &backend.skip_headers),
                };
                let any =
                    reports.server.is_some() || reports.proxy.is_some() || reports.client.is_some();
                any.then(|| Arc::new(reports))
            }),
            server_timing: config.router.server_timing,
        }
    }

    /// Whether a request's times are read (by the sink's record or `Server-Timing`).
    fn timed(&self, platform: &Platform) -> bool {
        platform.sink.is_some() || self.server_timing
    }

    /// A request arrives: its ids, and the live state its backend calls record into (put in
    /// `context`).
    pub(crate) fn start(
        &self,
        platform: &Platform,
        parts: &Parts,
        context: &mut RequestContext,
    ) -> Started {
        // The clock only for a reader of the times: the record, `Server-Timing`.
        let start_micros = if self.timed(platform) {
            platform.clock.now_micros()
        } else {
            0
        };
        let random = &*platform.random;
        // The ids and the live state cost a little per request (random draws, an allocation):
        // made only when something reads them.
        let live = (platform.sink.is_some() || self.propagate || self.server_timing).then(|| {
            let ids = trace_context::ids(
                &parts.headers,
                self.continue_trace,
                self.sample_rate,
                random,
            );
            let live = Arc::new(Live::new(
                ids,
                self.propagate,
                (!self.no_client_spans, !self.no_proxy_span),
                self.reports.clone(),
                platform.sink.clone(),
            ));
            context.trace = Some(live.clone());
            live
        });
        let request_id = request_id::request_id(&parts.headers, random);
        if let Some(sink) = &platform.sink {
            sink.begin();
        }
        Started {
            live,
            start_micros,
            request_id,
        }
    }

    /// The answer is ready: `X-Request-Id` and `Server-Timing` added, the record handed to the
    /// sink.
    pub(crate) fn finish(
        &self,
        started: Started,
        config: &Config,
        platform: &Platform,
        parts: &Parts,
        context: &RequestContext,
        response: &mut Response<Bytes>,
    ) {
        let Started {
            live,
            start_micros,
            request_id,
        } = started;
        let duration_micros = if self.timed(platform) {
            platform.clock.now_micros().saturating_sub(start_micros)
        } else {
            0
        };
        let RecordParts {
            calls: backends,
            endpoint,
            proxy_headers,
            overrides,
        } = live.as_ref().map(|l| l.take()).unwrap_or_default();
        let headers = response.headers_mut();
        // Shared with the record, when there is one (a reference counted, nothing copied).
        let recorded = platform.sink.is_some().then(|| request_id.clone());
        headers.insert(request_id::X_REQUEST_ID, request_id);
        if self.server_timing {
            if let Some(value) = server_timing::header(&backends, duration_micros) {
                headers.insert(HeaderName::from_static("server-timing"), value);
            }
        }
        // A sink always has the live state (see `start`).
        let (Some(sink), Some(live), Some(request_id)) = (&platform.sink, live, recorded) else {
            return;
        };
        let path = parts.uri.path();
        let router = &config.router;
        let completed = crate::http_util::first(response.headers(), &X_KRAKEND_COMPLETED)
            .map(|v| v.as_bytes() == b"true");
        let record = Arc::new(RequestRecord {
            start_micros,
            duration_micros,
            request_id,
            trace: live.ids.clone(),
            method: crate::platform::method_name(&parts.method),
            endpoint,
            path: path.to_owned(),
            status: response.status().as_u16(),
            completed,
            bytes_out: response.body().len(),
            client: context.peer,
            backends,
            headers: (live.reports.as_ref())
                .and_then(|r| r.server.as_ref())
                .map(|r| r.pick(&parts.headers)),
            proxy_headers,
            overrides,
            log: !router.disable_access_log && !router.logger_skip_paths.iter().any(|p| p == path),
        });
        sink.request(&record);
    }
}

/// After the record: the sink's flush, handed to the request's after-response facility
/// (Workers' `ctx.wait_until`), or awaited where there is none (Lambda, before the sandbox
/// freezes).
pub(crate) async fn flush(platform: &Platform, context: &RequestContext) {
    let Some(work) = platform.sink.as_ref().and_then(|s| s.flush()) else {
        return;
    };
    match &context.defer {
        Some(defer) => defer.defer(work),
        None => work.await,
    }
}

/// The router chose `endpoint` for this request (its template goes into the record), with its
/// own telemetry options if it has them.
pub(crate) fn routed(
    context: &RequestContext,
    endpoint: &Arc<str>,
    overrides: Option<&Arc<EndpointOverride>>,
) {
    if let Some(live) = &context.trace {
        live.route(endpoint, overrides);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use super::*;
    use crate::platform::{BoxFuture, Clock, HttpClient, Sink};

    #[test]
    #[cfg(all(feature = "opentelemetry", feature = "api-keys"))]
    fn credential_headers_are_never_reported() {
        let config = crate::config::parse(
            r#"{"version": 3, "host": ["http://b"],
            "extra_config": {
              "auth/api-keys": {"identifier": "X-Key", "keys": [{"key": "k1", "roles": ["a"]}]},
              "telemetry/opentelemetry": {
                "exporters": {"otlp": [{"host": "c", "use_http": true}]},
                "layers": {"global": {"report_headers": true, "skip_headers": ["X-Skip"]}}}},
            "endpoints": [{"endpoint": "/a", "backend": [{"url_pattern": "/a"}],
              "extra_config": {"auth/api-keys": {"roles": ["a"]}}}]}"#,
        )
        .unwrap();
        let telemetry = Telemetry::new(&config);
        let reports = telemetry.reports.as_deref().unwrap();
        assert!(reports.proxy.is_none() && reports.client.is_none());
        let mut headers = http::HeaderMap::new();
        for name in ["x-key", "x-skip", "authorization", "x-team"] {
            headers.insert(HeaderName::from_static(name), HeaderValue::from_static("v"));
        }
        let picked = reports.server.as_ref().unwrap().pick(&headers);
        let names: Vec<&str> = picked.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["x-team"]);
    }

    /// Counts its draws.
    #[derive(Default)]
    struct Counted(AtomicU64);

    impl crate::platform::Random for Counted {
        fn next_u64(&self) -> u64 {
            self.0.fetch_add(1, Ordering::Relaxed) + 1
        }
    }

    /// Keeps nothing.
    struct Quiet;

    impl Sink for Quiet {
        fn request(&self, _: &Arc<RequestRecord>) {}
    }

    /// Never answers (no request here reaches a backend).
    struct NoClient;

    impl HttpClient for NoClient {
        fn send(
            &self,
            _: crate::platform::BackendRequest,
            _: usize,
        ) -> BoxFuture<
            'static,
            Result<crate::platform::BackendResponse, crate::platform::ClientError>,
        > {
            Box::pin(std::future::pending())
        }
    }

    fn platform(random: &Arc<Counted>, sink: bool) -> Platform {
        timed_platform(random, sink, Arc::new(|| 0u64))
    }

    /// [`platform`] with its clock.
    fn timed_platform(random: &Arc<Counted>, sink: bool, clock: Arc<dyn Clock>) -> Platform {
        let client: Arc<dyn HttpClient> = Arc::new(NoClient);
        let sleep = |_: Duration| -> BoxFuture<'static, ()> { Box::pin(std::future::pending()) };
        let platform = Platform::new(client, clock, Arc::new(sleep)).with_random(random.clone());
        if sink {
            platform.with_sink(Arc::new(Quiet))
        } else {
            platform
        }
    }

    #[test]
    fn ids_are_drawn_only_when_something_reads_them() {
        let parts = http::Request::get("/").body(()).unwrap().into_parts().0;
        let config = crate::config::parse(r#"{"version":3,"endpoints":[]}"#).unwrap();
        let off = Telemetry::new(&config);
        for (sink, draws, traced) in [(false, 2, false), (true, 7, true)] {
            let random = Arc::new(Counted::default());
            let mut context = RequestContext::new();
            let started = off.start(&platform(&random, sink), &parts, &mut context);
            // The request id (two draws) always; the trace and span ids only for a reader.
            assert_eq!(random.0.load(Ordering::Relaxed), draws, "sink: {sink}");
            assert_eq!(context.trace.is_some(), traced);
            assert_eq!(started.live.is_some(), traced);
            assert_eq!(started.request_id.len(), 32);
        }
    }

    #[test]
    fn the_answer_carries_the_request_id_and_the_clock_is_read_only_for_a_reader() {
        let parts = http::Request::get("/").body(()).unwrap().into_parts().0;
        let config = crate::config::parse(r#"{"version":3,"endpoints":[]}"#).unwrap();
        let off = Telemetry::new(&config);
        for (sink, reads) in [(false, 0), (true, 2)] {
            let clock_reads = Arc::new(AtomicU64::new(0));
            let counter = clock_reads.clone();
            let clock = move || -> u64 { counter.fetch_add(1, Ordering::Relaxed) };
            let platform = timed_platform(&Arc::default(), sink, Arc::new(clock));
            // (Making the platform may read it: a seed.)
            let before = clock_reads.load(Ordering::Relaxed);
            let mut context = RequestContext::new();
            let started = off.start(&platform, &parts, &mut context);
            let id = started.request_id.clone();
            let mut response = Response::new(Bytes::new());
            off.finish(started, &config, &platform, &parts, &context, &mut response);
            assert_eq!(response.headers()[request_id::X_REQUEST_ID], id);
            let read = clock_reads.load(Ordering::Relaxed) - before;
            assert_eq!(read, reads, "sink: {sink}");
        }
    }
}
