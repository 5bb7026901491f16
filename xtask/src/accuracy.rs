//! `cargo xtask accuracy`: how well the cut finds the structure of real documents.
//!
//! The gold set (`tests/gold/`: documents, hand-made labels, `LABELLING.md`) says where each
//! unit of each document starts and what its path is. This task runs the cut crate's `gold_cut`
//! example, which cuts every document with every preset (`auto` included) and prints where its
//! units start, then scores the cuts against the labels:
//!
//! * **boundaries**: a unit start on a line the labels also start a unit on is a true positive;
//!   precision, recall and F1 per document, per preset (the documents labelled with that
//!   preset, cut with it) and micro-averaged over the whole set (each document cut with its
//!   labelled preset), for the tuned and the held-out documents apart. Line 1 is not scored:
//!   every cut starts there.
//! * **exact documents**: no boundary missed and none extra.
//! * **labels**: of the labelled units found, how many have exactly the labelled path
//!   (compared ignoring case, runs of whitespace and a trailing `.` or `:` on each label).
//! * **auto**: the micro F1 of `auto` against the micro F1 of the best preset chosen per document
//!   by hand (the oracle), and which preset `auto` chose.
//! * **losslessness**: every cut of every document by every preset concatenates back to it.
//!
//! `--check` fails when a floor is not met (`cargo xtask ci` runs it). The results also go to
//! `target/accuracy/results.md` and `results.json`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::args;
use crate::cargo::{self, output_dir, workspace_root};

/// The lowest micro-averaged boundary F1 over the whole gold set, each document cut with its
/// labelled preset.
pub(crate) const MICRO_F1_FLOOR: f64 = 0.98;
/// The lowest boundary F1 of any one preset on the documents labelled with it.
pub(crate) const PRESET_F1_FLOOR: f64 = 0.97;
/// How far below the per-document best preset `auto`'s micro F1 may be.
pub(crate) const AUTO_GAP_CEILING: f64 = 0.01;

/// What `cargo xtask accuracy` was asked.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Options {
    /// Fail when a floor is not met.
    pub(crate) check: bool,
    /// The gold set's directory (default `tests/gold` in the workspace).
    pub(crate) gold: Option<PathBuf>,
}

pub(crate) fn parse(args: &[String]) -> Result<Options, String> {
    args::read(args, Options::default(), |options, arg, args| {
        match arg.name {
            "--check" => options.check = arg.flag()?,
            "--gold" => options.gold = Some(PathBuf::from(args.value(arg, "a directory")?)),
            _ => return Ok(false),
        }
        Ok(true)
    })
}

/// One document's labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Gold {
    /// The label file's stem.
    pub(crate) name: String,
    /// The document, relative to the gold directory.
    pub(crate) document: String,
    /// The preset a user would choose for it.
    pub(crate) preset: String,
    /// Whether the document was held out of the tuning.
    pub(crate) held_out: bool,
    /// Unit starts: 1-based line and path, in line order.
    pub(crate) units: Vec<(usize, String)>,
}

/// Parses one `.labels` file (see `tests/gold/LABELLING.md`).
pub(crate) fn parse_labels(name: &str, text: &str) -> Result<Gold, String> {
    let mut header: BTreeMap<&str, &str> = BTreeMap::new();
    let mut units = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let at = || format!("{name}.labels:{}", index + 1);
        if let Some(meta) = line.strip_prefix('#') {
            let (key, value) = meta
                .split_once(':')
                .ok_or_else(|| format!("{}: a header line is `# key: value`", at()))?;
            header.insert(key.trim(), value.trim());
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        let (number, path) = line
            .split_once('\t')
            .ok_or_else(|| format!("{}: a label is `LINE<tab>PATH`", at()))?;
        let number: usize = number
            .trim()
            .parse()
            .map_err(|_| format!("{}: `{number}` is not a line number", at()))?;
        if units.last().is_some_and(|(last, _)| *last >= number) || number == 0 {
            return Err(format!("{}: line {number} is out of order", at()));
        }
        units.push((number, path.trim().to_owned()));
    }
    let field = |key: &str| {
        header
            .get(key)
            .map(|v| (*v).to_owned())
            .ok_or_else(|| format!("{name}.labels: no `# {key}:` header"))
    };
    let split = field("split")?;
    if split != "tuned" && split != "held-out" {
        return Err(format!(
            "{name}.labels: split is `{split}`, not tuned or held-out"
        ));
    }
    Ok(Gold {
        name: name.to_owned(),
        document: field("document")?,
        preset: field("preset")?,
        held_out: split == "held-out",
        units,
    })
}

