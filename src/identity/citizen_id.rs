//! The citizen identity number (GB 11643-1999): normalisation, the check character, the 15→18
//! upgrade, what the number itself says (region, birth date, sex) and typo repair candidates.
//!
//! Everything here works on one value; `identity::udf` lifts it onto Arrow arrays.

use chrono::{Datelike, NaiveDate};

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK_CHARS: &[u8; 11] = b"10X98765432";

/// What normalisation made of a raw ID value. The order is from best to worst evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdStatus {
    /// 18 characters, check character right, date possible.
    Valid,
    /// A legacy 15-digit number upgraded to 18 characters.
    Upgraded15,
    /// 18 characters of the right shape whose check character is wrong: a typo somewhere.
    ChecksumFailed,
    /// The check character is right but the embedded birth date is impossible or in the future.
    ImpossibleDate,
    /// A legacy 15-digit number with sequence 996–999 (born 18xx): flagged, not upgraded.
    Centenarian15,
    /// Excel turned the number into a float (`4.20502E+17`): the digits are lost.
    ExcelDamaged,
    /// Anything else that is not empty.
    Malformed,
    /// Empty or absent.
    Missing,
}

impl IdStatus {
    /// The status's code, as published and as `citizen_id_status` gives it (`valid`, `upgraded_15`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            IdStatus::Valid => "valid",
            IdStatus::Upgraded15 => "upgraded_15",
            IdStatus::ChecksumFailed => "checksum_failed",
            IdStatus::ImpossibleDate => "impossible_date",
            IdStatus::Centenarian15 => "centenarian_15",
            IdStatus::ExcelDamaged => "excel_damaged",
            IdStatus::Malformed => "malformed",
            IdStatus::Missing => "missing",
        }
    }

    /// Whether the normalised number can be used as a key.
    pub fn is_usable(self) -> bool {
        matches!(self, IdStatus::Valid | IdStatus::Upgraded15)
    }
}

/// A normalised ID: the cleaned characters and what they are worth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizedId {
    /// Cleaned text: half-width, upper-case, no spaces; 18 characters when upgraded.
    pub text: String,
    /// What the cleaned text is worth as evidence.
    pub status: IdStatus,
}

/// The check character for the first 17 digits; `None` if they are not all digits.
pub fn check_char(first17: &[u8]) -> Option<u8> {
    if first17.len() != 17 {
        return None;
    }
    let mut sum = 0u32;
    for (b, w) in first17.iter().zip(WEIGHTS) {
        if !b.is_ascii_digit() {
            return None;
        }
        sum += u32::from(b - b'0') * w;
    }
    Some(CHECK_CHARS[(sum % 11) as usize])
}

/// Whether an 18-character number carries the right check character (date not considered).
pub fn checksum_ok(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 18 && check_char(&b[..17]) == Some(b[17])
}

/// Folds full-width digits and letters to ASCII, drops all white space (including the
/// ideographic space) and upper-cases `x`.
pub fn clean_text(raw: &str) -> String {
    raw.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '\u{FF10}'..='\u{FF19}' | '\u{FF21}'..='\u{FF3A}' | '\u{FF41}'..='\u{FF5A}' => {
                char::from_u32(c as u32 - 0xFEE0).unwrap_or(c)
            }
            _ => c,
        })
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Normalises one raw value: cleaning, the 15→18 upgrade, the check character and the date.
pub fn normalize(raw: &str, today: NaiveDate) -> NormalizedId {
    let text = clean_text(raw);
    if text.is_empty() {
        return NormalizedId { text, status: IdStatus::Missing };
    }
    if is_excel_float(&text) {
        return NormalizedId { text, status: IdStatus::ExcelDamaged };
    }
    let bytes = text.as_bytes();
    if bytes.len() == 15 && bytes.iter().all(u8::is_ascii_digit) {
        return match upgrade_15(&text) {
            Some(upgraded) => {
                let status = if birth_date(&upgraded).is_some_and(|d| d <= today) {
                    IdStatus::Upgraded15
                } else {
                    IdStatus::ImpossibleDate
                };
                NormalizedId { text: upgraded, status }
            }
            None => NormalizedId { text, status: IdStatus::Centenarian15 },
        };
    }
    let well_formed = bytes.len() == 18
        && bytes[..17].iter().all(u8::is_ascii_digit)
        && (bytes[17].is_ascii_digit() || bytes[17] == b'X');
    if !well_formed {
        return NormalizedId { text, status: IdStatus::Malformed };
    }
    let status = if !checksum_ok(&text) {
        IdStatus::ChecksumFailed
    } else if birth_date(&text).is_some_and(|d| d <= today) {
        IdStatus::Valid
    } else {
        IdStatus::ImpossibleDate
    };
    NormalizedId { text, status }
}

