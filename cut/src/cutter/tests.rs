//! Unit tests of the compiled cutter: sharing, limits.

use super::*;

/// Asserts that there is an `error` and that its message says each of `needed`.
fn assert_says(error: Option<CutError>, needed: &[&str]) {
    let message = error.map(|e| e.to_string());
    for needed in needed {
        assert!(
            message.as_ref().is_some_and(|m| m.contains(needed)),
            "{needed:?} in {message:?}"
        );
    }
}

#[test]
fn cutter_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Cutter>();
}

#[test]
fn shared_cutters_are_compiled_once_per_rule_set_and_cut_like_new_ones() -> Result<(), CutError> {
    // Rules no other test uses, so that a concurrent test's call cannot be the one that compiled.
    let rules = CutRules::preset(Preset::LegalVi).with_max_unit_bytes(4093);
    let first = Cutter::shared(&rules)?;
    let again = Cutter::shared(&rules.clone())?;
    assert!(
        Arc::ptr_eq(&first, &again),
        "equal rules share one compiled cutter"
    );
    let other = Cutter::shared(&rules.clone().with_max_unit_bytes(4094))?;
    assert!(
        !Arc::ptr_eq(&first, &other),
        "different rules get their own cutter"
    );
    assert_eq!(other.max_unit_bytes(), Some(4094));

    let text = "Điều 1. Phạm vi\n1. Khoản một.\nĐiều 2. Đối tượng\n";
    let fresh = Cutter::new(&rules)?;
    assert_eq!(first.cut("doc", text)?, fresh.cut("doc", text)?);
    Ok(())
}

#[test]
fn shared_cutters_do_not_cache_errors() {
    let rules = CutRules::preset(Preset::Markdown).with_max_unit_bytes(1);
    for _ in 0..2 {
        assert!(matches!(
            Cutter::shared(&rules),
            Err(CutError::MaxUnitBytesTooSmall { max: 1, .. })
        ));
    }
}

#[test]
fn unit_limit_is_enforced_and_the_error_counts_every_unit() {
    let rules = CutRules::preset(Preset::Paragraphs);
    let cutter = Cutter::new(&rules)
        .unwrap_or_else(|e| panic!("{e}"))
        .with_unit_limit(3);
    assert!(cutter.cut("d", "a\n\nb\n\nc\n").is_ok());
    assert_eq!(
        cutter.cut("d", "a\n\nb\n\nc\n\nd\n\ne\n"),
        Err(CutError::TooManyUnits {
            document_id: "d".to_owned(),
            units: 5,
            limit: 3
        })
    );
    // Parts count too, and the count goes on past the limit without building units.
    let rules = CutRules::preset(Preset::Paragraphs).with_max_unit_bytes(MIN_MAX_UNIT_BYTES);
    let cutter = Cutter::new(&rules)
        .unwrap_or_else(|e| panic!("{e}"))
        .with_unit_limit(3);
    let max = MIN_MAX_UNIT_BYTES as usize;
    assert_eq!(
        cutter.cut("d", &"x".repeat(3 * max)).map(|u| u.len()),
        Ok(3)
    );
    assert_eq!(
        cutter.cut("d", &"x".repeat(10 * max + 1)),
        Err(CutError::TooManyUnits {
            document_id: "d".to_owned(),
            units: 11,
            limit: 3
        })
    );
    assert_says(
        cutter.cut("big.txt", &"x".repeat(10 * max)).err(),
        &[
            "`big.txt`",
            "10 units",
            "more than the 3",
            "raise max_unit_bytes",
        ],
    );
}

#[test]
fn the_size_limit_has_a_sane_minimum_named_in_the_error() {
    for max in [0, 1, 4, MIN_MAX_UNIT_BYTES - 1] {
        let rules = CutRules::preset(Preset::Markdown).with_max_unit_bytes(max);
        assert_eq!(
            Cutter::new(&rules).err(),
            Some(CutError::MaxUnitBytesTooSmall {
                max,
                min: MIN_MAX_UNIT_BYTES
            })
        );
    }
    assert_says(
        Cutter::new(&CutRules::preset(Preset::LegalEn).with_max_unit_bytes(4)).err(),
        &[
            "max_unit_bytes = 4",
            "minimum of 64 bytes",
            "set max_unit_bytes to 64",
        ],
    );
    let rules = CutRules::preset(Preset::Markdown).with_max_unit_bytes(MIN_MAX_UNIT_BYTES);
    assert!(Cutter::new(&rules).is_ok());
}

