use super::*;
use crate::domain::Document;
use crate::sha256_hex;

fn run(name: &str) -> RunId {
    RunId::new(name)
}

fn document(state: DocumentState, active: Option<&str>) -> Document {
    Document {
        id: DocumentId::new("law/1"),
        revision: 3,
        sha256: sha256_hex(b"body"),
        state,
        active_generation: active.map(RunId::new),
        body: "body".into(),
    }
}

/// The document as a store would read it: `document`'s columns, with the body as stored.
fn current(document: &Document) -> CurrentDocument {
    CurrentDocument {
        revision: document.revision,
        sha256: document.sha256.clone(),
        body_sha256: sha256_hex(document.body.as_bytes()),
        state: document.state.clone(),
        active_generation: document.active_generation.clone(),
    }
}

fn with(
    mut current: CurrentDocument,
    change: impl FnOnce(&mut CurrentDocument),
) -> CurrentDocument {
    change(&mut current);
    current
}

fn snapshot(document: Document, generations: &[(&str, GenerationState)]) -> DocumentSnapshot {
    let id = document.id.clone();
    DocumentSnapshot {
        document,
        generations: generations
            .iter()
            .map(|(g, state)| GenerationRecord {
                document: id.clone(),
                generation: RunId::new(*g),
                state: *state,
            })
            .collect(),
        active_units: Vec::new(),
    }
}

fn records(generations: &[(&str, GenerationState)]) -> Vec<GenerationRecord> {
    snapshot(document(DocumentState::Ready, None), generations).generations
}

