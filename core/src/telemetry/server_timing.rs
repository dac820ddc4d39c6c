//! `Server-Timing` (a Manifold extension, `router.server_timing`): one entry per backend call
//! and the gateway's total, so a browser's devtools show where the time went.

use std::fmt::Write as _;

use http::HeaderValue;

use crate::platform::BackendCall;

/// The header value: `<name>;desc="<host>";dur=<ms>` per call, then `total;dur=<ms>`.
pub(crate) fn header(calls: &[BackendCall], total_micros: u64) -> Option<HeaderValue> {
    let mut out = String::new();
    for call in calls {
        let _ = write!(
            out,
            "{};desc=\"{}\";dur={}, ",
            token(&call.name),
            quoted(&call.host),
            ms(call.duration_micros)
        );
    }
    let _ = write!(out, "total;dur={}", ms(total_micros));
    HeaderValue::from_str(&out).ok()
}

/// A metric name must be an RFC 9110 token: anything else becomes `_`.
fn token(name: &str) -> String {
    let tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    let out: String = name
        .chars()
        .map(|c| if tchar(c) { c } else { '_' })
        .collect();
    if out.is_empty() {
        "backend".to_owned()
    } else {
        out
    }
}

/// The text inside a quoted string: no quotes, backslashes or controls.
fn quoted(text: &str) -> String {
    text.chars()
        .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
        .collect()
}

/// Milliseconds with at most three decimals, as devtools show them.
fn ms(micros: u64) -> String {
    let whole = micros / 1000;
    match micros % 1000 {
        0 => whole.to_string(),
        frac => format!("{whole}.{frac:03}")
            .trim_end_matches('0')
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, host: &str, micros: u64) -> BackendCall {
        BackendCall {
            headers: None,
            overrides: None,
            parent: [2; 8],
            span_id: [1; 8],
            name: name.into(),
            host: host.into(),
            path: "/".into(),
            method: "GET".into(),
            status: Some(200),
            failure: None,
            start_micros: 0,
            duration_micros: micros,
            bytes: 0,
        }
    }

    #[test]
    fn one_entry_per_call_then_the_total() {
        let calls = [
            call("users", "http://users:8080", 12_500),
            call("http://a:1", "http://a:1", 3_000),
        ];
        assert_eq!(
            header(&calls, 15_250).unwrap(),
            "users;desc=\"http://users:8080\";dur=12.5, http___a_1;desc=\"http://a:1\";dur=3, total;dur=15.25"
        );
        assert_eq!(header(&[], 7).unwrap(), "total;dur=0.007");
    }
}
