//! `iu-cutter status [RUN]` and `iu-cutter units DOC [--run RUN] [--text]`: reads of the journal
//! and the store.

use iu_cutter_live_execution::{
    DocumentHead, DocumentId, DocumentState, GenerationRecord, LeaseView, LiveExecutionAdapter,
    PhaseRecord, PhaseStatus, RecentRuns, RunId, RunRecord, Scope, Unit,
};

use iu_cutter_live_execution::prelude::*;
use iu_cutter_orchestrator::{
    CensusSummary, Liveness, liveness, missing_generation, rolled_back_in_part, state_name,
};
use serde::Serialize;

use crate::cli::config::{Config, rules_summary};
use crate::cli::error::CliError;
use crate::cli::output::{census_counts, evidence_line, print_json, run_status_name, short, table};
use crate::cli::scope::scope_summary;
use crate::cli::store::ReadOnlyStore;

/// A run in `status --json` and `status RUN --json`: the journal's record, whether its rollback
/// began and did not finish (the journal's status may still say `PASS` or `HELD`), and for
/// `status RUN --json` its liveness when the journal shows it running.
#[derive(Serialize)]
struct RunStatusJson<'a> {
    #[serde(flatten)]
    record: &'a RunRecord,
    rolled_back_in_part: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    liveness: Option<Liveness>,
}

impl<'a> RunStatusJson<'a> {
    fn of(record: &'a RunRecord, liveness: Option<Liveness>) -> Self {
        RunStatusJson {
            record,
            rolled_back_in_part: rolled_back_in_part(record),
            liveness,
        }
    }
}

#[derive(Serialize)]
struct StatusJson<'a> {
    store: String,
    /// Only with `--census`: it reads the whole store.
    #[serde(skip_serializing_if = "Option::is_none")]
    census: Option<CensusSummary>,
    /// Runs in the journal, of which `runs` are the most recent.
    runs_total: usize,
    runs: Vec<RunStatusJson<'a>>,
    /// Each journaled-running run's liveness: who works on it, or that nobody does any more.
    liveness: Vec<Liveness>,
}

fn phase_status(status: PhaseStatus) -> &'static str {
    match status {
        PhaseStatus::Running => "running",
        PhaseStatus::Done => "done",
        PhaseStatus::Blocked => "blocked",
        PhaseStatus::Failed => "failed",
    }
}

/// What the operator retries after a failed read of `status`.
const STATUS_RETRY: &str = "iu-cutter status";

/// What `iu-cutter status` without a run shows of the store.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StoreView {
    /// Take the census (it reads every document, generation and unit).
    pub(crate) census: bool,
    /// The most runs listed, the most recent.
    pub(crate) limit: usize,
}

/// `iu-cutter status [RUN]`.
pub(crate) async fn status(
    config: &Config,
    run: Option<RunId>,
    view: StoreView,
    json: bool,
) -> Result<(), CliError> {
    let store = ReadOnlyStore::open(config, "status", STATUS_RETRY).await?;
    match run {
        Some(run) => run_status(config, store.adapter(), run, json).await,
        None => store_status(config, store.adapter(), view, json).await,
    }
}

/// `iu-cutter status RUN`: the journal's record of one run, its liveness and its phases.
async fn run_status(
    config: &Config,
    adapter: &dyn LiveExecutionAdapter,
    run: RunId,
    json: bool,
) -> Result<(), CliError> {
    let record = adapter
        .load_run(&run)
        .await
        .map_err(|e| CliError::from_adapter(e, "reading the journal", STATUS_RETRY))?
        .ok_or_else(|| {
            CliError::bad_input(
                format!("no run `{run}` in the journal"),
                "list the journaled runs with `iu-cutter status`",
            )
        })?;
    let leases = load_leases(adapter).await?;
    if json {
        // The journal's record and, for a run it shows running, whether anyone runs it: a
        // killed runner leaves `running` in the journal for good.
        print_json(&RunStatusJson::of(&record, liveness(&record, &leases)));
        return Ok(());
    }
    out!("run {} on {}", record.run, config.location());
    print_run_state(&record, &leases);
    out!("scope: {}", scope_summary(&record.scope));
    out!("rules: {}", rules_summary(&record.rules));
    table(
        &["phase", "status", "finished", "evidence"],
        record.phases.iter().map(phase_row),
    );
    if let Some(sha) = &record.expected_plan_sha256 {
        out!("reviewed plan sha256: {sha}");
    }
    Ok(())
}

