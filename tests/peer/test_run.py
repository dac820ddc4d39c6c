"""Unit tests for the KrakenD CE peer-suite runner and its mock backend.

Run: python3 -m unittest discover -s tests/peer
Tests that need the suite files (../shared/peer-suites/krakend-ce) skip when it is absent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import socket
import subprocess
import sys
import time
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import mock_backend as mb  # noqa: E402
import run  # noqa: E402

SUITE = Path(os.environ.get("MANIFOLD_PEER_SUITE") or run.DEFAULT_SUITE)
HAVE_SUITE = (SUITE / "krakend.json").is_file() and (SUITE / "specs").is_dir()

# The headers KrakenD 2.13.8 sends to a backend when no client header is forwarded.
KRAKEND_HEADERS = {
    "User-Agent": "KrakenD Version 2.13.8",
    "X-Forwarded-For": "127.0.0.1",
    "X-Forwarded-Host": "localhost:8080",
    "Accept-Encoding": "gzip",
}


def spec(name: str) -> dict:
    with (SUITE / "specs" / (name + ".json")).open(encoding="utf-8") as f:
        return json.load(f)


def result(status=200, header=None, body=b""):
    return run.HTTPResult(status, header or {}, body, "http://x/")


SUBS = run.Substitutions(mock_port=40001, gateway_port=40002, version="0.1.0")


class GoSemanticsTest(unittest.TestCase):
    def test_canonical_header_key(self):
        self.assertEqual(mb.canonical_header_key("autHoriZatiOn"), "Authorization")
        self.assertEqual(mb.canonical_header_key("x-y-Z"), "X-Y-Z")
        self.assertEqual(mb.canonical_header_key("a-b-c"), "A-B-C")
        self.assertEqual(mb.canonical_header_key("x-krakend-completed"), "X-Krakend-Completed")
        self.assertEqual(mb.canonical_header_key("content-type"), "Content-Type")
        self.assertEqual(mb.canonical_header_key("bad key"), "bad key")  # not a token: unchanged

    def test_go_json_sorted_compact_html_escaped(self):
        self.assertEqual(mb.go_json({"b": 1, "a": [True, None, "x"]}), '{"a":[true,null,"x"],"b":1}')
        self.assertEqual(mb.go_json("<a&b>"), '"\\u003ca\\u0026b\\u003e"')
        self.assertEqual(mb.go_json("é\u2028\n\x01"), '"é\\u2028\\n\\u0001"')
        self.assertEqual(mb.go_json(42.0), "42")
        self.assertEqual(mb.go_json(b"ok\xff"), '"ok\ufffd"')
        self.assertEqual(mb.go_json_encoder_output({}), b"{}\n")

    def test_go_parse_query(self):
        self.assertEqual(mb.go_parse_query("a=1&b=2&b=3"), {"a": ["1"], "b": ["2", "3"]})
        self.assertEqual(mb.go_parse_query("a=x+y&c&d=%41"), {"a": ["x y"], "c": [""], "d": ["A"]})
        self.assertEqual(mb.go_parse_query("bad=%zz&ok=1&semi=1;x=2&&"), {"ok": ["1"]})
        self.assertEqual(mb.go_parse_query(""), {})

    def test_loopback(self):
        for ip in ("127.0.0.1", "127.9.8.7", "::1", "::ffff:127.0.0.1"):
            self.assertTrue(mb.is_loopback_ip(ip), ip)
        for ip in ("", "10.0.0.1", "127.0.0.1, 10.0.0.1", "127.0.0.1:80", "localhost", "::1%lo", None):
            self.assertFalse(mb.is_loopback_ip(ip), ip)

    def test_clean_path(self):
        self.assertEqual(mb.go_clean_path("/a//b/../c/"), "/a/c/")
        self.assertEqual(mb.go_clean_path("/param_forwarding/"), "/param_forwarding/")
        self.assertEqual(mb.go_clean_path("//x"), "/x")


class SubstitutionTest(unittest.TestCase):
    def test_hosts_and_version_in_text(self):
        text = ('"Referer":["http://127.0.0.1:8081/redirect/?status=301"],"User-Agent":'
                '["KrakenD Version 2.13.8"],"X-Forwarded-Host":["localhost:8080"]')
        self.assertEqual(SUBS.text(text), '"Referer":["http://127.0.0.1:40001/redirect/?status=301"],'
                         '"User-Agent":["Manifold/0.1.0"],"X-Forwarded-Host":["localhost:40002"]')

    def test_single_pass(self):
        # A mock on port 8080 must not be rewritten a second time into the gateway port.
        subs = run.Substitutions(mock_port=8080, gateway_port=9999, version="1.2.3")
        self.assertEqual(subs.text("127.0.0.1:8081 127.0.0.1:8080"), "127.0.0.1:8080 127.0.0.1:9999")

    def test_longer_port_untouched(self):
        self.assertEqual(SUBS.text("127.0.0.1:80810"), "127.0.0.1:80810")

    def test_structural_values(self):
        want = {"headers": {"User-Agent": ["KrakenD Version 2.13.8"]}, "foo": 42, "ok": True}
        self.assertEqual(SUBS.value(want), {"headers": {"User-Agent": ["Manifold/0.1.0"]}, "foo": 42, "ok": True})

    def test_x_krakend_header(self):
        self.assertEqual(SUBS.header_values("X-Krakend", ["Version 2.13.8"]), ["Manifold/0.1.0"])
        self.assertEqual(SUBS.header_values("x-krakend", ["Version 2.13.8"]), ["Manifold/0.1.0"])
        # Only the X-Krakend header's bare "Version x.y.z" value is rewritten.
        self.assertEqual(SUBS.header_values("X-Other", ["Version 2.13.8"]), ["Version 2.13.8"])
        self.assertEqual(SUBS.header_values("X-Krakend-Completed", ["true"]), ["true"])

    def test_request_url(self):
        self.assertEqual(SUBS.request_url("http://localhost:8080/a?b=localhost:8080"),
                         "http://localhost:40002/a?b=localhost:8080")


class FixtureRewriteTest(unittest.TestCase):
    CONFIG = {
        "version": 3, "port": 8080,
        "extra_config": {"telemetry/metrics": {"listen_address": ":8090"}},
        "endpoints": [
            {"endpoint": "/a", "backend": [{"host": ["http://127.0.0.1:8081"], "url_pattern": "/x"}]},
            {"endpoint": "/b", "backend": [{"host": ["http://127.0.0.1:8080"], "url_pattern": "/__debug/"}]},
            {"endpoint": "/c", "backend": [{"host": ["http://localhost:8080"], "url_pattern": "/127.0.0.1:8081"}],
             "extra_config": {"auth/validator": {"jwk_url": "http://127.0.0.1:8081/jwk/symmetric"}}},
            {"endpoint": "/d", "backend": [{"host": ["http://showrss.info/"], "url_pattern": "/u/{id}.rss"}]},
        ],
    }

    def test_rewrite(self):
        original = json.dumps(self.CONFIG, sort_keys=True)
        out, count = run.rewrite_fixture(self.CONFIG, 40001, 40002)
        self.assertEqual(json.dumps(self.CONFIG, sort_keys=True), original, "input must not be mutated")
        self.assertEqual(out["port"], 40002)
        eps = out["endpoints"]
        self.assertEqual(eps[0]["backend"][0]["host"], ["http://127.0.0.1:40001"])
        self.assertEqual(eps[1]["backend"][0]["host"], ["http://127.0.0.1:40002"])
        self.assertEqual(eps[2]["backend"][0]["host"], ["http://localhost:40002"])
        self.assertEqual(eps[2]["extra_config"]["auth/validator"]["jwk_url"], "http://127.0.0.1:40001/jwk/symmetric")
        # nothing else changes: not a URL authority, other hosts, other ports
        self.assertEqual(eps[2]["backend"][0]["url_pattern"], "/127.0.0.1:8081")
        self.assertEqual(eps[3], self.CONFIG["endpoints"][3])
        self.assertEqual(out["extra_config"], self.CONFIG["extra_config"])
        self.assertNotIn("ignore_unenforced", out, "no Lua, no opt-out")
        self.assertEqual(count, 5)

    def test_rewrite_feeds_host(self):
        out, count = run.rewrite_fixture(self.CONFIG, 40001, 40002, 40003)
        self.assertEqual(out["endpoints"][3]["backend"][0]["host"], ["http://127.0.0.1:40003"])
        self.assertEqual(out["endpoints"][3]["backend"][0]["url_pattern"], "/u/{id}.rss")
        self.assertEqual(count, 6)

    def test_feeds_server_serves_fixtures_only(self):
        server = run.start_feeds()
        try:
            port = server.server_address[1]
            for path, status in (("/user/1482.rss", 200), ("/user/schedule/1482.rss", 200),
                                 ("/user/9.rss", 404), ("/../run.py", 404)):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", path)
                resp = conn.getresponse()
                body = resp.read()
                conn.close()
                self.assertEqual(resp.status, status, path)
                if status == 200:
                    self.assertIn(b"<title>showRSS ", body)
        finally:
            server.shutdown()
            server.server_close()

    @unittest.skipUnless(HAVE_SUITE, "suite not found")
    def test_rewrite_real_fixture_only_touches_hosts_and_port(self):
        with (SUITE / "krakend.json").open(encoding="utf-8") as f:
            cfg = json.load(f)
        out, _ = run.rewrite_fixture(cfg, 40001, 40002)
        text = json.dumps(out)
        for token in ("127.0.0.1:8081", "127.0.0.1:8080", "localhost:8080"):
            self.assertNotIn(token, text)
        back = json.loads(text.replace("127.0.0.1:40001", "127.0.0.1:8081")
                          .replace("127.0.0.1:40002", "127.0.0.1:8080").replace("localhost:40002", "localhost:8080"))
        back["port"] = cfg["port"]
        self.assertEqual(back.pop("ignore_unenforced"), ["modifier/lua-backend", "modifier/lua-proxy"])
        self.assertEqual(back, cfg)


class CompareTest(unittest.TestCase):
    def test_status(self):
        self.assertEqual(run.check_response({"status_code": 200}, result(200), SUBS), [])
        self.assertEqual(run.check_response({"status_code": 200}, result(404), SUBS), ["status: want 200, have 404"])

    def test_string_body_byte_for_byte(self):
        out = {"status_code": 200, "body": '{"a":1}'}
        self.assertEqual(run.check_response(out, result(body=b'{"a":1}'), SUBS), [])
        self.assertTrue(run.check_response(out, result(body=b'{"a":1}\n'), SUBS))  # trailing newline
        self.assertTrue(run.check_response(out, result(body=b'{"a": 1}'), SUBS))   # whitespace
        self.assertTrue(run.check_response(out, result(body=b'{"a":1.0}'), SUBS))  # number spelling

    def test_empty_string_body_means_empty(self):
        out = {"status_code": 403, "body": ""}
        self.assertEqual(run.check_response(out, result(403, body=b""), SUBS), [])
        self.assertTrue(run.check_response(out, result(403, body=b"forbidden"), SUBS))

    def test_string_body_substituted(self):
        out = {"status_code": 500, "body": "invalid status code 404 [GET /unknown]: http://127.0.0.1:8081/unknown"}
        ok = b"invalid status code 404 [GET /unknown]: http://127.0.0.1:40001/unknown"
        self.assertEqual(run.check_response(out, result(500, body=ok), SUBS), [])
        self.assertTrue(run.check_response(out, result(500, body=ok.replace(b"40001", b"8081")), SUBS))

    def test_object_body_structural(self):
        out = {"status_code": 200, "body": {"foo": 42, "h": {"User-Agent": ["KrakenD Version 2.13.8"]}, "q": {}}}
        good = b'{ "q": {}, "h": {"User-Agent": ["Manifold/0.1.0"]}, "foo": 42.0 }\n'
        self.assertEqual(run.check_response(out, result(body=good), SUBS), [])
        for bad in (b'{"q":{},"h":{"User-Agent":["Manifold/0.1.0"]},"foo":42,"x":1}',  # extra key
                    b'{"q":{},"h":{"User-Agent":["KrakenD Version 2.13.8"]},"foo":42}',  # not substituted
                    b'{"q":[],"h":{"User-Agent":["Manifold/0.1.0"]},"foo":42}',  # {} vs []
                    b'not json'):
            self.assertTrue(run.check_response(out, result(body=bad), SUBS), bad)

    def test_json_equal_types(self):
        self.assertTrue(run.json_equal(42, 42.0))
        self.assertFalse(run.json_equal(True, 1))
        self.assertFalse(run.json_equal(None, {}))
        self.assertFalse(run.json_equal([1, 2], [2, 1]))
        self.assertIn("body.a[1]", run.json_diff({"a": [1, 2]}, {"a": [1, 3]}))

    def test_no_body_no_schema_is_not_checked(self):
        self.assertEqual(run.check_response({"status_code": 200}, result(body=b"anything"), SUBS), [])

    def test_header_absent_rule(self):
        out = {"status_code": 200, "header": {"Cache-Control": [""], "content-type": [""]}}
        self.assertEqual(run.check_response(out, result(), SUBS), [])
        self.assertEqual(run.check_response(out, result(header={"Cache-Control": [""]}), SUBS), [])
        errors = run.check_response(out, result(header={"Cache-Control": ["public, max-age=3600"]}), SUBS)
        self.assertEqual(len(errors), 1)
        self.assertIn("Cache-Control", errors[0])

    def test_header_names_case_insensitive_values_exact(self):
        out = {"status_code": 200, "header": {"x-krakend-completed": ["true"], "Set-Cookie": ["a=1", "b=2"]}}
        have = {"X-Krakend-Completed": ["true"], "Set-Cookie": ["a=1", "b=2"]}
        self.assertEqual(run.check_response(out, result(header=have), SUBS), [])
        self.assertTrue(run.check_response(out, result(header={**have, "Set-Cookie": ["b=2", "a=1"]}), SUBS))
        self.assertTrue(run.check_response(out, result(header={**have, "X-Krakend-Completed": ["True"]}), SUBS))
        self.assertTrue(run.check_response(out, result(header={"Set-Cookie": ["a=1", "b=2"]}), SUBS))

    def test_x_krakend_header_substitution(self):
        out = {"status_code": 200, "header": {"X-Krakend": ["Version 2.13.8"]}}
        self.assertEqual(run.check_response(out, result(header={"X-Krakend": ["Manifold/0.1.0"]}), SUBS), [])
        self.assertTrue(run.check_response(out, result(header={"X-Krakend": ["Version 2.13.8"]}), SUBS))

    SCHEMA = {"$schema": "http://json-schema.org/draft-04/schema#", "type": "object",
              "properties": {"foo": {"type": "integer"}, "bar": {"type": "string", "enum": ["x", "y"]}},
              "required": ["foo", "bar"]}

    def test_schema(self):
        out = {"status_code": 200, "schema": self.SCHEMA, "body": "ignored when a schema is present"}
        self.assertEqual(run.check_response(out, result(body=b'{"foo":42,"bar":"x"}'), SUBS), [])
        self.assertEqual(run.check_response(out, result(body=b'{"foo":42.0,"bar":"y","z":1}'), SUBS), [])
        for bad in (b'{"foo":"42","bar":"x"}', b'{"foo":4.5,"bar":"x"}', b'{"foo":42}', b'{"foo":42,"bar":"z"}',
                    b'[]', b'', b'{"foo":true,"bar":"x"}'):
            self.assertTrue(run.check_response(out, result(body=bad), SUBS), bad)

    def test_schema_unknown_keyword_fails(self):
        out = {"status_code": 200, "schema": {"type": "object", "minProperties": 3}}
        errors = run.check_response(out, result(body=b"{}"), SUBS)
        self.assertEqual(len(errors), 1)
        self.assertIn("minProperties", errors[0])


class AllowFailTest(unittest.TestCase):
    def test_parse(self):
        entries, problems = run.parse_allow_fail(
            "# comment\n\nstatic   # static proxy (issue 4)\ncors_1 # cors (issue 8)\nbare_name\nx # no tag\n")
        self.assertEqual(entries, {"static": "static proxy (issue 4)", "cors_1": "cors (issue 8)"})
        self.assertEqual(len(problems), 2)

    def test_classify(self):
        allowed = {"static": "static proxy (issue 4)"}
        self.assertEqual(run.classify("static", ["status: want 200, have 404"], allowed)[0], "XFAIL")
        kind, line = run.classify("static", [], allowed)
        self.assertEqual(kind, "XPASS")
        self.assertIn("remove static from allow-fail.txt", line)
        self.assertEqual(run.classify("timeout", ["x"], allowed), ("FAIL", "FAIL timeout: x"))
        self.assertEqual(run.classify("timeout", [], allowed), ("PASS", "PASS timeout"))

    def test_exit_status_and_summary(self):
        self.assertEqual(run.exit_status({"PASS": 3, "XFAIL": 2, "UNSUPPORTED": 1}), 0)
        self.assertEqual(run.exit_status({"PASS": 3, "FAIL": 1}), 1)
        self.assertEqual(run.exit_status({"PASS": 3, "XPASS": 1}), 1)
        self.assertEqual(run.exit_status({"PASS": 3}, problems=1), 1)
        lines = run.summary_lines({"PASS": 3, "XPASS": 1, "FAIL": 1, "XFAIL": 2, "UNSUPPORTED": 5}, 12,
                                  "tests/peer/allow-fail.txt")
        self.assertEqual(lines, ["allowed failures: 2 (tests/peer/allow-fail.txt)",
                                 "krakend-ce specs: 4 passed, 3 failed, 5 unsupported (of 12)"])

    def test_repository_list_is_valid(self):
        entries, problems = run.parse_allow_fail((HERE / "allow-fail.txt").read_text(encoding="utf-8"))
        self.assertEqual(problems, [])
        self.assertFalse(set(entries) & set(run.UNSUPPORTED))
        for tag in entries.values():
            self.assertRegex(tag, r"\(issue (4|8)\)$")
        if HAVE_SUITE:
            specs = {p.stem for p in (SUITE / "specs").glob("*.json")}
            self.assertLessEqual(set(entries), specs)
            self.assertLessEqual(set(run.UNSUPPORTED), specs)

    @unittest.skipUnless(HAVE_SUITE, "suite not found")
    def test_unsupported_sequential_specs_really_need_lua(self):
        with (SUITE / "krakend.json").open(encoding="utf-8") as f:
            cfg = json.load(f)
        by_path = {ep["endpoint"]: ep for ep in cfg["endpoints"]}
        for name, path in (("sequential_3", "/sequential/propagate"), ("sequential_4", "/sequential/propagate-full")):
            self.assertTrue(spec(name)["in"]["url"].endswith(path))
            self.assertIn("modifier/lua-backend", json.dumps(by_path[path]))


class SkipTest(unittest.TestCase):
    def run_runner(self, env_extra):
        env = {k: v for k, v in os.environ.items() if k != "CI"}
        env.update(env_extra)
        return subprocess.run([sys.executable, str(HERE / "run.py")], capture_output=True, text=True, env=env,
                              timeout=60)

    def test_absent_suite_skips(self):
        r = self.run_runner({"MANIFOLD_PEER_SUITE": "/nonexistent/krakend-ce"})
        self.assertEqual(r.returncode, 0)
        self.assertEqual(r.stdout, "krakend-ce specs: skipped: suite not found at /nonexistent/krakend-ce\n")

    def test_absent_suite_fails_in_ci(self):
        r = self.run_runner({"MANIFOLD_PEER_SUITE": "/nonexistent/krakend-ce", "CI": "true"})
        self.assertEqual(r.returncode, 1)
        self.assertIn("suite not found at /nonexistent/krakend-ce", r.stdout)


class MockBackendTest(unittest.TestCase):
    """The mock over real sockets, checked against what the specs expect it to produce."""

    @classmethod
    def setUpClass(cls):
        cls.server = mb.start(0)
        cls.port = cls.server.server_address[1]
        cls.base = "http://127.0.0.1:%d" % cls.port

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()

    def get(self, path, headers=None, method="GET", body=None, follow=True):
        return run.go_client_do(method, self.base + path, headers, body, timeout=5, follow_redirects=follow)

    def raw(self, data: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(data)
            chunks = []
            while True:
                c = s.recv(65536)
                if not c:
                    break
                chunks.append(c)
                if b"\r\n\r\n" in b"".join(chunks):
                    head, _, rest = b"".join(chunks).partition(b"\r\n\r\n")
                    length = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")]
                    if length and len(rest) >= length[0]:
                        break
            return b"".join(chunks)

    def test_xff_required(self):
        for path in ("/param_forwarding/", "/xml", "/collection/1", "/delayed/", "/redirect/?status=301"):
            r = self.get(path, {"X-Forwarded-For": "10.1.2.3"})
            self.assertEqual((r.status, r.body), (400, b"invalid X-Forwarded-For\n"), path)
            self.assertEqual(r.header["Content-Type"], ["text/plain; charset=utf-8"])
            self.assertEqual(r.header["X-Content-Type-Options"], ["nosniff"])
        self.assertEqual(self.get("/param_forwarding/").status, 400)  # missing header
        self.assertEqual(self.get("/jwk/symmetric").status, 200)  # the exception

    def test_go_404(self):
        r = self.get("/", {"X-Forwarded-For": "127.0.0.1"})
        self.assertEqual((r.status, r.body), (404, b"404 page not found\n"))
        self.assertEqual(r.header["Content-Type"], ["text/plain; charset=utf-8"])
        self.assertEqual(r.header["X-Content-Type-Options"], ["nosniff"])
        self.assertEqual(self.get("/xml/").status, 404)  # /xml is an exact pattern

    def test_echo_headers_set_cookie(self):
        r = self.get("/param_forwarding/x", KRAKEND_HEADERS)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header["Content-Type"], ["application/json"])
        self.assertEqual(r.header["Set-Cookie"], ["test1=test1", "test2=test2"])
        self.assertTrue(r.body.endswith(b"}\n"))

    def test_go_client_headers_as_seen_by_the_echo(self):
        r = self.get("/param_forwarding/?a=1&b=2&b=3", {"X-Forwarded-For": "127.0.0.1", "x-y-Z": "true"})
        doc = json.loads(r.body)
        self.assertEqual(doc["headers"], {"Accept-Encoding": ["gzip"], "User-Agent": ["Go-http-client/1.1"],
                                          "X-Y-Z": ["true"]})
        self.assertEqual(doc["query"], {"a": ["1"], "b": ["2", "3"]})

    @unittest.skipUnless(HAVE_SUITE, "suite not found")
    def test_echo_matches_param_forwarding_1(self):
        want = spec("param_forwarding_1")["out"]["body"]
        r = self.get("/param_forwarding/bar?foo=foo",
                     {**KRAKEND_HEADERS, "Authorization": "bearer 123456", "X-Y-Z": "true"})
        self.assertEqual(r.body, want.encode() + b"\n")

    @unittest.skipUnless(HAVE_SUITE, "suite not found")
    def test_echo_matches_no_op_1_byte_for_byte(self):
        want = spec("no-op_1")["out"]["body"]
        r = self.get("/param_forwarding/", KRAKEND_HEADERS, method="POST")  # Content-Length: 0 like Go
        self.assertEqual(r.body, want.encode())

    @unittest.skipUnless(HAVE_SUITE, "suite not found")
    def test_chunked_body_matches_param_forwarding_4(self):
        want = spec("param_forwarding_4")["out"]["body"]
        body = b'{"foo":"bar"}'
        req = (b"POST /param_forwarding/bar?foo=foo&dump_body=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               b"User-Agent: KrakenD Version 2.13.8\r\nAuthorization: bearer 123456\r\nX-Y-Z: true\r\n"
               b"X-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Host: localhost:8080\r\nAccept-Encoding: gzip\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n"
               b"5;ext=1\r\n" + body[:5] + b"\r\n" + b"%x\r\n" % (len(body) - 5) + body[5:] + b"\r\n0\r\nX-T: 1\r\n\r\n")
        resp = self.raw(req)
        head, _, payload = resp.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200 OK"), head)
        self.assertTrue(run.json_equal(json.loads(payload), want), payload)

    @unittest.skipUnless(HAVE_SUITE, "suite not found")
    def test_redirects_match_backend_30x(self):
        subs = run.Substitutions(self.port, 8080, "2.13.8")
        for code in (301, 302, 303, 307):
            want = subs.text(spec("backend_%d" % code)["out"]["body"]).replace("Manifold/2.13.8",
                                                                              "KrakenD Version 2.13.8")
            first = self.get("/redirect/?status=%d" % code, KRAKEND_HEADERS, follow=False)
            self.assertEqual(first.status, code)
            self.assertEqual(first.header["Location"], ["/param_forwarding/?status=%d" % code])
            r = self.get("/redirect/?status=%d" % code, KRAKEND_HEADERS)
            self.assertEqual(r.body, want.encode() + b"\n", code)

    @unittest.skipUnless(HAVE_SUITE, "suite not found")
    def test_missing_slash_redirect_matches_xml_2(self):
        first = self.get("/param_forwarding", KRAKEND_HEADERS, follow=False)
        self.assertEqual(first.status, 301)
        self.assertEqual(first.header["Location"], ["/param_forwarding/"])
        self.assertEqual(first.body, b'<a href="/param_forwarding/">Moved Permanently</a>.\n\n')
        doc = json.loads(self.get("/param_forwarding", KRAKEND_HEADERS).body)
        self.assertEqual(doc["headers"]["Referer"], ["http://127.0.0.1:%d/param_forwarding" % self.port])
        self.assertEqual((doc["path"], doc["query"]), ("/param_forwarding/", {}))
        self.assertIn("<Referer>http://127.0.0.1:8081/param_forwarding</Referer>", spec("xml_2")["out"]["body"])

    def test_redirect_method_rules(self):
        h = {"X-Forwarded-For": "127.0.0.1"}
        body = b"payload"
        r307 = json.loads(self.get("/redirect/?status=307&dump_body=1", h, method="POST", body=body).body)
        r303 = json.loads(self.get("/redirect/?status=303&dump_body=1", h, method="POST", body=body).body)
        self.assertEqual(r307["body"], "payload")
        self.assertEqual(r303["body"], "")

    @unittest.skipUnless(HAVE_SUITE, "suite not found")
    def test_collection_matches_collection_spec(self):
        doc = json.loads(self.get("/collection/2", KRAKEND_HEADERS).body)
        posts = json.loads(spec("collection")["out"]["body"])["posts"]
        self.assertEqual(doc, posts)

    @unittest.skipUnless(HAVE_SUITE, "suite not found")
    def test_detail_error_backend_b(self):
        want = spec("detail_error")["out"]["body"]["error_backend_b"]
        r = self.get("/", KRAKEND_HEADERS)
        self.assertEqual(r.status, want["http_status_code"])
        self.assertEqual(r.header["Content-Type"], [want["http_body_encoding"]])
        self.assertEqual(r.body.decode(), want["http_body"])

    def test_delayed(self):
        start = time.monotonic()
        r = self.get("/delayed/", KRAKEND_HEADERS)
        self.assertGreaterEqual(time.monotonic() - start, 0.19)
        self.assertEqual(json.loads(r.body)["path"], "/delayed/")

    def test_xml(self):
        r = self.get("/xml", KRAKEND_HEADERS)
        self.assertEqual(r.header["Content-Type"], ["application/xml; charset=utf-8"])
        self.assertTrue(r.body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<user type="admin">'))
        for piece in (b"<name>Elliot</name>", b"<facebook>https://facebook.com</facebook>",
                      b"<twitter>https://twitter.com</twitter>", b"<youtube>https://youtube.com</youtube>"):
            self.assertIn(piece, r.body)

    @unittest.skipUnless(HAVE_SUITE, "suite not found")
    def test_jwk_signs_the_spec_tokens(self):
        keys = json.loads(self.get("/jwk/symmetric").body)["keys"]
        sim2 = next(k for k in keys if k["kid"] == "sim2")
        self.assertEqual(sim2["alg"], "HS256")
        secret = base64.urlsafe_b64decode(sim2["k"] + "=" * (-len(sim2["k"]) % 4))

        def verify(token: str) -> bool:
            signing_input, _, sig = token.rpartition(".")
            mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
            return base64.urlsafe_b64encode(mac).rstrip(b"=").decode() == sig

        for name in ("jwt_1", "jwt_3", "jwt_5", "cel-7"):
            self.assertTrue(verify(spec(name)["in"]["header"]["authorization"].split(" ", 1)[1]), name)
        self.assertTrue(verify(json.loads(spec("jwt_4")["out"]["body"])["access_token"]))
        self.assertFalse(verify(spec("cel-6")["in"]["header"]["authorization"].split(" ", 1)[1]))

    def test_keep_alive(self):
        req = b"GET /jwk/symmetric HTTP/1.1\r\nHost: x\r\n\r\n"
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            f = s.makefile("rb")
            for _ in range(2):
                s.sendall(req)
                self.assertEqual(f.readline(), b"HTTP/1.1 200 OK\r\n")
                length = 0
                while True:
                    line = f.readline()
                    if line == b"\r\n":
                        break
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                self.assertEqual(len(f.read(length)), length)


if __name__ == "__main__":
    unittest.main()
