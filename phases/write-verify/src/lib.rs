//! Phase 4 of five, **write-verify**: the read-only gate between writing the run's staged
//! generation (leg-b-record) and making it active (lifecycle-enact). It reads the generation back
//! from the store and proves, against the plan and the backup, that it is exactly what was
//! planned: every unit present with its ordinal, id, path and byte range; every body hashing to
//! its recorded and planned sha256; ranges contiguous from 0 to the source's length; the units
//! concatenated giving back the backed-up source byte for byte. With each batch of documents so
//! verified, it checks that every one is still held by this run at its backed-up revision and
//! sha256 (a writer that ignored the fence is caught here), holding one batch at a time. Then,
//! with the store's change log since the backup's change mark,
//! that nothing outside the run's scope changed, appeared or vanished since the backup (a backup
//! written before change marks: with a fresh census of the whole store, as then).
//!
//! Any failure blocks the run with the exact gap (document, unit, expected versus found). The
//! phase mutates nothing, so running it again is always safe and gives the same evidence.

use std::collections::{BTreeMap, BTreeSet};

use iu_cutter_live_execution::{
    AdapterError, Census, ChangeMark, Document, DocumentId, DocumentPlan, DocumentState, Evidence,
    EvidenceValue, GenerationDigests, PlannedUnit, RunId, Scope, Sha256Digest, UnitDigest,
    sha256_hex,
};
use iu_cutter_phase_core::{Gap, NextAction, PhaseError, PhaseRole, RunContext, names};
use sha2::{Digest, Sha256};

iu_cutter_phase_core::standard_phase! {
    /// Phase 4: reads the staged generation back and verifies it; mutates nothing.
    ///
    /// Evidence: `verify_digest` (sha256 over each document id and its units' sha256s, in plan
    /// order: equal plans verified give equal digests), `documents_verified`, `units_verified`.
    pub struct WriteVerify named names::WRITE_VERIFY, role PhaseRole::Verify;
}

impl WriteVerify {
    /// This phase's `Phase::run` (see `standard_phase!`).
    async fn run_phase(&self, ctx: &mut RunContext) -> Result<Evidence, PhaseError> {
        let run = ctx.record.run.clone();
        let gate = Gate { run: &run };
        // Noted again only once this pass has passed, for this invocation's enact.
        ctx.note_staged_read_after(&run, None);
        let mut read_after: Option<Option<String>> = None;
        // The backup and plan read in one pass, a batch of documents at a time beside each
        // other: each batch's generations verified, then its documents read back whole to check
        // the fences (the fence check re-hashes each stored body), before the next batch is
        // read. Nothing kept grows with the scope. The phase mutates nothing, so it need not
        // read both through first (a pass over them costs seconds on a large scope): the last
        // batch checks them against their manifest and sha256, and a gap found before then is
        // reported only after the rest of both has been checked.
        let mut sources = ctx.planned_sources_in_one_pass().await?;
        let backup = ctx.backup_head().await?;

        // For progress: the backed-up documents, which the plan names all of or fewer.
        let total = backup.census.documents;
        let mut digest = DigestBuilder::default();
        let mut units_verified = 0u64;
        let mut done = 0u64;
        loop {
            let batch = match sources.next_batch().await {
                Ok(Some(batch)) => batch,
                Ok(None) => break,
                Err(e) => {
                    // A plan that does not fit the backup: unless either was tampered with.
                    sources.check_rest().await?;
                    return Err(e);
                }
            };
            if batch.is_empty() {
                continue;
            }
            let mut backed_up: BTreeMap<DocumentId, (u64, String)> = BTreeMap::new();
            ctx.check_cancelled()?;
            let mut digests = StoredDigests::of(&batch, ctx.batch_units);
            for (doc_plan, source) in batch {
                let stored = digests.next(ctx, &run).await?;
                // The first answer's snapshot came before every read of every later one.
                read_after.get_or_insert_with(|| stored.read_after.clone());
                if let Err(gap) = gate.document(&doc_plan, &source, &stored) {
                    sources.check_rest().await?;
                    return Err(PhaseError::Blocked(*gap));
                }
                digest.document(&doc_plan);
                units_verified += stored.units.len() as u64;
                backed_up.insert(source.id, (source.revision, source.sha256));
                done += 1;
                ctx.progress(names::WRITE_VERIFY, done, total.max(done));
            }
            if backed_up.is_empty() {
                continue;
            }
            ctx.check_cancelled()?;
            let ids: Vec<DocumentId> = backed_up.keys().cloned().collect();
            let current = ctx.store().load_scope(&Scope::Ids(ids.clone())).await?;
            if let Err(gap) = gate.fences(&ids, &current, &backed_up, || ctx.source()) {
                sources.check_rest().await?;
                return Err(PhaseError::Blocked(*gap));
            }
        }
        let total = sources.documents();

        ctx.check_cancelled()?;
        // Every planned document is in the run's scope (the backup listed the scope), so the
        // scope alone says what is inside; an explicit id list is looked up by a set of it.
        let listed: Option<BTreeSet<&DocumentId>> = match &ctx.record.scope {
            Scope::Ids(ids) => Some(ids.iter().collect()),
            _ => None,
        };
        let in_scope = |id: &DocumentId| match &listed {
            Some(listed) => listed.contains(id),
            None => ctx.record.scope.contains(id),
        };
        match &backup.mark {
            Some(mark) => outside_since_mark(ctx, &gate, mark, in_scope).await?,
            None => {
                // Before change marks: the backup's whole census, read for this check only.
                let full = ctx.full_backup_head().await?;
                outside_by_whole_census(ctx, &gate, &full.census, in_scope).await?
            }
        }

        ctx.note_staged_read_after(&run, read_after.flatten());
        let verify_digest = digest.finish();
        tracing::info!(
            run = %run,
            documents = total,
            units = units_verified,
            verify_digest = %verify_digest,
            "generation verified"
        );
        Ok(evidence(verify_digest, total, units_verified))
    }
}

