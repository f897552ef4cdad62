//! Ingest: every input row accepted or quarantined with its reason and place, counts that add up, and unseen exports onboarded by a pipeline file alone.

mod common;

use common::*;

#[test]
fn nightly_run_accounts_for_every_row_and_links_people() {
    let c = city(4000, 11);
    let m = manifest(&c.warehouse);
    let truth = std::fs::read_to_string(c.data.join("truth/mentions.csv")).unwrap();
    for source in m["sources"].as_array().unwrap() {
        let (read, accepted, quarantined) = (source["rows_read"].as_u64().unwrap(), source["accepted"].as_u64().unwrap(), source["quarantined"].as_u64().unwrap());
        assert_eq!(read, accepted + quarantined, "{}", source["source"]);
        for file in source["files"].as_array().unwrap() {
            assert_eq!(file["rows_read"], file["accepted"].as_u64().unwrap() + file["quarantined"].as_u64().unwrap());
            assert_eq!(file["sha256"].as_str().unwrap().len(), 64);
        }
    }
    let by_name = |n: &str| m["sources"].as_array().unwrap().iter().find(|s| s["source"] == n).unwrap().clone();
    // Every register row is a mention in the truth, and the register loses none.
    let register_rows = truth.lines().filter(|l| l.starts_with("household_register,")).count() as u64;
    assert_eq!(by_name("household_register")["accepted"].as_u64().unwrap(), register_rows);
    // Damaged payment rows are quarantined with their reasons, and so counted.
    let payments = by_name("si_payments");
    assert!(payments["quarantine_reasons"]["invalid_number"].as_u64().unwrap() > 0);
    assert!(payments["quarantine_reasons"]["impossible_date"].as_u64().unwrap() > 0);
    let quarantined: u64 = m["sources"].as_array().unwrap().iter().map(|s| s["quarantined"].as_u64().unwrap()).sum();
    assert_eq!(sql_count(&c, "SELECT COUNT(*) FROM quarantine"), quarantined);
    assert_eq!(sql_count(&c, "SELECT COUNT(*) FROM quarantine WHERE reason = 'invalid_number' AND \"column\" = 'facts.amount' AND value = 'N/A'"), payments["quarantine_reasons"]["invalid_number"].as_u64().unwrap());
    // The published tables agree with the manifest.
    let persons = m["linkage"]["persons"].as_u64().unwrap();
    assert_eq!(sql_count(&c, "SELECT COUNT(*) FROM person"), persons);
    assert_eq!(sql_count(&c, "SELECT COUNT(DISTINCT person_key) FROM person"), persons);
    assert_eq!(sql_count(&c, "SELECT COUNT(*) FROM person_source"), m["linkage"]["mentions"].as_u64().unwrap());
    assert_eq!(sql_count(&c, "SELECT COUNT(*) FROM pension_payment"), payments["accepted"].as_u64().unwrap());
    assert_eq!(sql_count(&c, "SELECT COUNT(*) FROM pension_payment WHERE person_key IS NULL"), 0);
    for stage in ["ingest", "identity", "link", "publish"] {
        assert!(m["stages"].as_array().unwrap().iter().any(|s| s["stage"] == stage));
    }
    assert!(m["peak_memory_bytes"].as_u64().unwrap() > 0);
}

