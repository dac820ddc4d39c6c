//! "Send outside wasm": the one file in the workspace that looks at the target architecture.
//!
//! Lambda's runtime needs `Send` futures; Workers' JS-backed futures are `!Send`. Every trait
//! object and boxed future in the core uses these aliases, so the same code is `Send` on native
//! targets and single-threaded on wasm32 without any `unsafe impl Send`. The Workers crates'
//! JS-backed code exists only on wasm32; they say so with [`wasm_only!`](crate::wasm_only)
//! rather than a `cfg` of their own, so this file stays the one place that decides.

use std::future::Future;
use std::pin::Pin;

/// `Send` on native targets, nothing on wasm32.
#[cfg(not(target_arch = "wasm32"))]
pub trait MaybeSend: Send {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Send + ?Sized> MaybeSend for T {}

/// `Send` on native targets, nothing on wasm32.
#[cfg(target_arch = "wasm32")]
pub trait MaybeSend {}
#[cfg(target_arch = "wasm32")]
impl<T: ?Sized> MaybeSend for T {}

/// `Sync` on native targets, nothing on wasm32.
#[cfg(not(target_arch = "wasm32"))]
pub trait MaybeSync: Sync {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Sync + ?Sized> MaybeSync for T {}

/// `Sync` on native targets, nothing on wasm32.
#[cfg(target_arch = "wasm32")]
pub trait MaybeSync {}
#[cfg(target_arch = "wasm32")]
impl<T: ?Sized> MaybeSync for T {}

/// A boxed future that is `Send` on native targets and `!Send` on wasm32.
#[cfg(not(target_arch = "wasm32"))]
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A boxed future that is `Send` on native targets and `!Send` on wasm32.
#[cfg(target_arch = "wasm32")]
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// A boxed stream that is `Send` on native targets and `!Send` on wasm32 (a streamed body:
/// hyper's on native targets, a JS `ReadableStream` on Workers).
#[cfg(not(target_arch = "wasm32"))]
pub type BoxStream<'a, T> = Pin<Box<dyn futures_util::Stream<Item = T> + Send + 'a>>;

/// A boxed stream that is `Send` on native targets and `!Send` on wasm32 (a streamed body:
/// hyper's on native targets, a JS `ReadableStream` on Workers).
#[cfg(target_arch = "wasm32")]
pub type BoxStream<'a, T> = Pin<Box<dyn futures_util::Stream<Item = T> + 'a>>;

/// Items that exist only on wasm32 (the Workers ports and entry, which touch JS): the host
/// workspace builds and tests without a JS toolchain, and the target test stays in this file.
#[macro_export]
macro_rules! wasm_only {
    ($($item:item)*) => {
        $(
            #[cfg(target_arch = "wasm32")]
            $item
        )*
    };
}
