//! Statements, their parameters and the rows they return, for any backend: how the operations
//! (`ops/*`), which are written once and generic over the backend, talk to sqlx.
//!
//! sqlx runs a statement on a generic database `DB` only where a dozen facts about `DB` hold:
//! `&mut DB::Connection` is an executor, `&str`, `i64` and `bool` encode, `String` decodes, a row
//! is indexed by position and by name, and so on. Rust does not carry such facts from a trait's
//! where-clause to the code that uses the trait (they are not implied bounds), so sqlx calls
//! written in generic code would restate all of them on every function. They are stated once
//! here instead, on the blanket impls of [`Engine`] and [`Fields`], and the operations run
//! statements through [`Query`] and read rows through [`Fields`], which mirror sqlx's own
//! `query(sql).bind(value).fetch_all(conn)` and `row.try_get(column)`.
//!
//! Parameters are bound when the statement runs, one `match` per parameter: nothing next to the
//! round trip to the database. Bulk writes and the reads whose shape differs per backend do not
//! come through here (see [`super::dialect`]).

use std::borrow::Cow;
use std::marker::PhantomData;

use futures_util::TryStreamExt as _;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use sqlx::{
    AssertSqlSafe, ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type,
};

use crate::sql::layout;

/// One parameter of a statement: the three kinds of value the schema's columns hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Param<'a> {
    /// `TEXT`, or `NULL`.
    Text(Option<Cow<'a, str>>),
    /// `BIGINT`, or `NULL`.
    Int(Option<i64>),
    /// `BOOLEAN` (an integer on SQLite).
    Bool(bool),
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(value: &'a str) -> Self {
        Param::Text(Some(Cow::Borrowed(value)))
    }
}

impl<'a> From<Option<&'a str>> for Param<'a> {
    fn from(value: Option<&'a str>) -> Self {
        Param::Text(value.map(Cow::Borrowed))
    }
}

impl From<String> for Param<'_> {
    fn from(value: String) -> Self {
        Param::Text(Some(Cow::Owned(value)))
    }
}

impl From<i64> for Param<'_> {
    fn from(value: i64) -> Self {
        Param::Int(Some(value))
    }
}

impl From<Option<i64>> for Param<'_> {
    fn from(value: Option<i64>) -> Self {
        Param::Int(value)
    }
}

impl From<bool> for Param<'_> {
    fn from(value: bool) -> Self {
        Param::Bool(value)
    }
}

/// A statement with its parameters, to run on backend `D`: `D::query(sql).bind(a).bind(b)`,
/// then one of the `fetch_*` methods or `execute`. Placeholders are `$1`, `$2`, … on every
/// backend.
pub(crate) struct Query<'a, D> {
    sql: Text,
    params: Vec<Param<'a>>,
    backend: PhantomData<fn() -> D>,
}

/// A statement's text, with iu-cutter's objects under their bare names: laid out in the store's
/// [`layout::Layout`] when it runs.
enum Text {
    /// Written in the code.
    Own(&'static str),
    /// Built at run time (see [`Query::built`]).
    Built(String),
}

impl<'a, D: Engine> Query<'a, D> {
    /// A statement whose text is known at compile time.
    pub(crate) fn new(sql: &'static str) -> Self {
        Query {
            sql: Text::Own(sql),
            params: Vec::new(),
            backend: PhantomData,
        }
    }

    /// A statement built at run time from known pieces (column lists, one placeholder per
    /// parameter) and, marked with [`layout::verbatim`], the application's `[source] where`;
    /// every value stays a parameter.
    pub(crate) fn built(sql: String) -> Self {
        Query {
            sql: Text::Built(sql),
            params: Vec::new(),
            backend: PhantomData,
        }
    }

    /// The statement's text as built (before its layout), for tests of its shape.
    #[cfg(test)]
    pub(crate) fn text(&self) -> &str {
        match &self.sql {
            Text::Own(sql) => sql,
            Text::Built(sql) => sql,
        }
    }

    /// Binds the next parameter (`$1`, then `$2`, …).
    pub(crate) fn bind(mut self, value: impl Into<Param<'a>>) -> Self {
        self.params.push(value.into());
        self
    }

    /// Runs the statement; the number of rows it changed.
    pub(crate) fn execute(
        self,
        conn: &'a mut D::Connection,
    ) -> BoxFuture<'a, Result<u64, sqlx::Error>> {
        D::execute(conn, self)
    }

