//! Staging: a source's accepted rows are written to a Parquet file as each chunk is mapped,
//! each with `_index`, its position among the source's accepted rows. Only the columns the
//! linker needs stay in memory, and not at all for sources without person mentions (payments).
//! Checks that need every row (duplicate record keys) are DataFusion queries over the file.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{AsArray, BooleanArray, RecordBatch, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::{INDEX_COLUMN, IngestError, Quarantined};
use crate::config::Source;

pub struct Stage {
    path: PathBuf,
    writer: Option<ArrowWriter<File>>,
    schema: SchemaRef,
    next_index: u32,
    /// Positions (in the staged schema) of the columns kept for the linker; empty if none.
    kept: Vec<usize>,
    kept_batches: Vec<RecordBatch>,
    source_name: String,
}

fn staging_error(name: &str, e: impl std::fmt::Display) -> IngestError {
    IngestError::Engine { source_name: name.to_string(), message: format!("staging: {e}") }
}

impl Stage {
    pub fn new(path: &Path, mapped: SchemaRef, source: &Source, name: &str, batch_rows: usize) -> Result<Stage, IngestError> {
        let mut fields: Vec<Field> = mapped.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.push(Field::new(INDEX_COLUMN, DataType::UInt32, false));
        let schema = Arc::new(Schema::new(fields));
        let file = File::create(path).map_err(|e| IngestError::Io { file: path.to_path_buf(), source: e })?;
        // Row groups of one batch: the writer holds no more than a batch before it reaches disk.
        let props = WriterProperties::builder().set_compression(Compression::SNAPPY).set_max_row_group_row_count(Some(batch_rows)).build();
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(|e| staging_error(name, e))?;
        let prefixes: Vec<String> = source.mentions.iter().map(|m| format!("{}.", m.role)).collect();
        let kept = if prefixes.is_empty() {
            Vec::new()
        } else {
            schema
                .fields()
                .iter()
                .enumerate()
                .filter(|(_, f)| {
                    let n = f.name();
                    ["record_key", "_file", "_row", INDEX_COLUMN].contains(&n.as_str()) || prefixes.iter().any(|p| n.starts_with(p.as_str()))
                })
                .map(|(i, _)| i)
                .collect()
        };
        Ok(Stage { path: path.to_path_buf(), writer: Some(writer), schema, next_index: 0, kept, kept_batches: Vec::new(), source_name: name.to_string() })
    }

    /// Stages a mapped chunk's accepted rows.
    pub fn append(&mut self, batch: &RecordBatch) -> Result<(), IngestError> {
        let n = batch.num_rows() as u32;
        let mut columns = batch.columns().to_vec();
        columns.push(Arc::new(UInt32Array::from_iter_values(self.next_index..self.next_index + n)));
        self.next_index += n;
        let staged = RecordBatch::try_new(self.schema.clone(), columns).map_err(|e| staging_error(&self.source_name, e))?;
        if !self.kept.is_empty() {
            self.kept_batches.push(staged.project(&self.kept).map_err(|e| staging_error(&self.source_name, e))?);
        }
        let writer = self.writer.as_mut().expect("stage open");
        writer.write(&staged).map_err(|e| staging_error(&self.source_name, e))
    }

    /// Closes the staged file and returns its path.
    pub fn finish(&mut self) -> Result<PathBuf, IngestError> {
        if let Some(writer) = self.writer.take() {
            writer.close().map_err(|e| staging_error(&self.source_name, e))?;
        }
        Ok(self.path.clone())
    }

    /// The kept columns of every staged row but the rejected ones.
    pub fn mentions(&self, rejected: &[u32]) -> Result<RecordBatch, arrow::error::ArrowError> {
        let schema = Arc::new(self.schema.project(&self.kept)?);
        let all = arrow::compute::concat_batches(&schema, &self.kept_batches)?;
        if rejected.is_empty() || all.num_rows() == 0 {
            return Ok(all);
        }
        let rejected: std::collections::HashSet<u32> = rejected.iter().copied().collect();
        let index = all.column_by_name(INDEX_COLUMN).expect("kept").as_primitive::<arrow::datatypes::UInt32Type>();
        let keep: BooleanArray = index.iter().map(|i| Some(!rejected.contains(&i.unwrap_or_default()))).collect();
        arrow::compute::filter_record_batch(&all, &keep)
    }
}

/// A staged row whose record key an earlier row already had.
pub struct Duplicate {
    pub index: u32,
    pub quarantined: Quarantined,
}

/// Rows whose record key appeared earlier in the source, found by a query over the staged file.
pub async fn duplicate_keys(ctx: &SessionContext, staged: &Path, name: &str) -> Result<Vec<Duplicate>, IngestError> {
    let table = format!("staged_{name}");
    let engine = |e: datafusion::error::DataFusionError| staging_error(name, e);
    ctx.register_parquet(table.as_str(), staged.to_string_lossy().as_ref(), ParquetReadOptions::default()).await.map_err(engine)?;
    // First the keys that repeat (an aggregation that spills to disk under the memory limit,
    // with a small result), then only their rows; every row after a key's first is a duplicate.
    let repeated = format!("SELECT record_key FROM \"{table}\" GROUP BY record_key HAVING COUNT(*) > 1");
    let keys = ctx.sql(&repeated).await.map_err(engine)?.collect().await.map_err(engine)?;
    let batches = if keys.iter().all(|b| b.num_rows() == 0) {
        Vec::new()
    } else {
        let keys_table = format!("{table}_repeated");
        ctx.register_batch(keys_table.as_str(), arrow::compute::concat_batches(&keys[0].schema(), &keys).map_err(|e| staging_error(name, e))?)
            .map_err(engine)?;
        let sql = format!(
            "SELECT _index, _file, _row, _position, record_key FROM (\
               SELECT s._index, s._file, s._row, s._position, s.record_key, \
                      ROW_NUMBER() OVER (PARTITION BY s.record_key ORDER BY s._index) AS n \
               FROM \"{table}\" s WHERE s.record_key IN (SELECT record_key FROM \"{keys_table}\")) \
             WHERE n > 1 ORDER BY _index"
        );
        let rows = ctx.sql(&sql).await.map_err(engine)?.collect().await.map_err(engine)?;
        ctx.deregister_table(keys_table.as_str()).map_err(engine)?;
        rows
    };
    ctx.deregister_table(table.as_str()).map_err(engine)?;
    let mut out = Vec::new();
    for b in batches {
        let text = |i: usize| arrow::compute::cast(b.column(i), &DataType::Utf8).expect("to text");
        let (files, positions, keys) = (text(1), text(3), text(4));
        let rows = arrow::compute::cast(b.column(2), &DataType::UInt64).expect("to u64");
        let index = arrow::compute::cast(b.column(0), &DataType::UInt32).expect("to u32");
        for r in 0..b.num_rows() {
            let key = keys.as_string::<i32>().value(r).to_string();
            out.push(Duplicate {
                index: index.as_primitive::<arrow::datatypes::UInt32Type>().value(r),
                quarantined: Quarantined {
                    file: files.as_string::<i32>().value(r).to_string(),
                    row: rows.as_primitive::<arrow::datatypes::UInt64Type>().value(r),
                    position: positions.as_string::<i32>().value(r).to_string(),
                    reason: "duplicate_record_key",
                    column: Some("record_key".into()),
                    message: format!("record key {key} already seen in this source"),
                    value: Some(key),
                },
            });
        }
    }
    Ok(out)
}
