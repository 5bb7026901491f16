//! The application's table as a source of documents ([`SourceMapping`]): the statements built
//! from the mapping once, when the store opens (after the database has checked the table, the
//! columns and the filter); `sync_source`, which brings iu-cutter's tracking copies up to date;
//! and the check enact runs inside its transaction, that the source row is still the one the run
//! cut. Nothing here writes the source: every statement on it is a `SELECT`.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::TryStreamExt;
use sqlx::Pool;

use crate::adapter::AdapterResult;
use crate::census::sha256_hex;
use crate::domain::{DocumentId, DocumentState, Scope, shard_of};
use crate::error::{AdapterError, UnavailableKind};
use crate::source::{SourceMapping, SyncReport};
use crate::sql::codec::{self, to_db};
use crate::sql::dialect::{Dialect, ForUpdate, for_update};
use crate::sql::error::sql;
use crate::sql::layout;
use crate::sql::migrations::READER_VIEW_SELECT;
use crate::sql::ops::census::ids_json;
use crate::sql::ops::documents::{Current, current_from_row};
use crate::sql::ops::reads::after_prefix;
use crate::sql::query::{Fields, Query};

/// The PostgreSQL types a body may have, as `format_type` names them.
const TEXT_TYPES: [&str; 3] = ["text", "character varying", "character"];

/// Source rows written per transaction by a sync: bounds its memory and its locks.
const SYNC_BATCH: usize = 500;

/// The statements of one mapping, built from validated identifiers (each quoted) and the
/// validated filter; every value stays a parameter.
#[derive(Clone, Debug)]
pub(crate) struct SourceSql {
    /// The table as configured, for messages.
    table: String,
    /// The columns every scan reads: id as text, body, revision as text (or NULL), metadata.
    columns: String,
    /// `FROM … AS s`.
    from: String,
    /// The filter, parenthesised, or `TRUE`.
    filter: String,
    /// `s."id"` as text, in iu-cutter's key collation.
    id_text: String,
    /// What a scope narrows the source's rows by ([`Narrowing::of_source`]).
    narrowing: Narrowing,
    /// `s."revision"` as text, when there is a revision column.
    revision_text: Option<String>,
    /// The metadata columns' names, in order.
    metadata: Vec<String>,
    /// The one row with id `$1` (found in the column's own type, kept if its id reads exactly
    /// as `$1`): revision as text (or NULL) and body.
    one: String,
    /// The reader view's definition, its `stale` also comparing the source row itself.
    view: String,
    /// The function the view calls to compare the source row, where the backend has one
    /// (created before the view).
    function: Option<String>,
    /// The tracked documents with no row in the source (narrowed to a scope, then ordered by
    /// id).
    gone: String,
    /// The ids of the selected rows (narrowed to a scope, then grouped to find one id that more
    /// than one row has).
    duplicate: String,
}

/// The row of document `$1` in iu-cutter's table with what a sync compares, locked.
const TRACKED: ForUpdate = for_update!(
    "SELECT revision, sha256, state, cutting_run, active_generation, source_revision, metadata \
     FROM documents WHERE id = $1"
);

fn quote(name: &str) -> String {
    // Identifiers are validated plain (letters, digits, `_`): quoting keeps their case and
    // makes reserved words harmless.
    format!("\"{name}\"")
}

/// Checks the mapping against the database (the table, the columns and the filter, in a
/// statement that reads no row) and builds its statements.
pub(crate) async fn prepare<D: Dialect>(
    pool: &Pool<D>,
    mapping: &SourceMapping,
) -> AdapterResult<SourceSql> {
    mapping.validate()?;
    let names = Names::of::<D>(mapping);
    let mut conn = pool.acquire().await.map_err(sql("reading the source"))?;
    let probe = format!(
        "SELECT {} {} WHERE {} LIMIT 0",
        names.columns.join(", "),
        names.from,
        names.filter
    );
    Query::<D>::built(probe)
        .fetch_all(&mut conn)
        .await
        .map_err(|error| {
            AdapterError::unavailable(
                UnavailableKind::Source,
                format!("the source {mapping} cannot be read: {error}"),
            )
        })?;
    let (key, revision_matches, id_type) = match D::COLUMN_TYPE {
        Some(statement) => typed_key::<D>(&mut conn, statement, mapping, &names).await?,
        None => (affinity_key::<D>(&mut conn, mapping).await?, None, None),
    };
    let integer = id_type.as_deref().and_then(IntegerId::of);
    Ok(names.statements::<D>(mapping, key, revision_matches, integer))
}

/// The pieces of SQL every statement on the source is built from.
struct Names {
    table_sql: String,
    from: String,
    filter: String,
    id_text: String,
    revision_text: Option<String>,
    columns: Vec<String>,
}

/// `s."name"`.
fn column(name: &str) -> String {
    format!("s.{}", quote(name))
}

/// `CAST(s."name" AS TEXT)`.
fn as_text(name: &str) -> String {
    format!("CAST({} AS TEXT)", column(name))
}

impl Names {
    fn of<D: Dialect>(mapping: &SourceMapping) -> Names {
        let table: Vec<String> = mapping
            .schema_and_table(D::DEFAULT_SOURCE_SCHEMA)
            .into_iter()
            .map(quote)
            .collect();
        let table_sql = table.join(".");
        let id_text = format!("{}{}", as_text(&mapping.id), D::KEY_COLLATE);
        let revision_text = mapping.revision.as_deref().map(as_text);
        let mut columns = vec![
            id_text.clone(),
            column(&mapping.body),
            revision_text.clone().unwrap_or_else(|| "NULL".to_owned()),
        ];
        columns.extend(mapping.metadata.iter().map(|name| as_text(name)));
        // The application's SQL: kept as written when the statements are laid out.
        let filter = match &mapping.filter {
            Some(filter) => format!("({})", layout::verbatim(filter)),
            None => "TRUE".to_owned(),
        };
        Names {
            from: format!("FROM {table_sql} AS s"),
            table_sql,
            filter,
            id_text,
            revision_text,
            columns,
        }
    }

