//! Unit tests of the compiled cutter: sharing, limits.

use super::*;

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
fn unit_limit_is_enforced() {
    let rules = CutRules::preset(Preset::Paragraphs);
    let cutter = Cutter::new(&rules)
        .unwrap_or_else(|e| panic!("{e}"))
        .with_unit_limit(3);
    assert!(cutter.cut("d", "a\n\nb\n\nc\n").is_ok());
    assert_eq!(
        cutter.cut("d", "a\n\nb\n\nc\n\nd\n"),
        Err(CutError::TooManyUnits {
            document_id: "d".to_owned(),
            limit: 3
        })
    );
    let rules = CutRules::preset(Preset::Paragraphs).with_max_unit_bytes(4);
    let cutter = Cutter::new(&rules)
        .unwrap_or_else(|e| panic!("{e}"))
        .with_unit_limit(3);
    assert!(matches!(
        cutter.cut("d", &"x".repeat(13)),
        Err(CutError::TooManyUnits { .. })
    ));
    assert_eq!(cutter.cut("d", &"x".repeat(12)).map(|u| u.len()), Ok(3));
}

#[test]
fn huge_limit_is_no_limit() {
    let rules = CutRules::preset(Preset::Markdown).with_max_unit_bytes(u64::MAX);
    let cutter = Cutter::new(&rules).unwrap_or_else(|e| panic!("{e}"));
    assert!(cutter.max_unit_bytes().is_some_and(|m| m >= 1 << 32));
    assert_eq!(cutter.cut("d", "abc").map(|u| u.len()), Ok(1));
}
