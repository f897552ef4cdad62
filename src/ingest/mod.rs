//! Ingest: every source of the pipeline read as the department sends it, mapped by its pipeline
//! entry into mentions and facts, typed, and split into accepted rows and quarantined rows with a
//! reason. Per source and per file, rows read = accepted + quarantined.

mod delimited;
pub mod drift;
mod json_lines;
mod mapping;
pub mod raw;
mod repeat_filter;
pub mod reuse;
mod spreadsheet;
mod staging;
mod stream;
mod text;

pub use staging::staging_writer;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use datafusion::prelude::SessionContext;

use crate::config::{Format, Pipeline, Source};

/// What can stop ingest: a source that cannot be read, mapped or staged.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// A source file, a staged file or a reuse entry could not be opened, read, created or moved.
    #[error("cannot read {file}: {source}")]
    Io {
        /// The file or folder at fault.
        file: PathBuf,
        /// Why the operating system refused.
        source: std::io::Error,
    },
    /// A text file is not valid in the encoding its source declares.
    #[error("{file}: not valid {encoding} at byte offset {offset}; check the source's `encoding` in the pipeline")]
    Decode {
        /// The file that does not decode.
        file: PathBuf,
        /// Where the first bad sequence begins, in bytes from the start of the file (from 0).
        offset: u64,
        /// The declared encoding, as the pipeline spells it (`utf-8`, `gbk`, `gb18030`).
        encoding: &'static str,
    },
    /// A file cannot be read in its format at all: not a workbook, a missing sheet, a workbook
    /// that inflates too far, a damaged Parquet file.
    #[error("{file}: cannot read it: {message}")]
    Unreadable {
        /// The file at fault.
        file: PathBuf,
        /// What the reader found wrong.
        message: String,
    },
    /// A column the source's mapping reads is not in a file; reported as drift, not returned.
    #[error("{file}: column `{column}` (key `{key}`) is not in the file; its columns are: {available}")]
    MissingColumn {
        /// Path of the file that lacks the column.
        file: String,
        /// Pipeline key of the mapped field, e.g. `source.<name>.mention.<role>.<field>`.
        key: String,
        /// The export's column the mapping names.
        column: String,
        /// The file's columns, comma-separated, to spot a renamed one.
        available: String,
    },
    /// A mapped field's SQL expression does not plan against a file's columns.
    #[error("source `{source_name}`, key `{key}`: the expression does not work on this file ({file}): {message}")]
    Expression {
        /// The source, as named in the pipeline.
        source_name: String,
        /// Pipeline key of the field whose expression failed.
        key: String,
        /// Path of the file it was planned against.
        file: String,
        /// DataFusion's error.
        message: String,
    },
    /// DataFusion or Arrow failed mapping a chunk or collecting the mention columns.
    #[error("source `{source_name}`: {message}")]
    Engine {
        /// The source, as named in the pipeline.
        source_name: String,
        /// The engine's error.
        message: String,
    },
    /// Accepted rows could not be written to, or read back from, staging or the reuse store.
    #[error("source `{source_name}`: staging its accepted rows in {path}: {message}; check the warehouse's free space")]
    Staging {
        /// The source, as named in the pipeline.
        source_name: String,
        /// The staged file or reuse entry being written or read.
        path: PathBuf,
        /// The Parquet or file-system error.
        message: String,
    },
}

/// A row that was not accepted, and why.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Quarantined {
    /// Path of the file the row came from, as the pipeline resolved it.
    pub file: String,
    /// Line of the file (CSV and JSON lines count from 1, the header included).
    pub row: u64,
    /// Where in the file, readably: `line 7`, `[12] owners[0]`, `sheet Sheet1 row 3`, `row 5` (Parquet).
    pub position: String,
    /// A reason code (`invalid_number`, `future_date`, …; see `schemas/published.md`).
    pub reason: std::borrow::Cow<'static, str>,
    /// The mapped column at fault (`record_key`, `<role>.<field>`, `facts.<field>`); none when the row
    /// could not be split into fields.
    pub column: Option<String>,
    /// The value at fault, or the row's raw text (at most 4 KB, see `bounded`), when there is one.
    pub value: Option<String>,
    /// What is wrong, in words for whoever fixes the export.
    pub message: String,
}

impl Quarantined {
    /// Raw text kept of a quarantined row: the start of it, enough to find and fix the row,
    /// whatever the row's size (a 50 MB line without a newline stays 4 KB here).
    pub fn bounded(mut raw: String) -> String {
        const KEEP: usize = 4096;
        if raw.len() > KEEP {
            let total = raw.len();
            let cut = (0..=KEEP).rev().find(|i| raw.is_char_boundary(*i)).unwrap_or(0);
            raw.truncate(cut);
            raw.push_str(&format!("… ({total} bytes in all)"));
        }
        raw
    }
}

