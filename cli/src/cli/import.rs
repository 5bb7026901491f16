//! `iu-cutter import`: reads documents from files, directories and JSON Lines files, then puts
//! them into the store (each `put_document` passes the kill switch).
//!
//! - A file: one document, id = its file name.
//! - A directory: every file below it, recursively, in sorted order; id = the path relative to
//!   the directory, with `/` separators. Hidden entries (names starting with `.`) are skipped;
//!   symbolic links to directories are not followed, and a link to a file outside the directory
//!   is refused unless `--follow-symlinks` asks for it (an import of `docs/` must not pick up
//!   `/etc/passwd` through a stray link).
//! - A `.jsonl` file (given or found in a directory): one document per non-blank line, a JSON
//!   object whose `id` and `body` fields (see `--id-field`, `--body-field`) are strings.
//!
//! Everything is read and checked before anything is written: invalid UTF-8 (named by file and
//! byte offset), a malformed line, a repeated id or an id no store may hold (control characters,
//! bidirectional formatting characters: [`DocumentId::check`]) stops the import with nothing
//! imported. The documents are then written in one transaction: all of them or none.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use iu_cutter_live_execution::{AdapterError, DocumentId, Scope, sha256_hex};

use iu_cutter_live_execution::prelude::*;

use crate::cli::config::Config;
use crate::cli::error::CliError;
use crate::cli::output::human_bytes;
use crate::cli::store::LiveStore;

/// Which fields of a JSON Lines object hold the id and the body.
#[derive(Clone, Debug)]
pub(crate) struct JsonlFields {
    pub(crate) id: String,
    pub(crate) body: String,
}

/// How inputs are read.
#[derive(Clone, Debug)]
pub(crate) struct ReadOptions {
    /// The JSON Lines fields.
    pub(crate) fields: JsonlFields,
    /// Follow links to files outside an imported directory.
    pub(crate) follow_symlinks: bool,
}

impl ReadOptions {
    /// Reads the id from JSON Lines field `id_field` and the body from `body_field`, and
    /// follows links out of an imported directory when `follow_symlinks`.
    pub(crate) fn new(id_field: String, body_field: String, follow_symlinks: bool) -> Self {
        Self {
            fields: JsonlFields {
                id: id_field,
                body: body_field,
            },
            follow_symlinks,
        }
    }
}

/// One document read from the inputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SourceDocument {
    pub(crate) id: DocumentId,
    pub(crate) body: String,
    /// Where it came from (`file` or `file:line`).
    pub(crate) origin: String,
    /// The JSON Lines fields besides the id and the body, which are not imported.
    pub(crate) other_fields: Vec<String>,
}

const NOTHING_IMPORTED: &str = "nothing was imported";

fn fix_and_retry(what: &str) -> String {
    format!("{what}, then run the same import again ({NOTHING_IMPORTED})")
}

