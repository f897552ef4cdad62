//! Reuse: a source whose files are byte-identical to an earlier run's is not parsed again; the
//! accepted rows, quarantine and counts that run staged are taken as they are.
//!
//! Each committed run keeps every source's staged rows in the warehouse under the source's
//! fingerprint: pophub's version, the source's pipeline entry, and every file's path and SHA-256.
//! The rows also depend on the run's day through future dates: an entry is reused on the same
//! day, or on a later day when none of its dates was in the future and the source's expressions
//! call no function of the day. Otherwise the source is parsed as usual. An entry is a folder:
//! `staged.parquet`, `mentions.parquet` and `entry.json`, written last, so a folder without it
//! is incomplete and ignored.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::drift::DriftEvent;
use super::{IngestError, Quarantined, SourceStats, SourceTable};
use crate::config::Source;

const ENTRY_VERSION: u32 = 1;

/// Functions whose value depends on the run's day; a source whose expressions call one is
/// reused only on the same day.
const DAY_FUNCTIONS: &[&str] = &["parse_date", "citizen_id_normalize", "citizen_id_status", "now(", "current_date", "current_time"];

#[derive(Serialize, Deserialize)]
struct Entry {
    version: u32,
    fingerprint: String,
    as_of: NaiveDate,
    /// Values found to be in the future on `as_of` (quarantined or kept as null).
    future_findings: u64,
    rejected_indexes: Vec<u32>,
    quarantine: Vec<Quarantined>,
    stats: SourceStats,
    drift: Vec<DriftEvent>,
}

/// A file's size and SHA-256, read once in chunks.
#[derive(Debug, Clone)]
pub struct FileDigest {
    /// Size of the file in bytes.
    pub bytes: u64,
    /// SHA-256 of the file's contents, in lowercase hex.
    pub sha256: String,
}

/// Size and SHA-256 of the file at `path`, read in chunks of 8 MB.
pub fn digest(path: &Path) -> Result<FileDigest, IngestError> {
    let io = |e| IngestError::Io { file: path.to_path_buf(), source: e };
    let mut file = File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 8 << 20];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buffer).map_err(io)?;
        if n == 0 {
            return Ok(FileDigest { bytes, sha256: format!("{:x}", hasher.finalize()) });
        }
        hasher.update(&buffer[..n]);
        bytes += n as u64;
    }
}

/// The fingerprint of a source's rows: its pipeline entry, pophub's version, and its files'
/// paths and contents.
pub fn fingerprint(source: &Source, files: &[PathBuf], digests: &[FileDigest]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(env!("CARGO_PKG_VERSION").as_bytes());
    hasher.update(format!("{source:?}").as_bytes());
    for (path, d) in files.iter().zip(digests) {
        hasher.update(path.to_string_lossy().as_bytes());
        hasher.update(d.sha256.as_bytes());
    }
    format!("{:x}", hasher.finalize())
}

fn uses_day_functions(source: &Source) -> bool {
    let text = format!("{source:?}");
    DAY_FUNCTIONS.iter().any(|f| text.contains(f))
}

/// The source's rows from an earlier run, when an entry with this fingerprint can stand for
/// tonight's parse; `None` otherwise (a damaged or incomplete entry is passed over: it is a cache).
pub fn load(store: &Path, index: usize, source: &Source, fingerprint: &str, as_of: NaiveDate) -> Option<SourceTable> {
    let dir = store.join(fingerprint);
    let entry: Entry = serde_json::from_slice(&std::fs::read(dir.join("entry.json")).ok()?).ok()?;
    let same_day = entry.as_of == as_of;
    let later_and_day_free = as_of > entry.as_of && entry.future_findings == 0 && !uses_day_functions(source);
    if entry.version != ENTRY_VERSION || entry.fingerprint != fingerprint || !(same_day || later_and_day_free) {
        return None;
    }
    // A source with mentions whose entry lacks them is incomplete: parsed again.
    let mentions = Some(dir.join("mentions.parquet")).filter(|p| p.exists());
    if mentions.is_none() && !source.mentions.is_empty() {
        return None;
    }
    let mut stats = entry.stats;
    stats.reused = true;
    Some(SourceTable { index, staged: dir.join("staged.parquet"), rejected_indexes: entry.rejected_indexes, mentions, quarantine: entry.quarantine, stats, drift: entry.drift })
}

/// Keeps tonight's rows of the source for later runs (moving its staged file out of the run's
/// staging folder) and removes the source's other entries.
pub fn save(store: &Path, table: &SourceTable, as_of: NaiveDate) -> Result<(), IngestError> {
    let fingerprint = &table.stats.fingerprint;
    let dir = store.join(fingerprint);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e| IngestError::Io { file: path, source: e }
    };
    if !table.stats.reused {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let staged = dir.join("staged.parquet");
        std::fs::rename(&table.staged, &staged).map_err(io(&staged))?;
        if let Some(staged_mentions) = &table.mentions {
            let mentions = dir.join("mentions.parquet");
            std::fs::rename(staged_mentions, &mentions).map_err(io(&mentions))?;
        }
        let future_findings = table.stats.quarantine_reasons.iter().chain(&table.stats.warnings).filter(|(k, _)| k.contains("future")).map(|(_, n)| n).sum();
        let mut stats = table.stats.clone();
        stats.reused = false;
        let entry = Entry {
            version: ENTRY_VERSION,
            fingerprint: fingerprint.clone(),
            as_of,
            future_findings,
            rejected_indexes: table.rejected_indexes.clone(),
            quarantine: table.quarantine.clone(),
            stats,
            drift: table.drift.clone(),
        };
        let text = serde_json::to_vec(&entry).expect("an entry serialises");
        crate::warehouse::write_atomic(&dir.join("entry.json"), &text).map_err(|e| IngestError::Staging {
            source_name: table.stats.source.clone(),
            path: dir.clone(),
            message: e.to_string(),
        })?;
    }
    for old in std::fs::read_dir(store).map_err(io(store))?.flatten() {
        if old.file_name().to_string_lossy() != fingerprint.as_str() {
            let _ = std::fs::remove_dir_all(old.path());
        }
    }
    Ok(())
}
