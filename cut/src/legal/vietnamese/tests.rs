//! Unit tests of the Vietnamese preset's parts: prefilters, matchers, the wrap and table rules.

use super::*;
use crate::legal::test_support::{DOTTED_SAMPLES, owned, unit_lines};
use iu_cutter_live_execution::{CutRules, Preset};
use proptest::strategy::Strategy as _;
use unicode_normalization::is_nfc;

use crate::Cutter;

#[test]
fn preset_keywords_are_nfc() {
    {
        let engine = VietnameseEngine::vietnamese().unwrap_or_else(|e| panic!("{e}"));
        for rule in &engine.rules {
            match (rule.prefilter, &rule.matcher) {
                (Prefilter::Literals(literals), Matcher::Keyword(regex)) => {
                    for literal in literals {
                        assert!(is_nfc(literal), "{literal:?} is not NFC");
                        assert!(regex.as_str().contains(literal));
                    }
                }
                (Prefilter::Literals(literals), Matcher::Heading(keywords, _)) => {
                    assert_eq!(literals, *keywords);
                    for literal in literals {
                        assert!(is_nfc(literal), "{literal:?} is not NFC");
                    }
                }
                _ => {}
            }
        }
    }
}

#[test]
fn rule_masks() {
    let vi = VietnameseEngine::vietnamese().unwrap_or_else(|e| panic!("{e}"));
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
    let vi = VietnameseEngine::vietnamese().unwrap_or_else(|e| panic!("{e}"));
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

    assert_eq!(is_nfc_quick("Ủ".chars()), IsNormalized::Yes);
}

#[test]
fn hand_written_matchers_agree_with_their_regexes() {
    let clause = Regex::new(r"\A(\d{1,3})\.(?:\s|$)").unwrap_or_else(|e| panic!("{e}"));
    let point = Regex::new(r"\A([a-zđ])\)(?:\s|$)").unwrap_or_else(|e| panic!("{e}"));
    let group = |regex: &Regex, s: &str, i: usize| {
        regex
            .captures(s)
            .and_then(|c| c.get(i))
            .map(|m| m.as_str().to_owned())
    };
    let points = [
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
    ];
    for s in DOTTED_SAMPLES.into_iter().chain(points) {
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
    }
}

/// Each unit's first line (1-based) and path, cut with `legal-vi`.
fn cut_lines(text: &str) -> Vec<(usize, String)> {
    unit_lines(Preset::LegalVi, text)
}

#[test]
fn a_wrapped_line_starting_with_a_number_is_no_clause() {
    let text = "Điều 1. Phạm vi\n\
                1. Cơ quan thực hiện theo quy định tại khoản\n\
                2. Điều này và các quy định khác.\n\
                2. Khoản hai.\n";
    assert_eq!(
        cut_lines(text),
        owned(&[(1, "Điều 1"), (2, "Điều 1/Khoản 1"), (4, "Điều 1/Khoản 2")])
    );
}

#[test]
fn the_wrap_rule_reads_the_line_before_in_nfc() {
    // Forty characters in NFC (a short line: no running text), fifty-three in NFD.
    let text = "Điều 1. Phạm vi\n\
                Các tổ chức được giao nhiệm vụ tại khoản\n\
                1. Khoản một.\n";
    let nfd: String = unicode_normalization::UnicodeNormalization::nfd(text).collect();
    let expected = owned(&[(1, "Điều 1"), (3, "Điều 1/Khoản 1")]);
    assert_eq!(cut_lines(text), expected);
    assert_eq!(cut_lines(&nfd), expected);
}

#[test]
fn a_page_number_or_a_heading_before_a_clause_is_no_wrap() {
    let text = "Điều 5. Đối tượng không chịu thuế\n\
                1. Khoản một.\n\
                In đậm, nghiêng: Bổ sung so với dự thảo.\n\
                2\n\
                2. Khoản hai.\n\
                a) Điểm a;\n\
                Trang\n\
                4\n\
                b) Điểm b.\n";
    assert_eq!(
        cut_lines(text),
        owned(&[
            (1, "Điều 5"),
            (2, "Điều 5/Khoản 1"),
            (5, "Điều 5/Khoản 2"),
            (6, "Điều 5/Khoản 2/Điểm a"),
            (9, "Điều 5/Khoản 2/Điểm b"),
        ])
    );
}

#[test]
fn the_rows_of_a_flattened_table_are_not_points() {
    let text = "Điều 7. Thuế suất\n\
                Thuế suất được quy định theo Biểu thuế sau đây:\n\
                STT\n\
                Hàng hóa, dịch vụ\n\
                Thuế suất (%)\n\
                1\n\
                Thuốc lá điếu, xì gà\n\
                75\n\
                2\n\
                Rượu\n\
                a) Rượu từ 20 độ trở lên\n\
                65\n\
                b) Rượu dưới 20 độ\n\
                35\n\
                3\n\
                Bia\n\
                65\n\
                Điều 8. Hoàn thuế\n\
                1. Khoản một.\n";
    assert_eq!(
        cut_lines(text),
        owned(&[(1, "Điều 7"), (18, "Điều 8"), (19, "Điều 8/Khoản 1")])
    );
}

