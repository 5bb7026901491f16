//! `run` and `resume`: start a run (or continue the journaled one with the same id, scope and
//! rules), or continue a journaled run at its first open phase.

use std::collections::BTreeSet;

use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::{
    AdapterError, DocumentHead, DocumentId, DocumentState, PhaseStatus, Plan, RunId, RunRecord,
    Scope,
};
use iu_cutter_phase_core::PhaseRole;
use iu_cutter_phase_cut_leg_a::spawn_compute_plan;
use tracing::{info, warn};

use crate::drive::{drive, reopen};
use crate::error::RunnerError;
use crate::held;
use crate::invocation::{Admission, Invocation, Opened};
use crate::journal::finished_outcome;
use crate::next::NextAction;
use crate::options::{RunOptions, RunRequest};
use crate::pipeline::Pipeline;
use crate::report::{Command, Outcome, RunReport};
use crate::scope::ScopeError;

/// [`crate::Runner::run`] once the options are valid.
pub(crate) async fn run(
    pipeline: &Pipeline,
    request: RunRequest,
    options: &RunOptions,
    until: Option<usize>,
) -> RunReport {
    let run = request.run.clone();
    let mut inv = Invocation::new(pipeline, Command::Run, run.clone(), options);
    info!(adapter = %inv.store().info().kind, "run starting");
    if let Some(expected) = &request.expected_plan
        && let Some(outcome) = check_expected_plan(pipeline, &request, expected).await
    {
        return inv.finish(outcome, None).await;
    }
    let admission = Admission {
        resume_from: None,
        again: Command::Run.again(&run),
        needs_backup: true,
    };
    if let Err(outcome) = inv.admit(admission).await {
        return inv.finish(outcome, None).await;
    }
    let mut request = request;
    if let Err(outcome) = sync_and_narrow(&mut request, &mut inv).await {
        return inv.finish(outcome, None).await;
    }
    inv.take_census_before(&request.scope).await;
    let (outcome, held_after) = journal_and_drive(pipeline, request, until, &mut inv).await;
    inv.finish(outcome, held_after).await
}

/// On a store that reads an application's table, brings the tracking copies of the scope up to
/// date before anything else (the source is only read); with [`RunRequest::stale_only`], narrows
/// the scope to the documents that are stale afterwards. Both come before the backup, so the
/// run's backup, fences and census see the documents as synced.
async fn sync_and_narrow(
    request: &mut RunRequest,
    inv: &mut Invocation<'_>,
) -> Result<(), Outcome> {
    let run = request.run.clone();
    let mut gone = BTreeSet::new();
    if let Some(source) = inv.store().info().source {
        let report = inv
            .journal
            // A full run reads every row (it backs up every body anyway), so a body changed
            // without its revision is caught here and cut, not blocked at enact; `--stale` reads
            // only the rows whose revision moved.
            .sync_source(&request.scope, !request.stale_only)
            .await
            .map_err(failed_before_backup(
                &run,
                &format!("sync the documents from {source}"),
                "fix what is named above",
            ))?;
        info!(source = %source, %report, "source synced");
        inv.note(format!("synced from {source}: {report}"));
        if report.silent > 0 {
            inv.note(format!(
                "{} document(s) of {source} changed their body without moving its revision \
                 column: make the application move it on every change (`run --stale` only \
                 reads rows whose revision moved)",
                report.silent
            ));
        }
        gone.extend(report.gone);
        require_source_rows(inv, &request.scope, &source, &run).await?;
    }
    if !request.stale_only && gone.is_empty() {
        return Ok(());
    }
    if request.stale_only && journaled_stale_scope(request, inv, &gone).await? {
        return Ok(());
    }
    if !request.stale_only && journaled_full_scope(request, inv, &gone).await? {
        return Ok(());
    }
    if let Some(source) = inv.store().info().source.filter(|_| !gone.is_empty()) {
        let gone: Vec<DocumentId> = gone.iter().cloned().collect();
        inv.note(format!(
            "left out {} document(s) no longer in {source} (deleted, or not selected by [source] \
             where): {}; their active units stay, shown stale by the reader view",
            gone.len(),
            list(&gone)
        ));
    }
    // Enact would find no source row for a document gone from it, and block the whole run.
    let heads = inv
        .store()
        .load_heads(&request.scope)
        .await
        .map_err(failed_before_backup(
            &run,
            "read the scope's documents",
            "check that the store is reachable",
        ))?;
    let heads = heads.into_iter().filter(|head| !gone.contains(&head.id));
    let kept: Vec<DocumentId> = if request.stale_only {
        stale_ids(heads, &run, inv)
    } else {
        heads.map(|head| head.id).collect()
    };
    if kept.is_empty() && !request.stale_only {
        refuse_all_gone(inv, &gone, &run).await?;
    }
    // A run journaled under this id (another scope or rules) is refused as such further on.
    if kept.is_empty() && journaled_record(inv, &run).await?.is_none() {
        // Journaled, a run of no document would be a run with nothing in it: a `--stale` run
        // on a schedule filled the journal with them.
        inv.note(format!(
            "--stale: no document is stale; run {run} was not journaled and nothing was cut"
        ));
        return Err(Outcome::Pass);
    }
    request.scope = Scope::Ids(kept);
    Ok(())
}

