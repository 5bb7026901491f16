//! The seam attack of c11b997 (`iu_cutter_tests::seam_attack`) on the simulator and SQLite:
//! failing reproductions, one per finding.

mod simulator {
    iu_cutter_tests::seam_attack_suite!(iu_cutter_tests::fixture::simulator);
}

mod sqlite {
    iu_cutter_tests::seam_attack_suite!(iu_cutter_tests::fixture::sqlite);
}

/// Finding (typed evidence, issue 17): the journal's evidence changed type (a count is now a
/// JSON number, a check a boolean, a list an array) with no migration and no version a reader
/// checks: `DATABASE_SCHEMA_VERSION` and the run record's `schema_version` are unchanged. The
/// build before it (`Evidence = BTreeMap<String, String>`, read back by `codec::from_json`)
/// still connects to a store this build journaled in, and then fails to read any run this
/// build journaled (`load_run`: "cannot read the journal") and every run at once through
/// `list_runs` (`status`, `purge`, the audit's enacted runs): a deploy rolled back to the kept
/// copy (`cargo xtask rollback`) cannot roll back, resume or even list the runs of the build it
/// replaced. Reproduced here on the store's own JSON: what this build writes, read as the
/// previous build reads it.
#[tokio::test]
async fn the_previous_build_can_read_a_journal_this_build_wrote() {
    use iu_cutter_live_execution::prelude::*;
    use iu_cutter_live_execution::{CutRules, DocumentId, Preset, RunId, Scope};
    use iu_cutter_orchestrator::{RunOptions, RunRequest, Runner};
    use iu_cutter_phase_core::MemoryBackupStore;

    let Some(fixture) = iu_cutter_tests::fixture::sqlite("typed_evidence_old_reader").await else {
        return;
    };
    use iu_cutter_tests::fixture::Fixture;
    let store = fixture.adapter();
    iu_cutter_tests::ok(
        store
            .put_document(&DocumentId::new("law/1"), "# Law\n\n## Article 1\n\nOne.\n")
            .await,
        "seed",
    );
    let runner = Runner::new(fixture.shared(), std::sync::Arc::new(MemoryBackupStore::new()));
    let report = match runner
        .run(
            RunRequest::new("r1", Scope::All, CutRules::preset(Preset::Markdown)),
            RunOptions::default(),
        )
        .await
    {
        Ok(report) => report,
        Err(error) => panic!("run: {error}"),
    };
    assert_eq!(report.outcome.name(), "PASS", "{:?}", report.outcome);
    let record = iu_cutter_tests::ok(store.load_run(&RunId::new("r1")).await, "journal");
    let record = record.unwrap_or_else(|| panic!("run r1 is journaled"));
    let mut unreadable = Vec::new();
    for phase in &record.phases {
        // The JSON the store keeps in `run_phases.evidence` (sql/codec.rs `to_json`).
        let stored = match serde_json::to_string(&phase.evidence) {
            Ok(text) => text,
            Err(error) => panic!("evidence of {}: {error}", phase.name),
        };
        // How the previous build reads it back.
        let previous: Result<std::collections::BTreeMap<String, String>, _> =
            serde_json::from_str(&stored);
        if let Err(error) = previous {
            unreadable.push(format!("{}: {stored}: {error}", phase.name));
        }
    }
    assert!(
        unreadable.is_empty(),
        "the previous build cannot read this build's journal (same DATABASE_SCHEMA_VERSION {}, \
         run schema_version {}): {unreadable:#?}",
        iu_cutter_live_execution::sql::DATABASE_SCHEMA_VERSION,
        record.schema_version,
    );
    fixture.finish().await;
}
