//! A config compiled into a Worker (manifold_core::config::bake, written by build.rs for every
//! config in `config/`, `config/examples/`, `tests/worker/` and `tests/scenarios/` that can
//! be) is the config the Worker would decode at start from the same text: equal down to its
//! route table.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use manifold_core::config::load;
use manifold_core::Config;

include!(concat!(env!("OUT_DIR"), "/baked.rs"));

/// The config the Worker decodes at start from `text`, the text its build embeds, with no
/// variable set. Its warnings are left out (the build reported them).
fn decoded(name: &str, text: &str) -> Config {
    let config = load::load_expanded(text, |_| None);
    Config {
        warnings: Vec::new(),
        ..config.unwrap_or_else(|e| panic!("{name}: {e}"))
    }
}

#[test]
fn each_compiled_config_is_the_decoded_one() {
    for (name, text, baked) in BAKED {
        let baked = baked().unwrap_or_else(|e| panic!("{name}: {e}"));
        let decoded = decoded(name, text);
        assert_eq!(format!("{baked:#?}"), format!("{decoded:#?}"), "{name}");
        // What `Debug` leaves out (API keys' digests and salt, the propagated role's header).
        for (b, d) in baked.endpoints.iter().zip(&decoded.endpoints) {
            assert!(b.api_keys == d.api_keys, "{name}: {} API keys", b.endpoint);
        }
    }
}

#[test]
fn the_shipped_configs_and_most_scenarios_are_compiled_in() {
    let names: Vec<&str> = BAKED.iter().map(|(name, ..)| *name).collect();
    // tests/worker/ssl.json is also served compiled in by the Worker e2e (scripts/worker-e2e.sh).
    for shipped in [
        "config/demo.json",
        "config/gateway.json",
        "config/examples/merge.json",
        "tests/worker/ssl.json",
    ] {
        assert!(
            names.contains(&shipped),
            "{shipped} not compiled in: {names:?}"
        );
    }
    let scenarios = names
        .iter()
        .filter(|n| n.starts_with("tests/scenarios/"))
        .count();
    assert!(
        scenarios >= 100,
        "only {scenarios} scenario configs compiled in"
    );
}
