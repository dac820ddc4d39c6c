//! Request smuggling (issue 16, point 2): every case of aws/http-desync-guardian's corpus and
//! a set of hostile requests of our own, sent raw to the real `manifold run` with the most
//! permissive config there is (one wildcard `no-op` endpoint forwarding every header and query
//! string) in front of a raw TCP backend that records exactly what it receives.
//!
//! The rules (docs/security.md, "HTTP/1.1 framing"):
//! - `Severe`: rejected (4xx/5xx, or the connection closed without an answer), the connection
//!   closed afterwards, nothing forwarded.
//! - `Ambiguous`: rejected as above, or forwarded as exactly one request with clean framing.
//! - `Compliant`: served, each request forwarded once with its body intact, and the connection
//!   still in step (a follow-up request on it gets its own answer).
//! - `Acceptable`: either of the two above.
//!
//! Every request the backend receives, in every case, must carry one framing (`Content-Length`
//! or `Transfer-Encoding: chunked`, once), clean header names and values, and CRLF line ends.
//! A case may only deviate from its tier through [`DEVIATIONS`], which gives the RFC reason and
//! is asserted as well (a deviation that stops happening fails the test too).
//!
//! The corpus is read at test time from `$MANIFOLD_TEST_VECTORS/http-desync-guardian/`
//! (default: `../shared/test-vectors` beside the checkout), never copied into the project.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::timeout;
use yaml_rust2::{Yaml, YamlLoader};

const BIN: &str = env!("CARGO_BIN_EXE_manifold");
/// Longer than any answer may take: a hang is reported instead of blocking CI.
const WAIT: Duration = Duration::from_secs(10);
/// The body every backend answer carries (so a gateway answer can be told from `/__health`'s).
const BACKEND_BODY: &[u8] = br#"{"backend":true}"#;
/// Sent on the case's connection after its answers: proves the connection is still in step
/// (or closed). `Connection: close` so that reading to the end is bounded.
const PROBE: &[u8] = b"GET /__health HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n";
/// The files of the corpus and the tier each holds.
const CORPUS: &[(&str, Tier)] = &[
    ("severe.yaml", Tier::Severe),
    ("ambiguous.yaml", Tier::Ambiguous),
    ("rfc-compliant.yaml", Tier::Compliant),
    ("acceptable.yaml", Tier::Acceptable),
];

/// Cases whose outcome differs from their tier, always towards refusing: the case id, the
/// status it gets, and why that is right.
const DEVIATIONS: &[(&str, u16, &str)] = &[
    (
        "rfc-compliant.yaml: Different Transfer-Encoding headers",
        501,
        "gzip/deflate/compress/identity transfer codings are not implemented; RFC 9112 §6.1: \
         a server that receives a transfer coding it does not understand SHOULD answer 501 \
         (forwarding the still-coded body as if it were plain would change its meaning)",
    ),
    (
        "rfc-compliant.yaml: Different Transfer-Encoding headers combined",
        501,
        "same as above: only `chunked` is implemented (RFC 9112 §6.1, 501)",
    ),
    (
        "rfc-compliant.yaml: Transfer-Encoding with a param: chunked;custom_param",
        400,
        "hyper refuses it while parsing (it only recognises a final coding spelled exactly \
         `chunked`), before Manifold sees the request, and cannot be configured otherwise. \
         RFC 9112 §7 defines no parameters for `chunked`, and the other codings of the case \
         (gzip, deflate) would get 501 anyway (RFC 9112 §6.1)",
    ),
    (
        "rfc-compliant.yaml: Empty URI",
        400,
        "an empty request-target is not an origin-form (RFC 9112 §3.2.1: absolute-path, which \
         starts with `/`); hyper refuses it",
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Tier {
    Severe,
    Ambiguous,
    Acceptable,
    Compliant,
}

/// One request inside a case's bytes, as the backend must receive it when it is served.
#[derive(Debug, Clone)]
struct Expect {
    /// Request-target at the backend, when it is predictable.
    target: Option<String>,
    /// The body after de-chunking.
    body: Vec<u8>,
    /// A HEAD request (its answer has no body).
    head: bool,
}

/// A raw request (or several, pipelined) and what it must lead to.
#[derive(Debug)]
struct Case {
    id: String,
    tier: Tier,
    raw: Vec<u8>,
    requests: Vec<Expect>,
    /// Shut the sending side after `raw` (a body that never completes).
    half_close: bool,
}

// === the corpus ===

fn vectors_dir() -> PathBuf {
    std::env::var_os("MANIFOLD_TEST_VECTORS").map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/test-vectors"
            ))
        },
        PathBuf::from,
    )
}

fn scalar(y: &Yaml) -> String {
    match y {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        Yaml::Null | Yaml::BadValue => String::new(),
        other => panic!("not a scalar: {other:?}"),
    }
}

