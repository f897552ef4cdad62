//! The one place where pophub's functions are made and registered with DataFusion, so pipeline
//! expressions, the pipeline's own plans, analysts' SQL and plans run elsewhere (a Ballista
//! scheduler and its executors) all see the same set. The functions that judge dates against
//! the run's day are values of `Dated`, which holds the day, so a plan that names one carries
//! it: `FunctionCodec` writes the day when a plan is serialised (datafusion-proto, as Ballista
//! sends plans) and rebuilds the function from it on the other side, which registers nothing.

use std::sync::{Arc, OnceLock};

use arrow::array::{ArrayRef, AsArray, StringArray};
use arrow::datatypes::{DataType, SchemaRef};
use chrono::NaiveDate;
use datafusion::catalog::TableProvider;
use datafusion::common::{TableReference, not_impl_err, plan_err};
use datafusion::error::Result;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{
    ColumnarValue, Extension, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, create_udf,
};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};

use super::{citizen_id, division, names, normalize_ids, parse_dates};
use crate::address::{self, Districts};

/// pophub's functions for a day (the run's `as_of`, which dates are judged against).
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
        // The division table is read when a statement first reads an address, not for every session.
        let districts: Arc<OnceLock<Districts>> = Arc::default();
        let room = districts.clone();
        let mut all: Vec<ScalarUDF> = DatedKind::ALL.iter().map(|kind| ScalarUDF::new_from_impl(Dated::new(*kind, self.as_of))).collect();
        all.extend([
            text_function(
                "citizen_id_region",
                Arc::new(|a| {
                    Arc::new(a.iter().map(|v| v.and_then(citizen_id::region_code).and_then(division::decode).map(|r| r.name)).collect::<StringArray>())
                }),
            ),
            text_function("name_key", Arc::new(|a| Arc::new(a.iter().map(|v| v.map(names::matching_key)).collect::<StringArray>()))),
            text_function(
                "name_pinyin",
                Arc::new(|a| Arc::new(a.iter().map(|v| v.map(|v| names::pinyin_key(&names::matching_key(v)))).collect::<StringArray>())),
            ),
            text_function("address_key", Arc::new(move |a| Arc::new(address::room_keys(room.get_or_init(Districts::new), a)))),
            text_function("address_building_key", Arc::new(move |a| Arc::new(address::building_keys(districts.get_or_init(Districts::new), a)))),
            text_function("dwelling_key", Arc::new(|a| Arc::new(a.iter().map(|v| v.map(address::dwelling_key)).collect::<StringArray>()))),
        ]);
        all.extend(crate::access::masks::udfs());
        all
    }
}

/// A function of one text (any type cast to text) to text, element by element of its column:
/// most of pophub's functions and the masks are made this way.
pub(crate) fn text_function(name: &str, f: Arc<dyn Fn(&StringArray) -> ArrayRef + Send + Sync>) -> ScalarUDF {
    create_udf(
        name,
        vec![DataType::Utf8],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let input = arrow::compute::cast(&arrays[0], &DataType::Utf8)?;
            Ok(ColumnarValue::Array(f(input.as_string::<i32>())))
        }),
    )
}

/// The functions whose results depend on the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum DatedKind {
    /// `citizen_id_normalize`: a number's normal form (a 15-digit number born by then upgraded).
    Normalize,
    /// `citizen_id_status`: `valid`, `repaired`…; a birth date after the day is impossible.
    Status,
    /// `parse_date`: a date in any of the departments' formats; after the day, none.
    ParseDate,
}

impl DatedKind {
    const ALL: [DatedKind; 3] = [DatedKind::Normalize, DatedKind::Status, DatedKind::ParseDate];

    fn name(self) -> &'static str {
        match self {
            DatedKind::Normalize => "citizen_id_normalize",
            DatedKind::Status => "citizen_id_status",
            DatedKind::ParseDate => "parse_date",
        }
    }
}

/// A function of text judged against a day, which it holds (and a plan carries).
#[derive(Debug, PartialEq, Eq, Hash)]
struct Dated {
    kind: DatedKind,
    as_of: NaiveDate,
    signature: Signature,
}

