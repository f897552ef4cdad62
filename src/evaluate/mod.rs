//! Evaluate: scores a published warehouse against the generator's ground truth. Pairwise
//! precision and recall over person mentions (a pair is predicted-same when both mentions carry
//! one person key), false merges and splits, and both reports against their true lists.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema};
use datafusion::prelude::{CsvReadOptions, SessionContext};
use serde::Serialize;

use crate::external;
use crate::generate::VoterRollParams;
use crate::query::{self, QueryError, reports};

/// What can stop an evaluation.
#[derive(Debug, thiserror::Error)]
pub enum EvaluateError {
    /// A truth file is missing or cannot be read.
    #[error("{path}: {message}; point --truth at the truth/ folder `pophub generate` wrote")]
    Truth {
        /// The truth file at fault.
        path: PathBuf,
        /// What is wrong with it: `missing`, or the read or parse error.
        message: String,
    },
    /// Querying the night, or building a report on it, failed.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// The exclusion list cannot be read or matched.
    #[error(transparent)]
    List(#[from] external::ListError),
}

impl From<datafusion::error::DataFusionError> for EvaluateError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        EvaluateError::Query(e.into())
    }
}

/// How one report compares with the true list of persons it should give.
#[derive(Debug, Clone, Serialize)]
pub struct ReportScore {
    /// Distinct true persons the report should list.
    pub true_cases: u64,
    /// Rows the report lists.
    pub reported: u64,
    /// True persons the report lists, each person key standing for its mentions' main true person.
    pub found: u64,
    /// Rows whose person is not a true case.
    pub false_positives: u64,
    /// `found / true_cases`; 1 when there is no true case.
    pub recall: f64,
    /// Share of the report's rows that are true cases; 1 for an empty report.
    pub precision: f64,
}

/// A night's scores against the generator's truth.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// Mentions in the truth's `mentions.csv`.
    pub truth_mentions: u64,
    /// Truth mentions the night publishes in `person_source`.
    pub published_mentions: u64,
    /// Truth mentions the night does not publish (quarantined, for one).
    pub unpublished_truth_mentions: u64,
    /// Published mentions that no person key was given to.
    pub unlinked_mentions: u64,
    /// Pairs of published mentions of one true person.
    pub true_pairs: u64,
    /// Pairs of published mentions that share a person key.
    pub predicted_pairs: u64,
    /// Pairs that are of one true person and share a person key.
    pub correct_pairs: u64,
    /// `correct_pairs / predicted_pairs`; 1 when no pair was predicted.
    pub precision: f64,
    /// `correct_pairs / true_pairs`; 1 when there is no true pair.
    pub recall: f64,
    /// Harmonic mean of the pairwise precision and recall; 0 when both are 0.
    pub f1: f64,
    /// Predicted persons holding mentions of more than one true person.
    pub false_merges: u64,
    /// True persons spread over more than one predicted person.
    pub split_persons: u64,
    /// Published mentions without a usable ID number (missing, broken, Excel-damaged) of true
    /// persons with more than one mention.
    pub id_less_mentions: u64,
    /// Of those, the mentions linked to a person whose mentions are mostly their own person's.
    pub id_less_linked_right: u64,
    /// Deceased-pension report against true cases whose death is in some feed.
    pub deceased_pensions: ReportScore,
    /// All true cases, including deaths no feed shows.
    pub deceased_pensions_all_true_cases: u64,
    /// Deceased-pension rows whose amount overpaid is the truth's, to within 0.01 yuan.
    pub deceased_pensions_amount_exact: u64,
    /// Voter-roll report against the truth's roll.
    pub voter_roll: ReportScore,
    /// The exclusion list's matches against the truth of its entries, where the truth has it.
    pub external_list: Option<ListScore>,
}

/// How an external list's entries were matched, against the truth of each entry.
#[derive(Debug, Clone, Serialize)]
pub struct ListScore {
    /// Entries in the list.
    pub entries: u64,
    /// Entries naming a person of the city (the others are people from elsewhere).
    pub of_the_city: u64,
    /// Entries matched to their own person.
    pub matched_right: u64,
    /// Entries matched to someone else, or matched though they name nobody of the city.
    pub matched_wrong: u64,
    /// Entries left for review.
    pub for_review: u64,
}

