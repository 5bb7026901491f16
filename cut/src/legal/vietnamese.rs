//! The `legal-vi` preset: Vietnamese laws, decrees and circulars.
//!
//! Keyword headings `Phần`, `Chương`, `Mục`, `Điều` (capitalised or in capitals; `Phần` also
//! takes `thứ nhất`…), each followed by its number, and `Phụ lục` (an annex, outermost); label
//! e.g. `Điều 44` (a trailing `.` is not part of it). Inside an article only (a numbered line in
//! the preamble is text): numbered clauses `1.` (label `Khoản 1`) and lettered points `a)`, `đ)`
//! (label `Điểm a`), or the words `Khoản 2`, `Điểm b`. A keyword heading must look like one: after
//! the number comes the end of the line, punctuation, or a space and anything but a lowercase
//! letter (`Điều 5 của Luật này …` is a wrapped sentence).
//!
//! Clauses and points are never:
//!
//! * **on a wrapped line**: the line before is running text that does not end its sentence
//!   (`… quy định tại khoản` / `2. Điều này …`); a page number or a heading before is fine;
//! * **in a flattened table**: a point whose line is next to a bare number (a cell: the row
//!   number before it, the rate after it) while another bare number is within three lines is a
//!   row of the table (`2` / `Rượu` / `a) Rượu từ 20 độ trở lên` / `65` / `b) Rượu dưới 20 độ` /
//!   `35`), not a point; a single bare number (a page number before `h) Bán tài sản…`) is not a
//!   table;
//! * **on quoted text** (a line starting with a quotation mark, as an amending law quotes the
//!   article it inserts).
//!
//! Each line is looked at through a bounded prefix, and most lines are ruled out by their first
//! bytes without any regex or normalisation.

use regex::{CaptureLocations, Regex};
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

use crate::CutError;
use crate::lines::{Lines, bounded, trim};
use crate::nfc::{is_plain_starter, nfc_view};
use crate::scan::{Label, Scan};

use super::layout::{Prev, ends_sentence, is_bare_number};
use super::{VIEW_BYTES, at_break, heading_tail_ok, leading_number};

/// How many bytes at the start of a line the legal presets look at (a keyword, a number and the
/// character after it, with room for NFD).
const LEGAL_VIEW_BYTES: usize = 96;

/// A cheap test on the start of a line before a rule's matcher runs.
#[derive(Clone, Copy, Debug)]
enum Prefilter {
    /// The line starts with one of these keywords (NFC, as in the regex).
    Literals(&'static [&'static str]),
    /// The line starts with an ASCII digit.
    Digit,
    /// The line starts with a letter and `)`: `a)`, `đ)`.
    PointLetter,
}

impl Prefilter {
    /// On the NFC view of the line.
    fn accepts(self, view: &str) -> bool {
        match self {
            Prefilter::Literals(literals) => literals.iter().any(|l| view.starts_with(l)),
            Prefilter::Digit => view.as_bytes().first().is_some_and(u8::is_ascii_digit),
            Prefilter::PointLetter => point_letter(view).is_some(),
        }
    }
}

/// `a)`, `đ)` at the start of `view`: the letter.
fn point_letter(view: &str) -> Option<&str> {
    let letter_len = match view.as_bytes() {
        [b'a'..=b'z', b')', ..] => 1,
        _ if view.starts_with("đ)") => 'đ'.len_utf8(),
        _ => return None,
    };
    view.get(..letter_len)
}

/// `12.` followed by whitespace or the end of the line: the number.
fn numbered_clause(view: &str) -> Option<&str> {
    let number = leading_number(view)?;
    let rest = view.get(number.len()..)?.strip_prefix('.')?;
    at_break(rest).then_some(number)
}

/// The longest prefix of `keyword` whose characters have no canonical decomposition. The raw line
/// starts with it whether it arrives in NFC or NFD (`Chương` → `Ch`, `Điều` → `Đi`), so it can be
/// tested before normalising anything.
fn stable_prefix(keyword: &str) -> &str {
    let end = keyword
        .char_indices()
        .find(|&(_, c)| {
            let mut decomposed = std::iter::once(c).nfd();
            !(decomposed.next() == Some(c) && decomposed.next().is_none())
        })
        .map_or(keyword.len(), |(i, _)| i);
    keyword.get(..end).unwrap_or_default()
}

