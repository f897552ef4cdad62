//! Publish: the consolidated dataset. Facts of every source are unioned per kind, joined to the
//! linked mentions in DataFusion, and written as Delta tables in the warehouse, with the run's
//! manifest beside them. Column by column, the tables are documented in `schemas/published.md`.

mod delta;
mod facts;
pub(crate) mod golden;
pub(crate) mod key_order;
mod relations;
pub mod manifest;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use arrow::array::AsArray;
use datafusion::prelude::{ParquetReadOptions, SessionContext};

use crate::config::Pipeline;
use crate::ingest::{INDEX_COLUMN, Quarantined, SourceTable};
use crate::link::Linkage;
use manifest::StageTiming;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use crate::warehouse::{Night, TableVersion, Warehouse};

/// A problem building or writing the published tables; nothing of the night is committed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// DataFusion cannot register, plan or run what a table is built from.
    #[error("building table `{table}`: {source}")]
    Engine {
        /// The table or view being built.
        table: String,
        /// The DataFusion error.
        source: Box<datafusion::error::DataFusionError>,
    },
    /// A table just written, or one of the night before, cannot be opened.
    #[error("Delta table `{table}`: {source}")]
    Delta {
        /// The published table.
        table: String,
        /// Why it cannot be read.
        source: Box<crate::warehouse::tables::TableError>,
    },
    /// A table's new Delta version cannot be written.
    #[error("writing Delta table `{table}` in {path}: {source}; nothing of tonight was committed")]
    Write {
        /// The published table.
        table: String,
        /// The table's folder in the warehouse.
        path: PathBuf,
        /// The Delta error.
        source: Box<deltalake::DeltaTableError>,
    },
    /// A table's folder cannot be created.
    #[error("{path}: {source}")]
    Io {
        /// The folder.
        path: PathBuf,
        /// Why creating it failed.
        source: std::io::Error,
    },
}

/// A published table: its name, the published tables it reads (written before it starts) and
/// what its rows are.
struct Table {
    name: &'static str,
    after: &'static [&'static str],
    rows: Rows,
}

