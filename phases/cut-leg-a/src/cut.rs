//! The cut engine: cuts one document into information units by the [`CutRules`].
//!
//! A [`Cutter`] compiles the rules once ([`Cutter::new`]) and then cuts any number of documents
//! ([`Cutter::cut`]), from any number of threads (`Cutter` is `Send + Sync`).
//!
//! # What a cut guarantees
//!
//! * **Lossless.** Every [`CutUnit`] is an exact byte span `[start, end)` of the source. The spans
//!   are non-empty, start and end on UTF-8 character boundaries, and cover the source with no gap
//!   and no overlap, so concatenating the units in order gives back the source byte for byte:
//!   a UTF-8 BOM, `\r\n` line endings, trailing whitespace and a missing final newline included.
//!   [`Cutter::cut`] enforces this with [`check_lossless`] before returning. An empty document is
//!   cut into **zero** units (the check then holds trivially).
//! * **Deterministic.** The same text and rules always give the same units, ids and hashes.
//! * **Stable ids.** A unit's id ([`unit_id`]) is derived from the document id and the unit's
//!   structural path (plus an occurrence index for repeated paths, and the part number), never
//!   from its content: editing the body of one article leaves every other unit's id unchanged.
//! * **Linear time.** One pass over the lines; each line is looked at through a bounded prefix
//!   (at most [`MATCH_PREFIX_BYTES`]), so no regular expression ever runs over the whole text.
//!   Most lines are ruled out by their first bytes without any regex or normalisation. A unit is
//!   split (if oversize) and hashed as soon as the next marker closes it, while its bytes are
//!   still in cache, so one large document costs the same per byte as many small ones. Only
//!   oversize units are scanned a second time (to split them).
//!
//! # Unit ids
//!
//! [`unit_id`] hashes the document id, the path, the path's *occurrence* index (0 for the first
//! unit with that path in the document, 1 for the next, …) and the part number. Ids are unique
//! within a document, and do not depend on any unit's content.
//!
//! # Markers
//!
//! A marker is a line whose start matches one of the levels of the [`MarkerSet`]. Levels are
//! ordered outermost first; a marker at level *i* closes the open units at levels ≥ *i* and starts
//! a new unit that runs up to the next marker. The unit's path is the chain of the labels still
//! open at outer levels plus the marker's own label, joined with `/`
//! (e.g. `Chương II/Mục 1/Điều 44`). Text before the first marker, if any, is the preamble unit,
//! path [`PREAMBLE_PATH`]. Labels are used as they are: a `/` inside one (a heading
//! `Input/Output`) is not escaped, which makes such paths ambiguous to read back but leaves ids
//! unique.
//!
//! Lines end at `\n`; a `\r` before it is not part of the line as matched (it stays in the unit).
//! A BOM at the start of the document is ignored for matching (it stays in the first unit).
//! Markers match whether the text arrives in NFC or NFD (or a mix): a line prefix that is not
//! already NFC is normalised before matching, and labels (hence paths) are NFC, at most
//! [`MATCH_PREFIX_BYTES`] long. Hashes are always over the bytes exactly as stored. Markdown
//! structure (`#`, fences, underlines, indentation) is ASCII and read from the raw bytes.
//!
//! The presets:
//!
//! * **`markdown`**: ATX headings `#`…`######` (levels h1…h6; up to three spaces of
//!   indentation; the label is the heading text without the `#`s and without a closing `#`
//!   sequence), and setext headings (a paragraph underlined by `=`, h1, or by at least two `-`,
//!   h2; the unit starts at the paragraph's first line, the label is the paragraph's lines joined
//!   by spaces). Lines inside fenced code blocks (```` ``` ```` or `~~~`) are never headings; a
//!   `---` that follows a blank line, a heading, a list item or a block quote is a thematic break;
//!   a YAML front matter block (`---` on the first line, closed by `---` or `...` within the first
//!   64 KiB) is part of the preamble. An empty ATX heading is labelled `h1`…`h6`.
//! * **`legal-en`**: `Part`, `Chapter`, `Section`, `Article` (in that order, outermost first;
//!   capitalised or all capitals), each followed by a roman or arabic number (optionally with a
//!   letter suffix, `5a`) or a single capital letter; label e.g. `Article 17`. Then numbered
//!   sections `1.`, `1.1`, `1.1.`, `17.` followed by whitespace or the end of the line (ASCII
//!   digits, at most three per component, at most six components), nesting by depth below
//!   `Article`:
//!   `1.` is one level, `1.1` the next, so `Section 1/1.1` or `Chapter II/Article 5/5.1` (and
//!   `Article 3/2/2.1` under a clause `2.`); the label is the number without a trailing dot. A bare
//!   number without any dot (`1 January`) is not a marker, nor is `2024.` (four digits).
//! * **`legal-vi`**: `Phần`, `Chương`, `Mục`, `Điều` (capitalised or all capitals; `Phần` also
//!   takes `thứ nhất`…), each followed by its number; label e.g. `Điều 44` (a trailing `.` is not
//!   part of the label). Inside an article only (a numbered line in a preamble is text): numbered
//!   clauses `1.` (label `Khoản 1`) and lettered points `a)`, `đ)` (label `Điểm a`), or the
//!   explicit words `Khoản 2`, `Điểm b`.
//! * **`paragraphs`**: every paragraph (a run of non-blank lines) starts a unit labelled `¶1`,
//!   `¶2`, …; blank lines belong to the preceding unit.
//!
//! For the keyword levels of both legal presets, a heading must look like a heading: after the
//! number comes the end of the line, punctuation (`.`, `:`, `-`, `–`, `—`, `)`) or whitespace and
//! then something that is not a lowercase letter. So `Article 5. Definitions`, `Chương II` and
//! `Điều 3 Giải thích từ ngữ` are markers, while a wrapped sentence that happens to begin with
//! `Section 3 of this Act …` or `Điều 5 của Luật này …` is not. Leading spaces and tabs are
//! allowed before legal markers.
//!
//! **Custom** levels ([`MarkerSet::Custom`]): each pattern is implicitly anchored at the start of
//! the line (after a BOM on the first line; indentation is the pattern's business) and is
//! NFC-normalised at compile time, like the lines it is matched against: the line without its
//! line ending, up to [`MATCH_PREFIX_BYTES`] (so `$` is the end of the line for shorter lines). The label is the first
//! capture group if it participated in the match, else the whole match, trimmed; an empty label
//! falls back to the level's name. A zero-length match is not a marker. When several levels match
//! a line, the outermost wins. An empty list of levels is allowed: the whole document is then one
//! preamble unit (split by size if needed).
//!
//! # Size limit
//!
//! A unit larger than `max_unit_bytes` is split into parts numbered `Some(1)`, `Some(2)`, … that
//! keep the unit's path. Packing is greedy and hierarchical: as many whole paragraphs (a run of
//! non-blank lines plus the blank lines after it) as fit go into one part; a paragraph too large
//! on its own is packed by lines into its own parts; a line too large on its own is cut at
//! character boundaries. Every part is at most `max_unit_bytes` long and never splits a UTF-8
//! code point; a limit below [`MIN_MAX_UNIT_BYTES`] (the longest code point) is rejected.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use iu_cutter_live_execution::{CutRules, LevelRule, MarkerSet, PlannedUnit, Preset, decimal};
use regex::{CaptureLocations, Regex, RegexSet};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

/// Path of the unit holding the text before the first marker.
pub const PREAMBLE_PATH: &str = "(preamble)";

/// Separator between the labels of a path.
pub const PATH_SEPARATOR: char = '/';

/// The smallest accepted `max_unit_bytes`: one UTF-8 code point can take four bytes, and a part
/// never splits a code point.
pub const MIN_MAX_UNIT_BYTES: u64 = 4;

