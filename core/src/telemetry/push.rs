//! When each OTLP collector takes the metrics: every `metric_reporting_period`, or its own
//! `custom_metric_reporting_period`. Natively a timer ticks at the shortest period and asks;
//! on serverless platforms the end of each request asks; [`MetricPushes::due`] answers both.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::config::extra::{Collector, OpenTelemetry};

/// The collectors that take metrics, each with its period and last push.
#[derive(Debug)]
pub struct MetricPushes {
    targets: Vec<Target>,
}

#[derive(Debug)]
struct Target {
    to: Collector,
    /// Microseconds between two pushes.
    period: u64,
    /// The last push, µs since the epoch.
    last: AtomicU64,
}

impl MetricPushes {
    /// The collectors of `config` that take metrics (none when no layer has series), each
    /// last pushed at `last` (µs), over OTLP/gRPC where the platform can send it (`grpc`,
    /// [`crate::config::extra::Otlp::collector`]).
    pub fn new(config: &OpenTelemetry, last: u64, grpc: bool) -> Self {
        let targets = if config.metrics() {
            (config.exporters.otlp.iter())
                .filter(|o| !o.disable_metrics)
                .map(|o| Target {
                    to: o.collector(grpc, false),
                    period: o.metric_period_micros(config.metric_reporting_period),
                    last: AtomicU64::new(last),
                })
                .collect()
        } else {
            Vec::new()
        };
        Self { targets }
    }

    /// No collector takes metrics.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// The shortest period (µs; at least one second): how often a timer should ask.
    pub fn tick_micros(&self) -> u64 {
        (self.targets.iter().map(|t| t.period).min()).unwrap_or(1_000_000)
    }

    /// The collectors whose period has passed at `now` (µs), `slack` µs early included (a
    /// timer's tick lands around a multiple of the shortest period), now marked as pushed.
    pub fn due(&self, now: u64, slack: u64) -> Vec<&Collector> {
        (self.targets.iter())
            .filter(|t| {
                let last = t.last.load(Ordering::Relaxed);
                let due = now.saturating_add(slack).saturating_sub(last) >= t.period;
                if due {
                    t.last.store(now, Ordering::Relaxed);
                }
                due
            })
            .map(|t| &t.to)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::extra::Otlp;

    fn otlp(host: &str, period: u64, disable_metrics: bool) -> Otlp {
        Otlp {
            host: host.into(),
            custom_metric_reporting_period: period,
            disable_metrics,
            use_http: true,
            ..Otlp::default()
        }
    }

    #[test]
    fn each_collector_is_due_after_its_own_period() {
        let mut config = OpenTelemetry {
            metric_reporting_period: 10,
            ..OpenTelemetry::default()
        };
        config.exporters.otlp = vec![otlp("a", 0, false), otlp("b", 5, false), otlp("c", 1, true)];
        let pushes = MetricPushes::new(&config, 0, true);
        let due = |now, slack| -> Vec<String> {
            (pushes.due(now, slack).into_iter())
                .map(|c| c.url.clone())
                .collect()
        };
        assert_eq!(pushes.tick_micros(), 5_000_000);
        let s = 1_000_000;
        assert!(due(4 * s, 0).is_empty());
        assert_eq!(due(5 * s, 0), ["http://b:4318/v1/metrics"]);
        // A timer's tick a little early still counts, within the slack.
        assert_eq!(
            due(10 * s - 1000, s / 2),
            ["http://a:4318/v1/metrics", "http://b:4318/v1/metrics"]
        );
        assert!(due(10 * s, 0).is_empty());
        assert_eq!(due(15 * s, 0), ["http://b:4318/v1/metrics"]);
        // No layer with series: nobody takes metrics.
        config.layers.global.disable_metrics = true;
        config.layers.backend.metrics.disable_stage = true;
        assert!(MetricPushes::new(&config, 0, true).is_empty());
    }
}
