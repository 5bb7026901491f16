//! The no-clobber suite: runs, edits and rollbacks interleaved the way a live database sees them
//! (another runner, an application writing through the store, raw SQL writing around it, a
//! tampered backup), each checking that nothing is ever overwritten that a run did not write.
//! Written once and run against every store (the simulator, SQLite and PostgreSQL), with [`no_clobber_suite!`]. Each check is one of the five defects an
//! attack on the store found, kept here as its regression test.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;

use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::{
    AdapterError, AdapterResult, CutRules, DocumentState, Evidence, ExpectedRevision,
    GenerationState, LiveExecutionAdapter, Preset, RunId, Scope, sha256_hex,
};
use iu_cutter_orchestrator::{NextAction, Outcome, RunOptions, RunReport, RunRequest, Runner};
use iu_cutter_phase_core::{MemoryBackupStore, Phase, PhaseError, RunContext, names};

use crate::fixture::{Fixture, Tamper};
use crate::{id, markdown, ok, ok_report, run_as_zombie};

fixture_suite! {
    /// Instantiates every no-clobber check as a `#[tokio::test]` over `$fixture`, an
    /// `async fn(&str) -> Option<impl Tamper>`.
    no_clobber_suite {
        (no_clobber, fixture): [
            a_run_whose_documents_another_run_cut_since_its_backup_blocks_and_writes_nothing,
            rollback_keeps_an_edit_made_after_the_backup,
            enact_and_verify_catch_a_body_edited_without_its_revision,
            a_backup_replaced_with_a_matching_sha256_is_never_restored,
            a_plan_changed_in_the_journal_is_refused_before_any_unit_is_written,
            rolling_back_an_earlier_run_never_touches_a_later_one,
            units_changed_after_write_verify_are_never_enacted,
            a_unit_changed_before_write_verify_blocks_it_naming_the_unit,
            a_runner_that_lost_its_lease_cannot_write,
        ],
    }
}

const LAWS: [(&str, &str); 3] = [
    (
        "law/1",
        "# Law 1\n\nPreamble.\n\n## Article 1\n\nFirst.\n\n## Article 2\n\nSecond.\n",
    ),
    ("law/2", "# Law 2\n\n## Article 1\n\nOnly.\n"),
    (
        "law/3",
        "# Law 3\n\nPreamble.\n\n## Article 1\n\nOne.\n\n## Article 2\n\nTwo.\n",
    ),
];

fn paragraphs() -> CutRules {
    CutRules::preset(Preset::Paragraphs)
}

/// The fixture's store, seeded with [`LAWS`].
async fn seeded(fixture: &impl Fixture) -> &dyn LiveExecutionAdapter {
    let store = fixture.adapter();
    crate::seed(store, &LAWS).await;
    store
}

fn runner(fixture: &impl Fixture) -> Runner {
    Runner::new(fixture.shared(), Arc::new(MemoryBackupStore::new()))
}

/// `runner` resumes `run`.
async fn resume(runner: &Runner, run: &str) -> RunReport {
    ok_report(
        runner.resume(&RunId::new(run), RunOptions::default()).await,
        &format!("resume {run}"),
    )
}

/// `runner` rolls `run` back.
async fn rollback(runner: &Runner, run: &str) -> RunReport {
    ok_report(
        runner.rollback(&RunId::new(run)).await,
        &format!("rollback {run}"),
    )
}

/// `runner` refuses to roll `run` back and the census does not move (`unchanged` says what that
/// keeps); returns the refusal's reason and its advice.
async fn refused_rollback(
    store: &dyn LiveExecutionAdapter,
    runner: &Runner,
    run: &str,
    unchanged: &str,
) -> (String, Vec<NextAction>) {
    let before = ok(store.census().await, "census");
    let refused = rollback(runner, run).await;
    let Outcome::Refused { reason, next, .. } = refused.outcome else {
        panic!("expected REFUSED, got {:?}", refused.outcome);
    };
    assert_eq!(ok(store.census().await, "census"), before, "{unchanged}");
    (reason, next)
}

