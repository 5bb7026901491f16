//! The routes, and the handlers of runs, plans, events, the kill switch and the metrics.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::handler::Handler;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::Stream;
use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::{
    AdapterError, ExecutionGate, Guarded, LeaseView, LiveExecutionAdapter, ManualSwitch, Plan,
    RunId, RunRecord, RunStatus, Scope,
};
use iu_cutter_orchestrator::{
    NextAction, RunOptions, RunReport, RunRequest, Runner, RunnerError, ScopeError, liveness,
    new_run_id, rolled_back_in_part,
};
use iu_cutter_phase_core::{CancelFlag, MemoryBackupStore, PhaseError, PlanReader, RunEvent};
use iu_cutter_simulator::Simulator;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use crate::error::{ApiError, path_run};
use crate::follow::{JOURNAL_POLL, JournalFollower};
use crate::state::{App, Simulated, Slot};
use crate::{auth, page, review};

/// Every route of the server. Every request but `GET`, `HEAD` and `OPTIONS` passes the bearer
/// token check first ([`auth::require_token`]); on a `loopback` listener (its address), every
/// request must be addressed to loopback ([`auth::require_local_host`]).
pub(crate) fn router(app: App, loopback: Option<std::net::SocketAddr>) -> Router {
    Router::new()
        .route("/", get(page::index))
        .route("/assets/{name}", get(page::asset))
        .route("/killswitch", get(killswitch))
        .route(
            "/runs",
            get(list_runs).post(start_run.layer(DefaultBodyLimit::max(RUN_BODY_LIMIT))),
        )
        .route("/runs/{id}", get(show_run))
        .route("/runs/{id}/events", get(events))
        .route("/runs/{id}/enact", post(enact))
        .route("/runs/{id}/resume", post(resume))
        .route("/runs/{id}/rollback", post(rollback))
        .route(
            "/plans",
            post(plans.layer(DefaultBodyLimit::max(RUN_BODY_LIMIT))),
        )
        .route("/documents/{id}/units", get(review::units))
        .route("/documents/{id}/diff", get(review::diff))
        .route("/metrics", get(render_metrics))
        .layer(middleware::from_fn_with_state(
            app.clone(),
            auth::require_token,
        ))
        .layer(middleware::from_fn(json_refusals))
        .layer(middleware::from_fn_with_state(
            loopback,
            auth::require_local_host,
        ))
        .layer(middleware::from_fn(count_requests))
        .with_state(app)
}

/// Rewrites the framework's own refusals (a query string or a path it cannot read, a route that
/// does not exist, a method a route does not take: plain text or no body at all) as the API's
/// JSON error with a next step, as every handler answers.
async fn json_refusals(request: Request, next: Next) -> Response {
    let asked = format!("{} {}", request.method(), request.uri().path());
    let response = next.run(request).await;
    let status = response.status();
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|kind| kind.as_bytes().starts_with(b"application/json"));
    if !status.is_client_error() || json {
        return response;
    }
    let text = match axum::body::to_bytes(response.into_body(), 64 << 10).await {
        Ok(body) if !body.is_empty() => String::from_utf8_lossy(&body).into_owned(),
        _ => format!(
            "{asked}: {}",
            status.canonical_reason().unwrap_or("refused")
        ),
    };
    ApiError::new(status, text)
        .with_next(
            "fix the request: the routes, their methods and parameters are listed under \
             \"Run as a service\" in the README; the operator page is GET /",
        )
        .into_response()
}

/// Counts requests by method and status, and times them. A method outside HTTP's own is
/// counted as `other`: any client may invent methods, and each would be a series of its own.
async fn count_requests(request: Request, next: Next) -> Response {
    let method = match *request.method() {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    };
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("iu_cutter_serve_requests_total", "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!("iu_cutter_serve_request_seconds", "method" => method)
        .record(started.elapsed().as_secs_f64());
    response
}

/// `GET /metrics`: the Prometheus text of every metric of the process.
async fn render_metrics(State(app): State<App>) -> Response {
    match app.metrics() {
        Some(handle) => {
            handle.run_upkeep();
            (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4"),
                )],
                handle.render(),
            )
                .into_response()
        }
        None => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "another metrics recorder was installed in this process before the server's",
        )
        .into_response(),
    }
}

/// The kill switch as the page shows it.
#[derive(Debug, Serialize)]
struct SwitchState {
    open: bool,
    /// The source that closes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    switch: Option<String>,
    /// How to open it.
    #[serde(skip_serializing_if = "Option::is_none")]
    how_to_open: Option<String>,
}

