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
use worker::js_sys::{Object, Reflect};
use worker::wasm_bindgen::JsValue;
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

/// The storage keys of the one bucket an object holds: its tokens and its time (Unix ms).
const TOKENS: &str = "t";
/// See [`TOKENS`].
const AT: &str = "at";
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

    /// `GET /take?per_ms=&capacity=&now=`: one take; answers `<1|0> <tokens left>`. The rate's
    /// and the tokens' `f64`s travel as their bits (exact, and no float formatting or `url`
    /// parsing in the bundle); `now` is Unix ms.
    async fn fetch(&self, req: Request) -> Result<Response> {
        let url = req.inner().url();
        let query = url.split_once('?').map_or("", |(_, q)| q);
        let arg = |name: &str| {
            query.split('&').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                (k == name).then(|| v.parse::<u64>().ok())?
            })
        };
        let rate = arg("per_ms")
            .zip(arg("capacity"))
            .and_then(|(p, c)| Rate::from_parts(f64::from_bits(p), f64::from_bits(c)));
        let (Some(rate), Some(now)) = (rate, arg("now")) else {
            return Response::error("bad take", 400);
        };
        // Raw JS numbers, not serde: a deserializer would bring float formatting for its
        // error messages (~12 KB of the bundle).
        let storage = self.state.storage();
        let kept = storage.get_multiple(vec![TOKENS, AT]).await?;
        let number = |key: &str| kept.get(&JsValue::from_str(key)).as_f64();
        // The time is stored as a JS number: Unix ms, integral and far below 2^53.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let mut bucket = match (number(TOKENS), number(AT)) {
            (Some(t), Some(at)) => Bucket::from_state(t, at as u64),
            _ => Bucket::full(rate, now),
        };
        let taken = bucket.take(rate, now);
        let state = Object::new();
        #[allow(clippy::cast_precision_loss)]
        let at = bucket.at_ms() as f64;
        Reflect::set(&state, &JsValue::from_str(TOKENS), &bucket.tokens().into())?;
        Reflect::set(&state, &JsValue::from_str(AT), &at.into())?;
        storage.put_multiple_raw(state).await?;
        let expire = std::time::Duration::from_millis(taken.reset_ms.saturating_add(GRACE_MS));
        storage.set_alarm(expire).await?;
        let allowed = if taken.allowed { "1" } else { "0" };
        Response::ok(format!("{allowed} {}", bucket.tokens().to_bits()))
    }

    /// The bucket is full again: forget it (a missing bucket is a full one).
    async fn alarm(&self) -> Result<Response> {
        self.state.storage().delete_all().await?;
        Response::empty()
    }
}
