//! Phase 5 of five, **lifecycle-enact**: the cut-over. Each planned document's active-generation
//! pointer moves to the run's verified generation and the document becomes `cut`; the previous
//! generation is retired (kept until purged). The call is compare-and-set, inside the store's
//! transaction, on the run's fence and on exactly what the run saw at backup (revision, state,
//! active generation, and the body hashed as stored, so an edit by raw SQL after write-verify is
//! caught here), and costs O(documents), not O(units): the units were written and verified
//! before.
//!
//! The documents go to the store in batches of `RunContext::batch_documents`, each batch one
//! transaction: a document is always enacted whole (its pointer, its state and the retired
//! generation move together), and a batch all or nothing, but the scope as a whole is atomic only
//! with `batch_documents = 0` (one transaction for the whole scope, however long it holds its
//! locks). Between two batches a stop (cancellation, a lost lease) is honoured and the batch
//! pause taken; a closed kill switch refuses the next batch. A run stopped part-way holds some
//! documents enacted and others fenced: resuming enacts the rest (a document this run enacted
//! already passes, even one the application edited since: that edit is kept, and shows as
//! stale), rolling back restores every one of them. A refusal counts, from the store, every
//! document the run holds enacted, this call's or an earlier one's.
//!
//! Each batch is read back from the store as soon as it is enacted, before the next batch is
//! read from the plan and backup, so the phase holds one batch at a time; it records how many
//! documents are active on the run's generation, a figure that is the same whether this call
//! moved them or an earlier (crashed or repeated) one did, so the evidence is identical when the
//! phase is run again.

use std::collections::BTreeMap;

use iu_cutter_live_execution::{
    AdapterError, DocumentHead, DocumentId, Evidence, EvidenceValue, ExpectedRevision, RunId,
    Scope, StagedProof,
};
use iu_cutter_phase_core::{
    BatchTimes, DocumentBatches, Gap, NextAction, Pacer, PhaseError, PhaseRole, RunContext, names,
};

iu_cutter_phase_core::standard_phase! {
    /// Phase 5: makes the run's generation active for every planned document.
    ///
    /// Evidence: `documents_active` (planned documents now active on the run's generation),
    /// `documents_enacted` (the same figure, under the design's name), `batches` and
    /// `longest_batch_ms` (this call's enact transactions) and `enact_atomic_across_scope`
    /// (whether this call enacted the scope in one transaction). How many documents this
    /// particular call moved (0 on a re-run) is logged, not recorded, to keep the evidence stable.
    pub struct LifecycleEnact named names::LIFECYCLE_ENACT, role PhaseRole::Enact;
}

impl LifecycleEnact {
    /// This phase's `Phase::run` (see `standard_phase!`).
    async fn run_phase(&self, ctx: &mut RunContext) -> Result<Evidence, PhaseError> {
        let run = ctx.record.run.clone();
        // The plan and backup checked whole, every planned document found in the backup, before
        // anything is enacted; then read a batch at a time, each batch's expectations enacted
        // and checked before the next is read, so that nothing the phase holds grows with the
        // scope (except with `batch_documents = 0`, whose one transaction needs them all).
        // Only what the run saw of each document is enacted on: read without the bodies.
        let mut sources = ctx.planned_heads().await?;
        let mut enacting = Enacting {
            total: sources.documents(),
            done: 0,
            moved: 0,
            active: 0,
            times: BatchTimes::default(),
            pacer: Pacer::new(ctx.throttle.pause_only()),
        };
        let mut pending: Vec<ExpectedRevision> = Vec::new();
        let read_after = ctx.staged_read_after(&run).map(str::to_owned);
        while let Some(batch) = sources.next_batch().await? {
            for (doc_plan, document) in batch {
                // Exactly what the run saw at backup, and exactly the units write-verify
                // approved (and, when it passed in this invocation, what it read them after).
                let proof = read_after.as_ref().map(|read_after| StagedProof {
                    read_after: read_after.clone(),
                    units: doc_plan.units.len() as u64,
                });
                pending.push(
                    ExpectedRevision::of(&document)
                        .with_staged_units(doc_plan.units_digest(&run))
                        .with_staged_proof(proof),
                );
            }
            if let DocumentBatches::Of(size) = ctx.batch_documents {
                while pending.len() >= size.max(1) {
                    let rest = pending.split_off(size.max(1));
                    enacting.batch(ctx, &run, &pending).await?;
                    pending = rest;
                }
            }
        }
        // The whole scope in one transaction: that one, even for an empty scope, as before.
        let whole_scope = ctx.batch_documents == DocumentBatches::WholeScope;
        if !pending.is_empty() || (whole_scope && enacting.times.batches() == 0) {
            enacting.batch(ctx, &run, &pending).await?;
        }
        let Enacting {
            moved,
            active,
            times,
            pacer,
            ..
        } = enacting;
        tracing::info!(run = %run, documents_moved = moved, documents_active = active, "generation enacted");
        let mut evidence = Evidence::from([
            ("documents_active".to_owned(), EvidenceValue::from(active)),
            ("documents_enacted".to_owned(), EvidenceValue::from(active)),
            (
                "enact_atomic_across_scope".to_owned(),
                EvidenceValue::from(times.batches() <= 1),
            ),
        ]);
        times.record_in(&mut evidence);
        pacer.record_in(
            &ctx.throttle.pause_only(),
            ctx.back_off.as_ref(),
            &mut evidence,
        );
        Ok(evidence)
    }
}