/// The most units one document may be cut into; beyond it the cut fails with
/// [`CutError::TooManyUnits`] (a guard against pathological rules, e.g. a tiny size limit on a
/// huge document, that would otherwise exhaust memory).
pub const MAX_UNITS_PER_DOCUMENT: usize = 1 << 24;

/// How many bytes at the start of a line are examined to recognise a marker and take its label.
/// Longer lines are cut to this length at a character boundary first, which keeps matching and
/// normalisation linear in the number of lines whatever the line lengths.
pub const MATCH_PREFIX_BYTES: usize = 256;

/// Labels of empty ATX headings, by level.
const EMPTY_HEADING_LABELS: [&str; 6] = ["h1", "h2", "h3", "h4", "h5", "h6"];

/// How much raw text may go into a label before it is normalised and bounded (room for NFD).
const RAW_LABEL_BYTES: usize = 4 * MATCH_PREFIX_BYTES;

/// How far a Markdown front matter block may extend before its closing line.
const FRONT_MATTER_MAX_BYTES: usize = 64 * 1024;

/// Domain-separation prefix of [`unit_id`]'s hash input.
const UNIT_ID_DOMAIN: &[u8] = b"iu-cutter/unit-id/v1\0";

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
    /// `max_unit_bytes` is below [`MIN_MAX_UNIT_BYTES`].
    #[error(
        "cut rules: max_unit_bytes = {max} is below the minimum of {min} (a UTF-8 code point takes up to 4 bytes and is never split)"
    )]
    MaxUnitBytesTooSmall {
        /// The configured limit.
        max: u64,
        /// The smallest accepted limit.
        min: u64,
    },
    /// The document would be cut into more than [`MAX_UNITS_PER_DOCUMENT`] units.
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

/// One information unit: an exact byte span of the source document.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CutUnit {
    /// Position in the document, from 0, in document order.
    pub ordinal: u32,
    /// Stable id (see [`unit_id`]): 32 lowercase hex characters.
    pub unit_id: String,
    /// Hierarchical path, e.g. `Chương II/Điều 44`, `Section 1/1.1`, [`PREAMBLE_PATH`].
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

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The stable id of a unit: the first 32 hex characters (128 bits) of a sha256 over the document
/// id, the unit's path, the occurrence index of that path in the document (0 for the first unit
/// with this path, 1 for the second, …; parts of one unit share it) and the part number.
///
/// The content is deliberately not an input, so ids survive edits of the unit's body and of
/// other units. The encoding is unambiguous (the document id is length-prefixed, and neither the
/// occurrence nor the part contains the separator), so distinct `(path, occurrence, part)` in
/// one document give distinct inputs.
pub fn unit_id(document_id: &str, path: &str, occurrence: u32, part: Option<u32>) -> String {
    let mut digits = [0u8; 20];
    let mut hasher = Sha256::new();
    hasher.update(UNIT_ID_DOMAIN);
    hasher.update(decimal(document_id.len() as u64, &mut digits));
    hasher.update(b":");
    hasher.update(document_id.as_bytes());
    hasher.update(b"\0");
    hasher.update(path.as_bytes());
    hasher.update(b"\0");
    hasher.update(decimal(u64::from(occurrence), &mut digits));
    hasher.update(b"\0");
    if let Some(part) = part {
        hasher.update(decimal(u64::from(part), &mut digits));
    }
    let digest = hasher.finalize();
    hex(&digest[..16])
}

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
        if unit.text(text).is_none() {
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
        let computed = unit.text(text).map_or_else(
            || "(span outside the source)".to_owned(),
            |s| sha256_hex(s.as_bytes()),
        );
        if computed != unit.sha256 {
            return Err(CutError::HashMismatch {
                ordinal: unit.ordinal,
                path: unit.path.clone(),
                recorded: unit.sha256.clone(),
                computed,
            });
        }
    }
    Ok(())
}

/// How many compiled rule sets [`Cutter::shared`] keeps; past it the cache starts afresh (a
/// process sees a handful of rule sets, so eviction order is not worth a dependency).
const SHARED_CUTTERS: usize = 32;

/// Compiled cutters by rules, shared by every run in the process (see [`Cutter::shared`]).
static SHARED: LazyLock<Mutex<HashMap<CutRules, Arc<Cutter>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Compiled cut rules. Build once with [`Cutter::new`] (or take the process-wide copy with
/// [`Cutter::shared`]), then [`cut`](Cutter::cut) any number of documents.
#[derive(Clone, Debug)]
pub struct Cutter {
    engine: Engine,
    max_unit_bytes: Option<usize>,
    unit_limit: usize,
}

impl Cutter {
    /// Compiles `rules`: the preset's or the custom levels' regular expressions, once.
    ///
    /// Fails with [`CutError::InvalidPattern`] naming the level for a custom pattern that is not a
    /// valid regular expression, and with [`CutError::MaxUnitBytesTooSmall`] for a
    /// `max_unit_bytes` below [`MIN_MAX_UNIT_BYTES`].
    pub fn new(rules: &CutRules) -> Result<Cutter, CutError> {
        let max_unit_bytes = match rules.max_unit_bytes {
            None => None,
            Some(max) if max < MIN_MAX_UNIT_BYTES => {
                return Err(CutError::MaxUnitBytesTooSmall {
                    max,
                    min: MIN_MAX_UNIT_BYTES,
                });
            }
            // A limit beyond the address space is no limit.
            Some(max) => usize::try_from(max).ok(),
        };
        let engine = match &rules.markers {
            MarkerSet::Preset(Preset::Markdown) => Engine::Markdown,
            MarkerSet::Preset(Preset::Paragraphs) => Engine::Paragraphs,
            MarkerSet::Preset(Preset::LegalEn) => Engine::Legal(Box::new(LegalEngine::english()?)),
            MarkerSet::Preset(Preset::LegalVi) => {
                Engine::Legal(Box::new(LegalEngine::vietnamese()?))
            }
            MarkerSet::Custom(levels) => Engine::Custom(CustomEngine::new(levels)?),
        };
        Ok(Cutter {
            engine,
            max_unit_bytes,
            unit_limit: MAX_UNITS_PER_DOCUMENT,
        })
    }

    /// The compiled cutter for `rules`, compiled at most once per process (while the rules stay
    /// among the last 32 rule sets used).
    ///
    /// Compiling the legal presets' expressions costs about a millisecond, several times a small
    /// document's whole run, and every run in a long-lived process (the runner, the simulator's
    /// property tests, a server) uses the same few rule sets. Errors are not cached: rules that
    /// fail to compile fail again, with the same [`CutError`], on every call.
    pub fn shared(rules: &CutRules) -> Result<Arc<Cutter>, CutError> {
        // A panic elsewhere while the lock was held leaves the map intact (inserts and clears
        // are single calls), so a poisoned lock is still safe to use.
        if let Some(cutter) = SHARED
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(rules)
        {
            return Ok(Arc::clone(cutter));
        }
        // Compiled outside the lock: two threads may both compile a new rule set once, which is
        // cheaper than making every other rule set wait.
        let cutter = Arc::new(Cutter::new(rules)?);
        let mut shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
        if shared.len() >= SHARED_CUTTERS {
            shared.clear();
        }
        shared.insert(rules.clone(), Arc::clone(&cutter));
        Ok(cutter)
    }

    /// The same cutter with a lower cap on the number of units per document (at most
    /// [`MAX_UNITS_PER_DOCUMENT`]; a larger value is clamped).
    pub fn with_unit_limit(mut self, limit: usize) -> Self {
        self.unit_limit = limit.min(MAX_UNITS_PER_DOCUMENT);
        self
    }

    /// The size limit in bytes, if any.
    pub fn max_unit_bytes(&self) -> Option<usize> {
        self.max_unit_bytes
    }

    /// Cuts `text`, the document `document_id`, into units (see the [module docs](self)).
    ///
    /// An empty text gives zero units. The result always passes [`check_lossless`] (the check is
    /// run before returning); fails with [`CutError::TooManyUnits`] past
    /// [`MAX_UNITS_PER_DOCUMENT`] units (or the limit set by [`Cutter::with_unit_limit`]).
    pub fn cut(&self, document_id: &str, text: &str) -> Result<Vec<CutUnit>, CutError> {
        let mut scan = Scan {
            stack: Vec::new(),
            spare: Vec::new(),
            units: UnitBuilder {
                document_id,
                text,
                max_unit_bytes: self.max_unit_bytes,
                limit: self.unit_limit,
                units: Vec::new(),
                open: None,
                keys: Vec::new(),
                parts: Vec::new(),
                error: None,
            },
        };
        if !text.is_empty() {
            self.engine.scan(text, &mut scan);
        }
        let units = scan.units.finish()?;
        check_lossless(text, &units)?;
        Ok(units)
    }
}

/// Builds the units while the scan runs: a unit is split and hashed as soon as the next marker
/// (or the end of the text) closes it, while its bytes are still in cache, so one large document
/// costs the same per byte as many small ones.
struct UnitBuilder<'a> {
    document_id: &'a str,
    text: &'a str,
    max_unit_bytes: Option<usize>,
    limit: usize,
    units: Vec<CutUnit>,
    /// The unit being scanned: its start and path.
    open: Option<(usize, String)>,
    /// The [`path_key`] of each unit before splitting, in order: the occurrence indexes are
    /// counted at the end ([`occurrences`]), then the ids computed.
    keys: Vec<u64>,
    /// Scratch space for the parts of an oversize unit.
    parts: Vec<(usize, usize)>,
    /// The first error; later units are ignored.
    error: Option<CutError>,
}

