//! Where iu-cutter's objects are named: [`Layout::Plain`] (`documents`, `units`, …: the embedded
//! store, and PostgreSQL, where iu-cutter has a schema of its own) or [`Layout::Prefixed`]
//! (`iu_cutter_documents`, …: a SQLite file shared with the application whose table is the
//! `[source]`, which may well have a `documents` or `units` table of its own).
//!
//! Every statement is written once, with the bare names, and laid out at one point: when
//! `query.rs` hands it to sqlx ([`Layout::own`] for the statements written in the code,
//! [`Layout::built`] for those built at run time). Laying out rewrites the bare identifier tokens
//! that are iu-cutter's object names, and nothing else: not string literals, quoted identifiers
//! or comments, not a name after a `.` (a column), and never the application's SQL, which enters
//! a statement only through [`verbatim`] (the `[source] where` filter; the application's
//! identifiers are always quoted).
//!
//! The layout of the store an operation runs on is set around it by `sql/mod.rs` ([`scoped`]);
//! a statement run outside any layout is refused rather than guessed.

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Mutex, OnceLock};

use crate::sql::migrations::{CREATE_MIGRATIONS_TABLE, MIGRATIONS, created_objects};

/// The prefix of iu-cutter's objects in a [`Layout::Prefixed`] store.
pub(crate) const PREFIX: &str = "iu_cutter_";

/// Opens a verbatim part of a built statement (see [`verbatim`]); a `[source] where` filter may
/// not hold control characters, so it never holds one.
const VERBATIM_OPEN: char = '\u{1}';
/// Closes a verbatim part.
const VERBATIM_CLOSE: char = '\u{2}';

/// How iu-cutter's objects are named in one store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// The bare names (`documents`, `units`, …).
    Plain,
    /// The names prefixed with [`PREFIX`] (`iu_cutter_documents`, …).
    Prefixed,
}

tokio::task_local! {
    /// The layout of the store the current operation runs on.
    static CURRENT: Layout;
}

/// Runs `operation` with `layout` as the layout its statements are laid out in.
pub(crate) async fn scoped<F: Future>(layout: Layout, operation: F) -> F::Output {
    CURRENT.scope(layout, operation).await
}

/// The layout the current operation runs in; `None` outside [`scoped`].
pub(crate) fn current() -> Option<Layout> {
    CURRENT.try_with(|layout| *layout).ok()
}

/// The name of iu-cutter's object `bare` in the current operation's layout, for the statements
/// that name it as a value (catalog lookups).
pub(crate) fn named(bare: &str) -> Result<String, sqlx::Error> {
    current()
        .map(|layout| layout.name(bare).into_owned())
        .ok_or_else(unscoped)
}

/// The error of a statement run outside [`scoped`]: a defect, refused rather than run on
/// whatever tables the bare names happen to find.
pub(crate) fn unscoped() -> sqlx::Error {
    sqlx::Error::Protocol("internal: a statement ran outside a store's layout".to_owned())
}

/// The application's SQL, marked so that laying out a built statement keeps it as written (the
/// marks are removed then). Its text holds no control character ([`crate::SourceMapping`]'s
/// checks refuse them), so it cannot hold a mark.
pub(crate) fn verbatim(application_sql: &str) -> String {
    format!("{VERBATIM_OPEN}{application_sql}{VERBATIM_CLOSE}")
}

/// iu-cutter's object names: what its migrations create, and the migrations table.
pub(crate) fn object_names() -> &'static [String] {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let texts =
            std::iter::once(CREATE_MIGRATIONS_TABLE).chain(MIGRATIONS.iter().map(|m| m.sqlite));
        created_objects(texts)
            .into_iter()
            .map(|(_, name)| name)
            .collect()
    })
}

/// Own statements laid out [`Layout::Prefixed`], by the address of their static text: one
/// entry per statement written in the code, so bounded, and each always the same text (sqlx
/// caches prepared statements by text).
type Cache = Mutex<HashMap<(usize, usize), &'static str>>;

