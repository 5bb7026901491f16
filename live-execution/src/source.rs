//! Where the documents live when they are an application's rows: a [`SourceMapping`] names the
//! application's table and columns, which iu-cutter only ever reads. A store with a mapping keeps
//! a tracking copy of each source row in its own `documents` table, brought up to date by
//! `sync_source` (see [`crate::Admin::sync_source`]); everything a run does (fence, units,
//! generations, journal, backups) happens on iu-cutter's own tables, and enact compares the
//! source row again inside its transaction, so an edit the application made during the run is
//! never enacted over.

use std::fmt;

use serde::Serialize;

use crate::error::AdapterError;

/// An application's table of documents, as configured (`[source]` in `cutter.toml`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SourceMapping {
    /// The table, `name` or `schema.name` (PostgreSQL: `public` when no schema is written).
    pub table: String,
    /// The column holding the document id (any type; compared as text).
    pub id: String,
    /// The column holding the text to cut.
    pub body: String,
    /// A column that changes whenever the row does (e.g. `updated_at`); without one, the body's
    /// sha256 tells a change.
    pub revision: Option<String>,
    /// A parameter-free SQL condition selecting the rows to cut, e.g. `status = 'published'`.
    pub filter: Option<String>,
    /// Columns copied, as text, into each document's metadata and its units' rows.
    pub metadata: Vec<String>,
}

/// Identifiers longer than this are truncated by PostgreSQL: refused instead.
const MAX_IDENTIFIER: usize = 63;

impl SourceMapping {
    /// A mapping of `table`'s `id` and `body` columns, without revision, filter or metadata.
    pub fn new(table: impl Into<String>, id: impl Into<String>, body: impl Into<String>) -> Self {
        SourceMapping {
            table: table.into(),
            id: id.into(),
            body: body.into(),
            revision: None,
            filter: None,
            metadata: Vec::new(),
        }
    }

    /// Checks what can be checked without a database: every name is a plain identifier
    /// (letters, digits and `_`, not starting with a digit), the table at most `schema.table`,
    /// no column named twice, and the filter holds no statement separator, comment or
    /// placeholder. The database checks the rest when the store opens (the table, the columns,
    /// the filter's syntax), before anything is read.
    pub fn validate(&self) -> Result<(), AdapterError> {
        let parts: Vec<&str> = self.table.split('.').collect();
        if parts.len() > 2 {
            return Err(invalid(format!(
                "[source] table `{}`: write `table` or `schema.table`",
                self.table
            )));
        }
        for part in &parts {
            check_identifier("[source] table", part)?;
        }
        check_identifier("[source] id", &self.id)?;
        check_identifier("[source] body", &self.body)?;
        if let Some(revision) = &self.revision {
            check_identifier("[source] revision", revision)?;
        }
        let mut columns = vec![self.id.as_str(), self.body.as_str()];
        columns.extend(self.revision.as_deref());
        for column in &self.metadata {
            check_identifier("[source] metadata", column)?;
            columns.push(column);
        }
        let mut sorted = columns.clone();
        sorted.sort_unstable();
        if let Some(pair) = sorted.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(invalid(format!(
                "[source] names column `{}` twice (id, body, revision and metadata must differ)",
                pair[0]
            )));
        }
        if let Some(filter) = &self.filter {
            check_filter(filter)?;
        }
        Ok(())
    }

    /// The table's schema and name, as configured; `default_schema` when none is written.
    pub fn schema_and_table<'a>(&'a self, default_schema: Option<&'a str>) -> Vec<&'a str> {
        match self.table.split_once('.') {
            Some((schema, table)) => vec![schema, table],
            None => default_schema
                .into_iter()
                .chain(std::iter::once(self.table.as_str()))
                .collect(),
        }
    }
}

impl fmt::Display for SourceMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (id {}, body {}", self.table, self.id, self.body)?;
        if let Some(revision) = &self.revision {
            write!(f, ", revision {revision}")?;
        }
        if let Some(filter) = &self.filter {
            write!(f, ", where {filter}")?;
        }
        f.write_str(")")
    }
}

fn invalid(message: String) -> AdapterError {
    AdapterError::Invalid(format!("{message}; fix [source] in the configuration"))
}

/// A plain SQL identifier: safe to quote and splice, the same on every backend.
fn check_identifier(what: &str, name: &str) -> Result<(), AdapterError> {
    let plain = !name.is_empty()
        && name.len() <= MAX_IDENTIFIER
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if plain {
        Ok(())
    } else {
        Err(invalid(format!(
            "{what} `{name}` is not a plain identifier (letters, digits and `_`, not starting \
             with a digit, at most {MAX_IDENTIFIER} characters)"
        )))
    }
}

/// A filter is one condition: no second statement, no comment hiding the rest of the query,
/// and no placeholder (it takes no parameters).
fn check_filter(filter: &str) -> Result<(), AdapterError> {
    check_fragment("[source] where", filter)
}