/// The corpus cases of one file; each header is sent byte for byte, `Host` added when the case
/// has none, and a body that matches the case's own framing: a chunked body when it has a
/// `Transfer-Encoding` header (hyper's precedence: it overrides `Content-Length`), otherwise
/// as many bytes as its first all-digit `Content-Length` says.
fn corpus_cases(file: &str, tier: Tier, text: &str) -> Vec<Case> {
    let docs = YamlLoader::load_from_str(text).unwrap_or_else(|e| panic!("{file}: {e}"));
    let list = docs[0]
        .as_vec()
        .unwrap_or_else(|| panic!("{file}: not a list"));
    list.iter()
        .map(|case| {
            let name = scalar(&case["name"]);
            let expected = scalar(&case["expected"]["tier"]);
            assert_eq!(expected, format!("{tier:?}"), "{file}: {name}");
            let (method, uri, version) = (
                scalar(&case["method"]),
                scalar(&case["uri"]),
                scalar(&case["version"]),
            );
            let headers: Vec<(String, String)> = case["headers"]
                .as_vec()
                .map(|hs| {
                    hs.iter()
                        .map(|h| (scalar(&h["name"]), scalar(&h["value"])))
                        .collect()
                })
                .unwrap_or_default();
            let mut raw = format!("{method} {uri}");
            if !version.is_empty() {
                raw.push(' ');
                raw.push_str(&version);
            }
            raw.push_str("\r\n");
            if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
                raw.push_str("Host: corpus.test\r\n");
            }
            for (n, v) in &headers {
                raw.push_str(&format!("{n}: {v}\r\n"));
            }
            raw.push_str("\r\n");
            let te = headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"));
            let cl = headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .find_map(|(_, v)| {
                    v.parse::<usize>()
                        .ok()
                        .filter(|_| v.bytes().all(|b| b.is_ascii_digit()))
                });
            let body = if te {
                raw.push_str("5\r\nhello\r\n0\r\n\r\n");
                b"hello".to_vec()
            } else if let Some(n) = cl {
                let body = vec![b'x'; n];
                raw.push_str(std::str::from_utf8(&body).unwrap());
                body
            } else {
                Vec::new()
            };
            // Only plain paths are predictable at the backend.
            let target = (uri.starts_with('/')
                && uri.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'/'))
            .then(|| uri.clone());
            Case {
                id: format!("{file}: {name}"),
                tier,
                raw: raw.into_bytes(),
                requests: vec![Expect {
                    target,
                    body,
                    head: method == "HEAD",
                }],
                half_close: false,
            }
        })
        .collect()
}

// === our own cases ===

fn own(name: &str, tier: Tier, raw: &[u8], requests: &[(&str, &[u8])]) -> Case {
    Case {
        id: format!("own: {name}"),
        tier,
        raw: raw.to_vec(),
        requests: requests
            .iter()
            .map(|(target, body)| Expect {
                target: Some((*target).to_owned()),
                body: body.to_vec(),
                head: false,
            })
            .collect(),
        half_close: false,
    }
}

