//! Phase 1 of five, **backup**: before anything is mutated, snapshots every row the run may
//! touch (each scoped document, its generation records and its active units; the scope's heads
//! first, then the bodies `batch_documents` at a time, never the whole scope's in one read)
//! together with the census of those documents and the store's change mark (read in one
//! snapshot: what changed anywhere in the store since is what the store's change log lists after
//! the mark), and writes it as one backup artifact through the run's
//! [`BackupStore`](iu_cutter_phase_core::BackupStore) (JSON Lines with a sha256 manifest, written
//! atomically), each batch's snapshots written before the next batch is read
//! ([`BackupSink`](iu_cutter_phase_core::BackupSink)). The header, the artifact's first line,
//! holds the census: a document that vanishes before its batch is read has the backup taken
//! again, of the documents left. Later phases read the backup, never the live rows, as the truth
//! of the pre-run state, a batch of documents at a time: cut-leg-a fences from it, write-verify
//! checks losslessness and the census against it, lifecycle-enact enacts against it, and
//! rollback restores it.
//!
//! The phase reads the store and journals the backup (in the store and as a file export). It is
//! idempotent in the strongest sense: once a backup exists for the run it is reused, never
//! re-taken, because after the fence the store is no longer in its pre-run state. A document
//! whose body no longer hashes to its recorded sha256 (edited by raw SQL around the store) blocks
//! the run here, before anything is saved or fenced: such a row is no trustworthy pre-run state.
//! So does a document no run of this scope could cut (`Refusal`): one another run holds fenced
//! (this run's fence would refuse it, after fencing the batches before it), and one whose active
//! generation has no `active` record (no enact could retire it).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use iu_cutter_live_execution::{
    Backup as BackupArtifact, ChangeMark, Document, DocumentId, DocumentSnapshot, DocumentState,
    Evidence, GenerationState, HEADS_PAGE, RunId, SCHEMA_VERSION, Scope, ScopeCensus, sha256_hex,
};
use iu_cutter_phase_core::{
    BackupReceipt, CENSUS_LINE_DOCUMENTS, Gap, HeaderDetail, NextAction, OpeningCensus, PhaseError,
    PhaseRole, RunContext, evidence, names,
};

iu_cutter_phase_core::standard_phase! {
    /// Phase 1: takes (or reuses) the run's backup.
    ///
    /// Evidence: `backup_sha256`, `location`, `documents`, `units` (active units backed up),
    /// `census_fingerprint`, `census_documents`, `census_units` (the census of the backed-up
    /// documents), `change_mark` (the store's change mark read with it).
    pub struct Backup named names::BACKUP, role PhaseRole::Backup;
}

