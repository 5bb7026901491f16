//! End to end against the real PostgreSQL server of `IU_CUTTER_TEST_PG_URL`, with the real
//! binary: the TLS matrix (`require`, `verify-full` with the right and the wrong CA, from the URL
//! and from the `PGSSL*` variables, a client certificate), and the least-privilege flow (`init`
//! as the owner, everything else as a runtime role that has only the grants README lists).
//!
//! `cargo xtask pg-setup` prepares the server; `cargo xtask ci` passes the certificates'
//! directory (`IU_CUTTER_TEST_PG_TLS`), the runtime role's URL
//! (`IU_CUTTER_TEST_PG_RUNTIME_URL`) and the certificate role's URL
//! (`IU_CUTTER_TEST_PG_CERT_URL`). Without them each test says it is skipped. Every test works
//! in a schema of its own, dropped at the end.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use sqlx::Connection as _;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const BIN: &str = env!("CARGO_BIN_EXE_iu-cutter");

/// What the suites need from `pg-setup`, or `None` after saying the test is skipped.
struct Server {
    owner: String,
    tls: PathBuf,
    runtime: String,
    cert: String,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn server() -> Option<Server> {
    let names = [
        "IU_CUTTER_TEST_PG_URL",
        "IU_CUTTER_TEST_PG_TLS",
        "IU_CUTTER_TEST_PG_RUNTIME_URL",
        "IU_CUTTER_TEST_PG_CERT_URL",
    ];
    let values: Vec<Option<String>> = names.iter().map(|n| var(n)).collect();
    match values.as_slice() {
        [Some(owner), Some(tls), Some(runtime), Some(cert)] => Some(Server {
            owner: owner.clone(),
            tls: PathBuf::from(tls),
            runtime: runtime.clone(),
            cert: cert.clone(),
        }),
        _ => {
            println!(
                "skipped: {} must be set (`cargo xtask pg-setup` prepares the server; `cargo \
                 xtask ci` sets them)",
                names.join(", ")
            );
            None
        }
    }
}

/// `url` with `extra` query parameters appended.
fn with_query(url: &str, extra: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{extra}")
}

/// `url` pointed at `schema` (sqlx's `options[search_path]`).
fn in_schema(url: &str, schema: &str) -> String {
    with_query(url, &format!("options[search_path]={schema}"))
}

fn unique_schema(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("t_{test}_{}_{nanos}", std::process::id())
}

/// Runs `sql` (one statement) on `url`.
fn execute(url: &str, sql: &str) -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut conn)
            .await?;
        conn.close().await
    })?;
    Ok(())
}

/// A schema created by `owner_url`'s role and dropped (with everything in it, grants included)
/// when the guard is.
struct Schema {
    owner_url: String,
    name: String,
}

impl Schema {
    fn create(owner_url: &str, test: &str) -> Result<Schema, Box<dyn std::error::Error>> {
        let name = unique_schema(test);
        execute(owner_url, &format!("CREATE SCHEMA {name}"))?;
        Ok(Schema {
            owner_url: owner_url.to_owned(),
            name,
        })
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Err(error) = execute(
            &self.owner_url,
            &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name),
        ) {
            eprintln!("could not drop test schema {}: {error}", self.name);
        }
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// The program in `dir` with `url` as `--database-url`, a clean environment (no `IU_CUTTER_*`,
/// `PG*` or `RUST_LOG` of the caller's) plus `env`.
fn iu(dir: &Path, url: &str, args: &[&str], env: &[(&str, &str)]) -> Result<Run, std::io::Error> {
    let mut command = Command::new(BIN);
    command
        .arg("--database-url")
        .arg(url)
        .args(args)
        .current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("IU_CUTTER_") || key.starts_with("PG") || key == "RUST_LOG" {
            command.env_remove(key);
        }
    }
    command
        .env("IU_CUTTER_PRESET", "legal-en")
        .envs(env.iter().copied());
    let Output {
        status,
        stdout,
        stderr,
    } = command.output()?;
    Ok(Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    })
}

fn expect(run: Run, code: i32, what: &str) -> Result<Run, Box<dyn std::error::Error>> {
    if run.code == code {
        Ok(run)
    } else {
        Err(format!("{what}: expected exit {code}, got {run:?}").into())
    }
}

/// `url` without its userinfo password and query: what the certificate role's URL looks like
/// once its TLS settings move to variables.
fn without_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

