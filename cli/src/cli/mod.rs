//! The `iu-cutter` program: the command line, configuration, and the one place where
//! configuration becomes a concrete adapter ([`store`]).

/// `println!` that ignores a closed stdout (`iu-cutter status | head`): what the program does to
/// the store and the report file must not depend on whether anyone still reads its output.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `out!` for a JSON document: also records that stdout holds one, so that an error after it
/// (a `run --json` that ends REFUSED) is not printed as a second JSON document.
macro_rules! out_json {
    ($($arg:tt)*) => {{
        crate::cli::JSON_PRINTED.store(true, std::sync::atomic::Ordering::Relaxed);
        out!($($arg)*);
    }};
}

mod config;
mod control;
mod dry_run;
mod error;
mod export;
mod generations;
mod import;
mod interrupt;
mod logging;
mod next;
mod output;
mod plan;
mod progress;
mod provenance;
mod report;
mod run;
mod runner;
mod scope;
mod self_check;
mod serve;
mod status;
mod store;
mod version;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use clap::{Args, CommandFactory as _, Parser, Subcommand};
use iu_cutter_live_execution::{AdapterError, DocumentId, RunId, Scope, sql};
use iu_cutter_orchestrator::clock;
use iu_cutter_phase_core::names;

use crate::cli::config::{CONFIG_HELP, Config, Mode};
use crate::cli::control::ControlCommand;
use crate::cli::error::{CliError, EXIT_CODES_HELP, exit};
use crate::cli::export::ExportArgs;
use crate::cli::generations::{Age, DiffOf, PurgeArgs};
use crate::cli::import::ReadOptions;
use crate::cli::logging::LogFormat;
use crate::cli::report::ReportFormat;
use crate::cli::run::Flags;
use crate::cli::runner::RunArgs;
use crate::cli::status::UnitsArgs;

const ABOUT: &str = "Cut documents in a database into information units: one gated, verifiable, \
                     reversible run (backup, cut-leg-a, leg-b-record, write-verify, \
                     lifecycle-enact).";

/// Whether a JSON document went to stdout (see `out_json!`).
static JSON_PRINTED: AtomicBool = AtomicBool::new(false);

/// The top-level help's footer: configuration, exit codes, logs.
fn top_after_help() -> String {
    format!(
        "{CONFIG_HELP}\n\n{EXIT_CODES_HELP}\n\nWith --json, an error is JSON too, on stdout \
         ({{\"error\": {{\"code\", \"kind\", \"message\", \"next_action\"}}}}), with the same \
         exit code.\n\nLogs go to stderr; RUST_LOG sets the level (default warn), --log-format \
         json (or IU_CUTTER_LOG_FORMAT=json) makes them JSON lines with the run and phase; NO_COLOR \
         turns off the colour of log levels on a terminal. Progress of backup, leg-b-record and write-verify goes to stderr: bars \
         on a terminal, otherwise a status line every 2 s or 10 %; --quiet silences it.\n\n\
         Example:\n  iu-cutter init && iu-cutter import --execute corpus/ \
         && iu-cutter plan && iu-cutter run --execute"
    )
}

#[derive(Debug, Parser)]
#[command(name = "iu-cutter", version, about = ABOUT, after_help = top_after_help())]
struct Cli {
    /// Configuration file [default: ./cutter.toml when present]; relative paths in it are
    /// relative to its directory.
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// The database URL, over database_url and IU_CUTTER_DATABASE_URL. What a PostgreSQL URL
    /// leaves out comes from the PG* variables (PGPASSWORD, PGPASSFILE, PGSSLMODE, …); prefer
    /// those for the password, which a flag shows to every user of `ps`.
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    /// Log lines as text or JSON (one object per line, with the run and phase) [default: text,
    /// or IU_CUTTER_LOG_FORMAT].
    #[arg(long, global = true, value_enum, value_name = "FORMAT")]
    log_format: Option<LogFormat>,
    /// No progress bars or status lines on stderr (errors and logs still go there).
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

/// The switches of a command that acts on one run and prints its report.
#[derive(Debug, Clone, Copy, Args)]
struct ReportSwitches {
    /// Open the kill switch for this invocation.
    #[arg(long)]
    execute: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Which documents.
#[derive(Debug, Clone, Args)]
#[group(id = "scope", multiple = false)]
struct ScopeArgs {
    /// Every document in the store (the default).
    #[arg(long)]
    all: bool,
    /// This document (repeatable).
    #[arg(long = "id", value_name = "ID")]
    ids: Vec<String>,
    /// Documents whose id starts with P.
    #[arg(long, value_name = "P")]
    prefix: Option<String>,
}

impl ScopeArgs {
    fn scope(&self) -> Scope {
        if let Some(prefix) = &self.prefix {
            Scope::Prefix(prefix.clone())
        } else if !self.ids.is_empty() {
            Scope::Ids(
                self.ids
                    .iter()
                    .map(|id| DocumentId::new(id.as_str()))
                    .collect(),
            )
        } else {
            Scope::All
        }
    }

