//! The run's backup, indexed by document: what the phases after the plan look a planned
//! document up in.

use std::collections::BTreeMap;

use iu_cutter_live_execution::{Backup, Document, DocumentId, DocumentPlan, RunId};

use crate::error::PhaseError;

/// The backed-up documents of a run, by id.
#[derive(Debug)]
pub struct BackedUp<'b> {
    run: &'b RunId,
    documents: BTreeMap<&'b DocumentId, &'b Document>,
}

impl<'b> BackedUp<'b> {
    /// Indexes the documents of `run`'s backup.
    pub fn new(run: &'b RunId, backup: &'b Backup) -> Self {
        BackedUp {
            run,
            documents: backup
                .documents
                .iter()
                .map(|s| (&s.document.id, &s.document))
                .collect(),
        }
    }

    /// The backed-up document `id`, if the backup holds it.
    pub fn get(&self, id: &DocumentId) -> Option<&'b Document> {
        self.documents.get(id).copied()
    }

    /// The backed-up source of a planned document; a precondition failure when the backup lacks
    /// it (the plan does not fit the backup).
    // `PhaseError` carries its `Gap` inline on purpose (phases build and match it by value).
    #[allow(clippy::result_large_err)]
    pub fn planned(&self, doc_plan: &DocumentPlan) -> Result<&'b Document, PhaseError> {
        self.get(&doc_plan.document).ok_or_else(|| {
            PhaseError::Precondition(format!(
                "document `{}` is planned but not in run {}'s backup; the plan does not fit the backup",
                doc_plan.document, self.run
            ))
        })
    }
}
