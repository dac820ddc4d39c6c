//! The HTTP backend proxy: builds the backend request (url_pattern, host balancing, header and
//! query filters), sends it, checks the status, decompresses and decodes the body.

use crate::config::capability::{when, DNS_SD};
use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, HeaderValue};

#[cfg(feature = "dns-sd")]
use super::discovery::DiscoveredOrigin;
use super::discovery::Discovery;
use super::stream::IdleTimeout;
use super::{redirect, ErrorSource, Proxy, ProxyError, ProxyRequest, ProxyResponse, RawResponse};
use crate::config::{Backend, Encoding};
use crate::encoding;
use crate::json::{self, Filter};
use crate::platform::{
    BackendRequest, Body, BoxFuture, FailureKind, Gunzip, GunzipError, Listed, Platform,
    ReadHeaders,
};
use crate::telemetry::{BackendSpan, SpanClient, SpanSource};
use crate::url::param_eq;
use crate::url::{push_query_component, RenderError, Var};

/// Calls one configured backend.
pub(crate) struct HttpBackend {
    backend: Backend,
    platform: Platform,
    next_host: AtomicUsize,
    max_body: usize,
    /// Top-level keys an `allow` filter can keep (when it is the first shaping step), so the
    /// decoder need not build the rest of a large body.
    keep: Option<Vec<String>>,
    /// Streaming passthrough (`proxy::stream`): the idle gap allowed between two chunks of a
    /// streamed answer; `None`, the endpoint does not stream.
    stream_idle: Option<std::time::Duration>,
    /// `"sd": "dns"`: the hosts come from DNS SRV records instead of `host`.
    discovery: Option<Discovery>,
    /// What the spans of its calls are made from.
    spans: SpanSource,
    /// Each fixed host's scheme and authority, parsed once, when the host is only those
    /// (`http://api:8080`): a call's URI is then put together from them and its path, instead
    /// of parsing the whole URL again (about 500 instructions a call).
    origins: Vec<Option<(Scheme, Authority)>>,
    /// The answers' headers this backend reads ([`DECODED_READS`] unless they are passed on).
    read: ReadHeaders,
    /// Its answers are the endpoint's, only filtered: written straight as JSON by this filter
    /// ([`stack::transcoding`](super::stack::transcoding)).
    transcode: Option<Filter>,
}

/// What a decoded answer's headers are read for: its `Content-Encoding` (undone here), a
/// redirect's `Location`, an error's `Content-Type` (passed on with its body). The others
/// are not passed on (KrakenD's encoders make the client's headers).
static DECODED_READS: [Listed; 3] = [
    Listed::new("content-encoding"),
    Listed::new("content-type"),
    Listed::new("location"),
];

impl HttpBackend {
    pub(crate) fn new(backend: Backend, platform: Platform, max_body: usize) -> Self {
        // Only when allow is the first step: `target` and `flatmap_filter` look at other keys.
        let keep = (!backend.allow.is_empty()
            && backend.target.is_none()
            && backend.flatmap_filter.is_empty())
        .then(|| {
            backend
                .allow
                .iter()
                .filter_map(|p| p.first().cloned())
                .collect()
        });
        // `when`: without `dns-sd` no backend has a discovery (the config is refused at its
        // `sd`), and the constant lets the optimizer drop the lookup below.
        let discovery =
            when(DNS_SD, backend.discovery.clone()).map(|d| Discovery::new(d, &platform));
        let spans = SpanSource::new(&backend);
        let origins = backend.host.iter().map(|h| origin(h)).collect();
        // `no-op` passes the headers on; martian's response modifiers may read any of them.
        let passed_on = backend.encoding == Encoding::NoOp
            || when(cfg!(feature = "martian"), backend.martian.as_deref()).is_some();
        let read = if passed_on {
            ReadHeaders::All
        } else {
            ReadHeaders::Only(&DECODED_READS)
        };
        Self {
            read,
            keep,
            discovery,
            spans,
            origins,
            backend,
            platform,
            next_host: AtomicUsize::new(0),
            max_body,
            stream_idle: None,
            transcode: None,
        }
    }

    /// The same backend, its successful answers transcoded by `filter` instead of decoded.
    pub(crate) fn transcoding(mut self, filter: Filter) -> Self {
        self.transcode = Some(filter);
        self
    }

