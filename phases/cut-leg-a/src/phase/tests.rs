use iu_cutter_live_execution::AdapterError;
use iu_cutter_live_execution::{
    Backup, Census, CutRules, DocumentId, LevelRule, MarkerSet, MockLiveExecutionAdapter, Op,
    OpKind, Preset, Reply, SCHEMA_VERSION, Scope, expect_op, refuse_calls, refuse_mutations_except,
    sha256_hex,
};
use iu_cutter_phase_core::testing::{
    self, RUN, backup_of, blocked, conflict, document, failure, gate_closed, stopped_by_gate,
};
use iu_cutter_phase_core::{
    BackupError, BackupReceipt, BackupStore, DocumentBatches, HeaderDetail, MemoryBackupStore,
    Phase, PhaseError, RunContext,
};
use mockall::Sequence;

use super::*;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const LAW: &str = "Chương I\nĐiều 1. Phạm vi\nNội dung.\nĐiều 2. Đối tượng\nKhác.\n";
const GUIDE: &str = "# Guide\nIntro.\n## Install\nSteps.\n";

fn backup() -> Backup {
    backup_of(
        Census::default(),
        [document("guide", 3, GUIDE), document("law", 7, LAW)],
    )
}

fn rules() -> CutRules {
    CutRules::preset(Preset::Markdown)
}

fn expected_plan() -> Result<Plan, PlanError> {
    plan_for_backup(&backup(), &rules())
}

fn expectations() -> Vec<ExpectedRevision> {
    backup()
        .documents
        .iter()
        .map(|s| ExpectedRevision::of(&s.document))
        .collect()
}

/// A store's answer to a mutation: done, or its refusal.
type Answer = fn() -> Result<Reply, AdapterError>;

fn done() -> Result<Reply, AdapterError> {
    Ok(Reply::Done)
}

/// The answers of a store that sealed `plan` (part 0 its head, then its parts).
fn sealed(
    plan: &Plan,
) -> impl Fn(Op<'_>, Option<&iu_cutter_live_execution::LeaseClaim>) -> Result<Reply, AdapterError>
+ Send
+ 'static {
    let head = plan_head_text(plan.schema_version, &plan.rules);
    let parts =
        iu_cutter_live_execution::plan_parts(plan, iu_cutter_live_execution::PLAN_PART_BYTES);
    let sha256 = plan.sha256();
    move |op, _| {
        let Op::LoadPlanPart { part, .. } = op else {
            return Err(AdapterError::Invalid("not a plan part".into()));
        };
        let text = match part {
            0 => Some(head.clone()),
            n => parts.get(n as usize - 1).cloned(),
        };
        Ok(Reply::PlanPart(text.map(|text| {
            iu_cutter_live_execution::StoredPlanPart {
                text,
                sha256: sha256.clone(),
            }
        })))
    }
}

fn no_plan() -> Result<Reply, AdapterError> {
    Ok(Reply::PlanPart(None))
}

/// A store expecting a first run's calls: no plan sealed yet, then the plan's parts and seal
/// answered by `save`, then the fence answered by `fence` (no fence at all when `None`); no
/// other mutation.
fn first_run(save: Answer, fence: Option<Answer>) -> MockLiveExecutionAdapter {
    let mut mock = MockLiveExecutionAdapter::new();
    expect_op!(mock, LoadPlanPart).returning(|_, _| no_plan());
    expect_op!(mock, SavePlanPart).returning(move |_, _| save());
    expect_op!(mock, SealPlan)
        .times(0..=1)
        .returning(move |_, _| save());
    match fence {
        Some(fence) => expect_op!(mock, Fence)
            .times(1)
            .returning(move |_, _| fence()),
        None => expect_op!(mock, Fence).times(0),
    };
    refuse_mutations_except(&mut mock, PLAN_AND_FENCE);
    mock
}

/// The mutations this phase makes.
const PLAN_AND_FENCE: &[OpKind] = &[OpKind::SavePlanPart, OpKind::SealPlan, OpKind::Fence];

