//! Query: SQL on the latest published tables. One session with every Delta table of the
//! warehouse registered under its name and pophub's functions available, and the output formats
//! analysts ask for.

pub mod explain;
pub mod reports;

use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use chrono::NaiveDate;
use datafusion::prelude::SessionContext;

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("{0} holds no published tables; run `pophub run PIPELINE --warehouse {0}` first")]
    EmptyWarehouse(PathBuf),
    #[error("opening table `{table}`: {source}")]
    Open { table: String, source: Box<deltalake::DeltaTableError> },
    #[error("{0}")]
    Sql(Box<datafusion::error::DataFusionError>),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("writing results: {0}")]
    Output(String),
}

impl From<datafusion::error::DataFusionError> for QueryError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        QueryError::Sql(Box::new(e))
    }
}

/// A session over the warehouse's latest versions.
pub async fn open(warehouse: &Path, as_of: NaiveDate) -> Result<SessionContext, QueryError> {
    let ctx = crate::engine::session(as_of, None);
    let mut found = 0;
    for name in crate::publish::table_names() {
        let dir = warehouse.join(name);
        if !dir.join("_delta_log").is_dir() {
            continue;
        }
        let open_err = |source: deltalake::DeltaTableError| QueryError::Open { table: name.to_string(), source: Box::new(source) };
        let url = deltalake::ensure_table_uri(dir.to_string_lossy()).map_err(open_err)?;
        let table = deltalake::open_table(url).await.map_err(open_err)?;
        crate::publish::register_delta(&ctx, name, &table).await.map_err(open_err)?;
        found += 1;
    }
    if found == 0 {
        return Err(QueryError::EmptyWarehouse(warehouse.to_path_buf()));
    }
    Ok(ctx)
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
pub fn write_output(batches: &[RecordBatch], format: OutputFormat, out: Option<&Path>) -> Result<(), QueryError> {
    let output = |e: &dyn std::fmt::Display| QueryError::Output(e.to_string());
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
