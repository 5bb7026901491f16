//! The program's one error type: every failure has an exit code and a next action.

use iu_cutter_live_execution::AdapterError;
use iu_cutter_orchestrator::RunnerError;
use iu_cutter_phase_core::Gap;

/// Exit status of the program, one per kind of ending.
pub(crate) mod exit {
    /// PASS, ROLLED_BACK, or a command that did what it was asked.
    pub(crate) const OK: u8 = 0;
    /// The command line is malformed (clap's own code).
    pub(crate) const USAGE: u8 = 2;
    /// REFUSED: the kill switch is closed; nothing was mutated by the refused call.
    pub(crate) const REFUSED: u8 = 3;
    /// BLOCKED: a gate found a gap; nothing was destroyed.
    pub(crate) const BLOCKED: u8 = 4;
    /// FAILED: an error stopped the command (the run can be resumed), or a dry run could not
    /// attest that the live store was left unchanged.
    pub(crate) const FAILED: u8 = 5;
    /// The configuration (cutter.toml, `IU_CUTTER_*`) is invalid.
    pub(crate) const CONFIG: u8 = 6;
    /// The store cannot be reached or is not initialised.
    pub(crate) const STORE_UNAVAILABLE: u8 = 7;
    /// The input is unusable (invalid UTF-8, malformed JSON Lines, an unknown document or run).
    pub(crate) const BAD_INPUT: u8 = 8;
}

/// The exit-code table shown by `iu-cutter --help`.
pub(crate) const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  PASS or ROLLED_BACK (or the command did what it was asked)
  2  usage error (unknown command or option, missing argument)
  3  REFUSED: the kill switch is closed, or a precondition failed (a reviewed plan that no
     longer matches, a run not held); the message says what was changed before it, if anything
  4  BLOCKED: a gate found a gap (which gate, what, the next action)
  5  FAILED: an error stopped the command; or a dry run could not attest non-mutation
  6  configuration error (cutter.toml or an IU_CUTTER_* variable)
  7  store unavailable (unreachable database, not initialised); never a fallback
  8  bad input (invalid UTF-8, malformed JSON Lines, unknown document or run)";

/// Why the program stops without doing what it was asked.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// A usage error found after parsing (clap reports its own).
    #[error("{message}")]
    Usage {
        /// What is wrong.
        message: String,
        /// What to do.
        next: String,
    },
    /// The kill switch refused a mutation, or a precondition failed.
    #[error("refused: {reason}")]
    Refused {
        /// Why (for a closed kill switch: the switch that closed it; nothing was mutated).
        reason: String,
        /// Which source closed it, or which option's precondition failed.
        switch: String,
        /// How to open it.
        how_to_open: String,
    },
    /// A gate found a gap.
    #[error("blocked at {gap}")]
    Blocked {
        /// The gap (boxed: it is large, and rare).
        gap: Box<Gap>,
    },
    /// An error stopped the command.
    #[error("{error}")]
    Failed {
        /// What went wrong.
        error: String,
        /// What to do.
        next: String,
    },
    /// The configuration is invalid.
    #[error("configuration: {message}")]
    Config {
        /// What is wrong (naming the key or variable).
        message: String,
        /// What to do.
        next: String,
    },
    /// The store cannot be reached.
    #[error("store unavailable: {message}")]
    StoreUnavailable {
        /// Why (with the location, password removed).
        message: String,
        /// What to do.
        next: String,
    },
    /// The input is unusable.
    #[error("bad input: {message}")]
    BadInput {
        /// What is wrong (naming the file and where).
        message: String,
        /// What to do.
        next: String,
    },
}

