//! Inputs the fuzz targets of `fuzz/` found breaking the invariant of every reader of outside
//! bytes: an error (or a NO_RESULT spectrum), never a panic, an abort, a signal or a hang
//! (docs/development.md, "Fuzzing"). Each input is in `tests/data/fuzz/<target>-<name>` and is
//! fed to the same public entry point as its fuzz target.
//!
//! Each check runs in a child process (this test binary, re-run on that one test), so that a
//! signal inside CFITSIO fails that test alone instead of the whole binary, a hang fails it
//! after [`LIMIT`] instead of stalling the run, and memory beyond [`MEMORY`] fails it instead of
//! exhausting the machine's.

use astronn::io::apstar::read_apstar;
use astronn::io::normalized::NormalizedReader;
use astronn::io::npy::NpyArray;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one input may take (its fuzz target's limit was 10 s; this leaves room for a slow,
/// shared machine and a debug build).
const LIMIT: Duration = Duration::from_secs(30);

/// The most memory one input may take (resident; its fuzz target's limit was 2 GB). The parent
/// watches the child and kills it above this, so that a file claiming a huge size cannot take
/// the machine's memory.
const MEMORY: u64 = 1 << 30;

/// The environment variable that tells a child which check to run.
const CHILD: &str = "ASTRONN_FUZZ_REGRESSION_CHILD";

/// A regression input.
fn input(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fuzz")
        .join(name);
    assert!(
        path.is_file(),
        "missing regression input {}",
        path.display()
    );
    path
}

/// A copy of `name` under `dir` named `file` (the readers that tell formats by name, e.g. a
/// `.fits` file for CFITSIO).
fn copy_as(name: &str, dir: &Path, file: &str) -> PathBuf {
    let path = dir.join(file);
    std::fs::copy(input(name), &path).unwrap();
    path
}

/// Runs `check` in a child process when this is the parent (the test `test`), directly when
/// this is that child; the parent fails with how the child ended when it did not succeed in
/// time.
fn isolated(test: &str, check: fn()) {
    if std::env::var(CHILD).as_deref() == Ok(test) {
        check();
        return;
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, test)
        .env("RUST_BACKTRACE", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{test}: still running after {LIMIT:?} (a hang)");
        }
        let rss = resident_bytes(child.id());
        if rss > MEMORY {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{test}: the child held {} MB of memory, over the {} MB limit (a size read \
                 from the file was allocated without a bound)",
                rss >> 20,
                MEMORY >> 20
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        use std::io::Read;
        let _ = pipe.read_to_string(&mut stderr);
    }
    assert!(
        status.success(),
        "{test}: the child {} (it must return an error, not panic, abort or take a \
         signal):\n{stderr}",
        describe(status)
    );
}

/// The resident memory of process `pid` (`VmRSS`), 0 when it cannot be read (it ended).
fn resident_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb << 10)
        })
        .unwrap_or(0)
}

/// How a child process ended.
fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status.signal() {
        Some(4) => "was killed by SIGILL".into(),
        Some(6) => {
            "aborted (SIGABRT: a panic in a fuzz-like build, or an allocation failure)".into()
        }
        Some(7) => "was killed by SIGBUS".into(),
        Some(8) => "was killed by SIGFPE (an arithmetic exception)".into(),
        Some(9) => "was killed by SIGKILL (out of memory?)".into(),
        Some(11) => "was killed by SIGSEGV (a memory fault)".into(),
        Some(signal) => format!("was killed by signal {signal}"),
        None => format!("exited with {status} (a panic)"),
    }
}

// --- the entry points of the fuzz targets ------------------------------------------------------

/// `fuzz/fuzz_targets/npy.rs`: the input must be refused.
fn npy_refused(name: &str) {
    let bytes = std::fs::read(input(name)).unwrap();
    let parsed = NpyArray::parse(&bytes);
    assert!(
        parsed.is_err(),
        "{name}: parsed as {:?}",
        parsed.map(|a| a.shape)
    );
}

