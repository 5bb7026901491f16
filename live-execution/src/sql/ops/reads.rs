//! Reads of documents, generation records and units: the scope (whole documents or their
//! heads), a document's generations, a generation's units in the backend's bulk shape, and the
//! snapshot a dry run seeds from. Rows are decoded here, once, for every operation.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::Pool;

use crate::adapter::AdapterResult;
use crate::census::{UnitFields, sha256_hex};
use crate::domain::{
    Document, DocumentHead, DocumentId, GenerationDigests, GenerationRecord, RunId, Scope,
    StoreSnapshot, Unit, UnitDigest,
};
use crate::sql::codec::{self, from_db};
use crate::sql::dialect::{BodyHashing, BulkReads, Dialect};
use crate::sql::error::sql;
use crate::sql::ops::{batch_rows, read_locked, row_by_key, rows_by_key};
use crate::sql::query::{Fields, Query};

/// Ids per `IN (…)` list when loading a scope by ids.
const IDS_PER_QUERY: usize = 500;

/// A document's generation records, ordered by generation id.
const GENERATIONS: &str =
    "SELECT document, generation, state FROM generations WHERE document = $1 ORDER BY generation";

/// A row of a scope read: a whole document, or its head.
pub(crate) trait ScopeRow: Sized {
    /// The columns to select.
    const COLUMNS: &'static str;
    /// The value of a row holding [`ScopeRow::COLUMNS`].
    fn decode(row: &impl Fields) -> AdapterResult<Self>;
    /// Its document's id.
    fn id(&self) -> &DocumentId;
}

impl ScopeRow for DocumentHead {
    const COLUMNS: &'static str = "id, revision, sha256, state, cutting_run, active_generation";

    fn decode(row: &impl Fields) -> AdapterResult<Self> {
        let what = "reading a document";
        let revision = row.int("revision").map_err(sql(what))?;
        let state = row.str("state").map_err(sql(what))?;
        let cutting_run = row.opt_text("cutting_run").map_err(sql(what))?;
        let active = row.opt_text("active_generation").map_err(sql(what))?;
        Ok(DocumentHead {
            id: DocumentId::new(row.text("id").map_err(sql(what))?),
            revision: from_db(revision, "document revision")?,
            sha256: row.text("sha256").map_err(sql(what))?,
            state: codec::parse_document_state(state, cutting_run)?,
            active_generation: active.map(RunId::new),
        })
    }

    fn id(&self) -> &DocumentId {
        &self.id
    }
}

impl ScopeRow for Document {
    const COLUMNS: &'static str =
        "id, revision, sha256, state, cutting_run, active_generation, body";

    fn decode(row: &impl Fields) -> AdapterResult<Self> {
        let head = DocumentHead::decode(row)?;
        Ok(Document {
            id: head.id,
            revision: head.revision,
            sha256: head.sha256,
            state: head.state,
            active_generation: head.active_generation,
            body: row.text("body").map_err(sql("reading a document"))?,
        })
    }

    fn id(&self) -> &DocumentId {
        &self.id
    }
}

/// A generation record from a row of document, generation and state (by name).
pub(crate) fn generation_record(row: &impl Fields) -> AdapterResult<GenerationRecord> {
    let what = "reading a generation record";
    Ok(GenerationRecord {
        document: DocumentId::new(row.text("document").map_err(sql(what))?),
        generation: RunId::new(row.text("generation").map_err(sql(what))?),
        state: codec::parse_generation_state(row.str("state").map_err(sql(what))?)?,
    })
}

/// A unit from a row of every `units` column (by name).
pub(crate) fn unit(row: &impl Fields) -> AdapterResult<Unit> {
    let what = "reading a unit";
    let text = |column: &str| row.text(column).map_err(sql(what));
    let int = |column: &str| row.int(column).map_err(sql(what));
    let columns = (
        int("ordinal")?,
        text("unit_id")?,
        text("path")?,
        row.opt_int("part").map_err(sql(what))?,
        int("start_byte")?,
        int("end_byte")?,
        text("sha256")?,
        text("body")?,
    );
    let document = DocumentId::new(text("document")?);
    stored_unit(document, RunId::new(text("generation")?), columns)
}

