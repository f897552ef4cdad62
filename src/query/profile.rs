//! The person profile: type a citizen ID number (or a person key) and see everything the night
//! knows of the person. Every ID number and name the person appears under, the number decoded,
//! household (head, members, house) and relations (spouse, parents, children, co-owners), houses,
//! insurance and pensions (months paid, after death), death evidence, stays, identity conflicts,
//! key events, and every source record with its file and row. One long table (`section`, `item`,
//! `value`, lineage, dates), so it reads the same in psql, a BI tool and `pophub profile`.
//!
//! It is the SQL table function `person_profile('…')`. The number is looked up in the night's
//! tables as published (a masked view could not find it); the profile itself is read through the
//! caller's own views, so a role sees it masked and filtered like everything else, and sections
//! of tables it may not see are left out.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SessionState;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;

/// The profile's columns.
pub fn schema() -> SchemaRef {
    let text = |name: &str| Field::new(name, DataType::Utf8, true);
    Arc::new(Schema::new(vec![
        text("section"),
        text("item"),
        text("value"),
        text("source"),
        text("record_key"),
        text("file"),
        Field::new("row", DataType::Int64, true),
        text("date_from"),
        text("date_to"),
    ]))
}

/// `person_profile(text)`: the table function, holding the night's unmasked tables for the
/// lookup of the number only.
pub struct ProfileFunction {
    lookup: SessionContext,
}

impl std::fmt::Debug for ProfileFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("person_profile")
    }
}

impl ProfileFunction {
    /// The function over a night whose tables `lookup` holds as published.
    pub fn new(lookup: SessionContext) -> ProfileFunction {
        ProfileFunction { lookup }
    }
}

impl TableFunctionImpl for ProfileFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let wanted = match args.exprs() {
            [Expr::Literal(ScalarValue::Utf8(Some(v)) | ScalarValue::Utf8View(Some(v)) | ScalarValue::LargeUtf8(Some(v)), _)] => v.clone(),
            _ => {
                return Err(DataFusionError::Plan(
                    "person_profile takes one text literal: a citizen ID number or a person key, e.g. person_profile('420502199001011234')".into(),
                ));
            }
        };
        Ok(Arc::new(ProfileTable { lookup: self.lookup.clone(), wanted }))
    }
}

struct ProfileTable {
    lookup: SessionContext,
    wanted: String,
}

impl std::fmt::Debug for ProfileTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("person_profile(…)")
    }
}

#[async_trait]
impl TableProvider for ProfileTable {
    fn schema(&self) -> SchemaRef {
        schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(&self, state: &dyn Session, projection: Option<&Vec<usize>>, _filters: &[Expr], _limit: Option<usize>) -> Result<Arc<dyn ExecutionPlan>> {
        let state = state.as_any().downcast_ref::<SessionState>().ok_or_else(|| DataFusionError::Internal("person_profile runs in a DataFusion session".into()))?;
        let started = std::time::Instant::now();
        let keys = person_keys(&self.lookup, &self.wanted).await?;
        let found = started.elapsed();
        let batches = sections_of(&SessionContext::new_with_state(state.clone()), &keys).await?;
        let sections = started.elapsed() - found;
        tracing::debug!(persons = keys.len(), lookup_ms = found.as_secs_f64() * 1e3, sections_ms = sections.as_secs_f64() * 1e3,
            "person_profile: {} persons found in {:.1} ms, their sections read in {:.1} ms", keys.len(), found.as_secs_f64() * 1e3, sections.as_secs_f64() * 1e3);
        Ok(MemorySourceConfig::try_new_exec(&[batches], schema(), projection.cloned())?)
    }
}

/// Whether the text is a person key (`P` and 16 hex digits).
fn is_person_key(text: &str) -> bool {
    text.len() == 17 && text.starts_with('P') && text[1..].chars().all(|c| c.is_ascii_hexdigit())
}

/// The persons a number or key names: a key itself when it exists; for a number, every person
/// a mention with that number (normalised: 15-digit numbers upgraded) is linked to.
async fn person_keys(lookup: &SessionContext, wanted: &str) -> Result<Vec<String>> {
    use datafusion::prelude::{col, lit};
    let wanted = wanted.trim();
    let frame = if is_person_key(wanted) {
        lookup.table("person").await?.filter(col("person_key").eq(lit(wanted)))?.select_columns(&["person_key"])?
    } else {
        // Every person's founding record is one of its mentions, so the mentions alone answer:
        // through their index by number, or on a night published before it, themselves.
        let number = crate::identity::citizen_id::normalize(wanted, chrono::Local::now().date_naive()).text;
        let mentions = if lookup.table_exist("person_by_citizen_id")? { "person_by_citizen_id" } else { "person_source" };
        lookup
            .table(mentions)
            .await?
            .filter(col("citizen_id").eq(lit(number)).and(col("person_key").is_not_null()))?
            .select_columns(&["person_key"])?
    };
    let mut keys = first_texts(&frame.collect().await?)?;
    keys.retain(|k| is_person_key(k));
    keys.sort();
    keys.dedup();
    Ok(keys)
}

/// One section: a SELECT giving the profile's nine columns, over the tables it needs; some
/// need what the person rows tell (`Known`), the others only the keys.
struct Section {
    tables: &'static [&'static str],
    needs_known: bool,
    sql: String,
}

