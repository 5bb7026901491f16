//! Unit tests of the `legal-en` rules, one or more per rule of the module docs, each on the
//! kind of text that motivated it.

use iu_cutter_live_execution::Preset;

use super::*;
use crate::legal::test_support::{owned, unit_lines};

/// Each unit's first line (1-based) and path, cut with `legal-en` (the preamble left out).
fn cut_lines(text: &str) -> Vec<(usize, String)> {
    let mut lines = unit_lines(Preset::LegalEn, text);
    lines.retain(|(_, path)| path != crate::PREAMBLE_PATH);
    lines
}

fn label(line: &str) -> Option<String> {
    keyword_heading(line).map(|heading| {
        let mut text = String::new();
        heading.label().write_to(&mut text);
        text
    })
}

#[test]
fn keyword_headings_and_the_heading_tail_rule() {
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
        ("SEC. 2. COORDINATION OF FOOD", Some("SEC. 2")),
        ("Sec. 5 Definitions", Some("Sec. 5")),
        ("§ 5 Scope", Some("§ 5")),
        ("§5", Some("§ 5")),
        ("Art. 12 Duties", Some("Art. 12")),
        ("Section. 2.", Some("Section. 2")),
        ("Article. I.", Some("Article. I")),
        ("Clause 3: The Senate", Some("Clause 3")),
        (
            "Exhibit A - Source Code Form License Notice",
            Some("Exhibit A"),
        ),
        ("EXHIBIT A -Mozilla Public License.", Some("EXHIBIT A")),
        ("Schedule 2", Some("Schedule 2")),
        ("Section 3.5 Payment", Some("Section 3.5")),
        ("Article 5 of the Treaty", None),
        ("Article 5, which", None),
        ("Articles 5 and 6", None),
        ("article 5", None),
        ("Chapter Index", None),
        ("Part of the", None),
        ("Article5", None),
        ("Chapter 5 ", Some("Chapter 5")),
        ("Chapter 5a", Some("Chapter 5a")),
        ("Chapter 5ab", None),
        ("Part IVX", Some("Part IVX")),
        ("Part Ia", None),
        ("Part I.", Some("Part I")),
        ("Article 12 é", None),
        ("Article 12 É", Some("Article 12")),
        ("Article 12\u{a0}— x", Some("Article 12")),
        ("Title V of the Act", None),
    ] {
        assert_eq!(label(line).as_deref(), expected, "{line}");
    }
}

#[test]
fn every_keyword_passes_the_first_test() {
    for word in [
        "Part",
        "Title",
        "Division",
        "Chapter",
        "Subchapter",
        "Section",
        "Sec.",
        "Article",
        "Art.",
        "Clause",
        "Schedule",
        "Annex",
        "Appendix",
        "Exhibit",
        "Attachment",
    ] {
        for written in [word.to_owned(), word.to_uppercase()] {
            let line = format!("{written} 5 Title");
            assert!(may_start_keyword(&line), "{line}");
            let expected = format!("{written} 5");
            assert_eq!(label(&line), Some(expected), "{line}");
        }
    }
    for line in [
        "Sec 5",
        "ART 5",
        "The Parties",
        "This Agreement",
        "Member States",
        "Where",
    ] {
        assert_eq!(label(line), None, "{line}");
    }
    assert!(may_start_keyword("§ 5") && !may_start_keyword("The") && !may_start_keyword(""));
}

#[test]
fn keyword_levels_follow_the_documents_own_order() {
    // The US Constitution puts sections in articles…
    let us = "Article. I.\n\nSection 1.\n\nText.\n\nSection. 2.\n\nClause 1: The House.\n\n\
              Article. II.\n\nSection. 1.\n";
    assert_eq!(
        cut_lines(us),
        owned(&[
            (1, "Article. I"),
            (3, "Article. I/Section 1"),
            (7, "Article. I/Section. 2"),
            (9, "Article. I/Section. 2/Clause 1"),
            (11, "Article. II"),
            (13, "Article. II/Section. 1"),
        ])
    );
    // … EU regulations put articles in sections.
    let eu = "CHAPTER I\nGeneral\n\nSection 1\nScope\n\nArticle 1\nSubject-matter\n\n\
              1. This Regulation lays down rules.\n\nArticle 2\nScope\n\nSection 2\nOther\n\nArticle 3\n";
    assert_eq!(
        cut_lines(eu),
        owned(&[
            (1, "CHAPTER I"),
            (4, "CHAPTER I/Section 1"),
            (7, "CHAPTER I/Section 1/Article 1"),
            (10, "CHAPTER I/Section 1/Article 1/1"),
            (12, "CHAPTER I/Section 1/Article 2"),
            (15, "CHAPTER I/Section 2"),
            (18, "CHAPTER I/Section 2/Article 3"),
        ])
    );
}

