//! Configuration: `cutter.toml` (or `--config PATH`), then `IU_CUTTER_*` environment variables
//! on top, then defaults. Unknown keys and unknown `IU_CUTTER_*` variables are rejected by name.
//!
//! Relative paths in the file (`backup_dir`, `reports_dir`, `stop_file`, and the file of a
//! SQLite `database_url`) are relative to the file's directory, so a configuration means the
//! same wherever the program is started; relative paths from variables and flags are relative
//! to the working directory. `--database-url` overrides both the file and
//! `IU_CUTTER_DATABASE_URL`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use iu_cutter_cut::Cutter;
use iu_cutter_live_execution::sql::{ConnectOptions, PgTimeouts, redact};
use iu_cutter_live_execution::{
    CutRules, LevelRule, LoadQuery, MarkerSet, Preset, SourceMapping, sha256_hex,
};
use iu_cutter_orchestrator::Throttle;
use iu_cutter_orchestrator::clock::{format_age, parse_age};
use serde::Deserialize;

use crate::cli::error::CliError;

/// The compiled-in default of `execution_enabled`: the kill switch is off unless configured on.
/// `iu-cutter version` reports this very constant.
pub(crate) const EXECUTION_ENABLED_DEFAULT: bool = false;
/// The configuration file read from the working directory when `--config` is not given.
pub(crate) const DEFAULT_CONFIG_FILE: &str = "cutter.toml";
/// The embedded default store (created only by `iu-cutter init`).
pub(crate) const DEFAULT_DATABASE_URL: &str = "sqlite://iu-cutter.sqlite";
pub(crate) const DEFAULT_BACKUP_DIR: &str = ".iu-cutter/backups";
pub(crate) const DEFAULT_REPORTS_DIR: &str = ".iu-cutter/reports";
pub(crate) const DEFAULT_STOP_FILE: &str = ".iu-cutter/STOP";
pub(crate) const DEFAULT_BATCH_UNITS: usize = iu_cutter_phase_core::DEFAULT_BATCH_UNITS;
pub(crate) const DEFAULT_PRESET: Preset = Preset::Auto;
/// How old a held run's verification may be when it is enacted.
pub(crate) const DEFAULT_HELD_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// Prefix of every configuration variable.
pub(crate) const ENV_PREFIX: &str = "IU_CUTTER_";
/// Variables under this prefix belong to test harnesses (e.g. `IU_CUTTER_TEST_PG_URL`) and are
/// ignored here.
const ENV_TEST_PREFIX: &str = "IU_CUTTER_TEST_";
/// A build-time variable of build.rs, not configuration.
const ENV_BUILD_COMMIT: &str = "IU_CUTTER_BUILD_COMMIT";
/// The program's log format (read before the configuration, like `RUST_LOG`), not configuration.
pub(crate) const ENV_LOG_FORMAT: &str = "IU_CUTTER_LOG_FORMAT";

/// Every configuration variable and the key it sets.
pub(crate) const ENV_VARS: [(&str, &str); 29] = [
    ("IU_CUTTER_DATABASE_URL", "database_url"),
    ("IU_CUTTER_EXECUTION_ENABLED", "execution_enabled"),
    ("IU_CUTTER_MODE", "mode"),
    ("IU_CUTTER_BACKUP_DIR", "backup_dir"),
    ("IU_CUTTER_REPORTS_DIR", "reports_dir"),
    ("IU_CUTTER_STOP_FILE", "stop_file"),
    ("IU_CUTTER_BATCH_UNITS", "batch_units"),
    ("IU_CUTTER_BATCH_DOCUMENTS", "batch_documents"),
    ("IU_CUTTER_HELD_MAX_AGE", "held_max_age"),
    ("IU_CUTTER_LEASE_TTL", "lease_ttl"),
    ("IU_CUTTER_PRESET", "rules.preset"),
    ("IU_CUTTER_MAX_UNIT_BYTES", "rules.max_unit_bytes"),
    ("IU_CUTTER_SCHEMA", "schema"),
    ("IU_CUTTER_LOCK_TIMEOUT", "lock_timeout"),
    ("IU_CUTTER_MAX_RATE", "max_rate"),
    ("IU_CUTTER_BATCH_PAUSE", "batch_pause"),
    (
        "IU_CUTTER_BACKOFF_MAX_ACTIVE_CONNECTIONS",
        "backoff.max_active_connections",
    ),
    ("IU_CUTTER_BACKOFF_PROBE", "backoff.probe"),
    ("IU_CUTTER_BACKOFF_THRESHOLD", "backoff.threshold"),
    ("IU_CUTTER_STATEMENT_TIMEOUT", "statement_timeout"),
    ("IU_CUTTER_SOURCE_TABLE", "source.table"),
    ("IU_CUTTER_SOURCE_ID", "source.id"),
    ("IU_CUTTER_SOURCE_BODY", "source.body"),
    ("IU_CUTTER_SOURCE_REVISION", "source.revision"),
    ("IU_CUTTER_SOURCE_WHERE", "source.where"),
    ("IU_CUTTER_SOURCE_METADATA", "source.metadata"),
    ("IU_CUTTER_SERVE_BIND", "serve.bind"),
    ("IU_CUTTER_SERVE_TOKEN", "serve.token"),
    ("IU_CUTTER_SERVE_DRY_RUNS_KEPT", "serve.dry_runs_kept"),
];

/// iu-cutter's own PostgreSQL schema when neither `schema` nor the URL's `search_path` names
/// one: its tables never mix with an application's.
pub(crate) const DEFAULT_PG_SCHEMA: &str = "iu_cutter";

/// PostgreSQL: how long a statement waits behind another session's row lock (an application
/// holding a document's row) before the call gives up, changing nothing; the run is resumable.
pub(crate) const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(10);
/// PostgreSQL: how long any one statement may run.
pub(crate) const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(600);

