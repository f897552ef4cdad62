//! Comparisons of a mention with a candidate person. Each comparison puts the pair on one of its
//! levels (level 0: nothing to compare); the linkage model (`model.rs`) weighs each level by
//! Fellegi–Sunter's log2(m/u), exact names and homophones by how common the name is. A pair's
//! match weight is the prior plus its levels' weights: the log2 odds that both are one person.

use std::collections::HashMap;

use crate::identity::citizen_id::{self, IdStatus};
use crate::identity::dates;
use crate::identity::names::{NameAgreement, compare as compare_names};

use super::comparison::*;
use super::model::Model;

/// What is known of one side of a comparison.
#[derive(Debug, Clone, Copy, Default)]
pub struct Side<'a> {
    /// The usable ID number (valid, or upgraded from 15 digits).
    pub citizen_id: Option<&'a str>,
    /// The name's matching key.
    pub name_key: Option<&'a str>,
    /// Toneless pinyin of the name key.
    pub pinyin: Option<&'a str>,
    /// `M` or `F`.
    pub sex: Option<&'a str>,
    /// Birth date, in days since 1970-01-01.
    pub birth_date: Option<i32>,
    /// Matching key of the address.
    pub address_key: Option<&'a str>,
    /// Household register number.
    pub household: Option<&'a str>,
    /// Birth date and sex written in the mention's own valid number.
    pub id_birth_date: Option<i32>,
    /// Sex written in the mention's own valid number, `M` or `F`.
    pub id_sex: Option<&'a str>,
}

impl<'a> Side<'a> {
    /// A mention's side from its fields: its number counts only if usable (valid, or upgraded
    /// from 15 digits), and then lends the birth date and sex it encodes.
    pub fn of_mention(citizen_id: Option<&'a str>, id_status: Option<&str>, fields: Side<'a>) -> Side<'a> {
        let usable = id_status.is_some_and(|s| s == IdStatus::Valid.as_str() || s == IdStatus::Upgraded15.as_str());
        let id = citizen_id.filter(|_| usable);
        Side {
            citizen_id: id,
            id_birth_date: id.and_then(citizen_id::birth_date).map(dates::to_date32),
            id_sex: id.and_then(citizen_id::sex).map(|s| if s == 'M' { "M" } else { "F" }),
            ..fields
        }
    }
}

/// The numbers one typo from a mention's number whose check character failed; none otherwise.
pub fn repairs(citizen_id: Option<&str>, id_status: Option<&str>) -> Vec<String> {
    match (citizen_id, id_status) {
        (Some(id), Some(s)) if s == IdStatus::ChecksumFailed.as_str() => citizen_id::repair_candidates(id),
        _ => Vec::new(),
    }
}

/// How the mention's ID number relates to the candidate's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdEvidence {
    /// Same valid number.
    Same,
    /// One typo away: a repair candidate of the mention's broken number is the candidate's.
    Repaired,
    /// Both valid and different, and the mention's number names nobody else we know.
    Conflicting,
    /// Both valid and different, and the mention's number is another known person's: the
    /// mention is likely that person, or the number was keyed from a family member's by mistake.
    OthersNumber,
    /// The mention's valid number names nobody we know and the candidate has none: what the
    /// number says (birth date, sex) stands in for fields the record lacks.
    Unclaimed,
    /// The mention's valid number is another known person's whose name is not the mention's: a
    /// family member's number keyed by mistake. It is set aside, like an absent number.
    SetAside,
    /// Nothing to compare: no usable number on one side, or a number of someone else's against
    /// a candidate without one.
    Silent,
}

/// Whose is the mention's valid number, among the persons known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// Nobody's, or the mention has no usable number.
    Nobody,
    /// A person whose name agrees with the mention's (or one of the two has no name).
    NameAgrees,
    /// Only persons whose names differ from the mention's.
    NameDiffers,
}

