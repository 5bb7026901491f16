//! What an application does to a store while a run works on it, as phases a test inserts
//! among the run's own: writes through a handle of its own on the store, and raw SQL over a
//! connection of its own; or at a chosen call of the run's, through [`AfterFirst`].

use std::sync::Arc;

use async_trait::async_trait;
use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::sql::ConnectOptions;
use iu_cutter_live_execution::{
    AdapterInfo, AdapterResult, DocumentId, Evidence, LeaseClaim, LiveExecutionAdapter, Op, OpKind,
    Reply,
};
use iu_cutter_phase_core::{Phase, PhaseError, RunContext};

/// The prefix that names iu-cutter's tables from a connection of an application's own: the
/// schema (`schema.`) on PostgreSQL, whose default `search_path` does not hold it; none on SQLite.
pub fn prefix(options: &ConnectOptions) -> String {
    match &options.pg_schema {
        Some(schema) => format!("{schema}."),
        None => String::new(),
    }
}

/// Runs `statements` in order, each with its binds, over a connection of its own, as an
/// application would: on SQLite a second pool on the file, on PostgreSQL a plain connection with
/// the server's default `search_path` (see [`prefix`]). The rows each changed.
pub async fn execute(
    options: &ConnectOptions,
    statements: &[(String, Vec<&str>)],
) -> Result<Vec<u64>, sqlx::Error> {
    use sqlx::Connection;
    let mut rows = Vec::with_capacity(statements.len());
    if options.pg_schema.is_some() {
        let mut conn = sqlx::PgConnection::connect(&options.url).await?;
        for (statement, binds) in statements {
            let query = binds.iter().fold(
                sqlx::query(sqlx::AssertSqlSafe(statement.clone())),
                |query, bind| query.bind(*bind),
            );
            rows.push(query.execute(&mut conn).await?.rows_affected());
        }
        conn.close().await?;
    } else {
        let pool = sqlx::SqlitePool::connect(&options.url).await?;
        for (statement, binds) in statements {
            let query = binds.iter().fold(
                sqlx::query(sqlx::AssertSqlSafe(statement.clone())),
                |query, bind| query.bind(*bind),
            );
            rows.push(query.execute(&pool).await?.rows_affected());
        }
        pool.close().await;
    }
    Ok(rows)
}

/// Raw statements an application runs over a connection of its own ([`execute`]); as a phase
/// named `name`, between two of a run's phases (it panics if they fail).
pub struct RawStatements {
    name: &'static str,
    options: ConnectOptions,
    statements: Vec<String>,
    /// Whether each statement must change a row (an edit of rows that must be there).
    each_changes_a_row: bool,
}

impl RawStatements {
    /// `statements`, with `{t}` standing for the prefix that names iu-cutter's tables
    /// ([`prefix`]); each must change a row.
    pub fn new(name: &'static str, options: &ConnectOptions, statements: &[&str]) -> Self {
        let prefix = prefix(options);
        Self {
            name,
            options: options.clone(),
            statements: statements
                .iter()
                .map(|s| s.replace("{t}", &prefix))
                .collect(),
            each_changes_a_row: true,
        }
    }

    /// Deletes `document` and every row of it (units, generation records, the document).
    pub fn delete_document(options: &ConnectOptions, document: &str) -> Self {
        let prefix = prefix(options);
        let statements = [
            "units WHERE document",
            "generations WHERE document",
            "documents WHERE id",
        ]
        .iter()
        .map(|what| format!("DELETE FROM {prefix}{what} = '{document}'"))
        .collect();
        Self {
            name: "application-deletes",
            options: options.clone(),
            statements,
            each_changes_a_row: false,
        }
    }

    /// Runs the statements.
    pub async fn execute(&self) -> Result<(), sqlx::Error> {
        let statements: Vec<(String, Vec<&str>)> = (self.statements.iter())
            .map(|statement| (statement.clone(), Vec::new()))
            .collect();
        let rows = execute(&self.options, &statements).await?;
        for (statement, rows) in self.statements.iter().zip(rows) {
            assert!(rows > 0 || !self.each_changes_a_row, "no row: {statement}");
        }
        Ok(())
    }
}

#[async_trait]
impl Phase for RawStatements {
    fn name(&self) -> &str {
        self.name
    }

    async fn run(&self, _ctx: &mut RunContext) -> Result<Evidence, PhaseError> {
        if let Err(e) = self.execute().await {
            panic!("the application's statements {:?}: {e}", self.statements);
        }
        Ok(Evidence::new())
    }
}

/// Puts `body` as `document` through the application's own handle on the store, as a
/// concurrent writer would (a phase is handed only the calls a phase needs, never
/// `put_document`); a phase named `name`.
pub struct PutDocument {
    /// The phase's name.
    pub name: &'static str,
    /// The application's handle on the store.
    pub application: Arc<dyn LiveExecutionAdapter>,
    /// The document written.
    pub document: DocumentId,
    /// Its new body.
    pub body: &'static str,
}

#[async_trait]
impl Phase for PutDocument {
    fn name(&self) -> &str {
        self.name
    }

    async fn run(&self, _ctx: &mut RunContext) -> Result<Evidence, PhaseError> {
        self.application
            .put_document(&self.document, self.body)
            .await?;
        Ok(Evidence::new())
    }
}

/// Work another client does, run once by [`AfterFirst`].
pub type Pending = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// The store, except that `meanwhile` (an application's or another runner's writes, or a wait
/// that never ends: a crash) runs to its end once, right after the first call of `kind`
/// returns: what lands between two calls of an invocation, made deterministic.
pub struct AfterFirst {
    inner: Arc<dyn LiveExecutionAdapter>,
    kind: OpKind,
    meanwhile: tokio::sync::Mutex<Option<Pending>>,
}

impl AfterFirst {
    /// `inner`, with `meanwhile` run after its first call of `kind`.
    pub fn new(
        inner: &Arc<dyn LiveExecutionAdapter>,
        kind: OpKind,
        meanwhile: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Arc<Self> {
        Arc::new(AfterFirst {
            inner: inner.clone(),
            kind,
            meanwhile: tokio::sync::Mutex::new(Some(Box::pin(meanwhile))),
        })
    }

    /// Whether `meanwhile` has run (or begun, and is running).
    pub async fn ran(&self) -> bool {
        self.meanwhile.lock().await.is_none()
    }
}

#[async_trait]
impl LiveExecutionAdapter for AfterFirst {
    fn info(&self) -> AdapterInfo {
        self.inner.info()
    }

    async fn call<'a>(&self, op: Op<'a>, claim: Option<&'a LeaseClaim>) -> AdapterResult<Reply> {
        let after = op.kind() == self.kind;
        let reply = self.inner.call(op, claim).await;
        if after {
            let pending = self.meanwhile.lock().await.take();
            if let Some(pending) = pending {
                pending.await;
            }
        }
        reply
    }
}
