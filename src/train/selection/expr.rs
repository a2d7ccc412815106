//! The selection language: conditions on a catalog's columns, such as
//! `SNR > 200 && STARFLAG == 0 && !ASPCAPFLAG[STAR_BAD]`.
//!
//! Grammar, loosest binding first:
//!
//! | form | meaning |
//! |---|---|
//! | `a \|\| b`, `a && b` | logical or, and (`&&` binds tighter) |
//! | `!a` | not; it applies to the comparison that follows: `!SNR > 200` is `!(SNR > 200)` |
//! | `a < b`, `<=`, `>`, `>=`, `==`, `!=` | comparisons (they do not chain: `a < b < c` is an error) |
//! | `a + b`, `a - b`, then `a * b`, `a / b` | arithmetic |
//! | `-a` | negation |
//! | `12`, `0.5`, `1e-3` | numbers |
//! | `SNR` | a column, by name ignoring case |
//! | `ASPCAPFLAG[23]`, `ASPCAPFLAG[STAR_BAD]` | a bit of a column, by number (0–63) or by name |
//! | `finite(x)`, `abs(x)` | whether x is finite; its absolute value |
//! | `( … )` | grouping |
//!
//! Values are 64-bit floats, as the catalog reader gives every column. A value used as a
//! condition is true when it is nonzero and not NaN, and a condition is 1 or 0: so
//! `!STARFLAG` means `STARFLAG == 0`, except that a missing (NaN) `STARFLAG` satisfies
//! `!STARFLAG` but not `STARFLAG == 0`. Every comparison with NaN is false, `!=` included.
//!
//! Bit names exist for the columns `ASPCAPFLAG`, `STARFLAG` and `ANDFLAG`
//! ([`crate::apogee::bitmasks`]). A bit test reads the value as a 64-bit two's-complement
//! integer (so the bits of a negative 32-bit flag, bit 31 set, read correctly); a value that
//! is not an integer of magnitude below 2^53 (NaN, ±inf, a fraction, or too large to be
//! exact) has no known bits: the test gives NaN, which fails `FLAG[b] == 0` and satisfies
//! `!FLAG[b]`.
//!
//! Parsing needs no data: every error of the text itself (syntax, unknown function or bit
//! name, nesting deeper than [`MAX_DEPTH`]) is reported at once, with the expression and a
//! caret line under the offending token.

use crate::apogee::bitmasks;
use crate::train::selection::lexer::{pointed, tokenize, Kind, Span, Token};
use crate::train::selection::tree::{eval, truth, Function, Node, Op};
use crate::Result;

/// The deepest an expression may nest (operators and parentheses): bounds the recursion of
/// parsing and evaluation.
pub const MAX_DEPTH: usize = 100;

/// A parsed expression over named columns.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    text: String,
    root: Node,
    columns: Vec<ColumnRef>,
}

/// A column the expression reads: its name as first written, and where.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ColumnRef {
    pub name: String,
    pub span: Span,
}

/// The functions, by name.
const FUNCTIONS: [(&str, Function); 2] = [("finite", Function::Finite), ("abs", Function::Abs)];

impl Expr {
    /// Parses `text` (see the module documentation); errors point at the offending token.
    pub fn parse(text: &str) -> Result<Expr> {
        let mut parser = Parser {
            text,
            tokens: tokenize(text)?,
            at: 0,
            depth: 0,
            columns: Vec::new(),
        };
        if parser.peek().kind == Kind::End {
            return Err(pointed(text, parser.peek().span, "empty expression"));
        }
        let root = parser.or()?.node;
        let next = parser.peek();
        match next.kind {
            Kind::End => Ok(Expr {
                text: text.to_string(),
                root,
                columns: parser.columns,
            }),
            Kind::Symbol(")") => Err(pointed(
                text,
                next.span,
                "unbalanced parenthesis: this ')' closes no '('",
            )),
            _ => Err(pointed(
                text,
                next.span,
                &format!(
                    "expected an operator after {}, found {}",
                    parser.tokens[parser.at - 1].describe(text),
                    next.describe(text)
                ),
            )),
        }
    }

    /// The text the expression was parsed from.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The columns it reads, each once (compared ignoring case), in order of appearance:
    /// [`Expr::eval`] takes their values in this order.
    pub fn columns(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|c| c.name.as_str())
    }

    /// Where each column is first read.
    pub(crate) fn column_refs(&self) -> &[ColumnRef] {
        &self.columns
    }

    /// The expression's value for a row whose columns (in [`Expr::columns`] order) hold
    /// `values`.
    pub fn eval(&self, values: &[f64]) -> f64 {
        eval(&self.root, values)
    }

    /// Whether the row satisfies the expression (its value is nonzero and not NaN).
    pub fn holds(&self, values: &[f64]) -> bool {
        truth(self.eval(values))
    }
}

