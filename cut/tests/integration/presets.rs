//! The cut presets on realistic documents: exact paths, NFC/NFD, line endings, size limits,
//! stable ids, custom levels.

use std::collections::HashSet;

use iu_cutter_cut::{
    CutError, CutUnit, Cutter, MIN_MAX_UNIT_BYTES, PREAMBLE_PATH, check_hashes, check_lossless,
};
use iu_cutter_live_execution::{CutRules, LevelRule, MarkerSet, Preset};
use unicode_normalization::UnicodeNormalization;

const LEGAL_EN: &str = "\
REGULATION (EU) 2024/117 OF THE COUNCIL
on the protection of water resources

THE COUNCIL OF THE EUROPEAN UNION,

Having regard to the Treaty on the Functioning of the European Union, and in particular
Article 192 thereof,
Whereas the protection of water is a shared concern,

HAS ADOPTED THIS REGULATION:

Part I
GENERAL PROVISIONS

Chapter 1
Scope and definitions

Article 1. Subject matter
This Regulation lays down rules on the protection of water resources
and on the rights and obligations of operators.

Article 2. Definitions
For the purposes of this Regulation, the following definitions apply:
2.1 \"water body\" means a discrete element of surface water;
2.2 \"operator\" means any natural or legal person who operates a facility;
2.3 \"competent authority\" means the authority designated under
Section 3 of the Water Act 1991, as amended.

Chapter 2
Obligations of operators

Section 1 Permits

Article 3 — Permit requirement
1. No operator shall abstract water without a permit.
2. The permit shall state:
2.1. the maximum volume that may be abstracted;
2.2. the period of validity, which shall not exceed
10 years from the date of issue.
3. Permits shall be published.

Article 4: Applications
An application shall be submitted to the competent authority
1 January of the year preceding the abstraction at the latest.
2024. was the first reference year.

Section 2 Monitoring

Article 5
Operators shall monitor abstraction.
5.1 Monitoring shall be continuous.
5.2 Records shall be kept for ten years and made available on request
to the competent authority referred to in Article 2.

Part II
FINAL PROVISIONS

Chapter 3
Penalties and entry into force

Article 6. Penalties
Member States shall lay down penalties that are effective, proportionate and dissuasive.

Article 7. Entry into force
This Regulation shall enter into force on the twentieth day following that of its
publication.
Done at Brussels, 12 March 2024.
";

const LEGAL_EN_PATHS: &[&str] = &[
    PREAMBLE_PATH,
    "Part I",
    "Part I/Chapter 1",
    "Part I/Chapter 1/Article 1",
    "Part I/Chapter 1/Article 2",
    "Part I/Chapter 1/Article 2/2.1",
    "Part I/Chapter 1/Article 2/2.2",
    "Part I/Chapter 1/Article 2/2.3",
    "Part I/Chapter 2",
    "Part I/Chapter 2/Section 1",
    "Part I/Chapter 2/Section 1/Article 3",
    "Part I/Chapter 2/Section 1/Article 3/1",
    "Part I/Chapter 2/Section 1/Article 3/2",
    "Part I/Chapter 2/Section 1/Article 3/2/2.1",
    "Part I/Chapter 2/Section 1/Article 3/2/2.2",
    "Part I/Chapter 2/Section 1/Article 3/3",
    "Part I/Chapter 2/Section 1/Article 4",
    "Part I/Chapter 2/Section 2",
    "Part I/Chapter 2/Section 2/Article 5",
    "Part I/Chapter 2/Section 2/Article 5/5.1",
    "Part I/Chapter 2/Section 2/Article 5/5.2",
    "Part II",
    "Part II/Chapter 3",
    "Part II/Chapter 3/Article 6",
    "Part II/Chapter 3/Article 7",
];

const LEGAL_VI: &str = "\
QUỐC HỘI
CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
Độc lập - Tự do - Hạnh phúc

Luật số: 28/2023/QH15

LUẬT
TÀI NGUYÊN NƯỚC

