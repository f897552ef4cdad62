//! The one place where pophub's functions are made and registered with DataFusion, so pipeline
//! expressions, the pipeline's own plans, analysts' SQL and plans run elsewhere (a Ballista
//! executor) all see the same set. The functions of a day (`Functions`) are also the codec of
//! the plans that use them: serialised (datafusion-proto, as Ballista sends plans to its
//! executors), each of pophub's functions is named with its day, and the side that reads the plan
//! rebuilds it here. Nothing a function needs is captured where a plan cannot carry it.

use std::sync::{Arc, OnceLock};

use arrow::array::{ArrayRef, AsArray, StringArray};
use arrow::datatypes::{DataType, SchemaRef};
use chrono::NaiveDate;
use datafusion::catalog::TableProvider;
use datafusion::common::{TableReference, not_impl_err, plan_err};
use datafusion::error::Result;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{ColumnarValue, Extension, LogicalPlan, ScalarUDF, Volatility, create_udf};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};

use super::{citizen_id, division, names, normalize_ids, parse_dates};
use crate::address::{self, Districts};

/// pophub's functions for a day (the run's `as_of`, which dates are judged against): registered
/// in a session, and the codec that carries them in its serialised plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Functions {
    as_of: NaiveDate,
}

impl Functions {
    /// The functions for the day.
    pub fn new(as_of: NaiveDate) -> Functions {
        Functions { as_of }
    }

    /// Registers `citizen_id_normalize`, `citizen_id_status`, `citizen_id_region`, `name_key`,
    /// `name_pinyin`, `address_key` (room level), `address_building_key`, `dwelling_key` (a house
    /// key from a room-level key) and `parse_date`, and the server's mask functions
    /// (`access::masks`).
    pub fn register(&self, ctx: &SessionContext) {
        for function in self.all() {
            ctx.register_udf(function);
        }
    }

    /// Every function, made for the day.
    fn all(&self) -> Vec<ScalarUDF> {
        let as_of = self.as_of;
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
        // The division table is read when a statement first reads an address, not for every session.
        let districts: Arc<OnceLock<Districts>> = Arc::default();
        let room = districts.clone();
        let mut all = vec![
            text_udf("citizen_id_normalize", DataType::Utf8, Arc::new(move |a| Arc::new(normalize_ids(a, as_of).0))),
            text_udf("citizen_id_status", DataType::Utf8, Arc::new(move |a| Arc::new(normalize_ids(a, as_of).1))),
            text_udf(
                "citizen_id_region",
                DataType::Utf8,
                Arc::new(|a| {
                    Arc::new(a.iter().map(|v| v.and_then(citizen_id::region_code).and_then(division::decode).map(|r| r.name)).collect::<StringArray>())
                }),
            ),
            text_udf("name_key", DataType::Utf8, Arc::new(|a| Arc::new(a.iter().map(|v| v.map(names::matching_key)).collect::<StringArray>()))),
            text_udf(
                "name_pinyin",
                DataType::Utf8,
                Arc::new(|a| Arc::new(a.iter().map(|v| v.map(|v| names::pinyin_key(&names::matching_key(v)))).collect::<StringArray>())),
            ),
            text_udf("address_key", DataType::Utf8, Arc::new(move |a| Arc::new(address::room_keys(room.get_or_init(Districts::new), a)))),
            text_udf(
                "address_building_key",
                DataType::Utf8,
                Arc::new(move |a| Arc::new(address::building_keys(districts.get_or_init(Districts::new), a))),
            ),
            text_udf("dwelling_key", DataType::Utf8, Arc::new(|a| Arc::new(a.iter().map(|v| v.map(address::dwelling_key)).collect::<StringArray>()))),
            text_udf("parse_date", DataType::Date32, Arc::new(move |a| Arc::new(parse_dates(a, as_of)))),
        ];
        all.extend(crate::access::masks::udfs());
        all
    }

    /// A plan's pophub function is written as its day; any other function is left to its name.
    fn encode(&self, function: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        if self.all().iter().any(|f| f.name() == function.name()) {
            buf.extend_from_slice(self.as_of.format(DAY).to_string().as_bytes());
        }
        Ok(())
    }

