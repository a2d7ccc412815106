//! Temporary files beside a destination, renamed over it when complete, so a failed run
//! never leaves a half-written output; and the rule that an existing output is not
//! replaced unless asked ([`refuse_to_replace`]).

use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// Refuses, before any work, to replace a user's earlier output: each of `files` that exists
/// (a dangling link included) and each of `dirs` that holds anything is an error of kind
/// `AlreadyExists` naming it, unless `overwrite` (the CLI's `--overwrite`, Python's
/// `overwrite=True`), as astropy's `writeto(overwrite=False)`.
pub fn refuse_to_replace(files: &[&Path], dirs: &[&Path], overwrite: bool) -> Result<()> {
    if overwrite {
        return Ok(());
    }
    let exists = |path: &Path| std::fs::symlink_metadata(path).is_ok();
    let holds_anything =
        |dir: &Path| std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some());
    let taken = files
        .iter()
        .find(|f| exists(f))
        .map(|f| (f, "already exists"))
        .or_else(|| {
            dirs.iter()
                .find(|d| holds_anything(d))
                .map(|d| (d, "already exists and is not empty"))
        });
    match taken {
        None => Ok(()),
        Some((path, what)) => Err(Error::io(
            path,
            std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!(
                    "{what}; an earlier output is not replaced unless asked (--overwrite, or \
                     overwrite=True in Python)"
                ),
            ),
        )),
    }
}

/// An error met while writing the temporary file of `dest`, told about `dest`, the file the
/// user named: `dest: cannot write it: <the cause>` (the earlier `dest`, if any, is kept).
/// Errors that are not about files pass unchanged.
pub fn while_writing(dest: &Path, error: Error) -> Error {
    let kind = match &error {
        Error::Io { cause, .. } => cause.kind(),
        Error::File { .. } => std::io::ErrorKind::Other,
        _ => return error,
    };
    Error::io(
        dest,
        std::io::Error::new(
            kind,
            format!("cannot write it ({error}); an earlier file of that name is kept"),
        ),
    )
}

/// Writes `text` to `path` through a temporary file beside it: the earlier file stays whole
/// until the new one is complete.
pub fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let temp = TempPath::beside(path, "tmp")?;
    std::fs::write(temp.path(), text)
        .map_err(|e| while_writing(path, Error::io(temp.path(), e)))?;
    temp.persist(path)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn existing_outputs_are_refused_unless_overwriting() {
        let dir = tempfile::tempdir().unwrap();
        let (old, new) = (dir.path().join("old.fits"), dir.path().join("new.fits"));
        std::fs::write(&old, b"yesterday").unwrap();
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        assert!(refuse_to_replace(&[&new], &[&empty], false).is_ok());
        let err = refuse_to_replace(&[&new, &old], &[], false).unwrap_err();
        let Error::Io { path, cause } = &err else {
            panic!("{err}")
        };
        assert_eq!(
            (path, cause.kind()),
            (&old, std::io::ErrorKind::AlreadyExists)
        );
        assert!(err.to_string().contains("--overwrite"), "{err}");
        let err = refuse_to_replace(&[], &[dir.path()], false).unwrap_err();
        assert!(err.to_string().contains("not empty"), "{err}");
        assert!(refuse_to_replace(&[&old], &[dir.path()], true).is_ok());
        assert_eq!(std::fs::read(&old).unwrap(), b"yesterday");
    }
}
