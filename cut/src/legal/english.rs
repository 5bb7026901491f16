//! The `legal-en` preset: licences, statutes, constitutions and contracts written in English (and
//! laid out the English way), read as a reader citing them would.
//!
//! A line starts a unit when it is one of these, tried in this order:
//!
//! 1. **A keyword heading**: `Part`, `Title`, `Division`, `Chapter`, `Subchapter`, `Section`,
//!    `Article`, `Clause`, and the annex keywords `Schedule`, `Annex`, `Appendix`, `Exhibit`,
//!    `Attachment`, capitalised or in capitals, with their abbreviations and signs (`SEC. 2.`,
//!    `Sec. 5`, `Art. 5`, `§ 5`) and a dot after the word (`Section. 2.`), then a number: arabic
//!    (`5`, `5a`, `3.5`), roman (`IV`) or one capital (`Exhibit A`). The heading must look like
//!    one: after the number comes the end of the line, punctuation, or a space and anything but a
//!    lowercase letter (`Section 3 of this Act` is a sentence). Label: the word and the number as
//!    written, `SEC. 2`, `Article. I`, `§ 5`. Nesting: annexes outermost, then `Part`/`Title`/
//!    `Division`, `Chapter`, `Subchapter`, then `Section` and `Article` in the order the document
//!    nests them (the US Constitution puts sections in articles, EU regulations articles in
//!    sections), then `Clause`.
//! 2. **A numbered provision** (see [`numbers`](super::numbers) for the forms and the sequence
//!    rule): `1.`, `1.1`, `(1)`, `1 `, `1°`, `IV.`, `A.`, in its level's sequence. Label: the
//!    number (`5.3`, `(2)`, `A`); nesting below the innermost keyword heading, by depth, and by
//!    style in the order styles appear. Gates, each with the mistake it prevents:
//!    * lettered and roman numbers are headings only above arabic ones: `A. Use in the Title
//!      Page…` inside section 4 of the GFDL is a list item;
//!    * `(1)` does not start below lettered items (`(a) In General.--` … `(1) by striking…`);
//!    * after a line `Footnotes:` or `Notes:`, numbers are footnotes until the next heading;
//!    * an undotted `1 ` needs a capital after it, not a month (`1 January` is a date);
//!    * a number followed by two spaces and another number is a table row.
//! 3. **An unnumbered part heading**: a short line standing alone (a blank line or the start
//!    before it; a blank line, an underline or the end after it, or one more heading line then a
//!    blank) that reads as a title: in capitals (two words at least: `NO WARRANTY`), or in title
//!    case (`How to Apply These Terms to Your New Programs`), or led by an annex word
//!    (`APPENDIX: How to apply…`), or a Markdown `#` heading. Not a closing line (`END OF TERMS
//!    AND CONDITIONS`, `The End`), not a copyright line, not a sentence (it ends with no `.`, `,`,
//!    `;`, and with `:` only when short). The document's title block (its first lines, until the
//!    first running text) holds no part headings, except the usual parts of a licence or
//!    contract (`Preamble`, `Definitions`, `TERMS AND CONDITIONS`, `Appendix`…). A heading right
//!    after another (blank lines between) is its subtitle, one unit. Label: the line's text.
//!    Such a heading closes everything open and contains nothing: the numbered provisions after
//!    `TERMS AND CONDITIONS` are `0`, `1`, … not `TERMS AND CONDITIONS/0`.
//!
//! And never:
//!
//! * **on a wrapped line**: when the line before is running text that does not end its sentence
//!   (no `.`, `:`, `;`, `!`, `?` at its end), the line continues it, whatever it begins with:
//!   `7.  This requirement modifies…` in the GPL, `Section 3.5.` or `2.1 of this License` in the
//!   MPLs. A heading line, the title line after a keyword heading, a line without lowercase
//!   letters and a bare number are not running text.
//! * **on quoted text**: a line starting with a quotation mark (`"SEC. 528.` quoted by an
//!   amending act, `"Sec. 523.` in its table of contents).
//!
//! **Decorations.** A heading drawn in a box of `*` (`*  6. Disclaimer of Warranty  *`) is read
//! inside the box, and its unit starts at the box's top border. Markdown `#` and `**bold**` are
//! taken off a heading; a `#` line among other `#` lines is a comment block, not a heading. A
//! keyword heading with no text after its number takes the next line as its title
//! (`Part I` / `GENERAL PROVISIONS`).

