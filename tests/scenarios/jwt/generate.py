#!/usr/bin/env python3
"""Writes the JWT scenario folders (tests/scenarios/jwt/<case>/{config,plan}.json) and
tests/scenarios/jwt/tokens.json (tokens for the multi-request cache tests in tests/jwt.rs).

Test keys: generated once with `cryptography` and kept in keys.json next to this script (TEST
KEYS ONLY, never used anywhere else). Re-running reuses them; HS/RS/EdDSA tokens come out
byte-identical, ES/PS tokens differ (random nonces/salts) but stay valid. Virtual time in the
scenario runner starts at 2026-01-01T00:00:00Z (NOW below).

Usage: python3 tests/scenarios/jwt/generate.py      (needs python3-cryptography)
"""

import base64
import hashlib
import hmac
import json
import os
import shutil

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

HERE = os.path.dirname(os.path.abspath(__file__))
NOW = 1_767_225_600
JWKS_URL = "https://idp.test/jwks.json"
API = "http://api.internal"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64int(n: int, size=None) -> str:
    size = size or (n.bit_length() + 7) // 8
    return b64(n.to_bytes(size, "big"))


def compact(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


# --- keys --------------------------------------------------------------------------------

def load_keys():
    path = os.path.join(HERE, "keys.json")
    if os.path.exists(path):
        raw = json.load(open(path))
    else:
        pem = lambda k: k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()).decode()
        raw = {
            "rsa": pem(rsa.generate_private_key(65537, 2048)),
            "rsa_attacker": pem(rsa.generate_private_key(65537, 2048)),
            "p256": pem(ec.generate_private_key(ec.SECP256R1())),
            "p384": pem(ec.generate_private_key(ec.SECP384R1())),
            "ed25519": pem(ed25519.Ed25519PrivateKey.generate()),
            "hmac": b64(os.urandom(64)),
        }
        json.dump(raw, open(path, "w"), indent=1)
    load = lambda s: serialization.load_pem_private_key(s.encode(), None)
    return {k: (load(v) if k != "hmac" else base64.urlsafe_b64decode(v + "==")) for k, v in raw.items()}


K = load_keys()


def public_jwk(name, kid):
    k = K[name]
    if name == "hmac":
        return {"kty": "oct", "k": b64(k), "kid": kid, "alg": "HS256"}
    pub = k.public_key()
    if name.startswith("rsa"):
        n = pub.public_numbers()
        return {"kty": "RSA", "n": b64int(n.n), "e": b64int(n.e), "kid": kid}
    if name in ("p256", "p384"):
        n = pub.public_numbers()
        size = 32 if name == "p256" else 48
        return {"kty": "EC", "crv": "P-256" if name == "p256" else "P-384",
                "x": b64int(n.x, size), "y": b64int(n.y, size), "kid": kid}
    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64(raw), "kid": kid}


def sign(alg, key_name, signing_input: bytes) -> bytes:
    k = K[key_name]
    hs = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}
    if alg.startswith("HS"):
        secret = k if isinstance(k, bytes) else key_name  # key_name may be raw bytes (confusion)
        return hmac.new(secret, signing_input, getattr(hashlib, "sha" + alg[2:])).digest()
    if alg.startswith("RS"):
        return k.sign(signing_input, padding.PKCS1v15(), hs[alg[2:]])
    if alg.startswith("PS"):
        return k.sign(signing_input, padding.PSS(padding.MGF1(hs[alg[2:]]), hs[alg[2:]].digest_size), hs[alg[2:]])
    if alg.startswith("ES"):
        der = k.sign(signing_input, ec.ECDSA(hs[alg[2:]]))
        r, s = decode_dss_signature(der)
        size = 32 if alg == "ES256" else 48
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    if alg == "EdDSA":
        return k.sign(signing_input)
    raise ValueError(alg)


def claims(**over):
    c = {"iss": "https://idp.test", "aud": "api", "sub": "user-1", "exp": NOW + 3600,
         "iat": NOW - 60, "roles": ["reader"], "scope": "read:a read:b"}
    for k, v in over.items():
        if v is DROP:
            c.pop(k, None)
        else:
            c[k] = v
    return c


