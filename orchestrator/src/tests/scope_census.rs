//! The census costs O(scope): every invocation reads the census of its own documents and the
//! store's change log, never the whole store, and still catches what changed outside its scope.

use std::sync::Mutex;

use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::{
    DocumentHead, DocumentId, DocumentState, ExpectedRevision, OpKind, RunId,
};
use iu_cutter_phase_core::names;

use super::*;
use crate::{Attestation, Command};

/// Every call's kind and, for a scope census, how many documents it asked for.
type Calls = Arc<Mutex<Vec<(OpKind, usize)>>>;

/// What [`Calls`] records of a call.
fn census_call(op: &Op<'_>) -> Option<(OpKind, usize)> {
    let size = match op {
        Op::ScopeCensus(ids) | Op::ScopeCensusSummary(ids) => ids.len(),
        _ => 0,
    };
    Some((op.kind(), size))
}

const OTHER: &str = "# Not in scope\n\nUntouched.\n";

/// A simulator holding `documents` and the real runner over it, behind an open switch, with its
/// backups in memory.
fn open_runner<'a>(
    documents: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> (Arc<Simulator>, Runner) {
    let sim = Arc::new(Simulator::with_documents(documents));
    let switch = ManualSwitch::new("test", true, "open the test switch");
    let runner = Runner::new(
        Arc::new(behind(sim.clone(), &switch)),
        Arc::new(MemoryBackupStore::new()),
    );
    (sim, runner)
}

/// Runs `r1` over the whole store, a document per batch, with `writer` writing while its backup
/// is written: the gap that BLOCKED it, and its report as JSON (an error for any other outcome).
async fn blocked_in_backup(
    runner: &Runner,
    writer: WriteIds,
) -> Result<(Gap, String), Box<dyn std::error::Error>> {
    let request = RunRequest::new("r1", Scope::All, CutRules::preset(Preset::Markdown));
    let options = RunOptions::default()
        .with_events(Arc::new(writer))
        .with_batch_documents(iu_cutter_phase_core::DocumentBatches::Of(1));
    let report = runner.run(request, options).await?;
    let json = report.to_json();
    match report.outcome {
        Outcome::Blocked { gap } => Ok((gap, json)),
        _ => Err(format!("expected BLOCKED: {json}").into()),
    }
}

/// One law among 40 other documents, over a probed simulator behind an open switch.
fn one_law_among_many() -> (Arc<Simulator>, Runner, Calls) {
    let mut documents: Vec<(String, String)> = (0..40)
        .map(|n| (format!("kb/{n:02}"), format!("# Doc {n}\n\nBody {n}.\n")))
        .collect();
    documents.push(("law/1".into(), LAW_1.into()));
    probed(&documents, Arc::new(MemoryBackupStore::new()))
}

/// `documents` over a simulator behind an open switch, probed for census calls: the simulator,
/// a runner over the probe keeping its backups in `backups`, and the calls it will see.
fn probed(
    documents: &[(String, String)],
    backups: Arc<MemoryBackupStore>,
) -> (Arc<Simulator>, Runner, Calls) {
    let sim = Arc::new(Simulator::with_documents(
        documents
            .iter()
            .map(|(id, body)| (id.as_str(), body.as_str())),
    ));
    let switch = ManualSwitch::new("test", true, "open the test switch");
    let probe = Recorded::new(behind(sim.clone(), &switch), census_call);
    let calls = probe.seen();
    let runner = Runner::new(Arc::new(probe), backups);
    (sim, runner, calls)
}

/// Asserts that the calls since the last look read no whole-store census, that every scope
/// census asked for one document at most, and that the invocation took its opening and closing
/// census and read the change log; then forgets them.
fn assert_scope_sized(calls: &Mutex<Vec<(OpKind, usize)>>, what: &str) {
    let calls = std::mem::take(&mut *lock(calls));
    assert!(
        !calls.iter().any(|(kind, _)| *kind == OpKind::Census),
        "{what}: a whole-store census was read: {calls:?}"
    );
    let scoped: Vec<usize> = calls
        .iter()
        .filter(|(kind, _)| matches!(kind, OpKind::ScopeCensus | OpKind::ScopeCensusSummary))
        .map(|(_, size)| *size)
        .collect();
    assert!(scoped.len() >= 2, "{what}: opening and closing: {calls:?}");
    assert!(
        scoped.iter().all(|size| *size == 1),
        "{what}: scope censuses of more than the one document: {scoped:?}"
    );
    assert!(
        calls.iter().any(|(kind, _)| *kind == OpKind::ChangedSince),
        "{what}: the change log was not read: {calls:?}"
    );
}

fn one_law(run: &str) -> RunRequest {
    RunRequest::new(
        run,
        Scope::Ids(vec![DocumentId::new("law/1")]),
        CutRules::preset(Preset::Markdown),
    )
}

#[tokio::test]
async fn a_one_document_invocation_reads_the_census_of_that_document_only() -> TestResult {
    let (_sim, runner, calls) = one_law_among_many();

    let held = held_run(&runner, one_law("r1"), names::LEG_B_RECORD).await?;
    assert_eq!(held.census_before.as_ref().map(|c| c.documents), Some(1));
    assert_scope_sized(&calls, "run");

    let resumed = runner
        .resume(
            &RunId::new("r1"),
            RunOptions::default().with_until(names::WRITE_VERIFY),
        )
        .await?;
    assert_eq!(resumed.outcome, Outcome::Pass, "{}", resumed.to_json());
    assert_scope_sized(&calls, "resume");

    let enacted = runner
        .enact(&RunId::new("r1"), RunOptions::default())
        .await?;
    assert_eq!(enacted.outcome, Outcome::Pass, "{}", enacted.to_json());
    assert_scope_sized(&calls, "enact");
    let after = enacted.census_after.as_ref().ok_or("no closing census")?;
    assert_eq!(after.documents, 1);
    assert_eq!(after.changed_outside_scope, Some(0));

    let rolled = runner.rollback(&RunId::new("r1")).await?;
    assert_eq!(rolled.outcome, Outcome::RolledBack, "{}", rolled.to_json());
    assert_eq!(rolled.command, Command::Rollback);
    assert_scope_sized(&calls, "rollback");
    Ok(())
}