    /// The same backend, streaming its answers to an adapter that can send them, each gap
    /// between chunks allowed `idle`.
    pub(crate) fn streaming(mut self, idle: std::time::Duration) -> Self {
        self.stream_idle = Some(idle);
        self
    }

    /// Send `request` (redirects followed): the whole answer, or, on a streaming endpoint
    /// whose adapter can send a stream, the head with the body left in the request's stream
    /// slot and `None` in its place. A gzip answer is read whole either way (`no-op` hands the
    /// client the decoded body).
    async fn fetch(
        &self,
        client: &SpanClient<'_>,
        request: BackendRequest,
        context: &crate::platform::RequestContext,
        rebuild: Option<&dyn redirect::Rebuild>,
    ) -> Result<http::Response<Option<Bytes>>, ProxyError> {
        let b = &self.backend;
        let max = self.max_body;
        let (Some(idle), Some(slot)) = (self.stream_idle, context.stream.as_ref()) else {
            let response = redirect::send(client, request, max, &b.http, rebuild).await?;
            return Ok(response.map(Some));
        };
        let target = format!("{} {}", request.method(), request.uri());
        let response = redirect::send_streaming(client, request, max, &b.http, rebuild).await?;
        let (parts, body) = response.into_parts();
        let body =
            match body {
                Body::Full(bytes) => Some(bytes),
                Body::Stream(chunks) if !is_gzip(&parts.headers) => {
                    let sleep = self.platform.sleep.clone();
                    slot.put(Box::pin(IdleTimeout::new(chunks, sleep, idle)));
                    None
                }
                Body::Stream(chunks) => {
                    let whole = crate::body::BoundedBody::response(&parts.headers, self.max_body)
                        .map_err(crate::platform::ClientError::from)
                        .map(|body| body.collect(chunks, std::convert::identity));
                    let whole = match whole {
                        Ok(reading) => reading.await,
                        Err(e) => Err(e),
                    };
                    Some(whole.map_err(|e| {
                        ProxyError::new(ErrorSource::Backend, format!("{target}: {e}"))
                    })?)
                }
            };
        Ok(http::Response::from_parts(parts, body))
    }

    /// The request for `req` to the next of the backend's fixed hosts.
    pub(crate) fn build(&self, req: &ProxyRequest) -> Result<BackendRequest, ProxyError> {
        let hosts = &self.backend.host;
        // Round-robin; a single host needs no counter traffic.
        let i = if hosts.len() > 1 {
            self.next_host.fetch_add(1, Ordering::Relaxed) % hosts.len()
        } else {
            0
        };
        let host = hosts.get(i).map_or("", String::as_str);
        self.build_at(req, host, self.origins.get(i).and_then(Option::as_ref))
    }

