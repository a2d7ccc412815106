//! Named values of one spectrum or star: what an apStar header or a Source catalog says about
//! it, keyed by the DR19 column the value belongs to (`k_mag`, `snr`, `fiber`, …).
//!
//! A value is stored in the widest form of its kind (every float as f64, every integer as
//! i64) and narrowed to the column's FITS type only when a table is written
//! ([`crate::products`]). An absent field is written as DR19's fill value.

use std::collections::BTreeMap;

/// One value of a named field.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A floating-point number (NaN: unknown).
    Float(f64),
    /// An integer (identifiers, counts, bit fields).
    Int(i64),
    /// A logical.
    Bool(bool),
    /// Text (trailing blanks are not significant).
    Text(String),
    /// Bytes of a bit field too long for an integer (DR19's `sdss5_target_flags`, 57 bytes).
    Bytes(Vec<u8>),
}

impl Value {
    /// The value as a float: floats as they are, integers converted, anything else NaN.
    pub fn as_f64(&self) -> f64 {
        match self {
            Value::Float(v) => *v,
            Value::Int(v) => *v as f64,
            _ => f64::NAN,
        }
    }

    /// The value as an integer: integers as they are, integral finite floats converted,
    /// `None` otherwise.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(v) => Some(*v),
            Value::Float(v) if v.is_finite() && v.fract() == 0.0 && v.abs() < 9.2e18 => {
                Some(*v as i64)
            }
            _ => None,
        }
    }

    /// The value as text: text as it is (trimmed), numbers written out, `None` for flags.
    pub fn as_text(&self) -> Option<String> {
        match self {
            Value::Text(s) => Some(s.trim().to_string()),
            Value::Int(v) => Some(v.to_string()),
            Value::Float(v) => Some(v.to_string()),
            Value::Bool(v) => Some(if *v { "T" } else { "F" }.to_string()),
            Value::Bytes(_) => None,
        }
    }
}

/// The known fields of a spectrum, by DR19 column name (lower case).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fields(BTreeMap<String, Value>);

impl Fields {
    /// No fields.
    pub fn new() -> Self {
        Fields::default()
    }

    /// Sets `name` (replacing any earlier value).
    pub fn set(&mut self, name: &str, value: Value) {
        self.0.insert(name.to_ascii_lowercase(), value);
    }

    /// Sets a float field.
    pub fn set_f64(&mut self, name: &str, value: f64) {
        self.set(name, Value::Float(value));
    }

    /// Sets a text field.
    pub fn set_text(&mut self, name: &str, value: impl Into<String>) {
        self.set(name, Value::Text(value.into()));
    }

    /// The value of `name`, if known.
    pub fn get(&self, name: &str) -> Option<&Value> {
        match self.0.get(name) {
            Some(v) => Some(v),
            None if name.bytes().any(|b| b.is_ascii_uppercase()) => {
                self.0.get(&name.to_ascii_lowercase())
            }
            None => None,
        }
    }

    /// A float field; NaN when unknown or not a number.
    pub fn f64(&self, name: &str) -> f64 {
        self.get(name).map_or(f64::NAN, Value::as_f64)
    }

    /// An integer field, if known and integral.
    pub fn i64(&self, name: &str) -> Option<i64> {
        self.get(name).and_then(Value::as_i64)
    }

    /// A text field; empty when unknown.
    pub fn text(&self, name: &str) -> String {
        self.get(name).and_then(Value::as_text).unwrap_or_default()
    }

    /// Copies every field of `other` over these.
    pub fn extend_from(&mut self, other: &Fields) {
        for (name, value) in &other.0 {
            self.0.insert(name.clone(), value.clone());
        }
    }

    /// The fields in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no field is known.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_case_insensitive_and_conversions_are_lossless() {
        let mut f = Fields::new();
        f.set_f64("K_MAG", 9.811);
        f.set("catalogid", Value::Int(4_349_650_353));
        f.set("fiber", Value::Float(271.0));
        f.set_text("field", " 000+02 ");
        assert_eq!(f.f64("k_mag"), 9.811);
        assert_eq!(f.f64("K_mag"), 9.811);
        assert_eq!(f.i64("catalogid"), Some(4_349_650_353));
        assert_eq!(f.i64("fiber"), Some(271));
        assert_eq!(f.text("field"), "000+02");
        assert!(f.f64("missing").is_nan());
        assert_eq!(f.i64("k_mag"), None, "9.811 is not an integer");
        assert_eq!(f.text("missing"), "");
    }
}
