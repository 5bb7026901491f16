//! How domain values are stored in columns: states as short text, journal values as JSON text,
//! unsigned numbers as `BIGINT`. Shared by both backends so that they store identical rows.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::domain::{DocumentState, GenerationState, PhaseStatus, RunId, RunStatus};
use crate::error::AdapterError;

use super::error::SqlError;

/// A row the store cannot decode: the database was changed by something other than iu-cutter.
pub(crate) fn corrupt(what: String) -> AdapterError {
    AdapterError::Database(Box::new(SqlError::new(format!(
        "unexpected stored value: {what}; was the database changed outside iu-cutter?"
    ))))
}

/// `documents.state` and `documents.cutting_run` of a state.
pub(crate) fn document_state(state: &DocumentState) -> (&'static str, Option<&str>) {
    match state {
        DocumentState::Ready => ("ready", None),
        DocumentState::Cutting { run } => ("cutting", Some(run.as_str())),
        DocumentState::Cut => ("cut", None),
    }
}

/// The state stored as `state` and `cutting_run`.
pub(crate) fn parse_document_state(
    state: &str,
    cutting_run: Option<String>,
) -> Result<DocumentState, AdapterError> {
    match (state, cutting_run) {
        ("ready", None) => Ok(DocumentState::Ready),
        ("cut", None) => Ok(DocumentState::Cut),
        ("cutting", Some(run)) => Ok(DocumentState::Cutting {
            run: RunId::new(run),
        }),
        (state, run) => Err(corrupt(format!(
            "document state `{state}` with cutting run {run:?}"
        ))),
    }
}

/// `generations.state` of a state.
pub(crate) fn generation_state(state: GenerationState) -> &'static str {
    match state {
        GenerationState::Staged => "staged",
        GenerationState::Active => "active",
        GenerationState::Retired => "retired",
    }
}

/// The generation state stored as `state`.
pub(crate) fn parse_generation_state(state: &str) -> Result<GenerationState, AdapterError> {
    match state {
        "staged" => Ok(GenerationState::Staged),
        "active" => Ok(GenerationState::Active),
        "retired" => Ok(GenerationState::Retired),
        other => Err(corrupt(format!("generation state `{other}`"))),
    }
}

/// A journal enum (run or phase status) as its serialised name, e.g. `RUNNING`, `done`.
pub(crate) fn status_name<T: Serialize>(status: &T) -> Result<String, AdapterError> {
    match serde_json::to_value(status) {
        Ok(serde_json::Value::String(name)) => Ok(name),
        Ok(other) => Err(AdapterError::Invalid(format!(
            "a status serialised as {other}, not as a name"
        ))),
        Err(error) => Err(AdapterError::Invalid(format!(
            "cannot serialise a status: {error}"
        ))),
    }
}

/// A journal enum from its serialised name.
pub(crate) fn parse_status<T: DeserializeOwned>(name: &str) -> Result<T, AdapterError> {
    serde_json::from_value(serde_json::Value::String(name.to_owned()))
        .map_err(|error| corrupt(format!("status `{name}` ({error})")))
}

/// Run status name.
pub(crate) fn run_status(status: RunStatus) -> Result<String, AdapterError> {
    status_name(&status)
}

/// Phase status name.
pub(crate) fn phase_status(status: PhaseStatus) -> Result<String, AdapterError> {
    status_name(&status)
}

/// A value as JSON text.
pub(crate) fn to_json<T: Serialize>(value: &T, what: &str) -> Result<String, AdapterError> {
    serde_json::to_string(value)
        .map_err(|error| AdapterError::Invalid(format!("cannot serialise {what}: {error}")))
}

/// A value from stored JSON text.
pub(crate) fn from_json<'de, T: Deserialize<'de>>(
    text: &'de str,
    what: &str,
) -> Result<T, AdapterError> {
    serde_json::from_str(text).map_err(|error| corrupt(format!("{what} ({error})")))
}

/// An unsigned number as a `BIGINT`.
pub(crate) fn to_db(value: u64, what: &str) -> Result<i64, AdapterError> {
    i64::try_from(value).map_err(|_| {
        AdapterError::Invalid(format!(
            "{what} {value} does not fit the database (at most {})",
            i64::MAX
        ))
    })
}

/// A stored `BIGINT` as an unsigned number.
pub(crate) fn from_db<T: TryFrom<i64>>(value: i64, what: &str) -> Result<T, AdapterError> {
    T::try_from(value).map_err(|_| corrupt(format!("{what} {value}")))
}

/// A unit's integer columns as stored (ordinal, part, start, end), checked into the domain's
/// types: every read of a unit, whatever its shape, converts them here.
pub(crate) fn unit_numbers(
    ordinal: i64,
    part: Option<i64>,
    start: i64,
    end: i64,
) -> Result<(u32, Option<u32>, u64, u64), AdapterError> {
    Ok((
        from_db(ordinal, "unit ordinal")?,
        part.map(|p| from_db(p, "unit part")).transpose()?,
        from_db(start, "unit start")?,
        from_db(end, "unit end")?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip() -> Result<(), AdapterError> {
        for state in [
            DocumentState::Ready,
            DocumentState::Cut,
            DocumentState::Cutting {
                run: RunId::new("r1"),
            },
        ] {
            let (name, run) = document_state(&state);
            assert_eq!(parse_document_state(name, run.map(str::to_owned))?, state);
        }
        for state in [
            GenerationState::Staged,
            GenerationState::Active,
            GenerationState::Retired,
        ] {
            assert_eq!(parse_generation_state(generation_state(state))?, state);
        }
        assert_eq!(run_status(RunStatus::RolledBack)?, "ROLLED_BACK");
        assert_eq!(
            parse_status::<RunStatus>("ROLLED_BACK")?,
            RunStatus::RolledBack
        );
        assert_eq!(phase_status(PhaseStatus::Done)?, "done");
        assert!(parse_document_state("cutting", None).is_err());
        assert!(parse_generation_state("gone").is_err());
        Ok(())
    }

    #[test]
    fn numbers_outside_bigint_are_refused() {
        assert!(matches!(
            to_db(u64::MAX, "x"),
            Err(AdapterError::Invalid(_))
        ));
        assert!(from_db::<u32>(-1, "ordinal").is_err());
        assert!(matches!(from_db::<u64>(7, "revision"), Ok(7)));
    }
}
