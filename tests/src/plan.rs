//! The typed form of a scenario's `plan.json` (the format is described in `tests/scenarios.rs`).
//! Every level rejects keys it does not know, so a misspelled expectation (`"stauts": 404`)
//! fails the suite, naming the file and the key, instead of silently asserting nothing. Values
//! are typed too: a status written as a string or a peer that is no IP address is an error,
//! not a skipped check.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// A whole `plan.json`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// What the scenario shows; documentation only.
    #[serde(default)]
    pub description: String,
    /// Backend replies scripted before the first request, by URL.
    #[serde(default)]
    pub backends: BTreeMap<String, Reply>,
    /// The one request (without `steps`).
    pub request: Option<Request>,
    /// What the answer to `request` must be.
    pub expect: Option<Expect>,
    /// The config must be refused, with errors containing each of these substrings.
    pub expect_config_error: Option<Vec<String>>,
    /// The config loads, with warnings containing each of these substrings.
    #[serde(default)]
    pub expect_warning: Vec<String>,
    /// Several requests in order (instead of `request`/`expect`).
    pub steps: Option<Vec<Step>>,
}

/// A scripted backend reply.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    /// Status code (200 when absent).
    #[serde(default = "ok")]
    pub status: u16,
    /// Response headers: a value or a list of values per name.
    #[serde(default)]
    pub headers: BTreeMap<String, Values>,
    /// A string is sent as it is, any other JSON serialised; absent means empty.
    #[serde(default)]
    pub body: Value,
    /// Gzip the body and add `Content-Encoding: gzip`.
    #[serde(default)]
    pub gzip: bool,
    /// Virtual time before the reply arrives.
    #[serde(default)]
    pub delay_ms: u64,
    /// Refuse the connection instead of replying.
    #[serde(default)]
    pub refuse: bool,
}

/// One request to the gateway.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// HTTP method (GET when absent).
    #[serde(default = "get")]
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Request headers: a value or a list of values per name.
    #[serde(default)]
    pub headers: BTreeMap<String, Values>,
    /// Request body.
    #[serde(default)]
    pub body: String,
    /// The client's address (127.0.0.1 when absent).
    #[serde(default = "localhost")]
    pub peer: IpAddr,
    /// The adapter saw the request arrive over HTTPS (`RequestContext::https`).
    #[serde(default)]
    pub https: bool,
}

/// What an answer (and the backend calls so far) must look like; absent parts are not checked.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Status code.
    pub status: Option<u16>,
    /// Response headers: the exact list of values, or `null` for "absent".
    #[serde(default)]
    pub headers: BTreeMap<String, Option<Values>>,
    /// The exact body.
    pub body: Option<String>,
    /// The body parsed as JSON (`null` included).
    #[serde(default, deserialize_with = "present")]
    pub json: Option<Value>,
    /// Virtual time the request took.
    pub elapsed_ms: Option<u64>,
    /// The backend calls so far, in order (a prefix of them).
    #[serde(default)]
    pub calls: Vec<Call>,
    /// How many backend calls were made so far (cumulative over steps).
    pub call_count: Option<usize>,
    /// The request's record (its access-log JSON, plus `"log"`: whether it is logged): every
    /// key given must have this value; objects are compared key by key, arrays item by item.
    pub record: Option<Value>,
}

/// One expected backend call.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Call {
    /// HTTP method.
    pub method: Option<String>,
    /// Full URL.
    pub url: Option<String>,
    /// Headers that must have exactly these values.
    #[serde(default)]
    pub headers: BTreeMap<String, Values>,
    /// Headers that must not be sent.
    #[serde(default)]
    pub absent: Vec<String>,
    /// The exact body.
    pub body: Option<String>,
}

/// One step of a multi-request plan: either `request` + `expect`, or `parallel`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Virtual time passing before this step.
    pub wait_ms: Option<u64>,
    /// Replies re-scripted from this step on.
    #[serde(default)]
    pub backends: BTreeMap<String, Reply>,
    /// The step's request.
    pub request: Option<Request>,
    /// What its answer must be.
    pub expect: Option<Expect>,
    /// Requests sent concurrently, each with its expectation.
    pub parallel: Option<Vec<Exchange>>,
}

/// A request and what its answer must be.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exchange {
    /// The request.
    pub request: Request,
    /// What its answer must be.
    pub expect: Expect,
}

/// A header value or a list of them.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Values {
    /// One value.
    One(String),
    /// Several values, in order.
    Many(Vec<String>),
}

impl Values {
    /// The values as a list.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Values::One(v) => vec![v.clone()],
            Values::Many(v) => v.clone(),
        }
    }
}

fn ok() -> u16 {
    200
}

fn get() -> String {
    "GET".to_owned()
}

fn localhost() -> IpAddr {
    IpAddr::from([127, 0, 0, 1])
}

/// `Some` for any present value, `null` included (a plain `Option` reads `null` as absent).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

