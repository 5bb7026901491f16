//! The cut's mutations, each one compare-and-set transaction decided by the pure rules of
//! [`crate::ownership`] on rows read inside it (and locked where the backend locks rows):
//! `fence`, `write_units`, `enact`, `restore` (a rollback), and `purge_generations`. Each
//! validates the whole request before its first change; the first mismatch rolls everything
//! back.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::Pool;

use crate::adapter::AdapterResult;
use crate::census::{GenerationDigester, UnitFields, sha256_hex};
use crate::conflicts::describe_revision;
use crate::domain::{
    Backup, DocumentId, DocumentState, ExpectedRevision, GenerationRecord, GenerationState,
    PurgeTarget, RunId, StagedProof, Unit,
};
use crate::error::AdapterError;
use crate::op::LeaseClaim;
use crate::ownership::{
    CurrentDocument, EnactStep, FenceStep, Restoration, Undo, UndoStep, enact_step, fence_step,
    purge_step, undo_step, write_step,
};
use crate::sql::codec::{self, to_db};
use crate::sql::dialect::{BodyHashing, Dialect};
use crate::sql::error::sql;
use crate::sql::ops::census::ids_json;
use crate::sql::ops::documents::{Current, READING_A_DOCUMENT, current_from_row, read_documents};
use crate::sql::ops::holds::{
    EntriesBefore, entries_before, open_windows, record_fences, record_writes,
};
use crate::sql::ops::leases::begin_claimed;
use crate::sql::ops::reads::{
    generation_units_in, generations_for_update, of_generation, unit_fields_at,
};
use crate::sql::ops::source::{SourceSql, check_unchanged};
use crate::sql::ops::{IDS_PER_BATCH_READ, batch_rows, batch_write};
use crate::sql::query::Fields;

/// Each named document once as a compare-and-set sees it, read inside the transaction in id
/// order (so that concurrent operations queue instead of deadlocking) and locked where the
/// backend locks rows, with its body hashed as stored ([`Dialect::BODY_HASHING`]); `None` for a
/// document with no row.
async fn read_for_cas<'a, D: Dialect>(
    conn: &mut D::Connection,
    ids: impl IntoIterator<Item = &'a DocumentId>,
) -> AdapterResult<BTreeMap<&'a DocumentId, Option<CurrentDocument>>> {
    let what = READING_A_DOCUMENT;
    let mut found: BTreeMap<&DocumentId, Option<CurrentDocument>> =
        ids.into_iter().map(|id| (id, None)).collect();
    let statement = D::locked(&D::BATCH_READS.bodies);
    let rows = batch_rows::<D>(conn, statement, found.keys().copied(), None, what).await?;
    for row in &rows {
        let id = DocumentId::new(row.text(6).map_err(sql(what))?);
        let Current {
            revision,
            sha256,
            state,
            active_generation,
        } = current_from_row(row)?;
        let body_sha256 = match D::BODY_HASHING {
            BodyHashing::InRust => sha256_hex(row.str(5).map_err(sql(what))?.as_bytes()),
            BodyHashing::InServer { .. } => row.text(5).map_err(sql(what))?,
        };
        if let Some(slot) = found.get_mut(&id) {
            *slot = Some(CurrentDocument {
                revision,
                sha256,
                body_sha256,
                state,
                active_generation,
            });
        }
    }
    Ok(found)
}

/// A move of a document's lifecycle columns (state, fencing run, active generation) from
/// exactly what was read to `state` and `active`; the body and revision are never written here.
struct MarksMove<'a> {
    id: &'a DocumentId,
    from: &'a CurrentDocument,
    state: DocumentState,
    active: Option<&'a RunId>,
}

