//! The review queue as analysts read it, and the check a decision passes before it is recorded:
//! the mention and the person must exist in the current night.

use datafusion::common::ParamValues;
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;

use super::{QueryError, Rows, count};
use crate::link::review::MentionRef;

/// The pending candidates, with the mention and the candidate person side by side.
pub async fn queue(ctx: &SessionContext) -> Result<Rows, QueryError> {
    Rows::sql(
        ctx,
        "SELECT q.source || ':' || q.record_key || ':' || q.role AS mention, q.name_raw AS mention_name, \
         q.citizen_id_raw AS mention_number, round(q.match_weight, 1) AS match_weight, q.person_key, p.name AS person_name, p.citizen_id AS person_number, \
         CAST(p.birth_date AS VARCHAR) AS person_born \
         FROM review_queue q LEFT JOIN person p ON p.person_key = q.person_key ORDER BY match_weight DESC, mention",
    )
    .await
}

/// Fails, saying what exists, unless the night has the mention and the person.
pub async fn check_decision(ctx: &SessionContext, night: u32, mention: &MentionRef, person_key: &str) -> Result<(), QueryError> {
    let text = |v: &str| ScalarValue::Utf8(Some(v.to_string()));
    let params = ParamValues::from(vec![
        ("source", text(&mention.source)),
        ("record_key", text(&mention.record_key)),
        ("role", text(&mention.role)),
        ("person_key", text(person_key)),
    ]);
    let found = |sql: &str| {
        let params = params.clone();
        let sql = sql.to_string();
        async move { Rows::collect(ctx.sql(&sql).await?.with_param_values(params)?).await.map(|r| r.batches.iter().map(|b| b.num_rows()).sum::<usize>() > 0) }
    };
    if !found("SELECT 1 FROM person_source WHERE source = $source AND record_key = $record_key AND role = $role").await? {
        let roles = count(ctx, "SELECT COUNT(DISTINCT source || ':' || role) FROM person_source").await?;
        return Err(QueryError::NotFound(format!(
            "night {night} has no mention {mention}; mentions are SOURCE:RECORD_KEY:ROLE over {roles} source roles (see `pophub review list`)"
        )));
    }
    if !found("SELECT 1 FROM person WHERE person_key = $person_key").await? {
        return Err(QueryError::NotFound(format!("night {night} has no person {person_key}; candidates are in `pophub review list`")));
    }
    Ok(())
}
