//! The contract suite of [`LiveExecutionAdapter`], written once and run against every store:
//! the simulator, SQLite and PostgreSQL (`IU_CUTTER_TEST_PG_URL`), in the modules
//! `contract_simulator`, `contract_sqlite` and `contract_postgres` of the `integration` test
//! binary.
//!
//! Each check is a `pub async fn` taking a fresh, empty store whose kill switch is open. A test
//! binary instantiates every check as its own `#[tokio::test]` with [`contract_suite!`], given a
//! fixture function `async fn(name: &str) -> Option<impl Fixture>` (`None` skips the test; see
//! [`crate::fixture`]).
//!
//! The checks state the trait's doc comments as executable facts, including the exact error
//! variant (and, for compare-and-set, the exact `expected`/`found` text) every store must give.

use std::collections::{BTreeMap, BTreeSet};

use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::{
    ActiveUnit, AdapterError, AdapterResult, Backup, CensusBuilder, CutRules, Document,
    DocumentHead, DocumentId, DocumentSnapshot, DocumentState, ExpectedRevision, GenerationDigests,
    GenerationRecord, GenerationState, LiveExecutionAdapter, PhaseRecord, PhaseStatus, Plan,
    PlannedUnit, Preset, PurgeTarget, RecentRuns, RunId, RunRecord, RunStatus, SCHEMA_VERSION,
    Scope, Sha256Digest, SourceFacts, StagedProof, StoreSnapshot, Unit, UnitCursor, UnitId,
    sha256_hex, snapshot_census,
};

use crate::fixture::Fixture;
use crate::{id, ok, put};

fixture_suite! {
    /// Instantiates every contract check as a `#[tokio::test]` over `$fixture`, an
    /// `async fn(&str) -> Option<impl Fixture>` called with the check's name.
    contract_suite {
        (contract, adapter): [
            empty_store_reads_nothing,
            put_document_creates_and_revises,
            put_document_keeps_a_fence_and_readies_a_cut_document,
            load_scope_orders_by_id_and_honours_every_scope,
            fence_moves_documents_to_cutting_and_is_idempotent,
            fence_refuses_a_stale_revision_all_or_nothing,
            fence_refuses_a_document_held_by_another_run,
            fence_refuses_a_missing_document,
            write_units_needs_the_fence,
            write_units_is_all_or_nothing,
            write_units_is_idempotent_and_staged,
            write_units_replaces_by_ordinal_later_wins,
            write_units_large_batch_round_trips,
            write_units_round_trips_any_text_and_replaces_written_keys,
            write_units_of_megabytes_round_trip,
            enact_activates_and_retires_the_previous_generation,
            enact_is_idempotent_and_counts_documents,
            enact_is_compare_and_set_all_or_nothing,
            enact_of_a_document_without_units,
            restore_after_enact_gives_back_the_exact_census,
            restore_before_enact_drops_the_staged_generation,
            restore_refuses_a_foreign_backup,
            a_batch_over_many_reads_is_fenced_enacted_and_restored_whole,
            journal_round_trips,
            journal_errors_name_the_run,
            save_plan_is_idempotent_and_refuses_a_different_plan,
            a_plan_of_many_megabytes_round_trips,
            a_plan_journaled_by_parts_is_one_plan_once_sealed,
            census_is_canonical_and_ignores_the_journal,
            snapshot_is_ordered_and_complete,
            journal_keeps_phase_times_and_the_reviewed_plan,
            recent_runs_are_the_last_of_the_journal_by_latest_start,
            recent_runs_of_a_limit_beyond_the_journal_are_every_run,
            reports_are_journaled_in_order_once,
            purge_removes_only_retired_generations_all_or_nothing,
            load_scope_partitions_by_shard,
            load_heads_are_the_scope_without_bodies,
            put_documents_is_all_or_nothing_and_refuses_ids_no_store_may_hold,
            journaled_backups_round_trip_once,
            a_backup_of_many_megabytes_round_trips,
            a_backup_journaled_by_parts_is_one_backup_once_sealed,
            active_units_pages_read_every_active_unit_once_in_order,
            an_active_units_page_never_stitches_two_generations,
            heads_pages_read_every_document_once_in_order,
            batch_reads_are_the_reads_of_each_document,
        ],
        (change_log, adapter): [
            a_scope_census_is_the_census_of_its_documents,
            a_scope_census_summary_folds_ids_in_bytewise_order,
            a_scope_census_over_many_pages_is_the_census_of_its_documents,
            a_mark_of_another_store_kind_is_refused,
            a_mark_ahead_of_the_store_is_refused,
            unit_writes_are_listed_by_the_change_log,
            a_rollback_is_a_change_for_a_mark_taken_while_the_run_held_it,
            a_rolled_back_run_is_no_change_for_an_earlier_mark,
            an_edit_before_the_backup_stays_listed_after_the_rollback,
            an_edit_after_the_rollback_ends_its_window,
            a_second_rolled_back_run_hides_no_edit_between_the_runs,
            a_mark_during_the_first_run_sees_the_second_rollback,
            a_run_that_never_wrote_a_document_opens_no_window_for_it,
            a_hand_edited_entry_hides_no_edit,
            a_hand_removed_entry_hides_no_edit,
        ],
        (change_log, fixture): [
            changed_since_lists_every_change_after_the_mark,
            an_edit_undone_while_the_run_held_it_stays_listed,
            an_edit_undone_between_the_runs_writes_stays_listed,
            an_edit_of_the_runs_units_undone_while_held_stays_listed,
            an_edit_of_an_earlier_generation_undone_while_held_stays_listed,
            an_edit_undone_before_a_resumed_fence_stays_listed,
            alternating_runs_hide_no_edit,
        ],
        (contract, fixture): [
            leases_admit_one_holder_at_a_time,
            leases_expire_on_the_store_clock,
            claimed_calls_need_the_callers_live_lease,
            generation_digests_hash_every_body_as_stored,
            enact_with_write_verifys_proof_refuses_a_unit_rewritten_since,
        ],
    }
}

// ---- helpers ---------------------------------------------------------------------------------

/// Asserts `result` is a [`AdapterError::Conflict`] on `document` and returns its texts.
pub fn conflict<T: std::fmt::Debug>(
    result: AdapterResult<T>,
    document: &str,
    what: &str,
) -> (String, String) {
    match result {
        Err(AdapterError::Conflict {
            document: found_document,
            expected,
            found,
        }) => {
            assert_eq!(found_document.as_str(), document, "{what}: conflict names");
            (expected, found)
        }
        other => panic!("{what}: expected a conflict on `{document}`, got {other:?}"),
    }
}

/// Asserts `result` is a [`AdapterError::Conflict`] on `document` whose texts are exactly
/// `expected` and `found`.
pub fn assert_conflict<T: std::fmt::Debug>(
    result: AdapterResult<T>,
    document: &str,
    what: &str,
    expected: &str,
    found: &str,
) {
    let texts = conflict(result, document, what);
    assert_eq!(texts, (expected.to_owned(), found.to_owned()), "{what}");
}

/// Asserts the store still holds exactly `before`: a refused call changed nothing.
async fn assert_all_or_nothing(store: &dyn LiveExecutionAdapter, before: &StoreSnapshot) {
    assert_eq!(
        &ok(store.snapshot().await, "snapshot"),
        before,
        "all or nothing"
    );
}

/// Asserts the store's census is the one the seam computes from its snapshot.
async fn assert_census_is_canonical(store: &dyn LiveExecutionAdapter) {
    assert_eq!(
        ok(store.census().await, "census"),
        snapshot_census(&ok(store.snapshot().await, "snapshot"))
    );
}

/// Asserts `result` is the error `matches` accepts.
pub fn error<T: std::fmt::Debug>(
    result: AdapterResult<T>,
    matches: impl Fn(&AdapterError) -> bool,
    what: &str,
) -> AdapterError {
    match result {
        Err(error) if matches(&error) => error,
        other => panic!("{what}: unexpected result {other:?}"),
    }
}

fn run(value: &str) -> RunId {
    RunId::new(value)
}

/// What a fence or enact expects of `document`.
pub fn expect(document: &Document) -> ExpectedRevision {
    ExpectedRevision::of(document)
}

/// Cuts `document` into at most `pieces` units of `generation` at character boundaries: exact
/// spans covering the body, each with its sha256.
pub fn units_for(document: &Document, generation: &RunId, pieces: usize) -> Vec<Unit> {
    let body = document.body.as_str();
    let pieces = pieces.max(1);
    let target = body.len().div_ceil(pieces).max(1);
    let mut cuts = vec![0];
    let mut at = 0;
    while at < body.len() {
        let mut next = (at + target).min(body.len());
        while !body.is_char_boundary(next) {
            next += 1;
        }
        cuts.push(next);
        at = next;
    }
    if cuts.len() == 1 {
        cuts.push(0);
    }
    cuts.windows(2)
        .enumerate()
        .map(|(ordinal, span)| {
            let text = &body[span[0]..span[1]];
            let ordinal = ordinal as u32;
            Unit {
                document: document.id.clone(),
                generation: generation.clone(),
                ordinal,
                unit_id: format!("{}#{ordinal}", document.id),
                path: format!("Điều {ordinal}"),
                part: (ordinal % 3 == 2).then_some(ordinal / 3),
                start: span[0] as u64,
                end: span[1] as u64,
                sha256: sha256_hex(text.as_bytes()),
                body: text.to_owned(),
            }
        })
        .collect()
}

/// `document` as the store holds it now (what a backup taken now would expect).
pub async fn reread(store: &dyn LiveExecutionAdapter, document: &Document) -> Document {
    let found = ok(
        store
            .load_scope(&Scope::Ids(vec![document.id.clone()]))
            .await,
        "load_scope",
    );
    found
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("document `{}` is gone", document.id))
}

/// `put_documents` writes a batch in one transaction: an id with a control or bidirectional
/// formatting character refuses the whole batch, on every store alike; a good batch is stored
/// and returned in order.
pub async fn put_documents_is_all_or_nothing_and_refuses_ids_no_store_may_hold(
    store: &dyn LiveExecutionAdapter,
) {
    for bad in [
        "tab\there",
        "nul\0",
        "rtl\u{202E}txt.exe",
        "",
        "lrm\u{200E}",
    ] {
        let batch = vec![
            (id("good"), "Điều 1.".to_owned()),
            (id(bad), "x".to_owned()),
        ];
        error(
            store.put_documents(&batch).await,
            |e| matches!(e, AdapterError::Invalid(_)),
            &format!("id {bad:?}"),
        );
        assert!(
            ok(store.load_scope(&Scope::All).await, "load").is_empty(),
            "{bad:?}: nothing written"
        );
    }
    let batch = vec![
        (id("b"), "two".to_owned()),
        (id("a"), "one".to_owned()),
        (id("b"), "two, again".to_owned()),
    ];
    let stored = ok(store.put_documents(&batch).await, "put_documents");
    let shown: Vec<(&str, u64)> = stored.iter().map(|d| (d.id.as_str(), d.revision)).collect();
    assert_eq!(shown, [("b", 1), ("a", 1), ("b", 2)]);
    let all = ok(store.load_scope(&Scope::All).await, "load");
    assert_eq!(all.len(), 2);
    assert_eq!(all[1].body, "two, again");
}

/// A run's backup artifact is journaled once: the same again passes, another is refused, and
/// it reads back exactly; a run not journaled has nowhere to keep one.
pub async fn journaled_backups_round_trip_once(store: &dyn LiveExecutionAdapter) {
    let r = run("r");
    error(
        store.save_backup(&r, "x\n", &sha256_hex(b"x\n")).await,
        |e| matches!(e, AdapterError::NotFound(_)),
        "no run",
    );
    ok(
        store
            .begin_run(&RunRecord::new(r.clone(), Scope::All, rules()))
            .await,
        "begin",
    );
    assert_eq!(ok(store.load_backup(&r).await, "load"), None);
    let artifact = "{\"header\":1}\n{\"id\":\"Điều 1\"}\n";
    let sha = sha256_hex(artifact.as_bytes());
    ok(store.save_backup(&r, artifact, &sha).await, "save");
    ok(store.save_backup(&r, artifact, &sha).await, "save again");
    let other = "{}\n";
    let refused = error(
        store
            .save_backup(&r, other, &sha256_hex(other.as_bytes()))
            .await,
        |e| matches!(e, AdapterError::Invalid(_)),
        "another backup",
    );
    assert!(refused.to_string().contains("one backup"), "{refused}");
    let stored = ok(store.load_backup(&r).await, "load");
    assert_eq!(
        stored,
        Some(iu_cutter_live_execution::StoredBackup {
            artifact: artifact.to_owned(),
            sha256: sha,
        })
    );
    // Journal state: never in the census.
    assert_census_is_canonical(store).await;
}

/// A backup of a large scope (more than the few megabytes a live store journals in one part)
/// round-trips byte for byte, its last line without a newline included.
pub async fn a_backup_of_many_megabytes_round_trips(store: &dyn LiveExecutionAdapter) {
    let r = begun(store, "r-large").await;
    let mut artifact = String::from("{\"header\":1}\n");
    for i in 0..20_000 {
        artifact.push_str(&format!(
            "{{\"id\":\"Điều {i}\",\"body\":\"{}\"}}\n",
            "ư".repeat(250)
        ));
    }
    artifact.push_str("{\"last\":true}");
    let sha = sha256_hex(artifact.as_bytes());
    ok(store.save_backup(&r, &artifact, &sha).await, "save");
    ok(store.save_backup(&r, &artifact, &sha).await, "save again");
    let stored = ok(store.load_backup(&r).await, "load").map(|s| (s.sha256, s.artifact));
    assert!(
        stored == Some((sha.clone(), artifact.clone())),
        "the backup read back is the backup saved"
    );
    // Read a part at a time, it is the same text, every part carrying the recorded sha256.
    let mut parts = String::new();
    for part in 0.. {
        let Some(read) = ok(store.load_backup_part(&r, part).await, "part") else {
            assert!(part > 0, "part 0 exists for a journaled backup");
            break;
        };
        assert_eq!(read.sha256, sha, "part {part}'s sha256");
        parts.push_str(&read.artifact);
    }
    assert!(
        parts == artifact,
        "the parts concatenated are the backup saved"
    );
    let none = begun(store, "r-no-backup").await;
    assert_eq!(
        ok(store.load_backup_part(&none, 0).await, "no backup"),
        None
    );
}

