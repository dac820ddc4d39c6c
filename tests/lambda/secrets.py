#!/usr/bin/env python3
"""Secrets read at cold start, never embedded (issue #11 point 8), run by scripts/lambda-e2e.sh.

The bootstrap is built with tests/lambda/secrets.e2e.json embedded (MANIFOLD_CONFIG), whose
JWT key (`${env:E2E_JWT_K}`), backend credential (`${env:E2E_BACKEND_KEY}`, in the backend's
query: Manifold has no static backend header) and backend port (`${env:E2E_BACKEND_PORT:-8080}`)
are run-time placeholders. Checks:
  * the built `bootstrap` holds the placeholder but neither secret's bytes, although both were
    in the build's environment (the script exports them before building);
  * `cargo lambda watch --env-var ...` supplies them: the JWT cases and the backend credential
    work through every event kind and the Function-URL emulation;
  * without E2E_JWT_K the function does not start: its init fails naming the variable and its
    place in the config, and nothing in the log shows the other secret.

Reuses the processes, events and checks of e2e.py (same directory). The secrets come from the
environment (E2E_JWT_K: the key of tests/e2e-jwt/tokens.json; E2E_BACKEND_KEY: random per run).
Output: `ok`/`FAIL` per check, last line `secrets.py: P passed, F failed`; --counts FILE as e2e.py.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import e2e
from e2e import HERE, ROOT, Processes, Scenario, bearer, expectations, free_port, wait_port

CONFIG = HERE / "secrets.e2e.json"


def scenarios(key: str) -> list[Scenario]:
    return [
        Scenario("secret-jwt-valid", "GET", "/jwt/7", "", [bearer("valid")],
                 expect={"status": 200, "json": {"path": "/echo/jwt/7/user-7", "headers.x-user": "user-7"}}),
        Scenario("secret-jwt-bad-signature", "GET", "/jwt/7", "", [bearer("bad_signature")],
                 expect={"status": 401, "body": b""}),
        Scenario("secret-backend-key", "GET", "/keyed",
                 expect={"status": 200, "json": {"path": "/echo/keyed", "query": f"api_key={key}"}}),
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bootstrap", required=True, help="the bootstrap built with secrets.e2e.json")
    ap.add_argument("--counts", help="write 'PASSED FAILED' here")
    args = ap.parse_args()
    jwt_key, backend_key = os.environ["E2E_JWT_K"], os.environ["E2E_BACKEND_KEY"]
    logs = Path(tempfile.mkdtemp(prefix="manifold-lambda-secrets-"))
    tally = e2e.Tally()
    check = tally.check

    def artifact() -> None:
        data = Path(args.bootstrap).read_bytes()
        problems = [f"{what} is in {args.bootstrap} ({data.count(value.encode())} times)"
                    for what, value in (("the JWT key", jwt_key), ("the backend key", backend_key))
                    if value.encode() in data]
        if b"${env:E2E_JWT_K}" not in data:
            problems.append("the placeholder ${env:E2E_JWT_K} is not in the bootstrap: wrong build?")
        check("bootstrap holds the placeholders, not the secrets", problems)

    procs = Processes()
    # The emulator passes its own environment on to the function: the secrets reach it only
    # through --env-var, as they reach a deployed function only through its configuration.
    env = {k: v for k, v in os.environ.items() if k not in ("E2E_JWT_K", "E2E_BACKEND_KEY")}
    env["MANIFOLD_CONFIG"] = str(CONFIG.relative_to(ROOT))
    try:
        artifact()
        backend = procs.start("backend", [sys.executable, str(HERE / "backend.py"), "0"],
                              logs / "backend.log", stdout=subprocess.PIPE)
        backend_port = int(backend.stdout.readline())

        def watch(port: int, env_vars: str, log: str) -> subprocess.Popen:
            return procs.start(f"cargo lambda watch ({log})", [
                "cargo", "lambda", "watch", "-p", "manifold-lambda", "--bin", e2e.FUNCTION,
                "--ignore-changes", "-A", "127.0.0.1", "-P", str(port), "--disable-cors",
                "--env-var", env_vars], logs / log, env=env)

        port = free_port()
        watcher = watch(port, f"E2E_JWT_K={jwt_key},E2E_BACKEND_KEY={backend_key},"
                              f"E2E_BACKEND_PORT={backend_port}", "watch.log")
        wait_port(port, watcher, "cargo lambda watch", 120)
        for s in scenarios(backend_key):
            for kind, build in e2e.EVENT_KINDS.items():
                try:
                    got = e2e.invoke(port, build(s), logs, f"{s.name}.{kind}")
                    check(f"{s.name} via {kind}", expectations(got, s.expect, kind))
                except Exception as e:  # noqa: BLE001 - any failure is this check's failure
                    check(f"{s.name} via {kind}", [f"{type(e).__name__}: {e}"])
            try:
                got = e2e.http_call(port, s, prefix=f"/lambda-url/{e2e.FUNCTION}", single_headers=True)
                check(f"{s.name} via function-url-http", expectations(got, s.expect, "function-url-http"))
            except Exception as e:  # noqa: BLE001
                check(f"{s.name} via function-url-http", [f"{type(e).__name__}: {e}"])

        # Without the JWT key: the init fails (the emulator keeps the invocation waiting, as
        # Lambda would retry the init), and the log names the variable and where it is used.
        missing_port = free_port()
        missing = watch(missing_port, f"E2E_BACKEND_KEY={backend_key},E2E_BACKEND_PORT={backend_port}",
                        "watch-missing.log")
        wait_port(missing_port, missing, "cargo lambda watch (missing key)", 120)
        event = logs / "missing.json"
        event.write_text(json.dumps(e2e.http_v2(scenarios(backend_key)[2])))
        invoke = procs.start("invoke (missing key)", [
            "cargo", "lambda", "invoke", "-A", "127.0.0.1", "-P", str(missing_port), e2e.FUNCTION,
            "--data-file", str(event)], logs / "invoke-missing.log")
        log, deadline = logs / "watch-missing.log", time.monotonic() + 120
        while "cannot start" not in log.read_text(errors="replace") and time.monotonic() < deadline:
            if invoke.poll() is not None:
                break
            time.sleep(0.2)
        text = log.read_text(errors="replace")
        want = "16:84: run-time variable `E2E_JWT_K` is not set"
        check("a missing secret fails the init, named and located, no value shown", [
            *([] if "manifold-lambda: cannot start" in text else ["no 'cannot start' line in the log"]),
            *([] if want in text else [f"no {want!r} in the log"]),
            *(["the backend key is in the log"] if backend_key in text else []),
        ])
    except Exception as e:  # noqa: BLE001 - setup failures are counted, never skipped
        check("setup", [f"{type(e).__name__}: {e}"])
    finally:
        procs.stop()

    return tally.finish("secrets.py", logs, args.counts)


if __name__ == "__main__":
    sys.exit(main())
