//! The lexer: source text → tokens, each with its byte offset (what [`ParseError`] points at).

use super::ParseError;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
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

pub(super) const RESERVED: &[&str] = &[
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

pub(super) fn perr<T>(offset: usize, message: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        offset,
        message: message.into(),
    })
}

pub(super) fn lex(src: &str) -> Result<Vec<(Tok, usize)>, ParseError> {
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
        return crate::float::parse(text)
            .map(|d| (Tok::Double(d), i))
            .map_or_else(|| perr(start, "invalid number"), Ok);
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
