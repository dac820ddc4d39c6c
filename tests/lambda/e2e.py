#!/usr/bin/env python3
"""End-to-end test of the Lambda adapter against the native server (run by scripts/lambda-e2e.sh).

What runs, all on 127.0.0.1 and all stopped at the end (also on failure or Ctrl-C):
  * backend.py, the mock backend, on a free port;
  * the native server, `<native> run -c gateway.e2e.json -p <free port>`;
  * `cargo lambda watch -p manifold-lambda --bin bootstrap --disable-cors` on a free invoke port.

Both gateways serve tests/lambda/gateway.e2e.json, whose backend host is
`http://127.0.0.1:${E2E_BACKEND_PORT}`. The native server expands the placeholder from its
environment; the function gets the file through its runtime override
(`--env-var MANIFOLD_LAMBDA_CONFIG=<file>,E2E_BACKEND_PORT=<port>`), because the backend port
is only known at run time while the embedded config is fixed at build time. The embedded path
is covered by the unit tests and by the build checks in scripts/lambda-e2e.sh.

Each scenario (an HTTP request) is sent to the native server, then to the function in five
ways: `cargo lambda invoke --data-file` with an API Gateway REST (v1), HTTP API (v2, named
stage), ALB and Function URL event built from the fixtures in events/, and the emulator's
Function-URL HTTP endpoint. Every Lambda answer must equal the native one in status, the
headers that matter, and body; the client address the backend saw must be the event's.
Expected differences are asserted as such (the 7 MiB answer: 200 natively, 502 on Lambda).
Scenarios with `expect` (JWT, CORS) are also checked against it on every answer. The
stateful sequences (SEQUENCES: rate limits, the circuit breaker, the HTTP cache, JWK sets)
run natively, then through each route.

The bad-input matrix (BAD_INPUT and SEQUENCES; docs/bad-input.md lists every case): each
check is named after its case (`A3: ...`). backend.py logs every request it receives, so a
scenario's `backend` asserts what the backend saw (targets as received, headers), or that it
was never called; its misbehaving routes (groups D and E) are those of tests/worker/mock.mjs.
An input an event kind cannot carry (REST v1 hands the path over decoded) is skipped on that
route with the reason printed (`skip ...`), and a declared difference (`differs`) is checked
against its own expectation, with its reason printed.

The request limits (a 10 MiB + 1 body → 413, a 64 KiB head → 431) are checked on every
route against `expect` only. A second `cargo lambda watch` serves ssl.e2e.json
(`security/http` `ssl_redirect`): API Gateway and Function-URL events are HTTPS and served; an
ALB event is redirected once when its X-Forwarded-Proto says http, and served when it says
https.

Output: `ok`/`FAIL` per check (and `skip` lines); the last line is `e2e.py: P passed, F failed`.
With --counts FILE the two numbers are also written there for the wrapper script; --only TEXT
runs just the checks whose name contains TEXT (while editing; the wrapper never passes it).
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import http.client
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, unquote

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path[:0] = [str(HERE), str(ROOT / "tests/e2e-jwt")]
import generate as jwt  # noqa: E402 - tests/e2e-jwt/generate.py, for its token signing helpers
from backend import JWKS  # noqa: E402 - the JWK sets backend.py serves
CONFIG = HERE / "gateway.e2e.json"
EVENTS = HERE / "events"
FUNCTION = "bootstrap"
# Headers whose values must agree between the native server and every Lambda route.
COMPARED_HEADERS = (
    "content-type", "x-krakend", "x-krakend-completed", "set-cookie", "x-multi", "vary",
    "access-control-allow-origin", "access-control-allow-methods", "access-control-allow-headers",
    "access-control-expose-headers", "access-control-max-age", "access-control-allow-credentials",
    "cache-control", "location", "x-mock", "server", "x-powered-by",
)
# The JWT cases' tokens (HS256 over the key inlined in gateway.e2e.json, far-future exp),
# written once by tests/e2e-jwt/generate.py.
TOKENS = json.loads((ROOT / "tests/e2e-jwt/tokens.json").read_text())["tokens"]
LAMBDA_LIMIT = 6 * 1024 * 1024
ALB_LIMIT = 1_000_000


class Tally:
    """A suite's checks: `check(name, problems)` prints `ok`/`FAIL` and the problems under it."""

    def __init__(self) -> None:
        self.passed = self.failed = 0

    def check(self, name: str, problems: list[str], differs: dict | None = None) -> None:
        if problems:
            self.failed += 1
            print(f"FAIL {name}", flush=True)
            for p in problems:
                print(f"     {p}")
        else:
            self.passed += 1
            print(f"ok   {name}", flush=True)
        if differs:
            print(f"     declared difference: {differs['why']}")

    def finish(self, suite: str, logs: Path, counts: str | None, keep_logs: bool = False) -> int:
        """Shows the logs' last lines on failure (else removes them), writes --counts, prints the
        summary line and returns the exit status."""
        if self.failed:
            for log in sorted(logs.glob("*.log")):
                print(f"--- {log.name} (last lines)")
                print("\n".join(log.read_text(errors="replace").splitlines()[-15:]))
            print(f"logs kept in {logs}")
        elif not keep_logs:
            shutil.rmtree(logs, ignore_errors=True)
        if counts:
            Path(counts).write_text(f"{self.passed} {self.failed}\n")
        print(f"{suite}: {self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0


@dataclass
class Scenario:
    name: str
    method: str
    path: str  # as a client sends it (percent-encoded)
    query: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    # Checked on the native answer and on every Lambda answer: "status", "body" (exact),
    # "headers" (name → value, None: absent; repeated/comma-joined forms compare equal),
    # "json" (dotted path → value), "json_absent" (dotted paths), "value" (the whole body as
    # a JSON value).
    expect: dict | None = None
    # Also sent to the native server and compared with its answer. The over-limit requests
    # are not: the native server answers them mid-upload and closes (tested natively in
    # cli/tests), so their Lambda answers are checked against `expect` alone.
    compare_native: bool = True
    # The bad-input matrix case(s) the scenario runs (docs/bad-input.md): "A3", "E44, E45".
    case: str = ""
    # What the backend must have received for the request, on the native server and on every
    # route: request targets as received (in any order), or (target, {header: value, or None
    # for absent}); [] means no backend call at all. "BACKEND" in a value stands for
    # 127.0.0.1:<backend port>.
    backend: list | None = None
    # Routes that cannot carry this input, with the reason (printed; neither passed nor failed).
    skip: dict[str, str] = field(default_factory=dict)
    # Declared differences: route ("*": every Lambda route) → fields that replace `expect`'s,
    # and "why". That answer is checked against the merged `expect`, not compared with the
    # native one. "error": the invocation itself fails, with this text in its error.
    differs: dict[str, dict] = field(default_factory=dict)
    # A tracked backend route (/drip, /endless) whose one call must have been cancelled: the
    # gateway hung up on it.
    tracked_aborted: str = ""
    # The most seconds an answer may take, `cargo lambda invoke` included (0: no bound).
    max_seconds: float = 0

    @property
    def title(self) -> str:
        return f"{self.case}: {self.name}" if self.case else self.name


def bearer(token: str) -> tuple[str, str]:
    return ("Authorization", f"Bearer {TOKENS[token]}")


@dataclass
class Answer:
    status: int
    headers: dict[str, list[str]]
    body: bytes


SCENARIOS = [
    Scenario("aggregation", "GET", "/users/42"),
    Scenario(
        "echo-text", "POST", "/echo/hello%20world", "q=1&q=2&x=y%20z",
        [("Content-Type", "text/plain; charset=utf-8"), ("Cookie", "session=abc; theme=dark"),
         ("X-Multi", "first"), ("X-Multi", "second"), ("User-Agent", "e2e/1")],
        "héllo from the e2e test".encode(),
    ),
    Scenario(
        "echo-binary", "POST", "/echo/bin", "",
        [("Content-Type", "application/octet-stream"), ("User-Agent", "e2e/1")],
        bytes(range(256)), case="E53",
    ),
    Scenario("binary-answer", "GET", "/binary"),
    Scenario("set-cookie-and-repeats", "GET", "/cookies"),
    Scenario("too-large", "GET", "/big", case="E53"),
    Scenario("endpoint-timeout", "GET", "/slow", case="E41"),
    Scenario("not-found", "GET", "/nope"),
    Scenario("manifold/failure: a required backend's 404 fails the merge with its status and details",
             "GET", "/required/42",
             expect={"status": 404, "headers": {"content-type": "application/json; charset=utf-8"},
                     "value": {"error_missing": {"http_status_code": 404, "http_body": "not found\n",
                                                 "http_body_encoding": "text/plain"}}}),
    Scenario("health", "GET", "/__health"),
    Scenario("jwt-valid", "GET", "/jwt/7", "", [bearer("valid"), ("X-User", "forged")],
             expect={"status": 200, "json": {"path": "/echo/jwt/7/user-7", "headers.x-user": "user-7"}}, case="B21"),
    Scenario("api-key-admitted", "GET", "/apikey/7", "",
             [("Authorization", "Bearer e2e-admin-key-5b1f0c7a"), ("X-Role", "forged")],
             expect={"status": 200, "json": {"path": "/echo/apikey/7", "headers.x-role": "admin"}}),
    Scenario("api-key-missing", "GET", "/apikey/7", expect={"status": 401, "body": b""}, backend=[]),
    Scenario("api-key-unknown", "GET", "/apikey/7", "", [("Authorization", "Bearer e2e-admin-key-5b1f0c7b")],
             expect={"status": 401, "body": b""}, backend=[]),
    Scenario("api-key-without-the-role", "GET", "/apikey/7", "", [("Authorization", "Bearer e2e-guest-key-9d24e6b3")],
             expect={"status": 403, "body": b""}, backend=[]),
    Scenario("jwt-missing", "GET", "/jwt/7",
             expect={"status": 401, "body": b"", "headers": {"x-krakend": None, "x-krakend-completed": None}}),
    Scenario("jwt-bad-signature", "GET", "/jwt/7", "", [bearer("bad_signature")], expect={"status": 401, "body": b""}),
    Scenario("jwt-no-role", "GET", "/jwt/7", "", [bearer("no_role")], expect={"status": 403, "body": b""}, case="F66"),
    Scenario("jwt-alg-none", "GET", "/jwt/7", "", [bearer("alg_none")], expect={"status": 401, "body": b""},
             case="F55"),
    Scenario(
        "cors-preflight", "OPTIONS", "/users/42", "",
        [("Origin", "https://app.example"), ("Access-Control-Request-Method", "GET"),
         ("Access-Control-Request-Headers", "authorization")],
        expect={"status": 204, "body": b"", "headers": {
            "access-control-allow-origin": "https://app.example", "access-control-allow-methods": "GET",
            "access-control-allow-headers": "authorization", "access-control-max-age": "3600",
            "vary": "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"}},
        case="G69",
    ),
    Scenario("cors-simple", "GET", "/users/42", "", [("Origin", "https://admin.example")],
             expect={"status": 200, "headers": {
                 "access-control-allow-origin": "https://admin.example",
                 "access-control-expose-headers": "X-Krakend-Completed", "vary": "Origin"}}),
    Scenario("cors-disallowed-origin", "GET", "/users/42", "", [("Origin", "https://evil.example")],
             expect={"status": 200, "headers": {"access-control-allow-origin": None, "vary": "Origin"}}, case="G68"),
    # The request limits of `manifold run` (issue 16 point 6): 10 MiB body, 64 KiB head.
    Scenario("body-over-limit", "POST", "/echo/big", "", [("Content-Type", "application/octet-stream")],
             b"x" * (10 * 1024 * 1024 + 1), expect={"status": 413, "body": b"413 request body too large\n"},
             compare_native=False, case="C28", backend=[]),
    Scenario("head-over-limit", "GET", "/users/42", "", [("X-Big", "a" * (64 * 1024))],
             expect={"status": 431}, compare_native=False, case="B22", backend=[]),
]

# === the bad-input matrix (docs/bad-input.md; issue 16 point 6) ===
# The cases that apply to Lambda, mirroring tests/worker/scenarios.json. `/param/{id}` forwards
# to `/raw/param/{id}/tail`, and `/raw` answers with the request target exactly as it arrived.

REFUSED = {"status": 400, "body": b"error: encoded url params"}
UNAUTHORIZED = {"status": 401, "body": b""}
FAILED = {"status": 500, "body": b"", "headers": {"x-krakend-completed": "false"}}
# An API Gateway REST (v1) event carries the path decoded (`path`; the encoded form only in
# requestContext.path, with the stage): what a client encoded is gone before the function runs.
V1_SLASH = {"rest-v1": "a REST (v1) event carries the path decoded: the client's %2F arrives as /, "
                       "a second path segment, so the event cannot carry an encoded slash"}
V1_NOT_UTF8 = {"rest-v1": "a REST (v1) event carries the path decoded, in a JSON string: the bytes "
                          "C0 AE are not UTF-8, so no v1 event can carry them"}
PEEK_HEADERS = "/all-headers"  # input_headers ["*"]: what reaches the backend is what the gateway lets through


def param(case: str, what: str, value: str, expect: dict, **kw) -> Scenario:
    return Scenario(f"{what} /param/{value}", "GET", f"/param/{value}", case=case, expect=expect, **kw)


def forwarded(case: str, what: str, value: str) -> Scenario:
    """A value the gateway forwards: once, as one segment, to the configured host."""
    target = f"/raw/param/{value}/tail"
    return param(case, what, value, {"status": 200, "json": {"target": target}},
                 backend=[(target, {"host": "BACKEND"})])


BAD_INPUT = [
    # --- A. path parameters and URL building ---
    *[param("A1" if "%" not in v else "A2", "dot segment", v, REFUSED, backend=[])
      for v in ["..", ".", "%2e%2e", "%2E%2e", ".%2e", "%2e"]],
    param("A3", "encoded slash", "a%2Fb", REFUSED, backend=[], skip=V1_SLASH),
    param("A4", "double encoding", "..%252F..%252Fadmin", REFUSED, backend=[]),
    *[param("A5", "backslash or control byte", v, REFUSED, backend=[]) for v in ["%5C", "%00", "%01", "%1F", "%7F"]],
    param("A6", "CRLF", "1%0d%0aX-Injected:%20yes", REFUSED, backend=[]),
    param("A7", "encoded ?", "1%3Fadmin=true", REFUSED, backend=[]),
    param("A8", "encoded #", "1%23x", REFUSED, backend=[]),
    forwarded("A9", "authority confusion, forwarded encoded as one segment:", "%40evil.example"),
    Scenario("authority confusion, raw @: forwarded encoded as one segment", "GET", "/param/@evil.example",
             case="A9", expect={"status": 200, "json": {"target": "/raw/param/%40evil.example/tail"}},
             backend=[("/raw/param/%40evil.example/tail", {"host": "BACKEND"})]),
    param("A9", "authority confusion with an encoded slash", "%40evil.example%2F", REFUSED, backend=[], skip=V1_SLASH),
    param("A9", "authority confusion with backslashes", "%5C%5Cevil.example", REFUSED, backend=[]),
    forwarded("A10", "placeholder syntax inserted literally, once:", "%7B%7B.Y%7D%7D"),
    forwarded("A10", "placeholder syntax inserted literally, once:", "%7Bid%7D"),
    param("A11", "overlong UTF-8 dots", "%C0%AE%C0%AE", REFUSED, backend=[], skip=V1_NOT_UTF8),
    param("A11", "%u dots", "%u002e", REFUSED, backend=[]),
    forwarded("A11", "fullwidth dots forwarded as received, never as ..:", "%EF%BC%8E%EF%BC%8E"),
    Scenario("a 20 KB path parameter is forwarded whole", "GET", "/param/" + "a" * 20480, case="A12",
             expect={"status": 200, "json": {"target": f"/raw/param/{'a' * 20480}/tail"}},
             backend=[f"/raw/param/{'a' * 20480}/tail"]),
    Scenario(
        "a URL over the 64 KiB head limit", "GET", "/param/" + "a" * 66000, case="A12",
        expect={"status": 431, "body": b""}, backend=[],
        differs={
            "*": {"error": "failed to build request: http::Error(InvalidUri(TooLong))",
                  "why": "BUG (reported): lambda_http panics converting an event whose path is longer than an "
                         "http::Uri holds (65 534 bytes), before the adapter runs: the invocation fails (on AWS: "
                         "API Gateway and Function URLs answer 502). On AWS, API Gateway's 10 240-byte limit on "
                         "the request line and headers refuses such a URL first"},
            "function-url-http": {"status": 414, "body": b"",
                                  "why": "cargo lambda watch's HTTP server refuses the URI itself (414) before it "
                                         "builds an event; the platform's front end decides"},
        },
    ),
    Scenario("a JWT claim with ../ and ? in url_pattern: one encoded segment, no query", "GET", "/jwt/7", "",
             [bearer("sub_traversal")], case="A13",
             expect={"status": 200, "json": {"path": "/echo/jwt/7/..%2Fadmin%3Fx%3D1", "query": ""}},
             backend=["/echo/jwt/7/..%2Fadmin%3Fx%3D1"]),
    Scenario("query allow-list: only id, both values in order", "GET", "/param/1", "id=1&id=2&debug=1&a%5B%5D=x",
             case="A14", expect={"status": 200, "json": {"target": "/raw/param/1/tail?id=1&id=2"}},
             backend=["/raw/param/1/tail?id=1&id=2"]),

    # --- B. headers ---
    Scenario("zero trust: Authorization, Cookie, X-Api-Key, X-Random not forwarded", "GET", "/zero-trust", "",
             [("Authorization", "Bearer x"), ("Cookie", "a=b"), ("X-Api-Key", "k"), ("X-Random", "r")], case="B15",
             expect={"status": 200, "json_absent": ["headers.authorization", "headers.cookie", "headers.x-api-key",
                                                    "headers.x-random"]},
             backend=[("/raw/get", {"authorization": None, "cookie": None, "x-api-key": None, "x-random": None})]),
    Scenario("a cross-origin redirect followed on opt-in: the credentials stay behind", "GET", "/redirect-cross",
             "", [("Authorization", "Bearer t"), ("Cookie", "s=1")], case="B16",
             expect={"status": 200, "json": {"target": "/raw/after-redirect"},
                     "json_absent": ["headers.authorization", "headers.cookie"]},
             backend=[("/redirect-cross", {"authorization": "Bearer t", "cookie": "s=1"}),
                      ("/raw/after-redirect", {"authorization": None, "cookie": None})]),
    Scenario(
        "hop-by-hop headers with input_headers [*]: none forwarded, nor the one Connection names", "GET",
        PEEK_HEADERS, "",
        [("Connection", "X-Secret"), ("X-Secret", "s"), ("Keep-Alive", "timeout=5"), ("TE", "trailers"),
         ("Trailer", "X-Checksum"), ("Upgrade", "websocket"), ("Proxy-Connection", "keep-alive"),
         ("Proxy-Authorization", "Basic eA=="), ("X-Kept", "yes")],
        case="B17",
        expect={"status": 200, "json": {"headers.x-kept": "yes"},
                "json_absent": ["headers.x-secret", "headers.te", "headers.trailer", "headers.upgrade",
                                "headers.proxy-connection", "headers.proxy-authorization"]},
        backend=[("/raw/all-headers", {"connection": None, "keep-alive": None, "x-secret": None, "upgrade": None})],
    ),
    Scenario("a client's X-Forwarded-For is replaced by its address (the event's)", "GET", "/zero-trust", "",
             [("X-Forwarded-For", "1.2.3.4")], case="B18", expect={"status": 200}),
    Scenario("Host, X-Forwarded-Host and X-Forwarded-Proto from the client: the backend's Host is its own", "GET",
             PEEK_HEADERS, "", [("Host", "evil.example"), ("X-Forwarded-Host", "evil"), ("X-Forwarded-Proto", "http")],
             case="B19", expect={"status": 200},
             backend=[("/raw/all-headers", {"host": "BACKEND", "x-forwarded-host": "evil.example"})]),
    Scenario(
        "a Host that is no host name (`evil example`): served as any other", "GET", PEEK_HEADERS, "",
        [("Host", "evil example")], case="B19", expect={"status": 200},
        differs={
            route: {"error": "Lambda panicked: called `Result::unwrap()` on an `Err` value: IdnaError",
                    "why": "BUG (reported): lambda_http builds the request URL from a v2 event's Host header "
                           "and unwraps the parse, so a Host that is no host name panics before the adapter "
                           "runs: the invocation fails (REST v1 and ALB events, whose Host lambda_http does not "
                           "read here, are served)"}
            for route in ("http-v2", "function-url")
        } | {"function-url-http": {
            "status": 500, "why": "BUG (reported), as for the v2 events; the emulator answers the failed "
                                  "invocation with 500 and the panic as JSON (a real Function URL: 502)"}},
    ),
    Scenario("X_User is not X-User: not forwarded where only X-User is listed", "GET", "/x-user", "",
             [("X_User", "admin")], case="B20",
             expect={"status": 200, "json_absent": ["headers.x-user", "headers.x_user"]}),
    Scenario("a 60 KiB head is served", "GET", "/users/42", "", [("X-Pad", "p" * (60 * 1024))], case="B22",
             expect={"status": 200}),
    Scenario(
        "101 header lines: 431", "GET", "/users/42", "", [(f"X-H{i}", "v") for i in range(100)], case="B22",
        expect={"status": 431, "body": b""}, backend=[],
        differs={"*": {"body": b"431 request header fields too large\n",
                       "why": "the same decision: natively hyper answers (no body), on Lambda the core's check "
                              "(Gateway::serve), which counts the headers the event carries (Host, X-Forwarded-For "
                              "and the client's 100)"},
                 "function-url-http": {"why": "cargo lambda watch's HTTP server (hyper, as natively) refuses more "
                                              "than 100 header lines itself, before it builds an event"}},
    ),
    Scenario("a merged JSON endpoint: the backend's Set-Cookie, CORS, Server, X-Powered-By not passed on", "GET",
             "/leaky", case="B24",
             expect={"status": 200, "json": {"leaky.leaky": True}, "headers": {
                 "x-krakend-completed": "true", "set-cookie": None, "access-control-allow-origin": None,
                 "server": None, "x-powered-by": None}}),

    # --- C. framing and size limits (what applies: the platform parses HTTP) ---
    Scenario("a body of exactly 10 MiB is served and reaches the backend whole", "POST", "/upload", "",
             [("Content-Type", "application/octet-stream")], b"x" * (10 * 1024 * 1024), case="C28",
             expect={"status": 200, "value": {"bytes": 10 * 1024 * 1024,
                                              "sha256": hashlib.sha256(b"x" * (10 * 1024 * 1024)).hexdigest()}},
             backend=["/sink"]),
    Scenario("X-HTTP-Method-Override is ignored: the backend gets GET", "GET", "/zero-trust", "",
             [("X-HTTP-Method-Override", "DELETE")], case="C31",
             expect={"status": 200, "json": {"method": "GET"}, "json_absent": ["headers.x-http-method-override"]}),
    Scenario("a method the endpoint does not have: 405", "PATCH", "/users/1", case="C31", expect={"status": 405},
             backend=[]),
    Scenario("POST to two backends: each gets the whole body", "POST", "/post-two", "",
             [("Content-Type", "text/plain")], b"the body", case="C32",
             expect={"status": 200, "json": {"first.body": "the body", "second.body": "the body"},
                     "headers": {"x-krakend-completed": "true"}},
             backend=["/raw/first", "/raw/second"]),

    # --- D. JSON bombs and fidelity (backend.py misbehaves) ---
    Scenario("backend JSON nested 10 000 deep: that backend failed, no crash", "GET", "/deep", case="D33",
             expect=FAILED),
    Scenario("a client body nested 10 000 deep on a validated endpoint: 400, no backend call", "POST", "/validate",
             "", [("Content-Type", "application/json")], b"[" * 10_000 + b"]" * 10_000, case="D34",
             expect={"status": 400}, backend=[]),
    Scenario("backend numbers reach the client digit for digit", "GET", "/numbers", case="D35",
             expect={"status": 200, "body": b'{"big":9007199254740993,"huge":18446744073709551616,'
                                            b'"long":0.1000000000000000055511,"neg_zero":-0,"over":1e400}'}),
    Scenario("duplicate keys: the last wins; deny removes password also when its key is escaped", "GET",
             "/duplicates", case="D36", expect={"status": 200, "value": {"a": 2, "kept": True}}),
    Scenario("an endless backend body: stopped at the 16 MiB limit, its connection dropped", "GET", "/endless",
             case="D37", expect={"status": 500, "headers": {"x-krakend-completed": "false"}},
             tracked_aborted="/endless"),
    *[Scenario(f"a backend saying JSON but sending {kind}: failed, none of its bytes sent", "GET",
               f"/not-json/{kind}", case="D38", expect=FAILED)
      for kind in ["html", "empty", "null", "string", "trailing", "bom", "latin1"]],
    Scenario("two backends with the same key, the first declared answering last: the later declared wins", "GET",
             "/collide", case="D39",
             expect={"status": 200, "value": {"id": "second", "first": True, "second": True}}),
    Scenario("Content-Encoding gzip on a plain body: failed", "GET", "/gzip-lie", case="D40", expect=FAILED),
    Scenario("a gzip bomb (64 MiB decoded): failed, memory bounded", "GET", "/gzip-bomb", case="D40", expect=FAILED),
    Scenario("an unknown Content-Encoding: the body read as it is (documented)", "GET", "/unknown-encoding",
             case="D40", expect={"status": 200, "value": {"coded": True}}),

    # --- E. backend faults ---
    # The drip would last 30 s: an answer within 3 s (the 400 ms timeout and the invoke's own
    # time) shows the timeout covered the body.
    Scenario("a backend dripping its body: the endpoint timeout covers the body, the call cancelled", "GET",
             "/drip", case="E42", expect={"status": 500, "headers": {"x-krakend-completed": "false"}},
             tracked_aborted="/drip", max_seconds=3),
    Scenario("refused connection: the only backend is down", "GET", "/refused", case="E43", expect=FAILED),
    Scenario("refused connection in a merge: partial answer", "GET", "/refused-partial", case="E43",
             expect={"status": 200, "value": {"up": {"id": "2"}}, "headers": {"x-krakend-completed": "false"}}),
    Scenario("a short body (Content-Length 1000, 500 sent): failed, not a truncated success", "GET", "/short",
             case="E44", expect=FAILED),
    Scenario("a status line of garbage: failed", "GET", "/garbage", case="E45", expect=FAILED),
    Scenario("a reset before the headers: failed", "GET", "/reset", case="E45", expect=FAILED),
    *[Scenario(f"backend {code}: failed (only 200 and 201 are success)", "GET", f"/status/{code}", case="E46",
               expect=FAILED) for code in (404, 500, 204, 418)],
    Scenario("backend 302 to the same origin: followed", "GET", "/redirect", case="E46",
             expect={"status": 200, "json": {"id": "42"}}, backend=["/redirect", "/users/42"]),
    Scenario("return_error_code: the backend's 418 reaches the client", "GET", "/error-code", case="E46",
             expect={"status": 418}),
    Scenario("return_error_details: the backend's error in the body", "GET", "/error-details", case="E46",
             expect={"status": 200, "json": {"error_teapot.http_status_code": 500}}),
    Scenario("a backend redirecting to the metadata service: not followed", "GET", "/redirect-metadata",
             case="E47", expect=FAILED, backend=["/redirect-metadata"]),
    Scenario("a backend answering with 200 header lines (120 KB of head): failed", "GET", "/huge-headers",
             case="E48", expect=FAILED),

    # --- F. JWT (HS256, tokens of tests/e2e-jwt/tokens.json) ---
    *[Scenario(f"JWT: {what}: 401", "GET", "/jwt/7", "", [bearer(token)], case=case,
               expect={"status": 401, "body": b""}, backend=[])
      for case, what, token in [("F57", "HS512 where HS256 is configured", "alg_hs512"),
                                ("F58", "expired", "exp_past"), ("F59", "exp a string", "exp_string"),
                                ("F61", "kid a path", "kid_traversal"),
                                ("F62", "jku pointing at the attacker's key", "jku_attacker"),
                                ("F64", "1000 extra dots", "many_dots")]],

    # --- G. CORS ---
    *[Scenario(f"CORS: origin {origin} only looks allowed: no Access-Control-Allow-Origin", "GET", "/users/42", "",
               [("Origin", origin)], case="G68",
               expect={"status": 200, "headers": {"access-control-allow-origin": None, "vary": "Origin"}})
      for origin in ["https://app.example.evil.com", "https://evilapp.example", "null", "https://app.example.",
                     "http://app.example"]],
    *[Scenario(f"CORS: a preflight for {what} not on the list: no allow headers, and Vary", "OPTIONS",
               "/users/42", "", [("Origin", "https://app.example"), *headers], case="G69",
               expect={"status": 204, "headers": {
                   "access-control-allow-origin": None, "access-control-allow-methods": None,
                   "access-control-allow-headers": None,
                   "vary": "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"}},
               backend=[])
      for what, headers in [("a method", [("Access-Control-Request-Method", "DELETE")]),
                            ("a header", [("Access-Control-Request-Method", "GET"),
                                          ("Access-Control-Request-Headers", "x-evil")])]],

    # --- H74: `cache_ttl` (60 s) gives complete answers a public Cache-Control, never partial ones ---
    Scenario("a complete merged answer of a cache_ttl endpoint: Cache-Control (the control)", "GET", "/ttl/users",
             case="H74", expect={"status": 200, "headers": {"x-krakend-completed": "true",
                                                            "cache-control": "public, max-age=60"}}),
    Scenario("a partial merged answer (one backend 404) of a cache_ttl endpoint: no Cache-Control", "GET",
             "/ttl/nothing", case="H74", expect={"status": 200, "value": {"up": {"id": "2"}}, "headers": {
                 "x-krakend-completed": "false", "cache-control": None}}),
]

# --- F. JWT beyond tokens.json: tokens signed here, with tests/e2e-jwt/generate.py's helpers ---
NOW = int(time.time())
HS256 = {"alg": "HS256", "kid": jwt.KID, "typ": "JWT"}
# /jwt-claims/{id}: issuer and audience configured, the e2e key inline.
CLAIMS = {"sub": "user-7", "iss": "https://issuer.example", "aud": "manifold-e2e", "iat": jwt.IAT, "exp": jwt.EXP}


def without(claims: dict, name: str) -> dict:
    return {k: v for k, v in claims.items() if k != name}


def claims_token(claims: dict, header: dict = HS256) -> tuple[str, str]:
    return ("Authorization", f"Bearer {jwt.hs256(header, claims)}")


def signed_with(secret: bytes, header: dict) -> tuple[str, str]:
    return ("Authorization", f"Bearer {jwt.sign(hashlib.sha256, header, CLAIMS, secret)}")


def forged(signature: bytes, alg: str = "ES256") -> tuple[str, str]:
    """A token for key k1 (RSA or EC) with a signature made up here."""
    head = jwt.part({"alg": alg, "kid": "k1", "typ": "JWT"})
    return ("Authorization", f"Bearer {head}.{jwt.part(CLAIMS)}.{jwt.b64url(signature)}")


RSA_JWK = json.dumps(JWKS["rsa"]["keys"][0]).encode()
# ECDSA signatures that must never verify (F65): r = s = 0 ("psychic"), a DER-encoded one where
# JWS wants r || s, and one of the wrong length.
PSYCHIC = bytes(64)
DER = bytes([0x30, 0x44, 0x02, 0x20]) + b"\x01" * 32 + bytes([0x02, 0x20]) + b"\x01" * 32
SHORT = b"\x01" * 32

JWT_BAD_INPUT = [
    Scenario("JWT: a valid token with the configured issuer and audience: 200 (the control)", "GET",
             "/jwt-claims/7", "", [claims_token(CLAIMS)], case="F58, F60", expect={"status": 200},
             backend=["/raw/jwt-claims/7"]),
    *[Scenario(f"JWT: {what}: 401", "GET", "/jwt-claims/7", "", [claims_token(claims)], case=case,
               expect={"status": 401, "body": b""}, backend=[])
      for case, what, claims in [
          ("F58", "exp missing", without(CLAIMS, "exp")),
          ("F58", "exp an hour ago (beyond the leeway)", {**CLAIMS, "exp": NOW - 3600}),
          ("F58", "nbf in an hour", {**CLAIMS, "nbf": NOW + 3600}),
          ("F58", "iat in ten years", {**CLAIMS, "iat": NOW + 10 * 365 * 86400}),
          ("F59", "exp 1e300", {**CLAIMS, "exp": 1e300}),
          ("F59", "exp -1", {**CLAIMS, "exp": -1}),
          ("F59", "exp an array", {**CLAIMS, "exp": [jwt.EXP]}),
          ("F59", "exp null", {**CLAIMS, "exp": None}),
          ("F60", "iss another issuer", {**CLAIMS, "iss": "https://evil.example"}),
          ("F60", "aud missing", without(CLAIMS, "aud")),
          ("F60", "aud another audience", {**CLAIMS, "aud": "other"}),
          ("F60", "aud an array without ours", {**CLAIMS, "aud": ["other", "manifold"]}),
      ]],
    *[Scenario(f"JWT: kid {what}: 401", "GET", "/jwt-claims/7", "", [claims_token(CLAIMS, {**HS256, "kid": kid})],
               case="F61", expect={"status": 401, "body": b""}, backend=[])
      for what, kid in [("a number", 7), ("SQL", "x' OR '1'='1"), ("16 KiB long", "k" * 16384)]],
]

# security/http ssl_redirect (issue 16 point 7), against a second function serving
# ssl.e2e.json: API Gateway and Function URLs are HTTPS-only, so their events are HTTPS (no
# redirect, the HTTPS-only Strict-Transport-Security header); an ALB says which scheme the
# client used in X-Forwarded-Proto: http is redirected once, https is served (no loop).
SSL_CONFIG = HERE / "ssl.e2e.json"
TELEMETRY_CONFIG = HERE / "telemetry.e2e.json"
OTEL_PYTHON = Path(os.environ.get("MANIFOLD_CACHE", Path.home() / ".cache/manifold")) / "otel-venv/bin/python"


def telemetry(port: int, otlp_port: int, log: Path, check) -> None:
    """telemetry/opentelemetry on Lambda: one traced request through the Function-URL emulation;
    its spans must be at the receiver as soon as the answer is (flushed before the invocation
    returned, no waiting), and the access log line (JSON on stdout, in the watch log) checked
    field by field."""
    trace, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", f"/lambda-url/{FUNCTION}/traced/7", headers={
        "traceparent": f"00-{trace}-{parent}-01", "X-Request-Id": "lambda-e2e-1"})
    answer = conn.getresponse()
    raw = answer.read()
    body = json.loads(raw)
    problems = [] if answer.status == 200 else [f"status {answer.status}"]
    if answer.getheader("X-Request-Id") != "lambda-e2e-1":
        problems.append(f"X-Request-Id {answer.getheader('X-Request-Id')!r}")
    conn = http.client.HTTPConnection("127.0.0.1", otlp_port, timeout=5)
    conn.request("GET", "/spans")
    received = [sp for sp in json.loads(conn.getresponse().read()) if sp["trace_id"] == trace]
    spans = [sp for sp in received if sp["via"] == "http"]
    kinds = sorted(sp["kind"] for sp in spans)
    server = [sp for sp in spans if sp["kind"] == 2]
    proxy = [sp for sp in spans if sp["kind"] == 1]
    if kinds != [1, 2, 3, 3]:
        problems.append(f"span kinds {kinds}, expected proxy, server and two client spans")
    elif server[0]["parent"] != parent or proxy[0]["parent"] != server[0]["span_id"]:
        problems.append(f"parent links: server {server[0]}, proxy {proxy[0]}")
    else:
        clients = {sp["span_id"] for sp in spans if sp["kind"] == 3 and sp["parent"] == proxy[0]["span_id"]}
        sent = {body[g]["traceparent"].split("-")[2] for g in ("x", "y")}
        if len(clients) != 2 or sent != clients:
            problems.append(f"backend spans {clients}, traceparents the backends got {sent}")
    check("telemetry: spans at the OTLP receiver when the answer arrives (server -> proxy -> 2 backends, "
          "the client's trace, service manifold-lambda-e2e)", problems)
    ids = lambda via: sorted((sp["span_id"], sp["parent"], sp["name"]) for sp in received if sp["via"] == via)
    grpc = ids("grpc")
    check("telemetry: the same spans at the OTLP/gRPC collector (use_http unset) when the answer arrives",
          [] if grpc == ids("http") and len(grpc) == 4 else [f"gRPC {grpc}, HTTP {ids('http')}"])
    # The first invocation of a sandbox pushes the metrics too, before it returns.
    def histogram(name: str) -> list:
        conn = http.client.HTTPConnection("127.0.0.1", otlp_port, timeout=5)
        conn.request("GET", f"/histogram?name={name}")
        return json.loads(conn.getresponse().read())
    problems = []
    route = lambda points: [p for p in points if p["attributes"].get("http.route") == "/traced/{id}"]
    for name, unit, total in [("http.server.request.duration", "s", None),
                              ("http.server.response.body.size", "By", len(raw))]:
        points = route(histogram(name))
        if len(points) != 1 or points[0]["count"] != 1 or points[0]["unit"] != unit or \
                total is not None and points[0]["sum"] != total:
            problems.append(f"{name}: {points}, expected one request of {total} bytes")
    # Both backend calls' bodies, to the byte: what the trace backend wrote for each.
    sent = sum(len(json.dumps({"path": body[g]["path"], "traceparent": body[g]["traceparent"]}).encode())
               for g in ("x", "y"))
    calls = histogram("http.client.response.body.size")
    if [(p["count"], p["sum"], p["unit"]) for p in calls] != [(2, sent, "By")]:
        problems.append(f"http.client.response.body.size: {calls}, expected 2 calls of {sent} bytes")
    check("telemetry: metrics at the OTLP receiver when the first answer arrives (durations, "
          "body sizes to the byte)", problems)
    lines = []
    for line in log.read_text(errors="replace").splitlines():
        start = line.find('{"')
        try:
            record = json.loads(line[start:]) if start >= 0 else None
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and record.get("request_id") == "lambda-e2e-1":
            lines.append(record)
    problems = [] if len(lines) == 1 else [f"{len(lines)} access log lines for the request"]
    if lines:
        r = lines[0]
        want = {"level": "INFO", "message": "request", "trace_id": trace, "method": "GET",
                "endpoint": "/traced/{id}", "path": "/traced/7", "status": 200, "completed": True,
                "client": "127.0.0.1"}
        problems += [f"{k}: {r.get(k)!r}, expected {v!r}" for k, v in want.items() if r.get(k) != v]
        if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", str(r.get("timestamp"))):
            problems.append(f"timestamp {r.get('timestamp')!r}")
        if not (isinstance(r.get("duration_ms"), float) and r.get("bytes", 0) > 0 and len(r.get("span_id", "")) == 16):
            problems.append(f"duration_ms, bytes or span_id: {r}")
        calls = sorted(r.get("backends", []), key=lambda c: c["path"])
        if [(c["path"], c["status"], c["method"]) for c in calls] != [("/x/7", 200, "GET"), ("/y", 200, "GET")]:
            problems.append(f"backends {calls}")
    check("telemetry: the access log line (one JSON object on stdout) field by field", problems)