/// A unit's digest fields from seven consecutive columns of `row` from position `first`
/// (ordinal, unit id, path, part, start, end, sha256), in `generation`, borrowed from the row.
pub(crate) fn unit_fields_at<'r>(
    row: &'r impl Fields,
    first: usize,
    generation: &'r str,
    what: &'static str,
) -> AdapterResult<UnitFields<'r>> {
    let int = |offset: usize| row.int(first + offset).map_err(sql(what));
    let text = |offset: usize| row.str(first + offset).map_err(sql(what));
    stored_unit_fields((
        generation,
        int(0)?,
        text(1)?,
        text(2)?,
        row.opt_int(first + 3).map_err(sql(what))?,
        int(4)?,
        int(5)?,
        text(6)?,
    ))
}

/// A unit's stored digest columns, borrowed: (generation, ordinal, unit id, path, part, start,
/// end, sha256).
pub(crate) type UnitFieldColumns<'a> = (
    &'a str,
    i64,
    &'a str,
    &'a str,
    Option<i64>,
    i64,
    i64,
    &'a str,
);

/// A unit's digest fields from its stored columns, in whatever shape the backend read them.
pub(crate) fn stored_unit_fields(
    (generation, ordinal, unit_id, path, part, start, end, sha256): UnitFieldColumns<'_>,
) -> AdapterResult<UnitFields<'_>> {
    let (ordinal, part, start, end) = codec::unit_numbers(ordinal, part, start, end)?;
    Ok(UnitFields {
        generation,
        ordinal,
        unit_id,
        path,
        part,
        start,
        end,
        sha256,
    })
}

/// `statement` on one generation of a document: `$1` the document, `$2` the generation (its
/// run), the key of generation records and of units.
pub(crate) fn of_generation<'a, D: Dialect>(
    statement: &'static str,
    document: &'a DocumentId,
    generation: &'a RunId,
) -> Query<'a, D> {
    D::query(statement)
        .bind(document.as_str())
        .bind(generation.as_str())
}

/// The documents in scope, ordered by id.
pub(crate) async fn load_scope<D: Dialect>(
    pool: &Pool<D>,
    scope: &Scope,
) -> AdapterResult<Vec<Document>> {
    load_rows(pool, scope).await
}

/// The heads of the documents in scope, ordered by id: the same reads without the body column.
pub(crate) async fn load_heads<D: Dialect>(
    pool: &Pool<D>,
    scope: &Scope,
) -> AdapterResult<Vec<DocumentHead>> {
    load_rows(pool, scope).await
}

async fn load_rows<D: Dialect, R: ScopeRow + Send>(
    pool: &Pool<D>,
    scope: &Scope,
) -> AdapterResult<Vec<R>> {
    let what = "loading the scope";
    let columns = R::COLUMNS;
    match scope {
        Scope::Shard { base, .. } => {
            // The hash is computed in Rust, so `Scope::contains` stays the single definition.
            let rows: Vec<R> = Box::pin(load_rows(pool, base)).await?;
            Ok(rows
                .into_iter()
                .filter(|r| scope.contains(r.id()))
                .collect())
        }
        Scope::All => {
            let mut conn = pool.acquire().await.map_err(sql(what))?;
            let rows = Query::<D>::built(format!("SELECT {columns} FROM documents ORDER BY id"))
                .fetch_all(&mut conn)
                .await
                .map_err(sql(what))?;
            rows.iter().map(R::decode).collect()
        }
        Scope::Prefix(prefix) => {
            let ranged = D::ids_compare_as_utf8(pool).await.map_err(sql(what))?;
            let mut conn = pool.acquire().await.map_err(sql(what))?;
            let after = after_prefix(prefix).filter(|_| ranged);
            let statement = prefix_range(columns, after.is_some(), ranged);
            let query = Query::<D>::built(statement).bind(prefix.as_str());
            let query = match after {
                Some(after) => query.bind(after),
                None => query,
            };
            let rows = query.fetch_all(&mut conn).await.map_err(sql(what))?;
            // The range is the prefix exactly; the check costs nothing and states the rule.
            rows.iter()
                .map(R::decode)
                .filter(|r| match r {
                    Ok(r) => r.id().as_str().starts_with(prefix.as_str()),
                    Err(_) => true,
                })
                .collect()
        }
        Scope::Ids(ids) => load_ids(pool, ids).await,
    }
}