    /// The request for `req` to `host`, the next host (the fixed ones or what service
    /// discovery found; `origin`, its parts when [`origin`] took it): its URL, filtered
    /// headers and query.
    fn build_at(
        &self,
        req: &ProxyRequest,
        host: &str,
        origin: Option<&(Scheme, Authority)>,
    ) -> Result<BackendRequest, ProxyError> {
        let b = &self.backend;
        let path = b
            .url_pattern
            .render(|var| match var {
                Var::Param(name) => req
                    .params
                    .iter()
                    .find(|(k, _)| param_eq(k, name))
                    .map(|(_, v)| Cow::Borrowed(v.as_str())),
                Var::Resp { index, path } => {
                    super::sequential::lookup(&req.previous, *index, path).map(Cow::Owned)
                }
                Var::Jwt(claim) => req.jwt.as_deref().and_then(|c| c.text(claim)),
            })
            .map_err(|e| {
                let what = match e {
                    RenderError::Missing(v) => format!("no value for `{{{v}}}`"),
                    RenderError::Unsafe(v) => format!("unsafe value for `{{{v}}}`"),
                };
                ProxyError::new(
                    ErrorSource::Internal,
                    format!("cannot build the URL of {}: {what}", b.url_pattern.source),
                )
            })?;
        let has_query = path.contains('?');
        // The path and query; the host goes in front below.
        let mut url = match req.rest.as_deref().filter(|r| !r.is_empty()) {
            // Wildcard endpoint: the checked rest of the client path goes after the pattern's.
            Some(rest) => {
                let mut url = String::with_capacity(64 + path.len());
                let (p, q) = path
                    .split_once('?')
                    .map_or((path.as_str(), None), |(p, q)| (p, Some(q)));
                url.push_str(p.trim_end_matches('/'));
                url.push('/');
                url.push_str(rest);
                if let Some(q) = q {
                    url.push('?');
                    url.push_str(q);
                }
                url
            }
            None => path,
        };
        // `backend/graphql`: the operation replaces method and body (POST) or joins the
        // query parameters (GET), after the client's have been filtered (as lura does).
        let graphql = when(cfg!(feature = "graphql"), b.graphql.as_deref())
            .filter(|_| self.is_graphql())
            .map(|g| super::graphql::call(g, req))
            .transpose()
            .map_err(|e| ProxyError::new(ErrorSource::Backend, e))?;
        let mut pairs: Vec<&(String, String)> = req
            .query
            .iter()
            .filter(|(k, _)| b.input_query_strings.as_ref().is_none_or(|f| f.allows(k)))
            .chain(graphql.iter().flat_map(|g| g.query.iter()))
            .collect();
        // Go's url.Values.Encode sorts by key; values keep their order (stable sort).
        pairs.sort_by(|x, y| x.0.cmp(&y.0));
        let mut sep = if has_query { '&' } else { '?' };
        for (k, v) in pairs {
            url.push(sep);
            push_query_component(&mut url, k);
            url.push('=');
            push_query_component(&mut url, v);
            sep = '&';
        }

        let is_graphql = graphql.is_some();
        let (method, body) = match graphql {
            Some(g) => (g.method, g.body),
            None => (b.method.clone(), req.body.clone()),
        };
        let uri = match origin.filter(|_| url.starts_with('/')) {
            Some((scheme, authority)) => {
                let mut parts = http::uri::Parts::default();
                parts.scheme = Some(scheme.clone());
                parts.authority = Some(authority.clone());
                PathAndQuery::from_maybe_shared(Bytes::from(url))
                    .map_err(http::Error::from)
                    .and_then(|target| {
                        parts.path_and_query = Some(target);
                        Ok(http::Uri::from_parts(parts)?)
                    })
            }
            None => http::Uri::try_from(format!("{host}{url}")).map_err(http::Error::from),
        }
        .map_err(|e| {
            ProxyError::new(
                ErrorSource::Internal,
                format!("invalid backend URL from {}: {e}", b.url_pattern.source),
            )
        })?;
        // Set part by part: `Request::builder` moves its whole `Parts` through a closure per
        // setter (about 1,000 instructions a call, bench/profile-notes.md).
        let mut request = http::Request::new(body);
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        *request.headers_mut() = self.headers(req, request.body(), is_graphql);
        Ok(request)
    }
}

/// The scheme and authority of `host` when it is exactly those (`http://api:8080`, no path,
/// query or trailing `/`): what [`HttpBackend::build_at`] puts a call's URI together from.
fn origin(host: &str) -> Option<(Scheme, Authority)> {
    let (_, rest) = host.split_once("://")?;
    if rest.contains(['/', '?', '#']) {
        return None;
    }
    let parts = http::Uri::try_from(host).ok()?.into_parts();
    Some((parts.scheme?, parts.authority?))
}

