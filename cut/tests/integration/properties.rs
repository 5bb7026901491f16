//! Property tests: for arbitrary text, every preset and custom levels, with and without a size
//! limit, a cut is lossless, deterministic, within the limit, with unique ids; and a set of
//! documents is cut on several threads as on one.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroUsize;

use iu_cutter_cut::{
    CutUnit, Cutter, Parallelism, check_hashes, check_lossless, sha256_hex, unit_id,
};
use iu_cutter_live_execution::{CutRules, LevelRule, MarkerSet, Preset};
use proptest::prelude::*;
use unicode_normalization::UnicodeNormalization;

/// Lines that look like markers of some preset, or like traps for them.
const MARKER_LIKE: &[&str] = &[
    "# Heading\n",
    "## Sub ##\n",
    "####### seven\n",
    "Title\n",
    "===\n",
    "---\n",
    "- item\n",
    "```\n",
    "~~~~\n",
    "    # code\n",
    "Part I\n",
    "Chapter II\n",
    "Section 3 of the Act\n",
    "Article 5. Scope\n",
    "ARTICLE 7\n",
    "1. ",
    "1.1 ",
    "2.3.\t",
    "Phần thứ nhất\n",
    "Chương I\n",
    "Mục 1\n",
    "Điều 44. Tên\n",
    "Đie\u{302}\u{300}u 45.\n",
    "Chu\u{31b}o\u{31b}ng III\n",
    "Điều 4 của Luật\n",
    "a) ",
    "đ) ",
    "Khoản 2. ",
    "TITLE IV\n",
    "Rule 9\n",
    "\n\n",
    " \t\n",
];

fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => any::<String>(),
        3 => "[a-zA-Z0-9 .,:;()#=~`\\-\t]{0,30}",
        2 => "[ệữốđĐÐéa \u{300}\u{301}\u{302}\u{323}\u{31b}𝄞\u{212a}]{0,12}",
        2 => prop::sample::select(MARKER_LIKE).prop_map(str::to_owned),
        2 => prop::sample::select(&["\n", "\r\n", "\r", "\u{feff}", "\n\n", "\r\n\r\n"][..])
            .prop_map(str::to_owned),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(piece(), 0..48).prop_map(|pieces| pieces.concat())
}

fn custom_levels() -> MarkerSet {
    let level = |name: &str, pattern: &str| LevelRule {
        name: name.to_owned(),
        pattern: pattern.to_owned(),
    };
    MarkerSet::Custom(vec![
        level("title", r"TITLE\s+([IVX]+)"),
        level("chapter", r"(?:Chapter|Chương)\s+\S+"),
        level("rule", r"Rule \d+|\d+\."),
        level("maybe-empty", r"x*"),
    ])
}

fn marker_sets() -> impl Strategy<Value = MarkerSet> {
    prop_oneof![
        prop::sample::select(Preset::ALL.to_vec()).prop_map(MarkerSet::Preset),
        Just(custom_levels()),
    ]
}

fn rules() -> impl Strategy<Value = CutRules> {
    (
        marker_sets(),
        prop_oneof![
            Just(None),
            (64u64..96).prop_map(Some),
            (96u64..400).prop_map(Some)
        ],
    )
        .prop_map(|(markers, max_unit_bytes)| CutRules {
            markers,
            max_unit_bytes,
        })
}