#[test]
fn an_unseen_export_is_onboarded_by_a_pipeline_file_alone() {
    use pophub::generate::xlsx::{self, Cell};
    let c = city(1500, 21);
    // The truth: each person's ID, name and birth date, and the register record that founded them.
    let persons = csv_rows(&std::fs::read_to_string(c.data.join("truth/persons.csv")).unwrap());
    let registered: Vec<&Vec<String>> = persons.iter().filter(|p| p[8] == "true" && p[4].as_str() < "2000").take(60).collect();
    let truth = std::fs::read_to_string(c.data.join("truth/mentions.csv")).unwrap();
    let register_key = |person: &str| {
        truth.lines().find(|l| l.starts_with("household_register,") && l.ends_with(person)).unwrap().split(',').nth(1).unwrap().to_string()
    };
    let chinese = |iso: &str| {
        let p: Vec<u32> = iso.split('-').map(|x| x.parse().unwrap()).collect();
        format!("{}年{}月{}日", p[0], p[1], p[2])
    };
    // 1. Civil affairs allowance list: GBK, `|`-delimited, other headers, Chinese dates, lowercase x.
    let mut text = String::from("序号|救助对象姓名|公民身份证号|出生年月日|救助类别\n");
    for p in &registered[..20] {
        text.push_str(&format!("{}|{}|{}|{}|城市低保\n", p[0], p[2], p[1].to_lowercase(), chinese(&p[4])));
    }
    let (gbk, _, _) = encoding_rs::GBK.encode(&text);
    std::fs::write(c.data.join("allowance.txt"), gbk).unwrap();
    // 2. A sheet of an xlsx workbook, one ID typed into a number cell, birth dates as Excel dates.
    let rows: Vec<Vec<Cell>> = registered[20..40]
        .iter()
        .map(|p| {
            let day = chrono::NaiveDate::parse_from_str(&p[4], "%Y-%m-%d").unwrap();
            vec![Cell::Text(p[0].clone()), Cell::Text(format!(" {} ", p[2])), Cell::Text(p[1].clone()), Cell::Date(day)]
        })
        .collect();
    xlsx::write(&c.data.join("veterans.xlsx"), "优抚对象", &["编号", "姓名", "证件号", "出生日期"], &rows).unwrap();
    // 3. A JSON array of households with their members nested.
    let households: Vec<serde_json::Value> = registered[40..60]
        .chunks(2)
        .enumerate()
        .map(|(i, pair)| {
            serde_json::json!({"hh": format!("H{i}"), "members": pair.iter().map(|p| serde_json::json!({"id": p[0], "xingming": p[2], "zjhm": p[1]})).collect::<Vec<_>>()})
        })
        .collect();
    std::fs::write(c.data.join("survey.json"), serde_json::to_string(&households).unwrap()).unwrap();

    // 4. Daily Parquet drops, two files under one glob, typed columns, read from the first night.
    std::fs::create_dir_all(c.data.join("drops")).unwrap();
    for (part, offset) in [(1, 0), (2, 10)] {
        let query = format!(
            "SELECT 'D' || record_key AS rid, name_raw AS xm, citizen_id AS sfz, birth_date AS csrq FROM person_source \
             WHERE source = 'household_register' AND id_status = 'valid' ORDER BY record_key LIMIT 10 OFFSET {offset}"
        );
        let file = c.data.join(format!("drops/part-{part}.parquet"));
        ok(&["sql", &query, "--warehouse", path(&c.warehouse), "--format", "parquet", "--out", path(&file)]);
    }
    let pipeline = c.data.join("onboarded.toml");
    let mut text = std::fs::read_to_string(PIPELINE).unwrap();
    text.push_str(
        r#"
[[source]]
name = "allowance"
department = "civil_affairs"
path = "allowance.txt"
format = "csv"
encoding = "gbk"
delimiter = "|"
record_key = "序号"
  [[source.mention]]
  role = "recipient"
  citizen_id = "公民身份证号"
  name = "救助对象姓名"
  birth_date = "出生年月日"

[[source]]
name = "veterans"
department = "veterans_affairs"
path = "veterans.xlsx"
format = "xlsx"
sheet = "优抚对象"
record_key = "编号"
  [[source.mention]]
  role = "veteran"
  citizen_id = "证件号"
  name = "姓名"
  birth_date = "出生日期"

[[source]]
name = "survey"
department = "statistics"
path = "survey.json"
format = "json"
explode = "members"
record_key = "members.id"
  [[source.mention]]
  role = "member"
  citizen_id = "members.zjhm"
  name = "members.xingming"

[[source]]
name = "drops"
department = "statistics"
path = "drops/part-*.parquet"
format = "parquet"
record_key = "rid"
  [[source.mention]]
  role = "resident"
  citizen_id = "sfz"
  name = "xm"
  birth_date = "csrq"
"#,
    );
    std::fs::write(&pipeline, text).unwrap();
    ok(&["run", path(&pipeline), "--data-root", path(&c.data), "--warehouse", path(&c.warehouse)]);
    let linked = csv_rows(&ok(&[
        "sql",
        "SELECT n.record_key, r.record_key FROM person_source n JOIN person_source r ON r.person_key = n.person_key AND r.source = 'household_register' \
         WHERE n.source IN ('allowance', 'veterans', 'survey')",
        "--warehouse",
        path(&c.warehouse),
        "--format",
        "csv",
    ]));
    assert_eq!(linked.len(), 60, "every onboarded mention is linked to its register person");
    for row in linked {
        assert_eq!(row[1], register_key(&row[0]), "{row:?}");
    }
    let drops = csv_rows(&ok(&[
        "sql",
        "SELECT n.record_key, r.record_key, n.file FROM person_source n JOIN person_source r ON r.person_key = n.person_key AND r.source = 'household_register' \
         WHERE n.source = 'drops'",
        "--warehouse",
        path(&c.warehouse),
        "--format",
        "csv",
    ]));
    assert_eq!(drops.len(), 20);
    assert!(drops.iter().all(|r| r[0] == format!("D{}", r[1])), "{drops:?}");
    assert_eq!(drops.iter().filter(|r| r[2].ends_with("part-2.parquet")).count(), 10);
    let m = manifest(&c.warehouse);
    let veterans = m["sources"].as_array().unwrap().iter().find(|s| s["source"] == "veterans").unwrap().clone();
    assert_eq!(veterans["accepted"], 20);
}

