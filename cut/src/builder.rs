//! [`UnitBuilder`]: turns the markers a scan finds into units, splitting oversize spans and
//! hashing each and computing its stable id as soon as the next marker closes it.

use std::cell::Cell;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use iu_cutter_live_execution::{Sha256Digest, UnitId, UnitPath};

use crate::ids::{PathBlock, UnitIds, any_repeated, occurrences, path_key};
use crate::split::split_span;
use crate::{CutError, CutUnit, PREAMBLE_PATH};

/// The most units whose vector a thread keeps between cuts ([`SCRATCH`]): about 400 KB, the
/// units of a document of a megabyte or so. A document that needs a larger vector gets that
/// vector as its cut, so a thread never holds more than this after a cut, whatever it cut.
const RETAINED_UNITS: usize = 4096;

/// The most bytes of paths a thread keeps room for between cuts ([`SCRATCH`]): the paths of
/// [`RETAINED_UNITS`] units of 64 bytes.
const RETAINED_PATH_BYTES: usize = RETAINED_UNITS * 64;

/// How many bytes of paths the builder gathers before it gives their units their paths
/// ([`UnitBuilder::set_paths`]): a few hundred units, whose bytes are still in cache, and one
/// allocation for all of them; a large document's paths are never all in one growing buffer.
pub(crate) const PATH_CHUNK_BYTES: usize = 16 * 1024;

/// The buffers a cut builds in, kept emptied on its thread for the next cut ([`SCRATCH`]).
#[derive(Default)]
struct Scratch {
    /// The units, moved out into a vector of their exact number when the cut ends.
    units: Vec<CutUnit>,
    /// The units' paths, one after the other.
    paths: String,
    /// The path of each of the last units, a range of `paths`.
    ranges: Vec<(usize, usize)>,
    /// The [`path_key`] of each unit before splitting.
    keys: Vec<u64>,
    /// The table that finds whether a key repeats ([`any_repeated`]).
    table: Vec<u64>,
    /// The parts of an oversize unit.
    parts: Vec<(usize, usize)>,
}

impl Scratch {
    /// No buffer allocated yet.
    const EMPTY: Scratch = Scratch {
        units: Vec::new(),
        paths: String::new(),
        ranges: Vec::new(),
        keys: Vec::new(),
        table: Vec::new(),
        parts: Vec::new(),
    };
}

/// `buffer` emptied, to keep for the next cut; a new one if it holds room for more than
/// [`RETAINED_UNITS`] entries (a thread keeps no more than that after a cut).
fn kept<T>(mut buffer: Vec<T>) -> Vec<T> {
    if buffer.capacity() > RETAINED_UNITS {
        return Vec::new();
    }
    buffer.clear();
    buffer
}

thread_local! {
    /// The buffers the last cut on this thread built in, emptied, kept for the next.
    ///
    /// A cut cannot know how many units it makes before it has made them, and a vector grown
    /// by doubling writes every unit about twice into fresh pages: the allocator returns freed
    /// pages to the system soon (the program's `dirty_decay_ms`), so each larger buffer
    /// page-faults again and the smaller one is purged, a third of the cut's time outside
    /// sha256 in the profile. Units are built here instead, in pages that stay mapped, and
    /// moved into a vector of exactly their number when the cut ends; their paths, the keys, the
    /// table that finds repeated ones and the parts of oversize units likewise stay allocated
    /// from one cut to the next.
    static SCRATCH: Cell<Scratch> = const { Cell::new(Scratch::EMPTY) };
}