HSTS = {"strict-transport-security": "max-age=31536000"}
SSL_CASES = [
    ("https-only origins are served", Scenario("ssl", "GET", "/users/42"),
     ["rest-v1", "http-v2", "function-url", "function-url-http"], {"status": 200, "headers": HSTS}),
    ("alb over http is redirected", Scenario("ssl-alb-http", "GET", "/users/42", "", [("X-Forwarded-Proto", "http")]),
     ["alb"], {"status": 301, "headers": {"location": "https://api.example.com/users/42",
                                          "strict-transport-security": None}}),
    ("alb over https is served", Scenario("ssl-alb-https", "GET", "/users/42", "", [("X-Forwarded-Proto", "https")]),
     ["alb"], {"status": 200, "headers": HSTS}),
]

# client_max_rate 2 per minute, strategy `header` (X-Client): three requests in a row from one
# client give 200, 200, 429. The native server and the function (one warm sandbox under
# cargo lambda watch) keep their own buckets, and all the function's routes share one, so each
# target sends the same sequence with its own key (the route's name): every sequence starts
# from a full bucket, in the same order.
RATE_LIMIT_STEPS = [
    {"status": 200, "headers": {"x-krakend-completed": "true"}},
    {"status": 200, "headers": {"x-krakend-completed": "true"}},
    {"status": 429, "body": b"", "headers": {"x-krakend": None}},
]


