//! A small JSON Schema validator over our own [`Value`] for the common keywords (type,
//! properties, required, additionalProperties, items, enum/const, the numeric bounds and the
//! length/count bounds). The schema is compiled once, at config load, by the
//! `validation/json-schema` decoder in `config::extra`, which fills in the fields below and
//! reports the keywords this engine does not know; here is only the compiled form and the
//! check a request body goes through.

use crate::json::Value;

/// A compiled schema. An absent constraint (empty list, `None`) does not constrain anything.
/// Its fields are public only for the configs compiled in (`config::bake`).
#[derive(Debug, Clone, Default)]
pub struct JsonSchema {
    /// `false` schema: nothing is valid.
    #[doc(hidden)]
    pub never: bool,
    /// `type`: the value must be one of these (`integer` also accepts `2.0`).
    #[doc(hidden)]
    pub types: Vec<String>,
    /// `properties`: the schema of each named member, when present.
    #[doc(hidden)]
    pub properties: Vec<(String, JsonSchema)>,
    /// `required`: members that must be present.
    #[doc(hidden)]
    pub required: Vec<String>,
    /// `additionalProperties`: the schema of members not named in `properties`.
    #[doc(hidden)]
    pub additional: Option<Box<JsonSchema>>,
    /// `items`: the schema of every array element.
    #[doc(hidden)]
    pub items: Option<Box<JsonSchema>>,
    /// `enum` (or `const`, as a one-element list): the allowed values.
    #[doc(hidden)]
    pub enumeration: Option<Vec<Value>>,
    /// `minimum`.
    #[doc(hidden)]
    pub minimum: Option<f64>,
    /// `maximum`.
    #[doc(hidden)]
    pub maximum: Option<f64>,
    /// `exclusiveMinimum` (the draft-06 number form).
    #[doc(hidden)]
    pub exclusive_minimum: Option<f64>,
    /// `exclusiveMaximum` (the draft-06 number form).
    #[doc(hidden)]
    pub exclusive_maximum: Option<f64>,
    /// `minLength`, in characters.
    #[doc(hidden)]
    pub min_length: Option<usize>,
    /// `maxLength`, in characters.
    #[doc(hidden)]
    pub max_length: Option<usize>,
    /// `minItems`.
    #[doc(hidden)]
    pub min_items: Option<usize>,
    /// `maxItems`.
    #[doc(hidden)]
    pub max_items: Option<usize>,
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => crate::float::parse(n.as_str()),
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

/// One way a value breaks a schema: where (an RFC 6901 JSON Pointer into the checked value),
/// which keyword, and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Where, e.g. `/items/0/qty` (empty: the whole value).
    pub pointer: String,
    /// The keyword that failed (`type`, `required`, `minimum`, ...).
    pub keyword: &'static str,
    /// What is wrong.
    pub detail: String,
}

/// Most violations reported for one value (a huge invalid body must not make a huge answer).
pub(crate) const MAX_VIOLATIONS: usize = 16;

