//! pophub turns many departments' exports into one reconciled, versioned population and housing
//! dataset, and answers SQL on it.
//!
//! The data flows through the modules in this order (see ARCHITECTURE.md):
//! `config` → `ingest` → `identity` → `link` → `publish` → `warehouse` (nights on disk) →
//! `query`, and through `access` (users, roles, masked catalogs) → `serve` (the PostgreSQL
//! wire); `run` drives one night,
//! `generate` makes synthetic cities and `evaluate` scores a run against their truth.

pub mod access;
pub mod config;
pub mod engine;
pub mod evaluate;
pub mod generate;
pub mod identity;
pub mod ingest;
pub mod link;
pub mod publish;
pub mod query;
pub mod rng;
pub mod run;
pub mod serve;
pub mod warehouse;

/// Any error of the library, by layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Ingest(#[from] ingest::IngestError),
    #[error(transparent)]
    Publish(#[from] publish::PublishError),
    #[error(transparent)]
    Query(#[from] query::QueryError),
    #[error(transparent)]
    Generate(#[from] generate::GenerateError),
    #[error(transparent)]
    Evaluate(#[from] evaluate::EvaluateError),
    #[error(transparent)]
    Review(#[from] link::review::ReviewError),
    #[error(transparent)]
    Model(#[from] link::model::ModelError),
    #[error(transparent)]
    Warehouse(#[from] warehouse::WarehouseError),
    #[error(transparent)]
    Access(#[from] access::AccessError),
    #[error(transparent)]
    Serve(#[from] serve::ServeError),
    /// Drift whose source policy is `stop`: nothing was published.
    #[error("{0} drift finding(s) stopped the night before anything was published (see above); fix the export or set the source's [source.drift] policy")]
    Drift(usize),
}
