//! Astra-style output tables (SPEC §8) and normalized-spectrum files: round trips, streaming,
//! header cards, atomic completion and broken inputs.

mod common;

use astronn::io::columns::{ColumnData, ColumnKind, ColumnSpec};
use astronn::io::fields::{Fields, Value};
use astronn::io::header_card::{CardValue, HeaderCard};
use astronn::io::normalized::{NormalizedReader, NormalizedWriter, SpectrumMeta};
use astronn::io::table::{read_primary_cards, read_table, AstraTableWriter};
use common::dir_entries;
use fitsio::FitsFile;
use std::path::Path;

const NPIX: usize = 7514;

fn columns() -> Vec<ColumnSpec> {
    vec![
        ColumnSpec {
            name: "teff".into(),
            kind: ColumnKind::F64,
            unit: Some("K".into()),
            description: Some("Effective temperature".into()),
        },
        ColumnSpec::new("e_teff", ColumnKind::F32),
        ColumnSpec::new("small", ColumnKind::I16),
        ColumnSpec::new("result_flags", ColumnKind::I32),
        ColumnSpec::new("row", ColumnKind::I64),
        ColumnSpec::new("flag_bad", ColumnKind::Bool),
        ColumnSpec::new("sdss4_apogee_id", ColumnKind::Str { width: 18 }),
    ]
}

/// Rows `start .. start + n` of a deterministic batch (with NaNs and extremes).
fn batch(start: usize, n: usize) -> Vec<ColumnData> {
    let idx: Vec<usize> = (start..start + n).collect();
    vec![
        ColumnData::F64(
            idx.iter()
                .map(|&i| {
                    if i % 7 == 3 {
                        f64::NAN
                    } else {
                        4000.0 + i as f64 * 0.125
                    }
                })
                .collect(),
        ),
        ColumnData::F32(
            idx.iter()
                .map(|&i| if i % 5 == 1 { f32::NAN } else { i as f32 * 0.5 })
                .collect(),
        ),
        ColumnData::I16(idx.iter().map(|&i| (i as i16).wrapping_mul(-3)).collect()),
        ColumnData::I32(
            idx.iter()
                .map(|&i| if i == 0 { i32::MIN } else { i as i32 })
                .collect(),
        ),
        ColumnData::I64(
            idx.iter()
                .map(|&i| {
                    if i == 1 {
                        i64::MAX
                    } else {
                        i as i64 * 1_000_000_007
                    }
                })
                .collect(),
        ),
        ColumnData::Bool(idx.iter().map(|&i| i % 3 == 0).collect()),
        ColumnData::Str(
            idx.iter()
                .map(|&i| {
                    if i % 4 == 0 {
                        String::new()
                    } else {
                        format!("2M{i:016}")
                    }
                })
                .collect(),
        ),
    ]
}

/// Concatenates batches column-wise.
fn concat(parts: &[Vec<ColumnData>]) -> Vec<ColumnData> {
    let mut out = parts[0].clone();
    for part in &parts[1..] {
        for (o, p) in out.iter_mut().zip(part) {
            match (o, p) {
                (ColumnData::F64(a), ColumnData::F64(b)) => a.extend(b),
                (ColumnData::F32(a), ColumnData::F32(b)) => a.extend(b),
                (ColumnData::I16(a), ColumnData::I16(b)) => a.extend(b),
                (ColumnData::I32(a), ColumnData::I32(b)) => a.extend(b),
                (ColumnData::I64(a), ColumnData::I64(b)) => a.extend(b),
                (ColumnData::Bool(a), ColumnData::Bool(b)) => a.extend(b),
                (ColumnData::Str(a), ColumnData::Str(b)) => a.extend(b.iter().cloned()),
                _ => panic!("mismatched kinds"),
            }
        }
    }
    out
}

