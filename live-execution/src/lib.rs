//! The seam of iu-cutter. Every other crate points here: the phases and the runner speak only
//! to [`LiveExecutionAdapter`] (a store as one `call` of an [`Op`]) through its role traits
//! ([`Reads`], [`Cuts`], [`Plans`], [`Journal`], [`Leases`], [`Admin`]); the simulator
//! implements it in memory, and the live SQL implementation (features `sqlite`, `postgres`; off
//! by default) implements it on a database.
//! This crate also holds the domain types (documents, units, plans, backups, the journal), the
//! census that fingerprints a store identically on every backend, and the kill switch:
//! [`ExecutionGate`] and [`Guarded`], the layer that refuses every mutation while the gate is
//! closed. Built without features it depends on no database driver.

mod adapter;
pub mod census;
mod claim;
pub mod conflicts;
mod digest;
mod domain;
mod error;
mod gate;
mod op;
pub mod ownership;
mod probe;
pub mod rules;
mod source;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub mod sql;

#[cfg(feature = "mock")]
pub use adapter::MockLiveExecutionAdapter;
pub use adapter::{
    AdapterResult, Admin, Cuts, HEADS_PAGE, Journal, Leases, LiveExecutionAdapter, PhaseStore,
    Plans, Reads, Store,
};
pub use census::{
    CensusBuilder, DocumentDigester, GenerationDigester, RunningCensus, UnitFields, decimal,
    document_digest, sha256_hex, snapshot_census,
};
pub use claim::Claimed;
pub use digest::{HexDigits, HexError, Sha256Digest, Sha256Hasher, UNIT_ID_BYTES, UnitId};
pub use domain::*;
pub use error::{AdapterError, Unavailability, UnavailableKind};
pub use gate::{ExecutionGate, GateSource, Guarded, ManualSwitch, StopFile, Verdict};
pub use op::{LeaseClaim, OPS, Op, OpKind, OpSpec, Reply, Role};
#[cfg(feature = "mock")]
pub use op::{refuse_calls, refuse_mutations_except};
pub use ownership::{CurrentDocument, Kept, Restoration};
pub use probe::{LoadProbe, LoadQuery};
pub use rules::{CutRules, LevelRule, MarkerSet, Preset};
pub use source::{SourceMapping, SyncReport};

/// The role traits, to call a store's typed methods: `use iu_cutter_live_execution::prelude::*;`.
pub mod prelude {
    pub use crate::adapter::{Admin, Cuts, Journal, Leases, PhaseStore, Plans, Reads, Store};
}