/// Requests beyond the corpus (issue 16): obs-fold, bare LF, NUL/CTL in names and values,
/// oversized chunk sizes, chunk extensions, `Content-Length` with signs/spaces/commas,
/// HTTP/1.0 with `Transfer-Encoding`, and pipelined requests after a rejected one.
#[rustfmt::skip] // A table: one case per line.
fn own_cases() -> Vec<Case> {
    use Tier::*;
    let hello: &[(&str, &[u8])] = &[("/own/a", b"hello")];
    let empty: &[(&str, &[u8])] = &[("/own/a", b"")];
    let te = "POST /own/a HTTP/1.1\r\nHost: own.test\r\nTransfer-Encoding: chunked\r\n\r\n";
    let chunked = |chunks: &str| format!("{te}{chunks}").into_bytes();
    let cl = |value: &str| {
        format!("POST /own/a HTTP/1.1\r\nHost: own.test\r\nContent-Length: {value}\r\n\r\nhello")
            .into_bytes()
    };
    let header = |line: &[u8]| {
        let mut raw = b"GET /own/a HTTP/1.1\r\nHost: own.test\r\n".to_vec();
        raw.extend_from_slice(line);
        raw.extend_from_slice(b"\r\n\r\n");
        raw
    };
    let big_ext = format!("{te}5;ext={}\r\nhello\r\n0\r\n\r\n", "e".repeat(64 * 1024));
    vec![
        // obs-fold: RFC 9112 §5.2, reject or replace by SP; a folded framing header is the
        // classic way to hide one from a parser that does not fold.
        own("obs-fold in a custom header", Severe,
            b"POST /own/a HTTP/1.1\r\nHost: own.test\r\nX-Folded: a\r\n b\r\nContent-Length: 5\r\n\r\nhello", hello),
        own("obs-fold continuing Transfer-Encoding", Severe,
            b"POST /own/a HTTP/1.1\r\nHost: own.test\r\nTransfer-Encoding: identity\r\n chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", hello),
        own("obs-fold carrying the Content-Length value", Severe, &cl("\r\n\t5"), hello),
        // Bare LF: RFC 9112 §2.2 lets a recipient accept LF as the line end of the start-line
        // and fields (then it is forwarded with CRLF); never inside chunked framing (§7.1).
        own("bare LF line ends in the head", Ambiguous, b"GET /own/a HTTP/1.1\nHost: own.test\n\n", empty),
        own("one bare LF line end among CRLF", Ambiguous, b"GET /own/a HTTP/1.1\r\nHost: own.test\nX-A: b\r\n\r\n", empty),
        own("bare LF after a chunk size", Severe, &chunked("5\nhello\r\n0\r\n\r\n"), hello),
        own("bare LF after chunk data", Severe, &chunked("5\r\nhello\n0\r\n\r\n"), hello),
        own("bare LF after the last chunk", Severe, &chunked("5\r\nhello\r\n0\n\r\n"), hello),
        own("bare CR before a line end", Severe, &header(b"X-A: b\r"), empty),
        // NUL and other controls (RFC 9110 §5.5: CR, LF, NUL in a value MUST be rejected or
        // replaced; other controls are outside field-vchar; a name is a token, §5.1).
        own("NUL inside a header name", Severe, &header(b"X-A\x00B: c"), empty),
        own("NUL inside Content-Length", Severe, &cl("5\x00"), hello),
        own("DEL in a header value", Severe, &header(b"X-A: b\x7fc"), empty),
        own("ESC in a header value", Severe, &header(b"X-A: b\x1bc"), empty),
        own("vertical tab in a header value", Severe, &header(b"X-A: b\x0bc"), empty),
        own("form feed before a Transfer-Encoding value", Severe,
            b"POST /own/a HTTP/1.1\r\nHost: own.test\r\nTransfer-Encoding: \x0cchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", hello),
        own("DEL inside a header name", Ambiguous, &header(b"X-A\x7fB: c"), empty),
        own("control byte inside a header name", Ambiguous, &header(b"X-\x01A: c"), empty),
        own("space inside a header name", Ambiguous, &header(b"X A: c"), empty),
        // Chunk sizes.
        own("chunk size overflowing 64 bits", Severe, &chunked("1ffffffffffffffff\r\nhello\r\n0\r\n\r\n"), hello),
        Case {
            half_close: true,
            ..own("chunk size of 1 GiB (over the body limit), then the client stops", Severe, &chunked("40000000\r\nhello"), hello)
        },
        own("chunk size with a 0x prefix", Severe, &chunked("0x5\r\nhello\r\n0\r\n\r\n"), hello),
        own("chunk size with a sign", Severe, &chunked("+5\r\nhello\r\n0\r\n\r\n"), hello),
        own("chunk size with a space before it", Severe, &chunked(" 5\r\nhello\r\n0\r\n\r\n"), hello),
        own("chunk shorter than its size", Severe, &chunked("6\r\nhello\r\n0\r\n\r\n"), hello),
        // Chunk extensions (RFC 9112 §7.1.1: a recipient ignores unknown ones).
        own("chunk extension", Compliant, &chunked("5;name=value\r\nhello\r\n0\r\n\r\n"), hello),
        own("quoted chunk extension", Compliant, &chunked("5;name=\"a b\"\r\nhello\r\n0;last\r\n\r\n"), hello),
        own("chunk extension with a bare LF", Severe, &chunked("5;ext\nhello\r\n0\r\n\r\n"), hello),
        own("64 KiB of chunk extensions", Ambiguous, big_ext.as_bytes(), hello),
        own("trailer fields after the last chunk", Compliant, &chunked("5\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n"), hello),
        // Content-Length spellings: 1*DIGIT only (RFC 9112 §6.2), OWS around it is not part of
        // the value (RFC 9110 §5.5); a list of identical values MAY be accepted (§8.6).
        own("Content-Length with a plus sign", Severe, &cl("+5"), hello),
        own("Content-Length with a minus sign", Severe, &cl("-5"), hello),
        own("Content-Length with a space inside", Severe, &cl("5 5"), hello),
        own("Content-Length list of different values", Severe, &cl("5, 6"), hello),
        own("Content-Length in hex", Severe, &cl("0x5"), hello),
        own("Content-Length empty", Severe, &cl(""), hello),
        own("Content-Length with OWS around it", Compliant, &cl("  5\t"), hello),
        own("Content-Length with leading zeros", Compliant, &cl("005"), hello),
        own("Content-Length list of identical values", Ambiguous, &cl("5, 5"), hello),
        own("Content-Length twice, identical", Ambiguous,
            b"POST /own/a HTTP/1.1\r\nHost: own.test\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", hello),
        // Framing headers under another spelling: refused, never forwarded (a backend that
        // folds `_` into `-` would read them as framing).
        own("Transfer_Encoding with a Content-Length", Ambiguous,
            b"POST /own/a HTTP/1.1\r\nHost: own.test\r\nTransfer_Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello", hello),
        own("Content.Length beside Content-Length", Ambiguous,
            b"POST /own/a HTTP/1.1\r\nHost: own.test\r\nContent.Length: 0\r\nContent-Length: 5\r\n\r\nhello", hello),
        own("TransferEncoding without a delimiter", Ambiguous, &header(b"TransferEncoding: chunked"), empty),
        // Transfer-Encoding spellings.
        own("Transfer-Encoding chunked twice", Severe,
            b"POST /own/a HTTP/1.1\r\nHost: own.test\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", hello),
        own("Transfer-Encoding chunked, chunked", Severe,
            b"POST /own/a HTTP/1.1\r\nHost: own.test\r\nTransfer-Encoding: chunked, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", hello),
        own("Transfer-Encoding CHUNKED in capitals", Compliant,
            b"POST /own/a HTTP/1.1\r\nHost: own.test\r\nTransfer-Encoding: CHUNKED\r\n\r\n5\r\nhello\r\n0\r\n\r\n", hello),
        own("Transfer-Encoding gzip, chunked", Ambiguous,
            b"POST /own/a HTTP/1.1\r\nHost: own.test\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", hello),
        own("Transfer-Encoding chunked then Content-Length", Ambiguous,
            b"POST /own/a HTTP/1.1\r\nHost: own.test\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n5\r\nhello\r\n0\r\n\r\n", hello),
        // HTTP/1.0 with Transfer-Encoding: RFC 9112 §6.1, the framing is faulty even with a
        // Content-Length.
        own("HTTP/1.0 with Transfer-Encoding and Content-Length", Severe,
            b"POST /own/a HTTP/1.0\r\nHost: own.test\r\nTransfer-Encoding: chunked\r\nContent-Length: 15\r\n\r\n5\r\nhello\r\n0\r\n\r\n", hello),
        own("HTTP/1.0 with Transfer-Encoding", Severe,
            b"POST /own/a HTTP/1.0\r\nHost: own.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", hello),
        // Pipelining: what follows a refused request is never read; what follows an accepted
        // one is answered in order.
        own("pipelined request after a duplicate-chunked one", Severe,
            b"POST /own/a HTTP/1.1\r\nHost: own.test\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /own/after-reject HTTP/1.1\r\nHost: own.test\r\n\r\n",
            &[("/own/a", b"hello"), ("/own/after-reject", b"")]),
        own("pipelined request after a Transfer_Encoding one", Severe,
            b"POST /own/a HTTP/1.1\r\nHost: own.test\r\nTransfer_Encoding: chunked\r\nContent-Length: 5\r\n\r\nhelloGET /own/after-reject HTTP/1.1\r\nHost: own.test\r\n\r\n",
            &[("/own/a", b"hello"), ("/own/after-reject", b"")]),
        own("pipelined request after a signed Content-Length", Severe,
            b"POST /own/a HTTP/1.1\r\nHost: own.test\r\nContent-Length: +5\r\n\r\nhelloGET /own/after-reject HTTP/1.1\r\nHost: own.test\r\n\r\n",
            &[("/own/a", b"hello"), ("/own/after-reject", b"")]),
        own("request smuggled after a TE+CL body", Ambiguous,
            b"POST /own/a HTTP/1.1\r\nHost: own.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /own/smuggled HTTP/1.1\r\nHost: own.test\r\n\r\n",
            &[("/own/a", b"hello"), ("/own/smuggled", b"")]),
        own("two pipelined requests", Compliant,
            b"POST /own/a HTTP/1.1\r\nHost: own.test\r\nContent-Length: 5\r\n\r\nhelloGET /own/b HTTP/1.1\r\nHost: own.test\r\n\r\n",
            &[("/own/a", b"hello"), ("/own/b", b"")]),
    ]
}

