//! End to end against the real PostgreSQL server of `IU_CUTTER_TEST_PG_URL`, with the real
//! binary: the TLS matrix (`require`, `verify-full` with the right and the wrong CA, from the URL
//! and from the `PGSSL*` variables, a client certificate), and the least-privilege flow (`init`
//! as the owner, everything else as a runtime role that has only the grants README lists).
//!
//! `cargo xtask pg-setup` prepares the server; `cargo xtask ci` passes the certificates'
//! directory (`IU_CUTTER_TEST_PG_TLS`), the runtime role's URL
//! (`IU_CUTTER_TEST_PG_RUNTIME_URL`) and the certificate role's URL
//! (`IU_CUTTER_TEST_PG_CERT_URL`). Without them each test says it is skipped, or fails in CI.
//! Every test works in a schema of its own, dropped at the end.

use serde_json::Value;

use crate::support::postgres::{Schema, Server, execute, in_schema, server, with_query};
use crate::support::{Error, Run, TestResult, Workdir};

/// A fresh directory for the program, the English preset.
fn workdir() -> Result<Workdir, Error> {
    Ok(Workdir::new()?.with_env("IU_CUTTER_PRESET", "legal-en"))
}

/// [`workdir`] with the store initialised (`init --execute` as `role_url`'s role) in a fresh
/// schema that role owns, named after `test`: the schema (dropped at the end) and its URL.
fn initialised(role_url: &str, test: &str) -> Result<(Workdir, Schema, String), Error> {
    let wd = workdir()?;
    let schema = Schema::create(role_url, test)?;
    let url = in_schema(role_url, &schema.name);
    iu(&wd, &url, &["init", "--execute"], &[])?.expect(0)?;
    Ok((wd, schema, url))
}

/// The program in `wd` with `url` as `--database-url`, plus `env`.
fn iu(wd: &Workdir, url: &str, args: &[&str], env: &[(&str, &str)]) -> Result<Run, Error> {
    Ok(wd.run_with(&[&["--database-url", url], args].concat(), env)?)
}

/// `url` without its userinfo password and query: what the certificate role's URL looks like
/// once its TLS settings move to variables.
fn without_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// Each `$check` as the `#[test]` `$test`, handed the test PostgreSQL server ([`server`]:
/// skipped, or failed in CI, without one).
macro_rules! on_server {
    ($($check:ident: $test:ident;)+) => {$(
        #[test]
        fn $test() -> TestResult {
            match server(stringify!($test)) {
                Some(server) => $check(&server),
                None => Ok(()),
            }
        }
    )+};
}

on_server! {
    tls_require_and_verify_full:
        tls_require_and_verify_full_pass_with_the_right_ca_and_refuse_the_wrong_one;
    a_client_certificate_logs_in:
        a_client_certificate_logs_in_from_the_url_or_the_variables;
    the_whole_flow_as_a_runtime_role:
        the_whole_flow_runs_as_a_runtime_role_with_only_the_documented_grants;
    a_row_lock_held_by_another_session:
        a_row_lock_held_by_another_session_fails_the_run_after_lock_timeout_and_it_resumes;
}

fn tls_require_and_verify_full(server: &Server) -> TestResult {
    let (wd, _schema, plain) = initialised(&server.owner, "tls")?;
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
        iu(&wd, url, &["status"], env)?.expect(0)?;
    }

    // Refused: verify-full with a CA that signed nothing the server uses; the message names the
    // settings and where each came from, and says what to check.
    let wrong = with_query(&plain, &format!("sslmode=verify-full&sslrootcert={other}"));
    let run = iu(&wd, &wrong, &["status"], &[])?.expect(7)?;
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
    let run = iu(
        &wd,
        &plain,
        &["status", "--json"],
        &[
            ("PGSSLMODE", "verify-full"),
            ("PGSSLROOTCERT", other.as_str()),
        ],
    )?
    .expect(7)?;
    let error: Value = serde_json::from_str(&run.stdout)?;
    let message = error["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("sslmode=verify-full (from PGSSLMODE)"),
        "{run:?}"
    );
    assert!(message.contains("(from PGSSLROOTCERT)"), "{run:?}");
    assert!(!message.contains("the URL asks"), "{run:?}");

    // Settings that cannot work are configuration errors, before any connection.
    let run = iu(&wd, &plain, &["status"], &[("PGSSLMODE", "sometimes")])?.expect(6)?;
    assert!(run.stderr.contains("PGSSLMODE"), "{run:?}");
    let missing = with_query(
        &plain,
        "sslmode=verify-full&sslrootcert=/nonexistent/ca.crt",
    );
    iu(&wd, &missing, &["status"], &[])?.expect(6)?;
    // Plain connections keep working for everyone else.
    iu(
        &wd,
        &with_query(&plain, "sslmode=disable"),
        &["status"],
        &[],
    )?
    .expect(0)?;
    Ok(())
}