    /// The scope, or one shard of it (`--shard INDEX/COUNT`).
    fn sharded(&self, shard: Option<(u32, u32)>) -> Scope {
        match shard {
            Some((index, count)) => Scope::Shard {
                base: Box::new(self.scope()),
                index,
                count,
            },
            None => self.scope(),
        }
    }
}

/// `I/N` with `0 <= I < N` and `N >= 1`.
fn parse_shard(text: &str) -> Result<(u32, u32), String> {
    let bad = || format!("`{text}` is not a shard; write I/N with 0 <= I < N, e.g. 0/4");
    let (index, count) = text.split_once('/').ok_or_else(bad)?;
    let index: u32 = index.trim().parse().map_err(|_| bad())?;
    let count: u32 = count.trim().parse().map_err(|_| bad())?;
    if count == 0 {
        return Err(format!("`{text}`: the shard count N must be at least 1"));
    }
    if index >= count {
        return Err(format!(
            "`{text}`: the shard index I must be below N (shards are numbered 0 to {})",
            count - 1
        ));
    }
    Ok((index, count))
}

fn parse_run_id(text: &str) -> Result<RunId, String> {
    RunId::check(text).map(|()| RunId::new(text))
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the store, or migrate it to this version's schema (with --execute).
    #[command(
        after_help = "Without --execute (or execution_enabled) it only prints what it would \
        create and changes nothing. Run it as the owner role: it creates and migrates the \
        tables, in iu-cutter's own PostgreSQL schema (`schema`, default iu_cutter), and refuses \
        to touch tables of the same names that something else created. \
        With --grant-runtime ROLE it then grants ROLE what every other command needs on them \
        (USAGE on the schema, SELECT on schema_migrations, SELECT, INSERT, UPDATE and DELETE on \
        the others) and prints the statements; run it again after each upgrade.\n\nExample:\n  \
        iu-cutter init\n  iu-cutter init --execute\n  \
        PGPASSWORD=… iu-cutter --database-url postgres://iu_owner@db:5432/kb init --execute \
        --grant-runtime iu_runtime"
    )]
    Init {
        /// PostgreSQL: grant this role the runtime privileges on iu-cutter's tables.
        #[arg(long, value_name = "ROLE")]
        grant_runtime: Option<String>,
        /// Open the kill switch for this invocation.
        #[arg(long)]
        execute: bool,
    },
    /// Import documents from files, directories (recursively) or JSON Lines files.
    #[command(
        after_help = "Ids are paths relative to the given directory (`en/act.txt`), the \
        file name of a given file, or a JSON Lines field. Every input is checked (UTF-8, JSON) \
        before anything is written, ids included (no control or bidirectional formatting \
        characters); then every document is written in one transaction, all or none. A \
        changed document gets a new revision. Links out of a given directory are refused \
        unless --follow-symlinks. Importing mutates the store, so the kill switch must be \
        open.\n\nExample:\n  iu-cutter import --execute \
        examples/corpus\n  iu-cutter import --execute --id-field slug articles.jsonl"
    )]
    Import {
        /// Files, directories, or `.jsonl` files.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// The JSON Lines field holding the document id.
        #[arg(long, default_value = "id", value_name = "FIELD")]
        id_field: String,
        /// The JSON Lines field holding the document body.
        #[arg(long, default_value = "body", value_name = "FIELD")]
        body_field: String,
        /// Follow links to files outside an imported directory (refused by default).
        #[arg(long)]
        follow_symlinks: bool,
        /// Open the kill switch for this invocation.
        #[arg(long)]
        execute: bool,
    },
    /// Preview the cut: units per document and the plan sha256. Mutates nothing.
    #[command(
        after_help = "With --out, the plan itself is written to FILE; `run --plan FILE` \
        then runs only if the plan computed at run time has the same sha256 (REFUSED, exit 3, \
        otherwise).\n\nExample:\n  iu-cutter plan --prefix vi/\n  \
        IU_CUTTER_PRESET=legal-vi iu-cutter plan --prefix vi/ --json\n  \
        iu-cutter plan --prefix vi/ --out vi.plan.json"
    )]
    Plan {
        #[command(flatten)]
        scope: ScopeArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Also write the plan (its JSON) to FILE, for review and for `run --plan FILE`.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Run the five phases on the scope (live, or simulated over a snapshot of the live store).
    #[command(
        after_help = "With the kill switch closed (the default) a live run is REFUSED \
        before any mutation. `--mode simulate` only reads the live store and attests that its \
        census did not change. The report is written to reports_dir/<run>.json and <run>.md and \
        into the journal (iu-cutter report RUN). `--until write-verify` holds a verified run for \
        review; `iu-cutter enact RUN` enacts it later.\n\nExample:\n  \
        iu-cutter run --mode simulate --prefix vi/\n  iu-cutter run --execute --prefix vi/\n  \
        iu-cutter run --execute --until write-verify --id en/act.txt\n  \
        iu-cutter run --execute --prefix vi/ --plan vi.plan.json"
    )]
    Run {
        /// live or simulate [default: from the configuration, else live].
        #[arg(long, value_enum)]
        mode: Option<Mode>,
        /// Stop after this phase (the run is held; continue with resume).
        #[arg(long, value_name = "PHASE", value_parser = clap::builder::PossibleValuesParser::new(names::ALL))]
        until: Option<String>,
        #[command(flatten)]
        scope: ScopeArgs,
        /// Open the kill switch for this invocation.
        #[arg(long)]
        execute: bool,
        /// The run's id [default: run-<UTC time>-<random>, dry-… when simulated].
        #[arg(long, value_name = "ID", value_parser = parse_run_id)]
        run_id: Option<RunId>,
        /// Print the report as JSON instead of the summary.
        #[arg(long)]
        json: bool,
        /// The reviewed plan (from `plan --out`): REFUSED unless the plan still holds.
        #[arg(long, value_name = "FILE")]
        plan: Option<PathBuf>,
        /// Only shard I of N of the scope (by a stable hash of the document id): N runners with
        /// --shard 0/N .. N-1/N cut every document of the scope exactly once.
        #[arg(long, value_name = "I/N", value_parser = parse_shard)]
        shard: Option<(u32, u32)>,
        /// Only the documents of the scope that were never cut or changed since their active
        /// generation (after reading the [source] table, when one is configured).
        #[arg(long)]
        stale: bool,
    },
    /// Verify a held run again, then enact it (flip its documents to its generation).
    #[command(
        after_help = "The run must be held after write-verify (run --until write-verify). \
        Its verification must be younger than held_max_age (default 24h; otherwise BLOCKED: run \
        `iu-cutter verify RUN` first), and write-verify runs again before the enact: a document \
        changed since, or a staged unit that no longer matches the plan, blocks it.\n\n\
        Example:\n  iu-cutter run --execute --until write-verify --prefix vi/ --run-id vi-1\n  \
        iu-cutter enact vi-1 --execute"
    )]
    Enact {
        /// The held run.
        #[arg(value_name = "RUN", value_parser = parse_run_id)]
        run: RunId,
        #[command(flatten)]
        switches: ReportSwitches,
    },
    /// Verify a run again: refresh a held run's verification, or audit an enacted run.
    #[command(
        after_help = "On a held run, write-verify runs again and journals a fresh time (a \
        journal write: needs the kill switch). On an enacted run, a read-only audit checks its \
        units' hashes against the plan and its generation's state against the journal and the \
        last report; on a rolled-back run, that its generation is gone.\n\nExample:\n  \
        iu-cutter verify vi-1 --execute\n  iu-cutter verify run-20250101-120000-1a2b3c --json"
    )]
    Verify {
        /// The run.
        #[arg(value_name = "RUN", value_parser = parse_run_id)]
        run: RunId,
        /// Open the kill switch for this invocation (needed to refresh a held run).
        #[arg(long)]
        execute: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// A run's latest report (from the journal, else the reports directory).
    #[command(
        after_help = "Example:\n  iu-cutter report vi-1\n  iu-cutter report vi-1 --format json"
    )]
    Report {
        /// The run.
        #[arg(value_name = "RUN", value_parser = parse_run_id)]
        run: RunId,
        /// md or json [default: md].
        #[arg(long, value_enum, default_value = "md")]
        format: ReportFormat,
        /// Same as --format json.
        #[arg(long)]
        json: bool,
    },
    /// Units added, removed, changed and unchanged between two generations of a document.
    #[command(
        after_help = "Units are matched by their stable unit id. Without generations, the \
        most recently retired generation is compared with the active one. With --run RUN, the \
        active generation (none for a document never cut) is compared with the one RUN wrote: \
        a held run's staged units, what enacting it would change. Reads only.\n\n\
        Example:\n  iu-cutter diff vi/luat-giao-dich-dien-tu.txt\n  \
        iu-cutter diff en/act.txt run-1 run-2 --json\n  iu-cutter diff en/act.txt --run vi-1"
    )]
    Diff {
        /// The document id.
        #[arg(value_name = "DOC")]
        document: String,
        /// The older generation (a run id).
        #[arg(value_name = "GEN_A", value_parser = parse_run_id, requires = "generation_b")]
        generation_a: Option<RunId>,
        /// The newer generation.
        #[arg(value_name = "GEN_B", value_parser = parse_run_id)]
        generation_b: Option<RunId>,
        /// Compare the active generation with the one RUN wrote (e.g. a held run's).
        #[arg(long, value_name = "RUN", value_parser = parse_run_id, conflicts_with = "generation_a")]
        run: Option<RunId>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove retired generations older than AGE that no rollback of a recent run needs.
    #[command(
        after_help = "A retired generation is removed when it was retired at least AGE ago \
        (by the journal's enact times) and no run that is not rolled back needs it: a run \
        younger than AGE keeps every generation its backup lists, and a run not yet superseded \
        keeps its documents' pre-run generation. Active and staged generations are never \
        removed. It mutates: the kill switch must be open; with it closed, the selection is \
        shown and nothing is removed.\n\nExample:\n  iu-cutter purge --older-than 30d\n  \
        iu-cutter purge --older-than 30d --execute"
    )]
    Purge {
        /// Age, e.g. 30d, 12h, 1w.
        #[arg(long, value_name = "AGE", value_parser = Age::parse)]
        older_than: Age,
        /// Open the kill switch for this invocation.
        #[arg(long)]
        execute: bool,
        /// One line per retired generation, with what would make a kept one purgeable.
        #[arg(long, short)]
        verbose: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Runs and their phases, from the journal.
    #[command(
        after_help = "Example:\n  iu-cutter status\n  iu-cutter status run-20250101-120000-1a2b3c --json"
    )]
    #[command(
        after_help = "Without RUN: the most recent runs (--limit), read from the journal only, so \
        that it answers as fast on a store of millions of units as on an empty one. --census adds \
        the store's census (documents, units, fingerprint), which reads every document, \
        generation and unit.\n\nExample:\n  iu-cutter status --limit 5"
    )]
    Status {
        /// One run, in detail.
        #[arg(value_name = "RUN", value_parser = parse_run_id)]
        run: Option<RunId>,
        /// Also take the store's census (reads the whole store).
        #[arg(long, conflicts_with = "run")]
        census: bool,
        /// Show at most this many runs, the most recent.
        #[arg(long, default_value_t = 20, value_name = "N", conflicts_with = "run")]
        limit: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The active units of a document, or the units a run wrote of it.
    #[command(
        after_help = "With --run RUN, the units of the generation RUN wrote of the document, \
        whatever its state: a held run's staged units, before `iu-cutter enact RUN`. With \
        --text, each unit's text follows its header (with --json, a `text` field). Reads \
        only.\n\nExample:\n  iu-cutter units vi/luat-giao-dich-dien-tu.txt\n  \
        iu-cutter units en/act.txt --run vi-1 --text"
    )]
    Units {
        /// The document id.
        #[arg(value_name = "DOC")]
        document: String,
        /// The generation RUN wrote (staged, for a held run) instead of the active one.
        #[arg(long, value_name = "RUN", value_parser = parse_run_id)]
        run: Option<RunId>,
        /// Show each unit's text.
        #[arg(long)]
        text: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stream the active units as JSON Lines, for search indexes and retrieval pipelines.
    #[command(
        after_help = "One JSON object per line, written as it is read: {\"op\": \"upsert\", \
        \"document\", \"unit_id\", \"ordinal\", \"path\", \"part\" (split units only), \"start\", \
        \"end\" (bytes), \"sha256\", \"generation\", \"revision\", \"text\"}. The store is read one \
        page of --page-size units at a time, so memory does not grow with the store.\n\n\
        --since RUN writes only what changed since RUN: per document, its active generation \
        is compared with the one readers saw right after RUN enacted (RUN's own where RUN cut \
        the document, otherwise the one enacted last before RUN finished, by the journal's \
        enact times), units matched by stable unit id as `diff` matches them: an upsert for a \
        unit added or whose text, path, part, ordinal or byte range changed, and \
        {\"op\": \"remove\", \"document\", \"unit_id\", \"generation\"} for a unit gone. \
        Applied in order to an export taken right after RUN, they give an export taken now. \
        RUN must have enacted and not been rolled back; when a generation that was active \
        when RUN finished has been purged or rolled back since, the export fails naming it \
        (export everything again instead). --since reads the documents' heads a page at a time \
        and one changed document's units at a time. Reads only; with --out, FILE appears only once complete \
        (mode 0600).\n\nExample:\n  iu-cutter export > units.jsonl\n  \
        iu-cutter export --since run-20250101-120000-1a2b3c --out changes.jsonl"
    )]
    Export {
        /// Only the changes since this enacted run (upserts and removals).
        #[arg(long, value_name = "RUN", value_parser = parse_run_id)]
        since: Option<RunId>,
        /// Write to FILE instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Units read from the store per page (the memory an export holds).
        #[arg(long, value_name = "N", default_value_t = iu_cutter_orchestrator::DEFAULT_PAGE_SIZE,
              value_parser = clap::value_parser!(u32).range(1..))]
        page_size: u32,
    },
    /// Continue a journaled run from the first phase not done.
    #[command(after_help = "Example:\n  iu-cutter resume run-20250101-120000-1a2b3c --execute")]
    Resume {
        /// The run.
        #[arg(value_name = "RUN", value_parser = parse_run_id)]
        run: RunId,
        /// Stop after this phase.
        #[arg(long, value_name = "PHASE", value_parser = clap::builder::PossibleValuesParser::new(names::ALL))]
        until: Option<String>,
        #[command(flatten)]
        switches: ReportSwitches,
    },
    /// Restore a run's documents to their exact pre-run state from its backup.
    #[command(after_help = "Example:\n  iu-cutter rollback run-20250101-120000-1a2b3c --execute")]
    Rollback {
        /// The run.
        #[arg(value_name = "RUN", value_parser = parse_run_id)]
        run: RunId,
        #[command(flatten)]
        switches: ReportSwitches,
    },
    /// The database's shared control row (closes execution for every runner).
    #[command(
        subcommand,
        after_help = "Example:\n  iu-cutter control disable --reason \"freeze for audit\"\n  iu-cutter control status"
    )]
    Control(ControlCommand),
    /// Serve the HTTP API and the operator page (see README, "Run as a service").
    #[command(
        after_help = "Listens on [serve] bind (default 127.0.0.1:8080). Reads need no token; \
        every POST needs Authorization: Bearer <token> ([serve] token, or the variable named by \
        token_env, default IU_CUTTER_SERVE_TOKEN). Live runs, enact and rollback go through the \
        kill switch as on the command line.\n\nExample:\n  IU_CUTTER_SERVE_TOKEN=change-me \
        iu-cutter serve"
    )]
    Serve {
        /// Open the kill switch for the server's live invocations.
        #[arg(long)]
        execute: bool,
    },
    /// Version, commit, and compiled-in defaults.
    #[command(after_help = "Example:\n  iu-cutter version --json")]
    Version {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Shell completions, on stdout.
    #[command(after_help = "Example:\n  iu-cutter completions bash > \
        /etc/bash_completion.d/iu-cutter\n  iu-cutter completions zsh > \
        \"${fpath[1]}/_iu-cutter\"\n  iu-cutter completions fish > \
        ~/.config/fish/completions/iu-cutter.fish")]
    Completions {
        /// bash, zsh, fish, powershell or elvish.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// The man page (roff), on stdout; `cargo xtask dist` puts it in the artifact.
    #[command(
        hide = true,
        after_help = "Example:\n  iu-cutter manpage > iu-cutter.1 && man ./iu-cutter.1"
    )]
    Manpage,
    /// Read-only self test (cuts built-in samples, runs on an in-memory simulator).
    #[command(
        after_help = "Opens no database and writes no file; exits 0 when every check \
        passes.\n\nExample:\n  iu-cutter self-check"
    )]
    SelfCheck,
}

