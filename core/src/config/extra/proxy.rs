//! The `proxy` namespace (endpoint and backend level): sequential backends, static data,
//! `flatmap_filter`, shadow backends. Decoded once into typed values; the flatmap paths are
//! split at load time so nothing is parsed per request.

use serde::Deserialize;

use super::Namespace;
use crate::config::decode::{Cx, Level};
use crate::json::{Map, Value};

/// Options of the `proxy` namespace, as written in the file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ProxyOptions {
    /// Endpoint: call the backends one after another; later ones may use `{resp<N>_<path>}`.
    pub sequential: bool,
    /// Endpoint: values exposed as request params for scripting (Lua/CEL). Accepted for
    /// compatibility; nothing in Manifold reads request params by these names yet.
    pub sequential_propagated_params: Vec<String>,
    /// Endpoint: data merged over the response when the strategy applies.
    #[serde(rename = "static")]
    pub static_response: Option<StaticResponse>,
    /// Endpoint (with >1 backend) or backend: array-aware reshaping operations.
    pub flatmap_filter: Vec<FlatmapOp>,
    /// Backend: send it a copy of the request in the background and ignore its answer.
    pub shadow: bool,
    /// Backend: deadline of a shadow call (Go duration); defaults to the endpoint timeout.
    pub shadow_timeout: Option<String>,
    /// Accepted for compatibility: Manifold always gives each backend its own copy of the body.
    pub force_sandboxed_request: bool,
}

/// `proxy.static`: when to apply, and what.
#[derive(Debug, Clone, Deserialize)]
pub struct StaticResponse {
    /// When the data is applied (default `always`).
    #[serde(default)]
    pub strategy: StaticStrategy,
    /// The object shallow-merged over the response (static keys win).
    #[serde(deserialize_with = "object")]
    pub data: Map,
}

/// `proxy.static.strategy` (lura's five matchers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StaticStrategy {
    /// Every time.
    #[default]
    Always,
    /// No backend failed.
    Success,
    /// No backend failed and the response is complete.
    Complete,
    /// At least one backend failed (all, or some of them).
    Errored,
    /// No response at all, or an incomplete one.
    Incomplete,
}

/// One `flatmap_filter` operation. Paths are dot-separated; `*` matches every element of an
/// array at that position.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawOp")]
pub enum FlatmapOp {
    /// `move a b`: take the value(s) at `a` and put them at `b` (a rename when both are in the
    /// same place; `*` in `b` reuses the indexes matched by `*` in `a`).
    Move {
        /// Source path.
        from: Vec<String>,
        /// Destination path.
        to: Vec<String>,
    },
    /// `del a [b ...]`: remove the value(s) at each path.
    Del {
        /// Paths to remove.
        paths: Vec<Vec<String>>,
    },
    /// `append a b`: append the array at `a` to the array at `b` (created when missing), then
    /// remove `a`.
    Append {
        /// Source array.
        from: Vec<String>,
        /// Destination array.
        to: Vec<String>,
    },
}

#[derive(Deserialize)]
struct RawOp {
    #[serde(rename = "type")]
    kind: String,
    args: Vec<String>,
}

// === impl ProxyOptions ===

impl Namespace for ProxyOptions {
    type Raw = Self;

    /// Warn about keys that have no effect at this level (each level reads its own keys).
    fn plan(raw: Self, cx: &mut Cx<'_, '_>) -> Option<Self> {
        match cx.level() {
            Level::Endpoint => {
                if raw.shadow || raw.shadow_timeout.is_some() {
                    cx.warn(
                        "`shadow` belongs on a backend's `proxy` namespace; it has no effect here",
                    );
                }
                if raw.force_sandboxed_request {
                    cx.at("force_sandboxed_request").warn("`force_sandboxed_request` has no effect: every backend always gets its own copy of the request");
                }
                if !raw.sequential_propagated_params.is_empty() {
                    cx.at("sequential_propagated_params").warn("`sequential_propagated_params` has no effect: Manifold has no scripting that reads propagated params (use `{resp<N>_<path>}` in url_pattern)");
                }
            }
            Level::Backend if raw.sequential || raw.static_response.is_some() => {
                cx.warn("`sequential` and `static` belong on the endpoint's `proxy` namespace; they have no effect here");
            }
            _ => {}
        }
        Some(raw)
    }
}

// === impl FlatmapOp ===

impl TryFrom<RawOp> for FlatmapOp {
    type Error = String;

    fn try_from(raw: RawOp) -> Result<Self, String> {
        let split = |p: &String| -> Result<Vec<String>, String> {
            if p.is_empty() || p.split('.').any(str::is_empty) {
                return Err(format!("flatmap_filter: invalid path {p:?}"));
            }
            Ok(p.split('.').map(str::to_owned).collect())
        };
        let two = |a: &String, b: &String| -> Result<(Vec<String>, Vec<String>), String> {
            let (from, to) = (split(a)?, split(b)?);
            let stars = |p: &[String]| p.iter().filter(|s| *s == "*").count();
            if stars(&to) > stars(&from) {
                return Err(format!(
                    "flatmap_filter `{}`: the destination {b:?} has more `*` than the source {a:?}",
                    raw.kind
                ));
            }
            Ok((from, to))
        };
        match (raw.kind.as_str(), raw.args.as_slice()) {
            ("move", [a, b]) => two(a, b).map(|(from, to)| FlatmapOp::Move { from, to }),
            ("append", [a, b]) => two(a, b).map(|(from, to)| FlatmapOp::Append { from, to }),
            ("del", args) if !args.is_empty() => Ok(FlatmapOp::Del {
                paths: args.iter().map(split).collect::<Result<_, _>>()?,
            }),
            ("move" | "append", args) => Err(format!(
                "flatmap_filter `{}` takes 2 arguments, got {}",
                raw.kind,
                args.len()
            )),
            ("del", _) => Err("flatmap_filter `del` needs at least one argument".to_owned()),
            (other, _) => Err(format!(
                "unknown flatmap_filter type `{other}` (expected move, del or append)"
            )),
        }
    }
}

fn object<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Map, D::Error> {
    match crate::json::from_serde(&serde_json::Value::deserialize(d)?) {
        Value::Object(m) => Ok(m),
        _ => Err(serde::de::Error::custom("`data` must be a JSON object")),
    }
}
