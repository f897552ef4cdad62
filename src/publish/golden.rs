//! The golden record: each attribute of a person chosen among the values the person's mentions
//! give, by the pipeline's `[golden]` rules, with the record, the night and the rule that chose
//! it (`person_attribute`); `person` takes its name, sex, birth date and ethnicity from there.
//!
//! The rules are data, not SQL text: `golden_rule` holds each attribute's rules by position,
//! and one query ranks every candidate on the key of the rule at each position, so any order
//! of rules is the same plan.

use std::sync::Arc;

use arrow::array::{BooleanArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};

use crate::config::{GoldenOptions, GoldenRule};

/// Positions of rules an attribute may list (every rule once).
const POSITIONS: usize = 4;

/// `golden_rule(attribute, rule_1 … rule_4, uses_number)`: each attribute's rules in order
/// (null past the last), and whether its ID number's value is a candidate at all.
pub fn rules_table(options: &GoldenOptions) -> RecordBatch {
    let attributes = options.attributes();
    let mut fields = vec![Field::new("attribute", DataType::Utf8, false)];
    let mut columns: Vec<Arc<dyn arrow::array::Array>> = vec![Arc::new(attributes.iter().map(|(a, _)| Some(*a)).collect::<StringArray>())];
    for position in 0..POSITIONS {
        fields.push(Field::new(format!("rule_{}", position + 1), DataType::Utf8, true));
        columns.push(Arc::new(attributes.iter().map(|(_, rules)| rules.get(position).map(|r| r.as_str())).collect::<StringArray>()));
    }
    fields.push(Field::new("uses_number", DataType::Boolean, false));
    columns.push(Arc::new(attributes.iter().map(|(_, rules)| Some(rules.contains(&GoldenRule::Number))).collect::<BooleanArray>()));
    // The columns are built from the same attribute list, so they match the schema.
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("golden rule columns")
}

/// A candidate's key under the rule at `position` of its attribute (higher ranks first), with
/// `$votes` for `most_frequent` and `$number` for `number`, written as twelve digits that sort
/// the other way (so the smallest text is the best). Within one value neither votes nor the
/// number rank: a value is credited to a record rather than to the number that says the same.
/// The value the ID number gives is dated as the founding record that holds the number, and is
/// no authority's and no mention's vote.
macro_rules! rule_key {
    ($position:literal, $votes:literal, $number:literal) => {
        concat!(
            "lpad(CAST(999999999999 - CASE rule_", $position,
            " WHEN 'authority' THEN CASE WHEN from_number THEN 0 WHEN link_rule = 'register' THEN 2 WHEN link_rule = 'register_duplicate' THEN 1 ELSE 0 END",
            " WHEN 'most_recent' THEN CAST(CAST(seen_since AS INT) AS BIGINT)",
            " WHEN 'most_frequent' THEN ", $votes,
            " WHEN 'number' THEN ", $number,
            " ELSE 0 END AS VARCHAR), 12, '0')"
        )
    };
}

/// A candidate's rank as text, best smallest: the keys of the rules at positions 1 to 4
/// (characters 1–48), a record before the number (49), the founding record first (50), then
/// source, record key and role, and after them, separated by U+001F, what is carried along.
macro_rules! rank_text {
    ($votes:literal, $number:literal, $carried:literal) => {
        concat!(
            "concat(",
            rule_key!("1", $votes, $number), ", ", rule_key!("2", $votes, $number), ", ",
            rule_key!("3", $votes, $number), ", ", rule_key!("4", $votes, $number), ", ",
            "CASE WHEN from_number THEN '1' ELSE '0' END, CASE WHEN link_rule IN ('register', 'new_person') THEN '0' ELSE '1' END, ",
            "source, chr(31), record_key, chr(31), role, chr(31), ", $carried, ")"
        )
    };
}

