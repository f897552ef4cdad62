//! The linkage model: Fellegi–Sunter m and u for every level of every comparison, learned from
//! the night's data without labels.
//!
//! - u, how often two different people fall on a level by chance, is counted over random
//!   mention–person pairs (nearly all of different people).
//! - m, how often one person's records fall on it, is learned by expectation–maximisation over
//!   the candidate pairs, in training sessions as Splink does: the pairs that agree on the number,
//!   and the pairs that agree on name and birth date. A session's own agreement says nothing
//!   about whether its pairs match (every pair has it), so those comparisons are left out of that
//!   session's likelihood and of its m; each session has its own share of matches.
//! - The prior is the chance that a mention and a person drawn at random are one person: the
//!   matches EM expects among the candidates over all mention–person pairs.
//!
//! A level's weight is log2(m/u); an exact name's u is the share of mentions with that name,
//! a homophone's the share with that reading, so 王伟 weighs less than a rare name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::comparison::{AGREE, BIRTH, COMPARISONS, NAME, NAME_EXACT, NAME_HOMOPHONE, NUMBER, NUMBER_OTHERS, NUMBER_SAME, Pattern};

/// Counts of pairs by the levels they fall on, in a fixed order: sums in EM then come out the
/// same on every run, and so do the weights and the links.
pub type PatternCounts = BTreeMap<Pattern, u64>;

/// A linkage model file that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The model file exists but cannot be read, is not a model, or is of another version's shape.
    #[error("cannot read the linkage model {path}: {message}; delete it and run with --retrain to learn a new one")]
    Read {
        /// The model file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The model cannot be saved.
    #[error("cannot write the linkage model {path}: {message}")]
    Write {
        /// The model file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// One level of a comparison, with its learned m and u.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Level {
    /// The level's name, e.g. `same number`.
    pub level: String,
    /// Share of one person's pairs on this level (among pairs where the comparison is made).
    pub m: f64,
    /// Share of different people's pairs on this level.
    pub u: f64,
    /// log2(m/u).
    pub weight: f64,
}

/// One comparison with the m and u of each of its levels.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Comparison {
    /// The comparison's name, e.g. `birth date`.
    pub comparison: String,
    /// Level 0 ("not compared") first; it weighs nothing.
    pub levels: Vec<Level>,
}

/// What the model was learned from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Training {
    /// Candidate pairs EM was run over.
    pub candidate_pairs: u64,
    /// Random mention–person pairs u was counted over.
    pub random_pairs: u64,
    /// EM iterations run until m settled (200 at most).
    pub em_iterations: u32,
    /// Matches EM expects among the candidate pairs.
    pub expected_matches: f64,
    /// Mentions and persons the prior was taken over.
    pub mentions: u64,
    /// Persons the prior was taken over.
    pub persons: u64,
}

/// The Fellegi–Sunter linkage model: every level's m, u and weight, and the prior.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Model {
    /// log2 odds that a mention and a person drawn at random are one person.
    pub prior_weight: f64,
    /// The comparisons in the order they are weighed (`comparison::COMPARISONS`).
    pub comparisons: Vec<Comparison>,
    /// What the model was learned from.
    pub training: Training,
    /// The named mentions of the night it was learned on: an exact name's u is the share of
    /// them bearing it (0 in models of earlier versions: tonight's count is used).
    #[serde(default)]
    pub named_mentions: u64,
}

/// A training session: the candidate pairs sharing one agreement, which is left out.
struct Session {
    forced: [bool; 5],
    holds: fn(&Pattern) -> bool,
}

const SESSIONS: [Session; 2] = [
    Session { forced: [true, false, false, false, false], holds: |p| matches!(p[NUMBER], 1 | 2) },
    Session { forced: [false, true, true, false, false], holds: |p| matches!(p[NAME], NAME_EXACT | NAME_HOMOPHONE) && p[BIRTH] == AGREE },
];

/// Where EM starts: agreement likely for one person.
const START_M: [&[f64]; 5] = [&[0.9, 0.04, 0.03, 0.03], &[0.8, 0.1, 0.05, 0.05], &[0.95, 0.05], &[0.98, 0.02], &[0.5, 0.5]];
const MAX_ITERATIONS: u32 = 200;
const TOLERANCE: f64 = 1e-7;
/// Pseudo-count added to every level, so a level never seen weighs much, not infinitely much.
const PSEUDO_COUNT: f64 = 0.5;

