//! The canonical bytes of a plan, which [`Plan::sha256`] hashes.
//!
//! A plan's sha256 is journaled (`expected_plan_sha256`, `run_plans.sha256`), printed by `plan`
//! for review and compared by `run --plan`, so the bytes hashed are defined here, by this code,
//! and not by whatever a serializer version prints. They are compact JSON, chosen so that every
//! plan hashed before this module existed keeps its hash:
//!
//! - no whitespace anywhere; objects' members in the order listed below; arrays in order;
//! - numbers in decimal ASCII, without sign, leading zeros or exponent; an absent optional number
//!   is `null`;
//! - strings in double quotes, their UTF-8 bytes as they are except: `"` → `\"`, `\` → `\\`,
//!   backspace, form feed, line feed, carriage return and tab → `\b`, `\f`, `\n`, `\r`, `\t`,
//!   and every other byte below 0x20 → `\u00XX` with lowercase hex digits (DEL, `/` and non-ASCII
//!   characters, U+2028 included, are not escaped);
//! - a plan is `{"schema_version":N,"rules":RULES,"documents":[DOCUMENT,…]}`;
//! - RULES is `{"markers":MARKERS,"max_unit_bytes":N or null}`; MARKERS is `{"preset":"NAME"}`
//!   with the preset's configuration name ([`Preset::name`]) or
//!   `{"custom":[{"name":"…","pattern":"…"},…]}`;
//! - DOCUMENT is `{"document":"ID","revision":N,"source_sha256":"HEX","source_bytes":N,
//!   "units":[UNIT,…]}`, with `,"preset":"NAME"` before the closing brace only when the cutter
//!   chose a preset for it;
//! - UNIT is `{"ordinal":N,"unit_id":"…","path":"…","part":N or null,"start":N,"end":N,
//!   "sha256":"HEX"}`.
//!
//! Tests pin the hashes of known plans and check that these bytes are the plan's JSON form (the
//! plan file), so a change to either shows.

use std::fmt::Write as _;

use super::{DocumentPlan, Plan, PlannedUnit};
use crate::rules::{CutRules, MarkerSet};

/// The canonical bytes of `plan` (see the module documentation).
#[cfg(test)]
pub(crate) fn plan_bytes(plan: &Plan) -> Vec<u8> {
    plan_text(plan).into_bytes()
}

/// The canonical bytes of `plan` as the text they are (compact JSON).
pub(crate) fn plan_text(plan: &Plan) -> String {
    let mut out = String::new();
    plan_pieces(plan, |piece| {
        out.push_str(piece);
        Ok::<(), std::convert::Infallible>(())
    })
    .unwrap_or_else(|never| match never {});
    out
}

/// The canonical text of `plan` handed to `sink` in pieces, in order, whose concatenation is
/// [`plan_text`]: the opening up to the documents' `[`, then each document (preceded by its
/// `,` after the first), then the closing `]}`. A sha256 over the pieces is the plan's sha256,
/// and the whole text never sits in memory (a piece is one document's plan).
pub(crate) fn plan_pieces<E>(
    plan: &Plan,
    mut sink: impl FnMut(&str) -> Result<(), E>,
) -> Result<(), E> {
    let mut out = String::new();
    out.push_str("{\"schema_version\":");
    number(&mut out, u64::from(plan.schema_version));
    out.push_str(",\"rules\":");
    rules(&mut out, &plan.rules);
    out.push_str(",\"documents\":[");
    sink(&out)?;
    for (i, document_plan) in plan.documents.iter().enumerate() {
        out.clear();
        if i > 0 {
            out.push(',');
        }
        document(&mut out, document_plan);
        sink(&out)?;
    }
    sink("]}")
}

/// Appends the canonical text of one document's plan, DOCUMENT, to `out`: how a plan's parts
/// are written ([`super::plan_parts`]).
pub(crate) fn document_text(out: &mut String, plan: &DocumentPlan) {
    document(out, plan);
}

fn rules(out: &mut String, rules: &CutRules) {
    out.push_str("{\"markers\":");
    match &rules.markers {
        MarkerSet::Preset(preset) => {
            out.push_str("{\"preset\":");
            string(out, preset.name());
            out.push('}');
        }
        MarkerSet::Custom(levels) => {
            out.push_str("{\"custom\":[");
            for (i, level) in levels.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"name\":");
                string(out, &level.name);
                out.push_str(",\"pattern\":");
                string(out, &level.pattern);
                out.push('}');
            }
            out.push_str("]}");
        }
    }
    out.push_str(",\"max_unit_bytes\":");
    optional(out, rules.max_unit_bytes);
    out.push('}');
}

fn document(out: &mut String, plan: &DocumentPlan) {
    out.push_str("{\"document\":");
    string(out, plan.document.as_str());
    out.push_str(",\"revision\":");
    number(out, plan.revision);
    out.push_str(",\"source_sha256\":");
    string(out, &plan.source_sha256);
    out.push_str(",\"source_bytes\":");
    number(out, plan.source_bytes);
    out.push_str(",\"units\":[");
    for (i, planned) in plan.units.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        unit(out, planned);
    }
    out.push(']');
    // Absent rather than null: plans from before `auto` hash as they did.
    if let Some(preset) = plan.preset {
        out.push_str(",\"preset\":");
        string(out, preset.name());
    }
    out.push('}');
}

fn unit(out: &mut String, unit: &PlannedUnit) {
    out.push_str("{\"ordinal\":");
    number(out, u64::from(unit.ordinal));
    out.push_str(",\"unit_id\":");
    // Hex digits need no escaping: written as they are.
    hex(out, unit.unit_id.hex_digits().as_str());
    out.push_str(",\"path\":");
    string(out, &unit.path);
    out.push_str(",\"part\":");
    optional(out, unit.part.map(u64::from));
    out.push_str(",\"start\":");
    number(out, unit.start);
    out.push_str(",\"end\":");
    number(out, unit.end);
    out.push_str(",\"sha256\":");
    hex(out, unit.sha256.hex_digits().as_str());
    out.push('}');
}

fn number(out: &mut String, n: u64) {
    // Writing to a `String` cannot fail.
    let _ = write!(out, "{n}");
}

fn optional(out: &mut String, n: Option<u64>) {
    match n {
        Some(n) => number(out, n),
        None => out.push_str("null"),
    }
}

/// `digits` in double quotes: lowercase hex digits, which [`string`] would write unchanged.
fn hex(out: &mut String, digits: &str) {
    out.push('"');
    out.push_str(digits);
    out.push('"');
}

fn string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
