//! Project Wycheproof vectors (C2SP/wycheproof) against the core's JOSE verification, the code
//! `auth/validator` runs (issue 16, point 3): `jose::verify_compact` for whole JWS, and
//! `KeySet::parse` + `KeySet::verify` for the per-algorithm signature files.
//!
//! Every `valid` case must verify and every `invalid` one must be refused, except the cases in
//! [`DEVIATIONS`], each with its reason; every `acceptable` case's outcome is in [`ACCEPTABLE`]
//! with its reason. Cases for algorithms this build does not implement are counted and listed,
//! and still checked: no supported algorithm may accept them. The counts are asserted, so a
//! change in any outcome fails the test.
//!
//! The vectors are read at test time from `$MANIFOLD_TEST_VECTORS/wycheproof/` (default:
//! `../shared/test-vectors` beside the checkout), never copied into the project.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use manifold_core::jose::{verify_compact, Alg, KeySet, Refused};
use serde_json::{json, Value};

/// Every algorithm this build verifies.
const ALGS: [Alg; 12] = Alg::ALL;

/// Cases whose outcome differs from Wycheproof's: file, tcId, whether it verifies here, why.
const DEVIATIONS: &[(&str, u64, bool, &str)] = &[
    (
        "json_web_signature_test.json",
        346,
        false,
        "RFC 7520 Figure 20 is signed with PS384 by a key whose `alg` member says PS256: a key \
         declaring an algorithm is bound to it (RFC 7517 §4.4, RFC 8725 §3.1), so with PS256 \
         configured the header's PS384 is refused, and with PS384 configured the key is unusable",
    ),
    (
        "json_web_signature_test.json",
        350,
        false,
        "the same token and key as tcId 346, the key also listing key_ops",
    ),
    (
        "json_web_signature_test.json",
        367,
        true,
        "byte for byte the same JWS and key as tcId 357, which is `valid`: no verifier can \
         refuse one and accept the other (the padding this case is named after is not in the \
         vector)",
    ),
    (
        "json_web_signature_test.json",
        370,
        true,
        "byte for byte the same JWS and key as tcId 357 (`valid`), as tcId 367",
    ),
    (
        "json_web_signature_test.json",
        372,
        false,
        "a `?` inside the base64url header: RFC 7515 §2 and §7.1 allow only the base64url \
         alphabet, and the MAC is over the original header, so only a decoder that skips \
         invalid characters and re-encodes could accept it; strict decoding refuses it",
    ),
    (
        "json_web_signature_test.json",
        373,
        false,
        "a `?` inside the base64url payload; refused like tcId 372",
    ),
    (
        "json_web_key_test.json",
        1,
        true,
        "a set holding an HS256 and an ES256 key: the configured algorithm keeps only keys of \
         its own type and declared `alg` (RFC 8725 §3.1), so a mixed set cannot lead to key \
         confusion; refusing whole sets would refuse JWKS endpoints that publish several key \
         types (flagged `Ambiguous` by Wycheproof)",
    ),
];

/// `acceptable` cases: file, tcId, whether it verifies here, why.
const ACCEPTABLE: &[(&str, u64, bool, &str)] = &[(
    "rsa_signature_2048_sha256_test.json",
    8,
    false,
    "PKCS#1 v1.5 DigestInfo without the NULL parameter (legacy encoders): refused, the \
     verifier compares the whole encoded block with the one RFC 8017 §9.2 prescribes",
)];

fn vectors() -> Option<PathBuf> {
    let dir = std::env::var_os("MANIFOLD_TEST_VECTORS")
        .map_or_else(
            || {
                PathBuf::from(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../../shared/test-vectors"
                ))
            },
            PathBuf::from,
        )
        .join("wycheproof");
    if dir.exists() {
        return Some(dir);
    }
    assert_ne!(
        std::env::var("CI").as_deref(),
        Ok("true"),
        "Wycheproof vectors not found at {} (set MANIFOLD_TEST_VECTORS)",
        dir.display()
    );
    println!(
        "skipped: no vectors at {} (set MANIFOLD_TEST_VECTORS)",
        dir.display()
    );
    None
}

