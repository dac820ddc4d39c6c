#!/usr/bin/env python3
"""Writes the seed inputs of every fuzz target into fuzz/seeds/<target>/ from the project's
own files (scenario configs and bodies, Lambda sample events, config/) plus a few hand-written
inputs. The committed corpora (fuzz/corpus/) were grown from these and minimized with
`cargo fuzz cmin`; see docs/fuzzing.md. Usage: python3 fuzz/seed.py (from the repo root)."""

import glob
import hashlib
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "seeds")
# Larger inputs only slow libFuzzer down (its max_len follows the largest input).
MAX_SEED = 16 * 1024
ALGS = ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512",
        "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    if len(data) > MAX_SEED:
        return
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def scenarios():
    for plan_path in sorted(glob.glob(os.path.join(ROOT, "tests/scenarios/*/*/plan.json"))):
        case = os.path.dirname(plan_path)
        with open(plan_path) as f:
            plan = json.load(f)
        config_path = os.path.join(case, "config.json")
        config = open(config_path).read() if os.path.exists(config_path) else None
        yield case, plan, config


def walk(v):
    yield v
    if isinstance(v, dict):
        for x in v.values():
            yield from walk(x)
    elif isinstance(v, list):
        for x in v:
            yield from walk(x)


def config_dict():
    """fuzz/dicts/config.dict: the keys and short values of the project's configs."""
    keys, strs = set(), set()
    for case, plan, config in scenarios():
        try:
            tree = json.loads(config) if config else None
        except ValueError:
            continue
        for node in walk(tree):
            if isinstance(node, dict):
                keys.update(node.keys())
            elif isinstance(node, str) and len(node) < 24:
                strs.add(node)
    printable = lambda t: all(32 <= ord(c) < 127 for c in t) and '"' not in t and "\\" not in t
    lines = ['# Written by fuzz/seed.py: keys and short values of the scenario configs.']
    lines += ['"\\"%s\\":"' % k for k in sorted(keys) if printable(k)]
    lines += ['"\\"%s\\""' % v for v in sorted(strs) if printable(v)]
    os.makedirs(os.path.join(ROOT, "fuzz", "dicts"), exist_ok=True)
    with open(os.path.join(ROOT, "fuzz", "dicts", "config.dict"), "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    config_dict()
    for f in glob.glob(os.path.join(ROOT, "config/**/*.json"), recursive=True):
        put("config", open(f, "rb").read())
    params = ["1", "%2e%2e", "a%2Fb", "%252F", "caf%C3%A9", "a b", "..", "x%00y", "a&b=c?d#e"]
    for case, plan, config in scenarios():
        if config is not None:
            put("config", config)
            try:
                tree = json.loads(config)
            except ValueError:
                tree = None
            for node in walk(tree):
                if isinstance(node, dict):
                    if isinstance(node.get("url_pattern"), str):
                        put("url", node["url_pattern"] + "\n" + "\n".join(params))
                    if isinstance(node.get("check_expr"), str):
                        put("cel", node["check_expr"])
        for backend in (plan.get("backends") or {}).values():
            body = backend.get("body") if isinstance(backend, dict) else None
            if isinstance(body, str) and body:
                put("pipeline", body)
                if body.lstrip()[:1] in "{[\"0123456789-tfn":
                    put("json", body)
                if "keys" in body and config and "auth/validator" in config:
                    for i in range(len(ALGS)):
                        put("jose", bytes([i << 1]) + body.encode())
        auth = ((plan.get("request") or {}).get("headers") or {}).get("Authorization", "")
        if auth.startswith("Bearer ") and config:
            m = re.search(r'"alg":\s*"(\w+)"', config)
            alg = m.group(1) if m else "RS256"
            if alg in ALGS:
                put("jose", bytes([(ALGS.index(alg) << 1) | 1]) + auth[7:].encode())
    for f in glob.glob(os.path.join(ROOT, "tests/lambda/events/*.json")):
        put("lambda", open(f, "rb").read())
    heads = [
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /__health HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /p/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\n{\"a\":1}",
        b"POST /w/a/b?q=1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        b"POST /w/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
        b"POST /w/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
        b"POST /w/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /a HTTP/1.0\r\n\r\n",
        b"GET /a HTTP/1.1\r\nHost: x\r\nX-Fold: a\r\n b\r\n\r\n",
        b"GET /a HTTP/1.1\nHost: x\n\n",
        b"POST /p/1 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nab",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        b"GET /w/%2e%2e/a HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
        b"POST /w/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n",
    ]
    for h in heads:
        put("server_head", h)
    # Backend answers for `client_response` (also committed as its first corpus).
    replies = [
        b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{"ok":true}',
        b'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4;name=value\r\nwiki\r\n5\r\npedia\r\n0\r\nx-trailer: t\r\n\r\n',
        b'HTTP/1.1 200 OK\r\n\r\nuntil the end',
        b'HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 2\r\n\r\nok',
        b'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok',
        b'HTTP/1.1 204 No Content\r\ncontent-length: 3\r\n\r\n',
        b'HTTP/1.1 304 Not Modified\r\n\r\n',
        b'HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
        b'HTTP/1.1 200 OK\r\ncontent-length: 3, 3\r\ncontent-length: 3\r\n\r\nabc',
        b'HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\nffffffffffffffffff\r\n',
        b'HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n{"only":"part"',
        b'HTTP/1.1 302 Found\r\nlocation: /elsewhere\r\nconnection: close\r\ncontent-length: 0\r\n\r\n',
        b'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n',
        b'HTTP/1.1 101 Switching Protocols\r\nupgrade: x\r\n\r\n',
        b'HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: 4\r\n\r\n\x1f\x8b\x08\x00',
    ]
    for r in replies:
        put("client_response", r)
    for t in sorted(os.listdir(OUT)):
        print(t, len(os.listdir(os.path.join(OUT, t))), file=sys.stderr)


if __name__ == "__main__":
    main()
