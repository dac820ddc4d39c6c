//! `backend/lambda`: the backend is an AWS Lambda function, invoked through the Invoke API
//! (`POST /2015-03-31/functions/{name}/invocations`, SigV4-signed for the `lambda` service) with
//! the platform's `HttpClient`, so it runs wherever the core runs. The payload is what KrakenD's
//! krakend-lambda sends: for a backend `method` GET, the endpoint parameters as a JSON object
//! (names lower-cased, sorted, with Go's encoder's trailing newline); otherwise the request
//! body as received. The function's answer is decoded as JSON and shaped like any backend's.
//!
//! Credentials are read from the platform's environment (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) at each call, the region from the config or
//! `AWS_REGION` / `AWS_DEFAULT_REGION`. A status other than 200 and a function error
//! (`X-Amz-Function-Error`: the function threw) are backend failures; a call without an
//! answer, a 429 or a 5xx is tried again up to `max_retries` times.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::Method;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

use super::{redirect, sigv4, ErrorSource, Proxy, ProxyError, ProxyRequest, ProxyResponse};
use crate::config::extra::{BackendHttp, Lambda, LambdaFunction};
use crate::config::Backend;
use crate::encoding;
use crate::platform::{BackendRequest, BoxFuture, FailureKind, Platform, ReadHeaders};
use crate::telemetry::{BackendSpan, SpanSource};
use crate::url::param_eq;

/// Characters kept as they are in the function name's path segment.
const NAME: &percent_encoding::AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.');

/// Invokes one configured Lambda function.
pub(crate) struct LambdaBackend {
    backend: Backend,
    lambda: std::sync::Arc<Lambda>,
    platform: Platform,
    max_body: usize,
    /// What the spans of its calls are made from (once, as `HttpBackend` does).
    spans: SpanSource,
}

impl LambdaBackend {
    pub(crate) fn new(
        backend: Backend,
        lambda: std::sync::Arc<Lambda>,
        platform: Platform,
        max_body: usize,
    ) -> Self {
        Self {
            spans: SpanSource::new(&backend),
            backend,
            lambda,
            platform,
            max_body,
        }
    }

    fn env(&self, name: &str) -> Option<String> {
        self.platform
            .env
            .as_ref()
            .and_then(|e| e.var(name))
            .filter(|v| !v.is_empty())
    }

    /// The Invoke request for `req`, not signed yet, and the region to sign it for.
    fn build(&self, req: &ProxyRequest) -> Result<(BackendRequest, String), String> {
        let function = match &self.lambda.function {
            LambdaFunction::Name(name) => name.clone(),
            LambdaFunction::Param(param) => req
                .params
                .iter()
                .find(|(k, _)| param_eq(k, param))
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("no function name in the parameter `{{{param}}}`"))?,
        };
        let region = self
            .lambda
            .region
            .clone()
            .or_else(|| self.env("AWS_REGION"))
            .or_else(|| self.env("AWS_DEFAULT_REGION"))
            .ok_or("no region: set `region` or AWS_REGION")?;
        let base = self
            .lambda
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("https://lambda.{region}.amazonaws.com"));
        let url = format!(
            "{base}/2015-03-31/functions/{}/invocations",
            utf8_percent_encode(&function, NAME)
        );
        let payload = if self.backend.method == Method::GET {
            params_payload(&req.params, &self.lambda.payload_keys)
        } else {
            req.body.clone()
        };
        let request = http::Request::builder()
            .method(Method::POST)
            .uri(&url)
            .header(CONTENT_TYPE, "application/json")
            .header("x-amz-invocation-type", "RequestResponse")
            .header("x-amz-log-type", "None")
            .body(payload)
            .map_err(|e| format!("invalid Invoke URL {url}: {e}"))?;
        Ok((request, region))
    }

    /// Sign `request` with the credentials in the environment now.
    fn sign(&self, request: &mut BackendRequest, region: &str) -> Result<(), String> {
        let credentials = sigv4::Credentials {
            access_key: self
                .env("AWS_ACCESS_KEY_ID")
                .ok_or("no AWS credentials: AWS_ACCESS_KEY_ID is not set")?,
            secret_key: self
                .env("AWS_SECRET_ACCESS_KEY")
                .ok_or("no AWS credentials: AWS_SECRET_ACCESS_KEY is not set")?,
            session_token: self.env("AWS_SESSION_TOKEN"),
        };
        let now = self.platform.clock.now_millis();
        sigv4::sign(request, &credentials, region, "lambda", now)
    }
}

