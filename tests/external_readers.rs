//! External readers: Python `deltalake` and Polars read a chosen night at its pinned versions,
//! following the recipe of `schemas/published.md` (`schemas/read_night.py`).
//!
//! The Python is `POPHUB_PYTHON`, or a virtual environment the test makes once (kept in the
//! build's temporary folder) with the versions below from PyPI.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

const PACKAGES: &[&str] = &["deltalake==1.6.6", "polars==2.1.0", "pyarrow==26.0.1"];

fn python() -> String {
    if let Ok(python) = std::env::var("POPHUB_PYTHON") {
        return python;
    }
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("python-readers-{}", PACKAGES.join("-")));
    let python = venv.join("bin/python");
    let usable = || Command::new(&python).args(["-c", "import deltalake, polars"]).status().is_ok_and(|s| s.success());
    if !usable() {
        let made = Command::new("python3").args(["-m", "venv", path(&venv)]).status().expect("python3 runs");
        assert!(made.success(), "python3 -m venv {} failed", venv.display());
        let out = Command::new(&python).args(["-m", "pip", "install", "--quiet"]).args(PACKAGES).output().expect("pip runs");
        assert!(out.status.success(), "pip install {PACKAGES:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        assert!(usable());
    }
    path(&python).to_string()
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
