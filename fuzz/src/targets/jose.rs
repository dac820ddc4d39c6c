//! JOSE: JWK set parsing for every algorithm, and compact JWS parsing + verification through
//! `auth/validator` (header, algorithm pinning, key selection, signature, claims). The first
//! input byte picks the algorithm (`byte >> 1`) and the mode (`byte & 1`): 0 parses the rest as
//! a JWK set, 1 sends the rest as a bearer token to that algorithm's endpoint, whose keys come
//! from a fixed JWK set holding one key of every type.

use manifold_core::jose::{Alg, KeySet};

use super::{get, Harness};

/// Every algorithm, in the order the first input byte selects them.
pub const ALGS: [Alg; 12] = Alg::ALL;

/// Where the gateway fetches its keys.
const JWKS_URL: &str = "https://idp.test/jwks.json";

/// One key of each type (the scenario suite's test keys), all with `kid` `k1`.
const JWKS: &str = r#"{"keys": [
  {"kty": "oct", "k": "jhWVzI6m7PTMnTUy9TIZP26rDew7mZlH4vz_ZRQsefbUVBVfaDZIjJQhJNB8NxeR87GY0tmZKHF4uBBKPrPA2w", "kid": "k1"},
  {"kty": "RSA", "n": "v3RjfR-wnaEyxMOT38TLQo-1O4H4RS_NnXaPhsioU550-dWSEVqT_qFDz0L2PFt3Ms0s3SfB_SI9wtp8Gq35MDWDFnP4PbVOldszfFJRgfo7sKCfljebf6Axy4BnNi1YUwuLaY8mA1O1l25GYqgP99vfYRoJpjVjwcD-I9gwiCeEzwa_vC8yWWHRA8wFiQPc_JOH1hBBIHujrjdrdluWwFc9wYmr2d0C8n0Ws6Yd6vBKxKWfpgq6C_pfzTvr_ignCkzQ0joH1-NdJwtIki2wCpW2H53CPSK6r4i0K1IEySzex1wfUGx4RfYp0mD43ZdkQHASgmbSEzNIKO_1Em4-7Q", "e": "AQAB", "kid": "k1"},
  {"kty": "EC", "crv": "P-256", "x": "xIpU3jKJU7CxZf7Uhvqb4BLJZtCe3ySQuHGhJhe_Gx4", "y": "KsWh46isTFz-zz__shwn7yXQQE6a_rGuN_DpAtLt0Lc", "kid": "k1"},
  {"kty": "EC", "crv": "P-384", "x": "X6KFKGcvV6RsScx44_9MveI-qTstpjVJS3ytO7Wr2p9mPkNsg_q0vXhmcwMNBJ5Z", "y": "f85CBoA_xiGxrQceawXNBAeFb5g2AHyRF3xDZ7cWdU8obzRRFXllr5UQk57_ct0q", "kid": "k1"},
  {"kty": "OKP", "crv": "Ed25519", "x": "S484OjS0j24Smj1DMeHRsd1Tadp8YreFa0nMlp7sTk4", "kid": "k1"}
]}"#;

/// One endpoint per algorithm at `/t/<ALG>`; claims reach a header, the backend URL and a
/// role check.
pub fn config() -> String {
    let endpoints: Vec<String> = ALGS
        .iter()
        .map(|alg| {
            format!(
                r#"{{"endpoint": "/t/{alg}", "backend": [{{"url_pattern": "/u/{{JWT.sub}}"}}],
                    "input_headers": ["X-User"],
                    "extra_config": {{"auth/validator": {{"alg": "{alg}", "jwk_url": "{JWKS_URL}",
                      "issuer": "https://idp.test", "audience": ["api"], "roles_key": "roles",
                      "roles": ["reader", "admin"], "propagate_claims": [["sub", "X-User"]]}}}}}}"#,
                alg = alg.as_str()
            )
        })
        .collect();
    format!(
        r#"{{"version": 3, "host": ["http://b.internal"], "endpoints": [{}]}}"#,
        endpoints.join(",")
    )
}

/// The fuzz body.
pub fn run(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let alg = ALGS[usize::from(selector >> 1) % ALGS.len()];
    if selector & 1 == 0 {
        if let Ok(keys) = KeySet::parse(rest, alg) {
            let _ = keys.is_empty();
        }
        return;
    }
    if let Ok(token) = std::str::from_utf8(rest) {
        let _ = status(alg, token);
    }
}

/// The gateway's answer to `token` on the endpoint of `alg` (`None`: no request possible).
pub fn status(alg: Alg, token: &str) -> Option<http::StatusCode> {
    let harness = Harness::new();
    harness.reply(JWKS_URL, "application/json", JWKS.as_bytes());
    harness.reply(
        "http://b.internal/u/user-1",
        "application/json",
        b"{\"ok\":true}",
    );
    let gateway = harness.gateway(&config()).ok()?;
    let path = format!("/t/{}", alg.as_str());
    let bearer = format!("Bearer {token}");
    let request = get(&path, &[("Authorization", &bearer)])?;
    Some(harness.handle(&gateway, request).status())
}