/// Refuses a scope naming an id that no row of `source` has, or naming no document at all: the
/// command line's check of a scope (`require_documents`), which a store with a source can make
/// only once the sync has tracked the rows. Skipped, a mistyped id was dropped in silence and a
/// prefix naming no row passed on nothing.
async fn require_source_rows(
    inv: &Invocation<'_>,
    scope: &Scope,
    source: &str,
    run: &RunId,
) -> Result<(), Outcome> {
    let refused = match crate::scope::require_documents(inv.store().as_ref(), scope).await {
        Ok(()) => return Ok(()),
        Err(ScopeError::Adapter(error)) => {
            return Err(failed_before_backup(
                run,
                "read the scope's documents",
                "check that the store is reachable",
            )(error));
        }
        Err(refused) => refused,
    };
    let which = match refused {
        ScopeError::Missing(_) => "has such an id",
        _ => "is in the scope",
    };
    Err(Outcome::Refused {
        reason: format!(
            "{refused}, after syncing from {source} (no row of {source} that [source] where \
             selects {which}); nothing was cut"
        ),
        switch: "the scope (--id, --prefix)".into(),
        next: fix_the_scope(source, run),
        resume_from: None,
    })
}

/// What a refused scope of a store with a `[source]` advises.
fn fix_the_scope(source: &str, run: &RunId) -> Vec<NextAction> {
    vec![
        NextAction::fix(format!(
            "fix the scope (--id, --prefix) to name rows of {source} that [source] where \
             selects"
        )),
        NextAction::Plan,
        Command::Run.again(run),
    ]
}

/// The refusal of a scope whose every document is `gone` from the source: its tracking copies
/// passed the check of the scope ([`require_source_rows`]), but left out, the run had nothing to
/// cut and PASSED on nothing (a backup, a plan and an enact of no document).
/// A run already journaled under the id is left to the admission's own verdict on it (a held
/// run over a deleted row is to be rolled back, not given another scope).
async fn refuse_all_gone(
    inv: &Invocation<'_>,
    gone: &BTreeSet<DocumentId>,
    run: &RunId,
) -> Result<(), Outcome> {
    let journaled = journaled_record(inv, run).await?;
    if journaled.is_some() {
        return Ok(());
    }
    let source = inv.store().info().source.unwrap_or_default();
    let gone: Vec<DocumentId> = gone.iter().cloned().collect();
    Err(Outcome::Refused {
        reason: format!(
            "no document of the scope is in {source} any more: {} no longer in it (deleted, or \
             not selected by [source] where; their active units stay, shown stale by the \
             reader view); nothing was cut",
            list(&gone)
        ),
        switch: "the scope (--id, --prefix)".into(),
        next: fix_the_scope(&source, run),
        resume_from: None,
    })
}

