//! What differs between the backends, and only that: the [`Dialect`] trait, implemented for
//! `sqlx::Sqlite` (in `sqlite.rs`) and `sqlx::Postgres` (in `postgres.rs`).
//!
//! The operations (`ops/*`) are written once, generic over `D: Dialect`, and ask the dialect only
//! what differs: how a write transaction begins and whether rows must be locked, which SQL text
//! a few statements have, where a body is hashed, how units are written in bulk, and the shape
//! of bulk reads. Where the *shape* of an operation differs, the dialect answers with a value
//! ([`BodyHashing`], [`BulkReads`]) that carries the texts that shape needs, and the operation
//! matches on it: no backend holds a text it never runs, and no flag pairs with a text elsewhere.
//!
//! A text that only one backend runs lives in that backend's file; a text both run lives with
//! its operation. A text that differs only by row locks is written once, with [`for_update!`].
//!
//! Why a trait over sqlx's own database types, and not a macro that stamps the operations out
//! once per backend: the operations stay ordinary, formatted, checked Rust; `ops::fence(pool, …)`
//! infers the backend from the pool; and every difference is an item with a name and a doc
//! comment, in one place. sqlx's requirements on a generic database are stated once, in
//! `query.rs`.

use std::future::Future;

use sqlx::{Pool, Transaction};

use crate::domain::Unit;
use crate::error::AdapterError;
use crate::sql::migrations::Migration;
use crate::sql::query::Engine;

/// [`Dialect::BATCH_READS`], which differ between the backends only in how a statement takes the
/// JSON array of ids `$1` (`$in_ids`, written after the id column) and in the column that
/// carries a body for a compare-and-set (`$body`: the body itself, or its sha256 where the
/// server hashes it, as [`Dialect::BODY_HASHING`] says).
macro_rules! batch_reads {
    (in_ids: $in_ids:literal, body: $body:literal) => {
        const BATCH_READS: $crate::sql::dialect::BatchReads = $crate::sql::dialect::BatchReads {
            in_ids: $in_ids,
            heads: $crate::sql::dialect::for_update!(
                "SELECT revision, sha256, state, cutting_run, active_generation, id \
                 FROM documents WHERE id ",
                $in_ids,
                " ORDER BY id"
            ),
            bodies: $crate::sql::dialect::for_update!(
                "SELECT revision, sha256, state, cutting_run, active_generation, ",
                $body,
                ", id FROM documents WHERE id ",
                $in_ids,
                " ORDER BY id"
            ),
            generations: $crate::sql::dialect::for_update!(
                "SELECT document, generation, state FROM generations WHERE document ",
                $in_ids,
                " ORDER BY document, generation"
            ),
            staged_counts: concat!(
                "SELECT document, CAST(count(*) AS BIGINT) FROM units \
                 WHERE generation = $2 AND document ",
                $in_ids,
                " GROUP BY document"
            ),
            entries: $crate::sql::dialect::for_update!(
                "SELECT CAST(mark AS TEXT), document FROM document_changes WHERE document ",
                $in_ids,
                " ORDER BY document"
            ),
        };
    };
}
pub(crate) use batch_reads;

