//! The one place where configuration becomes a concrete live adapter.
//!
//! Every store handed out here is the live SQL store behind the kill switch ([`sql::connect`]
//! adds the database's control row to the gate built here). Two kinds exist, as two types:
//!
//! - [`LiveStore`]: the gate is the configuration's (`execution_enabled` or `--execute`, the stop
//!   file, the control row); `run --mode live`, `import`, `resume`, `enact`, `verify`,
//!   `rollback` and `purge` use it.
//! - [`ReadOnlyStore`]: the gate is closed for good, so the store cannot be mutated through it;
//!   `plan`, `status`, `units`, `diff`, `report` and the dry run's reads use it.
//!
//! Nothing here knows the simulator: an unreachable database is an error
//! ([`CliError::StoreUnavailable`]), never a reason to run somewhere else.

use std::sync::Arc;

use iu_cutter_live_execution::sql::{self, SqlStore};
use iu_cutter_live_execution::{
    AdapterError, ExecutionGate, Guarded, LiveExecutionAdapter, ManualSwitch, StopFile,
    UnavailableKind,
};

use iu_cutter_phase_core::BackOff;

use crate::cli::config::Config;
use crate::cli::error::CliError;
use crate::cli::provenance::Identity;

/// Name of the kill-switch source fed by the configuration and `--execute`.
pub(crate) const SWITCH_NAME: &str = "configuration execution_enabled / --execute";
/// How to open it.
pub(crate) const SWITCH_HOW_TO_OPEN: &str =
    "pass --execute or set execution_enabled = true in cutter.toml";

/// How to open it when a server holds it: a request has no `--execute` to pass, the operator
/// restarts the server with it (or with the configuration's switch on).
pub(crate) const SERVE_SWITCH_HOW_TO_OPEN: &str = "the operator restarts the server as `iu-cutter serve --execute` (or sets \
     execution_enabled = true in cutter.toml, then restarts it); a dry run (mode=simulate) \
     needs no switch";

/// The kill switch for a command that may mutate: open when the configuration or `--execute`
/// opens it and neither the stop file nor (added on connect) the control row closes it.
pub(crate) fn mutation_gate(config: &Config, execute: bool) -> ExecutionGate {
    gate_opened_by(config, execute, SWITCH_HOW_TO_OPEN)
}

/// [`mutation_gate`] for `serve`, whose closed switch tells an API client what the operator
/// does to open it ([`SERVE_SWITCH_HOW_TO_OPEN`]).
pub(crate) fn serve_gate(config: &Config, execute: bool) -> ExecutionGate {
    gate_opened_by(config, execute, SERVE_SWITCH_HOW_TO_OPEN)
}

fn gate_opened_by(config: &Config, execute: bool, how_to_open: &str) -> ExecutionGate {
    ExecutionGate::new()
        .with_source(ManualSwitch::new(
            SWITCH_NAME,
            config.execution_enabled || execute,
            how_to_open,
        ))
        .with_source(StopFile::new(config.stop_file.clone()))
}

/// A gate that never opens: for commands that only read.
fn read_only_gate(command: &str) -> ExecutionGate {
    ExecutionGate::new().with_source(ManualSwitch::new(
        format!("read-only access ({command} never mutates the store)"),
        false,
        "use run, import, resume, enact, verify, rollback or purge to change the store",
    ))
}

/// The live store, gated by the configuration's kill switch, and who acts on it.
pub(crate) struct LiveStore(Guarded<SqlStore>, Identity);

impl LiveStore {
    /// Connects to the configured database behind `mutation_gate(config, execute)`.
    pub(crate) async fn open(
        config: &Config,
        execute: bool,
        retry: &str,
    ) -> Result<Self, CliError> {
        Self::open_behind(config, mutation_gate(config, execute), retry).await
    }