/// Registers a truth file with every column as text (ID numbers must not become integers).
async fn register_text_csv(ctx: &SessionContext, name: &str, path: &Path, columns: &[&str]) -> Result<(), EvaluateError> {
    if !path.is_file() {
        return Err(EvaluateError::Truth { path: path.to_path_buf(), message: "missing".into() });
    }
    let schema = Schema::new(columns.iter().map(|c| Field::new(*c, DataType::Utf8, true)).collect::<Vec<_>>());
    let options = CsvReadOptions::new().has_header(true).schema(&schema);
    ctx.register_csv(name, path.to_string_lossy().as_ref(), options).await?;
    Ok(())
}

async fn count(ctx: &SessionContext, sql: &str) -> Result<u64, EvaluateError> {
    Ok(query::count(ctx, sql).await?)
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

/// Scores night `night` of the warehouse (or its current night) against `truth`, the `truth/` folder
/// `pophub generate` wrote; its sibling `external/` gives the voter roll's exclusion list.
pub async fn evaluate(warehouse: &crate::warehouse::Warehouse, night: Option<u32>, truth: &Path) -> Result<Evaluation, EvaluateError> {
    let (ctx, night) = query::open(warehouse, night).await?;
    register_text_csv(&ctx, "truth_mentions", &truth.join("mentions.csv"), &["source", "record_key", "role", "person_id"]).await?;
    register_text_csv(
        &ctx,
        "truth_deceased",
        &truth.join("deceased_pensions.csv"),
        &["person_id", "citizen_id", "death_date", "months_paid_after_death", "amount_overpaid", "death_in_feed"],
    )
    .await?;
    register_text_csv(&ctx, "truth_voters", &truth.join("voter_roll.csv"), &["person_id", "citizen_id"]).await?;

    // Each published mention with its true person; unlinked mentions are persons of their own.
    ctx.sql(
        "CREATE VIEW scored AS SELECT t.person_id, \
           COALESCE(ps.person_key, 'unlinked:' || ps.source || ':' || ps.record_key || ':' || ps.role) AS pk \
         FROM truth_mentions t JOIN person_source ps \
           ON ps.source = t.source AND ps.record_key = t.record_key AND ps.role = t.role",
    )
    .await?;
    let pairs = |group: &str| format!("SELECT SUM(n * (n - 1) / 2) FROM (SELECT COUNT(*) AS n FROM scored GROUP BY {group})");
    let truth_mentions = count(&ctx, "SELECT COUNT(*) FROM truth_mentions").await?;
    let published_mentions = count(&ctx, "SELECT COUNT(*) FROM scored").await?;
    let unlinked_mentions = count(&ctx, "SELECT COUNT(*) FROM scored WHERE pk LIKE 'unlinked:%'").await?;
    let correct_pairs = count(&ctx, &pairs("pk, person_id")).await?;
    let predicted_pairs = count(&ctx, &pairs("pk")).await?;
    let true_pairs = count(&ctx, &pairs("person_id")).await?;
    // Distinct pairs first, then counted: cheaper than per-group DISTINCT at city scale.
    let clusters_over = |a: &str, b: &str| format!("SELECT COUNT(*) FROM (SELECT {a} FROM (SELECT {a}, {b} FROM scored GROUP BY {a}, {b}) GROUP BY {a} HAVING COUNT(*) > 1)");
    let false_merges = count(&ctx, &clusters_over("pk", "person_id")).await?;
    let split_persons = count(&ctx, &clusters_over("person_id", "pk")).await?;
    let precision = ratio(correct_pairs, predicted_pairs);
    let recall = ratio(correct_pairs, true_pairs);

    // A predicted person stands for the true person most of its mentions belong to.
    ctx.sql(
        "CREATE VIEW key_truth AS SELECT pk, person_id FROM ( \
           SELECT pk, person_id, ROW_NUMBER() OVER (PARTITION BY pk ORDER BY n DESC, person_id) AS rn \
           FROM (SELECT pk, person_id, COUNT(*) AS n FROM scored GROUP BY pk, person_id)) WHERE rn = 1",
    )
    .await?;
    // Mentions without a usable ID number, of true persons with more than one mention: how
    // many went to their own person.
    ctx.sql(
        "CREATE VIEW id_less AS SELECT t.person_id, ps.person_key AS pk \
         FROM truth_mentions t JOIN person_source ps ON ps.source = t.source AND ps.record_key = t.record_key AND ps.role = t.role \
         WHERE ps.id_status NOT IN ('valid', 'upgraded_15') \
           AND t.person_id IN (SELECT person_id FROM scored GROUP BY person_id HAVING COUNT(*) > 1)",
    )
    .await?;
    let id_less_mentions = count(&ctx, "SELECT COUNT(*) FROM id_less").await?;
    let id_less_linked_right = count(&ctx, "SELECT COUNT(*) FROM id_less i JOIN key_truth k ON k.pk = i.pk WHERE k.person_id = i.person_id").await?;
    let deceased = reports::deceased_pensions(&ctx).await?;
    ctx.register_table("report_deceased", Arc::new(datafusion::datasource::MemTable::try_new(deceased.schema, vec![deceased.batches])?))?;
    let deceased_score = score_report(&ctx, "report_deceased", "(SELECT person_id FROM truth_deceased WHERE death_in_feed = 'true')").await?;
    let deceased_all = count(&ctx, "SELECT COUNT(*) FROM truth_deceased").await?;
    let amount_exact = count(
        &ctx,
        "SELECT COUNT(*) FROM report_deceased r JOIN key_truth k ON k.pk = r.person_key \
         JOIN truth_deceased t ON t.person_id = k.person_id \
         WHERE abs(r.amount_overpaid - CAST(t.amount_overpaid AS DOUBLE)) < 0.01",
    )
    .await?;

    let params_path = truth.join("voter_roll.json");
    let params: VoterRollParams = std::fs::read_to_string(&params_path)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
        .map_err(|message| EvaluateError::Truth { path: params_path.clone(), message })?;
    let list = truth.parent().map(|p| p.join("external/deprived_political_rights.csv")).filter(|p| p.is_file());
    let matches = match &list {
        Some(list) => external::match_file(&ctx, warehouse, &night, list, &external::ListFormat::default()).await?,
        None => Vec::new(),
    };
    let external_list = match truth.join("external_list.csv") {
        list_truth if list_truth.is_file() => Some(score_list(&ctx, &list_truth, &matches).await?),
        _ => None,
    };
    let roll = reports::voter_roll(&ctx, Some(&params.district), params.election_date, &external::matched_persons(&matches)).await?;
    ctx.register_table("report_voters", Arc::new(datafusion::datasource::MemTable::try_new(roll.schema, vec![roll.batches])?))?;
    let voter_score = score_report(&ctx, "report_voters", "(SELECT person_id FROM truth_voters)").await?;

    Ok(Evaluation {
        truth_mentions,
        published_mentions,
        unpublished_truth_mentions: truth_mentions - published_mentions,
        unlinked_mentions,
        true_pairs,
        predicted_pairs,
        correct_pairs,
        precision,
        recall,
        f1: if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) },
        false_merges,
        split_persons,
        id_less_mentions,
        id_less_linked_right,
        deceased_pensions: deceased_score,
        deceased_pensions_all_true_cases: deceased_all,
        deceased_pensions_amount_exact: amount_exact,
        voter_roll: voter_score,
        external_list,
    })
}