/// UTC time as `YYYYMMDD-HHMMSS`.
pub(crate) fn timestamp() -> String {
    clock::compact(SystemTime::now())
}

/// A fresh run id ([`iu_cutter_orchestrator::new_run_id`]).
pub(crate) fn new_run_id(prefix: &str) -> RunId {
    iu_cutter_orchestrator::new_run_id(prefix)
}

impl Command {
    /// Whether the command was asked for JSON output (`--json`, or `report --format json`).
    fn json(&self) -> bool {
        match self {
            Command::Plan { json, .. }
            | Command::Run { json, .. }
            | Command::Verify { json, .. }
            | Command::Diff { json, .. }
            | Command::Purge { json, .. }
            | Command::Status { json, .. }
            | Command::Units { json, .. }
            | Command::Version { json } => *json,
            Command::Enact { switches, .. }
            | Command::Resume { switches, .. }
            | Command::Rollback { switches, .. } => switches.json,
            Command::Report { json, format, .. } => *json || *format == ReportFormat::Json,
            Command::Init { .. }
            | Command::Import { .. }
            | Command::Export { .. }
            | Command::Control(_)
            | Command::Serve { .. }
            | Command::Completions { .. }
            | Command::Manpage
            | Command::SelfCheck => false,
        }
    }
}

