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
    /// The store cannot be used as configured (a crashed simulator, an unreachable database, a
    /// missing schema, a missing privilege); its kind says what the operator must fix.
    #[error("store unavailable: {0}")]
    Unavailable(Unavailability),
    /// A database error, boxed so that the seam does not name the driver.
    #[error("database error: {0}")]
    Database(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Why a store cannot be used: a [`UnavailableKind`] for callers that choose what to do next,
/// and a message for the operator. Displays as the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unavailability {
    /// What is wrong, for callers to act on (never parse the message).
    pub kind: UnavailableKind,
    /// What happened, for the operator.
    pub message: String,
}

/// What kind of problem makes a store unusable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnavailableKind {
    /// The database could not be reached, or the connection failed.
    Connection,
    /// TLS failed, or the server accepts only encrypted connections and this one was not.
    Tls,
    /// The database role lacks a privilege (a table's grants, a schema's USAGE).
    Privilege,
    /// There is no iu-cutter store there yet, or its schema is older than this build's:
    /// `iu-cutter init` creates or upgrades it.
    NeedsInit,
    /// The schema is newer than this build's: a newer iu-cutter is needed.
    NewerSchema,
    /// A recorded migration differs from this build's: the schema was changed outside
    /// iu-cutter.
    EditedSchema,
    /// This build has no support for the database's kind (a cargo feature left out).
    NotBuilt,
    /// A statement waited longer than the store allows for a lock another session holds, or
    /// ran longer than it allows (PostgreSQL's `lock_timeout`, `statement_timeout`); the call
    /// changed nothing, and may be retried.
    Busy,
    /// The configured source table cannot be read as mapped: a missing table or column, a
    /// filter the database rejects, no SELECT privilege on it, or a table that is one of
    /// iu-cutter's own.
    Source,
    /// Anything else (a crashed simulator, a transient race worth retrying).
    Other,
}

impl Unavailability {
    /// An unavailability of `kind`, described by `message`.
    pub fn new(kind: UnavailableKind, message: impl Into<String>) -> Self {
        Unavailability {
            kind,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Unavailability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A bare message is [`UnavailableKind::Other`] (what simulators and test doubles say).
impl From<String> for Unavailability {
    fn from(message: String) -> Self {
        Unavailability::new(UnavailableKind::Other, message)
    }
}

/// A bare message is [`UnavailableKind::Other`].
impl From<&str> for Unavailability {
    fn from(message: &str) -> Self {
        Unavailability::new(UnavailableKind::Other, message)
    }
}

impl AdapterError {
    /// A [`AdapterError::Unavailable`] of `kind`.
    pub fn unavailable(kind: UnavailableKind, message: impl Into<String>) -> Self {
        AdapterError::Unavailable(Unavailability::new(kind, message))
    }

    /// True when the kill switch refused the call.
    pub fn is_gate_closed(&self) -> bool {
        matches!(self, AdapterError::GateClosed { .. })
    }

    /// Whether a mutating call that failed this way may have been applied all the same: a
    /// database error or a lost connection can come from the commit itself, after which the
    /// caller cannot know whether the transaction committed. Every other kind is raised before
    /// the call's transaction commits (a check, a refusal, a timeout that aborted it), so the
    /// call changed nothing. Callers must not say "nothing was changed" when this is true.
    pub fn may_have_been_applied(&self) -> bool {
        match self {
            AdapterError::Database(_) => true,
            AdapterError::Unavailable(unavailable) => {
                unavailable.kind == UnavailableKind::Connection
            }
            _ => false,
        }
    }
}

impl From<crate::domain::PlanPartError> for AdapterError {
    /// A journaled plan that cannot be what was journaled is an invalid journal.
    fn from(error: crate::domain::PlanPartError) -> Self {
        AdapterError::Invalid(error.to_string())
    }
}
