//! Resolution: the authority register founds the people, then every other mention is linked to
//! the candidate person with the highest match weight among those its blocks find (ID number,
//! its repair candidates, name or pinyin with birth date, name with address), or starts a new
//! person, or stays unmatched. Without a stored model, the model is learned first from the
//! candidate pairs and random pairs (see `model`).

use std::collections::HashMap;

use arrow::array::Array;

use super::carry::{Carried, Previous};
use super::mentions::MentionColumns;
use super::model::{self, Model, PatternCounts};
use super::review::{Decisions, MentionRef};
use super::comparison::Pattern;
use super::score::{Holder, IdEvidence, NameFrequencies, Score, Scorer, Side, compare, id_evidence, repairs};
use crate::config::LinkageOptions;
use crate::identity::citizen_id::{self, IdStatus};
use crate::identity::dates;
use crate::identity::names::{NameAgreement, compare as compare_names};
use crate::rng::Rng;

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

const RULES: [Rule; 9] =
    [Rule::Register, Rule::RegisterDuplicate, Rule::IdExact, Rule::IdRepaired, Rule::NameBirth, Rule::Household, Rule::NewPerson, Rule::Unmatched, Rule::Review];

impl Rule {
    /// The rule a published `link_rule` names.
    pub fn parse(text: &str) -> Option<Rule> {
        RULES.into_iter().find(|r| r.as_str() == text)
    }

    /// The rule's name as published in `link_rule`, e.g. `id_exact`.
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

/// The night's linkage: each mention's person and rule, and the persons found.
pub struct Linkage {
    /// Person index of each mention.
    pub person_of: Vec<Option<u32>>,
    /// How each mention came to its person, or `Unmatched`.
    pub rule: Vec<Rule>,
    /// Match weight of the chosen candidate, or of the best one seen for unlinked mentions.
    pub weights: Vec<Option<f64>>,
    /// The mention that founded each person.
    pub founders: Vec<u32>,
    /// Candidate pairs scored, for the run summary.
    pub pairs_scored: u64,
    /// Each person's key.
    pub keys: Vec<String>,
    /// For unlinked mentions whose best candidate reached `review_weight`: that person and the weight.
    pub review: Vec<Option<(u32, f64)>>,
    /// The model the night was linked with, and whether it was learned tonight.
    pub model: Model,
    /// Whether the model was learned tonight rather than loaded.
    pub trained: bool,
    /// Mentions whose link was carried over from last night without scoring (see `carry`).
    pub carried: u64,
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
    /// Whose the mention's valid number is among the persons known.
    fn holder(&self, side: &Side) -> Holder {
        let holders = side.citizen_id.and_then(|id| self.by_id.get(id)).map_or(&[][..], Vec::as_slice);
        Holder::of(side, holders.iter().map(|&p| &self.sides[p as usize]))
    }

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
    let fields = Side {
        name_key: MentionColumns::text(m.name_key, i),
        pinyin: MentionColumns::text(m.name_pinyin, i),
        sex: MentionColumns::text(m.sex, i),
        birth_date: (!m.birth_date.is_null(i)).then(|| m.birth_date.value(i)),
        address_key: MentionColumns::text(m.address_key, i),
        household: MentionColumns::text(m.household_no, i),
        ..Side::default()
    };
    Side::of_mention(MentionColumns::text(m.citizen_id, i), MentionColumns::text(m.id_status, i), fields)
}

/// What a run is told besides the mentions: thresholds, reviewers' decisions, the model of
/// earlier nights (none: learn one) and, with that model, last night's links to carry over.
pub struct Judgement<'a> {
    /// The thresholds the linker decides by.
    pub options: &'a LinkageOptions,
    /// Reviewers' decisions, which override the scores.
    pub decisions: &'a Decisions,
    /// The model of earlier nights; without one, one is learned from tonight's mentions.
    pub model: Option<&'a Model>,
    /// Last night's links compared with tonight's mentions (`carry::compare`); only with a model.
    pub previous: Option<&'a Previous<'a>>,
}

