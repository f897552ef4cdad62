//! What a run says while it works: off a terminal a line per stage (through `tracing`, so
//! `--log-format json` makes them JSON), nothing but errors under `--quiet`.

mod common;

use common::*;

fn run(data: &std::path::Path, warehouse: &std::path::Path, extra: &[&str]) -> (String, String) {
    let mut args = vec!["run", PIPELINE, "--data-root", path(data), "--warehouse", path(warehouse)];
    args.extend(extra);
    let out = pophub(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn off_a_terminal_each_stage_logs_plain_lines_as_text_or_json_and_quiet_prints_nothing() {
    let data = generated(500, 71, 1);
    let dir = tempfile::tempdir().unwrap();

    let (summary, said) = run(&data, &dir.path().join("w1"), &[]);
    for stage in ["ingest", "identity", "link", "publish"] {
        assert!(said.contains(&format!("{stage}: started")) && said.contains(&format!("{stage}: done")), "{stage}: {said}");
    }
    assert!(said.lines().count() < 40, "a few lines, not one per row: {said}");
    assert!(summary.contains("committed") && summary.contains("report: "));

    let (summary, said) = run(&data, &dir.path().join("w2"), &["--quiet"]);
    assert_eq!((summary.as_str(), said.as_str()), ("", ""), "--quiet prints only errors");

    let (_, said) = run(&data, &dir.path().join("w3"), &["--log-format", "json"]);
    let events: Vec<serde_json::Value> = said.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"))).collect();
    let done = events.iter().find(|e| e["stage"] == "publish" && e["message"].as_str().is_some_and(|m| m.contains("done"))).expect("publish's end, as JSON");
    assert_eq!(done["level"], "INFO");
    let tables = nights(&dir.path().join("w3"))["nights"][0]["tables"].as_object().unwrap().len();
    assert_eq!(done["done"].as_u64(), Some(tables as u64), "the count of tables written is a field");

    // RUST_LOG filters: pophub at `warn`, nothing of a good run.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pophub"))
        .args(["run", PIPELINE, "--data-root", path(&data), "--warehouse", path(&dir.path().join("w4"))])
        .env("RUST_LOG", "pophub=warn")
        .output()
        .unwrap();
    assert!(out.status.success() && out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}