/// Prints `error` for the operator: as JSON on stdout when `json` was asked and stdout holds no
/// JSON document yet, else as `error:` and `next:` lines on stderr.
fn print_error(error: &CliError, json: bool) {
    if json && !JSON_PRINTED.load(Ordering::Relaxed) {
        out!("{}", error.to_json());
    } else {
        eprintln!("error: {error}");
        eprintln!("next: {}", error.next_action());
    }
}

/// Runs the program; returns its exit status.
pub(crate) fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            if !error.use_stderr() {
                // --help, --version.
                let _ = error.print();
                return ExitCode::from(exit::OK);
            }
            if std::env::args_os().any(|arg| arg == "--json") {
                out!("{}", CliError::usage_json(&error.render().to_string()));
            } else {
                let _ = error.print();
            }
            return ExitCode::from(exit::USAGE);
        }
    };
    let json = cli.command.json();
    let variable = std::env::var(config::ENV_LOG_FORMAT).ok();
    let format = match LogFormat::choose(cli.log_format, variable.as_deref()) {
        Ok(format) => format,
        Err(error) => {
            print_error(&error, json);
            return ExitCode::from(error.exit_code());
        }
    };
    logging::init(format);
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(error) => {
            let error = CliError::failed(
                format!("cannot start the async runtime: {error}"),
                "check the process's limits (threads, memory), then run the command again",
            );
            print_error(&error, json);
            return ExitCode::from(error.exit_code());
        }
    };
    let result = runtime.block_on(async {
        interrupt::listen();
        dispatch(cli).await
    });
    let code = match result {
        Ok(()) => exit::OK,
        Err(error) => {
            print_error(&error, json);
            error.exit_code()
        }
    };
    if interrupt::received() {
        return ExitCode::from(interrupt::INTERRUPTED);
    }
    ExitCode::from(code)
}

