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

use std::borrow::Cow;
use std::collections::BTreeMap;

use regex_lite::Regex;

use crate::json::{Map, Value as Json};

/// Deepest expression tree accepted; evaluation recursion is bounded by it.
pub const MAX_DEPTH: usize = 48;
/// Most evaluation steps one expression may take (comprehension iterations included).
pub const MAX_STEPS: usize = 100_000;
/// Longest expression text accepted, in bytes.
pub const MAX_LEN: usize = 16 * 1024;

/// The variables an expression may read (KrakenD's krakend-cel declarations).
pub const VARIABLES: &[&str] = &[
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

// ================================ values ================================

/// A runtime value. JSON data is borrowed, not copied.
#[derive(Debug, Clone)]
enum Val<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Double(f64),
    Str(Cow<'a, str>),
    List(Vec<Val<'a>>),
    Map(BTreeMap<String, Val<'a>>),
    /// A JSON array, borrowed.
    Arr(&'a [Json]),
    /// A JSON object, borrowed.
    Obj(&'a Map),
    /// Seconds and nanoseconds since the Unix epoch.
    Time(i64, u32),
}

type R<T> = Result<T, String>;

fn from_json(v: &Json) -> Val<'_> {
    match v {
        Json::Null => Val::Null,
        Json::Bool(b) => Val::Bool(*b),
        Json::Number(n) => {
            let s = n.as_str();
            if let Ok(i) = s.parse::<i64>() {
                Val::Int(i)
            } else if let Ok(u) = s.parse::<u64>() {
                Val::Uint(u)
            } else {
                s.parse::<f64>().map_or(Val::Null, Val::Double)
            }
        }
        Json::String(s) => Val::Str(Cow::Borrowed(s)),
        Json::Array(a) => Val::Arr(a),
        Json::Object(o) => Val::Obj(o),
    }
}

impl<'a> Val<'a> {
    fn type_name(&self) -> &'static str {
        match self {
            Val::Null => "null",
            Val::Bool(_) => "bool",
            Val::Int(_) => "int",
            Val::Uint(_) => "uint",
            Val::Double(_) => "double",
            Val::Str(_) => "string",
            Val::List(_) | Val::Arr(_) => "list",
            Val::Map(_) | Val::Obj(_) => "map",
            Val::Time(..) => "timestamp",
        }
    }

    fn is_list(&self) -> bool {
        matches!(self, Val::List(_) | Val::Arr(_))
    }

    fn elems(&self) -> Option<Vec<Val<'a>>> {
        match self {
            Val::List(l) => Some(l.clone()),
            Val::Arr(a) => Some(a.iter().map(from_json).collect()),
            _ => None,
        }
    }

    fn keys(&self) -> Option<Vec<Val<'a>>> {
        match self {
            Val::Map(m) => Some(m.keys().map(|k| Val::Str(Cow::Owned(k.clone()))).collect()),
            Val::Obj(o) => Some(o.keys().map(|k| Val::Str(Cow::Owned(k.clone()))).collect()),
            _ => None,
        }
    }

    fn get_key(&self, key: &str) -> Option<Option<Val<'a>>> {
        match self {
            Val::Map(m) => Some(m.get(key).cloned()),
            Val::Obj(o) => Some(o.get(key).map(from_json)),
            _ => None,
        }
    }

    fn number(&self) -> Option<f64> {
        match self {
            #[allow(clippy::cast_precision_loss)]
            Val::Int(i) => Some(*i as f64),
            #[allow(clippy::cast_precision_loss)]
            Val::Uint(u) => Some(*u as f64),
            Val::Double(d) => Some(*d),
            _ => None,
        }
    }
}

fn no_overload(op: &str, a: &Val<'_>, b: &Val<'_>) -> String {
    format!("no such overload: {} {op} {}", a.type_name(), b.type_name())
}

/// CEL equality: numbers compare by value across int/uint/double, lists and maps deeply.
fn equals(a: &Val<'_>, b: &Val<'_>) -> R<bool> {
    Ok(match (a, b) {
        (Val::Null, Val::Null) => true,
        (Val::Bool(x), Val::Bool(y)) => x == y,
        (Val::Str(x), Val::Str(y)) => x == y,
        (Val::Time(s1, n1), Val::Time(s2, n2)) => (s1, n1) == (s2, n2),
        (Val::Int(x), Val::Int(y)) => x == y,
        (Val::Uint(x), Val::Uint(y)) => x == y,
        (Val::Int(x), Val::Uint(y)) | (Val::Uint(y), Val::Int(x)) => {
            u64::try_from(*x).is_ok_and(|x| x == *y)
        }
        (x, y) if x.number().is_some() && y.number().is_some() => x.number() == y.number(),
        (x, y) if x.is_list() && y.is_list() => {
            let (xs, ys) = (x.elems().unwrap_or_default(), y.elems().unwrap_or_default());
            if xs.len() != ys.len() {
                return Ok(false);
            }
            for (p, q) in xs.iter().zip(&ys) {
                if !equals(p, q)? {
                    return Ok(false);
                }
            }
            true
        }
        (x, y) if x.keys().is_some() && y.keys().is_some() => {
            let (xk, yk) = (x.keys().unwrap_or_default(), y.keys().unwrap_or_default());
            if xk.len() != yk.len() {
                return Ok(false);
            }
            for k in &xk {
                let Val::Str(k) = k else { return Ok(false) };
                match (x.get_key(k).flatten(), y.get_key(k).flatten()) {
                    (Some(p), Some(q)) if equals(&p, &q)? => {}
                    _ => return Ok(false),
                }
            }
            true
        }
        // Different types are simply not equal (CEL's heterogeneous equality).
        _ => false,
    })
}