    /// The statements, given how a row is found by id (`key`, with `$1`), how a recorded
    /// revision is compared (`revision_matches`; as text when `None`) and whether the id column
    /// is of an integer type (`integer`, PostgreSQL only).
    fn statements<D: Dialect>(
        self,
        mapping: &SourceMapping,
        key: String,
        revision_matches: Option<String>,
        integer: Option<IntegerId>,
    ) -> SourceSql {
        let Names {
            from,
            filter,
            id_text,
            revision_text,
            columns,
            ..
        } = self;
        let body = column(&mapping.body);
        let one = format!(
            "SELECT {}, {body} {from} WHERE {key} AND {filter}",
            revision_text.clone().unwrap_or_else(|| "NULL".to_owned()),
        );
        // The source row that still matches what the active generation was cut from: its
        // revision when there is a revision column, else its body's sha256 where the server can
        // hash it. A NULL revision matches a NULL recorded one (`=` alone made it stale
        // forever), then the body tells, where the server can hash it.
        let body_as_cut =
            D::SQL_SHA256.map(|hash| format!("{} = g.cut_sha256", hash.replace("{}", &body)));
        let same_as_cut = match &revision_text {
            Some(revision) => Some(format!(
                "({} OR ({revision} IS NULL AND g.cut_source_revision IS NULL{}))",
                revision_matches.unwrap_or_else(|| format!("{revision} = g.cut_source_revision")),
                body_as_cut
                    .map(|same| format!(" AND {same}"))
                    .unwrap_or_default()
            )),
            None => body_as_cut,
        };
        let (view, function) = reader_view::<D>(&from, &filter, &key, same_as_cut, mapping);
        // PostgreSQL joins on the id as text (a hash join, O(documents + rows)): a cast of each
        // tracked id to the column's type could fail on an id the source never had. SQLite
        // compares a text id with an integer column by the column's affinity, using its index.
        // An integer id column is probed through its index by each tracked id that reads as
        // one of its values (a nested loop over the scope's documents, not the whole table).
        let matches_document = match (D::COLUMN_TYPE, integer) {
            (Some(_), Some(integer)) => format!(
                "({} = {} AND {id_text} = d.id)",
                column(&mapping.id),
                integer.cast_of("d.id")
            ),
            (Some(_), None) => format!("{id_text} = d.id"),
            (None, _) => key.replace("$1", "d.id"),
        };
        let narrowing = Narrowing::of_source::<D>(&mapping.id, integer);
        SourceSql {
            table: mapping.table.clone(),
            columns: columns.join(", "),
            gone: format!(
                "SELECT d.id FROM documents AS d WHERE NOT EXISTS (SELECT 1 {from} WHERE \
                 {matches_document} AND {filter})"
            ),
            duplicate: format!("SELECT {id_text} {from} WHERE {filter}"),
            from,
            filter,
            id_text,
            narrowing,
            revision_text,
            metadata: mapping.metadata.clone(),
            one,
            view,
            function,
        }
    }
}

/// The reader view whose `stale` also compares each document's source row with what its active
/// generation was cut from (`same_as_cut`, naming `g.cut_sha256` and `g.cut_source_revision`),
/// and the function that reads the source for it, where the backend has one.
///
/// SQLite reads the source in the view itself. PostgreSQL would then record the view as
/// depending on the source's columns and refuse the application's own `ALTER TABLE` on them, so
/// the view calls a function of iu-cutter's schema (`source_moved`) that reads the source by a
/// statement it only builds when called (dynamic SQL: no dependency), once per document
/// (a lateral subquery over the document, not its units) and only when the copy itself has not
/// moved.
fn reader_view<D: Dialect>(
    from: &str,
    filter: &str,
    key: &str,
    same_as_cut: Option<String>,
    mapping: &SourceMapping,
) -> (String, Option<String>) {
    let plain = READER_VIEW_SELECT;
    let Some(same) = same_as_cut else {
        return (format!("CREATE VIEW active_units AS\n{plain}"), None);
    };
    let Some(template) = D::SOURCE_MOVED_FUNCTION else {
        let moved = format!(
            " OR NOT EXISTS (SELECT 1 {from} WHERE {} AND {filter} AND {same})",
            key.replace("$1", "d.id")
        );
        let select = plain.replace(
            "ELSE d.sha256 <> g.cut_sha256 END",
            &format!("ELSE d.sha256 <> g.cut_sha256{moved} END"),
        );
        return (format!("CREATE VIEW active_units AS\n{select}"), None);
    };
    let same = same
        .replace("g.cut_sha256", "$2")
        .replace("g.cut_source_revision", "$3");
    let query = format!("SELECT NOT EXISTS (SELECT 1 {from} WHERE {key} AND {filter} AND {same})");
    let function = template
        .replace("{table}", &mapping.table)
        .replace("{query}", &query);
    // Both subqueries are fenced (`OFFSET 0`) so that neither is merged into the join: the
    // units' then depends on the document's, which the planner must therefore compute first,
    // once per document (merged, it computed `stale` once per unit).
    let select = plain.replace(STALE, "m.stale").replace(
        UNITS_JOIN,
        "\n  CROSS JOIN LATERAL (SELECT CASE WHEN g.cut_sha256 IS NULL THEN d.state = 'ready'\n\
         \x20                                  WHEN d.sha256 <> g.cut_sha256 THEN TRUE\n\
         \x20                                  ELSE source_moved(d.id, g.cut_sha256,\n\
         \x20                                                    g.cut_source_revision) END\n\
         \x20                               AS stale OFFSET 0) m\n\
         \x20 CROSS JOIN LATERAL (SELECT u.* FROM units u\n\
         \x20                      WHERE u.document = d.id AND u.generation = d.active_generation\n\
         \x20                        AND m.stale IS NOT NULL OFFSET 0) u",
    );
    (
        format!("CREATE VIEW active_units AS\n{select}"),
        Some(function),
    )
}

/// How migration 7's reader view joins the units.
const UNITS_JOIN: &str =
    "\n  JOIN units u ON u.document = d.id AND u.generation = d.active_generation";

/// The reader contract's `stale` as migration 7 computes it.
const STALE: &str = "CASE WHEN g.cut_sha256 IS NULL THEN d.state = 'ready'
            ELSE d.sha256 <> g.cut_sha256 END";

