//! The night log: every committed night with the Delta version it pinned for each table, which
//! night is current, and what was done to the log (commits, rollbacks, vacuums) by whom and when.
//! It is the only thing readers consult to know what is published, and it is replaced whole
//! (`write_atomic`) by the lock holder, so committing a night is one atomic rename.

use serde::{Deserialize, Serialize};

use super::{Warehouse, WarehouseError, WriterLock, read_json, write_atomic};

/// The layout version of `_nights/log.json`; a log of another version is refused, not guessed at.
pub const SCHEMA_VERSION: u32 = 1;

/// A table as one night published it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableVersion {
    /// The published table, e.g. `person`.
    pub name: String,
    /// The Delta version readers of this night open.
    pub version: u64,
    /// Rows in that version.
    pub rows: u64,
}

/// One committed night.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Night {
    /// 1, 2, 3… in commit order.
    pub night: u32,
    /// The run that committed the night (`_runs/<run_id>.json`).
    pub run_id: String,
    /// The day the exports describe.
    pub as_of: String,
    /// When that run started, RFC 3339 in UTC.
    pub started_at: String,
    /// When that run ended, RFC 3339 in UTC.
    pub finished_at: String,
    /// Whether the linkage model was learned by this night's run.
    pub model_trained: bool,
    /// The run that learned the model this night was linked with (`_linkage/<run_id>.json`).
    pub model_run: String,
    /// Every published table with the version the night pinned.
    pub tables: Vec<TableVersion>,
    /// Set by `vacuum` once the files only this night needed may be gone: it can no longer be read.
    #[serde(default)]
    pub vacuumed: bool,
}

impl Night {
    /// The version of the named table the night pinned, if it published one.
    pub fn table(&self, name: &str) -> Option<&TableVersion> {
        self.tables.iter().find(|t| t.name == name)
    }
}

/// Something done to the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NightEvent {
    /// `commit`, `rollback` or `vacuum`.
    pub action: String,
    /// The night committed, rolled back to, or the oldest night kept by a vacuum.
    pub night: u32,
    /// When it was done, RFC 3339 in UTC.
    pub at: String,
    /// `user@host`.
    pub by: String,
    /// More about it, e.g. `run <run_id>` or `from night 3`.
    pub detail: String,
}

/// `_nights/log.json`: every committed night, which one is current, and what was done to the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NightLog {
    /// Layout version of the log (`SCHEMA_VERSION`).
    pub schema_version: u32,
    /// The night readers see; `None` only before the first commit.
    pub current: Option<u32>,
    /// Every committed night, in commit order (vacuumed ones too).
    pub nights: Vec<Night>,
    /// Everything done to the log, oldest first.
    pub events: Vec<NightEvent>,
}

impl Default for NightLog {
    fn default() -> Self {
        NightLog { schema_version: SCHEMA_VERSION, current: None, nights: Vec::new(), events: Vec::new() }
    }
}

impl NightLog {
    /// The warehouse's log; empty when nothing was ever committed, an error when it is damaged.
    pub fn load(warehouse: &Warehouse) -> Result<NightLog, WarehouseError> {
        let path = warehouse.night_log();
        let log: NightLog = read_json(&path)?.unwrap_or_default();
        if log.schema_version != SCHEMA_VERSION {
            return Err(WarehouseError::Corrupt {
                path,
                message: format!("schema_version {} is not {SCHEMA_VERSION}, the one this pophub reads", log.schema_version),
            });
        }
        Ok(log)
    }

    /// The night readers see, if one was ever committed.
    pub fn current(&self) -> Option<&Night> {
        self.current.and_then(|n| self.nights.iter().find(|x| x.night == n))
    }

