//! Photometry catalogs (`--photometry`): CSV and FITS tables written here, column overrides,
//! absent stars, duplicates, blank values and the errors for unusable files.

use astronn::io::columns::{ColumnData, ColumnKind, ColumnSpec};
use astronn::io::photometry::{Photometry, PhotometryCatalog, PhotometryColumns};
use astronn::io::table::AstraTableWriter;
use fitsio::tables::{ColumnDataType, ColumnDescription};
use fitsio::FitsFile;
use std::path::{Path, PathBuf};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn allstar_columns() -> PhotometryColumns {
    PhotometryColumns {
        id: "APOGEE_ID".into(),
        k_mag: "K".into(),
        ebv: "SFD_EBV".into(),
    }
}

fn error(path: &Path, columns: &PhotometryColumns) -> String {
    PhotometryCatalog::load(path, columns)
        .unwrap_err()
        .to_string()
}

#[test]
fn csv_catalog_with_default_columns() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "phot.csv",
        "sdss4_apogee_id,ra,k_mag,ebv\n\
         2M17335483-2753043,263.4,9.811,0.1927\n\
         2M19485057+5005279,297.2,10.522,0.02\n",
    );
    let catalog = PhotometryCatalog::load(&path, &PhotometryColumns::default()).unwrap();
    assert_eq!(catalog.catalog().len(), 2);
    assert_eq!(catalog.catalog().rows(), 2);
    assert_eq!(catalog.catalog().path(), path);
    assert_eq!(
        catalog.lookup("2M17335483-2753043"),
        Some(Photometry {
            k_mag: 9.811,
            ebv: 0.1927
        })
    );
    // Blanks around the identifier do not matter; other identifiers are absent.
    assert_eq!(
        catalog.lookup(" 2M19485057+5005279 ").map(|p| p.k_mag),
        Some(10.522)
    );
    assert_eq!(catalog.lookup("2M00000000+0000000"), None);
    assert_eq!(catalog.lookup(""), None);
}

#[test]
fn csv_quotes_blanks_sentinels_and_case_insensitive_names() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "phot.csv",
        "# %ECSV 1.0\n\
         # a preamble line\n\
         \u{20}\"SDSS4_APOGEE_ID\", \"name, with comma\" ,K_MAG,EBV\r\n\
         \"2M00000001+0000001\",\"Star \"\"A\"\", north\",12.5,\r\n\
         2M00000002+0000002 , plain , , 0.3\r\n\
         \r\n\
         \"2M00000003+0000003\",\"two\nlines\",99.999,-9999\r\n\
         2M00000004+0000004,x,nan,--\r\n",
    );
    let catalog = PhotometryCatalog::load(&path, &PhotometryColumns::default()).unwrap();
    assert_eq!(catalog.catalog().len(), 4);
    let a = catalog.lookup("2M00000001+0000001").unwrap();
    assert_eq!(a.k_mag, 12.5);
    assert!(a.ebv.is_nan(), "blank value reads as NaN");
    let b = catalog.lookup("2M00000002+0000002").unwrap();
    assert!(b.k_mag.is_nan());
    assert_eq!(b.ebv, 0.3);
    // Sentinels are kept as stored; the distance rules judge them.
    let c = catalog.lookup("2M00000003+0000003").unwrap();
    assert_eq!((c.k_mag, c.ebv), (99.999, -9999.0));
    let d = catalog.lookup("2M00000004+0000004").unwrap();
    assert!(d.k_mag.is_nan() && d.ebv.is_nan());
}

