//! Link: every person mention resolved to a person with a stable key. `mentions` builds the
//! table the linker reads, `comparison` names the comparisons and their levels, `score` puts a
//! mention and a candidate on them, `model` learns their weights, `resolve` decides, `review`
//! keeps reviewers' decisions.

pub mod carry;
pub mod comparison;
pub mod mentions;
pub mod model;
mod parallel;
pub mod resolve;
pub mod review;
pub mod score;

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray, StringBuilder};
use arrow::datatypes::{DataType, Field};
use sha2::{Digest, Sha256};

use crate::config::LinkageOptions;
use mentions::MentionColumns;
use model::Model;
pub use resolve::{Linkage, Rule};

/// A person's key: derived from the mention that founded the person (its source, record key and
/// role), so it is the same every night the founding record is. Written `P` and 16 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PersonKey(u64);

impl PersonKey {
    /// The key of the person founded by this mention.
    pub fn of(source: &str, record_key: &str, role: &str) -> PersonKey {
        let digest = Sha256::digest(format!("{source}\u{1f}{record_key}\u{1f}{role}").as_bytes());
        PersonKey(u64::from_be_bytes(digest[..8].try_into().expect("eight bytes")))
    }

    /// A key as written (`P` and 16 lowercase hex digits); none for any other text.
    pub fn parse(text: &str) -> Option<PersonKey> {
        let hex = text.strip_prefix('P').filter(|h| h.len() == 16 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))?;
        u64::from_str_radix(hex, 16).ok().map(PersonKey)
    }

    /// The key as a number, which is already a hash.
    fn value(self) -> u64 {
        self.0
    }
}

impl std::fmt::Display for PersonKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "P{:016x}", self.0)
    }
}

/// A key's 64-bit hash, the same every run (SipHash with fixed keys): block keys and mention
/// keys are held as these.
fn hash_of(key: impl std::hash::Hash) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    key.hash(&mut h);
    std::hash::Hasher::finish(&h)
}

/// Links the mentions (the linker's columns, `mentions::Mentions::linker`). Without a `model`
/// (from earlier nights), one is learned from these mentions. With `previous` (last night's
/// links, compared by `carry`), unchanged links are carried over. The links are the same for
/// any number of `threads`. Every mention decided ticks `progress`.
pub fn link(
    mentions: &RecordBatch,
    options: &LinkageOptions,
    threads: usize,
    decisions: &review::Decisions,
    model: Option<&Model>,
    previous: Option<&RecordBatch>,
    progress: &crate::progress::Stage,
) -> Linkage {
    let m = MentionColumns::new(mentions);
    let previous = previous.filter(|_| model.is_some()).map(|p| carry::compare(&m, p));
    resolve::resolve(&m, &resolve::Judgement { options, decisions, model, previous: previous.as_ref(), threads, progress })
}

/// The columns a linkage adds to the mentions: `person_key`, `link_rule`, `match_weight` and
/// the review candidate (`review_person_key`, `review_weight`).
pub fn linked_fields() -> Vec<Field> {
    vec![
        Field::new("person_key", DataType::Utf8, true),
        Field::new("link_rule", DataType::Utf8, false),
        Field::new("match_weight", DataType::Float64, true),
        Field::new("review_person_key", DataType::Utf8, true),
        Field::new("review_weight", DataType::Float64, true),
    ]
}

/// The `linked_fields` of mentions `offset..offset + len`.
pub fn linked_columns(linkage: &Linkage, offset: usize, len: usize) -> Vec<ArrayRef> {
    use std::fmt::Write;
    let range = offset..offset + len;
    let keys = |persons: &mut dyn Iterator<Item = Option<u32>>| -> ArrayRef {
        let mut column = StringBuilder::with_capacity(len, len * 17);
        for p in persons {
            match p {
                Some(p) => {
                    write!(column, "{}", linkage.keys[p as usize]).expect("writing to memory");
                    column.append_value("");
                }
                None => column.append_null(),
            }
        }
        Arc::new(column.finish())
    };
    let review = &linkage.review[range.clone()];
    let person_key = keys(&mut linkage.person_of[range.clone()].iter().copied());
    let review_key = keys(&mut review.iter().map(|r| r.map(|(p, _)| p)));
    let review_weight: Float64Array = review.iter().map(|r| r.map(|(_, weight)| weight)).collect();
    let rule: StringArray = linkage.rule[range.clone()].iter().map(|r| Some(r.as_str())).collect();
    let weights: Float64Array = linkage.weights[range].iter().copied().collect();
    vec![person_key, Arc::new(rule), Arc::new(weights), review_key, Arc::new(review_weight)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_person_key_is_written_and_read_back() {
        let key = PersonKey::of("household_register", "R1", "resident");
        let text = key.to_string();
        assert_eq!(text.len(), 17);
        assert!(text.starts_with('P'));
        assert_eq!(PersonKey::parse(&text), Some(key));
        assert_eq!(PersonKey::parse("P0123"), None);
        assert_eq!(PersonKey::parse("PABCDEF0123456789"), None);
    }
}
