//! Load probes: a reading of how busy the database is, which a run backs off on between its
//! batches (issue 15: "as gh-ost and pt-online-schema-change users expect"). The trait is the
//! seam's so that the SQL store, which alone can read its database's load, implements it; the
//! simulator and SQLite have none.

use std::fmt;

use async_trait::async_trait;

use crate::adapter::AdapterResult;
use crate::error::AdapterError;

/// One number saying how busy the database is, compared by the runner with a threshold.
#[async_trait]
pub trait LoadProbe: Send + Sync + fmt::Debug {
    /// What the reading measures, for progress and reports (e.g. `active connections`).
    fn describe(&self) -> String;

    /// The current reading. A probe of a store behind a kill switch asks the switch first and
    /// refuses as the store's mutations do ([`AdapterError::GateClosed`]) while it is closed, so
    /// that a run waiting on the database's load stops when the switch closes.
    async fn read(&self) -> AdapterResult<f64>;
}

/// What a SQL load probe asks the database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadQuery {
    /// PostgreSQL's sessions running a statement now (`pg_stat_activity`, `state = 'active'`;
    /// the probe's own session among them).
    ActiveConnections,
    /// An operator's `SELECT` returning one number (checked by [`LoadQuery::custom`]).
    Custom(String),
}

impl LoadQuery {
    /// The operator's probe: one parameter-free `SELECT` (no statement separator, comment or
    /// placeholder, balanced quotes and parentheses, as the `[source] where` filter), which the
    /// store runs as a scalar subquery in a `READ ONLY` transaction, so that it can only read
    /// and must return one row of one number.
    pub fn custom(sql: &str) -> Result<Self, AdapterError> {
        let sql = sql.trim();
        let mut words = sql.splitn(2, char::is_whitespace);
        let starts_with_select = words
            .next()
            .is_some_and(|word| word.eq_ignore_ascii_case("select"))
            && words.next().is_some();
        if !starts_with_select {
            return Err(AdapterError::Invalid(format!(
                "[backoff] probe `{sql}` must be one SELECT returning one number"
            )));
        }
        crate::source::check_fragment("[backoff] probe", sql)?;
        Ok(LoadQuery::Custom(sql.to_owned()))
    }

    /// The statement the store runs: the probe as a scalar subquery, cast to a float.
    pub fn statement(&self) -> String {
        let inner = match self {
            LoadQuery::ActiveConnections => {
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
            }
            LoadQuery::Custom(sql) => sql,
        };
        format!("SELECT CAST(({inner}) AS DOUBLE PRECISION)")
    }
}

impl fmt::Display for LoadQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadQuery::ActiveConnections => write!(f, "active connections"),
            LoadQuery::Custom(sql) => write!(f, "probe `{sql}`"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_is_one_parameter_free_select() {
        for good in [
            "SELECT 5",
            "select count(*) from jobs where state = 'busy'",
            "  SELECT\t1 ",
        ] {
            assert!(LoadQuery::custom(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "DELETE FROM jobs",
            "SELECT 1; DROP TABLE documents",
            "SELECT 1 -- and the rest",
            "SELECT $1",
            "SELECT (1",
            "SELECT 'a",
            "SELECTED",
            "SELECé 1",
            "WITH x AS (DELETE FROM jobs RETURNING 1) SELECT count(*) FROM x",
        ] {
            assert!(
                matches!(LoadQuery::custom(bad), Err(AdapterError::Invalid(_))),
                "{bad}"
            );
        }
        assert_eq!(
            LoadQuery::custom(" SELECT 5 ").map(|q| q.statement()).ok(),
            Some("SELECT CAST((SELECT 5) AS DOUBLE PRECISION)".to_owned())
        );
        assert_eq!(
            LoadQuery::ActiveConnections.to_string(),
            "active connections"
        );
    }
}