async fn switch_state(gate: &ExecutionGate) -> SwitchState {
    match gate.check().await {
        Ok(()) => SwitchState {
            open: true,
            switch: None,
            how_to_open: None,
        },
        Err(AdapterError::GateClosed {
            switch,
            how_to_open,
        }) => SwitchState {
            open: false,
            switch: Some(switch),
            how_to_open: Some(how_to_open),
        },
        Err(other) => SwitchState {
            open: false,
            switch: Some(format!("the switch could not be read: {other}")),
            how_to_open: Some("check the store, then retry".to_owned()),
        },
    }
}

/// `GET /killswitch`.
async fn killswitch(State(app): State<App>) -> Json<SwitchState> {
    Json(switch_state(&app.backend().gate).await)
}

/// Refuses a live invocation while the kill switch is closed, with its reason. The store
/// refuses on its own too; this only answers before a task is started.
async fn require_open(app: &App) -> Result<(), ApiError> {
    match switch_state(&app.backend().gate).await {
        SwitchState {
            open: false,
            switch,
            how_to_open,
        } => Err(ApiError::gate_closed(
            switch.unwrap_or_default(),
            how_to_open.unwrap_or_default(),
        )),
        _ => Ok(()),
    }
}

/// One phase of a run in a list.
#[derive(Debug, Serialize)]
struct PhaseRow {
    name: String,
    status: Value,
    started_at: Option<String>,
    finished_at: Option<String>,
}

/// One run in `GET /runs`.
#[derive(Debug, Serialize)]
struct RunRow {
    run: RunId,
    mode: &'static str,
    status: Value,
    /// The outcome of the last invocation this server ran, if any and unless the journal shows
    /// the run changed since (another process invoked it).
    outcome: Option<&'static str>,
    /// The command in flight, if any.
    active: Option<&'static str>,
    /// For a live run the journal shows running: `running` (a runner holds its lease),
    /// `abandoned` (its lease expired: its runner was killed) or `stopped` (nobody holds it).
    liveness: Option<&'static str>,
    /// Its rollback began and did not finish (the journal's status may still say `PASS` or
    /// `HELD`): roll it back again; nothing else may continue it.
    rolled_back_in_part: bool,
    /// Its scope, with a list of ids given by its length ([`scope_summary`]).
    scope: Value,
    phases: Vec<PhaseRow>,
}

/// A scope as the runs list shows it: as journaled, but a list of ids by its count alone
/// (`{"kind": "ids", "count": 5000}`): a list of 100 runs of 5,000 ids each was megabytes,
/// polled every 15 s by the page, which never reads them (`GET /runs/{id}` gives the scope whole).
fn scope_summary(scope: &Scope) -> Value {
    match scope {
        Scope::Ids(ids) => json!({ "kind": "ids", "count": ids.len() }),
        Scope::Shard { base, index, count } => json!({
            "kind": "shard",
            "value": { "base": scope_summary(base), "index": index, "count": count },
        }),
        Scope::All | Scope::Prefix(_) => serde_json::to_value(scope).unwrap_or(Value::Null),
    }
}

/// Whether the journal shows the run changed after `report` finished: another process (the
/// command line) invoked it since this server did, so the report is not its last word.
fn superseded(report: &RunReport, record: &RunRecord) -> bool {
    record
        .phases
        .iter()
        .flat_map(|p| [p.started_at.as_deref(), p.finished_at.as_deref()])
        .flatten()
        .any(|at| at > report.finished_at.as_str())
}

fn row(
    record: RunRecord,
    mode: &'static str,
    slot: Option<&Slot>,
    leases: Option<&LeaseView>,
) -> RunRow {
    let (outcome, active) = slot.map_or((None, None), |slot| {
        let state = slot.state();
        (
            state
                .last_report
                .as_ref()
                .filter(|r| !superseded(r, &record))
                .map(|r| r.outcome.name()),
            state.in_flight.as_ref().map(|(command, _)| *command),
        )
    });
    RunRow {
        mode,
        liveness: leases
            .and_then(|leases| liveness(&record, leases))
            .map(|live| live.state),
        rolled_back_in_part: rolled_back_in_part(&record),
        status: serde_json::to_value(record.status).unwrap_or(Value::Null),
        outcome,
        active,
        scope: scope_summary(&record.scope),
        phases: record
            .phases
            .into_iter()
            .map(|p| PhaseRow {
                status: serde_json::to_value(p.status).unwrap_or(Value::Null),
                name: p.name,
                started_at: p.started_at,
                finished_at: p.finished_at,
            })
            .collect(),
        run: record.run,
    }
}

