//! External readers: Python `deltalake` and Polars read a chosen night at its pinned versions,
//! following the recipe of `schemas/published.md` (`schemas/read_night.py`).
//!
//! The Python is `POPHUB_PYTHON`, or a virtual environment the test makes once (kept in the
//! build's temporary folder) with the versions below from PyPI.

mod common;

use std::process::Command;

use common::*;

const PACKAGES: &[&str] = &["deltalake==1.6.6", "polars==2.1.0", "pyarrow==26.0.1"];

fn python() -> String {
    python_with(PACKAGES, "import deltalake, polars")
}

#[test]
fn python_deltalake_and_polars_read_a_pinned_night() {
    let python = python();
    let (first, week) = (generated(1500, 41, 1), generated(1500, 41, 8));
    let dir = tempfile::tempdir().unwrap();
    let warehouse = dir.path().join("warehouse");
    ok(&["run", PIPELINE, "--data-root", path(&first), "--warehouse", path(&warehouse)]);
    ok(&["run", PIPELINE, "--data-root", path(&week), "--warehouse", path(&warehouse), "--as-of", "2026-11-08"]);
    let log = nights(&warehouse);
    for night in [1, 2] {
        let out = Command::new(&python)
            .args([concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/read_night.py"), path(&warehouse), &night.to_string()])
            .env("POPHUB", env!("CARGO_BIN_EXE_pophub"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let read: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let tables = log["nights"][night - 1]["tables"].as_object().unwrap();
        assert_eq!(read["rows"].as_object().unwrap().len(), tables.len());
        for (name, table) in tables {
            let rows = &table["rows"];
            assert_eq!(&read["rows"][name]["deltalake"], rows, "night {night}, {name} by deltalake");
            assert_eq!(&read["rows"][name]["polars"], rows, "night {night}, {name} by polars");
        }
    }
}
