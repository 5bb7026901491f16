//! How a line sits on the page, for the legal presets: what the line before it was (to tell a
//! wrapped sentence from a new provision), decorations around a heading (a box of `*`, Markdown
//! `#` or `**`), separators and underlines, bare numbers (page numbers, table cells), and whether
//! a short line reads as a title.
//!
//! Everything here looks at one line's bytes (or a bounded prefix of it): no regex, no
//! allocation.

use crate::lines::trim;

/// What the previous non-blank line was, as far as the wrap rule cares.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Prev {
    /// Nothing before, or only blank lines since the start of the text.
    #[default]
    Start,
    /// A blank line.
    Blank,
    /// A line of text; `ended` when it ends a sentence (or a clause: `.`, `:`, `;`, `!`, `?`,
    /// possibly followed by closing quotes or brackets), `running` when it reads as running text
    /// ([`is_running_text`]) rather than as a short item.
    Text {
        /// Whether the line ends a sentence or clause.
        ended: bool,
        /// Whether the line reads as running text.
        running: bool,
    },
    /// A heading or a title line: a marker, the title after a keyword heading, a line without
    /// lowercase letters, an underline or a separator.
    Heading,
    /// A line holding only a number (a page number or a table cell).
    Number,
    /// A separator, an underline, or a line of a box.
    Rule,
}

impl Prev {
    /// Whether a line after this one continues its sentence (the wrap rule): the previous line is
    /// running text that does not end a sentence. (A short item such as `- item two` without a
    /// full stop does not count: a heading may well follow it.)
    pub(crate) fn continues(self) -> bool {
        matches!(
            self,
            Prev::Text {
                ended: false,
                running: true
            }
        )
    }

    /// What a non-blank line of text is, as the line before the next one; `ended` says whether
    /// the whole line ends a sentence ([`ends_sentence`], decided on its raw end when `line` is
    /// a bounded view of it).
    pub(crate) fn of_text(line: &str, ended: bool) -> Prev {
        if is_bare_number(line) {
            Prev::Number
        } else if !has_lowercase(line) {
            Prev::Heading
        } else {
            Prev::Text {
                ended,
                running: is_running_text(line, ended),
            }
        }
    }

    /// Whether this is a blank line, the start of the text, or a separator: what may stand
    /// before an unnumbered heading.
    pub(crate) fn is_break(self) -> bool {
        matches!(self, Prev::Start | Prev::Blank | Prev::Rule)
    }
}

/// Whether `s` ends a sentence or a clause: its last character, past closing quotes, brackets and
/// emphasis, is `.`, `:`, `;`, `!` or `?`.
pub(crate) fn ends_sentence(s: &str) -> bool {
    // Most lines end with a letter, a digit or a full stop: decided on the last byte.
    match s.as_bytes().last() {
        Some(b'.' | b':' | b';' | b'!' | b'?') => return true,
        Some(b) if b.is_ascii_alphanumeric() || *b == b',' => return false,
        _ => {}
    }
    let trimmed = s.trim_end_matches(|c: char| {
        c.is_whitespace() || matches!(c, '"' | '\'' | '”' | '’' | ')' | ']' | '*' | '»')
    });
    trimmed.ends_with(['.', ':', ';', '!', '?', '…'])
}

/// Whether `s` (trimmed) is only a number, as a page number or a table cell is: digits, possibly
/// with `.`, `,` or `%`, at most 12 characters.
pub(crate) fn is_bare_number(s: &str) -> bool {
    let t = trim(s);
    !t.is_empty()
        && t.len() <= 12
        && t.bytes().next().is_some_and(|b| b.is_ascii_digit())
        && t.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b',' | b'%'))
}

/// Whether `s` (trimmed) is a separator or an underline: at least three of one of `-`, `=`,
/// `*`, `_`, `~`, and nothing else but spaces.
pub(crate) fn is_rule(s: &str) -> bool {
    let t = trim(s);
    let Some(&first) = t.as_bytes().first() else {
        return false;
    };
    matches!(first, b'-' | b'=' | b'*' | b'_' | b'~')
        && t.bytes().filter(|&b| b == first).count() >= 3
        && t.bytes().all(|b| b == first || b == b' ' || b == b'\t')
}

