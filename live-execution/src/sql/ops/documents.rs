//! Documents as writes see them: `put_documents` (the program's `import`, one transaction), and
//! a document's row without its body read inside a write transaction, locked where the backend
//! locks rows, in document-id order so that concurrent writers queue instead of deadlocking.

use std::collections::BTreeMap;

use sqlx::Pool;

use crate::adapter::AdapterResult;
use crate::census::sha256_hex;
use crate::domain::{Document, DocumentId, DocumentState, RunId};
use crate::error::AdapterError;
use crate::sql::codec::{self, from_db, to_db};
use crate::sql::dialect::Dialect;
use crate::sql::error::sql;
use crate::sql::ops::read_locked;
use crate::sql::query::Fields;

/// A document row without its body, as read (and locked) inside a write transaction.
pub(crate) struct Current {
    /// Its revision.
    pub(crate) revision: u64,
    /// The recorded sha256 of its body.
    pub(crate) sha256: String,
    /// Its lifecycle state.
    pub(crate) state: DocumentState,
    /// Its active generation.
    pub(crate) active_generation: Option<RunId>,
}

/// What a document read inside a write transaction is told as when it fails.
pub(crate) const READING_A_DOCUMENT: &str = "reading a document";

/// A document row's first five columns, as the batch reads select them (revision, sha256, state,
/// cutting run, active generation): every read of a document inside a write decodes them here.
pub(crate) fn current_from_row(row: &impl Fields) -> AdapterResult<Current> {
    let what = READING_A_DOCUMENT;
    let revision = row.int(0).map_err(sql(what))?;
    let state = row.str(2).map_err(sql(what))?;
    let cutting_run = row.opt_text(3).map_err(sql(what))?;
    let active = row.opt_text(4).map_err(sql(what))?;
    Ok(Current {
        revision: from_db(revision, "document revision")?,
        sha256: row.text(1).map_err(sql(what))?,
        state: codec::parse_document_state(state, cutting_run)?,
        active_generation: active.map(RunId::new),
    })
}

/// Reads (and, where the backend locks rows, locks) each named document once, in id order:
/// concurrent operations lock rows in one order, so they queue instead of deadlocking. A
/// document with no row is there as `None`.
pub(crate) async fn read_documents<'a, D: Dialect>(
    conn: &mut D::Connection,
    ids: impl IntoIterator<Item = &'a DocumentId>,
) -> AdapterResult<BTreeMap<DocumentId, Option<Current>>> {
    let statement = &D::BATCH_READS.heads;
    read_locked::<D, _, _>(conn, statement, ids, READING_A_DOCUMENT, |row| {
        let id = DocumentId::new(row.text(5).map_err(sql(READING_A_DOCUMENT))?);
        Ok((id, current_from_row(row)?))
    })
    .await
}

/// Creates documents or replaces their bodies, all in one transaction (see the trait).
pub(crate) async fn put_documents<D: Dialect>(
    pool: &Pool<D>,
    documents: &[(DocumentId, String)],
) -> AdapterResult<Vec<Document>> {
    let what = "writing documents";
    for (id, body) in documents {
        DocumentId::check(id.as_str()).map_err(AdapterError::Invalid)?;
        D::check_text("a document id", id.as_str())?;
        D::check_text("a document body", body)?;
    }
    let mut tx = D::begin_write(pool).await.map_err(sql(what))?;
    // Written in id order (a repeated id in turn: the sort is stable), whatever order the caller
    // gave: each write locks its row, and concurrent writers that lock in one order queue
    // instead of deadlocking (a fence, an enact and a rollback lock in id order too).
    let mut order: Vec<usize> = (0..documents.len()).collect();
    order.sort_by(|a, b| documents[*a].0.cmp(&documents[*b].0));
    let mut stored: Vec<Option<Document>> = documents.iter().map(|_| None).collect();
    for index in order {
        let (id, body) = &documents[index];
        stored[index] = Some(put_one::<D>(&mut tx, id, body).await?);
    }
    tx.commit().await.map_err(sql(what))?;
    Ok(stored.into_iter().flatten().collect())
}

/// Creates a document or replaces its body, inside the caller's transaction.
async fn put_one<D: Dialect>(
    conn: &mut D::Connection,
    id: &DocumentId,
    body: &str,
) -> AdapterResult<Document> {
    let sha256 = sha256_hex(body.as_bytes());
    // Two writers creating the same document at once: the second's insert does nothing and it
    // reads the first's row on its next attempt (on SQLite writers never overlap).
    for _ in 0..3 {
        let found = read_documents::<D>(conn, [id]).await?.remove(id).flatten();
        let Some(found) = found else {
            if insert_new::<D>(conn, id, &sha256, body).await? {
                return Ok(Document {
                    id: id.clone(),
                    revision: 1,
                    sha256,
                    state: DocumentState::Ready,
                    active_generation: None,
                    body: body.to_owned(),
                });
            }
            continue;
        };
        if found.sha256 == sha256 {
            return Ok(Document {
                id: id.clone(),
                revision: found.revision,
                sha256,
                state: found.state,
                active_generation: found.active_generation,
                body: body.to_owned(),
            });
        }
        // A writer that ignores fences keeps the fence: the holder's enact then fails its
        // compare-and-set on the revision.
        let state = match found.state {
            DocumentState::Cutting { run } => DocumentState::Cutting { run },
            DocumentState::Ready | DocumentState::Cut => DocumentState::Ready,
        };
        let document = Document {
            id: id.clone(),
            revision: found.revision + 1,
            sha256,
            state,
            active_generation: found.active_generation,
            body: body.to_owned(),
        };
        upsert_document::<D>(conn, &document).await?;
        return Ok(document);
    }
    Err(AdapterError::unavailable(
        crate::error::UnavailableKind::Other,
        format!("document `{id}` is being created concurrently; try again"),
    ))
}

/// Inserts document `id` at revision 1 unless a row exists; whether it inserted.
async fn insert_new<D: Dialect>(
    conn: &mut D::Connection,
    id: &DocumentId,
    sha256: &str,
    body: &str,
) -> AdapterResult<bool> {
    let inserted = D::query(
        "INSERT INTO documents (id, revision, sha256, state, cutting_run, active_generation, \
         body) VALUES ($1, 1, $2, 'ready', NULL, NULL, $3) ON CONFLICT (id) DO NOTHING",
    )
    .bind(id.as_str())
    .bind(sha256)
    .bind(body)
    .execute(conn)
    .await
    .map_err(sql("writing a document"))?;
    Ok(inserted == 1)
}

async fn upsert_document<D: Dialect>(
    conn: &mut D::Connection,
    document: &Document,
) -> AdapterResult<()> {
    let (state, cutting_run) = codec::document_state(&document.state);
    D::query(
        "INSERT INTO documents (id, revision, sha256, state, cutting_run, active_generation, body) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (id) DO UPDATE SET revision = excluded.revision, sha256 = excluded.sha256, \
         state = excluded.state, cutting_run = excluded.cutting_run, \
         active_generation = excluded.active_generation, body = excluded.body",
    )
    .bind(document.id.as_str())
    .bind(to_db(document.revision, "revision")?)
    .bind(document.sha256.as_str())
    .bind(state)
    .bind(cutting_run)
    .bind(document.active_generation.as_ref().map(RunId::as_str))
    .bind(document.body.as_str())
    .execute(conn)
    .await
    .map_err(sql("writing a document"))?;
    Ok(())
}