/// `name` escaped as one JSON Pointer reference token (RFC 6901: `~` → `~0`, `/` → `~1`).
fn pointer_token(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

impl JsonSchema {
    /// Every way `v` breaks the schema (at most [`MAX_VIOLATIONS`]), in document order;
    /// empty exactly when [`JsonSchema::is_valid`] holds. For RFC 9457 problem details.
    pub fn violations(&self, v: &Value) -> Vec<Violation> {
        let mut out = Vec::new();
        self.collect(v, "", &mut out);
        out.truncate(MAX_VIOLATIONS);
        out
    }

    fn collect(&self, v: &Value, at: &str, out: &mut Vec<Violation>) {
        if out.len() >= MAX_VIOLATIONS {
            return;
        }
        let mut push = |keyword: &'static str, detail: String| {
            out.push(Violation {
                pointer: at.to_owned(),
                keyword,
                detail,
            });
        };
        if self.never {
            push("false", "no value is allowed here".to_owned());
            return;
        }
        if !self.types.is_empty() {
            let t = type_of(v);
            let integer = number(v).is_some_and(|n| n.fract() == 0.0);
            if !self
                .types
                .iter()
                .any(|want| want == t || (want == "integer" && integer))
            {
                push(
                    "type",
                    format!("expected {}, got {t}", self.types.join(" or ")),
                );
            }
        }
        if let Some(values) = &self.enumeration {
            let same = |a: &Value| match (number(a), number(v)) {
                (Some(x), Some(y)) => x == y,
                _ => a == v,
            };
            if !values.iter().any(same) {
                push(
                    "enum",
                    "the value is not one of the allowed values".to_owned(),
                );
            }
        }
        if let Some(n) = number(v) {
            let bounds = [
                (
                    "minimum",
                    self.minimum,
                    n < self.minimum.unwrap_or(f64::MIN),
                    "less than",
                ),
                (
                    "maximum",
                    self.maximum,
                    n > self.maximum.unwrap_or(f64::MAX),
                    "greater than",
                ),
                (
                    "exclusiveMinimum",
                    self.exclusive_minimum,
                    self.exclusive_minimum.is_some_and(|m| n <= m),
                    "not greater than",
                ),
                (
                    "exclusiveMaximum",
                    self.exclusive_maximum,
                    self.exclusive_maximum.is_some_and(|m| n >= m),
                    "not less than",
                ),
            ];
            for (keyword, bound, fails, relation) in bounds {
                if let (Some(m), true) = (bound, fails) {
                    push(keyword, format!("{n} is {relation} {m}"));
                }
            }
        }
        match v {
            Value::String(s) => {
                let len = s.chars().count();
                if let Some(m) = self.min_length.filter(|m| len < *m) {
                    push(
                        "minLength",
                        format!("{len} characters, at least {m} required"),
                    );
                }
                if let Some(m) = self.max_length.filter(|m| len > *m) {
                    push(
                        "maxLength",
                        format!("{len} characters, at most {m} allowed"),
                    );
                }
            }
            Value::Array(items) => {
                let n = items.len();
                if let Some(m) = self.min_items.filter(|m| n < *m) {
                    push("minItems", format!("{n} items, at least {m} required"));
                }
                if let Some(m) = self.max_items.filter(|m| n > *m) {
                    push("maxItems", format!("{n} items, at most {m} allowed"));
                }
                if let Some(each) = &self.items {
                    for (i, item) in items.iter().enumerate() {
                        each.collect(item, &format!("{at}/{i}"), out);
                    }
                }
            }
            Value::Object(map) => {
                for r in self.required.iter().filter(|r| !map.contains_key(r)) {
                    push("required", format!("the member `{r}` is required"));
                }
                for (k, value) in map {
                    let here = format!("{at}/{}", pointer_token(k));
                    match self.properties.iter().find(|(name, _)| name == k) {
                        Some((_, sub)) => sub.collect(value, &here, out),
                        None => {
                            if let Some(a) = &self.additional {
                                if a.never {
                                    out.push(Violation {
                                        pointer: here,
                                        keyword: "additionalProperties",
                                        detail: format!("the member `{k}` is not allowed"),
                                    });
                                } else {
                                    a.collect(value, &here, out);
                                }
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(s: &JsonSchema, v: &str) -> bool {
        let value = crate::json::parse(v.as_bytes()).unwrap();
        let valid = s.is_valid(&value);
        // The problem+json list agrees with the check on every value the tests try.
        assert_eq!(valid, s.violations(&value).is_empty(), "{v}");
        valid
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

#[cfg(test)]
mod violation_tests {
    use super::*;

    #[test]
    fn violations_point_at_the_failing_member() {
        let s = JsonSchema {
            types: vec!["object".into()],
            properties: vec![
                (
                    "qty".into(),
                    JsonSchema {
                        minimum: Some(1.0),
                        ..JsonSchema::default()
                    },
                ),
                (
                    "a/b".into(),
                    JsonSchema {
                        items: Some(Box::new(JsonSchema {
                            types: vec!["string".into()],
                            ..JsonSchema::default()
                        })),
                        ..JsonSchema::default()
                    },
                ),
            ],
            required: vec!["name".into()],
            additional: Some(Box::new(JsonSchema {
                never: true,
                ..JsonSchema::default()
            })),
            ..JsonSchema::default()
        };
        let v = crate::json::parse(br#"{"qty":0,"a/b":["x",2],"zz":1}"#).unwrap();
        let got: Vec<(String, &str)> = s
            .violations(&v)
            .into_iter()
            .map(|x| (x.pointer, x.keyword))
            .collect();
        assert_eq!(
            got,
            vec![
                (String::new(), "required"),
                ("/a~1b/1".to_owned(), "type"),
                ("/qty".to_owned(), "minimum"),
                ("/zz".to_owned(), "additionalProperties"),
            ]
        );
    }
}
