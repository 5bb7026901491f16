//! [`Cutter`]: rules compiled once, then any number of documents cut, from any number of
//! threads; the process-wide cache of compiled rule sets ([`Cutter::shared`]); and the
//! per-document bounds (the size limit's minimum, the unit cap).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use iu_cutter_live_execution::{CutRules, MarkerSet, Preset};

use crate::auto::AutoEngine;
use crate::builder::UnitBuilder;
use crate::custom::CustomEngine;
use crate::legal::{EnglishEngine, VietnameseEngine};
use crate::markdown::scan_markdown;
use crate::paragraphs::scan_paragraphs;
use crate::scan::Scan;
use crate::{CutError, CutUnit, check_lossless};

/// The smallest accepted `max_unit_bytes`: 64 bytes, about one short sentence.
///
/// A smaller part is a fragment, not an information unit that search or citation could use, and
/// every unit costs about a kilobyte of memory from cut to store (its span, path, id and sha256,
/// its entry in the plan and in the plan's JSON, its row in a write batch): a 5 MB document cut
/// at 4 bytes made 1.3 million units and took 1.5 GB. At 64 bytes the same document makes at
/// most about 82,000 parts. (Parts also never split a code point, which needs at least 4.)
pub const MIN_MAX_UNIT_BYTES: u64 = 64;

/// The most units one document may be cut into: 500,000. Beyond it the cut fails with
/// [`CutError::TooManyUnits`], naming the document and how many units the rules would make,
/// without building them.
///
/// At about a kilobyte per unit from cut to store, that is about half a gigabyte for one
/// document, and twice the units of the largest document the benchmarks cut (a 50 MB law cut by
/// clause and point at 2,048 bytes, about 250,000 units).
pub const MAX_UNITS_PER_DOCUMENT: usize = 500_000;

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
            MarkerSet::Preset(Preset::LegalEn) => Engine::LegalEn(EnglishEngine),
            MarkerSet::Preset(Preset::LegalVi) => {
                Engine::LegalVi(Box::new(VietnameseEngine::vietnamese()?))
            }
            MarkerSet::Preset(Preset::Auto) => Engine::Auto(Box::new(AutoEngine::new()?)),
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

    /// Cuts `text`, the document `document_id`, into units (see the [crate docs](crate)).
    ///
    /// An empty text gives zero units. The result always passes [`check_lossless`] (the check is
    /// run before returning); fails with [`CutError::TooManyUnits`] past
    /// [`MAX_UNITS_PER_DOCUMENT`] units (or the limit set by [`Cutter::with_unit_limit`]),
    /// saying how many units the rules make.
    pub fn cut(&self, document_id: &str, text: &str) -> Result<Vec<CutUnit>, CutError> {
        self.cut_document(document_id, text).map(|cut| cut.units)
    }

    /// Like [`Cutter::cut`], and says which preset cut the document when the rules let the
    /// cutter choose (`auto`).
    pub fn cut_document(&self, document_id: &str, text: &str) -> Result<Cut, CutError> {
        let mut scan = Scan::new(UnitBuilder::new(
            document_id,
            text,
            self.max_unit_bytes,
            self.unit_limit,
        ));
        let preset = if text.is_empty() {
            // Nothing to choose from: an empty document is cut into no units by any preset.
            self.engine.chooses().then_some(Preset::Paragraphs)
        } else {
            self.engine.scan(text, &mut scan)
        };
        let units = scan.units.finish()?;
        check_lossless(text, &units)?;
        Ok(Cut { units, preset })
    }
}

/// One document's cut.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cut {
    /// The units, in order (they pass [`check_lossless`]).
    pub units: Vec<CutUnit>,
    /// The preset that cut the document when the rules' preset is `auto`; `None` otherwise.
    pub preset: Option<Preset>,
}

#[derive(Clone, Debug)]
enum Engine {
    Markdown,
    Paragraphs,
    LegalEn(EnglishEngine),
    LegalVi(Box<VietnameseEngine>),
    Custom(CustomEngine),
    Auto(Box<AutoEngine>),
}

impl Engine {
    /// Cuts `text` into `scan`; returns the preset it chose, for `auto`.
    fn scan(&self, text: &str, scan: &mut Scan<'_>) -> Option<Preset> {
        match self {
            Engine::Markdown => scan_markdown(text, scan),
            Engine::Paragraphs => scan_paragraphs(text, scan),
            Engine::LegalEn(engine) => engine.scan(text, scan),
            Engine::LegalVi(engine) => engine.scan(text, scan),
            Engine::Custom(engine) => engine.scan(text, scan),
            Engine::Auto(engine) => return Some(engine.scan(text, scan)),
        }
        None
    }

    /// Whether this engine chooses a preset per document.
    fn chooses(&self) -> bool {
        matches!(self, Engine::Auto(_))
    }
}

#[cfg(test)]
mod tests;
