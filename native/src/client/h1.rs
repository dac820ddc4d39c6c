//! HTTP/1.1 exchanges with plain-`http` backends, written and read by the task that sends
//! the request: a TCP stream, a read buffer, `httparse` for response heads.
//!
//! Why not hyper's `client::conn::http1`, which this replaced: its connection runs in a task
//! of its own, so every request crossed a channel to it and every response a oneshot back,
//! with two task wake-ups and hyper's general state machine on the way, about a third of
//! scenario a's gateway instructions (bench/profile-notes.md, "Backend client, own HTTP/1.1").
//! Here the request's own future writes the head and body with one `write` and reads the
//! answer, and a body read whole comes out of the read buffer without a copy. (A streamed
//! body is read by a task of its own, `pool::stream`, as it arrives.)
//!
//! The wire rules are hyper's where it has them, stricter where a response could desync the
//! connection: a `Content-Length` must be digits (a list only of equal values), a response
//! with both `Transfer-Encoding` and `Content-Length` is refused (RFC 9112 §6.3 calls it an
//! attack to handle as an error), chunk lines end in CRLF, `1xx` heads before the answer are
//! skipped, `HEAD`, `204` and `304` have no body, a body without a length ends with the
//! connection, and a connection is kept only when its answer was HTTP/1.1 (or 1.0 with
//! `keep-alive`) without `Connection: close` and its body was read to the end.

use std::io::ErrorKind;
use std::mem::MaybeUninit;

use bytes::{Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::response::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version};
use manifold_core::platform::{ClientError, ClientErrorKind, ReadHeaders};
use manifold_core::BoundedBody;
use tokio::io::{AsyncReadExt, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::OutBody;

/// Header fields per response head (hyper's default).
const MAX_HEADERS: usize = 100;
/// The largest response head (hyper's default read buffer limit).
const MAX_HEAD: usize = 8192 + 4096 * 100;
/// Room made in the read buffer before a read.
const READ: usize = 8192;
/// A body read whole grows its buffer by at most this much before the bytes arrive, so a
/// large declared length costs memory only as it is sent.
const STEP: usize = 64 * 1024;
/// The longest chunk-size line or trailer line.
const MAX_LINE: usize = 4096;
/// A request body up to this size is copied after the head, to go out in one `write`.
const INLINE_BODY: usize = 16 * 1024;

/// One connection to a backend and the bytes read from it but not used yet.
pub(super) struct Connection {
    io: TcpStream,
    /// What the last read brought after a response head, not copied: usually the whole
    /// body, which then leaves as a slice of it.
    pending: Bytes,
    buf: BytesMut,
    /// The last exchange allows another one on this connection.
    reusable: bool,
}

/// How the rest of a response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// This many bytes remain.
    Length(u64),
    /// Chunked: where the decoder is.
    Chunked(Chunk),
    /// Until the backend closes the connection.
    Close,
}

/// The chunked decoder's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Chunk {
    /// Before a chunk-size line.
    Size,
    /// Inside a chunk's data, this many bytes left.
    Data(u64),
    /// After a chunk's data: its CRLF.
    DataEnd,
    /// After the last chunk: trailer lines up to an empty one.
    Trailers,
    /// The body ended.
    Done,
}

/// A response head and how its body is framed.
pub(super) struct Head {
    pub(super) parts: Parts,
    pub(super) framing: Framing,
}

/// A failed exchange, whether the backend had not answered a single byte, and whether not
/// even the request's first byte went out (a reused connection that the backend closed as
/// the request went out: it may be retried on another).
pub(super) struct Broken {
    pub(super) error: ClientError,
    pub(super) unanswered: bool,
    pub(super) unsent: bool,
}

impl Connection {
    /// A fresh connection.
    pub(super) fn new(io: TcpStream) -> Self {
        Self {
            io,
            pending: Bytes::new(),
            buf: BytesMut::new(),
            reusable: false,
        }
    }

    /// Whether an idle connection can carry a request: nothing arrived on it, and the backend
    /// has not closed it. Costs no system call unless the socket became readable.
    pub(super) fn idle_ok(&self) -> bool {
        if !self.buf.is_empty() || !self.pending.is_empty() {
            return false;
        }
        let mut byte = [0u8; 1];
        matches!(self.io.try_read(&mut byte), Err(e) if e.kind() == ErrorKind::WouldBlock)
    }