impl Plan {
    /// Read a plan; the error names the key path (`steps[2].expect.stauts: unknown field ...`)
    /// and the line and column.
    pub fn parse(text: &str) -> Result<Self, String> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let plan: Plan = serde_path_to_error::deserialize(de).map_err(|e| e.to_string())?;
        plan.check()?;
        Ok(plan)
    }

    /// Reject combinations where a part of the plan would be ignored.
    fn check(&self) -> Result<(), String> {
        let single = self.request.is_some() || self.expect.is_some();
        if self.expect_config_error.is_some() {
            if single || self.steps.is_some() || !self.backends.is_empty() {
                return Err(
                    "`expect_config_error` plans send no request: drop `request`, `expect`, \
                     `steps` and `backends`"
                        .into(),
                );
            }
            if !self.expect_warning.is_empty() {
                return Err("`expect_warning` needs a config that loads".into());
            }
            return Ok(());
        }
        match &self.steps {
            Some(_) if single => Err("`steps` replaces `request` and `expect`".into()),
            Some(steps) if steps.is_empty() => Err("`steps` is empty".into()),
            Some(steps) => steps
                .iter()
                .enumerate()
                .try_for_each(|(i, s)| s.check().map_err(|e| format!("steps[{i}]: {e}"))),
            None if self.request.is_none() || self.expect.is_none() => {
                Err("a plan needs `request` and `expect`, `steps` or `expect_config_error`".into())
            }
            None => Ok(()),
        }
    }

    /// The requests to send, in order: `steps`, or the one `request` as a single step.
    pub fn steps(&self) -> Vec<Step> {
        match &self.steps {
            Some(steps) => steps.clone(),
            None => vec![Step {
                wait_ms: None,
                backends: BTreeMap::new(),
                request: self.request.clone(),
                expect: self.expect.clone(),
                parallel: None,
            }],
        }
    }
}

impl Step {
    fn check(&self) -> Result<(), String> {
        match (&self.request, &self.expect, &self.parallel) {
            (Some(_), Some(_), None) => Ok(()),
            (None, None, Some(list)) if !list.is_empty() => Ok(()),
            _ => Err("a step has `request` and `expect`, or a non-empty `parallel`".into()),
        }
    }

    /// The step's requests with their expectations, and whether they are sent concurrently.
    pub fn exchanges(&self) -> (Vec<(&Request, &Expect)>, bool) {
        match (&self.request, &self.expect, &self.parallel) {
            (_, _, Some(list)) => (list.iter().map(|x| (&x.request, &x.expect)).collect(), true),
            (Some(r), Some(e), None) => (vec![(r, e)], false),
            _ => (Vec::new(), false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUEST: &str = r#"{"method": "GET", "path": "/a"}"#;

    fn single(expect: &str) -> String {
        format!(r#"{{"description": "d", "request": {REQUEST}, "expect": {expect}}}"#)
    }

    #[test]
    fn a_misspelled_expectation_key_is_rejected_with_its_path() {
        let err = Plan::parse(&single(r#"{"stauts": 404}"#)).unwrap_err();
        assert!(err.contains("expect"), "{err}");
        assert!(err.contains("unknown field `stauts`"), "{err}");
        assert!(err.contains("line 1"), "{err}");
        // The same expectation spelt right is read.
        let plan = Plan::parse(&single(r#"{"status": 404}"#)).unwrap();
        assert_eq!(plan.expect.unwrap().status, Some(404));
    }

    #[test]
    fn unknown_keys_are_rejected_at_every_level() {
        let cases = [
            (r#"{"descripton": "d"}"#, "descripton"),
            (
                r#"{"backends": {"http://b/": {"stauts": 200}}, "request": {"path": "/"}, "expect": {}}"#,
                "backends.http://b/.stauts",
            ),
            (
                r#"{"request": {"path": "/", "header": {}}, "expect": {}}"#,
                "request.header",
            ),
            (
                r#"{"request": {"path": "/"}, "expect": {"calls": [{"urll": "x"}]}}"#,
                "expect.calls[0].urll",
            ),
            (
                r#"{"steps": [{"request": {"path": "/"}, "expect": {}, "wait": 1}]}"#,
                "steps[0].wait",
            ),
            (
                r#"{"steps": [{"parallel": [{"request": {"path": "/"}, "expect": {"bdy": ""}}]}]}"#,
                "steps[0].parallel[0].expect.bdy",
            ),
        ];
        for (text, key) in cases {
            let err = Plan::parse(text).unwrap_err();
            assert!(err.starts_with(key), "{key}: {err}");
        }
    }

    #[test]
    fn wrongly_typed_values_are_rejected() {
        assert!(Plan::parse(&single(r#"{"status": "404"}"#)).is_err());
        let bad_peer = r#"{"request": {"path": "/", "peer": "nowhere"}, "expect": {}}"#;
        assert!(Plan::parse(bad_peer)
            .unwrap_err()
            .starts_with("request.peer"));
    }

    #[test]
    fn ignored_parts_are_rejected() {
        for text in [
            r#"{"request": {"path": "/"}}"#,
            r#"{"expect": {"status": 200}}"#,
            r#"{"request": {"path": "/"}, "expect": {}, "steps": [{"request": {"path": "/"}, "expect": {}}]}"#,
            r#"{"steps": [{"request": {"path": "/"}}]}"#,
            r#"{"steps": [{"parallel": [], "wait_ms": 1}]}"#,
            r#"{"expect_config_error": ["x"], "request": {"path": "/"}, "expect": {}}"#,
        ] {
            assert!(Plan::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn defaults_and_null_json_are_kept() {
        let plan = Plan::parse(&single(r#"{"json": null, "headers": {"X-A": null}}"#)).unwrap();
        let steps = plan.steps();
        let (exchanges, parallel) = steps[0].exchanges();
        assert!(!parallel);
        let (request, expect) = exchanges[0];
        assert_eq!(request.peer, localhost());
        assert_eq!(request.method, "GET");
        assert_eq!(expect.json, Some(Value::Null));
        assert!(expect.headers["X-A"].is_none());
        assert_eq!(
            Plan::parse(&single("{}")).unwrap().expect.unwrap().json,
            None
        );
    }
}