#[test]
fn a_wrapped_line_is_never_a_marker() {
    // GPL-3 section 5: `7.` is the end of a sentence of item b).
    let gpl = "  5. Conveying Modified Source Versions.\n\n\
               \x20   b) The work must carry prominent notices stating that it is\n\
               \x20   released under this License and any conditions added under section\n\
               \x20   7.  This requirement modifies the requirement in section 4 to\n\
               \x20   \"keep intact all notices\".\n\n\
               \x20 6. Conveying Non-Source Forms.\n";
    assert_eq!(cut_lines(gpl), owned(&[(1, "5"), (8, "6")]));
    // MPL-1.1: a cross-reference wrapped to the start of a line.
    let mpl = "3.1. Application of License.\n\
               You may include an additional document offering the rights described in\n\
               Section 3.5.\n\
               3.2. Availability of Source Code.\n";
    assert_eq!(cut_lines(mpl), owned(&[(1, "3.1"), (4, "3.2")]));
    // A heading in capitals closed by punctuation is a heading even after a comma.
    let bill = "Be it enacted by the Senate and House of Representatives of the\n\
                United States of America in Congress assembled,\n\
                SECTION 1. SHORT TITLE.\n\
                \x20   This Act may be cited as the \"Food Act\".\n";
    assert_eq!(cut_lines(bill), owned(&[(3, "SECTION 1")]));
}

#[test]
fn out_of_sequence_numbers_are_text_unless_written_like_their_siblings() {
    // MPL-2.0: `2.1 of this License` inside 5.2 (expected 5.3 or 6).
    let mpl = "5. Termination\n\n5.1. The rights granted terminate.\n\n\
               5.2. If You initiate litigation, then the rights granted to You by any and all\n\
               Contributors under Section\n\
               2.1 of this License shall terminate.\n\n\
               5.3. In the event of termination, all end user licenses survive.\n\n\
               6. Disclaimer of Warranty\n";
    assert_eq!(
        cut_lines(mpl),
        owned(&[
            (1, "5"),
            (3, "5/5.1"),
            (5, "5/5.2"),
            (9, "5/5.3"),
            (11, "6")
        ])
    );
    // A repealed section leaves a gap: 4 follows 2, written the same way.
    let gap =
        "1. First section.\n\n2. Second section.\n\n4. Fourth section.\n\n9. Not a section.\n";
    assert_eq!(cut_lines(gap), owned(&[(1, "1"), (3, "2"), (5, "4")]));
    // Written otherwise (indented, no dot), the gap is text.
    let unlike = "1. First section.\n\n2. Second section.\n\n      4 Fourth.\n";
    assert_eq!(cut_lines(unlike), owned(&[(1, "1"), (3, "2")]));
}

#[test]
fn first_children_restarts_and_article_numbered_paragraphs() {
    // MPL-1.1: 1.0.1 is a first child of 1; 1.8.1 of 1.8.
    let mpl = "1. Definitions.\n\n     1.0.1. Commercial Use means.\n\n     1.1. Contributor means.\n\n\
               \x20    1.2. License means.\n\n     1.2.1. Licensable means.\n\n     1.3. Modifications.\n\n\
               2. Source Code License.\n";
    assert_eq!(
        cut_lines(mpl),
        owned(&[
            (1, "1"),
            (3, "1/1.0.1"),
            (5, "1/1.1"),
            (7, "1/1.2"),
            (9, "1/1.2/1.2.1"),
            (11, "1/1.3"),
            (13, "2"),
        ])
    );
    // Numbering restarts under each licence of a file that holds several.
    let python = "Some software is under other licenses, listed below with it.\n\n\
                  PSF LICENSE AGREEMENT\n---------------------\n\n1. This is the first.\n\n\
                  2. This is the second.\n\nBEOPEN LICENSE AGREEMENT\n-------------------------\n\n\
                  1. This is the first again.\n";
    assert_eq!(
        cut_lines(python),
        owned(&[
            (3, "PSF LICENSE AGREEMENT"),
            (6, "1"),
            (8, "2"),
            (10, "BEOPEN LICENSE AGREEMENT"),
            (13, "1"),
        ])
    );
    // Paragraphs numbered after their article (`5.1` in `Article 5`).
    let article =
        "Article 5\nMonitoring\n5.1 Monitoring shall be continuous.\n5.2 Records shall be kept.\n";
    assert_eq!(
        cut_lines(article),
        owned(&[(1, "Article 5"), (3, "Article 5/5.1"), (4, "Article 5/5.2")])
    );
}