/// The run's journal record, if any, read before anything is backed up (a failure to read it
/// fails the run there).
async fn journaled_record(inv: &Invocation<'_>, run: &RunId) -> Result<Option<RunRecord>, Outcome> {
    inv.store()
        .load_run(run)
        .await
        .map_err(failed_before_backup(
            run,
            "read the run's journal",
            "check that the store is reachable",
        ))
}

/// The failure of a journaled, unfinished run over documents `gone` from the source: it cannot
/// leave them out (its scope is journaled), and its enact would refuse them; a new `command`
/// (another run id) leaves them out.
fn journaled_over_gone(run: &RunId, gone: &[DocumentId], command: &str) -> Outcome {
    Outcome::Failed {
        error: format!(
            "run {run} is journaled over {} document(s) no longer in the source (deleted, or not \
             selected by [source] where): {}; it cannot leave them out, and its enact would \
             refuse them",
            gone.len(),
            list(gone)
        ),
        resume_from: None,
        next: vec![
            NextAction::rollback(run),
            NextAction::fix(format!(
                "start a new `{command}` (another run id), which leaves them out"
            )),
        ],
    }
}

/// For a full run under the id of a run already journaled with the very scope and rules asked
/// for: `true` when that run is finished (reported as such, its scope kept: narrowed, it read as
/// another run's). Unfinished, it fails, to be rolled back: narrowed, the command that began it
/// was refused as "a different scope" and told to resume a run whose enact refuses the rows.
async fn journaled_full_scope(
    request: &RunRequest,
    inv: &mut Invocation<'_>,
    gone: &BTreeSet<DocumentId>,
) -> Result<bool, Outcome> {
    let run = &request.run;
    let journaled = journaled_record(inv, run).await?;
    let Some(record) = journaled else {
        return Ok(false);
    };
    if record.rules != request.rules || record.scope != request.scope {
        return Ok(false);
    }
    if finished_outcome(&record).is_some() {
        return Ok(true);
    }
    let gone: Vec<DocumentId> = gone.iter().cloned().collect();
    Err(journaled_over_gone(run, &gone, "run"))
}

/// For `run --stale` under the id of a run already journaled: its journaled scope, the stale
/// documents when it began, in `request` (then `true`). Narrowed again, the scope would leave out
/// what the run itself has fenced or enacted since (no longer `Ready`), and the very command that
/// began the run would be refused as another scope under its id instead of continuing it. A
/// journaled document now `gone` from the source fails an unfinished run here: the run cannot
/// leave it out, and its enact would refuse it (it finds no row) after writing and verifying the
/// others.
async fn journaled_stale_scope(
    request: &mut RunRequest,
    inv: &mut Invocation<'_>,
    gone: &BTreeSet<DocumentId>,
) -> Result<bool, Outcome> {
    let run = request.run.clone();
    let journaled = journaled_record(inv, &run).await?;
    // A `--stale` run's scope is always its list of ids; another journaled scope is another
    // run's, refused as such when the run is journaled.
    let Some(record) = journaled else {
        return Ok(false);
    };
    let Scope::Ids(ids) = &record.scope else {
        return Ok(false);
    };
    // Other rules, or a journaled document outside the scope asked for: not this command's run
    // (another under a reused id), refused as such rather than continued or passed as that run.
    if record.rules != request.rules || !within(&request.scope, ids) {
        return Ok(false);
    }
    let gone: Vec<DocumentId> = ids
        .iter()
        .filter(|id| gone.contains(*id))
        .cloned()
        .collect();
    // A finished run is only reported as such: nothing of it is continued.
    if !gone.is_empty() && finished_outcome(&record).is_none() {
        return Err(journaled_over_gone(&run, &gone, "run --stale"));
    }
    inv.note(format!(
        "--stale: run {run} is journaled; continued over the {} document(s) stale when it began",
        ids.len()
    ));
    request.scope = record.scope;
    Ok(true)
}

