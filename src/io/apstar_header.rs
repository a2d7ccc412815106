//! What an apStar primary header says about the star and each visit, as DR19 columns.
//!
//! SDSS-IV (DR17) and SDSS-V (DR19, apred 1.x) apStar headers name the same things
//! differently (`K` against `KMAG`, `VHELIO` against `VRAD`…) and each carries fields the
//! other lacks (DR17: `FIELD`, `SFD_EBV`, `VERR_MED`; DR19: `CATID`, `HEALPIX`, Gaia `PLX`…,
//! `CHISQ<n>`, no E(B−V) at all). [`HeaderStyle::detect`] tells them apart by the keywords
//! present, never by the file name; [`STAR_KEYWORDS`] and [`VISIT_KEYWORDS`] map each keyword
//! of either style to its DR19 column. A few columns come from elsewhere in the file's
//! identity ([`star_fields`]): the telescope and apred from the file name (DR19 names carry
//! them: `apStar-1.4-apo25m-<OBJ>.fits`), each visit's plate and MJD from its `SFILE<n>` name,
//! and the coadd's MJD span from its visits.
//!
//! Numeric placeholders (−9999.99 and below) read as unknown, and so do magnitudes of 98 or
//! more (DR19 headers write 99.99 for a missing 2MASS magnitude).

use crate::io::fields::{Fields, Value};
use std::path::Path;

/// Which survey's header layout an apStar file has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderStyle {
    /// SDSS-IV (DR17 and earlier).
    Dr17,
    /// SDSS-V (DR19 and later).
    Dr19,
}

impl HeaderStyle {
    /// DR19 when the header has any keyword only SDSS-V apStar files write
    /// ([`DR19_ONLY_KEYWORDS`]), else DR17.
    pub fn detect(cards: &[(String, String)]) -> Self {
        let has = |key: &str| cards.iter().any(|(k, _)| k == key);
        if DR19_ONLY_KEYWORDS.iter().any(|key| has(key)) {
            HeaderStyle::Dr19
        } else {
            HeaderStyle::Dr17
        }
    }

    /// The `release` column DR19 gives spectra of this style.
    pub fn release(self) -> &'static str {
        match self {
            HeaderStyle::Dr17 => "dr17",
            HeaderStyle::Dr19 => "sdss5",
        }
    }
}

/// Keywords only SDSS-V (DR19-style) apStar headers carry.
pub const DR19_ONLY_KEYWORDS: [&str; 6] = ["APRED", "HEALPIX", "CATID", "JMAG", "HMAG", "KMAG"];

/// How a keyword's value becomes a column value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversion {
    /// A number; −9999 and below is unknown.
    Number,
    /// A magnitude: also unknown at 98 and above (the 99.99 placeholder).
    Magnitude,
    /// An integer (identifiers, counts).
    Integer,
    /// A 32-bit bit mask, stored signed in the header: its bits, as a non-negative integer.
    Bits32,
    /// Text.
    Text,
}

/// One header keyword and the DR19 column it fills, in each style (`""`: the style has no
/// such keyword). Visit keywords are prefixes completed by the visit number (`SNRVIS` →
/// `SNRVIS3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeywordMapping {
    /// The DR19 column.
    pub column: &'static str,
    /// The keyword in DR17-style headers.
    pub dr17: &'static str,
    /// The keyword in DR19-style headers.
    pub dr19: &'static str,
    /// How the value is read.
    pub conversion: Conversion,
}

const fn map(
    column: &'static str,
    dr17: &'static str,
    dr19: &'static str,
    conversion: Conversion,
) -> KeywordMapping {
    KeywordMapping {
        column,
        dr17,
        dr19,
        conversion,
    }
}

use Conversion::*;

