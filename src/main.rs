//! The `pophub` command line: the only place errors become exit codes.
//!
//! Exit codes: 0 ok, 1 checks failed (drift that stops the night, evaluation below its
//! thresholds), 2 error, 78 bad config.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::NaiveDate;
use clap::{Parser, Subcommand};
use pophub::config::Pipeline;
use pophub::progress::Progress;
use pophub::query::{self, OutputFormat};
use pophub::warehouse::{NightLog, Warehouse, WriterLock};

const EXIT_CHECKS_FAILED: u8 = 1;
const EXIT_ERROR: u8 = 2;
const EXIT_BAD_CONFIG: u8 = 78;

#[derive(Parser)]
#[command(name = "pophub", version, about = "Reconciles department exports into one population and housing dataset, queryable with SQL")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Print only errors: no progress, no summary, no warnings.
    #[arg(long, global = true)]
    quiet: bool,
    /// How logs are written to standard error (`RUST_LOG` filters them, e.g. `RUST_LOG=debug`).
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// A line per event, for people.
    Text,
    /// A JSON object per event, for schedulers and log collectors.
    Json,
}

/// Logs to standard error through `tracing`: `RUST_LOG` when set, else pophub's information and
/// every other crate's warnings; only errors under `--quiet`. Lines lift the progress bars.
fn start_logs(quiet: bool, format: LogFormat, progress: &Progress) {
    use tracing_subscriber::EnvFilter;
    // The Delta kernel logs an error for every table it finds without a log, which is how each
    // table of a first night starts: none of its events are for the operator.
    const KERNEL: &str = "buoyant_kernel=off";
    let filter = match (quiet, EnvFilter::try_from_default_env()) {
        (true, _) => EnvFilter::new(format!("error,{KERNEL}")),
        (false, Ok(filter)) => filter,
        (false, Err(_)) => EnvFilter::new(format!("warn,pophub=info,{KERNEL}")),
    };
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(progress.log_writer()).with_target(false);
    match format {
        // The message alone: pophub's messages say what their fields hold.
        LogFormat::Text => logs
            .without_time()
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .fmt_fields(tracing_subscriber::fmt::format::debug_fn(|line, field, value| match field.name() {
                "message" => write!(line, "{value:?}"),
                _ => Ok(()),
            }))
            .init(),
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
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

/// Which warehouse and night a reading command reads.
/// Where a query runs: here, or on a cluster.
#[derive(clap::Args)]
struct ClusterArgs {
    /// Run the query on a Ballista cluster: its scheduler as df://HOST:PORT (`pophub scheduler`).
    #[arg(long)]
    cluster: Option<String>,
}

#[derive(clap::Args)]
struct NightArgs {
    #[arg(long, default_value = "warehouse")]
    warehouse: PathBuf,
    /// A committed night (see `pophub nights`) instead of the current one.
    #[arg(long)]
    night: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum NightsFormat {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum DiffFormat {
    Table,
    Csv,
    Json,
}

/// What `pophub schema` describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SchemaOf {
    /// The pipeline file (`pipelines/*.toml`).
    Pipeline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SchemaFormat {
    /// JSON Schema, draft 2020-12.
    Json,
    /// The reference page, `schemas/pipeline.md`.
    Markdown,
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
    /// Check a pipeline file (keys, references, files present); exits 78 naming every bad key.
    Validate {
        pipeline: PathBuf,
        /// Read the sources from this folder instead of the pipeline's `data_root`.
        #[arg(long)]
        data_root: Option<PathBuf>,
    },
    /// The pipeline file's JSON Schema (for editors), or its reference page of every key.
    Schema {
        #[arg(value_enum)]
        of: SchemaOf,
        #[arg(long, value_enum, default_value = "json")]
        format: SchemaFormat,
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
        /// Parse every source again, even those whose files are unchanged since the last run
        /// (by default their accepted rows are reused).
        #[arg(long)]
        reparse: bool,
        /// Score every mention again, even those whose links hold unchanged since the current
        /// night (by default they are carried over).
        #[arg(long)]
        relink: bool,
    },
    /// Run SQL on the current night, or another (the query from standard input when not given).
    Sql {
        query: Option<String>,
        #[command(flatten)]
        at: NightArgs,
        #[command(flatten)]
        on: ClusterArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// A Ballista scheduler for `--cluster`: it plans the queries its clients send and hands
    /// their tasks to executors (`pophub executor`).
    Scheduler {
        #[arg(long, default_value = "127.0.0.1:50050")]
        listen: String,
    },
    /// A Ballista executor that runs a scheduler's tasks, pophub's functions included. Every
    /// executor must reach the warehouse at the path the clients give.
    Executor {
        /// The scheduler, HOST:PORT.
        #[arg(long)]
        scheduler: String,
        /// The host it binds and announces to the scheduler.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// Its Arrow Flight port (shuffle data); gRPC listens on the next one.
        #[arg(long, default_value_t = 50051)]
        port: u16,
        /// Where it keeps shuffle files (a temporary folder when not given).
        #[arg(long)]
        work_dir: Option<PathBuf>,
        /// Tasks at a time (every core when 0).
        #[arg(long, default_value_t = 0)]
        tasks: usize,
    },
    /// Every committed night: its tables' versions and rows, and which night is current.
    Nights {
        #[arg(long, default_value = "warehouse")]
        warehouse: PathBuf,
        #[arg(long, value_enum, default_value = "table")]
        format: NightsFormat,
    },
    /// What changed from one night to another: persons, key events, attributes, rows per table.
    Diff {
        #[arg(long)]
        from: u32,
        #[arg(long)]
        to: u32,
        #[arg(long, default_value = "warehouse")]
        warehouse: PathBuf,
        /// `table`: the figures; `csv` and `json`: every change as well.
        #[arg(long, value_enum, default_value = "table")]
        format: DiffFormat,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Make an earlier night current again; the next run starts from it.
    Rollback {
        #[arg(long)]
        to: u32,
        #[arg(long, default_value = "warehouse")]
        warehouse: PathBuf,
    },
    /// Remove the files no kept night needs; the nights before the last K become unreadable.
    Vacuum {
        #[arg(long)]
        keep_nights: usize,
        #[arg(long, default_value = "warehouse")]
        warehouse: PathBuf,
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
        #[command(flatten)]
        at: NightArgs,
    },
    /// Match an external list (a court's list of people deprived of political rights, a
    /// wanted-persons list: ID numbers perhaps mistyped, names, birth dates) with the night's
    /// persons under its linkage model: each entry's person, or its best candidate and why not.
    Match {
        /// The list: CSV or an .xlsx workbook whose first row names the columns.
        #[arg(long)]
        list: PathBuf,
        #[command(flatten)]
        list_format: pophub::external::ListFormat,
        #[command(flatten)]
        at: NightArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// The review queue: candidate links in the grey zone, and reviewers' decisions.
    Review {
        #[command(subcommand)]
        action: Review,
    },
    /// Serve the current night over the PostgreSQL wire protocol (psql, DBeaver, Python), with
    /// logins, roles, masking and an audit log; a night committed later is served without a restart.
    Serve {
        #[arg(long, default_value = "warehouse")]
        warehouse: PathBuf,
        #[arg(long, default_value = "127.0.0.1:5433")]
        listen: std::net::SocketAddr,
        /// PEM certificate chain for TLS (with --tls-key).
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// PEM private key for TLS (with --tls-cert).
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Refuse connections without TLS.
        #[arg(long)]
        require_tls: bool,
        /// A pipeline file whose `[access]` sets the limits and declares more roles.
        #[arg(long)]
        pipeline: Option<PathBuf>,
    },
    /// The server's users: `add` (password from standard input), `list`, `remove`.
    User {
        #[command(subcommand)]
        action: User,
    },
    /// Everything the night knows of one person, by citizen ID number or person key, as a role sees it.
    Profile {
        /// A citizen ID number (15 or 18 digits) or a person key.
        id: String,
        #[command(flatten)]
        at: NightArgs,
        /// See it as this role sees it (masked, filtered).
        #[arg(long, default_value = "admin")]
        role: String,
        /// A pipeline file whose `[access]` declares the role.
        #[arg(long)]
        pipeline: Option<PathBuf>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Score the published warehouse against a generated city's truth.
    Evaluate {
        #[arg(long)]
        truth: PathBuf,
        #[command(flatten)]
        at: NightArgs,
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
        #[command(flatten)]
        at: NightArgs,
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
enum User {
    /// Add a user (or replace one's password and role); the password is read from standard input
    /// and only its SCRAM-SHA-256 verifier is stored.
    Add {
        name: String,
        #[arg(long)]
        role: String,
        #[arg(long, default_value = "warehouse")]
        warehouse: PathBuf,
        /// A pipeline file whose `[access]` declares the role, when it is not built in.
        #[arg(long)]
        pipeline: Option<PathBuf>,
    },
    /// The users and their roles.
    List {
        #[arg(long, default_value = "warehouse")]
        warehouse: PathBuf,
    },
    /// Remove a user; their next login is refused.
    Remove {
        name: String,
        #[arg(long, default_value = "warehouse")]
        warehouse: PathBuf,
    },
}

/// The `[access]` options of a pipeline file, or the defaults.
fn access_options(pipeline: Option<&std::path::Path>) -> anyhow::Result<pophub::config::access::AccessOptions> {
    Ok(match pipeline {
        Some(path) => pophub::config::access::load(path)?,
        None => Default::default(),
    })
}

/// How `pophub report night` writes the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum NightReportFormat {
    /// One self-contained page: inline CSS and SVG charts, nothing fetched.
    Html,
    /// The same figures as JSON: the run's manifest, the lights, the trend, the night's figures.
    Json,
}

#[derive(Subcommand)]
enum Report {
    /// The night's report for the engineer on duty: sources, quarantine, ID quality, linkage,
    /// the standing reports' counts, timings (every run also writes `_runs/<run>/report.html`).
    Night {
        #[command(flatten)]
        at: NightArgs,
        #[arg(long, value_enum, default_value = "html")]
        format: NightReportFormat,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Pensions paid for months after the month of death.
    DeceasedPensions {
        #[command(flatten)]
        at: NightArgs,
        #[command(flatten)]
        on: ClusterArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// The voter roll of one or more districts on one election day (`--format xlsx`: a sheet per district).
    VoterRoll {
        /// The district's six-digit code; several, comma-separated or repeated, for several rolls.
        #[arg(long, required = true, value_delimiter = ',')]
        district: Vec<String>,
        /// Election day, YYYY-MM-DD.
        #[arg(long)]
        date: NaiveDate,
        /// External list of people deprived of political rights (as `pophub match --list`
        /// reads it); the persons its entries match are left off the roll. Not with
        /// `--cluster`: the list's entries are matched against the night in memory here.
        #[arg(long, conflicts_with = "cluster")]
        exclude: Option<PathBuf>,
        #[command(flatten)]
        list_format: pophub::external::ListFormat,
        #[command(flatten)]
        at: NightArgs,
        #[command(flatten)]
        on: ClusterArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
}

/// mimalloc rather than glibc's malloc: a third less peak memory for a night (see Cargo.toml).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let progress = Progress::for_stderr(cli.quiet);
    start_logs(cli.quiet, cli.log_format, &progress);
    let feedback = Feedback { quiet: cli.quiet, progress };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    match runtime.block_on(execute(cli.command, &feedback)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            match cli.log_format {
                LogFormat::Text => eprintln!("error: {}", error_text(&e)),
                LogFormat::Json => tracing::error!("{}", error_text(&e)),
            }
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

/// Writes to standard output; a reader that closed the pipe (`pophub … | head`) ends the output
/// quietly, as it would for any Unix tool.
fn stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// Logs how a list's entries fared, and each entry a person should look at (by line: the
/// entries themselves are personal data).
fn report_list_matches(list: &std::path::Path, matches: &[pophub::external::EntryMatch]) {
    use pophub::external::Outcome;
    let count = |o: Outcome| matches.iter().filter(|m| m.outcome == o).count();
    tracing::info!(
        "{}: {} entries; {} matched a person of the night, {} for review, {} match nobody the night knows",
        list.display(),
        matches.len(),
        count(Outcome::Matched),
        count(Outcome::Review),
        count(Outcome::Unmatched)
    );
    for m in matches.iter().filter(|m| m.outcome == Outcome::Review) {
        tracing::warn!(
            "{}: line {}: its best candidate (match weight {:.1}) is left for a person to confirm (a weak lead, or a number that cannot be compared); see `pophub match --list {}`",
            list.display(),
            m.entry.line,
            m.match_weight.unwrap_or_default(),
            list.display()
        );
    }
}

/// What the command shows besides its results.
struct Feedback {
    /// `--quiet`: only errors.
    quiet: bool,
    /// Progress of the long stages.
    progress: Progress,
}

async fn execute(command: Command, feedback: &Feedback) -> anyhow::Result<u8> {
    match command {
        Command::Generate { persons, seed, out, as_of, night } => {
            let started = std::time::Instant::now();
            let summary = pophub::generate::generate(persons, seed, as_of, night, &out)?;
            stdout(&format!(
                "generated {} persons in {} households into {} in {:.1}s (seed {}, as of {})\n",
                summary.persons,
                summary.households,
                out.display(),
                started.elapsed().as_secs_f64(),
                seed,
                summary.as_of
            ))?;
        }
        Command::Validate { pipeline, data_root } => {
            let p = Pipeline::load(&pipeline, data_root.as_deref())?;
            stdout(&format!("{}: ok ({} sources)\n", pipeline.display(), p.sources.len()))?;
        }
        Command::Schema { of: SchemaOf::Pipeline, format } => match format {
            SchemaFormat::Json => stdout(&format!("{:#}\n", pophub::config::schema::pipeline_schema()))?,
            SchemaFormat::Markdown => stdout(&pophub::config::schema::pipeline_reference())?,
        },
        Command::Run { pipeline, warehouse, data_root, as_of, retrain, reparse, relink } => {
            let mut p = Pipeline::load(&pipeline, data_root.as_deref())?;
            p.pipeline.as_of = as_of.or(p.pipeline.as_of);
            let options = pophub::run::RunOptions { retrain, reparse, relink };
            let manifest = pophub::run::run(&p, &Warehouse::new(&warehouse), options, &feedback.progress).await.with_context(|| format!("running {}", pipeline.display()))?;
            if !feedback.quiet {
                stdout(&pophub::run::summary(&manifest))?;
            }
        }
        Command::Sql { query, at, on, output } => {
            let sql = match query {
                Some(q) => q,
                None => {
                    let mut q = String::new();
                    std::io::stdin().read_to_string(&mut q).context("reading the query from standard input")?;
                    q
                }
            };
            let (ctx, _) = query::open_on(&Warehouse::new(&at.warehouse), at.night, on.cluster.as_deref()).await?;
            let rows = query::Rows::sql(&ctx, &sql).await?;
            query::write_output(&rows, output.format, output.out.as_deref())?;
        }
        Command::Nights { warehouse, format } => {
            let wh = Warehouse::new(&warehouse);
            let log = NightLog::load(&wh)?;
            match format {
                NightsFormat::Table => stdout(&pophub::warehouse::nights::render(&log))?,
                NightsFormat::Json => stdout(&format!("{}\n", serde_json::to_string_pretty(&pophub::warehouse::nights::for_readers(&wh, &log))?))?,
            }
        }
        Command::Diff { from, to, warehouse, format, out } => {
            let (diff, ctx) = query::diff::diff(&Warehouse::new(&warehouse), from, to).await?;
            match format {
                DiffFormat::Table => stdout(&query::diff::render(&diff))?,
                DiffFormat::Csv => query::write_output(&query::diff::detail(&ctx).await?, OutputFormat::Csv, out.as_deref())?,
                DiffFormat::Json => {
                    let detail = query::diff::detail(&ctx).await?;
                    let mut writer = arrow::json::ArrayWriter::new(Vec::new());
                    for b in &detail.batches {
                        writer.write(b)?;
                    }
                    writer.finish()?;
                    let rows = writer.into_inner();
                    let changes: serde_json::Value = if rows.is_empty() { serde_json::json!([]) } else { serde_json::from_slice(&rows)? };
                    let mut value = serde_json::to_value(&diff)?;
                    value["changes"] = changes;
                    let text = serde_json::to_string_pretty(&value)?;
                    match out {
                        Some(path) => std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?,
                        None => stdout(&format!("{text}\n"))?,
                    }
                }
            }
        }
        Command::Rollback { to, warehouse } => {
            let wh = Warehouse::new(&warehouse);
            let lock = WriterLock::acquire(&wh, "rollback")?;
            let mut log = NightLog::load(&wh)?;
            let from = log.current;
            log.rollback(&wh, &lock, to)?;
            stdout(&format!("night {to} is current again (was {}); the next run starts from it\n", from.map_or("none".into(), |n| n.to_string())))?;
        }
        Command::Vacuum { keep_nights, warehouse } => {
            let wh = Warehouse::new(&warehouse);
            let lock = WriterLock::acquire(&wh, "vacuum")?;
            let report = pophub::warehouse::vacuum::vacuum(&wh, &lock, keep_nights).await?;
            let files: usize = report.files_deleted.values().sum();
            stdout(&format!("kept nights {:?}; removed nights {:?}; {files} file(s) deleted\n", report.kept_nights, report.removed_nights))?;
        }
        Command::Report { report } => match report {
            Report::Night { at, format, out } => {
                let report = pophub::night_report::NightReport::of_night(&Warehouse::new(&at.warehouse), at.night).await?;
                let text = match format {
                    NightReportFormat::Html => report.html()?,
                    NightReportFormat::Json => format!("{}\n", report.json()),
                };
                match out {
                    Some(path) => std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?,
                    None => stdout(&text)?,
                }
            }
            Report::DeceasedPensions { at, on, output } => {
                let (ctx, _) = query::open_on(&Warehouse::new(&at.warehouse), at.night, on.cluster.as_deref()).await?;
                let rows = query::reports::deceased_pensions(&ctx).await?;
                query::write_output(&rows, output.format, output.out.as_deref())?;
            }
            Report::VoterRoll { district, date, exclude, list_format, at, on, output } => {
                let wh = Warehouse::new(&at.warehouse);
                let (ctx, night) = query::open_on(&wh, at.night, on.cluster.as_deref()).await?;
                let excluded = match exclude {
                    Some(list) => {
                        let matches = pophub::external::match_file(&ctx, &wh, &night, &list, &list_format).await?;
                        report_list_matches(&list, &matches);
                        pophub::external::matched_persons(&matches)
                    }
                    None => Vec::new(),
                };
                let mut rolls = Vec::new();
                for d in &district {
                    rolls.push((d.as_str(), query::reports::voter_roll(&ctx, Some(d), date, &excluded).await?));
                }
                let sheets: Vec<(&str, &query::Rows)> = rolls.iter().map(|(d, rows)| (*d, rows)).collect();
                query::write_sheets(&sheets, output.format, output.out.as_deref())?;
            }
        },
        Command::Match { list, list_format, at, output } => {
            let wh = Warehouse::new(&at.warehouse);
            let (ctx, night) = query::open(&wh, at.night).await?;
            let matches = pophub::external::match_file(&ctx, &wh, &night, &list, &list_format).await?;
            report_list_matches(&list, &matches);
            query::write_output(&pophub::external::EntryMatch::rows(&matches), output.format, output.out.as_deref())?;
        }
        Command::Review { action: Review::List { at, output } } => {
            let (ctx, _) = query::open(&Warehouse::new(&at.warehouse), at.night).await?;
            let rows = query::review::queue(&ctx).await?;
            query::write_output(&rows, output.format, output.out.as_deref())?;
        }
        Command::Review { action: Review::Decide { mention, person_key, decision, warehouse } } => {
            let (ctx, night) = query::open(&Warehouse::new(&warehouse), None).await?;
            query::review::check_decision(&ctx, night.night, &mention, &person_key).await?;
            let decided_at = chrono::Utc::now().to_rfc3339();
            let record = pophub::link::review::Decision { mention: mention.clone(), person_key: person_key.clone(), decision, decided_at };
            pophub::link::review::append(&Warehouse::new(&warehouse), &record)?;
            stdout(&format!("recorded: {mention} {} {person_key}; every run from the next one honours it\n", if decision == pophub::link::review::Verdict::Same { "is" } else { "is not" }))?;
        }
        Command::Explain { mention, other, at } => {
            let wh = Warehouse::new(&at.warehouse);
            let (ctx, night) = query::open(&wh, at.night).await?;
            let linkage = query::NightLinkage::of(&wh, &night)?;
            stdout(&query::explain::explain(&ctx, &linkage, &mention, other.as_ref()).await?)?;
        }
        Command::Scheduler { listen } => pophub::cluster::scheduler::run(&listen).await?,
        Command::Executor { scheduler, host, port, work_dir, tasks } => {
            pophub::cluster::executor::run(&pophub::cluster::executor::ExecutorOptions { scheduler, host, port, work_dir, tasks }).await?
        }
        Command::Serve { warehouse, listen, tls_cert, tls_key, require_tls, pipeline } => {
            let access = access_options(pipeline.as_deref())?;
            let tls = tls_cert.zip(tls_key);
            pophub::serve::serve(pophub::serve::ServeOptions { warehouse, listen, tls, require_tls, access }).await?;
        }
        Command::User { action: User::Add { name, role, warehouse, pipeline } } => {
            let roles = pophub::access::Roles::new(&access_options(pipeline.as_deref())?);
            if roles.get(&role).is_none() {
                anyhow::bail!("role `{role}` is not known: the roles are {} (declare more in a pipeline's [[access.role]] and pass --pipeline)", roles.names());
            }
            let mut password = String::new();
            std::io::stdin().read_line(&mut password).context("reading the password from standard input")?;
            let password = password.trim_end_matches(['\n', '\r']);
            pophub::access::users::Users::add(&Warehouse::new(&warehouse), &name, &role, password)?;
            stdout(&format!("user {name} ({role}) added; only a SCRAM-SHA-256 verifier of the password is stored\n"))?;
        }
        Command::User { action: User::List { warehouse } } => {
            let users = pophub::access::users::Users::load(&Warehouse::new(&warehouse))?;
            let mut text = format!("{:<24} {:<12} {:<27} added by\n", "user", "role", "added at");
            for u in &users.users {
                text.push_str(&format!("{:<24} {:<12} {:<27} {}\n", u.name, u.role, u.added_at, u.added_by));
            }
            if users.users.is_empty() {
                text.push_str("(no user: add one with `pophub user add NAME --role ROLE`)\n");
            }
            stdout(&text)?;
        }
        Command::User { action: User::Remove { name, warehouse } } => {
            pophub::access::users::Users::remove(&Warehouse::new(&warehouse), &name)?;
            stdout(&format!("user {name} removed\n"))?;
        }
        Command::Profile { id, at, role, pipeline, output } => {
            let roles = pophub::access::Roles::new(&access_options(pipeline.as_deref())?);
            let catalogs = pophub::access::Catalogs::new(&Warehouse::new(&at.warehouse), roles, None);
            let rows = query::profile::for_role(&catalogs, at.night, &role, &id).await?;
            query::write_output(&rows, output.format, output.out.as_deref())?;
        }
        Command::Evaluate { truth, at, min_precision, min_recall, json } => {
            let evaluation = pophub::evaluate::evaluate(&Warehouse::new(&at.warehouse), at.night, &truth).await?;
            stdout(&pophub::evaluate::render(&evaluation))?;
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
