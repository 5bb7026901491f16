//! Raw SQL outside a run's scope, between leg-b-record and write-verify, on real stores: the
//! scope census (issue 15) reads only the run's documents and the change log, so these check
//! that the change log sees what the whole census saw. An application session (its own
//! connection; on PostgreSQL with the server's default `search_path`, naming iu-cutter's tables
//! by their schema) edits one unit of a document outside the scope: write-verify blocks naming
//! it. The same session saving every unit and generation record unchanged: nothing changed, the
//! run passes (as it did with the whole census).

use std::sync::Arc;

use async_trait::async_trait;
use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::sql::ConnectOptions;
use iu_cutter_live_execution::{
    CutRules, DocumentId, Evidence, LiveExecutionAdapter, Preset, Scope,
};
use iu_cutter_orchestrator::{Outcome, RunOptions, RunRequest, Runner, default_phases};
use iu_cutter_phase_core::{MemoryBackupStore, Phase, PhaseError, RunContext};
use iu_cutter_tests::fixture::SqlFixture;
use sqlx::Connection;

use crate::TestResult;

/// Runs raw statements over a connection of its own, as an application would: on SQLite a
/// second pool on the file, on PostgreSQL a plain connection with the server's default
/// `search_path` (tables named `schema.table`).
struct RawEdit {
    options: ConnectOptions,
    statements: Vec<String>,
}

impl RawEdit {
    /// `statements` with `{t}` standing for the prefix that names iu-cutter's tables.
    fn new(options: &ConnectOptions, statements: &[&str]) -> Self {
        let prefix = match &options.pg_schema {
            Some(schema) => format!("{schema}."),
            None => String::new(),
        };
        Self {
            options: options.clone(),
            statements: statements
                .iter()
                .map(|s| s.replace("{t}", &prefix))
                .collect(),
        }
    }

    async fn execute(&self) -> Result<(), sqlx::Error> {
        if self.options.pg_schema.is_some() {
            let mut conn = sqlx::PgConnection::connect(&self.options.url).await?;
            for statement in &self.statements {
                let done = sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
                    .execute(&mut conn)
                    .await?;
                assert!(done.rows_affected() > 0, "no row: {statement}");
            }
            conn.close().await
        } else {
            let pool = sqlx::SqlitePool::connect(&self.options.url).await?;
            for statement in &self.statements {
                let done = sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
                    .execute(&pool)
                    .await?;
                assert!(done.rows_affected() > 0, "no row: {statement}");
            }
            pool.close().await;
            Ok(())
        }
    }
}

#[async_trait]
impl Phase for RawEdit {
    fn name(&self) -> &str {
        "raw-edit"
    }

    async fn run(&self, _ctx: &mut RunContext) -> Result<Evidence, PhaseError> {
        if let Err(e) = self.execute().await {
            panic!("the application's statements {:?}: {e}", self.statements);
        }
        Ok(Evidence::new())
    }
}

/// Puts `law/1` and `law/2`, cuts `law/2` alone, imports a new body of `law/2` (`ready` again,
/// its units kept: a document another run cut and nobody holds is exempt from the check, see
/// the report), then runs over `law/1` alone with `edit` between leg-b-record and write-verify.
async fn run_with_edit(
    fixture: &impl SqlFixture,
    edit: &[&str],
) -> Result<Outcome, Box<dyn std::error::Error>> {
    let adapter: Arc<dyn LiveExecutionAdapter> = fixture.shared();
    let (one, two) = (DocumentId::new("law/1"), DocumentId::new("law/2"));
    adapter
        .put_document(&one, "Article 1\nOne.\nArticle 2\nTwo.\n")
        .await?;
    adapter
        .put_document(&two, "Article 1\nFirst.\nArticle 2\nSecond.\n")
        .await?;
    let rules = CutRules::preset(Preset::LegalEn);
    let plain = Runner::new(adapter.clone(), Arc::new(MemoryBackupStore::new()));
    let first = plain
        .run(
            RunRequest::new("r1", Scope::Ids(vec![two.clone()]), rules.clone()),
            RunOptions::default(),
        )
        .await?;
    assert!(first.outcome.is_success(), "{:?}", first.outcome);
    adapter
        .put_document(&two, "Article 1\nFirst, amended.\nArticle 2\nSecond.\n")
        .await?;

    let mut phases = default_phases();
    let write_verify = phases.len() - 2;
    phases.insert(
        write_verify,
        Box::new(RawEdit::new(fixture.options(), edit)),
    );
    let runner = Runner::with_phases(adapter, Arc::new(MemoryBackupStore::new()), phases);
    let second = runner
        .run(
            RunRequest::new("r2", Scope::Ids(vec![one]), rules),
            RunOptions::default(),
        )
        .await?;
    Ok(second.outcome)
}

/// One unit of the document outside the scope edited: BLOCKED at write-verify naming it.
async fn an_edit_outside_blocks(fixture: Option<impl SqlFixture>) -> TestResult {
    let Some(fixture) = fixture else {
        return Ok(());
    };
    let outcome = run_with_edit(
        &fixture,
        &["UPDATE {t}units SET body = 'edited' WHERE document = 'law/2' AND ordinal = 1"],
    )
    .await?;
    let Outcome::Blocked { gap } = &outcome else {
        return Err(format!("expected BLOCKED, got {outcome:?}").into());
    };
    assert_eq!(gap.phase, "write-verify", "{gap}");
    assert_eq!(gap.document, Some(DocumentId::new("law/2")), "{gap}");
    fixture.finish().await;
    Ok(())
}

/// Every unit and generation record saved as it was (an ORM's save, a maintenance script):
/// nothing changed, so nothing blocks; the run passes, as with the whole census.
async fn unchanged_rows_pass(fixture: Option<impl SqlFixture>) -> TestResult {
    let Some(fixture) = fixture else {
        return Ok(());
    };
    let outcome = run_with_edit(
        &fixture,
        &[
            "UPDATE {t}units SET body = body, sha256 = sha256",
            "UPDATE {t}generations SET state = state",
            "UPDATE {t}documents SET body = body",
        ],
    )
    .await?;
    assert!(outcome.is_success(), "{outcome:?}");
    fixture.finish().await;
    Ok(())
}

on_fixtures!(an_edit_outside_blocks:
    an_edit_outside_the_scope_blocks_on_sqlite on sqlite,
    an_edit_outside_the_scope_blocks_on_postgres on postgres,
);

on_fixtures!(unchanged_rows_pass:
    rows_saved_unchanged_outside_the_scope_pass_on_sqlite on sqlite,
    rows_saved_unchanged_outside_the_scope_pass_on_postgres on postgres,
);
