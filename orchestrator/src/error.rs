//! Misuse of the runner. Everything about the store ends in an [`crate::Outcome`] instead.

use iu_cutter_live_execution::RunId;

/// The runner was asked something that cannot mean anything, whatever the store holds.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// `until` names no phase of this runner.
    #[error("unknown phase `{phase}` for --until; the phases are: {known}")]
    UnknownPhase {
        /// The name given.
        phase: String,
        /// The runner's phases, comma separated, in order.
        known: String,
    },
    /// Two phases share a name, so the journal could not tell them apart.
    #[error("two phases are named `{0}`; phase names must be unique (the journal keys on them)")]
    DuplicatePhase(String),
    /// A phase uses a name the runner reserves for its own journal entries.
    #[error("the phase name `{0}` is reserved by the runner")]
    ReservedPhase(String),
    /// An option is out of range.
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// The journal holds no run with this id.
    #[error("no run `{0}` in the journal; list runs to find its id, or start a run with this id")]
    UnknownRun(RunId),
}
