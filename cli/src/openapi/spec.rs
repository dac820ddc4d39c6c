//! Reading an OpenAPI file: JSON, or YAML (what most specs are written in) turned into the same
//! JSON value, with YAML's anchors resolved by the parser.

use serde_json::{Map, Number, Value};
use yaml_rust2::{Yaml, YamlLoader};

/// Why a spec could not be read.
#[derive(Debug)]
pub enum SpecError {
    /// Neither JSON nor YAML.
    Syntax(String),
    /// Valid YAML that JSON cannot hold (a non-scalar key, an unresolved alias).
    Shape(String),
}

impl std::fmt::Display for SpecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SpecError::Syntax(e) => write!(f, "not JSON or YAML: {e}"),
            SpecError::Shape(e) => write!(f, "cannot be read as JSON: {e}"),
        }
    }
}

impl std::error::Error for SpecError {}

/// The spec text as a JSON value: JSON when it starts like JSON, else YAML (a superset).
pub fn parse(text: &str) -> Result<Value, SpecError> {
    if text.trim_start().starts_with('{') {
        if let Ok(v) = serde_json::from_str(text) {
            return Ok(v);
        }
    }
    let docs = YamlLoader::load_from_str(text).map_err(|e| SpecError::Syntax(e.to_string()))?;
    match docs.first() {
        Some(doc) => to_json(doc),
        None => Err(SpecError::Syntax("the file is empty".into())),
    }
}

/// One YAML node as JSON. Keys become strings (`200:` is the status `"200"`).
fn to_json(y: &Yaml) -> Result<Value, SpecError> {
    Ok(match y {
        Yaml::Null => Value::Null,
        Yaml::Boolean(b) => Value::Bool(*b),
        Yaml::Integer(i) => Value::Number((*i).into()),
        Yaml::Real(text) => match text.parse::<f64>().ok().and_then(Number::from_f64) {
            Some(n) => Value::Number(n),
            None => Value::String(text.clone()),
        },
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Array(items) => Value::Array(items.iter().map(to_json).collect::<Result<_, _>>()?),
        Yaml::Hash(h) => {
            let mut out = Map::new();
            for (k, v) in h {
                out.insert(key(k)?, to_json(v)?);
            }
            Value::Object(out)
        }
        Yaml::Alias(_) | Yaml::BadValue => {
            return Err(SpecError::Shape(
                "an alias the parser did not resolve".into(),
            ))
        }
    })
}

/// A mapping key as a string.
fn key(k: &Yaml) -> Result<String, SpecError> {
    Ok(match k {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        Yaml::Null => "null".to_owned(),
        _ => {
            return Err(SpecError::Shape(
                "a mapping key that is not a scalar".into(),
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn yaml_and_json_read_the_same() {
        let yaml = "openapi: 3.0.0\npaths:\n  /a:\n    get:\n      responses:\n        200:\n          description: ok\n        x: &r {n: 1.5, b: true, z: ~}\n        y: *r\n";
        let expected = json!({"openapi": "3.0.0", "paths": {"/a": {"get": {"responses": {
            "200": {"description": "ok"},
            "x": {"n": 1.5, "b": true, "z": null},
            "y": {"n": 1.5, "b": true, "z": null}}}}}});
        assert_eq!(parse(yaml).unwrap(), expected);
        assert_eq!(parse(&expected.to_string()).unwrap(), expected);
        assert!(parse("a: [1, 2").is_err());
        assert!(parse("? [1, 2]\n: x\n").is_err());
    }
}