impl Holder {
    /// Whose the mention's number is, given the sides of the persons holding it.
    pub fn of<'a>(mention: &Side, holders: impl IntoIterator<Item = &'a Side<'a>>) -> Holder {
        let mut found = Holder::Nobody;
        for h in holders {
            let agrees = match (mention.name_key, mention.pinyin, h.name_key, h.pinyin) {
                (Some(a), Some(ap), Some(b), Some(bp)) => compare_names(a, ap, b, bp) != NameAgreement::Different,
                _ => true,
            };
            if agrees {
                return Holder::NameAgrees;
            }
            found = Holder::NameDiffers;
        }
        found
    }
}

/// What the mention's number says about a candidate. `repairs` are the repair candidates of the
/// mention's broken number (empty if it is not broken); `holder` whose its valid number is.
pub fn id_evidence(mention: &Side, repairs: &[String], holder: Holder, candidate: &Side) -> IdEvidence {
    match (mention.citizen_id, candidate.citizen_id) {
        (Some(_), _) if holder == Holder::NameDiffers => IdEvidence::SetAside,
        (Some(a), Some(b)) if a == b => IdEvidence::Same,
        (None, Some(b)) if repairs.iter().any(|r| r == b) => IdEvidence::Repaired,
        (Some(_), Some(_)) if holder == Holder::Nobody => IdEvidence::Conflicting,
        (Some(_), Some(_)) => IdEvidence::OthersNumber,
        (Some(_), None) if holder == Holder::Nobody => IdEvidence::Unclaimed,
        _ => IdEvidence::Silent,
    }
}

/// Puts a pair on its levels.
pub fn compare(mention: &Side, candidate: &Side, id: IdEvidence) -> Pattern {
    let number = match id {
        IdEvidence::Same => NUMBER_SAME,
        IdEvidence::Repaired => NUMBER_REPAIRED,
        IdEvidence::Conflicting => NUMBER_CONFLICTING,
        IdEvidence::OthersNumber => NUMBER_OTHERS,
        IdEvidence::Unclaimed | IdEvidence::SetAside | IdEvidence::Silent => NOT_COMPARED,
    };
    let unclaimed = id == IdEvidence::Unclaimed;
    let birth = mention.birth_date.or(mention.id_birth_date.filter(|_| unclaimed));
    let sex = mention.sex.or(mention.id_sex.filter(|_| unclaimed));
    let name = match (mention.name_key, mention.pinyin, candidate.name_key, candidate.pinyin) {
        (Some(a), Some(ap), Some(b), Some(bp)) => match compare_names(a, ap, b, bp) {
            NameAgreement::Exact => NAME_EXACT,
            NameAgreement::Homophone => NAME_HOMOPHONE,
            NameAgreement::NearGiven => NAME_NEAR_GIVEN,
            NameAgreement::Different => NAME_DIFFERENT,
        },
        _ => NOT_COMPARED,
    };
    fn agreement<T: PartialEq>(a: Option<T>, b: Option<T>) -> u8 {
        match (a, b) {
            (Some(a), Some(b)) if a == b => AGREE,
            (Some(_), Some(_)) => DISAGREE,
            _ => NOT_COMPARED,
        }
    }
    let same = |a: Option<&str>, b: Option<&str>| a.is_some() && a == b;
    let both = |a: Option<&str>, b: Option<&str>| a.is_some() && b.is_some();
    let place = if same(mention.address_key, candidate.address_key) || same(mention.household, candidate.household) {
        AGREE
    } else if both(mention.address_key, candidate.address_key) || both(mention.household, candidate.household) {
        DISAGREE
    } else {
        NOT_COMPARED
    };
    [number, name, agreement(birth, candidate.birth_date), agreement(sex, candidate.sex), place]
}

/// How often each name and each pinyin reading occurs among the night's mentions: the u of an
/// exact name (or a homophone) is the chance that a random mention bears it.
#[derive(Default)]
pub struct NameFrequencies<'a> {
    names: HashMap<&'a str, u32>,
    readings: HashMap<&'a str, u32>,
    total: u32,
}

