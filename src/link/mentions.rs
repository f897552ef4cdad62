//! The mentions table: every person mentioned by every accepted row of every source, one row per
//! (source, record, role), with its identity fields normalised. This is what the linker reads.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayAccessor, ArrayRef, AsArray, BooleanArray, Date32Array, RecordBatch, StringArray, TypedDictionaryArray, UInt32Array};
use arrow::compute::{concat, filter};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt16Type};
use chrono::NaiveDate;
use parquet::arrow::ArrowWriter;

use crate::config::{MentionSpec, Pipeline, Source};
use crate::address::{Districts, room_keys};
use crate::identity::{name_keys, normalize_ids};
use super::parallel;
use crate::ingest::{IngestError, SourceTable, staging_writer};

/// Column names of the mentions batch.
pub mod col {
    /// The pipeline source the mention comes from.
    pub const SOURCE: &str = "source";
    /// The record's key within its source.
    pub const RECORD_KEY: &str = "record_key";
    /// What the person is to the record, e.g. `mother`.
    pub const ROLE: &str = "role";
    /// The file the record was read from.
    pub const FILE: &str = "file";
    /// The record's line in its file (its row number, in a sheet).
    pub const ROW: &str = "row";
    /// The record's position among its source's accepted rows (the staged `_index`).
    pub const SOURCE_ROW: &str = "source_row";
    /// The ID number as the department wrote it.
    pub const CITIZEN_ID_RAW: &str = "citizen_id_raw";
    /// The ID number cleaned, 15 digits upgraded to 18; null when nothing is left.
    pub const CITIZEN_ID: &str = "citizen_id";
    /// What normalisation made of the number (`citizen_id::IdStatus::as_str`), e.g. `valid`.
    pub const ID_STATUS: &str = "id_status";
    /// The name as the department wrote it.
    pub const NAME_RAW: &str = "name_raw";
    /// The name's matching key: cleaned, traditional characters folded to simplified.
    pub const NAME_KEY: &str = "name_key";
    /// Toneless pinyin of the name's matching key.
    pub const NAME_PINYIN: &str = "name_pinyin";
    /// `M` or `F`.
    pub const SEX: &str = "sex";
    /// The birth date, parsed from any of the departments' formats.
    pub const BIRTH_DATE: &str = "birth_date";
    /// The birth date as the department wrote it.
    pub const BIRTH_DATE_RAW: &str = "birth_date_raw";
    /// Ethnicity as the department writes it.
    pub const ETHNICITY: &str = "ethnicity";
    /// Matching key of the address the department gives.
    pub const ADDRESS_KEY: &str = "address_key";
    /// The household register number the person belongs to.
    pub const HOUSEHOLD_NO: &str = "household_no";
    /// Whether the source is the authority on identity (the household register).
    pub const AUTHORITY: &str = "authority";
    /// Whether a mention of this role that matches nobody starts a new person.
    pub const CREATES_PERSONS: &str = "creates_persons";
}

/// The mentions batch's schema, its columns in the order of `col`.
pub fn schema() -> SchemaRef {
    use col::*;
    let text = |n: &str| Field::new(n, DataType::Utf8, true);
    Arc::new(Schema::new(vec![
        Field::new(SOURCE, DataType::Utf8, false),
        text(RECORD_KEY),
        Field::new(ROLE, DataType::Utf8, false),
        text(FILE),
        Field::new(ROW, DataType::UInt64, true),
        Field::new(SOURCE_ROW, DataType::UInt32, false),
        text(CITIZEN_ID_RAW),
        text(CITIZEN_ID),
        text(ID_STATUS),
        text(NAME_RAW),
        text(NAME_KEY),
        text(NAME_PINYIN),
        text(SEX),
        Field::new(BIRTH_DATE, DataType::Date32, true),
        text(BIRTH_DATE_RAW),
        text(ETHNICITY),
        text(ADDRESS_KEY),
        text(HOUSEHOLD_NO),
        Field::new(AUTHORITY, DataType::Boolean, false),
        Field::new(CREATES_PERSONS, DataType::Boolean, false),
    ]))
}