/// A backup journaled a part at a time does not exist until sealed; its parts may be discarded
/// before the seal (not after); a part may be journaled
/// again before the seal (the later text wins), parts after the sealed count are dropped, a
/// missing part cannot be sealed; once sealed it reads back (whole and by parts) as the parts
/// concatenated, and only the same parts and seal pass again.
pub async fn a_backup_journaled_by_parts_is_one_backup_once_sealed(
    store: &dyn LiveExecutionAdapter,
) {
    let nowhere = run("r-nowhere");
    error(
        store.save_backup_part(&nowhere, 0, "x\n").await,
        |e| matches!(e, AdapterError::NotFound(_)),
        "part of no run",
    );
    let r = begun(store, "r-parts").await;
    let parts = [
        "{\"header\":1}\n",
        "{\"id\":\"Điều 1\"}\n",
        "{\"id\":\"Điều 2\"}\n",
    ];
    let artifact = parts.concat();
    let sha = sha256_hex(artifact.as_bytes());
    ok(
        store.save_backup_part(&r, 0, "stale\n").await,
        "part 0, stale",
    );
    ok(
        store.save_backup_part(&r, 3, "abandoned\n").await,
        "part 3, abandoned",
    );
    assert_eq!(
        ok(store.load_backup(&r).await, "load"),
        None,
        "no backup before the seal"
    );
    error(
        store.discard_backup_parts(&nowhere).await,
        |e| matches!(e, AdapterError::NotFound(_)),
        "discarding parts of no run",
    );
    assert_eq!(
        ok(store.discard_backup_parts(&r).await, "discard"),
        2,
        "the two unsealed parts are dropped"
    );
    assert_eq!(
        ok(store.discard_backup_parts(&r).await, "discard again"),
        0,
        "nothing is left to drop"
    );
    error(
        store.seal_backup(&r, 1, &sha256_hex(b"stale\n")).await,
        |e| matches!(e, AdapterError::Invalid(_)),
        "a discarded part",
    );
    ok(
        store.save_backup_part(&r, 3, "abandoned\n").await,
        "part 3, abandoned",
    );
    for (seq, part) in (0u64..).zip(parts).skip(1) {
        ok(store.save_backup_part(&r, seq, part).await, "part");
    }
    ok(
        store.save_backup_part(&r, 0, parts[0]).await,
        "part 0 again",
    );
    error(
        store.seal_backup(&r, 5, &sha).await,
        |e| matches!(e, AdapterError::Invalid(_)),
        "a missing part",
    );
    ok(store.seal_backup(&r, 3, &sha).await, "seal");
    ok(store.seal_backup(&r, 3, &sha).await, "seal again");
    ok(
        store.save_backup_part(&r, 1, parts[1]).await,
        "the same part again",
    );
    error(
        store.save_backup_part(&r, 1, "other\n").await,
        |e| matches!(e, AdapterError::Invalid(_)),
        "another part after the seal",
    );
    error(
        store.seal_backup(&r, 3, &sha256_hex(b"other")).await,
        |e| matches!(e, AdapterError::Invalid(_)),
        "another seal",
    );
    assert_eq!(
        ok(
            store.discard_backup_parts(&r).await,
            "discarding a sealed backup's parts keeps them",
        ),
        0,
        "a sealed backup's parts are not dropped"
    );
    let stored = ok(store.load_backup(&r).await, "load");
    assert_eq!(
        stored.map(|s| (s.artifact, s.sha256)),
        Some((artifact.clone(), sha.clone()))
    );
    let mut read = String::new();
    for part in 0.. {
        match ok(store.load_backup_part(&r, part).await, "part") {
            Some(stored) => read.push_str(&stored.artifact),
            None => break,
        }
    }
    assert_eq!(read, artifact, "read by parts");
    // Journal state: never in the census.
    assert_census_is_canonical(store).await;
}

/// Fences, writes `pieces` units per document and enacts `documents` as `generation`, expecting
/// each document as the store holds it now (as a backup taken just before would).
pub async fn cut(
    store: &dyn LiveExecutionAdapter,
    generation: &RunId,
    documents: &[Document],
    pieces: usize,
) -> u64 {
    let ids: Vec<DocumentId> = documents.iter().map(|d| d.id.clone()).collect();
    let current = ok(store.load_scope(&Scope::Ids(ids)).await, "load_scope");
    let expectations: Vec<_> = current.iter().map(expect).collect();
    ok(store.fence(generation, &expectations).await, "fence");
    write_units(store, generation, documents, pieces).await;
    ok(store.enact(generation, &expectations).await, "enact")
}

/// Writes `generation`'s units of each of `documents`, `pieces` each (as [`units_for`] cuts
/// them), between a fence and an enact.
pub async fn write_units(
    store: &dyn LiveExecutionAdapter,
    generation: &RunId,
    documents: &[Document],
    pieces: usize,
) {
    for document in documents {
        let units = units_for(document, generation, pieces);
        ok(store.write_units(generation, &units).await, "write_units");
    }
}

/// The backup a backup phase would take of `documents`.
pub async fn backup_of(
    store: &dyn LiveExecutionAdapter,
    generation: &RunId,
    documents: &[DocumentId],
) -> Backup {
    let census = ok(store.census().await, "census");
    let mut snapshots = Vec::new();
    for document in ok(
        store.load_scope(&Scope::Ids(documents.to_vec())).await,
        "load_scope",
    ) {
        let generations = ok(store.generations(&document.id).await, "generations");
        let active_units = ok(store.active_units(&document.id).await, "active_units");
        snapshots.push(DocumentSnapshot {
            document,
            generations,
            active_units,
        });
    }
    Backup {
        schema_version: SCHEMA_VERSION,
        run: generation.clone(),
        census,
        mark: None,
        entries: None,
        documents: snapshots,
    }
}

fn ids(documents: &[Document]) -> Vec<&str> {
    documents.iter().map(|d| d.id.as_str()).collect()
}

fn rules() -> CutRules {
    CutRules::preset(Preset::LegalVi)
}

fn phase(name: &str, status: PhaseStatus, evidence: &[(&str, &str)]) -> PhaseRecord {
    PhaseRecord {
        name: name.to_owned(),
        status,
        evidence: evidence
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).into()))
            .collect(),
        detail: None,
        started_at: None,
        first_started_at: None,
        finished_at: None,
    }
}

fn plan_of(documents: &[Document], max_unit_bytes: Option<u64>) -> Plan {
    let mut rules = rules();
    rules.max_unit_bytes = max_unit_bytes;
    Plan {
        schema_version: SCHEMA_VERSION,
        rules,
        documents: documents
            .iter()
            .map(|d| iu_cutter_live_execution::DocumentPlan {
                document: d.id.clone(),
                revision: d.revision,
                source_sha256: d.sha256.clone(),
                source_bytes: d.body.len() as u64,
                units: units_for(d, &run("plan"), 2)
                    .into_iter()
                    .map(|u| PlannedUnit {
                        ordinal: u.ordinal,
                        // A plan holds ids raw: this one is named by the stored unit's.
                        unit_id: UnitId::of_digest(&Sha256Digest::of(u.unit_id.as_bytes())),
                        path: u.path.into(),
                        part: u.part,
                        start: u.start,
                        end: u.end,
                        sha256: Sha256Digest::of(u.body.as_bytes()),
                    })
                    .collect(),
                preset: None,
            })
            .collect(),
    }
}

const LAW: &str = "Chương I\r\nĐiều 1. Phạm vi\nNội dung — “trích dẫn” 😀\n\nĐiều 2.  trailing  \n";

// ---- checks ----------------------------------------------------------------------------------

/// A fresh store holds nothing, and every read says so without error.
pub async fn empty_store_reads_nothing(store: &dyn LiveExecutionAdapter) {
    ok(store.preflight().await, "preflight");
    assert!(ok(store.load_scope(&Scope::All).await, "load_scope").is_empty());
    assert!(ok(store.generations(&id("a")).await, "generations").is_empty());
    assert!(ok(store.generation_units(&id("a"), &run("r")).await, "units").is_empty());
    assert!(ok(store.active_units(&id("a")).await, "active_units").is_empty());
    assert!(ok(store.list_runs().await, "list_runs").is_empty());
    assert_eq!(ok(store.load_run(&run("r")).await, "load_run"), None);
    assert_eq!(ok(store.load_plan(&run("r")).await, "load_plan"), None);
    assert_eq!(
        ok(store.snapshot().await, "snapshot"),
        StoreSnapshot::default()
    );
    let census = ok(store.census().await, "census");
    assert_eq!((census.documents, census.units), (0, 0));
    assert_eq!(census, CensusBuilder::new().finish());
}

/// `put_document` creates at revision 1; an unchanged body changes nothing; a changed body bumps
/// the revision and returns the document to `Ready`. Bodies are stored byte for byte.
pub async fn put_document_creates_and_revises(store: &dyn LiveExecutionAdapter) {
    let created = put(store, "law/1", LAW).await;
    assert_eq!(created.id, id("law/1"));
    assert_eq!(created.revision, 1);
    assert_eq!(created.sha256, sha256_hex(LAW.as_bytes()));
    assert_eq!(created.state, DocumentState::Ready);
    assert_eq!(created.active_generation, None);
    assert_eq!(created.body, LAW);

    let before = ok(store.census().await, "census");
    let same = put(store, "law/1", LAW).await;
    assert_eq!(same, created, "an unchanged body changes nothing");
    assert_eq!(ok(store.census().await, "census"), before);

    let changed = put(store, "law/1", "Điều 9.").await;
    assert_eq!(changed.revision, 2);
    assert_eq!(changed.sha256, sha256_hex("Điều 9.".as_bytes()));
    assert_eq!(changed.state, DocumentState::Ready);
    let empty = put(store, "empty", "").await;
    assert_eq!((empty.revision, empty.body.as_str()), (1, ""));

    let loaded = ok(store.load_scope(&Scope::All).await, "load_scope");
    assert_eq!(loaded, vec![empty, changed]);
}

/// A writer ignoring a fence keeps it (so the holder's enact fails); a changed body returns a cut
/// document to `Ready` and keeps its active generation.
pub async fn put_document_keeps_a_fence_and_readies_a_cut_document(
    store: &dyn LiveExecutionAdapter,
) {
    let a = put(store, "a", "Điều 1. một\nĐiều 2. hai\n").await;
    let r1 = run("r1");
    ok(store.fence(&r1, &[expect(&a)]).await, "fence");
    let edited = put(store, "a", "Điều 1. một (sửa)\n").await;
    assert_eq!(edited.revision, 2);
    assert_eq!(edited.state, DocumentState::Cutting { run: r1.clone() });
    let units = units_for(&a, &r1, 2);
    ok(store.write_units(&r1, &units).await, "write_units");
    assert_conflict(
        store.enact(&r1, &[expect(&a)]).await,
        "a",
        "enact after an edit",
        &format!("fenced by run `r1` at revision 1, sha256 {}", a.sha256),
        &format!("fenced by run `r1` at revision 2, sha256 {}", edited.sha256),
    );

    let b = put(store, "b", "Điều 1.\n").await;
    let r2 = run("r2");
    assert_eq!(cut(store, &r2, std::slice::from_ref(&b), 1).await, 1);
    let edited = put(store, "b", "Điều 1. mới\n").await;
    assert_eq!(edited.state, DocumentState::Ready);
    assert_eq!(edited.active_generation, Some(r2.clone()));
    assert_eq!(edited.revision, 2);
    assert_eq!(
        ok(store.active_units(&id("b")).await, "active_units"),
        units_for(&b, &r2, 1)
    );
}

/// `load_scope` returns documents ordered by id (bytewise): every document, a prefix, or a set
/// of ids (deduplicated; missing ids are skipped).
pub async fn load_scope_orders_by_id_and_honours_every_scope(store: &dyn LiveExecutionAdapter) {
    for name in ["b", "a/2", "Ä", "B", "a/10", "ab", "a", "z", "Äb", "_x"] {
        put(store, name, &format!("body of {name}")).await;
    }
    let all = ok(store.load_scope(&Scope::All).await, "all");
    assert_eq!(
        ids(&all),
        vec!["B", "_x", "a", "a/10", "a/2", "ab", "b", "z", "Ä", "Äb"]
    );
    let prefix = ok(store.load_scope(&Scope::Prefix("a".into())).await, "prefix");
    assert_eq!(ids(&prefix), vec!["a", "a/10", "a/2", "ab"]);
    let prefix = ok(
        store.load_scope(&Scope::Prefix("a/".into())).await,
        "prefix",
    );
    assert_eq!(ids(&prefix), vec!["a/10", "a/2"]);
    let prefix = ok(store.load_scope(&Scope::Prefix("Ä".into())).await, "prefix");
    assert_eq!(ids(&prefix), vec!["Ä", "Äb"]);
    let prefix = ok(store.load_scope(&Scope::Prefix("%".into())).await, "prefix");
    assert!(prefix.is_empty(), "a prefix is not a pattern");
    let prefix = ok(
        store.load_scope(&Scope::Prefix(String::new())).await,
        "prefix",
    );
    assert_eq!(prefix.len(), all.len());
    let chosen = ok(
        store
            .load_scope(&Scope::Ids(vec![
                id("z"),
                id("missing"),
                id("a"),
                id("z"),
                id("Ä"),
            ]))
            .await,
        "ids",
    );
    assert_eq!(ids(&chosen), vec!["a", "z", "Ä"]);
    assert_eq!(chosen[1].body, "body of z");
    let none = ok(store.load_scope(&Scope::Ids(Vec::new())).await, "no ids");
    assert!(none.is_empty());
    // A store may read a prefix as a range of ids (its index serves one): the edges of the
    // range, the last character (U+10FFFF) and the one before the surrogates (U+D7FF).
    for name in [
        "q/\u{10FFFF}",
        "q/\u{10FFFF}x",
        "q0",
        "q\u{D7FF}z",
        "q\u{E000}",
        "q.",
    ] {
        put(store, name, &format!("body of {name}")).await;
    }
    for (prefix, expected) in [
        ("q/", vec!["q/\u{10FFFF}", "q/\u{10FFFF}x"]),
        ("q/\u{10FFFF}", vec!["q/\u{10FFFF}", "q/\u{10FFFF}x"]),
        ("q\u{D7FF}", vec!["q\u{D7FF}z"]),
        ("q\u{E000}", vec!["q\u{E000}"]),
        ("q0", vec!["q0"]),
        (
            "q",
            vec![
                "q.",
                "q/\u{10FFFF}",
                "q/\u{10FFFF}x",
                "q0",
                "q\u{D7FF}z",
                "q\u{E000}",
            ],
        ),
    ] {
        let found = ok(
            store.load_scope(&Scope::Prefix(prefix.into())).await,
            prefix,
        );
        assert_eq!(ids(&found), expected, "prefix {prefix:?}");
    }
}

/// `fence` moves every expected document to `Cutting(run)`; fencing again by the same run
/// passes; a cut document can be fenced again.
pub async fn fence_moves_documents_to_cutting_and_is_idempotent(store: &dyn LiveExecutionAdapter) {
    let a = put(store, "a", "Điều 1.").await;
    let b = put(store, "b", "Điều 2.").await;
    let c = put(store, "c", "untouched").await;
    let r = run("r");
    ok(store.fence(&r, &[expect(&a), expect(&b)]).await, "fence");
    let after = ok(store.census().await, "census");
    ok(
        store.fence(&r, &[expect(&b), expect(&a)]).await,
        "fence again",
    );
    assert_eq!(ok(store.census().await, "census"), after, "idempotent");
    let docs = ok(store.load_scope(&Scope::All).await, "load_scope");
    let fenced = DocumentState::Cutting { run: r.clone() };
    assert_eq!(docs[0].state, fenced);
    assert_eq!(docs[1].state, fenced);
    assert_eq!(docs[2], c, "documents outside the fence are untouched");
    assert_eq!((docs[0].revision, docs[0].body.as_str()), (1, "Điều 1."));
    let records = (r.clone(), GenerationState::Staged);
    only_generation(
        store,
        "a",
        records,
        "the fence begins the run's staged generation",
    )
    .await;
    assert!(ok(store.generations(&id("c")).await, "generations").is_empty());
    ok(store.fence(&r, &[]).await, "empty fence");

    let r2 = run("r2");
    assert_eq!(cut(store, &r2, std::slice::from_ref(&c), 1).await, 1);
    let c = ok(store.load_scope(&Scope::Ids(vec![id("c")])).await, "c");
    ok(
        store.fence(&run("r3"), &[expect(&c[0])]).await,
        "fence a cut document",
    );
    let states: Vec<_> = ok(store.generations(&id("c")).await, "generations")
        .into_iter()
        .map(|g| (g.generation.to_string(), g.state))
        .collect();
    assert_eq!(
        states,
        vec![
            ("r2".to_owned(), GenerationState::Active),
            ("r3".to_owned(), GenerationState::Staged),
        ]
    );
}

