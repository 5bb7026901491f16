//! Tidy tests on the sources (as rust-analyzer's): no import circles between sibling modules,
//! and no production function over [`MAX_FN_LINES`] lines. Test code (`tests.rs`, `tests/`
//! directories, everything after a file's first `#[cfg(test)]`) and the test-support crates
//! (`tests/`, `test-env/`) are left out.
//!
//! Circles: within every module of every workspace crate, the sibling modules form a directed
//! graph by what each names of the others (`crate::a::b`, `super::b`), and that graph has no
//! cycle. A cycle means two modules that cannot be read or changed one without the other;
//! ARCHITECTURE.md lists each crate's modules in the order they may depend on each other.
//!
//! Long functions: a function is measured from its `fn` line to the closing brace rustfmt puts
//! at the `fn` line's indentation.
//!
//! Command lines: the runner and its phases (the library a service embeds) say what to do next
//! as typed `NextAction`s, which the program words; their code names no invocation of the
//! `iu-cutter` program ([`cli_invocations`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// A module, as its path from the crate root (`["cli", "run"]`).
type ModulePath = Vec<String>;

/// Every `.rs` file under `src`, with its module path; test modules (`tests.rs`, `tests/`) are
/// left out, as is everything after a file's first `#[cfg(test)]`.
pub(crate) fn modules(src: &Path) -> Vec<(ModulePath, String)> {
    let not_tests = |path: &Path| path.file_stem().is_none_or(|stem| stem != "tests");
    let mut found = Vec::new();
    for path in walk(src, not_tests) {
        if path.is_dir() || !not_tests(&path) || path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        // What a module imports, not what its comments mention.
        let text = code
            .lines()
            .map(|line| line.split("//").next().unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n");
        found.push((module_path(src, &path), text));
    }
    found
}

/// Every path below `root`, descending into the directories `enter` admits.
fn walk(root: &Path, enter: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for path in entries.flatten().map(|e| e.path()) {
            if path.is_dir() && enter(&path) {
                pending.push(path.clone());
            }
            found.push(path);
        }
    }
    found
}

fn module_path(src: &Path, file: &Path) -> ModulePath {
    let relative = file.strip_prefix(src).unwrap_or(file);
    let mut parts: ModulePath = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The paths a module names: `crate::a::b` as `[a, b]`, `super::b` resolved against `from`.
fn references(from: &ModulePath, text: &str) -> Vec<ModulePath> {
    let mut found = Vec::new();
    for (prefix, base) in [("crate::", Vec::new()), ("super::", parent(from))] {
        for (at, _) in text.match_indices(prefix) {
            let preceded = text[..at].chars().next_back();
            if preceded.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let rest = &text[at + prefix.len()..];
            for path in expand(rest) {
                let mut full = base.clone();
                full.extend(path);
                found.push(full);
            }
        }
    }
    found
}

fn parent(module: &ModulePath) -> ModulePath {
    module[..module.len().saturating_sub(1)].to_vec()
}

/// `a::b::C`, or a group `{a, b::c}`, as module paths.
fn expand(rest: &str) -> Vec<ModulePath> {
    let mut path = Vec::new();
    let mut chars = rest;
    loop {
        if let Some(group) = chars.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            return group[..end]
                .split(',')
                .flat_map(|item| {
                    expand(item.trim()).into_iter().map({
                        let path = path.clone();
                        move |tail| [path.clone(), tail].concat()
                    })
                })
                .collect();
        }
        let end = chars
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(chars.len());
        if end == 0 {
            break;
        }
        path.push(chars[..end].to_owned());
        match chars[end..].strip_prefix("::") {
            Some(next) => chars = next,
            None => break,
        }
    }
    vec![path]
}

/// The cycles among sibling modules of one crate: each as the parent and its members.
pub(crate) fn circles(src: &Path) -> Vec<(ModulePath, BTreeSet<String>)> {
    let files = modules(src);
    let known: BTreeSet<ModulePath> = files.iter().map(|(m, _)| m.clone()).collect();
    let mut edges: BTreeMap<ModulePath, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (from, text) in &files {
        for target in references(from, text) {
            let common = from.iter().zip(&target).take_while(|(a, b)| a == b).count();
            let (Some(a), Some(b)) = (from.get(common), target.get(common)) else {
                continue;
            };
            if known.contains(&target[..=common]) {
                let graph = edges.entry(from[..common].to_vec()).or_default();
                graph.entry(a.clone()).or_default().insert(b.clone());
            }
        }
    }
    let mut found = Vec::new();
    for (parent, graph) in edges {
        for component in strongly_connected(&graph) {
            if component.len() > 1 {
                found.push((parent.clone(), component));
            }
        }
    }
    found
}

