//! Resolution: the authority register founds the people, then every other mention is linked to
//! the best-scoring candidate person found through its blocks (ID number, its repair candidates,
//! name and birth date, pinyin and birth date), or starts a new person, or stays unmatched.

use std::collections::HashMap;

use arrow::array::Array;

use super::mentions::MentionColumns;
use super::score::{IdEvidence, Score, Side, score};
use super::review::{Decisions, MentionRef};
use crate::config::LinkageOptions;
use crate::identity::citizen_id::{self, IdStatus};
use crate::identity::dates;
use crate::identity::names::{NameAgreement, compare};

/// How a mention came to its person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// An authority record that founds a person.
    Register,
    /// A second authority record of the same person (same number, same name and birth date).
    RegisterDuplicate,
    /// Same valid ID number, corroborated by name or birth date.
    IdExact,
    /// A broken ID number one typo away from the person's, corroborated.
    IdRepaired,
    /// No usable ID: name, birth date and sex (and address where the mention has one).
    NameBirth,
    /// Found among the household of a person linked on the same record (a newborn through its
    /// mother, a father without an ID number).
    Household,
    /// Matched nobody; its role starts new persons (a newborn).
    NewPerson,
    /// Matched nobody with enough evidence.
    Unmatched,
    /// Linked by a reviewer's decision.
    Review,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Register => "register",
            Rule::RegisterDuplicate => "register_duplicate",
            Rule::IdExact => "id_exact",
            Rule::IdRepaired => "id_repaired",
            Rule::NameBirth => "name_birth",
            Rule::Household => "household",
            Rule::NewPerson => "new_person",
            Rule::Unmatched => "unmatched",
            Rule::Review => "review",
        }
    }
}

pub struct Linkage {
    /// Person index of each mention.
    pub person_of: Vec<Option<u32>>,
    pub rule: Vec<Rule>,
    pub points: Vec<Option<i32>>,
    /// The mention that founded each person.
    pub founders: Vec<u32>,
    /// Candidate pairs scored, for the run summary.
    pub pairs_scored: u64,
    /// Each person's key.
    pub keys: Vec<String>,
    /// For unlinked mentions whose best candidate reached `review_points`: that person and the points.
    pub review: Vec<Option<(u32, i32)>>,
}

struct Index<'a> {
    sides: Vec<Side<'a>>,
    keys: Vec<String>,
    by_key: HashMap<String, u32>,
    by_id: HashMap<&'a str, Vec<u32>>,
    by_name_birth: HashMap<(&'a str, i32), Vec<u32>>,
    by_pinyin_birth: HashMap<(&'a str, i32), Vec<u32>>,
    by_name_address: HashMap<(&'a str, &'a str), Vec<u32>>,
    by_household: HashMap<&'a str, Vec<u32>>,
}

impl<'a> Index<'a> {
    /// Adds the person founded by mention `i`.
    fn add(&mut self, m: &MentionColumns, i: usize, side: Side<'a>) -> u32 {
        let p = self.sides.len() as u32;
        let key = super::person_key(m.source.value(i), m.record_key.value(i), m.role.value(i));
        self.by_key.insert(key.clone(), p);
        self.keys.push(key);
        if let Some(id) = side.citizen_id {
            self.by_id.entry(id).or_default().push(p);
        }
        if let Some(birth) = side.birth_date {
            if let Some(name) = side.name_key {
                self.by_name_birth.entry((name, birth)).or_default().push(p);
            }
            if let Some(py) = side.pinyin {
                self.by_pinyin_birth.entry((py, birth)).or_default().push(p);
            }
        }
        if let (Some(name), Some(address)) = (side.name_key, side.address_key) {
            self.by_name_address.entry((name, address)).or_default().push(p);
        }
        if let Some(household) = side.household {
            self.by_household.entry(household).or_default().push(p);
        }
        self.sides.push(side);
        p
    }
}

/// What a mention says about itself.
fn side_of<'a>(m: &MentionColumns<'a>, i: usize) -> Side<'a> {
    let status = MentionColumns::text(m.id_status, i);
    let usable = status.is_some_and(|s| s == IdStatus::Valid.as_str() || s == IdStatus::Upgraded15.as_str());
    let usable_id = if usable { MentionColumns::text(m.citizen_id, i) } else { None };
    Side {
        citizen_id: usable_id,
        name_key: MentionColumns::text(m.name_key, i),
        pinyin: MentionColumns::text(m.name_pinyin, i),
        sex: MentionColumns::text(m.sex, i),
        birth_date: (!m.birth_date.is_null(i)).then(|| m.birth_date.value(i)),
        address_key: MentionColumns::text(m.address_key, i),
        household: MentionColumns::text(m.household_no, i),
        id_birth_date: usable_id.and_then(citizen_id::birth_date).map(dates::to_date32),
        id_sex: usable_id.and_then(citizen_id::sex).map(|s| if s == 'M' { "M" } else { "F" }),
    }
}

