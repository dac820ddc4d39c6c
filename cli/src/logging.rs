//! Structured logs via `tracing`: text for people, JSON lines for collectors. The level comes
//! from `RUST_LOG` when set, otherwise from the command (`-d` means debug) or the config's
//! `telemetry/logging`. The access log is the core's per-request record ([`AccessLog`] is the
//! native sink): this module only decides how it is written.

use std::io::Write;
use std::sync::Arc;

use clap::ValueEnum;
use manifold_core::config::extra::Logging;
use manifold_core::platform::hex;
use manifold_core::{RequestRecord, Sink};
use tracing::info;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// The log line format (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Where the lines go and what starts each one (`telemetry/logging`'s `stdout` and `prefix`).
#[derive(Debug, Clone, Default)]
pub struct Channel {
    /// stdout instead of stderr.
    pub stdout: bool,
    /// Written before each line.
    pub prefix: Arc<str>,
}

/// One log line being written: the prefix first.
#[derive(Debug)]
pub struct Line {
    channel: Channel,
    started: bool,
}

/// Install the global subscriber. `default_filter` applies when `RUST_LOG` is unset, e.g.
/// `"info"`. Does nothing if a subscriber is already installed (tests call this repeatedly).
pub fn init(format: LogFormat, default_filter: &str) {
    init_on(format, default_filter, Channel::default());
}

/// [`init`], writing to `channel`.
pub fn init_on(format: LogFormat, default_filter: &str, channel: Channel) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(channel);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// `run`'s logging: the command line's format and `-d` win over the config's
/// `telemetry/logging` (level, `logstash` format, prefix, stdout). The access log is written
/// whatever the level, as KrakenD's (`router.disable_access_log` turns it off).
pub fn init_for_run(format: Option<LogFormat>, debug: bool, config: Option<&Logging>) {
    let json = config.is_some_and(Logging::json);
    let format = format.unwrap_or(if json {
        LogFormat::Json
    } else {
        LogFormat::Text
    });
    let filter = match (debug, config) {
        (false, Some(logging)) => format!("{},manifold::access=info", logging.filter()),
        _ => run_filter(debug).to_owned(),
    };
    // A prefix would make a JSON line unreadable: text only.
    let prefix = config.filter(|_| format == LogFormat::Text);
    let channel = Channel {
        stdout: config.is_some_and(|l| l.stdout),
        prefix: prefix.map_or("", |l| l.prefix.as_str()).into(),
    };
    init_on(format, &filter, channel);
}

/// The default filter for `run`: info, or debug with `-d` (minus the HTTP/2 and TLS internals,
/// which drown everything else).
pub fn run_filter(debug: bool) -> &'static str {
    if debug {
        "debug,h2=info,rustls=info,hyper_util=info"
    } else {
        "info"
    }
}

/// The native access log: each logged request as one `manifold::access` event, in the
/// subscriber's format (text or JSON), with the backend calls as a JSON array in `calls`.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccessLog;

impl Sink for AccessLog {
    fn request(&self, r: &RequestRecord) {
        if !r.log {
            return;
        }
        let peer = r.client.map(|ip| ip.to_string()).unwrap_or_default();
        let calls = (!r.backends.is_empty()).then(|| r.backends_json());
        info!(
            target: "manifold::access",
            request_id = %r.request_id,
            trace_id = %hex(&r.trace.trace_id),
            method = %r.method,
            endpoint = r.endpoint.as_deref(),
            path = %r.path,
            status = r.status,
            duration_ms = r.duration_micros as f64 / 1000.0,
            completed = r.completed,
            bytes = r.bytes_out,
            peer = %peer,
            backends = r.backends.len(),
            calls = calls.as_deref(),
            "request"
        );
    }
}

// === impl Channel ===

impl<'a> MakeWriter<'a> for Channel {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line {
            channel: self.clone(),
            started: false,
        }
    }
}

// === impl Line ===

impl Write for Line {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // The formatter writes a whole event at once; the prefix goes in the same write, so
        // lines of concurrent events stay whole.
        let mut bytes = Vec::with_capacity(self.channel.prefix.len() + 1 + buf.len());
        if !self.started && !self.channel.prefix.is_empty() {
            bytes.extend_from_slice(self.channel.prefix.as_bytes());
            bytes.push(b' ');
        }
        self.started = true;
        bytes.extend_from_slice(buf);
        if self.channel.stdout {
            std::io::stdout().lock().write_all(&bytes)?;
        } else {
            std::io::stderr().lock().write_all(&bytes)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.channel.stdout {
            std::io::stdout().flush()
        } else {
            std::io::stderr().flush()
        }
    }
}