// === the wire ===

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A socket with a read buffer.
struct Wire {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Wire {
    fn new(stream: TcpStream) -> Self {
        Wire {
            stream,
            buf: Vec::new(),
        }
    }

    async fn fill(&mut self) -> bool {
        self.buf.reserve(16 * 1024);
        matches!(self.stream.read_buf(&mut self.buf).await, Ok(n) if n > 0)
    }

    /// Bytes up to and including `delim`; `None` at the end of the stream or past `max`.
    async fn until(&mut self, delim: &[u8], max: usize) -> Option<Vec<u8>> {
        loop {
            if let Some(i) = find(&self.buf, delim) {
                return Some(self.buf.drain(..i + delim.len()).collect());
            }
            if self.buf.len() > max || !self.fill().await {
                return None;
            }
        }
    }

    async fn exact(&mut self, n: usize) -> Option<Vec<u8>> {
        while self.buf.len() < n {
            if !self.fill().await {
                return None;
            }
        }
        Some(self.buf.drain(..n).collect())
    }

    async fn rest(&mut self) -> Vec<u8> {
        while self.fill().await {}
        std::mem::take(&mut self.buf)
    }
}

/// A chunked body, strictly: hex size, optional extensions, CRLF everywhere. `Err` names
/// what was wrong.
async fn read_chunked(wire: &mut Wire) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line = wire
            .until(b"\r\n", 64 * 1024)
            .await
            .ok_or("chunk size line cut off")?;
        let line = &line[..line.len() - 2];
        let size = line.split(|b| *b == b';').next().unwrap_or_default();
        if size.is_empty() || !size.iter().all(u8::is_ascii_hexdigit) || line.contains(&b'\n') {
            return Err(format!(
                "bad chunk size line {:?}",
                String::from_utf8_lossy(line)
            ));
        }
        let size = usize::from_str_radix(std::str::from_utf8(size).unwrap(), 16)
            .map_err(|e| format!("chunk size: {e}"))?;
        if size == 0 {
            loop {
                let trailer = wire
                    .until(b"\r\n", 64 * 1024)
                    .await
                    .ok_or("trailers cut off")?;
                if trailer == b"\r\n" {
                    return Ok(body);
                }
            }
        }
        body.extend(wire.exact(size).await.ok_or("chunk data cut off")?);
        if wire.exact(2).await.as_deref() != Some(b"\r\n") {
            return Err("chunk data not followed by CRLF".into());
        }
    }
}

