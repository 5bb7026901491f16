//! Unit tests of the losslessness and hash checks.

use super::*;
use crate::{Sha256Digest, UnitId};

fn unit(ordinal: u32, path: &str, part: Option<u32>, start: u64, end: u64) -> CutUnit {
    CutUnit {
        ordinal,
        unit_id: UnitId::from_bytes([0; 16]),
        path: path.into(),
        part,
        start,
        end,
        sha256: Sha256Digest::from_bytes([0; 32]),
    }
}

fn not_lossless(text: &str, units: &[CutUnit]) -> String {
    match check_lossless(text, units) {
        Err(CutError::NotLossless { detail }) => detail,
        other => panic!("expected NotLossless, got {other:?}"),
    }
}

#[test]
fn check_lossless_accepts_an_exact_cover() {
    let text = "abcdef";
    let units = [
        unit(0, "a", None, 0, 2),
        unit(1, "b", Some(1), 2, 3),
        unit(2, "b", Some(2), 3, 5),
        unit(3, "c", None, 5, 6),
    ];
    assert_eq!(check_lossless(text, &units), Ok(()));
    assert_eq!(check_lossless("", &[]), Ok(()));
}

#[test]
fn check_lossless_rejects_every_defect() {
    let text = "abcdef";
    assert!(not_lossless(text, &[]).contains("[0, 0) of a 6-byte source"));
    assert!(not_lossless("", &[unit(0, "x", None, 0, 1)]).contains("past the end"));
    let gap = [unit(0, "a", None, 0, 2), unit(1, "b", None, 3, 6)];
    assert!(not_lossless(text, &gap).contains("gap"));
    let overlap = [unit(0, "a", None, 0, 3), unit(1, "b", None, 2, 6)];
    assert!(not_lossless(text, &overlap).contains("overlap"));
    let late_start = [unit(0, "a", None, 1, 6)];
    assert!(not_lossless(text, &late_start).contains("gap"));
    let empty = [unit(0, "a", None, 0, 0), unit(1, "b", None, 0, 6)];
    assert!(not_lossless(text, &empty).contains("empty"));
    let short = [unit(0, "a", None, 0, 5)];
    assert!(not_lossless(text, &short).contains("[0, 5) of a 6-byte"));
    let long = [unit(0, "a", None, 0, 7)];
    assert!(not_lossless(text, &long).contains("past the end"));
    let ordinal = [unit(0, "a", None, 0, 2), unit(2, "b", None, 2, 6)];
    assert!(not_lossless(text, &ordinal).contains("ordinal 2"));
    let inside_char = [unit(0, "a", None, 0, 1), unit(1, "b", None, 1, 2)];
    assert!(not_lossless("é", &inside_char).contains("character boundaries"));

    let lone_part = [unit(0, "a", Some(1), 0, 2), unit(1, "b", None, 2, 6)];
    assert!(not_lossless(text, &lone_part).contains("no part 2"));
    let lone_last_part = [unit(0, "a", None, 0, 2), unit(1, "b", Some(1), 2, 6)];
    assert!(not_lossless(text, &lone_last_part).contains("no part 2"));
    let part_zero = [unit(0, "a", Some(0), 0, 6)];
    assert!(not_lossless(text, &part_zero).contains("part 0"));
    let skipped = [unit(0, "a", Some(1), 0, 2), unit(1, "a", Some(3), 2, 6)];
    assert!(not_lossless(text, &skipped).contains("part 3"));
    let other_path = [unit(0, "a", Some(1), 0, 2), unit(1, "b", Some(2), 2, 6)];
    assert!(not_lossless(text, &other_path).contains("part 2"));
    let orphan = [unit(0, "a", None, 0, 2), unit(1, "a", Some(2), 2, 6)];
    assert!(not_lossless(text, &orphan).contains("does not follow part 1"));
    let restart = [
        unit(0, "a", Some(1), 0, 1),
        unit(1, "a", Some(2), 1, 2),
        unit(2, "a", Some(1), 2, 3),
        unit(3, "a", Some(2), 3, 6),
    ];
    assert_eq!(check_lossless(text, &restart), Ok(()));
}

#[test]
fn check_hashes_reports_the_unit() {
    let text = "hello";
    let mut units = vec![unit(0, "a", None, 0, 5)];
    units[0].sha256 = Sha256Digest::of(b"hello");
    assert_eq!(check_hashes(text, &units), Ok(()));
    units[0].sha256 = Sha256Digest::of(b"hellO");
    assert!(matches!(
        check_hashes(text, &units),
        Err(CutError::HashMismatch { ordinal: 0, .. })
    ));
    units[0].end = 9;
    assert!(check_hashes(text, &units).is_err());
}
