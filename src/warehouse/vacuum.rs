//! Vacuum: removes the files no kept night needs. The last K committed nights are kept (the
//! current night must be among them); every table is vacuumed by Delta in full mode with the
//! versions those nights pinned kept, so files of dropped nights, and of runs that were killed
//! before their night was committed, are reclaimed, and no kept night loses a file.

use std::collections::BTreeMap;

use deltalake::operations::vacuum::VacuumMode;

use super::{NightLog, Warehouse, WarehouseError, WriterLock, tables};

/// What a vacuum kept and removed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VacuumReport {
    /// The nights still readable, oldest first.
    pub kept_nights: Vec<u32>,
    /// The nights this vacuum made unreadable.
    pub removed_nights: Vec<u32>,
    /// Files deleted, per table.
    pub files_deleted: BTreeMap<String, usize>,
}

/// Keeps the last `keep_nights` readable nights (the current one must be among them) and deletes
/// every table file none of them needs.
pub async fn vacuum(warehouse: &Warehouse, lock: &WriterLock, keep_nights: usize) -> Result<VacuumReport, WarehouseError> {
    let mut log = NightLog::load(warehouse)?;
    let current = log.current().ok_or_else(|| WarehouseError::NoNight(warehouse.root().to_path_buf()))?.night;
    if keep_nights == 0 {
        return Err(WarehouseError::Refused("--keep-nights 0 would remove the current night; keep at least 1".into()));
    }
    let readable: Vec<u32> = log.nights.iter().filter(|n| !n.vacuumed).map(|n| n.night).collect();
    let kept: Vec<u32> = readable.iter().rev().take(keep_nights).rev().copied().collect();
    if !kept.contains(&current) {
        return Err(WarehouseError::Refused(format!(
            "night {current} is current (after a rollback) and is not among the last {keep_nights} nights {kept:?}: vacuum would remove it; keep more nights"
        )));
    }
    // The log says first that the dropped nights are gone; a vacuum killed after this only
    // leaves files behind, never a night that claims files it no longer has.
    let removed_nights = log.mark_vacuumed(warehouse, lock, &kept)?;
    let mut pinned: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for night in log.nights.iter().filter(|n| kept.contains(&n.night)) {
        for t in &night.tables {
            pinned.entry(t.name.clone()).or_default().push(t.version);
        }
    }
    let mut files_deleted = BTreeMap::new();
    for (name, versions) in pinned {
        let delta = |source: deltalake::DeltaTableError| WarehouseError::Delta { table: name.clone(), night: current, source: Box::new(source.into()) };
        // The latest version, committed as a night or not: Delta commits the vacuum after it.
        let table = tables::open_latest(warehouse, &name).await.map_err(delta)?;
        let (_, metrics) = table
            .vacuum()
            .with_keep_versions(&versions)
            .with_retention_period(chrono::Duration::zero())
            .with_enforce_retention_duration(false)
            .with_mode(VacuumMode::Full)
            .with_commit_properties(super::commit_properties())
            .await
            .map_err(delta)?;
        files_deleted.insert(name, metrics.files_deleted.len());
    }
    Ok(VacuumReport { kept_nights: kept, removed_nights, files_deleted })
}