fn assert_sound(text: &str, units: &[CutUnit], max: Option<u64>) -> Result<(), TestCaseError> {
    prop_assert_eq!(check_lossless(text, units), Ok(()));
    prop_assert_eq!(check_hashes(text, units), Ok(()));
    let mut rebuilt = Vec::with_capacity(text.len());
    let mut ids = HashSet::new();
    let mut at = 0;
    for (i, unit) in units.iter().enumerate() {
        prop_assert_eq!(unit.ordinal as usize, i);
        prop_assert_eq!(unit.start, at);
        prop_assert!(unit.end > unit.start);
        let body = unit.text(text);
        prop_assert!(body.is_some(), "unit {} off char boundaries", i);
        let body = body.unwrap_or_default();
        prop_assert_eq!(unit.sha256.hex(), sha256_hex(body.as_bytes()));
        prop_assert!(ids.insert(unit.unit_id), "duplicate id at {}", i);
        if let Some(max) = max {
            prop_assert!(
                unit.byte_len() <= max,
                "unit {} is {} bytes > {}",
                i,
                unit.byte_len(),
                max
            );
        }
        prop_assert!(!unit.path.is_empty());
        rebuilt.extend_from_slice(body.as_bytes());
        at = unit.end;
    }
    prop_assert_eq!(rebuilt.as_slice(), text.as_bytes());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn cuts_are_lossless_deterministic_and_bounded(rules in rules(), text in text()) {
        let cutter = Cutter::new(&rules).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let units = cutter.cut("doc", &text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        assert_sound(&text, &units, rules.max_unit_bytes)?;
        let again = Cutter::new(&rules)
            .and_then(|c| c.cut("doc", &text))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(units, again);
    }

    #[test]
    fn ids_do_not_depend_on_content_of_other_units(text in text(), extra in "[a-z ]{1,20}") {
        // Appending to the body of the last unit changes no id (the appended text has no marker
        // and cannot make a previous line a setext heading: it follows a fresh blank line).
        for preset in [Preset::Markdown, Preset::LegalEn, Preset::LegalVi] {
            let cutter = Cutter::new(&CutRules::preset(preset))
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let base = format!("{text}\n\nzz\n");
            let edited = format!("{base}{extra}\n");
            let a = cutter.cut("d", &base).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let b = cutter.cut("d", &edited).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let ids = |units: &[CutUnit]| units.iter().map(|u| u.unit_id).collect::<Vec<_>>();
            prop_assert_eq!(ids(&a), ids(&b));
        }
    }
}

/// Every unit's id is [`unit_id`] of its path, the occurrence of that path (counted per unit
/// before splitting) and its part, however the engine computed it.
fn assert_ids(document_id: &str, units: &[CutUnit]) -> Result<(), TestCaseError> {
    let mut seen: HashMap<&str, u32> = HashMap::new();
    let mut occurrence = 0;
    for unit in units {
        if matches!(unit.part, None | Some(1)) {
            let count = seen.entry(&unit.path).or_default();
            occurrence = *count;
            *count += 1;
        }
        prop_assert_eq!(
            unit.unit_id,
            unit_id(document_id, &unit.path, occurrence, unit.part),
            "{:?}",
            unit
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Document ids of every length up to two blocks of sha256, so that the id input's first
    /// block ends anywhere in the paths (the engine reuses it from one unit to the next).
    #[test]
    fn ids_are_unit_ids_of_path_occurrence_and_part(
        rules in rules(),
        text in text(),
        id_len in 0usize..130,
    ) {
        let document_id = "d".repeat(id_len);
        let cutter = Cutter::new(&rules).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let units = cutter
            .cut(&document_id, &text)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        assert_ids(&document_id, &units)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn a_set_of_documents_cut_on_several_threads_is_cut_as_on_one(
        rules in rules(),
        texts in prop::collection::vec(text(), 0..16),
        threads in 2usize..9,
    ) {
        let cutter = Cutter::new(&rules).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let documents: Vec<(String, String)> = texts
            .into_iter()
            .enumerate()
            .map(|(i, text)| (format!("doc/{i}"), text))
            .collect();
        let cut = |(id, text): &(String, String)| cutter.cut_document(id, text);
        let sequential = Parallelism::SEQUENTIAL.map(&documents, cut);
        let threads = NonZeroUsize::new(threads).unwrap_or(NonZeroUsize::MIN);
        let parallel = Parallelism::new(threads).map(&documents, cut);
        prop_assert_eq!(parallel, sequential);
    }
}

/// `text` composed (NFC) and decomposed (NFD) cut soundly into units of the same paths and ids.
fn same_structure_in_nfc_and_nfd(text: &str, preset: Preset) -> Result<(), TestCaseError> {
    let cutter =
        Cutter::new(&CutRules::preset(preset)).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let nfc: String = text.nfc().collect();
    let nfd: String = text.nfd().collect();
    let a = cutter
        .cut("d", &nfc)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let b = cutter
        .cut("d", &nfd)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    assert_sound(&nfc, &a, None)?;
    assert_sound(&nfd, &b, None)?;
    let structure = |units: &[CutUnit]| {
        units
            .iter()
            .map(|u| (u.path.clone(), u.unit_id))
            .collect::<Vec<_>>()
    };
    prop_assert_eq!(structure(&a), structure(&b));
    Ok(())
}

/// [`same_structure_in_nfc_and_nfd`] over `cases` texts drawn from `texts`, each under a preset.
fn nfc_and_nfd_agree_on(texts: impl Strategy<Value = String>, cases: u32) {
    let presets = prop::sample::select(Preset::ALL.to_vec());
    let config = ProptestConfig {
        cases,
        ..ProptestConfig::default()
    };
    proptest!(config, |(text in texts, preset in presets)| {
        same_structure_in_nfc_and_nfd(&text, preset)?;
    });
}

/// A marker-like line, without its newline.
fn marker_line() -> impl Strategy<Value = String> {
    prop::sample::select(MARKER_LIKE).prop_map(|s| s.trim_end_matches('\n').to_owned())
}

/// A text of at most `max` lines drawn from `line`.
fn text_of(line: impl Strategy<Value = String>, max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(line, 0..max).prop_map(|lines| lines.join("\n"))
}

/// Short lines over a Vietnamese-and-markers alphabet: every line prefix is looked at whole.
#[test]
fn nfc_and_nfd_give_the_same_structure() {
    let line = prop_oneof![
        marker_line(),
        "[ĐđAaCcMmKkPp0-9 .)ệữốềểơưạảấ\u{300}\u{301}\u{302}\u{323}#=\\-]{0,16}",
    ];
    nfc_and_nfd_agree_on(text_of(line, 40), 512);
}

/// Lines long enough for the rules that count characters (running text is longer than 40, a
/// heading at most 72): decomposed, such a line holds more characters than composed.
#[test]
fn nfc_and_nfd_give_the_same_structure_on_long_lines() {
    let line = prop_oneof![
        marker_line(),
        "[ĐđAaCcMmKkPp0-9 .,)ệữốềểơưạảấ]{30,60}",
        "[a-zệữốềểơưạảấ ]{30,60}[.,:]?",
    ];
    nfc_and_nfd_agree_on(text_of(line, 30), 256);
}