/// PostgreSQL: a row is found by its id in the column's own type (using its index), and a
/// recorded revision compared in the revision column's type (a `timestamptz` as text depends on
/// the reading session's time zone); a body that is not text is refused by name. The types'
/// names come from the database's catalog (`format_type`), not input.
async fn typed_key<D: Dialect>(
    conn: &mut D::Connection,
    statement: &'static str,
    mapping: &SourceMapping,
    names: &Names,
) -> AdapterResult<(String, Option<String>, Option<String>)> {
    let what = "reading the types of the source's columns";
    let mut declared = async |name: &str| -> AdapterResult<String> {
        let query = D::query(statement)
            .bind(names.table_sql.clone())
            .bind(name.to_owned());
        let row = query.fetch_one(&mut *conn).await.map_err(sql(what))?;
        row.text(0).map_err(sql(what))
    };
    let id_type = declared(&mapping.id).await?;
    let body_type = declared(&mapping.body).await?;
    if !TEXT_TYPES.iter().any(|t| body_type.starts_with(t)) {
        return Err(AdapterError::unavailable(
            UnavailableKind::Source,
            format!(
                "[source] body `{}` of {} is of type {body_type}: the body must be a text column \
                 (text, varchar or char)",
                mapping.body, mapping.table
            ),
        ));
    }
    let revision_matches = match &mapping.revision {
        Some(revision) => {
            let revision_type = declared(revision).await?;
            Some(format!(
                "{} = CAST(g.cut_source_revision AS {revision_type})",
                column(revision)
            ))
        }
        None => None,
    };
    // Found through the column's index in its own type (an integer one as `bigint`,
    // [`IntegerId::of`]) and collation, then kept only if its id reads exactly as the one asked
    // for: in a case-insensitive (non-deterministic) collation, `id = $1` also finds the rows
    // whose ids differ only in case, which the sync tracks as documents of their own.
    let compared = IntegerId::of(&id_type).map_or(id_type.as_str(), |integer| integer.name);
    let key = format!(
        "({} = CAST($1 AS {compared}) AND {} = $1)",
        column(&mapping.id),
        names.id_text
    );
    Ok((key, revision_matches, Some(id_type)))
}

/// SQLite: a text id finds an integer by the column's affinity, using its index; a column
/// declared without a type has none, so the id is looked up as text and as a number there.
async fn affinity_key<D: Dialect>(
    conn: &mut D::Connection,
    mapping: &SourceMapping,
) -> AdapterResult<String> {
    let what = "reading the type of the source's id column";
    let table = mapping.table.rsplit('.').next().unwrap_or_default();
    let declared =
        D::query("SELECT type FROM pragma_table_info($1) WHERE name = $2 COLLATE NOCASE")
            .bind(table.to_owned())
            .bind(mapping.id.clone())
            .fetch_optional(conn)
            .await
            .map_err(sql(what))?;
    let untyped = match declared {
        Some(row) => row.str(0).map_err(sql(what))?.is_empty(),
        None => false,
    };
    // Kept only if the id reads exactly as the one asked for (`COLLATE BINARY`: a cast keeps
    // the column's collation, and in `COLLATE NOCASE` `id = $1` also finds the rows whose ids
    // differ only in case, which a sync of a long list of ids tracks as documents of their own).
    let exact = format!("{} = $1 COLLATE BINARY", as_text(&mapping.id));
    let id = column(&mapping.id);
    Ok(if untyped {
        // Found through the column's index by its value as either type, then kept only if it
        // reads as the id asked for: `CAST(id AS TEXT) = $1` alone is served by no index, and
        // each lookup scanned the table (once per document: a run quadratic in its size).
        // `CAST($1 AS NUMERIC)` of a non-number is 0, which the text comparison then refuses.
        format!("({id} IN ($1, CAST($1 AS NUMERIC)) AND {exact})")
    } else {
        format!("({id} = $1 AND {exact})")
    })
}

/// One source row as a sync reads it.
struct SourceRow {
    id: DocumentId,
    body: String,
    revision: Option<String>,
    metadata: Option<String>,
}

/// What narrows a scan of a scope in SQL: its prefix, or the ids it names (a shard's, its
/// base's), so that a run reads the source rows of its scope, never every row of the table.
enum Narrow<'a> {
    Nothing,
    Prefix(&'a str),
    Ids(&'a [DocumentId]),
}

fn narrow(scope: &Scope) -> Narrow<'_> {
    match scope {
        Scope::All => Narrow::Nothing,
        Scope::Prefix(prefix) => Narrow::Prefix(prefix),
        Scope::Ids(ids) => Narrow::Ids(ids),
        Scope::Shard { base, .. } => narrow(base),
    }
}

/// Membership in a scope whose list of ids, if it names one, is looked up as a set (the list's
/// own `contains`, once per row read, made a sync of many ids quadratic).
struct Members<'a> {
    scope: &'a Scope,
    named: Option<BTreeSet<&'a DocumentId>>,
}

impl<'a> Members<'a> {
    fn of(scope: &'a Scope) -> Self {
        let named = match narrow(scope) {
            Narrow::Ids(ids) => Some(ids.iter().collect()),
            _ => None,
        };
        Members { scope, named }
    }

    fn contains(&self, id: &DocumentId) -> bool {
        self.within(self.scope, id)
    }

    /// Whether the scope is the whole store (a row with no id is then in it, and refused).
    fn all(&self) -> bool {
        *self.scope == Scope::All
    }

    fn within(&self, scope: &Scope, id: &DocumentId) -> bool {
        match scope {
            Scope::Ids(_) => self.named.as_ref().is_some_and(|named| named.contains(id)),
            Scope::Shard { base, index, count } => {
                *count > 0 && shard_of(id, *count) == *index && self.within(base, id)
            }
            other => other.contains(id),
        }
    }

    /// The ids the statements bind, as one JSON array: the scope's, each once, however many
    /// (the statements find them through the id column's index, [`Narrowing::of_source`]: a
    /// list left out of them, over 1,000 ids, read every row of the table and was refused by
    /// rows it does not name); `None` for a scope that names none.
    fn listed(&self) -> AdapterResult<Option<String>> {
        self.named
            .as_ref()
            .map(|named| ids_json(named.iter().copied()))
            .transpose()
    }
}

/// The scan of the source rows in `scope` (the ids of `part`, for a scope naming ids); with a
/// revision column, only the rows whose revision differs from the tracking copy's (or that have
/// none).
fn scan<'a, D: Dialect>(
    source: &SourceSql,
    scope: &'a Scope,
    every_row: bool,
    part: Option<&'a str>,
) -> Query<'a, D> {
    let mut statement = format!("SELECT {} {}", source.columns, source.from);
    if let Some(revision) = source.revision_text.as_ref().filter(|_| !every_row) {
        // A subquery, not a join: the filter's unqualified names (`id`, `state`, …) must
        // resolve to the source's columns only, never be ambiguous with iu-cutter's.
        statement.push_str(&format!(
            " WHERE {} AND NOT EXISTS (SELECT 1 FROM documents AS d WHERE d.id = {} AND \
             d.source_revision = {revision})",
            source.filter, source.id_text
        ));
    } else {
        statement.push_str(&format!(" WHERE {}", source.filter));
    }
    narrowed(statement, &source.narrowing, scope, part, "")
}