/// The program's async runtime. Worker threads, not the current thread: the lease heartbeat is
/// a spawned task, and on a current-thread runtime a long synchronous stretch of a run (cutting
/// a large scope) starved it until the lease expired and the run stopped itself as "lease lost".
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

/// Runs the command `cli` asks for: the ones that need no configuration first, then, with the
/// configuration loaded, the ones that only read the store, then those that may change it.
async fn dispatch(cli: Cli) -> Result<(), CliError> {
    let config_path = cli.config.as_deref();
    if let Some(result) = dispatch_without_config(&cli.command, config_path).await {
        return result;
    }
    let config = Config::load(config_path, cli.database_url.as_deref())?;
    tracing::debug!(?config, "configuration");
    if let Some(result) = dispatch_read_only(&config, &cli.command).await {
        return result;
    }
    dispatch_with_config(&config, cli.command, cli.quiet).await
}

/// Runs `command` if it needs no configuration (version, completions, man page, self-check),
/// or returns `None`. These run before the configuration is loaded, so they work where there is
/// none yet or it is broken (self-check loads it itself, to report on it).
async fn dispatch_without_config(
    command: &Command,
    config_path: Option<&Path>,
) -> Option<Result<(), CliError>> {
    match command {
        Command::Version { json } => {
            version::version(*json);
            Some(Ok(()))
        }
        Command::Completions { shell } => {
            let mut command = Cli::command();
            let mut out = std::io::stdout();
            clap_complete::generate(*shell, &mut command, "iu-cutter", &mut out);
            Some(Ok(()))
        }
        Command::Manpage => {
            let mut out = std::io::stdout();
            Some(
                clap_mangen::Man::new(Cli::command())
                    .render(&mut out)
                    .map_err(|error| {
                        CliError::failed(
                            format!("cannot write the man page: {error}"),
                            "check that stdout is writable",
                        )
                    }),
            )
        }
        Command::SelfCheck => Some(self_check::self_check(config_path).await),
        _ => None,
    }
}