#[test]
fn csv_column_overrides_and_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "allstar.csv",
        "APOGEE_ID,TELESCOPE,K,SFD_EBV\n\
         2M1,apo25m,11.0,0.5\n\
         2M2,apo25m,8.0,0.1\n\
         2M1,lco25m,11.5,0.6\n",
    );
    let catalog = PhotometryCatalog::load(&path, &allstar_columns()).unwrap();
    assert_eq!(catalog.catalog().rows(), 3);
    assert_eq!(catalog.catalog().len(), 2);
    // The first row of a duplicated identifier wins.
    assert_eq!(
        catalog.lookup("2M1"),
        Some(Photometry {
            k_mag: 11.0,
            ebv: 0.5
        })
    );
    // With the default names, the identifier column is missing.
    let msg = error(&path, &PhotometryColumns::default());
    assert!(msg.contains("allstar.csv"), "{msg}");
    assert!(msg.contains("'sdss4_apogee_id'"), "{msg}");
    assert!(msg.contains("APOGEE_ID, TELESCOPE, K, SFD_EBV"), "{msg}");
}

#[test]
fn csv_errors_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing_ebv = write(dir.path(), "a.csv", "sdss4_apogee_id,k_mag\n2M1,10\n");
    let msg = error(&missing_ebv, &PhotometryColumns::default());
    assert!(
        msg.contains("a.csv") && msg.contains("'ebv'") && msg.contains("sdss4_apogee_id, k_mag"),
        "{msg}"
    );
    let ragged = write(
        dir.path(),
        "b.csv",
        "sdss4_apogee_id,k_mag,ebv\n2M1,10,0.1\n2M2,10\n",
    );
    let msg = error(&ragged, &PhotometryColumns::default());
    assert!(msg.contains("b.csv") && msg.contains("line 3"), "{msg}");
    let garbage = write(
        dir.path(),
        "c.csv",
        "sdss4_apogee_id,k_mag,ebv\n2M1,ten,0.1\n",
    );
    let msg = error(&garbage, &PhotometryColumns::default());
    assert!(
        msg.contains("line 2") && msg.contains("'k_mag'") && msg.contains("ten"),
        "{msg}"
    );
    let empty = write(dir.path(), "d.csv", "");
    assert!(error(&empty, &PhotometryColumns::default()).contains("empty"));
    let absent = dir.path().join("absent.csv");
    assert!(error(&absent, &PhotometryColumns::default()).contains("absent.csv"));
    // A header alone is an empty catalog.
    let header = write(dir.path(), "e.csv", "sdss4_apogee_id,k_mag,ebv\n");
    let catalog = PhotometryCatalog::load(&header, &PhotometryColumns::default()).unwrap();
    assert!(catalog.catalog().is_empty());
}

/// An allStar-like FITS file: an empty primary HDU and one binary table with string
/// identifiers, f32 photometry and an array column.
fn write_allstar(path: &Path) {
    let mut fits = FitsFile::create(path).open().unwrap();
    let columns = [
        ColumnDescription::new("APOGEE_ID")
            .with_type(ColumnDataType::String)
            .that_repeats(18)
            .create()
            .unwrap(),
        ColumnDescription::new("PARAM")
            .with_type(ColumnDataType::Float)
            .that_repeats(3)
            .create()
            .unwrap(),
        ColumnDescription::new("K")
            .with_type(ColumnDataType::Float)
            .create()
            .unwrap(),
        ColumnDescription::new("SFD_EBV")
            .with_type(ColumnDataType::Double)
            .create()
            .unwrap(),
    ];
    let hdu = fits.create_table("ALLSTAR", &columns).unwrap();
    let ids: Vec<String> = [
        "2M17335483-2753043",
        "2M19485057+5005279",
        "2M17335483-2753043",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    hdu.write_col(&mut fits, "APOGEE_ID", &ids).unwrap();
    hdu.write_col(&mut fits, "PARAM", &[0f32; 9]).unwrap();
    hdu.write_col(&mut fits, "K", &[9.811f32, f32::NAN, 1.0])
        .unwrap();
    hdu.write_col(&mut fits, "SFD_EBV", &[0.1927f64, -9999.0, 2.0])
        .unwrap();
}

#[test]
fn fits_catalog_with_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("allStar.fits");
    write_allstar(&path);
    let catalog = PhotometryCatalog::load(&path, &allstar_columns()).unwrap();
    assert_eq!(catalog.catalog().rows(), 3);
    assert_eq!(catalog.catalog().len(), 2);
    let a = catalog.lookup("2M17335483-2753043").unwrap();
    assert_eq!(a.k_mag, f64::from(9.811f32));
    assert_eq!(a.ebv, 0.1927);
    let b = catalog.lookup("2M19485057+5005279").unwrap();
    assert!(b.k_mag.is_nan());
    assert_eq!(b.ebv, -9999.0);
    assert_eq!(catalog.lookup("2M19485057+5005270"), None);
    // Missing columns are named, with the columns found.
    let msg = error(&path, &PhotometryColumns::default());
    assert!(msg.contains("allStar.fits") && msg.contains("'sdss4_apogee_id'"));
    assert!(msg.contains("APOGEE_ID, PARAM, K, SFD_EBV"), "{msg}");
    let wrong_ebv = PhotometryColumns {
        ebv: "EBV".into(),
        ..allstar_columns()
    };
    let msg = error(&path, &wrong_ebv);
    assert!(msg.contains("'EBV'"), "{msg}");
    // An array column cannot serve as a value.
    let array = PhotometryColumns {
        k_mag: "param".into(),
        ..allstar_columns()
    };
    let msg = error(&path, &array);
    assert!(msg.contains("PARAM") && msg.contains("scalar"), "{msg}");
}

