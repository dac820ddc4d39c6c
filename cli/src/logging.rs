//! Structured logs via `tracing`: text for people, JSON lines for collectors. The level comes
//! from `RUST_LOG` when set, otherwise from the command (`-d` means debug) or the config's
//! `telemetry/logging`. The access log is the core's per-request record ([`AccessLog`] is the
//! native sink): this module only decides how it is written.

use std::io::Write;
use std::sync::Arc;

use clap::ValueEnum;
use manifold_core::config::extra::Logging;
use manifold_core::platform::{push_hex, push_ip, push_millis, push_u64, Hex, Timestamps};
use manifold_core::{RequestRecord, Sink};
use tracing::info;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use crate::log_buffer;

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
pub struct Line<'a> {
    channel: &'a Channel,
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
        .with_ansi(channel.ansi())
        .with_writer(channel);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// `run`'s logging: the command line's format and `-d` win over the config's
/// `telemetry/logging` (level, `logstash` format, prefix, stdout). The access log is written
/// whatever the level, as KrakenD's (`router.disable_access_log` turns it off). Returns the
/// access log sink that writes in this format.
pub fn init_for_run(format: Option<LogFormat>, debug: bool, config: Option<&Logging>) -> AccessLog {
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
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&filter));
    let ansi = channel.ansi();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(channel.clone());
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    // The text access line is written directly, as this subscriber would print it; when
    // another subscriber was installed first, through `tracing` like every other event.
    AccessLog {
        text: (installed.is_ok() && format == LogFormat::Text).then_some(Text { ansi, channel }),
    }
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
/// The text line is written straight into a reused buffer, byte for byte what `tracing`'s
/// text formatter prints for the event (its field machinery cost more than the rest of the
/// request); JSON lines go through `tracing`.
#[derive(Debug, Clone, Default)]
pub struct AccessLog {
    text: Option<Text>,
}

/// How the text lines look and where they go (as the installed subscriber's).
#[derive(Debug, Clone)]
struct Text {
    ansi: bool,
    channel: Channel,
}

thread_local! {
    /// The line being written, reused by every request on this thread.
    /// The line being written (reused by every request on this thread) and the time of day
    /// of the last one.
    static LINE: std::cell::RefCell<(Vec<u8>, Timestamps)> =
        std::cell::RefCell::new((Vec::new(), Timestamps::default()));
}

impl Sink for AccessLog {
    fn request(&self, r: &Arc<RequestRecord>) {
        if !r.log {
            return;
        }
        let Some(text) = &self.text else {
            return traced(r);
        };
        // The event's time: when the gateway finished the request, a reading of the system
        // clock (the native clock port) microseconds before this line is written, in the
        // format tracing-subscriber's timer prints. Its own reading would be one more clock
        // call per request for the same text of a slightly later instant.
        let now = r.start_micros.saturating_add(r.duration_micros);
        let write = |line: &mut Vec<u8>, stamps: &mut Timestamps| {
            line.clear();
            text_line(line, stamps, r, text.ansi, now);
            let _ = text.channel.make_writer().write_all(line);
        };
        let channel = &text.channel;
        LINE.with(|cell| match cell.try_borrow_mut() {
            Ok(mut kept) => {
                let (line, stamps) = &mut *kept;
                // On a runtime thread the line is written where the thread's lines wait
                // (log_buffer.rs), as `Line` would put it there, without a copy.
                let appended =
                    log_buffer::append(channel.stdout, channel.prefix.as_bytes(), |out| {
                        text_line(out, stamps, r, text.ansi, now);
                    });
                if !appended {
                    write(line, stamps);
                }
                if line.capacity() > 64 * 1024 {
                    *line = Vec::new();
                }
            }
            Err(_) => write(&mut Vec::new(), &mut Timestamps::default()),
        });
    }
}

/// The access event through `tracing` (JSON, or another subscriber).
fn traced(r: &RequestRecord) {
    let calls = (!r.backends.is_empty()).then(|| r.backends_json());
    info!(
        target: "manifold::access",
        request_id = %r.request_id(),
        trace_id = %Hex(&r.trace.trace_id),
        method = %r.method,
        endpoint = r.endpoint.as_deref(),
        path = %r.path,
        status = r.status,
        duration_ms = r.duration_micros as f64 / 1000.0,
        completed = r.completed,
        bytes = r.bytes_out,
        peer = %Peer(r.client),
        backends = r.backends.len(),
        calls = calls.as_deref(),
        "request"
    );
}

/// The fixed text between the values of a line, with the ANSI styles of the subscriber's
/// `Full` format (dimmed timestamp, green level, dimmed target, italic field names) or
/// without: each piece is one copy.
struct Pieces {
    after_time: &'static str,
    request_id: &'static str,
    trace_id: &'static str,
    method: &'static str,
    endpoint: &'static str,
    path: &'static str,
    status: &'static str,
    duration_ms: &'static str,
    completed: &'static str,
    bytes: &'static str,
    peer: &'static str,
    backends: &'static str,
    calls: &'static str,
}