/// A document changed since the backup stops the fence, naming it; nothing is fenced.
pub async fn fence_refuses_a_stale_revision_all_or_nothing(store: &dyn LiveExecutionAdapter) {
    let a = put(store, "a", "Điều 1.").await;
    let b = put(store, "b", "Điều 2.").await;
    let b2 = put(store, "b", "Điều 2 (sửa).").await;
    let before = ok(store.snapshot().await, "snapshot");
    assert_conflict(
        store.fence(&run("r"), &[expect(&a), expect(&b)]).await,
        "b",
        "stale fence",
        &format!("revision 1, sha256 {}", b.sha256),
        &format!("revision 2, sha256 {}", b2.sha256),
    );
    assert_all_or_nothing(store, &before).await;

    let mut wrong_sha = expect(&b2);
    wrong_sha.sha256 = sha256_hex(b"something else");
    assert_conflict(
        store.fence(&run("r"), &[wrong_sha.clone()]).await,
        "b",
        "wrong sha",
        &format!("revision 2, sha256 {}", wrong_sha.sha256),
        &format!("revision 2, sha256 {}", b2.sha256),
    );
}

/// A document fenced by another run cannot be fenced; the first run keeps it.
pub async fn fence_refuses_a_document_held_by_another_run(store: &dyn LiveExecutionAdapter) {
    let a = put(store, "a", "Điều 1.").await;
    let b = put(store, "b", "Điều 2.").await;
    ok(store.fence(&run("first"), &[expect(&b)]).await, "fence");
    let before = ok(store.snapshot().await, "snapshot");
    assert_conflict(
        store.fence(&run("second"), &[expect(&a), expect(&b)]).await,
        "b",
        "held fence",
        "not fenced by another run (to be fenced by run `second`)",
        "fenced by run `first`",
    );
    assert_all_or_nothing(store, &before).await;
}

/// The expectation of a document `ghost` that no store holds: a call that names it is
/// `NotFound`.
fn ghost() -> ExpectedRevision {
    ExpectedRevision {
        document: id("ghost"),
        revision: 1,
        sha256: sha256_hex(b""),
        state: DocumentState::Ready,
        active_generation: None,
        staged_units: None,
        staged_proof: None,
    }
}

/// Fencing a document that does not exist is `NotFound`, and fences nothing.
pub async fn fence_refuses_a_missing_document(store: &dyn LiveExecutionAdapter) {
    let a = put(store, "a", "Điều 1.").await;
    let err = error(
        store.fence(&run("r"), &[expect(&a), ghost()]).await,
        |e| matches!(e, AdapterError::NotFound(_)),
        "missing document",
    );
    assert_eq!(err.to_string(), "not found: document `ghost`");
    let docs = ok(store.load_scope(&Scope::All).await, "load_scope");
    assert_eq!(docs[0].state, DocumentState::Ready);
}

/// Units are written only into the writer's own generation of documents it has fenced.
pub async fn write_units_needs_the_fence(store: &dyn LiveExecutionAdapter) {
    let a = put(store, "a", "Điều 1. một").await;
    let r = run("r");
    let units = units_for(&a, &r, 2);
    assert_conflict(
        store.write_units(&r, &units).await,
        "a",
        "unfenced write",
        "fenced by run `r`",
        "ready (not fenced) (fence lost)",
    );

    ok(store.fence(&run("other"), &[expect(&a)]).await, "fence");
    let (_, found) = conflict(store.write_units(&r, &units).await, "a", "foreign fence");
    assert_eq!(found, "fenced by run `other` (fence lost)");

    let other_units = units_for(&a, &run("other"), 1);
    let err = error(
        store.write_units(&r, &other_units).await,
        |e| matches!(e, AdapterError::Invalid(_)),
        "foreign generation",
    );
    assert!(
        err.to_string().contains("belongs to generation `other`"),
        "{err}"
    );

    let mut ghost = units[0].clone();
    ghost.document = id("ghost");
    error(
        store.write_units(&r, &[ghost]).await,
        |e| matches!(e, AdapterError::NotFound(_)),
        "missing document",
    );
    assert!(ok(store.generation_units(&id("a"), &r).await, "units").is_empty());
    let generations = ok(store.generations(&id("a")).await, "generations");
    assert_eq!(
        generations.len(),
        1,
        "only the fence's generation: {generations:?}"
    );
    assert_eq!(generations[0].generation, run("other"));
    assert_eq!(ok(store.write_units(&run("other"), &[]).await, "empty"), 0);
}

/// A batch with one bad unit writes nothing.
pub async fn write_units_is_all_or_nothing(store: &dyn LiveExecutionAdapter) {
    let a = put(store, "a", "Điều 1. một").await;
    let b = put(store, "b", "Điều 2. hai").await;
    let r = run("r");
    ok(store.fence(&r, &[expect(&a)]).await, "fence");
    let before = ok(store.snapshot().await, "snapshot");
    let mut batch = units_for(&a, &r, 2);
    batch.extend(units_for(&b, &r, 2));
    let (_, found) = conflict(store.write_units(&r, &batch).await, "b", "mixed batch");
    assert_eq!(found, "ready (not fenced) (fence lost)");
    assert_all_or_nothing(store, &before).await;
}

/// Written units are staged (invisible to readers), ordered by ordinal; writing them again
/// changes nothing.
pub async fn write_units_is_idempotent_and_staged(store: &dyn LiveExecutionAdapter) {
    let a = put(store, "a", LAW).await;
    let r = run("r");
    ok(store.fence(&r, &[expect(&a)]).await, "fence");
    let mut units = units_for(&a, &r, 4);
    units.reverse();
    assert_eq!(
        ok(store.write_units(&r, &units).await, "write"),
        units.len() as u64
    );
    let census = ok(store.census().await, "census");
    assert_eq!(
        ok(store.write_units(&r, &units).await, "again"),
        units.len() as u64
    );
    assert_eq!(ok(store.census().await, "census"), census, "idempotent");
    units.reverse();
    assert_eq!(
        ok(store.generation_units(&id("a"), &r).await, "read back"),
        units
    );
    let records = (r.clone(), GenerationState::Staged);
    only_generation(store, "a", records, "the generation records of a").await;
    assert!(
        ok(store.active_units(&id("a")).await, "active").is_empty(),
        "staged is invisible"
    );
    assert_eq!(census.units, units.len() as u64);
    let joined: String = units.iter().map(|u| u.body.as_str()).collect();
    assert_eq!(joined, LAW, "bodies round-trip byte for byte");
}

/// A unit replaces the one with the same (document, ordinal); within one batch the later wins;
/// the count is the number of units offered.
pub async fn write_units_replaces_by_ordinal_later_wins(store: &dyn LiveExecutionAdapter) {
    let a = put(store, "a", "Điều 1. một\nĐiều 2. hai\n").await;
    let r = run("r");
    ok(store.fence(&r, &[expect(&a)]).await, "fence");
    let units = units_for(&a, &r, 2);
    ok(store.write_units(&r, &units).await, "write");
    let mut first = units[0].clone();
    first.path = "Chương I/Điều 1".into();
    first.part = Some(7);
    let mut second = first.clone();
    second.unit_id = "a#replaced".into();
    assert_eq!(
        ok(
            store.write_units(&r, &[first, second.clone()]).await,
            "replace"
        ),
        2
    );
    let read = ok(store.generation_units(&id("a"), &r).await, "read back");
    assert_eq!(read, vec![second, units[1].clone()]);
}

/// A batch larger than any backend's statement chunk round-trips in ordinal order.
pub async fn write_units_large_batch_round_trips(store: &dyn LiveExecutionAdapter) {
    let body: String = (0..2_500).map(|i| format!("Điều {i}.\n")).collect();
    let a = put(store, "big", &body).await;
    let r = run("r");
    ok(store.fence(&r, &[expect(&a)]).await, "fence");
    let units = units_for(&a, &r, 2_500);
    assert!(units.len() > 2_000, "{}", units.len());
    assert_eq!(
        ok(store.write_units(&r, &units).await, "write"),
        units.len() as u64
    );
    let read = ok(store.generation_units(&id("big"), &r).await, "read back");
    assert_eq!(read.len(), units.len());
    assert!(read == units, "units differ after the round trip");
    let census = ok(store.census().await, "census");
    assert_eq!(census.units, units.len() as u64);
}

/// A batch of several megabytes (more than any backend buffers before sending) round-trips
/// byte for byte, and rewriting it replaces every unit.
pub async fn write_units_of_megabytes_round_trip(store: &dyn LiveExecutionAdapter) {
    let article = format!("{}\n", "Người dân có quyền tự do ngôn luận. ".repeat(1_200));
    let body: String = (0..60).map(|i| format!("Điều {i}. {article}")).collect();
    assert!(body.len() > 3_000_000, "{}", body.len());
    let a = put(store, "big", &body).await;
    let r = run("r");
    ok(store.fence(&r, &[expect(&a)]).await, "fence");
    let units = units_for(&a, &r, 60);
    assert!(units.len() >= 60, "{}", units.len());
    for pass in ["write", "rewrite"] {
        assert_eq!(
            ok(store.write_units(&r, &units).await, pass),
            units.len() as u64
        );
        let read = ok(store.generation_units(&a.id, &r).await, "read back");
        assert!(read == units, "{pass}: units differ after the round trip");
    }
    let joined: String = units.iter().map(|u| u.body.as_str()).collect();
    assert_eq!(joined, body);
}

/// Any text round-trips byte for byte, whatever a backend's bulk format escapes: tabs,
/// backslashes, `\r\n`, a literal `\N` (COPY's NULL) and `\.` (its end of data), quotes and any
/// Unicode, in bodies, paths, unit ids and the ids themselves. A batch mixing written and new
/// keys replaces the written ones (`part` both ways between a number and none) and adds the new.
pub async fn write_units_round_trips_any_text_and_replaces_written_keys(
    store: &dyn LiveExecutionAdapter,
) {
    let body = "Điều 1.\tcột\\một\r\nĐiều 2. \\N là NULL\n\\.\n\\\\N\t'x' \"y\" 😀\u{a0}\r\\";
    let a = put(store, "luật 1\\a/‹b›", body).await;
    let r = run("r\\1");
    ok(store.fence(&r, &[expect(&a)]).await, "fence");
    let mut units = units_for(&a, &r, 6);
    assert!(units.len() >= 4, "{}", units.len());
    for unit in &mut units {
        unit.unit_id = format!("{}\t\\N\r\n", unit.unit_id);
        unit.path = format!("Chương I\\{}\n\\.", unit.path);
    }
    ok(store.write_units(&r, &units).await, "write");
    let read = ok(store.generation_units(&a.id, &r).await, "read back");
    assert!(
        read == units,
        "units differ after the round trip: {read:#?}"
    );
    let joined: String = read.iter().map(|u| u.body.as_str()).collect();
    assert_eq!(joined, body, "bodies round-trip byte for byte");

    let mut replaced = units[1].clone();
    replaced.part = match replaced.part {
        Some(_) => None,
        None => Some(41),
    };
    replaced.path = "thay\tthế\\".into();
    let mut other = units[2].clone();
    other.part = match other.part {
        Some(_) => None,
        None => Some(0),
    };
    other.body = "\\N".into();
    let mut added = units[0].clone();
    added.ordinal = units.len() as u32;
    added.unit_id = "mới\t\\".into();
    added.part = None;
    added.body = "\r\n\t\\".into();
    let batch = vec![added.clone(), replaced.clone(), other.clone()];
    assert_eq!(ok(store.write_units(&r, &batch).await, "replace"), 3);
    let mut expected = units.clone();
    expected[1] = replaced;
    expected[2] = other;
    expected.push(added);
    let read = ok(store.generation_units(&a.id, &r).await, "read back");
    assert!(
        read == expected,
        "units differ after the replacement: {read:#?}"
    );
    let snapshot = ok(store.snapshot().await, "snapshot");
    assert_eq!(snapshot.units, expected);
    assert_eq!(
        ok(store.census().await, "census"),
        snapshot_census(&snapshot)
    );
}

/// Enact moves the pointer to the run's generation, retires the previous one (kept), and marks
/// the document `Cut`.
pub async fn enact_activates_and_retires_the_previous_generation(store: &dyn LiveExecutionAdapter) {
    let a = put(store, "a", LAW).await;
    let (r1, r2) = (run("r1"), run("r2"));
    assert_eq!(cut(store, &r1, std::slice::from_ref(&a), 2).await, 1);
    let after_first = ok(store.load_scope(&Scope::All).await, "load_scope");
    assert_eq!(after_first[0].state, DocumentState::Cut);
    assert_eq!(after_first[0].active_generation, Some(r1.clone()));
    assert_eq!(after_first[0].revision, 1);
    assert_eq!(
        ok(store.active_units(&id("a")).await, "active"),
        units_for(&a, &r1, 2)
    );

    assert_eq!(cut(store, &r2, std::slice::from_ref(&a), 3).await, 1);
    assert_eq!(
        ok(store.generations(&id("a")).await, "generations"),
        vec![
            GenerationRecord {
                document: id("a"),
                generation: r1.clone(),
                state: GenerationState::Retired,
            },
            GenerationRecord {
                document: id("a"),
                generation: r2.clone(),
                state: GenerationState::Active,
            },
        ]
    );
    assert_eq!(
        ok(store.active_units(&id("a")).await, "active"),
        units_for(&a, &r2, 3)
    );
    assert_eq!(
        ok(
            store.generation_units(&id("a"), &r1).await,
            "retired units kept"
        ),
        units_for(&a, &r1, 2)
    );
}

/// Enacting again passes and moves nothing; the count is the number of documents moved.
pub async fn enact_is_idempotent_and_counts_documents(store: &dyn LiveExecutionAdapter) {
    let mut documents = Vec::new();
    for i in 0..5 {
        documents.push(put(store, &format!("d{i}"), &format!("Điều {i}. nội dung")).await);
    }
    let r = run("r");
    assert_eq!(cut(store, &r, &documents, 2).await, 5);
    let snapshot = ok(store.snapshot().await, "snapshot");
    let expectations: Vec<_> = documents.iter().map(expect).collect();
    assert_eq!(ok(store.enact(&r, &expectations).await, "again"), 0);
    assert_eq!(
        ok(store.snapshot().await, "snapshot"),
        snapshot,
        "idempotent"
    );

    // Partly enacted (a crash between two enact calls): only the rest moves.
    let more: Vec<_> = (0..3)
        .map(|i| (format!("m{i}"), format!("Điều {i}.")))
        .collect();
    let mut fresh = Vec::new();
    for (name, body) in &more {
        fresh.push(put(store, name, body).await);
    }
    let r2 = run("r2");
    let expectations: Vec<_> = fresh.iter().map(expect).collect();
    ok(store.fence(&r2, &expectations).await, "fence");
    for document in &fresh {
        ok(
            store.write_units(&r2, &units_for(document, &r2, 1)).await,
            "write",
        );
    }
    assert_eq!(ok(store.enact(&r2, &expectations[..1]).await, "first"), 1);
    // The application edits the enacted one before the rest is enacted (D1 of the fourth
    // attack): it passes as enacted, and its edit is kept, not undone or overwritten.
    let edited = ok(
        store.put_document(&fresh[0].id, "Điều 0. sửa đổi").await,
        "edit",
    );
    assert_eq!(ok(store.enact(&r2, &expectations).await, "rest"), 2);
    let after = ok(
        store
            .load_scope(&Scope::Ids(vec![fresh[0].id.clone()]))
            .await,
        "read",
    );
    assert_eq!(after, vec![edited.clone()], "the edit is kept");
    assert_eq!(edited.active_generation, Some(r2.clone()));
    assert_eq!(edited.state, DocumentState::Ready);
    // A duplicated expectation is one document.
    let dup = put(store, "dup", "Điều 1.").await;
    let r3 = run("r3");
    ok(store.fence(&r3, &[expect(&dup)]).await, "fence");
    ok(
        store.write_units(&r3, &units_for(&dup, &r3, 1)).await,
        "write",
    );
    assert_eq!(
        ok(store.enact(&r3, &[expect(&dup), expect(&dup)]).await, "dup"),
        1
    );
}

