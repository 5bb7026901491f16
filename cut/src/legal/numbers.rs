//! Provision numbers: how they are written at the start of a line, and the sequence each level
//! of numbering follows.
//!
//! **Forms.** Six styles, each a level of its own: dotted arabic `1.`, `1.1`, `1.1.1.` (one level
//! per component), undotted arabic `1 ` (a constitution's `1 It is the…`), with a degree sign
//! `1°`, parenthesised `(1)`, upper-case roman `IV.` and upper-case letters `A.`. At most three
//! digits a component and six components (so `2024.` is a year, not a provision). A number
//! followed by two spaces and another number is a row of a table (`1.6   1.5.2   2000`), not a
//! provision.
//!
//! **Sequences** ([`Sequencer`]). Each level expects its next number: the next sibling of an open
//! provision (`5.2` after `5.1`, `6` after `5.3`), the first child of one (`5.1` in `5`, `1.0.1`
//! in `1`), a first number (`0`, `1`, `A`, `I`) where numbering may start or restart (at the
//! start of the text, after a heading), and `5.1` as the first provision of an `Article 5`. A
//! number that is none of these is out of sequence and is text (`7.  This requirement…` inside
//! section 5 of the GPL), unless it skips ahead by at most three and is written exactly like its
//! previous sibling: same indentation, same trailing dot, same kind of text after it (a repealed
//! section leaves a gap).

use crate::lines::trim_start;

/// Most components of a dotted number.
pub(crate) const MAX_DEPTH: usize = 6;
/// Most digits in one component (so `2024.` is not a provision).
pub(crate) const MAX_DIGITS: usize = 3;
/// How far an out-of-sequence number may skip ahead and still be a provision, when its form
/// matches its previous sibling's.
const MAX_GAP: u16 = 3;

/// How a level of provisions is numbered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Style {
    /// `1.`, `1.1`, `1.1.1.`: one level per component.
    Dotted,
    /// `1 `: an arabic number and a space, no dot.
    Undotted,
    /// `1°`.
    Degree,
    /// `(1)`.
    Paren,
    /// `IV.`.
    Roman,
    /// `A.`.
    Letter,
}

impl Style {
    /// Arabic numbering (the lettered and roman levels sit above it, never below).
    pub(crate) fn is_arabic(self) -> bool {
        matches!(
            self,
            Style::Dotted | Style::Undotted | Style::Degree | Style::Paren
        )
    }
}

/// A provision number: its style and its components (one, except for dotted numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Number {
    pub(crate) style: Style,
    parts: [u16; MAX_DEPTH],
    len: u8,
}

impl Number {
    /// A number of `style` with `parts` (at most [`MAX_DEPTH`]; more are dropped).
    pub(crate) fn new(style: Style, parts: &[u16]) -> Number {
        let mut all = [0; MAX_DEPTH];
        let len = parts.len().min(MAX_DEPTH);
        all[..len].copy_from_slice(&parts[..len]);
        Number {
            style,
            parts: all,
            len: len as u8,
        }
    }

    pub(crate) fn parts(&self) -> &[u16] {
        &self.parts[..usize::from(self.len)]
    }

    /// How many components (1 except for dotted numbers).
    pub(crate) fn depth(&self) -> usize {
        usize::from(self.len)
    }

    pub(crate) fn last(&self) -> u16 {
        self.parts().last().copied().unwrap_or_default()
    }

    fn prefix(&self) -> &[u16] {
        let parts = self.parts();
        &parts[..parts.len().saturating_sub(1)]
    }
}

/// What follows a number: the end of the line, a capital, a lowercase letter, or anything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tail {
    End,
    Upper,
    Lower,
    Other,
}

/// The class of the first character of `rest` after whitespace.
pub(crate) fn tail_of(rest: &str) -> Tail {
    match trim_start(rest).chars().next() {
        None => Tail::End,
        Some(c) if c.is_uppercase() => Tail::Upper,
        Some(c) if c.is_lowercase() => Tail::Lower,
        Some(_) => Tail::Other,
    }
}

/// How a numbered line is written, to compare it with its siblings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Form {
    /// Indentation in columns.
    pub(crate) indent: usize,
    /// Whether a dot follows the number.
    pub(crate) dot: bool,
    pub(crate) tail: Tail,
}

