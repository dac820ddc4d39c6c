//! A small JSON Schema validator over our own [`Value`] for the common keywords (type,
//! properties, required, additionalProperties, items, enum/const, the numeric bounds and the
//! length/count bounds). The schema is compiled once, at config load, by the
//! `validation/json-schema` decoder in `config::extra`, which fills in the fields below and
//! reports the keywords this engine does not know; here is only the compiled form and the
//! check a request body goes through.

use crate::json::Value;

/// A compiled schema. An absent constraint (empty list, `None`) does not constrain anything.
#[derive(Debug, Clone, Default)]
pub struct JsonSchema {
    /// `false` schema: nothing is valid.
    pub(crate) never: bool,
    /// `type`: the value must be one of these (`integer` also accepts `2.0`).
    pub(crate) types: Vec<String>,
    /// `properties`: the schema of each named member, when present.
    pub(crate) properties: Vec<(String, JsonSchema)>,
    /// `required`: members that must be present.
    pub(crate) required: Vec<String>,
    /// `additionalProperties`: the schema of members not named in `properties`.
    pub(crate) additional: Option<Box<JsonSchema>>,
    /// `items`: the schema of every array element.
    pub(crate) items: Option<Box<JsonSchema>>,
    /// `enum` (or `const`, as a one-element list): the allowed values.
    pub(crate) enumeration: Option<Vec<Value>>,
    /// `minimum`.
    pub(crate) minimum: Option<f64>,
    /// `maximum`.
    pub(crate) maximum: Option<f64>,
    /// `exclusiveMinimum` (the draft-06 number form).
    pub(crate) exclusive_minimum: Option<f64>,
    /// `exclusiveMaximum` (the draft-06 number form).
    pub(crate) exclusive_maximum: Option<f64>,
    /// `minLength`, in characters.
    pub(crate) min_length: Option<usize>,
    /// `maxLength`, in characters.
    pub(crate) max_length: Option<usize>,
    /// `minItems`.
    pub(crate) min_items: Option<usize>,
    /// `maxItems`.
    pub(crate) max_items: Option<usize>,
}

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

    fn valid(s: &JsonSchema, v: &str) -> bool {
        s.is_valid(&crate::json::parse(v.as_bytes()).unwrap())
    }

    #[test]
    fn no_constraint_accepts_anything_and_false_accepts_nothing() {
        let any = JsonSchema::default();
        let never = JsonSchema {
            never: true,
            ..JsonSchema::default()
        };
        for v in ["null", "1", r#""a""#, "[]", "{}"] {
            assert!(valid(&any, v), "{v}");
            assert!(!valid(&never, v), "{v}");
        }
    }

    #[test]
    fn integers_and_enumerated_numbers_compare_by_value() {
        let s = JsonSchema {
            types: vec!["integer".into()],
            enumeration: Some(vec![crate::json::parse(b"2").unwrap()]),
            ..JsonSchema::default()
        };
        assert!(valid(&s, "2"));
        assert!(valid(&s, "2.0"));
        assert!(!valid(&s, "3"));
        assert!(!valid(&s, r#""2""#));
    }

    #[test]
    fn members_not_named_meet_additional_properties() {
        let s = JsonSchema {
            properties: vec![(
                "id".into(),
                JsonSchema {
                    exclusive_minimum: Some(0.0),
                    ..JsonSchema::default()
                },
            )],
            required: vec!["id".into()],
            additional: Some(Box::new(JsonSchema {
                types: vec!["string".into()],
                max_length: Some(2),
                ..JsonSchema::default()
            })),
            ..JsonSchema::default()
        };
        assert!(valid(&s, r#"{"id":1,"x":"ab"}"#));
        assert!(!valid(&s, r#"{"id":0}"#));
        assert!(!valid(&s, r#"{"x":"ab"}"#));
        assert!(!valid(&s, r#"{"id":1,"x":"abc"}"#));
        assert!(!valid(&s, r#"{"id":1,"x":3}"#));
    }
}
