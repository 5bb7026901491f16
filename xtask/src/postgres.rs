//! `cargo xtask pg-setup`: brings up the machine's PostgreSQL 15 for the test suites.
//!
//! The Unix socket admits `postgres` by peer authentication; tests connect over TCP, which
//! wants a password role, so this creates one (idempotently) with its own database.

use std::process::Command;

const ROLE: &str = "iu_cutter";
const PASSWORD: &str = "iu_cutter";
const DATABASE: &str = "iu_cutter_test";

pub(crate) fn setup() -> Result<String, String> {
    let url = format!("postgres://{ROLE}:{PASSWORD}@127.0.0.1:5432/{DATABASE}");
    if !is_running() {
        run("pg_ctlcluster", &["15", "main", "start"]).map_err(|e| {
            format!("{e}; is PostgreSQL 15 installed (apt-get install postgresql-15)?")
        })?;
    }
    let role_sql = format!(
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN \
         CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}' CREATEDB; END IF; END $$;"
    );
    psql_as_postgres(&role_sql)?;
    let exists = psql_as_postgres(&format!(
        "SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"
    ))?;
    if !exists.contains('1') {
        psql_as_postgres(&format!("CREATE DATABASE {DATABASE} OWNER {ROLE}"))?;
    }
    Ok(url)
}

fn is_running() -> bool {
    Command::new("pg_lsclusters")
        .arg("--no-header")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("online"))
        .unwrap_or(false)
}

fn psql_as_postgres(sql: &str) -> Result<String, String> {
    use std::io::Write;
    use std::process::Stdio;
    // SQL goes through stdin so that no shell sees it (`$$` would be expanded).
    let am_postgres = std::env::var("USER")
        .map(|u| u == "postgres")
        .unwrap_or(false);
    let mut command = if am_postgres {
        let mut c = Command::new("psql");
        c.args(["-v", "ON_ERROR_STOP=1", "-tA"]);
        c
    } else {
        let mut c = Command::new("su");
        c.args(["postgres", "-c", "psql -v ON_ERROR_STOP=1 -tA"]);
        c
    };
    let mut child = command
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run psql: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(sql.as_bytes())
            .map_err(|e| format!("cannot send SQL to psql: {e}"))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| format!("psql did not finish: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "psql failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let status = Command::new(program)
        .args(args)
        .status()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{program} {}` failed ({status})", args.join(" ")))
    }
}
