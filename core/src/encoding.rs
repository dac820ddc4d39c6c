//! Backend body decoding by `encoding` (json, safejson, string, xml, rss).

use crate::config::Encoding;
use crate::json::{self, Map, Value};

/// Decode a successful backend body into the response data. `keep`: the only top-level keys
/// the backend's `allow` filter can keep; the other values are validated but not built.
pub(crate) fn decode(
    encoding: Encoding,
    is_collection: bool,
    keep: Option<&[String]>,
    body: &[u8],
) -> Result<Map, String> {
    match encoding {
        Encoding::String => Ok(single(
            "content",
            Value::String(String::from_utf8_lossy(body).into_owned().into()),
        )),
        Encoding::NoOp => Ok(Map::new()),
        // Behind cargo features (config::capability): the loader refuses a config that uses
        // an encoding this build left out, so the other arm is never reached.
        Encoding::Xml if cfg!(feature = "xml") => crate::xml::decode(body),
        Encoding::Rss if cfg!(feature = "rss") => crate::rss::decode(body),
        Encoding::Xml | Encoding::Rss => Err(format!("{encoding:?}: not in this build")),
        Encoding::Json | Encoding::SafeJson => {
            let value = match keep {
                Some(keys) => {
                    json::parse_keeping(body, &|k| keys.iter().any(|x| x.as_bytes() == k))
                }
                None => json::parse(body),
            }
            .map_err(|e| format!("invalid JSON from backend: {e}"))?;
            match (value, encoding, is_collection) {
                (Value::Array(a), _, true) | (Value::Array(a), Encoding::SafeJson, _) => {
                    Ok(single("collection", Value::Array(a)))
                }
                (Value::Object(_), Encoding::Json, true) => Err(
                    "json: cannot unmarshal object into a collection (is_collection is set)"
                        .to_owned(),
                ),
                (Value::Object(m), _, _) => Ok(m),
                (Value::Array(_), _, false) => Err(
                    "json: cannot unmarshal array into map (set is_collection or use safejson)"
                        .to_owned(),
                ),
                (other, Encoding::SafeJson, _) => Ok(single("content", other)),
                (_, _, _) => Err("json: the backend body is not an object".to_owned()),
            }
        }
    }
}

fn single(key: &str, v: Value) -> Map {
    let mut m = Map::new();
    m.insert(key.to_owned().into(), v);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_rules() {
        assert_eq!(
            decode(Encoding::Json, false, None, br#"{"a":1}"#)
                .unwrap()
                .len(),
            1
        );
        assert!(decode(Encoding::Json, false, None, b"[1,2]").is_err());
        assert!(decode(Encoding::Json, true, None, br#"{"a":1}"#).is_err());
        assert!(decode(Encoding::Json, false, None, b"<html>").is_err());
        assert!(decode(Encoding::Json, false, None, b"").is_err());
        assert!(decode(Encoding::Json, false, None, b"null").is_err());
        let c = decode(Encoding::Json, true, None, b"[1,2]").unwrap();
        assert_eq!(Value::Object(c).to_json(), r#"{"collection":[1,2]}"#);
    }

    #[test]
    fn safejson_and_string() {
        assert_eq!(
            Value::Object(decode(Encoding::SafeJson, false, None, b"[1]").unwrap()).to_json(),
            r#"{"collection":[1]}"#
        );
        assert_eq!(
            Value::Object(decode(Encoding::SafeJson, false, None, b"\"s\"").unwrap()).to_json(),
            r#"{"content":"s"}"#
        );
        assert_eq!(
            Value::Object(decode(Encoding::String, false, None, b"hi<").unwrap()).to_json(),
            r#"{"content":"hi\u003c"}"#
        );
    }
}