use crate::lines::{Line, Lines, bounded, trim, trim_start};
use crate::nfc::{AsciiRuns, nfc_view};
use crate::scan::{Label, Scan};

use super::layout::{
    Prev, Undecorated, ends_sentence, has_lowercase, indent_columns, is_box_line, is_quoted,
    is_rule, undecorate,
};
use super::numbers::{Form, Sequencer, Style, Token, Verdict, may_start_number, tail_of, tokens};
use super::{VIEW_BYTES, heading_tail_ok};

/// Kinds of keyword headings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Keyword {
    Annex,
    Part,
    Chapter,
    Subchapter,
    Section,
    Article,
    Clause,
}

/// The kind of a keyword as written at the start of a heading line (a whole word of ASCII
/// letters; the abbreviations `Sec` and `Art` are keywords only with their dot); the match
/// compiles to a few length and byte comparisons, most lines are turned away at once.
fn keyword_kind(word: &str) -> Option<(Keyword, bool)> {
    let kind = match word {
        "Part" | "PART" | "Title" | "TITLE" | "Division" | "DIVISION" => Keyword::Part,
        "Chapter" | "CHAPTER" => Keyword::Chapter,
        "Subchapter" | "SUBCHAPTER" => Keyword::Subchapter,
        "Section" | "SECTION" => Keyword::Section,
        "Sec" | "SEC" => return Some((Keyword::Section, true)),
        "Article" | "ARTICLE" => Keyword::Article,
        "Art" | "ART" => return Some((Keyword::Article, true)),
        "Clause" | "CLAUSE" => Keyword::Clause,
        "Schedule" | "SCHEDULE" | "Annex" | "ANNEX" | "Appendix" | "APPENDIX" | "Exhibit"
        | "EXHIBIT" | "Attachment" | "ATTACHMENT" => Keyword::Annex,
        _ => return None,
    };
    Some((kind, false))
}

/// Words that lead an unnumbered annex heading (`APPENDIX: How to apply…`), lower case.
const ANNEX_WORDS: &[&str] = &[
    "appendix",
    "addendum",
    "annex",
    "schedule",
    "exhibit",
    "attachment",
];

/// Usual parts of a licence or contract besides its annexes ([`ANNEX_WORDS`]): headings even in
/// the title block, lower case.
const USUAL_PARTS: &[&str] = &[
    "preamble",
    "recitals",
    "definitions",
    "terms and conditions",
];

/// Months: `1 January` is a date, not a provision.
const MONTHS: &[&str] = &[
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Level of unnumbered part headings (they close everything, and contain nothing).
const PART_HEADING_LEVEL: usize = 0;
/// First level of numbered provisions, below every keyword level.
const NUMBERED_BASE: usize = 16;
/// The longest line read as an unnumbered heading, in characters.
const HEADING_MAX_CHARS: usize = 72;

/// A keyword heading found at the start of a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct KeywordHeading<'t> {
    kind: Keyword,
    /// The keyword as written, with its dot (`SEC.`, `Article.`).
    word: &'t str,
    /// The number as written (`2`, `IV`, `A`, `3.5`).
    number: &'t str,
    /// Whether text follows the number on the line (a title), or the line ends there.
    titled: bool,
    /// Whether punctuation follows the number (`1.`, `IV —`), or the end of the line.
    closed: bool,
}

impl<'t> KeywordHeading<'t> {
    /// The label: the word and the number, `SEC. 2`.
    pub(crate) fn label(&self) -> Label<'t> {
        Label::Numbered(self.word, self.number)
    }

    /// A heading in capitals whose number is closed by punctuation (`SECTION 1.`, `SEC. 2.`,
    /// `ARTICLE IV —`): a heading even where a wrapped line could begin.
    fn emphatic(&self) -> bool {
        !has_lowercase(self.word) && self.closed
    }

    /// The number's arabic value, for `5.1` under `Article 5`.
    fn anchor(&self) -> Option<u16> {
        let digits = self.number.bytes().take_while(u8::is_ascii_digit).count();
        (digits == self.number.len() && digits > 0)
            .then(|| self.number.parse().ok())
            .flatten()
    }
}

