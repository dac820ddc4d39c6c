#!/usr/bin/env python3
"""Writes tests/e2e-jwt/tokens.json: the HS256 key and tokens of the adapter e2e suites' JWT cases
(and of the Workers suite's bad-input cases: wrong alg, expired, exp a string, kid a path, jku,
1000 dots, a sub with ../).

Used by tests/worker (scenarios.json, e2e.test.mjs) and tests/lambda (e2e.py); the key also
sits inline (`jwk_keys`) in tests/lambda/gateway.e2e.json, and is a run-time value
(`${env:E2E_JWT_K}`, read from this file by the scripts) in tests/worker/gateway.json and
tests/lambda/secrets.e2e.json.
Standard library only (hmac + base64url). Deterministic: a fixed test-only key and fixed
claims (iat 2026-01-01, exp 2100-01-01), so running it again rewrites the same file.

Usage: python3 tests/e2e-jwt/generate.py
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

# A test-only HS256 secret (32 bytes). Never use it anywhere else.
SECRET = hashlib.sha256(b"manifold adapter e2e, test only").digest()
KID = "e2e"
IAT = 1767225600  # 2026-01-01T00:00:00Z
EXP = 4102444800  # 2100-01-01T00:00:00Z: far enough that nothing expires during the suites


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def part(value: dict) -> str:
    return b64url(json.dumps(value, separators=(",", ":"), sort_keys=True).encode())


def sign(digest, header: dict, claims: dict, secret: bytes = SECRET) -> str:
    signing_input = f"{part(header)}.{part(claims)}"
    sig = hmac.new(secret, signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64url(sig)}"


def hs256(header: dict, claims: dict) -> str:
    return sign(hashlib.sha256, header, claims)


def claims(roles: list[str]) -> dict:
    return {"sub": "user-7", "roles": roles, "iat": IAT, "exp": EXP}


def main() -> None:
    header = {"alg": "HS256", "kid": KID, "typ": "JWT"}
    valid = hs256(header, claims(["reader"]))
    head, body, sig = valid.split(".")
    # The same token with its signature's first byte changed: well formed, wrong MAC.
    raw = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
    raw[0] ^= 0xFF
    tokens = {
        "valid": valid,
        "no_role": hs256(header, claims(["guest"])),
        "bad_signature": f"{head}.{body}.{b64url(bytes(raw))}",
        # Unsigned (RFC 7519 §6): header alg "none", same claims, empty signature.
        "alg_none": f"{part({'alg': 'none', 'typ': 'JWT'})}.{body}.",
    }
    # Bad-input matrix group F (docs/bad-input.md), each otherwise a valid token:
    reader = claims(["reader"])
    tokens |= {
        # F57: HS512 over the same key where HS256 is configured.
        "alg_hs512": sign(hashlib.sha512, {**header, "alg": "HS512"}, reader),
        # F58: expired an hour after it was issued.
        "exp_past": hs256(header, {**reader, "exp": IAT + 3600}),
        # F59: exp of the wrong type.
        "exp_string": hs256(header, {**reader, "exp": str(EXP)}),
        # F61: a kid that is a path, not a key id of the set.
        "kid_traversal": hs256({**header, "kid": "../../dev/null"}, reader),
        # F62: signed with the attacker's key, which a jku header points at.
        "jku_attacker": sign(
            hashlib.sha256,
            {**header, "kid": "attacker", "jku": "https://evil.example/jwks.json"},
            reader,
            b"attacker key, test only",
        ),
        # F64: a thousand segments.
        "many_dots": valid + "." * 1000,
        # A13: a claim that would walk up the backend path if it were not encoded.
        "sub_traversal": hs256(header, {**reader, "sub": "../admin?x=1"}),
    }
    out = {
        "description": "Written by tests/e2e-jwt/generate.py (HS256 over the test-only key below); do not edit by hand.",
        "jwk": {"kty": "oct", "kid": KID, "alg": "HS256", "k": b64url(SECRET)},
        "claims": {"valid": claims(["reader"]), "no_role": claims(["guest"])},
        "tokens": tokens,
    }
    path = Path(__file__).resolve().parent / "tokens.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
