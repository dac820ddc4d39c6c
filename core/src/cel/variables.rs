//! The variables an expression reads ([`Activation`]), borrowed from the request, the response
//! and the JWT claims.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::functions::rfc3339;
use super::values::Val;
use crate::json::Map;

/// The values an expression may read, borrowed from the request, response and claims.
#[derive(Debug, Default)]
pub struct Activation<'a> {
    pub(super) vars: BTreeMap<&'static str, Val<'a>>,
}

impl<'a> Activation<'a> {
    /// No variables except `now`, the clock's time (RFC 3339, UTC; what `timestamp(now)` reads).
    pub fn new(now_millis: u64) -> Self {
        let mut vars = BTreeMap::new();
        vars.insert("now", Val::Str(Cow::Owned(rfc3339(now_millis))));
        Activation { vars }
    }

    /// The request variables: `req_method`, `req_path`, `req_params` (named by KrakenD's key,
    /// the first letter upper-cased: the key `param_keys` gives for the name, computed with
    /// the config, else the name with an ASCII first letter upper-cased), `req_headers`
    /// (canonical names, lists of values), `req_querystring` (lists of values).
    pub fn with_request(
        mut self,
        method: &'a str,
        path: &'a str,
        params: &'a [(String, String)],
        param_keys: &[(String, String)],
        headers: &'a http::HeaderMap,
        query: &'a [(String, String)],
    ) -> Self {
        self.vars
            .insert("req_method", Val::Str(Cow::Borrowed(method)));
        self.vars.insert("req_path", Val::Str(Cow::Borrowed(path)));
        let params = params
            .iter()
            .map(|(k, v)| {
                let key = param_keys.iter().find(|(name, _)| name == k);
                let key = key.map_or_else(|| ascii_upper_first(k), |(_, key)| key.clone());
                (key, Val::Str(Cow::Borrowed(v.as_str())))
            })
            .collect();
        self.vars.insert("req_params", Val::Map(params));
        self.vars.insert("req_headers", header_map(headers));
        let mut qs: BTreeMap<String, Val<'a>> = BTreeMap::new();
        for (k, v) in query {
            if let Val::List(l) = qs.entry(k.clone()).or_insert_with(|| Val::List(Vec::new())) {
                l.push(Val::Str(Cow::Borrowed(v.as_str())));
            }
        }
        self.vars.insert("req_querystring", Val::Map(qs));
        self
    }

    /// The response variables: `resp_data`, `resp_completed`, `resp_metadata_status` and
    /// `resp_metadata_headers` (the last two only filled for `no-op`, as KrakenD).
    pub fn with_response(
        mut self,
        data: &'a Map,
        completed: bool,
        status: Option<u16>,
        headers: Option<&'a http::HeaderMap>,
    ) -> Self {
        self.vars.insert("resp_data", Val::Obj(data));
        self.vars.insert("resp_completed", Val::Bool(completed));
        self.vars.insert(
            "resp_metadata_status",
            Val::Int(status.map_or(0, i64::from)),
        );
        let headers = headers.map_or_else(|| Val::Map(BTreeMap::new()), header_map);
        self.vars.insert("resp_metadata_headers", headers);
        self
    }

    /// `JWT`: the validated token's claims.
    pub fn with_jwt(mut self, claims: &'a Map) -> Self {
        self.vars.insert("JWT", Val::Obj(claims));
        self
    }
}

/// No Unicode case mapping on the request path: it would link the case tables
/// (`config::params`).
fn ascii_upper_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| std::iter::once(f.to_ascii_uppercase()).chain(c).collect())
        .unwrap_or_default()
}

fn header_map<'a>(headers: &'a http::HeaderMap) -> Val<'a> {
    let mut out: BTreeMap<String, Val<'a>> = BTreeMap::new();
    for (name, value) in headers {
        let Ok(v) = value.to_str() else { continue };
        let key = crate::http_util::canonical_header(name.as_str());
        if let Val::List(l) = out.entry(key).or_insert_with(|| Val::List(Vec::new())) {
            l.push(Val::Str(Cow::Borrowed(v)));
        }
    }
    Val::Map(out)
}
