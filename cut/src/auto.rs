//! The `auto` preset: for each document, one of `markdown`, `legal-vi`, `legal-en` or
//! `paragraphs`, chosen from the document itself, then that preset's cut. The choice is a pure
//! function of the text (so the plan stays one), made in one cheap pass over the lines of its
//! first 64 KB ([`SAMPLE_BYTES`]), and reported with the cut ([`Cut::preset`](crate::Cut)).
//!
//! The evidence, outside fenced code blocks:
//!
//! * **Vietnamese structure**: lines starting `Điều 5`, `Chương II` (any capitalisation, NFC or
//!   NFD).
//! * **Markdown structure**: `#` headings (not in a run of `#` lines, a comment block), and
//!   setext headings (a line underlined by `===` or `---`) only in a document that shows other
//!   Markdown (a `#` heading, a fence or a link): plain-text licences underline their headings
//!   too.
//! * **English legal structure**: keyword headings (`Article 5`, `SEC. 2.`), numbered
//!   provisions written as headings (`1.`, `1.1`, `(1)`, then a capital), of which the *strong*
//!   ones are keyword headings, deeper numbers (`1.1`) and numbered paragraphs of running text
//!   (a long line: a clause, not a list item); and unnumbered headings standing alone (`NO
//!   WARRANTY`, `Preamble`).
//!
//! The choice, first that applies:
//!
//! 1. two Vietnamese headings or more: `legal-vi`;
//! 2. Markdown headings at least as many as the strong English legal signs: `markdown` (a
//!    knowledge-base article with one `#` title and no numbered clauses is Markdown; a contract
//!    with one `#` title and eleven numbered clauses is not);
//! 3. two English legal signs or more: `legal-en`;
//! 4. any Markdown heading: `markdown`;
//! 5. otherwise (a notice, a letter, a licence of a few paragraphs): `paragraphs`.

use iu_cutter_live_execution::Preset;

use crate::CutError;
use crate::legal::VIEW_BYTES;
use crate::legal::english::{keyword_heading, may_start_keyword, reads_as_heading};
use crate::legal::layout::{is_rule, undecorate};
use crate::legal::numbers::{Style, Tail, may_start_number, tail_of, tokens};
use crate::legal::{EnglishEngine, VietnameseEngine};
use crate::lines::{Lines, bounded, is_blank, trim, trim_start};
use crate::markdown::{
    atx_heading, closes_fence, indentation, opens_fence, scan_markdown, setext_underline,
};
use crate::nfc::nfc_view;
use crate::paragraphs::scan_paragraphs;
use crate::scan::Scan;

/// What one pass over a document found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Evidence {
    pub(crate) vietnamese: usize,
    pub(crate) atx: usize,
    pub(crate) setext: usize,
    /// A fence or a link `](` was seen.
    pub(crate) markdown_syntax: bool,
    pub(crate) keywords: usize,
    pub(crate) numbered: usize,
    /// Deeper numbers (`1.1`) and numbered paragraphs of running text.
    pub(crate) numbered_strong: usize,
    pub(crate) headings: usize,
}

impl Evidence {
    /// The preset the rules of the module docs choose.
    pub(crate) fn choose(&self) -> Preset {
        let markdown = self.atx
            + if self.markdown_syntax || self.atx > 0 {
                self.setext
            } else {
                0
            };
        let strong = self.keywords + self.numbered_strong;
        if self.vietnamese >= 2 {
            Preset::LegalVi
        } else if markdown >= 1 && markdown >= strong {
            Preset::Markdown
        } else if self.keywords + self.numbered + self.headings >= 2 {
            Preset::LegalEn
        } else if markdown >= 1 {
            Preset::Markdown
        } else {
            Preset::Paragraphs
        }
    }
}

/// The `auto` engine: the Vietnamese preset compiled once, the others need nothing.
#[derive(Clone, Debug)]
pub(crate) struct AutoEngine {
    vietnamese: VietnameseEngine,
}

impl AutoEngine {
    pub(crate) fn new() -> Result<Self, CutError> {
        Ok(AutoEngine {
            vietnamese: VietnameseEngine::vietnamese()?,
        })
    }

    /// Chooses the preset for `text` and cuts it with that preset; returns the choice.
    pub(crate) fn scan(&self, text: &str, scan: &mut Scan<'_>) -> Preset {
        let preset = gather(text).choose();
        match preset {
            Preset::LegalVi => self.vietnamese.scan(text, scan),
            Preset::LegalEn => EnglishEngine.scan(text, scan),
            Preset::Markdown => scan_markdown(text, scan),
            Preset::Paragraphs | Preset::Auto => scan_paragraphs(text, scan),
        }
        preset
    }
}

/// How much of a document the choice reads: the lines that start in its first 64 KB. A
/// document shows its kind early (a law its first chapter and articles, a knowledge-base article
/// its headings, a licence its first sections), and the choice then costs the same on a 5 MB
/// document as on a 64 KB one.
pub(crate) const SAMPLE_BYTES: usize = 64 * 1024;

