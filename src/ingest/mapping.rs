//! From raw columns to the source's mapped table, one chunk at a time. Every mapped field becomes
//! one SQL expression run by DataFusion over the raw chunk; the results are then typed column by
//! column, and rows missing what they need are quarantined with the field and value at fault.
//!
//! Mapped column names: `record_key`, `<role>.<field>` for mentions (`birth_date` as Date32 with
//! `<role>.birth_date_raw` beside it), `facts.<field>` typed per `config::facts`, plus the
//! lineage columns `_file`, `_row` and `_position`.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Date32Builder, Float64Builder, RecordBatch, StringArray, StringBuilder, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema};
use chrono::NaiveDate;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use crate::config::facts::ValueType;
use super::raw::{FILE_COLUMN, POSITION_COLUMN, ROW_COLUMN, RawChunk};
use super::drift::DriftEvent;
use super::{IngestError, Quarantined};
use crate::config::field::{Severity, quote_ident};
use crate::config::{Field as MappedField, Source};
use crate::identity::dates::{self, DateProblem};

/// A raw row's place in its chunk, added for the mapping query and dropped after it.
const CHUNK_ORDER_COLUMN: &str = "_chunk_order";

/// One mapped field: output column, the pipeline key it came from, the mapping, and its type.
struct Target<'a> {
    column: String,
    key: String,
    field: &'a MappedField,
    value_type: ValueType,
    required: bool,
}

pub struct Mapped {
    pub batch: RecordBatch,
    pub quarantine: Vec<Quarantined>,
}

pub struct Mapper<'a> {
    source: &'a Source,
    as_of: NaiveDate,
    targets: Vec<Target<'a>>,
    pub warnings: BTreeMap<String, u64>,
    /// Column sets whose expressions were already planned once.
    planned: HashSet<Vec<String>>,
}

impl<'a> Mapper<'a> {
    pub fn new(source: &'a Source, as_of: NaiveDate) -> Self {
        let key = |k: String| format!("source.{}.{k}", source.name);
        let mut targets = vec![Target {
            column: "record_key".into(),
            key: key("record_key".into()),
            field: &source.record_key,
            value_type: ValueType::Text,
            required: true,
        }];
        for m in &source.mentions {
            for (name, field) in m.fields() {
                targets.push(Target {
                    column: format!("{}.{name}", m.role),
                    key: key(format!("mention.{}.{name}", m.role)),
                    field,
                    value_type: mention_type(name),
                    required: field.severity() == Some(Severity::Error),
                });
            }
        }
        if let Some(facts) = &source.facts {
            for (name, field) in facts.fields() {
                let spec = facts.kind.field(name).expect("a field of its kind");
                let (value_type, required) = (spec.value, spec.required);
                let required = field.severity().map_or(required, |s| s == Severity::Error);
                targets.push(Target { column: format!("facts.{name}"), key: key(format!("facts.{name}")), field, value_type, required });
            }
        }
        Mapper { source, as_of, targets, warnings: BTreeMap::new(), planned: HashSet::new() }
    }

    /// Mapped columns a file lacks, as drift events (the fields are null for that file).
    pub fn missing_columns(&self, file: &str, columns: &[String], first_quarantined: Option<&super::Quarantined>) -> Vec<DriftEvent> {
        // A file with no columns at all is usually a file none of whose rows could be read.
        let available = match first_quarantined {
            Some(q) if columns.is_empty() => format!("(none: no row could be read; the first, at {}, was quarantined: {})", q.position, q.message),
            _ => listed(columns),
        };
        self.targets
            .iter()
            .filter_map(|t| t.field.column().filter(|c| !columns.iter().any(|h| h == c)).map(|c| (t, c)))
            .map(|(t, column)| {
                let e = IngestError::MissingColumn { file: file.to_string(), key: t.key.clone(), column: column.to_string(), available: available.clone() };
                DriftEvent { source: self.source.name.clone(), kind: "missing_column".into(), action: self.source.drift.missing_column, message: e.to_string() }
            })
            .collect()
    }