impl Proxy for HttpBackend {
    fn call(&self, req: ProxyRequest) -> BoxFuture<'_, Result<ProxyResponse, ProxyError>> {
        Box::pin(async move {
            // The lookup's arm only with `dns-sd`: each `.await` is a state of this future, and
            // the code resuming it stays linked whatever the constant says (the state is read
            // back from memory). Without the feature no backend has a discovery (`new`).
            let mut request = match when(DNS_SD, self.discovery.as_ref()) {
                None => self.build(&req)?,
                #[cfg(feature = "dns-sd")]
                Some(d) => match d.host(req.context.defer.as_ref()).await {
                    Ok(host) => {
                        let mut request = self.build_at(&req, &host, None)?;
                        request.extensions_mut().insert(DiscoveredOrigin(host));
                        request
                    }
                    Err(why) => return Err(self.undiscovered(&req, why)),
                },
                #[cfg(not(feature = "dns-sd"))]
                Some(_) => {
                    let why = "service discovery needs the `dns-sd` feature".to_owned();
                    return Err(self.undiscovered(&req, why));
                }
            };
            let b = &self.backend;
            // `modifier/martian` acts on the request as it is sent; its response modifiers
            // see that request (filters on its URL and headers).
            // Behind its cargo feature too (config::capability): no feature, no martian code.
            let martian = when(cfg!(feature = "martian"), b.martian.as_deref());
            let sent = match martian {
                Some(m) => {
                    super::martian::modify_request(m, &mut request, &*self.platform.random)
                        .map_err(|e| ProxyError::new(ErrorSource::Backend, e))?;
                    super::martian::has_response(m)
                        .then(|| (request.uri().clone(), request.headers().clone()))
                }
                None => None,
            };
            // For the error messages only: formatted when one is written (a clone shares the
            // text; `to_string` here cost a `fmt` pass on every call).
            let url = request.uri().clone();
            let span = self.span(&req.context, &request);
            let recorder = &span;
            let fail = |kind| {
                move |e: ProxyError| {
                    recorder.fail(kind, &e.message);
                    e
                }
            };
            // A redirect's next request starts from this one's headers, made again then
            // (`redirect::Rebuild`), unless a martian modifier may have changed them.
            let (first_body, graphql) = (request.body().clone(), self.is_graphql());
            let rebuild = || self.headers(&req, &first_body, graphql);
            let rebuild: Option<&dyn redirect::Rebuild> = match martian {
                None => Some(&rebuild),
                Some(_) => None,
            };
            let client = span.client(&*self.platform.client, self.read);
            let response = self
                .fetch(&client, request, &req.context, rebuild)
                .await
                .map_err(fail(FailureKind::Redirect))?;
            let (mut parts, body) = response.into_parts();
            let Some(body) = body else {
                // Streamed: the body is in the request's stream slot, on its way to the client.
                let raw = RawResponse {
                    status: parts.status,
                    headers: parts.headers,
                    body: Bytes::new(),
                    streamed: true,
                };
                return Ok(ProxyResponse {
                    raw: Some(raw),
                    is_complete: true,
                    ..Default::default()
                });
            };
            let gunzip = self.platform.gunzip.as_deref();
            let mut body = decompress(gunzip, &mut parts.headers, body, self.max_body)
                .await
                .map_err(fail(FailureKind::BadEncoding))?;
            // `when` again: `martian` is held across the `.await` above, so the compiler no
            // longer sees the constant `None` here and would link `modify_response` without it.
            let martian = when(cfg!(feature = "martian"), martian);
            if let (Some(m), Some((uri, headers))) = (martian, &sent) {
                super::martian::modify_response(
                    m,
                    uri,
                    headers,
                    &mut parts.headers,
                    &mut body,
                    &*self.platform.random,
                )
                .map_err(|e| ProxyError::new(ErrorSource::Backend, e))
                .map_err(fail(FailureKind::Status))?;
            }
            if b.encoding == Encoding::NoOp {
                let raw = RawResponse {
                    status: parts.status,
                    headers: parts.headers,
                    body,
                    streamed: false,
                };
                return Ok(ProxyResponse {
                    raw: Some(raw),
                    is_complete: true,
                    ..Default::default()
                });
            }
            if !matches!(parts.status.as_u16(), 200 | 201) {
                return Err(fail(FailureKind::Status)(ProxyError {
                    source: ErrorSource::Backend,
                    message: format!(
                        "invalid status code {} [{} {}]: {url}",
                        parts.status.as_u16(),
                        b.method,
                        b.url_pattern.source
                    ),
                    status: Some(parts.status),
                    content_type: parts.headers.get(CONTENT_TYPE).cloned(),
                    body,
                }));
            }
            if let Some(json) = self
                .transcode
                .as_ref()
                .and_then(|f| json::transcode(&body, f).ok())
            {
                return Ok(ProxyResponse {
                    json: Some(json),
                    is_complete: true,
                    ..Default::default()
                });
            }
            // Not transcoded, or refused: the decoder gives the parser's own error text (and,
            // were the transcoder ever stricter than the parser, data the shaping filters).
            let data = encoding::decode(b.encoding, b.is_collection, self.keep.as_deref(), &body)
                .map_err(|e| {
                    ProxyError::new(
                        ErrorSource::Backend,
                        format!("{e} [{} {}]: {url}", b.method, b.url_pattern.source),
                    )
                })
                .map_err(fail(FailureKind::BadEncoding))?;
            Ok(ProxyResponse {
                data,
                is_complete: true,
                size_hint: body.len(),
                ..Default::default()
            })
        })
    }
}