    /// The function a plan names with its day, made for that day.
    fn decode(name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        let day = std::str::from_utf8(buf).ok().and_then(|d| NaiveDate::parse_from_str(d, DAY).ok());
        let Some(as_of) = day else {
            return plan_err!("function `{name}` is not known here: a pophub function travels with its day, which this plan does not give");
        };
        match Functions::new(as_of).all().into_iter().find(|f| f.name() == name) {
            Some(function) => Ok(Arc::new(function)),
            None => plan_err!("function `{name}` is not one of pophub's: is the other side an older pophub?"),
        }
    }
}

/// How a function's day is written in a plan.
const DAY: &str = "%Y-%m-%d";

impl LogicalExtensionCodec for Functions {
    fn try_decode(&self, _buf: &[u8], _inputs: &[LogicalPlan], _ctx: &TaskContext) -> Result<Extension> {
        not_impl_err!("pophub's plan nodes are not sent as logical plans")
    }

    fn try_encode(&self, node: &Extension, _buf: &mut Vec<u8>) -> Result<()> {
        not_impl_err!("plan node {} is not sent as a logical plan", node.node.name())
    }

    fn try_decode_table_provider(&self, _buf: &[u8], table: &TableReference, _schema: SchemaRef, _ctx: &TaskContext) -> Result<Arc<dyn TableProvider>> {
        not_impl_err!("table `{table}` is not sent in a plan: only file listings are")
    }

    fn try_encode_table_provider(&self, table: &TableReference, _node: Arc<dyn TableProvider>, _buf: &mut Vec<u8>) -> Result<()> {
        not_impl_err!("table `{table}` cannot be sent in a plan: only file listings can (a night's tables are)")
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        Functions::decode(name, buf)
    }

    fn try_encode_udf(&self, function: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.encode(function, buf)
    }
}

impl PhysicalExtensionCodec for Functions {
    fn try_decode(&self, _buf: &[u8], _inputs: &[Arc<dyn ExecutionPlan>], _ctx: &TaskContext, _proto: &dyn PhysicalProtoConverterExtension) -> Result<Arc<dyn ExecutionPlan>> {
        not_impl_err!("pophub's plan nodes are not sent to executors")
    }

    fn try_encode(&self, node: Arc<dyn ExecutionPlan>, _buf: &mut Vec<u8>, _proto: &dyn PhysicalProtoConverterExtension) -> Result<()> {
        not_impl_err!("plan node {} is not sent to executors", node.name())
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        Functions::decode(name, buf)
    }

    fn try_encode_udf(&self, function: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.encode(function, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dated function's result on a plan that went through bytes to a session that never
    /// registered pophub's functions, as an executor's.
    async fn parse_elsewhere(as_of: NaiveDate) -> Option<String> {
        let here = crate::engine::session(as_of, None);
        let plan = here
            .sql("SELECT CAST(parse_date(d) AS VARCHAR) AS d FROM (VALUES ('2026年12月1日')) AS t(d)")
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap();
        let bytes = datafusion_proto::bytes::physical_plan_to_bytes_with_extension_codec(plan, &Functions::new(as_of)).unwrap();
        let elsewhere = SessionContext::new();
        assert!(!elsewhere.state().scalar_functions().contains_key("parse_date"), "the other side has no pophub function of its own");
        // The reading side's codec may be of any day: the plan's day decides.
        let any_day = Functions::new(NaiveDate::from_ymd_opt(2000, 1, 1).unwrap());
        let plan = datafusion_proto::bytes::physical_plan_from_bytes_with_extension_codec(&bytes, &elsewhere.task_ctx(), &any_day).unwrap();
        let rows = datafusion::physical_plan::collect(plan, elsewhere.task_ctx()).await.unwrap();
        let column = arrow::compute::cast(rows[0].column(0), &DataType::Utf8).unwrap();
        column.as_string::<i32>().iter().next().flatten().map(str::to_string)
    }

    #[tokio::test]
    async fn functions_travel_in_plans_with_their_day() {
        // 1 December is in the future on 23 November (no date), and a date on 31 December.
        assert_eq!(parse_elsewhere(NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()).await, None);
        assert_eq!(parse_elsewhere(NaiveDate::from_ymd_opt(2026, 12, 31).unwrap()).await.as_deref(), Some("2026-12-01"));

        // A plan naming a pophub function without its day is refused with a message, not guessed at.
        let err = Functions::decode("parse_date", b"").unwrap_err().to_string();
        assert!(err.contains("travels with its day"), "{err}");
        let err = Functions::decode("no_such_function", b"2026-11-23").unwrap_err().to_string();
        assert!(err.contains("not one of pophub's"), "{err}");
    }

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