impl<'a> NameFrequencies<'a> {
    /// Counts one mention's name and reading; a mention without both is not counted.
    pub fn count(&mut self, name_key: Option<&'a str>, pinyin: Option<&'a str>) {
        if let (Some(name), Some(reading)) = (name_key, pinyin) {
            *self.names.entry(name).or_default() += 1;
            *self.readings.entry(reading).or_default() += 1;
            self.total += 1;
        }
    }

    /// The named mentions counted.
    pub fn total(&self) -> u64 {
        u64::from(self.total)
    }

    /// Shares over this many named mentions instead of those counted (the model's count).
    pub fn fix_total(&mut self, total: u64) {
        self.total = u32::try_from(total).unwrap_or(u32::MAX);
    }

    /// Frequencies counted elsewhere (`explain` counts them over the published mentions).
    pub fn set(&mut self, name_key: &'a str, pinyin: &'a str, name_count: u32, reading_count: u32, total: u32) {
        self.names.insert(name_key, name_count);
        self.readings.insert(pinyin, reading_count);
        self.total = total;
    }

    /// The share of named mentions with this exact name (on level `NAME_EXACT`) or this reading
    /// (on `NAME_HOMOPHONE`); none on other levels.
    pub fn of(&self, side: &Side, name_level: u8) -> Option<f64> {
        let (table, key) = match name_level {
            NAME_EXACT => (&self.names, side.name_key?),
            NAME_HOMOPHONE => (&self.readings, side.pinyin?),
            _ => return None,
        };
        let n = table.get(key).copied().unwrap_or(0).max(1);
        Some(f64::from(n) / f64::from(self.total.max(1)))
    }
}

/// The weight of one comparison, for `explain`.
#[derive(Debug, Clone)]
pub struct Part {
    /// The comparison's name, e.g. `birth date`.
    pub comparison: &'static str,
    /// The level the pair is on, in words, with the name's frequency for an exact name or homophone.
    pub level: String,
    /// The level's share of the match weight, log2(m/u).
    pub weight: f64,
}

/// A candidate's match weight and what made it.
#[derive(Debug, Clone, Copy)]
pub struct Score {
    /// Match weight: log2 odds that mention and candidate are one person.
    pub weight: f64,
    /// What the mention's number says about the candidate.
    pub id: IdEvidence,
    /// The pair's level on each comparison.
    pub pattern: Pattern,
}

/// Weighs pairs under a model, knowing the night's name frequencies.
pub struct Scorer<'a> {
    /// The learned m and u of every level.
    pub model: &'a Model,
    /// How common each name and reading is among the mentions.
    pub frequencies: &'a NameFrequencies<'a>,
}