impl CliError {
    /// The process exit status for this error.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage { .. } => exit::USAGE,
            CliError::Refused { .. } => exit::REFUSED,
            CliError::Blocked { .. } => exit::BLOCKED,
            CliError::Failed { .. } => exit::FAILED,
            CliError::Config { .. } => exit::CONFIG,
            CliError::StoreUnavailable { .. } => exit::STORE_UNAVAILABLE,
            CliError::BadInput { .. } => exit::BAD_INPUT,
        }
    }

    /// The kind of ending, as the JSON error names it (`refused`, `store_unavailable`, …).
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            CliError::Usage { .. } => "usage",
            CliError::Refused { .. } => "refused",
            CliError::Blocked { .. } => "blocked",
            CliError::Failed { .. } => "failed",
            CliError::Config { .. } => "config",
            CliError::StoreUnavailable { .. } => "store_unavailable",
            CliError::BadInput { .. } => "bad_input",
        }
    }

    /// The error as one JSON object on one line, what `--json` prints on stdout instead of the
    /// `error:` and `next:` lines: `{"error": {"code", "kind", "message", "next_action"}}`, plus
    /// the gap of a `blocked` error and the switch of a `refused` one.
    pub(crate) fn to_json(&self) -> String {
        let mut error = serde_json::json!({
            "code": self.exit_code(),
            "kind": self.kind(),
            "message": self.to_string(),
            "next_action": self.next_action(),
        });
        match self {
            CliError::Blocked { gap } => {
                error["gap"] = serde_json::to_value(gap.as_ref()).unwrap_or_default();
            }
            CliError::Refused { switch, .. } => error["switch"] = switch.clone().into(),
            _ => {}
        }
        serde_json::json!({ "error": error }).to_string()
    }

    /// A usage error reported by the command-line parser, as `--json` prints it.
    pub(crate) fn usage_json(message: &str) -> String {
        CliError::Usage {
            message: message.trim_end().to_owned(),
            next: "see iu-cutter --help".to_owned(),
        }
        .to_json()
    }

    /// The operator's next action.
    pub(crate) fn next_action(&self) -> String {
        match self {
            CliError::Refused { how_to_open, .. } => how_to_open.clone(),
            CliError::Blocked { gap } => super::next::render(&gap.next),
            CliError::Usage { next, .. }
            | CliError::Failed { next, .. }
            | CliError::Config { next, .. }
            | CliError::StoreUnavailable { next, .. }
            | CliError::BadInput { next, .. } => next.clone(),
        }
    }

    /// The kill switch `switch` refused a mutation.
    pub(crate) fn gate_closed(switch: String, how_to_open: String) -> Self {
        CliError::Refused {
            reason: format!("the kill switch is closed by {switch}; nothing was mutated"),
            switch,
            how_to_open,
        }
    }

    pub(crate) fn config(message: impl Into<String>, next: impl Into<String>) -> Self {
        CliError::Config {
            message: message.into(),
            next: next.into(),
        }
    }

    pub(crate) fn bad_input(message: impl Into<String>, next: impl Into<String>) -> Self {
        CliError::BadInput {
            message: message.into(),
            next: next.into(),
        }
    }

    pub(crate) fn failed(error: impl Into<String>, next: impl Into<String>) -> Self {
        CliError::Failed {
            error: error.into(),
            next: next.into(),
        }
    }

    /// An adapter error met while `doing` something, with `retry` as the command to repeat.
    pub(crate) fn from_adapter(error: AdapterError, doing: &str, retry: &str) -> Self {
        match error {
            AdapterError::GateClosed {
                switch,
                how_to_open,
            } => CliError::gate_closed(switch, how_to_open),
            AdapterError::Unavailable(why) => CliError::StoreUnavailable {
                message: format!("{doing}: {why}"),
                next: format!(
                    "check database_url (cutter.toml or IU_CUTTER_DATABASE_URL) and that the \
                     database is running and reachable, then: {retry}"
                ),
            },
            AdapterError::NotFound(what) => CliError::bad_input(
                format!("{doing}: not found: {what}"),
                "check the id (iu-cutter status lists runs; iu-cutter plan lists documents)",
            ),
            AdapterError::Invalid(why) => {
                CliError::bad_input(format!("{doing}: {why}"), format!("fix it, then: {retry}"))
            }
            other => CliError::failed(
                format!("{doing}: {other}"),
                format!("fix the cause above, then: {retry}"),
            ),
        }
    }

    /// A runner misuse.
    pub(crate) fn from_runner(error: RunnerError) -> Self {
        match error {
            RunnerError::UnknownRun(run) => CliError::bad_input(
                format!("no run `{run}` in the journal"),
                "list the journaled runs with `iu-cutter status`",
            ),
            RunnerError::InvalidOption(why) => CliError::config(
                format!("invalid option: {why}"),
                "fix batch_units in cutter.toml or IU_CUTTER_BATCH_UNITS",
            ),
            other => CliError::Usage {
                message: other.to_string(),
                next: "see iu-cutter run --help".into(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors() -> Vec<CliError> {
        vec![
            CliError::Usage {
                message: "m".into(),
                next: "n".into(),
            },
            CliError::gate_closed("stop file".into(), "remove it".into()),
            CliError::Blocked {
                gap: Box::new(Gap {
                    phase: "write-verify".into(),
                    document: None,
                    unit: None,
                    expected: "e".into(),
                    found: "f".into(),
                    next: vec![iu_cutter_orchestrator::NextAction::fix("rollback")],
                }),
            },
            CliError::failed("boom", "resume"),
            CliError::config("bad key", "fix it"),
            CliError::StoreUnavailable {
                message: "down".into(),
                next: "start it".into(),
            },
            CliError::bad_input("bad utf-8", "fix the file"),
        ]
    }

    #[test]
    fn every_error_has_a_json_form_with_its_exit_code() -> Result<(), serde_json::Error> {
        let mut codes = Vec::new();
        for error in errors() {
            let value: serde_json::Value = serde_json::from_str(&error.to_json())?;
            let object = &value["error"];
            assert_eq!(object["code"], u64::from(error.exit_code()), "{value}");
            assert_eq!(object["kind"], error.kind(), "{value}");
            assert_eq!(object["message"], error.to_string(), "{value}");
            assert_eq!(object["next_action"], error.next_action(), "{value}");
            codes.push(error.exit_code());
        }
        assert_eq!(codes, [2, 3, 4, 5, 6, 7, 8]);
        let blocked: serde_json::Value = serde_json::from_str(&errors()[2].to_json())?;
        assert_eq!(blocked["error"]["gap"]["phase"], "write-verify");
        Ok(())
    }
}
