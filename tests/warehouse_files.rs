//! The warehouse's own files: damaged ones are errors naming them, failed and stopped runs leave
//! a manifest saying where and why, and query output holds up (empty results, closed pipes).

mod common;

use std::io::Read;
use std::process::{Command, Stdio};

use common::*;

#[test]
fn a_damaged_night_log_or_manifest_is_an_error_naming_it() {
    let data = generated(1500, 51, 1);
    let dir = tempfile::tempdir().unwrap();
    let warehouse = dir.path().join("warehouse");
    ok(&["run", PIPELINE, "--data-root", path(&data), "--warehouse", path(&warehouse)]);
    let run_id = current_night(&warehouse)["run_id"].as_str().unwrap().to_string();

    // The manifest of the current night: a run reads it for drift and fails rather than skip the check.
    let manifest_file = warehouse.join("_runs").join(format!("{run_id}.json"));
    let kept = std::fs::read(&manifest_file).unwrap();
    std::fs::write(&manifest_file, &kept[..kept.len() / 2]).unwrap();
    let out = pophub(&["run", PIPELINE, "--data-root", path(&data), "--warehouse", path(&warehouse)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("{run_id}.json")) && stderr.contains("damaged"), "{stderr}");
    std::fs::write(&manifest_file, &kept).unwrap();

    // The night log: readers and writers refuse it.
    let log = warehouse.join("_nights/log.json");
    let kept = std::fs::read(&log).unwrap();
    std::fs::write(&log, b"{\"schema_version\": 1, \"current\": ").unwrap();
    for args in [vec!["sql", "SELECT 1"], vec!["nights"], vec!["run", PIPELINE, "--data-root", path(&data)]] {
        let mut args = args;
        args.extend(["--warehouse", path(&warehouse)]);
        let out = pophub(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("_nights/log.json") && stderr.contains("damaged"), "{args:?}: {stderr}");
    }
    std::fs::write(&log, &kept).unwrap();
    assert_eq!(nights(&warehouse)["current"], 1);
}

#[test]
fn a_night_stopped_by_drift_leaves_a_stopped_manifest_and_the_night_as_it_was() {
    let first = generated(1500, 52, 1);
    let dir = tempfile::tempdir().unwrap();
    let (data, warehouse) = (dir.path().join("drop"), dir.path().join("warehouse"));
    copy_dir(&first, &data);
    ok(&["run", PIPELINE, "--data-root", path(&data), "--warehouse", path(&warehouse)]);
    let before = nights(&warehouse);
    let payments = data.join("social_security/pension_payments.csv");
    let text = std::fs::read_to_string(&payments).unwrap();
    std::fs::write(&payments, text.lines().take(10).map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    let out = pophub(&["run", PIPELINE, "--data-root", path(&data), "--warehouse", path(&warehouse)]);
    assert_eq!(out.status.code(), Some(1));
    // Nothing moved: the same night, the same pinned versions.
    assert_eq!(nights(&warehouse)["nights"], before["nights"]);
    let stopped: Vec<serde_json::Value> = run_manifests(&warehouse).into_iter().filter(|m| m["status"] == "stopped").collect();
    assert_eq!(stopped.len(), 1);
    assert_eq!(stopped[0]["failed_stage"], "drift");
    assert!(stopped[0]["reason"].as_str().unwrap().contains("drift"), "{}", stopped[0]);
    assert_eq!(stopped[0]["night"], serde_json::Value::Null);
    assert!(stopped[0]["drift"].as_array().unwrap().iter().any(|d| d["kind"] == "shrink"));
}

#[test]
fn empty_results_keep_their_columns_and_a_closed_pipe_ends_quietly() {
    let data = generated(1500, 53, 1);
    let dir = tempfile::tempdir().unwrap();
    let warehouse = dir.path().join("warehouse");
    ok(&["run", PIPELINE, "--data-root", path(&data), "--warehouse", path(&warehouse)]);
    let none = "SELECT person_key, name FROM person WHERE false";
    let csv = ok(&["sql", none, "--warehouse", path(&warehouse), "--format", "csv"]);
    assert_eq!(csv, "person_key,name\n");
    let table = ok(&["sql", none, "--warehouse", path(&warehouse)]);
    assert!(table.contains("person_key") && table.contains("0 row(s)"), "{table}");
    let parquet = dir.path().join("none.parquet");
    ok(&["sql", none, "--warehouse", path(&warehouse), "--format", "parquet", "--out", path(&parquet)]);
    // A Parquet file with no row group whose footer holds the two columns.
    let bytes = std::fs::read(&parquet).unwrap();
    assert!(bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"));
    let footer = String::from_utf8_lossy(&bytes);
    assert!(footer.contains("person_key") && footer.contains("name"));

    // `pophub sql … | head`: the reader goes away after a few bytes.
    for format in ["csv", "table", "json"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pophub"))
            .args(["sql", "SELECT * FROM person_source", "--warehouse", path(&warehouse), "--format", format])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = [0u8; 64];
        child.stdout.take().unwrap().read_exact(&mut first).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{format}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stderr.is_empty(), "{format}: {}", String::from_utf8_lossy(&out.stderr));
    }
}
