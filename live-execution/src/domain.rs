//! Domain types shared by every store, phase and report.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::digest::Sha256Digest;
use crate::rules::{CutRules, Preset};

pub(crate) mod canonical;
mod plan_parts;
mod unit_path;

pub use plan_parts::{
    PLAN_PART_BYTES, PlanPartError, PlanVerifier, PlanWriter, parse_plan_head, plan_head_text,
    plan_parts,
};
pub use unit_path::UnitPath;

/// Version of every serialised boundary type (plans, backups, journal records, reports).
pub const SCHEMA_VERSION: u32 = 1;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a string.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }
    };
}

string_id!(
    /// Identifies a source document (a law, a contract, an article).
    DocumentId
);

impl DocumentId {
    /// Checks that `id` can name a document on every store alike: not empty, no control
    /// character (NUL, tab, newline, …) and no invisible bidirectional formatting character (the
    /// embeddings, overrides and isolates U+202A–U+202E and U+2066–U+2069, and the marks U+200E,
    /// U+200F and U+061C), which would let an id display as another. The error names the first
    /// offending character and its position.
    pub fn check(id: &str) -> Result<(), String> {
        if id.is_empty() {
            return Err("a document id must not be empty".into());
        }
        let bidi = |c: char| {
            matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
                || matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}')
        };
        match id.char_indices().find(|(_, c)| c.is_control() || bidi(*c)) {
            None => Ok(()),
            Some((at, c)) => Err(format!(
                "document id {id:?} holds {} U+{:04X} at byte {at}; ids may not hold control \
                 characters or bidirectional formatting characters",
                if c.is_control() {
                    "the control character"
                } else {
                    "the bidirectional formatting character"
                },
                u32::from(c)
            )),
        }
    }
}
string_id!(
    /// Identifies a run. A run's units form the *generation* named by the same id.
    RunId
);

impl RunId {
    /// Checks that `id` can name a run everywhere it is used (the journal, backup and report
    /// file names, the command line): 1–100 ASCII letters, digits, `-`, `_` or `.`, not starting
    /// with `.`. Every entry point that takes a run id from outside checks it here, so that no
    /// run is journaled that a command could not name again.
    pub fn check(id: &str) -> Result<(), String> {
        let ok = !id.is_empty()
            && id.len() <= 100
            && !id.starts_with('.')
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if ok {
            Ok(())
        } else {
            Err("a run id is 1-100 letters, digits, `-`, `_` or `.`, not starting with `.`".into())
        }
    }
}

/// Where a document stands in its lifecycle.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DocumentState {
    /// Imported (or edited since its last cut); no run holds it.
    Ready,
    /// Fenced by a run: no other run may cut it until that run enacts or rolls back.
    Cutting {
        /// The run holding the fence.
        run: RunId,
    },
    /// Cut: its active generation matches its body.
    Cut,
}

/// A source document as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    /// The document's id.
    pub id: DocumentId,
    /// Bumped on every change of the body.
    pub revision: u64,
    /// sha256 (lowercase hex) of the body's bytes.
    pub sha256: String,
    /// Lifecycle state.
    pub state: DocumentState,
    /// The generation readers see, if the document was ever cut.
    pub active_generation: Option<RunId>,
    /// The text, exactly as stored.
    pub body: String,
}

impl Document {
    /// The document without its body.
    pub fn head(&self) -> DocumentHead {
        DocumentHead {
            id: self.id.clone(),
            revision: self.revision,
            sha256: self.sha256.clone(),
            state: self.state.clone(),
            active_generation: self.active_generation.clone(),
        }
    }
}

/// A document without its body: what state reads need. Reading heads instead of whole
/// documents keeps lifecycle-enact's read-back, and write-verify's look at changed out-of-scope
/// documents, from loading their bodies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentHead {
    /// The document's id.
    pub id: DocumentId,
    /// Bumped on every change of the body.
    pub revision: u64,
    /// sha256 (lowercase hex) of the body's bytes.
    pub sha256: String,
    /// Lifecycle state.
    pub state: DocumentState,
    /// The generation readers see, if the document was ever cut.
    pub active_generation: Option<RunId>,
}

/// The state of one document's generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GenerationState {
    /// Written by a run, invisible to readers until enacted.
    Staged,
    /// The document's current units.
    Active,
    /// Superseded by a later generation; kept until purged.
    Retired,
}

/// One document's generation record.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GenerationRecord {
    /// The document.
    pub document: DocumentId,
    /// The generation (the run that wrote it).
    pub generation: RunId,
    /// Its state.
    pub state: GenerationState,
}

/// An information unit: an exact byte span of a document, in one generation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Unit {
    /// The source document.
    pub document: DocumentId,
    /// The generation this unit belongs to.
    pub generation: RunId,
    /// Position in the document, from 0.
    pub ordinal: u32,
    /// Stable id derived from the document id and structural path, not from content.
    pub unit_id: String,
    /// Hierarchical path, e.g. `Chương II/Điều 44`.
    pub path: String,
    /// Part number when an oversize unit was split.
    pub part: Option<u32>,
    /// First byte of the span in the source.
    pub start: u64,
    /// One past the last byte of the span.
    pub end: u64,
    /// sha256 (lowercase hex) of the body.
    pub sha256: String,
    /// The unit's text: `source[start..end]`.
    pub body: String,
}

/// A stored unit without its body: every other column, and the sha256 and length of the body
/// as stored, which a store may compute without sending the body
/// ([`crate::Reads::generation_digests`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UnitDigest {
    /// The source document.
    pub document: DocumentId,
    /// The generation this unit belongs to.
    pub generation: RunId,
    /// Position in the document, from 0.
    pub ordinal: u32,
    /// Stable id derived from the document id and structural path.
    pub unit_id: String,
    /// Hierarchical path.
    pub path: String,
    /// Part number when an oversize unit was split.
    pub part: Option<u32>,
    /// First byte of the span in the source.
    pub start: u64,
    /// One past the last byte of the span.
    pub end: u64,
    /// The sha256 recorded with the unit (lowercase hex).
    pub sha256: String,
    /// sha256 (lowercase hex) of the body as stored.
    pub body_sha256: String,
    /// The body's length in bytes, as stored.
    pub body_bytes: u64,
}