Căn cứ Hiến pháp nước Cộng hòa xã hội chủ nghĩa Việt Nam;
Quốc hội ban hành Luật Tài nguyên nước.
1. Dòng đánh số trước điều đầu tiên không phải là khoản.

Chương I
NHỮNG QUY ĐỊNH CHUNG

Điều 1. Phạm vi điều chỉnh
Luật này quy định về quản lý, bảo vệ, điều hòa, phân phối, khai thác, sử dụng tài nguyên nước.

Điều 2. Giải thích từ ngữ
Trong Luật này, các từ ngữ dưới đây được hiểu như sau:
1. Tài nguyên nước là nguồn nước mặt, nước dưới đất, nước mưa và nước biển thuộc lãnh thổ.
2. Nguồn nước bao gồm:
a) Sông, suối, kênh, rạch;
b) Hồ, ao, đầm, phá.
3. Chất lượng nước là các đặc điểm vật lý, hóa học, sinh học của nước.

Điều 3. Nguyên tắc quản lý, bảo vệ tài nguyên nước
1. Tài nguyên nước thuộc sở hữu toàn dân do Nhà nước đại diện chủ sở hữu và thống nhất quản lý.
2. Việc quản lý tài nguyên nước phải bảo đảm:
a) Thống nhất theo lưu vực sông, theo nguồn nước;
b) Kết hợp với quản lý chất lượng nước;
c) Tiết kiệm, an toàn và hiệu quả;
d) Phòng, chống tác hại do nước gây ra;
đ) Bảo vệ hệ sinh thái thủy sinh.

Chương II
ĐIỀU TRA CƠ BẢN, QUY HOẠCH TÀI NGUYÊN NƯỚC

Mục 1
ĐIỀU TRA CƠ BẢN TÀI NGUYÊN NƯỚC

Điều 4. Nội dung điều tra cơ bản tài nguyên nước
Điều tra cơ bản tài nguyên nước bao gồm các nội dung sau đây:
1. Đánh giá số lượng, chất lượng tài nguyên nước.
2. Kiểm kê tài nguyên nước.

Điều 5. Trách nhiệm điều tra cơ bản
Điều 4 của Luật này do Bộ Tài nguyên và Môi trường tổ chức thực hiện.

Mục 2
QUY HOẠCH TÀI NGUYÊN NƯỚC

Điều 6. Quy hoạch tài nguyên nước
1. Quy hoạch tài nguyên nước là quy hoạch ngành quốc gia.
2. Quy hoạch tài nguyên nước phải xác định:
a) Mục tiêu, định hướng;
b) Nhiệm vụ, giải pháp.
Mục tiêu của quy hoạch phải phù hợp với chiến lược phát triển kinh tế - xã hội.

Chương III
ĐIỀU KHOẢN THI HÀNH

Điều 7. Hiệu lực thi hành
Luật này có hiệu lực thi hành từ ngày 01 tháng 7 năm 2024.

Điều 8. Quy định chuyển tiếp
1. Giấy phép đã được cấp trước ngày Luật này có hiệu lực tiếp tục được thực hiện.

Luật này đã được Quốc hội nước Cộng hòa xã hội chủ nghĩa Việt Nam khóa XV,
kỳ họp thứ 5 thông qua ngày 27 tháng 11 năm 2023.

CHỦ TỊCH QUỐC HỘI
";

