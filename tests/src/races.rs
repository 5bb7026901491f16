//! Fault trials against real databases, for `cargo xtask faults` (many trials) and the normal
//! suite (a few): two runners racing on one scope, and an edit injected by a database trigger at
//! every phase boundary. Each trial runs on a fresh store; each prints one line, and the whole
//! prints the tally `N passed, M failed`.
//!
//! The oracles are the no-clobber promise, stated per trial:
//! - **Races.** Runner A starts; runner B starts on the same scope at a random offset. If B's
//!   backup saw A's enacted result (or A's saw B's), the two ran one after the other and may both
//!   pass, the later one's generation active. Otherwise they overlapped: exactly one passes, the
//!   other is `BLOCKED` at its fence (or at its backup, when the winner fenced a document while
//!   that backup was written) having written no unit, and every document is enacted by the
//!   winner. Rolling back the passing runs, newest first, gives back the pre-run census.
//! - **Edits.** A trigger on the journal's phase rows edits one document's body (raw: revision and
//!   sha256 untouched; or with the revision bumped) when a given phase reaches a given status.
//!   A run never ends `PASS` with units that do not tile the current body, except when the edit
//!   came after the enact committed, and then `verify` reports the document stale. The edit is
//!   never reverted by a rollback.

use iu_cutter_live_execution::prelude::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

use iu_cutter_live_execution::{DocumentId, LiveExecutionAdapter, RunId, Scope, sha256_hex};
use iu_cutter_orchestrator::{Outcome, RunOptions, RunReport, RunRequest, Runner};
use iu_cutter_phase_core::{MemoryBackupStore, decode_backup, names};
use iu_cutter_test_env::XorShift;

use crate::fixture::{RawSql, SqlFixture};
use crate::markdown;

const DOCUMENTS: usize = 12;
/// The document the edit trials edit.
const EDITED: &str = "law/003";
const MARK: &str = " [edited underneath]";

fn body(n: usize) -> String {
    let mut body = format!("# Law {n}\n\nPreamble of law {n}.\n");
    for article in 1..=6 {
        body.push_str(&format!(
            "\n## Article {article}\n\nThe holder of licence {n}-{article} keeps records.\n"
        ));
    }
    body
}

/// The suite's store: [`DOCUMENTS`] laws of [`body`].
async fn seed(store: &dyn LiveExecutionAdapter) {
    crate::seed_numbered(store, DOCUMENTS, body).await;
}

/// A runner with its own connection pool: a second process, as far as the database can tell.
async fn runner(fixture: &impl SqlFixture) -> Runner {
    Runner::new(
        fixture.another_process().await,
        Arc::new(MemoryBackupStore::new()),
    )
}

/// Passed and failed trials, with the failures' lines.
#[derive(Debug, Default)]
pub struct Tally {
    /// Trials that held the promise.
    pub passed: u64,
    /// The lines of the trials that did not.
    pub failures: Vec<String>,
}

impl Tally {
    fn record(&mut self, line: String, result: Result<String, String>) {
        match result {
            Ok(how) => {
                println!("{line}: PASS{how}");
                self.passed += 1;
            }
            Err(error) => {
                println!("{line}: FAIL {error}");
                self.failures.push(format!("{line}: {error}"));
            }
        }
    }

    /// Prints `N passed, M failed` and panics on any failure.
    pub fn finish(self) {
        println!("{} passed, {} failed", self.passed, self.failures.len());
        assert!(self.failures.is_empty(), "failed: {:#?}", self.failures);
    }
}

async fn run_to_end(runner: Runner, run: &'static str) -> Result<RunReport, String> {
    runner
        .run(
            RunRequest::new(run, Scope::All, markdown()),
            RunOptions::default(),
        )
        .await
        .map_err(|e| format!("{run}: {e}"))
}

/// Race trials of the normal suite; `cargo xtask faults` sets `IU_CUTTER_FAULTS_RACE_TRIALS`.
const RACE_TRIALS: u64 = 3;
/// The seed of the race offsets, unless `IU_CUTTER_FAULTS_SEED` says otherwise.
const RACE_SEED: u64 = 0x0100_5eed_f00d;