    /// Every row: the stream, collected (as sqlx's own `fetch_all` is).
    pub(crate) fn fetch_all(
        self,
        conn: &'a mut D::Connection,
    ) -> BoxFuture<'a, Result<Vec<D::Row>, sqlx::Error>> {
        Box::pin(D::fetch(conn, self).try_collect())
    }

    /// The first row, if any.
    pub(crate) fn fetch_optional(
        self,
        conn: &'a mut D::Connection,
    ) -> BoxFuture<'a, Result<Option<D::Row>, sqlx::Error>> {
        D::fetch_optional(conn, self)
    }

    /// The first row; none is an error ([`sqlx::Error::RowNotFound`]), as sqlx's own
    /// `fetch_one` has it.
    pub(crate) fn fetch_one(
        self,
        conn: &'a mut D::Connection,
    ) -> BoxFuture<'a, Result<D::Row, sqlx::Error>> {
        let row = D::fetch_optional(conn, self);
        Box::pin(async move { row.await?.ok_or(sqlx::Error::RowNotFound) })
    }

    /// The rows as they arrive, for reads too large to hold at once.
    pub(crate) fn fetch(
        self,
        conn: &'a mut D::Connection,
    ) -> BoxStream<'a, Result<D::Row, sqlx::Error>> {
        D::fetch(conn, self)
    }
}

/// Which column of a row: by position or by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Column<'n> {
    /// The column at this position, from 0.
    At(usize),
    /// The column of this name.
    Named(&'n str),
}

impl From<usize> for Column<'_> {
    fn from(position: usize) -> Self {
        Column::At(position)
    }
}

impl<'n> From<&'n str> for Column<'n> {
    fn from(name: &'n str) -> Self {
        Column::Named(name)
    }
}

/// A row's columns as the schema's values: sqlx's `row.try_get(column)` for the types the
/// schema holds, with the backend's decoding facts stated once, on the blanket impl.
pub(crate) trait Fields {
    /// A `TEXT` column.
    fn text<'n>(&self, column: impl Into<Column<'n>>) -> Result<String, sqlx::Error>;
    /// A nullable `TEXT` column.
    fn opt_text<'n>(&self, column: impl Into<Column<'n>>) -> Result<Option<String>, sqlx::Error>;
    /// A `TEXT` column, borrowed from the row.
    fn str<'n>(&self, column: impl Into<Column<'n>>) -> Result<&str, sqlx::Error>;
    /// A nullable `TEXT` column, borrowed from the row.
    fn opt_str<'n>(&self, column: impl Into<Column<'n>>) -> Result<Option<&str>, sqlx::Error>;
    /// A `BIGINT` column.
    fn int<'n>(&self, column: impl Into<Column<'n>>) -> Result<i64, sqlx::Error>;
    /// A nullable `BIGINT` column.
    fn opt_int<'n>(&self, column: impl Into<Column<'n>>) -> Result<Option<i64>, sqlx::Error>;
    /// A `BOOLEAN` column.
    fn flag<'n>(&self, column: impl Into<Column<'n>>) -> Result<bool, sqlx::Error>;
}

/// `row.try_get` by position or by name.
macro_rules! get {
    ($row:expr, $column:expr) => {
        match $column.into() {
            Column::At(position) => $row.try_get(position),
            Column::Named(name) => $row.try_get(name),
        }
    };
}

impl<R> Fields for R
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'n> &'n str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> &'r str: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> bool: Decode<'r, R::Database> + Type<R::Database>,
{
    fn text<'n>(&self, column: impl Into<Column<'n>>) -> Result<String, sqlx::Error> {
        get!(self, column)
    }
    fn opt_text<'n>(&self, column: impl Into<Column<'n>>) -> Result<Option<String>, sqlx::Error> {
        get!(self, column)
    }
    fn str<'n>(&self, column: impl Into<Column<'n>>) -> Result<&str, sqlx::Error> {
        get!(self, column)
    }
    fn opt_str<'n>(&self, column: impl Into<Column<'n>>) -> Result<Option<&str>, sqlx::Error> {
        get!(self, column)
    }
    fn int<'n>(&self, column: impl Into<Column<'n>>) -> Result<i64, sqlx::Error> {
        get!(self, column)
    }
    fn opt_int<'n>(&self, column: impl Into<Column<'n>>) -> Result<Option<i64>, sqlx::Error> {
        get!(self, column)
    }
    fn flag<'n>(&self, column: impl Into<Column<'n>>) -> Result<bool, sqlx::Error> {
        get!(self, column)
    }
}

