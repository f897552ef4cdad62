//! `pophub serve`: the committed nights over the PostgreSQL wire protocol (pgwire, through
//! `datafusion-postgres`), for psql, DBeaver, Metabase and Python. pophub brings what the crate's
//! stock server does not: SCRAM logins against the warehouse's users, one catalog per role
//! (`access`), statements checked before and after planning, per-statement limits, and an audit
//! record of every login and statement. The server follows the warehouse's current night.

pub mod audit;
pub mod startup;
pub mod statements;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use datafusion_postgres::pgwire::api::auth::StartupHandler;
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::api::cancel::{CancelHandler, DefaultCancelHandler};
use datafusion_postgres::pgwire::api::{ConnectionManager, PgWireServerHandlers, RandomPidSecretKeyGenerator};
use datafusion_postgres::pgwire::tokio::TlsAcceptor;
use datafusion_postgres::pgwire::tokio::tokio_rustls::rustls;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::access::{AccessError, Catalogs, Roles};
use crate::config::access::AccessOptions;
use crate::warehouse::Warehouse;
use audit::{AuditLog, Event, Record};

/// What can stop the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The warehouse or a role's catalog could not be opened.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// The address is taken or not ours.
    #[error("cannot listen on {addr}: {source}; pick another --listen address")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// Why the bind failed.
        source: std::io::Error,
    },
    /// The certificate or key cannot be used.
    #[error("TLS: {path}: {message}")]
    Tls {
        /// The PEM file at fault.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// Options that do not go together.
    #[error("{0}")]
    BadInput(String),
    /// The audit log could not be written or read.
    #[error("audit log {path}: {message}")]
    Audit {
        /// The audit table's folder.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

/// How `pophub serve` was asked to run.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The warehouse whose nights are served.
    pub warehouse: PathBuf,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// PEM certificate chain and key for TLS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Refuse connections without TLS.
    pub require_tls: bool,
    /// Limits and declared roles (`[access]` of a pipeline file, or the defaults).
    pub access: AccessOptions,
}

/// What every connection shares.
pub struct Server {
    warehouse: Warehouse,
    catalogs: Catalogs,
    options: AccessOptions,
    audit: Arc<AuditLog>,
    require_tls: bool,
    /// Salts mock verifiers of unknown users (see `access::scram::Verifier::mock`).
    mock_secret: [u8; 32],
    pids: RandomPidSecretKeyGenerator,
    /// Every logged-in connection by its key, for the cancel requests that name it.
    connections: Arc<ConnectionManager>,
    night: AtomicU32,
}

impl Server {
    /// The night statements are being served from.
    fn serving_night(&self) -> u32 {
        self.night.load(Ordering::Relaxed)
    }

    fn served_night(&self, night: u32) {
        self.night.store(night, Ordering::Relaxed);
    }
}

/// The handlers pgwire asks for, once per connection: each gets its own login state.
struct Handlers {
    server: Arc<Server>,
    statements: Arc<statements::Statements>,
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.statements.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.statements.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        Arc::new(startup::LoginHandler::new(self.server.clone()))
    }

    /// A cancel request (psql's Ctrl-C, JDBC's `Statement.cancel`) names a connection by the key
    /// it was given at login and stops that connection's running statement.
    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        Arc::new(DefaultCancelHandler::new(self.server.connections.clone()))
    }
}

