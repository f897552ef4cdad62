//! A night's tables in a DataFusion session: each Delta table opened at the version the night
//! pinned, never at whatever version happens to be the latest on disk, and read as a Parquet
//! listing of exactly that version's files. The Delta log is replayed once, when the table is
//! registered; a scan then plans over a fixed file list (no log replay per query), and the plan
//! is an ordinary Parquet scan that any DataFusion (a Ballista executor too) can run. That holds
//! because pophub writes no deletion vectors, no column mapping and no partitions, which
//! registering checks.

use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::catalog::view::ViewTable;
use datafusion::common::DFSchema;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{EmptyRelation, LogicalPlan};
use datafusion::prelude::SessionContext;
use deltalake::{DeltaTable, DeltaTableError};

use super::{Night, Warehouse, WarehouseError};

/// Why a published table cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// Its Delta log cannot be read at the version.
    #[error(transparent)]
    Delta(#[from] DeltaTableError),
    /// Its files cannot be registered for reading.
    #[error(transparent)]
    Engine(#[from] DataFusionError),
    /// The version uses a Delta feature pophub never writes, so another tool changed the table
    /// and its files alone no longer say what its rows are.
    #[error("version {version} uses {feature}, which pophub never writes: another tool changed the table; roll back to a night before the change or run the night again")]
    Foreign {
        /// The Delta version.
        version: u64,
        /// The feature found.
        feature: &'static str,
    },
}

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
        let failed = |source: TableError| WarehouseError::Delta { table: t.name.clone(), night: night.night, source: Box::new(source) };
        register_version(ctx, warehouse, &t.name, t.version, &format!("{prefix}{}", t.name)).await.map_err(failed)?;
    }
    Ok(())
}

/// Registers a published table at a version under `alias`.
pub async fn register_version(ctx: &SessionContext, warehouse: &Warehouse, name: &str, version: u64, alias: &str) -> Result<(), TableError> {
    let table = open(warehouse, name, version).await?;
    register(ctx, alias, &table).await
}

/// Makes a loaded Delta table queryable in the session under `name`, as the files of its version.
pub async fn register(ctx: &SessionContext, name: &str, table: &DeltaTable) -> Result<(), TableError> {
    // Registers the store the table's files are in (a local folder or an object store).
    table.update_datafusion_session(&ctx.state())?;
    let provider = files_of_version(ctx, table).await?;
    ctx.deregister_table(name)?;
    ctx.register_table(name, provider)?;
    Ok(())
}