/// Three laws' worth of store: two in scope and one outside, held after leg-b-record.
async fn held_before_write_verify() -> Result<Harness, Box<dyn std::error::Error>> {
    let harness = Harness::new(
        [("law/1", LAW_1), ("law/2", LAW_2), ("kb/other", OTHER)],
        true,
    );
    held_run(&harness.runner, law_request("r1"), names::LEG_B_RECORD).await?;
    Ok(harness)
}

/// Puts `document` with `body` into `sim`, as another writer would.
async fn put(sim: &Simulator, document: &DocumentId, body: &str) -> AdapterResult<()> {
    sim.put_document(document, body).await.map(drop)
}

/// The report of resuming a run held before write-verify (see [`held_before_write_verify`])
/// after `edit` changed its store.
async fn resumed_after(
    edit: impl AsyncFnOnce(&Simulator) -> AdapterResult<()>,
) -> Result<RunReport, Box<dyn std::error::Error>> {
    let Harness { sim, runner, .. } = held_before_write_verify().await?;
    edit(&sim).await?;
    Ok(runner
        .resume(&RunId::new("r1"), RunOptions::default())
        .await?)
}

#[tokio::test]
async fn an_out_of_scope_edit_between_phases_blocks_write_verify_naming_it() -> TestResult {
    // Through the store's API, and around it (raw SQL leaves revision and sha256 behind).
    for raw in [false, true] {
        let other = DocumentId::new("kb/other");
        let resumed = resumed_after(async |sim| {
            if raw {
                assert!(sim.state_edit_body_raw(&other, "edited behind the store's back"));
            } else {
                put(sim, &other, "edited by someone else").await?;
            }
            Ok(())
        })
        .await?;

        let gap = blocked(&resumed)?;
        assert_eq!(gap.phase, names::WRITE_VERIFY, "raw {raw}: {gap}");
        assert_eq!(gap.document, Some(other.clone()), "raw {raw}: {gap}");
        assert!(gap.expected.contains("out-of-scope"), "{gap}");
    }
    Ok(())
}

#[tokio::test]
async fn an_out_of_scope_document_created_or_deleted_meanwhile_blocks_write_verify() -> TestResult {
    let new = DocumentId::new("kb/new");
    let resumed = resumed_after(async |sim| put(sim, &new, "a new document").await).await?;
    let gap = blocked(&resumed)?;
    assert_eq!(gap.document, Some(new), "{gap}");

    // A document in the run's scope that appeared meanwhile is the run's business, not an
    // out-of-scope change: write-verify passes.
    let law = DocumentId::new("law/3");
    let resumed = resumed_after(async |sim| put(sim, &law, "# Law three\n").await).await?;
    assert_eq!(resumed.outcome, Outcome::Pass, "{}", resumed.to_json());
    Ok(())
}

/// A change outside the scope during an invocation is in its closing census's summary.
#[tokio::test]
async fn the_closing_census_counts_what_changed_outside_the_scope_meanwhile() -> TestResult {
    let (sim, runner) = open_runner([("law/1", LAW_1), ("kb/other", OTHER)]);
    let editor = sim.clone();
    // The edit lands while the run is under way: when its backup phase reports progress.
    let options = RunOptions::default().with_events(Arc::new(EditOnce(Mutex::new(Some(
        Box::new(move || {
            editor.state_edit_body_raw(&DocumentId::new("kb/other"), "edited meanwhile");
        }),
    )))));

    let report = runner.run(one_law("r1"), options).await?;

    let after = report.census_after.as_ref().ok_or("no closing census")?;
    assert_eq!(after.documents, 1);
    assert_eq!(after.changed_outside_scope, Some(1), "{}", report.to_json());
    assert_eq!(
        after.changed_outside_scope_sample,
        [DocumentId::new("kb/other")]
    );
    assert!(
        report.to_markdown().contains("`kb/other`"),
        "{}",
        report.to_markdown()
    );
    Ok(())
}

/// An event sink that runs its action once, at the first event after the run started.
/// Writes `law/new` when the run starts the phase `phase`, as another writer would.
struct WriteOnPhase {
    phase: &'static str,
    sim: Arc<Simulator>,
    written: Mutex<bool>,
}

impl EventSink for WriteOnPhase {
    fn emit(&self, event: RunEvent) {
        let RunEvent::PhaseStarted { phase, .. } = event else {
            return;
        };
        let mut written = lock(&self.written);
        if phase != self.phase || *written {
            return;
        }
        *written = true;
        let handle = tokio::runtime::Handle::current();
        let put = tokio::task::block_in_place(|| {
            handle.block_on(put(&self.sim, &DocumentId::new("law/new"), OTHER))
        });
        assert!(put.is_ok(), "{put:?}");
    }
}

/// The report of a run over `All` while `law/new` is written when the phase `phase` starts,
/// with the new document's state after it. The run passes: a document appearing under the
/// scope blocks nothing, whenever it appears.
async fn run_while_a_document_appears(
    phase: &'static str,
) -> Result<(RunReport, DocumentHead), Box<dyn std::error::Error>> {
    let (sim, runner) = open_runner([("law/1", LAW_1)]);
    let writer = WriteOnPhase {
        phase,
        sim: sim.clone(),
        written: Mutex::new(false),
    };
    let request = RunRequest::new("r1", Scope::All, CutRules::preset(Preset::Markdown));
    let report = runner
        .run(request, RunOptions::default().with_events(Arc::new(writer)))
        .await?;
    let heads = sim
        .load_heads(&Scope::Ids(vec![DocumentId::new("law/new")]))
        .await?;
    let head = heads.into_iter().next().ok_or("law/new vanished")?;
    assert_eq!(report.outcome, Outcome::Pass, "{}", report.to_json());
    Ok((report, head))
}

