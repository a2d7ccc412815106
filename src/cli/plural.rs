//! Counts in messages, with the noun in the right number.

/// `n` and the noun in the right number: "1 spectrum", "6 spectra".
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
