//! Unit tests of the simulator's semantics, fault injection, read-only mode and call log.

use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::{
    AdapterError, Backup, CutRules, Document, DocumentId, DocumentSnapshot, DocumentState,
    Evidence, ExpectedRevision, GenerationRecord, GenerationState, LiveExecutionAdapter,
    PhaseRecord, PhaseStatus, Plan, Preset, RunId, RunRecord, RunStatus, SCHEMA_VERSION, Scope,
    Unit, sha256_hex, snapshot_census,
};
use iu_cutter_live_execution::{ChangeMark, PurgeTarget};

use crate::{CallOutcome, Fault, FaultKind, FaultPlan, Operation, Simulator};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn id(s: &str) -> DocumentId {
    DocumentId::new(s)
}

fn run(s: &str) -> RunId {
    RunId::new(s)
}

fn rules() -> CutRules {
    CutRules::preset(Preset::Markdown)
}

fn expect(document: &Document) -> ExpectedRevision {
    ExpectedRevision::of(document)
}

/// Two units splitting the body at its middle character boundary (or one for a short body).
fn units_for(document: &Document, generation: &RunId) -> Vec<Unit> {
    let body = &document.body;
    let mut cut = body.len() / 2;
    while !body.is_char_boundary(cut) {
        cut += 1;
    }
    let spans = if cut == 0 || cut == body.len() {
        vec![(0, body.len())]
    } else {
        vec![(0, cut), (cut, body.len())]
    };
    spans
        .into_iter()
        .enumerate()
        .map(|(ordinal, (start, end))| Unit {
            document: document.id.clone(),
            generation: generation.clone(),
            ordinal: ordinal as u32,
            unit_id: format!("{}#{ordinal}", document.id),
            path: format!("part {ordinal}"),
            part: None,
            start: start as u64,
            end: end as u64,
            sha256: sha256_hex(&body.as_bytes()[start..end]),
            body: body[start..end].to_owned(),
        })
        .collect()
}

fn corpus() -> Simulator {
    Simulator::with_documents([
        ("law/a", "# Title\nIntro.\n## One\nFirst.\n"),
        ("law/b", "Điều 1. Phạm vi\nNội dung.\r\nĐiều 2. Đối tượng\n"),
        ("kb/c", "plain text"),
    ])
}

async fn doc(sim: &Simulator, name: &str) -> Result<Document, AdapterError> {
    sim.load_scope(&Scope::Ids(vec![id(name)]))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| AdapterError::NotFound(name.to_owned()))
}

/// The [`corpus`] and its documents `law/a` and `law/b`, as loaded.
async fn corpus_and_law_documents() -> Result<(Simulator, Document, Document), AdapterError> {
    let sim = corpus();
    let a = doc(&sim, "law/a").await?;
    let b = doc(&sim, "law/b").await?;
    Ok((sim, a, b))
}

/// The backup phase by hand: load_scope + generations + active_units + census.
async fn backup(sim: &Simulator, run_id: &RunId, scope: &Scope) -> Result<Backup, AdapterError> {
    let mut documents = Vec::new();
    for document in sim.load_scope(scope).await? {
        documents.push(DocumentSnapshot {
            generations: sim.generations(&document.id).await?,
            active_units: sim.active_units(&document.id).await?,
            document,
        });
    }
    Ok(Backup {
        schema_version: SCHEMA_VERSION,
        run: run_id.clone(),
        census: sim.census().await?,
        mark: None,
        entries: None,
        documents,
    })
}

/// The [`corpus`] with `law/a` cut by `r1` ([`full_cut`]), and the scope naming `law/a`.
async fn law_a_cut_by_r1() -> Result<(Simulator, Scope), AdapterError> {
    let sim = corpus();
    let scope = Scope::Ids(vec![id("law/a")]);
    full_cut(&sim, &run("r1"), &scope).await?;
    Ok((sim, scope))
}

/// Fence, write and enact every document in `scope` as `run_id`.
async fn full_cut(sim: &Simulator, run_id: &RunId, scope: &Scope) -> Result<(), AdapterError> {
    let documents = sim.load_scope(scope).await?;
    let expectations: Vec<ExpectedRevision> = documents.iter().map(expect).collect();
    sim.fence(run_id, &expectations).await?;
    for document in &documents {
        sim.write_units(run_id, &units_for(document, run_id))
            .await?;
    }
    sim.enact(run_id, &expectations).await?;
    Ok(())
}

/// The document, expected and found of the conflict `result` must have failed with.
fn conflict_parts<T: std::fmt::Debug>(
    result: &Result<T, AdapterError>,
) -> Result<(&DocumentId, &str, &str), String> {
    match result {
        Err(AdapterError::Conflict {
            document,
            expected,
            found,
        }) => Ok((document, expected, found)),
        other => Err(format!("expected a conflict, got {other:?}")),
    }
}

