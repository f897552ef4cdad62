//! Ingest: every source of the pipeline read as the department sends it, mapped by its pipeline
//! entry into mentions and facts, typed, and split into accepted rows and quarantined rows with a
//! reason. Per source and per file, rows read = accepted + quarantined.

mod columnar;
mod delimited;
pub mod drift;
mod facts;
mod json_lines;
mod mapping;
pub mod raw;
mod spreadsheet;
mod text;

use std::collections::BTreeMap;
use std::path::PathBuf;

use arrow::array::RecordBatch;
use chrono::NaiveDate;
use datafusion::prelude::SessionContext;
use sha2::{Digest, Sha256};

use crate::config::{Format, Pipeline, Source};
pub use facts::{RESIDENCE_STATUSES, ValueType, fact_type, mention_type};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("cannot read {file}: {source}")]
    Io { file: PathBuf, source: std::io::Error },
    #[error("{file}: not valid {encoding} at byte offset {offset}; check the source's `encoding` in the pipeline")]
    Decode { file: PathBuf, offset: u64, encoding: &'static str },
    #[error("{file}: cannot read it: {message}")]
    Spreadsheet { file: PathBuf, message: String },
    #[error("{file}: column `{column}` (key `{key}`) is not in the file; its columns are: {available}")]
    MissingColumn { file: String, key: String, column: String, available: String },
    #[error("source `{source_name}`, key `{key}`: the expression does not work on this file ({file}): {message}")]
    Expression { source_name: String, key: String, file: String, message: String },
    #[error("source `{source_name}`: {message}")]
    Engine { source_name: String, message: String },
}

/// A row that was not accepted, and why.
#[derive(Debug, Clone)]
pub struct Quarantined {
    pub file: String,
    /// Line of the file (CSV and JSON lines count from 1, the header included).
    pub row: u64,
    pub position: String,
    pub reason: &'static str,
    pub column: Option<String>,
    pub value: Option<String>,
    pub message: String,
}

/// Counts for one file of a source.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileStats {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
    pub rows_read: u64,
    pub accepted: u64,
    pub quarantined: u64,
    /// Why the file was not read (drift policy `undecodable_file = "warn"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Counts for one source; `rows_read == accepted + quarantined` always.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SourceStats {
    pub source: String,
    pub department: String,
    pub rows_read: u64,
    pub accepted: u64,
    pub quarantined: u64,
    pub quarantine_reasons: BTreeMap<String, u64>,
    /// Values kept as null (optional fields that did not parse), by `field: problem`.
    pub warnings: BTreeMap<String, u64>,
    /// The export's columns, across its files, in the order first seen.
    pub columns: Vec<String>,
    pub files: Vec<FileStats>,
}

/// A source's accepted rows, mapped and typed (see `mapping` for the column names).
pub struct SourceTable {
    pub index: usize,
    pub batch: RecordBatch,
    pub quarantine: Vec<Quarantined>,
    pub stats: SourceStats,
    /// Drift found while reading (missing columns, undecodable files).
    pub drift: Vec<drift::DriftEvent>,
}

/// Reads and maps every source of the pipeline.
pub async fn ingest(pipeline: &Pipeline, as_of: NaiveDate) -> Result<Vec<SourceTable>, crate::Error> {
    let ctx = crate::engine::session(as_of);
    let mut out = Vec::new();
    for (index, source) in pipeline.sources.iter().enumerate() {
        out.push(ingest_source(pipeline, &ctx, index, source, as_of).await?);
    }
    Ok(out)
}

