//! Whole-pipeline checks that serde cannot express: names unique, roles that facts refer to
//! exist, each field given one way, payments pointing at an insured-persons source, files present,
//! linkage thresholds in order.

use std::collections::HashSet;

use super::{ConfigError, Field, Format, Pipeline};

/// The smallest publish pool: the one `tests/memory_bound.rs` runs a night in.
const MIN_MEMORY_LIMIT_MB: usize = 256;

/// Every problem of the pipeline, not only the first (as many as there are keys at fault).
pub(super) fn check(p: &Pipeline) -> Result<(), ConfigError> {
    let mut problems: Vec<ConfigError> = Vec::new();
    if p.pipeline.name.trim().is_empty() {
        problems.push(p.invalid("pipeline.name", "the pipeline needs a name"));
    }
    if p.sources.is_empty() {
        problems.push(p.invalid("source", "the pipeline declares no [[source]]"));
    }
    if p.engine.memory_limit_mb < MIN_MEMORY_LIMIT_MB {
        let why = format!("publish needs at least {MIN_MEMORY_LIMIT_MB} MB: each of its sorts, joins and aggregations needs a share of the pool");
        problems.push(p.invalid("engine.memory_limit_mb", why));
    }
    if p.pipeline.batch_rows == 0 {
        problems.push(p.invalid("pipeline.batch_rows", "must be at least 1"));
    }
    let linkage = &p.linkage;
    if linkage.margin_weight < 0.0 {
        problems.push(p.invalid("linkage.margin_weight", "a lead over the runner-up cannot be negative"));
    }
    if linkage.review_weight > linkage.match_weight {
        problems.push(p.invalid("linkage.review_weight", "the review queue is for candidates below match_weight: set it lower"));
    }
    if linkage.random_pairs < 10_000 {
        problems.push(p.invalid("linkage.random_pairs", "u needs at least 10000 random pairs to be measured"));
    }
    for (attribute, rules) in p.golden.attributes() {
        let key = format!("golden.{attribute}");
        if rules.is_empty() {
            problems.push(p.invalid(&key, "give at least one rule: authority, most_recent, most_frequent"));
        }
        if rules.iter().enumerate().any(|(i, r)| rules[..i].contains(r)) {
            problems.push(p.invalid(&key, "a rule is listed twice; each rule ranks once"));
        }
        if rules.contains(&super::GoldenRule::Number) && !matches!(attribute, "sex" | "birth_date") {
            problems.push(p.invalid(&key, "`number` says only sex and birth date: the ID number holds nothing else"));
        }
    }
    problems.extend(check_access(&p.file, &p.access));
    let mut names = HashSet::new();
    for s in &p.sources {
        let key = |k: &str| format!("source.{}.{k}", s.name);
        if s.name.is_empty() || !s.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            problems.push(p.invalid(format!("source.{}", s.name), "source names are ASCII letters, digits and _"));
        }
        if !names.insert(s.name.as_str()) {
            problems.push(p.invalid(key("name"), "two sources have this name"));
        }
        let json = matches!(s.format, Format::Jsonl | Format::Json);
        if s.explode.is_some() && !json {
            problems.push(p.invalid(key("explode"), "explode applies to json and jsonl sources only"));
        }
        if s.sheet.is_some() && s.format != Format::Xlsx {
            problems.push(p.invalid(key("sheet"), "sheet applies to xlsx sources only"));
        }
        if s.encoding != super::Encoding::Utf8 && !matches!(s.format, Format::Csv) {
            problems.push(p.invalid(key("encoding"), "only delimited text declares an encoding (JSON is UTF-8; xlsx and parquet carry their own)"));
        }
        problems.extend(check_field(p, &key("record_key"), &s.record_key));
        if !(0.0..1.0).contains(&s.drift.max_shrink) {
            problems.push(p.invalid(key("drift.max_shrink"), "a fraction from 0 (any shrink is drift) to below 1"));
        }
        if !(0.0..=1.0).contains(&s.drift.max_quarantine_share) {
            problems.push(p.invalid(key("drift.max_quarantine_share"), "a fraction from 0 (any quarantined row is drift) to 1"));
        }
        let mut roles = HashSet::new();
        for m in &s.mentions {
            let mkey = |k: &str| format!("source.{}.mention.{}.{k}", s.name, m.role);
            if !roles.insert(m.role.as_str()) {
                problems.push(p.invalid(mkey("role"), "two mentions in this source have this role"));
            }
            if m.citizen_id.is_none() && m.name.is_none() {
                problems.push(p.invalid(mkey("citizen_id"), "a mention needs at least a citizen_id or a name"));
            }
            for (name, field) in m.fields() {
                problems.extend(check_field(p, &mkey(name), field));
            }
        }
        if let Some(facts) = &s.facts {
            for (name, field) in facts.fields() {
                problems.extend(check_field(p, &key(&format!("facts.{name}")), field));
            }
            for (k, role) in facts.roles() {
                if !roles.contains(role) {
                    problems.push(p.invalid(
                        key(&format!("facts.{k}")),
                        format!("no [[source.mention]] with role `{role}` in this source"),
                    ));
                }
            }
            if let Some(via) = facts.constant("via") {
                let insured = p.source(via).and_then(|v| v.facts.as_ref());
                if insured.is_none_or(|f| f.kind() != "insured") {
                    problems.push(p.invalid(key("facts.via"), format!("`{via}` is not a source with kind = \"insured\" facts")));
                }
            }
        } else if s.mentions.is_empty() {
            problems.push(p.invalid(key("mention"), "a source needs mentions, facts or both"));
        }
        if let Err(e) = p.source_files(s) {
            problems.push(e);
        }
    }
    ConfigError::all(problems)
}

