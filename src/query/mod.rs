//! Query: SQL on one committed night. One session with every table of the night registered under
//! its name at the version the night pinned, pophub's functions evaluated as of the night's day,
//! and the output formats analysts ask for.

pub mod diff;
pub mod explain;
pub mod profile;
pub mod reports;
pub mod review;
pub mod xlsx;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::prelude::{DataFrame, SessionContext};

use crate::warehouse::{Night, NightLog, Warehouse, WarehouseError};

/// A problem answering a query on a night.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// A warehouse file cannot be read, the night is not there, or its tables cannot be opened.
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    /// DataFusion cannot parse, plan or run the SQL.
    #[error("{0}")]
    Sql(Box<datafusion::error::DataFusionError>),
    /// A file the query reads (the exclusion list) or writes (`--out`) cannot be opened.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why opening it failed.
        source: std::io::Error,
    },
    /// Something asked for that the night does not have (a mention, a person).
    #[error("{0}")]
    NotFound(String),
    /// An input the user gave that cannot be used (an exclusion list line).
    #[error("{0}")]
    BadInput(String),
    /// The linkage model a night names cannot be read.
    #[error(transparent)]
    Model(#[from] crate::link::model::ModelError),
    /// The results cannot be formatted or written, e.g. more rows than an Excel sheet holds.
    #[error("writing results: {0}")]
    Output(String),
    /// The cluster the query was to run on cannot be reached.
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
}

impl From<arrow::error::ArrowError> for QueryError {
    fn from(e: arrow::error::ArrowError) -> Self {
        QueryError::Sql(Box::new(e.into()))
    }
}

impl From<datafusion::error::DataFusionError> for QueryError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        QueryError::Sql(Box::new(e))
    }
}

/// A session over night `night` of the warehouse, or its current night, and that night.
pub async fn open(warehouse: &Warehouse, night: Option<u32>) -> Result<(SessionContext, Night), QueryError> {
    open_on(warehouse, night, None).await
}

/// As `open`, with the session's plans run on the cluster whose scheduler is at `cluster`
/// (`df://HOST:PORT`) when one is given.
pub async fn open_on(warehouse: &Warehouse, night: Option<u32>, cluster: Option<&str>) -> Result<(SessionContext, Night), QueryError> {
    let log = NightLog::load(warehouse)?;
    let night = log.resolve(warehouse, night)?.clone();
    let ctx = match cluster {
        Some(url) => crate::cluster::remote_session(url, night_date(&night)).await?,
        None => crate::engine::session(night_date(&night), None),
    };
    crate::warehouse::tables::register_night(&ctx, warehouse, &night, "").await?;
    Ok((ctx, night))
}

/// What a night was linked with: the warehouse's linkage model and the thresholds of its run.
/// `explain` and external lists weigh and decide under it, as the linker did that night.
pub struct NightLinkage {
    /// The model the night's run linked with.
    pub model: crate::link::model::Model,
    /// The run's match, margin and review weights.
    pub options: crate::config::LinkageOptions,
}

impl NightLinkage {
    /// The linkage of committed night `night`, from its run manifest and its model file.
    pub fn of(warehouse: &Warehouse, night: &Night) -> Result<NightLinkage, QueryError> {
        let run = crate::publish::manifest::RunManifest::read(warehouse, &night.run_id)?;
        let linkage = run.linkage.ok_or_else(|| QueryError::NotFound(format!("night {}'s run manifest has no linkage summary", night.night)))?;
        let path = warehouse.model(&night.model_run);
        let model = crate::link::model::Model::load(&path)?
            .ok_or_else(|| QueryError::NotFound(format!("night {}'s linkage model {} is missing; a run with --retrain learns a new one", night.night, path.display())))?;
        let options = crate::config::LinkageOptions {
            match_weight: linkage.match_weight,
            margin_weight: linkage.margin_weight,
            review_weight: linkage.review_weight,
            ..Default::default()
        };
        Ok(NightLinkage { model, options })
    }
}

/// The day a night's exports describe.
pub fn night_date(night: &Night) -> chrono::NaiveDate {
    night.as_of.parse().expect("the night log holds ISO dates")
}

/// The first column of the first row of a query, as a count (0 for no row or NULL).
pub async fn count(ctx: &SessionContext, sql: &str) -> datafusion::error::Result<u64> {
    use arrow::array::{Array, AsArray};
    let batches = ctx.sql(sql).await?.collect().await?;
    let Some(batch) = batches.iter().find(|b| b.num_rows() > 0) else { return Ok(0) };
    let column = arrow::compute::cast(batch.column(0), &arrow::datatypes::DataType::Int64)?;
    let column = column.as_primitive::<arrow::datatypes::Int64Type>();
    Ok(if column.is_null(0) { 0 } else { column.value(0) as u64 })
}

/// A query's result: its schema, which stands also when there is no row, and its batches.
pub struct Rows {
    /// The result's columns, there also when there is no row.
    pub schema: SchemaRef,
    /// The rows, in the order the query gave them.
    pub batches: Vec<RecordBatch>,
}

