//! The harness of the program's end-to-end tests, the one copy: a working directory, the real
//! `iu-cutter` binary run in it with a clean environment (none of the caller's `IU_CUTTER_*`,
//! `PG*`, `RUST_LOG` or `NO_COLOR`), exit codes expected with the command named, raw SQL and the
//! census of its SQLite store, and corpora to import. [`postgres`] adds the test PostgreSQL
//! server.

pub(crate) mod postgres;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::sql;
use iu_cutter_live_execution::{Census, ExecutionGate};
use serde_json::Value;

/// Any error a test step can end with.
pub(crate) type Error = Box<dyn std::error::Error>;
/// What a test returns.
pub(crate) type TestResult = Result<(), Error>;

/// The program under test, as cargo built it for this test binary.
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_iu-cutter");
/// The store `init` creates in the working directory by default.
pub(crate) const STORE: &str = "iu-cutter.sqlite";

/// One invocation: what ran, its exit code and its output.
pub(crate) struct Run {
    /// The command as a shell would show it, with the variables the test set.
    pub(crate) command: String,
    /// The exit code (-1 when a signal ended the program).
    pub(crate) code: i32,
    /// Standard output.
    pub(crate) stdout: String,
    /// Standard error.
    pub(crate) stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}`: exit {}\n--- stdout\n{}--- stderr\n{}",
            self.command, self.code, self.stdout, self.stderr
        )
    }
}

impl Run {
    /// The run `command` (as shown) ended in `output`.
    pub(crate) fn of(command: String, output: Output) -> Run {
        Run {
            command,
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Waits for a spawned invocation (see [`Workdir::spawn`]).
    pub(crate) fn of_child(command: String, child: Child) -> Result<Run, std::io::Error> {
        Ok(Run::of(command, child.wait_with_output()?))
    }

    /// This run, if it exited with `code`; otherwise an error showing the command and its output.
    pub(crate) fn expect(self, code: i32) -> Result<Run, Error> {
        if self.code == code {
            Ok(self)
        } else {
            Err(format!("expected exit {code}, got {self:?}").into())
        }
    }

    /// Standard output then standard error.
    pub(crate) fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// The one JSON document on standard output.
    pub(crate) fn json(&self) -> Result<Value, Error> {
        serde_json::from_str(&self.stdout)
            .map_err(|e| format!("stdout is not one JSON document: {e}: {self:?}").into())
    }
}

/// A working directory for the program, and the environment every invocation in it gets.
pub(crate) struct Workdir {
    dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    program: PathBuf,
    env: Vec<(String, String)>,
}

impl Workdir {
    /// A fresh, empty temporary directory (removed when dropped).
    pub(crate) fn new() -> Result<Workdir, std::io::Error> {
        let temp = tempfile::tempdir()?;
        Ok(Workdir {
            dir: temp.path().to_owned(),
            _temp: Some(temp),
            program: PathBuf::from(BIN),
            env: Vec::new(),
        })
    }

    /// An existing directory, left in place when dropped.
    pub(crate) fn at(dir: &Path) -> Workdir {
        Workdir {
            dir: dir.to_owned(),
            _temp: None,
            program: PathBuf::from(BIN),
            env: Vec::new(),
        }
    }

    /// A fresh store (`legal-en`) of `docs` English acts of `articles` articles each
    /// ([`write_acts`]), written in `dir` and imported.
    pub(crate) fn with_acts(dir: &str, docs: usize, articles: usize) -> Result<Workdir, Error> {
        let wd = Workdir::new()?.with_env("IU_CUTTER_PRESET", "legal-en");
        write_acts(&wd.path().join(dir), docs, articles)?;
        wd.init_and_import(dir)?;
        Ok(wd)
    }

    /// Sets `key` to `value` for every invocation (an invocation's own variables win).
    pub(crate) fn with_env(mut self, key: &str, value: &str) -> Workdir {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Runs `program` instead of the binary cargo built.
    pub(crate) fn with_program(mut self, program: &Path) -> Workdir {
        self.program = program.to_owned();
        self
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.dir
    }

    /// The URL of the directory's SQLite store.
    pub(crate) fn url(&self) -> String {
        format!("sqlite://{}", self.dir.join(STORE).display())
    }

    /// `program` in the directory, with the clean environment and this directory's variables.
    pub(crate) fn clean(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        command.current_dir(&self.dir);
        for (key, _) in std::env::vars_os() {
            let name = key.to_string_lossy();
            if name.starts_with("IU_CUTTER_")
                || name.starts_with("PG")
                || name == "RUST_LOG"
                || name == "NO_COLOR"
            {
                command.env_remove(&key);
            }
        }
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    /// The program with `args` and, on top of the directory's variables, `env`.
    pub(crate) fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut command = self.clean(&self.program);
        command.args(args).envs(env.iter().copied());
        command
    }

    /// How a shell would show the invocation.
    fn shown(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        let vars = env.iter().map(|(k, v)| format!("{k}={v} "));
        format!("{}iu-cutter {}", vars.collect::<String>(), args.join(" "))
    }

    /// Runs the program with `args` to its end.
    pub(crate) fn run(&self, args: &[&str]) -> Result<Run, std::io::Error> {
        self.run_with(args, &[])
    }

    /// Runs the program with `args` and `env` to its end.
    pub(crate) fn run_with(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Run, std::io::Error> {
        let output = self.command(args, env).output()?;
        Ok(Run::of(self.shown(args, env), output))
    }

    /// Runs the program and expects exit `code`.
    pub(crate) fn expect(&self, args: &[&str], code: i32) -> Result<Run, Error> {
        self.run(args)?.expect(code)
    }

    /// Runs the program with `env` and expects exit `code`.
    pub(crate) fn expect_with(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
        code: i32,
    ) -> Result<Run, Error> {
        self.run_with(args, env)?.expect(code)
    }

    /// Runs the program, expects exit 0 and one JSON document on stdout.
    pub(crate) fn json(&self, args: &[&str]) -> Result<Value, Error> {
        self.expect(args, 0)?.json()
    }

    /// Starts the program with its output captured; [`Run::of_child`] waits for it. Returns the
    /// child and the command as [`Run`] shows it.
    pub(crate) fn spawn(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<(Child, String), Error> {
        let child = self
            .command(args, env)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        Ok((child, self.shown(args, env)))
    }

    /// Writes `bytes` to `name` (relative to the directory), creating its parents.
    pub(crate) fn write(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, std::io::Error> {
        let path = self.dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, bytes)?;
        Ok(path)
    }

    /// The names in the directory, sorted.
    pub(crate) fn entries(&self) -> Result<Vec<String>, std::io::Error> {
        let mut names: Vec<String> = std::fs::read_dir(&self.dir)?
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        Ok(names)
    }

    /// `init`, then `import --execute dir` (relative to the directory).
    pub(crate) fn init_and_import(&self, dir: &str) -> TestResult {
        self.expect(&["init", "--execute"], 0)?;
        self.expect(&["import", "--execute", dir], 0)?;
        Ok(())
    }

    /// How many runs the journal knows (`status --json`).
    pub(crate) fn runs(&self) -> Result<usize, Error> {
        let status = self.json(&["status", "--json"])?;
        Ok(status["runs"].as_array().map(Vec::len).unwrap_or_default())
    }

    /// Asserts that a refused invocation left the store as `before` (its census) and journaled
    /// no run.
    pub(crate) fn assert_untouched(&self, before: &Census) -> Result<(), Error> {
        assert_eq!(&self.census()?, before, "nothing written");
        assert_eq!(self.runs()?, 0, "nothing journaled");
        Ok(())
    }

    /// The JSON report the invocation of `run` last wrote (`.iu-cutter/reports/{run}.json`).
    pub(crate) fn report(&self, run: &str) -> Result<serde_json::Value, Error> {
        let path = self.dir.join(format!(".iu-cutter/reports/{run}.json"));
        Ok(serde_json::from_str(&std::fs::read_to_string(path)?)?)
    }

    /// The census of the store, read through the live adapter behind a closed gate; the store
    /// is closed before this returns (a connection still closing in sqlx's worker thread removes
    /// SQLite's -wal and -shm files while a caller copies the directory).
    pub(crate) fn census(&self) -> Result<Census, Error> {
        let url = self.url();
        Ok(block_on(async move {
            let store = sql::connect(&url, ExecutionGate::new()).await?;
            let census = store.census().await;
            store.close().await;
            census
        })?)
    }

    /// Runs one SQL statement with `binds` on the store, as an application (or an attacker)
    /// writing around iu-cutter would; returns the rows it changed.
    pub(crate) fn execute(&self, statement: &'static str, binds: &[&str]) -> Result<u64, Error> {
        self.with_pool(async |pool| {
            let mut query = sqlx::query(statement);
            for bind in binds {
                query = query.bind(*bind);
            }
            Ok(query.execute(pool).await?.rows_affected())
        })
    }

    /// Reads one text value with `binds`.
    pub(crate) fn text(&self, statement: &'static str, binds: &[&str]) -> Result<String, Error> {
        self.with_pool(async |pool| {
            let mut query = sqlx::query_scalar::<_, String>(statement);
            for bind in binds {
                query = query.bind(*bind);
            }
            query.fetch_one(pool).await
        })
    }

    /// One text column of every row of `query`.
    pub(crate) fn column(&self, query: &'static str) -> Result<Vec<String>, Error> {
        self.with_pool(async |pool| sqlx::query_scalar(query).fetch_all(pool).await)
    }

    /// Runs raw SQL on the store (several statements allowed), as an application, a trigger
    /// installed by a DBA, or an attacker would.
    pub(crate) fn sql(&self, statements: &str) -> TestResult {
        let statements = statements.to_owned();
        self.with_pool(async |pool| {
            sqlx::raw_sql(sqlx::AssertSqlSafe(statements))
                .execute(pool)
                .await
                .map(drop)
        })
    }

    /// `work` on a pool of the store, closed after it.
    pub(crate) fn with_pool<T>(
        &self,
        work: impl AsyncFnOnce(&sqlx::SqlitePool) -> Result<T, sqlx::Error>,
    ) -> Result<T, Error> {
        let url = self.url();
        Ok(block_on(async move {
            let pool = sqlx::SqlitePool::connect(&url).await?;
            let result = work(&pool).await;
            pool.close().await;
            result
        })?)
    }
}

/// Runs `future` to its end on a current-thread runtime.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(future),
        Err(error) => panic!("cannot build a tokio runtime: {error}"),
    }
}

/// Waits until `path` exists, while `child` runs: how a test learns that the real program
/// reached a point of its run (its backup on disk). A real process cannot be handed a clock, so
/// this polls, bounded (60 s, every 5 ms), and returns early if the program ended.
pub(crate) fn wait_for(path: &Path, child: &mut Child) -> Result<(), std::io::Error> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !path.exists() && Instant::now() < deadline && child.try_wait()?.is_none() {
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// The sample corpus of the repository (`examples/corpus`).
pub(crate) fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/corpus")
}

/// Writes `docs` English acts of `articles` articles each as `dir/act-NNN.txt`: a chapter
/// heading and preamble, then the articles (`legal-en` cuts each act into `articles + 1` units).
pub(crate) fn write_acts(dir: &Path, docs: usize, articles: usize) -> Result<(), std::io::Error> {
    std::fs::create_dir_all(dir)?;
    for d in 0..docs {
        let mut body = format!("Chapter I\nGeneral provisions of act {d}\n");
        for a in 1..=articles {
            body.push_str(&format!(
                "Article {a}\nThe holder of licence {d}-{a} shall keep records for {} years, \
                 and report them to the authority named in article {}.\n",
                (d * 7 + a) % 13 + 1,
                (a * 31 + d) % articles + 1
            ));
        }
        std::fs::write(dir.join(format!("act-{d:03}.txt")), body)?;
    }
    Ok(())
}