/// The columns only published, never read by the linker: they stay on disk while it runs.
const PUBLISHED_ONLY: [&str; 6] = [col::FILE, col::ROW, col::CITIZEN_ID_RAW, col::NAME_RAW, col::BIRTH_DATE_RAW, col::ETHNICITY];

/// Text columns of a few distinct values, dictionary-coded in the linker's batch (two bytes a
/// mention instead of the text).
const CODED: [&str; 4] = [col::SOURCE, col::ROLE, col::ID_STATUS, col::SEX];

/// How the linker's batch holds a `CODED` column.
fn coded_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::UInt16), Box::new(DataType::Utf8))
}

/// The schema of the linker's batch: the mentions schema less `PUBLISHED_ONLY`, `CODED` columns
/// dictionary-coded.
pub fn linker_schema() -> SchemaRef {
    let fields = schema()
        .fields()
        .iter()
        .filter(|f| !PUBLISHED_ONLY.contains(&f.name().as_str()))
        .map(|f| if CODED.contains(&f.name().as_str()) { f.as_ref().clone().with_data_type(coded_type()) } else { f.as_ref().clone() })
        .collect::<Vec<_>>();
    Arc::new(Schema::new(fields))
}

/// The night's mentions: the linker's columns in memory, every column staged on disk, in the
/// same order (source by source, role by role, row by row).
pub struct Mentions {
    /// The columns the linker reads (the mentions schema less `PUBLISHED_ONLY`), one row per mention.
    pub linker: RecordBatch,
    /// Files holding every column of the mentions schema: the first file's rows, then the next's.
    pub staged: Vec<PathBuf>,
}

/// Builds the mentions of all sources, staging them under `staging`. A role's fields all empty
/// in a row (no father on the certificate) is no mention. The sources' staged mention columns are
/// read batch by batch and normalised on `threads` threads; only the linker's columns are held.
pub fn build(pipeline: &Pipeline, tables: &[SourceTable], as_of: NaiveDate, staging: &Path, threads: usize, progress: &crate::progress::Stage) -> Result<Mentions, IngestError> {
    let schema = schema();
    let linker_schema = linker_schema();
    let linker_columns: Vec<usize> = linker_schema.fields().iter().map(|f| schema.index_of(f.name()).expect("a mentions column")).collect();
    let districts = Districts::new();
    let mut parts: Vec<Vec<ArrayRef>> = Vec::new();
    let mut staged = Vec::new();
    for table in tables {
        let source = &pipeline.sources[table.index];
        let mut by_role: Vec<Vec<Vec<ArrayRef>>> = vec![Vec::new(); source.mentions.len()];
        let mut writers = Vec::new();
        for m in &source.mentions {
            let path = staging.join(format!("mentions.{}.{}.parquet", source.name, m.role));
            writers.push(StagedWriter::create(&path, schema.clone(), &source.name)?);
            staged.push(path);
        }
        // Batches are normalised `threads` at a time, and written and kept in order.
        let mut batches = table.mention_batches()?.into_iter().flatten().peekable();
        while batches.peek().is_some() {
            let group: Vec<RecordBatch> = batches.by_ref().take(threads).collect::<Result<_, _>>()?;
            let normalised = parallel::map_each(&group, threads, |b| {
                source.mentions.iter().map(|m| role_columns(source, m, b, as_of, &districts)).collect::<Vec<_>>()
            });
            progress.inc(group.iter().map(|b| b.num_rows() as u64).sum());
            for roles in normalised {
                for ((columns, role_parts), writer) in roles.into_iter().zip(&mut by_role).zip(&mut writers) {
                    writer.write(RecordBatch::try_new(schema.clone(), columns.clone()).expect("schema matches"))?;
                    let linker = linker_columns.iter().zip(linker_schema.fields()).map(|(&c, field)| match field.data_type() == columns[c].data_type() {
                        true => columns[c].clone(),
                        false => arrow::compute::cast(&columns[c], field.data_type()).expect("text to dictionary"),
                    });
                    role_parts.push(linker.collect());
                }
            }
        }
        for writer in writers {
            writer.close()?;
        }
        parts.extend(by_role.into_iter().flatten());
    }
    // Column by column, each column's parts freed once joined: the batch is held once, not twice.
    let columns: Vec<ArrayRef> = (0..linker_schema.fields().len())
        .map(|c| {
            let empty = arrow::array::new_empty_array(linker_schema.field(c).data_type());
            let pieces: Vec<ArrayRef> = parts.iter_mut().map(|p| std::mem::replace(&mut p[c], empty.clone())).collect();
            if pieces.is_empty() {
                return empty;
            }
            concat(&pieces.iter().map(|a| a.as_ref()).collect::<Vec<&dyn Array>>()).expect("same types")
        })
        .collect();
    let linker = RecordBatch::try_new(linker_schema, columns).expect("schema matches");
    Ok(Mentions { linker, staged })
}