impl Backup {
    /// This phase's `Phase::run` (see `standard_phase!`).
    async fn run_phase(&self, ctx: &mut RunContext) -> Result<Evidence, PhaseError> {
        let run = ctx.record.run.clone();
        if let Some(reader) = ctx.backups.open_with(&run, HeaderDetail::Lean).await? {
            if reader.unjournaled() {
                // Not this run's: a backup this store took would be in its journal (a crash
                // after the seal included). Taking a new one would replace that file.
                return Err(PhaseError::Precondition(format!(
                    "the backup store holds a backup of run {run} at {} that this store's \
                     journal does not: another store's run of the same id (one backup \
                     directory shared by two stores, or a store initialised again with its \
                     backup directory kept); nothing was backed up and that file is left as it \
                     is: run again with another run id, or give this store its own backup_dir",
                    reader.location()
                )));
            }
            // Read through (checked against its manifest, counted), never held whole.
            let head = reader.head().clone();
            let receipt = reader.check().await?;
            tracing::info!(run = %run, sha256 = %receipt.sha256, "reusing the run's backup");
            let evidence = evidence(&head, &receipt);
            ctx.set_backup_head(head);
            return Ok(evidence);
        }

        // The heads first (no bodies), then the bodies a batch of documents at a time, each
        // batch written to the backup before the next is read: neither the scope's bodies nor
        // the artifact is ever whole in memory.
        // The runner's opening scope census, when it took one moments ago over exactly the
        // scope's documents now (nothing of this run has mutated the store since); otherwise (a
        // document entered or left the scope meanwhile, or a resumed backup) one of the scope's
        // documents now. Its documents are the backup's.
        let opening = ctx.take_opening_census();
        let mut taken = opening_or_fresh(ctx, opening).await?;
        let mut retakes = 0;
        loop {
            let streamed = taken.streamed;
            let head = BackupArtifact {
                schema_version: SCHEMA_VERSION,
                run: run.clone(),
                census: taken.census.census,
                mark: Some(taken.census.mark),
                entries: None,
                documents: Vec::new(),
            };
            match write_snapshots(ctx, &head, streamed.as_deref()).await? {
                Written::All(receipt) => {
                    tracing::info!(
                        run = %run,
                        sha256 = %receipt.sha256,
                        documents = receipt.documents,
                        units = receipt.units,
                        location = %receipt.location,
                        "backup written"
                    );
                    let evidence = evidence(&head, &receipt);
                    // The later phases read the documents back by parts.
                    ctx.set_backup_head(head);
                    return Ok(evidence);
                }
                // A document vanished between the census and its batch: the header (written
                // first) holds the census, so the backup is taken again, of those left, with
                // their census (each time one document fewer at least).
                Written::Vanished(kept) => {
                    taken = Taken::held(ctx.store().scope_census(&kept).await?)
                }
                // A document was edited between the census and its batch's read: the backup
                // would hold the edited row under the census's pre-edit digest. Taken again, a
                // few times at most (a document edited without pause blocks the run instead).
                Written::Edited(edited, refused, undropped) => {
                    // Another run's fence is what changed it: taking the backup again cannot
                    // help while that run holds it, and this run's fence would refuse it anyway.
                    // The documents refused as read are named too: a new run leaving out only
                    // this one would be blocked on them.
                    if let Some(holder) = held_by_another(ctx, &edited).await? {
                        let (refused, holders) = refused.into_parts();
                        let others: Vec<DocumentId> =
                            refused.into_iter().filter(|id| *id != edited).collect();
                        let others_held = holders.into_iter().filter(|other| *other != holder);
                        let holders: Vec<RunId> =
                            std::iter::once(holder.clone()).chain(others_held).collect();
                        let since = HeldSince::Changed;
                        let mut gap = held_elsewhere(&run, (edited, &others), &holders, since);
                        gap.found.push_str(&undropped.unwrap_or_default());
                        return Err(PhaseError::Blocked(gap));
                    }
                    retakes += 1;
                    if retakes > EDITED_RETAKES {
                        let mut gap = kept_changing(&run, edited);
                        gap.found.push_str(&undropped.unwrap_or_default());
                        return Err(PhaseError::Blocked(gap));
                    }
                    let keys = || head.census.per_document.into_keys().collect();
                    let ids: Vec<DocumentId> = streamed.map_or_else(keys, |ids| ids.to_vec());
                    taken = Taken::held(ctx.store().scope_census(&ids).await?);
                }
            }
        }
    }
}

/// What [`write_snapshots`] did.
enum Written {
    /// Every document was written: the backup's receipt.
    All(BackupReceipt),
    /// Some documents no longer exist: nothing was saved; these are the ones left.
    Vanished(Vec<DocumentId>),
    /// The change log lists this document of the census as changed since the census's mark:
    /// its row as read may not be the one the census digested. Nothing was saved. With the
    /// documents refused as read (see `Refused`), and whether this attempt's journal parts could
    /// not be dropped.
    Edited(DocumentId, Refused, Undropped),
}

/// How many times the backup is taken again because a document changed while it was written.
const EDITED_RETAKES: u32 = 3;

/// The gap of a backup taken again [`EDITED_RETAKES`] times, each time because a document of
/// the scope changed while it was written (the last one `edited`).
fn kept_changing(run: &RunId, edited: DocumentId) -> Gap {
    Gap {
        phase: names::BACKUP.to_owned(),
        document: Some(edited),
        unit: None,
        expected: "the scope's documents unchanged from the backup's census until the backup \
                   was written"
            .to_owned(),
        found: format!(
            "a document changed while the backup was written, {} times over: nothing was backed \
             up or fenced",
            EDITED_RETAKES + 1
        ),
        next: vec![
            NextAction::fix(
                "resume when the scope's documents are written less often (by the application or \
                 another run)",
            ),
            NextAction::resume(run),
        ],
    }
}

