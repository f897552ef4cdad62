//! The warehouse on disk: one module owns its layout, so no other module knows a path in it.
//!
//! ```text
//! <warehouse>/
//!   <table>/                 a Delta table per published table (every night a new version)
//!   _nights/log.json         the committed nights and which is current: the unit of publication
//!   _runs/<run_id>.json      every run's record (committed, stopped or failed)
//!   _runs/<run_id>/report.html  that run's report for the engineer on duty
//!   _staging/<run_id>/       a run's accepted rows until they are published
//!   _linkage/<run_id>.json   the linkage model, as learned by that run
//!   _sources/<source>/       the last committed run's staged rows of each source, for reuse
//!   _review/decisions.jsonl  reviewers' decisions
//!   _lock                    the one writer's lock
//!   _access/users.json       the server's users: name, role, SCRAM verifier (`pophub user`)
//!   _audit/                  the server's audit log, a Delta table partitioned by night
//! ```
//!
//! A night becomes visible in one step: its tables are written as new Delta versions first,
//! then `_nights/log.json` is replaced (temp file and rename) with the night and its pinned
//! versions added. Readers resolve a night through the log only, so a run killed at any point
//! leaves the last committed night current and whole.

pub mod lock;
pub mod nights;
pub mod tables;
pub mod vacuum;

use std::io::Write;
use std::path::{Path, PathBuf};

pub use lock::WriterLock;
pub use nights::{Night, NightLog, TableVersion};

/// A problem with the warehouse on disk, or a request it cannot honour.
#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    /// A warehouse file or folder cannot be read, written or removed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why the operation failed.
        source: std::io::Error,
    },
    /// A warehouse file does not parse, is of another layout version, or is missing when it must
    /// exist (a committed night's manifest).
    #[error("{path}: {message}; the file is damaged: restore it from a backup (pophub never writes it in place)")]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// Another process holds the writer lock.
    #[error("{warehouse} is locked by {holder}; wait for it to finish, or stop that process")]
    Locked {
        /// The warehouse's folder.
        warehouse: PathBuf,
        /// Who holds the lock: command, pid, host and since when.
        holder: String,
    },
    /// The warehouse (this folder) has no current night: nothing was ever committed.
    #[error("{0} has no committed night; run `pophub run PIPELINE --warehouse {0}` first")]
    NoNight(PathBuf),
    /// The night asked for was never committed, or vacuum removed it.
    #[error("night {night} is not in {warehouse}: {available}")]
    UnknownNight {
        /// The warehouse's folder.
        warehouse: PathBuf,
        /// The night asked for.
        night: u32,
        /// Why it is not there, and the nights that can be read.
        available: String,
    },
    /// A request refused, with the reason: a vacuum that would remove the current night, a night
    /// without a table the run needs.
    #[error("{0}")]
    Refused(String),
    /// A night's Delta table cannot be opened at its pinned version, or vacuumed.
    #[error("table `{table}` of night {night}: {source}")]
    Delta {
        /// The published table.
        table: String,
        /// The night whose version was being opened (for a vacuum, the current night).
        night: u32,
        /// Why it cannot be read.
        source: Box<tables::TableError>,
    },
}

/// The paths of one warehouse.
#[derive(Debug, Clone)]
pub struct Warehouse {
    root: PathBuf,
}

impl Warehouse {
    /// The warehouse in this folder; nothing is read or created yet.
    pub fn new(root: &Path) -> Warehouse {
        Warehouse { root: root.to_path_buf() }
    }