/// Star-level keywords: the Source and the coadded spectrum.
pub const STAR_KEYWORDS: &[KeywordMapping] = &[
    // Source: identifiers and astrometry.
    map("sdss4_apogee_id", "OBJID", "OBJID", Text),
    map("catalogid", "", "CATID", Integer),
    map("healpix", "", "HEALPIX", Integer),
    map("ra", "RA", "RA", Number),
    map("dec", "DEC", "DEC", Number),
    map("l", "GLON", "GLON", Number),
    map("b", "GLAT", "GLAT", Number),
    map("plx", "", "PLX", Number),
    map("e_plx", "", "EPLX", Number),
    map("pmra", "", "PMRA", Number),
    map("e_pmra", "", "EPMRA", Number),
    map("pmde", "", "PMDEC", Number),
    map("e_pmde", "", "EPMDEC", Number),
    // Source: photometry and reddening (DR19 headers have no E(B-V)).
    map("g_mag", "", "GMAG", Magnitude),
    map("bp_mag", "", "BPMAG", Magnitude),
    map("rp_mag", "", "RPMAG", Magnitude),
    map("j_mag", "J", "JMAG", Magnitude),
    map("e_j_mag", "J_ERR", "JERR", Number),
    map("h_mag", "H", "HMAG", Magnitude),
    map("e_h_mag", "H_ERR", "HERR", Number),
    map("k_mag", "K", "KMAG", Magnitude),
    map("e_k_mag", "K_ERR", "KERR", Number),
    map("ebv", "SFD_EBV", "", Number),
    map("ebv_sfd", "SFD_EBV", "", Number),
    // Source: SDSS-IV targeting.
    map("sdss4_apogee_target1_flags", "APTARG1", "APTARG1", Bits32),
    map("sdss4_apogee_target2_flags", "APTARG2", "APTARG2", Bits32),
    map(
        "sdss4_apogee2_target1_flags",
        "AP2TARG1",
        "AP2TARG1",
        Bits32,
    ),
    map(
        "sdss4_apogee2_target2_flags",
        "AP2TARG2",
        "AP2TARG2",
        Bits32,
    ),
    map(
        "sdss4_apogee2_target3_flags",
        "AP2TARG3",
        "AP2TARG3",
        Bits32,
    ),
    // The coadded spectrum.
    map("obj", "OBJID", "OBJID", Text),
    map("apred", "", "APRED", Text),
    map("field", "FIELD", "", Text),
    map("snr", "SNR", "SNR", Number),
    map("n_visits", "NVISITS", "NVISITS", Integer),
    map("mean_fiber", "MEANFIB", "MEANFIB", Number),
    map("std_fiber", "SIGFIB", "SIGFIB", Number),
    map("spectrum_flags", "STARFLAG", "STARFLAG", Bits32),
    map("v_rad", "VHELIO", "VRAD", Number),
    map("e_v_rad", "VERR", "VERR", Number),
    map("std_v_rad", "VSCATTER", "VSCATTER", Number),
    map("median_e_v_rad", "VERR_MED", "", Number),
    map("doppler_teff", "RV_TEFF", "RV_TEFF", Number),
    map("doppler_logg", "RV_LOGG", "RV_LOGG", Number),
    map("doppler_fe_h", "RV_FEH", "RV_FEH", Number),
    map("doppler_rchi2", "RV_CHI2", "", Number),
    map("ccfwhm", "CCFWHM", "", Number),
    map("autofwhm", "AUTOFWHM", "", Number),
    map("n_components", "N_COMP", "N_COMP", Integer),
];

/// Visit keywords (prefixes of `<KEY><n>`). DR17's `VRAD<n>` is the velocity relative to
/// the observatory and `VHELIO<n>` the heliocentric one; DR19's `VRAD<n>` is heliocentric
/// (DR19 writes no relative velocity: `v_rel` is derived as `v_rad − bc`, see
/// [`visit_fields`]).
pub const VISIT_KEYWORDS: &[KeywordMapping] = &[
    map("snr", "SNRVIS", "SNRVIS", Number),
    map("fiber", "FIBER", "FIBER", Integer),
    map("date_obs", "DATE", "DATE", Text),
    map("jd", "JD", "JD", Number),
    map("bc", "BC", "BC", Number),
    map("v_rad", "VHELIO", "VRAD", Number),
    map("v_rel", "VRAD", "", Number),
    map("e_v_rel", "VERR", "", Number),
    map("spectrum_flags", "FLAG", "FLAG", Bits32),
    map("doppler_rchi2", "", "CHISQ", Number),
];

/// Telescopes of the SDSS layout, as named in DR19 file names and SAS directories.
const TELESCOPES: [&str; 3] = ["apo25m", "lco25m", "apo1m"];