/// The run other than this one that holds `document` fenced now, if one does.
async fn held_by_another(
    ctx: &RunContext,
    document: &DocumentId,
) -> Result<Option<RunId>, PhaseError> {
    let heads = ctx
        .store()
        .load_heads(&Scope::Ids(vec![document.clone()]))
        .await?;
    Ok(heads.into_iter().find_map(|head| match head.state {
        DocumentState::Cutting { run } if run != ctx.record.run => Some(run),
        _ => None,
    }))
}

/// What is known of when another run fenced a document it holds.
enum HeldSince {
    /// The document changed while the backup was written. Whether the holder fenced it then or
    /// before the census is not known (the census keeps digests, not states), nor who changed it
    /// (the holder, or an application: its writes keep a fence): the gap says neither.
    Changed,
    /// Read fenced, with nothing changed since the census's mark: fenced before that census,
    /// which may be a census taken again after an earlier attempt (so the gap does not say
    /// "before the backup began").
    WhenRead,
}

/// The gap of a document another run holds fenced; `others`: the scope's other documents no run
/// of it could cut now (see `Refused`); `holders`: every run that holds one of them fenced, the
/// document's own holder first.
fn held_elsewhere(
    run: &RunId,
    (document, others): (DocumentId, &[DocumentId]),
    holders: &[RunId],
    since: HeldSince,
) -> Gap {
    let holder = holders.first().map_or("?", RunId::as_str);
    // Every holder is waited for: naming only this document's would leave the run blocked on
    // the next document once that one is freed.
    let waited = Holders(holders);
    let when = match since {
        HeldSince::Changed => "fenced it and holds it, and it changed while the backup was written",
        HeldSince::WhenRead => {
            "fenced it and holds it (the backup read it so): this run's fence would refuse it"
        }
    };
    let told = Others::of(&document, others);
    let and = told.and_then;
    Gap {
        phase: names::BACKUP.to_owned(),
        unit: None,
        expected: "the scope's documents held by no other run".to_owned(),
        found: format!(
            "run {holder} {when}: nothing was backed up or fenced by this run{}",
            told.found
        ),
        // A run's scope is journaled: resumed it is the same, and run again under its id with
        // another scope it is refused. Leaving the document out takes a new run.
        next: vec![
            // A holder held for review, or whose runner died, is freed by no one but the
            // operator: waiting alone would never end.
            NextAction::fix(format!(
                "wait until {waited} {} enacted or been rolled back (if no runner is running {}, \
                 as when held for review or when a runner died, resume, enact or roll back {} \
                 yourself){and} (to cut the others now instead, start a new run whose scope \
                 leaves {} out)",
                waited.verb(),
                waited.pronoun(),
                waited.each(),
                told.left_out
            )),
            NextAction::resume(run),
        ],
        document: Some(document),
    }
}

/// Runs named in a sentence: `run r2`, `runs r2 and r5`, `runs r2, r5 and r7`.
struct Holders<'a>(&'a [RunId]);

impl Holders<'_> {
    fn verb(&self) -> &'static str {
        if self.0.len() == 1 { "has" } else { "have" }
    }

    fn pronoun(&self) -> &'static str {
        if self.0.len() == 1 {
            "it"
        } else {
            "one of them"
        }
    }

    /// The run the operator would see to: this one, or each.
    fn each(&self) -> String {
        match self.0 {
            [only] => format!("run {only}"),
            _ => "that run".to_owned(),
        }
    }
}

impl std::fmt::Display for Holders<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Some((last, rest)) = self.0.split_last() else {
            return f.write_str("no run");
        };
        if rest.is_empty() {
            return write!(f, "run {last}");
        }
        let rest: Vec<&str> = rest.iter().map(RunId::as_str).collect();
        write!(f, "runs {} and {last}", rest.join(", "))
    }
}

/// How many of the scope's other refused documents a gap names by id (a scope may be the whole
/// store: a gap is one line of a report).
const OTHERS_NAMED: usize = 100;

/// What a gap on one refused document says of the scope's others (see `Refused`): a new run that
/// left out only the one named would be blocked on the next.
struct Others {
    /// Appended to the gap's `found`: how many others, and their ids.
    found: String,
    /// The documents a new run must leave out, as the next action writes them.
    left_out: String,
    /// Appended to what to wait for (or fix): the others too.
    and_then: &'static str,
}

