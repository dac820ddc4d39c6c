//! A small evaluator for the part of Google's Common Expression Language (CEL) that
//! `validation/cel` expressions use: literals, lists and maps, `.` and `[]`, the usual
//! operators with CEL's error-absorbing `&&`/`||`, `? :`, `in`, the `has()` and comprehension
//! macros, and the common functions (`int`, `double`, `string`, `size`, `matches`, ...).
//!
//! Expressions are parsed once, at config load ([`Program::parse`]); syntax errors, unknown
//! variables and unknown functions are config errors. Evaluation never panics and is bounded:
//! the tree depth is limited at parse time ([`MAX_DEPTH`]) and every evaluation has a step
//! budget ([`MAX_STEPS`]). An evaluation error (missing key, wrong type, overflow) is reported
//! as an error, which callers treat as false (fail closed).
//!
//! Not a crate: `cel` 0.15 (ANTLR runtime + generated parser) adds ~2 MB of wasm, far too much
//! for the Workers bundle.
//!
//! Load time: `lex` (text → tokens) → `parse` (tokens → checked tree). Request time: `eval`
//! walks the tree over `values` (borrowed JSON), with the `functions` library and the
//! `variables` an [`Activation`] supplies.

mod eval;
mod functions;
mod lex;
mod parse;
mod values;
mod variables;

pub(crate) use variables::Activation;

use lex::perr;
use parse::Expr;
use values::Val;

/// Deepest expression tree accepted; evaluation recursion is bounded by it.
pub(crate) const MAX_DEPTH: usize = 48;
/// Most evaluation steps one expression may take (comprehension iterations included).
pub(crate) const MAX_STEPS: usize = 100_000;
/// Longest expression text accepted, in bytes.
pub(crate) const MAX_LEN: usize = 16 * 1024;

/// The variables an expression may read (KrakenD's krakend-cel declarations).
pub(crate) const VARIABLES: &[&str] = &[
    "req_method",
    "req_path",
    "req_params",
    "req_headers",
    "req_querystring",
    "now",
    "JWT",
    "resp_completed",
    "resp_metadata_status",
    "resp_metadata_headers",
    "resp_data",
];

/// A parsed expression, ready to evaluate.
#[derive(Debug, Clone)]
pub struct Program {
    root: Expr,
    /// The [`VARIABLES`] the expression reads.
    vars: Vec<&'static str>,
    source: String,
}

/// Why an expression could not be parsed: the message and the byte offset in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset in the expression where the problem was found.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (at character {})", self.message, self.offset + 1)
    }
}

impl Program {
    /// Parse and check one expression (once, at config load).
    pub fn parse(source: &str) -> Result<Self, ParseError> {
        if source.len() > MAX_LEN {
            return perr(0, format!("expression longer than {MAX_LEN} bytes"));
        }
        if source.trim().is_empty() {
            return perr(0, "empty expression");
        }
        let (root, vars) = parse::parse(source)?;
        Ok(Program {
            root,
            vars,
            source: source.to_owned(),
        })
    }

    /// Whether the expression reads `name` (one of [`VARIABLES`]).
    pub fn reads(&self, name: &str) -> bool {
        self.vars.contains(&name)
    }

    /// Whether the expression reads any variable starting with `prefix` (`req_`, `resp_`).
    pub fn reads_prefixed(&self, prefix: &str) -> bool {
        self.vars.iter().any(|v| v.starts_with(prefix))
    }

    /// The expression's text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluate; `Ok(true)` only when the result is the boolean `true`. Anything else (false,
    /// a non-boolean, an evaluation error) must be treated as a refusal.
    pub fn eval(&self, vars: &Activation<'_>) -> Result<bool, String> {
        match eval::evaluate(&self.root, vars)? {
            Val::Bool(b) => Ok(b),
            other => Err(format!("the result is a {}, not a bool", other.type_name())),
        }
    }