/// The keyword heading at the start of `text` (undecorated, trimmed), if any.
#[inline]
pub(crate) fn keyword_heading(text: &str) -> Option<KeywordHeading<'_>> {
    if may_start_keyword(text) {
        read_keyword_heading(text)
    } else {
        None
    }
}

/// Whether `text` may start with a keyword, on its first two bytes (`§`, or the first letter
/// and, in any case, the second of a keyword): the test that turns most lines away.
pub(crate) fn may_start_keyword(text: &str) -> bool {
    let bytes = text.as_bytes();
    let Some(&first) = bytes.first() else {
        return false;
    };
    let second = bytes.get(1).map(|&b| b | 0x20);
    match first {
        0xC2 => bytes.get(1) == Some(&0xA7),
        b'P' => second == Some(b'a'),
        b'T' | b'D' => second == Some(b'i'),
        b'C' => matches!(second, Some(b'h' | b'l')),
        b'S' => matches!(second, Some(b'u' | b'e' | b'c')),
        b'A' => matches!(second, Some(b'r' | b'n' | b'p' | b't')),
        b'E' => second == Some(b'x'),
        _ => false,
    }
}

/// [`keyword_heading`] past its first test.
fn read_keyword_heading(text: &str) -> Option<KeywordHeading<'_>> {
    let (written, kind, rest) = keyword_word(text)?;
    let spaced = trim_start(rest);
    if spaced.len() == rest.len() && written != "§" {
        return None;
    }
    let (number, after) = keyword_number(spaced)?;
    if !heading_tail_ok(after) {
        return None;
    }
    let title = after.trim_start_matches(|c: char| c.is_whitespace() || closes_number(c));
    let closed = after.trim_start().chars().next().is_none_or(closes_number);
    Some(KeywordHeading {
        kind,
        word: written,
        number,
        titled: !title.is_empty(),
        closed,
    })
}

/// Punctuation that closes a keyword's number (`1.`, `IV —`).
fn closes_number(c: char) -> bool {
    matches!(c, '.' | ':' | '-' | '–' | '—' | ')')
}

/// The keyword at the start of `text` as written (with its dot, if any), its kind, and what
/// follows it.
fn keyword_word(text: &str) -> Option<(&str, Keyword, &str)> {
    if let Some(rest) = text.strip_prefix('§') {
        return Some(("§", Keyword::Section, rest));
    }
    let letters = text.bytes().take_while(u8::is_ascii_alphabetic).count();
    if !(3..=10).contains(&letters) {
        return None;
    }
    let (kind, needs_dot) = keyword_kind(text.get(..letters)?)?;
    let dotted = text.as_bytes().get(letters) == Some(&b'.');
    if needs_dot && !dotted {
        return None;
    }
    let end = letters + usize::from(dotted);
    Some((text.get(..end)?, kind, text.get(end..)?))
}

