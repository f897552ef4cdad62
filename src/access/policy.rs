//! The statements a client may run: queries over the night, `COPY … TO STDOUT`, cursors,
//! transactions (no-ops on a read-only night), `SHOW`, and `SET` of client settings. Everything
//! else is refused for every role (SQLSTATE 42501): DDL, `CREATE EXTERNAL TABLE`, `COPY` to or
//! from a server file, DML, `SET` of engine options. Statements are checked as parsed and again
//! as planned, so a form the parser lets through is still caught by what it would do.

use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::sqlparser::ast::{CopyLegacyCsvOption, CopyLegacyOption, CopyOption, CopySource, CopyTarget, Set, Statement};

/// A statement no role may run, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

/// What an allowed statement is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowed {
    /// A query (or `EXPLAIN`, `SHOW TABLES`, …) planned and run over the role's catalog.
    Query,
    /// A statement the session answers itself: `SET`, `SHOW`, cursors, transactions.
    Session,
    /// `COPY (query) TO STDOUT` or `COPY table TO STDOUT`: the query and how to write its rows.
    CopyOut(CopyOut),
}

/// `COPY … TO STDOUT`, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyOut {
    /// The query whose rows are copied.
    pub query: String,
    /// CSV (else PostgreSQL's text format).
    pub csv: bool,
    /// A header line first (CSV only).
    pub header: bool,
    /// Field delimiter, when not the format's default.
    pub delimiter: Option<char>,
    /// How NULL is written, when not the format's default.
    pub null: Option<String>,
}

const READ_ONLY: &str = "pophub serves committed nights read-only";

fn refuse(what: &str) -> Refusal {
    Refusal(format!("permission denied: {what} is not allowed; {READ_ONLY}"))
}

/// Whether the parsed statement may run, and as what.
pub fn check_statement(statement: &Statement) -> Result<Allowed, Refusal> {
    match statement {
        Statement::Query(_) | Statement::Explain { .. } | Statement::ExplainTable { .. } => Ok(Allowed::Query),
        Statement::ShowTables { .. } | Statement::ShowColumns { .. } | Statement::ShowFunctions { .. } => Ok(Allowed::Query),
        Statement::ShowVariable { .. } | Statement::ShowStatus { .. } | Statement::ShowCatalogs { .. } => Ok(Allowed::Session),
        Statement::StartTransaction { .. } | Statement::Commit { .. } | Statement::Rollback { .. } => Ok(Allowed::Session),
        Statement::Declare { stmts } => {
            for declare in stmts {
                if let Some(query) = &declare.for_query {
                    check_statement(&Statement::Query(query.clone()))?;
                }
            }
            Ok(Allowed::Session)
        }
        Statement::Fetch { .. } | Statement::Close { .. } => Ok(Allowed::Session),
        Statement::Set(set) => check_set(set),
        Statement::Copy { source, to, target, options, legacy_options, .. } => {
            if !*to || *target != CopyTarget::Stdout {
                return Err(refuse("COPY to or from a server file or program (use COPY … TO STDOUT, or psql's \\copy)"));
            }
            copy_out(source, options, legacy_options).map(Allowed::CopyOut)
        }
        Statement::Insert(_) | Statement::Update { .. } | Statement::Delete(_) | Statement::Merge { .. } | Statement::Truncate { .. } => {
            Err(refuse("INSERT, UPDATE, DELETE, MERGE and TRUNCATE"))
        }
        Statement::CreateTable(table) if table.external => Err(refuse("CREATE EXTERNAL TABLE")),
        other => {
            let text = other.to_string();
            let verb: String = text.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
            Err(refuse(&verb))
        }
    }
}

fn check_set(set: &Set) -> Result<Allowed, Refusal> {
    match set {
        Set::SingleAssignment { variable, .. } => {
            let name = variable.to_string().to_lowercase();
            if name.starts_with("datafusion.") {
                Err(refuse(&format!("SET {name} (an engine option)")))
            } else {
                Ok(Allowed::Session)
            }
        }
        Set::SetTimeZone { .. } | Set::SetNames { .. } | Set::SetNamesDefault { .. } => Ok(Allowed::Session),
        Set::SetRole { .. } => Err(refuse("SET ROLE (a login's role comes from `pophub user add`)")),
        other => Err(refuse(&format!("SET {}", other.to_string().trim_start_matches("SET ")))),
    }
}

