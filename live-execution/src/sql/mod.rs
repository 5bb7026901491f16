//! The live SQL store: [`LiveExecutionAdapter`] on SQLite (feature `sqlite`, bundled into the
//! binary) or PostgreSQL (feature `postgres`), through sqlx.
//!
//! The store is only handed out wrapped in the kill switch: [`connect`] returns
//! `Guarded<SqlStore>`, whose gate is the caller's [`ExecutionGate`] plus a [`ControlRow`] source
//! that reads the database's shared `control` row at every check. [`init`] creates or upgrades
//! the schema (a mutation, so it is its own command); [`connect`] refuses a database whose schema
//! is missing, older or newer than this build. [`set_control`] flips the shared control row.
//!
//! Semantics are exactly the simulator's (one contract suite checks both): every adapter
//! operation is one transaction; fence and enact are compare-and-set checked row by row inside
//! it; unit writes are batched (SQLite: multi-row upserts under the bind-parameter limit;
//! PostgreSQL: a binary `COPY` into a staging table, then one `INSERT … SELECT`); the census
//! streams the digest columns in contract order into [`crate::DocumentDigester`] and never loads
//! a body.
//!
//! Every operation is written once, generic over the backend, in `sql/ops/` (one module per
//! concern: schema, control, reads, census, journal, documents, cuts, leases), with the same SQL
//! text on both backends: placeholders are `$n` on both. What differs (transaction start, row
//! locks, body hashing, the shape of bulk reads, unit batching, migration text, a few texts) is
//! the [`dialect::Dialect`] trait, implemented in `sql/sqlite.rs` and `sql/postgres.rs`; how the
//! generic operations run statements is `sql/query.rs`.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

use crate::adapter::{AdapterResult, LiveExecutionAdapter};
use crate::domain::AdapterInfo;
use crate::error::{AdapterError, Unavailability, UnavailableKind};
use crate::gate::{ExecutionGate, GateSource, Guarded, Verdict};
use crate::op::{LeaseClaim, Op, Reply};
use crate::source::SourceMapping;

mod codec;
mod dialect;
mod error;
mod layout;
mod location;
mod migrations;
mod ops;
#[cfg(feature = "postgres")]
mod pg_copy;
#[cfg(feature = "postgres")]
mod postgres;
mod probe;
mod query;
#[cfg(feature = "sqlite")]
mod sqlite;

use layout::Layout;
use location::{Target, target};

pub use location::redact;
pub use migrations::SCHEMA_VERSION as DATABASE_SCHEMA_VERSION;
pub use probe::SqlLoadProbe;

/// sqlx logs a statement slower than this…
const SLOW_STATEMENT: Duration = Duration::from_secs(1);
/// …at this level: debug, not sqlx's default warn, because the line holds the whole SQL text
/// (kilobytes for a batch of units), which buried the program's own warnings.
const SLOW_STATEMENT_LEVEL: log::LevelFilter = log::LevelFilter::Debug;

/// Where and how to connect.
///
/// `url` is `sqlite://path/to/file.db` (query parameters such as `?mode=rwc` are accepted; the
/// store decides itself whether the file may be created), `sqlite:path`, a bare file path, or
/// `postgres://user:password@host:port/database`. `pg_schema` points a PostgreSQL connection at a
/// dedicated schema (its `search_path`), e.g. one schema per test; [`init`] creates it.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    /// The database URL (may hold a password: it is only ever shown through [`redact`]).
    pub url: String,
    /// PostgreSQL only: the schema to use instead of the default `search_path`.
    pub pg_schema: Option<String>,
    /// The application table the documents are read from, if any (see [`SourceMapping`]).
    pub source: Option<SourceMapping>,
    /// PostgreSQL only: how long a statement waits for a row lock another session holds
    /// (`lock_timeout`) and how long any statement may run (`statement_timeout`); `None` keeps
    /// the server's setting. Either ends the call with nothing of it changed
    /// ([`crate::UnavailableKind::Busy`]).
    pub pg_timeouts: Option<PgTimeouts>,
}

/// PostgreSQL's `lock_timeout` and `statement_timeout` for every connection of a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PgTimeouts {
    /// How long to wait for a lock (`lock_timeout`).
    pub lock: Duration,
    /// How long a statement may run (`statement_timeout`).
    pub statement: Duration,
}

impl ConnectOptions {
    /// Options for `url`, default schema.
    pub fn new(url: impl Into<String>) -> Self {
        ConnectOptions {
            url: url.into(),
            pg_schema: None,
            source: None,
            pg_timeouts: None,
        }
    }