/// `?limit=`: how many runs `GET /runs` lists.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<u64>,
}

/// How many runs `GET /runs` lists unless asked: what the page shows.
const RUNS_LISTED: u64 = 100;
/// The most `GET /runs` lists at once, so that one request reads a bounded part of the journal.
const RUNS_LISTED_MOST: u64 = 1000;

/// The header that tells how many runs there are in all, listed or not.
const TOTAL_COUNT: &str = "x-total-count";

/// `GET /runs?limit=N`: the `N` most recent runs (100 unless asked, at most 1,000) of the live
/// store's journal and this server's dry runs, newest first, and every held run of the journal
/// (it awaits an operator); `X-Total-Count` says how many there are in all. Only the runs
/// listed are read from the journal, whatever its size.
async fn list_runs(
    State(app): State<App>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let limit = listed(query)?;
    let recent = app
        .backend()
        .store
        .recent_runs(limit)
        .await
        .map_err(|e| ApiError::store(e, "reading the journal"))?;
    // The journal says `running` for good after its runner was killed: the leases tell.
    let leases = app
        .backend()
        .store
        .load_leases()
        .await
        .map_err(|e| ApiError::store(e, "reading the leases"))?;
    let mut rows: Vec<RunRow> = recent
        .runs
        .into_iter()
        .map(|record| {
            let slot = app.slot(&record.run);
            row(record, "live", slot.as_deref(), Some(&leases))
        })
        .collect();
    let mut total = recent.total;
    for (run, slot) in app.slots() {
        let simulated = slot.state().simulated.clone();
        if let Some(simulated) = simulated
            && let Ok(Some(record)) = simulated.store.load_run(&run).await
        {
            rows.push(row(record, "simulate", Some(&slot), None));
            total += 1;
        }
    }
    // Newest first, in the journal's order of recency (`RecentRuns`: the latest phase start).
    let started = |row: &RunRow| row.phases.iter().filter_map(|p| p.started_at.clone()).max();
    rows.sort_by(|a, b| started(b).cmp(&started(a)).then_with(|| b.run.cmp(&a.run)));
    // The `limit` newest, and every held run: it awaits an operator's enact or rollback.
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let held = serde_json::to_value(RunStatus::Held).unwrap_or(Value::Null);
    let mut listed = 0;
    rows.retain(|row| {
        listed += 1;
        listed <= limit || (row.mode == "live" && row.status == held)
    });
    let mut response = Json(rows).into_response();
    response
        .headers_mut()
        .insert(TOTAL_COUNT, HeaderValue::from(total));
    Ok(response)
}

/// The `limit` a `GET /runs` asks for, or why it cannot be served.
fn listed(query: Result<Query<ListQuery>, QueryRejection>) -> Result<u64, ApiError> {
    let next = format!("ask for a limit from 1 to {RUNS_LISTED_MOST}, e.g. GET /runs?limit=50");
    let Query(query) = query.map_err(|rejection| {
        ApiError::bad_request(format!("the query is not valid: {}", rejection.body_text()))
            .with_next(next.clone())
    })?;
    match query.limit.unwrap_or(RUNS_LISTED) {
        limit @ 1..=RUNS_LISTED_MOST => Ok(limit),
        other => Err(ApiError::bad_request(format!(
            "limit {other} is out of range: GET /runs lists from 1 to {RUNS_LISTED_MOST} runs"
        ))
        .with_next(next)),
    }
}

