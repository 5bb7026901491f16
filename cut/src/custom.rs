//! User-defined levels ([`MarkerSet::Custom`]): each pattern is implicitly anchored at the start
//! of the line (after a BOM on the first line; indentation is the pattern's business) and is
//! NFC-normalised at compile time, like the lines it is matched against: the line without its
//! line ending, up to [`MATCH_PREFIX_BYTES`](crate::MATCH_PREFIX_BYTES) (so `$` is the end of the line for shorter lines).
//! The label is the first capture group if it participated in the match, else the whole match,
//! trimmed; an empty label falls back to the level's name. A zero-length match is not a marker.
//! When several levels match a line, the outermost wins. An empty list of levels is allowed: the
//! whole document is then one preamble unit (split by size if needed).
//!
//! [`MarkerSet::Custom`]: iu_cutter_live_execution::MarkerSet::Custom

use iu_cutter_live_execution::LevelRule;
use regex::{CaptureLocations, Regex, RegexSet};
use unicode_normalization::UnicodeNormalization;

use crate::CutError;
use crate::lines::Lines;
use crate::nfc::match_view;
use crate::scan::{Label, Scan};

#[derive(Clone, Debug)]
struct CustomLevel {
    name: String,
    regex: Regex,
}

#[derive(Clone, Debug)]
pub(crate) struct CustomEngine {
    levels: Vec<CustomLevel>,
    /// All levels at once, to reject most lines with one search (when there are several levels).
    any: Option<RegexSet>,
}

impl CustomEngine {
    pub(crate) fn new(rules: &[LevelRule]) -> Result<Self, CutError> {
        let invalid = |rule: &LevelRule, e: regex::Error| CutError::InvalidPattern {
            level: rule.name.clone(),
            pattern: rule.pattern.clone(),
            message: e.to_string(),
        };
        let mut levels = Vec::with_capacity(rules.len());
        let mut anchored = Vec::with_capacity(rules.len());
        for rule in rules {
            let pattern: String = rule.pattern.nfc().collect();
            // Compiled alone first: a pattern like `a)|(b` must be rejected, not anchored halfway.
            Regex::new(&pattern).map_err(|e| invalid(rule, e))?;
            let wrapped = format!(r"\A(?:{pattern})");
            let regex = Regex::new(&wrapped).map_err(|e| invalid(rule, e))?;
            levels.push(CustomLevel {
                name: rule.name.clone(),
                regex,
            });
            anchored.push(wrapped);
        }
        let any = if levels.len() > 1 {
            let set = RegexSet::new(&anchored).map_err(|e| CutError::InvalidPattern {
                level: rules
                    .iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                pattern: rules
                    .iter()
                    .map(|r| r.pattern.as_str())
                    .collect::<Vec<_>>()
                    .join(" | "),
                message: e.to_string(),
            })?;
            Some(set)
        } else {
            None
        };
        Ok(CustomEngine { levels, any })
    }

    pub(crate) fn scan(&self, text: &str, scan: &mut Scan<'_>) {
        if self.levels.is_empty() {
            return;
        }
        let mut buf = String::new();
        let mut locations: Vec<CaptureLocations> = self
            .levels
            .iter()
            .map(|l| l.regex.capture_locations())
            .collect();
        for line in Lines::new(text) {
            let view = match_view(line.content, &mut buf);
            if let Some(any) = &self.any
                && !any.is_match(view)
            {
                continue;
            }
            for (index, (level, locs)) in self.levels.iter().zip(locations.iter_mut()).enumerate() {
                let Some(whole) = level.regex.captures_read(locs, view) else {
                    continue;
                };
                if whole.is_empty() {
                    continue;
                }
                let label = locs
                    .get(1)
                    .and_then(|(s, e)| view.get(s..e))
                    .unwrap_or(whole.as_str())
                    .trim();
                let label = if label.is_empty() {
                    level.name.as_str()
                } else {
                    label
                };
                scan.open(index, line.start, Label::Text(label));
                break;
            }
        }
    }
}