impl Dated {
    fn new(kind: DatedKind, as_of: NaiveDate) -> Dated {
        Dated { kind, as_of, signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for Dated {
    fn name(&self) -> &str {
        self.kind.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(if self.kind == DatedKind::ParseDate { DataType::Date32 } else { DataType::Utf8 })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let input = arrow::compute::cast(&arrays[0], &DataType::Utf8)?;
        let input = input.as_string::<i32>();
        let out: ArrayRef = match self.kind {
            DatedKind::Normalize => Arc::new(normalize_ids(input, self.as_of).0),
            DatedKind::Status => Arc::new(normalize_ids(input, self.as_of).1),
            DatedKind::ParseDate => Arc::new(parse_dates(input, self.as_of)),
        };
        Ok(ColumnarValue::Array(out))
    }
}

/// How a function's day is written in a plan.
const DAY: &str = "%Y-%m-%d";

/// The datafusion-proto codec of plans that use pophub's functions: a dated function is written
/// with its day, the others by name, and both are made anew from this module when read.
#[derive(Debug, Clone, Copy, Default)]
pub struct FunctionCodec;

impl FunctionCodec {
    fn encode(function: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        let function: &dyn std::any::Any = function.inner().as_ref();
        if let Some(dated) = function.downcast_ref::<Dated>() {
            buf.extend_from_slice(dated.as_of.format(DAY).to_string().as_bytes());
        }
        Ok(())
    }

    fn decode(name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        let day = match std::str::from_utf8(buf).ok().filter(|d| !d.is_empty()) {
            Some(day) => match NaiveDate::parse_from_str(day, DAY) {
                Ok(day) => Some(day),
                Err(_) => return plan_err!("function `{name}` comes with `{day}`, which is not a day"),
            },
            None => None,
        };
        // Undated functions do not read the day, so any makes them.
        let made = Functions::new(day.unwrap_or_default()).all().into_iter().find(|f| f.name() == name);
        match made {
            Some(f) if day.is_none() && (f.inner().as_ref() as &dyn std::any::Any).is::<Dated>() => {
                plan_err!("function `{name}` judges dates against a day, which this plan does not give with it")
            }
            Some(f) => Ok(Arc::new(f)),
            None => plan_err!("function `{name}` is not known here, neither DataFusion's nor pophub's: is this side an older pophub?"),
        }
    }
}

impl LogicalExtensionCodec for FunctionCodec {
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
        FunctionCodec::decode(name, buf)
    }

    fn try_encode_udf(&self, function: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        FunctionCodec::encode(function, buf)
    }
}

impl PhysicalExtensionCodec for FunctionCodec {
    fn try_decode(&self, _buf: &[u8], _inputs: &[Arc<dyn ExecutionPlan>], _ctx: &TaskContext, _proto: &dyn PhysicalProtoConverterExtension) -> Result<Arc<dyn ExecutionPlan>> {
        not_impl_err!("pophub's plan nodes are not sent to executors")
    }

    fn try_encode(&self, node: Arc<dyn ExecutionPlan>, _buf: &mut Vec<u8>, _proto: &dyn PhysicalProtoConverterExtension) -> Result<()> {
        not_impl_err!("plan node {} is not sent to executors", node.name())
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        FunctionCodec::decode(name, buf)
    }

    fn try_encode_udf(&self, function: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        FunctionCodec::encode(function, buf)
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
        let bytes = datafusion_proto::bytes::physical_plan_to_bytes_with_extension_codec(plan, &FunctionCodec).unwrap();
        let elsewhere = SessionContext::new();
        assert!(!elsewhere.state().scalar_functions().contains_key("parse_date"), "the other side has no pophub function of its own");
        let plan = datafusion_proto::bytes::physical_plan_from_bytes_with_extension_codec(&bytes, &elsewhere.task_ctx(), &FunctionCodec).unwrap();
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
        let err = FunctionCodec::decode("parse_date", b"").unwrap_err().to_string();
        assert!(err.contains("does not give"), "{err}");
        let err = FunctionCodec::decode("no_such_function", b"2026-11-23").unwrap_err().to_string();
        assert!(err.contains("not known here"), "{err}");
        // An undated function travels by name and is made on the other side.
        assert_eq!(FunctionCodec::decode("name_key", b"").unwrap().name(), "name_key");
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