/// Makes `moves` in one statement for the batch, each conditional on every compare-and-set
/// column as read inside this transaction: a row not moved is a concurrent change, and fails
/// the whole transaction.
async fn move_marks<D: Dialect>(
    conn: &mut D::Connection,
    moves: &[MarksMove<'_>],
) -> AdapterResult<()> {
    let what = "updating a document's state";
    let text = |value: &str| Some(value.to_owned());
    let mut rows = Vec::with_capacity(moves.len());
    for m in moves {
        let (new_state, new_cutting_run) = codec::document_state(&m.state);
        let (old_state, old_cutting_run) = codec::document_state(&m.from.state);
        rows.push(vec![
            text(m.id.as_str()),
            Some(to_db(m.from.revision, "revision")?.to_string()),
            text(&m.from.sha256),
            text(old_state),
            old_cutting_run.and_then(text),
            m.from
                .active_generation
                .as_ref()
                .and_then(|g| text(g.as_str())),
            text(new_state),
            new_cutting_run.and_then(text),
            m.active.and_then(|g| text(g.as_str())),
        ]);
    }
    let moved = batch_write::<D>(conn, D::BATCH_WRITES.marks, &rows, None, what).await?;
    let moved = moved
        .iter()
        .map(|row| row.text(0))
        .collect::<Result<BTreeSet<String>, _>>()
        .map_err(sql(what))?;
    for m in moves {
        one_row_changed(
            u64::from(moved.contains(m.id.as_str())),
            m.id,
            || {
                format!(
                    "{} as just read",
                    describe_revision(m.from.revision, &m.from.sha256)
                )
            },
            "a concurrent change",
        )?;
    }
    Ok(())
}

/// The end of a compare-and-set statement on one of `document`'s rows, conditional on every
/// column as read inside the transaction: it `changed` exactly that row, or a concurrent change
/// beat it and the transaction fails with a conflict (what it `expected`, what it `found`).
fn one_row_changed(
    changed: u64,
    document: &DocumentId,
    expected: impl FnOnce() -> String,
    found: &str,
) -> AdapterResult<()> {
    if changed == 1 {
        return Ok(());
    }
    Err(AdapterError::Conflict {
        document: document.clone(),
        expected: expected(),
        found: found.to_owned(),
    })
}

/// A compare-and-set of one generation record's state: from exactly `from` to `to`.
struct StateMove<'a> {
    document: &'a DocumentId,
    generation: &'a RunId,
    from: GenerationState,
    to: GenerationState,
}

