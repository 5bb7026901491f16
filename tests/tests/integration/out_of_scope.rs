//! Raw SQL outside a run's scope, between leg-b-record and write-verify, on real stores: the
//! scope census (issue 15) reads only the run's documents and the change log, so these check
//! that the change log sees what the whole census saw. An application session (its own
//! connection; on PostgreSQL with the server's default `search_path`, naming iu-cutter's tables
//! by their schema) edits one unit of a document outside the scope: write-verify blocks naming
//! it. The same session saving every unit and generation record unchanged: nothing changed, the
//! run passes (as it did with the whole census).

use std::sync::Arc;

use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::{CutRules, DocumentId, LiveExecutionAdapter, Preset, Scope};
use iu_cutter_orchestrator::{Outcome, RunOptions, RunRequest, Runner, default_phases};
use iu_cutter_phase_core::MemoryBackupStore;
use iu_cutter_tests::application::RawStatements;
use iu_cutter_tests::fixture::SqlFixture;

use crate::TestResult;

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
        Box::new(RawStatements::new("raw-edit", fixture.options(), edit)),
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
async fn an_edit_outside_blocks(fixture: &impl SqlFixture) -> TestResult {
    let outcome = run_with_edit(
        fixture,
        &["UPDATE {t}units SET body = 'edited' WHERE document = 'law/2' AND ordinal = 1"],
    )
    .await?;
    let Outcome::Blocked { gap } = &outcome else {
        return Err(format!("expected BLOCKED, got {outcome:?}").into());
    };
    assert_eq!(gap.phase, "write-verify", "{gap}");
    assert_eq!(gap.document, Some(DocumentId::new("law/2")), "{gap}");
    Ok(())
}

/// Every unit and generation record saved as it was (an ORM's save, a maintenance script):
/// nothing changed, so nothing blocks; the run passes, as with the whole census.
async fn unchanged_rows_pass(fixture: &impl SqlFixture) -> TestResult {
    let outcome = run_with_edit(
        fixture,
        &[
            "UPDATE {t}units SET body = body, sha256 = sha256",
            "UPDATE {t}generations SET state = state",
            "UPDATE {t}documents SET body = body",
        ],
    )
    .await?;
    assert!(outcome.is_success(), "{outcome:?}");
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
