//! External lists: a court's list matched with the night's persons under the linkage model, and
//! the voter roll leaving off whom it names — a mistyped number still finds its person, and a
//! namesake from elsewhere is not taken.

mod common;

use std::collections::HashMap;

use chrono::Datelike;

use common::*;

/// Truth rows of a generated city's file, by their first column.
fn truth_by_key(c: &City, file: &str) -> HashMap<String, Vec<String>> {
    csv_rows(&std::fs::read_to_string(c.data.join("truth").join(file)).unwrap()).into_iter().map(|r| (r[0].clone(), r)).collect()
}

/// Each person key's true person, through the record that founded it.
fn true_person_of_keys(c: &City) -> HashMap<String, String> {
    let mentions: HashMap<(String, String, String), String> = csv_rows(&std::fs::read_to_string(c.data.join("truth/mentions.csv")).unwrap())
        .into_iter()
        .map(|r| ((r[0].clone(), r[1].clone(), r[2].clone()), r[3].clone()))
        .collect();
    let founders = ok(&[
        "sql",
        "SELECT person_key, source, record_key, role FROM person_source WHERE link_rule IN ('register', 'new_person')",
        "--warehouse",
        path(&c.warehouse),
        "--format",
        "csv",
    ]);
    csv_rows(&founders).into_iter().filter_map(|r| Some((r[0].clone(), mentions.get(&(r[1].clone(), r[2].clone(), r[3].clone()))?.clone()))).collect()
}