/// Two different people's records show the same number only when one was keyed with the other's
/// number, and then it is any one of the persons': u of "same number" is the share of one
/// person's records that bear another person's number, over the number of persons. (Counted
/// over random pairs, it would count the few true matches among them, which for a unique
/// identifier outnumber the chance agreements.)
fn same_number_by_mistake(u: &mut [Vec<f64>], m: &[Vec<f64>], persons: u64) {
    u[NUMBER][NUMBER_SAME as usize] = m[NUMBER][NUMBER_OTHERS as usize] / persons.max(1) as f64;
}


/// Shares of each level of each comparison (level 0 excluded), with pseudo-counts.
fn shares(counts: &[Vec<f64>]) -> Vec<Vec<f64>> {
    counts
        .iter()
        .map(|levels| {
            let total: f64 = levels[1..].iter().sum::<f64>() + PSEUDO_COUNT * (levels.len() - 1) as f64;
            let mut out = vec![0.0; levels.len()];
            for l in 1..levels.len() {
                out[l] = (levels[l] + PSEUDO_COUNT) / total;
            }
            out
        })
        .collect()
}

/// How many pairs fall on each level of each comparison.
fn level_counts(patterns: &PatternCounts) -> Vec<Vec<f64>> {
    let mut counts = zero_counts();
    for (pattern, &n) in patterns {
        for c in 0..COMPARISONS.len() {
            counts[c][pattern[c] as usize] += n as f64;
        }
    }
    counts
}

fn zero_counts() -> Vec<Vec<f64>> {
    COMPARISONS.iter().map(|(_, levels)| vec![0.0; levels.len()]).collect()
}

/// The chance that a pair of this pattern in a session with this share of matches is a match.
fn match_probability(pattern: &Pattern, forced: &[bool; 5], (m, u): (&[Vec<f64>], &[Vec<f64>]), lambda: f64) -> f64 {
    let (mut a, mut b) = (lambda, 1.0 - lambda);
    for c in (0..COMPARISONS.len()).filter(|&c| !forced[c] && pattern[c] != 0) {
        a *= m[c][pattern[c] as usize];
        b *= u[c][pattern[c] as usize];
    }
    a / (a + b)
}

/// Learns a model from the candidate pairs' patterns and random pairs' patterns.
pub fn train(candidates: &PatternCounts, random: &PatternCounts, mentions: u64, persons: u64) -> Model {
    let mut u = shares(&level_counts(random));
    let mut m: Vec<Vec<f64>> = START_M.iter().map(|s| std::iter::once(0.0).chain(s.iter().copied()).collect()).collect();
    same_number_by_mistake(&mut u, &m, persons);
    let mut lambda = [0.5; SESSIONS.len()];
    let mut iterations = 0;
    while iterations < MAX_ITERATIONS {
        iterations += 1;
        let mut matched = zero_counts();
        let mut next_lambda = [0.0; SESSIONS.len()];
        for (s, session) in SESSIONS.iter().enumerate() {
            let (mut expected, mut pairs) = (0.0, 0.0);
            for (pattern, &n) in candidates.iter().filter(|(p, _)| (session.holds)(p)) {
                let p = match_probability(pattern, &session.forced, (&m, &u), lambda[s]) * n as f64;
                expected += p;
                pairs += n as f64;
                for c in (0..COMPARISONS.len()).filter(|&c| !session.forced[c] && pattern[c] != 0) {
                    matched[c][pattern[c] as usize] += p;
                }
            }
            next_lambda[s] = if pairs > 0.0 { expected / pairs } else { 0.5 };
        }
        let next_m = shares(&matched);
        same_number_by_mistake(&mut u, &next_m, persons);
        let change = next_m.iter().flatten().zip(m.iter().flatten()).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        m = next_m;
        lambda = next_lambda;
        if change < TOLERANCE {
            break;
        }
    }
    // Each candidate pair's chance of being a match, in the first session that holds it.
    let mut expected_matches = 0.0;
    for (pattern, &n) in candidates {
        if let Some(s) = SESSIONS.iter().position(|s| (s.holds)(pattern)) {
            expected_matches += match_probability(pattern, &SESSIONS[s].forced, (&m, &u), lambda[s]) * n as f64;
        }
    }
    let all_pairs = (mentions.max(1) as f64) * (persons.max(1) as f64);
    let prior = (expected_matches / all_pairs).clamp(1e-12, 0.5);
    let comparisons = COMPARISONS
        .iter()
        .enumerate()
        .map(|(c, (name, labels))| Comparison {
            comparison: name.to_string(),
            levels: labels
                .iter()
                .enumerate()
                .map(|(l, label)| {
                    let (mc, uc) = (m[c][l], u[c][l]);
                    Level { level: label.to_string(), m: mc, u: uc, weight: if l == 0 { 0.0 } else { (mc / uc).log2() } }
                })
                .collect(),
        })
        .collect();
    Model {
        prior_weight: (prior / (1.0 - prior)).log2(),
        comparisons,
        training: Training {
            candidate_pairs: candidates.values().sum(),
            random_pairs: random.values().sum(),
            em_iterations: iterations,
            expected_matches,
            mentions,
            persons,
        },
        named_mentions: 0,
    }
}

