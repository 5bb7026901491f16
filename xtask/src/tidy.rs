//! Tidy tests (as rust-analyzer's `xtask/src/tidy.rs`): the architecture invariants of
//! ARCHITECTURE.md that the dependency graph can show, checked on `cargo metadata`.
//!
//! - `live-execution` is the bottom: it depends on no crate of the workspace, and built without
//!   features it depends on no database driver.
//! - No database driver below the stores: `phase-core`, the five phases, `cut` and the
//!   simulator reach none, with every feature they ask for (a driver only comes in through
//!   `live-execution`'s `sqlite` or `postgres` features, forwarded by the orchestrator's
//!   features of the same names, which the program asks for).
//! - The cut is pure: it depends on `live-execution` without features and on small crates only.
//! - Phases never depend on each other, nor on the orchestrator or the simulator: only on
//!   `phase-core`, `live-execution` and (cut-leg-a) `cut`.
//! - The orchestrator's library depends only on the crates below it, and built without features
//!   reaches no database driver and no command-line crate (clap, indicatif, toml, ...): services
//!   embed it; and `cargo tree` of it without features stays within [`RUNNER_MAX_TREE_LINES`]
//!   lines. Nothing that ships depends on a test crate, the benchmarks or xtask; `test-env`
//!   depends on nothing.
//!
//! The graph is walked feature-aware for the workspace's crates (the features each one asks of
//! the next, from the manifests), so that a driver enabled for the program does not count
//! against the crates below it; beyond the workspace it follows `cargo metadata`'s resolved
//! graph, whose features are unified over the workspace (an over-approximation: it can only
//! find more).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// Crates that talk to a database (by name, or prefix for the `sqlx-*` family).
const DRIVERS: &[&str] = &[
    "sqlx",
    "libsqlite3-sys",
    "rusqlite",
    "postgres",
    "tokio-postgres",
    "postgres-protocol",
    "mysql",
    "mysql_async",
    "diesel",
    "sea-orm",
];

const LIVE: &str = "iu-cutter-live-execution";
const CORE: &str = "iu-cutter-phase-core";
const CUT: &str = "iu-cutter-cut";
const SIMULATOR: &str = "iu-cutter-simulator";
const ORCHESTRATOR: &str = "iu-cutter-orchestrator";
/// The program, `iu-cutter` (cli/): the one crate that wires the command line to the runner.
const PROGRAM: &str = "iu-cutter";
/// The program's own crates: the runner's library must reach none of them.
const COMMAND_LINE: &[&str] = &[
    "clap",
    "clap_complete",
    "clap_mangen",
    "indicatif",
    "toml",
    "tracing-subscriber",
];
/// The most lines `cargo tree -p iu-cutter-orchestrator -e normal --no-default-features` may
/// print: what a service embedding the runner pays for, counted as issue 18 counts it (each
/// workspace crate repeats its direct dependencies, so there are fewer distinct crates: 47 at
/// 100 lines). A ceiling at today's count, so that a new dependency of the library is a
/// decision, not an accident; the goal is below 80. (It was 99: the cut's newline
/// search took `memchr`, a crate already in the tree through `serde_json`, which adds a line
/// and no crate.)
#[cfg(test)]
const RUNNER_MAX_TREE_LINES: usize = 100;
const PHASES: &[&str] = &[
    "iu-cutter-phase-backup",
    "iu-cutter-phase-cut-leg-a",
    "iu-cutter-phase-leg-b-record",
    "iu-cutter-phase-write-verify",
    "iu-cutter-phase-lifecycle-enact",
];
/// Crates that never ship: nothing that ships may depend on them.
const NOT_SHIPPED: &[&str] = &[
    "iu-cutter-tests",
    "iu-cutter-test-env",
    "iu-cutter-bench",
    "iu-cutter-xtask",
];
/// The cut's dependencies: `live-execution` (without features) and small crates.
const CUT_ALLOWED: &[&str] = &[
    LIVE,
    "memchr",
    "regex",
    "serde",
    "sha2",
    "thiserror",
    "unicode-normalization",
];

