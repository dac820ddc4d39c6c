//! `auth/client-credentials`: the backend's calls carry an OAuth2 access token obtained with
//! the client-credentials grant (RFC 6749 §4.4), as KrakenD's `clientcredentials` transport.
//!
//! The token is fetched through the platform's `HttpClient` port (so this works wherever the
//! core runs) and kept in memory per backend (per process / sandbox / isolate) until 10 s
//! before it expires (golang.org/x/oauth2's `expiryDelta`; a token without `expires_in` is kept
//! until the process ends, as there). One fetch at a time: requests that need a token while one
//! is being fetched wait for it, and all of them get its outcome; a failed fetch fails those
//! requests as backend failures whose error names the token server and why (the access log's
//! `error`), and the next request tries again. If the request that fetches is cancelled (its
//! deadline), a waiting one takes over. The client authenticates with HTTP Basic first; a
//! token server that answers 400 or 401 to that is asked again with `client_id` and
//! `client_secret` in the form (oauth2's auto-detection), and that style is kept.
//!
//! The token is added only to requests for the backend's own hosts: a redirect to another
//! origin does not carry it.
//!
//! With `connection_name` (a Manifold key naming a `redis` pool) tokens are also shared by
//! every instance: the one fetch of an instance first reads the pool's entry (keyed by a
//! SHA-256 of `token_url`, `client_id`, `scopes` and `endpoint_params`, never the secret) and
//! uses a token found there without calling the token server; a token it fetches is stored
//! until its renew point. A token without `expires_in` is not shared (it would be kept
//! forever). The store is an optimisation only: when it fails, the token server is asked, as
//! without a pool (the platform's store reports its own outages).

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Poll, Waker};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, Method, Request};
use sha2::{Digest, Sha256};

use super::discovery::DiscoveredOrigin;
use crate::config::extra::ClientCredentials;
use crate::platform::{
    BackendRequest, BackendResponse, BoxFuture, ClientError, ClientErrorKind, Clock, HttpClient,
    Platform, Store,
};
use crate::url::push_query_component;

/// A token is renewed this long before it expires (oauth2's `expiryDelta`).
const EXPIRY_DELTA_MS: u64 = 10_000;

/// Largest token-server answer read.
const MAX_TOKEN_BODY: usize = 64 * 1024;

/// Prefix of the shared store's entry names.
const SHARED_PREFIX: &str = "manifold:cc:";

/// First field of a shared entry: its format, so entries of another format are misses.
const SHARED_FORMAT: &str = "v1";

/// The same ports, with every call to `hosts` carrying a token from `cfg`'s token server.
pub(crate) fn platform(cfg: &ClientCredentials, hosts: &[String], platform: &Platform) -> Platform {
    let mut p = platform.clone();
    let shared = cfg.connection_name.as_deref().and_then(|name| {
        let store = platform.stores.as_ref()?.pool(name)?;
        Some(Shared {
            store,
            key: shared_key(cfg),
        })
    });
    p.client = Arc::new(TokenClient {
        inner: platform.client.clone(),
        hosts: hosts.iter().map(|h| origin(h)).collect(),
        source: Arc::new(TokenSource {
            cfg: cfg.clone(),
            client: platform.client.clone(),
            clock: platform.clock.clone(),
            state: Mutex::new(State::default()),
            secret_in_body: AtomicBool::new(false),
            shared,
        }),
    });
    p
}

/// The shared store's entry name for `cfg`'s tokens: a digest of what the token depends on
/// (each part length-prefixed, so no two configs run together), never the secret itself.
fn shared_key(cfg: &ClientCredentials) -> String {
    let mut h = Sha256::new();
    let mut part = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    };
    part(cfg.token_url.as_bytes());
    part(cfg.client_id.as_bytes());
    part(cfg.scopes.join(" ").as_bytes());
    for (k, v) in &cfg.endpoint_params {
        part(k.as_bytes());
        part(v.as_bytes());
    }
    let digest = h.finalize();
    let mut key = String::with_capacity(SHARED_PREFIX.len() + 64);
    key.push_str(SHARED_PREFIX);
    for b in digest {
        key.push_str(&format!("{b:02x}"));
    }
    key
}

/// An [`HttpClient`] that adds `Authorization` from a [`TokenSource`].
struct TokenClient {
    inner: Arc<dyn HttpClient>,
    /// `scheme://authority` of the backend's hosts, lower-case.
    hosts: Vec<String>,
    source: Arc<TokenSource>,
}

