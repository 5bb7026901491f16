//! Unit tests of the digests and stable ids.

use super::*;

#[test]
fn sha256_hex_is_lowercase_hex_of_the_digest() {
    assert_eq!(
        sha256_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        sha256_hex(b""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

#[test]
fn unit_id_depends_on_every_structural_input_and_nothing_else() {
    let id = unit_id("doc", "Chương I/Điều 1", 0, None);
    let hex = id.hex();
    assert_eq!(hex.len(), 32);
    assert!(
        hex.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_eq!(hex.parse::<UnitId>(), Ok(id));
    assert_eq!(id, unit_id("doc", "Chương I/Điều 1", 0, None));
    let others = [
        unit_id("doc2", "Chương I/Điều 1", 0, None),
        unit_id("doc", "Chương I/Điều 2", 0, None),
        unit_id("doc", "Chương I/Điều 1", 1, None),
        unit_id("doc", "Chương I/Điều 1", 0, Some(1)),
        unit_id("doc", "Chương I/Điều 1", 0, Some(2)),
    ];
    for other in &others {
        assert_ne!(&id, other);
    }
    // The document id is length-prefixed: moving a NUL between the fields changes the id.
    assert_ne!(unit_id("a\0b", "c", 0, None), unit_id("a", "b\0c", 0, None));
    // Neither occurrence nor part may be confused with the path.
    assert_ne!(
        unit_id("d", "p\u{0}1", 0, None),
        unit_id("d", "p", 1, Some(0))
    );
}

#[test]
fn occurrences_count_repeats_in_order() {
    assert_eq!(occurrences(&[], []), Vec::<u32>::new());
    assert_eq!(occurrences(&[5, 3, 9], ["a", "b", "c"]), [0, 0, 0]);
    assert_eq!(
        occurrences(&[5, 3, 5, 9, 5, 3], ["a", "b", "a", "c", "a", "b"]),
        [0, 0, 1, 0, 2, 1]
    );
    // Two distinct paths that share a key (a collision) are counted apart, by the paths.
    assert_eq!(
        occurrences(&[7, 7, 7, 7], ["x", "y", "x", "y"]),
        [0, 0, 1, 1]
    );
    let key = |path| path_key(&unit_id("doc", path, 0, None));
    assert_eq!(key("Chương I/Điều 1"), key("Chương I/Điều 1"));
    assert_ne!(key("Chương I/Điều 1"), key("Chương I/Điều 2"));
    assert_ne!(key("abcdefgh"), key("abcdefgh\0"));
}

/// The table finds a repeated key wherever it is, in a list of any length (the table grows with
/// it), and finds none where none repeats, with a table kept from a longer list before; keys
/// equal to 0 or differing only in their lowest bit (stored alike) may be reported repeated.
#[test]
fn any_repeated_finds_a_key_that_occurs_twice() {
    let mut table = Vec::new();
    for len in [0_u64, 1, 2, 7, 8, 9, 100, 1000, 5000] {
        // Distinct keys that fill the table's low bits alike (multiples of 2^20) and unlike.
        let keys: Vec<u64> = (1..=len).map(|i| i << 20).collect();
        assert!(!any_repeated(&keys, &mut table), "{len}");
        let spread: Vec<u64> = (1..=len)
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .collect();
        assert!(!any_repeated(&spread, &mut table), "{len}");
        for repeated in [0, len / 2, len.saturating_sub(1)] {
            if len < 2 {
                continue;
            }
            let mut with_repeat = keys.clone();
            with_repeat.push(repeated.wrapping_add(1) << 20);
            assert!(any_repeated(&with_repeat, &mut table), "{len} {repeated}");
            with_repeat.rotate_right(1);
            assert!(any_repeated(&with_repeat, &mut table), "{len} {repeated}");
        }
    }
    assert!(any_repeated(&[4, 5], &mut table));
    assert!(!any_repeated(&[4, 6], &mut table));
}

/// Unit ids are stored in every generation and compared across generations (`diff`): these
/// values are a contract. Changing one is a migration, never a refactoring.
#[test]
fn unit_ids_are_pinned() {
    assert_eq!(
        unit_id("vi/luat.txt", "Chương II/Điều 44", 0, None),
        "627ca837bc6a55d569e33dcc777c8b3d"
    );
    assert_eq!(
        unit_id("doc", "Article 1", 1, None),
        "8c1c25be094a3a6eef6315f73eab8e22"
    );
    assert_eq!(
        unit_id("doc", "Article 1", 0, Some(2)),
        "9f9eeb8ed23896532105d58bdd902a4e"
    );
    assert_eq!(unit_id("", "", 0, None), "0821a71c823e71a51e0927d1c9802158");
}

/// Ids that go on from the kept first block of the previous path are [`unit_id`]'s, whatever
/// the document id's length (where the block ends in the path), and whether the paths share
/// that block, end inside it, end exactly at its end, or differ only after it.
#[test]
fn ids_after_a_kept_block_are_unit_ids() {
    let paths = [
        "Chương II/Mục 1/Điều 44",
        "Chương II/Mục 1/Điều 44/Khoản 1",
        "Chương II/Mục 1/Điều 44/Khoản 1/Điểm a",
        "Chương II/Mục 1/Điều 44/Khoản 2",
        "Chương II/Mục 1/Điều 45",
        "Chương II/Mục 2",
        "",
        "(preamble)",
        "Chương III/Mục 1/Điều 44/Khoản 1",
        "Chương III/Mục 1/Điều 44/Khoản 1",
    ];
    for id_len in 0..=140 {
        let document_id = "d".repeat(id_len);
        let ids = UnitIds::new(&document_id);
        let mut block = PathBlock::default();
        // Every path also cut at each length: a path that ends before, at and after the block.
        for path in paths {
            for end in (0..=path.len()).filter(|&end| path.is_char_boundary(end)) {
                let path = &path[..end];
                for (occurrence, part) in [(0, None), (1, Some(2))] {
                    assert_eq!(
                        ids.id_after(&mut block, path, occurrence, part),
                        unit_id(&document_id, path, occurrence, part),
                        "{id_len} {path:?}"
                    );
                }
            }
        }
    }
}