fn is_driver(name: &str) -> bool {
    DRIVERS.contains(&name) || name.starts_with("sqlx-")
}

/// One package of the metadata: its declared dependencies and feature table.
struct Package<'a> {
    json: &'a Value,
}

impl<'a> Package<'a> {
    fn name(&self) -> &'a str {
        self.json["name"].as_str().unwrap_or_default()
    }

    fn id(&self) -> &'a str {
        self.json["id"].as_str().unwrap_or_default()
    }

    /// Declared dependencies of kind normal or build (what the library links).
    fn linked(&self) -> impl Iterator<Item = &'a Value> {
        self.json["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|dep| dep["kind"].as_str() != Some("dev"))
    }

    /// The features `asked`, closed over the feature table;
    /// also the optional dependencies they enable and the features they ask of dependencies.
    fn enable(&self, asked: &BTreeSet<String>) -> Enabled {
        let table = &self.json["features"];
        let mut enabled = Enabled::default();
        let mut todo: Vec<String> = asked.iter().cloned().collect();
        while let Some(feature) = todo.pop() {
            if !enabled.features.insert(feature.clone()) {
                continue;
            }
            let Some(items) = table[feature.as_str()].as_array() else {
                // An optional dependency's implicit feature (a package without a `default`
                // feature has no such dependency either).
                if feature != "default" {
                    enabled.deps.insert(feature);
                }
                continue;
            };
            for item in items.iter().filter_map(Value::as_str) {
                if let Some(dep) = item.strip_prefix("dep:") {
                    enabled.deps.insert(dep.to_owned());
                } else if let Some((dep, feature)) = item.split_once('/') {
                    let (dep, weak) = match dep.strip_suffix('?') {
                        Some(dep) => (dep, true),
                        None => (dep, false),
                    };
                    if !weak {
                        enabled.deps.insert(dep.to_owned());
                    }
                    enabled
                        .asked_of
                        .entry(dep.to_owned())
                        .or_default()
                        .insert(feature.to_owned());
                } else {
                    todo.push(item.to_owned());
                }
            }
        }
        enabled
    }
}

#[derive(Default)]
struct Enabled {
    features: BTreeSet<String>,
    /// Optional dependencies switched on (by name or rename).
    deps: BTreeSet<String>,
    /// Features asked of a dependency (by name or rename) through `dep/feature`.
    asked_of: BTreeMap<String, BTreeSet<String>>,
}

/// The metadata, indexed.
struct Graph<'a> {
    packages: BTreeMap<&'a str, Package<'a>>,
    members: BTreeSet<&'a str>,
    /// Resolved graph: package id → (extern name, package id) of its linked dependencies.
    resolved: BTreeMap<&'a str, Vec<(&'a str, &'a str)>>,
}

impl<'a> Graph<'a> {
    fn new(metadata: &'a Value) -> Graph<'a> {
        let packages = metadata["packages"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|json| {
                let package = Package { json };
                (package.id(), package)
            })
            .collect();
        let members = metadata["workspace_members"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let resolved = metadata["resolve"]["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|node| {
                let deps = node["deps"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|dep| {
                        dep["dep_kinds"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|kind| kind["kind"].as_str() != Some("dev"))
                    })
                    .filter_map(|dep| Some((dep["name"].as_str()?, dep["pkg"].as_str()?)))
                    .collect();
                (node["id"].as_str().unwrap_or_default(), deps)
            })
            .collect();
        Graph {
            packages,
            members,
            resolved,
        }
    }

    fn member(&self, name: &str) -> Option<&Package<'a>> {
        self.members
            .iter()
            .filter_map(|id| self.packages.get(id))
            .find(|package| package.name() == name)
    }