/// Column equality with NaN equal to NaN.
fn assert_same_column(name: &str, a: &ColumnData, b: &ColumnData) {
    match (a, b) {
        (ColumnData::F64(x), ColumnData::F64(y)) => {
            assert_eq!(x.len(), y.len(), "{name}");
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                assert!(
                    p == q || (p.is_nan() && q.is_nan()),
                    "{name}[{i}]: {p} vs {q}"
                );
            }
        }
        (ColumnData::F32(x), ColumnData::F32(y)) => {
            assert_eq!(x.len(), y.len(), "{name}");
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                assert!(
                    p == q || (p.is_nan() && q.is_nan()),
                    "{name}[{i}]: {p} vs {q}"
                );
            }
        }
        _ => assert_eq!(a, b, "{name}"),
    }
}

fn hdu_names(path: &Path) -> Vec<String> {
    let mut f = FitsFile::open(path).unwrap();
    let n = f.num_hdus().unwrap();
    (0..n)
        .map(|i| {
            let hdu = f.hdu(i).unwrap();
            if i == 0 {
                "PRIMARY".to_string()
            } else {
                hdu.read_key::<String>(&mut f, "EXTNAME").unwrap()
            }
        })
        .collect()
}

#[test]
fn round_trip_every_kind_over_several_appends() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("astraAllStarAstroNN.fits");
    let long_command = format!(
        "astronn predict --model /very/long/path/{} --output {}",
        "x".repeat(150),
        path.display()
    );
    let primary = vec![
        HeaderCard::new(
            "PIPELINE",
            CardValue::Str("AstroNN".into()),
            "pipeline name",
        ),
        HeaderCard::new(
            "COMMAND",
            CardValue::Str(long_command.clone()),
            "command line",
        ),
        HeaderCard::new("MCSAMP", CardValue::I64(100), "MC dropout samples"),
        HeaderCard::new("DROPOUT", CardValue::F64(0.3), "dropout rate"),
        HeaderCard::new("PI", CardValue::F64(std::f64::consts::PI), ""),
        HeaderCard::new("NANVAL", CardValue::F64(f64::NAN), "undefined"),
        HeaderCard::new("DETERM", CardValue::Bool(false), "deterministic pass"),
        HeaderCard::new("QUOTE", CardValue::Str("it's".into()), ""),
        HeaderCard::new("COMMENT", CardValue::Str("written by the tests".into()), ""),
    ];
    let mut writer = AstraTableWriter::create(&path, columns(), &primary).unwrap();
    assert!(!path.exists(), "the destination appears only at finish");
    let parts = vec![batch(0, 10), batch(10, 0), batch(10, 1), batch(11, 250)];
    for part in &parts {
        writer.append(part).unwrap();
    }
    assert_eq!(writer.rows(), 261);
    writer
        .finish(&[HeaderCard::new(
            "T_ELAPSE",
            CardValue::F64(12.5),
            "elapsed seconds",
        )])
        .unwrap();

    // Only the table remains in the directory.
    assert_eq!(dir_entries(dir.path()), ["astraAllStarAstroNN.fits"]);
    assert_eq!(hdu_names(&path), ["PRIMARY", "BOSS", "APOGEE"]);

    // BOSS: the same columns, no rows.
    let boss = read_table(&path, "BOSS").unwrap();
    assert_eq!(boss.columns.len(), 7);
    assert!(boss.columns.iter().all(|(_, data)| data.is_empty()));

    let table = read_table(&path, "APOGEE").unwrap();
    let expected = concat(&parts);
    let names: Vec<&str> = table.columns.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "teff",
            "e_teff",
            "small",
            "result_flags",
            "row",
            "flag_bad",
            "sdss4_apogee_id"
        ]
    );
    assert_eq!(table.rows(), 261);
    for ((name, got), want) in table.columns.iter().zip(&expected) {
        assert_same_column(name, got, want);
    }
    // Lookup ignores case, as FITS does.
    assert!(table.column("TEFF").is_some());
    // Hdu names are matched ignoring case too.
    assert_eq!(read_table(&path, "apogee").unwrap().rows(), 261);

    // Units, descriptions and logical/float storage in the header.
    let mut f = FitsFile::open(&path).unwrap();
    let hdu = f.hdu("APOGEE").unwrap();
    assert_eq!(hdu.read_key::<String>(&mut f, "TUNIT1").unwrap(), "K");
    assert_eq!(hdu.read_key::<String>(&mut f, "TFORM6").unwrap(), "1L");
    assert_eq!(hdu.read_key::<String>(&mut f, "TFORM1").unwrap(), "1D");
    assert_eq!(hdu.read_key::<String>(&mut f, "TFORM7").unwrap(), "18A");
    let records = std::fs::read(&path).unwrap();
    let text = String::from_utf8_lossy(&records);
    assert!(text.contains("Effective temperature"));

    // Primary cards: long strings are joined back, nothing is truncated.
    let cards = read_primary_cards(&path).unwrap();
    let get = |k: &str| {
        cards
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no card {k}"))
    };
    assert_eq!(get("PIPELINE"), "AstroNN");
    assert_eq!(get("COMMAND"), long_command);
    assert_eq!(get("MCSAMP"), "100");
    assert_eq!(get("DROPOUT").parse::<f64>().unwrap(), 0.3);
    assert_eq!(get("PI").parse::<f64>().unwrap(), std::f64::consts::PI);
    assert_eq!(get("NANVAL"), "");
    assert_eq!(get("DETERM"), "F");
    assert_eq!(get("QUOTE"), "it's");
    assert_eq!(get("T_ELAPSE").parse::<f64>().unwrap(), 12.5);
    assert_eq!(get("LONGSTRN"), "OGIP 1.0");
    assert!(cards
        .iter()
        .any(|(k, v)| k == "COMMENT" && v.contains("written by the tests")));
    // The late card is in HDU 0, and the long string also reads back through fitsio.
    let primary_hdu = f.primary_hdu().unwrap();
    assert_eq!(
        primary_hdu.read_key::<f64>(&mut f, "T_ELAPSE").unwrap(),
        12.5
    );
}