/// A keyword's number at the start of `s`: arabic (`5`, `5a`, `3.5`), roman (`IV`), or one
/// capital (`A`); and what follows it.
fn keyword_number(s: &str) -> Option<(&str, &str)> {
    let bytes = s.as_bytes();
    let end = match bytes.first()? {
        b'0'..=b'9' => {
            let mut end = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
            if end > 4 {
                return None;
            }
            while bytes.get(end) == Some(&b'.')
                && bytes.get(end + 1).is_some_and(u8::is_ascii_digit)
            {
                end += 1 + bytes[end + 1..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
            }
            let suffix = bytes.get(end).is_some_and(u8::is_ascii_alphabetic)
                && !bytes.get(end + 1).is_some_and(u8::is_ascii_alphabetic);
            end + usize::from(suffix)
        }
        b'A'..=b'Z' => {
            let roman = bytes.iter().take_while(|b| b"IVXLCDM".contains(b)).count();
            roman.max(1)
        }
        _ => return None,
    };
    Some((s.get(..end)?, s.get(end..)?))
}

/// The scanning state of one document.
#[derive(Debug)]
struct State {
    prev: Prev,
    /// Still in the document's title block (no marker and no running text yet).
    title_block: bool,
    /// The next non-blank line is the title of the keyword heading just opened.
    expect_title: bool,
    /// The last non-blank line was an unnumbered heading: the next heading line is its subtitle.
    after_part_heading: bool,
    /// Start of the current run of box lines (border and empty side lines).
    box_top: Option<usize>,
    /// Lettered items (`(a)`, `a)`) came since the last heading.
    lettered: bool,
    /// In footnotes, until the next heading.
    footnotes: bool,
    seq: Sequencer,
    /// The levels of `Section` and `Article` headings.
    section_level: Option<usize>,
    article_level: Option<usize>,
    /// Whether the document showed which of the two contains the other.
    pair_fixed: bool,
    /// Open keyword headings: kind and level, outermost first.
    keywords: Vec<(Keyword, usize)>,
}

impl Default for State {
    fn default() -> Self {
        State {
            prev: Prev::Start,
            title_block: true,
            expect_title: false,
            after_part_heading: false,
            box_top: None,
            lettered: false,
            footnotes: false,
            seq: Sequencer::default(),
            section_level: None,
            article_level: None,
            pair_fixed: false,
            keywords: Vec::new(),
        }
    }
}

/// How lines are seen: their NFC views, normalised into `buf` when they need it; an ASCII line
/// (most lines of an English text) is its own view, known from the text's ASCII runs.
struct Views<'t> {
    buf: String,
    ascii: AsciiRuns<'t>,
}

impl Views<'_> {
    /// The NFC view of `raw`, which starts at byte `start` of the text.
    fn view<'a>(&'a mut self, start: usize, raw: &'a str) -> &'a str {
        if self.ascii.is_ascii(start, start + raw.len()) {
            raw
        } else {
            nfc_view(raw, &mut self.buf)
        }
    }
}

/// The line being decided, as the opening of a unit needs it: its undecorated NFC view, whether
/// it ends a sentence, and where its unit would start (a boxed heading's unit takes in the box's
/// top border).
#[derive(Clone, Copy)]
struct Here<'t> {
    deco: Undecorated<'t>,
    ended: bool,
    start: usize,
}

/// The `legal-en` engine. Stateless: each scan keeps its own state.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct EnglishEngine;

impl EnglishEngine {
    pub(crate) fn scan(&self, text: &str, scan: &mut Scan<'_>) {
        let mut state = State::default();
        let mut views = Views {
            buf: String::new(),
            ascii: AsciiRuns::new(text),
        };
        let mut lines = Lines::new(text).peekable();
        while let Some(line) = lines.next() {
            let next = lines.peek();
            self.line(text, line, next, &mut views, &mut state, scan);
        }
    }

    /// One line: the rules are decided on its NFC view (so NFC and NFD text cut alike), bounded
    /// to [`VIEW_BYTES`]; whether it ends a sentence on its raw end.
    fn line(
        &self,
        text: &str,
        line: Line<'_>,
        next: Option<&Line<'_>>,
        views: &mut Views<'_>,
        state: &mut State,
        scan: &mut Scan<'_>,
    ) {
        let content = line.content;
        let trimmed = trim(content);
        if trimmed.is_empty() {
            state.prev = Prev::Blank;
            state.box_top = None;
            return;
        }
        if is_box_line(trimmed) {
            state.box_top.get_or_insert(line.start);
            state.prev = Prev::Rule;
            return;
        }
        let deco = undecorate(views.view(line.content_start, bounded(content, VIEW_BYTES)));
        let ended = ends_sentence(content);
        let box_top = state.box_top.take();
        if is_rule(deco.text) {
            state.prev = Prev::Rule;
            return;
        }
        let start = match (deco.boxed, box_top) {
            (true, Some(top)) => top,
            _ => line.start,
        };
        let here = Here { deco, ended, start };
        if !self.mark(text, &line, next, here, state, scan) {
            note_text(deco.text, ended, state);
        }
    }