/// A subtree and its depth.
struct Sub {
    node: Node,
    depth: usize,
}

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<Token>,
    at: usize,
    /// Current recursion depth of the parser.
    depth: usize,
    columns: Vec<ColumnRef>,
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        &self.tokens[self.at]
    }

    /// Consumes the next token if it is one of `symbols`.
    fn eat(&mut self, symbols: &[&'static str]) -> Option<(&'static str, Span)> {
        let token = self.peek();
        match token.kind {
            Kind::Symbol(s) if symbols.contains(&s) => {
                let span = token.span;
                self.at += 1;
                Some((s, span))
            }
            _ => None,
        }
    }

    fn error<T>(&self, span: Span, message: &str) -> Result<T> {
        Err(pointed(self.text, span, message))
    }

    /// Runs `parse` one level deeper, refusing to go past [`MAX_DEPTH`].
    fn nested(&mut self, parse: fn(&mut Self) -> Result<Sub>) -> Result<Sub> {
        if self.depth >= MAX_DEPTH {
            return self.error(self.peek().span, &too_deep());
        }
        self.depth += 1;
        let sub = parse(self);
        self.depth -= 1;
        sub
    }

    /// A node over `children`, one level deeper than the deepest of them.
    fn node(&self, node: Node, children: &[usize], at: Span) -> Result<Sub> {
        let depth = 1 + children.iter().copied().max().unwrap_or(0);
        if depth > MAX_DEPTH {
            return self.error(at, &too_deep());
        }
        Ok(Sub { node, depth })
    }

    /// A left-associative chain of `next`s joined by `symbols`.
    fn chain(
        &mut self,
        symbols: &[&'static str],
        next: fn(&mut Self) -> Result<Sub>,
    ) -> Result<Sub> {
        let mut lhs = next(self)?;
        while let Some((symbol, span)) = self.eat(symbols) {
            let rhs = next(self)?;
            let node = Node::Binary(op(symbol), Box::new(lhs.node), Box::new(rhs.node));
            lhs = self.node(node, &[lhs.depth, rhs.depth], span)?;
        }
        Ok(lhs)
    }

    fn or(&mut self) -> Result<Sub> {
        self.nested(|p| p.chain(&["||"], |p| p.and()))
    }

    fn and(&mut self) -> Result<Sub> {
        self.chain(&["&&"], |p| p.not())
    }

    fn not(&mut self) -> Result<Sub> {
        let Some((_, span)) = self.eat(&["!"]) else {
            return self.comparison();
        };
        let inner = self.nested(|p| p.not())?;
        self.node(Node::Not(Box::new(inner.node)), &[inner.depth], span)
    }

    fn comparison(&mut self) -> Result<Sub> {
        const COMPARISONS: [&str; 6] = ["<", "<=", ">", ">=", "==", "!="];
        let lhs = self.sum()?;
        let Some((symbol, span)) = self.eat(&COMPARISONS) else {
            return Ok(lhs);
        };
        let rhs = self.sum()?;
        if let Some((_, again)) = self.eat(&COMPARISONS) {
            return self.error(again, "comparisons do not chain: write a < b && b < c");
        }
        let node = Node::Binary(op(symbol), Box::new(lhs.node), Box::new(rhs.node));
        self.node(node, &[lhs.depth, rhs.depth], span)
    }

    fn sum(&mut self) -> Result<Sub> {
        self.chain(&["+", "-"], |p| p.product())
    }

    fn product(&mut self) -> Result<Sub> {
        self.chain(&["*", "/"], |p| p.unary())
    }

    fn unary(&mut self) -> Result<Sub> {
        let Some((_, span)) = self.eat(&["-"]) else {
            return self.primary();
        };
        let inner = self.nested(|p| p.unary())?;
        self.node(Node::Neg(Box::new(inner.node)), &[inner.depth], span)
    }

    fn primary(&mut self) -> Result<Sub> {
        let token = self.peek().clone();
        match &token.kind {
            Kind::Number(value) => {
                self.at += 1;
                Ok(Sub {
                    node: Node::Number(*value),
                    depth: 1,
                })
            }
            Kind::Name(name) => {
                self.at += 1;
                match self.peek().kind {
                    Kind::Symbol("(") => self.call(name, token.span),
                    Kind::Symbol("[") => self.bit(name, token.span),
                    _ => Ok(Sub {
                        node: Node::Column(self.column(name, token.span)),
                        depth: 1,
                    }),
                }
            }
            Kind::Symbol("(") => {
                self.at += 1;
                let inner = self.or()?;
                if self.eat(&[")"]).is_none() {
                    return self.error(
                        token.span,
                        "unbalanced parenthesis: this '(' is never closed",
                    );
                }
                Ok(inner)
            }
            Kind::Symbol("!") => self.error(
                token.span,
                "'!' negates a whole comparison and cannot stand inside one: write (!x)",
            ),
            _ => self.error(token.span, &self.expected_value(&token)),
        }
    }

    /// "expected a value after '&&'" (", found ')'" when something else follows).
    fn expected_value(&self, found: &Token) -> String {
        let after = match self.at.checked_sub(1) {
            Some(previous) => format!(" after {}", self.tokens[previous].describe(self.text)),
            None => String::new(),
        };
        match found.kind {
            Kind::End => format!("expected a value{after}"),
            _ => format!(
                "expected a value{after}, found {}",
                found.describe(self.text)
            ),
        }
    }

    /// `name(x)`, the `(` next.
    fn call(&mut self, name: &str, span: Span) -> Result<Sub> {
        let Some(&(_, function)) = FUNCTIONS.iter().find(|(n, _)| n.eq_ignore_ascii_case(name))
        else {
            let known: Vec<&str> = FUNCTIONS.iter().map(|(n, _)| *n).collect();
            return self.error(
                span,
                &format!(
                    "unknown function '{name}' (functions: {})",
                    known.join(", ")
                ),
            );
        };
        let (_, open) = self.eat(&["("]).expect("the caller saw '('");
        let argument = self.or()?;
        if let Some((_, comma)) = self.eat(&[","]) {
            return self.error(comma, &format!("{name}() takes one argument"));
        }
        if self.eat(&[")"]).is_none() {
            return self.error(open, "unbalanced parenthesis: this '(' is never closed");
        }
        self.node(
            Node::Call(function, Box::new(argument.node)),
            &[argument.depth],
            span,
        )
    }

    /// `COLUMN[BIT]`, the `[` next.
    fn bit(&mut self, column: &str, span: Span) -> Result<Sub> {
        let (_, open) = self.eat(&["["]).expect("the caller saw '['");
        let token = self.peek().clone();
        let bit = match &token.kind {
            Kind::Number(n) if n.fract() == 0.0 && (0.0..64.0).contains(n) => *n as u32,
            Kind::Number(_) => {
                return self.error(token.span, "a bit number is an integer from 0 to 63")
            }
            Kind::Name(name) => self.bit_named(column, name, token.span)?,
            _ => {
                return self.error(
                    token.span,
                    &format!("expected a bit number or name after '{column}['"),
                )
            }
        };
        self.at += 1;
        if self.eat(&["]"]).is_none() {
            return self.error(open, "unbalanced bracket: this '[' is never closed");
        }
        Ok(Sub {
            node: Node::Bit {
                column: self.column(column, span),
                bit,
            },
            depth: 1,
        })
    }

    /// The bit called `name` in the bitmask of `column`.
    fn bit_named(&self, column: &str, name: &str, span: Span) -> Result<u32> {
        let Some(mask) = bitmasks::for_column(column) else {
            let named: Vec<&str> = bitmasks::named_columns().collect();
            return self.error(
                span,
                &format!(
                    "column '{column}' has no named bits (columns with named bits: {}); use a \
                     bit number",
                    named.join(", ")
                ),
            );
        };
        mask.bit(name).map_or_else(
            || {
                let names: Vec<&str> = mask.names().collect();
                self.error(
                    span,
                    &format!(
                        "{column} ({}) has no bit '{name}' (its bits: {})",
                        mask.name,
                        names.join(", ")
                    ),
                )
            },
            Ok,
        )
    }

    /// The slot of column `name`, added on its first appearance.
    fn column(&mut self, name: &str, span: Span) -> usize {
        if let Some(slot) = self
            .columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name))
        {
            return slot;
        }
        self.columns.push(ColumnRef {
            name: name.to_string(),
            span,
        });
        self.columns.len() - 1
    }
}

/// The error message for an expression deeper than [`MAX_DEPTH`].
fn too_deep() -> String {
    format!("the expression nests too deeply (more than {MAX_DEPTH} levels)")
}

/// The operator of a binary symbol.
fn op(symbol: &str) -> Op {
    match symbol {
        "||" => Op::Or,
        "&&" => Op::And,
        "<" => Op::Lt,
        "<=" => Op::Le,
        ">" => Op::Gt,
        ">=" => Op::Ge,
        "==" => Op::Eq,
        "!=" => Op::Ne,
        "+" => Op::Add,
        "-" => Op::Sub,
        "*" => Op::Mul,
        "/" => Op::Div,
        _ => unreachable!("the parser only joins binary operators"),
    }
}
