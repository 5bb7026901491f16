//! The census: one digest per document (its row, generations and units) and a fingerprint over
//! all of them. Every store computes it with this code, so equal states give equal fingerprints
//! whatever the backend.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::domain::{Census, Document, DocumentId, DocumentState, GenerationRecord, Unit};

/// sha256 of `bytes` as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// Streams one document's state into a digest.
///
/// Feed generations ordered by generation id, then units ordered by (generation, ordinal): the
/// order is part of the contract so that every store produces the same digest.
#[derive(Debug)]
pub struct DocumentDigester {
    hasher: Sha256,
    units: u64,
}

impl DocumentDigester {
    /// Starts a digest with the document row (the body enters through its sha256).
    pub fn new(document: &Document) -> Self {
        let mut digester = DocumentDigester {
            hasher: Sha256::new(),
            units: 0,
        };
        digester.field(b"doc");
        digester.field(document.id.as_str().as_bytes());
        digester.field(document.revision.to_string().as_bytes());
        digester.field(document.sha256.as_bytes());
        match &document.state {
            DocumentState::Ready => digester.field(b"ready"),
            DocumentState::Cutting { run } => {
                digester.field(b"cutting");
                digester.field(run.as_str().as_bytes());
            }
            DocumentState::Cut => digester.field(b"cut"),
        }
        match &document.active_generation {
            Some(generation) => digester.field(generation.as_str().as_bytes()),
            None => digester.field(b"-"),
        }
        digester
    }

    /// Adds one generation record.
    pub fn generation(&mut self, record: &GenerationRecord) {
        self.field(b"gen");
        self.field(record.generation.as_str().as_bytes());
        self.field(format!("{:?}", record.state).as_bytes());
    }

    /// Adds one unit (its text enters through its sha256, checked elsewhere).
    pub fn unit(&mut self, unit: &Unit) {
        self.units += 1;
        self.field(b"unit");
        self.field(unit.generation.as_str().as_bytes());
        self.field(unit.ordinal.to_string().as_bytes());
        self.field(unit.unit_id.as_bytes());
        self.field(unit.path.as_bytes());
        self.field(
            unit.part
                .map(|p| p.to_string())
                .unwrap_or_default()
                .as_bytes(),
        );
        self.field(unit.start.to_string().as_bytes());
        self.field(unit.end.to_string().as_bytes());
        self.field(unit.sha256.as_bytes());
    }

    /// Number of units fed so far.
    pub fn unit_count(&self) -> u64 {
        self.units
    }

    /// The digest, lowercase hex.
    pub fn finish(self) -> String {
        format!("{:x}", self.hasher.finalize())
    }

    // Length-prefixed so that no two different field sequences hash alike.
    fn field(&mut self, bytes: &[u8]) {
        self.hasher.update((bytes.len() as u64).to_le_bytes());
        self.hasher.update(bytes);
    }
}

/// Digest of one document given all its generations and units, in any order.
pub fn document_digest(
    document: &Document,
    generations: &[GenerationRecord],
    units: &[Unit],
) -> String {
    let mut generations: Vec<&GenerationRecord> = generations.iter().collect();
    generations.sort_by(|a, b| a.generation.cmp(&b.generation));
    let mut units: Vec<&Unit> = units.iter().collect();
    units.sort_by(|a, b| (&a.generation, a.ordinal).cmp(&(&b.generation, b.ordinal)));
    let mut digester = DocumentDigester::new(document);
    for record in generations {
        digester.generation(record);
    }
    for unit in units {
        digester.unit(unit);
    }
    digester.finish()
}

/// Assembles a census from per-document digests.
#[derive(Debug, Default)]
pub struct CensusBuilder {
    per_document: BTreeMap<DocumentId, String>,
    units: u64,
}

impl CensusBuilder {
    /// An empty census.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one document's digest and unit count.
    pub fn add(&mut self, document: DocumentId, digest: String, units: u64) {
        self.units += units;
        self.per_document.insert(document, digest);
    }

    /// The census.
    pub fn finish(self) -> Census {
        let mut hasher = Sha256::new();
        for (id, digest) in &self.per_document {
            hasher.update((id.as_str().len() as u64).to_le_bytes());
            hasher.update(id.as_str().as_bytes());
            hasher.update(digest.as_bytes());
        }
        Census {
            documents: self.per_document.len() as u64,
            units: self.units,
            fingerprint: format!("{:x}", hasher.finalize()),
            per_document: self.per_document,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{GenerationState, RunId};

    fn doc(state: DocumentState) -> Document {
        Document {
            id: DocumentId::new("a"),
            revision: 1,
            sha256: sha256_hex(b"x"),
            state,
            active_generation: None,
            body: "x".into(),
        }
    }

    #[test]
    fn digest_depends_on_state_and_generations_but_not_input_order() {
        let ready = document_digest(&doc(DocumentState::Ready), &[], &[]);
        let cut = document_digest(&doc(DocumentState::Cut), &[], &[]);
        assert_ne!(ready, cut);
        let g = |id: &str, state| GenerationRecord {
            document: DocumentId::new("a"),
            generation: RunId::new(id),
            state,
        };
        let one = document_digest(
            &doc(DocumentState::Cut),
            &[
                g("r1", GenerationState::Retired),
                g("r2", GenerationState::Active),
            ],
            &[],
        );
        let other_order = document_digest(
            &doc(DocumentState::Cut),
            &[
                g("r2", GenerationState::Active),
                g("r1", GenerationState::Retired),
            ],
            &[],
        );
        assert_eq!(one, other_order);
        assert_ne!(one, cut);
    }

    #[test]
    fn census_fingerprint_changes_with_any_digest() {
        let mut a = CensusBuilder::new();
        a.add(DocumentId::new("x"), "1".into(), 2);
        a.add(DocumentId::new("y"), "2".into(), 3);
        let a = a.finish();
        assert_eq!((a.documents, a.units), (2, 5));
        let mut b = CensusBuilder::new();
        b.add(DocumentId::new("x"), "1".into(), 2);
        b.add(DocumentId::new("y"), "3".into(), 3);
        assert_ne!(a.fingerprint, b.finish().fingerprint);
    }
}