impl UnitBuilder<'_> {
    /// A marker: a unit with `path` starts at byte `start`, closing the open one (or the
    /// preamble).
    fn marker(&mut self, start: usize, path: String) {
        match self.open.take() {
            Some((open_start, open_path)) => self.close(open_start, start, open_path),
            None if start > 0 => self.close(0, start, PREAMBLE_PATH.to_owned()),
            None => {}
        }
        self.open = Some((start, path));
    }

    /// Closes the last unit at the end of the text and returns the units.
    fn finish(mut self) -> Result<Vec<CutUnit>, CutError> {
        let len = self.text.len();
        match self.open.take() {
            Some((start, path)) => self.close(start, len, path),
            None if len > 0 => self.close(0, len, PREAMBLE_PATH.to_owned()),
            None => {}
        }
        if let Some(error) = self.error {
            return Err(error);
        }
        let occurrences = occurrences(&self.keys);
        let mut logical = None;
        for unit in &mut self.units {
            // A new unit before splitting starts at every unit that is not a later part.
            if matches!(unit.part, None | Some(1)) {
                logical = Some(logical.map_or(0, |l: usize| l + 1));
            }
            let occurrence = logical
                .and_then(|l| occurrences.get(l))
                .copied()
                .unwrap_or_default();
            unit.unit_id = unit_id(self.document_id, &unit.path, occurrence, unit.part);
        }
        Ok(self.units)
    }

    fn close(&mut self, start: usize, end: usize, path: String) {
        if self.error.is_none()
            && let Err(error) = self.try_close(start, end, path)
        {
            self.error = Some(error);
        }
    }

    /// Splits `[start, end)` if oversize, and hashes it (or its parts) into units.
    fn try_close(&mut self, start: usize, end: usize, path: String) -> Result<(), CutError> {
        self.keys.push(path_key(&path));

        let mut parts = std::mem::take(&mut self.parts);
        parts.clear();
        if let Some(max) = self.max_unit_bytes
            && end.saturating_sub(start) > max
        {
            split_span(self.text, start, end, max, &mut parts);
        }
        let result = if parts.len() < 2 {
            self.push((start, end), path, None)
        } else if self.units.len().saturating_add(parts.len()) > self.limit {
            Err(self.too_many())
        } else {
            self.push_parts(&parts, path)
        };
        self.parts = parts;
        result
    }

    fn push_parts(&mut self, parts: &[(usize, usize)], path: String) -> Result<(), CutError> {
        let mut path = Some(path);
        for (index, &span) in parts.iter().enumerate() {
            let part = u32::try_from(index + 1).map_err(|_| self.too_many())?;
            // The last part takes the path; the others clone it.
            let part_path = if index + 1 == parts.len() {
                path.take().unwrap_or_default()
            } else {
                path.clone().unwrap_or_default()
            };
            self.push(span, part_path, Some(part))?;
        }
        Ok(())
    }

    fn too_many(&self) -> CutError {
        CutError::TooManyUnits {
            document_id: self.document_id.to_owned(),
            limit: self.limit,
        }
    }

    /// Hashes `[start, end)` and appends it as the next unit (its id comes at the end).
    fn push(
        &mut self,
        (start, end): (usize, usize),
        path: String,
        part: Option<u32>,
    ) -> Result<(), CutError> {
        if self.units.len() >= self.limit {
            return Err(self.too_many());
        }
        let ordinal = u32::try_from(self.units.len()).map_err(|_| self.too_many())?;
        // Spans are made of line starts, the end and character boundaries, so `get` succeeds;
        // were it ever to fail, `check_lossless` reports the span.
        let bytes = self.text.as_bytes().get(start..end).unwrap_or_default();
        self.units.push(CutUnit {
            ordinal,
            unit_id: String::new(),
            path,
            part,
            start: start as u64,
            end: end as u64,
            sha256: sha256_hex(bytes),
        });
        Ok(())
    }
}

/// A 64-bit hash of a path, for counting occurrences without copying paths: 8 bytes at a time,
/// each word mixed with the MurmurHash3 finaliser.
fn path_key(path: &str) -> u64 {
    fn mix(mut x: u64) -> u64 {
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        x ^ (x >> 33)
    }
    let bytes = path.as_bytes();
    let mut hash = 0x9e37_79b9_7f4a_7c15 ^ bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        hash = mix(hash ^ u64::from_le_bytes(word));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut word = [0u8; 8];
        word[..rest.len()].copy_from_slice(rest);
        hash = mix(hash ^ u64::from_le_bytes(word));
    }
    hash
}

/// For each key, how many earlier keys are equal to it: the occurrence index of each unit's path.
///
/// Most documents repeat no path, so this sorts a copy of the keys to find the repeated ones (a
/// cache-friendly pass, where a map of every path would miss the cache once per unit on a large
/// document), then counts only those. Were two distinct paths ever to share a key, they would
/// share one counter: occurrences would skip numbers, but ids would stay unique, since the path
/// itself goes into the id.
fn occurrences(keys: &[u64]) -> Vec<u32> {
    let mut occurrences = vec![0; keys.len()];
    let mut sorted = keys.to_vec();
    sorted.sort_unstable();
    let mut repeated: HashMap<u64, u32> = sorted
        .windows(2)
        .filter(|pair| pair[0] == pair[1])
        .map(|pair| (pair[0], 0))
        .collect();
    if repeated.is_empty() {
        return occurrences;
    }
    for (key, occurrence) in keys.iter().zip(&mut occurrences) {
        if let Some(count) = repeated.get_mut(key) {
            *occurrence = *count;
            *count = count.saturating_add(1);
        }
    }
    occurrences
}

/// Lowercase hex of up to 32 bytes (a sha256 digest or a prefix of one).
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    const PAIRS: [[u8; 2]; 256] = {
        let mut pairs = [[0; 2]; 256];
        let mut i = 0;
        while i < 256 {
            pairs[i] = [DIGITS[i >> 4], DIGITS[i & 0x0f]];
            i += 1;
        }
        pairs
    };
    let mut out = [0u8; 64];
    for (pair, &b) in out.chunks_exact_mut(2).zip(bytes) {
        pair.copy_from_slice(&PAIRS[usize::from(b)]);
    }
    let len = (bytes.len() * 2).min(out.len());
    // Hex digits are ASCII: the conversion cannot fail.
    std::str::from_utf8(out.get(..len).unwrap_or_default())
        .unwrap_or_default()
        .to_owned()
}