#[test]
fn empty_table_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.fits");
    let writer = AstraTableWriter::create(&path, columns(), &[]).unwrap();
    writer.finish(&[]).unwrap();
    let table = read_table(&path, "APOGEE").unwrap();
    assert_eq!(table.columns.len(), 7);
    assert_eq!(table.rows(), 0);
}

#[test]
fn finish_replaces_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.fits");
    std::fs::write(&path, b"old contents").unwrap();
    let mut writer = AstraTableWriter::create(&path, columns(), &[]).unwrap();
    writer.append(&batch(0, 3)).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"old contents");
    writer.finish(&[]).unwrap();
    assert_eq!(read_table(&path, "APOGEE").unwrap().rows(), 3);
    assert_eq!(dir_entries(dir.path()), ["out.fits"]);
}

#[test]
fn drop_without_finish_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("never.fits");
    {
        let mut writer = AstraTableWriter::create(&path, columns(), &[]).unwrap();
        writer.append(&batch(0, 20)).unwrap();
        assert_eq!(
            dir_entries(dir.path()).len(),
            1,
            "the temporary file exists meanwhile"
        );
    }
    assert!(dir_entries(dir.path()).is_empty());
}

#[test]
fn unwritable_directory_fails_in_create() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no/such/dir/out.fits");
    let err = AstraTableWriter::create(&missing, columns(), &[]).unwrap_err();
    assert!(err.to_string().contains("out.fits"), "{err}");

    // A "directory" that is a regular file fails for every user, root included.
    let file = dir.path().join("plain");
    std::fs::write(&file, b"x").unwrap();
    let err = AstraTableWriter::create(&file.join("out.fits"), columns(), &[]).unwrap_err();
    assert!(err.to_string().contains("out.fits"), "{err}");
    assert_eq!(dir_entries(dir.path()), ["plain"]);

    // A read-only directory (skipped when running as root, who may write anyway).
    use std::os::unix::fs::PermissionsExt;
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    let probe = ro.join("probe");
    if std::fs::write(&probe, b"x").is_ok() {
        eprintln!("NOTICE: running with permission to write anywhere; read-only case skipped");
        std::fs::remove_file(&probe).unwrap();
    } else {
        let err = AstraTableWriter::create(&ro.join("out.fits"), columns(), &[]).unwrap_err();
        assert!(err.to_string().contains("out.fits"), "{err}");
    }
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn bad_batches_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.fits");
    let mut writer = AstraTableWriter::create(&path, columns(), &[]).unwrap();

    // A string longer than its column.
    let mut b = batch(0, 2);
    b[6] = ColumnData::Str(vec!["short".into(), "x".repeat(19)]);
    let err = writer.append(&b).unwrap_err().to_string();
    assert!(err.contains("sdss4_apogee_id"), "{err}");

    // Wrong kind, wrong count, unequal lengths.
    let mut b = batch(0, 2);
    b[0] = ColumnData::F32(vec![1.0, 2.0]);
    assert!(writer.append(&b).unwrap_err().to_string().contains("teff"));
    assert!(writer.append(&batch(0, 2)[..6]).is_err());
    let mut b = batch(0, 2);
    b[3] = ColumnData::I32(vec![1]);
    assert!(writer
        .append(&b)
        .unwrap_err()
        .to_string()
        .contains("result_flags"));
    assert_eq!(writer.rows(), 0);

    // The writer is still usable after refused batches.
    writer.append(&batch(0, 2)).unwrap();
    writer.finish(&[]).unwrap();
    assert_eq!(read_table(&path, "APOGEE").unwrap().rows(), 2);

    // Duplicate column names are refused at create.
    let mut cols = columns();
    cols.push(ColumnSpec::new("TEFF", ColumnKind::F64));
    assert!(AstraTableWriter::create(&dir.path().join("dup.fits"), cols, &[]).is_err());
}

