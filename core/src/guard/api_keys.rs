//! `auth/api-keys`: the API-key guard of an endpoint (KrakenD Enterprise's RBAC by key).
//!
//! An empty 401 when the request carries no key or one nobody declared, an empty 403 when the
//! key is known but has none of the endpoint's roles. A known key leaves its identity (never
//! the key) in the [`GuardState`] for rate limits with `strategy: "api_key"`, and, with
//! `propagate_role`, the matched role in a header for the backends. Keys are compared as
//! SHA-256 digests in constant time and never logged. A key that is not the config's is
//! looked up in the `keys_from` store when there is one ([`StoredKeys`]); a store that does
//! not answer gets an empty 503 (fail closed: the client's key may well be valid).

use std::borrow::Cow;
use std::ops::ControlFlow;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};

use super::stored_keys::StoredKeys;
use super::{GuardState, Inbound};
use crate::config::extra::{EndpointApiKeys, KeyIn};

/// What the backend gets in `propagate_role` when the endpoint admits every key (KrakenD's).
const ANY_ROLE: &str = "ANY";

/// The `auth/api-keys` guard of one endpoint.
#[derive(Debug)]
pub(crate) struct ApiKeyGuard {
    cfg: Arc<EndpointApiKeys>,
    /// The `keys_from` store, shared by every endpoint of the gateway (one cache).
    stored: Option<Arc<StoredKeys>>,
}

fn reject(status: StatusCode) -> ControlFlow<Response<Bytes>> {
    ControlFlow::Break(crate::http_util::empty(status))
}

impl ApiKeyGuard {
    /// The guard for an endpoint's resolved settings.
    pub(crate) fn new(cfg: Arc<EndpointApiKeys>, stored: Option<Arc<StoredKeys>>) -> Self {
        Self { cfg, stored }
    }

    /// The key as sent: the header's value (without a `Bearer ` prefix) or the query
    /// parameter's (form-decoded; the first one when repeated).
    fn presented(&self, req: &Inbound<'_>) -> Option<String> {
        let key = match self.cfg.strategy {
            KeyIn::Header => {
                let raw = req
                    .parts
                    .headers
                    .get(self.cfg.identifier.as_str())?
                    .to_str()
                    .ok()?
                    .trim();
                match raw.get(..7) {
                    Some(p) if p.eq_ignore_ascii_case("bearer ") => raw.get(7..)?.trim().to_owned(),
                    _ => raw.to_owned(),
                }
            }
            KeyIn::QueryString => {
                let query = req.parts.uri.query()?;
                crate::http_util::parse_query(query)
                    .into_iter()
                    .find(|(k, _)| *k == self.cfg.identifier)
                    .map(|(_, v)| v)?
            }
        };
        (!key.is_empty()).then_some(key)
    }

    /// Checkpoint: 401 without a known key, 403 without an admitted role, 503 when the
    /// `keys_from` store had to be asked and did not answer.
    pub(crate) async fn check(
        &self,
        req: &Inbound<'_>,
        state: &mut GuardState,
    ) -> ControlFlow<Response<Bytes>> {
        let Some(presented) = self.presented(req) else {
            return reject(StatusCode::UNAUTHORIZED);
        };
        let keys = &self.cfg.keys;
        let key = match (keys.find(&keys.digest(&presented)), &self.stored) {
            (Some(key), _) => Cow::Borrowed(key),
            (None, None) => return reject(StatusCode::UNAUTHORIZED),
            (None, Some(stored)) => match stored.find(keys, &presented).await {
                Ok(Some(key)) => Cow::Owned(key),
                Ok(None) => return reject(StatusCode::UNAUTHORIZED),
                Err(_) => return reject(StatusCode::SERVICE_UNAVAILABLE),
            },
        };
        let role = if self.cfg.roles.is_empty() {
            ANY_ROLE
        } else {
            match key.roles.iter().find(|r| self.cfg.roles.contains(r)) {
                Some(role) => role.as_str(),
                None => return reject(StatusCode::FORBIDDEN),
            }
        };
        if let Some(name) = &keys.propagate_role {
            state
                .headers
                .push((name.clone(), HeaderValue::from_str(role).ok()));
        }
        state.api_key = Some(key.id.clone());
        ControlFlow::Continue(())
    }
}
