//! Model-based test: random sequences of document edits, runs (re-cuts with other rules, held
//! runs), enactments of held runs and rollbacks, applied to the runner over the simulator and to
//! a plain reference model. After every step the store must look exactly like the model: in
//! particular, no rollback ever reverts an edit, and no run overwrites another's result.

use iu_cutter_live_execution::prelude::*;
use std::collections::BTreeMap;

use iu_cutter_live_execution::{
    CutRules, DocumentId, DocumentState, GenerationState, Preset, RunId, Scope, sha256_hex,
};
use iu_cutter_orchestrator::{RunOptions, RunRequest};
use iu_cutter_simulator::Simulator;
use iu_cutter_simulator::strategies::legal_text;
use iu_cutter_tests::{DocumentView, SimHarness, UnitView, cases, expected_units, runtime, view};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

const DOCS: [&str; 3] = ["a/1", "a/2", "b/1"];

fn scopes() -> [Scope; 4] {
    [
        Scope::All,
        Scope::Prefix("a/".into()),
        Scope::Ids(vec![DocumentId::new("b/1")]),
        Scope::Ids(vec![DocumentId::new("a/1"), DocumentId::new("b/1")]),
    ]
}

fn rule_choices() -> [CutRules; 3] {
    [
        CutRules::preset(Preset::LegalEn),
        CutRules::preset(Preset::LegalVi).with_max_unit_bytes(64),
        CutRules::preset(Preset::Markdown),
    ]
}

#[derive(Clone, Debug)]
enum Op {
    Edit {
        doc: usize,
        body: String,
    },
    Run {
        scope: usize,
        rules: usize,
        hold: bool,
    },
    EnactHeld,
    Rollback,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..DOCS.len(), legal_text()).prop_map(|(doc, body)| Op::Edit { doc, body }),
        3 => (0..4usize, 0..3usize, any::<bool>()).prop_map(|(scope, rules, hold)| Op::Run { scope, rules, hold }),
        1 => Just(Op::EnactHeld),
        2 => Just(Op::Rollback),
    ]
}

type Units = Vec<UnitView>;

#[derive(Clone, Debug, PartialEq)]
struct ModelDoc {
    body: String,
    revision: u64,
    state: DocumentState,
    active: Option<RunId>,
    active_units: Units,
    generations: BTreeMap<RunId, GenerationState>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum ModelRunStatus {
    Held,
    Done,
    Blocked,
    RolledBack,
}

#[derive(Clone, Debug)]
struct ModelRun {
    id: RunId,
    rules: CutRules,
    backup: BTreeMap<DocumentId, ModelDoc>,
    /// The documents outside the scope at backup, with their last change's stamp then:
    /// write-verify, which runs again when a held run is continued, blocks when one of them
    /// changed since, even if changed back (the change log tells that a document changed, not
    /// how), unless another run holds or cut it, or a rollback put it back as it was (below).
    outside: BTreeMap<DocumentId, u64>,
    /// The scope's documents' last change stamps at backup, which are those just before the
    /// run's fence (a run step backs up and fences at once; the stores record them at the
    /// fence, never reading the backup's entries): a rollback window's `seen`.
    entries: BTreeMap<DocumentId, u64>,
    /// The last stamp given out when the run backed up: its change mark.
    mark: u64,
    /// The stamp of the run's own step (its fence): a rollback window's `fenced`.
    fenced: u64,
    scope: Scope,
    status: ModelRunStatus,
}

#[derive(Default)]
struct Model {
    docs: BTreeMap<DocumentId, ModelDoc>,
    runs: Vec<ModelRun>,
    /// The stamp of the last step that changed each document (absent: never changed): the
    /// model's change log. Stamps are never reused, as the stores' marks only move forward.
    changes: BTreeMap<DocumentId, u64>,
    /// The last stamp given out.
    stamp: u64,
    /// The documents the current step's rollback put back exactly as its run's backup saw
    /// them, which its run still held, with the window they open (`seen`, `fenced`): opened
    /// after the step's own changes are stamped.
    restored: Vec<(DocumentId, u64, u64)>,
    /// The run that last fenced each document, until a rollback of it spends the hold (the
    /// stores' `document_change_holds`; an edit here always moves a revision, so a held
    /// document changed by anyone else is never put back exactly).
    holds: BTreeMap<DocumentId, RunId>,
    /// Rollback windows: a document whose stamp is still `at` is unchanged for a mark that saw
    /// `seen` and not `fenced`; any later change ends it.
    windows: BTreeMap<DocumentId, ModelWindow>,
}

#[derive(Clone, Copy, Debug)]
struct ModelWindow {
    seen: u64,
    fenced: u64,
    at: u64,
}

impl Model {
    /// Counts a change of every document that differs from `before` (the documents as they
    /// were before the step), as the store's change log stamps every document a step wrote.
    fn log_changes(&mut self, before: &BTreeMap<DocumentId, ModelDoc>) {
        self.stamp += 1;
        for (id, doc) in &self.docs {
            if before.get(id) != Some(doc) {
                self.changes.insert(id.clone(), self.stamp);
                self.windows.remove(id);
            }
        }
        for (id, seen, fenced) in std::mem::take(&mut self.restored) {
            if let Some(&at) = self.changes.get(&id) {
                self.windows.insert(id, ModelWindow { seen, fenced, at });
            }
        }
    }

