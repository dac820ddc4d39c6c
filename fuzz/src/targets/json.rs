//! The JSON parser: what it accepts survives a write/parse round trip unchanged, the
//! filtering parser (`parse_keeping`, used for `allow`) accepts exactly the same documents and
//! keeps exactly the selected keys, the transcoder (a single filtered answer) writes exactly
//! what parsing, filtering and writing give and refuses the same documents, and error offsets
//! point inside the input.

use manifold_core::json::{locate, parse, parse_keeping, transcode, Filter, PathSeg, Value};

/// The fuzz body.
pub fn run(data: &[u8]) {
    // A key filter that depends on the key, so both branches run.
    let keep = |k: &[u8]| k.len().is_multiple_of(2);
    let full = parse(data);
    let kept = parse_keeping(data, &keep);
    assert_eq!(
        full.is_ok(),
        kept.is_ok(),
        "parse and parse_keeping disagree: {full:?} / {kept:?}"
    );
    match (&full, &kept) {
        (Ok(full), Ok(kept)) => {
            let again = parse(full.to_json().as_bytes());
            assert_eq!(again.as_ref(), Ok(full), "round trip changed the value");
            let expected = match full {
                Value::Object(map) => Value::Object(
                    map.iter()
                        .filter(|(k, _)| keep(k.as_bytes()))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                ),
                other => other.clone(),
            };
            assert_eq!(kept, &expected, "parse_keeping kept other keys");
            let path = first_path(full);
            assert!(locate(data, &path) <= data.len());
        }
        (Err(a), Err(b)) => {
            assert!(a.offset <= data.len() && b.offset <= data.len());
        }
        _ => {}
    }
    let paths = [vec!["a".to_owned()], vec!["b".to_owned(), "c".to_owned()]];
    for filter in [
        Filter::deny(&[]),
        Filter::deny(&paths),
        Filter::allow(&paths),
    ] {
        let by_tree = match &full {
            Ok(Value::Object(map)) => {
                let mut map = map.clone();
                filter.apply(&mut map);
                Some(Value::Object(map).to_json_bytes(0))
            }
            _ => None,
        };
        let transcoded = transcode(data, &filter).ok().map(|t| t.bytes);
        assert_eq!(transcoded, by_tree, "transcoding and the tree disagree");
    }
}

/// A path to the first leaf, following first keys and first elements.
fn first_path(mut v: &Value) -> Vec<PathSeg> {
    let mut path = Vec::new();
    loop {
        match v {
            Value::Object(map) => match map.iter().next() {
                Some((k, inner)) => {
                    path.push(PathSeg::Key(k.to_string()));
                    v = inner;
                }
                None => return path,
            },
            Value::Array(items) => match items.first() {
                Some(inner) => {
                    path.push(PathSeg::Index(0));
                    v = inner;
                }
                None => return path,
            },
            _ => return path,
        }
    }
}