/// How a table's rows are made.
enum Rows {
    /// By a query.
    Sql(&'static str),
    /// By the golden record's node (`person_attribute`), under the pipeline's `[golden]` rules.
    GoldenRecord,
    /// By a query that reads two summaries a person, planned when the table starts over the
    /// tables written before it: `golden_person`, the golden record (see
    /// `golden::Shape::Persons`), and `death_by_person` (see `death_by_person_sql`).
    SqlOverPersonSummaries(&'static str),
}

/// The evidence the register's own deaths carry (status `deceased`).
macro_rules! register_death_evidence {
    () => {
        "household_register"
    };
}

/// Each dead person's earliest death date and the kinds of evidence, comma-separated in order.
/// The kinds are the pipeline's (the register's and each death source's), so the list is a
/// flag per kind: a grouping of fixed size a person, where a list aggregate held every input
/// batch of ten million people's deaths and overran its share of the pool.
fn death_by_person_sql(pipeline: &Pipeline) -> String {
    let mut kinds: Vec<&str> = pipeline
        .sources
        .iter()
        .filter_map(|s| s.facts.as_ref().filter(|f| f.kind() == "death").and_then(|f| f.constant("evidence")))
        .chain([register_death_evidence!()])
        .collect();
    kinds.sort_unstable();
    kinds.dedup();
    let flags: Vec<String> = kinds
        .iter()
        .map(|k| {
            let k = crate::config::field::quote_literal(k);
            format!("CASE WHEN MAX(CASE WHEN evidence = {k} THEN 1 END) = 1 THEN {k} END")
        })
        .collect();
    format!(
        "SELECT person_key, MIN(death_date) AS death_date, concat_ws(',', {}) AS death_evidence \
         FROM death WHERE person_key IS NOT NULL GROUP BY person_key",
        flags.join(", ")
    )
}

/// The dwelling of each room-level address key (several units may share one), as a subquery
/// of the tables that tie an address to its house.
macro_rules! house_at {
    () => {
        "(SELECT address_key, MIN(house_key) AS house_key FROM house GROUP BY address_key)"
    };
}

/// The published tables, in the order the manifest lists them, and their SQL.
/// Distinct counts are written as two groupings: DataFusion's per-group DISTINCT accumulators
/// cost hundreds of bytes a group (1.7 GB for 100,000 persons). Lists are aggregated unordered
/// and sorted after: an ordered `array_agg` reports kilobytes a group to the memory pool (its
/// output, 1.75 GB at 10 million people, has to fit one operator's share of the pool at once).
const TABLES: &[Table] = &[
        Table {
        // Last night's keys against tonight's, added to the history of the night this one follows.
        name: "person_key_event",
        after: &[],
        rows: Rows::Sql("WITH moved AS ( \
           SELECT p.person_key AS old_key, m.person_key AS new_key, COUNT(*) AS mentions, MIN(m.link_rule) AS link_rule \
           FROM previous_person_source p JOIN mention m ON m.source = p.source AND m.record_key = p.record_key AND m.role = p.role \
           WHERE p.person_key IS DISTINCT FROM m.person_key GROUP BY p.person_key, m.person_key), \
         tonight AS (SELECT person_key FROM mention WHERE person_key IS NOT NULL GROUP BY person_key) \
         SELECT night, run_id, old_key, new_key, mentions, kind, reason FROM previous_person_key_event \
         UNION ALL \
         SELECT n.as_of AS night, n.run_id, v.old_key, v.new_key, v.mentions, \
                CASE WHEN v.old_key IS NULL THEN 'linked' WHEN v.new_key IS NULL THEN 'unlinked' \
                     WHEN t.person_key IS NOT NULL THEN 'split' ELSE 'merged' END AS kind, \
                v.link_rule AS reason \
         FROM moved v LEFT JOIN tonight t ON t.person_key = v.old_key CROSS JOIN night n"),
    },
        Table {
        name: "person_source",
        after: &[],
        // A record keeps the night it was first published as long as what it says of the
        // person's identity is unchanged (the golden record's `most_recent`).
        rows: Rows::Sql("SELECT m.person_key, m.source, m.record_key, m.role, m.file, CAST(m.row AS BIGINT) AS row, m.citizen_id_raw, m.citizen_id, \
         m.id_status, m.name_raw, m.name_key, m.name_pinyin, m.sex, m.birth_date, m.birth_date_raw, m.ethnicity, m.address_key, m.household_no, \
         m.link_rule, m.match_weight, \
         CASE WHEN (p.citizen_id_raw IS NOT DISTINCT FROM m.citizen_id_raw) AND (p.name_raw IS NOT DISTINCT FROM m.name_raw) \
                   AND (p.sex IS NOT DISTINCT FROM m.sex) AND (p.birth_date_raw IS NOT DISTINCT FROM m.birth_date_raw) \
              THEN COALESCE(p.seen_since, n.as_of) ELSE n.as_of END AS seen_since \
         FROM mention m CROSS JOIN night n \
         LEFT JOIN previous_person_source p ON p.source = m.source AND p.record_key = m.record_key AND p.role = m.role"),
    },
        Table {
        // The persons each ID number's mentions are linked to, sorted on the number: the
        // profile's lookup by number reads one page of it.
        name: "person_by_citizen_id",
        after: &[],
        rows: Rows::Sql("SELECT citizen_id, person_key, COUNT(*) AS mentions FROM mention \
         WHERE citizen_id IS NOT NULL AND person_key IS NOT NULL GROUP BY citizen_id, person_key"),
    },
        Table {
        name: "death",
        after: &[],
        rows: Rows::Sql(concat!("SELECT person_key, status_date AS death_date, '", register_death_evidence!(), "' AS evidence, source, record_key, file, row \
         FROM facts_residence WHERE status = 'deceased' \
         UNION ALL SELECT person_key, death_date, evidence, source, record_key, file, row FROM facts_death")),
    },
        Table {
        name: "person_attribute",
        after: &["person_source"],
        rows: Rows::GoldenRecord,
    },
        Table {
        name: "person",
        after: &["death", "person_source"],
        // The golden record gives each person's values, ID number, founding record and counts
        // in one pass over their records; the register's facts are the founding record's.
        rows: Rows::SqlOverPersonSummaries("\
         SELECT g.person_key, g.citizen_id, g.id_status, g.name, g.sex, CAST(g.birth_date AS DATE) AS birth_date, g.ethnicity, \
                substr(g.citizen_id, 1, 6) AS id_region_code, citizen_id_region(g.citizen_id) AS id_region_name, \
                r.household_no, r.district AS district_code, r.address AS registered_address, r.relation, \
                r.status AS register_status, r.status_date AS register_status_date, \
                d.death_date, d.death_evidence, g.mention_count, g.source_count, g.founded_by \
         FROM golden_person g \
         LEFT JOIN facts_residence r ON r.source = g.founded_by AND r.record_key = g.founding_record \
         LEFT JOIN death_by_person d ON d.person_key = g.person_key"),
    },
        Table {
        name: "identity_conflict",
        after: &["person"],
        rows: Rows::Sql("WITH twice AS (SELECT citizen_id FROM person WHERE citizen_id IS NOT NULL GROUP BY citizen_id HAVING COUNT(*) > 1) \
         SELECT p.citizen_id, 'issued_twice' AS kind, p.person_key, CAST(NULL AS VARCHAR) AS other_person_key, \
                p.founded_by AS source, f.record_key, f.role \
         FROM person p JOIN twice t ON t.citizen_id = p.citizen_id \
         JOIN mention f ON f.person_key = p.person_key AND f.link_rule IN ('register', 'new_person') \
         UNION ALL \
         SELECT m.citizen_id, 'number_of_other_person' AS kind, m.person_key, p.person_key AS other_person_key, m.source, m.record_key, m.role \
         FROM mention m JOIN person p ON p.citizen_id = m.citizen_id \
         WHERE m.id_status IN ('valid', 'upgraded_15') AND (m.person_key IS NULL OR m.person_key <> p.person_key) \
           AND m.citizen_id NOT IN (SELECT citizen_id FROM twice)"),
    },
        Table {
        name: "review_queue",
        after: &[],
        rows: Rows::Sql("SELECT m.source, m.record_key, m.role, m.name_raw, m.citizen_id_raw, m.review_person_key AS person_key, \
                m.review_weight AS match_weight \
         FROM mention m WHERE m.review_person_key IS NOT NULL"),
    },
        Table {
        name: "house",
        after: &[],
        // One row per dwelling: each property unit, and each other address (registered, rented,
        // lived at) whose room-level key no unit has, keyed by a digest of that key.
        rows: Rows::Sql("WITH unit AS ( \
             SELECT unit_no, MIN(address) AS address, MIN(area) AS floor_area, MIN(usage) AS usage, \
                    MIN(registered_on) AS registered_on, COUNT(*) AS owner_rows \
             FROM facts_ownership GROUP BY unit_no), \
         seen AS ( \
             SELECT address, source FROM facts_ownership \
             UNION ALL SELECT address, source FROM facts_residence \
             UNION ALL SELECT address, source FROM facts_tenancy \
             UNION ALL SELECT current_address, source FROM facts_stay), \
         dwelling AS ( \
             SELECT address_key, MIN(address) AS address, array_to_string(array_sort(array_distinct(array_agg(source))), ',') AS sources \
             FROM (SELECT address_key(address) AS address_key, address, source FROM seen) WHERE address_key IS NOT NULL GROUP BY address_key) \
         SELECT COALESCE(u.unit_no, dwelling_key(d.address_key)) AS house_key, \
                COALESCE(u.address, d.address) AS address, d.address_key, address_building_key(COALESCE(u.address, d.address)) AS building_key, \
                NULLIF(split_part(d.address_key, '|', 1), '') AS district, u.floor_area, u.usage, u.registered_on, d.sources, \
                COALESCE(u.owner_rows, 0) AS owner_rows \
         FROM dwelling d LEFT JOIN (SELECT *, address_key(address) AS address_key FROM unit) u ON u.address_key = d.address_key"),
    },
        Table {
        name: "person_house",
        after: &["house"],
        rows: Rows::Sql(concat!("WITH at AS ", house_at!(), " \
         SELECT person_key, unit_no AS house_key, 'owner' AS relation, share, registered_on AS since, 'unit_number' AS evidence, source, record_key \
         FROM facts_ownership WHERE person_key IS NOT NULL \
         UNION ALL \
         SELECT r.person_key, at.house_key, 'registered_resident' AS relation, CAST(NULL AS VARCHAR) AS share, CAST(NULL AS DATE) AS since, \
                'address_key' AS evidence, r.source, r.record_key \
         FROM facts_residence r JOIN at ON address_key(r.address) = at.address_key \
         WHERE r.status = 'normal' AND r.person_key IS NOT NULL \
         UNION ALL \
         SELECT t.tenant_key, at.house_key, 'tenant' AS relation, CAST(NULL AS VARCHAR) AS share, t.started_on AS since, 'address_key' AS evidence, t.source, t.record_key \
         FROM facts_tenancy t JOIN at ON address_key(t.address) = at.address_key \
         WHERE t.tenant_key IS NOT NULL \
         UNION ALL \
         SELECT t.landlord_key, at.house_key, 'landlord' AS relation, CAST(NULL AS VARCHAR) AS share, t.started_on AS since, 'address_key' AS evidence, t.source, t.record_key \
         FROM facts_tenancy t JOIN at ON address_key(t.address) = at.address_key \
         WHERE t.landlord_key IS NOT NULL \
         UNION ALL \
         SELECT s.person_key, at.house_key, 'lives_here' AS relation, CAST(NULL AS VARCHAR) AS share, s.registered_on AS since, 'address_key' AS evidence, s.source, s.record_key \
         FROM facts_stay s JOIN at ON address_key(s.current_address) = at.address_key \
         WHERE s.person_key IS NOT NULL")),
    },
    Table {
        // One row per household number: its persons by status, the head first (the member the
        // register names 户主, one with status normal first), and the household's counts by a
        // grouping (a window without an order is computed over its whole input at once, which
        // failed the ten-million night: 663 MB for one batch); its house is the dwelling of the
        // head's address.
        name: "household",
        after: &["house"],
        rows: Rows::Sql(concat!("WITH at AS ", house_at!(), ", \
         member AS ( \
             SELECT r.household_no, r.status, r.person_key, MIN(r.district) AS district, MIN(r.address) AS address, \
                    MIN(r.source) AS source, MIN(CASE WHEN w.kind = 'head' THEN r.record_key END) AS head_record \
             FROM facts_residence r LEFT JOIN register_relation w ON w.word = trim(r.relation) AND w.kind = 'head' \
             GROUP BY r.household_no, r.status, r.person_key), \
         ranked AS ( \
             SELECT household_no, status, person_key, address, source, head_record, \
                    ROW_NUMBER() OVER (PARTITION BY household_no \
                                       ORDER BY head_record IS NULL, status <> 'normal', source, head_record) AS n \
             FROM member), \
         totals AS ( \
             SELECT household_no, MIN(district) AS district_code, MIN(address) AS any_address, MIN(source) AS any_source, \
                    COUNT(CASE WHEN status = 'normal' THEN person_key END) AS members, \
                    COUNT(CASE WHEN status = 'deceased' THEN person_key END) AS deceased_members, \
                    COUNT(CASE WHEN status = 'moved_out' THEN person_key END) AS moved_out_members \
             FROM member GROUP BY household_no), \
         household AS ( \
             SELECT r.household_no, t.district_code, \
                    CASE WHEN r.head_record IS NOT NULL THEN r.person_key END AS head_key, \
                    CASE WHEN r.head_record IS NOT NULL THEN r.status END AS head_status, \
                    t.members, t.deceased_members, t.moved_out_members, \
                    CASE WHEN r.head_record IS NOT NULL THEN r.address ELSE t.any_address END AS address, \
                    CASE WHEN r.head_record IS NOT NULL THEN r.source ELSE t.any_source END AS source, r.head_record AS record_key \
             FROM ranked r JOIN totals t ON t.household_no = r.household_no WHERE r.n = 1) \
         SELECT h.household_no, h.district_code, h.head_key, h.head_status, h.members, h.deceased_members, h.moved_out_members, \
                h.address, at.house_key, h.source, h.record_key \
         FROM household h LEFT JOIN at ON at.address_key = address_key(h.address)")),
    },
    Table {
        // Every relation in both directions (`person_key` is the `relation` of
        // `other_person_key`), so a person's relations are the rows of their key; one row per
        // source that states it. A register record states a relation to its head only, so the
        // pairs are grouped once, in one direction, and written both ways: grouping every row
        // of both directions at once held 5.5 GB in one sort's merge at ten million people. Co-owners only of units with at most ten owners: a building's
        // common parts, owned in shares by hundreds, would give every pair of them.
        name: "relation",
        after: &["household"],
        rows: Rows::Sql("WITH to_head AS ( \
             SELECT r.person_key, w.kind, w.inverse, h.head_key, r.source, r.record_key \
             FROM facts_residence r JOIN register_relation w ON w.word = trim(r.relation) AND w.kind <> 'head' \
             JOIN household h ON h.household_no = r.household_no), \
         owner AS ( \
             SELECT source, unit_no, person_key, MIN(record_key) AS record_key FROM facts_ownership \
             WHERE person_key IS NOT NULL GROUP BY source, unit_no, person_key), \
         shared AS (SELECT source, unit_no FROM owner GROUP BY source, unit_no HAVING COUNT(*) BETWEEN 2 AND 10), \
         head_pair AS ( \
             SELECT person_key, kind, inverse, head_key, source, MIN(record_key) AS record_key, COUNT(*) AS records FROM to_head \
             WHERE person_key IS NOT NULL AND head_key IS NOT NULL AND person_key <> head_key \
             GROUP BY person_key, kind, inverse, head_key, source), \
         stated AS ( \
             SELECT mother_key AS person_key, 'parent_of' AS relation, child_key AS other_person_key, source, record_key FROM facts_birth \
             UNION ALL SELECT child_key, 'child_of', mother_key, source, record_key FROM facts_birth \
             UNION ALL SELECT father_key, 'parent_of', child_key, source, record_key FROM facts_birth \
             UNION ALL SELECT child_key, 'child_of', father_key, source, record_key FROM facts_birth \
             UNION ALL SELECT a.person_key, 'co_owner_of', b.person_key AS other_person_key, a.source, a.record_key \
             FROM owner a JOIN shared s ON s.source = a.source AND s.unit_no = a.unit_no \
             JOIN owner b ON b.source = a.source AND b.unit_no = a.unit_no) \
         SELECT person_key, kind AS relation, head_key AS other_person_key, source, record_key, records FROM head_pair \
         UNION ALL SELECT head_key, inverse, person_key, source, record_key, records FROM head_pair \
         UNION ALL \
         SELECT person_key, relation, other_person_key, source, MIN(record_key) AS record_key, COUNT(*) AS records \
         FROM stated WHERE person_key IS NOT NULL AND other_person_key IS NOT NULL AND person_key <> other_person_key \
         GROUP BY person_key, relation, other_person_key, source"),
    },
        Table {
        name: "pension_payment",
        after: &[],
        rows: Rows::Sql("SELECT i.person_key, p.internal_id, p.month, p.amount, p.benefit, p.source, p.record_key, p.file, p.row \
         FROM facts_payment p LEFT JOIN facts_insured i ON i.source = p.via AND i.internal_id = p.internal_id"),
    },
        Table {
        name: "birth",
        after: &[],
        rows: Rows::Sql("SELECT child_key, mother_key, father_key, birth_date, hospital, source, record_key, file, row FROM facts_birth"),
    },
        Table {
        name: "stay",
        after: &[],
        rows: Rows::Sql("SELECT person_key, current_address, origin_address, registered_on, reason, source, record_key, file, row FROM facts_stay"),
    },
        Table {
        name: "tenancy",
        after: &["house"],
        rows: Rows::Sql(concat!("SELECT t.tenant_key, t.landlord_key, t.address, h.house_key, t.rent, t.started_on, t.source, t.record_key, t.file, t.row \
         FROM facts_tenancy t LEFT JOIN \
         ", house_at!(), " h ON address_key(t.address) = h.address_key")),
    },
    Table { name: "quarantine", after: &[], rows: Rows::Sql("SELECT * FROM quarantine_rows") },
];

/// Builds and writes every published table as a new Delta version, following the night
/// `previous` (the current one, on which tonight's key events and history build; none on a
/// first night). The mentions (staged by `link::mentions::build`) and their linkage are first
/// written together to `mention.parquet` in `staging`, so no table is held in memory whole.
/// Up to `tables_at_once` tables are written at a time. Returns the versions written (nothing is visible
/// until the night is committed) and each table's time; `progress` counts the tables.
#[allow(clippy::too_many_arguments)]
pub async fn publish(
    ctx: &SessionContext,
    pipeline: &Pipeline,
    tables: &[SourceTable],
    mentions: (&[PathBuf], Linkage),
    staging: &Path,
    warehouse: &Warehouse,
    previous: Option<&Night>,
    tonight: (chrono::NaiveDate, &str),
    tables_at_once: usize,
    progress: &crate::progress::Progress,
) -> Result<(Vec<TableVersion>, Vec<StageTiming>), PublishError> {
    let engine = |table: &str| {
        let table = table.to_string();
        move |e: datafusion::error::DataFusionError| PublishError::Engine { table: table.clone(), source: Box::new(e) }
    };
    let linked = staging.join("mention.parquet");
    write_linked(mentions.0, &mentions.1, &linked).map_err(engine("mention"))?;
    drop(mentions);
    ctx.register_parquet("mention", linked.to_string_lossy().as_ref(), ParquetReadOptions::default()).await.map_err(engine("mention"))?;
    register_previous(ctx, tonight, warehouse, previous).await?;
    for t in tables {
        let source = &pipeline.sources[t.index];
        register_staged(ctx, &facts::source_table(source), t).await.map_err(engine(&source.name))?;
    }
    for (name, sql) in facts::views(pipeline) {
        let view = ctx.sql(&sql).await.map_err(engine(&name))?;
        ctx.register_table(name.as_str(), view.into_view()).map_err(engine(&name))?;
    }
    register_batch(ctx, "quarantine_rows", quarantine_batch(pipeline, tables)).map_err(engine("quarantine"))?;
    register_batch(ctx, "register_relation", relations::vocabulary()).map_err(engine("relation"))?;
    // Up to `tables_at_once` tables at a time, each once the tables it reads are written.
    let mut pending: Vec<&'static Table> = TABLES.iter().collect();
    let stage = progress.stage("publish", pending.len() as u64, crate::progress::Unit::Items("tables"));
    let mut written: Vec<(TableVersion, StageTiming)> = Vec::new();
    let mut running = tokio::task::JoinSet::new();
    // The tasks own the pipeline (the golden rules, the death sources), shared.
    let shared = Arc::new(pipeline.clone());
    loop {
        while running.len() < tables_at_once.max(1) {
            let Some(next) = pending.iter().position(|t| t.after.iter().all(|a| written.iter().any(|(w, _)| w.name == *a))) else { break };
            let table = pending.remove(next);
            let (ctx, warehouse, pipeline) = (ctx.clone(), warehouse.clone(), shared.clone());
            running.spawn(async move { write_table(&ctx, &warehouse, table, &pipeline).await });
        }
        let Some(finished) = running.join_next().await else { break };
        // An error ends the publish; the tables still being written are dropped with `running`.
        let (version, timing) = finished.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
        stage.set_message(version.name.clone());
        stage.inc(1);
        written.push((version, timing));
    }
    stage.finish();
    written.sort_by_key(|(t, _)| TABLES.iter().position(|p| p.name == t.name));
    Ok(written.into_iter().unzip())
}

/// Writes one table, registers it as written for the tables that read it, and counts its rows.
async fn write_table(ctx: &SessionContext, warehouse: &Warehouse, table: &Table, pipeline: &Pipeline) -> Result<(TableVersion, StageTiming), PublishError> {
    let name = table.name;
    let engine = |e: datafusion::error::DataFusionError| PublishError::Engine { table: name.to_string(), source: Box::new(e) };
    let started = std::time::Instant::now();
    let rows = match table.rows {
        Rows::Sql(sql) => ctx.sql(sql).await,
        Rows::GoldenRecord => golden::golden_record(ctx, &pipeline.golden, golden::Shape::Attributes).await,
        Rows::SqlOverPersonSummaries(sql) => async {
            register_person_summaries(ctx, pipeline).await?;
            ctx.sql(sql).await
        }
        .await,
    }
    .map_err(engine)?;
    let delta = delta::write(ctx, warehouse, name, rows).await?;
    let delta_err = |source: crate::warehouse::tables::TableError| PublishError::Delta { table: name.to_string(), source: Box::new(source) };
    crate::warehouse::tables::register(ctx, name, &delta).await.map_err(delta_err)?;
    let count = ctx.sql(&format!("SELECT COUNT(*) FROM {name}")).await.map_err(engine)?.collect().await.map_err(engine)?;
    let rows = count.first().map_or(0, |b| b.column(0).as_primitive::<arrow::datatypes::Int64Type>().value(0) as u64);
    crate::warehouse::crash_point(&format!("publish-table:{name}"));
    let timing = StageTiming { stage: name.to_string(), seconds: started.elapsed().as_secs_f64(), peak_memory_bytes: manifest::peak_memory_bytes() };
    Ok((TableVersion { name: name.to_string(), rows, version: delta.version().unwrap_or(0) }, timing))
}

/// `golden_person` and `death_by_person` over the tables as written tonight.
async fn register_person_summaries(ctx: &SessionContext, pipeline: &Pipeline) -> datafusion::error::Result<()> {
    let persons = golden::golden_record(ctx, &pipeline.golden, golden::Shape::Persons).await?;
    ctx.register_table("golden_person", persons.into_view())?;
    let deaths = ctx.sql(&death_by_person_sql(pipeline)).await?;
    ctx.register_table("death_by_person", deaths.into_view())?;
    Ok(())
}

/// Writes the staged mentions, file after file, with their linkage's columns beside them.
fn write_linked(staged: &[PathBuf], linkage: &Linkage, out: &Path) -> datafusion::error::Result<()> {
    let mut fields: Vec<Field> = crate::link::mentions::schema().fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.extend(crate::link::linked_fields());
    let schema = Arc::new(Schema::new(fields));
    let mut writer = crate::ingest::staging_writer(out, schema.clone(), None)?;
    let mut offset = 0;
    for path in staged {
        for batch in ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path)?)?.build()? {
            let batch = batch?;
            let mut columns = batch.columns().to_vec();
            columns.extend(crate::link::linked_columns(linkage, offset, batch.num_rows()));
            offset += batch.num_rows();
            writer.write(&RecordBatch::try_new(schema.clone(), columns)?)?;
        }
    }
    writer.close()?;
    Ok(())
}