/// Reads every input. On any problem, returns one error listing every problem found.
pub(crate) fn collect(
    paths: &[PathBuf],
    options: &ReadOptions,
) -> Result<Vec<SourceDocument>, CliError> {
    let fields = &options.fields;
    let mut documents = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        let metadata = match std::fs::metadata(path) {
            Ok(metadata) => metadata,
            Err(error) => {
                problems.push(format!("{}: {error}", path.display()));
                continue;
            }
        };
        if metadata.is_dir() {
            let mut files = Vec::new();
            let walk = Walk {
                root: path,
                canonical_root: std::fs::canonicalize(path).unwrap_or_else(|_| path.clone()),
                follow_symlinks: options.follow_symlinks,
            };
            if let Err(problem) = walk.files(path, &mut files, &mut problems) {
                problems.push(problem);
                continue;
            }
            for (file, id) in files {
                read_input(&file, id, fields, &mut documents, &mut problems);
            }
        } else {
            let name = match path.file_name().and_then(|n| n.to_str()) {
                Some(name) => name.to_owned(),
                None => {
                    problems.push(format!(
                        "{}: the file name is not valid UTF-8 and cannot be a document id",
                        path.display()
                    ));
                    continue;
                }
            };
            read_input(path, name, fields, &mut documents, &mut problems);
        }
    }
    for document in &documents {
        if let Err(problem) = DocumentId::check(document.id.as_str()) {
            problems.push(format!("{}: {problem}", document.origin));
        }
    }
    let mut seen: HashMap<&DocumentId, &str> = HashMap::new();
    for document in &documents {
        if let Some(first) = seen.insert(&document.id, &document.origin) {
            problems.push(format!(
                "document id `{}` is given twice: by {first} and by {}",
                document.id, document.origin
            ));
        }
    }
    if problems.is_empty() {
        return Ok(documents);
    }
    let shown: Vec<&String> = problems.iter().take(20).collect();
    let more = problems.len().saturating_sub(shown.len());
    let mut message = shown
        .iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join("\n  ");
    if more > 0 {
        message.push_str(&format!("\n  … and {more} more"));
    }
    let next = if problems.iter().any(|p| p.contains("invalid UTF-8")) {
        fix_and_retry(
            "convert each file named above to UTF-8 (e.g. `iconv -f <its encoding> -t UTF-8`) or \
             leave it out of the import",
        )
    } else if problems.iter().any(|p| p.contains("NUL byte")) {
        fix_and_retry(
            "remove the NUL bytes from each document named above (e.g. `tr -d '\\000'`) or \
             leave it out of the import",
        )
    } else {
        fix_and_retry("fix the inputs named above")
    };
    Err(CliError::bad_input(
        format!("{} problem(s) in the input:\n  {message}", problems.len()),
        next,
    ))
}

/// A directory being imported.
struct Walk<'a> {
    root: &'a Path,
    canonical_root: PathBuf,
    follow_symlinks: bool,
}

impl Walk<'_> {
    /// Collects the files below `dir`, sorted, with their ids relative to the root. A link to a
    /// file outside the root is a problem unless links may be followed.
    fn files(
        &self,
        dir: &Path,
        out: &mut Vec<(PathBuf, String)>,
        problems: &mut Vec<String>,
    ) -> Result<(), String> {
        let mut entries = std::fs::read_dir(dir)
            .and_then(|entries| entries.collect::<Result<Vec<_>, _>>())
            .map_err(|error| format!("{}: cannot list the directory: {error}", dir.display()))?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                return Err(format!(
                    "{}: the file name is not valid UTF-8 and cannot be part of a document id",
                    path.display()
                ));
            };
            if name.starts_with('.') {
                continue;
            }
            let file_type = entry
                .file_type()
                .map_err(|error| format!("{}: {error}", path.display()))?;
            if file_type.is_dir() {
                self.files(&path, out, problems)?;
                continue;
            }
            if file_type.is_symlink() {
                match self.link_target(&path) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(problem) => {
                        problems.push(problem);
                        continue;
                    }
                }
            } else if !file_type.is_file() {
                continue;
            }
            let relative = path
                .strip_prefix(self.root)
                .map_err(|_| format!("{}: outside {}", path.display(), self.root.display()))?;
            let id = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            out.push((path, id));
        }
        Ok(())
    }

    /// Whether the link at `path` is a file to import: `Ok(false)` for a link to a directory
    /// (never followed), a problem for a broken link or one leading out of the root.
    fn link_target(&self, path: &Path) -> Result<bool, String> {
        let target = std::fs::metadata(path)
            .map_err(|error| format!("{}: broken link: {error}", path.display()))?;
        if !target.is_file() {
            tracing::warn!(path = %path.display(), "not following a link to a directory");
            return Ok(false);
        }
        let resolved = std::fs::canonicalize(path)
            .map_err(|error| format!("{}: cannot resolve the link: {error}", path.display()))?;
        if self.follow_symlinks || resolved.starts_with(&self.canonical_root) {
            return Ok(true);
        }
        Err(format!(
            "{}: a link out of {} (to {}); pass --follow-symlinks to import it, or remove the \
             link",
            path.display(),
            self.root.display(),
            resolved.display()
        ))
    }
}

