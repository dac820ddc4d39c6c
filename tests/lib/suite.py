"""Helpers the Python end-to-end suites share: the pass/fail tally, free ports, polling.

Imported by tests/redis/e2e.py and tests/dns-sd/e2e.py (`sys.path` gets tests/lib)."""

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


def free_port(udp=False):
    """A free TCP port on 127.0.0.1; with `udp`, free for UDP too (a DNS server listens on both)."""
    while True:
        kind = socket.SOCK_DGRAM if udp else socket.SOCK_STREAM
        with socket.socket(socket.AF_INET, kind) as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            if not udp:
                return port
            try:
                with socket.socket() as tcp:
                    tcp.bind(("127.0.0.1", port))
                    return port
            except OSError:
                continue


def wait_for(predicate, timeout, what):
    """Polls `predicate` every 50 ms until it holds; raises after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")