/// `4.20502E+17`, `420502199001011234.0` and the like: what a spreadsheet leaves of a long number.
fn is_excel_float(text: &str) -> bool {
    let has_exponent = text.contains('E') && text.chars().any(|c| c.is_ascii_digit());
    let only_float_chars = text.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'E' | '+' | '-'));
    only_float_chars && (has_exponent || text.contains('.'))
}

/// Upgrades a legacy 15-digit number: "19" after the address code, then the check character.
/// Returns `None` for sequences 996–999, which marked people born in the 1800s.
pub fn upgrade_15(id15: &str) -> Option<String> {
    let b = id15.as_bytes();
    if b.len() != 15 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if matches!(&id15[12..15], "996" | "997" | "998" | "999") {
        return None;
    }
    let mut out = String::with_capacity(18);
    out.push_str(&id15[..6]);
    out.push_str("19");
    out.push_str(&id15[6..15]);
    let check = check_char(out.as_bytes())?;
    out.push(check as char);
    Some(out)
}

/// The birth date written in an 18-character number, if it is a real calendar date.
pub fn birth_date(id18: &str) -> Option<NaiveDate> {
    let digits = id18.get(6..14)?;
    let y: i32 = digits.get(0..4)?.parse().ok()?;
    let m: u32 = digits.get(4..6)?.parse().ok()?;
    let d: u32 = digits.get(6..8)?.parse().ok()?;
    NaiveDate::from_ymd_opt(y, m, d).filter(|date| date.year() >= 1850)
}

/// Sex from the sequence digit: odd is male.
pub fn sex(id18: &str) -> Option<char> {
    let digit = id18.as_bytes().get(16)?;
    digit.is_ascii_digit().then(|| if (digit - b'0') % 2 == 1 { 'M' } else { 'F' })
}

/// The six-digit address code of the county of registration at issuance.
pub fn region_code(id18: &str) -> Option<&str> {
    id18.get(0..6).filter(|c| c.bytes().all(|b| b.is_ascii_digit()))
}

