use iu_cutter_live_execution::{
    Backup, Census, ChangeMark, CutRules, Document, DocumentId, DocumentPlan, DocumentState,
    MockLiveExecutionAdapter, Op, Plan, Preset, Reply, RunId, SCHEMA_VERSION, Scope, ScopeCensus,
    Unit, expect_op, refuse_mutations_except, sha256_hex,
};
use iu_cutter_phase_core::testing::{self, RUN, backup_of, blocked, document, failure, spans};
use iu_cutter_phase_core::{CancelFlag, Gap, Phase, PhaseError, RunContext};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mockall::Sequence;

use super::*;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// `a` is cut into three units, `b` into two.
const A: &str = "# A\none\n# B\ntwo é\n# C\n";
const B: &str = "Điều 1.\nx\nĐiều 2.\ny\n";

fn ends() -> [(&'static str, &'static str, Vec<usize>); 2] {
    [
        ("a", A, vec![8, 19, A.len()]),
        ("b", B, vec!["Điều 1.\nx\n".len(), B.len()]),
    ]
}

fn plan() -> Plan {
    let documents = ends()
        .into_iter()
        .map(|(id, body, ends)| DocumentPlan {
            document: DocumentId::new(id),
            revision: 4,
            source_sha256: sha256_hex(body.as_bytes()),
            source_bytes: body.len() as u64,
            units: spans(body, &ends, |i| format!("{id}-{i}")),
            preset: None,
        })
        .collect();
    Plan {
        schema_version: SCHEMA_VERSION,
        rules: CutRules::preset(Preset::Markdown),
        documents,
    }
}

/// The generation exactly as leg-b-record writes it.
fn generation(id: &str) -> Vec<Unit> {
    let plan = plan();
    let Some(doc_plan) = plan.documents.iter().find(|d| d.document.as_str() == id) else {
        return vec![];
    };
    let body = if id == "a" { A } else { B };
    doc_plan
        .units
        .iter()
        .map(|p| {
            p.staged(
                &doc_plan.document,
                &RunId::new(RUN),
                &body[p.start as usize..p.end as usize],
            )
        })
        .collect()
}

fn source(id: &str, state: DocumentState) -> Document {
    let body = if id == "a" { A } else { B };
    Document {
        state,
        ..document(id, 4, body)
    }
}

fn fenced(id: &str) -> Document {
    source(
        id,
        DocumentState::Cutting {
            run: RunId::new(RUN),
        },
    )
}

/// The digest the fixtures' census gives a document whose digest is named `name`, as hex.
fn hex(name: &str) -> String {
    iu_cutter_live_execution::Sha256Digest::of(name.as_bytes()).hex()
}

/// A census whose digests are named (each the sha256 of its name).
fn census(digests: &[(&str, &str)]) -> Census {
    Census {
        documents: digests.len() as u64,
        units: 0,
        fingerprint: String::new(),
        per_document: digests
            .iter()
            .map(|(id, digest)| {
                let digest = iu_cutter_live_execution::Sha256Digest::of(digest.as_bytes());
                (DocumentId::new(*id), digest)
            })
            .collect(),
    }
}

/// At backup: the two scoped documents and one document outside the scope.
fn census_before() -> Census {
    census(&[("a", "a0"), ("b", "b0"), ("out", "o0")])
}

/// After writing: the scoped documents changed (fenced, new generation), `out` did not.
fn census_after() -> Census {
    census(&[("a", "a1"), ("b", "b1"), ("out", "o0")])
}

fn backup() -> Backup {
    backup_of(
        census_before(),
        ["a", "b"].map(|id| source(id, DocumentState::Ready)),
    )
}

