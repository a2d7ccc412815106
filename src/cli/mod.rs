//! The command-line interface: arguments, commands and progress display.

pub mod args;
pub mod bench;
pub mod commands;
pub mod jacobian;
pub mod progress;
pub mod simulate;
pub mod slurm;
pub mod train;

/// `n` and the noun in the right number: "1 spectrum", "6 spectra".
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
