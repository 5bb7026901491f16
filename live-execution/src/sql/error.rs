//! Driver errors mapped onto [`AdapterError`], each with what to do next: a lost connection, a
//! TLS failure (naming the settings in force and where they came from), a missing privilege.
//! Redaction of URLs lives in `location.rs`.

use std::fmt;

use crate::error::{AdapterError, UnavailableKind};

/// A database error as text: the seam never names the driver, and the text is checked for secrets
/// before it is shown.
#[derive(Debug)]
pub(crate) struct SqlError {
    message: String,
}

impl SqlError {
    pub(crate) fn new(message: String) -> Self {
        SqlError { message }
    }
}

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SqlError {}

/// PostgreSQL's SQLSTATE for a missing privilege (`permission denied for table …`).
const INSUFFICIENT_PRIVILEGE: &str = "42501";

/// PostgreSQL's SQLSTATEs for a lock not granted within `lock_timeout` and a statement
/// cancelled by `statement_timeout`.
const LOCK_NOT_AVAILABLE: &str = "55P03";
const QUERY_CANCELED: &str = "57014";

/// PostgreSQL's SQLSTATEs for a character the database's encoding has no place for
/// (`untranslatable_character`, `character_not_in_repertoire`): text sent to a LATIN1 or WIN1252
/// database that holds characters outside it.
const UNTRANSLATABLE_CHARACTER: &str = "22P05";
const CHARACTER_NOT_IN_REPERTOIRE: &str = "22021";

/// What to do when the database's encoding cannot hold a text.
const ENCODING_HINT: &str = "the database's encoding has no place for a character of this text \
     (the server's words above name both): iu-cutter's tables take the database's encoding, so \
     document ids, bodies and scopes must keep to its characters; or move the store to a UTF8 \
     database (CREATE DATABASE … ENCODING 'UTF8'); nothing of this call was changed";

/// What to do when the database role lacks a privilege.
pub(crate) const GRANTS_HINT: &str = "the database role lacks a privilege: `iu-cutter init` needs \
     the owner role (it creates and migrates the tables); every other command needs SELECT, \
     INSERT, UPDATE and DELETE on iu-cutter's tables, and on PostgreSQL TEMPORARY on the database \
     (PUBLIC holds it by default) for the unit writes' staging table (README, \"Roles and \
     grants\")";

/// Whether `error` is PostgreSQL's `insufficient_privilege`.
pub(crate) fn is_permission_denied(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == INSUFFICIENT_PRIVILEGE)
}

/// Maps a driver error met while doing `what`. Lost connections and missing privileges become
/// [`AdapterError::Unavailable`] (the store cannot be used as configured); a text the database's
/// encoding cannot hold is [`AdapterError::Invalid`], saying so; everything else is
/// [`AdapterError::Database`].
pub(crate) fn db(what: &str, error: sqlx::Error) -> AdapterError {
    if is_permission_denied(&error) {
        return AdapterError::unavailable(
            UnavailableKind::Privilege,
            format!("{what}: {}; {GRANTS_HINT}", words(&error)),
        );
    }
    let code = error.as_database_error().and_then(|e| e.code());
    if code
        .as_deref()
        .is_some_and(|c| c == UNTRANSLATABLE_CHARACTER || c == CHARACTER_NOT_IN_REPERTOIRE)
    {
        return AdapterError::Invalid(format!("{what}: {}; {ENCODING_HINT}", words(&error)));
    }
    if let Some(code) = code.filter(|c| *c == LOCK_NOT_AVAILABLE || *c == QUERY_CANCELED) {
        let why = if code == LOCK_NOT_AVAILABLE {
            "another session held a lock longer than lock_timeout allows"
        } else {
            "a statement ran longer than statement_timeout allows"
        };
        return AdapterError::unavailable(
            UnavailableKind::Busy,
            format!(
                "{what}: {why} ({}); nothing of this call was changed",
                words(&error)
            ),
        );
    }
    match &error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => AdapterError::unavailable(
            UnavailableKind::Connection,
            format!("the database connection failed while {what}: {error}"),
        ),
        _ => AdapterError::Database(Box::new(SqlError::new(format!(
            "{what}: {}",
            words(&error)
        )))),
    }
}

