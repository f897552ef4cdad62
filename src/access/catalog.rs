//! Each role's session over a committed night. The night's tables are opened once, in a private
//! session no client reaches; a role's session holds only views over them, one per table it may
//! see, with its personal columns masked and its row filter applied, so a table it may not see does
//! not exist for it (in `pg_catalog` and `information_schema` too) and a masked column is masked on
//! every path. When a run commits another night, the next statement gets the new night's sessions;
//! statements already running keep theirs.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use arrow::array::{Int64Array, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::catalog::view::ViewTable;
use datafusion::datasource::MemTable;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::prelude::SessionContext;
use tokio::sync::Mutex;

use super::masks::{mask_function, personal_kind};
use super::{AccessError, Role, Roles};
use crate::warehouse::{Night, NightLog, Warehouse};

/// Columns that name a person, by which a role's row filter reaches tables other than `person`.
const PERSON_COLUMNS: &[&str] =
    &["person_key", "child_key", "mother_key", "father_key", "tenant_key", "landlord_key", "old_key", "new_key", "other_person_key", "head_key"];

/// The sessions of every role over one night.
pub struct NightCatalog {
    /// The night they read.
    pub night: Night,
    sessions: HashMap<String, SessionContext>,
    runtime: Arc<RuntimeEnv>,
}

impl NightCatalog {
    /// The role's session.
    pub fn session(&self, role: &str) -> Option<&SessionContext> {
        self.sessions.get(role)
    }

    /// The runtime the night's tables are registered in (statements get their own memory pool
    /// on it, and share its object stores).
    pub fn runtime(&self) -> &Arc<RuntimeEnv> {
        &self.runtime
    }
}

/// The role sessions of a warehouse's current night, reopened when the night log changes.
pub struct Catalogs {
    warehouse: Warehouse,
    roles: Roles,
    audit_log: Option<Arc<dyn TableProvider>>,
    current: Mutex<Option<(LogStamp, Arc<NightCatalog>)>>,
}

/// What tells that `_nights/log.json` was replaced: a commit or rollback renames a new file in.
type LogStamp = (Option<SystemTime>, u64, u64);

fn stamp(warehouse: &Warehouse) -> LogStamp {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata(warehouse.night_log()) {
        Ok(m) => (m.modified().ok(), m.len(), m.ino()),
        Err(_) => (None, 0, 0),
    }
}

impl Catalogs {
    /// The catalogs of the warehouse for the roles; `audit_log` is the table auditing roles read
    /// as `audit_log`, when there is one (the server's).
    pub fn new(warehouse: &Warehouse, roles: Roles, audit_log: Option<Arc<dyn TableProvider>>) -> Catalogs {
        Catalogs { warehouse: warehouse.clone(), roles, audit_log, current: Mutex::new(None) }
    }

    /// The roles the catalogs know.
    pub fn roles(&self) -> &Roles {
        &self.roles
    }

    /// The current night's sessions; a night committed since the last call is opened first.
    pub async fn current(&self) -> Result<Arc<NightCatalog>, AccessError> {
        let mut current = self.current.lock().await;
        let now = stamp(&self.warehouse);
        if let Some((seen, catalog)) = current.as_ref()
            && *seen == now
        {
            return Ok(catalog.clone());
        }
        let log = NightLog::load(&self.warehouse)?;
        let night = log.resolve(&self.warehouse, None)?;
        if let Some((_, catalog)) = current.as_ref()
            && catalog.night.night == night.night
        {
            let catalog = catalog.clone();
            *current = Some((now, catalog.clone()));
            return Ok(catalog);
        }
        let catalog = Arc::new(self.open(night).await?);
        tracing::info!("pophub serve: serving night {} ({})", catalog.night.night, catalog.night.as_of);
        *current = Some((now, catalog.clone()));
        Ok(catalog)
    }

    /// The sessions of night `night` (or the current one), opened for this call only.
    pub async fn night(&self, night: Option<u32>) -> Result<NightCatalog, AccessError> {
        let log = NightLog::load(&self.warehouse)?;
        let night = log.resolve(&self.warehouse, night)?;
        self.open(night).await
    }

    async fn open(&self, night: &Night) -> Result<NightCatalog, AccessError> {
        self.check_roles(night)?;
        let runtime = Arc::new(RuntimeEnvBuilder::new().build()?);
        let as_of = crate::query::night_date(night);
        // The night's tables as published; only views over them leave this function.
        let base = crate::engine::session_on(as_of, runtime.clone());
        crate::warehouse::tables::register_night(&base, &self.warehouse, night, "").await?;
        let mut sessions = HashMap::new();
        for role in self.roles.iter() {
            let ctx = crate::engine::session_on(as_of, runtime.clone());
            for t in night.tables.iter().filter(|t| role.sees(&t.name)) {
                let schema = base.table_provider(t.name.as_str()).await?.schema();
                let sql = view_sql(&t.name, &schema, role);
                let plan = base.sql(&sql).await?.into_unoptimized_plan();
                ctx.register_table(t.name.as_str(), Arc::new(ViewTable::new(plan, Some(sql))))?;
            }
            if role.audits {
                ctx.register_table("table_rows", table_rows(night)?)?;
                if let Some(audit_log) = &self.audit_log {
                    ctx.register_table("audit_log", audit_log.clone())?;
                }
            }
            if role.sees("person") && role.sees("person_source") {
                ctx.register_udtf("person_profile", Arc::new(crate::query::profile::ProfileFunction::new(base.clone())));
            }
            datafusion_postgres::datafusion_pg_catalog::pg_catalog::setup_pg_catalog(
                &ctx,
                "datafusion",
                datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider,
            )
            .map_err(AccessError::Sql)?;
            sessions.insert(role.name.clone(), ctx);
        }
        Ok(NightCatalog { night: night.clone(), sessions, runtime })
    }

