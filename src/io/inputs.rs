//! Expanding command-line inputs into the list of spectrum files to process.
//!
//! An input is a file, a directory (its `apStar*` files, sorted by name, not recursive) or
//! `@list.txt`, a text file with one path per line (blank lines and `#` comments skipped;
//! relative paths are relative to the list's directory; entries may be directories).
//!
//! An input that does not exist (a dangling symbolic link included), given directly or in a
//! list, is an error before any work: a typo must not pass for a NO_RESULT row. A file that
//! exists but cannot be read is kept; reading it later yields a NO_RESULT row naming it.
//! A file named more than once is read once.

use crate::{Error, Result};
use std::collections::HashMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// The files that inputs name, each once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InputFiles {
    /// The files, in the order first named.
    pub files: Vec<PathBuf>,
    /// Each later naming of a file already in `files` (by its absolute path without `.`
    /// components: the same file through a directory and a list, or with a `./`), with the
    /// name it was first given. Links to one file under other names are separate inputs, as
    /// they are named (CFITSIO, too, tells open files apart by name).
    pub repeated: Vec<(PathBuf, PathBuf)>,
}

impl InputFiles {
    /// One line per repeated file, saying it is read once.
    pub fn notes(&self) -> Vec<String> {
        self.repeated
            .iter()
            .map(|(again, first)| {
                format!(
                    "{} is the file {} again: it is read once",
                    again.display(),
                    first.display()
                )
            })
            .collect()
    }
}

/// Expands `inputs` into files, in order, each path once (see [`InputFiles`]: a file read
/// twice would be two rows of one spectrum, and two threads sharing CFITSIO's handle of it).
/// A path that does not exist is an [`Error::Io`] of kind `NotFound` naming it (for a list
/// entry, the list and its line too); so is an unreadable directory or list. A file that
/// exists but cannot be read is kept (reading it later yields a NO_RESULT row naming it).
pub fn expand_inputs(inputs: &[String]) -> Result<InputFiles> {
    let files = expand_in_order(inputs)?;
    let mut first_names: HashMap<PathBuf, usize> = HashMap::with_capacity(files.len());
    let mut once = InputFiles::default();
    for path in files {
        let identity = same_path_key(&path);
        match first_names.get(&identity) {
            Some(&index) => once.repeated.push((path, once.files[index].clone())),
            None => {
                first_names.insert(identity, once.files.len());
                once.files.push(path);
            }
        }
    }
    Ok(once)
}

/// `path` made absolute (against the working directory) without `.` components or repeated
/// separators: one key for every spelling of one path, symbolic links not followed.
fn same_path_key(path: &Path) -> PathBuf {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .components()
        .collect()
}

/// Expands `inputs` into files, in order, as named.
fn expand_in_order(inputs: &[String]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        match input.strip_prefix('@') {
            Some(list) => expand_list(Path::new(list), &mut files)?,
            None => {
                let path = PathBuf::from(input);
                check_exists(&path).map_err(|e| Error::io(&path, e))?;
                expand_path(path, &mut files)?;
            }
        }
    }
    Ok(files)
}

/// Fails when `path` does not exist: the operating system's error for a missing path (or a
/// path through a file), with the link's target added for a dangling symbolic link. Other
/// failures to look at it (permissions) pass: reading the file will say why it cannot.
fn check_exists(path: &Path) -> std::io::Result<()> {
    let cause = match std::fs::metadata(path) {
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => e,
        _ => return Ok(()),
    };
    match std::fs::read_link(path) {
        Ok(target) => Err(std::io::Error::new(
            cause.kind(),
            format!(
                "{cause}: a symbolic link to {}, which does not exist",
                target.display()
            ),
        )),
        Err(_) => Err(cause),
    }
}

fn expand_path(path: PathBuf, files: &mut Vec<PathBuf>) -> Result<()> {
    if path.is_dir() {
        files.extend(apstar_files_in(&path)?);
    } else {
        files.push(path);
    }
    Ok(())
}

fn expand_list(list: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    let text = std::fs::read_to_string(list).map_err(|e| Error::io(list, e))?;
    let base = list.parent().unwrap_or(Path::new(""));
    for (index, line) in text.lines().enumerate() {
        let entry = line.trim();
        if entry.is_empty() || entry.starts_with('#') {
            continue;
        }
        let path = base.join(entry);
        check_exists(&path).map_err(|e| {
            let at = format!("line {}: {entry}: {e}", index + 1);
            Error::io(list, std::io::Error::new(e.kind(), at))
        })?;
        expand_path(path, files)?;
    }
    Ok(())
}