/// The number after a keyword heading, read by hand as its regex ([`Number::pattern`]) would
/// read it: a regex search with captures cost about 1 % of the cut, for a few bytes.
#[derive(Clone, Copy, Debug)]
enum Number {
    /// `[IVXLCDM]+|[0-9]{1,4}[a-z]?`.
    RomanOrArabic,
    /// `[0-9]{1,4}[a-z]?`.
    Article,
    /// `[0-9]{1,3}`.
    Clause,
    /// `[a-zđ]`.
    Letter,
}

impl Number {
    /// The regex this form reads as (the tests check the hand reading against it).
    #[cfg(test)]
    fn pattern(self) -> &'static str {
        match self {
            Number::RomanOrArabic => r"[IVXLCDM]+|[0-9]{1,4}[a-z]?",
            Number::Article => r"[0-9]{1,4}[a-z]?",
            Number::Clause => r"[0-9]{1,3}",
            Number::Letter => r"[a-zđ]",
        }
    }

    /// The length of the number at the start of `s`, as [`Number::pattern`] matches there: the
    /// first alternative that matches, as far as it goes (the regex's leftmost-first order).
    fn len(self, s: &str) -> Option<usize> {
        let bytes = s.as_bytes();
        let digits = |max: usize| {
            bytes
                .iter()
                .take(max)
                .take_while(|b| b.is_ascii_digit())
                .count()
        };
        let len = match self {
            Number::RomanOrArabic => {
                let roman = bytes
                    .iter()
                    .take_while(|b| matches!(b, b'I' | b'V' | b'X' | b'L' | b'C' | b'D' | b'M'))
                    .count();
                return if roman > 0 {
                    Some(roman)
                } else {
                    Number::Article.len(s)
                };
            }
            Number::Article => match digits(4) {
                0 => 0,
                n => n + usize::from(bytes.get(n).is_some_and(u8::is_ascii_lowercase)),
            },
            Number::Clause => digits(3),
            Number::Letter => match bytes.first() {
                Some(b'a'..=b'z') => 1,
                _ if s.starts_with('đ') => 'đ'.len_utf8(),
                _ => 0,
            },
        };
        (len > 0).then_some(len)
    }
}

/// How a rule recognises its marker and makes its label.
#[derive(Clone, Debug)]
enum Matcher {
    /// `\A(keyword)\s+(number)`, then [`heading_tail_ok`]: the label is the keyword, a space
    /// and the number (its inner whitespace collapsed).
    Keyword(Regex),
    /// [`Matcher::Keyword`] with the regex `\A(keyword)\s+(number)` read by hand
    /// ([`keyword_heading`]): one of the keywords (none a prefix of another), whitespace, the
    /// number.
    Heading(&'static [&'static str], Number),
    /// A numbered clause `1.`: the label is this word, a space and the number.
    Clause(&'static str),
    /// A lettered point `a)`: the label is this word, a space and the letter.
    Point(&'static str),
}

#[derive(Clone, Debug)]
struct VietnameseRule {
    level: usize,
    prefilter: Prefilter,
    /// For [`Prefilter::Literals`]: the keywords' [`stable_prefix`]es, tested on the raw line.
    raw_prefixes: Vec<&'static str>,
    matcher: Matcher,
    /// Only inside an open article (the Vietnamese clauses and points).
    in_article: bool,
}

impl VietnameseRule {
    fn is_keyword(&self) -> bool {
        matches!(self.prefilter, Prefilter::Literals(_))
    }

    /// The prefilter on the raw line (see [`VietnameseEngine::candidates`]).
    fn raw_accepts(&self, rest: &str) -> bool {
        match self.prefilter {
            Prefilter::Literals(_) => self.raw_prefixes.iter().any(|p| rest.starts_with(p)),
            // Digits, ASCII letters, `đ` and `)` have no decomposition: raw equals NFC here.
            Prefilter::Digit | Prefilter::PointLetter => self.prefilter.accepts(rest),
        }
    }
}

/// Rule sets, as bit masks over a preset's rules (at most 32 rules; bit *i* is rule *i*).
type RuleMask = u32;

#[derive(Clone, Debug)]
pub(crate) struct VietnameseEngine {
    /// For each first byte of a line (after indentation): the rules that may match it.
    first_byte: [RuleMask; 256],
    /// Every rule.
    all: RuleMask,
    rules: Vec<VietnameseRule>,
    /// The level of articles, for rules that apply only inside one.
    article_level: usize,
}

/// A spec for one preset rule, compiled by [`VietnameseEngine::build`].
struct RuleSpec {
    name: &'static str,
    level: usize,
    prefilter: Prefilter,
    /// The regex of a keyword rule; `None` for the hand-written matchers.
    pattern: Option<String>,
    matcher: Option<Matcher>,
    in_article: bool,
}

fn keyword_rule(
    name: &'static str,
    level: usize,
    keywords: &'static [&'static str],
    number: &str,
    in_article: bool,
) -> RuleSpec {
    RuleSpec {
        name,
        level,
        prefilter: Prefilter::Literals(keywords),
        pattern: Some(format!(r"\A({})\s+({number})", keywords.join("|"))),
        matcher: None,
        in_article,
    }
}

