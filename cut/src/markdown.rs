//! The `markdown` preset: ATX headings `#`…`######` (levels h1…h6; up to three spaces of
//! indentation; the label is the heading text without the `#`s and without a closing `#`
//! sequence), and setext headings (a paragraph underlined by `=`, h1, or by at least two `-`, h2;
//! the unit starts at the paragraph's first line, the label is the paragraph's lines joined by
//! spaces). Lines inside fenced code blocks (```` ``` ```` or `~~~`) are never headings; a `---`
//! that follows a blank line, a heading, a list item or a block quote is a thematic break; a YAML
//! front matter block (`---` on the first line, closed by `---` or `...` within the first
//! 64 KiB) is part of the preamble. An empty ATX heading is labelled `h1`…`h6`. Markdown
//! structure (`#`, fences, underlines, indentation) is ASCII and read from the raw bytes.

use std::borrow::Cow;

use crate::lines::bounded;
use crate::lines::{Lines, is_blank};
use crate::nfc::{RAW_LABEL_BYTES, nfc_label};
use crate::scan::{Label, Scan};

/// Labels of empty ATX headings, by level.
const EMPTY_HEADING_LABELS: [&str; 6] = ["h1", "h2", "h3", "h4", "h5", "h6"];

/// How far a Markdown front matter block may extend before its closing line.
const FRONT_MATTER_MAX_BYTES: usize = 64 * 1024;

/// A paragraph that a setext underline could turn into a heading.
#[derive(Clone, Copy)]
struct Para {
    line_start: usize,
    content_start: usize,
    content_end: usize,
}

/// What the previous lines left open, for setext headings.
#[derive(Clone, Copy)]
enum Block {
    /// Nothing: after a blank line, a heading, a fence, a thematic break.
    None,
    /// A paragraph (its text can become a setext heading).
    Para(Para),
    /// A list item or block quote and its lazy continuation lines.
    Other,
}