DROP = object()


def token(alg="HS256", key="hmac", kid="k1", payload=None, header=None, sig=None):
    h = {"alg": alg, "typ": "JWT"}
    if kid is not None:
        h["kid"] = kid
    h.update(header or {})
    signing_input = (b64(compact(h)) + "." + b64(compact(payload or claims()))).encode()
    if sig is None:
        sig = b"" if alg.lower() == "none" else sign(alg, key, signing_input)
    return signing_input.decode() + "." + b64(sig)


# --- scenario writing --------------------------------------------------------------------

KEYSETS = {
    "HS256": "hmac", "HS384": "hmac", "HS512": "hmac", "RS256": "rsa", "RS384": "rsa",
    "RS512": "rsa", "PS256": "rsa", "ES256": "p256", "ES384": "p384", "EdDSA": "ed25519",
}


def jwks(alg):
    jwk = public_jwk(KEYSETS[alg], "k1")
    if jwk["kty"] == "oct":
        jwk["alg"] = alg
    return {"keys": [jwk]}


def write(case, description, request_headers, expect, alg="HS256", validator=None,
          url_pattern="/data", jwks_reply=None, endpoint_extra=None, input_headers=None,
          backends=None):
    cfg_v = {"alg": alg, "jwk_url": JWKS_URL, "issuer": "https://idp.test", "audience": ["api"]}
    cfg_v.update(validator or {})
    cfg_v = {k: v for k, v in cfg_v.items() if v is not None}
    endpoint = {"endpoint": "/private/{id}", "backend": [{"url_pattern": url_pattern}],
                "extra_config": {"auth/validator": cfg_v, **(endpoint_extra or {})}}
    if input_headers:
        endpoint["input_headers"] = input_headers
    config = {"version": 3, "host": [API], "endpoints": [endpoint]}
    replies = {JWKS_URL: jwks_reply or {"status": 200, "headers": {"Content-Type": "application/json"},
                                        "body": json.dumps(jwks(alg or "RS256"))},
               API + "/data": {"status": 200, "body": "{\"secret\":1}"}}
    replies.update(backends or {})
    plan = {"description": description, "backends": replies,
            "request": {"method": "GET", "path": "/private/42", "headers": request_headers},
            "expect": expect}
    d = os.path.join(HERE, case)
    os.makedirs(d, exist_ok=True)
    json.dump(config, open(os.path.join(d, "config.json"), "w"), indent=2)
    json.dump(plan, open(os.path.join(d, "plan.json"), "w"), indent=2)


def bearer(t):
    return {"Authorization": "Bearer " + t}


# The empty answer of a refused token: no body, no content type, no X-Krakend headers.
REFUSED = {"body": "", "headers": {"content-type": None, "x-krakend": None,
                                   "x-krakend-completed": None, "cache-control": None}}


def e401(**extra):
    return {"status": 401, **REFUSED, "calls": [], **extra}


def e403():
    return {"status": 403, **REFUSED}


def ok(**extra):
    return {"status": 200, "json": {"secret": 1}, **extra}