impl Form {
    /// Written like `other`: the same indentation (within a column), trailing dot and kind of
    /// text after the number.
    pub(crate) fn matches(&self, other: &Form) -> bool {
        self.indent.abs_diff(other.indent) <= 1 && self.dot == other.dot && self.tail == other.tail
    }
}

/// A number at the start of a line, as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Token<'a> {
    pub(crate) number: Number,
    /// The number as written without a trailing dot: the label (`1.2`, `(3)`, `2°`, `IV`, `A`).
    pub(crate) label: &'a str,
    /// Whether a dot follows the number.
    pub(crate) dot: bool,
    /// The text after the number (and its dot), untrimmed.
    pub(crate) rest: &'a str,
}

/// Whether `rest` is empty or starts with whitespace.
fn at_break(rest: &str) -> bool {
    rest.chars().next().is_none_or(char::is_whitespace)
}

/// `12` at the start of `s` (1 to [`MAX_DIGITS`] ASCII digits): its value and length.
fn digits(s: &str) -> Option<(u16, usize)> {
    let (mut value, mut n) = (0u16, 0);
    // One digit more than allowed is enough to refuse the number (9999 fits in a u16).
    for &b in s.as_bytes().iter().take(MAX_DIGITS + 1) {
        if !b.is_ascii_digit() {
            break;
        }
        value = value * 10 + u16::from(b - b'0');
        n += 1;
    }
    (1..=MAX_DIGITS).contains(&n).then_some((value, n))
}

/// Whether `text` may start with a number (a digit, `(`, or capitals then `.`): the cheap test
/// that turns most lines of running text away before [`tokens`] reads them.
pub(crate) fn may_start_number(text: &str) -> bool {
    let bytes = text.as_bytes();
    match bytes.first() {
        Some(b'0'..=b'9' | b'(') => true,
        Some(b'A'..=b'Z') => {
            let run = bytes.iter().take_while(|b| b.is_ascii_uppercase()).count();
            bytes.get(run) == Some(&b'.')
        }
        _ => false,
    }
}

/// The readings of a number at the start of `text` (already without indentation or
/// decoration): none, one, or two when a single roman digit could be a letter (`C.`).
pub(crate) fn tokens(text: &str) -> [Option<Token<'_>>; 2] {
    match text.as_bytes().first() {
        Some(b'0'..=b'9') => [arabic(text), None],
        Some(b'(') => [paren(text), None],
        Some(b'A'..=b'Z') => upper(text),
        _ => [None, None],
    }
}

/// `1.`, `1.1`, `1.1.`, `1 `, `1°`.
fn arabic(text: &str) -> Option<Token<'_>> {
    let mut parts = [0u16; MAX_DEPTH];
    let (first, mut end) = digits(text)?;
    parts[0] = first;
    let mut len = 1;
    loop {
        let rest = text.get(end..)?;
        if let Some(after) = rest.strip_prefix('°') {
            return (len == 1 && at_break(after)).then(|| Token {
                number: Number::new(Style::Degree, &parts[..1]),
                label: text.get(..end + '°'.len_utf8()).unwrap_or_default(),
                dot: false,
                rest: after,
            });
        }
        match rest.strip_prefix('.') {
            Some(after) if len < MAX_DEPTH => match digits(after) {
                Some((value, n)) => {
                    parts[len] = value;
                    len += 1;
                    end += 1 + n;
                }
                None => {
                    return at_break(after).then(|| Token {
                        number: Number::new(Style::Dotted, &parts[..len]),
                        label: text.get(..end).unwrap_or_default(),
                        dot: true,
                        rest: after,
                    });
                }
            },
            Some(after) => {
                return at_break(after).then(|| Token {
                    number: Number::new(Style::Dotted, &parts[..len]),
                    label: text.get(..end).unwrap_or_default(),
                    dot: true,
                    rest: after,
                });
            }
            None if at_break(rest) => {
                let style = if len == 1 {
                    Style::Undotted
                } else {
                    Style::Dotted
                };
                return Some(Token {
                    number: Number::new(style, &parts[..len]),
                    label: text.get(..end).unwrap_or_default(),
                    dot: false,
                    rest,
                });
            }
            None => return None,
        }
    }
}

/// `(12)`.
fn paren(text: &str) -> Option<Token<'_>> {
    let inner = text.strip_prefix('(')?;
    let (value, n) = digits(inner)?;
    let rest = inner.get(n..)?.strip_prefix(')')?;
    at_break(rest).then(|| Token {
        number: Number::new(Style::Paren, &[value]),
        label: text.get(..n + 2).unwrap_or_default(),
        dot: false,
        rest,
    })
}

