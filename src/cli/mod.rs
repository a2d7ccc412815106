//! The command-line interface: arguments, commands and progress display.

pub mod args;
pub mod bench;
pub mod commands;
pub mod progress;
pub mod runtime;
pub mod simulate;
pub mod train;