/// How a PostgreSQL connection was asked to use TLS, each setting with where it came from (the
/// URL, a `PGSSL*` variable, or the default), for messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TlsAsked {
    /// The sslmode in effect: `disable`, `allow`, `prefer`, `require`, `verify-ca`, `verify-full`.
    pub(crate) mode: String,
    /// `sslmode=require (from PGSSLMODE), sslrootcert=/etc/ca.crt (from the URL)`.
    pub(crate) described: String,
}

/// Maps a driver error met while connecting to `location` (already redacted). A TLS failure
/// names the TLS settings in force and where they came from (`tls`), and says what to check.
pub(crate) fn connecting(
    location: &str,
    error: sqlx::Error,
    tls: Option<&TlsAsked>,
) -> AdapterError {
    let text = words(&error);
    let settings = tls
        .map(|t| t.described.as_str())
        .unwrap_or("no TLS settings");
    let (kind, next) = if is_permission_denied(&error) {
        (UnavailableKind::Privilege, GRANTS_HINT.to_owned())
    } else if let Some(why) = tls_failure(&error) {
        (
            UnavailableKind::Tls,
            format!("TLS failed ({settings}): {why}"),
        )
    } else if text.contains("no encryption") {
        // PostgreSQL's refusal of an unencrypted connection: "no pg_hba.conf entry for host
        // ..., no encryption". The server's words are all there is: its SQLSTATE (28000) is
        // that of every pg_hba refusal, and sqlx may report it as a protocol error.
        (
            UnavailableKind::Tls,
            format!(
                "the server accepts only encrypted connections, and this connection did not use \
                 TLS ({settings}): use sslmode=require, or verify-full with sslrootcert"
            ),
        )
    } else {
        (
            UnavailableKind::Connection,
            "check the URL, that the database server is running and reachable, and the \
             credentials"
                .to_owned(),
        )
    };
    AdapterError::unavailable(
        kind,
        format!("cannot connect to {location}: {text}; {next}"),
    )
}

/// The rustls error behind a driver error: sqlx reports a failed handshake as an I/O error
/// wrapping it, or as its own TLS error.
#[cfg(feature = "postgres")]
fn rustls_cause(error: &sqlx::Error) -> Option<&rustls::Error> {
    match error {
        sqlx::Error::Io(io) => io.get_ref()?.downcast_ref::<rustls::Error>(),
        sqlx::Error::Tls(inner) => inner.downcast_ref::<rustls::Error>(),
        _ => None,
    }
}

/// What went wrong with TLS, by the error's type, with what to check; `None` when the error is
/// not about TLS.
fn tls_failure(error: &sqlx::Error) -> Option<&'static str> {
    #[cfg(feature = "postgres")]
    if let Some(cause) = rustls_cause(error) {
        use rustls::CertificateError as C;
        return Some(match cause {
            rustls::Error::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => {
                "the server's certificate is not signed by a CA this connection trusts: set \
                 sslrootcert (in the URL or PGSSLROOTCERT) to the CA certificate that signed it"
            }
            rustls::Error::InvalidCertificate(
                C::NotValidForName | C::NotValidForNameContext { .. },
            ) => {
                "the server's certificate does not name the host in the URL: connect by a name \
                 the certificate lists, or use sslmode=verify-ca to check the CA only"
            }
            rustls::Error::InvalidCertificate(
                C::Expired
                | C::ExpiredContext { .. }
                | C::NotValidYet
                | C::NotValidYetContext { .. },
            ) => {
                "the server's certificate is outside its validity period: renew it, or check \
                 this machine's clock"
            }
            _ => {
                "check sslmode, sslrootcert, sslcert and sslkey (in the URL or the PGSSL* variables)"
            }
        });
    }
    match error {
        // sqlx's own words when the server answers the TLS request with "no".
        sqlx::Error::Tls(inner) if inner.to_string().contains("does not support TLS") => Some(
            "the server does not offer TLS: enable ssl on the server, or, only on a network \
             path you trust, use sslmode=prefer or disable",
        ),
        sqlx::Error::Tls(_) => Some(
            "check sslmode, sslrootcert, sslcert and sslkey (in the URL or the PGSSL* variables)",
        ),
        _ => None,
    }
}

