//! External lists: people named by someone outside the departments (a court's list of people
//! deprived of political rights, a wanted-persons list), matched against a night's persons with
//! the night's linkage model. `list` reads a list as it arrives; `matching` finds each entry's
//! person, or says why none was taken. `pophub match` shows the result, and
//! `report voter-roll --exclude` removes the persons a list names.

pub mod list;
pub mod matching;

use std::path::{Path, PathBuf};

use datafusion::prelude::SessionContext;

pub use list::{ListEntry, read_list};
pub use matching::{EntryMatch, Outcome, match_list};

use crate::query::NightLinkage;
use crate::warehouse::{Night, Warehouse};

/// How a list's file is written, where its name and header do not say.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ListFormat {
    /// The list's text encoding (a workbook has none).
    #[arg(long, value_enum, default_value = "utf-8")]
    pub encoding: crate::config::Encoding,
    /// Which header holds a field (citizen_id, name, birth_date, sex) where the list's own
    /// column names do not say; repeat for several.
    #[arg(long = "column", value_name = "FIELD=HEADER")]
    pub columns: Vec<String>,
}

/// Reads the list at `path` and matches its entries with the persons of night `night` of
/// `warehouse`, open in `ctx`, under the linkage that night was made with.
pub async fn match_file(ctx: &SessionContext, warehouse: &Warehouse, night: &Night, path: &Path, format: &ListFormat) -> Result<Vec<EntryMatch>, ListError> {
    let entries = read_list(path, format.encoding, &format.columns)?;
    let linkage = NightLinkage::of(warehouse, night)?;
    match_list(ctx, &linkage, &entries, crate::query::night_date(night), path).await
}

/// The persons the matched entries name, each once: who an exclusion list removes.
pub fn matched_persons(matches: &[EntryMatch]) -> Vec<String> {
    let mut keys: Vec<String> = matches.iter().filter_map(|m| m.person_key.clone()).collect();
    keys.sort();
    keys.dedup();
    keys
}

/// A list that cannot be read or matched.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// The file cannot be opened, decoded or split into rows.
    #[error(transparent)]
    Read(#[from] crate::ingest::IngestError),
    /// The list's columns or rows cannot be used as they are.
    #[error("{path}: {message}")]
    Unusable {
        /// The list.
        path: PathBuf,
        /// What is wrong, with the line and column, and what to do.
        message: String,
    },
    /// The night cannot be queried for the entries' candidates.
    #[error(transparent)]
    Query(#[from] crate::query::QueryError),
}

impl From<datafusion::error::DataFusionError> for ListError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        ListError::Query(e.into())
    }
}

impl From<arrow::error::ArrowError> for ListError {
    fn from(e: arrow::error::ArrowError) -> Self {
        ListError::Query(e.into())
    }
}