/// No document has `run`'s generation active.
async fn assert_not_enacted(store: &dyn LiveExecutionAdapter, run: &str) {
    for head in ok(store.load_heads(&Scope::All).await, "heads") {
        assert_ne!(head.active_generation, Some(RunId::new(run)), "{head:?}");
    }
}

async fn run(runner: &Runner, run: &str, rules: CutRules, until: Option<&str>) -> RunReport {
    let options = match until {
        Some(phase) => RunOptions::default().with_until(phase),
        None => RunOptions::default(),
    };
    ok_report(
        runner
            .run(RunRequest::new(run, Scope::All, rules), options)
            .await,
        run,
    )
}

/// Runs `run` held after phase `until`, and checks it passed.
async fn held_pass(runner: &Runner, run_id: &str, rules: CutRules, until: &str) {
    assert_outcome(&run(runner, run_id, rules, Some(until)).await, "PASS");
}

fn assert_outcome(report: &RunReport, name: &str) {
    assert_eq!(
        report.outcome.name(),
        name,
        "run {} ({}): {:?}",
        report.run,
        report.command.name(),
        report.outcome
    );
}

/// The generation records of `document`, as (generation, state).
async fn generations(
    store: &dyn LiveExecutionAdapter,
    document: &str,
) -> Vec<(String, GenerationState)> {
    ok(store.generations(&id(document)).await, "generations")
        .into_iter()
        .map(|g| (g.generation.to_string(), g.state))
        .collect()
}

/// Defect 1: run `ra` backed up; run `rb` then cut the same documents to PASS. `ra` resumed must
/// stop at its fence, naming a document, before writing a unit; rolling `ra` back must leave
/// `rb`'s result exactly as it is.
pub async fn a_run_whose_documents_another_run_cut_since_its_backup_blocks_and_writes_nothing(
    fixture: &impl Tamper,
) {
    let store = seeded(fixture).await;
    let runner = runner(fixture);
    held_pass(&runner, "ra", markdown(), names::BACKUP).await;
    assert_outcome(&run(&runner, "rb", markdown(), None).await, "PASS");
    let after_rb = ok(store.census().await, "census");

    let resumed = resume(&runner, "ra").await;
    let Outcome::Blocked { gap } = &resumed.outcome else {
        panic!("resume ra: expected BLOCKED, got {:?}", resumed.outcome);
    };
    assert_eq!(gap.phase, names::CUT_LEG_A);
    assert!(gap.document.is_some(), "{gap:?}");
    assert!(gap.found.contains("rb"), "{gap:?}");
    for (document, _) in LAWS {
        assert!(
            !generations(store, document)
                .await
                .iter()
                .any(|(g, _)| g == "ra"),
            "ra wrote a generation of {document}"
        );
    }
    assert_eq!(
        ok(store.census().await, "census"),
        after_rb,
        "ra changed nothing"
    );

    let rolled_back = rollback(&runner, "ra").await;
    assert_outcome(&rolled_back, "ROLLED_BACK");
    assert_eq!(
        ok(store.census().await, "census"),
        after_rb,
        "rolling back ra left rb's result exactly as it was"
    );
    for head in ok(store.load_heads(&Scope::All).await, "heads") {
        assert_eq!(head.active_generation, Some(RunId::new("rb")), "{head:?}");
        assert_eq!(head.state, DocumentState::Cut);
    }
}

