//! [`CutUnit`]: one information unit, an exact byte span of the source: the plan's
//! [`PlannedUnit`], as the cutter produces it.

use iu_cutter_live_execution::PlannedUnit;

/// One information unit: an exact byte span of the source document. It is the plan's
/// [`PlannedUnit`] (same fields, same JSON): a cut goes into a plan as it is. Its id is
/// [`unit_id`](crate::unit_id); the preamble's path is [`PREAMBLE_PATH`](crate::PREAMBLE_PATH).
pub type CutUnit = PlannedUnit;
