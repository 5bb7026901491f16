//! `iu-cutter serve`: an HTTP API and an operator page over the runner.
//!
//! The crate reads no configuration: the caller (the `iu-cutter` program, or a service that
//! embeds the runner) hands it a [`ServeConfig`] (where to listen, the bearer token) and a
//! [`Backend`] (the live store behind its kill switch, where backups go, the rules, the options
//! every invocation starts from), and a future that resolves when the server should stop.
//!
//! - Reads (`GET`) need no token: the runs, a run's report, its events as server-sent events,
//!   a document's units and its diff against the active generation, the kill switch's state,
//!   the metrics, and the operator page (`GET /`).
//! - Every other request (`POST`: plans, runs, enact, resume, rollback) needs
//!   `Authorization: Bearer <token>`, compared in constant time; with no token configured they
//!   are refused, and the server still serves reads.
//! - On a loopback listener every request must be addressed to loopback (`Host`), so that a web
//!   page cannot read the API through DNS rebinding.
//! - Live runs go through the store the caller gave, behind its kill switch: the server checks
//!   the switch first only to answer with its reason; the store refuses on its own regardless.
//! - Long invocations run in spawned tasks; on shutdown every one is cancelled and awaited, so
//!   each stops at its next safe point and releases its lease.

mod api;
mod auth;
mod error;
mod follow;
mod metrics;
mod page;
mod review;
mod secret;
mod state;

use std::future::{Future, IntoFuture};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use iu_cutter_live_execution::{CutRules, ExecutionGate, LiveExecutionAdapter};
use iu_cutter_orchestrator::RunOptions;
use iu_cutter_phase_core::BackupStore;
use tokio::net::TcpListener;

pub use error::ServeError;
pub use secret::Secret;

/// The address `serve` listens on unless configured: loopback only.
pub const DEFAULT_BIND: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);

/// Where the server listens and who may change things.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// The address to bind ([`DEFAULT_BIND`] by default).
    pub bind: SocketAddr,
    /// The bearer token every mutating request must carry; `None` refuses every mutating
    /// request.
    pub token: Option<Secret>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            bind: DEFAULT_BIND,
            token: None,
        }
    }
}

/// What the server works on, built by the caller.
#[derive(Clone)]
pub struct Backend {
    /// The live store, behind its kill switch (`Guarded`): live runs, enact, resume and
    /// rollback go through it, and the reads.
    pub store: Arc<dyn LiveExecutionAdapter>,
    /// Where live runs' backups go.
    pub backups: Arc<dyn BackupStore>,
    /// The kill switch of `store`, read to show its state and why it is closed.
    pub gate: ExecutionGate,
    /// The rules runs and plans cut with.
    pub rules: CutRules,
    /// The options every invocation starts from (batch size, throttle, lease, provenance); the
    /// server sets the events, the cancellation and `until` of each.
    pub options: RunOptions,
    /// How many dry runs the server keeps for review (at least one; [`DRY_RUNS_KEPT`] by
    /// default). Each holds an in-memory copy of its scope; when one more starts, the oldest
    /// that is not running is forgotten, so a long-lived server's memory stays bounded.
    pub dry_runs_kept: usize,
}

/// How many dry runs a server keeps for review unless configured.
pub const DRY_RUNS_KEPT: usize = 32;

/// Binds `config.bind` and serves until `shutdown` resolves; then cancels the runs in flight
/// and waits for each to stop at its next safe point.
pub async fn serve(
    config: ServeConfig,
    backend: Backend,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let listener = listen(config.bind).map_err(|source| ServeError::Bind {
        address: config.bind,
        source,
    })?;
    serve_on(listener, config.token, backend, shutdown).await
}

/// Connections the kernel queues for the server before it accepts them. A burst of clients
/// (hundreds of operators' pages, or the load test's 200 readers opening two connections each)
/// overflowed the default queue: the dropped connections waited a second for TCP to retry.
const BACKLOG: u32 = 4096;

/// How long a stopping server waits for its open connections (event streams end at once).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A listener on `address` with a queue of [`BACKLOG`] connections (for [`serve_on`]; pass
/// port 0 for any free port).
pub fn listen(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(BACKLOG)
}

/// [`serve`] on a listener already bound (a test binds `127.0.0.1:0` and reads its port).
pub async fn serve_on(
    listener: TcpListener,
    token: Option<Secret>,
    backend: Backend,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let address = listener.local_addr().map_err(ServeError::Serve)?;
    let loopback = address.ip().is_loopback().then_some(address);
    let app = state::App::new(token, backend, metrics::install());
    let router = api::router(app.clone(), loopback);
    let stopping = app.clone();
    let signal = async move {
        shutdown.await;
        stopping.begin_shutdown();
    };
    // Once told to stop, connections get SHUTDOWN_GRACE to finish: one whose request never
    // finishes arriving would hold the stop for ever (nothing times a connection out).
    let mut told = app.stopping();
    let grace = async move {
        let _ = told.wait_for(|stopping| *stopping).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    let serving = axum::serve(listener, router)
        .with_graceful_shutdown(signal)
        .into_future();
    let served = tokio::select! {
        served = serving => served.map_err(ServeError::Serve),
        () = grace => {
            tracing::warn!(?SHUTDOWN_GRACE, "connections still open after the grace: not waiting for them");
            Ok(())
        }
    };
    // Whatever ended the server, the runs it started stop at a safe point before it returns.
    app.begin_shutdown();
    app.drain().await;
    served
}
