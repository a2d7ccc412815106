//! apStar reading (SPEC §2): the real DR17 files, the reference pixels, re-encoded copies
//! (other BITPIX, scaling, gzip) and broken files.

mod common;

use astronn::io::apstar::{
    e_flux_by_powers, e_flux_from_error, read_apstar, read_apstar_row, ApStar, RawPixels,
    SpectrumKind,
};
use astronn::io::npy::NpyArray;
use common::synth::{primary_header_bytes, raw_arrays, write_apstar, Img};
use common::{fixtures, test_data};
use fitsio::images::{ImageDescription, ImageType};
use fitsio::FitsFile;
use std::path::{Path, PathBuf};

const FILE1: &str = "apStar-dr17-2M17335483-2753043.fits";
const FILE2: &str = "apStar-dr17-2M19485057+5005279.fits";
const PIXELS: usize = 8575;

fn read(name: &str, visits: bool) -> ApStar {
    read_apstar(&test_data(name), visits).unwrap()
}

fn pixels(star: &ApStar, i: usize) -> &RawPixels {
    star.spectra[i].pixels.as_ref().unwrap()
}

fn assert_err_names_file(path: &Path, result: astronn::Result<ApStar>) -> String {
    let err = result.expect_err("expected an error");
    let msg = err.to_string();
    eprintln!("expected error: {msg}");
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(msg.contains(&name), "message does not name the file: {msg}");
    msg
}

