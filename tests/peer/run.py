#!/usr/bin/env python3
"""Run KrakenD CE's own integration specs against Manifold (issue 5).

What it does
------------
1. Finds the suite (`$MANIFOLD_PEER_SUITE`, default `<repo>/../shared/peer-suites/krakend-ce`):
   `krakend.json` (the CE fixture) and `specs/*.json`. The files are read in place, never copied
   into the repository. Absent suite: one "skipped" line and exit 0 (exit 1 under `CI=true`).
2. Starts the CE mock backend (mock_backend.py, in-process) on a free loopback port, picks a free
   port for the gateway and writes a rewritten copy of the fixture to a temporary file. The
   rewrite changes exactly these and nothing else:
       http://127.0.0.1:8081   -> http://127.0.0.1:<mock port>     (backend hosts, jwk_url)
       http://127.0.0.1:8080   -> http://127.0.0.1:<gateway port>  (the gateway calling itself)
       http://localhost:8080   -> http://localhost:<gateway port>
       root "port": 8080       -> <gateway port>
       http://showrss.info[/]  -> http://127.0.0.1:<feeds port>    (the `rss` spec's feeds)
   The feeds server serves the RSS fixtures in tests/peer/feeds/ (written for this runner, by
   URL path) in place of showrss.info, which is on the internet.
3. Starts `$MANIFOLD_BIN` (default `<repo>/target/release/manifold`) as
   `manifold run -c <file> -p <port> -d`, polls `GET /__health` until it answers (20 s at most),
   runs every spec, and always stops the gateway and the mock at the end.
4. Compares like krakend-ce `tests/integration.go` (the Go harness):
   - the request is `in.method` / `in.url` / `in.header` / `in.body` (an object body is sent as
     Go's json.Marshal output), sent the way Go's http.DefaultClient sends it: canonical header
     names, `User-Agent: Go-http-client/1.1` unless the spec sets one, `Accept-Encoding: gzip`
     (and transparent gunzip), `Content-Length: 0` on an empty POST/PUT/PATCH, and redirects
     (301/302/303/307/308) followed like Go, at most 10;
   - `status_code` must match;
   - every expected header (name compared case-insensitively) must have exactly the expected
     list of values; `[""]` means the header is absent (or present with one empty value);
   - `schema` (when present) validates the body and replaces the body check; the validator
     implements the JSON-schema subset the specs use (type, properties, required, enum, items,
     additionalProperties) and fails loudly on any other keyword;
   - a string `body` must equal the response byte-for-byte (an empty string means an empty body;
     the Go harness skips that check, this runner does not); any other JSON `body` is compared
     structurally with the parsed response (numbers as Go float64, key order irrelevant);
     no `body` and no `schema`: the body is not checked (spec integration_no_body says so).

Substitution table (applied to EXPECTED values only: bodies, header values; never to actual
responses and never used to skip or loosen a check). These are deliberate, documented
differences between the CE test environment and this one:

    expected text                      becomes                        why
    127.0.0.1:8081                     127.0.0.1:<mock port>          mock runs on a free port
    127.0.0.1:8080                     127.0.0.1:<gateway port>       gateway runs on a free port
    localhost:8080                     localhost:<gateway port>       e.g. X-Forwarded-Host
    KrakenD Version <x.y.z>            Manifold/<v>                   User-Agent / X-Forwarded-Via
    header X-Krakend: Version <x.y.z>  X-Krakend: Manifold/<v>        Manifold's version header

<v> is parsed from `manifold --version` (prints `manifold <v>`). The request URL's
`localhost:8080` is pointed at the gateway port as well (the connection goes to 127.0.0.1).

Unsupported specs (UNSUPPORTED below) are not run. Specs listed in tests/peer/allow-fail.txt
(`<spec>  # <feature> (issue N)`) may fail (reported XFAIL); a listed spec that passes fails
the run ("remove <spec> from allow-fail.txt"), so the list can only shrink.

Output: one line per spec, then `allowed failures: N (tests/peer/allow-fail.txt)` and, last,
`krakend-ce specs: P passed, F failed, U unsupported (of T)` (F includes allowed failures).
Exit status 0 only when every failure is allowed and no allowed spec passed.

Usage: run.py [--only NAME] [-v] [--allow-fail-file PATH]
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import http.server
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))

import mock_backend  # noqa: E402  (sibling module)
from mock_backend import canonical_header_key, go_json  # noqa: E402

DEFAULT_SUITE = REPO.parent / "shared" / "peer-suites" / "krakend-ce"
DEFAULT_BIN = REPO / "target" / "release" / "manifold"
DEFAULT_ALLOW_FAIL = HERE / "allow-fail.txt"

READY_TIMEOUT_S = 20.0
REQUEST_TIMEOUT_S = 10.0
MAX_REDIRECTS = 10  # Go's http.Client default
GO_USER_AGENT = "Go-http-client/1.1"
MAX_REASONS = 4  # mismatches printed per failing spec without -v

# Specs that are out of scope, each with its reason. Everything else is in scope.
UNSUPPORTED = {
    "lua_1": "Lua modifiers (modifier/lua-backend, modifier/lua-proxy) are out of scope",
    "lua_2": "Lua modifiers (custom_error from a Lua script) are out of scope",
    "sequential_3": "needs a modifier/lua-backend pre script to append the propagated param",
    "sequential_4": "needs modifier/lua-backend with fixtures/lua/base64.lua, not shipped with the fixture",
}

# --------------------------------------------------------------------------------------------
# Substitutions and fixture rewriting
# --------------------------------------------------------------------------------------------

CE_HOSTS = ("127.0.0.1:8081", "127.0.0.1:8080", "localhost:8080")
_HOST_RE = re.compile(r"(?:127\.0\.0\.1:808[01]|localhost:8080)(?!\d)")
_URL_HOST_RE = re.compile(r"(?<=//)(?:127\.0\.0\.1:808[01]|localhost:8080)(?!\d)")
_KRAKEND_VERSION_RE = re.compile(r"KrakenD Version \d+\.\d+\.\d+")
_X_KRAKEND_VALUE_RE = re.compile(r"Version \d+\.\d+\.\d+")


# The `rss` spec's backend host (on the internet) and the fixtures served in its place.
FEEDS_HOST_RE = re.compile(r"^http://showrss\.info/?$")
FEEDS_DIR = HERE / "feeds"


def host_table(mock_port: int, gateway_port: int) -> dict[str, str]:
    return {
        "127.0.0.1:8081": "127.0.0.1:%d" % mock_port,
        "127.0.0.1:8080": "127.0.0.1:%d" % gateway_port,
        "localhost:8080": "localhost:%d" % gateway_port,
    }


class Substitutions:
    """The documented substitution table, applied to expected values only."""

    def __init__(self, mock_port: int, gateway_port: int, version: str):
        self.hosts = host_table(mock_port, gateway_port)
        self.version_token = "Manifold/%s" % version

    def text(self, s: str) -> str:
        # One pass, so a replacement is never itself replaced again.
        s = _HOST_RE.sub(lambda m: self.hosts[m.group(0)], s)
        return _KRAKEND_VERSION_RE.sub(self.version_token, s)

    def value(self, v):
        if isinstance(v, str):
            return self.text(v)
        if isinstance(v, list):
            return [self.value(x) for x in v]
        if isinstance(v, dict):
            return {self.text(k): self.value(x) for k, x in v.items()}
        return v

    def header_values(self, name: str, values: list) -> list:
        out = []
        for value in values:
            if not isinstance(value, str):
                out.append(value)
                continue
            if canonical_header_key(name) == "X-Krakend" and _X_KRAKEND_VALUE_RE.fullmatch(value):
                value = self.version_token
            out.append(self.text(value))
        return out

    def request_url(self, url: str) -> str:
        return _URL_HOST_RE.sub(lambda m: self.hosts[m.group(0)], url)


def rewrite_fixture(config: dict, mock_port: int, gateway_port: int,
                    feeds_port: int | None = None) -> tuple[dict, int]:
    """Copy of the CE fixture pointed at the mock and the gateway; returns (config, replacements).

    Only URL authorities `//127.0.0.1:8081`, `//127.0.0.1:8080`, `//localhost:8080` inside string
    values, a whole `http://showrss.info/` string (the `rss` spec's host; only when `feeds_port`
    is given) and the root `port` change, and the root gets Manifold's migration opt-out
    `ignore_unenforced` for the Lua namespaces it uses (Manifold refuses a config with
    unenforced Lua otherwise; the Lua specs are reported unsupported).
    """
    table = host_table(mock_port, gateway_port)
    count = 0

    def walk(v):
        nonlocal count
        if isinstance(v, str):
            if feeds_port is not None and FEEDS_HOST_RE.match(v):
                count += 1
                return "http://127.0.0.1:%d" % feeds_port
            new, n = _URL_HOST_RE.subn(lambda m: table[m.group(0)], v)
            count += n
            return new
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        return v

    out = walk(config)
    if isinstance(out, dict):
        out["port"] = gateway_port
        count += 1
        lua = sorted(lua_namespaces(config))
        if lua:
            out["ignore_unenforced"] = lua
    return out, count


def lua_namespaces(v) -> set[str]:
    """Every `modifier/lua-*` namespace name used anywhere in the config."""
    if isinstance(v, list):
        return set().union(*map(lua_namespaces, v)) if v else set()
    if isinstance(v, dict):
        found = {k for k in v if k.startswith("modifier/lua")}
        return found.union(*map(lua_namespaces, v.values())) if v else found
    return set()


# --------------------------------------------------------------------------------------------
# Go http.Client emulation
# --------------------------------------------------------------------------------------------

class ClientError(Exception):
    pass


@dataclass
class HTTPResult:
    status: int
    header: dict[str, list[str]]
    body: bytes
    url: str
    redirects: list[str] = field(default_factory=list)


def _request_body(body) -> bytes | None:
    """Go harness newRequest: a string is sent as is, anything else as json.Marshal output."""
    if body is None:
        return None
    if isinstance(body, str):
        return body.encode("utf-8")
    return go_json(body).encode("utf-8")


def _send_once(method: str, url: str, header: dict[str, list[str]], host_override: str | None,
               body: bytes | None, timeout: float) -> HTTPResult:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http":
        raise ClientError("unsupported scheme in %s" % url)
    hostname = parts.hostname or ""
    if hostname not in ("localhost", "127.0.0.1", "::1"):
        raise ClientError("refusing to contact non-loopback host %s" % hostname)
    port = parts.port or 80
    connect = "127.0.0.1" if hostname == "localhost" else hostname
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    conn = http.client.HTTPConnection(connect, port, timeout=timeout)
    try:
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host_override or parts.netloc)
        if "User-Agent" in header:
            if header["User-Agent"] and header["User-Agent"][0] != "":
                for v in header["User-Agent"]:
                    conn.putheader("User-Agent", v)
        else:
            conn.putheader("User-Agent", GO_USER_AGENT)
        length = len(body) if body else 0
        if length > 0 or method in ("POST", "PUT", "PATCH"):
            conn.putheader("Content-Length", str(length))
        for key in sorted(header):
            if key in ("User-Agent", "Host", "Content-Length", "Transfer-Encoding"):
                continue
            for v in header[key]:
                conn.putheader(key, v)
        requested_gzip = ("Accept-Encoding" not in header and "Range" not in header
                          and method != "HEAD")
        if requested_gzip:
            conn.putheader("Accept-Encoding", "gzip")
        conn.endheaders(body if length else None)
        resp = conn.getresponse()
        data = resp.read()
        got: dict[str, list[str]] = {}
        for name, value in resp.msg.items():
            got.setdefault(canonical_header_key(name), []).append(value)
        if requested_gzip and got.get("Content-Encoding", [""])[0].lower() == "gzip":
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError) as exc:
                raise ClientError("bad gzip body: %s" % exc) from exc
            got.pop("Content-Encoding", None)
            got.pop("Content-Length", None)
        return HTTPResult(resp.status, got, data, url)
    except (OSError, http.client.HTTPException) as exc:
        raise ClientError("%s %s: %s" % (method, url, exc or type(exc).__name__)) from exc
    finally:
        conn.close()


def go_client_do(method: str, url: str, headers: dict[str, str] | None = None, body: bytes | None = None,
                 timeout: float = REQUEST_TIMEOUT_S, follow_redirects: bool = True) -> HTTPResult:
    """http.DefaultClient.Do for the request the Go harness builds (see module docstring)."""
    method = (method or "GET").upper()
    header: dict[str, list[str]] = {}
    host_override = None
    for k, v in (headers or {}).items():
        key = canonical_header_key(k)
        if key == "Host":
            host_override = v
            continue
        header.setdefault(key, []).append(v)
    if body is not None and len(body) == 0:
        body = None
    first_url = url
    redirects: list[str] = []
    cur_method, cur_url, cur_body, cur_header, cur_host = method, url, body, header, host_override
    while True:
        result = _send_once(cur_method, cur_url, cur_header, cur_host, cur_body, timeout)
        result.redirects = redirects
        location = result.header.get("Location", [""])[0]
        if not follow_redirects or result.status not in (301, 302, 303, 307, 308) or not location:
            return result
        if result.status in (301, 302, 303):
            next_method = cur_method if cur_method in ("GET", "HEAD") else "GET"
            next_body = None
        else:
            next_method, next_body = cur_method, cur_body
        if len(redirects) >= MAX_REDIRECTS:
            raise ClientError("stopped after %d redirects" % MAX_REDIRECTS)
        next_url = urllib.parse.urljoin(cur_url, location)
        redirects.append("%d %s" % (result.status, next_url))
        new_header = {k: list(v) for k, v in header.items()}
        if urllib.parse.urlsplit(next_url).netloc != urllib.parse.urlsplit(first_url).netloc:
            for sensitive in ("Authorization", "Www-Authenticate", "Cookie", "Cookie2"):
                new_header.pop(sensitive, None)
        if "Referer" not in new_header:
            ref = urllib.parse.urlsplit(cur_url)
            netloc = ref.netloc.rpartition("@")[2]  # Go drops user info from the Referer
            new_header["Referer"] = [urllib.parse.urlunsplit((ref.scheme, netloc, ref.path, ref.query, ""))]
        cur_host = host_override if (host_override and not urllib.parse.urlsplit(location).scheme) else None
        cur_method, cur_url, cur_body, cur_header = next_method, next_url, next_body, new_header


# --------------------------------------------------------------------------------------------
# Comparison rules
# --------------------------------------------------------------------------------------------

def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def json_equal(a, b) -> bool:
    """reflect.DeepEqual on values produced by Go's json.Unmarshal (numbers are float64)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return float(a) == float(b)
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return False


