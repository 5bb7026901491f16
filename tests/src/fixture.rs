//! The stores the suites run against, each fresh per test and behind an open kill switch: the
//! simulator, a SQLite file in a temporary directory, a schema of its own on the test PostgreSQL
//! server. A *fixture function* `async fn(name: &str) -> Option<impl Fixture>` makes one for the
//! test `name`; `None` means the test cannot run here and has said why (see
//! `iu_cutter_test_env`: PostgreSQL without a server is skipped, and fails in CI).
//!
//! Besides the store, a fixture offers what other programs can do to it: [`Tamper`] (write around
//! iu-cutter, as raw SQL or an attacker would) and, on SQL stores, [`RawSql`].

use iu_cutter_live_execution::sql::ConnectOptions;
use iu_cutter_live_execution::{DocumentId, LiveExecutionAdapter, RunId};

mod postgres;
mod sqlite;

pub use postgres::{PgFixture, blocks, exec, must, postgres};
pub use sqlite::{PrefixedSqliteFixture, SqliteFixture, sqlite, sqlite_prefixed};

/// A store under test; dropping it releases whatever it holds (a temp file, a schema).
pub trait Fixture {
    /// The store, behind an open kill switch.
    fn adapter(&self) -> &dyn LiveExecutionAdapter;

    /// The same store, shared (for a runner).
    fn shared(&self) -> std::sync::Arc<dyn LiveExecutionAdapter>;

    /// Lets `by` pass on the store's clock (the one leases expire against): the simulator's
    /// logical clock moves; a database's clock cannot be set, so it is waited for (the one real
    /// wait of the store suites, bounded by the lease times the checks choose).
    fn pass_time(&self, by: std::time::Duration) -> impl std::future::Future<Output = ()>
    where
        Self: Sized,
    {
        tokio::time::sleep(by)
    }

    /// Releases what the fixture holds once the check passed (dropping it does too, less
    /// gracefully).
    fn finish(self) -> impl std::future::Future<Output = ()>
    where
        Self: Sized,
    {
        async {}
    }
}

/// A SQL store under test, with the options it was opened with.
pub trait SqlFixture: Fixture {
    /// How to reach the database.
    fn options(&self) -> &ConnectOptions;

    /// The same database through a connection pool of its own, behind an open kill switch: a
    /// second process, as far as the database can tell (another runner).
    fn another_process(&self) -> impl Future<Output = std::sync::Arc<dyn LiveExecutionAdapter>> {
        async {
            let store = crate::ok(
                iu_cutter_live_execution::sql::connect_with(self.options(), open_gate()).await,
                "connect",
            );
            std::sync::Arc::new(store) as std::sync::Arc<dyn LiveExecutionAdapter>
        }
    }
}

/// What an application, psql or an attacker can do to a store behind iu-cutter's back.
pub trait Tamper: Fixture {
    /// Replaces a document's body and nothing else (revision and sha256 columns untouched), as a
    /// raw SQL `UPDATE` would.
    fn edit_body_raw(&self, document: &str, body: &str) -> impl Future<Output = ()>;

    /// Replaces one unit's body and nothing else (its recorded sha256 untouched).
    fn edit_unit_raw(
        &self,
        document: &str,
        generation: &str,
        ordinal: u32,
        body: &str,
    ) -> impl Future<Output = ()>;

    /// Replaces the artifact of a run's journaled backup and the sha256 recorded with it.
    fn replace_backup_raw(
        &self,
        run: &str,
        artifact: &str,
        sha256: &str,
    ) -> impl Future<Output = ()>;

    /// Replaces part `seq` (from 0) of a run's sealed plan's documents, and nothing else.
    fn replace_plan_part_raw(&self, run: &str, seq: u64, text: &str) -> impl Future<Output = ()>;

    /// A stop-the-world pause of the runner's process for a while on the store's clock,
    /// without yielding to its tasks, so that its heartbeat cannot renew its lease (a long GC
    /// pause, SIGSTOP, a VM migrated): by default the thread sleeps (a database's clock cannot
    /// be set); the simulator's logical clock jumps instead.
    fn pause(&self) -> std::sync::Arc<dyn Fn(std::time::Duration) + Send + Sync> {
        std::sync::Arc::new(std::thread::sleep)
    }
}

/// A SQL fixture that can run any statement, as another program on the database would.
pub trait RawSql: SqlFixture {
    /// `"sqlite"` or `"postgres"`: which trigger dialect to write.
    fn dialect(&self) -> &'static str;

    /// Runs `statement` with `binds` (`$1`, `$2`, ...) over a connection of its own, panicking
    /// on failure; returns how many rows it changed.
    fn execute_raw(&self, statement: &str, binds: &[&str]) -> impl Future<Output = u64>;

    /// The name of iu-cutter's object `bare` (`units`, …) in this store: prefixed
    /// (`iu_cutter_units`) in a SQLite file shared with an application.
    fn table(&self, bare: &str) -> String {
        bare.to_owned()
    }
}

/// On a SQL store, every tampering is one raw `UPDATE` that must change exactly one row.
impl<T: RawSql> Tamper for T {
    async fn edit_body_raw(&self, document: &str, body: &str) {
        let changed = self
            .execute_raw(
                &format!(
                    "UPDATE {} SET body = $1 WHERE id = $2",
                    self.table("documents")
                ),
                &[body, document],
            )
            .await;
        assert_eq!(changed, 1, "no document `{document}`");
    }

