//! `pophub explain`: why two mentions were or were not linked, as a waterfall from the prior to
//! the final match weight, each comparison's weight on its own line, under the warehouse's
//! linkage model and the night's name frequencies. With one mention, it is compared with the
//! record that founded its person.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::DataType;
use datafusion::common::ParamValues;
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;

use super::{NightLinkage, QueryError};
use crate::identity::dates;
use crate::link::score::{Holder, NameFrequencies, Scorer, Side, id_evidence, repairs};

pub use crate::link::review::MentionRef;

/// One published mention, as text.
struct Mention {
    label: String,
    fields: Vec<Option<String>>,
}

const COLUMNS: &str = "citizen_id, id_status, name_raw, name_key, sex, CAST(birth_date AS VARCHAR), address_key, household_no, person_key, link_rule, CAST(round(match_weight, 1) AS VARCHAR), source, record_key, role, name_pinyin";

impl Mention {
    fn get(&self, i: usize) -> Option<&str> {
        self.fields[i].as_deref().filter(|v| !v.is_empty())
    }

    fn side(&self) -> Side<'_> {
        let fields = Side {
            name_key: self.get(3),
            pinyin: self.get(14),
            sex: self.get(4),
            birth_date: self.get(5).and_then(|d| d.parse().ok()).map(dates::to_date32),
            address_key: self.get(6),
            household: self.get(7),
            ..Side::default()
        };
        Side::of_mention(self.get(0), self.get(1), fields)
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
        QueryError::NotFound(format!("no mention {}:{}:{} in person_source; list some with `pophub sql \"SELECT source, record_key, role FROM person_source LIMIT 5\"`", m.source, m.record_key, m.role))
    })?;
    Ok(Mention { label: format!("{}:{}:{}", m.source, m.record_key, m.role), fields })
}