#[test]
fn read_table_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.fits");
    let w = AstraTableWriter::create(&path, columns(), &[]).unwrap();
    w.finish(&[]).unwrap();
    let err = read_table(&path, "NOPE").unwrap_err().to_string();
    assert!(err.contains("t.fits") && err.contains("NOPE"), "{err}");
    let text = dir.path().join("text.fits");
    std::fs::write(&text, "hello\n".repeat(1000)).unwrap();
    let err = read_table(&text, "APOGEE").unwrap_err().to_string();
    assert!(err.contains("text.fits"), "{err}");
    // An image HDU is not a table.
    let star = common::test_data("apStar-dr17-2M17335483-2753043.fits");
    let mut f = FitsFile::edit({
        let copy = dir.path().join("named.fits");
        std::fs::copy(&star, &copy).unwrap();
        copy
    })
    .unwrap();
    let hdu = f.hdu(1).unwrap();
    hdu.write_key(&mut f, "EXTNAME", "FLUXIMG").unwrap();
    drop(f);
    let err = read_table(&dir.path().join("named.fits"), "FLUXIMG")
        .unwrap_err()
        .to_string();
    assert!(err.contains("image"), "{err}");
}

#[test]
fn read_table_reads_foreign_tables() {
    // The RV table (HDU 9) of a real apStar file: scalar and vector columns mixed.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("star.fits");
    std::fs::copy(
        common::test_data("apStar-dr17-2M17335483-2753043.fits"),
        &copy,
    )
    .unwrap();
    {
        let mut f = FitsFile::edit(&copy).unwrap();
        let hdu = f.hdu(9).unwrap();
        hdu.write_key(&mut f, "EXTNAME", "RVTAB").unwrap();
    }
    let table = read_table(&copy, "RVTAB").unwrap();
    assert_eq!(table.rows(), 3);
    assert!(!table.columns.is_empty());
    for (name, data) in &table.columns {
        assert_eq!(data.len(), 3, "{name}");
    }
}