    /// The last exchange ended cleanly and allows another.
    pub(super) fn reusable(&self) -> bool {
        self.reusable
    }

    /// Send `request` (encoded by [`encode`]) and read the response head.
    pub(super) async fn exchange(
        &mut self,
        request: &Wire,
        method: &Method,
        read: ReadHeaders,
    ) -> Result<Head, Broken> {
        self.reusable = false;
        let mut written = 0;
        for part in [&request.head[..], &request.body, request.tail] {
            let mut at = 0;
            while at < part.len() {
                let failed = match self.io.write(&part[at..]).await {
                    Ok(0) => std::io::Error::from(ErrorKind::WriteZero),
                    Ok(n) => {
                        at += n;
                        written += n;
                        continue;
                    }
                    Err(e) => e,
                };
                return Err(Broken {
                    error: protocol(&format!("writing the request: {failed}")),
                    unanswered: true,
                    unsent: written == 0,
                });
            }
        }
        let mut answered = false;
        loop {
            let head = match self.read_head(&mut answered, read).await {
                Ok(head) => head,
                Err(error) => {
                    return Err(Broken {
                        error,
                        unanswered: !answered,
                        unsent: false,
                    })
                }
            };
            if head.status.is_informational() {
                if head.status == StatusCode::SWITCHING_PROTOCOLS {
                    return Err(Broken {
                        error: protocol("101 Switching Protocols to a request without Upgrade"),
                        unanswered: false,
                        unsent: false,
                    });
                }
                continue;
            }
            let framing = head
                .fields
                .framing(head.status, method)
                .map_err(|error| Broken {
                    error,
                    unanswered: false,
                    unsent: false,
                })?;
            self.reusable = head.fields.keep_alive(head.version) && framing != Framing::Close;
            let (mut parts, ()) = http::Response::new(()).into_parts();
            parts.status = head.status;
            parts.version = head.version;
            parts.headers = head.headers;
            return Ok(Head { parts, framing });
        }
    }

    /// Read and parse one response head.
    async fn read_head(
        &mut self,
        answered: &mut bool,
        read: ReadHeaders,
    ) -> Result<RawHead, ClientError> {
        self.unpend();
        loop {
            if !self.buf.is_empty() {
                *answered = true;
                if let Some(head) = self.parse_head(read)? {
                    return Ok(head);
                }
                if self.buf.len() >= MAX_HEAD {
                    return Err(protocol("response head too large"));
                }
            }
            if self.read().await? == 0 {
                return Err(protocol("connection closed before the response head"));
            }
        }
    }