fn compare(a: &Val<'_>, b: &Val<'_>) -> R<std::cmp::Ordering> {
    use std::cmp::Ordering;
    match (a, b) {
        (Val::Str(x), Val::Str(y)) => Ok(x.cmp(y)),
        (Val::Bool(x), Val::Bool(y)) => Ok(x.cmp(y)),
        (Val::Time(s1, n1), Val::Time(s2, n2)) => Ok((s1, n1).cmp(&(s2, n2))),
        (Val::Int(x), Val::Int(y)) => Ok(x.cmp(y)),
        (Val::Uint(x), Val::Uint(y)) => Ok(x.cmp(y)),
        (Val::Int(x), Val::Uint(y)) => Ok(u64::try_from(*x).map_or(Ordering::Less, |x| x.cmp(y))),
        (Val::Uint(x), Val::Int(y)) => {
            Ok(u64::try_from(*y).map_or(Ordering::Greater, |y| x.cmp(&y)))
        }
        (x, y) => match (x.number(), y.number()) {
            (Some(p), Some(q)) => p
                .partial_cmp(&q)
                .ok_or_else(|| "NaN is not comparable".to_owned()),
            _ => Err(no_overload("<", a, b)),
        },
    }
}

// ================================ lexer ================================

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Int(i64),
    Uint(u64),
    Double(f64),
    Str(String),
    Ident(String),
    Punct(&'static str),
    Eof,
}

const PUNCT: &[&str] = &[
    "==", "!=", "<=", ">=", "&&", "||", "<", ">", "!", "+", "-", "*", "/", "%", "?", ":", ".", ",",
    "(", ")", "[", "]", "{", "}",
];

const RESERVED: &[&str] = &[
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
];

fn perr<T>(offset: usize, message: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        offset,
        message: message.into(),
    })
}

fn lex(src: &str) -> Result<Vec<(Tok, usize)>, ParseError> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b.get(i).copied().unwrap_or(0);
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b.get(i) != Some(&b'\n') {
                i += 1;
            }
            continue;
        }
        let start = i;
        // Strings, with an optional raw prefix.
        let raw = matches!(c, b'r' | b'R') && matches!(b.get(i + 1), Some(b'\'' | b'"'));
        if raw || c == b'\'' || c == b'"' {
            if raw {
                i += 1;
            }
            let (s, end) = lex_string(src, i, raw)?;
            out.push((Tok::Str(s), start));
            i = end;
            continue;
        }
        if matches!(c, b'b' | b'B') && matches!(b.get(i + 1), Some(b'\'' | b'"')) {
            return perr(i, "bytes literals are not supported");
        }
        if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            let (t, end) = lex_number(src, i)?;
            out.push((t, start));
            i = end;
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            while b
                .get(i)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
            {
                i += 1;
            }
            out.push((
                Tok::Ident(src.get(start..i).unwrap_or("").to_owned()),
                start,
            ));
            continue;
        }
        let Some(p) = PUNCT
            .iter()
            .find(|p| src.get(i..).is_some_and(|rest| rest.starts_with(**p)))
        else {
            let ch = src.get(i..).and_then(|s| s.chars().next()).unwrap_or('?');
            return perr(i, format!("unexpected character `{ch}`"));
        };
        out.push((Tok::Punct(p), start));
        i += p.len();
    }
    out.push((Tok::Eof, src.len()));
    Ok(out)
}

fn lex_number(src: &str, start: usize) -> Result<(Tok, usize), ParseError> {
    let b = src.as_bytes();
    let mut i = start;
    let digits = |i: &mut usize, hex: bool| {
        while b.get(*i).is_some_and(|c| {
            if hex {
                c.is_ascii_hexdigit()
            } else {
                c.is_ascii_digit()
            }
        }) {
            *i += 1;
        }
    };
    let unsigned = |i: usize| matches!(b.get(i), Some(b'u' | b'U'));
    if b.get(i) == Some(&b'0') && matches!(b.get(i + 1), Some(b'x' | b'X')) {
        i += 2;
        let from = i;
        digits(&mut i, true);
        let text = src.get(from..i).unwrap_or("");
        let Ok(n) = u64::from_str_radix(text, 16) else {
            return perr(start, "invalid hexadecimal literal");
        };
        if unsigned(i) {
            return Ok((Tok::Uint(n), i + 1));
        }
        return i64::try_from(n)
            .map(|n| (Tok::Int(n), i))
            .or_else(|_| perr(start, "integer literal out of range"));
    }
    digits(&mut i, false);
    let mut float = false;
    if b.get(i) == Some(&b'.') && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        float = true;
        i += 1;
        digits(&mut i, false);
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        if b.get(j).is_some_and(u8::is_ascii_digit) {
            float = true;
            i = j;
            digits(&mut i, false);
        }
    }
    let text = src.get(start..i).unwrap_or("");
    if float {
        return text
            .parse::<f64>()
            .map(|d| (Tok::Double(d), i))
            .or_else(|_| perr(start, "invalid number"));
    }
    if unsigned(i) {
        return text
            .parse::<u64>()
            .map(|n| (Tok::Uint(n), i + 1))
            .or_else(|_| perr(start, "integer literal out of range"));
    }
    text.parse::<i64>()
        .map(|n| (Tok::Int(n), i))
        .or_else(|_| perr(start, "integer literal out of range"))
}

