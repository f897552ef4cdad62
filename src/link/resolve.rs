//! Resolution: the authority register founds the people, then every other mention is linked to
//! the candidate person with the highest match weight among those its blocks find (ID number,
//! its repair candidates, name or pinyin with birth date, name with address), or starts a new
//! person, or stays unmatched. Without a stored model, the model is learned first from the
//! candidate pairs and random pairs (see `model`).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use arrow::array::{Array, ArrayAccessor};

use super::{PersonKey, hash_of};
use super::carry::{Carried, Previous};
use super::parallel;
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
    /// Matched nobody and founds a person: its role starts persons (a newborn), or it is the
    /// most complete of several mentions of one number that nobody in the register holds.
    NewPerson,
    /// One of several mentions of a number nobody in the register holds, joined to the person the
    /// most complete of them founded (someone in no register, seen by several departments).
    SameNumber,
    /// Matched nobody with enough evidence.
    Unmatched,
    /// Linked by a reviewer's decision.
    Review,
}

/// The blocking rule that first found a candidate pair; a pair found by several counts once,
/// under the first (as Splink counts its blocking rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockingRule {
    /// The mention's valid ID number.
    Number,
    /// Name and birth date (or the birth date the number encodes).
    NameBirth,
    /// Name's pinyin and birth date.
    PinyinBirth,
    /// Name and address.
    NameAddress,
    /// A repair candidate of a broken ID number.
    RepairedNumber,
    /// The household of a person linked on the same record.
    Household,
}

/// Every blocking rule, in the order candidates are sought.
pub const BLOCKING_RULES: [BlockingRule; 6] =
    [BlockingRule::Number, BlockingRule::NameBirth, BlockingRule::PinyinBirth, BlockingRule::NameAddress, BlockingRule::RepairedNumber, BlockingRule::Household];

impl BlockingRule {
    /// The rule's name in the run manifest, e.g. `name_birth`.
    pub fn as_str(self) -> &'static str {
        match self {
            BlockingRule::Number => "number",
            BlockingRule::NameBirth => "name_birth",
            BlockingRule::PinyinBirth => "pinyin_birth",
            BlockingRule::NameAddress => "name_address",
            BlockingRule::RepairedNumber => "repaired_number",
            BlockingRule::Household => "household",
        }
    }
}

const RULES: [Rule; 10] = [
    Rule::Register,
    Rule::RegisterDuplicate,
    Rule::IdExact,
    Rule::IdRepaired,
    Rule::NameBirth,
    Rule::Household,
    Rule::NewPerson,
    Rule::SameNumber,
    Rule::Unmatched,
    Rule::Review,
];

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
            Rule::SameNumber => "same_number",
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
    /// Candidate pairs scored by the blocking rule that found them, in `BLOCKING_RULES` order.
    pub pairs_by_block: [u64; BLOCKING_RULES.len()],
    /// Each person's key.
    pub keys: Vec<PersonKey>,
    /// For unlinked mentions whose best candidate reached `review_weight`: that person and the weight.
    pub review: Vec<Option<(u32, f64)>>,
    /// The model the night was linked with, and whether it was learned tonight.
    pub model: Model,
    /// Whether the model was learned tonight rather than loaded.
    pub trained: bool,
    /// Mentions whose link was carried over from last night without scoring (see `carry`).
    pub carried: u64,
}

/// Persons by one kind of block key. A key is held as its 64-bit hash, with the persons added
/// under it in the order added; lookups check each person's own fields, so two keys sharing a
/// hash cost a comparison, never a wrong candidate.
#[derive(Default)]
struct Block {
    slots: HashMap<u64, Slot, BuildHasherDefault<Prehashed>>,
    shared: Vec<Vec<u32>>,
}

/// The persons of one hash: one inline, or several in `Block::shared`.
#[derive(Clone, Copy)]
enum Slot {
    One(u32),
    Shared(u32),
}