    /// The night asked for, or the current one; an error naming the nights there are otherwise.
    pub fn resolve(&self, warehouse: &Warehouse, night: Option<u32>) -> Result<&Night, WarehouseError> {
        let Some(n) = night.or(self.current) else {
            return Err(WarehouseError::NoNight(warehouse.root().to_path_buf()));
        };
        match self.nights.iter().find(|x| x.night == n) {
            Some(found) if !found.vacuumed => Ok(found),
            found => Err(WarehouseError::UnknownNight {
                warehouse: warehouse.root().to_path_buf(),
                night: n,
                available: match found {
                    Some(_) => format!("it was removed by `pophub vacuum`; readable nights: {}", self.readable()),
                    None => format!("readable nights: {}", self.readable()),
                },
            }),
        }
    }

    fn readable(&self) -> String {
        let n: Vec<String> = self.nights.iter().filter(|x| !x.vacuumed).map(|x| x.night.to_string()).collect();
        if n.is_empty() { "none".into() } else { n.join(", ") }
    }

    /// The number the next committed night gets.
    pub fn next_number(&self) -> u32 {
        self.nights.iter().map(|n| n.night).max().unwrap_or(0) + 1
    }

    /// Adds the night, makes it current and writes the log: the night's commit.
    pub fn commit(&mut self, warehouse: &Warehouse, _lock: &WriterLock, night: Night) -> Result<(), WarehouseError> {
        let event = self.event("commit", night.night, format!("run {}", night.run_id));
        self.current = Some(night.night);
        self.nights.push(night);
        self.events.push(event);
        self.save(warehouse)
    }

    /// Makes night `to` current again; the next run starts from it.
    pub fn rollback(&mut self, warehouse: &Warehouse, _lock: &WriterLock, to: u32) -> Result<(), WarehouseError> {
        let from = self.current;
        self.resolve(warehouse, Some(to))?;
        let detail = match from {
            Some(from) => format!("from night {from}"),
            None => String::new(),
        };
        let event = self.event("rollback", to, detail);
        self.current = Some(to);
        self.events.push(event);
        self.save(warehouse)
    }

    /// Records a vacuum that keeps only `kept` (the other nights become unreadable).
    pub fn mark_vacuumed(&mut self, warehouse: &Warehouse, _lock: &WriterLock, kept: &[u32]) -> Result<Vec<u32>, WarehouseError> {
        let mut dropped = Vec::new();
        for n in self.nights.iter_mut().filter(|n| !n.vacuumed && !kept.contains(&n.night)) {
            n.vacuumed = true;
            dropped.push(n.night);
        }
        let oldest = kept.iter().copied().min().unwrap_or(0);
        let event = self.event("vacuum", oldest, format!("kept nights {kept:?}, removed {dropped:?}"));
        self.events.push(event);
        self.save(warehouse)?;
        Ok(dropped)
    }

    fn event(&self, action: &str, night: u32, detail: String) -> NightEvent {
        NightEvent { action: action.into(), night, at: chrono::Utc::now().to_rfc3339(), by: who(), detail }
    }

    fn save(&self, warehouse: &Warehouse) -> Result<(), WarehouseError> {
        let text = serde_json::to_string_pretty(self).expect("the night log serialises");
        write_atomic(&warehouse.night_log(), text.as_bytes())
    }
}

/// The log as `pophub nights --format json` gives it to other tools: every night with, per
/// table, the folder and the Delta version to open (Python `deltalake`, Polars), and the events.
pub fn for_readers(warehouse: &Warehouse, log: &NightLog) -> serde_json::Value {
    let root = std::path::absolute(warehouse.root()).unwrap_or_else(|_| warehouse.root().to_path_buf());
    let nights: Vec<serde_json::Value> = log
        .nights
        .iter()
        .map(|n| {
            let tables: serde_json::Map<String, serde_json::Value> = n
                .tables
                .iter()
                .map(|t| (t.name.clone(), serde_json::json!({ "path": root.join(&t.name), "version": t.version, "rows": t.rows })))
                .collect();
            serde_json::json!({
                "night": n.night,
                "current": Some(n.night) == log.current,
                "readable": !n.vacuumed,
                "as_of": n.as_of,
                "run_id": n.run_id,
                "started_at": n.started_at,
                "finished_at": n.finished_at,
                "model_trained": n.model_trained,
                "model_run": n.model_run,
                "tables": tables,
            })
        })
        .collect();
    serde_json::json!({ "warehouse": root, "current": log.current, "nights": nights, "events": log.events })
}