/// A keyword rule read by hand ([`Matcher::Heading`]).
fn heading_rule(
    name: &'static str,
    level: usize,
    keywords: &'static [&'static str],
    number: Number,
    in_article: bool,
) -> RuleSpec {
    builtin_rule(
        name,
        level,
        Prefilter::Literals(keywords),
        Matcher::Heading(keywords, number),
        in_article,
    )
}

fn builtin_rule(
    name: &'static str,
    level: usize,
    prefilter: Prefilter,
    matcher: Matcher,
    in_article: bool,
) -> RuleSpec {
    RuleSpec {
        name,
        level,
        prefilter,
        pattern: None,
        matcher: Some(matcher),
        in_article,
    }
}

impl VietnameseEngine {
    pub(crate) fn vietnamese() -> Result<Self, CutError> {
        // ASCII digits (`\d` is Unicode, and would keep the regexes from being one-pass).
        let specs = vec![
            keyword_rule(
                "Phần",
                0,
                &["Phần", "PHẦN"],
                r"(?:thứ|THỨ)\s+\p{L}+|[IVXLCDM]+|[0-9]{1,4}",
                false,
            ),
            heading_rule(
                "Phụ lục",
                0,
                &["Phụ lục", "PHỤ LỤC"],
                Number::RomanOrArabic,
                false,
            ),
            heading_rule(
                "Chương",
                1,
                &["Chương", "CHƯƠNG"],
                Number::RomanOrArabic,
                false,
            ),
            heading_rule("Mục", 2, &["Mục", "MỤC"], Number::RomanOrArabic, false),
            heading_rule("Điều", 3, &["Điều", "ĐIỀU"], Number::Article, false),
            heading_rule("Khoản", 4, &["Khoản", "KHOẢN"], Number::Clause, true),
            heading_rule("Điểm", 5, &["Điểm", "ĐIỂM"], Number::Letter, true),
            builtin_rule(
                "Khoản (1.)",
                4,
                Prefilter::Digit,
                Matcher::Clause("Khoản"),
                true,
            ),
            builtin_rule(
                "Điểm (a))",
                5,
                Prefilter::PointLetter,
                Matcher::Point("Điểm"),
                true,
            ),
        ];
        Self::build("legal-vi", specs, 3)
    }

