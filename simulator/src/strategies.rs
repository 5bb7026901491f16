//! proptest strategies for property tests across the workspace (feature `proptest`).
//!
//! The text strategies aim at the cut engine's hard cases: markers of every preset at line
//! start and in the middle of lines, blank lines, CRLF and mixed line endings, no trailing
//! newline, multi-byte characters (Vietnamese diacritics, CJK, emoji) and empty documents.

use iu_cutter_live_execution::{CutRules, DocumentId, MarkerSet, Preset};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::sample::select;

const ID_PREFIXES: [&str; 6] = ["law", "reg", "kb", "contract", "Law", "luật"];

const WORDS: [&str; 32] = [
    "the",
    "shall",
    "provisions",
    "of",
    "this",
    "Article",
    "apply",
    "to",
    "contract",
    "parties",
    "chapter",
    "1.",
    "§",
    "—",
    "quy",
    "định",
    "người",
    "lao",
    "động",
    "trách",
    "nhiệm",
    "Điều",
    "khoản",
    "của",
    "Nhà",
    "nước",
    "法律",
    "条款",
    "📜",
    "é",
    "\t",
    "#",
];

const ROMAN: [&str; 10] = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X"];

/// Document ids such as `law/abc-12`, `kb/x9`, `Law/A` or `luật/đ-3`: a few shared prefixes (for
/// `Scope::Prefix`), mixed case and non-ASCII (ids order by bytes on every store).
pub fn document_id() -> impl Strategy<Value = DocumentId> {
    (
        select(ID_PREFIXES.to_vec()),
        "[a-zA-Z0-9đ]{1,8}(-[0-9]{1,3})?",
    )
        .prop_map(|(prefix, rest)| DocumentId::new(format!("{prefix}/{rest}")))
}

fn words() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => vec(select(WORDS.to_vec()), 1..16).prop_map(|w| w.join(" ")),
        1 => "\\PC{0,24}",
    ]
}

fn line() -> impl Strategy<Value = String> {
    let n = || 1u32..60;
    let roman = || select(ROMAN.to_vec());
    prop_oneof![
        8 => words(),
        4 => Just(String::new()),
        // English legal.
        1 => (roman(), words()).prop_map(|(r, t)| format!("Part {r} {t}")),
        1 => (n(), words()).prop_map(|(k, t)| format!("Chapter {k} {t}")),
        1 => roman().prop_map(|r| format!("CHAPTER {r}")),
        1 => (n(), words()).prop_map(|(k, t)| format!("Section {k}. {t}")),
        2 => (n(), words()).prop_map(|(k, t)| format!("Article {k}. {t}")),
        2 => (n(), words()).prop_map(|(k, t)| format!("{k}. {t}")),
        1 => (n(), n(), words()).prop_map(|(a, b, t)| format!("{a}.{b}. {t}")),
        // Vietnamese legal.
        1 => roman().prop_map(|r| format!("Phần {r}")),
        1 => (roman(), words()).prop_map(|(r, t)| format!("Chương {r} {t}")),
        1 => (n(), words()).prop_map(|(k, t)| format!("Mục {k}. {t}")),
        2 => (n(), words()).prop_map(|(k, t)| format!("Điều {k}. {t}")),
        1 => (n(), words()).prop_map(|(k, t)| format!("Khoản {k}. {t}")),
        1 => (select(vec!['a', 'b', 'c', 'đ']), words()).prop_map(|(c, t)| format!("{c}) {t}")),
        // Markdown.
        2 => (1usize..=6, words()).prop_map(|(h, t)| format!("{} {t}", "#".repeat(h))),
        1 => select(vec!["===", "---", "#", "#no-space"]).prop_map(str::to_owned),
        // Markers not at line start.
        1 => (n(), words()).prop_map(|(k, t)| format!("  Article {k}. {t}")),
        1 => (n(), words()).prop_map(|(k, t)| format!("{t} Điều {k}.")),
    ]
}

/// Realistic-ish legal and Markdown text: 0 to 40 lines mixing markers of every preset, plain
/// and blank lines, multi-byte characters; LF, CRLF or mixed line endings; with or without a
/// trailing newline. May be empty.
pub fn legal_text() -> impl Strategy<Value = String> {
    select(vec![0.0, 0.0, 0.0, 1.0, 0.3])
        .prop_flat_map(|crlf| {
            (
                vec((line(), proptest::bool::weighted(crlf)), 0..40),
                any::<bool>(),
            )
        })
        .prop_map(|(lines, trailing_newline)| {
            let mut text = String::new();
            let count = lines.len();
            for (i, (line, crlf)) in lines.into_iter().enumerate() {
                text.push_str(&line);
                if i + 1 < count || trailing_newline {
                    text.push_str(if crlf { "\r\n" } else { "\n" });
                }
            }
            text
        })
}

/// A corpus of 1 to `max_docs` documents (none when `max_docs` is 0) with unique ids, in id
/// order.
pub fn corpus(max_docs: usize) -> impl Strategy<Value = Vec<(DocumentId, String)>> {
    let size = if max_docs == 0 { 0..=0 } else { 1..=max_docs };
    btree_map(document_id(), legal_text(), size).prop_map(|docs| docs.into_iter().collect())
}

/// Cut rules: every preset, without a size limit or with `max_unit_bytes` between 64 (the
/// smallest the cut accepts) and 2048.
pub fn cut_rules() -> impl Strategy<Value = CutRules> {
    (
        select(Preset::ALL.to_vec()),
        proptest::option::of(64u64..=2048),
    )
        .prop_map(|(preset, max_unit_bytes)| CutRules {
            markers: MarkerSet::Preset(preset),
            max_unit_bytes,
        })
}
