//! The nightly run: ingest → identity → link → publish → commit, timed stage by stage, with a
//! manifest and a short summary for the engineer on duty.
//!
//! A run holds the warehouse's writer lock throughout, follows the current night (its model,
//! its keys, its counts for drift), writes every table as a new Delta version and then commits
//! the night in one atomic step. Whatever ends it early (an error, drift, `kill -9`), the
//! current night stays as it was; a run that ends with an error leaves a manifest saying where
//! and why.

use std::time::Instant;

use chrono::{NaiveDate, Utc};

use crate::config::{DriftAction, Pipeline};
use crate::ingest::drift::{self, DriftEvent};
use crate::link::{self, model::{Model, ModelError}};
use crate::night_report::NightReport;
use crate::progress::{Progress, Unit};
use crate::publish::{self, manifest::{LinkSummary, RunManifest, RunStatus, SCHEMA_VERSION, StageTiming, peak_memory_bytes}};
use crate::warehouse::{Night, NightLog, Warehouse, WriterLock, crash_point};

/// How a run treats what earlier nights left.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Learn the linkage model again instead of using the current night's.
    pub retrain: bool,
    /// Parse every source, even one whose files an earlier run already parsed.
    pub reparse: bool,
    /// Score every mention, even those whose links could be carried over from the current night.
    pub relink: bool,
}

/// Runs the pipeline into the warehouse and commits the night; returns the run's manifest. The
/// linkage model of the current night is used unless `retrain` is set or there is none; a model
/// learned tonight is kept for the nights after, so unchanged records keep their links. A
/// source whose files are unchanged since the last run is not parsed again (unless `reparse`).
pub async fn run(pipeline: &Pipeline, warehouse: &Warehouse, options: RunOptions, progress: &Progress) -> Result<RunManifest, crate::Error> {
    let lock = WriterLock::acquire(warehouse, "run")?;
    if let Some(holder) = &lock.taken_over_from {
        tracing::warn!("took over the writer lock of {holder}: that process is gone");
    }
    let reclaimed = warehouse.remove_leftover_staging(&lock)?;
    if reclaimed > 0 {
        tracing::warn!("removed {:.1} MB of staging that killed runs left behind", reclaimed as f64 / 1e6);
    }
    let started_at = Utc::now();
    let run_id = started_at.format("%Y%m%dT%H%M%S%3fZ").to_string();
    let mut record = RunManifest {
        schema_version: SCHEMA_VERSION,
        run_id: run_id.clone(),
        status: RunStatus::Failed,
        night: None,
        failed_stage: None,
        reason: None,
        pophub_version: env!("CARGO_PKG_VERSION").to_string(),
        pipeline: pipeline.pipeline.name.clone(),
        pipeline_file: pipeline.file.to_string_lossy().to_string(),
        pipeline_sha256: pipeline.sha256.clone(),
        as_of: pipeline.pipeline.as_of.unwrap_or_else(|| started_at.date_naive()).to_string(),
        started_at: started_at.to_rfc3339(),
        finished_at: String::new(),
        warehouse: warehouse.root().to_string_lossy().to_string(),
        sources: Vec::new(),
        drift: Vec::new(),
        linkage: None,
        tables: Vec::new(),
        stages: Vec::new(),
        publish_stages: Vec::new(),
        peak_memory_bytes: 0,
    };
    // Accepted rows wait in a staging folder of the warehouse until they are published; the
    // folder goes once the night is committed or has failed (a killed run's, at the next run).
    let staging = warehouse.staging(&run_id);
    let result = night(pipeline, warehouse, &lock, &staging, &mut record, options, progress).await;
    let _ = std::fs::remove_dir_all(&staging);
    let _ = std::fs::remove_dir(warehouse.staging_root());
    match result {
        Ok(()) => {
            write_report(warehouse, &record).await;
            Ok(record)
        }
        Err(e) => {
            record.status = if matches!(e, crate::Error::Drift(_)) { RunStatus::Stopped } else { RunStatus::Failed };
            record.reason = Some(e.to_string());
            record.finished_at = Utc::now().to_rfc3339();
            record.peak_memory_bytes = peak_memory_bytes();
            if let Err(written) = record.write(warehouse) {
                tracing::warn!("the failed run's manifest could not be written: {written}");
            }
            write_report(warehouse, &record).await;
            Err(e)
        }
    }
}