/// Whether every one of `ids` is in `scope` (a list of ids as a set: both may be long).
fn within(scope: &Scope, ids: &[DocumentId]) -> bool {
    match scope {
        Scope::Ids(asked) => {
            let asked: BTreeSet<&DocumentId> = asked.iter().collect();
            ids.iter().all(|id| asked.contains(id))
        }
        _ => ids.iter().all(|id| scope.contains(id)),
    }
}

/// The ids of the stale `heads` (state `Ready`), for `run --stale`, noted in `inv`; so are those
/// another run holds fenced, left out (that run's fence would refuse this one's) but perhaps
/// stale too (a fence hides whether the document was cut): unsaid, the count of the stale
/// documents cut would read as all of them.
fn stale_ids(
    heads: impl Iterator<Item = DocumentHead>,
    run: &RunId,
    inv: &mut Invocation<'_>,
) -> Vec<DocumentId> {
    let mut kept = Vec::new();
    let mut held = Vec::new();
    for head in heads {
        match head.state {
            DocumentState::Ready => kept.push(head.id),
            DocumentState::Cutting { run: holder } if &holder != run => {
                held.push(format!("`{}` (run {holder})", head.id));
            }
            _ => {}
        }
    }
    inv.note(format!(
        "--stale: {} document(s) never cut or changed since their active generation",
        kept.len()
    ));
    if !held.is_empty() {
        let shown = held.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
        let more = match held.len() {
            n if n > 5 => format!(" and {} more", n - 5),
            _ => String::new(),
        };
        inv.note(format!(
            "--stale: left out {} document(s) other runs hold fenced, which their fences would \
             refuse to this run: {shown}{more}; once those runs have enacted or been rolled \
             back, `run --stale` cuts any of them still stale",
            held.len()
        ));
    }
    kept
}

/// At most five ids, then how many more.
fn list(ids: &[DocumentId]) -> String {
    let shown: Vec<String> = ids.iter().take(5).map(|id| format!("`{id}`")).collect();
    match ids.len() {
        n if n > 5 => format!("{} and {} more", shown.join(", "), n - 5),
        _ => shown.join(", "),
    }
}

/// `run` once admitted: journals the run (or finds it journaled) and drives it.
async fn journal_and_drive(
    pipeline: &Pipeline,
    request: RunRequest,
    until: Option<usize>,
    inv: &mut Invocation<'_>,
) -> (Outcome, Option<String>) {
    let run = inv.run.clone();
    let mut fresh = RunRecord::new(run.clone(), request.scope, request.rules);
    fresh.expected_plan_sha256 = request.expected_plan.as_ref().map(Plan::sha256);
    let record = match inv.journal.begin(&fresh).await {
        Ok(record) => record,
        Err(error) => {
            let failed =
                failed_before_backup(&run, "journal the run", "check that the store is reachable");
            return (failed(error), None);
        }
    };
    if record.scope != fresh.scope
        || record.rules != fresh.rules
        || (fresh.expected_plan_sha256.is_some()
            && record.expected_plan_sha256 != fresh.expected_plan_sha256)
    {
        let outcome = Outcome::Failed {
            error: format!(
                "run id `{run}` already used: the journal holds it with a different scope, rules \
                 or reviewed plan"
            ),
            resume_from: None,
            next: vec![
                NextAction::fix("choose a new run id, or continue the journaled run"),
                NextAction::resume(&run),
            ],
        };
        return (outcome, None);
    }
    inv.show_journal(&record);
    if let Some(outcome) = finished_outcome(&record) {
        inv.note(format!(
            "run {run} is already journaled as {}; nothing was run",
            outcome.name()
        ));
        return (outcome, None);
    }
    if !record.phases.is_empty() {
        inv.note(format!(
            "run {run} was already journaled with the same scope and rules; continued it"
        ));
    }
    continue_run(pipeline, record, until, inv).await
}

