#!/usr/bin/env python3
"""The KrakenD CE integration-test mock backend, re-implemented with the standard library.

KrakenD CE runs its integration specs against a small Go `net/http` server (krakend-ce
`tests/integration.go`, `tests/payloads/*.go`). This module reproduces it closely enough that the
specs' expected bodies come out byte-for-byte: Go `ServeMux` routing and redirects, Go's header
canonicalisation, Go's `encoding/json` output and Go's error pages.

Routes (see ../shared/reference/krakend-behaviour.md §2):

    /param_forwarding/...  echo {"foo":42,"headers":..,"path":..,"query":..} (+ "body" with dump_body=1)
    /collection/...        ten {"i":N,"path":<path>} objects
    /delayed/...           200 ms, then the echo
    /redirect/...          ?status=N: redirect with code N to /param_forwarding/?status=N
    /xml                   the "Elliot" user XML document
    /jwk/symmetric         the HS256 key set the jwt specs' tokens are signed with
    anything else          Go's "404 page not found"

Every route except /jwk/symmetric answers 400 unless `X-Forwarded-For` is a loopback IP.
A subtree path without its trailing slash (`/param_forwarding`) gets ServeMux's 301.

Usage: python3 mock_backend.py PORT   (0 = pick a free port; the chosen port is printed)
Listens on 127.0.0.1, HTTP/1.1 with keep-alive, one thread per connection.
"""

from __future__ import annotations

import email.utils
import ipaddress
import posixpath
import socket
import socketserver
import sys
import threading
import time
from urllib.parse import unquote_to_bytes

DELAY_SECONDS = 0.2  # krakend-ce integration.go: defaultDelay = 200 * time.Millisecond
MAX_HEADER_BYTES = 1 << 20  # Go's http.DefaultMaxHeaderBytes
GO_CHUNKING_THRESHOLD = 2048  # Go's bufferBeforeChunkingSize: bigger bodies go out chunked

# Byte-for-byte copies of the payloads in krakend-ce tests/payloads/{xml,symmetric_jwk}.go.
XML_DOCUMENT = b"""<?xml version="1.0" encoding="UTF-8"?>
<user type="admin">
  <name>Elliot</name>
  <social>
    <facebook>https://facebook.com</facebook>
    <twitter>https://twitter.com</twitter>
    <youtube>https://youtube.com</youtube>
  </social>
</user>"""

SYMMETRIC_JWK = b"""{
  "keys": [
    {
      "kty": "oct",
      "alg": "A128KW",
      "k": "GawgguFyGrWKav7AX4VKUg",
      "kid": "sim1"
    },
    {
      "kty": "oct",
      "k": "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow",
      "kid": "sim2",
      "alg": "HS256"
    }
  ]
}"""

STATUS_TEXT = {
    100: "Continue", 200: "OK", 201: "Created", 204: "No Content",
    300: "Multiple Choices", 301: "Moved Permanently", 302: "Found", 303: "See Other",
    304: "Not Modified", 305: "Use Proxy", 307: "Temporary Redirect", 308: "Permanent Redirect",
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 411: "Length Required", 413: "Request Entity Too Large",
    418: "I'm a teapot", 431: "Request Header Fields Too Large", 500: "Internal Server Error",
    501: "Not Implemented", 505: "HTTP Version Not Supported",
}


# --------------------------------------------------------------------------------------------
# Go semantics helpers (pure functions, unit-tested in test_run.py)
# --------------------------------------------------------------------------------------------

