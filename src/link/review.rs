//! Review: candidate links in the grey zone (a match weight worth a look, not enough to link) are
//! published as the `review_queue`; a person decides "same" or "different", and every later run
//! honours the decision. Decisions are kept in the warehouse (`warehouse::Warehouse::review_decisions`).

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::PathBuf;

use crate::warehouse::Warehouse;

use serde::{Deserialize, Serialize};

/// A mention as `source:record_key:role`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MentionRef {
    /// The source's name in the pipeline.
    pub source: String,
    /// The record's key within its source.
    pub record_key: String,
    /// What the person is to the record, e.g. `insured`.
    pub role: String,
}

impl std::str::FromStr for MentionRef {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match (s.find(':'), s.rfind(':')) {
            (Some(a), Some(b)) if a < b => Ok(MentionRef { source: s[..a].into(), record_key: s[a + 1..b].into(), role: s[b + 1..].into() }),
            _ => Err(format!("`{s}` is not SOURCE:RECORD_KEY:ROLE, e.g. si_insured:SI000000001:insured")),
        }
    }
}

impl std::fmt::Display for MentionRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.source, self.record_key, self.role)
    }
}

/// A reviewer's verdict on a mention and a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The mention is that person: later runs link it to them.
    Same,
    /// The mention is not that person: later runs never link it to them.
    Different,
}

/// One decision, as a line of the decisions file (JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Decision {
    /// The mention decided on.
    pub mention: MentionRef,
    /// The person it is or is not, `P` + 16 hex digits.
    pub person_key: String,
    /// Whether the mention is that person.
    pub decision: Verdict,
    /// When it was recorded, RFC 3339 in UTC.
    pub decided_at: String,
}

/// The decisions file cannot be read, written or parsed.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// The decisions file cannot be read, or a decision cannot be appended to it.
    #[error("{path}: {source}")]
    Io {
        /// The decisions file.
        path: PathBuf,
        /// Why reading or writing failed.
        source: std::io::Error,
    },
    /// A line of the decisions file is not a decision.
    #[error("{path}: line {line}: {message}; fix or remove the line")]
    Bad {
        /// The decisions file.
        path: PathBuf,
        /// The line at fault, from 1.
        line: usize,
        /// The JSON error.
        message: String,
    },
}

/// Every decision taken so far; a later decision on the same pair replaces an earlier one.
#[derive(Debug, Default)]
pub struct Decisions {
    /// Mention → key of the person a reviewer said it is.
    pub same: HashMap<MentionRef, String>,
    /// Mention and person key pairs a reviewer said are different people.
    pub different: HashSet<(MentionRef, String)>,
}

impl Decisions {
    /// Reads every decision recorded in the warehouse; empty when there is no decisions file.
    pub fn load(warehouse: &Warehouse) -> Result<Decisions, ReviewError> {
        let path = warehouse.review_decisions();
        let mut out = Decisions::default();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(source) => return Err(ReviewError::Io { path, source }),
        };
        for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let d: Decision = serde_json::from_str(line).map_err(|e| ReviewError::Bad { path: path.clone(), line: n + 1, message: e.to_string() })?;
            match d.decision {
                Verdict::Same => {
                    out.different.remove(&(d.mention.clone(), d.person_key.clone()));
                    out.same.insert(d.mention, d.person_key);
                }
                Verdict::Different => {
                    if out.same.get(&d.mention) == Some(&d.person_key) {
                        out.same.remove(&d.mention);
                    }
                    out.different.insert((d.mention, d.person_key));
                }
            }
        }
        Ok(out)
    }

    /// Whether no decision has been recorded.
    pub fn is_empty(&self) -> bool {
        self.same.is_empty() && self.different.is_empty()
    }
}

/// Records a decision; it takes effect from the next run.
pub fn append(warehouse: &Warehouse, decision: &Decision) -> Result<(), ReviewError> {
    let path = warehouse.review_decisions();
    let io = |source| ReviewError::Io { path: path.clone(), source };
    std::fs::create_dir_all(path.parent().expect("in _review")).map_err(io)?;
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&path).map_err(io)?;
    writeln!(f, "{}", serde_json::to_string(decision).expect("serialises")).map_err(io)
}
