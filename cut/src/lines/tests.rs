//! Unit tests of the line model.

use super::*;
use crate::MATCH_PREFIX_BYTES;

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
fn the_quick_trim_trims_as_the_standard_one_does() {
    for s in [
        "",
        " ",
        "a",
        " a ",
        "\ta\r",
        "a\x0b",
        "\x0ba",
        "\u{a0}a\u{a0}",
        "\u{3000}x",
        "x\u{2028}",
        "é",
        " é",
        "a b",
        "\x1fa\x1f",
        ".",
        "\u{feff}a",
    ] {
        assert_eq!(trim(s), s.trim(), "{s:?}");
        assert_eq!(trim_start(s), s.trim_start(), "{s:?}");
        let indented = format!(" \t{s}");
        assert_eq!(trim_start(&indented), indented.trim_start(), "{s:?}");
    }
}