/// Runs `command`, one that may change the store, on `config`; `quiet` silences progress.
async fn dispatch_with_config(
    config: &Config,
    command: Command,
    quiet: bool,
) -> Result<(), CliError> {
    let flags = |execute, json| Flags {
        execute,
        json,
        quiet,
    };
    match command {
        Command::Init {
            grant_runtime,
            execute,
        } => init(config, grant_runtime.as_deref(), execute).await,
        Command::Import {
            paths,
            id_field,
            body_field,
            follow_symlinks,
            execute,
        } => {
            let options = ReadOptions::new(id_field, body_field, follow_symlinks);
            import::import(config, &paths, &options, execute)
                .await
                .map(|_| ())
        }
        Command::Run {
            mode,
            until,
            scope,
            execute,
            run_id,
            json,
            plan,
            shard,
            stale,
        } => {
            let args = RunArgs {
                mode,
                until,
                scope: scope.sharded(shard),
                execute,
                run_id,
                json,
                plan,
                quiet,
                stale,
            };
            run::run(config, args).await
        }
        Command::Enact { run, switches } => {
            run::enact(config, run, flags(switches.execute, switches.json)).await
        }
        Command::Verify { run, execute, json } => {
            run::verify(config, run, flags(execute, json)).await
        }
        Command::Purge {
            older_than,
            execute,
            verbose,
            json,
        } => {
            let options = PurgeArgs {
                older_than,
                execute,
                verbose,
                json,
            };
            generations::purge(config, options).await
        }
        Command::Resume {
            run,
            until,
            switches,
        } => run::resume(config, run, until, flags(switches.execute, switches.json)).await,
        Command::Rollback { run, switches } => {
            run::rollback(config, run, flags(switches.execute, switches.json)).await
        }
        Command::Control(command) => control::control(config, command).await,
        Command::Serve { execute } => serve::serve(config, execute).await,
        // Run by dispatch_without_config or dispatch_read_only.
        Command::Version { .. }
        | Command::SelfCheck
        | Command::Completions { .. }
        | Command::Manpage
        | Command::Plan { .. }
        | Command::Report { .. }
        | Command::Diff { .. }
        | Command::Status { .. }
        | Command::Units { .. }
        | Command::Export { .. } => Ok(()),
    }
}

