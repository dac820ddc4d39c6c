//! WebSocket passthrough on Workers: the core decides ([`Gateway::upgrade`]: guards, origin,
//! the backend handshake); here the backend is fetched with `Upgrade: websocket`, a
//! `WebSocketPair` answers the client with `101`, and the messages and the close are relayed
//! between the two accepted sockets in a task of their own (`spawn_local`; the runtime keeps
//! the isolate alive while its sockets are open). The runtime frames the messages itself, so
//! text stays text and binary stays binary; a close is passed on with its code and reason.
//! Idle connections are left to Cloudflare's own limits (`websocket.timeout` is native only).

use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use http::StatusCode;
use manifold_core::{plain, Dial, Gateway, RequestContext, Upgrade};
use worker::wasm_bindgen::JsCast;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{
    console_warn, wasm_bindgen_futures, Fetch, Headers, Method, Request, RequestInit, Response,
    ResponseBuilder, WebSocket, WebSocketPair, WebsocketEvent,
};
use worker::{js_sys, web_sys, MessageEvent};

use crate::fetch::headers_to_js;

/// What became of a request that may be a WebSocket upgrade.
#[derive(Debug)]
pub enum Upgraded<B> {
    /// Not an upgrade on a `websocket` endpoint: serve the request as usual.
    Pass(http::Request<B>),
    /// Refused (by the gateway, or by the backend): this answer, no socket.
    Refused(http::Response<Bytes>),
    /// The client's `101`, its socket relayed to the backend's.
    Socket(Response),
}

/// Connect `request` to its backend if it is a WebSocket upgrade on a `websocket` endpoint.
/// `context` is only built when the request asks for an upgrade.
pub async fn upgrade<B>(
    gateway: &Gateway,
    request: http::Request<B>,
    context: impl FnOnce() -> RequestContext,
) -> Upgraded<B> {
    let (parts, body) = request.into_parts();
    if !gateway.may_upgrade(&parts) {
        return Upgraded::Pass(http::Request::from_parts(parts, body));
    }
    let dial = match gateway.upgrade(&parts, context()).await {
        Upgrade::Pass => return Upgraded::Pass(http::Request::from_parts(parts, body)),
        Upgrade::Refused(answer) => return Upgraded::Refused(answer),
        Upgrade::Dial(dial) => dial,
    };
    let endpoint = dial.endpoint.clone();
    match connect(dial).await {
        Ok(upgraded) => upgraded,
        Err(e) => {
            console_warn!("websocket {endpoint}: backend handshake failed: {e}");
            Upgraded::Refused(plain(StatusCode::BAD_GATEWAY, ""))
        }
    }
}

/// Fetch the backend's upgrade; when it switches protocols, answer the client with the other
/// end of a fresh pair and relay between the two.
async fn connect<B>(dial: Dial) -> worker::Result<Upgraded<B>> {
    let (parts, ()) = dial.request.into_parts();
    let headers = Headers(headers_to_js(&parts.headers)?);
    // `headers_to_js` leaves out the hop-by-hop headers; this one asks `fetch` for a socket.
    headers.set("upgrade", "websocket")?;
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(headers);
    let request = Request::new_with_init(&parts.uri.to_string(), &init)?;
    let answer = Fetch::Request(request).send().await?;
    if answer.status_code() != 101 {
        return Ok(Upgraded::Refused(refusal(answer).await));
    }
    let protocol = answer.headers().get("sec-websocket-protocol")?;
    let Some(backend) = answer.websocket() else {
        return Err(worker::Error::RustError("101 without a socket".into()));
    };
    let pair = WebSocketPair::new()?;
    wasm_bindgen_futures::spawn_local(relay(pair.server, backend));
    // The subprotocol the backend chose is the one the client gets.
    let headers = Headers::new();
    if let Some(protocol) = protocol {
        headers.set("sec-websocket-protocol", &protocol)?;
    }
    let response = ResponseBuilder::new()
        .with_status(101)
        .with_headers(headers)
        .with_websocket(pair.client)
        .empty();
    Ok(Upgraded::Socket(response))
}

/// Which socket an event came from.
enum From {
    Client(worker::Result<WebsocketEvent>),
    Backend(worker::Result<WebsocketEvent>),
}

/// Relay messages both ways. A close from one side is passed to the other, whose answering
/// close comes back the same way; the loop ends when both event streams ended (after their
/// close) or a side fails (the other is then closed with 1011).
async fn relay(client: WebSocket, backend: WebSocket) {
    // Listeners first: a message that arrives before them would be lost.
    let (Ok(from_client), Ok(from_backend)) = (client.events(), backend.events()) else {
        let _ = client.close(Some(1011), Some("gateway error"));
        let _ = backend.close(Some(1011), Some("gateway error"));
        return;
    };
    if client.accept().is_err() || backend.accept().is_err() {
        return;
    }
    let mut events = stream::select(
        from_client.map(From::Client),
        from_backend.map(From::Backend),
    );
    // Whether a close was sent to the client / to the backend already.
    let mut closed = [false, false];
    while let Some(event) = events.next().await {
        let (event, to, sent) = match event {
            From::Client(event) => (event, &backend, &mut closed[1]),
            From::Backend(event) => (event, &client, &mut closed[0]),
        };
        match event {
            Ok(WebsocketEvent::Message(message)) => {
                let sent = match message.text() {
                    Some(text) => to.send_with_str(text),
                    None => to.send_with_bytes(binary(&message).await),
                };
                if sent.is_err() {
                    break;
                }
            }
            Ok(WebsocketEvent::Close(close)) if !*sent => {
                *sent = true;
                // Codes a peer may not send (1005 none given, 1006 abnormal, 1015 TLS) become 1000.
                let code = match close.code() {
                    1005 | 1006 | 1015 => 1000,
                    code => code,
                };
                let _ = to.close(Some(code), Some(close.reason()));
            }
            Ok(WebsocketEvent::Close(_)) => {}
            Err(_) => {
                let _ = to.close(Some(1011), Some("the other side failed"));
                break;
            }
        }
    }
}

/// A binary message's bytes. workerd hands a fetched socket's binary messages over as a `Blob`
/// (measured with Miniflare; `MessageEvent::bytes` reads a `Blob` as empty), a pair's as an
/// `ArrayBuffer`: both are read, in order (the relay waits for each).
async fn binary(message: &MessageEvent) -> Vec<u8> {
    let data = message.as_ref().data();
    if data.is_instance_of::<js_sys::ArrayBuffer>() {
        return js_sys::Uint8Array::new(&data).to_vec();
    }
    let Ok(blob) = data.dyn_into::<web_sys::Blob>() else {
        return Vec::new();
    };
    match JsFuture::from(blob.array_buffer()).await {
        Ok(buffer) => js_sys::Uint8Array::new(&buffer).to_vec(),
        Err(_) => Vec::new(),
    }
}

/// The backend's refusal of the upgrade, passed on: its status, content type and body.
async fn refusal(mut answer: Response) -> http::Response<Bytes> {
    let status = StatusCode::from_u16(answer.status_code()).unwrap_or(StatusCode::BAD_GATEWAY);
    let content_type = answer.headers().get("content-type").ok().flatten();
    let body = answer.bytes().await.unwrap_or_default();
    let mut refused = http::Response::new(Bytes::from(body));
    *refused.status_mut() = status;
    if let Some(value) = content_type.and_then(|v| http::HeaderValue::from_str(&v).ok()) {
        refused
            .headers_mut()
            .insert(http::header::CONTENT_TYPE, value);
    }
    refused
}
