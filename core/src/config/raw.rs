//! Serde mirror of the KrakenD v3 file: field names are KrakenD's keys, verbatim (they are
//! also the known keys for "did you mean"). Nested sections stay `serde_json::Value` here so
//! each one is decoded (and its errors located) separately, which lets one run report every
//! problem instead of the first.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// The root object.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RawRoot {
    pub(crate) version: Option<Value>,
    #[serde(rename = "$schema")]
    pub(crate) schema: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) port: Option<u16>,
    pub(crate) listen_ip: Option<String>,
    pub(crate) timeout: Option<String>,
    pub(crate) cache_ttl: Option<String>,
    pub(crate) host: Vec<String>,
    pub(crate) output_encoding: Option<String>,
    pub(crate) debug_endpoint: bool,
    pub(crate) echo_endpoint: bool,
    pub(crate) disable_rest: bool,
    pub(crate) max_header_bytes: Option<u64>,
    pub(crate) read_timeout: Option<String>,
    pub(crate) write_timeout: Option<String>,
    pub(crate) idle_timeout: Option<String>,
    pub(crate) read_header_timeout: Option<String>,
    /// Manifold: namespaces that restrict access or traffic, which Manifold does not enforce,
    /// accepted anyway (for migrations; each is reported loudly).
    pub(crate) ignore_unenforced: Vec<String>,
    pub(crate) endpoints: Vec<Value>,
    pub(crate) extra_config: BTreeMap<String, Value>,
    /// The native server's HTTPS (KrakenD's `tls`).
    pub(crate) tls: Option<Value>,
    /// The backend client's TLS (KrakenD's `client_tls`).
    pub(crate) client_tls: Option<Value>,
    /// Manifold: the files the config names, as a front end read them (`config::files`).
    pub(crate) embedded_files: BTreeMap<String, String>,
    /// Manifold: why a file the config names could not be read (`config::files`).
    pub(crate) embedded_file_errors: BTreeMap<String, String>,
}

/// One entry of `endpoints`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RawEndpoint {
    pub(crate) endpoint: Option<String>,
    pub(crate) method: Option<Value>,
    pub(crate) timeout: Option<String>,
    pub(crate) cache_ttl: Option<String>,
    pub(crate) concurrent_calls: Option<u32>,
    pub(crate) input_headers: Option<Vec<String>>,
    pub(crate) input_query_strings: Option<Vec<String>>,
    pub(crate) output_encoding: Option<String>,
    pub(crate) backend: Vec<Value>,
    pub(crate) extra_config: BTreeMap<String, Value>,
}

/// One entry of an endpoint's `backend` list.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RawBackend {
    pub(crate) host: Vec<String>,
    pub(crate) url_pattern: Option<String>,
    pub(crate) method: Option<String>,
    pub(crate) encoding: Option<String>,
    pub(crate) allow: Vec<String>,
    pub(crate) deny: Vec<String>,
    pub(crate) mapping: BTreeMap<String, String>,
    pub(crate) group: Option<String>,
    pub(crate) target: Option<String>,
    pub(crate) is_collection: bool,
    pub(crate) input_headers: Option<Vec<String>>,
    pub(crate) input_query_strings: Option<Vec<String>>,
    pub(crate) disable_host_sanitize: bool,
    /// Service discovery: `static` (default) or `dns` (DNS SRV).
    pub(crate) sd: Option<String>,
    /// The scheme of the targets service discovery finds (`http`, `https`).
    pub(crate) sd_scheme: Option<String>,
    pub(crate) extra_config: BTreeMap<String, Value>,
}

/// Keys KrakenD knows at the root that Manifold accepts without using (server tuning that the
/// adapters own, telemetry, plugins). Listed so `check` can say "no effect" instead of "unknown".
pub(crate) const ROOT_NO_EFFECT: &[&str] = &[
    "idle_connection_timeout",
    "response_header_timeout",
    "expect_continue_timeout",
    "dialer_timeout",
    "dialer_fallback_delay",
    "dialer_keep_alive",
    "disable_keep_alives",
    "disable_compression",
    "max_idle_connections",
    "max_idle_connections_per_host",
    "plugin",
    "sequential_start",
    "async_agent",
    "use_h2c",
    "dns_cache_ttl",
    "allow_insecure_connections",
];

/// Endpoint keys KrakenD knows that Manifold accepts without using.
pub(crate) const ENDPOINT_NO_EFFECT: &[&str] = &[];

/// Backend keys KrakenD knows that Manifold accepts without using.
pub(crate) const BACKEND_NO_EFFECT: &[&str] = &["timeout"];
