//! The figures of the night's report that come from the night's tables rather than its manifest:
//! each a small aggregate query, so a night of ten million people costs a few scans.

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::prelude::SessionContext;
use serde::{Deserialize, Serialize};

use super::ReportError;
use crate::access::masks;
use crate::config::access::MaskKind;
use crate::query::{self, QueryError, Rows, reports};
use crate::warehouse::{Night, Warehouse};

/// Quarantined rows shown per source and reason.
const EXAMPLES_PER_REASON: usize = 3;
/// Match weights are counted in bins this wide.
pub(super) const WEIGHT_BIN: f64 = 1.0;
/// Weights beyond these are counted in the outermost bins.
const WEIGHT_RANGE: (f64, f64) = (-20.0, 40.0);

/// A quarantined row, its personal data masked as the `analyst` role sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QuarantineExample {
    /// The source.
    pub source: String,
    /// The quarantine reason code.
    pub reason: String,
    /// The file, as the pipeline resolved it.
    pub file: String,
    /// Readable position, e.g. `line 12`.
    pub position: String,
    /// The mapped field at fault; empty for the whole row.
    pub column: String,
    /// The raw value, masked where it is personal data (ID numbers, names, addresses, birth dates,
    /// and whole rows).
    pub value: String,
}

/// The ID numbers of one source's mentions, by what became of them (each mention counted once,
/// in this order: repaired, legacy 15-digit, valid, Excel-damaged, missing, other invalid).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IdQuality {
    /// The source.
    pub source: String,
    /// Valid 18-digit numbers.
    pub valid: u64,
    /// Broken numbers linked by a repair candidate (`link_rule = id_repaired`).
    pub repaired: u64,
    /// Legacy 15-digit numbers, upgraded.
    pub legacy_15: u64,
    /// Numbers Excel turned into floating point (`4.20502E+17`).
    pub excel_damaged: u64,
    /// No number.
    pub missing: u64,
    /// Checksum failures, impossible dates, malformed numbers not repaired.
    pub invalid: u64,
    /// Mentions carrying the number of a person they were not linked to (a family member's
    /// number keyed by mistake): counted also under `valid`.
    pub other_persons_number: u64,
}

/// Mentions whose chosen (or best) candidate's match weight fell in `[from, from + 1)`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WeightBin {
    /// The bin's lower bound.
    pub from: f64,
    /// Mentions linked on a match weight in the bin.
    pub linked: u64,
    /// Mentions left unlinked (or founding a person) whose best candidate is in the bin.
    pub unlinked: u64,
}

/// The standing reports' headline counts on the night's day.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StandingCounts {
    /// Persons paid a pension for months after their death.
    pub deceased_with_pension: u64,
    /// Months paid after death, over those persons.
    pub months_paid_after_death: u64,
    /// The amount paid after death.
    pub amount_overpaid: f64,
    /// Voters per district (six-digit code) on the night's day.
    pub voters_by_district: Vec<(String, u64)>,
}

/// The figures of a committed night's tables.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NightFigures {
    /// Quarantined rows, a few per source and reason.
    pub quarantine_examples: Vec<QuarantineExample>,
    /// Per source with person mentions.
    pub id_quality: Vec<IdQuality>,
    /// The match-weight distribution, lowest bin first.
    pub weights: Vec<WeightBin>,
    /// Candidates in the review queue.
    pub review_queue: u64,
    /// Identity conflicts by kind (`issued_twice`, `number_of_other_person`).
    pub identity_conflicts: BTreeMap<String, u64>,
    /// Mentions that moved between persons since the night before, by kind (`merged`, `split`,
    /// `linked`, `unlinked`).
    pub mentions_moved: BTreeMap<String, u64>,
    /// The standing reports.
    pub standing: StandingCounts,
}

