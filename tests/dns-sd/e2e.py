#!/usr/bin/env python3
"""`"sd": "dns"` service discovery against a real DNS server (issue 17 point 7).

Started here, all on loopback and always stopped: dnsmasq on a free port serving SRV records
(`--srv-host`, TTL 1 s), three HTTP backends that say who they are, and `manifold run` with
MANIFOLD_DNS_SERVER pointing at dnsmasq. Checked:

  1. 40 requests: the two priority-10 targets get exactly 30 and 10 (weights 3 and 1: the
     balancer is deterministic, each round of 4 calls reaches them 3:1), the priority-20
     target none.
  2. An SRV name that does not exist: 500, and the access log's backend call says
     `"failure": "discovery"` with the name.
  3. dnsmasq stopped: requests over the next 2.5 s (past the 1 s TTL) still succeed from the
     last good answer (kept for a bounded time, docs/service-discovery.md).
  4. dnsmasq restarted with new records (only the third backend): polled until the third
     backend gets the traffic (deadline 15 s), then 10 requests all reach it.
  5. `manifold check`: a host with a scheme under `sd: dns` is an error at its line:column.

Usage: e2e.py MANIFOLD_BINARY DNSMASQ. Prints one line per check and, last,
`dns sd: P passed, F failed`; exit status 1 on any failure.
"""

import http.server
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from suite import Suite, free_port, lasting_port, wait_for  # noqa: E402 (after the path above)

SRV = "_api._tcp.sd.test"
MISSING = "_nope._tcp.sd.test"






