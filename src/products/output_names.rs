//! astroNN's target names (`targetname` in a model folder's JSON) as table columns: DR19's
//! column name where DR19 has one, else a plain lower-case name. This is the one table of
//! that mapping; the networks, the tables and the Python face all name outputs through
//! [`column_name`].
//!
//! astroNN spells targets two ways: astroNN 1.1's short names (`teff`, `logg`, `M`, `alpha`,
//! `C`, `C1`, …, `Ti2`, …, `fakemag`) and the bracketed names of Leung & Bovy (2019)'s
//! published models (`[C/H]`, `[CI/H]`, `[TiII/H]`, `[Alpha/M]`, …). Both map to the same
//! column.

/// Targets whose column is not made by the element rule: (target, lower-cased; column).
const NAMED: [(&str, &str); 9] = [
    ("teff", "teff"),
    ("logg", "logg"),
    ("m", "m_h"),
    ("[m/h]", "m_h"),
    ("alpha", "alpha_m"),
    ("[alpha/m]", "alpha_m"),
    ("fakemag", "L_fakemag"),
    ("ks-band fakemag", "L_fakemag"),
    ("l_fakemag", "L_fakemag"),
];

/// The chemical elements' symbols: an element target is one of them, as astroNN writes it
/// (`C`, `Fe`, …), optionally with its ionisation stage.
const ELEMENTS: [&str; 118] = [
    "H", "He", "Li", "Be", "B", "C", "N", "O", "F", "Ne", "Na", "Mg", "Al", "Si", "P", "S", "Cl",
    "Ar", "K", "Ca", "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Ga", "Ge", "As",
    "Se", "Br", "Kr", "Rb", "Sr", "Y", "Zr", "Nb", "Mo", "Tc", "Ru", "Rh", "Pd", "Ag", "Cd", "In",
    "Sn", "Sb", "Te", "I", "Xe", "Cs", "Ba", "La", "Ce", "Pr", "Nd", "Pm", "Sm", "Eu", "Gd", "Tb",
    "Dy", "Ho", "Er", "Tm", "Yb", "Lu", "Hf", "Ta", "W", "Re", "Os", "Ir", "Pt", "Au", "Hg", "Tl",
    "Pb", "Bi", "Po", "At", "Rn", "Fr", "Ra", "Ac", "Th", "Pa", "U", "Np", "Pu", "Am", "Cm", "Bk",
    "Cf", "Es", "Fm", "Md", "No", "Lr", "Rf", "Db", "Sg", "Bh", "Hs", "Mt", "Ds", "Rg", "Cn", "Nh",
    "Fl", "Mc", "Lv", "Ts", "Og",
];

/// Ionisation stages as astroNN writes them after a symbol: a digit (`C1`, `Ti2`: astroNN's
/// count from the neutral atom's `1`) or a Roman numeral (`CI`, `TiII`), and the number
/// DR19's column carries (`c_1_h`, `ti_2_h`).
const STAGES: [(&str, u32); 6] = [
    ("1", 1),
    ("2", 2),
    ("3", 3),
    ("I", 1),
    ("II", 2),
    ("III", 3),
];

/// The column of astroNN target `target`:
/// - `teff`, `logg`; `M` or `[M/H]` → `m_h`; `alpha` or `[Alpha/M]` → `alpha_m`; `fakemag`
///   or `Ks-band fakemag` → `L_fakemag`;
/// - an element `X` or `[X/H]` → `x_h`, with its ionisation stage as DR19 writes it (`C1`
///   and `[CI/H]` → `c_1_h`, `Ti2` and `[TiII/H]` → `ti_2_h`);
/// - any other name: lower case, each run of characters other than letters and digits one
///   `_` (`age` → `age`, `log(age)` → `log_age_`).
pub fn column_name(target: &str) -> String {
    let trimmed = target.trim();
    let lower = trimmed.to_lowercase();
    if let Some((_, column)) = NAMED.iter().find(|(name, _)| *name == lower) {
        return column.to_string();
    }
    let element = trimmed
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix("/H]"))
        .unwrap_or(trimmed);
    element_column(element).unwrap_or_else(|| plain(&lower))
}