impl Others {
    fn of(document: &DocumentId, others: &[DocumentId]) -> Others {
        if others.is_empty() {
            return Others {
                found: String::new(),
                left_out: format!("`{document}`"),
                and_then: "",
            };
        }
        let named: Vec<String> = others
            .iter()
            .take(OTHERS_NAMED)
            .map(|id| format!("`{id}`"))
            .collect();
        let unnamed = others.len() - named.len();
        let more = if unnamed > 0 {
            format!(" and {unnamed} more not named here")
        } else {
            String::new()
        };
        Others {
            found: format!(
                "; nor could {} other document(s) of the scope be cut now (held by another run, \
                 or their active generation without an active record): {}{more}",
                others.len(),
                named.join(", ")
            ),
            left_out: format!("`{document}` and the other documents named above"),
            and_then: ", and the other documents named above can be cut",
        }
    }
}

/// The ids of the scope's documents, in id order ([`Reads::scope_ids`]: the whole store's a page
/// of heads at a time).
async fn scope_ids(ctx: &RunContext) -> Result<Vec<DocumentId>, PhaseError> {
    Ok(ctx.store().scope_ids(&ctx.record.scope).await?)
}

/// The census a backup is taken with, and of which documents.
struct Taken {
    census: ScopeCensus,
    /// `None`: the census holds every document's digest, its documents are its keys. `Some`:
    /// the census is a summary (no digests) of these documents, each of them counted, in id
    /// order; their digests are read again a census line at a time as the backup is written
    /// ([`census_lines`]), so that the scope's digests are never all in memory.
    streamed: Option<Arc<Vec<DocumentId>>>,
}

impl Taken {
    fn held(census: ScopeCensus) -> Self {
        Taken {
            census,
            streamed: None,
        }
    }
}

/// `opening` if it is the census of exactly the scope's documents now (a summary, whose digests
/// the backup reads a census line at a time), else a census of them (with its digests).
async fn opening_or_fresh(
    ctx: &RunContext,
    opening: Option<OpeningCensus>,
) -> Result<Taken, PhaseError> {
    // A document edited since the opening census (by another writer) would leave the census
    // describing rows the backup does not hold: any change among its documents, or under the
    // scope, since its mark means a fresh census (found by an attack: a rollback then reported
    // the restored store as differing from the pre-run census). A document deleted between
    // the runner's list of ids and its census (counted fewer than asked for) means one too:
    // only a census with digests says which.
    let opening = match opening {
        Some(OpeningCensus { ids, census }) if census.census.documents == ids.len() as u64 => {
            let ids = in_id_order(ids);
            untouched_since(ctx, &census.mark, &ids)
                .await?
                .then_some((ids, census))
        }
        _ => None,
    };
    if let Some((ids, census)) = opening {
        let exact = if ctx.record.scope == Scope::All {
            whole_store_is(ctx, ids.iter()).await?
        } else {
            // A named or prefixed scope is read at once: its ids serve the fresh census too.
            let now = scope_ids(ctx).await?;
            if now != *ids {
                return Ok(Taken::held(ctx.store().scope_census(&now).await?));
            }
            true
        };
        if exact {
            return Ok(Taken {
                census,
                streamed: Some(ids),
            });
        }
    }
    let ids = scope_ids(ctx).await?;
    Ok(Taken::held(ctx.store().scope_census(&ids).await?))
}

/// `ids` in id order (bytewise, as the census lines and `RunningCensus` take them): as they are
/// where the store's ids compare as UTF-8, sorted in a copy otherwise.
fn in_id_order(ids: Arc<Vec<DocumentId>>) -> Arc<Vec<DocumentId>> {
    if ids.is_sorted() {
        return ids;
    }
    let mut sorted = ids.to_vec();
    sorted.sort();
    Arc::new(sorted)
}

/// Whether the change log lists no change since `mark` to one of `ids` (in id order) or under
/// the run's scope: then a census taken at `mark` still holds the documents' own digests.
async fn untouched_since(
    ctx: &RunContext,
    mark: &ChangeMark,
    ids: &[DocumentId],
) -> Result<bool, PhaseError> {
    let changed = ctx.store().changed_since(mark).await?;
    Ok(!changed
        .iter()
        .any(|id| ids.binary_search(id).is_ok() || ctx.record.scope.contains(id)))
}