// ---------------------------------------------------------------------------------------------
// Lines, views and the open-level stack.

/// One line of the source.
#[derive(Clone, Copy, Debug)]
struct Line<'t> {
    /// First byte of the line (on line 0, the BOM if any).
    start: usize,
    /// First byte of `content`.
    content_start: usize,
    /// The line without a leading BOM (line 0), the `\n` and a `\r` before it.
    content: &'t str,
    /// Start of the next line (the length of the text after the last line).
    next: usize,
}

impl Line<'_> {
    fn content_end(&self) -> usize {
        self.content_start + self.content.len()
    }
}

/// Finds the `\n` bytes of a text 16 bytes at a time (no `unsafe`, no dependency): a tight
/// loop skips blocks without a newline with the classic "word contains a zero byte" test on the
/// words XOR `\n`s; a block with one gets an exact mask, one bit per byte.
struct Newlines<'t> {
    bytes: &'t [u8],
    /// Offset of the current block.
    base: usize,
    /// The current block's newlines not yet returned: bit *i* is byte `base + i`.
    mask: u64,
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;
const NEWLINES: u64 = 0x0a0a_0a0a_0a0a_0a0a;

/// Nonzero if and only if some byte of `x` is zero (the bits set may be inexact).
fn has_zero_byte(x: u64) -> u64 {
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// Bit *i* set if and only if byte *i* of `x` is zero (Hacker's Delight, exact form, then the
/// high bits gathered into one byte by a multiply: all partial products are distinct powers of
/// two, so nothing carries).
fn zero_byte_bits(x: u64) -> u64 {
    const LOW7: u64 = !HIGHS;
    let highs = !(((x & LOW7) + LOW7) | x | LOW7);
    ((highs >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
}

fn word_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    if let Some(chunk) = bytes.get(at..at.saturating_add(8)) {
        word.copy_from_slice(chunk);
    } else {
        // The short last word: padding with zeros adds no newline.
        let tail = bytes.get(at..).unwrap_or_default();
        word.iter_mut().zip(tail).for_each(|(w, &b)| *w = b);
    }
    u64::from_le_bytes(word)
}

/// The newlines among the (up to) 16 bytes at `base`, one bit per byte.
fn newline_bits(bytes: &[u8], base: usize) -> u64 {
    let low = zero_byte_bits(word_at(bytes, base) ^ NEWLINES);
    let high = zero_byte_bits(word_at(bytes, base.saturating_add(8)) ^ NEWLINES);
    // Bytes past the end read as zeros, which are not newlines.
    low | (high << 8)
}

impl<'t> Newlines<'t> {
    fn new(bytes: &'t [u8], from: usize) -> Self {
        Newlines {
            bytes,
            base: from,
            mask: newline_bits(bytes, from),
        }
    }

    /// The next newline's offset.
    fn next_newline(&mut self) -> Option<usize> {
        if self.mask == 0 {
            self.advance()?;
        }
        let bit = self.mask.trailing_zeros() as usize;
        self.mask &= self.mask - 1;
        Some(self.base + bit)
    }

    /// Moves to the next block that holds a newline.
    fn advance(&mut self) -> Option<()> {
        let bytes = self.bytes;
        let mut base = self.base.saturating_add(16);
        while let Some(block) = bytes.get(base..base.saturating_add(16)) {
            let (low, high) = block.split_at(8);
            let low = u64::from_le_bytes(low.try_into().unwrap_or_default()) ^ NEWLINES;
            let high = u64::from_le_bytes(high.try_into().unwrap_or_default()) ^ NEWLINES;
            if has_zero_byte(low) | has_zero_byte(high) != 0 {
                self.base = base;
                self.mask = zero_byte_bits(low) | (zero_byte_bits(high) << 8);
                return Some(());
            }
            base += 16;
        }
        // The last, short block.
        self.base = base;
        self.mask = if base < bytes.len() {
            newline_bits(bytes, base)
        } else {
            0
        };
        (self.mask != 0).then_some(())
    }
}

/// The lines of a text, split at `\n`.
struct Lines<'t> {
    text: &'t str,
    pos: usize,
    newlines: Newlines<'t>,
}

impl<'t> Lines<'t> {
    fn new(text: &'t str) -> Self {
        Self::starting_at(text, 0)
    }

    /// The lines from byte `pos`, which must be the start of a line.
    fn starting_at(text: &'t str, pos: usize) -> Self {
        Lines {
            text,
            pos,
            newlines: Newlines::new(text.as_bytes(), pos),
        }
    }
}

impl<'t> Iterator for Lines<'t> {
    type Item = Line<'t>;

    fn next(&mut self) -> Option<Line<'t>> {
        let text = self.text;
        let start = self.pos;
        if start >= text.len() {
            return None;
        }
        let (line_end, next) = match self.newlines.next_newline() {
            Some(i) => (i, i + 1),
            None => (text.len(), text.len()),
        };
        self.pos = next;
        let mut content_end = line_end;
        if content_end > start && text.as_bytes().get(content_end - 1) == Some(&b'\r') {
            content_end -= 1;
        }
        let content_start = if start == 0 && text.starts_with('\u{feff}') {
            '\u{feff}'.len_utf8()
        } else {
            start
        };
        Some(Line {
            start,
            content_start,
            content: text.get(content_start..content_end).unwrap_or_default(),
            next,
        })
    }
}

/// `s` cut to at most `max` bytes at a character boundary.
fn bounded(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

/// Whether `c` is a starter whose NFC quick-check is Yes, known without a table lookup: below
/// U+0300 (Basic Latin to Spacing Modifier Letters) or in Latin Extended Additional
/// (U+1E00..=U+1EFF, the precomposed Vietnamese letters). A unit test checks these ranges against
/// the normalisation tables.
fn is_plain_starter(c: char) -> bool {
    c < '\u{300}' || ('\u{1e00}'..='\u{1eff}').contains(&c)
}

/// Whether `s` is certainly NFC (the fast path: plain starters only, else the quick check).
fn is_nfc_fast(s: &str) -> bool {
    s.is_ascii() || s.chars().all(is_plain_starter) || is_nfc_quick(s.chars()) == IsNormalized::Yes
}

/// `s` as matched: itself when already NFC, else its NFC form (in `buf`).
fn nfc_view<'a>(s: &'a str, buf: &'a mut String) -> &'a str {
    if is_nfc_fast(s) {
        s
    } else {
        buf.clear();
        buf.extend(s.nfc());
        buf.as_str()
    }
}

/// The bounded prefix of `s` as matched by custom levels (see [`nfc_view`]).
fn match_view<'a>(s: &'a str, buf: &'a mut String) -> &'a str {
    nfc_view(bounded(s, MATCH_PREFIX_BYTES), buf)
}

/// A label: the first [`MATCH_PREFIX_BYTES`] of the NFC form of `s`, so the same label whatever
/// the form `s` arrives in (NFD is longer in bytes: the bound applies after normalising).
fn nfc_label(s: &str) -> Cow<'_, str> {
    let raw = bounded(s, RAW_LABEL_BYTES);
    if is_nfc_fast(raw) {
        return Cow::Borrowed(bounded(raw, MATCH_PREFIX_BYTES));
    }
    let mut label = String::with_capacity(raw.len().min(MATCH_PREFIX_BYTES));
    for c in raw.nfc() {
        if label.len() + c.len_utf8() > MATCH_PREFIX_BYTES {
            break;
        }
        label.push(c);
    }
    Cow::Owned(label)
}

fn is_blank(s: &str) -> bool {
    s.bytes()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'\x0b' | b'\x0c'))
}

