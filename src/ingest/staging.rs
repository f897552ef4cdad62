//! Staging: a source's accepted rows are written to a Parquet file as each chunk is mapped,
//! each with `_index`, its position among the source's accepted rows. The columns the linker
//! needs go, chunk by chunk, to a second file (none for sources without person mentions, such as
//! payments), so a source's rows are never held in memory whole.
//! Duplicate record keys are found in two passes: a repeat filter sees each key as it is staged,
//! then only the rows of suspect keys are read back from the file and checked exactly.

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{AsArray, BooleanArray, RecordBatch, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::arrow_reader::{ArrowPredicateFn, ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder, RowFilter};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::repeat_filter::RepeatFilter;
use super::{INDEX_COLUMN, IngestError, Quarantined};
use crate::config::Source;

pub struct Stage {
    path: PathBuf,
    writer: Option<ArrowWriter<File>>,
    schema: SchemaRef,
    next_index: u32,
    /// Positions (in the staged schema) of the columns kept for the linker; empty if none.
    kept: Vec<usize>,
    /// The linker's columns, with the path they are written to; none without mentions.
    mentions: Option<(PathBuf, ArrowWriter<File>)>,
    source_name: String,
    /// Every staged record key, seen once, for the duplicate check.
    repeats: RepeatFilter,
    key_column: usize,
}

/// A Parquet file of the run's staging, Snappy-compressed; with `row_group_rows`, row groups of
/// at most that many rows (the writer then holds no more before it reaches disk). Every staged
/// file (accepted rows, mentions, linked mentions) is written by one of these.
pub fn staging_writer(path: &Path, schema: SchemaRef, row_group_rows: Option<usize>) -> parquet::errors::Result<ArrowWriter<File>> {
    let props = WriterProperties::builder().set_compression(Compression::SNAPPY).set_max_row_group_row_count(row_group_rows).build();
    ArrowWriter::try_new(File::create(path)?, schema, Some(props))
}

fn staging_error(name: &str, path: &Path, e: impl std::fmt::Display) -> IngestError {
    IngestError::Staging { source_name: name.to_string(), path: path.to_path_buf(), message: e.to_string() }
}

impl Stage {
    /// A stage for a source of about `input_bytes` bytes (which sizes the duplicate check).
    pub fn new(path: &Path, mapped: SchemaRef, source: &Source, batch_rows: usize, input_bytes: u64) -> Result<Stage, IngestError> {
        let name = source.name.as_str();
        let mut fields: Vec<Field> = mapped.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.push(Field::new(INDEX_COLUMN, DataType::UInt32, false));
        let schema = Arc::new(Schema::new(fields));
        // Row groups of one batch: the writer holds no more than a batch before it reaches disk.
        let open = |path: &Path, schema: SchemaRef| staging_writer(path, schema, Some(batch_rows)).map_err(|e| staging_error(name, path, e));
        let writer = open(path, schema.clone())?;
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
        let mentions = match kept.is_empty() {
            true => None,
            false => {
                let mentions_path = path.with_extension("mentions.parquet");
                let projected = Arc::new(schema.project(&kept).map_err(|e| staging_error(name, path, e))?);
                Some((mentions_path.clone(), open(&mentions_path, projected)?))
            }
        };
        let key_column = schema.index_of("record_key").expect("mapped schema has record_key");
        Ok(Stage {
            path: path.to_path_buf(),
            writer: Some(writer),
            schema,
            next_index: 0,
            kept,
            mentions,
            source_name: name.to_string(),
            repeats: RepeatFilter::for_input(input_bytes),
            key_column,
        })
    }

    /// Stages a mapped chunk's accepted rows.
    pub fn append(&mut self, batch: &RecordBatch) -> Result<(), IngestError> {
        let n = batch.num_rows() as u32;
        let mut columns = batch.columns().to_vec();
        columns.push(Arc::new(UInt32Array::from_iter_values(self.next_index..self.next_index + n)));
        self.next_index += n;
        let staged = RecordBatch::try_new(self.schema.clone(), columns).map_err(|e| staging_error(&self.source_name, &self.path, e))?;
        let keys = arrow::compute::cast(staged.column(self.key_column), &DataType::Utf8).map_err(|e| staging_error(&self.source_name, &self.path, e))?;
        for key in keys.as_string::<i32>().iter().flatten() {
            self.repeats.see(key);
        }
        if let Some((path, writer)) = &mut self.mentions {
            let kept = staged.project(&self.kept).map_err(|e| staging_error(&self.source_name, path, e))?;
            writer.write(&kept).map_err(|e| staging_error(&self.source_name, path, e))?;
        }
        let writer = self.writer.as_mut().expect("stage open");
        writer.write(&staged).map_err(|e| staging_error(&self.source_name, &self.path, e))
    }

    /// Closes the staged files and returns their paths: every row's, and the linker's columns'
    /// (none for a source without mentions).
    pub fn finish(&mut self) -> Result<(PathBuf, Option<PathBuf>), IngestError> {
        if let Some(writer) = self.writer.take() {
            writer.close().map_err(|e| staging_error(&self.source_name, &self.path, e))?;
        }
        let mentions = match self.mentions.take() {
            Some((path, writer)) => {
                writer.close().map_err(|e| staging_error(&self.source_name, &path, e))?;
                Some(path)
            }
            None => None,
        };
        Ok((self.path.clone(), mentions))
    }
}

/// A source's staged mention columns read back batch by batch, rows rejected after staging left out.
pub struct MentionBatches {
    reader: ParquetRecordBatchReader,
    rejected: HashSet<u32>,
    path: PathBuf,
    source_name: String,
}

impl MentionBatches {
    /// Opens a source's staged mention columns.
    pub fn open(path: &Path, rejected: &[u32], source_name: &str) -> Result<MentionBatches, IngestError> {
        let file = File::open(path).map_err(|e| IngestError::Io { file: path.to_path_buf(), source: e })?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file).and_then(|b| b.build()).map_err(|e| staging_error(source_name, path, e))?;
        Ok(MentionBatches { reader, rejected: rejected.iter().copied().collect(), path: path.to_path_buf(), source_name: source_name.to_string() })
    }
}