    fn edit(&mut self, id: DocumentId, body: String) {
        match self.docs.get_mut(&id) {
            None => {
                self.docs.insert(
                    id,
                    ModelDoc {
                        body,
                        revision: 1,
                        state: DocumentState::Ready,
                        active: None,
                        active_units: Vec::new(),
                        generations: BTreeMap::new(),
                    },
                );
            }
            Some(doc) if doc.body == body => {}
            Some(doc) => {
                doc.body = body;
                doc.revision += 1;
                if !matches!(doc.state, DocumentState::Cutting { .. }) {
                    doc.state = DocumentState::Ready;
                }
            }
        }
    }

    fn enact(doc: &mut ModelDoc, run: &RunId, units: Units) {
        if let Some(previous) = &doc.active {
            doc.generations
                .insert(previous.clone(), GenerationState::Retired);
        }
        doc.generations.insert(run.clone(), GenerationState::Active);
        doc.active = Some(run.clone());
        doc.active_units = units;
        doc.state = DocumentState::Cut;
    }

    /// Returns the expected outcome name.
    fn run(
        &mut self,
        id: RunId,
        scope: &Scope,
        rules: &CutRules,
        hold: bool,
    ) -> Result<&'static str, TestCaseError> {
        let backup: BTreeMap<_, _> = self
            .docs
            .iter()
            .filter(|(doc_id, _)| scope.contains(doc_id))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let outside: BTreeMap<_, _> = self
            .docs
            .keys()
            .filter(|doc_id| !scope.contains(doc_id))
            .map(|k| (k.clone(), self.changes.get(k).copied().unwrap_or(0)))
            .collect();
        let entries: BTreeMap<_, _> = backup
            .keys()
            .filter_map(|k| Some((k.clone(), *self.changes.get(k)?)))
            .collect();
        let held_elsewhere = backup
            .values()
            .any(|d| matches!(&d.state, DocumentState::Cutting { run } if *run != id));
        let status = if held_elsewhere {
            ModelRunStatus::Blocked
        } else {
            for doc_id in backup.keys() {
                self.holds.insert(doc_id.clone(), id.clone());
                let doc = self
                    .docs
                    .get_mut(doc_id)
                    .ok_or_else(|| TestCaseError::fail("model lost a doc"))?;
                let units = expected_units(rules, doc_id, &doc.body)?;
                doc.generations.insert(id.clone(), GenerationState::Staged);
                doc.state = DocumentState::Cutting { run: id.clone() };
                if !hold {
                    Self::enact(doc, &id, units);
                }
            }
            if hold {
                ModelRunStatus::Held
            } else {
                ModelRunStatus::Done
            }
        };
        self.runs.push(ModelRun {
            id,
            rules: rules.clone(),
            backup,
            outside,
            entries,
            mark: self.stamp,
            fenced: self.stamp + 1,
            scope: scope.clone(),
            status,
        });
        Ok(if status == ModelRunStatus::Blocked {
            "BLOCKED"
        } else {
            "PASS"
        })
    }