/// A path as compared: lowercase, runs of whitespace collapsed, a trailing `.` or `:` dropped
/// from each label.
pub(crate) fn normalise_path(path: &str) -> String {
    path.split('/')
        .map(|label| {
            let words: Vec<&str> = label.split_whitespace().collect();
            let joined = words.join(" ").to_lowercase();
            joined.trim_end_matches(['.', ':']).trim_end().to_owned()
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Counts of one cut against its labels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Score {
    pub(crate) true_positives: usize,
    pub(crate) false_positives: usize,
    pub(crate) false_negatives: usize,
    /// Labelled units found (line 1 included) with exactly the labelled path.
    pub(crate) labels_right: usize,
    /// Labelled units found (line 1 included).
    pub(crate) labels_found: usize,
}

impl Score {
    pub(crate) fn add(&mut self, other: Score) {
        self.true_positives += other.true_positives;
        self.false_positives += other.false_positives;
        self.false_negatives += other.false_negatives;
        self.labels_right += other.labels_right;
        self.labels_found += other.labels_found;
    }

    pub(crate) fn precision(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_positives,
        )
    }

    pub(crate) fn recall(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_negatives,
        )
    }

    pub(crate) fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }

    pub(crate) fn exact(&self) -> bool {
        self.false_positives == 0 && self.false_negatives == 0
    }

    pub(crate) fn label_accuracy(&self) -> f64 {
        ratio(self.labels_right, self.labels_found)
    }
}

/// `n / d`, and 1 when there is nothing to count (no boundary to find, none found).
fn ratio(n: usize, d: usize) -> f64 {
    if d == 0 { 1.0 } else { n as f64 / d as f64 }
}

/// Scores predicted unit starts against the labels.
pub(crate) fn score(gold: &[(usize, String)], predicted: &[(usize, String)]) -> Score {
    let gold_lines: BTreeMap<usize, &str> = gold.iter().map(|(l, p)| (*l, p.as_str())).collect();
    let predicted_lines: BTreeMap<usize, &str> =
        predicted.iter().map(|(l, p)| (*l, p.as_str())).collect();
    let mut score = Score::default();
    for (&line, &path) in &gold_lines {
        match predicted_lines.get(&line) {
            Some(found) => {
                score.labels_found += 1;
                if normalise_path(found) == normalise_path(path) {
                    score.labels_right += 1;
                }
                if line > 1 {
                    score.true_positives += 1;
                }
            }
            None if line > 1 => score.false_negatives += 1,
            None => {}
        }
    }
    score.false_positives = predicted_lines
        .keys()
        .filter(|&&line| line > 1 && !gold_lines.contains_key(&line))
        .count();
    score
}

