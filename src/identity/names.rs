//! Chinese personal names for matching: cleaning, a simplified-character matching key, a
//! toneless pinyin key for homophones, surname/given-name split, and a graded comparison.
//!
//! The matching key is never written back over a registered name: 於 and 于 are both surnames.

use pinyin::ToPinyin;

/// Two-character surnames that would otherwise be split after their first character.
const COMPOUND_SURNAMES: &[&str] = &[
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒", "夏侯", "令狐", "端木", "申屠",
];

/// Surnames whose surname reading differs from the everyday reading the pinyin table gives.
const SURNAME_READINGS: &[(char, &str)] =
    &[('单', "shan"), ('曾', "zeng"), ('解', "xie"), ('仇', "qiu"), ('区', "ou"), ('朴', "piao"), ('查', "zha"), ('盖', "ge"), ('乐', "yue"), ('缪', "miao")];

/// Removes white space of every width and folds full-width letters and digits.
pub fn clean(raw: &str) -> String {
    raw.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// The key names are compared on: cleaned and traditional characters folded to simplified.
pub fn matching_key(raw: &str) -> String {
    fast2s::convert(&clean(raw))
}

/// Toneless pinyin of a matching key, syllables joined by nothing; the surname is read as a surname.
/// Characters without a reading (ASCII, `?`) are kept as they are, lower-cased.
pub fn pinyin_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len() * 2);
    for (i, c) in key.chars().enumerate() {
        let surname_reading = (i == 0).then(|| SURNAME_READINGS.iter().find(|(s, _)| *s == c)).flatten();
        match (surname_reading, c.to_pinyin()) {
            (Some((_, reading)), _) => out.push_str(reading),
            (None, Some(p)) => out.push_str(p.plain()),
            (None, None) => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// Splits a matching key into surname and given name, knowing the compound surnames.
pub fn split_surname(key: &str) -> (&str, &str) {
    if let Some(compound) = COMPOUND_SURNAMES.iter().find(|s| key.starts_with(**s)) {
        if key.len() > compound.len() {
            return key.split_at(compound.len());
        }
    }
    match key.char_indices().nth(1) {
        Some((i, _)) => key.split_at(i),
        None => (key, ""),
    }
}

/// How two names agree, from strongest to weakest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NameAgreement {
    /// Same matching key (after spaces and traditional characters are folded).
    Exact,
    /// Same surname, given names read the same (丽/莉): a homophone or a stand-in for a rare character.
    Homophone,
    /// Same surname; the given names differ by one character or one dropped character.
    NearGiven,
    /// Anything else, or a name missing on either side.
    Different,
}

impl NameAgreement {
    /// Snake-case label of the agreement (`exact`, `homophone`, `near_given`, `different`).
    pub fn as_str(self) -> &'static str {
        match self {
            NameAgreement::Exact => "exact",
            NameAgreement::Homophone => "homophone",
            NameAgreement::NearGiven => "near_given",
            NameAgreement::Different => "different",
        }
    }
}

/// Compares two names by their matching keys and pinyin keys.
pub fn compare(a_key: &str, a_pinyin: &str, b_key: &str, b_pinyin: &str) -> NameAgreement {
    if a_key.is_empty() || b_key.is_empty() {
        return NameAgreement::Different;
    }
    if a_key == b_key {
        return NameAgreement::Exact;
    }
    // Homophone surnames start both readings alike: most pairs of strangers end here, cheaply.
    if a_pinyin.as_bytes().first() != b_pinyin.as_bytes().first() {
        return NameAgreement::Different;
    }
    let (a_surname, a_given) = split_surname(a_key);
    let (b_surname, b_given) = split_surname(b_key);
    let same_surname = a_surname == b_surname || pinyin_key(a_surname) == pinyin_key(b_surname);
    if !same_surname {
        return NameAgreement::Different;
    }
    let placeholder = a_key.contains('?') || b_key.contains('?');
    if a_pinyin == b_pinyin || (placeholder && questionmark_fits(a_given, b_given)) {
        return NameAgreement::Homophone;
    }
    let a_chars = a_given.chars().count();
    let b_chars = b_given.chars().count();
    if a_chars >= 1 && b_chars >= 1 && strsim::levenshtein(a_given, b_given) == 1 && a_chars.max(b_chars) >= 2 {
        return NameAgreement::NearGiven;
    }
    NameAgreement::Different
}

/// A `?` stands for one character that the sending system could not encode.
fn questionmark_fits(a: &str, b: &str) -> bool {
    a.chars().count() == b.chars().count()
        && a.chars().zip(b.chars()).all(|(x, y)| x == y || x == '?' || y == '?')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> NameAgreement {
        let (ka, kb) = (matching_key(a), matching_key(b));
        compare(&ka, &pinyin_key(&ka), &kb, &pinyin_key(&kb))
    }

    #[test]
    fn keys_fold_spaces_width_and_traditional_characters() {
        assert_eq!(matching_key(" 張 偉 "), "张伟");
        assert_eq!(matching_key("劉\u{3000}國華"), "刘国华");
        assert_eq!(pinyin_key("张伟"), "zhangwei");
        assert_eq!(pinyin_key("曾丽"), "zengli");
        assert_eq!(pinyin_key("单明"), "shanming");
    }

    #[test]
    fn surnames_split_with_compounds() {
        assert_eq!(split_surname("欧阳娜娜"), ("欧阳", "娜娜"));
        assert_eq!(split_surname("王伟"), ("王", "伟"));
        assert_eq!(split_surname("王"), ("王", ""));
    }

    #[test]
    fn comparison_grades_chinese_name_variation() {
        assert_eq!(cmp("張偉", "张伟"), NameAgreement::Exact);
        assert_eq!(cmp("张 伟", "张伟"), NameAgreement::Exact);
        assert_eq!(cmp("李丽", "李莉"), NameAgreement::Homophone);
        assert_eq!(cmp("王静怡", "王婧怡"), NameAgreement::Homophone);
        assert_eq!(cmp("陈建国", "陈国"), NameAgreement::NearGiven);
        assert_eq!(cmp("陈建国", "陈建军"), NameAgreement::NearGiven);
        assert_eq!(cmp("陈建国", "林建国"), NameAgreement::Different);
        assert_eq!(cmp("王伟", "王芳"), NameAgreement::Different);
        assert_eq!(cmp("", "王芳"), NameAgreement::Different);
    }
}