/// The enact so far: what this call moved, what it found active, its transactions and its pace.
struct Enacting {
    /// Planned documents (for progress).
    total: u64,
    /// Documents the earlier batches covered.
    done: u64,
    /// Documents this call moved (an earlier call's are active already).
    moved: u64,
    /// Documents read back active on the run's generation.
    active: u64,
    times: BatchTimes,
    pacer: Pacer,
}

impl Enacting {
    /// Enacts `batch` as one transaction (after the stop checks and pause between two batches),
    /// then reads its documents back and counts them active on the run's generation. A refusal
    /// names how many documents the run holds enacted, so that the report says what the
    /// stopped run holds.
    async fn batch(
        &mut self,
        ctx: &RunContext,
        run: &RunId,
        batch: &[ExpectedRevision],
    ) -> Result<(), PhaseError> {
        if self.times.batches() > 0 {
            ctx.between_batches(names::LIFECYCLE_ENACT, &mut self.pacer, self.done)
                .await?;
        }
        ctx.check_cancelled()?;
        match self.times.time(ctx.store().enact(run, batch)).await {
            Ok(moved) => self.moved += moved,
            Err(e @ (AdapterError::Conflict { .. } | AdapterError::NotFound(_))) => {
                let enacted = enacted_so_far(ctx, run, self.done).await;
                let next = vec![
                    NextAction::fix(format!(
                        "the document changed or was deleted after write-verify (or another run \
                         holds it); {enacted}"
                    )),
                    NextAction::rollback(run),
                ];
                return Err(ctx
                    .blocked_on_conflict(names::LIFECYCLE_ENACT, batch, e, next)
                    .await);
            }
            Err(e) => return Err(e.into()),
        }
        self.done += batch.len() as u64;
        ctx.progress(names::LIFECYCLE_ENACT, self.done, self.total);
        self.active += active_on(ctx, run, batch).await?;
        Ok(())
    }
}

/// How many of `batch`'s documents are active on `run`'s generation, read back from the store;
/// a document that is not is a gap: the store did not keep what it enacted.
async fn active_on(
    ctx: &RunContext,
    run: &RunId,
    batch: &[ExpectedRevision],
) -> Result<u64, PhaseError> {
    let ids: Vec<DocumentId> = batch.iter().map(|e| e.document.clone()).collect();
    let current = ctx.store().load_heads(&Scope::Ids(ids)).await?;
    let current: BTreeMap<&DocumentId, &DocumentHead> =
        current.iter().map(|d| (&d.id, d)).collect();
    let mut active = 0u64;
    for expected in batch {
        let id = &expected.document;
        match current.get(id) {
            // Active on the run's generation; its state is `Ready` when the application
            // edited it after an earlier, stopped call enacted it (stale, not undone).
            Some(d) if d.active_generation.as_ref() == Some(run) => active += 1,
            found => {
                return Err(PhaseError::Blocked(Gap {
                    phase: names::LIFECYCLE_ENACT.to_owned(),
                    document: Some(id.clone()),
                    unit: None,
                    expected: format!("active generation {run}"),
                    found: match found {
                        Some(d) => format!(
                            "state {:?}, active generation {:?}",
                            d.state, d.active_generation
                        ),
                        None => "no such document".into(),
                    },
                    next: vec![
                        NextAction::fix(
                            "the store did not keep the enacted state (a concurrent \
                             writer?); inspect",
                        ),
                        NextAction::rollback(run),
                    ],
                }));
            }
        }
    }
    Ok(active)
}

/// What the run holds enacted when a batch is refused, for the gap: read from the store, a plan
/// part at a time, so that documents an earlier (stopped or killed) invocation of the run enacted
/// count too, and the message never says "nothing was enacted" of a run that enacted some.
/// `done` is what this invocation's earlier batches covered, said when the read itself fails.
async fn enacted_so_far(ctx: &RunContext, run: &RunId, done: u64) -> String {
    match count_enacted(ctx, run).await {
        Ok((0, _)) => "no document of the run is enacted".to_owned(),
        Ok((enacted, total)) => format!(
            "{enacted} of its {total} document(s) are enacted on this run's generation \
             (by this call's earlier batches or an earlier, stopped call), the rest are not"
        ),
        Err(e) => format!(
            "this call enacted up to {done} document(s) before it; earlier calls of the run may \
             have enacted more (reading them failed: {e}; the status of run {run} shows them)"
        ),
    }
}

/// The plan's documents active on `run`'s generation, and the plan's documents, counted a plan
/// part at a time.
async fn count_enacted(ctx: &RunContext, run: &RunId) -> Result<(u64, u64), PhaseError> {
    let mut plan = ctx.plan_reader().await?;
    let (mut enacted, mut total) = (0u64, 0u64);
    while let Some(part) = plan.next_part().await? {
        total += part.len() as u64;
        let ids = part.into_iter().map(|d| d.document).collect();
        let heads = ctx.store().load_heads(&Scope::Ids(ids)).await?;
        enacted += heads
            .iter()
            .filter(|d| d.active_generation.as_ref() == Some(run))
            .count() as u64;
    }
    Ok((enacted, total))
}

#[cfg(test)]
mod tests;
