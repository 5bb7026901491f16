//! Reading the units out: `units --text`, a held run's staged units (`units --run`, `diff
//! --run`) and `export` (every active unit, and `--since` a run), on SQLite and PostgreSQL.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::support::postgres::{Schema, in_schema};
use crate::support::{Error, TestResult, Workdir};

/// The corpus: three Markdown articles.
const DOCS: [(&str, &str); 3] = [
    (
        "kb/a.md",
        "# Alpha\n\nIntro.\n\n## One\n\nFirst.\n\n## Two\n\nSecond.\n\n## Three\n\nThird.\n",
    ),
    ("kb/b.md", "# Beta\n\nOnly a preamble, “quoted” 😀.\n"),
    ("kb/c.md", "# Gamma\n\n## Uno\n\nUno.\n\n## Dos\n\nDos.\n"),
];

/// `kb/a.md` edited: `Two` removed, `One` changed, `Four` added.
const A_EDITED: &str =
    "# Alpha\n\nIntro.\n\n## One\n\nFirst, amended.\n\n## Three\n\nThird.\n\n## Four\n\nFourth.\n";

/// A working directory whose corpus is written to `docs/` (ids `kb/…`), with the Markdown preset.
fn workdir(url: Option<&str>) -> Result<Workdir, Error> {
    let mut wd = Workdir::new()?.with_env("IU_CUTTER_PRESET", "markdown");
    if let Some(url) = url {
        wd = wd.with_env("IU_CUTTER_DATABASE_URL", url);
    }
    for (id, body) in DOCS {
        wd.write(&format!("docs/{id}"), body.as_bytes())?;
    }
    Ok(wd)
}

/// The lines of `export` with `args`, each a JSON object.
fn export(wd: &Workdir, args: &[&str]) -> Result<Vec<Value>, Error> {
    let mut all = vec!["export"];
    all.extend_from_slice(args);
    let run = wd.expect(&all, 0)?;
    run.stdout
        .lines()
        .map(|line| serde_json::from_str(line).map_err(|e| format!("{e}: {line}").into()))
        .collect()
}

fn text(value: &Value, key: &str) -> String {
    value[key].as_str().unwrap_or_default().to_owned()
}

/// Per document, the units of a full export in order: every one an upsert, each (document,
/// unit id) once, their texts tiling the body.
fn check_full(lines: &[Value], bodies: &BTreeMap<&str, &str>) -> TestResult {
    let mut texts: BTreeMap<String, String> = BTreeMap::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut order = Vec::new();
    for line in lines {
        assert_eq!(line["op"], "upsert", "{line}");
        let document = text(line, "document");
        assert!(
            seen.insert((document.clone(), text(line, "unit_id"))),
            "exported twice: {line}"
        );
        let body = texts.entry(document.clone()).or_default();
        assert_eq!(line["start"].as_u64(), Some(body.len() as u64), "{line}");
        body.push_str(&text(line, "text"));
        order.push((document, line["ordinal"].as_u64()));
    }
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted, "ordered by document, then ordinal");
    let wanted: BTreeMap<String, String> = bodies
        .iter()
        .map(|(id, body)| ((*id).to_owned(), (*body).to_owned()))
        .collect();
    assert_eq!(texts, wanted, "each document's texts are its body, once");
    Ok(())
}

/// What an index holds after `lines` are applied to it in order, keyed by (document, unit id),
/// each unit without the generation and revision it was exported with.
fn apply(index: &mut BTreeMap<(String, String), Value>, lines: &[Value]) {
    for line in lines {
        let key = (text(line, "document"), text(line, "unit_id"));
        match line["op"].as_str() {
            Some("upsert") => {
                let mut unit = line.clone();
                if let Some(fields) = unit.as_object_mut() {
                    fields.remove("generation");
                    fields.remove("revision");
                }
                index.insert(key, unit);
            }
            Some("remove") => {
                assert!(
                    index.remove(&key).is_some(),
                    "a tombstone for nothing: {line}"
                );
            }
            _ => panic!("not an export line: {line}"),
        }
    }
}