    /// Sets PostgreSQL's lock and statement timeouts (see [`ConnectOptions::pg_timeouts`]).
    pub fn with_pg_timeouts(mut self, timeouts: PgTimeouts) -> Self {
        self.pg_timeouts = Some(timeouts);
        self
    }

    /// Reads the documents from the application table `source` (checked when the store opens).
    pub fn with_source(mut self, source: SourceMapping) -> Self {
        self.source = Some(source);
        self
    }

    /// Uses the PostgreSQL schema `schema` (letters, digits and `_`, not starting with a digit).
    pub fn with_pg_schema(mut self, schema: impl Into<String>) -> Self {
        self.pg_schema = Some(schema.into());
        self
    }

    /// Where these options point, password removed.
    pub fn location(&self) -> String {
        let url = redact(&self.url);
        match &self.pg_schema {
            Some(schema) => format!("{url} (schema {schema})"),
            None => url,
        }
    }
}

impl fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("url", &redact(&self.url))
            .field("pg_schema", &self.pg_schema)
            .field("source", &self.source)
            .field("pg_timeouts", &self.pg_timeouts)
            .finish()
    }
}

impl From<&str> for ConnectOptions {
    fn from(url: &str) -> Self {
        ConnectOptions::new(url)
    }
}

impl From<String> for ConnectOptions {
    fn from(url: String) -> Self {
        ConnectOptions::new(url)
    }
}

#[cfg_attr(all(feature = "sqlite", feature = "postgres"), allow(dead_code))]
fn not_built(kind: &str, feature: &str, options: &ConnectOptions) -> AdapterError {
    AdapterError::unavailable(
        crate::error::UnavailableKind::NotBuilt,
        format!(
            "{} is a {kind} database, but this build of iu-cutter has no {kind} support; rebuild \
             with the cargo feature `{feature}`",
            options.location()
        ),
    )
}

/// What [`init`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitReport {
    /// Where, password removed.
    pub location: String,
    /// The schema version now in the database.
    pub schema_version: u32,
    /// Versions applied by this call (empty when the schema was already current).
    pub applied: Vec<u32>,
    /// The source table the reader view now compares, when this call replaced the view.
    pub reader_view: Option<String>,
}

/// Creates the database (a SQLite file is created if missing) and brings its schema to this
/// build's version, one migration per transaction, each recorded with its checksum. Idempotent:
/// on a current schema it applies nothing. This is the program's `init` command.
pub async fn init(url: &str) -> Result<InitReport, AdapterError> {
    init_with(&ConnectOptions::new(url)).await
}

/// [`init`] with full options (e.g. a PostgreSQL schema, created if missing). Refuses, changing
/// nothing, where tables of iu-cutter's names exist that iu-cutter did not create
/// ([`InitPlan::collisions`]).
pub async fn init_with(options: &ConnectOptions) -> Result<InitReport, AdapterError> {
    let plan = init_plan(options).await?;
    if !plan.collisions.is_empty() {
        return Err(collision(options, &plan.collisions));
    }
    let backend = Backend::open(options, Mode::Init).await?;
    let applied = backend.migrate().await;
    let view = match (&applied, &options.source) {
        (Ok(_), Some(mapping)) => backend.source_view(mapping, true).await.map(Some),
        _ => Ok(None),
    };
    backend.close().await;
    let applied = applied.map_err(|e| scrub(e, options))?;
    let view = view.map_err(|e| scrub(e, options))?;
    Ok(InitReport {
        location: options.location(),
        schema_version: migrations::SCHEMA_VERSION,
        applied,
        reader_view: view
            .filter(|replaced| *replaced)
            .and(options.source.as_ref())
            .map(|m| m.table.clone()),
    })
}

/// What [`init_with`] would do at `options`, read without changing anything (a missing SQLite
/// file or PostgreSQL schema: every migration pending).
pub async fn init_plan(options: &ConnectOptions) -> Result<InitPlan, AdapterError> {
    let backend = match Backend::open(options, Mode::Inspect).await {
        Ok(backend) => backend,
        Err(AdapterError::Unavailable(why))
            if why.kind == crate::error::UnavailableKind::NeedsInit =>
        {
            let layout = wanted_layout(options);
            source_is_not_ours(options, layout)?;
            return Ok(InitPlan {
                source_view: options.source.is_some(),
                pending: migrations::MIGRATIONS
                    .iter()
                    .map(|m| (m.version, m.description))
                    .collect(),
                creates: migrations::created_objects(
                    migrations::MIGRATIONS.iter().map(|m| m.sqlite),
                )
                .into_iter()
                .map(|(kind, name)| format!("{kind} {}", layout.name(&name)))
                .collect(),
                view: layout.name("active_units").into_owned(),
                ..InitPlan::default()
            });
        }
        Err(error) => return Err(error),
    };
    if let Err(error) = source_is_not_ours(options, backend.layout()) {
        backend.close().await;
        return Err(error);
    }
    let mut plan = backend.init_plan().await;
    if let Ok(plan) = &mut plan {
        plan.view = backend.layout().name("active_units").into_owned();
    }
    if let (Ok(plan), Some(mapping)) = (&mut plan, &options.source) {
        plan.source_view = plan.applied.is_empty()
            || !plan.pending.is_empty()
            || match backend.source_view(mapping, false).await {
                Ok(current) => !current,
                Err(error) => {
                    backend.close().await;
                    return Err(scrub(error, options));
                }
            };
    }
    backend.close().await;
    plan.map_err(|e| scrub(e, options))
}

