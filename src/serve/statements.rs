//! Statements over the wire, simple and extended protocol alike: each is checked against the
//! policy (as parsed and as planned), run in a session of its own over the login's role catalog
//! (its own memory pool, the server's statement timeout, the role's row limit), and audited with
//! its rows, duration and outcome when its result has been sent (or the client went away).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use datafusion::error::DataFusionError;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion_postgres::arrow_pg::datatypes::{arrow_schema_to_pg_fields, df::encode_dataframe};
use datafusion_postgres::arrow_pg::encoder::encode_value;
use datafusion_postgres::datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use datafusion_postgres::hooks::{HookClient, QueryHook};
use datafusion_postgres::hooks::cursor::CursorStatementHook;
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::pgwire::api::portal::{Format, Portal};
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::api::results::{CopyCsvOptions, CopyEncoder, CopyResponse, CopyTextOptions, FieldInfo, QueryResponse, Response, Tag};
use datafusion_postgres::pgwire::api::stmt::{QueryParser, StoredStatement};
use datafusion_postgres::pgwire::api::store::{MemPortalStore, PortalStore};
use datafusion_postgres::pgwire::api::{ClientInfo, ClientPortalStore, Type};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::PgWireBackendMessage;
use datafusion_postgres::pgwire::messages::copy::CopyData;
use datafusion_postgres::pgwire::types::format::FormatOptions;
use datafusion_postgres::{DfSessionService, Parser};
use futures::{Sink, Stream, StreamExt};

use super::Server;
use super::audit::{AuditLog, Event, Record};
use super::startup::{Cancellation, Login};
use crate::access::catalog::NightCatalog;
use crate::access::policy::{self, Allowed, CopyOut};

/// A parsed statement as pgwire keeps it between Parse and Execute (the type the crate's cursor
/// hook expects of the portal store).
pub type DfStatement = (String, Option<(Statement, LogicalPlan)>);

/// The query handlers of the server.
pub struct Statements {
    server: Arc<Server>,
    parser: Arc<RoleParser>,
}

impl Statements {
    /// Handlers for the server's connections.
    pub fn new(server: Arc<Server>) -> Statements {
        let describe = DfSessionService::new(Arc::new(SessionContext::new())).query_parser();
        Statements { parser: Arc::new(RoleParser { server: server.clone(), describe }), server }
    }
}

fn error(code: &str, message: impl Into<String>) -> ErrorInfo {
    ErrorInfo::new("ERROR".into(), code.into(), message.into())
}

fn into_error(info: ErrorInfo) -> PgWireError {
    PgWireError::UserError(Box::new(info))
}

/// The SQLSTATE of an engine error, as PostgreSQL would class it.
fn engine_error(e: &DataFusionError) -> ErrorInfo {
    let message = e.to_string();
    let missing_table = ["table", "not found"].iter().all(|w| message.contains(w)) || message.contains("doesn't exist") || message.contains("does not exist");
    let code = match e.find_root() {
        DataFusionError::SQL(..) => "42601",
        DataFusionError::ResourcesExhausted(_) => "53200",
        DataFusionError::Plan(_) | DataFusionError::SchemaError(..) if missing_table => "42P01",
        DataFusionError::SchemaError(..) => "42703",
        DataFusionError::Plan(_) => "42601",
        DataFusionError::NotImplemented(_) => "0A000",
        DataFusionError::Execution(_) | DataFusionError::ArrowError(..) => "22000",
        _ => "XX000",
    };
    error(code, message)
}

fn login<C: ClientInfo + ?Sized>(client: &C) -> PgWireResult<Arc<Login>> {
    client.session_extensions().get::<Login>().ok_or_else(|| into_error(ErrorInfo::new("FATAL".into(), "28000".into(), "not logged in".into())))
}

