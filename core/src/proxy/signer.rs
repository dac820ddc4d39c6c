//! `auth/signer`: a layer on the endpoint's response that replaces each `keys_to_sign` object
//! with its JWS (krakend-jose's signer).

use std::sync::Arc;

use super::{ErrorSource, Proxy, ProxyError, ProxyRequest, ProxyResponse, SharedProxy};
use crate::config::extra::JwtSigner;
use crate::guard::jwks::KeyCache;
use crate::json::Value;
use crate::platform::{BoxFuture, Platform};

struct Signer {
    cfg: Arc<JwtSigner>,
    keys: KeyCache,
    next: SharedProxy,
}

/// The `auth/signer` layer: replaces each `keys_to_sign` object of the response with its JWS.
pub(crate) fn layer(cfg: Arc<JwtSigner>, next: SharedProxy, platform: &Platform) -> SharedProxy {
    Arc::new(Signer {
        keys: KeyCache::new(cfg.keys.clone(), cfg.alg, platform.clone()),
        cfg,
        next,
    })
}

impl Proxy for Signer {
    fn call(&self, request: ProxyRequest) -> BoxFuture<'_, Result<ProxyResponse, ProxyError>> {
        Box::pin(async move {
            let mut response = self.next.call(request).await?;
            let fail = || ProxyError::new(ErrorSource::Internal, "cannot sign the response");
            let kid = self.cfg.kid.as_str();
            for name in &self.cfg.keys_to_sign {
                let Some(value) = response.data.get_mut(name) else {
                    continue;
                };
                if !matches!(value, Value::Object(_)) {
                    return Err(fail());
                }
                let keys = self.keys.keys(Some(kid)).await.ok_or_else(fail)?;
                let key = keys.select(Some(kid)).ok_or_else(fail)?;
                let signed =
                    crate::jose::sign_hmac(self.cfg.alg, key, Some(kid), value).ok_or_else(fail)?;
                *value = Value::String(signed.into());
            }
            Ok(response)
        })
    }
}
