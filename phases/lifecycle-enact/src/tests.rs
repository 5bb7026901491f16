use std::sync::Arc;

use iu_cutter_live_execution::{
    AdapterError, Backup, Census, CutRules, Document, DocumentId, DocumentPlan, DocumentSnapshot,
    DocumentState, MockLiveExecutionAdapter, Op, OpKind, Plan, Preset, Reply, RunId, RunRecord,
    SCHEMA_VERSION, Scope, expect_op, sha256_hex,
};
use iu_cutter_phase_core::{BackupStore, MemoryBackupStore, Phase, PhaseError, RunContext};
use mockall::Sequence;

use super::*;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const RUN: &str = "run-1";

fn source(id: &str, revision: u64) -> Document {
    Document {
        id: DocumentId::new(id),
        revision,
        sha256: sha256_hex(id.as_bytes()),
        state: DocumentState::Ready,
        active_generation: Some(RunId::new("old")),
        body: id.to_owned(),
    }
}

fn plan(ids: &[&str]) -> Plan {
    Plan {
        schema_version: SCHEMA_VERSION,
        rules: CutRules::preset(Preset::Paragraphs),
        documents: ids
            .iter()
            .map(|id| DocumentPlan {
                document: DocumentId::new(*id),
                revision: 3,
                source_sha256: sha256_hex(id.as_bytes()),
                source_bytes: id.len() as u64,
                units: vec![],
                preset: None,
            })
            .collect(),
    }
}

fn backup() -> Backup {
    Backup {
        schema_version: SCHEMA_VERSION,
        run: RunId::new(RUN),
        census: Census::default(),
        documents: [source("a", 3), source("b", 9)]
            .into_iter()
            .map(|document| DocumentSnapshot {
                document,
                generations: vec![],
                active_units: vec![],
            })
            .collect(),
    }
}

/// Exactly what the run saw at backup, every field, and the units write-verify approved.
fn expectations() -> Vec<ExpectedRevision> {
    let plan = plan(&["a", "b"]);
    [source("a", 3), source("b", 9)]
        .iter()
        .zip(&plan.documents)
        .map(|(document, planned)| {
            ExpectedRevision::of(document).with_staged_units(planned.units_digest(&RunId::new(RUN)))
        })
        .collect()
}

fn enacted(id: &str) -> Document {
    Document {
        state: DocumentState::Cut,
        active_generation: Some(RunId::new(RUN)),
        ..source(id, if id == "a" { 3 } else { 9 })
    }
}

/// Every mutation but this phase's own (the enact): a call no expectation answers panics anyway;
/// this set says so where a reader looks, and being saturated from the start it never shadows
/// an answer set before or after it.
fn forbid_other_mutations(mock: &mut MockLiveExecutionAdapter) {
    mock.expect_call()
        .withf(|op, _| op.kind().mutates() && op.kind() != OpKind::Enact)
        .times(0);
}

async fn context(mock: MockLiveExecutionAdapter) -> Result<RunContext, PhaseError> {
    let store = Arc::new(MemoryBackupStore::new());
    store.save(&backup()).await?;
    let record = RunRecord::new(
        RunId::new(RUN),
        Scope::Prefix(String::new()),
        CutRules::preset(Preset::Paragraphs),
    );
    Ok(RunContext::new(record, Arc::new(mock), store))
}

/// load_plan, one enact with the backup's expectations (answering `moved`), then the read-back.
fn expect_enact(mock: &mut MockLiveExecutionAdapter, moved: u64, after: Vec<Document>) {
    let mut seq = Sequence::new();
    expect_op!(mock, LoadPlan)
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(Reply::Plan(Some(plan(&["a", "b"])))));
    expect_op!(mock, Enact, Op::Enact { run, expectations: e }
        if run.as_str() == RUN && *e == expectations().as_slice())
    .times(1)
    .in_sequence(&mut seq)
    .returning(move |_, _| Ok(moved.into()));
    expect_op!(mock, LoadHeads, Op::LoadHeads(scope)
        if **scope == Scope::Ids(vec![DocumentId::new("a"), DocumentId::new("b")]))
    .times(1)
    .in_sequence(&mut seq)
    .returning(move |_, _| Ok(after.iter().map(Document::head).collect::<Vec<_>>().into()));
}

#[tokio::test]
async fn enacts_every_document_in_one_call_then_reads_back() -> TestResult {
    let mut mock = MockLiveExecutionAdapter::new();
    expect_enact(&mut mock, 2, vec![enacted("a"), enacted("b")]);
    forbid_other_mutations(&mut mock);
    let evidence = LifecycleEnact.run(&mut context(mock).await?).await?;
    assert_eq!(evidence["documents_active"].as_count(), Some(2));
    assert_eq!(evidence["documents_enacted"].as_count(), Some(2));
    assert_eq!(evidence.len(), 2);
    Ok(())
}