    async fn edit_unit_raw(&self, document: &str, generation: &str, ordinal: u32, body: &str) {
        // BIGINT is PostgreSQL's type of the column; SQLite reads it as INTEGER.
        let changed = self
            .execute_raw(
                &format!(
                    "UPDATE {} SET body = $1 WHERE document = $2 AND generation = $3 \
                     AND ordinal = CAST($4 AS BIGINT)",
                    self.table("units")
                ),
                &[body, document, generation, &ordinal.to_string()],
            )
            .await;
        assert_eq!(changed, 1, "no such unit");
    }

    async fn replace_plan_part_raw(&self, run: &str, seq: u64, text: &str) {
        let changed = self
            .execute_raw(
                &format!(
                    "UPDATE {} SET plan_part = $1 WHERE run = $2 AND seq = CAST($3 AS BIGINT)",
                    self.table("run_plan_parts")
                ),
                &[text, run, &seq.to_string()],
            )
            .await;
        assert_eq!(changed, 1, "run `{run}` has no plan part {seq}");
    }

    async fn replace_backup_raw(&self, run: &str, artifact: &str, sha256: &str) {
        let changed = self
            .execute_raw(
                &format!(
                    "UPDATE {} SET artifact = $1, sha256 = $2 WHERE run = $3",
                    self.table("run_backups")
                ),
                &[artifact, sha256, run],
            )
            .await;
        assert_eq!(changed, 1, "run `{run}` has no journaled backup");
        // The artifact is the row's text followed by its parts (migration 9): the whole of it
        // replaced is the row's text alone.
        self.execute_raw(
            &format!(
                "DELETE FROM {} WHERE run = $1",
                self.table("run_backup_parts")
            ),
            &[run],
        )
        .await;
    }
}

/// The value of a database call, or a panic naming `what`.
fn ok_sql<T>(result: Result<T, sqlx::Error>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(error) => panic!("{what}: {error}"),
    }
}

/// A gate opened by a test switch (the control row of a SQL store abstains while enabled).
pub fn open_gate() -> iu_cutter_live_execution::ExecutionGate {
    iu_cutter_live_execution::ExecutionGate::new().with_source(
        iu_cutter_live_execution::ManualSwitch::new("test switch", true, "open the test switch"),
    )
}

/// Connecting with `options` (behind an open gate) is refused as `Unavailable`: the refusal's
/// text, which `what` names if the connection is not refused.
pub async fn refused_connection(options: &ConnectOptions, what: &str) -> String {
    let result = iu_cutter_live_execution::sql::connect_with(options, open_gate()).await;
    crate::contract::error(
        result,
        |e| matches!(e, iu_cutter_live_execution::AdapterError::Unavailable(_)),
        what,
    )
    .to_string()
}

/// A fresh simulator behind an open kill switch (and the simulator, for its logical clock).
pub struct SimFixture(
    std::sync::Arc<dyn LiveExecutionAdapter>,
    std::sync::Arc<iu_cutter_simulator::Simulator>,
);

impl Fixture for SimFixture {
    fn adapter(&self) -> &dyn LiveExecutionAdapter {
        &*self.0
    }

    fn shared(&self) -> std::sync::Arc<dyn LiveExecutionAdapter> {
        self.0.clone()
    }

    fn pass_time(&self, by: std::time::Duration) -> impl std::future::Future<Output = ()>
    where
        Self: Sized,
    {
        self.1.advance_clock(by);
        std::future::ready(())
    }
}

impl Tamper for SimFixture {
    fn pause(&self) -> std::sync::Arc<dyn Fn(std::time::Duration) + Send + Sync> {
        let simulator = self.1.clone();
        std::sync::Arc::new(move |by| simulator.advance_clock(by))
    }

    async fn edit_body_raw(&self, document: &str, body: &str) {
        assert!(
            self.1.state_edit_body_raw(&DocumentId::new(document), body),
            "no document `{document}`"
        );
    }

    async fn replace_backup_raw(&self, run: &str, artifact: &str, sha256: &str) {
        assert!(
            self.1
                .state_replace_backup(&RunId::new(run), artifact, sha256),
            "run `{run}` has no journaled backup"
        );
    }

    async fn replace_plan_part_raw(&self, run: &str, seq: u64, text: &str) {
        assert!(
            self.1.state_replace_plan_part(&RunId::new(run), seq, text),
            "run `{run}` has no plan part {seq}"
        );
    }

    async fn edit_unit_raw(&self, document: &str, generation: &str, ordinal: u32, body: &str) {
        assert!(
            self.1.state_edit_unit_raw(
                &DocumentId::new(document),
                &RunId::new(generation),
                ordinal,
                body
            ),
            "no unit {ordinal} of `{document}` in generation `{generation}`"
        );
    }
}

/// Fixture function for the simulator.
pub async fn simulator(_name: &str) -> Option<SimFixture> {
    let sim = std::sync::Arc::new(iu_cutter_simulator::Simulator::new());
    Some(SimFixture(
        std::sync::Arc::new(iu_cutter_live_execution::Guarded::new(
            sim.clone(),
            open_gate(),
        )),
        sim,
    ))
}