/// `night` (this run's day and id), and from the night this one follows `previous_person_source`
/// (its keys) and `previous_person_key_event` (its history); both empty on a first night.
async fn register_previous(ctx: &SessionContext, tonight: (chrono::NaiveDate, &str), warehouse: &Warehouse, previous: Option<&Night>) -> Result<(), PublishError> {
    let engine = |e: datafusion::error::DataFusionError| PublishError::Engine { table: "person_key_event".into(), source: Box::new(e) };
    let sql = format!("SELECT CAST('{}' AS DATE) AS as_of, '{}' AS run_id", tonight.0, tonight.1);
    ctx.register_table("night", ctx.sql(&sql).await.map_err(engine)?.into_view()).map_err(engine)?;
    let pinned = |name: &str| previous.and_then(|n| n.table(name)).map(|t| (name.to_string(), t.version));
    match pinned("person_source") {
        Some((name, version)) => {
            register_pinned(ctx, warehouse, &name, version, "previous_person_source").await?;
            // A night published before records kept their first night: they were there by
            // that night at the latest.
            let table = ctx.table("previous_person_source").await.map_err(engine)?;
            if table.schema().field_with_unqualified_name("seen_since").is_err() {
                let night = previous.map(|n| n.as_of.clone()).unwrap_or_default();
                let dated = table.with_column("seen_since", datafusion::prelude::cast(datafusion::prelude::lit(night), DataType::Date32)).map_err(engine)?;
                ctx.deregister_table("previous_person_source").map_err(engine)?;
                ctx.register_table("previous_person_source", dated.into_view()).map_err(engine)?;
            }
        }
        None => {
            let empty = ctx
                .sql("SELECT source, record_key, role, person_key, citizen_id_raw, name_raw, sex, birth_date_raw, CAST(NULL AS DATE) AS seen_since FROM mention WHERE false")
                .await
                .map_err(engine)?;
            ctx.register_table("previous_person_source", empty.into_view()).map_err(engine)?;
        }
    }
    match pinned("person_key_event") {
        Some((name, version)) => register_pinned(ctx, warehouse, &name, version, "previous_person_key_event").await?,
        None => {
            let empty = ctx
                .sql("SELECT CAST(NULL AS DATE) AS night, CAST(NULL AS VARCHAR) AS run_id, CAST(NULL AS VARCHAR) AS old_key, \
                      CAST(NULL AS VARCHAR) AS new_key, CAST(NULL AS BIGINT) AS mentions, CAST(NULL AS VARCHAR) AS kind, \
                      CAST(NULL AS VARCHAR) AS reason WHERE false")
                .await
                .map_err(engine)?;
            ctx.register_table("previous_person_key_event", empty.into_view()).map_err(engine)?;
        }
    }
    Ok(())
}