fn same_f64(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// Pixel equality with NaN equal to NaN (the real spectra hold NaN flux at the chip edges).
fn assert_same_pixels(a: &RawPixels, b: &RawPixels, what: &str) {
    assert_eq!(a.flux.len(), b.flux.len(), "{what}");
    for i in 0..a.flux.len() {
        assert!(same_f64(a.flux[i], b.flux[i]), "{what}: flux[{i}]");
        assert!(same_f64(a.e_flux[i], b.e_flux[i]), "{what}: e_flux[{i}]");
    }
    assert!(a.bitmask == b.bitmask, "{what}: bitmask differs");
}

fn assert_same_slots(a: &ApStar, b: &ApStar) {
    assert_eq!(a.spectra.len(), b.spectra.len());
    for (x, y) in a.spectra.iter().zip(&b.spectra) {
        assert_eq!(
            (x.row, x.kind, x.visit, &x.visit_file),
            (y.row, y.kind, y.visit, &y.visit_file)
        );
        match (&x.pixels, &y.pixels) {
            (Ok(p), Ok(q)) => assert_same_pixels(p, q, &format!("row {}", x.row)),
            (Err(e), Err(f)) => assert_eq!(e, f),
            _ => panic!("row {}: one slot is usable, the other not", x.row),
        }
    }
}

#[test]
fn three_visit_file_slots_and_identity() {
    let star = read(FILE1, true);
    let id = &star.identity;
    assert_eq!(id.apogee_id(), "2M17335483-2753043");
    assert_eq!(id.fields.text("field"), "000+02");
    assert!(id.fields.get("telescope").is_none());
    assert_eq!(id.fields.f64("ra"), 263.478474);
    assert_eq!(id.fields.f64("dec"), -27.884539);
    assert!((id.fields.f64("snr") - 154.1551207216066).abs() < 1e-9);
    assert!((id.fields.f64("k_mag") - 9.811).abs() < 1e-6);
    assert!(
        id.fields.get("ebv").is_none(),
        "SFD_EBV = -9999.99 is missing"
    );
    assert_eq!(id.visit_fields.len(), 3);
    assert_eq!(id.visit_fields[1].i64("fiber"), Some(221));
    assert_eq!(id.visit_fields[2].i64("mjd"), Some(56434));
    assert_eq!(id.nvisits, 3);
    assert_eq!(
        id.visit_files,
        [
            "apVisit-dr17-5815-56396-212.fits",
            "apVisit-dr17-5815-56433-221.fits",
            "apVisit-dr17-5815-56434-221.fits"
        ]
    );

    assert_eq!(star.spectra.len(), 4);
    let coadd = &star.spectra[0];
    assert_eq!(
        (coadd.row, coadd.kind, coadd.visit, coadd.visit_file.clone()),
        (0, SpectrumKind::Coadd, None, None)
    );
    for k in 1..=3 {
        let slot = &star.spectra[k];
        assert_eq!(slot.row, k + 1);
        assert_eq!(slot.kind, SpectrumKind::Visit);
        assert_eq!(slot.visit, Some(k));
        assert_eq!(
            slot.visit_file.as_deref(),
            Some(id.visit_files[k - 1].as_str())
        );
        assert!(slot.pixels.is_ok());
    }
    for slot in &star.spectra {
        let p = slot.pixels.as_ref().unwrap();
        assert_eq!(p.flux.len(), PIXELS);
        assert_eq!(p.e_flux.len(), PIXELS);
        assert_eq!(p.bitmask.len(), PIXELS);
    }

    let coadd_only = read(FILE1, false);
    assert_eq!(coadd_only.spectra.len(), 1);
    assert_same_pixels(pixels(&coadd_only, 0), pixels(&star, 0), "coadd");
    assert_eq!(
        format!("{:?}", coadd_only.identity),
        format!("{:?}", star.identity)
    );
}

#[test]
fn one_visit_file_slots_and_identity() {
    let star = read(FILE2, true);
    let id = &star.identity;
    assert_eq!(id.apogee_id(), "2M19485057+5005279");
    assert_eq!(id.fields.text("field"), "K04_083+13");
    assert_eq!(id.fields.f64("ra"), 297.210723);
    assert_eq!(id.fields.f64("dec"), 50.091099);
    assert!((id.fields.f64("snr") - 137.4889561519403).abs() < 1e-9);
    assert!((id.fields.f64("k_mag") - 10.522).abs() < 1e-6);
    assert!((id.fields.f64("ebv") - 0.192664697766304).abs() < 1e-12);
    assert_eq!(id.nvisits, 1);
    assert_eq!(id.visit_files, ["apVisit-dr17-7496-56804-171.fits"]);

    // The single visit is row 0, the same spectrum as the coadd; row 1 (zeros) is no slot.
    assert_eq!(star.spectra.len(), 2);
    assert_eq!(star.spectra[0].kind, SpectrumKind::Coadd);
    let visit = &star.spectra[1];
    assert_eq!(visit.row, 0);
    assert_eq!(visit.kind, SpectrumKind::Visit);
    assert_eq!(visit.visit, Some(1));
    assert_eq!(
        visit.visit_file.as_deref(),
        Some("apVisit-dr17-7496-56804-171.fits")
    );
    assert_same_pixels(pixels(&star, 0), pixels(&star, 1), "visit 1 = coadd");

    // Row 1 is all zeros: readable on its own, but not a spectrum.
    let row1 = read_apstar_row(&test_data(FILE2), 1).unwrap();
    assert!(row1.unwrap_err().contains("all zeros"));
    let row2 = read_apstar_row(&test_data(FILE2), 2).unwrap();
    assert!(row2.is_err());
}

#[test]
fn telescope_comes_from_the_sas_directory_when_the_header_lacks_it() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("apo25m").join("000+02");
    std::fs::create_dir_all(&sub).unwrap();
    let copy = sub.join(FILE1);
    std::fs::copy(test_data(FILE1), &copy).unwrap();
    let star = read_apstar(&copy, false).unwrap();
    assert_eq!(star.identity.fields.text("telescope"), "apo25m");
}

fn fixture_pixels(dir: &Path, stem: &str, row: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let load = |what: &str| {
        NpyArray::read(&dir.join(format!("continuum_{stem}_row{row}_{what}_in.npy")))
            .unwrap()
            .data
    };
    (load("flux"), load("eflux"), load("bitmask"))
}