fn tls_acceptor(cert: &PathBuf, key: &PathBuf) -> Result<TlsAcceptor, ServeError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let tls = |path: &PathBuf, message: String| ServeError::Tls { path: path.clone(), message };
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| tls(cert, format!("{e}; give a PEM certificate chain")))?;
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| tls(key, format!("{e}; give a PEM private key")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls(cert, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| tls(cert, e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves until Ctrl-C or SIGTERM; then stops accepting, flushes the audit log and returns.
pub async fn serve(options: ServeOptions) -> Result<(), ServeError> {
    let warehouse = Warehouse::new(&options.warehouse);
    let tls = match &options.tls {
        Some((cert, key)) => Some(tls_acceptor(cert, key)?),
        None if options.require_tls => return Err(ServeError::BadInput("--require-tls needs --tls-cert and --tls-key".into())),
        None => None,
    };
    let audit = Arc::new(AuditLog::new(&warehouse));
    let mut started = Record::begin(Event::Server, 0, "", "", &options.listen.to_string());
    started.statement = Some("start".into());
    audit.record(started);
    audit.flush().await?;
    let catalogs = Catalogs::new(&warehouse, Roles::new(&options.access), Some(audit.table().await?));
    // Open the current night now: a warehouse that cannot be served fails at start, not at the
    // first client.
    let night = catalogs.current().await?.night.night;
    let mut mock_secret = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut mock_secret).expect("the system random source works");
    let server = Arc::new(Server {
        warehouse,
        catalogs,
        options: options.access.clone(),
        audit: audit.clone(),
        require_tls: options.require_tls,
        mock_secret,
        pids: RandomPidSecretKeyGenerator::default(),
        connections: Arc::new(ConnectionManager::new()),
        night: AtomicU32::new(night),
    });
    let handlers = Arc::new(Handlers { statements: Arc::new(statements::Statements::new(server.clone())), server: server.clone() });
    let listener = TcpListener::bind(options.listen).await.map_err(|source| ServeError::Listen { addr: options.listen, source })?;
    let connections = Arc::new(Semaphore::new(options.access.max_connections));
    tracing::info!(
        "pophub serve: listening on {} ({}), night {night}; Ctrl-C stops",
        listener.local_addr().map_or(options.listen, |a| a),
        if tls.is_some() { "TLS" } else { "no TLS" }
    );
    let flusher = {
        let audit = audit.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                tick.tick().await;
                if let Err(e) = audit.flush().await {
                    tracing::error!("pophub serve: {e}; the records are kept and written at the next flush");
                }
            }
        })
    };
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(|e| ServeError::BadInput(format!("cannot watch SIGTERM: {e}")))?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = terminate.recv() => break,
            accepted = listener.accept() => {
                let Ok((socket, _)) = accepted else { continue };
                let Ok(permit) = connections.clone().try_acquire_owned() else {
                    tokio::spawn(refuse_connection(socket, options.access.max_connections));
                    continue;
                };
                let (handlers, tls) = (handlers.clone(), tls.clone());
                tokio::spawn(async move {
                    if let Err(e) = datafusion_postgres::pgwire::tokio::process_socket(socket, tls, handlers).await {
                        tracing::warn!("pophub serve: connection ended: {e}");
                    }
                    drop(permit);
                });
            }
        }
    }
    flusher.abort();
    let mut stopped = Record::begin(Event::Server, server.serving_night(), "", "", &options.listen.to_string());
    stopped.statement = Some("stop".into());
    audit.record(stopped);
    audit.flush().await?;
    tracing::info!("pophub serve: stopped; audit log flushed");
    Ok(())
}

/// Tells a client over the limit why, in the protocol's own terms (SQLSTATE 53300), and closes.
async fn refuse_connection(mut socket: tokio::net::TcpStream, max: usize) {
    use datafusion_postgres::pgwire::error::ErrorInfo;
    use datafusion_postgres::pgwire::messages::Message;
    use datafusion_postgres::pgwire::messages::response::ErrorResponse;
    use tokio::io::AsyncWriteExt;
    let message = format!("too many connections: this server serves {max} at once (access.max_connections)");
    let mut frame = bytes::BytesMut::new();
    if ErrorResponse::from(ErrorInfo::new("FATAL".into(), "53300".into(), message)).encode(&mut frame).is_ok() {
        let _ = socket.write_all(&frame).await;
    }
    let _ = socket.shutdown().await;
}