/// Counts for one file of a source.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct FileStats {
    /// Path of the file, as the pipeline resolved it.
    pub path: String,
    /// Size of the file in bytes.
    pub bytes: u64,
    /// SHA-256 of the file's contents, in lowercase hex; empty for a file that did not decode.
    pub sha256: String,
    /// Rows met in the file, accepted or quarantined (a header is not a row).
    pub rows_read: u64,
    /// Rows mapped, typed and staged, and not found to repeat a record key.
    pub accepted: u64,
    /// Rows set aside with a reason (see `Quarantined`).
    pub quarantined: u64,
    /// Why the file was not read (drift policy `undecodable_file = "warn"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Counts for one source; `rows_read == accepted + quarantined` always.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SourceStats {
    /// The source's name in the pipeline.
    pub source: String,
    /// The department that sends the export, from the source's pipeline entry.
    pub department: String,
    /// Rows met across all files of the source.
    pub rows_read: u64,
    /// Rows accepted across all files, after the duplicate check.
    pub accepted: u64,
    /// Rows quarantined across all files.
    pub quarantined: u64,
    /// Quarantined rows by reason code.
    pub quarantine_reasons: BTreeMap<String, u64>,
    /// Values kept as null (optional fields that did not parse), by `field: problem`.
    pub warnings: BTreeMap<String, u64>,
    /// The export's columns, across its files, in the order first seen.
    pub columns: Vec<String>,
    /// Counts for each file, in the order they were read.
    pub files: Vec<FileStats>,
    /// What the accepted rows derive from: the source's pipeline entry, pophub's version and the
    /// files' paths and contents (see `reuse`).
    #[serde(default)]
    pub fingerprint: String,
    /// Whether tonight reused the accepted rows of an earlier run with the same fingerprint
    /// instead of parsing the files again.
    #[serde(default)]
    pub reused: bool,
}

/// A source's accepted rows, mapped and typed (see `mapping` for the column names), staged as
/// Parquet: every column in one file, the columns the linker needs in another.
pub struct SourceTable {
    /// Position of the source in the pipeline's `[[source]]` list, from 0.
    pub index: usize,
    /// Every accepted row, with `_index`, its position among the source's accepted rows.
    pub staged: PathBuf,
    /// Rows of the staged file that a later duplicate check rejected, by `_index`.
    pub rejected_indexes: Vec<u32>,
    /// `_index`, `record_key`, lineage and the mention columns, for the linker; none for a source
    /// without person mentions. Rejected rows are still in it (`mention_batches` leaves them out).
    pub mentions: Option<PathBuf>,
    /// Every quarantined row of the source, those of the duplicate check included.
    pub quarantine: Vec<Quarantined>,
    /// The source's counts, as the run's manifest reports them.
    pub stats: SourceStats,
    /// Drift found while reading (missing columns, undecodable files).
    pub drift: Vec<drift::DriftEvent>,
}

impl SourceTable {
    /// The linker's columns of the source's accepted rows, batch by batch, without the rows the
    /// duplicate check rejected; nothing for a source without mentions.
    pub fn mention_batches(&self) -> Result<Option<staging::MentionBatches>, IngestError> {
        self.mentions.as_ref().map(|path| staging::MentionBatches::open(path, &self.rejected_indexes, &self.stats.source)).transpose()
    }
}

/// The column giving a row's position among its source's accepted rows.
pub const INDEX_COLUMN: &str = "_index";