/// The outcome when the store cannot `doing` before the run has backed anything up: the kill
/// switch's refusal, or a failure that says what to do (`advice`) before running it again.
fn failed_before_backup<'a>(
    run: &'a RunId,
    doing: &'a str,
    advice: &'a str,
) -> impl FnOnce(AdapterError) -> Outcome + 'a {
    move |error| {
        Outcome::refused_or_failed(error, None, |error| {
            (
                format!("cannot {doing}: {error}"),
                vec![NextAction::fix(advice), Command::Run.again(run)],
            )
        })
    }
}

/// Continues a journaled run: a run held after verification is enacted as `enact` does it
/// (verified again first); any other is reopened and driven from its first open phase.
async fn continue_run(
    pipeline: &Pipeline,
    record: RunRecord,
    until: Option<usize>,
    inv: &mut Invocation<'_>,
) -> (Outcome, Option<String>) {
    if until.is_none()
        && let Some(verify_index) = held::held_after_verification(pipeline, &record)
    {
        return held::continue_held(pipeline, record, verify_index, inv).await;
    }
    if let Some(outcome) = nothing_to_hold(pipeline, &record, until).await {
        return (outcome, None);
    }
    if let Some(outcome) = reopen(pipeline, &record, inv).await {
        return (outcome, None);
    }
    drive(pipeline, record, None, until, inv).await
}

/// `REFUSED` when `until` would hold the run before its enact and that enact began, did not
/// finish and enacted some of its documents (stopped part-way: they are live): holding it there
/// would journal it held and say it is not enacted. Finishing or undoing it is what is left.
async fn nothing_to_hold(
    pipeline: &Pipeline,
    record: &RunRecord,
    until: Option<usize>,
) -> Option<Outcome> {
    let until = until?;
    let held_after = pipeline.name(until)?;
    let enact = pipeline.position(PhaseRole::Enact).filter(|i| *i > until)?;
    let begun = pipeline.name(enact)?;
    record
        .phase(begun)
        .filter(|p| p.status != PhaseStatus::Done)?;
    if !held::enacted_any(pipeline, record).await {
        return None;
    }
    let run = &record.run;
    Some(Outcome::Refused {
        reason: format!(
            "run {run} already began phase `{begun}`, after `{held_after}`, and enacted some \
             of its documents (readers see them): there is nothing to hold it before; resume \
             it to the end, or roll it back"
        ),
        switch: "until".into(),
        next: vec![NextAction::resume(run), NextAction::rollback(run)],
        resume_from: Some(begun.to_owned()),
    })
}

/// `REFUSED` (nothing read is written) when the plan computed now, the way cut-leg-a will
/// compute it, is not the reviewed plan `expected`; `None` when they are equal.
async fn check_expected_plan(
    pipeline: &Pipeline,
    request: &RunRequest,
    expected: &Plan,
) -> Option<Outcome> {
    let run = &request.run;
    let documents = match pipeline.store.load_scope(&request.scope).await {
        Ok(documents) => documents,
        Err(error) => {
            return Some(Outcome::Failed {
                error: format!("cannot read the scope to check the reviewed plan: {error}"),
                resume_from: None,
                next: vec![
                    NextAction::fix(
                        "check that the store is reachable, then run again with the reviewed plan",
                    ),
                    Command::Run.again(run),
                ],
            });
        }
    };
    let current = match spawn_compute_plan(documents, request.rules.clone()).await {
        Ok(plan) => plan,
        Err(error) => {
            return Some(Outcome::Failed {
                error: format!("cannot compute the plan to compare: {error}"),
                resume_from: None,
                next: vec![
                    NextAction::fix("fix the rules or the document"),
                    NextAction::Plan,
                ],
            });
        }
    };
    let (expected_sha, current_sha) = (expected.sha256(), current.sha256());
    if expected_sha == current_sha {
        info!(plan_sha256 = %current_sha, "the reviewed plan still holds");
        return None;
    }
    let what = plan_difference(expected, &current);
    warn!(expected = %expected_sha, found = %current_sha, "the reviewed plan no longer holds");
    Some(Outcome::Refused {
        reason: format!(
            "the reviewed plan (sha256 {expected_sha}) no longer matches what would run (sha256 \
             {current_sha}): {what}; nothing was run or written"
        ),
        switch: "--plan".into(),
        next: vec![NextAction::Plan],
        resume_from: None,
    })
}

