//! The run context: what a phase may use, and the durable state it caches.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use iu_cutter_live_execution::{
    AdapterError, Backup, Document, DocumentId, DocumentPlan, ExpectedRevision,
    LiveExecutionAdapter, PLAN_PART_BYTES, PhaseStore, RunId, RunRecord, Scope, ScopeCensus,
};

use crate::backup_store::{BackupReader, BackupStore, HeaderDetail};
use crate::batches::DocumentBatches;
use crate::error::{Gap, PhaseError};
use crate::events::{EventSink, RunEvent};
use crate::next::NextAction;
use crate::plan_copy::PlanCopySlot;
use crate::planned::{Merge, PlanReader, PlannedSources};
use crate::throttle::{BackOff, Pacer, Throttle};

/// Cooperative cancellation: the runner and the phases stop at the next phase or batch boundary.
#[derive(Clone, Debug, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    /// A flag that is not set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the run to stop at its next boundary.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether cancellation was asked for.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Units per write batch unless configured: large enough that the per-transaction cost of a
/// write (the fence check, the generation record, the commit) is small against its rows (on the
/// bench store, 5,000 against 1,000 took SQLite's writes from 476 to 364 ms and PostgreSQL's
/// from 1,037 to 716 ms), small enough that a stop waits for one batch only.
pub const DEFAULT_BATCH_UNITS: usize = 5000;

/// The scope census the runner took as the invocation opened, handed to the backup phase: its
/// summary (counts, fingerprint and change mark; [`Census::per_document`] empty, since the
/// scope's digests would grow with it) and the ids of the documents it was taken of, in the
/// store's id order (the runner's own list for its closing census, shared, not copied).
///
/// [`Census::per_document`]: iu_cutter_live_execution::Census::per_document
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpeningCensus {
    /// The documents asked for (some may have been deleted before the census read them: then
    /// the census counts fewer).
    pub ids: Arc<Vec<DocumentId>>,
    /// The census's summary and change mark.
    pub census: ScopeCensus,
}

/// Everything a phase may use during one run.
pub struct RunContext {
    /// The journaled run (id, scope, rules, phases so far).
    pub record: RunRecord,
    /// The store, offered to the phases only as a [`PhaseStore`] (see [`RunContext::store`]).
    store: Arc<dyn LiveExecutionAdapter>,
    /// Where backups are written and read.
    pub backups: Arc<dyn BackupStore>,
    /// Where progress goes.
    pub events: Arc<dyn EventSink>,
    /// Cooperative cancellation.
    pub cancel: CancelFlag,
    /// Units per write or read batch.
    pub batch_units: usize,
    /// Documents per fence or enact transaction.
    pub batch_documents: DocumentBatches,
    /// Bytes of canonical text per journaled part of the plan (about: a part ends after the
    /// document that reaches it), [`PLAN_PART_BYTES`] unless set.
    pub plan_part_bytes: usize,
    /// How fast the phases may write.
    pub throttle: Throttle,
    /// Holds batches back while the database is busy, when configured.
    pub back_off: Option<BackOff>,
    /// The backup's header (no documents): its census and change mark.
    backup_head: Option<Arc<Backup>>,
    bytes_cut: Option<u64>,
    opening_census: Option<OpeningCensus>,
    /// This invocation's local copy of the run's sealed plan, once a read of the journal made
    /// one: the later reads take it instead of the journal.
    plan_copy: PlanCopySlot,
    /// The snapshot this invocation's write-verify of a run read its staged units after, once
    /// that write-verify passed ([`iu_cutter_live_execution::StagedProof`]): kept in memory
    /// only, so that an enact in another invocation, or of a run journaled before, hashes.
    staged_read_after: Option<(RunId, String)>,
}

impl RunContext {
    /// A context for `record`, with no cached state.
    pub fn new(
        record: RunRecord,
        adapter: Arc<dyn LiveExecutionAdapter>,
        backups: Arc<dyn BackupStore>,
    ) -> Self {
        RunContext {
            record,
            store: adapter,
            backups,
            events: Arc::new(crate::events::NoEvents),
            cancel: CancelFlag::new(),
            batch_units: DEFAULT_BATCH_UNITS,
            batch_documents: DocumentBatches::default(),
            plan_part_bytes: PLAN_PART_BYTES,
            throttle: Throttle::default(),
            back_off: None,
            backup_head: None,
            bytes_cut: None,
            opening_census: None,
            plan_copy: PlanCopySlot::default(),
            staged_read_after: None,
        }
    }