/// The configuration help shown by `iu-cutter --help`.
pub(crate) const CONFIG_HELP: &str = "\
Configuration: ./cutter.toml (or --config PATH), then IU_CUTTER_* variables, then defaults.
  database_url       IU_CUTTER_DATABASE_URL       sqlite://iu-cutter.sqlite (or postgres://…)
  execution_enabled  IU_CUTTER_EXECUTION_ENABLED  false (the kill switch is off by default)
  mode               IU_CUTTER_MODE               live (or simulate)
  backup_dir         IU_CUTTER_BACKUP_DIR         .iu-cutter/backups
  reports_dir        IU_CUTTER_REPORTS_DIR        .iu-cutter/reports
  stop_file          IU_CUTTER_STOP_FILE          .iu-cutter/STOP (present = execution closed)
  batch_units        IU_CUTTER_BATCH_UNITS        5000
  batch_documents    IU_CUTTER_BATCH_DOCUMENTS    500 (per fence/enact transaction; 0: whole scope)
  held_max_age       IU_CUTTER_HELD_MAX_AGE       24h (older held verifications: verify again)
  lease_ttl          IU_CUTTER_LEASE_TTL          30s (a crashed runner's run resumable after it)
  [rules] preset     IU_CUTTER_PRESET             auto (markdown, legal-en, legal-vi, paragraphs)
  [rules] levels     -                            [{ name = \"…\", pattern = \"…\" }, …]
  [rules] max_unit_bytes IU_CUTTER_MAX_UNIT_BYTES none (at least 64)
  schema             IU_CUTTER_SCHEMA             PostgreSQL: iu_cutter (iu-cutter's own tables)
  max_rate           IU_CUTTER_MAX_RATE           none (at most this many units written per second)
  batch_pause        IU_CUTTER_BATCH_PAUSE        none (a pause after every batch, e.g. 1s)
  [backoff] max_active_connections  IU_CUTTER_BACKOFF_MAX_ACTIVE_CONNECTIONS  PostgreSQL: none
                     (wait between batches while more sessions than this are active)
  [backoff] probe, threshold  IU_CUTTER_BACKOFF_PROBE, _THRESHOLD  PostgreSQL: none (wait
                     between batches while this SELECT returns more than the threshold)
  lock_timeout       IU_CUTTER_LOCK_TIMEOUT       PostgreSQL: 10s (wait behind others' row locks)
  statement_timeout  IU_CUTTER_STATEMENT_TIMEOUT  PostgreSQL: 10m (longest single statement)
  [source] table     IU_CUTTER_SOURCE_TABLE       none: cut an application's table, e.g. public.laws
  [source] id, body  IU_CUTTER_SOURCE_ID, _BODY   its id and text columns (read, never written)
  [source] revision  IU_CUTTER_SOURCE_REVISION    optional: a column that moves on every change
  [source] where     IU_CUTTER_SOURCE_WHERE       optional: one parameter-free condition
  [source] metadata  IU_CUTTER_SOURCE_METADATA    optional: columns carried into the units (a,b)
  [serve] bind       IU_CUTTER_SERVE_BIND         127.0.0.1:8080 (where iu-cutter serve listens)
  [serve] token      IU_CUTTER_SERVE_TOKEN        none: every POST refused (the bearer token)
  [serve] token_env  -                            none (the variable that holds the token)
  [serve] dry_runs_kept  IU_CUTTER_SERVE_DRY_RUNS_KEPT  32 (older settled dry runs are forgotten)
Unknown keys and unknown IU_CUTTER_* variables are errors. --database-url overrides database_url.
Relative paths in the file are relative to its directory; from variables, to the working one.
PostgreSQL also reads PGPASSWORD, PGPASSFILE, PGHOST, PGPORT, PGUSER, PGDATABASE and, for TLS,
PGSSLMODE, PGSSLROOTCERT, PGSSLCERT, PGSSLKEY (the URL's sslmode, sslrootcert, sslcert, sslkey
win); see README, \"TLS to PostgreSQL\" and \"Roles and grants\".";

/// Where the run happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Mode {
    /// On the live store, behind the kill switch.
    Live,
    /// On a simulator seeded from a snapshot of the live store, which is only read.
    Simulate,
}

/// The effective configuration.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Config {
    /// Where the store is (may hold a password: print it only through [`Config::location`]).
    pub(crate) database_url: String,
    /// Whether the configuration opens the kill switch.
    pub(crate) execution_enabled: bool,
    /// The default mode of `run`.
    pub(crate) mode: Mode,
    /// Where backups go.
    pub(crate) backup_dir: PathBuf,
    /// Where run reports go.
    pub(crate) reports_dir: PathBuf,
    /// A file whose presence closes the kill switch.
    pub(crate) stop_file: PathBuf,
    /// Units per write or read batch.
    pub(crate) batch_units: usize,
    /// Documents per fence or enact transaction (`0`: the whole scope in one).
    pub(crate) batch_documents: usize,
    /// How old a held run's verification may be when `enact` runs.
    pub(crate) held_max_age: Duration,
    /// How long a run's lease lives after each renewal (the heartbeat renews every third).
    pub(crate) lease_ttl: Duration,
    /// How to cut.
    pub(crate) rules: CutRules,
    /// PostgreSQL: iu-cutter's schema, when configured.
    pub(crate) schema: Option<String>,
    /// PostgreSQL: `lock_timeout` and `statement_timeout`.
    pub(crate) pg_timeouts: PgTimeouts,
    /// How fast a run may write (`max_rate`, `batch_pause`).
    pub(crate) throttle: Throttle,
    /// The `[backoff]` table as configured (checked by `validate`, which builds
    /// [`Config::back_off`]).
    pub(crate) back_off_parts: BackOffParts,
    /// PostgreSQL: what to read between batches, and the reading above which the run waits.
    pub(crate) back_off: Option<(LoadQuery, u64)>,
    /// The application table the documents are read from, as configured (checked by
    /// `validate`, which builds [`Config::source`]).
    pub(crate) source_parts: SourceParts,
    /// The application table the documents are read from, if any.
    pub(crate) source: Option<SourceMapping>,
    /// Where the configuration came from, for messages.
    pub(crate) origin: String,
    /// Where `database_url` came from (`the default`, the file, or the variable), for messages.
    pub(crate) database_url_origin: String,
    /// `iu-cutter serve`'s settings (`[serve]`); never part of the configuration's sha256.
    pub(crate) serve: ServeSettings,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("database_url", &self.location())
            .field("execution_enabled", &self.execution_enabled)
            .field("mode", &self.mode)
            .field("backup_dir", &self.backup_dir)
            .field("reports_dir", &self.reports_dir)
            .field("stop_file", &self.stop_file)
            .field("batch_units", &self.batch_units)
            .field("batch_documents", &self.batch_documents)
            .field("held_max_age", &format_age(self.held_max_age))
            .field("lease_ttl", &format_age(self.lease_ttl))
            .field("rules", &self.rules)
            .field("schema", &self.schema)
            .field("pg_timeouts", &self.pg_timeouts)
            .field("throttle", &self.throttle)
            .field("back_off", &self.back_off)
            .field("source", &self.source)
            .field("origin", &self.origin)
            .field("database_url_origin", &self.database_url_origin)
            .field("serve", &self.serve)
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: DEFAULT_DATABASE_URL.to_owned(),
            execution_enabled: EXECUTION_ENABLED_DEFAULT,
            mode: Mode::Live,
            backup_dir: PathBuf::from(DEFAULT_BACKUP_DIR),
            reports_dir: PathBuf::from(DEFAULT_REPORTS_DIR),
            stop_file: PathBuf::from(DEFAULT_STOP_FILE),
            batch_units: DEFAULT_BATCH_UNITS,
            batch_documents: iu_cutter_phase_core::DEFAULT_BATCH_DOCUMENTS,
            held_max_age: DEFAULT_HELD_MAX_AGE,
            lease_ttl: iu_cutter_orchestrator::DEFAULT_LEASE_TTL,
            rules: CutRules::preset(DEFAULT_PRESET),
            schema: None,
            pg_timeouts: PgTimeouts {
                lock: DEFAULT_LOCK_TIMEOUT,
                statement: DEFAULT_STATEMENT_TIMEOUT,
            },
            throttle: Throttle::default(),
            back_off_parts: BackOffParts::default(),
            back_off: None,
            source_parts: SourceParts::default(),
            source: None,
            origin: "defaults".to_owned(),
            database_url_origin: "the default".to_owned(),
            serve: ServeSettings::default(),
        }
    }
}

/// `cutter.toml` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database_url: Option<String>,
    execution_enabled: Option<bool>,
    mode: Option<Mode>,
    backup_dir: Option<PathBuf>,
    reports_dir: Option<PathBuf>,
    stop_file: Option<PathBuf>,
    batch_units: Option<usize>,
    batch_documents: Option<usize>,
    held_max_age: Option<String>,
    lease_ttl: Option<String>,
    rules: Option<FileRules>,
    schema: Option<String>,
    lock_timeout: Option<String>,
    statement_timeout: Option<String>,
    max_rate: Option<u32>,
    batch_pause: Option<String>,
    backoff: Option<BackOffParts>,
    source: Option<SourceParts>,
    serve: Option<FileServe>,
}

/// The `[serve]` table, as written: where `iu-cutter serve` listens and its bearer token.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileServe {
    bind: Option<String>,
    token: Option<String>,
    token_env: Option<String>,
    dry_runs_kept: Option<usize>,
}