/// Where tokens come from, and the one kept.
struct TokenSource {
    cfg: ClientCredentials,
    client: Arc<dyn HttpClient>,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
    /// The token server refused HTTP Basic: the credentials go in the form.
    secret_in_body: AtomicBool,
    /// Where tokens are shared with the other instances (`connection_name`).
    shared: Option<Shared>,
}

/// A shared store and the entry name of this config's tokens.
struct Shared {
    store: Arc<dyn Store>,
    key: String,
}

/// A token and until when it is used.
#[derive(Clone)]
struct Token {
    header: HeaderValue,
    /// Unix ms after which it is renewed; `None`: never.
    renew_at_ms: Option<u64>,
}

#[derive(Default)]
struct State {
    token: Option<Token>,
    /// A fetch is under way.
    fetching: bool,
    /// Fetches finished so far (successful or not).
    finished: u64,
    /// The last fetch's error, with the `finished` count it set.
    error: Option<(u64, String)>,
    /// Requests waiting for the fetch under way.
    waiters: Vec<Waker>,
}

/// What a request does next.
enum Step {
    Have(HeaderValue),
    Failed(String),
    Fetch,
}

/// Resets `fetching` if the fetching request is dropped before it finished, so that a waiting
/// request takes over.
struct Fetching<'s> {
    source: &'s TokenSource,
    done: bool,
}

// === impl TokenClient ===

impl HttpClient for TokenClient {
    fn send(
        &self,
        mut request: BackendRequest,
        max_body: usize,
    ) -> BoxFuture<'static, Result<BackendResponse, ClientError>> {
        let inner = self.inner.clone();
        if !self.is_ours(&request) {
            request.headers_mut().remove(AUTHORIZATION);
            return inner.send(request, max_body);
        }
        let source = self.source.clone();
        Box::pin(async move {
            let header = source.token().await?;
            request.headers_mut().insert(AUTHORIZATION, header);
            inner.send(request, max_body).await
        })
    }
}

impl TokenClient {
    /// A request to one of the backend's hosts, or to the target service discovery chose for
    /// it (`"sd": "dns"`: the backend's `host` is then the SRV name, never called itself).
    fn is_ours(&self, request: &BackendRequest) -> bool {
        let to = request_origin(request);
        self.hosts.contains(&to)
            || request
                .extensions()
                .get::<DiscoveredOrigin>()
                .is_some_and(|d| origin(&d.0) == to)
    }
}

// === impl TokenSource ===

impl TokenSource {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The `Authorization` value to send: the kept token, or a new one.
    async fn token(&self) -> Result<HeaderValue, ClientError> {
        // The fetches finished when this request started waiting: a later failure is its too.
        let mut since: Option<u64> = None;
        let step = poll_fn(|cx| {
            let mut s = self.lock();
            let now = self.clock.now_millis();
            if let Some(t) = &s.token {
                if t.renew_at_ms.is_none_or(|at| now < at) {
                    return Poll::Ready(Step::Have(t.header.clone()));
                }
            }
            let started = *since.get_or_insert(s.finished);
            if let Some((at, message)) = &s.error {
                if *at > started && s.finished == *at && !s.fetching {
                    return Poll::Ready(Step::Failed(message.clone()));
                }
            }
            if !s.fetching {
                s.fetching = true;
                return Poll::Ready(Step::Fetch);
            }
            s.waiters.push(cx.waker().clone());
            Poll::Pending
        })
        .await;
        match step {
            Step::Have(header) => Ok(header),
            Step::Failed(message) => Err(ClientError::new(ClientErrorKind::Connect, message)),
            Step::Fetch => {
                let mut guard = Fetching {
                    source: self,
                    done: false,
                };
                let result = self.obtain().await;
                guard.done = true;
                let mut s = self.lock();
                s.fetching = false;
                s.finished += 1;
                match &result {
                    Ok(token) => {
                        s.token = Some(token.clone());
                        s.error = None;
                    }
                    Err(message) => s.error = Some((s.finished, message.clone())),
                }
                for w in s.waiters.drain(..) {
                    w.wake();
                }
                drop(s);
                result
                    .map(|t| t.header)
                    .map_err(|m| ClientError::new(ClientErrorKind::Connect, m))
            }
        }
    }