const LEGAL_VI_PATHS: &[&str] = &[
    PREAMBLE_PATH,
    "Chương I",
    "Chương I/Điều 1",
    "Chương I/Điều 2",
    "Chương I/Điều 2/Khoản 1",
    "Chương I/Điều 2/Khoản 2",
    "Chương I/Điều 2/Khoản 2/Điểm a",
    "Chương I/Điều 2/Khoản 2/Điểm b",
    "Chương I/Điều 2/Khoản 3",
    "Chương I/Điều 3",
    "Chương I/Điều 3/Khoản 1",
    "Chương I/Điều 3/Khoản 2",
    "Chương I/Điều 3/Khoản 2/Điểm a",
    "Chương I/Điều 3/Khoản 2/Điểm b",
    "Chương I/Điều 3/Khoản 2/Điểm c",
    "Chương I/Điều 3/Khoản 2/Điểm d",
    "Chương I/Điều 3/Khoản 2/Điểm đ",
    "Chương II",
    "Chương II/Mục 1",
    "Chương II/Mục 1/Điều 4",
    "Chương II/Mục 1/Điều 4/Khoản 1",
    "Chương II/Mục 1/Điều 4/Khoản 2",
    "Chương II/Mục 1/Điều 5",
    "Chương II/Mục 2",
    "Chương II/Mục 2/Điều 6",
    "Chương II/Mục 2/Điều 6/Khoản 1",
    "Chương II/Mục 2/Điều 6/Khoản 2",
    "Chương II/Mục 2/Điều 6/Khoản 2/Điểm a",
    "Chương II/Mục 2/Điều 6/Khoản 2/Điểm b",
    "Chương III",
    "Chương III/Điều 7",
    "Chương III/Điều 8",
    "Chương III/Điều 8/Khoản 1",
];

const MARKDOWN: &str = "\
---
title: Operator guide
# a YAML comment, not a heading
---
Intro text before any heading.

# Getting started

Some text.

## Install

```bash
# not a heading: inside a fence
cargo install iu-cutter
```

Setext Title
============

Body of the setext section.

Another *section*
-----------------

Text before a thematic break.

---

More text after the break, still in the same section.

### Deep ###

~~~
## not a heading either
~~~
    # indented code, not a heading
#hashtag is not a heading
####### seven hashes are not a heading
- a list item
---
> a quote
---
A paragraph on
two lines
---
##
Closing text.";

const MARKDOWN_PATHS: &[&str] = &[
    PREAMBLE_PATH,
    "Getting started",
    "Getting started/Install",
    "Setext Title",
    "Setext Title/Another *section*",
    "Setext Title/Another *section*/Deep",
    "Setext Title/A paragraph on two lines",
    "Setext Title/h2",
];

fn cutter(preset: Preset) -> Cutter {
    match Cutter::new(&CutRules::preset(preset)) {
        Ok(cutter) => cutter,
        Err(e) => panic!("preset {} does not compile: {e}", preset.name()),
    }
}

/// The `preset`'s cutter with units of at most `max_unit_bytes`.
fn limited_cutter(preset: Preset, max_unit_bytes: u64) -> Cutter {
    let rules = CutRules::preset(preset).with_max_unit_bytes(max_unit_bytes);
    Cutter::new(&rules).unwrap_or_else(|e| panic!("{e}"))
}

fn cut_with(cutter: &Cutter, doc: &str, text: &str) -> Vec<CutUnit> {
    match cutter.cut(doc, text) {
        Ok(units) => units,
        Err(e) => panic!("cut of {doc} failed: {e}"),
    }
}

fn paths(units: &[CutUnit]) -> Vec<&str> {
    units.iter().map(|u| u.path.as_str()).collect()
}

/// The cut of `text` (as document `doc`) with `preset`, checked sound and to have exactly
/// the `expected` paths.
fn exact_cut(preset: Preset, doc: &str, text: &str, expected: &[&str]) -> Vec<CutUnit> {
    let units = cut_with(&cutter(preset), doc, text);
    assert_eq!(paths(&units), expected);
    assert_sound(text, &units, None);
    units
}

/// The text in `text` of the unit at `path`; empty when there is none.
fn text_at<'t>(units: &[CutUnit], text: &'t str, path: &str) -> &'t str {
    units
        .iter()
        .find(|u| u.path == path)
        .and_then(|u| u.text(text))
        .unwrap_or_default()
}