/// The least text after every text that starts with `prefix`, in the order of iu-cutter's ids
/// (bytewise UTF-8, which is code point order: SQLite's default collation, PostgreSQL's `"C"`):
/// the prefix with its last character moved on by one, past the surrogates (a prefix ending in
/// U+10FFFF moves the character before it). `None` when no text is after them all.
///
/// A prefix scope is then a range of the primary key, which its index serves; `substr(id, …)`
/// read every document of the store to find those of the scope.
pub(crate) fn after_prefix(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        if let Some(next) = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// The documents from `$1` on, before `$2` when `bounded`: the ids of a prefix `$1`
/// ([`after_prefix`] gives `$2`). Where ids do not compare as UTF-8 bytes (`ranged` false),
/// the ids that start with `$1`, which no index serves.
fn prefix_range(columns: &str, bounded: bool, ranged: bool) -> String {
    if !ranged {
        return format!(
            "SELECT {columns} FROM documents WHERE substr(id, 1, length($1)) = $1 ORDER BY id"
        );
    }
    let before = if bounded { " AND id < $2" } else { "" };
    format!("SELECT {columns} FROM documents WHERE id >= $1{before} ORDER BY id")
}

/// The documents named by `ids` (each once), ordered by id, read in one snapshot.
async fn load_ids<D: Dialect, R: ScopeRow + Send>(
    pool: &Pool<D>,
    ids: &[DocumentId],
) -> AdapterResult<Vec<R>> {
    let what = "loading the scope";
    let ids: Vec<&DocumentId> = ids.iter().collect::<BTreeSet<_>>().into_iter().collect();
    let mut found = Vec::with_capacity(ids.len());
    let mut tx = D::begin_read(pool).await.map_err(sql(what))?;
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|n| format!("${n}")).collect();
        let mut query = Query::<D>::built(format!(
            "SELECT {} FROM documents WHERE id IN ({}) ORDER BY id",
            R::COLUMNS,
            placeholders.join(", ")
        ));
        for id in chunk {
            query = query.bind(id.as_str());
        }
        let rows = query.fetch_all(&mut tx).await.map_err(sql(what))?;
        for row in &rows {
            found.push(R::decode(row)?);
        }
    }
    tx.rollback().await.map_err(sql(what))?;
    // Chunks are in id order and each is sorted; keep the contract's order regardless.
    found.sort_by(|a, b| a.id().cmp(b.id()));
    Ok(found)
}

/// A document's generation records, ordered by generation id.
pub(crate) async fn generations<D: Dialect>(
    pool: &Pool<D>,
    document: &DocumentId,
) -> AdapterResult<Vec<GenerationRecord>> {
    let what = "reading generation records";
    let rows = rows_by_key(pool, GENERATIONS, document.as_str(), what).await?;
    rows.iter().map(generation_record).collect()
}

/// The generation records of each distinct id of `ids`, by document id (bytewise), then as
/// [`generations`] orders them ([`crate::Reads::generations_of`]): the batch's statement,
/// unlocked, [`batch_rows`]' ids at a time, in one read transaction.
pub(crate) async fn generations_of<D: Dialect>(
    pool: &Pool<D>,
    ids: &[DocumentId],
) -> AdapterResult<Vec<GenerationRecord>> {
    let what = "reading generation records";
    let mut tx = D::begin_read(pool).await.map_err(sql(what))?;
    let statement = D::BATCH_READS.generations.plain();
    let rows = batch_rows::<D>(&mut *tx, statement, ids, None, what).await?;
    tx.rollback().await.map_err(sql(what))?;
    let mut records: BTreeMap<DocumentId, Vec<GenerationRecord>> = BTreeMap::new();
    for row in rows {
        let record = generation_record(&row)?;
        records
            .entry(record.document.clone())
            .or_default()
            .push(record);
    }
    Ok(records.into_values().flatten().collect())
}

