//! apStar files in the DR19 (SDSS-V) header style, made from real DR17 files: the same
//! arrays under a primary header whose keywords follow the DR19 data model
//! (SDSS's data model of apStar, `apStar.yaml`, release DR19): `JMAG`… instead of `J`…, `VRAD`
//! (heliocentric) instead of `VHELIO`, `CHISQ<n>`, Gaia and catalog keywords, no `FIELD` and
//! no E(B−V).

use std::path::Path;

/// DR17 keywords DR19 headers do not have.
const DROPPED: [&str; 6] = [
    "FIELD", "SFD_EBV", "VERR_MED", "RV_CHI2", "CCFWHM", "AUTOFWHM",
];

/// DR17 keywords DR19 headers call otherwise (same value).
const RENAMED: [(&str, &str); 7] = [
    ("J", "JMAG"),
    ("J_ERR", "JERR"),
    ("H", "HMAG"),
    ("H_ERR", "HERR"),
    ("K", "KMAG"),
    ("K_ERR", "KERR"),
    ("VHELIO", "VRAD"),
];

/// The 80-character cards of a FITS file's primary header (without `END`) and the byte
/// where the header ends.
fn primary_cards(bytes: &[u8]) -> (Vec<String>, usize) {
    let mut cards = Vec::new();
    for i in 0.. {
        let card = String::from_utf8_lossy(&bytes[i * 80..(i + 1) * 80]).into_owned();
        if card.starts_with("END ") {
            let end = ((i + 1) * 80).div_ceil(2880) * 2880;
            return (cards, end);
        }
        cards.push(card);
    }
    unreachable!()
}

fn keyword(card: &str) -> &str {
    card[..8].trim_end()
}

/// A value card, `KEY = value`, padded to 80 characters (`value` as FITS writes it: a
/// number, or a quoted string).
pub fn card(key: &str, value: &str) -> String {
    format!("{key:<8}= {value:>20}")
        .chars()
        .chain(std::iter::repeat(' '))
        .take(80)
        .collect()
}

/// Copies the DR17 apStar file `src` to `dest` with its primary header in the DR19 style,
/// followed by the `added` keywords (`(key, value as FITS writes it)`): DR17-only keywords
/// are dropped, renamed ones take their DR19 names, and each visit's `VRAD<n>` holds its
/// heliocentric velocity (DR17's `VHELIO<n>`) with `VERR<n>` and `VHELIO<n>` gone.
pub fn dr19_style_copy(src: &Path, dest: &Path, added: &[(&str, &str)]) {
    let bytes = std::fs::read(src).unwrap();
    let (cards, end) = primary_cards(&bytes);
    let mut out: Vec<String> = Vec::new();
    for c in &cards {
        let key = keyword(c);
        let visit_key = key.trim_end_matches(|ch: char| ch.is_ascii_digit());
        let suffix = &key[visit_key.len()..];
        if DROPPED.contains(&key) || (!suffix.is_empty() && ["VERR", "VRAD"].contains(&visit_key)) {
            continue;
        }
        if let Some((_, new)) = RENAMED.iter().find(|(old, _)| *old == key) {
            out.push(format!("{new:<8}{}", &c[8..]));
        } else if visit_key == "VHELIO" && !suffix.is_empty() {
            out.push(format!("{:<8}{}", format!("VRAD{suffix}"), &c[8..]));
        } else {
            out.push(c.clone());
        }
    }
    out.extend(added.iter().map(|(k, v)| card(k, v)));
    out.push(format!("{:<80}", "END"));
    let mut header: Vec<u8> = out.concat().into_bytes();
    header.resize(header.len().div_ceil(2880) * 2880, b' ');
    header.extend_from_slice(&bytes[end..]);
    std::fs::write(dest, header).unwrap();
}
