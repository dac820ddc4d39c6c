//! Streaming passthrough (docs/streaming.md): which endpoints stream their backend's body to
//! the client as it arrives, and the idle timer that ends a stream whose backend stalled.
//!
//! An endpoint streams when nothing between the backend and the client needs the whole body:
//! `no-op` in and out, one backend (no merge, no shadow copy), no `qos/http-cache` (it keeps
//! whole answers), no CEL (response expressions read the answer), no `modifier/martian` (its
//! response modifiers may rewrite the body), not `backend/lambda` (an Invoke API answer is one
//! JSON document), no `auth/signer`, no static
//! data, one call (no `concurrent_calls` race). Even then a gzip answer is read whole, as
//! today, since `no-op` passthrough hands the client the decoded body. Everything else keeps
//! the buffered path, byte for byte.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;

use crate::config::{Encoding, Endpoint, OutputEncoding};
use crate::platform::{BoxFuture, Chunks, ClientError, ClientErrorKind, Sleep};

impl Endpoint {
    /// Whether this endpoint streams its backend's body to the client as it arrives, where the
    /// adapter can send a stream (natively and on Workers; docs/streaming.md).
    pub fn streams(&self) -> bool {
        streams(self)
    }
}

/// Whether `endpoint`'s answers stream (see the module doc for why each condition).
pub(crate) fn streams(endpoint: &Endpoint) -> bool {
    let [backend] = endpoint.backend.as_slice() else {
        return false;
    };
    endpoint.output_encoding == OutputEncoding::NoOp
        && backend.encoding == Encoding::NoOp
        && !backend.shadow
        && backend.qos.http_cache.is_none()
        && backend.cel.is_none()
        && backend.martian.is_none()
        && backend.lambda.is_none()
        && endpoint.cel.is_none()
        && endpoint.auth_signer.is_none()
        && endpoint.static_response.is_none()
        && endpoint.concurrent_calls <= 1
}

/// A streamed body that fails once no chunk arrived for `idle`: the endpoint `timeout`
/// applies to each gap between chunks, not to the whole body (the time to the head is the
/// deadline's). The failure is the stream's last item.
pub(crate) struct IdleTimeout {
    inner: Chunks,
    sleep: Arc<dyn Sleep>,
    idle: Duration,
    /// Started when the stream first has nothing to give, dropped by the next chunk.
    timer: Option<BoxFuture<'static, ()>>,
    done: bool,
}

impl IdleTimeout {
    /// `inner`, ended with an error after `idle` without a chunk.
    pub(crate) fn new(inner: Chunks, sleep: Arc<dyn Sleep>, idle: Duration) -> Self {
        Self {
            inner,
            sleep,
            idle,
            timer: None,
            done: false,
        }
    }
}

impl Stream for IdleTimeout {
    type Item = Result<Bytes, ClientError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        match this.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                this.timer = None;
                return Poll::Ready(Some(Ok(chunk)));
            }
            Poll::Ready(Some(Err(e))) => {
                this.done = true;
                return Poll::Ready(Some(Err(e)));
            }
            Poll::Ready(None) => {
                this.done = true;
                return Poll::Ready(None);
            }
            Poll::Pending => {}
        }
        let (sleep, idle) = (&this.sleep, this.idle);
        let timer = this.timer.get_or_insert_with(|| sleep.sleep(idle));
        if timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        this.done = true;
        let message = format!("backend sent nothing for {idle:?}: stream ended");
        Poll::Ready(Some(Err(ClientError::new(
            ClientErrorKind::Protocol,
            message,
        ))))
    }
}

#[cfg(test)]
mod tests;
