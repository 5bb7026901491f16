//! What an operator reviews before a held run goes live: a document's units as a run wrote them
//! (or as they are active), and what enacting the run would change, with both texts of every
//! unit that differs.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::{DocumentId, LiveExecutionAdapter, RunId, Unit};
use iu_cutter_orchestrator::{DiffError, GenerationDiff, RunDiff, Runner, UnitChange};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, path_document, path_run};
use crate::state::App;

/// `?run=`: the run whose generation is reviewed.
#[derive(Debug, Deserialize)]
pub(crate) struct RunParam {
    run: Option<String>,
}

/// One unit as the page shows it.
#[derive(Debug, Serialize)]
pub(crate) struct UnitView {
    ordinal: u32,
    unit_id: String,
    path: String,
    part: Option<u32>,
    start: u64,
    end: u64,
    sha256: String,
    body: String,
}

impl From<Unit> for UnitView {
    fn from(unit: Unit) -> Self {
        UnitView {
            ordinal: unit.ordinal,
            unit_id: unit.unit_id,
            path: unit.path,
            part: unit.part,
            start: unit.start,
            end: unit.end,
            sha256: unit.sha256,
            body: unit.body,
        }
    }
}

/// `GET /documents/{id}/units?run=`: the units `run` wrote of the document (a held run's staged
/// units), or its active units without `run`.
#[derive(Debug, Serialize)]
pub(crate) struct UnitsView {
    document: DocumentId,
    generation: Option<RunId>,
    units: Vec<UnitView>,
}

/// The store and runner a review of `run` reads: a dry run's own, or the live store's.
fn store_of<'a>(
    app: &'a App,
    run: Option<&RunId>,
    keep: &'a mut Option<crate::state::Simulated>,
) -> (&'a dyn LiveExecutionAdapter, &'a Runner) {
    *keep = run.and_then(|run| app.simulated(run));
    match keep {
        Some(simulated) => (simulated.store.as_ref(), simulated.runner.as_ref()),
        None => (app.backend().store.as_ref(), app.live()),
    }
}

pub(crate) async fn units(
    State(app): State<App>,
    Path(document): Path<String>,
    Query(param): Query<RunParam>,
) -> Result<Json<UnitsView>, ApiError> {
    let document = path_document(document)?;
    let run = param.run.map(path_run).transpose()?;
    let mut keep = None;
    let (store, _) = store_of(&app, run.as_ref(), &mut keep);
    let units = match &run {
        Some(run) => store.generation_units(&document, run).await,
        None => store.active_units(&document).await,
    }
    .map_err(|e| ApiError::store(e, "reading the units"))?;
    if let Some(run) = run.as_ref().filter(|_| units.is_empty()) {
        return Err(ApiError::not_found(format!(
            "run {run} wrote no units of document {document}"
        ))
        .with_next(format!("see the run's documents in GET /runs/{run}")));
    }
    Ok(Json(UnitsView {
        document,
        generation: run,
        units: units.into_iter().map(UnitView::from).collect(),
    }))
}

/// Both texts of a unit that differs between the generations.
#[derive(Debug, Serialize)]
pub(crate) struct Texts {
    before: Option<String>,
    after: Option<String>,
}

/// `GET /documents/{id}/diff?run=`: the diff of the document's active generation with the one
/// `run` wrote, and both texts of every added, removed or changed unit (by the diff's key).
#[derive(Debug, Serialize)]
pub(crate) struct DiffView {
    #[serde(flatten)]
    diff: GenerationDiff,
    texts: BTreeMap<String, Texts>,
}

pub(crate) async fn diff(
    State(app): State<App>,
    Path(document): Path<String>,
    Query(param): Query<RunParam>,
) -> Result<Json<DiffView>, ApiError> {
    let document = path_document(document)?;
    let Some(run) = param.run.map(path_run).transpose()? else {
        return Err(ApiError::bad_request("diff needs ?run=RUN")
            .with_next("name the held run whose generation is compared with the active one"));
    };
    let mut keep = None;
    let (_, runner) = store_of(&app, Some(&run), &mut keep);
    // The texts come from the units the diff was computed from: read again, a rollback or purge
    // in between would leave the diff's changes without their texts.
    let RunDiff {
        diff,
        active_units,
        run_units,
    } = runner
        .diff_run(&document, &run)
        .await
        .map_err(|error| match error {
            DiffError::Adapter(e) => ApiError::store(e, "reading the generations"),
            DiffError::Generations(why) => ApiError::not_found(why),
        })?;
    let texts = texts(&diff, &active_units, &run_units);
    Ok(Json(DiffView { diff, texts }))
}

/// The texts of the entries of `diff` that are not unchanged, keyed as the diff keys its units.
fn texts(diff: &GenerationDiff, before: &[Unit], after: &[Unit]) -> BTreeMap<String, Texts> {
    let mut before = keyed(before);
    let mut after = keyed(after);
    diff.units
        .iter()
        .filter(|entry| entry.change != UnitChange::Unchanged)
        .map(|entry| {
            let texts = Texts {
                before: before.remove(&entry.unit_id),
                after: after.remove(&entry.unit_id),
            };
            (entry.unit_id.clone(), texts)
        })
        .collect()
}

/// Bodies by the diff's key ([`iu_cutter_orchestrator::keyed`], as `diff_units` keys them).
fn keyed(units: &[Unit]) -> BTreeMap<String, String> {
    iu_cutter_orchestrator::keyed(units)
        .into_iter()
        .map(|(key, unit)| (key, unit.body.clone()))
        .collect()
}