/// Whether `s` is a line of a box drawn with `*`: a border (`*****`) or an empty side line
/// (`*      *`).
pub(crate) fn is_box_line(s: &str) -> bool {
    let t = trim(s);
    t.len() >= 2
        && t.starts_with('*')
        && t.ends_with('*')
        && t.bytes().all(|b| matches!(b, b'*' | b' ' | b'\t'))
}

/// Whether `s` contains a lowercase letter.
pub(crate) fn has_lowercase(s: &str) -> bool {
    // ASCII first, byte by byte: most lines have a lowercase ASCII letter early.
    s.bytes().any(|b| b.is_ascii_lowercase())
        || (!s.is_ascii() && s.chars().any(char::is_lowercase))
}

/// Whether the line reads as running text rather than as a title or a short item: it has
/// lowercase letters and is longer than a heading usually is (more than 40 characters), or it
/// ends a sentence.
pub(crate) fn is_running_text(s: &str, ended: bool) -> bool {
    let t = trim(s);
    (ended && t.bytes().any(|b| b == b' '))
        || (t.len() > 40 && has_lowercase(t) && more_chars_than(t, 40))
}

/// Whether `s` has more than `n` characters (counted on the bytes that start one; a string of
/// more than `4 * n` bytes has, whatever its characters).
fn more_chars_than(s: &str, n: usize) -> bool {
    s.len() > 4 * n || s.bytes().filter(|&b| (b as i8) >= -0x40).nth(n).is_some()
}

/// A line with its decorations taken off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Undecorated<'a> {
    /// The text inside the decorations, trimmed.
    pub(crate) text: &'a str,
    /// Drawn inside a box of `*` (`*  6. Disclaimer of Warranty  *`).
    pub(crate) boxed: bool,
    /// A Markdown ATX heading (`# Standard Terms`).
    pub(crate) atx: bool,
}

/// Takes the decorations off a line: a box side (`*  …  *`), Markdown heading `#`s, `**bold**`.
pub(crate) fn undecorate(content: &str) -> Undecorated<'_> {
    let trimmed = trim(content);
    if !matches!(trimmed.as_bytes().first(), Some(b'*' | b'#' | b'_')) {
        // No decoration starts otherwise: most lines.
        return Undecorated {
            text: trimmed,
            boxed: false,
            atx: false,
        };
    }
    if trimmed.len() > 2
        && trimmed.starts_with("* ")
        && trimmed.ends_with(" *")
        && !is_box_line(trimmed)
    {
        let inner = trimmed.get(1..trimmed.len() - 1).unwrap_or_default().trim();
        return Undecorated {
            text: inner,
            boxed: true,
            atx: false,
        };
    }
    let hashes = trimmed.bytes().take_while(|&b| b == b'#').count();
    if (1..=6).contains(&hashes)
        && trimmed
            .as_bytes()
            .get(hashes)
            .is_some_and(|&b| b == b' ' || b == b'\t')
    {
        let inner = trimmed.get(hashes..).unwrap_or_default().trim();
        let inner = inner.trim_end_matches('#').trim_end();
        return Undecorated {
            text: strip_bold(inner),
            boxed: false,
            atx: true,
        };
    }
    Undecorated {
        text: strip_bold(trimmed),
        boxed: false,
        atx: false,
    }
}

/// `**text**` or `__text__` as `text`.
fn strip_bold(s: &str) -> &str {
    for mark in ["**", "__"] {
        if let Some(inner) = s.strip_prefix(mark).and_then(|r| r.strip_suffix(mark))
            && !inner.is_empty()
        {
            return inner.trim();
        }
    }
    s
}

/// Whether a line starts with a quotation mark: quoted text (an amending act quoting the section
/// it inserts) holds no marker of the document's own.
pub(crate) fn is_quoted(text: &str) -> bool {
    matches!(text.as_bytes().first(), Some(b'"' | b'\'' | 0x80..))
        && text.starts_with(['"', '“', '„', '\'', '‘', '«'])
}

/// Indentation in columns (a tab counts to the next multiple of 4).
pub(crate) fn indent_columns(content: &str) -> usize {
    let mut columns = 0;
    for b in content.bytes() {
        match b {
            b' ' => columns += 1,
            b'\t' => columns += 4 - columns % 4,
            _ => break,
        }
    }
    columns
}

#[cfg(test)]
mod tests;