/// A document written under the scope (`All`) after the opening census but before the backup
/// resolves the scope is cut by the run, and the closing census counts it (it was in no report
/// line before: not in the opening census's documents, and under the scope).
#[tokio::test(flavor = "multi_thread")]
async fn a_document_new_before_the_backup_is_cut_and_counted() -> TestResult {
    let (report, new) = run_while_a_document_appears(names::BACKUP).await?;
    assert_eq!(new.state, DocumentState::Cut, "the run's scope included it");
    let before = report.census_before.as_ref().ok_or("no opening census")?;
    let after = report.census_after.as_ref().ok_or("no closing census")?;
    assert_eq!(before.documents, 1);
    assert_eq!(after.documents, 2, "{}", report.to_json());
    assert_eq!(after.appeared_in_scope, None, "{}", report.to_json());
    Ok(())
}

/// A document written under the scope after the backup resolved it is not cut by the run, and
/// the closing census says so, naming it.
#[tokio::test(flavor = "multi_thread")]
async fn a_document_new_after_the_backup_is_reported_not_cut() -> TestResult {
    let (report, new) = run_while_a_document_appears(names::CUT_LEG_A).await?;
    assert_eq!(new.state, DocumentState::Ready, "not cut by this run");
    let after = report.census_after.as_ref().ok_or("no closing census")?;
    assert_eq!(after.documents, 1, "{}", report.to_json());
    assert_eq!(after.appeared_in_scope, Some(1), "{}", report.to_json());
    assert_eq!(after.appeared_in_scope_sample, [DocumentId::new("law/new")]);
    assert_eq!(after.changed_outside_scope, Some(0), "{}", report.to_json());
    let markdown = report.to_markdown();
    assert!(
        markdown.contains("1 new under the scope, not cut by this run (`law/new`)"),
        "{markdown}"
    );
    Ok(())
}

struct EditOnce(Mutex<Option<Box<dyn FnOnce() + Send>>>);

impl EventSink for EditOnce {
    fn emit(&self, event: RunEvent) {
        if !matches!(event, RunEvent::RunStarted { .. })
            && let Some(action) = lock(&self.0).take()
        {
            action();
        }
    }
}

#[tokio::test]
async fn rollback_restores_the_scope_to_its_exact_pre_run_census() -> TestResult {
    let Harness { sim, runner, .. } = Harness::new(
        [("law/1", LAW_1), ("law/2", LAW_2), ("kb/other", OTHER)],
        true,
    );
    let scope = [DocumentId::new("law/1"), DocumentId::new("law/2")];
    let pre_run = sim.scope_census(&scope).await?.census;
    let report = runner.run(law_request("r1"), RunOptions::default()).await?;
    assert_eq!(report.outcome, Outcome::Pass, "{}", report.to_json());
    assert_ne!(sim.scope_census(&scope).await?.census, pre_run);
    sim.put_document(&DocumentId::new("kb/other"), "edited meanwhile")
        .await?;

    let rolled = runner.rollback(&RunId::new("r1")).await?;

    assert_eq!(rolled.outcome, Outcome::RolledBack, "{}", rolled.to_json());
    assert_eq!(
        sim.scope_census(&scope).await?.census,
        pre_run,
        "the scope's exact pre-run census"
    );
    let check = rolled.rollback.as_ref().ok_or("no rollback check")?;
    assert!(check.census_matches_backup);
    assert_eq!(check.pre_run_fingerprint, pre_run.fingerprint);
    assert_eq!(check.fingerprint_after, pre_run.fingerprint);
    assert!(
        !check.fingerprint_matches_pre_run,
        "something outside the scope changed since the backup"
    );
    assert_eq!(check.changed_outside_scope, [DocumentId::new("kb/other")]);
    assert!(noted(&rolled, "kb/other"), "{:?}", rolled.notes);
    assert_eq!(
        sim.state_census().per_document[&DocumentId::new("kb/other")],
        sim.scope_census(&[DocumentId::new("kb/other")])
            .await?
            .census
            .per_document[&DocumentId::new("kb/other")],
        "the outside edit is kept, not undone"
    );
    Ok(())
}

/// Adversarial (adv51): the application adds `law/3` under the run's prefix scope after the
/// run, before its rollback. The rollback leaves it (not the run's), but must not call it a
/// document outside the run's scope, nor say the scope is as before the run.
#[tokio::test]
async fn a_document_added_to_a_prefix_scope_since_the_backup_is_not_called_outside_it() -> TestResult
{
    let Harness { sim, runner, .. } = Harness::new([("law/1", LAW_1), ("law/2", LAW_2)], true);
    let report = runner.run(law_request("r1"), RunOptions::default()).await?;
    assert_eq!(report.outcome, Outcome::Pass, "{}", report.to_json());
    let added = DocumentId::new("law/3");
    sim.put_document(&added, "# Law three\n").await?;

    let rolled = runner.rollback(&RunId::new("r1")).await?;

    assert_eq!(rolled.outcome, Outcome::RolledBack, "{}", rolled.to_json());
    let check = rolled.rollback.as_ref().ok_or("no rollback check")?;
    assert!(
        !check.changed_outside_scope.contains(&added),
        "`law/3` is under the run's prefix: {}",
        rolled.to_json()
    );
    assert!(
        !check.fingerprint_matches_pre_run,
        "the scope holds a document it did not before the run"
    );
    assert!(noted(&rolled, "law/3"), "{:?}", rolled.notes);
    assert!(
        !rolled
            .notes
            .iter()
            .any(|n| n.contains("law/3") && n.contains("outside the run's scope")),
        "{:?}",
        rolled.notes
    );
    Ok(())
}

