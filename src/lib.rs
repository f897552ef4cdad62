#![warn(missing_docs)]
//! pophub turns many departments' exports into one reconciled, versioned population and housing
//! dataset, and answers SQL on it.
//!
//! The data flows through the modules in this order (see ARCHITECTURE.md):
//! `config` → `ingest` → `identity` → `link` → `publish` → `warehouse` (nights on disk) →
//! `query` and `night_report` (the operator's page of a night), and through `access` (users, roles, masked catalogs) → `serve` (the PostgreSQL
//! wire); `run` drives one night,
//! `generate` makes synthetic cities and `evaluate` scores a run against their truth.

pub mod access;
pub mod cluster;
pub mod address;
pub mod config;
pub mod engine;
pub mod evaluate;
pub mod external;
pub mod generate;
pub mod identity;
pub mod ingest;
pub mod link;
pub mod night_report;
pub mod progress;
pub mod publish;
pub mod query;
pub mod rng;
pub mod run;
pub mod serve;
pub mod warehouse;

/// Any error of the library, by layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A pipeline file could not be read or is invalid.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// A source's export could not be read, mapped onto its columns, or staged.
    #[error(transparent)]
    Ingest(#[from] ingest::IngestError),
    /// Building or writing the night's Delta tables failed.
    #[error(transparent)]
    Publish(#[from] publish::PublishError),
    /// A query or report on a night failed.
    #[error(transparent)]
    Query(#[from] query::QueryError),
    /// Writing a synthetic city's files failed.
    #[error(transparent)]
    Generate(#[from] generate::GenerateError),
    /// An external list could not be read or matched.
    #[error(transparent)]
    ExternalList(#[from] external::ListError),
    /// Scoring a run against a synthetic city's truth failed.
    #[error(transparent)]
    Evaluate(#[from] evaluate::EvaluateError),
    /// The reviewers' decisions file could not be read or has a bad line.
    #[error(transparent)]
    Review(#[from] link::review::ReviewError),
    /// The linkage model could not be read or written.
    #[error(transparent)]
    Model(#[from] link::model::ModelError),
    /// The warehouse on disk is locked, damaged, or lacks the night asked for.
    #[error(transparent)]
    Warehouse(#[from] warehouse::WarehouseError),
    /// A user, role or role's catalog could not be found, read or built.
    #[error(transparent)]
    Access(#[from] access::AccessError),
    /// The night's report could not be built or written.
    #[error(transparent)]
    Report(#[from] night_report::ReportError),
    /// The PostgreSQL-wire server could not listen, set up TLS or write its audit log.
    #[error(transparent)]
    Serve(#[from] serve::ServeError),
    /// A cluster process could not start, or the cluster could not be reached.
    #[error(transparent)]
    Cluster(#[from] cluster::ClusterError),
    /// Drift whose source policy is `stop`: nothing was published.
    #[error("{0} drift finding(s) stopped the night before anything was published (see above); fix the export or set the source's [source.drift] policy")]
    Drift(usize),
}