impl Judgement<'_> {
    /// Whether a reviewer decided anything about this mention.
    fn decided(&self, m: &MentionColumns, i: usize) -> bool {
        if self.decisions.is_empty() {
            return false;
        }
        let mention = MentionRef { source: m.source.value(i).into(), record_key: m.record_key.value(i).into(), role: m.role.value(i).into() };
        self.decisions.same.contains_key(&mention) || self.decisions.different.iter().any(|(d, _)| *d == mention)
    }

    /// Last night's link of mention `i`, if it holds tonight unscored: its inputs are unchanged,
    /// none of its blocks, repair candidates, name or reading is dirty, and its person is here.
    fn carried(&self, m: &MentionColumns, i: usize, index: &Index) -> Option<(u32, Carried<'_>)> {
        let previous = self.previous?;
        let link = previous.links[i]?;
        let p = *index.by_key.get(link.person_key)?;
        let side = side_of(m, i);
        let dirty = &previous.dirty;
        let blocks = Blocks::of(m, i, &side);
        let touched = side.name_key.is_some_and(|n| dirty.name(n))
            || side.pinyin.is_some_and(|r| dirty.reading(r))
            || side.citizen_id.is_some_and(|id| dirty.id(id))
            || blocks.repairs.iter().any(|r| dirty.id(r))
            || blocks.birth_hint.is_some_and(|b| side.name_key.is_some_and(|n| dirty.name_birth(n, b)) || side.pinyin.is_some_and(|r| dirty.pinyin_birth(r, b)))
            || side.name_key.zip(side.address_key).is_some_and(|(n, a)| dirty.name_address(n, a));
        (!touched && !self.decided(m, i)).then_some((p, link))
    }

    /// A reviewer's "same" for this mention (the person, if still there); and candidates a
    /// reviewer called "different" are dropped.
    fn apply(&self, m: &MentionColumns, i: usize, index: &Index, candidates: &mut Vec<Candidate>) -> Option<u32> {
        if self.decisions.is_empty() {
            return None;
        }
        let mention = MentionRef { source: m.source.value(i).into(), record_key: m.record_key.value(i).into(), role: m.role.value(i).into() };
        if let Some(p) = self.decisions.same.get(&mention).and_then(|key| index.by_key.get(key)) {
            return Some(*p);
        }
        candidates.retain(|c| !self.decisions.different.contains(&(mention.clone(), index.keys[c.person as usize].clone())));
        None
    }
}

