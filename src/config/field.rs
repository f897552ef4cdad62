//! A mapped field: a column of the export, a SQL expression over the row's columns, or a
//! constant, optionally passed through a value map. Every field becomes one SQL expression,
//! so DataFusion does the mapping for all sources alike.

use serde::Deserialize;

use super::ValueMap;

/// Written as a plain string (a column name) or as a table (`{ sql = "…" }`, `{ column = "…", map = {…} }`).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Field {
    /// A column by its header, written as a plain string.
    Column(String),
    /// Written as a table: a column, a SQL expression or a constant, with its map and severity.
    Spec(FieldSpec),
}

/// A field written as a table; exactly one of `column`, `sql` and `value` is given.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// A column by its header (or `c1`, `c2`, … in files without a header).
    #[serde(default)]
    #[schemars(example = &"性别")]
    pub column: Option<String>,
    /// A SQL expression over the row's columns, e.g. `substr("户号", 1, 6)`.
    #[serde(default)]
    #[schemars(example = &"substr(\"户号\", 1, 6)")]
    pub sql: Option<String>,
    /// A constant.
    #[serde(default)]
    #[schemars(example = &"pension")]
    pub value: Option<String>,
    /// Department values to published values, e.g. `{ "男" = "M", "1" = "M" }`; others become null.
    #[serde(default)]
    #[schemars(example = serde_json::json!({"男": "M", "女": "F"}))]
    pub map: Option<ValueMap>,
    /// What a missing or unusable value does: `error` quarantines the row, `warning` keeps it
    /// (the value null, the raw text kept) and counts it. Defaults per field: see `ingest::facts`.
    #[serde(default)]
    #[schemars(example = &"warning")]
    pub severity: Option<Severity>,
}

/// What a missing or unusable value of a field does to its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The row is quarantined.
    Error,
    /// The row is kept with the value null (its raw text kept), and the problem is counted.
    Warning,
}

/// Quotes an identifier for DataFusion SQL.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes a string literal for DataFusion SQL.
pub fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

impl Field {
    /// The column this field reads directly, if it is a column.
    pub fn column(&self) -> Option<&str> {
        match self {
            Field::Column(c) => Some(c),
            Field::Spec(spec) => spec.column.as_deref(),
        }
    }

    /// How many of `column`, `sql` and `value` are given (must be exactly one).
    pub fn kinds_given(&self) -> usize {
        match self {
            Field::Column(_) => 1,
            Field::Spec(s) => [s.column.is_some(), s.sql.is_some(), s.value.is_some()].iter().filter(|b| **b).count(),
        }
    }

    /// The severity the pipeline gives, if any; otherwise the field's default applies.
    pub fn severity(&self) -> Option<Severity> {
        match self {
            Field::Column(_) => None,
            Field::Spec(s) => s.severity,
        }
    }

    /// The field's value map, if it has one.
    pub fn value_map(&self) -> Option<&ValueMap> {
        match self {
            Field::Column(_) => None,
            Field::Spec(s) => s.map.as_ref(),
        }
    }

    /// The SQL expression for the value as the department wrote it, as text.
    pub fn raw_sql(&self) -> String {
        match self {
            Field::Column(c) => quote_ident(c),
            Field::Spec(FieldSpec { column: Some(c), .. }) => quote_ident(c),
            Field::Spec(FieldSpec { sql: Some(sql), .. }) => format!("CAST(({sql}) AS VARCHAR)"),
            Field::Spec(FieldSpec { value: Some(v), .. }) => quote_literal(v),
            Field::Spec(_) => "CAST(NULL AS VARCHAR)".to_string(),
        }
    }

    /// The SQL expression for the published value: the raw value through its value map, if any.
    pub fn mapped_sql(&self) -> String {
        let raw = self.raw_sql();
        match self.value_map() {
            None => raw,
            Some(map) => {
                let arms: String = map
                    .iter()
                    .map(|(from, to)| format!(" WHEN {} THEN {}", quote_literal(from), quote_literal(to)))
                    .collect();
                format!("CASE trim({raw}){arms} END")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_become_sql() {
        assert_eq!(Field::Column("姓名".into()).mapped_sql(), "\"姓名\"");
        let mapped: Field = toml::from_str::<toml::Table>("f = { column = \"性别\", map = { \"男\" = \"M\" } }")
            .unwrap()["f"]
            .clone()
            .try_into()
            .unwrap();
        assert_eq!(mapped.mapped_sql(), "CASE trim(\"性别\") WHEN '男' THEN 'M' END");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
