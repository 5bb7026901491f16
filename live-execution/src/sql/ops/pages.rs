//! Reads of the whole store one page at a time: `active_units_page` and `heads_page`, the keyset
//! pagination an export streams through, so that its memory holds one page whatever the size of
//! the store.
//!
//! A page is read in one read transaction: the cursor's check and the units it returns see one
//! state. Two statements, each a range on a primary key, rather than one with an `OR` over both
//! (`d.id > $1 OR (d.id = $1 AND u.ordinal > $2)`), which neither backend can answer with an index
//! range: the rest of the cursor's document in its generation, then the documents after it.

use sqlx::Pool;

use crate::adapter::AdapterResult;
use crate::conflicts::{empty_page, page_moved};
use crate::domain::{ActiveUnit, DocumentHead, DocumentId, RunId, SourceFacts, UnitCursor};
use crate::sql::codec::{from_db, to_db};
use crate::sql::dialect::Dialect;
use crate::sql::error::sql;
use crate::sql::ops::reads::{ScopeRow, unit};
use crate::sql::ops::row_by_key;
use crate::sql::query::{Fields, Query};

/// The active generation of document `$1`.
const ACTIVE_GENERATION: &str = "SELECT active_generation FROM documents WHERE id = $1";

/// The units of document `$1`'s generation `$2` after ordinal `$3`, by ordinal, at most `$4`, with
/// the document's revision.
const REST_OF_DOCUMENT: &str = "\
SELECT u.document, u.generation, u.ordinal, u.unit_id, u.path, u.part, u.start_byte, u.end_byte,
       u.sha256, u.body, d.revision, d.metadata,
       (SELECT g.cut_source_revision FROM generations g
         WHERE g.document = d.id AND g.generation = u.generation) AS cut_source_revision
  FROM documents d JOIN units u ON u.document = d.id
 WHERE d.id = $1 AND u.generation = $2 AND u.ordinal > $3
 ORDER BY u.ordinal
 LIMIT $4";

/// The active units of the documents after `$1` (bytewise: `COLLATE "C"` on PostgreSQL; `$2` is
/// the same id), by document and ordinal, at most `$3`, each with its document's revision and
/// [`SourceFacts`] (a scalar subquery on the generation's primary key, so that the planners' plan
/// below stays as measured).
///
/// Written for the planners, each measured on 1,000 documents and 41,000 units: `CROSS JOIN`
/// keeps `documents` the outer loop on SQLite, whose planner otherwise scanned every unit after
/// `$1` and sorted them for each page (10 ms a page, growing with the store; now documents by id
/// and each one's units by primary key satisfy the `ORDER BY` with no sort). PostgreSQL does not
/// carry `d.id > $1` over to `u.document`, so its merge join read the units from the first
/// document on (6 ms a page); `u.document > $2` starts it at the cursor (0.3 ms).
const DOCUMENTS_AFTER: &str = "\
SELECT u.document, u.generation, u.ordinal, u.unit_id, u.path, u.part, u.start_byte, u.end_byte,
       u.sha256, u.body, d.revision, d.metadata,
       (SELECT g.cut_source_revision FROM generations g
         WHERE g.document = d.id AND g.generation = u.generation) AS cut_source_revision
  FROM documents d CROSS JOIN units u
 WHERE d.id > $1 AND u.document > $2 AND u.document = d.id AND u.generation = d.active_generation
 ORDER BY d.id, u.ordinal
 LIMIT $3";