/// Runs `command` if it only reads the store (plan, report, diff, status, units, export), or returns
/// `None`.
async fn dispatch_read_only(config: &Config, command: &Command) -> Option<Result<(), CliError>> {
    let result = match command {
        Command::Plan { scope, json, out } => {
            plan::plan(config, &scope.scope(), *json, out.as_deref())
                .await
                .map(|_| ())
        }
        Command::Report { run, format, json } => {
            let format = if *json { ReportFormat::Json } else { *format };
            report::report(config, run.clone(), format).await
        }
        Command::Diff {
            document,
            generation_a,
            generation_b,
            run,
            json,
        } => {
            let of = match (run, generation_a.clone().zip(generation_b.clone())) {
                (Some(run), _) => DiffOf::Run(run.clone()),
                (None, Some((a, b))) => DiffOf::Pair(a, b),
                (None, None) => DiffOf::Latest,
            };
            generations::diff(config, DocumentId::new(document.as_str()), of, *json).await
        }
        Command::Status {
            run,
            census,
            limit,
            json,
        } => {
            let view = status::StoreView {
                census: *census,
                limit: *limit,
            };
            status::status(config, run.clone(), view, *json).await
        }
        Command::Units {
            document,
            run,
            text,
            json,
        } => {
            let args = UnitsArgs {
                document: DocumentId::new(document.as_str()),
                run: run.clone(),
                text: *text,
                json: *json,
            };
            status::units(config, args).await
        }
        Command::Export {
            since,
            out,
            page_size,
        } => {
            let args = ExportArgs {
                since: since.clone(),
                out: out.clone(),
                page_size: *page_size,
            };
            export::export(config, args).await
        }
        _ => return None,
    };
    Some(result)
}