/// The explanation as text, under the night's model and thresholds.
pub async fn explain(ctx: &SessionContext, linkage: &NightLinkage, a: &MentionRef, b: Option<&MentionRef>) -> Result<String, QueryError> {
    let (model, match_weight, margin_weight) = (&linkage.model, linkage.options.match_weight, linkage.options.margin_weight);
    let first = mention(ctx, a).await?;
    let mut out = String::new();
    let second = match b {
        Some(b) => mention(ctx, b).await?,
        None => {
            let Some(person) = first.get(8).map(str::to_string) else {
                return Ok(format!(
                    "{} is unmatched: no candidate reached a match weight of {match_weight} with a lead of {margin_weight} (best seen: {}).\n",
                    first.label,
                    first.get(10).unwrap_or("none")
                ));
            };
            let sql = format!("SELECT {COLUMNS} FROM person_source WHERE person_key = $p AND link_rule IN ('register', 'new_person')");
            let founder = query(ctx, &sql, vec![("p", person.clone())]).await?.into_iter().next();
            let Some(fields) = founder else { return Err(QueryError::NotFound(format!("person {person} has no founding record"))) };
            let founder = Mention { label: format!("{}:{}:{}", fields[11].clone().unwrap_or_default(), fields[12].clone().unwrap_or_default(), fields[13].clone().unwrap_or_default()), fields };
            if founder.label == first.label {
                let founded = format!("{} founded person {person} (rule {}).\n", first.label, first.get(9).unwrap_or(""));
                return Ok(founded + &golden_record(ctx, &person).await?);
            }
            out.push_str(&format!(
                "{} was linked to person {person} by rule {} with match weight {}; compared with the record that founded the person:\n",
                first.label,
                first.get(9).unwrap_or(""),
                first.get(10).unwrap_or("?")
            ));
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
    let (side_a, side_b) = (first.side(), second.side());
    let repairs = repairs(first.get(0), first.get(1));
    // Whose the first mention's number is: the names of the persons holding it.
    let holders = match side_a.citizen_id {
        Some(x) => query(ctx, "SELECT name_key, name_pinyin FROM person_source WHERE citizen_id = $id AND link_rule IN ('register', 'new_person')", vec![("id", x.to_string())]).await?,
        None => Vec::new(),
    };
    let holder_sides: Vec<Side> = holders.iter().map(|h| Side { name_key: h[0].as_deref(), pinyin: h[1].as_deref(), ..Side::default() }).collect();
    let holder = Holder::of(&side_a, &holder_sides);
    let mut frequencies = name_frequencies(ctx, &side_a).await?;
    if model.named_mentions > 0 {
        frequencies.fix_total(model.named_mentions);
    }
    let scorer = Scorer { model, frequencies: &frequencies };
    let score = scorer.score(&side_a, &side_b, id_evidence(&side_a, &repairs, holder, &side_b));
    let mut total = model.prior_weight;
    out.push_str(&format!("  {:<12} {:<56} {:>7} {:>7}\n", "", "", "weight", "total"));
    out.push_str(&format!("  {:<12} {:<56} {total:>+7.1} {total:>7.1}\n", "prior", "a random mention and person are one"));
    for part in scorer.breakdown(&side_a, &score) {
        total += part.weight;
        out.push_str(&format!("  {:<12} {:<56} {:>+7.1} {total:>7.1}\n", part.comparison, part.level, part.weight));
    }
    let same_person = first.get(8).is_some() && first.get(8) == second.get(8);
    let probability = 1.0 / (1.0 + (-total).exp2());
    out.push_str(&format!(
        "  match weight {total:.1} (probability {probability:.6}): a link needs {match_weight} and a lead of {margin_weight} over other candidates; the two mentions {} one person key.\n",
        if same_person { "share" } else { "do not share" }
    ));
    if let Some(person) = first.get(8) {
        out.push_str(&golden_record(ctx, person).await?);
    }
    Ok(out)
}

/// Where each of a person's attributes came from (`person_attribute`), for nights that have it.
async fn golden_record(ctx: &SessionContext, person: &str) -> Result<String, QueryError> {
    if !ctx.table_exist("person_attribute")? {
        return Ok(String::new());
    }
    let sql = "SELECT attribute, value, source, record_key, role, CAST(night AS VARCHAR), rule, CAST(mentions_agreeing AS VARCHAR) \
               FROM person_attribute WHERE person_key = $p ORDER BY attribute";
    let mut out = format!("person {person}'s golden record (pipeline [golden] rules):\n");
    for r in query(ctx, sql, vec![("p", person.to_string())]).await? {
        let field = |i: usize| r[i].as_deref().unwrap_or("-");
        out.push_str(&format!(
            "  {:<11} {:<12} from {}:{}:{} (since {}) by {}; {} mention(s) give it\n",
            field(0),
            field(1),
            field(2),
            field(3),
            field(4),
            field(5),
            field(6),
            field(7)
        ));
    }
    Ok(out)
}

/// How common the mention's name and reading are among the night's mentions, as the linker
/// counted them.
async fn name_frequencies<'a>(ctx: &SessionContext, side: &Side<'a>) -> Result<NameFrequencies<'a>, QueryError> {
    let mut frequencies = NameFrequencies::default();
    let (Some(name), Some(reading)) = (side.name_key, side.pinyin) else { return Ok(frequencies) };
    let sql = "SELECT CAST(COUNT(*) FILTER (WHERE name_key = $n) AS VARCHAR), CAST(COUNT(*) FILTER (WHERE name_pinyin = $p) AS VARCHAR), \
               CAST(COUNT(*) AS VARCHAR) FROM person_source WHERE name_key IS NOT NULL AND name_pinyin IS NOT NULL";
    let rows = query(ctx, sql, vec![("n", name.to_string()), ("p", reading.to_string())]).await?;
    let count = |i: usize| rows[0][i].as_deref().and_then(|v| v.parse::<u32>().ok()).unwrap_or(0);
    frequencies.set(name, reading, count(0), count(1), count(2));
    Ok(frequencies)
}