/// The endpoint parameters as KrakenD's `fromParams` sends them: a JSON object of strings,
/// names lower-cased (as `keys` gives them, computed with the config; else ASCII only: no
/// Unicode case tables on the request path), keys sorted (Go's encoder), a newline at the end.
fn params_payload(params: &[(String, String)], keys: &[(String, String)]) -> Bytes {
    let map: BTreeMap<String, &str> = params
        .iter()
        .map(|(k, v)| {
            let key = keys.iter().find(|(name, _)| name == k);
            let key = key.map_or_else(|| k.to_ascii_lowercase(), |(_, key)| key.clone());
            (key, v.as_str())
        })
        .collect();
    let mut out = serde_json::to_vec(&map).unwrap_or_else(|_| b"{}".to_vec());
    out.push(b'\n');
    Bytes::from(out)
}

impl Proxy for LambdaBackend {
    fn call(&self, req: ProxyRequest) -> BoxFuture<'_, Result<ProxyResponse, ProxyError>> {
        Box::pin(async move {
            let b = &self.backend;
            let what = |e: String| {
                ProxyError::new(
                    ErrorSource::Internal,
                    format!("aws lambda: {e} [{}]", b.url_pattern.source),
                )
            };
            let mut attempt = 0;
            loop {
                let (mut request, region) = self.build(&req).map_err(what)?;
                // For the error messages only, formatted when one is written (as `HttpBackend`).
                let url = request.uri().clone();
                let span = BackendSpan::start(&req.context, &self.platform, &self.spans, &request);
                // After the span starts, so missing credentials show in the access log.
                if let Err(e) = self.sign(&mut request, &region) {
                    let message = format!("aws lambda: {e}: {url}");
                    span.fail(FailureKind::Refused, &message);
                    return Err(ProxyError::new(ErrorSource::Backend, message));
                }
                let client = span.client(&*self.platform.client, ReadHeaders::All);
                // Never a redirect: the Invoke API answers itself.
                let no_redirect = BackendHttp {
                    no_redirect: true,
                    ..BackendHttp::default()
                };
                let sent =
                    redirect::send(&client, request, self.max_body, &no_redirect, None).await;
                let retry = attempt < self.lambda.max_retries
                    && match &sent {
                        Err(_) => true,
                        Ok(r) => r.status().as_u16() == 429 || r.status().is_server_error(),
                    };
                if retry {
                    span.fail(FailureKind::Status, "aws lambda: retried");
                    attempt += 1;
                    continue;
                }
                let response = sent.inspect_err(|e| span.fail(FailureKind::Refused, &e.message))?;
                let (parts, body) = response.into_parts();
                let fail = |kind, message: String, status| {
                    span.fail(kind, &message);
                    ProxyError {
                        source: ErrorSource::Backend,
                        message,
                        status,
                        content_type: parts.headers.get(CONTENT_TYPE).cloned(),
                        body: body.clone(),
                    }
                };
                // A function error first: an emulator may send it with a 500.
                if let Some(kind) = parts.headers.get("x-amz-function-error") {
                    let kind = kind.to_str().unwrap_or("error");
                    let detail = String::from_utf8_lossy(&body);
                    let detail: String = detail.chars().take(200).collect();
                    return Err(fail(
                        FailureKind::Status,
                        format!("aws lambda: function error ({kind}): {detail}: {url}"),
                        None,
                    ));
                }
                if parts.status.as_u16() != 200 {
                    return Err(fail(
                        FailureKind::Status,
                        format!(
                            "aws lambda: bad status code {}: {url}",
                            parts.status.as_u16()
                        ),
                        Some(parts.status),
                    ));
                }
                let data =
                    encoding::decode(crate::config::Encoding::Json, b.is_collection, None, &body)
                        .map_err(|e| {
                        fail(
                            FailureKind::BadEncoding,
                            format!("aws lambda: {e}: {url}"),
                            None,
                        )
                    })?;
                return Ok(ProxyResponse {
                    data,
                    is_complete: true,
                    size_hint: body.len(),
                    ..Default::default()
                });
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_payload_is_krakends_params_object() {
        let params = vec![
            ("Name".to_owned(), "x\"y".to_owned()),
            ("Id".to_owned(), "42".to_owned()),
            ("Ñu".to_owned(), "1".to_owned()),
        ];
        // The config's keys for the names; without one, ASCII letters lower-cased.
        let keys = [("Ñu".to_owned(), "ñu".to_owned())];
        assert_eq!(
            &params_payload(&params, &keys)[..],
            "{\"id\":\"42\",\"name\":\"x\\\"y\",\"ñu\":\"1\"}\n".as_bytes()
        );
    }
}