/// The dry run's attestation ([`Attestation::of`]) over the simulator's change log: a change
/// anywhere in the store fails it, inside the scope or not, even one undone since.
#[tokio::test]
async fn the_attestation_fails_on_any_change_anywhere_in_the_store() -> TestResult {
    let sim = Simulator::with_documents([("law/1", LAW_1), ("kb/other", OTHER)]);
    let scope = [DocumentId::new("law/1")];
    let attest =
        async |sim: &Simulator, change: &dyn Fn(&Simulator)| -> Result<Attestation, AdapterError> {
            let before = sim.scope_census(&scope).await?;
            change(sim);
            let after = sim.scope_census(&scope).await?;
            let changed = sim.changed_since(&before.mark).await?;
            Ok(Attestation::of(
                &RunId::new("d1"),
                "sim".into(),
                &before.census,
                &after.census,
                &changed,
            ))
        };

    let quiet = attest(&sim, &|_| {}).await?;
    assert!(quiet.unchanged, "{quiet:?}");
    assert_eq!(quiet.changed_documents, 0);

    let outside = attest(&sim, &|sim| {
        sim.state_edit_body_raw(&DocumentId::new("kb/other"), "changed");
    })
    .await?;
    assert!(
        !outside.unchanged,
        "a change outside the scope: {outside:?}"
    );
    assert_eq!(outside.census_before, outside.census_after);
    assert_eq!(outside.changed_sample, [DocumentId::new("kb/other")]);

    let undone = attest(&sim, &|sim| {
        sim.state_edit_body_raw(&DocumentId::new("law/1"), "changed");
        sim.state_edit_body_raw(&DocumentId::new("law/1"), LAW_1);
    })
    .await?;
    assert!(!undone.unchanged, "a change undone since (ABA): {undone:?}");
    assert_eq!(undone.census_before, undone.census_after);
    Ok(())
}

/// When a [`WriteIds`] writes, as another writer would.
#[derive(Clone, Copy, PartialEq)]
enum WriteWhen {
    /// When the phase starts (the backup: after the opening census, before the backup's own).
    PhaseStarts(&'static str),
    /// When the backup phase reports its first document read: after the backup's census,
    /// before the batch holding the id is read.
    BackupReadOne,
}

/// Adversarial (adv29, adv30): writes each of `ids` once, at the moment `when` says.
struct WriteIds {
    when: WriteWhen,
    ids: Vec<DocumentId>,
    sim: Arc<Simulator>,
    written: Mutex<bool>,
    /// Another run that fences the ids instead of an application editing them.
    fencing_run: Option<RunId>,
    /// Ids an application edits at the same moment, before the others are written.
    edited: Vec<DocumentId>,
}

impl WriteIds {
    fn new(sim: &Arc<Simulator>, ids: &[&str], when: WriteWhen) -> Self {
        WriteIds {
            when,
            ids: ids.iter().map(|id| DocumentId::new(*id)).collect(),
            sim: sim.clone(),
            written: Mutex::new(false),
            fencing_run: None,
            edited: Vec::new(),
        }
    }

    /// `ids` edited by an application at the same moment, before the others are written.
    fn with_edits_of(mut self, ids: &[&str]) -> Self {
        self.edited = ids.iter().map(|id| DocumentId::new(*id)).collect();
        self
    }

    /// The ids fenced by `run`, as another runner's cut-leg-a would, instead of edited.
    fn fenced_by(mut self, run: &str) -> Self {
        self.fencing_run = Some(RunId::new(run));
        self
    }