/// The generation records of each of `ids`, ordered by generation id (a document without any
/// has an empty list), locked for the rest of the write transaction where the backend locks
/// rows: a compare-and-set on them cannot be overtaken by a concurrent purge or run.
pub(crate) async fn generations_for_update<'a, D: Dialect>(
    conn: &mut D::Connection,
    ids: impl IntoIterator<Item = &'a DocumentId>,
) -> AdapterResult<BTreeMap<DocumentId, Vec<GenerationRecord>>> {
    let statement = &D::BATCH_READS.generations;
    read_locked::<D, _, _>(conn, statement, ids, "reading generation records", |row| {
        generation_record(row).map(|record| (record.document.clone(), record))
    })
    .await
}

/// One unit's stored columns, as the JSON unit reads give them and a unit row holds them:
/// (ordinal, unit id, path, part, start, end, sha256, body).
type UnitColumns = (i64, String, String, Option<i64>, i64, i64, String, String);

/// The unit of `document`'s `generation` with these stored columns.
fn stored_unit(
    document: DocumentId,
    generation: RunId,
    (ordinal, unit_id, path, part, start, end, sha256, body): UnitColumns,
) -> AdapterResult<Unit> {
    let (ordinal, part, start, end) = codec::unit_numbers(ordinal, part, start, end)?;
    Ok(Unit {
        document,
        generation,
        ordinal,
        unit_id,
        path,
        part,
        start,
        end,
        sha256,
        body,
    })
}

/// The units of `document`'s `generation` from a JSON unit read, ordered by ordinal.
fn units_from_json(
    document: &DocumentId,
    generation: &RunId,
    json: &str,
) -> AdapterResult<Vec<Unit>> {
    let rows: Vec<UnitColumns> = codec::from_json(json, "the units of a generation")?;
    let mut units = rows
        .into_iter()
        .map(|columns| stored_unit(document.clone(), generation.clone(), columns))
        .collect::<AdapterResult<Vec<Unit>>>()?;
    units.sort_by_key(|unit| unit.ordinal);
    Ok(units)
}

/// One generation's units, ordered by ordinal.
pub(crate) async fn generation_units<D: Dialect>(
    pool: &Pool<D>,
    document: &DocumentId,
    generation: &RunId,
) -> AdapterResult<Vec<Unit>> {
    let mut conn = pool.acquire().await.map_err(sql("reading units"))?;
    generation_units_in::<D>(&mut conn, document, generation).await
}

/// [`generation_units`] inside the caller's transaction, in the backend's bulk shape.
pub(crate) async fn generation_units_in<D: Dialect>(
    conn: &mut D::Connection,
    document: &DocumentId,
    generation: &RunId,
) -> AdapterResult<Vec<Unit>> {
    let what = "reading units";
    match D::BULK_READS {
        BulkReads::Rows {
            generation_units, ..
        } => {
            let rows = of_generation::<D>(generation_units, document, generation)
                .fetch_all(conn)
                .await
                .map_err(sql(what))?;
            rows.iter().map(unit).collect()
        }
        BulkReads::Json {
            generation_units, ..
        } => {
            let row = of_generation::<D>(generation_units, document, generation)
                .fetch_one(conn)
                .await
                .map_err(sql(what))?;
            let json = row.opt_str(0).map_err(sql(what))?;
            units_from_json(document, generation, json.unwrap_or("[]"))
        }
    }
}

