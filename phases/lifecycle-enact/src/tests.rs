use iu_cutter_live_execution::EvidenceValue;
use iu_cutter_live_execution::{
    AdapterError, Backup, Census, CutRules, Document, DocumentId, DocumentPlan, DocumentState,
    MockLiveExecutionAdapter, Op, OpKind, Plan, Preset, Reply, RunId, SCHEMA_VERSION, Scope,
    expect_op, refuse_mutations_except, sha256_hex,
};
use iu_cutter_phase_core::testing::{
    self, RUN, backup_of, blocked, conflict, document, failure, gate_closed, stopped_by_gate,
};
use iu_cutter_phase_core::{DocumentBatches, Phase, PhaseError, RunContext};
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
    expect_op!(mock, LoadPlanPart).returning(testing::sealed_plan(&plan(ids)));
    match enact {
        Some(refusal) => expect_op!(mock, Enact)
            .times(1)
            .returning(move |_, _| Err(refusal())),
        None => expect_op!(mock, Enact).times(0),
    };
    expect_op!(mock, LoadScope).times(0);
    // A conflict reads the documents once, to say what the run holds enacted; nothing else does.
    let conflicted =
        enact.is_some_and(|refusal| matches!(refusal(), AdapterError::Conflict { .. }));
    expect_op!(mock, LoadHeads)
        .times(usize::from(conflicted))
        .returning(|_, _| heads(&[source("a", 3), source("b", 9)]));
    failing(mock, accepted).await
}

/// The reply to `load_heads` of a store holding `documents`.
/// `documents`' heads, those `op` (a `LoadHeads` by ids) asks for.
fn heads_asked(op: &Op<'_>, documents: &[Document]) -> Result<Reply, AdapterError> {
    match op {
        Op::LoadHeads(Scope::Ids(ids)) => {
            let asked: Vec<Document> = documents
                .iter()
                .filter(|d| ids.contains(&d.id))
                .cloned()
                .collect();
            heads(&asked)
        }
        _ => heads(documents),
    }
}

fn heads(documents: &[Document]) -> Result<Reply, AdapterError> {
    Ok(documents
        .iter()
        .map(Document::head)
        .collect::<Vec<_>>()
        .into())
}

/// Runs the phase over `mock`, which must make it fail (`accepted`: what passing would mean),
/// and returns its error.
async fn failing(
    mock: MockLiveExecutionAdapter,
    accepted: &str,
) -> Result<PhaseError, Box<dyn std::error::Error>> {
    Ok(failure(&LifecycleEnact, &mut context(mock).await?, accepted).await?)
}

/// A mock that reads the plan of documents `a` and `b`, and a sequence for its other calls.
fn reading_the_plan_of_a_and_b() -> (MockLiveExecutionAdapter, Sequence) {
    let mut mock = MockLiveExecutionAdapter::new();
    let seq = Sequence::new();
    // Read through twice (checked, then used): not in the sequence of the mutations.
    expect_op!(mock, LoadPlanPart).returning(testing::sealed_plan(&plan(&["a", "b"])));
    (mock, seq)
}

/// An adapter expecting load_plan, one enact with the backup's expectations (answering `moved`),
/// then the read-back (answering `after`).
fn enacting(moved: u64, after: Vec<Document>) -> MockLiveExecutionAdapter {
    let (mut mock, mut seq) = reading_the_plan_of_a_and_b();
    expect_op!(mock, Enact, Op::Enact { run, expectations: e }
        if run.as_str() == RUN && *e == expectations().as_slice())
    .times(1)
    .in_sequence(&mut seq)
    .returning(move |_, _| Ok(moved.into()));
    expect_op!(mock, LoadHeads, Op::LoadHeads(scope)
        if **scope == Scope::Ids(vec![DocumentId::new("a"), DocumentId::new("b")]))
    .times(1)
    .in_sequence(&mut seq)
    .returning(move |_, _| heads(&after));
    mock
}