impl Scorer<'_> {
    /// Puts a pair on its levels and weighs them.
    pub fn score(&self, mention: &Side, candidate: &Side, id: IdEvidence) -> Score {
        let pattern = compare(mention, candidate, id);
        self.weigh(mention, pattern, id)
    }

    /// Weighs a pair already on its levels.
    pub fn weigh(&self, mention: &Side, pattern: Pattern, id: IdEvidence) -> Score {
        let frequency = self.frequencies.of(mention, pattern[NAME]);
        Score { weight: self.model.match_weight(&pattern, frequency), id, pattern }
    }

    /// Each comparison's level and weight, in order (the prior is `model.prior_weight`).
    pub fn breakdown(&self, mention: &Side, score: &Score) -> Vec<Part> {
        let frequency = self.frequencies.of(mention, score.pattern[NAME]);
        (0..COMPARISONS.len())
            .map(|c| {
                let level = score.pattern[c];
                let mut label = COMPARISONS[c].1[level as usize].to_string();
                if c == NUMBER && level == 0 {
                    label = match score.id {
                        IdEvidence::Unclaimed => "number unknown; its birth date and sex count".into(),
                        IdEvidence::SetAside => "set aside: the number is a person's of another name".into(),
                        IdEvidence::Silent => "nothing to compare".into(),
                        _ => label,
                    };
                }
                if let (NAME, Some(f)) = (c, frequency) {
                    label = format!("{label} (1 in {:.0} mentions)", 1.0 / f);
                }
                Part { comparison: COMPARISONS[c].0, level: label, weight: self.model.level_weight(c, level, frequency) }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::names::{matching_key, pinyin_key};

    fn side<'a>(key: &'a str, py: &'a str, birth: Option<i32>) -> Side<'a> {
        Side { name_key: Some(key), pinyin: Some(py), sex: Some("M"), birth_date: birth, ..Side::default() }
    }

    #[test]
    fn pairs_fall_on_their_levels() {
        let (a, b) = (matching_key("张伟"), matching_key("張偉"));
        let (pa, pb) = (pinyin_key(&a), pinyin_key(&b));
        let mut m = side(&a, &pa, Some(100));
        let mut c = side(&b, &pb, Some(100));
        m.address_key = Some("x");
        c.address_key = Some("x");
        assert_eq!(compare(&m, &c, IdEvidence::Silent), [0, 1, 1, 1, 1]);
        assert_eq!(compare(&m, &c, IdEvidence::Same), [1, 1, 1, 1, 1]);
        c.address_key = Some("y");
        c.birth_date = Some(101);
        assert_eq!(compare(&m, &c, IdEvidence::Conflicting), [3, 1, 2, 1, 2]);
        // An unclaimed number lends the record its birth date.
        let mut bare = side(&a, &pa, None);
        bare.id_birth_date = Some(101);
        assert_eq!(compare(&bare, &c, IdEvidence::Unclaimed)[BIRTH], 1);
        assert_eq!(compare(&bare, &c, IdEvidence::Silent)[BIRTH], 0);
    }

    #[test]
    fn a_number_names_its_holder_or_says_nothing() {
        let repairs = vec!["B".to_string()];
        let (wei, fang) = (matching_key("张伟"), matching_key("李芳"));
        let (pw, pf) = (pinyin_key(&wei), pinyin_key(&fang));
        let m = Side { citizen_id: Some("A"), name_key: Some(&wei), pinyin: Some(&pw), ..Side::default() };
        let broken = Side::default();
        let holder = |id, name, pinyin| Side { citizen_id: Some(id), name_key: Some(name), pinyin: Some(pinyin), ..Side::default() };
        let (a_wei, a_fang, c_fang) = (holder("A", &wei, &pw), holder("A", &fang, &pf), holder("C", &fang, &pf));
        assert_eq!(Holder::of(&m, [&a_wei]), Holder::NameAgrees);
        assert_eq!(Holder::of(&m, [&a_fang]), Holder::NameDiffers);
        assert_eq!(id_evidence(&m, &[], Holder::NameAgrees, &a_wei), IdEvidence::Same);
        assert_eq!(id_evidence(&broken, &repairs, Holder::Nobody, &holder("B", &wei, &pw)), IdEvidence::Repaired);
        assert_eq!(id_evidence(&m, &[], Holder::Nobody, &c_fang), IdEvidence::Conflicting);
        assert_eq!(id_evidence(&m, &[], Holder::NameAgrees, &c_fang), IdEvidence::OthersNumber);
        assert_eq!(id_evidence(&m, &[], Holder::NameAgrees, &Side::default()), IdEvidence::Silent);
        assert_eq!(id_evidence(&m, &[], Holder::Nobody, &Side::default()), IdEvidence::Unclaimed);
        // A spouse's number keyed for 张伟: set aside, for the spouse and for everyone else.
        assert_eq!(id_evidence(&m, &[], Holder::NameDiffers, &a_fang), IdEvidence::SetAside);
        assert_eq!(id_evidence(&m, &[], Holder::NameDiffers, &c_fang), IdEvidence::SetAside);
    }
}
