//! Generations over time: when each was enacted (from the journal), and what changed between
//! two of them.

use std::collections::BTreeMap;
use std::time::SystemTime;

use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::{
    AdapterError, DocumentId, GenerationRecord, GenerationState, PhaseStatus, RunId, RunRecord,
    Unit,
};
use iu_cutter_phase_core::PhaseRole;
use serde::{Deserialize, Serialize};

use crate::clock;
use crate::pipeline::Pipeline;

/// When each journaled run's generation became active (the completion of its enacting phase)
/// and when the run was last seen in the journal (its latest phase time).
pub(crate) struct JournalTimes {
    pub(crate) activated: BTreeMap<RunId, SystemTime>,
    pub(crate) last_seen: BTreeMap<RunId, SystemTime>,
}

impl JournalTimes {
    /// The times `runs` journal, with `enact` the name of the enacting phase.
    pub(crate) fn new(runs: &[RunRecord], enact: Option<&str>) -> Self {
        let mut activated = BTreeMap::new();
        let mut last_seen = BTreeMap::new();
        for record in runs {
            if let Some(at) = enact
                .and_then(|name| record.phase(name))
                .filter(|p| p.status == PhaseStatus::Done)
                .and_then(|p| p.finished_at.as_deref())
                .and_then(clock::parse_rfc3339)
            {
                activated.insert(record.run.clone(), at);
            }
            let latest = record
                .phases
                .iter()
                .flat_map(|p| [p.started_at.as_deref(), p.finished_at.as_deref()])
                .flatten()
                .filter_map(clock::parse_rfc3339)
                .max();
            if let Some(at) = latest {
                last_seen.insert(record.run.clone(), at);
            }
        }
        JournalTimes {
            activated,
            last_seen,
        }
    }
}

/// How one unit id fares between two generations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitChange {
    /// Only in the newer generation.
    Added,
    /// Only in the older generation.
    Removed,
    /// In both, with a different text (sha256) or byte range.
    Changed,
    /// In both, identical.
    Unchanged,
}

/// One unit id's line in a diff.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitDiffEntry {
    /// The stable unit id (with `#n` appended to the n-th repeat of an id, from 2).
    pub unit_id: String,
    /// How it fares.
    pub change: UnitChange,
    /// Its path (the newer generation's when present).
    pub path: String,
    /// Its size in the older generation.
    pub bytes_a: Option<u64>,
    /// Its size in the newer generation.
    pub bytes_b: Option<u64>,
    /// Its sha256 in the older generation.
    pub sha256_a: Option<String>,
    /// Its sha256 in the newer generation.
    pub sha256_b: Option<String>,
}

/// What changed between two generations of one document, matched by stable unit id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerationDiff {
    /// The document.
    pub document: DocumentId,
    /// The older generation.
    pub generation_a: RunId,
    /// The newer generation.
    pub generation_b: RunId,
    /// Units only in B.
    pub added: u64,
    /// Units only in A.
    pub removed: u64,
    /// Units in both with a different text or range.
    pub changed: u64,
    /// Units in both, identical.
    pub unchanged: u64,
    /// One entry per unit id, in B's order, then A's units that B lacks in A's order.
    pub units: Vec<UnitDiffEntry>,
}

/// Unit ids made unique: the n-th repeat of an id (n ≥ 2) gets `#n`.
fn keyed(units: &[Unit]) -> Vec<(String, &Unit)> {
    let mut seen: BTreeMap<&str, u32> = BTreeMap::new();
    units
        .iter()
        .map(|u| {
            let n = seen.entry(u.unit_id.as_str()).or_insert(0);
            *n += 1;
            let key = if *n == 1 {
                u.unit_id.clone()
            } else {
                format!("{}#{n}", u.unit_id)
            };
            (key, u)
        })
        .collect()
}

/// Compares generation `a` (older) with `b` (newer) of `document`, matching units by stable id.
pub fn diff_units(
    document: &DocumentId,
    generation_a: &RunId,
    a: &[Unit],
    generation_b: &RunId,
    b: &[Unit],
) -> GenerationDiff {
    let a_keyed = keyed(a);
    let b_keyed = keyed(b);
    let a_by_id: BTreeMap<&str, &Unit> = a_keyed.iter().map(|(k, u)| (k.as_str(), *u)).collect();
    let b_ids: BTreeMap<&str, ()> = b_keyed.iter().map(|(k, _)| (k.as_str(), ())).collect();
    let size = |u: &Unit| u.end - u.start;
    let mut units = Vec::with_capacity(b.len().max(a.len()));
    for (key, unit) in &b_keyed {
        let before = a_by_id.get(key.as_str()).copied();
        let change = match before {
            None => UnitChange::Added,
            Some(old) if old.sha256 == unit.sha256 && size(old) == size(unit) => {
                UnitChange::Unchanged
            }
            Some(_) => UnitChange::Changed,
        };
        units.push(UnitDiffEntry {
            unit_id: key.clone(),
            change,
            path: unit.path.clone(),
            bytes_a: before.map(size),
            bytes_b: Some(size(unit)),
            sha256_a: before.map(|u| u.sha256.clone()),
            sha256_b: Some(unit.sha256.clone()),
        });
    }
    for (key, unit) in &a_keyed {
        if !b_ids.contains_key(key.as_str()) {
            units.push(UnitDiffEntry {
                unit_id: key.clone(),
                change: UnitChange::Removed,
                path: unit.path.clone(),
                bytes_a: Some(size(unit)),
                bytes_b: None,
                sha256_a: Some(unit.sha256.clone()),
                sha256_b: None,
            });
        }
    }
    let count = |c: UnitChange| units.iter().filter(|u| u.change == c).count() as u64;
    GenerationDiff {
        document: document.clone(),
        generation_a: generation_a.clone(),
        generation_b: generation_b.clone(),
        added: count(UnitChange::Added),
        removed: count(UnitChange::Removed),
        changed: count(UnitChange::Changed),
        unchanged: count(UnitChange::Unchanged),
        units,
    }
}