    /// Opens the unit of the marker on this line, if there is one (the rules of the module docs,
    /// in order); whether it did. (Opening where the marker is found, rather than returning it,
    /// spares copying it: measurable on a document of many provisions.)
    fn mark(
        &self,
        text: &str,
        line: &Line<'_>,
        next: Option<&Line<'_>>,
        here: Here<'_>,
        state: &mut State,
        scan: &mut Scan<'_>,
    ) -> bool {
        let (deco, body) = (here.deco, here.deco.text);
        if is_quoted(body) || is_footnotes_line(body) {
            return false;
        }
        if deco.atx && !lone_atx(text, line, next) {
            return false;
        }
        let keyword = keyword_heading(body);
        // After running text that goes on, only a heading in capitals closed by punctuation
        // (`SECTION 1. SHORT TITLE.` after `…in Congress assembled,`) is no wrapped
        // cross-reference.
        let continues = state.prev.continues();
        if let Some(heading) = keyword
            && (!continues || heading.emphatic())
        {
            open_keyword(&heading, here, state, scan);
            return true;
        }
        if continues {
            return false;
        }
        if self.numbered(line.content, here, state, scan) {
            return true;
        }
        if state.expect_title || !self.part_heading(text, body, deco.atx, next, state) {
            return false;
        }
        open_part(here, state, scan);
        true
    }

    /// Opens the unit of a numbered provision on this line, if its number passes the gates and
    /// the sequence; whether it did.
    fn numbered(
        &self,
        content: &str,
        here: Here<'_>,
        state: &mut State,
        scan: &mut Scan<'_>,
    ) -> bool {
        let body = here.deco.text;
        if !may_start_number(body) {
            return false;
        }
        // By reference: moving the readings through a flattening iterator copies them (a
        // measurable share of the cut on a document of many provisions).
        for token in tokens(body).iter().flatten() {
            let style = token.number.style;
            let tail = tail_of(token.rest);
            let gated = match style {
                Style::Letter | Style::Roman => {
                    (state.seq.arabic_open() && !state.seq.style_open(style))
                        || tail == super::numbers::Tail::Lower
                }
                Style::Paren => {
                    state.footnotes
                        || tail == super::numbers::Tail::Lower
                        || (state.lettered && !state.seq.style_open(Style::Paren))
                }
                Style::Undotted | Style::Degree => {
                    state.footnotes
                        || tail != super::numbers::Tail::Upper
                        || starts_with_month(token.rest)
                }
                Style::Dotted => state.footnotes,
            };
            if gated || super::numbers::is_table_row(token.rest) {
                continue;
            }
            if style == Style::Dotted && !token.dot && tail == super::numbers::Tail::Lower {
                continue;
            }
            let form = Form {
                indent: indent_columns(content),
                dot: token.dot,
                tail,
            };
            if state.seq.judge(&token.number, &form) != Verdict::No {
                open_numbered(token, form, here, state, scan);
                return true;
            }
        }
        false
    }

    /// Whether `body` is an unnumbered part heading here (rule 3 of the module docs).
    fn part_heading(
        &self,
        text: &str,
        body: &str,
        atx: bool,
        next: Option<&Line<'_>>,
        state: &State,
    ) -> bool {
        if !state.prev.is_break() {
            return false;
        }
        if state.after_part_heading || !reads_as_heading(body, atx) {
            return false;
        }
        if may_start_number(body) && tokens(body).iter().any(Option::is_some) {
            return false;
        }
        if state.title_block && !atx && !usual_part(body) {
            return false;
        }
        stands_alone(text, next)
    }
}

/// What opening any unit does to the state: the title block is over, and the line is a heading.
fn opened(state: &mut State) {
    state.title_block = false;
    state.lettered = false;
    state.prev = Prev::Heading;
}

/// Opens the unit of a keyword heading.
fn open_keyword(
    heading: &KeywordHeading<'_>,
    here: Here<'_>,
    state: &mut State,
    scan: &mut Scan<'_>,
) {
    opened(state);
    let level = keyword_level(heading.kind, state);
    state.keywords.retain(|&(_, l)| l < level);
    state.keywords.push((heading.kind, level));
    state.seq.keyword_heading(heading.anchor());
    state.footnotes = false;
    state.after_part_heading = false;
    state.expect_title = !heading.titled;
    scan.open(level, here.start, heading.label());
}