/// The value of the first card named `key`, if any.
pub fn card<'a>(cards: &'a [(String, String)], key: &str) -> Option<&'a str> {
    cards
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// A card's value converted, or `None` when absent, empty or a placeholder.
fn convert(text: &str, conversion: Conversion) -> Option<Value> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let number = || text.replace(['D', 'd'], "E").parse::<f64>().ok();
    match conversion {
        Text => Some(Value::Text(text.to_string())),
        Number => number()
            .filter(|v| v.is_finite() && *v > -9999.0)
            .map(Value::Float),
        Magnitude => number()
            .filter(|v| v.is_finite() && *v > -9999.0 && *v < 98.0)
            .map(Value::Float),
        Integer => text
            .parse::<i64>()
            .ok()
            .or_else(|| number().filter(|v| v.fract() == 0.0).map(|v| v as i64))
            .filter(|v| *v > -9999)
            .map(Value::Int),
        Bits32 => text
            .parse::<i64>()
            .ok()
            .and_then(|v| i32::try_from(v).map(|b| b as u32 as i64).ok().or(Some(v)))
            .filter(|v| *v >= 0)
            .map(Value::Int),
    }
}

/// Applies `mappings` (keyword suffix `suffix`, "" for star keywords) to `cards`.
fn mapped(
    cards: &[(String, String)],
    style: HeaderStyle,
    mappings: &[KeywordMapping],
    suffix: &str,
) -> Fields {
    let mut fields = Fields::new();
    for m in mappings {
        let key = match style {
            HeaderStyle::Dr17 => m.dr17,
            HeaderStyle::Dr19 => m.dr19,
        };
        if key.is_empty() {
            continue;
        }
        if let Some(value) =
            card(cards, &format!("{key}{suffix}")).and_then(|t| convert(t, m.conversion))
        {
            fields.set(m.column, value);
        }
    }
    fields
}

/// The file name of `path` without `.fits` or `.fits.gz` (`None` for other names).
fn fits_stem(path: &Path) -> Option<&str> {
    let name = path.file_name()?.to_str()?;
    name.strip_suffix(".gz")
        .unwrap_or(name)
        .strip_suffix(".fits")
}

/// What an apStar file name says: `(prefix, apred, telescope)` of
/// `<prefix>Star-<apred>[-<telescope>]-<obj>.fits[.gz]` (`None` for other names).
pub fn parse_apstar_name(path: &Path) -> Option<(String, String, Option<String>)> {
    let stem = fits_stem(path)?;
    let (prefix, rest) = stem.split_once("Star-")?;
    if prefix.len() != 2 {
        return None;
    }
    let mut parts = rest.splitn(3, '-');
    let apred = parts.next().filter(|s| !s.is_empty())?.to_string();
    let telescope = parts
        .next()
        .filter(|t| TELESCOPES.contains(t))
        .map(str::to_string);
    Some((prefix.to_string(), apred, telescope))
}

/// The plate and MJD of an apVisit file name,
/// `apVisit-<apred>[-<telescope>]-<plate>-<mjd>-<fiber>.fits`.
pub fn parse_visit_name(name: &str) -> Option<(String, i64)> {
    let stem = fits_stem(Path::new(name.trim()))?;
    let parts: Vec<&str> = stem.split('-').collect();
    if parts.len() < 5 || !parts[0].ends_with("Visit") {
        return None;
    }
    let n = parts.len();
    let mjd = parts[n - 2].parse::<i64>().ok()?;
    Some((parts[n - 3].to_string(), mjd))
}

/// The telescope named by a parent directory of `path` (SAS layout
/// `…/stars/<telescope>/<field>/apStar-….fits`).
fn telescope_from_dirs(path: &Path) -> Option<String> {
    path.ancestors().skip(1).find_map(|dir| {
        let name = dir.file_name()?.to_str()?;
        TELESCOPES.contains(&name).then(|| name.to_string())
    })
}

/// The star-level fields of an apStar file (Source and coadded spectrum) from its primary
/// header `cards` and its `path`, with `visit_fields` those of its visits (for the MJD span).
pub fn star_fields(cards: &[(String, String)], path: &Path, visits: &[Fields]) -> Fields {
    let style = HeaderStyle::detect(cards);
    let mut fields = mapped(cards, style, STAR_KEYWORDS, "");
    let name = parse_apstar_name(path);
    let telescope = card(cards, "TELESCOP")
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .or_else(|| name.as_ref().and_then(|(_, _, t)| t.clone()))
        .or_else(|| telescope_from_dirs(path));
    if let Some(telescope) = telescope {
        fields.set_text("telescope", telescope);
    }
    if let Some((prefix, apred, _)) = name {
        fields.set_text("prefix", prefix);
        if fields.get("apred").is_none() {
            fields.set_text("apred", apred);
        }
    }
    fields.set_text("release", style.release());
    fields.set_text("filetype", "apStar");
    fields.set_text("apstar", "stars");
    let mjds: Vec<i64> = visits.iter().filter_map(|v| v.i64("mjd")).collect();
    if let (Some(min), Some(max)) = (mjds.iter().min(), mjds.iter().max()) {
        fields.set("min_mjd", Value::Int(*min));
        fields.set("max_mjd", Value::Int(*max));
    }
    fields
}

