//! The census: one digest per document (its row, generations and units) and a fingerprint over
//! all of them. Every store computes it with this code, so equal states give equal fingerprints
//! whatever the backend.
//!
//! # Canonical encoding
//!
//! Fingerprints are compared across processes, versions and backends (a dry run's attestation,
//! a backup's census, rollback's check), so the bytes hashed are defined here, field by field,
//! and never by a `Debug` or serializer output that a refactoring could change. Tests pin them.
//!
//! A *field* is its length as a little-endian `u64` (8 bytes), then its bytes. Numbers are
//! decimal ASCII without sign or leading zeros; strings are their UTF-8 bytes; sha256 values are
//! 64 lowercase hex digits.
//!
//! A document's digest is sha256 over these fields, in order:
//!
//! 1. `doc`, the document id, its revision, the sha256 of its body;
//! 2. its state: `ready`; or `cutting` then the run id; or `cut`;
//! 3. its active generation's run id, or `-` for none;
//! 4. per generation record, by generation id bytewise: `gen`, the generation id, and its state
//!    as `Staged`, `Active` or `Retired` (capitalised: the words the first stores hashed);
//! 5. per unit, by (generation id bytewise, ordinal): `unit`, the generation id, ordinal, unit
//!    id, path, part (the empty field for none), start, end, the sha256 of its body.
//!
//! The digest is written as 64 lowercase hex digits. The census fingerprint is sha256 over, per
//! document by id bytewise: the id as a field, then its digest's 64 hex digits (not a field).

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::digest::Sha256Digest;
use crate::error::AdapterError;

use crate::domain::{
    Census, Document, DocumentId, DocumentState, GenerationRecord, GenerationState, StoreSnapshot,
    Unit,
};

/// sha256 of `bytes` as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    crate::Sha256Digest::of(bytes).hex()
}

/// Streams one document's state into a digest.
///
/// Feed generations ordered by generation id, then units ordered by (generation, ordinal): the
/// order is part of the contract so that every store produces the same digest.
///
/// A unit enters only with a record of its generation: units whose generation has no record of
/// the document (which no reader sees; an application's raw deletion of a document's records
/// can leave them, since no foreign key ties units to anything) are in no document's digest
/// and no count, on every store. Otherwise every census would count them and no rollback could
/// give them back, since it reads a document's generations from its records.
#[derive(Debug)]
pub struct DocumentDigester {
    hasher: FieldHasher,
    units: u64,
    /// The generations fed as records, in the order fed.
    recorded: Vec<String>,
}

impl DocumentDigester {
    /// Starts a digest with the document row (the body enters through its sha256).
    pub fn new(document: &Document) -> Self {
        let mut digester = DocumentDigester {
            hasher: FieldHasher::default(),
            units: 0,
            recorded: Vec::new(),
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
        self.recorded.push(record.generation.as_str().to_owned());
        self.field(b"gen");
        self.field(record.generation.as_str().as_bytes());
        self.field(generation_state(record.state));
    }

    /// Adds one unit (its text enters through its sha256, checked elsewhere).
    pub fn unit(&mut self, unit: &Unit) {
        self.unit_fields(&UnitFields::of(unit));
    }

    /// Adds one unit given by its digested fields, borrowed (what a store reading rows in bulk
    /// has at hand, without building a [`Unit`]); the same digest as [`DocumentDigester::unit`].
    /// A unit of a generation not fed as a record is passed over (see the type).
    pub fn unit_fields(&mut self, unit: &UnitFields<'_>) {
        if !self.recorded.iter().any(|g| g == unit.generation) {
            return;
        }
        self.units += 1;
        self.field(b"unit");
        self.field(unit.generation.as_bytes());
        self.hasher.span(unit);
    }

    /// Number of units counted so far (fed with a record of their generation).
    pub fn unit_count(&self) -> u64 {
        self.units
    }

    /// The digest.
    pub fn finish(self) -> Sha256Digest {
        self.hasher.finish_raw()
    }

    fn field(&mut self, bytes: &[u8]) {
        self.hasher.field(bytes);
    }
}

/// What the document and generation digests are made of: sha256 over length-prefixed fields,
/// so that no two different field sequences hash alike.
#[derive(Debug, Default)]
struct FieldHasher(Sha256);

impl FieldHasher {
    fn field(&mut self, bytes: &[u8]) {
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
    }

