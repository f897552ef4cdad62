//! The run manifest: what one run read (files with content hashes and row counts), what it
//! linked, what it wrote (tables and versions), how long each stage took and the peak memory,
//! and how it ended. Written for every run, committed or not, to `<warehouse>/_runs/<run_id>.json`
//! (through `warehouse`, which owns the path), and read back through one typed reader.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ingest::SourceStats;
use crate::ingest::drift::DriftEvent;
use crate::link::model::Model;
use crate::warehouse::{TableVersion, Warehouse, WarehouseError, read_json, write_atomic};

/// The layout version of a run manifest; a manifest of another version is refused.
pub const SCHEMA_VERSION: u32 = 1;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Published and committed as night `night`.
    Committed,
    /// Stopped by drift before anything was published.
    Stopped,
    /// Failed in `failed_stage`; nothing was committed.
    Failed,
}

/// How long one stage of the run took, and the memory in use when it ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageTiming {
    /// The stage, e.g. `ingest`, `link`, `publish` or `commit`.
    pub stage: String,
    /// Wall-clock time the stage took, in seconds.
    pub seconds: f64,
    /// The process's peak resident memory when the stage ended.
    pub peak_memory_bytes: u64,
}

/// What the night's linkage did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LinkSummary {
    /// The pipeline's thresholds this night was linked with.
    pub match_weight: f64,
    /// The lead over the runner-up a link needed.
    pub margin_weight: f64,
    /// The weight from which an unlinked mention's best candidate goes to the review queue.
    #[serde(default)]
    pub review_weight: f64,
    /// The model it was linked with, and whether it was learned tonight (else it is the model
    /// of earlier nights, kept in `<warehouse>/_linkage/model.json`).
    pub model_trained: bool,
    /// The linkage model itself: every level's m, u and weight, and the prior.
    pub model: Model,
    /// Mentions the linker read.
    pub mentions: u64,
    /// Persons found: founded by register records or by mentions of roles that start persons.
    pub persons: u64,
    /// Mention–candidate pairs scored.
    pub pairs_scored: u64,
    /// Mentions whose link was carried over from the night before without scoring.
    #[serde(default)]
    pub mentions_carried: u64,
    /// Candidate pairs scored by the blocking rule that first found them, e.g. `name_birth`.
    #[serde(default)]
    pub pairs_by_block: BTreeMap<String, u64>,
    /// Mentions per link rule, by its published name, e.g. `id_exact`.
    pub rules: BTreeMap<String, u64>,
    /// Reviewers' decisions that name a person no longer there (merged away, record gone):
    /// `mention same|different person_key`. They were not applied.
    #[serde(default)]
    pub decisions_not_applied: Vec<String>,
}

/// The record of one run, kept as `<warehouse>/_runs/<run_id>.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunManifest {
    /// Layout version of the manifest (`SCHEMA_VERSION`).
    pub schema_version: u32,
    /// The run's id: its start time in UTC, to the millisecond, e.g. `20261101T020000123Z`.
    pub run_id: String,
    /// How the run ended.
    pub status: RunStatus,
    /// The night this run committed.
    pub night: Option<u32>,
    /// Where a failed or stopped run ended, and why.
    pub failed_stage: Option<String>,
    /// The error that ended a failed or stopped run.
    pub reason: Option<String>,
    /// The version of pophub that ran.
    pub pophub_version: String,
    /// The pipeline's name (`[pipeline] name`).
    pub pipeline: String,
    /// Path of the pipeline file, as it was given.
    pub pipeline_file: String,
    /// SHA-256 of the pipeline file's bytes, in hex.
    pub pipeline_sha256: String,
    /// The day the exports describe, `YYYY-MM-DD`: `[pipeline] as_of`, or the run's date.
    pub as_of: String,
    /// When the run started, RFC 3339 in UTC.
    pub started_at: String,
    /// When the run ended, RFC 3339 in UTC.
    pub finished_at: String,
    /// The warehouse's root folder.
    pub warehouse: String,
    /// Per source: the files read with their hashes, and rows read, accepted and quarantined.
    pub sources: Vec<SourceStats>,
    /// Drift found tonight (only warnings, or the night would not have published).
    pub drift: Vec<DriftEvent>,
    /// Absent when the run ended before linking.
    pub linkage: Option<LinkSummary>,
    /// The table versions the run wrote (none is read before the night is committed).
    pub tables: Vec<TableVersion>,
    /// Each stage's time and memory, in the order they ran.
    pub stages: Vec<StageTiming>,
    /// Each published table's time and memory (the `stage` is the table), in the order written.
    #[serde(default)]
    pub publish_stages: Vec<StageTiming>,
    /// The process's peak resident memory over the run, in bytes.
    pub peak_memory_bytes: u64,
}

impl RunManifest {
    /// Writes the manifest to `<warehouse>/_runs/<run_id>.json`, whole or not at all.
    pub fn write(&self, warehouse: &Warehouse) -> Result<(), WarehouseError> {
        let text = serde_json::to_string_pretty(self).expect("manifest serialises");
        write_atomic(&warehouse.run_record(&self.run_id), text.as_bytes())
    }

    /// The manifest of a run; an error naming the file when it is missing or damaged.
    pub fn read(warehouse: &Warehouse, run_id: &str) -> Result<RunManifest, WarehouseError> {
        let path = warehouse.run_record(run_id);
        let manifest: RunManifest = read_json(&path)?
            .ok_or_else(|| WarehouseError::Corrupt { path: path.clone(), message: "the run's manifest is missing".into() })?;
        if manifest.schema_version != SCHEMA_VERSION {
            return Err(WarehouseError::Corrupt { path, message: format!("schema_version {} is not {SCHEMA_VERSION}", manifest.schema_version) });
        }
        Ok(manifest)
    }
}

/// The process's peak resident memory (VmHWM), in bytes; 0 where /proc is not available.
pub fn peak_memory_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}