/// One preset's cut of one document, as `gold_cut` printed it.
#[derive(Clone, Debug, Default)]
pub(crate) struct PresetCut {
    pub(crate) units: Vec<(usize, String)>,
    pub(crate) lossless: bool,
    pub(crate) chosen: Option<String>,
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let options = parse(args)?;
    let root = workspace_root()?;
    let gold_dir = options
        .gold
        .clone()
        .unwrap_or_else(|| root.join("tests/gold"));
    let golds = read_golds(&gold_dir)?;
    let cuts = cut_all(&root, &gold_dir, &golds)?;
    let results = Results::compute(&golds, &cuts)?;
    let markdown = results.markdown();
    print!("{markdown}");
    let out = output_dir(&root, "accuracy")?;
    write(&out.join("results.md"), &markdown)?;
    write(&out.join("results.json"), &results.json().to_string())?;
    println!("(also in {})", out.display());
    let failures = results.failures();
    if options.check && !failures.is_empty() {
        return Err(format!(
            "accuracy below its floor:\n  {}",
            failures.join("\n  ")
        ));
    }
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Every `labels/*.labels` of the gold set, by name.
fn read_golds(gold_dir: &Path) -> Result<Vec<Gold>, String> {
    let labels = gold_dir.join("labels");
    let entries =
        std::fs::read_dir(&labels).map_err(|e| format!("cannot read {}: {e}", labels.display()))?;
    let mut golds = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.extension().is_none_or(|e| e != "labels") {
            continue;
        }
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or_else(|| format!("{}: not a UTF-8 name", path.display()))?
            .to_owned();
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        golds.push(parse_labels(&name, &text)?);
    }
    if golds.is_empty() {
        return Err(format!("no .labels files in {}", labels.display()));
    }
    golds.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(golds)
}

/// Runs `gold_cut` over every document; its cuts by document name, then by preset.
fn cut_all(
    root: &Path,
    gold_dir: &Path,
    golds: &[Gold],
) -> Result<BTreeMap<String, BTreeMap<String, PresetCut>>, String> {
    let documents: Vec<PathBuf> = golds.iter().map(|g| gold_dir.join(&g.document)).collect();
    eprintln!("xtask accuracy: cutting {} documents", documents.len());
    let output = Command::new(cargo::bin())
        .current_dir(root)
        .args([
            "run",
            "--quiet",
            "-p",
            "iu-cutter-cut",
            "--example",
            "gold_cut",
            "--",
        ])
        .args(&documents)
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "gold_cut failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let report: Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("gold_cut printed no JSON: {e}"))?;
    let mut cuts = BTreeMap::new();
    let listed = report["documents"].as_array().cloned().unwrap_or_default();
    for (gold, document) in golds.iter().zip(&listed) {
        let mut by_preset = BTreeMap::new();
        for (preset, cut) in document["cuts"].as_object().cloned().unwrap_or_default() {
            let units = cut["units"]
                .as_array()
                .map(|units| {
                    units
                        .iter()
                        .map(|u| {
                            let line = u["line"].as_u64().unwrap_or_default() as usize;
                            (line, u["path"].as_str().unwrap_or_default().to_owned())
                        })
                        .collect()
                })
                .unwrap_or_default();
            by_preset.insert(
                preset,
                PresetCut {
                    units,
                    lossless: cut["lossless"].as_bool().unwrap_or(false),
                    chosen: cut["chosen"].as_str().map(str::to_owned),
                },
            );
        }
        cuts.insert(gold.name.clone(), by_preset);
    }
    if cuts.len() != golds.len() {
        return Err(format!(
            "gold_cut cut {} documents of {}",
            cuts.len(),
            golds.len()
        ));
    }
    Ok(cuts)
}

/// Selects documents for a row of the summary.
type Keep<'a> = &'a dyn Fn(&DocumentResult) -> bool;
/// Picks the score of one way of cutting a document (a preset, auto, the best).
type Pick = Box<dyn Fn(&DocumentResult) -> Option<Score>>;

/// One document's scores.
#[derive(Clone, Debug)]
pub(crate) struct DocumentResult {
    pub(crate) name: String,
    pub(crate) preset: String,
    pub(crate) held_out: bool,
    /// Each preset's score on this document.
    pub(crate) by_preset: BTreeMap<String, Score>,
    /// What `auto` chose, if it ran.
    pub(crate) auto_chose: Option<String>,
}

impl DocumentResult {
    /// The score of the labelled preset.
    pub(crate) fn own(&self) -> Score {
        self.by_preset
            .get(&self.preset)
            .copied()
            .unwrap_or_default()
    }

    /// The best F1 any fixed preset reaches on this document, and its score.
    pub(crate) fn best(&self) -> Score {
        self.by_preset
            .iter()
            .filter(|(preset, _)| preset.as_str() != "auto")
            .map(|(_, score)| *score)
            .max_by(|a, b| a.f1().total_cmp(&b.f1()))
            .unwrap_or_default()
    }
}