/// Defect 2: an edit through the store (an application's import) lands while the run holds its
/// fence, and another after a run passed: rollback takes back the runs' marks and keeps both
/// edits.
pub async fn rollback_keeps_an_edit_made_after_the_backup(fixture: &impl Tamper) {
    let store = seeded(fixture).await;
    let runner = runner(fixture);
    held_pass(&runner, "held", markdown(), names::LEG_B_RECORD).await;
    let edited = "# Law 1\n\nAmended while the run held it.\n";
    let put = ok(store.put_document(&id("law/1"), edited).await, "edit");
    assert_eq!(put.revision, 2);
    let rolled_back = rollback(&runner, "held").await;
    assert_outcome(&rolled_back, "ROLLED_BACK");
    let Some(check) = rolled_back.rollback.as_ref() else {
        panic!("no rollback check: {rolled_back:?}");
    };
    assert_eq!(check.kept_edits.len(), 1, "{check:?}");
    assert_eq!(check.kept_edits[0].document, id("law/1"));
    let law1 = &ok(
        store.load_scope(&Scope::Ids(vec![id("law/1")])).await,
        "load",
    )[0];
    assert_eq!(law1.body, edited, "the edit survived the rollback");
    assert_eq!(law1.revision, 2);
    assert_eq!(law1.state, DocumentState::Ready, "no cut matches the edit");
    assert!(generations(store, "law/1").await.is_empty());

    // After a PASS: the pointer goes back, the edit stays.
    assert_outcome(&run(&runner, "cut", markdown(), None).await, "PASS");
    let again = "# Law 2\n\nAmended after the cut.\n";
    ok(store.put_document(&id("law/2"), again).await, "edit");
    let rolled_back = rollback(&runner, "cut").await;
    assert_outcome(&rolled_back, "ROLLED_BACK");
    let law2 = &ok(
        store.load_scope(&Scope::Ids(vec![id("law/2")])).await,
        "load",
    )[0];
    assert_eq!(law2.body, again);
    assert_eq!(law2.active_generation, None);
    assert_eq!(law2.state, DocumentState::Ready);
    let law3 = &ok(
        store.load_scope(&Scope::Ids(vec![id("law/3")])).await,
        "load",
    )[0];
    assert_eq!(law3.state, DocumentState::Ready);
    assert_eq!(law3.active_generation, None);
}

/// Defect 3: a body edited by raw SQL (revision and sha256 columns untouched) after
/// write-verify is caught by enact, inside its transaction; and an enacted run whose body is
/// edited the same way fails its audit (`verify`) instead of passing.
pub async fn enact_and_verify_catch_a_body_edited_without_its_revision(fixture: &impl Tamper) {
    let store = seeded(fixture).await;
    let runner = runner(fixture);
    held_pass(&runner, "held", markdown(), names::WRITE_VERIFY).await;
    let raw = "# Law 3\n\nPreamble.\n\n## Article 1\n\nOne.\n\n## Article 2\n\nTwo, edited.\n";
    fixture.edit_body_raw("law/3", raw).await;
    let resumed = resume(&runner, "held").await;
    let Outcome::Blocked { gap } = &resumed.outcome else {
        panic!("expected BLOCKED, got {:?}", resumed.outcome);
    };
    // Resuming a held run verifies it again first: write-verify finds the edit before enact's
    // own compare-and-set would (the edit trials inject it between the two, see `races`).
    assert!(
        [names::WRITE_VERIFY, names::LIFECYCLE_ENACT].contains(&gap.phase.as_str()),
        "{gap:?}"
    );
    assert_eq!(gap.document, Some(id("law/3")));
    assert_not_enacted(store, "held").await;

    // An enacted run, then the same kind of edit: its audit must not pass.
    let original = LAWS[1].1;
    let fresh = Runner::new(fixture.shared(), Arc::new(MemoryBackupStore::new()));
    ok(store.put_document(&id("law/9"), original).await, "seed");
    let request = RunRequest::new("solo", Scope::Ids(vec![id("law/9")]), markdown());
    assert_outcome(
        &ok_report(fresh.run(request, RunOptions::default()).await, "solo"),
        "PASS",
    );
    fixture
        .edit_body_raw("law/9", "# Law 2\n\n## Article 1\n\nOnly, edited.\n")
        .await;
    let audit = ok_report(
        fresh
            .verify(&RunId::new("solo"), RunOptions::default())
            .await,
        "verify",
    );
    let Outcome::Blocked { gap } = &audit.outcome else {
        panic!("expected the audit BLOCKED, got {:?}", audit.outcome);
    };
    assert_eq!(gap.document, Some(id("law/9")));
    assert!(gap.found.contains("stale"), "{gap:?}");
}