_TOKEN_CHARS = frozenset(b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def canonical_header_key(key: str) -> str:
    """Go's textproto.CanonicalMIMEHeaderKey: `x-y-Z` -> `X-Y-Z`, `autHoriZatiOn` -> `Authorization`.

    A key holding a byte that is not a token character is returned unchanged, as Go does.
    """
    raw = key.encode("latin-1", "replace")
    if any(b not in _TOKEN_CHARS for b in raw):
        return key
    out = []
    upper = True
    for ch in key:
        if upper and "a" <= ch <= "z":
            ch = ch.upper()
        elif not upper and "A" <= ch <= "Z":
            ch = ch.lower()
        out.append(ch)
        upper = ch == "-"
    return "".join(out)


def _go_string_from_bytes(raw: bytes) -> str:
    """Go's string(b) as seen by encoding/json: each invalid UTF-8 byte becomes U+FFFD."""
    text = raw.decode("utf-8", "surrogateescape")
    return "".join("\ufffd" if 0xDC80 <= ord(c) <= 0xDCFF else c for c in text)


def _go_quote(s: str) -> str:
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\b":
            out.append("\\b")  # Go >= 1.22
        elif ch == "\f":
            out.append("\\f")  # Go >= 1.22
        elif o < 0x20 or ch in "<>&" or o in (0x2028, 0x2029):
            out.append("\\u%04x" % o)
        elif 0xD800 <= o <= 0xDFFF:
            out.append("\ufffd")  # lone surrogates cannot be UTF-8 encoded; Go would see U+FFFD
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def go_json(value) -> str:
    """Go's json.Marshal for JSON-like values: sorted keys, compact, HTML-safe escaping."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    if isinstance(value, str):
        return _go_quote(value)
    if isinstance(value, bytes):
        return _go_quote(_go_string_from_bytes(value))
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: kv[0].encode("utf-8", "surrogatepass"))
        return "{" + ",".join(_go_quote(k) + ":" + go_json(v) for k, v in items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(go_json(v) for v in value) + "]"
    raise TypeError("go_json: unsupported type %r" % type(value))


def go_json_encoder_output(value) -> bytes:
    """json.NewEncoder(w).Encode(v): Marshal plus a trailing newline."""
    return (go_json(value) + "\n").encode("utf-8")


def go_query_unescape(s: str) -> str | None:
    """url.QueryUnescape; None when Go would report an error (bad % escape)."""
    raw = s.encode("utf-8", "surrogateescape")
    out = bytearray()
    i = 0
    while i < len(raw):
        b = raw[i]
        if b == 0x25:  # %
            h = raw[i + 1:i + 3]
            if len(h) != 2 or not all(c in b"0123456789abcdefABCDEF" for c in h):
                return None
            out.append(int(h, 16))
            i += 3
        elif b == 0x2B:  # +
            out.append(0x20)
            i += 1
        else:
            out.append(b)
            i += 1
    return _go_string_from_bytes(bytes(out))


def go_parse_query(raw_query: str) -> dict[str, list[str]]:
    """url.ParseQuery as used by r.URL.Query(): pairs with ';' or bad escapes are dropped."""
    values: dict[str, list[str]] = {}
    for part in raw_query.split("&"):
        if part == "" or ";" in part:
            continue
        key, _, value = part.partition("=")
        k = go_query_unescape(key)
        if k is None:
            continue
        v = go_query_unescape(value)
        if v is None:
            continue
        values.setdefault(k, []).append(v)
    return values


def go_clean_path(p: str) -> str:
    """net/http cleanPath: canonical path, leading slash, trailing slash preserved."""
    if p == "":
        return "/"
    if not p.startswith("/"):
        p = "/" + p
    np = posixpath.normpath(p)
    if np.startswith("//"):
        np = "/" + np.lstrip("/")
    if p.endswith("/") and np != "/":
        np += "/"
    return np


def is_loopback_ip(value: str | None) -> bool:
    """net.ParseIP(v) != nil && ip.IsLoopback(): one bare IP (no port, no list, no zone)."""
    if not value:
        return False
    if "%" in value:
        return False
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def _html_escape(s: str) -> str:
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&#34;").replace("'", "&#39;"))


# --------------------------------------------------------------------------------------------
# Request / response model
# --------------------------------------------------------------------------------------------

class BadRequest(Exception):
    pass


class Request:
    def __init__(self, method: str, target: str, proto: str, headers: list[tuple[str, str]]):
        self.method = method
        self.target = target
        self.proto = proto
        self.raw_headers = headers
        self.host = ""
        # Go's r.Header: canonical keys, values in arrival order, Host moved out.
        self.header: dict[str, list[str]] = {}
        for name, value in headers:
            key = canonical_header_key(name)
            if key == "Host":
                if not self.host:
                    self.host = value
                continue
            self.header.setdefault(key, []).append(value)
        # fixPragmaCacheControl
        if self.header.get("Pragma", [None])[0] == "no-cache" and "Cache-Control" not in self.header:
            self.header["Cache-Control"] = ["no-cache"]
        path_part, _, self.raw_query = target.partition("?")
        if path_part.startswith(("http://", "https://")):
            rest = path_part.split("://", 1)[1]
            authority, slash, path_part = rest.partition("/")
            path_part = slash + path_part
            if not self.host:
                self.host = authority
        if not path_part.startswith("/") and path_part != "*":
            raise BadRequest("invalid request URI")
        try:
            self.path = _go_string_from_bytes(unquote_to_bytes(path_part)) if "%" in path_part else path_part
        except Exception as exc:  # pragma: no cover - unquote_to_bytes never raises
            raise BadRequest(str(exc)) from exc
        if "%" in path_part and not _valid_escapes(path_part):
            raise BadRequest("invalid URL escape")
        self.body = b""

    def get(self, key: str) -> str:
        values = self.header.get(canonical_header_key(key))
        return values[0] if values else ""


def _valid_escapes(s: str) -> bool:
    i = 0
    while i < len(s):
        if s[i] == "%":
            h = s[i + 1:i + 3]
            if len(h) != 2 or any(c not in "0123456789abcdefABCDEF" for c in h):
                return False
            i += 3
        else:
            i += 1
    return True


class Response:
    def __init__(self, status: int = 200):
        self.status = status
        self.headers: list[tuple[str, str]] = []
        self.body = b""
        self.abort = False  # Go handler panic: the connection is closed without a response

    def add(self, name: str, value: str) -> None:
        self.headers.append((name, value))

    def has(self, name: str) -> bool:
        return any(n.lower() == name.lower() for n, _ in self.headers)


def go_error(resp: Response, message: str, code: int) -> Response:
    """http.Error."""
    resp.status = code
    resp.headers = [(n, v) for n, v in resp.headers if n.lower() != "content-length"]
    resp.add("Content-Type", "text/plain; charset=utf-8")
    resp.add("X-Content-Type-Options", "nosniff")
    resp.body = (message + "\n").encode("utf-8")
    return resp


def go_redirect(req: Request, resp: Response, url: str, code: int) -> Response:
    """http.Redirect for a path-only target (what the mock ever produces)."""
    if "://" not in url:
        old = req.path or "/"
        if not url.startswith("/"):
            url = posixpath.dirname(old) + "/" + url
        query = ""
        if "?" in url:
            url, query = url.split("?", 1)
            query = "?" + query
        trailing = url.endswith("/")
        url = posixpath.normpath(url)
        if url.startswith("//"):
            url = "/" + url.lstrip("/")
        if trailing and not url.endswith("/"):
            url += "/"
        url += query
    had_ct = resp.has("Content-Type")
    resp.status = code
    resp.add("Location", url)
    if not had_ct and req.method in ("GET", "HEAD"):
        resp.add("Content-Type", "text/html; charset=utf-8")
    if not had_ct and req.method == "GET":
        text = STATUS_TEXT.get(code, "")
        resp.body = ('<a href="%s">%s</a>.\n\n' % (_html_escape(url), text)).encode("utf-8")
    return resp


# --------------------------------------------------------------------------------------------
# Handlers (krakend-ce tests/integration_server.go + payloads + behaviors + checks)
# --------------------------------------------------------------------------------------------

def echo_endpoint(req: Request, resp: Response) -> Response:
    resp.add("Content-Type", "application/json")
    resp.add("Set-Cookie", "test1=test1")
    resp.add("Set-Cookie", "test2=test2")
    headers = {k: list(v) for k, v in req.header.items() if k != "X-Forwarded-For"}
    query = go_parse_query(req.raw_query)
    doc = {"path": req.path, "query": query, "headers": headers, "foo": 42}
    dump = query.get("dump_body")
    if dump and dump[0] == "1":
        doc["body"] = req.body
    resp.body = go_json_encoder_output(doc)
    return resp


def collection_endpoint(req: Request, resp: Response) -> Response:
    resp.add("Content-Type", "application/json")
    resp.body = go_json_encoder_output([{"path": req.path, "i": i} for i in range(10)])
    return resp


def delayed_endpoint(req: Request, resp: Response) -> Response:
    time.sleep(DELAY_SECONDS)
    return echo_endpoint(req, resp)


def redirect_endpoint(req: Request, resp: Response) -> Response:
    status = go_parse_query(req.raw_query).get("status")
    if not status:
        # Go indexes status[0] on a missing key: the handler panics and net/http drops the
        # connection without writing a response.
        resp.abort = True
        return resp
    try:
        code = int(status[0], 10) if status[0].lstrip("+-").isdigit() else int("x")
    except ValueError:
        return go_error(resp, 'strconv.Atoi: parsing %s: invalid syntax' % _go_quote(status[0]), 400)
    if not 100 <= code <= 999:
        resp.abort = True  # Go's WriteHeader panics on such codes
        return resp
    target = "/param_forwarding/" + ("?" + req.raw_query if req.raw_query else "")
    return go_redirect(req, resp, target, code)


def xml_endpoint(req: Request, resp: Response) -> Response:
    resp.add("Content-Type", "application/xml; charset=utf-8")
    resp.body = XML_DOCUMENT
    return resp


def symmetric_jwk_endpoint(req: Request, resp: Response) -> Response:
    resp.add("Content-Type", "application/json")
    resp.body = SYMMETRIC_JWK
    return resp


def check_x_forwarded_for(handler):
    def wrapped(req: Request, resp: Response) -> Response:
        if not is_loopback_ip(req.get("X-Forwarded-For")):
            return go_error(resp, "invalid X-Forwarded-For", 400)
        return handler(req, resp)
    return wrapped


# (pattern, handler): a pattern ending in "/" is a subtree, anything else matches exactly.
ROUTES = [
    ("/param_forwarding/", check_x_forwarded_for(echo_endpoint)),
    ("/xml", check_x_forwarded_for(xml_endpoint)),
    ("/collection/", check_x_forwarded_for(collection_endpoint)),
    ("/delayed/", check_x_forwarded_for(delayed_endpoint)),
    ("/redirect/", check_x_forwarded_for(redirect_endpoint)),
    ("/jwk/symmetric", symmetric_jwk_endpoint),
]


def serve_mux(req: Request) -> Response:
    """http.ServeMux: clean-path redirect, subtree redirect, longest match, else 404."""
    resp = Response()
    if req.method == "CONNECT" or req.path == "*":
        return go_error(resp, "404 page not found", 404)
    clean = go_clean_path(req.path)
    if clean != req.path:
        return go_redirect(req, resp, clean + ("?" + req.raw_query if req.raw_query else ""), 301)
    best = None
    for pattern, handler in ROUTES:
        if pattern.endswith("/"):
            if req.path.startswith(pattern) and (best is None or len(pattern) > len(best[0])):
                best = (pattern, handler)
        elif req.path == pattern and (best is None or len(pattern) > len(best[0])):
            best = (pattern, handler)
    if best is None:
        exact = {p for p, _ in ROUTES}
        if req.path + "/" in exact:
            target = req.path + "/" + ("?" + req.raw_query if req.raw_query else "")
            return go_redirect(req, resp, target, 301)
        return go_error(resp, "404 page not found", 404)
    return best[1](req, resp)


# --------------------------------------------------------------------------------------------
# HTTP/1.1 server
# --------------------------------------------------------------------------------------------

def _read_line(rfile, limit: int) -> bytes:
    line = rfile.readline(limit + 1)
    if len(line) > limit:
        raise BadRequest("line too long")
    return line


def read_chunked(rfile) -> bytes:
    body = bytearray()
    while True:
        line = _read_line(rfile, 4096)
        if not line:
            raise BadRequest("unexpected EOF in chunked body")
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError as exc:
            raise BadRequest("bad chunk size") from exc
        if size < 0:
            raise BadRequest("bad chunk size")
        if size == 0:
            # trailers (Go keeps them in r.Trailer, not r.Header)
            while True:
                t = _read_line(rfile, 65536)
                if t in (b"\r\n", b"\n", b""):
                    return bytes(body)
        data = rfile.read(size)
        if len(data) != size:
            raise BadRequest("unexpected EOF in chunk")
        body += data
        crlf = rfile.read(2)
        if crlf not in (b"\r\n",) and not crlf.startswith(b"\n"):
            raise BadRequest("malformed chunk terminator")


class Handler(socketserver.StreamRequestHandler):
    timeout = 120

    def handle(self) -> None:
        while True:
            try:
                keep = self.handle_one()
            except (ConnectionError, socket.timeout, OSError):
                return
            if not keep:
                return

    def _write_simple_400(self, text: str = "400 Bad Request") -> None:
        msg = ("HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
               "Connection: close\r\n\r\n" + text).encode("latin-1")
        self.wfile.write(msg)

    def handle_one(self) -> bool:
        line = self.rfile.readline(65537)
        if not line:
            return False
        if line in (b"\r\n", b"\n"):
            line = self.rfile.readline(65537)  # Go tolerates one leading blank line
            if not line:
                return False
        try:
            parts = line.decode("latin-1").rstrip("\r\n").split(" ")
            if len(parts) != 3:
                raise BadRequest("malformed request line")
            method, target, proto = parts
            if not proto.startswith("HTTP/1."):
                raise BadRequest("unsupported protocol")
            headers: list[tuple[str, str]] = []
            total = len(line)
            while True:
                h = self.rfile.readline(65537)
                total += len(h)
                if total > MAX_HEADER_BYTES:
                    self.wfile.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                                     b"Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
                                     b"431 Request Header Fields Too Large")
                    return False
                if not h:
                    return False
                if h in (b"\r\n", b"\n"):
                    break
                text = h.decode("latin-1").rstrip("\r\n")
                if text[:1] in (" ", "\t") and headers:
                    name, value = headers[-1]
                    headers[-1] = (name, (value + " " + text.strip()).strip())
                    continue
                if ":" not in text:
                    raise BadRequest("malformed MIME header line")
                name, _, value = text.partition(":")
                if name == "" or name != name.strip():
                    raise BadRequest("malformed MIME header line")
                headers.append((name, value.strip(" \t")))
            req = Request(method, target, proto, headers)
        except BadRequest:
            self._write_simple_400()
            return False

        conn_tokens = {t.strip().lower() for v in req.header.get("Connection", []) for t in v.split(",")}
        if proto == "HTTP/1.0":
            keep_alive = "keep-alive" in conn_tokens
        else:
            keep_alive = "close" not in conn_tokens

        te = ",".join(req.header.get("Transfer-Encoding", [])).strip().lower()
        try:
            if "Transfer-Encoding" in req.header:
                # Go's fixTransferEncoding / fixLength: removed from the header map
                del req.header["Transfer-Encoding"]
                if te != "chunked":
                    self.wfile.write(b"HTTP/1.1 501 Not Implemented\r\nContent-Type: text/plain; "
                                     b"charset=utf-8\r\nConnection: close\r\n\r\nUnsupported transfer encoding")
                    return False
                req.header.pop("Content-Length", None)
                if "100-continue" in req.get("Expect").lower():
                    self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                req.body = read_chunked(self.rfile)
            elif "Content-Length" in req.header:
                lengths = {v.strip() for v in req.header["Content-Length"]}
                if len(lengths) != 1 or not next(iter(lengths)).isdigit():
                    raise BadRequest("bad Content-Length")
                n = int(next(iter(lengths)))
                if n and "100-continue" in req.get("Expect").lower():
                    self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                req.body = self.rfile.read(n)
                if len(req.body) != n:
                    return False
        except BadRequest:
            self._write_simple_400()
            return False

        resp = serve_mux(req)
        if resp.abort:
            return False
        self.write_response(req, resp, keep_alive)
        return keep_alive

    def write_response(self, req: Request, resp: Response, keep_alive: bool) -> None:
        reason = STATUS_TEXT.get(resp.status, "status code %d" % resp.status)
        out = ["HTTP/1.1 %d %s" % (resp.status, reason)]
        for name, value in resp.headers:
            out.append("%s: %s" % (name, value))
        body_allowed = not (100 <= resp.status < 200 or resp.status in (204, 304))
        body = resp.body if body_allowed and req.method != "HEAD" else b""
        chunked = False
        if body_allowed and req.method != "HEAD":
            if len(body) > GO_CHUNKING_THRESHOLD and req.proto == "HTTP/1.1":
                chunked = True
                out.append("Transfer-Encoding: chunked")
            else:
                out.append("Content-Length: %d" % len(body))
        out.append("Date: %s" % email.utils.formatdate(usegmt=True))
        if not keep_alive and req.proto == "HTTP/1.1":
            out.append("Connection: close")
        elif keep_alive and req.proto == "HTTP/1.0":
            out.append("Connection: keep-alive")
        head = ("\r\n".join(out) + "\r\n\r\n").encode("latin-1")
        if chunked:
            payload = head + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
        else:
            payload = head + body
        self.wfile.write(payload)
        self.wfile.flush()


class MockServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def start(port: int = 0, host: str = "127.0.0.1") -> MockServer:
    """Start the mock in a background thread; `server.server_address[1]` is the port."""
    server = MockServer((host, port), Handler)
    thread = threading.Thread(target=server.serve_forever, name="ce-mock-backend", daemon=True)
    thread.start()
    return server


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[1].isdigit():
        print("usage: mock_backend.py PORT   (0 picks a free port)", file=sys.stderr)
        return 2
    server = MockServer(("127.0.0.1", int(argv[1])), Handler)
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
