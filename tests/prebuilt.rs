//! A config compiled into a Worker (manifold_core::config::bake, written by build.rs for every
//! config in `config/`, `config/examples/`, `tests/worker/` and `tests/scenarios/` that can
//! be) is the config the Worker would decode at start from the same text: equal down to its
//! route table.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use manifold_build::{prepare, Target};
use manifold_core::config::load;
use manifold_core::Config;

include!(concat!(env!("OUT_DIR"), "/baked.rs"));

/// The config at `name` as the Worker decodes it at start: the text its build embeds, loaded
/// with no variable set. Its warnings are left out (the build reported them).
fn decoded(name: &str) -> Config {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join(name)).unwrap();
    // Every capability; the Worker e2e configs' build-time ports (tests/worker/ssl.json).
    let lookup = |var: &str| match var {
        _ if var.starts_with("CARGO_FEATURE_") => Some(String::new()),
        _ if var.starts_with("MANIFOLD_E2E_") => Some("9".to_owned()),
        _ => None,
    };
    let read = |path: &str| std::fs::read_to_string(root.join(path)).map_err(|e| e.to_string());
    let embedded = prepare(Target::Workers, name, &text, lookup, read, "docs").text;
    let config = load::load_expanded(&embedded.unwrap(), |_| None);
    Config {
        warnings: Vec::new(),
        ..config.unwrap_or_else(|e| panic!("{name}: {e}"))
    }
}

#[test]
fn each_compiled_config_is_the_decoded_one() {
    for (name, baked) in BAKED {
        let baked = baked().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            format!("{baked:#?}"),
            format!("{:#?}", decoded(name)),
            "{name}"
        );
    }
}

#[test]
fn the_shipped_configs_and_most_scenarios_are_compiled_in() {
    let names: Vec<&str> = BAKED.iter().map(|(name, _)| *name).collect();
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
