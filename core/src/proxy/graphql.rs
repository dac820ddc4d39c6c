//! Builds the GraphQL request of a `backend/graphql` backend (decoded in
//! `config::extra::graphql`) the way lura's graphql middleware does: the operation, its name
//! and its variables as a JSON body (POST) or as query parameters (GET).

use bytes::Bytes;
use http::Method;

use super::ProxyRequest;
use crate::config::extra::GraphQl;
use crate::json::{self, Map, Value};
use crate::url::param_eq;

/// The method, body and extra query parameters of one GraphQL call.
pub(crate) struct Call {
    /// `POST` or `GET`.
    pub(crate) method: Method,
    /// The JSON body (empty for GET).
    pub(crate) body: Bytes,
    /// `query`, `operationName`, `variables` (GET only).
    pub(crate) query: Vec<(String, String)>,
}

/// The call for this request; an error when a mutation's client body is not a JSON object
/// (as lura, which fails to unmarshal it).
pub(crate) fn call(g: &GraphQl, req: &ProxyRequest) -> Result<Call, String> {
    let variables = if g.mutation {
        let mut vars =
            match json::parse(&req.body) {
                Ok(Value::Object(m)) => m,
                Ok(_) => return Err(
                    "graphql: the mutation's variables (the request body) must be a JSON object"
                        .to_owned(),
                ),
                Err(e) => {
                    return Err(format!(
                        "graphql: the mutation's variables (the request body) are not JSON: {e}"
                    ))
                }
            };
        for (k, v) in &g.variables {
            vars.entry(k.clone()).or_insert_with(|| v.clone());
        }
        vars
    } else {
        let mut vars = g.variables.clone();
        for (var, param) in &g.params {
            let value = req
                .params
                .iter()
                .find(|(k, _)| param_eq(k, param))
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            vars.insert(var.clone().into(), Value::String(value.into()));
        }
        vars
    };
    if g.get {
        let mut query = vec![("query".to_owned(), g.query.clone())];
        if let Some(name) = &g.operation_name {
            query.push(("operationName".to_owned(), name.clone()));
        }
        if !variables.is_empty() {
            query.push(("variables".to_owned(), Value::Object(variables).to_json()));
        }
        return Ok(Call {
            method: Method::GET,
            body: Bytes::new(),
            query,
        });
    }
    Ok(Call {
        method: Method::POST,
        body: Bytes::from(body(g, variables)),
        query: Vec::new(),
    })
}

/// Go's `json.Marshal(GraphQLRequest)`: `query`, then `operationName` and `variables` when
/// not empty, in that order.
fn body(g: &GraphQl, variables: Map) -> String {
    let mut out = String::from("{\"query\":");
    out.push_str(&Value::String(g.query.clone().into()).to_json());
    if let Some(name) = &g.operation_name {
        out.push_str(",\"operationName\":");
        out.push_str(&Value::String(name.clone().into()).to_json());
    }
    if !variables.is_empty() {
        out.push_str(",\"variables\":");
        out.push_str(&Value::Object(variables).to_json());
    }
    out.push('}');
    out
}