fn parameters_text(portal: &Portal<DfStatement>) -> Option<String> {
    if portal.parameters.is_empty() {
        return None;
    }
    let values: Vec<String> = portal
        .parameters
        .iter()
        .map(|p| match p {
            None => "NULL".into(),
            Some(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) if !text.contains('\0') => format!("'{}'", text.replace('\'', "''")),
                _ => format!("\\x{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()),
            },
        })
        .collect();
    Some(values.join(", "))
}

/// A statement being served: its login, role session, limits and audit record.
struct Served {
    login: Arc<Login>,
    catalog: Arc<NightCatalog>,
    record: Record,
    started: Instant,
}

impl Server {
    async fn begin(&self, login: Arc<Login>, sql: &str, parameters: Option<String>) -> Result<Served, (Record, ErrorInfo)> {
        let mut record = Record::begin(Event::Statement, self.serving_night(), &login.user, &login.role, &login.client);
        record.statement = Some(sql.to_string());
        record.parameters = parameters;
        match self.catalogs.current().await {
            Ok(catalog) => {
                record.night = catalog.night.night;
                self.served_night(catalog.night.night);
                Ok(Served { login, catalog, record, started: Instant::now() })
            }
            Err(e) => Err((record, error("58000", format!("the warehouse cannot be read: {e}")))),
        }
    }

    /// Records a statement that ended before any result was sent.
    fn refuse(&self, mut record: Record, started: Instant, outcome: &'static str, info: ErrorInfo) -> PgWireError {
        record.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        record.outcome = outcome;
        record.sqlstate = Some(info.code.clone());
        record.message = Some(info.message.clone());
        self.audit.record(record);
        into_error(info)
    }

    fn timeout<C: ClientInfo + ?Sized>(&self, client: &C) -> Duration {
        let server = Duration::from_millis(self.options.statement_timeout_ms);
        datafusion_postgres::pgwire::api::ClientInfo::metadata(client)
            .get("statement_timeout_ms")
            .and_then(|ms| ms.parse::<u64>().ok())
            .map(Duration::from_millis)
            .map_or(server, |client| client.min(server))
    }
}

impl Served {
    /// A session for this statement alone: the role's catalog with a memory pool of its own.
    fn session(&self, server: &Server) -> Result<SessionContext, ErrorInfo> {
        let role_session = self.catalog.session(&self.login.role).ok_or_else(|| error("28000", format!("role `{}` is not known to this server", self.login.role)))?;
        let pool = Arc::new(FairSpillPool::new(server.options.query_memory_mb * 1024 * 1024));
        let runtime = RuntimeEnvBuilder::from_runtime_env(self.catalog.runtime()).with_memory_pool(pool).build_arc().map_err(|e| engine_error(&e))?;
        let state = SessionStateBuilder::new_from_existing(role_session.state()).with_runtime_env(runtime).build();
        Ok(SessionContext::new_with_state(state))
    }

    fn max_rows(&self, server: &Server) -> Option<u64> {
        server.catalogs.roles().get(&self.login.role).and_then(|r| r.max_rows)
    }

    /// The statement's rows, governed by its limits and audited when they end.
    fn govern<T: Send + 'static>(self, server: &Arc<Server>, stop: Stop, rows: Pin<Box<dyn Stream<Item = PgWireResult<T>> + Send>>) -> Governed<T> {
        let max_rows = self.max_rows(server);
        Governed {
            inner: rows,
            stop,
            max_rows,
            rows: 0,
            audit: Some((server.audit.clone(), self.record, self.started)),
        }
    }
}

fn hooks() -> Vec<Arc<dyn QueryHook>> {
    vec![Arc::new(CursorStatementHook), Arc::new(SetShowHook), Arc::new(TransactionStatementHook)]
}

/// A result stream that stops at the statement timeout, a cancel request and the role's row
/// limit, and writes the statement's audit record once: when the rows end, fail, or the client
/// stops reading.
struct Governed<T> {
    inner: Pin<Box<dyn Stream<Item = PgWireResult<T>> + Send>>,
    stop: Stop,
    max_rows: Option<u64>,
    rows: u64,
    audit: Option<(Arc<AuditLog>, Record, Instant)>,
}