impl NightFigures {
    /// Queries the figures from the night's tables.
    pub async fn of(warehouse: &Warehouse, night: &Night) -> Result<NightFigures, ReportError> {
        let (ctx, night) = query::open(warehouse, Some(night.night)).await.map_err(|e| fail("tables", e))?;
        Ok(NightFigures {
            quarantine_examples: quarantine_examples(&ctx).await.map_err(|e| fail("quarantine examples", e))?,
            id_quality: id_quality(&ctx).await.map_err(|e| fail("ID quality", e))?,
            weights: weights(&ctx).await.map_err(|e| fail("match weights", e))?,
            review_queue: query::count(&ctx, "SELECT COUNT(*) FROM review_queue").await.map_err(|e| fail("review queue", e.into()))?,
            identity_conflicts: counts(&ctx, "SELECT kind, COUNT(*) FROM identity_conflict GROUP BY kind").await.map_err(|e| fail("identity conflicts", e))?,
            mentions_moved: counts(&ctx, &format!("SELECT kind, SUM(mentions) FROM person_key_event WHERE run_id = '{}' GROUP BY kind", night.run_id.replace('\'', "''")))
                .await
                .map_err(|e| fail("person key events", e))?,
            standing: standing(&ctx, query::night_date(&night)).await.map_err(|e| fail("standing reports", e))?,
        })
    }
}

fn fail(figure: &'static str, source: QueryError) -> ReportError {
    ReportError::Query { figure, source: Box::new(source) }
}

/// Column `i` of a batch as text (empty for NULL).
fn text(batch: &RecordBatch, i: usize) -> Result<Vec<String>, QueryError> {
    let column = arrow::compute::cast(batch.column(i), &DataType::Utf8)?;
    let column = column.as_string::<i32>();
    Ok((0..column.len()).map(|r| if column.is_null(r) { String::new() } else { column.value(r).to_string() }).collect())
}

/// Column `i` of a batch as counts (0 for NULL).
fn numbers(batch: &RecordBatch, i: usize) -> Result<Vec<u64>, QueryError> {
    let column = arrow::compute::cast(batch.column(i), &DataType::Int64)?;
    let column = column.as_primitive::<Int64Type>();
    Ok((0..column.len()).map(|r| if column.is_null(r) { 0 } else { column.value(r).max(0) as u64 }).collect())
}

/// A `SELECT key, count … GROUP BY key` as a map.
async fn counts(ctx: &SessionContext, sql: &str) -> Result<BTreeMap<String, u64>, QueryError> {
    counted(&Rows::sql(ctx, sql).await?)
}

/// Rows of a key and a count as a map, by key.
fn counted(rows: &Rows) -> Result<BTreeMap<String, u64>, QueryError> {
    let mut out = BTreeMap::new();
    for b in &rows.batches {
        for (k, n) in text(b, 0)?.into_iter().zip(numbers(b, 1)?) {
            out.insert(k, n);
        }
    }
    Ok(out)
}

async fn quarantine_examples(ctx: &SessionContext) -> Result<Vec<QuarantineExample>, QueryError> {
    let sql = format!(
        "SELECT source, reason, file, position, \"column\", value FROM ( \
           SELECT *, row_number() OVER (PARTITION BY source, reason ORDER BY file, \"row\") AS n FROM quarantine) \
         WHERE n <= {EXAMPLES_PER_REASON} ORDER BY source, reason, n"
    );
    let rows = Rows::sql(ctx, &sql).await?;
    let mut out = Vec::new();
    for b in &rows.batches {
        let columns: Vec<Vec<String>> = (0..6).map(|i| text(b, i)).collect::<Result<_, _>>()?;
        let rows = (0..b.num_rows()).map(|r| columns.iter().map(|c| c[r].clone()).collect::<Vec<_>>());
        for row in rows {
            let [source, reason, file, position, column, value]: [String; 6] = row.try_into().expect("six columns");
            out.push(QuarantineExample { source, reason, file, position, value: masked(&column, &value), column });
        }
    }
    Ok(out)
}

/// A quarantined value as a role without personal data sees it: by the kind of field at fault,
/// and a whole row (no field named) with only its punctuation kept, so its shape shows.
fn masked(column: &str, value: &str) -> String {
    let field = column.rsplit('.').next().unwrap_or(column);
    match masks::personal_kind("*", field) {
        Some(MaskKind::CitizenId) => masks::citizen_id(value),
        Some(MaskKind::Name) => masks::name(value),
        Some(MaskKind::Address) => masks::address(value),
        Some(MaskKind::BirthDate) => masks::birth_date_text(value),
        Some(MaskKind::Raw) => masks::raw(value),
        None if column.is_empty() || column == "record_key" => masks::raw(value),
        None => value.to_string(),
    }
}

