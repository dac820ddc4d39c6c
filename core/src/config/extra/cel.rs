//! `validation/cel`: a list of `{"check_expr": "..."}`, compiled once at load and split by
//! when each expression runs (KrakenD's krakend-cel: on the request, on the response, or as
//! the JWT rejecter).

use serde::Deserialize;

use super::Namespace;
use crate::cel::Program;
use crate::config::decode::{Cx, Level};
use crate::config::error::Path;

/// The compiled expressions of one `validation/cel` list. `#i` in the error message
/// `request aborted by evaluator #i` counts within one of these lists, as KrakenD.
#[derive(Debug, Clone, Default)]
pub struct CelChecks {
    /// Evaluated on the request, before anything is called (no `resp_` variable).
    pub request: Vec<Program>,
    /// Evaluated on the response (they read a `resp_` variable).
    pub response: Vec<Program>,
    /// Endpoint level, reading only `JWT` (and `now`): evaluated by `auth/validator` right
    /// after the token is verified; false answers 401.
    pub jwt: Vec<Program>,
    /// Where the first expression reading `JWT` is (it needs an `auth/validator`).
    pub(crate) jwt_at: Option<Path>,
    /// The endpoint's parameters with KrakenD's key for each (`req_params`), computed with
    /// the config (`config::params`).
    pub(crate) param_keys: Vec<(String, String)>,
}

/// One entry of the list as written.
#[derive(Debug, Deserialize)]
pub(crate) struct RawDef {
    check_expr: String,
    #[serde(default)]
    mod_expr: Option<String>,
}

// === impl CelChecks ===

impl Namespace for CelChecks {
    type Raw = Vec<RawDef>;

    /// Compile every `check_expr`; syntax errors are located config errors.
    fn plan(defs: Vec<RawDef>, cx: &mut Cx<'_, '_>) -> Option<Self> {
        let endpoint_level = cx.level() == Level::Endpoint;
        let mut out = CelChecks::default();
        let mut ok = true;
        for (i, def) in defs.iter().enumerate() {
            let mut at = cx.item(i);
            if def.mod_expr.is_some() {
                at.at("mod_expr")
                    .warn("`mod_expr` is not supported; it has no effect");
            }
            let program = match Program::parse(&def.check_expr) {
                Ok(p) => p,
                Err(e) => {
                    at.at("check_expr")
                        .error(format!("invalid CEL expression: {e}"));
                    ok = false;
                    continue;
                }
            };
            if program.reads("JWT") && out.jwt_at.is_none() {
                out.jwt_at = Some(at.path().key("check_expr"));
            }
            // By the variables read (KrakenD looks for the substrings `req`, `resp` and
            // `JWT`, which misfiles names like `resp_data.request_id`).
            if program.reads_prefixed("resp_") {
                out.response.push(program);
            } else if endpoint_level && program.reads("JWT") && !program.reads_prefixed("req_") {
                out.jwt.push(program);
            } else {
                out.request.push(program);
            }
        }
        ok.then_some(out)
    }
}