/// The `apStar*` files of a directory, sorted by name.
fn apstar_files_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let is_apstar = entry.file_name().to_string_lossy().starts_with("apStar");
        if is_apstar && entry.path().is_file() {
            found.push(entry.path());
        }
    }
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn expands_directories_lists_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for name in [
            "apStar-b.fits",
            "apStar-a.fits.gz",
            "notes.txt",
            "apVisit-x.fits",
        ] {
            std::fs::write(root.join(name), b"x").unwrap();
        }
        std::fs::create_dir(root.join("apStar-subdir")).unwrap();
        let sub = root.join("more");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("apStar-c.fits"), b"x").unwrap();
        std::fs::write(
            root.join("list.txt"),
            "# survey subset\nmore/apStar-c.fits\n\n  apStar-b.fits  \nmore\n",
        )
        .unwrap();

        let inputs = vec![
            root.display().to_string(),
            format!("@{}", root.join("list.txt").display()),
            root.join("notes.txt").display().to_string(),
        ];
        let expanded = expand_inputs(&inputs).unwrap();
        let expected = vec![
            root.join("apStar-a.fits.gz"),
            root.join("apStar-b.fits"),
            root.join("more/apStar-c.fits"),
            root.join("notes.txt"),
        ];
        assert_eq!(expanded.files, expected);
        // The list names b again, and c a second time through its directory.
        let again = [root.join("apStar-b.fits"), root.join("more/apStar-c.fits")];
        assert_eq!(
            expanded.repeated,
            [
                (again[0].clone(), expected[1].clone()),
                (again[1].clone(), expected[2].clone())
            ]
        );
        assert!(expanded.notes()[0].ends_with("apStar-b.fits again: it is read once"));
    }

    #[test]
    fn a_path_spelt_twice_is_read_once_and_a_link_is_its_own_input() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("apStar-a.fits");
        std::fs::write(&file, b"x").unwrap();
        let link = dir.path().join("apStar-link.fits");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let dotted = PathBuf::from(format!("{}/.//apStar-a.fits", dir.path().display()));
        let inputs = [&file, &link, &dotted].map(|p| p.display().to_string());
        let expanded = expand_inputs(&inputs).unwrap();
        assert_eq!(expanded.files, [file.clone(), link]);
        assert_eq!(expanded.repeated, [(dotted, file)]);
    }

    #[test]
    fn missing_list_is_an_error_naming_it() {
        let err = expand_inputs(&["@/nonexistent/list.txt".to_string()]).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/list.txt"));
    }

    /// The kind of an I/O error (what Python maps to `FileNotFoundError`).
    fn io_kind(err: &Error) -> ErrorKind {
        match err {
            Error::Io { cause, .. } => cause.kind(),
            other => panic!("not an I/O error: {other}"),
        }
    }

    #[test]
    fn a_missing_path_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("apStar-good.fits");
        std::fs::write(&good, b"x").unwrap();
        let typo = dir.path().join("apStar-typo.fits");
        let inputs = [good.display().to_string(), typo.display().to_string()];
        let err = expand_inputs(&inputs).unwrap_err();
        assert_eq!(io_kind(&err), ErrorKind::NotFound);
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("{}: No such file or directory", typo.display())),
            "{message}"
        );

        // A missing directory, a path through a file and a dangling link do not exist either.
        let missing_dir = dir.path().join("no-such-dir/");
        let through_file = good.join("apStar-x.fits");
        let link = dir.path().join("apStar-link.fits");
        std::os::unix::fs::symlink(dir.path().join("gone.fits"), &link).unwrap();
        for path in [&missing_dir, &through_file, &link] {
            let err = expand_inputs(&[path.display().to_string()]).unwrap_err();
            assert!(
                err.to_string().starts_with(&path.display().to_string()),
                "{err}"
            );
        }
        let err = expand_inputs(&[link.display().to_string()]).unwrap_err();
        assert_eq!(io_kind(&err), ErrorKind::NotFound);
        assert!(
            err.to_string().contains("gone.fits, which does not exist"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_list_entry_is_an_error_naming_the_list_and_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("apStar-a.fits"), b"x").unwrap();
        let list = dir.path().join("inputs.txt");
        std::fs::write(&list, "# two files\napStar-a.fits\n\n  apStar-x.fits \n").unwrap();
        let err = expand_inputs(&[format!("@{}", list.display())]).unwrap_err();
        assert_eq!(io_kind(&err), ErrorKind::NotFound);
        let message = err.to_string();
        let expected = format!(
            "{}: line 4: apStar-x.fits: No such file or directory",
            list.display()
        );
        assert!(message.starts_with(&expected), "{message}");
    }

    #[test]
    fn files_that_exist_but_cannot_be_read_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("apStar-garbage.fits");
        std::fs::write(&garbage, "not a FITS file\n").unwrap();
        let locked = dir.path().join("apStar-locked.fits");
        std::fs::write(&locked, b"x").unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
        let list = dir.path().join("inputs.txt");
        std::fs::write(&list, "apStar-garbage.fits\napStar-locked.fits\n").unwrap();
        let inputs = [
            garbage.display().to_string(),
            locked.display().to_string(),
            format!("@{}", list.display()),
        ];
        let expanded = expand_inputs(&inputs).unwrap();
        assert_eq!(expanded.files, [garbage, locked]);
        assert_eq!(expanded.repeated.len(), 2);
    }
}
