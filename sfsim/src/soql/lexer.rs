//! Splits SOQL text into tokens with their row and column.

use super::{Pos, SoqlError};

/// Stand-ins for `\%` and `\_` inside string literals.
pub const ESCAPED_PERCENT: char = '\u{E000}';
pub const ESCAPED_UNDERSCORE: char = '\u{E001}';

/// A string literal's text outside LIKE: escaped wildcards are plain characters.
pub fn unescape_wildcards(s: &str) -> String {
    s.replace(ESCAPED_PERCENT, "%")
        .replace(ESCAPED_UNDERSCORE, "_")
}

#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    Ident(String),
    Str(String),
    Num(String),
    Date(String),
    DateTime(String),
    Op(&'static str),
    Comma,
    Dot,
    LParen,
    RParen,
    Eof,
}

impl Tok {
    pub fn show(&self) -> String {
        match self {
            Tok::Ident(s) | Tok::Num(s) | Tok::Date(s) | Tok::DateTime(s) => s.clone(),
            Tok::Str(s) => format!("'{s}'"),
            Tok::Op(o) => o.to_string(),
            Tok::Comma => ",".into(),
            Tok::Dot => ".".into(),
            Tok::LParen => "(".into(),
            Tok::RParen => ")".into(),
            Tok::Eof => "<EOF>".into(),
        }
    }

    pub fn is_kw(&self, kw: &str) -> bool {
        matches!(self, Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
    }
}

#[derive(Clone, Debug)]
pub struct Token {
    pub tok: Tok,
    pub pos: Pos,
}

pub fn lex(src: &str) -> Result<Vec<Token>, SoqlError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut row, mut col) = (0usize, 1usize, 1usize);
    while i < chars.len() {
        let c = chars[i];
        let pos = Pos { row, col };
        if c == '\n' {
            i += 1;
            row += 1;
            col = 1;
            continue;
        }
        if c.is_whitespace() {
            i += 1;
            col += 1;
            continue;
        }
        let start = i;
        let tok = if c.is_ascii_alphabetic() || c == '_' {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            // Date literals with a parameter: LAST_N_DAYS:30.
            if chars.get(i) == Some(&':') && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()) {
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
            }
            Tok::Ident(chars[start..i].iter().collect())
        } else if c.is_ascii_digit()
            || (c == '-' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            lex_number_or_date(&chars, &mut i)
        } else if c == '\'' {
            i += 1;
            let mut s = String::new();
            loop {
                match chars.get(i) {
                    None => {
                        return Err(SoqlError::at(
                            "MALFORMED_QUERY",
                            src,
                            pos,
                            "line 1:0 no viable alternative at character '''",
                        ));
                    }
                    Some('\\') => {
                        let e = chars.get(i + 1).copied().unwrap_or('\\');
                        s.push(match e {
                            'n' => '\n',
                            // LIKE's escaped wildcards stay distinguishable from the real ones.
                            '%' => ESCAPED_PERCENT,
                            '_' => ESCAPED_UNDERSCORE,
                            't' => '\t',
                            'r' => '\r',
                            other => other,
                        });
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(&ch) => {
                        s.push(ch);
                        i += 1;
                    }
                }
            }
            Tok::Str(s)
        } else {
            i += 1;
            match c {
                ',' => Tok::Comma,
                '.' => Tok::Dot,
                '(' => Tok::LParen,
                ')' => Tok::RParen,
                '=' => Tok::Op("="),
                '!' if chars.get(i) == Some(&'=') => {
                    i += 1;
                    Tok::Op("!=")
                }
                '<' if chars.get(i) == Some(&'>') => {
                    i += 1;
                    Tok::Op("!=")
                }
                '<' | '>' => {
                    if chars.get(i) == Some(&'=') {
                        i += 1;
                        Tok::Op(if c == '<' { "<=" } else { ">=" })
                    } else {
                        Tok::Op(if c == '<' { "<" } else { ">" })
                    }
                }
                other => {
                    return Err(SoqlError::at(
                        "MALFORMED_QUERY",
                        src,
                        pos,
                        format!("unexpected token: '{other}'"),
                    ));
                }
            }
        };
        col += i - start;
        out.push(Token { tok, pos });
    }
    out.push(Token {
        tok: Tok::Eof,
        pos: Pos { row, col },
    });
    Ok(out)
}

fn lex_number_or_date(chars: &[char], i: &mut usize) -> Tok {
    let start = *i;
    let digits =
        |j: usize, n: usize| (j..j + n).all(|k| chars.get(k).is_some_and(|c| c.is_ascii_digit()));
    // yyyy-mm-dd
    if digits(start, 4)
        && chars.get(start + 4) == Some(&'-')
        && digits(start + 5, 2)
        && chars.get(start + 7) == Some(&'-')
        && digits(start + 8, 2)
    {
        *i = start + 10;
        if chars.get(*i) == Some(&'T') {
            *i += 1;
            while *i < chars.len()
                && (chars[*i].is_ascii_digit() || matches!(chars[*i], ':' | '.' | '+' | '-' | 'Z'))
            {
                *i += 1;
            }
            return Tok::DateTime(chars[start..*i].iter().collect());
        }
        return Tok::Date(chars[start..*i].iter().collect());
    }
    if chars[*i] == '-' {
        *i += 1;
    }
    while *i < chars.len() && (chars[*i].is_ascii_digit() || chars[*i] == '.') {
        *i += 1;
    }
    Tok::Num(chars[start..*i].iter().collect())
}
