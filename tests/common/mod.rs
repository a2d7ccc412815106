//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod broken;
pub mod dr19;
pub mod mc;
pub mod run;
pub mod synth;
pub mod training_sets;

use std::path::PathBuf;

/// The reference fixtures directory: `tests/fixtures`, which ships with the repository (see
/// its `PROVENANCE.md`), or `ASTRONN_FIXTURES`. A missing fixture is a failure, never a skip:
/// the parity tests are the proof of the numbers.
pub fn fixtures() -> PathBuf {
    let dir = std::env::var_os("ASTRONN_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"));
    assert!(
        dir.join("manifest.json").is_file(),
        "the reference fixtures are missing at {} (they ship in tests/fixtures; \
         ASTRONN_FIXTURES names another copy)",
        dir.display()
    );
    dir
}

/// The names of the entries of `dir`, sorted.
pub fn dir_entries(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A file under `tests/data`.
pub fn test_data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// An `@list` file in `dir` naming `copies` × the two apStar files of `tests/data`, each
/// symlinked into a numbered directory (so it keeps its name), in order; with `unreadable`, a
/// file that exists but is not FITS (a NO_RESULT row) follows copy `copies / 2`. Returns the
/// list's path.
pub fn symlinked_inputs(dir: &std::path::Path, copies: usize, unreadable: bool) -> PathBuf {
    let mut lines = Vec::new();
    for copy in 0..copies {
        let sub = dir.join(format!("inputs/{copy:03}"));
        std::fs::create_dir_all(&sub).unwrap();
        for name in [
            "apStar-dr17-2M17335483-2753043.fits",
            "apStar-dr17-2M19485057+5005279.fits",
        ] {
            std::os::unix::fs::symlink(test_data(name), sub.join(name)).unwrap();
            lines.push(sub.join(name).display().to_string());
        }
        if unreadable && copy == copies / 2 {
            let garbage = dir.join("inputs/apStar-dr17-unreadable.fits");
            std::fs::write(&garbage, "not a FITS file\n").unwrap();
            lines.push(garbage.display().to_string());
        }
    }
    let list = dir.join("inputs.txt");
    std::fs::write(&list, lines.join("\n") + "\n").unwrap();
    list
}

/// The fixtures' network inputs and manifest.
pub struct Reference {
    /// `inputs_norm_flux.npy`: 12 normalized spectra of 7514 pixels, row-major.
    pub inputs: Vec<f64>,
    /// `manifest.json`.
    pub manifest: serde_json::Value,
    /// The fixtures directory.
    pub dir: PathBuf,
}

impl Reference {
    /// Loads the reference.
    pub fn load() -> Reference {
        let dir = fixtures();
        let manifest =
            serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap())
                .unwrap();
        let inputs = astronn::io::npy::NpyArray::read(&dir.join("inputs_norm_flux.npy"))
            .unwrap()
            .data;
        Reference {
            inputs,
            manifest,
            dir,
        }
    }

    /// A fixture array's values.
    pub fn array(&self, name: &str) -> Vec<f64> {
        astronn::io::npy::NpyArray::read(&self.dir.join(name))
            .unwrap()
            .data
    }
}
