//! The test PostgreSQL server for the program's tests: its URLs by the rule of
//! `iu_cutter_test_env` (skipped without them, failed in CI), and schemas of their own, dropped
//! at the end.

use std::path::PathBuf;

use iu_cutter_test_env::{PG_CERT_URL, PG_RUNTIME_URL, PG_TLS, PG_URL};
use sqlx::Connection as _;

use super::{Error, block_on};

/// What the TLS and least-privilege suites need from `cargo xtask pg-setup`.
pub(crate) struct Server {
    /// The owner role's URL (`IU_CUTTER_TEST_PG_URL`).
    pub(crate) owner: String,
    /// The directory of the test certificates.
    pub(crate) tls: PathBuf,
    /// The least-privilege runtime role's URL.
    pub(crate) runtime: String,
    /// The URL of the role that logs in with a client certificate.
    pub(crate) cert: String,
}

impl Server {
    /// The runtime role's name, from its URL.
    pub(crate) fn runtime_role(&self) -> Result<String, Error> {
        Ok(self
            .runtime
            .split_once("://")
            .and_then(|(_, rest)| rest.split(['@', ':']).next())
            .ok_or("no role in the runtime URL")?
            .to_owned())
    }
}

/// The whole server `test` needs, or `None` after saying it is skipped (a failure in CI).
pub(crate) fn server(test: &str) -> Option<Server> {
    let values =
        iu_cutter_test_env::required(test, &[PG_URL, PG_TLS, PG_RUNTIME_URL, PG_CERT_URL])?;
    let [owner, tls, runtime, cert] = <[String; 4]>::try_from(values).ok()?;
    Some(Server {
        owner,
        tls: PathBuf::from(tls),
        runtime,
        cert,
    })
}

/// `url` with `extra` query parameters appended.
pub(crate) fn with_query(url: &str, extra: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{extra}")
}

/// `url` pointed at `schema` (sqlx's `options[search_path]`).
pub(crate) fn in_schema(url: &str, schema: &str) -> String {
    with_query(url, &format!("options[search_path]={schema}"))
}

/// The `user:password@` of `url`, if it has a password.
pub(crate) fn userinfo_with_password(url: &str) -> Option<String> {
    url.split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(user, password)| format!("{user}:{password}@"))
}

/// Runs `sql` (one statement) on `url`.
pub(crate) fn execute(url: &str, sql: &str) -> Result<(), Error> {
    block_on(async {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut conn)
            .await?;
        conn.close().await
    })?;
    Ok(())
}

/// A schema created by `owner_url`'s role and dropped (with everything in it, grants included)
/// when the guard is.
pub(crate) struct Schema {
    owner_url: String,
    /// The schema's name.
    pub(crate) name: String,
}

impl Schema {
    /// A new schema named after `test`.
    pub(crate) fn create(owner_url: &str, test: &str) -> Result<Schema, Error> {
        let name = iu_cutter_test_env::unique_name(&format!("t_{test}"));
        execute(owner_url, &format!("CREATE SCHEMA {name}"))?;
        Ok(Schema {
            owner_url: owner_url.to_owned(),
            name,
        })
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Err(error) = execute(
            &self.owner_url,
            &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name),
        ) {
            eprintln!("could not drop test schema {}: {error}", self.name);
        }
    }
}