/// `iu-cutter init [--grant-runtime ROLE]`: create or migrate the store, then grant `ROLE`
/// what the other commands need.
async fn init(config: &Config, grant_runtime: Option<&str>, execute: bool) -> Result<(), CliError> {
    let plan = store::init_plan(config).await?;
    let location = config.connect_options().location();
    if !plan.collisions.is_empty() {
        return Err(CliError::bad_input(
            format!(
                "{location} already holds {} that iu-cutter did not create; nothing was changed",
                plan.collisions.join(", ")
            ),
            "give iu-cutter a schema of its own (`schema` in cutter.toml, PostgreSQL) or a \
             database file of its own (SQLite), then: iu-cutter init --execute",
        ));
    }
    if plan.pending.is_empty() && !plan.source_view && grant_runtime.is_none() {
        out!(
            "store {location} is up to date (schema version {})",
            sql::DATABASE_SCHEMA_VERSION
        );
        return Ok(());
    }
    for (version, description) in &plan.pending {
        out!("migration {version}: {description}");
    }
    if !plan.creates.is_empty() {
        out!("creates in {location}: {}", plan.creates.join(", "));
    }
    if let (true, Some(source)) = (plan.source_view, &config.source) {
        out!(
            "replaces view {}: its `stale` compares each document with its row in {}",
            plan.view,
            source.table
        );
    }
    if let Err(error) = store::init_gate(config, execute).await.check().await {
        let AdapterError::GateClosed {
            switch,
            how_to_open,
        } = error
        else {
            return Err(CliError::from_adapter(
                error,
                "checking the kill switch",
                "iu-cutter init",
            ));
        };
        out!("nothing was changed: init creates and migrates tables, behind the kill switch");
        return Err(CliError::gate_closed(switch, how_to_open));
    }
    let report = store::init(config).await?;
    if report.applied.is_empty() {
        out!(
            "store {} is up to date (schema version {})",
            report.location,
            report.schema_version
        );
    } else {
        let applied: Vec<String> = report.applied.iter().map(u32::to_string).collect();
        out!(
            "store {} initialised: schema version {} (applied migrations {})",
            report.location,
            report.schema_version,
            applied.join(", ")
        );
    }
    if let Some(table) = &report.reader_view {
        out!("view {} now compares the documents with {table}", plan.view);
    }
    if let Some(role) = grant_runtime {
        let granted = store::grant_runtime(config, role).await?;
        out!(
            "granted role {role} the runtime privileges on schema {} of {}:",
            granted.schema,
            granted.location
        );
        for statement in &granted.statements {
            out!("  {statement};");
        }
    }
    Ok(())
}
