//! One view per kind of fact (`facts_residence`, `facts_payment`, …): the union of every source
//! of that kind, each row carrying the person key of the mention it concerns. Built as SQL from
//! the pipeline, so a new source of a known kind needs no code.

use crate::config::facts::{FACT_KINDS, FactKind};
use crate::config::field::{quote_ident, quote_literal};
use crate::config::{Facts, Pipeline, Source};

/// The source table's name in the session.
pub fn source_table(source: &Source) -> String {
    format!("src_{}", source.name)
}

/// `SELECT … UNION ALL SELECT …` over the sources of one kind; a typed empty view when none has it.
pub fn view_sql(pipeline: &Pipeline, kind: &FactKind) -> String {
    let selects: Vec<String> = pipeline
        .sources
        .iter()
        .filter_map(|s| s.facts.as_ref().filter(|f| f.kind() == kind.name).map(|f| (s, f)))
        .map(|(source, facts)| source_select(source, facts))
        .collect();
    if selects.is_empty() {
        return empty_select(kind);
    }
    selects.join("\nUNION ALL\n")
}

/// Every kind's view, by name (`facts_<kind>`), with its SQL.
pub fn views(pipeline: &Pipeline) -> impl Iterator<Item = (String, String)> + '_ {
    FACT_KINDS.iter().map(|kind| (format!("facts_{}", kind.name), view_sql(pipeline, kind)))
}

fn source_select(source: &Source, facts: &Facts) -> String {
    let kind = facts.kind;
    let mut cols = vec![
        format!("{} AS source", quote_literal(&source.name)),
        "s.record_key AS record_key".to_string(),
        "s._file AS file".to_string(),
        "CAST(s._row AS BIGINT) AS row".to_string(),
    ];
    let mut joins = Vec::new();
    for (n, r) in kind.roles.iter().enumerate() {
        let column = r.column;
        match facts.roles.get(r.key) {
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
    for field in kind.fields {
        let name = field.name;
        if facts.fields().any(|(n, _)| n == name) {
            cols.push(format!("s.{} AS {name}", quote_ident(&format!("facts.{name}"))));
        } else {
            cols.push(format!("CAST(NULL AS {}) AS {name}", field.value.sql_type()));
        }
    }
    for name in kind.constants {
        cols.push(format!("{} AS {name}", quote_literal(facts.constant(name).expect("a required constant"))));
    }
    format!("SELECT {} FROM {} s {}", cols.join(", "), quote_ident(&source_table(source)), joins.join(" "))
}

/// A typed empty view for a kind no source provides, so every published query still plans.
fn empty_select(kind: &FactKind) -> String {
    let text = |name: &str| format!("CAST(NULL AS VARCHAR) AS {name}");
    let cols: Vec<String> = ["source", "record_key", "file"]
        .into_iter()
        .map(text)
        .chain(["CAST(NULL AS BIGINT) AS row".to_string()])
        .chain(kind.roles.iter().map(|r| text(r.column)))
        .chain(kind.fields.iter().map(|f| format!("CAST(NULL AS {}) AS {}", f.value.sql_type(), f.name)))
        .chain(kind.constants.iter().map(|c| text(c)))
        .collect();
    format!("SELECT {} WHERE false", cols.join(", "))
}