/// One generation of a document as digests ([`crate::Reads::generation_digests`]): what
/// write-verify checks a generation by, without reading its bodies back.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GenerationDigests {
    /// Its units, ordered by ordinal.
    pub units: Vec<UnitDigest>,
    /// sha256 (lowercase hex) of the units' bodies concatenated in ordinal order: the source's
    /// sha256 when the generation is a lossless cut of it (that of no bytes without units).
    pub concatenated_sha256: String,
    /// A snapshot of the server's transactions taken before these rows were read (PostgreSQL's
    /// `pg_snapshot` text), where the store's rows carry their writer's transaction: a unit row
    /// whose writer that snapshot sees, and that is still there later, is one this answer read
    /// ([`StagedProof`]). `None` where the store has none (SQLite, the simulator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_after: Option<String>,
}

impl GenerationDigests {
    /// The digests of `units` (one generation, ordered by ordinal), computed here: what a store
    /// that hashes in the server must answer too.
    pub fn of(units: &[Unit]) -> Self {
        let mut concatenated = Sha256::new();
        let units = units
            .iter()
            .map(|unit| {
                concatenated.update(unit.body.as_bytes());
                UnitDigest {
                    document: unit.document.clone(),
                    generation: unit.generation.clone(),
                    ordinal: unit.ordinal,
                    unit_id: unit.unit_id.clone(),
                    path: unit.path.clone(),
                    part: unit.part,
                    start: unit.start,
                    end: unit.end,
                    sha256: unit.sha256.clone(),
                    body_sha256: crate::Sha256Digest::of(unit.body.as_bytes()).hex(),
                    body_bytes: unit.body.len() as u64,
                }
            })
            .collect();
        GenerationDigests {
            units,
            concatenated_sha256: crate::Sha256Digest::from_bytes(concatenated.finalize().into())
                .hex(),
            read_after: None,
        }
    }
}

/// Where a page of active units ([`crate::Reads::active_units_page`]) continues: just after unit
/// `ordinal` of `document`, which the previous page read in `generation`. The generation lets the
/// store refuse a page that would stitch two generations of one document together (the document
/// was enacted or rolled back between the two pages).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UnitCursor {
    /// The document of the last unit read.
    pub document: DocumentId,
    /// The generation it was read in.
    pub generation: RunId,
    /// Its ordinal.
    pub ordinal: u32,
}

impl UnitCursor {
    /// The cursor just after `unit`.
    pub fn after(unit: &Unit) -> Self {
        UnitCursor {
            document: unit.document.clone(),
            generation: unit.generation.clone(),
            ordinal: unit.ordinal,
        }
    }
}

/// A unit of a document's active generation, with what a reader of the units needs of its
/// document, read in the same snapshot as the unit.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ActiveUnit {
    /// The unit.
    pub unit: Unit,
    /// Its document's revision (bumped on every change of the body: a revision newer than the
    /// one the generation was cut from means the document was edited since).
    pub revision: u64,
    /// What the application's row adds, under a source mapping (empty otherwise).
    pub source: SourceFacts,
}

/// What a source mapping adds to the units of a document's generation, as the reader view
/// `active_units` shows them: empty for documents that `import` filled, and on the simulator.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SourceFacts {
    /// The application row's revision (as text) that the generation was cut from, under a
    /// mapping with a `revision` column.
    pub revision: Option<String>,
    /// The document's metadata columns as last synced: a JSON object of text values, kept as
    /// the store holds it (its text), under a mapping with `metadata` columns.
    pub metadata: Option<String>,
}

/// Which documents a run covers.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Scope {
    /// Every document in the store.
    All,
    /// Exactly these documents.
    Ids(Vec<DocumentId>),
    /// Documents whose id starts with this prefix.
    Prefix(String),
    /// Shard `index` of `count` of `base`: the documents of `base` whose id hashes to `index`
    /// ([`shard_of`]). The shards `0..count` of one base partition it: every document is in
    /// exactly one, whatever else the store holds (the hash depends on the id only).
    Shard {
        /// The scope being partitioned.
        base: Box<Scope>,
        /// This shard, `0 <= index < count`.
        index: u32,
        /// How many shards, at least 1.
        count: u32,
    },
}

impl Scope {
    /// Whether `id` is in scope.
    pub fn contains(&self, id: &DocumentId) -> bool {
        match self {
            Scope::All => true,
            Scope::Ids(ids) => ids.contains(id),
            Scope::Prefix(prefix) => id.as_str().starts_with(prefix.as_str()),
            Scope::Shard { base, index, count } => {
                *count > 0 && shard_of(id, *count) == *index && base.contains(id)
            }
        }
    }

    /// Shard `index` of `count` of this scope, validated: `count >= 1` and `index < count`.
    pub fn shard(self, index: u32, count: u32) -> Result<Scope, String> {
        if count == 0 {
            return Err("the shard count must be at least 1 (--shard i/n with n >= 1)".into());
        }
        if index >= count {
            return Err(format!(
                "shard index {index} is out of range for {count} shards (0 <= i < n)"
            ));
        }
        Ok(Scope::Shard {
            base: Box::new(self),
            index,
            count,
        })
    }
}