/// The log for a person: one line per night, then the events.
pub fn render(log: &NightLog) -> String {
    let mut out = format!("{:<3} {:<6} {:<10} {:<20} {:<26} {:<26} {:<8} {:>9} {:>13} {:>9}\n",
        "", "night", "as_of", "run_id", "started_at", "finished_at", "model", "persons", "person_source", "payments");
    for n in &log.nights {
        let rows = |t: &str| n.table(t).map_or("-".to_string(), |t| t.rows.to_string());
        let mark = if Some(n.night) == log.current { "*" } else if n.vacuumed { "x" } else { "" };
        out.push_str(&format!("{mark:<3} {:<6} {:<10} {:<20} {:<26} {:<26} {:<8} {:>9} {:>13} {:>9}\n",
            n.night, n.as_of, n.run_id, short_time(&n.started_at), short_time(&n.finished_at),
            if n.model_trained { "learned" } else { "reused" }, rows("person"), rows("person_source"), rows("pension_payment")));
    }
    if log.nights.is_empty() {
        out.push_str("(no night committed yet)\n");
    }
    out.push_str("\n* current, x removed by vacuum; `--format json` lists every table's rows and version\n");
    if !log.events.is_empty() {
        out.push_str("\nevents:\n");
        for e in &log.events {
            out.push_str(&format!("  {} {:<8} night {:<4} by {} {}\n", short_time(&e.at), e.action, e.night, e.by, e.detail));
        }
    }
    out
}

fn short_time(rfc3339: &str) -> &str {
    rfc3339.get(..19).unwrap_or(rfc3339)
}

/// `user@host` of this process, for the events.
pub fn who() -> String {
    let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "unknown".into());
    format!("{user}@{}", host())
}

/// This machine's host name; `localhost` when it cannot be read.
pub fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn night(n: u32) -> Night {
        Night {
            night: n,
            run_id: format!("run{n}"),
            as_of: "2026-11-01".into(),
            started_at: String::new(),
            finished_at: String::new(),
            model_trained: n == 1,
            model_run: "run1".into(),
            tables: vec![TableVersion { name: "person".into(), version: u64::from(n) - 1, rows: 10 }],
            vacuumed: false,
        }
    }

    #[test]
    fn commits_rollbacks_and_vacuums_move_the_current_night() {
        let dir = tempfile::tempdir().unwrap();
        let wh = Warehouse::new(dir.path());
        let lock = WriterLock::acquire(&wh, "test").unwrap();
        let mut log = NightLog::load(&wh).unwrap();
        assert!(matches!(log.resolve(&wh, None), Err(WarehouseError::NoNight(_))));
        for n in 1..=3 {
            let number = log.next_number();
            log.commit(&wh, &lock, night(number)).unwrap();
            assert_eq!(number, n);
        }
        log.rollback(&wh, &lock, 2).unwrap();
        let log = NightLog::load(&wh).unwrap();
        assert_eq!(log.resolve(&wh, None).unwrap().night, 2);
        assert_eq!(log.next_number(), 4);
        assert_eq!(log.events.last().unwrap().detail, "from night 3");
        let mut log = log;
        assert_eq!(log.mark_vacuumed(&wh, &lock, &[2, 3]).unwrap(), vec![1]);
        let err = NightLog::load(&wh).unwrap().resolve(&wh, Some(1)).unwrap_err().to_string();
        assert!(err.contains("removed by `pophub vacuum`") && err.contains("2, 3"), "{err}");
        assert!(log.rollback(&wh, &lock, 9).is_err());
    }
}
