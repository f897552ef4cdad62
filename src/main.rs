//! The `pophub` command line: the only place errors become exit codes.
//!
//! Exit codes: 0 ok, 1 checks failed (drift that stops the night, evaluation below its
//! thresholds), 2 error, 78 bad config.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use chrono::NaiveDate;
use clap::{Parser, Subcommand};
use pophub::config::Pipeline;
use pophub::query::{self, OutputFormat};

const EXIT_CHECKS_FAILED: u8 = 1;
const EXIT_ERROR: u8 = 2;
const EXIT_BAD_CONFIG: u8 = 78;

#[derive(Parser)]
#[command(name = "pophub", version, about = "Reconciles department exports into one population and housing dataset, queryable with SQL")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct OutputArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: OutputFormat,
    /// Write to this file instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Write a synthetic city's department exports and its ground truth.
    Generate {
        #[arg(long)]
        persons: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
        /// The day the exports describe (of the first night).
        #[arg(long, default_value = "2026-11-01")]
        as_of: NaiveDate,
        /// Night 2, 3, …: the same city that many days later (births, deaths, moves, corrections, payments).
        #[arg(long, default_value_t = 1)]
        night: u32,
    },
    /// Check a pipeline file (keys, references, files present); exits 78 naming the bad key.
    Validate {
        pipeline: PathBuf,
        /// Read the sources from this folder instead of the pipeline's `data_root`.
        #[arg(long)]
        data_root: Option<PathBuf>,
    },
    /// Run the nightly pipeline: ingest, link, publish.
    Run {
        pipeline: PathBuf,
        #[arg(long, default_value = "warehouse")]
        warehouse: PathBuf,
        /// Read the sources from this folder instead of the pipeline's `data_root`.
        #[arg(long)]
        data_root: Option<PathBuf>,
        /// The day the exports describe, instead of the pipeline's `as_of`.
        #[arg(long)]
        as_of: Option<NaiveDate>,
        /// Learn the linkage model again from tonight's data instead of using the warehouse's
        /// (links near the thresholds may move; the moves are published in person_key_event).
        #[arg(long)]
        retrain: bool,
    },
    /// Run SQL on the latest published tables (the query from standard input when not given).
    Sql {
        query: Option<String>,
        #[arg(long, default_value = "warehouse")]
        warehouse: PathBuf,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// The standing reports.
    Report {
        #[command(subcommand)]
        report: Report,
    },
    /// Why two mentions (SOURCE:RECORD_KEY:ROLE) were or were not linked, comparison by comparison;
    /// with one mention, against the record that founded its person.
    Explain {
        mention: pophub::query::explain::MentionRef,
        other: Option<pophub::query::explain::MentionRef>,
        #[arg(long, default_value = "warehouse")]
        warehouse: PathBuf,
    },
    /// The review queue: candidate links in the grey zone, and reviewers' decisions.
    Review {
        #[command(subcommand)]
        action: Review,
    },
    /// Score the published warehouse against a generated city's truth.
    Evaluate {
        #[arg(long)]
        truth: PathBuf,
        #[arg(long, default_value = "warehouse")]
        warehouse: PathBuf,
        /// Exit 1 when pairwise precision is below this.
        #[arg(long)]
        min_precision: Option<f64>,
        /// Exit 1 when pairwise recall is below this.
        #[arg(long)]
        min_recall: Option<f64>,
        /// Also write the figures as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum Review {
    /// The pending candidates, with the mention and the candidate person side by side.
    List {
        #[arg(long, default_value = "warehouse")]
        warehouse: PathBuf,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Decide whether a mention (SOURCE:RECORD_KEY:ROLE) is a person (PERSON_KEY); honoured by every later run.
    Decide {
        mention: pophub::link::review::MentionRef,
        person_key: String,
        #[arg(value_enum)]
        decision: pophub::link::review::Verdict,
        #[arg(long, default_value = "warehouse")]
        warehouse: PathBuf,
    },
}

#[derive(Subcommand)]
enum Report {
    /// Pensions paid for months after the month of death.
    DeceasedPensions {
        #[arg(long, default_value = "warehouse")]
        warehouse: PathBuf,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// The voter roll of one district on one election day.
    VoterRoll {
        /// The district's six-digit code.
        #[arg(long)]
        district: String,
        /// Election day, YYYY-MM-DD.
        #[arg(long)]
        date: NaiveDate,
        /// External list of people deprived of political rights (one ID number per line).
        #[arg(long)]
        exclude: Option<PathBuf>,
        #[arg(long, default_value = "warehouse")]
        warehouse: PathBuf,
        #[command(flatten)]
        output: OutputArgs,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    match runtime.block_on(execute(cli.command)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {}", error_text(&e));
            let library_error = || e.chain().find_map(|c| c.downcast_ref::<pophub::Error>());
            let code = if e.chain().any(|c| c.downcast_ref::<pophub::config::ConfigError>().is_some()) {
                EXIT_BAD_CONFIG
            } else {
                match library_error() {
                    Some(pophub::Error::Config(_)) => EXIT_BAD_CONFIG,
                    Some(pophub::Error::Drift(_)) => EXIT_CHECKS_FAILED,
                    _ => EXIT_ERROR,
                }
            };
            ExitCode::from(code)
        }
    }
}

/// The error and its causes, each cause only where the message above does not already say it.
fn error_text(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(&format!(": {cause}"));
        }
    }
    text
}

/// The latest run's manifest, if the warehouse has one.
fn latest_manifest(warehouse: &Path) -> Option<serde_json::Value> {
    std::fs::read_to_string(warehouse.join("_runs/latest.json")).ok().and_then(|t| serde_json::from_str(&t).ok())
}

/// The as-of date of the latest run in the warehouse, else today.
fn warehouse_as_of(warehouse: &Path) -> NaiveDate {
    latest_manifest(warehouse)
        .and_then(|v| v.get("as_of").and_then(|d| d.as_str()).and_then(|d| d.parse().ok()))
        .unwrap_or_else(|| chrono::Utc::now().date_naive())
}

/// The linkage thresholds the latest run used (match weight, margin), else the defaults.
fn warehouse_thresholds(warehouse: &Path) -> (f64, f64) {
    let defaults = pophub::config::LinkageOptions::default();
    let linkage = latest_manifest(warehouse).and_then(|v| v.get("linkage").cloned());
    let get = |k: &str, d: f64| linkage.as_ref().and_then(|l| l.get(k)).and_then(|v| v.as_f64()).unwrap_or(d);
    (get("match_weight", defaults.match_weight), get("margin_weight", defaults.margin_weight))
}

async fn execute(command: Command) -> anyhow::Result<u8> {
    match command {
        Command::Generate { persons, seed, out, as_of, night } => {
            let started = std::time::Instant::now();
            let summary = pophub::generate::generate(persons, seed, as_of, night, &out)?;
            println!(
                "generated {} persons in {} households into {} in {:.1}s (seed {}, as of {})",
                summary.persons,
                summary.households,
                out.display(),
                started.elapsed().as_secs_f64(),
                seed,
                summary.as_of
            );
        }
        Command::Validate { pipeline, data_root } => {
            let p = Pipeline::load(&pipeline, data_root.as_deref())?;
            println!("{}: ok ({} sources)", pipeline.display(), p.sources.len());
        }
        Command::Run { pipeline, warehouse, data_root, as_of, retrain } => {
            let mut p = Pipeline::load(&pipeline, data_root.as_deref())?;
            p.pipeline.as_of = as_of.or(p.pipeline.as_of);
            let manifest = pophub::run::run(&p, &warehouse, retrain).await.with_context(|| format!("running {}", pipeline.display()))?;
            print!("{}", pophub::run::summary(&manifest));
        }
        Command::Sql { query, warehouse, output } => {
            let sql = match query {
                Some(q) => q,
                None => {
                    let mut q = String::new();
                    std::io::stdin().read_to_string(&mut q).context("reading the query from standard input")?;
                    q
                }
            };
            let ctx = query::open(&warehouse, warehouse_as_of(&warehouse)).await?;
            let batches = ctx.sql(&sql).await.map_err(query::QueryError::from)?.collect().await.map_err(query::QueryError::from)?;
            query::write_output(&batches, output.format, output.out.as_deref())?;
        }
        Command::Report { report } => match report {
            Report::DeceasedPensions { warehouse, output } => {
                let ctx = query::open(&warehouse, warehouse_as_of(&warehouse)).await?;
                let batches = query::reports::deceased_pensions(&ctx).await?;
                query::write_output(&batches, output.format, output.out.as_deref())?;
            }
            Report::VoterRoll { district, date, exclude, warehouse, output } => {
                let ctx = query::open(&warehouse, warehouse_as_of(&warehouse)).await?;
                let batches = query::reports::voter_roll(&ctx, &district, date, exclude.as_deref()).await?;
                query::write_output(&batches, output.format, output.out.as_deref())?;
            }
        },
        Command::Review { action: Review::List { warehouse, output } } => {
            let ctx = query::open(&warehouse, warehouse_as_of(&warehouse)).await?;
            let sql = "SELECT q.source || ':' || q.record_key || ':' || q.role AS mention, q.name_raw AS mention_name, \
                       q.citizen_id_raw AS mention_number, round(q.match_weight, 1) AS match_weight, q.person_key, p.name AS person_name, p.citizen_id AS person_number, \
                       CAST(p.birth_date AS VARCHAR) AS person_born \
                       FROM review_queue q LEFT JOIN person p ON p.person_key = q.person_key ORDER BY match_weight DESC, mention";
            let batches = ctx.sql(sql).await.map_err(query::QueryError::from)?.collect().await.map_err(query::QueryError::from)?;
            query::write_output(&batches, output.format, output.out.as_deref())?;
        }
        Command::Review { action: Review::Decide { mention, person_key, decision, warehouse } } => {
            let decided_at = chrono::Utc::now().to_rfc3339();
            let record = pophub::link::review::Decision { mention: mention.clone(), person_key: person_key.clone(), decision, decided_at };
            pophub::link::review::append(&warehouse, &record)?;
            println!("recorded: {mention} {} {person_key}; every run from the next one honours it", if decision == pophub::link::review::Verdict::Same { "is" } else { "is not" });
        }
        Command::Explain { mention, other, warehouse } => {
            let thresholds = warehouse_thresholds(&warehouse);
            let model = pophub::link::model::Model::load(&warehouse)?
                .with_context(|| format!("{} has no linkage model; run the pipeline into it first", warehouse.display()))?;
            let ctx = query::open(&warehouse, warehouse_as_of(&warehouse)).await?;
            print!("{}", query::explain::explain(&ctx, &model, &mention, other.as_ref(), thresholds).await?);
        }
        Command::Evaluate { truth, warehouse, min_precision, min_recall, json } => {
            let evaluation = pophub::evaluate::evaluate(&warehouse, &truth, warehouse_as_of(&warehouse)).await?;
            print!("{}", pophub::evaluate::render(&evaluation));
            if let Some(path) = json {
                std::fs::write(&path, serde_json::to_string_pretty(&evaluation)?).with_context(|| format!("writing {}", path.display()))?;
            }
            let below = min_precision.is_some_and(|m| evaluation.precision < m) || min_recall.is_some_and(|m| evaluation.recall < m);
            if below {
                eprintln!("checks failed: pairwise precision or recall below the thresholds given");
                return Ok(EXIT_CHECKS_FAILED);
            }
        }
    }
    Ok(0)
}
