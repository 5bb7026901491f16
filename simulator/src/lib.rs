//! The simulator: an in-memory, deterministic implementation of the seam's
//! [`LiveExecutionAdapter`](iu_cutter_live_execution::LiveExecutionAdapter) with exactly the
//! semantics of the live SQL stores. Dry runs and previews run the five phases against it (seeded
//! from a snapshot of the live store, which is only read); property and fault-injection tests use
//! it to count calls, log them, count mutations, inject errors and crashes at chosen calls, and
//! refuse mutations in read-only mode. It depends only on the seam, never on a database driver,
//! and computes its census with the seam's own digest code so that its fingerprints equal the
//! SQL stores' for equal states. With the `proptest` feature it also exports `strategies` for
//! documents, corpora and cut rules.

mod fault;
mod simulator;
mod store;
#[cfg(feature = "proptest")]
pub mod strategies;

#[cfg(test)]
mod tests;

pub use fault::{
    CallOutcome, CallRecord, Fault, FaultKind, FaultPlan, Faulty, Operation, OperationFault,
};
pub use simulator::{MemoryStore, SCOPE_READ_BATCH, SEED_ATTEMPTS, Simulator};
