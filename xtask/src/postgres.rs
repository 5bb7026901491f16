//! `cargo xtask pg-setup`: brings up the machine's PostgreSQL 15 for the test suites.
//!
//! The Unix socket admits `postgres` by peer authentication; tests connect over TCP, which
//! wants a password role, so this creates one (idempotently) with its own database. Every step
//! is additive, because other checkouts share the server: plain TCP connections keep working.
//!
//! - Roles: [`ROLE`] owns [`DATABASE`] (the tests' owner role: `init`, migrations);
//!   [`RUNTIME_ROLE`] logs in with nothing granted (the least-privilege test grants it DML on a
//!   schema of its own); [`CERT_ROLE`] logs in only with a client certificate, over TLS.
//! - TLS: a CA generated here (rcgen), a server certificate for `localhost` and `127.0.0.1`, a
//!   client certificate for [`CERT_ROLE`], and an unrelated CA that signed nothing the server
//!   uses (the tests' wrong CA), all in [`TLS_DIR`]. The cluster serves that certificate
//!   (`ALTER SYSTEM`, then a reload) and trusts that CA for client certificates. Files are
//!   generated once: while they are all there, a second run changes nothing.
//! - `pg_hba.conf` gets one line, before the others: [`CERT_ROLE`] over TLS by certificate.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

const ROLE: &str = "iu_cutter";
const PASSWORD: &str = "iu_cutter";
const DATABASE: &str = "iu_cutter_test";
/// The least-privilege test's runtime role (password = name); granted nothing here.
pub(crate) const RUNTIME_ROLE: &str = "iu_cutter_runtime";
/// The role that logs in with the client certificate (no password).
pub(crate) const CERT_ROLE: &str = "iu_cutter_cert";
/// Where the certificates live: readable by every user (keys excepted), owned by postgres.
pub(crate) const TLS_DIR: &str = "/var/lib/postgresql/iu-cutter-tls";
/// The line `pg-setup` adds to `pg_hba.conf`, and its marker comment.
const HBA_MARKER: &str = "# iu-cutter pg-setup: client-certificate login for the TLS tests";

/// The files of [`TLS_DIR`]: (name, mode, owned by postgres).
const TLS_FILES: [(&str, u32, bool); 7] = [
    ("ca.crt", 0o644, false),
    ("server.crt", 0o644, true),
    ("server.key", 0o600, true),
    ("client.crt", 0o644, false),
    ("client.key", 0o600, false),
    ("other-ca.crt", 0o644, false),
    ("README", 0o644, false),
];

pub(crate) fn setup() -> Result<String, String> {
    let url = format!("postgres://{ROLE}:{PASSWORD}@127.0.0.1:5432/{DATABASE}");
    if !is_running() {
        run("pg_ctlcluster", &["15", "main", "start"]).map_err(|e| {
            format!("{e}; is PostgreSQL 15 installed (apt-get install postgresql-15)?")
        })?;
    }
    let role_sql = format!(
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN \
         CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}' CREATEDB; END IF; \
         IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{RUNTIME_ROLE}') THEN \
         CREATE ROLE {RUNTIME_ROLE} LOGIN PASSWORD '{RUNTIME_ROLE}'; END IF; \
         IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{CERT_ROLE}') THEN \
         CREATE ROLE {CERT_ROLE} LOGIN; END IF; END $$;"
    );
    psql_as_postgres(&role_sql)?;
    let exists = psql_as_postgres(&format!(
        "SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"
    ))?;
    if !exists.contains('1') {
        psql_as_postgres(&format!("CREATE DATABASE {DATABASE} OWNER {ROLE}"))?;
    }
    // The certificate role creates its own schema for the TLS tests.
    psql_as_postgres(&format!(
        "GRANT CREATE ON DATABASE {DATABASE} TO {CERT_ROLE}"
    ))?;
    tls(Path::new(TLS_DIR))?;
    Ok(url)
}

/// Generates the certificates when any is missing, points the cluster at them, admits
/// [`CERT_ROLE`] by certificate, and reloads.
fn tls(dir: &Path) -> Result<(), String> {
    let postgres = owner_of(Path::new("/var/lib/postgresql"))?;
    let complete = TLS_FILES
        .iter()
        .all(|(name, _, _)| dir.join(name).is_file());
    if !complete {
        let files = generate()?;
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        set_mode(dir, 0o755)?;
        for (name, mode, postgres_owned) in TLS_FILES {
            let text = files
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, text)| text.as_str())
                .ok_or_else(|| format!("no generated file {name}"))?;
            let path = dir.join(name);
            std::fs::write(&path, text)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            set_mode(&path, mode)?;
            if postgres_owned {
                std::os::unix::fs::chown(&path, Some(postgres.0), Some(postgres.1))
                    .map_err(|e| format!("cannot give {} to postgres: {e}", path.display()))?;
            }
        }
    }
    let file = |name: &str| dir.join(name).display().to_string();
    psql_as_postgres(&format!(
        "ALTER SYSTEM SET ssl = on;\n\
         ALTER SYSTEM SET ssl_cert_file = '{}';\n\
         ALTER SYSTEM SET ssl_key_file = '{}';\n\
         ALTER SYSTEM SET ssl_ca_file = '{}';\n",
        file("server.crt"),
        file("server.key"),
        file("ca.crt")
    ))?;
    let hba = psql_as_postgres("SHOW hba_file")?;
    add_hba_line(Path::new(hba.trim()))?;
    psql_as_postgres("SELECT pg_reload_conf()")?;
    // A certificate the server cannot load is reported here rather than as a puzzling test.
    let errors = psql_as_postgres(
        "SELECT name || ': ' || error FROM pg_file_settings WHERE error IS NOT NULL \
         UNION ALL SELECT 'pg_hba.conf line ' || line_number || ': ' || error \
         FROM pg_hba_file_rules WHERE error IS NOT NULL",
    )?;
    if !errors.trim().is_empty() {
        return Err(format!(
            "PostgreSQL rejected the configuration pg-setup wrote: {}",
            errors.trim()
        ));
    }
    Ok(())
}

