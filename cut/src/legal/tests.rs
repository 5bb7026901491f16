//! Unit tests of the legal presets' parts: prefilters, matchers, tails.

use super::*;
use iu_cutter_live_execution::{CutRules, Preset};
use unicode_normalization::is_nfc;

use crate::Cutter;

#[test]
fn preset_keywords_are_nfc() {
    for engine in [LegalEngine::english(), LegalEngine::vietnamese()] {
        let engine = engine.unwrap_or_else(|e| panic!("{e}"));
        for rule in &engine.rules {
            if let (Prefilter::Literals(literals), Matcher::Keyword(regex)) =
                (rule.prefilter, &rule.matcher)
            {
                for literal in literals {
                    assert!(is_nfc(literal), "{literal:?} is not NFC");
                    assert!(regex.as_str().contains(literal));
                }
            }
        }
    }
}

#[test]
fn rule_masks() {
    let vi = LegalEngine::vietnamese().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(vi.all.count_ones() as usize, vi.rules.len());
    // A digit: only the numbered clause, on the raw line.
    let (mask, needs_nfc) = vi.candidates("12. x");
    assert_eq!(mask.count_ones(), 1);
    assert!(!needs_nfc);
    // "Đi…": the Điều and Điểm keywords, on the NFC form.
    let (mask, needs_nfc) = vi.candidates("Điều 4");
    assert_eq!(mask.count_ones(), 2);
    assert!(needs_nfc);
    // A first character NFC may change: every rule, on the NFC form.
    assert_eq!(vi.candidates("\u{212a}hoản 1"), (vi.all, true));
    assert_eq!(vi.candidates("\u{301}x"), (vi.all, true));
    assert_eq!(vi.candidates(""), (0, false));
}

#[test]
fn stable_prefixes_survive_decomposition() {
    let cases = [
        ("Chương", "Ch"),
        ("CHƯƠNG", "CH"),
        ("Điều", "Đi"),
        ("ĐIỀU", "ĐI"),
        ("Mục", "M"),
        ("Khoản", "Kho"),
        ("Điểm", "Đi"),
        ("Phần", "Ph"),
        ("Article", "Article"),
    ];
    for (keyword, prefix) in cases {
        assert_eq!(stable_prefix(keyword), prefix, "{keyword}");
        let nfd: String = keyword.nfd().collect();
        assert!(nfd.starts_with(prefix), "NFD {keyword}");
        assert!(keyword.starts_with(prefix), "NFC {keyword}");
    }
}