/// Enact is compare-and-set on the fence and the expected revision; the first mismatch stops
/// it and nothing moves.
pub async fn enact_is_compare_and_set_all_or_nothing(store: &dyn LiveExecutionAdapter) {
    let a = put(store, "a", "Điều 1.").await;
    let b = put(store, "b", "Điều 2.").await;
    let c = put(store, "c", "Điều 3.").await;
    let r = run("r");
    ok(store.fence(&r, &[expect(&a), expect(&b)]).await, "fence");
    ok(
        store.write_units(&r, &units_for(&a, &r, 1)).await,
        "write a",
    );
    ok(
        store.write_units(&r, &units_for(&b, &r, 1)).await,
        "write b",
    );
    let before = ok(store.snapshot().await, "snapshot");

    // c was never fenced.
    assert_conflict(
        store.enact(&r, &[expect(&a), expect(&c)]).await,
        "c",
        "unfenced enact",
        &format!("fenced by run `r` at revision 1, sha256 {}", c.sha256),
        &format!("ready (not fenced) at revision 1, sha256 {}", c.sha256),
    );
    assert_all_or_nothing(store, &before).await;

    // A stale expectation.
    let mut stale = expect(&b);
    stale.revision = 7;
    assert_conflict(
        store.enact(&r, &[expect(&a), stale]).await,
        "b",
        "stale enact",
        &format!("fenced by run `r` at revision 7, sha256 {}", b.sha256),
        &format!("fenced by run `r` at revision 1, sha256 {}", b.sha256),
    );
    assert_all_or_nothing(store, &before).await;

    // Another run's enact.
    let (_, found) = conflict(store.enact(&run("x"), &[expect(&a)]).await, "a", "foreign");
    assert_eq!(
        found,
        format!("fenced by run `r` at revision 1, sha256 {}", a.sha256)
    );
    error(
        store.enact(&r, &[ghost()]).await,
        |e| matches!(e, AdapterError::NotFound(_)),
        "missing document",
    );
    assert_all_or_nothing(store, &before).await;
    assert_eq!(
        ok(store.enact(&r, &[expect(&a), expect(&b)]).await, "enact"),
        2
    );
}

/// Asserts that `document`'s generation records are exactly one: `(generation, state)` (`what`
/// says why).
async fn only_generation(
    store: &dyn LiveExecutionAdapter,
    document: &str,
    (generation, state): (RunId, GenerationState),
    what: &str,
) {
    let record = GenerationRecord {
        document: id(document),
        generation,
        state,
    };
    assert_eq!(
        ok(store.generations(&id(document)).await, "generations"),
        vec![record],
        "{what}"
    );
}

/// A document without units (an empty body) is enacted from the generation its fence began.
pub async fn enact_of_a_document_without_units(store: &dyn LiveExecutionAdapter) {
    let empty = put(store, "empty", "").await;
    let r = run("r");
    ok(store.fence(&r, &[expect(&empty)]).await, "fence");
    assert_eq!(ok(store.enact(&r, &[expect(&empty)]).await, "enact"), 1);
    let records = (r.clone(), GenerationState::Active);
    only_generation(store, "empty", records, "the generation records of empty").await;
    assert!(ok(store.active_units(&id("empty")).await, "active").is_empty());
    let doc = ok(store.load_scope(&Scope::All).await, "load_scope").remove(0);
    assert_eq!(doc.state, DocumentState::Cut);
    assert_eq!(doc.active_generation, Some(r));
}

/// Restore after enact brings back the exact pre-run census; it is idempotent.
pub async fn restore_after_enact_gives_back_the_exact_census(store: &dyn LiveExecutionAdapter) {
    let a = put(store, "a", LAW).await;
    let b = put(store, "b", "Điều 2. hai").await;
    let c = put(store, "c", "outside the scope").await;
    let r0 = run("r0");
    cut(store, &r0, &[a.clone(), c.clone()], 2).await;
    let a = ok(store.load_scope(&Scope::Ids(vec![id("a")])).await, "a").remove(0);

    let r = run("r1");
    let backup = backup_of(store, &r, &[id("a"), id("b")]).await;
    let before = ok(store.snapshot().await, "snapshot");
    assert_eq!(backup.census, ok(store.census().await, "census"));
    cut(store, &r, &[a, b], 3).await;
    assert_ne!(ok(store.census().await, "census"), backup.census);

    ok(store.restore(&r, &backup).await, "restore");
    assert_eq!(ok(store.census().await, "census"), backup.census);
    assert_eq!(ok(store.snapshot().await, "snapshot"), before);
    ok(store.restore(&r, &backup).await, "restore again");
    assert_eq!(
        ok(store.census().await, "census"),
        backup.census,
        "idempotent"
    );
}

/// Restore before enact drops the staged generation and lifts the fence.
pub async fn restore_before_enact_drops_the_staged_generation(store: &dyn LiveExecutionAdapter) {
    let a = put(store, "a", LAW).await;
    let r = run("r");
    let backup = backup_of(store, &r, &[id("a")]).await;
    ok(store.fence(&r, &[expect(&a)]).await, "fence");
    ok(store.write_units(&r, &units_for(&a, &r, 3)).await, "write");
    ok(store.restore(&r, &backup).await, "restore");
    assert_eq!(ok(store.census().await, "census"), backup.census);
    assert!(ok(store.generation_units(&id("a"), &r).await, "units").is_empty());
    assert!(ok(store.generations(&id("a")).await, "generations").is_empty());
    let a = ok(store.load_scope(&Scope::All).await, "load_scope").remove(0);
    assert_eq!(a.state, DocumentState::Ready);
}

/// One call over more documents than a store reads in one statement (SQLite and PostgreSQL
/// read a write's documents 1,000 ids at a time) fences, writes, enacts and restores all of
/// them: documents on either side of a read's edge keep their units, and a stale revision past
/// the first read's edge still refuses the whole call.
pub async fn a_batch_over_many_reads_is_fenced_enacted_and_restored_whole(
    store: &dyn LiveExecutionAdapter,
) {
    let body = |i| format!("Điều 1. Số {i}.\nĐiều 2. Hết.\n");
    let stored = crate::put_many(store, 2_001, |i| format!("b/{i:05}"), body).await;
    let r = run("r1");
    let ids: Vec<DocumentId> = stored.iter().map(|d| d.id.clone()).collect();
    let backup = backup_of(store, &r, &ids).await;
    let expectations: Vec<ExpectedRevision> = stored.iter().map(expect).collect();
    let mut stale = expectations.clone();
    if let Some(last) = stale.last_mut() {
        last.revision = 9;
    }

    let before = ok(store.snapshot().await, "snapshot");
    conflict(store.fence(&r, &stale).await, "b/02000", "stale fence");
    assert_all_or_nothing(store, &before).await;
    ok(store.fence(&r, &expectations).await, "fence");
    let units: Vec<Unit> = stored.iter().flat_map(|d| units_for(d, &r, 2)).collect();
    assert_eq!(units.len(), 4_002);
    ok(store.write_units(&r, &units).await, "write_units");

    let before = ok(store.snapshot().await, "snapshot");
    conflict(store.enact(&r, &stale).await, "b/02000", "stale enact");
    assert_all_or_nothing(store, &before).await;
    assert_eq!(ok(store.enact(&r, &expectations).await, "enact"), 2_001);
    assert_eq!(ok(store.census().await, "census").units, 4_002);
    for edge in ["b/00000", "b/00999", "b/01000", "b/02000"] {
        let active = ok(store.active_units(&id(edge)).await, "active_units");
        let generations: Vec<&RunId> = active.iter().map(|u| &u.generation).collect();
        assert_eq!(generations, [&r, &r], "{edge}");
    }

    ok(store.restore(&r, &backup).await, "restore");
    assert_eq!(ok(store.census().await, "census"), backup.census);
}

/// Restore refuses a backup of another run, or one whose rows do not belong to its documents.
pub async fn restore_refuses_a_foreign_backup(store: &dyn LiveExecutionAdapter) {
    let a = put(store, "a", "Điều 1.").await;
    let backup = backup_of(store, &run("r"), &[id("a")]).await;
    let err = error(
        store.restore(&run("other"), &backup).await,
        |e| matches!(e, AdapterError::Invalid(_)),
        "foreign backup",
    );
    assert!(err.to_string().contains("belongs to run `r`"), "{err}");
    let mut bad = backup.clone();
    bad.documents[0].active_units = units_for(&a, &run("x"), 1);
    error(
        store.restore(&run("r"), &bad).await,
        |e| matches!(e, AdapterError::Invalid(_)),
        "unit of another generation",
    );
    let mut bad = backup;
    bad.documents[0].generations.push(GenerationRecord {
        document: id("b"),
        generation: run("x"),
        state: GenerationState::Retired,
    });
    error(
        store.restore(&run("r"), &bad).await,
        |e| matches!(e, AdapterError::Invalid(_)),
        "record of another document",
    );
}

/// The journal keeps runs, phases (in first-recorded order, replaced by name) and statuses.
pub async fn journal_round_trips(store: &dyn LiveExecutionAdapter) {
    let r = run("run-b");
    let mut record = RunRecord::new(
        r.clone(),
        Scope::Ids(vec![id("x"), id("Điều")]),
        rules().with_max_unit_bytes(4096),
    );
    assert_eq!(ok(store.begin_run(&record).await, "begin"), record);
    let mut other = record.clone();
    other.status = RunStatus::Failed;
    other.scope = Scope::All;
    assert_eq!(
        ok(store.begin_run(&other).await, "begin again"),
        record,
        "an existing run is returned unchanged"
    );

    let backup = phase("backup", PhaseStatus::Running, &[]);
    let cut_a = phase("cut-leg-a", PhaseStatus::Running, &[]);
    ok(store.record_phase(&r, &backup).await, "phase");
    ok(store.record_phase(&r, &cut_a).await, "phase");
    let done = PhaseRecord {
        detail: Some("ok — “done”".into()),
        ..phase(
            "backup",
            PhaseStatus::Done,
            &[("backup_sha256", "abc"), ("rows", "3")],
        )
    };
    ok(store.record_phase(&r, &done).await, "replace");
    ok(store.set_run_status(&r, RunStatus::Held).await, "status");
    record.phases = vec![done, cut_a];
    record.status = RunStatus::Held;
    assert_eq!(ok(store.load_run(&r).await, "load"), Some(record.clone()));

    let mut first = RunRecord::new(run("run-a"), Scope::Prefix("lu".into()), rules());
    first.phases = vec![phase("backup", PhaseStatus::Failed, &[("k", "v")])];
    first.status = RunStatus::Failed;
    assert_eq!(
        ok(store.begin_run(&first).await, "begin with phases"),
        first
    );
    let runs = ok(store.list_runs().await, "list");
    assert_eq!(runs, vec![first, record]);
    for status in [
        RunStatus::Running,
        RunStatus::Pass,
        RunStatus::Blocked,
        RunStatus::Refused,
        RunStatus::RolledBack,
        RunStatus::Failed,
    ] {
        ok(store.set_run_status(&r, status).await, "status");
        let loaded = ok(store.load_run(&r).await, "load");
        assert_eq!(loaded.map(|l| l.status), Some(status));
    }
}

/// Journal writes about an unknown run are `NotFound`, naming it.
pub async fn journal_errors_name_the_run(store: &dyn LiveExecutionAdapter) {
    let ghost = run("ghost");
    let err = error(
        store
            .record_phase(&ghost, &phase("backup", PhaseStatus::Running, &[]))
            .await,
        |e| matches!(e, AdapterError::NotFound(_)),
        "record_phase",
    );
    assert_eq!(
        err.to_string(),
        "not found: run `ghost` is not in the journal"
    );
    error(
        store.set_run_status(&ghost, RunStatus::Pass).await,
        |e| matches!(e, AdapterError::NotFound(_)),
        "set_run_status",
    );
    error(
        store.save_plan(&ghost, &plan_of(&[], None)).await,
        |e| matches!(e, AdapterError::NotFound(_)),
        "save_plan",
    );
    assert!(ok(store.list_runs().await, "list").is_empty());
}

/// Run `id`, begun over the whole store with [`rules`].
async fn begun(store: &dyn LiveExecutionAdapter, id: &str) -> RunId {
    let r = run(id);
    ok(
        store
            .begin_run(&RunRecord::new(r.clone(), Scope::All, rules()))
            .await,
        "begin",
    );
    r
}

/// A plan is journaled once: the same plan again passes, a different one is refused.
pub async fn save_plan_is_idempotent_and_refuses_a_different_plan(
    store: &dyn LiveExecutionAdapter,
) {
    let a = put(store, "a", LAW).await;
    let r = begun(store, "r").await;
    let plan = plan_of(std::slice::from_ref(&a), Some(100));
    ok(store.save_plan(&r, &plan).await, "save");
    ok(store.save_plan(&r, &plan).await, "save again");
    assert_eq!(ok(store.load_plan(&r).await, "load"), Some(plan.clone()));
    let other = plan_of(std::slice::from_ref(&a), Some(200));
    let err = error(
        store.save_plan(&r, &other).await,
        |e| matches!(e, AdapterError::Invalid(_)),
        "different plan",
    );
    assert!(err.to_string().contains(&plan.sha256()), "{err}");
    assert!(err.to_string().contains(&other.sha256()), "{err}");
    assert_eq!(ok(store.load_plan(&r).await, "load"), Some(plan));
}

/// A plan of a large scope (more than the few megabytes a live store journals in one part)
/// round-trips whole and in order, and is journaled once.
pub async fn a_plan_of_many_megabytes_round_trips(store: &dyn LiveExecutionAdapter) {
    let a = put(store, "a", LAW).await;
    let r = begun(store, "r-large").await;
    let mut plan = plan_of(std::slice::from_ref(&a), Some(100));
    let template = plan.documents[0].clone();
    // About 10 MB of canonical JSON: 3,000 documents of 10 units with long paths.
    plan.documents = (0..3000u32)
        .map(|i| {
            let mut document = template.clone();
            document.document = DocumentId::new(format!("law/{i:05}"));
            document.units = (0..10)
                .map(|u| PlannedUnit {
                    ordinal: u,
                    unit_id: UnitId::from_bytes(u128::from(i * 10 + u).to_be_bytes()),
                    path: format!("Chương {u}/Điều {i} \"{}\"", "ư".repeat(100)).into(),
                    ..template.units[0].clone()
                })
                .collect();
            document
        })
        .collect();
    ok(store.save_plan(&r, &plan).await, "save");
    ok(store.save_plan(&r, &plan).await, "save again");
    let loaded = ok(store.load_plan(&r).await, "load");
    assert_eq!(loaded.as_ref().map(Plan::sha256), Some(plan.sha256()));
    assert!(loaded == Some(plan), "the plan read back is the plan saved");
}

