//! Unit tests of the cut engine's parts: helpers, checks, prefilters.

use iu_cutter_live_execution::{CutRules, Preset};
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc};

use super::*;

fn unit(ordinal: u32, path: &str, part: Option<u32>, start: u64, end: u64) -> CutUnit {
    CutUnit {
        ordinal,
        unit_id: String::new(),
        path: path.to_owned(),
        part,
        start,
        end,
        sha256: String::new(),
    }
}

fn not_lossless(text: &str, units: &[CutUnit]) -> String {
    match check_lossless(text, units) {
        Err(CutError::NotLossless { detail }) => detail,
        other => panic!("expected NotLossless, got {other:?}"),
    }
}

#[test]
fn cutter_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Cutter>();
}

#[test]
fn shared_cutters_are_compiled_once_per_rule_set_and_cut_like_new_ones() -> Result<(), CutError> {
    // Rules no other test uses, so that a concurrent test's call cannot be the one that compiled.
    let rules = CutRules::preset(Preset::LegalVi).with_max_unit_bytes(4093);
    let first = Cutter::shared(&rules)?;
    let again = Cutter::shared(&rules.clone())?;
    assert!(
        Arc::ptr_eq(&first, &again),
        "equal rules share one compiled cutter"
    );
    let other = Cutter::shared(&rules.clone().with_max_unit_bytes(4094))?;
    assert!(
        !Arc::ptr_eq(&first, &other),
        "different rules get their own cutter"
    );
    assert_eq!(other.max_unit_bytes(), Some(4094));

    let text = "Điều 1. Phạm vi\n1. Khoản một.\nĐiều 2. Đối tượng\n";
    let fresh = Cutter::new(&rules)?;
    assert_eq!(first.cut("doc", text)?, fresh.cut("doc", text)?);
    Ok(())
}

#[test]
fn shared_cutters_do_not_cache_errors() {
    let rules = CutRules::preset(Preset::Markdown).with_max_unit_bytes(1);
    for _ in 0..2 {
        assert!(matches!(
            Cutter::shared(&rules),
            Err(CutError::MaxUnitBytesTooSmall { max: 1, .. })
        ));
    }
}

