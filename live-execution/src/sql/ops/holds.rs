//! A run's holds of its documents in the change log (`document_change_holds`, migration 11),
//! kept by the run's own mutating operations in their transactions, and the rollback windows
//! (migration 10) `restore` opens from them alone, never from a backup's word.
//!
//! Each operation that writes documents of a run reads their change-log entries first (locked
//! where the backend locks rows, so that a concurrent writer of the same document commits
//! before the read or after this transaction), writes, then records: a fence replaces the
//! document's hold with the entry before and the entry its writes left; any other write moves
//! the hold's last own write on when the entry before it was that last own write, and clears it
//! for good otherwise (someone else changed the document while the run held it, if only to
//! undo the change). A rollback opens a window only from an intact hold.

use std::collections::BTreeMap;

use crate::adapter::AdapterResult;
use crate::domain::{Backup, DocumentId, RunId};
use crate::sql::dialect::Dialect;
use crate::sql::error::sql;
use crate::sql::ops::census::census_of;
use crate::sql::ops::{batch_rows, batch_write, read_locked};
use crate::sql::query::Fields;

/// The change-log entries of documents an operation is about to write, by id (`None`: the log
/// has none), read before its writes.
pub(crate) type EntriesBefore = BTreeMap<DocumentId, Option<String>>;

/// The change-log entry of each of `ids` before the operation's writes, read in id order
/// (locked where the backend locks rows: every writer of a document's log row queues in the
/// same order, after the document's own rows, as the triggers do).
pub(crate) async fn entries_before<'a, D: Dialect>(
    conn: &mut D::Connection,
    ids: impl IntoIterator<Item = &'a DocumentId>,
) -> AdapterResult<EntriesBefore> {
    let what = "reading the change log's entries";
    read_locked::<D, _, _>(conn, &D::BATCH_READS.entries, ids, what, |row| {
        Ok((
            DocumentId::new(row.text(1).map_err(sql(what))?),
            row.text(0).map_err(sql(what))?,
        ))
    })
    .await
}

/// After `run`'s fence of the documents of `before`: their holds, replaced.
pub(crate) async fn record_fences<D: Dialect>(
    conn: &mut D::Connection,
    run: &RunId,
    before: &EntriesBefore,
) -> AdapterResult<()> {
    let statement = D::BATCH_WRITES.holds_fenced;
    record::<D>(conn, statement, run, before, "recording a run's fence").await
}

/// After another of `run`'s writes of the documents of `before`: their holds moved on (or
/// cleared, where the entry before the write was not the run's last own write).
pub(crate) async fn record_writes<D: Dialect>(
    conn: &mut D::Connection,
    run: &RunId,
    before: &EntriesBefore,
) -> AdapterResult<()> {
    let statement = D::BATCH_WRITES.holds_written;
    record::<D>(conn, statement, run, before, "recording a run's write").await
}

/// `statement` (a [`crate::sql::dialect::BatchWrites`] text taking rows of a document and its
/// entry before, `$2` the run) for every document of `before`, in one statement for the batch.
async fn record<D: Dialect>(
    conn: &mut D::Connection,
    statement: &'static str,
    run: &RunId,
    before: &EntriesBefore,
    what: &'static str,
) -> AdapterResult<()> {
    let rows: Vec<_> = before
        .iter()
        .map(|(id, entry)| vec![Some(id.as_str().to_owned()), entry.clone()])
        .collect();
    batch_write::<D>(conn, statement, &rows, Some(run.as_str()), what).await?;
    Ok(())
}

/// After a rollback's writes of `written` (their holds already moved on by
/// [`record_writes`]), in its transaction: a rollback window for each document that its census,
/// read now, shows exactly as the backup's census did, and whose hold is intact and bounds
/// that census (see [`Dialect::OPEN_WINDOW`]); then `run`'s holds of them are spent. A backup
/// without a census mark (written before them) opens none: the rollback is a change like any
/// other. The backup's own change-log entries (`Backup::entries`) are not read: a hand-edited
/// backup could widen a window over an edit with them.
pub(crate) async fn open_windows<D: Dialect>(
    conn: &mut D::Connection,
    run: &RunId,
    backup: &Backup,
    written: &[&DocumentId],
) -> AdapterResult<()> {
    let what = "opening the rollback's windows in the change log";
    if written.is_empty() {
        return Ok(());
    }
    let census_mark = match &backup.mark {
        Some(mark) => Some(mark.position_for(D::MARK_BACKEND)?),
        None => None,
    };
    if let Some(census_mark) = census_mark.filter(|m| D::mark_is_well_formed(m)) {
        let now = census_of::<D>(conn, written).await?;
        for id in written {
            let before = backup.census.per_document.get(*id);
            if before.is_none() || now.per_document.get(*id) != before {
                continue;
            }
            D::query(D::OPEN_WINDOW)
                .bind(id.as_str())
                .bind(run.as_str())
                .bind(census_mark)
                .execute(&mut *conn)
                .await
                .map_err(sql(what))?;
        }
    }
    let spent = D::BATCH_WRITES.holds_spent;
    batch_rows::<D>(
        conn,
        spent,
        written.iter().copied(),
        Some(run.as_str()),
        what,
    )
    .await?;
    Ok(())
}
