//! Phase 3 of five, **leg-b-record**: writes the journaled plan's units as the run's new
//! *generation*, staged (invisible to readers until lifecycle-enact). Each unit's text is taken
//! from the backed-up source (never from the live row), as the exact byte span the plan names,
//! after checking that the backup still hashes to the plan's source sha256 and that every span
//! lies on UTF-8 character boundaries: nothing is written unless the whole plan is applicable.
//!
//! Units go to the store in batches of `RunContext::batch_units`, paced by `RunContext::throttle`;
//! cancellation is honoured between batches. Writing is idempotent (the store inserts or replaces by document, generation and
//! ordinal), so a crashed or cancelled phase is simply run again.

use iu_cutter_live_execution::{
    Document, DocumentId, DocumentPlan, Evidence, RunId, Unit, sha256_hex,
};
use iu_cutter_phase_core::{
    BatchTimes, Pacer, PhaseError, PhaseRole, RunContext, evidence as keys, names,
};

iu_cutter_phase_core::standard_phase! {
    /// Phase 3: writes the plan's units into the run's staged generation.
    ///
    /// Evidence: `units_written` (units sent, equal to the planned count), `batches` and
    /// `longest_batch_ms` (the longest write transaction), with a
    /// throttle `throttle_waited_ms` (how long it held the writes back), and with a load
    /// back-off `load_waited_ms` (how long a busy database held them back).
    pub struct LegBRecord named names::LEG_B_RECORD, role PhaseRole::Other;
}

impl LegBRecord {
    /// This phase's `Phase::run` (see `standard_phase!`).
    async fn run_phase(&self, ctx: &mut RunContext) -> Result<Evidence, PhaseError> {
        let run = ctx.record.run.clone();
        // Every source checked against the plan (and the plan against its sha256) before
        // anything is written; then both read again, a batch of documents at a time, to be cut
        // into units.
        // `PhaseError` carries its `Gap` inline on purpose (phases build and match it by value).
        #[allow(clippy::result_large_err)]
        let check = |doc_plan: &DocumentPlan, source: &Document| {
            check_source(doc_plan, &source.body).map_err(PhaseError::Precondition)
        };
        let mut sources = ctx.planned_sources(check).await?;

        let total = sources.units();
        let batch_size = ctx.batch_units.max(1);
        let mut batch: Vec<Unit> = Vec::with_capacity(batch_size.min(total as usize));
        let mut written = 0u64;
        let mut times = BatchTimes::default();
        let mut pacer = Pacer::new(ctx.throttle);
        while let Some(documents) = sources.next_batch().await? {
            for (doc_plan, source) in documents {
                for planned in &doc_plan.units {
                    let body = span(&source.body, &doc_plan.document, planned.start, planned.end)
                        .map_err(PhaseError::Precondition)?;
                    batch.push(planned.staged(&doc_plan.document, &run, body));
                    if batch.len() == batch_size {
                        written += times.time(write(ctx, &run, &mut batch)).await?;
                        ctx.progress(names::LEG_B_RECORD, written, total);
                        ctx.between_batches(names::LEG_B_RECORD, &mut pacer, written)
                            .await?;
                    }
                }
            }
        }
        if !batch.is_empty() {
            written += times.time(write(ctx, &run, &mut batch)).await?;
            ctx.progress(names::LEG_B_RECORD, written, total);
        }
        tracing::info!(run = %run, units = written, batches = times.batches(), "staged generation written");
        let mut evidence =
            Evidence::from([(keys::UNITS_WRITTEN.name().to_owned(), written.into())]);
        times.record_in(&mut evidence);
        pacer.record_in(&ctx.throttle, ctx.back_off.as_ref(), &mut evidence);
        Ok(evidence)
    }
}

/// Sends one batch (after a cancellation check) and empties it; returns the units sent.
async fn write(ctx: &RunContext, run: &RunId, batch: &mut Vec<Unit>) -> Result<u64, PhaseError> {
    ctx.check_cancelled()?;
    let sent = batch.len() as u64;
    let reported = ctx.store().write_units(run, batch).await?;
    if reported != sent {
        tracing::warn!(run = %run, sent, reported, "the store reported another unit count; write-verify will check the generation");
    }
    batch.clear();
    Ok(sent)
}

/// A planned document's backed-up body against its plan: same sha256 and length, every span on
/// character boundaries. Fails with the precondition's message.
fn check_source(doc_plan: &DocumentPlan, body: &str) -> Result<(), String> {
    let sha = sha256_hex(body.as_bytes());
    if sha != doc_plan.source_sha256 || body.len() as u64 != doc_plan.source_bytes {
        return Err(precondition(
            doc_plan,
            format!(
                "backed-up body ({} bytes, sha256 {sha}) is not the planned source ({} bytes, sha256 {})",
                body.len(),
                doc_plan.source_bytes,
                doc_plan.source_sha256
            ),
        ));
    }
    for unit in &doc_plan.units {
        span(body, &doc_plan.document, unit.start, unit.end)?;
    }
    Ok(())
}

fn span<'s>(
    source: &'s str,
    document: &DocumentId,
    start: u64,
    end: u64,
) -> Result<&'s str, String> {
    usize::try_from(start)
        .ok()
        .zip(usize::try_from(end).ok())
        .and_then(|(start, end)| source.get(start..end))
        .ok_or_else(|| {
            format!(
                "document `{document}`: planned span {start}..{end} is not a character-aligned range of its {}-byte source; the plan does not fit the backup",
                source.len()
            )
        })
}

fn precondition(doc_plan: &DocumentPlan, what: String) -> String {
    format!(
        "document `{}` {what}; the plan does not fit the backup",
        doc_plan.document
    )
}

#[cfg(test)]
mod tests;