/// How many rows a statement changed (sqlx gives each backend's result its own type).
pub(crate) trait RowsAffected {
    /// The number of rows changed.
    fn rows_affected(&self) -> u64;
}

#[cfg(feature = "sqlite")]
impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

#[cfg(feature = "postgres")]
impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

/// A sqlx database the operations can run statements on: what [`Query`]'s methods do, with every
/// fact they need about the database stated once, on the blanket impl below. Its rows are
/// [`Fields`].
pub(crate) trait Engine: Database<Row: Fields> {
    /// A statement to run on this backend: `D::query(sql).bind(…)` (see [`Query`]).
    fn query<'a>(sql: &'static str) -> Query<'a, Self> {
        Query::new(sql)
    }
    /// See [`Query::execute`].
    fn execute<'c>(
        conn: &'c mut Self::Connection,
        query: Query<'c, Self>,
    ) -> BoxFuture<'c, Result<u64, sqlx::Error>>;
    /// See [`Query::fetch_optional`].
    fn fetch_optional<'c>(
        conn: &'c mut Self::Connection,
        query: Query<'c, Self>,
    ) -> BoxFuture<'c, Result<Option<Self::Row>, sqlx::Error>>;
    /// See [`Query::fetch`].
    fn fetch<'c>(
        conn: &'c mut Self::Connection,
        query: Query<'c, Self>,
    ) -> BoxStream<'c, Result<Self::Row, sqlx::Error>>;
    /// Runs a script of several statements without parameters (a migration).
    fn execute_script<'c>(
        conn: &'c mut Self::Connection,
        script: &'static str,
    ) -> BoxFuture<'c, Result<(), sqlx::Error>>;
}

impl<DB> Engine for DB
where
    DB: Database<Row: Fields, QueryResult: RowsAffected>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
{
    fn execute<'c>(
        conn: &'c mut Self::Connection,
        query: Query<'c, Self>,
    ) -> BoxFuture<'c, Result<u64, sqlx::Error>> {
        Box::pin(async move {
            let done = bound(query)?.execute(conn).await?;
            Ok(done.rows_affected())
        })
    }

    fn fetch_optional<'c>(
        conn: &'c mut Self::Connection,
        query: Query<'c, Self>,
    ) -> BoxFuture<'c, Result<Option<Self::Row>, sqlx::Error>> {
        Box::pin(async move { bound(query)?.fetch_optional(conn).await })
    }

    fn fetch<'c>(
        conn: &'c mut Self::Connection,
        query: Query<'c, Self>,
    ) -> BoxStream<'c, Result<Self::Row, sqlx::Error>> {
        match bound(query) {
            Ok(query) => query.fetch(conn),
            Err(error) => Box::pin(futures_util::stream::once(async move { Err(error) })),
        }
    }

    fn execute_script<'c>(
        conn: &'c mut Self::Connection,
        script: &'static str,
    ) -> BoxFuture<'c, Result<(), sqlx::Error>> {
        Box::pin(async move {
            let layout = layout::current().ok_or_else(layout::unscoped)?;
            sqlx::raw_sql(layout.own(script)).execute(conn).await?;
            Ok(())
        })
    }
}

/// The sqlx statement of `query`, laid out in the current operation's layout, its parameters
/// bound in order.
fn bound<'q, DB>(
    query: Query<'_, DB>,
) -> Result<sqlx::query::Query<'q, DB, DB::Arguments>, sqlx::Error>
where
    DB: Database,
    for<'v> Option<&'v str>: Encode<'v, DB> + Type<DB>,
    for<'v> Option<i64>: Encode<'v, DB> + Type<DB>,
    for<'v> bool: Encode<'v, DB> + Type<DB>,
{
    let layout = layout::current().ok_or_else(layout::unscoped)?;
    let mut statement = match query.sql {
        Text::Own(sql) => sqlx::query(layout.own(sql)),
        Text::Built(sql) => sqlx::query(AssertSqlSafe(layout.built(sql))),
    };
    for param in query.params {
        statement = match param {
            Param::Text(text) => statement.bind(text.as_deref()),
            Param::Int(number) => statement.bind(number),
            Param::Bool(flag) => statement.bind(flag),
        };
    }
    Ok(statement)
}