async fn register_pinned(ctx: &SessionContext, warehouse: &Warehouse, name: &str, version: u64, alias: &str) -> Result<(), PublishError> {
    let delta_err = |source: crate::warehouse::tables::TableError| PublishError::Delta { table: name.to_string(), source: Box::new(source) };
    crate::warehouse::tables::register_version(ctx, warehouse, name, version, alias).await.map_err(delta_err)
}

fn register_batch(ctx: &SessionContext, name: &str, batch: RecordBatch) -> datafusion::error::Result<()> {
    let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
    ctx.register_table(name, Arc::new(table))?;
    Ok(())
}

/// A source's staged rows, less those a later check rejected, as a table of the session.
async fn register_staged(ctx: &SessionContext, name: &str, t: &SourceTable) -> datafusion::error::Result<()> {
    let staged = format!("{name}_staged");
    ctx.register_parquet(staged.as_str(), t.staged.to_string_lossy().as_ref(), ParquetReadOptions::default()).await?;
    let sql = if t.rejected_indexes.is_empty() {
        format!("SELECT * FROM \"{staged}\"")
    } else {
        let rejected = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new(INDEX_COLUMN, DataType::UInt32, false)])),
            vec![Arc::new(UInt32Array::from(t.rejected_indexes.clone()))],
        )?;
        register_batch(ctx, &format!("{name}_rejected"), rejected)?;
        format!("SELECT * FROM \"{staged}\" WHERE {INDEX_COLUMN} NOT IN (SELECT {INDEX_COLUMN} FROM \"{name}_rejected\")")
    };
    ctx.register_table(name, ctx.sql(&sql).await?.into_view())?;
    Ok(())
}

