//! What the fuzz targets share: a per-process scratch directory for the parsers that read
//! files (CFITSIO, the catalogs, model folders), and splitting one input into several files.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The directory this process writes its inputs to: `$ASTRONN_FUZZ_TMP/<pid>` when
/// `scripts/fuzz` sets it (it removes the whole tree afterwards), else
/// `/dev/shm/astronn-fuzz-<pid>` (memory, not disk, where the machine has it) or the same under
/// the system's temporary directory.
pub fn scratch_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let pid = std::process::id();
        let dir = match std::env::var_os("ASTRONN_FUZZ_TMP") {
            Some(root) => PathBuf::from(root).join(pid.to_string()),
            None => {
                let shm = Path::new("/dev/shm");
                let root = if shm.is_dir() {
                    shm.to_path_buf()
                } else {
                    std::env::temp_dir()
                };
                root.join(format!("astronn-fuzz-{pid}"))
            }
        };
        std::fs::create_dir_all(&dir).expect("cannot create the fuzz scratch directory");
        dir
    })
}

/// Writes `bytes` to the file `name` in [`scratch_dir`] (replacing it) and returns its path.
pub fn write_input(name: &str, bytes: &[u8]) -> PathBuf {
    let path = scratch_dir().join(name);
    std::fs::write(&path, bytes).expect("cannot write the fuzz input file");
    path
}

/// A fresh, empty directory `name` in [`scratch_dir`] (for inputs that are folders).
pub fn fresh_dir(name: &str) -> PathBuf {
    let dir = scratch_dir().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("cannot create a fuzz input directory");
    dir
}

/// The line that separates the parts of a multi-file input (the astroNN folder target:
/// parameter JSON, then the weights file).
pub const SEPARATOR: &[u8] = b"\n==astronn-fuzz-next-file==\n";

/// `data` cut at the first [`SEPARATOR`]: (before, after); no separator: (all, empty).
pub fn split_once(data: &[u8]) -> (&[u8], &[u8]) {
    match data.windows(SEPARATOR.len()).position(|w| w == SEPARATOR) {
        Some(at) => (&data[..at], &data[at + SEPARATOR.len()..]),
        None => (data, &[]),
    }
}

/// Numbers that sit on a boundary: of counts, of integer types, of FITS's limits.
const BOUNDARY_NUMBERS: [&str; 26] = [
    "0",
    "1",
    "2",
    "3",
    "9",
    "10",
    "99",
    "100",
    "999",
    "1000",
    "8575",
    "32767",
    "65536",
    "2147483647",
    "2147483648",
    "4294967296",
    "100000000",
    "1000000000000",
    "4611686018427387904",
    "9223372036854775807",
    "18446744073709551615",
    "-1",
    "-2147483648",
    "-9223372036854775808",
    "1E300",
    "NaN",
];

/// FITS binary-table column types (the letter of a TFORM).
const TFORM_TYPES: &[u8] = b"AEDJKIBLXPQ";

/// A FITS-aware mutation for the targets that read FITS files: half of the time libFuzzer's
/// own (bytes), otherwise one header card (a `KEYWORD = value` record on an 80-byte boundary)
/// gets a boundary number as its value, in place, so the file keeps its layout: right-aligned
/// in the fixed-format field for a number, `'<number><type>'` for a quoted value (TFORMs).
/// Byte mutations alone seldom turn `NAXIS2 = 2` into a ten-digit count without breaking the
/// structure that the readers check first.
pub fn mutate_fits(data: &mut [u8], size: usize, max_size: usize, seed: u32) -> usize {
    let mut state = u64::from(seed) | 1;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    if next() % 2 == 0 {
        return libfuzzer_sys::fuzzer_mutate(data, size, max_size);
    }
    let cards: Vec<usize> = (0..size / 80)
        .map(|i| i * 80)
        .filter(|&at| &data[at + 8..at + 10] == b"= " && data[at].is_ascii_uppercase())
        .collect();
    if cards.is_empty() {
        return libfuzzer_sys::fuzzer_mutate(data, size, max_size);
    }
    let at = cards[next() as usize % cards.len()];
    let number = BOUNDARY_NUMBERS[next() as usize % BOUNDARY_NUMBERS.len()];
    let value = if data[at + 10..at + 30].contains(&b'\'') {
        let kind = TFORM_TYPES[next() as usize % TFORM_TYPES.len()] as char;
        format!(
            "'{:<8}'",
            format!("{}{kind}", number.trim_start_matches('-'))
        )
    } else {
        format!("{number:>20}")
    };
    let field = &mut data[at + 10..at + 80];
    field.fill(b' ');
    field[..value.len()].copy_from_slice(value.as_bytes());
    size
}