/// Reads and maps every source of the pipeline, staging accepted rows under `staging`, up to
/// `[engine] threads` sources at a time; the sources come back in the pipeline's order. With a
/// reuse store (`<store>/<source>/`), a source whose fingerprint an earlier run kept there is
/// taken from it instead of being parsed again (see `reuse`).
pub async fn ingest(pipeline: &Pipeline, as_of: NaiveDate, staging: &Path, reuse_store: Option<&Path>, progress: &crate::progress::Progress) -> Result<Vec<SourceTable>, crate::Error> {
    let runtime = crate::engine::runtime(Some(pipeline.pipeline.memory_limit_mb << 20));
    std::fs::create_dir_all(staging).map_err(|source| IngestError::Io { file: staging.to_path_buf(), source })?;
    let mut sources_files = Vec::new();
    for source in &pipeline.sources {
        sources_files.push(pipeline.source_files(source)?);
    }
    let total = sources_files.iter().flatten().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
    let stage = progress.stage("ingest", total, crate::progress::Unit::Bytes);
    let shared = std::sync::Arc::new(pipeline.clone());
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(pipeline.engine.threads()));
    let mut parsing = Vec::new();
    for ((index, source), files) in pipeline.sources.iter().enumerate().zip(sources_files) {
        let digests = files.iter().map(|f| reuse::digest(f)).collect::<Result<Vec<_>, _>>()?;
        let fingerprint = reuse::fingerprint(source, &files, &digests);
        if let Some(kept) = reuse_store.and_then(|store| reuse::load(&store.join(&source.name), index, source, &fingerprint, as_of)) {
            stage.inc(digests.iter().map(|d| d.bytes).sum());
            parsing.push(Parse::Kept(Box::new(kept)));
            continue;
        }
        // A session per source (each maps its chunks as its own `raw` table), all on one memory pool.
        let ctx = crate::engine::session_on(as_of, runtime.clone());
        let (pipeline, slots, staging, stage) = (shared.clone(), slots.clone(), staging.to_path_buf(), stage.clone());
        parsing.push(Parse::Running(tokio::spawn(async move {
            let _slot = slots.acquire_owned().await.expect("the semaphore is never closed");
            let files = files.into_iter().zip(digests).collect();
            let mut table = ingest_source(&pipeline, &ctx, index, &pipeline.sources[index], files, as_of, &staging, &stage).await?;
            table.stats.fingerprint = fingerprint;
            Ok::<_, crate::Error>(table)
        })));
    }
    let mut out = Vec::new();
    // Every source is awaited, so none is still writing to staging when an error returns.
    let mut first_error = None;
    for parse in parsing {
        let table = match parse {
            Parse::Kept(table) => Ok(*table),
            Parse::Running(task) => task.await.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic())),
        };
        match table {
            Ok(table) => out.push(table),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    stage.finish();
    match first_error {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// Reads one export file as `source` declares it, text `chunk_bytes` at a time, to its end, as
/// `pophub run` does before mapping; the rows read and the rows quarantined. For the fuzz targets
/// (`fuzz/`), which cut their inputs into small chunks to reach every chunk boundary.
pub fn read_export(source: &Source, path: &Path, chunk_bytes: usize) -> Result<(u64, u64), IngestError> {
    check_decodes(path, source)?;
    let mut reader = stream::RawReader::open_chunked(source, path, 1024, chunk_bytes)?;
    let (mut read, mut quarantined) = (0, 0);
    while let Some(chunk) = reader.next_chunk()? {
        read += chunk.rows_read;
        quarantined += chunk.quarantine.len() as u64;
    }
    Ok((read, quarantined))
}

/// Reads a small table whole, as an operator hands it over (an external list): the first sheet
/// of an `.xlsx` workbook, or comma-separated text in `encoding`; the first row names the
/// columns. One chunk of every row; rows of the wrong field count are in its quarantine.
pub fn read_small_table(path: &Path, encoding: crate::config::Encoding) -> Result<raw::RawChunk, IngestError> {
    let mut sink = raw::RawSink::new(path.display().to_string(), true, usize::MAX);
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("xlsx")) {
        spreadsheet::read(path, None, true, &mut sink)?;
    } else {
        let bytes = std::fs::read(path).map_err(|source| IngestError::Io { file: path.to_path_buf(), source })?;
        let mut text = text::decode(path, &bytes, encoding)?;
        if !text.ends_with('\n') {
            text.push('\n');
        }
        delimited::read_block(&text, 1, ',', true, &mut true, &mut sink);
    }
    Ok(sink.take_chunk())
}

/// A source taken from the reuse store, or being parsed.
enum Parse {
    Kept(Box<SourceTable>),
    Running(tokio::task::JoinHandle<Result<SourceTable, crate::Error>>),
}

/// Decodes a text file in chunks under its declared encoding, so that one that no longer
/// decodes is known before any of its rows is taken.
fn check_decodes(path: &Path, source: &Source) -> Result<(), IngestError> {
    if !matches!(source.format, Format::Csv | Format::Jsonl | Format::Json) {
        return Ok(());
    }
    let io = |e: std::io::Error| IngestError::Io { file: path.to_path_buf(), source: e };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut decoder = text::ChunkDecoder::new(path, source.encoding);
    let mut buffer = vec![0u8; 8 << 20];
    loop {
        let n = file.read(&mut buffer).map_err(io)?;
        decoder.decode(&buffer[..n], n == 0)?;
        if n == 0 {
            return Ok(());
        }
    }
}

async fn ingest_source(
    pipeline: &Pipeline,
    ctx: &SessionContext,
    index: usize,
    source: &Source,
    files: Vec<(PathBuf, reuse::FileDigest)>,
    as_of: NaiveDate,
    staging: &Path,
    progress: &crate::progress::Stage,
) -> Result<SourceTable, crate::Error> {
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
        fingerprint: String::new(),
        reused: false,
    };
    let mut drift_events = Vec::new();
    let mut mapper = mapping::Mapper::new(source, as_of);
    let staged_path = staging.join(format!("{}.parquet", source.name));
    let input_bytes = files.iter().map(|(_, d)| d.bytes).sum();
    let mut stage = staging::Stage::new(&staged_path, mapper.empty_schema(), source, pipeline.pipeline.batch_rows, input_bytes)?;
    let mut quarantine = Vec::new();
    for (path, digest) in files {
        let file_name = path.to_string_lossy().to_string();
        let reuse::FileDigest { bytes, sha256 } = digest;
        progress.set_message(path.file_name().map_or_else(String::new, |n| n.to_string_lossy().to_string()));
        match check_decodes(&path, source) {
            Ok(()) => {}
            // A file that no longer decodes is drift: reported, skipped, and the policy decides.
            Err(e @ IngestError::Decode { .. }) => {
                drift_events.push(drift::DriftEvent {
                    source: source.name.clone(),
                    kind: "undecodable_file".into(),
                    action: source.drift.undecodable_file,
                    message: e.to_string(),
                });
                let file = FileStats { path: file_name, bytes, sha256: String::new(), rows_read: 0, accepted: 0, quarantined: 0, error: Some(e.to_string()) };
                stats.files.push(file);
                progress.inc(bytes);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let mut file = FileStats { path: file_name.clone(), bytes, sha256, rows_read: 0, accepted: 0, quarantined: 0, error: None };
        let mut columns: Vec<String> = Vec::new();
        // The file is parsed on a thread of its own while the chunks before are mapped and staged.
        let mut reader = stream::RawReader::open(source, &path, pipeline.pipeline.batch_rows)?;
        let (parsed, mut chunks) = tokio::sync::mpsc::channel(2);
        let parser = tokio::task::spawn_blocking(move || {
            while let Some(next) = reader.next_chunk().transpose() {
                let failed = next.is_err();
                // A closed channel means the mapping stopped on an error: nothing more to parse.
                if parsed.blocking_send(next).is_err() || failed {
                    return;
                }
            }
        });
        while let Some(chunk) = chunks.recv().await {
            let chunk = chunk?;
            for column in &chunk.columns {
                if !columns.contains(column) {
                    columns.push(column.clone());
                }
            }
            file.rows_read += chunk.rows_read;
            file.quarantined += chunk.quarantine.len() as u64;
            quarantine.extend(chunk.quarantine.iter().cloned());
            let mapped = mapper.map_chunk(ctx, &file_name, chunk).await?;
            file.accepted += mapped.batch.num_rows() as u64;
            file.quarantined += mapped.quarantine.len() as u64;
            quarantine.extend(mapped.quarantine);
            stage.append(&mapped.batch)?;
        }
        parser.await.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        if file.rows_read == 0 {
            // Nothing to map, so no column to miss: the file itself is the finding.
            drift_events.push(drift::DriftEvent {
                source: source.name.clone(),
                kind: "empty_file".into(),
                action: source.drift.empty_file,
                message: format!(
                    "{file_name}: no rows ({bytes} bytes{}); check the export is complete, or set the source's [source.drift] empty_file = \"warn\" if it may be empty",
                    if bytes > 0 { ", a header at most" } else { "" }
                ),
            });
        } else {
            drift_events.extend(mapper.missing_columns(&file_name, &columns, quarantine.iter().find(|q| q.file == file_name)));
        }
        for column in columns {
            if !stats.columns.contains(&column) {
                stats.columns.push(column);
            }
        }
        stats.files.push(file);
        progress.inc(bytes);
    }
    let (staged, mentions) = stage.finish()?;
    // The record key identifies a row within the source: later rows with a key already seen
    // are quarantined. No set of every key is held in memory (see `repeat_filter`).
    let duplicates = stage.duplicate_keys()?;
    let rejected_indexes: Vec<u32> = duplicates.iter().map(|d| d.index).collect();
    for d in duplicates {
        if let Some(file) = stats.files.iter_mut().find(|f| f.path == d.quarantined.file) {
            file.accepted -= 1;
            file.quarantined += 1;
        }
        quarantine.push(d.quarantined);
    }
    for f in &stats.files {
        stats.rows_read += f.rows_read;
        stats.accepted += f.accepted;
        stats.quarantined += f.quarantined;
    }
    for q in &quarantine {
        *stats.quarantine_reasons.entry(q.reason.to_string()).or_default() += 1;
    }
    stats.warnings = std::mem::take(&mut mapper.warnings);
    debug_assert_eq!(stats.rows_read, stats.accepted + stats.quarantined);
    Ok(SourceTable { index, staged, rejected_indexes, mentions, quarantine, stats, drift: drift_events })
}