#[tokio::test]
async fn enacts_every_document_in_one_call_then_reads_back() -> TestResult {
    let mock = enacting(2, vec![enacted("a"), enacted("b")]);
    let evidence = LifecycleEnact.run(&mut context(mock).await?).await?;
    assert_eq!(evidence["documents_active"].as_count(), Some(2));
    assert_eq!(evidence["documents_enacted"].as_count(), Some(2));
    assert_eq!(evidence["batches"].as_count(), Some(1));
    assert_eq!(
        evidence["enact_atomic_across_scope"],
        EvidenceValue::Flag(true)
    );
    assert!(evidence["longest_batch_ms"].as_count().is_some());
    assert_eq!(evidence.len(), 5);
    Ok(())
}

#[tokio::test]
async fn a_write_verify_passed_in_this_invocation_goes_with_each_expectation_as_its_proof()
-> TestResult {
    // Its snapshot and each document's planned count of units: what lets the store take it
    // instead of hashing the staged bodies again. Another run's, or none, gives none.
    let proved = |read_after: &str| -> Vec<ExpectedRevision> {
        let proof = StagedProof {
            read_after: read_after.to_owned(),
            units: 0,
        };
        let with = |e: ExpectedRevision| e.with_staged_proof(Some(proof.clone()));
        expectations().into_iter().map(with).collect()
    };
    for (noted_for, want) in [(RUN, proved("s1")), ("another run", expectations())] {
        let (mut mock, mut seq) = reading_the_plan_of_a_and_b();
        expect_op!(mock, Enact, Op::Enact { expectations: e, .. } if *e == want.as_slice())
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _| Ok(2u64.into()));
        expect_op!(mock, LoadHeads)
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _| heads(&[enacted("a"), enacted("b")]));
        let mut ctx = context(mock).await?;
        ctx.note_staged_read_after(&RunId::new(noted_for), Some("s1".into()));
        LifecycleEnact.run(&mut ctx).await?;
    }
    Ok(())
}

/// An adapter planning a and b, answering the enact of a (alone) with `first` and of b (alone)
/// with `second` (not called when `None`), then reading back `after`, if the phase gets there.
fn enacting_one_by_one(
    first: fn() -> Result<Reply, AdapterError>,
    second: Option<fn() -> Result<Reply, AdapterError>>,
    after: Vec<Document>,
) -> MockLiveExecutionAdapter {
    let (mut mock, mut seq) = reading_the_plan_of_a_and_b();
    let all = expectations();
    let a = all[..1].to_vec();
    expect_op!(mock, Enact, Op::Enact { expectations: e, .. } if *e == a.as_slice())
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_, _| first());
    let b = all[1..].to_vec();
    match second {
        Some(second) => {
            expect_op!(mock, Enact, Op::Enact { expectations: e, .. } if *e == b.as_slice())
                .times(1)
                .in_sequence(&mut seq)
                .returning(move |_, _| second())
        }
        None => expect_op!(mock, Enact).times(0),
    };
    expect_op!(mock, LoadHeads).returning(move |op, _| heads_asked(&op, &after));
    mock
}

fn moved_one() -> Result<Reply, AdapterError> {
    Ok(1u64.into())
}

#[tokio::test]
async fn enacts_in_batches_of_batch_documents_each_one_call() -> TestResult {
    let mock = enacting_one_by_one(moved_one, Some(moved_one), vec![enacted("a"), enacted("b")]);
    let mut ctx = context(mock).await?;
    ctx.batch_documents = DocumentBatches::Of(1);
    let events = testing::record_events(&mut ctx);

    let evidence = LifecycleEnact.run(&mut ctx).await?;

    assert_eq!(evidence["documents_enacted"].as_count(), Some(2));
    assert_eq!(evidence["batches"].as_count(), Some(2));
    assert_eq!(
        evidence["enact_atomic_across_scope"],
        EvidenceValue::Flag(false)
    );
    assert_eq!(testing::progress(&events), [(1, 2), (2, 2)]);
    Ok(())
}

