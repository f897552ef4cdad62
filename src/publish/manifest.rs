//! The run manifest: what one night read (files with content hashes and row counts), what it
//! linked, what it wrote (tables and versions), how long each stage took and the peak memory.
//! Written to `<warehouse>/_runs/<run_id>.json` and `<warehouse>/_runs/latest.json`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{PublishError, TableInfo};
use crate::link::model::Model;
use crate::ingest::SourceStats;
use crate::ingest::drift::DriftEvent;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageTiming {
    pub stage: String,
    pub seconds: f64,
    /// The process's peak resident memory when the stage ended.
    pub peak_memory_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LinkSummary {
    /// The pipeline's thresholds this night was linked with.
    pub match_weight: f64,
    pub margin_weight: f64,
    /// The model it was linked with, and whether it was learned tonight (else it is the model
    /// of earlier nights, kept in `<warehouse>/_linkage/model.json`).
    pub model_trained: bool,
    pub model: Model,
    pub mentions: u64,
    pub persons: u64,
    pub pairs_scored: u64,
    pub rules: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunManifest {
    pub run_id: String,
    pub pophub_version: String,
    pub pipeline: String,
    pub pipeline_file: String,
    pub pipeline_sha256: String,
    pub as_of: String,
    pub started_at: String,
    pub warehouse: String,
    pub sources: Vec<SourceStats>,
    /// Drift found tonight (only warnings, or the night would not have published).
    pub drift: Vec<DriftEvent>,
    pub linkage: LinkSummary,
    pub tables: Vec<TableInfo>,
    pub stages: Vec<StageTiming>,
    pub peak_memory_bytes: u64,
}

impl RunManifest {
    pub fn write(&self, warehouse: &Path) -> Result<(), PublishError> {
        let dir = warehouse.join("_runs");
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| PublishError::Io { path: path.clone(), source }
        };
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let text = serde_json::to_string_pretty(self).expect("manifest serialises");
        let file = dir.join(format!("{}.json", self.run_id));
        std::fs::write(&file, &text).map_err(io(&file))?;
        let latest = dir.join("latest.json");
        std::fs::write(&latest, &text).map_err(io(&latest))?;
        Ok(())
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
