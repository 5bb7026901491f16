//! Unit tests of the unit type.

use super::*;
use iu_cutter_live_execution::{CutRules, Preset};

use crate::Cutter;

#[test]
fn planned_unit_conversion_keeps_every_field() {
    let cutter = Cutter::new(&CutRules::preset(Preset::Markdown)).unwrap_or_else(|e| panic!("{e}"));
    let units = cutter
        .cut("d", "# A\nx\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let unit = units[0].clone();
    let planned = PlannedUnit::from(unit.clone());
    assert_eq!(
        (planned.ordinal, planned.unit_id, planned.path, planned.part),
        (unit.ordinal, unit.unit_id, unit.path, unit.part)
    );
    assert_eq!(
        (planned.start, planned.end, planned.sha256),
        (unit.start, unit.end, unit.sha256)
    );
}
