//! The `validation/json-schema` namespace: decodes the schema into the engine's compiled
//! [`JsonSchema`] (`crate::json_schema`) once, at load time. Keywords the engine does not know
//! are reported as warnings (and do not constrain anything), never silently dropped.

use serde_json::Value as Raw;

use crate::config::error::{Diags, Path};
use crate::json::{Map, Number, Value};
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

// Read back for `manifold openapi export`: the document says what the gateway enforces, so it
// is rebuilt from the compiled form (annotations and unsupported keywords are not kept).
impl JsonSchema {
    /// The schema as a JSON Schema document with exactly the keywords Manifold enforces.
    pub fn document(&self) -> Value {
        if self.never {
            return Value::Bool(false);
        }
        let mut out = Map::new();
        match self.types.as_slice() {
            [] => {}
            [one] => put(&mut out, "type", Value::String(one.clone().into())),
            many => put(
                &mut out,
                "type",
                Value::Array(many.iter().cloned().map(Value::from).collect()),
            ),
        }
        if !self.properties.is_empty() {
            let props = self
                .properties
                .iter()
                .map(|(name, s)| (name.clone(), s.document()))
                .collect();
            put(&mut out, "properties", Value::Object(props));
        }
        if !self.required.is_empty() {
            let names = self.required.iter().cloned().map(Value::from).collect();
            put(&mut out, "required", Value::Array(names));
        }
        if let Some(a) = &self.additional {
            put(&mut out, "additionalProperties", a.document());
        }
        if let Some(i) = &self.items {
            put(&mut out, "items", i.document());
        }
        if let Some(values) = &self.enumeration {
            put(&mut out, "enum", Value::Array(values.clone()));
        }
        let bounds = [
            ("minimum", self.minimum),
            ("maximum", self.maximum),
            ("exclusiveMinimum", self.exclusive_minimum),
            ("exclusiveMaximum", self.exclusive_maximum),
        ];
        for (key, bound) in bounds {
            if let Some(n) = bound.and_then(float) {
                put(&mut out, key, n);
            }
        }
        let counts = [
            ("minLength", self.min_length),
            ("maxLength", self.max_length),
            ("minItems", self.min_items),
            ("maxItems", self.max_items),
        ];
        for (key, count) in counts {
            if let Some(n) = count {
                put(&mut out, key, Value::Number(Number::from_u64(n as u64)));
            }
        }
        Value::Object(out)
    }
}

fn put(out: &mut Map, key: &str, value: Value) {
    out.insert(key.to_owned().into(), value);
}

/// A bound as a JSON number (whole numbers without a fraction); `None` for NaN and infinities,
/// which JSON cannot write (a config cannot produce them either).
fn float(n: f64) -> Option<Value> {
    if !n.is_finite() {
        return None;
    }
    let text = if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    };
    crate::json::parse(text.as_bytes()).ok()
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

    #[test]
    fn document_keeps_the_enforced_keywords_and_drops_the_rest() {
        let text = r#"{"type":["object","null"],"required":["id"],"additionalProperties":false,
            "title":"a user","pattern":"^x",
            "properties":{"id":{"type":"integer","minimum":1,"exclusiveMaximum":2.5},
            "tags":{"type":"array","items":{"type":"string","maxLength":3},"minItems":1},
            "kind":{"const":"a"}}}"#;
        let mut got = String::new();
        crate::json::write_json(&mut got, &schema(text).document());
        assert_eq!(
            got,
            r#"{"additionalProperties":false,"properties":{"id":{"exclusiveMaximum":2.5,"minimum":1,"type":"integer"},"kind":{"enum":["a"]},"tags":{"items":{"maxLength":3,"type":"string"},"minItems":1,"type":"array"}},"required":["id"],"type":["object","null"]}"#
        );
        // Compiling the document again gives the same checks.
        let again = schema(&got);
        for body in [
            r#"{"id":1}"#,
            r#"{"id":0}"#,
            r#"{"id":1,"x":1}"#,
            "null",
            r#"{"id":1,"tags":[]}"#,
        ] {
            assert_eq!(valid(&again, body), valid(&schema(text), body), "{body}");
        }
    }
}
