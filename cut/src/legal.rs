//! The legal presets: `legal-en` ([`english`]) and `legal-vi` ([`vietnamese`]).
//!
//! Both read a document the way a reader citing it would: keyword headings (`Article 5`,
//! `Điều 44`), numbered provisions inside them, and, for English texts, the unnumbered headings
//! that open a part (`Preamble`, `TERMS AND CONDITIONS`, `APPENDIX: …`). Each preset's module
//! docs list its rules, each with the mistake it prevents; [`numbers`] holds the number forms
//! and the sequence rule, [`layout`] what a line's neighbours and decorations say. The rules are
//! measured against real documents by `cargo xtask accuracy` (the gold set in `tests/gold/`).
//!
//! Shared by both: a keyword heading must look like a heading ([`heading_tail_ok`]), and a line
//! that continues the previous line's sentence is never a marker (the wrap rule).

pub(crate) mod english;
pub(crate) mod layout;
pub(crate) mod numbers;
#[cfg(test)]
mod test_support;
pub(crate) mod vietnamese;

use crate::lines::trim_start;
pub(crate) use english::EnglishEngine;
pub(crate) use vietnamese::VietnameseEngine;

/// How much of a line the rules look at (its NFC form): more than a heading can take, even in
/// four-byte characters or decomposed, so a longer line is running text whatever its form.
pub(crate) const VIEW_BYTES: usize = 512;

/// Most digits in one component of a numbered clause (so `2024.` is not a clause).
const MAX_NUMBER_DIGITS: usize = 3;

/// Whether what follows a keyword heading's number makes the line a heading: the end of the line,
/// punctuation (`.`, `:`, `-`, `–`, `—`, `)`) after optional whitespace, or whitespace and then
/// anything but a lowercase letter (so a sentence starting `Section 3 of …` is not a heading).
///
/// Checked on the number as matched (greedily): a shorter number would leave a letter or digit
/// here, which never passes, so no other split of the line could.
pub(crate) fn heading_tail_ok(rest: &str) -> bool {
    let trimmed = trim_start(rest);
    match trimmed.chars().next() {
        None => true,
        Some('.' | ':' | '-' | '–' | '—' | ')') => true,
        Some(c) => trimmed.len() < rest.len() && !c.is_lowercase(),
    }
}

/// Whether `rest` is empty or starts with whitespace (the regex `(?:\s|$)`).
pub(crate) fn at_break(rest: &str) -> bool {
    rest.chars().next().is_none_or(char::is_whitespace)
}

/// The ASCII digits at the start of `s`, if there are 1 to [`MAX_NUMBER_DIGITS`].
pub(crate) fn leading_number(s: &str) -> Option<&str> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if (1..=MAX_NUMBER_DIGITS).contains(&digits) {
        s.get(..digits)
    } else {
        None
    }
}