/// `fuzz/fuzz_targets/normalized.rs`: opening and reading the file returns (an error or data).
fn normalized_returns(name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = copy_as(name, dir.path(), "normalized.fits");
    let Ok(mut reader) = NormalizedReader::open(&path) else {
        return;
    };
    let count = reader.len().min(4);
    let _ = reader.read_meta(0, count);
    let _ = reader.read_flux(0, count);
    if reader.has_e_flux() {
        let _ = reader.read_e_flux(0, count);
    }
    let _ = reader.read_all_meta();
}

/// `fuzz/fuzz_targets/apstar.rs`: the damaged file must be refused (an error naming it).
fn apstar_refused(name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = copy_as(name, dir.path(), "apStar-fuzz.fits");
    let read = read_apstar(&path, true);
    assert!(
        read.is_err(),
        "{name}: read as {} spectra",
        read.unwrap().spectra.len()
    );
    let _ = astronn::io::apstar::read_apstar_row(&path, 1);
}

/// `fuzz/fuzz_targets/catalogs.rs`: every catalog reader on the file returns.
fn catalogs_return(name: &str) {
    use astronn::io::labels::{FakemagCatalog, LabelCatalog, LabelColumns};
    use astronn::io::photometry::{PhotometryCatalog, PhotometryColumns};
    use astronn::pipeline::catalogs::StarCatalogs;
    use astronn::train::selection::Selection;
    let dir = tempfile::tempdir().unwrap();
    let path = copy_as(name, dir.path(), "catalog.fits");
    let _ = StarCatalogs::load_sources(&path, "sdss4_apogee_id");
    let _ = StarCatalogs::load_gaia(&path, "source_id");
    let allstar = PhotometryColumns {
        id: "APOGEE_ID".into(),
        k_mag: "K".into(),
        ebv: "SFD_EBV".into(),
    };
    for columns in [PhotometryColumns::default(), allstar] {
        let _ = PhotometryCatalog::load(&path, &columns);
    }
    let columns = LabelColumns::default();
    let _ = LabelCatalog::load(&path, &astronn::nn::censored::LABELS, &columns);
    let _ = FakemagCatalog::load(&path, &columns);
    let _ = astronn::io::catalog::column_names(&path, "catalog");
    for preset in ["dr19-astronn", "dr19-dist"] {
        let _ = Selection::preset(preset).unwrap().apply(&path, "APOGEE_ID");
    }
}

/// `fuzz/fuzz_targets/merge.rs`: the file merged on its own as a shard must be refused, and
/// nothing written.
fn merge_refused(name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let shard = copy_as(name, dir.path(), "shard.fits");
    let output = dir.path().join("merged.fits");
    let merged = astronn::pipeline::merge::merge_shards(&[shard], &output, false);
    assert!(merged.is_err(), "{name}: merged as {merged:?}");
    assert!(
        !output.exists(),
        "{name}: the refused merge wrote {}",
        output.display()
    );
}

// --- the regressions ---------------------------------------------------------------------------

/// A `.npy` header whose shape's element count overflows (2316949071519244944 × 14746484073709):
/// `NpyArray::parse` multiplied the axes unchecked (src/io/npy.rs, "attempt to multiply with
/// overflow"; in a release build the product wraps). Found by the npy target, as issue 33's
/// shape (9223372036854775809, 2) reproduced.
#[test]
fn npy_shape_whose_element_count_overflows() {
    isolated("npy_shape_whose_element_count_overflows", || {
        npy_refused("npy-shape-overflow")
    });
}

/// A normalized file whose SPECTRA table has a string column `TFORM23 = '6A     0'`: CFITSIO
/// reads it as `rAw` with a width of 0 and divides by it (`repeat / twidth` in `ffgcprll`):
/// SIGFPE while `read_meta` reads the column (src/io/fits.rs `read_strings`). The same
/// division as issue 33's `TFORM = '0A'`. Found by the normalized target.
#[test]
fn normalized_string_column_of_zero_width() {
    isolated("normalized_string_column_of_zero_width", || {
        normalized_returns("normalized-tform-zero-width")
    });
}