    /// Maps and types one raw chunk. A mapped column the chunk lacks is null (the file-level
    /// check, `missing_columns`, reports it as drift).
    pub async fn map_chunk(&mut self, ctx: &SessionContext, file: &str, raw: RawChunk) -> Result<Mapped, crate::Error> {
        // A chunk whose every row was set aside (quarantined by the reader) has nothing to map,
        // and may not even have columns to plan against.
        if raw.batch.num_rows() == 0 {
            return Ok(Mapped { batch: RecordBatch::new_empty(self.empty_schema()), quarantine: Vec::new() });
        }
        let missing: HashSet<String> = self
            .targets
            .iter()
            .filter(|t| t.field.column().is_some_and(|c| !raw.columns.iter().any(|h| h == c)))
            .map(|t| t.column.clone())
            .collect();
        let sql_of = |t: &Target, raw_value: bool| {
            if missing.contains(&t.column) {
                "CAST(NULL AS VARCHAR)".to_string()
            } else if raw_value {
                t.field.raw_sql()
            } else {
                t.field.mapped_sql()
            }
        };
        let engine = |message: String| IngestError::Engine { source_name: self.source.name.clone(), message };
        let first_of_its_shape = self.planned.insert(raw.columns.clone());
        // Each row carries its place in the chunk, so the mapped rows come back in the file's
        // order however the plan spreads them over partitions.
        let numbered = {
            let mut fields: Vec<Field> = raw.batch.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
            fields.push(Field::new(CHUNK_ORDER_COLUMN, DataType::UInt32, false));
            let mut columns = raw.batch.columns().to_vec();
            columns.push(Arc::new(UInt32Array::from_iter_values(0..raw.batch.num_rows() as u32)));
            RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|e| engine(e.to_string()))?
        };
        let table = MemTable::try_new(numbered.schema(), vec![vec![numbered]]).map_err(|e| engine(e.to_string()))?;
        ctx.deregister_table("raw").map_err(|e| engine(e.to_string()))?;
        ctx.register_table("raw", Arc::new(table)).map_err(|e| engine(e.to_string()))?;
        // Plan each expression alone first (once per shape of file), so a broken one is reported
        // under its own key.
        for t in self.targets.iter().filter(|_| first_of_its_shape) {
            if let Err(e) = ctx.sql(&format!("SELECT {} FROM raw LIMIT 0", sql_of(t, false))).await {
                // DataFusion lists every field it knows, pophub's own among them: the file's
                // columns are listed instead, a few of them.
                let message = e.to_string();
                let message = message.split("Valid fields are").next().unwrap_or(&message).trim_end();
                return Err(IngestError::Expression {
                    source_name: self.source.name.clone(),
                    key: t.key.clone(),
                    file: file.to_string(),
                    message: format!("{message}; the file's columns are: {}", listed(&raw.columns)),
                }
                .into());
            }
        }
        let mut select: Vec<String> = [FILE_COLUMN, ROW_COLUMN, POSITION_COLUMN].iter().map(|c| quote_ident(c)).collect();
        for t in &self.targets {
            select.push(format!("CAST({} AS VARCHAR) AS {}", sql_of(t, false), quote_ident(&t.column)));
            if t.field.value_map().is_some() {
                select.push(format!("{} AS {}", sql_of(t, true), quote_ident(&format!("{}.raw", t.column))));
            }
        }
        select.push(quote_ident(CHUNK_ORDER_COLUMN));
        let sql = format!("SELECT {} FROM raw", select.join(", "));
        let batches = ctx.sql(&sql).await.map_err(|e| engine(e.to_string()))?.collect().await.map_err(|e| engine(e.to_string()))?;
        let Some(first) = batches.first() else { return Ok(Mapped { batch: RecordBatch::new_empty(self.empty_schema()), quarantine: Vec::new() }) };
        let mut all = arrow::compute::concat_batches(&first.schema(), &batches).map_err(|e| engine(e.to_string()))?;
        let places = all.column(all.num_columns() - 1).as_primitive::<arrow::datatypes::UInt32Type>().clone();
        // Usually the plan kept the order; only a chunk that came back shuffled is put back.
        if places.values().iter().enumerate().any(|(i, &p)| p as usize != i) {
            let order = arrow::compute::sort_to_indices(&places, None, None).map_err(|e| engine(e.to_string()))?;
            all = arrow::compute::take_record_batch(&all, &order).map_err(|e| engine(e.to_string()))?;
        }
        let all = all.project(&(0..all.num_columns() - 1).collect::<Vec<_>>()).map_err(|e| engine(e.to_string()))?;
        let (batch, quarantine) = self.type_batch(&all);
        Ok(Mapped { batch, quarantine })
    }

    pub fn empty_schema(&self) -> Arc<Schema> {
        let mut fields = vec![
            Field::new(FILE_COLUMN, DataType::Utf8, false),
            Field::new(ROW_COLUMN, DataType::UInt64, false),
            Field::new(POSITION_COLUMN, DataType::Utf8, false),
        ];
        for t in &self.targets {
            fields.extend(typed_fields(t));
        }
        Arc::new(Schema::new(fields))
    }

    /// Types every target column, quarantining rows whose required fields fail.
    fn type_batch(&mut self, batch: &RecordBatch) -> (RecordBatch, Vec<Quarantined>) {
        let n = batch.num_rows();
        let files = batch.column(0).as_string::<i32>().clone();
        let lines = batch.column(1).as_primitive::<arrow::datatypes::UInt64Type>().clone();
        let positions = batch.column(2).as_string::<i32>().clone();
        let mut rejected: Vec<Option<(&'static str, String, Option<String>, String)>> = vec![None; n];
        let mut columns: Vec<ArrayRef> = batch.columns()[..3].to_vec();
        let mut fields = vec![
            Field::new(FILE_COLUMN, DataType::Utf8, false),
            Field::new(ROW_COLUMN, DataType::UInt64, false),
            Field::new(POSITION_COLUMN, DataType::Utf8, false),
        ];
        let as_of = self.as_of;
        for t in &self.targets {
            let values = batch.column_by_name(&t.column).expect("selected").as_string::<i32>();
            let raw = batch.column_by_name(&format!("{}.raw", t.column)).map(|c| c.as_string::<i32>().clone());
            let mut problem = |i: usize, what: &str| {
                let shown = raw.as_ref().unwrap_or(values);
                let value = (!shown.is_null(i)).then(|| shown.value(i).to_string());
                if t.required {
                    if rejected[i].is_none() {
                        let reason = reason_code(&t.column, what);
                        let message = format!("{} ({}) is {what}", t.column, t.key);
                        rejected[i] = Some((reason, t.column.clone(), value, message));
                    }
                } else if !(what == "missing" && raw.is_none()) {
                    *self.warnings.entry(format!("{}: {what}", t.column)).or_default() += 1;
                }
            };
            let array: ArrayRef = match t.value_type {
                ValueType::Text => {
                    for i in 0..n {
                        if values.is_null(i) || values.value(i).trim().is_empty() {
                            problem(i, "missing");
                        }
                    }
                    Arc::new(values.clone())
                }
                ValueType::OneOf(allowed) => {
                    let mut b = StringBuilder::new();
                    for i in 0..n {
                        let v = (!values.is_null(i)).then(|| values.value(i).trim());
                        match v {
                            Some(v) if allowed.contains(&v) => b.append_value(v),
                            Some(v) if !v.is_empty() => {
                                problem(i, "not an allowed value");
                                b.append_null();
                            }
                            _ => {
                                problem(i, "missing");
                                b.append_null();
                            }
                        }
                    }
                    Arc::new(b.finish())
                }
                ValueType::Date | ValueType::Month => {
                    let mut b = Date32Builder::with_capacity(n);
                    for i in 0..n {
                        let text = if values.is_null(i) { "" } else { values.value(i) };
                        let parsed = if t.value_type == ValueType::Month {
                            dates::parse_month(text)
                        } else {
                            dates::parse_date(text, as_of)
                        };
                        match parsed {
                            Ok(d) => b.append_value(dates::to_date32(d)),
                            Err(p) => {
                                if p != DateProblem::Missing || t.required {
                                    problem(i, p.as_str());
                                }
                                b.append_null();
                            }
                        }
                    }
                    fields.push(Field::new(format!("{}_raw", t.column), DataType::Utf8, true));
                    columns.push(Arc::new(values.clone()));
                    Arc::new(b.finish())
                }
                ValueType::Number => {
                    let mut b = Float64Builder::with_capacity(n);
                    for i in 0..n {
                        let text = if values.is_null(i) { "" } else { values.value(i).trim() };
                        match text.replace(',', "").parse::<f64>() {
                            Ok(v) if v.is_finite() => b.append_value(v),
                            _ => {
                                problem(i, if text.is_empty() { "missing" } else { "not a number" });
                                b.append_null();
                            }
                        }
                    }
                    Arc::new(b.finish())
                }
            };
            fields.push(Field::new(&t.column, array.data_type().clone(), true));
            columns.push(array);
        }
        self.reject_rows_without_identity(batch, &mut rejected);
        let keep: BooleanArray = rejected.iter().map(|r| Some(r.is_none())).collect();
        let typed = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("typed columns match");
        let typed = arrow::compute::filter_record_batch(&typed, &keep).expect("mask has the batch's length");
        let quarantine = rejected
            .into_iter()
            .enumerate()
            .filter_map(|(i, r)| {
                r.map(|(reason, column, value, message)| Quarantined {
                    file: files.value(i).to_string(),
                    row: lines.value(i),
                    position: positions.value(i).to_string(),
                    reason: reason.into(),
                    column: Some(column),
                    value,
                    message,
                })
            })
            .collect();
        (typed, quarantine)
    }

    /// A row whose mentions all lack both an ID number and a name identifies nobody.
    fn reject_rows_without_identity(&self, batch: &RecordBatch, rejected: &mut [Option<(&'static str, String, Option<String>, String)>]) {
        if self.source.mentions.is_empty() {
            return;
        }
        let present = |column: String| batch.column_by_name(&column).map(|c| c.as_string::<i32>().clone());
        let cols: Vec<(Option<StringArray>, Option<StringArray>)> = self
            .source
            .mentions
            .iter()
            .map(|m| (present(format!("{}.citizen_id", m.role)), present(format!("{}.name", m.role))))
            .collect();
        let has = |a: &Option<StringArray>, i: usize| a.as_ref().is_some_and(|a| !a.is_null(i) && !a.value(i).trim().is_empty());
        for (i, slot) in rejected.iter_mut().enumerate() {
            if slot.is_none() && !cols.iter().any(|(id, name)| has(id, i) || has(name, i)) {
                *slot = Some(("no_identity", "citizen_id".into(), None, "no mention in the row has an ID number or a name".into()));
            }
        }
    }
}

/// The published fields of a target, in order: dates carry their raw text first.
fn typed_fields(t: &Target) -> Vec<Field> {
    let column = &t.column;
    match t.value_type {
        ValueType::Date | ValueType::Month => {
            vec![Field::new(format!("{column}_raw"), DataType::Utf8, true), Field::new(column, DataType::Date32, true)]
        }
        ValueType::Number => vec![Field::new(column, DataType::Float64, true)],
        _ => vec![Field::new(column, DataType::Utf8, true)],
    }
}

/// Stable reason codes: `missing_record_key`, `invalid_facts.month`, ….
fn reason_code(column: &str, what: &str) -> &'static str {
    let code = match (column, what) {
        ("record_key", _) => "missing_record_key",
        (_, "missing") => "missing_required_field",
        (_, "not an allowed value") => "value_not_allowed",
        (_, "not a number") => "invalid_number",
        (_, "impossible") => "impossible_date",
        (_, "future") => "future_date",
        _ => "invalid_date",
    };
    code
}

/// Mention fields are never required: a bad one is evidence the linker weighs.
fn mention_type(field: &str) -> ValueType {
    match field {
        "birth_date" => ValueType::Date,
        "sex" => ValueType::OneOf(&["M", "F"]),
        _ => ValueType::Text,
    }
}

/// A file's columns for a message: the first few, and how many more (a file may have thousands).
fn listed(columns: &[String]) -> String {
    const SHOWN: usize = 20;
    match columns.len() {
        0 => "(none)".to_string(),
        n if n <= SHOWN => columns.join(", "),
        n => format!("{}, … and {} more", columns[..SHOWN].join(", "), n - SHOWN),
    }
}
