//! The `auth/client-credentials` namespace (backend): an OAuth2 client-credentials token
//! (RFC 6749 §4.4) fetched from `token_url` and sent to the backend as `Authorization`.
//! KrakenD's keys: `client_id`, `client_secret`, `token_url` (required), `scopes` (one string,
//! comma-separated) and `endpoint_params` (extra form fields, each a list of values).
//! Manifold only: `connection_name`, a `redis.connection_pools[]` entry where the tokens are
//! shared by every instance (as `qos/http-cache`'s `connection_name`).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::Namespace;
use crate::config::decode::Cx;
use crate::config::error::Path;

/// Options of `auth/client-credentials`.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    /// The client's id at the token server.
    pub client_id: String,
    /// The client's secret.
    pub client_secret: String,
    /// Where tokens are requested (`POST`, form-encoded).
    pub token_url: String,
    /// Scopes asked for (sent space-separated, as RFC 6749 §3.3 wants).
    pub scopes: Vec<String>,
    /// Extra form fields of the token request, in key order.
    pub endpoint_params: Vec<(String, String)>,
    /// Manifold only: the `redis.connection_pools[]` entry where tokens are shared by every
    /// instance (else each instance keeps its own).
    pub connection_name: Option<String>,
    /// Where `connection_name` is, for the pool reference check.
    #[doc(hidden)]
    pub pool_at: Path,
}

/// `auth/client-credentials` as written.
#[derive(Debug, Deserialize)]
pub(crate) struct RawClientCredentials {
    client_id: String,
    client_secret: String,
    token_url: String,
    #[serde(default)]
    scopes: String,
    #[serde(default)]
    endpoint_params: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    connection_name: Option<String>,
}

// === impl ClientCredentials ===

impl Namespace for ClientCredentials {
    type Raw = RawClientCredentials;

    fn plan(raw: RawClientCredentials, cx: &mut Cx<'_, '_>) -> Option<Self> {
        let mut problems = Vec::new();
        match raw.token_url.parse::<http::Uri>() {
            Ok(uri)
                if matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some() => {}
            _ => problems.push((
                "token_url",
                format!(
                    "`{}` is not an absolute http:// or https:// URL",
                    raw.token_url
                ),
            )),
        }
        if raw.client_id.is_empty() {
            problems.push(("client_id", "`client_id` must not be empty".to_owned()));
        }
        let reserved = ["grant_type", "scope", "client_id", "client_secret"];
        for key in raw.endpoint_params.keys() {
            if reserved.contains(&key.as_str()) {
                problems.push((
                    "endpoint_params",
                    format!("`{key}` is set by the token request itself; it cannot be an endpoint param"),
                ));
            }
        }
        let options = Self {
            client_id: raw.client_id,
            client_secret: raw.client_secret,
            token_url: raw.token_url,
            scopes: raw
                .scopes
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            endpoint_params: raw
                .endpoint_params
                .into_iter()
                .flat_map(|(k, vs)| vs.into_iter().map(move |v| (k.clone(), v)))
                .collect(),
            connection_name: raw.connection_name,
            pool_at: cx.path().key("connection_name"),
        };
        super::checked(cx, options, &problems)
    }
}