/// Makes `moves` in one statement for the batch. A record that is gone or in another state (a
/// concurrent purge, another run) fails the whole transaction.
async fn set_generation_states<D: Dialect>(
    conn: &mut D::Connection,
    moves: &[StateMove<'_>],
) -> AdapterResult<()> {
    let what = "updating a generation record";
    let rows: Vec<_> = moves
        .iter()
        .map(|m| {
            vec![
                Some(m.document.as_str().to_owned()),
                Some(m.generation.as_str().to_owned()),
                Some(codec::generation_state(m.from).to_owned()),
                Some(codec::generation_state(m.to).to_owned()),
            ]
        })
        .collect();
    let statement = D::BATCH_WRITES.generation_states;
    let moved = batch_write::<D>(conn, statement, &rows, None, what).await?;
    let moved = moved
        .iter()
        .map(|row| Ok((row.text(0)?, row.text(1)?)))
        .collect::<Result<BTreeSet<(String, String)>, sqlx::Error>>()
        .map_err(sql(what))?;
    for m in moves {
        let key = (
            m.document.as_str().to_owned(),
            m.generation.as_str().to_owned(),
        );
        one_row_changed(
            u64::from(moved.contains(&key)),
            m.document,
            || {
                format!(
                    "generation `{}` {}",
                    m.generation,
                    codec::generation_state(m.from)
                )
            },
            "a concurrent change (the record is gone or in another state)",
        )?;
    }
    Ok(())
}

/// Opens `run`'s staged generation record for each of `documents`, unless it exists.
async fn open_generations<D: Dialect>(
    conn: &mut D::Connection,
    documents: &[&DocumentId],
    run: &RunId,
) -> AdapterResult<()> {
    let rows: Vec<_> = documents
        .iter()
        .map(|id| vec![Some(id.as_str().to_owned())])
        .collect();
    let statement = D::BATCH_WRITES.open_generations;
    batch_write::<D>(
        conn,
        statement,
        &rows,
        Some(run.as_str()),
        "opening a generation",
    )
    .await?;
    Ok(())
}

/// Removes `run`'s generation of each of `documents`: its units and its record.
async fn drop_generations<D: Dialect>(
    conn: &mut D::Connection,
    documents: &[&DocumentId],
    run: &RunId,
) -> AdapterResult<()> {
    let what = "dropping a generation";
    let writes = D::BATCH_WRITES;
    for statement in [writes.drop_units, writes.drop_records] {
        let ids = documents.iter().copied();
        batch_rows::<D>(conn, statement, ids, Some(run.as_str()), what).await?;
    }
    Ok(())
}

/// Deletes the units of `document`'s `generation` (dropped or purged).
async fn delete_units<D: Dialect>(
    conn: &mut D::Connection,
    document: &DocumentId,
    generation: &RunId,
    what: &'static str,
) -> AdapterResult<()> {
    let units = "DELETE FROM units WHERE document = $1 AND generation = $2";
    of_generation::<D>(units, document, generation)
        .execute(conn)
        .await
        .map_err(sql(what))?;
    Ok(())
}

/// Compare-and-set fence ([`fence_step`] on every row, read inside the transaction), then the
/// moves; all or nothing.
pub(crate) async fn fence<D: Dialect>(
    pool: &Pool<D>,
    run: &RunId,
    expectations: &[ExpectedRevision],
    claim: Option<&LeaseClaim>,
) -> AdapterResult<()> {
    let what = "fencing documents";
    D::check_text("a run id", run.as_str())?;
    let mut tx = begin_claimed(pool, claim, what).await?;
    let rows = read_for_cas::<D>(&mut tx, expectations.iter().map(|e| &e.document)).await?;
    let mut to_fence = BTreeMap::new();
    for expected in expectations {
        let current = rows.get(&expected.document).and_then(Option::as_ref);
        if fence_step(run, expected, current)? == FenceStep::Fence
            && let Some(current) = current
        {
            to_fence.insert(&expected.document, current);
        }
    }
    let before = entries_before::<D>(&mut tx, to_fence.keys().copied()).await?;
    let moves: Vec<MarksMove> = to_fence
        .iter()
        .map(|(id, current)| MarksMove {
            id,
            from: current,
            state: DocumentState::Cutting { run: run.clone() },
            active: current.active_generation.as_ref(),
        })
        .collect();
    move_marks::<D>(&mut tx, &moves).await?;
    // The run's generation begins at the fence, so a document without units (an empty body)
    // still has a generation to enact.
    let fenced: Vec<&DocumentId> = to_fence.keys().copied().collect();
    open_generations::<D>(&mut tx, &fenced, run).await?;
    record_fences::<D>(&mut tx, run, &before).await?;
    tx.commit().await.map_err(sql(what))
}

/// Stages units into `run`'s generation (insert or replace by document and ordinal).
pub(crate) async fn write_units<D: Dialect>(
    pool: &Pool<D>,
    run: &RunId,
    units: &[Unit],
    claim: Option<&LeaseClaim>,
) -> AdapterResult<u64> {
    let what = "writing units";
    let mut tx = begin_claimed(pool, claim, what).await?;
    let rows = read_documents::<D>(&mut tx, units.iter().map(|u| &u.document)).await?;
    for unit in units {
        let document = rows.get(&unit.document).and_then(Option::as_ref);
        write_step(run, unit, document.map(|d| &d.state))?;
    }
    // Later units win over earlier ones with the same key, as in one insert-or-replace each.
    let mut latest: BTreeMap<(&DocumentId, u32), &Unit> = BTreeMap::new();
    for unit in units {
        latest.insert((&unit.document, unit.ordinal), unit);
    }
    let batch: Vec<&Unit> = latest.into_values().collect();
    for unit in &batch {
        D::check_text("a unit", &unit.body)?;
        D::check_text("a unit path", &unit.path)?;
        D::check_text("a unit id", &unit.unit_id)?;
    }
    let documents: BTreeSet<&DocumentId> = batch.iter().map(|u| &u.document).collect();
    let documents: Vec<&DocumentId> = documents.into_iter().collect();
    let before = entries_before::<D>(&mut tx, documents.iter().copied()).await?;
    open_generations::<D>(&mut tx, &documents, run).await?;
    D::insert_units(&mut tx, &batch).await?;
    record_writes::<D>(&mut tx, run, &before).await?;
    tx.commit().await.map_err(sql(what))?;
    Ok(units.len() as u64)
}

/// The change-log entries of `ids` (the documents with a staged generation of `run`, in id
/// order), their rows held, and, where the server hashes the bodies, the rows of their staged
/// units for [`staged_digests`]. Where every document has a log row, the rows are held, then the
/// units read plain: a write of them waits for the hold in its change-log trigger. Where one has
/// none (removed by hand), no trigger makes its writers wait, so its units must be read locked;
/// locked after the other documents' log rows were held, that read deadlocked with an
/// application rewriting that document's units then a later one's, in id order (adv50). So such
/// a batch is held as before store48: every staged unit read locked, in id order, then the log
/// rows. A log row removed between the two reads has its units read locked after the hold.
///
/// Of the logged documents, those whose staged units are provably the ones write-verify proved
/// ([`proven_unchanged`]) are not read: they come back in the third value, with their count of
/// units, for enact to take the proof's digest for them.
async fn hold_staged<D: Dialect>(
    conn: &mut D::Connection,
    run: &RunId,
    ids: &[&DocumentId],
    proofs: &BTreeMap<&DocumentId, &StagedProof>,
) -> AdapterResult<(EntriesBefore, Vec<D::Row>, BTreeMap<DocumentId, u64>)> {
    let what = "reading the staged units";
    let ids = || ids.iter().copied();
    let BodyHashing::InServer { staged_units, .. } = D::BODY_HASHING else {
        return Ok((
            entries_before::<D>(conn, ids()).await?,
            Vec::new(),
            BTreeMap::new(),
        ));
    };
    let (locked, also) = (D::locked(&staged_units), Some(run.as_str()));
    let entries = D::BATCH_READS.entries.plain();
    let logged = batch_rows::<D>(conn, entries, ids(), None, what)
        .await?
        .len();
    if logged < ids().count() {
        let rows = batch_rows::<D>(conn, locked, ids(), also, what).await?;
        let held = entries_before::<D>(conn, ids()).await?;
        return Ok((held, rows, BTreeMap::new()));
    }
    let held = entries_before::<D>(conn, ids()).await?;
    let (logged, removed): (Vec<_>, Vec<_>) = held.iter().partition(|(_, entry)| entry.is_some());
    // Read plain once their log rows are held, as the units are: a unit written since waits.
    let logged: Vec<&DocumentId> = logged.into_iter().map(|(id, _)| id).collect();
    let proven = proven_unchanged::<D>(conn, run, &logged, proofs).await?;
    let logged = logged.into_iter().filter(|id| !proven.contains_key(*id));
    let removed = removed.into_iter().map(|(id, _)| id);
    let plain = staged_units.plain();
    let mut rows = Vec::new();
    rows.extend(batch_rows::<D>(conn, plain, logged, also, what).await?);
    rows.extend(batch_rows::<D>(conn, locked, removed, also, what).await?);
    Ok((held, rows, proven))
}

/// Of `ids` (documents with a staged generation of `run`), those whose every staged unit row is
/// one write-verify proved, by [`Dialect::STAGED_UNCHANGED`]: each unit row written by a
/// transaction that had ended before the snapshot write-verify read them after, and as many of
/// them as write-verify proved (a row removed since is not there to be seen). With their count
/// of units. None where the store cannot tell, or no proof was given.
async fn proven_unchanged<D: Dialect>(
    conn: &mut D::Connection,
    run: &RunId,
    ids: &[&DocumentId],
    proofs: &BTreeMap<&DocumentId, &StagedProof>,
) -> AdapterResult<BTreeMap<DocumentId, u64>> {
    let what = "reading what changed of the staged units";
    let mut proven = BTreeMap::new();
    let Some(statement) = D::STAGED_UNCHANGED else {
        return Ok(proven);
    };
    // By the snapshot each proof names: one, as a rule (this invocation's write-verify).
    let mut by_snapshot: BTreeMap<&str, Vec<&DocumentId>> = BTreeMap::new();
    for id in ids {
        if let Some(proof) = proofs.get(*id) {
            by_snapshot.entry(&proof.read_after).or_default().push(id);
        }
    }
    for (snapshot, ids) in by_snapshot {
        for chunk in ids.chunks(IDS_PER_BATCH_READ) {
            let rows = D::query(statement)
                .bind(ids_json(chunk.iter().copied())?)
                .bind(run.as_str())
                .bind(snapshot)
                .fetch_all(&mut *conn)
                .await
                .map_err(sql(what))?;
            for row in rows {
                let document = DocumentId::new(row.text(0).map_err(sql(what))?);
                let units: u64 = codec::from_db(row.int(1).map_err(sql(what))?, "a count")?;
                let unchanged = row.flag(2).map_err(sql(what))?;
                let expected = proofs.get(&document).map(|p| p.units);
                if unchanged && expected == Some(units) {
                    proven.insert(document, units);
                }
            }
        }
    }
    Ok(proven)
}

/// The [`GenerationDigester`] digest of `run`'s generation of each document of `held` (those
/// with a record of it, and their change-log entries, read locked), as stored now, inside the
/// transaction, each body hashed as [`Dialect::BODY_HASHING`] says: in the server (`rows`, the
/// units [`hold_staged`] read); or read back and hashed here.
async fn staged_digests<D: Dialect>(
    conn: &mut D::Connection,
    run: &RunId,
    held: &EntriesBefore,
    rows: Vec<D::Row>,
) -> AdapterResult<BTreeMap<DocumentId, Staged>> {
    let what = "reading the staged units";
    let mut digesters: BTreeMap<&DocumentId, (GenerationDigester, u64)> = held
        .keys()
        .map(|id| (id, (GenerationDigester::new(), 0)))
        .collect();
    if !matches!(D::BODY_HASHING, BodyHashing::InServer { .. }) {
        for (document, (digester, units)) in &mut digesters {
            for unit in generation_units_in::<D>(conn, document, run).await? {
                digester.unit(&UnitFields::of(&unit), &sha256_hex(unit.body.as_bytes()));
                *units += 1;
            }
        }
        return Ok(finish(digesters));
    }
    // By document and ordinal: each digester is given its units in order.
    for row in &rows {
        let document = DocumentId::new(row.text(8).map_err(sql(what))?);
        let unit = unit_fields_at(row, 0, run.as_str(), what)?;
        if let Some((digester, units)) = digesters.get_mut(&document) {
            digester.unit(&unit, row.str(7).map_err(sql(what))?);
            *units += 1;
        }
    }
    Ok(finish(digesters))
}

/// A staged generation as enact read it: the digest of its units, and how many there were.
struct Staged {
    digest: String,
    units: u64,
}

/// Each document's digest, as its digester ends it, and its count of units.
fn finish(
    digesters: BTreeMap<&DocumentId, (GenerationDigester, u64)>,
) -> BTreeMap<DocumentId, Staged> {
    digesters
        .into_iter()
        .map(|(id, (digester, units))| {
            let digest = digester.finish();
            (id.clone(), Staged { digest, units })
        })
        .collect()
}

/// Refuses the enact of a document whose staged generation has, now, other units than enact
/// digested. The units read locked the rows it found, but a unit inserted and committed while
/// that read waited for a row (PostgreSQL, read committed) was invisible to its snapshot; run
/// once the documents' change-log rows are held (`entries_before`), this statement sees every
/// such unit, and a later insert waits for this transaction in its change-log trigger.
async fn check_staged_counts<D: Dialect>(
    conn: &mut D::Connection,
    run: &RunId,
    enacted: &[&DocumentId],
    staged: &BTreeMap<DocumentId, Staged>,
) -> AdapterResult<()> {
    let what = "counting the staged units";
    let statement = D::BATCH_READS.staged_counts;
    let ids = enacted.iter().copied();
    let mut now: BTreeMap<String, u64> = BTreeMap::new();
    for row in batch_rows::<D>(conn, statement, ids, Some(run.as_str()), what).await? {
        let count = codec::from_db(row.int(1).map_err(sql(what))?, "a count of units")?;
        now.insert(row.text(0).map_err(sql(what))?, count);
    }
    for document in enacted {
        let read = staged.get(*document).map_or(0, |s| s.units);
        let counted = now.get(document.as_str()).copied().unwrap_or(0);
        one_row_changed(
            u64::from(read == counted),
            document,
            || format!("the {read} staged units of generation `{run}` as just read"),
            "a concurrent change (units added to or removed from the staged generation)",
        )?;
    }
    Ok(())
}

/// The change-log entries of `with_staged` (see [`hold_staged`]) and each one's staged
/// generation as enact read it: digested, or, where proven unchanged since write-verify
/// ([`proven_unchanged`]), the digest its expectation's proof was given with.
async fn read_staged<D: Dialect>(
    conn: &mut D::Connection,
    run: &RunId,
    expectations: &[ExpectedRevision],
    with_staged: &[&DocumentId],
) -> AdapterResult<(EntriesBefore, BTreeMap<DocumentId, Staged>)> {
    // A proof stands only for the digest it was given with.
    let proofs: BTreeMap<&DocumentId, &StagedProof> = expectations
        .iter()
        .filter(|e| e.staged_units.is_some())
        .filter_map(|e| Some((&e.document, e.staged_proof.as_ref()?)))
        .collect();
    let (held, unit_rows, proven) = hold_staged::<D>(conn, run, with_staged, &proofs).await?;
    let mut staged = staged_digests::<D>(conn, run, &held, unit_rows).await?;
    // Proven unchanged since write-verify proved them the planned units: the digest they were
    // proved to have, which is the one expected.
    for expected in expectations {
        if let (Some(&units), Some(digest)) =
            (proven.get(&expected.document), &expected.staged_units)
        {
            let digest = digest.clone();
            staged.insert(expected.document.clone(), Staged { digest, units });
        }
    }
    Ok((held, staged))
}

/// Moves each expected document's active-generation pointer to `run` ([`enact_step`] on every
/// row, the body hashed inside the transaction, and the staged units digested there too, or
/// proven unchanged since write-verify). O(documents): a few statements per document, never per
/// unit.
pub(crate) async fn enact<D: Dialect>(
    pool: &Pool<D>,
    run: &RunId,
    expectations: &[ExpectedRevision],
    claim: Option<&LeaseClaim>,
    source: Option<&SourceSql>,
) -> AdapterResult<u64> {
    let what = "enacting";
    let mut tx = begin_claimed(pool, claim, what).await?;
    let ids = expectations.iter().map(|e| &e.document);
    let rows = read_for_cas::<D>(&mut tx, ids.clone()).await?;
    let records = generations_for_update::<D>(&mut tx, ids).await?;
    // The change-log rows of the documents with a staged generation, held (in id order, after
    // the documents' and generations' rows, as every writer takes them) before their units are
    // read: a write of their units that finished its statement first is waited for and seen; a
    // later one waits for this transaction in its change-log trigger. So the units need no row
    // lock each (at a million units, writing a lock into every unit row cost seconds); a batch
    // with a document the log has no row of is held as before (see `hold_staged`).
    let with_staged: Vec<&DocumentId> = records
        .iter()
        .filter(|(_, records)| records.iter().any(|g| g.generation == *run))
        .map(|(id, _)| id)
        .collect();
    let (held, staged) = read_staged::<D>(&mut tx, run, expectations, &with_staged).await?;
    let mut to_move = BTreeMap::new();
    for expected in expectations {
        let current = rows.get(&expected.document).and_then(Option::as_ref);
        let staged = staged.get(&expected.document).map(|s| s.digest.as_str());
        if let EnactStep::Enact { retire } = enact_step(run, expected, current, staged)?
            && let Some(current) = current
        {
            to_move.insert(&expected.document, (current, retire));
        }
    }
    if let Some(source) = source {
        for (id, (current, _)) in &to_move {
            check_unchanged::<D>(&mut tx, source, id, &current.sha256).await?;
        }
    }
    let unheld = to_move.keys().copied().filter(|id| !held.contains_key(*id));
    let mut before = entries_before::<D>(&mut tx, unheld).await?;
    for id in to_move.keys() {
        if let Some(entry) = held.get(*id) {
            before.insert((*id).clone(), entry.clone());
        }
    }
    let enacted: Vec<&DocumentId> = to_move.keys().copied().collect();
    check_staged_counts::<D>(&mut tx, run, &enacted, &staged).await?;
    // Retired before any is made active: at no point has a document two active generations.
    let retired: Vec<StateMove> = to_move
        .iter()
        .filter_map(|(id, (_, retire))| {
            retire.as_ref().map(|previous| StateMove {
                document: id,
                generation: previous,
                from: GenerationState::Active,
                to: GenerationState::Retired,
            })
        })
        .collect();
    set_generation_states::<D>(&mut tx, &retired).await?;
    let activated: Vec<StateMove> = to_move
        .keys()
        .map(|id| StateMove {
            document: id,
            generation: run,
            from: GenerationState::Staged,
            to: GenerationState::Active,
        })
        .collect();
    set_generation_states::<D>(&mut tx, &activated).await?;
    record_cut_from::<D>(&mut tx, &enacted, run).await?;
    let moves: Vec<MarksMove> = to_move
        .iter()
        .map(|(id, (current, _))| MarksMove {
            id,
            from: current,
            state: DocumentState::Cut,
            active: Some(run),
        })
        .collect();
    move_marks::<D>(&mut tx, &moves).await?;
    record_writes::<D>(&mut tx, run, &before).await?;
    tx.commit().await.map_err(sql(what))?;
    Ok(to_move.len() as u64)
}

/// Records on `run`'s generation of each of `documents` what it was cut from (the reader
/// view's `stale` and `source_revision` read it): the document's sha256 and source revision,
/// which the compare-and-set has just found as the run saw them.
async fn record_cut_from<D: Dialect>(
    conn: &mut D::Connection,
    documents: &[&DocumentId],
    run: &RunId,
) -> AdapterResult<()> {
    let what = "recording what a generation was cut from";
    let statement = D::BATCH_WRITES.cut_from;
    let ids = documents.iter().copied();
    batch_rows::<D>(conn, statement, ids, Some(run.as_str()), what).await?;
    Ok(())
}

/// Rolls `run` back over the backed-up documents ([`undo_step`] on every row, read inside the
/// transaction, before any change); only the run's own marks are taken back (see the trait).
pub(crate) async fn restore<D: Dialect>(
    pool: &Pool<D>,
    run: &RunId,
    backup: &Backup,
    claim: Option<&LeaseClaim>,
) -> AdapterResult<Restoration> {
    let what = "rolling back";
    backup.check_for_run(run)?;
    let mut tx = begin_claimed(pool, claim, what).await?;
    let ids = backup.documents.iter().map(|s| &s.document.id);
    let rows = read_for_cas::<D>(&mut tx, ids.clone()).await?;
    let records = generations_for_update::<D>(&mut tx, ids).await?;
    let recorded: BTreeSet<DocumentId> = records
        .iter()
        .filter(|(_, gs)| gs.iter().any(|g| g.generation == *run))
        .map(|(id, _)| id.clone())
        .collect();
    let records = with_leftover_units::<D>(&mut tx, run, records).await?;
    let mut decisions = Vec::with_capacity(backup.documents.len());
    for snapshot in &backup.documents {
        let id = &snapshot.document.id;
        let current = rows.get(id).and_then(Option::as_ref);
        let records = records.get(id).map(Vec::as_slice).unwrap_or_default();
        let undo = match undo_step(run, snapshot, current, records) {
            Err(AdapterError::HeldByLaterRun { run: later, .. }) if !recorded.contains(id) => {
                leftovers_under(run, &later)
            }
            undo => undo?,
        };
        decisions.push((id, current, undo));
    }
    let written: Vec<&DocumentId> = decisions
        .iter()
        .filter(|(_, _, undo)| {
            !matches!(undo.step, UndoStep::Untouched | UndoStep::LeaveAlone { .. })
        })
        .map(|(id, _, _)| *id)
        .collect();
    let before = entries_before::<D>(&mut tx, written.iter().copied()).await?;
    let mut restoration = Restoration::default();
    let (mut reactivated, mut moves, mut dropped) = (Vec::new(), Vec::new(), Vec::new());
    for (id, current, undo) in &decisions {
        restoration.record(id, undo);
        match (&undo.step, current) {
            (UndoStep::Untouched | UndoStep::LeaveAlone { .. }, _) => continue,
            (UndoStep::Unfence { state }, Some(current)) => moves.push(MarksMove {
                id,
                from: current,
                state: state.clone(),
                active: current.active_generation.as_ref(),
            }),
            (UndoStep::Unenact { reactivate, state }, Some(current)) => {
                if let Some(previous) = reactivate {
                    reactivated.push(StateMove {
                        document: id,
                        generation: previous,
                        from: GenerationState::Retired,
                        to: GenerationState::Active,
                    });
                }
                moves.push(MarksMove {
                    id,
                    from: current,
                    state: state.clone(),
                    active: reactivate.as_ref(),
                });
            }
            _ => {}
        }
        dropped.push(*id);
    }
    set_generation_states::<D>(&mut tx, &reactivated).await?;
    move_marks::<D>(&mut tx, &moves).await?;
    drop_generations::<D>(&mut tx, &dropped, run).await?;
    record_writes::<D>(&mut tx, run, &before).await?;
    open_windows::<D>(&mut tx, run, backup, &written).await?;
    tx.commit().await.map_err(sql(what))?;
    Ok(restoration)
}

/// Only units of `run` are left of a document (the application deleted its records and row, not
/// its units), and `later` has cut what is under its id since: nothing of `run`'s is on that
/// document, and `later`'s backup counted those units as they are, so they stay. The deletion
/// is the application's change, kept and reported as one is.
fn leftovers_under(run: &RunId, later: &RunId) -> Undo {
    Undo {
        step: UndoStep::Untouched,
        kept_edit: Some(format!(
            "deleted since the backup (its generation records and row; run `{run}`'s units of \
             it, which no reader sees, were left), then written again and cut by run `{later}`: \
             the deletion was kept, and those units with it, as run `{later}` backed them up"
        )),
    }
}

/// `records` (each document's generation records, as read), with `run`'s generation counted as
/// staged for each document that has units of it but no record of it. Units have no foreign key:
/// an application that deletes a document by raw SQL must delete its records before its row, but
/// may leave its units, and those of `run` are still the run's to take back. Without this, the
/// rollback would call such a document untouched and keep them (on PostgreSQL the census then
/// refuses units without a row, at every retry; a document written again counts them, and its
/// rollback blocks for good on the run's own rows).
async fn with_leftover_units<D: Dialect>(
    conn: &mut D::Connection,
    run: &RunId,
    mut records: BTreeMap<DocumentId, Vec<GenerationRecord>>,
) -> AdapterResult<BTreeMap<DocumentId, Vec<GenerationRecord>>> {
    let what = "looking for the run's units";
    let statement = D::BATCH_READS.staged_counts;
    let ids = records.keys();
    let rows = batch_rows::<D>(conn, statement, ids, Some(run.as_str()), what).await?;
    for row in rows {
        let document = DocumentId::new(row.text(0).map_err(sql(what))?);
        let known = records.entry(document.clone()).or_default();
        if !known.iter().any(|g| g.generation == *run) {
            known.push(GenerationRecord {
                document,
                generation: run.clone(),
                state: GenerationState::Staged,
            });
        }
    }
    Ok(records)
}

/// Removes retired generations, records and units, all or nothing (see the trait): each target
/// is checked by [`purge_step`] against its document row and generation record, both read and
/// locked inside the transaction.
pub(crate) async fn purge_generations<D: Dialect>(
    pool: &Pool<D>,
    targets: &[PurgeTarget],
) -> AdapterResult<Vec<PurgeTarget>> {
    let what = "purging generations";
    let listed: BTreeSet<&PurgeTarget> = targets.iter().collect();
    let mut tx = D::begin_write(pool).await.map_err(sql(what))?;
    let ids = listed.iter().map(|t| &t.document);
    let rows = read_documents::<D>(&mut tx, ids.clone()).await?;
    let records = generations_for_update::<D>(&mut tx, ids).await?;
    let mut present = Vec::new();
    for target in &listed {
        let state = records
            .get(&target.document)
            .into_iter()
            .flatten()
            .find(|g| g.generation == target.generation)
            .map(|g| g.state);
        let active = rows
            .get(&target.document)
            .map(|row| row.as_ref().and_then(|r| r.active_generation.as_ref()));
        if purge_step(target, active, state)? {
            present.push(target);
        }
    }
    for target in &present {
        purge_one::<D>(&mut tx, &target.document, &target.generation).await?;
    }
    tx.commit().await.map_err(sql(what))?;
    Ok(present.into_iter().map(|&t| t.clone()).collect())
}

/// Removes one retired generation: its record, conditional on the state (so a generation made
/// active meanwhile is never removed), then its units.
async fn purge_one<D: Dialect>(
    conn: &mut D::Connection,
    document: &DocumentId,
    generation: &RunId,
) -> AdapterResult<()> {
    let what = "purging generations";
    let record =
        "DELETE FROM generations WHERE document = $1 AND generation = $2 AND state = 'retired'";
    let deleted = of_generation::<D>(record, document, generation)
        .execute(conn)
        .await
        .map_err(sql(what))?;
    one_row_changed(
        deleted,
        document,
        || format!("generation `{generation}` retired"),
        "a concurrent change",
    )?;
    delete_units::<D>(conn, document, generation, what).await
}
