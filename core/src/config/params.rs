//! Endpoint placeholder names as KrakenD compares and keys them, resolved while the config is
//! decoded. KrakenD keys a request's parameters by the name with its first letter upper-cased
//! (Go's `strings.Title`), so `{id}` in the endpoint and `{Id}` in a `url_pattern` are one
//! parameter. Upper-casing a letter beyond ASCII needs the standard library's Unicode case
//! tables (about 16 KB of the Worker's gzip size, bench/profile-notes.md), so the request path
//! compares only ASCII letters without case ([`crate::url::param_eq`]) and every Unicode case
//! mapping happens here: a reference that matches only through a non-ASCII letter's case is a
//! config error, and the keys CEL and `backend/lambda` show are computed once, here.

use crate::url::param_eq;

/// KrakenD's key for `name`: its first letter upper-cased.
pub(crate) fn key(name: &str) -> String {
    let mut chars = name.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Whether `a` and `b` are one parameter for KrakenD (their keys are equal).
pub(crate) fn same(a: &str, b: &str) -> bool {
    key(a) == key(b)
}

/// Whether `name` refers to one of `params`; `Err` with the message for a reference only
/// KrakenD's Unicode comparison would match, which the request path does not make.
pub(crate) fn refers(params: &[String], name: &str) -> Result<bool, String> {
    if params.iter().any(|p| param_eq(p, name)) {
        return Ok(true);
    }
    match params.iter().find(|p| same(p, name)) {
        Some(p) => Err(format!(
            "`{{{name}}}` differs from the endpoint's `{{{p}}}` only in the case of its first letter, which is not ASCII: Manifold compares such a letter exactly; write it as the endpoint does"
        )),
        None => Ok(false),
    }
}

/// Each of `params` with KrakenD's key for it (CEL's `req_params`).
pub(crate) fn keys(params: &[String]) -> Vec<(String, String)> {
    params.iter().map(|p| (p.clone(), key(p))).collect()
}

/// Each of `params` with its key lower-cased (`backend/lambda`'s payload, KrakenD's
/// `strings.ToLower` of the key).
pub(crate) fn lowered(params: &[String]) -> Vec<(String, String)> {
    params
        .iter()
        .map(|p| (p.clone(), key(p).to_lowercase()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_match_as_krakend_keys_them() {
        let params = ["id".to_owned(), "ñame".to_owned(), "Ésta".to_owned()];
        assert_eq!(refers(&params, "Id"), Ok(true));
        assert_eq!(refers(&params, "id"), Ok(true));
        assert_eq!(refers(&params, "ñame"), Ok(true));
        assert_eq!(refers(&params, "Ésta"), Ok(true));
        assert_eq!(refers(&params, "iD"), Ok(false));
        assert_eq!(refers(&params, "other"), Ok(false));
        // KrakenD would match these; the request path would not: an error at the key.
        assert!(refers(&params, "Ñame")
            .unwrap_err()
            .contains("the endpoint's `{ñame}`"));
        assert!(refers(&params, "ésta").is_err());
    }

    #[cfg(all(feature = "cel", feature = "lambda"))]
    fn config(endpoint: &str, backend_extra: &str) -> Result<crate::Config, String> {
        let text = format!(
            r#"{{"version":3,"endpoints":[{{"endpoint":"{endpoint}",
              "extra_config":{{"validation/cel":[{{"check_expr":"true"}}]}},
              "backend":[{{"host":["http://h"],"url_pattern":"/b","extra_config":{backend_extra}}}]}}]}}"#
        );
        crate::config::parse(&text).map_err(|e| e.to_string())
    }

    #[cfg(all(feature = "cel", feature = "lambda"))]
    #[test]
    fn the_config_computes_the_keys_cel_and_lambda_show() {
        let lambda = r#"{"backend/lambda":{"function_param_name":"ñame","region":"r"}}"#;
        let config = config("/f/{ñame}/{id}", lambda).unwrap();
        let endpoint = &config.endpoints[0];
        let keys = [("ñame", "Ñame"), ("id", "Id")].map(|(a, b)| (a.to_owned(), b.to_owned()));
        assert_eq!(endpoint.cel.as_ref().unwrap().param_keys, keys);
        let lambda = endpoint.backend[0].lambda.as_ref().unwrap();
        let lowered = [("ñame", "ñame"), ("id", "id")].map(|(a, b)| (a.to_owned(), b.to_owned()));
        assert_eq!(lambda.payload_keys, lowered);
    }

    #[cfg(all(feature = "cel", feature = "lambda"))]
    #[test]
    fn a_reference_only_unicode_case_would_match_is_a_located_error() {
        let lambda = r#"{"backend/lambda":{"function_param_name":"Ñame","region":"r"}}"#;
        let e = config("/f/{ñame}", lambda).unwrap_err();
        assert!(e.contains("function_param_name"), "{e}");
        assert!(
            e.contains("differs from the endpoint's `{ñame}` only in the case"),
            "{e}"
        );
    }

    #[cfg(feature = "ratelimit")]
    #[test]
    fn a_rate_limit_keyed_by_such_a_reference_is_an_error_too() {
        let text = |key: &str| {
            format!(
                r#"{{"version":3,"endpoints":[{{"endpoint":"/f/{{ñame}}",
                  "extra_config":{{"qos/ratelimit/router":{{"client_max_rate":1,"strategy":"param","key":"{key}"}}}},
                  "backend":[{{"host":["http://h"],"url_pattern":"/b"}}]}}]}}"#
            )
        };
        assert!(crate::config::parse(&text("ñame")).is_ok());
        let e = crate::config::parse(&text("Ñame")).unwrap_err().to_string();
        assert!(e.contains("qos/ratelimit/router.key"), "{e}");
        assert!(e.contains("only in the case of its first letter"), "{e}");
    }

    #[test]
    fn keys_upper_case_the_first_letter_and_lambda_lower_cases_them() {
        let params = ["id".to_owned(), "ñame".to_owned(), "userId".to_owned()];
        assert_eq!(
            keys(&params),
            [("id", "Id"), ("ñame", "Ñame"), ("userId", "UserId")]
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
        assert_eq!(
            lowered(&params)[2],
            ("userId".to_owned(), "userid".to_owned())
        );
        assert_eq!(lowered(&params)[1].1, "ñame");
    }
}
