//! Writing published tables as Delta tables: each night overwrites the table as a new version,
//! so earlier nights stay readable by version (time travel) and readers never see half a write.
//! The rows stream from a DataFusion plan into the writer; nothing is collected first.

use std::path::Path;
use std::sync::Arc;

use datafusion::prelude::{DataFrame, SessionContext};
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableError};

use super::PublishError;

/// Overwrites `warehouse/<name>` with the rows of the plan (schema changes allowed); returns the table.
pub async fn overwrite(ctx: &SessionContext, warehouse: &Path, name: &str, rows: DataFrame) -> Result<DeltaTable, PublishError> {
    let delta = |source: DeltaTableError| PublishError::Delta { table: name.to_string(), source: Box::new(source) };
    let dir = warehouse.join(name);
    std::fs::create_dir_all(&dir).map_err(|source| PublishError::Io { path: dir.clone(), source })?;
    let url = deltalake::ensure_table_uri(dir.to_string_lossy()).map_err(delta)?;
    let table = DeltaTable::try_from_url(url).await.map_err(delta)?;
    table
        .write(Vec::new())
        .with_input_plan(rows.logical_plan().clone())
        .with_session_state(Arc::new(ctx.state()))
        .with_save_mode(SaveMode::Overwrite)
        .with_schema_mode(deltalake::operations::write::SchemaMode::Overwrite)
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