/// Kosaraju's algorithm over a small graph.
fn strongly_connected(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    let nodes: BTreeSet<&String> = graph.keys().chain(graph.values().flatten()).collect();
    let mut order = Vec::new();
    let mut seen = BTreeSet::new();
    for start in &nodes {
        visit(start, graph, &mut seen, &mut order);
    }
    let mut reverse: BTreeMap<&String, BTreeSet<&String>> = BTreeMap::new();
    for (from, targets) in graph {
        for to in targets {
            reverse.entry(to).or_default().insert(from);
        }
    }
    let mut assigned = BTreeSet::new();
    let mut components = Vec::new();
    for node in order.into_iter().rev() {
        if !assigned.insert(node) {
            continue;
        }
        let mut component = BTreeSet::from([node.clone()]);
        let mut stack = vec![node];
        while let Some(at) = stack.pop() {
            for &from in reverse.get(at).into_iter().flatten() {
                if assigned.insert(from) {
                    component.insert(from.clone());
                    stack.push(from);
                }
            }
        }
        components.push(component);
    }
    components
}

fn visit<'a>(
    node: &'a String,
    graph: &'a BTreeMap<String, BTreeSet<String>>,
    seen: &mut BTreeSet<&'a String>,
    order: &mut Vec<&'a String>,
) {
    if !seen.insert(node) {
        return;
    }
    for next in graph.get(node).into_iter().flatten() {
        visit(next, graph, seen, order);
    }
    order.push(node);
}

/// Every crate's `src` under the workspace root, but the test-support crates'.
pub(crate) fn crate_sources(root: &Path) -> Vec<PathBuf> {
    let enter = |dir: &Path| {
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        !name.starts_with('.') && name != "target" && name != "src"
    };
    let mut found: Vec<PathBuf> = std::iter::once(root.to_path_buf())
        .chain(
            walk(root, enter)
                .into_iter()
                .filter(|path| path.is_dir() && enter(path)),
        )
        .filter(|dir| {
            let test_support = dir.ends_with("tests") || dir.ends_with("test-env");
            dir.join("Cargo.toml").is_file() && dir.join("src").is_dir() && !test_support
        })
        .map(|dir| dir.join("src"))
        .collect();
    found.sort();
    found
}

/// The subcommands of the `iu-cutter` program (cli/src/cli/mod.rs), as a message names one.
const CLI_VERBS: &[&str] = &[
    "init",
    "import",
    "plan",
    "run",
    "enact",
    "verify",
    "report",
    "diff",
    "purge",
    "status",
    "units",
    "export",
    "resume",
    "rollback",
    "control",
    "serve",
    "version",
    "completions",
    "manpage",
    "self-check",
];

/// The lines of `text` (code, comments already left out) that name an invocation of the
/// program: `iu-cutter` followed by one of its subcommands.
pub(crate) fn cli_invocations(text: &str) -> Vec<String> {
    text.lines()
        .filter(|line| {
            line.match_indices("iu-cutter ").any(|(at, found)| {
                let rest = &line[at + found.len()..];
                let word: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '-')
                    .collect();
                CLI_VERBS.contains(&word.as_str())
            })
        })
        .map(|line| line.trim().to_owned())
        .collect()
}

/// The longest a production function may be, in lines.
pub(crate) const MAX_FN_LINES: usize = 100;

/// The functions of `text` longer than [`MAX_FN_LINES`]: name and length.
pub(crate) fn long_functions(text: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    for (at, line) in lines.iter().enumerate() {
        let Some(name) = fn_name(line) else { continue };
        let indent = &line[..line.len() - line.trim_start().len()];
        let closing = format!("{indent}}}");
        let opens_body = lines[at..]
            .iter()
            .find(|l| l.trim_end().ends_with('{') || l.trim_end().ends_with(';'))
            .is_some_and(|l| l.trim_end().ends_with('{'));
        if !opens_body {
            continue;
        }
        if let Some(end) = lines[at..].iter().position(|l| l.trim_end() == closing)
            && end + 1 > MAX_FN_LINES
        {
            found.push((name.to_owned(), end + 1));
        }
    }
    found
}

