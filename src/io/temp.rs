//! Temporary files beside a destination, renamed over it when complete, so a failed run
//! never leaves a half-written output.

use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// A temporary file name beside a destination, removed on drop unless persisted.
#[derive(Debug)]
pub struct TempPath {
    path: PathBuf,
    keep: bool,
}

impl TempPath {
    /// Reserves a fresh hidden name beside `dest` (`.<name>.<pid>-<n>.<suffix>`), checking by
    /// creating it that the directory is writable; the file is then removed again so that
    /// CFITSIO (or the caller) can create it.
    pub fn beside(dest: &Path, suffix: &str) -> Result<TempPath> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = dest
            .file_name()
            .ok_or_else(|| Error::Invalid(format!("{}: not a file name", dest.display())))?
            .to_string_lossy()
            .into_owned();
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let candidate = dir.join(format!(".{name}.{}-{n}.{suffix}", std::process::id()));
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&candidate)
            {
                Ok(_) => {
                    std::fs::remove_file(&candidate).map_err(|e| Error::io(&candidate, e))?;
                    return Ok(TempPath {
                        path: candidate,
                        keep: false,
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(Error::io(
                        dest,
                        std::io::Error::new(
                            e.kind(),
                            format!("cannot create a file in {}: {e}", dir.display()),
                        ),
                    ))
                }
            }
        }
    }

    /// The temporary path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the temporary file over `dest` (atomic on one file system).
    pub fn persist(mut self, dest: &Path) -> Result<()> {
        std::fs::rename(&self.path, dest).map_err(|e| Error::io(dest, e))?;
        self.keep = true;
        Ok(())
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