async fn night(pipeline: &Pipeline, warehouse: &Warehouse, lock: &WriterLock, staging: &std::path::Path, record: &mut RunManifest, options: RunOptions, progress: &Progress) -> Result<(), crate::Error> {
    let as_of: NaiveDate = record.as_of.parse().expect("written from a date");
    let mut log = NightLog::load(warehouse)?;
    let previous: Option<Night> = log.current().cloned();
    let previous_run = previous.as_ref().map(|n| RunManifest::read(warehouse, &n.run_id)).transpose()?;
    let mut clock = Instant::now();
    let lap = |stage: &str, record: &mut RunManifest, clock: &mut Instant| {
        record.stages.push(StageTiming { stage: stage.to_string(), seconds: clock.elapsed().as_secs_f64(), peak_memory_bytes: peak_memory_bytes() });
        *clock = Instant::now();
    };

    record.failed_stage = Some("ingest".into());
    let store = warehouse.reuse_store();
    let tables = crate::ingest::ingest(pipeline, as_of, staging, (!options.reparse).then_some(store.as_path()), progress).await?;
    record.sources = tables.iter().map(|t| t.stats.clone()).collect();
    lap("ingest", record, &mut clock);
    crash_point("run-ingested");

    // Drift is reported before anything is published; a source whose policy says so stops the night.
    record.failed_stage = Some("drift".into());
    let mut drift: Vec<DriftEvent> = tables.iter().flat_map(|t| t.drift.iter().cloned()).collect();
    drift.extend(drift::quarantine_share(pipeline, &record.sources));
    if let Some(before) = &previous_run {
        drift.extend(drift::against_previous(pipeline, &record.sources, &before.sources));
    }
    for event in &drift {
        match event.action {
            DriftAction::Stop => tracing::error!(source = %event.source, kind = %event.kind, "{}", drift::render(std::slice::from_ref(event)).trim_end()),
            DriftAction::Warn => tracing::warn!(source = %event.source, kind = %event.kind, "{}", drift::render(std::slice::from_ref(event)).trim_end()),
        }
    }
    record.drift = drift;
    let stopping = record.drift.iter().filter(|e| e.action == DriftAction::Stop).count();
    if stopping > 0 {
        return Err(crate::Error::Drift(record.drift.len()));
    }

    record.failed_stage = Some("identity".into());
    let rows_with_mentions = tables.iter().filter(|t| t.mentions.is_some()).map(|t| t.stats.accepted).sum();
    let stage = progress.stage("identity", rows_with_mentions, Unit::Items("rows"));
    let mentions = link::mentions::build(pipeline, &tables, as_of, staging, pipeline.engine.threads(), &stage)?;
    stage.finish();
    lap("identity", record, &mut clock);

    record.failed_stage = Some("link".into());
    let decisions = link::review::Decisions::load(warehouse)?;
    let stored = match (&previous, options.retrain) {
        (Some(night), false) => {
            let path = warehouse.model(&night.model_run);
            let model = Model::load(&path)?;
            Some(model.ok_or_else(|| ModelError::Read { path, message: format!("night {} was linked with it, but it is missing", night.night) })?)
        }
        _ => None,
    };
    // Last night's links, to carry over those that hold unscored: only under the same model
    // and thresholds.
    let same_thresholds = previous_run.as_ref().and_then(|r| r.linkage.as_ref()).is_some_and(|l| {
        l.match_weight == pipeline.linkage.match_weight && l.margin_weight == pipeline.linkage.margin_weight
    });
    let carry_from = match &previous {
        Some(night) if stored.is_some() && same_thresholds && !options.relink => Some(previous_links(warehouse, night, as_of).await?),
        _ => None,
    };
    lap("previous_links", record, &mut clock);
    let stage = progress.stage("link", mentions.linker.num_rows() as u64, Unit::Items("mentions"));
    let linkage = link::link(&mentions.linker, &pipeline.linkage, pipeline.engine.threads(), &decisions, stored.as_ref(), carry_from.as_ref(), &stage);
    stage.finish();
    drop(carry_from);
    let link::mentions::Mentions { linker, staged: staged_mentions } = mentions;
    drop(linker);
    let decided: std::collections::HashSet<link::PersonKey> =
        decisions.same.values().chain(decisions.different.iter().map(|(_, k)| k)).filter_map(|k| link::PersonKey::parse(k)).collect();
    let persons: std::collections::HashSet<link::PersonKey> = linkage.keys.iter().copied().filter(|k| decided.contains(k)).collect();
    let mut decisions_not_applied: Vec<String> = decisions
        .same
        .iter()
        .map(|(m, k)| (m, "same", k))
        .chain(decisions.different.iter().map(|(m, k)| (m, "different", k)))
        .filter(|(_, _, k)| link::PersonKey::parse(k).is_none_or(|k| !persons.contains(&k)))
        .map(|(m, verdict, k)| format!("{m} {verdict} {k}"))
        .collect();
    decisions_not_applied.sort();
    drop(persons);
    let mut rules = std::collections::BTreeMap::new();
    for r in &linkage.rule {
        *rules.entry(r.as_str().to_string()).or_default() += 1;
    }
    let summary = LinkSummary {
        match_weight: pipeline.linkage.match_weight,
        margin_weight: pipeline.linkage.margin_weight,
        review_weight: pipeline.linkage.review_weight,
        model_trained: linkage.trained,
        model: linkage.model.clone(),
        mentions: linkage.rule.len() as u64,
        persons: linkage.founders.len() as u64,
        pairs_scored: linkage.pairs_scored,
        mentions_carried: linkage.carried,
        pairs_by_block: link::resolve::BLOCKING_RULES.iter().map(|b| (b.as_str().to_string(), linkage.pairs_by_block[*b as usize])).collect(),
        rules,
        decisions_not_applied,
    };
    lap("link", record, &mut clock);
    crash_point("run-linked");

    // Publish's sorts, aggregations and (on large nights) joins spill beyond the engine's pool.
    record.failed_stage = Some("publish".into());
    let memory_limit = pipeline.engine.memory_limit_mb << 20;
    let tables_at_once = crate::engine::tables_at_once(memory_limit, pipeline.engine.threads());
    let ctx = crate::engine::publish_session(as_of, memory_limit, linkage.rule.len(), tables_at_once, pipeline.engine.hash_joins);
    (record.tables, record.publish_stages) = publish::publish(&ctx, pipeline, &tables, (&staged_mentions, linkage), staging, warehouse, previous.as_ref(), (as_of, &record.run_id), tables_at_once, progress).await?;
    let model_run = match &previous {
        Some(night) if !summary.model_trained => night.model_run.clone(),
        _ => {
            summary.model.save(&warehouse.model(&record.run_id))?;
            record.run_id.clone()
        }
    };
    record.linkage = Some(summary);
    lap("publish", record, &mut clock);

    // The commit: the manifest first (a manifest no night names is a run killed before its
    // commit), then the night log, replaced in one rename.
    record.failed_stage = Some("commit".into());
    let number = log.next_number();
    record.status = RunStatus::Committed;
    record.night = Some(number);
    record.finished_at = Utc::now().to_rfc3339();
    record.peak_memory_bytes = peak_memory_bytes();
    let committed = Night {
        night: number,
        run_id: record.run_id.clone(),
        as_of: record.as_of.clone(),
        started_at: record.started_at.clone(),
        finished_at: record.finished_at.clone(),
        model_trained: record.linkage.as_ref().is_some_and(|l| l.model_trained),
        model_run,
        tables: record.tables.clone(),
        vacuumed: false,
    };
    let commit_started = Instant::now();
    record.failed_stage = None;
    record.write(warehouse)?;
    crash_point("run-before-commit");
    log.commit(warehouse, lock, committed)?;
    record.stages.push(StageTiming { stage: "commit".into(), seconds: commit_started.elapsed().as_secs_f64(), peak_memory_bytes: peak_memory_bytes() });
    // Once more with the commit's timing; the night is committed whether or not this lands.
    record.write(warehouse)?;
    // Tonight's rows of each source, for the next run to reuse; a cache, so a failure only warns.
    for t in &tables {
        if let Err(e) = crate::ingest::reuse::save(&store.join(&t.stats.source), t, as_of) {
            tracing::warn!("the rows of {} are not kept for reuse: {e}", t.stats.source);
        }
    }
    Ok(())
}