/// Builds the units while the scan runs: a unit is split and hashed as soon as the next marker
/// (or the end of the text) closes it, while its bytes are still in cache, so one large document
/// costs the same per byte as many small ones.
pub(crate) struct UnitBuilder<'a> {
    document_id: &'a str,
    text: &'a str,
    max_unit_bytes: Option<usize>,
    limit: usize,
    /// The document's unit ids (its share of the id input hashed once).
    ids: UnitIds,
    /// The first block of the last unit's id input, hashed ([`UnitIds::id_after`]).
    block: PathBlock,
    /// The units, each with the empty path (which allocates nothing) until the cut ends.
    units: Vec<CutUnit>,
    /// The paths of the last units without theirs, one after the other: frozen into one buffer
    /// they share ([`UnitBuilder::set_paths`]), when the cut ends or past [`PATH_CHUNK_BYTES`]
    /// (one allocation per cut or chunk, not one per unit).
    paths: String,
    /// The path of each of the last `ranges.len()` units, a range of `paths`.
    ranges: Vec<(usize, usize)>,
    /// The unit being scanned: its start and its path's range in `paths`.
    open: Option<(usize, (usize, usize))>,
    /// The [`path_key`] of each unit before splitting, in order: the occurrence indexes are
    /// counted at the end ([`occurrences`]), then the ids computed.
    keys: Vec<u64>,
    /// The table that finds whether a key repeats ([`any_repeated`]).
    table: Vec<u64>,
    /// Scratch space for the parts of an oversize unit.
    parts: Vec<(usize, usize)>,
    /// Once the cut is past `limit` units: how many units the rules make in all (counted, not
    /// built).
    counted: Option<u64>,
    /// The first error; later units are ignored.
    error: Option<CutError>,
}

impl<'a> UnitBuilder<'a> {
    /// A builder for the document `document_id` with `text`, splitting units over
    /// `max_unit_bytes` and failing past `limit` units.
    pub(crate) fn new(
        document_id: &'a str,
        text: &'a str,
        max_unit_bytes: Option<usize>,
        limit: usize,
    ) -> Self {
        // Empty: a cut leaves them so (`finish` empties them before putting them back).
        let Scratch {
            units,
            paths,
            ranges,
            keys,
            table,
            parts,
        } = SCRATCH.take();
        UnitBuilder {
            document_id,
            text,
            max_unit_bytes,
            limit,
            ids: UnitIds::new(document_id),
            block: PathBlock::default(),
            units,
            paths,
            ranges,
            open: None,
            keys,
            table,
            parts,
            counted: None,
            error: None,
        }
    }

    /// A marker: a unit with `path` starts at byte `start`, closing the open one (or the
    /// preamble).
    pub(crate) fn marker(&mut self, start: usize, path: &str) {
        self.close_open(start);
        if self.paths.len() >= PATH_CHUNK_BYTES {
            self.set_paths();
        }
        let path = self.add_path(path);
        self.open = Some((start, path));
    }

    /// Closes the open unit at `end`, or the preamble when text comes before the first marker.
    fn close_open(&mut self, end: usize) {
        match self.open.take() {
            Some((start, path)) => self.close(start, end, path),
            None if end > 0 => {
                let preamble = self.add_path(PREAMBLE_PATH);
                self.close(0, end, preamble);
            }
            None => {}
        }
    }

    /// Appends `path` to the path buffer; returns its range there. Once no unit is built any
    /// more (past the limit, or after an error), nothing is kept.
    fn add_path(&mut self, path: &str) -> (usize, usize) {
        if self.counted.is_some() || self.error.is_some() {
            return (0, 0);
        }
        let from = self.paths.len();
        self.paths.push_str(path);
        (from, self.paths.len())
    }

    /// Closes the last unit at the end of the text and returns the units.
    pub(crate) fn finish(mut self) -> Result<Vec<CutUnit>, CutError> {
        self.close_open(self.text.len());
        if let Some(error) = self.error {
            return Err(error);
        }
        if let Some(units) = self.counted {
            return Err(self.too_many(units));
        }
        self.set_paths();
        if any_repeated(&self.keys, &mut self.table) {
            self.repeated_ids();
        }
        let units = if self.units.capacity() > RETAINED_UNITS {
            // Too large to keep: returned as it is, rather than copied into fresh pages again.
            std::mem::take(&mut self.units)
        } else {
            // Moved out into a vector of exactly their number (see `SCRATCH`), in one copy of
            // the whole buffer (`append`) rather than unit by unit.
            let mut units = Vec::with_capacity(self.units.len());
            units.append(&mut self.units);
            units
        };
        let mut paths = self.paths;
        if paths.capacity() > RETAINED_PATH_BYTES {
            paths = String::new();
        }
        paths.clear();
        SCRATCH.set(Scratch {
            units: kept(self.units),
            paths,
            ranges: kept(self.ranges),
            keys: kept(self.keys),
            table: kept(self.table),
            parts: kept(self.parts),
        });
        Ok(units)
    }