/// Scores the exclusion list's matches against the truth of its entries (`external_list.csv`:
/// each entry's line and true person, none for people outside the city).
async fn score_list(ctx: &SessionContext, truth: &Path, matches: &[external::EntryMatch]) -> Result<ListScore, EvaluateError> {
    register_text_csv(ctx, "truth_list", truth, &["line", "person_id"]).await?;
    let rows = external::EntryMatch::rows(matches);
    ctx.register_table("list_matches", Arc::new(datafusion::datasource::MemTable::try_new(rows.schema, vec![rows.batches])?))?;
    let of = |condition: &str| {
        format!(
            "SELECT COUNT(*) FROM (SELECT line, NULLIF(person_id, '') AS person_id FROM truth_list) t LEFT JOIN list_matches m ON CAST(m.line AS VARCHAR) = t.line \
             LEFT JOIN key_truth k ON k.pk = m.person_key WHERE {condition}"
        )
    };
    Ok(ListScore {
        entries: count(ctx, &of("true")).await?,
        of_the_city: count(ctx, &of("t.person_id IS NOT NULL")).await?,
        matched_right: count(ctx, &of("m.person_key IS NOT NULL AND k.person_id = t.person_id")).await?,
        matched_wrong: count(ctx, &of("m.person_key IS NOT NULL AND (t.person_id IS NULL OR k.person_id IS DISTINCT FROM t.person_id)")).await?,
        for_review: count(ctx, &of("m.outcome = 'review'")).await?,
    })
}