/// The whole flow on the store `url` points at (SQLite in the directory when `None`).
fn export_flow(url: Option<&str>) -> TestResult {
    let wd = workdir(url)?;
    wd.init_and_import("docs")?;
    wd.expect(&["run", "--execute", "--run-id", "r1", "--quiet"], 0)?;
    let mut bodies: BTreeMap<&str, &str> = DOCS.into_iter().collect();

    // Every active unit exactly once, the texts the bodies; pages of 2 export the same lines.
    let first = export(&wd, &[])?;
    check_full(&first, &bodies)?;
    assert_eq!(export(&wd, &["--page-size", "2"])?, first);
    let out = wd.expect(&["export", "--page-size", "2", "--out", "all.jsonl"], 0)?;
    assert!(out.stdout.contains("exported"), "{out:?}");
    let file = std::fs::read_to_string(wd.path().join("all.jsonl"))?;
    assert_eq!(file.lines().count(), first.len());
    let entries = wd.entries()?;
    assert!(
        entries.iter().all(|name| !name.ends_with(".partial")),
        "no partial file is left: {entries:?}"
    );
    assert!(
        export(&wd, &["--since", "r1"])?.is_empty(),
        "nothing since r1"
    );

    // Edit one document; run everything again.
    wd.write("docs/kb/a.md", A_EDITED.as_bytes())?;
    wd.expect(&["import", "--execute", "docs"], 0)?;
    wd.expect(&["run", "--execute", "--run-id", "r2", "--quiet"], 0)?;
    bodies.insert("kb/a.md", A_EDITED);
    let now = export(&wd, &[])?;
    check_full(&now, &bodies)?;

    let since = export(&wd, &["--since", "r1"])?;
    assert!(
        since.iter().all(|line| line["document"] == "kb/a.md"),
        "only the edited document: {since:?}"
    );
    let ops = |op: &str| since.iter().filter(|l| l["op"] == op).count();
    assert_eq!(ops("remove"), 1, "`Two` is gone: {since:?}");
    assert!(
        ops("upsert") >= 2
            && ops("upsert") < now.iter().filter(|l| l["document"] == "kb/a.md").count(),
        "`One` and `Four`, not the unchanged units: {since:?}"
    );
    let (mut index, mut expected) = (BTreeMap::new(), BTreeMap::new());
    apply(&mut index, &first);
    apply(&mut index, &since);
    apply(&mut expected, &now);
    assert_eq!(index, expected, "the changes take r1's export to now's");

    // A run refused with a clear next action.
    let never = wd.expect(&["export", "--since", "r9"], 8)?;
    assert!(never.stderr.contains("no run `r9`"), "{never:?}");
    assert!(never.stderr.contains("iu-cutter export"), "{never:?}");
    Ok(())
}

#[test]
fn export_streams_every_active_unit_once_and_since_a_run_only_its_changes() -> TestResult {
    export_flow(None)
}

#[test]
fn export_streams_every_active_unit_once_and_since_a_run_only_its_changes_on_postgres() -> TestResult
{
    let test = "export_streams_every_active_unit_once_and_since_a_run_only_its_changes_on_postgres";
    let Some(url) = iu_cutter_test_env::pg_url(test) else {
        return Ok(());
    };
    let schema = Schema::create(&url, "export")?;
    export_flow(Some(&in_schema(&url, &schema.name)))
}