/// A parsed message head.
struct Head {
    /// Request-target, or status code.
    first: String,
    method: String,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// Everything that makes the head unclean: bare CR/LF, bad names, control bytes, more than
    /// one framing.
    problems: Vec<String>,
}

impl Head {
    fn values(&self, name: &str) -> Vec<&[u8]> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.as_slice())
            .collect()
    }

    fn has(&self, name: &str, value: &str) -> bool {
        self.values(name)
            .iter()
            .any(|v| v.eq_ignore_ascii_case(value.as_bytes()))
    }
}

/// A name that reads as a framing header once delimiters are ignored, without being one
/// (what a backend folding `_` into `-` would take for framing).
fn imitates_framing(name: &[u8]) -> bool {
    let letters: Vec<u8> = name
        .iter()
        .filter(|b| b.is_ascii_alphanumeric())
        .map(u8::to_ascii_lowercase)
        .collect();
    (letters == b"contentlength" && !name.eq_ignore_ascii_case(b"content-length"))
        || (letters == b"transferencoding" && !name.eq_ignore_ascii_case(b"transfer-encoding"))
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Parse a head (without its final CRLF CRLF) and list what is unclean about it.
fn parse_head(raw: &[u8]) -> Head {
    let mut problems = Vec::new();
    // Without the final LF CRLF: every line then ends in CR unless its line end was a bare LF.
    let text = &raw[..raw.len() - 3];
    let mut bare_lf = false;
    let split: Vec<Vec<u8>> = text
        .split(|b| *b == b'\n')
        .map(|l| {
            l.strip_suffix(b"\r")
                .unwrap_or_else(|| {
                    bare_lf = true;
                    l
                })
                .to_vec()
        })
        .collect();
    if bare_lf {
        problems.push("a line ends in a bare LF".to_owned());
    }
    let mut lines = split.into_iter();
    let start = lines.next().unwrap_or_default();
    let parts: Vec<&[u8]> = start.splitn(3, |b| *b == b' ').collect();
    let (method, first) = match parts.as_slice() {
        [a, b, _] => (
            String::from_utf8_lossy(a).into_owned(),
            String::from_utf8_lossy(b).into_owned(),
        ),
        _ => {
            problems.push(format!(
                "bad start line {:?}",
                String::from_utf8_lossy(&start)
            ));
            (String::new(), String::new())
        }
    };
    let mut headers = Vec::new();
    for line in lines {
        if line.contains(&b'\r') {
            problems.push("a bare CR".to_owned());
        }
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            problems.push(format!(
                "a line without a colon: {:?}",
                String::from_utf8_lossy(&line)
            ));
            continue;
        };
        let name = line[..colon].to_vec();
        let value = line[colon + 1..].trim_ascii().to_vec();
        if name.is_empty() || !name.iter().copied().all(is_tchar) {
            problems.push(format!(
                "unclean header name {:?}",
                String::from_utf8_lossy(&name)
            ));
        }
        if imitates_framing(&name) {
            problems.push(format!(
                "framing look-alike {:?}",
                String::from_utf8_lossy(&name)
            ));
        }
        if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            problems.push(format!(
                "control byte in the value of {:?}",
                String::from_utf8_lossy(&name)
            ));
        }
        headers.push((name, value));
    }
    let mut head = Head {
        first,
        method,
        headers,
        problems,
    };
    let (cl, te) = (
        head.values("content-length"),
        head.values("transfer-encoding"),
    );
    let (cl_count, te_count) = (cl.len(), te.len());
    let te_ok = te.iter().all(|v| v.eq_ignore_ascii_case(b"chunked"));
    let cl_ok = cl
        .iter()
        .all(|v| !v.is_empty() && v.iter().all(u8::is_ascii_digit));
    if cl_count > 1 {
        head.problems
            .push(format!("Content-Length {cl_count} times"));
    }
    if te_count > 1 {
        head.problems
            .push(format!("Transfer-Encoding {te_count} times"));
    }
    if cl_count > 0 && te_count > 0 {
        head.problems
            .push("both Content-Length and Transfer-Encoding".to_owned());
    }
    if !te_ok {
        head.problems
            .push("Transfer-Encoding other than `chunked`".to_owned());
    }
    if !cl_ok {
        head.problems
            .push("Content-Length is not digits".to_owned());
    }
    head
}

// === the recording backend ===

/// One request as the backend received it.
#[derive(Debug)]
struct Received {
    target: String,
    body: Vec<u8>,
    problems: Vec<String>,
}

