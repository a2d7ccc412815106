//! Running the `astronn` binary and reading the tables it writes.

use astronn::io::columns::ColumnData;
use astronn::io::table::{read_table, Table};
use std::path::Path;
use std::process::{Command, Output};

/// Runs the binary with `args`.
pub fn astronn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_astronn"))
        .args(args)
        .output()
        .expect("the astronn binary runs")
}

/// Runs the binary and asserts that it succeeded.
pub fn succeed(args: &[&str]) -> Output {
    let out = astronn(args);
    assert!(
        out.status.success(),
        "astronn {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// What a run printed on stderr.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A path as an argument.
pub fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The `APOGEE` table of an output.
pub fn apogee(path: &Path) -> Table {
    read_table(path, "APOGEE").unwrap()
}

/// A float column (float32 columns widened exactly).
pub fn floats(table: &Table, name: &str) -> Vec<f64> {
    match table.column(name) {
        Some(ColumnData::F64(v)) => v.clone(),
        Some(ColumnData::F32(v)) => v.iter().map(|&x| f64::from(x)).collect(),
        other => panic!("column {name}: {other:?}"),
    }
}

/// An integer column.
pub fn ints(table: &Table, name: &str) -> Vec<i64> {
    match table.column(name) {
        Some(ColumnData::I32(v)) => v.iter().map(|&x| x as i64).collect(),
        Some(ColumnData::I64(v)) => v.clone(),
        Some(ColumnData::I16(v)) => v.iter().map(|&x| x as i64).collect(),
        other => panic!("column {name}: {other:?}"),
    }
}

/// A string column.
pub fn strings(table: &Table, name: &str) -> Vec<String> {
    match table.column(name) {
        Some(ColumnData::Str(v)) => v.clone(),
        other => panic!("column {name}: {other:?}"),
    }
}

/// A logical column.
pub fn bools(table: &Table, name: &str) -> Vec<bool> {
    match table.column(name) {
        Some(ColumnData::Bool(v)) => v.clone(),
        other => panic!("column {name}: {other:?}"),
    }
}

/// The result-table columns that measure time (they differ between any two runs).
pub const RUN_COLUMNS: [&str; 3] = ["created", "t_elapsed", "t_overhead"];

/// A table's columns other than the timing ones, floats as bit patterns (NaN equals NaN).
pub fn comparable_table(path: &Path, hdu: &str) -> Vec<(String, Vec<u64>, Vec<String>)> {
    read_table(path, hdu)
        .unwrap()
        .columns
        .into_iter()
        .filter(|(name, _)| !RUN_COLUMNS.contains(&name.as_str()))
        .map(|(name, data)| match data {
            ColumnData::F32(v) => (
                name,
                v.iter().map(|x| u64::from(x.to_bits())).collect(),
                vec![],
            ),
            ColumnData::F64(v) => (name, v.iter().map(|x| x.to_bits()).collect(), vec![]),
            other => (name, vec![], vec![format!("{other:?}")]),
        })
        .collect()
}