    /// Records that this invocation's write-verify of `run` passed, having read every staged
    /// unit after the server snapshot `read_after` (`None`: the store gave none, or it has not
    /// passed: forgets any recorded before).
    pub fn note_staged_read_after(&mut self, run: &RunId, read_after: Option<String>) {
        self.staged_read_after = read_after.map(|snapshot| (run.clone(), snapshot));
    }

    /// What [`note_staged_read_after`](Self::note_staged_read_after) recorded for `run`, if
    /// this invocation's write-verify of it passed.
    pub fn staged_read_after(&self, run: &RunId) -> Option<&str> {
        match &self.staged_read_after {
            Some((verified, snapshot)) if verified == run => Some(snapshot),
            _ => None,
        }
    }

    /// The store, as much of it as a phase may use: reads, its compare-and-set cuts (fence,
    /// write units, enact) and its plan. No phase journals, leases, restores or purges.
    pub fn store(&self) -> &dyn PhaseStore {
        &self.store
    }

    /// The application's table the store reads its documents from (`[source]`), if it has one:
    /// its tracking copies then change with the application's rows.
    pub fn source(&self) -> Option<String> {
        self.store.info().source
    }

    /// How `phase` reports a compare-and-set of `batch` that the store refused: a conflict, or
    /// a document of the batch no longer in the store (`NotFound`: deleted since the backup),
    /// blocks the run on a gap naming the document, with `next`; any other refusal stops the
    /// phase as it is. A deleted document is never a failure to resume past: the run's backup
    /// lists it, so every retry would meet it again.
    pub async fn blocked_on_conflict(
        &self,
        phase: &str,
        batch: &[ExpectedRevision],
        error: AdapterError,
        next: Vec<NextAction>,
    ) -> PhaseError {
        if !matches!(error, AdapterError::NotFound(_)) {
            return PhaseError::blocked_on_conflict(phase, error, next);
        }
        let ids: Vec<DocumentId> = batch.iter().map(|e| e.document.clone()).collect();
        let Ok(heads) = self.store().load_heads(&Scope::Ids(ids)).await else {
            return PhaseError::Adapter(error);
        };
        let Some(gone) = batch
            .iter()
            .find(|expected| !heads.iter().any(|head| head.id == expected.document))
        else {
            return PhaseError::Adapter(error);
        };
        PhaseError::Blocked(Gap {
            phase: phase.to_owned(),
            document: Some(gone.document.clone()),
            unit: None,
            expected: format!(
                "the document as backed up (revision {}, sha256 {})",
                gone.revision, gone.sha256
            ),
            found: "no such document: it was deleted since the backup".to_owned(),
            next,
        })
    }

    /// Hands the phases the scope census the runner took as this invocation opened, after the
    /// run's lease and journal entry and before any phase: the backup phase records it (with its
    /// change mark) instead of taking a second one a moment later.
    pub fn set_opening_census(&mut self, census: Option<OpeningCensus>) {
        self.opening_census = census;
    }

    /// The opening scope census, once: a later phase (or a second backup attempt) takes its own.
    pub fn take_opening_census(&mut self) -> Option<OpeningCensus> {
        self.opening_census.take()
    }

    /// The run's backup opened to be read by parts, after a first read through it that checked
    /// it against its manifest: a tampered backup is refused before a phase acts on any of it,
    /// and no more than a batch of its documents is ever in memory. The first read only hashes
    /// the documents' lines: the reader returned decodes them.
    pub async fn backup_reader(&mut self) -> Result<BackupReader, PhaseError> {
        // The copy a rollback reads, proven intact before the run first acts (later reads may
        // take an identical copy, checked against the same sha256).
        let run = &self.record.run;
        let mut of_record = self
            .backups
            .open_of_record(run, HeaderDetail::Lean)
            .await?
            .ok_or_else(|| {
                PhaseError::Precondition(format!(
                    "run {run} has no backup; resume the run to take it first"
                ))
            })?;
        of_record.check_rest().await?;
        let reader = self.open_backup().await?;
        self.backup_head = Some(Arc::new(reader.head().clone()));
        Ok(reader)
    }

    /// The run's backup opened again, *not* read through first: for a phase's second pass over
    /// a backup it read with [`backup_reader`](Self::backup_reader), which must compare what it
    /// reads now with what it read then before acting on it (the artifact is checked against its
    /// manifest only as this reader reaches its end).
    pub async fn reopen_backup(&self) -> Result<BackupReader, PhaseError> {
        self.open_backup().await
    }

    /// The run's backup opened to read its documents, its header lean ([`HeaderDetail::Lean`]).
    async fn open_backup(&self) -> Result<BackupReader, PhaseError> {
        self.open_backup_with(HeaderDetail::Lean).await
    }