/// Bounded memory: each batch is enacted and read back before the next batch is read, so the
/// phase never holds more than one batch's expectations or heads.
#[tokio::test]
async fn each_batch_is_read_back_before_the_next_is_enacted() -> TestResult {
    let (mut mock, mut seq) = reading_the_plan_of_a_and_b();
    for id in ["a", "b"] {
        expect_op!(mock, Enact, Op::Enact { expectations: e, .. }
            if e.len() == 1 && e[0].document.as_str() == id)
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| moved_one());
        expect_op!(mock, LoadHeads, Op::LoadHeads(scope)
            if **scope == Scope::Ids(vec![DocumentId::new(id)]))
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_, _| heads(&[enacted(id)]));
    }
    let mut ctx = context(mock).await?;
    ctx.batch_documents = DocumentBatches::Of(1);
    let evidence = LifecycleEnact.run(&mut ctx).await?;
    assert_eq!(evidence["documents_active"].as_count(), Some(2));
    Ok(())
}

#[tokio::test]
async fn a_gate_closed_after_the_first_batch_stops_before_the_second() -> TestResult {
    let mock = enacting_one_by_one(
        moved_one,
        Some(|| Err(gate_closed("control row", "iu-cutter control enable"))),
        vec![enacted("a")],
    );
    let mut ctx = context(mock).await?;
    ctx.batch_documents = DocumentBatches::Of(1);
    let err = failure(&LifecycleEnact, &mut ctx, "gate ignored").await?;
    assert!(stopped_by_gate(&err), "{err}");
    Ok(())
}

#[tokio::test]
async fn a_cancel_between_batches_sends_no_further_batch() -> TestResult {
    let mock = enacting_one_by_one(moved_one, None, vec![enacted("a")]);
    let mut ctx = context(mock).await?;
    ctx.batch_documents = DocumentBatches::Of(1);
    testing::cancelled_at(&LifecycleEnact, &mut ctx, |_| true).await?;
    Ok(())
}

#[tokio::test]
async fn a_conflict_in_a_later_batch_says_what_earlier_batches_enacted() -> TestResult {
    let mock = enacting_one_by_one(
        moved_one,
        Some(|| Err(conflict("b", "revision 9", "revision 10"))),
        vec![enacted("a"), source("b", 10)],
    );
    let mut ctx = context(mock).await?;
    ctx.batch_documents = DocumentBatches::Of(1);
    let err = failure(&LifecycleEnact, &mut ctx, "conflict ignored").await?;
    let gap = blocked(err, names::LIFECYCLE_ENACT)?;
    assert_eq!(gap.document, Some(DocumentId::new("b")));
    assert!(
        gap.to_string()
            .contains("1 of its 2 document(s) are enacted on this run's generation"),
        "{gap}"
    );
    Ok(())
}

/// D1 of the fourth attack: an earlier call of the run, killed part-way, enacted `a`; this call's
/// first (and only) batch is refused on `b`. The gap must count `a`, not say "nothing was
/// enacted".
#[tokio::test]
async fn a_conflict_counts_what_an_earlier_stopped_call_enacted() -> TestResult {
    let (mut mock, mut seq) = reading_the_plan_of_a_and_b();
    expect_op!(mock, Enact)
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Err(conflict("b", "revision 9", "revision 10")));
    expect_op!(mock, LoadHeads)
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| heads(&[enacted("a"), source("b", 10)]));
    let err = failing(mock, "conflict ignored").await?;
    let gap = blocked(err, names::LIFECYCLE_ENACT)?;
    assert!(
        gap.to_string()
            .contains("1 of its 2 document(s) are enacted"),
        "{gap}"
    );
    assert!(!gap.to_string().contains("nothing"), "{gap}");
    Ok(())
}

