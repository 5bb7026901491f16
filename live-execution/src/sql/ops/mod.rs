//! Every adapter operation, written once and generic over the backend (`D: Dialect`, which
//! `ops::fence(pool, …)` infers from the pool), grouped by concern:
//!
//! - `schema`: migrations, and the check before every use;
//! - `control`: the shared control row;
//! - `reads`: the scope, generation records, a generation's units, the snapshot;
//! - `pages`: the active units and the document heads of the whole store, one page at a time
//!   (keyset pagination);
//! - `census`: the census, in the backend's bulk shape;
//! - `journal`: runs, phases, plans, reports and backups;
//! - `documents`: `put_documents`, and the document rows writes read;
//! - `cuts`: fence, write units, enact, restore, purge: the compare-and-set mutations;
//! - `holds`: what those record of a run's hold of each document in the change log, and the
//!   rollback windows restore opens from it;
//! - `source`: an application's table as the source of documents (read only), its sync and
//!   the check enact makes on it;
//! - `leases`: run leases on the database's clock, and the claim check a claimed mutation's
//!   transaction begins with (`begin_claimed`).
//!
//! The semantics mirror the simulator's exactly, error messages included: each mutating
//! operation validates the whole request against rows read (and, where the backend locks rows,
//! locked) inside its transaction, then applies it; the first mismatch rolls everything back.
//! This module is the facade `SqlStore` calls; what differs per backend is asked of the
//! [`Dialect`](super::dialect::Dialect), and statements run through `super::query`.

mod census;
mod control;
mod cuts;
mod documents;
mod holds;
mod journal;
mod leases;
mod pages;
mod reads;
mod schema;
mod source;

pub(crate) use census::{census, changed_since, scope_census, scope_census_summary};
pub(crate) use control::{control_state, set_control};
pub(crate) use cuts::{enact, fence, purge_generations, restore, write_units};
pub(crate) use documents::put_documents;
pub(crate) use journal::{
    BACKUP_PARTS, PLAN_PARTS, begin_run, discard_parts, list_runs, load_backup, load_backup_part,
    load_plan, load_plan_part, load_reports, load_run, recent_runs, record_phase, save_backup,
    save_part, save_plan, save_report, seal_parts, set_run_status,
};
pub(crate) use leases::{
    acquire_lease, check_claim_alone, load_leases, release_lease, renew_lease,
};
pub(crate) use pages::{active_units_page, heads_page, source_facts};
pub(crate) use reads::{
    active_units, active_units_of, generation_digests, generation_digests_of, generation_units,
    generations, generations_of, load_heads, load_scope, snapshot,
};
pub(crate) use schema::{check_schema, init_plan, migrate};
pub(crate) use source::{
    SourceSql, prepare as prepare_source, reader_view_is_current, replace_reader_view, sync_source,
};

use std::collections::{BTreeMap, BTreeSet};

use sqlx::Pool;

use crate::adapter::AdapterResult;
use crate::domain::DocumentId;
use crate::sql::codec;
use crate::sql::dialect::{Dialect, ForUpdate};
use crate::sql::error::sql;

/// The row `statement` selects by its one parameter, the key `$1` (a run, a document), if
/// any: the keyed read most operations begin with, its error told as `what`.
async fn row_by_key<D: Dialect>(
    conn: &mut D::Connection,
    statement: &'static str,
    key: &str,
    what: &'static str,
) -> AdapterResult<Option<D::Row>> {
    D::query(statement)
        .bind(key)
        .fetch_optional(conn)
        .await
        .map_err(sql(what))
}

/// Every row `statement` selects by its one parameter, the key `$1` (a run, a document), read
/// on a connection of its own: the keyed read of the operations that answer one list.
async fn rows_by_key<D: Dialect>(
    pool: &Pool<D>,
    statement: &'static str,
    key: &str,
    what: &'static str,
) -> AdapterResult<Vec<D::Row>> {
    let mut conn = pool.acquire().await.map_err(sql(what))?;
    D::query(statement)
        .bind(key)
        .fetch_all(&mut conn)
        .await
        .map_err(sql(what))
}

