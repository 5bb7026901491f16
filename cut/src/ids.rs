//! Digests and stable unit ids.
//!
//! [`unit_id`] hashes the document id, the path, the path's *occurrence* index (0 for the first
//! unit with that path in the document, 1 for the next, …) and the part number. Ids are unique
//! within a document, and do not depend on any unit's content: editing the body of one article
//! leaves every other unit's id unchanged. [`sha256_hex`] is the digest of every unit's span.
//!
//! Both are computed and kept raw ([`UnitId`], [`Sha256Digest`]: `Copy`, no heap); their hex
//! is written only where they leave the process (a plan's JSON, a stored unit, a report).

use std::collections::{HashMap, HashSet};

use iu_cutter_live_execution::{Sha256Digest, UNIT_ID_BYTES, UnitId, decimal};
use sha2::{Digest, Sha256};

/// Domain-separation prefix of [`unit_id`]'s hash input.
const UNIT_ID_DOMAIN: &[u8] = b"iu-cutter/unit-id/v1\0";

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256Digest::of(bytes).hex()
}

/// The stable id of a unit: the first 16 bytes (128 bits, 32 hex characters) of a sha256 over the document
/// id, the unit's path, the occurrence index of that path in the document (0 for the first unit
/// with this path, 1 for the second, …; parts of one unit share it) and the part number.
///
/// The content is deliberately not an input, so ids survive edits of the unit's body and of
/// other units. The encoding is unambiguous (the document id is length-prefixed, and neither the
/// occurrence nor the part contains the separator), so distinct `(path, occurrence, part)` in
/// one document give distinct inputs.
pub fn unit_id(document_id: &str, path: &str, occurrence: u32, part: Option<u32>) -> UnitId {
    UnitIds::new(document_id).id(path, occurrence, part)
}

/// [`unit_id`] for the units of one document: the hash of the part of the input every unit of
/// the document shares (the domain and the length-prefixed document id) is taken once, and each
/// unit's id goes on from a copy of it. [`UnitIds::digest`] gives an id's 16 bytes,
/// [`UnitIds::id`] the [`UnitId`] a [`CutUnit`](crate::CutUnit) holds.
#[derive(Clone)]
pub struct UnitIds {
    document: Sha256,
    /// How many bytes of the document's share fill its last, partial block of 64.
    buffered: usize,
}

/// The bytes sha256 compresses at a time.
const SHA256_BLOCK: usize = 64;

/// The hash state of a unit id's input up to the end of its first block inside the path, kept
/// from one unit to the next ([`UnitIds::id_after`]). The units of a document come in
/// order, so a unit's path most often starts like the previous one's (`Chương II/Mục 1/Điều 44/`
/// before `Khoản 1`, `Khoản 2`, …): that block is then compressed once for all of them, where
/// each id compressed it again. Ids stay exactly [`unit_id`]'s.
#[derive(Clone, Default)]
pub(crate) struct PathBlock {
    /// The path bytes that end the block (after the document's share), and the state after them.
    kept: Option<(Vec<u8>, Sha256)>,
}

impl UnitIds {
    /// The ids of the units of the document `document_id`.
    pub fn new(document_id: &str) -> Self {
        let mut digits = [0u8; 20];
        let mut document = Sha256::new();
        document.update(UNIT_ID_DOMAIN);
        document.update(decimal(document_id.len() as u64, &mut digits));
        document.update(b":");
        document.update(document_id.as_bytes());
        document.update(b"\0");
        let share = UNIT_ID_DOMAIN.len()
            + decimal(document_id.len() as u64, &mut digits).len()
            + ":".len()
            + document_id.len()
            + "\0".len();
        UnitIds {
            document,
            buffered: share % SHA256_BLOCK,
        }
    }

    /// The id of the unit at `path`, its `occurrence`-th, part `part`: [`unit_id`].
    pub fn id(&self, path: &str, occurrence: u32, part: Option<u32>) -> UnitId {
        UnitId::from_bytes(self.digest(path, occurrence, part))
    }

    /// The bytes of the id of the unit at `path`, its `occurrence`-th, part `part`: the first
    /// [`UNIT_ID_BYTES`] bytes of a sha256 ([`UnitIds::id`]).
    pub fn digest(&self, path: &str, occurrence: u32, part: Option<u32>) -> [u8; UNIT_ID_BYTES] {
        id_from(self.document.clone(), path.as_bytes(), occurrence, part)
    }