#[tokio::test]
async fn put_document_revision_semantics() -> TestResult {
    let sim = Simulator::new();
    let a = sim.put_document(&id("a"), "one").await?;
    assert_eq!(a.revision, 1);
    assert_eq!(a.sha256, sha256_hex(b"one"));
    assert_eq!(a.state, DocumentState::Ready);
    assert_eq!(a.active_generation, None);
    assert_eq!(a.body, "one");

    let fingerprint = sim.state_fingerprint();
    let same = sim.put_document(&id("a"), "one").await?;
    assert_eq!(same, a);
    assert_eq!(sim.state_fingerprint(), fingerprint);

    let changed = sim.put_document(&id("a"), "two").await?;
    assert_eq!(changed.revision, 2);
    assert_eq!(changed.sha256, sha256_hex(b"two"));
    assert_eq!(changed.state, DocumentState::Ready);

    // A cut document edited returns to Ready, keeping its active generation.
    full_cut(&sim, &run("r1"), &Scope::All).await?;
    let cut = doc(&sim, "a").await?;
    assert_eq!(cut.state, DocumentState::Cut);
    let edited = sim.put_document(&id("a"), "three").await?;
    assert_eq!(edited.revision, 3);
    assert_eq!(edited.state, DocumentState::Ready);
    assert_eq!(edited.active_generation, Some(run("r1")));

    // A fenced document edited by a writer that ignores fences keeps the fence.
    sim.fence(&run("r2"), &[expect(&edited)]).await?;
    let under_fence = sim.put_document(&id("a"), "four").await?;
    assert_eq!(under_fence.revision, 4);
    assert_eq!(under_fence.sha256, sha256_hex(b"four"));
    assert_eq!(under_fence.state, DocumentState::Cutting { run: run("r2") });
    Ok(())
}

#[tokio::test]
async fn fence_conflicts_on_a_stale_revision() -> TestResult {
    let sim = corpus();
    let before = doc(&sim, "law/a").await?;
    sim.put_document(&id("law/a"), "edited").await?;
    let census = sim.state_census();
    let stale = sim.fence(&run("r1"), &[expect(&before)]).await;
    let (document, expected, found) = conflict_parts(&stale)?;
    assert_eq!(document, &id("law/a"));
    assert!(expected.contains("revision 1"), "{expected}");
    assert!(found.contains("revision 2"), "{found}");
    assert!(found.contains(&sha256_hex(b"edited")), "{found}");
    assert_eq!(sim.state_census(), census);
    Ok(())
}

#[tokio::test]
async fn fence_conflicts_when_held_by_another_run_and_is_idempotent_for_its_holder() -> TestResult {
    let sim = corpus();
    let a = doc(&sim, "law/a").await?;
    sim.fence(&run("r1"), &[expect(&a)]).await?;
    sim.fence(&run("r1"), &[expect(&a)]).await?; // idempotent
    let held = sim.fence(&run("r2"), &[expect(&a)]).await;
    let (document, _, found) = conflict_parts(&held)?;
    assert_eq!(document, &id("law/a"));
    assert!(found.contains("r1"), "{found}");
    assert_eq!(
        doc(&sim, "law/a").await?.state,
        DocumentState::Cutting { run: run("r1") }
    );
    Ok(())
}

#[tokio::test]
async fn fence_is_all_or_nothing() -> TestResult {
    let (sim, a, b) = corpus_and_law_documents().await?;
    sim.put_document(&id("law/b"), "changed").await?;
    let census = sim.state_census();

    let error = sim.fence(&run("r1"), &[expect(&a), expect(&b)]).await;
    assert!(
        matches!(error, Err(AdapterError::Conflict { ref document, .. }) if *document == id("law/b"))
    );
    assert_eq!(doc(&sim, "law/a").await?.state, DocumentState::Ready);

    let missing = ExpectedRevision {
        document: id("nope"),
        revision: 1,
        sha256: String::new(),
        state: DocumentState::Ready,
        active_generation: None,
        staged_units: None,
        staged_proof: None,
    };
    let error = sim.fence(&run("r1"), &[expect(&a), missing]).await;
    assert!(matches!(error, Err(AdapterError::NotFound(_))), "{error:?}");
    assert_eq!(doc(&sim, "law/a").await?.state, DocumentState::Ready);
    assert_eq!(sim.state_census(), census);
    Ok(())
}

