//! Training-set selections: which catalog stars a network may train on.
//!
//! A [`Selection`] is an ordered list of named rules, each an expression of the selection
//! language ([`expr`]) over a catalog's columns. It comes from a preset of DR19's selections
//! ([`Selection::preset`]: `dr19-astronn`, `dr19-dist`, see [`presets`]) or from an expression
//! ([`Selection::parse_where`]); [`Selection::and`] applies two, the first one's rules first.
//!
//! [`Selection::apply`] reads only the columns the rules name from a FITS or CSV catalog
//! ([`crate::io::catalog::Catalog`]) and evaluates every row. The [`SelectionOutcome`] says
//! which stars are kept and what each rule did: how many rows it removed (among the rows
//! every earlier rule kept) and how many it rejects on its own. A star listed more than once
//! is judged by its first row, the row the label catalogs use.

pub mod expr;
mod lexer;
pub mod presets;
mod tree;

use crate::io::catalog::{column_names, position, Catalog, ColumnRequest};
use crate::{Error, Result};
pub use expr::Expr;
use std::collections::HashSet;
use std::fmt;
use std::path::Path;

/// One rule of a selection: a name for reports and the condition a row must satisfy.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    name: String,
    expr: Expr,
}

impl Rule {
    /// The rule's name (`SNR > 200`, `no STAR_BAD`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its condition.
    pub fn expr(&self) -> &Expr {
        &self.expr
    }
}

/// An ordered list of named rules (see the module documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    name: String,
    rules: Vec<Rule>,
}

impl Selection {
    /// The preset called `name` (see [`presets`]); an unknown name is an error listing the
    /// presets.
    pub fn preset(name: &str) -> Result<Selection> {
        let preset = presets::PRESETS
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "unknown selection preset '{name}' (presets: {})",
                    Selection::preset_names().collect::<Vec<_>>().join(", ")
                ))
            })?;
        let rules = preset
            .rules
            .iter()
            .map(|&(rule, text)| {
                Ok(Rule {
                    name: rule.to_string(),
                    expr: Expr::parse(text)?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Selection {
            name: preset.name.to_string(),
            rules,
        })
    }

    /// The names of the presets.
    pub fn preset_names() -> impl Iterator<Item = &'static str> {
        presets::PRESETS.iter().map(|p| p.name)
    }

    /// A selection of one rule, the expression `text`, named after it. A bad expression is
    /// an error pointing at the offending token.
    pub fn parse_where(text: &str) -> Result<Selection> {
        let expr = Expr::parse(text)
            .map_err(|e| Error::Invalid(format!("bad selection expression: {e}")))?;
        Ok(Selection {
            name: "where".to_string(),
            rules: vec![Rule {
                name: text.trim().to_string(),
                expr,
            }],
        })
    }

    /// Both selections: a row must satisfy every rule of `self`, then every rule of `other`.
    pub fn and(mut self, other: Selection) -> Selection {
        self.name = format!("{} + {}", self.name, other.name);
        self.rules.extend(other.rules);
        self
    }

    /// The selection's name: the preset's, `where` for an expression, `a + b` when combined.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The rules, in the order they apply.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Evaluates every row of the catalog at `catalog_path` (FITS or CSV), whose stars are
    /// identified by `id_column`. Reads only the columns the rules name; a column the
    /// catalog lacks is an error pointing at it in its rule, given before any data is read.
    pub fn apply(&self, catalog_path: &Path, id_column: &str) -> Result<SelectionOutcome> {
        let names = column_names(catalog_path, "catalog")?;
        // The catalog columns to read (file spelling, each once) and, per rule, the request
        // index of each of its expression's columns.
        let mut requested: Vec<String> = Vec::new();
        let mut slots: Vec<Vec<usize>> = Vec::with_capacity(self.rules.len());
        for rule in &self.rules {
            let mut rule_slots = Vec::new();
            for column in rule.expr.column_refs() {
                let Some(index) = position(&names, &column.name) else {
                    return Err(self.missing_column(rule, column, catalog_path, &names));
                };
                let name = &names[index];
                let request = requested.iter().position(|r| r == name).unwrap_or_else(|| {
                    requested.push(name.clone());
                    requested.len() - 1
                });
                rule_slots.push(request);
            }
            slots.push(rule_slots);
        }
        let requests: Vec<ColumnRequest> = requested
            .iter()
            .map(|name| ColumnRequest {
                role: "selection",
                name,
                required: true,
            })
            .collect();
        let catalog = Catalog::load(catalog_path, "catalog", id_column, &requests)?;
        Ok(self.evaluate(&catalog, &slots))
    }

    /// The outcome of the rules on every row of `catalog`; `slots[r]` maps rule r's columns
    /// to the catalog's requested columns.
    fn evaluate(&self, catalog: &Catalog, slots: &[Vec<usize>]) -> SelectionOutcome {
        let mut rules: Vec<RuleOutcome> = self
            .rules
            .iter()
            .map(|rule| RuleOutcome {
                name: rule.name.clone(),
                removed: 0,
                rejects: 0,
            })
            .collect();
        let mut kept_ids = HashSet::new();
        let mut kept = 0;
        let mut values = Vec::new();
        for (row, id) in catalog.ids().iter().enumerate() {
            let mut alive = true;
            for ((rule, outcome), columns) in self.rules.iter().zip(&mut rules).zip(slots) {
                values.clear();
                values.extend(columns.iter().map(|&c| catalog.column(c)[row]));
                if !rule.expr.holds(&values) {
                    outcome.rejects += 1;
                    outcome.removed += usize::from(alive);
                    alive = false;
                }
            }
            if alive {
                kept += 1;
                if catalog.row_of(id) == Some(row) {
                    kept_ids.insert(id.clone());
                }
            }
        }
        SelectionOutcome {
            selection: self.name.clone(),
            rows: catalog.rows(),
            kept,
            rules,
            kept_ids,
        }
    }

    /// The error for a column of `rule` that the catalog lacks, pointing at it.
    fn missing_column(
        &self,
        rule: &Rule,
        column: &expr::ColumnRef,
        path: &Path,
        names: &[String],
    ) -> Error {
        let context = if rule.name == rule.expr.text().trim() {
            String::new()
        } else {
            format!("selection {}, rule '{}': ", self.name, rule.name)
        };
        Error::Invalid(format!(
            "{context}no column '{}' in {} (it has: {})\n{}",
            column.name,
            path.display(),
            names.join(", "),
            lexer::caret_lines(rule.expr.text(), column.span)
        ))
    }
}

