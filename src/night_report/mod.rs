//! The night's report for the engineer on duty: is last night fit to use? One self-contained
//! HTML page (inline CSS and SVG charts, nothing fetched) or the same figures as JSON, built
//! from the run's manifest, the manifests of the nights before it (the trend), and, when the
//! run committed a night, that night's tables (quarantine examples, ID quality, match weights,
//! conflicts, moves between persons, the standing reports' headline counts).
//!
//! Every run writes its page to `<warehouse>/_runs/<run_id>/report.html`; `pophub report night`
//! renders any committed night's.

mod charts;
mod figures;
mod html;

use serde::{Deserialize, Serialize};

use crate::config::DriftAction;
use crate::publish::manifest::{RunManifest, RunStatus};
use crate::warehouse::{NightLog, Warehouse, WarehouseError, write_atomic};

pub use figures::NightFigures;

/// How many nights the trend shows, this one included.
const TREND_NIGHTS: usize = 8;

/// A report that cannot be built or written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The night, its manifest or its tables cannot be read, or the page cannot be written.
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    /// A figure's query on the night failed.
    #[error("the night report's {figure}: {source}")]
    Query {
        /// The figure being computed.
        figure: &'static str,
        /// What failed.
        source: Box<crate::query::QueryError>,
    },
    /// A chart could not be drawn.
    #[error("drawing the night report's chart `{chart}`: {message}")]
    Chart {
        /// The chart's title.
        chart: String,
        /// What went wrong.
        message: String,
    },
}

/// A source's light: red when drift would stop (or stopped) the night, yellow when drift only
/// warns (too many rows quarantined, columns changed…), green otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Light {
    /// Nothing to look at.
    Green,
    /// Drift that warns.
    Yellow,
    /// Drift that stops the night.
    Red,
}

impl Light {
    /// The light's name, as the page shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Light::Green => "green",
            Light::Yellow => "yellow",
            Light::Red => "red",
        }
    }
}

/// One source's light and the drift kinds behind it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceLight {
    /// The source, as named in the pipeline.
    pub source: String,
    /// Its light.
    pub light: Light,
    /// The drift kinds found tonight in the source, e.g. `quarantine_share`.
    pub because: Vec<String>,
}

/// One source's counts on one night of the trend.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrendPoint {
    /// The night's number; `None` for this run when it committed none.
    pub night: Option<u32>,
    /// The day the night's exports describe.
    pub as_of: String,
    /// The source.
    pub source: String,
    /// Rows read, accepted and quarantined.
    pub rows_read: u64,
    /// Rows accepted.
    pub accepted: u64,
    /// Rows quarantined.
    pub quarantined: u64,
}

/// The night's report: the run's manifest as written, the lights, the trend and, for a committed
/// night, the figures queried from its tables.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NightReport {
    /// The run's manifest, as in `_runs/<run_id>.json`.
    pub manifest: RunManifest,
    /// Per source, in the pipeline's order.
    pub lights: Vec<SourceLight>,
    /// Per source and night, the nights before this one (up to seven) and this one, oldest first.
    pub trend: Vec<TrendPoint>,
    /// From the night's tables; absent when the run committed no night.
    pub night: Option<NightFigures>,
}

impl NightReport {
    /// The report of a committed night (the current one when `night` is `None`).
    pub async fn of_night(warehouse: &Warehouse, night: Option<u32>) -> Result<NightReport, ReportError> {
        let log = NightLog::load(warehouse)?;
        let night = log.resolve(warehouse, night)?.clone();
        let manifest = RunManifest::read(warehouse, &night.run_id)?;
        NightReport::of_run(warehouse, &log, manifest).await
    }

    /// The report of a run, committed or not, given its manifest and the night log.
    pub async fn of_run(warehouse: &Warehouse, log: &NightLog, manifest: RunManifest) -> Result<NightReport, ReportError> {
        let lights = lights(&manifest);
        let trend = trend(warehouse, log, &manifest)?;
        let night = match manifest.night.and_then(|n| log.nights.iter().find(|x| x.night == n)) {
            Some(night) if manifest.status == RunStatus::Committed => Some(NightFigures::of(warehouse, night).await?),
            _ => None,
        };
        Ok(NightReport { manifest, lights, trend, night })
    }

    /// The self-contained HTML page.
    pub fn html(&self) -> Result<String, ReportError> {
        html::page(self)
    }

    /// The report as pretty JSON.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the report serialises")
    }

    /// Writes the page to `<warehouse>/_runs/<run_id>/report.html`, whole or not at all.
    pub fn write_page(&self, warehouse: &Warehouse) -> Result<std::path::PathBuf, ReportError> {
        let path = warehouse.run_report(&self.manifest.run_id);
        write_atomic(&path, self.html()?.as_bytes())?;
        Ok(path)
    }
}

fn lights(manifest: &RunManifest) -> Vec<SourceLight> {
    manifest
        .sources
        .iter()
        .map(|s| {
            let events: Vec<_> = manifest.drift.iter().filter(|e| e.source == s.source).collect();
            let light = if events.iter().any(|e| e.action == DriftAction::Stop) {
                Light::Red
            } else if events.is_empty() {
                Light::Green
            } else {
                Light::Yellow
            };
            SourceLight { source: s.source.clone(), light, because: events.iter().map(|e| e.kind.clone()).collect() }
        })
        .collect()
}

/// The counts of the committed nights before the run (as of their manifests) and the run's own.
fn trend(warehouse: &Warehouse, log: &NightLog, manifest: &RunManifest) -> Result<Vec<TrendPoint>, WarehouseError> {
    let before: Vec<_> = log.nights.iter().filter(|n| n.run_id < manifest.run_id).collect();
    let mut runs = Vec::new();
    for night in &before[before.len().saturating_sub(TREND_NIGHTS - 1)..] {
        runs.push(RunManifest::read(warehouse, &night.run_id)?);
    }
    runs.push(manifest.clone());
    Ok(runs
        .iter()
        .flat_map(|run| {
            run.sources.iter().map(|s| TrendPoint {
                night: run.night,
                as_of: run.as_of.clone(),
                source: s.source.clone(),
                rows_read: s.rows_read,
                accepted: s.accepted,
                quarantined: s.quarantined,
            })
        })
        .collect())
}