/// [`Dialect::BATCH_WRITES`], which differ between the backends only in how a statement takes
/// the JSON array `$1` of rows (`$rows`: a table of text columns `c0` … `c8` from arrays of
/// strings and nulls), how it takes a JSON array `$1` of ids (`$in_ids`, as in
/// [`batch_reads!`]), and the SQL type of a change-log entry (`$entry`: PostgreSQL's `xid8`,
/// SQLite's `INTEGER`). Columns stay unqualified where both a table and the rows are in scope:
/// the rows' columns are `c0` … `c8`, which no table has.
macro_rules! batch_writes {
    (rows: $rows:literal, in_ids: $in_ids:literal, entry: $entry:literal) => {
        const BATCH_WRITES: $crate::sql::dialect::BatchWrites = $crate::sql::dialect::BatchWrites {
            marks: concat!(
                "UPDATE documents SET state = x.c6, cutting_run = x.c7, active_generation = x.c8 \
                 FROM ",
                $rows,
                " AS x WHERE id = x.c0 AND revision = CAST(x.c1 AS BIGINT) AND sha256 = x.c2 \
                 AND state = x.c3 AND cutting_run IS NOT DISTINCT FROM x.c4 \
                 AND active_generation IS NOT DISTINCT FROM x.c5 RETURNING id"
            ),
            generation_states: concat!(
                "UPDATE generations SET state = x.c3 FROM ",
                $rows,
                " AS x WHERE document = x.c0 AND generation = x.c1 AND state = x.c2 \
                 RETURNING document, generation"
            ),
            open_generations: concat!(
                "INSERT INTO generations (document, generation, state) \
                 SELECT x.c0, $2, 'staged' FROM ",
                $rows,
                " AS x WHERE true ON CONFLICT (document, generation) DO NOTHING"
            ),
            cut_from: concat!(
                "UPDATE generations SET \
                 cut_sha256 = (SELECT d.sha256 FROM documents d WHERE d.id = generations.document), \
                 cut_source_revision = (SELECT d.source_revision FROM documents d \
                                        WHERE d.id = generations.document) \
                 WHERE generation = $2 AND document ",
                $in_ids
            ),
            drop_units: concat!(
                "DELETE FROM units WHERE generation = $2 AND document ",
                $in_ids
            ),
            drop_records: concat!(
                "DELETE FROM generations WHERE generation = $2 AND document ",
                $in_ids
            ),
            holds_fenced: concat!(
                "INSERT INTO document_change_holds \
                 (document, run, entry_before, entry_fenced, entry_own) \
                 SELECT c.document, $2, CAST(x.c1 AS ",
                $entry,
                "), c.mark, c.mark FROM document_changes c JOIN ",
                $rows,
                " AS x ON x.c0 = c.document WHERE true \
                 ON CONFLICT (document) DO UPDATE SET run = excluded.run, \
                 entry_before = excluded.entry_before, entry_fenced = excluded.entry_fenced, \
                 entry_own = excluded.entry_own"
            ),
            holds_written: concat!(
                "UPDATE document_change_holds SET entry_own = CASE WHEN entry_own = CAST(x.c1 AS ",
                $entry,
                ") THEN (SELECT c.mark FROM document_changes c WHERE c.document = x.c0) END \
                 FROM ",
                $rows,
                " AS x WHERE document = x.c0 AND run = $2"
            ),
            holds_spent: concat!(
                "DELETE FROM document_change_holds WHERE run = $2 AND document ",
                $in_ids
            ),
        };
    };
}
pub(crate) use batch_writes;

/// The writes of a batch of documents, one statement for the batch where a statement per
/// document made a batch of 500 documents thousands of round trips; written with
/// [`batch_writes!`]. `$1` is a JSON array of rows (arrays of strings and nulls, their columns
/// named below) or of ids, and `$2` the run. A compare-and-set returns the keys of the rows it
/// changed, so that a row it did not change is told as a conflict on its document.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BatchWrites {
    /// Moves documents' lifecycle columns from exactly what was read (rows: id, revision,
    /// sha256, state, cutting run, active generation) to the new state, cutting run and active
    /// generation; returns the ids moved.
    pub(crate) marks: &'static str,
    /// Moves generation records from exactly one state to another (rows: document,
    /// generation, from, to); returns the document and generation of each record moved.
    pub(crate) generation_states: &'static str,
    /// Opens run `$2`'s staged generation record of each document (rows: document), unless it
    /// exists.
    pub(crate) open_generations: &'static str,
    /// Records on run `$2`'s generation of each of the ids what it was cut from: the
    /// document's sha256 and source revision as they are now.
    pub(crate) cut_from: &'static str,
    /// Deletes the units of run `$2`'s generation of each of the ids.
    pub(crate) drop_units: &'static str,
    /// Deletes the generation record of run `$2` of each of the ids.
    pub(crate) drop_records: &'static str,
    /// Records run `$2`'s fence of each document (rows: document, its change-log entry just
    /// before the fence's writes, as text, null for none) in `document_change_holds`, replacing
    /// any earlier hold: that entry, and the entry the writes left, as both the fence's and the
    /// run's last own write.
    pub(crate) holds_fenced: &'static str,
    /// After another of run `$2`'s writes of each document (rows: document, its entry just
    /// before the write): the hold's last own write becomes the entry the write left when it
    /// was that entry, and null for good otherwise (someone else changed the document
    /// meanwhile).
    pub(crate) holds_written: &'static str,
    /// Spends run `$2`'s holds of each of the ids.
    pub(crate) holds_spent: &'static str,
}