/// What `init` would do (see [`init_plan`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InitPlan {
    /// The versions already applied.
    pub applied: Vec<u32>,
    /// The migrations to apply, as version and description.
    pub pending: Vec<(u32, &'static str)>,
    /// The tables, views and indexes they create.
    pub creates: Vec<String>,
    /// Objects of iu-cutter's names that already exist where it has no schema: `init` refuses
    /// to run over them.
    pub collisions: Vec<String>,
    /// Whether the reader view must be (re)created to compare the configured source table.
    pub source_view: bool,
    /// The reader view's name in this store: `active_units`, or `iu_cutter_active_units` in a
    /// SQLite file shared with the application (see README, "Reading the units").
    pub view: String,
}

/// The layout a store gets where iu-cutter has no schema yet: prefixed names in a SQLite file
/// shared with the application (a `[source]` is configured), plain names otherwise.
fn wanted_layout(options: &ConnectOptions) -> Layout {
    match (&options.source, target(&options.url)) {
        (Some(_), Ok(Target::Sqlite(_))) => Layout::Prefixed,
        _ => Layout::Plain,
    }
}

/// Refuses a `[source]` naming one of iu-cutter's own tables (in iu-cutter's own schema, under
/// the store's `layout`): the tracking copies would become their own source.
fn source_is_not_ours(options: &ConnectOptions, layout: Layout) -> Result<(), AdapterError> {
    let Some(mapping) = &options.source else {
        return Ok(());
    };
    let postgres = matches!(target(&options.url), Ok(Target::Postgres));
    let (schema, table) = match mapping.table.split_once('.') {
        Some((schema, table)) => (Some(schema), table),
        None => (postgres.then_some("public"), mapping.table.as_str()),
    };
    let ours = match (postgres, schema) {
        (true, Some(schema)) => options.pg_schema.as_deref().unwrap_or("public") == schema,
        _ => true,
    };
    let texts = std::iter::once(migrations::CREATE_MIGRATIONS_TABLE)
        .chain(migrations::MIGRATIONS.iter().map(|m| m.sqlite));
    let own = migrations::created_objects(texts);
    if ours
        && own
            .iter()
            .any(|(_, name)| layout.name(name).eq_ignore_ascii_case(table))
    {
        // A `[source]` mistake, of the kind a missing table is, so that a caller's advice
        // names `[source]`, not the database URL.
        return Err(AdapterError::Unavailable(Unavailability::new(
            UnavailableKind::Source,
            format!(
                "[source] table `{}` is one of iu-cutter's own tables: name the application's \
                 table (with its schema on PostgreSQL, e.g. public.laws); fix [source] in the \
                 configuration",
                mapping.table
            ),
        )));
    }
    Ok(())
}

fn collision(options: &ConnectOptions, collisions: &[String]) -> AdapterError {
    let place = match &options.pg_schema {
        Some(schema) => format!("schema {schema} of {}", redact(&options.url)),
        None => redact(&options.url),
    };
    AdapterError::Invalid(format!(
        "{place} already holds {} that iu-cutter did not create (it has no iu-cutter schema); \
         nothing was changed: give iu-cutter a schema of its own (`schema` in cutter.toml) or \
         a database file of its own",
        collisions.join(", ")
    ))
}

/// Connects to a database whose schema [`init`] created, and returns the store behind the kill
/// switch: `gate` plus a [`ControlRow`] source reading this database's control row.
///
/// An unreachable or mistyped URL, a missing SQLite file, or a schema that is missing, older or
/// newer than this build fails with [`AdapterError::Unavailable`] naming the (redacted) location
/// and the next action. Nothing is created or migrated here, and nothing else is ever used
/// instead.
pub async fn connect(url: &str, gate: ExecutionGate) -> Result<Guarded<SqlStore>, AdapterError> {
    connect_with(&ConnectOptions::new(url), gate).await
}

