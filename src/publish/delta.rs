//! Writing published tables as Delta tables: each night overwrites the table as a new version,
//! so earlier nights stay readable by version (time travel) and readers never see half a write.

use std::path::Path;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use deltalake::DeltaTable;
use deltalake::protocol::SaveMode;

use super::PublishError;

/// Overwrites `warehouse/<name>` with the batches (schema changes allowed) and returns the new version.
pub async fn overwrite(warehouse: &Path, name: &str, schema: SchemaRef, batches: Vec<RecordBatch>) -> Result<i64, PublishError> {
    let delta = |source: deltalake::DeltaTableError| PublishError::Delta { table: name.to_string(), source: Box::new(source) };
    let dir = warehouse.join(name);
    std::fs::create_dir_all(&dir).map_err(|source| PublishError::Io { path: dir.clone(), source })?;
    let url = deltalake::ensure_table_uri(dir.to_string_lossy()).map_err(delta)?;
    let table = DeltaTable::try_from_url(url).await.map_err(delta)?;
    let batches = if batches.is_empty() { vec![RecordBatch::new_empty(schema)] } else { batches };
    let table = table
        .write(batches)
        .with_save_mode(SaveMode::Overwrite)
        .with_schema_mode(deltalake::operations::write::SchemaMode::Overwrite)
        .await
        .map_err(delta)?;
    Ok(table.version().map_or(0, |v| v as i64))
}
