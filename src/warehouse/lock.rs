//! The one-writer lock: `run`, `rollback` and `vacuum` hold it; readers never take it.
//!
//! An exclusive `flock` on `<warehouse>/_lock`, which the kernel releases when the holder dies,
//! so a lock can never outlive its process. The file names the holder (pid, host, since,
//! command) for the error a second writer gets; it is emptied on a clean release, so a holder
//! found in a file we could lock is a process that died holding it, and is reported as taken over.
//! The file itself is never removed: a removed lock file would let two writers lock two files.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};

use serde::{Deserialize, Serialize};

use super::{Warehouse, WarehouseError};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Holder {
    pid: u32,
    host: String,
    since: String,
    command: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`pophub {}` (pid {} on {}, since {})", self.command, self.pid, self.host, self.since)
    }
}

/// Held while the value lives.
#[derive(Debug)]
pub struct WriterLock {
    file: File,
    /// The holder that died with the lock, when this one took it over.
    pub taken_over_from: Option<String>,
}

impl WriterLock {
    /// Takes the lock at once or fails naming who holds it.
    pub fn acquire(warehouse: &Warehouse, command: &str) -> Result<WriterLock, WarehouseError> {
        let path = warehouse.lock_file();
        let io = |source| WarehouseError::Io { path: path.clone(), source };
        std::fs::create_dir_all(warehouse.root()).map_err(|source| WarehouseError::Io { path: warehouse.root().to_path_buf(), source })?;
        let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
        let mut text = String::new();
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                file.read_to_string(&mut text).map_err(io)?;
                let holder = serde_json::from_str::<Holder>(&text).map_or_else(|_| "another process (it is still starting)".to_string(), |h| h.to_string());
                return Err(WarehouseError::Locked { warehouse: warehouse.root().to_path_buf(), holder });
            }
            Err(TryLockError::Error(source)) => return Err(io(source)),
        }
        file.read_to_string(&mut text).map_err(io)?;
        let taken_over_from = serde_json::from_str::<Holder>(&text).ok().map(|h| h.to_string());
        let me = Holder { pid: std::process::id(), host: super::nights::host(), since: chrono::Utc::now().to_rfc3339(), command: command.into() };
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        file.write_all(serde_json::to_string(&me).expect("serialises").as_bytes()).and_then(|()| file.sync_all()).map_err(io)?;
        Ok(WriterLock { file, taken_over_from })
    }
}

impl Drop for WriterLock {
    fn drop(&mut self) {
        // Emptied first: a holder still named in the file means the holder died.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_with_the_holder_and_a_released_lock_can_be_taken() {
        let dir = tempfile::tempdir().unwrap();
        let wh = Warehouse::new(dir.path());
        let first = WriterLock::acquire(&wh, "run").unwrap();
        assert!(first.taken_over_from.is_none());
        let err = WriterLock::acquire(&wh, "vacuum").unwrap_err().to_string();
        assert!(err.contains("`pophub run`") && err.contains(&format!("pid {}", std::process::id())), "{err}");
        drop(first);
        let again = WriterLock::acquire(&wh, "rollback").unwrap();
        assert!(again.taken_over_from.is_none(), "a clean release leaves no holder behind");
    }
}