    /// Edits `document`, or fences it for the other run.
    async fn write(&self, document: &DocumentId) -> AdapterResult<()> {
        let Some(run) = &self.fencing_run else {
            return put(&self.sim, document, OTHER).await;
        };
        let read = self
            .sim
            .load_scope(&Scope::Ids(vec![document.clone()]))
            .await?;
        let expected: Vec<ExpectedRevision> = read.iter().map(ExpectedRevision::of).collect();
        self.sim.fence(run, &expected).await
    }
}

impl EventSink for WriteIds {
    fn emit(&self, event: RunEvent) {
        let now = match (&event, self.when) {
            (RunEvent::PhaseStarted { phase, .. }, WriteWhen::PhaseStarts(when)) => phase == when,
            (RunEvent::Progress { phase, done, .. }, WriteWhen::BackupReadOne) => {
                phase == names::BACKUP && *done == 1
            }
            _ => false,
        };
        let mut written = lock(&self.written);
        if !now || *written {
            return;
        }
        *written = true;
        let handle = tokio::runtime::Handle::current();
        for id in &self.edited {
            let put = tokio::task::block_in_place(|| handle.block_on(put(&self.sim, id, OTHER)));
            assert!(put.is_ok(), "{put:?}");
        }
        for id in &self.ids {
            let written = tokio::task::block_in_place(|| handle.block_on(self.write(id)));
            assert!(written.is_ok(), "{written:?}");
        }
    }
}

/// The state of document `id` of `sim` (an error if it vanished).
async fn state_of(sim: &Simulator, id: &str) -> Result<DocumentState, Box<dyn std::error::Error>> {
    let heads = sim
        .load_heads(&Scope::Ids(vec![DocumentId::new(id)]))
        .await?;
    let head = heads.into_iter().next().ok_or("new document vanished")?;
    Ok(head.state)
}

/// Adversarial (adv29): over `All` with more documents than one page of heads, a document
/// written when the backup starts, at an id that shifts the page boundary (inside the first
/// page) or lands on the second page, is backed up, cut and counted: the opening census no
/// longer matches the store page by page, so the backup takes a fresh one.
#[tokio::test(flavor = "multi_thread")]
async fn a_document_new_before_the_backup_across_a_heads_page_is_cut_and_counted() -> TestResult {
    const STORE: usize = iu_cutter_live_execution::HEADS_PAGE as usize + 2;
    for new_id in ["d/00000a", "d/04999a", "d/99999"] {
        let documents: Vec<(String, String)> = (0..STORE)
            .map(|n| (format!("d/{n:05}"), format!("# D{n}\n\nB.\n")))
            .collect();
        let (sim, runner) = open_runner(
            documents
                .iter()
                .map(|(id, body)| (id.as_str(), body.as_str())),
        );
        let writer = WriteIds::new(&sim, &[new_id], WriteWhen::PhaseStarts(names::BACKUP));
        let request = RunRequest::new("r1", Scope::All, CutRules::preset(Preset::Markdown));
        let report = runner
            .run(request, RunOptions::default().with_events(Arc::new(writer)))
            .await?;
        assert_eq!(
            report.outcome,
            Outcome::Pass,
            "{new_id}: {}",
            report.to_json()
        );
        assert_eq!(
            state_of(&sim, new_id).await?,
            DocumentState::Cut,
            "{new_id}: the run's scope included it"
        );
        let before = report.census_before.as_ref().ok_or("no opening census")?;
        let after = report.census_after.as_ref().ok_or("no closing census")?;
        assert_eq!(before.documents, STORE as u64);
        assert_eq!(after.documents, STORE as u64 + 1, "{new_id}");
        assert_eq!(after.appeared_in_scope, None, "{new_id}");
        // Rolled back, the store is the pre-run store plus the new document, uncut.
        let rolled = runner.rollback(&RunId::new("r1")).await?;
        assert_eq!(
            rolled.outcome,
            Outcome::RolledBack,
            "{new_id}: {}",
            rolled.to_json()
        );
        let state = state_of(&sim, new_id).await?;
        assert_eq!(state, DocumentState::Ready, "{new_id}: restored");
    }
    Ok(())
}

/// Adversarial (adv29): a document edited by another writer (through the store's API) when
/// the backup starts, after the opening census. The backup reused the opening census when its
/// *ids* matched the store's, so the edited document's stale digest became the backup's census
/// although the backup holds the edited body; the rollback then restored exactly what the
/// backup holds, yet reported `fingerprint_matches_pre_run: false`. The backup now takes a fresh
/// census when the change log lists a change among the census's documents or under the scope.
#[tokio::test(flavor = "multi_thread")]
async fn a_document_edited_before_the_backup_is_backed_up_with_its_census_now() -> TestResult {
    edited_during_the_backup(WriteWhen::PhaseStarts(names::BACKUP)).await
}

/// Adversarial (adv29): under a prefix scope, a document new under the prefix and one new
/// outside it, both written when the backup starts: the first is taken and counted by the
/// closing census (not "appeared"), the second is reported changed outside the scope.
#[tokio::test(flavor = "multi_thread")]
async fn under_a_prefix_new_documents_inside_and_outside_are_told_apart() -> TestResult {
    for phase in [names::BACKUP, names::CUT_LEG_A] {
        let (sim, runner) = open_runner([("law/1", LAW_1), ("kb/x", OTHER)]);
        let writer = WriteIds::new(&sim, &["law/0new", "kb/new"], WriteWhen::PhaseStarts(phase));
        let request = RunRequest::new(
            "r1",
            Scope::Prefix("law/".into()),
            CutRules::preset(Preset::Markdown),
        );
        let report = runner
            .run(request, RunOptions::default().with_events(Arc::new(writer)))
            .await;
        let report = report?;
        let json = report.to_json();
        let after = report.census_after.as_ref().ok_or("no closing census")?;
        if phase == names::BACKUP {
            assert_eq!(report.outcome, Outcome::Pass, "{json}");
            assert_eq!(after.documents, 2, "{json}");
            assert_eq!(after.appeared_in_scope, None, "{json}");
        } else {
            assert_eq!(after.documents, 1, "{json}");
            assert_eq!(after.appeared_in_scope, Some(1), "{json}");
        }
        assert_eq!(after.changed_outside_scope, Some(1), "{phase}: {json}");
        assert_eq!(
            after.changed_outside_scope_sample,
            [DocumentId::new("kb/new")]
        );
    }
    Ok(())
}

/// Adversarial (adv29): after a document was edited between the opening census and the backup,
/// `verify` of the passed run still passes (the run cut the edited body it backed up).
#[tokio::test(flavor = "multi_thread")]
async fn a_run_whose_document_was_edited_before_the_backup_verifies() -> TestResult {
    let (sim, runner) = open_runner([("law/1", LAW_1), ("law/2", LAW_2)]);
    let writer = WriteIds::new(&sim, &["law/2"], WriteWhen::PhaseStarts(names::BACKUP));
    let request = RunRequest::new("r1", Scope::All, CutRules::preset(Preset::Markdown));
    let report = runner
        .run(request, RunOptions::default().with_events(Arc::new(writer)))
        .await?;
    assert_eq!(report.outcome, Outcome::Pass, "{}", report.to_json());
    let verified = runner
        .verify(&RunId::new("r1"), RunOptions::default())
        .await?;
    assert_eq!(verified.outcome, Outcome::Pass, "{}", verified.to_json());
    Ok(())
}

/// Adversarial (adv30): a document edited by another writer while the backup is being written,
/// after its census (reused or fresh) and before the batch holding the document is read: the
/// rest of adv29's window (`a_document_edited_before_the_backup_leaves_the_backup_census_stale`).
/// The backup held the edited row under the pre-edit digest, so a rollback that restored it
/// exactly reported the store as differing from the pre-run census ("something outside the run
/// changed the store"). The backup must describe what it holds.
#[tokio::test(flavor = "multi_thread")]
async fn a_document_edited_while_the_backup_is_written_rolls_back_verified() -> TestResult {
    edited_during_the_backup(WriteWhen::BackupReadOne).await
}

/// Found in CI (four runners over overlapping scopes on PostgreSQL): a document another run
/// fenced while this run's backup was written had the backup taken again, four times in a
/// moment, then the run BLOCKED as if an application kept editing it ("resume when the
/// application writes … less often"). Taking the backup again cannot help while the other run
/// holds the document: the run is BLOCKED at once, in the backup, naming the document and the
/// run holding it, with nothing of its own in the store (taken again, the backup passed and the
/// fence refused the document: the fence's gap cannot name the holder).
#[tokio::test(flavor = "multi_thread")]
async fn a_document_another_run_fences_during_the_backup_blocks_naming_that_run() -> TestResult {
    let (sim, runner) = open_runner([("law/1", LAW_1), ("law/2", LAW_2)]);
    let writer = WriteIds::new(&sim, &["law/2"], WriteWhen::BackupReadOne).fenced_by("r2");
    let (gap, json) = blocked_in_backup(&runner, writer).await?;
    assert_eq!(gap.phase, names::BACKUP, "{json}");
    assert_eq!(gap.document, Some(DocumentId::new("law/2")), "{json}");
    assert!(gap.found.contains("run r2 fenced it"), "{json}");
    let heads = sim.load_heads(&Scope::All).await?;
    assert_eq!(
        heads.iter().map(|h| h.state.clone()).collect::<Vec<_>>(),
        [
            DocumentState::Ready,
            DocumentState::Cutting {
                run: RunId::new("r2")
            }
        ],
        "r1 fenced nothing; r2's fence is left alone"
    );
    Ok(())
}

/// Found by adv32: a run BLOCKED in its backup by a document another run holds was told to
/// "narrow this run's scope to leave its documents out, then resume run r1". A run's scope is
/// journaled: resumed, it is the same scope (blocked again); run again under its id with a
/// narrower scope, it is refused ("run id `r1` already used"). Leaving the document out takes a
/// new run: the gap says so, and never asks to narrow the blocked run's scope.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_blocked_on_another_runs_document_is_not_told_to_narrow_its_scope() -> TestResult {
    let (sim, runner) = open_runner([("law/1", LAW_1), ("law/2", LAW_2)]);
    let writer = WriteIds::new(&sim, &["law/2"], WriteWhen::BackupReadOne).fenced_by("r2");
    let (gap, _) = blocked_in_backup(&runner, writer).await?;
    // What the advice would have the operator do: refused, the scope is r1's for good.
    let narrower = Scope::Ids(vec![DocumentId::new("law/1")]);
    let again = RunRequest::new("r1", narrower, CutRules::preset(Preset::Markdown));
    let refused = runner.run(again, RunOptions::default()).await?;
    assert!(
        matches!(refused.outcome, Outcome::Failed { .. }),
        "{}",
        refused.to_json()
    );
    let said = gap.to_string();
    assert!(!said.contains("narrow this run's scope"), "{said}");
    assert!(
        said.contains("new run"),
        "leaving it out takes a new run: {said}"
    );
    Ok(())
}