/// Valid numbers one typo away from a well-formed number whose check character fails:
/// one substitution in each of the 18 positions and each adjacent transposition.
/// Each candidate still has to be corroborated by other evidence before it is used.
pub fn repair_candidates(id: &str) -> Vec<String> {
    let b = id.as_bytes();
    let mut out = Vec::new();
    if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
        return out;
    }
    // A wrong check character: the one right replacement.
    if let Some(c) = check_char(&b[..17]) {
        if c != b[17] {
            let mut s = b.to_vec();
            s[17] = c;
            out.push(String::from_utf8(s).expect("ascii"));
        }
    }
    // A wrong digit: for each position exactly one replacement passes.
    for pos in 0..17 {
        for digit in b'0'..=b'9' {
            if digit == b[pos] {
                continue;
            }
            let mut s = b.to_vec();
            s[pos] = digit;
            if check_char(&s[..17]) == Some(s[17]) {
                out.push(String::from_utf8(s).expect("ascii"));
            }
        }
    }
    for pos in 0..17 {
        if b[pos] == b[pos + 1] || (pos == 16 && !b[17].is_ascii_digit()) {
            continue;
        }
        let mut s = b.to_vec();
        s.swap(pos, pos + 1);
        if check_char(&s[..17]) == Some(s[17]) {
            out.push(String::from_utf8(s).expect("ascii"));
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Builds a valid 18-character number from its parts (used by the generator and tests).
pub fn compose(region: &str, birth: NaiveDate, sequence: u32) -> String {
    let mut s = format!("{region}{}{sequence:03}", birth.format("%Y%m%d"));
    let check = check_char(s.as_bytes()).expect("digits");
    s.push(check as char);
    s
}

/// The legacy 15-digit form of an 18-character number born in the 1900s.
pub fn downgrade_to_15(id18: &str) -> Option<String> {
    (id18.len() == 18 && &id18[6..8] == "19").then(|| format!("{}{}", &id18[..6], &id18[8..17]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
    }

    #[test]
    fn check_character_matches_the_standard_example() {
        // The worked example of GB 11643-1999.
        assert!(checksum_ok("11010519491231002X"));
        assert!(!checksum_ok("110105194912310021"));
        assert_eq!(compose("110105", NaiveDate::from_ymd_opt(1949, 12, 31).unwrap(), 2), "11010519491231002X");
    }

    #[test]
    fn normalisation_folds_width_case_and_spaces() {
        let n = normalize(" １１０１０５ 19491231002x\u{3000}", today());
        assert_eq!(n.text, "11010519491231002X");
        assert_eq!(n.status, IdStatus::Valid);
        assert_eq!(normalize("", today()).status, IdStatus::Missing);
        assert_eq!(normalize("4.20502E+17", today()).status, IdStatus::ExcelDamaged);
        assert_eq!(normalize("12345", today()).status, IdStatus::Malformed);
    }

    #[test]
    fn legacy_15_digit_numbers_upgrade_and_centenarians_are_flagged() {
        let n = normalize("110105491231002", today());
        assert_eq!(n.status, IdStatus::Upgraded15);
        assert_eq!(n.text, "11010519491231002X");
        assert_eq!(upgrade_15("110105491231996"), None);
        assert_eq!(normalize("110105491231997", today()).status, IdStatus::Centenarian15);
        assert_eq!(downgrade_to_15("11010519491231002X").as_deref(), Some("110105491231002"));
    }

    #[test]
    fn impossible_and_future_dates_pass_the_checksum_but_are_caught() {
        let feb30 = {
            let mut s = String::from("11010519900230001");
            s.push(check_char(s.as_bytes()).unwrap() as char);
            s
        };
        assert!(checksum_ok(&feb30));
        assert_eq!(normalize(&feb30, today()).status, IdStatus::ImpossibleDate);
        let future = compose("110105", NaiveDate::from_ymd_opt(2030, 1, 1).unwrap(), 11);
        assert_eq!(normalize(&future, today()).status, IdStatus::ImpossibleDate);
    }

    #[test]
    fn decoding_reads_birth_date_sex_and_region() {
        let id = "11010519491231002X";
        assert_eq!(birth_date(id), NaiveDate::from_ymd_opt(1949, 12, 31));
        assert_eq!(sex(id), Some('F'));
        assert_eq!(region_code(id), Some("110105"));
    }

    #[test]
    fn repair_candidates_contain_the_original_for_a_substitution_and_a_transposition() {
        let original = compose("420502", NaiveDate::from_ymd_opt(1985, 6, 17).unwrap(), 123);
        let mut typo = original.clone().into_bytes();
        typo[9] = if typo[9] == b'9' { b'0' } else { typo[9] + 1 };
        let typo = String::from_utf8(typo).unwrap();
        assert_eq!(normalize(&typo, today()).status, IdStatus::ChecksumFailed);
        let candidates = repair_candidates(&typo);
        assert!(candidates.contains(&original));
        assert!(candidates.len() <= 18 + 17);
        assert!(candidates.iter().all(|c| checksum_ok(c)));

        let mut swapped = original.clone().into_bytes();
        let pos = (6..16).find(|&i| swapped[i] != swapped[i + 1]).unwrap();
        swapped.swap(pos, pos + 1);
        let swapped = String::from_utf8(swapped).unwrap();
        if !checksum_ok(&swapped) {
            assert!(repair_candidates(&swapped).contains(&original));
        }
    }

    #[test]
    fn every_single_substitution_is_caught_by_the_check_character() {
        let original = compose("420506", NaiveDate::from_ymd_opt(1970, 3, 9).unwrap(), 57);
        for pos in 0..17 {
            for d in b'0'..=b'9' {
                let mut s = original.clone().into_bytes();
                if s[pos] == d {
                    continue;
                }
                s[pos] = d;
                assert!(!checksum_ok(std::str::from_utf8(&s).unwrap()));
            }
        }
    }
}