fn text(expr: &str) -> String {
    format!("CAST({expr} AS VARCHAR)")
}

/// `SELECT '<section>', item, value, source, record_key, file, row, date_from, date_to <rest>`.
fn select(section: &str, item: &str, value: &str, lineage: [&str; 4], dates: [&str; 2], rest: &str) -> String {
    format!(
        "SELECT '{section}' AS section, {} AS item, {} AS value, {} AS source, {} AS record_key, {} AS file, CAST({} AS BIGINT) AS \"row\", {} AS date_from, {} AS date_to {rest}",
        text(item),
        text(value),
        text(lineage[0]),
        text(lineage[1]),
        text(lineage[2]),
        lineage[3],
        text(dates[0]),
        text(dates[1]),
    )
}

const NO_DATES: [&str; 2] = ["NULL", "NULL"];

/// What the person rows and their houses tell, as SQL, so no section joins a whole table: the
/// households' numbers, the houses' keys (literal lists; `''` for none, which no row has: an
/// `IN (NULL)` filter is not applied by DataFusion 55 here), and each person's death date (a
/// CASE on `pp.person_key`).
#[derive(Default)]
struct Known {
    households: String,
    houses: String,
    death: String,
}

fn literals<'a>(values: impl Iterator<Item = &'a str>) -> String {
    let list: Vec<String> = values.map(|v| format!("'{}'", v.replace('\'', "''"))).collect();
    if list.is_empty() { "''".into() } else { list.join(", ") }
}