#[tokio::test]
async fn write_units_requires_the_fence_and_is_all_or_nothing() -> TestResult {
    let (sim, a, b) = corpus_and_law_documents().await?;
    let r1 = run("r1");

    let error = sim.write_units(&r1, &units_for(&a, &r1)).await;
    assert!(
        matches!(error, Err(AdapterError::Conflict { .. })),
        "{error:?}"
    );

    sim.fence(&r1, &[expect(&a)]).await?;
    let census = sim.state_census();
    // Another generation's units are refused.
    let error = sim.write_units(&r1, &units_for(&a, &run("r0"))).await;
    assert!(matches!(error, Err(AdapterError::Invalid(_))), "{error:?}");
    // A batch with one unfenced document writes nothing.
    let mut batch = units_for(&a, &r1);
    batch.extend(units_for(&b, &r1));
    let error = sim.write_units(&r1, &batch).await;
    let (document, _, found) = conflict_parts(&error)?;
    assert_eq!(document, &id("law/b"));
    assert!(found.contains("fence lost"), "{found}");
    assert_eq!(sim.state_census(), census);
    // Only the record the fence opened: the refused batch added nothing.
    assert_eq!(sim.generations(&id("law/a")).await?.len(), 1);

    let units = units_for(&a, &r1);
    assert_eq!(sim.write_units(&r1, &units).await?, 2);
    // Insert or replace: writing again changes nothing.
    let written = sim.state_census();
    assert_eq!(sim.write_units(&r1, &units).await?, 2);
    assert_eq!(sim.state_census(), written);
    assert_eq!(written.units, 2);
    assert_eq!(
        sim.generations(&id("law/a")).await?,
        vec![GenerationRecord {
            document: id("law/a"),
            generation: r1.clone(),
            state: GenerationState::Staged,
        }]
    );
    assert_eq!(sim.generation_units(&id("law/a"), &r1).await?, units);
    // Staged units are invisible to readers.
    assert!(sim.active_units(&id("law/a")).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn enact_moves_the_pointer_and_retires_the_previous_generation() -> TestResult {
    let (sim, scope) = law_a_cut_by_r1().await?;
    let first = sim.active_units(&id("law/a")).await?;
    assert_eq!(first.len(), 2);
    assert!(first.iter().all(|u| u.generation == run("r1")));

    sim.put_document(&id("law/a"), "# New\nbody\n").await?;
    full_cut(&sim, &run("r2"), &scope).await?;
    let a = doc(&sim, "law/a").await?;
    assert_eq!(a.state, DocumentState::Cut);
    assert_eq!(a.active_generation, Some(run("r2")));
    let states: Vec<(RunId, GenerationState)> = sim
        .generations(&id("law/a"))
        .await?
        .into_iter()
        .map(|g| (g.generation, g.state))
        .collect();
    assert_eq!(
        states,
        vec![
            (run("r1"), GenerationState::Retired),
            (run("r2"), GenerationState::Active),
        ]
    );
    let active = sim.active_units(&id("law/a")).await?;
    assert!(active.iter().all(|u| u.generation == run("r2")));
    // Retired units are kept until purged.
    assert_eq!(sim.generation_units(&id("law/a"), &run("r1")).await?, first);
    assert_eq!(sim.state_census().units, 4);
    Ok(())
}

#[tokio::test]
async fn enact_is_idempotent_and_checks_fence_revision_and_generation() -> TestResult {
    let (sim, a, b) = corpus_and_law_documents().await?;
    let r1 = run("r1");
    let expectations = [expect(&a), expect(&b)];

    // Not fenced.
    let error = sim.enact(&r1, &expectations).await;
    assert!(
        matches!(error, Err(AdapterError::Conflict { .. })),
        "{error:?}"
    );

    sim.fence(&r1, &expectations).await?;
    // The fence opened r1's generation for both documents, before any unit was written.
    for document in ["law/a", "law/b"] {
        let records = sim.generations(&id(document)).await?;
        assert_eq!(records.len(), 1, "{document}");
        assert_eq!(records[0].state, GenerationState::Staged);
        assert_eq!(records[0].generation, r1);
    }
    sim.write_units(&r1, &units_for(&a, &r1)).await?;

    // b edited under the fence: the compare-and-set fails.
    sim.write_units(&r1, &units_for(&b, &r1)).await?;
    sim.put_document(&id("law/b"), "sneaky edit").await?;
    let error = sim.enact(&r1, &expectations).await;
    assert!(
        matches!(error, Err(AdapterError::Conflict { ref document, .. }) if *document == id("law/b"))
    );
    assert_eq!(
        doc(&sim, "law/a").await?.state,
        DocumentState::Cutting { run: r1.clone() }
    );

    // Enact a alone, twice.
    assert_eq!(sim.enact(&r1, &[expect(&a)]).await?, 1);
    let enacted = sim.state_census();
    assert_eq!(sim.enact(&r1, &[expect(&a)]).await?, 0);
    assert_eq!(sim.state_census(), enacted);
    assert_eq!(doc(&sim, "law/a").await?.active_generation, Some(r1));
    Ok(())
}

#[tokio::test]
async fn restore_brings_back_the_exact_census_after_enact() -> TestResult {
    let sim = corpus();
    // law/a already has an active generation from an earlier run.
    full_cut(&sim, &run("r0"), &Scope::Ids(vec![id("law/a")])).await?;
    let scope = Scope::Prefix("law/".into());
    let r1 = run("r1");
    let backup = backup(&sim, &r1, &scope).await?;
    let census = sim.census().await?;
    assert_eq!(backup.census, census);

    full_cut(&sim, &r1, &scope).await?;
    let after = sim.census().await?;
    assert_ne!(after.fingerprint, census.fingerprint);
    assert_eq!(after.units, 2 + 2 + 2);

    sim.restore(&r1, &backup).await?;
    assert_eq!(sim.census().await?, census);
    // Idempotent.
    sim.restore(&r1, &backup).await?;
    assert_eq!(sim.census().await?, census);
    assert_eq!(doc(&sim, "law/a").await?.active_generation, Some(run("r0")));
    assert_eq!(doc(&sim, "law/b").await?.state, DocumentState::Ready);
    assert!(sim.generation_units(&id("law/b"), &r1).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn restore_before_enact_unfences_and_drops_the_staged_generation() -> TestResult {
    let sim = corpus();
    let r1 = run("r1");
    let backup = backup(&sim, &r1, &Scope::All).await?;
    let a = doc(&sim, "law/a").await?;
    sim.fence(&r1, &[expect(&a)]).await?;
    sim.write_units(&r1, &units_for(&a, &r1)).await?;
    assert_ne!(sim.state_census(), backup.census);

    sim.restore(&r1, &backup).await?;
    assert_eq!(sim.state_census(), backup.census);

    let wrong = Backup {
        run: run("other"),
        ..backup
    };
    let error = sim.restore(&r1, &wrong).await;
    assert!(matches!(error, Err(AdapterError::Invalid(_))), "{error:?}");
    Ok(())
}

#[tokio::test]
async fn census_uses_the_seam_digest() -> TestResult {
    let sim = corpus();
    full_cut(&sim, &run("r1"), &Scope::All).await?;
    sim.put_document(&id("kb/c"), "edited").await?;
    full_cut(&sim, &run("r2"), &Scope::Ids(vec![id("law/b")])).await?;

    let expected = snapshot_census(&sim.snapshot().await?);
    assert_eq!(sim.census().await?, expected);
    assert_eq!(expected.documents, 3);
    assert_eq!(expected.units, 2 + 2 + 2 + 2);

    // A simulator seeded from the snapshot has the same census and an empty journal.
    let seeded = Simulator::seed_from(&sim).await?;
    assert_eq!(seeded.census().await?, expected);
    assert!(seeded.list_runs().await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn reads_are_ordered_and_scoped() -> TestResult {
    let sim = corpus();
    let ids = |docs: Vec<Document>| docs.into_iter().map(|d| d.id).collect::<Vec<_>>();
    assert_eq!(
        ids(sim.load_scope(&Scope::All).await?),
        vec![id("kb/c"), id("law/a"), id("law/b")]
    );
    assert_eq!(
        ids(sim.load_scope(&Scope::Prefix("law/".into())).await?),
        vec![id("law/a"), id("law/b")]
    );
    assert_eq!(
        ids(sim
            .load_scope(&Scope::Ids(vec![
                id("law/b"),
                id("missing"),
                id("kb/c"),
                id("law/b")
            ]))
            .await?),
        vec![id("kb/c"), id("law/b")]
    );
    assert!(sim.generations(&id("missing")).await?.is_empty());
    assert!(sim.active_units(&id("missing")).await?.is_empty());
    let info = sim.info();
    assert_eq!(
        (info.kind.as_str(), info.live, info.location.as_str()),
        ("simulator", false, "memory")
    );
    Ok(())
}

#[tokio::test]
async fn journal_semantics() -> TestResult {
    let sim = Simulator::new();
    let r2 = RunRecord::new(run("r2"), Scope::All, rules());
    let r1 = RunRecord::new(run("r1"), Scope::Prefix("law/".into()), rules());
    assert_eq!(sim.begin_run(&r2).await?, r2);
    assert_eq!(sim.begin_run(&r1).await?, r1);
    // Beginning again returns the journaled record unchanged.
    let other = RunRecord::new(run("r2"), Scope::Ids(vec![]), rules());
    assert_eq!(sim.begin_run(&other).await?, r2);

    let phase = |name: &str, status| PhaseRecord {
        name: name.to_owned(),
        status,
        evidence: Evidence::new(),
        detail: None,
        started_at: None,
        first_started_at: None,
        finished_at: None,
    };
    sim.record_phase(&run("r2"), &phase("backup", PhaseStatus::Running))
        .await?;
    sim.record_phase(&run("r2"), &phase("cut-leg-a", PhaseStatus::Running))
        .await?;
    sim.record_phase(&run("r2"), &phase("backup", PhaseStatus::Done))
        .await?;
    sim.set_run_status(&run("r2"), RunStatus::Held).await?;
    let record = sim.load_run(&run("r2")).await?.ok_or("r2 is journaled")?;
    assert_eq!(record.status, RunStatus::Held);
    assert_eq!(
        record.phases,
        vec![
            phase("backup", PhaseStatus::Done),
            phase("cut-leg-a", PhaseStatus::Running)
        ]
    );
    let runs: Vec<RunId> = sim.list_runs().await?.into_iter().map(|r| r.run).collect();
    assert_eq!(runs, vec![run("r1"), run("r2")]);

    let plan = Plan {
        schema_version: SCHEMA_VERSION,
        rules: rules(),
        documents: vec![],
    };
    sim.save_plan(&run("r2"), &plan).await?;
    sim.save_plan(&run("r2"), &plan).await?;
    assert_eq!(sim.load_plan(&run("r2")).await?, Some(plan.clone()));
    let different = Plan {
        rules: rules().with_max_unit_bytes(64),
        ..plan.clone()
    };
    let error = sim.save_plan(&run("r2"), &different).await;
    assert!(matches!(error, Err(AdapterError::Invalid(_))), "{error:?}");
    assert_eq!(sim.load_plan(&run("r2")).await?, Some(plan.clone()));
    assert_eq!(sim.load_plan(&run("r1")).await?, None);

    let missing = run("missing");
    assert!(matches!(
        sim.save_plan(&missing, &plan).await,
        Err(AdapterError::NotFound(_))
    ));
    assert!(matches!(
        sim.set_run_status(&missing, RunStatus::Pass).await,
        Err(AdapterError::NotFound(_))
    ));
    assert!(matches!(
        sim.record_phase(&missing, &phase("backup", PhaseStatus::Done))
            .await,
        Err(AdapterError::NotFound(_))
    ));
    assert_eq!(sim.load_run(&missing).await?, None);
    Ok(())
}

#[tokio::test]
async fn injected_error_is_not_applied() -> TestResult {
    let sim = Simulator::new();
    sim.preflight().await?; // call 0
    sim.inject(Fault::error_at(1));
    let error = sim.put_document(&id("a"), "x").await;
    assert!(
        matches!(error, Err(AdapterError::InjectedFault { call: 1, ref operation }) if operation == "put_documents"),
        "{error:?}"
    );
    assert!(!sim.is_crashed());
    assert_eq!(sim.state_census().documents, 0);
    assert_eq!(sim.mutation_count(), 0);
    // The fault fired once; the retry succeeds.
    sim.put_document(&id("a"), "x").await?;
    assert_eq!(sim.state_census().documents, 1);
    assert!(sim.armed_faults().is_empty());
    Ok(())
}

#[tokio::test]
async fn crash_before_applies_nothing_and_fails_every_call_until_recover() -> TestResult {
    let sim = corpus();
    let census = sim.state_census();
    sim.inject(Fault::crash_before(0));
    let error = sim.put_document(&id("law/a"), "changed").await;
    assert!(
        matches!(error, Err(AdapterError::Unavailable(_))),
        "{error:?}"
    );
    assert!(sim.is_crashed());
    assert!(matches!(
        sim.census().await,
        Err(AdapterError::Unavailable(_))
    ));
    assert!(matches!(
        sim.preflight().await,
        Err(AdapterError::Unavailable(_))
    ));
    assert_eq!(sim.state_census(), census);
    assert_eq!(sim.call_count(), 3);

    sim.recover();
    assert!(!sim.is_crashed());
    sim.preflight().await?;
    assert_eq!(sim.census().await?, census);
    assert_eq!(doc(&sim, "law/a").await?.revision, 1);
    assert_eq!(sim.mutation_count(), 0);
    Ok(())
}

#[tokio::test]
async fn crash_after_applies_then_fails() -> TestResult {
    let sim = corpus();
    let r1 = run("r1");
    let a = doc(&sim, "law/a").await?; // call 0
    sim.inject(Fault {
        at_call: 1,
        kind: FaultKind::CrashAfter,
    });
    let error = sim.fence(&r1, &[expect(&a)]).await;
    assert!(
        matches!(error, Err(AdapterError::Unavailable(_))),
        "{error:?}"
    );
    assert!(sim.is_crashed());
    assert!(matches!(
        doc(&sim, "law/a").await,
        Err(AdapterError::Unavailable(_))
    ));

    sim.recover();
    assert_eq!(
        doc(&sim, "law/a").await?.state,
        DocumentState::Cutting { run: r1.clone() }
    );
    assert_eq!(sim.mutation_count(), 1);
    // Resuming repeats the call: idempotent.
    sim.fence(&r1, &[expect(&a)]).await?;
    let log = sim.call_log();
    assert!(log[1].applied && !log[1].outcome.is_ok());
    Ok(())
}

#[tokio::test]
async fn operation_faults_hit_the_nth_call_of_an_operation() -> TestResult {
    let sim = corpus();
    sim.arm(FaultPlan::new().with_operation(crate::OperationFault {
        operation: Operation::WriteUnits,
        occurrence: 1,
        kind: FaultKind::CrashAfter,
    }));
    let error = full_cut(&sim, &run("r1"), &Scope::All).await;
    assert!(
        matches!(error, Err(AdapterError::Unavailable(_))),
        "{error:?}"
    );
    sim.recover();
    // The second write_units (law/a: documents load in id order kb/c, law/a, law/b) applied.
    assert_eq!(
        sim.generation_units(&id("law/a"), &run("r1")).await?.len(),
        2
    );
    assert!(
        sim.generation_units(&id("law/b"), &run("r1"))
            .await?
            .is_empty()
    );
    let writes: Vec<bool> = sim
        .call_log()
        .into_iter()
        .filter(|c| c.operation == Operation::WriteUnits)
        .map(|c| c.applied)
        .collect();
    assert_eq!(writes, vec![true, true]);
    Ok(())
}

#[tokio::test]
async fn read_only_refuses_every_mutation_and_leaves_the_census_unchanged() -> TestResult {
    let source = corpus();
    full_cut(&source, &run("r0"), &Scope::Ids(vec![id("law/a")])).await?;
    let sim = Simulator::read_only_from(source.snapshot().await?);
    assert!(sim.is_read_only());
    let census = sim.census().await?;
    assert_eq!(census, source.state_census());

    let a = doc(&sim, "law/a").await?;
    let b = doc(&sim, "law/b").await?;
    let r1 = run("r1");
    let record = RunRecord::new(r1.clone(), Scope::All, rules());
    let phase = PhaseRecord {
        name: "backup".into(),
        status: PhaseStatus::Running,
        evidence: Evidence::new(),
        detail: None,
        started_at: None,
        first_started_at: None,
        finished_at: None,
    };
    let plan = Plan {
        schema_version: SCHEMA_VERSION,
        rules: rules(),
        documents: vec![],
    };
    let backup = backup(&sim, &r1, &Scope::All).await?;
    let results = [
        sim.put_document(&id("law/a"), "x").await.map(drop),
        sim.put_document(&id("new"), "x").await.map(drop),
        sim.begin_run(&record).await.map(drop),
        sim.record_phase(&r1, &phase).await,
        sim.set_run_status(&r1, RunStatus::Pass).await,
        sim.save_plan(&r1, &plan).await,
        sim.fence(&r1, &[expect(&b)]).await,
        sim.write_units(&r1, &units_for(&b, &r1)).await.map(drop),
        sim.enact(&r1, &[expect(&a)]).await.map(drop),
        sim.restore(&r1, &backup).await.map(drop),
    ];
    for result in &results {
        assert!(matches!(result, Err(AdapterError::ReadOnly)), "{result:?}");
    }
    assert_eq!(sim.census().await?, census);
    assert_eq!(sim.mutation_count(), 0);
    assert!(sim.list_runs().await?.is_empty());
    let log = sim.call_log();
    assert_eq!(log.iter().filter(|c| c.mutating).count(), results.len());
    assert!(log.iter().all(|c| !c.applied));
    Ok(())
}

#[tokio::test]
async fn call_log_and_mutation_counter() -> TestResult {
    let sim = Simulator::with_documents([("a", "alpha")]);
    assert_eq!(sim.call_count(), 0); // seeding is not counted
    let r1 = run("r1");
    sim.preflight().await?; // 0
    sim.put_document(&id("a"), "alpha").await?; // 1: unchanged, still applied
    let a = doc(&sim, "a").await?; // 2
    sim.fence(&r1, &[expect(&a)]).await?; // 3
    let stale = ExpectedRevision {
        revision: 9,
        ..expect(&a)
    };
    assert!(sim.enact(&r1, &[stale]).await.is_err()); // 4: refused
    let _ = sim.info(); // not counted
    sim.census().await?; // 5

    assert_eq!(sim.call_count(), 6);
    assert_eq!(sim.mutation_count(), 2);
    let log = sim.call_log();
    let summary: Vec<(u64, &str, bool, bool, bool)> = log
        .iter()
        .map(|c| {
            (
                c.index,
                c.operation.name(),
                c.mutating,
                c.applied,
                c.outcome == CallOutcome::Ok,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (0, "preflight", false, false, true),
            (1, "put_documents", true, true, true),
            (2, "load_scope", false, false, true),
            (3, "fence", true, true, true),
            (4, "enact", true, false, false),
            (5, "census", false, false, true),
        ]
    );
    assert!(
        matches!(&log[4].outcome, CallOutcome::Err(message) if message.contains("changed underneath"))
    );
    let mutating: Vec<Operation> = Operation::all().filter(|o| o.mutates()).collect();
    assert_eq!(mutating.len(), 21);
    Ok(())
}

#[cfg(feature = "proptest")]
mod strategies {
    use proptest::prelude::*;

    use super::*;
    use crate::strategies::{corpus, cut_rules, legal_text};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn corpora_have_unique_sorted_ids(docs in corpus(6)) {
            prop_assert!(!docs.is_empty() && docs.len() <= 6);
            prop_assert!(docs.windows(2).all(|w| w[0].0 < w[1].0));
            let sim = Simulator::with_documents(docs.clone());
            prop_assert_eq!(sim.state_census().documents, docs.len() as u64);
        }

        #[test]
        fn restore_round_trips_any_corpus(docs in corpus(5), cut_first in any::<bool>()) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let outcome: Result<(), AdapterError> = runtime.block_on(async {
                let sim = Simulator::with_documents(docs);
                if cut_first {
                    full_cut(&sim, &run("r0"), &Scope::All).await?;
                }
                let r1 = run("r1");
                let backup = backup(&sim, &r1, &Scope::All).await?;
                full_cut(&sim, &r1, &Scope::All).await?;
                sim.restore(&r1, &backup).await?;
                if sim.census().await? != backup.census {
                    return Err(AdapterError::Invalid("census differs after restore".into()));
                }
                Ok(())
            });
            prop_assert!(outcome.is_ok(), "{:?}", outcome);
        }

        #[test]
        fn rules_respect_the_minimum_size(rules in cut_rules(), text in legal_text()) {
            prop_assert!(rules.max_unit_bytes.is_none_or(|m| m >= 64));
            prop_assert!(text.lines().count() <= 40);
        }
    }
}

// ---- the scope census and the change log ----------------------------------------------------

#[tokio::test]
async fn scope_census_is_the_census_restricted_to_the_documents_asked_for() -> TestResult {
    let (sim, _) = law_a_cut_by_r1().await?;
    let whole = sim.census().await?;
    let scoped = sim
        .scope_census(&[id("law/a"), id("missing"), id("kb/c"), id("law/a")])
        .await?;
    let expected: Vec<(DocumentId, iu_cutter_live_execution::Sha256Digest)> = ["kb/c", "law/a"]
        .iter()
        .map(|d| (id(d), whole.per_document[&id(d)]))
        .collect();
    let got: Vec<_> = scoped.census.per_document.clone().into_iter().collect();
    assert_eq!(
        got, expected,
        "same digests, absent ids absent, each id once"
    );
    assert_eq!(scoped.census.documents, 2);
    assert_eq!(scoped.census.units, 2, "law/a's two units, counted once");
    let mut builder = iu_cutter_live_execution::CensusBuilder::new();
    builder.add(id("kb/c"), expected[0].1, 0);
    builder.add(id("law/a"), expected[1].1, 2);
    assert_eq!(
        scoped.census,
        builder.finish(),
        "the fingerprint over the subset"
    );
    assert_eq!(
        sim.scope_census(&whole.per_document.keys().cloned().collect::<Vec<_>>())
            .await?
            .census,
        whole,
        "over every document it is the whole census"
    );
    Ok(())
}

#[tokio::test]
async fn changed_since_lists_every_kind_of_change_once_in_id_order() -> TestResult {
    let sim = corpus();
    let mark = sim.scope_census(&[id("law/a")]).await?.mark;
    assert!(
        sim.changed_since(&mark).await?.is_empty(),
        "nothing changed"
    );
    sim.put_document(&id("kb/c"), "plain text").await?;
    assert!(
        sim.changed_since(&mark).await?.is_empty(),
        "an import of the same body changes nothing"
    );

    sim.put_document(&id("new"), "a new document").await?;
    assert!(sim.state_edit_body_raw(&id("law/b"), "raw edit"));
    sim.put_document(&id("kb/c"), "edited").await?;
    sim.put_document(&id("kb/c"), "plain text").await?; // ABA: back to the seen body
    assert_eq!(
        sim.changed_since(&mark).await?,
        vec![id("kb/c"), id("law/b"), id("new")]
    );

    // A unit-only raw edit is listed, on its own.
    let r1 = run("r1");
    full_cut(&sim, &r1, &Scope::Ids(vec![id("law/a")])).await?;
    let after_cut = sim.scope_census(&[]).await?.mark;
    assert!(sim.state_edit_unit_raw(&id("law/a"), &r1, 0, "tampered"));
    assert_eq!(sim.changed_since(&after_cut).await?, vec![id("law/a")]);
    Ok(())
}

/// Checks that every document of `all` whose digest differs from `seen` is listed by
/// `changed_since(seen.mark)`, and that something is; then `seen` becomes the census now.
async fn covered(
    sim: &Simulator,
    all: &[DocumentId],
    seen: &mut iu_cutter_live_execution::ScopeCensus,
    what: &str,
) -> TestResult {
    let now = sim.scope_census(all).await?;
    let changed = sim.changed_since(&seen.mark).await?;
    for (document, digest) in &now.census.per_document {
        if seen.census.per_document.get(document) != Some(digest) {
            assert!(changed.contains(document), "{what}: {document} not listed");
        }
    }
    assert!(!changed.is_empty(), "{what} changed something");
    *seen = now;
    Ok(())
}

/// Every mutation of documents, generations or units is in the change log: through a whole
/// lifecycle (fence, write, enact, restore, purge), each document whose digest differs from
/// what a census saw is listed by `changed_since` of that census's mark.
#[tokio::test]
async fn changed_since_covers_every_digest_change_of_a_lifecycle() -> TestResult {
    let sim = corpus();
    let all = [id("kb/c"), id("law/a"), id("law/b")];
    let r1 = run("r1");
    let backup = backup(&sim, &r1, &Scope::Prefix("law/".into())).await?;
    let a = doc(&sim, "law/a").await?;
    let mut seen = sim.scope_census(&all).await?;
    sim.fence(&r1, &[expect(&a)]).await?;
    covered(&sim, &all, &mut seen, "fence").await?;
    sim.write_units(&r1, &units_for(&a, &r1)).await?;
    covered(&sim, &all, &mut seen, "write_units").await?;
    sim.enact(&r1, &[expect(&a)]).await?;
    covered(&sim, &all, &mut seen, "enact").await?;
    sim.restore(&r1, &backup).await?;
    covered(&sim, &all, &mut seen, "restore").await?;
    full_cut(&sim, &run("r2"), &Scope::Ids(vec![id("law/a")])).await?;
    full_cut(&sim, &run("r3"), &Scope::Ids(vec![id("law/a")])).await?;
    covered(&sim, &all, &mut seen, "two cuts").await?;
    let purged = sim
        .purge_generations(&[PurgeTarget {
            document: id("law/a"),
            generation: run("r2"),
            active: Some(run("r3")),
        }])
        .await?;
    assert_eq!(purged.len(), 1);
    covered(&sim, &all, &mut seen, "purge").await?;
    Ok(())
}

#[tokio::test]
async fn a_mark_of_another_backend_is_refused_naming_it() -> TestResult {
    let sim = corpus();
    let foreign = ChangeMark::new("sqlite", 7);
    match sim.changed_since(&foreign).await {
        Err(AdapterError::Invalid(message)) => {
            assert!(
                message.contains("sqlite") && message.contains("simulator"),
                "{message}"
            );
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    let garbled = ChangeMark::new("simulator", "x");
    assert!(matches!(
        sim.changed_since(&garbled).await,
        Err(AdapterError::Invalid(_))
    ));
    Ok(())
}

/// A rollback window lasts until the document's next change, and a rollback spends its run's
/// holds: three runs rolled back over the same documents keep one window per document and no
/// hold, and an edit of each ends its window.
#[tokio::test]
async fn windows_and_holds_do_not_accumulate() -> TestResult {
    let sim = corpus();
    let scope = Scope::Ids(vec![id("law/a"), id("law/b")]);
    for name in ["r1", "r2", "r3"] {
        let r = run(name);
        let census = sim.scope_census(&[id("law/a"), id("law/b")]).await?;
        let mut backup = backup(&sim, &r, &scope).await?;
        backup.census = census.census;
        backup.mark = Some(census.mark);
        full_cut(&sim, &r, &scope).await?;
        assert_eq!(sim.kept_windows_and_holds(), (0, 2), "{name} holds both");
        sim.restore(&r, &backup).await?;
        assert_eq!(sim.kept_windows_and_holds(), (2, 0), "one window each");
    }
    sim.put_document(&id("law/a"), "# Title\nChanged.\n")
        .await?;
    assert_eq!(sim.kept_windows_and_holds(), (1, 0), "law/a's window ended");
    sim.put_document(&id("law/b"), "Điều 1. Sửa.\n").await?;
    assert_eq!(sim.kept_windows_and_holds(), (0, 0), "law/b's window ended");
    Ok(())
}

/// A dry run's simulator is seeded with its scope only: the documents asked for, their
/// generation records and the units of every generation, read in batches, never the whole store's
/// snapshot (which made a dry run of one document copy a store of any size into memory).
#[tokio::test]
async fn seeding_from_a_scope_reads_the_scope_only() -> TestResult {
    let (live, scope) = law_a_cut_by_r1().await?;
    live.put_document(&id("law/a"), "# New\nbody\n").await?;
    full_cut(&live, &run("r2"), &scope).await?;
    let calls_before = live.call_log().len();

    let seeded = Simulator::seed_from_scope(&live, &[id("law/a"), id("law/b")]).await?;

    let reads: Vec<Operation> = live.call_log()[calls_before..]
        .iter()
        .map(|call| call.operation)
        .collect();
    assert!(!reads.contains(&Operation::Snapshot), "{reads:?}");
    let ids: Vec<DocumentId> = seeded
        .load_scope(&Scope::All)
        .await?
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(ids, vec![id("law/a"), id("law/b")], "kb/c is out of scope");
    assert_eq!(
        seeded.generations(&id("law/a")).await?,
        live.generations(&id("law/a")).await?
    );
    assert_eq!(
        seeded.active_units(&id("law/a")).await?,
        live.active_units(&id("law/a")).await?
    );
    // The retired generation's units are copied too: the scope's census counts them.
    assert_eq!(
        seeded.generation_units(&id("law/a"), &run("r1")).await?,
        live.generation_units(&id("law/a"), &run("r1")).await?
    );
    assert_eq!(
        seeded
            .scope_census(&[id("law/a"), id("law/b")])
            .await?
            .census,
        live.scope_census(&[id("law/a"), id("law/b")]).await?.census
    );
    Ok(())
}

/// The store, except that the first `edits` times a copy reads generation records, `document`
/// is edited by "the application" just after.
struct EditedWhileCopied {
    inner: Simulator,
    document: DocumentId,
    edits: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl LiveExecutionAdapter for EditedWhileCopied {
    fn info(&self) -> iu_cutter_live_execution::AdapterInfo {
        self.inner.info()
    }

    async fn call<'a>(
        &self,
        op: iu_cutter_live_execution::Op<'a>,
        claim: Option<&'a iu_cutter_live_execution::LeaseClaim>,
    ) -> Result<iu_cutter_live_execution::Reply, AdapterError> {
        use std::sync::atomic::Ordering;
        let generations = matches!(op, iu_cutter_live_execution::Op::GenerationsOf(_));
        let reply = self.inner.call(op, claim).await;
        let left = self.edits.load(Ordering::SeqCst);
        if generations && left > 0 {
            self.edits.store(left - 1, Ordering::SeqCst);
            let body = format!("# Edited\nEdit {left}.\n");
            self.inner.put_document(&self.document, &body).await?;
        }
        reply
    }
}

/// `seed_from_scope` copies a scope in several reads; a document of the scope edited between
/// them (a live enact, the application) made a mixed copy: its row from before, its units from
/// after. Serve's dry runs have no attestation to catch it. The copy is now taken again until
/// no document of the scope changed meanwhile, and refused as busy when they keep changing.
#[tokio::test]
async fn a_scope_edited_while_it_is_copied_is_copied_again_or_refused() -> TestResult {
    let edited = |document: &str, edits: usize| EditedWhileCopied {
        inner: corpus(),
        document: id(document),
        edits: std::sync::atomic::AtomicUsize::new(edits),
    };
    let scope = [id("law/a"), id("law/b")];

    let once = edited("law/a", 1);
    let seeded = Simulator::seed_from_scope(&once, &scope).await?;
    assert_eq!(
        seeded.load_scope(&Scope::Ids(scope.to_vec())).await?,
        once.inner.load_scope(&Scope::Ids(scope.to_vec())).await?,
        "the copy is the store after the edit, not before"
    );

    let outside = edited("kb/c", crate::SEED_ATTEMPTS + 1);
    Simulator::seed_from_scope(&outside, &scope).await?;

    let always = edited("law/b", crate::SEED_ATTEMPTS + 1);
    let refused = Simulator::seed_from_scope(&always, &scope).await;
    let Err(AdapterError::Unavailable(why)) = refused else {
        panic!("a scope that never stops changing was copied: {refused:?}");
    };
    assert_eq!(why.kind, iu_cutter_live_execution::UnavailableKind::Busy);
    assert!(why.message.contains("try again"), "{}", why.message);
    Ok(())
}