fn load(dir: &std::path::Path, file: &str) -> Value {
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex {s}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The outcome counts of one file.
#[derive(Default)]
struct Tally {
    file: &'static str,
    total: usize,
    valid: usize,
    invalid: usize,
    acceptable: usize,
    deviations: usize,
    /// Cases of algorithms not implemented here, by name; each was refused under every
    /// implemented algorithm.
    unsupported: BTreeMap<String, usize>,
    failures: Vec<String>,
}

impl Tally {
    fn new(file: &'static str) -> Self {
        Tally {
            file,
            ..Tally::default()
        }
    }

    /// Record whether case `tc` (Wycheproof `result`) verified.
    fn record(&mut self, tc: u64, result: &str, verified: bool, what: &str) {
        self.total += 1;
        let listed = |table: &[(&str, u64, bool, &str)]| {
            table
                .iter()
                .find(|(f, id, _, _)| *f == self.file && *id == tc)
                .map(|(_, _, verifies, _)| *verifies)
        };
        if let Some(expected) = listed(DEVIATIONS) {
            self.deviations += 1;
            if verified != expected {
                self.failures.push(format!(
                    "tcId {tc} ({what}): documented deviation no longer holds (verified: {verified})"
                ));
            }
            return;
        }
        let ok = match result {
            "valid" => {
                self.valid += 1;
                verified
            }
            "invalid" => {
                self.invalid += 1;
                !verified
            }
            "acceptable" => {
                self.acceptable += 1;
                listed(ACCEPTABLE).is_some_and(|expected| expected == verified)
            }
            other => panic!("tcId {tc}: unknown result {other}"),
        };
        if !ok {
            self.failures.push(format!(
                "tcId {tc} ({what}): Wycheproof says {result}, verified here: {verified}"
            ));
        }
    }

    fn unsupported(&mut self, name: &str) {
        self.total += 1;
        *self.unsupported.entry(name.to_owned()).or_default() += 1;
    }

    /// Print, check that no case failed and that every table entry of this file was used;
    /// the one-line summary to assert.
    fn finish(self) -> String {
        for (f, id, _, why) in DEVIATIONS.iter().chain(ACCEPTABLE) {
            if *f == self.file {
                println!("{f} tcId {id}: {why}");
            }
        }
        let unsupported: Vec<String> = self
            .unsupported
            .iter()
            .map(|(name, n)| format!("{name} ×{n}"))
            .collect();
        let summary = format!(
            "{}: {} cases, {} valid verified, {} invalid refused, {} acceptable, {} deviations, \
             unsupported: [{}]",
            self.file,
            self.total,
            self.valid,
            self.invalid,
            self.acceptable,
            self.deviations,
            unsupported.join(", ")
        );
        println!("{summary}");
        assert!(
            self.failures.is_empty(),
            "{}: {} failures:\n{}",
            self.file,
            self.failures.len(),
            self.failures.join("\n")
        );
        summary
    }
}

/// The `alg` a token's header names, if it can be read.
fn header_alg(jws: &str) -> Option<String> {
    let header = URL_SAFE_NO_PAD.decode(jws.split('.').next()?).ok()?;
    let header: Value = serde_json::from_slice(&header).ok()?;
    Some(header["alg"].as_str()?.to_owned())
}

/// The key document of a JWS group: the public key, or for symmetric keys the only one given.
fn group_keys(group: &Value) -> String {
    group
        .get("public")
        .or_else(|| group.get("private"))
        .unwrap()
        .to_string()
}

/// The algorithm an operator would configure for a JWS group's key: the key's `alg` member,
/// else the one the token's header names.
fn configured_alg(group: &Value, jws: &str) -> String {
    group
        .get("public")
        .or_else(|| group.get("private"))
        .and_then(|k| k["alg"].as_str())
        .map(str::to_owned)
        .or_else(|| header_alg(jws))
        .unwrap()
}

/// The JWS files: each case verified with `verify_compact` under the algorithm an operator
/// would configure for the group's key ([`configured_alg`]), and refused under every other
/// implemented algorithm.
fn jws_file(file: &'static str) -> Option<String> {
    let dir = vectors()?;
    let doc = load(&dir, file);
    let mut tally = Tally::new(file);
    for group in doc["testGroups"].as_array().unwrap() {
        let keys = group_keys(group);
        // Loaded once per algorithm, as a validator loads its set once.
        let sets: Vec<(Alg, KeySet)> = ALGS
            .iter()
            .map(|&alg| (alg, KeySet::parse(keys.as_bytes(), alg).unwrap()))
            .collect();
        for case in group["tests"].as_array().unwrap() {
            let tc = case["tcId"].as_u64().unwrap();
            let jws = case["jws"].as_str().unwrap();
            let configured = configured_alg(group, jws);
            for (alg, set) in &sets {
                if alg.as_str() != configured {
                    assert!(
                        verify_compact(jws, *alg, set).is_err(),
                        "{file} tcId {tc}: verified under {} though its key is for {configured}",
                        alg.as_str()
                    );
                }
            }
            let Some((alg, set)) = sets.iter().find(|(a, _)| a.as_str() == configured) else {
                tally.unsupported(&configured);
                continue;
            };
            let verified = verify_compact(jws, *alg, set).is_ok();
            let (result, what) = (
                case["result"].as_str().unwrap(),
                case["comment"].as_str().unwrap(),
            );
            tally.record(tc, result, verified, what);
        }
    }
    Some(tally.finish())
}

/// One JWS case by tcId: why `verify_compact` refuses it under its configured algorithm.
fn refusal(file: &str, tc: u64) -> Option<Refused> {
    let doc = load(&vectors()?, file);
    for group in doc["testGroups"].as_array().unwrap() {
        for case in group["tests"].as_array().unwrap() {
            if case["tcId"].as_u64() == Some(tc) {
                let jws = case["jws"].as_str().unwrap();
                let alg = Alg::parse(&configured_alg(group, jws)).unwrap();
                let set = KeySet::parse(group_keys(group).as_bytes(), alg).unwrap();
                return Some(verify_compact(jws, alg, &set).expect_err("verified"));
            }
        }
    }
    panic!("{file}: no tcId {tc}");
}

/// A group's public key as a JWK: its own, or for the few EC groups without one (edge-case
/// coordinates), built from `publicKey.wx`/`wy`, left-padded to the field size.
fn group_jwk(group: &Value, jwk_member: &str) -> String {
    if let Some(jwk) = group.get(jwk_member) {
        return jwk.to_string();
    }
    let key = &group["publicKey"];
    let (crv, size) = match key["curve"].as_str().unwrap() {
        "secp256r1" => ("P-256", 32),
        "secp384r1" => ("P-384", 48),
        other => panic!("no JWK and an unexpected curve {other}"),
    };
    let coordinate = |name: &str| {
        let bytes = hex(key[name].as_str().unwrap());
        let bytes: Vec<u8> = bytes.into_iter().skip_while(|b| *b == 0).collect();
        let mut padded = vec![0u8; size - bytes.len()];
        padded.extend(bytes);
        URL_SAFE_NO_PAD.encode(padded)
    };
    json!({"kty": "EC", "crv": crv, "x": coordinate("wx"), "y": coordinate("wy")}).to_string()
}

/// A per-algorithm signature file: the group's JWK loaded for `alg` as a validator loads a
/// JWK set, each `msg`/`sig` checked with `KeySet::verify`.
fn signature_file(file: &'static str, alg: Alg, jwk_member: &str) -> Option<String> {
    let dir = vectors()?;
    let doc = load(&dir, file);
    let mut tally = Tally::new(file);
    for group in doc["testGroups"].as_array().unwrap() {
        let jwk = group_jwk(group, jwk_member);
        let set = KeySet::parse(jwk.as_bytes(), alg).unwrap();
        for case in group["tests"].as_array().unwrap() {
            let tc = case["tcId"].as_u64().unwrap();
            let (msg, sig) = (
                hex(case["msg"].as_str().unwrap()),
                hex(case["sig"].as_str().unwrap()),
            );
            let verified = set.verify(alg, None, &msg, &sig);
            tally.record(
                tc,
                case["result"].as_str().unwrap(),
                verified,
                case["comment"].as_str().unwrap(),
            );
        }
    }
    Some(tally.finish())
}

#[test]
fn json_web_signatures() {
    let Some(s) = jws_file("json_web_signature_test.json") else {
        return;
    };
    assert_eq!(
        s,
        "json_web_signature_test.json: 401 cases, 40 valid verified, 353 invalid refused, \
         0 acceptable, 6 deviations, unsupported: [ES521 ×2]"
    );
}

#[test]
fn json_web_key_sets() {
    let Some(s) = jws_file("json_web_key_test.json") else {
        return;
    };
    assert_eq!(
        s,
        "json_web_key_test.json: 26 cases, 5 valid verified, 20 invalid refused, \
         0 acceptable, 1 deviations, unsupported: []"
    );
}

#[test]
fn es256_p1363_signatures() {
    let file = "ecdsa_secp256r1_sha256_p1363_test.json";
    let Some(s) = signature_file(file, Alg::ES256, "publicKeyJwk") else {
        return;
    };
    assert_eq!(
        s,
        "ecdsa_secp256r1_sha256_p1363_test.json: 262 cases, 173 valid verified, \
         89 invalid refused, 0 acceptable, 0 deviations, unsupported: []"
    );
}

#[test]
fn es384_p1363_signatures() {
    let file = "ecdsa_secp384r1_sha384_p1363_test.json";
    let Some(s) = signature_file(file, Alg::ES384, "publicKeyJwk") else {
        return;
    };
    assert_eq!(
        s,
        "ecdsa_secp384r1_sha384_p1363_test.json: 280 cases, 193 valid verified, \
         87 invalid refused, 0 acceptable, 0 deviations, unsupported: []"
    );
}

#[test]
fn rs256_pkcs1_signatures() {
    let file = "rsa_signature_2048_sha256_test.json";
    let Some(s) = signature_file(file, Alg::RS256, "keyJwk") else {
        return;
    };
    assert_eq!(
        s,
        "rsa_signature_2048_sha256_test.json: 259 cases, 9 valid verified, \
         249 invalid refused, 1 acceptable, 0 deviations, unsupported: []"
    );
}

#[test]
fn ps256_signatures() {
    let file = "rsa_pss_2048_sha256_mgf1_32_test.json";
    let Some(s) = signature_file(file, Alg::PS256, "publicKeyJwk") else {
        return;
    };
    assert_eq!(
        s,
        "rsa_pss_2048_sha256_mgf1_32_test.json: 108 cases, 63 valid verified, \
         45 invalid refused, 0 acceptable, 0 deviations, unsupported: []"
    );
}

#[test]
fn eddsa_ed25519_signatures() {
    let Some(s) = signature_file("ed25519_test.json", Alg::EdDSA, "publicKeyJwk") else {
        return;
    };
    assert_eq!(
        s,
        "ed25519_test.json: 151 cases, 88 valid verified, 63 invalid refused, \
         0 acceptable, 0 deviations, unsupported: []"
    );
}

// Bugs the vectors exposed, one test each, named after the vectors.

#[test]
fn jws_tc355_tc356_a_key_whose_key_ops_lack_verify_is_unusable() {
    for tc in [355, 356] {
        if let Some(why) = refusal("json_web_signature_test.json", tc) {
            assert_eq!(why, Refused::NoKey, "tcId {tc}");
        }
    }
}

#[test]
fn jwk_tc4_a_kid_shared_by_two_keys_of_one_type_is_refused() {
    if let Some(why) = refusal("json_web_key_test.json", 4) {
        assert_eq!(why, Refused::NoKey);
    }
}

#[test]
fn jwk_tc7_a_roca_vulnerable_rsa_key_is_unusable() {
    if let Some(why) = refusal("json_web_key_test.json", 7) {
        assert_eq!(why, Refused::NoKey);
    }
}

#[test]
fn jwk_tc10_tc11_tc12_hmac_keys_shorter_than_the_hash_are_unusable() {
    for tc in [10, 11, 12] {
        if let Some(why) = refusal("json_web_key_test.json", tc) {
            assert_eq!(why, Refused::NoKey, "tcId {tc}");
        }
    }
}

/// HMAC-SHA256 with raw keys: each key becomes an `oct` JWK for HS256. Truncated tags are not
/// HS256 (RFC 7518 §3.2 uses the whole MAC), and keys shorter than 256 bits are not HS256 keys
/// (same section, a MUST): those groups are counted as unsupported, and every one of their
/// tags must be refused.
#[test]
fn hs256_macs() {
    let file = "hmac_sha256_test.json";
    let Some(dir) = vectors() else {
        return;
    };
    let doc = load(&dir, file);
    let mut tally = Tally::new(file);
    for group in doc["testGroups"].as_array().unwrap() {
        let tag_bits = group["tagSize"].as_u64().unwrap();
        let key_bits = group["keySize"].as_u64().unwrap();
        for case in group["tests"].as_array().unwrap() {
            let tc = case["tcId"].as_u64().unwrap();
            let key = hex(case["key"].as_str().unwrap());
            let (msg, tag) = (
                hex(case["msg"].as_str().unwrap()),
                hex(case["tag"].as_str().unwrap()),
            );
            let jwk = json!({"kty": "oct", "k": URL_SAFE_NO_PAD.encode(&key)}).to_string();
            let set = KeySet::parse(jwk.as_bytes(), Alg::HS256).unwrap();
            let verified = set.verify(Alg::HS256, None, &msg, &tag);
            if tag_bits != 256 {
                assert!(
                    !verified,
                    "tcId {tc}: a {tag_bits}-bit tag verified as HS256"
                );
                tally.unsupported(&format!("HMAC-SHA256 with a {tag_bits}-bit tag"));
                continue;
            }
            if key_bits < 256 {
                assert!(
                    !verified,
                    "tcId {tc}: a {key_bits}-bit key verified as HS256"
                );
                tally.unsupported(&format!("HMAC-SHA256 with a {key_bits}-bit key"));
                continue;
            }
            tally.record(
                tc,
                case["result"].as_str().unwrap(),
                verified,
                case["comment"].as_str().unwrap(),
            );
        }
    }
    assert_eq!(
        tally.finish(),
        "hmac_sha256_test.json: 174 cases, 30 valid verified, 54 invalid refused, 0 acceptable, \
         0 deviations, unsupported: [HMAC-SHA256 with a 128-bit key ×3, \
         HMAC-SHA256 with a 128-bit tag ×87]"
    );
}
