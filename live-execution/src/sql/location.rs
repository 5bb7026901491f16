//! What a `database_url` names, read by parsing it, never by searching its text: which backend
//! (a PostgreSQL URL, a SQLite URL or file path), and how to show it without its secrets.
//!
//! A value is a URL when it starts with a scheme (`postgres:`, `sqlite:`, `mysql:` …); it is a
//! SQLite file path otherwise. Anything that only looks like a path but carries a scheme, a
//! userinfo (`user:password@host`) or `key=value` connection parameters is refused rather than
//! taken as a file name: a mistyped PostgreSQL URL must never create a file named after its
//! password.

use std::path::PathBuf;

use url::Url;

use crate::error::AdapterError;

/// What stands for a password in everything iu-cutter prints.
pub(crate) const MASK: &str = "***";

/// Which database a `database_url` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL URL (`postgres://` or `postgresql://`).
    Postgres,
}

/// The scheme of `text`, when it starts with one (`[A-Za-z][A-Za-z0-9+.-]+:`). One letter is
/// not a scheme (a Windows drive letter is a path).
fn scheme(text: &str) -> Option<&str> {
    let (head, _) = text.split_once(':')?;
    let mut chars = head.chars();
    let first = chars.next()?;
    let valid = first.is_ascii_alphabetic()
        && head.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'));
    valid.then_some(head)
}

/// `scheme:***`: all that may be shown of a value that looks like a URL but cannot be parsed as
/// one (its text after the scheme may be a password).
fn opaque(scheme: &str) -> String {
    format!("{scheme}:{MASK}")
}

/// Which backend `url` names, or why it names none. The refusal never contains the password.
pub(crate) fn target(url: &str) -> Result<Target, AdapterError> {
    let trimmed = url.trim();
    if trimmed.is_empty() {
        return Err(AdapterError::Invalid(
            "the database URL is empty: expected sqlite://path, a file path or \
             postgres://user:password@host:port/database"
                .to_owned(),
        ));
    }
    // An explicit path is a path, whatever characters follow.
    if trimmed.starts_with('/') || trimmed.starts_with("./") || trimmed.starts_with("../") {
        return Ok(Target::Sqlite(PathBuf::from(trimmed)));
    }
    if let Some(scheme) = scheme(trimmed) {
        let lower = scheme.to_ascii_lowercase();
        return match lower.as_str() {
            "postgres" | "postgresql" => postgres_target(trimmed, scheme),
            "sqlite" => sqlite_target(trimmed),
            _ => Err(AdapterError::Invalid(format!(
                "unsupported database URL `{}`: expected sqlite://path, a file path or \
                 postgres://user:password@host:port/database",
                redact(trimmed)
            ))),
        };
    }
    let first_segment = trimmed.split('/').next().unwrap_or_default();
    if first_segment.contains('@') {
        return Err(AdapterError::Invalid(format!(
            "the database URL `{}` has a user part (`…@host`) but no scheme: write \
             postgres://user:password@host:port/database, or start the path with ./ if it really \
             is a SQLite file",
            redact_userinfo_like(trimmed)
        )));
    }
    if is_keyword_string(trimmed) {
        return Err(AdapterError::Invalid(format!(
            "the database URL `{}` is a `key=value` connection string, which iu-cutter does not \
             read: write postgres://user:password@host:port/database (the PG* variables, \
             PGPASSWORD among them, fill in what the URL leaves out)",
            redact(trimmed)
        )));
    }
    Ok(Target::Sqlite(PathBuf::from(trimmed)))
}

fn postgres_target(text: &str, scheme: &str) -> Result<Target, AdapterError> {
    let after = &text[scheme.len() + 1..];
    if !after.starts_with("//") {
        return Err(AdapterError::Invalid(format!(
            "`{}` is not a PostgreSQL URL (no `//` after `{scheme}:`): write \
             {scheme}://user:password@host:port/database",
            opaque(scheme)
        )));
    }
    match Url::parse(text) {
        Ok(_) => Ok(Target::Postgres),
        Err(error) => Err(AdapterError::Invalid(format!(
            "cannot read the PostgreSQL URL `{}`: {error}; write \
             {scheme}://user:password@host:port/database (percent-encode `@`, `:` and `/` in \
             the password)",
            redact(text)
        ))),
    }
}

fn sqlite_target(text: &str) -> Result<Target, AdapterError> {
    let rest = &text["sqlite:".len()..];
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split(['?', '#']).next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Err(AdapterError::Invalid(format!(
            "`{}` names no database file; use sqlite://path/to/iu-cutter.db",
            redact(text)
        )));
    }
    if path.split('/').next().unwrap_or_default().contains('@') {
        return Err(AdapterError::Invalid(format!(
            "`{}` has a user part (`…@`): a SQLite URL names a file, sqlite://path/to/file.db",
            redact(text)
        )));
    }
    Ok(Target::Sqlite(PathBuf::from(path)))
}