/// Everything a cut must satisfy, checked independently of `check_lossless`.
fn assert_sound(text: &str, units: &[CutUnit], max: Option<u64>) {
    let mut rebuilt = Vec::with_capacity(text.len());
    let mut at = 0;
    let mut ids = HashSet::new();
    for (i, unit) in units.iter().enumerate() {
        assert_eq!(unit.ordinal as usize, i, "ordinal");
        assert_eq!(unit.start, at, "contiguous at unit {i}");
        assert!(unit.end > unit.start, "non-empty unit {i}");
        let body = &text.as_bytes()[unit.start as usize..unit.end as usize];
        assert!(
            text.is_char_boundary(unit.start as usize) && text.is_char_boundary(unit.end as usize),
            "unit {i} on char boundaries"
        );
        assert_eq!(unit.sha256.hex(), iu_cutter_cut::sha256_hex(body));
        assert_eq!(unit.sha256.hex().len(), 64);
        assert_eq!(unit.unit_id.hex().len(), 32);
        assert!(ids.insert(unit.unit_id), "duplicate id {}", unit.unit_id);
        if let Some(max) = max {
            assert!(
                unit.byte_len() <= max,
                "unit {i} is {} > {max}",
                unit.byte_len()
            );
        }
        rebuilt.extend_from_slice(body);
        at = unit.end;
    }
    assert_eq!(rebuilt, text.as_bytes(), "concatenation is the source");
    assert_eq!(check_lossless(text, units), Ok(()));
    assert_eq!(check_hashes(text, units), Ok(()));
}

#[test]
fn legal_en_paths_are_exact() {
    let units = exact_cut(Preset::LegalEn, "reg-2024-117", LEGAL_EN, LEGAL_EN_PATHS);
    // The article heading line starts its unit, which runs up to the next marker.
    assert_eq!(
        text_at(&units, LEGAL_EN, "Part I/Chapter 1/Article 1"),
        "Article 1. Subject matter\nThis Regulation lays down rules on the protection of \
         water resources\nand on the rights and obligations of operators.\n\n"
    );
    // "Article 192 thereof," and "Section 3 of the Water Act" are sentences, not headings.
    assert!(text_at(&units, LEGAL_EN, PREAMBLE_PATH).contains("Article 192 thereof"));
}

#[test]
fn legal_vi_paths_are_exact() {
    let units = exact_cut(Preset::LegalVi, "luat-28-2023", LEGAL_VI, LEGAL_VI_PATHS);
    assert_eq!(
        text_at(&units, LEGAL_VI, "Chương II"),
        "Chương II\nĐIỀU TRA CƠ BẢN, QUY HOẠCH TÀI NGUYÊN NƯỚC\n\n"
    );
    // The preamble keeps its numbered line: clauses count only inside an article.
    assert!(text_at(&units, LEGAL_VI, PREAMBLE_PATH).ends_with("khoản.\n\n"));
}

#[test]
fn markdown_paths_are_exact() {
    let units = exact_cut(Preset::Markdown, "guide.md", MARKDOWN, MARKDOWN_PATHS);
    let text_of = |path: &str| text_at(&units, MARKDOWN, path);
    assert!(text_of(PREAMBLE_PATH).starts_with("---\ntitle: Operator guide\n"));
    assert!(text_of("Getting started/Install").contains("# not a heading: inside a fence"));
    // The setext unit starts at the text line, not at the underline.
    assert!(text_of("Setext Title").starts_with("Setext Title\n====="));
    assert!(
        text_of("Setext Title/Another *section*")
            .contains("Text before a thematic break.\n\n---\n\nMore text after the break")
    );
    assert!(text_of("Setext Title/A paragraph on two lines").starts_with("A paragraph on\n"));
}

#[test]
fn markdown_without_front_matter_close_treats_leading_rule_as_break() {
    let text = "---\n# Title\nbody\n";
    let units = cut_with(&cutter(Preset::Markdown), "d", text);
    assert_eq!(paths(&units), [PREAMBLE_PATH, "Title"]);
}

