//! The API end to end on SQLite: a real server on 127.0.0.1:0, a real store, plain HTTP.

mod support;

use std::time::Duration;

use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::{
    CutRules, DocumentId, PhaseRecord, PhaseStatus, Preset, RunId, RunRecord, RunStatus, Scope,
};
use iu_cutter_orchestrator::RunOptions;
use serde_json::Value;
use support::{Events, Server, TOKEN, ok, request};

/// Every mutating route, with a body it would accept.
const POSTS: [(&str, &str); 6] = [
    ("/runs", r#"{"mode":"simulate"}"#),
    ("/plans", "{}"),
    ("/runs/r1/enact", ""),
    ("/runs/r1/resume", ""),
    ("/runs/r1/rollback", ""),
    ("/runs?mode=live", ""),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_post_is_refused_without_the_right_token_and_reads_need_none() {
    let server = Server::start(Some(TOKEN), true).await;
    for (path, body) in POSTS {
        let none = request(server.addr, "POST", path, None, body).await;
        assert_eq!(none.status, 401, "{path} without a token: {}", none.body);
        assert!(
            none.header("www-authenticate")
                .is_some_and(|v| v.starts_with("Bearer"))
        );
        let wrong = request(
            server.addr,
            "POST",
            path,
            Some("test-token-0123456788"),
            body,
        )
        .await;
        assert_eq!(
            wrong.status, 401,
            "{path} with a wrong token: {}",
            wrong.body
        );
        assert!(!wrong.body.contains(TOKEN), "the token is never echoed");
    }
    // Nothing was started by the refused requests.
    assert_eq!(server.get("/runs").await.json(), Value::Array(Vec::new()));
    // With the token, a plan is computed (reads only).
    let plan = server.post("/plans", "{}").await;
    assert_eq!(plan.status, 200, "{}", plan.body);
    assert_eq!(plan.json()["documents"], 2);
    assert!(
        plan.json()["plan_sha256"]
            .as_str()
            .is_some_and(|s| s.len() == 64)
    );
    for path in ["/", "/runs", "/killswitch", "/metrics", "/assets/app.js"] {
        assert_eq!(
            server.get(path).await.status,
            200,
            "GET {path} needs no token"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_configured_token_mutations_are_refused_and_reads_served() {
    let server = Server::start(None, true).await;
    for (path, body) in POSTS {
        let refused = server.post(path, body).await;
        assert_eq!(refused.status, 403, "{path}: {}", refused.body);
        assert!(
            refused.json()["error"]
                .as_str()
                .is_some_and(|e| e.contains("no token configured"))
        );
    }
    assert_eq!(server.get("/runs").await.status, 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_run_is_refused_while_the_kill_switch_is_closed_with_its_reason() {
    let server = Server::start(Some(TOKEN), false).await;
    let switch = server.get("/killswitch").await.json();
    assert_eq!(switch["open"], false);
    assert_eq!(switch["switch"], "test switch");
    assert_eq!(switch["how_to_open"], "open the test switch");

    let refused = server.post("/runs?mode=live", r#"{"run":"live-1"}"#).await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    let body = refused.json();
    assert_eq!(body["switch"], "test switch");
    assert_eq!(body["next"], "open the test switch");
    // Nothing journaled, nothing written.
    assert_eq!(server.get("/runs").await.json(), Value::Array(Vec::new()));
    assert!(ok(server.store.load_run(&"live-1".into()).await, "load").is_none());

    // A dry run only reads the live store: the closed switch does not stop it.
    let dry = server
        .post("/runs", r#"{"mode":"simulate","run":"dry-1"}"#)
        .await;
    assert_eq!(dry.status, 202, "{}", dry.body);
    assert_eq!(dry.header("location"), Some("/runs/dry-1"));
    let detail = server.settled("dry-1").await;
    assert_eq!(detail["report"]["outcome"]["name"], "PASS", "{detail}");
    assert_eq!(detail["mode"], "simulate");
    assert!(ok(server.store.load_run(&"dry-1".into()).await, "load").is_none());
    // Its id stays its own: a live run may not take it.
    server.switch.set(true);
    let clash = server.post("/runs?mode=live", r#"{"run":"dry-1"}"#).await;
    assert_eq!(clash.status, 409, "{}", clash.body);
    server.switch.set(false);

    // Closed under a held run: enact is refused with the reason too.
    server.switch.set(true);
    let detail = server.hold(serde_json::json!({"run": "held-1"})).await;
    assert_eq!(detail["record"]["status"], "HELD");
    // The next steps as values: enact after review, or roll back.
    assert_eq!(detail["next_actions"][0]["action"], "enact", "{detail}");
    assert_eq!(detail["next_actions"][0]["run"], "held-1", "{detail}");
    assert_eq!(detail["next_actions"][1]["action"], "rollback", "{detail}");
    server.switch.set(false);
    let enact = server.post("/runs/held-1/enact", "").await;
    assert_eq!(enact.status, 409, "{}", enact.body);
    assert_eq!(enact.json()["switch"], "test switch");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_of_a_running_invocation_arrive_as_server_sent_events() {
    let server = Server::start(Some(TOKEN), true).await;
    server.hold(serde_json::json!({"run": "ev-1"})).await;

    let mut events = Events::open(server.addr, "/runs/ev-1/events").await;
    let enact = server.post("/runs/ev-1/enact", "").await;
    assert_eq!(enact.status, 202, "{}", enact.body);
    let seen = events.told_until_passed(Duration::from_secs(30)).await;
    assert!(
        seen.iter().any(|e| e == "phase_started lifecycle-enact"),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|e| e == "phase_finished lifecycle-enact"),
        "{seen:?}"
    );
    assert_eq!(
        seen.last().map(String::as_str),
        Some("run_finished "),
        "{seen:?}"
    );
    let detail = server.settled("ev-1").await;
    assert_eq!(detail["record"]["status"], "PASS");
    // No response carries the token.
    for path in ["/runs", "/runs/ev-1", "/metrics", "/killswitch"] {
        let body = server.get(path).await.body;
        assert!(!body.contains(TOKEN), "{path} shows the token");
    }
    // The server journaled the invocation's report.
    let reports = ok(server.store.load_reports(&"ev-1".into()).await, "reports");
    assert!(
        reports.last().is_some_and(|r| r.contains("\"enact\"")),
        "{reports:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_run_shows_its_units_and_its_diff_against_the_active_generation() {
    let server = Server::start(Some(TOKEN), true).await;
    // The application edits a.md: one section changed, one added, one removed.
    let edited = "# Guide\n\nIntro text.\n\n## Install\n\nRun the new installer.\n\n## Upgrade\n\nUpgrade it.\n";
    let detail = server.held_after_an_edit("gen-1", edited, "gen-2").await;
    assert_eq!(detail["record"]["status"], "HELD", "{detail}");
    assert_eq!(detail["documents"], serde_json::json!(["docs/a.md"]));

    // A document id with a slash travels percent-encoded in one path segment.
    let units = server.get("/documents/docs%2Fa.md/units?run=gen-2").await;
    assert_eq!(units.status, 200, "{}", units.body);
    let paths: Vec<String> = units.json()["units"]
        .as_array()
        .map(|u| {
            u.iter()
                .map(|u| u["path"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        paths,
        ["Guide", "Guide/Install", "Guide/Upgrade"],
        "{}",
        units.body
    );
    assert!(units.body.contains("Run the new installer."));

    let diff = server.get("/documents/docs%2Fa.md/diff?run=gen-2").await;
    assert_eq!(diff.status, 200, "{}", diff.body);
    let diff = diff.json();
    assert_eq!(diff["generation_a"], "gen-1");
    assert_eq!(diff["generation_b"], "gen-2");
    assert_eq!(
        (
            diff["added"].as_u64(),
            diff["removed"].as_u64(),
            diff["changed"].as_u64()
        ),
        (Some(1), Some(1), Some(1)),
        "{diff}"
    );
    let changed = diff["units"]
        .as_array()
        .and_then(|u| u.iter().find(|u| u["change"] == "changed"))
        .map(|u| u["unit_id"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    let texts = &diff["texts"][changed.as_str()];
    assert!(
        texts["before"]
            .as_str()
            .is_some_and(|t| t.contains("Run the installer.")),
        "{texts}"
    );
    assert!(
        texts["after"]
            .as_str()
            .is_some_and(|t| t.contains("Run the new installer.")),
        "{texts}"
    );

    // Active units without ?run are gen-1's until the enact.
    let active = server.get("/documents/docs%2Fa.md/units").await.json();
    assert!(
        active["units"]
            .as_array()
            .is_some_and(|u| u.iter().all(|u| u["body"] != "Upgrade it.\n"))
    );
    let missing = server.get("/documents/docs%2Fa.md/diff?run=nope").await;
    assert_eq!(missing.status, 404, "{}", missing.body);

    // Rollback of the held run restores the pre-run state.
    server.rolled_back("gen-2").await;
    server.stop().await;
}

/// Adversarial (adv49): the diff's texts were read again after the diff, so a rollback landing
/// between the two reads left the diff's changed units without their texts. They are now the
/// units the diff compared: a read after the diff's own two parks here, and the rollback lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_after_the_diff_read_its_units_leaves_the_diff_its_texts() {
    let pause = support::Pause::disarmed(iu_cutter_live_execution::OpKind::GenerationUnits);
    let server = Server::start_pausing(&pause).await;
    let edited = "# Guide\n\nIntro text.\n\n## Install\n\nRun the new installer.\n";
    let held = server.held_after_an_edit("gen-1", edited, "gen-2").await;
    assert_eq!(held["record"]["status"], "HELD", "{held}");

    // The diff's reads of gen-1's and gen-2's units pass; a third read of units parks.
    pause.arm_after(2);
    let addr = server.addr;
    let mut diff = tokio::spawn(async move {
        let path = "/documents/docs%2Fa.md/diff?run=gen-2";
        request(addr, "GET", path, None, "").await
    });
    let answered = tokio::select! {
        () = pause.reached() => None,
        answered = &mut diff => Some(answered),
    };
    let answered = match answered {
        Some(answered) => answered,
        None => {
            server.rolled_back("gen-2").await;
            pause.release();
            diff.await
        }
    };
    let answered = ok(answered, "the diff's request");
    assert_eq!(answered.status, 200, "{}", answered.body);
    let diff = answered.json();
    let changes: Vec<&Value> = diff["units"]
        .as_array()
        .map(|u| u.iter().filter(|u| u["change"] != "unchanged").collect())
        .unwrap_or_default();
    assert_eq!(changes.len(), 2, "Install changed, Use removed: {diff}");
    for change in changes {
        let key = change["unit_id"].as_str().unwrap_or_default();
        let texts = &diff["texts"][key];
        let side = |name: &str| texts[name].as_str().is_some();
        let (before, after) = match change["change"].as_str() {
            Some("changed") => (true, true),
            Some("removed") => (true, false),
            other => panic!("unexpected change {other:?}: {diff}"),
        };
        assert_eq!(
            (side("before"), side("after")),
            (before, after),
            "{key}: {texts}"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_answer_in_prometheus_text() {
    let server = Server::start(Some(TOKEN), true).await;
    let _ = server.get("/runs").await;
    let run = server.post("/runs?mode=simulate", r#"{"run":"m-1"}"#).await;
    assert_eq!(run.status, 202, "{}", run.body);
    server.settled("m-1").await;
    let metrics = server.get("/metrics").await;
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .header("content-type")
            .is_some_and(|c| c.starts_with("text/plain"))
    );
    assert!(
        metrics.body.contains("iu_cutter_serve_requests_total{"),
        "{}",
        metrics.body
    );
    assert!(
        metrics
            .body
            .contains("iu_cutter_serve_invocations_total{command=\"run\",outcome=\"PASS\"}"),
        "{}",
        metrics.body
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_invocation_of_a_busy_run_and_a_bad_until_are_refused() {
    let server = Server::start(Some(TOKEN), true).await;
    let bad = server.post("/runs?mode=live&until=nowhere", "").await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    // A run id the command line could not name again is refused before anything is journaled
    // (it was accepted, journaled, and then stuck: no command could resume or roll it back).
    for mode in ["live", "simulate"] {
        let path = format!("/runs?mode={mode}");
        let stray = server.post(&path, r#"{"run":"../../../pwned"}"#).await;
        assert_eq!(stray.status, 400, "{}", stray.body);
        assert!(stray.body.contains("a run id is"), "{}", stray.body);
    }
    let runs = server.get("/runs").await;
    assert!(!runs.body.contains("pwned"), "{}", runs.body);
    assert!(
        bad.json()["next"]
            .as_str()
            .is_some_and(|n| n.contains("write-verify"))
    );
    let unknown = server.post("/runs", r#"{"colour":"red"}"#).await;
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    assert_eq!(server.get("/runs/none").await.status, 404);
    assert_eq!(server.get("/runs/none/events").await.status, 404);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_a_run_in_flight_at_a_safe_point_and_releases_its_lease() {
    // One unit per batch and a pause after each: the run is still writing when the server stops.
    let slow = support::one_unit_at_a_time(Duration::from_millis(500));
    let server = Server::start_with(Some(TOKEN), true, slow).await;
    let mut events = server.writing("slow-1").await;
    let store = server.store.clone();
    let command_line = server.command_line();
    let stopping = std::time::Instant::now();
    // The store's directory stays until the command line below is done with it.
    let _dir = server.stop().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(10),
        "stopped at the next batch"
    );
    // The event stream ended with the server.
    assert!(events.next(Duration::from_secs(5)).await.is_none());
    let record =
        ok(store.load_run(&"slow-1".into()).await, "load").unwrap_or_else(|| panic!("journaled"));
    assert_ne!(
        format!("{:?}", record.status),
        "Pass",
        "cancelled before the end"
    );
    let leases = ok(store.load_leases().await, "leases");
    assert!(
        leases.leases.iter().all(|l| l.run.as_str() != "slow-1"),
        "lease released: {leases:?}"
    );
    // What the server stopped, the command line resumes to its end, then rolls back.
    let resumed = ok(
        command_line
            .resume(
                &"slow-1".into(),
                iu_cutter_orchestrator::RunOptions::default(),
            )
            .await,
        "resume",
    );
    assert_eq!(resumed.outcome.name(), "PASS", "{}", resumed.to_json());
    let rolled = ok(command_line.rollback(&"slow-1".into()).await, "rollback");
    assert_eq!(rolled.outcome.name(), "ROLLED_BACK", "{}", rolled.to_json());
}

/// Regression (found by `cargo xtask load`): a burst of clients overflowed the listener's
/// default queue, and each dropped connection waited a second for TCP to retry. Connections the
/// server has not accepted yet must wait in the queue, not be dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_connections_waits_in_the_queue_instead_of_being_dropped() {
    let listener = ok(
        iu_cutter_serve::listen(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
        "listen",
    );
    let addr = ok(listener.local_addr(), "address");
    // Nobody accepts: every connection must be queued by the kernel.
    let connects: Vec<_> = (0..600)
        .map(|_| {
            tokio::spawn(async move {
                tokio::time::timeout(
                    Duration::from_millis(900),
                    tokio::net::TcpStream::connect(addr),
                )
                .await
                .ok()
                .and_then(Result::ok)
            })
        })
        .collect();
    let mut queued = Vec::new();
    for connect in connects {
        if let Ok(Some(stream)) = connect.await {
            queued.push(stream);
        }
    }
    assert_eq!(queued.len(), 600, "connections dropped instead of queued");
    drop(listener);
}

/// A NUL (or anything the command line could not name) in a path's run or document id is the
/// request's mistake: 400, before the store is asked. On PostgreSQL, which cannot compare a
/// NUL, the store's error answered 503; on SQLite the lookup answered 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_with_a_nul_in_a_path_is_a_bad_request() {
    let server = Server::start(Some(TOKEN), true).await;
    for path in [
        "/runs/r%00x",
        "/runs/r%00x/events",
        "/documents/a%00/units",
        "/documents/a%00/diff?run=r1",
        "/documents/a/units?run=r%00x",
        "/documents/a/diff?run=r%00x",
    ] {
        let answer = server.get(path).await;
        assert_eq!(answer.status, 400, "GET {path}: {}", answer.body);
    }
    for path in [
        "/runs/r%00x/enact",
        "/runs/r%00x/resume",
        "/runs/r%00x/rollback",
    ] {
        let answer = server.post(path, "").await;
        assert_eq!(answer.status, 400, "POST {path}: {}", answer.body);
    }
    server.stop().await;
}

/// A run driven by the command line (another process) broadcast nothing to the server: a client
/// following its events heard nothing until it left. The server now reads the journal of such a
/// run and tells its phases and its end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_driven_elsewhere_is_followed_through_its_journal() {
    let server = Server::start(Some(TOKEN), true).await;
    let command_line = server.command_line();
    let request = || {
        iu_cutter_orchestrator::RunRequest::new(
            "cli-1",
            iu_cutter_live_execution::Scope::All,
            iu_cutter_live_execution::CutRules::preset(iu_cutter_live_execution::Preset::Markdown),
        )
    };
    let held = RunOptions::default().with_until("backup");
    let report = ok(command_line.run(request(), held).await, "run until backup");
    assert_eq!(report.outcome.name(), "PASS", "{}", report.to_json());
    let mut events = Events::open(server.addr, "/runs/cli-1/events").await;
    let resumed = ok(
        command_line
            .resume(&"cli-1".into(), RunOptions::default())
            .await,
        "resume",
    );
    assert_eq!(resumed.outcome.name(), "PASS", "{}", resumed.to_json());
    let told = events.told_until_passed(Duration::from_secs(10)).await;
    for phase in [
        "cut-leg-a",
        "leg-b-record",
        "write-verify",
        "lifecycle-enact",
    ] {
        let finished = format!("phase_finished {phase}");
        assert!(told.contains(&finished), "{finished} not told: {told:?}");
    }
    assert!(
        !told.iter().any(|t| t.ends_with(" backup")),
        "told before it was followed: {told:?}"
    );
    assert_eq!(
        told.last().map(String::as_str),
        Some("run_finished "),
        "{told:?}"
    );
    server.stop().await;
}

/// A run the server held, then rolled back by the command line (another process): the server
/// showed its own last report (HELD) and offered to enact it, while the journal said ROLLED BACK.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_rolled_back_elsewhere_is_shown_rolled_back_with_no_enact_offered() {
    let server = Server::start(Some(TOKEN), true).await;
    let detail = server.hold(serde_json::json!({"run": "else-1"})).await;
    assert_eq!(detail["next_actions"][0]["action"], "enact", "{detail}");

    let rolled = ok(
        server.command_line().rollback(&"else-1".into()).await,
        "rollback by the command line",
    );
    assert_eq!(rolled.outcome.name(), "ROLLED_BACK");

    let detail = server.settled("else-1").await;
    assert_eq!(detail["record"]["status"], "ROLLED_BACK", "{detail}");
    assert_eq!(
        detail["report"]["outcome"]["name"], "ROLLED_BACK",
        "the run's last report is the journal's: {detail}"
    );
    let actions = detail["next_actions"].to_string();
    assert!(!actions.contains("enact"), "enact offered: {actions}");
    // The list reads no reports: the server's own outcome, superseded, is left out.
    let runs = server.get("/runs").await.json();
    assert_eq!(runs[0]["status"], "ROLLED_BACK", "{runs}");
    assert!(runs[0]["outcome"].is_null(), "{runs}");
    server.stop().await;
}

/// The reviewed plan `POST /plans` answers is what `POST /runs` takes back. Past 2 MiB (some
/// ten thousand units) the body was refused by the framework's default limit, with a plain-text
/// 413 and no next action: a store of realistic size could not run a reviewed plan.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewed_plan_of_a_large_scope_can_be_run() {
    let section = |n: usize| format!("## Section {n}\n\nThe text of section {n}.\n\n");
    let documents: Vec<_> = (0..200)
        .map(|d| {
            let body: String = (0..60).map(section).collect();
            (
                iu_cutter_live_execution::DocumentId::new(format!("docs/large-{d:03}.md")),
                format!("# Document {d}\n\n{body}"),
            )
        })
        .collect();
    let rules =
        iu_cutter_live_execution::CutRules::preset(iu_cutter_live_execution::Preset::Markdown);
    let server = Server::start_on(
        Some(TOKEN),
        true,
        iu_cutter_orchestrator::RunOptions::default(),
        documents,
        rules,
    )
    .await;
    let plan = server.post("/plans", "{}").await;
    assert_eq!(plan.status, 200, "{}", plan.body);
    let plan = plan.json()["plan"].to_string();
    assert!(plan.len() > 2 << 20, "the plan is {} bytes", plan.len());
    let body = format!(r#"{{"run":"large-1","plan":{plan}}}"#);
    let run = server.post("/runs?mode=simulate", &body).await;
    assert_eq!(run.status, 202, "{}", run.body);
    let detail = server.settled("large-1").await;
    assert_eq!(detail["report"]["outcome"]["name"], "PASS", "{detail}");
    server.stop().await;
}

/// Enact, resume or rollback of a run the journal does not hold answered 202 as if it started;
/// its failure was only in the run's detail, and the id was then refused to a dry run as "taken
/// by a run of the other mode", a run that never existed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invocation_of_a_run_not_in_the_journal_is_not_found() {
    let server = Server::start(Some(TOKEN), true).await;
    for command in ["enact", "resume", "rollback"] {
        let answer = server.post(&format!("/runs/nope/{command}"), "").await;
        assert_eq!(answer.status, 404, "{command}: {}", answer.body);
        assert!(
            answer.json()["next"]
                .as_str()
                .is_some_and(|n| n.contains("GET /runs")),
            "{command}: {}",
            answer.body
        );
    }
    let dry = server
        .post("/runs?mode=simulate", r#"{"run":"nope"}"#)
        .await;
    assert_eq!(dry.status, 202, "{}", dry.body);
    server.stop().await;
}

/// Every dry run kept a simulator holding a copy of its scope until the server stopped: a
/// long-lived server's memory grew with every dry run. Only the last ones are kept; the one
/// invoked last counts as the newest, and a dry run still executing is never forgotten.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_keeps_only_its_last_dry_runs_and_never_one_in_flight() {
    let server = Server::start_keeping_dry_runs(RunOptions::default(), 2).await;
    let dry = |run: &str| format!(r#"{{"run":"{run}"}}"#);
    for run in ["d-1", "d-2", "d-3"] {
        let started = server.post("/runs?mode=simulate", &dry(run)).await;
        assert_eq!(started.status, 202, "{run}: {}", started.body);
        server.settled(run).await;
    }
    let gone = server.get("/runs/d-1").await;
    assert_eq!(gone.status, 404, "{}", gone.body);
    assert!(gone.body.contains("last 2 dry runs"), "{}", gone.body);
    let listed = server.get("/runs").await.body;
    assert!(!listed.contains("\"d-1\""), "{listed}");
    assert!(
        listed.contains("\"d-2\"") && listed.contains("\"d-3\""),
        "{listed}"
    );
    // Invoking d-2 again makes it the newest: d-3 goes when d-4 comes.
    let rolled = server.post("/runs/d-2/rollback", "").await;
    assert_eq!(rolled.status, 202, "{}", rolled.body);
    server.settled("d-2").await;
    let started = server.post("/runs?mode=simulate", &dry("d-4")).await;
    assert_eq!(started.status, 202, "{}", started.body);
    server.settled("d-4").await;
    assert_eq!(server.get("/runs/d-3").await.status, 404);
    assert_eq!(server.get("/runs/d-2").await.status, 200);
    // A forgotten dry run is never taken for a live one.
    let enact = server.post("/runs/d-3/enact", "").await;
    assert_eq!(enact.status, 404, "{}", enact.body);
    server.stop().await;

    let slow = support::one_unit_at_a_time(Duration::from_millis(100));
    let server = Server::start_keeping_dry_runs(slow, 1).await;
    let started = server.post("/runs?mode=simulate", &dry("slow")).await;
    assert_eq!(started.status, 202, "{}", started.body);
    let mut events = Events::open(server.addr, "/runs/slow/events").await;
    while let Some(event) = events.next(Duration::from_secs(30)).await {
        if event["event"] == "progress" && event["phase"] == "leg-b-record" {
            break;
        }
    }
    let started = server.post("/runs?mode=simulate", &dry("quick")).await;
    assert_eq!(started.status, 202, "{}", started.body);
    let slow = server.get("/runs/slow").await;
    assert_eq!(
        slow.status, 200,
        "a dry run in flight was forgotten: {}",
        slow.body
    );
    assert!(!slow.json()["active"].is_null(), "{}", slow.body);
    assert_eq!(
        server.settled("slow").await["report"]["outcome"]["name"],
        "PASS"
    );
    server.settled("quick").await;
    server.stop().await;
}

/// A rollback asked for while the run's invocation executes is refused (409) and the run is
/// left to finish; the refusal named its next step with a placeholder, "GET /runs/{run}/events",
/// instead of the run's own address. Once the run has finished, the rollback is taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_while_the_run_executes_is_refused_naming_where_to_follow_it() {
    let slow = support::one_unit_at_a_time(Duration::from_millis(200));
    let server = Server::start_with(Some(TOKEN), true, slow).await;
    let started = server.post("/runs?mode=live", r#"{"run":"busy-1"}"#).await;
    assert_eq!(started.status, 202, "{}", started.body);
    let busy = server.post("/runs/busy-1/rollback", "").await;
    assert_eq!(busy.status, 409, "{}", busy.body);
    busy.assert_next("follow it on GET /runs/busy-1/events, then retry");
    assert_eq!(server.settled("busy-1").await["record"]["status"], "PASS");
    let rollback = server.post("/runs/busy-1/rollback", "").await;
    assert_eq!(rollback.status, 202, "{}", rollback.body);
    let detail = server.settled("busy-1").await;
    assert_eq!(detail["record"]["status"], "ROLLED_BACK", "{detail}");
    // A run that wrote no units of a document names its own address too.
    let none = server.get("/documents/docs%2Fa.md/units?run=busy-1").await;
    assert_eq!(none.status, 404, "{}", none.body);
    none.assert_next("see the run's documents in GET /runs/busy-1");
    server.stop().await;
}

/// Any client may send a request with a method of its own invention; each one became a new
/// series of the request metrics, so a stream of made-up methods (no token needed) grew the
/// server's memory and `/metrics` without bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_methods_do_not_grow_the_metrics() {
    let server = Server::start(Some(TOKEN), true).await;
    for n in 0..20 {
        let answer = request(server.addr, &format!("ADV36MADEUP{n}"), "/runs", None, "").await;
        assert!(answer.status >= 400, "{}", answer.status);
    }
    let metrics = server.get("/metrics").await.body;
    assert!(!metrics.contains("ADV36MADEUP"), "{metrics}");
    assert!(metrics.contains("method=\"other\""), "{metrics}");
    server.stop().await;
}

/// A server on loopback answers only requests addressed to loopback. A web page the operator
/// visits can make its own name resolve to 127.0.0.1 (DNS rebinding) and then read, as its own
/// origin, every read of the API, which needs no token: the runs, every document's units and
/// texts. Its requests name the page's host, which the server refused nowhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loopback_server_refuses_requests_addressed_to_another_host() {
    let server = Server::start(Some(TOKEN), true).await;
    let port = server.addr.port();
    for host in [
        "evil.example".to_owned(),
        format!("evil.example:{port}"),
        format!("localhost.evil.example:{port}"),
        format!("127.0.0.1.evil.example:{port}"),
    ] {
        for path in ["/runs", "/documents/docs%2Fa.md/units", "/"] {
            let answer = support::request_as(server.addr, &host, "GET", path, None, "").await;
            assert_eq!(
                answer.status, 403,
                "Host: {host}, GET {path}: {}",
                answer.body
            );
            assert!(!answer.body.contains("Intro text"), "{}", answer.body);
        }
    }
    for host in [
        "localhost".to_owned(),
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
    ] {
        let answer = support::request_as(server.addr, &host, "GET", "/runs", None, "").await;
        assert_eq!(answer.status, 200, "Host: {host}: {}", answer.body);
    }
    server.stop().await;
}

/// A scope that names no document (a mistyped prefix, a shard of none) or ids the store does not
/// hold: the command line refuses it ("a mistyped prefix must not pass on nothing"); the server
/// started the run, journaled it and reported PASS, for nothing or without the missing ids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_over_a_scope_naming_no_document_or_a_missing_one_is_refused() {
    let server = Server::start(Some(TOKEN), true).await;
    for (mode, run, scope, says) in [
        (
            "live",
            "typo-1",
            r#"{"kind":"prefix","value":"dcos/"}"#,
            "no document in scope",
        ),
        (
            "simulate",
            "typo-2",
            r#"{"kind":"prefix","value":"dcos/"}"#,
            "no document in scope",
        ),
        (
            "live",
            "ids-1",
            r#"{"kind":"ids","value":["docs/a.md","docs/nope.md"]}"#,
            "docs/nope.md",
        ),
        (
            "live",
            "shard-1",
            r#"{"kind":"shard","value":{"base":{"kind":"all"},"index":3,"count":0}}"#,
            "no document in scope",
        ),
    ] {
        let body = format!(r#"{{"run":"{run}","scope":{scope}}}"#);
        let answer = server.post(&format!("/runs?mode={mode}"), &body).await;
        assert_eq!(answer.status, 400, "{run}: {}", answer.body);
        assert!(answer.body.contains(says), "{run}: {}", answer.body);
        assert!(answer.json()["next"].is_string(), "{run}: {}", answer.body);
        assert!(ok(server.store.load_run(&run.into()).await, "load").is_none());
    }
    assert_eq!(server.get("/runs").await.json(), serde_json::json!([]));
    server.stop().await;
}

/// Every refusal is the API's JSON with a next step. A query string the server cannot read, a
/// path that is not UTF-8, a route that does not exist or a method a route does not take were
/// answered by the framework: plain text or an empty body, and no next step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_are_refused_in_json_with_a_next_step() {
    let server = Server::start(Some(TOKEN), true).await;
    let answers = [
        (400, server.post("/runs?mode=LIVE", "").await),
        (
            400,
            server.post("/runs/r1/resume?until=a&until=b", "").await,
        ),
        (
            400,
            server.get("/documents/docs%2Fa.md/units?run=a&run=b").await,
        ),
        (400, server.get("/runs/%FF%FE").await),
        (404, server.get("/nowhere").await),
        (405, server.post("/killswitch", "").await),
    ];
    for (status, answer) in answers {
        assert_eq!(answer.status, status, "{}", answer.body);
        let body: Value = serde_json::from_str(&answer.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", answer.body));
        assert!(body["error"].is_string(), "{body}");
        assert!(body["next"].is_string(), "{body}");
    }
    server.stop().await;
}

/// Eight clients enact and roll back one held run at once: one invocation is taken, the others
/// are refused as busy (409), and the store ends as the one taken left it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_enacts_and_rollbacks_of_one_held_run_take_one() {
    let server = Server::start(Some(TOKEN), true).await;
    server.hold(serde_json::json!({"run": "race-1"})).await;
    let addr = server.addr;
    let racing: Vec<_> = ["enact", "rollback"]
        .iter()
        .cycle()
        .take(8)
        .map(|command| {
            let path = format!("/runs/race-1/{command}");
            tokio::spawn(async move { request(addr, "POST", &path, Some(TOKEN), "").await })
        })
        .collect();
    let mut taken = 0;
    for answer in racing {
        let answer = ok(answer.await, "client task");
        assert!(matches!(answer.status, 202 | 409), "{}", answer.body);
        taken += usize::from(answer.status == 202);
    }
    assert!(taken >= 1);
    let detail = server.settled("race-1").await;
    let units = ok(
        server.store.active_units(&"docs/a.md".into()).await,
        "units",
    );
    match detail["record"]["status"].as_str() {
        Some("PASS") => assert_eq!(units.len(), 3, "{detail}"),
        Some("ROLLED_BACK") => assert!(units.is_empty(), "{detail}"),
        other => panic!("{other:?}: {detail}"),
    }
    server.stop().await;
}

/// A client that never finishes sending its request (a stalled network, or on purpose) held the
/// server's stop for ever: the graceful shutdown waited for its connection, which the server
/// never timed out, and SIGTERM left the process running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_request_does_not_hold_the_stop() {
    use tokio::io::AsyncWriteExt;
    let server = Server::start(Some(TOKEN), true).await;
    let mut stalled = ok(tokio::net::TcpStream::connect(server.addr).await, "connect");
    ok(
        stalled
            .write_all(b"GET /runs HTTP/1.1\r\nHost: localhost\r\n")
            .await,
        "send half a request",
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stopping = std::time::Instant::now();
    // Within the support's 30 s, or it panics.
    server.stop().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(15),
        "{:?}",
        stopping.elapsed()
    );
    drop(stalled);
}

/// Another process (the command line, with its lease) rolls back a run the server is executing:
/// refused, naming the server's lease and changing nothing, and the server's run ends PASS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_from_another_process_while_the_server_runs_is_refused_by_the_lease() {
    let slow = support::one_unit_at_a_time(Duration::from_millis(300));
    let server = Server::start_with(Some(TOKEN), true, slow).await;
    let _events = server.writing("other-1").await;
    let leased = iu_cutter_orchestrator::RunOptions::default().with_lease(
        iu_cutter_orchestrator::LeaseOptions::with_holder("cli", Duration::from_secs(30)),
    );
    let refused = ok(
        server
            .command_line()
            .rollback_with(&"other-1".into(), leased)
            .await,
        "rollback",
    );
    assert_eq!(refused.outcome.name(), "REFUSED", "{}", refused.to_json());
    assert!(
        refused.to_json().contains("leased by `serve-test`"),
        "{}",
        refused.to_json()
    );
    let detail = server.settled("other-1").await;
    assert_eq!(detail["record"]["status"], "PASS", "{detail}");
    server.stop().await;
}

/// Adversarial (adv40): one id names one run, checked when a request arrives; but a dry run
/// copies its scope between that check and its start. A live run started under the same id
/// meanwhile (here: it ran to PASS while the dry run's copy was parked) did not stop the dry run
/// from starting under that id: the server then took the id for the dry run, so a rollback of
/// the live run went to the dry run's simulator and the live store kept the run enacted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_never_takes_the_id_of_a_live_run_started_while_it_copied_its_scope() {
    let pause = support::Pause::on(iu_cutter_live_execution::OpKind::ScopeCensusSummary);
    let server = Server::start_pausing(&pause).await;
    let addr = server.addr;
    let dry = tokio::spawn(async move {
        let body = r#"{"run":"x1"}"#;
        request(addr, "POST", "/runs?mode=simulate", Some(TOKEN), body).await
    });
    pause.reached().await;
    let live = server.post("/runs?mode=live", r#"{"run":"x1"}"#).await;
    assert_eq!(live.status, 202, "{}", live.body);
    assert_eq!(server.settled("x1").await["record"]["status"], "PASS");
    pause.release();
    let dry = ok(dry.await, "the dry run's request");
    assert_eq!(dry.status, 409, "the id names the live run: {}", dry.body);
    let rolled = server.post("/runs/x1/rollback", "").await;
    assert_eq!(rolled.status, 202, "{}", rolled.body);
    assert_eq!(rolled.json()["mode"], "live", "{}", rolled.body);
    server.settled("x1").await;
    let record = ok(
        server
            .store
            .load_run(&iu_cutter_live_execution::RunId::new("x1"))
            .await,
        "the journal",
    );
    let status = record.map(|r| r.status);
    assert_eq!(
        status,
        Some(iu_cutter_live_execution::RunStatus::RolledBack),
        "the live run is rolled back"
    );
    server.stop().await;
}

/// Adversarial (adv40): a dry run started again under the id of this server's dry run was
/// refused as "already taken by a run of the other mode": it is taken by a dry run, of the same
/// mode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_id_taken_by_a_dry_run_says_so() {
    let server = Server::start(Some(TOKEN), true).await;
    let started = server.post("/runs?mode=simulate", r#"{"run":"d1"}"#).await;
    assert_eq!(started.status, 202, "{}", started.body);
    server.settled("d1").await;
    let again = server.post("/runs?mode=simulate", r#"{"run":"d1"}"#).await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(!again.body.contains("other mode"), "{}", again.body);
    assert!(again.body.contains("dry run"), "{}", again.body);
    server.stop().await;
}

/// Adversarial (adv43): a run whose runner was killed mid-phase: the journal still says it is
/// running, and its lease has expired. `iu-cutter status` shows it ABANDONED; `GET /runs` and
/// `GET /runs/{id}` showed only the journal's `running` (no invocation of this server active),
/// so the page and any client polling them waited on a run nobody runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_run_is_shown_abandoned_not_running() {
    let server = Server::start(Some(TOKEN), true).await;
    server.hold(serde_json::json!({"run": "gone-1"})).await;
    // What a runner killed while enacting it leaves: the journal's `running`, and its lease,
    // expired on the store's clock.
    let run = iu_cutter_live_execution::RunId::new("gone-1");
    ok(
        server
            .store
            .set_run_status(&run, iu_cutter_live_execution::RunStatus::Running)
            .await,
        "journal running",
    );
    ok(
        server
            .store
            .acquire_lease(&run, "killed-runner", Duration::from_millis(1))
            .await,
        "the killed runner's lease",
    );
    for _ in 0..200 {
        let leases = ok(server.store.load_leases().await, "leases");
        if leases.of(&run).is_some_and(|lease| leases.expired(lease)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let runs = server.get("/runs").await.json();
    assert_eq!(runs[0]["run"], "gone-1", "{runs}");
    assert_eq!(runs[0]["liveness"], "abandoned", "{runs}");
    let detail = server.get("/runs/gone-1").await.json();
    assert_eq!(detail["liveness"]["state"], "abandoned", "{detail}");
    assert_eq!(detail["liveness"]["holder"], "killed-runner", "{detail}");
    server.stop().await;
}

/// Adversarial (adv43): a held run whose rollback began and stopped part-way (a closed kill
/// switch refuses the journal's record of the stop too, so its status still says `HELD`).
/// `iu-cutter status` shows it ROLLED BACK IN PART; `GET /runs` and `GET /runs/{id}` showed
/// `HELD` and nothing else, and the page offered to enact it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_rolled_back_in_part_is_shown_so() {
    let server = Server::start(Some(TOKEN), true).await;
    server.hold(serde_json::json!({"run": "part-1"})).await;
    // What a rollback stopped after its first batch leaves in the journal: its phase, running.
    let run = iu_cutter_live_execution::RunId::new("part-1");
    let began = iu_cutter_live_execution::PhaseRecord {
        name: iu_cutter_orchestrator::ROLLBACK_PHASE.to_owned(),
        status: iu_cutter_live_execution::PhaseStatus::Running,
        evidence: Default::default(),
        detail: None,
        started_at: Some("2099-01-01T00:00:00.000Z".to_owned()),
        first_started_at: None,
        finished_at: None,
    };
    ok(
        server.store.record_phase(&run, &began).await,
        "journal the rollback's start",
    );
    let runs = server.get("/runs").await.json();
    assert_eq!(runs[0]["run"], "part-1", "{runs}");
    assert_eq!(runs[0]["rolled_back_in_part"], true, "{runs}");
    let detail = server.get("/runs/part-1").await.json();
    assert_eq!(detail["rolled_back_in_part"], true, "{detail}");
    let actions = detail["next_actions"].to_string();
    assert!(!actions.contains("enact"), "enact offered: {actions}");
    server.stop().await;
}

/// A backup phase done at `minute` past midnight, 2026-01-01.
fn backup_of_minute(minute: usize) -> PhaseRecord {
    PhaseRecord {
        name: "backup".to_owned(),
        status: PhaseStatus::Done,
        evidence: Default::default(),
        detail: None,
        started_at: Some(format!("2026-01-01T00:0{minute}:00.000Z")),
        first_started_at: None,
        finished_at: Some(format!("2026-01-01T00:0{minute}:30.000Z")),
    }
}

/// `GET /runs` read the whole journal, every run with its scope and phases, to list them all;
/// the page polls it. It now reads the `limit` most recent runs, newest first, and tells how
/// many there are in all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runs_list_reads_the_most_recent_runs_and_tells_how_many_there_are() {
    let server = Server::start(Some(TOKEN), true).await;
    // Five runs another runner journaled a minute apart, their ids against that order.
    for (minute, run) in ["old-e", "old-d", "old-c", "old-b", "old-a"]
        .into_iter()
        .enumerate()
    {
        let run = RunId::new(run);
        let record = RunRecord::new(run.clone(), Scope::All, CutRules::preset(Preset::Markdown));
        ok(server.store.begin_run(&record).await, "journal the run");
        let backup = backup_of_minute(minute);
        ok(server.store.record_phase(&run, &backup).await, "its backup");
    }
    let runs = |response: &support::Response| -> Vec<String> {
        let body = response.json();
        let rows = body.as_array().cloned().unwrap_or_default();
        rows.iter()
            .map(|r| r["run"].as_str().unwrap_or("?").to_owned())
            .collect()
    };
    let two = server.get("/runs?limit=2").await;
    assert_eq!(two.status, 200, "{}", two.body);
    assert_eq!(
        runs(&two),
        ["old-a", "old-b"],
        "the newest two, newest first"
    );
    assert_eq!(two.header("x-total-count"), Some("5"));
    let all = server.get("/runs").await;
    assert_eq!(runs(&all), ["old-a", "old-b", "old-c", "old-d", "old-e"]);
    assert_eq!(all.header("x-total-count"), Some("5"));

    // A held run awaits an operator: newer runs never push it off the list.
    ok(
        server
            .store
            .set_run_status(&RunId::new("old-e"), RunStatus::Held)
            .await,
        "hold the oldest",
    );
    let held = server.get("/runs?limit=2").await;
    assert_eq!(runs(&held), ["old-a", "old-b", "old-e"], "the held run too");
    assert_eq!(held.header("x-total-count"), Some("5"));

    // A run resumed later is among the latest, by its latest phase start.
    let resumed = PhaseRecord {
        name: "cut-leg-a".to_owned(),
        started_at: Some("2026-01-01T00:09:00.000Z".to_owned()),
        finished_at: None,
        status: PhaseStatus::Running,
        ..backup_of_minute(0)
    };
    ok(
        server
            .store
            .record_phase(&RunId::new("old-d"), &resumed)
            .await,
        "resume old-d",
    );
    let latest = server.get("/runs?limit=2").await;
    assert_eq!(
        runs(&latest),
        ["old-d", "old-a", "old-e"],
        "resumed, newest"
    );

    // A run of many ids is listed with their count: the list is polled, and each row carried
    // every id (GET /runs/{id} still gives them all).
    let ids: Vec<DocumentId> = (0..5_000)
        .map(|i| DocumentId::new(format!("laws/{i:05}")))
        .collect();
    for (run, scope) in [
        ("wide", Scope::Ids(ids.clone())),
        (
            "wide-shard",
            Scope::Shard {
                base: Box::new(Scope::Ids(ids)),
                index: 1,
                count: 4,
            },
        ),
    ] {
        let record = RunRecord::new(RunId::new(run), scope, CutRules::preset(Preset::Markdown));
        ok(server.store.begin_run(&record).await, "journal a wide run");
    }
    let listed = server.get("/runs").await;
    let rows = listed.json();
    let scope_of = |run: &str| {
        rows.as_array()
            .and_then(|rows| rows.iter().find(|r| r["run"] == run))
            .map(|r| r["scope"].clone())
    };
    assert_eq!(
        scope_of("wide"),
        Some(serde_json::json!({"kind": "ids", "count": 5000}))
    );
    assert_eq!(
        scope_of("wide-shard"),
        Some(serde_json::json!({"kind": "shard", "value": {
            "base": {"kind": "ids", "count": 5000}, "index": 1, "count": 4}}))
    );
    assert_eq!(scope_of("old-a"), Some(serde_json::json!({"kind": "all"})));
    assert!(listed.body.len() < 10_000, "{} bytes", listed.body.len());
    let detail = server.get("/runs/wide").await.json();
    assert_eq!(
        detail["record"]["scope"]["value"].as_array().map(Vec::len),
        Some(5000)
    );

    for query in ["limit=0", "limit=1001", "limit=two", "colour=red"] {
        let refused = server.get(&format!("/runs?{query}")).await;
        assert_eq!(refused.status, 400, "{query}: {}", refused.body);
        let body = refused.json();
        assert!(
            body["next"]
                .as_str()
                .is_some_and(|n| n.contains("limit from 1 to 1000")),
            "{query}: {body}"
        );
    }
    server.stop().await;
}
