//! Drift: missing and changed columns, shrunken feeds and undecodable files, reported before anything is published.

mod common;

use common::*;

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

    // A transfer cut in the middle of a character (the file's last byte lost): the same, never a panic.
    let mut bytes = std::fs::read(data.join("police/household_register.csv")).unwrap();
    bytes[at] = b'x';
    bytes.truncate(bytes.len() - 1);
    bytes.extend_from_slice(b"\n\xD5"); // 张 is D5 C5 in GB18030: its second byte lost
    let last_wide = bytes.len() - 1;
    std::fs::write(&register, &bytes).unwrap();
    let out = run(PIPELINE);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("household_register.csv") && stderr.contains(&format!("byte offset {last_wide}")) && !stderr.contains("panicked"), "{stderr}");
}
