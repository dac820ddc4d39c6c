//! The time allowed to receive a request head (and to wait for the next one on a kept-alive
//! connection), watched once per connection instead of by hyper once per request.
//!
//! hyper's `header_read_timeout` arms a timer for every head: a boxed sleep registered in
//! tokio's timer wheel and removed again, and one more turn of the connection after each
//! answer (it polls the read again to start that timer): about 1,500 instructions per
//! request, 3.5 % of a one-backend proxy request (bench/profile-notes.md). Here a watchdog task
//! per connection looks at the connection every quarter of the limit and closes it once, for
//! the whole limit, no request was in progress, nothing was written and no write was waiting
//! for the client to read: a head that does not arrive in time (slowloris), or a connection
//! kept alive that long without a request. So a connection is closed between the limit and
//! a quarter more after its last activity. A request costs two counter updates, a write one.
//!
//! HTTP/2 connections are watched only until their first request (hyper's timeout was HTTP/1
//! only; an h2 client keeps its connection open between requests). An upgraded connection
//! (WebSocket) leaves hyper's connection task, whose end ends the watch: its relay has its own
//! idle timeout.

use std::io::IoSlice;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::task::AbortHandle;
use tokio::time::{Instant, MissedTickBehavior};

/// What the watchdog reads of one connection.
#[derive(Debug, Default)]
pub struct Watch {
    /// Requests in progress: from the head to the end of the answer's body handed over (a
    /// streamed body: to its end).
    active: AtomicUsize,
    /// Bumped by every request's start and end and every write: changed since the last look,
    /// the connection was not idle.
    seen: AtomicUsize,
    /// The last write found the client's receive window full: an answer is still being
    /// delivered, however slowly the client reads.
    blocked: AtomicBool,
    /// No longer watched (HTTP/2).
    exempt: AtomicBool,
}

impl Watch {
    /// A request started; in progress until the guard is dropped.
    pub fn busy(&self) -> Busy<'_> {
        self.start();
        Busy(self)
    }

    /// [`Self::busy`] for a guard that outlives the request's handler (a streamed body).
    pub fn busy_owned(watch: &Arc<Self>) -> BusyOwned {
        watch.start();
        BusyOwned(watch.clone())
    }

    /// Stop watching this connection (HTTP/2 between requests).
    pub fn exempt(&self) {
        self.exempt.store(true, Relaxed);
    }

    fn start(&self) {
        self.active.fetch_add(1, Relaxed);
        self.seen.fetch_add(1, Relaxed);
    }

    fn end(&self) {
        self.seen.fetch_add(1, Relaxed);
        self.active.fetch_sub(1, Relaxed);
    }

    /// Whether the connection could be idle now: nothing in progress, nothing being written.
    fn quiet(&self) -> bool {
        self.active.load(Relaxed) == 0 && !self.blocked.load(Relaxed)
    }
}

/// A request in progress ([`Watch::busy`]).
#[derive(Debug)]
pub struct Busy<'a>(&'a Watch);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// A request in progress, owning its watch ([`Watch::busy_owned`]).
#[derive(Debug)]
pub struct BusyOwned(Arc<Watch>);

impl Drop for BusyOwned {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// Closes the connection run by `task` once it has been idle for `limit` ([`Watch`]); ends
/// with the connection.
pub async fn watchdog(watch: Weak<Watch>, limit: Duration, task: AbortHandle) {
    let tick = (limit / 4).max(Duration::from_millis(1));
    let mut ticks = tokio::time::interval_at(Instant::now() + tick, tick);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut idle_since = Instant::now();
    let mut last = 0;
    loop {
        let now = ticks.tick().await;
        let Some(watch) = watch.upgrade() else {
            return;
        };
        if task.is_finished() || watch.exempt.load(Relaxed) {
            return;
        }
        let seen = watch.seen.load(Relaxed);
        if seen != last || !watch.quiet() {
            last = seen;
            idle_since = now;
        } else if now.duration_since(idle_since) >= limit {
            task.abort();
            return;
        }
    }
}

/// A connection's stream, its writes seen by its [`Watch`].
#[derive(Debug)]
pub struct Watched<S> {
    inner: S,
    watch: Arc<Watch>,
}

impl<S> Watched<S> {
    /// `inner`, watched by `watch`.
    pub fn new(inner: S, watch: Arc<Watch>) -> Self {
        Self { inner, watch }
    }

    /// Notes a write: bytes written are activity, a write waiting on the client blocks the
    /// timeout. Only writes count (a flush or a read is no activity: a client trickling its
    /// head a byte at a time wakes the connection for each, and must still be closed).
    fn wrote(&self, poll: Poll<std::io::Result<usize>>) -> Poll<std::io::Result<usize>> {
        match &poll {
            Poll::Ready(Ok(n)) if *n > 0 => {
                self.watch.blocked.store(false, Relaxed);
                self.watch.seen.fetch_add(1, Relaxed);
            }
            Poll::Pending => self.watch.blocked.store(true, Relaxed),
            Poll::Ready(_) => {}
        }
        poll
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.wrote(poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.wrote(poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
