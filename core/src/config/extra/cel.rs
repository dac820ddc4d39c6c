//! `validation/cel`: a list of `{"check_expr": "..."}`, compiled once at load and split by
//! when each expression runs (KrakenD's krakend-cel: on the request, on the response, or as
//! the JWT rejecter).

use serde::Deserialize;
use serde_json::Value;

use super::{typed, Diags, Path};
use crate::cel::Program;

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
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDef {
    check_expr: String,
    #[serde(default)]
    mod_expr: Option<String>,
}

impl CelChecks {
    /// Compile every `check_expr`; syntax errors are located config errors.
    pub(crate) fn compile(
        diags: &mut Diags<'_>,
        path: &Path,
        context: Option<&str>,
        endpoint_level: bool,
        value: &Value,
    ) -> Option<Self> {
        let defs: Vec<RawDef> = typed(diags, path, context, value)?;
        let mut out = CelChecks::default();
        let mut ok = true;
        for (i, def) in defs.iter().enumerate() {
            let at = path.index(i);
            if def.mod_expr.is_some() {
                diags.warn(
                    &at.key("mod_expr"),
                    context,
                    "`mod_expr` is not supported; it has no effect",
                );
            }
            let program = match Program::parse(&def.check_expr) {
                Ok(p) => p,
                Err(e) => {
                    diags.error(
                        &at.key("check_expr"),
                        context,
                        format!("invalid CEL expression: {e}"),
                    );
                    ok = false;
                    continue;
                }
            };
            if program.reads("JWT") && out.jwt_at.is_none() {
                out.jwt_at = Some(at.key("check_expr"));
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