/// One staged file of mentions being written.
struct StagedWriter {
    writer: ArrowWriter<File>,
    path: PathBuf,
    source_name: String,
}

impl StagedWriter {
    fn create(path: &Path, schema: SchemaRef, source_name: &str) -> Result<StagedWriter, IngestError> {
        let writer = staging_writer(path, schema, None).map_err(|e| staged_error(source_name, path, e))?;
        Ok(StagedWriter { writer, path: path.to_path_buf(), source_name: source_name.to_string() })
    }

    fn write(&mut self, batch: RecordBatch) -> Result<(), IngestError> {
        self.writer.write(&batch).map_err(|e| staged_error(&self.source_name, &self.path, e))
    }

    fn close(self) -> Result<(), IngestError> {
        self.writer.close().map(|_| ()).map_err(|e| staged_error(&self.source_name, &self.path, e))
    }
}

fn staged_error(source_name: &str, path: &Path, e: parquet::errors::ParquetError) -> IngestError {
    IngestError::Staging { source_name: source_name.to_string(), path: path.to_path_buf(), message: e.to_string() }
}

/// The mentions of one role in a batch of a source's staged mention columns, as columns of the
/// mentions schema.
fn role_columns(source: &Source, m: &MentionSpec, b: &RecordBatch, as_of: NaiveDate, districts: &Districts) -> Vec<ArrayRef> {
    let n = b.num_rows();
    let text = |field: &str| -> StringArray {
        b.column_by_name(&format!("{}.{field}", m.role))
            .map(|c| c.as_string::<i32>().clone())
            .unwrap_or_else(|| StringArray::new_null(n))
    };
    let ids_raw = text("citizen_id");
    let names_raw = text("name");
    let births: Date32Array = b
        .column_by_name(&format!("{}.birth_date", m.role))
        .map(|c| c.as_primitive::<arrow::datatypes::Date32Type>().clone())
        .unwrap_or_else(|| Date32Array::new_null(n));
    let births_raw = text("birth_date_raw");
    let present: BooleanArray = (0..n)
        .map(|i| {
            let filled = |a: &StringArray| !a.is_null(i) && !a.value(i).trim().is_empty();
            Some(filled(&ids_raw) || filled(&names_raw) || filled(&births_raw))
        })
        .collect();
    let (ids, statuses) = normalize_ids(&ids_raw, as_of);
    let (name_key, pinyin) = name_keys(&names_raw);
    let constant = |v: &str| Arc::new(StringArray::from(vec![v; n])) as ArrayRef;
    let flag = |v: bool| Arc::new(BooleanArray::from(vec![v; n])) as ArrayRef;
    let columns: Vec<ArrayRef> = vec![
        constant(&source.name),
        b.column_by_name("record_key").expect("mapped").clone(),
        constant(&m.role),
        b.column_by_name("_file").expect("lineage").clone(),
        b.column_by_name("_row").expect("lineage").clone(),
        b.column_by_name(crate::ingest::INDEX_COLUMN).expect("staged index").clone(),
        Arc::new(ids_raw),
        Arc::new(ids),
        Arc::new(statuses),
        Arc::new(names_raw),
        Arc::new(name_key),
        Arc::new(pinyin),
        Arc::new(text("sex")),
        Arc::new(births),
        Arc::new(births_raw),
        Arc::new(text("ethnicity")),
        Arc::new(room_keys(districts, &text("address"))),
        Arc::new(text("household_no")),
        flag(source.authority),
        flag(m.creates_persons),
    ];
    columns.iter().map(|c| filter(c, &present).expect("same length")).collect()
}

