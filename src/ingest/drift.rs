//! Drift: an export that changed shape since it was onboarded or since last night. A mapped
//! column gone, columns added or removed, a file that no longer decodes, a feed far smaller
//! than the previous night's. Each is reported before anything is published; the source's
//! `[source.drift]` policy says whether it stops the night.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::SourceStats;
use crate::config::{DriftAction, Pipeline};

/// A change in an export's shape found tonight, and what the source's policy does about it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DriftEvent {
    /// The source it was found in, as named in the pipeline.
    pub source: String,
    /// `missing_column`, `columns_changed`, `undecodable_file`, `empty_file`, `shrink` or `quarantine_share`.
    pub kind: String,
    /// Whether it stops the night or only warns, from the source's `[source.drift]` policy.
    pub action: DriftAction,
    /// What changed, in words for the engineer on duty.
    pub message: String,
}

/// Compares tonight's counts and columns with the previous night's, per source.
pub fn against_previous(pipeline: &Pipeline, tonight: &[SourceStats], previous: &[SourceStats]) -> Vec<DriftEvent> {
    let mut events = Vec::new();
    for stats in tonight {
        let Some(before) = previous.iter().find(|p| p.source == stats.source) else { continue };
        let Some(policy) = pipeline.source(&stats.source).map(|s| &s.drift) else { continue };
        let floor = before.rows_read as f64 * (1.0 - policy.max_shrink);
        if (stats.rows_read as f64) < floor {
            events.push(DriftEvent {
                source: stats.source.clone(),
                kind: "shrink".into(),
                action: policy.shrink,
                message: format!(
                    "{} rows tonight, {} the previous night (more than {:.0}% fewer); check the export is complete",
                    stats.rows_read,
                    before.rows_read,
                    policy.max_shrink * 100.0
                ),
            });
        }
        if before.columns.is_empty() {
            continue;
        }
        let now: BTreeSet<&String> = stats.columns.iter().collect();
        let then: BTreeSet<&String> = before.columns.iter().collect();
        let added: Vec<&str> = now.difference(&then).map(|c| c.as_str()).collect();
        let removed: Vec<&str> = then.difference(&now).map(|c| c.as_str()).collect();
        if !added.is_empty() || !removed.is_empty() {
            events.push(DriftEvent {
                source: stats.source.clone(),
                kind: "columns_changed".into(),
                action: policy.columns_changed,
                message: format!("new columns: [{}]; columns gone: [{}]", added.join(", "), removed.join(", ")),
            });
        }
    }
    events
}

/// Sources whose quarantined share of tonight's rows is above their `max_quarantine_share`.
pub fn quarantine_share(pipeline: &Pipeline, tonight: &[SourceStats]) -> Vec<DriftEvent> {
    let mut events = Vec::new();
    for stats in tonight {
        let Some(policy) = pipeline.source(&stats.source).map(|s| &s.drift) else { continue };
        let share = stats.quarantined as f64 / stats.rows_read.max(1) as f64;
        if share > policy.max_quarantine_share {
            events.push(DriftEvent {
                source: stats.source.clone(),
                kind: "quarantine_share".into(),
                action: policy.quarantine_share,
                message: format!(
                    "{} of {} rows quarantined ({:.1}%, more than {:.1}%); see the quarantine reasons",
                    stats.quarantined,
                    stats.rows_read,
                    share * 100.0,
                    policy.max_quarantine_share * 100.0
                ),
            });
        }
    }
    events
}

/// A few lines for the engineer on duty.
pub fn render(events: &[DriftEvent]) -> String {
    events
        .iter()
        .map(|e| {
            let action = match e.action {
                DriftAction::Stop => "STOPS the night",
                DriftAction::Warn => "warning",
            };
            format!("drift in {} ({}, {action}): {}\n", e.source, e.kind, e.message)
        })
        .collect()
}
