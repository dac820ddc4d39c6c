//! `proxy.sequential`: backends called one after another under one shared deadline (85 % of
//! the endpoint timeout, as the parallel merge); backend N may use `{resp<M>_<path>}` from
//! the formatted data of any earlier backend M. The first backend failing fails the request;
//! a later failure (or an incomplete answer) stops the chain with what was merged so far.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{select, Either};

use super::failure::Member;
use super::merge::MERGE_TIMEOUT_PERCENT;
use super::{ErrorSource, Proxy, ProxyError, ProxyRequest, ProxyResponse, SharedProxy};
use crate::json::{Map, Value};
use crate::platform::{BoxFuture, Platform};

struct Sequential {
    backends: Vec<Member>,
    budget: Duration,
    platform: Platform,
}

/// Call `backends` in order, feeding each the data of the ones before.
pub(crate) fn layer(
    backends: Vec<Member>,
    endpoint_timeout: Duration,
    platform: Platform,
) -> SharedProxy {
    Arc::new(Sequential {
        backends,
        budget: endpoint_timeout * MERGE_TIMEOUT_PERCENT / 100,
        platform,
    })
}

impl Proxy for Sequential {
    fn call(&self, request: ProxyRequest) -> BoxFuture<'_, Result<ProxyResponse, ProxyError>> {
        Box::pin(async move {
            // One timer for the whole chain: every step shares what is left of the budget.
            let mut deadline = self.platform.sleep.sleep(self.budget);
            let mut merged = ProxyResponse {
                is_complete: true,
                ..Default::default()
            };
            let mut previous: Vec<Arc<Map>> = Vec::with_capacity(self.backends.len());
            // The first backend not called (the chain may stop early).
            let mut stopped = self.backends.len();
            for (i, backend) in self.backends.iter().enumerate() {
                let mut req = request.clone();
                req.previous = previous.clone().into();
                let result = match select(backend.proxy.call(req), &mut deadline).await {
                    Either::Left((result, _)) => result,
                    Either::Right(_) => Err(ProxyError::timeout()),
                };
                match result {
                    Err(e) => match &backend.required {
                        Some(required) => return Err(required.fail(e)),
                        None if i == 0 => return Err(e),
                        None => {
                            merged.is_complete = false;
                            merged.errored = true;
                            stopped = i + 1;
                            break;
                        }
                    },
                    Ok(part) => {
                        merged.errored |= part.errored;
                        merged.is_complete &= part.is_complete;
                        merged.size_hint += part.size_hint;
                        previous.push(Arc::new(part.data.clone()));
                        merged.data.extend(part.data);
                        if !part.is_complete {
                            stopped = i + 1;
                            break;
                        }
                    }
                }
            }
            // `manifold/failure`: a required backend the chain stopped before fails it too.
            if let Some(index) = (stopped..self.backends.len())
                .find(|&j| self.backends.get(j).is_some_and(|b| b.required.is_some()))
            {
                return Err(ProxyError::new(
                    ErrorSource::Required,
                    format!("the chain stopped before required backend {index}"),
                ));
            }
            Ok(merged)
        })
    }
}

/// The text a `{resp<N>_<path>}` placeholder gets: walk `path` through objects of backend N's
/// data, then stringify as lura does (`None` when the path does not exist).
pub(crate) fn lookup(previous: &[Arc<Map>], index: usize, path: &[String]) -> Option<String> {
    let (first, rest) = path.split_first()?;
    let mut v = previous.get(index)?.get(first)?;
    for key in rest {
        v = v.as_object()?.get(key)?;
    }
    Some(match v {
        Value::Array(items) => items.iter().map(go_fmt).collect::<Vec<_>>().join(","),
        other => go_fmt(other),
    })
}

/// Go's `fmt.Sprintf("%v", v)` for decoded JSON.
fn go_fmt(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.as_str().to_owned(),
        Value::String(s) => s.to_string(),
        Value::Array(items) => {
            format!(
                "[{}]",
                items.iter().map(go_fmt).collect::<Vec<_>>().join(" ")
            )
        }
        Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", go_fmt(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse;

    #[test]
    fn values_are_stringified_like_lura() {
        let Value::Object(m) = parse(
            br#"{"n":42,"f":1.50,"s":"x y","b":true,"z":null,"a":[1,"b",[2]],"e":[],"o":{"k":{"v":1}}}"#,
        )
        .unwrap() else {
            panic!("object expected")
        };
        let prev = [Arc::new(m)];
        let get = |p: &str| {
            let path: Vec<String> = p.split('.').map(str::to_owned).collect();
            lookup(&prev, 0, &path)
        };
        assert_eq!(get("n").as_deref(), Some("42"));
        assert_eq!(get("f").as_deref(), Some("1.50"));
        assert_eq!(get("s").as_deref(), Some("x y"));
        assert_eq!(get("b").as_deref(), Some("true"));
        assert_eq!(get("z").as_deref(), Some("<nil>"));
        assert_eq!(get("a").as_deref(), Some("1,b,[2]"));
        assert_eq!(get("e").as_deref(), Some(""));
        assert_eq!(get("o").as_deref(), Some("map[k:map[v:1]]"));
        assert_eq!(get("o.k.v").as_deref(), Some("1"));
        assert_eq!(get("missing"), None);
        assert_eq!(get("n.x"), None);
        assert_eq!(lookup(&prev, 1, &["n".to_owned()]), None);
    }
}