/// Opens the unit of a numbered provision, below the innermost open keyword heading.
fn open_numbered(
    token: &Token<'_>,
    form: Form,
    here: Here<'_>,
    state: &mut State,
    scan: &mut Scan<'_>,
) {
    opened(state);
    let offset = state.seq.accept(token.number, form);
    let base = state
        .keywords
        .last()
        .map_or(NUMBERED_BASE, |&(_, l)| l.max(NUMBERED_BASE - 1) + 1);
    state.after_part_heading = false;
    state.expect_title = false;
    // A provision's first line may be running text that goes on on the next line (only that
    // matters to the next line: a line that ends its sentence reads as the heading it is).
    if !here.ended {
        let prev = Prev::of_text(here.deco.text, false);
        if prev.continues() {
            state.prev = prev;
        }
    }
    scan.open(base + offset, here.start, Label::Text(token.label));
}

/// Opens the unit of an unnumbered part heading: a leaf, which closes every open level.
fn open_part(here: Here<'_>, state: &mut State, scan: &mut Scan<'_>) {
    opened(state);
    state.keywords.clear();
    state.seq.part_heading();
    state.footnotes = false;
    state.after_part_heading = true;
    state.expect_title = false;
    scan.open_leaf(PART_HEADING_LEVEL, here.start, Label::Text(here.deco.text));
}

/// The level of a keyword heading. `Section` and `Article` take the same level until one
/// appears while the other is open: from then on it sits below the other (the US Constitution's
/// sections in articles, EU regulations' articles in sections).
fn keyword_level(kind: Keyword, state: &mut State) -> usize {
    const PAIR: usize = 5;
    match kind {
        Keyword::Annex => 1,
        Keyword::Part => 2,
        Keyword::Chapter => 3,
        Keyword::Subchapter => 4,
        Keyword::Section | Keyword::Article => {
            let other_kind = if kind == Keyword::Section {
                Keyword::Article
            } else {
                Keyword::Section
            };
            let other_open = state
                .keywords
                .iter()
                .find(|&&(k, _)| k == other_kind)
                .map(|&(_, level)| level);
            let (mine, fixed) = (pair_level(kind, state), state.pair_fixed);
            let level = match (mine, other_open) {
                (Some(level), _) if fixed => level,
                (Some(level), Some(other)) if level > other => level,
                (_, Some(other)) => {
                    state.pair_fixed = true;
                    other + 1
                }
                (Some(level), None) => level,
                (None, None) => PAIR,
            };
            if kind == Keyword::Section {
                state.section_level = Some(level);
            } else {
                state.article_level = Some(level);
            }
            level
        }
        Keyword::Clause => 7,
    }
}

fn pair_level(kind: Keyword, state: &State) -> Option<usize> {
    if kind == Keyword::Section {
        state.section_level
    } else {
        state.article_level
    }
}

/// Updates the state after a line that opens no unit.
fn note_text(body: &str, ended: bool, state: &mut State) {
    if state.expect_title {
        state.expect_title = false;
        state.prev = Prev::Heading;
        return;
    }
    state.after_part_heading = false;
    if is_footnotes_line(body) {
        state.footnotes = true;
    }
    if starts_lettered_item(body) {
        state.lettered = true;
    }
    if state.title_block && ends_title_block(body, ended) {
        state.title_block = false;
    }
    state.prev = Prev::of_text(body, ended);
}

/// Whether a line ends the title block: a long line, or a sentence of four words or more.
fn ends_title_block(body: &str, ended: bool) -> bool {
    body.chars().nth(60).is_some()
        || (ended && body.trim_end().ends_with('.') && body.split_whitespace().nth(3).is_some())
}

/// `Footnotes:`, `Notes:`, `Note:`: the footnotes follow.
fn is_footnotes_line(body: &str) -> bool {
    if !matches!(body.as_bytes().first(), Some(b'N' | b'n' | b'F' | b'f')) {
        return false;
    }
    let word = body.trim_end_matches(':');
    ["footnotes", "notes", "note"]
        .iter()
        .any(|w| word.eq_ignore_ascii_case(w))
}

/// `(a)`, `a)`, `(i)`: a lettered item.
fn starts_lettered_item(body: &str) -> bool {
    let inner = body.strip_prefix('(').unwrap_or(body);
    let letters = inner.bytes().take_while(u8::is_ascii_lowercase).count();
    (1..=4).contains(&letters) && inner.as_bytes().get(letters) == Some(&b')')
}

