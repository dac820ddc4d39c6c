//! The `backend/lambda` namespace (backend): the backend is an AWS Lambda function, invoked
//! through the Invoke API. KrakenD's keys: `function_name` or `function_param_name` (not
//! both; neither means the parameter `function`, as KrakenD), `region`, `max_retries`,
//! `endpoint` (another Invoke API, e.g. a local emulator).

use serde::Deserialize;

use super::Namespace;
use crate::config::decode::Cx;

/// Options of `backend/lambda`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lambda {
    /// Which function is invoked.
    pub function: LambdaFunction,
    /// The AWS region; `None`: `AWS_REGION` (else `AWS_DEFAULT_REGION`) when called.
    pub region: Option<String>,
    /// Extra attempts after a failed call (no answer, 429 or 5xx).
    pub max_retries: u32,
    /// `scheme://host[:port]` of the Invoke API instead of `https://lambda.<region>.amazonaws.com`.
    pub endpoint: Option<String>,
    /// The endpoint's parameters with the name each has in a GET's payload (KrakenD's key,
    /// lower-cased), computed with the config (`config::params`).
    pub(crate) payload_keys: Vec<(String, String)>,
}

/// How the function is named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LambdaFunction {
    /// `function_name`: always this one.
    Name(String),
    /// `function_param_name`: the value of this endpoint parameter.
    Param(String),
}

/// `backend/lambda` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RawLambda {
    function_name: Option<String>,
    function_param_name: Option<String>,
    region: Option<String>,
    max_retries: u32,
    endpoint: Option<String>,
}

// === impl Lambda ===

impl Namespace for Lambda {
    type Raw = RawLambda;

    /// KrakenD EE's API Gateway payload format is not implemented.
    const NO_EFFECT: &'static [&'static str] = &["aws_api_gateway_format"];

    fn plan(raw: RawLambda, cx: &mut Cx<'_, '_>) -> Option<Self> {
        let mut problems = Vec::new();
        let function = match (raw.function_name, raw.function_param_name) {
            (Some(_), Some(_)) => {
                problems.push((
                    "function_param_name",
                    "set `function_name` or `function_param_name`, not both".to_owned(),
                ));
                LambdaFunction::Param(String::new())
            }
            (Some(name), None) if name.is_empty() => {
                problems.push((
                    "function_name",
                    "`function_name` must not be empty".to_owned(),
                ));
                LambdaFunction::Name(name)
            }
            (Some(name), None) => LambdaFunction::Name(name),
            (None, Some(param)) => LambdaFunction::Param(param),
            (None, None) => LambdaFunction::Param("function".to_owned()),
        };
        if let Some(endpoint) = &raw.endpoint {
            let ok = endpoint.parse::<http::Uri>().is_ok_and(|u| {
                matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some()
            });
            if !ok {
                problems.push((
                    "endpoint",
                    format!("`{endpoint}` is not an absolute http:// or https:// URL"),
                ));
            }
        }
        if raw.region.as_deref() == Some("") {
            problems.push(("region", "`region` must not be empty".to_owned()));
        }
        let options = Self {
            function,
            region: raw.region,
            max_retries: raw.max_retries,
            endpoint: raw.endpoint.map(|e| e.trim_end_matches('/').to_owned()),
            // Set by the backend, which knows the endpoint's parameters.
            payload_keys: Vec::new(),
        };
        super::checked(cx, options, &problems)
    }
}