/// The generated files: name and PEM text.
fn generate() -> Result<Vec<(&'static str, String)>, String> {
    let fail = |e: rcgen::Error| format!("cannot generate the test certificates: {e}");
    let ca_key = KeyPair::generate().map_err(fail)?;
    let ca = ca_params("iu-cutter test CA")?;
    let ca_cert = ca.self_signed(&ca_key).map_err(fail)?;
    let issuer = Issuer::new(ca, &ca_key);

    let server_key = KeyPair::generate().map_err(fail)?;
    let mut server = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .map_err(fail)?;
    server
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server = server.signed_by(&server_key, &issuer).map_err(fail)?;

    let client_key = KeyPair::generate().map_err(fail)?;
    let mut client = CertificateParams::new(Vec::new()).map_err(fail)?;
    // PostgreSQL's `cert` method matches the certificate's CN against the role name.
    client
        .distinguished_name
        .push(DnType::CommonName, CERT_ROLE);
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client = client.signed_by(&client_key, &issuer).map_err(fail)?;

    let other_key = KeyPair::generate().map_err(fail)?;
    let other = ca_params("iu-cutter unrelated CA (signed nothing)")?
        .self_signed(&other_key)
        .map_err(fail)?;
    Ok(vec![
        ("ca.crt", ca_cert.pem()),
        ("server.crt", server.pem()),
        ("server.key", server_key.serialize_pem()),
        ("client.crt", client.pem()),
        ("client.key", client_key.serialize_pem()),
        ("other-ca.crt", other.pem()),
        (
            "README",
            format!(
                "Written by `cargo xtask pg-setup` for iu-cutter's TLS tests; throwaway \
                 certificates for 127.0.0.1 only.\nca.crt signed server.crt (localhost, \
                 127.0.0.1) and client.crt (CN {CERT_ROLE}); other-ca.crt signed nothing.\n"
            ),
        ),
    ])
}

/// A CA certificate's parameters (valid from 1975 to 4096: rcgen's default, no clock needed).
fn ca_params(name: &str) -> Result<CertificateParams, String> {
    let mut params = CertificateParams::new(Vec::new())
        .map_err(|e| format!("cannot generate the test certificates: {e}"))?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(params)
}

/// Adds the certificate login line at the top of `pg_hba.conf` unless it is there.
fn add_hba_line(hba: &Path) -> Result<(), String> {
    let text =
        std::fs::read_to_string(hba).map_err(|e| format!("cannot read {}: {e}", hba.display()))?;
    if text.contains(HBA_MARKER) {
        return Ok(());
    }
    let line = format!("{HBA_MARKER}\nhostssl all {CERT_ROLE} 127.0.0.1/32 cert\n\n");
    std::fs::write(hba, format!("{line}{text}"))
        .map_err(|e| format!("cannot write {}: {e}", hba.display()))
}

fn set_mode(path: &Path, mode: u32) -> Result<(), String> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot set the mode of {}: {e}", path.display()))
}

/// (uid, gid) of `path`.
fn owner_of(path: &Path) -> Result<(u32, u32), String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok((meta.uid(), meta.gid()))
}

/// The directory of the test certificates, when `pg-setup` has written it.
fn tls_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(TLS_DIR);
    TLS_FILES
        .iter()
        .all(|(name, _, _)| dir.join(name).is_file())
        .then_some(dir)
}

/// The variables the PostgreSQL suites read besides `IU_CUTTER_TEST_PG_URL`, for the server of
/// `pg_url` as `pg-setup` prepared it: `IU_CUTTER_TEST_PG_TLS` (the certificates' directory),
/// `IU_CUTTER_TEST_PG_RUNTIME_URL` (the least-privilege runtime role) and
/// `IU_CUTTER_TEST_PG_CERT_URL` (client-certificate login, verify-full). Empty when the
/// certificates are missing (the suites then say they are skipped) or the URL is not one
/// `host:port/database` can be read from.
pub(crate) fn suite_env(pg_url: &str) -> Vec<(String, String)> {
    let Some(dir) = tls_dir() else {
        return Vec::new();
    };
    let Some((_, rest)) = pg_url.split_once("://") else {
        return Vec::new();
    };
    let after_user = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let host_db = after_user.split(['?', '#']).next().unwrap_or_default();
    let file = |name: &str| dir.join(name).display().to_string();
    vec![
        (
            "IU_CUTTER_TEST_PG_TLS".to_owned(),
            dir.display().to_string(),
        ),
        (
            "IU_CUTTER_TEST_PG_RUNTIME_URL".to_owned(),
            format!("postgres://{RUNTIME_ROLE}:{RUNTIME_ROLE}@{host_db}"),
        ),
        (
            "IU_CUTTER_TEST_PG_CERT_URL".to_owned(),
            format!(
                "postgres://{CERT_ROLE}@{host_db}?sslmode=verify-full&sslrootcert={}&sslcert={}\
                 &sslkey={}",
                file("ca.crt"),
                file("client.crt"),
                file("client.key")
            ),
        ),
    ]
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
    crate::cargo::stdout_or(&output, "psql failed".to_owned())
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let shown = format!("{program} {}", args.join(" "));
    crate::cargo::foreground(Command::new(program).args(args), program, &shown)
}