/// `iu-cutter serve`'s settings (`[serve]`).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ServeSettings {
    /// Where it listens; loopback by default.
    pub(crate) bind: std::net::SocketAddr,
    /// The token written in the file, if any (prefer `token_env`).
    pub(crate) token: Option<String>,
    /// The variable that holds the token, when neither the file nor `IU_CUTTER_SERVE_TOKEN`
    /// gives it.
    pub(crate) token_env: Option<String>,
    /// How many dry runs the server keeps for review (each holds a copy of its scope).
    pub(crate) dry_runs_kept: usize,
}

impl Default for ServeSettings {
    fn default() -> Self {
        ServeSettings {
            bind: iu_cutter_serve::DEFAULT_BIND,
            token: None,
            token_env: None,
            dry_runs_kept: iu_cutter_serve::DRY_RUNS_KEPT,
        }
    }
}

impl fmt::Debug for ServeSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServeSettings")
            .field("bind", &self.bind)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("token_env", &self.token_env)
            .field("dry_runs_kept", &self.dry_runs_kept)
            .finish()
    }
}

impl ServeSettings {
    /// The bearer token: `IU_CUTTER_SERVE_TOKEN`'s or the file's `token`, else the variable
    /// `token_env` names; `None` when none is set (the server then refuses every mutating
    /// request).
    pub(crate) fn token(&self) -> Option<iu_cutter_serve::Secret> {
        self.token
            .clone()
            .or_else(|| {
                self.token_env
                    .as_ref()
                    .and_then(|name| std::env::var(name).ok())
            })
            .and_then(iu_cutter_serve::Secret::new)
    }
}

/// The `[backoff]` table, as written in the file and the variables: either
/// `max_active_connections`, or a `probe` and its `threshold`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BackOffParts {
    max_active_connections: Option<u64>,
    probe: Option<String>,
    threshold: Option<u64>,
}

impl BackOffParts {
    /// Fills what `other` sets.
    fn update(&mut self, other: BackOffParts) {
        set(
            &mut self.max_active_connections,
            other.max_active_connections.map(Some),
        );
        set(&mut self.probe, other.probe.map(Some));
        set(&mut self.threshold, other.threshold.map(Some));
    }

    /// The query and threshold, `None` when nothing is set; a probe without a threshold, a
    /// threshold without a probe, both kinds at once, or a probe that is not one read-only
    /// `SELECT` is a configuration error.
    fn back_off(&self, origin: &str) -> Result<Option<(LoadQuery, u64)>, CliError> {
        let error = |what: String| {
            CliError::config(
                format!("{origin}: {what}"),
                "set [backoff] max_active_connections = N, or [backoff] probe = \"SELECT …\" \
                 with threshold = N",
            )
        };
        match (self.max_active_connections, &self.probe, self.threshold) {
            (None, None, None) => Ok(None),
            (Some(most), None, None) => Ok(Some((LoadQuery::ActiveConnections, most))),
            (None, Some(probe), Some(threshold)) => LoadQuery::custom(probe)
                .map(|query| Some((query, threshold)))
                .map_err(|e| error(e.to_string())),
            (Some(_), Some(_), _) => Err(error(
                "[backoff] sets both max_active_connections and probe; keep one".to_owned(),
            )),
            _ => Err(error(
                "[backoff] probe and threshold go together".to_owned(),
            )),
        }
    }
}

/// The `[source]` table, as written in the file and the variables.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SourceParts {
    table: Option<String>,
    id: Option<String>,
    body: Option<String>,
    revision: Option<String>,
    #[serde(rename = "where")]
    filter: Option<String>,
    metadata: Option<Vec<String>>,
}

impl SourceParts {
    /// Fills what `other` sets.
    fn update(&mut self, other: SourceParts) {
        set(&mut self.table, other.table.map(Some));
        set(&mut self.id, other.id.map(Some));
        set(&mut self.body, other.body.map(Some));
        set(&mut self.revision, other.revision.map(Some));
        set(&mut self.filter, other.filter.map(Some));
        set(&mut self.metadata, other.metadata.map(Some));
    }

    /// The mapping, `None` when no table is named; a key without a table, or a table without
    /// its id and body columns, is a configuration error naming what is missing.
    fn mapping(&self, origin: &str) -> Result<Option<SourceMapping>, CliError> {
        let Some(table) = &self.table else {
            if *self != SourceParts::default() {
                return Err(CliError::config(
                    format!("{origin}: [source] sets columns but no table"),
                    "name the application's table in [source] table (e.g. public.laws), or \
                     remove [source]",
                ));
            }
            return Ok(None);
        };
        let (Some(id), Some(body)) = (&self.id, &self.body) else {
            return Err(CliError::config(
                format!("{origin}: [source] table = {table} needs both `id` and `body`"),
                "name the id and text columns in [source] (id = \"id\", body = \"content\")",
            ));
        };
        let mut mapping = SourceMapping::new(table, id, body);
        mapping.revision = self.revision.clone();
        mapping.filter = self.filter.clone();
        mapping.metadata = self.metadata.clone().unwrap_or_default();
        mapping.validate().map_err(|error| {
            CliError::config(
                format!("{origin}: {error}"),
                "fix [source]; see iu-cutter --help",
            )
        })?;
        Ok(Some(mapping))
    }
}

/// The `[rules]` table as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRules {
    preset: Option<String>,
    levels: Option<Vec<LevelRule>>,
    max_unit_bytes: Option<u64>,
}

fn fix_config(origin: &str) -> String {
    format!(
        "fix {origin} (keys: database_url, execution_enabled, mode, backup_dir, reports_dir, \
         stop_file, batch_units, batch_documents, max_rate, batch_pause, \
         [backoff] max_active_connections | probe, threshold, held_max_age, lease_ttl, schema, \
         lock_timeout, \
         statement_timeout, [rules] preset | levels, \
         max_unit_bytes, [source] table, id, body, revision, where, metadata); see iu-cutter --help"
    )
}

impl Config {
    /// Where the store is, password removed.
    pub(crate) fn location(&self) -> String {
        redact(&self.database_url)
    }

    /// The effective configuration, canonically serialised (keys sorted, compact JSON) without
    /// secrets: the database URL's password is redacted, and where the values came from is
    /// left out.
    pub(crate) fn canonical_json(&self) -> String {
        let mode = match self.mode {
            Mode::Live => "live",
            Mode::Simulate => "simulate",
        };
        let value = serde_json::json!({
            "backup_dir": self.backup_dir.display().to_string(),
            "batch_units": self.batch_units,
            "database_url": self.location(),
            "execution_enabled": self.execution_enabled,
            "held_max_age": format_age(self.held_max_age),
            "mode": mode,
            "reports_dir": self.reports_dir.display().to_string(),
            "rules": serde_json::to_value(&self.rules).unwrap_or_default(),
            "stop_file": self.stop_file.display().to_string(),
        });
        // Keys added later appear only when set, so that an older configuration keeps its hash.
        let mut value = value;
        if let Some(map) = value.as_object_mut() {
            if self.batch_documents != iu_cutter_phase_core::DEFAULT_BATCH_DOCUMENTS {
                map.insert("batch_documents".to_owned(), self.batch_documents.into());
            }
            if let Some(rate) = self.throttle.max_units_per_second {
                map.insert("max_rate".to_owned(), rate.into());
            }
            if !self.throttle.pause_between_batches.is_zero() {
                let pause = format_age(self.throttle.pause_between_batches);
                map.insert("batch_pause".to_owned(), pause.into());
            }
            if let Some((query, threshold)) = &self.back_off {
                map.insert(
                    "backoff".to_owned(),
                    serde_json::json!({ "query": query.to_string(), "threshold": threshold }),
                );
            }
            if self.pg_timeouts != Config::default().pg_timeouts {
                let timeouts = self.pg_timeouts;
                map.insert("lock_timeout".to_owned(), format_age(timeouts.lock).into());
                map.insert(
                    "statement_timeout".to_owned(),
                    format_age(timeouts.statement).into(),
                );
            }
            if let Some(schema) = &self.schema {
                map.insert("schema".to_owned(), serde_json::json!(schema));
            }
            if let Some(source) = &self.source {
                map.insert("source".to_owned(), serde_json::json!(source));
            }
        }
        sorted(value).to_string()
    }