/// Whether the store's documents now are exactly `ids` (in id order), walked a page of heads at
/// a time beside `ids`, so that the whole store's ids are never held a second time.
async fn whole_store_is<'a>(
    ctx: &RunContext,
    mut ids: impl Iterator<Item = &'a DocumentId>,
) -> Result<bool, PhaseError> {
    let mut after: Option<DocumentId> = None;
    loop {
        let page = ctx.store().heads_page(after.as_ref(), HEADS_PAGE).await?;
        let last_page = page.len() < HEADS_PAGE as usize;
        if !page.iter().all(|head| ids.next() == Some(&head.id)) {
            return Ok(false);
        }
        if last_page {
            return Ok(ids.next().is_none());
        }
        after = page.into_iter().next_back().map(|head| head.id);
    }
}

/// Writes the backup whose header is `head`, of the snapshot of each document of its census (in
/// id order): its document read with those of its batch (`RunContext::batch_documents`), its
/// generation records and its active units, a batch written before the next is read. With
/// `streamed` documents (`head`'s census a summary of them), their census lines are read and
/// written first, a line at a time ([`census_lines`]).
#[allow(clippy::result_large_err)] // `PhaseError` carries its `Gap` inline on purpose.
async fn write_snapshots(
    ctx: &RunContext,
    head: &BackupArtifact,
    streamed: Option<&Vec<DocumentId>>,
) -> Result<Written, PhaseError> {
    let ids: Vec<&DocumentId> = match streamed {
        Some(ids) => ids.iter().collect(),
        None => head.census.per_document.keys().collect(),
    };
    let total = ids.len() as u64;
    let mut done = 0u64;
    let mut sink = match streamed {
        Some(_) => ctx.backups.create_streamed(head).await?,
        None => ctx.backups.create(head).await?,
    };
    if streamed.is_some()
        && let Some(vanished) = census_lines(ctx, &ids, sink.as_mut()).await?
    {
        abandon(sink, &head.run).await;
        return Ok(Written::Vanished(kept(&ids, &vanished)));
    }
    // The documents no run of this scope could cut (see `Refusal`), told once the rows are known
    // to be as the census read them (a record read after a concurrent enact or rollback may
    // differ from the row read before it).
    let mut refused = Refused::default();
    for batch in ctx.batch_documents.read_chunks(&ids) {
        ctx.check_cancelled()?;
        let wanted = Scope::Ids(batch.iter().map(|id| (*id).clone()).collect());
        let mut documents = ctx.store().load_scope(&wanted).await?;
        documents.sort_by(|a, b| a.id.cmp(&b.id));
        if !batch.iter().copied().eq(documents.iter().map(|d| &d.id)) {
            let found: BTreeSet<&DocumentId> = documents.iter().map(|d| &d.id).collect();
            let vanished: BTreeSet<&DocumentId> = batch
                .iter()
                .copied()
                .filter(|id| !found.contains(id))
                .collect();
            // Taken again: this attempt's journaled parts are dropped, as the attempt taken
            // again may be refused before it journals a part of its own (and drops none).
            abandon(sink, &head.run).await;
            return Ok(Written::Vanished(kept(&ids, &vanished)));
        }
        ctx.check_cancelled()?;
        let snapshots = snapshots_of(ctx, &head.run, documents).await?;
        refused.note(&snapshots, &head.run);
        for _ in &snapshots {
            done += 1;
            ctx.progress(names::BACKUP, done, total);
        }
        // Once a document is refused no backup will be saved: the batches are read on only to
        // name every refused document, and written nowhere (a journal sink would keep parts of a
        // backup the run says it never took, until the run is resumed or rolled back).
        if refused.first.is_none() {
            sink.write(&snapshots).await?;
        }
    }
    ctx.check_cancelled()?;
    // Every row read after the census: one changed in between is listed since its mark (a
    // writer committed before a read committed before this one). Checked before the backup is
    // saved, since a saved backup is never taken again.
    if let Some(mark) = &head.mark {
        let changed = ctx.store().changed_since(mark).await?;
        if let Some(edited) = changed
            .into_iter()
            .find(|id| ids.binary_search(&id).is_ok())
        {
            // Taken again, or blocked: either way this attempt's journaled parts are dropped.
            let undropped = abandon(sink, &head.run).await;
            return Ok(Written::Edited(edited, refused, undropped));
        }
    }
    if let Some(mut gap) = refused.gap(&head.run) {
        // No backup: what the batches before the first refusal journaled is dropped (a part
        // left would stay until the run is resumed or rolled back). Refused all the same if it
        // cannot be, saying so.
        if let Some(undropped) = abandon(sink, &head.run).await {
            gap.found.push_str(&undropped);
        }
        return Err(PhaseError::Blocked(gap));
    }
    Ok(Written::All(sink.finish().await?))
}