/// Found by adv32: while `r1`'s backup is written, an application edits `law/2` and run `r2`
/// fences `law/3`. The backup looked only at the first changed document (`law/2`, held by no
/// run), took the backup again, which passed with `law/3` fenced by `r2`; `r1` then fenced
/// `law/1` and `law/2` and was BLOCKED by its fence on `law/3`, holding two documents that
/// only a rollback frees. Another run holding a changed document blocks the run at once in the
/// backup, whatever else changed with it.
#[tokio::test(flavor = "multi_thread")]
async fn another_runs_fence_beside_an_application_edit_blocks_in_the_backup() -> TestResult {
    let (sim, runner) = open_runner([("law/1", LAW_1), ("law/2", LAW_2), ("law/3", LAW_2)]);
    let writer = WriteIds::new(&sim, &["law/3"], WriteWhen::BackupReadOne)
        .fenced_by("r2")
        .with_edits_of(&["law/2"]);
    let (gap, json) = blocked_in_backup(&runner, writer).await?;
    assert_eq!(gap.phase, names::BACKUP, "{json}");
    assert_eq!(gap.document, Some(DocumentId::new("law/3")), "{json}");
    assert!(gap.found.contains("run r2"), "{json}");
    // r2 fenced it while the first attempt was written: no claim of "before the backup".
    assert!(!gap.found.contains("before"), "{json}");
    let heads = sim.load_heads(&Scope::All).await?;
    let fenced_by_r1 = heads
        .iter()
        .filter(|h| {
            h.state
                == DocumentState::Cutting {
                    run: RunId::new("r1"),
                }
        })
        .count();
    assert_eq!(fenced_by_r1, 0, "r1 fenced nothing: {json}");
    Ok(())
}