/// What the store answers; each test changes one thing.
struct Store {
    a: Vec<Unit>,
    b: Vec<Unit>,
    documents: Vec<Document>,
    census: Census,
    /// What `out` is now, if its digest changed (read to see whether another run changed it).
    outside: Vec<Document>,
    /// With a backup that carries a change mark: what the change log lists since (the census
    /// is then read only for the documents asked for, from `census`); `None`: a backup
    /// without a mark, checked against a whole-store census.
    changed: Option<Vec<&'static str>>,
    /// The documents each read of the fence check asks for, in order.
    fence_reads: Vec<Vec<&'static str>>,
    /// Counts the reads of the plan's parts, when set.
    plan_reads: Option<Arc<AtomicUsize>>,
    /// The snapshot each call of the digests answers it read after, in order (none: `None`).
    read_after: Vec<&'static str>,
}

impl Store {
    fn good() -> Self {
        Store {
            a: generation("a"),
            b: generation("b"),
            documents: vec![fenced("a"), fenced("b")],
            census: census_after(),
            outside: vec![source("out", DocumentState::Ready)],
            changed: None,
            fence_reads: vec![vec!["a", "b"]],
            plan_reads: None,
            read_after: Vec::new(),
        }
    }

    /// [`Store::good`] for a backup with a change mark, whose change log lists `changed`.
    fn marked(changed: &[&'static str]) -> Self {
        Store {
            changed: Some(changed.to_vec()),
            ..Store::good()
        }
    }

    /// A mock answering in the expected order: the plan, both generations, the fences, the
    /// census, each exactly once.
    fn mock(self) -> MockLiveExecutionAdapter {
        self.build(true)
    }

    /// The same answers, each call optional: a gate stops at its first gap.
    fn lenient(self) -> MockLiveExecutionAdapter {
        self.build(false)
    }

    fn build(self, strict: bool) -> MockLiveExecutionAdapter {
        let times = if strict { 1..=1 } else { 0..=1 };
        let mut mock = MockLiveExecutionAdapter::new();
        // Asked only once a revision moved under a fence: a store of imported documents.
        mock.expect_info()
            .returning(|| iu_cutter_live_execution::AdapterInfo {
                kind: "mock".into(),
                live: false,
                location: "memory".into(),
                source: None,
            });
        let mut seq = Sequence::new();
        // Read through once, around the other calls: not in sequence.
        let plan = testing::sealed_plan(&plan());
        let plan_reads = self.plan_reads;
        expect_op!(mock, LoadPlanPart).returning(move |op, claim| {
            if let Some(reads) = &plan_reads {
                reads.fetch_add(1, Ordering::SeqCst);
            }
            plan(op, claim)
        });
        // A batch's generations are verified, then its documents read back for the fences:
        // each read's generations come right before it.
        let mut units = vec![("a", Some(self.a)), ("b", Some(self.b))];
        let mut reads: Vec<Vec<&str>> = self.fence_reads;
        let covered: Vec<&str> = reads.iter().flatten().copied().collect();
        // Generations no read covers (a test whose gate stops first) go last.
        reads.push(Vec::new());
        let mut snapshots = self.read_after.into_iter();
        for read in reads {
            let last = read.is_empty();
            // The batch's generations, asked for in one call.
            let (mut asked, mut answers) = (Vec::new(), Vec::new());
            for (id, generation_units) in &mut units {
                let ours = if last {
                    !covered.contains(id)
                } else {
                    read.contains(id)
                };
                let Some(answer) = ours.then(|| generation_units.take()).flatten() else {
                    continue;
                };
                asked.push(DocumentId::new(*id));
                answers.push(GenerationDigests::of(&answer));
            }
            if !asked.is_empty() {
                let read_after = snapshots.next().map(str::to_owned);
                for answer in &mut answers {
                    answer.read_after.clone_from(&read_after);
                }
                let call = expect_op!(mock, GenerationDigestsOf,
                    Op::GenerationDigestsOf { documents, generation }
                        if *documents == asked.as_slice() && generation.as_str() == RUN);
                call.times(times.clone())
                    .returning(move |_, _| Ok(answers.clone().into()));
                if strict {
                    call.in_sequence(&mut seq);
                }
            }
            if read.is_empty() {
                continue;
            }
            let ids: Vec<DocumentId> = read.into_iter().map(DocumentId::new).collect();
            let documents: Vec<Document> = self
                .documents
                .iter()
                .filter(|d| ids.contains(&d.id))
                .cloned()
                .collect();
            let call = expect_op!(mock, LoadScope, Op::LoadScope(scope)
                if **scope == Scope::Ids(ids.clone()));
            call.times(times.clone())
                .returning(move |_, _| Ok(documents.clone().into()));
            if strict {
                call.in_sequence(&mut seq);
            }
        }
        let census = self.census;
        if let Some(changed) = self.changed {
            expect_op!(mock, Census).times(0);
            let changed: Vec<DocumentId> = changed.into_iter().map(DocumentId::new).collect();
            let call = expect_op!(mock, ChangedSince);
            call.times(times)
                .returning(move |_, _| Ok(changed.clone().into()));
            if strict {
                call.in_sequence(&mut seq);
            }
            expect_op!(mock, ScopeCensus).returning(move |op, _| {
                let Op::ScopeCensus(ids) = op else {
                    unreachable!("matched only scope_census");
                };
                let per_document = census
                    .per_document
                    .iter()
                    .filter(|(id, _)| ids.contains(id))
                    .map(|(id, digest)| (id.clone(), *digest))
                    .collect();
                Ok(ScopeCensus {
                    census: Census {
                        per_document,
                        ..census.clone()
                    },
                    mark: ChangeMark::new("mock", 2),
                }
                .into())
            });
        } else {
            let call = expect_op!(mock, Census);
            call.times(times)
                .returning(move |_, _| Ok(census.clone().into()));
            if strict {
                call.in_sequence(&mut seq);
            }
        }
        let outside = self.outside;
        expect_op!(mock, LoadHeads, Op::LoadHeads(scope)
            if **scope == Scope::Ids(vec![DocumentId::new("out")]))
        .times(0..=1)
        .returning(move |_, _| {
            Ok(outside
                .iter()
                .map(Document::head)
                .collect::<Vec<_>>()
                .into())
        });
        expect_op!(mock, Generations).returning(|_, _| Ok(Reply::Generations(Vec::new())));
        refuse_mutations_except(&mut mock, &[]);
        mock
    }
}

async fn context(mock: MockLiveExecutionAdapter) -> Result<RunContext, PhaseError> {
    context_with(mock, &backup()).await
}

/// A context whose backup carries a change mark and the census of its scope alone.
async fn marked_context(mock: MockLiveExecutionAdapter) -> Result<RunContext, PhaseError> {
    let mut backup = backup();
    backup
        .census
        .per_document
        .retain(|id, _| id.as_str() != "out");
    backup.mark = Some(ChangeMark::new("mock", 1));
    context_with(mock, &backup).await
}

async fn context_with(
    mock: MockLiveExecutionAdapter,
    backup: &Backup,
) -> Result<RunContext, PhaseError> {
    testing::context(
        mock,
        Scope::Ids(vec![DocumentId::new("a"), DocumentId::new("b")]),
        CutRules::preset(Preset::Markdown),
        Some(backup),
    )
    .await
}

async fn verify(store: Store) -> Result<Evidence, PhaseError> {
    WriteVerify.run(&mut context(store.mock()).await?).await
}

/// Runs the gate on `store` and returns the gap it must find.
async fn gap(store: Store) -> Result<Gap, Box<dyn std::error::Error>> {
    let mut ctx = context(store.lenient()).await?;
    let err = failure(&WriteVerify, &mut ctx, "expected a gap").await?;
    Ok(blocked(err, names::WRITE_VERIFY)?)
}

/// Asserts that `gap` names `document` and says `found` of it.
#[track_caller]
fn assert_names(gap: &Gap, document: &str, found: &str) {
    assert_eq!(gap.document, Some(DocumentId::new(document)), "{gap}");
    assert!(gap.found.contains(found), "{gap}");
}

/// Runs the gate on a store whose scoped documents are now `documents`.
async fn gap_for_documents(documents: Vec<Document>) -> Result<Gap, Box<dyn std::error::Error>> {
    gap(Store {
        documents,
        ..Store::good()
    })
    .await
}

#[tokio::test]
async fn a_faithful_generation_passes_reading_only() -> TestResult {
    let evidence = verify(Store::good()).await?;
    assert_eq!(evidence["documents_verified"].as_count(), Some(2));
    assert_eq!(evidence["units_verified"].as_count(), Some(5));
    assert_eq!(evidence["verify_digest"].as_text().map(str::len), Some(64));
    assert_eq!(evidence.len(), 3);

    // Deterministic: the same generation verified again gives the same evidence.
    assert_eq!(verify(Store::good()).await?, evidence);
    Ok(())
}

#[tokio::test]
async fn the_fences_are_read_a_batch_of_documents_at_a_time() -> TestResult {
    // Bounded memory: the fence check reads whole bodies, so never the whole scope at once, and
    // each batch is checked before the next is read (nothing of the scope is kept). The strict
    // mock expects exactly: a's generation, a's read, b's generation, b's read.
    let store = Store {
        fence_reads: vec![vec!["a"], vec!["b"]],
        ..Store::good()
    };
    let mut ctx = context(store.mock()).await?;
    ctx.batch_documents = iu_cutter_phase_core::DocumentBatches::Of(1);
    let evidence = WriteVerify.run(&mut ctx).await?;
    assert_eq!(evidence["documents_verified"].as_count(), Some(2));
    assert_eq!(evidence, verify(Store::good()).await?);
    Ok(())
}

#[tokio::test]
async fn a_pass_notes_the_snapshot_its_first_read_came_after_for_this_invocations_enact()
-> TestResult {
    // Two calls (a batch per document), each read after a snapshot of its own: the first one,
    // taken before every read, is what enact may compare the staged units' writers with.
    let store = Store {
        fence_reads: vec![vec!["a"], vec!["b"]],
        read_after: vec!["s1", "s2"],
        ..Store::good()
    };
    let mut ctx = context(store.mock()).await?;
    ctx.batch_documents = iu_cutter_phase_core::DocumentBatches::Of(1);
    WriteVerify.run(&mut ctx).await?;
    assert_eq!(ctx.staged_read_after(&RunId::new(RUN)), Some("s1"));
    assert_eq!(ctx.staged_read_after(&RunId::new("another run")), None);

    // A pass that finds a gap notes nothing, and forgets what an earlier pass noted.
    let mut b = generation("b");
    b[1].body = b[1].body.replace('y', "z");
    let store = Store {
        b,
        read_after: vec!["s3"],
        ..Store::good()
    };
    let mut ctx = context(store.lenient()).await?;
    ctx.note_staged_read_after(&RunId::new(RUN), Some("s0".into()));
    failure(&WriteVerify, &mut ctx, "expected a gap").await?;
    assert_eq!(ctx.staged_read_after(&RunId::new(RUN)), None);
    Ok(())
}

#[test]
fn the_verify_digest_depends_on_the_units() {
    let mut one = DigestBuilder::default();
    let mut two = DigestBuilder::default();
    let plan = plan();
    let mut other = plan.documents[1].clone();
    other.units[0].sha256 = iu_cutter_live_execution::Sha256Digest::of(b"other");
    one.document(&plan.documents[0]);
    one.document(&plan.documents[1]);
    two.document(&plan.documents[0]);
    two.document(&other);
    assert_ne!(one.finish(), two.finish());
}

#[tokio::test]
async fn a_rerun_after_enact_still_passes_with_the_same_evidence() -> TestResult {
    let before = verify(Store::good()).await?;
    let enacted = |id: &str| Document {
        state: DocumentState::Cut,
        active_generation: Some(RunId::new(RUN)),
        ..source(id, DocumentState::Cut)
    };
    let after = verify(Store {
        documents: vec![enacted("a"), enacted("b")],
        ..Store::good()
    })
    .await?;
    assert_eq!(before, after);
    Ok(())
}

/// How a gap names the planned unit whose id is named `name` ([`testing::named_unit_id`]).
fn label(name: &str, ordinal: u32) -> String {
    format!("{} (ordinal {ordinal})", testing::named_unit_id(name))
}

#[tokio::test]
async fn an_altered_body_is_caught_naming_the_unit() -> TestResult {
    let mut b = generation("b");
    b[1].body = b[1].body.replace('y', "z"); // same length, other bytes, sha not updated
    let gap = gap(Store { b, ..Store::good() }).await?;
    assert_eq!(gap.document, Some(DocumentId::new("b")));
    assert_eq!(gap.unit, Some(label("b-1", 1)));
    assert!(
        gap.found.contains(&sha256_hex("Điều 2.\nz\n".as_bytes())),
        "{gap}"
    );
    Ok(())
}

#[tokio::test]
async fn an_altered_body_with_a_matching_recorded_sha_is_still_caught() -> TestResult {
    let mut a = generation("a");
    a[0].body = "# X\none\n".into();
    a[0].sha256 = sha256_hex(a[0].body.as_bytes());
    let gap = gap(Store { a, ..Store::good() }).await?;
    assert_eq!(gap.document, Some(DocumentId::new("a")));
    assert_eq!(gap.unit, Some(label("a-0", 0)));
    Ok(())
}

#[tokio::test]
async fn a_missing_unit_is_named() -> TestResult {
    let mut a = generation("a");
    a.remove(1);
    let gap = gap(Store { a, ..Store::good() }).await?;
    assert_eq!(gap.document, Some(DocumentId::new("a")));
    assert_eq!(gap.unit, Some(label("a-1", 1)));
    assert!(gap.expected.starts_with("3 units"), "{gap}");
    assert!(gap.found.contains("missing"), "{gap}");
    Ok(())
}

#[tokio::test]
async fn an_extra_unit_is_named() -> TestResult {
    let mut b = generation("b");
    let mut extra = b[1].clone();
    extra.ordinal = 2;
    extra.unit_id = "b-2".into();
    b.push(extra);
    let gap = gap(Store { b, ..Store::good() }).await?;
    assert_eq!(gap.unit.as_deref(), Some("b-2 (ordinal 2)"));
    Ok(())
}

#[tokio::test]
async fn a_shifted_range_is_caught_even_with_consistent_hashes() -> TestResult {
    // Move one byte from unit 0 to unit 1: both bodies still hash to their recorded sha256s.
    let mut a = generation("a");
    a[0].end -= 1;
    a[0].body.pop();
    a[0].sha256 = sha256_hex(a[0].body.as_bytes());
    a[1].start -= 1;
    a[1].body.insert(0, '\n');
    a[1].sha256 = sha256_hex(a[1].body.as_bytes());
    let gap = gap(Store { a, ..Store::good() }).await?;
    assert_eq!(gap.unit, Some(label("a-0", 0)));
    assert!(gap.found.contains("bytes 0..7"), "{gap}");
    Ok(())
}

#[tokio::test]
async fn a_unit_of_another_generation_is_caught() -> TestResult {
    let mut b = generation("b");
    b[0].generation = RunId::new("old");
    let gap = gap(Store { b, ..Store::good() }).await?;
    assert_names(&gap, "b", "generation old");
    Ok(())
}

#[tokio::test]
async fn a_document_whose_revision_changed_is_caught() -> TestResult {
    let mut written = fenced("b");
    written.revision = 5;
    written.sha256 = sha256_hex(b"edited");
    let gap = gap_for_documents(vec![fenced("a"), written]).await?;
    assert_names(&gap, "b", "revision 5");
    assert!(gap.expected.contains("revision 4"), "{gap}");
    Ok(())
}

#[tokio::test]
async fn a_body_changed_behind_its_recorded_hash_is_caught() -> TestResult {
    // Raw SQL changed the body but left revision and sha256 as they were.
    let mut written = fenced("b");
    written.body.push_str("smuggled line\n");
    let gap = gap_for_documents(vec![fenced("a"), written]).await?;
    assert_names(&gap, "b", "without updating its revision");
    // The next actions are read in order: never a resume after the rollback (refused then).
    let steps = iu_cutter_phase_core::next::in_words(&gap.next);
    assert!(steps.ends_with(&format!("roll back run {RUN}")), "{steps}");
    Ok(())
}

#[tokio::test]
async fn a_document_no_longer_fenced_by_this_run_is_caught() -> TestResult {
    let other = source(
        "a",
        DocumentState::Cutting {
            run: RunId::new("run-2"),
        },
    );
    let gap = gap_for_documents(vec![other, fenced("b")]).await?;
    assert_names(&gap, "a", "run-2");

    let gap = gap_for_documents(vec![fenced("a")]).await?;
    assert_names(&gap, "b", "deleted");
    Ok(())
}

#[tokio::test]
async fn an_out_of_scope_document_that_changed_is_caught() -> TestResult {
    let gap = gap(Store {
        census: census(&[("a", "a1"), ("b", "b1"), ("out", "o1")]),
        ..Store::good()
    })
    .await?;
    assert_eq!(gap.document, Some(DocumentId::new("out")));
    assert!(gap.expected.contains(&hex("o0")), "{gap}");
    assert!(gap.found.contains(&hex("o1")), "{gap}");
    Ok(())
}

/// Several runners share the store: an out-of-scope document another run fenced or enacted
/// since the backup is that run's business, not a change by this one.
#[tokio::test]
async fn an_out_of_scope_document_another_run_holds_or_cut_passes() -> TestResult {
    let other = RunId::new("other-run");
    for outside in [
        source("out", DocumentState::Cutting { run: other.clone() }),
        Document {
            active_generation: Some(other.clone()),
            ..source("out", DocumentState::Cut)
        },
    ] {
        let result = WriteVerify
            .run(
                &mut context(
                    Store {
                        census: census(&[("a", "a1"), ("b", "b1"), ("out", "o1")]),
                        outside: vec![outside.clone()],
                        ..Store::good()
                    }
                    .lenient(),
                )
                .await?,
            )
            .await;
        assert!(result.is_ok(), "{:?}: {result:?}", outside.state);
    }
    Ok(())
}

#[tokio::test]
async fn an_out_of_scope_document_that_appeared_or_vanished_is_caught() -> TestResult {
    let gap1 = gap(Store {
        census: census(&[("a", "a1"), ("b", "b1"), ("new", "n0"), ("out", "o0")]),
        ..Store::good()
    })
    .await?;
    assert_eq!(gap1.document, Some(DocumentId::new("new")));
    let gap2 = gap(Store {
        census: census(&[("a", "a1"), ("b", "b1")]),
        ..Store::good()
    })
    .await?;
    assert_names(&gap2, "out", "vanished");
    Ok(())
}

#[tokio::test]
async fn a_backup_that_does_not_match_the_plan_is_a_gap() -> TestResult {
    let mut mock = MockLiveExecutionAdapter::new();
    let mut changed = plan();
    changed.documents[0].revision = 3;
    expect_op!(mock, LoadPlanPart).returning(testing::sealed_plan(&changed));
    expect_op!(mock, GenerationDigestsOf)
        .times(1)
        .returning(|_, _| Ok(vec![GenerationDigests::of(&generation("a")); 2].into()));
    reads_no_scope_and_changes_nothing(&mut mock);
    let err = failure(&WriteVerify, &mut context(mock).await?, "mismatch accepted").await?;
    assert!(
        matches!(&err, PhaseError::Blocked(gap) if gap.document == Some(DocumentId::new("a"))),
        "{err}"
    );
    Ok(())
}

/// The phase mutates nothing, so it reads its plan (and backup) in one pass, not twice: a pass
/// over them costs seconds of the store's time on a million units.
#[tokio::test]
async fn the_plan_is_read_in_one_pass() -> TestResult {
    let reads = Arc::new(AtomicUsize::new(0));
    let store = Store {
        plan_reads: Some(Arc::clone(&reads)),
        ..Store::good()
    };
    let evidence = verify(store).await?;
    assert_eq!(evidence["documents_verified"].as_count(), Some(2));
    // Its head, its one part (both documents) and the end of its parts: each read once.
    assert_eq!(reads.load(Ordering::SeqCst), 3);
    Ok(())
}

/// Read in one pass, a gap found part-way is reported only once the rest of the plan (and of
/// the backup) was checked: a plan changed in the journal is refused as such, as when the plan
/// was read through first, not taken for a gap in the generation.
#[tokio::test]
async fn a_plan_changed_in_the_journal_is_refused_before_a_gap_it_causes() -> TestResult {
    let mut mock = MockLiveExecutionAdapter::new();
    let mut changed = plan();
    changed.documents[0].revision = 3;
    let journaled = plan().sha256();
    let serve = testing::sealed_plan(&changed);
    expect_op!(mock, LoadPlanPart).returning(move |op, claim| {
        let reply = serve(op, claim)?;
        Ok(match reply {
            Reply::PlanPart(Some(mut part)) => {
                part.sha256 = journaled.clone();
                Reply::PlanPart(Some(part))
            }
            other => other,
        })
    });
    expect_op!(mock, GenerationDigestsOf)
        .times(0..=1)
        .returning(|_, _| Ok(vec![GenerationDigests::of(&generation("a")); 2].into()));
    reads_no_scope_and_changes_nothing(&mut mock);
    let err = failure(
        &WriteVerify,
        &mut context(mock).await?,
        "tampered plan accepted",
    )
    .await?;
    assert!(
        matches!(&err, PhaseError::Precondition(m) if m.contains("journal was changed")),
        "{err}"
    );
    Ok(())
}

/// Cancelled while a batch's generations are read, the phase stops before it reads the next
/// thing (the batch's fences).
#[tokio::test]
async fn cancellation_is_honoured_between_reads() -> TestResult {
    let cancel = CancelFlag::new();
    let operator = cancel.clone();
    let mut mock = MockLiveExecutionAdapter::new();
    expect_op!(mock, LoadPlanPart).returning(testing::sealed_plan(&plan()));
    expect_op!(mock, GenerationDigestsOf)
        .times(1)
        .returning(move |_, _| {
            operator.cancel();
            Ok(vec![
                GenerationDigests::of(&generation("a")),
                GenerationDigests::of(&generation("b")),
            ]
            .into())
        });
    reads_no_scope_and_changes_nothing(&mut mock);
    let mut ctx = context(mock).await?;
    ctx.cancel = cancel;

    let err = failure(&WriteVerify, &mut ctx, "cancel ignored").await?;
    assert!(matches!(err, PhaseError::Cancelled), "{err}");
    Ok(())
}

// ---- a backup with a change mark: the change log, not a whole-store census ------------------

/// Runs the gate with a marked backup on `store` and returns the gap it must find.
async fn marked_gap(store: Store) -> Result<Gap, Box<dyn std::error::Error>> {
    let mut ctx = marked_context(store.lenient()).await?;
    let err = failure(&WriteVerify, &mut ctx, "expected a gap").await?;
    Ok(blocked(err, names::WRITE_VERIFY)?)
}

#[tokio::test]
async fn with_a_change_mark_changes_in_scope_pass_reading_no_whole_census() -> TestResult {
    let evidence = WriteVerify
        .run(&mut marked_context(Store::marked(&["a", "b"]).mock()).await?)
        .await?;
    assert_eq!(evidence["documents_verified"].as_count(), Some(2));
    Ok(())
}

#[tokio::test]
async fn with_a_change_mark_an_out_of_scope_change_is_caught_naming_it() -> TestResult {
    let gap = marked_gap(Store {
        census: census(&[("a", "a1"), ("b", "b1"), ("out", "o1")]),
        ..Store::marked(&["a", "b", "out"])
    })
    .await?;
    assert_eq!(gap.document, Some(DocumentId::new("out")));
    assert!(gap.expected.contains("out-of-scope"), "{gap}");
    assert!(gap.found.contains(&hex("o1")), "{gap}");

    let vanished = marked_gap(Store {
        census: census(&[("a", "a1"), ("b", "b1")]),
        outside: vec![],
        ..Store::marked(&["out"])
    })
    .await?;
    assert_names(&vanished, "out", "vanished");
    Ok(())
}

#[tokio::test]
async fn with_a_change_mark_an_out_of_scope_document_another_run_holds_passes() -> TestResult {
    let other = RunId::new("other-run");
    let store = Store {
        census: census(&[("a", "a1"), ("b", "b1"), ("out", "o1")]),
        outside: vec![source("out", DocumentState::Cutting { run: other })],
        ..Store::marked(&["a", "out"])
    };
    let result = WriteVerify
        .run(&mut marked_context(store.lenient()).await?)
        .await;
    assert!(result.is_ok(), "{result:?}");
    Ok(())
}

/// store48: the digests of a batch come in one call; a store that answers for fewer (or more)
/// documents than asked is refused as broken, not taken for a verified batch.
#[tokio::test]
async fn digests_for_other_than_the_documents_asked_are_refused() -> TestResult {
    let mut mock = MockLiveExecutionAdapter::new();
    expect_op!(mock, LoadPlanPart).returning(testing::sealed_plan(&plan()));
    expect_op!(mock, GenerationDigestsOf)
        .times(1)
        .returning(|_, _| Ok(vec![GenerationDigests::of(&generation("a"))].into()));
    reads_no_scope_and_changes_nothing(&mut mock);
    let err = failure(
        &WriteVerify,
        &mut context(mock).await?,
        "short answer accepted",
    )
    .await?;
    assert!(
        matches!(&err, PhaseError::Adapter(e) if e.to_string().contains("1 document(s) for 2")),
        "{err}"
    );
    Ok(())
}

/// store48: a batch's digests are asked for about `batch_units` planned units per call (at
/// least one document each), so that no more than that many units' digests are held at once
/// (three calls of a million units' batches held a third of them each).
#[test]
fn digests_are_asked_for_about_batch_units_units_per_call() {
    let batch: Vec<(DocumentPlan, Document)> = plan()
        .documents
        .into_iter()
        .map(|p| {
            let source = source(p.document.as_str(), DocumentState::Ready);
            (p, source)
        })
        .collect();
    let calls = |units: usize| -> Vec<Vec<String>> {
        StoredDigests::of(&batch, units)
            .calls
            .into_iter()
            .map(|ids| ids.iter().map(|id| id.as_str().to_owned()).collect())
            .collect()
    };
    // `a` has three units, `b` two.
    assert_eq!(calls(5), [vec!["a", "b"]]);
    assert_eq!(calls(4), [vec!["a"], vec!["b"]]);
    assert_eq!(calls(1), [vec!["a"], vec!["b"]], "one document at least");
}

/// Expects write-verify to stop on the plan and the digests alone: no read of the scope or the
/// census, and no mutation.
fn reads_no_scope_and_changes_nothing(mock: &mut MockLiveExecutionAdapter) {
    expect_op!(mock, LoadScope).times(0);
    expect_op!(mock, Census).times(0);
    refuse_mutations_except(mock, &[]);
}
