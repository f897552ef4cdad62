//! End-to-end: the `pophub` binary on generated cities, asserting counts, quarantine reasons,
//! report rows, evaluation figures and exit codes.

mod common;

use std::process::Command;

use common::*;

fn sql_count(c: &City, query: &str) -> u64 {
    let out = ok(&["sql", query, "--warehouse", path(&c.warehouse), "--format", "csv"]);
    csv_rows(&out)[0][0].parse().unwrap()
}

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
fn reports_match_the_truth() {
    let c = city(5000, 2026);
    let report = ok(&["report", "deceased-pensions", "--warehouse", path(&c.warehouse), "--format", "csv"]);
    let reported: Vec<(String, String, String)> = csv_rows(&report).into_iter().map(|r| (r[1].clone(), r[5].clone(), r[8].clone())).collect();
    let truth = std::fs::read_to_string(c.data.join("truth/deceased_pensions.csv")).unwrap();
    let mut expected: Vec<(String, String, String)> = csv_rows(&truth)
        .into_iter()
        .filter(|r| r[5] == "true")
        .map(|r| (r[1].clone(), r[3].clone(), r[4].trim_end_matches('0').trim_end_matches('.').to_string()))
        .collect();
    let mut got: Vec<(String, String, String)> =
        reported.into_iter().map(|(id, months, amount)| (id, months, amount.trim_end_matches('0').trim_end_matches('.').to_string())).collect();
    expected.sort();
    got.sort();
    assert!(!expected.is_empty());
    assert_eq!(got, expected);

    let params: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(c.data.join("truth/voter_roll.json")).unwrap()).unwrap();
    let (district, date) = (params["district"].as_str().unwrap(), params["election_date"].as_str().unwrap());
    let exclude = c.data.join("external/deprived_political_rights.csv");
    let roll = |extra: &[&str]| {
        let mut args = vec!["report", "voter-roll", "--district", district, "--date", date, "--warehouse", path(&c.warehouse), "--format", "csv"];
        args.extend_from_slice(extra);
        csv_rows(&ok(&args)).into_iter().map(|r| r[1].clone()).collect::<Vec<_>>()
    };
    let with_exclusions = roll(&["--exclude", path(&exclude)]);
    let without = roll(&[]);
    let truth_roll: Vec<String> = csv_rows(&std::fs::read_to_string(c.data.join("truth/voter_roll.csv")).unwrap()).into_iter().map(|r| r[1].clone()).collect();
    assert!(truth_roll.iter().all(|id| with_exclusions.contains(id)));
    assert!(with_exclusions.len() >= truth_roll.len() && with_exclusions.len() <= truth_roll.len() + 3);
    let excluded = std::fs::read_to_string(&exclude).unwrap();
    let excluded_in_district = without.iter().filter(|id| excluded.contains(id.as_str())).count();
    assert_eq!(without.len() - with_exclusions.len(), excluded_in_district);

    // A bad line in the exclusion list is an error naming the line, not a silent skip.
    let bad = c.data.join("bad_exclusions.csv");
    std::fs::write(&bad, "citizen_id\n42050219900101123\n").unwrap();
    let out = pophub(&["report", "voter-roll", "--district", district, "--date", date, "--warehouse", path(&c.warehouse), "--exclude", path(&bad)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2"));
}

#[test]
fn sql_answers_in_every_format_and_from_stdin() {
    let c = city(2000, 5);
    let table = ok(&["sql", "SELECT COUNT(*) AS n FROM person", "--warehouse", path(&c.warehouse)]);
    assert!(table.contains("| n ") && table.contains("1 row(s)"), "{table}");
    let json = ok(&["sql", "SELECT sex, COUNT(*) AS n FROM person GROUP BY sex ORDER BY sex", "--warehouse", path(&c.warehouse), "--format", "json"]);
    assert_eq!(json.lines().count(), 2, "{json}");
    let parquet = c.warehouse.join("out.parquet");
    ok(&["sql", "SELECT * FROM person_house", "--warehouse", path(&c.warehouse), "--format", "parquet", "--out", path(&parquet)]);
    assert!(std::fs::read(&parquet).unwrap().starts_with(b"PAR1"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_pophub"))
        .args(["sql", "--warehouse", path(&c.warehouse), "--format", "csv"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"SELECT citizen_id_status('11010519491231002x') AS s").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "s\nvalid\n");
    // Versioned: a second night is a new version of every table. Retrained on the same exports,
    // the model and every link come out the same.
    let links = || ok(&["sql", "SELECT source, record_key, role, person_key, link_rule FROM person_source ORDER BY 1, 2, 3", "--warehouse", path(&c.warehouse), "--format", "csv"]);
    let (model, before) = (model_text(&c.warehouse), links());
    ok(&["run", PIPELINE, "--data-root", path(&c.data), "--warehouse", path(&c.warehouse), "--retrain"]);
    let m = manifest(&c.warehouse);
    assert!(m["tables"].as_array().unwrap().iter().all(|t| t["version"] == 1));
    assert_eq!(m["linkage"]["model_trained"], true);
    assert_eq!(model_text(&c.warehouse), model);
    assert_eq!(links(), before);
}

#[test]
fn bad_pipelines_exit_78_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("city");
    ok(&["generate", "--persons", "300", "--out", path(&data)]);
    let original = std::fs::read_to_string(PIPELINE).unwrap();
    let cases = [
        (original.replace("authority = true", "authority = true\nauthoritative = true"), "authoritative"),
        (original.replace("mother = \"mother\"", "mother = \"mum\""), "source.birth_certificates.facts.mother"),
        (original.replace("via = \"si_insured\"", "via = \"si_payments\""), "source.si_payments.facts.via"),
        (original.replace("path = \"civil_affairs/cremations.csv\"", "path = \"civil_affairs/none_*.csv\""), "source.cremations.path"),
        (original.replace("name = \"AAC003\"", "name = { column = \"AAC003\", sql = \"x\" }"), "source.si_insured.mention.insured.name"),
        (original.replace("review_weight = 0.0", "review_weight = 9.0"), "linkage.review_weight"),
    ];
    for (text, key) in cases {
        let file = dir.path().join("pipeline.toml");
        std::fs::write(&file, text).unwrap();
        let out = pophub(&["validate", path(&file), "--data-root", path(&data)]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(78), "{key}: {stderr}");
        assert!(stderr.contains(key), "{key}: {stderr}");
    }
    let out = pophub(&["validate", PIPELINE, "--data-root", path(&data)]);
    assert!(out.status.success());
}

#[test]
fn drift_is_reported_before_anything_is_published() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("city");
    ok(&["generate", "--persons", "400", "--out", path(&data)]);
    let warehouse = dir.path().join("warehouse");
    let run = |pipeline: &str| pophub(&["run", pipeline, "--data-root", path(&data), "--warehouse", path(&warehouse)]);

    // A mapped column gone from a file stops the night by default, naming file, key and columns.
    let insured = data.join("social_security/insured_persons.csv");
    let original = std::fs::read_to_string(&insured).unwrap();
    std::fs::write(&insured, original.replacen("AAC003", "XM", 1)).unwrap();
    let out = run(PIPELINE);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("missing_column") && stderr.contains("AAC003") && stderr.contains("insured_persons.csv") && stderr.contains("XM"), "{stderr}");
    assert!(!warehouse.join("person").exists(), "nothing may be published");

    // With the source's policy at warn, the night goes on: the field is null and the drift is in the manifest.
    let lenient = dir.path().join("lenient.toml");
    let text = std::fs::read_to_string(PIPELINE).unwrap();
    std::fs::write(&lenient, text.replacen("record_key = \"AAC001\"\n", "record_key = \"AAC001\"\ndrift = { missing_column = \"warn\" }\n", 1)).unwrap();
    let out = run(path(&lenient));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let m = manifest(&warehouse);
    assert_eq!(m["drift"][0]["kind"], "missing_column");
    assert_eq!(m["drift"][0]["action"], "warn");
    let w = |q: &str| csv_rows(&ok(&["sql", q, "--warehouse", path(&warehouse), "--format", "csv"]))[0][0].clone();
    assert_eq!(w("SELECT COUNT(*) FROM person_source WHERE source = 'si_insured' AND name_raw IS NOT NULL"), "0");
    std::fs::write(&insured, &original).unwrap();

    // A new column is a warning; a feed far smaller than last night's stops the night.
    let cremations = data.join("civil_affairs/cremations.csv");
    let text = std::fs::read_to_string(&cremations).unwrap();
    let widened: String = text.lines().map(|l| format!("{l},\n")).collect::<String>().replacen(",\n", ",备注\n", 1);
    std::fs::write(&cremations, widened).unwrap();
    let out = run(PIPELINE);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("new columns: [备注]"));
    let payments = data.join("social_security/pension_payments.csv");
    let text = std::fs::read_to_string(&payments).unwrap();
    std::fs::write(&payments, text.lines().take(10).map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    let out = run(PIPELINE);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("si_payments (shrink"), "{stderr}");
    std::fs::write(&payments, text).unwrap();

    // Bytes that are not GB18030 in the register: reported with the byte offset, and the night stops.
    let register = data.join("police/household_register.csv");
    let mut bytes = std::fs::read(&register).unwrap();
    let at = bytes.len() / 2;
    bytes[at] = 0xFF;
    std::fs::write(&register, &bytes).unwrap();
    let out = run(PIPELINE);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("undecodable_file") && stderr.contains("household_register.csv") && stderr.contains(&format!("byte offset {at}")), "{stderr}");
}

#[test]
fn the_same_seed_generates_the_same_city() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    ok(&["generate", "--persons", "500", "--seed", "9", "--out", path(&a)]);
    ok(&["generate", "--persons", "500", "--seed", "9", "--out", path(&b)]);
    for file in ["police/household_register.csv", "social_security/pension_payments.csv", "housing/property_units.jsonl", "truth/mentions.csv"] {
        assert_eq!(std::fs::read(a.join(file)).unwrap(), std::fs::read(b.join(file)).unwrap(), "{file}");
    }
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

#[test]
fn explain_shows_why_and_conflicts_are_published() {
    let c = city(3000, 4);
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
    // The register's records sharing a number stay two persons, and say so.
    let twice = sql("SELECT COUNT(*), COUNT(DISTINCT person_key) FROM identity_conflict WHERE kind = 'issued_twice'");
    assert_eq!(twice[0][0], twice[0][1]);
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