/// What a run is told besides the mentions: thresholds and reviewers' decisions.
pub struct Judgement<'a> {
    pub options: &'a LinkageOptions,
    pub decisions: &'a Decisions,
}

impl Judgement<'_> {
    /// A reviewer's "same" for this mention (the person, if still there); and candidates a
    /// reviewer called "different" are dropped.
    fn apply(&self, m: &MentionColumns, i: usize, index: &Index, candidates: &mut Vec<(u32, Score)>) -> Option<u32> {
        if self.decisions.is_empty() {
            return None;
        }
        let mention = MentionRef { source: m.source.value(i).into(), record_key: m.record_key.value(i).into(), role: m.role.value(i).into() };
        if let Some(p) = self.decisions.same.get(&mention).and_then(|key| index.by_key.get(key)) {
            return Some(*p);
        }
        candidates.retain(|(p, _)| !self.decisions.different.contains(&(mention.clone(), index.keys[*p as usize].clone())));
        None
    }
}

pub fn resolve(m: &MentionColumns, judgement: &Judgement) -> Linkage {
    let options = judgement.options;
    let n = m.len();
    let mut out = Linkage {
        person_of: vec![None; n],
        rule: vec![Rule::Unmatched; n],
        points: vec![None; n],
        founders: Vec::new(),
        pairs_scored: 0,
        keys: Vec::new(),
        review: vec![None; n],
    };
    let mut index = Index {
        sides: Vec::new(),
        keys: Vec::new(),
        by_key: HashMap::new(),
        by_id: HashMap::new(),
        by_name_birth: HashMap::new(),
        by_pinyin_birth: HashMap::new(),
        by_name_address: HashMap::new(),
        by_household: HashMap::new(),
    };

    // The register founds the people; a record repeating a person's number, name and birth date
    // is the same person registered twice, a record with another name is a different person.
    for i in (0..n).filter(|&i| m.authority.value(i)) {
        let side = side_of(m, i);
        let twin = side.citizen_id.and_then(|id| index.by_id.get(id)).and_then(|ps| {
            ps.iter().copied().find(|&p| same_registered_person(&side, &index.sides[p as usize]))
        });
        match twin {
            Some(p) => {
                out.person_of[i] = Some(p);
                out.rule[i] = Rule::RegisterDuplicate;
            }
            None => {
                let p = index.add(m, i, side);
                out.founders.push(i as u32);
                out.person_of[i] = Some(p);
                out.rule[i] = Rule::Register;
            }
        }
    }

    let mut by_record: HashMap<(&str, u32), Vec<usize>> = HashMap::new();
    for i in (0..n).filter(|&i| !m.authority.value(i)) {
        by_record.entry((m.source.value(i), m.source_row.value(i))).or_default().push(i);
    }
    let others: Vec<usize> = (0..n).filter(|&i| !m.authority.value(i)).collect();
    let unlinked = link_pass(m, &others, &index, &by_record, judgement, &mut out);

    // Mentions of roles that start persons (a newborn, someone registered elsewhere) and that
    // matched nobody found a person, one by one, so a second mention of the same newcomer joins
    // the first; then the other mentions still unlinked get a second chance against them.
    let (creating, rest): (Vec<usize>, Vec<usize>) = unlinked.into_iter().partition(|&i| m.creates_persons.value(i));
    for i in creating {
        let side = side_of(m, i);
        let (mut candidates, scored) = candidates(m, i, &side, &index);
        out.pairs_scored += scored as u64;
        if let Some(p) = judgement.apply(m, i, &index, &mut candidates) {
            record_link(&mut out, i, p, score(&side, &index.sides[p as usize], IdEvidence::Silent), Rule::Review);
            continue;
        }
        match decide(&candidates, options) {
            Ok((p, s)) => record_link(&mut out, i, p, s, rule_for(&s)),
            Err(best) => {
                // A new person, but a reviewer may see the best candidate and merge them.
                out.review[i] = best.filter(|(_, points)| *points >= options.review_points);
                let p = index.add(m, i, side);
                out.founders.push(i as u32);
                out.person_of[i] = Some(p);
                out.rule[i] = Rule::NewPerson;
            }
        }
    }
    link_pass(m, &rest, &index, &by_record, judgement, &mut out);
    out.keys = index.keys;
    out
}