/// `ids` but the `vanished` ones.
fn kept(ids: &[&DocumentId], vanished: &BTreeSet<&DocumentId>) -> Vec<DocumentId> {
    ids.iter()
        .filter(|id| !vanished.contains(*id))
        .map(|id| (*id).clone())
        .collect()
}

/// Writes the census lines of `ids` (in id order) to `sink`, each read as the census of its
/// documents ([`CENSUS_LINE_DOCUMENTS`] of them) just before it is written, so that no more than
/// a line's digests are held. Each is read after the summary census the header holds, so it may
/// differ from it only where the change log lists a change since that census's mark, which
/// [`write_snapshots`] reads before the backup is saved (and takes the backup again if it lists
/// one of `ids`), as for the documents' rows. The documents of the first line that counted
/// fewer than asked for (deleted since), if one did: nothing more is written.
async fn census_lines<'a>(
    ctx: &RunContext,
    ids: &[&'a DocumentId],
    sink: &mut (dyn iu_cutter_phase_core::BackupSink + '_),
) -> Result<Option<BTreeSet<&'a DocumentId>>, PhaseError> {
    for line in ids.chunks(CENSUS_LINE_DOCUMENTS) {
        ctx.check_cancelled()?;
        let asked: Vec<DocumentId> = line.iter().map(|id| (*id).clone()).collect();
        let census = ctx.store().scope_census(&asked).await?.census;
        if census.per_document.len() != line.len() {
            let vanished: BTreeSet<&DocumentId> = line
                .iter()
                .copied()
                .filter(|id| !census.per_document.contains_key(*id))
                .collect();
            if vanished.is_empty() {
                return Err(PhaseError::Precondition(format!(
                    "the store's census of {} document(s) counted {} documents: a census counts                      only the documents asked for",
                    line.len(),
                    census.per_document.len()
                )));
            }
            return Ok(Some(vanished));
        }
        sink.census_line(&census.per_document).await?;
    }
    Ok(None)
}

/// Gives up `run`'s unfinished backup `sink`, dropping what it journaled ahead of its seal. A
/// failure to is not returned (the reason the backup was given up is the outcome): it is logged,
/// and said by what this returns, for the gap that blocks the run to tell.
async fn abandon(sink: Box<dyn iu_cutter_phase_core::BackupSink + '_>, run: &RunId) -> Undropped {
    let error = sink.abandon().await.err()?;
    tracing::warn!(run = %run, %error, "an abandoned backup's journaled parts were not dropped");
    Some(format!(
        "; the journal parts this backup wrote could not be dropped ({error}): a resume or a \
         rollback of run {run} drops them"
    ))
}

/// What a gap adds when a given-up backup's journal parts could not be dropped, if they could
/// not (the kill switch closed meanwhile, say).
type Undropped = Option<String>;

/// A document whose active generation (its pointer) has no record of it in state `active`:
/// deleted or changed around iu-cutter (no foreign key ties the pointer to a record).
struct Unrecorded {
    document: DocumentId,
    generation: RunId,
    /// The state of its record, if it has one.
    state: Option<GenerationState>,
}

