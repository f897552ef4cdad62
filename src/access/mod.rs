//! Access: who may read the published nights, and what each sees. Users with SCRAM verifiers,
//! roles (built-in and declared), masks for personal data, the catalog each role's session holds
//! (only its views, masked and filtered), and the statements no role may run. The SQL server
//! (`serve`) and `pophub profile` read nights only through these sessions.

pub mod catalog;
pub mod masks;
pub mod policy;
pub mod roles;
pub mod scram;
pub mod users;

pub use catalog::Catalogs;
pub use roles::{Role, Roles};

use crate::warehouse::WarehouseError;

/// What can go wrong in access.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// The warehouse's files (night log, users) could not be read or written.
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    /// The engine failed building a role's views.
    #[error("{0}")]
    Sql(Box<datafusion::error::DataFusionError>),
    /// A user, role or table asked for that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// An input that cannot be used (a user name, a password, an ID).
    #[error("{0}")]
    BadInput(String),
    /// The pipeline's `[access]` names something the warehouse does not have.
    #[error("{0}")]
    Config(String),
}

impl From<datafusion::error::DataFusionError> for AccessError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        AccessError::Sql(Box::new(e))
    }
}
