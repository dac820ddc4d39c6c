//! The parser: tokens → expression tree. Names, arities, `matches()` patterns and the tree
//! depth are checked here, at config load, so evaluation only meets well-formed trees.

use regex_lite::Regex;

use super::lex::{lex, perr, Tok, RESERVED};
use super::{ParseError, MAX_DEPTH, VARIABLES};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Bin {
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
pub(super) enum Func {
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
pub(super) enum TimePart {
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
pub(super) enum Comp {
    All,
    Exists,
    ExistsOne,
    Map,
    Filter,
}

#[derive(Debug, Clone)]
pub(super) enum Expr {
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

/// Parse `source` into its tree and the [`VARIABLES`] it reads.
pub(super) fn parse(source: &str) -> Result<(Expr, Vec<&'static str>), ParseError> {
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
    Ok((root, p.vars))
}