/// D1 of the fourth attack: `a`, enacted by an earlier (killed) call, was edited by the
/// application since: it is `Ready` at a new revision, still active on the run's generation. The
/// read-back counts it as enacted (stale, its edit kept) instead of blocking the resume.
#[tokio::test]
async fn a_document_edited_after_an_earlier_call_enacted_it_counts_as_active() -> TestResult {
    let edited = Document {
        state: DocumentState::Ready,
        revision: 4,
        ..enacted("a")
    };
    let mock = enacting(1, vec![edited, enacted("b")]);
    let evidence = LifecycleEnact.run(&mut context(mock).await?).await?;
    assert_eq!(evidence["documents_active"].as_count(), Some(2));
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
    let err = failing(mock, "inactive document accepted").await?;
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

/// A load probe answering the readings given, in order (the last one again when they run
/// out); `None` is the kill switch's refusal.
#[derive(Debug)]
struct Readings(std::sync::Mutex<Vec<Option<f64>>>);

#[async_trait::async_trait]
impl iu_cutter_live_execution::LoadProbe for Readings {
    fn describe(&self) -> String {
        "test load".to_owned()
    }

    async fn read(&self) -> Result<f64, AdapterError> {
        let mut readings = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let reading = if readings.len() > 1 {
            readings.remove(0)
        } else {
            readings.first().copied().flatten()
        };
        reading.ok_or_else(|| gate_closed("control row", "iu-cutter control enable"))
    }
}

/// The enact of a then b, one per batch, with `readings` read between the two.
async fn backing_off(
    readings: Vec<Option<f64>>,
    second: Option<fn() -> Result<Reply, AdapterError>>,
) -> Result<
    (
        RunContext,
        std::sync::mpsc::Receiver<iu_cutter_phase_core::RunEvent>,
    ),
    PhaseError,
> {
    let mock = enacting_one_by_one(moved_one, second, vec![enacted("a"), enacted("b")]);
    let mut ctx = context(mock).await?;
    ctx.batch_documents = DocumentBatches::Of(1);
    ctx.back_off = Some(iu_cutter_phase_core::BackOff {
        probe: std::sync::Arc::new(Readings(std::sync::Mutex::new(readings))),
        threshold: 3.0,
    });
    let events = testing::record_events(&mut ctx);
    Ok((ctx, events))
}

fn backing_off_events(
    events: &std::sync::mpsc::Receiver<iu_cutter_phase_core::RunEvent>,
) -> Vec<String> {
    events
        .try_iter()
        .filter_map(|event| match event {
            iu_cutter_phase_core::RunEvent::BackingOff { load, .. } => Some(load),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_busy_database_holds_the_next_batch_back_until_its_load_drops() -> TestResult {
    let (mut ctx, events) =
        backing_off(vec![Some(5.0), Some(4.0), Some(3.0)], Some(moved_one)).await?;

    let evidence = LifecycleEnact.run(&mut ctx).await?;

    assert_eq!(evidence["documents_enacted"].as_count(), Some(2));
    // Two readings above the threshold: waits of 100 and 200 ms.
    let waited = evidence["load_waited_ms"]
        .as_count()
        .ok_or("no load_waited_ms")?;
    assert!((300..2_000).contains(&waited), "waited {waited} ms");
    assert_eq!(
        backing_off_events(&events),
        ["test load 5 > 3", "test load 4 > 3"]
    );
    Ok(())
}

#[tokio::test]
async fn a_closed_gate_stops_a_phase_waiting_on_the_load() -> TestResult {
    let (mut ctx, events) = backing_off(vec![Some(5.0), None], None).await?;
    let err = failure(&LifecycleEnact, &mut ctx, "gate ignored").await?;
    assert!(stopped_by_gate(&err), "{err}");
    assert_eq!(backing_off_events(&events).len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_cancellation_stops_a_phase_waiting_on_the_load() -> TestResult {
    let (mut ctx, _) = backing_off(vec![Some(5.0)], None).await?;
    testing::cancelled_at(&LifecycleEnact, &mut ctx, |event| {
        matches!(event, iu_cutter_phase_core::RunEvent::BackingOff { .. })
    })
    .await?;
    Ok(())
}