def get(port, path, timeout=10):
    """(status, body) of one GET; status 0 when the connection failed."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return 0, b""


def who(port):
    """Which backend answered /api (None when the call failed)."""
    status, body = get(port, "/api")
    if status != 200:
        return None
    return json.loads(body).get("backend")


class NamedBackend(http.server.ThreadingHTTPServer):
    """Answers every GET with {"backend": name}."""

    def __init__(self, name):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = json.dumps({"backend": name}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_):
                pass

        super().__init__(("127.0.0.1", 0), Handler)




def srv_answers(port, name):
    """Whether dnsmasq answers an SRV query for `name` (a hand-made DNS query over UDP)."""
    qname = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
    query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + qname + b"\x00\x21\x00\x01"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        try:
            s.sendto(query, ("127.0.0.1", port))
            answer = s.recv(512)
        except OSError:
            return False
    return len(answer) > 12 and answer[:2] == b"\x12\x34" and answer[7] > 0  # ANCOUNT


def main():
    manifold, dnsmasq = sys.argv[1], sys.argv[2]
    suite = Suite()
    work = tempfile.mkdtemp(prefix="manifold-dns-sd-")
    procs = {}
    # dnsmasq is stopped and started again on its port (check 4).
    dns_port, gw_port = lasting_port(), free_port()
    backends = {name: NamedBackend(name) for name in ("one", "two", "three")}
    for b in backends.values():
        threading.Thread(target=b.serve_forever, daemon=True).start()
    port_of = {name: b.server_address[1] for name, b in backends.items()}

    def start_dns(records):
        """dnsmasq serving `records` [(priority, weight, backend name)] for SRV."""
        args = [dnsmasq, "--keep-in-foreground", "--log-facility=-", "--conf-file=/dev/null",
                "--no-resolv", "--no-hosts", f"--port={dns_port}",
                "--listen-address=127.0.0.1", "--bind-interfaces", "--local=/sd.test/",
                "--local-ttl=1", "--pid-file="]
        # Root (CI) drops to this user after binding; as a user, dnsmasq stays that user.
        if os.getuid() == 0:
            args.append("--user=nobody")
        for prio, weight, name in records:
            args.append(f"--srv-host={SRV},localhost,{port_of[name]},{prio},{weight}")
        log = open(os.path.join(work, "dnsmasq.log"), "a")
        procs["dns"] = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        wait_for(lambda: srv_answers(dns_port, SRV), 10, "dnsmasq")

    def stop_dns():
        p = procs.pop("dns", None)
        if p:
            p.terminate()
            p.wait(10)

    config = {"version": 3, "port": gw_port, "endpoints": [
        {"endpoint": "/api", "backend": [
            {"sd": "dns", "sd_scheme": "http", "host": [SRV], "url_pattern": "/who"}]},
        {"endpoint": "/missing", "backend": [
            {"sd": "dns", "host": [MISSING], "url_pattern": "/who"}]},
    ]}
    path = os.path.join(work, "gateway.json")
    with open(path, "w") as f:
        json.dump(config, f)
    log_path = os.path.join(work, "gateway.log")
    # Append mode, and read through a file of its own: the child shares this file's offset,
    # so a reader seeking on it moved where the gateway wrote next (a line written while the
    # test read from the start overwrote earlier ones, and /missing's line was lost).
    log = open(log_path, "a")
    try:
        start_dns([(10, 3, "one"), (10, 1, "two"), (20, 100, "three")])
        env = dict(os.environ, MANIFOLD_DNS_SERVER=f"127.0.0.1:{dns_port}")
        procs["gw"] = subprocess.Popen([manifold, "run", "-c", path, "--log-format", "json"],
                                       stdout=log, stderr=subprocess.STDOUT, env=env)
        wait_for(lambda: get(gw_port, "/__health", 1)[0] == 200, 60, "manifold")

        # 1. weights: exact counts from the deterministic balancer.
        answers = [who(gw_port) for _ in range(40)]
        counts = {n: answers.count(n) for n in ("one", "two", "three", None)}
        suite.check("40 requests, SRV weights 3:1 (priority 10) and a priority-20 backup: "
                    "exactly 30 / 10 / 0", counts == {"one": 30, "two": 10, "three": 0, None: 0},
                    f"{counts}")
        suite.check("the weights interleave (no run of 4 to the heavy target)",
                    all(answers[i:i + 4].count("two") == 1 for i in range(0, 40, 4)),
                    f"{answers}")

        # 2. a name without records.
        status, _ = get(gw_port, "/missing")
        suite.check("an SRV name that does not exist: 500", status == 500, f"status {status}")
        found = []

        def logged():
            with open(log_path) as lines:
                return any(missing_line(line) for line in lines)

        def missing_line(line):
            try:
                fields = json.loads(line).get("fields", {})
            except ValueError:
                return False
            if fields.get("endpoint") != "/missing":
                return False
            calls = fields.get("calls")
            found[:] = json.loads(calls) if isinstance(calls, str) else calls or []
            return True

        wait_for(logged, 10, "the access log line of /missing")
        suite.check("the access log's backend call has failure `discovery`, naming the SRV name",
                    len(found) == 1 and found[0].get("failure") == "discovery"
                    and MISSING in found[0].get("error", ""), f"calls: {found}")

        # 3. DNS down: the last good answer serves past its TTL, for a bounded time.
        stop_dns()
        window_end = time.monotonic() + 2.5
        during = []
        while time.monotonic() < window_end:
            during.append(who(gw_port))
        suite.check(f"dnsmasq stopped: {len(during)} requests over 2.5 s (TTL 1 s) all served "
                    "from the kept answer", len(during) > 0 and all(w in ("one", "two") for w in during),
                    f"{ {n: during.count(n) for n in set(during)} }")

        # 4. new records after the TTL: polled until the new target gets the traffic.
        start_dns([(10, 1, "three")])
        started = time.monotonic()
        try:
            wait_for(lambda: who(gw_port) == "three", 15, "traffic to the new SRV target")
            took = time.monotonic() - started
            after = [who(gw_port) for _ in range(10)]
            suite.check(f"changed SRV records picked up ({took:.1f} s after dnsmasq restarted), "
                        "then all 10 requests reach the new target", after == ["three"] * 10,
                        f"{after}")
        except RuntimeError as e:
            suite.check("changed SRV records picked up", False, str(e))

        # 5. check: a scheme in an SRV host is an error at its position.
        bad = os.path.join(work, "bad.json")
        with open(bad, "w") as f:
            f.write('{"version": 3, "endpoints": [{"endpoint": "/a", "backend": [\n'
                    '  {"sd": "dns", "host": ["http://_api._tcp.sd.test"], "url_pattern": "/"}]}]}\n')
        out = subprocess.run([manifold, "check", "-c", bad], capture_output=True, text=True)
        text = out.stdout + out.stderr
        suite.check("manifold check: a scheme in an `sd: dns` host is an error at 2:26",
                    out.returncode == 1 and ":2:26: endpoints[0].backend[0].host[0]" in text
                    and "sd_scheme" in text, text)
    except Exception as e:  # noqa: BLE001 - a broken setup is one failed check, not a trace
        suite.check("setup", False, repr(e))
    finally:
        for p in procs.values():
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        for b in backends.values():
            b.shutdown()
        log.close()
        subprocess.run(["rm", "-rf", work])
    print(f"dns sd: {suite.passed} passed, {suite.failed} failed")
    sys.exit(0 if suite.failed == 0 else 1)


if __name__ == "__main__":
    main()
