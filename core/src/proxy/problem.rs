//! `manifold/failure.problem_details`: a request refused by `validation/json-schema` or by an
//! endpoint `validation/cel` expression answers 400 with an RFC 9457
//! `application/problem+json` body saying which check failed and where, instead of KrakenD's
//! empty 400 (json-schema) or 500 (CEL).

use bytes::Bytes;
use http::{HeaderValue, StatusCode};

use super::{ErrorSource, ProxyError};
use crate::json::{Map, Value};
use crate::json_schema::Violation;

/// RFC 9457's media type.
pub(crate) const PROBLEM_JSON: &str = "application/problem+json";

/// The problem object's common members (`type` is `about:blank`: the status says it all, and
/// `check` names the Manifold check that refused the request).
fn problem(check: &str, detail: &str, mut extra: Map) -> ProxyError {
    let status = StatusCode::BAD_REQUEST;
    let mut body = Map::new();
    body.insert("type".into(), Value::String("about:blank".into()));
    body.insert(
        "title".into(),
        Value::String(status.canonical_reason().unwrap_or_default().into()),
    );
    body.insert("status".into(), Value::from(u64::from(status.as_u16())));
    body.insert("detail".into(), Value::String(detail.into()));
    body.insert("check".into(), Value::String(check.into()));
    body.append(&mut extra);
    ProxyError {
        source: ErrorSource::Request,
        message: detail.to_owned(),
        status: Some(status),
        body: Bytes::from(Value::Object(body).to_json()),
        content_type: Some(HeaderValue::from_static(PROBLEM_JSON)),
    }
}

/// The body is not JSON, or breaks the schema: each violation with its JSON Pointer
/// (`#/qty`, RFC 9457's example form), keyword and explanation.
pub(crate) fn json_schema(violations: Option<&[Violation]>) -> ProxyError {
    let mut extra = Map::new();
    let Some(violations) = violations else {
        return problem(
            "validation/json-schema",
            "the request body is not valid JSON",
            extra,
        );
    };
    let errors = violations
        .iter()
        .map(|v| {
            let mut e = Map::new();
            e.insert(
                "pointer".into(),
                Value::String(format!("#{}", v.pointer).into()),
            );
            e.insert("keyword".into(), Value::String(v.keyword.into()));
            e.insert("detail".into(), Value::String(v.detail.clone().into()));
            Value::Object(e)
        })
        .collect();
    extra.insert("errors".into(), Value::Array(errors));
    problem(
        "validation/json-schema",
        "the request body does not match the endpoint's JSON schema",
        extra,
    )
}

/// Endpoint CEL expression `#index` (its source text given) was not true for the request.
pub(crate) fn cel(index: usize, expression: &str) -> ProxyError {
    let mut extra = Map::new();
    extra.insert("expression_index".into(), Value::from(index as u64));
    extra.insert("expression".into(), Value::String(expression.into()));
    problem(
        "validation/cel",
        &format!("request aborted by evaluator #{index}"),
        extra,
    )
}