#[test]
fn a_list_finds_its_people_through_damage_and_leaves_strangers_alone() {
    let c = city(5000, 2026);
    let truth_of_key = true_person_of_keys(&c);

    // The generator's list: its entries in every kind of damage, then namesakes from elsewhere.
    let list = c.data.join("external/deprived_political_rights.csv");
    let out = ok(&["match", "--list", path(&list), "--warehouse", path(&c.warehouse), "--format", "csv"]);
    let matches = csv_rows(&out);
    let truth = truth_by_key(&c, "external_list.csv");
    assert_eq!(matches.len(), truth.len());
    let (mut right, mut of_city) = (0, 0);
    for m in &matches {
        let (line, outcome, person_key) = (&m[0], &m[4], &m[6]);
        let true_person = &truth[line][1];
        if true_person.is_empty() {
            assert_ne!(outcome, "matched", "an outsider was matched: {m:?}");
            continue;
        }
        of_city += 1;
        if outcome == "matched" {
            assert_eq!(truth_of_key.get(person_key), Some(true_person), "line {line} matched the wrong person");
            right += 1;
        }
    }
    assert!(of_city >= 3 && matches.len() > of_city, "{of_city} of {} entries of the city", matches.len());
    assert_eq!(right, of_city, "every entry of the city's people is found");

    // A list of our own, from the city's voters: a number with one digit wrong beside the right
    // name; a namesake born a year apart; a namesake born the same day with another valid number.
    let voters: Vec<Vec<String>> = csv_rows(&std::fs::read_to_string(c.data.join("truth/voter_roll.csv")).unwrap());
    let persons = truth_by_key(&c, "persons.csv");
    let name_count = |name: &str| persons.values().filter(|p| p[2] == name).count();
    let unique: Vec<&Vec<String>> = voters.iter().map(|v| &persons[&v[0]]).filter(|p| name_count(&p[2]) == 1).collect();
    let (typo, namesake, twin) = (unique[0], unique[1], unique[2]);
    let mut mistyped = typo[1].clone().into_bytes();
    mistyped[14] = b'0' + (mistyped[14] - b'0' + 1) % 10;
    let mistyped = String::from_utf8(mistyped).unwrap();
    let year_apart = {
        let born = chrono::NaiveDate::parse_from_str(&namesake[4], "%Y-%m-%d").unwrap();
        born.with_year(born.year() - 1).unwrap_or(born - chrono::Duration::days(365))
    };
    let twin_born = chrono::NaiveDate::parse_from_str(&twin[4], "%Y-%m-%d").unwrap();
    let elsewhere = pophub::identity::citizen_id::compose("110105", twin_born, if twin[3] == "M" { 11 } else { 12 });
    // And a valid number nobody holds beside the name and birth date of a person the night
    // knows no number of (a newborn): maybe them, maybe not — for a person to decide.
    let newborn = csv_rows(&ok(&[
        "sql",
        "SELECT name, CAST(birth_date AS VARCHAR) FROM person WHERE founded_by = 'birth_certificates' AND citizen_id IS NULL AND name IS NOT NULL ORDER BY person_key LIMIT 1",
        "--warehouse",
        path(&c.warehouse),
        "--format",
        "csv",
    ]))
    .remove(0);
    let newborn_number = pophub::identity::citizen_id::compose("110105", chrono::NaiveDate::parse_from_str(&newborn[1], "%Y-%m-%d").unwrap(), 13);
    let ours = c.dir.path().join("court.csv");
    let text = format!(
        "序号,姓名,公民身份号码,出生日期\n1,{},{mistyped},\n2,{},,{year_apart}\n3,{},{elsewhere},{}\n4,{},{newborn_number},{}\n",
        typo[2], namesake[2], twin[2], twin[4], newborn[0], newborn[1]
    );
    std::fs::write(&ours, encoding_rs::GB18030.encode(&text).0).unwrap();
    let args = |extra: &[&str]| {
        let mut a = vec!["match", "--list", path(&ours), "--warehouse", path(&c.warehouse), "--format", "csv"];
        a.extend_from_slice(extra);
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let run = |a: Vec<String>| pophub(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let undecodable = run(args(&[]));
    assert_eq!(undecodable.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&undecodable.stderr).contains("--encoding"), "{}", String::from_utf8_lossy(&undecodable.stderr));
    let rows = csv_rows(&String::from_utf8(run(args(&["--encoding", "gb18030"])).stdout).unwrap());
    assert_eq!(rows.len(), 4);
    assert_eq!((rows[0][4].as_str(), rows[0][5].as_str()), ("matched", "id_repaired"), "{:?}", rows[0]);
    assert_eq!(truth_of_key.get(&rows[0][6]), Some(&typo[0]));
    assert_ne!(rows[1][4], "matched", "a namesake born a year apart: {:?}", rows[1]);
    assert_ne!(rows[2][4], "matched", "a namesake born the same day with another number: {:?}", rows[2]);
    assert_eq!(rows[3][4], "review", "a number the night cannot compare: {:?}", rows[3]);

    // The voter roll leaves off the mistyped voter, and nobody else.
    let params: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(c.data.join("truth/voter_roll.json")).unwrap()).unwrap();
    let (district, date) = (params["district"].as_str().unwrap(), params["election_date"].as_str().unwrap());
    let roll = |extra: &[&str]| {
        let mut a = vec!["report", "voter-roll", "--district", district, "--date", date, "--warehouse", path(&c.warehouse), "--format", "csv"];
        a.extend_from_slice(extra);
        csv_rows(&ok(&a)).into_iter().map(|r| r[1].clone()).collect::<Vec<_>>()
    };
    let full = roll(&[]);
    let excluded = roll(&["--exclude", path(&ours), "--encoding", "gb18030"]);
    let gone: Vec<&String> = full.iter().filter(|id| !excluded.contains(id)).collect();
    assert_eq!(gone, vec![&typo[1]]);

    // A list without a column to match on says how to name one; a mapped column is taken.
    let bare = c.dir.path().join("bare.csv");
    std::fs::write(&bare, format!("编号,当事人\n1,{}\n", namesake[2])).unwrap();
    let out = pophub(&["match", "--list", path(&bare), "--warehouse", path(&c.warehouse)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--column name=HEADER"));
    let mapped = ok(&["match", "--list", path(&bare), "--column", "name=当事人", "--warehouse", path(&c.warehouse), "--format", "csv"]);
    assert_eq!(csv_rows(&mapped)[0][4], "unmatched", "a name alone, with no birth date, finds no block");
}
