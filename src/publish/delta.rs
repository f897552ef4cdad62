//! Writing published tables as Delta tables: each night overwrites the table as a new version,
//! so earlier nights stay readable by version (time travel) and readers never see half a write.
//! The rows stream from a DataFusion plan into the writer; nothing is collected first.

use std::path::Path;
use std::sync::Arc;

use datafusion::prelude::{DataFrame, SessionContext};
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableError};

use super::PublishError;

/// Writes the rows of the plan to `warehouse/<name>` as a new version: overwriting (schema changes
/// allowed), or appending for tables that keep their history. Returns the table.
pub async fn write(ctx: &SessionContext, warehouse: &Path, name: &str, rows: DataFrame, append: bool) -> Result<DeltaTable, PublishError> {
    let delta = |source: DeltaTableError| PublishError::Delta { table: name.to_string(), source: Box::new(source) };
    let dir = warehouse.join(name);
    std::fs::create_dir_all(&dir).map_err(|source| PublishError::Io { path: dir.clone(), source })?;
    let url = deltalake::ensure_table_uri(dir.to_string_lossy()).map_err(delta)?;
    let table = DeltaTable::try_from_url(url).await.map_err(delta)?;
    // The writer plans what it is given as is: optimised first (subqueries become joins).
    let plan = rows.into_optimized_plan().map_err(|e| PublishError::Engine { table: name.to_string(), source: Box::new(e) })?;
    table
        .write(Vec::new())
        .with_input_plan(plan)
        .with_session_state(Arc::new(ctx.state()))
        .with_save_mode(if append { SaveMode::Append } else { SaveMode::Overwrite })
        .with_schema_mode(if append { deltalake::operations::write::SchemaMode::Merge } else { deltalake::operations::write::SchemaMode::Overwrite })
        .await
        .map_err(delta)
}

/// Makes a Delta table's current version queryable in the session under `name`.
pub async fn register(ctx: &SessionContext, name: &str, table: &DeltaTable) -> Result<(), DeltaTableError> {
    table.update_datafusion_session(&ctx.state())?;
    let provider = table.table_provider().await?;
    ctx.deregister_table(name)?;
    ctx.register_table(name, provider)?;
    Ok(())
}