/// Two runners racing on one scope, each trial on a fresh store from `fresh`:
/// `IU_CUTTER_FAULTS_RACE_TRIALS` trials (3 by default; `cargo xtask faults` runs 100), seeded by
/// `IU_CUTTER_FAULTS_SEED`.
pub async fn race_trials<X, F, Fut>(fresh: F) -> Tally
where
    X: SqlFixture,
    F: Fn(String) -> Fut,
    Fut: Future<Output = Option<X>>,
{
    let trials = iu_cutter_test_env::env_u64("IU_CUTTER_FAULTS_RACE_TRIALS", RACE_TRIALS);
    let seed = iu_cutter_test_env::env_u64("IU_CUTTER_FAULTS_SEED", RACE_SEED);
    let mut tally = Tally::default();
    let Some(probe) = fresh("race_probe".into()).await else {
        return tally;
    };
    seed_store(&probe).await;
    let started = Instant::now();
    let solo = run_to_end(runner(&probe).await, "solo").await;
    let window = started.elapsed().as_millis().max(1) as u64;
    probe.finish().await;
    if let Err(error) = solo {
        tally.record("race: a solo run".into(), Err(error));
        return tally;
    }
    println!("race trials: {trials}, seed {seed:#x}, a solo run takes {window} ms");
    let mut rng = XorShift::new(seed);
    for trial in 0..trials {
        let Some(fixture) = fresh(format!("race_{trial}")).await else {
            return tally;
        };
        let offset = Duration::from_millis(rng.next_u64() % window);
        let result = race(&fixture, offset).await;
        fixture.finish().await;
        tally.record(
            format!("race {trial}: B started {} ms after A", offset.as_millis()),
            result,
        );
    }
    tally
}

async fn seed_store(fixture: &impl SqlFixture) {
    seed(fixture.adapter()).await;
}

/// One race: A, then B `offset` later, on the same scope; the oracle; then the rollbacks.
/// Returns how the race went.
async fn race(fixture: &impl SqlFixture, offset: Duration) -> Result<String, String> {
    let store = fixture.adapter();
    seed(store).await;
    let pre_run = store.census().await.map_err(|e| e.to_string())?;
    let (a, b) = (runner(fixture).await, runner(fixture).await);
    let first = tokio::spawn(run_to_end(a, "A"));
    // Real time on purpose: the offset is how far into A's run, on a real database, B starts.
    // The trial is a race between two pools of connections; no clock of ours decides it.
    tokio::time::sleep(offset).await;
    let second = tokio::spawn(run_to_end(b, "B"));
    let a = first.await.map_err(|e| e.to_string())??;
    let b = second.await.map_err(|e| e.to_string())??;
    let order = saw_enacted(store, "B", "A").await?;
    let reverse = saw_enacted(store, "A", "B").await?;
    let passing: Vec<&str> = match (a.outcome.name(), b.outcome.name()) {
        ("PASS", "PASS") if order => vec!["A", "B"],
        ("PASS", "PASS") if reverse => vec!["B", "A"],
        // Both passed, and neither's backup saw the other's result: one cut over the other.
        ("PASS", "PASS") => return Err("both passed, neither saw the other's result".into()),
        ("PASS", "BLOCKED") => {
            lost_cleanly(store, &b).await?;
            vec!["A"]
        }
        ("BLOCKED", "PASS") => {
            lost_cleanly(store, &a).await?;
            vec!["B"]
        }
        (x, y) => return Err(format!("A ended {x}, B ended {y}: {a:?} / {b:?}")),
    };
    let winner = RunId::new(passing[passing.len() - 1]);
    for document in store
        .load_scope(&Scope::All)
        .await
        .map_err(|e| e.to_string())?
    {
        if document.active_generation.as_ref() != Some(&winner) {
            return Err(format!(
                "{}: active generation {:?}, expected {winner}",
                document.id, document.active_generation
            ));
        }
        tiles(store, &document.id, &winner, &document.body).await?;
    }
    // Back to the pre-run state, newest first.
    for run in passing.iter().rev() {
        let back = runner(fixture).await;
        let report = back
            .rollback(&RunId::new(*run))
            .await
            .map_err(|e| e.to_string())?;
        if report.outcome != Outcome::RolledBack {
            return Err(format!("rollback {run}: {:?}", report.outcome));
        }
    }
    let after = store.census().await.map_err(|e| e.to_string())?;
    if after != pre_run {
        return Err("the rollbacks did not give back the pre-run census".into());
    }
    Ok(match passing.as_slice() {
        [only] => format!(" (overlapped: {only} won, the other stopped at its backup or fence)"),
        _ => " (one after the other: both passed)".to_owned(),
    })
}