impl Model {
    /// A level's weight; for an exact name or a homophone, `frequency` (the share of mentions
    /// with that name or reading) stands in for u.
    pub fn level_weight(&self, comparison: usize, level: u8, frequency: Option<f64>) -> f64 {
        let l = &self.comparisons[comparison].levels[level as usize];
        match frequency {
            Some(f) if comparison == NAME && level != 0 => (l.m / f).log2(),
            _ => l.weight,
        }
    }

    /// The prior plus every comparison's weight: the log2 odds that the pair is one person.
    pub fn match_weight(&self, pattern: &Pattern, name_frequency: Option<f64>) -> f64 {
        self.prior_weight + (0..pattern.len()).map(|c| self.level_weight(c, pattern[c], name_frequency)).sum::<f64>()
    }

    /// A saved model (the warehouse keeps one per run that learned it), if the file exists.
    pub fn load(path: &Path) -> Result<Option<Model>, ModelError> {
        let path = path.to_path_buf();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ModelError::Read { path, message: e.to_string() }),
        };
        let model: Model = serde_json::from_str(&text).map_err(|e| ModelError::Read { path: path.clone(), message: e.to_string() })?;
        let shape_matches = model.comparisons.len() == COMPARISONS.len()
            && model.comparisons.iter().zip(COMPARISONS).all(|(c, (_, levels))| c.levels.len() == levels.len());
        if !shape_matches {
            return Err(ModelError::Read { path, message: "its comparisons are not this version's".into() });
        }
        Ok(Some(model))
    }

    /// Saves the model whole or not at all.
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        let text = serde_json::to_string_pretty(self).expect("model serialises");
        crate::warehouse::write_atomic(path, text.as_bytes()).map_err(|e| ModelError::Write { path: path.to_path_buf(), message: e.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::comparison::PLACE;

    /// A city of pairs: matches agree on most things, non-matches are random.
    fn counts(pairs: &[(Pattern, u64)]) -> PatternCounts {
        pairs.iter().copied().collect()
    }

    #[test]
    fn em_learns_agreement_of_matches_and_chance_agreement_of_others() {
        let random = counts(&[([0, 4, 2, 1, 2], 9_000), ([0, 4, 2, 2, 2], 9_000), ([3, 4, 2, 1, 2], 1_000), ([0, 1, 2, 1, 2], 20), ([0, 4, 1, 1, 2], 5)]);
        let candidates = counts(&[
            // One person's records found by the number: name and birth date mostly agree.
            ([1, 1, 1, 1, 0], 9_000),
            ([1, 2, 1, 1, 0], 600),
            ([1, 1, 0, 1, 0], 300),
            // A family member's number keyed by mistake.
            ([1, 4, 2, 2, 0], 100),
            // Found by name and birth date: most are the same person without a usable number,
            // some are namesakes born the same day with numbers of their own.
            ([0, 1, 1, 1, 1], 800),
            ([3, 1, 1, 1, 2], 60),
        ]);
        let model = train(&candidates, &random, 20_000, 10_000);
        let name_exact = &model.comparisons[NAME].levels[NAME_EXACT as usize];
        assert!(name_exact.m > 0.85 && name_exact.m < 0.99, "{name_exact:?}");
        let conflicting = &model.comparisons[NUMBER].levels[3];
        assert!(conflicting.weight < 0.0, "{conflicting:?}");
        assert!(model.comparisons[BIRTH].levels[1].weight > 5.0);
        assert!(model.comparisons[PLACE].levels[1].weight > 0.0);
        assert!(model.prior_weight < -10.0 && model.training.expected_matches > 9_000.0, "{:?}", model.training);
        // A common name weighs less than a rare one.
        assert!(model.level_weight(NAME, NAME_EXACT, Some(0.01)) < model.level_weight(NAME, NAME_EXACT, Some(0.0001)));
    }

    #[test]
    fn a_saved_model_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("_linkage/run1.json");
        assert_eq!(Model::load(&path).unwrap(), None);
        let model = train(&counts(&[([1, 1, 1, 1, 0], 10)]), &counts(&[([0, 4, 2, 1, 2], 10)]), 10, 10);
        model.save(&path).unwrap();
        assert_eq!(Model::load(&path).unwrap(), Some(model));
    }
}