    /// [`LiveStore::open`] behind `gate` (`serve`'s, say).
    pub(crate) async fn open_behind(
        config: &Config,
        gate: ExecutionGate,
        retry: &str,
    ) -> Result<Self, CliError> {
        let (store, identity) = connect(config, gate, retry).await?;
        Ok(LiveStore(store, identity))
    }

    /// Who acts on the store: the operating-system user and the database role.
    pub(crate) fn identity(&self) -> Identity {
        self.1.clone()
    }

    /// The adapter, for the runner.
    pub(crate) fn into_adapter(self) -> Arc<dyn LiveExecutionAdapter> {
        Arc::new(self.0)
    }

    /// The adapter, borrowed.
    pub(crate) fn adapter(&self) -> &dyn LiveExecutionAdapter {
        &self.0
    }

    /// The configured `[backoff]`, reading this store's database behind this store's kill
    /// switch; `None` when none is configured. Refused on SQLite, which has no other sessions.
    pub(crate) fn back_off(&self, config: &Config) -> Result<Option<BackOff>, CliError> {
        let Some((query, threshold)) = &config.back_off else {
            return Ok(None);
        };
        let probe = self.0.load_probe(query.clone()).map_err(|error| {
            CliError::config(
                format!("{}: {error}", config.origin),
                "remove [backoff], or use a PostgreSQL store",
            )
        })?;
        Ok(Some(BackOff {
            probe: Arc::new(probe),
            threshold: *threshold as f64,
        }))
    }

    /// The kill switch the store is behind (configuration, stop file, control row), to show its
    /// state; the store checks it on every mutating call regardless.
    pub(crate) fn gate(&self) -> ExecutionGate {
        self.0.gate().clone()
    }

    /// With a `[source]`: whether the reader view compares this configuration's source.
    pub(crate) async fn reader_view(&self) -> Result<Option<bool>, AdapterError> {
        self.0.reader_view_is_current().await
    }
}

/// The live store with a kill switch that never opens: it can only be read.
pub(crate) struct ReadOnlyStore(Guarded<SqlStore>, Identity);

impl ReadOnlyStore {
    /// Connects to the configured database for reading only.
    pub(crate) async fn open(
        config: &Config,
        command: &str,
        retry: &str,
    ) -> Result<Self, CliError> {
        let (store, identity) = connect(config, read_only_gate(command), retry).await?;
        Ok(ReadOnlyStore(store, identity))
    }

    /// Who reads the store: the operating-system user and the database role.
    pub(crate) fn identity(&self) -> Identity {
        self.1.clone()
    }

    /// The adapter; every mutating call is refused.
    pub(crate) fn adapter(&self) -> &dyn LiveExecutionAdapter {
        &self.0
    }

    /// The adapter, shared (for a runner that only reads); every mutating call is refused.
    pub(crate) fn into_adapter(self) -> Arc<dyn LiveExecutionAdapter> {
        Arc::new(self.0)
    }
}

/// Connects, and reads who the store will see acting (the database role, for the audit trail).
async fn connect(
    config: &Config,
    gate: ExecutionGate,
    retry: &str,
) -> Result<(Guarded<SqlStore>, Identity), CliError> {
    let store = sql::connect_with(&config.connect_options(), gate)
        .await
        .map_err(|error| connect_error(config, error, retry))?;
    let database_user = store
        .database_user()
        .await
        .map_err(|error| connect_error(config, error, retry))?;
    Ok((store, Identity::new(database_user)))
}

/// `iu-cutter init`: creates the database if missing and brings its schema to this build's.
pub(crate) async fn init(config: &Config) -> Result<sql::InitReport, CliError> {
    sql::init_with(&config.connect_options())
        .await
        .map_err(|error| connect_error(config, error, "iu-cutter init"))
}

/// What `iu-cutter init` would do, read without changing anything.
pub(crate) async fn init_plan(config: &Config) -> Result<sql::InitPlan, CliError> {
    sql::init_plan(&config.connect_options())
        .await
        .map_err(|error| connect_error(config, error, "iu-cutter init"))
}