/// Up to `limit` active units after `after`, by (document, ordinal); see
/// [`crate::Reads::active_units_page`].
pub(crate) async fn active_units_page<D: Dialect>(
    pool: &Pool<D>,
    after: Option<&UnitCursor>,
    limit: u32,
) -> AdapterResult<Vec<ActiveUnit>> {
    let what = "reading a page of active units";
    if limit == 0 {
        return Err(empty_page());
    }
    let mut tx = D::begin_read(pool).await.map_err(sql(what))?;
    let mut rows = Vec::new();
    // The first page starts after the empty id, which sorts before every id (and no document
    // may have it: `DocumentId::check`).
    let mut documents_after = "";
    if let Some(cursor) = after {
        let row =
            row_by_key::<D>(&mut tx, ACTIVE_GENERATION, cursor.document.as_str(), what).await?;
        let active = match row {
            Some(row) => row.opt_text(0).map_err(sql(what))?.map(RunId::new),
            None => None,
        };
        if active.as_ref() != Some(&cursor.generation) {
            return Err(page_moved(cursor, active.as_ref()));
        }
        rows = D::query(REST_OF_DOCUMENT)
            .bind(cursor.document.as_str())
            .bind(cursor.generation.as_str())
            .bind(i64::from(cursor.ordinal))
            .bind(i64::from(limit))
            .fetch_all(&mut tx)
            .await
            .map_err(sql(what))?;
        documents_after = cursor.document.as_str();
    }
    let room = u64::from(limit).saturating_sub(rows.len() as u64);
    if room > 0 {
        rows.extend(
            D::query(DOCUMENTS_AFTER)
                .bind(documents_after)
                .bind(documents_after)
                .bind(to_db(room, "a page's limit")?)
                .fetch_all(&mut tx)
                .await
                .map_err(sql(what))?,
        );
    }
    tx.rollback().await.map_err(sql(what))?;
    rows.iter()
        .map(|row| {
            Ok(ActiveUnit {
                unit: unit(row)?,
                revision: from_db(row.int("revision").map_err(sql(what))?, "document revision")?,
                source: source_facts_of(row, what)?,
            })
        })
        .collect()
}

/// The heads of up to `limit` documents after `after`, by id; see [`crate::Reads::heads_page`].
pub(crate) async fn heads_page<D: Dialect>(
    pool: &Pool<D>,
    after: Option<&DocumentId>,
    limit: u32,
) -> AdapterResult<Vec<DocumentHead>> {
    let what = "reading a page of document heads";
    if limit == 0 {
        return Err(empty_page());
    }
    let mut conn = pool.acquire().await.map_err(sql(what))?;
    let rows = Query::<D>::built(format!(
        "SELECT {} FROM documents WHERE id > $1 ORDER BY id LIMIT $2",
        DocumentHead::COLUMNS
    ))
    // The first page starts after the empty id, as in `active_units_page`.
    .bind(after.map_or("", DocumentId::as_str))
    .bind(i64::from(limit))
    .fetch_all(&mut conn)
    .await
    .map_err(sql(what))?;
    rows.iter().map(DocumentHead::decode).collect()
}

/// The cut revision of `document`'s `generation` and the document's metadata, in one read; see
/// [`crate::Reads::source_facts`].
pub(crate) async fn source_facts<D: Dialect>(
    pool: &Pool<D>,
    document: &DocumentId,
    generation: &RunId,
) -> AdapterResult<SourceFacts> {
    let what = "reading what a generation was cut from";
    let mut conn = pool.acquire().await.map_err(sql(what))?;
    let row = D::query(
        "SELECT d.metadata, g.cut_source_revision \
         FROM documents d LEFT JOIN generations g ON g.document = d.id AND g.generation = $2 \
         WHERE d.id = $1",
    )
    .bind(document.as_str())
    .bind(generation.as_str())
    .fetch_optional(&mut conn)
    .await
    .map_err(sql(what))?;
    let Some(row) = row else {
        return Ok(SourceFacts::default());
    };
    source_facts_of(&row, what)
}

/// What a generation was cut from, as a row reads it: its `cut_source_revision` and its
/// document's `metadata` columns.
fn source_facts_of(row: &impl Fields, what: &'static str) -> AdapterResult<SourceFacts> {
    Ok(SourceFacts {
        revision: row.opt_text("cut_source_revision").map_err(sql(what))?,
        metadata: row.opt_text("metadata").map_err(sql(what))?,
    })
}
