use iu_cutter_live_execution::{
    AdapterError, Backup, Census, CutRules, Document, DocumentId, DocumentPlan, DocumentState,
    MockLiveExecutionAdapter, Op, OpKind, Plan, Preset, Reply, RunId, SCHEMA_VERSION, Scope,
    expect_op, refuse_mutations_except, sha256_hex,
};
use iu_cutter_phase_core::testing::{
    self, RUN, backup_of, blocked, conflict, document, failure, gate_closed, stopped_by_gate,
};
use iu_cutter_phase_core::{Phase, PhaseError, RunContext};
use mockall::Sequence;

use super::*;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn source(id: &str, revision: u64) -> Document {
    Document {
        active_generation: Some(RunId::new("old")),
        ..document(id, revision, id)
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
    backup_of(Census::default(), [source("a", 3), source("b", 9)])
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

/// The run's context over `mock`, which may enact but must not mutate otherwise.
async fn context(mut mock: MockLiveExecutionAdapter) -> Result<RunContext, PhaseError> {
    refuse_mutations_except(&mut mock, &[OpKind::Enact]);
    testing::context(
        mock,
        Scope::Prefix(String::new()),
        CutRules::preset(Preset::Paragraphs),
        Some(&backup()),
    )
    .await
}

/// load_plan planning `ids`, then one enact refused with `enact()` (no enact at all when `None`),
/// and nothing read back: runs the phase, which must fail, and returns its error.
async fn failure_before_read_back(
    ids: &'static [&'static str],
    enact: Option<fn() -> AdapterError>,
    accepted: &str,
) -> Result<PhaseError, Box<dyn std::error::Error>> {
    let mut mock = MockLiveExecutionAdapter::new();
    expect_op!(mock, LoadPlan)
        .times(1)
        .returning(move |_, _| Ok(Reply::Plan(Some(plan(ids)))));
    match enact {
        Some(refusal) => expect_op!(mock, Enact)
            .times(1)
            .returning(move |_, _| Err(refusal())),
        None => expect_op!(mock, Enact).times(0),
    };
    expect_op!(mock, LoadScope).times(0);
    expect_op!(mock, LoadHeads).times(0);
    Ok(failure(&LifecycleEnact, &mut context(mock).await?, accepted).await?)
}

/// An adapter expecting load_plan, one enact with the backup's expectations (answering `moved`),
/// then the read-back (answering `after`).
fn enacting(moved: u64, after: Vec<Document>) -> MockLiveExecutionAdapter {
    let mut mock = MockLiveExecutionAdapter::new();
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
    mock
}

#[tokio::test]
async fn enacts_every_document_in_one_call_then_reads_back() -> TestResult {
    let mock = enacting(2, vec![enacted("a"), enacted("b")]);
    let evidence = LifecycleEnact.run(&mut context(mock).await?).await?;
    assert_eq!(evidence["documents_active"].as_count(), Some(2));
    assert_eq!(evidence["documents_enacted"].as_count(), Some(2));
    assert_eq!(evidence.len(), 2);
    Ok(())
}

#[tokio::test]
async fn a_rerun_that_moves_nothing_gives_the_same_evidence() -> TestResult {
    let first = enacting(2, vec![enacted("a"), enacted("b")]);
    let first = LifecycleEnact.run(&mut context(first).await?).await?;

    let second = enacting(0, vec![enacted("a"), enacted("b")]);
    let second = LifecycleEnact.run(&mut context(second).await?).await?;
    assert_eq!(first, second);
    Ok(())
}

#[tokio::test]
async fn a_closed_gate_stops_the_phase_with_nothing_else_called() -> TestResult {
    let err = failure_before_read_back(
        &["a", "b"],
        Some(|| gate_closed("configuration (execution_enabled)", "pass --execute")),
        "gate ignored",
    )
    .await?;
    assert!(stopped_by_gate(&err), "{err}");
    Ok(())
}

#[tokio::test]
async fn a_conflict_blocks_naming_the_document() -> TestResult {
    let err = failure_before_read_back(
        &["a", "b"],
        Some(|| conflict("b", "revision 9", "revision 10")),
        "conflict ignored",
    )
    .await?;
    let gap = blocked(err, names::LIFECYCLE_ENACT)?;
    assert_eq!(gap.document, Some(DocumentId::new("b")));
    assert_eq!(
        (gap.expected.as_str(), gap.found.as_str()),
        ("revision 9", "revision 10")
    );
    Ok(())
}

#[tokio::test]
async fn a_document_not_active_after_enact_blocks() -> TestResult {
    let mut reverted = source("b", 10);
    reverted.state = DocumentState::Ready;
    let mock = enacting(2, vec![enacted("a"), reverted]);
    let err = failure(
        &LifecycleEnact,
        &mut context(mock).await?,
        "inactive document accepted",
    )
    .await?;
    let gap = blocked(err, names::LIFECYCLE_ENACT)?;
    assert_eq!(gap.document, Some(DocumentId::new("b")));
    assert!(gap.found.contains("Ready"), "{gap}");
    Ok(())
}

#[tokio::test]
async fn a_planned_document_missing_from_the_backup_enacts_nothing() -> TestResult {
    let err = failure_before_read_back(&["a", "b", "c"], None, "missing document accepted").await?;
    assert!(matches!(err, PhaseError::Precondition(_)), "{err}");
    Ok(())
}