fn assert_matches_fixture(p: &RawPixels, fixture: &(Vec<f64>, Vec<f64>, Vec<f64>), what: &str) {
    let (flux, eflux, mask) = fixture;
    assert_eq!(flux.len(), PIXELS);
    for i in 0..PIXELS {
        assert!(
            same_f64(p.flux[i], flux[i]),
            "{what} flux[{i}]: {} vs {}",
            p.flux[i],
            flux[i]
        );
        assert_eq!(p.bitmask[i] as f64, mask[i], "{what} bitmask[{i}]");
        let (a, b) = (p.e_flux[i], eflux[i]);
        if b.is_infinite() || a.is_infinite() {
            assert_eq!(a, b, "{what} e_flux[{i}]");
        } else {
            assert!(
                (a - b).abs() <= 1e-12 * b.abs(),
                "{what} e_flux[{i}]: {a} vs {b}"
            );
        }
    }
}

#[test]
fn pixels_match_the_reference_fixtures() {
    let dir = fixtures();
    let stem1 = FILE1.trim_end_matches(".fits");
    let star = read(FILE1, true);
    // Slots: coadd (row 0) and visits (rows 2-4).
    for slot in &star.spectra {
        let fx = fixture_pixels(&dir, stem1, slot.row);
        assert_matches_fixture(
            slot.pixels.as_ref().unwrap(),
            &fx,
            &format!("{FILE1} row {}", slot.row),
        );
    }
    // Every fixture row, row 1 included, through the single-row reader.
    for row in 0..5 {
        let fx = fixture_pixels(&dir, stem1, row);
        let p = read_apstar_row(&test_data(FILE1), row).unwrap().unwrap();
        assert_matches_fixture(&p, &fx, &format!("{FILE1} row {row}"));
    }
    let stem2 = FILE2.trim_end_matches(".fits");
    let star2 = read(FILE2, false);
    let fx = fixture_pixels(&dir, stem2, 0);
    assert_matches_fixture(pixels(&star2, 0), &fx, &format!("{FILE2} row 0"));
    // The fixtures hold infinite errors: make sure some were compared.
    assert!(
        fx.1.iter().any(|v| v.is_infinite())
            || star.spectra.iter().any(|s| {
                s.pixels
                    .as_ref()
                    .unwrap()
                    .e_flux
                    .iter()
                    .any(|v| v.is_infinite())
            })
    );
}

#[test]
fn e_flux_rule() {
    assert_eq!(e_flux_from_error(0.0), f64::INFINITY);
    assert_eq!(e_flux_from_error(f64::NAN), f64::INFINITY);
    assert_eq!(e_flux_from_error(f64::INFINITY), f64::INFINITY);
    assert!((e_flux_from_error(2.0) - 2.0).abs() < 1e-15);
    assert!((e_flux_from_error(-3.0) - 3.0).abs() < 1e-15);
}

/// The direct `|err|` (the formula's exact value) agrees with Astra's two powers as libm
/// computes them to within one unit in the last place: over a sweep of the float32 values
/// (every 61st bit pattern, both signs, subnormals, zeros, infinities, NaNs), a sweep of
/// doubles across the direct range and past both ends, and every error of the real files.
#[test]
fn e_flux_shortcut_agrees_with_the_powers() {
    let mut differ = 0usize;
    let mut count = 0usize;
    let mut check = |err: f64| {
        let (fast, slow) = (e_flux_from_error(err), e_flux_by_powers(err));
        assert_eq!(fast.is_infinite(), slow.is_infinite(), "error {err:e}");
        let ulps = fast.to_bits().abs_diff(slow.to_bits());
        assert!(ulps <= 1, "error {err:e}: {fast:e} vs {slow:e}");
        differ += usize::from(ulps == 1);
        count += 1;
    };
    for bits in (0..=u32::MAX).step_by(61) {
        check(f64::from(f32::from_bits(bits)));
    }
    // Doubles from 1e-170 to 1e170 with full mantissas (a Weyl sequence of bit patterns).
    let (low, high) = (1e-170f64.to_bits(), 1e170f64.to_bits());
    let mut state = 0u64;
    for _ in 0..5_000_000 {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let bits = low + state % (high - low);
        check(f64::from_bits(bits));
        check(-f64::from_bits(bits));
    }
    for name in [FILE1, FILE2] {
        let (_, err, _, _) = raw_arrays(&test_data(name));
        err.into_iter().for_each(&mut check);
    }
    eprintln!("{differ} of {count} errors one unit apart");
    assert!(
        differ * 1_000_000 < count,
        "{differ} of {count} one unit apart"
    );
    // Outside the direct range the powers decide: e.g. ivar overflows to inf, then 0.
    assert_eq!(e_flux_from_error(1e-200), f64::INFINITY);
    assert_eq!(e_flux_from_error(1e200), e_flux_by_powers(1e200));
}

