//! A config compiled into a Worker (manifold_core::config::bake, written by build.rs for every
//! config in `config/`, `config/examples/`, `tests/worker/` and `tests/scenarios/` that can
//! be) is the config the Worker would decode at start from the same text: equal down to its
//! route table.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use manifold_core::config::compiled_env::{Site, Values};
use manifold_core::config::extra::KeySource;
use manifold_core::config::load;
use manifold_core::config::runtime_env::stand_in_with;
use manifold_core::Config;

include!(concat!(env!("OUT_DIR"), "/baked.rs"));

/// The name of a placeholder as written (`${env:NAME}`).
fn variable(written: &str) -> &str {
    written.trim_start_matches("${env:").trim_end_matches('}')
}

/// The run-time value each placeholder of `sites` gets here: a token other than the stand-in
/// the build compiled in, so a value not put in at start shows as a difference.
fn values(sites: &[Site]) -> impl Fn(&str) -> Option<String> + '_ {
    |name| {
        sites
            .iter()
            .any(|(written, ..)| variable(written) == name)
            .then(|| stand_in_with(name, 'C'))
    }
}

/// The config the Worker decodes at start from `text`, the text its build embeds, with the
/// placeholders of `sites` set (no other variable). Its warnings are left out (the build
/// reported them).
fn decoded(name: &str, text: &str, sites: &[Site]) -> Config {
    let config = load::load_expanded(text, values(sites));
    Config {
        warnings: Vec::new(),
        ..config.unwrap_or_else(|e| panic!("{name}: {e}"))
    }
}

/// The document of an endpoint's own JWK set (which its `Debug` leaves out: it may hold a
/// secret).
fn jwk_set(endpoint: &manifold_core::config::Endpoint) -> Option<String> {
    match &endpoint.auth_validator.as_ref()?.keys {
        KeySource::Inline(set) => set.source().map(|(_, text)| text.to_owned()),
        KeySource::Url { .. } => None,
    }
}

#[test]
fn each_compiled_config_is_the_decoded_one() {
    for (name, text, sites, baked_with) in BAKED {
        let env = Values::resolve(sites, values(sites)).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let baked = baked_with(&env).unwrap_or_else(|e| panic!("{name}: {e}"));
        let decoded = decoded(name, text, sites);
        // The placeholders with a default left unset: the defaults, on both sides.
        let required: Vec<Site> = sites
            .iter()
            .filter(|(w, ..)| !w.contains(":-"))
            .copied()
            .collect();
        if required.len() < sites.len() {
            let env = Values::resolve(sites, values(&required)).unwrap();
            let unset = load::load_expanded(text, values(&required)).unwrap();
            let baked = baked_with(&env).unwrap();
            assert_eq!(
                format!("{baked:#?}"),
                format!(
                    "{:#?}",
                    Config {
                        warnings: Vec::new(),
                        ..unset
                    }
                ),
                "{name}: defaults"
            );
        }
        assert_eq!(format!("{baked:#?}"), format!("{decoded:#?}"), "{name}");
        // What `Debug` leaves out (API keys' digests and salt, the propagated role's header).
        for (b, d) in baked.endpoints.iter().zip(&decoded.endpoints) {
            assert!(b.api_keys == d.api_keys, "{name}: {} API keys", b.endpoint);
            assert_eq!(jwk_set(b), jwk_set(d), "{name}: {} JWK set", b.endpoint);
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