/// The store's leases, to tell a running run from an abandoned one.
async fn load_leases(adapter: &dyn LiveExecutionAdapter) -> Result<LeaseView, CliError> {
    adapter
        .load_leases()
        .await
        .map_err(|e| CliError::from_adapter(e, "reading the leases", STATUS_RETRY))
}

/// The `status:` line of one run; an abandoned run also gets the two ways out of it.
/// How `status` shows a run whose rollback began and did not finish, whatever its journaled
/// status (`PASS` when the kill switch refused the rollback's journal writes).
const ROLLED_BACK_IN_PART: &str = "ROLLED BACK IN PART";

fn print_run_state(record: &RunRecord, leases: &LeaseView) {
    if rolled_back_in_part(record) {
        out!(
            "status: {ROLLED_BACK_IN_PART}: its rollback began and did not finish, so it cannot \
             be resumed or enacted; roll it back again (iu-cutter rollback {} --execute)",
            record.run
        );
        return;
    }
    match liveness(record, leases) {
        Some(live) if live.state != "running" => out!(
            "status: {}: {}; resume it (iu-cutter resume {} --execute) or roll it back \
             (iu-cutter rollback {} --execute)",
            live.describe(),
            if live.state == "stopped" {
                "it stopped part-way (a closed kill switch, the stop file say, refused its next \
                 step and the record of its outcome), and its runner released it"
            } else {
                "its runner is gone (crashed or killed)"
            },
            record.run,
            record.run
        ),
        Some(live) => out!(
            "status: {} until {}",
            live.describe(),
            live.expires_at.as_deref().unwrap_or("-")
        ),
        None => out!("status: {}", run_status_name(record.status)),
    }
}

/// A row of one run's phase table: name, status, when it finished (or started), and its
/// evidence followed by its detail.
fn phase_row(phase: &PhaseRecord) -> Vec<String> {
    let mut evidence = evidence_line(&phase.evidence);
    if let Some(detail) = &phase.detail {
        if !evidence.is_empty() {
            evidence.push_str("; ");
        }
        evidence.push_str(detail);
    }
    let finished = phase
        .finished_at
        .clone()
        .or_else(|| phase.started_at.as_ref().map(|t| format!("started {t}")))
        .unwrap_or_else(|| "-".to_owned());
    vec![
        phase.name.clone(),
        phase_status(phase.status).to_owned(),
        finished,
        evidence,
    ]
}