/// The table's version as a Parquet listing of its files, with the schema Delta reads it with.
async fn files_of_version(ctx: &SessionContext, table: &DeltaTable) -> Result<Arc<dyn TableProvider>, TableError> {
    let state = table.snapshot()?;
    let version = state.version();
    let foreign = |feature| TableError::Foreign { version, feature };
    if state.metadata().configuration().get("delta.columnMapping.mode").is_some_and(|mode| mode != "none") {
        return Err(foreign("column mapping"));
    }
    if !state.metadata().partition_columns().is_empty() {
        return Err(foreign("partition columns"));
    }
    let mut files = Vec::new();
    for file in state.log_data().iter() {
        if file.deletion_vector_descriptor().is_some() {
            return Err(foreign("deletion vectors"));
        }
        files.push(ListingTableUrl::parse(table.log_store().to_uri(&file.object_store_path()))?);
    }
    let schema = table.table_provider().await?.schema();
    if files.is_empty() {
        // A listing needs a file; a table of no rows is a view of none.
        let none = LogicalPlan::EmptyRelation(EmptyRelation { produce_one_row: false, schema: Arc::new(DFSchema::try_from(schema)?) });
        return Ok(Arc::new(ViewTable::new(none, None)));
    }
    let state = ctx.state();
    let mut parquet = state.table_options().parquet.clone();
    // Filters are applied while decoding (late materialisation), as Delta's own scan does, so a
    // lookup decodes other columns only for the rows that match.
    parquet.global.pushdown_filters = true;
    parquet.global.reorder_filters = true;
    // Text read as views, the type Delta's schema gives it: no cast per batch.
    parquet.global.schema_force_view_types = true;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default().with_options(parquet)))
        .with_file_extension(".parquet");
    let config = ListingTableConfig::new_with_multi_paths(files).with_listing_options(options).with_schema(schema);
    Ok(Arc::new(ListingTable::try_new(config)?))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{AsArray, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Int64Type, Schema};
    use deltalake::protocol::SaveMode;

    use super::*;

    fn batch(district: &[&str]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("person_key", DataType::Utf8, true), Field::new("district", DataType::Utf8, true)]));
        let keys: Vec<String> = (0..district.len()).map(|i| format!("P{i:016x}")).collect();
        RecordBatch::try_new(schema, vec![Arc::new(StringArray::from(keys)), Arc::new(StringArray::from(district.to_vec()))]).unwrap()
    }

    async fn write(warehouse: &Warehouse, name: &str, rows: RecordBatch, partitioned: bool) -> DeltaTable {
        std::fs::create_dir_all(warehouse.table(name)).unwrap();
        let table = open_latest(warehouse, name).await.unwrap();
        let write = table.write(vec![rows]).with_save_mode(SaveMode::Overwrite);
        if partitioned { write.with_partition_columns(["district"]).await } else { write.await }.unwrap()
    }

    async fn count(ctx: &SessionContext, sql: &str) -> i64 {
        let rows = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        rows[0].column(0).as_primitive::<Int64Type>().value(0)
    }

    #[tokio::test]
    async fn a_version_is_read_as_its_files_and_foreign_layouts_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let warehouse = Warehouse::new(dir.path());
        write(&warehouse, "person", batch(&["420502", "420503", "420502"]), false).await;
        write(&warehouse, "person", batch(&["420502"]), false).await;
        let ctx = SessionContext::new();
        register_version(&ctx, &warehouse, "person", 0, "first").await.unwrap();
        register_version(&ctx, &warehouse, "person", 1, "second").await.unwrap();
        assert_eq!(count(&ctx, "SELECT COUNT(*) FROM first WHERE district = '420502'").await, 2, "version 0 keeps its own files");
        assert_eq!(count(&ctx, "SELECT COUNT(*) FROM second").await, 1);
        let plan = ctx.sql("EXPLAIN SELECT person_key FROM first").await.unwrap().collect().await.unwrap();
        let plan = arrow::util::pretty::pretty_format_batches(&plan).unwrap().to_string();
        assert!(plan.contains("DataSourceExec") && plan.contains("file_type=parquet") && !plan.contains("DeltaScan"), "{plan}");
        let schema = ctx.table("first").await.unwrap().schema().as_arrow().clone();
        assert_eq!(schema.field_with_name("district").unwrap().data_type(), &DataType::Utf8View, "text reads as Delta reads it");

        // A query over the night is serialisable whole, and runs where nothing was registered.
        let as_of = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let night = crate::engine::session(as_of, None);
        register_version(&night, &warehouse, "person", 0, "person").await.unwrap();
        let plan = night.sql("SELECT COUNT(*) FROM person WHERE mask_name(person_key) LIKE 'P*%'").await.unwrap().create_physical_plan().await.unwrap();
        let codec = crate::identity::udf::FunctionCodec;
        let bytes = datafusion_proto::bytes::physical_plan_to_bytes_with_extension_codec(plan, &codec).unwrap();
        let elsewhere = SessionContext::new();
        let plan = datafusion_proto::bytes::physical_plan_from_bytes_with_extension_codec(&bytes, &elsewhere.task_ctx(), &codec).unwrap();
        let rows = datafusion::physical_plan::collect(plan, elsewhere.task_ctx()).await.unwrap();
        assert_eq!(rows[0].column(0).as_primitive::<Int64Type>().value(0), 3);

        // A version with no file (a table of no rows) is an empty table with the schema.
        let empty = batch(&[]);
        write(&warehouse, "stay", empty, false).await;
        register_version(&ctx, &warehouse, "stay", 0, "stay").await.unwrap();
        assert_eq!(count(&ctx, "SELECT COUNT(*) FROM stay WHERE district IS NOT NULL").await, 0);

        // Partitions (as deletion vectors and column mapping) mean the files alone are not the rows.
        write(&warehouse, "house", batch(&["420502", "420503"]), true).await;
        let err = register_version(&ctx, &warehouse, "house", 0, "house").await.unwrap_err().to_string();
        assert!(err.contains("partition columns") && err.contains("another tool"), "{err}");
    }
}