    /// A token from the shared store if it holds a fresh one, else from the token server
    /// (then stored for the other instances until its renew point).
    async fn obtain(&self) -> Result<Token, String> {
        let Some(shared) = &self.shared else {
            return self.fetch().await;
        };
        // A store error is a miss: the token server is asked, as without a pool.
        let found = shared.store.get(&shared.key).await.ok().flatten();
        let now = self.clock.now_millis();
        if let Some(token) = found.and_then(|v| decode(&v, now)) {
            return Ok(token);
        }
        let token = self.fetch().await?;
        if let Some(at) = token.renew_at_ms {
            let now = self.clock.now_millis();
            if at > now {
                let ttl = Duration::from_millis(at - now);
                // Not storing only costs the other instances a token request each.
                let _ = shared.store.put(&shared.key, encode(&token, at), ttl).await;
            }
        }
        Ok(token)
    }

    /// One token request (two when the server refuses HTTP Basic the first time).
    async fn fetch(&self) -> Result<Token, String> {
        let in_body = self.secret_in_body.load(Ordering::Relaxed);
        let mut answer = self.request(in_body).await?;
        if !in_body && matches!(answer.status().as_u16(), 400 | 401) {
            let retry = self.request(true).await?;
            if retry.status().is_success() {
                self.secret_in_body.store(true, Ordering::Relaxed);
            }
            answer = retry;
        }
        let now = self.clock.now_millis();
        parse(&answer, now).map_err(|why| {
            format!(
                "auth/client-credentials: no token from {}: {why}",
                self.cfg.token_url
            )
        })
    }

    /// Send the token request, the client's credentials in the form or as HTTP Basic.
    async fn request(&self, in_body: bool) -> Result<BackendResponse, String> {
        let cfg = &self.cfg;
        let scope = cfg.scopes.join(" ");
        let mut fields: Vec<(&str, &str)> = vec![("grant_type", "client_credentials")];
        if !scope.is_empty() {
            fields.push(("scope", &scope));
        }
        fields.extend(
            cfg.endpoint_params
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        if in_body {
            fields.push(("client_id", &cfg.client_id));
            fields.push(("client_secret", &cfg.client_secret));
        }
        // Go's url.Values.Encode, as oauth2 sends the form: keys sorted, values in order.
        crate::sort::sort_by(&mut fields, |a, b| a.0.cmp(b.0));
        let mut form = String::new();
        for (k, v) in fields {
            if !form.is_empty() {
                form.push('&');
            }
            push_query_component(&mut form, k);
            form.push('=');
            push_query_component(&mut form, v);
        }
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(&cfg.token_url)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, "application/json");
        if !in_body {
            // RFC 6749 §2.3.1: each part form-encoded before the Basic encoding.
            let mut pair = String::new();
            push_query_component(&mut pair, &cfg.client_id);
            pair.push(':');
            push_query_component(&mut pair, &cfg.client_secret);
            builder = builder.header(AUTHORIZATION, format!("Basic {}", STANDARD.encode(pair)));
        }
        let request = builder
            .body(Bytes::from(form))
            .map_err(|e| format!("auth/client-credentials: bad token request: {e}"))?;
        self.client
            .send(request, MAX_TOKEN_BODY)
            .await
            .map_err(|e| {
                format!(
                    "auth/client-credentials: token server {} unreachable: {e}",
                    cfg.token_url
                )
            })
    }
}

impl Drop for Fetching<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut s = self.source.lock();
        s.fetching = false;
        for w in s.waiters.drain(..) {
            w.wake();
        }
    }
}