/// `IV.` and `A.` (a single roman digit reads both ways).
fn upper(text: &str) -> [Option<Token<'_>>; 2] {
    let run = text.bytes().take_while(u8::is_ascii_uppercase).count();
    let Some(rest) = text.get(run..).and_then(|r| r.strip_prefix('.')) else {
        return [None, None];
    };
    if !at_break(rest) {
        return [None, None];
    }
    let label = text.get(..run).unwrap_or_default();
    let token = |style, value| Token {
        number: Number::new(style, &[value]),
        label,
        dot: true,
        rest,
    };
    let roman = roman_value(label).map(|v| token(Style::Roman, v));
    let letter = (run == 1)
        .then(|| label.bytes().next())
        .flatten()
        .map(|b| token(Style::Letter, u16::from(b - b'A') + 1));
    [roman, letter]
}

/// The value of an upper-case roman numeral, if `s` is one written the usual way.
pub(crate) fn roman_value(s: &str) -> Option<u16> {
    let digit = |b: u8| match b {
        b'I' => Some(1),
        b'V' => Some(5),
        b'X' => Some(10),
        b'L' => Some(50),
        b'C' => Some(100),
        b'D' => Some(500),
        b'M' => Some(1000),
        _ => None,
    };
    let values: Vec<i32> = s.bytes().map(digit).collect::<Option<_>>()?;
    if values.is_empty() || values.len() > 8 {
        return None;
    }
    let mut total: i32 = 0;
    for (i, &v) in values.iter().enumerate() {
        if values.get(i + 1).is_some_and(|&next| next > v) {
            total -= v;
        } else {
            total += v;
        }
    }
    let total = u16::try_from(total).ok()?;
    // Only the canonical spelling (so `IIII` or `VX` are not numbers).
    (roman_numeral(total) == s).then_some(total)
}

/// `n` in upper-case roman numerals, written the usual way (`1994` is `MCMXCIV`): the one
/// spelling [`roman_value`] reads, and what the benches' generated laws number chapters with.
pub fn roman_numeral(mut n: u16) -> String {
    const TABLE: [(u16, &str); 13] = [
        (1000, "M"),
        (900, "CM"),
        (500, "D"),
        (400, "CD"),
        (100, "C"),
        (90, "XC"),
        (50, "L"),
        (40, "XL"),
        (10, "X"),
        (9, "IX"),
        (5, "V"),
        (4, "IV"),
        (1, "I"),
    ];
    let mut out = String::new();
    for (value, digits) in TABLE {
        while n >= value {
            out.push_str(digits);
            n -= value;
        }
    }
    out
}

/// Whether a number is followed by a column of a table rather than by text: two or more spaces
/// (or a tab), then a digit.
pub(crate) fn is_table_row(rest: &str) -> bool {
    let spaces = rest.bytes().take_while(|&b| b == b' ').count();
    (spaces >= 2 || rest.starts_with('\t'))
        && trim_start(rest)
            .as_bytes()
            .first()
            .is_some_and(u8::is_ascii_digit)
}

/// How a number stands against the sequence of its level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The next number of its level, a first child, or a (re)start.
    Expected,
    /// Ahead of its level's next number by a few, written like its previous sibling.
    Gap,
    /// Out of sequence: text.
    No,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    number: Number,
    form: Form,
}

/// The numbering state of a document: the open provisions (outermost first), the last number
/// seen at each style and depth, and where numbering may restart.
#[derive(Clone, Debug, Default)]
pub(crate) struct Sequencer {
    open: Vec<Entry>,
    last: Vec<Entry>,
    /// The level of each style, outermost first, by first appearance.
    ranks: Vec<Style>,
    /// A heading came since the last first-level provision: numbering may restart at 1.
    restart: bool,
    /// The arabic number of the innermost keyword heading (`5` in `Article 5`).
    anchor: Option<u16>,
    /// The styles seen anywhere in the document so far.
    seen: Vec<Style>,
}

impl Sequencer {
    /// A keyword heading opened: every provision closes and numbering starts afresh inside it.
    pub(crate) fn keyword_heading(&mut self, anchor: Option<u16>) {
        self.open.clear();
        self.last.clear();
        self.restart = true;
        self.anchor = anchor;
    }

