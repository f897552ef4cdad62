//! `[access]`: the SQL server's limits and the roles a pipeline adds to the built-in ones
//! (`admin`, `analyst`, `auditor`). Read by `pophub serve --pipeline FILE`.

use std::path::Path;

use serde::Deserialize;

use super::ConfigError;
use super::options::options;

options! {
    /// `[access]`: limits of `pophub serve` and the roles it knows beyond the built-in ones.
    pub struct AccessOptions {
        /// A statement running longer is cancelled (SQLSTATE 57014), in milliseconds; a client's
        /// `SET statement_timeout` may only lower it.
        pub statement_timeout_ms: u64 = 60_000,
        /// Memory pool of one statement, in MB: sorts and joins spill to disk past it, and a
        /// statement that cannot spill fails (SQLSTATE 53200) instead of taking the server down.
        pub query_memory_mb: usize = 512,
        /// Connections served at once; the next one is refused (SQLSTATE 53300).
        pub max_connections: usize = 64,
        /// Rows a statement of the `analyst` role may return (roles of their own set `max_rows`).
        pub analyst_max_rows: u64 = 100_000,
        /// Roles beyond the built-in ones, each `[[access.role]]`.
        pub role: Vec<RoleConfig> = Vec::new(),
    }
}

/// Kinds of personal data a role sees masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MaskKind {
    /// ID numbers keep the six region digits and the last four: `420502********1234`.
    CitizenId,
    /// Names keep the surname: `张*`, `欧阳**` (pinyin keeps the first syllable).
    Name,
    /// Addresses stop at the road (or village): `宜昌市兴山县解放路***`.
    Address,
    /// Birth dates keep the year: `1990-**-**`.
    BirthDate,
    /// Whole raw input rows and values (the quarantine's `value`): `***`.
    Raw,
}

impl MaskKind {
    /// Every kind: what `analyst` and, by default, a declared role see masked.
    pub const ALL: [MaskKind; 5] = [MaskKind::CitizenId, MaskKind::Name, MaskKind::Address, MaskKind::BirthDate, MaskKind::Raw];
}

/// `[[access.role]]`: a role of this deployment.
#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleConfig {
    /// The role's name, as `pophub user add NAME --role` gives it.
    #[schemars(example = &"xiling_clerk")]
    pub name: String,
    /// Published tables it sees; every published table when not given. Others do not exist for
    /// it (nor in its `pg_catalog` and `information_schema`).
    #[schemars(example = ["person", "person_house", "house"])]
    pub tables: Option<Vec<String>>,
    /// What it sees masked; every kind when not given, `[]` for nothing.
    #[schemars(example = ["citizen_id", "birth_date", "raw"])]
    pub masked: Option<Vec<MaskKind>>,
    /// A SQL condition on `person`'s columns (`district_code = '420502'`): it sees only those
    /// persons, and only the rows of other tables that concern them.
    #[schemars(example = &"district_code = '420502'")]
    pub row_filter: Option<String>,
    /// Rows a statement may return; no limit when not given.
    #[schemars(example = 10_000)]
    pub max_rows: Option<u64>,
}

/// The `[access]` table of a pipeline file alone (a server need not have the exports the rest of
/// the file names), checked like `pophub validate` checks it.
pub fn load(path: &Path) -> Result<AccessOptions, ConfigError> {
    #[derive(Deserialize)]
    struct AccessOnly {
        #[serde(default)]
        access: AccessOptions,
    }
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
    // Other tables are the pipeline's business: only `[access]` is read (strictly) here.
    let table: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::Parse { path: path.to_path_buf(), source: Box::new(e) })?;
    let access = toml::Table::from_iter(table.get("access").map(|a| ("access".to_string(), a.clone())));
    let options: AccessOnly = access.try_into().map_err(|e| ConfigError::Parse { path: path.to_path_buf(), source: Box::new(e) })?;
    ConfigError::all(super::validate::check_access(path, &options.access))?;
    Ok(options.access)
}
