//! A night's tables in a DataFusion session: each Delta table opened at the version the night
//! pinned, never at whatever version happens to be the latest on disk.

use datafusion::prelude::SessionContext;
use deltalake::{DeltaTable, DeltaTableError};

use super::{Night, Warehouse, WarehouseError};

/// Opens a published table at a version.
pub async fn open(warehouse: &Warehouse, name: &str, version: u64) -> Result<DeltaTable, DeltaTableError> {
    let url = deltalake::ensure_table_uri(warehouse.table(name).to_string_lossy())?;
    deltalake::open_table_with_version(url, version).await
}

/// Opens a published table at its latest version, which may be one no night has committed.
pub async fn open_latest(warehouse: &Warehouse, name: &str) -> Result<DeltaTable, DeltaTableError> {
    let url = deltalake::ensure_table_uri(warehouse.table(name).to_string_lossy())?;
    DeltaTable::try_from_url(url).await
}

/// Registers every table of the night under `<prefix><name>`.
pub async fn register_night(ctx: &SessionContext, warehouse: &Warehouse, night: &Night, prefix: &str) -> Result<(), WarehouseError> {
    for t in &night.tables {
        let delta = |source: DeltaTableError| WarehouseError::Delta { table: t.name.clone(), night: night.night, source: Box::new(source) };
        register_version(ctx, warehouse, &t.name, t.version, &format!("{prefix}{}", t.name)).await.map_err(delta)?;
    }
    Ok(())
}

/// Registers a published table at a version under `alias`.
pub async fn register_version(ctx: &SessionContext, warehouse: &Warehouse, name: &str, version: u64, alias: &str) -> Result<(), DeltaTableError> {
    let table = open(warehouse, name, version).await?;
    register(ctx, alias, &table).await
}

/// Makes a loaded Delta table queryable in the session under `name`.
pub async fn register(ctx: &SessionContext, name: &str, table: &DeltaTable) -> Result<(), DeltaTableError> {
    table.update_datafusion_session(&ctx.state())?;
    let provider = table.table_provider().await?;
    ctx.deregister_table(name)?;
    ctx.register_table(name, provider)?;
    Ok(())
}
