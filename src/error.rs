//! The library's error type: every failure names the file or the value that caused it.

use std::path::PathBuf;

/// Errors raised by the astronn library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The operating system refused to read or write a file. The message carries the
    /// cause, so it is not also given as the error's source (a reader printing the chain,
    /// as anyhow's `{:#}` does, would repeat it).
    #[error("{}: {cause}", path.display())]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    /// A file was readable but its content is not what it should be.
    #[error("{}: {msg}", path.display())]
    File { path: PathBuf, msg: String },
    /// A value (an argument, a spectrum, a model parameter) is invalid.
    #[error("{0}")]
    Invalid(String),
    /// A tensor operation failed (shape mismatch in a model, for example); the message
    /// carries the cause (not also a source, see `Io`).
    #[error("tensor error: {0}")]
    Tensor(candle_core::Error),
    /// The run was asked to stop (Ctrl-C, SIGTERM, a Python `KeyboardInterrupt`; see
    /// [`crate::cancel`]).
    #[error("stopped on request")]
    Cancelled,
}

impl From<candle_core::Error> for Error {
    fn from(error: candle_core::Error) -> Self {
        Error::Tensor(error)
    }
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
    pub fn io(path: impl Into<PathBuf>, cause: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            cause,
        }
    }
}

/// Result with the library's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