/// [`connect`] with full options.
pub async fn connect_with(
    options: &ConnectOptions,
    gate: ExecutionGate,
) -> Result<Guarded<SqlStore>, AdapterError> {
    let store = SqlStore::open(options).await?;
    let gate = gate.with_source(store.control_row());
    Ok(Guarded::new(store, gate))
}

/// What [`grant_runtime`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantReport {
    /// Where, password removed.
    pub location: String,
    /// The schema whose tables were granted.
    pub schema: String,
    /// The statements run, in order.
    pub statements: Vec<String>,
}

/// Grants the PostgreSQL role `role` exactly what every command but `init` needs on the store's
/// tables in the connection's current schema: USAGE on the schema, SELECT on
/// `schema_migrations`, and SELECT, INSERT, UPDATE and DELETE on iu-cutter's other tables. Run
/// it as the owner role, after [`init`] (again after every upgrade that adds a table). This is
/// the program's `init --grant-runtime ROLE`. SQLite has no roles: refused.
// `role` is unused in a build with SQLite alone, which refuses every grant.
#[cfg_attr(not(feature = "postgres"), allow(unused_variables))]
pub async fn grant_runtime(
    options: &ConnectOptions,
    role: &str,
) -> Result<GrantReport, AdapterError> {
    let backend = Backend::open(options, Mode::Use).await?;
    let result = match &backend {
        #[cfg(feature = "postgres")]
        Backend::Postgres(pool) => postgres::grant_runtime(pool, role).await,
        #[cfg(feature = "sqlite")]
        Backend::Sqlite(..) => Err(AdapterError::Invalid(
            "SQLite has no roles to grant: --grant-runtime is for PostgreSQL stores".to_owned(),
        )),
    };
    backend.close().await;
    let (schema, statements) = result.map_err(|e| scrub(e, options))?;
    Ok(GrantReport {
        location: options.location(),
        schema,
        statements,
    })
}

/// The statements [`grant_runtime`] runs for `role` in `schema` (what README shows).
#[cfg(feature = "postgres")]
pub fn runtime_grant_statements(schema: &str, role: &str) -> Vec<String> {
    postgres::runtime_grants(schema, role)
}

/// The shared control row as read from the database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlState {
    /// False closes execution for every runner on this database.
    pub execution_enabled: bool,
    /// Why it was last set.
    pub reason: String,
    /// When it was last set (database clock, text).
    pub updated_at: String,
}

/// Sets the shared control row: `enabled = false` closes execution for every runner on this
/// database at its next mutation; `true` lifts that (the row never opens execution on its own).
/// This is the program's `control enable|disable` command; it is deliberately not behind the
/// kill switch it operates.
pub async fn set_control(
    options: &ConnectOptions,
    enabled: bool,
    reason: &str,
) -> Result<ControlState, AdapterError> {
    let store = SqlStore::open(options).await?;
    let result = store.set_control(enabled, reason).await;
    store.backend.close().await;
    result
}

/// Reads the shared control row (the program's `control status`).
pub async fn control_status(options: &ConnectOptions) -> Result<ControlState, AdapterError> {
    let store = SqlStore::open(options).await?;
    let result = store.control_state().await;
    store.backend.close().await;
    result
}

/// How a backend is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// `init`: create the file or schema if missing.
    Init,
    /// Everything else: the database must exist.
    Use,
    /// Looking without changing anything (what `init` would do): the database must exist, and
    /// is opened read-only, its settings (SQLite's journal mode) left as they are.
    Inspect,
}

/// A connection pool to one of the compiled backends.
#[derive(Clone, Debug)]
enum Backend {
    /// A SQLite file, iu-cutter's objects named as its layout says (read from the file).
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::SqlitePool, Layout),
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
}

/// Runs `$body` with `$pool` bound to the backend's pool and `$ops` naming the operations (which
/// infer their [`dialect::Dialect`] from the pool), in the store's [`Layout`] (PostgreSQL: plain
/// names, in iu-cutter's own schema).
macro_rules! on_backend {
    ($backend:expr, $ops:ident, $pool:ident => $body:expr) => {
        match $backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite($pool, layout) => {
                use self::ops as $ops;
                layout::scoped(*layout, async { $body }).await
            }
            #[cfg(feature = "postgres")]
            Backend::Postgres($pool) => {
                use self::ops as $ops;
                layout::scoped(Layout::Plain, async { $body }).await
            }
        }
    };
}

