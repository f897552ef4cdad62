//! The cluster end to end: `pophub scheduler` and two `pophub executor`s on loopback ports, and
//! `pophub sql --cluster` and the reports with `--cluster` over a generated night, whose results
//! equal the same commands run here. The executors share the warehouse's path, as the cluster's
//! docs ask; pophub's functions (masks, number checks judged against the night's day) reach them
//! in the plans.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A cluster process, killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Two free ports one after the other (an executor's Flight and gRPC ports).
fn free_port_pair() -> u16 {
    loop {
        let port = free_port();
        if port < u16::MAX && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

fn start(args: &[&str], listens_on: u16) -> Process {
    let child = Command::new(env!("CARGO_BIN_EXE_pophub")).args(args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("pophub starts");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", listens_on)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(60), "pophub {args:?} did not listen on {listens_on}");
        std::thread::sleep(Duration::from_millis(100));
    }
    Process(child)
}

/// Sorted CSV lines of a command's output.
fn sorted(out: String) -> Vec<String> {
    let mut lines: Vec<String> = out.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

#[test]
fn queries_and_reports_on_the_cluster_equal_those_run_here() {
    let city = city(3_000, 5);
    let scheduler_port = free_port();
    let _scheduler = start(&["scheduler", "--listen", &format!("127.0.0.1:{scheduler_port}")], scheduler_port);
    let scheduler = format!("127.0.0.1:{scheduler_port}");
    let work = tempfile::tempdir().unwrap();
    let _executors: Vec<Process> = (0..2)
        .map(|i| {
            let port = free_port_pair();
            let dir = work.path().join(format!("executor-{i}"));
            std::fs::create_dir_all(&dir).unwrap();
            start(&["executor", "--scheduler", &scheduler, "--port", &port.to_string(), "--work-dir", path(&dir), "--tasks", "2"], port + 1)
        })
        .collect();
    let cluster = format!("df://{scheduler}");
    let warehouse = path(&city.warehouse);
    let on_both = |args: &[&str]| {
        let here = ok(&[args, &["--warehouse", warehouse, "--format", "csv"]].concat());
        let there = ok(&[args, &["--warehouse", warehouse, "--format", "csv", "--cluster", &cluster]].concat());
        (sorted(here), sorted(there))
    };
    // A grouping across files and partitions (a shuffle), a join, and pophub's functions: the
    // mask of names and the number's status, judged against the night's day.
    for query in [
        "SELECT district_code, COUNT(*) AS persons, COUNT(DISTINCT household_no) AS households FROM person GROUP BY district_code",
        "SELECT p.person_key, mask_name(p.name) AS name, COUNT(*) AS mentions FROM person p JOIN person_source s ON s.person_key = p.person_key GROUP BY p.person_key, p.name",
        "SELECT citizen_id_status(citizen_id_raw) AS status, COUNT(*) AS mentions FROM person_source GROUP BY 1",
    ] {
        let (here, there) = on_both(&["sql", query]);
        assert!(here.len() > 2, "{query}: {here:?}");
        assert_eq!(here, there, "{query}");
    }
    let (here, there) = on_both(&["report", "deceased-pensions"]);
    assert!(here.len() > 1, "{here:?}");
    assert_eq!(here, there, "deceased pensions");
    let districts = sql_value(&city.warehouse, None, "SELECT MIN(district_code) FROM person WHERE district_code IS NOT NULL");
    let (here, there) = on_both(&["report", "voter-roll", "--district", &districts, "--date", "2026-12-01"]);
    assert!(here.len() > 10, "{here:?}");
    assert_eq!(here, there, "voter roll");

    // An address that is no cluster is refused with what to give.
    let out = pophub(&["sql", "SELECT 1", "--warehouse", warehouse, "--cluster", "localhost:1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("df://HOST:PORT"), "{}", String::from_utf8_lossy(&out.stderr));
}