/// The shard of `count` that document `id` belongs to: the first 8 bytes of the sha256 of the
/// id, big-endian, modulo `count` (stable across processes, builds and stores). `count == 0`
/// yields 0.
pub fn shard_of(id: &DocumentId, count: u32) -> u32 {
    use sha2::Digest;
    if count == 0 {
        return 0;
    }
    let digest = sha2::Sha256::digest(id.as_str().as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    // The remainder is below `count`, a u32.
    u32::try_from(u64::from_be_bytes(first) % u64::from(count)).unwrap_or(0)
}

/// A run's lease: who may work on the run, until when. Journal state (never in the census).
///
/// Times are milliseconds since the Unix epoch on the *store's* clock (the database's clock;
/// the simulator's logical clock), never the runner's, so runners on machines with skewed
/// clocks agree on who holds a lease.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Lease {
    /// The run.
    pub run: RunId,
    /// Who holds it, e.g. `user@host:pid:nonce`.
    pub holder: String,
    /// When it expires unless renewed, in store-clock milliseconds since the Unix epoch.
    pub expires_at_ms: u64,
}

impl Lease {
    /// The expiry as UTC RFC 3339 with milliseconds, e.g. `2026-11-21T14:00:00.000Z`.
    pub fn expires_at_utc(&self) -> String {
        utc_millis(self.expires_at_ms)
    }
}

/// Every lease in a store, read with the store's clock (see [`Lease`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseView {
    /// The store's clock when the leases were read, in milliseconds since the Unix epoch.
    pub now_ms: u64,
    /// Every lease, ordered by run id; an expired one has `expires_at_ms <= now_ms`.
    pub leases: Vec<Lease>,
}

impl LeaseView {
    /// The lease of `run`, if it has one.
    pub fn of(&self, run: &RunId) -> Option<&Lease> {
        self.leases.iter().find(|l| l.run == *run)
    }

    /// Whether `lease` has expired by the store's clock.
    pub fn expired(&self, lease: &Lease) -> bool {
        lease.expires_at_ms <= self.now_ms
    }
}

/// A run's backup artifact as journaled in the store (see
/// [`crate::LiveExecutionAdapter::save_backup`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredBackup {
    /// The artifact's text (JSON Lines: a header, then one document snapshot per line).
    pub artifact: String,
    /// The sha256 recorded with it when it was journaled.
    pub sha256: String,
}

/// One part of a run's sealed plan as journaled in the store (see
/// [`crate::Plans::load_plan_part`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredPlanPart {
    /// Part 0: the plan's head (canonical text of the plan without its documents); part `n`: the
    /// canonical text of the `n`th run of its document plans, `[DOCUMENT,…]`.
    pub text: String,
    /// The plan's sha256, recorded when it was sealed.
    pub sha256: String,
}

/// Milliseconds since the Unix epoch as UTC RFC 3339 (`YYYY-MM-DDTHH:MM:SS.mmmZ`).
pub fn utc_millis(ms: u64) -> String {
    // A day count since the epoch fits an i64 for every u64 of milliseconds.
    let (year, month, day) = civil_from_days((ms / 86_400_000) as i64);
    let rem = ms % 86_400_000;
    let (h, m, s, milli) = (
        rem / 3_600_000,
        (rem / 60_000) % 60,
        (rem / 1000) % 60,
        rem % 1000,
    );
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

/// The civil date `(year, month, day)` of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, exact for every day count), for writing dates without a time crate: the
/// stores' times ([`utc_millis`]) and the runner's clock share it.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// One planned unit: the cut of a document, an exact byte span of the source, without the text
/// (the text is the source's span). The cutter produces these (as `iu_cutter_cut::CutUnit`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PlannedUnit {
    /// Position in the document, from 0, in document order.
    pub ordinal: u32,
    /// Stable id, derived from the document id and the structural path, not from content: 16
    /// bytes, written as 32 lowercase hex characters.
    pub unit_id: crate::UnitId,
    /// Hierarchical path, e.g. `Chương II/Điều 44`, `Section 1/1.1`, or the preamble's path
    /// (a string the units of one cut share).
    pub path: UnitPath,
    /// `Some(1..)` when an oversize unit was split; every part keeps the unit's path.
    pub part: Option<u32>,
    /// First byte of the span in the source.
    pub start: u64,
    /// One past the last byte of the span.
    pub end: u64,
    /// sha256 of exactly the bytes `source[start..end]`, raw (written as lowercase hex).
    pub sha256: crate::Sha256Digest,
}

impl PlannedUnit {
    /// Length of the span in bytes.
    pub fn byte_len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// The unit's text, if its span lies on character boundaries inside `source`.
    pub fn text<'s>(&self, source: &'s str) -> Option<&'s str> {
        let start = usize::try_from(self.start).ok()?;
        let end = usize::try_from(self.end).ok()?;
        source.get(start..end)
    }

    /// The unit written for this planned unit into `generation` of `document`, holding `body`
    /// (the source's span it covers).
    pub fn staged(&self, document: &DocumentId, generation: &RunId, body: &str) -> Unit {
        Unit {
            document: document.clone(),
            generation: generation.clone(),
            ordinal: self.ordinal,
            unit_id: self.unit_id.hex(),
            path: self.path.as_str().to_owned(),
            part: self.part,
            start: self.start,
            end: self.end,
            sha256: self.sha256.hex(),
            body: body.to_owned(),
        }
    }
}

/// The cut of one document.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DocumentPlan {
    /// The document.
    pub document: DocumentId,
    /// The revision that was cut (from the backup).
    pub revision: u64,
    /// sha256 of the source that was cut.
    pub source_sha256: String,
    /// Length of the source in bytes.
    pub source_bytes: u64,
    /// The units, in order; their spans cover the source exactly.
    pub units: Vec<PlannedUnit>,
    /// The preset that cut this document when the rules let the cutter choose (`auto`); absent
    /// otherwise, so plans of other rules serialise (and hash) as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<Preset>,
}

/// The plan of a run: what will be written. Pure function of the backed-up sources and the rules.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Plan {
    /// Schema version of this boundary type.
    pub schema_version: u32,
    /// The rules that produced it.
    pub rules: CutRules,
    /// One entry per scoped document, in id order.
    pub documents: Vec<DocumentPlan>,
}