impl Backend {
    async fn open(options: &ConnectOptions, mode: Mode) -> Result<Backend, AdapterError> {
        let result = match target(&options.url)? {
            #[cfg(feature = "sqlite")]
            Target::Sqlite(path) => match sqlite::open(options, &path, mode).await {
                Ok(pool) => {
                    // A store attached to an application's file gets prefixed names; what the
                    // file holds decides, once iu-cutter's schema is there.
                    match sqlite::layout(&pool, wanted_layout(options)).await {
                        Ok(layout) => Ok(Backend::Sqlite(pool, layout)),
                        Err(error) => {
                            pool.close().await;
                            Err(error)
                        }
                    }
                }
                Err(error) => Err(error),
            },
            #[cfg(not(feature = "sqlite"))]
            Target::Sqlite(_) => Err(not_built("SQLite", "sqlite", options)),
            #[cfg(feature = "postgres")]
            Target::Postgres => postgres::open(options, mode).await.map(Backend::Postgres),
            #[cfg(not(feature = "postgres"))]
            Target::Postgres => Err(not_built("PostgreSQL", "postgres", options)),
        };
        result.map_err(|e| scrub(e, options))
    }

    /// How iu-cutter's objects are named in this store.
    fn layout(&self) -> Layout {
        match self {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(_, layout) => *layout,
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => Layout::Plain,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(..) => "sqlite",
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => "postgres",
        }
    }

    async fn init_plan(&self) -> Result<InitPlan, AdapterError> {
        on_backend!(self, ops, pool => ops::init_plan(pool).await)
    }

    /// Whether the reader view is the one `mapping` defines; with `replace`, makes it so first
    /// (then: whether it replaced it).
    async fn source_view(
        &self,
        mapping: &SourceMapping,
        replace: bool,
    ) -> Result<bool, AdapterError> {
        on_backend!(self, ops, pool => {
            let source = ops::prepare_source(pool, mapping).await?;
            let current = ops::reader_view_is_current(pool, &source).await?;
            match (replace, current) {
                (false, current) => Ok(current),
                (true, true) => Ok(false),
                (true, false) => ops::replace_reader_view(pool, &source).await.map(|()| true),
            }
        })
    }

    async fn migrate(&self) -> Result<Vec<u32>, AdapterError> {
        on_backend!(self, ops, pool => ops::migrate(pool).await)
    }

    async fn close(&self) {
        match self {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(pool, _) => pool.close().await,
            #[cfg(feature = "postgres")]
            Backend::Postgres(pool) => pool.close().await,
        }
    }
}

/// The live SQL store. Built only inside this crate; use [`connect`], which wraps it in the kill
/// switch.
#[derive(Debug)]
pub struct SqlStore {
    backend: Backend,
    options: ConnectOptions,
    location: String,
    /// The source mapping's statements, checked against the database when the store opened.
    source: Option<ops::SourceSql>,
}

impl Guarded<SqlStore> {
    /// With a `[source]`: whether the reader view `active_units` compares this configuration's
    /// source (`init --execute` makes it so); `None` without a source.
    pub async fn reader_view_is_current(&self) -> Result<Option<bool>, AdapterError> {
        let store = self.inner();
        let Some(mapping) = &store.options.source else {
            return Ok(None);
        };
        store.scrubbed(store.backend.source_view(mapping, false).await.map(Some))
    }

    /// The database role the store acts as (PostgreSQL's `current_user`), for the audit trail;
    /// `None` on SQLite, which has no users.
    pub async fn database_user(&self) -> Result<Option<String>, AdapterError> {
        let store = self.inner();
        match &store.backend {
            #[cfg(feature = "postgres")]
            Backend::Postgres(pool) => store.scrubbed(postgres::current_user(pool).await.map(Some)),
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(..) => Ok(None),
        }
    }

    /// Closes the store's connections and waits until they are closed. Until then SQLite may
    /// still be checkpointing and removing its `-wal` and `-shm` files, so whoever copies or
    /// removes the database files afterwards should close first.
    pub async fn close(&self) {
        self.inner().close().await;
    }
}