#[test]
fn every_damaged_row_is_quarantined_with_its_reason_and_place() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let id = "11010519491231002X";
    let rows = [
        "key,name,idno,born,sex,died",
        &format!("A1,张伟,{id},1949-12-31,男,2025-01-01"),
        &format!("A2,李丽,{id},1949-12-31,女,2025-01-01,extra"),
        &format!(",王芳,{id},1949-12-31,女,2025-01-01"),
        &format!("A1,赵强,{id},1949-12-31,男,2025-01-01"),
        "A5,,,1949-12-31,男,2025-01-01",
        &format!("A6,陈静,{id},1990-02-30,女,2025-01-01"),
        &format!("A7,陈静,{id},2099-01-01,女,2025-01-01"),
        &format!("A8,刘洋,{id},1949-12-31,男,yesterday"),
        &format!("A9,刘洋,{id},1949-12-31,男,"),
        &format!("A10,孙悦,{id},1949-12-31,X,2025-01-01"),
    ];
    std::fs::write(data.join("roster.csv"), format!("\u{feff}{}\n", rows.join("\n"))).unwrap();
    std::fs::write(data.join("events.jsonl"), "{\"k\":\"E1\",\"n\":\"张伟\"}\n{\"k\":\n[1,2]\n").unwrap();
    let pipeline = data.join("p.toml");
    std::fs::write(
        &pipeline,
        r#"
[pipeline]
name = "damage"
as_of = "2026-11-01"

[[source]]
name = "roster"
department = "test"
path = "roster.csv"
format = "csv"
record_key = "key"
  [[source.mention]]
  role = "person"
  citizen_id = "idno"
  name = "name"
  birth_date = { column = "born", severity = "error" }
  sex = { column = "sex", map = { "男" = "M", "女" = "F", "X" = "unknown" } }
  [source.facts]
  kind = "death"
  mention = "person"
  death_date = "died"
  evidence = "test"

[[source]]
name = "events"
department = "test"
path = "events.jsonl"
format = "jsonl"
record_key = "k"
  [[source.mention]]
  role = "subject"
  name = "n"
"#,
    )
    .unwrap();
    let warehouse = data.join("warehouse");
    ok(&["run", path(&pipeline), "--warehouse", path(&warehouse)]);
    let m = manifest(&warehouse);
    let roster = &m["sources"][0];
    assert_eq!((roster["rows_read"].as_u64(), roster["accepted"].as_u64(), roster["quarantined"].as_u64()), (Some(10), Some(2), Some(8)));
    assert_eq!(roster["warnings"]["person.sex: not an allowed value"], 1);
    let events = &m["sources"][1];
    assert_eq!((events["rows_read"].as_u64(), events["accepted"].as_u64(), events["quarantined"].as_u64()), (Some(3), Some(1), Some(2)));
    let quarantine = csv_rows(&ok(&[
        "sql",
        "SELECT source, row, reason, \"column\", value FROM quarantine ORDER BY source, row",
        "--warehouse",
        path(&warehouse),
        "--format",
        "csv",
    ]));
    let got: Vec<(String, String, String, String, String)> =
        quarantine.into_iter().map(|r| (r[0].clone(), r[1].clone(), r[2].clone(), r[3].clone(), r[4].clone())).collect();
    let row = |s: &str, line: &str, reason: &str, column: &str, value: &str| (s.to_string(), line.to_string(), reason.to_string(), column.to_string(), value.to_string());
    let expected = vec![
        row("events", "2", "invalid_json", "", "{\"k\":"),
        row("events", "3", "not_an_object", "", "[1,2]"),
        row("roster", "3", "wrong_field_count", "", &format!("A2|李丽|{id}|1949-12-31|女|2025-01-01|extra")),
        row("roster", "4", "missing_record_key", "record_key", ""),
        row("roster", "5", "duplicate_record_key", "record_key", "A1"),
        row("roster", "6", "no_identity", "citizen_id", ""),
        row("roster", "7", "impossible_date", "person.birth_date", "1990-02-30"),
        row("roster", "8", "future_date", "person.birth_date", "2099-01-01"),
        row("roster", "9", "invalid_date", "facts.death_date", "yesterday"),
        row("roster", "10", "missing_required_field", "facts.death_date", ""),
    ];
    assert_eq!(got, expected);
}