/// Why a diff could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// The store failed.
    #[error(transparent)]
    Adapter(#[from] AdapterError),
    /// The generations to compare cannot be chosen or do not exist.
    #[error("{0}")]
    Generations(String),
}

/// The generations of `document`, in the order they were enacted (journaled lifecycle-enact
/// completion; undated ones first, by id), the active one last.
pub(crate) async fn generation_history(
    pipeline: &Pipeline,
    document: &DocumentId,
) -> Result<Vec<GenerationRecord>, AdapterError> {
    let runs = pipeline.store.list_runs().await?;
    let times = JournalTimes::new(&runs, pipeline.name_of(PhaseRole::Enact));
    let mut records = pipeline.store.generations(document).await?;
    records.sort_by_key(|g| {
        (
            g.state == GenerationState::Staged,
            g.state == GenerationState::Active,
            times.activated.get(&g.generation).copied(),
            g.generation.clone(),
        )
    });
    Ok(records)
}

/// Compares two generations of `document`; by default the most recently retired one with the
/// active one.
pub(crate) async fn diff(
    pipeline: &Pipeline,
    document: &DocumentId,
    generations: Option<(RunId, RunId)>,
) -> Result<GenerationDiff, DiffError> {
    let history = generation_history(pipeline, document).await?;
    if history.is_empty() {
        return Err(DiffError::Generations(format!(
            "document `{document}` has no generation (it was never cut, or does not exist)"
        )));
    }
    let (a, b) = match generations {
        Some(pair) => pair,
        None => {
            let active = history
                .iter()
                .find(|g| g.state == GenerationState::Active)
                .ok_or_else(|| {
                    DiffError::Generations(format!(
                        "document `{document}` has no active generation; name two \
                         generations to compare"
                    ))
                })?;
            let previous = history
                .iter()
                .rev()
                .find(|g| g.state == GenerationState::Retired)
                .ok_or_else(|| {
                    DiffError::Generations(format!(
                        "document `{document}` has no retired generation to compare with its \
                         active generation {} (it was cut once, or older ones were purged); \
                         name two generations to compare",
                        active.generation
                    ))
                })?;
            (previous.generation.clone(), active.generation.clone())
        }
    };
    for generation in [&a, &b] {
        if !history.iter().any(|g| &g.generation == generation) {
            let known: Vec<&str> = history.iter().map(|g| g.generation.as_str()).collect();
            return Err(DiffError::Generations(format!(
                "document `{document}` has no generation `{generation}`; it has: {}",
                known.join(", ")
            )));
        }
    }
    let units_a = pipeline.store.generation_units(document, &a).await?;
    let units_b = pipeline.store.generation_units(document, &b).await?;
    Ok(diff_units(document, &a, &units_a, &b, &units_b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use iu_cutter_live_execution::sha256_hex;

    fn unit(id: &str, body: &str, start: u64) -> Unit {
        Unit {
            document: DocumentId::new("d"),
            generation: RunId::new("g"),
            ordinal: 0,
            unit_id: id.to_owned(),
            path: id.to_owned(),
            part: None,
            start,
            end: start + body.len() as u64,
            sha256: sha256_hex(body.as_bytes()),
            body: body.to_owned(),
        }
    }

    /// The diff of document `d` from generation `a`'s units to generation `b`'s.
    fn diff_a_b(a: &[Unit], b: &[Unit]) -> GenerationDiff {
        diff_units(
            &DocumentId::new("d"),
            &RunId::new("a"),
            a,
            &RunId::new("b"),
            b,
        )
    }

    #[test]
    fn units_are_matched_by_stable_id() {
        let a = [
            unit("pre", "Intro.\n", 0),
            unit("art-1", "Article 1.\n", 7),
            unit("art-2", "Article 2.\n", 18),
        ];
        let b = [
            unit("pre", "Intro.\n", 0),
            unit("art-1", "Article 1, amended.\n", 7),
            unit("art-3", "Article 3.\n", 27),
        ];
        let diff = diff_a_b(&a, &b);
        let changes: Vec<(&str, UnitChange)> = diff
            .units
            .iter()
            .map(|u| (u.unit_id.as_str(), u.change))
            .collect();
        assert_eq!(
            changes,
            [
                ("pre", UnitChange::Unchanged),
                ("art-1", UnitChange::Changed),
                ("art-3", UnitChange::Added),
                ("art-2", UnitChange::Removed),
            ]
        );
        assert_eq!(
            (diff.added, diff.removed, diff.changed, diff.unchanged),
            (1, 1, 1, 1)
        );
        assert_eq!(diff.units[1].bytes_a, Some(11));
        assert_eq!(diff.units[1].bytes_b, Some(20));
    }

    #[test]
    fn repeated_ids_pair_in_order() {
        let a = [unit("x", "one", 0), unit("x", "two", 3)];
        let b = [unit("x", "one", 0)];
        let diff = diff_a_b(&a, &b);
        assert_eq!((diff.unchanged, diff.removed), (1, 1));
        assert_eq!(diff.units[1].unit_id, "x#2");
    }
}