/// The kill switch of `init`: the configuration's, with the store's control row when the store
/// already has one (an operator who closed execution on the database closes migrations too).
pub(crate) async fn init_gate(config: &Config, execute: bool) -> ExecutionGate {
    let gate = mutation_gate(config, execute);
    if !(execute || config.execution_enabled) {
        // Closed already: nothing more is opened (opening the store to read its control row
        // would already switch a SQLite file to WAL).
        return gate;
    }
    match sql::control_status(&config.connect_options()).await {
        Ok(state) if !state.execution_enabled => gate.with_source(ManualSwitch::new(
            "the store's control row",
            false,
            "iu-cutter control enable",
        )),
        _ => gate,
    }
}

/// `iu-cutter init --grant-runtime ROLE`: grants `role` what every other command needs.
pub(crate) async fn grant_runtime(
    config: &Config,
    role: &str,
) -> Result<sql::GrantReport, CliError> {
    let retry = format!("iu-cutter init --grant-runtime {role}");
    sql::grant_runtime(&config.connect_options(), role)
        .await
        .map_err(|error| connect_error(config, error, &retry))
}

/// An error met while opening the store, as the operator needs it.
pub(crate) fn connect_error(config: &Config, error: AdapterError, retry: &str) -> CliError {
    let location = config.location();
    match error {
        AdapterError::Unavailable(why) => {
            // By kind, never by the message's words: a reworded message must not change the
            // advice.
            let next = match why.kind {
                UnavailableKind::NewerSchema => format!(
                    "use the iu-cutter version that migrated {location} (or a newer one), then: \
                     {retry}"
                ),
                UnavailableKind::NeedsInit => {
                    let options = config.connect_options();
                    let earlier = match (&config.schema, &options.pg_schema) {
                        (None, Some(schema)) => format!(
                            " (PostgreSQL: iu-cutter's tables are looked for in schema {schema}; \
                             a store an earlier version made in `public` is used with schema = \
                             \"public\")"
                        ),
                        _ => String::new(),
                    };
                    format!(
                        "create or upgrade the store with `iu-cutter init --execute` \
                         (database_url = {location}){earlier}, then: {retry}"
                    )
                }
                UnavailableKind::Tls => format!(
                    "fix the TLS settings named above (sslmode, sslrootcert, sslcert, sslkey in \
                     database_url ({location}, from {}) or the PGSSL* variables), then: {retry}",
                    config.database_url_origin
                ),
                UnavailableKind::Privilege => format!(
                    "connect as a role with the grants README lists under \"Roles and grants\" \
                     (`iu-cutter init` needs the owner role; the owner grants a runtime role \
                     with `iu-cutter init --grant-runtime ROLE`), then: {retry}"
                ),
                UnavailableKind::Busy => format!(
                    "retry when the database is less busy, or raise lock_timeout or \
                     statement_timeout in {}: {retry}",
                    config.origin
                ),
                UnavailableKind::Source => format!(
                    "fix [source] in {} (it names the application's table, not one of \
                     iu-cutter's; table, id, body, revision, metadata and `where` must exist, and \
                     this role needs SELECT on the table), then: {retry}",
                    config.origin
                ),
                UnavailableKind::Connection
                | UnavailableKind::EditedSchema
                | UnavailableKind::NotBuilt
                | UnavailableKind::Other => format!(
                    "check database_url ({location}, from {}), that the database server is \
                     running and reachable and that the credentials are right, then: {retry}",
                    config.database_url_origin
                ),
            };
            CliError::StoreUnavailable {
                message: why.message,
                next,
            }
        }
        AdapterError::Invalid(why) => CliError::config(
            why,
            format!(
                "fix database_url in {} (sqlite://path or postgres://user:password@host:port/db)",
                config.origin
            ),
        ),
        other => CliError::StoreUnavailable {
            message: format!("cannot open the store at {location}: {other}"),
            next: format!("check the database at {location}, then: {retry}"),
        },
    }
}