#[test]
fn a_held_runs_staged_units_and_their_diff_are_shown_before_enact() -> TestResult {
    let wd = workdir(None)?;
    wd.init_and_import("docs")?;
    wd.expect(&["run", "--execute", "--run-id", "r1", "--quiet"], 0)?;
    wd.write("docs/kb/a.md", A_EDITED.as_bytes())?;
    wd.expect(&["import", "--execute", "docs"], 0)?;
    wd.expect(
        &[
            "run",
            "--execute",
            "--id",
            "kb/a.md",
            "--run-id",
            "h1",
            "--until",
            "write-verify",
            "--quiet",
        ],
        0,
    )?;

    // The active units are still r1's; --run shows h1's staged ones, texts included.
    let active = wd.json(&["units", "kb/a.md", "--json"])?;
    assert_eq!(active["generation"], "r1", "{active}");
    assert!(
        active["units"][0].get("text").is_none(),
        "text only with --text"
    );
    let staged = wd.json(&["units", "kb/a.md", "--run", "h1", "--text", "--json"])?;
    assert_eq!(staged["generation"], "h1", "{staged}");
    assert_eq!(staged["generation_state"], "staged", "{staged}");
    assert_eq!(staged["active_generation"], "r1", "{staged}");
    let texts: String = staged["units"]
        .as_array()
        .ok_or("units")?
        .iter()
        .map(|u| text(u, "text"))
        .collect();
    assert_eq!(texts, A_EDITED);
    let shown = wd.expect(&["units", "kb/a.md", "--run", "h1", "--text"], 0)?;
    assert!(shown.stdout.contains("generation h1 (staged)"), "{shown:?}");
    assert!(shown.stdout.contains("First, amended."), "{shown:?}");

    let diff = wd.json(&["diff", "kb/a.md", "--run", "h1", "--json"])?;
    assert_eq!(
        (&diff["generation_a"], &diff["generation_b"]),
        (&Value::from("r1"), &Value::from("h1")),
        "{diff}"
    );
    assert_eq!(
        (&diff["removed"], &diff["added"]),
        (&Value::from(1), &Value::from(1)),
        "{diff}"
    );
    assert!(diff["changed"].as_u64().is_some_and(|n| n >= 1), "{diff}");

    // A run that never cut the document, and one the journal does not know: exit 8, named.
    for args in [
        ["units", "kb/b.md", "--run", "h1"],
        ["diff", "kb/b.md", "--run", "h1"],
    ] {
        let refused = wd.expect(&args, 8)?;
        assert!(
            refused
                .stderr
                .contains("run `h1` has no generation of document `kb/b.md`"),
            "{refused:?}"
        );
    }
    let unknown = wd.expect(&["units", "kb/a.md", "--run", "r9"], 8)?;
    assert!(unknown.stderr.contains("no run `r9`"), "{unknown:?}");

    // Enacted, the staged units become the active ones.
    wd.expect(&["enact", "h1", "--execute", "--quiet"], 0)?;
    let enacted = wd.json(&["units", "kb/a.md", "--text", "--json"])?;
    assert_eq!(enacted["generation"], "h1");
    assert_eq!(enacted["units"], staged["units"]);
    Ok(())
}

/// Two exports to one `--out FILE` at once (the scheduled export, and an operator's own, or a
/// retry while the first still runs): both wrote `FILE.partial`, each truncating what the other
/// had written. The one that finished first renamed the shared file into place, said it was
/// written, and the other kept writing into it: `FILE` held the first's lines, then zero bytes,
/// then the other's tail.
#[test]
fn two_exports_to_one_file_at_once_leave_it_whole() -> TestResult {
    let wd = Workdir::with_acts("acts", 60, 30)?;
    wd.expect(&["run", "--execute", "--run-id", "r1", "--quiet"], 0)?;
    let whole = wd.expect(&["export"], 0)?.stdout;
    // A slow full export (a page a unit) is writing when a short one to the same file starts.
    let slow = ["export", "--page-size", "1", "--out", "same.jsonl"];
    let (mut full, shown) = wd.spawn(&slow, &[])?;
    crate::support::wait_for(&wd.path().join("same.jsonl.partial"), &mut full)?;
    std::thread::sleep(std::time::Duration::from_millis(300));
    wd.expect(&["export", "--since", "r1", "--out", "same.jsonl"], 0)?;
    let full = crate::support::Run::of_child(shown, full)?;
    let file = std::fs::read(wd.path().join("same.jsonl"))?;
    assert!(
        file.is_empty() || file == whole.as_bytes(),
        "the file is neither export: {} bytes ({} zero bytes), the full export {} bytes; {full:?}",
        file.len(),
        file.iter().filter(|b| **b == 0).count(),
        whole.len()
    );
    Ok(())
}

/// `--out` naming a directory: the export is read and written to `DIR.PID.partial`, then the
/// rename onto the directory fails. The error said it cannot write DIR, and left the partial file
/// behind, a whole export of every unit's text that nothing names and nothing removes.
#[test]
fn an_export_whose_rename_fails_leaves_no_partial_file() -> TestResult {
    let wd = workdir(None)?;
    wd.init_and_import("docs")?;
    wd.expect(&["run", "--execute", "--run-id", "r1", "--quiet"], 0)?;
    std::fs::create_dir(wd.path().join("taken"))?;
    let run = wd.run(&["export", "--out", "taken"])?;
    assert_ne!(run.code, 0, "{run:?}");
    let left: Vec<String> = std::fs::read_dir(wd.path())?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|name| name.starts_with("taken."))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}; {run:?}");
    Ok(())
}
