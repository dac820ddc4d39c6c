//! Graceful shutdown of the server's connections, at no cost per poll.
//!
//! hyper-util's `GracefulShutdown` wraps each connection in a future that polls a `watch`
//! channel's `changed()` at every poll of the connection: about 185 instructions a poll, 450
//! per request on a kept-alive connection (bench/profile-notes.md). Here a connection's task
//! waker is registered once (again only if the task's waker changes), and starting the
//! shutdown wakes every registered connection, which then asks hyper for its graceful
//! shutdown: an idle connection closes, a busy one finishes its requests first.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use hyper_util::server::graceful::GracefulConnection;

/// The shutdown signal shared by the server and its connections.
#[derive(Debug, Default, Clone)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    started: AtomicBool,
    /// The task waker of each connection, by connection number.
    wakers: Mutex<HashMap<u64, Waker>>,
    next: AtomicU64,
}

impl Inner {
    fn wakers(&self) -> MutexGuard<'_, HashMap<u64, Waker>> {
        // Plain values: a panic elsewhere must not stop the shutdown.
        self.wakers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Shutdown {
    /// `conn`, to be shut down gracefully when [`Self::start`] is called (at once if it was).
    pub fn watch<C: GracefulConnection>(&self, conn: C) -> Graceful<C> {
        Graceful {
            conn: Box::pin(conn),
            inner: self.inner.clone(),
            id: self.inner.next.fetch_add(1, SeqCst),
            waker: None,
            shutting: false,
        }
    }

    /// Ask every watched connection to finish its requests and close.
    pub fn start(&self) {
        // Set before the wakers are read: a connection registering after this sees it.
        self.inner.started.store(true, SeqCst);
        for waker in self.inner.wakers().values() {
            waker.wake_by_ref();
        }
    }
}

/// A connection watched by a [`Shutdown`].
pub struct Graceful<C> {
    conn: Pin<Box<C>>,
    inner: Arc<Inner>,
    id: u64,
    /// The waker registered for this connection's task.
    waker: Option<Waker>,
    /// Its graceful shutdown was asked for.
    shutting: bool,
}

impl<C> std::fmt::Debug for Graceful<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graceful")
            .field("id", &self.id)
            .field("shutting", &self.shutting)
            .finish_non_exhaustive()
    }
}

impl<C: GracefulConnection> Future for Graceful<C> {
    type Output = C::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<C::Output> {
        let this = &mut *self;
        if !this.shutting {
            if !this.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                this.inner.wakers().insert(this.id, cx.waker().clone());
                this.waker = Some(cx.waker().clone());
            }
            // Read after the registration: a shutdown started since has woken it or shows here.
            if this.inner.started.load(SeqCst) {
                this.shutting = true;
                this.conn.as_mut().graceful_shutdown();
            }
        }
        this.conn.as_mut().poll(cx)
    }
}

impl<C> Drop for Graceful<C> {
    fn drop(&mut self) {
        if self.waker.is_some() {
            self.inner.wakers().remove(&self.id);
        }
    }
}