/// A driver error in words. A server error is its message without the line of the server's own
/// source that reported it, which sqlx appends (`… at line 3319`) and a reader would take for a
/// line of their statement, input or trigger; from PostgreSQL, with its detail and hint, which
/// sqlx shows neither of (an application's trigger says there why it refused a row, and what to
/// do about it).
fn words(error: &sqlx::Error) -> String {
    let Some(server) = error.as_database_error() else {
        return error.to_string();
    };
    format!(
        "error returned from database: {}{}",
        server.message(),
        detail_and_hint(server)
    )
}

/// A PostgreSQL error's detail and hint, each in parentheses after its message ("" for none).
#[cfg(feature = "postgres")]
fn detail_and_hint(server: &dyn sqlx::error::DatabaseError) -> String {
    let Some(pg) = server.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() else {
        return String::new();
    };
    [("detail", pg.detail()), ("hint", pg.hint())]
        .into_iter()
        .filter_map(|(label, said)| said.map(|said| format!(" ({label}: {said})")))
        .collect()
}

/// No other database reports a detail or a hint.
#[cfg(not(feature = "postgres"))]
fn detail_and_hint(_server: &dyn sqlx::error::DatabaseError) -> String {
    String::new()
}

/// Shorthand: `.map_err(sql("reading documents"))`.
pub(crate) fn sql(what: &'static str) -> impl Fn(sqlx::Error) -> AdapterError {
    move |error| db(what, error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(mode: &str, described: &str) -> TlsAsked {
        TlsAsked {
            mode: mode.to_owned(),
            described: described.to_owned(),
        }
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn a_tls_failure_names_the_settings_where_they_came_from_and_what_to_check() {
        let tls = asked("require", "sslmode=require (from PGSSLMODE)");
        let refused: Box<dyn std::error::Error + Send + Sync> =
            "server does not support TLS".into();
        let text = connecting(
            "postgres://u:***@db/x",
            sqlx::Error::Tls(refused),
            Some(&tls),
        )
        .to_string();
        assert!(text.contains("sslmode=require (from PGSSLMODE)"), "{text}");
        assert!(!text.contains("the URL asks"), "{text}");
        assert!(text.contains("does not offer TLS"), "{text}");

        let tls = asked(
            "verify-full",
            "sslmode=verify-full (from the URL), sslrootcert=/tmp/other.crt (from the URL)",
        );
        // sqlx reports a failed handshake as an I/O error wrapping rustls's.
        let unknown = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        let text = connecting(
            "postgres://u:***@db/x",
            sqlx::Error::Io(unknown),
            Some(&tls),
        )
        .to_string();
        assert!(
            text.contains("sslrootcert=/tmp/other.crt (from the URL)"),
            "{text}"
        );
        assert!(text.contains("not signed by a CA"), "{text}");
    }

    #[test]
    fn a_server_that_wants_encryption_says_so() {
        let tls = asked("disable", "sslmode=disable (from the URL)");
        let refused = sqlx::Error::Protocol(
            "no pg_hba.conf entry for host \"10.0.0.1\", user \"u\", database \"x\", no \
             encryption"
                .to_owned(),
        );
        let text = connecting("postgres://u:***@db/x", refused, Some(&tls)).to_string();
        assert!(
            text.contains("accepts only encrypted connections"),
            "{text}"
        );
        assert!(text.contains("sslmode=disable (from the URL)"), "{text}");
        let other = sqlx::Error::Protocol("connection refused".to_owned());
        let text = connecting("postgres://u:***@db/x", other, Some(&tls)).to_string();
        assert!(text.contains("check the URL"), "{text}");
        assert!(!text.contains("TLS"), "{text}");
    }
}