/// Writes the run's report page; the run's outcome stands whether or not it can be written.
async fn write_report(warehouse: &Warehouse, record: &RunManifest) {
    let started = Instant::now();
    let written = match NightLog::load(warehouse) {
        Ok(log) => match NightReport::of_run(warehouse, &log, record.clone()).await {
            Ok(report) => report.write_page(warehouse),
            Err(e) => Err(e),
        },
        Err(e) => Err(e.into()),
    };
    match written {
        Ok(page) => tracing::info!(seconds = started.elapsed().as_secs_f64(), "report: {} written in {:.1} s", page.display(), started.elapsed().as_secs_f64()),
        Err(e) => tracing::warn!("the run's report was not written: {e}"),
    }
}

/// The current night's links, as `link::carry` compares them.
async fn previous_links(warehouse: &Warehouse, night: &Night, as_of: NaiveDate) -> Result<arrow::array::RecordBatch, crate::Error> {
    let table = night.table("person_source").map(|t| t.version);
    let engine = |e: datafusion::error::DataFusionError| publish::PublishError::Engine { table: "person_source".into(), source: Box::new(e) };
    let ctx = crate::engine::session(as_of, None);
    let delta = |source: crate::warehouse::tables::TableError| crate::warehouse::WarehouseError::Delta { table: "person_source".into(), night: night.night, source: Box::new(source) };
    let version = table.ok_or_else(|| crate::warehouse::WarehouseError::Refused(format!("night {} has no person_source", night.night)))?;
    crate::warehouse::tables::register_version(&ctx, warehouse, "person_source", version, "previous").await.map_err(delta)?;
    let frame = ctx.sql(&format!("SELECT {} FROM previous", link::carry::PREVIOUS_COLUMNS.join(", "))).await.map_err(engine)?;
    let schema = std::sync::Arc::new(frame.schema().as_arrow().clone());
    let batches = frame.collect().await.map_err(engine)?;
    Ok(arrow::compute::concat_batches(&schema, &batches).map_err(|e| engine(e.into()))?)
}