    /// A unit's place and recorded content, as both digests take it: ordinal, id, path, part
    /// (empty for none), byte range and recorded sha256.
    fn span(&mut self, unit: &UnitFields<'_>) {
        let mut digits = [0u8; 20];
        self.field(decimal(u64::from(unit.ordinal), &mut digits));
        self.field(unit.unit_id.as_bytes());
        self.field(unit.path.as_bytes());
        match unit.part {
            Some(part) => self.field(decimal(u64::from(part), &mut digits)),
            None => self.field(b""),
        }
        self.field(decimal(unit.start, &mut digits));
        self.field(decimal(unit.end, &mut digits));
        self.field(unit.sha256.as_bytes());
    }

    /// The digest, lowercase hex.
    fn finish(self) -> String {
        self.finish_raw().hex()
    }

    /// The digest.
    fn finish_raw(self) -> Sha256Digest {
        Sha256Digest::from_bytes(self.0.finalize().into())
    }
}

/// A generation state's bytes in the census (see the module's encoding).
fn generation_state(state: GenerationState) -> &'static [u8] {
    match state {
        GenerationState::Staged => b"Staged",
        GenerationState::Active => b"Active",
        GenerationState::Retired => b"Retired",
    }
}

/// The fields of a unit that enter the census (everything but the body, which enters through
/// its sha256), borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnitFields<'a> {
    /// The unit's generation (the run that cut it).
    pub generation: &'a str,
    /// Position in the document.
    pub ordinal: u32,
    /// Stable unit id.
    pub unit_id: &'a str,
    /// Hierarchical path.
    pub path: &'a str,
    /// Part number of a split unit.
    pub part: Option<u32>,
    /// First byte of the span.
    pub start: u64,
    /// One past the last byte of the span.
    pub end: u64,
    /// sha256 of the body, lowercase hex.
    pub sha256: &'a str,
}

impl<'a> UnitFields<'a> {
    /// The fields of `unit`.
    pub fn of(unit: &'a Unit) -> Self {
        UnitFields {
            generation: unit.generation.as_str(),
            ordinal: unit.ordinal,
            unit_id: &unit.unit_id,
            path: &unit.path,
            part: unit.part,
            start: unit.start,
            end: unit.end,
            sha256: &unit.sha256,
        }
    }
}

/// `n` in decimal ASCII (what `to_string` gives), into `buf`, without allocating: the census
/// feeds several numbers per unit, and the cut engine's unit ids one or two.
#[inline]
pub fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
        }
    }
}

/// The digest of one document's generation as its units are stored (`staged_units` of
/// [`crate::ExpectedRevision`]): per unit, in ordinal order, its ordinal, id, path, part, byte
/// range, recorded sha256 and the sha256 of its body as stored, length-prefixed like the census.
/// A plan's units give the same digest ([`crate::DocumentPlan::units_digest`]) exactly when the
/// stored generation is the planned one, bodies included: enact compares the two inside its
/// transaction, so units edited after write-verify are never enacted.
#[derive(Debug)]
pub struct GenerationDigester {
    hasher: FieldHasher,
}

impl Default for GenerationDigester {
    fn default() -> Self {
        Self::new()
    }
}

impl GenerationDigester {
    /// An empty generation.
    pub fn new() -> Self {
        let mut hasher = FieldHasher::default();
        hasher.field(b"generation");
        GenerationDigester { hasher }
    }

    /// Adds the next unit (feed them in ordinal order): its fields, then the sha256 of its body
    /// as stored.
    pub fn unit(&mut self, unit: &UnitFields<'_>, body_sha256: &str) {
        self.hasher.field(b"unit");
        self.hasher.span(unit);
        self.hasher.field(body_sha256.as_bytes());
    }

    /// The digest, lowercase hex.
    pub fn finish(self) -> String {
        self.hasher.finish()
    }
}

/// Digest of one document given all its generations and units, in any order.
pub fn document_digest(
    document: &Document,
    generations: &[GenerationRecord],
    units: &[Unit],
) -> Sha256Digest {
    document_digest_and_units(document, generations, units).0
}

