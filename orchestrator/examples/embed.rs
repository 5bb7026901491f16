//! A service embedding the runner on SQLite, with nothing but `iu-cutter-orchestrator` (feature
//! `sqlite`): create the database, connect behind a kill switch of the service's own, seed two
//! documents, start a run while watching its events as an async stream, cancel it after the
//! backup, and resume it to the end. The runner journals both reports.
//!
//! `cargo run -p iu-cutter-orchestrator --features sqlite --example embed`

use std::error::Error;
use std::path::Path;
use std::sync::Arc;

use iu_cutter_orchestrator::prelude::*;
use iu_cutter_orchestrator::{
    CancelFlag, CutRules, DirBackupStore, DocumentId, EventSink, ExecutionGate,
    LiveExecutionAdapter, ManualSwitch, Preset, RunEvent, RunId, RunOptions, RunReport, RunRequest,
    Runner, Scope, event_stream, sql,
};

/// What the embedding saw.
pub(crate) struct Embedded {
    /// Every event of the cancelled run, in order.
    pub(crate) events: Vec<RunEvent>,
    /// The cancelled run's report.
    pub(crate) cancelled: RunReport,
    /// The resumed run's report.
    pub(crate) resumed: RunReport,
    /// How many reports of the run the journal holds.
    pub(crate) journaled: usize,
}

/// Runs the whole embedding in `dir` (the database and the backups go there).
pub(crate) async fn embed(dir: &Path) -> Result<Embedded, Box<dyn Error>> {
    let url = format!("sqlite://{}", dir.join("store.db").display());
    sql::init(&url).await?;
    // The service's own switch; the database's control row closes it too.
    let switch = ManualSwitch::new(
        "service",
        true,
        "enable execution in the service's settings",
    );
    let store: Arc<dyn LiveExecutionAdapter> =
        Arc::new(sql::connect(&url, ExecutionGate::new().with_source(switch)).await?);
    for (id, body) in [
        (
            "law/1",
            "# Law 1\n\n## Article 1\n\nFirst.\n\n## Article 2\n\nSecond.\n",
        ),
        ("law/2", "# Law 2\n\n## Article 1\n\nOnly.\n"),
    ] {
        store.put_document(&DocumentId::new(id), body).await?;
    }
    let runner = Runner::new(
        store.clone(),
        Arc::new(DirBackupStore::new(dir.join("backups"))),
    );
    let run = RunId::new("embedded-1");

    let (sink, mut stream) = event_stream();
    let watcher = tokio::spawn(async move {
        let mut events = Vec::new();
        while let Some(event) = stream.next().await {
            events.push(event);
        }
        events
    });
    let cancel = CancelFlag::new();
    let stop = cancel.clone();
    let events: Arc<dyn EventSink> = Arc::new(move |event: RunEvent| {
        if matches!(&event, RunEvent::PhaseFinished { phase, .. } if phase == "backup") {
            stop.cancel();
        }
        sink.emit(event);
    });
    let request = RunRequest::new(run.clone(), Scope::All, CutRules::preset(Preset::Markdown));
    let options = RunOptions::default()
        .with_cancel(cancel)
        .with_events(events);
    let cancelled = runner.run(request, options).await?;
    let events = watcher.await?;

    let resumed = runner.resume(&run, RunOptions::default()).await?;
    let journaled = store.load_reports(&run).await?.len();
    Ok(Embedded {
        events,
        cancelled,
        resumed,
        journaled,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::temp_dir().join(format!("iu-cutter-embed-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = embed(&dir).await;
    // The example's database is throwaway either way.
    let _ = std::fs::remove_dir_all(&dir);
    let embedded = result?;
    for event in &embedded.events {
        println!("event: {}", serde_json::to_string(event)?);
    }
    println!("cancelled: {}", embedded.cancelled.outcome.name());
    println!("resumed: {}", embedded.resumed.outcome.name());
    println!("reports journaled: {}", embedded.journaled);
    Ok(())
}
