//! The `paragraphs` preset: every paragraph (a run of non-blank lines) starts a unit labelled
//! `¶1`, `¶2`, …; blank lines belong to the preceding unit.

use crate::lines::{Lines, is_blank};
use crate::scan::{Label, Scan};

/// Opens a unit at the first line of every paragraph.
pub(crate) fn scan_paragraphs(text: &str, scan: &mut Scan<'_>) {
    let mut previous_blank = true;
    let mut count: u64 = 0;
    for line in Lines::new(text) {
        let blank = is_blank(line.content);
        if !blank && previous_blank {
            count += 1;
            scan.open(0, line.start, Label::Paragraph(count));
        }
        previous_blank = blank;
    }
}