/// Whether `later`'s backup saw `earlier`'s generation active on every document.
async fn saw_enacted(
    store: &dyn LiveExecutionAdapter,
    later: &str,
    earlier: &str,
) -> Result<bool, String> {
    let run = RunId::new(later);
    let Some(stored) = store.load_backup(&run).await.map_err(|e| e.to_string())? else {
        return Ok(false);
    };
    let backup = decode_backup(&run, stored.artifact.as_bytes()).map_err(|e| e.to_string())?;
    let earlier = RunId::new(earlier);
    Ok(!backup.documents.is_empty()
        && backup
            .documents
            .iter()
            .all(|s| s.document.active_generation.as_ref() == Some(&earlier)))
}

/// The losing run stopped at its backup or fence and left no generation anywhere.
async fn lost_cleanly(store: &dyn LiveExecutionAdapter, report: &RunReport) -> Result<(), String> {
    match &report.outcome {
        // Refused before it mutated anything: by its fence, or by its backup when the other run
        // fenced a document while the backup was written.
        Outcome::Blocked { gap }
            if [names::BACKUP, names::CUT_LEG_A].contains(&gap.phase.as_str()) => {}
        other => {
            return Err(format!(
                "{}: lost, but not at its backup or fence: {other:?}",
                report.run
            ));
        }
    }
    if let Some(document) = first_with_generation(store, &report.run).await? {
        return Err(format!(
            "{document}: the losing run {} wrote a generation of it",
            report.run
        ));
    }
    Ok(())
}

/// The first document (by id) holding a generation of `run`, if any.
async fn first_with_generation(
    store: &dyn LiveExecutionAdapter,
    run: &RunId,
) -> Result<Option<DocumentId>, String> {
    for head in store
        .load_heads(&Scope::All)
        .await
        .map_err(|e| e.to_string())?
    {
        let records = store
            .generations(&head.id)
            .await
            .map_err(|e| e.to_string())?;
        if records.iter().any(|g| &g.generation == run) {
            return Ok(Some(head.id));
        }
    }
    Ok(None)
}

/// `generation`'s units of `document` concatenate to `body`, byte for byte.
async fn tiles(
    store: &dyn LiveExecutionAdapter,
    document: &DocumentId,
    generation: &RunId,
    body: &str,
) -> Result<(), String> {
    let units = store
        .generation_units(document, generation)
        .await
        .map_err(|e| e.to_string())?;
    let joined: String = units.iter().map(|u| u.body.as_str()).collect();
    if sha256_hex(joined.as_bytes()) == sha256_hex(body.as_bytes()) {
        Ok(())
    } else {
        Err(format!(
            "{document}: the units of {generation} do not tile the current body"
        ))
    }
}

/// The phase boundaries a trigger can fire at: every phase, running and done.
fn boundaries() -> Vec<(&'static str, &'static str)> {
    names::ALL
        .iter()
        .flat_map(|phase| [(*phase, "running"), (*phase, "done")])
        .collect()
}

/// One edit trial per boundary and kind of edit (raw body only; body and revision), each on a
/// fresh store from `fresh`.
pub async fn edit_trials<X, F, Fut>(fresh: F) -> Tally
where
    X: RawSql,
    F: Fn(String) -> Fut,
    Fut: Future<Output = Option<X>>,
{
    let mut tally = Tally::default();
    for (phase, status) in boundaries() {
        for bump_revision in [false, true] {
            let name = format!(
                "edit_{}_{status}_{}",
                phase.replace('-', "_"),
                if bump_revision { "revised" } else { "raw" }
            );
            let Some(fixture) = fresh(name).await else {
                return tally;
            };
            let result = edit_trial(&fixture, phase, status, bump_revision)
                .await
                .map(|outcome| format!(" ({outcome})"));
            fixture.finish().await;
            let kind = if bump_revision {
                "body and revision"
            } else {
                "body only"
            };
            tally.record(format!("edit ({kind}) when {phase} is {status}"), result);
        }
    }
    tally
}

