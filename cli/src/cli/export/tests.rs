//! `export --out`: the file sink.

use std::sync::Arc;

use iu_cutter_orchestrator::{ExportRequest, ExportSummary, Runner};
use iu_cutter_phase_core::MemoryBackupStore;
use iu_cutter_simulator::Simulator;

use super::{summary_line, to_file};

/// `--out FILE` in a directory others can write (`/tmp`): the partial file's name is
/// `FILE.PID.partial`, known in advance, and a link planted there was followed: the export
/// truncated and wrote the link's target (another file of the user's, made 0600 too), then
/// renamed the link. It must write a file of its own or fail, leaving the target as it was.
#[cfg(unix)]
#[tokio::test]
async fn export_out_never_writes_through_a_link_at_its_partial_name()
-> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let victim = dir.path().join("precious.txt");
    std::fs::write(&victim, "precious")?;
    let out = dir.path().join("out.jsonl");
    let partial = format!("{}.{}.partial", out.display(), std::process::id());
    std::os::unix::fs::symlink(&victim, &partial)?;
    let store = Arc::new(Simulator::with_documents([("law/1", "# Law\n\nText.\n")]));
    let runner = Runner::new(store, Arc::new(MemoryBackupStore::new()));
    let written = to_file(&runner, &ExportRequest::default(), &out, "iu-cutter export").await;
    assert_eq!(
        std::fs::read_to_string(&victim)?,
        "precious",
        "the link's target was written ({:?})",
        written.err()
    );
    Ok(())
}

/// `--since`'s summary tells documents deleted from documents exported whole: both are
/// `remove_document` lines, but only the first left the index without the document.
#[test]
fn the_since_summary_tells_deleted_documents_from_documents_exported_whole() {
    let request = ExportRequest {
        since: Some(iu_cutter_orchestrator::RunId::new("r1")),
        ..ExportRequest::default()
    };
    let summary = |removed, replaced| ExportSummary {
        documents: 3,
        upserts: 7,
        documents_removed: removed,
        documents_replaced: replaced,
        ..ExportSummary::default()
    };
    let line = summary_line(&summary(3, 1), &request);
    assert!(line.contains(", 2 of them deleted"), "{line}");
    assert!(line.contains(", 1 exported whole"), "{line}");
    let line = summary_line(&summary(1, 1), &request);
    assert!(!line.contains("deleted"), "{line}");
    assert!(line.contains("1 exported whole"), "{line}");
    let line = summary_line(&summary(0, 0), &request);
    assert!(!line.contains("remove_document"), "{line}");
}
