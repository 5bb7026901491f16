//! [`CutError`]: why rules could not be compiled, or a cut could not be made or checked.

/// Why rules could not be compiled, or a cut could not be made or checked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CutError {
    /// A marker pattern is not a valid regular expression.
    #[error("cut rules: level `{level}`: invalid marker pattern `{pattern}`: {message}")]
    InvalidPattern {
        /// The level's name (`Custom` levels) or the preset level (e.g. `legal-vi/Điều`).
        level: String,
        /// The pattern as written.
        pattern: String,
        /// The regular-expression compiler's message.
        message: String,
    },
    /// `max_unit_bytes` is below [`MIN_MAX_UNIT_BYTES`](crate::MIN_MAX_UNIT_BYTES).
    #[error(
        "cut rules: max_unit_bytes = {max} is below the minimum of {min} bytes: smaller parts are \
         fragments, not information units, and every unit costs memory (a 5 MB document at 4 bytes \
         per unit makes 1.3 million units); set max_unit_bytes to {min} or more, or leave it unset"
    )]
    MaxUnitBytesTooSmall {
        /// The configured limit.
        max: u64,
        /// The smallest accepted limit.
        min: u64,
    },
    /// The document would be cut into more than
    /// [`MAX_UNITS_PER_DOCUMENT`](crate::MAX_UNITS_PER_DOCUMENT) units (or the cutter's lower
    /// limit).
    #[error(
        "document `{document_id}` would be cut into {units} units, more than the {limit} one \
         document may have (they would not fit in memory); raise max_unit_bytes, or use a \
         coarser preset or fewer levels"
    )]
    TooManyUnits {
        /// The document.
        document_id: String,
        /// How many units the rules make of it.
        units: u64,
        /// The most units one document may have.
        limit: usize,
    },
    /// The units do not cover the source exactly (a gap, an overlap, a bad ordinal or part
    /// number, a span off a character boundary).
    #[error("cut is not lossless: {detail}")]
    NotLossless {
        /// What is wrong, and where.
        detail: String,
    },
    /// A unit's recorded sha256 is not the sha256 of its span.
    #[error("unit {ordinal} ({path}): sha256 mismatch: recorded {recorded}, computed {computed}")]
    HashMismatch {
        /// The unit's ordinal.
        ordinal: u32,
        /// The unit's path.
        path: String,
        /// The sha256 in the unit.
        recorded: String,
        /// The sha256 of the unit's span of the source.
        computed: String,
    },
}