/// A marker's label, written into a reused buffer when the marker opens.
#[derive(Clone, Copy, Debug)]
enum Label<'a> {
    /// Used as is.
    Text(&'a str),
    /// A word, a space, then the words of a number (whitespace collapsed): `Điều 44`,
    /// `Phần thứ nhất`.
    Numbered(&'a str, &'a str),
    /// `¶` and a paragraph number.
    Paragraph(u64),
}

impl Label<'_> {
    fn write_to(self, out: &mut String) {
        match self {
            Label::Text(text) => out.push_str(text),
            Label::Numbered(word, number) => {
                out.push_str(word);
                for part in number.split_whitespace() {
                    out.push(' ');
                    out.push_str(part);
                }
            }
            Label::Paragraph(n) => {
                let mut digits = [0u8; 20];
                out.push('¶');
                out.extend(decimal(n, &mut digits).iter().map(|&d| char::from(d)));
            }
        }
    }
}

/// The scan's state: the currently open labels, and the units being built.
struct Scan<'a> {
    stack: Vec<(usize, String)>,
    /// Label buffers of closed levels, for reuse.
    spare: Vec<String>,
    units: UnitBuilder<'a>,
}

impl Scan<'_> {
    /// A marker at `level` with `label` starts a unit at byte `start`.
    fn open(&mut self, level: usize, start: usize, label: Label<'_>) {
        while let Some((top, _)) = self.stack.last()
            && *top >= level
        {
            if let Some((_, closed)) = self.stack.pop() {
                self.spare.push(closed);
            }
        }
        let mut buffer = self.spare.pop().unwrap_or_default();
        buffer.clear();
        label.write_to(&mut buffer);
        self.stack.push((level, buffer));
        let len = self.stack.iter().map(|(_, l)| l.len() + 1).sum();
        let mut path = String::with_capacity(len);
        for (i, (_, label)) in self.stack.iter().enumerate() {
            if i > 0 {
                path.push(PATH_SEPARATOR);
            }
            path.push_str(label);
        }
        self.units.marker(start, path);
    }
}

// ---------------------------------------------------------------------------------------------
// Engines.

#[derive(Clone, Debug)]
enum Engine {
    Markdown,
    Paragraphs,
    Legal(Box<LegalEngine>),
    Custom(CustomEngine),
}

impl Engine {
    fn scan(&self, text: &str, scan: &mut Scan<'_>) {
        match self {
            Engine::Markdown => scan_markdown(text, scan),
            Engine::Paragraphs => scan_paragraphs(text, scan),
            Engine::Legal(engine) => engine.scan(text, scan),
            Engine::Custom(engine) => engine.scan(text, scan),
        }
    }
}

fn scan_paragraphs(text: &str, scan: &mut Scan<'_>) {
    let mut previous_blank = true;
    let mut count: u64 = 0;
    for line in Lines::new(text) {
        let blank = is_blank(line.content);
        if !blank && previous_blank {
            count += 1;
            scan.open(0, line.start, Label::Paragraph(count));
        }
        previous_blank = blank;
    }
}

// --- Markdown ---------------------------------------------------------------------------------

/// A paragraph that a setext underline could turn into a heading.
#[derive(Clone, Copy)]
struct Para {
    line_start: usize,
    content_start: usize,
    content_end: usize,
}

/// What the previous lines left open, for setext headings.
#[derive(Clone, Copy)]
enum Block {
    /// Nothing: after a blank line, a heading, a fence, a thematic break.
    None,
    /// A paragraph (its text can become a setext heading).
    Para(Para),
    /// A list item or block quote and its lazy continuation lines.
    Other,
}