fn sections(keys: &str, known: &Known) -> Vec<Section> {
    let Known { households, houses, death } = known;
    vec![
        Section {
            tables: &["person_source"],
            needs_known: false,
            sql: select("id_number", "citizen_id", "citizen_id_raw", ["source", "MIN(record_key)", "MIN(file)", "MIN(\"row\")"], NO_DATES, &format!("FROM person_source WHERE person_key IN ({keys}) AND citizen_id_raw IS NOT NULL GROUP BY source, citizen_id, citizen_id_raw")),
        },
        Section {
            tables: &["person_source"],
            needs_known: false,
            sql: select("name", "name_key", "name_raw", ["source", "MIN(record_key)", "MIN(file)", "MIN(\"row\")"], NO_DATES, &format!("FROM person_source WHERE person_key IN ({keys}) AND name_raw IS NOT NULL GROUP BY source, name_key, name_raw")),
        },
        Section {
            tables: &["household"],
            needs_known: true,
            sql: select(
                "household",
                "'household'",
                "household_no || ': head ' || COALESCE(head_key, '?') || ', ' || CAST(members AS VARCHAR) || ' members' || COALESCE(', house ' || house_key, '')",
                ["source", "record_key", "NULL", "NULL"],
                NO_DATES,
                &format!("FROM household WHERE household_no IN ({households})"),
            ),
        },
        Section {
            tables: &["person"],
            needs_known: true,
            sql: select(
                "household",
                "COALESCE(m.relation, '')",
                "m.person_key || ' ' || COALESCE(m.name, '')",
                ["'household_register'", "m.household_no", "NULL", "NULL"],
                NO_DATES,
                &format!("FROM person m WHERE m.household_no IN ({households}) AND m.person_key NOT IN ({keys})"),
            ),
        },
        Section {
            tables: &["relation"],
            needs_known: false,
            sql: select("relation", "relation", "other_person_key", ["source", "record_key", "NULL", "NULL"], NO_DATES, &format!("FROM relation WHERE person_key IN ({keys})")),
        },
        Section {
            tables: &["person_house", "house"],
            needs_known: true,
            sql: select(
                "house",
                "ph.relation",
                "ph.house_key || ' ' || COALESCE(h.address, '') || COALESCE(' ' || ph.share, '')",
                ["ph.source", "ph.record_key", "NULL", "NULL"],
                ["COALESCE(ph.since, h.registered_on)", "NULL"],
                &format!(
                    "FROM person_house ph LEFT JOIN (SELECT house_key, address, registered_on FROM house WHERE house_key IN ({houses})) h \
                     ON h.house_key = ph.house_key WHERE ph.person_key IN ({keys})"
                ),
            ),
        },
        Section {
            tables: &["tenancy"],
            needs_known: false,
            sql: select(
                "tenancy",
                &format!("CASE WHEN tenant_key IN ({keys}) THEN 'tenant' ELSE 'landlord' END"),
                "COALESCE(address, '') || COALESCE(' (' || house_key || ')', '') || COALESCE(', rent ' || CAST(rent AS VARCHAR), '')",
                ["source", "record_key", "file", "row"],
                ["started_on", "NULL"],
                &format!("FROM tenancy WHERE tenant_key IN ({keys}) OR landlord_key IN ({keys})"),
            ),
        },
        Section {
            tables: &["pension_payment"],
            needs_known: true,
            sql: select(
                "pension",
                "COALESCE(pp.benefit, '')",
                &format!(
                    "CAST(COUNT(*) AS VARCHAR) || ' months paid, ' || CAST(ROUND(SUM(pp.amount), 2) AS VARCHAR) || ' in all, ' || \
                     CAST(SUM(CASE WHEN pp.month > {death} THEN 1 ELSE 0 END) AS VARCHAR) || ' months after death'"
                ),
                ["pp.source", "NULL", "NULL", "NULL"],
                ["MIN(pp.month)", "MAX(pp.month)"],
                &format!("FROM pension_payment pp WHERE pp.person_key IN ({keys}) GROUP BY pp.source, pp.benefit"),
            ),
        },
        Section {
            tables: &["death"],
            needs_known: false,
            sql: select("death", "evidence", "death_date", ["source", "record_key", "file", "row"], ["death_date", "NULL"], &format!("FROM death WHERE person_key IN ({keys})")),
        },
        Section {
            tables: &["stay"],
            needs_known: false,
            sql: select(
                "stay",
                "COALESCE(reason, '')",
                "COALESCE(current_address, '') || ' (from ' || COALESCE(origin_address, '?') || ')'",
                ["source", "record_key", "file", "row"],
                ["registered_on", "NULL"],
                &format!("FROM stay WHERE person_key IN ({keys})"),
            ),
        },
        Section {
            tables: &["identity_conflict"],
            needs_known: false,
            sql: select(
                "identity_conflict",
                "kind",
                "citizen_id || ': ' || COALESCE(person_key, '?') || ' / ' || COALESCE(other_person_key, '?')",
                ["source", "record_key", "NULL", "NULL"],
                NO_DATES,
                &format!("FROM identity_conflict WHERE person_key IN ({keys}) OR other_person_key IN ({keys})"),
            ),
        },
        Section {
            tables: &["person_key_event"],
            needs_known: false,
            sql: select(
                "key_event",
                "kind",
                "COALESCE(old_key, '-') || ' -> ' || COALESCE(new_key, '-') || ': ' || CAST(mentions AS VARCHAR) || ' mentions (' || COALESCE(reason, '') || ')'",
                ["NULL", "run_id", "NULL", "NULL"],
                ["night", "NULL"],
                &format!("FROM person_key_event WHERE old_key IN ({keys}) OR new_key IN ({keys})"),
            ),
        },
        Section {
            tables: &["person_source"],
            needs_known: false,
            sql: select(
                "source_record",
                "role",
                "link_rule || COALESCE(' ' || CAST(ROUND(match_weight, 1) AS VARCHAR), '')",
                ["source", "record_key", "file", "row"],
                NO_DATES,
                &format!("FROM person_source WHERE person_key IN ({keys})"),
            ),
        },
    ]
}

