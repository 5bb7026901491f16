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
        "cut rules: max_unit_bytes = {max} is below the minimum of {min} (a UTF-8 code point takes up to 4 bytes and is never split)"
    )]
    MaxUnitBytesTooSmall {
        /// The configured limit.
        max: u64,
        /// The smallest accepted limit.
        min: u64,
    },
    /// The document would be cut into more than [`MAX_UNITS_PER_DOCUMENT`](crate::MAX_UNITS_PER_DOCUMENT) units.
    #[error("document `{document_id}` would be cut into more than {limit} units")]
    TooManyUnits {
        /// The document.
        document_id: String,
        /// The limit that was reached.
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
