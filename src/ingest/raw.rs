//! The raw shape of every export: text columns as the department named them, plus where each
//! row came from (`_file`, `_row`, `_position`). Readers push rows into a sink, which hands them
//! on in chunks of about `batch_rows` rows, so a file never has to be in memory whole.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringBuilder, UInt64Builder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use super::Quarantined;

/// One row as read: its line, a readable position (line, JSON path) and its values.
pub struct RawRow {
    /// Line the row starts on, from 1 (in a JSON array, a workbook or Parquet: the element or row number).
    pub line: u64,
    /// Where the row is, for people: `line 7`, `[12] owners[0]`, `sheet Sheet1 row 3`.
    pub position: String,
    /// The row's fields as text, in the sink's column order; `None` for an absent or null value.
    pub values: Vec<Option<String>>,
}

/// Lineage columns every raw batch carries.
pub const FILE_COLUMN: &str = "_file";
/// Lineage column: the row's line in its file (`RawRow::line`).
pub const ROW_COLUMN: &str = "_row";
/// Lineage column: where the row is in its file, for people (`RawRow::position`).
pub const POSITION_COLUMN: &str = "_position";

/// Collects one file's rows as its reader splits them, and hands them on in chunks.
pub struct RawSink {
    file: String,
    columns: Vec<String>,
    index: HashMap<String, usize>,
    /// Delimited files: every row must have as many fields as the header.
    fixed_width: bool,
    batch_rows: usize,
    pending: Vec<RawRow>,
    /// Rows rejected since the last chunk; handed on with the next one.
    pub quarantine: Vec<Quarantined>,
    /// Rows met since the last chunk, rejected ones included.
    pub rows_read: u64,
}

/// Rows of a file as one Arrow batch (text columns, then lineage), what splitting them rejected,
/// and how many rows were read for it (accepted into the batch or rejected).
pub struct RawChunk {
    /// The file's column names so far, in the order of the batch's text columns.
    pub columns: Vec<String>,
    /// The rows' values as text columns, then `_file`, `_row` and `_position`.
    pub batch: RecordBatch,
    /// Rows rejected since the previous chunk (bad JSON, a wrong field count).
    pub quarantine: Vec<Quarantined>,
    /// Rows this chunk accounts for: those in `batch` and those in `quarantine`.
    pub rows_read: u64,
}

impl RawSink {
    /// A sink for the file `file`, handing on chunks of about `batch_rows` rows; with `fixed_width`
    /// (CSV and workbooks) a row must have as many fields as there are columns.
    pub fn new(file: String, fixed_width: bool, batch_rows: usize) -> Self {
        RawSink {
            file,
            columns: Vec::new(),
            index: HashMap::new(),
            fixed_width,
            batch_rows,
            pending: Vec::new(),
            quarantine: Vec::new(),
            rows_read: 0,
        }
    }

    /// Names the columns, in the order of the rows' values (from the header, or `c1`, `c2`, …).
    pub fn set_columns(&mut self, columns: Vec<String>) {
        self.index = columns.iter().enumerate().map(|(i, c)| (c.clone(), i)).collect();
        self.columns = columns;
    }

    /// The column names so far.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The column index for a name, adding the column if it is new (JSON objects vary).
    pub fn column_index(&mut self, name: &str) -> usize {
        if let Some(i) = self.index.get(name) {
            return *i;
        }
        self.columns.push(name.to_string());
        self.index.insert(name.to_string(), self.columns.len() - 1);
        self.columns.len() - 1
    }

    /// Takes one row; with `fixed_width`, a row of the wrong field count is quarantined instead.
    pub fn push(&mut self, row: RawRow) {
        self.rows_read += 1;
        if self.fixed_width && row.values.len() != self.columns.len() {
            self.quarantine.push(Quarantined {
                file: self.file.clone(),
                row: row.line,
                position: row.position,
                reason: "wrong_field_count".into(),
                column: None,
                value: Some(super::Quarantined::bounded(join_values(&row.values))),
                message: format!("{} fields where the header has {}", row.values.len(), self.columns.len()),
            });
            return;
        }
        self.pending.push(row);
    }

    /// Enough rows for a chunk.
    pub fn is_full(&self) -> bool {
        self.pending.len() >= self.batch_rows
    }

    /// Anything read since the last chunk.
    pub fn has_rows(&self) -> bool {
        self.rows_read > 0
    }

    /// A row that could not even be split into fields (bad JSON).
    pub fn reject(&mut self, line: u64, position: String, reason: &'static str, value: String, message: String) {
        self.rows_read += 1;
        self.quarantine.push(Quarantined { file: self.file.clone(), row: line, position, reason: reason.into(), column: None, value: Some(Quarantined::bounded(value)), message });
    }

    /// Hands on what was read since the last chunk; rows of a JSON file that lack later columns are null there.
    pub fn take_chunk(&mut self) -> RawChunk {
        let rows = std::mem::take(&mut self.pending);
        let mut builders: Vec<StringBuilder> = self.columns.iter().map(|_| StringBuilder::new()).collect();
        let mut files = StringBuilder::new();
        let mut lines = UInt64Builder::new();
        let mut positions = StringBuilder::new();
        for row in rows {
            let mut values = row.values.into_iter();
            for b in builders.iter_mut() {
                b.append_option(values.next().flatten());
            }
            files.append_value(&self.file);
            lines.append_value(row.line);
            positions.append_value(&row.position);
        }
        let mut arrays: Vec<ArrayRef> = builders.into_iter().map(|mut b| Arc::new(b.finish()) as ArrayRef).collect();
        arrays.push(Arc::new(files.finish()));
        arrays.push(Arc::new(lines.finish()));
        arrays.push(Arc::new(positions.finish()));
        let batch = RecordBatch::try_new(raw_schema(&self.columns), arrays).expect("columns match schema");
        RawChunk {
            columns: self.columns.clone(),
            batch,
            quarantine: std::mem::take(&mut self.quarantine),
            rows_read: std::mem::replace(&mut self.rows_read, 0),
        }
    }

    /// A sink for unit tests: source `test`, no header, chunks of 1000 rows.
    #[cfg(test)]
    pub fn for_test() -> Self {
        RawSink::new("test".into(), false, 1000)
    }

    /// The rows pending in the sink, as line and values, for unit tests.
    #[cfg(test)]
    pub fn test_rows(&self) -> Vec<(u64, Vec<Option<String>>)> {
        self.pending.iter().map(|r| (r.line, r.values.clone())).collect()
    }
}

/// The raw schema: the department's columns as text, then the lineage columns.
pub fn raw_schema(columns: &[String]) -> SchemaRef {
    let mut fields: Vec<Field> = columns.iter().map(|c| Field::new(c, DataType::Utf8, true)).collect();
    fields.push(Field::new(FILE_COLUMN, DataType::Utf8, false));
    fields.push(Field::new(ROW_COLUMN, DataType::UInt64, false));
    fields.push(Field::new(POSITION_COLUMN, DataType::Utf8, false));
    Arc::new(Schema::new(fields))
}

fn join_values(values: &[Option<String>]) -> String {
    values.iter().map(|v| v.as_deref().unwrap_or("")).collect::<Vec<_>>().join("|")
}
