//! Which parameters a fine-tuning run keeps fixed (`train --freeze`): named groups of the
//! full-spectrum trunk, or glob patterns over Astra's parameter names.
//!
//! - `conv`: both convolutions (`conv1.*`, `conv2.*`);
//! - `trunk`: the shared full-spectrum trunk of [`crate::nn::trunk`] (`conv1.*`, `conv2.*`,
//!   `dense_1.*`);
//! - anything else is a pattern over parameter names, where `*` matches any run of
//!   characters and `?` one character; a bare layer name (`dense_aux_fullspec`) stands for all
//!   its parameters (`dense_aux_fullspec.*`).
//!
//! A frozen parameter gets no optimiser update and no weight constraint, so it stays bitwise
//! as the parent had it.

use crate::{Error, Result};

/// The layers of each named group.
const GROUPS: [(&str, &[&str]); 2] = [
    ("conv", &["conv1", "conv2"]),
    ("trunk", &["conv1", "conv2", "dense_1"]),
];

/// Whether `text` matches the glob `pattern` (`*`: any run, `?`: one character).
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match (pattern.first(), text.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob(&pattern[1..], text) || (!text.is_empty() && glob(pattern, &text[1..]))
        }
        (Some(b'?'), Some(_)) => glob(&pattern[1..], &text[1..]),
        (Some(p), Some(t)) if p == t => glob(&pattern[1..], &text[1..]),
        _ => false,
    }
}

/// Whether parameter `name` is selected by one `--freeze` value.
fn selects(pattern: &str, name: &str) -> bool {
    if let Some((_, layers)) = GROUPS.iter().find(|(group, _)| *group == pattern) {
        return layers.iter().any(|layer| {
            name.strip_prefix(layer)
                .is_some_and(|rest| rest.starts_with('.'))
        });
    }
    glob(pattern.as_bytes(), name.as_bytes())
        || glob(format!("{pattern}.*").as_bytes(), name.as_bytes())
}

/// The parameters of `names` that `patterns` freeze, in `names`' order. A pattern that
/// matches no parameter is an error listing the network's parameters (a typo must not
/// silently train everything).
pub fn frozen_parameters(patterns: &[String], names: &[String]) -> Result<Vec<String>> {
    for pattern in patterns {
        if !names.iter().any(|name| selects(pattern, name)) {
            return Err(Error::Invalid(format!(
                "--freeze {pattern} matches no parameter; use conv, trunk, or a pattern over \
                 the parameters: {}",
                names.join(", ")
            )));
        }
    }
    Ok(names
        .iter()
        .filter(|name| patterns.iter().any(|p| selects(p, name)))
        .cloned()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        [
            "conv1.bias",
            "conv1.weight",
            "conv2.weight",
            "conv10.weight",
            "dense_1.weight",
            "dense_2.weight",
            "dense_aux_fullspec.weight",
            "dense_aux_fullspec.bias",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    fn freeze(patterns: &[&str]) -> Result<Vec<String>> {
        let patterns: Vec<String> = patterns.iter().map(|s| s.to_string()).collect();
        frozen_parameters(&patterns, &names())
    }

    #[test]
    fn groups_name_whole_layers_only() {
        assert_eq!(
            freeze(&["conv"]).unwrap(),
            ["conv1.bias", "conv1.weight", "conv2.weight"]
        );
        assert_eq!(
            freeze(&["trunk"]).unwrap(),
            [
                "conv1.bias",
                "conv1.weight",
                "conv2.weight",
                "dense_1.weight"
            ]
        );
    }

    #[test]
    fn patterns_and_bare_layer_names() {
        assert_eq!(
            freeze(&["dense_aux_fullspec"]).unwrap(),
            ["dense_aux_fullspec.weight", "dense_aux_fullspec.bias"]
        );
        assert_eq!(
            freeze(&["*.bias"]).unwrap(),
            ["conv1.bias", "dense_aux_fullspec.bias"]
        );
        assert_eq!(
            freeze(&["dense_?.weight", "conv2"]).unwrap(),
            ["conv2.weight", "dense_1.weight", "dense_2.weight"]
        );
    }

    #[test]
    fn a_pattern_matching_nothing_is_an_error_listing_the_parameters() {
        let message = freeze(&["conv", "dense_3"]).unwrap_err().to_string();
        assert!(
            message.contains("--freeze dense_3 matches no parameter"),
            "{message}"
        );
        assert!(message.contains("dense_aux_fullspec.weight"), "{message}");
    }
}