#[test]
fn paragraphs_preset() {
    let text = "\n\nFirst paragraph\nstill first.\n\n\nSecond.\n  \t\nThird\n";
    let units = cut_with(&cutter(Preset::Paragraphs), "p", text);
    assert_eq!(paths(&units), [PREAMBLE_PATH, "¶1", "¶2", "¶3"]);
    assert_eq!(
        units[1].text(text),
        Some("First paragraph\nstill first.\n\n\n")
    );
    assert_eq!(units[2].text(text), Some("Second.\n  \t\n"));
    assert_sound(text, &units, None);
}

#[test]
fn nfd_input_gives_nfc_paths_and_hashes_of_stored_bytes() {
    let nfd: String = LEGAL_VI.nfd().collect();
    assert_ne!(nfd, LEGAL_VI, "the NFD text really differs");
    assert!(nfd.contains("Đie\u{302}\u{300}u"), "Điều is decomposed");
    let cutter = cutter(Preset::LegalVi);
    let nfc_units = cut_with(&cutter, "luat", LEGAL_VI);
    let nfd_units = cut_with(&cutter, "luat", &nfd);
    assert_eq!(paths(&nfd_units), LEGAL_VI_PATHS);
    assert_sound(&nfd, &nfd_units, None);
    // Same structure, hence the same ids; different bytes, hence different hashes and spans.
    for (a, b) in nfc_units.iter().zip(&nfd_units) {
        assert_eq!(a.unit_id, b.unit_id);
        assert_ne!(a.sha256, b.sha256, "{}", a.path);
    }
    assert_ne!(
        nfc_units.last().map(|u| u.end),
        nfd_units.last().map(|u| u.end)
    );
}

#[test]
fn mixed_normalisation_forms_in_one_document() {
    // NFD heading words, NFC body, and a half-composed form (precomposed ê + combining grave).
    let text = "Chu\u{31b}o\u{31b}ng I\nĐie\u{302}\u{300}u 1. Mu\u{323}c đi\u{301}ch\n1. Một.\nĐi\u{ea}\u{300}u 2\nM\u{1ee5}c 3\n";
    let expected = [
        "Chương I",
        "Chương I/Điều 1",
        "Chương I/Điều 1/Khoản 1",
        "Chương I/Điều 2",
        "Chương I/Mục 3",
    ];
    exact_cut(Preset::LegalVi, "mixed", text, &expected);
}

#[test]
fn vietnamese_all_caps_and_explicit_words() {
    let text = "PHẦN THỨ NHẤT\nCHƯƠNG I\nĐIỀU 1. PHẠM VI\nKhoản 1. Nội dung.\nĐiểm a. Chi tiết.\nĐiểm a khoản 1 Điều 5 được sửa đổi.\nĐiều 2a. Bổ sung\n";
    let expected = [
        "PHẦN THỨ NHẤT",
        "PHẦN THỨ NHẤT/CHƯƠNG I",
        "PHẦN THỨ NHẤT/CHƯƠNG I/ĐIỀU 1",
        "PHẦN THỨ NHẤT/CHƯƠNG I/ĐIỀU 1/Khoản 1",
        "PHẦN THỨ NHẤT/CHƯƠNG I/ĐIỀU 1/Khoản 1/Điểm a",
        "PHẦN THỨ NHẤT/CHƯƠNG I/Điều 2a",
    ];
    exact_cut(Preset::LegalVi, "caps", text, &expected);
}