    async fn open_backup_with(&self, detail: HeaderDetail) -> Result<BackupReader, PhaseError> {
        let run = &self.record.run;
        self.backups.open_with(run, detail).await?.ok_or_else(|| {
            PhaseError::Precondition(format!(
                "run {run} has no backup; resume the run to take it first"
            ))
        })
    }

    /// The run's sealed plan, if any, opened to be read a part at a time ([`PlanReader`]).
    pub async fn sealed_plan(&self) -> Result<Option<PlanReader>, PhaseError> {
        PlanReader::open_with_copy(
            Arc::clone(&self.store),
            &self.record.run,
            Some(&self.plan_copy),
        )
        .await
    }

    /// The run's journaled plan, opened to be read a part at a time ([`PlanReader`]).
    pub async fn plan_reader(&self) -> Result<PlanReader, PhaseError> {
        let run = &self.record.run;
        self.sealed_plan().await?.ok_or_else(|| {
            PhaseError::Precondition(format!(
                "run {run} has no journaled plan; run the cut-leg-a phase first"
            ))
        })
    }

    /// The run's plan and backup read alongside each other ([`PlannedSources`]), after a first
    /// read through both that checked the backup against its manifest and the plan against its
    /// sha256, found every planned document in the backup, counted the plan's documents and
    /// units, and passed each planned document to `check` with its backed-up source (so that a
    /// phase that must not start on a plan that does not fit can refuse before it acts). Each
    /// batch of the backup given is first compared with the one the first read checked: the
    /// bytes may change between the two reads (an export rewritten in place).
    pub async fn planned_sources(
        &mut self,
        check: impl FnMut(&DocumentPlan, &Document) -> Result<(), PhaseError>,
    ) -> Result<PlannedSources, PhaseError> {
        self.planned_sources_with(check, true).await
    }

    /// [`planned_sources`](Self::planned_sources) with every check passing, the documents
    /// decoded without their bodies (each body empty, [`BackupReader::without_bodies`]) in both
    /// reads: for a phase that needs only what the run saw of each document (its revision,
    /// sha256, state and active generation), the bodies being most of a backup's bytes.
    pub async fn planned_heads(&mut self) -> Result<PlannedSources, PhaseError> {
        self.planned_sources_with(crate::any_source, false).await
    }

    async fn planned_sources_with(
        &mut self,
        mut check: impl FnMut(&DocumentPlan, &Document) -> Result<(), PhaseError>,
        bodies: bool,
    ) -> Result<PlannedSources, PhaseError> {
        let batch = self.batch_documents.read_size();
        let lean = |reader: BackupReader| match bodies {
            true => reader,
            false => reader.without_bodies(),
        };
        let mut first = lean(self.open_backup().await?);
        let mut merge = Merge::new(self.plan_reader().await?);
        let mut digests = VecDeque::new();
        let checked: Result<(u64, u64), PhaseError> = async {
            while let Some(snapshots) = first.next_batch(batch).await? {
                self.check_cancelled()?;
                digests.push_back(crate::planned::documents_digest(&snapshots));
                for (planned, document) in merge.pair(snapshots).await? {
                    check(&planned, &document)?;
                }
            }
            merge.finish().await
        }
        .await;
        let totals = match checked {
            Ok(totals) => totals,
            Err(e) => {
                // A tampered artifact is refused as such, whatever else its bytes say.
                first.check_rest().await?;
                return Err(e);
            }
        };
        let reader = lean(self.open_backup().await?);
        self.backup_head = Some(Arc::new(reader.head().clone()));
        Ok(PlannedSources {
            reader,
            merge: Merge::new(self.plan_reader().await?),
            batch,
            totals: Some(totals),
            checked: Some(digests),
        })
    }

    /// The run's plan and backup read alongside each other in one pass, *not* read through
    /// first: for a phase that mutates nothing, whose every finding waits for the end of the
    /// read. The backup is checked against its manifest and the plan against its sha256 as the
    /// read reaches their ends (the last [`PlannedSources::next_batch`] fails on a tampered
    /// one); a phase that stops early on something it found calls
    /// [`PlannedSources::check_rest`] first, so that a tampered artifact is named as such, as
    /// when both were read through first. Each further pass over the backup and the plan costs
    /// their whole read again (on a million units, seconds of the store's time).
    pub async fn planned_sources_in_one_pass(&mut self) -> Result<PlannedSources, PhaseError> {
        let reader = self.open_backup().await?;
        self.backup_head = Some(Arc::new(reader.head().clone()));
        Ok(PlannedSources {
            reader,
            merge: Merge::new(self.plan_reader().await?),
            batch: self.batch_documents.read_size(),
            totals: None,
            checked: None,
        })
    }

