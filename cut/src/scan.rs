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

/// The scan's state: the currently open levels, the path they make, and the units being built.
pub(crate) struct Scan<'a> {
    /// The open levels, outermost first: each level, and where its label starts in `path`.
    pub(crate) stack: Vec<(usize, usize)>,
    /// The open labels joined with [`PATH_SEPARATOR`]: the path of the unit being scanned. A
    /// marker truncates it to its parent's labels and writes its own label after them, so the
    /// labels of the outer levels are not copied again for every unit.
    path: String,
    /// The top of the stack is a leaf: the next marker closes it, whatever its level.
    leaf: bool,
    pub(crate) units: UnitBuilder<'a>,
}

impl<'a> Scan<'a> {
    /// A scan with nothing open yet, feeding `units`.
    pub(crate) fn new(units: UnitBuilder<'a>) -> Self {
        Scan {
            stack: Vec::new(),
            path: String::new(),
            leaf: false,
            units,
        }
    }

    /// A marker at `level` with `label` starts a unit at byte `start`.
    pub(crate) fn open(&mut self, level: usize, start: usize, label: Label<'_>) {
        let mut closed = None;
        if std::mem::take(&mut self.leaf) {
            closed = self.stack.pop();
        }
        while let Some(&(top, _)) = self.stack.last()
            && top >= level
        {
            closed = self.stack.pop();
        }
        if let Some((_, label_start)) = closed {
            // A label starts after its separator: drop that too.
            self.path.truncate(label_start.saturating_sub(1));
        }
        if !self.stack.is_empty() {
            self.path.push(PATH_SEPARATOR);
        }
        let label_start = self.path.len();
        label.write_to(&mut self.path);
        self.stack.push((level, label_start));
        self.units.marker(start, &self.path);
    }

    /// Like [`Scan::open`], for a marker that contains nothing: the next marker closes it,
    /// whatever its level (an unnumbered part heading such as `TERMS AND CONDITIONS`, after which
    /// the numbered sections are not its children).
    pub(crate) fn open_leaf(&mut self, level: usize, start: usize, label: Label<'_>) {
        self.open(level, start, label);
        self.leaf = true;
    }
}