/// `name=` as the formatter prints a field name, styled or not.
macro_rules! pieces {
    ($($name:ident),*) => {
        (
            Pieces {
                after_time: "\x1b[0m \x1b[32m INFO\x1b[0m \x1b[2mmanifold::access\x1b[0m\x1b[2m:\x1b[0m request",
                $($name: concat!(" \x1b[3m", stringify!($name), "\x1b[0m\x1b[2m=\x1b[0m"),)*
            },
            Pieces {
                after_time: "  INFO manifold::access: request",
                $($name: concat!(" ", stringify!($name), "="),)*
            },
        )
    };
}

const PIECES: (Pieces, Pieces) = pieces!(
    request_id,
    trace_id,
    method,
    endpoint,
    path,
    status,
    duration_ms,
    completed,
    bytes,
    peer,
    backends,
    calls
);

/// The event of [`traced`] as `tracing-subscriber`'s `Full` text format prints it at `now`
/// (µs since the epoch): dimmed timestamp, green level, dimmed target, italic field names,
/// `Debug` of each value (quoted and escaped strings for `endpoint` and `calls`).
fn text_line(out: &mut Vec<u8>, stamps: &mut Timestamps, r: &RequestRecord, ansi: bool, now: u64) {
    // One copy of the line's code per style: the pieces' lengths are then constants, and
    // their copies a few moves instead of a `memcpy` call each.
    if ansi {
        styled_line::<true>(out, stamps, r, now);
    } else {
        styled_line::<false>(out, stamps, r, now);
    }
}

/// [`text_line`] with ANSI styles or without.
#[inline]
fn styled_line<const ANSI: bool>(
    out: &mut Vec<u8>,
    stamps: &mut Timestamps,
    r: &RequestRecord,
    now: u64,
) {
    let p = if ANSI { &PIECES.0 } else { &PIECES.1 };
    if ANSI {
        out.extend_from_slice(b"\x1b[2m");
    }
    stamps.push(out, now);
    out.extend_from_slice(p.after_time.as_bytes());
    out.extend_from_slice(p.request_id.as_bytes());
    out.extend_from_slice(r.request_id.as_bytes());
    out.extend_from_slice(p.trace_id.as_bytes());
    push_hex(out, &r.trace.trace_id);
    out.extend_from_slice(p.method.as_bytes());
    out.extend_from_slice(r.method.as_bytes());
    if let Some(endpoint) = &r.endpoint {
        out.extend_from_slice(p.endpoint.as_bytes());
        push_debug_str(out, endpoint);
    }
    out.extend_from_slice(p.path.as_bytes());
    out.extend_from_slice(r.path.as_bytes());
    out.extend_from_slice(p.status.as_bytes());
    push_u64(out, u64::from(r.status));
    out.extend_from_slice(p.duration_ms.as_bytes());
    push_millis(out, r.duration_micros);
    if let Some(completed) = r.completed {
        out.extend_from_slice(p.completed.as_bytes());
        out.extend_from_slice(if completed { &b"true"[..] } else { b"false" });
    }
    out.extend_from_slice(p.bytes.as_bytes());
    push_u64(out, r.bytes_out as u64);
    out.extend_from_slice(p.peer.as_bytes());
    if let Some(ip) = r.client {
        push_ip(out, ip);
    }
    out.extend_from_slice(p.backends.as_bytes());
    push_u64(out, r.backends.len() as u64);
    if !r.backends.is_empty() {
        out.extend_from_slice(p.calls.as_bytes());
        r.push_backends_debug(out);
    }
    out.push(b'\n');
}

/// `{:?}` of `s`: quoted, `"` and `\` escaped. Printable ASCII (the usual case) is copied in
/// one pass; anything else takes `str`'s own `Debug`.
fn push_debug_str(out: &mut Vec<u8>, s: &str) {
    if !s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        let _ = write!(out, "{s:?}");
        return;
    }
    out.push(b'"');
    let mut rest = s.as_bytes();
    while let Some(i) = rest.iter().position(|&b| b == b'"' || b == b'\\') {
        let (plain, tail) = rest.split_at(i);
        out.extend_from_slice(plain);
        out.push(b'\\');
        if let Some((&c, after)) = tail.split_first() {
            out.push(c);
            rest = after;
        } else {
            rest = tail;
        }
    }
    out.extend_from_slice(rest);
    out.push(b'"');
}

/// The client's address, or nothing.
struct Peer(Option<std::net::IpAddr>);

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(ip) => ip.fmt(f),
            None => Ok(()),
        }
    }
}

// === impl Channel ===

