//! The request-path drawing lives in the module doc of `core/src/pipeline/mod.rs`;
//! docs/architecture.md carries a copy. This test keeps the copy identical, so the two cannot
//! drift apart again.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::Path;

/// The first ```text block of `text`, with `prefix` stripped from each line.
fn drawing(text: &str, prefix: &str) -> Vec<String> {
    text.lines()
        .map(|l| {
            l.strip_prefix(prefix)
                .unwrap_or(l.trim_end_matches(prefix.trim_end()))
        })
        .skip_while(|l| *l != "```text")
        .skip(1)
        .take_while(|l| *l != "```")
        .map(str::to_owned)
        .collect()
}

#[test]
fn architecture_doc_has_the_pipeline_drawing() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let code = fs::read_to_string(root.join("core/src/pipeline/mod.rs")).unwrap();
    let doc = fs::read_to_string(root.join("docs/architecture.md")).unwrap();
    let from_code = drawing(&code, "//! ");
    assert!(from_code.len() > 10, "no drawing in pipeline/mod.rs");
    assert_eq!(
        from_code,
        drawing(&doc, ""),
        "docs/architecture.md's request path differs from core/src/pipeline/mod.rs"
    );
}