impl SqlStore {
    /// Opens the store; the schema must be exactly this build's.
    pub(crate) async fn open(options: &ConnectOptions) -> Result<SqlStore, AdapterError> {
        let backend = Backend::open(options, Mode::Use).await?;
        if let Err(error) = source_is_not_ours(options, backend.layout()) {
            backend.close().await;
            return Err(error);
        }
        let mut store = SqlStore {
            backend,
            options: options.clone(),
            location: options.location(),
            source: None,
        };
        let checked =
            store.scrubbed(on_backend!(&store.backend, ops, pool => ops::check_schema(pool).await));
        if let Err(error) = checked {
            let error = store.explain_missing_schema(error).await;
            store.backend.close().await;
            return Err(match error {
                AdapterError::Unavailable(why) => AdapterError::unavailable(
                    why.kind,
                    format!("{}: {}", store.location, why.message),
                ),
                other => other,
            });
        }
        if let Some(mapping) = &options.source {
            let prepared = on_backend!(&store.backend, ops, pool => {
                ops::prepare_source(pool, mapping).await
            });
            match store.scrubbed(prepared) {
                Ok(prepared) => store.source = Some(prepared),
                Err(error) => {
                    store.backend.close().await;
                    return Err(error);
                }
            }
        }
        Ok(store)
    }

    /// A schema that looks missing may only be out of the role's reach: say so.
    async fn explain_missing_schema(&self, error: AdapterError) -> AdapterError {
        #[cfg(feature = "postgres")]
        if let (AdapterError::Unavailable(_), Backend::Postgres(pool)) = (&error, &self.backend)
            && let Ok(hidden) = postgres::schemas_without_usage(pool).await
            && !hidden.is_empty()
        {
            return AdapterError::unavailable(
                crate::error::UnavailableKind::Privilege,
                format!(
                    "the role may not use schema {} (no USAGE privilege); {}",
                    hidden.join(", "),
                    error::GRANTS_HINT
                ),
            );
        }
        error
    }

    /// The kill-switch source reading this database's control row.
    pub fn control_row(&self) -> ControlRow {
        ControlRow {
            backend: self.backend.clone(),
            options: self.options.clone(),
            location: self.location.clone(),
        }
    }

    /// Sets the control row (see [`set_control`]).
    pub async fn set_control(
        &self,
        enabled: bool,
        reason: &str,
    ) -> Result<ControlState, AdapterError> {
        self.scrubbed(
            on_backend!(&self.backend, ops, pool => ops::set_control(pool, enabled, reason).await),
        )
    }

    /// Reads the control row.
    pub async fn control_state(&self) -> Result<ControlState, AdapterError> {
        self.scrubbed(on_backend!(&self.backend, ops, pool => ops::control_state(pool).await))
    }

    /// Closes the pool (pending operations finish first).
    pub async fn close(&self) {
        self.backend.close().await;
    }

    fn scrubbed<T>(&self, result: Result<T, AdapterError>) -> Result<T, AdapterError> {
        result.map_err(|e| scrub(e, &self.options))
    }
}

/// Replaces the URL and its password-bearing pieces (`user:secret@`, `password=secret`) in an
/// error's text with their redacted forms, should a driver ever echo them. Never the bare
/// password: a one-letter password would otherwise mangle every word holding that letter.
fn scrub(error: AdapterError, options: &ConnectOptions) -> AdapterError {
    let pieces = location::secret_pieces(&options.url);
    if pieces.is_empty() {
        return error;
    }
    let clean = |mut text: String| {
        for (secret, shown) in &pieces {
            text = text.replace(secret.as_str(), shown);
        }
        text
    };
    let leaks = |text: &str| {
        pieces
            .iter()
            .any(|(secret, _)| text.contains(secret.as_str()))
    };
    match error {
        AdapterError::Unavailable(why) => AdapterError::unavailable(why.kind, clean(why.message)),
        AdapterError::Invalid(text) => AdapterError::Invalid(clean(text)),
        AdapterError::NotFound(text) => AdapterError::NotFound(clean(text)),
        AdapterError::Database(source) => {
            let text = source.to_string();
            if leaks(&text) {
                AdapterError::Database(Box::new(error::SqlError::new(clean(text))))
            } else {
                AdapterError::Database(source)
            }
        }
        other => other,
    }
}

#[async_trait]
impl LiveExecutionAdapter for SqlStore {
    fn info(&self) -> AdapterInfo {
        AdapterInfo {
            kind: self.backend.kind().to_owned(),
            live: true,
            location: self.location.clone(),
            source: self.options.source.as_ref().map(|m| m.table.clone()),
        }
    }

    async fn call<'a>(&self, op: Op<'a>, claim: Option<&'a LeaseClaim>) -> AdapterResult<Reply> {
        let source = self.source.as_ref();
        let reply =
            on_backend!(&self.backend, ops, pool => dispatch!(ops, pool, op, claim, source));
        self.scrubbed(reply)
    }
}

/// An operation's answer as the call's reply: each payload converts into its own
/// ([`Reply`]'s `From`s), so that the answer's type, not a hand-written variant, picks it.
fn reply<T: Into<Reply>>(answer: AdapterResult<T>) -> AdapterResult<Reply> {
    answer.map(Into::into)
}