impl<T> Governed<T> {
    fn finish(&mut self, outcome: &'static str, info: Option<&ErrorInfo>) {
        if let Some((audit, mut record, started)) = self.audit.take() {
            record.rows = Some(self.rows as i64);
            record.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
            record.outcome = outcome;
            record.sqlstate = info.map(|i| i.code.clone());
            record.message = info.map(|i| i.message.clone());
            audit.record(record);
        }
    }

    fn fail(&mut self, info: ErrorInfo) -> Poll<Option<PgWireResult<T>>> {
        self.finish("error", Some(&info));
        Poll::Ready(Some(Err(into_error(info))))
    }
}

impl<T> Stream for Governed<T> {
    type Item = PgWireResult<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.audit.is_none() {
            return Poll::Ready(None);
        }
        if let Poll::Ready(stopped) = this.stop.as_mut().poll(cx) {
            return this.fail(stopped);
        }
        match this.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(item))) => {
                this.rows += 1;
                match this.max_rows {
                    Some(max) if this.rows > max => this.fail(error(
                        "54000",
                        format!("the result has more than {max} rows, the most your role may fetch at once; narrow it (WHERE, LIMIT) or aggregate"),
                    )),
                    _ => Poll::Ready(Some(Ok(item))),
                }
            }
            Poll::Ready(Some(Err(e))) => {
                let info = ErrorInfo::from(e);
                this.fail(info)
            }
            Poll::Ready(None) => {
                this.finish("ok", None);
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> Drop for Governed<T> {
    fn drop(&mut self) {
        self.finish("cancelled", None);
    }
}

/// Wraps a response's rows in the statement's governance; other responses are audited now.
fn governed_response(served: Served, server: &Arc<Server>, stop: Stop, response: Response) -> Response {
    match response {
        Response::Query(query) => {
            let QueryResponse { command_tag, row_schema, data_rows, .. } = query;
            let mut governed = QueryResponse::new(row_schema, served.govern(server, stop, data_rows));
            governed.set_command_tag(&command_tag);
            Response::Query(governed)
        }
        Response::CopyOut(copy) => {
            let CopyResponse { format, columns, data_stream, .. } = copy;
            Response::CopyOut(CopyResponse::new(format, columns, served.govern(server, stop, data_stream)))
        }
        other => {
            let mut record = served.record;
            record.duration_ms = served.started.elapsed().as_secs_f64() * 1000.0;
            record.rows = Some(0);
            server.audit.record(record);
            other
        }
    }
}

impl Server {
    /// One statement of a simple query.
    async fn simple<C>(self: &Arc<Self>, client: &mut C, login: Arc<Login>, statement: Statement) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let sql = statement.to_string();
        let served = match self.begin(login, &sql, None).await {
            Ok(served) => served,
            Err((record, info)) => return Err(self.refuse(record, Instant::now(), "error", info)),
        };
        let allowed = match policy::check_statement(&statement) {
            Ok(allowed) => allowed,
            Err(refusal) => return Err(self.refuse(served.record, served.started, "refused", error("42501", refusal.0))),
        };
        let ctx = match served.session(self) {
            Ok(ctx) => ctx,
            Err(info) => return Err(self.refuse(served.record, served.started, "error", info)),
        };
        let mut stop = self.stop(client, served.started).await;
        let response = match allowed {
            Allowed::Session if matches!(statement, Statement::Declare { .. }) => until(&mut stop, declare(&ctx, &statement, <C as HookClient>::portal_store(client))).await,
            Allowed::Session => {
                let mut answered = None;
                for hook in hooks() {
                    if let Some(r) = hook.handle_simple_query(&statement, &ctx, client).await {
                        answered = Some(r);
                        break;
                    }
                }
                answered.unwrap_or_else(|| Ok(Response::Execution(Tag::new("SET")))).map_err(ErrorInfo::from)
            }
            Allowed::Query => {
                let format_options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
                until(&mut stop, query(&ctx, statement, format_options)).await
            }
            Allowed::CopyOut(copy) => until(&mut stop, copy_out(&ctx, &copy)).await,
        };
        match response {
            Ok(response) => Ok(governed_response(served, self, stop, response)),
            Err(info) => {
                let outcome = if info.code == "42501" { "refused" } else { "error" };
                Err(self.refuse(served.record, served.started, outcome, info))
            }
        }
    }
}