    /// The run's backup without its documents, and without what grows with the scope
    /// ([`HeaderDetail::Lean`]: the census's counts and fingerprint but no digest per document,
    /// the change mark, no change-log entries): cached from the phase that took or last read the
    /// backup, or read from the store (its header, then the rest checked against the manifest).
    pub async fn backup_head(&mut self) -> Result<Arc<Backup>, PhaseError> {
        if let Some(head) = &self.backup_head {
            return Ok(Arc::clone(head));
        }
        let reader = self.open_backup().await?;
        let head = Arc::new(reader.head().clone());
        reader.check().await?;
        self.backup_head = Some(Arc::clone(&head));
        Ok(head)
    }

    /// The run's backup without its documents but with its whole header (the census's digest
    /// per document, the change-log entries), read from the store and checked against the
    /// manifest: what only a backup written before change marks needs (its census is compared
    /// whole). Never cached: it grows with the scope.
    pub async fn full_backup_head(&self) -> Result<Backup, PhaseError> {
        let reader = self.open_backup_with(HeaderDetail::Full).await?;
        let head = reader.head().clone();
        reader.check().await?;
        Ok(head)
    }

    /// Caches the header of the backup just taken (its documents are read back by parts),
    /// without what grows with the scope ([`backup_head`](Self::backup_head)).
    pub fn set_backup_head(&mut self, mut backup: Backup) {
        backup.documents = Vec::new();
        backup.census.per_document = Default::default();
        backup.entries = None;
        self.backup_head = Some(Arc::new(backup));
    }

    /// The source bytes the plan phase of this invocation cut, for the metrics; `None` when no
    /// plan was cut.
    pub fn bytes_cut(&self) -> Option<u64> {
        self.bytes_cut
    }

    /// Records the source bytes the plan phase cut.
    pub fn set_bytes_cut(&mut self, bytes: u64) {
        self.bytes_cut = Some(bytes);
    }

    /// Stops with [`PhaseError::Cancelled`] if cancellation was asked for.
    // `PhaseError` carries its `Gap` inline on purpose (phases build and match it by value).
    #[allow(clippy::result_large_err)]
    pub fn check_cancelled(&self) -> Result<(), PhaseError> {
        if self.cancel.is_cancelled() {
            Err(PhaseError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// What `phase` does between two of its batches, once `done` units are behind it: waits as
    /// `pacer` says, then, with a back-off, as long as the database's load stays above its
    /// threshold; and stops with [`PhaseError::Cancelled`] if cancellation was asked for
    /// meanwhile (a lost lease sets it too), so that the next batch is never sent after a stop.
    /// A closed kill switch stops the phase while it waits (the store's probe asks the switch)
    /// or at the next batch (every mutating call passes the switch).
    // See `check_cancelled`.
    #[allow(clippy::result_large_err)]
    pub async fn between_batches(
        &self,
        phase: &str,
        pacer: &mut Pacer,
        done: u64,
    ) -> Result<(), PhaseError> {
        self.check_cancelled()?;
        pacer.after_batch(done).await;
        self.check_cancelled()?;
        if let Some(back_off) = &self.back_off {
            let waited = self.wait_for_load(phase, back_off).await?;
            pacer.waited_on_load_for(waited);
        }
        Ok(())
    }

    /// Reads `back_off`'s probe until it is at or below its threshold, waiting longer each
    /// time; returns how long it waited. Stops on cancellation and on the probe's refusal (a
    /// closed kill switch).
    #[allow(clippy::result_large_err)]
    async fn wait_for_load(&self, phase: &str, back_off: &BackOff) -> Result<Duration, PhaseError> {
        let started = tokio::time::Instant::now();
        let mut wait = None;
        loop {
            self.check_cancelled()?;
            let reading = back_off.probe.read().await?;
            if reading <= back_off.threshold {
                return Ok(if wait.is_some() {
                    started.elapsed()
                } else {
                    Duration::ZERO
                });
            }
            let waited_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            let load = format!(
                "{} {reading} > {}",
                back_off.probe.describe(),
                back_off.threshold
            );
            tracing::info!(phase, %load, waited_ms, "backing off: the database is busy");
            self.events.emit(RunEvent::BackingOff {
                run: self.record.run.clone(),
                phase: phase.to_owned(),
                load,
                waited_ms,
            });
            let next = BackOff::next_wait(wait);
            tokio::time::sleep(next).await;
            wait = Some(next);
        }
    }

    /// Emits a progress event for `phase`.
    pub fn progress(&self, phase: &str, done: u64, total: u64) {
        self.events.emit(RunEvent::Progress {
            run: self.record.run.clone(),
            phase: phase.to_owned(),
            done,
            total,
        });
    }
}
