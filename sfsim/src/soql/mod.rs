//! The SOQL subset of the reference: lexer, parser and evaluator.

pub mod date_fn;
pub mod date_literal;
pub mod eval;
pub mod grouping_sets;
pub mod lexer;
pub mod parser;
pub mod relationship_limits;

pub use parser::{Cond, Item, Literal, OrderItem, Path, Query, Select, parse};

/// A query error as the REST API reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct SoqlError {
    pub code: &'static str,
    pub message: String,
}

impl SoqlError {
    /// A positioned error: the query line, a caret, `ERROR at Row:R:Column:C`, the message.
    pub fn at(code: &'static str, src: &str, pos: Pos, msg: impl Into<String>) -> SoqlError {
        let line = src.lines().nth(pos.row.saturating_sub(1)).unwrap_or("");
        let caret = format!("{}^", " ".repeat(pos.col.saturating_sub(1)));
        SoqlError {
            code,
            message: format!(
                "\n{line}\n{caret}\nERROR at Row:{}:Column:{}\n{}",
                pos.row,
                pos.col,
                msg.into()
            ),
        }
    }
}

/// A 1-based position in the query text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Pos {
    pub row: usize,
    pub col: usize,
}