    /// An unnumbered heading opened: every provision closes; numbering may continue or restart.
    pub(crate) fn part_heading(&mut self) {
        self.open.clear();
        self.restart = true;
        self.anchor = None;
    }

    /// Whether an arabic-numbered provision is open (lettered and roman headings cannot be
    /// below one).
    pub(crate) fn arabic_open(&self) -> bool {
        self.open.iter().any(|e| e.number.style.is_arabic())
    }

    /// Whether a provision of `style` is open.
    pub(crate) fn style_open(&self, style: Style) -> bool {
        self.open.iter().any(|e| e.number.style == style)
    }

    /// Where `number`, written as `form`, stands in the sequence.
    pub(crate) fn judge(&self, number: &Number, form: &Form) -> Verdict {
        let parts = number.parts();
        let depth = number.depth();
        let same = |e: &&Entry| {
            e.number.style == number.style
                && e.number.depth() == depth
                && e.number.prefix() == number.prefix()
        };
        let sibling = self
            .open
            .iter()
            .rev()
            .find(same)
            .or_else(|| self.last.iter().find(same));
        if let Some(previous) = sibling {
            let (last, value) = (previous.number.last(), number.last());
            if value == last.saturating_add(1) || (depth == 1 && self.restart && value <= 1) {
                return Verdict::Expected;
            }
            if value > last && value - last <= MAX_GAP && previous.form.matches(form) {
                return Verdict::Gap;
            }
            return Verdict::No;
        }
        let first_child_of = |prefix: &[u16]| {
            parts.len() > prefix.len()
                && parts.starts_with(prefix)
                && parts[prefix.len()..].iter().all(|&p| p <= 1)
                && number.last() == 1
        };
        let child = self
            .open
            .iter()
            .any(|e| e.number.style == number.style && first_child_of(e.number.parts()));
        // The next sibling of an outer number only implied by an open one (`6` after `5.3` in
        // an excerpt that starts at `5.3`).
        let implied = self.open.iter().any(|e| {
            e.number.style == number.style
                && e.number.depth() > depth
                && e.number.parts()[..depth - 1] == *number.prefix()
                && e.number.parts()[depth - 1].checked_add(1) == Some(number.last())
        });
        let of_anchor = number.style == Style::Dotted
            && !self.style_open(Style::Dotted)
            && self.anchor.is_some_and(|a| first_child_of(&[a]));
        let first = depth == 1 && number.last() <= 1 && !self.style_open(number.style);
        // The document's first provision of a style may start anywhere (an excerpt), when it is
        // written as a heading: a dot or parentheses, then a capital.
        let opening = !self.seen.contains(&number.style)
            && form.tail == Tail::Upper
            && (form.dot || number.style == Style::Paren);
        if child || implied || of_anchor || first || opening {
            Verdict::Expected
        } else {
            Verdict::No
        }
    }

    /// Opens `number` as a provision; returns its level below the headings: the rank of its
    /// style times eight, plus its depth less one.
    pub(crate) fn accept(&mut self, number: Number, form: Form) -> usize {
        let style = number.style;
        let rank = match self.ranks.iter().position(|&s| s == style) {
            Some(rank) => rank,
            None => {
                self.ranks.push(style);
                self.ranks.len() - 1
            }
        };
        let ranks = &self.ranks;
        let rank_of = |s: Style| ranks.iter().position(|&r| r == s).unwrap_or(usize::MAX);
        // Numbering below a provision restarts in its next sibling (`1.` again under `II.`,
        // `2.1` under `2`).
        self.last.retain(|e| {
            rank_of(e.number.style) <= rank
                && !(e.number.style == style && e.number.depth() > number.depth())
        });
        if let Some(cut) = self.open.iter().position(|e| {
            (e.number.style == style && e.number.depth() >= number.depth())
                || rank_of(e.number.style) > rank
        }) {
            self.open.truncate(cut);
        }
        let entry = Entry { number, form };
        self.open.push(entry);
        if !self.seen.contains(&style) {
            self.seen.push(style);
        }
        match self
            .last
            .iter_mut()
            .find(|e| e.number.style == style && e.number.depth() == number.depth())
        {
            Some(slot) => *slot = entry,
            None => self.last.push(entry),
        }
        if number.depth() == 1 && self.open.len() == 1 {
            self.restart = false;
        }
        rank * 8 + number.depth() - 1
    }
}

#[cfg(test)]
mod tests;
