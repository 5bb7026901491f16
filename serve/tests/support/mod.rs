//! What the serve tests share: a server on a fresh SQLite store, and a minimal HTTP/1.1 client
//! over a plain TCP stream (no client crate: the tests need GET, POST and a server-sent event
//! stream, nothing more).

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::time::Duration;

use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::sql::{ConnectOptions, connect_with, init_with};
use iu_cutter_live_execution::{
    AdapterInfo, AdapterResult, CutRules, DocumentId, ExecutionGate, LeaseClaim,
    LiveExecutionAdapter, ManualSwitch, Op, OpKind, Preset, Reply,
};
use iu_cutter_orchestrator::{LeaseOptions, RunOptions, Runner};
use iu_cutter_phase_core::DirBackupStore;
use iu_cutter_serve::{Backend, DRY_RUNS_KEPT, Secret, serve_on};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

/// The token of the test servers.
pub const TOKEN: &str = "test-token-0123456789";

/// The documents every test store starts with (Markdown: one unit per heading).
pub const DOCUMENTS: [(&str, &str); 2] = [
    (
        "docs/a.md",
        "# Guide\n\nIntro text.\n\n## Install\n\nRun the installer.\n\n## Use\n\nOpen the app and work.\n",
    ),
    (
        "docs/b.md",
        "# Notes\n\nFirst note.\n\n## Later\n\nA later note.\n",
    ),
];

/// A server on a fresh SQLite store, stopped when dropped (or by [`Server::stop`]).
pub struct Server {
    pub addr: SocketAddr,
    /// The configuration's switch of the kill switch: open it or close it under the server.
    pub switch: ManualSwitch,
    pub store: Arc<dyn LiveExecutionAdapter>,
    /// Where the server's live runs put their backups.
    backups: std::path::PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    /// The store's directory (taken by [`Server::stop`]).
    dir: Option<tempfile::TempDir>,
}

/// Options that write one unit per batch and pause `pause` after each: a run still executing
/// while the test acts on it.
pub fn one_unit_at_a_time(pause: Duration) -> RunOptions {
    RunOptions::default()
        .with_batch_units(1)
        .with_throttle(iu_cutter_orchestrator::Throttle {
            max_units_per_second: None,
            pause_between_batches: pause,
        })
}

/// A panic naming `what`, for set-up steps that cannot fail in a sound environment.
pub fn ok<T, E: std::fmt::Display>(result: Result<T, E>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(error) => panic!("{what}: {error}"),
    }
}

impl Server {
    /// Starts a server with `token`, the kill switch `open` or closed, on a store holding
    /// [`DOCUMENTS`].
    pub async fn start(token: Option<&str>, open: bool) -> Server {
        Self::start_with(token, open, RunOptions::default()).await
    }

    /// [`Server::start`] with base options for every invocation.
    pub async fn start_with(token: Option<&str>, open: bool, options: RunOptions) -> Server {
        let documents = DOCUMENTS
            .iter()
            .map(|(id, body)| (DocumentId::new(*id), (*body).to_owned()))
            .collect();
        Self::start_on(
            token,
            open,
            options,
            documents,
            CutRules::preset(Preset::Markdown),
        )
        .await
    }

    /// [`Server::start_with`] on a store holding `documents`, cut with `rules`.
    pub async fn start_on(
        token: Option<&str>,
        open: bool,
        options: RunOptions,
        documents: Vec<(DocumentId, String)>,
        rules: CutRules,
    ) -> Server {
        Self::start_keeping(token, open, options, documents, rules, DRY_RUNS_KEPT, None).await
    }

    /// [`Server::start_with`] on [`DOCUMENTS`], keeping only the last `dry_runs_kept` dry runs.
    pub async fn start_keeping_dry_runs(options: RunOptions, dry_runs_kept: usize) -> Server {
        Self::start_open(options, dry_runs_kept, None).await
    }

    /// [`Server::start`] (token, switch open) on [`DOCUMENTS`], its store parking the first call
    /// of `pause`'s kind until the test releases it.
    pub async fn start_pausing(pause: &Pause) -> Server {
        Self::start_open(RunOptions::default(), DRY_RUNS_KEPT, Some(pause)).await
    }

