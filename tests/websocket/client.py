"""The client side of scripts/websocket.sh: each check prints `ok NAME` or `FAIL NAME: why`.

Usage: client.py GATEWAY_PORT JWT_SECRET API_KEY
"""

import base64
import hashlib
import hmac
import json
import sys
import time
import urllib.error
import urllib.request

from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

PORT, SECRET, API_KEY = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3]
WS = f"ws://127.0.0.1:{PORT}"
HTTP = f"http://127.0.0.1:{PORT}"


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(claims):
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
    body = b64(json.dumps(claims).encode())
    sig = hmac.new(SECRET, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


def check(name):
    def run(fn):
        try:
            problem = fn()
        except Exception as e:  # any failure of one check is that check's failure
            problem = f"{type(e).__name__}: {e}"
        print(f"ok   {name}" if problem is None else f"FAIL {name}: {problem}", flush=True)
        return fn

    return run


def refused_status(url, **kwargs):
    """The status of a refused upgrade, or a message when it was not refused."""
    try:
        with connect(url, open_timeout=5, **kwargs):
            return "the upgrade was accepted"
    except InvalidStatus as e:
        return e.response.status_code


@check("text message echoes")
def _():
    with connect(f"{WS}/ws/echo", open_timeout=5) as ws:
        ws.send("hello, gateway")
        got = ws.recv(timeout=5)
        return None if got == "hello, gateway" else repr(got)


@check("an upgraded connection outlives the head timeout (300 ms here)")
def _():
    with connect(f"{WS}/ws/echo", open_timeout=5) as ws:
        ws.send("before")
        first = ws.recv(timeout=5)
        time.sleep(1.0)  # no request on the connection for three head timeouts
        ws.send("after")
        got = ws.recv(timeout=5)
        return None if (first, got) == ("before", "after") else repr((first, got))


@check("binary message echoes (as binary)")
def _():
    data = bytes(range(256)) * 16
    with connect(f"{WS}/ws/echo", open_timeout=5) as ws:
        ws.send(data)
        got = ws.recv(timeout=5)
        return None if got == data else f"{type(got).__name__} of {len(got)}"


@check("many messages both ways, in order, 1 MiB one included")
def _():
    big = b"x" * (1 << 20)
    with connect(f"{WS}/ws/echo", open_timeout=5, max_size=None) as ws:
        sent = [f"m{i}" for i in range(200)] + [big]
        for m in sent:
            ws.send(m)
        got = [ws.recv(timeout=10) for _ in sent]
        return None if got == sent else "messages differ"


@check("the client's close reaches the backend and its answer comes back")
def _():
    ws = connect(f"{WS}/ws/echo", open_timeout=5)
    ws.send("before close")
    ws.recv(timeout=5)
    ws.close(4000, "bye")
    code = ws.close_code
    return None if code == 4000 else f"close code {code}"


@check("the backend's close reaches the client (code and reason)")
def _():
    with connect(f"{WS}/ws/close", open_timeout=5) as ws:
        ws.send("close please")
        try:
            ws.recv(timeout=5)
            return "a message instead of the close"
        except ConnectionClosed as e:
            rcvd = e.rcvd
            ok = rcvd is not None and rcvd.code == 4001 and rcvd.reason == "done"
            return None if ok else f"close {rcvd}"


@check("handshake: Sec-WebSocket-Protocol negotiated, input_headers and X-Forwarded-For forwarded")
def _():
    headers = {"X-Trace": "t-1", "X-Secret": "not forwarded"}
    with connect(
        f"{WS}/ws/headers?room=7&drop=1",
        open_timeout=5,
        subprotocols=["chat"],
        additional_headers=headers,
    ) as ws:
        seen = json.loads(ws.recv(timeout=5))
        problems = []
        if ws.subprotocol != "chat":
            problems.append(f"subprotocol {ws.subprotocol}")
        if seen.get("x-trace") != "t-1":
            problems.append("X-Trace missing")
        if "x-secret" in seen:
            problems.append("X-Secret forwarded")
        if seen.get("x-forwarded-for") != "127.0.0.1":
            problems.append(f"X-Forwarded-For {seen.get('x-forwarded-for')}")
        if seen.get(":path") != "/headers?room=7":
            problems.append(f"path {seen.get(':path')}")
        return "; ".join(problems) or None


@check("no JWT: 401, no upgrade")
def _():
    status = refused_status(f"{WS}/ws/jwt")
    return None if status == 401 else f"got {status}"


@check("a JWT with a bad signature: 401, no upgrade")
def _():
    bad = token({"sub": "a", "exp": int(time.time()) + 600})[:-4] + "AAAA"
    status = refused_status(f"{WS}/ws/jwt", additional_headers={"Authorization": f"Bearer {bad}"})
    return None if status == 401 else f"got {status}"


@check("a valid JWT: upgraded, the claim propagated to the backend")
def _():
    good = token({"sub": "alice", "exp": int(time.time()) + 600})
    with connect(
        f"{WS}/ws/jwt", open_timeout=5, additional_headers={"Authorization": f"Bearer {good}"}
    ) as ws:
        seen = json.loads(ws.recv(timeout=5))
        return None if seen.get("x-user") == "alice" else f"X-User {seen.get('x-user')}"


@check("no API key: 401, no upgrade")
def _():
    status = refused_status(f"{WS}/ws/key")
    return None if status == 401 else f"got {status}"


@check("an API key: upgraded")
def _():
    with connect(
        f"{WS}/ws/key", open_timeout=5, additional_headers={"Authorization": API_KEY}
    ) as ws:
        ws.send("with a key")
        seen = ws.recv(timeout=5)
        return None if seen == "with a key" else repr(seen)


@check("a foreign Origin (security/cors): 403, no upgrade")
def _():
    status = refused_status(f"{WS}/ws/echo", origin="https://evil.example")
    return None if status == 403 else f"got {status}"


@check("an allowed Origin: upgraded")
def _():
    with connect(f"{WS}/ws/echo", open_timeout=5, origin="https://app.example") as ws:
        ws.send("from the app")
        return None if ws.recv(timeout=5) == "from the app" else "no echo"


@check("rate limit: the second upgrade in the same second is 429")
def _():
    with connect(f"{WS}/ws/limited", open_timeout=5):
        pass
    status = refused_status(f"{WS}/ws/limited")
    return None if status == 429 else f"got {status}"


@check("the backend's own refusal is passed on (403)")
def _():
    status = refused_status(f"{WS}/ws/refuse")
    return None if status == 403 else f"got {status}"


@check("a non-upgrade GET on the endpoint is a normal no-op call")
def _():
    with urllib.request.urlopen(f"{HTTP}/ws/echo", timeout=5) as r:
        body = r.read().decode()
        return None if (r.status, body) == (200, "plain http\n") else f"{r.status} {body!r}"


@check("a non-upgrade GET still needs the JWT (401)")
def _():
    try:
        with urllib.request.urlopen(f"{HTTP}/ws/jwt", timeout=5) as r:
            return f"got {r.status}"
    except urllib.error.HTTPError as e:
        return None if e.code == 401 else f"got {e.code}"


@check("an upgrade on a plain endpoint is not upgraded")
def _():
    status = refused_status(f"{WS}/plain")
    return None if isinstance(status, int) and status != 101 else f"got {status}"