/// A plan journaled a part at a time is nobody's plan until sealed; a part may be journaled
/// again before the seal, parts after the sealed count are dropped, a missing part cannot be
/// sealed; once sealed it reads back whole and by parts (hashing to its sha256), and only the
/// same parts and seal pass again. A plan saved whole reads back by the same parts.
pub async fn a_plan_journaled_by_parts_is_one_plan_once_sealed(store: &dyn LiveExecutionAdapter) {
    let nowhere = run("r-nowhere");
    error(
        store.save_plan_part(&nowhere, 0, "[]").await,
        |e| matches!(e, AdapterError::NotFound(_)),
        "part of no run",
    );
    let a = put(store, "a", LAW).await;
    let mut plan = plan_of(std::slice::from_ref(&a), Some(100));
    for id in ["b", "c"] {
        let mut document = plan.documents[0].clone();
        document.document = DocumentId::new(id);
        plan.documents.push(document);
    }
    let parts = iu_cutter_live_execution::plan_parts(&plan, 1);
    assert_eq!(parts.len(), 3, "one document a part");
    let head = iu_cutter_live_execution::plan_head_text(plan.schema_version, &plan.rules);
    let sha = plan.sha256();

    let r = begun(store, "r-plan-parts").await;
    ok(
        store.save_plan_part(&r, 0, "[stale]").await,
        "part 0, stale",
    );
    ok(store.save_plan_part(&r, 5, "[abandoned]").await, "part 5");
    assert_eq!(
        ok(store.load_plan(&r).await, "load"),
        None,
        "no plan before the seal"
    );
    assert_eq!(ok(store.load_plan_part(&r, 0).await, "head"), None);
    for (seq, part) in (0u64..).zip(&parts).skip(1) {
        ok(store.save_plan_part(&r, seq, part).await, "part");
    }
    ok(store.save_plan_part(&r, 0, &parts[0]).await, "part 0 again");
    error(
        store.seal_plan(&r, &head, 5, &sha).await,
        |e| matches!(e, AdapterError::Invalid(_)),
        "a missing part",
    );
    ok(store.seal_plan(&r, &head, 3, &sha).await, "seal");
    ok(store.seal_plan(&r, &head, 3, &sha).await, "seal again");
    ok(
        store.save_plan_part(&r, 1, &parts[1]).await,
        "the same part again",
    );
    error(
        store.save_plan_part(&r, 1, "[]").await,
        |e| matches!(e, AdapterError::Invalid(_)),
        "another part after the seal",
    );
    let other = sha256_hex(b"other");
    let refused = error(
        store.seal_plan(&r, &head, 3, &other).await,
        |e| matches!(e, AdapterError::Invalid(_)),
        "another seal",
    );
    assert!(refused.to_string().contains(&sha), "{refused}");
    assert_eq!(ok(store.load_plan(&r).await, "load"), Some(plan.clone()));
    assert_eq!(
        read_plan_by_parts(store, &r).await,
        (head.clone(), parts.clone(), sha.clone())
    );

    // Saved whole: read back by parts all the same.
    let whole = begun(store, "r-plan-whole").await;
    ok(store.save_plan(&whole, &plan).await, "save whole");
    let (read_head, read_parts, read_sha) = read_plan_by_parts(store, &whole).await;
    assert_eq!((read_head, read_sha), (head, sha.clone()));
    let mut verifier = iu_cutter_live_execution::PlanVerifier::new(&Plan {
        documents: Vec::new(),
        ..plan.clone()
    });
    let mut documents = Vec::new();
    for part in &read_parts {
        documents.extend(ok(
            verifier.part(part).map_err(Into::into),
            "a part saved whole",
        ));
    }
    assert_eq!(documents, plan.documents);
    assert_eq!(verifier.finish(), sha);
    // Journal state: never in the census.
    assert_census_is_canonical(store).await;
}

/// The head, parts and sha256 of `run`'s sealed plan, read a part at a time (every part
/// carrying the same sha256).
async fn read_plan_by_parts(
    store: &dyn LiveExecutionAdapter,
    run: &RunId,
) -> (String, Vec<String>, String) {
    let head = ok(store.load_plan_part(run, 0).await, "head");
    let Some(head) = head else {
        panic!("run {run} has no sealed plan");
    };
    let mut parts = Vec::new();
    for part in 1.. {
        match ok(store.load_plan_part(run, part).await, "part") {
            Some(stored) => {
                assert_eq!(stored.sha256, head.sha256, "part {part}");
                parts.push(stored.text);
            }
            None => break,
        }
    }
    (head.text, parts, head.sha256)
}

/// Phase times and the reviewed plan's sha256 are journal data: kept verbatim, replaced with
/// the phase, listed with the run; a phase's first start is the start it was inserted with,
/// whatever the later writes of it carry (a resume starts it again).
pub async fn journal_keeps_phase_times_and_the_reviewed_plan(store: &dyn LiveExecutionAdapter) {
    let r = run("run-t");
    let mut record = RunRecord::new(r.clone(), Scope::All, rules());
    record.expected_plan_sha256 = Some("ab".repeat(32));
    assert_eq!(ok(store.begin_run(&record).await, "begin"), record);
    let started = "2025-01-31T12:00:00.250Z";
    let running = PhaseRecord {
        started_at: Some(started.into()),
        ..phase("backup", PhaseStatus::Running, &[])
    };
    ok(store.record_phase(&r, &running).await, "running");
    let loaded = ok(store.load_run(&r).await, "load");
    assert_eq!(
        loaded.as_ref().and_then(|l| l.phase("backup")),
        Some(&PhaseRecord {
            first_started_at: Some(started.into()),
            ..running
        })
    );
    let resumed = "2025-01-31T12:05:00.000Z";
    let done = PhaseRecord {
        started_at: Some(resumed.into()),
        first_started_at: Some("1999-01-01T00:00:00Z".into()),
        finished_at: Some("2025-01-31T12:06:00.000Z".into()),
        ..phase("backup", PhaseStatus::Done, &[("backup_sha256", "abc")])
    };
    ok(store.record_phase(&r, &done).await, "done");
    record.phases = vec![PhaseRecord {
        first_started_at: Some(started.into()),
        ..done
    }];
    assert_eq!(ok(store.load_run(&r).await, "load"), Some(record.clone()));
    assert_eq!(ok(store.list_runs().await, "list"), vec![record]);
}

/// `recent_runs` of limits from none to more than the journal's five runs, against
/// [`RecentRuns::of`] the whole journal (`when`: the journal's state).
async fn recent_runs_agree_with_the_journal(store: &dyn LiveExecutionAdapter, when: &str) {
    let every = ok(store.list_runs().await, "list");
    for limit in [0, 1, 2, 3, 5, 9] {
        let recent = ok(store.recent_runs(limit).await, "recent");
        assert_eq!(
            recent,
            RecentRuns::of(every.clone(), limit),
            "{when}, limit {limit}"
        );
        assert_eq!(recent.total, 5);
    }
}

/// The most recent runs are the last `limit` of every run ordered by its latest phase start
/// (runs that never started a phase first, ties by id), with their phases, and the journal's
/// count. A run resumed, verified or enacted later is among the latest: ordered by first start,
/// a failed run resumed today stayed among the old ones, and `status` did not show it.
pub async fn recent_runs_are_the_last_of_the_journal_by_latest_start(
    store: &dyn LiveExecutionAdapter,
) {
    let empty = ok(store.recent_runs(5).await, "recent of none");
    assert_eq!(empty, RecentRuns::default());
    // (run, start of its first phase, of its second): `b` started its second phase last, `a`
    // and `d` tie on their latest start, `n` never started one, `c` started its second phase
    // before its first.
    let journal = [
        ("a", Some("2025-01-31T12:00:05.000Z"), None),
        (
            "b",
            Some("2025-01-31T12:00:02.000Z"),
            Some("2025-01-31T12:00:09.000Z"),
        ),
        (
            "c",
            Some("2025-01-31T12:00:03.000Z"),
            Some("2025-01-31T12:00:01.000Z"),
        ),
        ("d", Some("2025-01-31T12:00:05.000Z"), None),
        ("n", None, None),
    ];
    for (name, first, second) in journal {
        let r = run(name);
        ok(
            store
                .begin_run(&RunRecord::new(r.clone(), Scope::All, rules()))
                .await,
            "begin",
        );
        for (phase_name, started) in [("backup", first), ("cut-leg-a", second)] {
            if let Some(started) = started {
                start_phase(store, &r, phase_name, started).await;
            }
        }
    }
    recent_runs_agree_with_the_journal(store, "none held").await;
    let names = |recent: RecentRuns| -> Vec<String> {
        recent
            .runs
            .iter()
            .map(|r| r.run.as_str().to_owned())
            .collect()
    };
    assert_eq!(
        names(ok(store.recent_runs(9).await, "recent")),
        ["n", "c", "a", "d", "b"]
    );
    assert_eq!(names(ok(store.recent_runs(2).await, "recent")), ["d", "b"]);

    // `c` resumed: its first phase journaled again, started after every other run's.
    start_phase(store, &run("c"), "backup", "2025-01-31T12:00:10.000Z").await;
    recent_runs_agree_with_the_journal(store, "c resumed").await;
    assert_eq!(names(ok(store.recent_runs(2).await, "recent")), ["b", "c"]);
    // A phase journaled again with an earlier start: the run's latest start is its phases' as
    // they now stand.
    start_phase(store, &run("c"), "backup", "2025-01-31T12:00:04.000Z").await;
    recent_runs_agree_with_the_journal(store, "c moved back").await;
    assert_eq!(names(ok(store.recent_runs(2).await, "recent")), ["d", "b"]);

    // A held run awaits an operator: no limit leaves it out. `recent_runs(2)` listed the two
    // latest only, and the review page (`GET /runs`) lost a held run to newer ones.
    for held in ["n", "a"] {
        ok(
            store.set_run_status(&run(held), RunStatus::Held).await,
            "hold",
        );
    }
    recent_runs_agree_with_the_journal(store, "two held").await;
    assert_eq!(
        names(ok(store.recent_runs(2).await, "recent")),
        ["n", "a", "d", "b"]
    );
    assert_eq!(
        names(ok(store.recent_runs(3).await, "recent")),
        ["n", "a", "d", "b"]
    );
    assert_eq!(names(ok(store.recent_runs(0).await, "recent")), ["n", "a"]);
    assert_eq!(
        names(ok(store.recent_runs(9).await, "recent")),
        ["n", "c", "a", "d", "b"]
    );
}

/// Journals phase `name` of `r` as started at `started` (and done).
async fn start_phase(store: &dyn LiveExecutionAdapter, r: &RunId, name: &str, started: &str) {
    let entry = PhaseRecord {
        started_at: Some(started.into()),
        ..phase(name, PhaseStatus::Done, &[])
    };
    ok(store.record_phase(r, &entry).await, "phase");
}

/// Adversarial (adv45): a limit larger than any journal (`status --limit 18446744073709551615`,
/// or any limit past `i64::MAX`) is every run, as it was when status read the whole journal;
/// the SQL stores refused it ("does not fit the database") and status showed nothing.
pub async fn recent_runs_of_a_limit_beyond_the_journal_are_every_run(
    store: &dyn LiveExecutionAdapter,
) {
    for name in ["a", "b"] {
        let record = RunRecord::new(run(name), Scope::All, rules());
        ok(store.begin_run(&record).await, "begin");
    }
    let every = ok(store.list_runs().await, "list");
    for limit in [u64::MAX, 1 << 63, (1 << 63) - 1] {
        let recent = ok(store.recent_runs(limit).await, "recent");
        assert_eq!(
            recent,
            RecentRuns::of(every.clone(), limit),
            "limit {limit}"
        );
        assert_eq!(recent.runs.len(), 2, "limit {limit}");
    }
}

/// Reports are journal data: kept verbatim per run, oldest first; the same text again changes
/// nothing; an unjournaled run has none and cannot take one; the census ignores them.
pub async fn reports_are_journaled_in_order_once(store: &dyn LiveExecutionAdapter) {
    put(store, "a", LAW).await;
    let (r, q) = (run("r"), run("q"));
    assert!(ok(store.load_reports(&r).await, "load unknown").is_empty());
    let err = error(
        store.save_report(&r, "{}").await,
        |e| matches!(e, AdapterError::NotFound(_)),
        "save for an unknown run",
    );
    assert_eq!(err.to_string(), "not found: run `r` is not in the journal");
    for each in [&r, &q] {
        ok(
            store
                .begin_run(&RunRecord::new(each.clone(), Scope::All, rules()))
                .await,
            "begin",
        );
    }
    let census = ok(store.census().await, "census");
    let first = "{\n  \"outcome\": \"PASS\",\n  \"note\": \"Điều 1 — “ok”\"\n}";
    let second = "{\"outcome\":\"ROLLED_BACK\"}";
    ok(store.save_report(&r, first).await, "first");
    ok(store.save_report(&r, second).await, "second");
    ok(store.save_report(&r, first).await, "first again");
    ok(store.save_report(&q, second).await, "other run");
    assert_eq!(
        ok(store.load_reports(&r).await, "load"),
        vec![first.to_owned(), second.to_owned()]
    );
    assert_eq!(
        ok(store.load_reports(&q).await, "load other"),
        vec![second.to_owned()]
    );
    assert_eq!(
        ok(store.census().await, "census"),
        census,
        "reports in the census"
    );
}

/// A purge target: `generation` of `document`, chosen while `active` was its active generation.
fn target(document: &str, generation: &RunId, active: Option<&RunId>) -> PurgeTarget {
    PurgeTarget {
        document: id(document),
        generation: generation.clone(),
        active: active.cloned(),
    }
}

/// Purge removes listed retired generations with their units, in one transaction; a listed
/// active or staged generation, or one whose document's pointer moved since it was chosen, is a
/// conflict that removes nothing; missing ones pass; a target listed twice counts once.
pub async fn purge_removes_only_retired_generations_all_or_nothing(
    store: &dyn LiveExecutionAdapter,
) {
    let a = put(store, "a", LAW).await;
    let b = put(store, "b", "Điều 1. Một.\nĐiều 2. Hai.\n").await;
    let (r1, r2, r3) = (run("r1"), run("r2"), run("r3"));
    cut(store, &r1, &[a.clone(), b.clone()], 2).await;
    cut(store, &r2, std::slice::from_ref(&a), 3).await;
    let before = ok(store.census().await, "census");

    assert_conflict(
        store
            .purge_generations(&[target("a", &r1, Some(&r2)), target("b", &r1, Some(&r1))])
            .await,
        "b",
        "an active generation",
        "generation `r1` retired",
        "generation `r1` active",
    );
    assert_eq!(
        ok(store.census().await, "census"),
        before,
        "a refused purge removed"
    );

    let b = reread(store, &b).await;
    ok(store.fence(&r3, &[expect(&b)]).await, "fence");
    let staged = ok(store.census().await, "census");
    let (_, found) = conflict(
        store
            .purge_generations(&[target("a", &r1, Some(&r2)), target("b", &r3, Some(&r1))])
            .await,
        "b",
        "a staged generation",
    );
    assert_eq!(found, "generation `r3` staged");
    assert_eq!(ok(store.census().await, "census"), staged);

    // Chosen while another generation was active: a rollback or an enact may need it again.
    let (expected, found) = conflict(
        store
            .purge_generations(&[target("a", &r1, Some(&r1))])
            .await,
        "a",
        "a pointer that moved since",
    );
    assert!(expected.contains("`r1`"), "{expected}");
    assert!(
        found.contains("`r2`") && found.contains("run purge again"),
        "{found}"
    );
    assert_eq!(ok(store.census().await, "census"), staged);

    let purged = ok(
        store
            .purge_generations(&[
                target("a", &r1, Some(&r2)),
                target("a", &r1, Some(&r2)),
                target("a", &run("never"), Some(&r2)),
                target("nobody", &r1, None),
            ])
            .await,
        "purge",
    );
    // What this call removed, once, and not what was never there.
    assert_eq!(purged, [target("a", &r1, Some(&r2))]);
    let records = (r2.clone(), GenerationState::Active);
    only_generation(store, "a", records, "the generation records of a").await;
    assert!(ok(store.generation_units(&id("a"), &r1).await, "purged units").is_empty());
    assert_eq!(
        ok(store.active_units(&id("a")).await, "active"),
        units_for(&a, &r2, 3)
    );
    assert_eq!(
        ok(store.generation_units(&id("b"), &r1).await, "b untouched"),
        units_for(&b, &r1, 2)
    );
    let after = ok(store.census().await, "census");
    assert_eq!(after.units, staged.units - 2);
    assert_eq!(
        after,
        snapshot_census(&ok(store.snapshot().await, "snapshot"))
    );
    assert_eq!(
        ok(
            store
                .purge_generations(&[target("a", &r1, Some(&r2))])
                .await,
            "again"
        ),
        []
    );
}