/// Whether the text after a number starts with a month (`1 January`).
fn starts_with_month(rest: &str) -> bool {
    let word = rest.trim_start().split(|c: char| !c.is_alphabetic()).next();
    word.is_some_and(|w| MONTHS.contains(&w))
}

/// A Markdown `#` line that is a heading: neither neighbour is a `#` line too (a run of them is
/// a comment block).
fn lone_atx(text: &str, line: &Line<'_>, next: Option<&Line<'_>>) -> bool {
    let hashed = |s: &str| s.trim_start().starts_with('#');
    let before = text
        .get(..line.start.saturating_sub(1))
        .and_then(|head| head.rsplit('\n').next())
        .is_some_and(|prev| line.start > 0 && hashed(prev));
    !before && !next.is_some_and(|n| hashed(n.content))
}

/// Whether `body` reads as a heading: short, not a sentence, in capitals or title case, or led
/// by an annex word; a Markdown heading always does.
pub(crate) fn reads_as_heading(body: &str, atx: bool) -> bool {
    if atx {
        return !body.is_empty();
    }
    // Cheap tests first: a heading line is short, one line of a table is not.
    if body.len() > 4 * HEADING_MAX_CHARS
        || body.chars().nth(HEADING_MAX_CHARS).is_some()
        || body.contains("   ")
        || body.contains("://")
        || body.ends_with([',', ';'])
    {
        return false;
    }
    let led = ANNEX_WORDS.iter().any(|w| starts_with_word(body, w));
    let words = body.split_whitespace().count();
    if body.chars().filter(|c| c.is_alphabetic()).count() < 2
        || starts_with_word(body, "copyright")
        || starts_with_word(body, "end of")
        || ["end", "the end"]
            .iter()
            .any(|w| body.eq_ignore_ascii_case(w))
    {
        return false;
    }
    if !led && (body.ends_with(['.', '!', '?']) || (body.ends_with(':') && words > 2)) {
        return false;
    }
    if led {
        return true;
    }
    if !has_lowercase(body) {
        return words >= 2 || usual_part(body);
    }
    title_case(body)
}

/// Whether `body` starts with `word` (lower case, ASCII), in any case, as a whole word.
fn starts_with_word(body: &str, word: &str) -> bool {
    body.get(..word.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(word))
        && body
            .get(word.len()..)
            .and_then(|rest| rest.chars().next())
            .is_none_or(|c| !c.is_alphabetic())
}

/// A usual part of a licence or contract (`Preamble`, `TERMS AND CONDITIONS`, `Annex`…).
fn usual_part(body: &str) -> bool {
    USUAL_PARTS
        .iter()
        .chain(ANNEX_WORDS)
        .any(|p| starts_with_word(body, p))
}

/// Title case: the first letter is a capital, and so is the first letter of at least 60 % of the
/// words of four letters or more.
fn title_case(body: &str) -> bool {
    if !body
        .chars()
        .find(|c| c.is_alphabetic())
        .is_some_and(char::is_uppercase)
    {
        return false;
    }
    let (mut long, mut capital) = (0, 0);
    for word in body.split_whitespace() {
        let letters = word.trim_matches(|c: char| !c.is_alphabetic());
        if letters.chars().count() >= 4 {
            long += 1;
            if letters.chars().next().is_some_and(char::is_uppercase) {
                capital += 1;
            }
        }
    }
    capital * 5 >= long * 3
}

/// Whether the heading line stands alone: after it comes the end, a blank line or an underline,
/// or one more short heading line and then one of those.
fn stands_alone(text: &str, next: Option<&Line<'_>>) -> bool {
    let Some(next) = next else {
        return true;
    };
    let ends = |s: &str| s.trim().is_empty() || is_rule(s);
    if ends(next.content) {
        return true;
    }
    let mut buf = String::new();
    let second = undecorate(nfc_view(bounded(next.content, VIEW_BYTES), &mut buf)).text;
    if !reads_as_heading(second, false) {
        return false;
    }
    match Lines::starting_at(text, next.next).next() {
        None => true,
        Some(after) => ends(after.content),
    }
}

#[cfg(test)]
mod tests;