/// Everything `cargo xtask accuracy` reports.
#[derive(Clone, Debug)]
pub(crate) struct Results {
    pub(crate) documents: Vec<DocumentResult>,
    pub(crate) cuts: usize,
    pub(crate) lossless_cuts: usize,
}

impl Results {
    pub(crate) fn compute(
        golds: &[Gold],
        cuts: &BTreeMap<String, BTreeMap<String, PresetCut>>,
    ) -> Result<Results, String> {
        let mut documents = Vec::with_capacity(golds.len());
        let (mut total, mut lossless) = (0, 0);
        for gold in golds {
            let by_preset_cut = cuts
                .get(&gold.name)
                .ok_or_else(|| format!("no cut of {}", gold.name))?;
            if !by_preset_cut.contains_key(&gold.preset) {
                return Err(format!(
                    "{}: labelled preset `{}` was not run",
                    gold.name, gold.preset
                ));
            }
            let mut by_preset = BTreeMap::new();
            for (preset, cut) in by_preset_cut {
                total += 1;
                lossless += usize::from(cut.lossless);
                by_preset.insert(preset.clone(), score(&gold.units, &cut.units));
            }
            documents.push(DocumentResult {
                name: gold.name.clone(),
                preset: gold.preset.clone(),
                held_out: gold.held_out,
                by_preset,
                auto_chose: by_preset_cut.get("auto").and_then(|c| c.chosen.clone()),
            });
        }
        Ok(Results {
            documents,
            cuts: total,
            lossless_cuts: lossless,
        })
    }

    /// The micro-averaged score of `pick` over the documents `keep` selects.
    fn micro(
        &self,
        keep: impl Fn(&DocumentResult) -> bool,
        pick: impl Fn(&DocumentResult) -> Option<Score>,
    ) -> Score {
        let mut total = Score::default();
        for document in self.documents.iter().filter(|d| keep(d)) {
            if let Some(score) = pick(document) {
                total.add(score);
            }
        }
        total
    }

    fn presets(&self) -> Vec<String> {
        let mut presets: Vec<String> = self.documents.iter().map(|d| d.preset.clone()).collect();
        presets.sort();
        presets.dedup();
        presets
    }

    fn has_auto(&self) -> bool {
        self.documents
            .iter()
            .any(|d| d.by_preset.contains_key("auto"))
    }

    /// The floors that are not met, worded for the operator.
    pub(crate) fn failures(&self) -> Vec<String> {
        let mut failures = Vec::new();
        let micro = self.micro(|_| true, |d| Some(d.own()));
        if micro.f1() < MICRO_F1_FLOOR {
            failures.push(format!("micro F1 {:.3} < {MICRO_F1_FLOOR}", micro.f1()));
        }
        for preset in self.presets() {
            let score = self.micro(|d| d.preset == preset, |d| Some(d.own()));
            if score.f1() < PRESET_F1_FLOOR {
                failures.push(format!(
                    "{preset}: F1 {:.3} < {PRESET_F1_FLOOR}",
                    score.f1()
                ));
            }
        }
        if self.has_auto() {
            let auto = self.micro(|_| true, |d| d.by_preset.get("auto").copied());
            let best = self.micro(|_| true, |d| Some(d.best()));
            if best.f1() - auto.f1() > AUTO_GAP_CEILING {
                failures.push(format!(
                    "auto F1 {:.3} is more than {AUTO_GAP_CEILING} below the per-document best {:.3}",
                    auto.f1(),
                    best.f1()
                ));
            }
        }
        if self.lossless_cuts != self.cuts {
            failures.push(format!(
                "{} of {} cuts are not lossless",
                self.cuts - self.lossless_cuts,
                self.cuts
            ));
        }
        failures
    }

