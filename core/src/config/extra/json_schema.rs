//! The `validation/json-schema` namespace: a small JSON Schema validator over our own
//! [`Value`] for the common keywords, compiled once at load time. Keywords it does not know
//! are reported as warnings (and do not constrain anything), never silently dropped.

use serde_json::Value as Raw;

use crate::config::error::{Diags, Path};
use crate::json::Value;

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

/// A compiled schema.
#[derive(Debug, Clone, Default)]
pub struct JsonSchema {
    /// `false` schema: nothing is valid.
    never: bool,
    types: Vec<String>,
    properties: Vec<(String, JsonSchema)>,
    required: Vec<String>,
    additional: Option<Box<JsonSchema>>,
    items: Option<Box<JsonSchema>>,
    enumeration: Option<Vec<Value>>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    exclusive_minimum: Option<f64>,
    exclusive_maximum: Option<f64>,
    min_length: Option<usize>,
    max_length: Option<usize>,
    min_items: Option<usize>,
    max_items: Option<usize>,
}

// === impl JsonSchema ===

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_str().parse().ok(),
        _ => None,
    }
}

fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

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

    /// Whether `v` satisfies the schema.
    pub fn is_valid(&self, v: &Value) -> bool {
        if self.never {
            return false;
        }
        if !self.types.is_empty() {
            let t = type_of(v);
            let integer = number(v).is_some_and(|n| n.fract() == 0.0);
            if !self
                .types
                .iter()
                .any(|want| want == t || (want == "integer" && integer))
            {
                return false;
            }
        }
        if let Some(values) = &self.enumeration {
            // Numbers compare by value (`1` equals `1.0`), everything else structurally.
            let same = |a: &Value| match (number(a), number(v)) {
                (Some(x), Some(y)) => x == y,
                _ => a == v,
            };
            if !values.iter().any(same) {
                return false;
            }
        }
        if let Some(n) = number(v) {
            let fails = self.minimum.is_some_and(|m| n < m)
                || self.maximum.is_some_and(|m| n > m)
                || self.exclusive_minimum.is_some_and(|m| n <= m)
                || self.exclusive_maximum.is_some_and(|m| n >= m);
            if fails {
                return false;
            }
        }
        match v {
            Value::String(s) => {
                let len = s.chars().count();
                if self.min_length.is_some_and(|m| len < m)
                    || self.max_length.is_some_and(|m| len > m)
                {
                    return false;
                }
            }
            Value::Array(items) => {
                if self.min_items.is_some_and(|m| items.len() < m)
                    || self.max_items.is_some_and(|m| items.len() > m)
                {
                    return false;
                }
                if let Some(each) = &self.items {
                    if !items.iter().all(|i| each.is_valid(i)) {
                        return false;
                    }
                }
            }
            Value::Object(map) => {
                if !self.required.iter().all(|r| map.contains_key(r)) {
                    return false;
                }
                for (k, value) in map {
                    let ok = match self.properties.iter().find(|(name, _)| name == k) {
                        Some((_, sub)) => sub.is_valid(value),
                        None => self.additional.as_ref().is_none_or(|a| a.is_valid(value)),
                    };
                    if !ok {
                        return false;
                    }
                }
            }
            _ => {}
        }
        true
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