def main():
    for name in os.listdir(HERE):
        if os.path.isdir(os.path.join(HERE, name)):
            shutil.rmtree(os.path.join(HERE, name))

    for alg in KEYSETS:
        write(f"alg_{alg.lower()}_valid", f"a valid {alg} token verified with a key from jwk_url",
              bearer(token(alg, KEYSETS[alg])), ok(), alg=alg)
    write("inline_jwk_keys", "keys given inline (`jwk_keys`): no fetch at all",
          bearer(token("RS256", "rsa")), ok(call_count=1), alg="RS256",
          validator={"jwk_url": None, "jwk_keys": jwks("RS256")})
    write("default_alg_is_rs256", "without `alg` only RS256 tokens are accepted",
          bearer(token("HS256", "hmac")), e401(), alg=None)
    write("missing_token", "no token: 401, empty body, no X-Krakend headers, no backend call (router_401_1)",
          {}, {**e401(), "call_count": 0})
    write("malformed_token", "`bearer a.bad.token`: 401 (jwt_2)", {"authorization": "bearer a.bad.token"},
          {**e401(), "call_count": 0})
    write("bad_signature", "a token signed with another secret",
          bearer(token(payload=claims())[:-4] + "AAAA"), e401())
    write("roles_insufficient_403", "valid token without any configured role: 403 (jwt_1)",
          bearer(token(payload=claims(roles=["role_y"]))), {**e403(), "call_count": 1},
          validator={"roles_key": "roles", "roles": ["role_a", "role_c"]})
    write("roles_any_match", "one of the configured roles is enough",
          bearer(token(payload=claims(roles=["x", "role_c"]))), ok(),
          validator={"roles_key": "roles", "roles": ["role_a", "role_c"]})
    write("scopes_any", "scopes_matcher any (default): one scope of a space-separated `scope` claim",
          bearer(token()), ok(), validator={"scopes_key": "scope", "scopes": ["read:b", "write:x"]})
    write("scopes_all_missing_one_403", "scopes_matcher all: every scope required",
          bearer(token()), e403(),
          validator={"scopes_key": "scope", "scopes": ["read:a", "write:x"], "scopes_matcher": "all"})
    write("scopes_all_ok", "scopes_matcher all, all present",
          bearer(token()), ok(), validator={"scopes_key": "scope", "scopes": ["read:a", "read:b"],
                                             "scopes_matcher": "all"})
    write("cookie_key", "the token read from the configured cookie",
          {"Cookie": "a=b; session=" + token() + "; c=d"}, ok(), validator={"cookie_key": "session"})
    write("auth_header_name", "the token read from a custom header, without the Bearer prefix",
          {"X-Token": token()}, ok(), validator={"auth_header_name": "X-Token"})
    write("authorization_not_forwarded", "the client's Authorization does not reach the backend by default",
          bearer(token()), ok(calls=[{"url": JWKS_URL}, {"url": API + "/data", "absent": ["authorization"]}]))
    write("claim_in_url", "`{JWT.sub}` and a claim name with `:` and `/` in url_pattern (jwt_5, cel-7)",
          bearer(token(payload=claims(**{"http://example.com/custom": "foobar"}))),
          {"status": 200, "calls": [{"url": JWKS_URL}, {"url": API + "/u/42/user-1/foobar"}]},
          url_pattern="/u/{id}/{JWT.sub}/{JWT.http://example.com/custom}",
          backends={API + "/u/42/user-1/foobar": {"status": 200, "body": "{}"}})
    write("a13_claim_traversal_encoded", "a13: a claim `../admin?x=1` is one encoded segment, never a path walk",
          bearer(token(payload=claims(sub="../admin?x=1"))),
          {"status": 200, "calls": [{"url": JWKS_URL}, {"url": API + "/u/..%2Fadmin%3Fx%3D1"}]},
          url_pattern="/u/{JWT.sub}", backends={API + "/u/..%2Fadmin%3Fx%3D1": {"status": 200, "body": "{}"}})
    write("a13_claim_dot_dot_refused", "a13: a claim `..` would walk up: the request fails (500), no call",
          bearer(token(payload=claims(sub=".."))), {"status": 500, "call_count": 1},
          url_pattern="/u/{JWT.sub}")
    write("a13_integer_claim", "a13: an integer claim renders as 1234, not 1234.000000",
          bearer(token(payload=claims(uid=1234))),
          {"status": 200, "calls": [{"url": JWKS_URL}, {"url": API + "/u/1234"}]},
          url_pattern="/u/{JWT.uid}", backends={API + "/u/1234": {"status": 200, "body": "{}"}})
    write("b21_claim_replaces_client_header",
          "b21: propagate_claims sub→X-User; the client's own X-User (even in input_headers) never arrives",
          {**bearer(token()), "X-User": "admin"},
          ok(calls=[{"url": JWKS_URL}, {"url": API + "/data", "headers": {"X-User": "user-1", "X-Roles": "reader"}}]),
          validator={"propagate_claims": [["sub", "X-User"], ["roles", "X-Roles"]]},
          input_headers=["X-User", "X-Roles"])
    write("b21_missing_claim_removes_header",
          "b21: a propagated claim missing from the token removes the client's header",
          {**bearer(token(payload=claims(sub=DROP))), "X-User": "admin"},
          ok(calls=[{"url": JWKS_URL}, {"url": API + "/data", "absent": ["x-user"]}]),
          validator={"propagate_claims": [["sub", "X-User"]]}, input_headers=["X-User"])

    # F55-F66: bad-input-matrix.md §F
    for case, alg_name, sig in [("f55_alg_none", "none", b""), ("f55_alg_none_capitalised", "None", b""),
                                ("f55_alg_none_upper", "NONE", b""), ("f55_alg_none_with_signature", "none", b"x" * 32)]:
        write(case, f"f55: alg {alg_name!r} is refused", bearer(token(alg_name, sig=sig)), e401())
    pem = K["rsa"].public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
    for case, secret in [("f56_hs256_with_rsa_pem", pem),
                         ("f56_hs256_with_rsa_jwk", compact(jwks("RS256")["keys"][0]))]:
        h = b64(compact({"alg": "HS256", "kid": "k1", "typ": "JWT"})) + "." + b64(compact(claims()))
        forged = h + "." + b64(hmac.new(secret, h.encode(), hashlib.sha256).digest())
        write(case, "f56: HS256 signed with the RSA public key as the secret, RS256 configured",
              bearer(forged), e401(), alg="RS256")
    write("f57_rs256_sent_es256_configured", "f57: token alg differs from config", bearer(token("RS256", "rsa")),
          e401(), alg="ES256")
    write("f57_rs256_sent_ps256_configured", "f57: PS256 configured, RS256 token (same key type)",
          bearer(token("RS256", "rsa")), e401(), alg="PS256")
    write("f57_hs512_sent_hs256_configured", "f57: HS512 token, HS256 configured", bearer(token("HS512")), e401())
    write("f58_exp_past", "f58: expired", bearer(token(payload=claims(exp=NOW - 10))), e401())
    write("f58_exp_past_beyond_leeway", "f58: expired beyond the leeway",
          bearer(token(payload=claims(exp=NOW - 40))), e401(), validator={"leeway": "30s"})
    write("f58_exp_within_leeway", "f58: expired, but within the leeway",
          bearer(token(payload=claims(exp=NOW - 20))), ok(), validator={"leeway": "30s"})
    write("f58_exp_missing", "f58: exp is required", bearer(token(payload=claims(exp=DROP))), e401())
    write("f58_nbf_future", "f58: nbf in the future", bearer(token(payload=claims(nbf=NOW + 120))), e401())
    write("f58_nbf_past_ok", "f58: nbf in the past", bearer(token(payload=claims(nbf=NOW - 120))), ok())
    write("f58_iat_future", "f58: iat far in the future", bearer(token(payload=claims(iat=NOW + 86400))), e401())
    for case, v in [("f59_exp_string", "9999999999"), ("f59_exp_huge", 1e300), ("f59_exp_negative", -1),
                    ("f59_exp_array", [NOW + 3600]), ("f59_exp_null", None)]:
        write(case, f"f59: exp of the wrong type ({v!r})", bearer(token(payload=claims(exp=v))), e401())
    write("f60_iss_wrong", "f60: wrong issuer", bearer(token(payload=claims(iss="https://evil.test"))), e401())
    write("f60_aud_missing", "f60: aud missing", bearer(token(payload=claims(aud=DROP))), e401())
    write("f60_aud_wrong", "f60: aud a wrong string", bearer(token(payload=claims(aud="other"))), e401())
    write("f60_aud_array_without", "f60: aud an array without the configured audience",
          bearer(token(payload=claims(aud=["a", "b"]))), e401())
    write("f60_aud_array_with", "f60: aud an array containing the configured audience",
          bearer(token(payload=claims(aud=["a", "api"]))), ok())
    for case, kid in [("f61_kid_path_traversal", "../../dev/null"), ("f61_kid_sql", "x' OR '1'='1"),
                      ("f61_kid_long", "k" * 8000)]:
        write(case, "f61: kid is only ever a lookup key", bearer(token(kid=kid)), e401(call_count=1))
    write("f61_kid_number", "f61: a non-string kid is refused before any key lookup",
          bearer(token(kid=1)), e401(call_count=0))
    attacker = public_jwk("rsa_attacker", "k1")
    write("f62_embedded_jwk_ignored", "f62: a `jwk` header with the attacker's key is ignored",
          bearer(token("RS256", "rsa_attacker", header={"jwk": attacker})), e401(), alg="RS256")
    write("f62_jku_ignored", "f62: `jku`/`x5u` pointing at the attacker are never fetched",
          bearer(token("RS256", "rsa_attacker", header={"jku": "https://evil.test/jwks", "x5u": "https://evil.test/x"})),
          e401(calls=[{"url": JWKS_URL}], call_count=1), alg="RS256",
          backends={"https://evil.test/jwks": {"status": 200, "body": json.dumps({"keys": [attacker]})}})
    write("f64_jwks_500", "f64: JWKS endpoint fails and no key is cached: 401",
          bearer(token()), e401(), jwks_reply={"status": 500, "body": "oops"})
    write("f64_jwks_garbage", "f64: JWKS garbage: 401", bearer(token()), e401(),
          jwks_reply={"status": 200, "body": "<html>not json"})
    write("f64_jwks_too_large", "f64: JWKS over the 150 000-byte cap: 401", bearer(token()), e401(),
          jwks_reply={"status": 200, "body": json.dumps({"keys": jwks("HS256")["keys"], "pad": "x" * 160000})})
    write("f64_jwks_slow", "f64: JWKS slower than the 1.5 s fetch timeout: 401 after 1.5 s", bearer(token()),
          e401(elapsed_ms=1500), jwks_reply={"status": 200, "delay_ms": 5000, "body": json.dumps(jwks("HS256"))})
    write("f64_token_many_dots", "f64: a token of 100 000 `.` segments is refused without work",
          bearer("a." * 100000), {**e401(), "call_count": 0})
    write("f64_token_huge_header", "f64: a 1 MB token header is refused without work",
          bearer(b64(b"{\"alg\":\"HS256\",\"x\":\"" + b"a" * 1000000 + b"\"}") + ".e30.sig"), {**e401(), "call_count": 0})
    p256_h = b64(compact({"alg": "ES256", "kid": "k1", "typ": "JWT"})) + "." + b64(compact(claims()))
    der = K["p256"].sign(p256_h.encode(), ec.ECDSA(hashes.SHA256()))
    for case, sig in [("f65_es256_zero_signature", b"\0" * 64), ("f65_es256_der_signature", der),
                      ("f65_es256_short_signature", b"\1" * 63)]:
        write(case, "f65: psychic/DER/wrong-length ECDSA signatures", bearer(p256_h + "." + b64(sig)), e401(),
              alg="ES256")
    write("f66_roles_string_not_array", "f66: `roles: \"admin\"` is not a list of roles: 403",
          bearer(token(payload=claims(roles="admin"))), e403(), validator={"roles_key": "roles", "roles": ["admin"]})
    write("f66_roles_prefix_no_match", "f66: `adminx` is not `admin`",
          bearer(token(payload=claims(roles=["adminx"]))), e403(), validator={"roles_key": "roles", "roles": ["admin"]})
    write("f66_roles_nested", "f66: roles_key_is_nested reads realm_access.roles",
          bearer(token(payload=claims(realm_access={"roles": ["admin"]}))), ok(),
          validator={"roles_key": "realm_access.roles", "roles_key_is_nested": True, "roles": ["admin"]})
    write("f66_roles_dotted_key_not_nested", "f66: without roles_key_is_nested a dotted key is one claim name",
          bearer(token(payload=claims(realm_access={"roles": ["admin"]}))), e403(),
          validator={"roles_key": "realm_access.roles", "roles": ["admin"]})

    # Tokens for tests/jwt.rs (several requests against one gateway).
    tokens = {
        "jwks_url": JWKS_URL,
        "jwks_k1": jwks("HS256"),
        "k1": token(),
        "k2": token(kid="k2", key="hmac"),
        "jwks_k1_k2": {"keys": [jwks("HS256")["keys"][0], {**jwks("HS256")["keys"][0], "kid": "k2"}]},
    }
    json.dump(tokens, open(os.path.join(HERE, "tokens.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