#[test]
fn quoted_articles_and_annexes() {
    let text = "Điều 1. Sửa đổi\n\
                “Điều 5. Điều được trích dẫn\n\
                \"1. Khoản được trích dẫn.\n\
                Phụ lục I\n\
                DANH MỤC\n\
                PHỤ LỤC II\n";
    assert_eq!(
        cut_lines(text),
        owned(&[(1, "Điều 1"), (4, "Phụ lục I"), (6, "PHỤ LỤC II")])
    );
}

/// Every hand-read keyword heading rule of the preset, with the regex it stands for.
fn heading_rules() -> Vec<(&'static [&'static str], Number, Regex)> {
    let engine = VietnameseEngine::vietnamese().unwrap_or_else(|e| panic!("{e}"));
    let headings: Vec<_> = engine
        .rules
        .iter()
        .filter_map(|rule| match rule.matcher {
            Matcher::Heading(keywords, number) => {
                let pattern = format!(r"\A({})\s+({})", keywords.join("|"), number.pattern());
                let regex = Regex::new(&pattern).unwrap_or_else(|e| panic!("{e}"));
                Some((keywords, number, regex))
            }
            _ => None,
        })
        .collect();
    assert_eq!(headings.len(), 6, "Phụ lục, Chương, Mục, Điều, Khoản, Điểm");
    headings
}

/// What a label says, to compare two of them.
fn label_text(label: Option<Label<'_>>) -> Option<String> {
    label.map(|label| {
        let mut out = String::new();
        label.write_to(&mut out);
        out
    })
}

#[test]
fn hand_read_headings_read_as_their_regexes_on_samples() {
    let samples = [
        "Điều 44. Hiệu lực",
        "ĐIỀU 12a",
        "Điều 12345",
        "Điều 1234b x",
        "Điều 1234",
        "ĐIỀU 1234b.",
        "Chương XIV",
        "Chương 12",
        "Điều\u{a0}\u{2003}7: x",
        "Điều 5 của Luật",
        "Điều5",
        "Chương IV",
        "Chương IVa",
        "CHƯƠNG 3b",
        "Chương  XI – QUY ĐỊNH",
        "Mục 2 x",
        "Phụ lục II",
        "PHỤ LỤC 12",
        "Khoản 12",
        "Khoản 1234",
        "Điểm đ)",
        "Điểm a",
        "Điểm A",
        "Điểm ab",
        "Điểm z.",
        "ĐIỂM đ",
        "Khoản",
    ];
    for (keywords, number, regex) in heading_rules() {
        let mut locs = regex.capture_locations();
        for sample in samples {
            assert_eq!(
                label_text(keyword_heading(keywords, number, sample)),
                label_text(keyword_label(&regex, &mut locs, sample)),
                "{sample:?} by {}",
                regex.as_str()
            );
        }
    }
}

/// Pieces of a line: `select`ed in turn for the keyword, the space after it, the number and
/// what follows, so that most lines come close to a heading.
fn pieces(of: &[&'static str]) -> impl proptest::strategy::Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(of.to_vec()), 0..4)
        .prop_map(|parts| parts.concat())
}

proptest::proptest! {
    #[test]
    fn hand_read_headings_read_as_their_regexes(
        head in proptest::sample::select(vec![
            "Điều", "ĐIỀU", "Chương", "CHƯƠNG", "Mục", "MỤC", "Phụ lục", "PHỤ LỤC", "Khoản", "KHOẢN",
            "Điểm", "ĐIỂM", "Điề", "x", "",
        ]),
        space in pieces(&[" ", "  ", "\t", "\u{a0}", "\u{2003}", "\u{85}", "x"]),
        number in pieces(&[
            "1", "23", "4567", "I", "V", "X", "L", "C", "D", "M", "IV", "a", "b", "z", "đ", "Đ",
            "A",
        ]),
        tail in pieces(&[
            " ", ".", ":", ")", "-", "–", "x", "X", "của", "é", "ư", "\u{301}", "1", "a", "đ",
            "Điều",
        ]),
    ) {
        let line = format!("{head}{space}{number}{tail}");
        for (keywords, number, regex) in heading_rules() {
            let mut locs = regex.capture_locations();
            proptest::prop_assert_eq!(
                label_text(keyword_heading(keywords, number, &line)),
                label_text(keyword_label(&regex, &mut locs, &line)),
                "{:?} by {}",
                line,
                regex.as_str()
            );
        }
    }
}
