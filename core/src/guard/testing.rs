//! What the guards' tests share: a platform whose backends always answer, whose clock is moved
//! by hand and whose timers never fire.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;

use crate::platform::{
    BackendRequest, BackendResponse, BoxFuture, ClientError, Clock, HttpClient, Sleep,
};

/// Backends answer 200 `{"ok":true}`; the clock reads 2026-01-01 plus the milliseconds in
/// `.0`; timers never fire.
#[derive(Default)]
pub(crate) struct World(pub(crate) AtomicU64);

impl HttpClient for World {
    fn send(
        &self,
        _: BackendRequest,
        _: usize,
    ) -> BoxFuture<'static, Result<BackendResponse, ClientError>> {
        Box::pin(async { Ok(http::Response::new(Bytes::from_static(b"{\"ok\":true}"))) })
    }
}

impl Clock for World {
    fn now_millis(&self) -> u64 {
        1_767_225_600_000 + self.0.load(Ordering::SeqCst)
    }
}

impl Sleep for World {
    fn sleep(&self, _: Duration) -> BoxFuture<'static, ()> {
        Box::pin(std::future::pending())
    }
}