impl HttpBackend {
    /// The headers of the request for `req` carrying `body` (`graphql`: an operation made the
    /// body): the client's that pass `input_headers`, `Accept-Encoding`, and a
    /// `Content-Length` that says the body's length.
    fn headers(&self, req: &ProxyRequest, body: &Bytes, graphql: bool) -> HeaderMap {
        let b = &self.backend;
        let mut headers = match &b.input_headers {
            // All of them: a copy of the request's map, its entries and hashes as they are
            // (inserting each again hashed it again: ~220 instructions a header).
            None => HeaderMap::clone(&req.headers),
            Some(filter) => {
                let mut headers = HeaderMap::with_capacity(req.headers.len() + 2);
                for (name, value) in req.headers.iter().filter(|(n, _)| filter.allows(n)) {
                    headers.append(name.clone(), value.clone());
                }
                headers
            }
        };
        // As Go's transport does: ask for gzip and decode it ourselves (see `decompress`).
        headers
            .entry(ACCEPT_ENCODING)
            .or_insert_with(|| HeaderValue::from_static("gzip"));
        if graphql && !body.is_empty() {
            headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        } else if graphql {
            headers.remove(CONTENT_LENGTH);
        } else if let Some(length) = headers.get_mut(CONTENT_LENGTH) {
            *length = HeaderValue::from(body.len());
        }
        headers
    }

    /// Whether a `backend/graphql` operation makes the method and body of each call.
    fn is_graphql(&self) -> bool {
        let b = &self.backend;
        when(cfg!(feature = "graphql"), b.graphql.as_deref()).is_some()
            && b.encoding != Encoding::NoOp
    }

    /// The span of a call of `request` (inert unless the request is recorded).
    fn span(
        &self,
        context: &crate::platform::RequestContext,
        request: &BackendRequest,
    ) -> BackendSpan {
        BackendSpan::start(context, &self.platform, &self.spans, request)
    }

    /// Service discovery found no host for this call: a backend failure, recorded as a call
    /// to `sd_scheme://srv-name` that failed with `discovery` (the access log's `failure`).
    fn undiscovered(&self, req: &ProxyRequest, why: String) -> ProxyError {
        if let Ok(request) = self.build(req) {
            let span = self.span(&req.context, &request);
            span.fail(FailureKind::Discovery, &why);
        }
        ProxyError::new(ErrorSource::Backend, why)
    }
}

/// The answer is `Content-Encoding: gzip`, which the gateway decodes.
fn is_gzip(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"))
}

