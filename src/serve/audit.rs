//! The audit trail: every login (successful or not) and every statement, with its user, role,
//! client, SQL text and parameters, rows returned, duration and outcome. Records are buffered and
//! appended to the warehouse's `_audit` Delta table (partitioned by the night served, so it rotates
//! by night) at least every second, before an auditing role reads it, and at shutdown. No SQL role
//! can write it; `admin` and `auditor` read it as `audit_log`.

use std::sync::{Arc, Mutex};

use arrow::array::{ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::execution::SessionState;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use deltalake::DeltaTable;
use deltalake::protocol::SaveMode;

use super::ServeError;
use crate::warehouse::Warehouse;

/// What a record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The server started or stopped.
    Server,
    /// A login attempt.
    Login,
    /// A statement.
    Statement,
}

impl Event {
    fn as_str(self) -> &'static str {
        match self {
            Event::Server => "server",
            Event::Login => "login",
            Event::Statement => "statement",
        }
    }
}

/// One audited event.
#[derive(Debug, Clone)]
pub struct Record {
    /// When it began (microseconds since the epoch, UTC).
    pub at: i64,
    /// The night being served.
    pub night: u32,
    /// What it is.
    pub event: Event,
    /// The login name given.
    pub user: String,
    /// Its role (empty when the login failed before one was known).
    pub role: String,
    /// The client's address.
    pub client: String,
    /// The SQL text.
    pub statement: Option<String>,
    /// Bound parameters, as text.
    pub parameters: Option<String>,
    /// Rows returned.
    pub rows: Option<i64>,
    /// How long it took.
    pub duration_ms: f64,
    /// `ok`, `error`, `refused`, `cancelled` (the client went away mid-result) or `failed`.
    pub outcome: &'static str,
    /// SQLSTATE of an error.
    pub sqlstate: Option<String>,
    /// The error's message.
    pub message: Option<String>,
}

impl Record {
    /// A record begun now.
    pub fn begin(event: Event, night: u32, user: &str, role: &str, client: &str) -> Record {
        Record {
            at: chrono::Utc::now().timestamp_micros(),
            night,
            event,
            user: user.to_string(),
            role: role.to_string(),
            client: client.to_string(),
            statement: None,
            parameters: None,
            rows: None,
            duration_ms: 0.0,
            outcome: "ok",
            sqlstate: None,
            message: None,
        }
    }
}

fn schema() -> SchemaRef {
    let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        Field::new("at", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false),
        text("event", false),
        text("user_name", false),
        text("role", false),
        text("client", false),
        text("statement", true),
        text("parameters", true),
        Field::new("rows", DataType::Int64, true),
        Field::new("duration_ms", DataType::Float64, false),
        text("outcome", false),
        text("sqlstate", true),
        text("message", true),
        Field::new("night", DataType::Int32, false),
    ]))
}

fn batch(records: &[Record]) -> Result<RecordBatch, arrow::error::ArrowError> {
    let text = |f: fn(&Record) -> Option<&str>| Arc::new(records.iter().map(f).collect::<StringArray>()) as ArrayRef;
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(TimestampMicrosecondArray::from_iter_values(records.iter().map(|r| r.at)).with_timezone("UTC")),
            text(|r| Some(r.event.as_str())),
            text(|r| Some(&r.user)),
            text(|r| Some(&r.role)),
            text(|r| Some(&r.client)),
            text(|r| r.statement.as_deref()),
            text(|r| r.parameters.as_deref()),
            Arc::new(records.iter().map(|r| r.rows).collect::<Int64Array>()),
            Arc::new(Float64Array::from_iter_values(records.iter().map(|r| r.duration_ms))),
            text(|r| Some(r.outcome)),
            text(|r| r.sqlstate.as_deref()),
            text(|r| r.message.as_deref()),
            Arc::new(Int32Array::from_iter_values(records.iter().map(|r| r.night as i32))),
        ],
    )
}

/// The server's audit log: a buffer and the Delta table it is flushed to.
pub struct AuditLog {
    warehouse: Warehouse,
    pending: Mutex<Vec<Record>>,
    writing: tokio::sync::Mutex<()>,
}

impl AuditLog {
    /// The warehouse's audit log, created if it does not exist yet.
    pub fn new(warehouse: &Warehouse) -> AuditLog {
        AuditLog { warehouse: warehouse.clone(), pending: Mutex::new(Vec::new()), writing: tokio::sync::Mutex::new(()) }
    }