/// `iu-cutter status`: the most recent journaled runs, with their liveness, and with
/// `--census` the store's census. Without it nothing but the journal and the leases is read, so
/// that its cost grows with the journal, not with the documents and units.
async fn store_status(
    config: &Config,
    adapter: &dyn LiveExecutionAdapter,
    view: StoreView,
    json: bool,
) -> Result<(), CliError> {
    let census = if view.census {
        let census = adapter
            .census()
            .await
            .map_err(|e| CliError::from_adapter(e, "taking the census", STATUS_RETRY))?;
        Some(CensusSummary::from(&census))
    } else {
        None
    };
    // Most recent last; only the runs shown are read whole, whatever the journal's size.
    let limit = u64::try_from(view.limit).unwrap_or(u64::MAX);
    let RecentRuns { total, runs } = adapter
        .recent_runs(limit)
        .await
        .map_err(|e| CliError::from_adapter(e, "reading the journal", STATUS_RETRY))?;
    let runs_total = usize::try_from(total).unwrap_or(usize::MAX);
    let leases = load_leases(adapter).await?;
    let lives: Vec<Liveness> = runs.iter().filter_map(|r| liveness(r, &leases)).collect();
    if json {
        print_json(&StatusJson {
            store: config.location(),
            census,
            runs_total,
            runs: runs.iter().map(|r| RunStatusJson::of(r, None)).collect(),
            liveness: lives,
        });
        return Ok(());
    }
    match &census {
        Some(c) => out!(
            "store {}: {}, fingerprint {}",
            config.location(),
            census_counts(c.documents, c.units),
            c.fingerprint
        ),
        None => out!("store {}", config.location()),
    }
    if runs_total == 0 {
        out!("no runs journaled yet");
        return Ok(());
    }
    if runs.is_empty() {
        out!("{runs_total} runs journaled, none shown (--limit 0)");
        return Ok(());
    }
    table(
        &["run", "status", "scope", "rules", "phases", "last phase"],
        runs.iter().map(|r| run_row(r, &lives)),
    );
    if runs.len() < runs_total {
        // Held runs await an operator: the journal lists them whatever the limit.
        let which = match (view.limit, runs.len().saturating_sub(view.limit)) {
            (_, 0) => "the most recent".to_owned(),
            (0, _) => "the held ones (--limit 0)".to_owned(),
            (limit, held) => format!("the {limit} most recent and {held} held before them"),
        };
        out!(
            "{} of {runs_total} runs shown, {which} (status --limit N shows more)",
            runs.len()
        );
    }
    Ok(())
}

/// A row of the run table: the run, its status (its liveness for a running one), scope, rules,
/// how many phases are done and the last phase reached.
fn run_row(record: &RunRecord, lives: &[Liveness]) -> Vec<String> {
    let done = record
        .phases
        .iter()
        .filter(|p| p.status == PhaseStatus::Done)
        .count();
    let last = record
        .phases
        .last()
        .map(|p| format!("{} {}", p.name, phase_status(p.status)))
        .unwrap_or_else(|| "-".to_owned());
    let status = if rolled_back_in_part(record) {
        ROLLED_BACK_IN_PART.to_owned()
    } else {
        lives
            .iter()
            .find(|l| l.run == record.run)
            .map_or_else(|| run_status_name(record.status), Liveness::describe)
    };
    vec![
        record.run.to_string(),
        status,
        scope_summary(&record.scope),
        rules_summary(&record.rules),
        format!("{done} done"),
        last,
    ]
}

#[derive(Serialize)]
struct UnitJson<'a> {
    ordinal: u32,
    unit_id: &'a str,
    path: &'a str,
    part: Option<u32>,
    start: u64,
    end: u64,
    bytes: u64,
    sha256: &'a str,
    /// With `--text` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
}

#[derive(Serialize)]
struct UnitsJson<'a> {
    document: &'a str,
    revision: u64,
    state: &'a DocumentState,
    active_generation: Option<&'a str>,
    /// The generation listed: the active one, or `--run`'s.
    generation: Option<&'a str>,
    /// Its state (`staged` for a held run's).
    generation_state: Option<&'static str>,
    units: Vec<UnitJson<'a>>,
}

/// What `units` was asked.
#[derive(Clone, Debug)]
pub(crate) struct UnitsArgs {
    /// The document.
    pub(crate) document: DocumentId,
    /// `--run`: the generation this run wrote (staged, for a held run) instead of the active one.
    pub(crate) run: Option<RunId>,
    /// `--text`: the units' text too.
    pub(crate) text: bool,
    /// `--json`.
    pub(crate) json: bool,
}

/// The units `units` shows: a generation of the document, and its state.
struct Listed {
    generation: Option<GenerationRecord>,
    units: Vec<Unit>,
}

