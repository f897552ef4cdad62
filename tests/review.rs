//! Review: the grey-zone queue, reviewers' decisions honoured by later runs, and decisions that cannot apply.

mod common;

use common::*;

#[test]
fn review_decisions_are_honoured_by_later_runs() {
    let c = city(4000, 12);
    let w = path(&c.warehouse);
    let queue = csv_rows(&ok(&["review", "list", "--warehouse", w, "--format", "csv"]));
    assert!(!queue.is_empty(), "the grey zone of a damaged city is not empty");
    let (mention, person) = (queue[0][0].clone(), queue[0][4].clone());
    let parts: Vec<&str> = mention.splitn(2, ':').collect();
    let (source, rest) = (parts[0], parts[1]);
    let (record_key, role) = rest.rsplit_once(':').unwrap();
    let linked = |c: &City| {
        let q = format!("SELECT person_key, link_rule FROM person_source WHERE source = '{source}' AND record_key = '{record_key}' AND role = '{role}'");
        csv_rows(&ok(&["sql", &q, "--warehouse", path(&c.warehouse), "--format", "csv"]))[0].clone()
    };
    assert_ne!(linked(&c)[0], person);
    let rerun = |c: &City| ok(&["run", PIPELINE, "--data-root", path(&c.data), "--warehouse", path(&c.warehouse)]);

    ok(&["review", "decide", &mention, &person, "same", "--warehouse", w]);
    rerun(&c);
    assert_eq!(linked(&c), vec![person.clone(), "review".to_string()]);
    let queue = csv_rows(&ok(&["review", "list", "--warehouse", w, "--format", "csv"]));
    assert!(!queue.iter().any(|r| r[0] == mention), "a decided mention leaves the queue");

    ok(&["review", "decide", &mention, &person, "different", "--warehouse", w]);
    rerun(&c);
    let now = linked(&c);
    assert_ne!(now[0], person);
    assert!(!csv_rows(&ok(&["review", "list", "--warehouse", w, "--format", "csv"])).iter().any(|r| r[0] == mention && r[4] == person));
    // The key moves are published as events.
    let events = csv_rows(&ok(&["sql", "SELECT COUNT(*) FROM person_key_event", "--warehouse", w, "--format", "csv"]));
    assert!(events[0][0].parse::<u64>().unwrap() >= 2);

    // A decision on a mention or a person the night does not have is refused, saying so.
    for (m, p, missing) in [("nowhere:1:x", person.as_str(), "no mention nowhere:1:x"), (mention.as_str(), "P0000000000000000", "no person P0000000000000000")] {
        let out = pophub(&["review", "decide", m, p, "same", "--warehouse", w]);
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains(missing), "{}", String::from_utf8_lossy(&out.stderr));
    }
    // A recorded decision whose person is gone is reported by the run, not silently dropped.
    let stale = format!("{{\"mention\":{{\"source\":\"{source}\",\"record_key\":\"{record_key}\",\"role\":\"{role}\"}},\"person_key\":\"Pgone000000000000\",\"decision\":\"same\",\"decided_at\":\"2026-11-01T00:00:00Z\"}}\n");
    let decisions = c.warehouse.join("_review/decisions.jsonl");
    std::fs::write(&decisions, std::fs::read_to_string(&decisions).unwrap() + &stale).unwrap();
    let summary = rerun(&c);
    assert!(summary.contains("1 reviewer decision(s) name a person no longer there") && summary.contains("same Pgone000000000000"), "{summary}");
    assert_eq!(manifest(&c.warehouse)["linkage"]["decisions_not_applied"], serde_json::json!([format!("{mention} same Pgone000000000000")]));
}