impl Block {
    fn add(&mut self, hash: u64, p: u32) {
        match self.slots.entry(hash) {
            Entry::Vacant(e) => {
                e.insert(Slot::One(p));
            }
            Entry::Occupied(mut e) => match *e.get() {
                Slot::One(q) => {
                    self.shared.push(vec![q, p]);
                    e.insert(Slot::Shared(self.shared.len() as u32 - 1));
                }
                Slot::Shared(k) => self.shared[k as usize].push(p),
            },
        }
    }

    /// The persons added under this hash, in the order added (those of other keys included).
    fn get(&self, hash: u64) -> &[u32] {
        match self.slots.get(&hash) {
            None => &[],
            Some(Slot::One(p)) => std::slice::from_ref(p),
            Some(Slot::Shared(k)) => &self.shared[*k as usize],
        }
    }
}

/// The hasher of maps whose keys are already hashes.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u64 keys")
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[derive(Default)]
struct Index<'a> {
    sides: Vec<Side<'a>>,
    keys: Vec<PersonKey>,
    by_key: Block,
    by_id: Block,
    by_name_birth: Block,
    by_pinyin_birth: Block,
    by_name_address: Block,
    by_household: Block,
}

impl<'a> Index<'a> {
    /// The persons whose side `holds` the key, among those under its hash in `block`.
    fn find<'s>(&'s self, block: &'s Block, key: impl Hash, holds: impl Fn(&Side) -> bool + 's) -> impl Iterator<Item = u32> + 's {
        block.get(hash_of(key)).iter().copied().filter(move |&p| holds(&self.sides[p as usize]))
    }

    fn with_id<'s>(&'s self, id: &'s str) -> impl Iterator<Item = u32> + 's {
        self.find(&self.by_id, id, move |s| s.citizen_id == Some(id))
    }

    fn with_name_birth<'s>(&'s self, name: &'s str, birth: i32) -> impl Iterator<Item = u32> + 's {
        self.find(&self.by_name_birth, (name, birth), move |s| s.name_key == Some(name) && s.birth_date == Some(birth))
    }

    fn with_pinyin_birth<'s>(&'s self, pinyin: &'s str, birth: i32) -> impl Iterator<Item = u32> + 's {
        self.find(&self.by_pinyin_birth, (pinyin, birth), move |s| s.pinyin == Some(pinyin) && s.birth_date == Some(birth))
    }

    fn with_name_address<'s>(&'s self, name: &'s str, address: &'s str) -> impl Iterator<Item = u32> + 's {
        self.find(&self.by_name_address, (name, address), move |s| s.name_key == Some(name) && s.address_key == Some(address))
    }

    fn with_household<'s>(&'s self, household: &'s str) -> impl Iterator<Item = u32> + 's {
        self.find(&self.by_household, household, move |s| s.household == Some(household))
    }

    /// The person of a key (as written), if there is one.
    fn person(&self, key: &str) -> Option<u32> {
        let key = PersonKey::parse(key)?;
        self.by_key.get(key.value()).iter().copied().find(|&p| self.keys[p as usize] == key)
    }

    /// Whose the mention's valid number is among the persons known.
    fn holder(&self, side: &Side) -> Holder {
        Holder::of(side, side.citizen_id.into_iter().flat_map(|id| self.with_id(id)).map(|p| &self.sides[p as usize]))
    }

    /// Adds the person founded by mention `i`.
    fn add(&mut self, m: &MentionColumns, i: usize, side: Side<'a>) -> u32 {
        let p = self.sides.len() as u32;
        let key = PersonKey::of(m.source.value(i), m.record_key.value(i), m.role.value(i));
        self.by_key.add(key.value(), p);
        self.keys.push(key);
        if let Some(id) = side.citizen_id {
            self.by_id.add(hash_of(id), p);
        }
        if let Some(birth) = side.birth_date {
            if let Some(name) = side.name_key {
                self.by_name_birth.add(hash_of((name, birth)), p);
            }
            if let Some(py) = side.pinyin {
                self.by_pinyin_birth.add(hash_of((py, birth)), p);
            }
        }
        if let (Some(name), Some(address)) = (side.name_key, side.address_key) {
            self.by_name_address.add(hash_of((name, address)), p);
        }
        if let Some(household) = side.household {
            self.by_household.add(hash_of(household), p);
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
    /// Threads to score on; the links are the same for any number.
    pub threads: usize,
    /// Ticked for every mention decided.
    pub progress: &'a crate::progress::Stage,
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
        let p = index.person(link.person_key)?;
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
        if let Some(p) = self.decisions.same.get(&mention).and_then(|key| index.person(key)) {
            return Some(p);
        }
        candidates.retain(|c| !self.decisions.different.contains(&(mention.clone(), index.keys[c.person as usize].to_string())));
        None
    }
}