    /// How to connect: the URL, iu-cutter's PostgreSQL schema and the source mapping. The
    /// schema is `schema` when configured; otherwise the URL's own `search_path` when it names
    /// one, and [`DEFAULT_PG_SCHEMA`] when it does not.
    pub(crate) fn connect_options(&self) -> ConnectOptions {
        let mut options = ConnectOptions::new(self.database_url.clone());
        let postgres = self.database_url.starts_with("postgres");
        let schema = match &self.schema {
            Some(schema) => Some(schema.clone()),
            None if postgres && !self.database_url.contains("search_path") => {
                Some(DEFAULT_PG_SCHEMA.to_owned())
            }
            None => None,
        };
        if let Some(schema) = schema.filter(|_| postgres) {
            options = options.with_pg_schema(schema);
        }
        if postgres {
            options = options.with_pg_timeouts(self.pg_timeouts);
        }
        if let Some(source) = &self.source {
            options = options.with_source(source.clone());
        }
        options
    }

    /// sha256 of [`Config::canonical_json`]: equal configurations, equal hashes, whatever the
    /// password.
    pub(crate) fn sha256(&self) -> String {
        sha256_hex(self.canonical_json().as_bytes())
    }

    /// Reads the configuration file (`explicit`, which must exist, or `./cutter.toml` if present)
    /// and the process environment; `database_url`, from `--database-url`, overrides both.
    pub(crate) fn load(
        explicit: Option<&Path>,
        database_url: Option<&str>,
    ) -> Result<Config, CliError> {
        let (path, required) = match explicit {
            Some(path) => (path.to_path_buf(), true),
            None => (PathBuf::from(DEFAULT_CONFIG_FILE), false),
        };
        let file = match std::fs::read_to_string(&path) {
            Ok(text) => Some((path.display().to_string(), text)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound && !required => None,
            Err(error) => {
                return Err(CliError::config(
                    format!("cannot read {}: {error}", path.display()),
                    "check the --config path (or create cutter.toml in the working directory)",
                ));
            }
        };
        let env = std::env::vars_os()
            .filter_map(|(key, value)| {
                let key = key.into_string().ok()?;
                key.starts_with(ENV_PREFIX).then_some((key, value))
            })
            .map(|(key, value)| match value.into_string() {
                Ok(value) => Ok((key, value)),
                Err(_) => Err(CliError::config(
                    format!("environment variable {key} is not valid UTF-8"),
                    format!("set {key} to a UTF-8 value or unset it"),
                )),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut config =
            Config::from_sources(file.as_ref().map(|(o, t)| (o.as_str(), t.as_str())), env)?;
        if let Some(url) = database_url {
            config.set_database_url_flag(url)?;
        }
        Ok(config)
    }

    /// Applies `--database-url` (over the file and the variable).
    pub(crate) fn set_database_url_flag(&mut self, url: &str) -> Result<(), CliError> {
        if url.trim().is_empty() {
            return Err(CliError::config(
                "--database-url is empty",
                format!("give it a URL, e.g. {DEFAULT_DATABASE_URL}"),
            ));
        }
        self.database_url = url.trim().to_owned();
        self.database_url_origin = "--database-url".to_owned();
        self.origin = format!("{} + --database-url", self.origin);
        Ok(())
    }

    /// The configuration from a file's text (`(origin, text)`) and `IU_CUTTER_*` variables.
    pub(crate) fn from_sources(
        file: Option<(&str, &str)>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, CliError> {
        let mut config = Config::default();
        // The size limit comes from the file's [rules] or the environment, never from the
        // default preset.
        config.rules.max_unit_bytes = None;
        let mut origin = "defaults".to_owned();
        if let Some((name, text)) = file {
            config.apply_file(name, text)?;
            origin = name.to_owned();
        }
        let env: BTreeMap<String, String> = env.into_iter().collect();
        let from_env = config.apply_env(&env)?;
        if !from_env.is_empty() {
            origin = format!("{origin} + {}", from_env.join(", "));
        }
        config.origin = origin;
        config.source = config.source_parts.mapping(&config.origin)?;
        config.back_off = config.back_off_parts.back_off(&config.origin)?;
        config.validate()?;
        Ok(config)
    }

    /// Sets what the configuration file `name` (its `text`) sets. Relative paths in the file
    /// are relative to the file's directory.
    fn apply_file(&mut self, name: &str, text: &str) -> Result<(), CliError> {
        let base = Path::new(name).parent().unwrap_or(Path::new(""));
        let parsed: FileConfig = toml::from_str(text).map_err(|error| {
            CliError::config(
                format!("{name}: {}", error.to_string().trim_end()),
                fix_config(name),
            )
        })?;
        let FileConfig {
            database_url,
            execution_enabled,
            mode,
            backup_dir,
            reports_dir,
            stop_file,
            batch_units,
            batch_documents,
            held_max_age,
            lease_ttl,
            rules,
            schema,
            lock_timeout,
            statement_timeout,
            max_rate,
            batch_pause,
            backoff,
            source,
            serve,
        } = parsed;
        if let Some(backoff) = backoff {
            self.back_off_parts.update(backoff);
        }
        if let Some(serve) = serve {
            self.apply_file_serve(name, serve)?;
        }
        set(&mut self.throttle.max_units_per_second, max_rate.map(Some));
        if let Some(age) = batch_pause {
            self.throttle.pause_between_batches =
                parse_pause(&format!("{name}: batch_pause"), &age)?;
        }
        if let Some(age) = lock_timeout {
            self.pg_timeouts.lock = parse_timeout(&format!("{name}: lock_timeout"), &age)?;
        }
        if let Some(age) = statement_timeout {
            self.pg_timeouts.statement =
                parse_timeout(&format!("{name}: statement_timeout"), &age)?;
        }
        set(&mut self.schema, schema.map(Some));
        if let Some(source) = source {
            self.source_parts.update(source);
        }
        if database_url.is_some() {
            self.database_url_origin = name.to_owned();
        }
        set(
            &mut self.database_url,
            database_url.map(|url| sqlite_relative_to(&url, base)),
        );
        set(&mut self.execution_enabled, execution_enabled);
        set(&mut self.mode, mode);
        set(&mut self.backup_dir, backup_dir.map(|p| base.join(p)));
        set(&mut self.reports_dir, reports_dir.map(|p| base.join(p)));
        set(&mut self.stop_file, stop_file.map(|p| base.join(p)));
        set(&mut self.batch_units, batch_units);
        set(&mut self.batch_documents, batch_documents);
        if let Some(age) = held_max_age {
            self.held_max_age = parse_held_max_age(&format!("{name}: held_max_age"), &age)?;
        }
        if let Some(ttl) = lease_ttl {
            self.lease_ttl = parse_lease_ttl(&format!("{name}: lease_ttl"), &ttl)?;
        }
        if let Some(rules) = rules {
            self.apply_file_rules(name, rules)?;
        }
        Ok(())
    }

    /// Sets the file's `[serve]`: the address (checked here) and the token or its variable.
    fn apply_file_serve(&mut self, name: &str, serve: FileServe) -> Result<(), CliError> {
        if let Some(bind) = serve.bind {
            self.serve.bind = bind.trim().parse().map_err(|error| {
                CliError::config(
                    format!("{name}: [serve] bind = {bind:?} is not an address: {error}"),
                    "write an IP address and a port, e.g. bind = \"127.0.0.1:8080\"",
                )
            })?;
        }
        set(&mut self.serve.token, serve.token.map(Some));
        set(&mut self.serve.token_env, serve.token_env.map(Some));
        if let Some(kept) = serve.dry_runs_kept {
            self.serve.dry_runs_kept =
                at_least_one(&format!("{name}: [serve] dry_runs_kept"), kept)?;
        }
        Ok(())
    }

    /// Sets the file's `[rules]`: a shipped preset or the file's own levels (not both), and the
    /// size limit.
    fn apply_file_rules(&mut self, name: &str, rules: FileRules) -> Result<(), CliError> {
        let markers = match (rules.preset, rules.levels) {
            (Some(_), Some(_)) => {
                return Err(CliError::config(
                    format!("{name}: [rules] sets both `preset` and `levels`"),
                    "keep one: a shipped preset, or your own levels",
                ));
            }
            (Some(preset), None) => Some(MarkerSet::Preset(parse_preset(
                &preset,
                &format!("{name}: [rules] preset"),
            )?)),
            (None, Some(levels)) => Some(MarkerSet::Custom(levels)),
            (None, None) => None,
        };
        if let Some(markers) = markers {
            self.rules.markers = markers;
        }
        self.rules.max_unit_bytes = rules.max_unit_bytes;
        Ok(())
    }

    /// Sets what the `IU_CUTTER_*` variables of `env` set, and returns their names. Variables
    /// of the tests, the build and the logs are not configuration and are skipped; any other
    /// unknown or empty one is refused.
    fn apply_env<'a>(
        &mut self,
        env: &'a BTreeMap<String, String>,
    ) -> Result<Vec<&'a str>, CliError> {
        let mut applied = Vec::new();
        for (key, value) in env {
            if !key.starts_with(ENV_PREFIX)
                || key.starts_with(ENV_TEST_PREFIX)
                || key == ENV_BUILD_COMMIT
                || key == ENV_LOG_FORMAT
            {
                continue;
            }
            let Some((_, field)) = ENV_VARS.iter().find(|(name, _)| name == key) else {
                let known: Vec<&str> = ENV_VARS.iter().map(|(name, _)| *name).collect();
                return Err(CliError::config(
                    format!("unknown environment variable {key}"),
                    format!("unset {key}; the known variables are {}", known.join(", ")),
                ));
            };
            if value.trim().is_empty() {
                return Err(CliError::config(
                    format!("environment variable {key} is set but empty"),
                    format!("give {key} a value ({field}) or unset it"),
                ));
            }
            self.apply_env_var(key, field, value)?;
            applied.push(key.as_str());
        }
        Ok(applied)
    }

    /// Sets `field` (as [`ENV_VARS`] names it) from the variable `key`'s non-empty `value`.
    fn apply_env_var(&mut self, key: &str, field: &str, value: &str) -> Result<(), CliError> {
        match field {
            "database_url" => {
                self.database_url = value.trim().to_owned();
                self.database_url_origin = key.to_owned();
            }
            "execution_enabled" => self.execution_enabled = parse_bool(key, value)?,
            "mode" => {
                self.mode = match value.trim() {
                    "live" => Mode::Live,
                    "simulate" => Mode::Simulate,
                    other => {
                        return Err(CliError::config(
                            format!("{key} = `{other}`: expected `live` or `simulate`"),
                            format!("set {key} to live or simulate"),
                        ));
                    }
                }
            }
            "backup_dir" => self.backup_dir = PathBuf::from(value),
            "reports_dir" => self.reports_dir = PathBuf::from(value),
            "stop_file" => self.stop_file = PathBuf::from(value),
            "batch_units" => self.batch_units = parse_number(key, value)?,
            "batch_documents" => self.batch_documents = parse_number(key, value)?,
            "held_max_age" => self.held_max_age = parse_held_max_age(key, value)?,
            "lease_ttl" => self.lease_ttl = parse_lease_ttl(key, value)?,
            "rules.preset" => {
                self.rules.markers = MarkerSet::Preset(parse_preset(value, key)?);
            }
            "schema" => self.schema = Some(value.trim().to_owned()),
            "lock_timeout" => self.pg_timeouts.lock = parse_timeout(key, value)?,
            "max_rate" => self.throttle.max_units_per_second = Some(parse_number(key, value)?),
            "batch_pause" => self.throttle.pause_between_batches = parse_pause(key, value)?,
            "backoff.max_active_connections" => {
                self.back_off_parts.max_active_connections = Some(parse_number(key, value)?);
            }
            "backoff.probe" => self.back_off_parts.probe = Some(value.trim().to_owned()),
            "backoff.threshold" => self.back_off_parts.threshold = Some(parse_number(key, value)?),
            "statement_timeout" => self.pg_timeouts.statement = parse_timeout(key, value)?,
            "serve.bind" => {
                self.serve.bind = value.trim().parse().map_err(|error| {
                    CliError::config(
                        format!("{key} = {value:?} is not an address: {error}"),
                        format!("set {key} to an IP address and a port, e.g. 127.0.0.1:8080"),
                    )
                })?;
            }
            "serve.token" => self.serve.token = Some(value.to_owned()),
            "serve.dry_runs_kept" => {
                self.serve.dry_runs_kept = at_least_one(key, parse_number(key, value)?)?;
            }
            "source.table" => self.source_parts.table = Some(value.trim().to_owned()),
            "source.id" => self.source_parts.id = Some(value.trim().to_owned()),
            "source.body" => self.source_parts.body = Some(value.trim().to_owned()),
            "source.revision" => self.source_parts.revision = Some(value.trim().to_owned()),
            "source.where" => self.source_parts.filter = Some(value.to_owned()),
            "source.metadata" => {
                self.source_parts.metadata =
                    Some(value.split(',').map(|c| c.trim().to_owned()).collect());
            }
            _ => self.rules.max_unit_bytes = Some(parse_number(key, value)?),
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), CliError> {
        if self.batch_units == 0 {
            return Err(CliError::config(
                format!("{}: batch_units must be at least 1", self.origin),
                "set batch_units to a positive number (the default is 5000)",
            ));
        }
        if self.database_url.trim().is_empty() {
            return Err(CliError::config(
                format!("{}: database_url is empty", self.origin),
                format!("set database_url, e.g. {DEFAULT_DATABASE_URL}"),
            ));
        }
        // Compile the rules now, so that a bad pattern or size limit is a configuration error
        // before anything is opened.
        Cutter::new(&self.rules).map_err(|error| {
            CliError::config(
                format!("{}: {error}", self.origin),
                "fix [rules] (preset, levels, max_unit_bytes)",
            )
        })?;
        Ok(())
    }

    /// A short description of the rules, e.g. `legal-vi, max 4096 bytes`.
    pub(crate) fn rules_summary(&self) -> String {
        rules_summary(&self.rules)
    }
}

/// A short description of cut rules.
pub(crate) fn rules_summary(rules: &CutRules) -> String {
    let markers = match &rules.markers {
        MarkerSet::Preset(preset) => preset.name().to_owned(),
        MarkerSet::Custom(levels) => {
            let names: Vec<&str> = levels.iter().map(|l| l.name.as_str()).collect();
            format!("custom levels [{}]", names.join(", "))
        }
    };
    match rules.max_unit_bytes {
        Some(max) => format!("{markers}, max {max} bytes per unit"),
        None => markers,
    }
}

/// A SQLite `database_url` whose file is relative, made relative to `base` (the configuration
/// file's directory); anything else (PostgreSQL, an absolute path, a value `connect` will
/// refuse) as it is.
fn sqlite_relative_to(url: &str, base: &Path) -> String {
    if base.as_os_str().is_empty() {
        return url.to_owned();
    }
    let trimmed = url.trim();
    let (prefix, rest) = if let Some(rest) = trimmed.strip_prefix("sqlite://") {
        ("sqlite://", rest)
    } else if let Some(rest) = trimmed.strip_prefix("sqlite:") {
        ("sqlite:", rest)
    } else if trimmed.contains(':') || trimmed.contains('@') || trimmed.contains('=') {
        // A URL of another kind, or something `connect` refuses: leave it to say so.
        return url.to_owned();
    } else {
        ("", trimmed)
    };
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    let (path, tail) = rest.split_at(end);
    if path.is_empty() || Path::new(path).is_absolute() || path.contains('@') {
        return url.to_owned();
    }
    format!("{prefix}{}{tail}", base.join(path).display())
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *slot = value;
    }
}

fn parse_preset(value: &str, what: &str) -> Result<Preset, CliError> {
    value.trim().parse().map_err(|error: String| {
        CliError::config(
            format!("{what}: {error}"),
            "use one of the shipped presets, or define [rules] levels",
        )
    })
}

/// A JSON value with every object's keys in sorted order, whatever map serde_json was built with.
fn sorted(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let sorted: BTreeMap<String, serde_json::Value> =
                map.into_iter().map(|(k, v)| (k, sorted(v))).collect();
            serde_json::Value::Object(sorted.into_iter().collect())
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(sorted).collect())
        }
        other => other,
    }
}

