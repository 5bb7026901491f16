//! Unit tests of the line-layout helpers.

use super::*;

#[test]
fn sentence_ends_look_past_closing_marks() {
    for ended in [
        "Act\".",
        "follows:",
        "and;",
        "(see below).",
        "**Introduction**.",
        "it?”",
        "done. ",
        "done.)",
        "etc…",
        "end.\t",
    ] {
        assert!(ends_sentence(ended), "{ended}");
    }
    for open in [
        "under section",
        "assembled,",
        "Section 3.5",
        "OF PYTHON",
        "",
        "12",
        "word ",
        "(a)",
        "é",
    ] {
        assert!(!ends_sentence(open), "{open}");
    }
}

#[test]
fn the_wrap_rule_needs_running_text_that_goes_on() {
    let prev = |line: &str| Prev::of_text(line, ends_sentence(line));
    let long = "released under this License and any conditions added under section";
    assert!(prev(long).continues());
    assert!(!prev("keep intact all notices.").continues());
    assert!(!prev("- item two").continues(), "a short item");
    assert!(!prev("QUY ĐỊNH CHUNG").continues(), "a title in capitals");
    assert!(!prev("4").continues(), "a page number");
    assert!(!Prev::Blank.continues() && !Prev::Heading.continues());
    assert!(Prev::Rule.is_break() && Prev::Start.is_break() && !Prev::Heading.is_break());
}

#[test]
fn running_text_counts_characters_not_bytes() {
    let ascii = "a".repeat(41);
    assert!(is_running_text(&ascii, false));
    assert!(!is_running_text(&ascii[..40], false));
    // Forty letters of two bytes each: 80 bytes, still forty characters.
    let accented = "é".repeat(40);
    assert!(!is_running_text(&accented, false));
    assert!(is_running_text(&format!("{accented}é"), false));
    let wide = "𝒶".repeat(41);
    assert!(is_running_text(&wide, false));
    assert!(is_running_text("two words.", true) && !is_running_text("word.", true));
    for n in [0, 1, 39, 40, 41, 200] {
        for s in [
            ascii.as_str(),
            accented.as_str(),
            wide.as_str(),
            "Rượu từ 20 độ",
        ] {
            assert_eq!(more_chars_than(s, n), s.chars().count() > n, "{s} {n}");
        }
    }
}

#[test]
fn bare_numbers_rules_and_boxes() {
    for number in ["2", " 65 ", "1.500", "35%", "12,5"] {
        assert!(is_bare_number(number), "{number}");
    }
    for not in ["2.a", "", "Rượu", "1234567890123"] {
        assert!(!is_bare_number(not), "{not}");
    }
    for rule in ["---", "=====", "  *****  ", "- - -", "~~~"] {
        assert!(is_rule(rule), "{rule}");
    }
    for not in ["--", "-- x", "*  6. Disclaimer  *"] {
        assert!(!is_rule(not), "{not}");
    }
    assert!(is_box_line("*                *"));
    assert!(is_box_line("******"));
    assert!(!is_box_line("*  6. Disclaimer of Warranty  *"));
}

#[test]
fn decorations_come_off() {
    let boxed = undecorate("*  6. Disclaimer of Warranty                 *");
    assert_eq!(
        (boxed.text, boxed.boxed, boxed.atx),
        ("6. Disclaimer of Warranty", true, false)
    );
    let atx = undecorate("## Standard Terms ##");
    assert_eq!(
        (atx.text, atx.boxed, atx.atx),
        ("Standard Terms", false, true)
    );
    assert_eq!(undecorate("**Article 5**").text, "Article 5");
    assert_eq!(undecorate("  #hashtag").text, "#hashtag");
    assert!(!undecorate("#hashtag").atx);
    assert!(is_quoted("\"SEC. 528. COORDINATION"));
    assert!(is_quoted("“Điều 5."));
    assert!(!is_quoted("SEC. 2."));
    assert_eq!(indent_columns("\t 1."), 5);
}