/// A store the phase must not call: no plan read, and no mutation (no plan saved, no fence).
fn untouched_store() -> MockLiveExecutionAdapter {
    let mut mock = MockLiveExecutionAdapter::new();
    refuse_calls(&mut mock, &[OpKind::LoadPlanPart]);
    refuse_mutations_except(&mut mock, &[]);
    mock
}

async fn context(
    mock: MockLiveExecutionAdapter,
    rules: CutRules,
) -> Result<RunContext, PhaseError> {
    testing::context(
        mock,
        Scope::Ids(vec![DocumentId::new("guide"), DocumentId::new("law")]),
        rules,
        Some(&backup()),
    )
    .await
}

#[test]
fn the_plan_is_deterministic_ordered_and_covers_every_source() -> TestResult {
    let docs = [document("law", 7, LAW), document("guide", 3, GUIDE)];
    let plan = compute_plan(docs.iter(), &rules())?;
    let reversed = compute_plan(docs.iter().rev(), &rules())?;
    assert_eq!(plan, reversed);
    assert_eq!(plan.sha256(), reversed.sha256());
    assert_eq!(plan.schema_version, SCHEMA_VERSION);
    assert_eq!(plan.rules, rules());
    let ids: Vec<&str> = plan.documents.iter().map(|d| d.document.as_str()).collect();
    assert_eq!(ids, ["guide", "law"]);
    for (doc_plan, source) in plan.documents.iter().zip([GUIDE, LAW]) {
        assert_eq!(doc_plan.source_bytes, source.len() as u64);
        assert_eq!(doc_plan.source_sha256, sha256_hex(source.as_bytes()));
        let mut rebuilt = String::new();
        let mut at = 0;
        for (i, unit) in doc_plan.units.iter().enumerate() {
            assert_eq!(unit.ordinal as usize, i);
            assert_eq!(unit.start, at);
            let span = source
                .get(unit.start as usize..unit.end as usize)
                .ok_or("span off a char boundary")?;
            assert_eq!(unit.sha256, sha256_hex(span.as_bytes()));
            rebuilt.push_str(span);
            at = unit.end;
        }
        assert_eq!(rebuilt, source);
    }
    assert_eq!(plan.documents[0].revision, 3);
    assert_eq!(plan.documents[0].units.len(), 2, "{:?}", plan.documents[0]);
    // Other rules, another plan.
    let legal = compute_plan(docs.iter(), &CutRules::preset(Preset::LegalVi))?;
    assert_ne!(legal.sha256(), plan.sha256());
    Ok(())
}

