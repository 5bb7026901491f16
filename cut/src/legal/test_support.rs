//! What the legal modules' unit tests share: the dotted-number samples their hand-written
//! readers are checked against a regex on, and where a preset's units start.

use iu_cutter_live_execution::{CutRules, Preset};

use crate::Cutter;

/// Lines that are, or nearly are, a dotted number (`1.`, `1.2.3`) followed by text: the cases on
/// which a hand-written number reader must agree with the regex it replaces.
pub(crate) const DOTTED_SAMPLES: [&str; 18] = [
    "1. a",
    "1.",
    "12.",
    "123. x",
    "1234. x",
    "1 x",
    "1.1 x",
    "1.1. x",
    "1.1.1",
    "1.x",
    "1..",
    "1.2.3.4.5.6 x",
    "1.2.3.4.5.6. x",
    "1.2.3.4.5.6.7 x",
    "1.1234 x",
    "9.\u{a0}x",
    " 1. x",
    "1.\tx",
];

/// Each unit's first line (1-based) and path, cut from `text` with `preset`.
pub(crate) fn unit_lines(preset: Preset, text: &str) -> Vec<(usize, String)> {
    let cutter = Cutter::new(&CutRules::preset(preset)).unwrap_or_else(|e| panic!("{e}"));
    let units = cutter.cut("d", text).unwrap_or_else(|e| panic!("{e}"));
    units
        .iter()
        .map(|u| {
            let before = text.get(..u.start as usize).unwrap_or_default();
            (1 + before.matches('\n').count(), u.path.to_string())
        })
        .collect()
}

/// `expected` in the form [`unit_lines`] returns.
pub(crate) fn owned(expected: &[(usize, &str)]) -> Vec<(usize, String)> {
    expected
        .iter()
        .map(|(l, p)| (*l, (*p).to_owned()))
        .collect()
}
