//! The mentions table: every person mentioned by every accepted row of every source, one row per
//! (source, record, role), with its identity fields normalised. This is what the linker reads.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Date32Array, RecordBatch, StringArray, UInt32Array, UInt64Array};
use arrow::compute::{concat, filter};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use chrono::NaiveDate;

use crate::config::Pipeline;
use crate::identity::address::address_key;
use crate::identity::{name_keys, normalize_ids};
use crate::ingest::SourceTable;

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

/// Builds the mentions of all sources. A role's fields all empty in a row (no father on the
/// certificate) is no mention.
pub fn build(pipeline: &Pipeline, tables: &[SourceTable], as_of: NaiveDate) -> RecordBatch {
    let schema = schema();
    let mut parts: Vec<Vec<ArrayRef>> = Vec::new();
    for table in tables {
        let source = &pipeline.sources[table.index];
        let b = &table.mentions;
        let n = b.num_rows();
        for m in &source.mentions {
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
                Arc::new(text("address").iter().map(|a| a.map(address_key)).collect::<StringArray>()),
                Arc::new(text("household_no")),
                flag(source.authority),
                flag(m.creates_persons),
            ];
            parts.push(columns.iter().map(|c| filter(c, &present).expect("same length")).collect());
        }
    }
    if parts.is_empty() {
        return RecordBatch::new_empty(schema);
    }
    let columns: Vec<ArrayRef> = (0..schema.fields().len())
        .map(|c| {
            let arrays: Vec<&dyn Array> = parts.iter().map(|p| p[c].as_ref()).collect();
            concat(&arrays).expect("same types")
        })
        .collect();
    RecordBatch::try_new(schema, columns).expect("schema matches")
}

/// Typed access to the mentions batch's columns.
pub struct MentionColumns<'a> {
    /// Source of each mention (`col::SOURCE`).
    pub source: &'a StringArray,
    /// Record key of each mention within its source.
    pub record_key: &'a StringArray,
    /// Role of each mention in its record.
    pub role: &'a StringArray,
    /// Normalised ID number of each mention.
    pub citizen_id: &'a StringArray,
    /// What normalisation made of each mention's number.
    pub id_status: &'a StringArray,
    /// Name matching key of each mention.
    pub name_key: &'a StringArray,
    /// Pinyin of each mention's name key.
    pub name_pinyin: &'a StringArray,
    /// Sex of each mention, `M` or `F`.
    pub sex: &'a StringArray,
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
    /// Line of each mention's record in its file.
    pub row: &'a UInt64Array,
}

impl<'a> MentionColumns<'a> {
    /// Views a batch of the mentions schema; panics if a column is missing.
    pub fn new(b: &'a RecordBatch) -> Self {
        let s = |n: &str| b.column_by_name(n).expect("mention column").as_string::<i32>();
        MentionColumns {
            source: s(col::SOURCE),
            record_key: s(col::RECORD_KEY),
            role: s(col::ROLE),
            citizen_id: s(col::CITIZEN_ID),
            id_status: s(col::ID_STATUS),
            name_key: s(col::NAME_KEY),
            name_pinyin: s(col::NAME_PINYIN),
            sex: s(col::SEX),
            address_key: s(col::ADDRESS_KEY),
            household_no: s(col::HOUSEHOLD_NO),
            source_row: b.column_by_name(col::SOURCE_ROW).expect("mention column").as_primitive(),
            birth_date: b.column_by_name(col::BIRTH_DATE).expect("mention column").as_primitive(),
            authority: b.column_by_name(col::AUTHORITY).expect("mention column").as_boolean(),
            creates_persons: b.column_by_name(col::CREATES_PERSONS).expect("mention column").as_boolean(),
            row: b.column_by_name(col::ROW).expect("mention column").as_primitive(),
        }
    }

    /// How many mentions the batch holds.
    pub fn len(&self) -> usize {
        self.source.len()
    }

    /// Value `i` of a text column, or `None` when it is null or empty.
    pub fn text(a: &'a StringArray, i: usize) -> Option<&'a str> {
        (!a.is_null(i)).then(|| a.value(i)).filter(|v| !v.is_empty())
    }
}