#[test]
fn crlf_bom_trailing_whitespace_no_final_newline() {
    let text = "\u{feff}# Title  \r\nintro \t\r\n\r\n## Part  \r\n\r\ntext with trailing spaces   \r\n\
                more text with trailing spaces and tabs \t \r\n\
                and a last line without its line ending, then spaces   ";
    for preset in Preset::ALL {
        for max in [None, Some(64), Some(65), Some(100)] {
            let mut rules = CutRules::preset(preset);
            rules.max_unit_bytes = max;
            let cutter = Cutter::new(&rules).unwrap_or_else(|e| panic!("{e}"));
            let units = cut_with(&cutter, "crlf", text);
            assert_sound(text, &units, max);
            assert!(
                units[0]
                    .text(text)
                    .is_some_and(|t| t.starts_with('\u{feff}'))
            );
        }
    }
    // The BOM does not hide the heading on line 0, and "\r" is not part of the label.
    let units = cut_with(&cutter(Preset::Markdown), "crlf", text);
    assert_eq!(paths(&units), ["Title", "Title/Part"]);
    assert_eq!(units[0].start, 0);
    let text = "\u{feff}Chương I\r\nĐiều 1.\r\n1. a\r\na) b";
    let units = cut_with(&cutter(Preset::LegalVi), "crlf", text);
    assert_eq!(
        paths(&units),
        [
            "Chương I",
            "Chương I/Điều 1",
            "Chương I/Điều 1/Khoản 1",
            "Chương I/Điều 1/Khoản 1/Điểm a"
        ]
    );
    assert_sound(text, &units, None);
}

#[test]
fn empty_document_gives_zero_units() {
    for preset in Preset::ALL {
        assert_eq!(cutter(preset).cut("empty", ""), Ok(Vec::new()));
    }
}

#[test]
fn text_without_markers_is_one_preamble_unit() {
    let text = "just some text\nwithout any heading\n";
    for preset in [Preset::Markdown, Preset::LegalEn, Preset::LegalVi] {
        let units = cut_with(&cutter(preset), "plain", text);
        assert_eq!(paths(&units), [PREAMBLE_PATH]);
        assert_eq!((units[0].start, units[0].end), (0, text.len() as u64));
    }
}

#[test]
fn oversize_units_split_paragraph_first() {
    // One article: heading + three paragraphs of 3-byte characters.
    let para = |c: char, n: usize| format!("{}\n", c.to_string().repeat(n));
    let text = format!(
        "Điều 1. Tên\n{}\n{}\n{}",
        para('ệ', 38),
        para('ữ', 38),
        para('ố', 100)
    );
    let max = 120;
    let units = cut_with(&limited_cutter(Preset::LegalVi, max), "d", &text);
    assert_sound(&text, &units, Some(max));
    let pieces: Vec<(&str, Option<u32>, &str)> = units
        .iter()
        .map(|u| (u.path.as_str(), u.part, u.text(&text).unwrap_or_default()))
        .collect();
    let ee = "ệ".repeat(38);
    let uu = "ữ".repeat(38);
    let oo = "ố".repeat(40);
    let oo_tail = "ố".repeat(20);
    assert_eq!(
        pieces,
        [
            // The heading line and the line of ệ form one paragraph (no blank line between
            // them) of 132 bytes: too large, so it is packed by lines, into its own parts.
            ("Điều 1", Some(1), "Điều 1. Tên\n"),
            ("Điều 1", Some(2), &*format!("{ee}\n\n")),
            ("Điều 1", Some(3), &*format!("{uu}\n\n")),
            // A line too long on its own is cut at character boundaries (120 bytes = 40 ố).
            ("Điều 1", Some(4), &*oo),
            ("Điều 1", Some(5), &*oo),
            ("Điều 1", Some(6), &*format!("{oo_tail}\n")),
        ]
    );
}

#[test]
fn split_packs_whole_paragraphs_then_lines() {
    let first = format!(
        "# Heading\n{}\n\n{}\n\n{}\n\n",
        "a".repeat(20),
        "b".repeat(10),
        "c".repeat(10)
    );
    let line1 = "long line number one, which is long enough to fill a part\n";
    let line2 = "long line number two, as long as the first\n";
    let text = format!("{first}ddddd\n{line1}{line2}\ne\n");
    let units = cut_with(&limited_cutter(Preset::Markdown, 64), "d", &text);
    assert_sound(&text, &units, Some(64));
    let texts: Vec<&str> = units
        .iter()
        .map(|u| u.text(&text).unwrap_or_default())
        .collect();
    assert_eq!(
        texts,
        [
            first.as_str(),
            &*format!("ddddd\n{line1}"),
            &*format!("{line2}\n"),
            "e\n",
        ]
    );
    let parts: Vec<Option<u32>> = units.iter().map(|u| u.part).collect();
    assert_eq!(parts, [Some(1), Some(2), Some(3), Some(4)]);
    assert!(units.iter().all(|u| u.path == "Heading"));
}