/// An age, with `next` as the advice when it is not one.
fn parse_config_age(what: &str, value: &str, next: &str) -> Result<Duration, CliError> {
    parse_age(value).map_err(|error| CliError::config(format!("{what}: {error}"), next))
}

/// An age of at least one second; `too_short` says why a shorter one is refused.
fn parse_age_of_a_second(
    what: &str,
    value: &str,
    too_short: &str,
    next: &str,
) -> Result<Duration, CliError> {
    let age = parse_config_age(what, value, next)?;
    if age < Duration::from_secs(1) {
        return Err(CliError::config(format!("{what}: {too_short}"), next));
    }
    Ok(age)
}

fn parse_held_max_age(what: &str, value: &str) -> Result<Duration, CliError> {
    parse_config_age(
        what,
        value,
        "set held_max_age to an age such as 24h, 90m or 7d",
    )
}

fn parse_lease_ttl(what: &str, value: &str) -> Result<Duration, CliError> {
    parse_age_of_a_second(
        what,
        value,
        "a lease must live at least 1s",
        "set lease_ttl to an age such as 30s or 2m",
    )
}

/// A pause between batches: an age (`0s` for none).
fn parse_pause(what: &str, value: &str) -> Result<Duration, CliError> {
    parse_config_age(what, value, "set it to an age such as 1s or 2m")
}