#[test]
fn sha256_hex_is_lowercase_hex_of_the_digest() {
    assert_eq!(
        sha256_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        sha256_hex(b""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

#[test]
fn unit_id_depends_on_every_structural_input_and_nothing_else() {
    let id = unit_id("doc", "Chương I/Điều 1", 0, None);
    assert_eq!(id.len(), 32);
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_eq!(id, unit_id("doc", "Chương I/Điều 1", 0, None));
    let others = [
        unit_id("doc2", "Chương I/Điều 1", 0, None),
        unit_id("doc", "Chương I/Điều 2", 0, None),
        unit_id("doc", "Chương I/Điều 1", 1, None),
        unit_id("doc", "Chương I/Điều 1", 0, Some(1)),
        unit_id("doc", "Chương I/Điều 1", 0, Some(2)),
    ];
    for other in &others {
        assert_ne!(&id, other);
    }
    // The document id is length-prefixed: moving a NUL between the fields changes the id.
    assert_ne!(unit_id("a\0b", "c", 0, None), unit_id("a", "b\0c", 0, None));
    // Neither occurrence nor part may be confused with the path.
    assert_ne!(
        unit_id("d", "p\u{0}1", 0, None),
        unit_id("d", "p", 1, Some(0))
    );
}

#[test]
fn check_lossless_accepts_an_exact_cover() {
    let text = "abcdef";
    let units = [
        unit(0, "a", None, 0, 2),
        unit(1, "b", Some(1), 2, 3),
        unit(2, "b", Some(2), 3, 5),
        unit(3, "c", None, 5, 6),
    ];
    assert_eq!(check_lossless(text, &units), Ok(()));
    assert_eq!(check_lossless("", &[]), Ok(()));
}

#[test]
fn check_lossless_rejects_every_defect() {
    let text = "abcdef";
    assert!(not_lossless(text, &[]).contains("[0, 0) of a 6-byte source"));
    assert!(not_lossless("", &[unit(0, "x", None, 0, 1)]).contains("past the end"));
    let gap = [unit(0, "a", None, 0, 2), unit(1, "b", None, 3, 6)];
    assert!(not_lossless(text, &gap).contains("gap"));
    let overlap = [unit(0, "a", None, 0, 3), unit(1, "b", None, 2, 6)];
    assert!(not_lossless(text, &overlap).contains("overlap"));
    let late_start = [unit(0, "a", None, 1, 6)];
    assert!(not_lossless(text, &late_start).contains("gap"));
    let empty = [unit(0, "a", None, 0, 0), unit(1, "b", None, 0, 6)];
    assert!(not_lossless(text, &empty).contains("empty"));
    let short = [unit(0, "a", None, 0, 5)];
    assert!(not_lossless(text, &short).contains("[0, 5) of a 6-byte"));
    let long = [unit(0, "a", None, 0, 7)];
    assert!(not_lossless(text, &long).contains("past the end"));
    let ordinal = [unit(0, "a", None, 0, 2), unit(2, "b", None, 2, 6)];
    assert!(not_lossless(text, &ordinal).contains("ordinal 2"));
    let inside_char = [unit(0, "a", None, 0, 1), unit(1, "b", None, 1, 2)];
    assert!(not_lossless("é", &inside_char).contains("character boundaries"));

    let lone_part = [unit(0, "a", Some(1), 0, 2), unit(1, "b", None, 2, 6)];
    assert!(not_lossless(text, &lone_part).contains("no part 2"));
    let lone_last_part = [unit(0, "a", None, 0, 2), unit(1, "b", Some(1), 2, 6)];
    assert!(not_lossless(text, &lone_last_part).contains("no part 2"));
    let part_zero = [unit(0, "a", Some(0), 0, 6)];
    assert!(not_lossless(text, &part_zero).contains("part 0"));
    let skipped = [unit(0, "a", Some(1), 0, 2), unit(1, "a", Some(3), 2, 6)];
    assert!(not_lossless(text, &skipped).contains("part 3"));
    let other_path = [unit(0, "a", Some(1), 0, 2), unit(1, "b", Some(2), 2, 6)];
    assert!(not_lossless(text, &other_path).contains("part 2"));
    let orphan = [unit(0, "a", None, 0, 2), unit(1, "a", Some(2), 2, 6)];
    assert!(not_lossless(text, &orphan).contains("does not follow part 1"));
    let restart = [
        unit(0, "a", Some(1), 0, 1),
        unit(1, "a", Some(2), 1, 2),
        unit(2, "a", Some(1), 2, 3),
        unit(3, "a", Some(2), 3, 6),
    ];
    assert_eq!(check_lossless(text, &restart), Ok(()));
}

#[test]
fn check_hashes_reports_the_unit() {
    let text = "hello";
    let mut units = vec![unit(0, "a", None, 0, 5)];
    units[0].sha256 = sha256_hex(b"hello");
    assert_eq!(check_hashes(text, &units), Ok(()));
    units[0].sha256 = sha256_hex(b"hellO");
    assert!(matches!(
        check_hashes(text, &units),
        Err(CutError::HashMismatch { ordinal: 0, .. })
    ));
    units[0].end = 9;
    assert!(check_hashes(text, &units).is_err());
}

#[test]
fn lines_split_at_newline_and_hide_cr_and_bom() {
    let text = "\u{feff}a\r\nb\n\r\nc\rd";
    let lines: Vec<(usize, usize, &str, usize)> = Lines::new(text)
        .map(|l| (l.start, l.content_start, l.content, l.next))
        .collect();
    assert_eq!(
        lines,
        [
            (0, 3, "a", 6),
            (6, 6, "b", 8),
            (8, 8, "", 10),
            (10, 10, "c\rd", 13)
        ]
    );
    assert_eq!(Lines::new("").count(), 0);
    assert_eq!(Lines::new("\n").count(), 1);
    assert_eq!(
        Lines::new("\u{feff}")
            .map(|l| l.content)
            .collect::<Vec<_>>(),
        [""]
    );
}

#[test]
fn bounded_never_splits_a_character() {
    assert_eq!(bounded("ééé", 3), "é");
    assert_eq!(bounded("ééé", 4), "éé");
    assert_eq!(bounded("abc", 10), "abc");
    let long = "ệ".repeat(200);
    let b = bounded(&long, MATCH_PREFIX_BYTES);
    assert!(b.len() <= MATCH_PREFIX_BYTES && b.len() > MATCH_PREFIX_BYTES - 3);
}

#[test]
fn match_view_normalises_only_when_needed() {
    let mut buf = String::new();
    assert_eq!(match_view("Chapter 1", &mut buf), "Chapter 1");
    assert!(buf.is_empty(), "ASCII needs no buffer");
    assert_eq!(match_view("Chương I", &mut buf), "Chương I");
    assert!(buf.is_empty(), "NFC needs no buffer");
    let nfd: String = "Chương I".nfd().collect();
    assert_eq!(match_view(&nfd, &mut buf), "Chương I");
}

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
fn plain_starters_are_nfc_starters() {
    use unicode_normalization::char::canonical_combining_class;
    let ranges = [('\u{0}'..='\u{2ff}'), ('\u{1e00}'..='\u{1eff}')];
    for c in ranges.into_iter().flatten() {
        assert!(is_plain_starter(c));
        assert_eq!(canonical_combining_class(c), 0, "{c:?}");
        assert_eq!(is_nfc_quick(std::iter::once(c)), IsNormalized::Yes, "{c:?}");
        // Nothing composes onto a plain starter from the left: it stays as it is after any
        // plain starter.
        let pair: String = ['a', c].iter().collect();
        assert_eq!(pair.nfc().collect::<String>(), pair, "{c:?}");
    }
    for c in ['\u{300}', '\u{323}', '\u{212a}', '\u{1f71}', '\u{2000}'] {
        assert!(!is_plain_starter(c), "{c:?}");
    }
    assert!(is_nfc_fast("Điều 44. Quyền và nghĩa vụ"));
    assert!(!is_nfc_fast(&"Điều".nfd().collect::<String>()));
    assert!(!is_nfc_fast("\u{212a}"));
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

#[test]
fn occurrences_count_repeats_in_order() {
    assert_eq!(occurrences(&[]), Vec::<u32>::new());
    assert_eq!(occurrences(&[5, 3, 9]), [0, 0, 0]);
    assert_eq!(occurrences(&[5, 3, 5, 9, 5, 3]), [0, 0, 1, 0, 2, 1]);
    assert_ne!(path_key("Chương I/Điều 1"), path_key("Chương I/Điều 2"));
    assert_ne!(path_key("abcdefgh"), path_key("abcdefgh\0"));
}

#[test]
fn newline_finder_matches_a_plain_search() {
    let text: String = (0..300)
        .map(|i| {
            if i % 7 == 0 || i % 64 == 63 {
                '\n'
            } else {
                'x'
            }
        })
        .collect();
    for from in [0, 1, 63, 64, 65, 299, 300] {
        let expected: Vec<usize> = text
            .bytes()
            .enumerate()
            .skip(from)
            .filter(|&(_, b)| b == b'\n')
            .map(|(i, _)| i)
            .collect();
        let mut finder = Newlines::new(text.as_bytes(), from);
        let found: Vec<usize> = std::iter::from_fn(|| finder.next_newline()).collect();
        assert_eq!(found, expected, "from {from}");
    }
}

#[test]
fn indentation_counts_columns() {
    assert_eq!(indentation("# x"), (0, "# x"));
    assert_eq!(indentation("   # x"), (3, "# x"));
    assert_eq!(indentation("    # x"), (4, "# x"));
    assert_eq!(indentation("\t# x"), (4, "# x"));
    assert_eq!(indentation(" \tx"), (4, "x"));
    assert_eq!(indentation("   "), (3, ""));
}

#[test]
fn atx_headings() {
    assert_eq!(atx_heading("# Intro"), Some((0, "Intro")));
    assert_eq!(atx_heading("###### Six"), Some((5, "Six")));
    assert_eq!(atx_heading("####### Seven"), None);
    assert_eq!(atx_heading("#hashtag"), None);
    assert_eq!(atx_heading("## Closed ##"), Some((1, "Closed")));
    assert_eq!(atx_heading("## C# language"), Some((1, "C# language")));
    assert_eq!(atx_heading("## Sharp#"), Some((1, "Sharp#")));
    assert_eq!(atx_heading("##"), Some((1, "")));
    assert_eq!(atx_heading("## ###"), Some((1, "")));
    assert_eq!(atx_heading("#\tTab"), Some((0, "Tab")));
}

#[test]
fn setext_underlines_and_fences() {
    assert_eq!(setext_underline("==="), Some(0));
    assert_eq!(setext_underline("="), Some(0));
    assert_eq!(setext_underline("---  "), Some(1));
    assert_eq!(setext_underline("--"), Some(1));
    assert_eq!(setext_underline("-"), None);
    assert_eq!(setext_underline("- - -"), None);
    assert_eq!(setext_underline("==-"), None);

    assert_eq!(opens_fence("```rust"), Some((b'`', 3)));
    assert_eq!(opens_fence("~~~~"), Some((b'~', 4)));
    assert_eq!(opens_fence("``"), None);
    assert_eq!(opens_fence("``` a`b"), None);
    assert!(closes_fence("```", b'`', 3));
    assert!(closes_fence("`````  ", b'`', 3));
    assert!(!closes_fence("~~~", b'~', 4));
    assert!(!closes_fence("```x", b'`', 3));
    assert!(!closes_fence("~~~", b'`', 3));
}

#[test]
fn markdown_fence_rules() {
    let cutter = Cutter::new(&CutRules::preset(Preset::Markdown)).unwrap_or_else(|e| panic!("{e}"));
    let paths = |text: &str| -> Vec<String> {
        cutter
            .cut("m", text)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|u| u.path)
            .collect()
    };
    // A longer fence is not closed by a shorter one; a different character does not close it.
    assert_eq!(paths("# A\n````\n```\n# no\n~~~\n````\n# B\n"), ["A", "B"]);
    // An unclosed fence runs to the end of the document.
    assert_eq!(paths("# A\n```\n# no\n"), ["A"]);
    // Up to three spaces of indentation.
    assert_eq!(paths("   # A\n   ```\n# no\n   ```\n"), ["A"]);
    // Front matter must start on line 0 and close.
    assert_eq!(paths("---\na: 1\n...\n# A\n"), [PREAMBLE_PATH, "A"]);
    assert_eq!(paths("x\n---\n# A\n"), ["x", "A"]);
}

#[test]
fn packing_is_greedy_and_hierarchical() {
    let text = "aa\n\nbb\n\ncccccccccc\ncc\n\ndd";
    let mut out = Vec::new();
    split_span(text, 0, text.len(), 8, &mut out);
    let parts: Vec<&str> = out.iter().map(|&(s, e)| &text[s..e]).collect();
    assert_eq!(parts, ["aa\n\nbb\n\n", "cccccccc", "cc\n", "cc\n\n", "dd"]);

    let mut out = Vec::new();
    pack_chars("é𝄞aé", 0, 9, 4, &mut out);
    assert_eq!(out, [(0, 2), (2, 6), (6, 9)]);
    // Even below the minimum, never an empty part and never inside a character.
    let mut out = Vec::new();
    pack_chars("𝄞é", 0, 6, 1, &mut out);
    assert_eq!(out, [(0, 4), (4, 6)]);
}

#[test]
fn boundaries() {
    let text = "a\n\n\nb\nc\n \nd";
    assert_eq!(line_bounds(text, 0, text.len()), [2, 3, 4, 6, 8, 10]);
    assert_eq!(paragraph_bounds(text, 0, text.len()), [4, 10]);
    assert_eq!(paragraph_bounds(text, 4, text.len()), [10]);
    assert_eq!(paragraph_bounds("\n\nx", 0, 3), [2]);
    assert!(
        paragraph_bounds("\n\nx", 2, 3).is_empty(),
        "not at the range start"
    );
}

#[test]
fn unit_limit_is_enforced() {
    let rules = CutRules::preset(Preset::Paragraphs);
    let cutter = Cutter::new(&rules)
        .unwrap_or_else(|e| panic!("{e}"))
        .with_unit_limit(3);
    assert!(cutter.cut("d", "a\n\nb\n\nc\n").is_ok());
    assert_eq!(
        cutter.cut("d", "a\n\nb\n\nc\n\nd\n"),
        Err(CutError::TooManyUnits {
            document_id: "d".to_owned(),
            limit: 3
        })
    );
    let rules = CutRules::preset(Preset::Paragraphs).with_max_unit_bytes(4);
    let cutter = Cutter::new(&rules)
        .unwrap_or_else(|e| panic!("{e}"))
        .with_unit_limit(3);
    assert!(matches!(
        cutter.cut("d", &"x".repeat(13)),
        Err(CutError::TooManyUnits { .. })
    ));
    assert_eq!(cutter.cut("d", &"x".repeat(12)).map(|u| u.len()), Ok(3));
}

#[test]
fn planned_unit_conversion_keeps_every_field() {
    let cutter = Cutter::new(&CutRules::preset(Preset::Markdown)).unwrap_or_else(|e| panic!("{e}"));
    let units = cutter
        .cut("d", "# A\nx\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let unit = units[0].clone();
    let planned = PlannedUnit::from(unit.clone());
    assert_eq!(
        (planned.ordinal, planned.unit_id, planned.path, planned.part),
        (unit.ordinal, unit.unit_id, unit.path, unit.part)
    );
    assert_eq!(
        (planned.start, planned.end, planned.sha256),
        (unit.start, unit.end, unit.sha256)
    );
}

#[test]
fn huge_limit_is_no_limit() {
    let rules = CutRules::preset(Preset::Markdown).with_max_unit_bytes(u64::MAX);
    let cutter = Cutter::new(&rules).unwrap_or_else(|e| panic!("{e}"));
    assert!(cutter.max_unit_bytes().is_some_and(|m| m >= 1 << 32));
    assert_eq!(cutter.cut("d", "abc").map(|u| u.len()), Ok(1));
}
