"""Helpers the Python end-to-end suites share: the pass/fail tally, free ports, polling.

Imported by tests/redis/e2e.py and tests/dns-sd/e2e.py (`sys.path` gets tests/lib)."""

import random
import socket
import sys
import time


class Suite:
    """Counts checks and prints one `ok`/`FAIL` line each, flushed at once (the scripts tee it)."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"ok   {name}")
        else:
            self.failed += 1
            print(f"FAIL {name}{': ' + detail if detail else ''}")
        sys.stdout.flush()


def free_port():
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def lasting_port():
    """A port free for TCP and UDP on 127.0.0.1 below the kernel's ephemeral range, for a server
    the test stops and starts again on the same port: an ephemeral port can meanwhile become the
    local end of a client's connection or query (the gateway's own DNS queries, the test's
    requests), and the restarted server then fails to bind it."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for port in random.sample(range(10000, max(low, 10001)), min(500, max(low - 10000, 1))):
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, socket.socket() as tcp:
                udp.bind(("127.0.0.1", port))
                tcp.bind(("127.0.0.1", port))
                return port
        except OSError:
            continue
    raise RuntimeError(f"no port free for TCP and UDP between 10000 and {low}")


def wait_for(predicate, timeout, what):
    """Polls `predicate` every 50 ms until it holds; raises after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")