#[test]
fn a_tiny_limit_on_a_large_document_is_refused_before_it_can_exhaust_memory() {
    // The case that made 1.3 million units and 1.5 GB: the rules are refused outright, and even
    // at the minimum a huge run of unbroken text stops at the cap with a count.
    let rules = CutRules::preset(Preset::Paragraphs).with_max_unit_bytes(MIN_MAX_UNIT_BYTES);
    let cutter = Cutter::new(&rules).unwrap_or_else(|e| panic!("{e}"));
    let max = MIN_MAX_UNIT_BYTES as usize;
    let text = "x".repeat(max * (MAX_UNITS_PER_DOCUMENT + 10));
    match cutter.cut("huge", &text) {
        Err(CutError::TooManyUnits { units, limit, .. }) => {
            assert_eq!(limit, MAX_UNITS_PER_DOCUMENT);
            assert_eq!(units, (MAX_UNITS_PER_DOCUMENT + 10) as u64);
        }
        other => panic!("expected TooManyUnits, got {:?}", other.map(|u| u.len())),
    }
}

#[test]
fn huge_limit_is_no_limit() {
    let rules = CutRules::preset(Preset::Markdown).with_max_unit_bytes(u64::MAX);
    let cutter = Cutter::new(&rules).unwrap_or_else(|e| panic!("{e}"));
    assert!(cutter.max_unit_bytes().is_some_and(|m| m >= 1 << 32));
    assert_eq!(cutter.cut("d", "abc").map(|u| u.len()), Ok(1));
}

/// Ids are computed as each unit closes, for its path's first occurrence, and corrected at the
/// end for repeated paths: every unit's id must be `unit_id` of its path's occurrence (counted
/// per unit before splitting) and its part, whether the repeat is whole or split.
#[test]
fn repeated_paths_get_the_ids_of_their_occurrences() -> Result<(), CutError> {
    let rules = CutRules::preset(Preset::Markdown).with_max_unit_bytes(MIN_MAX_UNIT_BYTES);
    let long = "word ".repeat(30);
    let text =
        format!("intro\n# A\none\n# B\ntwo\n# A\n{long}\n\n{long}\n# A\nthree\n# B\n{long}\n");
    let units = Cutter::new(&rules)?.cut("doc", &text)?;
    let mut seen: HashMap<String, u32> = HashMap::new();
    let mut repeated = 0;
    for unit in &units {
        if matches!(unit.part, None | Some(1)) {
            *seen.entry(unit.path.to_string()).or_default() += 1;
        }
        let occurrence = seen.get(unit.path.as_str()).map_or(0, |n| n - 1);
        if occurrence > 0 {
            repeated += 1;
        }
        assert_eq!(
            unit.unit_id,
            crate::unit_id("doc", &unit.path, occurrence, unit.part),
            "{unit:?}"
        );
    }
    assert!(units.iter().any(|u| u.part == Some(2)), "a repeat is split");
    assert!(repeated >= 4, "{repeated} units of repeated paths");
    Ok(())
}

/// The builder gives units their paths a chunk of paths at a time (`PATH_CHUNK_BYTES`): a
/// document whose paths fill several chunks, with split units and repeated paths across the
/// chunks' edges, must get every path and id as a document of one chunk does.
#[test]
fn paths_and_ids_hold_across_many_chunks_of_paths() -> Result<(), CutError> {
    let rules = CutRules::preset(Preset::Markdown).with_max_unit_bytes(MIN_MAX_UNIT_BYTES);
    let long = "word ".repeat(30);
    let mut text = String::from("intro\n");
    let mut expected = vec!["(preamble)".to_owned()];
    for i in 0..3000 {
        // Every fifth heading repeats one of the first ten; every seventh unit is split.
        let heading = if i % 5 == 4 {
            format!("Heading number {}", i % 10)
        } else {
            format!("Heading number {i}")
        };
        let body = if i % 7 == 0 {
            format!("{long}\n\n{long}")
        } else {
            "text".to_owned()
        };
        text.push_str(&format!("# {heading}\n{body}\n"));
        expected.push(heading);
    }
    let units = Cutter::new(&rules)?.cut("doc", &text)?;
    let mut seen: HashMap<String, u32> = HashMap::new();
    let mut logical = 0;
    for unit in &units {
        if matches!(unit.part, None | Some(1)) {
            assert_eq!(unit.path, expected[logical], "{unit:?}");
            logical += 1;
            *seen.entry(unit.path.to_string()).or_default() += 1;
        }
        let occurrence = seen.get(unit.path.as_str()).map_or(0, |n| n - 1);
        assert_eq!(
            unit.unit_id,
            crate::unit_id("doc", &unit.path, occurrence, unit.part),
            "{unit:?}"
        );
    }
    assert_eq!(logical, expected.len());
    let path_bytes: usize = expected.iter().map(String::len).sum();
    assert!(
        path_bytes > 3 * crate::builder::PATH_CHUNK_BYTES,
        "{path_bytes} bytes of paths"
    );
    assert!(
        units.iter().any(|u| u.part == Some(2)),
        "some units are split"
    );
    Ok(())
}