/// What one rule did to a catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleOutcome {
    /// The rule's name.
    pub name: String,
    /// Rows it rejected among those every earlier rule kept.
    pub removed: usize,
    /// Rows it rejects on its own (whatever the other rules say).
    pub rejects: usize,
}

/// The result of a selection on a catalog: counts for reports, and which stars are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectionOutcome {
    /// The selection's name.
    pub selection: String,
    /// Rows of the catalog (a repeated star counted each time).
    pub rows: usize,
    /// Rows that satisfy every rule.
    pub kept: usize,
    /// Per rule, in order.
    pub rules: Vec<RuleOutcome>,
    kept_ids: HashSet<String>,
}

impl SelectionOutcome {
    /// Whether star `id` (blanks around it ignored) is kept: its first row in the catalog
    /// satisfies every rule. A star the catalog does not list is not kept.
    pub fn contains(&self, id: &str) -> bool {
        self.kept_ids.contains(id.trim())
    }

    /// A report: the headline, then one line per rule.
    pub fn summary_lines(&self) -> Vec<String> {
        let mut lines = vec![self.headline()];
        lines.extend(self.rules.iter().map(|r| {
            format!(
                "  {}: removed {} (rejects {} on its own)",
                r.name,
                grouped(r.removed),
                grouped(r.rejects)
            )
        }));
        lines
    }

    /// `dr19-dist: 1,234 of 20,000 catalog rows kept`.
    fn headline(&self) -> String {
        format!(
            "{}: {} of {} catalog rows kept",
            self.selection,
            grouped(self.kept),
            grouped(self.rows)
        )
    }
}

/// One line: `dr19-dist: 1,234 of 20,000 catalog rows kept; SNR > 200 removed 812; …`.
impl fmt::Display for SelectionOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.headline())?;
        for rule in &self.rules {
            write!(f, "; {} removed {}", rule.name, grouped(rule.removed))?;
        }
        Ok(())
    }
}

/// `n` with thousands separated by commas (`20,000`).
fn grouped(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests;
