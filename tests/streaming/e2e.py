"""Streaming passthrough end to end (issue 19 point 2, docs/streaming.md): a scripted backend
in this process, `manifold run` on free loopback ports, always stopped.

  sse       the first event reaches the client while the backend still holds the stream
            open: the backend sends the rest only after the test, having read the event,
            calls /release (no sleeps: the release is the signal)
  download  200 MB through the gateway, checked by length and SHA-256; the gateway's peak
            RSS (VmHWM) grows by less than 64 MB over its idle peak
  idle      a backend that stalls mid-stream: after the endpoint timeout (1 s) the answer is
            aborted (no final chunk), the cause logged once; a backend whose gaps stay under
            the timeout streams longer than it in total

Usage: e2e.py MANIFOLD_BINARY. The last line is `streaming: P passed, F failed`.
"""

import hashlib
import http.server
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

DOWNLOAD = 200 * 1024 * 1024
BLOCK = bytes((i * 7 + 3) % 251 for i in range(64 * 1024))
GROWTH_LIMIT_KB = 64 * 1024


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)  # polling a readiness condition, not synchronising on time
    raise RuntimeError(f"timed out waiting for {what}")


def answers(port):
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
        return True
    except OSError:
        return False


class Backend:
    """The scripted backend: /events (SSE held open until /release), /download, /stall,
    /slow."""

    def __init__(self):
        self.released = threading.Event()
        self.events_done = threading.Event()
        self.release_came_first = None
        backend = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def chunk(self, data):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

            def head(self, content_type, length=None):
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                if length is None:
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.send_header("Content-Length", str(length))
                self.end_headers()

            def do_GET(self):
                try:
                    self.route()
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def route(self):
                if self.path == "/release":
                    backend.released.set()
                    self.head("text/plain", 2)
                    self.wfile.write(b"ok")
                elif self.path == "/events":
                    self.head("text/event-stream")
                    self.chunk(b"data: one\n\n")
                    # The rest only once the client has seen the first event (or never).
                    backend.release_came_first = backend.released.wait(30)
                    self.chunk(b"data: two\n\n")
                    self.wfile.write(b"0\r\n\r\n")
                    backend.events_done.set()
                elif self.path == "/download":
                    self.head("application/octet-stream", DOWNLOAD)
                    for _ in range(DOWNLOAD // len(BLOCK)):
                        self.wfile.write(BLOCK)
                elif self.path == "/stall":
                    self.head("text/event-stream")
                    self.chunk(b"data: before the stall\n\n")
                    # Holds the stream open without a byte until the gateway gives up on it.
                    threading.Event().wait(30)
                elif self.path == "/slow":
                    self.head("text/event-stream")
                    for i in range(4):
                        self.chunk(b"data: %d\n\n" % i)
                        # The backend's pace (0.6 s gaps, 2.4 s in all, timeout 1 s).
                        time.sleep(0.6)
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.send_error(404)

            def log_message(self, *_):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def config(backend_port):
    def endpoint(path, timeout="1s"):
        return {
            "endpoint": path,
            "output_encoding": "no-op",
            "timeout": timeout,
            "backend": [{
                "host": [f"http://127.0.0.1:{backend_port}"],
                "url_pattern": path,
                "encoding": "no-op",
            }],
        }
    return {
        "version": 3,
        "endpoints": [endpoint("/events"), endpoint("/download"), endpoint("/stall"),
                      endpoint("/slow")],
    }


def request(port, path):
    s = socket.create_connection(("127.0.0.1", port), 10)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
    return s


class Reader:
    """An HTTP/1.1 response read off a socket by hand, so the test sees each chunk when it
    arrives."""

    def __init__(self, sock):
        self.sock, self.buf = sock, b""
        self.head = self.until(b"\r\n\r\n").decode()

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed")
        self.buf += data

    def until(self, mark):
        while mark not in self.buf:
            self.fill()
        out, self.buf = self.buf.split(mark, 1)
        return out

    def chunk(self):
        """The next chunk's data (b"" for the last chunk)."""
        size = int(self.until(b"\r\n"), 16)
        while len(self.buf) < size + 2:
            self.fill()
        data, self.buf = self.buf[:size], self.buf[size + 2:]
        return data


def vm(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {key} for {pid}")


def main():
    manifold = sys.argv[1]
    passed = failed = 0

    def check(name, ok, detail=""):
        nonlocal passed, failed
        if ok:
            passed += 1
            print(f"ok   {name}")
        else:
            failed += 1
            print(f"FAIL {name}{': ' + detail if detail else ''}")

    backend = Backend()
    work = tempfile.mkdtemp(prefix="streaming-e2e-")
    path = os.path.join(work, "gateway.json")
    with open(path, "w") as f:
        json.dump(config(backend.port), f)
    port = free_port()
    log_path = os.path.join(work, "gateway.log")
    log = open(log_path, "w")
    gw = subprocess.Popen([manifold, "run", "-c", path, "-p", str(port)], stdout=log,
                          stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: answers(port), 30, "manifold run")

        # sse: the first event before the backend finishes.
        sock = request(port, "/events")
        r = Reader(sock)
        first = r.chunk()
        check("sse: first event arrives while the backend holds the stream",
              first == b"data: one\n\n" and not backend.events_done.is_set(),
              repr(first))
        check("sse: answered 200 as text/event-stream, chunked",
              r.head.startswith("HTTP/1.1 200") and "text/event-stream" in r.head
              and "transfer-encoding: chunked" in r.head.lower(), r.head)
        urlopen_release(backend.port)
        rest = r.chunk()
        last = r.chunk()
        sock.close()
        check("sse: the rest follows the release, then a clean end",
              rest == b"data: two\n\n" and last == b"" and backend.release_came_first is True,
              f"{rest!r} {last!r} released first: {backend.release_came_first}")

        # download: 200 MB, flat memory.
        idle_rss, idle_hwm = vm(gw.pid, "VmRSS"), vm(gw.pid, "VmHWM")
        sock = request(port, "/download")
        r = Reader(sock)
        digest, length = hashlib.sha256(), 0
        data = r.buf
        r.buf = b""
        while True:
            digest.update(data)
            length += len(data)
            if length >= DOWNLOAD:
                break
            data = sock.recv(1 << 20)
            if not data:
                break
        sock.close()
        expected = hashlib.sha256()
        for _ in range(DOWNLOAD // len(BLOCK)):
            expected.update(BLOCK)
        check("download: 200 MB arrive whole (length and SHA-256)",
              length == DOWNLOAD and digest.hexdigest() == expected.hexdigest()
              and f"content-length: {DOWNLOAD}" in r.head.lower(),
              f"{length} bytes, {digest.hexdigest()[:16]}, head {r.head!r}")
        hwm = vm(gw.pid, "VmHWM")
        growth = hwm - idle_hwm
        print(f"     gateway RSS idle {idle_rss // 1024} MB, peak {idle_hwm // 1024} MB before and "
              f"{hwm // 1024} MB after the download (+{growth // 1024} MB)")
        check("download: gateway peak RSS grows by < 64 MB", growth < GROWTH_LIMIT_KB,
              f"+{growth} kB")

        # idle: a stalled stream is aborted after the timeout; the cause is logged once.
        sock = request(port, "/stall")
        r = Reader(sock)
        first = r.chunk()
        try:
            r.chunk()
            ended = "a clean end"
        except (EOFError, ValueError, ConnectionResetError) as e:
            ended = f"aborted ({type(e).__name__})"
        except socket.timeout:
            ended = "still open after 10 s"
        sock.close()
        check("idle: a stalled stream is aborted, not ended cleanly",
              first == b"data: before the stall\n\n" and ended.startswith("aborted"),
              f"{first!r}, {ended}")
        log.flush()

        def logged():
            with open(log_path) as f:
                return f.read().count("streamed answer aborted")
        wait_for(lambda: logged() >= 1, 5, "the abort's log line")
        check("idle: the cause is logged once", logged() == 1, f"{logged()} lines")

        sock = request(port, "/slow")
        r = Reader(sock)
        chunks = []
        while True:
            c = r.chunk()
            if not c:
                break
            chunks.append(c)
        sock.close()
        check("idle: gaps under the timeout stream past it in total",
              chunks == [b"data: %d\n\n" % i for i in range(4)], repr(chunks))
    except Exception as e:  # a broken step is a failure, reported with its cause
        check("streaming e2e ran to the end", False, f"{type(e).__name__}: {e}")
    finally:
        gw.terminate()
        try:
            gw.wait(10)
        except subprocess.TimeoutExpired:
            gw.kill()
        log.close()
        backend.server.shutdown()
        if failed:
            with open(log_path) as f:
                print("     gateway log (tail):")
                for line in f.read().splitlines()[-10:]:
                    print("     " + line)
        for name in os.listdir(work):
            os.remove(os.path.join(work, name))
        os.rmdir(work)
    print(f"streaming: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


def urlopen_release(backend_port):
    s = socket.create_connection(("127.0.0.1", backend_port), 10)
    s.sendall(b"GET /release HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    while s.recv(4096):
        pass
    s.close()


if __name__ == "__main__":
    main()