/// `iu-cutter units DOC [--run RUN] [--text]`.
pub(crate) async fn units(config: &Config, args: UnitsArgs) -> Result<(), CliError> {
    let document = &args.document;
    let retry = format!("iu-cutter units {document}");
    let store = ReadOnlyStore::open(config, "units", &retry).await?;
    let adapter = store.adapter();
    let found = adapter
        .load_heads(&Scope::Ids(vec![document.clone()]))
        .await
        .map_err(|e| CliError::from_adapter(e, "reading the document", &retry))?;
    let Some(doc) = found.into_iter().next() else {
        return Err(CliError::bad_input(
            format!("no document `{document}` in the store"),
            "check the id (`iu-cutter plan` lists the documents with their ids)",
        ));
    };
    let listed = listed_units(adapter, &doc, args.run.as_ref(), &retry).await?;
    if args.json {
        print_units_json(&doc, &listed, args.text);
        return Ok(());
    }
    print_units(&doc, &listed, &args);
    Ok(())
}

/// The units of `doc`'s active generation, or of the generation `run` wrote: refused, naming
/// the document's generations, when `run` wrote none (or is not journaled).
async fn listed_units(
    adapter: &dyn LiveExecutionAdapter,
    doc: &DocumentHead,
    run: Option<&RunId>,
    retry: &str,
) -> Result<Listed, CliError> {
    let read = |e| CliError::from_adapter(e, "reading the units", retry);
    let records = adapter.generations(&doc.id).await.map_err(read)?;
    let Some(run) = run else {
        let generation = records
            .into_iter()
            .find(|g| Some(&g.generation) == doc.active_generation.as_ref());
        let units = adapter.active_units(&doc.id).await.map_err(read)?;
        return Ok(Listed { generation, units });
    };
    if adapter.load_run(run).await.map_err(read)?.is_none() {
        return Err(CliError::bad_input(
            format!("no run `{run}` in the journal"),
            "list the journaled runs with `iu-cutter status`",
        ));
    }
    let Some(generation) = records.iter().find(|g| &g.generation == run).cloned() else {
        return Err(CliError::bad_input(
            missing_generation(&doc.id, run, &records),
            format!(
                "see what run {run} covers with `iu-cutter status {run}`, and the document's \
                 active units with `iu-cutter units {}`",
                doc.id
            ),
        ));
    };
    let units = adapter.generation_units(&doc.id, run).await.map_err(read)?;
    Ok(Listed {
        generation: Some(generation),
        units,
    })
}

fn print_units_json(doc: &DocumentHead, listed: &Listed, text: bool) {
    let out = UnitsJson {
        document: doc.id.as_str(),
        revision: doc.revision,
        state: &doc.state,
        active_generation: doc.active_generation.as_ref().map(RunId::as_str),
        generation: listed.generation.as_ref().map(|g| g.generation.as_str()),
        generation_state: listed.generation.as_ref().map(|g| state_name(g.state)),
        units: listed
            .units
            .iter()
            .map(|u| UnitJson {
                ordinal: u.ordinal,
                unit_id: &u.unit_id,
                path: &u.path,
                part: u.part,
                start: u.start,
                end: u.end,
                bytes: u.end - u.start,
                sha256: &u.sha256,
                text: text.then_some(u.body.as_str()),
            })
            .collect(),
    };
    print_json(&out);
}

/// A unit's path, with its part when it was split.
fn path_of(unit: &Unit) -> String {
    match unit.part {
        Some(part) => format!("{} (part {part})", unit.path),
        None => unit.path.clone(),
    }
}

