//! Streamed bodies, the port-level half of streaming passthrough (docs/streaming.md): a
//! backend answer whose chunks reach the client as they arrive instead of being read whole.
//!
//! The core never reads a streamed body: the client port hands one over
//! ([`super::HttpClient::send_streaming`]), the backend proxy wraps it in an idle timer (the
//! [`super::Sleep`] port) and the adapter that sends the answer pulls it
//! ([`crate::Gateway::handle_streaming`]). No tokio, no I/O here.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;

use super::{BoxStream, ClientError};

/// The chunks of a streamed body as they arrive; an `Err` ends it (the adapter then aborts
/// the answer instead of ending it cleanly, so the client can tell it is cut short).
pub type Chunks = BoxStream<'static, Result<Bytes, ClientError>>;

/// A message body: whole in memory, or a stream of chunks still arriving.
pub enum Body {
    /// The whole body.
    Full(Bytes),
    /// The body as it arrives.
    Stream(Chunks),
}

/// A backend answer whose body may still be arriving.
pub type StreamedResponse = http::Response<Body>;

/// Where a streamed answer's body waits between the backend proxy that opened it and the
/// gateway that hands it to the adapter (the pipeline in between passes whole `Bytes`
/// answers; the streamed one leaves an empty body there). Taken once; one per request.
#[derive(Clone, Default)]
pub(crate) struct StreamSlot(Arc<Mutex<Option<Chunks>>>);

/// Marks the rendered answer whose body is in the request's [`StreamSlot`], so a stream is
/// attached to the passthrough answer it belongs to and never to anything else.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Streamed;

// === impl Body ===

impl Body {
    /// The whole body, if it is not a stream.
    pub fn full(&self) -> Option<&Bytes> {
        match self {
            Self::Full(bytes) => Some(bytes),
            Self::Stream(_) => None,
        }
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Self {
        Self::Full(bytes)
    }
}

impl Default for Body {
    fn default() -> Self {
        Self::Full(Bytes::new())
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(bytes) => f.debug_tuple("Full").field(&bytes.len()).finish(),
            Self::Stream(_) => f.write_str("Stream"),
        }
    }
}

// === impl StreamSlot ===

impl StreamSlot {
    /// Leave `chunks` for the adapter (a second stream replaces the first, which is dropped:
    /// cancelled).
    pub(crate) fn put(&self, chunks: Chunks) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(chunks);
    }

    /// The stream left here, once.
    pub(crate) fn take(&self) -> Option<Chunks> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}