#[test]
fn tls_require_and_verify_full_pass_with_the_right_ca_and_refuse_the_wrong_one() -> TestResult {
    let Some(server) = server() else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let schema = Schema::create(&server.owner, "tls")?;
    let plain = in_schema(&server.owner, &schema.name);
    expect(iu(dir.path(), &plain, &["init"], &[])?, 0, "init")?;
    let ca = server.tls.join("ca.crt");
    let other = server.tls.join("other-ca.crt");
    let (ca, other) = (ca.display().to_string(), other.display().to_string());

    // Passes: require (no verification), verify-full with the CA that signed the server's
    // certificate; from the URL or from the variables.
    let passing: Vec<(String, Vec<(&str, &str)>)> = vec![
        (with_query(&plain, "sslmode=require"), vec![]),
        (plain.clone(), vec![("PGSSLMODE", "require")]),
        (
            with_query(&plain, &format!("sslmode=verify-full&sslrootcert={ca}")),
            vec![],
        ),
        (
            plain.clone(),
            vec![("PGSSLMODE", "verify-full"), ("PGSSLROOTCERT", ca.as_str())],
        ),
        (
            with_query(&plain, &format!("sslmode=verify-ca&sslrootcert={ca}")),
            vec![],
        ),
    ];
    for (url, env) in &passing {
        expect(
            iu(dir.path(), url, &["status"], env)?,
            0,
            &format!("{url} {env:?}"),
        )?;
    }

    // Refused: verify-full with a CA that signed nothing the server uses; the message names the
    // settings and where each came from, and says what to check.
    let wrong = with_query(&plain, &format!("sslmode=verify-full&sslrootcert={other}"));
    let run = expect(
        iu(dir.path(), &wrong, &["status"], &[])?,
        7,
        "wrong CA in the URL",
    )?;
    assert!(run.stderr.contains("TLS failed"), "{run:?}");
    assert!(
        run.stderr.contains("sslmode=verify-full (from the URL)"),
        "{run:?}"
    );
    assert!(
        run.stderr
            .contains(&format!("sslrootcert={other} (from the URL)")),
        "{run:?}"
    );
    assert!(run.stderr.contains("not signed by a CA"), "{run:?}");
    assert!(run.stderr.contains("next: fix the TLS settings"), "{run:?}");
    let run = expect(
        iu(
            dir.path(),
            &plain,
            &["status", "--json"],
            &[
                ("PGSSLMODE", "verify-full"),
                ("PGSSLROOTCERT", other.as_str()),
            ],
        )?,
        7,
        "wrong CA from the variables",
    )?;
    let error: Value = serde_json::from_str(&run.stdout)?;
    let message = error["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("sslmode=verify-full (from PGSSLMODE)"),
        "{run:?}"
    );
    assert!(message.contains("(from PGSSLROOTCERT)"), "{run:?}");
    assert!(!message.contains("the URL asks"), "{run:?}");

    // Settings that cannot work are configuration errors, before any connection.
    let run = iu(
        dir.path(),
        &plain,
        &["status"],
        &[("PGSSLMODE", "sometimes")],
    )?;
    let run = expect(run, 6, "an unknown PGSSLMODE")?;
    assert!(run.stderr.contains("PGSSLMODE"), "{run:?}");
    let missing = with_query(
        &plain,
        "sslmode=verify-full&sslrootcert=/nonexistent/ca.crt",
    );
    expect(
        iu(dir.path(), &missing, &["status"], &[])?,
        6,
        "a missing CA file",
    )?;
    // Plain connections keep working for everyone else.
    expect(
        iu(
            dir.path(),
            &with_query(&plain, "sslmode=disable"),
            &["status"],
            &[],
        )?,
        0,
        "sslmode=disable",
    )?;
    Ok(())
}

#[test]
fn a_client_certificate_logs_in_from_the_url_or_the_variables() -> TestResult {
    let Some(server) = server() else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    // The certificate role owns its schema (it may create schemas in the test database).
    let schema = Schema::create(&server.cert, "cert")?;
    let url = in_schema(&server.cert, &schema.name);
    expect(
        iu(dir.path(), &url, &["init"], &[])?,
        0,
        "init by certificate",
    )?;
    let status = expect(iu(dir.path(), &url, &["status"], &[])?, 0, "status")?;
    assert!(status.stdout.contains(&schema.name) || !status.stdout.is_empty());
    // The same with the TLS settings in the PGSSL* variables.
    let bare = in_schema(without_query(&server.cert), &schema.name);
    let file = |name: &str| server.tls.join(name).display().to_string();
    let (ca, cert, key) = (file("ca.crt"), file("client.crt"), file("client.key"));
    let env = [
        ("PGSSLMODE", "verify-full"),
        ("PGSSLROOTCERT", ca.as_str()),
        ("PGSSLCERT", cert.as_str()),
        ("PGSSLKEY", key.as_str()),
    ];
    expect(
        iu(dir.path(), &bare, &["status"], &env)?,
        0,
        "certificate from PGSSL*",
    )?;
    // Without the certificate the server refuses the role; half a pair is refused before.
    expect(
        iu(dir.path(), &bare, &["status"], &env[..2])?,
        7,
        "no certificate",
    )?;
    let run = expect(iu(dir.path(), &bare, &["status"], &env[..3])?, 6, "no key")?;
    assert!(run.stderr.contains("needs its key"), "{run:?}");
    Ok(())
}