def _short(v, limit: int = 120) -> str:
    text = json.dumps(v, ensure_ascii=False, sort_keys=True) if not isinstance(v, bytes) else repr(v)
    return text if len(text) <= limit else text[:limit] + "…"


def json_diff(want, have, path: str = "body") -> str | None:
    """First difference between two JSON values, as `path: want X, have Y` (None when equal)."""
    if json_equal(want, have):
        return None
    if isinstance(want, dict) and isinstance(have, dict):
        missing = sorted(set(want) - set(have))
        if missing:
            return "%s: missing key %s" % (path, json.dumps(missing[0]))
        extra = sorted(set(have) - set(want))
        if extra:
            return "%s: unexpected key %s = %s" % (path, json.dumps(extra[0]), _short(have[extra[0]]))
        for k in sorted(want):
            d = json_diff(want[k], have[k], "%s.%s" % (path, k))
            if d:
                return d
    if isinstance(want, list) and isinstance(have, list):
        if len(want) != len(have):
            return "%s: want %d items, have %d (want %s, have %s)" % (
                path, len(want), len(have), _short(want), _short(have))
        for i, (x, y) in enumerate(zip(want, have)):
            d = json_diff(x, y, "%s[%d]" % (path, i))
            if d:
                return d
    return "%s: want %s, have %s" % (path, _short(want), _short(have))