#[test]
fn units_within_the_limit_are_not_parts() {
    let units = cut_with(&limited_cutter(Preset::LegalVi, 1 << 20), "d", LEGAL_VI);
    assert!(units.iter().all(|u| u.part.is_none()));
    assert_eq!(paths(&units), LEGAL_VI_PATHS);
}

/// (A limit below the minimum is refused: the cutter's own tests check that.)
#[test]
fn at_the_minimum_limit_parts_never_split_a_code_point() {
    // The cut at byte 64 would fall inside a 4-byte character, so the first part ends two
    // bytes earlier.
    let text = format!("é{}", "𝄞".repeat(20));
    let cutter = limited_cutter(Preset::Markdown, MIN_MAX_UNIT_BYTES);
    let units = cut_with(&cutter, "d", &text);
    assert_sound(&text, &units, Some(MIN_MAX_UNIT_BYTES));
    let texts: Vec<&str> = units
        .iter()
        .map(|u| u.text(&text).unwrap_or_default())
        .collect();
    assert_eq!(texts, [format!("é{}", "𝄞".repeat(15)), "𝄞".repeat(5)]);
}

#[test]
fn ids_are_stable_when_one_article_is_edited() {
    let edited = LEGAL_VI.replace(
        "Luật này có hiệu lực thi hành từ ngày 01 tháng 7 năm 2024.",
        "Luật này có hiệu lực thi hành từ ngày 01 tháng 01 năm 2025, trừ trường hợp quy định tại Điều 8.",
    );
    assert_ne!(edited, LEGAL_VI);
    let cutter = cutter(Preset::LegalVi);
    let before = cut_with(&cutter, "luat", LEGAL_VI);
    let after = cut_with(&cutter, "luat", &edited);
    assert_eq!(paths(&before), paths(&after));
    let mut changed = Vec::new();
    for (a, b) in before.iter().zip(&after) {
        assert_eq!(a.unit_id, b.unit_id, "{}", a.path);
        if a.sha256 != b.sha256 {
            changed.push(a.path.as_str());
        }
    }
    assert_eq!(changed, ["Chương III/Điều 7"]);
    // Another document, same structure: different ids.
    let other = cut_with(&cutter, "luat-khac", LEGAL_VI);
    assert!(
        before
            .iter()
            .zip(&other)
            .all(|(a, b)| a.unit_id != b.unit_id)
    );
}

#[test]
fn ids_survive_an_edit_that_splits_one_article() {
    let cutter = limited_cutter(Preset::LegalEn, 200);
    let edited = LEGAL_EN.replace(
        "Member States shall lay down penalties",
        &format!(
            "{}\n\nMember States shall lay down penalties",
            "Long recital. ".repeat(30)
        ),
    );
    let before = cut_with(&cutter, "reg", LEGAL_EN);
    let after = cut_with(&cutter, "reg", &edited);
    let ids = |units: &[CutUnit], skip: &str| -> Vec<iu_cutter_cut::UnitId> {
        units
            .iter()
            .filter(|u| !u.path.ends_with(skip))
            .map(|u| u.unit_id)
            .collect()
    };
    assert_eq!(ids(&before, "Article 6"), ids(&after, "Article 6"));
    assert!(
        after
            .iter()
            .filter(|u| u.path.ends_with("Article 6"))
            .count()
            > 1
    );
    assert_sound(&edited, &after, Some(200));
}

