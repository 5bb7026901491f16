//! [`CutUnit`]: one information unit, an exact byte span of the source, and its conversion to
//! the plan's [`PlannedUnit`].

use iu_cutter_live_execution::PlannedUnit;
use serde::{Deserialize, Serialize};

/// One information unit: an exact byte span of the source document.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CutUnit {
    /// Position in the document, from 0, in document order.
    pub ordinal: u32,
    /// Stable id (see [`unit_id`](crate::unit_id)): 32 lowercase hex characters.
    pub unit_id: String,
    /// Hierarchical path, e.g. `Chương II/Điều 44`, `Section 1/1.1`, [`PREAMBLE_PATH`](crate::PREAMBLE_PATH).
    pub path: String,
    /// `Some(1..)` when an oversize unit was split; every part keeps the unit's path.
    pub part: Option<u32>,
    /// First byte of the span in the source.
    pub start: u64,
    /// One past the last byte of the span.
    pub end: u64,
    /// Lowercase hex sha256 of exactly the bytes `source[start..end]`.
    pub sha256: String,
}

impl CutUnit {
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
}

impl From<CutUnit> for PlannedUnit {
    fn from(unit: CutUnit) -> Self {
        PlannedUnit {
            ordinal: unit.ordinal,
            unit_id: unit.unit_id,
            path: unit.path,
            part: unit.part,
            start: unit.start,
            end: unit.end,
            sha256: unit.sha256,
        }
    }
}

#[cfg(test)]
mod tests;
