//! Linkage: scores against the truth, explanations, conflicts, and keys that stay put from night to night.

mod common;

use common::*;

#[test]
fn evaluation_meets_the_linkage_and_report_targets() {
    let c = city(6000, 3);
    let json = c.warehouse.join("evaluation.json");
    let text = ok(&["evaluate", "--truth", path(&c.data.join("truth")), "--warehouse", path(&c.warehouse), "--json", path(&json), "--min-precision", "0.999", "--min-recall", "0.99"]);
    assert!(text.contains("precision"), "{text}");
    let e: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(e["precision"].as_f64().unwrap() >= 0.999, "{e}");
    assert!(e["recall"].as_f64().unwrap() >= 0.99, "{e}");
    assert!(e["false_merges"].as_u64().unwrap() <= 1, "{e}");
    let d = &e["deceased_pensions"];
    assert!(d["true_cases"].as_u64().unwrap() > 0, "{e}");
    assert_eq!(d["found"], d["true_cases"], "{e}");
    assert_eq!(d["false_positives"], 0, "{e}");
    assert_eq!(e["deceased_pensions_amount_exact"], d["found"], "{e}");
    let v = &e["voter_roll"];
    assert_eq!(v["found"], v["true_cases"], "{e}");
    // The only voters reported wrongly are dead people whose death no feed shows.
    assert!(v["false_positives"].as_u64().unwrap() <= 3, "{e}");
    // Demanding the impossible is a failed check: exit 1.
    let out = pophub(&["evaluate", "--truth", path(&c.data.join("truth")), "--warehouse", path(&c.warehouse), "--min-recall", "1.01"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn explain_shows_why_and_conflicts_are_published() {
    let c = city(3000, 1);
    let sql = |q: &str| csv_rows(&ok(&["sql", q, "--warehouse", path(&c.warehouse), "--format", "csv"]));
    // A family member's number keyed for someone else: published as a conflict, not merged.
    let conflict = sql(
        "SELECT c.source || ':' || c.record_key || ':' || c.role, o.source || ':' || o.record_key || ':' || o.role \
         FROM identity_conflict c JOIN person_source o ON o.person_key = c.other_person_key AND o.link_rule = 'register' \
         WHERE c.kind = 'number_of_other_person' ORDER BY 1 LIMIT 1",
    );
    let (a, b) = (&conflict[0][0], &conflict[0][1]);
    let text = ok(&["explain", a, b, "--warehouse", path(&c.warehouse)]);
    // A spouse's number keyed by mistake is set aside, not counted for or against anyone.
    assert!(text.contains("set aside: the number is a person's of another name") && text.contains("do not share"), "{text}");
    assert!(text.lines().any(|l| l.trim_start().starts_with("prior")) && text.contains("name         different"), "{text}");
    // A repaired number, explained against the record that founded its person.
    let repaired = sql("SELECT source || ':' || record_key || ':' || role FROM person_source WHERE link_rule = 'id_repaired' ORDER BY 1 LIMIT 1");
    let text = ok(&["explain", &repaired[0][0], "--warehouse", path(&c.warehouse)]);
    assert!(text.contains("one typo from the number") && text.contains("share one person key"), "{text}");
    // A number the truth says was issued to two registered people: two persons, each published
    // as a holder of a number issued twice.
    let persons = csv_rows(&std::fs::read_to_string(c.data.join("truth/persons.csv")).unwrap());
    let mut holders: std::collections::HashMap<&str, Vec<&str>> = std::collections::HashMap::new();
    for p in persons.iter().filter(|p| p[8] == "true") {
        holders.entry(p[1].as_str()).or_default().push(p[0].as_str());
    }
    let twice: Vec<&str> = holders.iter().filter(|(_, h)| h.len() > 1).map(|(n, _)| *n).collect();
    assert!(!twice.is_empty(), "the city has a number issued twice");
    for number in twice {
        let published = sql(&format!("SELECT COUNT(*), COUNT(DISTINCT person_key) FROM identity_conflict WHERE kind = 'issued_twice' AND citizen_id = '{number}'"));
        assert_eq!(published[0], vec![holders[number].len().to_string(), holders[number].len().to_string()], "{number}");
        assert_eq!(sql(&format!("SELECT COUNT(DISTINCT person_key) FROM person WHERE citizen_id = '{number}'"))[0][0], holders[number].len().to_string());
    }
    let out = pophub(&["explain", "nowhere:1:x", "--warehouse", path(&c.warehouse)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no mention nowhere:1:x"));
}

#[test]
fn a_second_night_keeps_keys_and_publishes_what_changed() {
    use std::collections::{HashMap, HashSet};
    let dir = tempfile::tempdir().unwrap();
    let (first, second, warehouse) = (dir.path().join("night1"), dir.path().join("night2"), dir.path().join("warehouse"));
    ok(&["generate", "--persons", "20000", "--seed", "8", "--out", path(&first)]);
    ok(&["generate", "--persons", "20000", "--seed", "8", "--night", "2", "--out", path(&second)]);
    let keys = || -> HashMap<(String, String, String), String> {
        let rows = csv_rows(&ok(&["sql", "SELECT source, record_key, role, person_key FROM person_source", "--warehouse", path(&warehouse), "--format", "csv"]));
        rows.into_iter().map(|r| ((r[0].clone(), r[1].clone(), r[2].clone()), r[3].clone())).collect()
    };
    let model_trained = || -> bool {
        manifest(&warehouse)["linkage"]["model_trained"].as_bool().unwrap()
    };
    ok(&["run", PIPELINE, "--data-root", path(&first), "--warehouse", path(&warehouse)]);
    assert!(model_trained(), "the first night learns the linkage model");
    let model = model_text(&warehouse);
    let before = keys();
    ok(&["run", PIPELINE, "--data-root", path(&second), "--warehouse", path(&warehouse), "--as-of", "2026-11-02"]);
    assert!(!model_trained(), "later nights reuse it");
    assert_eq!(model_text(&warehouse), model);
    let after = keys();

    // Every person whose records did not change keeps the same key on every mention.
    let changed: HashSet<String> = csv_rows(&std::fs::read_to_string(second.join("truth/changed_persons.csv")).unwrap()).into_iter().map(|r| r[0].clone()).collect();
    assert!(!changed.is_empty());
    let truth: HashMap<(String, String, String), String> = csv_rows(&std::fs::read_to_string(second.join("truth/mentions.csv")).unwrap())
        .into_iter()
        .map(|r| ((r[0].clone(), r[1].clone(), r[2].clone()), r[3].clone()))
        .collect();
    let mut compared = 0;
    let mut moved = Vec::new();
    for (mention, key) in &before {
        let (Some(now), Some(person)) = (after.get(mention), truth.get(mention)) else { continue };
        if changed.contains(person) {
            continue;
        }
        compared += 1;
        if now != key {
            moved.push((mention.clone(), key.clone(), now.clone()));
        }
    }
    assert!(compared > 30_000, "{compared}");
    assert!(moved.is_empty(), "{} mentions of unchanged persons changed key: {:?}", moved.len(), &moved[..moved.len().min(5)]);

    // What did change is published as events: every mention whose key changed is in one.
    let events = csv_rows(&ok(&["sql", "SELECT old_key, new_key, kind, CAST(night AS VARCHAR) FROM person_key_event", "--warehouse", path(&warehouse), "--format", "csv"]));
    let pairs: HashSet<(String, String)> = events.iter().map(|e| (e[0].clone(), e[1].clone())).collect();
    let differing: Vec<(String, String)> = before.iter().filter_map(|(m, k)| after.get(m).filter(|n| *n != k).map(|n| (k.clone(), n.clone()))).collect();
    assert!(!differing.is_empty(), "night 2 registered newborns, so some mentions moved");
    assert!(differing.iter().all(|p| pairs.contains(p)), "{differing:?} vs {events:?}");
    assert!(events.iter().all(|e| e[3] == "2026-11-02"));
    // The new night's payments arrived.
    let november = csv_rows(&ok(&["sql", "SELECT COUNT(*) FROM pension_payment WHERE month = DATE '2026-11-01'", "--warehouse", path(&warehouse), "--format", "csv"]));
    assert!(november[0][0].parse::<u64>().unwrap() > 0);
}

#[test]
fn links_are_the_same_on_one_thread_and_on_many() {
    // Large enough that the linker cuts its mentions into several chunks.
    let data = generated(10000, 5, 1);
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read_to_string(PIPELINE).unwrap();
    let mut nights = Vec::new();
    for threads in [1, 3] {
        let pipeline = dir.path().join(format!("threads-{threads}.toml"));
        std::fs::write(&pipeline, format!("{original}\n[engine]\nthreads = {threads}\n")).unwrap();
        let warehouse = dir.path().join(format!("warehouse-{threads}"));
        ok(&["run", path(&pipeline), "--data-root", path(&data), "--warehouse", path(&warehouse)]);
        nights.push((dump(&warehouse, 1, "person_source"), dump(&warehouse, 1, "person"), dump(&warehouse, 1, "review_queue")));
    }
    assert!(nights[0].0.len() > 20000, "{} mentions", nights[0].0.len());
    assert!(nights[0] == nights[1], "the links differ between one thread and three");
}
