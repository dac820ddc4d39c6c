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
rate-limit sequence (200, 200, 429) is stateful: it runs natively, then through each route
with a client key of its own (see RATE_LIMIT_STEPS).

The request limits (a 10 MiB + 1 body → 413, a 64 KiB head → 431) are checked on every
route against `expect` only. A second `cargo lambda watch` serves ssl.e2e.json
(`security/http` `ssl_redirect`): API Gateway and Function-URL events are HTTPS and served; an
ALB event is redirected once when its X-Forwarded-Proto says http, and served when it says
https.

Output: `ok`/`FAIL` per check; the last line is `e2e.py: P passed, F failed`. With --counts
FILE the two numbers are also written there for the wrapper script.
"""

from __future__ import annotations

import argparse
import base64
import copy
import http.client
import json
import os
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
CONFIG = HERE / "gateway.e2e.json"
EVENTS = HERE / "events"
FUNCTION = "bootstrap"
# Headers whose values must agree between the native server and every Lambda route.
COMPARED_HEADERS = (
    "content-type", "x-krakend", "x-krakend-completed", "set-cookie", "x-multi", "vary",
    "access-control-allow-origin", "access-control-allow-methods", "access-control-allow-headers",
    "access-control-expose-headers", "access-control-max-age", "access-control-allow-credentials",
)
# The JWT cases' tokens (HS256 over the key inlined in gateway.e2e.json, far-future exp),
# written once by tests/e2e-jwt/generate.py.
TOKENS = json.loads((ROOT / "tests/e2e-jwt/tokens.json").read_text())["tokens"]
LAMBDA_LIMIT = 6 * 1024 * 1024
ALB_LIMIT = 1_000_000


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
    # "json" (dotted path → value).
    expect: dict | None = None
    # Also sent to the native server and compared with its answer. The over-limit requests
    # are not: the native server answers them mid-upload and closes (tested natively in
    # cli/tests), so their Lambda answers are checked against `expect` alone.
    compare_native: bool = True


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
        bytes(range(256)),
    ),
    Scenario("binary-answer", "GET", "/binary"),
    Scenario("set-cookie-and-repeats", "GET", "/cookies"),
    Scenario("too-large", "GET", "/big"),
    Scenario("endpoint-timeout", "GET", "/slow"),
    Scenario("not-found", "GET", "/nope"),
    Scenario("health", "GET", "/__health"),
    Scenario("jwt-valid", "GET", "/jwt/7", "", [bearer("valid"), ("X-User", "forged")],
             expect={"status": 200, "json": {"path": "/echo/jwt/7/user-7", "headers.x-user": "user-7"}}),
    Scenario("jwt-missing", "GET", "/jwt/7",
             expect={"status": 401, "body": b"", "headers": {"x-krakend": None, "x-krakend-completed": None}}),
    Scenario("jwt-bad-signature", "GET", "/jwt/7", "", [bearer("bad_signature")], expect={"status": 401, "body": b""}),
    Scenario("jwt-no-role", "GET", "/jwt/7", "", [bearer("no_role")], expect={"status": 403, "body": b""}),
    Scenario("jwt-alg-none", "GET", "/jwt/7", "", [bearer("alg_none")], expect={"status": 401, "body": b""}),
    Scenario(
        "cors-preflight", "OPTIONS", "/users/42", "",
        [("Origin", "https://app.example"), ("Access-Control-Request-Method", "GET"),
         ("Access-Control-Request-Headers", "authorization")],
        expect={"status": 204, "body": b"", "headers": {
            "access-control-allow-origin": "https://app.example", "access-control-allow-methods": "GET",
            "access-control-allow-headers": "authorization", "access-control-max-age": "3600",
            "vary": "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"}},
    ),
    Scenario("cors-simple", "GET", "/users/42", "", [("Origin", "https://admin.example")],
             expect={"status": 200, "headers": {
                 "access-control-allow-origin": "https://admin.example",
                 "access-control-expose-headers": "X-Krakend-Completed", "vary": "Origin"}}),
    Scenario("cors-disallowed-origin", "GET", "/users/42", "", [("Origin", "https://evil.example")],
             expect={"status": 200, "headers": {"access-control-allow-origin": None, "vary": "Origin"}}),
    # The request limits of `manifold run` (issue 16 point 6): 10 MiB body, 64 KiB head.
    Scenario("body-over-limit", "POST", "/echo/big", "", [("Content-Type", "application/octet-stream")],
             b"x" * (10 * 1024 * 1024 + 1), expect={"status": 413, "body": b"413 request body too large\n"},
             compare_native=False),
    Scenario("head-over-limit", "GET", "/users/42", "", [("X-Big", "a" * (64 * 1024))],
             expect={"status": 431}, compare_native=False),
]

# security/http ssl_redirect (issue 16 point 7), against a second function serving
# ssl.e2e.json: API Gateway and Function URLs are HTTPS-only, so their events are HTTPS (no
# redirect, the HTTPS-only Strict-Transport-Security header); an ALB says which scheme the
# client used in X-Forwarded-Proto: http is redirected once, https is served (no loop).
SSL_CONFIG = HERE / "ssl.e2e.json"
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
    multi = {"Host": [e["headers"]["Host"]], "X-Forwarded-For": e["multiValueHeaders"]["X-Forwarded-For"]}
    multi.update(grouped(s))
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
    headers = {"host": e["headers"]["host"], "x-forwarded-for": e["headers"]["x-forwarded-for"]}
    cookies = None
    for name, values in grouped(s).items():
        if name.lower() == "cookie":
            cookies = [c for v in values for c in v.split("; ")]
        else:
            headers[name.lower()] = ",".join(values)  # what API Gateway and Function URLs do
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
    multi = {"host": e["multiValueHeaders"]["host"], "x-forwarded-for": e["multiValueHeaders"]["x-forwarded-for"]}
    for name, values in grouped(s).items():
        multi[name.lower()] = values
    e["multiValueHeaders"] = multi
    body_fields(s, e)
    return e


EVENT_KINDS = {"rest-v1": rest_v1, "http-v2": http_v2, "alb": alb, "function-url": function_url}


# === answers ===

def http_call(port: int, s: Scenario, prefix: str = "", single_headers: bool = False) -> Answer:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    target = prefix + s.path + ("?" + s.query if s.query else "")
    conn.putrequest(s.method, target, skip_accept_encoding=True)
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
    path = workdir / f"{name}.json"
    path.write_text(json.dumps(event))
    out = subprocess.run(
        ["cargo", "lambda", "invoke", "-A", "127.0.0.1", "-P", str(port), FUNCTION, "--data-file", str(path)],
        capture_output=True, text=True, timeout=180, check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"cargo lambda invoke failed ({out.returncode}): {out.stderr.strip()[-400:]}")
    return from_lambda_json(json.loads(out.stdout))


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
    return value, problems


def compare(native: Answer, got: Answer, route: str) -> list[str]:
    problems = []
    if got.status != native.status:
        problems.append(f"status {got.status}, native {native.status}")
    for name in COMPARED_HEADERS:
        if header_values(got, name) != header_values(native, name):
            problems.append(f"{name}: {header_values(got, name)} vs native {header_values(native, name)}")
    want, _ = comparable_body(native, "native")
    have, more = comparable_body(got, route)
    problems += more
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
    if "json" in expect:
        try:
            doc = json.loads(a.body)
        except ValueError:
            doc = None
        for dotted, value in expect["json"].items():
            got = doc
            for key in dotted.split("."):
                got = got.get(key) if isinstance(got, dict) else None
            if got != value:
                problems.append(f"{who}: JSON {dotted} = {got!r}, expected {value!r}")
    return problems


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
    ap.add_argument("--native", default=str(ROOT / "target/release/manifold"))
    ap.add_argument("--counts", help="write 'PASSED FAILED' here")
    ap.add_argument("--logs", help="keep process logs in this directory")
    args = ap.parse_args()

    logs = Path(args.logs) if args.logs else Path(tempfile.mkdtemp(prefix="manifold-lambda-e2e-"))
    keep_logs = bool(args.logs)
    logs.mkdir(parents=True, exist_ok=True)
    passed = failed = 0

    def check(name: str, problems: list[str]) -> None:
        nonlocal passed, failed
        if problems:
            failed += 1
            print(f"FAIL {name}")
            for p in problems:
                print(f"     {p}")
        else:
            passed += 1
            print(f"ok   {name}")

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
        print(f"backend :{backend_port}, native :{native_port}, cargo lambda watch :{invoke_port} "
              f"and :{ssl_port} (ssl), logs {logs}")

        def routes_for(s: Scenario, tag: str = "", port: int = invoke_port) -> list[tuple[str, callable]]:
            routes: list[tuple[str, callable]] = [
                (kind, lambda build=build, kind=kind: invoke(port, build(s), logs, f"{s.name}{tag}.{kind}"))
                for kind, build in EVENT_KINDS.items()
            ]
            routes.append(("function-url-http", lambda: http_call(
                port, s, prefix=f"/lambda-url/{FUNCTION}", single_headers=True)))
            return routes

        for s in SCENARIOS:
            reference = http_call(native_port, s) if s.compare_native else None
            if s.expect and reference:
                check(f"{s.name} native", expectations(reference, s.expect, "native"))
            for route, call in routes_for(s):
                name = f"{s.name} via {route}"
                try:
                    got = call()
                except Exception as e:  # noqa: BLE001 - any failure is this check's failure
                    check(name, [f"{type(e).__name__}: {e}"])
                    continue
                judge = too_large_expected if s.name == "too-large" else compare
                problems = judge(reference, got, route) if reference else []
                check(name, problems + expectations(got, s.expect, route))

        # The rate-limit sequence: natively, then through each route with that route's key.
        native_steps = [http_call(native_port, rate_limited("native")) for _ in RATE_LIMIT_STEPS]
        check("rate-limit native (200, 200, 429)", [
            p for i, (a, e) in enumerate(zip(native_steps, RATE_LIMIT_STEPS))
            for p in expectations(a, e, f"native step {i + 1}")])
        for route in [*EVENT_KINDS, "function-url-http"]:
            s = rate_limited(route)
            call = dict(routes_for(s))[route]
            problems = []
            for i, (reference, expect) in enumerate(zip(native_steps, RATE_LIMIT_STEPS)):
                s.name = f"rate-limit-{i + 1}"
                try:
                    got = call()
                except Exception as e:  # noqa: BLE001 - any failure is this check's failure
                    problems.append(f"step {i + 1}: {type(e).__name__}: {e}")
                    break
                problems += [f"step {i + 1}: {p}" for p in compare(reference, got, route)]
                problems += expectations(got, expect, f"{route} step {i + 1}")
            check(f"rate-limit via {route} (200, 200, 429)", problems)

        for title, s, routes, expect in SSL_CASES:
            for route, call in routes_for(s, port=ssl_port):
                if route in routes:
                    try:
                        check(f"ssl_redirect: {title} ({route})", expectations(call(), expect, route))
                    except Exception as e:  # noqa: BLE001 - any failure is this check's failure
                        check(f"ssl_redirect: {title} ({route})", [f"{type(e).__name__}: {e}"])
    except Exception as e:  # noqa: BLE001 - setup failures are counted, never skipped
        check("setup", [f"{type(e).__name__}: {e}"])
    finally:
        procs.stop()

    if failed:
        for log in sorted(logs.glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-15:]
            print(f"--- {log.name} (last lines)")
            print("\n".join(tail))
        print(f"logs and events kept in {logs}")
    elif not keep_logs:
        shutil.rmtree(logs, ignore_errors=True)
    if args.counts:
        Path(args.counts).write_text(f"{passed} {failed}\n")
    print(f"e2e.py: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