/// What ends a statement early: the statement timeout, or a cancel request for its connection
/// (psql's Ctrl-C, JDBC's `Statement.cancel`); both are SQLSTATE 57014, as in PostgreSQL.
type Stop = Pin<Box<dyn Future<Output = ErrorInfo> + Send>>;

impl Server {
    /// What stops the statement the client is starting now.
    async fn stop<C: ClientInfo + ?Sized>(&self, client: &C, started: Instant) -> Stop {
        let deadline = tokio::time::sleep_until((started + self.timeout(client)).into());
        let cancel = match client.session_extensions().get::<Cancellation>() {
            Some(connection) => Some(connection.handle.start_query().await),
            None => None,
        };
        Box::pin(async move {
            // The receiver also ends when the next statement replaces it: that is no cancel.
            let cancelled = async move {
                let requested = match cancel {
                    Some(receiver) => receiver.await.is_ok(),
                    None => false,
                };
                if !requested {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                _ = deadline => error("57014", "canceling statement due to statement timeout"),
                _ = cancelled => error("57014", "canceling statement due to user request"),
            }
        })
    }
}

/// `work`, unless the statement is stopped first.
async fn until<T>(stop: &mut Stop, work: impl Future<Output = Result<T, ErrorInfo>>) -> Result<T, ErrorInfo> {
    tokio::select! {
        done = work => done,
        stopped = stop => Err(stopped),
    }
}

/// `DECLARE name CURSOR FOR query`: the query planned and started in the statement's session, and
/// kept with its plan, so a client that describes the cursor (psycopg's server-side cursors) is
/// told its columns; `FETCH` and `CLOSE` are the crate's.
async fn declare(ctx: &SessionContext, statement: &Statement, store: &MemPortalStore<DfStatement>) -> Result<Response, ErrorInfo> {
    let Statement::Declare { stmts } = statement else { return Err(error("XX000", "not a DECLARE")) };
    for declare in stmts {
        let name = declare.names.first().map(|n| n.value.clone()).ok_or_else(|| error("42601", "DECLARE needs a cursor name"))?;
        let query = declare.for_query.as_ref().ok_or_else(|| error("42601", "DECLARE CURSOR needs a FOR query"))?;
        let query = Statement::Query(query.clone());
        let plan = ctx.state().statement_to_plan(datafusion::sql::parser::Statement::Statement(Box::new(query.clone()))).await.map_err(|e| engine_error(&e))?;
        policy::check_plan(&plan).map_err(|r| error("42501", r.0))?;
        let frame = ctx.execute_logical_plan(plan.clone()).await.map_err(|e| engine_error(&e))?;
        let response = encode_dataframe(frame, &Format::UnifiedText, None).await.map_err(ErrorInfo::from)?;
        let stored = Arc::new(StoredStatement::new(name.clone(), (query.to_string(), Some((query, plan))), vec![]));
        let portal = Portal::new_cursor(name, stored);
        portal.start(response).await;
        store.put_portal(Arc::new(portal));
    }
    Ok(Response::Execution(Tag::new("DECLARE CURSOR")))
}

/// Plans the statement in the session, checks the plan, and starts it.
async fn query(ctx: &SessionContext, statement: Statement, format_options: Arc<FormatOptions>) -> Result<Response, ErrorInfo> {
    let plan = ctx.state().statement_to_plan(datafusion::sql::parser::Statement::Statement(Box::new(statement))).await.map_err(|e| engine_error(&e))?;
    policy::check_plan(&plan).map_err(|r| error("42501", r.0))?;
    let frame = ctx.execute_logical_plan(plan).await.map_err(|e| engine_error(&e))?;
    let response = encode_dataframe(frame, &Format::UnifiedText, Some(format_options)).await.map_err(ErrorInfo::from)?;
    Ok(Response::Query(response))
}

/// `COPY … TO STDOUT`: the query's rows in PostgreSQL's text or CSV format.
async fn copy_out(ctx: &SessionContext, copy: &CopyOut) -> Result<Response, ErrorInfo> {
    let plan = ctx.state().create_logical_plan(&copy.query).await.map_err(|e| engine_error(&e))?;
    policy::check_plan(&plan).map_err(|r| error("42501", r.0))?;
    let frame = ctx.execute_logical_plan(plan).await.map_err(|e| engine_error(&e))?;
    let schema = Arc::new(frame.schema().as_arrow().clone());
    let fields: Arc<Vec<FieldInfo>> = Arc::new(arrow_schema_to_pg_fields(&schema, &Format::UnifiedText, None).map_err(ErrorInfo::from)?);
    let new_encoder = {
        let (fields, copy) = (fields.clone(), copy.clone());
        move || {
            if copy.csv {
                let mut options = CopyCsvOptions::default();
                if let Some(d) = copy.delimiter {
                    options.delimiter = d.to_string().into();
                }
                if let Some(n) = &copy.null {
                    options.null_string = n.as_str().into();
                }
                CopyEncoder::new_csv(fields.clone(), options)
            } else {
                let mut options = CopyTextOptions::default();
                if let Some(d) = copy.delimiter {
                    options.delimiter = d.to_string().into();
                }
                if let Some(n) = &copy.null {
                    options.null_string = n.as_str().into();
                }
                CopyEncoder::new_text(fields.clone(), options)
            }
        }
    };
    let batches = frame.execute_stream().await.map_err(|e| engine_error(&e))?;
    let names: Vec<String> = fields.iter().map(|f| f.name().to_string()).collect();
    let columns = fields.len();
    let rows = batches.flat_map(move |batch| {
        let rows: Vec<PgWireResult<CopyData>> = match batch {
            Err(e) => vec![Err(into_error(engine_error(&e)))],
            Ok(batch) => {
                let mut encoder = new_encoder();
                (0..batch.num_rows())
                    .map(|row| {
                        for (column, array) in batch.columns().iter().enumerate() {
                            encode_value(&mut encoder, array, row, schema.field(column), &fields[column])?;
                        }
                        Ok(encoder.take_copy())
                    })
                    .collect()
            }
        };
        futures::stream::iter(rows)
    });
    let header = copy.header.then(|| {
        let delimiter = copy.delimiter.unwrap_or(if copy.csv { ',' } else { '\t' }).to_string();
        CopyData::new(Bytes::from(format!("{}\n", names.join(&delimiter))))
    });
    let response = CopyResponse::new(0, columns, futures::stream::iter(header.map(Ok)).chain(rows));
    Ok(Response::CopyOut(response))
}

#[async_trait]
impl SimpleQueryHandler for Statements {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let login = login(client)?;
        let statements = match PostgresCompatibilityParser::new().parse(query) {
            Ok(statements) => statements,
            Err(e) => {
                let served = self.server.begin(login, query, None).await;
                let record = match served {
                    Ok(s) => s.record,
                    Err((record, _)) => record,
                };
                return Err(match policy::check_unparsed(query) {
                    Some(refusal) => self.server.refuse(record, Instant::now(), "refused", error("42501", refusal.0)),
                    None => self.server.refuse(record, Instant::now(), "error", error("42601", e.to_string())),
                });
            }
        };
        let mut responses = Vec::with_capacity(statements.len());
        for statement in statements {
            responses.push(self.server.simple(client, login.clone(), statement).await?);
        }
        Ok(responses)
    }
}