    /// Adds a record; it is written at the next flush.
    pub fn record(&self, record: Record) {
        self.pending.lock().expect("audit buffer").push(record);
    }

    /// Writes every buffered record as one Delta commit. A failed write keeps the records for the
    /// next attempt and is reported.
    pub async fn flush(&self) -> Result<usize, ServeError> {
        let _writing = self.writing.lock().await;
        let records = std::mem::take(&mut *self.pending.lock().expect("audit buffer"));
        if records.is_empty() {
            return Ok(0);
        }
        match self.append(&records).await {
            Ok(()) => Ok(records.len()),
            Err(e) => {
                let mut pending = self.pending.lock().expect("audit buffer");
                let later = std::mem::take(&mut *pending);
                *pending = records;
                pending.extend(later);
                Err(e)
            }
        }
    }

    async fn append(&self, records: &[Record]) -> Result<(), ServeError> {
        let path = self.warehouse.audit_log();
        let fail = |message: String| ServeError::Audit { path: path.clone(), message };
        std::fs::create_dir_all(&path).map_err(|e| fail(e.to_string()))?;
        let url = deltalake::ensure_table_uri(path.to_string_lossy()).map_err(|e| fail(e.to_string()))?;
        let table = DeltaTable::try_from_url(url).await.map_err(|e| fail(e.to_string()))?;
        let batch = batch(records).map_err(|e| fail(e.to_string()))?;
        table
            .write(vec![batch])
            .with_save_mode(SaveMode::Append)
            .with_partition_columns(vec!["night".to_string()])
            .with_commit_properties(crate::warehouse::commit_properties())
            .await
            .map_err(|e| fail(e.to_string()))?;
        Ok(())
    }

    /// `audit_log` as a table: each scan reads the log's latest version, so what was flushed is
    /// seen without reopening the session. The table must exist (the server's start is recorded
    /// and flushed first).
    pub async fn table(self: &Arc<Self>) -> Result<Arc<dyn TableProvider>, ServeError> {
        let table = self.open().await?;
        let schema = table.table_provider().await.map_err(|e| ServeError::Audit { path: self.warehouse.audit_log(), message: e.to_string() })?.schema();
        Ok(Arc::new(AuditTable { log: self.clone(), schema }))
    }

    async fn open(&self) -> Result<DeltaTable, ServeError> {
        let path = self.warehouse.audit_log();
        let fail = |message: String| ServeError::Audit { path: path.clone(), message };
        let url = deltalake::ensure_table_uri(path.to_string_lossy()).map_err(|e| fail(e.to_string()))?;
        deltalake::open_table(url).await.map_err(|e| fail(e.to_string()))
    }
}

/// The audit log read at its latest version on each scan.
#[derive(Debug)]
struct AuditTable {
    log: Arc<AuditLog>,
    schema: SchemaRef,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").field("path", &self.warehouse.audit_log()).finish()
    }
}

#[async_trait]
impl TableProvider for AuditTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> datafusion::error::Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(&self, state: &dyn Session, projection: Option<&Vec<usize>>, filters: &[Expr], limit: Option<usize>) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        self.log.flush().await.map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
        let table = self.log.open().await.map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
        let session = state
            .as_any()
            .downcast_ref::<SessionState>()
            .ok_or_else(|| datafusion::error::DataFusionError::Internal("audit_log is read from a DataFusion session".into()))?;
        table.update_datafusion_session(session).map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
        let provider = table.table_provider().await.map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
        provider.scan(state, projection, filters, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_are_flushed_to_a_table_partitioned_by_night() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(AuditLog::new(&Warehouse::new(dir.path())));
        let mut record = Record::begin(Event::Login, 1, "ana", "analyst", "127.0.0.1:5000");
        record.outcome = "failed";
        log.record(record);
        log.record(Record::begin(Event::Statement, 2, "ana", "analyst", "127.0.0.1:5000"));
        assert_eq!(log.flush().await.unwrap(), 2);
        assert_eq!(log.flush().await.unwrap(), 0);
        let ctx = datafusion::prelude::SessionContext::new();
        ctx.register_table("audit_log", log.table().await.unwrap()).unwrap();
        log.record(Record::begin(Event::Statement, 2, "ana", "analyst", "127.0.0.1:5000"));
        // A read flushes first.
        let rows = crate::query::count(&ctx, "SELECT COUNT(*) FROM audit_log WHERE night = 2").await.unwrap();
        assert_eq!(rows, 2);
        assert!(dir.path().join("_audit/night=1").is_dir());
    }
}