#[test]
fn float32_flux_and_unsigned_int16_mask() {
    let src = test_data(FILE1);
    let (flux, err, mask, rows) = raw_arrays(&src);
    assert!(mask.iter().all(|&m| (0..=65535).contains(&m)));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("apStar-f32.fits");
    write_apstar(
        &path,
        &src,
        &[rows, PIXELS],
        [
            Img::F32(flux.iter().map(|&v| v as f32).collect()),
            Img::F32(err.iter().map(|&v| v as f32).collect()),
            Img::U16(mask.iter().map(|&v| v as u16).collect()),
        ],
    );
    // The mask is stored as BITPIX 16 with BZERO 32768.
    let mut f = FitsFile::open(&path).unwrap();
    let hdu = f.hdu(3).unwrap();
    assert_eq!(hdu.read_key::<i64>(&mut f, "BITPIX").unwrap(), 16);
    assert_eq!(hdu.read_key::<f64>(&mut f, "BZERO").unwrap(), 32768.0);

    let star = read_apstar(&path, true).unwrap();
    assert_eq!(star.spectra.len(), 4);
    for slot in &star.spectra {
        let p = slot.pixels.as_ref().unwrap();
        let base = slot.row * PIXELS;
        for i in 0..PIXELS {
            let f32flux = flux[base + i] as f32 as f64;
            assert!(same_f64(p.flux[i], f32flux));
            let e = e_flux_from_error(err[base + i] as f32 as f64);
            assert!(
                same_f64(p.e_flux[i], e),
                "pixel {i}: {} vs {e}",
                p.e_flux[i]
            );
            assert_eq!(p.bitmask[i], mask[base + i] as u64);
        }
    }
}

#[test]
fn scaled_integer_flux() {
    let src = test_data(FILE1);
    let (flux, err, mask, rows) = raw_arrays(&src);
    let (bscale, bzero) = (0.01, 500.0);
    let stored: Vec<i32> = flux
        .iter()
        .map(|&v| {
            let v = if v.is_finite() { v } else { 0.0 };
            ((v - bzero) / bscale).round() as i32
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("apStar-scaled.fits");
    write_apstar(
        &path,
        &src,
        &[rows, PIXELS],
        [
            Img::Scaled(stored.clone(), bscale, bzero),
            Img::F64(err.clone()),
            Img::I64(mask.clone()),
        ],
    );
    let star = read_apstar(&path, true).unwrap();
    for slot in &star.spectra {
        let p = slot.pixels.as_ref().unwrap();
        let base = slot.row * PIXELS;
        for i in 0..PIXELS {
            let expected = stored[base + i] as f64 * bscale + bzero;
            assert!(
                (p.flux[i] - expected).abs() <= 1e-9 * expected.abs().max(1.0),
                "pixel {i}: {} vs {expected}",
                p.flux[i]
            );
            if flux[base + i].is_finite() {
                assert!((p.flux[i] - flux[base + i]).abs() <= bscale);
            }
        }
    }
}

#[test]
fn gzipped_file_reads_the_same() {
    let src = test_data(FILE1);
    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join(format!("{FILE1}.gz"));
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut encoder, &std::fs::read(&src).unwrap()).unwrap();
    std::fs::write(&gz, encoder.finish().unwrap()).unwrap();
    let plain = read_apstar(&src, true).unwrap();
    let zipped = read_apstar(&gz, true).unwrap();
    assert_eq!(
        format!("{:?}", plain.identity),
        format!("{:?}", zipped.identity)
    );
    assert_same_slots(&plain, &zipped);

    // A truncated gzip file fails as a whole.
    let bytes = std::fs::read(&gz).unwrap();
    let cut = dir.path().join("cut.fits.gz");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    assert_err_names_file(&cut, read_apstar(&cut, true));
}

#[test]
fn nan_filled_row_is_an_unusable_slot() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE1);
    std::fs::copy(test_data(FILE1), &path).unwrap();
    {
        let mut f = FitsFile::edit(&path).unwrap();
        let hdu = f.hdu(1).unwrap();
        let nan = vec![f64::NAN; PIXELS];
        // Row 3 (visit 2): pixels 3·8575 … 4·8575 of the flattened image.
        hdu.write_section(&mut f, 3 * PIXELS, 4 * PIXELS, &nan)
            .unwrap();
    }
    let star = read_apstar(&path, true).unwrap();
    assert_eq!(star.spectra.len(), 4);
    for slot in &star.spectra {
        if slot.row == 3 {
            let reason = slot.pixels.as_ref().unwrap_err();
            assert!(reason.contains("row 3"), "{reason}");
            assert!(reason.contains("finite"), "{reason}");
        } else {
            assert!(slot.pixels.is_ok());
        }
    }
}

