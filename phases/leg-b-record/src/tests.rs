use std::sync::{Arc, Mutex};

use iu_cutter_live_execution::{
    Backup, Census, CutRules, Document, DocumentId, DocumentPlan, DocumentState,
    MockLiveExecutionAdapter, Op, OpKind, Plan, Preset, Reply, RunId, SCHEMA_VERSION, Scope,
    Sha256Digest, Unit, expect_op, refuse_mutations_except, sha256_hex,
};
use iu_cutter_phase_core::testing::{
    self, RUN, backup_of, document, failure, gate_closed, progress, record_events, spans,
    stopped_by_gate,
};
use iu_cutter_phase_core::{Phase, PhaseError, RunContext};
use mockall::Sequence;

use super::*;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Document `a` is cut into three units, `b` into two: five in all.
const A: &str = "# A\none\n# B\ntwo é\n# C\n";
const B: &str = "Điều 1.\nx\nĐiều 2.\ny\n";

fn doc_plan(id: &str, body: &str, ends: &[usize]) -> DocumentPlan {
    DocumentPlan {
        document: DocumentId::new(id),
        revision: 4,
        source_sha256: sha256_hex(body.as_bytes()),
        source_bytes: body.len() as u64,
        units: spans(body, ends, |i| format!("id-{i}")),
        preset: None,
    }
}

fn plan() -> Plan {
    let b_split = "Điều 1.\nx\n".len();
    Plan {
        schema_version: SCHEMA_VERSION,
        rules: CutRules::preset(Preset::Markdown),
        documents: vec![
            doc_plan("a", A, &[8, 19, A.len()]),
            doc_plan("b", B, &[b_split, B.len()]),
        ],
    }
}

/// Both documents as the fence left them, before any unit was written.
fn backup() -> Backup {
    backup_of(
        Census::default(),
        [("a", A), ("b", B)].map(|(id, body)| Document {
            state: DocumentState::Cutting {
                run: RunId::new(RUN),
            },
            ..document(id, 4, body)
        }),
    )
}

/// The (document, ordinal) pairs and bodies of a batch.
fn keys(units: &[Unit]) -> Vec<(String, u32)> {
    units
        .iter()
        .map(|u| (u.document.to_string(), u.ordinal))
        .collect()
}

/// The units of a `write_units` call, for an answer that echoes how many were written.
fn units_of<'a>(op: &Op<'a>) -> &'a [Unit] {
    match op {
        Op::WriteUnits { units, .. } => units,
        // Only ever asked of a call an `expect_op!(_, WriteUnits)` matched.
        _ => unreachable!("not a write_units call: {}", op.kind()),
    }
}

async fn context(
    mut mock: MockLiveExecutionAdapter,
    plan: Plan,
    backup: Backup,
    batch_units: usize,
) -> Result<RunContext, PhaseError> {
    refuse_mutations_except(&mut mock, &[OpKind::WriteUnits]);
    expect_op!(mock, LoadPlanPart).returning(testing::sealed_plan(&plan));
    let mut ctx = testing::context(
        mock,
        Scope::All,
        CutRules::preset(Preset::Markdown),
        Some(&backup),
    )
    .await?;
    ctx.batch_units = batch_units;
    Ok(ctx)
}

/// Runs the phase on `plan` and `backup` where no write may happen: it must refuse with a
/// precondition, whose message this returns.
async fn refused_before_writing(
    plan: Plan,
    backup: Backup,
    accepted: &str,
) -> Result<String, Box<dyn std::error::Error>> {
    let mut mock = MockLiveExecutionAdapter::new();
    expect_op!(mock, WriteUnits).times(0);
    let mut ctx = context(mock, plan, backup, 2).await?;
    match failure(&LegBRecord, &mut ctx, accepted).await? {
        PhaseError::Precondition(message) => Ok(message),
        other => Err(format!("expected a precondition, got {other}").into()),
    }
}

/// Five units, batches of two: three calls, in order, each with the exact spans of the backup.
fn expect_three_batches(mock: &mut MockLiveExecutionAdapter, seq: &mut Sequence) {
    let expected = [
        vec![("a".to_owned(), 0), ("a".to_owned(), 1)],
        vec![("a".to_owned(), 2), ("b".to_owned(), 0)],
        vec![("b".to_owned(), 1)],
    ];
    for batch in expected {
        expect_op!(mock, WriteUnits, Op::WriteUnits { run, units }
            if run.as_str() == RUN && keys(units) == batch)
        .times(1)
        .in_sequence(seq)
        .returning(|op, _| Ok((units_of(&op).len() as u64).into()));
    }
}

/// The phase's evidence from a run on [`plan`] and [`backup`] that writes the three batches.
async fn three_batch_run() -> Result<Evidence, PhaseError> {
    let mut mock = MockLiveExecutionAdapter::new();
    expect_three_batches(&mut mock, &mut Sequence::new());
    LegBRecord
        .run(&mut context(mock, plan(), backup(), 2).await?)
        .await
}

