//! The cut engine: cuts one document into information units by the [`CutRules`].
//!
//! This crate is the pure heart of iu-cutter. Every other part of a run moves, stores, verifies
//! or enacts what it computes: phase 2 (`cut-leg-a`) plans a run by cutting every scoped document
//! with it, the runner recomputes that plan to check a reviewed one, the program's `plan` and
//! `self-check` commands preview and test it, and the benchmarks measure it. It knows nothing of
//! stores, runs or phases: it depends only on the domain types of `iu-cutter-live-execution`
//! (built without features) and a few small crates, and is a pure function of a document's bytes
//! and the rules.
//!
//! A [`Cutter`] compiles the rules once ([`Cutter::new`]) and then cuts any number of documents
//! ([`Cutter::cut`]), from any number of threads (`Cutter` is `Send + Sync`). A set of documents
//! is cut on several cores with [`Parallelism::map`], in input order, with the same result as
//! cutting them one after the other.
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
//! Markers match whether the text arrives in NFC or NFD (or a mix); labels (hence paths) are NFC
//! (module `nfc`). Hashes are always over the bytes exactly as stored.
//!
//! The engines, one module each: `markdown`, `legal` (`legal-en`, `legal-vi`), `paragraphs`, and
//! `custom` (user-defined levels). Oversize units are split by `split`; ids and digests come from
//! `ids`; the checks from `check`.
//!
//! [`CutRules`]: iu_cutter_live_execution::CutRules
//! [`MarkerSet`]: iu_cutter_live_execution::MarkerSet

mod auto;
mod builder;
mod check;
mod custom;
mod cutter;
mod error;
mod ids;
mod legal;
mod lines;
mod markdown;
mod nfc;
mod paragraphs;
mod parallel;
mod scan;
mod split;
mod unit;

pub use check::{check_hashes, check_lossless};
pub use cutter::{Cut, Cutter, MAX_UNITS_PER_DOCUMENT, MIN_MAX_UNIT_BYTES};
pub use error::CutError;
pub use ids::{UnitIds, sha256_hex, unit_id};
pub use iu_cutter_live_execution::{Sha256Digest, UNIT_ID_BYTES, UnitId};
pub use legal::numbers::roman_numeral;
pub use parallel::Parallelism;
pub use unit::CutUnit;

/// Path of the unit holding the text before the first marker.
pub const PREAMBLE_PATH: &str = "(preamble)";

/// Separator between the labels of a path.
pub const PATH_SEPARATOR: char = '/';

/// How many bytes at the start of a line are examined to recognise a marker and take its label.
/// Longer lines are cut to this length at a character boundary first, which keeps matching and
/// normalisation linear in the number of lines whatever the line lengths.
pub const MATCH_PREFIX_BYTES: usize = 256;