    /// The warehouse's folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder of a published Delta table.
    pub fn table(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// `_nights/log.json`: the committed nights and which one is current.
    pub fn night_log(&self) -> PathBuf {
        self.root.join("_nights").join("log.json")
    }

    /// `_runs/<run_id>.json`: a run's manifest.
    pub fn run_record(&self, run_id: &str) -> PathBuf {
        self.root.join("_runs").join(format!("{run_id}.json"))
    }

    /// `_runs/<run_id>/report.html`: a run's report for the engineer on duty.
    pub fn run_report(&self, run_id: &str) -> PathBuf {
        self.root.join("_runs").join(run_id).join("report.html")
    }

    /// `_staging/`: every run's accepted rows until they are published.
    pub fn staging_root(&self) -> PathBuf {
        self.root.join("_staging")
    }

    /// `_staging/<run_id>/`: a run's accepted rows until they are published.
    pub fn staging(&self, run_id: &str) -> PathBuf {
        self.staging_root().join(run_id)
    }

    /// The linkage model learned by a run.
    pub fn model(&self, run_id: &str) -> PathBuf {
        self.root.join("_linkage").join(format!("{run_id}.json"))
    }

    /// Where each source's rows are kept for later runs (`ingest::reuse`).
    pub fn reuse_store(&self) -> PathBuf {
        self.root.join("_sources")
    }

    /// `_review/decisions.jsonl`: reviewers' decisions, one JSON object a line.
    pub fn review_decisions(&self) -> PathBuf {
        self.root.join("_review").join("decisions.jsonl")
    }

    /// `_lock`: the file the writer lock is taken on; it names the holder.
    pub fn lock_file(&self) -> PathBuf {
        self.root.join("_lock")
    }

    /// The server's users and their SCRAM verifiers.
    pub fn users(&self) -> PathBuf {
        self.root.join("_access").join("users.json")
    }

    /// The server's audit log (a Delta table the server appends to; no night pins it).
    pub fn audit_log(&self) -> PathBuf {
        self.root.join("_audit")
    }

    /// Removes what runs killed before their end left behind (only the lock holder may call
    /// this: no other run can be writing). Returns the bytes reclaimed.
    pub fn remove_leftover_staging(&self, _lock: &WriterLock) -> Result<u64, WarehouseError> {
        let root = self.staging_root();
        if !root.exists() {
            return Ok(0);
        }
        let bytes = dir_bytes(&root);
        std::fs::remove_dir_all(&root).map_err(|source| WarehouseError::Io { path: root.clone(), source })?;
        Ok(bytes)
    }
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| match e.file_type() {
        Ok(t) if t.is_dir() => dir_bytes(&e.path()),
        _ => e.metadata().map_or(0, |m| m.len()),
    }).sum()
}

/// A named point of a run where the crash-safety tests stop it: `POPHUB_CRASH_AT=<point>` ends
/// the process there as `kill -9` would (an abort: no destructor runs, nothing is flushed), and
/// `POPHUB_PAUSE_AT=<point>=<ms>` holds it there that long. Nothing happens otherwise; the points
/// are `run-ingested`, `run-linked`, `publish-table:<table>` (after the table is written),
/// `run-before-commit` and `before-rename:<file>` (a warehouse file written, not yet renamed).
pub fn crash_point(point: &str) {
    if let Some(pause) = std::env::var("POPHUB_PAUSE_AT").ok().and_then(|v| v.strip_prefix(&format!("{point}=")).and_then(|ms| ms.parse().ok())) {
        std::thread::sleep(std::time::Duration::from_millis(pause));
    }
    if std::env::var_os("POPHUB_CRASH_AT").is_some_and(|v| v == point) {
        std::process::abort();
    }
}

/// Every Delta commit pophub makes: the log entries of old versions are never cleaned up, since
/// kept nights pin versions of any age.
pub fn commit_properties() -> deltalake::kernel::transaction::CommitProperties {
    deltalake::kernel::transaction::CommitProperties::default().with_cleanup_expired_logs(Some(false))
}

/// Writes a warehouse file whole or not at all: into a temporary file beside it, flushed to
/// disk, then renamed over the old one, so a reader or a crash sees the old file or the new.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), WarehouseError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| WarehouseError::Io { path, source }
    };
    let dir = path.parent().expect("a warehouse file sits in a folder");
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let name = path.file_name().expect("a file name").to_string_lossy();
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = std::fs::File::create(&temp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    if let Err(source) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(WarehouseError::Io { path: temp, source });
    }
    crash_point(&format!("before-rename:{name}"));
    std::fs::rename(&temp, path).map_err(io(path))?;
    // The rename itself is durable once the folder is synced.
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// Reads a JSON file of the warehouse; `None` when it does not exist, an error naming the file
/// when it does not parse (never silently treated as absent).
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, WarehouseError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(WarehouseError::Io { path: path.to_path_buf(), source }),
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| WarehouseError::Corrupt { path: path.to_path_buf(), message: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_writes_replace_whole_files_and_corrupt_json_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("_nights/log.json");
        write_atomic(&path, b"[1, 2]").unwrap();
        write_atomic(&path, b"[3]").unwrap();
        assert_eq!(read_json::<Vec<u32>>(&path).unwrap(), Some(vec![3]));
        assert_eq!(std::fs::read_dir(path.parent().unwrap()).unwrap().count(), 1, "no temporary file is left");
        assert_eq!(read_json::<Vec<u32>>(&dir.path().join("absent.json")).unwrap(), None);
        std::fs::write(&path, b"[3").unwrap();
        let err = read_json::<Vec<u32>>(&path).unwrap_err().to_string();
        assert!(err.contains("log.json") && err.contains("damaged"), "{err}");
    }
}
