//! Structured logs via `tracing`, to stderr: text for people, JSON lines for collectors. The
//! level comes from `RUST_LOG` when set, otherwise from the command (`-d` means debug).

use clap::ValueEnum;
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

/// Install the global subscriber. `default_filter` applies when `RUST_LOG` is unset, e.g.
/// `"info"`. Does nothing if a subscriber is already installed (tests call this repeatedly).
pub fn init(format: LogFormat, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
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
