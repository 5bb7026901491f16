//! Unit tests of the Markdown scanner's parts.

use super::*;
use iu_cutter_live_execution::{CutRules, Preset};

use crate::{Cutter, PREAMBLE_PATH};

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
            .map(|u| u.path.into())
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