/// [`document_digest`], and how many units it counted (see [`DocumentDigester`]).
fn document_digest_and_units(
    document: &Document,
    generations: &[GenerationRecord],
    units: &[Unit],
) -> (Sha256Digest, u64) {
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
    let count = digester.unit_count();
    (digester.finish(), count)
}

/// The census of `snapshot`, each document digested with its generations and units: what every
/// store's `census()` must equal for that state (a store streams the same digests instead).
pub fn snapshot_census(snapshot: &StoreSnapshot) -> Census {
    let generations = by_document(&snapshot.generations, |g| &g.document);
    let units = by_document(&snapshot.units, |u| &u.document);
    let mut builder = CensusBuilder::new();
    for document in &snapshot.documents {
        let generations = generations.get(&document.id).map_or(&[][..], Vec::as_slice);
        let units = units.get(&document.id).map_or(&[][..], Vec::as_slice);
        let (digest, units) = document_digest_and_units(document, generations, units);
        builder.add(document.id.clone(), digest, units);
    }
    builder.finish()
}

/// `items` grouped by the document each belongs to, in their order.
fn by_document<T: Clone>(
    items: &[T],
    document: fn(&T) -> &DocumentId,
) -> BTreeMap<&DocumentId, Vec<T>> {
    let mut grouped: BTreeMap<&DocumentId, Vec<T>> = BTreeMap::new();
    for item in items {
        grouped
            .entry(document(item))
            .or_default()
            .push(item.clone());
    }
    grouped
}

/// Assembles a census from per-document digests.
#[derive(Debug, Default)]
pub struct CensusBuilder {
    per_document: BTreeMap<DocumentId, Sha256Digest>,
    units: u64,
}

impl CensusBuilder {
    /// An empty census.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one document's digest and unit count.
    pub fn add(&mut self, document: DocumentId, digest: Sha256Digest, units: u64) {
        self.units += units;
        self.per_document.insert(document, digest);
    }

    /// Adds every document of `census`, a census of other documents (a census taken a batch of
    /// documents at a time is the census of them all).
    pub fn extend(&mut self, census: Census) {
        self.units += census.units;
        self.per_document.extend(census.per_document);
    }

    /// The census.
    pub fn finish(self) -> Census {
        let mut hasher = Sha256::new();
        for (id, digest) in &self.per_document {
            fingerprint_entry(&mut hasher, id, digest);
        }
        Census {
            documents: self.per_document.len() as u64,
            units: self.units,
            fingerprint: format!("{:x}", hasher.finalize()),
            per_document: self.per_document,
        }
    }
}

/// Feeds one document's entry to a census fingerprint (see the module's canonical encoding).
fn fingerprint_entry(hasher: &mut Sha256, id: &DocumentId, digest: &Sha256Digest) {
    hasher.update((id.as_str().len() as u64).to_le_bytes());
    hasher.update(id.as_str().as_bytes());
    hasher.update(digest.hex_digits().as_str().as_bytes());
}

/// Folds documents' digests, given in id order, into a census's counts and fingerprint without
/// keeping them: a census whose memory does not grow with its documents, for a caller that needs
/// only its summary. The result equals [`CensusBuilder`]'s but for an empty
/// [`Census::per_document`].
#[derive(Debug, Default)]
pub struct RunningCensus {
    hasher: Sha256,
    documents: u64,
    units: u64,
    last: Option<DocumentId>,
}

impl RunningCensus {
    /// An empty census.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one document's digest and unit count. Documents must come in strictly increasing id
    /// order (bytewise), as every store's census reads them: any other order is
    /// [`AdapterError::Invalid`], since the fingerprint would then differ from the one of the
    /// same documents in a [`CensusBuilder`].
    pub fn add(
        &mut self,
        document: DocumentId,
        digest: &Sha256Digest,
        units: u64,
    ) -> Result<(), AdapterError> {
        if let Some(last) = &self.last
            && *last >= document
        {
            return Err(AdapterError::Invalid(format!(
                "a running census was given document `{document}` after `{last}`: out of id order"
            )));
        }
        fingerprint_entry(&mut self.hasher, &document, digest);
        self.documents += 1;
        self.units += units;
        self.last = Some(document);
        Ok(())
    }