    /// The head at the start of the buffer, if it is all there, with the headers `read` asks
    /// for (every field is checked by the parser and noted for the framing all the same).
    fn parse_head(&mut self, read: ReadHeaders) -> Result<Option<RawHead>, ClientError> {
        // The whole buffer, so that a head still incomplete goes back without a copy (a
        // backend trickling its head would otherwise cost a copy of it per read).
        let data = std::mem::take(&mut self.buf).freeze();
        let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut []);
        let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
            &mut response,
            &data,
            &mut slots,
        );
        let len = match parsed {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => {
                self.buf = data
                    .try_into_mut()
                    .unwrap_or_else(|data| BytesMut::from(&data[..]));
                return Ok(None);
            }
            Err(e) => return Err(protocol(&format!("invalid response head: {e}"))),
        };
        let status = response
            .code
            .and_then(|c| StatusCode::from_u16(c).ok())
            .ok_or_else(|| protocol("invalid response status"))?;
        let version = if response.version == Some(0) {
            Version::HTTP_10
        } else {
            Version::HTTP_11
        };
        let mut headers = match read {
            ReadHeaders::All => HeaderMap::with_capacity(response.headers.len()),
            ReadHeaders::Only(_) => HeaderMap::new(),
        };
        let mut fields = Fields::default();
        for h in response.headers.iter() {
            let raw = h.name.as_bytes();
            fields.note(raw, h.value)?;
            let name = match (read.listed(raw), read) {
                // A listed name is a constant: no parse.
                (Some(name), _) => name.clone(),
                (None, ReadHeaders::All) => HeaderName::from_bytes(raw)
                    .map_err(|_| protocol("invalid response header name"))?,
                // A header nobody reads is left out: a map entry each cost ~600 instructions.
                (None, ReadHeaders::Only(_)) => continue,
            };
            // httparse let through only tab, visible ASCII and obs-text: a valid value.
            let value = HeaderValue::from_maybe_shared(data.slice_ref(h.value))
                .map_err(|_| protocol("invalid response header value"))?;
            headers.append(name, value);
        }
        self.pending = data.slice(len..);
        Ok(Some(RawHead {
            status,
            version,
            headers,
            fields,
        }))
    }

    /// Move the bytes after the head into the read buffer (copied: they are few, or a body
    /// that does not arrive in one read).
    fn unpend(&mut self) {
        if !self.pending.is_empty() {
            self.buf.extend_from_slice(&self.pending);
            self.pending = Bytes::new();
        }
    }

    /// Read what arrived into the buffer; 0 at the end of the stream.
    async fn read(&mut self) -> Result<usize, ClientError> {
        self.unpend();
        self.buf.reserve(READ);
        self.io
            .read_buf(&mut self.buf)
            .await
            .map_err(|e| read_error(&e))
    }

    /// The whole body under `max` bytes (a declared length over it is refused at once).
    pub(super) async fn read_body(
        &mut self,
        framing: Framing,
        headers: &HeaderMap,
        max: usize,
    ) -> Result<Bytes, ClientError> {
        if let Framing::Length(len) = framing {
            let len = usize::try_from(len)
                .ok()
                .filter(|&len| len <= max)
                .ok_or(manifold_core::TooLarge { limit: max })?;
            if self.buf.is_empty() && self.pending.len() >= len {
                return Ok(self.pending.split_to(len));
            }
            if self.buf.is_empty() {
                // A buffer of its own for the body, sized for it (up to STEP before more bytes
                // arrive), the bytes that came with the head copied in once.
                let mut body = BytesMut::with_capacity(len.min(STEP.max(self.pending.len())));
                body.extend_from_slice(&self.pending);
                self.pending = Bytes::new();
                self.buf = body;
            }
            self.unpend();
            while self.buf.len() < len {
                let have = self.buf.len();
                if self.buf.capacity() == have {
                    // Grow by doubling what arrived, never past the declared length.
                    self.buf.reserve((len - have).min(have.max(STEP)));
                }
                if self
                    .io
                    .read_buf(&mut self.buf)
                    .await
                    .map_err(|e| read_error(&e))?
                    == 0
                {
                    return Err(truncated());
                }
            }
            return Ok(self.buf.split_to(len).freeze());
        }
        let mut body = BoundedBody::response(headers, max)?;
        let mut framing = framing;
        while let Some(chunk) = self.next_chunk(&mut framing).await? {
            body.push(&chunk)?;
        }
        Ok(body.finish())
    }

    /// The next piece of the body, `None` at its end.
    pub(super) async fn next_chunk(
        &mut self,
        framing: &mut Framing,
    ) -> Result<Option<Bytes>, ClientError> {
        self.unpend();
        loop {
            match framing {
                Framing::Length(0) | Framing::Chunked(Chunk::Done) => return Ok(None),
                Framing::Length(left) => {
                    if self.buf.is_empty() && self.read().await? == 0 {
                        return Err(truncated());
                    }
                    let take = self
                        .buf
                        .len()
                        .min(usize::try_from(*left).unwrap_or(usize::MAX));
                    *left -= take as u64;
                    return Ok(Some(self.buf.split_to(take).freeze()));
                }
                Framing::Close => {
                    if self.buf.is_empty() && self.read().await? == 0 {
                        return Ok(None);
                    }
                    return Ok(Some(self.buf.split().freeze()));
                }
                Framing::Chunked(state) => {
                    if let Some(chunk) = self.chunked(state)? {
                        return Ok(Some(chunk));
                    }
                    if *state == Chunk::Done {
                        return Ok(None);
                    }
                    if self.read().await? == 0 {
                        return Err(truncated());
                    }
                }
            }
        }
    }

    /// Decode what the buffer holds: a piece of data, or `None` once it needs more bytes
    /// (or the body ended: `state` is then `Done`).
    fn chunked(&mut self, state: &mut Chunk) -> Result<Option<Bytes>, ClientError> {
        loop {
            match *state {
                Chunk::Done => return Ok(None),
                Chunk::Data(left) => {
                    if self.buf.is_empty() {
                        return Ok(None);
                    }
                    let take = self
                        .buf
                        .len()
                        .min(usize::try_from(left).unwrap_or(usize::MAX));
                    let left = left - take as u64;
                    *state = if left == 0 {
                        Chunk::DataEnd
                    } else {
                        Chunk::Data(left)
                    };
                    return Ok(Some(self.buf.split_to(take).freeze()));
                }
                Chunk::DataEnd => {
                    if self.buf.len() < 2 {
                        return Ok(None);
                    }
                    if &self.buf[..2] != b"\r\n" {
                        return Err(protocol("chunk data not followed by CRLF"));
                    }
                    let _ = self.buf.split_to(2);
                    *state = Chunk::Size;
                }
                Chunk::Size | Chunk::Trailers => {
                    let Some(line) = self.line()? else {
                        return Ok(None);
                    };
                    *state = match *state {
                        Chunk::Size => match chunk_size(&line)? {
                            0 => Chunk::Trailers,
                            size => Chunk::Data(size),
                        },
                        // A trailer is not passed on; the empty line ends the body.
                        _ if line.is_empty() => Chunk::Done,
                        _ => Chunk::Trailers,
                    };
                }
            }
        }
    }

    /// The next CRLF-terminated line without its CRLF, once it is all in the buffer.
    fn line(&mut self) -> Result<Option<Bytes>, ClientError> {
        let Some(end) = self.buf.iter().position(|&b| b == b'\n') else {
            if self.buf.len() > MAX_LINE {
                return Err(protocol("chunk line too long"));
            }
            return Ok(None);
        };
        if end == 0 || self.buf[end - 1] != b'\r' || end > MAX_LINE {
            return Err(protocol("chunk line not ended by CRLF"));
        }
        let line = self.buf.split_to(end + 1).freeze();
        Ok(Some(line.slice(..end - 1)))
    }
}

