//! Diff: what changed from one committed night to another. Persons added and gone, key events
//! (merged, split, linked, unlinked) of the nights in between, attribute changes per column of
//! the persons both nights have, and rows per table. Both nights are registered in one session
//! (`a_*` and `b_*`), so every figure is one SQL query over pinned versions.

use datafusion::prelude::SessionContext;
use serde::Serialize;

use std::collections::HashMap;

use arrow::array::{Array, AsArray};

use super::{QueryError, Rows, night_date};
use crate::warehouse::{Night, NightLog, Warehouse, tables};

/// The person columns whose changes are counted, as SQL over `a` and `b`.
const COLUMNS: &[&str] = &[
    "name",
    "citizen_id",
    "sex",
    "birth_date",
    "register_status",
    "register_status_date",
    "registered_address",
    "household_no",
    "district_code",
    "death_date",
];

const KEY_EVENT_KINDS: &[&str] = &["merged", "split", "linked", "unlinked"];

/// A table's row count on both nights.
#[derive(Debug, Clone, Serialize)]
pub struct TableDelta {
    /// The published table, e.g. `person`.
    pub table: String,
    /// Rows on the `from` night (0 if it has no such table).
    pub rows_from: u64,
    /// Rows on the `to` night (0 if it has no such table).
    pub rows_to: u64,
}

/// What changed from one night to another, in figures.
#[derive(Debug, Clone, Serialize)]
pub struct Diff {
    /// The night compared from.
    pub from: u32,
    /// The night compared to.
    pub to: u32,
    /// The day the `from` night's exports describe, `YYYY-MM-DD`.
    pub from_as_of: String,
    /// The day the `to` night's exports describe, `YYYY-MM-DD`.
    pub to_as_of: String,
    /// Persons the `to` night has and the `from` night does not.
    pub persons_added: u64,
    /// Persons the `from` night has and the `to` night does not.
    pub persons_gone: u64,
    /// Key events of the nights after `from` up to `to`, by kind (rows of `person_key_event`).
    pub key_events: Vec<(String, u64)>,
    /// Persons of both nights whose column changed, by column.
    pub attribute_changes: Vec<(String, u64)>,
    /// Every table of either night, with its rows on both.
    pub tables: Vec<TableDelta>,
}

/// The figures, and a session in which `diff_detail` holds one row per change.
pub async fn diff(warehouse: &Warehouse, from: u32, to: u32) -> Result<(Diff, SessionContext), QueryError> {
    let log = NightLog::load(warehouse)?;
    let (a, b) = (log.resolve(warehouse, Some(from))?.clone(), log.resolve(warehouse, Some(to))?.clone());
    let ctx = crate::engine::session(night_date(&b), None);
    tables::register_night(&ctx, warehouse, &a, "a_").await?;
    tables::register_night(&ctx, warehouse, &b, "b_").await?;
    ctx.register_table("diff_detail", ctx.sql(&detail_sql()).await?.into_view())?;

    // One pass over the changes for every figure (the detail is a view: each query would rerun it).
    let counted = Rows::sql(&ctx, "SELECT CAST(change AS VARCHAR), CAST(\"column\" AS VARCHAR), COUNT(*) AS n FROM diff_detail GROUP BY change, \"column\"").await?;
    let mut counts: HashMap<(String, Option<String>), u64> = HashMap::new();
    for batch in &counted.batches {
        let (change, column) = (batch.column(0).as_string::<i32>(), batch.column(1).as_string::<i32>());
        let n = batch.column(2).as_primitive::<arrow::datatypes::Int64Type>();
        for i in 0..batch.num_rows() {
            let column = (!column.is_null(i)).then(|| column.value(i).to_string());
            counts.insert((change.value(i).to_string(), column), n.value(i) as u64);
        }
    }
    let of = |change: &str, column: Option<&str>| counts.get(&(change.to_string(), column.map(str::to_string))).copied().unwrap_or(0);
    let persons_added = of("added", None);
    let persons_gone = of("gone", None);
    let key_events = KEY_EVENT_KINDS.iter().map(|kind| (kind.to_string(), of(kind, None))).collect();
    let attribute_changes = COLUMNS.iter().map(|column| (column.to_string(), of("changed", Some(column)))).collect();
    let diff = Diff {
        from,
        to,
        from_as_of: a.as_of.clone(),
        to_as_of: b.as_of.clone(),
        persons_added,
        persons_gone,
        key_events,
        attribute_changes,
        tables: table_deltas(&a, &b),
    };
    Ok((diff, ctx))
}

