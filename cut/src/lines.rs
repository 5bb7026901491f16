//! The line model every engine scans: a text split at `\n`, each line with its content (without
//! a `\r` before the `\n`, and without a BOM on the first line). The newline search is
//! `memchr`'s.

/// One line of the source.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Line<'t> {
    /// First byte of the line (on line 0, the BOM if any).
    pub(crate) start: usize,
    /// First byte of `content`.
    pub(crate) content_start: usize,
    /// The line without a leading BOM (line 0), the `\n` and a `\r` before it.
    pub(crate) content: &'t str,
    /// Start of the next line (the length of the text after the last line).
    pub(crate) next: usize,
}

impl Line<'_> {
    pub(crate) fn content_end(&self) -> usize {
        self.content_start + self.content.len()
    }
}

/// Finds the `\n` bytes of a text with `memchr` (vectorised where the CPU allows: 32 bytes a
/// step with AVX2; the crate is already in the build through `regex`). It replaced a 16-byte
/// word-trick search of our own, a tenth of the cut's time in the profile, 7 % after.
struct Newlines<'t> {
    /// Offset of the searched bytes in the text.
    base: usize,
    found: memchr::Memchr<'t>,
}

impl<'t> Newlines<'t> {
    /// The newlines of `bytes` from offset `from` on.
    fn new(bytes: &'t [u8], from: usize) -> Self {
        let from = from.min(bytes.len());
        Newlines {
            base: from,
            found: memchr::memchr_iter(b'\n', bytes.get(from..).unwrap_or_default()),
        }
    }

    /// The next newline's offset.
    #[inline]
    fn next_newline(&mut self) -> Option<usize> {
        self.found.next().map(|i| self.base + i)
    }
}

/// The lines of a text, split at `\n`.
pub(crate) struct Lines<'t> {
    text: &'t str,
    pos: usize,
    newlines: Newlines<'t>,
}

impl<'t> Lines<'t> {
    pub(crate) fn new(text: &'t str) -> Self {
        Self::starting_at(text, 0)
    }

    /// The lines from byte `pos`, which must be the start of a line.
    pub(crate) fn starting_at(text: &'t str, pos: usize) -> Self {
        Lines {
            text,
            pos,
            newlines: Newlines::new(text.as_bytes(), pos),
        }
    }
}

impl<'t> Iterator for Lines<'t> {
    type Item = Line<'t>;

    #[inline]
    fn next(&mut self) -> Option<Line<'t>> {
        let text = self.text;
        let start = self.pos;
        if start >= text.len() {
            return None;
        }
        let (line_end, next) = match self.newlines.next_newline() {
            Some(i) => (i, i + 1),
            None => (text.len(), text.len()),
        };
        self.pos = next;
        let mut content_end = line_end;
        if content_end > start && text.as_bytes().get(content_end - 1) == Some(&b'\r') {
            content_end -= 1;
        }
        let content_start = if start == 0 && text.starts_with('\u{feff}') {
            '\u{feff}'.len_utf8()
        } else {
            start
        };
        Some(Line {
            start,
            content_start,
            content: text.get(content_start..content_end).unwrap_or_default(),
            next,
        })
    }
}

/// `s` cut to at most `max` bytes at a character boundary.
pub(crate) fn bounded(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

/// `s.trim()`, answered at once when `s` starts and ends with ASCII bytes that are not
/// whitespace (most lines): the engines trim each line several times.
#[inline]
pub(crate) fn trim(s: &str) -> &str {
    let solid = |b: &u8| b.is_ascii() && !matches!(b, b' ' | b'\t'..=b'\r');
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(first), Some(last)) if solid(first) && solid(last) => s,
        _ => s.trim(),
    }
}

/// `s.trim_start()`, skipping ASCII whitespace byte by byte and handing over to the standard
/// one only at a non-ASCII character.
#[inline]
pub(crate) fn trim_start(s: &str) -> &str {
    let n = s
        .bytes()
        .take_while(|b| matches!(b, b' ' | b'\t'..=b'\r'))
        .count();
    let rest = s.get(n..).unwrap_or_default();
    match rest.as_bytes().first() {
        Some(b) if !b.is_ascii() => rest.trim_start(),
        _ => rest,
    }
}

/// Whether `s` holds only ASCII whitespace.
pub(crate) fn is_blank(s: &str) -> bool {
    s.bytes()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'\x0b' | b'\x0c'))
}

#[cfg(test)]
mod tests;
