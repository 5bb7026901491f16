//! A plan written and read a part at a time: how a run's plan is journaled and used without its
//! documents ever being in memory together.
//!
//! A journaled plan is its *head* (the plan without its documents, as canonical text) and its
//! *parts*, each the canonical text of a run of its document plans, `[DOCUMENT,…]`, in order.
//! The plan's sha256 ([`Plan::sha256`]) is computed over the same pieces as they pass: the
//! head's opening, each document's canonical text (after a `,` but for the first), then `]}`.
//! [`PlanWriter`] builds the parts and the hash as documents are pushed; [`PlanVerifier`] hashes
//! the parts read back, byte for byte as stored, so that a part changed in the store (even into
//! other JSON that parses to the same plans) is refused.

use super::canonical;
use super::{DocumentPlan, Plan};
use crate::digest::Sha256Hasher;
use crate::rules::CutRules;

/// Bytes of canonical text per part of a journaled plan (about: a part ends after the document
/// that reaches it): large enough that a plan of 200,000 documents is a few hundred parts, small
/// enough that no statement carries a large scope's plan.
pub const PLAN_PART_BYTES: usize = 4 << 20;

/// The canonical text of `plan`'s head: the plan without its documents (`"documents":[]`), what
/// a store keeps beside the parts.
pub fn plan_head_text(schema_version: u32, rules: &CutRules) -> String {
    canonical::plan_text(&Plan {
        schema_version,
        rules: rules.clone(),
        documents: Vec::new(),
    })
}

/// A journaled plan's head or part that cannot be what was journaled: the journal was changed
/// outside iu-cutter (a store reports it as [`crate::AdapterError::Invalid`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}; the journal was changed outside iu-cutter: roll the run back and start a new one")]
pub struct PlanPartError(String);

/// A journaled plan's head (part 0 of [`crate::Plans::load_plan_part`]) read back: the plan
/// without its documents (a plan journaled before parts existed carries them all here).
pub fn parse_plan_head(text: &str) -> Result<Plan, PlanPartError> {
    serde_json::from_str(text).map_err(|e| {
        PlanPartError(format!(
            "the head of the journaled plan does not parse: {e}"
        ))
    })
}

/// Hashes a plan's canonical pieces as they pass (see the module documentation).
#[derive(Debug)]
struct PieceHasher {
    hasher: Sha256Hasher,
    documents: u64,
}

impl PieceHasher {
    fn new(schema_version: u32, rules: &CutRules) -> Self {
        let mut hasher = Sha256Hasher::new();
        let head = Plan {
            schema_version,
            rules: rules.clone(),
            documents: Vec::new(),
        };
        // The head's pieces are its opening, then `]}`: hash the opening alone.
        let mut first = true;
        canonical::plan_pieces(&head, |piece| {
            if std::mem::take(&mut first) {
                hasher.update(piece.as_bytes());
            }
            Ok::<(), std::convert::Infallible>(())
        })
        .unwrap_or_else(|never| match never {});
        PieceHasher {
            hasher,
            documents: 0,
        }
    }

    /// Hashes the canonical text of the next documents, `text` (one or more, comma-separated).
    fn documents(&mut self, text: &str, count: u64) {
        if self.documents > 0 {
            self.hasher.update(b",");
        }
        self.hasher.update(text.as_bytes());
        self.documents += count;
    }

    fn finish(mut self) -> String {
        self.hasher.update(b"]}");
        self.hasher.finish().hex()
    }
}

/// Builds a plan's parts and sha256 as its documents are pushed, in order: the writer holds one
/// part at a time.
#[derive(Debug)]
pub struct PlanWriter {
    hasher: PieceHasher,
    part: String,
    part_bytes: usize,
    piece: String,
    units: u64,
}

impl PlanWriter {
    /// A writer of the plan with `schema_version` and `rules`, in parts of about
    /// [`PLAN_PART_BYTES`].
    pub fn new(schema_version: u32, rules: &CutRules) -> Self {
        Self::with_part_bytes(schema_version, rules, PLAN_PART_BYTES)
    }

    /// A writer whose parts are about `part_bytes` long (one document at least).
    pub fn with_part_bytes(schema_version: u32, rules: &CutRules, part_bytes: usize) -> Self {
        PlanWriter {
            hasher: PieceHasher::new(schema_version, rules),
            part: String::new(),
            part_bytes,
            piece: String::new(),
            units: 0,
        }
    }

    /// Adds the next document's plan (documents are pushed in id order); returns a part when
    /// this document completes one.
    pub fn push(&mut self, document: &DocumentPlan) -> Option<String> {
        self.piece.clear();
        canonical::document_text(&mut self.piece, document);
        self.hasher.documents(&self.piece, 1);
        self.units += document.units.len() as u64;
        self.part.push(if self.part.is_empty() { '[' } else { ',' });
        self.part.push_str(&self.piece);
        (self.part.len() >= self.part_bytes).then(|| self.take_part())
    }

    fn take_part(&mut self) -> String {
        self.part.push(']');
        std::mem::take(&mut self.part)
    }

    /// How many documents were pushed.
    pub fn documents(&self) -> u64 {
        self.hasher.documents
    }

    /// How many units the documents pushed plan.
    pub fn units(&self) -> u64 {
        self.units
    }

    /// Ends the plan: its last part (`None` when the pushed documents ended one, or there were
    /// none) and the plan's sha256, the one [`Plan::sha256`] gives for the whole plan.
    pub fn finish(mut self) -> (Option<String>, String) {
        let last = (!self.part.is_empty()).then(|| self.take_part());
        (last, self.hasher.finish())
    }
}

/// The parts of `plan`'s documents, as [`PlanWriter`] cuts them with parts of about
/// `part_bytes`: how a plan held whole is journaled.
pub fn plan_parts(plan: &Plan, part_bytes: usize) -> Vec<String> {
    let mut writer = PlanWriter::with_part_bytes(plan.schema_version, &plan.rules, part_bytes);
    let mut parts: Vec<String> = plan
        .documents
        .iter()
        .filter_map(|d| writer.push(d))
        .collect();
    parts.extend(writer.finish().0);
    parts
}

/// Checks a plan read back a part at a time against its journaled sha256: each part is parsed
/// and hashed exactly as stored.
#[derive(Debug)]
pub struct PlanVerifier {
    hasher: PieceHasher,
    parts: u64,
}

impl PlanVerifier {
    /// A verifier of the plan whose head (no documents) is `head`.
    pub fn new(head: &Plan) -> Self {
        PlanVerifier {
            hasher: PieceHasher::new(head.schema_version, &head.rules),
            parts: 0,
        }
    }

    /// The document plans of the next part, `text`, hashed as stored. A part that is not a
    /// non-empty JSON array of document plans is refused.
    pub fn part(&mut self, text: &str) -> Result<Vec<DocumentPlan>, PlanPartError> {
        let seq = self.parts;
        self.parts += 1;
        let refused =
            |why: String| PlanPartError(format!("part {seq} of the journaled plan {why}"));
        let documents: Vec<DocumentPlan> =
            serde_json::from_str(text).map_err(|e| refused(format!("does not parse: {e}")))?;
        let inner = text
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .filter(|inner| !inner.is_empty() && !documents.is_empty())
            .ok_or_else(|| refused("is not a list of document plans".to_owned()))?;
        self.hasher.documents(inner, documents.len() as u64);
        Ok(documents)
    }

    /// The sha256 of the plan read so far (its head and every part given), to compare with the
    /// journaled one once the last part is read.
    pub fn finish(self) -> String {
        self.hasher.finish()
    }
}