    /// Gives the last units their paths, in one buffer they share (see `paths`), and empties
    /// the path buffer.
    fn set_paths(&mut self) {
        if !self.ranges.is_empty() {
            let paths: Arc<str> = Arc::from(self.paths.as_str());
            let first = self.units.len().saturating_sub(self.ranges.len());
            let units = self.units.get_mut(first..).unwrap_or_default();
            for (unit, &(from, to)) in units.iter_mut().zip(&self.ranges) {
                // `shared` refuses only a range past 4 GiB of paths: that one gets its own copy.
                unit.path = UnitPath::shared(&paths, from, to)
                    .unwrap_or_else(|| UnitPath::from(paths.get(from..to).unwrap_or_default()));
            }
        }
        self.ranges.clear();
        self.paths.clear();
    }

    /// Every id was computed for occurrence 0 as its unit closed (while its path was in cache);
    /// corrects those of the units whose path came before (some key repeats).
    fn repeated_ids(&mut self) {
        let occurrences = occurrences(
            &self.keys,
            self.units
                .iter()
                .filter(|unit| matches!(unit.part, None | Some(1)))
                .map(|unit| unit.path.as_str()),
        );
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
            if occurrence > 0 {
                unit.unit_id = self.ids.id(&unit.path, occurrence, unit.part);
            }
        }
    }

    fn close(&mut self, start: usize, end: usize, path: (usize, usize)) {
        if self.error.is_some() {
            return;
        }
        let mut parts = std::mem::take(&mut self.parts);
        parts.clear();
        if let Some(max) = self.max_unit_bytes
            && end.saturating_sub(start) > max
        {
            split_span(self.text, start, end, max, &mut parts);
        }
        let count = parts.len().max(1);
        if let Some(counted) = &mut self.counted {
            *counted = counted.saturating_add(count as u64);
        } else if self.units.len().saturating_add(count) > self.limit {
            // Past the cap: free what was built and only count from here on, so that the error
            // can say how many units the rules would make without holding them.
            self.counted = Some(self.units.len() as u64 + count as u64);
            self.units = Vec::new();
            self.paths = String::new();
            self.ranges = Vec::new();
            self.keys = Vec::new();
        } else {
            let result = if parts.len() < 2 {
                self.push((start, end), path, None)
            } else {
                // The key is the id the unit would have unsplit: one more id, for split units
                // only.
                let text = self.paths.get(path.0..path.1).unwrap_or_default();
                let whole = self.ids.id_after(&mut self.block, text, 0, None);
                self.push_parts(&parts, path).map(|()| whole)
            };
            match result {
                Ok(id) => self.keys.push(path_key(&id)),
                Err(error) => self.error = Some(error),
            }
        }
        self.parts = parts;
    }

    /// The parts of one unit, each with its path (one range of the path buffer for all).
    fn push_parts(
        &mut self,
        parts: &[(usize, usize)],
        path: (usize, usize),
    ) -> Result<(), CutError> {
        for (index, &span) in parts.iter().enumerate() {
            let part = u32::try_from(index + 1).map_err(|_| self.too_many(index as u64))?;
            self.push(span, path, Some(part))?;
        }
        Ok(())
    }

    fn too_many(&self, units: u64) -> CutError {
        CutError::TooManyUnits {
            document_id: self.document_id.to_owned(),
            units,
            limit: self.limit,
        }
    }

    /// Hashes `[start, end)` and appends it as the next unit, with its id for the path's first
    /// occurrence (`finish` corrects the ids of repeated paths); returns that id.
    fn push(
        &mut self,
        (start, end): (usize, usize),
        path: (usize, usize),
        part: Option<u32>,
    ) -> Result<UnitId, CutError> {
        // The cap keeps the count far below `u32::MAX`: the conversion cannot fail in practice.
        let ordinal =
            u32::try_from(self.units.len()).map_err(|_| self.too_many(self.units.len() as u64))?;
        // Spans are made of line starts, the end and character boundaries, so `get` succeeds;
        // were it ever to fail, `check_lossless` reports the span.
        let bytes = self.text.as_bytes().get(start..end).unwrap_or_default();
        let text = self.paths.get(path.0..path.1).unwrap_or_default();
        let unit_id = self.ids.id_after(&mut self.block, text, 0, part);
        self.units.push(CutUnit {
            ordinal,
            unit_id,
            path: UnitPath::default(),
            part,
            start: start as u64,
            end: end as u64,
            sha256: Sha256Digest::from_bytes(Sha256::digest(bytes).into()),
        });
        self.ranges.push(path);
        Ok(unit_id)
    }
}