/// Every quarantined row of the night, with source, place, reason and raw value.
fn quarantine_batch(pipeline: &Pipeline, tables: &[SourceTable]) -> RecordBatch {
    let rows: Vec<(&str, &Quarantined)> =
        tables.iter().flat_map(|t| t.quarantine.iter().map(move |q| (pipeline.sources[t.index].name.as_str(), q))).collect();
    let text = |f: &dyn Fn(&(&str, &Quarantined)) -> Option<String>| -> ArrayRef { Arc::new(rows.iter().map(f).collect::<StringArray>()) };
    let schema = Schema::new(vec![
        Field::new("source", DataType::Utf8, true),
        Field::new("file", DataType::Utf8, true),
        Field::new("row", DataType::Int64, true),
        Field::new("position", DataType::Utf8, true),
        Field::new("reason", DataType::Utf8, true),
        Field::new("column", DataType::Utf8, true),
        Field::new("value", DataType::Utf8, true),
        Field::new("message", DataType::Utf8, true),
    ]);
    let columns: Vec<ArrayRef> = vec![
        text(&|(s, _)| Some(s.to_string())),
        text(&|(_, q)| Some(q.file.clone())),
        Arc::new(rows.iter().map(|(_, q)| Some(q.row as i64)).collect::<Int64Array>()),
        text(&|(_, q)| Some(q.position.clone())),
        text(&|(_, q)| Some(q.reason.to_string())),
        text(&|(_, q)| q.column.clone()),
        text(&|(_, q)| q.value.clone()),
        text(&|(_, q)| Some(q.message.clone())),
    ];
    RecordBatch::try_new(Arc::new(schema), columns).expect("quarantine columns")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_death_lists_each_kind_of_its_evidence_once_in_order() {
        let pipeline = Pipeline::load(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/pipelines/nightly.toml")), None).unwrap();
        let ctx = SessionContext::new();
        ctx.sql(
            "CREATE VIEW death AS SELECT column1 AS person_key, CAST(column2 AS DATE) AS death_date, column3 AS evidence \
             FROM (VALUES ('P1', '2026-03-02', 'household_register'), ('P1', '2026-03-01', 'cremation'), ('P1', '2026-03-04', 'cremation'), \
                          ('P2', '2026-05-01', 'household_register'), (NULL, '2026-01-01', 'cremation'))",
        )
        .await
        .unwrap();
        let sql = format!("SELECT person_key, CAST(death_date AS VARCHAR), death_evidence FROM ({}) ORDER BY 1", death_by_person_sql(&pipeline));
        let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
        let text = |c: usize| -> Vec<String> {
            let mut values = Vec::new();
            for b in &batches {
                let column = arrow::compute::cast(b.column(c), &DataType::Utf8).unwrap();
                values.extend(column.as_string::<i32>().iter().map(|v| v.unwrap().to_string()));
            }
            values
        };
        assert_eq!(text(0), ["P1", "P2"]);
        assert_eq!(text(1), ["2026-03-01", "2026-05-01"]);
        assert_eq!(text(2), ["cremation,household_register", "household_register"]);
    }
}