#[test]
fn auto_records_each_documents_preset_and_other_rules_hash_as_before() -> TestResult {
    let docs = [document("law", 7, LAW), document("guide", 3, GUIDE)];
    let auto = compute_plan(docs.iter(), &CutRules::preset(Preset::Auto))?;
    let chosen: Vec<Option<Preset>> = auto.documents.iter().map(|d| d.preset).collect();
    assert_eq!(chosen, [Some(Preset::Markdown), Some(Preset::LegalVi)]);
    assert_eq!(
        presets_chosen(&auto).as_deref(),
        Some("legal-vi 1, markdown 1")
    );
    // Cut as the chosen preset would.
    let markdown = compute_plan(docs.iter(), &rules())?;
    assert_eq!(auto.documents[0].units, markdown.documents[0].units);
    // A fixed preset records nothing, and its plan's JSON has no `preset` key.
    assert!(markdown.documents.iter().all(|d| d.preset.is_none()));
    assert_eq!(presets_chosen(&markdown), None);
    let keys = |plan: &Plan| -> Result<Vec<Option<String>>, serde_json::Error> {
        let value = serde_json::to_value(plan)?;
        Ok(value["documents"]
            .as_array()
            .map(|documents| {
                documents
                    .iter()
                    .map(|d| d.get("preset").and_then(|p| p.as_str()).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    };
    assert_eq!(keys(&markdown)?, [None, None]);
    assert_eq!(
        keys(&auto)?,
        [Some("markdown".to_owned()), Some("legal-vi".to_owned())]
    );
    Ok(())
}

#[test]
fn large_documents_with_only_a_preamble_are_flagged() -> TestResult {
    let article = "Some knowledge-base text without any heading. ".repeat(120);
    let docs = [
        document("kb/article", 1, &article),
        document("kb/short", 1, "A short note.\n"),
        document("guide", 3, GUIDE),
    ];
    let plan = compute_plan(docs.iter(), &CutRules::preset(Preset::LegalEn))?;
    let flagged: Vec<&str> = unstructured_documents(&plan)
        .iter()
        .map(|d| d.document.as_str())
        .collect();
    assert_eq!(flagged, ["kb/article"]);
    Ok(())
}

#[test]
fn planning_refuses_bad_rules_corrupt_rows_and_duplicates() {
    let bad_rules = CutRules {
        markers: MarkerSet::Custom(vec![LevelRule {
            name: "article".into(),
            pattern: "(unclosed".into(),
        }]),
        max_unit_bytes: None,
    };
    let docs = [document("law", 1, LAW)];
    assert!(matches!(
        compute_plan(docs.iter(), &bad_rules),
        Err(PlanError::Rules(_))
    ));

    let mut corrupt = document("law", 1, LAW);
    corrupt.sha256 = sha256_hex(b"something else");
    assert!(matches!(
        compute_plan([&corrupt], &rules()),
        Err(PlanError::BodyMismatch { document, .. }) if document.as_str() == "law"
    ));

    let twice = [document("law", 1, LAW), document("law", 1, LAW)];
    assert!(matches!(
        compute_plan(twice.iter(), &rules()),
        Err(PlanError::Duplicate(document)) if document.as_str() == "law"
    ));
}

#[tokio::test]
async fn journals_the_plan_then_fences_from_the_backup() -> TestResult {
    let plan = expected_plan()?;
    let mut mock = MockLiveExecutionAdapter::new();
    let mut seq = Sequence::new();
    expect_op!(mock, LoadPlanPart)
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| no_plan());
    let part = iu_cutter_live_execution::plan_parts(&plan, usize::MAX).concat();
    expect_op!(mock, SavePlanPart, Op::SavePlanPart { run, seq: 0, part: p } if run.as_str() == RUN && *p == part)
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(Reply::Done));
    let (head, sha) = (plan_head_text(SCHEMA_VERSION, &rules()), plan.sha256());
    expect_op!(mock, SealPlan, Op::SealPlan { run, head: h, parts: 1, sha256 }
        if run.as_str() == RUN && *h == head && *sha256 == sha)
    .times(1)
    .in_sequence(&mut seq)
    .returning(|_, _| Ok(Reply::Done));
    expect_op!(mock, Fence, Op::Fence { run, expectations: e }
        if run.as_str() == RUN && *e == expectations().as_slice())
    .times(1)
    .in_sequence(&mut seq)
    .returning(|_, _| Ok(Reply::Done));
    refuse_mutations_except(&mut mock, PLAN_AND_FENCE);
    let mut ctx = context(mock, rules()).await?;

    let evidence = CutLegA.run(&mut ctx).await?;

    assert_eq!(
        evidence["plan_sha256"].as_text(),
        Some(plan.sha256().as_str())
    );
    assert_eq!(evidence["documents_fenced"].as_count(), Some(2));
    assert_eq!(
        evidence["units_planned"].as_count(),
        Some(plan.unit_count())
    );
    assert_eq!(evidence["batches"].as_count(), Some(1));
    assert!(evidence["longest_batch_ms"].as_count().is_some());
    assert_eq!(evidence.len(), 5);
    assert_eq!(ctx.bytes_cut(), Some((LAW.len() + GUIDE.len()) as u64));
    Ok(())
}

/// Each part is journaled as it fills, before the next batch of the backup is cut; the seal
/// names them all.
#[tokio::test]
async fn the_plan_is_journaled_a_part_at_a_time() -> TestResult {
    let plan = expected_plan()?;
    let mut mock = MockLiveExecutionAdapter::new();
    expect_op!(mock, LoadPlanPart).returning(|_, _| no_plan());
    let parts = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = parts.clone();
    expect_op!(mock, SavePlanPart).returning(move |op, _| {
        if let Op::SavePlanPart { seq, part, .. } = op {
            seen.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push((seq, part.to_owned()));
        }
        Ok(Reply::Done)
    });
    expect_op!(mock, SealPlan, Op::SealPlan { parts: 2, .. })
        .times(1)
        .returning(|_, _| Ok(Reply::Done));
    expect_op!(mock, Fence).returning(|_, _| Ok(Reply::Done));
    refuse_mutations_except(&mut mock, PLAN_AND_FENCE);
    let mut ctx = context(mock, rules()).await?;
    ctx.batch_documents = DocumentBatches::Of(1);
    // A part ends after the document that reaches this: one document a part.
    ctx.plan_part_bytes = 1;

    let evidence = CutLegA.run(&mut ctx).await?;

    assert_eq!(PLAN_SHA256.get(&evidence), Some(plan.sha256().as_str()));
    let parts = parts
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let seqs: Vec<u64> = parts.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, [0, 1]);
    let mut documents = Vec::new();
    for (_, part) in &parts {
        documents.extend(serde_json::from_str::<Vec<DocumentPlan>>(part)?);
    }
    assert_eq!(documents, plan.documents);
    Ok(())
}

#[tokio::test]
async fn a_rerun_with_the_plan_journaled_fences_again_and_gives_the_same_evidence() -> TestResult {
    let plan = expected_plan()?;
    let first = first_run(done, Some(done));
    let first_evidence = CutLegA.run(&mut context(first, rules()).await?).await?;

    let mut second = MockLiveExecutionAdapter::new();
    expect_op!(second, LoadPlanPart).returning(sealed(&plan));
    expect_op!(second, SavePlanPart).times(0);
    expect_op!(second, SealPlan).times(0);
    // Already fenced by this run: the adapter's fence passes.
    expect_op!(second, Fence)
        .times(1)
        .returning(|_, _| Ok(Reply::Done));
    refuse_mutations_except(&mut second, PLAN_AND_FENCE);
    let second_evidence = CutLegA.run(&mut context(second, rules()).await?).await?;

    assert_eq!(first_evidence, second_evidence);
    Ok(())
}

/// A store that journals no plan, saves one, and answers every fence with `fence`, recording
/// the documents of each call.
fn fencing_store(
    fence: Answer,
) -> (
    MockLiveExecutionAdapter,
    std::sync::Arc<std::sync::Mutex<Vec<Vec<String>>>>,
) {
    let calls = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut mock = MockLiveExecutionAdapter::new();
    expect_op!(mock, LoadPlanPart).returning(|_, _| no_plan());
    expect_op!(mock, SavePlanPart).returning(|_, _| Ok(Reply::Done));
    expect_op!(mock, SealPlan).returning(|_, _| Ok(Reply::Done));
    let seen = calls.clone();
    expect_op!(mock, Fence).returning(move |op, _| {
        if let Op::Fence { expectations, .. } = op {
            let ids = expectations
                .iter()
                .map(|e| e.document.to_string())
                .collect();
            seen.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(ids);
        }
        fence()
    });
    refuse_mutations_except(&mut mock, PLAN_AND_FENCE);
    (mock, calls)
}

/// The documents of every fence call so far.
fn fences(calls: &std::sync::Mutex<Vec<Vec<String>>>) -> Vec<Vec<String>> {
    calls
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

#[tokio::test]
async fn the_fence_goes_in_batches_of_batch_documents_each_one_call() -> TestResult {
    let (mock, calls) = fencing_store(done);
    let mut ctx = context(mock, rules()).await?;
    ctx.batch_documents = DocumentBatches::Of(1);
    let events = testing::record_events(&mut ctx);

    let evidence = CutLegA.run(&mut ctx).await?;

    assert_eq!(fences(&calls), [vec!["guide"], vec!["law"]]);
    assert_eq!(evidence["batches"].as_count(), Some(2));
    assert_eq!(evidence["documents_fenced"].as_count(), Some(2));
    assert_eq!(testing::progress(&events), [(1, 2), (2, 2)]);

    // `batch_documents = 0`: the whole scope in one transaction.
    let (mock, calls) = fencing_store(done);
    let mut ctx = context(mock, rules()).await?;
    ctx.batch_documents = DocumentBatches::from_setting(0);
    let evidence = CutLegA.run(&mut ctx).await?;
    assert_eq!(fences(&calls), [vec!["guide", "law"]]);
    assert_eq!(evidence["batches"].as_count(), Some(1));
    Ok(())
}

#[tokio::test]
async fn a_stop_between_fence_batches_sends_no_further_batch() -> TestResult {
    let (mock, calls) = fencing_store(done);
    let mut ctx = context(mock, rules()).await?;
    ctx.batch_documents = DocumentBatches::Of(1);
    // Cancelled as the first batch is reported.
    testing::cancelled_at(&CutLegA, &mut ctx, |event| {
        matches!(event, iu_cutter_phase_core::RunEvent::Progress { .. })
    })
    .await?;

    assert_eq!(
        fences(&calls),
        [vec!["guide"]],
        "the second batch was not sent"
    );
    Ok(())
}

/// A backup store whose run's artifact is another backup from the third open on: the phase
/// opens the backup twice to check and cut it, and a third time to fence it.
struct ChangedOnThirdOpen {
    first: MemoryBackupStore,
    then: MemoryBackupStore,
    opens: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl BackupStore for ChangedOnThirdOpen {
    async fn save(&self, backup: &Backup) -> Result<BackupReceipt, BackupError> {
        self.first.save(backup).await
    }

    async fn load(&self, run: &RunId) -> Result<Option<(Backup, BackupReceipt)>, BackupError> {
        self.first.load(run).await
    }

    async fn open_with(
        &self,
        run: &RunId,
        detail: HeaderDetail,
    ) -> Result<Option<BackupReader>, BackupError> {
        match self.opens.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
            0 | 1 => self.first.open_with(run, detail).await,
            _ => self.then.open_with(run, detail).await,
        }
    }
}

/// Regression (issue 15): the fence reads the backup again rather than holding the scope's
/// expectations; a backup replaced between the two reads (manifest and all) must fence nothing
/// of what changed.
#[tokio::test]
async fn a_backup_changed_between_the_cut_and_the_fence_fences_nothing_of_it() -> TestResult {
    let (mock, calls) = fencing_store(done);
    let mut ctx = context(mock, rules()).await?;
    ctx.batch_documents = DocumentBatches::Of(1);
    let changed = backup_of(
        Census::default(),
        [document("guide", 3, GUIDE), document("law", 8, LAW)],
    );
    let backups = ChangedOnThirdOpen {
        first: MemoryBackupStore::new(),
        then: MemoryBackupStore::new(),
        opens: Default::default(),
    };
    backups.first.save(&backup()).await?;
    backups.then.save(&changed).await?;
    ctx.backups = std::sync::Arc::new(backups);

    let err = failure(&CutLegA, &mut ctx, "a changed backup fenced").await?;
    let gap = blocked(err, names::CUT_LEG_A)?;
    assert_eq!(gap.document, Some(DocumentId::new("law")));
    assert!(gap.found.contains("changed during this phase"), "{gap}");
    assert_eq!(fences(&calls), [vec!["guide"]], "law was not fenced");
    Ok(())
}

#[tokio::test]
async fn a_closed_gate_at_the_first_mutation_stops_everything() -> TestResult {
    let mock = first_run(
        || Err(gate_closed("stop file", "remove the stop file")),
        None,
    );
    let mut ctx = context(mock, rules()).await?;

    let err = failure(&CutLegA, &mut ctx, "gate ignored").await?;
    assert!(stopped_by_gate(&err), "{err}");
    Ok(())
}

#[tokio::test]
async fn a_fence_conflict_blocks_naming_the_document() -> TestResult {
    let mock = first_run(
        done,
        Some(|| Err(conflict("law", "revision 7", "revision 8"))),
    );
    let mut ctx = context(mock, rules()).await?;

    let err = failure(&CutLegA, &mut ctx, "conflict ignored").await?;
    let gap = blocked(err, names::CUT_LEG_A)?;
    assert_eq!(gap.document, Some(DocumentId::new("law")));
    assert_eq!(gap.expected, "revision 7");
    assert_eq!(gap.found, "revision 8");
    Ok(())
}

#[tokio::test]
async fn a_different_journaled_plan_blocks_before_any_mutation() -> TestResult {
    let mut journaled = expected_plan()?;
    journaled.documents[1].units.pop();
    let mut mock = MockLiveExecutionAdapter::new();
    expect_op!(mock, LoadPlanPart).returning(sealed(&journaled));
    expect_op!(mock, SavePlanPart).times(0);
    expect_op!(mock, SealPlan).times(0);
    expect_op!(mock, Fence).times(0);
    refuse_mutations_except(&mut mock, PLAN_AND_FENCE);
    let mut ctx = context(mock, rules()).await?;

    let err = failure(&CutLegA, &mut ctx, "changed plan accepted").await?;
    let gap = blocked(err, names::CUT_LEG_A)?;
    assert_eq!(gap.document, Some(DocumentId::new("law")));
    assert!(gap.to_string().contains("plan changed"), "{gap}");
    Ok(())
}

#[tokio::test]
async fn unusable_rules_are_a_precondition_with_no_store_call() -> TestResult {
    let bad_rules = CutRules {
        markers: MarkerSet::Preset(Preset::Markdown),
        max_unit_bytes: Some(1),
    };
    let mut ctx = context(untouched_store(), bad_rules).await?;

    let err = failure(&CutLegA, &mut ctx, "bad rules accepted").await?;
    assert!(matches!(err, PhaseError::Precondition(_)), "{err}");
    Ok(())
}

#[tokio::test]
async fn no_backup_is_a_precondition() -> TestResult {
    let mut ctx = testing::context(untouched_store(), Scope::All, rules(), None).await?;

    let err = failure(&CutLegA, &mut ctx, "ran without backup").await?;
    assert!(matches!(err, PhaseError::Precondition(_)), "{err}");
    Ok(())
}

#[tokio::test]
async fn a_plan_other_than_the_reviewed_one_blocks_before_anything_is_written() -> TestResult {
    // Its parts are journaled as it is cut (they are nobody's plan until sealed); it is never
    // sealed, and nothing is fenced.
    let mut mock = MockLiveExecutionAdapter::new();
    expect_op!(mock, LoadPlanPart).returning(|_, _| no_plan());
    expect_op!(mock, SavePlanPart).returning(|_, _| Ok(Reply::Done));
    refuse_calls(&mut mock, &[OpKind::SealPlan, OpKind::Fence]);
    refuse_mutations_except(&mut mock, PLAN_AND_FENCE);
    let mut ctx = context(mock, rules()).await?;
    ctx.record.expected_plan_sha256 = Some("0".repeat(64));

    let err = failure(&CutLegA, &mut ctx, "another plan accepted").await?;
    let gap = blocked(err, names::CUT_LEG_A)?;
    assert!(gap.expected.contains(&"0".repeat(64)), "{gap}");
    assert!(gap.found.contains(&expected_plan()?.sha256()), "{gap}");
    assert!(gap.next.contains(&NextAction::Plan), "{gap}");
    Ok(())
}

#[tokio::test]
async fn the_reviewed_plan_passes_when_it_is_the_one_computed() -> TestResult {
    let plan = expected_plan()?;
    let mut ctx = context(first_run(done, Some(done)), rules()).await?;
    ctx.record.expected_plan_sha256 = Some(plan.sha256());

    let evidence = CutLegA.run(&mut ctx).await?;

    assert_eq!(PLAN_SHA256.get(&evidence), Some(plan.sha256().as_str()));
    Ok(())
}

#[test]
fn the_first_failing_document_in_id_order_is_the_error_on_any_number_of_threads() {
    let mut docs: Vec<Document> = (0..40)
        .map(|i| document(&format!("doc/{i:02}"), 1, LAW))
        .collect();
    for i in [31, 7, 19] {
        docs[i].sha256 = sha256_hex(b"something else");
    }
    for threads in [1, 2, 3, 8] {
        let parallelism = Parallelism::new(std::num::NonZeroUsize::MIN.saturating_add(threads - 1));
        assert!(matches!(
            compute_plan_with(docs.iter().rev(), &rules(), parallelism),
            Err(PlanError::BodyMismatch { document, .. }) if document.as_str() == "doc/07"
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_compute_plan_gives_the_plan_compute_plan_gives() -> TestResult {
    let docs = vec![document("law", 7, LAW), document("guide", 3, GUIDE)];
    let spawned = spawn_compute_plan(docs.clone(), rules()).await?;
    assert_eq!(spawned, compute_plan(docs.iter(), &rules())?);
    Ok(())
}

/// A scope of at least [`IN_PLACE_BYTES`] goes to tokio's blocking pool (smaller ones are cut
/// where called): the plan is the same either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_compute_plan_gives_the_same_plan_off_the_runtime() -> TestResult {
    let big = LAW.repeat(IN_PLACE_BYTES / LAW.len() + 1);
    assert!(big.len() >= IN_PLACE_BYTES);
    let docs = vec![document("big", 1, &big), document("guide", 3, GUIDE)];
    let spawned = spawn_compute_plan(docs.clone(), rules()).await?;
    assert_eq!(spawned, compute_plan(docs.iter(), &rules())?);
    Ok(())
}

mod parallel {
    //! The plan cut on several threads is the sequential plan, byte for byte.

    use std::num::NonZeroUsize;

    use proptest::prelude::*;

    use super::*;

    /// Lines that are markers of some preset, or text around them.
    const LINES: &[&str] = &[
        "# Heading\n",
        "## Sub\n",
        "Chương I\n",
        "Mục 2\n",
        "Điều 44. Tên\n",
        "Đie\u{302}\u{300}u 45.\n",
        "1. Khoản một.\n",
        "a) điểm a;\n",
        "Part II\n",
        "Article 5. Scope\n",
        "Section 3\n",
        "(a) a paragraph\n",
        "Plain text of some length, with words and a full stop.\n",
        "\n",
        "\r\n",
    ];

    fn body() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                4 => prop::sample::select(LINES).prop_map(str::to_owned),
                1 => any::<String>(),
            ],
            0..40,
        )
        .prop_map(|lines| lines.concat())
    }

    fn documents() -> impl Strategy<Value = Vec<Document>> {
        prop::collection::btree_map("[a-z]{1,3}(/[0-9]{1,2})?", (1u64..9, body()), 0..24).prop_map(
            |documents| {
                documents
                    .into_iter()
                    .map(|(id, (revision, body))| document(&id, revision, &body))
                    .collect()
            },
        )
    }

    fn rules() -> impl Strategy<Value = CutRules> {
        let preset = prop::sample::select(vec![
            Preset::Auto,
            Preset::Markdown,
            Preset::LegalVi,
            Preset::LegalEn,
            Preset::Paragraphs,
        ]);
        (preset, prop::option::of(64u64..256)).prop_map(|(preset, max)| {
            let rules = CutRules::preset(preset);
            match max {
                Some(max) => rules.with_max_unit_bytes(max),
                None => rules,
            }
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn the_parallel_plan_is_the_sequential_plan(
            documents in documents(),
            rules in rules(),
            threads in 2usize..9,
            shuffle in any::<prop::sample::Index>(),
        ) {
            let sequential = compute_plan_with(documents.iter(), &rules, Parallelism::SEQUENTIAL);
            // Any input order: the plan is in id order.
            let mut shuffled: Vec<&Document> = documents.iter().collect();
            shuffled.rotate_left(shuffle.index(documents.len().max(1)).min(documents.len()));
            let threads = NonZeroUsize::new(threads).unwrap_or(NonZeroUsize::MIN);
            let parallel = compute_plan_with(shuffled, &rules, Parallelism::new(threads));
            match (sequential, parallel) {
                (Ok(sequential), Ok(parallel)) => {
                    prop_assert_eq!(&parallel, &sequential);
                    prop_assert_eq!(parallel.sha256(), sequential.sha256());
                    let bytes = |plan: &Plan| serde_json::to_vec(plan).map_err(|e| TestCaseError::fail(e.to_string()));
                    prop_assert_eq!(bytes(&parallel)?, bytes(&sequential)?);
                }
                (sequential, parallel) => prop_assert_eq!(parallel, sequential),
            }
        }
    }
}