/// The token in a token-server answer (JSON, or a form as some servers send), as the
/// `Authorization` value, and when to renew it.
fn parse(answer: &BackendResponse, now_ms: u64) -> Result<Token, String> {
    let status = answer.status();
    if !status.is_success() {
        let body = String::from_utf8_lossy(answer.body());
        let body: String = body.chars().take(200).collect();
        return Err(format!("status {} {body:?}", status.as_u16()));
    }
    let content_type = answer
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let form = content_type.starts_with("application/x-www-form-urlencoded")
        || content_type.starts_with("text/plain");
    let (access_token, token_type, expires_in) = if form {
        let mut out = (String::new(), String::new(), None);
        for pair in answer.body().split(|b| *b == b'&') {
            let text = String::from_utf8_lossy(pair).replace('+', " ");
            let (k, v) = text.split_once('=').unwrap_or((&text, ""));
            let v = percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned();
            match k {
                "access_token" => out.0 = v,
                "token_type" => out.1 = v,
                "expires_in" => out.2 = v.parse::<u64>().ok(),
                _ => {}
            }
        }
        out
    } else {
        // The gateway's own JSON parser: serde's deserializer would be linked into the Worker
        // for this alone.
        let json = crate::json::parse(answer.body())
            .map_err(|e| format!("the answer is not JSON: {e}"))?;
        let member = |k: &str| json.as_object().and_then(|o| o.get(k));
        let text = |k: &str| member(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
        // A whole number, or one in a string (some servers send that; oauth2 accepts both).
        let expires_in = match member("expires_in") {
            Some(crate::json::Value::Number(n)) => n.as_str().parse().ok(),
            Some(crate::json::Value::String(s)) => s.as_str().parse().ok(),
            _ => None,
        };
        (text("access_token"), text("token_type"), expires_in)
    };
    if access_token.is_empty() {
        return Err("the answer has no access_token".to_owned());
    }
    // oauth2's Token.Type: the usual types capitalised, Bearer when none is given.
    let kind = match token_type.to_ascii_lowercase().as_str() {
        "" | "bearer" => "Bearer".to_owned(),
        "mac" => "MAC".to_owned(),
        "basic" => "Basic".to_owned(),
        _ => token_type,
    };
    let header = HeaderValue::try_from(format!("{kind} {access_token}"))
        .map_err(|_| "the access_token is not a valid header value".to_owned())?;
    let renew_at_ms = expires_in.filter(|s| *s > 0).map(|s| {
        now_ms
            .saturating_add(s.saturating_mul(1000))
            .saturating_sub(EXPIRY_DELTA_MS)
    });
    Ok(Token {
        header,
        renew_at_ms,
    })
}

/// A shared entry: format, renew point (Unix ms) and the `Authorization` value.
fn encode(token: &Token, renew_at_ms: u64) -> Bytes {
    let mut out = format!("{SHARED_FORMAT} {renew_at_ms} ").into_bytes();
    out.extend_from_slice(token.header.as_bytes());
    Bytes::from(out)
}

/// The token in a shared entry, unless it is of another format or due for renewal at `now_ms`.
fn decode(entry: &[u8], now_ms: u64) -> Option<Token> {
    let mut parts = entry.splitn(3, |b| *b == b' ');
    if parts.next()? != SHARED_FORMAT.as_bytes() {
        return None;
    }
    let renew_at_ms: u64 = std::str::from_utf8(parts.next()?).ok()?.parse().ok()?;
    let header = HeaderValue::from_bytes(parts.next()?).ok()?;
    (now_ms < renew_at_ms).then_some(Token {
        header,
        renew_at_ms: Some(renew_at_ms),
    })
}

/// `scheme://authority` of a configured host, lower-case.
fn origin(host: &str) -> String {
    match host.parse::<http::Uri>() {
        Ok(uri) => format!(
            "{}://{}",
            uri.scheme_str().unwrap_or("http"),
            uri.authority().map_or("", http::uri::Authority::as_str)
        )
        .to_ascii_lowercase(),
        Err(_) => host.to_ascii_lowercase(),
    }
}

/// `scheme://authority` of a request, lower-case.
fn request_origin(request: &BackendRequest) -> String {
    let uri = request.uri();
    format!(
        "{}://{}",
        uri.scheme_str().unwrap_or("http"),
        uri.authority().map_or("", http::uri::Authority::as_str)
    )
    .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(content_type: &str, body: &str) -> BackendResponse {
        http::Response::builder()
            .header(CONTENT_TYPE, content_type)
            .body(Bytes::from(body.to_owned()))
            .unwrap()
    }

    #[test]
    fn json_tokens_are_renewed_ten_seconds_early() {
        let t = parse(
            &answer(
                "application/json",
                r#"{"access_token":"abc","token_type":"bearer","expires_in":60}"#,
            ),
            1_000,
        )
        .unwrap();
        assert_eq!(t.header, "Bearer abc");
        assert_eq!(t.renew_at_ms, Some(51_000));
    }

    #[test]
    fn form_answers_and_string_expiry_are_read() {
        let t = parse(
            &answer(
                "application/x-www-form-urlencoded",
                "access_token=a%2Bb&token_type=mac&expires_in=20",
            ),
            0,
        )
        .unwrap();
        assert_eq!(t.header, "MAC a+b");
        assert_eq!(t.renew_at_ms, Some(10_000));
        let t = parse(
            &answer(
                "application/json",
                r#"{"access_token":"x","expires_in":"30"}"#,
            ),
            0,
        )
        .unwrap();
        assert_eq!(t.renew_at_ms, Some(20_000));
        let t = parse(&answer("application/json", r#"{"access_token":"x"}"#), 0).unwrap();
        assert_eq!(t.renew_at_ms, None);
        // Not a whole number of seconds: no expiry known.
        for expiry in ["60.5", "-1", "6e1", "null"] {
            let body = format!(r#"{{"access_token":"x","expires_in":{expiry}}}"#);
            let t = parse(&answer("application/json", &body), 0).unwrap();
            assert_eq!(t.renew_at_ms, None, "{expiry}");
        }
    }

    #[test]
    fn answers_without_a_token_are_errors() {
        assert!(parse(&answer("application/json", r#"{"token_type":"bearer"}"#), 0).is_err());
        assert!(parse(&answer("application/json", "not json"), 0).is_err());
        assert!(parse(&answer("application/json", r#"["access_token"]"#), 0).is_err());
        let refused = http::Response::builder()
            .status(500)
            .body(Bytes::from_static(b"boom"))
            .unwrap();
        assert_eq!(parse(&refused, 0).err().unwrap(), "status 500 \"boom\"");
    }

    #[test]
    fn origins_compare_scheme_and_authority() {
        assert_eq!(origin("http://A.internal:8080"), "http://a.internal:8080");
        let req = http::Request::builder()
            .uri("http://a.internal:8080/x?y=1")
            .body(Bytes::new())
            .unwrap();
        assert_eq!(request_origin(&req), "http://a.internal:8080");
    }

    #[test]
    fn tokens_go_to_the_discovered_target_only() {
        let cfg = ClientCredentials {
            client_id: "gw".into(),
            client_secret: "s".into(),
            token_url: "http://auth.internal/token".into(),
            scopes: Vec::new(),
            endpoint_params: Vec::new(),
            connection_name: None,
            pool_at: Default::default(),
        };
        let client = TokenClient {
            inner: std::sync::Arc::new(NoCalls),
            hosts: vec![origin("http://_api._tcp.sd.test")],
            source: std::sync::Arc::new(TokenSource {
                cfg,
                client: std::sync::Arc::new(NoCalls),
                clock: std::sync::Arc::new(|| 0u64),
                state: Mutex::new(State::default()),
                secret_in_body: AtomicBool::new(false),
                shared: None,
            }),
        };
        let request = |uri: &str, target: Option<&str>| {
            let mut r = http::Request::builder()
                .uri(uri)
                .body(Bytes::new())
                .unwrap();
            if let Some(t) = target {
                r.extensions_mut().insert(DiscoveredOrigin(t.to_owned()));
            }
            r
        };
        let chosen = Some("http://Users-2.node.consul:8080");
        assert!(client.is_ours(&request("http://users-2.node.consul:8080/u/1", chosen)));
        // A redirect to another origin keeps the marker but not the origin: no token.
        assert!(!client.is_ours(&request("http://elsewhere.example/u/1", chosen)));
        assert!(!client.is_ours(&request("http://users-2.node.consul:8080/u/1", None)));
    }

    #[test]
    fn shared_entries_round_trip_until_the_renew_point() {
        let token = Token {
            header: HeaderValue::from_static("Bearer a b"),
            renew_at_ms: Some(5_000),
        };
        let entry = encode(&token, 5_000);
        assert_eq!(&entry[..], b"v1 5000 Bearer a b");
        let back = decode(&entry, 4_999).unwrap();
        assert_eq!(back.header, "Bearer a b");
        assert_eq!(back.renew_at_ms, Some(5_000));
        assert!(decode(&entry, 5_000).is_none());
        assert!(decode(b"v0 5000 Bearer x", 0).is_none());
        assert!(decode(b"v1 soon Bearer x", 0).is_none());
    }

    #[test]
    fn shared_keys_hold_a_digest_not_the_secret() {
        let mut cfg = ClientCredentials {
            client_id: "gw".into(),
            client_secret: "hunter2".into(),
            token_url: "http://auth.internal/token".into(),
            scopes: vec!["read".into()],
            endpoint_params: Vec::new(),
            connection_name: Some("tokens".into()),
            pool_at: Default::default(),
        };
        let key = shared_key(&cfg);
        assert!(key.starts_with(SHARED_PREFIX));
        assert_eq!(key.len(), SHARED_PREFIX.len() + 64);
        assert!(!key.contains("hunter2") && !key.contains("gw"));
        cfg.client_secret = "other".into();
        assert_eq!(shared_key(&cfg), key);
        cfg.scopes = vec!["write".into()];
        assert_ne!(shared_key(&cfg), key);
    }

    struct NoCalls;

    impl HttpClient for NoCalls {
        fn send(
            &self,
            _: BackendRequest,
            _: usize,
        ) -> BoxFuture<'static, Result<BackendResponse, ClientError>> {
            unreachable!("no call is made")
        }
    }
}
