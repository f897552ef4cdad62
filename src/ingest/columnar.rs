//! Parquet exports: columns of any type are read as text (Arrow's cast), so they go through the
//! same mapping, typing and quarantine as every other format.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, RecordBatchReader, StringArray, UInt64Array};
use arrow::datatypes::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::IngestError;
use super::raw::{RawFile, raw_schema};

pub fn read(path: &Path, batch_rows: usize) -> Result<(RawFile, u64), IngestError> {
    let bad = |message: String| IngestError::Spreadsheet { file: path.to_path_buf(), message };
    let file = std::fs::File::open(path).map_err(|source| IngestError::Io { file: path.to_path_buf(), source })?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.with_batch_size(batch_rows).build())
        .map_err(|e| bad(e.to_string()))?;
    let columns: Vec<String> = reader.schema().fields().iter().map(|f| f.name().clone()).collect();
    let schema = raw_schema(&columns);
    let file_name = path.to_string_lossy().to_string();
    let mut batches = Vec::new();
    let mut rows = 0u64;
    for batch in reader {
        let batch = batch.map_err(|e| bad(e.to_string()))?;
        let n = batch.num_rows();
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(columns.len() + 3);
        for column in batch.columns() {
            arrays.push(arrow::compute::cast(column, &DataType::Utf8).map_err(|e| bad(e.to_string()))?);
        }
        let lines: Vec<u64> = (rows + 1..=rows + n as u64).collect();
        arrays.push(Arc::new(StringArray::from(vec![file_name.as_str(); n])));
        arrays.push(Arc::new(UInt64Array::from(lines.clone())));
        arrays.push(Arc::new(StringArray::from_iter_values(lines.iter().map(|l| format!("row {l}")))));
        rows += n as u64;
        batches.push(RecordBatch::try_new(schema.clone(), arrays).map_err(|e| bad(e.to_string()))?);
    }
    Ok((RawFile { columns, batches, schema }, rows))
}