/// Parses extended-protocol statements in the login's role catalog, after the policy check.
pub struct RoleParser {
    server: Arc<Server>,
    describe: Arc<Parser>,
}

#[async_trait]
impl QueryParser for RoleParser {
    type Statement = DfStatement;

    async fn parse_sql<C>(&self, client: &C, sql: &str, types: &[Option<Type>]) -> PgWireResult<Option<DfStatement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let login = login(client)?;
        let served = self.server.begin(login, sql, None).await.map_err(|(record, info)| self.server.refuse(record, Instant::now(), "error", info))?;
        let refuse = |info: ErrorInfo, outcome| self.server.refuse(served.record.clone(), served.started, outcome, info);
        let statements = PostgresCompatibilityParser::new().parse(sql).map_err(|e| match policy::check_unparsed(sql) {
            Some(refusal) => refuse(error("42501", refusal.0), "refused"),
            None => refuse(error("42601", e.to_string()), "error"),
        })?;
        let Some(statement) = statements.first() else { return Ok(None) };
        match policy::check_statement(statement) {
            Err(refusal) => return Err(refuse(error("42501", refusal.0), "refused")),
            Ok(Allowed::CopyOut(_)) => return Err(refuse(error("0A000", "COPY … TO STDOUT is served over the simple query protocol"), "error")),
            Ok(_) => {}
        }
        let ctx = served.session(&self.server).map_err(|info| refuse(info, "error"))?;
        let service = DfSessionService::new_with_hooks(Arc::new(ctx), hooks());
        let parsed = service.query_parser().parse_sql(client, sql, types).await.map_err(|e| refuse(ErrorInfo::from(e), "error"))?;
        if let Some((_, Some((_, plan)))) = &parsed {
            policy::check_plan(plan).map_err(|r| refuse(error("42501", r.0), "refused"))?;
        }
        Ok(parsed)
    }

    fn get_parameter_types(&self, statement: &DfStatement) -> PgWireResult<Vec<Type>> {
        self.describe.get_parameter_types(statement)
    }

    fn get_result_schema(&self, statement: &DfStatement, column_format: Option<&Format>) -> PgWireResult<Vec<FieldInfo>> {
        self.describe.get_result_schema(statement, column_format)
    }
}