/// An apStar file whose HDU 3 has `GCOUNT = -1` (and `NAXIS1 = 1000`): its data size is
/// negative, CFITSIO places the next HDU before it, and `check_structure` (src/io/apstar.rs)
/// walks HDUs 4, 5, 6, … forever, each one a header it has already read (a hang in
/// `read_apstar`, in `try_move_to_hdu`). Found by the apstar target (with the FITS-aware
/// mutation of fuzz/src/lib.rs).
#[test]
fn apstar_hdu_with_negative_gcount() {
    isolated("apstar_hdu_with_negative_gcount", || {
        apstar_refused("apstar-gcount-negative")
    });
}

/// An 11 kB FITS catalog whose first table claims `TFIELDS = 100000000`: CFITSIO allocates and
/// initialises a column structure for each of them when the table is opened (over 15 GB
/// resident within 40 s here) before anything checks the count against the FITS limit of 999
/// or against the header's length. Found by the catalogs target (FITS-aware mutation).
#[test]
fn catalog_table_claiming_a_hundred_million_columns() {
    isolated("catalog_table_claiming_a_hundred_million_columns", || {
        catalogs_return("catalogs-tfields-100000000")
    });
}

/// A shard whose table claims `NAXIS1 = 9223372036854775807` (bytes per row): rounding its
/// data size up to whole 2880-byte blocks overflows (src/io/fits_stream.rs `padded`, "attempt
/// to multiply with overflow"; in a release build it wraps and the stream is misread). Found
/// by the merge target.
#[test]
fn merge_shard_whose_padded_data_size_overflows() {
    isolated("merge_shard_whose_padded_data_size_overflows", || {
        merge_refused("merge-padded-size-overflow")
    });
}

/// A shard whose image has `PCOUNT = 4611686018427387904` (2^62): `bits / 8 * gcount *
/// (pcount + cells)` overflows (src/io/fits_stream.rs `RawHeader::data_bytes`). Issue 33's
/// "fits_stream arithmetic wraps". Found by the merge target.
#[test]
fn merge_shard_whose_data_size_overflows() {
    isolated("merge_shard_whose_data_size_overflows", || {
        merge_refused("merge-data-size-overflow")
    });
}

/// A shard (a `normalize` output) whose primary header says `NSHARDS = 1000000000000`: the
/// merge makes a slot per shard before it finds the others missing, "memory allocation of
/// 64000000000000 bytes failed" (an abort; src/pipeline/merge.rs `check_complete`). Issue
/// 33's "merge with NSHARDS = 10^18". Found by the merge target.
#[test]
fn merge_shard_claiming_a_trillion_shards() {
    isolated("merge_shard_claiming_a_trillion_shards", || {
        merge_refused("merge-nshards-10e12")
    });
}

/// A normalized file whose FLUX image claims `NAXIS2 = 4611686018427387904` (2^62) spectra in
/// 12 kB: `read_all_meta` makes room for every one of them, "capacity overflow"
/// (src/io/spectrum_meta.rs `metas_from_columns`). The rows a header claims are not checked
/// against the file's length (issue 33's catalog with NAXIS2 = 2^62, here in the normalized
/// reader). Found by the normalized target.
#[test]
fn normalized_file_claiming_two_to_the_62_spectra() {
    isolated("normalized_file_claiming_two_to_the_62_spectra", || {
        normalized_returns("normalized-spectra-rows-capacity-overflow")
    });
}

/// The same with `NAXIS2 = 100000000` in 9 kB: the allocation succeeds and is filled (over
/// 2 GB resident) instead of the file being refused. Found by the normalized target.
#[test]
fn normalized_file_claiming_a_hundred_million_spectra() {
    isolated("normalized_file_claiming_a_hundred_million_spectra", || {
        normalized_returns("normalized-flux-naxis2-100000000")
    });
}

/// A normalized file whose FLUX image has `GCOUNT = 9223372036854775807` and `PCOUNT = 1000`:
/// CFITSIO's data size overflows and `NormalizedReader::open` never returns, CFITSIO looking
/// for the SPECTRA table (`ffmnhd`, from src/io/normalized.rs `image_rows` through
/// `move_to_named`) through an endless walk of HDUs. Found by the normalized target.
#[test]
fn normalized_file_with_an_endless_walk_of_hdus() {
    isolated("normalized_file_with_an_endless_walk_of_hdus", || {
        normalized_returns("normalized-endless-hdu-walk")
    });
}