/// `GET /runs/{id}`: the run's journal record, its last report, its documents (from its plan)
/// and whether an invocation is in flight.
async fn show_run(State(app): State<App>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let run = path_run(id)?;
    let simulated = app.simulated(&run);
    let store: Arc<dyn LiveExecutionAdapter> = match &simulated {
        Some(s) => s.store.clone(),
        None => app.backend().store.clone(),
    };
    let read = |e| ApiError::store(e, "reading the journal");
    let record = store.load_run(&run).await.map_err(read)?;
    let slot = app.slot(&run);
    let Some(record) = record else {
        if slot.is_some() {
            // Started here, refused before it was journaled: its report is all there is.
            return Ok(Json(detail(
                &app,
                &run,
                None,
                None,
                Vec::new(),
                "live",
                None,
            )));
        }
        return Err(no_such_run(&app, &run).with_next("list the runs with GET /runs"));
    };
    // The server's own last report, unless the journal holds a later one (the command line
    // in another process may have enacted or rolled the run back since).
    let own = slot.as_ref().and_then(|s| s.state().last_report.clone());
    let journaled: Option<Value> = store
        .load_reports(&run)
        .await
        .map_err(read)?
        .last()
        .and_then(|text| serde_json::from_str(text).ok());
    let report = match own {
        Some(own) if !journaled.as_ref().is_some_and(|j| later(j, &own)) => {
            Some(serde_json::from_str(&own.to_json()).unwrap_or(Value::Null))
        }
        _ => journaled,
    };
    // Read a part at a time: a large run's plan is never in memory whole.
    let documents = PlanReader::document_ids(Arc::clone(&store), &run)
        .await
        .map_err(|e| match e {
            PhaseError::Adapter(e) => read(e),
            other => read(AdapterError::Invalid(other.to_string())),
        })?
        .unwrap_or_default();
    let (mode, live) = if simulated.is_some() {
        ("simulate", None)
    } else {
        // The journal says `running` for good after its runner was killed: the lease tells.
        let leases = store
            .load_leases()
            .await
            .map_err(|e| ApiError::store(e, "reading the leases"))?;
        ("live", liveness(&record, &leases))
    };
    Ok(Json(detail(
        &app,
        &run,
        Some(record),
        report,
        documents,
        mode,
        live,
    )))
}

/// Whether the journaled report `journaled` finished after `own`.
fn later(journaled: &Value, own: &RunReport) -> bool {
    journaled["finished_at"]
        .as_str()
        .is_some_and(|at| at > own.finished_at.as_str())
}

fn detail(
    app: &App,
    run: &RunId,
    record: Option<RunRecord>,
    report: Option<Value>,
    documents: Vec<iu_cutter_live_execution::DocumentId>,
    mode: &str,
    liveness: Option<iu_cutter_orchestrator::Liveness>,
) -> Value {
    let (active, last_error, report) = match app.slot(run) {
        Some(slot) => {
            let state = slot.state();
            let report = report.or_else(|| {
                state
                    .last_report
                    .as_ref()
                    .and_then(|r| serde_json::from_str(&r.to_json()).ok())
            });
            (
                state.in_flight.as_ref().map(|(c, _)| *c),
                state.last_error.clone(),
                report,
            )
        }
        None => (None, None, report),
    };
    let in_part = record.as_ref().is_some_and(rolled_back_in_part);
    // What the operator can do next, as values the page turns into buttons. A run rolled back
    // in part may only be rolled back again, whatever its last report offered.
    let next_actions = if in_part {
        vec![NextAction::rollback(run)]
    } else {
        report
            .as_ref()
            .and_then(|value| RunReport::from_json(&value.to_string()).ok())
            .map(|report| report.next_actions())
            .unwrap_or_default()
    };
    json!({
        "run": run,
        "mode": mode,
        "record": record,
        "report": report,
        "next_actions": next_actions,
        "documents": documents,
        "active": active,
        "liveness": liveness,
        "rolled_back_in_part": in_part,
        "last_error": last_error,
    })
}