/// A quoted string starting at `start` (the quote); returns the value and the end offset.
fn lex_string(src: &str, start: usize, raw: bool) -> Result<(String, usize), ParseError> {
    let rest = src.get(start..).unwrap_or("");
    let (single, triple) = if rest.starts_with('"') {
        ("\"", "\"\"\"")
    } else {
        ("'", "'''")
    };
    let delim = if rest.starts_with(triple) {
        triple
    } else {
        single
    };
    let mut i = start + delim.len();
    let mut out = String::new();
    loop {
        let Some(tail) = src.get(i..) else {
            return perr(start, "unterminated string");
        };
        if tail.starts_with(delim) {
            return Ok((out, i + delim.len()));
        }
        let Some(c) = tail.chars().next() else {
            return perr(start, "unterminated string");
        };
        if (c == '\n' || c == '\r') && delim.len() == 1 {
            return perr(start, "unterminated string");
        }
        if c != '\\' || raw {
            out.push(c);
            i += c.len_utf8();
            continue;
        }
        let Some(e) = tail.get(1..).and_then(|t| t.chars().next()) else {
            return perr(i, "unterminated escape");
        };
        i += 2;
        let simple = match e {
            'n' => Some('\n'),
            't' => Some('\t'),
            'r' => Some('\r'),
            'a' => Some('\u{7}'),
            'b' => Some('\u{8}'),
            'f' => Some('\u{c}'),
            'v' => Some('\u{b}'),
            '\\' | '\'' | '"' | '`' | '?' => Some(e),
            _ => None,
        };
        if let Some(s) = simple {
            out.push(s);
            continue;
        }
        let (len, radix) = match e {
            'x' | 'X' => (2, 16),
            'u' => (4, 16),
            'U' => (8, 16),
            '0'..='3' => {
                i -= 1;
                (3, 8)
            }
            _ => return perr(i - 2, format!("invalid escape `\\{e}`")),
        };
        let code = src
            .get(i..i + len)
            .and_then(|h| u32::from_str_radix(h, radix).ok())
            .and_then(char::from_u32);
        let Some(ch) = code else {
            return perr(i - 2, "invalid escape sequence");
        };
        out.push(ch);
        i += len;
    }
}