/// One generation's units as digests ([`crate::Reads::generation_digests`]), hashed where
/// [`Dialect::BODY_HASHING`] says: by the server, which sends no body (each body's sha256 and
/// length, and the ordered concatenation's sha256, in one statement); or here, from the units
/// read back.
pub(crate) async fn generation_digests<D: Dialect>(
    pool: &Pool<D>,
    document: &DocumentId,
    generation: &RunId,
) -> AdapterResult<GenerationDigests> {
    let what = "reading unit digests";
    let mut conn = pool.acquire().await.map_err(sql(what))?;
    let BodyHashing::InServer {
        generation_digests, ..
    } = D::BODY_HASHING
    else {
        let units = generation_units_in::<D>(&mut conn, document, generation).await?;
        return Ok(GenerationDigests::of(&units));
    };
    let read_after = read_snapshot::<D>(&mut conn, what).await?;
    let rows = of_generation::<D>(generation_digests, document, generation)
        .fetch_all(&mut *conn)
        .await
        .map_err(sql(what))?;
    let mut units = Vec::with_capacity(rows.len());
    for row in &rows {
        units.push(unit_digest(row, document, generation, what)?);
    }
    let concatenated_sha256 = match rows.first() {
        Some(row) => row.text(9).map_err(sql(what))?,
        None => sha256_hex(b""),
    };
    Ok(GenerationDigests {
        units,
        concatenated_sha256,
        read_after,
    })
}

/// Where unit rows carry their writer's transaction ([`Dialect::STAGED_UNCHANGED`]): the
/// server's snapshot now, taken before the reads that follow on `conn` (each statement of
/// which takes a snapshot of its own, later), for [`GenerationDigests::read_after`].
async fn read_snapshot<D: Dialect>(
    conn: &mut D::Connection,
    what: &'static str,
) -> AdapterResult<Option<String>> {
    if D::STAGED_UNCHANGED.is_none() {
        return Ok(None);
    }
    let row = D::query(D::CHANGE_MARK)
        .fetch_one(conn)
        .await
        .map_err(sql(what))?;
    Ok(Some(row.text(0).map_err(sql(what))?))
}

/// [`generation_digests`] of each of `documents` in one call: on a server that hashes, one
/// statement for each thousand ids; else each document's units
/// read back and hashed here, on one connection.
pub(crate) async fn generation_digests_of<D: Dialect>(
    pool: &Pool<D>,
    documents: &[DocumentId],
    generation: &RunId,
) -> AdapterResult<Vec<GenerationDigests>> {
    let what = "reading unit digests";
    let mut conn = pool.acquire().await.map_err(sql(what))?;
    let BodyHashing::InServer {
        generation_digests_of,
        ..
    } = D::BODY_HASHING
    else {
        let mut digests = Vec::with_capacity(documents.len());
        for document in documents {
            let units = generation_units_in::<D>(&mut conn, document, generation).await?;
            digests.push(GenerationDigests::of(&units));
        }
        return Ok(digests);
    };
    let read_after = read_snapshot::<D>(&mut conn, what).await?;
    let rows = batch_rows::<D>(
        &mut conn,
        generation_digests_of,
        documents,
        Some(generation.as_str()),
        what,
    )
    .await?;
    // By document and ordinal: each document's units arrive together, in order.
    let mut found: BTreeMap<DocumentId, GenerationDigests> = BTreeMap::new();
    for row in &rows {
        let document = DocumentId::new(row.text(10).map_err(sql(what))?);
        let unit = unit_digest(row, &document, generation, what)?;
        let digests = found.entry(document).or_insert_with(|| GenerationDigests {
            units: Vec::new(),
            concatenated_sha256: String::new(),
            read_after: read_after.clone(),
        });
        if digests.units.is_empty() {
            digests.concatenated_sha256 = row.text(9).map_err(sql(what))?;
        }
        digests.units.push(unit);
    }
    let none = || GenerationDigests {
        units: Vec::new(),
        concatenated_sha256: sha256_hex(b""),
        read_after: read_after.clone(),
    };
    // Each answer moved out at its id's last mention (an id given twice is answered twice).
    let mut mentions: BTreeMap<&DocumentId, usize> = BTreeMap::new();
    for document in documents {
        *mentions.entry(document).or_default() += 1;
    }
    let mut answers = Vec::with_capacity(documents.len());
    for document in documents {
        let left = mentions.entry(document).or_default();
        *left = left.saturating_sub(1);
        let answer = match *left {
            0 => found.remove(document),
            _ => found.get(document).cloned(),
        };
        answers.push(answer.unwrap_or_else(none));
    }
    Ok(answers)
}