    /// Adds every document of `census`, a census of other documents that all come after those
    /// added so far (a census taken a batch of documents at a time, in id order, is the census
    /// of them all); its digests are folded, not kept.
    pub fn extend(&mut self, census: Census) -> Result<(), AdapterError> {
        for (document, digest) in census.per_document {
            self.add(document, &digest, 0)?;
        }
        self.units += census.units;
        Ok(())
    }

    /// The census, without its per-document digests.
    pub fn finish(self) -> Census {
        Census {
            documents: self.documents,
            units: self.units,
            fingerprint: format!("{:x}", self.hasher.finalize()),
            per_document: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::RunId;

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
    fn a_running_census_is_the_census_without_its_digests() -> Result<(), AdapterError> {
        let documents = [("a", 1u8, 2u64), ("b", 2, 0), ("b1", 3, 5), ("c", 4, 1)];
        let mut whole = CensusBuilder::new();
        let mut running = RunningCensus::new();
        for (id, byte, units) in documents {
            let digest = Sha256Digest::of(&[byte]);
            whole.add(DocumentId::new(id), digest, units);
            running.add(DocumentId::new(id), &digest, units)?;
        }
        let whole = whole.finish();
        let running = running.finish();
        assert_eq!(
            (running.documents, running.units, &running.fingerprint),
            (whole.documents, whole.units, &whole.fingerprint)
        );
        assert!(running.per_document.is_empty());
        // Out of id order (or a repeated id) would fingerprint differently: refused.
        let mut disordered = RunningCensus::new();
        disordered.add(DocumentId::new("b"), &Sha256Digest::of(b"b"), 0)?;
        assert!(
            disordered
                .add(DocumentId::new("a"), &Sha256Digest::of(b"a"), 0)
                .is_err()
        );
        assert!(
            disordered
                .add(DocumentId::new("b"), &Sha256Digest::of(b"b"), 0)
                .is_err()
        );
        Ok(())
    }

    #[test]
    fn a_running_census_extended_by_batches_is_the_census_of_them_all() -> Result<(), AdapterError>
    {
        let batch = |ids: &[(&str, u8)], units: u64| {
            let mut builder = CensusBuilder::new();
            for (id, byte) in ids {
                builder.add(DocumentId::new(*id), Sha256Digest::of(&[*byte]), 0);
            }
            let mut census = builder.finish();
            census.units = units;
            census
        };
        let (first, second) = (batch(&[("a", 1), ("b", 2)], 3), batch(&[("c", 3)], 4));
        let mut whole = CensusBuilder::new();
        whole.extend(first.clone());
        whole.extend(second.clone());
        let whole = whole.finish();
        let mut running = RunningCensus::new();
        running.extend(first.clone())?;
        running.extend(second)?;
        let running = running.finish();
        assert_eq!(
            (running.documents, running.units, &running.fingerprint),
            (3, 7, &whole.fingerprint)
        );
        assert!(running.per_document.is_empty());
        // A batch before those added already would fingerprint differently: refused.
        let mut disordered = RunningCensus::new();
        disordered.extend(batch(&[("c", 3)], 0))?;
        assert!(disordered.extend(first).is_err());
        Ok(())
    }

    #[test]
    fn decimal_is_to_string() {
        let mut buf = [0u8; 20];
        for n in [0, 7, 10, 99, 1_000_000_007, u64::MAX] {
            assert_eq!(decimal(n, &mut buf), n.to_string().as_bytes());
        }
    }

    #[test]
    fn unit_fields_digest_exactly_like_the_unit() {
        // The digest these bytes were taken from before `unit_fields` existed: a store that
        // reads fields in bulk must fingerprint exactly like one that builds units.
        let unit = Unit {
            document: DocumentId::new("a"),
            generation: RunId::new("run-1"),
            ordinal: 12,
            unit_id: "0123456789abcdef0123456789abcdef".into(),
            path: "Chương II/Điều 44".into(),
            part: Some(3),
            start: 1_000,
            end: 4_096,
            sha256: sha256_hex(b"body"),
            body: "ignored".into(),
        };
        let record = GenerationRecord {
            document: DocumentId::new("a"),
            generation: RunId::new("run-1"),
            state: GenerationState::Active,
        };
        let mut by_unit = DocumentDigester::new(&doc(DocumentState::Cut));
        by_unit.generation(&record);
        by_unit.unit(&unit);
        let mut expected = Sha256::new();
        let mut field = |bytes: &[u8]| {
            expected.update((bytes.len() as u64).to_le_bytes());
            expected.update(bytes);
        };
        let d = doc(DocumentState::Cut);
        for bytes in [
            &b"doc"[..],
            b"a",
            b"1",
            d.sha256.as_bytes(),
            b"cut",
            b"-",
            b"gen",
            b"run-1",
            b"Active",
            b"unit",
            b"run-1",
            b"12",
            unit.unit_id.as_bytes(),
            unit.path.as_bytes(),
            b"3",
            b"1000",
            b"4096",
            unit.sha256.as_bytes(),
        ] {
            field(bytes);
        }
        assert_eq!(by_unit.finish(), format!("{:x}", expected.finalize()));

        let mut no_part = DocumentDigester::new(&doc(DocumentState::Cut));
        no_part.generation(&record);
        no_part.unit(&Unit {
            part: None,
            ..unit.clone()
        });
        let mut with_part = DocumentDigester::new(&doc(DocumentState::Cut));
        with_part.generation(&record);
        with_part.unit(&unit);
        assert_ne!(no_part.finish(), with_part.finish());
    }

    #[test]
    fn a_generation_digests_each_units_span_and_stored_body_hash() {
        // The layout enact compares inside its transaction: a change to it must be deliberate.
        let unit = UnitFields {
            generation: "run-1",
            ordinal: 12,
            unit_id: "0123456789abcdef0123456789abcdef",
            path: "Chương II/Điều 44",
            part: Some(3),
            start: 1_000,
            end: 4_096,
            sha256: "recorded",
        };
        let mut digester = GenerationDigester::new();
        digester.unit(&unit, "stored");
        digester.unit(&UnitFields { part: None, ..unit }, "stored");
        let mut expected = Sha256::new();
        let mut field = |bytes: &[u8]| {
            expected.update((bytes.len() as u64).to_le_bytes());
            expected.update(bytes);
        };
        field(b"generation");
        for part in [&b"3"[..], b""] {
            for bytes in [
                &b"unit"[..],
                b"12",
                unit.unit_id.as_bytes(),
                unit.path.as_bytes(),
                part,
                b"1000",
                b"4096",
                b"recorded",
                b"stored",
            ] {
                field(bytes);
            }
        }
        assert_eq!(digester.finish(), format!("{:x}", expected.finalize()));
    }

    #[test]
    fn a_unit_without_a_record_of_its_generation_is_in_no_digest() {
        let record = |generation: &str| GenerationRecord {
            document: DocumentId::new("a"),
            generation: RunId::new(generation),
            state: GenerationState::Active,
        };
        let unit = |generation: &str| Unit {
            document: DocumentId::new("a"),
            generation: RunId::new(generation),
            ordinal: 0,
            unit_id: "u".into(),
            path: "p".into(),
            part: None,
            start: 0,
            end: 1,
            sha256: sha256_hex(b"x"),
            body: "x".into(),
        };
        let d = doc(DocumentState::Cut);
        let alone = document_digest_and_units(&d, &[record("r2")], &[unit("r2")]);
        let with_leftover =
            document_digest_and_units(&d, &[record("r2")], &[unit("r1"), unit("r2")]);
        assert_eq!(alone, with_leftover);
        assert_eq!(alone.1, 1);
        assert_eq!(document_digest_and_units(&d, &[], &[unit("r1")]).1, 0);
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
        a.add(DocumentId::new("x"), Sha256Digest::of(b"1"), 2);
        a.add(DocumentId::new("y"), Sha256Digest::of(b"2"), 3);
        let a = a.finish();
        assert_eq!((a.documents, a.units), (2, 5));
        let mut b = CensusBuilder::new();
        b.add(DocumentId::new("x"), Sha256Digest::of(b"1"), 2);
        b.add(DocumentId::new("y"), Sha256Digest::of(b"3"), 3);
        assert_ne!(a.fingerprint, b.finish().fingerprint);
    }

    /// A census stitched from the censuses of batches of documents, in any order, is the census
    /// of them all: what a rollback restoring a batch at a time compares with the backup's.
    #[test]
    fn censuses_of_batches_extend_into_the_census_of_all() {
        let digest = |n: u8| Sha256Digest::of(&[n]);
        let mut whole = CensusBuilder::new();
        for n in 0..5u8 {
            whole.add(DocumentId::new(format!("d{n}")), digest(n), u64::from(n));
        }
        let whole = whole.finish();
        let batch = |ns: &[u8]| {
            let mut b = CensusBuilder::new();
            for &n in ns {
                b.add(DocumentId::new(format!("d{n}")), digest(n), u64::from(n));
            }
            b.finish()
        };
        let mut stitched = CensusBuilder::new();
        stitched.extend(batch(&[3, 4]));
        stitched.extend(batch(&[0, 1, 2]));
        assert_eq!(stitched.finish(), whole);
    }

    /// The census fingerprint of a known store: documents in every state, generations in every
    /// state, units with and without a part. Stores compare fingerprints across processes,
    /// versions and backends (a dry run's attestation, a backup's census, rollback's check), so
    /// these values are a contract: changing one is a migration, never a refactoring.
    #[test]
    fn census_of_a_known_store_is_pinned() {
        let run = |id: &str| RunId::new(id);
        let document = |id: &str, body: &str, state, active: Option<&str>| Document {
            id: DocumentId::new(id),
            revision: 3,
            sha256: sha256_hex(body.as_bytes()),
            state,
            active_generation: active.map(RunId::new),
            body: body.into(),
        };
        let record = |document: &str, generation: &str, state| GenerationRecord {
            document: DocumentId::new(document),
            generation: run(generation),
            state,
        };
        let unit = |document: &str, generation: &str, ordinal: u32, part, body: &str| Unit {
            document: DocumentId::new(document),
            generation: run(generation),
            ordinal,
            unit_id: format!("{document}#{ordinal}"),
            path: format!("Chương I/Điều {ordinal}"),
            part,
            start: u64::from(ordinal) * 10,
            end: u64::from(ordinal) * 10 + body.len() as u64,
            sha256: sha256_hex(body.as_bytes()),
            body: body.into(),
        };
        let ready = document("a/ready", "Điều 1.", DocumentState::Ready, None);
        let cutting = document(
            "b/cutting",
            "Article 1.",
            DocumentState::Cutting { run: run("r2") },
            Some("r1"),
        );
        let cut = document("c/cut", "# One", DocumentState::Cut, Some("r2"));
        let generations = [
            record("b/cutting", "r1", GenerationState::Active),
            record("b/cutting", "r2", GenerationState::Staged),
            record("c/cut", "r1", GenerationState::Retired),
            record("c/cut", "r2", GenerationState::Active),
        ];
        let units = [
            unit("b/cutting", "r1", 0, None, "Article 1."),
            unit("b/cutting", "r2", 0, Some(1), "Article "),
            unit("b/cutting", "r2", 1, Some(2), "1."),
            unit("c/cut", "r1", 0, None, "# One"),
            unit("c/cut", "r2", 0, None, "# One"),
        ];
        let mut builder = CensusBuilder::new();
        for document in [&ready, &cutting, &cut] {
            let of = |g: &&GenerationRecord| g.document == document.id;
            let generations: Vec<_> = generations.iter().filter(of).cloned().collect();
            let units: Vec<_> = units
                .iter()
                .filter(|u| u.document == document.id)
                .cloned()
                .collect();
            let digest = document_digest(document, &generations, &units);
            builder.add(document.id.clone(), digest, units.len() as u64);
        }
        let census = builder.finish();
        let digests: Vec<String> = census.per_document.values().map(|d| d.hex()).collect();
        assert_eq!(
            digests,
            [
                "4d01401030808aeda243288fb5b8841fc384341128c1e5ecd914a9b3c6164a9e",
                "1da24797bc7bc6af0a65f545100f97fbd7e5471a38268b940b01cec32f9334e7",
                "a86a2ebb67d0a5608d79b6fcf7a5312f6acbb6ef957f17c57f53aece8151966a",
            ]
        );
        assert_eq!(
            census.fingerprint,
            "70c7c4422e2ec8221fe5700b15293e953c1ca02f7ec94a53af17c7022ecb5a91"
        );
        assert_eq!((census.documents, census.units), (3, 5));
    }
}