#[test]
fn negative_mask_values_are_two_complement_bit_patterns() {
    let src = test_data(FILE1);
    let (flux, err, mut mask, rows) = raw_arrays(&src);
    mask[2 * PIXELS + 17] = -4; // row 2, pixel 17: every bit but 0 and 1 set
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("apStar-negmask.fits");
    write_apstar(
        &path,
        &src,
        &[rows, PIXELS],
        [Img::F64(flux), Img::F64(err), Img::I64(mask)],
    );
    let star = read_apstar(&path, true).unwrap();
    let slot = star.spectra.iter().find(|s| s.row == 2).unwrap();
    assert_eq!(slot.pixels.as_ref().unwrap().bitmask[17], (-4i64) as u64);
    assert!(star.spectra.iter().all(|s| s.pixels.is_ok()));
}

#[test]
fn missing_visit_rows_are_unusable_slots() {
    // NVISITS = 3 but only 3 rows (visits 2 and 3 would be rows 3 and 4).
    let src = test_data(FILE1);
    let (flux, err, mask, _) = raw_arrays(&src);
    let n = 3 * PIXELS;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("apStar-short.fits");
    write_apstar(
        &path,
        &src,
        &[3, PIXELS],
        [
            Img::F64(flux[..n].to_vec()),
            Img::F64(err[..n].to_vec()),
            Img::I64(mask[..n].to_vec()),
        ],
    );
    let star = read_apstar(&path, true).unwrap();
    assert_eq!(star.spectra.len(), 4);
    assert!(star.spectra[0].pixels.is_ok());
    assert!(star.spectra[1].pixels.is_ok()); // visit 1 = row 2
    for slot in &star.spectra[2..] {
        let reason = slot.pixels.as_ref().unwrap_err();
        assert!(reason.contains("only 3 rows"), "{reason}");
    }
}

#[test]
fn one_visit_with_a_single_row_file() {
    let src = test_data(FILE2);
    let (flux, err, mask, _) = raw_arrays(&src);
    let dir = tempfile::tempdir().unwrap();
    // As a 2-D image of one row and as a 1-D image.
    for dims in [vec![1, PIXELS], vec![PIXELS]] {
        let path = dir.path().join(format!("apStar-one-{}.fits", dims.len()));
        write_apstar(
            &path,
            &src,
            &dims,
            [
                Img::F64(flux[..PIXELS].to_vec()),
                Img::F64(err[..PIXELS].to_vec()),
                Img::I64(mask[..PIXELS].to_vec()),
            ],
        );
        let star = read_apstar(&path, true).unwrap();
        assert_eq!(star.spectra.len(), 2);
        assert_eq!(star.spectra[1].row, 0);
        assert_eq!(star.spectra[1].visit, Some(1));
        let reference = read(FILE2, false);
        assert_same_pixels(pixels(&star, 0), pixels(&reference, 0), "coadd");
        assert_same_pixels(pixels(&star, 1), pixels(&reference, 0), "visit");
    }
}

