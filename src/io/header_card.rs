//! Header cards to write into a FITS header: keyword, value and comment. They sit below the
//! modules that write headers (`table`, and `fits`, the raw CFITSIO layer beneath it), which
//! share them with every producer of run headers.

/// The value of a header card.
#[derive(Debug, Clone, PartialEq)]
pub enum CardValue {
    /// A string; long values are written with the CONTINUE convention, never truncated.
    Str(String),
    /// A float; a non-finite value is written as an undefined value.
    F64(f64),
    /// An integer.
    I64(i64),
    /// A logical.
    Bool(bool),
}

impl CardValue {
    /// The value as text, as a header reader gives it back (numbers in their shortest exact
    /// form, logicals as `T`/`F`).
    pub fn text(&self) -> String {
        match self {
            CardValue::Str(s) => s.clone(),
            CardValue::F64(v) => v.to_string(),
            CardValue::I64(v) => v.to_string(),
            CardValue::Bool(v) => if *v { "T" } else { "F" }.to_string(),
        }
    }
}

/// A header card to write: keyword, value and comment. The keywords `COMMENT` and `HISTORY`
/// write commentary cards holding the value's text (the comment is then ignored).
#[derive(Debug, Clone, PartialEq)]
pub struct HeaderCard {
    /// Keyword; names longer than 8 characters use the HIERARCH convention.
    pub key: String,
    /// Value.
    pub value: CardValue,
    /// Comment (may be empty).
    pub comment: String,
}

impl HeaderCard {
    /// A card from its parts.
    pub fn new(key: impl Into<String>, value: CardValue, comment: impl Into<String>) -> Self {
        HeaderCard {
            key: key.into(),
            value,
            comment: comment.into(),
        }
    }
}