async fn ingest_source(
    pipeline: &Pipeline,
    ctx: &SessionContext,
    index: usize,
    source: &Source,
    as_of: NaiveDate,
) -> Result<SourceTable, crate::Error> {
    let files = pipeline.source_files(source)?;
    let mut stats = SourceStats {
        source: source.name.clone(),
        department: source.department.clone(),
        rows_read: 0,
        accepted: 0,
        quarantined: 0,
        quarantine_reasons: BTreeMap::new(),
        warnings: BTreeMap::new(),
        columns: Vec::new(),
        files: Vec::new(),
    };
    let mut drift_events = Vec::new();
    let mut mapper = mapping::Mapper::new(source, as_of);
    let mut batches = Vec::new();
    let mut quarantine = Vec::new();
    for path in files {
        let bytes = std::fs::read(&path).map_err(|e| IngestError::Io { file: path.clone(), source: e })?;
        let file_name = path.to_string_lossy().to_string();
        let batch_rows = pipeline.pipeline.batch_rows;
        let read = read_file(source, &path, &bytes, &file_name, batch_rows);
        let (raw_file, mut rejected, rows_read) = match read {
            Ok(r) => r,
            // A file that no longer decodes is drift: reported, skipped, and the policy decides.
            Err(e @ IngestError::Decode { .. }) => {
                drift_events.push(drift::DriftEvent {
                    source: source.name.clone(),
                    kind: "undecodable_file".into(),
                    action: source.drift.undecodable_file,
                    message: e.to_string(),
                });
                stats.files.push(FileStats {
                    path: file_name,
                    bytes: bytes.len() as u64,
                    sha256: format!("{:x}", Sha256::digest(&bytes)),
                    rows_read: 0,
                    accepted: 0,
                    quarantined: 0,
                    error: Some(e.to_string()),
                });
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        for column in &raw_file.columns {
            if !stats.columns.contains(column) {
                stats.columns.push(column.clone());
            }
        }
        let mapped = mapper.map_file(ctx, &file_name, raw_file).await?;
        rejected.extend(mapped.quarantine);
        let accepted = mapped.batch.num_rows() as u64;
        stats.files.push(FileStats {
            path: file_name,
            bytes: bytes.len() as u64,
            sha256: format!("{:x}", Sha256::digest(&bytes)),
            rows_read,
            accepted,
            quarantined: rejected.len() as u64,
            error: None,
        });
        stats.rows_read += rows_read;
        stats.accepted += accepted;
        stats.quarantined += rejected.len() as u64;
        batches.push(mapped.batch);
        quarantine.extend(rejected);
    }
    for q in &quarantine {
        *stats.quarantine_reasons.entry(q.reason.to_string()).or_default() += 1;
    }
    let schema = batches.first().map_or_else(|| mapper.empty_schema(), |b| b.schema());
    stats.warnings = mapper.warnings;
    debug_assert_eq!(stats.rows_read, stats.accepted + stats.quarantined);
    drift_events.extend(mapper.drift);
    let batch = arrow::compute::concat_batches(&schema, &batches)
        .map_err(|e| IngestError::Engine { source_name: source.name.clone(), message: e.to_string() })?;
    Ok(SourceTable { index, batch, quarantine, stats, drift: drift_events })
}

/// Reads one file into raw batches: (raw file, rows rejected while splitting, rows read).
fn read_file(source: &Source, path: &std::path::Path, bytes: &[u8], file_name: &str, batch_rows: usize) -> Result<(raw::RawFile, Vec<Quarantined>, u64), IngestError> {
    if source.format == Format::Parquet {
        let (raw_file, rows) = columnar::read(path, batch_rows)?;
        return Ok((raw_file, Vec::new(), rows));
    }
    let fixed_width = matches!(source.format, Format::Csv | Format::Xlsx);
    let mut sink = raw::RawSink::new(file_name.to_string(), fixed_width, batch_rows);
    match source.format {
        Format::Xlsx => spreadsheet::read(path, source.sheet.as_deref(), source.header, &mut sink)?,
        format => {
            let text = text::decode(path, bytes, source.encoding)?;
            match format {
                Format::Csv => delimited::read(&text, source.delimiter, source.header, &mut sink),
                Format::Json => json_lines::read_array(&text, source.explode.as_deref(), &mut sink),
                _ => json_lines::read(&text, source.explode.as_deref(), &mut sink),
            }
        }
    }
    Ok(sink.finish())
}