#[async_trait]
impl ExtendedQueryHandler for Statements {
    type Statement = DfStatement;
    type QueryParser = RoleParser;

    fn query_parser(&self) -> Arc<RoleParser> {
        self.parser.clone()
    }

    async fn do_query<C>(&self, client: &mut C, portal: &Portal<DfStatement>, max_rows: usize) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = DfStatement>,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let login = login(client)?;
        let sql = portal.statement.statement.0.clone();
        let server = &self.server;
        let served = server.begin(login, &sql, parameters_text(portal)).await.map_err(|(record, info)| server.refuse(record, Instant::now(), "error", info))?;
        let ctx = match served.session(server) {
            Ok(ctx) => ctx,
            Err(info) => return Err(server.refuse(served.record, served.started, "error", info)),
        };
        let mut stop = server.stop(client, served.started).await;
        if let (_, Some((statement @ Statement::Declare { .. }, _))) = &portal.statement.statement {
            let store = <C as HookClient>::portal_store(client);
            return match until(&mut stop, declare(&ctx, statement, store)).await {
                Ok(response) => Ok(governed_response(served, server, stop, response)),
                Err(info) => Err(server.refuse(served.record, served.started, "error", info)),
            };
        }
        let service = DfSessionService::new_with_hooks(Arc::new(ctx), hooks());
        let run = async { <DfSessionService as ExtendedQueryHandler>::do_query(&service, client, portal, max_rows).await.map_err(ErrorInfo::from) };
        match until(&mut stop, run).await {
            Ok(response) => Ok(governed_response(served, server, stop, response)),
            Err(info) => Err(server.refuse(served.record, served.started, "error", info)),
        }
    }
}
