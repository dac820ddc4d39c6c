//! The server's response body: a whole answer, or a backend's body streamed through as it
//! arrives (docs/streaming.md). A stream that breaks off (the backend stalled past the
//! endpoint timeout, or dropped the connection) aborts the answer: hyper then closes the
//! HTTP/1.1 connection without the final chunk, or resets the h2 stream, so the client sees
//! an incomplete body rather than a clean end. The cause is logged once.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Method, Response};
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use manifold_core::platform::ClientError;
use manifold_core::{Body, Chunks, Config};

use crate::head_timeout::BusyOwned;
use tracing::warn;

/// What the native server sends.
pub enum Outgoing {
    /// A whole body, sent in one frame.
    Full(Option<Bytes>),
    /// A backend's body, frame by frame as it arrives.
    Stream {
        /// The chunks.
        chunks: Chunks,
        /// The request, for the log line of a stream that breaks off.
        what: String,
        /// The request counts as in progress until the stream ends (head_timeout.rs).
        busy: Option<BusyOwned>,
    },
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Full(bytes) => f
                .debug_tuple("Full")
                .field(&bytes.as_ref().map(Bytes::len))
                .finish(),
            Self::Stream { what, .. } => f.debug_struct("Stream").field("what", what).finish(),
        }
    }
}

impl Outgoing {
    /// Keeps `guard()` until a streamed body ends (a whole one is handed over at once).
    pub fn hold(&mut self, guard: impl FnOnce() -> BusyOwned) {
        if let Self::Stream { busy, .. } = self {
            *busy = Some(guard());
        }
    }

    /// A whole body.
    pub fn full(bytes: Bytes) -> Self {
        Self::Full(Some(bytes))
    }
}

/// The gateway's answer as the server sends it: a whole body compressed as configured
/// (`manifold/compression`), a streamed one passed through untouched (compressing it would
/// hold chunks back, which is what streaming is for).
pub fn outgoing(
    config: &Config,
    accepts: &manifold_native::Accepts,
    response: Response<Body>,
    method: &Method,
    path: &str,
) -> (Response<Outgoing>, usize) {
    let (parts, body) = response.into_parts();
    match body {
        Body::Full(bytes) => {
            let response = Response::from_parts(parts, bytes);
            let response = manifold_native::compress(config, accepts, response);
            let len = response.body().len();
            (response.map(Outgoing::full), len)
        }
        Body::Stream(chunks) => {
            let what = format!("{method} {path}");
            (
                Response::from_parts(
                    parts,
                    Outgoing::Stream {
                        chunks,
                        what,
                        busy: None,
                    },
                ),
                0,
            )
        }
    }
}

impl HttpBody for Outgoing {
    type Data = Bytes;
    type Error = ClientError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ClientError>>> {
        match self.get_mut() {
            Self::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Self::Stream { chunks, what, busy } => match chunks.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => Poll::Ready(Some(Ok(Frame::data(chunk)))),
                Poll::Ready(Some(Err(e))) => {
                    // The stream yields one error and ends: logged once, here.
                    warn!(request = %what, error = %e, "streamed answer aborted");
                    *busy = None;
                    Poll::Ready(Some(Err(e)))
                }
                Poll::Ready(None) => {
                    *busy = None;
                    Poll::Ready(None)
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Self::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            // A backend's `Content-Length`, passed on in the head, frames it; else chunked.
            Self::Stream { .. } => SizeHint::default(),
        }
    }
}
