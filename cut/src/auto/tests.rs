//! Unit tests of the `auto` choice.

use iu_cutter_live_execution::{CutRules, Preset};

use super::*;
use crate::Cutter;

fn chosen(text: &str) -> Preset {
    gather(text).choose()
}

#[test]
fn vietnamese_laws_in_any_form() {
    let law = "QUỐC HỘI\nLuật số: 1\nChương I\nQUY ĐỊNH CHUNG\nĐiều 1. Phạm vi\n1. Khoản.\nĐiều 2. Đối tượng\n";
    assert_eq!(chosen(law), Preset::LegalVi);
    let nfd: String = unicode_normalization::UnicodeNormalization::nfd(law).collect();
    assert_eq!(chosen(&nfd), Preset::LegalVi);
    // One mention is not a law.
    assert_ne!(chosen("Điều 1 là một từ.\n"), Preset::LegalVi);
}

#[test]
fn the_evidence_is_the_same_in_nfc_and_nfd() {
    // A short line of decomposed letters standing alone reads as a heading in either form (found
    // by the NFC/NFD property test: the heading test once ran on the raw bytes).
    for text in [
        "P ềk \n\nPart I\n",
        "Đề NGHỊ\n\n1. Thứ nhất, một điều khoản dài.\n",
    ] {
        let nfc: String = unicode_normalization::UnicodeNormalization::nfc(text).collect();
        let nfd: String = unicode_normalization::UnicodeNormalization::nfd(text).collect();
        assert_eq!(gather(&nfc), gather(&nfd), "{text:?}");
    }
    assert_eq!(chosen("P ềk \n\nPart I\n"), Preset::LegalEn);
}

#[test]
fn markdown_articles_and_docs() {
    assert_eq!(
        chosen("# Resetting your password\n\nOpen the settings.\n"),
        Preset::Markdown
    );
    let doc = "# Path\n\n```js\n# not a heading\n1. Not a clause either, inside a fence.\n```\n\n\
               ## `path.basename()`\n\nReturns the last portion.\n";
    assert_eq!(chosen(doc), Preset::Markdown);
    // Setext headings count where the document shows other Markdown…
    let setext = "Title\n=====\n\nSee [the docs](https://example.com).\n\nPart\n----\n\nText.\n";
    assert_eq!(chosen(setext), Preset::Markdown);
}

#[test]
fn legal_texts_even_with_a_markdown_title_or_underlines() {
    // A contract in Markdown: one `#` title, numbered clauses of running text.
    let contract = "# Standard Terms\n\n\
                    1. **Introduction**. This Mutual Non-Disclosure Agreement allows each party to disclose information.\n\n\
                    2. **Use**. The Receiving Party shall use Confidential Information solely for the Purpose stated.\n";
    assert_eq!(chosen(contract), Preset::LegalEn);
    // A plain-text licence underlines its headings: that is no Markdown.
    let licence = "Mozilla Public License Version 2.0\n==================================\n\n\
                   1. Definitions\n--------------\n\n1.1. \"Contributor\"\n    means each individual.\n\n\
                   1.2. \"Contributor Version\"\n    means the combination.\n";
    assert_eq!(chosen(licence), Preset::LegalEn);
    // A `#` comment block is no heading.
    let comments = "THIRD-PARTY NOTICES\n\n # The BSD License\n # Copyright (C) 2006\n #\n\n\
                    Section 1. Scope\n\nSection 2. Terms\n";
    assert_eq!(chosen(comments), Preset::LegalEn);
    let headings = "Some licence text, as a paragraph of running text for the preamble.\n\n\
                    NO WARRANTY\n\nThe program is provided as is.\n\nGeneral Provisions\n\nText.\n";
    assert_eq!(chosen(headings), Preset::LegalEn);
}

#[test]
fn unstructured_text_is_paragraphs() {
    assert_eq!(
        chosen(
            "Copyright (c) 2014 The Authors\n\nPermission is hereby granted.\n\nTHE SOFTWARE IS PROVIDED AS IS.\n"
        ),
        Preset::Paragraphs
    );
    assert_eq!(
        chosen("OPENJDK ASSEMBLY EXCEPTION\n\nThe code is distributed.\n"),
        Preset::Paragraphs
    );
    assert_eq!(chosen(""), Preset::Paragraphs);
}

#[test]
fn auto_cuts_like_the_preset_it_chose_and_says_which() -> Result<(), crate::CutError> {
    let auto = Cutter::new(&CutRules::preset(Preset::Auto))?;
    for (text, preset) in [
        ("# A\n\ntext\n\n## B\n", Preset::Markdown),
        (
            "Article 1. Scope\nText.\n\nArticle 2. Terms\nText.\n",
            Preset::LegalEn,
        ),
        ("Điều 1. A\n1. B.\nĐiều 2. C\n", Preset::LegalVi),
        ("One.\n\nTwo.\n", Preset::Paragraphs),
    ] {
        let cut = auto.cut_document("d", text)?;
        assert_eq!(cut.preset, Some(preset), "{text}");
        let direct = Cutter::new(&CutRules::preset(preset))?.cut("d", text)?;
        assert_eq!(cut.units, direct, "{text}");
    }
    assert_eq!(auto.cut_document("d", "")?.preset, Some(Preset::Paragraphs));
    let fixed = Cutter::new(&CutRules::preset(Preset::Markdown))?;
    assert_eq!(fixed.cut_document("d", "# A\n")?.preset, None);
    Ok(())
}

#[test]
fn links_are_found_by_their_middle() {
    assert!(has_link("See [the guide](guide.md)."));
    assert!(has_link("[a] [b](c)"));
    assert!(!has_link("See [the guide] (guide.md)."));
    assert!(!has_link("(a) and [b]"));
    assert!(!has_link(""));
}

#[test]
fn running_text_in_capitals_gives_no_evidence_but_numbers_and_keywords_do() {
    let plain = gather("The operator shall keep records.\nMember States shall ensure it.\n");
    assert_eq!(plain, Evidence::default());
    let marked =
        gather("Article 1\nThe operator.\n1. Member States shall ensure that this is so.\n");
    assert_eq!((marked.keywords, marked.numbered), (1, 1));
}

#[test]
fn the_choice_reads_the_first_64_kb() {
    // A contract, then (past the sample) a Markdown appendix: the contract decides.
    let mut text = String::from("Article 1. Definitions\nText.\n\nArticle 2. Scope\nText.\n\n");
    while text.len() < SAMPLE_BYTES {
        text.push_str("The parties agree to the terms set out in this agreement.\n");
    }
    let tail = "# Appendix\n\n## One\n\n## Two\n\n## Three\n";
    assert_eq!(chosen(&format!("{text}{tail}")), Preset::LegalEn);
    // Within the sample, the same headings would have made it Markdown.
    assert_eq!(
        chosen(&format!("Article 1. Definitions\nText.\n\n{tail}")),
        Preset::Markdown
    );
}
