//! The command-line interface: arguments, commands and progress display.

pub mod allocator;
pub mod args;
pub mod bench;
pub mod commands;
pub mod progress;
pub mod simulate;
pub mod train;
