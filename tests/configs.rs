//! Every config shipped in `config/` (and `config/examples/`) compiles into a Gateway, so a
//! broken deploy config fails CI, not a cold start. Loaded as a build loads it, with stand-ins
//! for run-time `${env:NAME}` values (config/examples/secrets.json has some).

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
            // As a build validates it: run-time `${env:NAME}` values stand in.
            let (config, _) = manifold_core::config::load::check(&text, |_| None);
            let config = config.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            Gateway::new(config, platform(&MockClient::new(time.clone()), &time));
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
    // KrakenD's own integration fixture must load with the Lua namespaces it uses listed in
    // `ignore_unenforced` (as the peer runner does), and must be refused without them: Lua is
    // the only thing in it Manifold cannot enforce; features not built yet are warnings.
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
    let compile =
        |text: &str| Gateway::from_json(text, platform(&MockClient::new(time.clone()), &time));
    let Err(refused) = compile(&text) else {
        panic!("the fixture's Lua must be refused without `ignore_unenforced`");
    };
    assert!(!refused.errors.is_empty());
    for e in &refused.errors {
        assert!(e.message.contains("modifier/lua"), "unexpected error: {e}");
    }
    let mut fixture: serde_json::Value = serde_json::from_str(&text).unwrap();
    fixture["ignore_unenforced"] =
        serde_json::json!(["modifier/lua-backend", "modifier/lua-proxy"]);
    match compile(&fixture.to_string()) {
        Ok(gw) => {
            for w in &gw.config().warnings {
                println!("warning: {w}");
            }
        }
        Err(e) => panic!("{e}"),
    }
}
