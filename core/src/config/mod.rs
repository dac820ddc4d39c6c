//! Configuration: KrakenD v3 JSON to a validated [`Config`] in one step.
//!
//! `raw` mirrors the file; `root`, `endpoint` and `backend` turn each level into the typed
//! `plan` (with the shared field decoders in `fields`), and `extra` does the same for every
//! `extra_config` namespace. All of them decode through the one decoder in `decode`, so the
//! key rules are the same everywhere and every rule reports a located [`Diagnostic`]. All
//! problems are collected, not just the first.

mod backend;
pub mod bake;
pub mod capability;
pub mod compiled_env;
mod decode;
mod discovery;
mod duration;
mod endpoint;
pub mod env;
mod error;
pub mod extra;
mod fields;
pub mod files;
pub mod load;
mod params;
mod plan;
mod raw;
mod root;
pub mod runtime_env;
pub mod tls;
mod track;

pub use discovery::DnsDiscovery;
pub use duration::parse_duration;
#[doc(hidden)]
pub use error::Path;
pub use error::{ConfigErrors, Diagnostic};
pub use plan::{
    Backend, BackendQos, Config, Encoding, Endpoint, EndpointGuards, HeaderFilter, OutputEncoding,
    QueryFilter, RootGuards, Routes, ServerTimeouts, TelemetryOptions,
};

/// The endpoint timeout when neither the endpoint nor the root sets one (KrakenD's default).
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Parse and validate a KrakenD v3 config text. On success the warnings are in
/// [`Config::warnings`]; on failure every error and warning is returned.
pub fn parse(text: &str) -> Result<Config, ConfigErrors> {
    root::parse(text)
}