/// The phase's evidence (see [`WriteVerify`]).
fn evidence(verify_digest: String, documents: u64, units: u64) -> Evidence {
    Evidence::from([
        (
            "verify_digest".to_owned(),
            EvidenceValue::Text(verify_digest),
        ),
        (
            "documents_verified".to_owned(),
            EvidenceValue::from(documents),
        ),
        ("units_verified".to_owned(), EvidenceValue::from(units)),
    ])
}

/// The stored digests of the generations of a batch's documents, in its order, asked for a few
/// documents at a time as they are verified: about `batch_units` planned units per call (at
/// least one document), so that no more than that many units' digests are held at once.
/// Digests, not bodies: a store that hashes in the server sends none back; one call per
/// document cost a round trip each (at a million units, 1,080 calls and 9.5 s of PostgreSQL's
/// time).
struct StoredDigests {
    /// The ids of each call still to make, in order.
    calls: std::collections::VecDeque<Vec<DocumentId>>,
    /// What the last call answered, not yet given.
    answered: std::collections::VecDeque<GenerationDigests>,
}

impl StoredDigests {
    fn of(batch: &[(DocumentPlan, Document)], batch_units: usize) -> Self {
        let mut calls = std::collections::VecDeque::new();
        let (mut ids, mut units) = (Vec::new(), 0usize);
        for (plan, _) in batch {
            if !ids.is_empty() && units + plan.units.len() > batch_units {
                calls.push_back(std::mem::take(&mut ids));
                units = 0;
            }
            units += plan.units.len();
            ids.push(plan.document.clone());
        }
        if !ids.is_empty() {
            calls.push_back(ids);
        }
        StoredDigests {
            calls,
            answered: Default::default(),
        }
    }

    /// The next document's digests (the store asked for the next call's when none is left).
    #[allow(clippy::result_large_err)]
    async fn next(
        &mut self,
        ctx: &RunContext,
        run: &RunId,
    ) -> Result<GenerationDigests, PhaseError> {
        if self.answered.is_empty()
            && let Some(ids) = self.calls.pop_front()
        {
            let answered = ctx.store().generation_digests_of(&ids, run).await?;
            if answered.len() != ids.len() {
                return Err(PhaseError::Adapter(AdapterError::Invalid(format!(
                    "the store answered the digests of {} document(s) for {} asked",
                    answered.len(),
                    ids.len()
                ))));
            }
            self.answered = answered.into();
        }
        self.answered.pop_front().ok_or_else(|| {
            PhaseError::Adapter(AdapterError::Invalid(
                "the store answered the digests of fewer documents than asked".to_owned(),
            ))
        })
    }
}

