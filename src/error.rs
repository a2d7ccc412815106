//! The library's error type: every failure names the file or the value that caused it.

use std::path::PathBuf;

/// Errors raised by the astronn library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The operating system refused to read or write a file.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file was readable but its content is not what it should be.
    #[error("{}: {msg}", path.display())]
    File { path: PathBuf, msg: String },
    /// A value (an argument, a spectrum, a model parameter) is invalid.
    #[error("{0}")]
    Invalid(String),
    /// A tensor operation failed (shape mismatch in a model, for example).
    #[error("tensor error: {0}")]
    Tensor(#[from] candle_core::Error),
}

impl Error {
    /// A content error about `path`.
    pub fn file(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::File {
            path: path.into(),
            msg: msg.into(),
        }
    }

    /// An I/O error about `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result with the library's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