    fn enact_held(&mut self, index: usize) -> Result<&'static str, TestCaseError> {
        let run = self.runs[index].clone();
        let intact = run.backup.iter().all(|(doc_id, backed_up)| {
            self.docs.get(doc_id).is_some_and(|doc| {
                doc.revision == backed_up.revision
                    && doc.state
                        == (DocumentState::Cutting {
                            run: run.id.clone(),
                        })
            })
        });
        // Continuing a held run verifies it again: nothing outside its scope may have changed
        // (even if changed back, e.g. by another run's rollback), appeared or vanished since its
        // backup, but for documents another run holds or cut (appeared ones included: the
        // application's edit of a document another run then cut passes too).
        let another_run = |doc: &ModelDoc| match &doc.state {
            DocumentState::Cutting { run: holder } => *holder != run.id,
            DocumentState::Cut => doc.active.as_ref().is_some_and(|a| *a != run.id),
            DocumentState::Ready => false,
        };
        let outside_changed =
            run.outside
                .iter()
                .any(|(doc_id, changes)| match self.docs.get(doc_id) {
                    Some(now) => {
                        let stamp = self.changes.get(doc_id).copied().unwrap_or(0);
                        let windowed = self.windows.get(doc_id).is_some_and(|w| {
                            w.at == stamp && w.seen <= run.mark && run.mark < w.fenced
                        });
                        stamp != *changes && !windowed && !another_run(now)
                    }
                    None => true,
                })
                || self.docs.iter().any(|(doc_id, now)| {
                    !run.scope.contains(doc_id)
                        && !run.outside.contains_key(doc_id)
                        && !another_run(now)
                });
        if !intact || outside_changed {
            self.runs[index].status = ModelRunStatus::Blocked;
            return Ok("BLOCKED");
        }
        for (doc_id, backed_up) in &run.backup {
            let units = expected_units(&run.rules, doc_id, &backed_up.body)?;
            if let Some(doc) = self.docs.get_mut(doc_id) {
                Self::enact(doc, &run.id, units);
            }
        }
        self.runs[index].status = ModelRunStatus::Done;
        Ok("PASS")
    }

    /// Rollback takes back the run's own marks (its fence, its generation, its enact) on the
    /// documents it touched, and nothing else: an edit made since the backup is kept (the
    /// document goes back to `Ready`), documents it never touched are left alone, and a document
    /// held by a later run refuses the whole rollback before any change. Returns the outcome.
    fn rollback(&mut self, index: usize) -> &'static str {
        let run = self.runs[index].clone();
        let known = |backed_up: &ModelDoc, generation: &RunId| {
            *generation == run.id
                || backed_up.active.as_ref() == Some(generation)
                || backed_up.generations.contains_key(generation)
        };
        let touched = |doc: &ModelDoc| {
            doc.state
                == (DocumentState::Cutting {
                    run: run.id.clone(),
                })
                || doc.active.as_ref() == Some(&run.id)
                || doc.generations.contains_key(&run.id)
        };
        let later_run = run.backup.iter().any(|(doc_id, backed_up)| {
            self.docs
                .get(doc_id)
                .filter(|doc| touched(doc))
                .is_some_and(|doc| {
                    matches!(&doc.state, DocumentState::Cutting { run: r } if *r != run.id)
                        || doc.active.as_ref().is_some_and(|a| !known(backed_up, a))
                        || doc.generations.keys().any(|g| !known(backed_up, g))
                })
        });
        if later_run {
            return "REFUSED";
        }
        for (doc_id, backed_up) in &run.backup {
            let Some(doc) = self.docs.get_mut(doc_id) else {
                continue;
            };
            if !touched(&*doc) {
                continue;
            }
            let fenced = doc.state
                == (DocumentState::Cutting {
                    run: run.id.clone(),
                });
            let enacted = doc.active.as_ref() == Some(&run.id);
            let state = if doc.revision == backed_up.revision {
                backed_up.state.clone()
            } else {
                DocumentState::Ready
            };
            if enacted {
                if let Some(previous) = &backed_up.active {
                    doc.generations
                        .insert(previous.clone(), GenerationState::Active);
                }
                doc.active = backed_up.active.clone();
                doc.active_units = backed_up.active_units.clone();
                doc.state = state;
            } else if fenced {
                doc.state = state;
            }
            doc.generations.remove(&run.id);
            let held = self.holds.get(doc_id) == Some(&run.id);
            if held {
                self.holds.remove(doc_id);
            }
            if held && doc == backed_up {
                let seen = run.entries.get(doc_id).copied().unwrap_or(0);
                self.restored.push((doc_id.clone(), seen, run.fenced));
            }
        }
        self.runs[index].status = ModelRunStatus::RolledBack;
        "ROLLED_BACK"
    }

    fn views(&self) -> BTreeMap<DocumentId, DocumentView> {
        self.docs
            .iter()
            .map(|(id, doc)| {
                (
                    id.clone(),
                    DocumentView {
                        revision: doc.revision,
                        sha256: sha256_hex(doc.body.as_bytes()),
                        state: doc.state.clone(),
                        active_generation: doc.active.clone(),
                        active_units: doc.active_units.clone(),
                        generations: doc
                            .generations
                            .iter()
                            .map(|(g, s)| (g.clone(), format!("{s:?}")))
                            .collect(),
                    },
                )
            })
            .collect()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(32, 2)))]

    #[test]
    fn runs_rollbacks_held_runs_and_edits_match_the_model(ops in prop::collection::vec(op(), 1..14)) {
        runtime().block_on(async {
            let h = SimHarness::new(Simulator::new(), true);
            let mut model = Model::default();
            let mut next_run = 0u32;
            for (step, op) in ops.iter().enumerate() {
                let before = model.docs.clone();
                let outcome: Option<(&str, String)> = match op {
                    Op::Edit { doc, body } => {
                        let id = DocumentId::new(DOCS[*doc]);
                        h.adapter.put_document(&id, body).await
                            .map_err(|e| TestCaseError::fail(format!("step {step}: {e}")))?;
                        model.edit(id, body.clone());
                        None
                    }
                    Op::Run { scope, rules, hold } => {
                        next_run += 1;
                        let id = RunId::new(format!("run-{next_run:03}"));
                        let scope = scopes()[*scope].clone();
                        let rules = rule_choices()[*rules].clone();
                        let expected = model.run(id.clone(), &scope, &rules, *hold)?;
                        let options = if *hold { RunOptions::default().with_until("write-verify") } else { RunOptions::default() };
                        let report = h.runner.run(RunRequest::new(id, scope, rules), options).await
                            .map_err(|e| TestCaseError::fail(format!("step {step}: {e}")))?;
                        Some((expected, format!("{}|{:?}", report.outcome.name(), report.outcome)))
                    }
                    Op::EnactHeld => {
                        match model.runs.iter().rposition(|r| r.status == ModelRunStatus::Held) {
                            None => None,
                            Some(index) => {
                                let id = model.runs[index].id.clone();
                                let expected = model.enact_held(index)?;
                                let report = h.runner.resume(&id, RunOptions::default()).await
                                    .map_err(|e| TestCaseError::fail(format!("step {step}: {e}")))?;
                                Some((expected, format!("{}|{:?}", report.outcome.name(), report.outcome)))
                            }
                        }
                    }
                    Op::Rollback => {
                        match model.runs.iter().rposition(|r| r.status != ModelRunStatus::RolledBack) {
                            None => None,
                            Some(index) => {
                                let id = model.runs[index].id.clone();
                                let expected = model.rollback(index);
                                let report = h.runner.rollback(&id).await
                                    .map_err(|e| TestCaseError::fail(format!("step {step}: {e}")))?;
                                Some((expected, format!("{}|{:?}", report.outcome.name(), report.outcome)))
                            }
                        }
                    }
                };
                model.log_changes(&before);
                if let Some((expected, got)) = outcome {
                    prop_assert!(got.starts_with(&format!("{expected}|")),
                        "step {} {:?}: expected {}, got {}", step, op, expected, got);
                }
                prop_assert_eq!(view(&h.sim.state_snapshot()), model.views(), "after step {} {:?}", step, op);
            }
            Ok(())
        })?;
    }
}