/// Reads one file: a document, or the documents of a JSON Lines file.
fn read_input(
    path: &Path,
    id: String,
    fields: &JsonlFields,
    documents: &mut Vec<SourceDocument>,
    problems: &mut Vec<String>,
) {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) => {
            problems.push(format!("{}: {error}", path.display()));
            return;
        }
    };
    let text = match decode(path, bytes) {
        Ok(text) => text,
        Err(problem) => {
            problems.push(problem);
            return;
        }
    };
    if path.extension().is_some_and(|e| e == "jsonl") {
        match parse_jsonl(path, &text, fields) {
            Ok(found) => {
                for document in found {
                    match nul_problem(&document.origin, &document.body) {
                        Some(problem) => problems.push(problem),
                        None => documents.push(document),
                    }
                }
            }
            Err(mut found) => problems.append(&mut found),
        }
    } else if let Some(problem) = nul_problem(&path.display().to_string(), &text) {
        problems.push(problem);
    } else {
        documents.push(SourceDocument {
            id: DocumentId::new(id),
            body: text,
            origin: path.display().to_string(),
            other_fields: Vec::new(),
        });
    }
}

/// The text of a file, or a problem naming the file and the byte offset of the first invalid
/// UTF-8 sequence.
pub(crate) fn decode(path: &Path, bytes: Vec<u8>) -> Result<String, String> {
    String::from_utf8(bytes).map_err(|error| {
        let offset = error.utf8_error().valid_up_to();
        let bytes = error.as_bytes();
        let line = bytes[..offset].iter().filter(|b| **b == b'\n').count() + 1;
        let bad: Vec<String> = bytes[offset..]
            .iter()
            .take(4)
            .map(|b| format!("{b:02x}"))
            .collect();
        format!(
            "{}: invalid UTF-8 at byte offset {offset} (line {line}, bytes {})",
            path.display(),
            bad.join(" ")
        )
    })
}

/// A problem naming `origin` and the byte offset of the first NUL in `body`, if it has one.
/// PostgreSQL cannot store NUL in text, so no store accepts it: the policy is the same for all.
fn nul_problem(origin: &str, body: &str) -> Option<String> {
    let offset = body.find('\0')?;
    let line = body.as_bytes()[..offset]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1;
    Some(format!(
        "{origin}: NUL byte at byte offset {offset} (line {line}) of the document: text stores \
         (PostgreSQL) cannot hold NUL, so no document with one is imported"
    ))
}

/// The documents of a JSON Lines text.
fn parse_jsonl(
    path: &Path,
    text: &str,
    fields: &JsonlFields,
) -> Result<Vec<SourceDocument>, Vec<String>> {
    let mut documents = Vec::new();
    let mut problems = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = format!("{}:{}", path.display(), index + 1);
        let value: serde_json::Value = match serde_json::from_str(line) {
            Ok(value) => value,
            Err(error) => {
                problems.push(format!("{at}: not a JSON object: {error}"));
                continue;
            }
        };
        let Some(object) = value.as_object() else {
            problems.push(format!("{at}: not a JSON object"));
            continue;
        };
        let field = |name: &str| match object.get(name) {
            Some(serde_json::Value::String(text)) => Ok(text.clone()),
            Some(serde_json::Value::Number(n)) if name == fields.id => Ok(n.to_string()),
            Some(_) => Err(format!("{at}: field `{name}` is not a string")),
            None => Err(format!("{at}: no field `{name}`")),
        };
        match (field(&fields.id), field(&fields.body)) {
            (Ok(id), Ok(body)) if !id.is_empty() => documents.push(SourceDocument {
                id: DocumentId::new(id),
                body,
                origin: at,
                other_fields: object
                    .keys()
                    .filter(|key| **key != fields.id && **key != fields.body)
                    .cloned()
                    .collect(),
            }),
            (Ok(_), Ok(_)) => problems.push(format!("{at}: field `{}` is empty", fields.id)),
            (Err(problem), _) | (_, Err(problem)) => problems.push(problem),
        }
    }
    if problems.is_empty() {
        Ok(documents)
    } else {
        Err(problems)
    }
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ImportCounts {
    pub(crate) imported: u64,
    pub(crate) changed: u64,
    pub(crate) unchanged: u64,
}