def bytes_diff(want: bytes, have: bytes) -> str:
    i = 0
    limit = min(len(want), len(have))
    while i < limit and want[i] == have[i]:
        i += 1
    start = max(0, i - 25)

    def window(b: bytes) -> str:
        text = b[start:i + 45].decode("utf-8", "backslashreplace")
        return ("…" if start else "") + json.dumps(text, ensure_ascii=False) + ("…" if len(b) > i + 45 else "")

    return "body differs at byte %d (want %d bytes, have %d): want %s, have %s" % (
        i, len(want), len(have), window(want), window(have))


class SchemaUnsupported(Exception):
    pass


_SCHEMA_ANNOTATIONS = {"$schema", "$id", "id", "title", "description", "$comment", "default", "examples"}
_SCHEMA_KEYWORDS = {"type", "properties", "required", "enum", "items", "additionalProperties"}
_TYPE_CHECKS = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": _is_number,
    "integer": lambda v: _is_number(v) and float(v).is_integer(),
}


def schema_errors(schema, value, path: str = "body") -> list[str]:
    """Validate `value` against the JSON-schema subset the CE specs use."""
    if schema is True or schema == {}:
        return []
    if schema is False:
        return ["%s: not allowed by schema" % path]
    if not isinstance(schema, dict):
        raise SchemaUnsupported("schema at %s is not an object" % path)
    unknown = set(schema) - _SCHEMA_ANNOTATIONS - _SCHEMA_KEYWORDS
    if unknown:
        raise SchemaUnsupported("unsupported schema keyword(s) %s at %s" % (sorted(unknown), path))
    errors: list[str] = []
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        for t in types:
            if t not in _TYPE_CHECKS:
                raise SchemaUnsupported("unknown type %r at %s" % (t, path))
        if not any(_TYPE_CHECKS[t](value) for t in types):
            errors.append("%s: want type %s, have %s" % (path, "/".join(types), _short(value, 60)))
            return errors
    if "enum" in schema and not any(json_equal(e, value) for e in schema["enum"]):
        errors.append("%s: %s not in enum %s" % (path, _short(value, 60), _short(schema["enum"], 60)))
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                errors.append("%s: missing required property %s" % (path, json.dumps(key)))
        props = schema.get("properties", {})
        for key, sub in props.items():
            if key in value:
                errors.extend(schema_errors(sub, value[key], "%s.%s" % (path, key)))
        extra = schema.get("additionalProperties", True)
        for key in value:
            if key not in props:
                errors.extend(schema_errors(extra, value[key], "%s.%s" % (path, key)))
    if isinstance(value, list) and "items" in schema:
        if isinstance(schema["items"], list):
            raise SchemaUnsupported("tuple-form items at %s" % path)
        for i, item in enumerate(value):
            errors.extend(schema_errors(schema["items"], item, "%s[%d]" % (path, i)))
    return errors