/// How a statement is narrowed to a scope: by an id's text (`prefix`, for a prefix; a range of
/// it when `bytewise`) and by a condition that holds for the ids of the JSON array `$1` (`ids`).
#[derive(Clone, Debug)]
struct Narrowing {
    prefix: String,
    bytewise: bool,
    ids: String,
}

impl Narrowing {
    /// By `column`, an id as text, compared with each id of the array.
    fn by_text<D: Dialect>(column: String) -> Self {
        Narrowing {
            ids: format!("{column} {}", D::BATCH_READS.in_ids),
            prefix: column,
            bytewise: false,
        }
    }

    /// By `column`, one of iu-cutter's document ids, which compare bytewise on both backends:
    /// a prefix is a range of its index ([`after_prefix`]), where `substr` read every document.
    fn by_key<D: Dialect>(column: String) -> Self {
        Narrowing {
            bytewise: true,
            ..Narrowing::by_text::<D>(column)
        }
    }

    /// The source's rows, by the id column `id`: as text in the column's own collation (an
    /// explicit collation stops PostgreSQL using a text id column's index), and first by the
    /// column's values among the ids, through its index, where the text alone is served by none:
    /// on PostgreSQL an integer column's values (the ids that read as none of them are left out,
    /// as the text comparison would); on SQLite each id as text and as a number, which the
    /// column's affinity compares as it stores them (an untyped column stores either). Compared
    /// as text alone, every run of named ids read the whole table.
    fn of_source<D: Dialect>(id: &str, integer: Option<IntegerId>) -> Self {
        let text = Narrowing::by_text::<D>(as_text(id));
        let by_value = match (D::COLUMN_TYPE, integer) {
            (Some(_), Some(integer)) => format!(
                "{} = ANY (ARRAY(SELECT {} FROM json_array_elements_text(CAST($1 AS json)) AS x \
                 WHERE {}))",
                column(id),
                integer.cast("x"),
                integer.holds("x"),
            ),
            (Some(_), None) => return text,
            // The list is wrapped in a subquery of its own: SQLite probes the index by a plain
            // one, but scans the table for a compound one.
            (None, _) => format!(
                "{} IN (SELECT v FROM (SELECT value AS v FROM json_each($1) UNION ALL \
                 SELECT CAST(value AS NUMERIC) FROM json_each($1)))",
                column(id)
            ),
        };
        Narrowing {
            ids: format!("{by_value} AND {}", text.ids),
            ..text
        }
    }
}

/// The integer type a PostgreSQL id column of any integer type is compared in, with its range:
/// what an id (text) is cast to only when it reads as one of its values, since a cast of any
/// other id would fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct IntegerId {
    name: &'static str,
    min: &'static str,
    max: &'static str,
}

impl IntegerId {
    /// `bigint`, when `declared` (as the catalog's `format_type` names it) is an integer type.
    /// The column's index serves a comparison with a `bigint` whatever its own integer type,
    /// and the statements are built once, when the store opens: compared in the declared type,
    /// a column the application widened since (`ALTER … TYPE BIGINT`) lost the rows beyond the
    /// old range, and enact's check failed casting their ids.
    fn of(declared: &str) -> Option<Self> {
        ["smallint", "integer", "bigint"]
            .contains(&declared)
            .then_some(IntegerId {
                name: "bigint",
                min: "-9223372036854775808",
                max: "9223372036854775807",
            })
    }

    /// Whether the text `value` reads as a value of the type, written as PostgreSQL writes it
    /// (digits, an optional minus sign; no other spelling matches its text anyway). `CASE`
    /// orders the checks: a condition's parts may be evaluated in any order.
    fn holds(self, value: &str) -> String {
        format!(
            "CASE WHEN {value} ~ '^-?[0-9]{{1,19}}$' THEN CAST({value} AS numeric) BETWEEN {} \
             AND {} ELSE FALSE END",
            self.min, self.max
        )
    }

    /// `value` (text that [`holds`](Self::holds)) as the type.
    fn cast(self, value: &str) -> String {
        format!("CAST({value} AS {})", self.name)
    }

    /// `value` as the type when it reads as one of its values, else NULL (which equals nothing).
    fn cast_of(self, value: &str) -> String {
        format!(
            "CASE WHEN {} THEN {} END",
            self.holds(value),
            self.cast(value)
        )
    }
}

/// `statement` (ending in a `WHERE` condition) narrowed to `scope` by `by`: its prefix, or the
/// ids of `part` for a scope naming ids; then `tail`.
fn narrowed<'a, D: Dialect>(
    mut statement: String,
    by: &Narrowing,
    scope: &'a Scope,
    part: Option<&'a str>,
    tail: &str,
) -> Query<'a, D> {
    let query = match (narrow(scope), part) {
        (Narrow::Prefix(prefix), _) if by.bytewise => {
            let column = &by.prefix;
            let after = after_prefix(prefix);
            let before = match after {
                Some(_) => format!(" AND {column} < $2"),
                None => String::new(),
            };
            statement.push_str(&format!(" AND {column} >= $1{before}{tail}"));
            let query = Query::built(statement).bind(prefix);
            return match after {
                Some(after) => query.bind(after),
                None => query,
            };
        }
        (Narrow::Prefix(prefix), _) => {
            let length = prefix.chars().count();
            let column = &by.prefix;
            statement.push_str(&format!(" AND substr({column}, 1, {length}) = $1{tail}"));
            return Query::built(statement).bind(prefix);
        }
        (Narrow::Ids(_), Some(ids)) => {
            statement.push_str(&format!(" AND {}{tail}", by.ids));
            return Query::built(statement).bind(ids);
        }
        _ => statement + tail,
    };
    Query::built(query)
}

/// The id of a source row as text (`None` for NULL); one that is not UTF-8 text (SQLite stores
/// any bytes) is the row's fault, named as such.
fn source_id(row: &impl Fields, source: &SourceSql) -> AdapterResult<Option<String>> {
    row.opt_text(0).map_err(|error| {
        AdapterError::Invalid(format!(
            "a row of {} has an id that is not UTF-8 text ({error}); fix it or exclude it with \
             [source] where",
            source.table
        ))
    })
}