#[test]
fn duplicate_paths_get_unique_ids() {
    // Each body ends its sentence: a heading does not start on a wrapped line.
    let body = format!("{}end.\n", "word ".repeat(20));
    let text = format!("Article 5. First\n{body}Article 5. Again\n{body}Article 5. Third\n{body}");
    let units = cut_with(&limited_cutter(Preset::LegalEn, 64), "dup", &text);
    assert!(units.iter().all(|u| u.path == "Article 5"));
    assert!(units.len() >= 6);
    assert_sound(&text, &units, Some(64));
    let units = cut_with(&cutter(Preset::LegalEn), "dup", &text);
    assert_eq!(units.len(), 3);
    assert_sound(&text, &units, None);
}

#[test]
fn cutting_is_deterministic() {
    for (preset, text) in [
        (Preset::LegalEn, LEGAL_EN),
        (Preset::LegalVi, LEGAL_VI),
        (Preset::Markdown, MARKDOWN),
        (Preset::Paragraphs, LEGAL_EN),
    ] {
        let a = cut_with(&cutter(preset), "doc", text);
        let b = cut_with(&cutter(preset), "doc", text);
        assert_eq!(a, b);
    }
}

/// Rules cutting at the custom `levels`, with no size limit.
fn custom_rules(levels: Vec<LevelRule>) -> CutRules {
    CutRules {
        markers: MarkerSet::Custom(levels),
        max_unit_bytes: None,
    }
}

/// The cutter of [`custom_rules`] over `levels`.
fn custom_cutter(levels: Vec<LevelRule>) -> Cutter {
    Cutter::new(&custom_rules(levels)).unwrap_or_else(|e| panic!("{e}"))
}

fn level(name: &str, pattern: &str) -> LevelRule {
    LevelRule {
        name: name.to_owned(),
        pattern: pattern.to_owned(),
    }
}

#[test]
fn custom_levels() {
    let cutter = custom_cutter(vec![
        level("title", r"TITLE\s+([IVX]+)"),
        level("rule", r"Rule \d+"),
        level("empty", r"x*"),
    ]);
    let text =
        "intro\nTITLE II\nRule 1 text\nRule 2\n  Rule 3 (indented: not a marker)\nxx \nTITLE III\n";
    let units = cut_with(&cutter, "c", text);
    assert_eq!(
        paths(&units),
        [
            PREAMBLE_PATH,
            "II",
            "II/Rule 1",
            "II/Rule 2",
            "II/Rule 2/xx",
            "III"
        ]
    );
    assert_sound(text, &units, None);
}

#[test]
fn custom_patterns_match_nfd_text() {
    let cutter = custom_cutter(vec![level("điều", r"(Điều \d+)")]);
    let text: String = "Điều 1\nnội dung\nĐiều 2\n".nfd().collect();
    let units = cut_with(&cutter, "c", &text);
    assert_eq!(paths(&units), ["Điều 1", "Điều 2"]);
}

#[test]
fn no_custom_levels_means_one_unit() {
    let units = cut_with(&custom_cutter(Vec::new()), "c", "a\n# b\n");
    assert_eq!(paths(&units), [PREAMBLE_PATH]);
}

#[test]
fn invalid_custom_regex_names_the_level() {
    let rules = custom_rules(vec![
        level("chapter", r"Chapter \d+"),
        level("article", r"Article (\d+"),
    ]);
    match Cutter::new(&rules) {
        Err(CutError::InvalidPattern {
            level,
            pattern,
            message,
        }) => {
            assert_eq!(level, "article");
            assert_eq!(pattern, r"Article (\d+");
            assert!(message.contains("unclosed"), "{message}");
        }
        other => panic!("expected InvalidPattern, got {other:?}"),
    }
    // A pattern that would escape the anchor if pasted into `^(?:…)` is rejected, not anchored
    // halfway.
    let rules = CutRules {
        markers: MarkerSet::Custom(vec![level("sneaky", r"a)|(b")]),
        max_unit_bytes: None,
    };
    let err = Cutter::new(&rules)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("`sneaky`"), "{err}");
}