fn rule_for(s: &Score) -> Rule {
    match s.id {
        IdEvidence::Same => Rule::IdExact,
        IdEvidence::Repaired => Rule::IdRepaired,
        _ => Rule::NameBirth,
    }
}

fn record_link(out: &mut Linkage, i: usize, p: u32, s: Score, rule: Rule) {
    out.review[i] = None;
    out.person_of[i] = Some(p);
    out.points[i] = Some(s.points);
    out.rule[i] = rule;
}

/// Links each mention to the best candidate of its blocks; mentions still unlinked are looked
/// for in the households of the persons linked on the same record (the newborn of a linked
/// mother, the father whose number is missing). Returns the mentions left unlinked.
fn link_pass(
    m: &MentionColumns,
    mentions: &[usize],
    index: &Index,
    by_record: &HashMap<(&str, u32), Vec<usize>>,
    judgement: &Judgement,
    out: &mut Linkage,
) -> Vec<usize> {
    let options = judgement.options;
    let mut unlinked = Vec::new();
    for &i in mentions {
        let side = side_of(m, i);
        let (mut candidates, scored) = candidates(m, i, &side, index);
        out.pairs_scored += scored as u64;
        if let Some(p) = judgement.apply(m, i, index, &mut candidates) {
            record_link(out, i, p, score(&side, &index.sides[p as usize], IdEvidence::Silent), Rule::Review);
            continue;
        }
        match decide(&candidates, options) {
            Ok((p, s)) => record_link(out, i, p, s, rule_for(&s)),
            Err(best) => {
                out.points[i] = best.map(|(_, points)| points);
                out.review[i] = best.filter(|(_, points)| *points >= options.review_points);
                unlinked.push(i);
            }
        }
    }
    let mut left = Vec::new();
    for i in unlinked {
        let side = side_of(m, i);
        let households: Vec<&str> = by_record[&(m.source.value(i), m.source_row.value(i))]
            .iter()
            .filter_map(|&j| out.person_of[j])
            .filter_map(|p| index.sides[p as usize].household)
            .collect();
        let mut candidates = Vec::new();
        for household in households {
            let here = Side { household: Some(household), ..side };
            for &p in lookup(index.by_household.get(household)) {
                if !candidates.iter().any(|(q, _)| *q == p) {
                    candidates.push((p, score(&here, &index.sides[p as usize], IdEvidence::Silent)));
                }
            }
        }
        judgement.apply(m, i, index, &mut candidates);
        out.pairs_scored += candidates.len() as u64;
        match decide(&candidates, options) {
            Ok((p, s)) => record_link(out, i, p, s, Rule::Household),
            Err(_) => left.push(i),
        }
    }
    left
}