/// The rows a write transaction reads of every document of its batch, one statement each for
/// the whole batch, `$1` the JSON array of the documents' ids (a statement per document made a
/// batch of 500 documents thousands of round trips). Each reads in document-id order and locks
/// where the backend locks rows ([`Dialect::locked`]), as the one-document reads did, so that
/// concurrent writers still queue instead of deadlocking. Written with [`batch_reads!`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct BatchReads {
    /// How a statement takes the JSON array of ids `$1`, written after the compared value.
    pub(crate) in_ids: &'static str,
    /// Document rows without their bodies: revision, sha256, state, cutting run, active
    /// generation, id.
    pub(crate) heads: ForUpdate,
    /// Document rows for a compare-and-set: the same, then the body or its sha256
    /// ([`Dialect::BODY_HASHING`]), then the id.
    pub(crate) bodies: ForUpdate,
    /// Generation records: document, generation, state; by document and generation.
    pub(crate) generations: ForUpdate,
    /// How many units run `$2`'s generation of each document has, as this statement sees them:
    /// document, count (none for a document without units). Never locks: enact runs it once it
    /// holds the documents' change-log rows, to see a unit inserted and committed while its
    /// read of the units waited (that read's snapshot could not see it, nor lock it).
    pub(crate) staged_counts: &'static str,
    /// Change-log entries: the entry as text, document.
    pub(crate) entries: ForUpdate,
}

/// What the operations must know of a backend that sqlx does not say.
pub(crate) trait Dialect: Engine {
    /// Whether rows a compare-and-set reads are locked (`FOR UPDATE`, see [`Dialect::locked`]):
    /// false where a write transaction already holds the whole database.
    const ROW_LOCKS: bool;

    /// Where the sha256 of a stored body is computed, inside the compare-and-set's transaction.
    const BODY_HASHING: BodyHashing;

    /// Where unit rows carry the transaction that wrote them (PostgreSQL's `xmin`), what lets
    /// enact take write-verify's proof instead of hashing the bodies again
    /// ([`crate::StagedProof`]): for the documents whose ids the JSON array `$1` holds, their
    /// units in generation `$2`, one row per document with units: the document, its count of
    /// units, and whether every one of them was written by a transaction that had ended before
    /// the snapshot `$3` ([`Dialect::CHANGE_MARK`]'s text) was taken, older than every
    /// transaction it saw running. `None` where rows do not tell (SQLite): enact hashes.
    const STAGED_UNCHANGED: Option<&'static str>;

    /// The shape of the bulk reads: the census and the units of a generation.
    const BULK_READS: BulkReads;

    /// A write transaction's reads of its whole batch of documents.
    const BATCH_READS: BatchReads;

    /// A write transaction's writes of its whole batch of documents.
    const BATCH_WRITES: BatchWrites;

    /// The change log's mark as this snapshot sees it (see migration 8), as text: one row, one
    /// text; run first in a census's read transaction (on PostgreSQL it is that snapshot).
    const CHANGE_MARK: &'static str;

    /// The documents the change log says changed in commits the snapshot of mark `$1` (text,
    /// as [`Dialect::CHANGE_MARK`] gave it) could not see, by id: one column, the id; less a
    /// document whose last change is a rollback whose window (migration 10) covers the mark.
    const CHANGED_SINCE: &'static str;

    /// Opens (or replaces) document `$1`'s rollback window (migrations 10 and 11) at its
    /// current entry, from run `$2`'s hold of it (`document_change_holds`), when the hold's
    /// last own write is that entry (nobody else changed the document since the fence) and
    /// the run's backup census, of mark `$3` (text), saw the entry before the fence and not
    /// the fence's: the window covers a mark that saw the one and not the other.
    const OPEN_WINDOW: &'static str;

    /// Whether this database has reached mark `$1` (text, as [`Dialect::CHANGE_MARK`] gave it):
    /// one row, one boolean. False when the change log (SQLite) or the server's transaction ids
    /// (PostgreSQL) are behind the mark: the store was moved or restored since (a logical dump
    /// and restore into another server, an older copy of the file), and the log cannot tell
    /// what changed since the mark (on PostgreSQL it would take the new server's changes for
    /// ones the mark's snapshot saw).
    const MARK_REACHED: &'static str;

    /// What a [`crate::ChangeMark`] of this backend begins with (`sqlite`, `postgres`), before
    /// a `:` and the mark's text.
    const MARK_BACKEND: &'static str;

    /// Whether `mark` is a mark's text as this backend writes one, checked before it reaches
    /// the database.
    fn mark_is_well_formed(mark: &str) -> bool;

    /// Whether the migrations table `$1` (`schema_migrations` in the store's layout) exists: one
    /// row, one boolean.
    const MIGRATIONS_TABLE_EXISTS: &'static str;