impl Iterator for MentionBatches {
    type Item = Result<RecordBatch, IngestError>;

    fn next(&mut self) -> Option<Self::Item> {
        let batch = match self.reader.next()? {
            Ok(batch) => batch,
            Err(e) => return Some(Err(staging_error(&self.source_name, &self.path, e))),
        };
        if self.rejected.is_empty() {
            return Some(Ok(batch));
        }
        let index = batch.column_by_name(INDEX_COLUMN).expect("kept").as_primitive::<arrow::datatypes::UInt32Type>();
        let keep: BooleanArray = index.iter().map(|i| Some(!self.rejected.contains(&i.unwrap_or_default()))).collect();
        Some(arrow::compute::filter_record_batch(&batch, &keep).map_err(|e| staging_error(&self.source_name, &self.path, e)))
    }
}

/// A staged row whose record key an earlier row already had.
pub struct Duplicate {
    pub index: u32,
    pub quarantined: Quarantined,
}

/// The staged columns the duplicate check reads back.
const DUPLICATE_COLUMNS: [&str; 5] = ["record_key", INDEX_COLUMN, "_file", "_row", "_position"];

impl Stage {
    /// Rows whose record key appeared earlier in the source. The repeat filter saw every key as
    /// it was staged; only rows of its suspect keys are read back (a Parquet row filter on the
    /// key column skips decoding the others) and checked exactly.
    pub fn duplicate_keys(&mut self) -> Result<Vec<Duplicate>, IngestError> {
        let suspects = self.repeats.take_suspects();
        if suspects.is_empty() {
            return Ok(Vec::new());
        }
        let error = |e: &dyn std::fmt::Display| staging_error(&self.source_name, &self.path, e);
        let file = File::open(&self.path).map_err(|e| IngestError::Io { file: self.path.clone(), source: e })?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| error(&e))?;
        let wanted: Vec<usize> = DUPLICATE_COLUMNS.iter().map(|c| self.schema.index_of(c).expect("staged column")).collect();
        let mask = ProjectionMask::roots(builder.parquet_schema(), wanted);
        let key_mask = ProjectionMask::roots(builder.parquet_schema(), [self.key_column]);
        let suspect_rows = ArrowPredicateFn::new(key_mask, move |batch: RecordBatch| {
            let keys = arrow::compute::cast(batch.column(0), &DataType::Utf8)?;
            Ok(keys.as_string::<i32>().iter().map(|k| Some(k.is_some_and(|k| suspects.contains(k)))).collect::<BooleanArray>())
        });
        let reader = builder.with_projection(mask).with_row_filter(RowFilter::new(vec![Box::new(suspect_rows)])).build().map_err(|e| error(&e))?;
        // (index, key, file, row, position) of every row of a suspect key, in staging order.
        let mut rows: Vec<(u32, String, String, u64, String)> = Vec::new();
        for batch in reader {
            let batch = batch.map_err(|e| error(&e))?;
            let text = |name: &str| arrow::compute::cast(batch.column_by_name(name).expect("projected"), &DataType::Utf8).expect("to text");
            let (keys, files, positions) = (text("record_key"), text("_file"), text("_position"));
            let (keys, files, positions) = (keys.as_string::<i32>(), files.as_string::<i32>(), positions.as_string::<i32>());
            let lines = arrow::compute::cast(batch.column_by_name("_row").expect("projected"), &DataType::UInt64).expect("to u64");
            let index = batch.column_by_name(INDEX_COLUMN).expect("projected").as_primitive::<arrow::datatypes::UInt32Type>();
            for r in 0..batch.num_rows() {
                let line = lines.as_primitive::<arrow::datatypes::UInt64Type>().value(r);
                rows.push((index.value(r), keys.value(r).to_string(), files.value(r).to_string(), line, positions.value(r).to_string()));
            }
        }
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for (index, key, file, row, position) in rows {
            if seen.insert(key.clone()) {
                continue;
            }
            out.push(Duplicate {
                index,
                quarantined: Quarantined {
                    file,
                    row,
                    position,
                    reason: "duplicate_record_key".into(),
                    column: Some("record_key".into()),
                    message: format!("record key {key} already seen in this source"),
                    value: Some(key),
                },
            });
        }
        Ok(out)
    }
}