def check_response(out: dict, result: HTTPResult, subs: Substitutions) -> list[str]:
    """Every mismatch between a spec's `out` and the response (empty list = pass)."""
    errors: list[str] = []
    want_status = out.get("status_code", 0)
    if result.status != want_status:
        errors.append("status: want %s, have %d" % (want_status, result.status))

    for name, values in sorted((out.get("header") or {}).items(), key=lambda kv: kv[0].lower()):
        key = canonical_header_key(name)
        want = subs.header_values(key, list(values))
        have = result.header.get(key)
        if have is not None:
            if have != want:
                errors.append("header %s: want %s, have %s" % (key, _short(want), _short(have)))
        elif not want or want[0] != "":
            errors.append("header %s: want %s, header absent" % (key, _short(want)))

    schema = out.get("schema")
    if schema:
        try:
            doc = json.loads(result.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            errors.append("schema: body is not JSON (%s): %s" % (exc, _short(result.body, 80)))
        else:
            try:
                errors.extend(schema_errors(schema, doc))
            except SchemaUnsupported as exc:
                errors.append("schema: runner limitation: %s" % exc)
    elif "body" in out:
        want_body = subs.value(out["body"])
        if isinstance(want_body, str):
            want_bytes = want_body.encode("utf-8")
            if result.body != want_bytes:
                errors.append(bytes_diff(want_bytes, result.body))
        else:
            try:
                have = json.loads(result.body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                errors.append("body: want JSON %s, have non-JSON %s" % (_short(want_body), _short(result.body)))
            else:
                d = json_diff(want_body, have)
                if d:
                    errors.append(d)
    return errors


# --------------------------------------------------------------------------------------------
# Spec loading, allow-fail list, classification
# --------------------------------------------------------------------------------------------

def load_specs(specs_dir: Path) -> dict[str, dict]:
    specs = {}
    for path in sorted(specs_dir.glob("*.json")):
        with path.open(encoding="utf-8") as f:
            specs[path.stem] = json.load(f)
    return specs


_ALLOW_LINE_RE = re.compile(r"^(?P<name>[A-Za-z0-9_.\-]+)\s+#\s*(?P<tag>.*\(issue \d+\))\s*$")


def parse_allow_fail(text: str) -> tuple[dict[str, str], list[str]]:
    """`<spec>  # <feature> (issue N)` per line; returns ({spec: tag}, [problems])."""
    entries: dict[str, str] = {}
    problems: list[str] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _ALLOW_LINE_RE.match(line)
        if not m:
            problems.append("line %d: expected '<spec>  # <feature> (issue N)', got %r" % (lineno, raw))
            continue
        if m.group("name") in entries:
            problems.append("line %d: %s listed twice" % (lineno, m.group("name")))
        entries[m.group("name")] = m.group("tag").strip()
    return entries, problems


def classify(name: str, errors: list[str], allowed: dict[str, str],
             limit: int | None = MAX_REASONS) -> tuple[str, str]:
    """(kind, line) with kind in PASS, FAIL, XFAIL, XPASS."""
    if errors:
        shown = errors if limit is None or len(errors) <= limit else errors[:limit] + [
            "(+%d more; -v shows all)" % (len(errors) - limit)]
        reason = "; ".join(shown)
        if name in allowed:
            return "XFAIL", "XFAIL %s (%s): %s" % (name, allowed[name], reason)
        return "FAIL", "FAIL %s: %s" % (name, reason)
    if name in allowed:
        return "XPASS", "XPASS %s: passes but is listed as an allowed failure: remove %s from allow-fail.txt" % (
            name, name)
    return "PASS", "PASS %s" % name


def summary_lines(counts: dict[str, int], total: int, allow_file_label: str) -> list[str]:
    passed = counts.get("PASS", 0) + counts.get("XPASS", 0)
    failed = counts.get("FAIL", 0) + counts.get("XFAIL", 0)
    return [
        "allowed failures: %d (%s)" % (counts.get("XFAIL", 0), allow_file_label),
        "krakend-ce specs: %d passed, %d failed, %d unsupported (of %d)" % (
            passed, failed, counts.get("UNSUPPORTED", 0), total),
    ]


def exit_status(counts: dict[str, int], problems: int = 0) -> int:
    return 0 if counts.get("FAIL", 0) == 0 and counts.get("XPASS", 0) == 0 and problems == 0 else 1


# --------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------

class FeedsHandler(http.server.BaseHTTPRequestHandler):
    """Serves tests/peer/feeds/<path> as application/rss+xml; 404 for anything else."""

    def do_GET(self):  # noqa: N802 (http.server's name)
        path = urllib.parse.urlsplit(self.path).path
        target = (FEEDS_DIR / path.lstrip("/")).resolve()
        if FEEDS_DIR.resolve() in target.parents and target.is_file():
            body, status, kind = target.read_bytes(), 200, "application/rss+xml; charset=utf-8"
        else:
            body, status, kind = b"404 page not found\n", 404, "text/plain; charset=utf-8"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # quiet: the runner prints one line per spec
        pass


def start_feeds() -> http.server.ThreadingHTTPServer:
    """The stand-in for showrss.info on a free loopback port, in a background thread."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FeedsHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="feeds", daemon=True).start()
    return server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def manifold_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30)
    m = re.search(r"manifold\s+(\S+)", out.stdout)
    if out.returncode != 0 or not m:
        raise RuntimeError("`%s --version` did not print 'manifold <version>' (exit %d): %s %s" % (
            binary, out.returncode, out.stdout.strip(), out.stderr.strip()))
    return m.group(1)


def wait_ready(proc: subprocess.Popen, port: int, deadline_s: float) -> str | None:
    """None when /__health answered 200, else the reason."""
    deadline = time.monotonic() + deadline_s
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return "gateway exited with status %d before becoming ready" % proc.returncode
        try:
            r = go_client_do("GET", "http://127.0.0.1:%d/__health" % port, timeout=1.0, follow_redirects=False)
            if r.status == 200:
                return None
            last = "GET /__health answered %d" % r.status
        except ClientError as exc:
            last = str(exc)
        time.sleep(0.1)
    return "gateway not ready after %.0f s (%s)" % (deadline_s, last)


def stop_process(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.terminate()
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
    except OSError:
        pass


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------

def run_spec(spec: dict, subs: Substitutions, verbose: bool) -> list[str]:
    inp = spec.get("in") or {}
    out = spec.get("out") or {}
    url = subs.request_url(inp.get("url", ""))
    try:
        body = _request_body(inp.get("body"))
        result = go_client_do(inp.get("method") or "GET", url, inp.get("header") or {}, body)
    except ClientError as exc:
        return ["request failed: %s" % exc]
    errors = check_response(out, result, subs)
    if errors and verbose:
        detail = ["", "    request: %s %s" % (inp.get("method") or "GET", url)]
        if result.redirects:
            detail.append("    redirects followed: %s" % ", ".join(result.redirects))
        detail.append("    status: %d" % result.status)
        for k in sorted(result.header):
            detail.append("    header %s: %s" % (k, result.header[k]))
        detail.append("    body (%d bytes): %s" % (len(result.body), result.body.decode("utf-8", "backslashreplace")))
        if "body" in out:
            want = subs.value(out["body"])
            detail.append("    expected body: %s" % (want if isinstance(want, str) else go_json(want)))
        errors[-1] = errors[-1] + "\n".join(detail)
    return errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run KrakenD CE's integration specs against Manifold.")
    parser.add_argument("--only", metavar="NAME", help="run one spec (file name without .json)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print full bodies on failure")
    parser.add_argument("--allow-fail-file", default=str(DEFAULT_ALLOW_FAIL), metavar="PATH",
                        help="allowed failures list (default: tests/peer/allow-fail.txt)")
    args = parser.parse_args(argv)

    suite = Path(os.environ.get("MANIFOLD_PEER_SUITE") or DEFAULT_SUITE)
    if not (suite / "krakend.json").is_file() or not (suite / "specs").is_dir():
        if os.environ.get("CI") == "true":
            print("krakend-ce specs: FAILED: suite not found at %s (required when CI=true)" % suite)
            return 1
        print("krakend-ce specs: skipped: suite not found at %s" % suite)
        return 0

    specs = load_specs(suite / "specs")
    if args.only:
        if args.only not in specs:
            print("krakend-ce specs: no spec named %r in %s" % (args.only, suite / "specs"))
            return 1
        selected = [args.only]
    else:
        selected = list(specs)

    allow_path = Path(args.allow_fail_file)
    try:
        allow_label = str(allow_path.resolve().relative_to(REPO))
    except ValueError:
        allow_label = str(allow_path)
    allowed, problems = parse_allow_fail(allow_path.read_text(encoding="utf-8")) if allow_path.exists() else ({}, [])
    for name in sorted(allowed):
        if name not in specs:
            problems.append("%s is listed but no such spec exists: remove it" % name)
        elif name in UNSUPPORTED:
            problems.append("%s is listed but is unsupported: remove it" % name)

    binary = os.environ.get("MANIFOLD_BIN") or str(DEFAULT_BIN)
    if not os.path.isfile(binary) or not os.access(binary, os.X_OK):
        print("krakend-ce specs: gateway binary not found at %s (build it: cargo build --release -p manifold,"
              " or set MANIFOLD_BIN)" % binary)
        return 1
    try:
        version = manifold_version(binary)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        print("krakend-ce specs: %s" % exc)
        return 1

    counts: dict[str, int] = {}
    mock = None
    feeds = None
    proc = None
    tmp = tempfile.TemporaryDirectory(prefix="manifold-peer-")
    previous_sigterm = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum, frame):  # turn SIGTERM into the same clean-up path as Ctrl-C
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        mock = mock_backend.start(0)
        mock_port = mock.server_address[1]
        feeds = start_feeds()
        gateway_port = free_port()
        subs = Substitutions(mock_port, gateway_port, version)

        with (suite / "krakend.json").open(encoding="utf-8") as f:
            fixture, _ = rewrite_fixture(json.load(f), mock_port, gateway_port, feeds.server_address[1])
        cfg_path = Path(tmp.name) / "krakend.json"
        cfg_path.write_text(json.dumps(fixture, indent=2), encoding="utf-8")
        log_path = Path(tmp.name) / "manifold.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen([binary, "run", "-c", str(cfg_path), "-p", str(gateway_port), "-d"],
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        not_ready = wait_ready(proc, gateway_port, READY_TIMEOUT_S)
        if not_ready:
            print("krakend-ce specs: %s; gateway output:" % not_ready)
            print(tail(log_path))

        for name in selected:
            if name in UNSUPPORTED:
                counts["UNSUPPORTED"] = counts.get("UNSUPPORTED", 0) + 1
                print("UNSUPPORTED %s: %s" % (name, UNSUPPORTED[name]), flush=True)
                continue
            if not_ready:
                errors = ["gateway not running (%s)" % not_ready]
            else:
                errors = run_spec(specs[name], subs, args.verbose)
            kind, line = classify(name, errors, allowed, limit=None if args.verbose else MAX_REASONS)
            counts[kind] = counts.get(kind, 0) + 1
            print(line, flush=True)

        if not not_ready and proc.poll() is not None:
            problems.append("the gateway exited with status %d during the run" % proc.returncode)
            print("gateway output (last lines):\n" + tail(log_path))
        elif args.verbose and counts.get("FAIL", 0) + counts.get("XFAIL", 0):
            print("gateway output (last lines):\n" + tail(log_path))
        if not_ready:
            problems.append(not_ready)
    except KeyboardInterrupt:
        print("krakend-ce specs: interrupted")
        return 130
    finally:
        stop_process(proc)
        for server in (mock, feeds):
            if server is not None:
                server.shutdown()
                server.server_close()
        tmp.cleanup()
        signal.signal(signal.SIGTERM, previous_sigterm)

    for problem in problems:
        print("problem: %s" % problem)
    for line in summary_lines(counts, len(selected), allow_label):
        print(line)
    return exit_status(counts, len(problems))


if __name__ == "__main__":
    sys.exit(main())