#[tokio::test]
async fn writes_five_units_in_three_ordered_batches_of_two() -> TestResult {
    let mut mock = MockLiveExecutionAdapter::new();
    let mut seq = Sequence::new();
    expect_three_batches(&mut mock, &mut seq);
    let mut ctx = context(mock, plan(), backup(), 2).await?;
    let events = record_events(&mut ctx);

    let evidence = LegBRecord.run(&mut ctx).await?;

    assert_eq!(evidence["units_written"].as_count(), Some(5));
    assert_eq!(evidence["batches"].as_count(), Some(3));
    assert!(evidence["longest_batch_ms"].as_count().is_some());
    assert_eq!(evidence.len(), 3);
    assert_eq!(progress(&events), [(2, 5), (4, 5), (5, 5)]);
    Ok(())
}

#[tokio::test]
async fn units_carry_the_run_generation_and_the_exact_backed_up_spans() -> TestResult {
    let written: Arc<Mutex<Vec<Unit>>> = Arc::default();
    let sink = written.clone();
    let mut mock = MockLiveExecutionAdapter::new();
    expect_op!(mock, WriteUnits)
        .times(1)
        .returning(move |op, _| {
            let units = units_of(&op);
            if let Ok(mut all) = sink.lock() {
                all.extend_from_slice(units);
            }
            Ok((units.len() as u64).into())
        });
    let mut ctx = context(mock, plan(), backup(), 1000).await?;

    LegBRecord.run(&mut ctx).await?;

    let written = written.lock().map_err(|e| e.to_string())?.clone();
    assert_eq!(written.len(), 5);
    let plan = plan();
    let planned = plan
        .documents
        .iter()
        .flat_map(|d| d.units.iter().map(move |u| (d.document.clone(), u)));
    for (unit, (document, planned)) in written.iter().zip(planned) {
        assert_eq!(unit.document, document);
        assert_eq!(unit.generation, RunId::new(RUN));
        assert_eq!(
            (
                unit.ordinal,
                &unit.unit_id,
                unit.path.as_str(),
                unit.part,
                unit.start,
                unit.end
            ),
            (
                planned.ordinal,
                &planned.unit_id.hex(),
                planned.path.as_str(),
                planned.part,
                planned.start,
                planned.end
            )
        );
        assert_eq!(planned.sha256, unit.sha256);
        assert_eq!(sha256_hex(unit.body.as_bytes()), unit.sha256);
    }
    let a: String = written[..3].iter().map(|u| u.body.as_str()).collect();
    let b: String = written[3..].iter().map(|u| u.body.as_str()).collect();
    assert_eq!((a.as_str(), b.as_str()), (A, B));
    Ok(())
}

#[tokio::test]
async fn a_rerun_writes_the_same_batches_and_gives_the_same_evidence() -> TestResult {
    let first_evidence = three_batch_run().await?;
    // A store that already holds the units replaces them: same calls, same evidence.
    let second_evidence = three_batch_run().await?;
    assert_eq!(first_evidence, second_evidence);
    Ok(())
}

#[tokio::test]
async fn a_closed_gate_at_the_first_batch_stops_the_phase() -> TestResult {
    let mut mock = MockLiveExecutionAdapter::new();
    expect_op!(mock, WriteUnits)
        .times(1)
        .returning(|_, _| Err(gate_closed("control row", "iu-cutter switch on")));
    let mut ctx = context(mock, plan(), backup(), 2).await?;

    let err = failure(&LegBRecord, &mut ctx, "gate ignored").await?;
    assert!(stopped_by_gate(&err), "{err}");
    Ok(())
}

#[tokio::test]
async fn cancellation_is_honoured_between_batches() -> TestResult {
    let mut mock = MockLiveExecutionAdapter::new();
    let cancel = iu_cutter_phase_core::CancelFlag::new();
    let operator = cancel.clone();
    // The operator cancels while the first batch is being written: it completes, no second batch.
    expect_op!(mock, WriteUnits, Op::WriteUnits { units, .. }
        if keys(units) == [("a".to_owned(), 0), ("a".to_owned(), 1)])
    .times(1)
    .returning(move |op, _| {
        operator.cancel();
        Ok((units_of(&op).len() as u64).into())
    });
    let mut ctx = context(mock, plan(), backup(), 2).await?;
    ctx.cancel = cancel;

    let err = failure(&LegBRecord, &mut ctx, "cancel ignored").await?;
    assert!(matches!(err, PhaseError::Cancelled), "{err}");
    Ok(())
}

#[tokio::test]
async fn a_backup_that_does_not_match_the_plan_writes_nothing() -> TestResult {
    let mut changed = backup();
    changed.documents[1].document.body = "Điều 1.\nx\nĐiều 2.\nz\n".into();
    let message = refused_before_writing(plan(), changed, "mismatch accepted").await?;
    assert!(message.contains("`b`"), "{message}");
    Ok(())
}