/// The profile: the `person` rows read once and turned into items here (with the number
/// decoded from the value the role sees), then every other section the session's tables allow,
/// in section order. The sections that need only the keys are planned and read at once, beside
/// the person rows and house keys that the other sections are written from.
async fn sections_of(ctx: &SessionContext, keys: &[String]) -> Result<Vec<RecordBatch>> {
    if keys.is_empty() || !ctx.table_exist("person")? {
        return Ok(Vec::new());
    }
    let list = keys.iter().map(|k| format!("'{k}'")).collect::<Vec<_>>().join(", ");
    let by_key = Lookup::spawn(union_of(ctx.clone(), sections(&list, &Known::default()).into_iter().enumerate().filter(|(_, s)| !s.needs_known).collect()));
    let persons = Lookup::spawn(rows_of(ctx.clone(), format!("SELECT * FROM person WHERE person_key IN ({list}) ORDER BY person_key")));
    let houses = if ctx.table_exist("person_house")? {
        Some(Lookup::spawn(rows_of(ctx.clone(), format!("SELECT DISTINCT house_key FROM person_house WHERE person_key IN ({list})"))))
    } else {
        None
    };
    let persons = persons.result().await?;
    let column = |name: &str| -> Result<Vec<(String, Option<String>)>> {
        use arrow::array::{Array, AsArray};
        let mut values = Vec::new();
        for b in &persons {
            let keys = arrow::compute::cast(b.column_by_name("person_key").expect("person has person_key"), &DataType::Utf8)?;
            let Some(c) = b.column_by_name(name) else { continue };
            let c = arrow::compute::cast(c, &DataType::Utf8)?;
            for i in 0..b.num_rows() {
                values.push((keys.as_string::<i32>().value(i).to_string(), c.is_valid(i).then(|| c.as_string::<i32>().value(i).to_string())));
            }
        }
        Ok(values)
    };
    let households = column("household_no")?;
    let deaths: Vec<String> = column("death_date")?.into_iter().filter_map(|(k, d)| d.map(|d| format!("WHEN '{k}' THEN DATE '{d}'"))).collect();
    let houses = match houses {
        Some(houses) => first_texts(&houses.result().await?)?,
        None => Vec::new(),
    };
    let known = Known {
        // An empty household number is no household (people registered elsewhere).
        households: literals(households.iter().filter_map(|(_, h)| h.as_deref()).filter(|h| !h.trim().is_empty())),
        houses: literals(houses.iter().map(String::as_str)),
        death: if deaths.is_empty() { "NULL".into() } else { format!("CASE pp.person_key {} END", deaths.join(" ")) },
    };
    let by_known = union_of(ctx.clone(), sections(&list, &known).into_iter().enumerate().filter(|(_, s)| s.needs_known).collect()).await?;
    let mut rows = by_key.result().await?;
    rows.extend(by_known);
    let mut out = vec![person_items(&persons)?];
    out.extend(in_section_order(&rows)?);
    Ok(out)
}

/// A lookup on a task of its own, stopped when the profile is dropped first (its statement
/// cancelled or timed out).
struct Lookup<T>(tokio::task::JoinHandle<Result<T>>);

impl<T: Send + 'static> Lookup<T> {
    fn spawn(work: impl std::future::Future<Output = Result<T>> + Send + 'static) -> Self {
        Lookup(tokio::spawn(work))
    }

    async fn result(mut self) -> Result<T> {
        (&mut self.0).await.map_err(|e| DataFusionError::External(Box::new(e)))?
    }
}

impl<T> Drop for Lookup<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The rows of a query (owned, so it can be spawned).
async fn rows_of(ctx: SessionContext, sql: String) -> Result<Vec<RecordBatch>> {
    ctx.sql(&sql).await?.collect().await
}

/// The first column's values as text, nulls left out.
fn first_texts(batches: &[RecordBatch]) -> Result<Vec<String>> {
    use arrow::array::AsArray;
    let mut values = Vec::new();
    for batch in batches {
        let column = arrow::compute::cast(batch.column(0), &DataType::Utf8)?;
        values.extend(column.as_string::<i32>().iter().flatten().map(str::to_string));
    }
    Ok(values)
}

/// The sections the session's tables allow, as one plan: their rows with each section's place
/// (`ord`) in front of the profile's columns.
async fn union_of(ctx: SessionContext, sections: Vec<(usize, Section)>) -> Result<Vec<RecordBatch>> {
    let parts: Vec<String> = sections
        .into_iter()
        .filter(|(_, section)| section.tables.iter().all(|t| ctx.table_exist(*t).unwrap_or(false)))
        .map(|(i, section)| format!("SELECT {i} AS ord, * FROM ({})", section.sql))
        .collect();
    if parts.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!("SELECT ord, section, item, value, source, record_key, file, \"row\", date_from, date_to FROM ({})", parts.join(" UNION ALL "));
    rows_of(ctx, sql).await
}