/// A unit digest from a row of [`BodyHashing::InServer`]'s `generation_digests`.
fn unit_digest(
    row: &impl Fields,
    document: &DocumentId,
    generation: &RunId,
    what: &'static str,
) -> AdapterResult<UnitDigest> {
    let int = |column: usize| row.int(column).map_err(sql(what));
    let text = |column: usize| row.text(column).map_err(sql(what));
    let part = row.opt_int(3).map_err(sql(what))?;
    let (ordinal, part, start, end) = codec::unit_numbers(int(0)?, part, int(4)?, int(5)?)?;
    Ok(UnitDigest {
        document: document.clone(),
        generation: generation.clone(),
        ordinal,
        unit_id: text(1)?,
        path: text(2)?,
        part,
        start,
        end,
        sha256: text(6)?,
        body_sha256: text(7)?,
        body_bytes: from_db(int(8)?, "a unit body's length")?,
    })
}

/// The active generation's units, ordered by ordinal.
pub(crate) async fn active_units<D: Dialect>(
    pool: &Pool<D>,
    document: &DocumentId,
) -> AdapterResult<Vec<Unit>> {
    let what = "reading active units";
    match D::BULK_READS {
        BulkReads::Rows { active_units, .. } => {
            let rows = rows_by_key(pool, active_units, document.as_str(), what).await?;
            rows.iter().map(unit).collect()
        }
        BulkReads::Json { active_units, .. } => {
            let mut conn = pool.acquire().await.map_err(sql(what))?;
            let row = row_by_key::<D>(&mut conn, active_units, document.as_str(), what).await?;
            let Some(row) = row else {
                return Ok(Vec::new());
            };
            let Some(active) = row.opt_text(0).map_err(sql(what))? else {
                return Ok(Vec::new());
            };
            let json = row.opt_str(1).map_err(sql(what))?;
            units_from_json(document, &RunId::new(active), json.unwrap_or("[]"))
        }
    }
}

/// The active units of each distinct id of `ids`, by document id (bytewise), then ordinal
/// ([`crate::Reads::active_units_of`]): the backend's bulk shape of [`active_units`] for a list
/// of ids, [`batch_rows`]' ids at a time, in one read transaction.
pub(crate) async fn active_units_of<D: Dialect>(
    pool: &Pool<D>,
    ids: &[DocumentId],
) -> AdapterResult<Vec<Unit>> {
    let what = "reading active units";
    let mut tx = D::begin_read(pool).await.map_err(sql(what))?;
    let mut units: BTreeMap<DocumentId, Vec<Unit>> = BTreeMap::new();
    match D::BULK_READS {
        BulkReads::Rows {
            active_units_of, ..
        } => {
            // Each row is dropped once decoded: the batch's units are not held twice.
            for row in batch_rows::<D>(&mut *tx, active_units_of, ids, None, what).await? {
                let unit = unit(&row)?;
                units.entry(unit.document.clone()).or_default().push(unit);
            }
        }
        BulkReads::Json {
            active_units_of, ..
        } => {
            for row in batch_rows::<D>(&mut *tx, active_units_of, ids, None, what).await? {
                let document = DocumentId::new(row.text(0).map_err(sql(what))?);
                let Some(active) = row.opt_text(1).map_err(sql(what))? else {
                    continue;
                };
                let json = row.opt_str(2).map_err(sql(what))?;
                let read = units_from_json(&document, &RunId::new(active), json.unwrap_or("[]"))?;
                units.insert(document, read);
            }
        }
    }
    tx.rollback().await.map_err(sql(what))?;
    Ok(units.into_values().flatten().collect())
}

