//! `manifold/failure` (a Manifold namespace, endpoint and backend level): what an endpoint
//! answers when backends fail, beyond KrakenD CE's partial 200 and empty 400/500. Absent, the
//! answers are KrakenD's, byte for byte.

use http::StatusCode;
use serde::Deserialize;

use super::Namespace;
use crate::config::decode::{Cx, Level};

/// The namespace's name.
pub const FAILURE_NAMESPACE: &str = "manifold/failure";

/// Options of `manifold/failure`. `required` belongs to a backend, the rest to an endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FailurePolicy {
    /// Backend: when this backend fails, the endpoint fails with its status (and, with
    /// `return_error_details` / `return_error_code`, its body) instead of a partial answer.
    pub required: bool,
    /// Endpoint: every answering backend is required (any failure fails the endpoint).
    pub all_or_nothing: bool,
    /// Endpoint: the status of a partial answer (`X-Krakend-Completed: false`) instead of 200.
    pub partial_status: Option<StatusCode>,
    /// Endpoint: JSON-schema and CEL request rejections answer 400 with an RFC 9457
    /// `application/problem+json` body naming the check and where it failed.
    pub problem_details: bool,
}

/// The options as written.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RawFailure {
    required: Option<bool>,
    all_or_nothing: Option<bool>,
    partial_status: Option<u16>,
    problem_details: Option<bool>,
}

// === impl FailurePolicy ===

impl Namespace for FailurePolicy {
    type Raw = RawFailure;
    const STRICT: bool = true;

    fn plan(raw: RawFailure, cx: &mut Cx<'_, '_>) -> Option<Self> {
        let mark = cx.mark();
        let backend = cx.level() == Level::Backend;
        let misplaced = |cx: &mut Cx<'_, '_>, key: &str, belongs: &str| {
            cx.at(key).error(format!(
                "`{key}` belongs in the {belongs}'s `{FAILURE_NAMESPACE}`, not here"
            ));
        };
        if raw.required.is_some() && !backend {
            misplaced(cx, "required", "backend");
        }
        for (key, set) in [
            ("all_or_nothing", raw.all_or_nothing.is_some()),
            ("partial_status", raw.partial_status.is_some()),
            ("problem_details", raw.problem_details.is_some()),
        ] {
            if set && backend {
                misplaced(cx, key, "endpoint");
            }
        }
        let partial_status = raw.partial_status.and_then(|code| {
            let status = StatusCode::from_u16(code).ok().filter(|s| {
                s.is_success() && *s != StatusCode::NO_CONTENT && *s != StatusCode::RESET_CONTENT
            });
            if status.is_none() {
                cx.at("partial_status").error(format!(
                    "`partial_status` must be a 2xx status that carries a body (e.g. 206), not {code}"
                ));
            }
            status
        });
        if cx.failed_since(mark) {
            return None;
        }
        Some(Self {
            required: raw.required.unwrap_or(false),
            all_or_nothing: raw.all_or_nothing.unwrap_or(false),
            partial_status,
            problem_details: raw.problem_details.unwrap_or(false),
        })
    }
}