/// Section rows in the profile's order (section, then source, record, row, item, value) and
/// its own (nullable) fields, without `ord`.
fn in_section_order(rows: &[RecordBatch]) -> Result<Option<RecordBatch>> {
    use arrow::compute::{SortColumn, SortOptions, concat_batches, lexsort_to_indices, take_record_batch};
    let Some(first) = rows.first() else { return Ok(None) };
    let all = concat_batches(&first.schema(), rows)?;
    let by = |name: &str| SortColumn { values: all.column_by_name(name).expect("a section column").clone(), options: Some(SortOptions { descending: false, nulls_first: false }) };
    let order = lexsort_to_indices(&["ord", "source", "record_key", "row", "item", "value"].map(by), None)?;
    let sorted = take_record_batch(&all, &order)?;
    Ok(Some(RecordBatch::try_new(schema(), sorted.columns()[1..].to_vec())?))
}

/// `person` rows as profile rows: each column an item, and the number decoded (region with its
/// historical name, birth date, sex, check state).
fn person_items(persons: &[RecordBatch]) -> Result<RecordBatch> {
    use arrow::array::{Array, AsArray, Int64Array, StringBuilder};
    let mut columns: Vec<StringBuilder> = (0..9).filter(|i| *i != 6).map(|_| StringBuilder::new()).collect();
    let mut rows = 0usize;
    let mut push = |values: [Option<&str>; 8]| {
        for (builder, value) in columns.iter_mut().zip(values) {
            builder.append_option(value);
        }
        rows += 1;
    };
    for batch in persons {
        let text: Vec<arrow::array::ArrayRef> = batch.columns().iter().map(|c| arrow::compute::cast(c, &DataType::Utf8)).collect::<std::result::Result<_, _>>()?;
        let schema = batch.schema();
        let value = |name: &str, row: usize| -> Option<String> {
            let i = schema.index_of(name).ok()?;
            let column = text[i].as_string::<i32>();
            column.is_valid(row).then(|| column.value(row).to_string())
        };
        for row in 0..batch.num_rows() {
            let founder = value("founded_by", row);
            for (i, field) in schema.fields().iter().enumerate() {
                let column = text[i].as_string::<i32>();
                let v = column.is_valid(row).then(|| column.value(row));
                push([Some("person"), Some(field.name()), v, founder.as_deref(), None, None, None, None]);
            }
            let id = value("citizen_id", row);
            let region = value("id_region_code", row).map(|code| format!("{code} {}", value("id_region_name", row).unwrap_or_else(|| "(unknown code)".into())));
            let full = id.as_deref().filter(|id| id.chars().count() == 18);
            let birth = full.map(|id| id.chars().skip(6).take(8).collect::<String>());
            let sex = full.and_then(|id| id.chars().nth(16)).and_then(|c| c.to_digit(10)).map(|d| if d % 2 == 1 { "M" } else { "F" });
            let status = value("id_status", row);
            for (item, v) in [("region", region.as_deref()), ("birth_date", birth.as_deref()), ("sex", sex), ("check", status.as_deref())] {
                if id.is_some() {
                    push([Some("id_decoded"), Some(item), v, None, None, None, None, None]);
                }
            }
        }
    }
    let mut arrays: Vec<arrow::array::ArrayRef> = columns.iter_mut().map(|b| std::sync::Arc::new(b.finish()) as arrow::array::ArrayRef).collect();
    arrays.insert(6, std::sync::Arc::new(Int64Array::from(vec![None::<i64>; rows])));
    Ok(RecordBatch::try_new(schema(), arrays)?)
}

/// The profile of the person `wanted` names, as `role` sees it on night `night` (or the current
/// one); an error saying so when nobody has that number or key.
pub async fn for_role(catalogs: &crate::access::Catalogs, night: Option<u32>, role: &str, wanted: &str) -> std::result::Result<super::Rows, super::QueryError> {
    use super::QueryError;
    let catalog = catalogs.night(night).await.map_err(|e| QueryError::BadInput(e.to_string()))?;
    let ctx = catalog
        .session(role)
        .ok_or_else(|| QueryError::NotFound(format!("role `{role}` is not known: the roles are {}", catalogs.roles().names())))?;
    if !ctx.state().table_functions().contains_key("person_profile") {
        return Err(QueryError::BadInput(format!("role `{role}` does not see person and person_source, so it has no profile")));
    }
    let quoted = wanted.replace('\'', "''");
    let rows = super::Rows::sql(ctx, &format!("SELECT * FROM person_profile('{quoted}')")).await?;
    if rows.batches.iter().all(|b| b.num_rows() == 0) {
        return Err(QueryError::NotFound(format!("night {} has no person with that ID number or person key", catalog.night.night)));
    }
    Ok(rows)
}
