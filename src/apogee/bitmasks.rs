//! The bits of APOGEE's star-level bitmasks in DR17's allStar file: `ASPCAPFLAG`
//! (APOGEE_ASPCAPFLAG) and `STARFLAG`/`ANDFLAG` (APOGEE_STARFLAG; `STARFLAG` is the OR of the
//! visits' flags, `ANDFLAG` their AND).
//!
//! The tables are data, transcribed once from the DR17 bitmask definitions: sdss/apogee,
//! `python/apogee/utils/bitmask.py`, classes `AspcapBitMask` and `StarBitMask` (the bit of a
//! name is its index in the class's `name` list). Everything else (training-set selections,
//! the simulated survey's flags) names bits through them.

/// A named bitmask: which name each bit carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bitmask {
    /// The bitmask's SDSS name (`APOGEE_ASPCAPFLAG`).
    pub name: &'static str,
    /// `(name, bit)` of every defined bit, in bit order.
    pub bits: &'static [(&'static str, u32)],
}

/// APOGEE_ASPCAPFLAG (DR17 `AspcapBitMask`): the allStar column `ASPCAPFLAG`.
pub const ASPCAPFLAG: Bitmask = Bitmask {
    name: "APOGEE_ASPCAPFLAG",
    bits: &[
        ("TEFF_WARN", 0),
        ("LOGG_WARN", 1),
        ("VMICRO_WARN", 2),
        ("M_H_WARN", 3),
        ("ALPHA_M_WARN", 4),
        ("C_M_WARN", 5),
        ("N_M_WARN", 6),
        ("STAR_WARN", 7),
        ("CHI2_WARN", 8),
        ("COLORTE_WARN", 9),
        ("ROTATION_WARN", 10),
        ("SN_WARN", 11),
        ("SPEC_HOLE_WARN", 12),
        ("ATMOS_HOLE_WARN", 13),
        ("VSINI_WARN", 14),
        ("TEFF_BAD", 16),
        ("LOGG_BAD", 17),
        ("VMICRO_BAD", 18),
        ("M_H_BAD", 19),
        ("ALPHA_M_BAD", 20),
        ("C_M_BAD", 21),
        ("N_M_BAD", 22),
        ("STAR_BAD", 23),
        ("CHI2_BAD", 24),
        ("COLORTE_BAD", 25),
        ("ROTATION_BAD", 26),
        ("SN_BAD", 27),
        ("SPEC_HOLE_BAD", 28),
        ("ATMOS_HOLE_BAD", 29),
        ("VSINI_BAD", 30),
        ("NO_ASPCAP_RESULT", 31),
        ("MISSING_APSTAR", 32),
        ("NO_GRID", 33),
        ("BAD_FRAC_LOWSNR", 34),
        ("BAD_FRAC_BADPIX", 35),
        ("FERRE_FAIL", 36),
        ("PROBLEM_TARGET", 40),
        ("MULTIPLE_SUSPECT", 41),
    ],
};

/// APOGEE_STARFLAG (DR17 `StarBitMask`): the allStar columns `STARFLAG` and `ANDFLAG`.
pub const STARFLAG: Bitmask = Bitmask {
    name: "APOGEE_STARFLAG",
    bits: &[
        ("BAD_PIXELS", 0),
        ("COMMISSIONING", 1),
        ("BRIGHT_NEIGHBOR", 2),
        ("VERY_BRIGHT_NEIGHBOR", 3),
        ("LOW_SNR", 4),
        ("PERSIST_HIGH", 9),
        ("PERSIST_MED", 10),
        ("PERSIST_LOW", 11),
        ("PERSIST_JUMP_POS", 12),
        ("PERSIST_JUMP_NEG", 13),
        ("SUSPECT_RV_COMBINATION", 16),
        ("SUSPECT_BROAD_LINES", 17),
        ("BAD_RV_COMBINATION", 18),
        ("RV_REJECT", 19),
        ("RV_SUSPECT", 20),
        ("MULTIPLE_SUSPECT", 21),
        ("RV_FAIL", 22),
        ("SUSPECT_ROTATION", 23),
        ("MTPFLUX_LT_75", 24),
        ("MTPFLUX_LT_50", 25),
    ],
};

/// The allStar columns whose bits have names, and their bitmask.
const COLUMNS: [(&str, &Bitmask); 3] = [
    ("ASPCAPFLAG", &ASPCAPFLAG),
    ("STARFLAG", &STARFLAG),
    ("ANDFLAG", &STARFLAG),
];

impl Bitmask {
    /// The bit called `name` (ignoring case), if the bitmask defines it.
    pub fn bit(&self, name: &str) -> Option<u32> {
        self.bits
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, bit)| bit)
    }

    /// The bit called `name`, for constants: evaluated at compile time, an unknown name
    /// fails the build.
    pub const fn bit_of(&self, name: &str) -> u32 {
        let mut i = 0;
        while i < self.bits.len() {
            if str_eq(self.bits[i].0, name) {
                return self.bits[i].1;
            }
            i += 1;
        }
        panic!("no such bit in this bitmask");
    }

    /// The value with only the bit called `name` set (see [`Bitmask::bit_of`]).
    pub const fn value_of(&self, name: &str) -> u64 {
        1 << self.bit_of(name)
    }

    /// The defined names, in bit order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> {
        self.bits.iter().map(|&(name, _)| name)
    }
}

/// The bitmask of an allStar column (`ASPCAPFLAG`, `STARFLAG`, `ANDFLAG`; ignoring case).
pub fn for_column(column: &str) -> Option<&'static Bitmask> {
    COLUMNS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(column.trim()))
        .map(|&(_, mask)| mask)
}

/// The columns [`for_column`] knows, for messages.
pub fn named_columns() -> impl Iterator<Item = &'static str> {
    COLUMNS.iter().map(|&(name, _)| name)
}

/// Byte-wise string equality usable in constants.
const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_bits_are_unique_and_ordered() {
        for mask in [ASPCAPFLAG, STARFLAG] {
            let bits: Vec<u32> = mask.bits.iter().map(|&(_, b)| b).collect();
            assert!(bits.windows(2).all(|w| w[0] < w[1]), "{}", mask.name);
            let mut names: Vec<&str> = mask.names().collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), mask.bits.len(), "{}", mask.name);
        }
    }

    #[test]
    fn bits_by_name() {
        assert_eq!(ASPCAPFLAG.bit("STAR_BAD"), Some(23));
        assert_eq!(ASPCAPFLAG.bit("no_aspcap_result"), Some(31));
        assert_eq!(ASPCAPFLAG.bit("PROBLEM_TARGET"), Some(40));
        assert_eq!(ASPCAPFLAG.bit("STARBAD"), None);
        assert_eq!(STARFLAG.bit("MTPFLUX_LT_50"), Some(25));
        const M_H_BAD: u64 = ASPCAPFLAG.value_of("M_H_BAD");
        assert_eq!(M_H_BAD, 1 << 19);
        assert_eq!(STARFLAG.bit_of("PERSIST_HIGH"), 9);
    }

    #[test]
    fn columns_know_their_bitmask() {
        assert_eq!(for_column("aspcapflag"), Some(&ASPCAPFLAG));
        assert_eq!(for_column("ANDFLAG"), Some(&STARFLAG));
        assert_eq!(for_column("SNR"), None);
        assert_eq!(
            named_columns().collect::<Vec<_>>(),
            ["ASPCAPFLAG", "STARFLAG", "ANDFLAG"]
        );
    }
}