def rate_limited(client: str) -> Scenario:
    return Scenario("rate-limit", "GET", "/limited", "", [("X-Client", client)])


@dataclass
class Sequence:
    """Requests whose answers depend on the ones before (rate-limit buckets, the circuit
    breaker, caches), sent in order to one target, then to the next. The native server and the
    function keep their own state."""
    name: str
    case: str
    # The requests for a target ("native" or a route), one per step of `expects`.
    requests: object  # Callable[[str], list[Scenario]]
    expects: list[dict]
    # None: every route starts from its own fresh state (its own key or client address).
    # Otherwise all the function's routes share one state: the whole sequence runs through the
    # first route, then one request (the first step's) through each other route must meet
    # this expectation, and equal the native server's last answer.
    shared_after: dict | None = None

    @property
    def title(self) -> str:
        return f"{self.case}: {self.name}" if self.case else self.name


def run_sequence(seq: Sequence, native_port: int, routes_for, check, backend_port: int) -> None:
    """A step's expectation may say what its request caused at the backend: `calls`, a number
    (0: an answer from the gateway's cache) or the request targets."""
    def calls() -> int:
        return backend_get(backend_port, "/__count")["calls"]

    def caused(expect: dict, before: int, who: str) -> list[str]:
        if "calls" not in expect:
            return []
        targets = [c["target"] for c in backend_get(backend_port, f"/__calls?from={before}")]
        got = targets if isinstance(expect["calls"], list) else len(targets)
        return [] if got == expect["calls"] else [f"{who}: backend calls {targets}, expected {expect['calls']}"]

    native, problems = [], []
    for i, (s, expect) in enumerate(zip(seq.requests("native"), seq.expects)):
        before = calls()
        native.append(http_call(native_port, s))
        problems += expectations(native[-1], expect, f"native step {i + 1}")
        problems += caused(expect, before, f"native step {i + 1}")
    check(f"{seq.title} native", problems)
    for n, route in enumerate([*EVENT_KINDS, "function-url-http"]):
        steps = list(zip(seq.requests(route), native, seq.expects))
        if seq.shared_after is not None and n > 0:
            steps = [(steps[0][0], native[-1], seq.shared_after)]
        problems = []
        for i, (s, reference, expect) in enumerate(steps):
            s.name = f"{s.name}-{i + 1}"
            before = calls()
            try:
                got = dict(routes_for(s))[route]()
            except Exception as e:  # noqa: BLE001 - any failure is this check's failure
                problems.append(f"step {i + 1}: {type(e).__name__}: {e}")
                break
            problems += [f"step {i + 1}: {p}" for p in compare(reference, got, route)]
            problems += expectations(got, expect, f"{route} step {i + 1}")
            problems += caused(expect, before, f"{route} step {i + 1}")
        check(f"{seq.title} via {route}", problems)


