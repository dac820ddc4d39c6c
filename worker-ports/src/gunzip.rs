//! The `Gunzip` port on the runtime's `DecompressionStream` (src/gunzip.js): the Worker links
//! no gzip decoder of its own (docs/workers.md, "Size").

use bytes::Bytes;
use manifold_core::platform::{Gunzip, GunzipError};
use manifold_core::BoxFuture;
use wasm_bindgen::prelude::wasm_bindgen;
use worker::js_sys::{Promise, Uint8Array};
use worker::wasm_bindgen_futures::JsFuture;

#[wasm_bindgen(module = "/src/gunzip.js")]
extern "C" {
    /// Resolves to the decoded bytes, or to null past `limit`; rejects with a message.
    #[wasm_bindgen(js_name = gunzip)]
    fn js_gunzip(body: &[u8], limit: f64) -> Promise;
}

/// `DecompressionStream("gzip")`, read up to the core's limit.
#[derive(Debug, Clone, Copy, Default)]
pub struct DecompressionStream;

impl Gunzip for DecompressionStream {
    fn gunzip(&self, body: Bytes, limit: usize) -> BoxFuture<'static, Result<Bytes, GunzipError>> {
        let decoded = JsFuture::from(js_gunzip(&body, limit as f64));
        Box::pin(async move {
            match decoded.await {
                Ok(v) if v.is_null() => Err(GunzipError::TooLarge),
                Ok(v) => Ok(Bytes::from(Uint8Array::new(&v).to_vec())),
                Err(e) => Err(GunzipError::Invalid(
                    e.as_string().unwrap_or_else(|| "not gzip".to_owned()),
                )),
            }
        })
    }
}