/// `GET /runs/{id}/events`: the run's events as server-sent events (JSON, one per `data:`),
/// from now on, until the client leaves or the server stops.
async fn events(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let run = path_run(id)?;
    let journaled = if app.simulated(&run).is_some() {
        None
    } else {
        journal_record(&app, &run).await?
    };
    let Some(receiver) = app.subscribe(&run, journaled.is_some()) else {
        return Err(no_such_run(&app, &run));
    };
    app.keep(&run);
    // A live run driven elsewhere (the command line) broadcasts nothing here: its journal
    // record is read every JOURNAL_POLL instead, while this server runs no invocation of it.
    let follower = journaled.map(|record| JournalFollower::new(Some(record)));
    let mut poll = tokio::time::interval(JOURNAL_POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let following = Following {
        app,
        run,
        receiver,
        follower,
        poll,
    };
    let stream = futures_util::stream::unfold(following, |mut following| async move {
        let event = following.next().await?;
        Some((Ok(event), following))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// One client's event stream of a run: the server's own events of it, and for a journaled live
/// run those its journal tells while no invocation of this server runs it.
struct Following {
    app: App,
    run: RunId,
    receiver: tokio::sync::broadcast::Receiver<RunEvent>,
    follower: Option<JournalFollower>,
    poll: tokio::time::Interval,
}

impl Following {
    /// The next event to send; `None` when the server stops.
    async fn next(&mut self) -> Option<Event> {
        let mut stopping = self.app.stopping();
        loop {
            if *stopping.borrow() {
                return None;
            }
            if let Some(event) = self.follower.as_mut().and_then(JournalFollower::next) {
                return Some(event_of(&event));
            }
            let polling = self.follower.is_some();
            tokio::select! {
                event = self.receiver.recv() => return match event {
                    Ok(event) => {
                        if let Some(follower) = self.follower.as_mut() {
                            follower.told_elsewhere();
                        }
                        Some(event_of(&event))
                    }
                    Err(RecvError::Lagged(missed)) => Some(
                        Event::default()
                            .event("lagged")
                            .data(format!("{missed} events missed")),
                    ),
                    Err(RecvError::Closed) => None,
                },
                _ = stopping.changed() => return None,
                _ = self.poll.tick(), if polling => self.read_journal().await,
            }
        }
    }

    /// Reads the run's journal record into the follower (skipped while this server runs an
    /// invocation of it: its own events tell the same; a failed read is tried at the next tick).
    async fn read_journal(&mut self) {
        let Some(follower) = self.follower.as_mut() else {
            return;
        };
        let ours = self
            .app
            .slot(&self.run)
            .is_some_and(|slot| slot.state().in_flight.is_some());
        if ours {
            // Not read at all: hundreds of followers of a run this server executes would
            // otherwise read its journal hundreds of times a second.
            follower.told_elsewhere();
            return;
        }
        match self.app.backend().store.load_run(&self.run).await {
            Ok(Some(record)) => follower.saw(record),
            Ok(None) => {}
            Err(error) => {
                tracing::debug!(run = %self.run, %error, "following a run: journal read failed");
            }
        }
    }
}

fn event_of(event: &RunEvent) -> Event {
    Event::default().data(serde_json::to_string(event).unwrap_or_default())
}

/// How a run executes.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Mode {
    /// On a simulator seeded from the live store's snapshot: the live store is only read.
    #[default]
    Simulate,
    /// On the live store, behind its kill switch.
    Live,
}

/// `POST /runs` (JSON body, every field optional; `mode` and `until` may be query parameters).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRun {
    mode: Option<Mode>,
    until: Option<String>,
    scope: Option<Scope>,
    run: Option<String>,
    /// The reviewed plan (from `POST /plans`): the run is refused unless it still holds.
    plan: Option<Plan>,
    #[serde(default)]
    stale: bool,
}

/// `?mode=&until=`.
#[derive(Debug, Default, Deserialize)]
struct RunQuery {
    mode: Option<Mode>,
    until: Option<String>,
}

/// The largest body `POST /runs` and `POST /plans` read: a reviewed plan (what `POST /plans`
/// answered) takes about 210 bytes a unit, so a plan of a million units fits, as does a scope
/// of as many ids. The framework's default, 2 MiB, refused the plan of some ten thousand units.
/// Only a client with the token gets this far.
const RUN_BODY_LIMIT: usize = 256 << 20;

fn parse_body<T: for<'de> Deserialize<'de> + Default>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let body = body.map_err(|rejection| {
        ApiError::new(rejection.status(), rejection.body_text()).with_next(format!(
            "send a body of at most {} MiB; a larger reviewed plan runs from the command line: \
             iu-cutter plan --out FILE, then iu-cutter run --plan FILE --execute",
            RUN_BODY_LIMIT >> 20
        ))
    })?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the request body is not valid: {e}")))
}

/// What an accepted invocation answers: 202, its run, and where to follow it.
fn accepted(run: &RunId, command: &str, mode: Mode) -> Response {
    let location = format!("/runs/{run}");
    let body = json!({
        "run": run,
        "command": command,
        "mode": if mode == Mode::Live { "live" } else { "simulate" },
        "location": location,
        "events": format!("{location}/events"),
    });
    let mut response = (StatusCode::ACCEPTED, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// `POST /runs`: starts a run in a spawned task; 202 with its id and a Location.
async fn start_run(
    State(app): State<App>,
    Query(query): Query<RunQuery>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let new: NewRun = parse_body(body)?;
    let mode = query.mode.or(new.mode).unwrap_or_default();
    let until = query.until.or(new.until);
    check_until(app.live(), until.as_deref())?;
    // The command line's rule: a run journaled here can be named there again.
    let generated = new.run.is_none();
    let run = match new.run {
        Some(id) => {
            RunId::check(&id).map_err(ApiError::bad_request)?;
            RunId::new(id)
        }
        None => new_run_id(if mode == Mode::Live { "run" } else { "dry" }),
    };
    let mut request = RunRequest::new(
        run.clone(),
        new.scope.unwrap_or(Scope::All),
        app.backend().rules.clone(),
    );
    if let Some(plan) = new.plan {
        request = request.with_expected_plan(plan);
    }
    if new.stale {
        request = request.only_stale();
    }
    // One id names one run: a dry run never shadows a journaled live run, nor the reverse.
    let journaled = journal_record(&app, &run).await?.is_some();
    // A generated id names a new run: never one the journal holds (another server's, the
    // command line's), which running under its id would continue.
    if generated && (journaled || app.slot(&run).is_some()) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("the run id generated for this request, {run}, is already taken"),
        )
        .with_next("send the request again: each one gets a fresh run id"));
    }
    let slot = app.slot(&run);
    let dry_run_here = slot.as_ref().map(|slot| slot.state().simulated.is_some());
    let taken = match (mode, dry_run_here) {
        (_, Some(true)) => Some(DRY_RUN_HERE),
        (Mode::Simulate, Some(false)) => Some(LIVE_RUN),
        (Mode::Simulate, None) if journaled => Some(LIVE_RUN),
        _ => None,
    };
    if let Some(by) = taken {
        return Err(taken_by(&run, by));
    }
    // The command line's rule, unless a live run reads an application's table first (its
    // documents may not be tracked yet): a scope names documents the store holds.
    if mode == Mode::Simulate || app.backend().store.info().source.is_none() {
        require_documents(&app, &request.scope).await?;
    }
    let simulated = match mode {
        Mode::Live => {
            require_open(&app).await?;
            None
        }
        Mode::Simulate => Some(simulator(&app, &request.scope).await?),
    };
    let job = Job {
        run: run.clone(),
        command: Command::Run(Box::new(request)),
        until,
    };
    launch(&app, job, simulated)?;
    Ok(accepted(&run, "run", mode))
}

