//! The one error type of the seam. Driver errors are boxed so the seam never names a driver.

use crate::domain::DocumentId;

/// Why an adapter operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// The kill switch is closed: nothing was mutated by this call.
    #[error("execution refused: the kill switch is closed by {switch}; to open it: {how_to_open}")]
    GateClosed {
        /// Which source closed it (configuration, stop file, control row, ...).
        switch: String,
        /// The operator's next action.
        how_to_open: String,
    },
    /// A compare-and-set failed: the document is not what the caller expected.
    #[error("document `{document}` changed underneath the run: expected {expected}, found {found}")]
    Conflict {
        /// The document.
        document: DocumentId,
        /// What the caller expected.
        expected: String,
        /// What the store holds.
        found: String,
    },
    /// A rollback met a document that a run other than the one rolled back holds or has
    /// written since the backup: nothing was changed; that run must be rolled back first.
    #[error(
        "document `{document}` is held by run `{run}`, which came after the run being rolled \
         back ({found}); nothing was changed: roll back run `{run}` first"
    )]
    HeldByLaterRun {
        /// The document.
        document: DocumentId,
        /// The later run.
        run: crate::domain::RunId,
        /// What the store holds.
        found: String,
    },
    /// Another holder holds the run's lease and it has not expired.
    #[error(
        "run `{run}` is leased by `{holder}` until {expires_at} (store clock); another runner is \
         working on it: wait for it to finish, or for the lease to expire if it crashed"
    )]
    LeaseHeld {
        /// The run.
        run: crate::domain::RunId,
        /// Who holds the lease.
        holder: String,
        /// When it expires unless renewed, UTC RFC 3339.
        expires_at: String,
    },
    /// The caller no longer holds the run's lease (it expired, was released, or another holder
    /// took it): it must stop working on the run.
    #[error("run `{run}`: lease lost by `{holder}`: {found}")]
    LeaseLost {
        /// The run.
        run: crate::domain::RunId,
        /// The holder that lost it.
        holder: String,
        /// What the store holds instead.
        found: String,
    },
    /// Something the call names does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The call is malformed (a programming or input error, not a store failure).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The store was opened read-only.
    #[error("the store is read-only (dry run); mutations are not allowed")]
    ReadOnly,
    /// An injected fault (simulator): the call was not applied.
    #[error("injected fault at call {call} ({operation})")]
    InjectedFault {
        /// Index of the call.
        call: u64,
        /// Operation name.
        operation: String,
    },
    /// The store cannot be reached (a crashed simulator, an unreachable database).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A database error, boxed so that the seam does not name the driver.
    #[error("database error: {0}")]
    Database(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl AdapterError {
    /// True when the kill switch refused the call.
    pub fn is_gate_closed(&self) -> bool {
        matches!(self, AdapterError::GateClosed { .. })
    }
}
