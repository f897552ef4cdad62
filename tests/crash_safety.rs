//! Crash safety: a run killed at named crash points and by real `kill -9` at seeded random
//! moments leaves the last committed night current, whole and readable as before; the next run
//! cleans up and commits.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use common::*;

const TABLES_READ_WHOLE: &[&str] = &["person", "person_source", "person_house", "pension_payment"];

/// A warehouse with night 1 committed, and the exports of a week later to run into it.
struct Scene {
    _dir: tempfile::TempDir,
    warehouse: std::path::PathBuf,
    later: std::path::PathBuf,
    before: Vec<Vec<String>>,
}

fn scene() -> Scene {
    let first = generated(1500, 31, 1);
    let later = generated(1500, 31, 8);
    let dir = tempfile::tempdir().unwrap();
    let warehouse = dir.path().join("warehouse");
    ok(&["run", PIPELINE, "--data-root", path(&first), "--warehouse", path(&warehouse)]);
    let before = TABLES_READ_WHOLE.iter().map(|t| dump(&warehouse, 1, t)).collect();
    Scene { _dir: dir, warehouse, later, before }
}

fn second_night(s: &Scene) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pophub"));
    c.args(["run", PIPELINE, "--data-root", path(&s.later), "--warehouse", path(&s.warehouse), "--as-of", "2026-11-08"]);
    c.stdout(Stdio::null()).stderr(Stdio::null());
    c
}

/// Night 1 is still current and reads exactly as before; its tables reference only its persons.
fn assert_night_one_intact(s: &Scene, after: &str) {
    let log = nights(&s.warehouse);
    assert_eq!(log["current"], 1, "after {after}: {log}");
    assert_eq!(log["nights"].as_array().unwrap().len(), 1, "after {after}");
    for (table, before) in TABLES_READ_WHOLE.iter().zip(&s.before) {
        assert_eq!(&dump(&s.warehouse, 1, table), before, "after {after}: {table} changed");
    }
    let tables = log["nights"][0]["tables"].as_object().unwrap();
    let counts: Vec<String> = tables.keys().map(|t| format!("SELECT '{t}' AS t, COUNT(*) AS n FROM {t}")).collect();
    let text = ok(&["sql", &counts.join(" UNION ALL "), "--warehouse", path(&s.warehouse), "--format", "csv"]);
    let counted = csv_rows(&text);
    assert_eq!(counted.len(), tables.len());
    for row in counted {
        assert_eq!(row[1].parse::<u64>().unwrap(), tables[&row[0]]["rows"].as_u64().unwrap(), "after {after}: {}", row[0]);
    }
    let orphans = sql_value(
        &s.warehouse,
        None,
        "SELECT (SELECT COUNT(*) FROM person_source WHERE person_key IS NOT NULL AND person_key NOT IN (SELECT person_key FROM person)) \
              + (SELECT COUNT(*) FROM person_house WHERE person_key NOT IN (SELECT person_key FROM person))",
    );
    assert_eq!(orphans, "0", "after {after}");
}

/// The next run removes what the killed one left and commits a new night (night 2, or a later
/// number when a killed run had committed before its kill and was rolled back).
fn assert_next_run_commits(s: &Scene) {
    let before = nights(&s.warehouse)["current"].as_u64().unwrap();
    let status = second_night(s).status().unwrap();
    assert!(status.success());
    let log = nights(&s.warehouse);
    assert!(log["current"].as_u64().unwrap() > before, "{log}");
    assert!(!s.warehouse.join("_staging").exists(), "staging is removed");
}

#[test]
fn a_run_killed_at_each_crash_point_leaves_the_last_night_whole() {
    let s = scene();
    for point in ["run-ingested", "run-linked", "publish-table:person", "publish-table:quarantine", "run-before-commit", "before-rename:log.json"] {
        let status = second_night(&s).env("POPHUB_CRASH_AT", point).status().unwrap();
        assert_eq!(status.code(), None, "{point}: the process was killed, it did not exit");
        assert_night_one_intact(&s, point);
    }
    assert!(s.warehouse.join("_staging").exists(), "the killed runs left staging behind");
    assert_next_run_commits(&s);
}

#[test]
fn a_run_killed_by_sigkill_at_random_moments_leaves_the_last_night_whole() {
    let s = scene();
    // How long a whole second night takes here, measured on a copy.
    let probe = tempfile::tempdir().unwrap();
    let copy = probe.path().join("warehouse");
    copy_dir(&s.warehouse, &copy);
    let started = Instant::now();
    let status = Command::new(env!("CARGO_BIN_EXE_pophub"))
        .args(["run", PIPELINE, "--data-root", path(&s.later), "--warehouse", path(&copy), "--as-of", "2026-11-08"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let whole = started.elapsed();
    // Seeded moments spread over the run (a fixed seed: the same moments every time).
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for round in 0..4 {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let at = whole.mul_f64(0.1 + 0.8 * ((state >> 33) as f64 / (1u64 << 31) as f64));
        let mut child = second_night(&s).spawn().unwrap();
        std::thread::sleep(at);
        let _ = Command::new("kill").args(["-9", &child.id().to_string()]).status();
        let status = child.wait().unwrap();
        // Finished before the kill, or killed after its commit (writing its report, keeping
        // tonight's rows for reuse): a later night is committed whole; start again from night 1.
        if status.success() || nights(&s.warehouse)["current"] != 1 {
            ok(&["rollback", "--to", "1", "--warehouse", path(&s.warehouse)]);
            continue;
        }
        assert_night_one_intact(&s, &format!("kill -9 after {:?} (round {round})", at));
    }
    assert_next_run_commits(&s);
}

#[test]
fn a_full_disk_fails_the_night_naming_the_path_and_commits_nothing() {
    let data = generated(1500, 31, 1);
    // Tmpfs warehouses too small for the night: the first fills up while staging the rows, the
    // second while publishing the tables.
    for (size, stage) in [("400k", "staging its accepted rows in"), ("1500k", "writing Delta table")] {
        let dir = tempfile::tempdir().unwrap();
        let mount = dir.path().join("small");
        std::fs::create_dir_all(&mount).unwrap();
        let mounted = Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs", path(&mount)]).status();
        if !mounted.is_ok_and(|s| s.success()) {
            // Only root may mount; CI runs as root.
            assert!(std::env::var_os("CI").is_none(), "CI must be able to mount a tmpfs");
            eprintln!("mount -t tmpfs is not permitted here; the full-disk case is not exercised");
            return;
        }
        struct Unmount<'a>(&'a Path);
        impl Drop for Unmount<'_> {
            fn drop(&mut self) {
                let _ = Command::new("umount").arg(self.0).status();
            }
        }
        let _unmount = Unmount(&mount);
        let warehouse = mount.join("warehouse");
        let out = pophub(&["run", PIPELINE, "--data-root", path(&data), "--warehouse", path(&warehouse)]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{size}: {stderr}");
        assert!(stderr.contains(stage) && stderr.contains(path(&warehouse)) && stderr.contains("No space left on device"), "{size}: {stderr}");
        assert!(!warehouse.join("_nights/log.json").exists(), "{size}: nothing was committed");
        assert_eq!(nights(&warehouse)["current"], serde_json::Value::Null);
        // The failed run left its manifest, saying where it failed.
        if let Some(m) = run_manifests(&warehouse).first() {
            assert_eq!(m["status"], "failed", "{size}: {m}");
        }
    }
}