/// Every document, generation record and unit, in key order, from one snapshot.
pub(crate) async fn snapshot<D: Dialect>(pool: &Pool<D>) -> AdapterResult<StoreSnapshot> {
    let what = "taking a snapshot";
    let mut tx = D::begin_read(pool).await.map_err(sql(what))?;
    let documents = D::query(
        "SELECT id, revision, sha256, state, cutting_run, active_generation, body \
         FROM documents ORDER BY id",
    )
    .fetch_all(&mut tx)
    .await
    .map_err(sql(what))?;
    let generations = D::query(
        "SELECT document, generation, state FROM generations ORDER BY document, generation",
    )
    .fetch_all(&mut tx)
    .await
    .map_err(sql(what))?;
    let units = D::query(
        "SELECT document, generation, ordinal, unit_id, path, part, start_byte, end_byte, \
         sha256, body FROM units ORDER BY document, generation, ordinal",
    )
    .fetch_all(&mut tx)
    .await
    .map_err(sql(what))?;
    tx.rollback().await.map_err(sql(what))?;
    Ok(StoreSnapshot {
        documents: documents
            .iter()
            .map(Document::decode)
            .collect::<Result<_, _>>()?,
        generations: generations
            .iter()
            .map(generation_record)
            .collect::<Result<_, _>>()?,
        units: units.iter().map(unit).collect::<Result<_, _>>()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_after_a_prefix_bounds_exactly_its_ids() {
        assert_eq!(after_prefix("vi/").as_deref(), Some("vi0"));
        assert_eq!(after_prefix("Ä").as_deref(), Some("Å"));
        assert_eq!(after_prefix("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(after_prefix("a/\u{10FFFF}").as_deref(), Some("a0"));
        assert_eq!(after_prefix("\u{10FFFF}\u{10FFFF}"), None);
        assert_eq!(after_prefix(""), None);
    }

    /// Adversarial (adv46): a prefix is read as the range of ids from it to [`after_prefix`],
    /// which bounds exactly its ids where ids compare as UTF-8 bytes. A SQLite file shared with
    /// an application may be UTF-16 (`PRAGMA encoding`), where SQLite's `BINARY` collation
    /// compares the UTF-16 bytes: there `ÿ` (U+00FF) sorts after `Ā` (U+0100), and a prefix
    /// ending in `ÿ` read none of its documents.
    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn a_prefix_reads_its_documents_in_a_utf16_sqlite_file()
    -> Result<(), Box<dyn std::error::Error>> {
        use crate::prelude::*;
        let ids = ["a", "ÿ", "ÿ1", "ÿz", "Ā"];
        let (_dir, store) = crate::sql::sqlite::utf16_store(&ids).await?;
        for (prefix, expected) in [("ÿ", vec!["ÿ", "ÿ1", "ÿz"]), ("a", vec!["a"])] {
            let scope = Scope::Prefix(prefix.into());
            let found = store.load_scope(&scope).await?;
            let found: Vec<&str> = found.iter().map(|d| d.id.as_str()).collect();
            assert_eq!(found, expected, "prefix {prefix}");
        }
        Ok(())
    }

    /// A prefix scope was read by `substr(id, 1, length($1)) = $2`, which no index serves:
    /// every run of a prefix read every document row of the store. The range is an index seek.
    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn a_prefix_is_read_through_the_id_index_on_sqlite()
    -> Result<(), Box<dyn std::error::Error>> {
        let (_dir, mut conn) = crate::sql::sqlite::scratch_store().await?;
        for bounded in [true, false] {
            let statement = prefix_range("id", bounded, true);
            let plan =
                crate::sql::sqlite::query_plan(&mut conn, &statement, &["vi/", "vi0"]).await?;
            assert!(
                plan.iter().any(|step| step.starts_with("SEARCH documents")),
                "{plan:?}"
            );
            assert!(
                !plan.iter().any(|step| step.starts_with("SCAN documents")),
                "{plan:?}"
            );
        }
        Ok(())
    }
}
