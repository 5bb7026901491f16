//! Unit tests of the normalisation views.

use super::*;

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
    assert!(all_plain_starters("Điều 44. Quyền và nghĩa vụ"));
    assert!(!is_nfc_fast(&"Điều".nfd().collect::<String>()));
    assert!(!is_nfc_fast("\u{212a}"));
}

#[test]
fn the_ascii_test_sees_every_byte() {
    for s in [
        "",
        "a",
        "plain text.",
        "é",
        "x\u{80}",
        "abcdefghijklmnopqrstuvwxyz0123456789é",
    ] {
        assert_eq!(is_ascii_whole(s.as_bytes()), s.is_ascii(), "{s:?}");
    }
    let mut long = "a".repeat(300);
    long.push('ệ');
    assert!(!is_ascii_whole(long.as_bytes()));
}

#[test]
fn plain_starters_read_from_bytes_as_from_chars() {
    // Every character at the edges of the encoded ranges and around them, alone and between
    // others.
    let edges = [
        0x0, 0x7f, 0x80, 0xff, 0x100, 0x2ff, 0x300, 0x36f, 0x7ff, 0x800, 0xfff, 0x1000, 0x1dff,
        0x1e00, 0x1e3f, 0x1e40, 0x1ebf, 0x1ec0, 0x1eff, 0x1f00, 0x1fff, 0x2000, 0xffff, 0x1_0000,
        0x10_ffff,
    ];
    let chars: Vec<char> = edges
        .iter()
        .flat_map(|&e: &u32| e.saturating_sub(1)..=e + 1)
        .filter_map(char::from_u32)
        .collect();
    for &c in &chars {
        for s in [
            c.to_string(),
            format!("a{c}"),
            format!("{c}ệ"),
            format!("Đ{c}x"),
        ] {
            assert_eq!(
                all_plain_starters(&s),
                s.chars().all(is_plain_starter),
                "{s:?}"
            );
        }
    }
    assert!(all_plain_starters(""));
}

/// The ASCII runs answer like testing each range on its own, whether the ranges come in order
/// (as the engines ask) or not, across stretches and at the ends of the text.
#[test]
fn ascii_runs_answer_as_each_range_would() {
    let mut text = String::new();
    for i in 0..40 {
        text.push_str(&"plain ascii text ".repeat(i % 7 * 5));
        text.push_str(if i % 3 == 0 {
            "Điều — ư\n"
        } else {
            "line\n"
        });
    }
    let bytes = text.as_bytes();
    let boundaries: Vec<usize> = (0..=text.len())
        .filter(|&i| text.is_char_boundary(i))
        .collect();
    let expected = |start: usize, end: usize| bytes[start..end].is_ascii();
    let mut runs = AsciiRuns::new(&text);
    for pair in boundaries.windows(2).step_by(3) {
        for end in [pair[1], (pair[0] + 300).min(text.len())] {
            assert_eq!(
                runs.is_ascii(pair[0], end),
                expected(pair[0], end),
                "{pair:?} {end}"
            );
        }
    }
    for &(start, end) in &[(0, text.len()), (5, 6), (0, 0), (text.len(), text.len())] {
        let mut fresh = AsciiRuns::new(&text);
        assert_eq!(
            fresh.is_ascii(start, end),
            expected(start, end),
            "{start} {end}"
        );
        assert_eq!(
            runs.is_ascii(start, end),
            expected(start, end),
            "{start} {end}"
        );
    }
    assert!(AsciiRuns::new("").is_ascii(0, 0));
    assert!(!AsciiRuns::new("ư").is_ascii(0, 2));
}