/// Links every mention: the register founds the persons, every other mention is scored and decided.
pub fn resolve(m: &MentionColumns, judgement: &Judgement) -> Linkage {
    let options = judgement.options;
    let n = m.len();
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
    let mut frequencies = NameFrequencies::default();
    for i in 0..n {
        frequencies.count(MentionColumns::text(m.name_key, i), MentionColumns::text(m.name_pinyin, i));
    }
    // A stored model fixes the count names are shared over, so a name's weight moves only when
    // mentions bearing it change (which is what lets unchanged links be carried over).
    if let Some(total) = judgement.model.map(|model| model.named_mentions).filter(|&t| t > 0) {
        frequencies.fix_total(total);
    }
    let mut person_of = vec![None; n];
    let mut rule = vec![Rule::Unmatched; n];
    let mut founders = Vec::new();

    // The register founds the people; a record repeating a person's number, name and birth date
    // is the same person registered twice, a record with another name is a different person.
    for i in (0..n).filter(|&i| m.authority.value(i)) {
        let side = side_of(m, i);
        let twin = side.citizen_id.and_then(|id| index.by_id.get(id)).and_then(|ps| {
            ps.iter().copied().find(|&p| same_registered_person(&side, &index.sides[p as usize]))
        });
        match twin {
            Some(p) => {
                person_of[i] = Some(p);
                rule[i] = Rule::RegisterDuplicate;
            }
            None => {
                let p = index.add(m, i, side);
                founders.push(i as u32);
                person_of[i] = Some(p);
                rule[i] = Rule::Register;
            }
        }
    }

    let mut carried: Vec<(usize, u32, Carried<'_>)> = Vec::new();
    let mut others: Vec<usize> = Vec::new();
    for i in (0..n).filter(|&i| !m.authority.value(i)) {
        match judgement.carried(m, i, &index) {
            Some((p, link)) => carried.push((i, p, link)),
            None => others.push(i),
        }
    }
    let first: Vec<Vec<Candidate>> = others.iter().map(|&i| candidates(m, i, &side_of(m, i), &index)).collect();
    let (model, trained) = match judgement.model {
        Some(model) => (model.clone(), false),
        None => {
            let mut patterns = PatternCounts::new();
            for c in first.iter().flatten() {
                *patterns.entry(c.pattern).or_default() += 1;
            }
            let random = random_patterns(m, &others, &index, options.random_pairs);
            let mut model = model::train(&patterns, &random, others.len() as u64, index.sides.len() as u64);
            model.named_mentions = frequencies.total();
            (model, true)
        }
    };
    let scorer = Scorer { model: &model, frequencies: &frequencies };
    let mut out = Linkage {
        person_of,
        rule,
        weights: vec![None; n],
        founders,
        pairs_scored: 0,
        keys: Vec::new(),
        review: vec![None; n],
        model: model.clone(),
        trained,
        carried: carried.len() as u64,
    };
    for (i, p, link) in carried {
        out.person_of[i] = Some(p);
        out.rule[i] = link.rule;
        out.weights[i] = link.weight;
    }

    let mut by_record: HashMap<(&str, u32), Vec<usize>> = HashMap::new();
    // Every mention of a record, carried over or not: the household pass looks at their links.
    for i in (0..n).filter(|&i| !m.authority.value(i)) {
        by_record.entry((m.source.value(i), m.source_row.value(i))).or_default().push(i);
    }
    let pass = Pass { m, by_record: &by_record, judgement, scorer: &scorer };
    let unlinked = pass.link(others.into_iter().zip(first).collect(), &index, &mut out);

    // Mentions of roles that start persons (a newborn, someone registered elsewhere) and that
    // matched nobody found a person, one by one, so a second mention of the same newcomer joins
    // the first; then the other mentions still unlinked get a second chance against them.
    let (creating, rest): (Vec<usize>, Vec<usize>) = unlinked.into_iter().partition(|&i| m.creates_persons.value(i));
    for i in creating {
        let side = side_of(m, i);
        let mut candidates = candidates(m, i, &side, &index);
        out.pairs_scored += candidates.len() as u64;
        if let Some(p) = judgement.apply(m, i, &index, &mut candidates) {
            record_link(&mut out, i, p, scorer.score(&side, &index.sides[p as usize], IdEvidence::Silent), Rule::Review);
            continue;
        }
        match decide(&scored(&scorer, &side, &candidates), options) {
            Ok((p, s)) => record_link(&mut out, i, p, s, rule_for(&s)),
            Err(best) => {
                // A new person, but a reviewer may see the best candidate and merge them.
                out.review[i] = best.filter(|(_, weight)| *weight >= options.review_weight);
                let p = index.add(m, i, side);
                out.founders.push(i as u32);
                out.person_of[i] = Some(p);
                out.rule[i] = Rule::NewPerson;
            }
        }
    }
    let rest: Vec<(usize, Vec<Candidate>)> = rest.into_iter().map(|i| (i, candidates(m, i, &side_of(m, i), &index))).collect();
    pass.link(rest, &index, &mut out);
    out.keys = index.keys;
    out
}

/// The patterns of random mention–person pairs, for u. Seeded, so a night's model is the same
/// however often it is learned. A broken number is not tried against its repair candidates here:
/// a random person's number is one typo from it about as rarely as it is equal to it.
fn random_patterns(m: &MentionColumns, others: &[usize], index: &Index, pairs: usize) -> PatternCounts {
    let mut counts = PatternCounts::new();
    if others.is_empty() || index.sides.is_empty() {
        return counts;
    }
    let mut rng = Rng::new(0x5EED_0F_0A1F);
    for _ in 0..pairs {
        let i = *rng.pick(others);
        let person = rng.pick(&index.sides);
        let side = side_of(m, i);
        let holder = index.holder(&side);
        *counts.entry(compare(&side, person, id_evidence(&side, &[], holder, person))).or_default() += 1;
    }
    counts
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
    out.weights[i] = Some(s.weight);
    out.rule[i] = rule;
}

/// A person found for a mention by its blocks, with what the pair's comparisons say.
struct Candidate {
    person: u32,
    id: IdEvidence,
    pattern: Pattern,
}

fn scored(scorer: &Scorer, side: &Side, candidates: &[Candidate]) -> Vec<(u32, Score)> {
    candidates.iter().map(|c| (c.person, scorer.weigh(side, c.pattern, c.id))).collect()
}

/// One linking pass over some mentions, against the persons known so far.
struct Pass<'a> {
    m: &'a MentionColumns<'a>,
    by_record: &'a HashMap<(&'a str, u32), Vec<usize>>,
    judgement: &'a Judgement<'a>,
    scorer: &'a Scorer<'a>,
}

impl Pass<'_> {
    /// Links each mention to the best of its candidates; mentions still unlinked are looked for
    /// in the households of the persons linked on the same record (the newborn of a linked
    /// mother, the father whose number is missing). Returns the mentions left unlinked.
    fn link(&self, mentions: Vec<(usize, Vec<Candidate>)>, index: &Index, out: &mut Linkage) -> Vec<usize> {
        let (m, options, scorer) = (self.m, self.judgement.options, self.scorer);
        let mut unlinked = Vec::new();
        for (i, mut candidates) in mentions {
            let side = side_of(m, i);
            out.pairs_scored += candidates.len() as u64;
            if let Some(p) = self.judgement.apply(m, i, index, &mut candidates) {
                record_link(out, i, p, scorer.score(&side, &index.sides[p as usize], IdEvidence::Silent), Rule::Review);
                continue;
            }
            match decide(&scored(scorer, &side, &candidates), options) {
                Ok((p, s)) => record_link(out, i, p, s, rule_for(&s)),
                Err(best) => {
                    out.weights[i] = best.map(|(_, weight)| weight);
                    out.review[i] = best.filter(|(_, weight)| *weight >= options.review_weight);
                    unlinked.push(i);
                }
            }
        }
        let mut left = Vec::new();
        for i in unlinked {
            let side = side_of(m, i);
            let households: Vec<&str> = self.by_record[&(m.source.value(i), m.source_row.value(i))]
                .iter()
                .filter_map(|&j| out.person_of[j])
                .filter_map(|p| index.sides[p as usize].household)
                .collect();
            let mut candidates: Vec<Candidate> = Vec::new();
            for household in households {
                let here = Side { household: Some(household), ..side };
                for &p in lookup(index.by_household.get(household)) {
                    if !candidates.iter().any(|c| c.person == p) {
                        let pattern = compare(&here, &index.sides[p as usize], IdEvidence::Silent);
                        candidates.push(Candidate { person: p, id: IdEvidence::Silent, pattern });
                    }
                }
            }
            self.judgement.apply(m, i, index, &mut candidates);
            out.pairs_scored += candidates.len() as u64;
            match decide(&scored(scorer, &side, &candidates), options) {
                Ok((p, s)) => record_link(out, i, p, s, Rule::Household),
                Err(_) => left.push(i),
            }
        }
        left
    }
}

