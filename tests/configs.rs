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