/// The summary printed after a run.
pub fn summary(m: &RunManifest) -> String {
    let mut out = String::new();
    out.push_str(&format!("pophub run {} · pipeline {} · as of {}\n\n", m.run_id, m.pipeline, m.as_of));
    out.push_str(&format!("{:<28} {:>10} {:>10} {:>11}\n", "source", "read", "accepted", "quarantined"));
    for s in &m.sources {
        let reused = if s.reused { "  (files unchanged: rows reused)" } else { "" };
        out.push_str(&format!("{:<28} {:>10} {:>10} {:>11}{reused}\n", s.source, s.rows_read, s.accepted, s.quarantined));
        for (reason, n) in &s.quarantine_reasons {
            out.push_str(&format!("    quarantined {reason}: {n}\n"));
        }
    }
    if !m.drift.is_empty() {
        out.push('\n');
        out.push_str(&drift::render(&m.drift));
    }
    let Some(l) = &m.linkage else { return out };
    out.push_str(&format!(
        "\nmentions {} → persons {} ({} links carried over unscored, {} candidate pairs scored; model {}, prior {:.1})\n",
        l.mentions,
        l.persons,
        l.mentions_carried,
        l.pairs_scored,
        if l.model_trained { "learned tonight" } else { "of earlier nights" },
        l.model.prior_weight
    ));
    for (rule, n) in &l.rules {
        out.push_str(&format!("    {rule:<20} {n:>10}\n"));
    }
    if !l.decisions_not_applied.is_empty() {
        out.push_str(&format!("\n{} reviewer decision(s) name a person no longer there and were not applied:\n", l.decisions_not_applied.len()));
        for d in l.decisions_not_applied.iter().take(10) {
            out.push_str(&format!("    {d}\n"));
        }
    }
    out.push_str(&format!("\nnight {} committed; tables: ", m.night.unwrap_or(0)));
    out.push_str(&m.tables.iter().map(|t| format!("{} {} (v{})", t.name, t.rows, t.version)).collect::<Vec<_>>().join(", "));
    out.push_str("\nstages: ");
    out.push_str(&m.stages.iter().map(|s| format!("{} {:.2}s (peak {:.0} MB)", s.stage, s.seconds, s.peak_memory_bytes as f64 / 1e6)).collect::<Vec<_>>().join(", "));
    out.push_str(&format!("\npeak memory: {:.1} MB\n", m.peak_memory_bytes as f64 / 1e6));
    out.push_str(&format!("report: {}\n", Warehouse::new(std::path::Path::new(&m.warehouse)).run_report(&m.run_id).display()));
    out
}