#[test]
fn undotted_degree_and_parenthesised_numbering() {
    let constitution = "Article 15\n\n1 The National Parliament shall be called the Oireachtas.\n\n\
                        1° It shall consist of the President and two Houses.\n\n\
                        2° The Houses shall be a House of Representatives and a Senate.\n\n\
                        2 The sole power of making laws is vested in the Oireachtas.\n\n\
                        1 January is not a provision but a date.\n";
    assert_eq!(
        cut_lines(constitution),
        owned(&[
            (1, "Article 15"),
            (3, "Article 15/1"),
            (5, "Article 15/1/1°"),
            (7, "Article 15/1/2°"),
            (9, "Article 15/2"),
        ])
    );
    // `(1)` as the section level (the Artistic License 2.0), lowercase text after it is not.
    let artistic = "Everyone is permitted to copy and distribute verbatim copies of it.\n\n\
                    Permission for Use\n\n(1)  You are permitted to use the Standard Version.\n\n\
                    Redistribution\n\n(2)  You may Distribute verbatim copies.\n\n\
                    (3) apply fixes, which is a sentence.\n";
    assert_eq!(
        cut_lines(artistic),
        owned(&[
            (3, "Permission for Use"),
            (5, "(1)"),
            (7, "Redistribution"),
            (9, "(2)"),
        ])
    );
    // Below lettered items, `(1)` is a sub-item, not a provision.
    let bill = "SEC. 2. COORDINATION.\n    (a) In General.--Title V is amended.\n\
                \x20   (b) Clerical Amendment.--The table is amended--\n\
                \x20       (1) by striking the items; and\n        (2) by inserting an item.\n";
    assert_eq!(cut_lines(bill), owned(&[(1, "SEC. 2")]));
}

#[test]
fn lettered_and_roman_headings_sit_above_arabic_numbers() {
    let python = "A. HISTORY OF THE SOFTWARE\n==========================\n\nPython was created.\n\n\
                  B. TERMS AND CONDITIONS\n=======================\n\nThe terms follow.\n";
    assert_eq!(cut_lines(python), owned(&[(1, "A"), (6, "B")]));
    let roman = "I. GENERAL\n\n1. Scope.\n\n2. Terms.\n\nII. SPECIAL\n\n1. Other scope.\n";
    assert_eq!(
        cut_lines(roman),
        owned(&[(1, "I"), (3, "I/1"), (5, "I/2"), (7, "II"), (9, "II/1")])
    );
    // GFDL section 4: `A.`, `B.` inside a numbered section are list items.
    let gfdl = "4. MODIFICATIONS\n\nYou must do these things:\n\n\
                A. Use in the Title Page a distinct title.\nB. List on the Title Page the authors.\n\n\
                5. COMBINING DOCUMENTS\n";
    assert_eq!(cut_lines(gfdl), owned(&[(1, "4"), (8, "5")]));
}

