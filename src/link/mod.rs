//! Link: every person mention resolved to a person with a stable key. `mentions` builds the
//! table the linker reads, `comparison` names the comparisons and their levels, `score` puts a
//! mention and a candidate on them, `model` learns their weights, `resolve` decides, `review`
//! keeps reviewers' decisions.

pub mod carry;
pub mod comparison;
pub mod mentions;
pub mod model;
pub mod resolve;
pub mod review;
pub mod score;

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use sha2::{Digest, Sha256};

use crate::config::LinkageOptions;
use mentions::MentionColumns;
use model::Model;
pub use resolve::{Linkage, Rule};

/// A person's key: derived from the mention that founded the person (its source, record key and
/// role), so it is the same every night the founding record is.
pub fn person_key(source: &str, record_key: &str, role: &str) -> String {
    let digest = Sha256::digest(format!("{source}\u{1f}{record_key}\u{1f}{role}").as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("P{hex}")
}

/// Links the mentions and returns them with `person_key`, `link_rule`, `match_weight` and the
/// review candidate (`review_person_key`, `review_weight`) appended. Without a `model` (from
/// earlier nights), one is learned from these mentions.
/// With `previous` (last night's links, compared by `carry`), unchanged links are carried over.
pub fn link(
    mentions: &RecordBatch,
    options: &LinkageOptions,
    decisions: &review::Decisions,
    model: Option<&Model>,
    previous: Option<&RecordBatch>,
) -> (RecordBatch, Linkage) {
    let m = MentionColumns::new(mentions);
    let previous = previous.filter(|_| model.is_some()).map(|p| carry::compare(&m, p));
    let linkage = resolve::resolve(&m, &resolve::Judgement { options, decisions, model, previous: previous.as_ref() });
    let keys = &linkage.keys;
    let person_key: StringArray = linkage.person_of.iter().map(|p| p.map(|p| keys[p as usize].as_str())).collect();
    let review_key: StringArray = linkage.review.iter().map(|r| r.map(|(p, _)| keys[p as usize].as_str())).collect();
    let review_weight: Float64Array = linkage.review.iter().map(|r| r.map(|(_, weight)| weight)).collect();
    let rule: StringArray = linkage.rule.iter().map(|r| Some(r.as_str())).collect();
    let weights: Float64Array = linkage.weights.iter().copied().collect();
    let mut fields: Vec<Field> = mentions.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new("person_key", DataType::Utf8, true));
    fields.push(Field::new("link_rule", DataType::Utf8, false));
    fields.push(Field::new("match_weight", DataType::Float64, true));
    fields.push(Field::new("review_person_key", DataType::Utf8, true));
    fields.push(Field::new("review_weight", DataType::Float64, true));
    let mut columns: Vec<ArrayRef> = mentions.columns().to_vec();
    columns.push(Arc::new(person_key));
    columns.push(Arc::new(rule));
    columns.push(Arc::new(weights));
    columns.push(Arc::new(review_key));
    columns.push(Arc::new(review_weight));
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("columns match");
    (batch, linkage)
}