/// A dictionary-coded text column of the linker's batch (`CODED`).
pub type Coded<'a> = TypedDictionaryArray<'a, UInt16Type, StringArray>;

/// Typed access to the linker's batch's columns.
pub struct MentionColumns<'a> {
    /// Source of each mention (`col::SOURCE`).
    pub source: Coded<'a>,
    /// Record key of each mention within its source.
    pub record_key: &'a StringArray,
    /// Role of each mention in its record.
    pub role: Coded<'a>,
    /// Normalised ID number of each mention.
    pub citizen_id: &'a StringArray,
    /// What normalisation made of each mention's number.
    pub id_status: Coded<'a>,
    /// Name matching key of each mention.
    pub name_key: &'a StringArray,
    /// Pinyin of each mention's name key.
    pub name_pinyin: &'a StringArray,
    /// Sex of each mention, `M` or `F`.
    pub sex: Coded<'a>,
    /// Address matching key of each mention.
    pub address_key: &'a StringArray,
    /// Household register number of each mention.
    pub household_no: &'a StringArray,
    /// Position of each mention's record among its source's accepted rows.
    pub source_row: &'a UInt32Array,
    /// Birth date of each mention, in days since 1970-01-01.
    pub birth_date: &'a Date32Array,
    /// Whether each mention comes from the authority register.
    pub authority: &'a BooleanArray,
    /// Whether each mention's role starts a new person when it matches nobody.
    pub creates_persons: &'a BooleanArray,
}

impl<'a> MentionColumns<'a> {
    /// Views a batch of the linker's columns of the mentions; panics if a column is missing.
    pub fn new(b: &'a RecordBatch) -> Self {
        let s = |n: &str| b.column_by_name(n).expect("mention column").as_string::<i32>();
        let coded = |n: &str| b.column_by_name(n).expect("mention column").as_dictionary::<UInt16Type>().downcast_dict::<StringArray>().expect("text values");
        MentionColumns {
            source: coded(col::SOURCE),
            record_key: s(col::RECORD_KEY),
            role: coded(col::ROLE),
            citizen_id: s(col::CITIZEN_ID),
            id_status: coded(col::ID_STATUS),
            name_key: s(col::NAME_KEY),
            name_pinyin: s(col::NAME_PINYIN),
            sex: coded(col::SEX),
            address_key: s(col::ADDRESS_KEY),
            household_no: s(col::HOUSEHOLD_NO),
            source_row: b.column_by_name(col::SOURCE_ROW).expect("mention column").as_primitive(),
            birth_date: b.column_by_name(col::BIRTH_DATE).expect("mention column").as_primitive(),
            authority: b.column_by_name(col::AUTHORITY).expect("mention column").as_boolean(),
            creates_persons: b.column_by_name(col::CREATES_PERSONS).expect("mention column").as_boolean(),
        }
    }

    /// How many mentions the batch holds.
    pub fn len(&self) -> usize {
        self.source.len()
    }

    /// Value `i` of a text column (plain or coded), or `None` when it is null or empty.
    pub fn text<A: ArrayAccessor<Item = &'a str>>(a: A, i: usize) -> Option<&'a str> {
        (!a.is_null(i)).then(|| a.value(i)).filter(|v| !v.is_empty())
    }
}
