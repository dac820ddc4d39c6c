//! The `backend/graphql` namespace (backend): the backend call becomes a GraphQL request, as
//! KrakenD (lura's graphql middleware) builds it. A `query` takes its `variables` from the
//! config, a string variable written `"{param}"` taking the endpoint parameter's value; a
//! `mutation` takes the client's JSON body as variables, the configured ones filling in the
//! keys the body lacks. The query is inline (`query`) or in a file (`query_path`, read at
//! start natively and embedded by the serverless builds). The operation is sent as a JSON
//! body with POST (the default) or as `query`/`operationName`/`variables` query parameters
//! with `method: "GET"`. The answer is the backend's response: its `data` and `errors` keys
//! reach the endpoint as any other backend data (KrakenD does not look inside).

use serde::Deserialize;

use super::Namespace;
use crate::config::decode::Cx;
use crate::json;

/// Options of `backend/graphql`, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RawGraphQl {
    /// `query` or `mutation`.
    #[serde(rename = "type")]
    kind: Option<String>,
    /// The inline operation.
    query: Option<String>,
    /// A file holding the operation.
    query_path: Option<String>,
    /// The operation's variables.
    variables: Option<serde_json::Map<String, serde_json::Value>>,
    /// `operationName`.
    #[serde(rename = "operationName")]
    operation_name: Option<String>,
    /// `GET` or `POST` (lura's option; anything else is POST).
    method: Option<String>,
}

/// A decoded `backend/graphql`.
#[derive(Debug, Clone)]
pub struct GraphQl {
    /// Mutation: the variables come from the client's JSON body.
    pub mutation: bool,
    /// Send as query parameters of a GET instead of a POST body.
    pub get: bool,
    /// The operation text.
    pub query: String,
    /// `operationName` (left out when empty).
    pub operation_name: Option<String>,
    /// The configured variables.
    pub variables: json::Map,
    /// Query operations: variable name -> the endpoint parameter it takes (`"{param}"`).
    pub params: Vec<(String, String)>,
}

// === impl GraphQl ===

impl Namespace for GraphQl {
    type Raw = RawGraphQl;

    fn plan(raw: RawGraphQl, cx: &mut Cx<'_, '_>) -> Option<Self> {
        let mark = cx.mark();
        let mutation = match raw.kind.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("mutation") => true,
            Some("query") => false,
            Some(other) => {
                cx.at("type").error(format!(
                    "`type` must be `query` or `mutation`, not `{other}`"
                ));
                false
            }
            None => {
                cx.at("type")
                    .error("missing `type` (`query` or `mutation`)");
                false
            }
        };
        let get = match raw
            .method
            .as_deref()
            .map(str::to_ascii_uppercase)
            .as_deref()
        {
            None | Some("POST") => false,
            Some("GET") => true,
            Some(other) => {
                cx.at("method").warn(format!(
                    "method `{other}` is not GET or POST: the operation is sent with POST (as KrakenD does)"
                ));
                false
            }
        };
        let query = match (raw.query, raw.query_path) {
            (_, Some(path)) => cx.at("query_path").file(&path),
            (Some(q), None) => Some(q),
            (None, None) => {
                cx.error("`backend/graphql` needs `query` (inline) or `query_path` (a file)");
                None
            }
        };
        if query.as_deref().is_some_and(|q| q.trim().is_empty()) {
            cx.at("query").error("the GraphQL operation is empty");
        }
        let text = serde_json::Value::Object(raw.variables.unwrap_or_default()).to_string();
        let variables = match json::parse(text.as_bytes()) {
            Ok(json::Value::Object(m)) => m,
            _ => json::Map::new(),
        };
        // lura's rule: a string value `{x}` (first and last character) names a parameter.
        let params = if mutation {
            Vec::new()
        } else {
            variables
                .iter()
                .filter_map(|(k, v)| match v {
                    json::Value::String(s)
                        if s.len() >= 2 && s.starts_with('{') && s.ends_with('}') =>
                    {
                        Some((k.to_string(), s[1..s.len() - 1].to_owned()))
                    }
                    _ => None,
                })
                .collect()
        };
        if cx.failed_since(mark) {
            return None;
        }
        Some(Self {
            mutation,
            get,
            query: query?,
            operation_name: raw.operation_name.filter(|n| !n.is_empty()),
            variables,
            params,
        })
    }
}

impl GraphQl {
    /// Warn about `"{param}"` variables the endpoint has no parameter for (KrakenD sends an
    /// empty string for them).
    pub(crate) fn check_params(&self, cx: &mut Cx<'_, '_>, endpoint_params: &[String]) {
        for (var, param) in &self.params {
            match crate::config::params::refers(endpoint_params, param) {
                Ok(true) => {}
                Ok(false) => cx.at("variables").at(var).warn(format!(
                    "`{{{param}}}` is not a parameter of the endpoint: the variable is sent as an empty string"
                )),
                Err(e) => cx.at("variables").at(var).error(e),
            }
        }
    }
}