fn meta(i: usize) -> SpectrumMeta {
    let mut fields = Fields::new();
    fields.set_text("sdss4_apogee_id", format!("2M{i:08}"));
    fields.set_text("telescope", "apo25m");
    fields.set_text("field", format!("field{}", i % 3));
    fields.set_f64("ra", i as f64 * 0.5);
    fields.set_f64("dec", -(i as f64) * 0.25);
    fields.set_f64("snr", 100.0 + i as f64);
    fields.set("fiber", Value::Int(i as i64 % 300));
    fields.set_f64(
        "k_mag",
        if i.is_multiple_of(7) {
            f64::NAN
        } else {
            10.0 + i as f64 * 1e-3
        },
    );
    fields.set_f64(
        "ebv",
        if i.is_multiple_of(11) {
            f64::NAN
        } else {
            0.01 * i as f64
        },
    );
    SpectrumMeta {
        source_file: format!("/data/apo25m/field{}/apStar-dr17-2M{i:08}.fits", i % 3),
        row: (i % 5) as i64,
        kind: if i.is_multiple_of(5) {
            "coadd"
        } else {
            "visit"
        }
        .into(),
        visit: if i.is_multiple_of(5) {
            0
        } else {
            (i % 5) as i64 - 1
        },
        visit_file: if i.is_multiple_of(5) {
            String::new()
        } else {
            format!("apVisit-{i}.fits")
        },
        fields,
    }
}

fn spectrum(i: usize, err: bool) -> Vec<f64> {
    (0..NPIX)
        .map(|p| {
            if !err && p == (i * 13) % NPIX {
                f64::NAN
            } else if err {
                0.01 + (i * NPIX + p) as f64 * 1e-9
            } else {
                1.0 + ((i * 31 + p) % 97) as f64 * 1e-3
            }
        })
        .collect()
}

fn same_f64s(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
}

#[test]
fn normalized_round_trip_with_chunked_reads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("normalized.fits");
    let n = 613; // several assembly chunks (256 rows), not a multiple of one
    let primary = [HeaderCard::new(
        "ASTRONN",
        CardValue::Str("0.1.0".into()),
        "writer version",
    )];
    let mut writer = NormalizedWriter::create(&path, &primary).unwrap();
    for i in 0..n {
        writer
            .append(&meta(i), &spectrum(i, false), &spectrum(i, true))
            .unwrap();
    }
    assert_eq!(writer.len(), n);
    writer.finish().unwrap();
    assert_eq!(dir_entries(dir.path()), ["normalized.fits"]);
    assert_eq!(hdu_names(&path), ["PRIMARY", "FLUX", "E_FLUX", "SPECTRA"]);

    let mut reader = NormalizedReader::open(&path).unwrap();
    assert_eq!(reader.len(), n);
    assert!(reader.has_e_flux());
    for (i, m) in reader.read_all_meta().unwrap().iter().enumerate() {
        let want = meta(i);
        assert_eq!(format!("{m:?}"), format!("{want:?}"), "meta {i}");
    }
    // Chunked reads of irregular sizes cover every row exactly.
    let mut start = 0;
    for count in [1usize, 7, 100, 256, 249].iter().cycle() {
        if start >= n {
            break;
        }
        let count = (*count).min(n - start);
        let flux = reader.read_flux(start, count).unwrap();
        let eflux = reader.read_e_flux(start, count).unwrap();
        assert_eq!(flux.len(), count * NPIX);
        for k in 0..count {
            let i = start + k;
            assert!(
                same_f64s(&flux[k * NPIX..(k + 1) * NPIX], &spectrum(i, false)),
                "flux {i}"
            );
            assert!(
                same_f64s(&eflux[k * NPIX..(k + 1) * NPIX], &spectrum(i, true)),
                "e_flux {i}"
            );
        }
        start += count;
    }
    assert!(reader.read_flux(n - 1, 2).is_err());
    assert!(reader.read_flux(n, 0).unwrap().is_empty());
    assert_eq!(
        read_primary_cards(&path)
            .unwrap()
            .iter()
            .find(|(k, _)| k == "ASTRONN")
            .map(|(_, v)| v.as_str()),
        Some("0.1.0")
    );
}

