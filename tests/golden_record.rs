//! The golden record: each attribute of a person chosen by the pipeline's `[golden]` rules, with
//! the record, night and rule it came from (`person_attribute`), and `person` agreeing with it.

mod common;

use common::*;

#[test]
fn each_attribute_says_where_it_came_from_and_the_register_wins_a_disagreement() {
    let c = city(3000, 17);
    let count = |query: &str| sql_count(&c, query);
    let persons = count("SELECT COUNT(*) FROM person");
    // Every person some record names has a name (a newborn's certificate may leave it empty),
    // every person a sex and a birth date, each once, and `person` shows the same values.
    let named = count("SELECT COUNT(DISTINCT person_key) FROM person_source WHERE trim(name_raw) <> ''");
    assert!(named + 5 > persons);
    for (attribute, expected) in [("name", named), ("sex", persons), ("birth_date", persons)] {
        assert_eq!(count(&format!("SELECT COUNT(DISTINCT person_key) FROM person_attribute WHERE attribute = '{attribute}'")), expected, "{attribute}");
    }
    assert_eq!(count("SELECT COUNT(*) FROM (SELECT person_key, attribute FROM person_attribute GROUP BY 1, 2 HAVING COUNT(*) > 1)"), 0);
    assert_eq!(
        count(
            "SELECT COUNT(*) FROM person p JOIN person_attribute a ON a.person_key = p.person_key \
             WHERE (a.attribute = 'name' AND a.value <> p.name) OR (a.attribute = 'sex' AND a.value <> p.sex) \
                OR (a.attribute = 'birth_date' AND a.value <> CAST(p.birth_date AS VARCHAR))"
        ),
        0
    );

    // A registered person whose name another department wrote otherwise (traditional characters,
    // a homophone) keeps the register's, credited to the register's record by `authority`.
    let disputed = ok(&[
        "sql",
        "SELECT a.person_key, a.value, a.record_key, s.name_raw, s.source || ':' || s.record_key || ':' || s.role FROM person_attribute a \
         JOIN person_source s ON s.person_key = a.person_key AND trim(s.name_raw) <> a.value \
         WHERE a.attribute = 'name' AND a.rule = 'authority' ORDER BY 1 LIMIT 1",
        "--warehouse",
        path(&c.warehouse),
        "--format",
        "csv",
    ]);
    let row = &csv_rows(&disputed)[0];
    let (person, name, record, other) = (&row[0], &row[1], &row[2], &row[3]);
    assert_ne!(name, other.trim());
    let register = sql_value(
        &c.warehouse,
        None,
        &format!("SELECT trim(name_raw) FROM person_source WHERE person_key = '{person}' AND link_rule = 'register' AND record_key = '{record}'"),
    );
    assert_eq!(&register, name);
    // `explain` of the other mention shows the golden record beside its link.
    let explained = ok(&["explain", &row[4], "--warehouse", path(&c.warehouse)]);
    assert!(explained.contains(&format!("from household_register:{record}:resident")) && explained.contains("by authority"), "{explained}");

    // A person no register holds takes a value that some record gives, not the register's.
    assert!(count("SELECT COUNT(*) FROM person_attribute a JOIN person p ON p.person_key = a.person_key WHERE p.founded_by <> 'household_register' AND a.attribute = 'name' AND a.source <> 'household_register'") > 0);
    // The ID number stands in only for what it holds.
    assert_eq!(count("SELECT COUNT(*) FROM person_attribute WHERE source = 'citizen_id' AND attribute NOT IN ('sex', 'birth_date')"), 0);

    // The night a value came is its record's first night: a second night of the same exports
    // keeps the first night's date.
    let first = current_night(&c.warehouse)["as_of"].as_str().unwrap().to_string();
    ok(&["run", PIPELINE, "--data-root", path(&c.data), "--warehouse", path(&c.warehouse), "--as-of", "2026-11-02"]);
    assert_eq!(count(&format!("SELECT COUNT(*) FROM person_attribute WHERE night <> DATE '{first}'")), 0);
    assert_eq!(count(&format!("SELECT COUNT(*) FROM person_source WHERE seen_since <> DATE '{first}'")), 0);
}