    /// [`Self::eval`] as a plain yes/no: errors count as false (fail closed).
    pub fn check(&self, vars: &Activation<'_>) -> bool {
        self.eval(vars).unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::{Map, Value as Json};

    fn run(src: &str) -> Result<bool, String> {
        let p = Program::parse(src).map_err(|e| e.to_string())?;
        let mut claims = Map::new();
        claims.insert("roles".into(), Json::Array(vec!["a".into(), "b".into()]));
        claims.insert("n".into(), Json::Number(crate::json::Number::from_u64(7)));
        claims.insert("http://x/y".into(), "foo".into());
        let mut headers = http::HeaderMap::new();
        headers.insert("x-header", http::HeaderValue::from_static("something"));
        headers.append("x-header", http::HeaderValue::from_static("other"));
        let params = vec![("id".to_owned(), "30".to_owned())];
        let query = vec![
            ("q".to_owned(), "1".to_owned()),
            ("q".to_owned(), "2".to_owned()),
        ];
        // 2024-01-06T12:34:56Z, a Saturday.
        let vars = Activation::new(1_704_544_496_000)
            .with_request("GET", "/a/30", &params, &[], &headers, &query)
            .with_jwt(&claims);
        p.eval(&vars)
    }

    #[test]
    fn krakend_fixture_expressions() {
        assert_eq!(run("'something' in req_headers['X-Header']"), Ok(true));
        assert_eq!(run("int(req_params.Id) % 2 == 0"), Ok(true));
        assert_eq!(run("int(req_params.Id) % 7 == 0"), Ok(false));
        assert_eq!(run("size(JWT.roles)>1"), Ok(true));
        assert!(run("'x' in req_headers['X-Missing']").is_err());
    }

    #[test]
    fn operators_and_functions() {
        for ok in [
            "1 + 2 * 3 == 7",
            "-(3) == -3 && -3 < 0",
            "(1 < 2) == true",
            "2.5 > 2 && 3u == 3",
            "'ab' + 'c' == 'abc'",
            "[1, 2] + [3] == [1, 2, 3]",
            "{'a': 1}.a == 1 && 'a' in {'a': 1}",
            "has(JWT.roles) && !has(JWT.nope)",
            "JWT['http://x/y'] == 'foo'",
            "JWT.n + 1 == 8 && JWT.n * 1.5 == 10.5",
            "req_method == 'GET' && req_path.startsWith('/a') && req_path.endsWith('30')",
            "req_params.Id.matches('^[0-9]+$') && 'bc'.contains('c')",
            "req_querystring.q == ['1', '2']",
            "JWT.roles.exists(r, r == 'b') && JWT.roles.all(r, size(r) == 1)",
            "JWT.roles.map(r, r + r) == ['aa', 'bb'] && JWT.roles.filter(r, r == 'a') == ['a']",
            "[1, 2, 3].exists_one(x, x > 2)",
            "true ? 1 == 1 : 1 / 0 == 1",
            "string(12) == '12' && double('1.5') == 1.5 && int('-4') == -4",
            "timestamp(now).getDayOfWeek() == 6 && timestamp(now).getHours() == 12",
            "timestamp(now) > timestamp('2024-01-01T00:00:00+01:00')",
            "timestamp('2024-03-01T00:00:00Z').getDayOfYear() == 60",
            "0x10 == 16 && 1e2 == 100.0",
            r#""a\"b" == 'a"b' && r'\d' == '\\d'"#,
            // Error absorption: the decisive side wins.
            "JWT.nope == 1 || true",
            "!(false && JWT.nope == 1)",
        ] {
            assert_eq!(run(ok), Ok(true), "{ok}");
        }
        for bad in [
            "1 / 0 == 1",
            "9223372036854775807 + 1 > 0",
            "JWT.nope == 1 || false",
            "1 + 'a' == 1",
            "[1][5] == 1",
            "'5'",
        ] {
            assert!(run(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parse_errors_are_located() {
        let e = Program::parse("req_method == ").unwrap_err();
        assert_eq!(e.offset, 14);
        assert!(Program::parse("foo == 1")
            .unwrap_err()
            .message
            .contains("undeclared"));
        assert!(Program::parse("size(1, 2)").is_err());
        assert!(Program::parse("req_path.matches(req_path)").is_err());
        assert!(Program::parse("req_path.matches('(')").is_err());
        assert!(Program::parse("'abc").is_err());
        assert!(Program::parse("1 2").is_err());
        let deep = format!("{}1{}", "(".repeat(500), ")".repeat(500));
        assert!(Program::parse(&deep)
            .unwrap_err()
            .message
            .contains("deeper"));
        let ok = format!("{}1{}", "(".repeat(20), ")".repeat(20));
        assert!(Program::parse(&ok).is_ok());
        let deep = format!("{}1", "!".repeat(500));
        assert!(Program::parse(&deep)
            .unwrap_err()
            .message
            .contains("deeper"));
        let long = vec!["1"; 200].join(" + ");
        assert!(Program::parse(&long)
            .unwrap_err()
            .message
            .contains("deeper"));
    }

    #[test]
    fn variables_are_recorded() {
        let p = Program::parse("JWT.a == req_params.B && [1].all(x, x > 0)").unwrap();
        assert!(p.reads("JWT") && p.reads_prefixed("req_") && !p.reads_prefixed("resp_"));
    }
}