fn copy_out(source: &CopySource, options: &[CopyOption], legacy: &[CopyLegacyOption]) -> Result<CopyOut, Refusal> {
    let query = match source {
        CopySource::Query(query) => query.to_string(),
        CopySource::Table { table_name, columns } if columns.is_empty() => format!("SELECT * FROM {table_name}"),
        CopySource::Table { table_name, columns } => {
            format!("SELECT {} FROM {table_name}", columns.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", "))
        }
    };
    let mut copy = CopyOut { query, csv: false, header: false, delimiter: None, null: None };
    let unsupported = |what: String| Refusal(format!("COPY option {what} is not supported; use FORMAT, HEADER, DELIMITER and NULL"));
    for option in options {
        match option {
            CopyOption::Format(f) if f.value.eq_ignore_ascii_case("csv") => copy.csv = true,
            CopyOption::Format(f) if f.value.eq_ignore_ascii_case("text") => copy.csv = false,
            CopyOption::Header(h) => copy.header = *h,
            CopyOption::Delimiter(d) => copy.delimiter = Some(*d),
            CopyOption::Null(n) => copy.null = Some(n.clone()),
            other => return Err(unsupported(other.to_string())),
        }
    }
    for option in legacy {
        match option {
            CopyLegacyOption::Csv(csv) => {
                copy.csv = true;
                for o in csv {
                    match o {
                        CopyLegacyCsvOption::Header => copy.header = true,
                        other => return Err(unsupported(other.to_string())),
                    }
                }
            }
            CopyLegacyOption::Delimiter(d) => copy.delimiter = Some(*d),
            CopyLegacyOption::Null(n) => copy.null = Some(n.clone()),
            CopyLegacyOption::Header => copy.header = true,
            other => return Err(unsupported(other.to_string())),
        }
    }
    Ok(copy)
}

/// What a statement PostgreSQL's grammar does not know is, when DataFusion's own grammar knows
/// it as a write (`CREATE EXTERNAL TABLE`, `COPY … TO 'file'` in DataFusion's form): a refusal
/// rather than a syntax error, so a client learns it is not allowed at all.
pub fn check_unparsed(sql: &str) -> Option<Refusal> {
    use datafusion::sql::parser::{DFParserBuilder, Statement as DfStatement};
    let statements = DFParserBuilder::new(sql).build().ok()?.parse_statements().ok()?;
    statements.iter().find_map(|statement| match statement {
        DfStatement::CreateExternalTable(_) => Some(refuse("CREATE EXTERNAL TABLE")),
        DfStatement::CopyTo(_) => Some(refuse("COPY to a server file")),
        DfStatement::Statement(inner) => check_statement(inner).err(),
        _ => None,
    })
}

/// The plan does only reads: no DDL, DML, `COPY` to a file or `SET` hides in it.
pub fn check_plan(plan: &LogicalPlan) -> Result<(), Refusal> {
    use datafusion::common::tree_node::TreeNode;
    let mut refusal = None;
    let _ = plan.apply(|node| {
        refusal = match node {
            LogicalPlan::Dml(_) => Some(refuse("writing to a table")),
            LogicalPlan::Ddl(_) => Some(refuse("DDL (CREATE, DROP)")),
            LogicalPlan::Copy(_) => Some(refuse("COPY to a server file")),
            LogicalPlan::Statement(_) => Some(refuse("a SET, PREPARE or transaction statement inside a query")),
            _ => None,
        };
        Ok(if refusal.is_some() { datafusion::common::tree_node::TreeNodeRecursion::Stop } else { datafusion::common::tree_node::TreeNodeRecursion::Continue })
    });
    refusal.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(sql: &str) -> Result<Allowed, Refusal> {
        let parser = datafusion_postgres::datafusion_pg_catalog::sql::PostgresCompatibilityParser::new();
        match parser.parse(sql) {
            Ok(statements) => check_statement(&statements[0]),
            Err(e) => Err(check_unparsed(sql).unwrap_or_else(|| panic!("{sql}: {e}"))),
        }
    }

    #[test]
    fn reads_pass_and_writes_are_refused() {
        assert_eq!(verdict("SELECT 1"), Ok(Allowed::Query));
        assert_eq!(verdict("SET application_name = 'x'"), Ok(Allowed::Session));
        for sql in [
            "CREATE TABLE t AS SELECT 1",
            "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'",
            "DROP TABLE person",
            "INSERT INTO person SELECT * FROM person",
            "DELETE FROM person",
            "UPDATE person SET name = 'x'",
            "COPY person TO '/tmp/out.csv'",
            "COPY person FROM '/tmp/in.csv'",
            "SET datafusion.execution.batch_size = 1",
            "CREATE VIEW v AS SELECT 1",
        ] {
            let refusal = verdict(sql).expect_err(sql);
            assert!(refusal.0.starts_with("permission denied"), "{sql}: {refusal}");
        }
    }

    #[test]
    fn copy_to_stdout_keeps_its_options() {
        let Allowed::CopyOut(copy) = verdict("COPY (SELECT name FROM person) TO STDOUT WITH (FORMAT csv, HEADER)").unwrap() else { panic!() };
        assert_eq!((copy.query.as_str(), copy.csv, copy.header), ("SELECT name FROM person", true, true));
        let Allowed::CopyOut(copy) = verdict("COPY person (name) TO STDOUT").unwrap() else { panic!() };
        assert_eq!((copy.query.as_str(), copy.csv), ("SELECT name FROM person", false));
    }
}