/// How many ids one statement of a batch read takes: its parameter stays small, whatever the
/// batch.
pub(crate) const IDS_PER_BATCH_READ: usize = 1_000;

/// The rows `statement` (shaped as a [`crate::sql::dialect::BatchReads`] text: `$1` a JSON array
/// of ids) selects for `ids`, each id once, [`IDS_PER_BATCH_READ`] ids at a time in id order (so
/// that row locks are still taken in id order); `$2` bound to `also` when given.
async fn batch_rows<'a, D: Dialect>(
    conn: &mut D::Connection,
    statement: &'static str,
    ids: impl IntoIterator<Item = &'a DocumentId>,
    also: Option<&str>,
    what: &'static str,
) -> AdapterResult<Vec<D::Row>> {
    let ids: Vec<&DocumentId> = ids
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut rows = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(IDS_PER_BATCH_READ) {
        let list = census::ids_json(chunk.iter().copied())?;
        let mut query = D::query(statement).bind(list);
        if let Some(also) = also {
            query = query.bind(also);
        }
        rows.extend(query.fetch_all(&mut *conn).await.map_err(sql(what))?);
    }
    Ok(rows)
}

/// Reads `statement` (a [`crate::sql::dialect::BatchReads`] text) for each of `ids` once, in
/// id order, locked where the backend locks rows (so that concurrent writers queue in one order
/// instead of deadlocking): every id, with what `decode` makes of its rows (none: an empty
/// `F`). How a write reads what it is about to change.
async fn read_locked<'a, D: Dialect, T, F: Found<T>>(
    conn: &mut D::Connection,
    statement: &ForUpdate,
    ids: impl IntoIterator<Item = &'a DocumentId>,
    what: &'static str,
    decode: impl Fn(&D::Row) -> AdapterResult<(DocumentId, T)>,
) -> AdapterResult<BTreeMap<DocumentId, F>> {
    let ids: Vec<&DocumentId> = ids.into_iter().collect();
    let mut found: BTreeMap<DocumentId, F> =
        ids.iter().map(|id| ((*id).clone(), F::default())).collect();
    for row in batch_rows::<D>(conn, D::locked(statement), ids, None, what).await? {
        let (id, value) = decode(&row)?;
        found.entry(id).or_default().add(value);
    }
    Ok(found)
}

/// What [`read_locked`] holds for an id: the value of its one row (`Option`), or of each of its
/// rows in the order read (`Vec`).
trait Found<T>: Default {
    /// Adds the value of one more row.
    fn add(&mut self, value: T);
}

impl<T> Found<T> for Option<T> {
    fn add(&mut self, value: T) {
        *self = Some(value);
    }
}

impl<T> Found<T> for Vec<T> {
    fn add(&mut self, value: T) {
        self.push(value);
    }
}

/// One row of a batch write: strings and nulls, bound as the JSON array the statement reads
/// its columns `c0` … from (see [`crate::sql::dialect::BatchWrites`]).
type WriteRow = Vec<Option<String>>;

/// Runs `statement` (a [`crate::sql::dialect::BatchWrites`] text taking rows) over `rows`,
/// [`IDS_PER_BATCH_READ`] rows at a time in the order given, `$2` bound to `run` when given;
/// the rows it returns.
async fn batch_write<D: Dialect>(
    conn: &mut D::Connection,
    statement: &'static str,
    rows: &[WriteRow],
    run: Option<&str>,
    what: &'static str,
) -> AdapterResult<Vec<D::Row>> {
    let mut returned = Vec::new();
    for chunk in rows.chunks(IDS_PER_BATCH_READ) {
        let list = codec::to_json(&chunk, "a batch of rows")?;
        let mut query = D::query(statement).bind(list);
        if let Some(run) = run {
            query = query.bind(run);
        }
        returned.extend(query.fetch_all(&mut *conn).await.map_err(sql(what))?);
    }
    Ok(returned)
}