impl DocumentPlan {
    /// The digest the stored generation of this document must have for enact to move to it: its
    /// planned units, each body hashing to its planned sha256 ([`crate::GenerationDigester`]).
    pub fn units_digest(&self, generation: &RunId) -> String {
        let mut digester = crate::GenerationDigester::new();
        for unit in &self.units {
            let (unit_id, sha256) = (unit.unit_id.hex_digits(), unit.sha256.hex_digits());
            digester.unit(
                &crate::UnitFields {
                    generation: generation.as_str(),
                    ordinal: unit.ordinal,
                    unit_id: &unit_id,
                    path: &unit.path,
                    part: unit.part,
                    start: unit.start,
                    end: unit.end,
                    sha256: &sha256,
                },
                &sha256,
            );
        }
        digester.finish()
    }
}

impl Plan {
    /// sha256 of the plan's canonical bytes, lowercase hex: compact JSON defined field by field
    /// in `domain/canonical.rs` (not by a serializer's output), the same bytes as the plan file's JSON.
    pub fn sha256(&self) -> String {
        // Hashed piece by piece: the canonical text of a large plan is never built whole.
        let mut hasher = crate::Sha256Hasher::new();
        canonical::plan_pieces(self, |piece| {
            hasher.update(piece.as_bytes());
            Ok::<(), std::convert::Infallible>(())
        })
        .unwrap_or_else(|never| match never {});
        hasher.finish().hex()
    }

    /// Total number of planned units.
    pub fn unit_count(&self) -> u64 {
        self.documents.iter().map(|d| d.units.len() as u64).sum()
    }
}

/// A fingerprint of the whole store, or of some of its documents ([`ScopeCensus`]): documents,
/// generations, units; not the journal.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Census {
    /// Number of documents.
    pub documents: u64,
    /// Number of units across all generations.
    pub units: u64,
    /// sha256 over every document's digest, in id order.
    pub fingerprint: String,
    /// Digest of each document with its generations and units (raw: 32 bytes a document in
    /// memory, 64 hex digits as text).
    pub per_document: BTreeMap<DocumentId, Sha256Digest>,
}

/// An opaque position in a store's change history: what a [`ScopeCensus`] could see. Written
/// `backend:position` (e.g. `simulator:42`); only the store that issued a mark can read it, and a
/// mark from another backend is refused naming both.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChangeMark(String);

impl ChangeMark {
    /// The mark at `position` in `backend`'s change history.
    pub fn new(backend: &str, position: impl fmt::Display) -> Self {
        Self(format!("{backend}:{position}"))
    }

    /// The mark as written (`backend:position`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The position part of a mark `backend` issued; a mark of another backend (or no backend)
    /// is [`crate::AdapterError::Invalid`] naming both, so a mark journaled by one store is never
    /// read against another.
    pub fn position_for(&self, backend: &str) -> Result<&str, crate::AdapterError> {
        match self.0.split_once(':') {
            Some((issuer, position)) if issuer == backend => Ok(position),
            Some((issuer, _)) => Err(crate::AdapterError::Invalid(format!(
                "the change mark `{}` was issued by the {issuer} store; this is a {backend} store",
                self.0
            ))),
            None => Err(crate::AdapterError::Invalid(format!(
                "`{}` is not a change mark (expected `{backend}:POSITION`)",
                self.0
            ))),
        }
    }
}

impl fmt::Display for ChangeMark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The census of some documents and the store's change mark, both read in one snapshot: every
/// change the census could not see is listed by `changed_since(mark)`, so the census plus the
/// changes since describe the whole store at a cost that follows the scope, not the store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeCensus {
    /// The [`Census`] restricted to the documents asked for (same digests and fingerprint
    /// encoding over that subset; ids that do not exist are absent).
    pub census: Census,
    /// Where the store's change history stood when the census was read.
    pub mark: ChangeMark,
}

/// Everything a run may touch for one document, as it was before the run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentSnapshot {
    /// The document row.
    pub document: Document,
    /// All its generation records.
    pub generations: Vec<GenerationRecord>,
    /// The units of its active generation.
    pub active_units: Vec<Unit>,
}

/// The pre-run state of a run's scope plus the census of that scope and the store's change mark.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backup {
    /// Schema version of this boundary type.
    pub schema_version: u32,
    /// The run this backup belongs to.
    pub run: RunId,
    /// Census of the run's scope when the backup was taken (a backup written before scope
    /// censuses holds the whole store's census: restricted to the scope, the same thing).
    pub census: Census,
    /// The store's change mark read with `census` ([`ScopeCensus::mark`]); `None` in a backup
    /// written before scope censuses, which cannot say what changed outside the scope since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mark: Option<ChangeMark>,
    /// The change log's entry of each document (the position of its last change) as the census
    /// saw it, in backups written between migration 10 and stop 27; `None` in others. Only a
    /// record: a rollback's window is opened from the store's own record of the run's hold of
    /// the document (migration 11), never from these (a backup's copy could be edited to widen
    /// one), so they are no longer read, nor written (they doubled the census's memory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries: Option<BTreeMap<DocumentId, String>>,
    /// The scoped documents, in id order.
    pub documents: Vec<DocumentSnapshot>,
}