/// Every candidate value of every attribute of every person, ranked by grouping alone (no
/// window, no sort of the candidates, no join but with the four-row rule table and with the
/// few contested attributes): each value's best record is the smallest rank text of its
/// records, counting its votes on the way; each attribute's value is the smallest rank text of
/// its values; and where values compete, the runner-up's rank text says which rule decided.
/// (DataFusion's bounded windows spent 15 s each over 1.6 million candidates of 200,000 people
/// in a debug build; the grouping takes about 3 s.) Text is copied out of the scanned pages
/// first (`arrow_cast` to plain Utf8): a view into a page makes every row count the whole page
/// against the pool. U+001F separates the carried fields, so it is taken out of record keys and
/// values (a control character no name holds).
pub const PERSON_ATTRIBUTE_SQL: &str = concat!(
    "WITH raw_value AS ( \
       SELECT person_key, 'name' AS attribute, trim(name_raw) AS value, source, record_key, role, link_rule, seen_since, false AS from_number \
       FROM person_source WHERE person_key IS NOT NULL AND trim(name_raw) <> '' \
       UNION ALL SELECT person_key, 'sex', sex, source, record_key, role, link_rule, seen_since, false \
       FROM person_source WHERE person_key IS NOT NULL AND sex IS NOT NULL \
       UNION ALL SELECT person_key, 'birth_date', CAST(birth_date AS VARCHAR), source, record_key, role, link_rule, seen_since, false \
       FROM person_source WHERE person_key IS NOT NULL AND birth_date IS NOT NULL \
       UNION ALL SELECT person_key, 'ethnicity', trim(ethnicity), source, record_key, role, link_rule, seen_since, false \
       FROM person_source WHERE person_key IS NOT NULL AND trim(ethnicity) <> '' \
       UNION ALL SELECT person_key, 'sex', CASE WHEN CAST(substr(citizen_id, 17, 1) AS INT) % 2 = 1 THEN 'M' ELSE 'F' END, \
              source, record_key, role, link_rule, seen_since, true \
       FROM person_source WHERE link_rule IN ('register', 'new_person') AND id_status IN ('valid', 'upgraded_15') \
       UNION ALL SELECT person_key, 'birth_date', CAST(to_date(substr(citizen_id, 7, 8), '%Y%m%d') AS VARCHAR), \
              source, record_key, role, link_rule, seen_since, true \
       FROM person_source WHERE link_rule IN ('register', 'new_person') AND id_status IN ('valid', 'upgraded_15')), \
     candidate AS ( \
       SELECT arrow_cast(v.person_key, 'Utf8') AS person_key, v.attribute, replace(arrow_cast(v.value, 'Utf8'), chr(31), '') AS value, \
              arrow_cast(v.source, 'Utf8') AS source, replace(arrow_cast(v.record_key, 'Utf8'), chr(31), '') AS record_key, \
              arrow_cast(v.role, 'Utf8') AS role, arrow_cast(v.link_rule, 'Utf8') AS link_rule, v.seen_since, v.from_number, \
              r.rule_1, r.rule_2, r.rule_3, r.rule_4 \
       FROM raw_value v JOIN golden_rule r ON r.attribute = v.attribute WHERE NOT v.from_number OR r.uses_number), \
     value_best AS ( \
       SELECT person_key, attribute, value, SUM(CASE WHEN from_number THEN 0 ELSE 1 END) AS votes, \
              MIN(",
    rank_text!("0", "0", "link_rule, chr(31), CAST(seen_since AS VARCHAR)"),
    ") AS best_record \
       FROM candidate GROUP BY person_key, attribute, value), \
     value_record AS ( \
       SELECT v.person_key, v.attribute, v.value, v.votes, substr(v.best_record, 49, 1) = '1' AS from_number, \
              split_part(substr(v.best_record, 51), chr(31), 1) AS source, split_part(v.best_record, chr(31), 2) AS record_key, \
              split_part(v.best_record, chr(31), 3) AS role, split_part(v.best_record, chr(31), 4) AS link_rule, \
              CAST(split_part(v.best_record, chr(31), 5) AS DATE) AS seen_since, r.rule_1, r.rule_2, r.rule_3, r.rule_4 \
       FROM value_best v JOIN golden_rule r ON r.attribute = v.attribute), \
     value_rank AS ( \
       SELECT person_key, attribute, ",
    rank_text!("votes", "CASE WHEN from_number THEN 1 ELSE 0 END", "CAST(seen_since AS VARCHAR), chr(31), CAST(votes AS VARCHAR), chr(31), value"),
    " AS rank_text FROM value_record), \
     best AS ( \
       SELECT person_key, attribute, MIN(rank_text) AS best, COUNT(*) AS values_given FROM value_rank GROUP BY person_key, attribute), \
     runner_up AS ( \
       SELECT v.person_key, v.attribute, MIN(v.rank_text) AS second \
       FROM value_rank v JOIN (SELECT person_key, attribute, best FROM best WHERE values_given > 1) b \
         ON b.person_key = v.person_key AND b.attribute = v.attribute \
       WHERE v.rank_text <> b.best GROUP BY v.person_key, v.attribute) \
     SELECT b.person_key, b.attribute, split_part(b.best, chr(31), 6) AS value, \
            CASE WHEN substr(b.best, 49, 1) = '1' THEN 'citizen_id' ELSE split_part(substr(b.best, 51), chr(31), 1) END AS source, \
            split_part(b.best, chr(31), 2) AS record_key, split_part(b.best, chr(31), 3) AS role, \
            CAST(split_part(b.best, chr(31), 4) AS DATE) AS night, \
            CASE WHEN s.second IS NULL THEN 'unanimous' \
                 WHEN substr(b.best, 1, 12) <> substr(s.second, 1, 12) THEN r.rule_1 \
                 WHEN substr(b.best, 13, 12) <> substr(s.second, 13, 12) THEN r.rule_2 \
                 WHEN substr(b.best, 25, 12) <> substr(s.second, 25, 12) THEN r.rule_3 \
                 WHEN substr(b.best, 37, 12) <> substr(s.second, 37, 12) THEN r.rule_4 \
                 WHEN substr(b.best, 50, 1) <> substr(s.second, 50, 1) THEN 'founding_record' ELSE 'record_order' END AS rule, \
            CAST(split_part(b.best, chr(31), 5) AS BIGINT) AS mentions_agreeing \
     FROM best b JOIN golden_rule r ON r.attribute = b.attribute \
     LEFT JOIN runner_up s ON s.person_key = b.person_key AND s.attribute = b.attribute"
);

