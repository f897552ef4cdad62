//! `pophub explain`: why two mentions were or were not linked, as a waterfall from nothing to
//! the final score, each comparison's points on its own line. With one mention, it is compared
//! with the record that founded its person.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::DataType;
use datafusion::common::ParamValues;
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;

use super::QueryError;
use crate::identity::citizen_id::{self, IdStatus};
use crate::identity::{dates, names};
use crate::link::score::{IdEvidence, Side, breakdown};

pub use crate::link::review::MentionRef;

/// One published mention, as text.
struct Mention {
    label: String,
    fields: Vec<Option<String>>,
}

const COLUMNS: &str = "citizen_id, id_status, name_raw, name_key, sex, CAST(birth_date AS VARCHAR), address_key, household_no, person_key, link_rule, CAST(link_points AS VARCHAR), source, record_key, role";

impl Mention {
    fn get(&self, i: usize) -> Option<&str> {
        self.fields[i].as_deref().filter(|v| !v.is_empty())
    }

    fn side(&self) -> Side<'_> {
        let usable = self.get(1).is_some_and(|s| s == IdStatus::Valid.as_str() || s == IdStatus::Upgraded15.as_str());
        let id = if usable { self.get(0) } else { None };
        let name_key = self.get(3);
        Side {
            citizen_id: id,
            name_key,
            pinyin: None,
            sex: self.get(4),
            birth_date: self.get(5).and_then(|d| d.parse().ok()).map(dates::to_date32),
            address_key: self.get(6),
            household: self.get(7),
            id_birth_date: id.and_then(citizen_id::birth_date).map(dates::to_date32),
            id_sex: id.and_then(citizen_id::sex).map(|s| if s == 'M' { "M" } else { "F" }),
        }
    }
}

fn rows_of(batches: &[RecordBatch]) -> Vec<Vec<Option<String>>> {
    let mut out = Vec::new();
    for b in batches {
        let columns: Vec<_> = b.columns().iter().map(|c| arrow::compute::cast(c, &DataType::Utf8).expect("to text")).collect();
        for r in 0..b.num_rows() {
            out.push(columns.iter().map(|c| (!c.is_null(r)).then(|| c.as_string::<i32>().value(r).to_string())).collect());
        }
    }
    out
}

async fn query(ctx: &SessionContext, sql: &str, params: Vec<(&str, String)>) -> Result<Vec<Vec<Option<String>>>, QueryError> {
    let params = ParamValues::from(params.into_iter().map(|(k, v)| (k, ScalarValue::Utf8(Some(v)))).collect::<Vec<_>>());
    Ok(rows_of(&ctx.sql(sql).await?.with_param_values(params)?.collect().await?))
}

async fn mention(ctx: &SessionContext, m: &MentionRef) -> Result<Mention, QueryError> {
    let sql = format!("SELECT {COLUMNS} FROM person_source WHERE source = $s AND record_key = $k AND role = $r");
    let rows = query(ctx, &sql, vec![("s", m.source.clone()), ("k", m.record_key.clone()), ("r", m.role.clone())]).await?;
    let fields = rows.into_iter().next().ok_or_else(|| {
        QueryError::Output(format!("no mention {}:{}:{} in person_source; list some with `pophub sql \"SELECT source, record_key, role FROM person_source LIMIT 5\"`", m.source, m.record_key, m.role))
    })?;
    Ok(Mention { label: format!("{}:{}:{}", m.source, m.record_key, m.role), fields })
}

/// The explanation as text.
pub async fn explain(ctx: &SessionContext, a: &MentionRef, b: Option<&MentionRef>, match_points: i32, margin_points: i32) -> Result<String, QueryError> {
    let first = mention(ctx, a).await?;
    let mut out = String::new();
    let second = match b {
        Some(b) => mention(ctx, b).await?,
        None => {
            let Some(person) = first.get(8).map(str::to_string) else {
                return Ok(format!("{} is unmatched: no candidate reached {match_points} points with a lead of {margin_points} (best seen: {}).\n", first.label, first.get(10).unwrap_or("none")));
            };
            let sql = format!("SELECT {COLUMNS} FROM person_source WHERE person_key = $p AND link_rule IN ('register', 'new_person')");
            let founder = query(ctx, &sql, vec![("p", person.clone())]).await?.into_iter().next();
            let Some(fields) = founder else { return Err(QueryError::Output(format!("person {person} has no founding record"))) };
            let founder = Mention { label: format!("{}:{}:{}", fields[11].clone().unwrap_or_default(), fields[12].clone().unwrap_or_default(), fields[13].clone().unwrap_or_default()), fields };
            if founder.label == first.label {
                return Ok(format!("{} founded person {person} (rule {}).\n", first.label, first.get(9).unwrap_or("")));
            }
            out.push_str(&format!("{} was linked to person {person} by rule {} with {} points; compared with the record that founded the person:\n", first.label, first.get(9).unwrap_or(""), first.get(10).unwrap_or("?")));
            founder
        }
    };
    for m in [&first, &second] {
        out.push_str(&format!(
            "  {}: {} · number {} ({}) · born {} · sex {}\n",
            m.label,
            m.get(2).unwrap_or("(no name)"),
            m.get(0).unwrap_or("-"),
            m.get(1).unwrap_or("-"),
            m.get(5).unwrap_or("-"),
            m.get(4).unwrap_or("-")
        ));
    }
    let (pa, pb) = (first.get(3).map(names::pinyin_key), second.get(3).map(names::pinyin_key));
    let side_a = Side { pinyin: pa.as_deref(), ..first.side() };
    let side_b = Side { pinyin: pb.as_deref(), ..second.side() };
    let evidence = id_evidence(ctx, &first, &side_a, &side_b).await?;
    let (parts, _) = breakdown(&side_a, &side_b, evidence);
    let mut total = 0;
    out.push_str(&format!("  {:<12} {:<52} {:>6} {:>6}\n", "prior", "", 0, 0));
    for (what, outcome, points) in parts {
        total += points;
        out.push_str(&format!("  {what:<12} {outcome:<52} {points:>+6} {total:>6}\n"));
    }
    let same_person = first.get(8).is_some() && first.get(8) == second.get(8);
    out.push_str(&format!(
        "  total {total}: a link needs {match_points} and a lead of {margin_points} over other candidates; the two mentions {} one person key.\n",
        if same_person { "share" } else { "do not share" }
    ));
    Ok(out)
}

/// How the first mention's number relates to the second's, as the linker saw it.
async fn id_evidence(ctx: &SessionContext, first: &Mention, a: &Side<'_>, b: &Side<'_>) -> Result<IdEvidence, QueryError> {
    if let (Some(x), Some(y)) = (a.citizen_id, b.citizen_id) {
        if x == y {
            return Ok(IdEvidence::Same);
        }
    }
    if first.get(1) == Some(IdStatus::ChecksumFailed.as_str()) {
        let repaired = citizen_id::repair_candidates(first.get(0).unwrap_or_default());
        if b.citizen_id.is_some_and(|y| repaired.iter().any(|c| c == y)) {
            return Ok(IdEvidence::Repaired);
        }
    }
    let Some(x) = a.citizen_id else { return Ok(IdEvidence::Silent) };
    let owners = query(ctx, "SELECT person_key FROM person WHERE citizen_id = $id", vec![("id", x.to_string())]).await?;
    Ok(match (owners.is_empty(), b.citizen_id) {
        (false, _) => IdEvidence::Silent,
        (true, Some(_)) => IdEvidence::Conflicting,
        (true, None) => IdEvidence::Unclaimed,
    })
}