/// One pass over the lines of `text` that start in its first [`SAMPLE_BYTES`]: the evidence of
/// the module docs. The pass stops early at the second Vietnamese heading, which decides.
pub(crate) fn gather(text: &str) -> Evidence {
    let mut evidence = Evidence::default();
    let mut fence: Option<(u8, usize)> = None;
    let mut prev_blank = true;
    let mut prev_hash = false;
    let mut prev_text = false;
    let mut lines = Lines::new(text).peekable();
    while let Some(line) = lines.next() {
        if line.start >= SAMPLE_BYTES {
            break;
        }
        let content = line.content;
        let (columns, rest) = indentation(content);
        if let Some((ch, len)) = fence {
            if columns < 4 && closes_fence(rest, ch, len) {
                fence = None;
            }
            continue;
        }
        if is_blank(content) {
            (prev_blank, prev_hash, prev_text) = (true, false, false);
            continue;
        }
        let next = lines.peek().map(|l| l.content);
        let hash = rest.starts_with('#');
        if columns < 4
            && matches!(rest.as_bytes().first(), Some(b'`' | b'~'))
            && let Some(open) = opens_fence(rest)
        {
            fence = Some(open);
            evidence.markdown_syntax = true;
            (prev_blank, prev_hash, prev_text) = (false, false, false);
            continue;
        }
        if hash {
            let lone = !prev_hash && !next.is_some_and(|n| n.trim_start().starts_with('#'));
            if columns < 4 && lone && atx_heading(rest).is_some() {
                evidence.atx += 1;
            }
        } else if prev_text && columns < 4 && setext_underline(rest).is_some() {
            evidence.setext += 1;
        } else {
            line_evidence(content, prev_blank, next, &mut evidence);
        }
        if !evidence.markdown_syntax && has_link(rest) {
            evidence.markdown_syntax = true;
        }
        prev_text = !hash && !is_rule(rest);
        (prev_blank, prev_hash) = (false, hash);
        if evidence.vietnamese >= 2 {
            // Rule 1 decides whatever follows: no need to read on.
            break;
        }
    }
    evidence
}

/// The Vietnamese and English evidence of one non-blank line outside code, read on the NFC view
/// of its first [`VIEW_BYTES`] (the English engine's view), so NFC and NFD text give the same
/// evidence.
///
/// The view is built only for a line that may hold evidence: one standing alone (a heading), or
/// one whose first byte may start a marker (a digit, `(`, a capital, a decoration) or is not
/// ASCII (`Điều`, `§`, a letter NFC may change). A line of running text that starts in lower
/// case, most lines, costs a few byte tests.
fn line_evidence(content: &str, prev_blank: bool, next: Option<&str>, evidence: &mut Evidence) {
    let raw = trim_start(content);
    let Some(&raw_first) = raw.as_bytes().first() else {
        return;
    };
    let alone = prev_blank && next.is_none_or(|n| trim(n).is_empty() || is_rule(n));
    // The raw tests let through every line whose view may hold evidence: normalisation changes
    // no ASCII letter or digit that starts a line, and a first byte that is not ASCII is let
    // through.
    let may_mark = !raw_first.is_ascii()
        || matches!(raw_first, b'(' | b'*' | b'_' | b'C')
        || may_start_keyword(raw)
        || may_start_number(raw);
    if !alone && !may_mark {
        return;
    }
    let mut buf = String::new();
    let view = nfc_view(bounded(raw, VIEW_BYTES), &mut buf);
    let Some(&first) = view.as_bytes().first() else {
        return;
    };
    if (!first.is_ascii() || matches!(first, b'C' | b'M' | b'P')) && vietnamese_heading(view) {
        evidence.vietnamese += 1;
        return;
    }
    let body = undecorate(view).text;
    if first.is_ascii_uppercase() && keyword_heading(body).is_some() {
        evidence.keywords += 1;
        return;
    }
    if first.is_ascii_digit() || first == b'(' || first.is_ascii_uppercase() {
        for token in tokens(body).iter().flatten() {
            let tail = tail_of(token.rest);
            let heading_form = (token.dot || token.number.style == Style::Paren)
                && matches!(tail, Tail::Upper | Tail::Other);
            if heading_form {
                evidence.numbered += 1;
                if token.number.depth() > 1 || body.chars().nth(60).is_some() {
                    evidence.numbered_strong += 1;
                }
                return;
            }
        }
    }
    if alone && body.chars().nth(72).is_none() && reads_as_heading(body, false) {
        evidence.headings += 1;
    }
}

/// Whether `line` holds `](`, the middle of a Markdown link (a byte search for `]` first: most
/// lines have none).
fn has_link(line: &str) -> bool {
    let bytes = line.as_bytes();
    bytes.contains(&b']') && bytes.windows(2).any(|pair| pair == b"](")
}

/// `Điều 5`, `Chương II`, `ĐIỀU 5`, `CHƯƠNG II` at the start of an NFC view.
fn vietnamese_heading(view: &str) -> bool {
    ["Điều ", "ĐIỀU ", "Chương ", "CHƯƠNG "].iter().any(|k| {
        view.strip_prefix(k)
            .and_then(|rest| rest.bytes().next())
            .is_some_and(|b| b.is_ascii_digit() || b"IVXLC".contains(&b))
    })
}

#[cfg(test)]
mod tests;
