//! `pophub executor`: a Ballista executor that reads pophub's plans (its codecs): pophub's
//! functions arrive with their days and are made here, so the executor serves any night.

use std::sync::Arc;

use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};

use super::{ClusterError, ClusterLogicalCodec, ClusterPhysicalCodec, host_and_port};

/// Where an executor listens and whom it serves.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler, `HOST:PORT`.
    pub scheduler: String,
    /// The host the executor binds and announces.
    pub host: String,
    /// Its Arrow Flight port (shuffle data); its gRPC port is the next one.
    pub port: u16,
    /// Where it keeps shuffle files; a temporary folder when not given.
    pub work_dir: Option<std::path::PathBuf>,
    /// Tasks at a time; every core when 0.
    pub tasks: usize,
}

/// DataFusion's functions as a client's session has them: Ballista's executor registry leaves
/// out the array functions (`array_to_string`, which reports use) that its client sessions hold.
/// pophub's own come with the plans.
fn functions() -> BallistaFunctionRegistry {
    let mut registry = BallistaFunctionRegistry::default();
    registry.scalar_functions.extend(ballista_core::extension::ballista_scalar_functions().into_iter().map(|f| (f.name().to_string(), f)));
    registry
}

/// Runs the executor until the process is stopped (Ctrl-C).
pub async fn run(options: &ExecutorOptions) -> Result<(), ClusterError> {
    let (scheduler_host, scheduler_port) = host_and_port("scheduler", &options.scheduler)?;
    let grpc_port = options.port.checked_add(1).ok_or_else(|| ClusterError::Address(format!("--port {} leaves no port for gRPC after it", options.port)))?;
    let mut config = ExecutorProcessConfig {
        bind_host: options.host.clone(),
        external_host: Some(options.host.clone()),
        port: options.port,
        grpc_port,
        scheduler_host,
        scheduler_port,
        work_dir: options.work_dir.as_ref().map(|d| d.to_string_lossy().into_owned()),
        override_function_registry: Some(Arc::new(functions())),
        override_logical_codec: Some(Arc::new(ClusterLogicalCodec::default())),
        override_physical_codec: Some(Arc::new(ClusterPhysicalCodec::default())),
        ..ExecutorProcessConfig::default()
    };
    if options.tasks > 0 {
        config.vcores = options.tasks;
    }
    tracing::info!("pophub executor: tasks of scheduler {} on {}:{} (Flight) and {}:{grpc_port} (gRPC), {} at a time", options.scheduler, options.host, options.port, options.host, config.vcores);
    start_executor_process(Arc::new(config))
        .await
        .map_err(|e| ClusterError::Ballista(format!("executor of scheduler {}: {e}; is `pophub scheduler` listening there?", options.scheduler)))
}
