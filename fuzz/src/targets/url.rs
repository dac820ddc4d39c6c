//! URL template rendering and the client parameter check. The first line of the input is a
//! `url_pattern`, every further line a raw client value. Properties: a checked value never
//! decodes to something that could change a path; a rendered URL has exactly the structure
//! (`/ ? & = #`) of the same pattern rendered with harmless values.

use std::borrow::Cow;
use std::cell::Cell;

use manifold_core::url::{decode_param, param_eq, rest_path, UrlPattern};

/// The fuzz body.
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let pattern = lines.next().unwrap_or_default();
    let raw: Vec<&str> = lines.collect();

    let checked: Vec<String> = raw.iter().filter_map(|r| checked_param(r)).collect();
    for r in &raw {
        check_rest_path(r);
        let _ = param_eq(pattern, r);
    }

    let Ok(pattern) = UrlPattern::parse(pattern) else {
        return;
    };
    let _ = pattern.vars().count();
    let Ok(safe) = pattern.render(|_| Some(Cow::Borrowed("x"))) else {
        return;
    };
    // Checked client values, then the raw lines themselves (response values and JWT claims
    // are not client path parameters and reach render unchecked).
    for values in [&checked, &raw.iter().map(|s| (*s).to_owned()).collect()] {
        if values.is_empty() {
            continue;
        }
        let next = Cell::new(0usize);
        let rendered = pattern.render(|_| {
            let i = next.get();
            next.set(i + 1);
            values.get(i % values.len()).map(|v| Cow::Owned(v.clone()))
        });
        if let Ok(url) = rendered {
            assert_eq!(structure(&url), structure(&safe), "{url:?} vs {safe:?}");
        }
    }
}

/// [`decode_param`], with its promise checked.
fn checked_param(raw: &str) -> Option<String> {
    let decoded = decode_param(raw)?;
    assert!(
        decoded != "." && decoded != "..",
        "{raw:?} passed as {decoded:?}"
    );
    assert!(
        !decoded
            .chars()
            .any(|c| matches!(c, '/' | '?' | '#' | '\\') || c.is_control()),
        "{raw:?} passed as {decoded:?}"
    );
    Some(decoded)
}

/// [`rest_path`]: each output segment is non-empty, not a dot segment, and escaped.
fn check_rest_path(raw: &str) {
    let Some(rest) = rest_path(raw) else {
        return;
    };
    if rest.is_empty() {
        return;
    }
    for seg in rest.split('/') {
        assert!(
            !seg.is_empty() && seg != "." && seg != "..",
            "{raw:?} -> {rest:?}"
        );
        assert!(
            !seg.contains(['?', '#', '\\']) && !seg.chars().any(char::is_control),
            "{raw:?} -> {rest:?}"
        );
    }
}

/// Where the URL's structural characters are, by count: path segments, query, pairs.
fn structure(url: &str) -> [usize; 5] {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let count = |s: &str, c: char| s.matches(c).count();
    [
        count(path, '/'),
        usize::from(url.contains('?')),
        count(query, '&'),
        count(query, '='),
        count(url, '#'),
    ]
}