/// `x_h` (or `x_<stage>_h`) when `name` is an element symbol, with an optional stage.
fn element_column(name: &str) -> Option<String> {
    let symbol = ELEMENTS
        .iter()
        .filter(|symbol| name.starts_with(**symbol))
        .max_by_key(|symbol| symbol.len())?;
    let stage = &name[symbol.len()..];
    let symbol = symbol.to_lowercase();
    if stage.is_empty() {
        return Some(format!("{symbol}_h"));
    }
    let (_, number) = STAGES.iter().find(|(spelling, _)| *spelling == stage)?;
    Some(format!("{symbol}_{number}_h"))
}

/// Lower case, each run of characters other than ASCII letters and digits one `_`.
fn plain(lower: &str) -> String {
    let mut out = String::with_capacity(lower.len());
    let mut in_run = false;
    for c in lower.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
            in_run = false;
        } else if !in_run {
            out.push('_');
            in_run = true;
        }
    }
    out
}

/// The columns of `targets`, refusing two targets that name the same column.
pub fn column_names(targets: &[String]) -> Result<Vec<String>, String> {
    let columns: Vec<String> = targets.iter().map(|t| column_name(t)).collect();
    for (i, column) in columns.iter().enumerate() {
        if let Some(j) = columns[..i].iter().position(|c| c == column) {
            return Err(format!(
                "targets '{}' and '{}' both name the column '{column}'",
                targets[j], targets[i]
            ));
        }
        if column.is_empty() || column == "_" {
            return Err(format!("target '{}' names no column", targets[i]));
        }
    }
    Ok(columns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::censored::LABELS;

    #[test]
    fn astronn_short_names_map_to_dr19_columns() {
        let short = [
            "teff", "logg", "C", "C1", "N", "O", "Na", "Mg", "Al", "Si", "P", "S", "K", "Ca", "Ti",
            "Ti2", "V", "Cr", "Mn", "Fe", "Co", "Ni",
        ];
        let columns: Vec<String> = short.iter().map(|t| column_name(t)).collect();
        assert_eq!(columns, LABELS);
    }

    #[test]
    fn the_papers_bracketed_names_map_to_the_same_columns() {
        let paper = [
            "teff", "logg", "[C/H]", "[CI/H]", "[N/H]", "[O/H]", "[Na/H]", "[Mg/H]", "[Al/H]",
            "[Si/H]", "[P/H]", "[S/H]", "[K/H]", "[Ca/H]", "[Ti/H]", "[TiII/H]", "[V/H]", "[Cr/H]",
            "[Mn/H]", "[Fe/H]", "[Co/H]", "[Ni/H]",
        ];
        let columns: Vec<String> = paper.iter().map(|t| column_name(t)).collect();
        assert_eq!(columns, LABELS);
    }

    #[test]
    fn metallicity_alpha_and_fakemag_have_dr19_names() {
        for (target, column) in [
            ("M", "m_h"),
            ("[M/H]", "m_h"),
            ("alpha", "alpha_m"),
            ("[Alpha/M]", "alpha_m"),
            ("fakemag", "L_fakemag"),
            ("Ks-band fakemag", "L_fakemag"),
            ("Teff", "teff"),
        ] {
            assert_eq!(column_name(target), column, "{target}");
        }
    }

    #[test]
    fn other_names_are_lower_case_with_runs_of_other_characters_one_underscore() {
        assert_eq!(column_name("age"), "age");
        assert_eq!(column_name("mass"), "mass");
        assert_eq!(column_name("log(age) [Gyr]"), "log_age_gyr_");
        assert_eq!(column_name("Vmacro"), "vmacro");
        // Not an element with a stage: "Cx" is neither a symbol nor a symbol and stage.
        assert_eq!(column_name("Cx"), "cx");
        // The longest symbol wins: "Co" is cobalt, not carbon and "o".
        assert_eq!(column_name("Co"), "co_h");
        assert_eq!(column_name("CeII"), "ce_2_h");
    }

    #[test]
    fn two_targets_of_one_column_are_refused() {
        let targets = ["C".to_string(), "[C/H]".to_string()];
        let error = column_names(&targets).unwrap_err();
        assert!(
            error.contains("'C' and '[C/H]'") && error.contains("c_h"),
            "{error}"
        );
        assert!(column_names(&["?".to_string()]).is_err());
        assert_eq!(
            column_names(&["age".into(), "mass".into()]).unwrap(),
            ["age", "mass"]
        );
    }
}
