//! Cut rules: how a document is cut into units. Configuration, so serialisable.

use serde::{Deserialize, Serialize};

/// A shipped set of marker levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// Markdown ATX (`#`…`######`) and setext (`===`, `---` underlined) headings.
    Markdown,
    /// English legal text: Part / Chapter / Section / Article and numbered sections (`1.`, `1.1.`).
    LegalEn,
    /// Vietnamese legal text: Phần, Chương, Mục, Điều, Khoản, Điểm.
    LegalVi,
    /// One unit per paragraph (blank-line separated).
    Paragraphs,
    /// One of the others for each document, chosen from the document itself; the plan records
    /// the choice.
    Auto,
}

impl Preset {
    /// Every preset, in documentation order.
    pub const ALL: [Preset; 5] = [
        Preset::Markdown,
        Preset::LegalEn,
        Preset::LegalVi,
        Preset::Paragraphs,
        Preset::Auto,
    ];

    /// The name used in configuration and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Markdown => "markdown",
            Preset::LegalEn => "legal-en",
            Preset::LegalVi => "legal-vi",
            Preset::Paragraphs => "paragraphs",
            Preset::Auto => "auto",
        }
    }
}

impl std::str::FromStr for Preset {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Preset::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown preset `{s}`; expected one of markdown, legal-en, legal-vi, paragraphs, auto"
                )
            })
    }
}

/// One user-defined marker level: lines matching `pattern` at line start open a unit at this level.
///
/// Levels are ordered outermost first; a marker at level *i* closes every open unit at level ≥ *i*.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelRule {
    /// Level name, e.g. `chapter`.
    pub name: String,
    /// A regular expression matched at the start of a line (implicitly anchored). The first capture
    /// group, if any, is the marker's label (e.g. `Điều 44`); otherwise the whole match, trimmed.
    pub pattern: String,
}

/// Which markers open units.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MarkerSet {
    /// A shipped preset.
    Preset(Preset),
    /// User-defined levels, outermost first.
    Custom(Vec<LevelRule>),
}

/// How to cut: which markers, and the largest unit allowed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CutRules {
    /// The marker levels.
    pub markers: MarkerSet,
    /// Units larger than this are split at paragraph, then line, then character boundaries.
    /// `None` means no limit.
    pub max_unit_bytes: Option<u64>,
}

impl CutRules {
    /// Rules from a preset with no size limit.
    pub fn preset(preset: Preset) -> Self {
        CutRules {
            markers: MarkerSet::Preset(preset),
            max_unit_bytes: None,
        }
    }

    /// The same rules with a size limit.
    pub fn with_max_unit_bytes(mut self, max: u64) -> Self {
        self.max_unit_bytes = Some(max);
        self
    }
}
