//! What every end-to-end test file shares: running the binary, reading its CSV output, the
//! warehouse's current manifest and model, and generated cities cached per size and seed.
#![allow(dead_code)] // each test file uses its own share of these

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const PIPELINE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/pipelines/nightly.toml");

pub fn pophub(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pophub")).args(args).output().expect("pophub runs")
}

pub fn ok(args: &[&str]) -> String {
    let out = pophub(args);
    assert!(out.status.success(), "pophub {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

pub fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A generated city's exports, generated once per size, seed and night for every test (and
/// kept between runs of the suite while the binary is unchanged); tests must not change it.
pub fn generated(persons: usize, seed: u64, night: u32) -> PathBuf {
    let binary = std::fs::metadata(env!("CARGO_BIN_EXE_pophub")).expect("the binary");
    let stamp = binary.modified().expect("mtime").duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("city-{persons}-{seed}-{night}-{stamp}-{}", binary.len()));
    if !dir.join("truth/city.json").is_file() {
        // Generated aside and renamed into place, so a test in another process never sees half.
        let partial = dir.with_extension(format!("partial-{}-{:?}", std::process::id(), std::thread::current().id()).replace(['(', ')'], ""));
        let _ = std::fs::remove_dir_all(&partial);
        ok(&["generate", "--persons", &persons.to_string(), "--seed", &seed.to_string(), "--night", &night.to_string(), "--out", path(&partial)]);
        if std::fs::rename(&partial, &dir).is_err() {
            let _ = std::fs::remove_dir_all(&partial);
        }
    }
    dir
}

/// A generated city with the nightly pipeline run on it into a warehouse of its own.
pub struct City {
    pub dir: tempfile::TempDir,
    pub data: PathBuf,
    pub warehouse: PathBuf,
}

/// A city of its own to change (a copy of the cached one in the test's folder), run once.
pub fn city(persons: usize, seed: u64) -> City {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("city");
    let warehouse = dir.path().join("warehouse");
    copy_dir(&generated(persons, seed, 1), &data);
    ok(&["run", PIPELINE, "--data-root", path(&data), "--warehouse", path(&warehouse)]);
    City { dir, data, warehouse }
}

/// One count on a city's current night.
pub fn sql_count(c: &City, query: &str) -> u64 {
    sql_value(&c.warehouse, None, query).parse().expect("a count")
}

/// `pophub nights --format json`.
pub fn nights(warehouse: &Path) -> serde_json::Value {
    serde_json::from_str(&ok(&["nights", "--warehouse", path(warehouse), "--format", "json"])).expect("nights json")
}

/// The current night's entry of `pophub nights --format json`.
pub fn current_night(warehouse: &Path) -> serde_json::Value {
    let log = nights(warehouse);
    log["nights"].as_array().unwrap().iter().find(|n| n["current"] == true).cloned().expect("a current night")
}

/// Every run's manifest in the warehouse (`_runs/<run_id>.json`), in run order.
pub fn run_manifests(warehouse: &Path) -> Vec<serde_json::Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(warehouse.join("_runs"))
        .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "json")).collect())
        .unwrap_or_default();
    files.sort();
    files.iter().map(|f| serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap()).collect()
}

/// The run manifest of the current night.
pub fn manifest(warehouse: &Path) -> serde_json::Value {
    let run_id = current_night(warehouse)["run_id"].as_str().unwrap().to_string();
    serde_json::from_str(&std::fs::read_to_string(warehouse.join("_runs").join(format!("{run_id}.json"))).unwrap()).unwrap()
}

/// The linkage model the current night was linked with, as saved.
pub fn model_text(warehouse: &Path) -> String {
    let model_run = current_night(warehouse)["model_run"].as_str().unwrap().to_string();
    std::fs::read_to_string(warehouse.join("_linkage").join(format!("{model_run}.json"))).unwrap()
}

/// Rows of a CSV text without its header; fields may be quoted.
pub fn csv_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|line| {
            let (mut fields, mut field, mut quoted) = (Vec::new(), String::new(), false);
            let mut chars = line.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '"' if quoted && chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    '"' => quoted = !quoted,
                    ',' if !quoted => fields.push(std::mem::take(&mut field)),
                    _ => field.push(c),
                }
            }
            fields.push(field);
            fields
        })
        .collect()
}

/// One value of a query on the warehouse's current night (or `night`).
pub fn sql_value(warehouse: &Path, night: Option<u32>, query: &str) -> String {
    let n = night.map(|n| n.to_string());
    let mut args = vec!["sql", query, "--warehouse", path(warehouse), "--format", "csv"];
    if let Some(n) = &n {
        args.extend(["--night", n]);
    }
    csv_rows(&ok(&args))[0][0].clone()
}

/// Every row of a table at a night, as sorted CSV lines: equal dumps are equal contents.
pub fn dump(warehouse: &Path, night: u32, table: &str) -> Vec<String> {
    let text = ok(&["sql", &format!("SELECT * FROM {table}"), "--warehouse", path(warehouse), "--night", &night.to_string(), "--format", "csv"]);
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

/// A copy of a folder and everything in it.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A Python with these PyPI packages: `POPHUB_PYTHON`, or a virtual environment made once per
/// package set (kept in the build's temporary folder). `check` is a Python statement that
/// succeeds once they are installed.
pub fn python_with(packages: &[&str], check: &str) -> String {
    if let Ok(python) = std::env::var("POPHUB_PYTHON") {
        return python;
    }
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("python-{}", packages.join("-")).replace(['[', ']'], "_"));
    let python = venv.join("bin/python");
    let usable = || Command::new(&python).args(["-c", check]).status().is_ok_and(|s| s.success());
    if !usable() {
        let made = Command::new("python3").args(["-m", "venv", path(&venv)]).status().expect("python3 runs");
        assert!(made.success(), "python3 -m venv {} failed", venv.display());
        let out = Command::new(&python).args(["-m", "pip", "install", "--quiet"]).args(packages).output().expect("pip runs");
        assert!(out.status.success(), "pip install {packages:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        assert!(usable());
    }
    path(&python).to_string()
}
