//! Query: SQL on one committed night. One session with every table of the night registered under
//! its name at the version the night pinned, pophub's functions evaluated as of the night's day,
//! and the output formats analysts ask for.

pub mod diff;
pub mod explain;
pub mod reports;

use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use datafusion::prelude::SessionContext;

use crate::warehouse::{Night, NightLog, Warehouse, WarehouseError};

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    #[error("{0}")]
    Sql(Box<datafusion::error::DataFusionError>),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("writing results: {0}")]
    Output(String),
    /// The reader of standard output went away.
    #[error("standard output was closed")]
    BrokenPipe,
}

impl From<datafusion::error::DataFusionError> for QueryError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        QueryError::Sql(Box::new(e))
    }
}

/// A session over night `night` of the warehouse, or its current night, and that night.
pub async fn open(warehouse: &Warehouse, night: Option<u32>) -> Result<(SessionContext, Night), QueryError> {
    let log = NightLog::load(warehouse)?;
    let night = log.resolve(warehouse, night)?.clone();
    let ctx = crate::engine::session(night_date(&night), None);
    crate::warehouse::tables::register_night(&ctx, warehouse, &night, "").await?;
    Ok((ctx, night))
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

/// How results are shown or written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Table,
    Csv,
    Json,
    Parquet,
}

/// Writes batches in the format to the file, or to stdout (not for parquet).
/// A reader that closes the pipe early (`pophub sql … | head`) ends the output quietly.
pub fn write_output(batches: &[RecordBatch], format: OutputFormat, out: Option<&Path>) -> Result<(), QueryError> {
    match write_batches(batches, format, out) {
        Err(QueryError::BrokenPipe) => Ok(()),
        result => result,
    }
}

fn output_error(e: &(dyn std::error::Error + 'static)) -> QueryError {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) {
            return QueryError::BrokenPipe;
        }
        cause = c.source();
    }
    QueryError::Output(e.to_string())
}

fn write_batches(batches: &[RecordBatch], format: OutputFormat, out: Option<&Path>) -> Result<(), QueryError> {
    let output = output_error;
    let mut sink: Box<dyn std::io::Write + Send> = match out {
        Some(path) => Box::new(std::fs::File::create(path).map_err(|source| QueryError::Io { path: path.into(), source })?),
        None if format == OutputFormat::Parquet => {
            return Err(QueryError::Output("parquet output needs --out FILE".into()));
        }
        None => Box::new(std::io::stdout()),
    };
    match format {
        OutputFormat::Table => {
            let text = arrow::util::pretty::pretty_format_batches(batches).map_err(|e| output(&e))?;
            writeln!(sink, "{text}").map_err(|e| output(&e))?;
            let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
            writeln!(sink, "{rows} row(s)").map_err(|e| output(&e))?;
        }
        OutputFormat::Csv => {
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
        OutputFormat::Parquet => {
            let schema = match batches.first() {
                Some(b) => b.schema(),
                None => return Err(QueryError::Output("the query returned no batches to write".into())),
            };
            let mut w = parquet::arrow::ArrowWriter::try_new(sink, schema, None).map_err(|e| output(&e))?;
            for b in batches {
                w.write(b).map_err(|e| output(&e))?;
            }
            w.close().map_err(|e| output(&e))?;
        }
    }
    Ok(())
}