#[test]
fn shapes_that_disagree_fail() {
    let src = test_data(FILE1);
    let (flux, err, mask, rows) = raw_arrays(&src);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("apStar-mismatch.fits");
    std::fs::write(&path, primary_header_bytes(&src)).unwrap();
    {
        let mut f = FitsFile::edit(&path).unwrap();
        for (data, r) in [
            (&flux, rows),
            (&err, rows),
            (&mask.iter().map(|&m| m as f64).collect(), 2),
        ] {
            let desc = ImageDescription {
                data_type: ImageType::Double,
                dimensions: &[r, PIXELS],
            };
            let hdu = f.create_image("", &desc).unwrap();
            hdu.write_image(&mut f, &data[..r * PIXELS]).unwrap();
        }
    }
    let msg = assert_err_names_file(&path, read_apstar(&path, false));
    assert!(msg.contains("same shape"), "{msg}");
}

#[test]
fn header_only_file_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("apStar-header-only.fits");
    std::fs::write(&path, primary_header_bytes(&test_data(FILE1))).unwrap();
    let msg = assert_err_names_file(&path, read_apstar(&path, false));
    assert!(msg.contains("HDU"), "{msg}");
}

#[test]
fn text_file_named_fits_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("apStar-text.fits");
    std::fs::write(&path, "this is not a FITS file\n".repeat(200)).unwrap();
    let msg = assert_err_names_file(&path, read_apstar(&path, false));
    assert!(msg.contains("not a readable FITS file"), "{msg}");

    let empty = dir.path().join("apStar-empty.fits");
    std::fs::write(&empty, b"").unwrap();
    assert_err_names_file(&empty, read_apstar(&empty, false));
}

#[test]
fn missing_file_fails() {
    let path = PathBuf::from("/nonexistent/dir/apStar-missing.fits");
    assert_err_names_file(&path, read_apstar(&path, false));
}

#[test]
fn truncated_files_fail() {
    let bytes = std::fs::read(test_data(FILE1)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The first half, and cuts inside the arrays, inside a header and at a block boundary.
    for (name, len) in [
        ("half", bytes.len() / 2),
        ("in-flux", 2880 * 3 + 1000),
        ("in-mask", 2880 * 300),
        ("quarter", bytes.len() / 4),
        ("minus-one-block", bytes.len() - 2880),
    ] {
        let path = dir.path().join(format!("apStar-{name}.fits"));
        std::fs::write(&path, &bytes[..len]).unwrap();
        for visits in [false, true] {
            let msg = assert_err_names_file(&path, read_apstar(&path, visits));
            assert!(
                msg.contains("truncated") || msg.contains("end of file"),
                "{name}: {msg}"
            );
        }
    }
}

#[test]
fn apvisit_files_fail_with_the_layout_found() {
    for name in [
        "apVisit-r13-5095-55844-128.fits",
        "apVisit-r13-9518-57729-104.fits",
    ] {
        let path = test_data(name);
        let msg = assert_err_names_file(&path, read_apstar(&path, true));
        assert!(msg.contains("4096"), "{msg}");
        assert!(msg.contains("8575"), "{msg}");
    }
}

#[test]
fn file_names_are_taken_literally() {
    // CFITSIO's extended syntax would read "[1]" as an HDU selector.
    let dir = tempfile::tempdir().unwrap();
    let odd = dir.path().join("apStar[1]+x.fits");
    std::fs::copy(test_data(FILE2), &odd).unwrap();
    let star = read_apstar(&odd, true).unwrap();
    assert_eq!(star.identity.apogee_id(), "2M19485057+5005279");
    assert_eq!(star.spectra.len(), 2);
}

#[test]
fn parallel_reads_agree() {
    let reference: Vec<ApStar> = [FILE1, FILE2].iter().map(|f| read(f, true)).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                scope.spawn(move || {
                    (0..6)
                        .map(|k| read([FILE1, FILE2][(t + k) % 2], true))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for (t, h) in handles.into_iter().enumerate() {
            for (k, star) in h.join().unwrap().iter().enumerate() {
                assert_same_slots(star, &reference[(t + k) % 2]);
            }
        }
    });
}