/// The census fingerprints of [`census_is_canonical_and_ignores_the_journal`]'s states, in order:
/// empty, two documents, cut, fenced again, staged, enacted.
const PINNED_CENSUS_FINGERPRINTS: [&str; 6] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "14ae38a02a630894f8a0ce09d9e9231233859a00707a406ba1b959b1a503a837",
    "6e9dff2768ce878a8f013933abc648a5d3ca2c456064d71edcd34ec46429c1ff",
    "beef0d19b294c0d3aaf12884106b5da829fedd6f8be8c0db255d6416a7508122",
    "1dbca9a709e41e0260c93fefdbea3fb2e9e4ab15e14621a2739e4c7f8eed014a",
    "2ae4f0dfaa0a6e9b43c4a202ab75f873887ab30a278971ee0806d32e148fa02f",
];

/// The census equals the one the seam's digest code computes from the snapshot (so equal states
/// give equal fingerprints on every backend), changes with every store mutation, and ignores the
/// journal.
pub async fn census_is_canonical_and_ignores_the_journal(store: &dyn LiveExecutionAdapter) {
    let check = async |what: &str| {
        let census = ok(store.census().await, "census");
        let snapshot = ok(store.snapshot().await, "snapshot");
        assert_eq!(census, snapshot_census(&snapshot), "{what}");
        census.fingerprint
    };
    let mut seen = vec![check("empty").await];
    let a = put(store, "a", LAW).await;
    let b = put(store, "Ä", "Điều 1.").await;
    seen.push(check("documents").await);
    let (r1, r2) = (run("r-B"), run("r-a"));
    cut(store, &r1, &[a.clone(), b.clone()], 2).await;
    seen.push(check("cut").await);
    let a = reread(store, &a).await;
    ok(store.fence(&r2, &[expect(&a)]).await, "fence");
    seen.push(check("fenced").await);
    ok(
        store.write_units(&r2, &units_for(&a, &r2, 3)).await,
        "write",
    );
    seen.push(check("staged").await);
    ok(store.enact(&r2, &[expect(&a)]).await, "enact");
    seen.push(check("enacted").await);
    let journal = RunRecord::new(run("j"), Scope::All, rules());
    ok(store.begin_run(&journal).await, "begin");
    ok(
        store
            .record_phase(&journal.run, &phase("backup", PhaseStatus::Done, &[]))
            .await,
        "phase",
    );
    ok(
        store
            .save_plan(&journal.run, &plan_of(std::slice::from_ref(&a), None))
            .await,
        "plan",
    );
    assert_eq!(
        check("journal").await,
        seen[seen.len() - 1],
        "the journal is not in the census"
    );
    // Fingerprints are compared across processes, versions and backends: these are a contract,
    // the same on every store (changing one is a migration, never a refactoring).
    assert_eq!(seen, PINNED_CENSUS_FINGERPRINTS, "the pinned fingerprints");
    let mut distinct = seen.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        seen.len(),
        "every mutation changes the census"
    );
    let census = ok(store.census().await, "census");
    assert_eq!(census.documents, 2);
    assert_eq!(census.units, 2 + 2 + 3);
    assert_eq!(census, ok(store.census().await, "census"), "deterministic");
}