    fn name_of(&self, id: &str) -> &'a str {
        self.packages.get(id).map(Package::name).unwrap_or_default()
    }

    /// The linked dependencies of member `package` with `asked` features (and its default
    /// ones): (name, package id, features asked of it, whether its defaults are on).
    fn direct(
        &self,
        package: &Package<'a>,
        asked: &BTreeSet<String>,
    ) -> Vec<(&'a str, &'a str, BTreeSet<String>)> {
        let enabled = package.enable(asked);
        let resolved = self.resolved.get(package.id());
        package
            .linked()
            .filter(|dep| {
                let key = dep["rename"].as_str().or(dep["name"].as_str());
                !dep["optional"].as_bool().unwrap_or(false)
                    || key.is_some_and(|key| enabled.deps.contains(key))
            })
            .filter_map(|dep| {
                let name = dep["name"].as_str()?;
                let key = dep["rename"].as_str().unwrap_or(name);
                let extern_name = key.replace('-', "_");
                let (_, id) = resolved?
                    .iter()
                    .find(|(resolved_name, _)| *resolved_name == extern_name)?;
                let mut features: BTreeSet<String> = dep["features"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect();
                if dep["uses_default_features"].as_bool().unwrap_or(true) {
                    features.insert("default".to_owned());
                }
                features.extend(enabled.asked_of.get(key).into_iter().flatten().cloned());
                Some((name, *id, features))
            })
            .collect()
    }

    /// Every package `name` (a member) reaches through linked dependencies, built with
    /// `features`: feature-aware through the members, the resolved graph beyond them.
    fn reach(&self, name: &str, features: &[&str]) -> BTreeSet<&'a str> {
        let Some(start) = self.member(name) else {
            return BTreeSet::new();
        };
        let mut asked: BTreeSet<String> = features.iter().map(|f| (*f).to_owned()).collect();
        asked.insert("default".to_owned());
        let mut seen_members: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        let mut seen_external: BTreeSet<&str> = BTreeSet::new();
        let mut todo = vec![(start.id(), asked)];
        while let Some((id, asked)) = todo.pop() {
            if !self.members.contains(id) {
                if seen_external.insert(id) {
                    for (_, dep) in self.resolved.get(id).into_iter().flatten() {
                        todo.push((dep, BTreeSet::new()));
                    }
                }
                continue;
            }
            let first = !seen_members.contains_key(id);
            let seen = seen_members.entry(id).or_default();
            let before = seen.len();
            seen.extend(asked);
            if !first && seen.len() == before {
                continue;
            }
            let Some(package) = self.packages.get(id) else {
                continue;
            };
            let all = seen.clone();
            for (_, dep, features) in self.direct(package, &all) {
                todo.push((dep, features));
            }
        }
        seen_members
            .keys()
            .chain(seen_external.iter())
            .filter(|id| **id != start.id())
            .map(|id| self.name_of(id))
            .collect()
    }

    /// The names of the direct linked dependencies of member `name` (default features).
    fn direct_names(&self, name: &str) -> BTreeSet<&'a str> {
        let Some(package) = self.member(name) else {
            return BTreeSet::new();
        };
        let asked = BTreeSet::from(["default".to_owned()]);
        self.direct(package, &asked)
            .into_iter()
            .map(|(name, _, _)| name)
            .collect()
    }

    /// The features member `from` asks of its direct dependency `to`, if it depends on it.
    fn features_asked(&self, from: &str, to: &str) -> Option<BTreeSet<String>> {
        let package = self.member(from)?;
        let asked = BTreeSet::from(["default".to_owned()]);
        self.direct(package, &asked)
            .into_iter()
            .find(|(name, _, _)| *name == to)
            .map(|(_, _, features)| features)
    }

    fn member_names(&self) -> BTreeSet<&'a str> {
        self.members.iter().map(|id| self.name_of(id)).collect()
    }
}

/// Every broken invariant, one sentence each naming the crates.
fn violations(metadata: &Value) -> Vec<String> {
    let graph = Graph::new(metadata);
    let members = graph.member_names();
    let mut found = Vec::new();
    for rule in [
        known_members,
        no_drivers_below_the_stores,
        the_cut_is_pure,
        the_runner_is_a_library,
        layers,
        shipping,
    ] {
        rule(&graph, &members, &mut found);
    }
    found
}