impl Layout {
    /// The name of iu-cutter's object `bare` (one of [`object_names`]) in this layout.
    pub(crate) fn name(self, bare: &str) -> Cow<'static, str> {
        match self {
            Layout::Plain => Cow::Owned(bare.to_owned()),
            Layout::Prefixed => Cow::Owned(format!("{PREFIX}{bare}")),
        }
    }

    /// A statement written in the code, laid out; computed once per statement.
    pub(crate) fn own(self, sql: &'static str) -> &'static str {
        if self == Layout::Plain {
            return sql;
        }
        static CACHE: OnceLock<Cache> = OnceLock::new();
        let cache = CACHE.get_or_init(Cache::default);
        let key = (sql.as_ptr() as usize, sql.len());
        let mut cache = match cache.lock() {
            Ok(cache) => cache,
            // A panic elsewhere while holding the lock leaves the map whole (inserts only).
            Err(poisoned) => poisoned.into_inner(),
        };
        cache
            .entry(key)
            // Leaked once per distinct statement of the program: the text lives as long as the
            // statements it stands for.
            .or_insert_with(|| Box::leak(lay_out(sql, self).into_boxed_str()))
    }

    /// A statement built at run time, laid out; its [`verbatim`] parts kept as written.
    pub(crate) fn built(self, sql: String) -> String {
        if self == Layout::Plain && !sql.contains(VERBATIM_OPEN) {
            // Nothing to rename or unmark: the common case of the embedded store, for free.
            return sql;
        }
        lay_out(&sql, self)
    }
}

/// `sql` with iu-cutter's object names laid out in `layout` and [`verbatim`] marks removed.
fn lay_out(sql: &str, layout: Layout) -> String {
    let names = object_names();
    let mut out = String::with_capacity(sql.len() + 64);
    let mut rest = sql;
    while let Some(c) = rest.chars().next() {
        let token_len = match c {
            '\'' | '"' | '`' => quoted_len(rest, c),
            '[' => rest.find(']').map_or(rest.len(), |end| end + 1),
            '-' if rest.starts_with("--") => rest.find('\n').unwrap_or(rest.len()),
            '/' if rest.starts_with("/*") => rest[2..].find("*/").map_or(rest.len(), |end| end + 4),
            VERBATIM_OPEN => {
                let end = rest.find(VERBATIM_CLOSE).unwrap_or(rest.len());
                out.push_str(&rest[c.len_utf8()..end]);
                rest = rest.get(end + VERBATIM_CLOSE.len_utf8()..).unwrap_or("");
                continue;
            }
            c if c.is_ascii_alphanumeric() || c == '_' => {
                let len = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$'))
                    .unwrap_or(rest.len());
                let word = &rest[..len];
                let column = out.trim_end().ends_with('.');
                if layout == Layout::Prefixed
                    && !column
                    && !c.is_ascii_digit()
                    && names.iter().any(|name| name.eq_ignore_ascii_case(word))
                {
                    out.push_str(PREFIX);
                }
                len
            }
            c => c.len_utf8(),
        };
        out.push_str(&rest[..token_len]);
        rest = &rest[token_len..];
    }
    out
}