// ================================ syntax ================================

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bin {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Int,
    Uint,
    Double,
    String,
    Bool,
    Size,
    StartsWith,
    EndsWith,
    Contains,
    Timestamp,
    Time(TimePart),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimePart {
    FullYear,
    Month,
    DayOfMonth,
    Date,
    DayOfWeek,
    DayOfYear,
    Hours,
    Minutes,
    Seconds,
    Milliseconds,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comp {
    All,
    Exists,
    ExistsOne,
    Map,
    Filter,
}

#[derive(Debug, Clone)]
enum Expr {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Double(f64),
    Str(String),
    Var(String),
    Select(Box<Expr>, String),
    Has(Box<Expr>, String),
    Index(Box<Expr>, Box<Expr>),
    Call(Func, Vec<Expr>),
    Matches(Box<Expr>, Regex),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Bin(Bin, Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
    List(Vec<Expr>),
    Map(Vec<(Expr, Expr)>),
    Comp(Comp, Box<Expr>, String, Box<Expr>),
}

/// An expression with its tree depth.
type Node = (Expr, usize);

struct Parser<'s> {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    /// Comprehension variables in scope.
    scope: Vec<String>,
    /// Current parser recursion (parentheses and prefix operators add no tree depth).
    nest: usize,
    vars: Vec<&'static str>,
    _src: &'s str,
}

fn bx(n: Node) -> Box<Expr> {
    Box::new(n.0)
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        self.toks.get(self.pos).map_or(&Tok::Eof, |t| &t.0)
    }

    fn offset(&self) -> usize {
        self.toks.get(self.pos).map_or(0, |t| t.1)
    }

    fn bump(&mut self) -> Tok {
        let t = self.peek().clone();
        self.pos += 1;
        t
    }

    fn eat(&mut self, p: &str) -> bool {
        if matches!(self.peek(), Tok::Punct(q) if *q == p) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, p: &str) -> Result<(), ParseError> {
        if self.eat(p) {
            Ok(())
        } else {
            perr(self.offset(), format!("expected `{p}`"))
        }
    }

    fn node(&self, e: Expr, depth: usize) -> Result<Node, ParseError> {
        if depth > MAX_DEPTH {
            return perr(
                self.offset(),
                format!("expression nested deeper than {MAX_DEPTH} levels"),
            );
        }
        Ok((e, depth))
    }

    /// Enter one level of parser recursion, refusing nesting beyond [`MAX_DEPTH`].
    fn enter(&mut self) -> Result<(), ParseError> {
        self.nest += 1;
        if self.nest > MAX_DEPTH {
            return perr(
                self.offset(),
                format!("expression nested deeper than {MAX_DEPTH} levels"),
            );
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<Node, ParseError> {
        self.enter()?;
        let r = self.conditional();
        self.nest -= 1;
        r
    }

    fn conditional(&mut self) -> Result<Node, ParseError> {
        let cond = self.binary(0)?;
        if !self.eat("?") {
            return Ok(cond);
        }
        let yes = self.binary(0)?;
        self.expect(":")?;
        let no = self.expr()?;
        let d = 1 + cond.1.max(yes.1).max(no.1);
        self.node(Expr::Cond(bx(cond), bx(yes), bx(no)), d)
    }

    /// Left-associative binary operators by precedence (Pratt): `||` < `&&` < relations <
    /// `+ -` < `* / %`.
    fn binary(&mut self, min: u8) -> Result<Node, ParseError> {
        let mut lhs = self.unary()?;
        loop {
            let (prec, op) = match self.peek() {
                Tok::Punct("||") => (1, None),
                Tok::Punct("&&") => (2, None),
                Tok::Punct("==") => (3, Some(Bin::Eq)),
                Tok::Punct("!=") => (3, Some(Bin::Ne)),
                Tok::Punct("<") => (3, Some(Bin::Lt)),
                Tok::Punct("<=") => (3, Some(Bin::Le)),
                Tok::Punct(">") => (3, Some(Bin::Gt)),
                Tok::Punct(">=") => (3, Some(Bin::Ge)),
                Tok::Ident(i) if i == "in" => (3, Some(Bin::In)),
                Tok::Punct("+") => (4, Some(Bin::Add)),
                Tok::Punct("-") => (4, Some(Bin::Sub)),
                Tok::Punct("*") => (5, Some(Bin::Mul)),
                Tok::Punct("/") => (5, Some(Bin::Div)),
                Tok::Punct("%") => (5, Some(Bin::Rem)),
                _ => break,
            };
            if prec <= min {
                break;
            }
            let is_or = matches!(self.peek(), Tok::Punct("||"));
            self.pos += 1;
            let rhs = self.binary(prec)?;
            let d = 1 + lhs.1.max(rhs.1);
            let e = match op {
                Some(op) => Expr::Bin(op, bx(lhs), bx(rhs)),
                None if is_or => Expr::Or(bx(lhs), bx(rhs)),
                None => Expr::And(bx(lhs), bx(rhs)),
            };
            lhs = self.node(e, d)?;
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Node, ParseError> {
        self.enter()?;
        let r = self.prefixed();
        self.nest -= 1;
        r
    }

    fn prefixed(&mut self) -> Result<Node, ParseError> {
        if self.eat("!") {
            let inner = self.unary()?;
            let d = inner.1 + 1;
            return self.node(Expr::Not(bx(inner)), d);
        }
        if self.eat("-") {
            // `-1` is a literal, unless a member access follows (`-1.x` negates `1.x`).
            match self.peek().clone() {
                Tok::Int(i)
                    if !matches!(
                        self.toks.get(self.pos + 1),
                        Some((Tok::Punct("." | "["), _))
                    ) =>
                {
                    self.pos += 1;
                    return Ok((Expr::Int(-i), 1));
                }
                Tok::Double(x) => {
                    self.pos += 1;
                    return Ok((Expr::Double(-x), 1));
                }
                _ => {}
            }
            let inner = self.unary()?;
            let d = inner.1 + 1;
            return self.node(Expr::Neg(bx(inner)), d);
        }
        self.member()
    }

    fn member(&mut self) -> Result<Node, ParseError> {
        let mut lhs = self.primary()?;
        loop {
            if self.eat(".") {
                let at = self.offset();
                let Tok::Ident(name) = self.bump() else {
                    return perr(at, "expected a field or method name after `.`");
                };
                if self.eat("(") {
                    lhs = self.method(lhs, &name, at)?;
                } else {
                    let d = lhs.1 + 1;
                    lhs = self.node(Expr::Select(bx(lhs), name), d)?;
                }
            } else if self.eat("[") {
                let idx = self.expr()?;
                self.expect("]")?;
                let d = 1 + lhs.1.max(idx.1);
                lhs = self.node(Expr::Index(bx(lhs), bx(idx)), d)?;
            } else {
                return Ok(lhs);
            }
        }
    }

    fn args(&mut self) -> Result<Vec<Node>, ParseError> {
        let mut out = Vec::new();
        if self.eat(")") {
            return Ok(out);
        }
        loop {
            out.push(self.expr()?);
            if self.eat(")") {
                return Ok(out);
            }
            self.expect(",")?;
        }
    }

    /// `target.name(args...)`, after the `(`.
    fn method(&mut self, target: Node, name: &str, at: usize) -> Result<Node, ParseError> {
        let comp = match name {
            "all" => Some(Comp::All),
            "exists" => Some(Comp::Exists),
            "exists_one" => Some(Comp::ExistsOne),
            "map" => Some(Comp::Map),
            "filter" => Some(Comp::Filter),
            _ => None,
        };
        if let Some(kind) = comp {
            let at_var = self.offset();
            let Tok::Ident(var) = self.bump() else {
                return perr(at_var, format!("`{name}` needs a variable name first"));
            };
            self.expect(",")?;
            self.scope.push(var.clone());
            let body = self.expr();
            self.scope.pop();
            let body = body?;
            self.expect(")")?;
            let d = 1 + target.1.max(body.1);
            return self.node(Expr::Comp(kind, bx(target), var, bx(body)), d);
        }
        let args = self.args()?;
        let mut all = vec![target];
        all.extend(args);
        self.call(name, all, true, at)
    }

    fn call(
        &mut self,
        name: &str,
        args: Vec<Node>,
        receiver: bool,
        at: usize,
    ) -> Result<Node, ParseError> {
        let d = 1 + args.iter().map(|a| a.1).max().unwrap_or(0);
        let n = args.len();
        if name == "matches" && n == 2 {
            let mut it = args.into_iter();
            let (Some(s), Some((pat, _))) = (it.next(), it.next()) else {
                return perr(at, "`matches` takes a string and a pattern");
            };
            let Expr::Str(pat) = pat else {
                return perr(at, "the pattern of `matches` must be a string literal");
            };
            let re = Regex::new(&pat)
                .or_else(|e| perr(at, format!("invalid regular expression: {e}")))?;
            return self.node(Expr::Matches(bx(s), re), d);
        }
        let time = |p| (Func::Time(p), 1);
        let (f, arity) = match (name, receiver) {
            ("int", false) => (Func::Int, 1),
            ("uint", false) => (Func::Uint, 1),
            ("double", false) => (Func::Double, 1),
            ("string", false) => (Func::String, 1),
            ("bool", false) => (Func::Bool, 1),
            ("timestamp", false) => (Func::Timestamp, 1),
            ("size", _) => (Func::Size, 1),
            ("startsWith", true) => (Func::StartsWith, 2),
            ("endsWith", true) => (Func::EndsWith, 2),
            ("contains", true) => (Func::Contains, 2),
            ("getFullYear", true) => time(TimePart::FullYear),
            ("getMonth", true) => time(TimePart::Month),
            ("getDayOfMonth", true) => time(TimePart::DayOfMonth),
            ("getDate", true) => time(TimePart::Date),
            ("getDayOfWeek", true) => time(TimePart::DayOfWeek),
            ("getDayOfYear", true) => time(TimePart::DayOfYear),
            ("getHours", true) => time(TimePart::Hours),
            ("getMinutes", true) => time(TimePart::Minutes),
            ("getSeconds", true) => time(TimePart::Seconds),
            ("getMilliseconds", true) => time(TimePart::Milliseconds),
            _ => {
                return perr(
                    at,
                    format!("unknown function `{name}` with {n} argument(s)"),
                )
            }
        };
        if n != arity {
            return perr(at, format!("`{name}` takes {arity} argument(s), got {n}"));
        }
        self.node(Expr::Call(f, args.into_iter().map(|a| a.0).collect()), d)
    }

    fn primary(&mut self) -> Result<Node, ParseError> {
        let at = self.offset();
        match self.bump() {
            Tok::Int(i) => Ok((Expr::Int(i), 1)),
            Tok::Uint(u) => Ok((Expr::Uint(u), 1)),
            Tok::Double(x) => Ok((Expr::Double(x), 1)),
            Tok::Str(s) => Ok((Expr::Str(s), 1)),
            Tok::Punct("(") => {
                let e = self.expr()?;
                self.expect(")")?;
                Ok(e)
            }
            Tok::Punct("[") => {
                let mut items = Vec::new();
                while !self.eat("]") {
                    items.push(self.expr()?);
                    if !self.eat(",") {
                        self.expect("]")?;
                        break;
                    }
                }
                let d = 1 + items.iter().map(|i| i.1).max().unwrap_or(0);
                self.node(Expr::List(items.into_iter().map(|i| i.0).collect()), d)
            }
            Tok::Punct("{") => {
                let mut entries = Vec::new();
                let mut d = 1;
                while !self.eat("}") {
                    let k = self.expr()?;
                    self.expect(":")?;
                    let v = self.expr()?;
                    d = d.max(1 + k.1.max(v.1));
                    entries.push((k.0, v.0));
                    if !self.eat(",") {
                        self.expect("}")?;
                        break;
                    }
                }
                self.node(Expr::Map(entries), d)
            }
            Tok::Ident(name) => self.ident(name, at),
            Tok::Eof => perr(at, "unexpected end of expression"),
            Tok::Punct(p) => perr(at, format!("unexpected `{p}`")),
        }
    }

    fn ident(&mut self, name: String, at: usize) -> Result<Node, ParseError> {
        match name.as_str() {
            "true" => return Ok((Expr::Bool(true), 1)),
            "false" => return Ok((Expr::Bool(false), 1)),
            "null" => return Ok((Expr::Null, 1)),
            "in" => return perr(at, "unexpected `in`"),
            n if RESERVED.contains(&n) => return perr(at, format!("`{n}` is a reserved word")),
            _ => {}
        }
        if self.eat("(") {
            if name == "has" {
                let arg_at = self.offset();
                let args = self.args()?;
                let mut it = args.into_iter();
                return match (it.next(), it.next()) {
                    (Some((Expr::Select(target, field), d)), None) => {
                        self.node(Expr::Has(target, field), d)
                    }
                    _ => perr(arg_at, "`has` takes one field selection, like `has(a.b)`"),
                };
            }
            let args = self.args()?;
            return self.call(&name, args, false, at);
        }
        if !self.scope.contains(&name) {
            let Some(known) = VARIABLES.iter().find(|v| **v == name) else {
                return perr(at, format!("undeclared reference to `{name}`"));
            };
            if !self.vars.contains(known) {
                self.vars.push(known);
            }
        }
        Ok((Expr::Var(name), 1))
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
        let mut p = Parser {
            toks: lex(source)?,
            pos: 0,
            scope: Vec::new(),
            nest: 0,
            vars: Vec::new(),
            _src: source,
        };
        let (root, _) = p.expr()?;
        if *p.peek() != Tok::Eof {
            let at = p.offset();
            return perr(at, "unexpected text after the expression");
        }
        Ok(Program {
            root,
            vars: p.vars,
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
        let mut ev = Eval {
            vars,
            locals: Vec::new(),
            steps: 0,
        };
        match ev.eval(&self.root)? {
            Val::Bool(b) => Ok(b),
            other => Err(format!("the result is a {}, not a bool", other.type_name())),
        }
    }

    /// [`Self::eval`] as a plain yes/no: errors count as false (fail closed).
    pub fn check(&self, vars: &Activation<'_>) -> bool {
        self.eval(vars).unwrap_or(false)
    }
}

// ================================ variables ================================

/// The values an expression may read, borrowed from the request, response and claims.
#[derive(Debug, Default)]
pub struct Activation<'a> {
    vars: BTreeMap<&'static str, Val<'a>>,
}

impl<'a> Activation<'a> {
    /// No variables except `now`, the clock's time (RFC 3339, UTC; what `timestamp(now)` reads).
    pub fn new(now_millis: u64) -> Self {
        let mut vars = BTreeMap::new();
        vars.insert("now", Val::Str(Cow::Owned(rfc3339(now_millis))));
        Activation { vars }
    }

    /// The request variables: `req_method`, `req_path`, `req_params` (first letter
    /// upper-cased, as KrakenD), `req_headers` (canonical names, lists of values),
    /// `req_querystring` (lists of values).
    pub fn with_request(
        mut self,
        method: &'a str,
        path: &'a str,
        params: &'a [(String, String)],
        headers: &'a http::HeaderMap,
        query: &'a [(String, String)],
    ) -> Self {
        self.vars
            .insert("req_method", Val::Str(Cow::Borrowed(method)));
        self.vars.insert("req_path", Val::Str(Cow::Borrowed(path)));
        let params = params
            .iter()
            .map(|(k, v)| (upper_first(k), Val::Str(Cow::Borrowed(v.as_str()))))
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

fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
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

// ================================ time ================================

use crate::time::{civil, days_from_civil};

fn rfc3339(millis: u64) -> String {
    crate::time::rfc3339(millis, false)
}

/// `2006-01-02T15:04:05[.frac](Z|±hh:mm)` → (seconds, nanoseconds).
fn parse_rfc3339(s: &str) -> Option<(i64, u32)> {
    let num = |a: usize, b: usize| -> Option<i64> {
        let t = s.get(a..b)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let b = s.as_bytes();
    if b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b'T' | b't'))
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
    {
        return None;
    }
    let (y, mo, d, h, mi, se) = (
        num(0, 4)?,
        num(5, 7)?,
        num(8, 10)?,
        num(11, 13)?,
        num(14, 16)?,
        num(17, 19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos: u32 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let frac = s.get(start..i)?;
        if frac.is_empty() || frac.len() > 9 {
            return None;
        }
        nanos = format!("{frac:0<9}").parse().ok()?;
    }
    let offset = match s.get(i..)? {
        "Z" | "z" => 0,
        tz if tz.len() == 6 && (tz.starts_with('+') || tz.starts_with('-')) => {
            let oh = num(i + 1, i + 3)?;
            let om = num(i + 4, i + 6)?;
            let sign = if tz.starts_with('-') { -1 } else { 1 };
            sign * (oh * 3600 + om * 60)
        }
        _ => return None,
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se - offset;
    Some((secs, nanos))
}

fn time_part(secs: i64, nanos: u32, part: TimePart) -> i64 {
    let days = secs.div_euclid(86_400);
    let s = secs.rem_euclid(86_400);
    let (y, m, d) = civil(days);
    match part {
        TimePart::FullYear => y,
        TimePart::Month => m - 1,
        TimePart::DayOfMonth => d - 1,
        TimePart::Date => d,
        // 1970-01-01 was a Thursday (4).
        TimePart::DayOfWeek => (days + 4).rem_euclid(7),
        TimePart::DayOfYear => days - days_from_civil(y, 1, 1),
        TimePart::Hours => s / 3600,
        TimePart::Minutes => s % 3600 / 60,
        TimePart::Seconds => s % 60,
        TimePart::Milliseconds => i64::from(nanos / 1_000_000),
    }
}

// ================================ evaluation ================================

struct Eval<'v, 'a, 'p> {
    vars: &'v Activation<'a>,
    locals: Vec<(&'p str, Val<'a>)>,
    steps: usize,
}

impl<'a, 'p> Eval<'_, 'a, 'p> {
    fn eval(&mut self, e: &'p Expr) -> R<Val<'a>> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err("evaluation step budget exceeded".to_owned());
        }
        Ok(match e {
            Expr::Null => Val::Null,
            Expr::Bool(b) => Val::Bool(*b),
            Expr::Int(i) => Val::Int(*i),
            Expr::Uint(u) => Val::Uint(*u),
            Expr::Double(x) => Val::Double(*x),
            Expr::Str(s) => Val::Str(Cow::Owned(s.clone())),
            Expr::Var(name) => {
                if let Some((_, v)) = self.locals.iter().rev().find(|(n, _)| *n == name.as_str()) {
                    v.clone()
                } else {
                    self.vars
                        .vars
                        .get(name.as_str())
                        .cloned()
                        .ok_or_else(|| format!("no such attribute: {name}"))?
                }
            }
            Expr::Select(target, field) => {
                let t = self.eval(target)?;
                let Some(v) = t.get_key(field) else {
                    return Err(format!("cannot select `{field}` from a {}", t.type_name()));
                };
                v.ok_or_else(|| format!("no such key: {field}"))?
            }
            Expr::Has(target, field) => {
                let t = self.eval(target)?;
                let Some(v) = t.get_key(field) else {
                    return Err(format!("has() on a {}", t.type_name()));
                };
                Val::Bool(v.is_some())
            }
            Expr::Index(target, index) => {
                let t = self.eval(target)?;
                let i = self.eval(index)?;
                index_of(&t, &i)?
            }
            Expr::Call(f, args) => {
                let mut vals = Vec::with_capacity(args.len());
                for a in args {
                    vals.push(self.eval(a)?);
                }
                call(*f, vals)?
            }
            Expr::Matches(s, re) => match self.eval(s)? {
                Val::Str(s) => Val::Bool(re.is_match(&s)),
                other => return Err(format!("matches() on a {}", other.type_name())),
            },
            Expr::Not(x) => match self.eval(x)? {
                Val::Bool(b) => Val::Bool(!b),
                other => return Err(format!("no such overload: !{}", other.type_name())),
            },
            Expr::Neg(x) => match self.eval(x)? {
                Val::Int(i) => Val::Int(i.checked_neg().ok_or("integer overflow")?),
                Val::Double(d) => Val::Double(-d),
                other => return Err(format!("no such overload: -{}", other.type_name())),
            },
            Expr::And(a, b) => self.logic(a, b, false)?,
            Expr::Or(a, b) => self.logic(a, b, true)?,
            Expr::Cond(c, yes, no) => match self.eval(c)? {
                Val::Bool(true) => self.eval(yes)?,
                Val::Bool(false) => self.eval(no)?,
                other => return Err(format!("condition is a {}, not a bool", other.type_name())),
            },
            Expr::Bin(op, a, b) => {
                let a = self.eval(a)?;
                let b = self.eval(b)?;
                binary(*op, &a, &b)?
            }
            Expr::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    out.push(self.eval(i)?);
                }
                Val::List(out)
            }
            Expr::Map(entries) => {
                let mut out = BTreeMap::new();
                for (k, v) in entries {
                    let Val::Str(k) = self.eval(k)? else {
                        return Err("only string map keys are supported".to_owned());
                    };
                    let v = self.eval(v)?;
                    if out.insert(k.into_owned(), v).is_some() {
                        return Err("duplicate map key".to_owned());
                    }
                }
                Val::Map(out)
            }
            Expr::Comp(kind, range, var, body) => self.comprehension(*kind, range, var, body)?,
        })
    }

    /// `&&` (`or == false`) and `||` with CEL's commutative error absorption: a decisive
    /// operand wins over an error on the other side.
    fn logic(&mut self, a: &'p Expr, b: &'p Expr, or: bool) -> R<Val<'a>> {
        let decisive = |v: &R<Val<'a>>| matches!(v, Ok(Val::Bool(x)) if *x == or);
        let left = self.eval(a);
        if decisive(&left) {
            return Ok(Val::Bool(or));
        }
        let right = self.eval(b);
        if decisive(&right) {
            return Ok(Val::Bool(or));
        }
        match (left?, right?) {
            (Val::Bool(_), Val::Bool(_)) => Ok(Val::Bool(!or)),
            (x, y) => Err(no_overload(if or { "||" } else { "&&" }, &x, &y)),
        }
    }

    fn comprehension(
        &mut self,
        kind: Comp,
        range: &'p Expr,
        var: &'p str,
        body: &'p Expr,
    ) -> R<Val<'a>> {
        let r = self.eval(range)?;
        let items = r
            .elems()
            .or_else(|| r.keys())
            .ok_or_else(|| format!("cannot iterate over a {}", r.type_name()))?;
        let mut out = Vec::new();
        let mut count = 0usize;
        let mut error = None;
        for item in items {
            self.locals.push((var, item.clone()));
            let v = self.eval(body);
            self.locals.pop();
            match (kind, v) {
                (Comp::Map, v) => out.push(v?),
                (_, Err(e)) if matches!(kind, Comp::All | Comp::Exists) => error = Some(e),
                (_, Err(e)) => return Err(e),
                (_, Ok(Val::Bool(b))) => match kind {
                    Comp::All if !b => return Ok(Val::Bool(false)),
                    Comp::Exists if b => return Ok(Val::Bool(true)),
                    Comp::ExistsOne if b => count += 1,
                    Comp::Filter if b => out.push(item),
                    _ => {}
                },
                (_, Ok(other)) => {
                    return Err(format!("predicate is a {}, not a bool", other.type_name()))
                }
            }
        }
        if let Some(e) = error {
            return Err(e);
        }
        Ok(match kind {
            Comp::All => Val::Bool(true),
            Comp::Exists => Val::Bool(false),
            Comp::ExistsOne => Val::Bool(count == 1),
            Comp::Map | Comp::Filter => Val::List(out),
        })
    }
}

fn index_of<'a>(t: &Val<'a>, i: &Val<'a>) -> R<Val<'a>> {
    if let Some(found) = match i {
        Val::Str(k) => t.get_key(k),
        _ => None,
    } {
        return found.ok_or_else(|| format!("no such key: {}", str_of(i)));
    }
    if t.is_list() {
        let n = match i {
            Val::Int(n) => usize::try_from(*n).ok(),
            Val::Uint(n) => usize::try_from(*n).ok(),
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Val::Double(d) if d.fract() == 0.0 && *d >= 0.0 => Some(*d as usize),
            _ => {
                return Err(format!(
                    "a list index must be a number, not a {}",
                    i.type_name()
                ))
            }
        };
        let item = match (t, n) {
            (Val::List(l), Some(n)) => l.get(n).cloned(),
            (Val::Arr(a), Some(n)) => a.get(n).map(from_json),
            _ => None,
        };
        return item.ok_or_else(|| "index out of range".to_owned());
    }
    Err(format!(
        "cannot index a {} with a {}",
        t.type_name(),
        i.type_name()
    ))
}

fn str_of(v: &Val<'_>) -> String {
    match v {
        Val::Str(s) => s.to_string(),
        other => other.type_name().to_owned(),
    }
}

fn binary<'a>(op: Bin, a: &Val<'a>, b: &Val<'a>) -> R<Val<'a>> {
    use std::cmp::Ordering::{Equal, Greater, Less};
    let cmp = |want: &[std::cmp::Ordering]| compare(a, b).map(|o| Val::Bool(want.contains(&o)));
    match op {
        Bin::Eq => Ok(Val::Bool(equals(a, b)?)),
        Bin::Ne => Ok(Val::Bool(!equals(a, b)?)),
        Bin::Lt => cmp(&[Less]),
        Bin::Le => cmp(&[Less, Equal]),
        Bin::Gt => cmp(&[Greater]),
        Bin::Ge => cmp(&[Greater, Equal]),
        Bin::In => {
            if let Some(items) = b.elems() {
                for item in &items {
                    if equals(a, item)? {
                        return Ok(Val::Bool(true));
                    }
                }
                return Ok(Val::Bool(false));
            }
            match (a, b.get_key("")) {
                // `get_key` answers `Some` for any map: `a` is looked up as a key.
                (Val::Str(k), Some(_)) => Ok(Val::Bool(b.get_key(k).flatten().is_some())),
                _ => Err(no_overload("in", a, b)),
            }
        }
        Bin::Add => match (a, b) {
            (Val::Str(x), Val::Str(y)) => Ok(Val::Str(Cow::Owned(format!("{x}{y}")))),
            (x, y) if x.is_list() && y.is_list() => {
                let mut out = x.elems().unwrap_or_default();
                out.extend(y.elems().unwrap_or_default());
                Ok(Val::List(out))
            }
            _ => arith(op, a, b),
        },
        _ => arith(op, a, b),
    }
}

fn arith<'a>(op: Bin, a: &Val<'a>, b: &Val<'a>) -> R<Val<'a>> {
    let overflow = || "integer overflow".to_owned();
    match (a, b) {
        (Val::Int(x), Val::Int(y)) => {
            let r = match op {
                Bin::Add => x.checked_add(*y),
                Bin::Sub => x.checked_sub(*y),
                Bin::Mul => x.checked_mul(*y),
                Bin::Div if *y == 0 => return Err("division by zero".to_owned()),
                Bin::Div => x.checked_div(*y),
                Bin::Rem if *y == 0 => return Err("modulus by zero".to_owned()),
                Bin::Rem => x.checked_rem(*y),
                _ => return Err(no_overload("?", a, b)),
            };
            r.map(Val::Int).ok_or_else(overflow)
        }
        (Val::Uint(x), Val::Uint(y)) => {
            let r = match op {
                Bin::Add => x.checked_add(*y),
                Bin::Sub => x.checked_sub(*y),
                Bin::Mul => x.checked_mul(*y),
                Bin::Div | Bin::Rem if *y == 0 => return Err("division by zero".to_owned()),
                Bin::Div => x.checked_div(*y),
                Bin::Rem => x.checked_rem(*y),
                _ => return Err(no_overload("?", a, b)),
            };
            r.map(Val::Uint).ok_or_else(overflow)
        }
        // Mixed numbers (JSON numbers arrive as int or double) are computed as doubles.
        (x, y) => match (x.number(), y.number(), op) {
            (Some(p), Some(q), Bin::Add) => Ok(Val::Double(p + q)),
            (Some(p), Some(q), Bin::Sub) => Ok(Val::Double(p - q)),
            (Some(p), Some(q), Bin::Mul) => Ok(Val::Double(p * q)),
            (Some(p), Some(q), Bin::Div) => Ok(Val::Double(p / q)),
            _ => Err(no_overload("arithmetic", a, b)),
        },
    }
}

fn call<'a>(f: Func, args: Vec<Val<'a>>) -> R<Val<'a>> {
    let mut it = args.into_iter();
    let a = it.next().unwrap_or(Val::Null);
    let b = it.next();
    let bad = |a: &Val<'_>| format!("no such overload: {f:?}({})", a.type_name());
    Ok(match (f, &a) {
        (Func::Int, Val::Int(_)) => a,
        (Func::Int, Val::Uint(u)) => Val::Int(i64::try_from(*u).map_err(|_| "int overflow")?),
        (Func::Int, Val::Double(d)) => {
            if !d.is_finite() || *d >= 2f64.powi(63) || *d < -(2f64.powi(63)) {
                return Err("int overflow".to_owned());
            }
            #[allow(clippy::cast_possible_truncation)]
            Val::Int(d.trunc() as i64)
        }
        (Func::Int, Val::Str(s)) => Val::Int(
            s.parse()
                .map_err(|_| format!("cannot convert `{s}` to int"))?,
        ),
        (Func::Int, Val::Time(s, _)) => Val::Int(*s),
        (Func::Uint, Val::Uint(_)) => a,
        (Func::Uint, Val::Int(i)) => Val::Uint(u64::try_from(*i).map_err(|_| "uint overflow")?),
        (Func::Uint, Val::Double(d)) => {
            if !d.is_finite() || *d < 0.0 || *d >= 2f64.powi(64) {
                return Err("uint overflow".to_owned());
            }
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Val::Uint(d.trunc() as u64)
        }
        (Func::Uint, Val::Str(s)) => Val::Uint(
            s.parse()
                .map_err(|_| format!("cannot convert `{s}` to uint"))?,
        ),
        (Func::Double, Val::Str(s)) => Val::Double(
            s.parse()
                .map_err(|_| format!("cannot convert `{s}` to double"))?,
        ),
        (Func::Double, v) if v.number().is_some() => Val::Double(v.number().unwrap_or(0.0)),
        (Func::String, Val::Str(_)) => a,
        (Func::String, Val::Int(i)) => Val::Str(Cow::Owned(i.to_string())),
        (Func::String, Val::Uint(u)) => Val::Str(Cow::Owned(u.to_string())),
        (Func::String, Val::Double(d)) => Val::Str(Cow::Owned(d.to_string())),
        (Func::String, Val::Bool(b)) => Val::Str(Cow::Owned(b.to_string())),
        (Func::String, Val::Time(s, _)) => {
            let millis = u64::try_from(*s).map_err(|_| "timestamp out of range")? * 1000;
            Val::Str(Cow::Owned(rfc3339(millis)))
        }
        (Func::Bool, Val::Bool(_)) => a,
        (Func::Bool, Val::Str(s)) => match s.as_ref() {
            "true" | "True" | "TRUE" | "t" | "1" => Val::Bool(true),
            "false" | "False" | "FALSE" | "f" | "0" => Val::Bool(false),
            _ => return Err(format!("cannot convert `{s}` to bool")),
        },
        (Func::Size, Val::Str(s)) => Val::Int(i64::try_from(s.chars().count()).unwrap_or(i64::MAX)),
        (Func::Size, v) => {
            let n = match v {
                Val::List(l) => l.len(),
                Val::Arr(l) => l.len(),
                Val::Map(m) => m.len(),
                Val::Obj(m) => m.len(),
                _ => return Err(bad(v)),
            };
            Val::Int(i64::try_from(n).unwrap_or(i64::MAX))
        }
        (Func::StartsWith | Func::EndsWith | Func::Contains, Val::Str(s)) => {
            let Some(Val::Str(x)) = b else {
                return Err(bad(&a));
            };
            Val::Bool(match f {
                Func::StartsWith => s.starts_with(x.as_ref()),
                Func::EndsWith => s.ends_with(x.as_ref()),
                _ => s.contains(x.as_ref()),
            })
        }
        (Func::Timestamp, Val::Time(..)) => a,
        (Func::Timestamp, Val::Str(s)) => {
            let (secs, nanos) =
                parse_rfc3339(s).ok_or_else(|| format!("invalid timestamp `{s}`"))?;
            Val::Time(secs, nanos)
        }
        (Func::Time(part), Val::Time(s, n)) => Val::Int(time_part(*s, *n, part)),
        _ => return Err(bad(&a)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
            .with_request("GET", "/a/30", &params, &headers, &query)
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

    #[test]
    fn time_round_trips() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            parse_rfc3339("2024-01-06T12:34:56Z"),
            Some((1_704_544_496, 0))
        );
        assert_eq!(
            parse_rfc3339("2024-01-06T12:34:56.5+00:00"),
            Some((1_704_544_496, 500_000_000))
        );
        assert_eq!(parse_rfc3339("2024-13-06T12:34:56Z"), None);
    }
}