impl Rows {
    /// Runs a planned query to the end and keeps its result.
    pub async fn collect(frame: DataFrame) -> Result<Rows, QueryError> {
        let planned = frame.schema().inner().clone();
        let batches = frame.collect().await?;
        // The batches' own schema where there are any (nullability may be finer than the plan's).
        let schema = batches.first().map_or(planned, |b| b.schema());
        Ok(Rows { schema, batches })
    }

    /// The rows of a query on the session.
    pub async fn sql(ctx: &SessionContext, sql: &str) -> Result<Rows, QueryError> {
        Rows::collect(ctx.sql(sql).await?).await
    }
}

/// How results are shown or written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// A text table for a terminal, followed by the row count.
    Table,
    /// CSV with a header line.
    Csv,
    /// JSON lines: one object per row.
    Json,
    /// A Parquet file (needs `--out`).
    Parquet,
    /// An Excel workbook: IDs as text cells, dates as date cells.
    Xlsx,
}

/// Writes batches in the format to the file, or to stdout (not for parquet).
/// A reader that closes the pipe early (`pophub sql … | head`) ends the output quietly.
pub fn write_output(rows: &Rows, format: OutputFormat, out: Option<&Path>) -> Result<(), QueryError> {
    write_sheets(&[("result", rows)], format, out)
}

/// Writes several results of one schema (a voter roll per district): in a workbook, a sheet
/// each under its name; in every other format, one after another.
pub fn write_sheets(sheets: &[(&str, &Rows)], format: OutputFormat, out: Option<&Path>) -> Result<(), QueryError> {
    let closed = Arc::new(AtomicBool::new(false));
    let sink: Box<dyn std::io::Write + Send> = match out {
        Some(path) => Box::new(std::fs::File::create(path).map_err(|source| QueryError::Io { path: path.into(), source })?),
        None if matches!(format, OutputFormat::Parquet | OutputFormat::Xlsx) => {
            return Err(QueryError::BadInput(format!("{format:?} output needs --out FILE").to_lowercase()));
        }
        None => Box::new(Stdout { closed: closed.clone() }),
    };
    match write_rows(sheets, format, sink) {
        Err(_) if closed.load(Ordering::Relaxed) => Ok(()),
        result => result,
    }
}

/// Standard output that notes a reader gone away, whatever error the writer on top makes of it.
struct Stdout {
    closed: Arc<AtomicBool>,
}

impl std::io::Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = std::io::stdout().write(buf);
        self.note(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let flushed = std::io::stdout().flush();
        self.note(flushed)
    }
}

impl Stdout {
    fn note<T>(&self, result: std::io::Result<T>) -> std::io::Result<T> {
        if result.as_ref().is_err_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) {
            self.closed.store(true, Ordering::Relaxed);
        }
        result
    }
}

fn write_rows(sheets: &[(&str, &Rows)], format: OutputFormat, mut sink: Box<dyn std::io::Write + Send>) -> Result<(), QueryError> {
    let output = |e: &dyn std::fmt::Display| QueryError::Output(e.to_string());
    let Some((_, first)) = sheets.first() else { return Ok(()) };
    let rows = first;
    let batches: &Vec<RecordBatch> = &sheets.iter().flat_map(|(_, r)| r.batches.iter().cloned()).collect();
    match format {
        OutputFormat::Table => {
            let text = arrow::util::pretty::pretty_format_batches_with_schema(rows.schema.clone(), batches).map_err(|e| output(&e))?;
            writeln!(sink, "{text}").map_err(|e| output(&e))?;
            let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
            writeln!(sink, "{rows} row(s)").map_err(|e| output(&e))?;
        }
        OutputFormat::Csv => {
            if batches.is_empty() {
                // The header alone: the arrow writer writes it with the first batch.
                let names: Vec<&str> = rows.schema.fields().iter().map(|f| f.name().as_str()).collect();
                writeln!(sink, "{}", names.join(",")).map_err(|e| output(&e))?;
            }
            let mut w = arrow::csv::WriterBuilder::new().with_header(true).build(sink);
            for b in batches {
                w.write(b).map_err(|e| output(&e))?;
            }
        }
        OutputFormat::Json => {
            let mut w = arrow::json::LineDelimitedWriter::new(sink);
            for b in batches {
                w.write(b).map_err(|e| output(&e))?;
            }
            w.finish().map_err(|e| output(&e))?;
        }
        OutputFormat::Xlsx => {
            let rows_out: usize = batches.iter().map(|b| b.num_rows()).sum();
            let bytes = xlsx::workbook(sheets).map_err(|e| QueryError::Output(format!("{e} ({rows_out} rows; a sheet holds at most 1,048,575: write csv or parquet instead)")))?;
            sink.write_all(&bytes).map_err(|e| output(&e))?;
        }
        OutputFormat::Parquet => {
            let mut w = parquet::arrow::ArrowWriter::try_new(sink, rows.schema.clone(), None).map_err(|e| output(&e))?;
            for b in batches {
                w.write(b).map_err(|e| output(&e))?;
            }
            w.close().map_err(|e| output(&e))?;
        }
    }
    Ok(())
}
