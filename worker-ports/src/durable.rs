//! The Durable Object class behind a pool's rate limits on Workers (exported by the Worker as
//! `ManifoldStore`; wrangler.toml binds it and declares its migration).
//!
//! One object per bucket: the Worker addresses it by the bucket's key (`id_from_name`), so
//! every isolate in every location takes from the same object. An object runs one event at a
//! time and its storage calls close its input gate (no other request is delivered while one
//! is pending), so the read, the arithmetic and the write of a take are atomic. The arithmetic
//! is the core's [`Bucket`], the same as in memory and in the Redis script. The state is
//! persisted (it survives restarts and evictions) and deleted by an alarm once the bucket would
//! be full again, so an idle client costs nothing.

use manifold_core::platform::{Bucket, Rate};
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

/// The storage key of the one bucket an object holds.
const BUCKET: &str = "bucket";
/// Kept past the moment the bucket is full again, so the alarm never races a refill.
const GRACE_MS: u64 = 1000;

/// One token bucket, persisted.
#[durable_object(alarm)]
pub struct ManifoldStore {
    state: State,
}

impl std::fmt::Debug for ManifoldStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManifoldStore").finish_non_exhaustive()
    }
}

impl DurableObject for ManifoldStore {
    fn new(state: State, _env: Env) -> Self {
        Self { state }
    }

    /// `GET /take?per_ms=&capacity=&now=`: one take; answers `<1|0> <tokens left>`.
    async fn fetch(&self, req: Request) -> Result<Response> {
        let url = req.url()?;
        let arg = |name: &str| {
            url.query_pairs()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.parse::<f64>().ok())
        };
        let (Some(rate), Some(now)) = (
            arg("per_ms")
                .zip(arg("capacity"))
                .and_then(|(p, c)| Rate::from_parts(p, c)),
            arg("now").filter(|n| n.is_finite() && *n >= 0.0),
        ) else {
            return Response::error("bad take", 400);
        };
        // Unix milliseconds: integral and far below 2^53 (checked above to be non-negative).
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let now = now as u64;
        let storage = self.state.storage();
        let kept: Option<(f64, f64)> = storage.get(BUCKET).await?;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let mut bucket = kept.map_or(Bucket::full(rate, now), |(t, at)| {
            Bucket::from_state(t, at as u64)
        });
        let taken = bucket.take(rate, now);
        #[allow(clippy::cast_precision_loss)]
        let at = bucket.at_ms() as f64;
        storage.put(BUCKET, (bucket.tokens(), at)).await?;
        let expire = std::time::Duration::from_millis(taken.reset_ms.saturating_add(GRACE_MS));
        storage.set_alarm(expire).await?;
        Response::ok(format!("{} {}", u8::from(taken.allowed), bucket.tokens()))
    }

    /// The bucket is full again: forget it (a missing bucket is a full one).
    async fn alarm(&self) -> Result<Response> {
        self.state.storage().delete_all().await?;
        Response::empty()
    }
}
