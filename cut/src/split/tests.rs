//! Unit tests of the size split.

use super::*;

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
