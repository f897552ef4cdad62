//! Whole nights: `nights`, `--night` time travel, `diff`, `rollback`, `vacuum`, the writer lock
//! and idempotence, on generated cities.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

fn run(data: &Path, warehouse: &Path, extra: &[&str]) -> String {
    let mut args = vec!["run", PIPELINE, "--data-root", path(data), "--warehouse", path(warehouse)];
    args.extend(extra);
    ok(&args)
}

fn rows(log: &serde_json::Value, night: usize, table: &str) -> u64 {
    log["nights"][night - 1]["tables"][table]["rows"].as_u64().unwrap()
}

#[test]
fn nights_time_travel_diff_and_rollback() {
    let first = generated(3000, 5, 1);
    let week = generated(3000, 5, 8);
    let dir = tempfile::tempdir().unwrap();
    let warehouse = dir.path().join("warehouse");
    run(&first, &warehouse, &[]);
    run(&week, &warehouse, &["--as-of", "2026-11-08"]);

    let log = nights(&warehouse);
    assert_eq!(log["current"], 2);
    let listed = log["nights"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!((listed[0]["as_of"].as_str(), listed[1]["as_of"].as_str()), (Some("2026-11-01"), Some("2026-11-08")));
    assert_eq!((listed[0]["model_trained"].as_bool(), listed[1]["model_trained"].as_bool()), (Some(true), Some(false)));
    let table = ok(&["nights", "--warehouse", path(&warehouse)]);
    assert!(table.contains("2026-11-08") && table.lines().any(|l| l.starts_with('*') && l.contains(" 2 ")), "{table}");

    // Each night answers with its own rows.
    for night in [1, 2] {
        let persons = sql_value(&warehouse, Some(night), "SELECT COUNT(*) FROM person");
        assert_eq!(persons.parse::<u64>().unwrap(), rows(&log, night as usize, "person"));
    }
    let deaths = |n| sql_value(&warehouse, Some(n), "SELECT COUNT(*) FROM person WHERE register_status = 'deceased'").parse::<u64>().unwrap();
    assert!(deaths(2) > deaths(1), "a week of deaths");

    // The diff counts what the generator changed in the register.
    let changes = csv_rows(&std::fs::read_to_string(week.join("truth/changes.csv")).unwrap());
    let changed = |kind: &str| changes.iter().filter(|r| r[1] == kind).count() as u64;
    assert!(changed("died_in_register") > 0 && changed("moved_out") > 0, "{changes:?}");
    let diff: serde_json::Value = serde_json::from_str(&ok(&["diff", "--from", "1", "--to", "2", "--warehouse", path(&warehouse), "--format", "json"])).unwrap();
    let details = diff["changes"].as_array().unwrap();
    let status_changes = |to: &str| details.iter().filter(|c| c["change"] == "changed" && c["column"] == "register_status" && c["after"] == to).count() as u64;
    assert_eq!(status_changes("deceased"), changed("died_in_register"), "{diff}");
    assert_eq!(status_changes("moved_out"), changed("moved_out"), "{diff}");
    let deltas: HashMap<String, i64> = diff["tables"].as_array().unwrap().iter().map(|t| (t["table"].as_str().unwrap().to_string(), t["rows_to"].as_i64().unwrap() - t["rows_from"].as_i64().unwrap())).collect();
    assert_eq!(deltas["person"], rows(&log, 2, "person") as i64 - rows(&log, 1, "person") as i64);
    assert_eq!(diff["persons_added"].as_i64().unwrap() - diff["persons_gone"].as_i64().unwrap(), deltas["person"], "{diff}");
    assert!(diff["persons_added"].as_u64().unwrap() >= changed("born"), "newborns found persons: {diff}");
    let text = ok(&["diff", "--from", "1", "--to", "2", "--warehouse", path(&warehouse)]);
    assert!(text.contains("register_status") && text.contains("pension_payment"), "{text}");
    let csv = ok(&["diff", "--from", "1", "--to", "2", "--warehouse", path(&warehouse), "--format", "csv"]);
    assert_eq!(csv_rows(&csv).len(), details.len());

    // Rollback: night 1 is current again, recorded with who and when; the next run follows it.
    let events_of_night_2 = dump(&warehouse, 2, "person_key_event");
    ok(&["rollback", "--to", "1", "--warehouse", path(&warehouse)]);
    let log = nights(&warehouse);
    assert_eq!(log["current"], 1);
    let rollback = log["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((rollback["action"].as_str(), rollback["night"].as_u64(), rollback["detail"].as_str()), (Some("rollback"), Some(1), Some("from night 2")));
    assert!(rollback["by"].as_str().unwrap().contains('@') && !rollback["at"].as_str().unwrap().is_empty());
    assert_eq!(sql_value(&warehouse, None, "SELECT COUNT(*) FROM person").parse::<u64>().unwrap(), rows(&log, 1, "person"));
    run(&week, &warehouse, &["--as-of", "2026-11-08"]);
    let log = nights(&warehouse);
    assert_eq!(log["current"], 3);
    // Night 3 follows night 1 as night 2 did: the same key events, not night 2's twice.
    let strip = |lines: Vec<String>| -> Vec<String> { lines.iter().map(|l| l.split(',').skip(2).collect::<Vec<_>>().join(",")).collect() };
    assert_eq!(strip(dump(&warehouse, 3, "person_key_event")), strip(events_of_night_2));
    let out = pophub(&["rollback", "--to", "9", "--warehouse", path(&warehouse)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("readable nights: 1, 2, 3"));

    // Vacuum keeps the last nights and never the current one out of them.
    ok(&["rollback", "--to", "1", "--warehouse", path(&warehouse)]);
    let out = pophub(&["vacuum", "--keep-nights", "2", "--warehouse", path(&warehouse)]);
    assert_eq!(out.status.code(), Some(2), "the current night 1 is not among the last two");
    assert!(String::from_utf8_lossy(&out.stderr).contains("night 1 is current"));
    assert_eq!(sql_value(&warehouse, Some(1), "SELECT COUNT(*) FROM person").parse::<u64>().unwrap(), rows(&log, 1, "person"));
    ok(&["rollback", "--to", "3", "--warehouse", path(&warehouse)]);
    let before: Vec<Vec<String>> = [2, 3].iter().map(|&n| dump(&warehouse, n, "person_source")).collect();
    let files = |table: &str| std::fs::read_dir(warehouse.join(table)).unwrap().count();
    let person_files = files("person");
    let text = ok(&["vacuum", "--keep-nights", "2", "--warehouse", path(&warehouse)]);
    assert!(text.contains("removed nights [1]"), "{text}");
    assert!(files("person") < person_files, "night 1's files are gone");
    let out = pophub(&["sql", "SELECT 1", "--night", "1", "--warehouse", path(&warehouse)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("removed by `pophub vacuum`"));
    let after: Vec<Vec<String>> = [2, 3].iter().map(|&n| dump(&warehouse, n, "person_source")).collect();
    assert_eq!(before, after, "kept nights read as before");
    assert_eq!(nights(&warehouse)["nights"][0]["readable"], false);
}

#[test]
fn the_same_exports_twice_commit_an_equal_night() {
    let data = generated(1500, 21, 1);
    let dir = tempfile::tempdir().unwrap();
    let warehouse = dir.path().join("warehouse");
    run(&data, &warehouse, &[]);
    run(&data, &warehouse, &[]);
    let log = nights(&warehouse);
    let tables: Vec<String> = log["nights"][0]["tables"].as_object().unwrap().keys().cloned().collect();
    assert!(tables.len() >= 13, "{tables:?}");
    for table in &tables {
        assert_eq!(dump(&warehouse, 1, table), dump(&warehouse, 2, table), "{table} differs between the two nights");
    }
}

#[test]
fn one_writer_at_a_time_and_a_dead_writers_lock_is_taken_over() {
    let data = generated(1500, 22, 1);
    let dir = tempfile::tempdir().unwrap();
    let warehouse = dir.path().join("warehouse");
    run(&data, &warehouse, &[]);
    // A run held up after ingest keeps the lock while the others try.
    let mut holder = Command::new(env!("CARGO_BIN_EXE_pophub"))
        .args(["run", PIPELINE, "--data-root", path(&data), "--warehouse", path(&warehouse)])
        .env("POPHUB_PAUSE_AT", "run-ingested=4000")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lock = warehouse.join("_lock");
    let started = std::time::Instant::now();
    while std::fs::read_to_string(&lock).map_or(true, |t| !t.contains(&format!("\"pid\":{}", holder.id()))) {
        assert!(started.elapsed().as_secs() < 60, "the first run never took the lock");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    for args in [vec!["run", PIPELINE, "--data-root", path(&data)], vec!["rollback", "--to", "1"], vec!["vacuum", "--keep-nights", "1"]] {
        let mut args = args;
        args.extend(["--warehouse", path(&warehouse)]);
        let out = pophub(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("is locked by `pophub run`") && stderr.contains(&format!("pid {}", holder.id())) && stderr.contains("since"), "{stderr}");
    }
    // Readers do not wait.
    assert_eq!(sql_value(&warehouse, None, "SELECT COUNT(*) FROM person").parse::<u64>().unwrap(), rows(&nights(&warehouse), 1, "person"));
    assert!(holder.wait().unwrap().success());
    assert_eq!(nights(&warehouse)["current"], 2);

    // A writer that dies holding the lock (after staging rows: it parses again): the next one
    // takes the lock over with a warning and removes the staging.
    let out = Command::new(env!("CARGO_BIN_EXE_pophub"))
        .args(["run", PIPELINE, "--data-root", path(&data), "--warehouse", path(&warehouse), "--reparse"])
        .env("POPHUB_CRASH_AT", "run-linked")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), None, "killed by its crash point");
    assert!(std::fs::read_to_string(&lock).unwrap().contains("\"pid\""), "the dead holder is still named");
    let out = pophub(&["run", PIPELINE, "--data-root", path(&data), "--warehouse", path(&warehouse)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("took over the writer lock of `pophub run`") && stderr.contains("that process is gone"), "{stderr}");
    assert!(stderr.contains("MB of staging that killed runs left behind"), "{stderr}");
    assert_eq!(nights(&warehouse)["current"], 3);
}

/// Equal dumps of every table of night `n` in two warehouses (the key-event history names each
/// warehouse's own runs, so its run column is left out).
fn assert_nights_equal(a: &Path, b: &Path, n: u32, what: &str) {
    let tables: Vec<String> = nights(b)["nights"][n as usize - 1]["tables"].as_object().unwrap().keys().cloned().collect();
    for table in &tables {
        let strip_run = |lines: Vec<String>| -> Vec<String> {
            if table == "person_key_event" { lines.iter().map(|l| l.split(',').skip(2).collect::<Vec<_>>().join(",")).collect() } else { lines }
        };
        assert_eq!(strip_run(dump(a, n, table)), strip_run(dump(b, n, table)), "{table}: {what} changed the night");
    }
}

#[test]
fn unchanged_links_are_carried_over_and_the_night_equals_a_full_relink() {
    let (first, week) = (generated(3000, 6, 1), generated(3000, 6, 8));
    let dir = tempfile::tempdir().unwrap();
    let (carried, full) = (dir.path().join("carried"), dir.path().join("full"));
    for w in [&carried, &full] {
        run(&first, w, &[]);
    }
    let summary = run(&week, &carried, &["--as-of", "2026-11-08"]);
    run(&week, &full, &["--as-of", "2026-11-08", "--relink"]);
    let (c, f) = (manifest(&carried)["linkage"].clone(), manifest(&full)["linkage"].clone());
    // Register records found the persons every night; most of the other mentions are carried.
    let others = c["mentions"].as_u64().unwrap() - c["rules"]["register"].as_u64().unwrap() - c["rules"]["register_duplicate"].as_u64().unwrap_or(0);
    assert!(c["mentions_carried"].as_u64().unwrap() * 10 > others * 8, "most links hold: {c}");
    assert!(c["pairs_scored"].as_u64().unwrap() * 3 < f["pairs_scored"].as_u64().unwrap(), "far fewer pairs are scored: {c} {f}");
    assert_eq!(f["mentions_carried"], 0);
    assert!(summary.contains("links carried over unscored"), "{summary}");
    assert_nights_equal(&carried, &full, 2, "carrying links over");
}

#[test]
fn unchanged_sources_are_reused_and_the_night_equals_a_full_parse() {
    let (first, week) = (generated(1500, 23, 1), generated(1500, 23, 8));
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("drop");
    copy_dir(&first, &data);
    let (incremental, full) = (dir.path().join("incremental"), dir.path().join("full"));
    run(&data, &incremental, &[]);
    run(&data, &full, &[]);
    // One department of eight sends new payments.
    let payments = "social_security/pension_payments.csv";
    std::fs::copy(week.join(payments), data.join(payments)).unwrap();
    let summary = run(&data, &incremental, &[]);
    run(&data, &full, &["--reparse", "--relink"]);
    let reused: Vec<(String, bool)> = manifest(&incremental)["sources"].as_array().unwrap().iter().map(|s| (s["source"].as_str().unwrap().to_string(), s["reused"].as_bool().unwrap())).collect();
    assert_eq!(reused.iter().filter(|(_, r)| *r).count(), reused.len() - 1, "{reused:?}");
    assert!(reused.iter().any(|(s, r)| s == "si_payments" && !r), "{reused:?}");
    assert!(summary.contains("rows reused"), "{summary}");
    assert!(manifest(&full)["sources"].as_array().unwrap().iter().all(|s| s["reused"] == false));
    assert_nights_equal(&incremental, &full, 2, "reusing sources");
    // A day later, a source whose rows had no date in the future is still reused.
    let later = run(&data, &incremental, &["--as-of", "2026-11-02"]);
    let reused_later = manifest(&incremental)["sources"].as_array().unwrap().iter().filter(|s| s["reused"] == true).count();
    assert!(reused_later > 0, "{later}");
}