/// Refuses (400) a scope that names no document of the store, or ids it does not hold.
async fn require_documents(app: &App, scope: &Scope) -> Result<(), ApiError> {
    iu_cutter_orchestrator::require_documents(app.backend().store.as_ref(), scope)
        .await
        .map_err(|error| {
            let refused = match error {
                ScopeError::Adapter(e) => return ApiError::store(e, "reading the scope"),
                ScopeError::Empty => format!(
                    "no document in scope {}",
                    serde_json::to_string(scope).unwrap_or_default()
                ),
                missing @ ScopeError::Missing(_) => missing.to_string(),
            };
            ApiError::bad_request(refused).with_next(
                "fix the scope (POST /plans lists the documents a scope names), or import the \
                 documents first",
            )
        })
}

/// A simulator seeded with `scope`'s documents of the live store (never the whole store: a dry
/// run costs its scope, and the server keeps its copy for review), behind its own open gate (it
/// mutates only memory), and a runner over it with in-memory backups.
async fn simulator(app: &App, scope: &Scope) -> Result<Simulated, ApiError> {
    let store = &app.backend().store;
    let ids = store
        .scope_ids(scope)
        .await
        .map_err(|e| ApiError::store(e, "resolving the dry run's scope"))?;
    let simulator = Simulator::seed_from_scope(store.as_ref(), &ids)
        .await
        .map_err(|e| ApiError::store(e, "reading the dry run's scope"))?;
    let memory_only = ExecutionGate::new().with_source(ManualSwitch::new(
        "simulation (mutates only memory)",
        true,
        "-",
    ));
    let store: Arc<dyn LiveExecutionAdapter> = Arc::new(Guarded::new(simulator, memory_only));
    let runner = Arc::new(Runner::new(
        store.clone(),
        Arc::new(MemoryBackupStore::new()),
    ));
    Ok(Simulated { store, runner })
}

fn check_until(runner: &Runner, until: Option<&str>) -> Result<(), ApiError> {
    match until {
        Some(phase) if !runner.phase_names().contains(&phase) => Err(ApiError::bad_request(
            format!("until = {phase} is not a phase of the runner"),
        )
        .with_next(format!("use one of: {}", runner.phase_names().join(", ")))),
        _ => Ok(()),
    }
}