impl Backup {
    /// Checks that this backup can restore run `run`: it belongs to that run, every body and
    /// every unit hashes to its recorded sha256, and every snapshot holds only its own
    /// document's generation records and active units. Every store calls this
    /// before restoring, so they refuse the same malformed backups with the same messages.
    pub fn check_for_run(&self, run: &RunId) -> Result<(), crate::AdapterError> {
        use crate::AdapterError::Invalid;
        if self.run != *run {
            return Err(Invalid(format!(
                "the backup belongs to run `{}`, not to run `{run}`",
                self.run
            )));
        }
        for snapshot in &self.documents {
            let id = &snapshot.document.id;
            let body_sha256 = crate::Sha256Digest::of(snapshot.document.body.as_bytes());
            if !body_sha256.matches(&snapshot.document.sha256) {
                return Err(Invalid(format!(
                    "the backup of document `{id}` is corrupt: its body hashes to {body_sha256}, \
                     not to its recorded sha256 {}",
                    snapshot.document.sha256
                )));
            }
            if let Some(unit) = snapshot
                .active_units
                .iter()
                .find(|u| !crate::Sha256Digest::of(u.body.as_bytes()).matches(&u.sha256))
            {
                return Err(Invalid(format!(
                    "the backup of document `{id}` is corrupt: unit {} does not hash to its \
                     recorded sha256",
                    unit.ordinal
                )));
            }
            if let Some(record) = snapshot.generations.iter().find(|g| g.document != *id) {
                return Err(Invalid(format!(
                    "the backup of document `{id}` holds a generation record of document `{}`",
                    record.document
                )));
            }
            let active = snapshot.document.active_generation.as_ref();
            if let Some(unit) = snapshot
                .active_units
                .iter()
                .find(|u| u.document != *id || Some(&u.generation) != active)
            {
                return Err(Invalid(format!(
                    "the backup of document `{id}` holds unit {} of document `{}`, generation \
                     `{}`, which is not the document's active generation",
                    unit.ordinal, unit.document, unit.generation
                )));
            }
        }
        Ok(())
    }
}

/// A full copy of a store's documents, generations and units (seeds a simulator).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreSnapshot {
    /// Every document.
    pub documents: Vec<Document>,
    /// Every generation record.
    pub generations: Vec<GenerationRecord>,
    /// Every unit.
    pub units: Vec<Unit>,
}

/// What a run saw of a document at backup, and so what its fence and enact expect the document
/// to still be (see [`crate::ownership`]): every field is compared, the body by its hash as
/// stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectedRevision {
    /// The document.
    pub document: DocumentId,
    /// Revision read at backup.
    pub revision: u64,
    /// Body sha256 read at backup.
    pub sha256: String,
    /// Lifecycle state read at backup.
    pub state: DocumentState,
    /// Active generation read at backup.
    pub active_generation: Option<RunId>,
    /// For enact: the digest of the generation the run verified ([`DocumentPlan::units_digest`]);
    /// enact refuses a staged generation whose units (bodies included) no longer hash to it.
    /// `None` (fence) checks nothing more.
    #[serde(default)]
    pub staged_units: Option<String>,
    /// For enact: what this invocation's write-verify proved of the staged generation, which
    /// lets a store whose rows carry their writer's transaction skip hashing the bodies again
    /// where no unit row changed since ([`StagedProof`]). `None`: the bodies are hashed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staged_proof: Option<StagedProof>,
}

/// What write-verify proved of a document's staged generation, as enact may use it: the units
/// write-verify read after the server snapshot `read_after` ([`GenerationDigests::read_after`])
/// were exactly the planned ones, `units` of them. So if every unit row of the generation now
/// was written by a transaction that snapshot sees (it committed before), and there are still
/// `units` of them, they are the rows write-verify proved: a row written or rewritten since, by
/// anyone and by any path (triggers or not), carries a later transaction. A store that cannot
/// tell (SQLite, the simulator) hashes the bodies, as it does without a proof.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagedProof {
    /// The snapshot write-verify read the generation after.
    pub read_after: String,
    /// How many units write-verify proved (the plan's).
    pub units: u64,
}

impl ExpectedRevision {
    /// What a run that backed up `document` expects of it.
    pub fn of(document: &Document) -> Self {
        ExpectedRevision {
            document: document.id.clone(),
            revision: document.revision,
            sha256: document.sha256.clone(),
            state: document.state.clone(),
            active_generation: document.active_generation.clone(),
            staged_units: None,
            staged_proof: None,
        }
    }

    /// The same expectation, for enact: the staged generation must hash to `digest`.
    pub fn with_staged_units(mut self, digest: String) -> Self {
        self.staged_units = Some(digest);
        self
    }

    /// The same expectation, with what write-verify proved of the staged generation.
    pub fn with_staged_proof(mut self, proof: Option<StagedProof>) -> Self {
        self.staged_proof = proof;
        self
    }
}

/// A retired generation a purge removes, with the document's active generation as the purge saw
/// it when it chose the generation: the purge's compare-and-set ([`crate::ownership::purge_step`]).
/// A rollback or an enact since then may have made the generation needed again.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PurgeTarget {
    /// The document.
    pub document: DocumentId,
    /// The retired generation to remove.
    pub generation: RunId,
    /// The document's active generation when the purge chose it.
    pub active: Option<RunId>,
}

/// Evidence a phase records: small named facts (hashes, counts, checks, names), each value typed.
pub type Evidence = BTreeMap<String, EvidenceValue>;

/// One value of a phase's [`Evidence`], typed where the phase produces it: a count is a number,
/// a check a flag, a hash or a location text, a set of names a list.
///
/// Serialised untagged, so that JSON (the journal, the report) shows `500`, `true`, `"ab12…"`
/// and `["law/1", "law/2"]`. Journals written before values were typed hold every value as a
/// JSON string: such a value reads back as [`EvidenceValue::Text`], exactly as it was written
/// (`"500"` stays the text `500`; nothing is guessed from the string). Its [`fmt::Display`] is
/// the text an untyped value had, so what is rendered from evidence does not change.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EvidenceValue {
    /// A count (documents, units, batches).
    Count(u64),
    /// A yes-or-no check (e.g. whether a census matched).
    Flag(bool),
    /// Names, in order (e.g. documents); displayed joined by `, `.
    List(Vec<String>),
    /// Text: a sha256, a location, a summary; any value of a journal written before typing.
    Text(String),
}

impl EvidenceValue {
    /// The text, when the value is [`EvidenceValue::Text`].
    pub fn as_text(&self) -> Option<&str> {
        match self {
            EvidenceValue::Text(text) => Some(text),
            _ => None,
        }
    }