/// The best candidate if it has enough points and a clear lead; otherwise the best candidate seen and its points.
fn decide(candidates: &[(u32, Score)], options: &LinkageOptions) -> Result<(u32, Score), Option<(u32, i32)>> {
    let mut best: Option<(u32, Score)> = None;
    let mut runner_up: Option<i32> = None;
    for &(p, s) in candidates {
        match &best {
            Some((_, b)) if s.points <= b.points => runner_up = runner_up.max(Some(s.points)),
            _ => {
                runner_up = runner_up.max(best.map(|(_, b)| b.points));
                best = Some((p, s));
            }
        }
    }
    match best {
        Some((p, s)) if s.points >= options.match_points && runner_up.is_none_or(|r| s.points - r >= options.margin_points) => Ok((p, s)),
        other => Err(other.map(|(p, s)| (p, s.points))),
    }
}

fn same_registered_person(a: &Side, b: &Side) -> bool {
    let names_agree = match (a.name_key, a.pinyin, b.name_key, b.pinyin) {
        (Some(x), Some(xp), Some(y), Some(yp)) => matches!(compare(x, xp, y, yp), NameAgreement::Exact | NameAgreement::Homophone),
        _ => false,
    };
    let births_agree = match (a.birth_date, b.birth_date) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    };
    names_agree && births_agree
}

/// Candidate persons of a mention with their scores, and how many were scored.
fn lookup(persons: Option<&Vec<u32>>) -> &[u32] {
    persons.map_or(&[], Vec::as_slice)
}

fn candidates(m: &MentionColumns, i: usize, side: &Side, index: &Index) -> (Vec<(u32, Score)>, usize) {
    let mut found: Vec<(u32, IdEvidence)> = Vec::new();
    let status = MentionColumns::text(m.id_status, i).unwrap_or("missing");
    let id_text = MentionColumns::text(m.citizen_id, i);
    let mut id_known = false;
    if let Some(id) = side.citizen_id {
        if let Some(ps) = index.by_id.get(id) {
            id_known = true;
            found.extend(ps.iter().map(|&p| (p, IdEvidence::Same)));
        }
    } else if status == IdStatus::ChecksumFailed.as_str() {
        for candidate in citizen_id::repair_candidates(id_text.unwrap_or_default()) {
            if let Some(ps) = index.by_id.get(candidate.as_str()) {
                found.extend(ps.iter().map(|&p| (p, IdEvidence::Repaired)));
            }
        }
    }
    // Block on name and birth date: the record's own date, else the one written in its number.
    let birth_hint = side.birth_date.or_else(|| {
        let text = id_text?;
        let well_formed = text.len() == 18 || status == IdStatus::Upgraded15.as_str();
        well_formed.then(|| citizen_id::birth_date(text)).flatten().map(dates::to_date32)
    });
    // Blocks beyond the number: name or pinyin with birth date, name with address.
    let blocks = [
        birth_hint.and_then(|b| side.name_key.map(|k| lookup(index.by_name_birth.get(&(k, b))))),
        birth_hint.and_then(|b| side.pinyin.map(|k| lookup(index.by_pinyin_birth.get(&(k, b))))),
        side.name_key.zip(side.address_key).map(|key| lookup(index.by_name_address.get(&key))),
    ];
    for &p in blocks.into_iter().flatten().flatten() {
        if found.iter().any(|(q, _)| *q == p) {
            continue;
        }
        // A valid number naming nobody we know speaks against the candidate; one that names
        // somebody else was keyed for the wrong person and says nothing here.
        let evidence = match (side.citizen_id, index.sides[p as usize].citizen_id) {
            (Some(a), Some(b)) if a != b && !id_known => IdEvidence::Conflicting,
            (Some(_), None) if !id_known => IdEvidence::Unclaimed,
            _ => IdEvidence::Silent,
        };
        found.push((p, evidence));
    }
    let scored = found.len();
    let scores = found.into_iter().map(|(p, e)| (p, score(side, &index.sides[p as usize], e))).collect();
    (scores, scored)
}
