//! The damage departments do to what they copy, at rates set by the caller: ID typos and
//! transpositions, legacy 15-digit numbers, full-width digits, lowercase x, Excel floats, stray
//! spaces; homophones, traditional characters, spaces and dropped characters in names; the
//! many ways of writing a date; and each department's way of writing an address.

use chrono::{Datelike, NaiveDate};

use super::names::{HOMOPHONES, TRADITIONAL};
use crate::rng::Rng;
use crate::identity::citizen_id;

/// One digit of the first 17 replaced by another.
pub fn id_substitution(rng: &mut Rng, id: &str) -> String {
    let mut b = id.as_bytes().to_vec();
    let pos = rng.range(0, 16) as usize;
    let old = b[pos];
    while b[pos] == old {
        b[pos] = b'0' + rng.range(0, 9) as u8;
    }
    String::from_utf8(b).expect("ascii")
}

/// Two different adjacent digits swapped; the number unchanged if all are equal.
pub fn id_transposition(rng: &mut Rng, id: &str) -> String {
    let mut b = id.as_bytes().to_vec();
    for _ in 0..20 {
        let pos = rng.range(0, 15) as usize;
        if b[pos] != b[pos + 1] {
            b.swap(pos, pos + 1);
            break;
        }
    }
    String::from_utf8(b).expect("ascii")
}

pub fn full_width(id: &str) -> String {
    id.chars()
        .map(|c| if c.is_ascii_alphanumeric() { char::from_u32(c as u32 + 0xFEE0).unwrap_or(c) } else { c })
        .collect()
}

/// What a spreadsheet shows of an 18-digit number stored as a float.
pub fn excel_float(id: &str) -> String {
    let digits: String = id.chars().take(6).collect();
    format!("{}.{}E+17", &digits[..1], digits[1..].trim_end_matches('0'))
}

pub fn stray_spaces(rng: &mut Rng, text: &str) -> String {
    match rng.range(0, 2) {
        0 => format!(" {text}"),
        1 => format!("{text} "),
        _ => {
            let chars: Vec<char> = text.chars().collect();
            let at = (chars.len() / 2).max(1);
            chars[..at].iter().chain([' '].iter()).chain(chars[at..].iter()).collect()
        }
    }
}

/// The legacy 15-digit form, for people born in the 1900s.
pub fn legacy_15(id: &str) -> Option<String> {
    citizen_id::downgrade_to_15(id)
}

/// A given-name character swapped for a homophone, if the name has one.
pub fn homophone(rng: &mut Rng, surname: &str, given: &str) -> Option<String> {
    let chars: Vec<char> = given.chars().collect();
    let swappable: Vec<usize> = (0..chars.len())
        .filter(|&i| HOMOPHONES.iter().any(|(a, b)| *a == chars[i] || *b == chars[i]))
        .collect();
    if swappable.is_empty() {
        return None;
    }
    let i = *rng.pick(&swappable);
    let mut out = chars.clone();
    out[i] = HOMOPHONES.iter().find_map(|(a, b)| if *a == chars[i] { Some(*b) } else if *b == chars[i] { Some(*a) } else { None })?;
    Some(format!("{surname}{}", out.iter().collect::<String>()))
}

/// Every character with a traditional form written in it.
pub fn traditional(name: &str) -> Option<String> {
    let out: String = name.chars().map(|c| TRADITIONAL.iter().find(|(s, _)| *s == c).map_or(c, |(_, t)| *t)).collect();
    (out != name).then_some(out)
}

/// A two-character given name losing one character.
pub fn dropped_character(rng: &mut Rng, surname: &str, given: &str) -> Option<String> {
    let chars: Vec<char> = given.chars().collect();
    (chars.len() == 2).then(|| format!("{surname}{}", chars[rng.range(0, 1) as usize]))
}

/// A rare character a system could not encode, written as `?`.
pub fn question_mark(surname: &str, given: &str) -> Option<String> {
    let mut chars: Vec<char> = given.chars().collect();
    let last = chars.last_mut()?;
    *last = '?';
    Some(format!("{surname}{}", chars.iter().collect::<String>()))
}

/// Ways of writing a day; the style is picked per row.
pub fn date_text(rng: &mut Rng, date: NaiveDate, styles: &[(DateStyle, f64)]) -> String {
    let (y, m, d) = (date.year(), date.month(), date.day());
    match rng.weighted(styles) {
        DateStyle::Iso => format!("{y:04}-{m:02}-{d:02}"),
        DateStyle::Compact => format!("{y:04}{m:02}{d:02}"),
        DateStyle::Slash => format!("{y}/{m}/{d}"),
        DateStyle::Chinese => format!("{y}年{m}月{d}日"),
        DateStyle::Dotted => format!("{y}.{m:02}.{d:02}"),
        DateStyle::ExcelSerial => {
            let epoch = NaiveDate::from_ymd_opt(1899, 12, 30).expect("valid");
            (date - epoch).num_days().to_string()
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub enum DateStyle {
    Iso,
    Compact,
    Slash,
    Chinese,
    Dotted,
    ExcelSerial,
}

/// How a department writes the addresses it copies from the household register's
/// `宜昌市西陵区夷陵路12号3-201` (city, district, road, door number, building-room).
#[derive(Debug, Clone, Copy)]
pub enum AddressStyle {
    /// The property register's 坐落: province first, `3栋201室`.
    Property,
    /// Rental filings: no city, `3幢201` or `3号楼201室`.
    Rental,
    /// Floating-population registrations: as registered, `201室`, or full-width digits.
    Floating,
}

/// The register's address as a department writes it; an address not in the register's form is
/// returned as it is.
pub fn address_text(rng: &mut Rng, registered: &str, style: AddressStyle) -> String {
    let Some((street, tail)) = registered.split_once('号') else { return registered.to_string() };
    let Some((building, room)) = tail.split_once('-') else { return registered.to_string() };
    let without_city = street.split_once('市').map_or(street, |(_, rest)| rest);
    match (style, rng.range(0, 9)) {
        (AddressStyle::Property, 0..=6) => format!("湖北省{street}号{building}栋{room}室"),
        (AddressStyle::Property, _) => registered.to_string(),
        (AddressStyle::Rental, 0..=4) => format!("{without_city}号{building}幢{room}"),
        (AddressStyle::Rental, _) => format!("{street}号{building}号楼{room}室"),
        (AddressStyle::Floating, 0..=3) => format!("{registered}室"),
        (AddressStyle::Floating, 4..=5) => full_width(registered),
        (AddressStyle::Floating, _) => registered.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damage_is_what_identity_repairs() {
        let mut rng = Rng::new(7);
        let id = citizen_id::compose("420502", NaiveDate::from_ymd_opt(1980, 2, 3).unwrap(), 17);
        let today = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        assert_eq!(citizen_id::normalize(&full_width(&id), today).text, id);
        assert_eq!(citizen_id::normalize(&legacy_15(&id).unwrap(), today).text, id);
        assert_eq!(citizen_id::normalize(&excel_float(&id), today).status, citizen_id::IdStatus::ExcelDamaged);
        let typo = id_substitution(&mut rng, &id);
        assert!(citizen_id::repair_candidates(&typo).contains(&id));
        assert_eq!(crate::identity::names::matching_key(&traditional("张伟").unwrap()), "张伟");
        assert!(homophone(&mut rng, "李", "丽").is_some());
    }
}
