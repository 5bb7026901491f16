//! Edits underneath a run: a document edited between the backup and the fence (by a phase
//! inserted between backup and cut-leg-a that writes through the adapter, as any other writer
//! would) ⇒ the run is `BLOCKED` naming the document, and no document or unit was mutated by
//! the run. On the simulator and on SQLite.

use iu_cutter_live_execution::prelude::*;
use std::sync::Arc;

use iu_cutter_live_execution::{CutRules, DocumentId, LiveExecutionAdapter, Preset, Scope};
use iu_cutter_orchestrator::{Outcome, RunOptions, RunRequest, Runner, default_phases};
use iu_cutter_phase_core::MemoryBackupStore;
use iu_cutter_tests::application::PutDocument;
use iu_cutter_tests::fixture::Fixture;

use crate::TestResult;

fn documents() -> Vec<(DocumentId, String)> {
    vec![
        (
            DocumentId::new("law/1"),
            "Article 1\nOne.\nArticle 2\nTwo.\n".to_owned(),
        ),
        (DocumentId::new("law/2"), "Article 1\nOnly.\n".to_owned()),
    ]
}

/// The runner with the editing phase between backup and cut-leg-a.
fn runner(adapter: Arc<dyn LiveExecutionAdapter>) -> Runner {
    let mut phases = default_phases();
    phases.insert(
        1,
        Box::new(PutDocument {
            name: "edit-underneath",
            application: adapter.clone(),
            document: DocumentId::new("law/2"),
            body: "Article 1\nEdited underneath the run.\n",
        }),
    );
    Runner::with_phases(adapter, Arc::new(MemoryBackupStore::new()), phases)
}

/// Runs on the fixture's store (none: skipped) with the edit underneath and checks: BLOCKED
/// naming law/2, no unit written, and every document as it was before the run except law/2's
/// edit (which is not the run's).
async fn blocked_and_untouched(fixture: &impl Fixture) -> TestResult {
    let adapter = fixture.shared();
    for (id, body) in documents() {
        adapter.put_document(&id, &body).await?;
    }
    let before = adapter.snapshot().await?;
    let report = runner(adapter.clone())
        .run(
            RunRequest::new("run-e", Scope::All, CutRules::preset(Preset::LegalEn)),
            RunOptions::default(),
        )
        .await?;
    let Outcome::Blocked { gap } = &report.outcome else {
        return Err(format!("expected BLOCKED, got {:?}", report.outcome).into());
    };
    assert_eq!(gap.document, Some(DocumentId::new("law/2")), "{gap}");
    assert!(!gap.next.is_empty(), "{gap}");
    let after = adapter.snapshot().await?;
    assert!(after.units.is_empty(), "no unit written: {:?}", after.units);
    assert!(after.generations.is_empty(), "no generation staged");
    for document in &after.documents {
        let was = before
            .documents
            .iter()
            .find(|d| d.id == document.id)
            .ok_or("a document appeared")?;
        assert_eq!(document.active_generation, was.active_generation);
        assert_eq!(document.state, was.state, "{} left fenced", document.id);
        if document.id.as_str() == "law/1" {
            assert_eq!(document, was, "law/1 changed");
        } else {
            assert_eq!(document.revision, was.revision + 1, "only the edit");
        }
    }
    Ok(())
}

on_fixtures!(blocked_and_untouched:
    an_edit_between_backup_and_fence_blocks_on_the_simulator on simulator,
    an_edit_between_backup_and_fence_blocks_on_sqlite on sqlite,
);