    /// A server with the token, its switch open, on [`DOCUMENTS`].
    async fn start_open(
        options: RunOptions,
        dry_runs_kept: usize,
        pause: Option<&Pause>,
    ) -> Server {
        let documents = DOCUMENTS
            .iter()
            .map(|(id, body)| (DocumentId::new(*id), (*body).to_owned()))
            .collect();
        let rules = CutRules::preset(Preset::Markdown);
        let (token, open) = (Some(TOKEN), true);
        Self::start_keeping(token, open, options, documents, rules, dry_runs_kept, pause).await
    }

    async fn start_keeping(
        token: Option<&str>,
        open: bool,
        options: RunOptions,
        documents: Vec<(DocumentId, String)>,
        rules: CutRules,
        dry_runs_kept: usize,
        pause: Option<&Pause>,
    ) -> Server {
        let dir = ok(tempfile::tempdir(), "temporary directory");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("serve.db").display()
        );
        let options_db = ConnectOptions::new(url);
        ok(init_with(&options_db).await, "init");
        let switch = ManualSwitch::new("test switch", open, "open the test switch");
        let gate = ExecutionGate::new().with_source(switch.clone());
        let guarded = ok(connect_with(&options_db, gate).await, "connect");
        let gate = guarded.gate().clone();
        let mut store: Arc<dyn LiveExecutionAdapter> = Arc::new(guarded);
        // Documents are imported with the switch open, whatever the test wants afterwards.
        let was_open = switch.is_open();
        switch.set(true);
        ok(store.put_documents(&documents).await, "import");
        switch.set(was_open);
        if let Some(pause) = pause {
            store = Arc::new(Paused {
                inner: store,
                pause: pause.clone(),
            });
        }
        let backups = dir.path().join("backups");
        let backend = Backend {
            store: store.clone(),
            backups: Arc::new(DirBackupStore::new(backups.clone())),
            gate,
            rules,
            options: options.with_lease(LeaseOptions::with_holder(
                "serve-test",
                Duration::from_secs(30),
            )),
            dry_runs_kept,
        };
        let any_port = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let listener = ok(iu_cutter_serve::listen(any_port), "bind 127.0.0.1:0");
        let addr = ok(listener.local_addr(), "local address");
        let (stop, stopped) = oneshot::channel();
        let token = token.and_then(Secret::new);
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            ok(serve_on(listener, token, backend, shutdown).await, "serve");
        });
        Server {
            addr,
            switch,
            store,
            backups,
            stop: Some(stop),
            task: Some(task),
            dir: Some(dir),
        }
    }

    /// Asks the server to stop and waits until it has (runs cancelled and awaited); returns the
    /// store's directory, removed when the caller drops it.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            ok(
                tokio::time::timeout(Duration::from_secs(30), task).await,
                "the server stops within 30 s",
            )
            .unwrap_or_else(|e| panic!("the server task: {e}"));
        }
        match self.dir.take() {
            Some(dir) => dir,
            None => panic!("a server is stopped once"),
        }
    }

    /// A runner over the server's store and backups, as the command line in another process
    /// uses them (behind the same kill switch). It takes a lease only when its options name
    /// one, as the program's always do: without, it is the only runner the store expects.
    pub fn command_line(&self) -> Runner {
        Runner::new(
            self.store.clone(),
            Arc::new(DirBackupStore::new(self.backups.clone())),
        )
    }

    pub async fn get(&self, path: &str) -> Response {
        request(self.addr, "GET", path, None, "").await
    }

    /// POST with the right token.
    pub async fn post(&self, path: &str, body: &str) -> Response {
        request(self.addr, "POST", path, Some(TOKEN), body).await
    }

    /// A live run `first` of the whole store, enacted (PASS); then the application replaces
    /// `docs/a.md` with `edited`; then run `run` over `docs/a.md` alone, held for review, so
    /// that it has a diff to show ([`Server::hold`]): its detail once settled.
    pub async fn held_after_an_edit(&self, first: &str, edited: &str, run: &str) -> Value {
        let started = self
            .post("/runs?mode=live", &format!(r#"{{"run":"{first}"}}"#))
            .await;
        assert_eq!(started.status, 202, "{}", started.body);
        assert_eq!(self.settled(first).await["record"]["status"], "PASS");
        ok(
            self.store
                .put_document(&DocumentId::new("docs/a.md"), edited)
                .await,
            "edit",
        );
        let scope = serde_json::json!({"kind": "ids", "value": ["docs/a.md"]});
        self.hold(serde_json::json!({"run": run, "scope": scope}))
            .await
    }

    /// Starts a live run `run` and returns its event stream once it writes its units
    /// (leg-b-record).
    pub async fn writing(&self, run: &str) -> Events {
        let started = self
            .post("/runs?mode=live", &format!(r#"{{"run":"{run}"}}"#))
            .await;
        assert_eq!(started.status, 202, "{}", started.body);
        let mut events = Events::open(self.addr, &format!("/runs/{run}/events")).await;
        while let Some(event) = events.next(Duration::from_secs(30)).await {
            if event["event"] == "progress" && event["phase"] == "leg-b-record" {
                return events;
            }
        }
        panic!("run {run} did not reach leg-b-record within 30 s");
    }

    /// Waits until no invocation of `run` is in flight; returns its detail.
    pub async fn settled(&self, run: &str) -> Value {
        for _ in 0..600 {
            let detail = self.get(&format!("/runs/{run}")).await;
            if detail.status == 200 && detail.json()["active"].is_null() {
                return detail.json();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("run {run} did not settle within 30 s");
    }

    /// Rolls back `run`, which must be accepted (202) and end ROLLED_BACK: its detail once
    /// settled.
    pub async fn rolled_back(&self, run: &str) -> Value {
        let rollback = self.post(&format!("/runs/{run}/rollback"), "").await;
        assert_eq!(rollback.status, 202, "{}", rollback.body);
        let detail = self.settled(run).await;
        assert_eq!(
            detail["report"]["outcome"]["name"], "ROLLED_BACK",
            "{detail}"
        );
        detail
    }

    /// Starts the live run `request` (its JSON body, naming its `run`) held after write-verify,
    /// which must be accepted (202): the run's detail once settled.
    pub async fn hold(&self, request: Value) -> Value {
        let run = request["run"].as_str().unwrap_or_default().to_owned();
        let held = self
            .post("/runs?mode=live&until=write-verify", &request.to_string())
            .await;
        assert_eq!(held.status, 202, "{}", held.body);
        self.settled(&run).await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Parks the first call of one kind of operation of a server's store until the test releases
/// it, and tells the test when it arrived: a window inside one request, made deterministic.
#[derive(Clone)]
pub struct Pause {
    kind: OpKind,
    armed: Arc<AtomicBool>,
    /// Calls of `kind` to let through, once armed, before the one that parks.
    skip: Arc<AtomicUsize>,
    arrived: Arc<Notify>,
    released: Arc<Notify>,
}

impl Pause {
    /// A pause of the first call of `kind`.
    pub fn on(kind: OpKind) -> Pause {
        let pause = Self::disarmed(kind);
        pause.arm_after(0);
        pause
    }

    /// A pause of `kind` that parks nothing until [`Pause::arm_after`].
    pub fn disarmed(kind: OpKind) -> Pause {
        Pause {
            kind,
            armed: Arc::new(AtomicBool::new(false)),
            skip: Arc::new(AtomicUsize::new(0)),
            arrived: Arc::new(Notify::new()),
            released: Arc::new(Notify::new()),
        }
    }

    /// Parks the call of the pause's kind that comes after the next `calls` of them.
    pub fn arm_after(&self, calls: usize) {
        self.skip.store(calls, SeqCst);
        self.armed.store(true, SeqCst);
    }

    /// Whether this call is the one to park (and disarms the pause if so).
    fn parks(&self, kind: OpKind) -> bool {
        kind == self.kind
            && self.armed.load(SeqCst)
            && self
                .skip
                .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
                .is_err()
            && self.armed.swap(false, SeqCst)
    }

    /// Waits until the call is parked (30 s at most).
    pub async fn reached(&self) {
        let arrived = tokio::time::timeout(Duration::from_secs(30), self.arrived.notified());
        ok(arrived.await, "the paused call arrives within 30 s");
    }

    /// Lets the parked call (or the coming one) go on.
    pub fn release(&self) {
        self.released.notify_one();
    }
}

/// The store behind a [`Pause`].
struct Paused {
    inner: Arc<dyn LiveExecutionAdapter>,
    pause: Pause,
}

#[async_trait::async_trait]
impl LiveExecutionAdapter for Paused {
    fn info(&self) -> AdapterInfo {
        self.inner.info()
    }

    async fn call<'a>(&self, op: Op<'a>, claim: Option<&'a LeaseClaim>) -> AdapterResult<Reply> {
        let pause = &self.pause;
        if pause.parks(op.kind()) {
            pause.arrived.notify_one();
            pause.released.notified().await;
        }
        self.inner.call(op, claim).await
    }
}

/// A response: status, headers (lower-case names) and body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// Asserts that the response names `want` as the next step (its `next`).
    #[track_caller]
    pub fn assert_next(&self, want: &str) {
        assert_eq!(self.json()["next"], want, "{}", self.body);
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn head(host: &str, method: &str, path: &str, token: Option<&str>, body: &str) -> String {
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// One request on its own connection (`Connection: close`), read to the end.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> Response {
    request_as(addr, "localhost", method, path, token, body).await
}

/// [`request`] naming `host` in its `Host` header (a page whose name resolves to the server).
pub async fn request_as(
    addr: SocketAddr,
    host: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> Response {
    let mut stream = ok(TcpStream::connect(addr).await, "connect");
    ok(
        stream
            .write_all(head(host, method, path, token, body).as_bytes())
            .await,
        "send",
    );
    let mut raw = Vec::new();
    ok(stream.read_to_end(&mut raw).await, "read");
    parse(&String::from_utf8_lossy(&raw))
}

fn parse(raw: &str) -> Response {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// A server-sent event stream: each `data:` line's JSON, as it arrives.
pub struct Events {
    lines: tokio::io::Lines<BufReader<TcpStream>>,
}

impl Events {
    /// Opens `GET path` and reads past the response head; the status must be 200.
    pub async fn open(addr: SocketAddr, path: &str) -> Events {
        let mut stream = ok(TcpStream::connect(addr).await, "connect");
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n");
        ok(stream.write_all(request.as_bytes()).await, "send");
        let mut lines = BufReader::new(stream).lines();
        let status = ok(lines.next_line().await, "status line").unwrap_or_default();
        assert!(status.contains(" 200 "), "events: {status}");
        while let Some(line) = ok(lines.next_line().await, "headers") {
            if line.is_empty() {
                break;
            }
        }
        Events { lines }
    }

    /// The next event's JSON, or `None` when the stream ends or `wait` passes.
    pub async fn next(&mut self, wait: Duration) -> Option<Value> {
        let read = async {
            while let Some(line) = self.lines.next_line().await.ok().flatten() {
                if let Some(data) = line.strip_prefix("data:")
                    && let Ok(value) = serde_json::from_str(data.trim())
                {
                    return Some(value);
                }
            }
            None
        };
        tokio::time::timeout(wait, read).await.ok().flatten()
    }

    /// Each event told until `run_finished`, as `"{event} {phase}"` (waiting up to `wait` for
    /// each); the run must finish `PASS`.
    pub async fn told_until_passed(&mut self, wait: Duration) -> Vec<String> {
        let mut told = Vec::new();
        while let Some(event) = self.next(wait).await {
            let name = event["event"].as_str().unwrap_or_default().to_owned();
            told.push(format!(
                "{name} {}",
                event["phase"].as_str().unwrap_or_default()
            ));
            if name == "run_finished" {
                assert_eq!(event["outcome"], "PASS", "{event}");
                break;
            }
        }
        told
    }
}