/// The verify digest: length-prefixed fields, so that no two different inputs hash alike.
#[derive(Default)]
struct DigestBuilder(Sha256);

impl DigestBuilder {
    fn document(&mut self, doc_plan: &DocumentPlan) {
        self.field(b"doc");
        self.field(doc_plan.document.as_str().as_bytes());
        self.field(doc_plan.units.len().to_string().as_bytes());
        for unit in &doc_plan.units {
            self.field(unit.sha256.hex_digits().as_bytes());
        }
    }

    fn field(&mut self, bytes: &[u8]) {
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
    }

    fn finish(self) -> String {
        format!("{:x}", self.0.finalize())
    }
}

/// A check's outcome: the gap is boxed to keep the `Ok` path small.
type Checked = Result<(), Box<Gap>>;

/// Nothing outside the scope changed since the backup: the documents the store's change log
/// lists after the backup's change mark, outside the scope, less those another run holds or cut,
/// block the run, the first one named. Costs O(changes since the backup), not O(store).
#[allow(clippy::result_large_err)] // `PhaseError` carries its `Gap` inline on purpose.
async fn outside_since_mark(
    ctx: &RunContext,
    gate: &Gate<'_>,
    mark: &ChangeMark,
    in_scope: impl Fn(&DocumentId) -> bool,
) -> Result<(), PhaseError> {
    if ctx.record.scope == Scope::All {
        // Nothing is outside the whole store; the change log would list every document this
        // run fenced, only for each to be filtered out.
        return Ok(());
    }
    let changed: Vec<DocumentId> = ctx
        .store()
        .changed_since(mark)
        .await?
        .into_iter()
        .filter(|id| !in_scope(id))
        .collect();
    let others = other_runs_documents(ctx, &changed).await?;
    let Some(first) = changed.iter().find(|id| !others.contains(*id)) else {
        return Ok(());
    };
    // Its digest now, to name what it became (one document's census).
    let now = ctx
        .store()
        .scope_census(std::slice::from_ref(first))
        .await?;
    Err(PhaseError::Blocked(*gate.changed_outside(
        first,
        now.census.per_document.get(first),
        mark,
    )))
}

/// The same check for a backup written before change marks, which holds the whole store's
/// census: a fresh census of the whole store compared with it, as then.
async fn outside_by_whole_census(
    ctx: &RunContext,
    gate: &Gate<'_>,
    before: &Census,
    in_scope: impl Fn(&DocumentId) -> bool,
) -> Result<(), PhaseError> {
    let now = ctx.store().census().await?;
    let changed: Vec<DocumentId> = now
        .per_document
        .iter()
        .filter(|(id, digest)| {
            !in_scope(id) && before.per_document.get(*id).is_some_and(|d| d != *digest)
        })
        .map(|(id, _)| id.clone())
        .collect();
    let others = other_runs_documents(ctx, &changed).await?;
    gate.census(before, &now, |id| in_scope(id) || others.contains(id))
        .map_err(|gap| PhaseError::Blocked(*gap))
}

/// The out-of-scope documents among `changed` (changed since the backup) that changed because
/// *another* run holds or cut them (several runners share the store): fenced by another run, or
/// with another run's generation active, and carrying no generation of this run. The gate
/// ignores them; any other change outside the scope (this run's, an edit, a vanished document)
/// still blocks.
async fn other_runs_documents(
    ctx: &RunContext,
    changed: &[DocumentId],
) -> Result<BTreeSet<DocumentId>, PhaseError> {
    let run = &ctx.record.run;
    let mut others = BTreeSet::new();
    if changed.is_empty() {
        return Ok(others);
    }
    for document in ctx
        .store()
        .load_heads(&Scope::Ids(changed.to_vec()))
        .await?
    {
        let another = match &document.state {
            DocumentState::Cutting { run: holder } => holder != run,
            // Enacted by another run; a `Ready` document was edited, which still blocks.
            DocumentState::Cut => document
                .active_generation
                .as_ref()
                .is_some_and(|active| active != run),
            DocumentState::Ready => false,
        };
        let touched = ctx
            .store()
            .generations(&document.id)
            .await?
            .iter()
            .any(|g| &g.generation == run);
        if another && !touched {
            others.insert(document.id);
        }
    }
    Ok(others)
}