/// `host=db user=iu password=…`: libpq's keyword/value form.
fn is_keyword_string(text: &str) -> bool {
    text.split_whitespace().count() > 1
        && text
            .split_whitespace()
            .all(|part| part.split_once('=').is_some_and(|(key, _)| !key.is_empty()))
}

/// `user:***@rest` for a `user:password@rest` without a scheme.
fn redact_userinfo_like(text: &str) -> String {
    let end = text.find('/').unwrap_or(text.len());
    let (authority, tail) = text.split_at(end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:{MASK}@{host}{tail}"),
            None => text.to_owned(),
        },
        None => text.to_owned(),
    }
}

/// Replaces the password in a database URL with `***`: the userinfo's password
/// (`postgres://user:secret@host/db`) and any `password=` query parameter, found by parsing the
/// URL. A value that looks like a URL but cannot be parsed shows only its scheme (`postgres:***`);
/// a `key=value` connection string has its `password=` value masked; a file path is returned as
/// it is. Everything else is kept, so the result still says where the database is.
pub fn redact(url: &str) -> String {
    let trimmed = url.trim();
    if trimmed.starts_with('/') || trimmed.starts_with("./") || trimmed.starts_with("../") {
        return url.to_owned();
    }
    let Some(scheme) = scheme(trimmed) else {
        if trimmed.split('/').next().unwrap_or_default().contains('@') {
            return redact_userinfo_like(trimmed);
        }
        return redact_keywords(url);
    };
    let after = &trimmed[scheme.len() + 1..];
    if !after.starts_with("//") {
        // `sqlite:rel.db` is a path; anything else without `//` may hide a password.
        return if scheme.eq_ignore_ascii_case("sqlite") && !after.contains('@') {
            url.to_owned()
        } else {
            opaque(scheme)
        };
    }
    let Ok(mut parsed) = Url::parse(trimmed) else {
        return opaque(scheme);
    };
    if parsed.password().is_some() && parsed.set_password(Some(MASK)).is_err() {
        return opaque(scheme);
    }
    if let Some(query) = parsed.query() {
        let masked = mask_query(query);
        if masked != query {
            parsed.set_query(Some(&masked));
        }
    }
    parsed.to_string()
}

