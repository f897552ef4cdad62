//! Evidence points for "this mention is that person". Each comparison adds or takes points; a
//! link needs `match_points` and a lead of `margin_points` over the runner-up (see the pipeline's
//! `[linkage]`). The ID number is evidence like any other, but strong: it is what names a person.

use crate::identity::names::{NameAgreement, compare};

/// What is known of one side of a comparison.
#[derive(Debug, Clone, Copy, Default)]
pub struct Side<'a> {
    pub citizen_id: Option<&'a str>,
    pub name_key: Option<&'a str>,
    pub pinyin: Option<&'a str>,
    pub sex: Option<&'a str>,
    pub birth_date: Option<i32>,
    pub address_key: Option<&'a str>,
    pub household: Option<&'a str>,
    /// Birth date and sex written in the mention's own valid number.
    pub id_birth_date: Option<i32>,
    pub id_sex: Option<&'a str>,
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
    /// The mention's valid number names nobody we know and the candidate has none: what the
    /// number says (birth date, sex) stands in for fields the record lacks.
    Unclaimed,
    /// Nothing to compare, or the mention's number belongs to someone else (a family member's
    /// number keyed by mistake): it says nothing about this candidate.
    Silent,
}

pub const ID_SAME: i32 = 10;
pub const ID_REPAIRED: i32 = 6;
pub const ID_CONFLICT: i32 = -6;
pub const NAME_EXACT: i32 = 4;
pub const NAME_HOMOPHONE: i32 = 3;
pub const NAME_NEAR: i32 = 1;
/// Outweighs a same number with a same birth date: a twin's number keyed for the other twin.
pub const NAME_DIFFERENT: i32 = -8;
pub const BIRTH_SAME: i32 = 4;
pub const BIRTH_DIFFERENT: i32 = -4;
pub const SEX_SAME: i32 = 1;
pub const SEX_DIFFERENT: i32 = -3;
/// Same registered address, or same household: counted once, and only when the number does not
/// already agree (a household member's number and the household's address are one fact).
pub const SAME_PLACE: i32 = 5;

/// The points of one comparison and the parts that made them.
#[derive(Debug, Clone, Copy)]
pub struct Score {
    pub points: i32,
    pub id: IdEvidence,
    pub name: Option<NameAgreement>,
}

/// Each comparison's outcome and points, in the order they are weighed.
pub type Breakdown = [(&'static str, &'static str, i32); 5];

/// Weighs every comparison; the score is their sum.
pub fn breakdown(mention: &Side, candidate: &Side, id: IdEvidence) -> (Breakdown, Option<NameAgreement>) {
    let number = match id {
        IdEvidence::Same => ("same number", ID_SAME),
        IdEvidence::Repaired => ("one typo from the number", ID_REPAIRED),
        IdEvidence::Conflicting => ("different valid numbers", ID_CONFLICT),
        IdEvidence::Silent => ("nothing to compare, or the number is someone else's", 0),
        IdEvidence::Unclaimed => ("number unknown; its birth date and sex count", 0),
    };
    let unclaimed = id == IdEvidence::Unclaimed;
    let birth = mention.birth_date.or(mention.id_birth_date.filter(|_| unclaimed));
    let sex = mention.sex.or(mention.id_sex.filter(|_| unclaimed));
    let name = match (mention.name_key, mention.pinyin, candidate.name_key, candidate.pinyin) {
        (Some(a), Some(ap), Some(b), Some(bp)) => Some(compare(a, ap, b, bp)),
        _ => None,
    };
    let name_points = match name {
        Some(NameAgreement::Exact) => NAME_EXACT,
        Some(NameAgreement::Homophone) => NAME_HOMOPHONE,
        Some(NameAgreement::NearGiven) => NAME_NEAR,
        Some(NameAgreement::Different) => NAME_DIFFERENT,
        None => 0,
    };
    let birth_part = match (birth, candidate.birth_date) {
        (Some(a), Some(b)) if a == b => ("same", BIRTH_SAME),
        (Some(_), Some(_)) => ("different", BIRTH_DIFFERENT),
        _ => ("not compared", 0),
    };
    let sex_part = match (sex, candidate.sex) {
        (Some(a), Some(b)) if a == b => ("same", SEX_SAME),
        (Some(_), Some(_)) => ("different", SEX_DIFFERENT),
        _ => ("not compared", 0),
    };
    let same = |a: Option<&str>, b: Option<&str>| a.is_some() && a == b;
    let number_agrees = matches!(id, IdEvidence::Same | IdEvidence::Repaired);
    let place_part = if same(mention.address_key, candidate.address_key) || same(mention.household, candidate.household) {
        if number_agrees { ("same place, already told by the number", 0) } else { ("same address or household", SAME_PLACE) }
    } else {
        ("not the same or not known", 0)
    };
    let parts = [
        ("number", number.0, number.1),
        ("name", name.map_or("not compared", NameAgreement::as_str), name_points),
        ("birth date", birth_part.0, birth_part.1),
        ("sex", sex_part.0, sex_part.1),
        ("place", place_part.0, place_part.1),
    ];
    (parts, name)
}

pub fn score(mention: &Side, candidate: &Side, id: IdEvidence) -> Score {
    let (parts, name) = breakdown(mention, candidate, id);
    Score { points: parts.iter().map(|p| p.2).sum(), id, name }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::names::{matching_key, pinyin_key};

    fn side<'a>(key: &'a str, py: &'a str, birth: Option<i32>) -> Side<'a> {
        Side { name_key: Some(key), pinyin: Some(py), sex: Some("M"), birth_date: birth, ..Side::default() }
    }

    #[test]
    fn a_family_members_number_with_another_name_does_not_link() {
        let (a, b) = (matching_key("张伟"), matching_key("张建国"));
        let (pa, pb) = (pinyin_key(&a), pinyin_key(&b));
        let s = score(&side(&a, &pa, None), &side(&b, &pb, None), IdEvidence::Same);
        assert!(s.points < 9, "{s:?}");
        let s = score(&side(&a, &pa, Some(1)), &side(&a, &pa, Some(1)), IdEvidence::Silent);
        assert!(s.points >= 9, "{s:?}");
    }
}