#[tokio::test]
async fn a_span_inside_a_code_point_writes_nothing() -> TestResult {
    // `é` is two bytes; end the second unit of `a` in its middle.
    let e_acute = A.find('é').ok_or("no é")?;
    let mut bad = plan();
    bad.documents[0].units = spans(A, &[8, e_acute + 1, A.len()], |i| format!("id-{i}"))
        .into_iter()
        .map(|mut u| {
            // Hashes are irrelevant here: the span itself is unusable.
            u.sha256 = Sha256Digest::from_bytes([0; 32]);
            u
        })
        .collect();
    let message = refused_before_writing(bad, backup(), "bad span accepted").await?;
    assert!(message.contains("character"), "{message}");
    Ok(())
}

#[tokio::test]
async fn a_planned_document_missing_from_the_backup_writes_nothing() -> TestResult {
    let mut partial = backup();
    partial.documents.truncate(1);
    let message = refused_before_writing(plan(), partial, "missing doc accepted").await?;
    assert!(message.contains("`b`"), "{message}");
    Ok(())
}

#[tokio::test]
async fn no_journaled_plan_is_a_precondition() -> TestResult {
    let mut mock = MockLiveExecutionAdapter::new();
    expect_op!(mock, LoadPlanPart).returning(|_, _| Ok(Reply::PlanPart(None)));
    expect_op!(mock, WriteUnits).times(0);
    refuse_mutations_except(&mut mock, &[OpKind::WriteUnits]);
    let mut ctx =
        testing::context(mock, Scope::All, CutRules::preset(Preset::Markdown), None).await?;

    let err = failure(&LegBRecord, &mut ctx, "ran without plan").await?;
    assert!(matches!(err, PhaseError::Precondition(_)), "{err}");
    Ok(())
}

/// A backup store that gives its one artifact back in parts of a few bytes, the last document's
/// after the first's, as a journal gives a large backup a row at a time.
struct InSmallParts {
    bytes: Vec<u8>,
    sha256: String,
}

struct Chunks(std::vec::IntoIter<Vec<u8>>);

#[async_trait::async_trait]
impl iu_cutter_phase_core::ArtifactParts for Chunks {
    async fn next_part(&mut self) -> Result<Option<Vec<u8>>, iu_cutter_phase_core::BackupError> {
        Ok(self.0.next())
    }
}

#[async_trait::async_trait]
impl iu_cutter_phase_core::BackupStore for InSmallParts {
    async fn save(
        &self,
        backup: &Backup,
    ) -> Result<iu_cutter_phase_core::BackupReceipt, iu_cutter_phase_core::BackupError> {
        Err(iu_cutter_phase_core::BackupError::BadRunId(
            backup.run.clone(),
        ))
    }

    async fn load(
        &self,
        _run: &RunId,
    ) -> Result<
        Option<(Backup, iu_cutter_phase_core::BackupReceipt)>,
        iu_cutter_phase_core::BackupError,
    > {
        Ok(None)
    }

    async fn open_with(
        &self,
        run: &RunId,
        detail: iu_cutter_phase_core::HeaderDetail,
    ) -> Result<Option<iu_cutter_phase_core::BackupReader>, iu_cutter_phase_core::BackupError> {
        let parts: Vec<Vec<u8>> = self.bytes.chunks(16).map(<[u8]>::to_vec).collect();
        let parts = Box::new(Chunks(parts.into_iter()));
        let sha256 = self.sha256.clone();
        iu_cutter_phase_core::BackupReader::open_with(run, sha256, "test".into(), parts, detail)
            .await
            .map(Some)
    }
}

/// Bounded memory reads the backup a batch at a time, but a backup whose bytes no longer match
/// their manifest is still refused before any unit is written, even when the changed bytes are
/// the last document's, read after the first's units could have been written (the whole backup
/// is checked first).
#[tokio::test]
async fn a_tampered_backup_is_refused_before_any_unit_is_written() -> TestResult {
    use iu_cutter_phase_core::{BackupError, encode_backup};
    let mut mock = MockLiveExecutionAdapter::new();
    expect_op!(mock, WriteUnits).times(0);
    let mut ctx = context(mock, plan(), backup(), 1).await?;
    ctx.batch_documents = iu_cutter_phase_core::DocumentBatches::Of(1);
    let bytes = encode_backup(&backup());
    // `b`'s body changed in place: every line still parses.
    let tampered = String::from_utf8(bytes.clone())?.replacen("Điều 2.", "Điều 3.", 1);
    ctx.backups = Arc::new(InSmallParts {
        bytes: tampered.into_bytes(),
        sha256: sha256_hex(&bytes),
    });

    let err = failure(&LegBRecord, &mut ctx, "tampered backup accepted").await?;
    assert!(
        matches!(err, PhaseError::Backup(BackupError::Tampered { .. })),
        "{err}"
    );
    Ok(())
}