/// The fields of visit `k` (1-based) from the header `cards`: its own S/N, fiber, date,
/// velocities, flags, and the plate and MJD of its `SFILE<k>` name.
pub fn visit_fields(cards: &[(String, String)], k: usize) -> Fields {
    let style = HeaderStyle::detect(cards);
    let mut fields = mapped(cards, style, VISIT_KEYWORDS, &k.to_string());
    if style == HeaderStyle::Dr19 && fields.get("v_rel").is_none() {
        let v_rel = fields.f64("v_rad") - fields.f64("bc");
        if v_rel.is_finite() {
            fields.set_f64("v_rel", v_rel);
        }
    }
    if let Some((plate, mjd)) = card(cards, &format!("SFILE{k}")).and_then(parse_visit_name) {
        fields.set_text("plate", plate);
        fields.set("mjd", Value::Int(mjd));
    }
    fields.set_text("filetype", "apVisit");
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cards(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn styles_are_told_apart_by_keywords() {
        assert_eq!(
            HeaderStyle::detect(&cards(&[("K", "10.2")])),
            HeaderStyle::Dr17
        );
        assert_eq!(
            HeaderStyle::detect(&cards(&[("KMAG", "10.2")])),
            HeaderStyle::Dr19
        );
        assert_eq!(
            HeaderStyle::detect(&cards(&[("HEALPIX", "10105")])),
            HeaderStyle::Dr19
        );
    }

    #[test]
    fn placeholders_and_signed_bit_masks() {
        assert_eq!(convert("-9999.990234375", Number), None);
        assert_eq!(convert("99.98999786376953", Magnitude), None);
        assert_eq!(convert("12.417", Magnitude), Some(Value::Float(12.417)));
        assert_eq!(convert("99.9", Number), Some(Value::Float(99.9)));
        // AP2TARG1 = -805306368 is bits 28, 30 and 31 of an unsigned 32-bit mask.
        assert_eq!(
            convert("-805306368", Bits32),
            Some(Value::Int((1 << 28) | (1 << 30) | (1 << 31)))
        );
        assert_eq!(convert("4", Bits32), Some(Value::Int(4)));
        assert_eq!(
            convert("4349650353", Integer),
            Some(Value::Int(4_349_650_353))
        );
        assert_eq!(convert("  ", Text), None);
    }

    #[test]
    fn file_names_of_both_releases() {
        let dr17 = parse_apstar_name(Path::new("/d/apStar-dr17-2M17335483-2753043.fits"));
        assert_eq!(dr17, Some(("ap".into(), "dr17".into(), None)));
        let dr19 = parse_apstar_name(Path::new("apStar-1.4-lco25m-2M13593121+6335074.fits.gz"));
        assert_eq!(
            dr19,
            Some(("ap".into(), "1.4".into(), Some("lco25m".into())))
        );
        assert_eq!(parse_apstar_name(Path::new("spectrum.fits")), None);
        assert_eq!(
            parse_visit_name("apVisit-dr17-10008-57936-214.fits"),
            Some(("10008".into(), 57936))
        );
        assert_eq!(
            parse_visit_name("apVisit-1.0-apo25m-15303-59280-271.fits"),
            Some(("15303".into(), 59280))
        );
        assert_eq!(parse_visit_name("apVisit-dr17-57936-x.fits"), None);
    }

    #[test]
    fn dr19_visits_derive_their_relative_velocity() {
        let header = cards(&[
            ("APRED", "1.0"),
            ("VRAD1", "15.48004525881579"),
            ("BC1", "-1.620521068572998"),
            ("CHISQ1", "1.779343951621781"),
            ("SFILE1", "apVisit-1.0-apo25m-15303-59280-271.fits"),
        ]);
        let v = visit_fields(&header, 1);
        assert_eq!(v.f64("v_rad"), 15.48004525881579);
        assert_eq!(v.f64("v_rel"), 15.48004525881579 + 1.620521068572998);
        assert_eq!(v.f64("doppler_rchi2"), 1.779343951621781);
        assert_eq!(v.i64("mjd"), Some(59280));
        assert_eq!(v.text("plate"), "15303");
    }
}
