//! The person profile from the command line: `pophub profile ID`, as a role sees it.

mod common;

use common::*;

#[test]
fn profile_by_number_or_key_shows_every_section_the_role_may_see() {
    let city = city(1500, 41);
    let w = path(&city.warehouse);
    // A registered adult with insurance: a person the register and social security both know.
    let person = csv_rows(&ok(&[
        "sql",
        "SELECT p.person_key, p.citizen_id FROM person p JOIN person_source s ON s.person_key = p.person_key \
         WHERE p.register_status = 'normal' AND s.source LIKE '%insured%' AND length(p.citizen_id) = 18 ORDER BY p.person_key LIMIT 1",
        "--warehouse",
        w,
        "--format",
        "csv",
    ]))
    .remove(0);
    let (key, id) = (&person[0], &person[1]);
    let by_number = ok(&["profile", id, "--warehouse", w, "--format", "csv"]);
    let by_key = ok(&["profile", key, "--warehouse", w, "--format", "csv"]);
    assert_eq!(by_number, by_key);
    let rows = csv_rows(&by_number);
    let sections: std::collections::BTreeSet<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    for wanted in ["person", "id_decoded", "id_number", "name", "source_record"] {
        assert!(sections.contains(wanted), "no {wanted} section in {sections:?}");
    }
    // Each section's rows together, the sections in the profile's order.
    let order = ["person", "id_decoded", "id_number", "name", "household", "relation", "house", "tenancy", "pension", "death", "stay", "identity_conflict", "key_event", "source_record"];
    let mut runs: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    runs.dedup();
    let places: Vec<usize> = runs.iter().map(|s| order.iter().position(|o| o == s).expect("a known section")).collect();
    assert!(places.is_sorted() && runs.len() == sections.len(), "sections out of order: {runs:?}");
    let item = |section: &str, item: &str| rows.iter().find(|r| r[0] == section && r[1] == item).map(|r| r[2].clone());
    assert_eq!(item("person", "citizen_id").as_deref(), Some(id.as_str()));
    assert_eq!(item("id_decoded", "birth_date").as_deref(), Some(&id[6..14]));
    // The household: its number, head, members and house, from the `household` table.
    let household = item("person", "household_no").unwrap();
    let summary = item("household", "household").unwrap();
    assert!(summary.starts_with(&format!("{household}: head P")) && summary.contains(" members, house "), "{summary}");
    // Relations: the rows of the person's key in `relation`, each with its source and record.
    let mut relations: Vec<String> = rows.iter().filter(|r| r[0] == "relation").map(|r| format!("{},{},{},{}", r[1], r[2], r[3], r[4])).collect();
    relations.sort();
    let query = format!("SELECT relation, other_person_key, source, record_key FROM relation WHERE person_key = '{key}' ORDER BY 1, 2, 3, 4");
    let mut expected: Vec<String> = csv_rows(&ok(&["sql", &query, "--warehouse", w, "--format", "csv"])).iter().map(|r| r.join(",")).collect();
    expected.sort();
    assert!(!expected.is_empty() && relations == expected, "{relations:?} against {expected:?}");
    // Every source record names its file and row.
    let records: Vec<&Vec<String>> = rows.iter().filter(|r| r[0] == "source_record").collect();
    assert!(!records.is_empty() && records.iter().all(|r| !r[5].is_empty() && r[6].parse::<u64>().is_ok()), "{records:?}");
    let mentions: usize = item("person", "mention_count").unwrap().parse().unwrap();
    assert_eq!(records.len(), mentions);

    // As the analyst sees it: masked.
    let masked = csv_rows(&ok(&["profile", id, "--warehouse", w, "--role", "analyst", "--format", "csv"]));
    let masked_id = masked.iter().find(|r| r[0] == "person" && r[1] == "citizen_id").unwrap()[2].clone();
    assert_eq!(masked_id, format!("{}********{}", &id[..6], &id[14..]));
    assert_eq!(masked.iter().find(|r| r[0] == "id_decoded" && r[1] == "birth_date").unwrap()[2], "********");

    // Nobody under that number: exit 2, saying so.
    let out = pophub(&["profile", "110101190001010000", "--warehouse", w]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no person with that ID number"));
}
