//! `examples/embed.rs` runs as a test: an embedder on SQLite runs, observes, cancels, resumes.

// The example's `main` is not called here; its `embed` is.
#[allow(dead_code)]
#[path = "../examples/embed.rs"]
mod embed;

use iu_cutter_orchestrator::{Outcome, PhaseEntryStatus, RunEvent};

#[tokio::test]
async fn the_embedding_example_runs_cancels_and_resumes_on_sqlite()
-> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let embedded = embed::embed(dir.path()).await?;

    let Outcome::Failed { resume_from, .. } = &embedded.cancelled.outcome else {
        return Err(format!("expected FAILED: {}", embedded.cancelled.to_json()).into());
    };
    assert_eq!(resume_from.as_deref(), Some("cut-leg-a"));
    let backup_done = embedded.events.iter().any(|e| {
        matches!(e, RunEvent::PhaseFinished { phase, status, .. } if phase == "backup" && status == "done")
    });
    assert!(backup_done, "{:?}", embedded.events);
    assert!(
        matches!(embedded.events.last(), Some(RunEvent::RunFinished { outcome, .. }) if outcome == "FAILED"),
        "{:?}",
        embedded.events
    );

    assert_eq!(
        embedded.resumed.outcome,
        Outcome::Pass,
        "{}",
        embedded.resumed.to_json()
    );
    let statuses: Vec<_> = embedded.resumed.phases.iter().map(|p| p.status).collect();
    assert_eq!(statuses[0], PhaseEntryStatus::Skipped);
    assert!(
        statuses[1..].iter().all(|s| *s == PhaseEntryStatus::Done),
        "{statuses:?}"
    );
    assert_eq!(
        embedded.journaled, 2,
        "both reports are journaled by the runner"
    );
    Ok(())
}