    /// The count, when the value is [`EvidenceValue::Count`].
    pub fn as_count(&self) -> Option<u64> {
        match self {
            EvidenceValue::Count(count) => Some(*count),
            _ => None,
        }
    }

    /// The flag, when the value is [`EvidenceValue::Flag`].
    pub fn as_flag(&self) -> Option<bool> {
        match self {
            EvidenceValue::Flag(flag) => Some(*flag),
            _ => None,
        }
    }
}

impl fmt::Display for EvidenceValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EvidenceValue::Count(count) => write!(f, "{count}"),
            EvidenceValue::Flag(flag) => write!(f, "{flag}"),
            EvidenceValue::List(items) => f.write_str(&items.join(", ")),
            EvidenceValue::Text(text) => f.write_str(text),
        }
    }
}

impl From<u64> for EvidenceValue {
    fn from(count: u64) -> Self {
        EvidenceValue::Count(count)
    }
}

impl From<usize> for EvidenceValue {
    fn from(count: usize) -> Self {
        EvidenceValue::Count(u64::try_from(count).unwrap_or(u64::MAX))
    }
}

impl From<bool> for EvidenceValue {
    fn from(flag: bool) -> Self {
        EvidenceValue::Flag(flag)
    }
}

impl From<String> for EvidenceValue {
    fn from(text: String) -> Self {
        EvidenceValue::Text(text)
    }
}

impl From<&str> for EvidenceValue {
    fn from(text: &str) -> Self {
        EvidenceValue::Text(text.to_owned())
    }
}

impl From<Vec<String>> for EvidenceValue {
    fn from(items: Vec<String>) -> Self {
        EvidenceValue::List(items)
    }
}

/// Where a journaled run stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunStatus {
    /// Started, not finished (or crashed: resume it).
    Running,
    /// Stopped on purpose after a phase (`until`); continue with resume.
    Held,
    /// Every phase passed.
    Pass,
    /// A gate found a gap.
    Blocked,
    /// The kill switch was closed or a precondition failed.
    Refused,
    /// Restored to the pre-run state.
    RolledBack,
    /// An error; resumable.
    Failed,
}

/// Where a journaled phase stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhaseStatus {
    /// Started, not finished.
    Running,
    /// Finished; its evidence is recorded.
    Done,
    /// Stopped at a gap.
    Blocked,
    /// Stopped by an error.
    Failed,
}

/// One phase in the journal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseRecord {
    /// Phase name, e.g. `backup`.
    pub name: String,
    /// Status.
    pub status: PhaseStatus,
    /// Evidence recorded when done.
    pub evidence: Evidence,
    /// Error or gap description when blocked or failed.
    pub detail: Option<String>,
    /// When the phase (last) started, UTC RFC 3339, as the runner journals it. Journal only:
    /// never part of the census or of the evidence.
    #[serde(default)]
    pub started_at: Option<String>,
    /// When the phase first started, UTC RFC 3339: kept as it was by every later start (a
    /// resume), so that the journal bounds when the phase may first have acted (an enact resumed
    /// after a partial one activated its first documents before its last start). `None` in a
    /// journal written before it was kept. Journal only, like `started_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_started_at: Option<String>,
    /// When it reached its status (done, blocked, failed), UTC RFC 3339; `None` while running.
    /// A held run's write-verify completion is what `enact` measures `held_max_age` against.
    #[serde(default)]
    pub finished_at: Option<String>,
}

/// The most recent runs of the journal ([`crate::Journal::recent_runs`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentRuns {
    /// How many runs the journal holds.
    pub total: u64,
    /// The most recent runs, oldest first: ordered by when each last started a phase (the
    /// latest `started_at` of its phases, so that a run resumed, verified or enacted today is
    /// among today's runs), runs that never started one before the others, and by run id among
    /// equals; the last `limit` of that order, preceded (in that order) by
    /// every [`RunStatus::Held`] run the limit leaves out: a held run awaits an operator's
    /// enact, resume or rollback, and no listing of the latest runs may hide it.
    pub runs: Vec<RunRecord>,
}

impl RecentRuns {
    /// The `limit` most recent of `runs` (every run of a journal), and the held runs before
    /// them, in that order.
    pub fn of(mut runs: Vec<RunRecord>, limit: u64) -> Self {
        runs.sort_by(|a, b| {
            a.last_started()
                .cmp(&b.last_started())
                .then_with(|| a.run.cmp(&b.run))
        });
        let total = runs.len() as u64;
        let shown = usize::try_from(limit).unwrap_or(usize::MAX);
        let recent = runs.split_off(runs.len().saturating_sub(shown));
        runs.retain(|r| r.status == RunStatus::Held);
        runs.extend(recent);
        RecentRuns { total, runs }
    }
}

/// A run in the journal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Schema version of this boundary type.
    pub schema_version: u32,
    /// The run.
    pub run: RunId,
    /// Its scope.
    pub scope: Scope,
    /// Its rules.
    pub rules: CutRules,
    /// sha256 of the plan the operator reviewed and started the run with (`run --plan`), if
    /// any: cut-leg-a blocks when the plan computed from the backup has another sha256.
    #[serde(default)]
    pub expected_plan_sha256: Option<String>,
    /// Status.
    pub status: RunStatus,
    /// Phases started so far, in order.
    pub phases: Vec<PhaseRecord>,
}

impl RunRecord {
    /// When the run last started a phase: the latest `started_at` of its phases (UTC RFC 3339,
    /// which orders as text); `None` before any.
    pub fn last_started(&self) -> Option<&str> {
        self.phases
            .iter()
            .filter_map(|p| p.started_at.as_deref())
            .max()
    }

    /// A fresh run record with no phases.
    pub fn new(run: RunId, scope: Scope, rules: CutRules) -> Self {
        RunRecord {
            schema_version: SCHEMA_VERSION,
            run,
            scope,
            rules,
            expected_plan_sha256: None,
            status: RunStatus::Running,
            phases: Vec::new(),
        }
    }