/// The snapshot holds every row, ordered by key: documents by id, generation records by
/// (document, generation), units by (document, generation, ordinal).
pub async fn snapshot_is_ordered_and_complete(store: &dyn LiveExecutionAdapter) {
    let z = put(store, "z", "Điều 1. z\nĐiều 2. z\n").await;
    let a = put(store, "a", LAW).await;
    let (r1, r2) = (run("r2"), run("r10"));
    cut(store, &r1, &[z.clone(), a.clone()], 11).await;
    cut(store, &r2, std::slice::from_ref(&a), 2).await;
    let snapshot = ok(store.snapshot().await, "snapshot");
    assert_eq!(ids(&snapshot.documents), vec!["a", "z"]);
    let keys: Vec<(String, String)> = snapshot
        .generations
        .iter()
        .map(|g| (g.document.to_string(), g.generation.to_string()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert_eq!(keys.len(), 3);
    let unit_keys: Vec<(String, String, u32)> = snapshot
        .units
        .iter()
        .map(|u| (u.document.to_string(), u.generation.to_string(), u.ordinal))
        .collect();
    let mut sorted = unit_keys.clone();
    sorted.sort();
    assert_eq!(unit_keys, sorted);
    let mut expected: BTreeMap<(String, String, u32), Unit> = BTreeMap::new();
    for unit in units_for(&z, &r1, 11)
        .into_iter()
        .chain(units_for(&a, &r1, 11))
        .chain(units_for(&a, &r2, 2))
    {
        expected.insert(
            (
                unit.document.to_string(),
                unit.generation.to_string(),
                unit.ordinal,
            ),
            unit,
        );
    }
    assert!(
        snapshot.units == expected.into_values().collect::<Vec<_>>(),
        "snapshot units differ"
    );
}

// ---- pages of active units ------------------------------------------------------------------

/// Every page from the first, `limit` items at a time, concatenated: `read` reads the page
/// after a cursor, `cursor` is the one after an item. Each page holds at most its limit, and a
/// shorter one is the last.
async fn every_page<T, C>(
    limit: u32,
    cursor: impl Fn(&T) -> C,
    read: impl AsyncFn(Option<&C>, u32) -> AdapterResult<Vec<T>>,
    what: &str,
) -> Vec<T> {
    let mut all: Vec<T> = Vec::new();
    loop {
        let after = all.last().map(&cursor);
        let page = ok(read(after.as_ref(), limit).await, what);
        assert!(
            page.len() <= limit as usize,
            "a page holds at most its limit"
        );
        let last = page.len() < limit as usize;
        all.extend(page);
        if last {
            return all;
        }
    }
}

/// A first page of an empty store (`page(limit)`) is empty, and a limit of 0 is refused.
async fn first_pages_of_an_empty_store<T: std::fmt::Debug>(
    page: impl AsyncFn(u32) -> AdapterResult<Vec<T>>,
) {
    assert!(ok(page(3).await, "empty store").is_empty());
    error(
        page(0).await,
        |e| matches!(e, AdapterError::Invalid(_)),
        "limit 0",
    );
}

/// Every page of active units from the first, `limit` units at a time, concatenated.
pub async fn all_pages(store: &dyn LiveExecutionAdapter, limit: u32) -> Vec<ActiveUnit> {
    every_page(
        limit,
        |last: &ActiveUnit| UnitCursor::after(&last.unit),
        async |cursor, limit| store.active_units_page(cursor, limit).await,
        "active_units_page",
    )
    .await
}

/// Pages of active units, whatever their size, read exactly the units readers see (each
/// document's active generation, never a staged or retired one), each once, ordered by document
/// id bytewise then ordinal, each with its document's current revision; a page shorter than its
/// limit is the last, and a limit of 0 is refused.
pub async fn active_units_pages_read_every_active_unit_once_in_order(
    store: &dyn LiveExecutionAdapter,
) {
    first_pages_of_an_empty_store(async |limit| store.active_units_page(None, limit).await).await;
    // `Z` sorts before `a` bytewise (and after it in most collations); `b` is never cut; `é`
    // is past ASCII.
    let a = put(store, "a", LAW).await;
    put(store, "b", "Điều 1. never cut").await;
    let upper = put(store, "Z", "Điều 1. z\nĐiều 2. z\n").await;
    let accent = put(store, "é", "Điều 1. é\nĐiều 2. é\nĐiều 3. é\n").await;
    cut(
        store,
        &run("r1"),
        &[a.clone(), upper.clone(), accent.clone()],
        2,
    )
    .await;
    // `a` re-cut: r1 retired, r2 active with 3 units.
    let a = reread(store, &a).await;
    cut(store, &run("r2"), std::slice::from_ref(&a), 3).await;
    // `é` fenced and staged by r3, never enacted: its r1 units stay the ones readers see.
    let accent = reread(store, &accent).await;
    ok(
        store.fence(&run("r3"), &[expect(&accent)]).await,
        "fence r3",
    );
    ok(
        store
            .write_units(&run("r3"), &units_for(&accent, &run("r3"), 1))
            .await,
        "stage r3",
    );
    // `Z` edited after its cut: a new revision, the same active units.
    put(store, "Z", "Điều 1. edited").await;

    let mut expected = Vec::new();
    for (document, revision) in [("Z", 2), ("a", 1), ("é", 1)] {
        for unit in ok(store.active_units(&id(document)).await, "active_units") {
            expected.push(ActiveUnit {
                unit,
                revision,
                source: SourceFacts::default(),
            });
        }
    }
    assert_eq!(expected.len(), 2 + 3 + 2, "the fixture's active units");
    for limit in [1, 2, 3, 7, 8, 1000] {
        assert_eq!(all_pages(store, limit).await, expected, "pages of {limit}");
    }
}

/// Pages of heads, whatever their size, read every document's head ([`Document::head`]) once,
/// ordered by id bytewise, exactly as `load_heads` of every document; a page shorter than its
/// limit is the last, and a limit of 0 is refused.
pub async fn heads_pages_read_every_document_once_in_order(store: &dyn LiveExecutionAdapter) {
    first_pages_of_an_empty_store(async |limit| store.heads_page(None, limit).await).await;
    let a = put(store, "a", LAW).await;
    for name in ["b", "Z", "é", "a/b", "a0"] {
        put(store, name, "Điều 1.").await;
    }
    cut(store, &run("r1"), std::slice::from_ref(&a), 2).await;
    let expected = ok(store.load_heads(&Scope::All).await, "load_heads");
    assert_eq!(expected.len(), 6);
    for limit in [1, 2, 5, 6, 7, 100] {
        let all = every_page(
            limit,
            |last: &DocumentHead| last.id.clone(),
            async |after, limit| store.heads_page(after, limit).await,
            "heads_page",
        )
        .await;
        assert_eq!(all, expected, "pages of {limit}");
    }
    // After an id that is not a document's: the documents after it.
    let after_a = ok(
        store.heads_page(Some(&id("a.")), 2).await,
        "after a missing id",
    );
    assert_eq!(ids_of_heads(&after_a), ["a/b", "a0"]);
}

/// `generations_of` and `active_units_of` a list of ids are exactly `generations` and
/// `active_units` of each distinct id, in id order (bytewise) whatever the list's order:
/// documents with no generation, a retired and an active one, a staged one only, ids of no
/// document, repeated ids, and ids on both sides of the 1,000 ids a statement reads.
pub async fn batch_reads_are_the_reads_of_each_document(store: &dyn LiveExecutionAdapter) {
    let none: &[DocumentId] = &[];
    assert!(ok(store.generations_of(none).await, "generations_of").is_empty());
    assert!(ok(store.active_units_of(none).await, "active_units_of").is_empty());
    let (name, body) = (|i| format!("e/{i:04}"), |i| format!("Điều 1. {i}\n"));
    let mut stored = crate::put_many(store, 1_003, name, body).await;
    for name in ["Z", "é", "a/b"] {
        stored.push(put(store, name, LAW).await);
    }
    stored.sort_by(|a, b| a.id.cmp(&b.id));
    // Cut twice (one generation retired, one active) the documents around the 1,000th id and
    // the first and last; cut once the next ones; one only staged (fenced, units written).
    let twice: Vec<Document> = [0, 998, 999, 1_000, 1_001, stored.len() - 1]
        .iter()
        .map(|&at| stored[at].clone())
        .collect();
    cut(store, &run("r1"), &twice, 2).await;
    cut(store, &run("r2"), &twice, 3).await;
    let once: Vec<Document> = [997, 1_002, 1_003]
        .iter()
        .map(|&at| stored[at].clone())
        .collect();
    cut(store, &run("r3"), &once, 2).await;
    let staged = std::slice::from_ref(&stored[996]);
    ok(
        store.fence(&run("r4"), &[expect(&stored[996])]).await,
        "fence",
    );
    write_units(store, &run("r4"), staged, 2).await;

    // Every id, reversed, the edge ones repeated, two ids of no document.
    let mut asked: Vec<DocumentId> = stored.iter().rev().map(|d| d.id.clone()).collect();
    asked.extend(twice.iter().map(|d| d.id.clone()));
    asked.extend([id("e/9999"), id("0")]);
    let mut expected_generations = Vec::new();
    let mut expected_units = Vec::new();
    for document in &stored {
        expected_generations.extend(ok(store.generations(&document.id).await, "generations"));
        expected_units.extend(ok(store.active_units(&document.id).await, "active_units"));
    }
    assert_eq!(expected_generations.len(), 6 * 2 + 3 + 1);
    assert_eq!(expected_units.len(), 6 * 3 + 3 * 2);
    let generations = ok(store.generations_of(&asked).await, "generations_of");
    assert_eq!(generations, expected_generations);
    let units = ok(store.active_units_of(&asked).await, "active_units_of");
    assert_eq!(units, expected_units);

    // A batch of ids with nothing to read, and one id alone.
    let plain: Vec<DocumentId> = stored[1..996].iter().map(|d| d.id.clone()).collect();
    assert!(ok(store.generations_of(&plain).await, "no records").is_empty());
    assert!(ok(store.active_units_of(&plain).await, "no units").is_empty());
    let last = std::slice::from_ref(&stored[1_001].id);
    let alone = ok(store.active_units_of(last).await, "one id");
    assert_eq!(
        alone,
        ok(store.active_units(&last[0]).await, "active_units")
    );
}

fn ids_of_heads(heads: &[DocumentHead]) -> Vec<&str> {
    heads.iter().map(|h| h.id.as_str()).collect()
}

/// A cursor continues its document in the generation the previous page read: once that document
/// was enacted anew (or rolled back) between two pages, the next page is a conflict naming it,
/// never the rest of another generation.
pub async fn an_active_units_page_never_stitches_two_generations(store: &dyn LiveExecutionAdapter) {
    let a = put(store, "a", LAW).await;
    let b = put(store, "b", "Điều 1. b\nĐiều 2. b\n").await;
    cut(store, &run("r1"), &[a.clone(), b.clone()], 3).await;
    let first = ok(store.active_units_page(None, 2).await, "first page");
    let cursor = match first.last() {
        Some(last) => UnitCursor::after(&last.unit),
        None => panic!("the first page is empty"),
    };
    assert_eq!(
        (
            cursor.document.as_str(),
            cursor.generation.as_str(),
            cursor.ordinal
        ),
        ("a", "r1", 1)
    );
    // Re-reading from the same cursor before anything moved gives the same page.
    let second = ok(
        store.active_units_page(Some(&cursor), 2).await,
        "second page",
    );
    assert_eq!(second.first().map(|u| u.unit.ordinal), Some(2));

    let a = reread(store, &a).await;
    cut(store, &run("r2"), std::slice::from_ref(&a), 1).await;
    let first_unit = |document: &str, generation: &str| UnitCursor {
        document: id(document),
        generation: run(generation),
        ordinal: 0,
    };
    for (cursor, what, found) in [
        (
            cursor,
            "a page after the document was re-enacted",
            "active generation `r2`",
        ),
        (
            first_unit("b", "r0"),
            "a cursor on a generation that is not active",
            "active generation `r1`",
        ),
        (
            first_unit("c", "r1"),
            "a cursor on a document without an active generation",
            "no active generation",
        ),
    ] {
        assert_conflict(
            store.active_units_page(Some(&cursor), 2).await,
            cursor.document.as_str(),
            what,
            &format!("active generation `{}`", cursor.generation),
            found,
        );
    }
}

// ---- shards and leases -----------------------------------------------------------------------

/// A `Scope::Shard` loads exactly the base scope's documents of its shard, ordered by id: the
/// shards of one base partition it.
pub async fn load_scope_partitions_by_shard(store: &dyn LiveExecutionAdapter) {
    for n in 0..24 {
        put(store, &format!("law/{n:02}"), &format!("Điều {n}.")).await;
    }
    put(store, "other", "Điều 1.").await;
    let base = Scope::Prefix("law/".into());
    let owned = |documents: Vec<Document>| -> Vec<String> {
        documents
            .into_iter()
            .map(|d| d.id.as_str().to_owned())
            .collect()
    };
    let all = owned(ok(store.load_scope(&base).await, "base"));
    let mut union = Vec::new();
    for index in 0..4 {
        let scope = base
            .clone()
            .shard(index, 4)
            .unwrap_or(Scope::Ids(Vec::new()));
        let shard = owned(ok(store.load_scope(&scope).await, "shard"));
        let mut sorted = shard.clone();
        sorted.sort();
        assert_eq!(shard, sorted, "shard {index} is ordered by id");
        for id in &shard {
            assert!(
                scope.contains(&DocumentId::new(id.as_str())),
                "{id} in shard {index}"
            );
            assert_eq!(
                iu_cutter_live_execution::shard_of(&DocumentId::new(id.as_str()), 4),
                index
            );
        }
        union.extend(shard);
    }
    union.sort();
    assert_eq!(union, all, "the shards partition the base scope");
    let one = base.clone().shard(0, 1).unwrap_or(Scope::Ids(Vec::new()));
    assert_eq!(owned(ok(store.load_scope(&one).await, "1 shard")), all);
}

/// `load_heads` gives, for every kind of scope, exactly the heads of the documents `load_scope`
/// gives, in the same order, whatever their state (ready, fenced, cut).
pub async fn load_heads_are_the_scope_without_bodies(store: &dyn LiveExecutionAdapter) {
    for name in ["b", "a/2", "Ä", "a/10", "a", "z"] {
        put(store, name, &format!("body of {name}\n")).await;
    }
    let run = RunId::new("r-heads");
    let a = ok(store.load_scope(&Scope::Ids(vec![id("a")])).await, "a");
    let z = ok(store.load_scope(&Scope::Ids(vec![id("z")])).await, "z");
    let (Some(a), Some(z)) = (a.first(), z.first()) else {
        panic!("the documents just put are missing");
    };
    cut(store, &run, std::slice::from_ref(a), 1).await;
    ok(
        store.fence(&RunId::new("r-heads-2"), &[expect(z)]).await,
        "fence z",
    );
    let scopes = [
        Scope::All,
        Scope::Prefix("a".into()),
        Scope::Prefix("%".into()),
        Scope::Ids(vec![id("z"), id("missing"), id("a"), id("z")]),
        Scope::Ids(Vec::new()),
        Scope::Prefix(String::new())
            .shard(1, 3)
            .unwrap_or(Scope::Ids(Vec::new())),
    ];
    let mut states = BTreeSet::new();
    for scope in &scopes {
        let documents = ok(store.load_scope(scope).await, "load_scope");
        let heads = ok(store.load_heads(scope).await, "load_heads");
        let expected: Vec<DocumentHead> = documents.iter().map(Document::head).collect();
        assert_eq!(heads, expected, "{scope:?}");
        states.extend(heads.iter().map(|h| format!("{:?}", h.state)));
    }
    assert_eq!(
        states.len(),
        3,
        "the heads cover ready, fenced and cut documents: {states:?}"
    );
}

fn lease_held<T: std::fmt::Debug>(result: AdapterResult<T>, holder: &str, what: &str) -> String {
    match result {
        Err(AdapterError::LeaseHeld {
            holder: found,
            expires_at,
            ..
        }) => {
            assert_eq!(found, holder, "{what}: the refusal names the holder");
            expires_at
        }
        other => panic!("{what}: expected the lease held by `{holder}`, got {other:?}"),
    }
}

fn lease_lost<T: std::fmt::Debug>(result: AdapterResult<T>, what: &str) -> String {
    match result {
        Err(AdapterError::LeaseLost { found, .. }) => found,
        other => panic!("{what}: expected the lease lost, got {other:?}"),
    }
}

/// One holder at a time: a second holder is refused (naming the holder and the expiry) while
/// the lease is live; the holder may take it again (extending it) and renew it; release by
/// another holder changes nothing; after release anyone may take it. Leases are not in the
/// census.
pub async fn leases_admit_one_holder_at_a_time(fixture: &impl Fixture) {
    use std::time::Duration;
    let store = fixture.adapter();
    put(store, "a", "Điều 1.").await;
    let before = ok(store.census().await, "census");
    let ttl = Duration::from_secs(60);
    let r1 = run("r1");
    let lease = ok(
        store.acquire_lease(&r1, "alice@h:1:x", ttl).await,
        "acquire",
    );
    assert_eq!(lease.run, r1);
    assert_eq!(lease.holder, "alice@h:1:x");
    let expires = lease_held(
        store.acquire_lease(&r1, "bob@h:2:y", ttl).await,
        "alice@h:1:x",
        "second holder",
    );
    assert_eq!(
        expires,
        lease.expires_at_utc(),
        "the refusal names the expiry"
    );
    let again = ok(
        store.acquire_lease(&r1, "alice@h:1:x", ttl).await,
        "re-acquire",
    );
    assert!(
        again.expires_at_ms >= lease.expires_at_ms,
        "re-acquiring extends the lease"
    );
    let found = lease_lost(
        store.renew_lease(&r1, "bob@h:2:y", ttl).await,
        "renew by another",
    );
    assert!(found.contains("alice@h:1:x"), "{found}");
    let renewed = ok(store.renew_lease(&r1, "alice@h:1:x", ttl).await, "renew");
    assert!(renewed.expires_at_ms >= again.expires_at_ms);
    ok(
        store.release_lease(&r1, "bob@h:2:y").await,
        "release by another",
    );
    lease_held(
        store.acquire_lease(&r1, "bob@h:2:y", ttl).await,
        "alice@h:1:x",
        "still held",
    );
    // Another run's lease is independent.
    ok(
        store.acquire_lease(&run("r2"), "bob@h:2:y", ttl).await,
        "other run",
    );
    ok(store.release_lease(&r1, "alice@h:1:x").await, "release");
    ok(
        store.release_lease(&r1, "alice@h:1:x").await,
        "release again",
    );
    lease_lost(
        store.renew_lease(&r1, "alice@h:1:x", ttl).await,
        "renew after release",
    );
    ok(
        store.acquire_lease(&r1, "bob@h:2:y", ttl).await,
        "acquire after release",
    );
    error(
        store.acquire_lease(&r1, "", ttl).await,
        |e| matches!(e, AdapterError::Invalid(_)),
        "empty holder",
    );
    error(
        store.acquire_lease(&r1, "bob@h:2:y", Duration::ZERO).await,
        |e| matches!(e, AdapterError::Invalid(_)),
        "zero ttl",
    );
    assert_eq!(
        ok(store.census().await, "census"),
        before,
        "leases are not in the census"
    );
}

/// A lease expires `ttl` after it was taken or renewed, on the store's clock: then another
/// holder may take it, and the old holder can no longer renew it.
pub async fn leases_expire_on_the_store_clock(fixture: &impl Fixture) {
    use std::time::Duration;
    let store = fixture.adapter();
    let r = run("crashed");
    ok(
        store
            .acquire_lease(&r, "old@h:1:x", Duration::from_millis(300))
            .await,
        "acquire",
    );
    lease_held(
        store
            .acquire_lease(&r, "new@h:2:y", Duration::from_secs(60))
            .await,
        "old@h:1:x",
        "live",
    );
    fixture.pass_time(Duration::from_millis(800)).await;
    let found = lease_lost(
        store
            .renew_lease(&r, "old@h:1:x", Duration::from_secs(60))
            .await,
        "expired",
    );
    assert!(found.contains("expired"), "{found}");
    let lease = ok(
        store
            .acquire_lease(&r, "new@h:2:y", Duration::from_secs(60))
            .await,
        "after expiry",
    );
    assert_eq!(lease.holder, "new@h:2:y");
    let found = lease_lost(
        store
            .renew_lease(&r, "old@h:1:x", Duration::from_secs(60))
            .await,
        "taken",
    );
    assert!(found.contains("new@h:2:y"), "{found}");
    lease_held(
        store
            .acquire_lease(&r, "old@h:1:x", Duration::from_secs(60))
            .await,
        "new@h:2:y",
        "the old holder is refused",
    );
}

/// A call carrying a lease claim is refused with `LeaseLost`, changing nothing, unless the
/// claim's holder holds a live lease on the run: with no lease, with another holder's, with its
/// own expired one (on the store's clock), and after a takeover. The holder's live lease lets it
/// through; calls without a claim are unchanged.
pub async fn claimed_calls_need_the_callers_live_lease(fixture: &impl Fixture) {
    use iu_cutter_live_execution::{Claimed, LeaseClaim};
    use std::time::Duration;
    let store = fixture.adapter();
    let r = run("claimed");
    let doc = put(store, "luat/claimed.txt", "Điều 1. Một.").await;
    ok(
        store
            .begin_run(&RunRecord::new(r.clone(), Scope::All, rules()))
            .await,
        "begin_run without a claim",
    );
    let as_holder = |holder: &str| {
        Claimed::new(
            store,
            LeaseClaim {
                run: r.clone(),
                holder: holder.to_owned(),
            },
        )
    };
    let old = as_holder("old@h:1:x");
    let running = phase("cut", PhaseStatus::Running, &[]);
    let found = lease_lost(old.record_phase(&r, &running).await, "no lease yet");
    assert_eq!(found, "no lease");

    ok(
        store
            .acquire_lease(&r, "old@h:1:x", Duration::from_millis(300))
            .await,
        "acquire",
    );
    ok(
        old.record_phase(&r, &running).await,
        "the holder's claimed write",
    );
    let found = lease_lost(
        as_holder("intruder@h:9:z").fence(&r, &[expect(&doc)]).await,
        "another holder's lease",
    );
    assert!(found.contains("old@h:1:x"), "{found}");

    fixture.pass_time(Duration::from_millis(800)).await;
    let before = ok(store.census().await, "census");
    let found = lease_lost(old.fence(&r, &[expect(&doc)]).await, "expired");
    assert!(found.contains("expired"), "{found}");
    ok(
        store
            .acquire_lease(&r, "new@h:2:y", Duration::from_secs(60))
            .await,
        "takeover",
    );
    let done = phase("cut", PhaseStatus::Done, &[("units", "1")]);
    let found = lease_lost(old.record_phase(&r, &done).await, "journal after takeover");
    assert!(found.contains("new@h:2:y"), "{found}");
    lease_lost(
        old.set_run_status(&r, RunStatus::Pass).await,
        "status after takeover",
    );
    lease_lost(old.fence(&r, &[expect(&doc)]).await, "fence after takeover");
    assert_eq!(
        ok(store.census().await, "census"),
        before,
        "a refused claimed call changes nothing"
    );
    let journaled = ok(store.load_run(&r).await, "load_run")
        .unwrap_or_else(|| panic!("run `{r}` is journaled"));
    assert_eq!(
        journaled.phase("cut").map(|p| p.status),
        Some(PhaseStatus::Running),
        "the refused journal write changed nothing: {journaled:?}"
    );
    assert_eq!(journaled.status, RunStatus::Running, "{journaled:?}");

    let new = as_holder("new@h:2:y");
    ok(
        new.fence(&r, &[expect(&doc)]).await,
        "the new holder fences",
    );
    ok(new.record_phase(&r, &done).await, "the new holder journals");
    // A zombie giving its backup up after the takeover drops nothing of the new holder's.
    let part = "the new holder's part\n";
    ok(
        new.save_backup_part(&r, 0, part).await,
        "the new holder's part",
    );
    lease_lost(
        old.discard_backup_parts(&r).await,
        "discarding parts after takeover",
    );
    ok(
        new.seal_backup(&r, 1, &sha256_hex(part.as_bytes())).await,
        "the new holder's part is kept",
    );
    ok(
        store.set_run_status(&r, RunStatus::Pass).await,
        "a call without a claim is unchanged",
    );
}

/// Checks that only SQL stores have: the control row, `init`/`connect`, concurrent runners.
pub mod live {
    use iu_cutter_live_execution::prelude::*;
    use iu_cutter_live_execution::sql::{
        DATABASE_SCHEMA_VERSION, connect_with, control_status, init_with, set_control,
    };
    use iu_cutter_live_execution::{AdapterError, DocumentId, ExecutionGate, RunId, Scope};

    use super::{error, expect};
    use crate::fixture::{RawSql, SqlFixture, open_gate};
    use crate::{ok, put};

    /// Instantiates every live check as a `#[tokio::test]` over `$fixture`.
    #[macro_export]
    macro_rules! live_suite {
        ($fixture:path) => {
            $crate::fixture_tests!(#[tokio::test] $fixture => $crate::contract::live, fixture;
                control_row_closes_the_gate_for_every_runner,
                control_row_never_opens_the_gate,
                init_is_idempotent_and_connect_needs_the_schema,
                info_is_live_and_redacted,
                concurrent_fences_admit_one_run,
                concurrent_writers_create_one_document,
                a_unit_beyond_bigint_is_refused_and_the_next_batch_is_written,
                a_journaled_plan_with_malformed_hex_is_refused_on_load,
                a_journal_from_before_the_latest_start_is_migrated_in_order,
            );
        };
    }

    /// A plan whose journaled text holds a unit id or a unit sha256 that is not exact lowercase
    /// hex (edited by hand: uppercased, truncated) is refused when read back, naming the field,
    /// never read as another id or digest; put back, it reads as saved.
    pub async fn a_journaled_plan_with_malformed_hex_is_refused_on_load(fixture: &impl RawSql) {
        let store = fixture.adapter();
        let a = put(store, "a", super::LAW).await;
        let r = super::begun(store, "r-hex").await;
        let plan = super::plan_of(std::slice::from_ref(&a), None);
        ok(store.save_plan(&r, &plan).await, "save");
        let unit = &plan.documents[0].units[0];
        let (unit_id, sha256) = (unit.unit_id.hex(), unit.sha256.hex());
        let parts = fixture.table("run_plan_parts");
        let replace =
            format!("UPDATE {parts} SET plan_part = replace(plan_part, $1, $2) WHERE run = $3");
        for (field, good, bad, says) in [
            ("unit_id", &unit_id, unit_id.to_uppercase(), "a unit id is"),
            ("sha256", &sha256, sha256[..63].to_owned(), "a sha256 is 64"),
        ] {
            let (good, bad) = (
                format!("\"{field}\":\"{good}\""),
                format!("\"{field}\":\"{bad}\""),
            );
            let changed = fixture
                .execute_raw(&replace, &[&good, &bad, r.as_str()])
                .await;
            assert_eq!(changed, 1, "the plan's one part holds {good}");
            let refused = error(
                store.load_plan(&r).await,
                |e| matches!(e, AdapterError::Database(_)),
                "a malformed plan",
            );
            assert!(refused.to_string().contains(says), "{refused}");
            fixture
                .execute_raw(&replace, &[&bad, &good, r.as_str()])
                .await;
            assert_eq!(ok(store.load_plan(&r).await, "load"), Some(plan.clone()));
        }
    }

    /// A batch holding a unit whose byte offset no `BIGINT` holds is refused as invalid before
    /// anything of it is stored (on PostgreSQL the `COPY` is aborted part-way); the connection
    /// goes back to the pool usable, and the next batch (on a fresh and on a reused
    /// connection) is written whole.
    pub async fn a_unit_beyond_bigint_is_refused_and_the_next_batch_is_written(
        fixture: &impl SqlFixture,
    ) {
        let store = fixture.adapter();
        let a = put(store, "a", "Điều 1. một\nĐiều 2. hai\n").await;
        let r = RunId::new("r");
        ok(store.fence(&r, &[expect(&a)]).await, "fence");
        let units = super::units_for(&a, &r, 4);
        let mut bad = units.clone();
        let last = bad.len() - 1;
        bad[last].end = u64::MAX;
        for _ in 0..3 {
            let refused = error(
                store.write_units(&r, &bad).await,
                |e| matches!(e, AdapterError::Invalid(_)),
                "an offset beyond BIGINT",
            );
            assert!(
                refused
                    .to_string()
                    .contains("unit end 18446744073709551615"),
                "{refused}"
            );
            assert!(ok(store.generation_units(&a.id, &r).await, "read").is_empty());
        }
        for _ in 0..3 {
            ok(store.write_units(&r, &units).await, "the next batch");
        }
        assert_eq!(ok(store.generation_units(&a.id, &r).await, "read"), units);
    }

    /// Disabling the control row refuses the next mutation of every runner on the database,
    /// naming the row and how to open it; reads go on; enabling it lets mutations through again.
    pub async fn control_row_closes_the_gate_for_every_runner(fixture: &impl SqlFixture) {
        let store = fixture.adapter();
        let other = fixture.another_process().await;
        put(store, "a", "Điều 1.").await;
        let state = ok(
            set_control(fixture.options(), false, "maintenance window").await,
            "disable",
        );
        assert!(!state.execution_enabled);
        assert_eq!(state.reason, "maintenance window");
        for runner in [store, &*other] {
            let refused = error(
                runner.put_document(&DocumentId::new("a"), "changed").await,
                AdapterError::is_gate_closed,
                "disabled control row",
            );
            let AdapterError::GateClosed {
                switch,
                how_to_open,
            } = refused
            else {
                panic!("not a refusal");
            };
            assert!(switch.contains("control row"), "{switch}");
            assert!(how_to_open.contains("control enable"), "{how_to_open}");
            assert!(how_to_open.contains("maintenance window"), "{how_to_open}");
            error(
                runner.preflight().await,
                AdapterError::is_gate_closed,
                "preflight",
            );
            let docs = ok(runner.load_scope(&Scope::All).await, "reads go on");
            assert_eq!(docs[0].body, "Điều 1.");
        }
        let status = ok(control_status(fixture.options()).await, "status");
        assert!(!status.execution_enabled);
        ok(
            set_control(fixture.options(), true, "maintenance over").await,
            "enable",
        );
        let doc = ok(
            other.put_document(&DocumentId::new("a"), "changed").await,
            "put",
        );
        assert_eq!(doc.revision, 2);
        ok(store.fence(&"r".into(), &[expect(&doc)]).await, "fence");
    }

    /// An enabled control row only abstains: with no other source the gate stays closed.
    pub async fn control_row_never_opens_the_gate(fixture: &impl SqlFixture) {
        let closed = ok(
            connect_with(fixture.options(), ExecutionGate::new()).await,
            "connect",
        );
        assert!(ok(control_status(fixture.options()).await, "status").execution_enabled);
        let refused = error(
            closed.put_document(&DocumentId::new("a"), "x").await,
            AdapterError::is_gate_closed,
            "no source opened the gate",
        );
        assert!(refused.to_string().contains("default"), "{refused}");
        assert!(ok(closed.load_scope(&Scope::All).await, "read").is_empty());
    }

    /// `init` on a current schema applies nothing; `connect` works on it.
    pub async fn init_is_idempotent_and_connect_needs_the_schema(fixture: &impl SqlFixture) {
        let report = ok(init_with(fixture.options()).await, "init again");
        assert!(report.applied.is_empty(), "{report:?}");
        assert_eq!(report.schema_version, DATABASE_SCHEMA_VERSION);
        ok(
            connect_with(fixture.options(), open_gate()).await,
            "connect",
        );
    }

    /// A store of schema 12, whose runs have no latest start of their own, takes migration 13
    /// with each run's latest start read from its phases: the latest runs are listed as the
    /// journal orders them, a run that never started a phase the oldest.
    pub async fn a_journal_from_before_the_latest_start_is_migrated_in_order(
        fixture: &impl RawSql,
    ) {
        let store = fixture.adapter();
        for (name, started) in [
            ("a", Some("2025-01-31T12:00:09.000Z")),
            ("b", Some("2025-01-31T12:00:01.000Z")),
            ("n", None),
            ("c", Some("2025-01-31T12:00:05.000Z")),
        ] {
            let r = RunId::new(name);
            let record =
                iu_cutter_live_execution::RunRecord::new(r.clone(), Scope::All, super::rules());
            ok(store.begin_run(&record).await, "begin");
            if let Some(started) = started {
                let phase = iu_cutter_live_execution::PhaseRecord {
                    started_at: Some(started.into()),
                    ..super::phase("backup", iu_cutter_live_execution::PhaseStatus::Done, &[])
                };
                ok(store.record_phase(&r, &phase).await, "phase");
            }
        }
        let runs = fixture.table("runs");
        for statement in [
            format!("DROP INDEX {}", fixture.table("runs_by_last_start")),
            format!("DROP INDEX {}", fixture.table("runs_by_status")),
            format!("ALTER TABLE {runs} DROP COLUMN last_started_at"),
            format!(
                "DELETE FROM {} WHERE version = 13",
                fixture.table("schema_migrations")
            ),
        ] {
            fixture.execute_raw(&statement, &[]).await;
        }
        let report = ok(init_with(fixture.options()).await, "init");
        assert_eq!(report.applied, vec![13]);
        let store = ok(
            connect_with(fixture.options(), open_gate()).await,
            "connect after the upgrade",
        );
        let recent = ok(store.recent_runs(3).await, "recent");
        let names: Vec<&str> = recent.runs.iter().map(|r| r.run.as_str()).collect();
        assert_eq!(names, ["b", "c", "a"]);
        let every = ok(store.list_runs().await, "list");
        assert_eq!(
            ok(store.recent_runs(9).await, "recent"),
            iu_cutter_live_execution::RecentRuns::of(every, 9)
        );
    }

    /// `info()` says live, the backend's kind, and where, without the password.
    pub async fn info_is_live_and_redacted(fixture: &impl SqlFixture) {
        let info = fixture.adapter().info();
        assert!(info.live);
        let url = &fixture.options().url;
        let kind = if url.starts_with("postgres") {
            "postgres"
        } else {
            "sqlite"
        };
        assert_eq!(info.kind, kind);
        assert_eq!(info.location, fixture.options().location());
        if let Some(password) = url
            .split_once("://")
            .and_then(|(_, rest)| rest.split_once('@'))
            .and_then(|(userinfo, _)| userinfo.split_once(':'))
            .map(|(_, password)| password)
        {
            let shown = format!(":{password}@");
            assert!(!info.location.contains(&shown), "{}", info.location);
            assert!(info.location.contains(":***@"), "{}", info.location);
        }
    }

    /// Two runners fencing one document at once: exactly one gets it.
    pub async fn concurrent_fences_admit_one_run(fixture: &impl SqlFixture) {
        let one = fixture.adapter();
        let two = fixture.another_process().await;
        for round in 0..5 {
            let id = DocumentId::new(format!("doc{round}"));
            let doc = ok(one.put_document(&id, "Điều 1.").await, "put");
            let (r1, r2) = (
                RunId::new(format!("one-{round}")),
                RunId::new(format!("two-{round}")),
            );
            let expected = [expect(&doc)];
            let (a, b) = tokio::join!(one.fence(&r1, &expected), two.fence(&r2, &expected));
            assert!(
                a.is_ok() != b.is_ok(),
                "round {round}: exactly one fence wins: {a:?} / {b:?}"
            );
            let loser = if a.is_ok() { b } else { a };
            assert!(
                matches!(loser, Err(AdapterError::Conflict { .. })),
                "{loser:?}"
            );
        }
    }

    /// Two runners creating the same document at once: one creates it, the other revises it.
    pub async fn concurrent_writers_create_one_document(fixture: &impl SqlFixture) {
        let one = fixture.adapter();
        let two = fixture.another_process().await;
        for round in 0..5 {
            let id = DocumentId::new(format!("new{round}"));
            let (a, b) = tokio::join!(
                one.put_document(&id, "from one"),
                two.put_document(&id, "from two")
            );
            let mut revisions = vec![
                ok(a, "first writer").revision,
                ok(b, "second writer").revision,
            ];
            revisions.sort_unstable();
            assert_eq!(revisions, vec![1, 2], "round {round}");
            let stored = ok(one.load_scope(&Scope::Ids(vec![id])).await, "load");
            assert_eq!(stored.len(), 1);
            assert_eq!(stored[0].revision, 2);
        }
    }
}

/// A generation's digests are exactly [`GenerationDigests::of`] its units as read back, on every
/// store (PostgreSQL computes them in the server): each body's sha256 and length, and the
/// sha256 of the bodies concatenated by ordinal, which is the source's for a lossless cut. A
/// unit's body rewritten by raw SQL (its recorded sha256 kept) shows in its `body_sha256` and
/// in the concatenation; a generation without units, or of no document, has no units and the
/// sha256 of no bytes. Asked for several documents at once, each is answered as alone.
pub async fn generation_digests_hash_every_body_as_stored(fixture: &impl crate::fixture::Tamper) {
    let store = fixture.adapter();
    let body = "Điều 1. Phạm vi.\n\tĐiều 2. \\N đối tượng 😀\r\n";
    let a = put(store, "a", body).await;
    let e = put(store, "e", "").await;
    let r = run("r");
    ok(store.fence(&r, &[expect(&a), expect(&e)]).await, "fence");
    let units = units_for(&a, &r, 3);
    ok(store.write_units(&r, &units).await, "write");

    // The snapshot a store reads after is its own (PostgreSQL's): compared without it.
    let digests = as_digests(ok(store.generation_digests(&a.id, &r).await, "digests"));
    assert_eq!(digests, GenerationDigests::of(&units));
    assert_eq!(digests.concatenated_sha256, a.sha256, "lossless");
    assert_eq!(digests.units.len(), units.len());
    assert_eq!(digests.units[1].body_bytes, units[1].body.len() as u64);
    assert_eq!(digests.units[1].body_sha256, units[1].sha256);

    fixture.edit_unit_raw("a", "r", 1, "sửa").await;
    let tampered = as_digests(ok(store.generation_digests(&a.id, &r).await, "tampered"));
    let read = ok(store.generation_units(&a.id, &r).await, "read back");
    assert_eq!(tampered, GenerationDigests::of(&read));
    assert_eq!(tampered.units[1].body_sha256, sha256_hex("sửa".as_bytes()));
    assert_eq!(tampered.units[1].body_bytes, "sửa".len() as u64);
    assert_eq!(tampered.units[1].sha256, units[1].sha256, "recorded kept");
    assert_ne!(tampered.concatenated_sha256, a.sha256);
    assert_eq!(tampered.units[0], digests.units[0]);

    let none = GenerationDigests {
        units: Vec::new(),
        concatenated_sha256: sha256_hex(b""),
        read_after: None,
    };
    let empty = ok(store.generation_digests(&e.id, &r).await, "empty");
    assert_eq!(as_digests(empty), none);
    let ghost = ok(store.generation_digests(&id("ghost"), &r).await, "ghost");
    assert_eq!(as_digests(ghost), none);

    // Asked together (store48), each document is answered as alone, in the order asked, an id
    // asked twice twice; another generation of the same documents is not this one's.
    let ghost = id("ghost");
    let asked = [e.id.clone(), a.id.clone(), ghost.clone(), a.id.clone()];
    let together = ok(store.generation_digests_of(&asked, &r).await, "together");
    let snapshots: BTreeSet<_> = together.iter().map(|d| d.read_after.clone()).collect();
    assert_eq!(snapshots.len(), 1, "one snapshot, before the call's reads");
    let together: Vec<_> = together.into_iter().map(as_digests).collect();
    assert_eq!(
        together,
        [none.clone(), tampered.clone(), none.clone(), tampered]
    );
    let other = ok(
        store
            .generation_digests_of(std::slice::from_ref(&a.id), &run("other"))
            .await,
        "other generation",
    );
    let other: Vec<_> = other.into_iter().map(as_digests).collect();
    assert_eq!(other, [none]);
    assert_eq!(
        ok(store.generation_digests_of(&[], &r).await, "no documents"),
        Vec::<GenerationDigests>::new()
    );
}

/// `digests` without the snapshot its store read them after (a store's own, where it has one).
fn as_digests(digests: GenerationDigests) -> GenerationDigests {
    GenerationDigests {
        read_after: None,
        ..digests
    }
}

/// The digest enact expects of a staged generation of `units` (as write-verify approves it).
pub fn staged_digest(units: &[Unit]) -> String {
    let mut digester = iu_cutter_live_execution::GenerationDigester::new();
    for unit in units {
        let fields = iu_cutter_live_execution::UnitFields::of(unit);
        digester.unit(&fields, &sha256_hex(unit.body.as_bytes()));
    }
    digester.finish()
}

/// Enact given write-verify's proof ([`StagedProof`]: the snapshot it read the staged units
/// after, and how many it proved) still refuses a staged unit rewritten after that read, on
/// every store, and enacts nothing: a store whose rows name their writer takes the proof only
/// for rows written before the snapshot, the others hash every body. Without a rewrite, a
/// document is enacted on the proof.
pub async fn enact_with_write_verifys_proof_refuses_a_unit_rewritten_since(
    fixture: &impl crate::fixture::Tamper,
) {
    let store = fixture.adapter();
    let a = put(store, "a", "Điều 1. Một.\nĐiều 2. Hai.\nĐiều 3. Ba.\n").await;
    let b = put(store, "b", "Điều 1. Bốn.\nĐiều 2. Năm.\nĐiều 3. Sáu.\n").await;
    let r = run("r");
    ok(store.fence(&r, &[expect(&a), expect(&b)]).await, "fence");
    let (units_a, units_b) = (units_for(&a, &r, 3), units_for(&b, &r, 3));
    let written = [units_a.clone(), units_b.clone()].concat();
    ok(store.write_units(&r, &written).await, "write");
    let ids = [a.id.clone(), b.id.clone()];
    let read = ok(
        store.generation_digests_of(&ids, &r).await,
        "write-verify's read",
    );
    // A store without snapshots ignores the proof: any text stands for one.
    let read_after = read[0].read_after.clone().unwrap_or_else(|| "none".into());
    let proved = |document: &Document, units: &[Unit]| {
        expect(document)
            .with_staged_units(staged_digest(units))
            .with_staged_proof(Some(StagedProof {
                read_after: read_after.clone(),
                units: units.len() as u64,
            }))
    };
    fixture.edit_unit_raw("a", "r", 1, "sửa lén").await;
    let before = ok(store.snapshot().await, "snapshot");
    let both = [proved(&a, &units_a), proved(&b, &units_b)];
    conflict(store.enact(&r, &both).await, "a", "rewritten since");
    assert_all_or_nothing(store, &before).await;
    assert_eq!(ok(store.enact(&r, &both[1..]).await, "b alone"), 1);
}
