//! Driver errors mapped onto [`AdapterError`], and URL redaction: no password ever reaches a
//! message, a log line or a report.

use std::fmt;

use crate::error::AdapterError;

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

/// Maps a driver error met while doing `what`. Lost connections become
/// [`AdapterError::Unavailable`]; everything else is [`AdapterError::Database`].
pub(crate) fn db(what: &str, error: sqlx::Error) -> AdapterError {
    match &error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => AdapterError::Unavailable(format!(
            "the database connection failed while {what}: {error}"
        )),
        _ => AdapterError::Database(Box::new(SqlError::new(format!("{what}: {error}")))),
    }
}

/// What to do when a connection needs TLS: this build has none (no TLS library is linked).
const NO_TLS: &str = "this build of iu-cutter has no TLS support: reach the server through an \
     encrypting tunnel on a path you trust (an SSH tunnel, stunnel, your cloud's database proxy) \
     and connect to the tunnel with sslmode=disable";

/// Maps a driver error met while connecting to `location` (already redacted). A URL asking for
/// TLS (`sslmode=require`, `verify-ca`, `verify-full`), or a server that accepts only encrypted
/// connections, is named as such, with what to do instead.
pub(crate) fn connecting(location: &str, error: sqlx::Error) -> AdapterError {
    let text = error.to_string();
    let next = if matches!(error, sqlx::Error::Tls(_)) {
        format!("the URL asks for TLS (sslmode), and {NO_TLS}")
    } else if text.contains("no encryption") {
        // PostgreSQL's refusal of an unencrypted connection: "no pg_hba.conf entry for host
        // ..., no encryption".
        format!("the server accepts only encrypted connections, and {NO_TLS}")
    } else {
        "check the URL, that the database server is running and reachable, and the credentials"
            .to_owned()
    };
    AdapterError::Unavailable(format!("cannot connect to {location}: {text}; {next}"))
}

/// Shorthand: `.map_err(sql("reading documents"))`.
pub(crate) fn sql(what: &'static str) -> impl Fn(sqlx::Error) -> AdapterError {
    move |error| db(what, error)
}

/// Replaces the password in a database URL with `***`, wherever it is: in the userinfo
/// (`postgres://user:secret@host/db`), or as a `password=` parameter of the query string or of
/// a `key=value` connection string. Everything else is kept, so the result still says where the
/// database is.
pub fn redact(url: &str) -> String {
    let mut out = redact_userinfo(url);
    out = redact_parameter(&out);
    out
}

/// The password of a URL, if it has one (what [`redact`] hides).
pub(crate) fn password(url: &str) -> Option<String> {
    userinfo_password(url).or_else(|| parameter_password(url))
}

fn userinfo_password(url: &str) -> Option<String> {
    let (_, rest) = url.split_once("://")?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let (userinfo, _) = authority.rsplit_once('@')?;
    let (_, secret) = userinfo.split_once(':')?;
    (!secret.is_empty()).then(|| secret.to_owned())
}

fn parameter_password(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let start = lower.find("password=")? + "password=".len();
    let end = text[start..]
        .find(['&', ' ', ';', '#', '\t'])
        .map_or(text.len(), |end| start + end);
    let secret = &text[start..end];
    (!secret.is_empty()).then(|| secret.to_owned())
}

fn redact_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _secret)) => format!("{scheme}://{user}:***@{host}{tail}"),
        None => url.to_owned(),
    }
}

fn redact_parameter(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut search = 0;
    while let Some(found) = lower[search..].find("password=") {
        let start = search + found;
        let at_boundary = start == 0
            || matches!(
                lower.as_bytes().get(start - 1),
                Some(b'?' | b'&' | b' ' | b';' | b'\t')
            );
        let value_start = start + "password=".len();
        if !at_boundary {
            search = value_start;
            continue;
        }
        let value_end = text[value_start..]
            .find(['&', ' ', ';', '#', '\t'])
            .map_or(text.len(), |end| value_start + end);
        out.push_str(&text[copied..value_start]);
        out.push_str("***");
        copied = value_end;
        search = value_end;
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_that_needs_tls_says_this_build_has_none_and_what_to_do() {
        let asked: Box<dyn std::error::Error + Send + Sync> = "TLS upgrade required".into();
        let text = connecting("postgres://u:***@db/x", sqlx::Error::Tls(asked)).to_string();
        assert!(text.contains("the URL asks for TLS"), "{text}");
        assert!(text.contains("no TLS support"), "{text}");
        assert!(text.contains("sslmode=disable"), "{text}");
        let refused = sqlx::Error::Protocol(
            "no pg_hba.conf entry for host \"10.0.0.1\", user \"u\", database \"x\", no \
             encryption"
                .to_owned(),
        );
        let text = connecting("postgres://u:***@db/x", refused).to_string();
        assert!(
            text.contains("accepts only encrypted connections"),
            "{text}"
        );
        let other = sqlx::Error::Protocol("connection refused".to_owned());
        let text = connecting("postgres://u:***@db/x", other).to_string();
        assert!(text.contains("check the URL"), "{text}");
        assert!(!text.contains("TLS"), "{text}");
    }

    #[test]
    fn redact_hides_the_userinfo_password() {
        assert_eq!(
            redact("postgres://iu:s3cr:et@127.0.0.1:5432/db?sslmode=disable"),
            "postgres://iu:***@127.0.0.1:5432/db?sslmode=disable"
        );
        assert_eq!(
            redact("postgresql://iu:p%40ss@host/db"),
            "postgresql://iu:***@host/db"
        );
        // An `@` inside the password: the last `@` of the authority ends the userinfo.
        assert_eq!(
            redact("postgres://iu:a@b@host/db"),
            "postgres://iu:***@host/db"
        );
    }

    #[test]
    fn redact_keeps_urls_without_a_password() {
        for url in [
            "postgres://iu@host/db",
            "postgres://host:5432/db",
            "sqlite://data/iu.db?mode=rwc",
            "data/iu.db",
            "",
        ] {
            assert_eq!(redact(url), url);
        }
    }

    #[test]
    fn redact_hides_password_parameters() {
        assert_eq!(
            redact("postgres://iu@host/db?password=hunter2&sslmode=require"),
            "postgres://iu@host/db?password=***&sslmode=require"
        );
        assert_eq!(
            redact("host=db user=iu PASSWORD=hunter2 dbname=x"),
            "host=db user=iu PASSWORD=*** dbname=x"
        );
        assert_eq!(redact("x?mypassword=keep"), "x?mypassword=keep");
    }

    #[test]
    fn password_is_what_redact_hides() {
        assert_eq!(
            password("postgres://iu:hunter2@h/db").as_deref(),
            Some("hunter2")
        );
        assert_eq!(password("postgres://iu@h/db"), None);
        assert_eq!(password("postgres://iu:@h/db"), None);
        assert_eq!(password("data/iu.db"), None);
        assert_eq!(
            password("postgres://iu@h/db?password=hunter2&x=1").as_deref(),
            Some("hunter2")
        );
    }
}