    /// Whether a table, view or index `$1` exists where the connection creates its objects: one
    /// row, one boolean.
    const RELATION_EXISTS: &'static str;

    /// The sha256 (lowercase hex) of the text expression `{}`, computed by the server; `None`
    /// where the backend has no sha256 function (SQLite).
    const SQL_SHA256: Option<&'static str>;

    /// The tag of the reader view `$1` (`active_units` in the store's layout): one row, one text
    /// (or none): its stored definition (SQLite keeps the `CREATE VIEW` text), or its comment
    /// (PostgreSQL).
    const READER_VIEW_TAG: &'static str;

    /// Sets the reader view's tag `{}` as its comment; `None` where the stored definition is
    /// the tag.
    const TAG_READER_VIEW: Option<&'static str>;

    /// Creates or replaces the function `source_moved(document, cut_sha256, cut_source_revision)`
    /// the reader view's `stale` calls, whose `{query}` (`$1` to `$3`, one row, one boolean)
    /// compares the source row of `{table}`; `None` where the view reads the source itself
    /// (SQLite, which records no dependency on the source's columns).
    const SOURCE_MOVED_FUNCTION: Option<&'static str>;

    /// Whether the reader view is replaced in place (`CREATE OR REPLACE VIEW`, PostgreSQL: the
    /// grants readers hold on it survive) rather than dropped and created again (SQLite, which
    /// has neither that statement nor grants).
    const REPLACE_VIEW_IN_PLACE: bool;

    /// Run first in each migration's transaction, so that concurrent `init`s queue; `None` where
    /// a write transaction already serialises them.
    const LOCK_MIGRATIONS: Option<&'static str>;

    /// The database's clock, in milliseconds since the Unix epoch: one row, one `BIGINT`.
    const NOW_MS: &'static str;

    /// Sets the lease of run `$1` to holder `$2`, expiring `$3` ms after the database's now;
    /// returns the expiry (`expires_at_ms`).
    const PUT_LEASE: &'static str;

    /// The schema of a source table configured without one (`None`: the connection's own).
    const DEFAULT_SOURCE_SCHEMA: Option<&'static str>;

    /// Appended to a source id cast to text, so that it compares with iu-cutter's ids in their
    /// collation (PostgreSQL ids are `COLLATE "C"`).
    const KEY_COLLATE: &'static str;

    /// The declared type of column `$2` of table `$1` (a quoted name), one row, one text: a
    /// source row is then looked up by its id in the column's own type, using its index; `None`
    /// where a text parameter compares by the column's affinity (SQLite).
    const COLUMN_TYPE: Option<&'static str>;

    /// This backend's text of a migration.
    fn migration_text(migration: &Migration) -> &'static str;

    /// Begins a transaction that will write.
    fn begin_write(
        pool: &Pool<Self>,
    ) -> impl Future<Output = Result<Transaction<'static, Self>, sqlx::Error>> + Send;

    /// Begins a read-only transaction that sees one consistent state.
    fn begin_read(
        pool: &Pool<Self>,
    ) -> impl Future<Output = Result<Transaction<'static, Self>, sqlx::Error>> + Send;

    /// Whether the store's ids compare as UTF-8 bytes, in code point order: a prefix is then a
    /// range of the id index (`after_prefix` in `ops/reads.rs`). A SQLite
    /// file may store its text as UTF-16, which its `BINARY` collation compares as UTF-16 bytes.
    fn ids_compare_as_utf8(
        pool: &Pool<Self>,
    ) -> impl Future<Output = Result<bool, sqlx::Error>> + Send;

    /// Refuses, before anything is written, text this backend cannot store.
    fn check_text(what: &str, text: &str) -> Result<(), AdapterError>;

    /// Inserts or replaces `units` (at most one per key) in the caller's write transaction, in
    /// as few statements as the backend allows; the caller holds their documents' rows.
    fn insert_units(
        conn: &mut Self::Connection,
        units: &[&Unit],
    ) -> impl Future<Output = Result<(), AdapterError>> + Send;

    /// The text of `statement` on this backend: locking its rows when the backend locks rows.
    fn locked(statement: &ForUpdate) -> &'static str {
        if Self::ROW_LOCKS {
            statement.locked
        } else {
            statement.plain
        }
    }
}

