//! The cluster: the same SQL over a night on an Apache DataFusion Ballista scheduler and its
//! executors, started from this binary (`pophub scheduler`, `pophub executor`) so they know
//! pophub's functions. A night's tables go to the cluster as Parquet listings of their pinned
//! files (`warehouse::tables`), which every executor reads from the shared warehouse path, and
//! pophub's functions as their names and days (`identity::udf::FunctionCodec`), so the executors
//! hold no state of a run. `codec.rs` joins that codec to Ballista's own.

mod codec;
pub mod executor;
pub mod scheduler;

use std::sync::Arc;

use ballista::prelude::{SessionConfigExt, SessionContextExt};
use chrono::NaiveDate;
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::SessionContext;

pub use codec::{ClusterLogicalCodec, ClusterPhysicalCodec};

/// A problem starting a cluster process or reaching the cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The address given cannot be used.
    #[error("{0}")]
    Address(String),
    /// Ballista stopped the process or refused the connection.
    #[error("the cluster: {0}")]
    Ballista(String),
    /// DataFusion cannot make the remote session.
    #[error(transparent)]
    Engine(#[from] datafusion::error::DataFusionError),
}

/// A session whose plans run on the cluster at `url` (`df://HOST:PORT`): pophub's session for the
/// night's day, its plans sent with pophub's codecs, and pophub's functions registered again
/// (Ballista's upgrade of a session replaces its functions with its own).
pub async fn remote_session(url: &str, as_of: NaiveDate) -> Result<SessionContext, ClusterError> {
    if !url.starts_with("df://") {
        return Err(ClusterError::Address(format!("`{url}` is not a cluster address: give the scheduler as df://HOST:PORT")));
    }
    let local = crate::engine::session(as_of, None).state();
    let config = local
        .config()
        .clone()
        .with_ballista_logical_extension_codec(Arc::new(ClusterLogicalCodec::default()))
        .with_ballista_physical_extension_codec(Arc::new(ClusterPhysicalCodec::default()));
    let state = SessionStateBuilder::new_from_existing(local).with_config(config).build();
    let ctx = SessionContext::remote_with_state(url, state).await?;
    crate::identity::udf::Functions::new(as_of).register(&ctx);
    Ok(ctx)
}

/// `HOST:PORT` as a host and a port, or an error naming the flag.
fn host_and_port(flag: &str, address: &str) -> Result<(String, u16), ClusterError> {
    let bad = || ClusterError::Address(format!("--{flag} `{address}` is not HOST:PORT"));
    let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
    let port = port.parse().map_err(|_| bad())?;
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host.to_string(), port))
}