/// A Markdown document of `sections`, each a heading of a few long names (so that paths share
/// their first hash block, [`crate::ids::UnitIds::id_after`]) over a body of `words` words.
fn sections_document(sections: &[(u8, u8, usize)]) -> String {
    let long = "Section whose heading is long enough to pass the first sha256 block";
    let mut text = String::from("preamble\n");
    for &(level, name, words) in sections {
        let hashes = "#".repeat(usize::from(level % 3) + 1);
        text.push_str(&format!("{hashes} {long} {}\n", name % 4));
        text.push_str(&"word ".repeat(words));
        text.push('\n');
    }
    text
}

/// The units of `text` as a fresh reference computes them: lossless, each hashed, each id the
/// `unit_id` of its path's occurrence (counted per unit before splitting) and part.
fn assert_units_are_exact(document: &str, text: &str, units: &[CutUnit]) {
    let mut seen: HashMap<&str, u32> = HashMap::new();
    let mut end = 0;
    for unit in units {
        assert_eq!(unit.start, end, "{unit:?}");
        end = unit.end;
        let span = text
            .get(unit.start as usize..unit.end as usize)
            .unwrap_or("");
        assert_eq!(unit.sha256, crate::Sha256Digest::of(span.as_bytes()));
        if matches!(unit.part, None | Some(1)) {
            *seen.entry(unit.path.as_str()).or_default() += 1;
        }
        let occurrence = seen.get(unit.path.as_str()).map_or(0, |n| n - 1);
        assert_eq!(
            unit.unit_id,
            crate::unit_id(document, &unit.path, occurrence, unit.part),
            "{unit:?}"
        );
    }
    assert_eq!(end, text.len() as u64);
}

proptest::proptest! {
    /// Adversarial (adv47): the buffers a cut builds in stay on its thread from one cut to the
    /// next. Cutting A, then B (larger, or failing past the unit limit), then A again on one
    /// thread gives A's units exactly, as a fresh reference computes them, and the parallel cut
    /// of many documents is the sequential one.
    #[test]
    fn scratch_kept_between_cuts_leaks_nothing(
        a in proptest::collection::vec((0u8..3, 0u8..8, 0usize..40), 0..24),
        b in proptest::collection::vec((0u8..3, 0u8..8, 0usize..40), 0..300),
        split in proptest::bool::ANY,
    ) {
        let rules = CutRules::preset(Preset::Markdown);
        let rules = if split { rules.with_max_unit_bytes(MIN_MAX_UNIT_BYTES) } else { rules };
        let cutter = Cutter::new(&rules).unwrap_or_else(|e| panic!("{e}"));
        let (text_a, text_b) = (sections_document(&a), sections_document(&b));
        let first = cutter.cut("doc-a", &text_a).unwrap_or_else(|e| panic!("{e}"));
        assert_units_are_exact("doc-a", &text_a, &first);
        let second = cutter.cut("doc-b", &text_b).unwrap_or_else(|e| panic!("{e}"));
        assert_units_are_exact("doc-b", &text_b, &second);
        // A cut that fails part-way (past the unit limit) leaves the scratch too.
        let capped = Cutter::new(&rules).unwrap_or_else(|e| panic!("{e}")).with_unit_limit(2);
        let _ = capped.cut("doc-b", &text_b);
        let again = cutter.cut("doc-a", &text_a).unwrap_or_else(|e| panic!("{e}"));
        proptest::prop_assert_eq!(&first, &again);
        let texts = [text_a.clone(), text_b.clone(), text_a, text_b];
        let cut = |text: &String| cutter.cut("doc", text).unwrap_or_else(|e| panic!("{e}"));
        let sequential: Vec<_> = texts.iter().map(cut).collect();
        let parallel = crate::Parallelism::new(std::num::NonZeroUsize::MIN.saturating_add(2))
            .map(&texts, cut);
        proptest::prop_assert_eq!(sequential, parallel);
    }
}
