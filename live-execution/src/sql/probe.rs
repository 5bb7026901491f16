//! The SQL store's load probe ([`crate::LoadProbe`]): PostgreSQL only, read in a `READ ONLY`
//! transaction, behind the store's kill switch.

use async_trait::async_trait;

use crate::adapter::AdapterResult;
use crate::error::AdapterError;
use crate::gate::{ExecutionGate, Guarded};
use crate::probe::{LoadProbe, LoadQuery};

use super::{Backend, SqlStore};

/// A [`LoadQuery`] on a SQL store's database, over the store's own connections.
#[derive(Debug)]
pub struct SqlLoadProbe {
    #[cfg(feature = "postgres")]
    pool: sqlx::PgPool,
    gate: ExecutionGate,
    query: LoadQuery,
}

impl Guarded<SqlStore> {
    /// A probe reading `query` on this store's database, behind this store's kill switch.
    /// Refused ([`AdapterError::Invalid`]) on SQLite, which has no other sessions to back off
    /// for.
    pub fn load_probe(&self, query: LoadQuery) -> Result<SqlLoadProbe, AdapterError> {
        match &self.inner().backend {
            #[cfg(feature = "postgres")]
            Backend::Postgres(pool) => Ok(SqlLoadProbe {
                pool: pool.clone(),
                gate: self.gate().clone(),
                query,
            }),
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(..) => Err(AdapterError::Invalid(format!(
                "the load back-off ({query}) needs PostgreSQL; SQLite has no other sessions to \
                 back off for: remove [backoff]"
            ))),
        }
    }
}

#[async_trait]
impl LoadProbe for SqlLoadProbe {
    fn describe(&self) -> String {
        self.query.to_string()
    }

    async fn read(&self) -> AdapterResult<f64> {
        self.gate.check().await?;
        #[cfg(feature = "postgres")]
        {
            read_postgres(&self.pool, &self.query).await
        }
        #[cfg(not(feature = "postgres"))]
        {
            Err(AdapterError::Invalid(format!(
                "the load back-off ({}) needs PostgreSQL",
                self.query
            )))
        }
    }
}

/// The reading, in a `READ ONLY` transaction rolled back at once: the probe cannot write, even
/// through a function it calls.
#[cfg(feature = "postgres")]
async fn read_postgres(pool: &sqlx::PgPool, query: &LoadQuery) -> AdapterResult<f64> {
    let what = "reading the load probe";
    let mut tx = pool
        .begin_with("BEGIN READ ONLY")
        .await
        .map_err(|e| super::error::db(what, e))?;
    // The statement is built from a fixed query or an operator's probe checked by
    // `LoadQuery::custom`, run as a scalar subquery.
    let value: Option<f64> = sqlx::query_scalar(sqlx::AssertSqlSafe(query.statement()))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| super::error::db(&format!("{what} ({query})"), e))?;
    tx.rollback().await.map_err(|e| super::error::db(what, e))?;
    value.ok_or_else(|| {
        AdapterError::Invalid(format!(
            "the load probe ({query}) returned no number (NULL): make it return one"
        ))
    })
}