/// Runs `op` on one backend's operations module: the one place that maps a call to its SQL.
///
/// A claimed mutation ([`crate::OpSpec::claimed`]) hands `$claim` to its operation, which checks
/// it inside its own transaction before writing anything (`ops::leases::begin_claimed`). Any
/// other call that carries a claim has it checked first, in a transaction of its own, so that a
/// runner that lost its lease is refused on every backend as the simulator refuses it.
macro_rules! dispatch {
    ($ops:ident, $pool:ident, $op:expr, $claim:expr, $source:expr) => {{
        let op = $op;
        let claim: Option<&LeaseClaim> = $claim;
        match claim {
            Some(claim) if !op.kind().spec().claimed => $ops::check_claim_alone($pool, claim).await,
            _ => Ok(()),
        }?;
        match op {
            Op::Preflight => reply($ops::check_schema($pool).await),
            Op::LoadScope(scope) => reply($ops::load_scope($pool, scope).await),
            Op::LoadHeads(scope) => reply($ops::load_heads($pool, scope).await),
            Op::HeadsPage { after, limit } => reply($ops::heads_page($pool, after, limit).await),
            Op::Generations(document) => reply($ops::generations($pool, document).await),
            Op::GenerationsOf(documents) => reply($ops::generations_of($pool, documents).await),
            Op::GenerationUnits {
                document,
                generation,
            } => reply($ops::generation_units($pool, document, generation).await),
            Op::GenerationDigests {
                document,
                generation,
            } => reply($ops::generation_digests($pool, document, generation).await),
            Op::GenerationDigestsOf {
                documents,
                generation,
            } => reply($ops::generation_digests_of($pool, documents, generation).await),
            Op::ActiveUnits(document) => reply($ops::active_units($pool, document).await),
            Op::ActiveUnitsOf(documents) => reply($ops::active_units_of($pool, documents).await),
            Op::ActiveUnitsPage { after, limit } => {
                reply($ops::active_units_page($pool, after, limit).await)
            }
            Op::SourceFacts {
                document,
                generation,
            } => reply($ops::source_facts($pool, document, generation).await),
            Op::Census => reply($ops::census($pool).await),
            Op::ScopeCensus(documents) => reply($ops::scope_census($pool, documents).await),
            Op::ScopeCensusSummary(documents) => {
                reply($ops::scope_census_summary($pool, documents).await)
            }
            Op::ChangedSince(mark) => reply($ops::changed_since($pool, mark).await),
            Op::Snapshot => reply($ops::snapshot($pool).await),
            Op::LoadRun(run) => reply($ops::load_run($pool, run).await),
            Op::ListRuns => reply($ops::list_runs($pool).await),
            Op::RecentRuns { limit } => reply($ops::recent_runs($pool, limit).await),
            Op::LoadPlan(run) => reply($ops::load_plan($pool, run).await),
            Op::LoadPlanPart { run, part } => reply($ops::load_plan_part($pool, run, part).await),
            Op::LoadReports(run) => reply($ops::load_reports($pool, run).await),
            Op::LoadBackup(run) => reply($ops::load_backup($pool, run).await),
            Op::LoadBackupPart { run, part } => {
                reply($ops::load_backup_part($pool, run, part).await)
            }
            Op::LoadLeases => reply($ops::load_leases($pool).await),
            Op::SyncSource { scope, every_row } => {
                reply($ops::sync_source($pool, $source, scope, every_row).await)
            }
            Op::PutDocuments(documents) => reply($ops::put_documents($pool, documents).await),
            Op::BeginRun(record) => $ops::begin_run($pool, record, claim)
                .await
                .map(|r| Reply::Run(Some(r))),
            Op::RecordPhase { run, phase } => {
                reply($ops::record_phase($pool, run, phase, claim).await)
            }
            Op::SetRunStatus { run, status } => {
                reply($ops::set_run_status($pool, run, status, claim).await)
            }
            Op::SavePlan { run, plan } => reply($ops::save_plan($pool, run, plan, claim).await),
            Op::SavePlanPart { run, seq, part } => {
                reply($ops::save_part($pool, &$ops::PLAN_PARTS, run, seq, part, claim).await)
            }
            Op::SealPlan {
                run,
                head,
                parts,
                sha256,
            } => reply(
                $ops::seal_parts($pool, &$ops::PLAN_PARTS, run, parts, sha256, head, claim).await,
            ),
            Op::SaveReport { run, report } => reply($ops::save_report($pool, run, report).await),
            Op::SaveBackup {
                run,
                artifact,
                sha256,
            } => reply($ops::save_backup($pool, run, artifact, sha256, claim).await),
            Op::SaveBackupPart { run, seq, part } => {
                reply($ops::save_part($pool, &$ops::BACKUP_PARTS, run, seq, part, claim).await)
            }
            Op::DiscardBackupParts { run } => {
                reply($ops::discard_parts($pool, &$ops::BACKUP_PARTS, run, claim).await)
            }
            Op::SealBackup { run, parts, sha256 } => reply(
                $ops::seal_parts($pool, &$ops::BACKUP_PARTS, run, parts, sha256, "", claim).await,
            ),
            Op::Fence { run, expectations } => {
                reply($ops::fence($pool, run, expectations, claim).await)
            }
            Op::WriteUnits { run, units } => {
                reply($ops::write_units($pool, run, units, claim).await)
            }
            Op::Enact { run, expectations } => {
                reply($ops::enact($pool, run, expectations, claim, $source).await)
            }
            Op::Restore { run, backup } => reply($ops::restore($pool, run, backup, claim).await),
            Op::PurgeGenerations(targets) => reply($ops::purge_generations($pool, targets).await),
            Op::AcquireLease { run, holder, ttl } => {
                reply($ops::acquire_lease($pool, run, holder, ttl).await)
            }
            Op::RenewLease { run, holder, ttl } => {
                reply($ops::renew_lease($pool, run, holder, ttl).await)
            }
            Op::ReleaseLease { run, holder } => {
                reply($ops::release_lease($pool, run, holder).await)
            }
        }
    }};
}
use dispatch;