/// A PostgreSQL timeout: an age of at least one second (zero would mean none).
fn parse_timeout(what: &str, value: &str) -> Result<Duration, CliError> {
    parse_age_of_a_second(
        what,
        value,
        "zero would mean no timeout",
        "set it to an age such as 10s or 5m (at least 1s)",
    )
}

fn parse_bool(key: &str, value: &str) -> Result<bool, CliError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(CliError::config(
            format!("{key} = `{value}`: expected true or false"),
            format!("set {key} to true or false"),
        )),
    }
}

/// `kept` if it is at least one: a server keeps at least the dry run it just started.
fn at_least_one(key: &str, kept: usize) -> Result<usize, CliError> {
    if kept == 0 {
        return Err(CliError::config(
            format!("{key} = 0: a server keeps at least the dry run it just started"),
            format!(
                "set {key} to 1 or more (default {})",
                iu_cutter_serve::DRY_RUNS_KEPT
            ),
        ));
    }
    Ok(kept)
}

fn parse_number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, CliError> {
    value.trim().parse().map_err(|_| {
        CliError::config(
            format!("{key} = `{value}`: expected a whole number"),
            format!("set {key} to a whole number"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn error_of(result: Result<Config, CliError>) -> Result<CliError, Box<dyn std::error::Error>> {
        match result {
            Ok(config) => Err(format!("accepted: {config:?}").into()),
            Err(error) => Ok(error),
        }
    }

    /// Asserts where `config` puts backups, reports and the stop file, its batch size and its
    /// held-run age limit (in seconds).
    #[track_caller]
    fn assert_places_and_limits(
        config: &Config,
        [backups, reports, stop_file]: [&str; 3],
        batch_units: usize,
        held_max_age_s: u64,
    ) {
        assert_eq!(config.backup_dir, PathBuf::from(backups));
        assert_eq!(config.reports_dir, PathBuf::from(reports));
        assert_eq!(config.stop_file, PathBuf::from(stop_file));
        assert_eq!(config.batch_units, batch_units);
        assert_eq!(config.held_max_age, Duration::from_secs(held_max_age_s));
    }

    #[test]
    fn serve_binds_loopback_by_default_and_reads_its_token_from_file_or_variables() -> TestResult {
        let config = Config::from_sources(None, env(&[]))?;
        assert_eq!(config.serve.bind.to_string(), "127.0.0.1:8080");
        assert!(config.serve.token().is_none());
        let file = "[serve]\nbind = \"127.0.0.1:9090\"\ntoken = \"from-file\"\n";
        let config = Config::from_sources(Some(("cutter.toml", file)), env(&[]))?;
        assert_eq!(config.serve.bind.to_string(), "127.0.0.1:9090");
        assert!(config.serve.token().is_some_and(|t| t.matches("from-file")));
        assert!(
            !format!("{config:?}").contains("from-file"),
            "the token is never printed"
        );
        assert!(!config.canonical_json().contains("from-file"));
        let config = Config::from_sources(
            Some(("cutter.toml", file)),
            env(&[
                ("IU_CUTTER_SERVE_TOKEN", "from-env"),
                ("IU_CUTTER_SERVE_BIND", "0.0.0.0:80"),
            ]),
        )?;
        assert!(config.serve.token().is_some_and(|t| t.matches("from-env")));
        assert_eq!(config.serve.bind.to_string(), "0.0.0.0:80");
        let named = "[serve]\ntoken_env = \"PATH\"\n";
        let config = Config::from_sources(Some(("cutter.toml", named)), env(&[]))?;
        assert!(
            config.serve.token().is_some(),
            "the token from the variable token_env names"
        );
        let bad = "[serve]\nbind = \"localhost\"\n";
        let error = error_of(Config::from_sources(Some(("cutter.toml", bad)), env(&[])))?;
        assert!(error.to_string().contains("[serve] bind"), "{error}");
        Ok(())
    }

    #[test]
    fn serve_keeps_32_dry_runs_unless_told_and_never_none() -> TestResult {
        let config = Config::from_sources(None, env(&[]))?;
        assert_eq!(config.serve.dry_runs_kept, 32);
        let file = "[serve]\ndry_runs_kept = 4\n";
        let config = Config::from_sources(Some(("cutter.toml", file)), env(&[]))?;
        assert_eq!(config.serve.dry_runs_kept, 4);
        let variable = env(&[("IU_CUTTER_SERVE_DRY_RUNS_KEPT", "7")]);
        let config = Config::from_sources(Some(("cutter.toml", file)), variable)?;
        assert_eq!(config.serve.dry_runs_kept, 7);
        let none = "[serve]\ndry_runs_kept = 0\n";
        let error = error_of(Config::from_sources(Some(("cutter.toml", none)), env(&[])))?;
        assert!(error.to_string().contains("dry_runs_kept = 0"), "{error}");
        let none = env(&[("IU_CUTTER_SERVE_DRY_RUNS_KEPT", "0")]);
        let error = error_of(Config::from_sources(None, none))?;
        assert!(
            error.to_string().contains("at least the dry run"),
            "{error}"
        );
        Ok(())
    }

    #[test]
    fn defaults_keep_the_kill_switch_off() -> TestResult {
        let config = Config::from_sources(None, env(&[]))?;
        assert!(!config.execution_enabled);
        const { assert!(!EXECUTION_ENABLED_DEFAULT) };
        assert_eq!(config.database_url, "sqlite://iu-cutter.sqlite");
        assert_eq!(config.mode, Mode::Live);
        assert_places_and_limits(
            &config,
            [
                ".iu-cutter/backups",
                ".iu-cutter/reports",
                ".iu-cutter/STOP",
            ],
            DEFAULT_BATCH_UNITS,
            86_400,
        );
        assert_eq!(config.rules, CutRules::preset(Preset::Auto));
        // A file that says nothing about the switch leaves it off too.
        let config = Config::from_sources(Some(("cutter.toml", "mode = \"live\"\n")), env(&[]))?;
        assert!(!config.execution_enabled);
        Ok(())
    }

    #[test]
    fn the_file_sets_every_key() -> TestResult {
        let text = r#"
database_url = "postgres://cutter:hunter2@db:5432/kb"
execution_enabled = true
mode = "simulate"
backup_dir = "b"
reports_dir = "r"
stop_file = "s/STOP"
batch_units = 50
held_max_age = "90m"

[rules]
levels = [{ name = "chapter", pattern = "CHAPTER ([0-9]+)" }, { name = "rule", pattern = "Rule [0-9]+" }]
max_unit_bytes = 4096
"#;
        let config = Config::from_sources(Some(("cutter.toml", text)), env(&[]))?;
        assert!(config.execution_enabled);
        assert_eq!(config.mode, Mode::Simulate);
        assert_places_and_limits(&config, ["b", "r", "s/STOP"], 50, 5400);
        assert_eq!(config.rules.max_unit_bytes, Some(4096));
        match &config.rules.markers {
            MarkerSet::Custom(levels) => assert_eq!(levels.len(), 2),
            other => return Err(format!("markers: {other:?}").into()),
        }
        assert_eq!(config.database_url_origin, "cutter.toml");
        // The password never shows, not even in Debug.
        assert_eq!(config.location(), "postgres://cutter:***@db:5432/kb");
        assert!(!format!("{config:?}").contains("hunter2"));
        Ok(())
    }

    #[test]
    fn unknown_keys_are_rejected_by_name() -> TestResult {
        let error = error_of(Config::from_sources(
            Some((
                "cutter.toml",
                "execution_enabled = false\nexecute_enabled = true\n",
            )),
            env(&[]),
        ))?;
        assert_eq!(error.exit_code(), 6);
        assert!(error.to_string().contains("execute_enabled"), "{error}");
        assert!(error.to_string().contains("cutter.toml"), "{error}");

        let error = error_of(Config::from_sources(
            Some((
                "cutter.toml",
                "[rules]\npreset = \"legal-vi\"\nmax_bytes = 10\n",
            )),
            env(&[]),
        ))?;
        assert!(error.to_string().contains("max_bytes"), "{error}");

        let error = error_of(Config::from_sources(
            None,
            env(&[("IU_CUTTER_EXECUTE", "true")]),
        ))?;
        assert_eq!(error.exit_code(), 6);
        assert!(error.to_string().contains("IU_CUTTER_EXECUTE"), "{error}");
        assert!(error.next_action().contains("IU_CUTTER_EXECUTION_ENABLED"));
        Ok(())
    }

    #[test]
    fn relative_paths_in_the_file_are_relative_to_its_directory() -> TestResult {
        let text = "database_url = \"sqlite://data/iu.sqlite?mode=rwc\"\n\
                    backup_dir = \"backups\"\nreports_dir = \"/abs/reports\"\n\
                    stop_file = \"STOP\"\n";
        let config = Config::from_sources(Some(("/etc/iu/cutter.toml", text)), env(&[]))?;
        assert_eq!(
            config.database_url,
            "sqlite:///etc/iu/data/iu.sqlite?mode=rwc"
        );
        assert_eq!(config.backup_dir, PathBuf::from("/etc/iu/backups"));
        assert_eq!(config.reports_dir, PathBuf::from("/abs/reports"));
        assert_eq!(config.stop_file, PathBuf::from("/etc/iu/STOP"));
        // From the variables, relative to the working directory.
        let config = Config::from_sources(
            Some(("conf/cutter.toml", "batch_units = 3\n")),
            env(&[
                ("IU_CUTTER_STOP_FILE", "STOP"),
                ("IU_CUTTER_DATABASE_URL", "iu.sqlite"),
            ]),
        )?;
        assert_eq!(config.stop_file, PathBuf::from("STOP"));
        assert_eq!(config.database_url, "iu.sqlite");
        // The defaults, too: they come from no file.
        assert_eq!(config.backup_dir, PathBuf::from(DEFAULT_BACKUP_DIR));
        for (url, expected) in [
            ("iu.sqlite", "conf/iu.sqlite"),
            ("sqlite:iu.sqlite", "sqlite:conf/iu.sqlite"),
            ("sqlite:///abs/iu.sqlite", "sqlite:///abs/iu.sqlite"),
            ("/abs/iu.sqlite", "/abs/iu.sqlite"),
            ("postgres://u:p@h/db", "postgres://u:p@h/db"),
            ("postgres:p@h", "postgres:p@h"),
        ] {
            assert_eq!(
                sqlite_relative_to(url, Path::new("conf")),
                expected,
                "{url}"
            );
        }
        assert_eq!(sqlite_relative_to("iu.sqlite", Path::new("")), "iu.sqlite");
        Ok(())
    }

    #[test]
    fn the_database_url_flag_overrides_file_and_variable() -> TestResult {
        let mut config = Config::from_sources(
            Some(("cutter.toml", "database_url = \"a.sqlite\"\n")),
            env(&[("IU_CUTTER_DATABASE_URL", "b.sqlite")]),
        )?;
        config.set_database_url_flag("postgres://u:pw@h/db")?;
        assert_eq!(config.database_url, "postgres://u:pw@h/db");
        assert_eq!(config.database_url_origin, "--database-url");
        assert_eq!(
            error_of(config.set_database_url_flag(" ").map(|()| config.clone()))?.exit_code(),
            6
        );
        Ok(())
    }

    #[test]
    fn batch_documents_comes_from_the_file_or_the_environment_and_zero_means_whole_scope()
    -> TestResult {
        let config = Config::from_sources(None, env(&[]))?;
        assert_eq!(
            config.batch_documents,
            iu_cutter_phase_core::DEFAULT_BATCH_DOCUMENTS
        );
        assert!(!config.canonical_json().contains("batch_documents"));
        let config = Config::from_sources(
            Some((
                "cutter.toml",
                "batch_documents = 0
",
            )),
            env(&[]),
        )?;
        assert_eq!(config.batch_documents, 0);
        assert!(config.canonical_json().contains("\"batch_documents\":0"));
        let config = Config::from_sources(
            Some((
                "cutter.toml",
                "batch_documents = 0
",
            )),
            env(&[("IU_CUTTER_BATCH_DOCUMENTS", "25")]),
        )?;
        assert_eq!(config.batch_documents, 25);
        let error = error_of(Config::from_sources(
            None,
            env(&[("IU_CUTTER_BATCH_DOCUMENTS", "many")]),
        ))?;
        assert_eq!(error.exit_code(), 6, "{error}");
        Ok(())
    }

    #[test]
    fn backoff_is_active_connections_or_a_checked_probe_with_its_threshold() -> TestResult {
        assert_eq!(Config::from_sources(None, env(&[]))?.back_off, None);
        let config = Config::from_sources(
            Some(("cutter.toml", "[backoff]\nmax_active_connections = 20\n")),
            env(&[]),
        )?;
        assert_eq!(config.back_off, Some((LoadQuery::ActiveConnections, 20)));
        assert!(config.canonical_json().contains("active connections"));
        let config = Config::from_sources(
            None,
            env(&[
                ("IU_CUTTER_BACKOFF_PROBE", "SELECT count(*) FROM jobs"),
                ("IU_CUTTER_BACKOFF_THRESHOLD", "3"),
            ]),
        )?;
        assert_eq!(
            config.back_off,
            Some((LoadQuery::custom("SELECT count(*) FROM jobs")?, 3))
        );
        for (file, why) in [
            (
                "[backoff]\nprobe = \"SELECT 1\"\n",
                "probe and threshold go together",
            ),
            (
                "[backoff]\nthreshold = 1\n",
                "probe and threshold go together",
            ),
            (
                "[backoff]\nmax_active_connections = 2\nprobe = \"SELECT 1\"\nthreshold = 1\n",
                "keep one",
            ),
            (
                "[backoff]\nprobe = \"SELECT 1; DROP TABLE documents\"\nthreshold = 1\n",
                "contains `;`",
            ),
            (
                "[backoff]\nprobe = \"DELETE FROM jobs\"\nthreshold = 1\n",
                "one SELECT",
            ),
            ("[backoff]\nlimit = 1\n", "unknown field"),
        ] {
            let error = error_of(Config::from_sources(Some(("cutter.toml", file)), env(&[])))?;
            assert_eq!(error.exit_code(), 6, "{file}: {error}");
            assert!(error.to_string().contains(why), "{file}: {error}");
        }
        Ok(())
    }

    #[test]
    fn the_environment_overrides_the_file() -> TestResult {
        let text = "database_url = \"sqlite://file.sqlite\"\nexecution_enabled = true\n\
                    [rules]\npreset = \"markdown\"\nmax_unit_bytes = 100\n";
        let config = Config::from_sources(
            Some(("cutter.toml", text)),
            env(&[
                ("IU_CUTTER_DATABASE_URL", "sqlite://env.sqlite"),
                ("IU_CUTTER_EXECUTION_ENABLED", "false"),
                ("IU_CUTTER_MODE", "simulate"),
                ("IU_CUTTER_BACKUP_DIR", "/var/backups/iu"),
                ("IU_CUTTER_REPORTS_DIR", "/var/reports/iu"),
                ("IU_CUTTER_STOP_FILE", "/run/iu/STOP"),
                ("IU_CUTTER_BATCH_UNITS", "7"),
                ("IU_CUTTER_HELD_MAX_AGE", "2d"),
                ("IU_CUTTER_PRESET", "legal-vi"),
                ("IU_CUTTER_MAX_UNIT_BYTES", "2048"),
                ("IU_CUTTER_TEST_PG_URL", "postgres://ignored"),
                ("OTHER", "ignored"),
            ]),
        )?;
        assert_eq!(config.database_url, "sqlite://env.sqlite");
        assert_eq!(config.database_url_origin, "IU_CUTTER_DATABASE_URL");
        assert!(!config.execution_enabled);
        assert_eq!(config.mode, Mode::Simulate);
        assert_places_and_limits(
            &config,
            ["/var/backups/iu", "/var/reports/iu", "/run/iu/STOP"],
            7,
            172_800,
        );
        assert_eq!(
            config.rules,
            CutRules::preset(Preset::LegalVi).with_max_unit_bytes(2048)
        );
        assert!(
            config.origin.contains("IU_CUTTER_PRESET"),
            "{}",
            config.origin
        );

        let config = Config::from_sources(None, env(&[("IU_CUTTER_EXECUTION_ENABLED", "1")]))?;
        assert!(config.execution_enabled);
        Ok(())
    }

    #[test]
    fn bad_values_are_configuration_errors() -> TestResult {
        for (key, value) in [
            ("IU_CUTTER_EXECUTION_ENABLED", "maybe"),
            ("IU_CUTTER_MODE", "dry"),
            ("IU_CUTTER_BATCH_UNITS", "0"),
            ("IU_CUTTER_BATCH_UNITS", "lots"),
            ("IU_CUTTER_PRESET", "legal-fr"),
            ("IU_CUTTER_MAX_UNIT_BYTES", "2"),
            ("IU_CUTTER_DATABASE_URL", ""),
            ("IU_CUTTER_HELD_MAX_AGE", "a day"),
            ("IU_CUTTER_HELD_MAX_AGE", "24"),
        ] {
            let error = error_of(Config::from_sources(None, env(&[(key, value)])))?;
            assert_eq!(error.exit_code(), 6, "{key}={value}: {error}");
        }
        for text in [
            "execution_enabled = \"yes\"\n",
            "mode = \"dry\"\n",
            "[rules]\npreset = \"legal-en\"\nlevels = []\n",
            "[rules]\nlevels = [{ name = \"x\", pattern = \"(\" }]\n",
            "held_max_age = \"soon\"\n",
            "not toml at all",
        ] {
            let error = error_of(Config::from_sources(Some(("cutter.toml", text)), env(&[])))?;
            assert_eq!(error.exit_code(), 6, "{text}: {error}");
        }
        Ok(())
    }

    #[test]
    fn a_size_limit_below_the_minimum_is_a_configuration_error_naming_key_and_minimum() -> TestResult
    {
        let from_file = error_of(Config::from_sources(
            Some(("cutter.toml", "[rules]\nmax_unit_bytes = 4\n")),
            env(&[]),
        ))?;
        let from_env = error_of(Config::from_sources(
            None,
            env(&[("IU_CUTTER_MAX_UNIT_BYTES", "63")]),
        ))?;
        for (error, value) in [(from_file, "4"), (from_env, "63")] {
            assert_eq!(error.exit_code(), 6, "{error}");
            let text = error.to_string();
            for needed in [
                format!("max_unit_bytes = {value}"),
                "minimum of 64 bytes".to_owned(),
            ] {
                assert!(text.contains(&needed), "{needed:?} in {text}");
            }
        }
        let at_minimum = Config::from_sources(None, env(&[("IU_CUTTER_MAX_UNIT_BYTES", "64")]))?;
        assert_eq!(at_minimum.rules.max_unit_bytes, Some(64));
        Ok(())
    }

    #[test]
    fn the_configuration_hash_is_canonical_and_secret_free() -> TestResult {
        let with = |text: &str| Config::from_sources(Some(("cutter.toml", text)), env(&[]));
        let a = with("database_url = \"postgres://cutter:hunter2@db:5432/kb\"\nbatch_units = 5\n")?;
        let b = with("batch_units = 5\ndatabase_url = \"postgres://cutter:other@db:5432/kb\"\n")?;
        let c = with("database_url = \"postgres://cutter:hunter2@db:5432/kb\"\nbatch_units = 6\n")?;
        // The password is not in the hashed text, so changing it changes nothing; key order and
        // where a value came from do not matter either; any setting does.
        assert!(
            !a.canonical_json().contains("hunter2"),
            "{}",
            a.canonical_json()
        );
        assert!(
            a.canonical_json()
                .contains("postgres://cutter:***@db:5432/kb")
        );
        assert_eq!(a.sha256(), b.sha256());
        assert_ne!(a.sha256(), c.sha256());
        assert_eq!(a.sha256().len(), 64);
        let text = a.canonical_json();
        let keys: Vec<&str> = [
            "backup_dir",
            "batch_units",
            "database_url",
            "execution_enabled",
        ]
        .into_iter()
        .collect();
        let positions: Vec<usize> = keys.iter().filter_map(|k| text.find(k)).collect();
        assert_eq!(positions.len(), keys.len(), "{text}");
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "keys not sorted: {text}"
        );
        Ok(())
    }
}