/// A parsed status line and header fields.
struct RawHead {
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
    fields: Fields,
}

/// What the header fields say about the body's framing and the connection's reuse, noted
/// as they are parsed (no second lookup in the map).
#[derive(Debug, Default)]
struct Fields {
    /// `Content-Length`: digits, the same in every field and list item.
    length: Option<u64>,
    /// `Transfer-Encoding` was sent, and whether its last coding is `chunked`.
    chunked: Option<bool>,
    /// `Connection` has `close`.
    close: bool,
    /// `Connection` has `keep-alive`.
    keep_alive: bool,
}

impl Fields {
    /// Take note of one header field (its name as sent: any case).
    fn note(&mut self, name: &[u8], value: &[u8]) -> Result<(), ClientError> {
        let items = || value.split(|&b| b == b',').map(<[u8]>::trim_ascii);
        if name.eq_ignore_ascii_case(CONTENT_LENGTH.as_str().as_bytes()) {
            for item in items() {
                let n =
                    (!item.is_empty() && item.len() <= 19 && item.iter().all(u8::is_ascii_digit))
                        .then(|| item.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
                        .ok_or_else(|| protocol("invalid Content-Length in the response"))?;
                if self.length.is_some_and(|l| l != n) {
                    return Err(protocol(
                        "conflicting Content-Length values in the response",
                    ));
                }
                self.length = Some(n);
            }
        } else if name.eq_ignore_ascii_case(TRANSFER_ENCODING.as_str().as_bytes()) {
            // The last field's last coding decides.
            self.chunked = Some(
                items()
                    .next_back()
                    .is_some_and(|c| c.eq_ignore_ascii_case(b"chunked")),
            );
        } else if name.eq_ignore_ascii_case(CONNECTION.as_str().as_bytes()) {
            for token in items() {
                self.close |= token.eq_ignore_ascii_case(b"close");
                self.keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        }
        Ok(())
    }

    /// How the body of a response with `status` to `method` is framed (RFC 9112 §6.3).
    fn framing(&self, status: StatusCode, method: &Method) -> Result<Framing, ClientError> {
        if *method == Method::HEAD
            || matches!(status, StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED)
        {
            return Ok(Framing::Length(0));
        }
        match (self.chunked, self.length) {
            (None, length) => Ok(length.map_or(Framing::Close, Framing::Length)),
            (Some(_), Some(_)) => Err(protocol(
                "response with both Transfer-Encoding and Content-Length",
            )),
            (Some(true), None) => Ok(Framing::Chunked(Chunk::Size)),
            (Some(false), None) => Ok(Framing::Close),
        }
    }

    /// Whether the backend lets the connection carry another request.
    fn keep_alive(&self, version: Version) -> bool {
        match version {
            Version::HTTP_11 => !self.close,
            _ => self.keep_alive && !self.close,
        }
    }
}

/// A request as it goes on the wire: the head (with a small body), then a large body and
/// what ends its chunk.
pub(super) struct Wire {
    head: Vec<u8>,
    body: Bytes,
    tail: &'static [u8],
}

/// The request as HTTP/1.1: the origin-form target of the absolute `uri`, `host` unless the
/// request has its own `Host`, header names lowercase as stored, a body that is not `sized`
/// in one chunk.
pub(super) fn encode(request: &http::request::Parts, host: &HeaderValue, body: OutBody) -> Wire {
    let data = body.data.unwrap_or_default();
    let inline = data.len() <= INLINE_BODY;
    let mut out = Vec::with_capacity(256 + if inline { data.len() } else { 0 });
    out.extend_from_slice(request.method.as_str().as_bytes());
    out.push(b' ');
    let target = request.uri.path_and_query().map_or("/", |p| p.as_str());
    out.extend_from_slice(if target.is_empty() {
        b"/"
    } else {
        target.as_bytes()
    });
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if !request.headers.contains_key(HOST) {
        field(&mut out, HOST.as_str(), host);
    }
    for (name, value) in &request.headers {
        field(&mut out, name.as_str(), value);
    }
    out.extend_from_slice(b"\r\n");
    let chunked = !body.sized && !data.is_empty();
    if chunked {
        out.extend_from_slice(format!("{:X}\r\n", data.len()).as_bytes());
    }
    let tail: &'static [u8] = if chunked { b"\r\n0\r\n\r\n" } else { b"" };
    if !inline {
        return Wire {
            head: out,
            body: data,
            tail,
        };
    }
    out.extend_from_slice(&data);
    out.extend_from_slice(tail);
    Wire {
        head: out,
        body: Bytes::new(),
        tail: b"",
    }
}

fn field(out: &mut Vec<u8>, name: &str, value: &HeaderValue) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// The size on a chunk-size line (extensions after `;` ignored).
fn chunk_size(line: &[u8]) -> Result<u64, ClientError> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    let rest = line[digits..].trim_ascii_start();
    if digits == 0 || digits > 16 || !(rest.is_empty() || rest[0] == b';') {
        return Err(protocol("invalid chunk size"));
    }
    Ok(line[..digits].iter().fold(0u64, |n, &d| {
        let v = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            _ => d - b'A' + 10,
        };
        (n << 4) | u64::from(v)
    }))
}

