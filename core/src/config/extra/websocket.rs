//! `websocket` (KrakenD Enterprise's namespace, endpoint level): WebSocket upgrades on a `no-op`
//! endpoint are passed through to its one backend ("direct communication": one backend
//! connection per client connection, the bytes copied both ways, frames not parsed).
//!
//! KrakenD's other mode, multiplexing (one backend channel for every client, messages wrapped
//! in an envelope), is not implemented: `enable_direct_communication` must be `true`. Keys that
//! tune KrakenD's own message loop (buffers, pings, reconnects) have nothing to tune in a byte
//! passthrough: they are accepted with a "no effect" warning (docs/websockets.md says why each
//! is harmless). `max_message_size` is a limit Manifold would not enforce without parsing
//! frames, so it is an error rather than silently ignored.

use std::time::Duration;

use serde::Deserialize;

use super::Namespace;
use crate::config::decode::Cx;
use crate::config::fields;
use crate::config::plan::HeaderFilter;

/// The namespace's name.
pub const WEBSOCKET_NAMESPACE: &str = "websocket";

/// KrakenD's default `timeout` (its backend read timeout in direct communication).
pub const DEFAULT_WEBSOCKET_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// KrakenD's smallest accepted `timeout`.
const MIN_TIMEOUT: Duration = Duration::from_secs(60);

/// Why `enable_direct_communication` must be `true`.
const MULTIPLEXING: &str = "Manifold supports WebSockets only as direct communication (a passthrough to the endpoint's one backend): set `\"enable_direct_communication\": true` (KrakenD's multiplexing is not implemented)";

/// An endpoint's `websocket` options, as Manifold honours them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSocket {
    /// `input_headers`: which of the headers the endpoint's own `input_headers` let through
    /// reach the backend's handshake (`None`: all of those). The `Sec-WebSocket-*` handshake
    /// headers always pass.
    pub input_headers: Option<HeaderFilter>,
    /// `timeout`: the connection is closed (both sides) when the backend sent nothing for this
    /// long.
    pub idle_timeout: Duration,
    /// Where the namespace is written (message empty): a platform that cannot hold a socket
    /// (Lambda) points its error here.
    pub at: crate::config::Diagnostic,
}

/// The options as written.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RawWebSocket {
    enable_direct_communication: Option<bool>,
    input_headers: Option<Vec<String>>,
    timeout: Option<String>,
    max_message_size: Option<i64>,
}

// === impl WebSocket ===

impl Namespace for WebSocket {
    type Raw = RawWebSocket;

    /// A byte passthrough keeps no message loop of its own: nothing to buffer, ping or
    /// reconnect (the client's and the backend's own pings and closes pass through), and no
    /// multiplexing events or error envelopes.
    const NO_EFFECT: &'static [&'static str] = &[
        "backoff_strategy",
        "connect_event",
        "disconnect_event",
        "disable_otel_metrics",
        "max_retries",
        "message_buffer_size",
        "ping_period",
        "pong_wait",
        "read_buffer_size",
        "return_error_details",
        "write_buffer_size",
        "write_wait",
    ];

    fn plan(raw: RawWebSocket, cx: &mut Cx<'_, '_>) -> Option<Self> {
        let mark = cx.mark();
        match raw.enable_direct_communication {
            Some(true) => {}
            Some(false) => cx.at("enable_direct_communication").error(MULTIPLEXING),
            None => cx.error(MULTIPLEXING),
        }
        if raw.max_message_size.is_some() {
            cx.at("max_message_size").error("`max_message_size` is not enforced: Manifold passes WebSocket frames through without reading them; remove it (and limit message sizes in the backend)");
        }
        let input_headers =
            fields::header_filter(&mut cx.at("input_headers"), raw.input_headers.as_deref());
        let mut at = cx.at("timeout");
        let idle_timeout = fields::duration(&mut at, raw.timeout.as_deref());
        if let Some(t) = idle_timeout.filter(|t| *t < MIN_TIMEOUT) {
            at.error(format!(
                "`timeout` must be at least 1m (as in KrakenD), not {t:?}"
            ));
        }
        if cx.failed_since(mark) {
            return None;
        }
        Some(Self {
            input_headers,
            idle_timeout: idle_timeout.unwrap_or(DEFAULT_WEBSOCKET_TIMEOUT),
            at: cx.place(),
        })
    }
}