    /// The journaled record of phase `name`, if it started.
    pub fn phase(&self, name: &str) -> Option<&PhaseRecord> {
        self.phases.iter().find(|p| p.name == name)
    }
}

/// What kind of store an adapter talks to; reports and the no-fallback check read it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdapterInfo {
    /// `simulator`, `sqlite` or `postgres`.
    pub kind: String,
    /// True for a real database.
    pub live: bool,
    /// Where it points, with any password removed.
    pub location: String,
    /// The application table the documents are read from, when the store has a
    /// [`crate::SourceMapping`]; `None` when they are iu-cutter's own (imported).
    pub source: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_mark_is_read_only_by_the_backend_that_issued_it() {
        let mark = ChangeMark::new("sqlite", 42);
        assert_eq!(mark.as_str(), "sqlite:42");
        assert_eq!(mark.position_for("sqlite").ok(), Some("42"));
        let foreign = mark.position_for("postgres").map_err(|e| e.to_string());
        assert!(
            foreign
                .as_ref()
                .is_err_and(|e| e.contains("sqlite") && e.contains("postgres")),
            "{foreign:?}"
        );
        assert!(ChangeMark("42".to_owned()).position_for("sqlite").is_err());
    }

    fn id(n: usize) -> DocumentId {
        DocumentId::new(format!("doc/{n}"))
    }

    #[test]
    fn every_id_is_in_exactly_one_shard() {
        for count in [1u32, 2, 3, 4, 7, 16] {
            let shards: Vec<Scope> = (0..count)
                .map(|i| Scope::All.shard(i, count).unwrap_or(Scope::Ids(Vec::new())))
                .collect();
            let mut sizes = vec![0usize; count as usize];
            for n in 0..2000 {
                let inside: Vec<usize> = (0..shards.len())
                    .filter(|&i| shards[i].contains(&id(n)))
                    .collect();
                assert_eq!(inside.len(), 1, "doc/{n} with {count} shards: {inside:?}");
                sizes[inside[0]] += 1;
            }
            // A hash, not a range: every shard gets a fair part.
            let fair = 2000 / count as usize;
            assert!(sizes.iter().all(|&s| s * 2 > fair), "{count}: {sizes:?}");
        }
    }

    #[test]
    fn shards_are_stable_and_respect_the_base() {
        // Pinned: the shard of an id never changes across builds, processes or stores.
        let expected: Vec<u32> = (0..8).map(|n| shard_of(&id(n), 4)).collect();
        let again: Vec<u32> = (0..8).map(|n| shard_of(&id(n), 4)).collect();
        assert_eq!(expected, again);
        let digest = crate::sha256_hex(b"doc/0");
        let first = u64::from_str_radix(&digest[..16], 16).unwrap_or(0);
        assert_eq!(u64::from(shard_of(&id(0), 4)), first % 4);
        assert_eq!(shard_of(&id(0), 1), 0);
        let shard = Scope::Prefix("doc/1".into())
            .shard(shard_of(&id(1), 3), 3)
            .unwrap_or(Scope::All);
        assert!(shard.contains(&id(1)));
        assert!(!shard.contains(&DocumentId::new("other")));
        let json = serde_json::to_string(&shard).unwrap_or_default();
        assert_eq!(serde_json::from_str::<Scope>(&json).ok(), Some(shard));
    }

    #[test]
    fn bad_shards_are_refused() {
        assert!(Scope::All.shard(0, 0).is_err());
        assert!(Scope::All.shard(4, 4).is_err());
        assert!(Scope::All.shard(3, 4).is_ok());
    }

    #[test]
    fn lease_expiry_is_utc_rfc3339() {
        assert_eq!(utc_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc_millis(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(utc_millis(1_795_269_296_789), "2026-11-21T13:54:56.789Z");
    }

    /// A plan with every kind of field: a preset with a size limit, a document the cutter chose
    /// a preset for, units with and without a part, non-ASCII paths.
    fn known_plan() -> Plan {
        let unit = |ordinal: u32, part, start: u64, end: u64, text: &str| PlannedUnit {
            ordinal,
            // The id whose hex is `{ordinal:032x}`, as these plans were pinned with.
            unit_id: crate::UnitId::from_bytes(u128::from(ordinal).to_be_bytes()),
            path: format!("Chương I/Điều {ordinal}").into(),
            part,
            start,
            end,
            sha256: crate::Sha256Digest::of(text.as_bytes()),
        };
        Plan {
            schema_version: SCHEMA_VERSION,
            rules: CutRules::preset(Preset::Auto).with_max_unit_bytes(4096),
            documents: vec![
                DocumentPlan {
                    document: DocumentId::new("vi/luật.txt"),
                    revision: 2,
                    source_sha256: crate::sha256_hex("Điều 1. A\nĐiều 2. B".as_bytes()),
                    source_bytes: 23,
                    units: vec![
                        unit(0, None, 0, 12, "Điều 1. A\n"),
                        unit(1, Some(1), 12, 23, "Điều 2. B"),
                    ],
                    preset: Some(Preset::LegalVi),
                },
                DocumentPlan {
                    document: DocumentId::new("empty"),
                    revision: 1,
                    source_sha256: crate::sha256_hex(b""),
                    source_bytes: 0,
                    units: Vec::new(),
                    preset: None,
                },
            ],
        }
    }

    /// Custom rules whose strings need every escape JSON has.
    fn custom_plan() -> Plan {
        Plan {
            schema_version: SCHEMA_VERSION,
            rules: CutRules {
                markers: crate::rules::MarkerSet::Custom(vec![
                    crate::rules::LevelRule {
                        name: "quote \" back\\slash / tab\t nl\n cr\r bs\u{8} ff\u{c}".into(),
                        pattern: "^(\\d+)\u{1}\u{1f}\u{7f} é \u{2028} 😀".into(),
                    },
                    crate::rules::LevelRule {
                        name: "section".into(),
                        pattern: "^§ (\\d+)".into(),
                    },
                ]),
                max_unit_bytes: None,
            },
            documents: Vec::new(),
        }
    }

    /// The plan's sha256 is journaled (`expected_plan_sha256`, `run_plans.sha256`), printed by
    /// `plan` for review and compared by `run --plan`: these values are a contract. Changing one
    /// is a migration, never a refactoring.
    #[test]
    fn plan_sha256_is_pinned() {
        assert_eq!(
            known_plan().sha256(),
            "1b6a02293b91df50c92f4ed10a0ca900145f7f50f0643a876bd9153d3017584b"
        );
        assert_eq!(
            custom_plan().sha256(),
            "639860244e1be8427f837a31bcd3f9b2ba4737641ae134e700c53e156532559f"
        );
    }

    /// The canonical bytes are the plan's compact JSON (what plans hashed before they were
    /// defined by hand), so no plan's hash changed when they were.
    #[test]
    fn canonical_bytes_are_the_plans_json() -> Result<(), serde_json::Error> {
        for plan in [known_plan(), custom_plan()] {
            let json = serde_json::to_vec(&plan)?;
            assert_eq!(
                String::from_utf8_lossy(&super::canonical::plan_bytes(&plan)),
                String::from_utf8_lossy(&json)
            );
        }
        Ok(())
    }

    /// A plan is hashed and journaled in pieces (never its whole text): the pieces are the
    /// canonical bytes, and the parts of its documents parse back to them, however cut.
    #[test]
    fn a_plan_in_pieces_and_parts_is_the_whole_plan() -> Result<(), serde_json::Error> {
        let mut plan = known_plan();
        let mut second = plan.documents[0].clone();
        second.document = DocumentId::new("law/2");
        plan.documents.push(second.clone());
        second.document = DocumentId::new("law/3");
        plan.documents.push(second);
        let mut pieces = String::new();
        super::canonical::plan_pieces(&plan, |piece| {
            pieces.push_str(piece);
            Ok::<(), ()>(())
        })
        .ok();
        assert_eq!(pieces.as_bytes(), super::canonical::plan_bytes(&plan));
        assert_eq!(plan.sha256(), crate::sha256_hex(pieces.as_bytes()));
        for bytes in [1, 200, usize::MAX] {
            let mut documents = Vec::new();
            let parts = super::plan_parts(&plan, bytes);
            let mut verifier = super::PlanVerifier::new(&Plan {
                documents: Vec::new(),
                ..plan.clone()
            });
            for part in &parts {
                let parsed = serde_json::from_str::<Vec<DocumentPlan>>(part)?;
                assert_eq!(verifier.part(part).ok(), Some(parsed.clone()));
                documents.extend(parsed);
            }
            assert_eq!(documents, plan.documents, "parts of {bytes} bytes");
            assert_eq!(verifier.finish(), plan.sha256(), "parts of {bytes} bytes");
            let mut writer = super::PlanWriter::with_part_bytes(1, &plan.rules, bytes);
            for document in &plan.documents {
                writer.push(document);
            }
            assert_eq!(writer.units(), plan.unit_count());
            assert_eq!(
                writer.finish().1,
                plan.sha256(),
                "written in parts of {bytes} bytes"
            );
            if bytes == 1 {
                assert_eq!(parts.len(), plan.documents.len(), "one document a part");
            }
        }
        let empty = Plan {
            documents: Vec::new(),
            ..plan.clone()
        };
        assert!(
            super::plan_parts(&empty, 1).is_empty(),
            "no documents, no parts"
        );
        assert_eq!(
            super::PlanWriter::new(1, &plan.rules).finish(),
            (None, empty.sha256())
        );
        Ok(())
    }

    #[test]
    fn evidence_values_serialise_as_their_json_types() -> Result<(), serde_json::Error> {
        let evidence = Evidence::from([
            ("units".to_owned(), EvidenceValue::from(500u64)),
            ("matches".to_owned(), EvidenceValue::from(true)),
            ("sha256".to_owned(), EvidenceValue::from("ab12")),
            (
                "documents".to_owned(),
                EvidenceValue::from(vec!["law/1".to_owned(), "law/2".to_owned()]),
            ),
        ]);
        let json = serde_json::to_string(&evidence)?;
        assert_eq!(
            json,
            r#"{"documents":["law/1","law/2"],"matches":true,"sha256":"ab12","units":500}"#
        );
        let back: Evidence = serde_json::from_str(&json)?;
        assert_eq!(back, evidence);
        Ok(())
    }

    #[test]
    fn an_untyped_journal_value_reads_back_as_the_text_it_was() -> Result<(), serde_json::Error> {
        // What a journal written before evidence was typed holds: every value a string.
        let old: Evidence =
            serde_json::from_str(r#"{"units":"500","matches":"true","sha256":"ab12"}"#)?;
        assert_eq!(old.get("units"), Some(&EvidenceValue::Text("500".into())));
        assert_eq!(
            old.get("matches"),
            Some(&EvidenceValue::Text("true".into()))
        );
        assert_eq!(old.get("units").and_then(EvidenceValue::as_count), None);
        // Written back, it is the same JSON: nothing was guessed from the strings.
        assert_eq!(
            serde_json::to_string(&old)?,
            r#"{"matches":"true","sha256":"ab12","units":"500"}"#
        );
        Ok(())
    }

    #[test]
    fn evidence_values_display_as_the_untyped_text_did() {
        assert_eq!(EvidenceValue::from(500u64).to_string(), 500u64.to_string());
        assert_eq!(EvidenceValue::from(false).to_string(), false.to_string());
        assert_eq!(EvidenceValue::from("ab12").to_string(), "ab12");
        assert_eq!(
            EvidenceValue::from(vec!["law/1".to_owned(), "law/2".to_owned()]).to_string(),
            ["law/1", "law/2"].join(", ")
        );
        assert_eq!(EvidenceValue::Text("500".into()).to_string(), "500");
    }
}
