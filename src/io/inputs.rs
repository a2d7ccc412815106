//! Expanding command-line inputs into the list of spectrum files to process.
//!
//! An input is a file, a directory (its `apStar*` files, sorted by name, not recursive) or
//! `@list.txt`, a text file with one path per line (blank lines and `#` comments skipped;
//! relative paths are relative to the list's directory; entries may be directories).

use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// Expands `inputs` into files, in order. A path that does not exist is kept (reading it
/// later yields a NO_RESULT row naming it), but an unreadable directory or list is an error.
pub fn expand_inputs(inputs: &[String]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        match input.strip_prefix('@') {
            Some(list) => expand_list(Path::new(list), &mut files)?,
            None => expand_path(PathBuf::from(input), &mut files)?,
        }
    }
    Ok(files)
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
    for line in text.lines() {
        let entry = line.trim();
        if entry.is_empty() || entry.starts_with('#') {
            continue;
        }
        expand_path(base.join(entry), files)?;
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
            "# survey subset\nmore/apStar-c.fits\n\n  missing.fits  \nmore\n",
        )
        .unwrap();

        let inputs = vec![
            root.display().to_string(),
            format!("@{}", root.join("list.txt").display()),
            root.join("notes.txt").display().to_string(),
        ];
        let files = expand_inputs(&inputs).unwrap();
        let expected = vec![
            root.join("apStar-a.fits.gz"),
            root.join("apStar-b.fits"),
            root.join("more/apStar-c.fits"),
            root.join("missing.fits"),
            root.join("more/apStar-c.fits"),
            root.join("notes.txt"),
        ];
        assert_eq!(files, expected);
    }

    #[test]
    fn missing_list_is_an_error_naming_it() {
        let err = expand_inputs(&["@/nonexistent/list.txt".to_string()]).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/list.txt"));
    }
}