/// What differs between the reviewed plan and the plan computed now, in a few words.
fn plan_difference(expected: &Plan, current: &Plan) -> String {
    if expected.rules != current.rules {
        return "the cut rules differ".into();
    }
    let ids = |plan: &Plan| -> Vec<String> {
        plan.documents
            .iter()
            .map(|d| d.document.to_string())
            .collect()
    };
    let (e, c) = (ids(expected), ids(current));
    if e != c {
        if let Some(gone) = e.iter().find(|id| !c.contains(id)) {
            return format!("document `{gone}` is no longer in scope");
        }
        if let Some(new) = c.iter().find(|id| !e.contains(id)) {
            return format!("document `{new}` is now in scope");
        }
    }
    match expected
        .documents
        .iter()
        .zip(&current.documents)
        .find(|(a, b)| a != b)
    {
        Some((a, b)) if a.revision != b.revision || a.source_sha256 != b.source_sha256 => format!(
            "document `{}` changed (reviewed revision {}, now revision {})",
            a.document, a.revision, b.revision
        ),
        Some((a, _)) => format!("the cut of document `{}` differs", a.document),
        None => "the plans differ".into(),
    }
}

/// [`crate::Runner::resume`] once the options are valid.
pub(crate) async fn resume(
    pipeline: &Pipeline,
    run: &RunId,
    options: &RunOptions,
    until: Option<usize>,
) -> Result<RunReport, RunnerError> {
    let (mut inv, record) =
        match Invocation::open_journaled(pipeline, Command::Resume, run, options).await? {
            Opened::Journaled(inv, record) => (inv, record),
            Opened::Unreadable(report) => return Ok(report),
        };
    inv.show_journal(&record);
    if let Some(outcome) = already_finished(&record, &mut inv) {
        return Ok(inv.finish(outcome, None).await);
    }
    let admission = Admission {
        resume_from: pipeline.resume_from(&record),
        again: Command::Resume.again(run),
        needs_backup: !pipeline.done(&record, PhaseRole::Backup),
    };
    if let Err(outcome) = inv.admit(admission).await {
        return Ok(inv.finish(outcome, None).await);
    }
    // The lease's previous holder may have finished or rolled back the run while this runner
    // waited: decide again on the journal as it is now, before reopening anything.
    let record = inv.reload(record).await;
    if let Some(outcome) = already_finished(&record, &mut inv) {
        return Ok(inv.finish(outcome, None).await);
    }
    inv.take_census_before(&record.scope).await;
    let (outcome, held_after) = continue_run(pipeline, record, until, &mut inv).await;
    Ok(inv.finish(outcome, held_after).await)
}

/// The journaled outcome of a run that is finished already (nothing to resume), noted as such.
fn already_finished(record: &RunRecord, inv: &mut Invocation<'_>) -> Option<Outcome> {
    let outcome = finished_outcome(record)?;
    inv.note(format!(
        "run {} is already journaled as {}; nothing was run",
        record.run,
        outcome.name()
    ));
    Some(outcome)
}