fn source_row(row: &impl Fields, source: &SourceSql) -> AdapterResult<SourceRow> {
    let what = "reading a source row";
    let id = source_id(row, source)?.ok_or_else(|| {
        AdapterError::Invalid(format!(
            "a row of {} has a NULL id; exclude it with [source] where",
            source.table
        ))
    })?;
    DocumentId::check(&id).map_err(|why| {
        AdapterError::Invalid(format!(
            "row `{id}` of {}: {why}; exclude it with [source] where",
            source.table
        ))
    })?;
    let body = row.opt_text(1).map_err(|error| {
        AdapterError::Invalid(format!(
            "row `{id}` of {}: its body cannot be read as UTF-8 text ({error}); fix the row or \
             exclude it with [source] where",
            source.table
        ))
    })?;
    let body = body.ok_or_else(|| {
        AdapterError::Invalid(format!(
            "row `{id}` of {} has a NULL body; fix it or exclude it with [source] where",
            source.table
        ))
    })?;
    let revision = row.opt_text(2).map_err(sql(what))?;
    let metadata = if source.metadata.is_empty() {
        None
    } else {
        let mut fields = BTreeMap::new();
        for (index, name) in source.metadata.iter().enumerate() {
            let value = row.opt_text(3 + index).map_err(sql(what))?;
            fields.insert(name.as_str(), value);
        }
        Some(serde_json::to_string(&fields).map_err(|e| AdapterError::Invalid(e.to_string()))?)
    };
    Ok(SourceRow {
        id: DocumentId::new(id),
        body,
        revision,
        metadata,
    })
}

/// Brings the tracking copies of `scope`'s source rows up to date (see the trait), reading the
/// source in one snapshot and writing [`SYNC_BATCH`] rows per transaction.
pub(crate) async fn sync_source<D: Dialect>(
    pool: &Pool<D>,
    source: Option<&SourceSql>,
    scope: &Scope,
    every_row: bool,
) -> AdapterResult<SyncReport> {
    let source = source.ok_or_else(|| {
        AdapterError::Invalid(
            "this store has no [source] mapping: its documents are imported (iu-cutter import)"
                .to_owned(),
        )
    })?;
    let what = "reading the source";
    let mut reader = D::begin_read(pool).await.map_err(sql(what))?;
    let members = Members::of(scope);
    let listed = members.listed()?;
    let part = listed.as_deref();
    refuse_duplicates::<D>(&mut reader, source, scope, part).await?;
    let mut report = SyncReport::default();
    let mut batch = Vec::with_capacity(SYNC_BATCH);
    let mut rows = scan::<D>(source, scope, every_row, part).fetch(&mut reader);
    while let Some(row) = rows.try_next().await.map_err(sql(what))? {
        // A row outside the scope is not read further: its faults are not this run's.
        let id = source_id(&row, source)?;
        if !members.all() && id.is_none_or(|id| !members.contains(&DocumentId::new(id))) {
            continue;
        }
        let row = source_row(&row, source)?;
        D::check_text("a document body", &row.body)?;
        batch.push(row);
        if batch.len() == SYNC_BATCH {
            write_batch::<D>(pool, &batch, &mut report).await?;
            batch.clear();
        }
    }
    drop(rows);
    reader.commit().await.map_err(sql(what))?;
    write_batch::<D>(pool, &batch, &mut report).await?;
    let mut conn = pool.acquire().await.map_err(sql(what))?;
    let statement = source.gone.clone();
    let by_document = if D::ids_compare_as_utf8(pool).await.map_err(sql(what))? {
        Narrowing::by_key::<D>("d.id".to_owned())
    } else {
        Narrowing::by_text::<D>("d.id".to_owned())
    };
    let gone = narrowed::<D>(statement, &by_document, scope, part, " ORDER BY d.id")
        .fetch_all(&mut conn)
        .await
        .map_err(sql(what))?;
    for row in gone {
        let id = DocumentId::new(row.text(0).map_err(sql(what))?);
        if members.contains(&id) {
            report.gone.push(id);
        }
    }
    Ok(report)
}

/// Refuses a scope two of whose rows have one id: they would overwrite each other's copy, then
/// look like an application edit at enact; refused by name, before anything is written. Among
/// the scope's rows only: another id's duplicates are not this run's, and finding them cost the
/// whole table.
async fn refuse_duplicates<D: Dialect>(
    reader: &mut D::Connection,
    source: &SourceSql,
    scope: &Scope,
    part: Option<&str>,
) -> AdapterResult<()> {
    let what = "reading the source";
    let statement = source.duplicate.clone();
    let grouped = format!(" GROUP BY {} HAVING count(*) > 1 LIMIT 1", source.id_text);
    let duplicate = match narrowed::<D>(statement, &source.narrowing, scope, part, &grouped)
        .fetch_optional(&mut *reader)
        .await
        .map_err(sql(what))?
    {
        Some(row) => Some(row.text(0).map_err(sql(what))?),
        None => None,
    };
    match duplicate {
        Some(id) => Err(AdapterError::Invalid(format!(
            "more than one row of {} has the id `{id}` (duplicate ids): iu-cutter needs one row \
             per document; make the id column unique, or exclude the duplicates with [source] \
             where; nothing was synced or cut",
            source.table
        ))),
        None => Ok(()),
    }
}

async fn write_batch<D: Dialect>(
    pool: &Pool<D>,
    batch: &[SourceRow],
    report: &mut SyncReport,
) -> AdapterResult<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let what = "writing the tracking copies of source rows";
    // In id order, not the scan's (the table's own order): each copy's row is locked as it is
    // written, and writers that lock in one order queue instead of deadlocking (a fence, an
    // enact and a rollback lock in id order too).
    let mut in_order: Vec<&SourceRow> = batch.iter().collect();
    in_order.sort_by(|a, b| a.id.cmp(&b.id));
    let mut tx = D::begin_write(pool).await.map_err(sql(what))?;
    for row in in_order {
        report.read += 1;
        let tracked = D::query(D::locked(&TRACKED))
            .bind(row.id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(sql(what))?;
        let sha256 = sha256_hex(row.body.as_bytes());
        let Some(tracked) = tracked else {
            let insert = D::query(
                "INSERT INTO documents (id, revision, sha256, state, cutting_run, \
                 active_generation, body, source_revision, metadata) \
                 VALUES ($1, 1, $2, 'ready', NULL, NULL, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
            )
            .bind(row.id.as_str())
            .bind(sha256.as_str())
            .bind(row.body.as_str());
            with_source_fields(insert, row, &mut tx, what).await?;
            report.added += 1;
            continue;
        };
        let current = current_from_row(&tracked)?;
        let recorded_revision = tracked.opt_text(5).map_err(sql(what))?;
        let recorded_metadata = tracked.opt_text(6).map_err(sql(what))?;
        if current.sha256 != sha256 {
            write_changed::<D>(&mut tx, row, &current, &sha256).await?;
            report.changed += 1;
            if row.revision.is_some() && recorded_revision == row.revision {
                report.silent += 1;
            }
        } else if recorded_revision != row.revision || recorded_metadata != row.metadata {
            write_touched::<D>(&mut tx, row, &current, recorded_revision.as_deref()).await?;
            report.touched += 1;
        } else {
            report.unchanged += 1;
        }
    }
    tx.commit().await.map_err(sql(what))
}

