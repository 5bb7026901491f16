//! The scan's state shared by every engine: the stack of open levels and their labels, from
//! which each marker's path is built, feeding a [`UnitBuilder`].

use iu_cutter_live_execution::decimal;

use crate::PATH_SEPARATOR;
use crate::builder::UnitBuilder;

/// A marker's label, written into a reused buffer when the marker opens.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Label<'a> {
    /// Used as is.
    Text(&'a str),
    /// A word, a space, then the words of a number (whitespace collapsed): `Điều 44`,
    /// `Phần thứ nhất`.
    Numbered(&'a str, &'a str),
    /// `¶` and a paragraph number.
    Paragraph(u64),
}

impl Label<'_> {
    pub(crate) fn write_to(self, out: &mut String) {
        match self {
            Label::Text(text) => out.push_str(text),
            Label::Numbered(word, number) => {
                out.push_str(word);
                for part in number.split_whitespace() {
                    out.push(' ');
                    out.push_str(part);
                }
            }
            Label::Paragraph(n) => {
                let mut digits = [0u8; 20];
                out.push('¶');
                out.extend(decimal(n, &mut digits).iter().map(|&d| char::from(d)));
            }
        }
    }
}

/// The scan's state: the currently open labels, and the units being built.
pub(crate) struct Scan<'a> {
    pub(crate) stack: Vec<(usize, String)>,
    /// Label buffers of closed levels, for reuse.
    spare: Vec<String>,
    /// The top of the stack is a leaf: the next marker closes it, whatever its level.
    leaf: bool,
    pub(crate) units: UnitBuilder<'a>,
}

impl<'a> Scan<'a> {
    /// A scan with nothing open yet, feeding `units`.
    pub(crate) fn new(units: UnitBuilder<'a>) -> Self {
        Scan {
            stack: Vec::new(),
            spare: Vec::new(),
            leaf: false,
            units,
        }
    }

    /// A marker at `level` with `label` starts a unit at byte `start`.
    pub(crate) fn open(&mut self, level: usize, start: usize, label: Label<'_>) {
        if std::mem::take(&mut self.leaf)
            && let Some((_, closed)) = self.stack.pop()
        {
            self.spare.push(closed);
        }
        while let Some((top, _)) = self.stack.last()
            && *top >= level
        {
            if let Some((_, closed)) = self.stack.pop() {
                self.spare.push(closed);
            }
        }
        let mut buffer = self.spare.pop().unwrap_or_default();
        buffer.clear();
        label.write_to(&mut buffer);
        self.stack.push((level, buffer));
        let len = self.stack.iter().map(|(_, l)| l.len() + 1).sum();
        let mut path = String::with_capacity(len);
        for (i, (_, label)) in self.stack.iter().enumerate() {
            if i > 0 {
                path.push(PATH_SEPARATOR);
            }
            path.push_str(label);
        }
        self.units.marker(start, path);
    }

    /// Like [`Scan::open`], for a marker that contains nothing: the next marker closes it,
    /// whatever its level (an unnumbered part heading such as `TERMS AND CONDITIONS`, after which
    /// the numbered sections are not its children).
    pub(crate) fn open_leaf(&mut self, level: usize, start: usize, label: Label<'_>) {
        self.open(level, start, label);
        self.leaf = true;
    }
}