#[test]
fn astra_style_fits_catalog_uses_the_table_with_rows() {
    // An Astra summary table: an empty BOSS HDU, then the APOGEE HDU with the rows;
    // lower-case names, integer identifiers.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("astraAllStar.fits");
    let columns = vec![
        ColumnSpec::new("sdss4_apogee_id", ColumnKind::I64),
        ColumnSpec::new("k_mag", ColumnKind::F32),
        ColumnSpec::new("ebv", ColumnKind::I32),
    ];
    let mut writer = AstraTableWriter::create(&path, columns, &[]).unwrap();
    writer
        .append(&[
            ColumnData::I64(vec![101, 102]),
            ColumnData::F32(vec![12.25, 13.5]),
            ColumnData::I32(vec![0, 99]),
        ])
        .unwrap();
    writer.finish(&[]).unwrap();
    let catalog = PhotometryCatalog::load(&path, &PhotometryColumns::default()).unwrap();
    assert_eq!(catalog.catalog().len(), 2);
    assert_eq!(
        catalog.lookup("102"),
        Some(Photometry {
            k_mag: 13.5,
            ebv: 99.0
        })
    );
    // An all-empty table file is an empty catalog.
    let empty = dir.path().join("empty.fits");
    let columns = vec![
        ColumnSpec::new("sdss4_apogee_id", ColumnKind::Str { width: 18 }),
        ColumnSpec::new("k_mag", ColumnKind::F64),
        ColumnSpec::new("ebv", ColumnKind::F64),
    ];
    AstraTableWriter::create(&empty, columns, &[])
        .unwrap()
        .finish(&[])
        .unwrap();
    let catalog = PhotometryCatalog::load(&empty, &PhotometryColumns::default()).unwrap();
    assert!(catalog.catalog().is_empty());
}

#[test]
fn fits_without_a_table_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("image.fits");
    {
        let mut fits = FitsFile::create(&path).open().unwrap();
        let _ = fits.primary_hdu().unwrap();
    }
    let msg = error(&path, &PhotometryColumns::default());
    assert!(
        msg.contains("image.fits") && msg.contains("without a table"),
        "{msg}"
    );
    // A truncated FITS file is reported, not a panic.
    let truncated = write(dir.path(), "trunc.fits", "SIMPLE  =                    T");
    let msg = error(&truncated, &PhotometryColumns::default());
    assert!(msg.contains("trunc.fits"), "{msg}");
}