#[test]
fn legal_prefilter_rejects_ordinary_lines_and_accepts_odd_forms() {
    let vi = LegalEngine::vietnamese().unwrap_or_else(|e| panic!("{e}"));
    for line in [
        "Luật này",
        "Cơ quan",
        "Độc lập",
        "ủy ban",
        "kỳ họp",
        "",
        "Ủy ban",
    ] {
        assert_eq!(vi.candidates(line).0, 0, "{line}");
    }
    let nfd_article: String = "Điều 4.".nfd().collect();
    for line in [
        "Chương I",
        "Điều 4.",
        &nfd_article,
        "1. x",
        "a) x",
        "đ) x",
        "\u{212a}hoản 1",
    ] {
        assert_ne!(vi.candidates(line).0, 0, "{line}");
    }
    // The KELVIN SIGN normalises to K: the clause is found through the normalised view.
    let cutter = Cutter::new(&CutRules::preset(Preset::LegalVi)).unwrap_or_else(|e| panic!("{e}"));
    let units = cutter
        .cut("k", "Điều 1\n\u{212a}hoản 2. x\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let paths: Vec<&str> = units.iter().map(|u| u.path.as_str()).collect();
    assert_eq!(paths, ["Điều 1", "Điều 1/Khoản 2"]);

    let en = LegalEngine::english().unwrap_or_else(|e| panic!("{e}"));
    for line in [
        "The Council",
        "Scope",
        "Penalties",
        "An application",
        "Member",
    ] {
        assert_eq!(en.candidates(line).0, 0, "{line}");
    }
    assert_eq!(is_nfc_quick("Ủ".chars()), IsNormalized::Yes);
}

#[test]
fn heading_tail_rule() {
    let en = LegalEngine::english().unwrap_or_else(|e| panic!("{e}"));
    let mut locations = en.capture_locations();
    let mut label = |line: &str| {
        en.match_line(line, en.all, &mut locations, &[])
            .map(|(_, label)| {
                let mut text = String::new();
                label.write_to(&mut text);
                text
            })
    };
    for (line, expected) in [
        ("Article 5", Some("Article 5")),
        ("Article 5.", Some("Article 5")),
        ("Article 5. Definitions", Some("Article 5")),
        ("Article 5: Definitions", Some("Article 5")),
        ("Article 5 - Definitions", Some("Article 5")),
        ("Article 5 — Definitions", Some("Article 5")),
        ("Article 5 Definitions", Some("Article 5")),
        ("Article 5 (Definitions)", Some("Article 5")),
        ("Article 5a. Inserted", Some("Article 5a")),
        ("ARTICLE 5", Some("ARTICLE 5")),
        ("Chapter IV", Some("Chapter IV")),
        ("Part A", Some("Part A")),
        ("Section  12   Heading", Some("Section 12")),
        ("Article 5 of the Treaty", None),
        ("Article 5, which", None),
        ("Articles 5 and 6", None),
        ("article 5", None),
        ("Chapter Index", None),
        ("Part of the", None),
        ("Article5", None),
        ("1. Scope", Some("1")),
        ("1.2 Scope", Some("1.2")),
        ("1.2. Scope", Some("1.2")),
        ("1.2.3.4.5.6 deep", Some("1.2.3.4.5.6")),
        ("1.2.3.4.5.6.7 too deep", None),
        ("12.", Some("12")),
        ("1 January", None),
        ("2024. Year", None),
        ("1.5million", None),
        ("Chapter 5 ", Some("Chapter 5")),
        ("Chapter 5a", Some("Chapter 5a")),
        ("Chapter 5ab", None),
        ("Part IVX", Some("Part IVX")),
        ("Part Ia", None),
        ("Part I.", Some("Part I")),
        ("Article 12 é", None),
        ("Article 12 É", Some("Article 12")),
        ("Article 12\u{a0}— x", Some("Article 12")),
    ] {
        assert_eq!(label(line).as_deref(), expected, "{line}");
    }
}

#[test]
fn numbered_sections_nest_by_depth() {
    let en = LegalEngine::english().unwrap_or_else(|e| panic!("{e}"));
    let mut locations = en.capture_locations();
    let level = |line: &str, locations: &mut Vec<Option<CaptureLocations>>| {
        en.match_line(line, en.all, locations, &[]).map(|(l, _)| l)
    };
    assert_eq!(level("1. A", &mut locations), Some(EN_NUMBERED));
    assert_eq!(level("1.1 A", &mut locations), Some(EN_NUMBERED + 1));
    assert_eq!(level("1.1.1. A", &mut locations), Some(EN_NUMBERED + 2));
    assert_eq!(level("Article 1", &mut locations), Some(3));
}

#[test]
fn hand_written_matchers_agree_with_their_regexes() {
    let clause = Regex::new(r"\A(\d{1,3})\.(?:\s|$)").unwrap_or_else(|e| panic!("{e}"));
    let point = Regex::new(r"\A([a-zđ])\)(?:\s|$)").unwrap_or_else(|e| panic!("{e}"));
    let dotted =
        Regex::new(r"\A(\d{1,3}(?:\.\d{1,3}){0,5})(\.?)(?:\s|$)").unwrap_or_else(|e| panic!("{e}"));
    let group = |regex: &Regex, s: &str, i: usize| {
        regex
            .captures(s)
            .and_then(|c| c.get(i))
            .map(|m| m.as_str().to_owned())
    };
    let samples = [
        "1. a",
        "1.",
        "12.",
        "123. x",
        "1234. x",
        "1 x",
        "1.1 x",
        "1.1. x",
        "1.1.1",
        "1.x",
        "1..",
        "1.2.3.4.5.6 x",
        "1.2.3.4.5.6. x",
        "1.2.3.4.5.6.7 x",
        "1.1234 x",
        "9.\u{a0}x",
        "9.\u{301}",
        "a) x",
        "a)",
        "đ) x",
        "đ)x",
        "a)x",
        "ab) x",
        "A) x",
        "x",
        "",
        " 1. x",
        "1.\tx",
    ];
    for s in samples {
        assert_eq!(
            numbered_clause(s).map(str::to_owned),
            group(&clause, s, 1),
            "clause {s:?}"
        );
        let letter = point_letter(s).filter(|l| s.get(l.len() + 1..).is_some_and(at_break));
        assert_eq!(
            letter.map(str::to_owned),
            group(&point, s, 1),
            "point {s:?}"
        );
        let expected = group(&dotted, s, 1)
            .filter(|n| n.contains('.') || group(&dotted, s, 2).is_some_and(|d| !d.is_empty()));
        assert_eq!(
            dotted_number(s).map(|(n, _)| n.to_owned()),
            expected,
            "dotted {s:?}"
        );
    }
}
