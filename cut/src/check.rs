//! The losslessness and hash checks: [`check_lossless`] runs on every cut before it is
//! returned; [`check_hashes`] re-hashes units read back from a store.

use iu_cutter_live_execution::Sha256Digest;

use crate::{CutError, CutUnit};

/// The enforced losslessness check: `units` are, in order, non-empty spans of `text` on character
/// boundaries that start at 0, follow each other with no gap and no overlap, and end at
/// `text.len()`; ordinals are 0, 1, 2, …; part numbers run 1, 2, … within a split unit (at least
/// two parts, all with the same path). For an empty `text`, `units` must be empty.
///
/// It does not re-hash the spans (that would double the cost of a cut whose hashes were just
/// computed from those very spans); [`check_hashes`] does, for units read back from a store.
pub fn check_lossless(text: &str, units: &[CutUnit]) -> Result<(), CutError> {
    let fail = |detail: String| Err(CutError::NotLossless { detail });
    let len = text.len() as u64;
    let mut covered: u64 = 0;
    let mut previous: Option<&CutUnit> = None;
    for (index, unit) in units.iter().enumerate() {
        if u64::from(unit.ordinal) != index as u64 {
            return fail(format!(
                "unit at index {index} has ordinal {}",
                unit.ordinal
            ));
        }
        if unit.start != covered {
            let what = if unit.start > covered {
                "gap"
            } else {
                "overlap"
            };
            return fail(format!(
                "{what} before unit {} ({}): it starts at byte {}, the previous unit ends at byte {covered}",
                unit.ordinal, unit.path, unit.start
            ));
        }
        if unit.end <= unit.start {
            return fail(format!(
                "unit {} ({}) is empty or inverted: [{}, {})",
                unit.ordinal, unit.path, unit.start, unit.end
            ));
        }
        if unit.end > len {
            return fail(format!(
                "unit {} ({}) ends at byte {}, past the end of the {len}-byte source",
                unit.ordinal, unit.path, unit.end
            ));
        }
        // Each end is the next unit's start or the end of the text (both checked), so the
        // starts alone decide the boundaries: half the reads of the text, which after a large
        // cut has left the cache.
        if !usize::try_from(unit.start).is_ok_and(|start| text.is_char_boundary(start)) {
            return fail(format!(
                "unit {} ({}) [{}, {}) does not lie on UTF-8 character boundaries",
                unit.ordinal, unit.path, unit.start, unit.end
            ));
        }
        let open_part = previous.and_then(|p| p.part.map(|n| (n, p.path.as_str())));
        match (open_part, unit.part) {
            (_, Some(0)) => {
                return fail(format!("unit {} ({}) has part 0", unit.ordinal, unit.path));
            }
            (Some((1, _)), None) | (Some((1, _)), Some(1)) => {
                return fail(format!(
                    "unit {} is part 1 of a split unit with no part 2",
                    unit.ordinal - 1
                ));
            }
            (Some((n, path)), Some(m)) if m > 1 && (m != n + 1 || path != unit.path) => {
                return fail(format!(
                    "unit {} ({}) is part {m} but follows part {n} of `{path}`",
                    unit.ordinal, unit.path
                ));
            }
            (None, Some(m)) if m > 1 => {
                return fail(format!(
                    "unit {} ({}) is part {m} but does not follow part {}",
                    unit.ordinal,
                    unit.path,
                    m - 1
                ));
            }
            _ => {}
        }
        covered = unit.end;
        previous = Some(unit);
    }
    if let Some(last) = previous
        && last.part == Some(1)
    {
        return fail(format!(
            "unit {} is part 1 of a split unit with no part 2",
            last.ordinal
        ));
    }
    if covered != len {
        return fail(format!(
            "the units cover bytes [0, {covered}) of a {len}-byte source"
        ));
    }
    Ok(())
}

/// Checks that every unit's sha256 is the sha256 of its span of `text` (for units read back from
/// a store). Spans that do not lie inside `text` are reported by [`check_lossless`]; here they
/// count as mismatches.
pub fn check_hashes(text: &str, units: &[CutUnit]) -> Result<(), CutError> {
    for unit in units {
        // Compared raw: the hex is written out only for the error.
        let digest = unit.text(text).map(|s| Sha256Digest::of(s.as_bytes()));
        if digest != Some(unit.sha256) {
            let computed = digest.map_or_else(
                || "(span outside the source)".to_owned(),
                |digest| digest.hex(),
            );
            return Err(CutError::HashMismatch {
                ordinal: unit.ordinal,
                path: unit.path.as_str().to_owned(),
                recorded: unit.sha256.hex(),
                computed,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