/// A source row whose body is unchanged but whose revision or metadata moved.
///
/// A moved revision makes the reader view's `stale` true (it compares the row's revision with
/// the one the active units were cut from), so a cut document goes back to `Ready`: `run
/// --stale`, which cuts the `Ready` ones, then clears it. A change of metadata alone leaves
/// `stale` false (the view reads the metadata from the copy). A document a run holds fenced
/// keeps the revision that run saw: recorded now, the run's rollback would put the document
/// back to `Cut` on units cut from the older revision, shown stale by the view but never
/// requeued (no later sync would find the revision moved), and its enact would pass the check
/// that the application did not edit the row during the run. Left as it is, the next sync after
/// the run requeues it, and the enact refuses it as every moved revision is refused.
async fn write_touched<D: Dialect>(
    conn: &mut D::Connection,
    row: &SourceRow,
    current: &Current,
    recorded_revision: Option<&str>,
) -> AdapterResult<()> {
    let what = "writing the tracking copy of a source row";
    let moved = recorded_revision != row.revision.as_deref();
    if moved && matches!(current.state, DocumentState::Cutting { .. }) {
        D::query("UPDATE documents SET metadata = $2 WHERE id = $1")
            .bind(row.id.as_str())
            .bind(row.metadata.as_deref())
            .execute(conn)
            .await
            .map_err(sql(what))?;
        return Ok(());
    }
    let update = D::query(if moved && current.state == DocumentState::Cut {
        "UPDATE documents SET source_revision = $2, metadata = $3, state = 'ready' WHERE id = $1"
    } else {
        "UPDATE documents SET source_revision = $2, metadata = $3 WHERE id = $1"
    })
    .bind(row.id.as_str());
    with_source_fields(update, row, conn, what).await
}

/// A changed body, written as `put_documents` writes one: the revision bumped, and the
/// document back to `Ready` unless a run holds it (that run's enact then fails its
/// compare-and-set on the revision).
async fn write_changed<D: Dialect>(
    conn: &mut D::Connection,
    row: &SourceRow,
    current: &Current,
    sha256: &str,
) -> AdapterResult<()> {
    let state = match &current.state {
        DocumentState::Cutting { run } => DocumentState::Cutting { run: run.clone() },
        DocumentState::Ready | DocumentState::Cut => DocumentState::Ready,
    };
    let (state, cutting_run) = codec::document_state(&state);
    let update = D::query(
        "UPDATE documents SET revision = $2, sha256 = $3, body = $4, state = $5, \
         cutting_run = $6, source_revision = $7, metadata = $8 WHERE id = $1",
    )
    .bind(row.id.as_str())
    .bind(to_db(current.revision + 1, "revision")?)
    .bind(sha256)
    .bind(row.body.as_str())
    .bind(state)
    .bind(cutting_run);
    with_source_fields(
        update,
        row,
        conn,
        "writing the tracking copy of a source row",
    )
    .await
}

/// Binds a source row's revision and metadata as the statement's last two parameters, and runs
/// it: every write of a tracking copy records them.
async fn with_source_fields<D: Dialect>(
    statement: Query<'_, D>,
    row: &SourceRow,
    conn: &mut D::Connection,
    what: &'static str,
) -> AdapterResult<()> {
    statement
        .bind(row.revision.as_deref())
        .bind(row.metadata.as_deref())
        .execute(conn)
        .await
        .map_err(sql(what))?;
    Ok(())
}