/// Defect 4: the store's copy of a run's backup replaced (truncated) with its recorded sha256
/// recomputed to match: it is not the backup journaled at backup time, and rollback refuses it
/// before any change.
pub async fn a_backup_replaced_with_a_matching_sha256_is_never_restored(fixture: &impl Tamper) {
    let store = seeded(fixture).await;
    let runner = runner(fixture);
    assert_outcome(&run(&runner, "r", markdown(), None).await, "PASS");
    let Some(stored) = ok(store.load_backup(&RunId::new("r")).await, "load_backup") else {
        panic!("the backup is not journaled in the store");
    };
    let mut lines: Vec<&str> = stored.artifact.lines().collect();
    lines.pop();
    let truncated = format!("{}\n", lines.join("\n"));
    fixture
        .replace_backup_raw("r", &truncated, &sha256_hex(truncated.as_bytes()))
        .await;
    let (reason, _) = refused_rollback(store, &runner, "r", "nothing changed").await;
    assert!(reason.contains("not the one journaled"), "{reason}");
    assert!(reason.contains("nothing was changed"), "{reason}");
}

/// A run's sealed plan changed in the journal between two invocations (one unit's recorded
/// sha256 altered, the part still parsing) is refused by the next phase before it writes a
/// unit, naming the journal; the run then rolls back to the exact pre-run state.
pub async fn a_plan_changed_in_the_journal_is_refused_before_any_unit_is_written(
    fixture: &impl Tamper,
) {
    let store = seeded(fixture).await;
    let pre_run = ok(store.census().await, "census");
    let runner = runner(fixture);
    held_pass(&runner, "r", markdown(), names::CUT_LEG_A).await;
    let part = ok(store.load_plan_part(&RunId::new("r"), 1).await, "plan part");
    let Some(part) = part else {
        panic!("run r sealed no plan part");
    };
    let at = part.text.find("\"sha256\":\"").map(|at| at + 10);
    let Some(at) = at else {
        panic!("no unit sha256 in {}", part.text);
    };
    let flipped = if part.text[at..].starts_with('0') {
        "1"
    } else {
        "0"
    };
    let tampered = format!("{}{flipped}{}", &part.text[..at], &part.text[at + 1..]);
    fixture.replace_plan_part_raw("r", 0, &tampered).await;

    let resumed = resume(&runner, "r").await;
    assert!(!resumed.passed_every_phase(), "{:?}", resumed.outcome);
    let said = format!("{:?}", resumed.outcome);
    assert!(said.contains("journal"), "{said}");
    for (document, _) in LAWS {
        let written = ok(
            store
                .generation_units(&id(document), &RunId::new("r"))
                .await,
            "units",
        );
        assert!(written.is_empty(), "{document}: {written:?}");
    }
    assert_outcome(&rollback(&runner, "r").await, "ROLLED_BACK");
    assert_eq!(ok(store.census().await, "census"), pre_run);
}