/// Undo `Content-Encoding: gzip` with the platform's decoder, bounded by `max_body` decoded
/// bytes (a gzip bomb is an error, not an allocation).
async fn decompress(
    gunzip: Option<&dyn Gunzip>,
    headers: &mut HeaderMap,
    body: Bytes,
    max_body: usize,
) -> Result<Bytes, ProxyError> {
    if !is_gzip(headers) {
        return Ok(body);
    }
    let Some(gunzip) = gunzip else {
        let why = "a gzip body from backend, and this build decodes no gzip";
        return Err(ProxyError::new(ErrorSource::Backend, why));
    };
    let out = gunzip.gunzip(body, max_body).await.map_err(|e| {
        let why = match e {
            GunzipError::Invalid(e) => format!("invalid gzip body from backend: {e}"),
            GunzipError::TooLarge => {
                format!("backend body larger than {max_body} bytes after decompression")
            }
        };
        ProxyError::new(ErrorSource::Backend, why)
    })?;
    headers.remove(CONTENT_ENCODING);
    headers.remove(CONTENT_LENGTH);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::{BackendResponse, ClientError, Clock, HttpClient, Sleep};
    use std::io::Write;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);

    impl HttpClient for Recorder {
        fn send(
            &self,
            req: BackendRequest,
            _: usize,
        ) -> BoxFuture<'static, Result<BackendResponse, ClientError>> {
            self.0.lock().unwrap().push(req.uri().to_string());
            Box::pin(async { Ok(http::Response::new(Bytes::from_static(b"{}"))) })
        }
    }

    impl Clock for Recorder {
        fn now_millis(&self) -> u64 {
            0
        }
    }

    impl Sleep for Recorder {
        fn sleep(&self, _: Duration) -> BoxFuture<'static, ()> {
            Box::pin(std::future::pending())
        }
    }

    #[test]
    fn hosts_are_balanced_round_robin() {
        let config = crate::config::parse(
            r#"{"version":3,"endpoints":[{"endpoint":"/a","backend":[{"host":["http://h1","http://h2","http://h3"],"url_pattern":"/x"}]}]}"#,
        )
        .unwrap();
        let rec = Arc::new(Recorder::default());
        let platform = Platform::new(rec.clone(), rec.clone(), rec.clone());
        let backend = HttpBackend::new(config.endpoints[0].backend[0].clone(), platform, 1024);
        for _ in 0..4 {
            futures_executor::block_on(backend.call(ProxyRequest::get("/a"))).unwrap();
        }
        assert_eq!(
            *rec.0.lock().unwrap(),
            ["http://h1/x", "http://h2/x", "http://h3/x", "http://h1/x"]
        );
    }

    #[test]
    fn a_uri_from_the_parsed_origin_is_the_whole_url_parsed() {
        for host in [
            "http://h1",
            "http://API.Example:8080",
            "https://user@[::1]:9443",
            "http://h1/prefix",
            "http://h1/",
        ] {
            let config = crate::config::parse(&format!(
                r#"{{"version":3,"endpoints":[{{"endpoint":"/a/{{id}}","backend":[
                  {{"host":["{host}"],"url_pattern":"/x/{{id}}?k=1",
                    "disable_host_sanitize":true}}]}}]}}"#
            ))
            .unwrap();
            let backend = &config.endpoints[0].backend[0];
            // As the config keeps it (a trailing `/` trimmed).
            let host = backend.host[0].as_str();
            assert_eq!(origin(host).is_some(), !host.contains("/p"), "{host}");
            let rec = Arc::new(Recorder::default());
            let platform = Platform::new(rec.clone(), rec.clone(), rec);
            let backend = HttpBackend::new(backend.clone(), platform, 1024);
            let mut req = ProxyRequest::get("/a/7");
            req.params = Arc::from([("id".to_owned(), "7".to_owned())]);
            let built = backend.build(&req).unwrap();
            let whole: http::Uri = format!("{host}/x/7?k=1").parse().unwrap();
            assert_eq!(built.uri(), &whole, "{host}");
            assert_eq!(built.uri().to_string(), whole.to_string(), "{host}");
        }
    }

    /// Records which of the answer's headers each call asked for.
    #[derive(Default)]
    struct Reads(Mutex<Vec<ReadHeaders>>);

    impl HttpClient for Reads {
        fn send(
            &self,
            req: BackendRequest,
            max_body: usize,
        ) -> BoxFuture<'static, Result<BackendResponse, ClientError>> {
            self.send_reading(req, max_body, ReadHeaders::All)
        }

        fn send_reading(
            &self,
            _: BackendRequest,
            _: usize,
            read: ReadHeaders,
        ) -> BoxFuture<'static, Result<BackendResponse, ClientError>> {
            self.0.lock().unwrap().push(read);
            Box::pin(async { Ok(http::Response::new(Bytes::from_static(b"{}"))) })
        }
    }

    #[test]
    fn a_decoded_answer_asks_only_for_the_headers_the_gateway_reads() {
        let config = crate::config::parse(
            r#"{"version":3,"endpoints":[
              {"endpoint":"/json","backend":[{"host":["http://h"],"url_pattern":"/x"}]},
              {"endpoint":"/raw","output_encoding":"no-op",
               "backend":[{"host":["http://h"],"url_pattern":"/x","encoding":"no-op"}]}]}"#,
        )
        .unwrap();
        for (i, asked) in [
            (0, ReadHeaders::Only(&DECODED_READS)),
            (1, ReadHeaders::All),
        ] {
            let (reads, rec) = (Arc::new(Reads::default()), Arc::new(Recorder::default()));
            let platform = Platform::new(reads.clone(), rec.clone(), rec.clone());
            let backend = HttpBackend::new(config.endpoints[i].backend[0].clone(), platform, 1024);
            futures_executor::block_on(backend.call(ProxyRequest::get("/a"))).unwrap();
            assert_eq!(*reads.0.lock().unwrap(), [asked], "endpoint {i}");
        }
    }

    fn gzipped(body: &[u8]) -> Bytes {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(body).unwrap();
        Bytes::from(enc.finish().unwrap())
    }

    fn gzip_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        h.insert(CONTENT_LENGTH, HeaderValue::from_static("99"));
        h
    }

    fn run(
        gunzip: Option<&dyn Gunzip>,
        headers: &mut HeaderMap,
        body: Bytes,
        max: usize,
    ) -> Result<Bytes, String> {
        futures_executor::block_on(decompress(gunzip, headers, body, max)).map_err(|e| e.message)
    }

    #[cfg(feature = "gzip")]
    #[test]
    fn gzip_is_bounded() {
        let flate = crate::platform::Flate;
        let gz = gzipped(&vec![b'a'; 100_000]);
        let mut h = gzip_headers();
        assert_eq!(
            run(Some(&flate), &mut h, gz.clone(), 200_000)
                .unwrap()
                .len(),
            100_000
        );
        assert!(h.get(CONTENT_ENCODING).is_none() && h.get(CONTENT_LENGTH).is_none());
        let e = run(Some(&flate), &mut gzip_headers(), gz, 1000).unwrap_err();
        assert!(
            e.contains("larger than 1000 bytes after decompression"),
            "{e}"
        );
        let e = run(
            Some(&flate),
            &mut gzip_headers(),
            Bytes::from_static(b"plain"),
            1000,
        );
        assert!(e
            .unwrap_err()
            .starts_with("invalid gzip body from backend: "));
        // Every member of a multi-member body, as Go reads it; bytes after the last refused.
        let two = [gzipped(b"first "), gzipped(b"second")].concat();
        let out = run(
            Some(&flate),
            &mut gzip_headers(),
            Bytes::from(two.clone()),
            1000,
        );
        assert_eq!(out.unwrap(), "first second");
        let trailing = Bytes::from([&two[..], b"xyz"].concat());
        assert!(run(Some(&flate), &mut gzip_headers(), trailing, 1000).is_err());
    }

    /// Answers what the test says, and records the limit it was given.
    struct Scripted(Result<Bytes, GunzipError>, Mutex<Vec<(Bytes, usize)>>);

    impl Gunzip for Scripted {
        fn gunzip(
            &self,
            body: Bytes,
            limit: usize,
        ) -> BoxFuture<'static, Result<Bytes, GunzipError>> {
            self.1.lock().unwrap().push((body, limit));
            Box::pin(std::future::ready(self.0.clone()))
        }
    }

    #[test]
    fn the_platforms_decoder_decodes_gzip_bodies_only() {
        let port = Scripted(Ok(Bytes::from_static(b"{}")), Mutex::default());
        let mut h = gzip_headers();
        assert_eq!(
            run(Some(&port), &mut h, Bytes::from_static(b"gz"), 7).unwrap(),
            "{}"
        );
        assert!(h.get(CONTENT_ENCODING).is_none() && h.get(CONTENT_LENGTH).is_none());
        assert_eq!(*port.1.lock().unwrap(), [(Bytes::from_static(b"gz"), 7)]);
        // Not gzip: as it came, the port not asked.
        let mut plain = HeaderMap::new();
        assert_eq!(
            run(Some(&port), &mut plain, Bytes::from_static(b"x"), 7).unwrap(),
            "x"
        );
        assert_eq!(port.1.lock().unwrap().len(), 1);
        // The port's refusals are the backend's failures; no decoder at all fails closed.
        let big = Scripted(Err(GunzipError::TooLarge), Mutex::default());
        let e = run(Some(&big), &mut gzip_headers(), gzipped(b"{}"), 7).unwrap_err();
        assert_eq!(e, "backend body larger than 7 bytes after decompression");
        let bad = Scripted(
            Err(GunzipError::Invalid("bad magic".into())),
            Mutex::default(),
        );
        let e = run(Some(&bad), &mut gzip_headers(), gzipped(b"{}"), 7).unwrap_err();
        assert_eq!(e, "invalid gzip body from backend: bad magic");
        let e = run(None, &mut gzip_headers(), gzipped(b"{}"), 7).unwrap_err();
        assert_eq!(
            e,
            "a gzip body from backend, and this build decodes no gzip"
        );
    }
}
