//! The run's backup read alongside its plan, a batch of documents at a time: how the phases after
//! the plan get each planned document's backed-up source without the whole scope's bodies in
//! memory.

use iu_cutter_live_execution::{Backup, Document, DocumentPlan, DocumentSnapshot, RunId};

use crate::backup_store::BackupReader;
use crate::error::PhaseError;

/// Pairs the backup's documents, in the order the backup gives them, with the plan's: both are
/// in id order (the backup phase writes its snapshots so, the plan is computed so), so one walk
/// over each pairs them. A backed-up document the plan does not name is passed over; a planned
/// document the backup lacks is a precondition failure (the plan does not fit the backup), as
/// it was when the backup was looked up whole.
#[derive(Debug)]
pub(crate) struct Merge<'p> {
    run: RunId,
    plan: &'p [DocumentPlan],
    next: usize,
}

impl<'p> Merge<'p> {
    pub(crate) fn new(run: RunId, plan: &'p [DocumentPlan]) -> Self {
        Merge { run, plan, next: 0 }
    }

    /// The planned documents among `snapshots` (the backup's next ones), each with its plan.
    // `PhaseError` carries its `Gap` inline on purpose (phases build and match it by value).
    #[allow(clippy::result_large_err)]
    pub(crate) fn pair(
        &mut self,
        snapshots: Vec<DocumentSnapshot>,
    ) -> Result<Vec<(&'p DocumentPlan, Document)>, PhaseError> {
        let mut paired = Vec::with_capacity(snapshots.len());
        for snapshot in snapshots {
            let id = &snapshot.document.id;
            if let Some(planned) = self.plan.get(self.next)
                && planned.document < *id
            {
                return Err(self.missing(planned));
            }
            match self.plan.get(self.next) {
                Some(planned) if planned.document == *id => {
                    self.next += 1;
                    paired.push((planned, snapshot.document));
                }
                _ => {}
            }
        }
        Ok(paired)
    }

    /// After the backup's last document: every planned document was found.
    #[allow(clippy::result_large_err)]
    pub(crate) fn finish(&self) -> Result<(), PhaseError> {
        match self.plan.get(self.next) {
            Some(planned) => Err(self.missing(planned)),
            None => Ok(()),
        }
    }

    fn missing(&self, planned: &DocumentPlan) -> PhaseError {
        PhaseError::Precondition(format!(
            "document `{}` is planned but not in run {}'s backup; the plan does not fit the backup",
            planned.document, self.run
        ))
    }
}

/// The check for [`RunContext::planned_sources`](crate::RunContext::planned_sources) of a phase
/// that checks each source as it reads it: any backed-up source passes.
// `PhaseError` carries its `Gap` inline on purpose (phases build and match it by value).
#[allow(clippy::result_large_err)]
pub fn any_source(_: &DocumentPlan, _: &Document) -> Result<(), PhaseError> {
    Ok(())
}

/// The run's backup read alongside its plan ([`RunContext::planned_sources`]
/// (crate::RunContext::planned_sources)): each batch is the next backed-up documents the plan
/// names, with their plans, in plan order.
#[derive(Debug)]
pub struct PlannedSources<'p> {
    pub(crate) reader: BackupReader,
    pub(crate) merge: Merge<'p>,
    pub(crate) batch: usize,
}

impl<'p> PlannedSources<'p> {
    /// The backup's header: everything but its documents.
    pub fn head(&self) -> &Backup {
        self.reader.head()
    }

    /// The next planned documents' backed-up sources, with their plans; `None` after the last.
    /// A batch may be empty when the backup holds documents the plan does not name.
    #[allow(clippy::result_large_err)]
    pub async fn next_batch(
        &mut self,
    ) -> Result<Option<Vec<(&'p DocumentPlan, Document)>>, PhaseError> {
        match self.reader.next_batch(self.batch).await? {
            Some(snapshots) => self.merge.pair(snapshots).map(Some),
            None => self.merge.finish().map(|()| None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iu_cutter_live_execution::{DocumentId, DocumentState};

    fn planned(id: &str) -> DocumentPlan {
        DocumentPlan {
            document: DocumentId::new(id),
            revision: 1,
            source_sha256: String::new(),
            source_bytes: 0,
            units: vec![],
            preset: None,
        }
    }

    fn snapshots(ids: &[&str]) -> Vec<DocumentSnapshot> {
        ids.iter()
            .map(|id| DocumentSnapshot {
                document: Document {
                    id: DocumentId::new(*id),
                    revision: 1,
                    sha256: String::new(),
                    state: DocumentState::Ready,
                    active_generation: None,
                    body: "body".into(),
                },
                generations: vec![],
                active_units: vec![],
            })
            .collect()
    }

    fn ids(paired: &[(&DocumentPlan, Document)]) -> Vec<String> {
        paired
            .iter()
            .map(|(plan, document)| {
                assert_eq!(plan.document, document.id);
                document.id.as_str().to_owned()
            })
            .collect()
    }

    #[test]
    fn pairs_every_planned_document_once_in_order_across_batches()
    -> Result<(), Box<dyn std::error::Error>> {
        let plan = [planned("a"), planned("c"), planned("d")];
        let mut merge = Merge::new(RunId::new("r"), &plan);
        // `b` is backed up but not planned: passed over.
        assert_eq!(ids(&merge.pair(snapshots(&["a", "b"]))?), ["a"]);
        assert_eq!(ids(&merge.pair(snapshots(&[]))?), Vec::<String>::new());
        assert_eq!(ids(&merge.pair(snapshots(&["c", "d"]))?), ["c", "d"]);
        merge.finish()?;
        Ok(())
    }

    #[test]
    fn a_planned_document_the_backup_lacks_is_a_precondition_failure() {
        let plan = [planned("a"), planned("b"), planned("c")];
        let mut merge = Merge::new(RunId::new("r"), &plan);
        let missing = merge.pair(snapshots(&["a", "c"]));
        assert!(
            matches!(&missing, Err(PhaseError::Precondition(m)) if m.contains("`b` is planned")),
            "{missing:?}"
        );
        let mut merge = Merge::new(RunId::new("r"), &plan);
        assert!(merge.pair(snapshots(&["a", "b"])).is_ok());
        let last = merge.finish();
        assert!(
            matches!(&last, Err(PhaseError::Precondition(m)) if m.contains("`c` is planned")),
            "{last:?}"
        );
    }
}
