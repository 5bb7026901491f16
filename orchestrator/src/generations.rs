//! Generations over time: when each was enacted (from the journal), and what changed between
//! two of them.

use std::collections::{BTreeMap, BTreeSet};
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
    /// The older generation; `None` when there is none to compare with (`diff DOC --run RUN` of
    /// a document with no active generation, such as a first cut held for review: every unit is
    /// added).
    pub generation_a: Option<RunId>,
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

/// Unit ids made unique, as [`diff_units`] keys its entries: the n-th repeat of an id (n ≥ 2)
/// gets `#n`. In the units' order.
pub fn keyed(units: &[Unit]) -> Vec<(String, &Unit)> {
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

/// One unit id of two generations of a document, matched: its key (the stable unit id, with `#n`
/// appended to the n-th repeat of an id, from 2) and the unit of each generation that holds it.
pub(crate) struct UnitPair<'u> {
    /// The key units are matched by.
    pub(crate) key: String,
    /// The unit in the older generation, if it holds the key.
    pub(crate) before: Option<&'u Unit>,
    /// The unit in the newer generation, if it holds the key.
    pub(crate) after: Option<&'u Unit>,
}

/// The units of an older generation `a` and a newer one `b` of one document, matched by stable
/// id: one pair per key, in `b`'s order, then `a`'s units that `b` lacks in `a`'s order. The one
/// definition of unit identity across generations (`diff` and `export --since` use it).
pub(crate) fn pair_units<'u>(a: &'u [Unit], b: &'u [Unit]) -> Vec<UnitPair<'u>> {
    let a_keyed = keyed(a);
    let b_keyed = keyed(b);
    let mut a_by_key: BTreeMap<String, &Unit> = a_keyed.iter().cloned().collect();
    let mut pairs = Vec::with_capacity(b.len().max(a.len()));
    for (key, unit) in b_keyed {
        let before = a_by_key.remove(&key);
        pairs.push(UnitPair {
            key,
            before,
            after: Some(unit),
        });
    }
    for (key, unit) in a_keyed {
        if a_by_key.contains_key(&key) {
            pairs.push(UnitPair {
                key,
                before: Some(unit),
                after: None,
            });
        }
    }
    pairs
}

/// Compares generation `a` (older) with `b` (newer) of `document`, matching units by stable id.
pub fn diff_units(
    document: &DocumentId,
    generation_a: Option<&RunId>,
    a: &[Unit],
    generation_b: &RunId,
    b: &[Unit],
) -> GenerationDiff {
    let size = |u: &Unit| u.end - u.start;
    let units: Vec<UnitDiffEntry> = pair_units(a, b)
        .into_iter()
        .map(|pair| {
            let change = match (pair.before, pair.after) {
                (None, _) => UnitChange::Added,
                (Some(_), None) => UnitChange::Removed,
                (Some(old), Some(new)) if old.sha256 == new.sha256 && size(old) == size(new) => {
                    UnitChange::Unchanged
                }
                (Some(_), Some(_)) => UnitChange::Changed,
            };
            let shown = pair.after.or(pair.before);
            UnitDiffEntry {
                unit_id: pair.key,
                change,
                path: shown.map(|u| u.path.clone()).unwrap_or_default(),
                bytes_a: pair.before.map(size),
                bytes_b: pair.after.map(size),
                sha256_a: pair.before.map(|u| u.sha256.clone()),
                sha256_b: pair.after.map(|u| u.sha256.clone()),
            }
        })
        .collect();
    let count = |c: UnitChange| units.iter().filter(|u| u.change == c).count() as u64;
    GenerationDiff {
        document: document.clone(),
        generation_a: generation_a.cloned(),
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
    let mut records = pipeline.store.generations(document).await?;
    // Only the runs of these generations: the journal's other runs have no say in their order.
    let mut runs = Vec::new();
    let generations: BTreeSet<&RunId> = records.iter().map(|g| &g.generation).collect();
    for run in generations {
        runs.extend(pipeline.store.load_run(run).await?);
    }
    let times = JournalTimes::new(&runs, pipeline.name_of(PhaseRole::Enact));
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
    still_there(pipeline, document, &[&a, &b]).await?;
    Ok(diff_units(document, Some(&a), &units_a, &b, &units_b))
}

/// Refuses a diff one of whose `generations` is gone once their units are read: rolled back or
/// purged after its record was read, it read back as no units, every unit of it "removed".
async fn still_there(
    pipeline: &Pipeline,
    document: &DocumentId,
    generations: &[&RunId],
) -> Result<(), DiffError> {
    let records = pipeline.store.generations(document).await?;
    let gone = generations
        .iter()
        .find(|g| !records.iter().any(|r| &r.generation == **g));
    match gone {
        Some(gone) => Err(DiffError::Generations(format!(
            "generation `{gone}` of document `{document}` was rolled back or purged while the \
             diff read it; its units can no longer be shown"
        ))),
        None => Ok(()),
    }
}

/// A held run's diff with the units it was computed from: a reviewer showing the texts of
/// what changed takes them from here, not from a second read that a rollback or purge in
/// between would answer with no units.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunDiff {
    /// What changed.
    pub diff: GenerationDiff,
    /// The active generation's units, as the diff read them (none without one).
    pub active_units: Vec<Unit>,
    /// The run's units, as the diff read them.
    pub run_units: Vec<Unit>,
}

/// Compares `document`'s active generation (none, for a document never enacted) with the
/// generation run `run` wrote of it, whatever its state: what enacting a held run would change.
pub(crate) async fn diff_run(
    pipeline: &Pipeline,
    document: &DocumentId,
    run: &RunId,
) -> Result<RunDiff, DiffError> {
    let records = pipeline.store.generations(document).await?;
    if !records.iter().any(|g| &g.generation == run) {
        return Err(DiffError::Generations(missing_generation(
            document, run, &records,
        )));
    }
    let active = records
        .iter()
        .find(|g| g.state == GenerationState::Active)
        .map(|g| g.generation.clone());
    let units_a = match &active {
        Some(active) => pipeline.store.generation_units(document, active).await?,
        None => Vec::new(),
    };
    let units_b = pipeline.store.generation_units(document, run).await?;
    let read: Vec<&RunId> = active.iter().chain([run]).collect();
    still_there(pipeline, document, &read).await?;
    Ok(RunDiff {
        diff: diff_units(document, active.as_ref(), &units_a, run, &units_b),
        active_units: units_a,
        run_units: units_b,
    })
}

/// Why `run` has no generation of `document`, and which generations it has.
pub fn missing_generation(
    document: &DocumentId,
    run: &RunId,
    records: &[GenerationRecord],
) -> String {
    let known: Vec<String> = records
        .iter()
        .map(|g| format!("{} ({})", g.generation, state_name(g.state)))
        .collect();
    format!(
        "run `{run}` has no generation of document `{document}`: it never cut it (not in its \
         scope, or it stopped before cut-leg-a fenced it), or its generation was rolled back or \
         purged; the document's generations: {}",
        if known.is_empty() {
            "none".to_owned()
        } else {
            known.join(", ")
        }
    )
}

/// A generation state as the program shows it.
pub fn state_name(state: GenerationState) -> &'static str {
    match state {
        GenerationState::Staged => "staged",
        GenerationState::Active => "active",
        GenerationState::Retired => "retired",
    }
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
            Some(&RunId::new("a")),
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