#[test]
fn normalized_empty_file_and_drop() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.fits");
    NormalizedWriter::create(&path, &[])
        .unwrap()
        .finish()
        .unwrap();
    let mut reader = NormalizedReader::open(&path).unwrap();
    assert_eq!(reader.len(), 0);
    assert!(reader.read_all_meta().unwrap().is_empty());

    let dropped = dir.path().join("dropped.fits");
    {
        let mut w = NormalizedWriter::create(&dropped, &[]).unwrap();
        w.append(&meta(0), &spectrum(0, false), &spectrum(0, true))
            .unwrap();
    }
    assert_eq!(dir_entries(dir.path()), ["empty.fits"]);

    let err = NormalizedWriter::create(&dir.path().join("no/dir/x.fits"), &[]).unwrap_err();
    assert!(err.to_string().contains("x.fits"), "{err}");

    // Wrong pixel counts are refused.
    let mut w = NormalizedWriter::create(&dropped, &[]).unwrap();
    let err = w
        .append(&meta(0), &spectrum(0, false)[..100], &spectrum(0, true))
        .unwrap_err();
    assert!(err.to_string().contains("7514"), "{err}");
}

/// Writes a FITS file with image HDUs `(extname, dims (slowest first), data)`.
fn write_images(path: &Path, images: &[(&str, Vec<usize>, Vec<f64>)]) {
    use fitsio::images::{ImageDescription, ImageType};
    let mut f = FitsFile::create(path).open().unwrap();
    for (name, dims, data) in images {
        let desc = ImageDescription {
            data_type: ImageType::Double,
            dimensions: dims,
        };
        let hdu = f.create_image(name.to_string(), &desc).unwrap();
        hdu.write_image(&mut f, data).unwrap();
    }
}

#[test]
fn normalized_reader_accepts_flux_only_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flux_only.fits");
    let data: Vec<f64> = (0..3).flat_map(|i| spectrum(i, false)).collect();
    write_images(&path, &[("FLUX", vec![3, NPIX], data.clone())]);
    let mut reader = NormalizedReader::open(&path).unwrap();
    assert_eq!(reader.len(), 3);
    assert!(!reader.has_e_flux());
    for (i, m) in reader.read_all_meta().unwrap().iter().enumerate() {
        assert_eq!(m.source_file, "flux_only.fits");
        assert_eq!(m.row, i as i64);
        assert_eq!(m.kind, "coadd");
        assert!(m.fields.is_empty());
    }
    assert!(same_f64s(&reader.read_flux(0, 3).unwrap(), &data));
    let err = reader.read_e_flux(0, 1).unwrap_err().to_string();
    assert!(
        err.contains("flux_only.fits") && err.contains("E_FLUX"),
        "{err}"
    );

    // With E_FLUX, and a single spectrum stored as a 1-D image.
    let one = dir.path().join("one.fits");
    write_images(
        &one,
        &[
            ("FLUX", vec![NPIX], spectrum(5, false)),
            ("E_FLUX", vec![NPIX], spectrum(5, true)),
        ],
    );
    let mut reader = NormalizedReader::open(&one).unwrap();
    assert_eq!(reader.len(), 1);
    assert!(same_f64s(
        &reader.read_e_flux(0, 1).unwrap(),
        &spectrum(5, true)
    ));
}