    pub(crate) fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# Cut accuracy on the gold set\n");
        self.write_documents(&mut out);
        self.write_presets(&mut out);
        self.write_summary(&mut out);
        out
    }

    fn write_documents(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "| document | split | preset | units | P | R | F1 | labels | auto chose | auto F1 |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
        for d in &self.documents {
            let own = d.own();
            let auto = d.by_preset.get("auto");
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {:.3} | {:.3} | {:.3}{} | {:.3} | {} | {} |",
                d.name,
                if d.held_out { "held-out" } else { "tuned" },
                d.preset,
                own.true_positives + own.false_negatives,
                own.precision(),
                own.recall(),
                own.f1(),
                if own.exact() { " ✓" } else { "" },
                own.label_accuracy(),
                d.auto_chose.as_deref().unwrap_or("-"),
                auto.map_or_else(|| "-".to_owned(), |s| format!("{:.3}", s.f1())),
            );
        }
    }

    fn write_presets(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "\n| preset | documents | exact | P | R | F1 | labels | F1 tuned | F1 held-out |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
        for preset in self.presets() {
            let of = |d: &DocumentResult| d.preset == preset;
            let all = self.micro(of, |d| Some(d.own()));
            let tuned = self.micro(|d| of(d) && !d.held_out, |d| Some(d.own()));
            let held = self.micro(|d| of(d) && d.held_out, |d| Some(d.own()));
            let docs = self.documents.iter().filter(|d| of(d)).count();
            let exact = self
                .documents
                .iter()
                .filter(|d| of(d) && d.own().exact())
                .count();
            let _ = writeln!(
                out,
                "| {preset} | {docs} | {exact} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
                all.precision(),
                all.recall(),
                all.f1(),
                all.label_accuracy(),
                tuned.f1(),
                held.f1()
            );
        }
    }

    fn write_summary(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "\n| over the set | documents | exact | P | R | F1 | labels |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|");
        let rows: [(&str, Keep<'_>); 3] = [
            ("all", &|_| true),
            ("tuned", &|d| !d.held_out),
            ("held-out", &|d| d.held_out),
        ];
        let mut pickers: Vec<(&str, Pick)> = vec![("labelled preset", Box::new(|d| Some(d.own())))];
        if self.has_auto() {
            pickers.push(("auto", Box::new(|d| d.by_preset.get("auto").copied())));
        }
        pickers.push(("best preset per document", Box::new(|d| Some(d.best()))));
        for (picker, pick) in &pickers {
            for (split, keep) in &rows {
                let score = self.micro(keep, pick);
                let docs = self.documents.iter().filter(|d| keep(d)).count();
                let exact = self
                    .documents
                    .iter()
                    .filter(|d| keep(d) && pick(d).is_some_and(|s| s.exact()))
                    .count();
                let _ = writeln!(
                    out,
                    "| {picker}, {split} | {docs} | {exact} | {:.3} | {:.3} | {:.3} | {:.3} |",
                    score.precision(),
                    score.recall(),
                    score.f1(),
                    score.label_accuracy()
                );
            }
        }
        let _ = writeln!(
            out,
            "\nLossless: {} of {} cuts (every document by every preset).",
            self.lossless_cuts, self.cuts
        );
        let failures = self.failures();
        if failures.is_empty() {
            let _ = writeln!(
                out,
                "Floors met: micro F1 ≥ {MICRO_F1_FLOOR}, each preset ≥ {PRESET_F1_FLOOR}, auto within {AUTO_GAP_CEILING} of the best, 100 % lossless."
            );
        } else {
            let _ = writeln!(out, "Floors not met: {}.", failures.join("; "));
        }
    }

    pub(crate) fn json(&self) -> Value {
        let documents: Vec<Value> = self
            .documents
            .iter()
            .map(|d| {
                let scores: serde_json::Map<String, Value> = d
                    .by_preset
                    .iter()
                    .map(|(preset, s)| {
                        (
                            preset.clone(),
                            json!({
                                "precision": s.precision(), "recall": s.recall(), "f1": s.f1(),
                                "label_accuracy": s.label_accuracy(), "exact": s.exact(),
                            }),
                        )
                    })
                    .collect();
                json!({
                    "document": d.name, "preset": d.preset, "held_out": d.held_out,
                    "auto_chose": d.auto_chose, "scores": scores,
                })
            })
            .collect();
        let micro = self.micro(|_| true, |d| Some(d.own()));
        json!({
            "documents": documents,
            "micro_f1": micro.f1(),
            "lossless_cuts": self.lossless_cuts,
            "cuts": self.cuts,
            "failures": self.failures(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(lines: &[(usize, &str)]) -> Vec<(usize, String)> {
        lines.iter().map(|(l, p)| (*l, (*p).to_owned())).collect()
    }

    #[test]
    fn labels_parse_and_reject_what_is_not_a_label() {
        let gold = parse_labels(
            "x",
            "# document: docs/x.txt\n# preset: legal-en\n# split: held-out\n3\tPreamble\n7\t1\n",
        );
        assert_eq!(
            gold,
            Ok(Gold {
                name: "x".to_owned(),
                document: "docs/x.txt".to_owned(),
                preset: "legal-en".to_owned(),
                held_out: true,
                units: units(&[(3, "Preamble"), (7, "1")]),
            })
        );
        let header = "# document: d\n# preset: p\n# split: tuned\n";
        for bad in ["7 1\n", "x\t1\n", "7\t1\n3\t2\n", "0\ta\n"] {
            assert!(
                parse_labels("x", &format!("{header}{bad}")).is_err(),
                "{bad}"
            );
        }
        assert!(parse_labels("x", "# document: d\n# split: tuned\n").is_err());
        assert!(parse_labels("x", "# document: d\n# preset: p\n# split: maybe\n").is_err());
    }

    #[test]
    fn paths_compare_ignoring_case_spaces_and_trailing_punctuation() {
        assert_eq!(
            normalise_path("Article. I/Section  2./Clause 1:"),
            "article. i/section 2/clause 1"
        );
        assert_eq!(normalise_path("SEC. 2"), normalise_path("Sec.  2."));
        assert_ne!(normalise_path("1/1.1"), normalise_path("1.1"));
    }

    #[test]
    fn scores_count_boundaries_and_labels_but_not_line_one() {
        let gold = units(&[(1, "A"), (5, "1"), (9, "2"), (12, "3")]);
        let predicted = units(&[(1, "(preamble)"), (5, "1"), (7, "7"), (12, "III")]);
        let s = score(&gold, &predicted);
        assert_eq!(
            (s.true_positives, s.false_positives, s.false_negatives),
            (2, 1, 1)
        );
        assert_eq!((s.labels_right, s.labels_found), (1, 3));
        assert!((s.precision() - 2.0 / 3.0).abs() < 1e-9);
        assert!((s.recall() - 2.0 / 3.0).abs() < 1e-9);
        assert!(!s.exact());
        let perfect = score(&gold, &gold);
        assert!(perfect.exact() && perfect.f1() == 1.0 && perfect.label_accuracy() == 1.0);
        // Nothing to find and nothing found is perfect, not a division by zero.
        assert_eq!(score(&[], &units(&[(1, "x")])).f1(), 1.0);
    }

    #[test]
    fn floors_fail_on_a_bad_preset_and_on_a_lossy_cut() {
        let gold = Gold {
            name: "d".to_owned(),
            document: "docs/d".to_owned(),
            preset: "legal-en".to_owned(),
            held_out: false,
            units: units(&[(3, "1"), (5, "2")]),
        };
        let cut = |lines: &[(usize, &str)], lossless: bool| PresetCut {
            units: units(lines),
            lossless,
            chosen: None,
        };
        let mut cuts = BTreeMap::new();
        cuts.insert(
            "d".to_owned(),
            BTreeMap::from([("legal-en".to_owned(), cut(&[(3, "1"), (5, "2")], true))]),
        );
        let results = Results::compute(std::slice::from_ref(&gold), &cuts);
        assert!(results.is_ok_and(|r| r.failures().is_empty()));
        cuts.insert(
            "d".to_owned(),
            BTreeMap::from([("legal-en".to_owned(), cut(&[(3, "1")], false))]),
        );
        let failures = Results::compute(std::slice::from_ref(&gold), &cuts)
            .map(|r| r.failures())
            .unwrap_or_default();
        assert_eq!(failures.len(), 3, "{failures:?}");
    }
}