impl Unrecorded {
    /// The gap of such a document. A cut of it could never be enacted (the enact moves the
    /// active generation's record from `active` to `retired`), and nothing the run does would
    /// change that: refused before anything is saved or fenced, rather than after the run
    /// fenced, wrote and verified it, as "a concurrent change".
    fn gap(self, run: &RunId, others: &[DocumentId], holders: &[RunId]) -> Gap {
        let Unrecorded {
            document,
            generation,
            state,
        } = self;
        let found = match state {
            None => format!("no record of generation `{generation}`: it was deleted"),
            Some(state) => {
                let state = match state {
                    GenerationState::Staged => "staged",
                    GenerationState::Active => "active",
                    GenerationState::Retired => "retired",
                };
                format!("its record of generation `{generation}` is {state}: it was changed")
            }
        };
        let told = Others::of(&document, others);
        let and = match (others.is_empty(), holders.is_empty()) {
            (true, _) => String::new(),
            (false, true) => ", and see to the other documents named above".to_owned(),
            (false, false) => {
                let waited = Holders(holders);
                format!(
                    ", and see to the other documents named above (for those {waited} {}, wait \
                     until {} enacted or been rolled back, or resume, enact or roll back {waited} \
                     yourself)",
                    if holders.len() == 1 { "holds" } else { "hold" },
                    if holders.len() == 1 {
                        "it has"
                    } else {
                        "they have"
                    },
                )
            }
        };
        Gap {
            phase: names::BACKUP.to_owned(),
            unit: None,
            expected: format!("an active record of its active generation `{generation}`"),
            found: format!(
                "{found} around iu-cutter (raw SQL?); nothing was backed up or fenced{}",
                told.found
            ),
            // The run's scope is journaled: leaving the document out takes a new run.
            next: vec![
                NextAction::fix(format!(
                    "make the document's record of generation `{generation}` active again, or \
                     restore it{and} (to cut the others now instead, start a new run whose scope \
                     leaves {} out)",
                    told.left_out
                )),
                NextAction::resume(run),
            ],
            document: Some(document),
        }
    }
}

/// Why a document read by the backup can be cut by no run of this scope now: the run is refused
/// before anything is saved or fenced, rather than part-way through its fence or at its enact.
enum Refusal {
    /// Another run holds it fenced: this run's fence would refuse it (it compares the document
    /// with the backup, so even once the holder has enacted or rolled back).
    Held { document: DocumentId, holder: RunId },
    /// Its active generation has no active record.
    Unrecorded(Unrecorded),
}

impl Refusal {
    /// The refused document.
    fn document(&self) -> &DocumentId {
        match self {
            Refusal::Held { document, .. } => document,
            Refusal::Unrecorded(unrecorded) => &unrecorded.document,
        }
    }

    /// The refusal of `snapshot`'s document for run `run`, if any.
    fn of(snapshot: &DocumentSnapshot, run: &RunId) -> Option<Refusal> {
        let document = &snapshot.document;
        if let DocumentState::Cutting { run: holder } = &document.state
            && holder != run
        {
            return Some(Refusal::Held {
                document: document.id.clone(),
                holder: holder.clone(),
            });
        }
        let active = document.active_generation.as_ref()?;
        let state = snapshot
            .generations
            .iter()
            .find(|g| &g.generation == active)
            .map(|g| g.state);
        if state == Some(GenerationState::Active) {
            return None;
        }
        Some(Refusal::Unrecorded(Unrecorded {
            document: document.id.clone(),
            generation: active.clone(),
            state,
        }))
    }

    /// The gap that blocks run `run` on this refusal, `others` refused too, `holders` holding
    /// any of them fenced.
    fn gap(self, run: &RunId, others: &[DocumentId], holders: BTreeSet<RunId>) -> Gap {
        match self {
            Refusal::Held { document, holder } => {
                let others_held = holders.into_iter().filter(|other| *other != holder);
                let all: Vec<RunId> = std::iter::once(holder.clone()).chain(others_held).collect();
                held_elsewhere(run, (document, others), &all, HeldSince::WhenRead)
            }
            Refusal::Unrecorded(unrecorded) => {
                let holders: Vec<RunId> = holders.into_iter().collect();
                unrecorded.gap(run, others, &holders)
            }
        }
    }
}

/// The documents of a scope no run of it could cut now: the first told in full, every other
/// named (leaving only the first out, a new run would be blocked on the next).
#[derive(Default)]
struct Refused {
    first: Option<Refusal>,
    others: Vec<DocumentId>,
    /// The runs holding one of `others` fenced (all of them named, however many documents).
    holders: BTreeSet<RunId>,
}

impl Refused {
    /// Notes the refused documents of a batch of `run`'s backup.
    fn note(&mut self, snapshots: &[DocumentSnapshot], run: &RunId) {
        for refusal in snapshots.iter().filter_map(|s| Refusal::of(s, run)) {
            if self.first.is_none() {
                self.first = Some(refusal);
                continue;
            }
            if let Refusal::Held { holder, .. } = &refusal {
                self.holders.insert(holder.clone());
            }
            self.others.push(refusal.document().clone());
        }
    }

