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

/// Where a keyword is, for its diagnostics.
struct At<'p> {
    path: Path,
    ctx: Option<&'p str>,
}

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
        for (key, v) in obj {
            let at = At {
                path: path.key(key),
                ctx,
            };
            if let Err(problem) = s.keyword(d, &at, key, v) {
                if let Some(what) = problem {
                    d.error(&at.path, ctx, format!("`{key}` must be {what}"));
                }
                ok = false;
            }
        }
        ok.then_some(s)
    }

    /// One keyword into `self`. `Err(Some(what))`: the value is not `what` (a config error);
    /// `Err(None)`: a nested schema failed and already reported why.
    fn keyword(
        &mut self,
        d: &mut Diags<'_>,
        at: &At<'_>,
        key: &str,
        v: &Raw,
    ) -> Result<(), Option<&'static str>> {
        match key {
            "type" => self.types = names(v).ok_or(Some("a type name or a list of them"))?,
            "properties" => {
                let props = v.as_object().ok_or(Some("an object"))?;
                let mut ok = true;
                for (name, sub) in props {
                    match Self::compile(d, &at.path.key(name), at.ctx, sub) {
                        Some(c) => self.properties.push((name.clone(), c)),
                        None => ok = false,
                    }
                }
                ok.then_some(()).ok_or(None)?;
            }
            "required" => {
                self.required = v
                    .as_array()
                    .filter(|r| r.iter().all(Raw::is_string))
                    .map(|r| r.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
                    .ok_or(Some("a list of property names"))?;
            }
            "items" | "additionalProperties" => {
                let sub = Box::new(Self::compile(d, &at.path, at.ctx, v).ok_or(None)?);
                if key == "items" {
                    self.items = Some(sub);
                } else {
                    self.additional = Some(sub);
                }
            }
            "enum" => {
                let list = v.as_array().ok_or(Some("a list"))?;
                self.enumeration = Some(list.iter().map(crate::json::from_serde).collect());
            }
            "const" => self.enumeration = Some(vec![crate::json::from_serde(v)]),
            "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" => {
                *self.bound(key) = Some(v.as_f64().ok_or(Some("a number"))?);
            }
            "minLength" | "maxLength" | "minItems" | "maxItems" => {
                let n = v.as_u64().and_then(|n| usize::try_from(n).ok());
                *self.count(key) = Some(n.ok_or(Some("a non-negative integer"))?);
            }
            k if ANNOTATIONS.contains(&k) => {}
            _ => d.warn(&at.path, at.ctx, format!("JSON Schema keyword `{key}` is not supported by Manifold; it does not constrain the body")),
        }
        Ok(())
    }

    /// The numeric bound a keyword sets.
    fn bound(&mut self, key: &str) -> &mut Option<f64> {
        match key {
            "minimum" => &mut self.minimum,
            "maximum" => &mut self.maximum,
            "exclusiveMinimum" => &mut self.exclusive_minimum,
            _ => &mut self.exclusive_maximum,
        }
    }

    /// The length or size limit a keyword sets.
    fn count(&mut self, key: &str) -> &mut Option<usize> {
        match key {
            "minLength" => &mut self.min_length,
            "maxLength" => &mut self.max_length,
            "minItems" => &mut self.min_items,
            _ => &mut self.max_items,
        }
    }
}

/// A type name or a list of them.
fn names(v: &Raw) -> Option<Vec<String>> {
    match v {
        Raw::String(t) => Some(vec![t.clone()]),
        Raw::Array(ts) if ts.iter().all(Raw::is_string) => Some(
            ts.iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect(),
        ),
        _ => None,
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