/// Refuses to enact `document` unless its source row is still the one the run cut: present,
/// selected by the filter, with the body whose sha256 the tracking copy records and (with a
/// revision column) the revision it records. Read inside enact's transaction.
pub(crate) async fn check_unchanged<D: Dialect>(
    conn: &mut D::Connection,
    source: &SourceSql,
    document: &DocumentId,
    sha256: &str,
) -> AdapterResult<()> {
    let what = "reading the source row before enacting";
    let statement = D::query("SELECT source_revision FROM documents WHERE id = $1");
    let recorded = first_text::<D>(conn, statement.bind(document.as_str()), what).await?;
    let row = Query::<D>::built(source.one.clone())
        .bind(document.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(sql(what))?;
    let expected = format!(
        "its row in {} as the run read it (sha256 {sha256}{})",
        source.table,
        recorded
            .as_deref()
            .map(|r| format!(", revision {r}"))
            .unwrap_or_default()
    );
    let Some(row) = row else {
        return Err(AdapterError::Conflict {
            document: document.clone(),
            expected,
            found: "no row: deleted from the source, or no longer selected by [source] where"
                .to_owned(),
        });
    };
    let revision = row.opt_text(0).map_err(sql(what))?;
    let body = row.opt_text(1).map_err(sql(what))?.unwrap_or_default();
    let found_sha256 = sha256_hex(body.as_bytes());
    let revision_moved = source.revision_text.is_some() && revision != recorded;
    if found_sha256 != sha256 || revision_moved {
        return Err(AdapterError::Conflict {
            document: document.clone(),
            expected,
            found: format!(
                "sha256 {found_sha256}{}: the application changed the row during the run",
                revision
                    .as_deref()
                    .map(|r| format!(", revision {r}"))
                    .unwrap_or_default()
            ),
        });
    }
    Ok(())
}

/// The tag the reader view carries when its definition is `view` (as built: it is compared
/// laid out, as the database holds it): a database that reports the same tag has the view
/// already (`init` then has nothing to replace).
fn view_tag<D: Dialect>(view: &str, function: Option<&str>) -> AdapterResult<String> {
    let layout = layout::current()
        .ok_or_else(layout::unscoped)
        .map_err(sql("reading the reader view's definition"))?;
    let view = layout.built(view.to_owned());
    Ok(match D::TAG_READER_VIEW {
        Some(_) => format!(
            "iu-cutter reader contract 1, definition sha256 {}",
            sha256_hex(
                format!(
                    "{}{view}",
                    function
                        .map(|f| layout.built(f.to_owned()))
                        .unwrap_or_default()
                )
                .as_bytes()
            )
        ),
        None => view,
    })
}

/// Whether the reader view is the one `source` defines (its `stale` compares the source).
pub(crate) async fn reader_view_is_current<D: Dialect>(
    pool: &Pool<D>,
    source: &SourceSql,
) -> AdapterResult<bool> {
    let what = "reading the reader view's definition";
    let mut conn = pool.acquire().await.map_err(sql(what))?;
    let view = layout::named("active_units").map_err(sql(what))?;
    let tag = first_text::<D>(&mut conn, D::query(D::READER_VIEW_TAG).bind(view), what).await?;
    Ok(tag.as_deref() == Some(view_tag::<D>(&source.view, source.function.as_deref())?.as_str()))
}

/// Replaces the reader view with `source`'s, whose `stale` also compares each document's source
/// row with what its active generation was cut from; the columns stay those of the contract.
pub(crate) async fn replace_reader_view<D: Dialect>(
    pool: &Pool<D>,
    source: &SourceSql,
) -> AdapterResult<()> {
    let what = "replacing the reader view";
    let mut tx = D::begin_write(pool).await.map_err(sql(what))?;
    if let Some(function) = &source.function {
        Query::<D>::built(function.clone())
            .execute(&mut tx)
            .await
            .map_err(sql(what))?;
    }
    let view = if D::REPLACE_VIEW_IN_PLACE {
        // The columns are the contract's, so PostgreSQL replaces it in place, grants kept.
        source
            .view
            .replacen("CREATE VIEW", "CREATE OR REPLACE VIEW", 1)
    } else {
        D::query("DROP VIEW IF EXISTS active_units")
            .execute(&mut tx)
            .await
            .map_err(sql(what))?;
        source.view.clone()
    };
    Query::<D>::built(view)
        .execute(&mut tx)
        .await
        .map_err(sql(what))?;
    if let Some(comment) = D::TAG_READER_VIEW {
        Query::<D>::built(comment.replace(
            "{}",
            &view_tag::<D>(&source.view, source.function.as_deref())?,
        ))
        .execute(&mut tx)
        .await
        .map_err(sql(what))?;
    }
    tx.commit().await.map_err(sql(what))
}

/// The first column of the row `statement` returns, as text; `None` for no row or NULL.
async fn first_text<D: Dialect>(
    conn: &mut D::Connection,
    statement: Query<'_, D>,
    what: &'static str,
) -> AdapterResult<Option<String>> {
    match statement.fetch_optional(conn).await.map_err(sql(what))? {
        Some(row) => row.opt_text(0).map_err(sql(what)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The function-reading view is migration 7's with two pieces replaced: a piece that no
    /// longer matched would leave the view reading the source itself, silently.
    #[test]
    fn the_pieces_the_postgres_view_replaces_are_migration_7s() {
        assert!(READER_VIEW_SELECT.contains(STALE));
        assert!(READER_VIEW_SELECT.ends_with(UNITS_JOIN));
    }

    /// The steps of SQLite's plan of `statement` with `$1` bound to `id`.
    #[cfg(feature = "sqlite")]
    async fn sqlite_plan(
        conn: &mut sqlx::SqliteConnection,
        statement: &str,
        id: &str,
    ) -> Result<Vec<String>, sqlx::Error> {
        crate::sql::sqlite::query_plan(conn, statement, &[id]).await
    }

    /// Adversarial (adv41): an id column declared without a type (which SQLite allows, and
    /// `an_untyped_integer_id_column_is_enacted` supports) was compared as `CAST(s.id AS TEXT)`,
    /// which no index serves: every lookup of one row (enact's check, once per document; the
    /// reader view and the search for documents gone, once per tracked document) scanned the
    /// whole table, a full run's cost growing with the square of the table (20,000 rows: 7.6 s
    /// in the search for documents gone alone). The row must be found through the id's index.
    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn an_untyped_id_is_found_through_its_index_on_sqlite()
    -> Result<(), Box<dyn std::error::Error>> {
        use sqlx::Row as _;
        let (_dir, url, mut conn) = crate::sql::sqlite::scratch_app(
            "CREATE TABLE laws (id PRIMARY KEY, content TEXT); \
             INSERT INTO laws VALUES (1, 'one'), ('b', 'bee');",
        )
        .await?;
        let pool = sqlx::SqlitePool::connect(&url).await?;
        let mapping = SourceMapping::new("laws", "id", "content");
        let source = layout::scoped(
            layout::Layout::Plain,
            prepare::<sqlx::Sqlite>(&pool, &mapping),
        )
        .await?;
        let plan = sqlite_plan(&mut conn, &source.one, "1").await?;
        assert!(
            !plan.iter().any(|step| step.starts_with("SCAN s")),
            "{plan:?}"
        );
        // Still exactly the row whose id reads as the one asked for, of either type.
        for (id, body) in [
            ("1", Some("one")),
            ("b", Some("bee")),
            ("1.0", None),
            ("0", None),
        ] {
            let row = sqlx::query(sqlx::AssertSqlSafe(source.one.clone()))
                .bind(id)
                .fetch_optional(&mut conn)
                .await?;
            let found: Option<String> = row.map(|row| row.try_get(1)).transpose()?;
            assert_eq!(found.as_deref(), body, "{id}");
        }
        Ok(())
    }

    /// Adversarial (adv45): on SQLite a scope of named ids narrowed the source's rows by
    /// `CAST(s.id AS TEXT) IN (…)` alone, which no index serves: every run of named ids (its sync
    /// scan and its duplicate check) read the application's whole table, whatever the id
    /// column's type (the SQLite twin of adv41's PostgreSQL finding). The rows must be found
    /// through the id's index, and still be exactly the rows whose ids read as those asked for.
    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn a_scope_of_ids_is_read_through_the_id_index_on_sqlite()
    -> Result<(), Box<dyn std::error::Error>> {
        use sqlx::Row as _;
        let (_dir, url, mut conn) = crate::sql::sqlite::scratch_app(
            "CREATE TABLE ints (id INTEGER PRIMARY KEY, content TEXT); \
             INSERT INTO ints VALUES (0, 'zero'), (5, 'five'), (7, 'seven'); \
             CREATE TABLE texts (id TEXT PRIMARY KEY, content TEXT); \
             INSERT INTO texts VALUES ('0', 'zero'), ('5', 'five'), ('b', 'bee'), ('05', 'oh'); \
             CREATE TABLE untyped (id PRIMARY KEY, content TEXT); \
             INSERT INTO untyped VALUES (0, 'zero'), (5, 'five'), ('b', 'bee'), ('05', 'oh');",
        )
        .await?;
        let pool = sqlx::SqlitePool::connect(&url).await?;
        let asked = ["5", "b", "05", "5.0", "x", "+5"];
        let scope = Scope::Ids(asked.iter().map(|id| DocumentId::new(*id)).collect());
        let part = serde_json::to_string(&asked)?;
        for (table, expected) in [
            ("ints", vec!["5"]),
            ("texts", vec!["05", "5", "b"]),
            ("untyped", vec!["05", "5", "b"]),
        ] {
            let mapping = SourceMapping::new(table, "id", "content");
            let source = layout::scoped(
                layout::Layout::Plain,
                prepare::<sqlx::Sqlite>(&pool, &mapping),
            )
            .await?;
            let scanned = scan::<sqlx::Sqlite>(&source, &scope, true, Some(&part));
            let statement = scanned.text().to_owned();
            let plan = sqlite_plan(&mut conn, &statement, &part).await?;
            assert!(
                !plan.iter().any(|step| step.starts_with("SCAN s")),
                "{table}: {plan:?}"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(statement))
                .bind(&part)
                .fetch_all(&mut conn)
                .await?;
            let mut found: Vec<String> = rows
                .iter()
                .map(|row| row.try_get(0))
                .collect::<Result<_, _>>()?;
            found.sort();
            assert_eq!(found, expected, "{table}");
            let duplicate = format!("{} AND {}", source.duplicate, source.narrowing.ids);
            let plan = sqlite_plan(&mut conn, &duplicate, &part).await?;
            assert!(
                !plan.iter().any(|step| step.starts_with("SCAN s")),
                "{table}: {plan:?}"
            );
        }
        Ok(())
    }

    /// A scope of named ids narrowed the source's rows by `CAST(s.id AS TEXT) COLLATE "C"`: on
    /// PostgreSQL the explicit collation kept the planner off a text id column's index (`EXPLAIN`
    /// of the scan on 200,000 rows: a parallel sequential scan; without it, an index scan), so a
    /// run of two ids read every row of the application's table.
    #[cfg(feature = "postgres")]
    #[test]
    fn a_scope_of_ids_narrows_the_source_by_the_id_in_its_own_collation() {
        let mapping = SourceMapping::new("app.laws", "id", "content");
        let names = Names::of::<sqlx::Postgres>(&mapping);
        let source =
            names.statements::<sqlx::Postgres>(&mapping, "s.\"id\" = $1".into(), None, None);
        let scope = Scope::Ids(vec![DocumentId::new("1"), DocumentId::new("2")]);
        let scanned = scan::<sqlx::Postgres>(&source, &scope, true, Some("[\"1\",\"2\"]"));
        let statement = scanned.text();
        assert!(
            statement.contains("CAST(s.\"id\" AS TEXT) = ANY"),
            "{statement}"
        );
        assert!(!statement.contains("COLLATE \"C\" = ANY"), "{statement}");
        // The rows read are still ordered and grouped in iu-cutter's key collation.
        assert!(
            source.id_text.ends_with("COLLATE \"C\""),
            "{}",
            source.id_text
        );
    }

    /// The search for documents gone from the source narrowed a prefix scope by
    /// `substr(d.id, …)`, which no index serves: every `--prefix` run read every document of the
    /// store. iu-cutter's ids compare bytewise, so the prefix is a range of their index.
    #[cfg(feature = "sqlite")]
    #[test]
    fn a_prefix_narrows_the_documents_by_a_range_of_their_ids() {
        let scope = Scope::Prefix("vi/".into());
        let by_key = Narrowing::by_key::<sqlx::Sqlite>("d.id".into());
        let query = narrowed::<sqlx::Sqlite>(
            "SELECT d.id FROM documents AS d WHERE 1 = 1".into(),
            &by_key,
            &scope,
            None,
            " ORDER BY d.id",
        );
        assert_eq!(
            query.text(),
            "SELECT d.id FROM documents AS d WHERE 1 = 1 AND d.id >= $1 AND d.id < $2 \
             ORDER BY d.id"
        );
    }

    /// Adversarial (adv41): an integer id column was narrowed by its ids as text alone, which
    /// no index serves: on PostgreSQL every run of named ids (and its search for documents gone
    /// from the source) read the application's whole table. The ids that read as the column's
    /// values now narrow it by those values first.
    #[cfg(feature = "postgres")]
    #[test]
    fn a_scope_of_ids_narrows_an_integer_id_column_by_its_values() {
        let mapping = SourceMapping::new("app.laws", "id", "content");
        let names = Names::of::<sqlx::Postgres>(&mapping);
        let key = "s.\"id\" = CAST($1 AS bigint)".to_owned();
        let integer = IntegerId::of("integer");
        let source = names.statements::<sqlx::Postgres>(&mapping, key, None, integer);
        let scope = Scope::Ids(vec![DocumentId::new("1"), DocumentId::new("x")]);
        let scanned = scan::<sqlx::Postgres>(&source, &scope, true, Some("[\"1\",\"x\"]"));
        let statement = scanned.text();
        assert!(
            statement.contains("s.\"id\" = ANY (ARRAY(SELECT CAST(x AS bigint)"),
            "{statement}"
        );
        // In `bigint`, whatever the integer type, which a column widened since it was read
        // still is.
        assert!(statement.contains("BETWEEN -9223372036854775808 AND 9223372036854775807"));
        assert_eq!(IntegerId::of("smallint"), IntegerId::of("bigint"));
        // Still exactly the ids as text: `007` reads as 7, whose row is not `007`'s.
        assert!(
            statement.contains("CAST(s.\"id\" AS TEXT) = ANY"),
            "{statement}"
        );
        assert!(
            source.gone.contains("s.\"id\" = CASE WHEN"),
            "{}",
            source.gone
        );
        // Other types keep the text comparison alone.
        assert_eq!(IntegerId::of("numeric"), None);
        assert_eq!(IntegerId::of("text"), None);
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn the_postgres_view_reads_the_source_only_through_its_function() {
        let mut mapping = SourceMapping::new("app.laws", "id", "content");
        mapping.revision = Some("updated_at".to_owned());
        mapping.filter = Some("units = 'metric'".to_owned());
        let names = Names::of::<sqlx::Postgres>(&mapping);
        let key = "s.\"id\" = CAST($1 AS bigint)".to_owned();
        let source = names.statements::<sqlx::Postgres>(&mapping, key, None, None);
        let function = source.function.unwrap_or_default();
        assert!(function.contains("\"app\".\"laws\""), "{function}");
        assert!(
            function.contains("$2") && function.contains("$3"),
            "{function}"
        );
        assert!(!source.view.contains("laws"), "{}", source.view);
        assert!(source.view.contains("source_moved(d.id"), "{}", source.view);
        assert!(!source.view.contains(UNITS_JOIN), "{}", source.view);
    }
}