/// Defect 5: run A passed, then run B (other rules) staged its units on the same documents.
/// Rolling A back is refused before any change, naming B; once B is rolled back, A's rollback
/// goes through to the exact pre-run state.
pub async fn rolling_back_an_earlier_run_never_touches_a_later_one(fixture: &impl Tamper) {
    let store = seeded(fixture).await;
    let pre_run = ok(store.census().await, "census");
    let runner = runner(fixture);
    assert_outcome(&run(&runner, "A", markdown(), None).await, "PASS");
    held_pass(&runner, "B", paragraphs(), names::LEG_B_RECORD).await;
    let (reason, next) =
        refused_rollback(store, &runner, "A", "B's fence and generation are intact").await;
    assert!(reason.contains("run B"), "{reason}");
    assert_eq!(
        next.first(),
        Some(&NextAction::Rollback {
            run: RunId::new("B")
        }),
        "{next:?}"
    );

    assert_outcome(&rollback(&runner, "B").await, "ROLLED_BACK");
    assert_outcome(&rollback(&runner, "A").await, "ROLLED_BACK");
    assert_eq!(
        ok(store.census().await, "census"),
        pre_run,
        "back to the exact pre-run state"
    );
}

/// A second attack: a staged unit's body rewritten (its recorded sha256 kept) after write-verify
/// approved the generation, by raw SQL while the run is held. Enact compares the staged units,
/// bodies hashed as stored, with the verified plan inside its transaction: nothing is enacted,
/// `BLOCKED` naming the document; rolled back, the store is as before the run.
pub async fn units_changed_after_write_verify_are_never_enacted(fixture: &impl Tamper) {
    let store = seeded(fixture).await;
    let pre_run = ok(store.census().await, "census");
    let runner = runner(fixture);
    held_pass(&runner, "held", markdown(), names::WRITE_VERIFY).await;
    fixture.edit_unit_raw("law/1", "held", 1, "TAMPERED").await;
    let enacted = ok_report(
        runner
            .enact(&RunId::new("held"), RunOptions::default())
            .await,
        "enact",
    );
    assert_eq!(enacted.outcome.name(), "BLOCKED", "{:?}", enacted.outcome);
    // Resuming or running it again takes the same way: verified again, never around it.
    let resumed = resume(&runner, "held").await;
    assert_eq!(resumed.outcome.name(), "BLOCKED", "{:?}", resumed.outcome);
    assert_not_enacted(store, "held").await;
    assert_outcome(&rollback(&runner, "held").await, "ROLLED_BACK");
    assert_eq!(ok(store.census().await, "census"), pre_run);
}

/// A staged unit's body rewritten by raw SQL (its recorded sha256 kept) after leg-b-record wrote
/// it and before write-verify reads it: write-verify, whichever store hashes the bodies (the
/// server on PostgreSQL), blocks the run naming the document and the unit, and nothing is
/// enacted.
pub async fn a_unit_changed_before_write_verify_blocks_it_naming_the_unit(fixture: &impl Tamper) {
    let store = seeded(fixture).await;
    let runner = runner(fixture);
    held_pass(&runner, "held", markdown(), names::LEG_B_RECORD).await;
    fixture.edit_unit_raw("law/1", "held", 1, "TAMPERED").await;
    let resumed = resume(&runner, "held").await;
    let Outcome::Blocked { gap } = &resumed.outcome else {
        panic!("expected BLOCKED, got {:?}", resumed.outcome);
    };
    assert_eq!(gap.phase, names::WRITE_VERIFY, "{gap:?}");
    assert_eq!(gap.document, Some(id("law/1")), "{gap:?}");
    let unit = gap.unit.as_deref().unwrap_or_default();
    assert!(unit.contains("(ordinal 1)"), "{gap:?}");
    let tampered = sha256_hex(b"TAMPERED");
    assert!(gap.found.contains(&tampered), "{gap:?}");
    assert_not_enacted(store, "held").await;
}

/// A phase that pauses the whole process past its lease's time to live; meanwhile another
/// runner takes the lease over, as it may once the lease has expired. Then, a zombie, it tries
/// to fence the run's documents, and records what the store said.
struct PauseAndFence {
    ttl: Duration,
    pause: Arc<dyn Fn(Duration) + Send + Sync>,
    takeover: Arc<dyn LiveExecutionAdapter>,
    fenced: Arc<Mutex<Option<AdapterResult<()>>>>,
}

#[async_trait]
impl Phase for PauseAndFence {
    fn name(&self) -> &str {
        "pause"
    }