/// The query string with every `password=` value replaced by `***` (keys compared decoded and
/// case-insensitively, everything else kept byte for byte).
fn mask_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if is_password_key(key) => format!("{key}={MASK}"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn is_password_key(key: &str) -> bool {
    let decoded = url::form_urlencoded::parse(key.as_bytes())
        .next()
        .map(|(k, _)| k.into_owned())
        .unwrap_or_else(|| key.to_owned());
    decoded.eq_ignore_ascii_case("password")
}

/// `key=value` words with the value of `password=` masked.
fn redact_keywords(text: &str) -> String {
    if !is_keyword_string(text.trim()) {
        return text.to_owned();
    }
    text.split(' ')
        .map(|word| match word.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}={MASK}"),
            _ => word.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The exact pieces of `url` that carry its password, as they appear in the URL's text:
/// `user:secret@` and `password=secret`. [`crate::sql`] replaces these pieces (and the whole
/// URL) in a driver's message, never the bare password, which could be any short word.
pub(crate) fn secret_pieces(url: &str) -> Vec<(String, String)> {
    let trimmed = url.trim();
    let mut pieces = Vec::new();
    if trimmed.is_empty() {
        return pieces;
    }
    let redacted = redact(trimmed);
    if redacted != trimmed {
        pieces.push((trimmed.to_owned(), redacted));
    }
    if let Ok(parsed) = Url::parse(trimmed) {
        if let Some(password) = parsed.password() {
            let user = parsed.username();
            pieces.push((format!("{user}:{password}@"), format!("{user}:{MASK}@")));
            let decoded = percent_decoded(password);
            if decoded != password {
                pieces.push((format!("{user}:{decoded}@"), format!("{user}:{MASK}@")));
            }
        }
        for (key, value) in parsed.query_pairs() {
            if key.eq_ignore_ascii_case("password") && !value.is_empty() {
                pieces.push((format!("{key}={value}"), format!("{key}={MASK}")));
            }
        }
    }
    pieces.retain(|(secret, _)| !secret.is_empty());
    pieces
}

/// `text` with its `%XX` escapes decoded (a `+` stays a `+`, as in a URL's userinfo).
fn percent_decoded(text: &str) -> String {
    let escaped = format!("x={}", text.replace('+', "%2B"));
    url::form_urlencoded::parse(escaped.as_bytes())
        .next()
        .map_or_else(|| text.to_owned(), |(_, value)| value.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_backend() {
        assert_eq!(
            target("sqlite://data/iu.db?mode=rwc").ok(),
            Some(Target::Sqlite(PathBuf::from("data/iu.db")))
        );
        assert_eq!(
            target("sqlite:///abs/iu.db").ok(),
            Some(Target::Sqlite(PathBuf::from("/abs/iu.db")))
        );
        assert_eq!(
            target("sqlite:rel.db").ok(),
            Some(Target::Sqlite(PathBuf::from("rel.db")))
        );
        for path in [
            "./iu.db",
            "iu.db",
            "data/v2:final.db",
            "./odd@name.db",
            "/x/a b.db",
        ] {
            assert_eq!(
                target(path).ok(),
                Some(Target::Sqlite(PathBuf::from(path))),
                "{path}"
            );
        }
        assert_eq!(target("postgres://u:p@h/db").ok(), Some(Target::Postgres));
        assert_eq!(target("postgresql://h/db").ok(), Some(Target::Postgres));
        assert_eq!(target("POSTGRES://h/db").ok(), Some(Target::Postgres));
    }

    #[test]
    fn anything_that_looks_like_a_url_is_never_taken_for_a_file() {
        for bad in [
            "mysql://u:S3cret@h/db",
            "postgres:S3cret@host",
            "postgresql:u:S3cret@host/db",
            "postgres:/u:S3cret@host/db",
            "u:S3cret@host/db",
            "u:S3cret@host",
            "sqlite://u:S3cret@file.db",
            "host=db user=u password=S3cret",
            "my.db:S3cret",
            "",
            "sqlite://",
            "sqlite::memory:",
        ] {
            match target(bad) {
                Err(AdapterError::Invalid(message)) => {
                    assert!(!message.contains("S3cret"), "{bad}: {message}")
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
        match target("postgres:S3cret@host") {
            Err(AdapterError::Invalid(message)) => {
                assert!(message.contains("postgres://"), "{message}");
                assert!(message.contains("`postgres:***`"), "{message}");
            }
            other => panic!("{other:?}"),
        }
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
        assert_eq!(
            redact("postgres://iu:a@b@host/db"),
            "postgres://iu:***@host/db"
        );
        // A one-letter password masks the password, not every `e` of the text.
        assert_eq!(
            redact("postgres://ee:e@example.net/e"),
            "postgres://ee:***@example.net/e"
        );
    }

    #[test]
    fn redact_keeps_what_has_no_password() {
        for url in [
            "postgres://iu@host/db",
            "postgres://host:5432/db",
            "postgres://host/db?sslmode=verify-full&sslrootcert=/etc/ca.crt",
            "sqlite://data/iu.db?mode=rwc",
            "sqlite:rel.db",
            "data/iu.db",
            "./x:y@z.db",
            "",
        ] {
            assert_eq!(redact(url), url);
        }
    }

    #[test]
    fn redact_hides_password_parameters_and_unparsable_urls() {
        assert_eq!(
            redact("postgres://iu@host/db?password=hunter2&sslmode=require"),
            "postgres://iu@host/db?password=***&sslmode=require"
        );
        assert_eq!(
            redact("postgres://iu@host/db?PassWord=a&mypassword=keep"),
            "postgres://iu@host/db?PassWord=***&mypassword=keep"
        );
        assert_eq!(
            redact("host=db user=iu PASSWORD=hunter2 dbname=x"),
            "host=db user=iu PASSWORD=*** dbname=x"
        );
        assert_eq!(redact("postgres:S3cret@host"), "postgres:***");
        assert_eq!(redact("postgres://u:S3cret@[bad/db"), "postgres:***");
        assert_eq!(redact("u:S3cret@host/db"), "u:***@host/db");
    }

    #[test]
    fn the_secret_pieces_are_the_userinfo_and_parameters_not_the_bare_word() {
        let pieces = secret_pieces("postgres://iu:e@h/db");
        assert!(pieces.iter().all(|(secret, _)| secret != "e"), "{pieces:?}");
        assert!(
            pieces.contains(&("iu:e@".to_owned(), "iu:***@".to_owned())),
            "{pieces:?}"
        );
        let pieces = secret_pieces("postgres://iu@h/db?password=hunter2");
        assert!(
            pieces.contains(&("password=hunter2".to_owned(), "password=***".to_owned())),
            "{pieces:?}"
        );
        assert!(secret_pieces("data/iu.db").is_empty());
    }
}