/// The best candidate if its match weight is enough and it leads clearly; otherwise the best
/// candidate seen and its weight.
fn decide(candidates: &[(u32, Score)], options: &LinkageOptions) -> Result<(u32, Score), Option<(u32, f64)>> {
    let mut best: Option<(u32, Score)> = None;
    let mut runner_up: Option<f64> = None;
    for &(p, s) in candidates {
        match &best {
            Some((_, b)) if s.weight <= b.weight => runner_up = Some(runner_up.map_or(s.weight, |r| r.max(s.weight))),
            _ => {
                if let Some((_, b)) = best {
                    runner_up = Some(runner_up.map_or(b.weight, |r| r.max(b.weight)));
                }
                best = Some((p, s));
            }
        }
    }
    match best {
        Some((p, s)) if s.weight >= options.match_weight && runner_up.is_none_or(|r| s.weight - r >= options.margin_weight) => Ok((p, s)),
        other => Err(other.map(|(p, s)| (p, s.weight))),
    }
}

fn same_registered_person(a: &Side, b: &Side) -> bool {
    let names_agree = match (a.name_key, a.pinyin, b.name_key, b.pinyin) {
        (Some(x), Some(xp), Some(y), Some(yp)) => matches!(compare_names(x, xp, y, yp), NameAgreement::Exact | NameAgreement::Homophone),
        _ => false,
    };
    let births_agree = match (a.birth_date, b.birth_date) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    };
    names_agree && births_agree
}

fn lookup(persons: Option<&Vec<u32>>) -> &[u32] {
    persons.map_or(&[], Vec::as_slice)
}

/// The keys a mention's blocks look persons up by.
struct Blocks {
    /// The record's own birth date, else the one written in its number.
    birth_hint: Option<i32>,
    repairs: Vec<String>,
}

impl Blocks {
    fn of(m: &MentionColumns, i: usize, side: &Side) -> Blocks {
        let status = MentionColumns::text(m.id_status, i).unwrap_or("missing");
        let id_text = MentionColumns::text(m.citizen_id, i);
        let repairs = repairs(id_text, Some(status));
        let birth_hint = side.birth_date.or_else(|| {
            let text = id_text?;
            let well_formed = text.len() == 18 || status == IdStatus::Upgraded15.as_str();
            well_formed.then(|| citizen_id::birth_date(text)).flatten().map(dates::to_date32)
        });
        Blocks { birth_hint, repairs }
    }
}

/// The persons a mention's blocks find, with what its number says about each.
fn candidates(m: &MentionColumns, i: usize, side: &Side, index: &Index) -> Vec<Candidate> {
    let Blocks { birth_hint, repairs } = Blocks::of(m, i, side);
    let holder = index.holder(side);
    let blocks = [
        side.citizen_id.map(|id| lookup(index.by_id.get(id))),
        birth_hint.and_then(|b| side.name_key.map(|k| lookup(index.by_name_birth.get(&(k, b))))),
        birth_hint.and_then(|b| side.pinyin.map(|k| lookup(index.by_pinyin_birth.get(&(k, b))))),
        side.name_key.zip(side.address_key).map(|key| lookup(index.by_name_address.get(&key))),
    ];
    let repaired = repairs.iter().map(|r| lookup(index.by_id.get(r.as_str())));
    let mut found: Vec<u32> = Vec::new();
    for &p in blocks.into_iter().flatten().chain(repaired).flatten() {
        if !found.contains(&p) {
            found.push(p);
        }
    }
    found
        .into_iter()
        .map(|p| {
            let person = &index.sides[p as usize];
            let id = id_evidence(side, &repairs, holder, person);
            Candidate { person: p, id, pattern: compare(side, person, id) }
        })
        .collect()
}