fn scan_markdown(text: &str, scan: &mut Scan<'_>) {
    let mut fence: Option<(u8, usize)> = None;
    let mut block = Block::None;
    let mut skip_until = 0;
    for (index, line) in Lines::new(text).enumerate() {
        if line.start < skip_until {
            continue;
        }
        if index == 0
            && line.content.trim_end_matches([' ', '\t']) == "---"
            && let Some(end) = front_matter_end(text, line.next)
        {
            skip_until = end;
            continue;
        }
        let (columns, rest) = indentation(line.content);
        if let Some((ch, len)) = fence {
            if columns < 4 && closes_fence(rest, ch, len) {
                fence = None;
            }
            continue;
        }
        if rest.is_empty() || is_blank(rest) {
            block = Block::None;
            continue;
        }
        if columns >= 4 {
            // Indented code, or the continuation of a paragraph.
            if let Block::Para(para) = &mut block {
                para.content_end = line.content_end();
            }
            continue;
        }
        match rest.as_bytes().first() {
            Some(b'`' | b'~') => {
                if let Some(open) = opens_fence(rest) {
                    fence = Some(open);
                    block = Block::None;
                    continue;
                }
            }
            Some(b'#') => {
                if let Some((level, label)) = atx_heading(rest) {
                    let label = if label.is_empty() {
                        Cow::Borrowed(EMPTY_HEADING_LABELS.get(level).copied().unwrap_or("h"))
                    } else {
                        nfc_label(label)
                    };
                    scan.open(level, line.start, Label::Text(&label));
                    block = Block::None;
                    continue;
                }
            }
            Some(b'=' | b'-') => {
                if let Some(level) = setext_underline(rest) {
                    match block {
                        Block::Para(para) => {
                            let label = setext_label(text, para);
                            scan.open(level, para.line_start, Label::Text(&label));
                            block = Block::None;
                            continue;
                        }
                        // `---` outside a paragraph is a thematic break.
                        _ if level == 1 => {
                            block = Block::None;
                            continue;
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        if starts_other_block(rest) {
            block = Block::Other;
            continue;
        }
        block = match block {
            Block::Para(mut para) => {
                para.content_end = line.content_end();
                Block::Para(para)
            }
            Block::Other => Block::Other,
            Block::None => Block::Para(Para {
                line_start: line.start,
                content_start: line.content_start,
                content_end: line.content_end(),
            }),
        };
    }
}

/// Indentation width in columns (tabs to the next multiple of 4, counted up to 4) and the rest.
fn indentation(content: &str) -> (usize, &str) {
    let mut columns = 0;
    for (i, b) in content.bytes().enumerate() {
        match b {
            b' ' => columns += 1,
            b'\t' => columns += 4 - columns % 4,
            _ => return (columns, content.get(i..).unwrap_or_default()),
        }
        if columns >= 4 {
            return (columns, content.get(i + 1..).unwrap_or_default());
        }
    }
    (columns, "")
}

/// If line 0 opens a front matter block, the start of the line after its closing line (within
/// the bound). `from` is the start of line 1.
fn front_matter_end(text: &str, from: usize) -> Option<usize> {
    let limit = from.saturating_add(FRONT_MATTER_MAX_BYTES);
    Lines::starting_at(text, from)
        .take_while(|line| line.start < limit)
        .find(|line| matches!(line.content.trim_end_matches([' ', '\t']), "---" | "..."))
        .map(|line| line.next)
}

fn opens_fence(rest: &str) -> Option<(u8, usize)> {
    let ch = *rest.as_bytes().first()?;
    let len = rest.bytes().take_while(|&b| b == ch).count();
    if len < 3 {
        return None;
    }
    if ch == b'`' && rest.get(len..).is_some_and(|info| info.contains('`')) {
        return None;
    }
    Some((ch, len))
}

fn closes_fence(rest: &str, ch: u8, open_len: usize) -> bool {
    let len = rest.bytes().take_while(|&b| b == ch).count();
    len >= open_len && rest.get(len..).is_some_and(is_blank)
}

/// An ATX heading: its level (0 for `#`) and its raw label.
fn atx_heading(rest: &str) -> Option<(usize, &str)> {
    let hashes = rest.bytes().take_while(|&b| b == b'#').count();
    if hashes == 0 || hashes > 6 {
        return None;
    }
    let after = rest.get(hashes..)?;
    if !(after.is_empty() || after.starts_with([' ', '\t'])) {
        return None;
    }
    let mut label = after.trim_matches([' ', '\t']);
    let without_closing = label.trim_end_matches('#');
    if without_closing.is_empty() {
        label = "";
    } else if without_closing.ends_with([' ', '\t']) {
        label = without_closing.trim_end_matches([' ', '\t']);
    }
    Some((hashes - 1, label))
}

/// A setext underline: `=`… (level 0) or `--`… (level 1), optionally followed by blanks.
fn setext_underline(rest: &str) -> Option<usize> {
    let t = rest.trim_end_matches([' ', '\t']);
    let ch = *t.as_bytes().first()?;
    if !t.bytes().all(|b| b == ch) {
        return None;
    }
    match ch {
        b'=' => Some(0),
        b'-' if t.len() >= 2 => Some(1),
        _ => None,
    }
}

/// The label of a setext heading: the paragraph's lines, trimmed and joined by spaces.
fn setext_label(text: &str, para: Para) -> String {
    let raw = text
        .get(para.content_start..para.content_end)
        .unwrap_or_default();
    let mut joined = String::new();
    for part in raw.split('\n').map(str::trim).filter(|p| !p.is_empty()) {
        if joined.len() >= RAW_LABEL_BYTES {
            break;
        }
        if !joined.is_empty() {
            joined.push(' ');
        }
        joined.push_str(bounded(part, RAW_LABEL_BYTES));
    }
    nfc_label(&joined).into_owned()
}

/// A list item, a block quote or a thematic break: not paragraph text.
fn starts_other_block(rest: &str) -> bool {
    let bytes = rest.as_bytes();
    match bytes.first() {
        Some(b'>') => true,
        Some(b'-' | b'*' | b'+') => {
            matches!(bytes.get(1), None | Some(b' ' | b'\t')) || is_thematic_break(rest)
        }
        Some(b'_') => is_thematic_break(rest),
        _ => false,
    }
}

fn is_thematic_break(rest: &str) -> bool {
    let Some(&ch) = rest.as_bytes().first() else {
        return false;
    };
    let mut count = 0;
    for b in rest.bytes() {
        if b == ch {
            count += 1;
        } else if b != b' ' && b != b'\t' {
            return false;
        }
    }
    count >= 3
}

// --- Legal presets ------------------------------------------------------------------------------

/// Whether what follows a keyword level's number makes the line a heading: the end of the line,
/// punctuation (`.`, `:`, `-`, `–`, `—`, `)`) after optional whitespace, or whitespace and then
/// anything but a lowercase letter (so a sentence starting `Section 3 of …` is not a heading).
///
/// Checked on the number as matched (greedily): a shorter number would leave a letter or digit
/// here, which never passes, so no other split of the line could.
fn heading_tail_ok(rest: &str) -> bool {
    let trimmed = rest.trim_start();
    match trimmed.chars().next() {
        None => true,
        Some('.' | ':' | '-' | '–' | '—' | ')') => true,
        Some(c) => trimmed.len() < rest.len() && !c.is_lowercase(),
    }
}

/// How many bytes at the start of a line the legal presets look at (a keyword, a number and the
/// character after it, with room for NFD).
const LEGAL_VIEW_BYTES: usize = 96;

/// Levels of `legal-en`: numbered sections take `EN_NUMBERED..EN_NUMBERED + EN_MAX_DEPTH`.
const EN_NUMBERED: usize = 4;
/// Most components of a `legal-en` numbered section.
const EN_MAX_DEPTH: usize = 6;
/// Most digits in one component of a numbered section or clause (so `2024.` is not a clause).
const MAX_NUMBER_DIGITS: usize = 3;

/// A cheap test on the start of a line before a rule's matcher runs.
#[derive(Clone, Copy, Debug)]
enum Prefilter {
    /// The line starts with one of these keywords (NFC, as in the regex).
    Literals(&'static [&'static str]),
    /// The line starts with an ASCII digit.
    Digit,
    /// The line starts with a letter and `)`: `a)`, `đ)`.
    PointLetter,
}

impl Prefilter {
    /// On the NFC view of the line.
    fn accepts(self, view: &str) -> bool {
        match self {
            Prefilter::Literals(literals) => literals.iter().any(|l| view.starts_with(l)),
            Prefilter::Digit => view.as_bytes().first().is_some_and(u8::is_ascii_digit),
            Prefilter::PointLetter => point_letter(view).is_some(),
        }
    }
}

/// `a)`, `đ)` at the start of `view`: the letter.
fn point_letter(view: &str) -> Option<&str> {
    let letter_len = match view.as_bytes() {
        [b'a'..=b'z', b')', ..] => 1,
        _ if view.starts_with("đ)") => 'đ'.len_utf8(),
        _ => return None,
    };
    view.get(..letter_len)
}

/// Whether `rest` is empty or starts with whitespace (the regex `(?:\s|$)`).
fn at_break(rest: &str) -> bool {
    rest.chars().next().is_none_or(char::is_whitespace)
}

/// The ASCII digits at the start of `s`, if there are 1 to [`MAX_NUMBER_DIGITS`].
fn leading_number(s: &str) -> Option<&str> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if (1..=MAX_NUMBER_DIGITS).contains(&digits) {
        s.get(..digits)
    } else {
        None
    }
}

/// `12.` followed by whitespace or the end of the line: the number.
fn numbered_clause(view: &str) -> Option<&str> {
    let number = leading_number(view)?;
    let rest = view.get(number.len()..)?.strip_prefix('.')?;
    at_break(rest).then_some(number)
}

/// `1.`, `1.1`, `1.1.`, … (up to [`EN_MAX_DEPTH`] components) followed by whitespace or the end
/// of the line: the number without a final dot, and its depth (1 for `1.`). A bare `1` is not one.
fn dotted_number(view: &str) -> Option<(&str, usize)> {
    let mut end = leading_number(view)?.len();
    let mut depth = 1;
    loop {
        let rest = view.get(end..)?;
        match rest.strip_prefix('.') {
            Some(after_dot) if depth < EN_MAX_DEPTH => match leading_number(after_dot) {
                Some(component) => {
                    end += 1 + component.len();
                    depth += 1;
                }
                // `1.` then whitespace or the end: a final dot.
                None if at_break(after_dot) => return Some((view.get(..end)?, depth)),
                None => return None,
            },
            Some(after_dot) => {
                return at_break(after_dot).then_some((view.get(..end)?, depth));
            }
            None => {
                return (depth > 1 && at_break(rest)).then_some((view.get(..end)?, depth));
            }
        }
    }
}

/// The longest prefix of `keyword` whose characters have no canonical decomposition. The raw line
/// starts with it whether it arrives in NFC or NFD (`Chương` → `Ch`, `Điều` → `Đi`), so it can be
/// tested before normalising anything.
fn stable_prefix(keyword: &str) -> &str {
    let end = keyword
        .char_indices()
        .find(|&(_, c)| {
            let mut decomposed = std::iter::once(c).nfd();
            !(decomposed.next() == Some(c) && decomposed.next().is_none())
        })
        .map_or(keyword.len(), |(i, _)| i);
    keyword.get(..end).unwrap_or_default()
}

/// How a rule recognises its marker and makes its label.
#[derive(Clone, Debug)]
enum Matcher {
    /// `\A(keyword)\s+(number)`, then [`heading_tail_ok`]: the label is the keyword, a space
    /// and the number (its inner whitespace collapsed).
    Keyword(Regex),
    /// A numbered clause `1.`: the label is this word, a space and the number.
    Clause(&'static str),
    /// A lettered point `a)`: the label is this word, a space and the letter.
    Point(&'static str),
    /// A numbered section `1.1`: the label is the number; each component is one level deeper.
    Dotted,
}

#[derive(Clone, Debug)]
struct LegalRule {
    level: usize,
    prefilter: Prefilter,
    /// For [`Prefilter::Literals`]: the keywords' [`stable_prefix`]es, tested on the raw line.
    raw_prefixes: Vec<&'static str>,
    matcher: Matcher,
    /// Only inside an open article (the Vietnamese clauses and points).
    in_article: bool,
}

impl LegalRule {
    fn is_keyword(&self) -> bool {
        matches!(self.prefilter, Prefilter::Literals(_))
    }

    /// The prefilter on the raw line (see [`LegalEngine::candidates`]).
    fn raw_accepts(&self, rest: &str) -> bool {
        match self.prefilter {
            Prefilter::Literals(_) => self.raw_prefixes.iter().any(|p| rest.starts_with(p)),
            // Digits, ASCII letters, `đ` and `)` have no decomposition: raw equals NFC here.
            Prefilter::Digit | Prefilter::PointLetter => self.prefilter.accepts(rest),
        }
    }
}

/// Rule sets, as bit masks over a preset's rules (at most 32 rules; bit *i* is rule *i*).
type RuleMask = u32;

#[derive(Clone, Debug)]
struct LegalEngine {
    /// For each first byte of a line (after indentation): the rules that may match it.
    first_byte: [RuleMask; 256],
    /// Every rule.
    all: RuleMask,
    rules: Vec<LegalRule>,
    /// The level of articles, for rules that apply only inside one.
    article_level: usize,
}

/// A spec for one preset rule, compiled by [`LegalEngine::build`].
struct RuleSpec {
    name: &'static str,
    level: usize,
    prefilter: Prefilter,
    /// The regex of a keyword rule; `None` for the hand-written matchers.
    pattern: Option<String>,
    matcher: Option<Matcher>,
    in_article: bool,
}

fn keyword_rule(
    name: &'static str,
    level: usize,
    keywords: &'static [&'static str],
    number: &str,
    in_article: bool,
) -> RuleSpec {
    RuleSpec {
        name,
        level,
        prefilter: Prefilter::Literals(keywords),
        pattern: Some(format!(r"\A({})\s+({number})", keywords.join("|"))),
        matcher: None,
        in_article,
    }
}

fn builtin_rule(
    name: &'static str,
    level: usize,
    prefilter: Prefilter,
    matcher: Matcher,
    in_article: bool,
) -> RuleSpec {
    RuleSpec {
        name,
        level,
        prefilter,
        pattern: None,
        matcher: Some(matcher),
        in_article,
    }
}

impl LegalEngine {
    fn english() -> Result<Self, CutError> {
        // Roman numerals, arabic numbers (`5a`), or one capital that is not a roman digit (so
        // that the regex is one-pass, which makes captures cheap).
        const NUMBER: &str = r"[IVXLCDM]+|[0-9]{1,4}[A-Za-z]?|[ABEFGHJKNOPQRSTUWYZ]";
        let specs = vec![
            keyword_rule("Part", 0, &["Part", "PART"], NUMBER, false),
            keyword_rule("Chapter", 1, &["Chapter", "CHAPTER"], NUMBER, false),
            keyword_rule("Section", 2, &["Section", "SECTION"], NUMBER, false),
            keyword_rule("Article", 3, &["Article", "ARTICLE"], NUMBER, false),
            builtin_rule(
                "numbered section",
                EN_NUMBERED,
                Prefilter::Digit,
                Matcher::Dotted,
                false,
            ),
        ];
        Self::build("legal-en", specs, 3)
    }

    fn vietnamese() -> Result<Self, CutError> {
        // ASCII digits (`\d` is Unicode, and would keep the regexes from being one-pass).
        const ROMAN_OR_ARABIC: &str = r"[IVXLCDM]+|[0-9]{1,4}[a-z]?";
        let specs = vec![
            keyword_rule(
                "Phần",
                0,
                &["Phần", "PHẦN"],
                r"(?:thứ|THỨ)\s+\p{L}+|[IVXLCDM]+|[0-9]{1,4}",
                false,
            ),
            keyword_rule("Chương", 1, &["Chương", "CHƯƠNG"], ROMAN_OR_ARABIC, false),
            keyword_rule("Mục", 2, &["Mục", "MỤC"], ROMAN_OR_ARABIC, false),
            keyword_rule("Điều", 3, &["Điều", "ĐIỀU"], r"[0-9]{1,4}[a-z]?", false),
            keyword_rule("Khoản", 4, &["Khoản", "KHOẢN"], r"[0-9]{1,3}", true),
            keyword_rule("Điểm", 5, &["Điểm", "ĐIỂM"], r"[a-zđ]", true),
            builtin_rule(
                "Khoản (1.)",
                4,
                Prefilter::Digit,
                Matcher::Clause("Khoản"),
                true,
            ),
            builtin_rule(
                "Điểm (a))",
                5,
                Prefilter::PointLetter,
                Matcher::Point("Điểm"),
                true,
            ),
        ];
        Self::build("legal-vi", specs, 3)
    }

    fn build(preset: &str, specs: Vec<RuleSpec>, article_level: usize) -> Result<Self, CutError> {
        let mut first_byte = [0; 256];
        let mut all = 0;
        let mut rules = Vec::with_capacity(specs.len());
        for (index, spec) in specs.into_iter().enumerate() {
            let invalid = |message: String| CutError::InvalidPattern {
                level: format!("{preset}/{}", spec.name),
                pattern: spec.pattern.clone().unwrap_or_default(),
                message,
            };
            let bit = u32::try_from(index)
                .ok()
                .and_then(|i| RuleMask::from(1u8).checked_shl(i))
                .ok_or_else(|| invalid("too many rules in one preset".to_owned()))?;
            all |= bit;
            let raw_prefixes: Vec<&'static str> = match spec.prefilter {
                Prefilter::Literals(literals) => {
                    let mut prefixes: Vec<&'static str> =
                        literals.iter().map(|l| stable_prefix(l)).collect();
                    prefixes.dedup();
                    prefixes
                }
                _ => Vec::new(),
            };
            let mut mark = |b: u8| first_byte[usize::from(b)] |= bit;
            match spec.prefilter {
                Prefilter::Literals(_) => {
                    for prefix in &raw_prefixes {
                        match prefix.as_bytes().first() {
                            Some(&b) => mark(b),
                            None => (0..=u8::MAX).for_each(&mut mark),
                        }
                    }
                }
                Prefilter::Digit => (b'0'..=b'9').for_each(&mut mark),
                Prefilter::PointLetter => {
                    (b'a'..=b'z').for_each(&mut mark);
                    "đ".bytes().take(1).for_each(&mut mark);
                }
            }
            let matcher = match (&spec.pattern, &spec.matcher) {
                (Some(pattern), _) => {
                    Matcher::Keyword(Regex::new(pattern).map_err(|e| invalid(e.to_string()))?)
                }
                (None, Some(matcher)) => matcher.clone(),
                (None, None) => return Err(invalid("no matcher".to_owned())),
            };
            rules.push(LegalRule {
                level: spec.level,
                raw_prefixes,
                prefilter: spec.prefilter,
                matcher,
                in_article: spec.in_article,
            });
        }
        Ok(LegalEngine {
            first_byte,
            all,
            rules,
            article_level,
        })
    }

    /// The rules that may match a line starting with `rest` (raw, after indentation), and
    /// whether matching needs the line's NFC form. Cheap, and never rules out wrongly: the raw
    /// tests are on characters that NFC leaves alone (ASCII digits and letters, `đ`, the stable
    /// prefixes of keywords), and a first character that NFC may change (a singleton such as
    /// KELVIN SIGN, a combining mark) keeps every rule, on the NFC form.
    fn candidates(&self, rest: &str) -> (RuleMask, bool) {
        let Some(&b) = rest.as_bytes().first() else {
            return (0, false);
        };
        if !b.is_ascii()
            && let Some(c) = rest.chars().next()
            && !is_plain_starter(c)
            && is_nfc_quick(std::iter::once(c)) != IsNormalized::Yes
        {
            return (self.all, true);
        }
        let mut mask = self.first_byte[usize::from(b)];
        let mut needs_nfc = false;
        let mut pending = mask;
        while pending != 0 {
            let index = pending.trailing_zeros();
            pending &= pending - 1;
            let Some(rule) = self.rules.get(index as usize) else {
                continue;
            };
            if !rule.raw_accepts(rest) {
                mask &= !(1 << index);
            } else if rule.is_keyword() {
                needs_nfc = true;
            }
        }
        (mask, needs_nfc)
    }

    /// Capture slots for each keyword rule's regex.
    fn capture_locations(&self) -> Vec<Option<CaptureLocations>> {
        self.rules
            .iter()
            .map(|rule| match &rule.matcher {
                Matcher::Keyword(regex) => Some(regex.capture_locations()),
                _ => None,
            })
            .collect()
    }

    fn scan(&self, text: &str, scan: &mut Scan<'_>) {
        let mut buf = String::new();
        let mut locations = self.capture_locations();
        for line in Lines::new(text) {
            let rest = line.content.trim_start_matches([' ', '\t']);
            let (mask, needs_nfc) = self.candidates(rest);
            if mask == 0 {
                continue;
            }
            let raw = bounded(rest, LEGAL_VIEW_BYTES);
            // Without a keyword rule in play, the raw prefix is as good as its NFC form: the
            // digit and letter rules match characters that normalisation leaves alone.
            let view = if needs_nfc {
                nfc_view(raw, &mut buf)
            } else {
                raw
            };
            if let Some((level, label)) = self.match_line(view, mask, &mut locations, &scan.stack) {
                scan.open(level, line.start, label);
            }
        }
    }

    /// The first rule of `mask` (outermost first) that matches `view`: its level and label.
    /// `stack` holds the open levels (for the rules that apply only inside an article).
    fn match_line<'v>(
        &self,
        view: &'v str,
        mask: RuleMask,
        locations: &mut [Option<CaptureLocations>],
        stack: &[(usize, String)],
    ) -> Option<(usize, Label<'v>)> {
        let rules = self.rules.iter().zip(locations.iter_mut()).enumerate();
        for (index, (rule, locs)) in rules {
            if mask & (1 << index) == 0 || !rule.prefilter.accepts(view) {
                continue;
            }
            if rule.in_article && !stack.iter().any(|(l, _)| *l == self.article_level) {
                continue;
            }
            let found = match (&rule.matcher, locs) {
                (Matcher::Keyword(regex), Some(locs)) => {
                    keyword_label(regex, locs, view).map(|label| (rule.level, label))
                }
                (Matcher::Clause(word), _) => {
                    numbered_clause(view).map(|n| (rule.level, Label::Numbered(word, n)))
                }
                (Matcher::Point(word), _) => point_letter(view).and_then(|letter| {
                    let rest = view.get(letter.len() + 1..)?;
                    at_break(rest).then_some((rule.level, Label::Numbered(word, letter)))
                }),
                (Matcher::Dotted, _) => dotted_number(view)
                    .map(|(number, depth)| (rule.level + depth - 1, Label::Text(number))),
                (Matcher::Keyword(_), None) => None,
            };
            if found.is_some() {
                return found;
            }
        }
        None
    }
}

/// The label of a keyword heading matched by `regex`: keyword, space, number.
fn keyword_label<'v>(
    regex: &Regex,
    locs: &mut CaptureLocations,
    view: &'v str,
) -> Option<Label<'v>> {
    let heading = regex.captures_read(locs, view)?;
    if !heading_tail_ok(view.get(heading.end()..).unwrap_or_default()) {
        return None;
    }
    let group = |i: usize| {
        locs.get(i)
            .and_then(|(s, e)| view.get(s..e))
            .unwrap_or_default()
    };
    Some(Label::Numbered(group(1), group(2)))
}

