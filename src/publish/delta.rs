//! Writing published tables as Delta tables: each night overwrites the table as a new version,
//! so earlier nights stay readable by version (time travel) and readers never see half a write.
//! The rows stream from a DataFusion plan into the writer; nothing is collected first.
//! Tables are laid out for point lookups (the person profile): sorted on the key they are looked
//! up by, in small row groups and small pages with page-level statistics (so a lookup by key reads the pages
//! that can hold it and skips the rest), and with bloom filters on the ID number and household
//! number where they are looked up but not sorted on (`household` is sorted on its number).

use std::sync::Arc;

use datafusion::prelude::{DataFrame, SessionContext};
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableError};

use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use super::PublishError;

/// The columns tables are looked up by, in order of preference: the first a table has is its key.
const LOOKUP_KEYS: &[&str] = &["person_key", "child_key", "tenant_key", "household_no", "house_key", "new_key"];

/// Tables looked up by another column than the first of `LOOKUP_KEYS` they have.
const OTHER_KEYS: &[(&str, &str)] = &[("person_by_citizen_id", "citizen_id")];

/// Rows per row group: small enough that a lookup decodes little beside its key.
const ROW_GROUP_ROWS: usize = 64 * 1024;

/// Rows per data page at most: a lookup by key decodes one page of each column it reads (the
/// page index says which), so a page is the unit of work of a lookup.
const PAGE_ROWS: usize = 2 * 1024;

/// A column chunk's dictionary at most, after which its pages are written plain: a lookup reads
/// the dictionary of every column it decodes, and a row group's dictionary of names or keys
/// (up to a megabyte each by default) cost more than the pages it reads.
const DICTIONARY_BYTES: usize = 16 * 1024;
use crate::warehouse::Warehouse;

/// Writes the rows of the plan to the warehouse's table `name` as a new version that replaces
/// the rows (schema changes allowed). Returns the table.
pub async fn write(ctx: &SessionContext, warehouse: &Warehouse, name: &str, rows: DataFrame) -> Result<DeltaTable, PublishError> {
    let dir = warehouse.table(name);
    let delta = |source: DeltaTableError| PublishError::Write { table: name.to_string(), path: dir.clone(), source: Box::new(source) };
    std::fs::create_dir_all(&dir).map_err(|source| PublishError::Io { path: dir.clone(), source })?;
    let url = deltalake::ensure_table_uri(dir.to_string_lossy()).map_err(delta)?;
    let table = DeltaTable::try_from_url(url).await.map_err(delta)?;
    let key = OTHER_KEYS
        .iter()
        .find_map(|(table, key)| (*table == name).then_some(*key))
        .or_else(|| LOOKUP_KEYS.iter().copied().find(|k| rows.schema().has_column_with_unqualified_name(k)));
    let engine = |e: datafusion::error::DataFusionError| PublishError::Engine { table: name.to_string(), source: Box::new(e) };
    let rows = match key {
        Some(k) => super::key_order::sorted(rows, k).map_err(engine)?,
        None => rows,
    };
    let mut properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_data_page_row_count_limit(PAGE_ROWS)
        .set_dictionary_page_size_limit(DICTIONARY_BYTES)
        .set_statistics_enabled(EnabledStatistics::Page);
    // The other columns the profile looks rows up by; the key needs no filter (not even when it
    // is one of them), its statistics already bound each row group and page.
    let looked_up = ["citizen_id", "household_no"].into_iter().filter(|c| Some(*c) != key && rows.schema().has_column_with_unqualified_name(c));
    for column in looked_up {
        properties = properties.set_column_bloom_filter_enabled(column.into(), true);
    }
    // The writer plans what it is given as is: optimised first (subqueries become joins).
    let plan = rows.into_optimized_plan().map_err(engine)?;
    table
        .write(Vec::new())
        .with_input_plan(plan)
        .with_session_state(Arc::new(ctx.state()))
        .with_writer_properties(properties.build())
        .with_save_mode(SaveMode::Overwrite)
        .with_schema_mode(deltalake::operations::write::SchemaMode::Overwrite)
        .with_commit_properties(crate::warehouse::commit_properties())
        .await
        .map_err(delta)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{AsArray, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::datasource::MemTable;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::*;

    #[tokio::test]
    async fn a_table_is_written_in_key_order_from_a_plan_of_many_partitions() {
        let schema = Arc::new(Schema::new(vec![Field::new("person_key", DataType::Utf8, true)]));
        // Two partitions of ten batches each, keys in no order (a multiplicative scramble).
        let batch = |start: u64| {
            let keys: Vec<String> = (start..start + 1000).map(|i| format!("P{:016x}", i.wrapping_mul(0x9E37_79B9_7F4A_7C15))).collect();
            RecordBatch::try_new(schema.clone(), vec![Arc::new(StringArray::from(keys))]).unwrap()
        };
        let partitions: Vec<Vec<RecordBatch>> = (0..2).map(|p| (0..10).map(|b| batch((p * 10 + b) * 1000)).collect()).collect();
        let ctx = crate::engine::publish_session(chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(), 256 << 20, 20_000, 2, true);
        ctx.register_table("unsorted", Arc::new(MemTable::try_new(schema.clone(), partitions).unwrap())).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let warehouse = Warehouse::new(dir.path());
        write(&ctx, &warehouse, "person", ctx.table("unsorted").await.unwrap()).await.unwrap();

        let mut keys = Vec::new();
        for entry in std::fs::read_dir(warehouse.table("person")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "parquet") {
                let options = parquet::arrow::arrow_reader::ArrowReaderOptions::new().with_page_index_policy(parquet::file::metadata::PageIndexPolicy::Required);
                let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(std::fs::File::open(&path).unwrap(), options).unwrap();
                // A lookup's unit of work: pages of at most PAGE_ROWS rows, and no large key
                // dictionary (20,000 distinct keys outgrow DICTIONARY_BYTES: the rest is plain).
                let pages = &builder.metadata().offset_index().unwrap()[0][0];
                assert!(pages.page_locations().len() >= 20_000 / PAGE_ROWS, "{} pages", pages.page_locations().len());
                let chunk = builder.metadata().row_group(0).column(0);
                let dictionary = chunk.dictionary_page_offset().map_or(0, |start| chunk.data_page_offset() - start);
                assert!(dictionary <= 64 * 1024, "a dictionary of {dictionary} bytes");
                let reader = builder.build().unwrap();
                for batch in reader {
                    keys.extend(batch.unwrap().column(0).as_string::<i32>().iter().map(|k| k.unwrap().to_string()));
                }
            }
        }
        assert_eq!(keys.len(), 20_000);
        assert!(keys.is_sorted(), "the rows are written in person_key order");
    }
}