    /// Declared roles name only tables the night has.
    fn check_roles(&self, night: &Night) -> Result<(), AccessError> {
        for role in self.roles.iter() {
            if let super::roles::Tables::Only(names) = &role.tables {
                if let Some(name) = names.iter().find(|n| night.table(n).is_none()) {
                    let tables: Vec<&str> = night.tables.iter().map(|t| t.name.as_str()).collect();
                    return Err(AccessError::Config(format!(
                        "key `access.role.{}.tables`: `{name}` is not a published table; the tables are {}",
                        role.name,
                        tables.join(", ")
                    )));
                }
            }
        }
        Ok(())
    }
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The view a role sees of a table: personal columns it may not see whole through their mask,
/// rows through its row filter.
fn view_sql(table: &str, schema: &SchemaRef, role: &Role) -> String {
    let columns: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| match personal_kind(table, f.name()) {
            Some(kind) if role.masks(kind) => format!("{}({}) AS {}", mask_function(kind, f.name(), f.data_type()), quoted(f.name()), quoted(f.name())),
            _ => quoted(f.name()),
        })
        .collect();
    let mut sql = format!("SELECT {} FROM {}", columns.join(", "), quoted(table));
    if let Some(filter) = &role.row_filter {
        if table == "person" {
            sql.push_str(&format!(" WHERE ({filter})"));
        } else {
            let persons = format!("SELECT person_key FROM person WHERE ({filter})");
            let conditions: Vec<String> = schema
                .fields()
                .iter()
                .filter(|f| PERSON_COLUMNS.contains(&f.name().as_str()))
                .map(|f| format!("{} IN ({persons})", quoted(f.name())))
                .collect();
            if !conditions.is_empty() {
                sql.push_str(&format!(" WHERE {}", conditions.join(" OR ")));
            }
        }
    }
    sql
}

/// `table_rows`: each table of the night with its pinned version and rows.
fn table_rows(night: &Night) -> Result<Arc<MemTable>, AccessError> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("night", DataType::UInt32, false),
        Field::new("table_name", DataType::Utf8, false),
        Field::new("version", DataType::Int64, false),
        Field::new("rows", DataType::Int64, false),
    ]));
    let n = night.tables.len();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(UInt32Array::from(vec![night.night; n])),
            Arc::new(StringArray::from_iter_values(night.tables.iter().map(|t| t.name.as_str()))),
            Arc::new(Int64Array::from_iter_values(night.tables.iter().map(|t| t.version as i64))),
            Arc::new(Int64Array::from_iter_values(night.tables.iter().map(|t| t.rows as i64))),
        ],
    )
    .map_err(datafusion::error::DataFusionError::from)?;
    Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::access::AccessOptions;

    #[test]
    fn views_mask_personal_columns_and_filter_rows() {
        let mut options = AccessOptions::default();
        options.role.push(crate::config::access::RoleConfig {
            name: "district".into(),
            tables: None,
            masked: Some(vec![]),
            row_filter: Some("district_code = '420502'".into()),
            max_rows: None,
        });
        let roles = Roles::new(&options);
        let schema = Arc::new(Schema::new(vec![
            Field::new("person_key", DataType::Utf8, true),
            Field::new("citizen_id", DataType::Utf8, true),
            Field::new("birth_date", DataType::Date32, true),
            Field::new("row", DataType::Int64, true),
        ]));
        assert_eq!(
            view_sql("death", &schema, roles.get("analyst").unwrap()),
            "SELECT \"person_key\", mask_citizen_id(\"citizen_id\") AS \"citizen_id\", mask_birth_date(\"birth_date\") AS \"birth_date\", \"row\" FROM \"death\""
        );
        assert_eq!(view_sql("death", &schema, roles.get("admin").unwrap()), "SELECT \"person_key\", \"citizen_id\", \"birth_date\", \"row\" FROM \"death\"");
        assert_eq!(
            view_sql("death", &schema, roles.get("district").unwrap()),
            "SELECT \"person_key\", \"citizen_id\", \"birth_date\", \"row\" FROM \"death\" WHERE \"person_key\" IN (SELECT person_key FROM person WHERE (district_code = '420502'))"
        );
    }
}
