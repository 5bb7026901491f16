//! The line model every engine scans: a text split at `\n`, each line with its content (without
//! a `\r` before the `\n`, and without a BOM on the first line). The newline search reads 16
//! bytes at a time with word tricks (no `unsafe`, no dependency).

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

/// Finds the `\n` bytes of a text 16 bytes at a time (no `unsafe`, no dependency): a tight
/// loop skips blocks without a newline with the classic "word contains a zero byte" test on the
/// words XOR `\n`s; a block with one gets an exact mask, one bit per byte.
struct Newlines<'t> {
    bytes: &'t [u8],
    /// Offset of the current block.
    base: usize,
    /// The current block's newlines not yet returned: bit *i* is byte `base + i`.
    mask: u64,
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;
const NEWLINES: u64 = 0x0a0a_0a0a_0a0a_0a0a;

/// Nonzero if and only if some byte of `x` is zero (the bits set may be inexact).
fn has_zero_byte(x: u64) -> u64 {
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// Bit *i* set if and only if byte *i* of `x` is zero (Hacker's Delight, exact form, then the
/// high bits gathered into one byte by a multiply: all partial products are distinct powers of
/// two, so nothing carries).
fn zero_byte_bits(x: u64) -> u64 {
    const LOW7: u64 = !HIGHS;
    let highs = !(((x & LOW7) + LOW7) | x | LOW7);
    ((highs >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
}

fn word_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    if let Some(chunk) = bytes.get(at..at.saturating_add(8)) {
        word.copy_from_slice(chunk);
    } else {
        // The short last word: padding with zeros adds no newline.
        let tail = bytes.get(at..).unwrap_or_default();
        word.iter_mut().zip(tail).for_each(|(w, &b)| *w = b);
    }
    u64::from_le_bytes(word)
}

/// The newlines among the (up to) 16 bytes at `base`, one bit per byte.
fn newline_bits(bytes: &[u8], base: usize) -> u64 {
    let low = zero_byte_bits(word_at(bytes, base) ^ NEWLINES);
    let high = zero_byte_bits(word_at(bytes, base.saturating_add(8)) ^ NEWLINES);
    // Bytes past the end read as zeros, which are not newlines.
    low | (high << 8)
}

impl<'t> Newlines<'t> {
    fn new(bytes: &'t [u8], from: usize) -> Self {
        Newlines {
            bytes,
            base: from,
            mask: newline_bits(bytes, from),
        }
    }

    /// The next newline's offset.
    fn next_newline(&mut self) -> Option<usize> {
        if self.mask == 0 {
            self.advance()?;
        }
        let bit = self.mask.trailing_zeros() as usize;
        self.mask &= self.mask - 1;
        Some(self.base + bit)
    }

    /// Moves to the next block that holds a newline.
    fn advance(&mut self) -> Option<()> {
        let bytes = self.bytes;
        let mut base = self.base.saturating_add(16);
        while let Some(block) = bytes.get(base..base.saturating_add(16)) {
            let (low, high) = block.split_at(8);
            let low = u64::from_le_bytes(low.try_into().unwrap_or_default()) ^ NEWLINES;
            let high = u64::from_le_bytes(high.try_into().unwrap_or_default()) ^ NEWLINES;
            if has_zero_byte(low) | has_zero_byte(high) != 0 {
                self.base = base;
                self.mask = zero_byte_bits(low) | (zero_byte_bits(high) << 8);
                return Some(());
            }
            base += 16;
        }
        // The last, short block.
        self.base = base;
        self.mask = if base < bytes.len() {
            newline_bits(bytes, base)
        } else {
            0
        };
        (self.mask != 0).then_some(())
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
