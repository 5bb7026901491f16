//! Splitting oversize units. A unit larger than `max_unit_bytes` is split into parts numbered
//! `Some(1)`, `Some(2)`, … that keep the unit's path. Packing is greedy and hierarchical: as many
//! whole paragraphs (a run of non-blank lines plus the blank lines after it) as fit go into one
//! part; a paragraph too large on its own is packed by lines into its own parts; a line too
//! large on its own is cut at character boundaries. Every part is at most `max_unit_bytes` long
//! and never splits a UTF-8 code point.

use crate::lines::is_blank;

/// Splits `[start, end)` of `text` into parts of at most `max` bytes (see the module docs), in
/// order, appended to `out`.
pub(crate) fn split_span(
    text: &str,
    start: usize,
    end: usize,
    max: usize,
    out: &mut Vec<(usize, usize)>,
) {
    pack(text, start, end, max, Grain::Paragraph, out);
}

#[derive(Clone, Copy)]
enum Grain {
    Paragraph,
    Line,
}

/// Greedy packing of the `grain` segments of `[start, end)`; a segment too large alone is packed
/// at the next finer grain into parts of its own.
fn pack(
    text: &str,
    start: usize,
    end: usize,
    max: usize,
    grain: Grain,
    out: &mut Vec<(usize, usize)>,
) {
    let bounds = match grain {
        Grain::Paragraph => paragraph_bounds(text, start, end),
        Grain::Line => line_bounds(text, start, end),
    };
    let mut part_start = start;
    let mut segment_start = start;
    for segment_end in bounds.into_iter().chain(std::iter::once(end)) {
        if segment_end - part_start > max {
            if segment_start > part_start {
                out.push((part_start, segment_start));
                part_start = segment_start;
            }
            if segment_end - segment_start > max {
                match grain {
                    Grain::Paragraph => {
                        pack(text, segment_start, segment_end, max, Grain::Line, out)
                    }
                    Grain::Line => pack_chars(text, segment_start, segment_end, max, out),
                }
                part_start = segment_end;
            }
        }
        segment_start = segment_end;
    }
    if part_start < end {
        out.push((part_start, end));
    }
}

/// Cuts `[start, end)` at character boundaries into parts of at most `max` bytes (`max` ≥ 4).
fn pack_chars(text: &str, start: usize, end: usize, max: usize, out: &mut Vec<(usize, usize)>) {
    let mut current = start;
    while end - current > max {
        let mut cut = current + max;
        while cut > current && !text.is_char_boundary(cut) {
            cut -= 1;
        }
        if cut == current {
            // Only for max < 4, which `Cutter::new` rejects: take one whole character.
            cut = current + 1;
            while cut < end && !text.is_char_boundary(cut) {
                cut += 1;
            }
        }
        out.push((current, cut));
        current = cut;
    }
    if current < end {
        out.push((current, end));
    }
}

/// Starts of the lines in `(start, end)`.
fn line_bounds(text: &str, start: usize, end: usize) -> Vec<usize> {
    let bytes = text.as_bytes().get(start..end).unwrap_or_default();
    bytes
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' && i + 1 < bytes.len())
        .map(|(i, _)| start + i + 1)
        .collect()
}

/// Starts of the paragraphs in `(start, end)`: non-blank lines after a blank line.
fn paragraph_bounds(text: &str, start: usize, end: usize) -> Vec<usize> {
    let mut bounds = Vec::new();
    let mut previous_blank = false;
    let mut line_start = start;
    let bytes = text.as_bytes();
    while line_start < end {
        let line_end = bytes
            .get(line_start..end)
            .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
            .map_or(end, |i| line_start + i + 1);
        let line = text.get(line_start..line_end).unwrap_or_default();
        let blank = is_blank(line);
        if !blank && previous_blank && line_start > start {
            bounds.push(line_start);
        }
        previous_blank = blank;
        line_start = line_end;
    }
    bounds
}

#[cfg(test)]
mod tests;
