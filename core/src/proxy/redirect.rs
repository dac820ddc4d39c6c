//! Backend redirects: followed like KrakenD's Go client (up to 10 hops, `Referer` added,
//! 301/302/303 turn into GET), but only within the same origin unless the backend opts in, and
//! credentials never cross origins.

use http::header::{
    AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, LOCATION, PROXY_AUTHORIZATION, REFERER,
};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};

use super::{ErrorSource, ProxyError};
use crate::config::extra::BackendHttp;
use crate::platform::{
    BackendRequest, BackendResponse, BoxFuture, ClientError, MaybeSync, StreamedResponse,
};
use crate::telemetry::SpanClient;

/// Most redirects followed for one backend call (Go's default).
pub(crate) const MAX_REDIRECTS: usize = 10;

/// Makes the first request's headers again, for the request after a redirect: the caller
/// rebuilds them (the same headers), so that a call that is not redirected (nearly all) keeps
/// no copy of them. Without one (a modifier may have changed them) a copy is kept before the
/// first request is sent.
pub(crate) trait Rebuild: MaybeSync {
    /// The first request's headers, as they were built.
    fn headers(&self) -> HeaderMap;
}

impl<F: Fn() -> HeaderMap + MaybeSync> Rebuild for F {
    fn headers(&self) -> HeaderMap {
        self()
    }
}

/// Send `request`, following redirects per the backend's policy.
pub(crate) async fn send(
    client: &SpanClient<'_>,
    request: BackendRequest,
    max_body: usize,
    policy: &BackendHttp,
    rebuild: Option<&dyn Rebuild>,
) -> Result<BackendResponse, ProxyError> {
    let call = |req| client.send(req, max_body);
    follow(request, policy, rebuild, call, |r| client.record(r)).await
}

/// [`send`] with a streamed answer (the body of a redirect is dropped unread: cancelled).
pub(crate) async fn send_streaming(
    client: &SpanClient<'_>,
    request: BackendRequest,
    max_body: usize,
    policy: &BackendHttp,
    rebuild: Option<&dyn Rebuild>,
) -> Result<StreamedResponse, ProxyError> {
    let call = |req| client.send_streaming(req, max_body);
    follow(request, policy, rebuild, call, |r| client.record(r)).await
}

/// Make the call `call` makes, following redirects per the backend's policy; `record` sees
/// what each hop answered.
async fn follow<B>(
    request: BackendRequest,
    policy: &BackendHttp,
    rebuild: Option<&dyn Rebuild>,
    call: impl Fn(BackendRequest) -> BoxFuture<'static, Result<http::Response<B>, ClientError>>,
    record: impl Fn(&Result<http::Response<B>, ClientError>),
) -> Result<http::Response<B>, ProxyError> {
    let (mut parts, mut body) = request.into_parts();
    // The first request's headers go with it (moved, not copied); kept only when a redirect
    // may need them and they cannot be rebuilt.
    let mut kept = (rebuild.is_none() && !policy.no_redirect).then(|| parts.headers.clone());
    for hop in 0..=MAX_REDIRECTS {
        let mut req = http::Request::new(body.clone());
        *req.method_mut() = parts.method.clone();
        *req.uri_mut() = parts.uri.clone();
        *req.headers_mut() = if hop == 0 {
            std::mem::take(&mut parts.headers)
        } else {
            parts.headers.clone()
        };
        // What the gateway attached to the call (the target service discovery chose) stays.
        *req.extensions_mut() = parts.extensions.clone();
        let response = call(req).await;
        record(&response);
        let response = response.map_err(|e| {
            ProxyError::new(
                ErrorSource::Backend,
                format!("{} {}: {e}", parts.method, parts.uri),
            )
        })?;
        let status = response.status();
        let is_redirect = matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308);
        if policy.no_redirect || !is_redirect {
            return Ok(response);
        }
        let Some(location) = response
            .headers()
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
        else {
            return Ok(response);
        };
        let next = resolve(&parts.uri, location).ok_or_else(|| {
            ProxyError::new(
                ErrorSource::Backend,
                format!("backend redirect to an invalid location {location:?}"),
            )
        })?;
        let cross_origin = origin(&next) != origin(&parts.uri);
        if cross_origin && !policy.allow_cross_origin_redirects {
            return Err(ProxyError::new(
                ErrorSource::Backend,
                format!("backend redirect to another origin refused ({} -> {}); set backend/http.allow_cross_origin_redirects to allow it", origin(&parts.uri), origin(&next)),
            ));
        }
        if hop == MAX_REDIRECTS {
            break;
        }
        if hop == 0 {
            parts.headers = match (kept.take(), rebuild) {
                (Some(headers), _) => headers,
                (None, Some(rebuild)) => rebuild.headers(),
                // Not reached: without a rebuild, a copy is kept whenever redirects are followed.
                (None, None) => HeaderMap::new(),
            };
        }
        if let Ok(referer) = HeaderValue::from_str(&parts.uri.to_string()) {
            parts.headers.insert(REFERER, referer);
        }
        if matches!(
            status,
            StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND | StatusCode::SEE_OTHER
        ) && parts.method != Method::GET
            && parts.method != Method::HEAD
        {
            parts.method = Method::GET;
            body = bytes::Bytes::new();
            parts.headers.remove(CONTENT_LENGTH);
            parts.headers.remove(CONTENT_TYPE);
        }
        if cross_origin {
            for h in [AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION] {
                parts.headers.remove(h);
            }
        }
        parts.uri = next;
    }
    Err(ProxyError::new(
        ErrorSource::Backend,
        format!("stopped after {MAX_REDIRECTS} redirects"),
    ))
}