    /// [`UnitIds::id`], going on from the state `block` kept of the previous path when this
    /// path starts with the same bytes up to the end of the first block (and keeping this
    /// path's otherwise).
    pub(crate) fn id_after(
        &self,
        block: &mut PathBlock,
        path: &str,
        occurrence: u32,
        part: Option<u32>,
    ) -> UnitId {
        let path = path.as_bytes();
        let end = SHA256_BLOCK - self.buffered;
        let (Some(head), Some(tail)) = (path.get(..end), path.get(end..)) else {
            // The path ends inside the first block: nothing to share.
            return UnitId::from_bytes(id_from(self.document.clone(), path, occurrence, part));
        };
        let hasher = match &block.kept {
            Some((kept, state)) if kept.as_slice() == head => state.clone(),
            _ => {
                let mut state = self.document.clone();
                state.update(head);
                let (kept, kept_state) = block
                    .kept
                    .get_or_insert_with(|| (Vec::with_capacity(SHA256_BLOCK), state.clone()));
                kept.clear();
                kept.extend_from_slice(head);
                kept_state.clone_from(&state);
                state
            }
        };
        UnitId::from_bytes(id_from(hasher, tail, occurrence, part))
    }
}

/// The id whose input so far is in `hasher`, given the rest of its path.
fn id_from(
    mut hasher: Sha256,
    path: &[u8],
    occurrence: u32,
    part: Option<u32>,
) -> [u8; UNIT_ID_BYTES] {
    let mut digits = [0u8; 20];
    hasher.update(path);
    hasher.update(b"\0");
    hasher.update(decimal(u64::from(occurrence), &mut digits));
    hasher.update(b"\0");
    if let Some(part) = part {
        hasher.update(decimal(u64::from(part), &mut digits));
    }
    let mut id = [0u8; UNIT_ID_BYTES];
    id.copy_from_slice(&hasher.finalize()[..UNIT_ID_BYTES]);
    id
}

/// A 64-bit key of a unit's path, for finding repeated paths without copying them: the first
/// 8 bytes of `id`, the id of an unsplit unit at that path, its first occurrence. That id hashes
/// the path (after the document's share), so equal paths give equal keys, and it is computed
/// for every unit anyway: the key costs nothing more (a hash of its own over every path was 5 %
/// of the cut with the sort that found the repeats). Its quality only decides how often
/// [`occurrences`] compares two paths that differ; the counts themselves are exact.
pub(crate) fn path_key(id: &UnitId) -> u64 {
    let mut key = [0u8; 8];
    key.copy_from_slice(&id.as_bytes()[..8]);
    u64::from_le_bytes(key)
}

/// Whether some key of `keys` occurs twice, found with an open-addressing table in `table`
/// (emptied and sized here; kept by the caller for the next document). The keys are sha256
/// bytes, so their low bits index the table as they are. One probe per key on average, where a
/// sort of the keys cost a log factor more.
pub(crate) fn any_repeated(keys: &[u64], table: &mut Vec<u64>) -> bool {
    // At most half full. Zero marks an empty slot: keys are stored with their lowest bit set,
    // which can make two keys that differ there look alike (then `occurrences`, exact, finds
    // no repeat).
    let size = keys.len().saturating_mul(2).next_power_of_two().max(16);
    let mask = size - 1;
    table.clear();
    table.resize(size, 0);
    for &key in keys {
        let key = key | 1;
        let mut slot = (key >> 1) as usize & mask;
        loop {
            match table.get_mut(slot) {
                Some(free @ 0) => {
                    *free = key;
                    break;
                }
                Some(stored) if *stored == key => return true,
                Some(_) => slot = (slot + 1) & mask,
                // Unreachable: `slot` is masked to the table's size.
                None => return true,
            }
        }
    }
    false
}

/// For each unit before splitting, given its path's [`path_key`] in `keys` and its path in
/// `paths` (the same order), how many earlier units have the same path: its occurrence index.
///
/// Most documents repeat no path, so this sorts a copy of the keys to find the repeated ones (a
/// cache-friendly pass, where a map of every path would miss the cache once per unit on a large
/// document), and only then reads the paths, counting those whose key repeats by the path
/// itself: two distinct paths that share a key are still counted apart. `paths` is not read
/// when no key repeats.
pub(crate) fn occurrences<'p>(keys: &[u64], paths: impl IntoIterator<Item = &'p str>) -> Vec<u32> {
    let mut occurrences = vec![0; keys.len()];
    let mut sorted = keys.to_vec();
    sorted.sort_unstable();
    let repeated: HashSet<u64> = sorted
        .windows(2)
        .filter(|pair| pair[0] == pair[1])
        .map(|pair| pair[0])
        .collect();
    if repeated.is_empty() {
        return occurrences;
    }
    let mut counts: HashMap<&str, u32> = HashMap::new();
    for ((key, path), occurrence) in keys.iter().zip(paths).zip(&mut occurrences) {
        if repeated.contains(key) {
            let count = counts.entry(path).or_default();
            *occurrence = *count;
            *count = count.saturating_add(1);
        }
    }
    occurrences
}

#[cfg(test)]
mod tests;