/// A raw HTTP/1.1 backend on loopback: records each request (before answering it) and
/// answers `200` with [`BACKEND_BODY`].
async fn recording_backend() -> (SocketAddr, mpsc::UnboundedReceiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut wire = Wire::new(stream);
                while let Some(raw) = wire.until(b"\r\n\r\n", 1024 * 1024).await {
                    let mut head = parse_head(&raw);
                    let chunked = !head.values("transfer-encoding").is_empty();
                    let length = head
                        .values("content-length")
                        .first()
                        .and_then(|v| std::str::from_utf8(v).ok()?.parse::<usize>().ok());
                    let body = if chunked {
                        read_chunked(&mut wire).await
                    } else if let Some(n) = length {
                        wire.exact(n).await.ok_or_else(|| "body cut off".to_owned())
                    } else {
                        Ok(Vec::new())
                    };
                    let (body, broken) = match body {
                        Ok(body) => (body, false),
                        Err(e) => {
                            head.problems.push(e);
                            (Vec::new(), true)
                        }
                    };
                    let answer_body = if head.method == "HEAD" {
                        &b""[..]
                    } else {
                        BACKEND_BODY
                    };
                    let _ = tx.send(Received {
                        target: head.first,
                        body,
                        problems: head.problems,
                    });
                    if broken {
                        return;
                    }
                    let mut answer = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                        BACKEND_BODY.len()
                    )
                    .into_bytes();
                    answer.extend_from_slice(answer_body);
                    if wire.stream.write_all(&answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, rx)
}

// === the gateway ===

/// `manifold run` as a child process; killed when dropped (also when a test fails).
struct Gateway {
    child: Child,
    addr: SocketAddr,
}