/// The crates the rules name are members (the rules check crates by name).
fn known_members(_graph: &Graph<'_>, members: &BTreeSet<&str>, found: &mut Vec<String>) {
    for expected in [LIVE, CORE, CUT, SIMULATOR, ORCHESTRATOR, PROGRAM]
        .iter()
        .chain(PHASES)
    {
        if !members.contains(expected) {
            found.push(format!(
                "{expected} is not a workspace member: the tidy test checks crates by name"
            ));
        }
    }
}

/// `live-execution` is the bottom, without a driver unless asked; nothing below the stores
/// reaches a driver.
fn no_drivers_below_the_stores(
    graph: &Graph<'_>,
    members: &BTreeSet<&str>,
    found: &mut Vec<String>,
) {
    let drivers = drivers_reached(graph, LIVE);
    if !drivers.is_empty() {
        found.push(format!(
            "{LIVE} built without features depends on the database drivers {}",
            drivers.join(", ")
        ));
    }
    for member in graph.direct_names(LIVE).intersection(members) {
        found.push(format!(
            "{LIVE} is the bottom of the workspace but depends on {member}"
        ));
    }

    let below_the_stores = [CORE, CUT, SIMULATOR].iter().chain(PHASES);
    for crate_name in below_the_stores {
        let drivers = drivers_reached(graph, crate_name);
        if !drivers.is_empty() {
            found.push(format!(
                "{crate_name} reaches the database drivers {}: only the stores ({LIVE}'s sql \
                 features) may",
                drivers.join(", ")
            ));
        }
    }
}

/// The database drivers `crate_name` reaches, built without features.
fn drivers_reached<'a>(graph: &Graph<'a>, crate_name: &str) -> Vec<&'a str> {
    graph
        .reach(crate_name, &[])
        .into_iter()
        .filter(|name| is_driver(name))
        .collect()
}

/// The runner's library, built without features, reaches no driver and no command-line crate.
fn the_runner_is_a_library(graph: &Graph<'_>, _members: &BTreeSet<&str>, found: &mut Vec<String>) {
    let reached = graph.reach(ORCHESTRATOR, &[]);
    let unwanted: Vec<&str> = reached
        .iter()
        .copied()
        .filter(|name| is_driver(name) || COMMAND_LINE.contains(name) || *name == PROGRAM)
        .collect();
    if !unwanted.is_empty() {
        found.push(format!(
            "{ORCHESTRATOR} built without features reaches {}: services embed the runner, so \
             drivers come only with its `sqlite`/`postgres` features and the command line only \
             with the program ({PROGRAM})",
            unwanted.join(", ")
        ));
    }
}

/// The cut depends on `live-execution` without features and on small crates only.
fn the_cut_is_pure(graph: &Graph<'_>, _members: &BTreeSet<&str>, found: &mut Vec<String>) {
    for dep in graph.direct_names(CUT) {
        if !CUT_ALLOWED.contains(&dep) {
            found.push(format!(
                "{CUT} depends on {dep}: the cut depends on {} only",
                CUT_ALLOWED.join(", ")
            ));
        }
    }
    if let Some(features) = graph.features_asked(CUT, LIVE) {
        let extra: Vec<&String> = features.iter().filter(|f| *f != "default").collect();
        if !extra.is_empty() {
            found.push(format!(
                "{CUT} asks {LIVE} for features {extra:?}: it must take it without features"
            ));
        }
    }
}