def unknown_kids(native_port: int, routes_for, check, backend_port: int, flood: int = 10) -> None:
    """F63: tokens with unknown `kid`s cannot make the gateway refetch its JWK set more than once
    per 30 s (core/src/guard/jwks.rs MIN_REFETCH), and the known key keeps working. Each target
    (the native server, then each route into the one sandbox) gets `flood` tokens with kids of
    its own, then a valid one; the fetches of /jwks/oct.json it caused must stay within
    1 + elapsed / 30 s."""
    def token(kid: str) -> tuple[str, str]:
        return ("Authorization", f"Bearer {jwt.hs256({**HS256, 'kid': kid}, jwt.claims(['reader']))}")

    for route in ["native", *EVENT_KINDS, "function-url-http"]:
        requests = [Scenario(f"f63-{i}", "GET", "/jwt-kids/7", "", [token(f"unknown-{route}-{i}")])
                    for i in range(flood)]
        requests.append(Scenario("f63-known", "GET", "/jwt-kids/7", "", [bearer("valid")]))
        before, started, problems = backend_get(backend_port, "/__count")["calls"], time.monotonic(), []
        for i, s in enumerate(requests):
            try:
                got = http_call(native_port, s) if route == "native" else dict(routes_for(s))[route]()
            except Exception as e:  # noqa: BLE001 - any failure is this check's failure
                problems.append(f"request {i + 1}: {type(e).__name__}: {e}")
                break
            want = 200 if s.name == "f63-known" else 401
            if got.status != want:
                problems.append(f"request {i + 1} ({s.name}): status {got.status}, expected {want}")
        elapsed = time.monotonic() - started
        fetches = [c for c in backend_get(backend_port, f"/__calls?from={before}") if c["target"] == "/jwks/oct.json"]
        most = 1 + int(elapsed // 30)
        if len(fetches) > most:
            problems.append(f"{len(fetches)} fetches of the JWK set in {elapsed:.1f} s, at most {most}")
        check(f"F63: {flood} tokens with unknown kids, then a valid one: 401s, then 200; "
              f"JWK set fetched {len(fetches)} time(s) ({route})", problems)


def hang_up(port: int, prefix: str, backend_port: int) -> dict:
    """E49: GET /hang, then hang up once the backend has the call. The tracked record once the
    gateway let go of the call (`after_ms`: when, counted from the call's start)."""
    since = backend_get(backend_port, "/__count")["tracked"]
    client = socket.create_connection(("127.0.0.1", port), timeout=10)
    client.sendall(f"GET {prefix}/hang HTTP/1.1\r\nHost: e2e\r\n\r\n".encode())
    deadline = time.monotonic() + 10
    while not backend_get(backend_port, f"/__tracked?from={since}") and time.monotonic() < deadline:
        time.sleep(0.02)
    client.close()
    while time.monotonic() < deadline:
        records = backend_get(backend_port, f"/__tracked?from={since}")
        if records and records[0]["aborted"] is not None:
            return records[0]
        time.sleep(0.05)
    return {"aborted": None, "after_ms": None}


SEQUENCES = [
    # client_max_rate 2 per minute by X-Client, each target with a key of its own (see above).
    Sequence("rate-limit (200, 200, 429)", "H71", lambda target: [rate_limited(target) for _ in RATE_LIMIT_STEPS],
             RATE_LIMIT_STEPS),
    # client_max_rate 1 per hour by client address: a new X-Forwarded-For does not make a new
    # client. Each route's event has its own client address (PEERS), so each starts afresh.
    Sequence("rate limit per client address: a new X-Forwarded-For each time is the same client", "H70",
             lambda target: [Scenario("h70", "GET", "/limited-ip", "", [("X-Forwarded-For", xff)])
                             for xff in ("1.2.3.4", "5.6.7.8")],
             [{"status": 200}, {"status": 429, "body": b""}]),
    # client_max_rate 2 per hour by X-Client: requests without the key, or with it empty, share
    # one bucket; on the function, one bucket for every event kind.
    Sequence("rate limit by header: requests without the key (or with it empty) share one bucket", "H71",
             lambda target: [Scenario("h71", "GET", "/limited-anon", "", headers)
                             for headers in ([], [], [], [("X-Client", "")])],
             [{"status": 200}, {"status": 200}, {"status": 429, "body": b""}, {"status": 429, "body": b""}],
             shared_after={"status": 429, "body": b""}),
    # qos/circuit-breaker (max_errors 1, open for 300 s): two failures in a row open it, then
    # calls fail at once without reaching the backend. One breaker per sandbox: once the first
    # route has opened it, every event kind finds it open.
    Sequence("circuit breaker: two failures open it, then no backend call", "E50",
             lambda target: [Scenario("e50", "GET", "/breaker") for _ in range(3)],
             [{"status": 500, "calls": 1}, {"status": 500, "calls": 1}, {"status": 500, "calls": 0}],
             shared_after={"status": 500, "calls": 0}),
    # auth/validator with a jwk_url (backend.py's /jwks/...): the first request of a process (the
    # native server, the function's sandbox) fetches the key set, later ones use the cached one;
    # a forged token is refused either way. The fetch shows the keys were there to refuse with.
    # A token whose alg is not the configured one is refused before any key is looked up, so an
    # RS256 token with a bad signature comes first, to fetch the RSA key.
    Sequence("JWT: HS256 signed with the RSA public key (the JWK, the JWK set) where RS256 is configured: 401",
             "F56", lambda target: [
                 Scenario("f56", "GET", "/jwt-rsa/7", "", [forged(bytes(256), "RS256")]),
                 *[Scenario("f56", "GET", "/jwt-rsa/7", "", [signed_with(secret, HS256 | {"kid": "k1"})])
                   for secret in (RSA_JWK, json.dumps(JWKS["rsa"]).encode())]],
             [{**UNAUTHORIZED, "calls": ["/jwks/rsa.json"]}, *[{**UNAUTHORIZED, "calls": []}] * 2],
             shared_after={**UNAUTHORIZED, "calls": []}),
    Sequence("JWT: ES256 signatures r = s = 0, DER-encoded, too short: 401", "F65",
             lambda target: [Scenario("f65", "GET", "/jwt-ec/7", "", [forged(sig)]) for sig in (PSYCHIC, DER, SHORT)],
             [{**UNAUTHORIZED, "calls": ["/jwks/ec.json"]}, *[{**UNAUTHORIZED, "calls": []}] * 2],
             shared_after={**UNAUTHORIZED, "calls": []}),
    # A key set that cannot be had (500, HTML): a valid token is refused (fail closed). Whether
    # a later request refetches depends on the time since the last try (5 s), so only the first
    # one's fetch is asserted.
    *[Sequence(f"JWT: the JWK set answers {what}: a valid token gets 401 (fail closed)", "F64",
               lambda target, path=path: [Scenario("f64", "GET", path, "", [bearer("valid")])],
               [{"status": 401, "body": b"", "calls": [source]}], shared_after={"status": 401, "body": b""})
      for what, path, source in [("500", "/jwt-jwks-down/7", "/status/500"),
                                 ("HTML", "/jwt-jwks-garbage/7", "/not-json/html")]],
    # qos/http-cache, whose store lives in the sandbox (natively: in the process): each target
    # asks for URLs of its own (`tag`), so each starts from an empty cache. `calls`: the backend
    # calls the step caused; 0 is an answer from the cache.
    Sequence("a cached endpoint: a query, Accept-Language, Host or X-Forwarded-Scheme of its own never "
             "answers from, or overwrites, the normal entry", "H72",
             lambda tag: [Scenario("h72", "GET", f"/cached/public/{tag}", query, headers) for query, headers in [
                 ("", []), ("x=evil", []), ("", [("Accept-Language", "xx")]), ("", [("Host", "evil")]),
                 ("", [("X-Forwarded-Scheme", "http")]), ("", [])]],
             [{"status": 200, "calls": 1}] * 5 + [{"status": 200, "calls": 0}]),
    Sequence("a cached endpoint forwarding Authorization: the credential is part of the key", "H73",
             lambda tag: [Scenario("h73", "GET", f"/cached-auth/{tag}", "", headers) for headers in [
                 [("Authorization", "Bearer A")], [("Authorization", "Bearer B")], [("Authorization", "Bearer A")],
                 []]],
             [{"status": 200, "calls": 1}, {"status": 200, "calls": 1}, {"status": 200, "calls": 0},
              {"status": 200, "calls": 1}]),
    *[Sequence(f"a backend answer with {what}: never stored", case,
               lambda tag, kind=kind: [Scenario("h7x", "GET", f"/cached/{kind}/{tag}") for _ in range(2)],
               [{"status": status, "calls": 1}] * 2)
      for case, what, kind, status in [("H73", "Cache-Control: private", "private", 200),
                                       ("H73", "Cache-Control: no-store", "no-store", 200),
                                       ("H73", "Set-Cookie", "cookie", 200),
                                       ("H74", "status 503 (and max-age=60)", "5xx", 500)]],
    Sequence("the control: a public answer is stored, the second request served from the cache", "H73",
             lambda tag: [Scenario("h73-public", "GET", f"/cached/public/{tag}-control") for _ in range(2)],
             [{"status": 200, "calls": 1}, {"status": 200, "calls": 0}]),
]

# Where each Lambda route's client address comes from (see the fixtures).
PEERS = {
    "native": "127.0.0.1",
    "rest-v1": "198.51.100.7",
    "http-v2": "203.0.113.9",
    "alb": "192.0.2.44",
    "function-url": "192.0.2.10",
    "function-url-http": "127.0.0.1",
}


# === events, from the fixtures ===

def fixture(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def is_text(s: Scenario) -> bool:
    ctype = dict((k.lower(), v) for k, v in s.headers).get("content-type", "text/plain")
    return ctype.startswith("text/") or ctype.startswith("application/json")


def grouped(s: Scenario) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in s.headers:
        out.setdefault(name, []).append(value)
    return out


def event_headers(s: Scenario, platform: dict[str, list[str]], lower: bool) -> dict[str, list[str]]:
    """The platform's headers (Host, X-Forwarded-For) with the client's: a client's Host replaces
    the platform's; a client's X-Forwarded-For comes first, then the address the platform
    appends, as API Gateway and ALB do."""
    out = {(k.lower() if lower else k): list(v) for k, v in platform.items()}
    for name, values in grouped(s).items():
        same = next((k for k in out if k.lower() == name.lower()), None)
        if same and name.lower() == "x-forwarded-for":
            out[same] = [", ".join(values + out[same])]
            continue
        if same:
            del out[same]
        out[name.lower() if lower else name] = values
    return out


def body_fields(s: Scenario, event: dict) -> None:
    if not s.body:
        event["body"], event["isBase64Encoded"] = None, False
    elif is_text(s):
        event["body"], event["isBase64Encoded"] = s.body.decode(), False
    else:
        event["body"], event["isBase64Encoded"] = base64.b64encode(s.body).decode(), True


def rest_v1(s: Scenario) -> dict:
    """API Gateway REST: decoded path without the stage, headers twice, query as maps."""
    e = fixture("apigw-rest-v1.json")
    e["httpMethod"] = e["requestContext"]["httpMethod"] = s.method
    e["path"] = unquote(s.path)
    e["requestContext"]["path"] = "/prod" + s.path
    e["pathParameters"] = {"proxy": unquote(s.path)[1:]}
    platform = {"Host": [e["headers"]["Host"]], "X-Forwarded-For": e["multiValueHeaders"]["X-Forwarded-For"]}
    multi = event_headers(s, platform, lower=False)
    e["multiValueHeaders"] = multi
    e["headers"] = {k: v[-1] for k, v in multi.items()}
    pairs = parse_qsl(s.query, keep_blank_values=True)
    mq: dict[str, list[str]] = {}
    for k, v in pairs:
        mq.setdefault(k, []).append(v)
    e["multiValueQueryStringParameters"] = mq or None
    e["queryStringParameters"] = {k: v[-1] for k, v in mq.items()} or None
    body_fields(s, e)
    return e


def v2_headers(s: Scenario, e: dict) -> None:
    platform = {"host": [e["headers"]["host"]], "x-forwarded-for": [e["headers"]["x-forwarded-for"]]}
    headers, cookies = {}, None
    for name, values in event_headers(s, platform, lower=True).items():
        if name == "cookie":
            cookies = [c for v in values for c in v.split("; ")]
        else:
            headers[name] = ",".join(values)  # what API Gateway and Function URLs do
    e["headers"], e["cookies"] = headers, cookies


def http_v2(s: Scenario) -> dict:
    """HTTP API on a named stage: the stage is part of rawPath."""
    e = fixture("apigw-http-v2.json")
    e["rawPath"] = e["requestContext"]["http"]["path"] = "/prod" + s.path
    e["rawQueryString"] = s.query
    e["queryStringParameters"] = None
    e["requestContext"]["http"]["method"] = s.method
    v2_headers(s, e)
    body_fields(s, e)
    return e


def function_url(s: Scenario) -> dict:
    e = fixture("function-url.json")
    e["rawPath"] = e["requestContext"]["http"]["path"] = s.path
    e["rawQueryString"] = s.query
    e["requestContext"]["http"]["method"] = s.method
    v2_headers(s, e)
    body_fields(s, e)
    return e


def alb(s: Scenario) -> dict:
    """ALB with multi-value headers on: the query as received (still encoded)."""
    e = fixture("alb.json")
    e["httpMethod"], e["path"] = s.method, s.path
    mq: dict[str, list[str]] = {}
    for pair in filter(None, s.query.split("&")):
        k, _, v = pair.partition("=")
        mq.setdefault(k, []).append(v)
    e["multiValueQueryStringParameters"] = mq
    platform = {"host": e["multiValueHeaders"]["host"], "x-forwarded-for": e["multiValueHeaders"]["x-forwarded-for"]}
    e["multiValueHeaders"] = event_headers(s, platform, lower=True)
    body_fields(s, e)
    return e


EVENT_KINDS = {"rest-v1": rest_v1, "http-v2": http_v2, "alb": alb, "function-url": function_url}


# === answers ===

def http_call(port: int, s: Scenario, prefix: str = "", single_headers: bool = False) -> Answer:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    target = prefix + s.path + ("?" + s.query if s.query else "")
    own_host = any(name.lower() == "host" for name, _ in s.headers)
    conn.putrequest(s.method, target, skip_host=own_host, skip_accept_encoding=True)
    headers = grouped(s)
    for name, values in headers.items():
        # The emulator keeps only the first value of a repeated header (real Function URLs
        # join them with commas), so the joined form is sent to it.
        for value in ([", ".join(values)] if single_headers else values):
            conn.putheader(name, value)
    if s.body or s.method in ("POST", "PUT", "PATCH"):
        conn.putheader("Content-Length", str(len(s.body)))
    conn.endheaders(s.body or None)
    resp = conn.getresponse()
    out: dict[str, list[str]] = {}
    for name, value in resp.getheaders():
        out.setdefault(name.lower(), []).append(value)
    answer = Answer(resp.status, out, resp.read())
    conn.close()
    return answer


def from_lambda_json(raw: dict) -> Answer:
    headers: dict[str, list[str]] = {}
    for name, value in (raw.get("headers") or {}).items():
        headers.setdefault(name.lower(), []).append(value)
    for name, values in (raw.get("multiValueHeaders") or {}).items():
        headers[name.lower()] = list(values)
    if raw.get("cookies"):
        headers["set-cookie"] = list(raw["cookies"])
    body = raw.get("body") or ""
    data = base64.b64decode(body) if raw.get("isBase64Encoded") else body.encode()
    return Answer(int(raw["statusCode"]), headers, data)


def invoke(port: int, event: dict, workdir: Path, name: str) -> Answer:
    # Scenario names hold paths (`/param/%2e%2e`): the file gets a safe name of its own.
    stem, _, kind = name.rpartition(".")
    path = workdir / f"{next(EVENT_FILES):04d}-{kind}-{re.sub(r'[^A-Za-z0-9-]+', '_', stem)[:60]}.json"
    path.write_text(json.dumps(event))
    out = subprocess.run(
        ["cargo", "lambda", "invoke", "-A", "127.0.0.1", "-P", str(port), FUNCTION, "--data-file", str(path)],
        capture_output=True, text=True, timeout=180, check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"cargo lambda invoke failed ({out.returncode}): {out.stderr.strip()[-800:]}")
    return from_lambda_json(json.loads(out.stdout))


EVENT_FILES = itertools.count(1)


# === what the backend saw (backend.py's logs) ===

def backend_get(port: int, path: str) -> object:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path)
    value = json.loads(conn.getresponse().read())
    conn.close()
    return value


def backend_problems(port: int, since: int, want: list | None, who: str) -> list[str]:
    """The requests the backend received since call `since`, against the scenario's `backend`."""
    if want is None:
        return []
    calls = backend_get(port, f"/__calls?from={since}")
    expected = [(w, {}) if isinstance(w, str) else w for w in want]
    targets = sorted(c["target"] for c in calls)
    if targets != sorted(t for t, _ in expected):
        return [f"{who}: the backend received {[t[:120] for t in targets]}, expected {[t[:120] for t, _ in expected]}"]
    problems = []
    for target, headers in expected:
        seen = next(c for c in calls if c["target"] == target)["headers"]
        for name, value in headers.items():
            value = None if value is None else value.replace("BACKEND", f"127.0.0.1:{port}")
            if seen.get(name) != value:
                problems.append(f"{who}: the backend's {target} had {name}: {seen.get(name)!r}, expected {value!r}")
    return problems


def tracked_problems(port: int, since: int, path: str, who: str) -> list[str]:
    """One call to the tracked route `path` since record `since`, and the gateway hung up on it.
    The backend notices a hang-up at its next write (every 100 ms at most): polled, bounded."""
    if not path:
        return []
    deadline = time.monotonic() + 5
    while True:
        records = [r for r in backend_get(port, f"/__tracked?from={since}") if r["path"] == path]
        if (records and all(r["aborted"] is not None for r in records)) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    aborted = [r["aborted"] for r in records]
    return [] if aborted == [True] else [f"{who}: {path} calls ended aborted={aborted}, expected one call cancelled"]


# === comparison ===

def header_values(a: Answer, name: str) -> list[str]:
    values = a.headers.get(name, [])
    if name == "set-cookie":
        return values
    # A repeated header and its comma-joined form are the same header (RFC 9110 §5.3).
    return [part.strip() for v in values for part in v.split(",")]


def comparable_body(a: Answer, route: str) -> tuple[object, list[str]]:
    """The body to compare, plus problems found on the way (echo's client address)."""
    ctype = ",".join(a.headers.get("content-type", []))
    if "json" not in ctype:
        return a.body, []
    try:
        value = json.loads(a.body)
    except ValueError:
        return a.body, []
    problems = []
    if isinstance(value, dict) and "x-forwarded-for" in value:
        if value["x-forwarded-for"] != PEERS[route]:
            problems.append(f"backend saw X-Forwarded-For {value['x-forwarded-for']!r}, expected {PEERS[route]!r}")
        value["x-forwarded-for"] = "<peer>"
        value["query"] = sorted(value["query"].split("&"))  # v1/ALB carry the query as a map
    if isinstance(value, dict) and "now" in value:
        value["now"] = "<time>"  # /__health
    for echo in raw_echoes(value):
        seen = echo["headers"].get("x-forwarded-for")
        if seen is not None and seen != PEERS[route]:
            problems.append(f"backend saw X-Forwarded-For {seen!r}, expected {PEERS[route]!r}")
        if seen is not None:
            echo["headers"]["x-forwarded-for"] = "<peer>"
    return value, problems


def raw_echoes(value: object) -> list[dict]:
    """The backend's /raw answers inside a JSON body (one, or one per merged group)."""
    if not isinstance(value, dict):
        return []
    if isinstance(value.get("headers"), dict) and "target" in value:
        return [value]
    return [echo for v in value.values() for echo in raw_echoes(v)]


def compare(native: Answer, got: Answer, route: str) -> list[str]:
    problems = []
    if got.status != native.status:
        problems.append(f"status {got.status}, native {native.status}")
    for name in COMPARED_HEADERS:
        if header_values(got, name) != header_values(native, name):
            problems.append(f"{name}: {header_values(got, name)} vs native {header_values(native, name)}")
    want, native_problems = comparable_body(native, "native")
    have, more = comparable_body(got, route)
    problems += [f"native: {p}" for p in native_problems] + more
    if have != want:
        if isinstance(have, bytes) or isinstance(want, bytes):
            problems.append(f"body differs: {summary(got.body)} vs native {summary(native.body)}")
        else:
            problems.append(f"JSON body differs:\n       lambda {json.dumps(have)[:600]}\n       native {json.dumps(want)[:600]}")
    return problems


def expectations(a: Answer, expect: dict | None, who: str) -> list[str]:
    problems = []
    if not expect:
        return problems
    if a.status != expect["status"]:
        problems.append(f"{who}: status {a.status}, expected {expect['status']}")
    for name, value in expect.get("headers", {}).items():
        want = [] if value is None else [p.strip() for p in value.split(",")]
        if header_values(a, name) != want:
            problems.append(f"{who}: {name} {a.headers.get(name)}, expected {value!r}")
    if "body" in expect and a.body != expect["body"]:
        problems.append(f"{who}: body {summary(a.body)}, expected {summary(expect['body'])}")
    if {"json", "json_absent", "value"} & expect.keys():
        try:
            doc = json.loads(a.body)
        except ValueError:
            doc = None
        for dotted, value in expect.get("json", {}).items():
            got = at(doc, dotted)
            if got != value:
                problems.append(f"{who}: JSON {dotted} = {got!r}, expected {value!r}")
        for dotted in expect.get("json_absent", []):
            if at(doc, dotted) is not None:
                problems.append(f"{who}: JSON {dotted} = {at(doc, dotted)!r}, expected absent")
        if "value" in expect and doc != expect["value"]:
            problems.append(f"{who}: body {summary(a.body)}, expected the JSON value {expect['value']!r}")
    return problems


def too_slow(s: Scenario, seconds: float, who: str) -> list[str]:
    if s.max_seconds and seconds > s.max_seconds:
        return [f"{who}: answered in {seconds:.2f} s, at most {s.max_seconds} s expected"]
    return []


def at(doc: object, dotted: str) -> object:
    """The value at a dotted path of a JSON document (`headers.x-user`), None when absent."""
    for key in dotted.split("."):
        doc = doc.get(key) if isinstance(doc, dict) else None
    return doc


def too_large_expected(native: Answer, got: Answer, route: str) -> list[str]:
    problems = []
    if native.status != 200 or len(native.body) != 7 * 1024 * 1024:
        problems.append(f"native: {native.status} with {len(native.body)} bytes, expected the whole 7 MiB")
    limit = ALB_LIMIT if route == "alb" else LAMBDA_LIMIT
    text = got.body.decode(errors="replace")
    if got.status != 502 or f"platform limit of {limit} bytes" not in text:
        problems.append(f"lambda: {got.status} {summary(got.body)}, expected 502 naming the {limit}-byte limit")
    return problems


def summary(body: bytes) -> str:
    return repr(body[:160]) + ("…" if len(body) > 160 else "") + f" ({len(body)} bytes)"


# === processes ===

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, what: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on {port} within {seconds:.0f} s")


class Processes:
    """Everything started here, each in its own process group, stopped in reverse order."""

    def __init__(self) -> None:
        self.procs: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, argv: list[str], log: Path, env: dict | None = None, **kw) -> subprocess.Popen:
        proc = subprocess.Popen(argv, stdout=kw.pop("stdout", log.open("wb")), stderr=subprocess.STDOUT,
                                env=env, start_new_session=True, cwd=ROOT, **kw)
        self.procs.append((name, proc))
        return proc

    def stop(self) -> None:
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for name, proc in reversed(self.procs):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                print(f"note: {name} needed SIGKILL")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    ap.add_argument("--native", default=str(target / "release/manifold"))
    ap.add_argument("--only", help="run only the checks whose name contains this text (while editing)")
    ap.add_argument("--counts", help="write 'PASSED FAILED' here")
    ap.add_argument("--logs", help="keep process logs in this directory")
    args = ap.parse_args()

    logs = Path(args.logs) if args.logs else Path(tempfile.mkdtemp(prefix="manifold-lambda-e2e-"))
    keep_logs = bool(args.logs)
    logs.mkdir(parents=True, exist_ok=True)
    tally = Tally()
    check = tally.check
    skipped: list[str] = []

    procs = Processes()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        backend = procs.start("backend", [sys.executable, str(HERE / "backend.py"), "0"],
                              logs / "backend.log", stdout=subprocess.PIPE)
        backend_port = int(backend.stdout.readline())
        env = dict(os.environ, E2E_BACKEND_PORT=str(backend_port))
        native_port, invoke_port, ssl_port = free_port(), free_port(), free_port()
        native = procs.start("native server", [args.native, "run", "-c", str(CONFIG), "-p", str(native_port)],
                             logs / "native.log", env=env)

        def watch(port: int, config: Path, log: str) -> subprocess.Popen:
            return procs.start(f"cargo lambda watch ({config.name})", [
                "cargo", "lambda", "watch", "-p", "manifold-lambda", "--bin", FUNCTION, "--ignore-changes",
                "-A", "127.0.0.1", "-P", str(port),
                # The emulator's own CORS layer (on by default) would answer preflights itself
                # and add Access-Control-* headers to every Function-URL answer; a Function URL
                # without a Cors setting (and the HTTP API of template.yaml) passes them on.
                "--disable-cors",
                "--env-var", f"MANIFOLD_LAMBDA_CONFIG={config},E2E_BACKEND_PORT={backend_port}",
            ], logs / log)

        watcher = watch(invoke_port, CONFIG, "watch.log")
        wait_port(native_port, native, "native server", 30)
        wait_port(invoke_port, watcher, "cargo lambda watch", 120)
        # Started once the first one has built the function, so it only runs it.
        ssl_watcher = watch(ssl_port, SSL_CONFIG, "watch-ssl.log")
        wait_port(ssl_port, ssl_watcher, "cargo lambda watch (ssl)", 120)
        otlp_port, trace_backend, telemetry_port = free_port(), free_port(), free_port()
        grpc_port = free_port()
        traced = not args.only or args.only in "telemetry"
        if traced:
            receiver = procs.start("OTLP receiver", [str(OTEL_PYTHON), str(ROOT / "tests/telemetry/receiver.py"),
                                                     str(otlp_port), str(trace_backend), str(grpc_port)],
                                  logs / "receiver.log")
            wait_port(otlp_port, receiver, "OTLP receiver", 30)
            telemetry_watcher = procs.start("cargo lambda watch (telemetry)", [
                "cargo", "lambda", "watch", "-p", "manifold-lambda", "--bin", FUNCTION, "--ignore-changes",
                "-A", "127.0.0.1", "-P", str(telemetry_port), "--disable-cors", "--env-var",
                f"MANIFOLD_LAMBDA_CONFIG={TELEMETRY_CONFIG},E2E_OTLP_PORT={otlp_port},E2E_TRACE_BACKEND={trace_backend},"
                f"E2E_OTLP_GRPC_PORT={grpc_port}",
            ], logs / "watch-telemetry.log")
            wait_port(telemetry_port, telemetry_watcher, "cargo lambda watch (telemetry)", 120)
        print(f"backend :{backend_port}, native :{native_port}, cargo lambda watch :{invoke_port} "
              f"and :{ssl_port} (ssl) and :{telemetry_port} (telemetry), logs {logs}")

        def routes_for(s: Scenario, tag: str = "", port: int = invoke_port) -> list[tuple[str, callable]]:
            routes: list[tuple[str, callable]] = [
                (kind, lambda build=build, kind=kind: invoke(port, build(s), logs, f"{s.name}{tag}.{kind}"))
                for kind, build in EVENT_KINDS.items()
            ]
            routes.append(("function-url-http", lambda: http_call(
                port, s, prefix=f"/lambda-url/{FUNCTION}", single_headers=True)))
            return routes

        def wanted(title: str) -> bool:
            return not args.only or args.only in title

        def count() -> dict:
            return backend_get(backend_port, "/__count")

        def after(s: Scenario, since: dict, who: str) -> list[str]:
            """What the backend saw for the request just answered."""
            return (backend_problems(backend_port, since["calls"], s.backend, who)
                    + tracked_problems(backend_port, since["tracked"], s.tracked_aborted, who))

        for s in [*SCENARIOS, *BAD_INPUT, *JWT_BAD_INPUT]:
            if not wanted(s.title):
                continue
            reference = None
            if s.compare_native:
                since, started = count(), time.monotonic()
                reference = http_call(native_port, s)
                problems = expectations(reference, s.expect, "native") + after(s, since, "native")
                problems += too_slow(s, time.monotonic() - started, "native")
                if s.expect or s.backend is not None or s.tracked_aborted:
                    check(f"{s.title} native", problems)
            for route, call in routes_for(s):
                name = f"{s.title} via {route}"
                if route in s.skip:
                    skipped.append(name)
                    print(f"skip {name}: {s.skip[route]}")
                    continue
                differs = s.differs.get(route, s.differs.get("*"))
                since, started = count(), time.monotonic()
                try:
                    got = call()
                except Exception as e:  # noqa: BLE001 - any failure is this check's failure
                    error = f"{type(e).__name__}: {e}"
                    declared = differs and "error" in differs and differs["error"] in error
                    check(name, [] if declared else [error], differs)
                    if declared and (s.backend is not None or s.tracked_aborted):
                        check(f"{name}: the backend", after(s, since, route))
                    continue
                if differs:
                    expect = {**(s.expect or {}), **{k: v for k, v in differs.items() if k not in ("why", "error")}}
                    problems = expectations(got, expect, route)
                    if "error" in differs:
                        problems.append(f"{route}: answered {got.status}, expected the invocation to fail")
                else:
                    judge = too_large_expected if s.name == "too-large" else compare
                    problems = judge(reference, got, route) if reference else []
                    problems += expectations(got, s.expect, route)
                problems += too_slow(s, time.monotonic() - started, route)
                check(name, problems + after(s, since, route), differs)

        for seq in SEQUENCES:
            if wanted(seq.title):
                run_sequence(seq, native_port, routes_for, check, backend_port)
        if wanted("F63"):
            unknown_kids(native_port, routes_for, check, backend_port)
        if wanted("E49"):
            # Natively the hang-up drops the request, and with it the backend call. Behind a
            # Function URL (the emulator's) the invocation runs on, not knowing: the call ends at
            # the endpoint timeout (2 s), never later. The invoke routes have no client
            # connection to hang up.
            native_call = hang_up(native_port, "", backend_port)
            check(f"E49: a client hanging up: the backend call dropped at once (native, after "
                  f"{native_call['after_ms']} ms)",
                  [] if native_call["aborted"] and native_call["after_ms"] < 1000 else [f"record {native_call}"])
            url_call = hang_up(invoke_port, f"/lambda-url/{FUNCTION}", backend_port)
            check(f"E49: a client hanging up: the invocation runs on, its backend call ended by the endpoint "
                  f"timeout (function-url-http, after {url_call['after_ms']} ms)",
                  [] if url_call["aborted"] and 1900 <= url_call["after_ms"] < 3500 else [f"record {url_call}"])

        for title, s, routes, expect in SSL_CASES if wanted("ssl_redirect") else []:
            for route, call in routes_for(s, port=ssl_port):
                if route in routes:
                    try:
                        check(f"ssl_redirect: {title} ({route})", expectations(call(), expect, route))
                    except Exception as e:  # noqa: BLE001 - any failure is this check's failure
                        check(f"ssl_redirect: {title} ({route})", [f"{type(e).__name__}: {e}"])
        if traced:
            telemetry(telemetry_port, otlp_port, logs / "watch-telemetry.log", check)
    except Exception as e:  # noqa: BLE001 - setup failures are counted, never skipped
        check("setup", [f"{type(e).__name__}: {e}"])
    finally:
        procs.stop()

    if skipped:
        print(f"{len(skipped)} checks skipped: the route cannot carry the input (reasons above)")
    return tally.finish("e2e.py", logs, args.counts, keep_logs)


if __name__ == "__main__":
    sys.exit(main())
