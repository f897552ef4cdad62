//! `pophub scheduler`: a Ballista scheduler that reads pophub's plans (its codecs) and plans
//! them in sessions that know pophub's functions by their days.

use std::net::SocketAddr;
use std::sync::Arc;

use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;

use super::{ClusterError, ClusterLogicalCodec, ClusterPhysicalCodec};

/// Runs the scheduler on `listen` until the process is stopped.
pub async fn run(listen: &str) -> Result<(), ClusterError> {
    let address: SocketAddr = listen.parse().map_err(|_| ClusterError::Address(format!("--listen `{listen}` is not IP:PORT")))?;
    let config = SchedulerConfig {
        bind_host: address.ip().to_string(),
        external_host: address.ip().to_string(),
        bind_port: address.port(),
        override_logical_codec: Some(Arc::new(ClusterLogicalCodec::default())),
        override_physical_codec: Some(Arc::new(ClusterPhysicalCodec::default())),
        ..SchedulerConfig::default()
    };
    let cluster = BallistaCluster::new_from_config(&config).await.map_err(|e| ClusterError::Ballista(e.to_string()))?;
    tracing::info!("pophub scheduler: listening on {address}; clients give --cluster df://{address}");
    ballista_scheduler::scheduler_process::start_server(cluster, address, Arc::new(config)).await.map_err(|e| ClusterError::Ballista(e.to_string()))
}
