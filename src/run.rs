//! The nightly run: ingest → identity → link → publish, timed stage by stage, with a manifest
//! and a short summary for the engineer on duty.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use chrono::{NaiveDate, Utc};
use sha2::{Digest, Sha256};

use crate::config::{DriftAction, Pipeline};
use crate::ingest::drift::{self, DriftEvent, PreviousSource};
use crate::link::{self, model::Model};
use crate::publish::{self, manifest::{LinkSummary, RunManifest, StageTiming, peak_memory_bytes}};

/// Runs the pipeline into the warehouse and returns its manifest. The linkage model of earlier
/// nights is used unless `retrain` is set or there is none; a model learned tonight is kept for
/// the nights after, so unchanged records keep their links.
pub async fn run(pipeline: &Pipeline, warehouse: &Path, retrain: bool) -> Result<RunManifest, crate::Error> {
    let started_at = Utc::now();
    let run_id = started_at.format("%Y%m%dT%H%M%S%3fZ").to_string();
    // Accepted rows wait in a staging folder of the warehouse until they are published; the
    // folder goes once the night is published or stopped.
    let staging = warehouse.join("_staging").join(&run_id);
    let result = night(pipeline, warehouse, &staging, started_at, run_id, retrain).await;
    let _ = std::fs::remove_dir_all(&staging);
    let _ = std::fs::remove_dir(warehouse.join("_staging"));
    result
}

async fn night(pipeline: &Pipeline, warehouse: &Path, staging: &Path, started_at: chrono::DateTime<Utc>, run_id: String, retrain: bool) -> Result<RunManifest, crate::Error> {
    let as_of: NaiveDate = pipeline.pipeline.as_of.unwrap_or_else(|| started_at.date_naive());
    let mut stages = Vec::new();
    let mut clock = Instant::now();
    let mut lap = |stage: &str, stages: &mut Vec<StageTiming>| {
        stages.push(StageTiming { stage: stage.to_string(), seconds: clock.elapsed().as_secs_f64(), peak_memory_bytes: peak_memory_bytes() });
        clock = Instant::now();
    };

    let tables = crate::ingest::ingest(pipeline, as_of, staging).await?;
    lap("ingest", &mut stages);

    // Drift is reported before anything is published; a source whose policy says so stops the night.
    let tonight: Vec<_> = tables.iter().map(|t| t.stats.clone()).collect();
    let mut drift: Vec<DriftEvent> = tables.iter().flat_map(|t| t.drift.iter().cloned()).collect();
    drift.extend(drift::against_previous(pipeline, &tonight, &previous_sources(warehouse)));
    if !drift.is_empty() {
        eprint!("{}", drift::render(&drift));
    }
    if drift.iter().any(|e| e.action == DriftAction::Stop) {
        return Err(crate::Error::Drift(drift.len()));
    }

    let mentions = link::mentions::build(pipeline, &tables, as_of);
    lap("identity", &mut stages);

    let decisions = link::review::Decisions::load(warehouse)?;
    let stored = if retrain { None } else { Model::load(warehouse)? };
    let (linked, linkage) = link::link(&mentions, &pipeline.linkage, &decisions, stored.as_ref());
    drop(mentions);
    let mut rules: BTreeMap<String, u64> = BTreeMap::new();
    for r in &linkage.rule {
        *rules.entry(r.as_str().to_string()).or_default() += 1;
    }
    let summary = LinkSummary {
        match_weight: pipeline.linkage.match_weight,
        margin_weight: pipeline.linkage.margin_weight,
        model_trained: linkage.trained,
        model: linkage.model.clone(),
        mentions: linkage.rule.len() as u64,
        persons: linkage.founders.len() as u64,
        pairs_scored: linkage.pairs_scored,
        rules,
    };
    drop(linkage);
    lap("link", &mut stages);

    // Publish joins hold their smaller side (persons, mentions) in memory; DataFusion cannot
    // spill a hash join, so the ingest memory limit does not apply here.
    let ctx = crate::engine::session(as_of, None);
    std::fs::create_dir_all(warehouse).map_err(|source| publish::PublishError::Io { path: warehouse.to_path_buf(), source })?;
    let written = publish::publish(&ctx, pipeline, &tables, linked, warehouse, (as_of, &run_id)).await?;
    lap("publish", &mut stages);

    let pipeline_text = std::fs::read(&pipeline.file).unwrap_or_default();
    let manifest = RunManifest {
        run_id,
        pophub_version: env!("CARGO_PKG_VERSION").to_string(),
        pipeline: pipeline.pipeline.name.clone(),
        pipeline_file: pipeline.file.to_string_lossy().to_string(),
        pipeline_sha256: format!("{:x}", Sha256::digest(&pipeline_text)),
        as_of: as_of.to_string(),
        started_at: started_at.to_rfc3339(),
        warehouse: warehouse.to_string_lossy().to_string(),
        sources: tables.into_iter().map(|t| t.stats).collect(),
        drift,
        linkage: summary,
        tables: written,
        stages,
        peak_memory_bytes: peak_memory_bytes(),
    };
    if manifest.linkage.model_trained {
        manifest.linkage.model.save(warehouse)?;
    }
    manifest.write(warehouse)?;
    Ok(manifest)
}

/// The sources of the warehouse's previous night, from its manifest; none on a first night.
fn previous_sources(warehouse: &Path) -> Vec<PreviousSource> {
    #[derive(serde::Deserialize)]
    struct Previous {
        sources: Vec<PreviousSource>,
    }
    std::fs::read_to_string(warehouse.join("_runs/latest.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<Previous>(&text).ok())
        .map(|p| p.sources)
        .unwrap_or_default()
}

/// The summary printed after a run.
pub fn summary(m: &RunManifest) -> String {
    let mut out = String::new();
    out.push_str(&format!("pophub run {} · pipeline {} · as of {}\n\n", m.run_id, m.pipeline, m.as_of));
    out.push_str(&format!("{:<28} {:>10} {:>10} {:>11}\n", "source", "read", "accepted", "quarantined"));
    for s in &m.sources {
        out.push_str(&format!("{:<28} {:>10} {:>10} {:>11}\n", s.source, s.rows_read, s.accepted, s.quarantined));
        for (reason, n) in &s.quarantine_reasons {
            out.push_str(&format!("    quarantined {reason}: {n}\n"));
        }
    }
    if !m.drift.is_empty() {
        out.push('\n');
        out.push_str(&drift::render(&m.drift));
    }
    let l = &m.linkage;
    out.push_str(&format!(
        "\nmentions {} → persons {} ({} candidate pairs scored; model {}, prior {:.1})\n",
        l.mentions,
        l.persons,
        l.pairs_scored,
        if l.model_trained { "learned tonight" } else { "of earlier nights" },
        l.model.prior_weight
    ));
    for (rule, n) in &l.rules {
        out.push_str(&format!("    {rule:<20} {n:>10}\n"));
    }
    out.push_str("\ntables: ");
    out.push_str(&m.tables.iter().map(|t| format!("{} {} (v{})", t.name, t.rows, t.version)).collect::<Vec<_>>().join(", "));
    out.push_str("\nstages: ");
    out.push_str(&m.stages.iter().map(|s| format!("{} {:.2}s (peak {:.0} MB)", s.stage, s.seconds, s.peak_memory_bytes as f64 / 1e6)).collect::<Vec<_>>().join(", "));
    out.push_str(&format!("\npeak memory: {:.1} MB\n", m.peak_memory_bytes as f64 / 1e6));
    out
}