    /// Every refused document, and every run holding one of them.
    fn into_parts(self) -> (Vec<DocumentId>, BTreeSet<RunId>) {
        let Refused {
            first,
            mut others,
            mut holders,
        } = self;
        if let Some(first) = first {
            if let Refusal::Held { holder, .. } = &first {
                holders.insert(holder.clone());
            }
            others.insert(0, first.document().clone());
        }
        (others, holders)
    }

    /// The gap that blocks run `run`, if any document was refused.
    fn gap(self, run: &RunId) -> Option<Gap> {
        let Refused {
            first,
            others,
            holders,
        } = self;
        first.map(|refusal| refusal.gap(run, &others, holders))
    }
}

/// The snapshot of each of `documents` (a batch, in id order): its generation records and its
/// active units read for the whole batch, one call each (a call per document made a batch of
/// 500 documents a thousand round trips), after every body of the batch is checked against its
/// recorded sha256.
#[allow(clippy::result_large_err)] // `PhaseError` carries its `Gap` inline on purpose.
async fn snapshots_of(
    ctx: &RunContext,
    run: &RunId,
    documents: Vec<Document>,
) -> Result<Vec<DocumentSnapshot>, PhaseError> {
    for document in &documents {
        check_recorded_hash(run, document)?;
    }
    let ids: Vec<DocumentId> = documents.iter().map(|d| d.id.clone()).collect();
    let mut generations = by_document(ctx.store().generations_of(&ids).await?, |r| &r.document);
    let mut units = by_document(ctx.store().active_units_of(&ids).await?, |u| &u.document);
    Ok(documents
        .into_iter()
        .map(|document| DocumentSnapshot {
            generations: generations.remove(&document.id).unwrap_or_default(),
            active_units: units.remove(&document.id).unwrap_or_default(),
            document,
        })
        .collect())
}

/// `rows` grouped by their document (`document_of`), each group in the order given.
fn by_document<T>(
    rows: Vec<T>,
    document_of: impl Fn(&T) -> &DocumentId,
) -> BTreeMap<DocumentId, Vec<T>> {
    let mut grouped: BTreeMap<DocumentId, Vec<T>> = BTreeMap::new();
    for row in rows {
        match grouped.get_mut(document_of(&row)) {
            Some(group) => group.push(row),
            None => {
                let document = document_of(&row).clone();
                grouped.insert(document, vec![row]);
            }
        }
    }
    grouped
}

/// A document whose body no longer hashes to its recorded sha256 was edited around the store
/// (raw SQL that left the revision and sha256 columns behind). Its row cannot be trusted as the
/// pre-run state, nor cut: the run stops here, before the backup is saved or anything fenced.
// `PhaseError` carries its `Gap` inline on purpose (phases build and match it by value).
#[allow(clippy::result_large_err)]
fn check_recorded_hash(run: &RunId, document: &Document) -> Result<(), PhaseError> {
    let body_sha256 = sha256_hex(document.body.as_bytes());
    if body_sha256 == document.sha256 {
        return Ok(());
    }
    Err(PhaseError::Blocked(Gap {
        phase: names::BACKUP.to_owned(),
        document: Some(document.id.clone()),
        unit: None,
        expected: format!(
            "a body hashing to its recorded sha256 {} (revision {})",
            document.sha256, document.revision
        ),
        found: format!(
            "a body hashing to {body_sha256}: it was edited without updating its revision and \
             sha256 (raw SQL?)"
        ),
        next: vec![
            NextAction::fix(
                "nothing was backed up or fenced; write the document through iu-cutter (its \
                 import) so that its revision and sha256 are recorded",
            ),
            NextAction::rollback(run),
            NextAction::Run { run: None },
        ],
    }))
}

fn evidence(backup: &BackupArtifact, receipt: &BackupReceipt) -> Evidence {
    let mut evidence = Evidence::from([
        evidence::BACKUP_SHA256.with(receipt.sha256.clone()),
        ("location".to_owned(), receipt.location.as_str().into()),
        ("documents".to_owned(), receipt.documents.into()),
        ("units".to_owned(), receipt.units.into()),
        (
            "census_fingerprint".to_owned(),
            backup.census.fingerprint.as_str().into(),
        ),
        (
            "census_documents".to_owned(),
            backup.census.documents.into(),
        ),
        ("census_units".to_owned(), backup.census.units.into()),
    ]);
    if let Some(mark) = &backup.mark {
        evidence.insert("change_mark".to_owned(), mark.as_str().into());
    }
    evidence
}

#[cfg(test)]
mod tests;