#[test]
fn normalized_reader_rejects_broken_files() {
    let dir = tempfile::tempdir().unwrap();
    let check = |path: &Path, needle: &str| {
        let err = NormalizedReader::open(path).unwrap_err().to_string();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(err.contains(&name), "{err}");
        assert!(err.contains(needle), "{err}");
    };
    // Wrong width (an apStar-length spectrum).
    let wide = dir.path().join("wide.fits");
    write_images(&wide, &[("FLUX", vec![2, 8575], vec![1.0; 2 * 8575])]);
    check(&wide, "7514");
    // No FLUX HDU at all: an apStar file.
    let star = dir.path().join("star.fits");
    std::fs::copy(
        common::test_data("apStar-dr17-2M17335483-2753043.fits"),
        &star,
    )
    .unwrap();
    check(&star, "FLUX");
    // E_FLUX of a different length.
    let mismatch = dir.path().join("mismatch.fits");
    write_images(
        &mismatch,
        &[
            ("FLUX", vec![2, NPIX], vec![1.0; 2 * NPIX]),
            ("E_FLUX", vec![3, NPIX], vec![1.0; 3 * NPIX]),
        ],
    );
    check(&mismatch, "E_FLUX");
    // Not FITS, and a truncated normalized file.
    let text = dir.path().join("text.fits");
    std::fs::write(&text, "not fits\n".repeat(500)).unwrap();
    check(&text, "FITS");
    let good = dir.path().join("good.fits");
    let mut w = NormalizedWriter::create(&good, &[]).unwrap();
    for i in 0..4 {
        w.append(&meta(i), &spectrum(i, false), &spectrum(i, true))
            .unwrap();
    }
    w.finish().unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let cut = dir.path().join("cut.fits");
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    let result = NormalizedReader::open(&cut).and_then(|mut r| r.read_flux(0, 4));
    let err = result.unwrap_err().to_string();
    assert!(err.contains("cut.fits"), "{err}");
}

#[test]
fn many_rows_stream_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.fits");
    let mut writer = AstraTableWriter::create(&path, columns(), &[]).unwrap();
    let (batches, size) = (60, 2500);
    for b in 0..batches {
        writer.append(&batch(b * size, size)).unwrap();
    }
    writer.finish(&[]).unwrap();
    let table = read_table(&path, "APOGEE").unwrap();
    assert_eq!(table.rows(), batches * size);
    let expected = batch(0, batches * size);
    for ((name, got), want) in table.columns.iter().zip(&expected) {
        assert_same_column(name, got, want);
    }
    // 45 bytes per row, padded to 2880-byte blocks: the file holds just the rows.
    let len = std::fs::metadata(&path).unwrap().len() as usize;
    assert!(len < 45 * batches * size + 6 * 2880, "{len}");
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Header strings of any printable ASCII and length survive (trailing blanks are
        /// not significant in FITS), including quotes and '&'.
        #[test]
        fn header_strings_round_trip(value in "[ -~]{0,300}", comment in "[ -~]{0,40}") {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("h.fits");
            let card = HeaderCard::new("VALUE", CardValue::Str(value.clone()), comment);
            AstraTableWriter::create(&path, columns(), &[card]).unwrap().finish(&[]).unwrap();
            let cards = read_primary_cards(&path).unwrap();
            let got = cards.iter().find(|(k, _)| k == "VALUE").map(|(_, v)| v.clone());
            prop_assert_eq!(got.as_deref(), Some(value.trim_end()));
        }

        /// String cells round-trip, trimmed.
        #[test]
        fn string_cells_round_trip(values in proptest::collection::vec("[ -~]{0,18}", 0..40)) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("s.fits");
            let spec = vec![ColumnSpec::new("s", ColumnKind::Str { width: 18 })];
            let mut w = AstraTableWriter::create(&path, spec, &[]).unwrap();
            w.append(&[ColumnData::Str(values.clone())]).unwrap();
            w.finish(&[]).unwrap();
            let table = read_table(&path, "APOGEE").unwrap();
            let want: Vec<String> = values.iter().map(|s| s.trim().to_string()).collect();
            prop_assert_eq!(table.column("s"), Some(&ColumnData::Str(want)));
        }
    }
}