/// The length of the quoted token `rest` starts with (quote `q`, doubled inside to escape it).
fn quoted_len(rest: &str, q: char) -> usize {
    let mut chars = rest.char_indices().skip(1).peekable();
    while let Some((at, c)) = chars.next() {
        if c == q {
            if chars.peek().is_some_and(|(_, next)| *next == q) {
                chars.next();
                continue;
            }
            return at + c.len_utf8();
        }
    }
    rest.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefixed(sql: &str) -> String {
        lay_out(sql, Layout::Prefixed)
    }

    #[test]
    fn own_names_are_prefixed_and_nothing_else() {
        assert_eq!(
            prefixed("SELECT d.id, u.body FROM documents d JOIN units u ON u.document = d.id"),
            "SELECT d.id, u.body FROM iu_cutter_documents d JOIN iu_cutter_units u \
             ON u.document = d.id"
        );
        assert_eq!(
            prefixed("INSERT INTO run_leases (run) VALUES ($1) ON CONFLICT (run) DO NOTHING"),
            "INSERT INTO iu_cutter_run_leases (run) VALUES ($1) ON CONFLICT (run) DO NOTHING"
        );
        assert_eq!(
            prefixed("CREATE INDEX documents_by_state ON documents (state)"),
            "CREATE INDEX iu_cutter_documents_by_state ON iu_cutter_documents (state)"
        );
        // Strings, quoted identifiers, comments, columns after `.`, longer words: untouched.
        for kept in [
            "SELECT 'units', \"units\", `units`, [units] FROM t",
            "SELECT s.units, s . documents FROM t AS s -- units\n",
            "SELECT 1 /* documents */, units_total, my_units, 'it''s units'",
        ] {
            assert_eq!(prefixed(kept), kept);
        }
        assert_eq!(
            prefixed("UPDATE Control SET x = 1"),
            "UPDATE iu_cutter_Control SET x = 1"
        );
    }

    #[test]
    fn the_applications_sql_is_kept_as_written_and_unmarked() {
        let filter = verbatim("units > 0 AND documents = 'x'");
        let statement = format!(
            "SELECT 1 FROM documents AS d WHERE NOT EXISTS (SELECT 1 FROM \"app\".\"documents\" AS s WHERE {filter})"
        );
        let expected = "SELECT 1 FROM iu_cutter_documents AS d WHERE NOT EXISTS (SELECT 1 FROM \
             \"app\".\"documents\" AS s WHERE units > 0 AND documents = 'x')";
        assert_eq!(prefixed(&statement), expected);
        assert_eq!(
            Layout::Plain.built(statement.clone()),
            expected.replace("iu_cutter_documents", "documents")
        );
    }

    #[test]
    fn own_statements_are_laid_out_once() {
        static STATEMENT: &str = "SELECT id FROM documents";
        let first = Layout::Prefixed.own(STATEMENT);
        assert_eq!(first, "SELECT id FROM iu_cutter_documents");
        assert!(std::ptr::eq(first, Layout::Prefixed.own(STATEMENT)));
        assert!(std::ptr::eq(Layout::Plain.own(STATEMENT), STATEMENT));
    }

    /// Laying out renames every bare token equal to an object name: a column of the same name
    /// (written bare, as in `SET units = …`) would be renamed too. None may exist.
    #[test]
    fn no_column_shares_a_name_with_an_object() {
        let names = object_names();
        let mut columns = Vec::new();
        let texts = std::iter::once(CREATE_MIGRATIONS_TABLE)
            .chain(MIGRATIONS.iter().flat_map(|m| [m.sqlite, m.postgres]));
        for text in texts {
            columns.extend(declared_columns(text));
        }
        for expected in [
            "checksum",
            "body",
            "cut_sha256",
            "expires_at_ms",
            "artifact",
        ] {
            assert!(
                columns.iter().any(|c| c == expected),
                "{expected} not found: {columns:?}"
            );
        }
        let shared: Vec<&String> = columns.iter().filter(|c| names.contains(c)).collect();
        assert!(shared.is_empty(), "columns named as objects: {shared:?}");
        for expected in [
            "documents",
            "units",
            "schema_migrations",
            "active_units",
            "control",
        ] {
            assert!(names.iter().any(|n| n == expected), "{expected}: {names:?}");
        }
    }

    /// The columns `text` declares: the first word of each element of a `CREATE TABLE`'s list
    /// (constraints aside) and each `ADD COLUMN`'s name.
    fn declared_columns(text: &str) -> Vec<String> {
        let mut columns = Vec::new();
        let upper = text.to_ascii_uppercase();
        for (at, _) in upper.match_indices("ADD COLUMN ") {
            if let Some(name) = text[at + 11..].split_whitespace().next() {
                columns.push(name.to_ascii_lowercase());
            }
        }
        for (at, _) in upper.match_indices("CREATE TABLE ") {
            let Some(open) = text[at..].find('(') else {
                continue;
            };
            let body = &text[at + open + 1..];
            let (mut depth, mut element, mut end) = (0, String::new(), false);
            for c in body.chars() {
                match c {
                    '(' => depth += 1,
                    ')' if depth == 0 => end = true,
                    ')' => depth -= 1,
                    ',' if depth == 0 => {
                        columns.extend(column_of(&element));
                        element.clear();
                        continue;
                    }
                    _ => {}
                }
                if end {
                    columns.extend(column_of(&element));
                    break;
                }
                element.push(c);
            }
        }
        columns
    }

    fn column_of(element: &str) -> Option<String> {
        let words: Vec<&str> = element
            .lines()
            .filter(|line| !line.trim_start().starts_with("--"))
            .flat_map(str::split_whitespace)
            .collect();
        let first = words.first()?.to_ascii_lowercase();
        let constraint = ["primary", "unique", "check", "foreign", "constraint"];
        (!constraint.contains(&first.as_str())).then_some(first)
    }
}