fn a_client_certificate_logs_in(server: &Server) -> TestResult {
    // The certificate role owns its schema (it may create schemas in the test database).
    let (wd, schema, url) = initialised(&server.cert, "cert")?;
    let status = iu(&wd, &url, &["status"], &[])?.expect(0)?;
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
    iu(&wd, &bare, &["status"], &env)?.expect(0)?;
    // Without the certificate the server refuses the role; half a pair is refused before.
    iu(&wd, &bare, &["status"], &env[..2])?.expect(7)?;
    let run = iu(&wd, &bare, &["status"], &env[..3])?.expect(6)?;
    assert!(run.stderr.contains("needs its key"), "{run:?}");
    Ok(())
}

/// The README's grants, checked: `init` as the owner (which grants the runtime role), then the
/// whole operator's flow as the runtime role, over verify-full TLS. The runtime role cannot run
/// `init`, and can create nothing.
fn the_whole_flow_as_a_runtime_role(server: &Server) -> TestResult {
    let wd = workdir()?;
    let schema = Schema::create(&server.owner, "least")?;
    let ca = server.tls.join("ca.crt").display().to_string();
    let tls = format!("sslmode=verify-full&sslrootcert={ca}");
    let owner = with_query(&in_schema(&server.owner, &schema.name), &tls);
    let runtime = with_query(&in_schema(&server.runtime, &schema.name), &tls);
    let role = server.runtime_role()?;

    // Before the grants the runtime role can do nothing, and says why.
    iu(&wd, &owner, &["init", "--execute"], &[])?.expect(0)?;
    let denied = iu(&wd, &runtime, &["status"], &[])?.expect(7)?;
    assert!(denied.stderr.contains("lacks a privilege"), "{denied:?}");
    assert!(denied.stderr.contains("Roles and grants"), "{denied:?}");

    // Granting the runtime role its privileges, as the role of `url`.
    let grant_runtime = |url: &str| {
        iu(
            &wd,
            url,
            &["init", "--execute", "--grant-runtime", &role],
            &[],
        )
    };
    let granted = grant_runtime(&owner)?.expect(0)?;
    assert!(
        granted
            .stdout
            .contains("GRANT SELECT, INSERT, UPDATE, DELETE ON"),
        "{granted:?}"
    );

    let docs = wd.path().join("in");
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
        iu(&wd, &runtime, args, &[])?.expect(0)?;
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
        iu(&wd, &runtime, args, &[])?.expect(0)?;
    }
    // The audit trail names the database role.
    let report = iu(&wd, &runtime, &["report", "lp2", "--json"], &[])?.expect(0)?;
    let report: Value = serde_json::from_str(&report.stdout)?;
    assert_eq!(
        report["provenance"]["database_user"],
        role.as_str(),
        "{report}"
    );
    assert_ne!(report["provenance"]["user"], "unknown", "{report}");

    // `init` needs the owner; the runtime role can create nothing in the schema.
    // Reading whether the store is current needs no privilege beyond the runtime's…
    let init = iu(&wd, &runtime, &["init"], &[])?.expect(0)?;
    assert!(init.stdout.contains("up to date"), "{init:?}");
    // …granting does: only the owner may.
    let grant = grant_runtime(&runtime)?;
    assert_ne!(grant.code, 0, "{grant:?}");
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

fn a_row_lock_held_by_another_session(server: &Server) -> TestResult {
    let (wd, _schema, url) = initialised(&server.owner, "lock")?;
    wd.write("in/act.txt", b"Article 1\nOne.\nArticle 2\nTwo.\n")?;
    iu(&wd, &url, &["import", "--execute", "in"], &[])?.expect(0)?;

    // An application session locks the document's row and keeps it for a while.
    let (locked, wait) = std::sync::mpsc::channel();
    let holder_url = url.clone();
    let holder = std::thread::spawn(move || -> Result<(), sqlx::Error> {
        crate::support::block_on(async {
            use sqlx::Connection as _;
            let mut conn = sqlx::PgConnection::connect(&holder_url).await?;
            let mut tx = conn.begin().await?;
            sqlx::query("SELECT id FROM documents WHERE id = 'act.txt' FOR UPDATE")
                .execute(&mut *tx)
                .await?;
            let _ = locked.send(());
            tokio::time::sleep(std::time::Duration::from_secs(4)).await;
            tx.rollback().await
        })
    });
    wait.recv()?;
    let lock_timeout = [("IU_CUTTER_LOCK_TIMEOUT", "1s")];
    let run = ["run", "--execute", "--run-id", "locked"];
    let failed = iu(&wd, &url, &run, &lock_timeout)?.expect(5)?;
    assert!(failed.stderr.contains("lock_timeout"), "{failed:?}");
    assert!(
        failed.stderr.contains("iu-cutter resume locked"),
        "{failed:?}"
    );
    holder.join().map_err(|_| "the lock holder panicked")??;
    let resumed = iu(&wd, &url, &["resume", "locked", "--execute"], &[])?.expect(0)?;
    assert!(resumed.stdout.contains("outcome: PASS"), "{resumed:?}");
    Ok(())
}
