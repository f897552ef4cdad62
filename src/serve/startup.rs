//! Login: SCRAM-SHA-256 against the warehouse's users, TLS when the server requires it, and an
//! audit record for every attempt. One handler per connection (the SCRAM exchange is its state);
//! a login that succeeds leaves a `Login` in the connection's session extensions, which every
//! statement handler reads its user and role from.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use datafusion_postgres::pgwire::api::auth::{DefaultServerParameterProvider, StartupHandler, finish_authentication, protocol_negotiation, save_startup_parameters_to_metadata};
use datafusion_postgres::pgwire::api::{ClientInfo, ConnectionGuard, ConnectionHandle, PgWireConnectionState, PidSecretKeyGenerator};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::startup::Authentication;
use datafusion_postgres::pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use futures::{Sink, SinkExt};
use tokio::sync::Mutex;

use super::Server;
use super::audit::{Event, Record};
use crate::access::scram::{Exchange, Verifier};
use crate::access::users::Users;

/// A logged-in connection's place in the server's cancel registry: the handle a cancel request
/// fires, and the guard that takes the connection out of the registry when it ends.
pub struct Cancellation {
    /// Fired by a cancel request with this connection's key.
    pub handle: Arc<ConnectionHandle>,
    _registered: ConnectionGuard,
}

/// Who a connection logged in as.
#[derive(Debug, Clone)]
pub struct Login {
    /// The user.
    pub user: String,
    /// The user's role.
    pub role: String,
    /// The client's address.
    pub client: String,
}

enum State {
    /// Waiting for the startup message.
    Start,
    /// Mechanisms offered, waiting for the client-first message.
    Offered { started: Instant },
    /// Server-first sent, waiting for the proof; `role` is `None` for an unknown user.
    Challenged { started: Instant, exchange: Box<Exchange>, role: Option<String> },
    Done,
}

/// The login of one connection.
pub struct LoginHandler {
    server: Arc<Server>,
    state: Mutex<State>,
}

impl LoginHandler {
    /// A handler for a new connection.
    pub fn new(server: Arc<Server>) -> LoginHandler {
        LoginHandler { server, state: Mutex::new(State::Start) }
    }

    fn audit_failure<C: ClientInfo>(&self, client: &C, role: &str, started: Instant, message: &str) {
        let mut record = Record::begin(Event::Login, self.server.serving_night(), &user_of(client), role, &client.socket_addr().to_string());
        record.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        record.outcome = "failed";
        record.sqlstate = Some("28P01".into());
        record.message = Some(message.to_string());
        self.server.audit.record(record);
    }
}

fn user_of<C: ClientInfo>(client: &C) -> String {
    client.metadata().get("user").cloned().unwrap_or_default()
}

fn fatal(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new("FATAL".into(), code.into(), message)))
}

#[async_trait]
impl StartupHandler for LoginHandler {
    async fn on_startup<C>(&self, client: &mut C, message: PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let mut state = self.state.lock().await;
        match (std::mem::replace(&mut *state, State::Done), message) {
            (State::Start, PgWireFrontendMessage::Startup(startup)) => {
                protocol_negotiation(client, &startup).await?;
                save_startup_parameters_to_metadata(client, &startup);
                if self.server.require_tls && !client.is_secure() {
                    self.audit_failure(client, "", Instant::now(), "TLS required");
                    return Err(fatal("28000", "this server accepts TLS connections only: connect with sslmode=require".into()));
                }
                client.set_state(PgWireConnectionState::AuthenticationInProgress);
                client.send(PgWireBackendMessage::Authentication(Authentication::SASL(vec!["SCRAM-SHA-256".into()]))).await?;
                *state = State::Offered { started: Instant::now() };
                Ok(())
            }
            (State::Offered { started }, PgWireFrontendMessage::PasswordMessageFamily(message)) => {
                let initial = message.into_sasl_initial_response()?;
                if initial.auth_method != "SCRAM-SHA-256" {
                    self.audit_failure(client, "", started, "unsupported SASL mechanism");
                    return Err(fatal("28000", format!("SASL mechanism {} is not offered; use SCRAM-SHA-256", initial.auth_method)));
                }
                let user = user_of(client);
                let users = Users::load(&self.server.warehouse).map_err(|e| PgWireError::ApiError(Box::new(e)))?;
                let (verifier, role) = match users.get(&user) {
                    Some(u) => (u.verifier.clone(), Some(u.role.clone())),
                    None => (Verifier::mock(&user, &self.server.mock_secret), None),
                };
                let data = initial.data.as_deref().unwrap_or_default();
                let (exchange, server_first) = Exchange::start(verifier, data).map_err(|e| {
                    self.audit_failure(client, "", started, &e.to_string());
                    fatal("28000", format!("authentication failed for user \"{user}\""))
                })?;
                client.send(PgWireBackendMessage::Authentication(Authentication::SASLContinue(server_first.into_bytes().into()))).await?;
                *state = State::Challenged { started, exchange: Box::new(exchange), role };
                Ok(())
            }
            (State::Challenged { started, exchange, role }, PgWireFrontendMessage::PasswordMessageFamily(message)) => {
                let response = message.into_sasl_response()?;
                let user = user_of(client);
                // The same answer for an unknown user and a wrong password (a mock verifier never
                // passes).
                let (role, reason) = match (exchange.finish(&response.data), role) {
                    (Ok(server_final), Some(role)) => (role, Ok(server_final)),
                    (Err(e), Some(role)) => (role, Err(e.0)),
                    (_, None) => (String::new(), Err("unknown user".to_string())),
                };
                let server_final = match reason {
                    Ok(server_final) => server_final,
                    Err(reason) => {
                        self.audit_failure(client, &role, started, &reason);
                        return Err(fatal("28P01", format!("password authentication failed for user \"{user}\"")));
                    }
                };
                if self.server.catalogs.roles().get(&role).is_none() {
                    let reason = format!("role `{role}` is not built in nor declared in the pipeline's [[access.role]]");
                    self.audit_failure(client, &role, started, &reason);
                    return Err(fatal("28000", reason));
                }
                client.send(PgWireBackendMessage::Authentication(Authentication::SASLFinal(server_final.into_bytes().into()))).await?;
                let (pid, secret) = self.server.pids.generate(client);
                let (handle, registered) = self.server.connections.register(pid, secret.clone());
                client.set_pid_and_secret_key(pid, secret);
                client.session_extensions().get_or_insert_with(|| Cancellation { handle, _registered: registered });
                let login = Login { user: user.clone(), role: role.clone(), client: client.socket_addr().to_string() };
                client.session_extensions().get_or_insert_with(|| login.clone());
                let mut record = Record::begin(Event::Login, self.server.serving_night(), &user, &role, &login.client);
                record.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
                self.server.audit.record(record);
                let mut parameters = DefaultServerParameterProvider::default();
                parameters.is_superuser = role == "admin";
                finish_authentication(client, &parameters).await?;
                Ok(())
            }
            (_, other) => Err(fatal("08P01", format!("unexpected message during login: {:?}", std::mem::discriminant(&other)))),
        }
    }
}