/// The README's grants, checked: `init` as the owner (which grants the runtime role), then the
/// whole operator's flow as the runtime role, over verify-full TLS. The runtime role cannot run
/// `init`, and can create nothing.
#[test]
fn the_whole_flow_runs_as_a_runtime_role_with_only_the_documented_grants() -> TestResult {
    let Some(server) = server() else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let schema = Schema::create(&server.owner, "least")?;
    let ca = server.tls.join("ca.crt").display().to_string();
    let tls = format!("sslmode=verify-full&sslrootcert={ca}");
    let owner = with_query(&in_schema(&server.owner, &schema.name), &tls);
    let runtime = with_query(&in_schema(&server.runtime, &schema.name), &tls);
    let role = server
        .runtime
        .split_once("://")
        .and_then(|(_, rest)| rest.split(['@', ':']).next())
        .ok_or("no role in the runtime URL")?
        .to_owned();

    // Before the grants the runtime role can do nothing, and says why.
    expect(iu(dir.path(), &owner, &["init"], &[])?, 0, "init as owner")?;
    let denied = expect(
        iu(dir.path(), &runtime, &["status"], &[])?,
        7,
        "no grants yet",
    )?;
    assert!(denied.stderr.contains("lacks a privilege"), "{denied:?}");
    assert!(denied.stderr.contains("Roles and grants"), "{denied:?}");

    let granted = expect(
        iu(dir.path(), &owner, &["init", "--grant-runtime", &role], &[])?,
        0,
        "grant",
    )?;
    assert!(
        granted
            .stdout
            .contains("GRANT SELECT, INSERT, UPDATE, DELETE ON"),
        "{granted:?}"
    );

    let docs = dir.path().join("in");
    std::fs::create_dir_all(&docs)?;
    std::fs::write(docs.join("act.txt"), "Article 1\nOne.\nArticle 2\nTwo.\n")?;
    let steps: Vec<Vec<&str>> = vec![
        vec!["import", "--execute", "in"],
        vec!["plan"],
        vec![
            "run",
            "--execute",
            "--until",
            "write-verify",
            "--run-id",
            "lp1",
        ],
        vec!["enact", "lp1", "--execute"],
        vec!["verify", "lp1"],
        vec!["status", "lp1"],
        vec!["units", "act.txt"],
        vec!["report", "lp1"],
        vec!["control", "disable", "--reason", "least privilege test"],
        vec!["control", "enable", "--reason", "least privilege test"],
    ];
    for args in &steps {
        expect(
            iu(dir.path(), &runtime, args, &[])?,
            0,
            &format!("{args:?} as runtime"),
        )?;
    }
    std::fs::write(
        docs.join("act.txt"),
        "Article 1\nOne, amended.\nArticle 2\nTwo.\n",
    )?;
    let more: Vec<Vec<&str>> = vec![
        vec!["import", "--execute", "in"],
        vec!["run", "--execute", "--run-id", "lp2"],
        vec!["diff", "act.txt"],
        vec!["purge", "--older-than", "0s", "--execute"],
        vec!["rollback", "lp2", "--execute"],
        vec!["run", "--mode", "simulate"],
    ];
    for args in &more {
        expect(
            iu(dir.path(), &runtime, args, &[])?,
            0,
            &format!("{args:?} as runtime"),
        )?;
    }
    // The audit trail names the database role.
    let report = expect(
        iu(dir.path(), &runtime, &["report", "lp2", "--json"], &[])?,
        0,
        "report",
    )?;
    let report: Value = serde_json::from_str(&report.stdout)?;
    assert_eq!(
        report["provenance"]["database_user"],
        role.as_str(),
        "{report}"
    );
    assert_ne!(report["provenance"]["user"], "unknown", "{report}");

    // `init` needs the owner; the runtime role can create nothing in the schema.
    let init = expect(
        iu(dir.path(), &runtime, &["init"], &[])?,
        7,
        "init as runtime",
    )?;
    assert!(init.stderr.contains("owner role"), "{init:?}");
    let runtime_plain = in_schema(&server.runtime, &schema.name);
    let create = execute(&runtime_plain, "CREATE TABLE intruder (x int)");
    assert!(
        create
            .as_ref()
            .is_err_and(|e| e.to_string().contains("permission denied")),
        "{create:?}"
    );
    Ok(())
}