impl Gateway {
    fn start(backend: SocketAddr) -> Gateway {
        let dir = std::env::temp_dir().join(format!("manifold-smuggling-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // One file per gateway: the tests of this binary run in parallel.
        let file = dir.join(format!("gateway-{}.json", backend.port()));
        let config = serde_json::json!({
            "version": 3,
            "listen_ip": "127.0.0.1",
            "timeout": "5s",
            "endpoints": [{
                "endpoint": "/*",
                "method": ["GET", "POST", "PUT", "PATCH", "DELETE"],
                "output_encoding": "no-op",
                "input_headers": ["*"],
                "input_query_strings": ["*"],
                "backend": [{
                    "host": [format!("http://{backend}")],
                    "url_pattern": "/",
                    "encoding": "no-op"
                }]
            }]
        });
        std::fs::write(&file, config.to_string()).unwrap();
        let mut child = Command::new(BIN)
            .args(["run", "-p", "0", "-c"])
            .arg(&file)
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        // Keeps draining the log so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut log = Vec::new();
        let addr = loop {
            let line = rx
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| {
                    panic!(
                        "manifold run did not say where it listens:\n{}",
                        log.join("\n")
                    )
                });
            if let Some(at) = line.find("listening on http://") {
                let rest = &line[at + "listening on http://".len()..];
                let end = rest
                    .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ':'))
                    .unwrap_or(rest.len());
                break rest[..end].parse().unwrap();
            }
            log.push(line);
        };
        Gateway { child, addr }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// === one exchange ===

/// A response as the client read it.
#[derive(Debug)]
struct Answer {
    status: u16,
    close: bool,
    body: Vec<u8>,
}

async fn read_answer(wire: &mut Wire, head_request: bool) -> Option<Answer> {
    let raw = wire.until(b"\r\n\r\n", 1024 * 1024).await?;
    let head = parse_head(&raw);
    let status = head.first.parse().ok()?;
    let length = head
        .values("content-length")
        .first()
        .and_then(|v| std::str::from_utf8(v).ok()?.parse::<usize>().ok());
    let body = if head_request || status == 204 || status == 304 || (100..200).contains(&status) {
        Vec::new()
    } else if head.has("transfer-encoding", "chunked") {
        read_chunked(wire).await.ok()?
    } else if let Some(n) = length {
        wire.exact(n).await?
    } else {
        wire.rest().await
    };
    Some(Answer {
        status,
        close: head.has("connection", "close"),
        body,
    })
}

/// What a case's connection saw.
#[derive(Debug, Default)]
struct Seen {
    /// Answers to the case's own bytes, in order (reading stops after a refusal).
    answers: Vec<Answer>,
    /// Answers read after the probe was sent: none (closed) or exactly the probe's.
    after: Vec<Answer>,
    /// A read that did not finish within [`WAIT`].
    hung: bool,
}

async fn exchange(addr: SocketAddr, case: &Case) -> Seen {
    let mut seen = Seen::default();
    let mut wire = Wire::new(TcpStream::connect(addr).await.unwrap());
    // The server may refuse (and close) before reading everything.
    let _ = wire.stream.write_all(&case.raw).await;
    if case.half_close {
        let _ = wire.stream.shutdown().await;
    }
    for expect in &case.requests {
        match timeout(WAIT, read_answer(&mut wire, expect.head)).await {
            Err(_) => {
                seen.hung = true;
                return seen;
            }
            Ok(None) => break,
            Ok(Some(answer)) => {
                let stop = answer.status >= 400 || answer.close;
                seen.answers.push(answer);
                if stop {
                    break;
                }
            }
        }
    }
    if !case.half_close {
        let _ = wire.stream.write_all(PROBE).await;
    }
    loop {
        match timeout(WAIT, read_answer(&mut wire, false)).await {
            Err(_) => {
                seen.hung = true;
                break;
            }
            Ok(None) => break,
            Ok(Some(answer)) => seen.after.push(answer),
        }
    }
    seen
}

/// Everything the backend received up to (not including) the marker request `n`.
async fn forwarded_until_marker(
    addr: SocketAddr,
    rx: &mut mpsc::UnboundedReceiver<Received>,
    n: usize,
) -> Vec<Received> {
    let marker = format!("/marker/{n}");
    let mut wire = Wire::new(TcpStream::connect(addr).await.unwrap());
    let request = format!("GET {marker} HTTP/1.1\r\nHost: marker\r\nConnection: close\r\n\r\n");
    wire.stream.write_all(request.as_bytes()).await.unwrap();
    let answer = timeout(WAIT, read_answer(&mut wire, false))
        .await
        .expect("marker timed out")
        .expect("no answer to the marker");
    assert_eq!(answer.status, 200, "marker {n}");
    let mut out = Vec::new();
    loop {
        let received = timeout(WAIT, rx.recv())
            .await
            .expect("the marker never reached the backend")
            .expect("backend stopped");
        if received.target == marker {
            assert!(received.problems.is_empty(), "{:?}", received.problems);
            return out;
        }
        out.push(received);
    }
}

// === judging ===

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Verdict {
    /// Refused with this status (0: connection closed without an answer).
    Rejected(u16),
    /// Served.
    Served,
}

/// Refused: at most one answer, a 4xx/5xx one, nothing forwarded, and the connection closed
/// after it (`must_close`, for Severe cases) or still in step (the probe alone answered).
fn rejected(seen: &Seen, forwarded: &[Received], must_close: bool) -> Result<Verdict, String> {
    let status = match seen.answers.as_slice() {
        [] => 0,
        [a] if a.status >= 400 => a.status,
        other => {
            let statuses: Vec<u16> = other.iter().map(|a| a.status).collect();
            return Err(format!("not refused: answers {statuses:?}"));
        }
    };
    match seen.after.as_slice() {
        [] => {}
        [probe] if !must_close && is_probe_answer(probe) => {}
        other => {
            return Err(format!(
                "refused with {status} but the connection stayed open (answers after: {:?})",
                other.iter().map(|a| a.status).collect::<Vec<_>>()
            ))
        }
    }
    if !forwarded.is_empty() {
        return Err(format!("refused with {status} but forwarded {forwarded:?}"));
    }
    Ok(Verdict::Rejected(status))
}

fn is_probe_answer(answer: &Answer) -> bool {
    answer.status == 200 && answer.body != BACKEND_BODY
}

/// Served: the first `n` requests each answered 2xx and forwarded once, in order, cleanly, with
/// their bodies; the connection closed or still in step.
fn served(case: &Case, n: usize, seen: &Seen, forwarded: &[Received]) -> Result<Verdict, String> {
    let statuses: Vec<u16> = seen.answers.iter().map(|a| a.status).collect();
    // The backend's own answer, passed through (a HEAD answer has no body).
    let passed_through = |(a, want): (&Answer, &Expect)| {
        (200..300).contains(&a.status) && (want.head || a.body == BACKEND_BODY)
    };
    if seen.answers.len() != n || !seen.answers.iter().zip(&case.requests).all(passed_through) {
        return Err(format!("not served: answers {statuses:?}"));
    }
    match seen.after.as_slice() {
        [] => {}
        [probe] if is_probe_answer(probe) => {}
        other => {
            return Err(format!(
                "out of step: after the case's answers came {:?}",
                other
                    .iter()
                    .map(|a| (a.status, String::from_utf8_lossy(&a.body).into_owned()))
                    .collect::<Vec<_>>()
            ))
        }
    }
    if forwarded.len() != n {
        return Err(format!(
            "served, but {} requests reached the backend: {forwarded:?}",
            forwarded.len()
        ));
    }
    for (got, want) in forwarded.iter().zip(&case.requests) {
        if want.target.as_ref().is_some_and(|t| *t != got.target) {
            return Err(format!(
                "forwarded to {} instead of {:?}",
                got.target, want.target
            ));
        }
        if got.body != want.body {
            return Err(format!(
                "forwarded body {:?} instead of {:?}",
                String::from_utf8_lossy(&got.body),
                String::from_utf8_lossy(&want.body)
            ));
        }
    }
    Ok(Verdict::Served)
}

fn judge(case: &Case, seen: &Seen, forwarded: &[Received]) -> Result<Verdict, String> {
    if seen.hung {
        return Err("no answer within the time limit".into());
    }
    // What reaches a backend is clean whatever the case.
    for r in forwarded {
        if !r.problems.is_empty() {
            return Err(format!(
                "the backend received an unclean request: {:?}",
                r.problems
            ));
        }
    }
    let deviation = DEVIATIONS.iter().find(|(id, _, _)| *id == case.id);
    if let Some((_, status, _)) = deviation {
        return match rejected(seen, forwarded, true)? {
            Verdict::Rejected(s) if s == *status => Ok(Verdict::Rejected(s)),
            other => Err(format!(
                "documented deviation ({status}) no longer holds: {other:?}"
            )),
        };
    }
    match case.tier {
        Tier::Severe => rejected(seen, forwarded, true),
        Tier::Ambiguous => rejected(seen, forwarded, false)
            .or_else(|r| served(case, 1, seen, forwarded).map_err(|s| format!("{r}; {s}"))),
        Tier::Compliant => served(case, case.requests.len(), seen, forwarded),
        Tier::Acceptable => rejected(seen, forwarded, false).or_else(|r| {
            served(case, case.requests.len(), seen, forwarded).map_err(|s| format!("{r}; {s}"))
        }),
    }
}

/// Per tier: how many cases were rejected (by status) and served.
type Tally = BTreeMap<Tier, BTreeMap<Verdict, usize>>;

/// Run every case against one gateway; the tally, the failures, and how many requests the
/// backend received (all of them checked for clean framing).
async fn run_cases(cases: &[Case]) -> (Tally, Vec<String>, usize) {
    let (backend, mut rx) = recording_backend().await;
    let gateway = Gateway::start(backend);
    let mut tally = Tally::new();
    let mut failures = Vec::new();
    let mut received = 0;
    for (n, case) in cases.iter().enumerate() {
        let seen = exchange(gateway.addr, case).await;
        let forwarded = forwarded_until_marker(gateway.addr, &mut rx, n).await;
        received += forwarded.len();
        match judge(case, &seen, &forwarded) {
            Ok(verdict) => {
                let (tier, shown) = (format!("{:?}", case.tier), format!("{verdict:?}"));
                println!("{tier:<10} {shown:<15} {}", case.id);
                *tally
                    .entry(case.tier)
                    .or_default()
                    .entry(verdict)
                    .or_default() += 1;
            }
            Err(why) => {
                println!(
                    "{:<10} FAILED          {}: {why}",
                    format!("{:?}", case.tier),
                    case.id
                );
                failures.push(format!("{}: {why}", case.id));
            }
        }
    }
    // The gateway survived all of it.
    let mut wire = Wire::new(TcpStream::connect(gateway.addr).await.unwrap());
    wire.stream.write_all(PROBE).await.unwrap();
    let health = timeout(WAIT, read_answer(&mut wire, false))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(health.status, 200);
    (tally, failures, received)
}

fn summary(tally: &Tally) -> Vec<String> {
    tally
        .iter()
        .map(|(tier, verdicts)| {
            let total: usize = verdicts.values().sum();
            let parts: Vec<String> = verdicts
                .iter()
                .map(|(v, n)| match v {
                    Verdict::Served => format!("{n} served"),
                    Verdict::Rejected(0) => format!("{n} closed"),
                    Verdict::Rejected(s) => format!("{n} rejected {s}"),
                })
                .collect();
            format!("{tier:?}: {total} ({})", parts.join(", "))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desync_corpus_is_refused_or_served_by_its_tier() {
    let dir = vectors_dir().join("http-desync-guardian");
    if !dir.exists() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "corpus not found at {} (set MANIFOLD_TEST_VECTORS)",
            dir.display()
        );
        println!(
            "skipped: no corpus at {} (set MANIFOLD_TEST_VECTORS)",
            dir.display()
        );
        return;
    }
    let mut cases = Vec::new();
    for (file, tier) in CORPUS {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        cases.extend(corpus_cases(file, *tier, &text));
    }
    // Two acceptable.yaml cases share a name (GET and HEAD).
    for i in 1..cases.len() {
        if cases[..i].iter().any(|c| c.id == cases[i].id) {
            cases[i].id.push_str(" (2)");
        }
    }
    let (tally, failures, received) = run_cases(&cases).await;
    let summary = summary(&tally);
    println!("corpus: {}", summary.join("; "));
    println!("backend: {received} requests received, each with one framing and clean names");
    for (id, status, why) in DEVIATIONS {
        println!("deviation ({status}) {id}: {why}");
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        summary,
        [
            "Severe: 27 (27 rejected 400)",
            "Ambiguous: 37 (31 rejected 400, 2 rejected 405, 4 served)",
            "Acceptable: 9 (7 rejected 400, 1 rejected 405, 1 served)",
            "Compliant: 14 (2 rejected 400, 2 rejected 501, 10 served)",
        ]
    );
    assert_eq!(received, 15);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_of_our_own_are_refused_or_served_by_their_tier() {
    let cases = own_cases();
    let (tally, failures, received) = run_cases(&cases).await;
    let summary = summary(&tally);
    println!("own cases: {}", summary.join("; "));
    println!("backend: {received} requests received, each with one framing and clean names");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        summary,
        [
            "Severe: 33 (33 rejected 400)",
            "Ambiguous: 14 (8 rejected 400, 1 rejected 501, 5 served)",
            "Compliant: 7 (7 served)",
        ]
    );
    assert_eq!(received, 13);
}
