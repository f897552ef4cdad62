//! The memory bound: a night in the smallest pool `[engine] memory_limit_mb` allows (256 MB)
//! publishes the same tables, row for row, as one in the default pool. The small pool makes its
//! sorts and aggregations spill and, with more threads than it holds tables, writes one table at
//! a time; this checks that path is only slower. Its joins are hash joins (134,000 mentions fit
//! the rule): with `hash_joins = false` the night failed now and then in this pool (a sort of
//! `relation` found no room for one batch), so sort-merge joins in it are not yet covered.
//! And every table with a person key is written in its order (the index by number in the
//! number's), for the profile's lookups.

mod common;

use std::path::Path;

use arrow::array::{Array, AsArray};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use common::*;

/// Every published table's rows as sorted CSV lines, so two nights compare whatever the row order.
fn table_rows(warehouse: &Path, table: &str) -> Vec<String> {
    let out = ok(&["sql", "--warehouse", path(warehouse), "--format", "csv", &format!("SELECT * FROM {table}")]);
    let mut lines: Vec<String> = out.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

#[test]
fn a_night_in_the_smallest_pool_publishes_the_same_rows() {
    let data = generated(64_000, 3, 1);
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small.toml");
    let pipeline = std::fs::read_to_string(PIPELINE).unwrap();
    assert!(!pipeline.contains("[engine]"), "the test adds its own [engine] table");
    let data_root = format!("data_root = {:?}", path(&data));
    let pipeline = pipeline.replacen("data_root = \"../sample-data\"", &data_root, 1);
    std::fs::write(&small, format!("{pipeline}\n[engine]\nthreads = 4\nmemory_limit_mb = 256\n")).unwrap();
    let (default_pool, small_pool) = (dir.path().join("default"), dir.path().join("small"));
    ok(&["run", PIPELINE, "--data-root", path(&data), "--warehouse", path(&default_pool)]);
    ok(&["run", path(&small), "--warehouse", path(&small_pool)]);

    let manifest = current_night(&small_pool);
    let tables = manifest["tables"].as_object().expect("the night's tables");
    assert!(tables.len() >= 12, "{manifest}");
    for (table, entry) in tables {
        let rows = table_rows(&small_pool, table);
        assert_eq!(rows.len() as u64, entry["rows"].as_u64().unwrap() + 1, "{table}: the header and every row");
        assert_eq!(rows, table_rows(&default_pool, table), "{table} differs between the pools");
        let key = if table == "person_by_citizen_id" { "citizen_id" } else { "person_key" };
        assert_in_key_order(&small_pool.join(table), table, key);
    }
}

/// The table's files hold their rows in the key's order (nulls last), when it has the column.
fn assert_in_key_order(dir: &Path, table: &str, key: &str) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let file = entry.unwrap().path();
        if file.extension().is_none_or(|e| e != "parquet") {
            continue;
        }
        let builder = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file).unwrap()).unwrap();
        let Ok(column) = builder.schema().index_of(key) else { return };
        let mask = parquet::arrow::ProjectionMask::roots(builder.parquet_schema(), [column]);
        let mut keys: Vec<Option<String>> = Vec::new();
        for batch in builder.with_projection(mask).build().unwrap() {
            let batch = batch.unwrap();
            let column = arrow::compute::cast(batch.column(0), &arrow::datatypes::DataType::Utf8).unwrap();
            let column = column.as_string::<i32>();
            keys.extend((0..column.len()).map(|i| column.is_valid(i).then(|| column.value(i).to_string())));
        }
        let nulls_last = |k: &Option<String>| (k.is_none(), k.clone());
        assert!(keys.is_sorted_by_key(nulls_last), "{table}: {} is not in {key} order", file.display());
    }
}
