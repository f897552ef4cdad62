//! The standing reports. Each is a readable SQL file under `reports/`; this module supplies its
//! parameters and the tables it needs beyond the warehouse (the persons an exclusion list names).

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema};
use chrono::NaiveDate;
use datafusion::catalog::view::ViewTable;
use datafusion::common::{DFSchema, ParamValues};
use datafusion::logical_expr::{EmptyRelation, LogicalPlan, LogicalPlanBuilder};
use datafusion::prelude::{DataFrame, SessionContext, col, lit};
use datafusion::scalar::ScalarValue;

use super::{QueryError, Rows};
use crate::identity::dates::{to_date32, years_before};

/// The SQL of the deceased-pensions report (`reports/deceased_pensions.sql`).
pub const DECEASED_PENSIONS_SQL: &str = include_str!("../../reports/deceased_pensions.sql");
/// The SQL of the voter-roll report (`reports/voter_roll.sql`); it takes `$district` (NULL for
/// every district) and `$latest_birth_date`, and reads the table `excluded`.
pub const VOTER_ROLL_SQL: &str = include_str!("../../reports/voter_roll.sql");

/// Pension payments for months after the month the person died, by the earliest death evidence.
pub async fn deceased_pensions(ctx: &SessionContext) -> Result<Rows, QueryError> {
    Rows::sql(ctx, DECEASED_PENSIONS_SQL).await
}

/// The voters of district `district` (its six-digit code; `None` for every district) on
/// `election_day`: aged 18 or over, registered there, with no death evidence, and not among the
/// `excluded` persons (their keys: the persons an external list names, see `external`).
pub async fn voter_roll(ctx: &SessionContext, district: Option<&str>, election_day: NaiveDate, excluded: &[String]) -> Result<Rows, QueryError> {
    Rows::collect(voter_roll_frame(ctx, district, election_day, excluded).await?).await
}

/// How many voters each district has on `election_day`: `district_code`, `voters`, by code.
pub async fn voters_by_district(ctx: &SessionContext, election_day: NaiveDate) -> Result<Rows, QueryError> {
    use datafusion::functions_aggregate::count::count;
    use datafusion::prelude::{col, lit};
    let frame = voter_roll_frame(ctx, None, election_day, &[]).await?;
    Rows::collect(frame.aggregate(vec![col("district_code")], vec![count(lit(1)).alias("voters")])?.sort(vec![col("district_code").sort(true, false)])?).await
}

async fn voter_roll_frame(ctx: &SessionContext, district: Option<&str>, election_day: NaiveDate, excluded: &[String]) -> Result<DataFrame, QueryError> {
    // The keys as a plan of values (not a table in memory), so the roll's plan can go to a cluster.
    let persons = match excluded {
        [] => {
            let schema = Schema::new(vec![Field::new("person_key", DataType::Utf8, false)]);
            LogicalPlan::EmptyRelation(EmptyRelation { produce_one_row: false, schema: Arc::new(DFSchema::try_from(schema)?) })
        }
        keys => LogicalPlanBuilder::values(keys.iter().map(|k| vec![lit(k.as_str())]).collect())?.project(vec![col("column1").alias("person_key")])?.build()?,
    };
    ctx.deregister_table("excluded")?;
    ctx.register_table("excluded", Arc::new(ViewTable::new(persons, None)))?;
    let params = ParamValues::from(vec![
        ("district", ScalarValue::Utf8(district.map(str::to_string))),
        ("latest_birth_date", ScalarValue::Date32(Some(to_date32(years_before(election_day, 18))))),
    ]);
    Ok(ctx.sql(VOTER_ROLL_SQL).await?.with_param_values(params)?)
}