/// Links every mention: the register founds the persons, every other mention is scored and decided.
pub fn resolve(m: &MentionColumns, judgement: &Judgement) -> Linkage {
    let options = judgement.options;
    let threads = judgement.threads;
    let n = m.len();
    let mut index = Index::default();
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
        let twin = side.citizen_id.and_then(|id| index.with_id(id).find(|&p| same_registered_person(&side, &index.sides[p as usize])));
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

    let non_authority: Vec<usize> = (0..n).filter(|&i| !m.authority.value(i)).collect();
    let carried_links = parallel::map(non_authority.len(), threads, |k| judgement.carried(m, non_authority[k], &index));
    let mut carried: Vec<(usize, u32, Carried<'_>)> = Vec::new();
    let mut others: Vec<usize> = Vec::new();
    for (&i, link) in non_authority.iter().zip(carried_links) {
        match link {
            Some((p, link)) => carried.push((i, p, link)),
            None => others.push(i),
        }
    }
    drop(non_authority);
    judgement.progress.inc((n - others.len()) as u64);
    let first = CandidateLists::of(m, &others, &index, threads);
    let (model, trained) = match judgement.model {
        Some(model) => (model.clone(), false),
        None => {
            let mut patterns = PatternCounts::new();
            for c in &first.all {
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
        pairs_by_block: [0; BLOCKING_RULES.len()],
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

    let pass = Pass { m, judgement, scorer: &scorer };
    let unlinked = pass.link(&others, &first, &index, &mut out, Some(judgement.progress));
    drop(first);

    // Mentions of roles that start persons (a newborn, someone registered elsewhere) and that
    // matched nobody found a person, one by one, so a second mention of the same newcomer joins
    // the first; then the other mentions still unlinked get a second chance against them.
    let (creating, rest): (Vec<usize>, Vec<usize>) = unlinked.into_iter().partition(|&i| m.creates_persons.value(i));
    for i in creating {
        let side = side_of(m, i);
        let mut candidates = candidates(m, i, &side, &index);
        out.count_pairs(&candidates);
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
    let second = CandidateLists::of(m, &rest, &index, threads);
    // The second chance is for few mentions: the stage shows them all decided already.
    let left = pass.link(&rest, &second, &index, &mut out, None);
    drop(second);
    if found_unregistered(m, &left, judgement, &scorer, &mut index, &mut out) > 0 {
        // What is still unlinked gets a last chance against the persons just founded.
        let left: Vec<usize> = left.into_iter().filter(|&i| out.person_of[i].is_none()).collect();
        let last = CandidateLists::of(m, &left, &index, threads);
        pass.link(&left, &last, &index, &mut out, None);
    }
    out.keys = index.keys;
    out
}

/// People in no register: mentions that matched nobody, whatever their role, but carry one valid
/// number that no person holds, are one person seen by several departments when they agree with
/// one another. The most complete of them (then the first by source, record and role, so the
/// choice does not depend on the order of rows) founds the person; each other one joins it if
/// its match weight against the founder, numbers agreeing, reaches the match weight (a name or
/// birth date that disagrees keeps it apart). A number seen once founds nobody. Returns the
/// persons founded.
fn found_unregistered<'a>(m: &'a MentionColumns, left: &[usize], judgement: &Judgement, scorer: &Scorer, index: &mut Index<'a>, out: &mut Linkage) -> usize {
    let mut by_number: std::collections::BTreeMap<&str, Vec<usize>> = std::collections::BTreeMap::new();
    for &i in left {
        if let Some(id) = side_of(m, i).citizen_id.filter(|id| index.with_id(id).next().is_none() && !judgement.decided(m, i)) {
            by_number.entry(id).or_default().push(i);
        }
    }
    let completeness = |s: &Side| [s.name_key.is_some(), s.birth_date.is_some(), s.sex.is_some(), s.address_key.is_some(), s.household.is_some()].iter().filter(|&&f| f).count();
    let mut founded = 0;
    for mut group in by_number.into_values().filter(|g| g.len() > 1) {
        group.sort_by_key(|&i| (std::cmp::Reverse(completeness(&side_of(m, i))), m.source.value(i), m.record_key.value(i), m.role.value(i)));
        let founder = side_of(m, group[0]);
        let joining: Vec<(usize, Score)> = group[1..]
            .iter()
            .map(|&j| (j, scorer.score(&side_of(m, j), &founder, IdEvidence::Same)))
            .filter(|(_, s)| s.weight >= judgement.options.match_weight)
            .collect();
        if joining.is_empty() {
            continue;
        }
        let p = index.add(m, group[0], founder);
        out.founders.push(group[0] as u32);
        out.person_of[group[0]] = Some(p);
        out.rule[group[0]] = Rule::NewPerson;
        for (j, s) in joining {
            record_link(out, j, p, s, Rule::SameNumber);
        }
        founded += 1;
    }
    founded
}

/// The candidates of some mentions, one list after another (one allocation for all).
struct CandidateLists {
    /// Where each mention's list ends in `all`.
    ends: Vec<u64>,
    all: Vec<Candidate>,
}

impl CandidateLists {
    /// The candidates of each of `mentions` against the persons of `index`, found on `threads` threads.
    fn of(m: &MentionColumns, mentions: &[usize], index: &Index, threads: usize) -> CandidateLists {
        let chunks = parallel::in_chunks(mentions.len(), threads, |range| {
            let mut lists = CandidateLists { ends: Vec::with_capacity(range.len()), all: Vec::new() };
            for &i in &mentions[range] {
                lists.all.extend(candidates(m, i, &side_of(m, i), index));
                lists.ends.push(lists.all.len() as u64);
            }
            lists
        });
        let mut lists = CandidateLists { ends: Vec::with_capacity(mentions.len()), all: Vec::with_capacity(chunks.iter().map(|c| c.all.len()).sum()) };
        for chunk in chunks {
            let base = lists.all.len() as u64;
            lists.ends.extend(chunk.ends.iter().map(|e| e + base));
            lists.all.extend(chunk.all);
        }
        lists
    }

    /// The candidates of the `k`-th mention.
    fn get(&self, k: usize) -> &[Candidate] {
        let start = if k == 0 { 0 } else { self.ends[k - 1] as usize };
        &self.all[start..self.ends[k] as usize]
    }
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

/// The rule of a link decided on a score: by the number, its repair, or name and birth date.
pub(crate) fn rule_for(s: &Score) -> Rule {
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
#[derive(Clone, Copy)]
struct Candidate {
    person: u32,
    id: IdEvidence,
    pattern: Pattern,
    block: BlockingRule,
}

impl Linkage {
    /// Counts a mention's candidate pairs, in all and by the blocking rule that found each.
    fn count_pairs(&mut self, candidates: &[Candidate]) {
        self.pairs_scored += candidates.len() as u64;
        for c in candidates {
            self.pairs_by_block[c.block as usize] += 1;
        }
    }
}

fn scored(scorer: &Scorer, side: &Side, candidates: &[Candidate]) -> Vec<(u32, Score)> {
    candidates.iter().map(|c| (c.person, scorer.weigh(side, c.pattern, c.id))).collect()
}

/// One linking pass over some mentions, against the persons known so far.
struct Pass<'a> {
    m: &'a MentionColumns<'a>,
    judgement: &'a Judgement<'a>,
    scorer: &'a Scorer<'a>,
}

/// What a pass decided for one mention.
enum Outcome {
    /// Linked to a person, by this rule.
    Linked(u32, Score, Rule),
    /// Not linked; the best candidate seen and its weight, if any.
    Unlinked(Option<(u32, f64)>),
}

impl Pass<'_> {
    /// Links each mention to the best of its candidates; mentions still unlinked are looked for
    /// in the households of the persons linked on the same record (the newborn of a linked
    /// mother, the father whose number is missing). Returns the mentions left unlinked. Each
    /// mention is decided against the persons as they are, so the mentions are decided in
    /// parallel and the outcomes recorded in order.
    fn link(&self, mentions: &[usize], candidates: &CandidateLists, index: &Index, out: &mut Linkage, progress: Option<&crate::progress::Stage>) -> Vec<usize> {
        let (m, options, scorer, threads) = (self.m, self.judgement.options, self.scorer, self.judgement.threads);
        let outcomes = parallel::map(mentions.len(), threads, |k| {
            let i = mentions[k];
            if let Some(stage) = progress {
                stage.inc(1);
            }
            let side = side_of(m, i);
            let mut candidates = candidates.get(k).to_vec();
            if let Some(p) = self.judgement.apply(m, i, index, &mut candidates) {
                return Outcome::Linked(p, scorer.score(&side, &index.sides[p as usize], IdEvidence::Silent), Rule::Review);
            }
            match decide(&scored(scorer, &side, &candidates), options) {
                Ok((p, s)) => Outcome::Linked(p, s, rule_for(&s)),
                Err(best) => Outcome::Unlinked(best),
            }
        });
        let mut unlinked = Vec::new();
        for (k, (&i, outcome)) in mentions.iter().zip(outcomes).enumerate() {
            out.count_pairs(candidates.get(k));
            match outcome {
                Outcome::Linked(p, s, rule) => record_link(out, i, p, s, rule),
                Outcome::Unlinked(best) => {
                    out.weights[i] = best.map(|(_, weight)| weight);
                    out.review[i] = best.filter(|(_, weight)| *weight >= options.review_weight);
                    unlinked.push(i);
                }
            }
        }
        // A mention linked here lends its household to the later mentions of its record, so
        // each record's mentions are decided in order, and the records in parallel.
        let records = self.records_of(&unlinked);
        let record = |i: usize| (m.source.value(i), m.source_row.value(i));
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut group_of: HashMap<(&str, u32), usize> = HashMap::new();
        for (k, &i) in unlinked.iter().enumerate() {
            let g = *group_of.entry(record(i)).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
            groups[g].push(k);
        }
        drop(group_of);
        let linked = &*out;
        let found = parallel::map(groups.len(), threads, |g| {
            let mut here: Vec<(usize, u32)> = Vec::new();
            let mut decided = Vec::with_capacity(groups[g].len());
            for &k in &groups[g] {
                let i = unlinked[k];
                let side = side_of(m, i);
                let person_of = |j: usize| linked.person_of[j].or_else(|| here.iter().find(|(x, _)| *x == j).map(|&(_, p)| p));
                let households: Vec<&str> = records[&record(i)].iter().filter_map(|&j| person_of(j)).filter_map(|p| index.sides[p as usize].household).collect();
                let mut candidates: Vec<Candidate> = Vec::new();
                for household in households {
                    let at_home = Side { household: Some(household), ..side };
                    for p in index.with_household(household) {
                        if !candidates.iter().any(|c| c.person == p) {
                            let pattern = compare(&at_home, &index.sides[p as usize], IdEvidence::Silent);
                            candidates.push(Candidate { person: p, id: IdEvidence::Silent, pattern, block: BlockingRule::Household });
                        }
                    }
                }
                self.judgement.apply(m, i, index, &mut candidates);
                let decision = decide(&scored(scorer, &side, &candidates), options).ok();
                if let Some((p, _)) = decision {
                    here.push((i, p));
                }
                decided.push((k, candidates.len() as u64, decision));
            }
            decided
        });
        let mut decisions: Vec<(u64, Option<(u32, Score)>)> = vec![(0, None); unlinked.len()];
        for (k, pairs, decision) in found.into_iter().flatten() {
            decisions[k] = (pairs, decision);
        }
        let mut left = Vec::new();
        for (&i, (pairs, decision)) in unlinked.iter().zip(decisions) {
            out.pairs_scored += pairs;
            out.pairs_by_block[BlockingRule::Household as usize] += pairs;
            match decision {
                Some((p, s)) => record_link(out, i, p, s, Rule::Household),
                None => left.push(i),
            }
        }
        left
    }

    /// The mentions of the records of these mentions (other than the register's), each record's
    /// in order.
    fn records_of(&self, mentions: &[usize]) -> HashMap<(&str, u32), Vec<usize>> {
        let m = self.m;
        let record = |i: usize| (m.source.value(i), m.source_row.value(i));
        let mut records: HashMap<(&str, u32), Vec<usize>> = mentions.iter().map(|&i| (record(i), Vec::new())).collect();
        for i in (0..m.len()).filter(|&i| !m.authority.value(i)) {
            if let Some(of_record) = records.get_mut(&record(i)) {
                of_record.push(i);
            }
        }
        records
    }
}

/// The best candidate if its match weight is enough and it leads clearly; otherwise the best
/// candidate seen and its weight.
pub(crate) fn decide(candidates: &[(u32, Score)], options: &LinkageOptions) -> Result<(u32, Score), Option<(u32, f64)>> {
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

/// The keys a mention's blocks look persons up by.
pub(crate) struct Blocks {
    /// The record's own birth date, else the one written in its number.
    pub birth_hint: Option<i32>,
    /// The repair candidates of a number whose check character failed.
    pub repairs: Vec<String>,
}

impl Blocks {
    fn of(m: &MentionColumns, i: usize, side: &Side) -> Blocks {
        Blocks::new(MentionColumns::text(m.citizen_id, i), MentionColumns::text(m.id_status, i).unwrap_or("missing"), side)
    }

    /// The block keys of a record whose normalised number is `id_text`, of ID status `status`.
    pub(crate) fn new(id_text: Option<&str>, status: &str, side: &Side) -> Blocks {
        let repairs = repairs(id_text, Some(status));
        let birth_hint = side.birth_date.or_else(|| {
            let text = id_text?;
            let well_formed = text.len() == 18 || status == IdStatus::Upgraded15.as_str();
            well_formed.then(|| citizen_id::birth_date(text)).flatten().map(dates::to_date32)
        });
        Blocks { birth_hint, repairs }
    }
}

/// The persons a mention's blocks find, with what its number says about each: those of its
/// number, of its name and birth date, of its pinyin and birth date, of its name and address,
/// then of its number's repair candidates, each person once.
fn candidates(m: &MentionColumns, i: usize, side: &Side, index: &Index) -> Vec<Candidate> {
    let Blocks { birth_hint, repairs } = Blocks::of(m, i, side);
    let holder = index.holder(side);
    let mut found: Vec<(u32, BlockingRule)> = Vec::new();
    let mut take = |block: BlockingRule, persons: &mut dyn Iterator<Item = u32>| {
        for p in persons {
            if !found.iter().any(|&(q, _)| q == p) {
                found.push((p, block));
            }
        }
    };
    if let Some(id) = side.citizen_id {
        take(BlockingRule::Number, &mut index.with_id(id));
    }
    if let Some(b) = birth_hint {
        if let Some(name) = side.name_key {
            take(BlockingRule::NameBirth, &mut index.with_name_birth(name, b));
        }
        if let Some(pinyin) = side.pinyin {
            take(BlockingRule::PinyinBirth, &mut index.with_pinyin_birth(pinyin, b));
        }
    }
    if let (Some(name), Some(address)) = (side.name_key, side.address_key) {
        take(BlockingRule::NameAddress, &mut index.with_name_address(name, address));
    }
    for r in &repairs {
        take(BlockingRule::RepairedNumber, &mut index.with_id(r));
    }
    found
        .into_iter()
        .map(|(p, block)| {
            let person = &index.sides[p as usize];
            let id = id_evidence(side, &repairs, holder, person);
            Candidate { person: p, id, pattern: compare(side, person, id), block }
        })
        .collect()
}
