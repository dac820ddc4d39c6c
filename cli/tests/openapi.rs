//! The OpenAPI round trip in-process on the real specs of the shared test vectors
//! (`$MANIFOLD_TEST_VECTORS/openapi/`, read at test time): import, the gateway's own config
//! parser, export, and the operation sets compared. `scripts/openapi.sh` runs the same on
//! the binary, with GitHub's description and a real validator on top.

use std::collections::BTreeMap;
use std::path::PathBuf;

use manifold::openapi::{export, import, spec};
use serde_json::Value;

fn vectors_dir() -> PathBuf {
    std::env::var_os("MANIFOLD_TEST_VECTORS").map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/test-vectors"
            ))
        },
        PathBuf::from,
    )
}

/// (METHOD, path with every placeholder segment as `{}`) → count.
fn operations(doc: &Value) -> BTreeMap<(String, String), usize> {
    let mut out = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in [
            "get", "put", "post", "delete", "options", "head", "patch", "trace",
        ] {
            if item.get(method).is_some() {
                *out.entry((method.to_ascii_uppercase(), shape(path)))
                    .or_default() += 1;
            }
        }
    }
    out
}

fn shape(path: &str) -> String {
    path.split('/')
        .map(|s| if s.contains('{') { "{}" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn real_specs_round_trip_with_every_operation_kept_or_reported() {
    let dir = vectors_dir().join("openapi");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "specs not found at {} (set MANIFOLD_TEST_VECTORS)",
            dir.display()
        );
        println!(
            "skipped: no specs at {} (set MANIFOLD_TEST_VECTORS)",
            dir.display()
        );
        return;
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "json"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 4,
        "expected the 4 shared specs in {}",
        dir.display()
    );
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let source = spec::parse(&text).unwrap();
        let options = import::Options {
            backend_host: Some("http://127.0.0.1:9".into()),
        };
        let imported = import::import(&source, &options).unwrap();
        let config_text = serde_json::to_string_pretty(&imported.config).unwrap();
        let config = manifold_core::parse_config(&config_text)
            .unwrap_or_else(|e| panic!("{}: the import is refused: {e:?}", file.display()));
        let info = export::Info {
            title: "t".into(),
            version: "1".into(),
            server: None,
        };
        let doc = export::document(&config, &info);
        assert_eq!(doc["openapi"], "3.1.0");
        let mut kept = operations(&doc);
        for label in imported.config["@unmapped_operations"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let label = label.as_str().unwrap();
            let (method, rest) = label.split_once(' ').unwrap();
            let path = rest.split_once(": ").unwrap().0;
            *kept.entry((method.to_owned(), shape(path))).or_default() += 1;
        }
        assert_eq!(kept, operations(&source), "{}", file.display());
        assert!(
            !imported.operations.is_empty(),
            "{}: nothing imported",
            file.display()
        );
    }
}
