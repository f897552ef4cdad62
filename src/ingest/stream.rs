//! Reading a file as a stream of raw chunks, so memory follows the batch size rather than the
//! file size. Delimited text and JSON lines are decoded and split chunk by chunk; Excel sheets
//! and JSON arrays, which their libraries parse whole, come as one chunk; Parquet by row group.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::DataType;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use super::raw::{RawChunk, RawSink, raw_schema};
use super::text::{self, ChunkDecoder};
use super::{IngestError, delimited, json_lines, spreadsheet};
use crate::config::{Format, Source};

/// Bytes read from a text file at a time: about one batch of rows.
const CHUNK_BYTES: usize = 2 << 20;

pub enum RawReader {
    Text(TextStream),
    Parquet { reader: ParquetRecordBatchReader, columns: Vec<String>, file: String, rows: u64 },
    Whole(Option<RawChunk>),
}

/// Delimited text or JSON lines, decoded and split a chunk at a time.
pub struct TextStream {
    file: File,
    decoder: ChunkDecoder,
    pending: String,
    next_line: u64,
    first_record: bool,
    eof: bool,
    sink: RawSink,
    split: Split,
    chunk_bytes: usize,
}

enum Split {
    Delimited { delimiter: char, header: bool },
    JsonLines { explode: Option<String> },
}

impl RawReader {
    pub fn open(source: &Source, path: &Path, batch_rows: usize) -> Result<RawReader, IngestError> {
        RawReader::open_chunked(source, path, batch_rows, CHUNK_BYTES)
    }

    /// As `open`, text read `chunk_bytes` at a time (the fuzz targets cut files finely).
    pub fn open_chunked(source: &Source, path: &Path, batch_rows: usize, chunk_bytes: usize) -> Result<RawReader, IngestError> {
        let file_name = path.to_string_lossy().to_string();
        let io = |e: std::io::Error| IngestError::Io { file: path.to_path_buf(), source: e };
        let fixed_width = matches!(source.format, Format::Csv | Format::Xlsx);
        let mut sink = RawSink::new(file_name.clone(), fixed_width, batch_rows);
        let text_stream = |split, sink| -> Result<RawReader, IngestError> {
            Ok(RawReader::Text(TextStream {
                file: File::open(path).map_err(io)?,
                decoder: ChunkDecoder::new(path, source.encoding),
                pending: String::new(),
                next_line: 1,
                first_record: true,
                eof: false,
                sink,
                split,
                chunk_bytes: chunk_bytes.max(1),
            }))
        };
        match source.format {
            Format::Csv => text_stream(Split::Delimited { delimiter: source.delimiter, header: source.header }, sink),
            Format::Jsonl => text_stream(Split::JsonLines { explode: source.explode.clone() }, sink),
            Format::Json => {
                let bytes = std::fs::read(path).map_err(io)?;
                let text = text::decode(path, &bytes, source.encoding)?;
                json_lines::read_array(&text, source.explode.as_deref(), &mut sink);
                Ok(RawReader::Whole(Some(sink.take_chunk())))
            }
            Format::Xlsx => {
                spreadsheet::read(path, source.sheet.as_deref(), source.header, &mut sink)?;
                Ok(RawReader::Whole(Some(sink.take_chunk())))
            }
            Format::Parquet => {
                let bad = |message: String| IngestError::Unreadable { file: path.to_path_buf(), message };
                let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(path).map_err(io)?)
                    .and_then(|b| b.with_batch_size(batch_rows).build())
                    .map_err(|e| bad(e.to_string()))?;
                let columns = arrow::array::RecordBatchReader::schema(&reader).fields().iter().map(|f| f.name().clone()).collect();
                Ok(RawReader::Parquet { reader, columns, file: file_name, rows: 0 })
            }
        }
    }

    /// The next chunk of the file, or `None` at its end.
    pub fn next_chunk(&mut self) -> Result<Option<RawChunk>, IngestError> {
        match self {
            RawReader::Whole(chunk) => Ok(chunk.take()),
            RawReader::Text(stream) => stream.next_chunk(),
            RawReader::Parquet { reader, columns, file, rows } => {
                let Some(batch) = reader.next() else { return Ok(None) };
                let bad = |message: String| IngestError::Unreadable { file: PathBuf::from(file.as_str()), message };
                let batch = batch.map_err(|e| bad(e.to_string()))?;
                let n = batch.num_rows();
                let mut arrays: Vec<ArrayRef> = Vec::with_capacity(columns.len() + 3);
                for column in batch.columns() {
                    arrays.push(arrow::compute::cast(column, &DataType::Utf8).map_err(|e| bad(e.to_string()))?);
                }
                let lines: Vec<u64> = (*rows + 1..=*rows + n as u64).collect();
                arrays.push(Arc::new(StringArray::from(vec![file.as_str(); n])));
                arrays.push(Arc::new(UInt64Array::from(lines.clone())));
                arrays.push(Arc::new(StringArray::from_iter_values(lines.iter().map(|l| format!("row {l}")))));
                *rows += n as u64;
                let batch = RecordBatch::try_new(raw_schema(columns), arrays).map_err(|e| bad(e.to_string()))?;
                Ok(Some(RawChunk { columns: columns.clone(), batch, quarantine: Vec::new(), rows_read: n as u64 }))
            }
        }
    }
}

impl TextStream {
    fn next_chunk(&mut self) -> Result<Option<RawChunk>, IngestError> {
        loop {
            if self.sink.is_full() {
                return Ok(Some(self.sink.take_chunk()));
            }
            if self.eof {
                return Ok(self.sink.has_rows().then(|| self.sink.take_chunk()));
            }
            let mut buffer = vec![0u8; self.chunk_bytes];
            let n = self.file.read(&mut buffer).map_err(|e| IngestError::Io { file: self.decoder.path().into(), source: e })?;
            let last = n == 0;
            self.pending.push_str(&self.decoder.decode(&buffer[..n], last)?);
            self.eof = last;
            let end = match (&self.split, last) {
                (_, true) => self.pending.len(),
                (Split::Delimited { .. }, false) => delimited::complete_records_end(&self.pending),
                (Split::JsonLines { .. }, false) => self.pending.rfind('\n').map_or(0, |i| i + 1),
            };
            if end == 0 {
                continue;
            }
            let block: String = self.pending.drain(..end).collect();
            self.next_line = match &self.split {
                Split::Delimited { delimiter, header } => {
                    delimited::read_block(&block, self.next_line, *delimiter, *header, &mut self.first_record, &mut self.sink)
                }
                Split::JsonLines { explode } => json_lines::read_lines(&block, self.next_line, explode.as_deref(), &mut self.sink),
            };
        }
    }
}