/// Where a compare-and-set learns the sha256 of a body as stored (the ownership rules compare
/// it with the recorded one, so an edit by raw SQL is caught).
#[derive(Clone, Copy, Debug)]
pub(crate) enum BodyHashing {
    /// The statements return the body and it is hashed in Rust (SQLite: the body is an
    /// in-process copy, and SQLite has no sha256 function).
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    InRust,
    /// The server hashes the body, which never crosses the wire.
    // Each backend answers with one shape: a build with one driver never constructs the other.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    InServer {
        /// The units in generation `$2` of the documents whose ids the JSON array `$1` holds,
        /// for enact's digests, by document and ordinal: ordinal, unit id, path, part, start,
        /// end, sha256, the sha256 of the body, and the document. Read plain where enact holds
        /// the documents' change-log rows (every write of their units waits for enact in its
        /// change-log trigger), locked where a document has no such row.
        staged_units: ForUpdate,
        /// The units of document `$1` in generation `$2` as digests, by ordinal: ordinal, unit
        /// id, path, part, start, end, sha256, the sha256 of the body, its length in bytes,
        /// and (on every row) the sha256 of the generation's bodies concatenated by ordinal.
        generation_digests: &'static str,
        /// `generation_digests` of the documents whose ids the JSON array `$1` holds, in
        /// generation `$2`, by document and ordinal, each row with its document last.
        generation_digests_of: &'static str,
    },
}

/// The shape of the bulk reads: whichever the backend's driver reads fastest. The digests and
/// units do not depend on it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum BulkReads {
    /// One row per document carrying JSON arrays (SQLite: sqlx's SQLite driver pays a thread hop
    /// and an allocation per column for every row, which made a census of 56,000 units four
    /// times slower than SQLite's own work).
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    Json {
        /// One row per document, by id: id, revision, sha256, state, cutting run, active
        /// generation, its generation records `[[generation, state], …]` and its units' digest
        /// fields `[[generation, ordinal, unit id, path, part, start, end, sha256], …]`.
        census: &'static str,
        /// The census's rows (as `census`) of the documents whose ids the JSON array `$1` holds.
        scope_census: &'static str,
        /// Document `$1`'s units of generation `$2`: one row, one JSON array of
        /// `[ordinal, unit id, path, part, start, end, sha256, body]`.
        generation_units: &'static str,
        /// Document `$1`'s active generation and its units as above; no row for no document.
        active_units: &'static str,
        /// `active_units` of each document whose id the JSON array `$1` holds, with its id
        /// first (id, active generation, units), by id; no row for a document without an
        /// active generation.
        active_units_of: &'static str,
    },
    /// Ordered rows (PostgreSQL streams rows cheaply and reads each table in primary-key order;
    /// building JSON per unit cost it more than it saved).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Rows {
        /// The census's documents, bytewise by id: id, revision, sha256, state, cutting run,
        /// active generation.
        census_documents: &'static str,
        /// The census's generation records by document and generation: document, generation,
        /// state.
        census_generations: &'static str,
        /// The census's units' digest fields (no bodies) by document, generation and ordinal:
        /// document, generation, ordinal, unit id, path, part, start, end, sha256.
        census_units: &'static str,
        /// `census_documents`, `census_generations` and `census_units` restricted to the
        /// documents whose ids the JSON array `$1` holds, in the same orders.
        scope_census: [&'static str; 3],
        /// Document `$1`'s units of generation `$2`, by ordinal, every column.
        generation_units: &'static str,
        /// Document `$1`'s units of its active generation, by ordinal, every column.
        active_units: &'static str,
        /// `active_units` of each document whose id the JSON array `$1` holds, by document
        /// and ordinal.
        active_units_of: &'static str,
    },
}

/// A statement that reads rows its write transaction depends on, as written and with a row
/// lock (`FOR UPDATE`, written with [`for_update!`]; or `FOR SHARE`, spelled out, where others
/// may read the rows alongside); [`Dialect::locked`] picks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ForUpdate {
    plain: &'static str,
    locked: &'static str,
}

impl ForUpdate {
    /// `plain` and its locking form (what [`for_update!`] gives).
    pub(crate) const fn new(plain: &'static str, locked: &'static str) -> Self {
        ForUpdate { plain, locked }
    }

    /// The statement as written, without locks: for reads outside a write transaction.
    pub(crate) const fn plain(&self) -> &'static str {
        self.plain
    }
}

/// `for_update!("SELECT …", …)`: a [`ForUpdate`] from one text, or pieces of it to concatenate.
macro_rules! for_update {
    ($($sql:literal),+ $(,)?) => {
        $crate::sql::dialect::ForUpdate::new(concat!($($sql),+), concat!($($sql,)+ " FOR UPDATE"))
    };
}
pub(crate) use for_update;
