//! Every config shipped in `config/` (and `config/examples/`) compiles into a Gateway, so a
//! broken deploy config fails CI, not a cold start.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use manifold_core::Gateway;
use manifold_tests::{platform, FakeTime, MockClient};

#[test]
fn shipped_configs_compile() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    let mut checked = 0;
    for dir in [root.clone(), root.join("examples")] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let time = FakeTime::new();
            if let Err(e) =
                Gateway::from_json(&text, platform(&MockClient::new(time.clone()), &time))
            {
                panic!("{}: {e}", path.display());
            }
            checked += 1;
        }
    }
    // The directory exists from the CLI issue on; until then there is nothing to check.
    if root.join("demo.json").exists() {
        assert!(
            checked >= 2,
            "expected config/demo.json and config/gateway.json, checked {checked}"
        );
    }
}

#[test]
fn krakend_ce_fixture_compiles() {
    // KrakenD's own integration fixture must load (features not built yet are warnings).
    let suite = std::env::var("MANIFOLD_PEER_SUITE").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/peer-suites/krakend-ce"
        )
        .to_owned()
    });
    let Ok(text) = std::fs::read_to_string(Path::new(&suite).join("krakend.json")) else {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "peer suite not found at {suite}"
        );
        return;
    };
    let time = FakeTime::new();
    match Gateway::from_json(&text, platform(&MockClient::new(time.clone()), &time)) {
        Ok(gw) => {
            for w in &gw.config().warnings {
                println!("warning: {w}");
            }
        }
        Err(e) => panic!("{e}"),
    }
}