fn origin(uri: &Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("http");
    let default_port = if scheme == "https" { 443 } else { 80 };
    let host = uri.host().unwrap_or("").to_ascii_lowercase();
    format!(
        "{scheme}://{host}:{}",
        uri.port_u16().unwrap_or(default_port)
    )
}

/// Resolve a `Location` against the URL that produced it.
fn resolve(base: &Uri, location: &str) -> Option<Uri> {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.parse().ok();
    }
    let scheme = base.scheme_str()?;
    let authority = base.authority()?.as_str();
    if let Some(rest) = location.strip_prefix("//") {
        return format!("{scheme}://{rest}").parse().ok();
    }
    let path = if location.starts_with('/') {
        location.to_owned()
    } else {
        let dir = base.path().rsplit_once('/').map_or("", |(d, _)| d);
        format!("{dir}/{location}")
    };
    format!("{scheme}://{authority}{path}").parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::HttpClient;
    use bytes::Bytes;
    use std::sync::Mutex;

    /// Answers the first request with a same-origin 307, every later one with 200; keeps
    /// the `x-first` header each request carried.
    #[derive(Default)]
    struct Bouncer(Mutex<Vec<(String, Option<String>, bool)>>);

    impl HttpClient for Bouncer {
        fn send(
            &self,
            req: BackendRequest,
            _: usize,
        ) -> BoxFuture<'static, Result<BackendResponse, ClientError>> {
            let mut seen = self.0.lock().unwrap();
            let header = |name: &str| {
                let value = req.headers().get(name)?.to_str().ok()?;
                Some(value.to_owned())
            };
            let referer = req.headers().contains_key(REFERER);
            seen.push((req.uri().to_string(), header("x-first"), referer));
            let mut answer = http::Response::new(Bytes::new());
            if seen.len() == 1 {
                *answer.status_mut() = StatusCode::TEMPORARY_REDIRECT;
                answer
                    .headers_mut()
                    .insert(LOCATION, HeaderValue::from_static("/next"));
            }
            Box::pin(async move { Ok(answer) })
        }
    }

    fn first() -> BackendRequest {
        let mut req = http::Request::new(Bytes::new());
        *req.uri_mut() = "http://a.example/start".parse().unwrap();
        req.headers_mut()
            .insert("x-first", HeaderValue::from_static("sent"));
        req
    }

    fn calls(
        policy: &BackendHttp,
        rebuild: Option<&dyn Rebuild>,
    ) -> Vec<(String, Option<String>, bool)> {
        let client = Bouncer::default();
        let hops = SpanClient::untraced(&client);
        futures_executor::block_on(send(&hops, first(), 1024, policy, rebuild)).unwrap();
        client.0.into_inner().unwrap()
    }

    #[test]
    fn the_request_after_a_redirect_starts_from_the_first_ones_headers() {
        let policy = BackendHttp::default();
        let first = (
            "http://a.example/start".to_owned(),
            Some("sent".to_owned()),
            false,
        );
        let next = |x: &str| ("http://a.example/next".to_owned(), Some(x.to_owned()), true);
        // Kept as a copy when they cannot be made again.
        assert_eq!(calls(&policy, None), [first.clone(), next("sent")]);
        // Made again by the caller otherwise (a different value here, to see which was used).
        let rebuild = || {
            let mut headers = HeaderMap::new();
            headers.insert("x-first", HeaderValue::from_static("rebuilt"));
            headers
        };
        assert_eq!(
            calls(&policy, Some(&rebuild)),
            [first.clone(), next("rebuilt")]
        );
        // Not followed: one request, nothing made again.
        let no_redirect = BackendHttp {
            no_redirect: true,
            ..BackendHttp::default()
        };
        let never = || -> HeaderMap { unreachable!("a call that is not followed is not rebuilt") };
        assert_eq!(calls(&no_redirect, Some(&never)), [first]);
    }

    #[test]
    fn resolves_locations() {
        let base: Uri = "http://a.example:8081/x/y?q=1".parse().unwrap();
        assert_eq!(
            resolve(&base, "/p/?s=1").unwrap().to_string(),
            "http://a.example:8081/p/?s=1"
        );
        assert_eq!(
            resolve(&base, "z").unwrap().to_string(),
            "http://a.example:8081/x/z"
        );
        assert_eq!(
            resolve(&base, "//b.example/p").unwrap().to_string(),
            "http://b.example/p"
        );
        assert_eq!(
            origin(&"http://A.example/".parse().unwrap()),
            "http://a.example:80"
        );
        assert_ne!(
            origin(&"http://169.254.169.254/".parse().unwrap()),
            origin(&base)
        );
    }
}