/// SQL an operator writes into a query of iu-cutter's (`what`: the `[source] where` filter, the
/// `[backoff] probe`) is one clause: no second statement, no comment hiding the rest of the
/// query, no placeholder, balanced quotes, and parentheses that never close more than they open.
pub(crate) fn check_fragment(what: &str, filter: &str) -> Result<(), AdapterError> {
    if filter.trim().is_empty() {
        return Err(invalid(format!("{what} is empty")));
    }
    for token in [";", "--", "/*", "*/", "$", "?"] {
        if filter.contains(token) {
            return Err(invalid(format!(
                "{what} `{filter}` contains `{token}`: it must be one parameter-free \
                 condition, without statement separators or comments"
            )));
        }
    }
    if let Some(c) = filter
        .chars()
        .find(|c| c.is_control() && !c.is_whitespace())
    {
        return Err(invalid(format!(
            "[source] where `{}` contains the control character {c:?}: write it on one or more \
             plain lines",
            filter.escape_debug()
        )));
    }
    if !filter.matches('\'').count().is_multiple_of(2)
        || !filter.matches('"').count().is_multiple_of(2)
    {
        return Err(invalid(format!(
            "{what} `{filter}` has an unbalanced quote"
        )));
    }
    // Outside quotes, parentheses must balance without ever closing more than were opened:
    // else the condition escapes the parentheses it is written into (`a) OR (b`).
    let (mut depth, mut quote) = (0_i64, None);
    for c in filter.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => depth -= 1,
            _ => {}
        }
        if depth < 0 {
            break;
        }
    }
    if depth != 0 {
        return Err(invalid(format!(
            "{what} `{filter}` has unbalanced parentheses: it must be one condition"
        )));
    }
    Ok(())
}

/// What `sync_source` did to the tracking copies of the source rows in a scope.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// Source rows read (with a revision column: only those whose revision moved, or new).
    pub read: u64,
    /// Documents seen for the first time.
    pub added: u64,
    /// Documents whose body changed (their revision bumped; cut again by `run --stale`).
    pub changed: u64,
    /// Documents whose revision or metadata changed but not their body. A cut document whose
    /// revision moved goes back to `Ready` (the reader view shows it stale), so that
    /// `run --stale` cuts it again and clears that.
    pub touched: u64,
    /// Rows read whose copy was already current.
    pub unchanged: u64,
    /// Of the changed documents, those whose body changed while the revision column did not:
    /// the application does not move it on every change.
    pub silent: u64,
    /// Documents of the scope that iu-cutter tracks but whose row is no longer in the source
    /// (deleted, or no longer selected by the filter): a run leaves them out, since enact would
    /// find no row to compare; their active units stay, and the reader view shows them stale.
    pub gone: Vec<crate::domain::DocumentId>,
}

impl fmt::Display for SyncReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} source rows read: {} new, {} changed, {} with new revision or metadata only, {} \
             unchanged; {} gone from the source",
            self.read,
            self.added,
            self.changed,
            self.touched,
            self.unchanged,
            self.gone.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping() -> SourceMapping {
        let mut mapping = SourceMapping::new("public.laws", "id", "content");
        mapping.revision = Some("updated_at".to_owned());
        mapping.filter = Some("status = 'published'".to_owned());
        mapping.metadata = vec!["title".to_owned(), "lang".to_owned()];
        mapping
    }

    fn refusal(mapping: &SourceMapping) -> String {
        match mapping.validate() {
            Err(AdapterError::Invalid(message)) => message,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_plain_mapping_is_valid() {
        assert!(mapping().validate().is_ok());
        assert!(SourceMapping::new("laws", "id", "body").validate().is_ok());
    }

    #[test]
    fn names_that_could_carry_sql_are_refused_by_name() {
        let mut bad = mapping();
        bad.table = "laws; DROP TABLE laws".to_owned();
        assert!(refusal(&bad).contains("[source] table"));
        let mut bad = mapping();
        bad.body = "content\"".to_owned();
        assert!(refusal(&bad).contains("[source] body `content\"`"));
        let mut bad = mapping();
        bad.table = "a.b.c".to_owned();
        assert!(refusal(&bad).contains("schema.table"));
        let mut bad = mapping();
        bad.metadata.push("id".to_owned());
        assert!(refusal(&bad).contains("column `id` twice"));
    }

    #[test]
    fn a_filter_is_one_parameter_free_condition() {
        for filter in [
            "status = 'published'; DELETE FROM laws",
            "true -- and the rest",
            "id = $1",
            "id = ?",
            "title = 'unbalanced",
            " ",
            "status = 'published') OR (1 = 1",
            "(status = 'published'",
            "status = 'published')",
            "status = '\u{1}published'",
            "status = 'published'\u{2}",
        ] {
            let mut bad = mapping();
            bad.filter = Some(filter.to_owned());
            assert!(refusal(&bad).contains("[source] where"), "{filter}");
        }
        let mut quoted = mapping();
        quoted.filter = Some("(status = 'a)') OR\n\t(title = \"(\" AND lang = 'it''s')".to_owned());
        assert!(quoted.validate().is_ok());
    }

    #[test]
    fn the_schema_defaults_only_when_none_is_written() {
        let mapping = mapping();
        assert_eq!(mapping.schema_and_table(Some("app")), ["public", "laws"]);
        let bare = SourceMapping::new("laws", "id", "body");
        assert_eq!(bare.schema_and_table(Some("public")), ["public", "laws"]);
        assert_eq!(bare.schema_and_table(None), ["laws"]);
    }
}