impl Channel {
    /// Whether text lines are styled: only on a terminal (a file, pipe or log collector would
    /// keep the escape codes: about a quarter of an access line's bytes), and never with
    /// `NO_COLOR` set to something.
    fn ansi(&self) -> bool {
        use std::io::IsTerminal;
        let terminal = if self.stdout {
            std::io::stdout().is_terminal()
        } else {
            std::io::stderr().is_terminal()
        };
        terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
    }
}

impl<'a> MakeWriter<'a> for Channel {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Line<'a> {
        Line {
            channel: self,
            started: false,
        }
    }
}

// === impl Line ===

impl Write for Line<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // The formatter writes a whole event at once; the prefix goes with it, so lines of
        // concurrent events stay whole. The line is batched with this thread's others when
        // the runtime runs it (log_buffer.rs).
        let prefix: &[u8] = if !self.started && !self.channel.prefix.is_empty() {
            self.channel.prefix.as_bytes()
        } else {
            b""
        };
        let space: &[u8] = if prefix.is_empty() { b"" } else { b" " };
        self.started = true;
        log_buffer::write(self.channel.stdout, &[prefix, space, buf])?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        // Lines go out in batches (log_buffer.rs); the std streams keep nothing themselves.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use manifold_core::platform::{
        push_rfc3339_micros, BackendCall, Failure, FailureKind, TraceIds,
    };
    use std::sync::Mutex;

    /// Collects what a subscriber writes.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Capture {
        type Writer = Capture;
        fn make_writer(&'a self) -> Capture {
            self.clone()
        }
    }

    fn record(full: bool) -> RequestRecord {
        let call = |i: u8, failure: Option<Failure>| BackendCall {
            headers: None,
            overrides: None,
            parent: [2; 8],
            span_id: [i; 8],
            name: "users".into(),
            host: "http://users:8080".into(),
            path: format!("/u/{i}\\\"q\""),
            method: "GET".into(),
            status: failure.is_none().then_some(200),
            failure,
            start_micros: 1,
            duration_micros: 1234,
            bytes: 42,
        };
        RequestRecord {
            headers: None,
            proxy_headers: None,
            overrides: None,
            start_micros: 1_795_651_200_123_456,
            duration_micros: if full { 1_402 } else { 3_000 },
            request_id: http::HeaderValue::from_static("071c65f66313bbc6f63f2a34e90c3000"),
            trace: TraceIds {
                trace_id: [0xab; 16],
                server_span: [1; 8],
                proxy_span: [2; 8],
                parent_span: None,
                sampled: true,
                tracestate: None,
            },
            method: "GET".into(),
            endpoint: full.then(|| "/users/{id}\"".into()),
            path: "/users/1".into(),
            status: 502,
            completed: full.then_some(false),
            bytes_out: 17,
            client: full.then(|| "::1".parse().unwrap()),
            backends: if full {
                vec![
                    call(1, None),
                    call(
                        2,
                        Some(Failure {
                            kind: FailureKind::Refused,
                            message: "tcp \"connect\" é\terror".into(),
                        }),
                    ),
                ]
            } else {
                vec![]
            },
            log: true,
        }
    }

    /// Everything after the timestamp (which `tracing` takes from the clock itself).
    fn after_time(line: &str) -> &str {
        line.split_once(' ').unwrap().1
    }

    #[test]
    fn text_lines_are_what_the_tracing_formatter_prints() {
        for ansi in [true, false] {
            for full in [true, false] {
                let r = record(full);
                let capture = Capture::default();
                let subscriber = tracing_subscriber::fmt()
                    .with_writer(capture.clone())
                    .with_ansi(ansi)
                    .finish();
                tracing::subscriber::with_default(subscriber, || traced(&r));
                let theirs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
                let mut ours = Vec::new();
                text_line(
                    &mut ours,
                    &mut Timestamps::default(),
                    &r,
                    ansi,
                    1_795_651_200_123_456,
                );
                let ours = String::from_utf8(ours).unwrap();
                assert_eq!(
                    after_time(&ours),
                    after_time(&theirs),
                    "ansi {ansi}, full {full}"
                );
                let (time, _) = theirs.split_once(' ').unwrap();
                let (our_time, _) = ours.split_once(' ').unwrap();
                assert_eq!(time.len(), our_time.len(), "{time} vs {our_time}");
            }
        }
        let mut t = Vec::new();
        push_rfc3339_micros(&mut t, 1_795_651_200_123_456);
        assert_eq!(t, b"2026-11-26T00:00:00.123456Z");
        t.clear();
        push_rfc3339_micros(&mut t, 951_825_599_000_007);
        assert_eq!(t, b"2000-02-29T11:59:59.000007Z");
    }

    #[test]
    fn debug_strings_match_std() {
        for s in [
            "",
            "plain",
            "a\"b\\c",
            "\"\"",
            "é",
            "tab\there",
            "\\",
            "x\u{7f}",
        ] {
            let mut out = Vec::new();
            push_debug_str(&mut out, s);
            assert_eq!(String::from_utf8(out).unwrap(), format!("{s:?}"));
        }
    }
}