/// Found by adv32: run `r2` fenced `law/2` before `r1` started; an application (whose writes
/// keep a fence) edited it while `r1`'s backup was written. `r1` is rightly BLOCKED at once
/// naming `r2`, but was told "run r2 fenced it while the backup was written": `r2` fenced it
/// before `r1`'s census, and what changed it meanwhile was the application. The gap says what
/// is known: `r2` holds it, and it changed while the backup was written.
#[tokio::test(flavor = "multi_thread")]
async fn a_document_fenced_before_the_backup_and_edited_meanwhile_is_not_said_fenced_meanwhile()
-> TestResult {
    let (sim, runner) = open_runner([("law/1", LAW_1), ("law/2", LAW_2)]);
    let law_2 = DocumentId::new("law/2");
    let read = sim.load_scope(&Scope::Ids(vec![law_2.clone()])).await?;
    let expected: Vec<ExpectedRevision> = read.iter().map(ExpectedRevision::of).collect();
    sim.fence(&RunId::new("r2"), &expected).await?;
    let writer = WriteIds::new(&sim, &["law/2"], WriteWhen::BackupReadOne);
    let (gap, json) = blocked_in_backup(&runner, writer).await?;
    assert_eq!(gap.phase, names::BACKUP, "{json}");
    assert_eq!(gap.document, Some(law_2), "{json}");
    assert!(gap.found.contains("run r2"), "names the holder: {json}");
    assert!(
        !gap.found.contains("fenced it while the backup was written"),
        "r2 fenced it before the backup began: {json}"
    );
    Ok(())
}

/// Runs `r1` (a batch a document) over `Ids` and `All` while another writer edits `law/2` at
/// the moment `when` says: the run passes; its rollback restores the backed-up (edited) body,
/// finds the store exactly as the backup's census describes it, and leaves no mark.
async fn edited_during_the_backup(when: WriteWhen) -> TestResult {
    for scope in [
        Scope::Ids(vec![DocumentId::new("law/1"), DocumentId::new("law/2")]),
        Scope::All,
    ] {
        let (sim, runner) = open_runner([("law/1", LAW_1), ("law/2", LAW_2)]);
        let writer = WriteIds::new(&sim, &["law/2"], when);
        let request = RunRequest::new("r1", scope.clone(), CutRules::preset(Preset::Markdown));
        let options = RunOptions::default()
            .with_events(Arc::new(writer))
            .with_batch_documents(iu_cutter_phase_core::DocumentBatches::Of(1));
        let report = runner.run(request, options).await?;
        assert_eq!(report.outcome, Outcome::Pass, "{}", report.to_json());
        let rolled = runner.rollback(&RunId::new("r1")).await?;
        let json = format!("run: {}\nrollback: {}", report.to_json(), rolled.to_json());
        assert_eq!(rolled.outcome, Outcome::RolledBack, "{scope:?}: {json}");
        let body = sim
            .load_scope(&Scope::Ids(vec![DocumentId::new("law/2")]))
            .await?
            .into_iter()
            .next()
            .ok_or("law/2 vanished")?
            .body;
        assert_eq!(body, OTHER, "the backed-up (edited) body is restored");
        let entry = rolled.phase("rollback").ok_or("no rollback entry")?;
        assert_eq!(
            entry.evidence.get("fingerprint_matches_pre_run"),
            Some(&EvidenceValue::Flag(true)),
            "{scope:?}: the store is exactly what the backup holds, yet its census differs from \
             the backup's census: {json}"
        );
        let fresh = sim.load_heads(&Scope::All).await?;
        assert!(
            fresh
                .iter()
                .all(|h| h.state == DocumentState::Ready && h.active_generation.is_none()),
            "{scope:?}: {fresh:?}\n{json}"
        );
    }
    Ok(())
}

/// Adversarial (adv33): `run --stale` leaves out a never-cut document that another run holds
/// fenced (its fence would refuse it). Its note counted only the documents it cuts as "never cut
/// or changed since their active generation", so the held one, stale too, went unsaid: the
/// report must name it and its holder.
#[tokio::test]
async fn a_stale_run_says_which_stale_documents_another_run_holds() -> TestResult {
    let (_sim, runner) = open_runner([("law/1", LAW_1), ("law/2", LAW_2)]);
    let rules = || CutRules::preset(Preset::Markdown);
    let held = RunRequest::new("r2", Scope::Ids(vec![DocumentId::new("law/2")]), rules());
    let held = runner
        .run(held, RunOptions::default().with_until(names::CUT_LEG_A))
        .await?;
    assert!(held.held_after.is_some(), "{}", held.to_json());
    let stale = law_request("s1").only_stale();
    let report = runner.run(stale, RunOptions::default()).await?;
    assert_eq!(report.outcome, Outcome::Pass, "{}", report.to_json());
    assert!(
        noted(&report, "`law/2`") && noted(&report, "r2"),
        "the held stale document is named: {:?}",
        report.notes
    );
    Ok(())
}

/// `run --stale` with nothing stale journaled a run of no document, which `status` listed
/// like any other: a stale run on a schedule filled the journal with empty runs. It passes,
/// saying that nothing was stale, and journals nothing.
#[tokio::test]
async fn a_stale_run_with_nothing_stale_journals_no_run() -> TestResult {
    let (sim, runner) = open_runner([("law/1", LAW_1), ("law/2", LAW_2)]);
    let first = runner
        .run(law_request("s1").only_stale(), RunOptions::default())
        .await?;
    assert_eq!(first.outcome, Outcome::Pass, "{}", first.to_json());
    let writes = sim.call_log().iter().filter(|c| c.applied).count();
    let again = runner
        .run(law_request("s2").only_stale(), RunOptions::default())
        .await?;
    let json = again.to_json();
    assert_eq!(again.outcome, Outcome::Pass, "{json}");
    assert!(noted(&again, "no document is stale"), "{json}");
    assert!(
        again
            .phases
            .iter()
            .all(|p| p.status == crate::PhaseEntryStatus::NotRun),
        "{json}"
    );
    assert!(sim.load_run(&RunId::new("s2")).await?.is_none(), "{json}");
    assert_eq!(
        sim.call_log().iter().filter(|c| c.applied).count(),
        writes,
        "nothing written: {json}"
    );
    // The finished run's id again is still that run, reported as such.
    let same = runner
        .run(law_request("s1").only_stale(), RunOptions::default())
        .await?;
    assert_eq!(same.outcome, Outcome::Pass, "{}", same.to_json());
    assert!(!noted(&same, "was not journaled"), "{}", same.to_json());
    Ok(())
}