/// The checks, for one run.
struct Gate<'r> {
    run: &'r RunId,
}

impl Gate<'_> {
    fn gap(
        &self,
        document: Option<&DocumentId>,
        unit: Option<String>,
        expected: String,
        found: String,
    ) -> Box<Gap> {
        Box::new(Gap {
            phase: names::WRITE_VERIFY.to_owned(),
            document: document.cloned(),
            unit,
            expected,
            found,
            // In order, as every gap's next actions read ("…, then …"): offering a resume after
            // the rollback read as "roll back, then resume", which a rolled-back run refuses.
            // Resuming only verifies the same units again: it helps only once what differs was
            // put back as planned, which the first step says.
            next: vec![
                NextAction::fix(
                    "inspect what differs (the run's units are staged: readers do not see them); \
                     if it can be put back as planned, resume the run instead",
                ),
                NextAction::rollback(self.run),
            ],
        })
    }

    /// The gap of a document whose row in `source` the application changed during the run (a
    /// sync copied it over the fence, as it copies every edit): nothing puts the row back, so
    /// the run is rolled back and run again, which cuts the row as it is now.
    fn source_edited(
        &self,
        document: &DocumentId,
        expected: String,
        found: String,
        source: &str,
    ) -> Box<Gap> {
        Box::new(Gap {
            phase: names::WRITE_VERIFY.to_owned(),
            document: Some(document.clone()),
            unit: None,
            expected,
            found: format!(
                "{found} (the application changed its row in {source} during the run, and a \
                 sync copied the change: the run's units were cut from the row before it)"
            ),
            next: vec![
                NextAction::rollback(self.run),
                NextAction::fix("run again, which cuts the row as it is now"),
            ],
        })
    }

    /// One document's generation (as the store's digests of it) against its plan and its
    /// backed-up source.
    fn document(
        &self,
        doc_plan: &DocumentPlan,
        source: &Document,
        stored: &GenerationDigests,
    ) -> Checked {
        let units = stored.units.as_slice();
        let doc = Some(&doc_plan.document);
        let body = source.body.as_bytes();
        let source_sha = sha256_hex(body);
        if source_sha != doc_plan.source_sha256
            || body.len() as u64 != doc_plan.source_bytes
            || source.revision != doc_plan.revision
        {
            return Err(self.gap(
                doc,
                None,
                format!(
                    "the planned source: revision {}, {} bytes, sha256 {}",
                    doc_plan.revision, doc_plan.source_bytes, doc_plan.source_sha256
                ),
                format!(
                    "the backed-up source: revision {}, {} bytes, sha256 {source_sha}",
                    source.revision,
                    body.len()
                ),
            ));
        }
        self.count(doc_plan, units)?;

        let mut at = 0u64;
        for (planned, unit) in doc_plan.units.iter().zip(units) {
            self.unit(doc_plan, planned, unit, body, at)?;
            at = unit.end;
        }
        if at != doc_plan.source_bytes {
            return Err(self.gap(
                doc,
                None,
                format!(
                    "units covering bytes 0..{} of the source",
                    doc_plan.source_bytes
                ),
                format!("units ending at byte {at}"),
            ));
        }
        let concatenated = &stored.concatenated_sha256;
        if *concatenated != doc_plan.source_sha256 {
            return Err(self.gap(
                doc,
                None,
                format!(
                    "units concatenated hashing to the source's sha256 {}",
                    doc_plan.source_sha256
                ),
                format!("sha256 {concatenated}"),
            ));
        }
        Ok(())
    }

    /// Same number of units, and if not, which one is missing or unexpected.
    fn count(&self, doc_plan: &DocumentPlan, units: &[UnitDigest]) -> Checked {
        if units.len() == doc_plan.units.len() {
            return Ok(());
        }
        let doc = Some(&doc_plan.document);
        let expected = format!("{} units", doc_plan.units.len());
        let present: BTreeSet<u32> = units.iter().map(|u| u.ordinal).collect();
        if let Some(missing) = doc_plan
            .units
            .iter()
            .find(|p| !present.contains(&p.ordinal))
        {
            return Err(self.gap(
                doc,
                Some(label(missing.unit_id, missing.ordinal)),
                format!("{expected}, among them this one ({})", missing.path),
                format!("{} units; this one is missing", units.len()),
            ));
        }
        let planned: BTreeSet<u32> = doc_plan.units.iter().map(|p| p.ordinal).collect();
        let unit = units
            .iter()
            .find(|u| !planned.contains(&u.ordinal))
            .map(|u| label(&u.unit_id, u.ordinal));
        Err(self.gap(
            doc,
            unit,
            expected,
            format!("{} units (unplanned or duplicated ordinals)", units.len()),
        ))
    }

    /// One unit against its planned counterpart and the source.
    fn unit(
        &self,
        doc_plan: &DocumentPlan,
        planned: &PlannedUnit,
        unit: &UnitDigest,
        source: &[u8],
        expected_start: u64,
    ) -> Checked {
        let doc = Some(&doc_plan.document);
        let at = Some(label(planned.unit_id, planned.ordinal));
        let shape = |document: &DocumentId,
                     generation: &RunId,
                     u: (u32, &str, &str, Option<u32>)| {
            format!(
                "document {document}, generation {generation}, ordinal {}, id {}, path `{}`, part {:?}",
                u.0, u.1, u.2, u.3
            )
        };
        let planned_id = planned.unit_id.hex_digits();
        let want = (
            planned.ordinal,
            planned_id.as_str(),
            planned.path.as_str(),
            planned.part,
        );
        let have = (
            unit.ordinal,
            unit.unit_id.as_str(),
            unit.path.as_str(),
            unit.part,
        );
        if unit.document != doc_plan.document || unit.generation != *self.run || want != have {
            return Err(self.gap(
                doc,
                at,
                shape(&doc_plan.document, self.run, want),
                shape(&unit.document, &unit.generation, have),
            ));
        }
        if (unit.start, unit.end) != (planned.start, planned.end) || unit.start != expected_start {
            return Err(self.gap(
                doc,
                at,
                format!(
                    "bytes {}..{} (contiguous from {expected_start})",
                    planned.start, planned.end
                ),
                format!("bytes {}..{}", unit.start, unit.end),
            ));
        }
        let body_sha = &unit.body_sha256;
        if *body_sha != unit.sha256 || !planned.sha256.matches(&unit.sha256) {
            return Err(self.gap(
                doc,
                at,
                format!("body sha256 {} (planned)", planned.sha256),
                format!("body sha256 {body_sha}, recorded sha256 {}", unit.sha256),
            ));
        }
        // The span hashed here against the body's sha256 as stored: equal hashes, equal bytes.
        let span = usize::try_from(unit.start)
            .ok()
            .zip(usize::try_from(unit.end).ok())
            .and_then(|(start, end)| source.get(start..end));
        let span_sha = span.map(sha256_hex);
        if span_sha.as_ref() != Some(body_sha)
            || span.map(<[u8]>::len) != usize::try_from(unit.body_bytes).ok()
        {
            return Err(self.gap(
                doc,
                at,
                format!(
                    "the source's bytes {}..{} (sha256 {})",
                    unit.start,
                    unit.end,
                    span_sha.unwrap_or_else(|| "out of range".into())
                ),
                format!("{} bytes with sha256 {body_sha}", unit.body_bytes),
            ));
        }
        Ok(())
    }

    /// Every source document is still held by this run at its backed-up revision and sha256
    /// (`backed_up`, by id). `source` says, once a revision moved under the fence, whether the
    /// store reads an application's table: a sync then wrote it, copying the application's edit
    /// of its row.
    fn fences(
        &self,
        ids: &[DocumentId],
        current: &[Document],
        backed_up: &BTreeMap<DocumentId, (u64, String)>,
        source: impl FnOnce() -> Option<String>,
    ) -> Checked {
        let current: BTreeMap<&DocumentId, &Document> =
            current.iter().map(|d| (&d.id, d)).collect();
        for id in ids {
            let Some((revision, sha256)) = backed_up.get(id) else {
                continue; // Checked (as a precondition) while verifying the generation.
            };
            let Some(now) = current.get(id) else {
                return Err(self.gap(
                    Some(id),
                    None,
                    "the document, fenced by this run".into(),
                    "no such document (deleted during the run)".into(),
                ));
            };
            if (now.revision, &now.sha256) != (*revision, sha256) {
                let expected = format!("revision {revision}, sha256 {sha256} (as backed up)");
                let found = format!("revision {}, sha256 {}", now.revision, now.sha256);
                return Err(match source() {
                    Some(source) => self.source_edited(id, expected, found, &source),
                    None => self.gap(
                        Some(id),
                        None,
                        expected,
                        format!("{found} (written during the run, ignoring the fence)"),
                    ),
                });
            }
            // The stored body itself, not only its recorded hash: a writer that changes the
            // body behind the store's back (raw SQL) leaves revision and sha256 as they were.
            let body_sha = sha256_hex(now.body.as_bytes());
            if body_sha != *sha256 {
                return Err(self.gap(
                    Some(id),
                    None,
                    format!("a body hashing to {sha256} (as backed up)"),
                    format!(
                        "a body hashing to {body_sha} under recorded sha256 {} (the body was \
                         changed without updating its revision)",
                        now.sha256
                    ),
                ));
            }
            // Held by this run, or already enacted by it (a re-run after lifecycle-enact).
            let held = match &now.state {
                DocumentState::Cutting { run } => run == self.run,
                DocumentState::Cut => now.active_generation.as_ref() == Some(self.run),
                DocumentState::Ready => false,
            };
            if !held {
                return Err(self.gap(
                    Some(id),
                    None,
                    format!("state cutting({})", self.run),
                    format!(
                        "state {:?}, active generation {:?}",
                        now.state, now.active_generation
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The gap for `id`, outside the scope, which the store's change log lists as changed after
    /// the backup's change `mark`; `now` is its digest now (`None`: it no longer exists).
    fn changed_outside(
        &self,
        id: &DocumentId,
        now: Option<&Sha256Digest>,
        mark: &ChangeMark,
    ) -> Box<Gap> {
        self.gap(
            Some(id),
            None,
            format!("out-of-scope document unchanged since the backup (change mark {mark})"),
            match now {
                Some(digest) => format!(
                    "changed, created or rewritten since the backup (by another writer); digest \
                     now {digest}"
                ),
                None => "the document vanished (deleted since the backup)".into(),
            },
        )
    }

    /// Nothing outside the scope changed, appeared or vanished since the backup's census.
    fn census(
        &self,
        before: &Census,
        now: &Census,
        in_scope: impl Fn(&DocumentId) -> bool,
    ) -> Checked {
        let outside = |census: &'_ Census| -> BTreeMap<DocumentId, Sha256Digest> {
            census
                .per_document
                .iter()
                .filter(|(id, _)| !in_scope(id))
                .map(|(id, digest)| (id.clone(), *digest))
                .collect()
        };
        let (before, now) = (outside(before), outside(now));
        for (id, digest) in &before {
            match now.get(id) {
                Some(found) if found == digest => {}
                found => {
                    return Err(self.gap(
                        Some(id),
                        None,
                        format!(
                            "out-of-scope document unchanged since the backup (digest {digest})"
                        ),
                        match found {
                            Some(found) => format!("digest {found}"),
                            None => "the document vanished".into(),
                        },
                    ));
                }
            }
        }
        if let Some(id) = now.keys().find(|id| !before.contains_key(*id)) {
            return Err(self.gap(
                Some(id),
                None,
                "no out-of-scope document created during the run".into(),
                "a new document".into(),
            ));
        }
        Ok(())
    }
}

fn label(unit_id: impl std::fmt::Display, ordinal: u32) -> String {
    format!("{unit_id} (ordinal {ordinal})")
}

#[cfg(test)]
mod tests;
