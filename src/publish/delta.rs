//! Writing published tables as Delta tables: each night overwrites the table as a new version,
//! so earlier nights stay readable by version (time travel) and readers never see half a write.
//! The rows stream from a DataFusion plan into the writer; nothing is collected first.

use std::sync::Arc;

use datafusion::prelude::{DataFrame, SessionContext};
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableError};

use super::PublishError;
use crate::warehouse::Warehouse;

/// Writes the rows of the plan to the warehouse's table `name` as a new version that replaces
/// the rows (schema changes allowed). Returns the table.
pub async fn write(ctx: &SessionContext, warehouse: &Warehouse, name: &str, rows: DataFrame) -> Result<DeltaTable, PublishError> {
    let dir = warehouse.table(name);
    let delta = |source: DeltaTableError| PublishError::Write { table: name.to_string(), path: dir.clone(), source: Box::new(source) };
    std::fs::create_dir_all(&dir).map_err(|source| PublishError::Io { path: dir.clone(), source })?;
    let url = deltalake::ensure_table_uri(dir.to_string_lossy()).map_err(delta)?;
    let table = DeltaTable::try_from_url(url).await.map_err(delta)?;
    // The writer plans what it is given as is: optimised first (subqueries become joins).
    let plan = rows.into_optimized_plan().map_err(|e| PublishError::Engine { table: name.to_string(), source: Box::new(e) })?;
    table
        .write(Vec::new())
        .with_input_plan(plan)
        .with_session_state(Arc::new(ctx.state()))
        .with_save_mode(SaveMode::Overwrite)
        .with_schema_mode(deltalake::operations::write::SchemaMode::Overwrite)
        .with_commit_properties(crate::warehouse::commit_properties())
        .await
        .map_err(delta)
}