/// `POST /runs/{id}/enact`.
async fn enact(State(app): State<App>, Path(id): Path<String>) -> Result<Response, ApiError> {
    on_run(app, id, Command::Enact, None).await
}

/// `POST /runs/{id}/resume` (`?until=` optional).
async fn resume(
    State(app): State<App>,
    Path(id): Path<String>,
    Query(query): Query<RunQuery>,
) -> Result<Response, ApiError> {
    check_until(app.live(), query.until.as_deref())?;
    on_run(app, id, Command::Resume, query.until).await
}

/// `POST /runs/{id}/rollback`.
async fn rollback(State(app): State<App>, Path(id): Path<String>) -> Result<Response, ApiError> {
    on_run(app, id, Command::Rollback, None).await
}

/// Starts `command` on an existing run: a dry run on its own simulator, a live one behind the
/// kill switch.
async fn on_run(
    app: App,
    id: String,
    command: Command,
    until: Option<String>,
) -> Result<Response, ApiError> {
    let run = path_run(id)?;
    let simulated = app.simulated(&run);
    let mode = if simulated.is_some() {
        Mode::Simulate
    } else {
        require_journaled(&app, &run).await?;
        require_open(&app).await?;
        Mode::Live
    };
    let name = command.name();
    launch(
        &app,
        Job {
            run: run.clone(),
            command,
            until,
        },
        simulated,
    )?;
    Ok(accepted(&run, name, mode))
}

/// The live journal's record of `run`, `None` when it holds none.
async fn journal_record(app: &App, run: &RunId) -> Result<Option<RunRecord>, ApiError> {
    app.backend()
        .store
        .load_run(run)
        .await
        .map_err(|e| ApiError::store(e, "reading the journal"))
}

/// Refuses (404) an invocation of a live run the journal does not hold, unless one is in flight
/// here (a run this server started, not journaled yet: `launch` answers that it is busy). It
/// would only fail in its task, after a 202.
async fn require_journaled(app: &App, run: &RunId) -> Result<(), ApiError> {
    if app
        .slot(run)
        .is_some_and(|slot| slot.state().in_flight.is_some())
    {
        return Ok(());
    }
    match journal_record(app, run).await? {
        Some(_) => Ok(()),
        None => Err(no_such_run(app, run)
            .with_next("list the runs with GET /runs, or start one with POST /runs")),
    }
}

/// 404 for a run neither the journal nor this server's dry runs hold (an older dry run may have
/// been forgotten: the server keeps only its last ones).
fn no_such_run(app: &App, run: &RunId) -> ApiError {
    ApiError::not_found(format!(
        "no run {run} in the journal, nor among the last {} dry runs this server keeps",
        app.backend().dry_runs_kept.max(1)
    ))
}

/// What holds a run id a request cannot take: a dry run of this server.
const DRY_RUN_HERE: &str = "a dry run of this server";
/// ... or a live run (journaled, or started here).
const LIVE_RUN: &str = "a live run";

/// 409: one id names one run, and `run` names `by` already.
fn taken_by(run: &RunId, by: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        format!("run id {run} is already taken by {by}"),
    )
    .with_next("choose another run id, or leave it out to get a fresh one")
}

/// What a task runs.
enum Command {
    Run(Box<RunRequest>),
    Resume,
    Enact,
    Rollback,
}

impl Command {
    fn name(&self) -> &'static str {
        match self {
            Command::Run(_) => "run",
            Command::Resume => "resume",
            Command::Enact => "enact",
            Command::Rollback => "rollback",
        }
    }
}

struct Job {
    run: RunId,
    command: Command,
    until: Option<String>,
}