fn protocol(message: &str) -> ClientError {
    ClientError::new(
        ClientErrorKind::Protocol,
        format!("client error (SendRequest): {message}"),
    )
}

fn read_error(e: &std::io::Error) -> ClientError {
    protocol(&format!("reading the response: {e}"))
}

fn truncated() -> ClientError {
    protocol("connection closed before the end of the response body")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn fields(lines: &[(&str, &str)]) -> Result<Fields, ClientError> {
        let mut fields = Fields::default();
        for (k, v) in lines {
            fields.note(k.as_bytes(), v.as_bytes())?;
        }
        Ok(fields)
    }

    fn framing(lines: &[(&str, &str)], method: &Method) -> Result<Framing, ClientError> {
        fields(lines)?.framing(StatusCode::OK, method)
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let get = Method::GET;
        assert_eq!(framing(&[], &get).unwrap(), Framing::Close);
        assert_eq!(
            framing(&[("content-length", "12")], &get).unwrap(),
            Framing::Length(12)
        );
        assert_eq!(
            framing(&[("content-length", "7, 7"), ("content-length", "7")], &get).unwrap(),
            Framing::Length(7)
        );
        assert_eq!(
            framing(&[("transfer-encoding", "gzip, Chunked")], &get).unwrap(),
            Framing::Chunked(Chunk::Size)
        );
        assert_eq!(
            framing(
                &[
                    ("transfer-encoding", "chunked"),
                    ("transfer-encoding", "gzip")
                ],
                &get
            )
            .unwrap(),
            Framing::Close
        );
        assert_eq!(
            framing(&[("content-length", "12")], &Method::HEAD).unwrap(),
            Framing::Length(0)
        );
        let no_content = fields(&[("content-length", "3")]).unwrap();
        assert_eq!(
            no_content.framing(StatusCode::NO_CONTENT, &get).unwrap(),
            Framing::Length(0)
        );
        for bad in [
            &[("content-length", "1"), ("content-length", "2")][..],
            &[("content-length", "+1")],
            &[("content-length", "0x10")],
            &[("content-length", "")],
            &[("content-length", "99999999999999999999")],
            &[("content-length", "3"), ("transfer-encoding", "chunked")],
            &[("transfer-encoding", "chunked"), ("content-length", "3")],
        ] {
            assert!(framing(bad, &get).is_err(), "{bad:?}");
        }
    }

    /// A connection whose buffer holds `data` (the socket is a loopback pair, never read).
    async fn buffered(data: &[u8]) -> (Connection, tokio::net::TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let mut conn = Connection::new(client);
        conn.buf.extend_from_slice(data);
        (conn, server)
    }

    #[tokio::test]
    async fn an_incomplete_head_waits_for_more_bytes_and_keeps_them() {
        let head = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-a: 1\r\n\r\nok";
        let (mut conn, _server) = buffered(&head[..20]).await;
        assert!(conn.parse_head(ReadHeaders::All).unwrap().is_none());
        assert_eq!(&conn.buf[..], &head[..20]);
        conn.buf.extend_from_slice(&head[20..]);
        let parsed = conn.parse_head(ReadHeaders::All).unwrap().unwrap();
        assert_eq!(parsed.status, StatusCode::OK);
        assert_eq!(parsed.headers["x-a"], "1");
        assert_eq!(parsed.fields.length, Some(2));
        assert_eq!(&conn.pending[..], b"ok");
        assert!(conn.buf.is_empty());
    }

    #[test]
    fn chunk_sizes_are_hex_with_optional_extensions() {
        assert_eq!(chunk_size(b"1a").unwrap(), 26);
        assert_eq!(chunk_size(b"FF;name=value").unwrap(), 255);
        assert_eq!(chunk_size(b"0 ;x").unwrap(), 0);
        for bad in [&b""[..], b";x", b"-1", b"1x", b"12345678901234567"] {
            assert!(chunk_size(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn keep_alive_needs_http_1_1_without_close_or_1_0_with_keep_alive() {
        let keeps = |lines: &[(&str, &str)], version| fields(lines).unwrap().keep_alive(version);
        assert!(keeps(&[], Version::HTTP_11));
        assert!(!keeps(
            &[("connection", "Keep-Alive, Close")],
            Version::HTTP_11
        ));
        assert!(keeps(&[("connection", "keep-alive")], Version::HTTP_10));
        assert!(!keeps(&[], Version::HTTP_10));
    }

    #[test]
    fn a_request_is_written_in_origin_form_with_host_first() {
        let request = http::Request::post("http://api.example:8080/a/b?c=1")
            .header("x-one", "1")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        let host = HeaderValue::from_static("api.example:8080");
        let head = "POST /a/b?c=1 HTTP/1.1\r\nhost: api.example:8080\r\nx-one: 1\r\n\r\n";
        let wire = |data: Bytes| {
            let w = encode(
                &request,
                &host,
                OutBody {
                    data: Some(data),
                    sized: false,
                },
            );
            [w.head, w.body.to_vec(), w.tail.to_vec()].concat()
        };
        assert_eq!(
            String::from_utf8(wire(Bytes::from_static(b"hello"))).unwrap(),
            format!("{head}5\r\nhello\r\n0\r\n\r\n")
        );
        // A large body is not copied into the head, and goes out the same.
        let large = Bytes::from(vec![b'x'; INLINE_BODY + 1]);
        let expected = format!(
            "{head}{:X}\r\n{}\r\n0\r\n\r\n",
            INLINE_BODY + 1,
            "x".repeat(INLINE_BODY + 1)
        );
        assert_eq!(String::from_utf8(wire(large)).unwrap(), expected);
    }
}
