//! The one place where pophub's functions are registered with DataFusion, so pipeline
//! expressions, the pipeline's own plans and analysts' SQL (and, later, Ballista executors) all
//! see the same set. Functions capture the run's `as_of` date instead of reading a global.

use std::sync::{Arc, OnceLock};

use arrow::array::{ArrayRef, AsArray, StringArray};
use arrow::datatypes::DataType;
use chrono::NaiveDate;
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::prelude::SessionContext;

use super::{citizen_id, division, names, normalize_ids, parse_dates};
use crate::address::{self, Districts};

/// Registers `citizen_id_normalize`, `citizen_id_status`, `citizen_id_region`, `name_key`,
/// `name_pinyin`, `address_key` (room level), `address_building_key`, `dwelling_key` (a house key
/// from a room-level key) and `parse_date`, and the server's mask functions (`access::masks`).
pub fn register(ctx: &SessionContext, as_of: NaiveDate) {
    let text_udf = |name: &str, return_type: DataType, f: Arc<dyn Fn(&StringArray) -> ArrayRef + Send + Sync>| {
        create_udf(
            name,
            vec![DataType::Utf8],
            return_type,
            Volatility::Immutable,
            Arc::new(move |args: &[ColumnarValue]| {
                let arrays = ColumnarValue::values_to_arrays(args)?;
                let input = arrow::compute::cast(&arrays[0], &DataType::Utf8)?;
                Ok(ColumnarValue::Array(f(input.as_string::<i32>())))
            }),
        )
    };
    ctx.register_udf(text_udf("citizen_id_normalize", DataType::Utf8, Arc::new(move |a| Arc::new(normalize_ids(a, as_of).0))));
    ctx.register_udf(text_udf("citizen_id_status", DataType::Utf8, Arc::new(move |a| Arc::new(normalize_ids(a, as_of).1))));
    ctx.register_udf(text_udf(
        "citizen_id_region",
        DataType::Utf8,
        Arc::new(|a| {
            Arc::new(a.iter().map(|v| v.and_then(citizen_id::region_code).and_then(division::decode).map(|r| r.name)).collect::<StringArray>())
        }),
    ));
    ctx.register_udf(text_udf(
        "name_key",
        DataType::Utf8,
        Arc::new(|a| Arc::new(a.iter().map(|v| v.map(names::matching_key)).collect::<StringArray>())),
    ));
    ctx.register_udf(text_udf(
        "name_pinyin",
        DataType::Utf8,
        Arc::new(|a| Arc::new(a.iter().map(|v| v.map(|v| names::pinyin_key(&names::matching_key(v)))).collect::<StringArray>())),
    ));
    // The division table is read when a statement first reads an address, not for every session.
    let districts: Arc<OnceLock<Districts>> = Arc::default();
    let room = districts.clone();
    ctx.register_udf(text_udf(
        "address_key",
        DataType::Utf8,
        Arc::new(move |a| Arc::new(address::room_keys(room.get_or_init(Districts::new), a))),
    ));
    ctx.register_udf(text_udf(
        "address_building_key",
        DataType::Utf8,
        Arc::new(move |a| Arc::new(address::building_keys(districts.get_or_init(Districts::new), a))),
    ));
    ctx.register_udf(text_udf(
        "dwelling_key",
        DataType::Utf8,
        Arc::new(|a| Arc::new(a.iter().map(|v| v.map(address::dwelling_key)).collect::<StringArray>())),
    ));
    ctx.register_udf(text_udf("parse_date", DataType::Date32, Arc::new(move |a| Arc::new(parse_dates(a, as_of)))));
    for mask in crate::access::masks::udfs() {
        ctx.register_udf(mask);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn functions_work_in_sql() {
        let ctx = crate::engine::session(NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(), None);
        let batches = ctx
            .sql("SELECT citizen_id_normalize('110105491231002') AS id, citizen_id_status('11010519491231002x') AS s, name_key('張 偉') AS n, CAST(parse_date('2023年1月5日') AS VARCHAR) AS d")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let row = |c: usize| batches[0].column(c).as_string::<i32>().value(0).to_string();
        assert_eq!(row(0), "11010519491231002X");
        assert_eq!(row(1), "valid");
        assert_eq!(row(2), "张伟");
        assert_eq!(row(3), "2023-01-05");
    }
}