/// Kill-switch source: the database's shared `control` row, read at every check.
///
/// `execution_enabled = false` closes execution for every runner on the database; `true`
/// abstains: the row can only close the gate, never open it on its own. A missing row or an
/// unreadable database closes it too.
#[derive(Clone, Debug)]
pub struct ControlRow {
    backend: Backend,
    options: ConnectOptions,
    location: String,
}

impl ControlRow {
    fn how_to_open(&self) -> String {
        format!(
            "UPDATE {} SET execution_enabled = true, reason = '…' on {}, or run \
             `iu-cutter control enable --reason …`",
            self.backend.layout().name("control"),
            self.location
        )
    }
}

#[async_trait]
impl GateSource for ControlRow {
    fn name(&self) -> String {
        format!("control row (database {})", self.location)
    }

    async fn verdict(&self) -> Result<Verdict, AdapterError> {
        let state = on_backend!(&self.backend, ops, pool => ops::control_state(pool).await)
            .map_err(|e| scrub(e, &self.options));
        match state {
            Ok(state) if state.execution_enabled => Ok(Verdict::Abstain),
            Ok(state) => Ok(Verdict::Closed {
                how_to_open: format!(
                    "{} (disabled at {}: {})",
                    self.how_to_open(),
                    state.updated_at,
                    state.reason
                ),
            }),
            Err(AdapterError::NotFound(_)) => Ok(Verdict::Closed {
                how_to_open: format!(
                    "the control row is missing; run `iu-cutter init` on {} to restore it",
                    self.location
                ),
            }),
            Err(error) => Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_options_hides_the_password() {
        let options = ConnectOptions::new("postgres://me:hunter2@db:5432/x").with_pg_schema("t_1");
        let shown = format!("{options:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("me:***@db:5432/x"), "{shown}");
        assert_eq!(
            options.location(),
            "postgres://me:***@db:5432/x (schema t_1)"
        );
    }

    #[test]
    fn scrub_removes_a_password_echoed_by_a_driver() {
        let options = ConnectOptions::new("postgres://me:hunter2@db/x");
        let error = scrub(
            AdapterError::Database(Box::new(error::SqlError::new(
                "bad url postgres://me:hunter2@db/x".into(),
            ))),
            &options,
        );
        assert!(!error.to_string().contains("hunter2"), "{error}");
        let error = scrub(
            AdapterError::Unavailable("me:hunter2@db leaked".into()),
            &options,
        );
        assert_eq!(error.to_string(), "store unavailable: me:***@db leaked");
    }

    #[test]
    fn scrub_of_a_short_password_leaves_other_words_alone() {
        // Issue 12: with password `e`, "connect" read "conn***ct".
        let options = ConnectOptions::new("postgres://me:e@db/x");
        let error = scrub(
            AdapterError::Unavailable(
                "cannot connect to postgres://me:e@db/x: refused by me:e@db".into(),
            ),
            &options,
        );
        assert_eq!(
            error.to_string(),
            "store unavailable: cannot connect to postgres://me:***@db/x: refused by me:***@db"
        );
    }
}