/// `iu-cutter import`.
pub(crate) async fn import(
    config: &Config,
    paths: &[PathBuf],
    options: &ReadOptions,
    execute: bool,
) -> Result<ImportCounts, CliError> {
    if let Some(source) = &config.source {
        return Err(CliError::bad_input(
            format!(
                "this store reads its documents from the table {} ([source] in {}); \
                 {NOTHING_IMPORTED}",
                source.table, config.origin
            ),
            "write the documents to that table (the next `run` reads them), or use a store \
             without [source] for imported files",
        ));
    }
    let documents = collect(paths, options)?;
    let retry = "iu-cutter import … (it is idempotent)";
    let store = LiveStore::open(config, execute, retry).await?;
    let adapter = store.adapter();
    let ids: Vec<DocumentId> = documents.iter().map(|d| d.id.clone()).collect();
    let existing: BTreeMap<DocumentId, String> = adapter
        .load_scope(&Scope::Ids(ids))
        .await
        .map_err(|e| CliError::from_adapter(e, "reading the existing documents", retry))?
        .into_iter()
        .map(|d| (d.id, d.sha256))
        .collect();
    let mut counts = ImportCounts::default();
    let mut to_write = Vec::new();
    let mut statuses = Vec::new();
    for document in &documents {
        let status = match existing.get(&document.id) {
            None => "new",
            Some(sha) if *sha == sha256_hex(document.body.as_bytes()) => {
                counts.unchanged += 1;
                continue;
            }
            Some(_) => "changed",
        };
        to_write.push((document.id.clone(), document.body.clone()));
        statuses.push(status);
    }
    // One transaction: all of the documents or none.
    let stored = if to_write.is_empty() {
        Vec::new()
    } else {
        adapter
            .put_documents(&to_write)
            .await
            .map_err(|error| import_failed(error, to_write.len(), retry))?
    };
    for ((status, stored), (_, body)) in statuses.iter().zip(&stored).zip(&to_write) {
        if *status == "new" {
            counts.imported += 1;
        } else {
            counts.changed += 1;
        }
        out!(
            "  {status:<8} {}  revision {}  {}",
            stored.id,
            stored.revision,
            human_bytes(body.len() as u64)
        );
    }
    let skipped: BTreeSet<&str> = documents
        .iter()
        .flat_map(|d| d.other_fields.iter().map(String::as_str))
        .collect();
    if !skipped.is_empty() {
        eprintln!(
            "note: JSON Lines fields not imported: {} (import keeps an id and a body; to carry \
             such fields into the units, keep the documents in a table and map it as [source] \
             with metadata = [...])",
            skipped.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
    out!(
        "imported: {}, changed: {}, unchanged: {} ({} document(s) read; store {})",
        counts.imported,
        counts.changed,
        counts.unchanged,
        documents.len(),
        config.location()
    );
    Ok(counts)
}

/// The store failed the import's one transaction of `documents` documents: nothing was imported,
/// unless the error may have followed the commit (a lost connection), which it must not deny.
fn import_failed(error: AdapterError, documents: usize, retry: &str) -> CliError {
    let outcome = if error.may_have_been_applied() {
        "whether it committed is not known; the import is idempotent"
    } else {
        NOTHING_IMPORTED
    };
    let doing = format!("importing {documents} document(s) in one transaction ({outcome})");
    CliError::from_adapter(error, &doing, retry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_import_that_may_have_committed_is_not_called_unimported() {
        use iu_cutter_live_execution::UnavailableKind;
        let lost = AdapterError::unavailable(UnavailableKind::Connection, "connection reset");
        let said = import_failed(lost, 3, "retry").to_string();
        assert!(
            !said.contains(NOTHING_IMPORTED) && said.contains("not known"),
            "{said}"
        );
        let busy = AdapterError::unavailable(UnavailableKind::Busy, "lock timeout");
        let said = import_failed(busy, 3, "retry").to_string();
        assert!(said.contains(NOTHING_IMPORTED), "{said}");
    }

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn fields() -> ReadOptions {
        ReadOptions {
            fields: JsonlFields {
                id: "id".into(),
                body: "body".into(),
            },
            follow_symlinks: false,
        }
    }

    fn ids(documents: &[SourceDocument]) -> Vec<&str> {
        documents.iter().map(|d| d.id.as_str()).collect()
    }

    /// The error reading `paths` (with the default fields) ends in; a test failure if it reads
    /// them.
    fn refusal(paths: &[PathBuf]) -> Result<CliError, String> {
        match collect(paths, &fields()) {
            Ok(documents) => Err(format!("accepted: {documents:?}")),
            Err(error) => Ok(error),
        }
    }

    /// The error reading `file` ends in once it holds `lines` (JSON lines).
    fn jsonl_refusal(file: &Path, lines: &str) -> Result<CliError, Box<dyn std::error::Error>> {
        std::fs::write(file, lines)?;
        Ok(refusal(&[file.to_path_buf()])?)
    }

    #[test]
    fn directories_give_sorted_relative_ids() -> TestResult {
        let dir = tempfile::tempdir()?;
        let root = dir.path().join("corpus");
        std::fs::create_dir_all(root.join("vi/sub"))?;
        std::fs::create_dir_all(root.join("en"))?;
        std::fs::create_dir_all(root.join(".git"))?;
        std::fs::write(root.join("vi/sub/b.txt"), "Điều 1.\n")?;
        std::fs::write(root.join("vi/a.txt"), "Chương I\n")?;
        std::fs::write(root.join("en/z.txt"), "Article 1\n")?;
        std::fs::write(root.join(".hidden"), "x")?;
        std::fs::write(root.join(".git/config"), "x")?;
        let single = dir.path().join("single.md");
        std::fs::write(&single, "# Title\n")?;
        let documents = collect(&[root.clone(), single], &fields())?;
        assert_eq!(
            ids(&documents),
            ["en/z.txt", "vi/a.txt", "vi/sub/b.txt", "single.md"]
        );
        assert_eq!(documents[2].body, "Điều 1.\n");
        // Deterministic: the same inputs give the same documents in the same order.
        assert_eq!(collect(&[root], &fields())?, documents[..3].to_vec());
        Ok(())
    }

    #[test]
    fn invalid_utf8_names_the_file_and_offset_and_imports_nothing() -> TestResult {
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join("good.txt"), "fine\n")?;
        let mut bytes = "Điều 1.\nline two ".as_bytes().to_vec();
        let offset = bytes.len();
        bytes.extend_from_slice(&[0xC4, 0x20, b'x']); // a lead byte without its continuation
        std::fs::write(dir.path().join("bad.txt"), &bytes)?;
        let error = refusal(&[dir.path().to_path_buf()])?;
        assert_eq!(error.exit_code(), 8);
        let text = error.to_string();
        assert!(text.contains("bad.txt"), "{text}");
        assert!(
            text.contains(&format!("byte offset {offset}")),
            "{text} (expected offset {offset})"
        );
        assert!(text.contains("line 2"), "{text}");
        assert!(!text.contains("good.txt"), "{text}");
        assert!(error.next_action().contains("UTF-8"));
        assert!(error.next_action().contains("nothing was imported"));
        Ok(())
    }

    #[test]
    fn json_lines_give_one_document_per_line() -> TestResult {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("kb.jsonl");
        std::fs::write(
            &file,
            "{\"id\": \"kb/1\", \"body\": \"# One\\n\"}\n\n{\"id\": 2, \"body\": \"Điều 2\"}\n",
        )?;
        let documents = collect(std::slice::from_ref(&file), &fields())?;
        assert_eq!(ids(&documents), ["kb/1", "2"]);
        assert_eq!(documents[0].body, "# One\n");
        assert!(
            documents[1].origin.ends_with("kb.jsonl:3"),
            "{}",
            documents[1].origin
        );

        // Another id field.
        std::fs::write(&file, "{\"slug\": \"a\", \"body\": \"x\"}\n")?;
        let other = ReadOptions {
            fields: JsonlFields {
                id: "slug".into(),
                body: "body".into(),
            },
            follow_symlinks: false,
        };
        assert_eq!(ids(&collect(std::slice::from_ref(&file), &other)?), ["a"]);

        // Malformed lines are named with their line numbers.
        let text = jsonl_refusal(
            &file,
            "{\"id\": \"a\", \"body\": \"x\"}\nnot json\n{\"body\": \"y\"}\n{\"id\": \"a\", \"body\": \"z\"}\n",
        )?
        .to_string();
        assert!(text.contains("kb.jsonl:2"), "{text}");
        assert!(text.contains("kb.jsonl:3: no field `id`"), "{text}");

        // A repeated id names both lines.
        let text = jsonl_refusal(
            &file,
            "{\"id\": \"a\", \"body\": \"x\"}\n{\"id\": \"a\", \"body\": \"z\"}\n",
        )?
        .to_string();
        assert!(text.contains("`a` is given twice"), "{text}");
        assert!(
            text.contains("kb.jsonl:1") && text.contains("kb.jsonl:2"),
            "{text}"
        );
        Ok(())
    }

    #[test]
    fn ids_no_store_may_hold_are_bad_input_naming_the_line() -> TestResult {
        let dir = tempfile::tempdir()?;
        let error = jsonl_refusal(
            &dir.path().join("kb.jsonl"),
            "{\"id\": \"ok\", \"body\": \"x\"}\n{\"id\": \"tab\\there\", \"body\": \"y\"}\n\
             {\"id\": \"evil\\u202egpj.exe\", \"body\": \"z\"}\n",
        )?;
        assert_eq!(error.exit_code(), 8);
        let text = error.to_string();
        assert!(
            text.contains("kb.jsonl:2") && text.contains("U+0009"),
            "{text}"
        );
        assert!(
            text.contains("kb.jsonl:3") && text.contains("U+202E"),
            "{text}"
        );
        assert!(!text.contains("kb.jsonl:1"), "{text}");
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn links_out_of_the_directory_are_refused_unless_asked() -> TestResult {
        let dir = tempfile::tempdir()?;
        let root = dir.path().join("docs");
        std::fs::create_dir_all(&root)?;
        std::fs::write(root.join("inside.txt"), "inside\n")?;
        std::fs::write(dir.path().join("secret.txt"), "outside\n")?;
        std::os::unix::fs::symlink(root.join("inside.txt"), root.join("alias.txt"))?;
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("leak.txt"))?;
        let error = refusal(std::slice::from_ref(&root))?;
        let text = error.to_string();
        assert!(
            text.contains("leak.txt") && text.contains("--follow-symlinks"),
            "{text}"
        );
        assert!(
            !text.contains("alias.txt"),
            "a link inside the directory is fine: {text}"
        );
        let mut asked = fields();
        asked.follow_symlinks = true;
        let documents = collect(std::slice::from_ref(&root), &asked)?;
        assert_eq!(ids(&documents), ["alias.txt", "inside.txt", "leak.txt"]);
        Ok(())
    }

    #[test]
    fn a_missing_path_is_bad_input() {
        let result = collect(&[PathBuf::from("/nonexistent/iu-cutter/input")], &fields());
        assert!(matches!(result, Err(CliError::BadInput { .. })));
    }
}