/// Phases, phase-core, the simulator and the orchestrator's library depend only on what is
/// below them.
fn layers(graph: &Graph<'_>, members: &BTreeSet<&str>, found: &mut Vec<String>) {
    for phase in PHASES {
        for dep in graph.direct_names(phase).intersection(members) {
            let allowed = *dep == LIVE || *dep == CORE || (*dep == CUT);
            if !allowed {
                found.push(format!(
                    "{phase} depends on {dep}: a phase depends only on {CORE}, {LIVE} and {CUT} \
                     (phases communicate through durable state, never through each other)"
                ));
            }
        }
    }
    for (crate_name, allowed) in [(CORE, &[LIVE][..]), (SIMULATOR, &[LIVE][..])] {
        for dep in graph.direct_names(crate_name).intersection(members) {
            if !allowed.contains(dep) {
                found.push(format!(
                    "{crate_name} depends on {dep}: it may depend on {} only",
                    allowed.join(", ")
                ));
            }
        }
    }

    let below_orchestrator: BTreeSet<&str> = [LIVE, CORE, CUT, SIMULATOR]
        .into_iter()
        .chain(PHASES.iter().copied())
        .collect();
    for dep in graph.direct_names(ORCHESTRATOR).intersection(members) {
        if !below_orchestrator.contains(dep) {
            found.push(format!(
                "{ORCHESTRATOR} depends on {dep}: its library depends only on the crates below \
                 it ({})",
                below_orchestrator
                    .iter()
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
}

/// Nothing that ships depends on a test crate; `test-env` depends on nothing.
fn shipping(graph: &Graph<'_>, members: &BTreeSet<&str>, found: &mut Vec<String>) {
    for shipped in members.iter().filter(|name| !NOT_SHIPPED.contains(name)) {
        for dep in graph
            .reach(shipped, &[])
            .into_iter()
            .filter(|name| NOT_SHIPPED.contains(name))
        {
            found.push(format!(
                "{shipped} ships but depends on {dep}, which does not"
            ));
        }
    }
    if let Some(test_env) = graph.member("iu-cutter-test-env")
        && test_env.linked().next().is_some()
    {
        found
            .push("iu-cutter-test-env must have no dependencies: every test crate links it".into());
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use serde_json::{Value, json};

    use super::violations;
    type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// `cargo metadata` of this workspace.
    fn metadata() -> Result<Value, Box<dyn std::error::Error>> {
        let metadata = cargo(&["metadata", "--format-version", "1"])?;
        Ok(serde_json::from_str(&metadata)?)
    }

    /// `cargo args` in the workspace: its stdout, or an error naming the command, then its
    /// stderr.
    fn cargo(args: &[&str]) -> Result<String, Box<dyn std::error::Error>> {
        let root = crate::cargo::workspace_root()?;
        let output = Command::new(crate::cargo::bin())
            .args(args)
            .current_dir(&root)
            .output()?;
        Ok(crate::cargo::stdout_or(
            &output,
            format!("`cargo {}` failed", args.join(" ")),
        )?)
    }

    #[test]
    fn the_dependency_graph_keeps_the_architecture_invariants() -> TestResult {
        let metadata = metadata()?;
        // The walk sees drivers where they are: the program links both, through the features.
        let graph = super::Graph::new(&metadata);
        let program = graph.reach(super::PROGRAM, &[]);
        let sqlite = graph.reach(super::LIVE, &["sqlite"]);
        let runner_sqlite = graph.reach(super::ORCHESTRATOR, &["sqlite"]);
        for (what, reached, driver) in [
            ("the program", &program, "sqlx-postgres"),
            ("the program", &program, "libsqlite3-sys"),
            ("the program", &program, "clap"),
            ("live-execution with `sqlite`", &sqlite, "libsqlite3-sys"),
            (
                "the orchestrator with `sqlite`",
                &runner_sqlite,
                "libsqlite3-sys",
            ),
        ] {
            assert!(reached.contains(driver), "{what} should reach {driver}");
        }
        let found = violations(&metadata);
        assert!(
            found.is_empty(),
            "ARCHITECTURE.md's invariants are broken:\n{}",
            found.join("\n")
        );
        Ok(())
    }

    /// The runner's library without features stays within its ceiling of `cargo tree` lines.
    #[test]
    fn the_runner_s_dependency_tree_stays_small() -> TestResult {
        let args = [
            "tree",
            "-p",
            super::ORCHESTRATOR,
            "-e",
            "normal",
            "--no-default-features",
        ];
        let tree = cargo(&args)?;
        let lines = tree.lines().count();
        assert!(
            lines <= super::RUNNER_MAX_TREE_LINES,
            "`cargo {}` prints {lines} lines, more than {}: a service embedding the runner pays \
             for each new dependency (put it behind a feature the program enables, or raise the \
             ceiling on purpose):\n{tree}",
            args.join(" "),
            super::RUNNER_MAX_TREE_LINES
        );
        Ok(())
    }

    /// Adds to the package named `from` a dependency on the package named `to`, as a manifest
    /// line would, and the edge to the resolved graph.
    fn add_dependency(metadata: &mut Value, from: &str, to: &str, features: &[&str]) {
        let id_of = |metadata: &Value, name: &str| -> String {
            metadata["packages"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["name"] == name)
                .and_then(|p| p["id"].as_str())
                .map(str::to_owned)
                .unwrap_or_else(|| panic!("no package {name}"))
        };
        let (from_id, to_id) = (id_of(metadata, from), id_of(metadata, to));
        for package in metadata["packages"].as_array_mut().into_iter().flatten() {
            if package["id"] == from_id.as_str()
                && let Some(deps) = package["dependencies"].as_array_mut()
            {
                deps.push(json!({
                    "name": to, "kind": null, "optional": false, "rename": null,
                    "uses_default_features": true, "features": features,
                }));
            }
        }
        for node in metadata["resolve"]["nodes"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            if node["id"] == from_id.as_str()
                && let Some(deps) = node["deps"].as_array_mut()
            {
                deps.push(json!({
                    "name": to.replace('-', "_"), "pkg": to_id,
                    "dep_kinds": [{"kind": null, "target": null}],
                }));
            }
        }
    }

    /// The check can fail: each doctored edge breaks exactly the invariant it should.
    #[test]
    fn a_forbidden_dependency_is_named() -> TestResult {
        let clean = metadata()?;
        let cases: [(&str, &str, &[&str], &str); 8] = [
            (
                "iu-cutter-orchestrator",
                "clap",
                &[],
                "iu-cutter-orchestrator built without features reaches clap",
            ),
            (
                "iu-cutter-orchestrator",
                "iu-cutter-live-execution",
                &["sqlite"],
                "iu-cutter-orchestrator built without features reaches ",
            ),
            (
                "iu-cutter-phase-backup",
                "iu-cutter-orchestrator",
                &[],
                "iu-cutter-phase-backup depends on iu-cutter-orchestrator",
            ),
            (
                "iu-cutter-phase-write-verify",
                "iu-cutter-phase-backup",
                &[],
                "iu-cutter-phase-write-verify depends on iu-cutter-phase-backup",
            ),
            (
                "iu-cutter-phase-core",
                "iu-cutter-live-execution",
                &["sqlite"],
                "iu-cutter-phase-core reaches the database drivers ",
            ),
            (
                "iu-cutter-cut",
                "sqlx",
                &[],
                "iu-cutter-cut reaches the database drivers ",
            ),
            (
                "iu-cutter-orchestrator",
                "iu-cutter-test-env",
                &[],
                "iu-cutter-orchestrator depends on iu-cutter-test-env",
            ),
            (
                "iu-cutter-live-execution",
                "iu-cutter-phase-core",
                &[],
                "iu-cutter-live-execution is the bottom of the workspace but depends on \
                 iu-cutter-phase-core",
            ),
        ];
        for (from, to, features, expected) in cases {
            let mut doctored = clean.clone();
            add_dependency(&mut doctored, from, to, features);
            let found = violations(&doctored);
            let driver = if features.is_empty() {
                to
            } else {
                "libsqlite3-sys"
            };
            assert!(
                found.iter().any(|v| v.starts_with(expected)
                    && (!expected.contains("drivers") || v.contains(driver))),
                "{from} → {to} {features:?}: expected `{expected}…`, found {found:#?}"
            );
        }
        Ok(())
    }
}