/// Compares a report's persons (by person key, through `key_truth`) with a set of true persons.
async fn score_report(ctx: &SessionContext, report: &str, truth_set: &str) -> Result<ReportScore, EvaluateError> {
    let true_cases = count(ctx, &format!("SELECT COUNT(DISTINCT person_id) FROM {truth_set}")).await?;
    let reported = count(ctx, &format!("SELECT COUNT(*) FROM {report}")).await?;
    let found = count(
        ctx,
        &format!("SELECT COUNT(DISTINCT k.person_id) FROM {report} r JOIN key_truth k ON k.pk = r.person_key WHERE k.person_id IN {truth_set}"),
    )
    .await?;
    let correct_rows = count(
        ctx,
        &format!("SELECT COUNT(*) FROM {report} r JOIN key_truth k ON k.pk = r.person_key WHERE k.person_id IN {truth_set}"),
    )
    .await?;
    let false_positives = reported - correct_rows;
    Ok(ReportScore { true_cases, reported, found, false_positives, recall: ratio(found, true_cases), precision: ratio(correct_rows, reported) })
}

/// The evaluation as a few readable lines.
pub fn render(e: &Evaluation) -> String {
    let report = |name: &str, r: &ReportScore| {
        format!(
            "{name}: {} true, {} reported, {} found (recall {:.4}), {} false positive(s) (precision {:.4})\n",
            r.true_cases, r.reported, r.found, r.recall, r.false_positives, r.precision
        )
    };
    let mut out = String::new();
    out.push_str(&format!(
        "mentions: {} in truth, {} published ({} quarantined or not published), {} unlinked\n",
        e.truth_mentions, e.published_mentions, e.unpublished_truth_mentions, e.unlinked_mentions
    ));
    out.push_str(&format!(
        "pairs: {} true, {} predicted, {} correct\nprecision {:.6}  recall {:.6}  F1 {:.6}\n",
        e.true_pairs, e.predicted_pairs, e.correct_pairs, e.precision, e.recall, e.f1
    ));
    out.push_str(&format!("false merges: {}  split persons: {}\n", e.false_merges, e.split_persons));
    out.push_str(&format!(
        "mentions without a usable ID number: {}, linked to their own person: {} ({:.4})\n",
        e.id_less_mentions,
        e.id_less_linked_right,
        ratio(e.id_less_linked_right, e.id_less_mentions)
    ));
    out.push_str(&report("deceased pensions (deaths in some feed)", &e.deceased_pensions));
    out.push_str(&format!(
        "    all true cases incl. deaths no feed shows: {}; amounts exact: {}\n",
        e.deceased_pensions_all_true_cases, e.deceased_pensions_amount_exact
    ));
    out.push_str(&report("voter roll", &e.voter_roll));
    if let Some(l) = &e.external_list {
        out.push_str(&format!(
            "exclusion list: {} entries, {} of the city; {} matched right, {} matched wrong, {} for review\n",
            l.entries, l.of_the_city, l.matched_right, l.matched_wrong, l.for_review
        ));
    }
    out
}