#[test]
fn unnumbered_part_headings_open_parts_that_contain_nothing() {
    let gpl = "                    GNU GENERAL PUBLIC LICENSE\n                       Version 3, 29 June 2007\n\n\
               \x20Copyright (C) 2007 Free Software Foundation, Inc. <https://fsf.org/>\n\n\
               \x20                           Preamble\n\n  The GNU General Public License is a free license.\n\n\
               \x20                      TERMS AND CONDITIONS\n\n  0. Definitions.\n\n  1. Source Code.\n\n\
               \x20                    END OF TERMS AND CONDITIONS\n\n\
               \x20           How to Apply These Terms to Your New Programs\n\n  If you develop a program.\n";
    assert_eq!(
        cut_lines(gpl),
        owned(&[
            (6, "Preamble"),
            (10, "TERMS AND CONDITIONS"),
            (12, "0"),
            (14, "1"),
            (18, "How to Apply These Terms to Your New Programs"),
        ])
    );
    let apache = "   9. Accepting Warranty.\n\n   END OF TERMS AND CONDITIONS\n\n\
                  \x20  APPENDIX: How to apply the Apache License to your work.\n\n      To apply it, attach.\n";
    assert_eq!(
        cut_lines(apache),
        owned(&[
            (1, "9"),
            (5, "APPENDIX: How to apply the Apache License to your work.")
        ])
    );
    // `NO WARRANTY` between two sections: numbering goes on after it.
    let gpl2 = "  10. If you wish to incorporate parts.\n\n                            NO WARRANTY\n\n\
                \x20 11. BECAUSE THE PROGRAM IS LICENSED FREE OF CHARGE.\n";
    assert_eq!(
        cut_lines(gpl2),
        owned(&[(1, "10"), (3, "NO WARRANTY"), (5, "11")])
    );
}

#[test]
fn what_is_not_a_part_heading() {
    // The title block, a subtitle, a one-word label in capitals, a closing line, a sentence, a
    // table header, a copyright line, footnotes.
    let text = "Creative Commons Legal Code\n\nCC0 1.0 Universal\n\n\
                This is a long first paragraph of running text, which ends the title block.\n\n\
                ICU License - ICU 1.8.1 to ICU 57.1\n\nCOPYRIGHT AND PERMISSION NOTICE\n\nThe text.\n\n\
                ACCEPT\n\nThe End\n\nThat's all there is to it!\n\n\
                \x20   Release         Derived     Year\n\n\
                Copyright (C) 2007 Free Software Foundation\n\n\
                Footnotes:\n\n(1) GPL-compatible doesn't mean anything here.\n";
    assert_eq!(
        cut_lines(text),
        owned(&[(7, "ICU License - ICU 1.8.1 to ICU 57.1")])
    );
    // A heading wrapped onto two lines is one heading.
    let two = "Some running text that ends here.\n\n                    GNU GENERAL PUBLIC LICENSE\n\
               \x20  TERMS AND CONDITIONS FOR COPYING, DISTRIBUTION AND MODIFICATION\n\n  0. This License applies.\n";
    assert_eq!(
        cut_lines(two),
        owned(&[(3, "GNU GENERAL PUBLIC LICENSE"), (6, "0")])
    );
}

#[test]
fn decorated_headings() {
    // MPL-2.0: sections 6 and 7 are drawn in boxes; their units start at the box's top border.
    let mpl = "5.3. In the event of termination, licenses survive.\n\n\
               ************************************************************************\n\
               *                                                                      *\n\
               *  6. Disclaimer of Warranty                                           *\n\
               *  -------------------------                                           *\n\
               *                                                                      *\n\
               *  Covered Software is provided under this License on an \"as is\"       *\n\
               *  basis, without warranty of any kind.                                *\n\
               ************************************************************************\n\n\
               8. Litigation\n";
    assert_eq!(cut_lines(mpl), owned(&[(1, "5.3"), (3, "6"), (12, "8")]));
    let markdown = "# Standard Terms\n\n1. **Introduction**. This agreement.\n\n**Article 5**\n\n\
                    #  comment line one\n#  comment line two\n";
    assert_eq!(
        cut_lines(markdown),
        owned(&[(1, "Standard Terms"), (3, "1"), (5, "Article 5")])
    );
}

#[test]
fn quoted_text_and_table_rows_are_not_markers() {
    let bill = "SEC. 2. COORDINATION.\n    \"SEC. 528. COORDINATION OF EFFORTS.\n\
                \"Sec. 523. Guidance and recommendations.\n";
    assert_eq!(cut_lines(bill), owned(&[(1, "SEC. 2")]));
    let table = "A. HISTORY\n\n    0.9.0 thru 1.2              1991-1995   CWI         yes\n\
                 \x20   1.6             1.5.2       2000        CNRI        no\n\
                 \x20   2.0             1.6         2000        BeOpen.com  no\n";
    assert_eq!(cut_lines(table), owned(&[(1, "A")]));
}