    async fn run(&self, ctx: &mut RunContext) -> Result<Evidence, PhaseError> {
        let run = ctx.record.run.clone();
        // A renewal the heartbeat began before the pause (it found the lease live and holds its
        // row) completes after it and keeps the lease: the store honours a renewal that found
        // the lease live, since no takeover can pass the row it holds. Then the zombie is no
        // zombie yet; pause again until the lease has expired with no renewal in flight.
        for attempt in 1.. {
            (self.pause)(self.ttl * 4);
            match self
                .takeover
                .acquire_lease(&run, "takeover", Duration::from_secs(600))
                .await
            {
                Ok(_) => break,
                Err(AdapterError::LeaseHeld { holder, .. })
                    if holder == "zombie" && attempt < 5 => {}
                Err(error) => {
                    panic!("the takeover of the expired lease (attempt {attempt}): {error}")
                }
            }
        }
        let documents = ctx.store().load_scope(&Scope::All).await?;
        let expectations: Vec<ExpectedRevision> =
            documents.iter().map(ExpectedRevision::of).collect();
        let fenced = ctx.store().fence(&run, &expectations).await;
        let refused = fenced.as_ref().err().map(ToString::to_string);
        *self.fenced.lock().unwrap_or_else(PoisonError::into_inner) = Some(fenced);
        match refused {
            Some(message) => Err(PhaseError::Precondition(message)),
            None => Ok(Evidence::new()),
        }
    }
}

/// Defect 7 of the second attack: a runner that lost its lease while paused (its heartbeat could
/// not renew) must not write once another runner has taken the run over. The heartbeat notices
/// too late to help (the runner checks it only at boundaries), so the store itself refuses every
/// call on the run that does not carry the live lease: the zombie's fence fails with
/// `LeaseLost`, no document is fenced, its journal entries are refused, and the new holder keeps
/// the lease.
pub async fn a_runner_that_lost_its_lease_cannot_write(fixture: &impl Tamper) {
    let store = seeded(fixture).await;
    let before = ok(store.census().await, "census");
    let ttl = Duration::from_millis(300);
    let fenced = Arc::new(Mutex::new(None));
    let mut phases = iu_cutter_orchestrator::default_phases();
    phases.insert(
        1,
        Box::new(PauseAndFence {
            ttl,
            pause: fixture.pause(),
            takeover: fixture.shared(),
            fenced: fenced.clone(),
        }),
    );
    let runner = Runner::with_phases(fixture.shared(), Arc::new(MemoryBackupStore::new()), phases);
    let report = run_as_zombie(&runner, ttl).await;
    assert_outcome(&report, "FAILED");
    let fenced = fenced.lock().unwrap_or_else(PoisonError::into_inner).take();
    assert!(
        matches!(fenced, Some(Err(AdapterError::LeaseLost { .. }))),
        "the zombie's fence must be refused as LeaseLost, got {fenced:?}"
    );
    for head in ok(store.load_heads(&Scope::All).await, "heads") {
        assert_eq!(head.state, DocumentState::Ready, "{head:?}");
    }
    let after = ok(store.census().await, "census");
    assert_eq!(
        after.per_document, before.per_document,
        "no document changed"
    );
    let journal = ok(store.load_run(&RunId::new("rz")).await, "journal");
    let pause = journal.as_ref().and_then(|r| r.phase("pause"));
    assert_eq!(
        pause.map(|p| p.status),
        Some(iu_cutter_live_execution::PhaseStatus::Running),
        "the zombie's journal entries after the takeover are refused: {journal:?}"
    );
    match store
        .acquire_lease(&RunId::new("rz"), "third", Duration::from_secs(60))
        .await
    {
        Err(AdapterError::LeaseHeld { holder, .. }) => assert_eq!(holder, "takeover"),
        other => panic!("the takeover must still hold the lease, got {other:?}"),
    }
}
