//! Configuration: KrakenD v3 JSON to a validated [`Config`] in one step.
//!
//! `raw` mirrors the file, `validate` turns it into the typed `plan`, and every rule reports a
//! located [`Diagnostic`]. All problems are collected, not just the first.

mod duration;
pub mod env;
mod error;
pub mod extra;
pub mod load;
mod plan;
mod raw;
mod validate;

pub use duration::parse_duration;
pub use error::{ConfigErrors, Diagnostic};
pub use plan::{
    Backend, BackendQos, Config, Encoding, Endpoint, EndpointGuards, HeaderFilter, OutputEncoding,
    QueryFilter, RootGuards,
};

/// The endpoint timeout when neither the endpoint nor the root sets one (KrakenD's default).
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Parse and validate a KrakenD v3 config text. On success the warnings are in
/// [`Config::warnings`]; on failure every error and warning is returned.
pub fn parse(text: &str) -> Result<Config, ConfigErrors> {
    validate::validate(text)
}