/// Each person's golden values, one row a person, as a subquery for `person` to join.
macro_rules! golden_values {
    () => {
        "(SELECT person_key, \
           MAX(CASE WHEN attribute = 'name' THEN value END) AS name, \
           MAX(CASE WHEN attribute = 'sex' THEN value END) AS sex, \
           CAST(MAX(CASE WHEN attribute = 'birth_date' THEN value END) AS DATE) AS birth_date, \
           MAX(CASE WHEN attribute = 'ethnicity' THEN value END) AS ethnicity \
         FROM person_attribute GROUP BY person_key)"
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::AsArray;
    use datafusion::prelude::SessionContext;

    /// Ranks candidates given as (person, source, record, link rule, name, sex, birth, seen since,
    /// citizen_id, id_status) under `options`, and returns (person, attribute, value, source, rule).
    async fn golden(options: &GoldenOptions, mentions: &str) -> Vec<[String; 5]> {
        let ctx = SessionContext::new();
        crate::identity::udf::register(&ctx, chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap());
        let rules = rules_table(options);
        ctx.register_batch("golden_rule", rules).unwrap();
        let sql = format!(
            "CREATE VIEW person_source AS SELECT column1 AS person_key, column2 AS source, column3 AS record_key, 'r' AS role, \
             column4 AS link_rule, column5 AS name_raw, column6 AS sex, CAST(column7 AS DATE) AS birth_date, \
             CAST(NULL AS VARCHAR) AS ethnicity, CAST(column8 AS DATE) AS seen_since, column9 AS citizen_id, column10 AS id_status \
             FROM (VALUES {mentions})"
        );
        ctx.sql(&sql).await.unwrap();
        let rows = ctx.sql(&format!("SELECT person_key, attribute, value, source, rule FROM ({PERSON_ATTRIBUTE_SQL}) ORDER BY 1, 2")).await.unwrap();
        let mut out = Vec::new();
        for b in rows.collect().await.unwrap() {
            let text: Vec<_> = (0..5).map(|c| arrow::compute::cast(b.column(c), &DataType::Utf8).unwrap()).collect();
            for r in 0..b.num_rows() {
                out.push(std::array::from_fn(|c| text[c].as_string::<i32>().value(r).to_string()));
            }
        }
        out
    }

    const ID: &str = "'11010519491231002X', 'valid'";

    #[tokio::test]
    async fn the_register_wins_and_a_person_outside_it_takes_the_most_recent_then_the_most_frequent() {
        let mentions = format!(
            "('P1', 'register', 'R1', 'register', '张伟', 'M', '1990-01-01', '2026-10-01', {ID}), \
             ('P1', 'insured', 'S1', 'id_exact', '張偉', NULL, '1990-01-01', '2026-10-31', {ID}), \
             ('P2', 'floating', 'L1', 'new_person', '李丽', NULL, NULL, '2026-10-01', {ID}), \
             ('P2', 'insured', 'S2', 'same_number', '李莉', NULL, NULL, '2026-10-31', {ID}), \
             ('P2', 'rental', 'Z1', 'same_number', '李莉', NULL, NULL, '2026-10-01', {ID})"
        );
        let rows = golden(&GoldenOptions::default(), &mentions).await;
        let find = |p: &str, a: &str| rows.iter().find(|r| r[0] == p && r[1] == a).cloned().unwrap();
        assert_eq!(find("P1", "name"), ["P1", "name", "张伟", "register", "authority"].map(String::from));
        // The register's birth date against the one its number says (a typo in the register).
        assert_eq!(find("P1", "birth_date"), ["P1", "birth_date", "1990-01-01", "register", "authority"].map(String::from));
        // The register's sex stands against the number's (F: 002 is even).
        assert_eq!(find("P1", "sex"), ["P1", "sex", "M", "register", "authority"].map(String::from));
        assert_eq!(find("P2", "name"), ["P2", "name", "李莉", "insured", "most_recent"].map(String::from));
        // Nobody gives P2's sex or birth date: the number does.
        assert_eq!(find("P2", "sex"), ["P2", "sex", "F", "citizen_id", "unanimous"].map(String::from));
        assert_eq!(find("P2", "birth_date")[2], "1949-12-31");

        // Most frequent first, without the number.
        let options = GoldenOptions { name: vec![GoldenRule::MostFrequent], sex: vec![GoldenRule::Authority], ..GoldenOptions::default() };
        let rows = golden(&options, &mentions).await;
        let find = |p: &str, a: &str| rows.iter().find(|r| r[0] == p && r[1] == a).cloned();
        assert_eq!(find("P2", "name").unwrap()[2..], ["李莉".to_string(), "insured".into(), "most_frequent".into()]);
        assert_eq!(find("P2", "sex"), None, "no record gives it and the number is not asked");
    }
}
