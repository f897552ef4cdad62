//! One view per kind of fact (`facts_residence`, `facts_payment`, …): the union of every source
//! of that kind, each row carrying the person key of the mention it concerns. Built as SQL from
//! the pipeline, so a new source of a known kind needs no code.

use crate::config::{Facts, Pipeline, Source};
use crate::config::field::{quote_ident, quote_literal};
use crate::ingest::{ValueType, fact_type};

/// The columns of each kind's view, in order (the mapped `facts.<name>` fields).
pub const KINDS: &[(&str, &[&str])] = &[
    ("residence", &["household_no", "district", "address", "relation", "status", "status_date"]),
    ("insured", &["internal_id", "status"]),
    ("payment", &["internal_id", "month", "amount", "benefit"]),
    ("ownership", &["unit_no", "address", "area", "usage", "registered_on", "share"]),
    ("birth", &["birth_date", "hospital"]),
    ("death", &["death_date"]),
    ("stay", &["current_address", "origin_address", "registered_on", "reason"]),
    ("tenancy", &["address", "rent", "started_on"]),
];

/// The source table's name in the session.
pub fn source_table(source: &Source) -> String {
    format!("src_{}", source.name)
}

fn sql_type(kind: &str, field: &str) -> &'static str {
    match fact_type(kind, field).0 {
        ValueType::Date | ValueType::Month => "DATE",
        ValueType::Number => "DOUBLE",
        _ => "VARCHAR",
    }
}

/// `SELECT … UNION ALL SELECT …` over the sources of one kind; a typed empty view when none has it.
pub fn view_sql(pipeline: &Pipeline, kind: &str) -> String {
    let (_, fields) = KINDS.iter().find(|(k, _)| *k == kind).expect("known kind");
    let selects: Vec<String> = pipeline
        .sources
        .iter()
        .filter_map(|s| s.facts.as_ref().filter(|f| f.kind() == kind).map(|f| (s, f)))
        .map(|(source, facts)| source_select(source, facts, fields))
        .collect();
    if selects.is_empty() {
        return empty_select(kind, fields);
    }
    selects.join("\nUNION ALL\n")
}

/// Person-key columns per kind: the roles the facts refer to.
fn role_columns(facts: &Facts) -> Vec<(&'static str, Option<&str>)> {
    match facts {
        Facts::Residence(f) => vec![("person_key", Some(f.mention.as_str()))],
        Facts::Insured(f) => vec![("person_key", Some(f.mention.as_str()))],
        Facts::Payment(_) => vec![],
        Facts::Ownership(f) => vec![("person_key", Some(f.owner.as_str()))],
        Facts::Birth(f) => vec![
            ("child_key", Some(f.child.as_str())),
            ("mother_key", Some(f.mother.as_str())),
            ("father_key", f.father.as_deref()),
        ],
        Facts::Death(f) => vec![("person_key", Some(f.mention.as_str()))],
        Facts::Stay(f) => vec![("person_key", Some(f.mention.as_str()))],
        Facts::Tenancy(f) => vec![("tenant_key", Some(f.tenant.as_str())), ("landlord_key", f.landlord.as_deref())],
    }
}

fn extra_columns(facts: &Facts) -> Vec<(&'static str, String)> {
    match facts {
        Facts::Payment(p) => vec![("via", quote_literal(&p.via))],
        Facts::Death(d) => vec![("evidence", quote_literal(&d.evidence))],
        _ => vec![],
    }
}

fn source_select(source: &Source, facts: &Facts, fields: &[&str]) -> String {
    let kind = facts.kind();
    let mut cols = vec![
        format!("{} AS source", quote_literal(&source.name)),
        "s.record_key AS record_key".to_string(),
        "s._file AS file".to_string(),
        "CAST(s._row AS BIGINT) AS row".to_string(),
    ];
    let mut joins = Vec::new();
    for (n, (column, role)) in role_columns(facts).into_iter().enumerate() {
        match role {
            Some(role) => {
                let alias = format!("m{n}");
                cols.push(format!("{alias}.person_key AS {column}"));
                joins.push(format!(
                    "LEFT JOIN mention {alias} ON {alias}.source = {} AND {alias}.role = {} AND {alias}.source_row = s._index",
                    quote_literal(&source.name),
                    quote_literal(role)
                ));
            }
            None => cols.push(format!("CAST(NULL AS VARCHAR) AS {column}")),
        }
    }
    let mapped: Vec<&str> = facts.fields().iter().map(|(n, _)| *n).collect();
    for field in fields {
        if mapped.contains(field) {
            cols.push(format!("s.{} AS {field}", quote_ident(&format!("facts.{field}"))));
        } else {
            cols.push(format!("CAST(NULL AS {}) AS {field}", sql_type(kind, field)));
        }
    }
    for (name, value) in extra_columns(facts) {
        cols.push(format!("{value} AS {name}"));
    }
    format!("SELECT {} FROM {} s {}", cols.join(", "), quote_ident(&source_table(source)), joins.join(" "))
}

/// A typed empty view for a kind no source provides, so every published query still plans.
fn empty_select(kind: &str, fields: &[&str]) -> String {
    let mut cols = vec![
        "CAST(NULL AS VARCHAR) AS source".to_string(),
        "CAST(NULL AS VARCHAR) AS record_key".to_string(),
        "CAST(NULL AS VARCHAR) AS file".to_string(),
        "CAST(NULL AS BIGINT) AS row".to_string(),
    ];
    let keys: &[&str] = match kind {
        "payment" => &[],
        "birth" => &["child_key", "mother_key", "father_key"],
        "tenancy" => &["tenant_key", "landlord_key"],
        _ => &["person_key"],
    };
    cols.extend(keys.iter().map(|k| format!("CAST(NULL AS VARCHAR) AS {k}")));
    cols.extend(fields.iter().map(|f| format!("CAST(NULL AS {}) AS {f}", sql_type(kind, f))));
    match kind {
        "payment" => cols.push("CAST(NULL AS VARCHAR) AS via".into()),
        "death" => cols.push("CAST(NULL AS VARCHAR) AS evidence".into()),
        _ => {}
    }
    format!("SELECT {} WHERE false", cols.join(", "))
}