#[tokio::test]
async fn a_rerun_that_moves_nothing_gives_the_same_evidence() -> TestResult {
    let mut first = MockLiveExecutionAdapter::new();
    expect_enact(&mut first, 2, vec![enacted("a"), enacted("b")]);
    forbid_other_mutations(&mut first);
    let first = LifecycleEnact.run(&mut context(first).await?).await?;

    let mut second = MockLiveExecutionAdapter::new();
    expect_enact(&mut second, 0, vec![enacted("a"), enacted("b")]);
    forbid_other_mutations(&mut second);
    let second = LifecycleEnact.run(&mut context(second).await?).await?;
    assert_eq!(first, second);
    Ok(())
}

#[tokio::test]
async fn a_closed_gate_stops_the_phase_with_nothing_else_called() -> TestResult {
    let mut mock = MockLiveExecutionAdapter::new();
    expect_op!(mock, LoadPlan)
        .times(1)
        .returning(|_, _| Ok(Reply::Plan(Some(plan(&["a", "b"])))));
    expect_op!(mock, Enact).times(1).returning(|_, _| {
        Err(AdapterError::GateClosed {
            switch: "configuration (execution_enabled)".into(),
            how_to_open: "pass --execute".into(),
        })
    });
    expect_op!(mock, LoadScope).times(0);
    expect_op!(mock, LoadHeads).times(0);
    forbid_other_mutations(&mut mock);
    let err = LifecycleEnact
        .run(&mut context(mock).await?)
        .await
        .err()
        .ok_or("gate ignored")?;
    assert!(
        matches!(err, PhaseError::Adapter(AdapterError::GateClosed { .. })),
        "{err}"
    );
    Ok(())
}

#[tokio::test]
async fn a_conflict_blocks_naming_the_document() -> TestResult {
    let mut mock = MockLiveExecutionAdapter::new();
    expect_op!(mock, LoadPlan)
        .times(1)
        .returning(|_, _| Ok(Reply::Plan(Some(plan(&["a", "b"])))));
    expect_op!(mock, Enact).times(1).returning(|_, _| {
        Err(AdapterError::Conflict {
            document: DocumentId::new("b"),
            expected: "revision 9".into(),
            found: "revision 10".into(),
        })
    });
    expect_op!(mock, LoadScope).times(0);
    expect_op!(mock, LoadHeads).times(0);
    forbid_other_mutations(&mut mock);
    let err = LifecycleEnact
        .run(&mut context(mock).await?)
        .await
        .err()
        .ok_or("conflict ignored")?;
    let PhaseError::Blocked(gap) = err else {
        return Err(format!("expected a gap, got {err}").into());
    };
    assert_eq!(gap.phase, names::LIFECYCLE_ENACT);
    assert_eq!(gap.document, Some(DocumentId::new("b")));
    assert_eq!(
        (gap.expected.as_str(), gap.found.as_str()),
        ("revision 9", "revision 10")
    );
    assert!(
        gap.next_action.contains("iu-cutter rollback run-1"),
        "{gap}"
    );
    Ok(())
}

#[tokio::test]
async fn a_document_not_active_after_enact_blocks() -> TestResult {
    let mut mock = MockLiveExecutionAdapter::new();
    let mut reverted = source("b", 10);
    reverted.state = DocumentState::Ready;
    expect_enact(&mut mock, 2, vec![enacted("a"), reverted]);
    forbid_other_mutations(&mut mock);
    let err = LifecycleEnact
        .run(&mut context(mock).await?)
        .await
        .err()
        .ok_or("inactive document accepted")?;
    let PhaseError::Blocked(gap) = err else {
        return Err(format!("expected a gap, got {err}").into());
    };
    assert_eq!(gap.document, Some(DocumentId::new("b")));
    assert!(gap.found.contains("Ready"), "{gap}");
    Ok(())
}

#[tokio::test]
async fn a_planned_document_missing_from_the_backup_enacts_nothing() -> TestResult {
    let mut mock = MockLiveExecutionAdapter::new();
    expect_op!(mock, LoadPlan)
        .times(1)
        .returning(|_, _| Ok(Reply::Plan(Some(plan(&["a", "b", "c"])))));
    expect_op!(mock, Enact).times(0);
    expect_op!(mock, LoadScope).times(0);
    expect_op!(mock, LoadHeads).times(0);
    forbid_other_mutations(&mut mock);
    let err = LifecycleEnact
        .run(&mut context(mock).await?)
        .await
        .err()
        .ok_or("missing document accepted")?;
    assert!(matches!(err, PhaseError::Precondition(_)), "{err}");
    Ok(())
}
