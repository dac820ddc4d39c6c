//! The `validation/json-schema` namespace: decodes the schema into the engine's compiled
//! [`JsonSchema`] (`crate::json_schema`) once, at load time. Keywords the engine does not know
//! are reported as warnings (and do not constrain anything), never silently dropped.

use serde_json::Value as Raw;

use crate::config::error::{Diags, Path};
pub use crate::json_schema::JsonSchema;

/// Keywords that only annotate; accepted without a warning.
const ANNOTATIONS: &[&str] = &[
    "$schema",
    "$id",
    "id",
    "title",
    "description",
    "default",
    "examples",
    "$comment",
    "format",
];

// The decoder is an inherent method so the namespace table in `extra/mod.rs` calls it like the
// other namespaces; it lives here, not in the engine, because it reports to config diagnostics.
impl JsonSchema {
    /// Compile `raw`; type errors are config errors, unknown keywords warnings.
    pub(crate) fn compile(
        d: &mut Diags<'_>,
        path: &Path,
        ctx: Option<&str>,
        raw: &Raw,
    ) -> Option<JsonSchema> {
        let obj = match raw {
            Raw::Bool(b) => {
                return Some(JsonSchema {
                    never: !b,
                    ..Default::default()
                })
            }
            Raw::Object(o) => o,
            _ => {
                d.error(path, ctx, "a JSON schema must be an object or a boolean");
                return None;
            }
        };
        let mut s = JsonSchema::default();
        let mut ok = true;
        let count = |v: &Raw| v.as_u64().and_then(|n| usize::try_from(n).ok());
        for (key, v) in obj {
            let at = path.key(key);
            let bad = |d: &mut Diags<'_>, what: &str| {
                d.error(&at, ctx, format!("`{key}` must be {what}"));
            };
            match key.as_str() {
                "type" => match v {
                    Raw::String(t) => s.types = vec![t.clone()],
                    Raw::Array(ts) if ts.iter().all(Raw::is_string) => {
                        s.types = ts.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect();
                    }
                    _ => {
                        bad(d, "a type name or a list of them");
                        ok = false;
                    }
                },
                "properties" => match v.as_object() {
                    Some(props) => {
                        for (name, sub) in props {
                            match Self::compile(d, &at.key(name), ctx, sub) {
                                Some(c) => s.properties.push((name.clone(), c)),
                                None => ok = false,
                            }
                        }
                    }
                    None => {
                        bad(d, "an object");
                        ok = false;
                    }
                },
                "required" => match v.as_array() {
                    Some(r) if r.iter().all(Raw::is_string) => {
                        s.required = r.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect();
                    }
                    _ => {
                        bad(d, "a list of property names");
                        ok = false;
                    }
                },
                "additionalProperties" | "items" => match Self::compile(d, &at, ctx, v) {
                    Some(c) if key == "items" => s.items = Some(Box::new(c)),
                    Some(c) => s.additional = Some(Box::new(c)),
                    None => ok = false,
                },
                "enum" | "const" => {
                    let values = match v {
                        Raw::Array(a) if key == "enum" => a.iter().map(crate::json::from_serde).collect(),
                        other if key == "const" => vec![crate::json::from_serde(other)],
                        _ => {
                            bad(d, "a list");
                            ok = false;
                            continue;
                        }
                    };
                    s.enumeration = Some(values);
                }
                "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" => {
                    let Some(n) = v.as_f64() else {
                        bad(d, "a number");
                        ok = false;
                        continue;
                    };
                    let slot = match key.as_str() {
                        "minimum" => &mut s.minimum,
                        "maximum" => &mut s.maximum,
                        "exclusiveMinimum" => &mut s.exclusive_minimum,
                        _ => &mut s.exclusive_maximum,
                    };
                    *slot = Some(n);
                }
                "minLength" | "maxLength" | "minItems" | "maxItems" => {
                    let Some(n) = count(v) else {
                        bad(d, "a non-negative integer");
                        ok = false;
                        continue;
                    };
                    let slot = match key.as_str() {
                        "minLength" => &mut s.min_length,
                        "maxLength" => &mut s.max_length,
                        "minItems" => &mut s.min_items,
                        _ => &mut s.max_items,
                    };
                    *slot = Some(n);
                }
                k if ANNOTATIONS.contains(&k) => {}
                _ => d.warn(&at, ctx, format!("JSON Schema keyword `{key}` is not supported by Manifold; it does not constrain the body")),
            }
        }
        ok.then_some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(text: &str) -> JsonSchema {
        let mut d = Diags::new("{}");
        let s = JsonSchema::compile(
            &mut d,
            &Path::default(),
            None,
            &serde_json::from_str(text).unwrap(),
        );
        assert!(d.out.errors.is_empty());
        s.unwrap()
    }

    fn valid(s: &JsonSchema, v: &str) -> bool {
        s.is_valid(&crate::json::parse(v.as_bytes()).unwrap())
    }

    #[test]
    fn common_keywords() {
        let s = schema(
            r#"{"type":"object","required":["id"],"additionalProperties":false,
            "properties":{"id":{"type":"integer","minimum":1},"tags":{"type":"array","items":{"type":"string","maxLength":3},"maxItems":2},
            "kind":{"enum":["a","b"]}}}"#,
        );
        assert!(valid(&s, r#"{"id":1,"tags":["abc"],"kind":"a"}"#));
        assert!(valid(&s, r#"{"id":2.0}"#));
        assert!(!valid(&s, r#"{"id":0}"#));
        assert!(!valid(&s, r#"{"id":1.5}"#));
        assert!(!valid(&s, r#"{}"#));
        assert!(!valid(&s, r#"{"id":1,"x":1}"#));
        assert!(!valid(&s, r#"{"id":1,"tags":["abcd"]}"#));
        assert!(!valid(&s, r#"{"id":1,"tags":["a","b","c"]}"#));
        assert!(!valid(&s, r#"{"id":1,"kind":"c"}"#));
        assert!(!valid(&schema(r#"{"type":"number"}"#), r#"{"foo":42}"#));
    }
}