/// One row per change: `change` (added, gone, changed, or a key event's kind), `person_key`,
/// `other_key` (the key it moved from, for key events), `column`, `before`, `after`.
fn detail_sql() -> String {
    let mut parts = vec![
        "SELECT 'added' AS change, b.person_key, CAST(NULL AS VARCHAR) AS other_key, CAST(NULL AS VARCHAR) AS \"column\", \
                CAST(NULL AS VARCHAR) AS before, b.name AS after \
         FROM b_person b WHERE b.person_key NOT IN (SELECT person_key FROM a_person)"
            .to_string(),
        "SELECT 'gone', a.person_key, NULL, NULL, a.name, NULL FROM a_person a WHERE a.person_key NOT IN (SELECT person_key FROM b_person)".to_string(),
        // Events the later night's history has and the earlier one's does not.
        "SELECT e.kind, e.new_key, e.old_key, NULL, NULL, NULL FROM b_person_key_event e \
         WHERE e.run_id NOT IN (SELECT run_id FROM a_person_key_event)"
            .to_string(),
    ];
    for column in COLUMNS {
        parts.push(format!(
            "SELECT 'changed', b.person_key, NULL, '{column}', CAST(a.{column} AS VARCHAR), CAST(b.{column} AS VARCHAR) \
             FROM a_person a JOIN b_person b ON a.person_key = b.person_key WHERE a.{column} IS DISTINCT FROM b.{column}"
        ));
    }
    parts.join(" UNION ALL ")
}

fn table_deltas(a: &Night, b: &Night) -> Vec<TableDelta> {
    let mut names: Vec<&str> = b.tables.iter().map(|t| t.name.as_str()).collect();
    names.extend(a.tables.iter().map(|t| t.name.as_str()).filter(|n| b.table(n).is_none()));
    names
        .into_iter()
        .map(|n| TableDelta { table: n.to_string(), rows_from: a.table(n).map_or(0, |t| t.rows), rows_to: b.table(n).map_or(0, |t| t.rows) })
        .collect()
}

/// The detail rows, ordered.
pub async fn detail(ctx: &SessionContext) -> Result<Rows, QueryError> {
    Rows::sql(ctx, "SELECT * FROM diff_detail ORDER BY change, \"column\", person_key, other_key").await
}

/// The figures for a person to read.
pub fn render(d: &Diff) -> String {
    let mut out = format!("night {} ({}) → night {} ({})\n\n", d.from, d.from_as_of, d.to, d.to_as_of);
    out.push_str(&format!("persons: +{} added, -{} gone\n", d.persons_added, d.persons_gone));
    out.push_str("key events:");
    for (kind, n) in &d.key_events {
        out.push_str(&format!(" {kind} {n}"));
    }
    out.push_str("\n\nattribute changes (persons of both nights):\n");
    for (column, n) in &d.attribute_changes {
        out.push_str(&format!("  {column:<22} {n:>8}\n"));
    }
    out.push_str(&format!("\n{:<22} {:>10} {:>10} {:>9}\n", "table", "rows from", "rows to", "delta"));
    for t in &d.tables {
        out.push_str(&format!("{:<22} {:>10} {:>10} {:>+9}\n", t.table, t.rows_from, t.rows_to, t.rows_to as i64 - t.rows_from as i64));
    }
    out
}
