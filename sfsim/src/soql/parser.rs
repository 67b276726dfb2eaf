//! Parses tokens into a query tree; names are resolved later by the evaluator.

use super::lexer::{Tok, Token, lex};
use super::{Pos, SoqlError};

/// A dotted field path such as `Account.Owner.Name`.
#[derive(Clone, Debug, PartialEq)]
pub struct Path {
    pub parts: Vec<String>,
    pub pos: Pos,
    /// A date function around the field (`CALENDAR_YEAR(CreatedDate)`), upper-cased.
    pub func: Option<String>,
}

impl Path {
    pub fn text(&self) -> String {
        match &self.func {
            Some(f) => format!("{f}({})", self.parts.join(".")),
            None => self.parts.join("."),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    Str(String),
    Num(f64, bool),
    Date(String),
    DateTime(String),
    Bool(bool),
    Null,
    /// A relative date range such as TODAY or LAST_N_DAYS:7 (upper-cased).
    Relative(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Lit {
    pub lit: Literal,
    pub pos: Pos,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Cond {
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    Cmp {
        path: Path,
        op: &'static str,
        value: Lit,
    },
    In {
        path: Path,
        negated: bool,
        values: Vec<Lit>,
    },
    Like {
        path: Path,
        pattern: Lit,
    },
    Includes {
        path: Path,
        excludes: bool,
        values: Vec<Lit>,
    },
    /// A semi-join (`Id IN (SELECT AccountId FROM Contact …)`) or, negated, an anti-join.
    InQuery {
        path: Path,
        negated: bool,
        query: Box<Query>,
        pos: Pos,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum Select {
    Count,
    Fields(Vec<Item>),
}

/// One item of a SELECT list.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Field(Path),
    /// `toLabel(StageName)`: the picklist value's label.
    ToLabel(Path),
    /// `FIELDS(ALL|STANDARD|CUSTOM)`.
    Fields(String, Pos),
    /// A parent-to-child subquery: `(SELECT LastName FROM Contacts)`.
    Sub(Box<Query>, Pos),
    /// `COUNT(Id)`, `SUM(Amount) total`, …; `path` is None for `COUNT()`.
    Agg {
        func: String,
        path: Option<Path>,
        alias: Option<String>,
        pos: Pos,
    },
    /// A date function of a field, with its alias: `CALENDAR_YEAR(CloseDate) yr`.
    DateFn(Path, Option<String>),
    /// `TYPEOF What WHEN Account THEN Name … ELSE Name END`: per parent type, its fields.
    TypeOf {
        rel: Path,
        whens: Vec<(String, Vec<Path>)>,
        otherwise: Vec<Path>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct OrderItem {
    pub path: Path,
    pub asc: bool,
    pub nulls_first: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    pub select: Select,
    pub from: String,
    pub from_pos: Pos,
    pub filter: Option<Cond>,
    pub order: Vec<OrderItem>,
    pub limit: Option<usize>,
    pub offset: Option<usize>,
    pub group_by: Vec<Path>,
    /// `GROUP BY ROLLUP(…)` or `GROUP BY CUBE(…)`: subtotal rows too (upper-cased).
    pub group_mode: Option<String>,
    /// `HAVING`: a condition on each group.
    pub having: Option<Having>,
    /// `WITH SECURITY_ENFORCED` (fields hidden from the user already fail to resolve).
    pub security_enforced: bool,
    /// `FOR VIEW`, `FOR REFERENCE` or `FOR UPDATE`, upper-cased, and where it stood.
    pub for_clause: Option<(String, Pos)>,
}

/// A HAVING condition: comparisons of aggregates (or grouped fields) with literals.
#[derive(Clone, Debug, PartialEq)]
pub enum Having {
    And(Vec<Having>),
    Or(Vec<Having>),
    Not(Box<Having>),
    Cmp {
        func: Option<String>,
        path: Option<Path>,
        op: &'static str,
        value: Lit,
        pos: Pos,
    },
}

const AGGREGATES: &[&str] = &[
    "count",
    "count_distinct",
    "sum",
    "avg",
    "min",
    "max",
    "grouping",
];

const RESERVED: &[&str] = &[
    "select", "from", "where", "and", "or", "not", "order", "by", "limit", "offset", "in", "like",
    "includes", "excludes", "asc", "desc", "nulls", "first", "last", "null", "true", "false",
    "group", "having", "with", "for", "typeof", "when", "then", "else", "end",
];

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    i: usize,
}

pub fn parse(src: &str) -> Result<Query, SoqlError> {
    let toks = lex(src)?;
    let mut p = Parser { src, toks, i: 0 };
    p.top()
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        &self.toks[self.i.min(self.toks.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.i < self.toks.len() - 1 {
            self.i += 1;
        }
        t
    }

    fn unexpected(&self) -> SoqlError {
        let t = self.peek();
        SoqlError::at(
            "MALFORMED_QUERY",
            self.src,
            t.pos,
            format!("unexpected token: '{}'", t.tok.show()),
        )
    }

    fn kw(&mut self, kw: &str) -> bool {
        if self.peek().tok.is_kw(kw) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect_kw(&mut self, kw: &str) -> Result<(), SoqlError> {
        if self.kw(kw) {
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn expect(&mut self, t: Tok) -> Result<(), SoqlError> {
        if self.peek().tok == t {
            self.i += 1;
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn ident(&mut self) -> Result<(String, Pos), SoqlError> {
        match &self.peek().tok {
            Tok::Ident(s) if !RESERVED.contains(&s.to_ascii_lowercase().as_str()) => {
                let s = s.clone();
                let pos = self.next().pos;
                Ok((s, pos))
            }
            _ => Err(self.unexpected()),
        }
    }

    /// An object's name: `Group` is a reserved word, yet `FROM Group` (or `WHEN Group`)
    /// names the Group object.
    fn object_name(&mut self) -> Result<(String, Pos), SoqlError> {
        match &self.peek().tok {
            Tok::Ident(s) if s.eq_ignore_ascii_case("group") => {
                let s = s.clone();
                Ok((s, self.next().pos))
            }
            _ => self.ident(),
        }
    }

    fn paths(&mut self) -> Result<Vec<Path>, SoqlError> {
        let mut v = vec![self.path()?];
        while self.peek().tok == Tok::Comma {
            self.i += 1;
            v.push(self.path()?);
        }
        Ok(v)
    }

    fn path(&mut self) -> Result<Path, SoqlError> {
        if let Tok::Ident(w) = &self.peek().tok
            && super::date_fn::DateFn::named(w).is_some()
            && self
                .toks
                .get(self.i + 1)
                .is_some_and(|n| n.tok == Tok::LParen)
        {
            let func = w.to_ascii_uppercase();
            self.i += 2;
            let inner = self.path()?;
            if inner.func.is_some() {
                return Err(self.unexpected());
            }
            self.expect(Tok::RParen)?;
            return Ok(Path {
                func: Some(func),
                ..inner
            });
        }
        let (first, pos) = self.ident()?;
        let mut parts = vec![first];
        while self.peek().tok == Tok::Dot {
            self.i += 1;
            parts.push(self.ident()?.0);
        }
        Ok(Path {
            parts,
            pos,
            func: None,
        })
    }

    fn query(&mut self) -> Result<Query, SoqlError> {
        self.expect_kw("select")?;
        let select = if self.peek().tok.is_kw("count")
            && self
                .toks
                .get(self.i + 1)
                .is_some_and(|t| t.tok == Tok::LParen)
            && self
                .toks
                .get(self.i + 2)
                .is_some_and(|t| t.tok == Tok::RParen)
        {
            self.i += 3;
            Select::Count
        } else {
            let mut items = vec![self.item()?];
            while self.peek().tok == Tok::Comma {
                self.i += 1;
                items.push(self.item()?);
            }
            Select::Fields(items)
        };
        self.expect_kw("from")?;
        let (from, from_pos) = self.object_name()?;
        let filter = if self.kw("where") {
            Some(self.or_cond()?)
        } else {
            None
        };
        let mut security_enforced = false;
        if self.kw("with") {
            if self.peek().tok.is_kw("security_enforced") {
                self.i += 1;
                security_enforced = true;
            } else {
                return Err(self.unexpected());
            }
        }
        let mut group_by = Vec::new();
        let mut group_mode = None;
        if self.kw("group") {
            self.expect_kw("by")?;
            let mode = match &self.peek().tok {
                Tok::Ident(w)
                    if (w.eq_ignore_ascii_case("rollup") || w.eq_ignore_ascii_case("cube"))
                        && self
                            .toks
                            .get(self.i + 1)
                            .is_some_and(|n| n.tok == Tok::LParen) =>
                {
                    Some(w.to_ascii_uppercase())
                }
                _ => None,
            };
            if mode.is_some() {
                self.i += 2;
            }
            group_by.push(self.path()?);
            while self.peek().tok == Tok::Comma {
                self.i += 1;
                group_by.push(self.path()?);
            }
            if mode.is_some() {
                self.expect(Tok::RParen)?;
            }
            group_mode = mode;
        }
        let having = if self.kw("having") {
            Some(self.having_or()?)
        } else {
            None
        };
        let mut order = Vec::new();
        if self.kw("order") {
            self.expect_kw("by")?;
            loop {
                let path = self.path()?;
                let asc = if self.kw("desc") {
                    false
                } else {
                    let _ = self.kw("asc");
                    true
                };
                let mut nulls_first = asc;
                if self.kw("nulls") {
                    if self.kw("first") {
                        nulls_first = true;
                    } else {
                        self.expect_kw("last")?;
                        nulls_first = false;
                    }
                }
                order.push(OrderItem {
                    path,
                    asc,
                    nulls_first,
                });
                if self.peek().tok != Tok::Comma {
                    break;
                }
                self.i += 1;
            }
        }
        let limit = if self.kw("limit") {
            Some(self.count()?)
        } else {
            None
        };
        let offset = if self.kw("offset") {
            let pos = self.peek().pos;
            let n = self.count()?;
            if n > 2000 {
                return Err(SoqlError::at(
                    "NUMBER_OUTSIDE_VALID_RANGE",
                    self.src,
                    pos,
                    format!("Maximum SOQL offset allowed is 2000 (got {n})"),
                ));
            }
            Some(n)
        } else {
            None
        };
        let for_clause = if self.peek().tok.is_kw("for") {
            let pos = self.next().pos;
            match &self.peek().tok {
                Tok::Ident(w)
                    if ["view", "reference", "update"]
                        .contains(&w.to_ascii_lowercase().as_str()) =>
                {
                    let w = w.to_ascii_uppercase();
                    self.i += 1;
                    Some((w, pos))
                }
                _ => return Err(self.unexpected()),
            }
        } else {
            None
        };
        if self.peek().tok != Tok::Eof && self.peek().tok != Tok::RParen {
            return Err(self.unexpected());
        }
        Ok(Query {
            select,
            from,
            from_pos,
            filter,
            order,
            limit,
            offset,
            group_by,
            group_mode,
            having,
            security_enforced,
            for_clause,
        })
    }

    /// A whole query: a top-level one must end the text.
    fn top(&mut self) -> Result<Query, SoqlError> {
        let q = self.query()?;
        if self.peek().tok != Tok::Eof {
            return Err(self.unexpected());
        }
        Ok(q)
    }

    /// A parenthesised subquery: `(SELECT … )`.
    fn subquery(&mut self) -> Result<(Query, Pos), SoqlError> {
        let pos = self.peek().pos;
        self.expect(Tok::LParen)?;
        let q = self.query()?;
        self.expect(Tok::RParen)?;
        Ok((q, pos))
    }

    fn item(&mut self) -> Result<Item, SoqlError> {
        let t = self.peek().clone();
        let next_is_paren = self
            .toks
            .get(self.i + 1)
            .is_some_and(|n| n.tok == Tok::LParen);
        match &t.tok {
            Tok::LParen => {
                let (q, pos) = self.subquery()?;
                Ok(Item::Sub(Box::new(q), pos))
            }
            Tok::Ident(w) if next_is_paren && w.eq_ignore_ascii_case("tolabel") => {
                self.i += 2;
                let p = self.path()?;
                self.expect(Tok::RParen)?;
                Ok(Item::ToLabel(p))
            }
            Tok::Ident(w) if next_is_paren && w.eq_ignore_ascii_case("fields") => {
                self.i += 2;
                let kind = match &self.peek().tok {
                    Tok::Ident(k)
                        if ["all", "standard", "custom"]
                            .contains(&k.to_ascii_lowercase().as_str()) =>
                    {
                        k.to_ascii_uppercase()
                    }
                    _ => return Err(self.unexpected()),
                };
                self.i += 1;
                self.expect(Tok::RParen)?;
                Ok(Item::Fields(kind, t.pos))
            }
            Tok::Ident(w) if next_is_paren && super::date_fn::DateFn::named(w).is_some() => {
                let path = self.path()?;
                let alias = self.alias();
                Ok(Item::DateFn(path, alias))
            }
            Tok::Ident(w)
                if next_is_paren && AGGREGATES.contains(&w.to_ascii_lowercase().as_str()) =>
            {
                let func = w.to_ascii_uppercase();
                self.i += 2;
                let path = if self.peek().tok == Tok::RParen {
                    None
                } else {
                    Some(self.path()?)
                };
                self.expect(Tok::RParen)?;
                let alias = self.alias();
                Ok(Item::Agg {
                    func,
                    path,
                    alias,
                    pos: t.pos,
                })
            }
            Tok::Ident(w) if w.eq_ignore_ascii_case("typeof") => {
                // TYPEOF rel WHEN Type THEN fields … [ELSE fields] END: the relationship's
                // fields by the parent's type.
                self.i += 1;
                let rel = self.path()?;
                let mut whens = Vec::new();
                while self.kw("when") {
                    let (ty, _) = self.object_name()?;
                    self.expect_kw("then")?;
                    whens.push((ty, self.paths()?));
                }
                let otherwise = if self.kw("else") {
                    self.paths()?
                } else {
                    vec![]
                };
                if whens.is_empty() {
                    return Err(self.unexpected());
                }
                self.expect_kw("end")?;
                Ok(Item::TypeOf {
                    rel,
                    whens,
                    otherwise,
                })
            }
            _ => Ok(Item::Field(self.path()?)),
        }
    }

    /// An expression's alias: a name that is not a keyword.
    fn alias(&mut self) -> Option<String> {
        match &self.peek().tok {
            Tok::Ident(a) if !RESERVED.contains(&a.to_ascii_lowercase().as_str()) => {
                let a = a.clone();
                self.i += 1;
                Some(a)
            }
            _ => None,
        }
    }

    fn count(&mut self) -> Result<usize, SoqlError> {
        match &self.peek().tok {
            Tok::Num(n) => match n.parse::<usize>() {
                Ok(v) => {
                    self.i += 1;
                    Ok(v)
                }
                Err(_) => Err(self.unexpected()),
            },
            _ => Err(self.unexpected()),
        }
    }

    /// `a OR b OR c`; SOQL refuses to mix AND and OR without parentheses.
    fn or_cond(&mut self) -> Result<Cond, SoqlError> {
        let first = self.not_cond()?;
        if self.peek().tok.is_kw("or") {
            let mut items = vec![first];
            while self.kw("or") {
                items.push(self.not_cond()?);
            }
            if self.peek().tok.is_kw("and") {
                return Err(self.unexpected());
            }
            return Ok(Cond::Or(items));
        }
        if self.peek().tok.is_kw("and") {
            let mut items = vec![first];
            while self.kw("and") {
                items.push(self.not_cond()?);
            }
            if self.peek().tok.is_kw("or") {
                return Err(self.unexpected());
            }
            return Ok(Cond::And(items));
        }
        Ok(first)
    }

    fn not_cond(&mut self) -> Result<Cond, SoqlError> {
        if self.kw("not") {
            return Ok(Cond::Not(Box::new(self.not_cond()?)));
        }
        if self.peek().tok == Tok::LParen {
            self.i += 1;
            let c = self.or_cond()?;
            self.expect(Tok::RParen)?;
            return Ok(c);
        }
        self.predicate()
    }

    fn predicate(&mut self) -> Result<Cond, SoqlError> {
        let path = self.path()?;
        if let Tok::Op(op) = self.peek().tok {
            self.i += 1;
            let value = self.literal()?;
            return Ok(Cond::Cmp { path, op, value });
        }
        if self.kw("like") {
            let pattern = self.literal()?;
            return Ok(Cond::Like { path, pattern });
        }
        let negated = self.kw("not");
        if self.kw("in") {
            if self.peek().tok == Tok::LParen
                && self
                    .toks
                    .get(self.i + 1)
                    .is_some_and(|t| t.tok.is_kw("select"))
            {
                let (q, pos) = self.subquery()?;
                return Ok(Cond::InQuery {
                    path,
                    negated,
                    query: Box::new(q),
                    pos,
                });
            }
            let values = self.list()?;
            return Ok(Cond::In {
                path,
                negated,
                values,
            });
        }
        if negated {
            return Err(self.unexpected());
        }
        for (kw, excludes) in [("includes", false), ("excludes", true)] {
            if self.kw(kw) {
                let values = self.list()?;
                return Ok(Cond::Includes {
                    path,
                    excludes,
                    values,
                });
            }
        }
        Err(self.unexpected())
    }

    fn having_or(&mut self) -> Result<Having, SoqlError> {
        let first = self.having_not()?;
        for (kw, other) in [("or", "and"), ("and", "or")] {
            if self.peek().tok.is_kw(kw) {
                let mut items = vec![first];
                while self.kw(kw) {
                    items.push(self.having_not()?);
                }
                if self.peek().tok.is_kw(other) {
                    return Err(self.unexpected());
                }
                return Ok(if kw == "or" {
                    Having::Or(items)
                } else {
                    Having::And(items)
                });
            }
        }
        Ok(first)
    }

    fn having_not(&mut self) -> Result<Having, SoqlError> {
        if self.kw("not") {
            return Ok(Having::Not(Box::new(self.having_not()?)));
        }
        if self.peek().tok == Tok::LParen {
            self.i += 1;
            let c = self.having_or()?;
            self.expect(Tok::RParen)?;
            return Ok(c);
        }
        let pos = self.peek().pos;
        let is_agg = matches!(&self.peek().tok, Tok::Ident(w) if AGGREGATES.contains(&w.to_ascii_lowercase().as_str()))
            && self
                .toks
                .get(self.i + 1)
                .is_some_and(|t| t.tok == Tok::LParen);
        let (func, path) = if is_agg {
            let Tok::Ident(w) = self.next().tok else {
                return Err(self.unexpected());
            };
            self.expect(Tok::LParen)?;
            let path = if self.peek().tok == Tok::RParen {
                None
            } else {
                Some(self.path()?)
            };
            self.expect(Tok::RParen)?;
            (Some(w.to_ascii_uppercase()), path)
        } else {
            (None, Some(self.path()?))
        };
        let Tok::Op(op) = self.peek().tok else {
            return Err(self.unexpected());
        };
        self.i += 1;
        let value = self.literal()?;
        Ok(Having::Cmp {
            func,
            path,
            op,
            value,
            pos,
        })
    }

    fn list(&mut self) -> Result<Vec<Lit>, SoqlError> {
        self.expect(Tok::LParen)?;
        let mut v = vec![self.literal()?];
        while self.peek().tok == Tok::Comma {
            self.i += 1;
            v.push(self.literal()?);
        }
        self.expect(Tok::RParen)?;
        Ok(v)
    }

    fn literal(&mut self) -> Result<Lit, SoqlError> {
        let t = self.peek().clone();
        let lit = match &t.tok {
            Tok::Str(s) => Literal::Str(s.clone()),
            Tok::Num(n) => match n.parse::<f64>() {
                Ok(v) => Literal::Num(v, !n.contains('.')),
                Err(_) => return Err(self.unexpected()),
            },
            Tok::Date(d) => Literal::Date(d.clone()),
            Tok::DateTime(d) => Literal::DateTime(d.clone()),
            Tok::Ident(s) if s.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Tok::Ident(s) if s.eq_ignore_ascii_case("false") => Literal::Bool(false),
            Tok::Ident(s) if s.eq_ignore_ascii_case("null") => Literal::Null,
            Tok::Ident(s)
                if super::date_literal::range(s, chrono::Utc::now().date_naive()).is_some() =>
            {
                Literal::Relative(s.to_ascii_uppercase())
            }
            _ => return Err(self.unexpected()),
        };
        self.i += 1;
        Ok(Lit { lit, pos: t.pos })
    }
}
