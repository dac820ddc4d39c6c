//! OTLP over gRPC, KrakenD's default transport (`use_http` unset): the core's protobuf
//! payloads sent as unary gRPC calls (`TraceService/Export`, `MetricsService/Export`), which
//! are HTTP/2 `POST`s of the message behind a five-byte frame head, answered with a
//! `grpc-status` (in the trailers, or in the head of an answer without a body). Plain
//! `http://` collectors are spoken to over HTTP/2 without TLS (prior knowledge, as gRPC
//! clients do); `https://` ones over TLS with ALPN `h2`. One HTTP/2 connection per collector,
//! kept and re-made by hyper's pool.

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, Method, Request};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// The largest answer read from a collector (an `Export…ServiceResponse`: a few bytes).
const MAX_ANSWER: usize = 64 * 1024;

/// An HTTP/2-only client for the collectors.
pub(crate) struct GrpcClient {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl GrpcClient {
    /// A client with Mozilla's roots for `https://` collectors.
    pub(crate) fn new() -> Result<Self, rustls::Error> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(std::time::Duration::from_secs(5)));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            // ring explicitly: the provider the rest of the native crate uses.
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())?
            .https_or_http()
            .enable_http2()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .http2_only(true)
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .build(https);
        Ok(Self { client })
    }

    /// One unary call of `url`'s method with `message`: `true` when the collector answered
    /// `grpc-status: 0`.
    pub(crate) async fn export(&self, url: &str, message: &[u8]) -> bool {
        let Ok(request) = Request::builder()
            .method(Method::POST)
            .uri(url)
            .header(http::header::CONTENT_TYPE, "application/grpc")
            .header(http::header::TE, "trailers")
            .body(Full::new(frame(message)))
        else {
            return false;
        };
        let Ok(response) = self.client.request(request).await else {
            return false;
        };
        if !response.status().is_success() {
            return false;
        }
        let (head, body) = response.into_parts();
        // A failure without a body has its status in the head ("trailers-only").
        if let Some(status) = grpc_status(&head.headers) {
            return status == "0";
        }
        let Ok(collected) = Limited::new(body, MAX_ANSWER).collect().await else {
            return false;
        };
        collected.trailers().and_then(grpc_status) == Some("0")
    }
}

/// `message` behind gRPC's frame head: not compressed (0), then its length (big-endian).
fn frame(message: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(5 + message.len());
    out.put_u8(0);
    out.put_u32(u32::try_from(message.len()).unwrap_or(u32::MAX));
    out.put_slice(message);
    out.freeze()
}

fn grpc_status(headers: &HeaderMap) -> Option<&str> {
    headers.get("grpc-status").and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_framed_with_its_length() {
        assert_eq!(&frame(b"abc")[..], [0, 0, 0, 0, 3, b'a', b'b', b'c']);
        assert_eq!(&frame(b"")[..], [0, 0, 0, 0, 0]);
        let long = vec![7u8; 70_000];
        let framed = frame(&long);
        assert_eq!(framed[..5], [0, 0, 1, 0x11, 0x70]);
        assert_eq!(framed.len(), 70_005);
    }

    /// An HTTP/2 server (no TLS) that answers each call as its path's last segment says:
    /// `Ok` with a message and `grpc-status: 0` in the trailers, `Unavailable` with status
    /// 14 in the head (no body), `Trailer13` with status 13 in the trailers; the server also
    /// checks the frame head against the body it got.
    async fn collector() -> String {
        use http_body_util::StreamBody;
        use hyper::body::Frame;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let service =
                    hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async move {
                        let path = req.uri().path().to_owned();
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let framed = body.len() >= 5
                            && body[1..5] == u32::try_from(body.len() - 5).unwrap().to_be_bytes();
                        let trailers = |code: &'static str| {
                            let mut t = HeaderMap::new();
                            t.insert("grpc-status", http::HeaderValue::from_static(code));
                            t
                        };
                        let frames: Vec<Result<Frame<Bytes>, std::convert::Infallible>> =
                            match (framed, path.rsplit('/').next()) {
                                (true, Some("Ok")) => vec![
                                    Ok(Frame::data(frame(b""))),
                                    Ok(Frame::trailers(trailers("0"))),
                                ],
                                (true, Some("Trailer13")) => {
                                    vec![Ok(Frame::trailers(trailers("13")))]
                                }
                                _ => Vec::new(),
                            };
                        let mut response = http::Response::new(StreamBody::new(
                            futures_util::stream::iter(frames),
                        ));
                        if path.ends_with("/Unavailable") || !framed {
                            response
                                .headers_mut()
                                .insert("grpc-status", http::HeaderValue::from_static("14"));
                        }
                        Ok::<_, std::convert::Infallible>(response)
                    });
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        format!("http://{addr}/opentelemetry.proto.collector.trace.v1.TraceService")
    }

    #[tokio::test]
    async fn a_call_succeeds_on_grpc_status_0_only() {
        let base = collector().await;
        let client = GrpcClient::new().unwrap();
        let message = vec![1u8; 100_000];
        assert!(client.export(&format!("{base}/Ok"), &message).await);
        assert!(
            !client
                .export(&format!("{base}/Unavailable"), &message)
                .await
        );
        assert!(!client.export(&format!("{base}/Trailer13"), &message).await);
        // Nobody listening: a failure, not a hang or a panic.
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        assert!(
            !client
                .export(&format!("http://127.0.0.1:{port}/x/Ok"), b"m")
                .await
        );
    }
}