async fn id_quality(ctx: &SessionContext) -> Result<Vec<IdQuality>, QueryError> {
    let sql = "SELECT source, \
         CASE WHEN link_rule = 'id_repaired' THEN 'repaired' \
              WHEN id_status IN ('upgraded_15', 'centenarian_15') THEN 'legacy_15' \
              WHEN id_status = 'valid' THEN 'valid' \
              WHEN id_status = 'excel_damaged' THEN 'excel_damaged' \
              WHEN id_status = 'missing' THEN 'missing' \
              ELSE 'invalid' END AS quality, \
         COUNT(*) FROM person_source GROUP BY 1, 2 \
       UNION ALL SELECT source, 'other_persons_number', COUNT(*) FROM identity_conflict \
         WHERE kind = 'number_of_other_person' GROUP BY 1, 2";
    let rows = Rows::sql(ctx, sql).await?;
    let mut by_source: BTreeMap<String, IdQuality> = BTreeMap::new();
    for b in &rows.batches {
        for ((source, quality), n) in text(b, 0)?.into_iter().zip(text(b, 1)?).zip(numbers(b, 2)?) {
            let q = by_source.entry(source.clone()).or_insert_with(|| IdQuality { source, ..Default::default() });
            let slot = match quality.as_str() {
                "valid" => &mut q.valid,
                "repaired" => &mut q.repaired,
                "legacy_15" => &mut q.legacy_15,
                "excel_damaged" => &mut q.excel_damaged,
                "missing" => &mut q.missing,
                "other_persons_number" => &mut q.other_persons_number,
                _ => &mut q.invalid,
            };
            *slot += n;
        }
    }
    Ok(by_source.into_values().collect())
}

async fn weights(ctx: &SessionContext) -> Result<Vec<WeightBin>, QueryError> {
    let (low, high) = WEIGHT_RANGE;
    let sql = format!(
        "SELECT floor(greatest(least(match_weight, {high}), {low}) / {WEIGHT_BIN}) * {WEIGHT_BIN} AS bin, \
                link_rule NOT IN ('unmatched', 'new_person') AS linked, COUNT(*) \
         FROM person_source WHERE match_weight IS NOT NULL GROUP BY 1, 2 ORDER BY 1"
    );
    let rows = Rows::sql(ctx, &sql).await?;
    let mut bins: BTreeMap<i64, WeightBin> = BTreeMap::new();
    for b in &rows.batches {
        let from = arrow::compute::cast(b.column(0), &DataType::Float64)?;
        let from = from.as_primitive::<Float64Type>();
        let linked = b.column(1).as_boolean();
        for (r, n) in numbers(b, 2)?.into_iter().enumerate() {
            let lower = from.value(r);
            let bin = bins.entry((lower / WEIGHT_BIN) as i64).or_insert(WeightBin { from: lower, linked: 0, unlinked: 0 });
            if linked.value(r) { bin.linked += n } else { bin.unlinked += n }
        }
    }
    Ok(bins.into_values().collect())
}

async fn standing(ctx: &SessionContext, day: chrono::NaiveDate) -> Result<StandingCounts, QueryError> {
    let deceased = Rows::sql(
        ctx,
        &format!("SELECT COUNT(*), SUM(months_paid_after_death), CAST(SUM(amount_overpaid) AS DOUBLE) FROM ({})", reports::DECEASED_PENSIONS_SQL),
    )
    .await?;
    let (mut persons, mut months, mut amount) = (0, 0, 0.0);
    if let Some(b) = deceased.batches.iter().find(|b| b.num_rows() > 0) {
        persons = numbers(b, 0)?[0];
        months = numbers(b, 1)?[0];
        let sum = b.column(2).as_primitive::<Float64Type>();
        amount = if sum.is_null(0) { 0.0 } else { sum.value(0) };
    }
    Ok(StandingCounts {
        deceased_with_pension: persons,
        months_paid_after_death: months,
        amount_overpaid: amount,
        voters_by_district: counted(&reports::voters_by_district(ctx, day).await?)?.into_iter().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::masked;

    #[test]
    fn quarantined_personal_data_is_masked_and_other_values_are_shown() {
        assert_eq!(masked("citizen_id", "42050219900101123X"), "420502********123X");
        assert_eq!(masked("facts.amount", "12O0.00"), "12O0.00");
        let row = masked("", "张三,42050219900101123X,1990-01-01");
        assert!(!row.contains('张') && !row.contains("4205021990"), "{row}");
        assert_eq!(row.matches(',').count(), 2, "{row}");
    }
}
