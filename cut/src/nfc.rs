//! Normalisation views: markers match whether text arrives in NFC or NFD (or a mix). A line
//! prefix that is not already NFC is normalised before matching, and labels are NFC, at most
//! [`MATCH_PREFIX_BYTES`] long. Plain ASCII and precomposed Vietnamese take a fast path with no
//! table lookup.

use std::borrow::Cow;

use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

use crate::MATCH_PREFIX_BYTES;
use crate::lines::bounded;

/// How much raw text may go into a label before it is normalised and bounded (room for NFD).
pub(crate) const RAW_LABEL_BYTES: usize = 4 * MATCH_PREFIX_BYTES;

/// Whether `c` is a starter whose NFC quick-check is Yes, known without a table lookup: below
/// U+0300 (Basic Latin to Spacing Modifier Letters) or in Latin Extended Additional
/// (U+1E00..=U+1EFF, the precomposed Vietnamese letters). A unit test checks these ranges against
/// the normalisation tables.
pub(crate) fn is_plain_starter(c: char) -> bool {
    c < '\u{300}' || ('\u{1e00}'..='\u{1eff}').contains(&c)
}

/// Whether `s` is certainly NFC (the fast path: plain starters only, else the quick check).
fn is_nfc_fast(s: &str) -> bool {
    is_ascii_whole(s.as_bytes())
        || all_plain_starters(s)
        || is_nfc_quick(s.chars()) == IsNormalized::Yes
}

/// `s.chars().all(is_plain_starter)`, read from the UTF-8 lead bytes without decoding the
/// characters: ASCII, two-byte sequences led by 0xC2..=0xCB (U+0080..=U+02FF) and three-byte
/// ones led by 0xE1 0xB8..=0xBB (U+1E00..=U+1EFF). Vietnamese lines are checked here on every
/// candidate line, where decoding each character was most of the check's cost.
fn all_plain_starters(s: &str) -> bool {
    let bytes = s.as_bytes();
    let mut i = 0;
    while let Some(&lead) = bytes.get(i) {
        i += match lead {
            0x00..=0x7f => 1,
            0xc2..=0xcb => 2,
            0xe1 if matches!(bytes.get(i + 1), Some(0xb8..=0xbb)) => 3,
            _ => return false,
        };
    }
    true
}

/// Whether `bytes` are all ASCII: one pass with no early exit, which the compiler vectorises
/// (the views are bounded, lines short: an early exit would not pay).
fn is_ascii_whole(bytes: &[u8]) -> bool {
    bytes.iter().fold(0, |acc, &b| acc | b) < 0x80
}

/// The ASCII runs of a text, for asking of one line after another whether it is all ASCII
/// (hence NFC) without reading each line again: the text is read once, in long stretches, up to
/// each non-ASCII byte. (The English engine asked [`nfc_view`] of every line, which read each
/// line's bytes once more to find it ASCII.)
#[derive(Debug)]
pub(crate) struct AsciiRuns<'t> {
    bytes: &'t [u8],
    /// Where the search last started: every byte from there up to `next` is ASCII.
    from: usize,
    /// The first non-ASCII byte at or after `from` (the length of the text if there is none).
    next: usize,
}

/// How many bytes [`AsciiRuns`] tests at a time before looking for the byte itself.
const ASCII_STRETCH: usize = 256;

impl<'t> AsciiRuns<'t> {
    pub(crate) fn new(text: &'t str) -> Self {
        AsciiRuns {
            bytes: text.as_bytes(),
            from: 0,
            next: first_non_ascii(text.as_bytes(), 0),
        }
    }

    /// Whether bytes `[start, end)` of the text are all ASCII. Cheapest when `start` does not
    /// decrease from one call to the next (the search then never goes back).
    pub(crate) fn is_ascii(&mut self, start: usize, end: usize) -> bool {
        if start < self.from || start > self.next {
            self.from = start;
            self.next = first_non_ascii(self.bytes, start);
        }
        end <= self.next
    }
}

/// The first non-ASCII byte of `bytes` at or after `from` (`bytes.len()` if none).
fn first_non_ascii(bytes: &[u8], from: usize) -> usize {
    let mut at = from.min(bytes.len());
    for stretch in bytes.get(at..).unwrap_or_default().chunks(ASCII_STRETCH) {
        // The whole stretch first (word by word), the byte only in a stretch that has one.
        if !stretch.is_ascii()
            && let Some(i) = stretch.iter().position(|b| !b.is_ascii())
        {
            return at + i;
        }
        at += stretch.len();
    }
    bytes.len()
}

/// `s` as matched: itself when already NFC, else its NFC form (in `buf`).
pub(crate) fn nfc_view<'a>(s: &'a str, buf: &'a mut String) -> &'a str {
    if is_nfc_fast(s) {
        s
    } else {
        buf.clear();
        buf.extend(s.nfc());
        buf.as_str()
    }
}

/// The bounded prefix of `s` as matched by custom levels (see [`nfc_view`]).
pub(crate) fn match_view<'a>(s: &'a str, buf: &'a mut String) -> &'a str {
    nfc_view(bounded(s, MATCH_PREFIX_BYTES), buf)
}

/// A label: the first [`MATCH_PREFIX_BYTES`] of the NFC form of `s`, so the same label whatever
/// the form `s` arrives in (NFD is longer in bytes: the bound applies after normalising).
pub(crate) fn nfc_label(s: &str) -> Cow<'_, str> {
    let raw = bounded(s, RAW_LABEL_BYTES);
    if is_nfc_fast(raw) {
        return Cow::Borrowed(bounded(raw, MATCH_PREFIX_BYTES));
    }
    let mut label = String::with_capacity(raw.len().min(MATCH_PREFIX_BYTES));
    for c in raw.nfc() {
        if label.len() + c.len_utf8() > MATCH_PREFIX_BYTES {
            break;
        }
        label.push(c);
    }
    Cow::Owned(label)
}

#[cfg(test)]
mod tests;