fn check_field(p: &Pipeline, key: &str, field: &Field) -> Option<ConfigError> {
    if field.kinds_given() != 1 {
        return Some(p.invalid(key, "give exactly one of column, sql or value"));
    }
    let empty = field.value_map().is_some_and(|map| map.is_empty());
    empty.then(|| p.invalid(format!("{key}.map"), "an empty value map makes every value null"))
}

/// `[access]`: limits that can serve, and roles that do not shadow the built-in ones.
pub(super) fn check_access(file: &std::path::Path, a: &super::access::AccessOptions) -> Vec<ConfigError> {
    let invalid = |key: String, message: String| ConfigError::Invalid { path: file.to_path_buf(), key, message };
    let mut problems = Vec::new();
    if a.statement_timeout_ms == 0 {
        problems.push(invalid("access.statement_timeout_ms".to_string(), "must be at least 1".to_string()));
    }
    if a.query_memory_mb < 16 {
        problems.push(invalid("access.query_memory_mb".to_string(), "a statement needs at least 16 MB".to_string()));
    }
    if a.max_connections == 0 {
        problems.push(invalid("access.max_connections".to_string(), "must be at least 1".to_string()));
    }
    for (i, role) in a.role.iter().enumerate() {
        let key = |k: &str| format!("access.role[{i}].{k}");
        if !role.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || role.name.is_empty() {
            problems.push(invalid(key("name"), "role names are ASCII letters, digits and _".to_string()));
        }
        if ["admin", "analyst", "auditor"].contains(&role.name.as_str()) {
            problems.push(invalid(key("name"), "this is a built-in role; give yours another name".to_string()));
        }
        if a.role[..i].iter().any(|r| r.name == role.name) {
            problems.push(invalid(key("name"), "two roles have this name".to_string()));
        }
        if role.max_rows == Some(0) {
            problems.push(invalid(key("max_rows"), "must be at least 1 (leave it out for no limit)".to_string()));
        }
        if let Some(filter) = &role.row_filter {
            let dialect = datafusion::sql::sqlparser::dialect::PostgreSqlDialect {};
            let parsed = datafusion::sql::sqlparser::parser::Parser::new(&dialect).try_with_sql(filter).and_then(|mut parser| parser.parse_expr());
            if let Err(e) = parsed {
                problems.push(invalid(key("row_filter"), format!("not a SQL condition: {e}")));
            }
        }
    }
    problems
}
