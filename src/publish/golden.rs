//! The golden record: each attribute of a person chosen among the values the person's mentions
//! give, by the pipeline's `[golden]` rules, with the record, the night and the rule that chose
//! it (`person_attribute`); `person` takes its name, sex, birth date and ethnicity from there.
//!
//! The rules are data, not SQL text: `golden_rule` holds each attribute's rules by position,
//! and one query ranks every candidate on the key of the rule at each position (higher first),
//! so any order of rules is the same plan.

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
/// `$votes` for `most_frequent` and `$number` for `number` (within one value, neither ranks: a
/// value is credited to a record rather than to the number that says the same). The value the ID number gives is dated as the founding record
/// that holds the number, and is no authority's and no mention's vote.
macro_rules! rule_key {
    ($position:literal, $votes:literal, $number:literal, $alias:literal) => {
        concat!(
            "CASE rule_", $position,
            " WHEN 'authority' THEN CASE WHEN from_number THEN 0 WHEN link_rule = 'register' THEN 2 WHEN link_rule = 'register_duplicate' THEN 1 ELSE 0 END",
            " WHEN 'most_recent' THEN CAST(CAST(seen_since AS INT) AS BIGINT)",
            " WHEN 'most_frequent' THEN ", $votes,
            " WHEN 'number' THEN ", $number,
            " ELSE 0 END AS ", $alias, $position
        )
    };
}

/// The keys of the rules at every position, `$alias` 1 to 4.
macro_rules! rule_keys {
    ($votes:literal, $number:literal, $alias:literal) => {
        concat!(
            rule_key!("1", $votes, $number, $alias), ", ", rule_key!("2", $votes, $number, $alias), ", ",
            rule_key!("3", $votes, $number, $alias), ", ", rule_key!("4", $votes, $number, $alias)
        )
    };
}

/// Every candidate value of every attribute of every person, ranked in two steps, each a window
/// over sorted rows (no join, so no operator holds more than a sort's share of the pool):
/// first each value's best record, its votes counted on the way (rows sorted worst first, so
/// the last row of a value is its best and has counted them all); then the values, best first,
/// each beside the keys of the next one, which say the rule that decided. Text is copied out
/// of the scanned pages first (`arrow_cast` to plain Utf8): a view into a page makes every row
/// of a sorted batch count the whole page against the pool.
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
     mention_value AS ( \
       SELECT arrow_cast(person_key, 'Utf8') AS person_key, attribute, arrow_cast(value, 'Utf8') AS value, \
              arrow_cast(source, 'Utf8') AS source, arrow_cast(record_key, 'Utf8') AS record_key, arrow_cast(role, 'Utf8') AS role, \
              arrow_cast(link_rule, 'Utf8') AS link_rule, seen_since, from_number \
       FROM raw_value), \
     candidate AS ( \
       SELECT v.*, r.rule_1, r.rule_2, r.rule_3, r.rule_4, \
              CASE WHEN v.link_rule IN ('register', 'new_person') THEN 0 ELSE 1 END AS founder_last \
       FROM mention_value v JOIN golden_rule r ON r.attribute = v.attribute WHERE NOT v.from_number OR r.uses_number), \
     record_keyed AS (SELECT candidate.*, ",
    rule_keys!("0", "0", "rk"),
    " FROM candidate), \
     within_value AS ( \
       SELECT record_keyed.*, SUM(CASE WHEN from_number THEN 0 ELSE 1 END) OVER worst_first AS votes, \
              LEAD(1, 1, 0) OVER worst_first AS better_follows \
       FROM record_keyed \
       WINDOW worst_first AS (PARTITION BY person_key, attribute, value \
                              ORDER BY rk1, rk2, rk3, rk4, from_number DESC, founder_last DESC, source DESC, record_key DESC, role DESC)), \
     value_best AS (SELECT * FROM within_value WHERE better_follows = 0), \
     keyed AS (SELECT value_best.*, ",
    rule_keys!("votes", "CASE WHEN from_number THEN 1 ELSE 0 END", "k"),
    " FROM value_best), \
     ranked AS ( \
       SELECT keyed.*, ROW_NUMBER() OVER best_first AS place, LEAD(1, 1, 0) OVER best_first AS contested, \
              LEAD(k1) OVER best_first AS next_k1, LEAD(k2) OVER best_first AS next_k2, \
              LEAD(k3) OVER best_first AS next_k3, LEAD(k4) OVER best_first AS next_k4, \
              LEAD(founder_last) OVER best_first AS next_founder_last \
       FROM keyed \
       WINDOW best_first AS (PARTITION BY person_key, attribute \
                             ORDER BY k1 DESC, k2 DESC, k3 DESC, k4 DESC, from_number, founder_last, source, record_key, role)) \
     SELECT person_key, attribute, value, CASE WHEN from_number THEN 'citizen_id' ELSE source END AS source, record_key, role, \
            seen_since AS night, \
            CASE WHEN contested = 0 THEN 'unanimous' WHEN k1 <> next_k1 THEN rule_1 WHEN k2 <> next_k2 THEN rule_2 \
                 WHEN k3 <> next_k3 THEN rule_3 WHEN k4 <> next_k4 THEN rule_4 \
                 WHEN founder_last <> next_founder_last THEN 'founding_record' ELSE 'record_order' END AS rule, \
            votes AS mentions_agreeing \
     FROM ranked WHERE place = 1"
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