// --- Custom levels ------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct CustomLevel {
    name: String,
    regex: Regex,
}

#[derive(Clone, Debug)]
struct CustomEngine {
    levels: Vec<CustomLevel>,
    /// All levels at once, to reject most lines with one search (when there are several levels).
    any: Option<RegexSet>,
}

impl CustomEngine {
    fn new(rules: &[LevelRule]) -> Result<Self, CutError> {
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

    fn scan(&self, text: &str, scan: &mut Scan<'_>) {
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

// ---------------------------------------------------------------------------------------------
// Splitting oversize units.

/// Splits `[start, end)` of `text` into parts of at most `max` bytes (see the module docs), in
/// order, appended to `out`.
fn split_span(text: &str, start: usize, end: usize, max: usize, out: &mut Vec<(usize, usize)>) {
    pack(text, start, end, max, Grain::Paragraph, out);
}

#[derive(Clone, Copy)]
enum Grain {
    Paragraph,
    Line,
}

/// Greedy packing of the `grain` segments of `[start, end)`; a segment too large alone is packed
/// at the next finer grain into parts of its own.
fn pack(
    text: &str,
    start: usize,
    end: usize,
    max: usize,
    grain: Grain,
    out: &mut Vec<(usize, usize)>,
) {
    let bounds = match grain {
        Grain::Paragraph => paragraph_bounds(text, start, end),
        Grain::Line => line_bounds(text, start, end),
    };
    let mut part_start = start;
    let mut segment_start = start;
    for segment_end in bounds.into_iter().chain(std::iter::once(end)) {
        if segment_end - part_start > max {
            if segment_start > part_start {
                out.push((part_start, segment_start));
                part_start = segment_start;
            }
            if segment_end - segment_start > max {
                match grain {
                    Grain::Paragraph => {
                        pack(text, segment_start, segment_end, max, Grain::Line, out)
                    }
                    Grain::Line => pack_chars(text, segment_start, segment_end, max, out),
                }
                part_start = segment_end;
            }
        }
        segment_start = segment_end;
    }
    if part_start < end {
        out.push((part_start, end));
    }
}

/// Cuts `[start, end)` at character boundaries into parts of at most `max` bytes (`max` ≥ 4).
fn pack_chars(text: &str, start: usize, end: usize, max: usize, out: &mut Vec<(usize, usize)>) {
    let mut current = start;
    while end - current > max {
        let mut cut = current + max;
        while cut > current && !text.is_char_boundary(cut) {
            cut -= 1;
        }
        if cut == current {
            // Only for max < 4, which `Cutter::new` rejects: take one whole character.
            cut = current + 1;
            while cut < end && !text.is_char_boundary(cut) {
                cut += 1;
            }
        }
        out.push((current, cut));
        current = cut;
    }
    if current < end {
        out.push((current, end));
    }
}

/// Starts of the lines in `(start, end)`.
fn line_bounds(text: &str, start: usize, end: usize) -> Vec<usize> {
    let bytes = text.as_bytes().get(start..end).unwrap_or_default();
    bytes
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' && i + 1 < bytes.len())
        .map(|(i, _)| start + i + 1)
        .collect()
}

/// Starts of the paragraphs in `(start, end)`: non-blank lines after a blank line.
fn paragraph_bounds(text: &str, start: usize, end: usize) -> Vec<usize> {
    let mut bounds = Vec::new();
    let mut previous_blank = false;
    let mut line_start = start;
    let bytes = text.as_bytes();
    while line_start < end {
        let line_end = bytes
            .get(line_start..end)
            .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
            .map_or(end, |i| line_start + i + 1);
        let line = text.get(line_start..line_end).unwrap_or_default();
        let blank = is_blank(line);
        if !blank && previous_blank && line_start > start {
            bounds.push(line_start);
        }
        previous_blank = blank;
        line_start = line_end;
    }
    bounds
}

#[cfg(test)]
mod tests;