pub(crate) fn scan_markdown(text: &str, scan: &mut Scan<'_>) {
    let mut fence: Option<(u8, usize)> = None;
    let mut block = Block::None;
    let mut skip_until = 0;
    for (index, line) in Lines::new(text).enumerate() {
        if line.start < skip_until {
            continue;
        }
        if index == 0
            && line.content.trim_end_matches([' ', '\t']) == "---"
            && let Some(end) = front_matter_end(text, line.next)
        {
            skip_until = end;
            continue;
        }
        let (columns, rest) = indentation(line.content);
        if let Some((ch, len)) = fence {
            if columns < 4 && closes_fence(rest, ch, len) {
                fence = None;
            }
            continue;
        }
        if rest.is_empty() || is_blank(rest) {
            block = Block::None;
            continue;
        }
        if columns >= 4 {
            // Indented code, or the continuation of a paragraph.
            if let Block::Para(para) = &mut block {
                para.content_end = line.content_end();
            }
            continue;
        }
        match rest.as_bytes().first() {
            Some(b'`' | b'~') => {
                if let Some(open) = opens_fence(rest) {
                    fence = Some(open);
                    block = Block::None;
                    continue;
                }
            }
            Some(b'#') => {
                if let Some((level, label)) = atx_heading(rest) {
                    let label = if label.is_empty() {
                        Cow::Borrowed(EMPTY_HEADING_LABELS.get(level).copied().unwrap_or("h"))
                    } else {
                        nfc_label(label)
                    };
                    scan.open(level, line.start, Label::Text(&label));
                    block = Block::None;
                    continue;
                }
            }
            Some(b'=' | b'-') => {
                if let Some(level) = setext_underline(rest) {
                    match block {
                        Block::Para(para) => {
                            let label = setext_label(text, para);
                            scan.open(level, para.line_start, Label::Text(&label));
                            block = Block::None;
                            continue;
                        }
                        // `---` outside a paragraph is a thematic break.
                        _ if level == 1 => {
                            block = Block::None;
                            continue;
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        if starts_other_block(rest) {
            block = Block::Other;
            continue;
        }
        block = match block {
            Block::Para(mut para) => {
                para.content_end = line.content_end();
                Block::Para(para)
            }
            Block::Other => Block::Other,
            Block::None => Block::Para(Para {
                line_start: line.start,
                content_start: line.content_start,
                content_end: line.content_end(),
            }),
        };
    }
}

/// Indentation width in columns (tabs to the next multiple of 4, counted up to 4) and the rest.
pub(crate) fn indentation(content: &str) -> (usize, &str) {
    let mut columns = 0;
    for (i, b) in content.bytes().enumerate() {
        match b {
            b' ' => columns += 1,
            b'\t' => columns += 4 - columns % 4,
            _ => return (columns, content.get(i..).unwrap_or_default()),
        }
        if columns >= 4 {
            return (columns, content.get(i + 1..).unwrap_or_default());
        }
    }
    (columns, "")
}

/// If line 0 opens a front matter block, the start of the line after its closing line (within
/// the bound). `from` is the start of line 1.
fn front_matter_end(text: &str, from: usize) -> Option<usize> {
    let limit = from.saturating_add(FRONT_MATTER_MAX_BYTES);
    Lines::starting_at(text, from)
        .take_while(|line| line.start < limit)
        .find(|line| matches!(line.content.trim_end_matches([' ', '\t']), "---" | "..."))
        .map(|line| line.next)
}

pub(crate) fn opens_fence(rest: &str) -> Option<(u8, usize)> {
    let ch = *rest.as_bytes().first()?;
    let len = rest.bytes().take_while(|&b| b == ch).count();
    if len < 3 {
        return None;
    }
    if ch == b'`' && rest.get(len..).is_some_and(|info| info.contains('`')) {
        return None;
    }
    Some((ch, len))
}

pub(crate) fn closes_fence(rest: &str, ch: u8, open_len: usize) -> bool {
    let len = rest.bytes().take_while(|&b| b == ch).count();
    len >= open_len && rest.get(len..).is_some_and(is_blank)
}

/// An ATX heading: its level (0 for `#`) and its raw label.
pub(crate) fn atx_heading(rest: &str) -> Option<(usize, &str)> {
    let hashes = rest.bytes().take_while(|&b| b == b'#').count();
    if hashes == 0 || hashes > 6 {
        return None;
    }
    let after = rest.get(hashes..)?;
    if !(after.is_empty() || after.starts_with([' ', '\t'])) {
        return None;
    }
    let mut label = after.trim_matches([' ', '\t']);
    let without_closing = label.trim_end_matches('#');
    if without_closing.is_empty() {
        label = "";
    } else if without_closing.ends_with([' ', '\t']) {
        label = without_closing.trim_end_matches([' ', '\t']);
    }
    Some((hashes - 1, label))
}

/// A setext underline: `=`… (level 0) or `--`… (level 1), optionally followed by blanks.
pub(crate) fn setext_underline(rest: &str) -> Option<usize> {
    let t = rest.trim_end_matches([' ', '\t']);
    let ch = *t.as_bytes().first()?;
    if !t.bytes().all(|b| b == ch) {
        return None;
    }
    match ch {
        b'=' => Some(0),
        b'-' if t.len() >= 2 => Some(1),
        _ => None,
    }
}

/// The label of a setext heading: the paragraph's lines, trimmed and joined by spaces.
fn setext_label(text: &str, para: Para) -> String {
    let raw = text
        .get(para.content_start..para.content_end)
        .unwrap_or_default();
    let mut joined = String::new();
    for part in raw.split('\n').map(str::trim).filter(|p| !p.is_empty()) {
        if joined.len() >= RAW_LABEL_BYTES {
            break;
        }
        if !joined.is_empty() {
            joined.push(' ');
        }
        joined.push_str(bounded(part, RAW_LABEL_BYTES));
    }
    nfc_label(&joined).into_owned()
}

/// A list item, a block quote or a thematic break: not paragraph text.
fn starts_other_block(rest: &str) -> bool {
    let bytes = rest.as_bytes();
    match bytes.first() {
        Some(b'>') => true,
        Some(b'-' | b'*' | b'+') => {
            matches!(bytes.get(1), None | Some(b' ' | b'\t')) || is_thematic_break(rest)
        }
        Some(b'_') => is_thematic_break(rest),
        _ => false,
    }
}

fn is_thematic_break(rest: &str) -> bool {
    let Some(&ch) = rest.as_bytes().first() else {
        return false;
    };
    let mut count = 0;
    for b in rest.bytes() {
        if b == ch {
            count += 1;
        } else if b != b' ' && b != b'\t' {
            return false;
        }
    }
    count >= 3
}

#[cfg(test)]
mod tests;