fn print_units(doc: &DocumentHead, listed: &Listed, args: &UnitsArgs) {
    let state = match &doc.state {
        DocumentState::Ready => "ready".to_owned(),
        DocumentState::Cutting { run } => format!("cutting (run {run})"),
        DocumentState::Cut => "cut".to_owned(),
    };
    let active = doc.active_generation.as_ref().map_or("none", RunId::as_str);
    match &listed.generation {
        Some(g) if args.run.is_some() => out!(
            "document {} revision {}, {state}, active generation {active}; generation {} ({})",
            doc.id,
            doc.revision,
            g.generation,
            state_name(g.state)
        ),
        _ => out!(
            "document {} revision {}, {state}, active generation {active}",
            doc.id,
            doc.revision
        ),
    }
    if listed.units.is_empty() {
        match &args.run {
            Some(run) => out!("no units in generation {run}"),
            None => out!(
                "no active units: the document has not been cut (iu-cutter run --id {})",
                doc.id
            ),
        }
        return;
    }
    if args.text {
        for u in &listed.units {
            out!(
                "--- unit {}: {} ({} bytes, sha256 {})",
                u.ordinal,
                path_of(u),
                u.end - u.start,
                short(&u.sha256)
            );
            // The text exactly as stored; a unit that does not end a line gets one here only.
            out!("{}", u.body.strip_suffix('\n').unwrap_or(&u.body));
        }
    } else {
        table(
            &["ordinal", "path", "bytes", "sha256"],
            listed.units.iter().map(|u| {
                vec![
                    u.ordinal.to_string(),
                    path_of(u),
                    (u.end - u.start).to_string(),
                    short(&u.sha256).to_owned(),
                ]
            }),
        );
    }
    out!("units: {}", listed.units.len());
}

#[cfg(test)]
mod tests {
    use super::*;
    use iu_cutter_live_execution::{CutRules, Lease, Preset, RunStatus};

    fn record(run: &str, status: RunStatus) -> RunRecord {
        let mut record = RunRecord::new(
            RunId::new(run),
            Scope::All,
            CutRules::preset(Preset::Markdown),
        );
        record.status = status;
        record
    }

    /// A run journaled `PASS` whose rollback began and stopped (the kill switch refused its
    /// journal writes) is listed as rolled back in part, not `PASS`; one whose rollback finished
    /// or never began keeps its status.
    #[test]
    fn a_run_whose_rollback_did_not_finish_is_shown_rolled_back_in_part() {
        let rollback = |status| PhaseRecord {
            name: iu_cutter_orchestrator::ROLLBACK_PHASE.to_owned(),
            status,
            evidence: Default::default(),
            detail: None,
            started_at: None,
            first_started_at: None,
            finished_at: None,
        };
        let mut stopped = record("stopped", RunStatus::Pass);
        stopped.phases.push(rollback(PhaseStatus::Running));
        let mut refused = record("refused", RunStatus::Pass);
        refused.phases.push(rollback(PhaseStatus::Failed));
        let passed = record("passed", RunStatus::Pass);
        let status_of = |r: &RunRecord| run_row(r, &[])[1].clone();
        assert_eq!(status_of(&stopped), ROLLED_BACK_IN_PART);
        assert_eq!(status_of(&refused), run_status_name(RunStatus::Pass));
        assert_eq!(status_of(&passed), run_status_name(RunStatus::Pass));
    }

    #[test]
    fn a_running_run_with_an_expired_lease_is_abandoned_without_one_stopped() {
        let leases = LeaseView {
            now_ms: 100_000,
            leases: vec![
                Lease {
                    run: RunId::new("live"),
                    holder: "a@h:1:x".into(),
                    expires_at_ms: 130_000,
                },
                Lease {
                    run: RunId::new("dead"),
                    holder: "b@h:2:y".into(),
                    expires_at_ms: 40_000,
                },
            ],
        };
        let live = liveness(&record("live", RunStatus::Running), &leases);
        assert_eq!(
            live.map(|l| l.describe()).as_deref(),
            Some("RUNNING (a@h:1:x)")
        );
        let dead = liveness(&record("dead", RunStatus::Running), &leases);
        assert_eq!(
            dead.map(|l| l.describe()).as_deref(),
            Some("ABANDONED (b@h:2:y, lease expired 60s ago)")
        );
        let none = liveness(&record("none", RunStatus::Running), &leases);
        // Released: its runner stopped (the stop file closed the switch) and let it go.
        assert_eq!(
            none.map(|l| l.describe()).as_deref(),
            Some("STOPPED (no runner holds it; resumable)")
        );
        assert_eq!(liveness(&record("live", RunStatus::Pass), &leases), None);
    }
}