/// The sample city with one export replaced by `bytes`; the run's exit code and stderr.
fn run_with(dir: &std::path::Path, export: &str, bytes: &[u8]) -> (Option<i32>, String) {
    let data = dir.join("city");
    let _ = std::fs::remove_dir_all(&data);
    copy_dir(&generated(300, 5, 1), &data);
    std::fs::write(data.join(export), bytes).unwrap();
    let warehouse = dir.join(format!("warehouse-{}", export.replace('/', "-")));
    let out = pophub(&["run", PIPELINE, "--data-root", path(&data), "--warehouse", path(&warehouse)]);
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn hostile_files_end_in_a_clear_error_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let payments = "social_security/pension_payments.csv";
    let header = std::fs::read_to_string(generated(300, 5, 1).join(payments)).unwrap().lines().next().unwrap().to_string();
    let mut garbage = vec![0u8; 100_000];
    for (i, b) in garbage.iter_mut().enumerate() {
        *b = (i.wrapping_mul(2_654_435_761) >> 13) as u8;
    }
    let wide = format!("{}\n{}\n", (0..10_000).map(|i| format!("c{i}")).collect::<Vec<_>>().join(","), vec!["1"; 10_000].join(","));
    let deep = format!("{}{}\n", "[".repeat(10_000), "]".repeat(10_000));
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        ("a 0-byte file", payments, Vec::new()),
        ("a header-only file", payments, format!("{header}\n").into_bytes()),
        ("binary garbage", payments, garbage),
        ("10,000 columns", payments, wide.into_bytes()),
        ("JSON nested 10,000 deep", "housing/property_units.jsonl", deep.into_bytes()),
        ("an xlsx that is not a zip", "housing/rental_filings.xlsx", b"PK not really".to_vec()),
    ];
    for (what, export, bytes) in cases {
        let (code, stderr) = run_with(dir.path(), export, &bytes);
        let file = export.rsplit('/').next().unwrap();
        assert!(matches!(code, Some(1) | Some(2)), "{what}: exit {code:?}: {stderr}");
        assert!(!stderr.contains("panicked") && stderr.contains(file), "{what}: {stderr}");
        // Bounded, however wide or deep the file: a few lines naming what to fix.
        assert!(stderr.len() < 6000, "{what}: {} bytes of messages", stderr.len());
        if what.contains("0-byte") || what.contains("header-only") {
            assert!(stderr.contains("(empty_file, STOPS the night)") && stderr.contains("no rows"), "{what}: {stderr}");
        }
        if what.contains("deep") {
            assert!(stderr.contains("no row could be read; the first, at line 1, was quarantined"), "{what}: {stderr}");
        }
    }

    // A line of 8 MB without a newline: quarantined, and only its start kept.
    let long = format!("{header}\n{}", "A".repeat(8 << 20));
    let (code, stderr) = run_with(dir.path(), payments, long.as_bytes());
    assert_eq!(code, Some(0), "{stderr}");
    let warehouse = dir.path().join(format!("warehouse-{}", payments.replace('/', "-")));
    let kept = sql_value(&warehouse, None, "SELECT MAX(length(value)) FROM quarantine WHERE reason = 'wrong_field_count'");
    assert!(kept.parse::<usize>().unwrap() < 5000, "{kept}");

    // An xlsx that inflates to gigabytes is refused before it is inflated.
    let bomb = {
        use std::io::Write;
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated).large_file(true);
        zip.start_file("xl/worksheets/sheet1.xml", options).unwrap();
        let spaces = vec![b' '; 1 << 20];
        for _ in 0..1100 {
            zip.write_all(&spaces).unwrap();
        }
        zip.finish().unwrap().into_inner()
    };
    let (code, stderr) = run_with(dir.path(), "housing/rental_filings.xlsx", &bomb);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("inflates to more than 1024 MB"), "{stderr}");
}
