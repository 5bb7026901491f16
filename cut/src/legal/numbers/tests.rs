//! Unit tests of the number forms and of the sequence rule.

use regex::Regex;

use super::*;
use crate::legal::test_support::DOTTED_SAMPLES;

fn token(text: &str) -> Option<(Style, Vec<u16>, String, bool)> {
    tokens(text).into_iter().flatten().next().map(|t| {
        (
            t.number.style,
            t.number.parts().to_vec(),
            t.label.to_owned(),
            t.dot,
        )
    })
}

#[test]
fn number_forms() {
    for (text, style, parts, label, dot) in [
        ("1. Scope", Style::Dotted, &[1][..], "1", true),
        ("1.2 Scope", Style::Dotted, &[1, 2][..], "1.2", false),
        ("1.2. Scope", Style::Dotted, &[1, 2][..], "1.2", true),
        ("1 It is", Style::Undotted, &[1][..], "1", false),
        ("2° The", Style::Degree, &[2][..], "2°", false),
        ("(14)  Disclaimer", Style::Paren, &[14][..], "(14)", false),
        ("IV. Part", Style::Roman, &[4][..], "IV", true),
        ("B. TERMS", Style::Letter, &[2][..], "B", true),
    ] {
        assert_eq!(
            token(text),
            Some((style, parts.to_vec(), label.to_owned(), dot)),
            "{text}"
        );
    }
    let both = tokens("C. Third");
    assert_eq!(
        both.map(|t| t.map(|t| (t.number.style, t.number.last()))),
        [Some((Style::Roman, 100)), Some((Style::Letter, 3))]
    );
    for not in [
        "2024. Year",
        "1.5million",
        "1.2.3.4.5.6.7 x",
        "(a) item",
        "IIII. x",
        "Ab. x",
        "x",
    ] {
        assert_eq!(tokens(not), [None, None], "{not}");
    }
    assert_eq!(roman_value("XIV"), Some(14));
    assert_eq!(roman_value("VX"), None);
    assert_eq!(roman_numeral(1994), "MCMXCIV");
    // Each numeral `roman_value` reads (up to eight letters) reads back as its number.
    for n in 1..=3999 {
        let numeral = roman_numeral(n);
        if numeral.len() <= 8 {
            assert_eq!(roman_value(&numeral), Some(n), "{numeral}");
        }
    }
    assert!(is_table_row("             1.5.2       2000"));
    assert!(!is_table_row(" Definitions"));
}

#[test]
fn dotted_tokens_agree_with_a_regex() {
    let dotted =
        Regex::new(r"\A(\d{1,3}(?:\.\d{1,3}){0,5})(\.?)(?:\s|$)").unwrap_or_else(|e| panic!("{e}"));
    for s in DOTTED_SAMPLES {
        let expected = dotted
            .captures(s)
            .and_then(|c| c.get(1))
            .map(|m| m.as_str().to_owned());
        let found = tokens(s)[0]
            .filter(|t| t.number.style != Style::Degree)
            .map(|t| t.label.to_owned());
        assert_eq!(found, expected, "{s:?}");
    }
}

#[test]
fn the_cheap_test_lets_every_number_through() {
    for s in [
        "1. a",
        "1 x",
        "2° The",
        "(3) The",
        "IV. The",
        "C. The",
        "A. x",
        "12.3 x",
        "(a) x",
        "The",
        "Member States",
        "THE END.",
        "NOTICE",
        "a) x",
        "",
        " 1. x",
        "§ 5",
        "I.",
    ] {
        let found = tokens(s).iter().any(Option::is_some);
        assert!(!found || may_start_number(s), "{s:?}");
    }
    assert!(!may_start_number("The operator shall keep records."));
    assert!(!may_start_number("NOTICE"));
    assert!(!may_start_number("Member States shall"));
    assert!(may_start_number("(1) The") && may_start_number("IV. The") && may_start_number("1 x"));
}

fn form(indent: usize, dot: bool) -> Form {
    Form {
        indent,
        dot,
        tail: Tail::Upper,
    }
}

fn dotted(parts: &[u16]) -> Number {
    Number::new(Style::Dotted, parts)
}

#[test]
fn the_sequence_rule() {
    let mut seq = Sequencer::default();
    let f = form(2, true);
    assert_eq!(
        seq.judge(&dotted(&[0]), &f),
        Verdict::Expected,
        "a first number"
    );
    assert_eq!(seq.accept(dotted(&[0]), f), 0);
    for (parts, verdict) in [
        (&[1][..], Verdict::Expected),
        (&[1, 1], Verdict::Expected),
        (&[1, 2], Verdict::Expected),
        (&[1, 2, 1], Verdict::Expected),
        (&[1, 3], Verdict::Expected),
        (&[2], Verdict::Expected),
    ] {
        assert_eq!(seq.judge(&dotted(parts), &f), verdict, "{parts:?}");
        seq.accept(dotted(parts), f);
    }
    // Inside 2: 7 is out of sequence, 4 is a gap written like 2, but not when indented.
    assert_eq!(seq.judge(&dotted(&[7]), &f), Verdict::No);
    assert_eq!(seq.judge(&dotted(&[4]), &f), Verdict::Gap);
    assert_eq!(seq.judge(&dotted(&[4]), &form(4, true)), Verdict::No);
    assert_eq!(seq.judge(&dotted(&[1, 4]), &f), Verdict::No, "a past level");
    assert_eq!(
        seq.judge(&dotted(&[2, 0, 1]), &f),
        Verdict::Expected,
        "1.0.1-like"
    );
    // After an unnumbered heading, numbering may go on or restart; after a keyword heading it
    // starts afresh, and `5.1` opens `Article 5`.
    seq.part_heading();
    assert_eq!(seq.judge(&dotted(&[3]), &f), Verdict::Expected);
    assert_eq!(seq.judge(&dotted(&[1]), &f), Verdict::Expected);
    seq.keyword_heading(Some(5));
    assert_eq!(seq.judge(&dotted(&[5, 1]), &f), Verdict::Expected);
    assert_eq!(seq.judge(&dotted(&[6, 1]), &f), Verdict::No);
}

#[test]
fn styles_nest_in_the_order_they_appear() {
    let mut seq = Sequencer::default();
    let f = form(0, true);
    let roman = |v| Number::new(Style::Roman, &[v]);
    assert_eq!(seq.accept(roman(1), f), 0);
    assert_eq!(seq.accept(dotted(&[1]), f), 8);
    assert!(seq.arabic_open() && seq.style_open(Style::Roman));
    assert_eq!(seq.judge(&roman(2), &f), Verdict::Expected);
    assert_eq!(seq.accept(roman(2), f), 0);
    assert!(!seq.arabic_open(), "II closes 1");
    assert_eq!(
        seq.judge(&dotted(&[1]), &f),
        Verdict::Expected,
        "numbering restarts under II"
    );
}