/// `law/1` and `law/2` on a simulator, `run --stale` as `s1` over them held after cut-leg-a:
/// its runner.
async fn stale_s1_held() -> Result<Runner, Box<dyn std::error::Error>> {
    let (_sim, runner) = open_runner([("law/1", LAW_1), ("law/2", LAW_2)]);
    let first = runner
        .run(
            law_request("s1").only_stale(),
            RunOptions::default().with_until(names::CUT_LEG_A),
        )
        .await?;
    assert!(first.held_after.is_some(), "{}", first.to_json());
    Ok(runner)
}

/// Adversarial (adv34): the very `run --stale` command run again after it was held past
/// cut-leg-a (as after a crash, or a held run enacted with the command that started it) must
/// continue the journaled run. Its own fences made its documents `Cutting` by itself: narrowed
/// again to the `Ready` ones, its scope came out empty of them, and the run was refused as "run id
/// already used ... with a different scope".
#[tokio::test]
async fn the_same_stale_run_again_after_its_fences_continues_it() -> TestResult {
    let runner = stale_s1_held().await?;
    let again = runner
        .run(law_request("s1").only_stale(), RunOptions::default())
        .await?;
    assert_eq!(again.outcome, Outcome::Pass, "{}", again.to_json());
    Ok(())
}

/// Adversarial (adv35): `run --stale` over another scope under the id of a finished `--stale`
/// run (a scheduled job reusing its id, an operator's typo) must not pass as that run. It
/// continued the journaled run over the journaled ids, outside the scope asked for, saying it
/// had; the stale document of the scope asked for was never cut, yet the outcome was PASS.
#[tokio::test]
async fn a_stale_run_over_another_scope_under_a_journaled_id_is_not_that_run() -> TestResult {
    let (sim, runner) = open_runner([("law/1", LAW_1), ("law/2", LAW_2), ("reg/1", LAW_1)]);
    let first = runner
        .run(law_request("s1").only_stale(), RunOptions::default())
        .await?;
    assert_eq!(first.outcome, Outcome::Pass, "{}", first.to_json());
    let regs = RunRequest::new(
        "s1",
        Scope::Prefix("reg/".into()),
        CutRules::preset(Preset::Markdown),
    );
    let again = runner.run(regs.only_stale(), RunOptions::default()).await?;
    let json = again.to_json();
    let reg = sim.load_heads(&Scope::Prefix("reg/".into())).await?;
    let cut = reg.iter().all(|head| head.active_generation.is_some());
    assert!(
        cut || again.outcome != Outcome::Pass,
        "reg/1 never cut, yet PASS: {json}"
    );
    Ok(())
}

/// Adversarial (adv35): `run --stale` with other rules under the id of a journaled `--stale`
/// run is refused as another run under that id; its report must not also say that it
/// continued the journaled run (it noted "continued over the 2 document(s) stale when it
/// began", then failed as "already used ... with a different scope, rules or reviewed plan").
#[tokio::test]
async fn a_stale_run_with_other_rules_under_a_journaled_id_says_no_continuation() -> TestResult {
    let runner = stale_s1_held().await?;
    let other_rules = RunRequest::new("s1", laws(), CutRules::preset(Preset::LegalEn));
    let again = runner
        .run(other_rules.only_stale(), RunOptions::default())
        .await?;
    let json = again.to_json();
    assert_eq!(again.outcome.name(), "FAILED", "{json}");
    assert!(!noted(&again, "continued"), "{json}");
    Ok(())
}

/// A full run over more documents than a census line holds reads no census with its digests of
/// more documents than a line (issue 15: the opening census's digests, a map of the whole scope,
/// were held through the backup phase, which wrote its census lines from it); its opening and
/// closing censuses are summaries; and its backup's census is still the scope's as it was before
/// the run, digest for digest.
#[tokio::test]
async fn a_full_run_reads_the_scopes_digests_a_census_line_at_a_time() -> TestResult {
    use iu_cutter_phase_core::{BackupStore, CENSUS_LINE_DOCUMENTS};
    let documents: Vec<(String, String)> = (0..=CENSUS_LINE_DOCUMENTS)
        .map(|n| (format!("kb/{n:05}"), format!("# Doc {n}\n\nBody {n}.\n")))
        .collect();
    let backups = Arc::new(MemoryBackupStore::new());
    let (sim, runner, calls) = probed(&documents, backups.clone());
    let pre_run = sim.census().await?;

    let request = RunRequest::new("r1", Scope::All, CutRules::preset(Preset::Markdown));
    let report = runner.run(request, RunOptions::default()).await?;

    assert_eq!(report.outcome, Outcome::Pass, "{}", report.to_json());
    let calls = std::mem::take(&mut *lock(&calls));
    let sizes = |wanted: OpKind| -> Vec<usize> {
        calls
            .iter()
            .filter(|(kind, _)| *kind == wanted)
            .map(|(_, size)| *size)
            .collect()
    };
    let with_digests = sizes(OpKind::ScopeCensus);
    assert!(
        !with_digests.is_empty() && with_digests.iter().all(|n| *n <= CENSUS_LINE_DOCUMENTS),
        "censuses with digests of more than a census line: {with_digests:?}"
    );
    assert!(
        sizes(OpKind::ScopeCensusSummary)
            .iter()
            .filter(|n| **n == documents.len())
            .count()
            >= 2,
        "opening and closing summaries: {calls:?}"
    );
    let (backup, _) = backups.load(&RunId::new("r1")).await?.ok_or("no backup")?;
    assert_eq!(backup.census, pre_run);
    Ok(())
}