fn conflict_found(result: Result<impl std::fmt::Debug, AdapterError>) -> String {
    match result {
        Err(AdapterError::Conflict { found, .. }) => found,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

/// `before` as it stands, fenced by run `holder`.
fn fenced_by(before: &Document, holder: &str) -> CurrentDocument {
    with(current(before), |c| {
        c.state = DocumentState::Cutting { run: run(holder) }
    })
}

/// A ready document never cut, and the revision a run backed it up at.
fn ready() -> (Document, ExpectedRevision) {
    let before = document(DocumentState::Ready, None);
    let expected = ExpectedRevision::of(&before);
    (before, expected)
}

/// `before` as it stands, in `state` with the active generation `active`.
fn pointing_at(before: &Document, state: DocumentState, active: &str) -> CurrentDocument {
    with(current(before), |c| {
        c.state = state;
        c.active_generation = Some(run(active));
    })
}

#[test]
fn fence_passes_on_exactly_the_backed_up_state_and_again_once_fenced() {
    let before = document(DocumentState::Cut, Some("p"));
    let expected = ExpectedRevision::of(&before);
    let now = current(&before);
    assert_eq!(
        fence_step(&run("a"), &expected, Some(&now)).ok(),
        Some(FenceStep::Fence)
    );
    let fenced = with(now, |c| c.state = DocumentState::Cutting { run: run("a") });
    assert_eq!(
        fence_step(&run("a"), &expected, Some(&fenced)).ok(),
        Some(FenceStep::AlreadyFenced)
    );
}

/// Defect 1: run `b` fenced and enacted the document after `a`'s backup; the revision and body
/// are unchanged, but `a` must not fence it (it would overwrite `b`'s cut).
#[test]
fn fence_refuses_a_document_another_run_cut_since_the_backup() {
    let (before, expected) = ready();
    let now = pointing_at(&before, DocumentState::Cut, "b");
    let found = conflict_found(fence_step(&run("a"), &expected, Some(&now)));
    assert!(found.contains("active generation `b`"), "{found}");
}

#[test]
fn fence_refuses_another_runs_fence_an_edit_and_a_raw_body_edit() {
    let (before, expected) = ready();
    let held = fenced_by(&before, "b");
    assert_eq!(
        conflict_found(fence_step(&run("a"), &expected, Some(&held))),
        "fenced by run `b`"
    );
    let revised = with(current(&before), |c| c.revision = 4);
    assert!(
        conflict_found(fence_step(&run("a"), &expected, Some(&revised))).contains("revision 4")
    );
    let raw = with(current(&before), |c| c.body_sha256 = sha256_hex(b"edited"));
    assert!(conflict_found(fence_step(&run("a"), &expected, Some(&raw))).contains("raw SQL"));
    assert!(matches!(
        fence_step(&run("a"), &expected, None),
        Err(AdapterError::NotFound(_))
    ));
}

/// A body edited by raw SQL that moved the revision but left the sha256 column is named for what
/// happened: the conflict said "revision 3 → revision 4 … (edited without updating its
/// revision: raw SQL?)", contradicting itself (seen on a rollback's note after an application
/// `UPDATE … SET body = …, revision = revision + 1`).
#[test]
fn a_raw_body_edit_that_moved_the_revision_is_not_said_to_have_kept_it() {
    let (before, expected) = ready();
    let raw = with(current(&before), |c| {
        c.revision = 4;
        c.body_sha256 = sha256_hex(b"edited");
    });
    let found = conflict_found(fence_step(&run("a"), &expected, Some(&raw)));
    assert!(found.contains("revision 4"), "{found}");
    assert!(found.contains("raw SQL"), "{found}");
    assert!(!found.contains("without updating its revision"), "{found}");
    assert!(found.contains("sha256"), "{found}");
}

/// D1 of the fourth attack: a run stopped part-way through a batched enact, one of whose enacted
/// documents the application then edited (state `Ready`, a new revision), must resume: the
/// document passes as enacted, untouched, and the edit is kept.
#[test]
fn enact_passes_a_document_the_run_enacted_and_the_application_edited_since() {
    let before = document(DocumentState::Ready, Some("old"));
    let expected = ExpectedRevision::of(&before).with_staged_units("verified".into());
    let edited = with(current(&before), |c| {
        c.active_generation = Some(run("a"));
        c.revision = 4;
        c.sha256 = sha256_hex(b"edited");
        c.body_sha256 = sha256_hex(b"edited");
    });
    assert_eq!(
        enact_step(&run("a"), &expected, Some(&edited), Some("verified")).ok(),
        Some(EnactStep::AlreadyEnacted)
    );
    // Another run's generation active on an edited document is still that run's, not ours.
    let other = with(edited, |c| c.active_generation = Some(run("x")));
    assert!(
        conflict_found(enact_step(
            &run("a"),
            &expected,
            Some(&other),
            Some("verified")
        ))
        .contains("revision 4")
    );
}

/// Defect 3: the body changed (raw SQL, columns untouched) between write-verify and enact.
#[test]
fn enact_refuses_a_body_edited_without_its_revision() {
    let (before, expected) = ready();
    let fenced = fenced_by(&before, "a");
    assert_eq!(
        enact_step(&run("a"), &expected, Some(&fenced), Some("d")).ok(),
        Some(EnactStep::Enact { retire: None })
    );
    let raw = with(fenced.clone(), |c| c.body_sha256 = sha256_hex(b"edited"));
    assert!(
        conflict_found(enact_step(&run("a"), &expected, Some(&raw), Some("d"))).contains("raw SQL")
    );
    let moved = with(fenced.clone(), |c| c.active_generation = Some(run("x")));
    assert!(
        conflict_found(enact_step(&run("a"), &expected, Some(&moved), Some("d"))).contains("`x`")
    );
    assert!(
        conflict_found(enact_step(&run("a"), &expected, Some(&fenced), None))
            .contains("no generation")
    );
    // Defect 1 of the second attack: units changed after write-verify.
    let verified = expected.clone().with_staged_units("verified".into());
    assert!(
        conflict_found(enact_step(
            &run("a"),
            &verified,
            Some(&fenced),
            Some("tampered")
        ))
        .contains("after write-verify")
    );
    assert_eq!(
        enact_step(&run("a"), &verified, Some(&fenced), Some("verified")).ok(),
        Some(EnactStep::Enact { retire: None })
    );
    let enacted = with(fenced, |c| {
        c.state = DocumentState::Cut;
        c.active_generation = Some(run("a"));
    });
    assert_eq!(
        enact_step(&run("a"), &expected, Some(&enacted), Some("d")).ok(),
        Some(EnactStep::AlreadyEnacted)
    );
}

#[test]
fn undo_lifts_the_fence_and_goes_back_to_the_backed_up_state() {
    let before = document(DocumentState::Cut, Some("p"));
    let snap = snapshot(before.clone(), &[("p", GenerationState::Active)]);
    let now = fenced_by(&before, "a");
    let gens = records(&[
        ("a", GenerationState::Staged),
        ("p", GenerationState::Active),
    ]);
    let undo = undo_step(&run("a"), &snap, Some(&now), &gens).ok();
    assert_eq!(
        undo,
        Some(Undo {
            step: UndoStep::Unfence {
                state: DocumentState::Cut
            },
            kept_edit: None
        })
    );
}

/// Defect 2: an edit landed while the run held its fence; rollback lifts the fence, keeps the
/// edit, and the document is ready for the next cut.
#[test]
fn undo_keeps_an_edit_made_since_the_backup() {
    let before = document(DocumentState::Cut, Some("p"));
    let snap = snapshot(before.clone(), &[("p", GenerationState::Active)]);
    let now = with(current(&before), |c| {
        c.state = DocumentState::Cutting { run: run("a") };
        c.revision = 4;
        c.sha256 = sha256_hex(b"new");
        c.body_sha256 = sha256_hex(b"new");
    });
    let gens = records(&[
        ("a", GenerationState::Staged),
        ("p", GenerationState::Active),
    ]);
    let undo = undo_step(&run("a"), &snap, Some(&now), &gens);
    let Ok(Undo { step, kept_edit }) = undo else {
        panic!("{undo:?}");
    };
    assert_eq!(
        step,
        UndoStep::Unfence {
            state: DocumentState::Ready
        }
    );
    assert!(kept_edit.is_some_and(|e| e.contains("revision 4")));
}

#[test]
fn undo_of_an_enacted_document_points_back_to_the_pre_run_generation() {
    let before = document(DocumentState::Cut, Some("p"));
    let snap = snapshot(before.clone(), &[("p", GenerationState::Active)]);
    let now = with(current(&before), |c| c.active_generation = Some(run("a")));
    let gens = records(&[
        ("a", GenerationState::Active),
        ("p", GenerationState::Retired),
    ]);
    assert_eq!(
        undo_step(&run("a"), &snap, Some(&now), &gens)
            .map(|u| u.step)
            .ok(),
        Some(UndoStep::Unenact {
            reactivate: Some(run("p")),
            state: DocumentState::Cut
        })
    );
    // Purged meanwhile: nothing to point back to, so the document is left alone.
    let purged = records(&[("a", GenerationState::Active)]);
    assert!(matches!(
        undo_step(&run("a"), &snap, Some(&now), &purged).map(|u| u.step),
        Ok(UndoStep::LeaveAlone { .. })
    ));
}

/// Defects 1 and 5: a later run fenced, staged or enacted the document: the whole rollback is
/// refused, naming that run.
#[test]
fn undo_refuses_while_a_later_run_holds_the_document() {
    let before = document(DocumentState::Ready, None);
    let snap = snapshot(before.clone(), &[]);
    let held = [
        (
            pointing_at(&before, DocumentState::Cutting { run: run("b") }, "a"),
            records(&[
                ("a", GenerationState::Active),
                ("b", GenerationState::Staged),
            ]),
            "b",
        ),
        (
            pointing_at(&before, DocumentState::Cut, "b"),
            records(&[
                ("a", GenerationState::Retired),
                ("b", GenerationState::Active),
            ]),
            "b",
        ),
        // A staged generation of another run written after the backup, with no fence left.
        (
            fenced_by(&before, "a"),
            records(&[
                ("a", GenerationState::Staged),
                ("c", GenerationState::Staged),
            ]),
            "c",
        ),
    ];
    for (now, gens, later) in held {
        let refused = undo_step(&run("a"), &snap, Some(&now), &gens);
        assert!(
            matches!(&refused, Err(AdapterError::HeldByLaterRun { run: r, .. }) if r.as_str() == later),
            "{refused:?}"
        );
    }
}

#[test]
fn undo_leaves_untouched_documents_and_strange_states_alone() {
    let before = document(DocumentState::Ready, None);
    let snap = snapshot(before.clone(), &[]);
    // Blocked at the fence: the run never touched it, even though it was edited since.
    let edited = with(current(&before), |c| c.revision = 9);
    assert_eq!(
        undo_step(&run("a"), &snap, Some(&edited), &[])
            .map(|u| u.step)
            .ok(),
        Some(UndoStep::Untouched)
    );
    // The run's fence, but the pointer moved underneath it (to a generation the backup knew).
    let snap_p = snapshot(before.clone(), &[("p", GenerationState::Retired)]);
    let moved = pointing_at(&before, DocumentState::Cutting { run: run("a") }, "p");
    let gens = records(&[
        ("a", GenerationState::Staged),
        ("p", GenerationState::Active),
    ]);
    assert!(matches!(
        undo_step(&run("a"), &snap_p, Some(&moved), &gens).map(|u| u.step),
        Ok(UndoStep::LeaveAlone { .. })
    ));
    // Only the run's staged generation is left: drop it.
    let gens = records(&[("a", GenerationState::Staged)]);
    assert_eq!(
        undo_step(&run("a"), &snap, Some(&current(&before)), &gens)
            .map(|u| u.step)
            .ok(),
        Some(UndoStep::DropGeneration)
    );
}

#[test]
fn a_write_stages_only_its_own_generation_on_documents_it_fences() {
    let unit = |generation: &str| Unit {
        document: DocumentId::new("law/1"),
        generation: run(generation),
        ordinal: 0,
        unit_id: "u".into(),
        path: "Điều 1".into(),
        part: None,
        start: 0,
        end: 4,
        sha256: sha256_hex(b"body"),
        body: "body".into(),
    };
    let fenced = DocumentState::Cutting { run: run("r1") };
    assert!(write_step(&run("r1"), &unit("r1"), Some(&fenced)).is_ok());
    assert!(matches!(
        write_step(&run("r1"), &unit("r2"), Some(&fenced)),
        Err(AdapterError::Invalid(message)) if message.contains("belongs to generation `r2`")
    ));
    assert!(matches!(
        write_step(&run("r1"), &unit("r1"), None),
        Err(AdapterError::NotFound(_))
    ));
    let other = DocumentState::Cutting { run: run("r2") };
    assert_eq!(
        conflict_found(write_step(&run("r1"), &unit("r1"), Some(&other))),
        "fenced by run `r2` (fence lost)"
    );
    assert_eq!(
        conflict_found(write_step(
            &run("r1"),
            &unit("r1"),
            Some(&DocumentState::Cut)
        )),
        "cut (not fenced) (fence lost)"
    );
}

#[test]
fn restoration_tallies_each_decision() {
    let mut restoration = Restoration::default();
    let id = DocumentId::new("d");
    restoration.record(
        &id,
        &Undo {
            step: UndoStep::Untouched,
            kept_edit: None,
        },
    );
    restoration.record(
        &id,
        &Undo {
            step: UndoStep::DropGeneration,
            kept_edit: Some("edited".into()),
        },
    );
    restoration.record(
        &id,
        &Undo {
            step: UndoStep::LeaveAlone {
                reason: "why".into(),
            },
            kept_edit: None,
        },
    );
    assert_eq!(restoration.untouched, 1);
    assert_eq!(restoration.undone, vec![id.clone()]);
    assert_eq!(restoration.kept_edits.len(), 1);
    assert_eq!(restoration.left_alone[0].reason, "why");
}
