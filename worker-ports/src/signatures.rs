//! The `Signatures` port on WebCrypto: `auth/validator`'s RSA, ECDSA and Ed25519 signatures
//! verified by the runtime (src/webcrypto.js), so the Worker carries no big-number or curve
//! arithmetic of its own (docs/workers.md, "Token signatures").

use manifold_core::jose::{Alg, PlatformKey};
use manifold_core::platform::Signatures;
use manifold_core::BoxFuture;
use wasm_bindgen::prelude::wasm_bindgen;
use worker::js_sys::Promise;
use worker::wasm_bindgen_futures::JsFuture;

#[wasm_bindgen(module = "/src/webcrypto.js")]
extern "C" {
    /// Resolves to whether `signature` is `alg`'s signature of `input` under the JWK `jwk`.
    #[wasm_bindgen(js_name = verify)]
    fn webcrypto_verify(alg: &str, jwk: &str, input: &[u8], signature: &[u8]) -> Promise;
}

/// `crypto.subtle`, with each key imported once per isolate.
#[derive(Debug, Clone, Copy, Default)]
pub struct WebCrypto;

impl Signatures for WebCrypto {
    fn verify(
        &self,
        alg: Alg,
        key: &PlatformKey,
        input: &[u8],
        signature: &[u8],
    ) -> BoxFuture<'static, bool> {
        let verified = JsFuture::from(webcrypto_verify(alg.as_str(), &key.0, input, signature));
        Box::pin(async move { verified.await.is_ok_and(|v| v.as_bool() == Some(true)) })
    }
}