/// The statements creating a trigger that edits [`EDITED`] when `phase` reaches `status`.
fn trigger_sql(dialect: &str, phase: &str, status: &str, bump_revision: bool) -> Vec<String> {
    let revision = if bump_revision {
        ", revision = revision + 1"
    } else {
        ""
    };
    let edit =
        format!("UPDATE documents SET body = body || '{MARK}'{revision} WHERE id = '{EDITED}'");
    if dialect == "sqlite" {
        vec![
            format!(
                "CREATE TRIGGER edit_on_insert AFTER INSERT ON run_phases \
                 WHEN NEW.name = '{phase}' AND NEW.status = '{status}' BEGIN {edit}; END"
            ),
            format!(
                "CREATE TRIGGER edit_on_update AFTER UPDATE ON run_phases \
                 WHEN NEW.name = '{phase}' AND NEW.status = '{status}' \
                 AND OLD.status <> NEW.status BEGIN {edit}; END"
            ),
        ]
    } else {
        vec![
            format!(
                "CREATE FUNCTION edit_underneath() RETURNS trigger LANGUAGE plpgsql AS $$ \
                 BEGIN IF NEW.name = '{phase}' AND NEW.status = '{status}' \
                 AND (TG_OP = 'INSERT' OR OLD.status <> NEW.status) THEN {edit}; END IF; \
                 RETURN NEW; END $$"
            ),
            "CREATE TRIGGER edit_underneath AFTER INSERT OR UPDATE ON run_phases \
             FOR EACH ROW EXECUTE FUNCTION edit_underneath()"
                .to_owned(),
        ]
    }
}

fn drop_trigger_sql(dialect: &str) -> Vec<String> {
    if dialect == "sqlite" {
        vec![
            "DROP TRIGGER edit_on_insert".to_owned(),
            "DROP TRIGGER edit_on_update".to_owned(),
        ]
    } else {
        vec![
            "DROP TRIGGER edit_underneath ON run_phases".to_owned(),
            "DROP FUNCTION edit_underneath()".to_owned(),
        ]
    }
}

/// One run with the edit injected at (`phase`, `status`), then its rollback. Returns the run's
/// outcome.
async fn edit_trial(
    fixture: &impl RawSql,
    phase: &str,
    status: &str,
    bump_revision: bool,
) -> Result<String, String> {
    let store = fixture.adapter();
    seed(store).await;
    for statement in trigger_sql(fixture.dialect(), phase, status, bump_revision) {
        fixture.execute_raw(&statement, &[]).await;
    }
    let report = run_to_end(runner(fixture).await, "edited").await?;
    for statement in drop_trigger_sql(fixture.dialect()) {
        fixture.execute_raw(&statement, &[]).await;
    }
    let run = RunId::new("edited");
    let edited = DocumentId::new(EDITED);
    let current = store
        .load_scope(&Scope::Ids(vec![edited.clone()]))
        .await
        .map_err(|e| e.to_string())?;
    let Some(document) = current.first() else {
        return Err("the edited document is gone".into());
    };
    if !document.body.ends_with(MARK) {
        return Err("the trigger did not fire".into());
    }
    let after_enact = phase == names::LIFECYCLE_ENACT && status == "done";
    let outcome = match &report.outcome {
        Outcome::Blocked { gap } => format!("BLOCKED at {}", gap.phase),
        other => other.name().to_owned(),
    };
    match &report.outcome {
        Outcome::Pass if after_enact => stale_is_reported(fixture, &run).await?,
        Outcome::Pass => {
            // Only an edit before the backup read the sources may pass: it was cut.
            tiles(store, &edited, &run, &document.body).await?;
        }
        Outcome::Blocked { gap } if gap.document.as_ref() == Some(&edited) => {}
        other => return Err(format!("{phase} {status}: {other:?}")),
    }
    // The rollback never reverts the edit.
    let report = runner(fixture)
        .await
        .rollback(&run)
        .await
        .map_err(|e| e.to_string())?;
    if report.outcome != Outcome::RolledBack {
        return Err(format!("rollback: {:?}", report.outcome));
    }
    let after = store
        .load_scope(&Scope::Ids(vec![edited.clone()]))
        .await
        .map_err(|e| e.to_string())?;
    if after.first().map(|d| d.body.as_str()) != Some(document.body.as_str()) {
        return Err("the rollback reverted the edit".into());
    }
    if let Some(document) = first_with_generation(store, &run).await? {
        return Err(format!(
            "{document}: the rolled-back run left its generation"
        ));
    }
    Ok(outcome)
}

/// An edit after the enact committed: the run passed truthfully, and `verify` must now report
/// the edited document's units stale rather than pass.
async fn stale_is_reported(fixture: &impl SqlFixture, run: &RunId) -> Result<(), String> {
    let audit = runner(fixture)
        .await
        .verify(run, RunOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    match &audit.outcome {
        Outcome::Blocked { gap }
            if gap.document.as_ref().map(DocumentId::as_str) == Some(EDITED)
                && gap.found.contains("stale") =>
        {
            Ok(())
        }
        other => Err(format!(
            "an edit after enact: verify must report the document stale, got {other:?}"
        )),
    }
}
