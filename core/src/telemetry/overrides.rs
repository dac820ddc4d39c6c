//! An endpoint's or a backend's `telemetry/opentelemetry` (the plan's, as written and resolved)
//! compiled once into what the records of its requests and calls carry.

use std::sync::Arc;

use super::metrics::pairs;
use super::otlp;
use crate::config::extra::BackendLayer;
use crate::config::{Config, Endpoint};
use crate::platform::{BackendOverride, EndpointOverride, HeaderReport};

/// `endpoint`'s own options, when it has them and the service has `telemetry/opentelemetry`.
pub(crate) fn endpoint_override(
    config: &Config,
    endpoint: &Endpoint,
) -> Option<Arc<EndpointOverride>> {
    let service = config.telemetry.otel()?;
    let own = endpoint.telemetry.as_deref()?;
    let proxy = own.proxy.as_ref().unwrap_or(&service.layers.proxy);
    let global = own.global.clone().unwrap_or_default();
    let service_labels = &service.layers.global.metrics_static_attributes;
    Some(Arc::new(EndpointOverride {
        server_attributes: otlp::statics(&global.traces_static_attributes),
        server_labels: pairs(
            service_labels
                .iter()
                .chain(&global.metrics_static_attributes),
        ),
        proxy_span: !proxy.disable_traces,
        proxy_attributes: otlp::statics(&proxy.traces_static_attributes),
        // The config added the credential headers to these `skip_headers`.
        proxy_headers: (proxy.report_headers).then(|| HeaderReport::new(&proxy.skip_headers)),
    }))
}

/// A backend's own `backend` layer (or its endpoint's), compiled.
pub(crate) fn backend_override(layer: &BackendLayer) -> Arc<BackendOverride> {
    let (traces, metrics) = (&layer.traces, &layer.metrics);
    Arc::new(BackendOverride {
        span: !traces.disable_stage,
        span_attributes: otlp::statics(&traces.static_attributes),
        headers: (traces.report_headers).then(|| HeaderReport::new(&traces.skip_headers)),
        series: !metrics.disable_stage,
        labels: pairs(&metrics.static_attributes),
    })
}