/// Marks the run busy and spawns its invocation; refused while the server stops or while
/// another invocation of the same run is in flight.
fn launch(app: &App, job: Job, simulated: Option<Simulated>) -> Result<(), ApiError> {
    if app.is_stopping() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is stopping: no invocation starts",
        ));
    }
    let cancel = CancelFlag::new();
    let (slot, refused) = app.slot_or_new(&job.run, |slot, created| {
        let mut state = slot.state();
        // One id names one run. The request checked it on arrival, but a dry run copies its
        // scope before it gets here: another request may have started a run under the id
        // meanwhile, which this dry run must not take over (nor a live run a dry run's id).
        let new_dry_run = matches!(job.command, Command::Run(_)) && simulated.is_some();
        if new_dry_run && !created {
            let by = if state.simulated.is_some() {
                DRY_RUN_HERE
            } else {
                LIVE_RUN
            };
            return Some(taken_by(&job.run, by));
        }
        if simulated.is_none() && state.simulated.is_some() {
            return Some(taken_by(&job.run, DRY_RUN_HERE));
        }
        if let Some((command, _)) = &state.in_flight {
            return Some(
                ApiError::new(
                    StatusCode::CONFLICT,
                    format!("run {} is busy: {command} is in flight", job.run),
                )
                .with_next(format!(
                    "follow it on GET /runs/{}/events, then retry",
                    job.run
                )),
            );
        }
        state.in_flight = Some((job.command.name(), cancel.clone()));
        if simulated.is_some() {
            state.simulated = simulated.clone();
        }
        None
    });
    if let Some(refused) = refused {
        return Err(refused);
    }
    for old in app.keep(&job.run) {
        tracing::info!(run = %old, "forgot an idle run's slot: the server keeps its last ones");
    }
    let mut options: RunOptions = app.backend().options.clone();
    options.events = slot.sink();
    options.cancel = cancel;
    options.until = job.until.clone();
    if simulated.is_some() {
        // A dry run's simulator is private to this server: no lease to take, and no live
        // database to wait for (the back-off's probe reads the live one, behind its switch).
        options.lease = None;
        options.back_off = None;
    }
    metrics::counter!("iu_cutter_serve_invocations_started_total", "command" => job.command.name())
        .increment(1);
    let task_app = app.clone();
    let task = tokio::spawn(async move {
        let command = job.command.name();
        let result = execute(&task_app, &job, simulated.as_ref(), options).await;
        finish(&task_app, &slot, command, result).await;
    });
    app.track(task);
    Ok(())
}

async fn execute(
    app: &App,
    job: &Job,
    simulated: Option<&Simulated>,
    options: RunOptions,
) -> Result<RunReport, RunnerError> {
    let runner = simulated.map_or(app.live(), |s| s.runner.as_ref());
    match &job.command {
        Command::Run(request) => runner.run(request.as_ref().clone(), options).await,
        Command::Resume => runner.resume(&job.run, options).await,
        Command::Enact => runner.enact(&job.run, options).await,
        Command::Rollback => runner.rollback_with(&job.run, options).await,
    }
}

/// Journals a live invocation's report (when its run exists: a run refused before it began
/// has no journal), keeps it for `GET /runs/{id}`, and frees the run.
async fn finish(
    app: &App,
    slot: &Slot,
    command: &'static str,
    result: Result<RunReport, RunnerError>,
) {
    let simulated = slot.state().simulated.is_some();
    let (report, error) = match result {
        Ok(mut report) => {
            if !simulated
                && matches!(app.backend().store.load_run(&report.run).await, Ok(Some(_)))
                && let Err(error) = app.live().journal_report(&report).await
            {
                report
                    .notes
                    .push(format!("the report is not in the journal: {error}"));
            }
            metrics::counter!(
                "iu_cutter_serve_invocations_total",
                "command" => command,
                "outcome" => report.outcome.name()
            )
            .increment(1);
            (Some(report), None)
        }
        Err(error) => {
            tracing::error!(%error, command, "invocation failed");
            (None, Some(error.to_string()))
        }
    };
    let mut state = slot.state();
    state.in_flight = None;
    if report.is_some() {
        state.last_report = report;
    }
    state.last_error = error;
}

/// `POST /plans`: what a run of `scope` would write, per document, and the plan's sha256.
/// Reads only (it needs the token as every POST does).
async fn plans(
    State(app): State<App>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct NewPlan {
        scope: Option<Scope>,
    }
    let new: NewPlan = parse_body(body)?;
    let scope = new.scope.unwrap_or(Scope::All);
    let documents = app
        .backend()
        .store
        .load_scope(&scope)
        .await
        .map_err(|e| ApiError::store(e, "reading the scope"))?;
    let plan =
        iu_cutter_phase_cut_leg_a::spawn_compute_plan(documents, app.backend().rules.clone())
            .await
            .map_err(|e| ApiError::bad_request(format!("the plan cannot be computed: {e}")))?;
    let units: usize = plan.documents.iter().map(|d| d.units.len()).sum();
    Ok(Json(json!({
        "plan_sha256": plan.sha256(),
        "documents": plan.documents.len(),
        "units": units,
        "plan": plan,
    })))
}