    fn build(preset: &str, specs: Vec<RuleSpec>, article_level: usize) -> Result<Self, CutError> {
        let mut first_byte = [0; 256];
        let mut all = 0;
        let mut rules = Vec::with_capacity(specs.len());
        for (index, spec) in specs.into_iter().enumerate() {
            let invalid = |message: String| CutError::InvalidPattern {
                level: format!("{preset}/{}", spec.name),
                pattern: spec.pattern.clone().unwrap_or_default(),
                message,
            };
            let bit = u32::try_from(index)
                .ok()
                .and_then(|i| RuleMask::from(1u8).checked_shl(i))
                .ok_or_else(|| invalid("too many rules in one preset".to_owned()))?;
            all |= bit;
            let raw_prefixes: Vec<&'static str> = match spec.prefilter {
                Prefilter::Literals(literals) => {
                    let mut prefixes: Vec<&'static str> =
                        literals.iter().map(|l| stable_prefix(l)).collect();
                    prefixes.dedup();
                    prefixes
                }
                _ => Vec::new(),
            };
            let mut mark = |b: u8| first_byte[usize::from(b)] |= bit;
            match spec.prefilter {
                Prefilter::Literals(_) => {
                    for prefix in &raw_prefixes {
                        match prefix.as_bytes().first() {
                            Some(&b) => mark(b),
                            None => (0..=u8::MAX).for_each(&mut mark),
                        }
                    }
                }
                Prefilter::Digit => (b'0'..=b'9').for_each(&mut mark),
                Prefilter::PointLetter => {
                    (b'a'..=b'z').for_each(&mut mark);
                    "đ".bytes().take(1).for_each(&mut mark);
                }
            }
            let matcher = match (&spec.pattern, &spec.matcher) {
                (Some(pattern), _) => {
                    Matcher::Keyword(Regex::new(pattern).map_err(|e| invalid(e.to_string()))?)
                }
                (None, Some(matcher)) => matcher.clone(),
                (None, None) => return Err(invalid("no matcher".to_owned())),
            };
            rules.push(VietnameseRule {
                level: spec.level,
                raw_prefixes,
                prefilter: spec.prefilter,
                matcher,
                in_article: spec.in_article,
            });
        }
        Ok(VietnameseEngine {
            first_byte,
            all,
            rules,
            article_level,
        })
    }

    /// The rules that may match a line starting with `rest` (raw, after indentation), and
    /// whether matching needs the line's NFC form. Cheap, and never rules out wrongly: the raw
    /// tests are on characters that NFC leaves alone (ASCII digits and letters, `đ`, the stable
    /// prefixes of keywords), and a first character that NFC may change (a singleton such as
    /// KELVIN SIGN, a combining mark) keeps every rule, on the NFC form.
    fn candidates(&self, rest: &str) -> (RuleMask, bool) {
        let Some(&b) = rest.as_bytes().first() else {
            return (0, false);
        };
        if !b.is_ascii()
            && let Some(c) = rest.chars().next()
            && !is_plain_starter(c)
            && is_nfc_quick(std::iter::once(c)) != IsNormalized::Yes
        {
            return (self.all, true);
        }
        let mut mask = self.first_byte[usize::from(b)];
        let mut needs_nfc = false;
        let mut pending = mask;
        while pending != 0 {
            let index = pending.trailing_zeros();
            pending &= pending - 1;
            let Some(rule) = self.rules.get(index as usize) else {
                continue;
            };
            if !rule.raw_accepts(rest) {
                mask &= !(1 << index);
            } else if rule.is_keyword() {
                needs_nfc = true;
            }
        }
        (mask, needs_nfc)
    }

    /// Capture slots for each keyword rule's regex.
    fn capture_locations(&self) -> Vec<Option<CaptureLocations>> {
        self.rules
            .iter()
            .map(|rule| match &rule.matcher {
                Matcher::Keyword(regex) => Some(regex.capture_locations()),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn scan(&self, text: &str, scan: &mut Scan<'_>) {
        let mut buf = String::new();
        let mut locations = self.capture_locations();
        let mut context = Context::default();
        let mut lines = Lines::new(text).peekable();
        while let Some(line) = lines.next() {
            let rest = line.content.trim_start_matches([' ', '\t']);
            let (mask, needs_nfc) = self.candidates(rest);
            let mut marker = false;
            if mask != 0 {
                let raw = bounded(rest, LEGAL_VIEW_BYTES);
                // Without a keyword rule in play, the raw prefix is as good as its NFC form: the
                // digit and letter rules match characters that normalisation leaves alone.
                let view = if needs_nfc {
                    nfc_view(raw, &mut buf)
                } else {
                    raw
                };
                let next = lines.peek().map(|l| l.content);
                if let Some((level, label)) =
                    self.match_line(view, mask, &mut locations, &scan.stack, &mut context, next)
                {
                    scan.open(level, line.start, label);
                    // Clauses and points are running text; keyword headings are titles.
                    marker = level < self.article_level + 1;
                }
            }
            context.push(rest, marker);
        }
    }

    /// The first rule of `mask` (outermost first) that matches `view`: its level and label.
    /// `stack` holds the open levels (for the rules that apply only inside an article).
    /// A clause or point must also pass the wrap and table rules of the module docs, against
    /// the lines before (`context`) and the line after (`next`).
    fn match_line<'v>(
        &self,
        view: &'v str,
        mask: RuleMask,
        locations: &mut [Option<CaptureLocations>],
        stack: &[(usize, usize)],
        context: &mut Context<'_>,
        next: Option<&str>,
    ) -> Option<(usize, Label<'v>)> {
        let rules = self.rules.iter().zip(locations.iter_mut()).enumerate();
        for (index, (rule, locs)) in rules {
            if mask & (1 << index) == 0 || !rule.prefilter.accepts(view) {
                continue;
            }
            if rule.in_article
                && (!stack.iter().any(|(l, _)| *l == self.article_level) || context.continues())
            {
                continue;
            }
            let found = match (&rule.matcher, locs) {
                (Matcher::Keyword(regex), Some(locs)) => {
                    keyword_label(regex, locs, view).map(|label| (rule.level, label))
                }
                (Matcher::Heading(keywords, number), _) => {
                    keyword_heading(keywords, *number, view).map(|label| (rule.level, label))
                }
                (Matcher::Clause(word), _) => {
                    numbered_clause(view).map(|n| (rule.level, Label::Numbered(word, n)))
                }
                (Matcher::Point(word), _) => point_letter(view).and_then(|letter| {
                    let rest = view.get(letter.len() + 1..)?;
                    (at_break(rest) && !context.in_table(next))
                        .then_some((rule.level, Label::Numbered(word, letter)))
                }),
                (Matcher::Keyword(_), None) => None,
            };
            if found.is_some() {
                return found;
            }
        }
        None
    }
}

/// The lines just before the one being matched, for the wrap and table rules.
#[derive(Debug, Default)]
struct Context<'t> {
    /// The previous three lines (after indentation), most recent first.
    recent: [&'t str; 3],
    /// Whether the previous line was a keyword heading (a title, never running text).
    marker: bool,
    /// Room for the NFC form of the previous line.
    buf: String,
}

impl<'t> Context<'t> {
    fn push(&mut self, line: &'t str, marker: bool) {
        self.recent = [line, self.recent[0], self.recent[1]];
        self.marker = marker;
    }

    /// The wrap rule: the previous line is running text that does not end its sentence.
    /// Read on the previous line's NFC view (its length in characters counts), like the English
    /// engine's.
    fn continues(&mut self) -> bool {
        let prev = self.recent[0];
        // A line that ends its sentence goes on with nothing: decided without normalising.
        if self.marker || trim(prev).is_empty() || ends_sentence(prev) {
            return false;
        }
        let view = nfc_view(bounded(prev, VIEW_BYTES), &mut self.buf);
        Prev::of_text(view, false).continues()
    }

    /// The table rule: a bare number next to the line (before it, or `next` after it), and
    /// another within three lines.
    fn in_table(&self, next: Option<&str>) -> bool {
        let next = next.is_some_and(is_bare_number);
        let adjacent = next || is_bare_number(self.recent[0]);
        let count = usize::from(next) + self.recent.iter().filter(|l| is_bare_number(l)).count();
        adjacent && count >= 2
    }
}

/// The label of a keyword heading `\A(keyword)\s+(number)` (a [`Matcher::Heading`]), as
/// [`keyword_label`] reads it with that regex: keyword, space, number.
fn keyword_heading<'v>(keywords: &[&str], number: Number, view: &'v str) -> Option<Label<'v>> {
    // No keyword is a prefix of another: the first that starts the line is the only one.
    let keyword = keywords.iter().find(|k| view.starts_with(**k))?;
    let after = view.get(keyword.len()..)?;
    // `\s` is Unicode's White_Space, as `char::is_whitespace`.
    let spaced = after.trim_start_matches(char::is_whitespace);
    if spaced.len() == after.len() {
        return None;
    }
    let (digits, rest) = spaced.split_at_checked(number.len(spaced)?)?;
    heading_tail_ok(rest).then_some(Label::Numbered(view.get(..keyword.len())?, digits))
}

/// The label of a keyword heading matched by `regex`: keyword, space, number.
fn keyword_label<'v>(
    regex: &Regex,
    locs: &mut CaptureLocations,
    view: &'v str,
) -> Option<Label<'v>> {
    let heading = regex.captures_read(locs, view)?;
    if !heading_tail_ok(view.get(heading.end()..).unwrap_or_default()) {
        return None;
    }
    let group = |i: usize| {
        locs.get(i)
            .and_then(|(s, e)| view.get(s..e))
            .unwrap_or_default()
    };
    Some(Label::Numbered(group(1), group(2)))
}

#[cfg(test)]
mod tests;