/// The name of the function a line declares, if it declares one.
fn fn_name(line: &str) -> Option<&str> {
    let mut rest = line.trim_start();
    for qualifier in [
        "pub(crate) ",
        "pub(super) ",
        "pub ",
        "const ",
        "async ",
        "unsafe ",
    ] {
        rest = rest.strip_prefix(qualifier).unwrap_or(rest);
    }
    let rest = rest.strip_prefix("fn ")?;
    let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_'))?;
    // A macro's pattern or template (`fn $name(…)`) declares no function of its own: the
    // functions it makes are as long as their bodies, not as the macro.
    Some(&rest[..end]).filter(|name| !name.is_empty())
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::Path;

    use super::{MAX_FN_LINES, circles, cli_invocations, crate_sources, long_functions, modules};

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn no_module_imports_a_module_that_imports_it() -> TestResult {
        let root = crate::cargo::workspace_root()?;
        let sources = crate_sources(&root);
        assert!(sources.len() > 5, "found only {sources:?}");
        let found: Vec<String> = sources
            .iter()
            .flat_map(|src| {
                circles(src).into_iter().map(move |(parent, members)| {
                    format!("{}: {parent:?}: {members:?}", src.display())
                })
            })
            .collect();
        assert!(found.is_empty(), "import circles:\n{}", found.join("\n"));
        Ok(())
    }

    #[test]
    fn no_production_function_is_over_the_limit() -> TestResult {
        let root = crate::cargo::workspace_root()?;
        let mut found = Vec::new();
        for src in crate_sources(&root) {
            for (module, text) in modules(&src) {
                for (name, lines) in long_functions(&text) {
                    found.push(format!(
                        "{} {module:?} {name}: {lines} lines",
                        src.display()
                    ));
                }
            }
        }
        assert!(
            found.is_empty(),
            "functions over {MAX_FN_LINES} lines:\n{}",
            found.join("\n")
        );
        Ok(())
    }

    /// The runner and the phases (what a service embeds) name no command line of the program:
    /// their next actions are typed values that the CLI and `serve` word.
    #[test]
    fn the_runner_and_phases_name_no_command_line() -> TestResult {
        let root = crate::cargo::workspace_root()?;
        let mut sources = vec![root.join("orchestrator/src")];
        sources.extend(
            fs::read_dir(root.join("phases"))?
                .flatten()
                .map(|entry| entry.path().join("src"))
                .filter(|src| src.is_dir()),
        );
        assert!(sources.len() >= 7, "found only {sources:?}");
        let found: Vec<String> = sources
            .iter()
            .flat_map(|src| {
                modules(src).into_iter().flat_map(move |(module, text)| {
                    cli_invocations(&text)
                        .into_iter()
                        .map(move |line| format!("{} {module:?}: {line}", src.display()))
                })
            })
            .collect();
        assert!(
            found.is_empty(),
            "command lines in the runner or a phase (return a NextAction instead):\n{}",
            found.join("\n")
        );
        Ok(())
    }

    #[test]
    fn a_command_line_is_told_from_the_program_s_name() {
        let text = "next: vec![],\n\
                    format!(\"then: iu-cutter rollback {run} --execute\"),\n\
                    \"write it through iu-cutter (its import)\",\n\
                    \"run `iu-cutter self-check` first\",\n\
                    \"iu-cutter wrote it; iu-cutter runs\",";
        assert_eq!(
            cli_invocations(text),
            [
                "format!(\"then: iu-cutter rollback {run} --execute\"),",
                "\"run `iu-cutter self-check` first\","
            ]
        );
    }

    /// The checks can fail: a circle of two modules and a long function in a scratch crate.
    #[test]
    fn a_circle_and_a_long_function_are_found() -> TestResult {
        let dir = std::env::temp_dir().join(format!("iu-cutter-tidy-{}", std::process::id()));
        let src = dir.join("src");
        fs::create_dir_all(src.join("cli"))?;
        let write = |path: &Path, text: &str| fs::write(src.join(path), text);
        write(Path::new("lib.rs"), "mod a;\nmod b;\nmod cli;\n")?;
        write(Path::new("a.rs"), "use crate::b::Thing;\n")?;
        write(Path::new("b.rs"), "use crate::{a::Other, cli};\n")?;
        write(Path::new("cli/mod.rs"), "mod run;\nmod plan;\n")?;
        write(Path::new("cli/run.rs"), "use super::plan::x;\n")?;
        write(
            Path::new("cli/plan.rs"),
            "// super::run is only mentioned\n",
        )?;
        let found = circles(&src);
        fs::remove_dir_all(&dir)?;
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, Vec::<String>::new());
        assert_eq!(found[0].1.iter().collect::<Vec<_>>(), ["a", "b"]);

        let body = "    step();\n".repeat(MAX_FN_LINES - 2);
        let long = format!("pub(crate) async fn long() {{\n{body}}}\n");
        assert!(long_functions(&long).is_empty(), "exactly at the limit");
        let longer =
            format!("fn longer(\n    a: u8,\n) {{\n{body}}}\ntrait T {{\n    fn f();\n}}\n");
        assert_eq!(
            long_functions(&longer),
            [("longer".to_owned(), MAX_FN_LINES + 2)]
        );
        let rows = "            $(#[$doc:meta])*\n".repeat(MAX_FN_LINES);
        let pattern = format!("        async fn $name:ident($($arg:tt)*) {{\n{rows}        }}\n");
        assert!(long_functions(&pattern).is_empty(), "a macro's pattern");
        Ok(())
    }
}
