//! PostgreSQL's binary `COPY` format, as far as the unit writes need it: the stream's header,
//! one tuple per unit (`text` and `int8` fields, `NULL` for a unit without a part), and the
//! trailer. See "Binary Format" in the `COPY` chapter of PostgreSQL's manual.
//!
//! Binary rather than text: no escaping pass over every body (text COPY must escape `\`, tab,
//! newline and carriage return, frequent in legal text), and the server parses no numbers.
//! The field types must be exactly the staging table's column types (`int8` is 8 bytes, `text`
//! its UTF-8 bytes: sqlx sets `client_encoding` to UTF8), which [`STAGING_COLUMNS`] pins.

use crate::domain::Unit;
use crate::error::AdapterError;
use crate::sql::codec::to_db;

/// The signature every binary `COPY` stream begins with.
const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// The staging table's columns, in tuple order, with the types [`unit_tuple`] encodes: the
/// `units` table's columns and types (`COLLATE "C"` on the keys, as there).
pub(crate) const STAGING_COLUMNS: &str = "document TEXT COLLATE \"C\", \
     generation TEXT COLLATE \"C\", ordinal BIGINT, unit_id TEXT, path TEXT, part BIGINT, \
     start_byte BIGINT, end_byte BIGINT, sha256 TEXT, body TEXT";

/// Fields per tuple: the ten columns of [`STAGING_COLUMNS`].
const FIELDS: i16 = 10;

/// Appends the stream's header: the signature, the flags (no OIDs) and an empty extension area.
pub(crate) fn header(out: &mut Vec<u8>) {
    out.extend_from_slice(SIGNATURE);
    out.extend_from_slice(&0i32.to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes());
}

/// Appends the stream's trailer: a tuple field count of -1.
pub(crate) fn trailer(out: &mut Vec<u8>) {
    out.extend_from_slice(&(-1i16).to_be_bytes());
}

/// Appends one tuple holding `unit`'s columns in [`STAGING_COLUMNS`] order; appends nothing
/// when it refuses a byte offset beyond `BIGINT` or a text beyond a field's length prefix.
pub(crate) fn unit_tuple(out: &mut Vec<u8>, unit: &Unit) -> Result<(), AdapterError> {
    let mark = out.len();
    let appended = append_tuple(out, unit);
    if appended.is_err() {
        out.truncate(mark);
    }
    appended
}

/// [`unit_tuple`]'s fields, which may stop part-way.
fn append_tuple(out: &mut Vec<u8>, unit: &Unit) -> Result<(), AdapterError> {
    out.extend_from_slice(&FIELDS.to_be_bytes());
    text(out, unit.document.as_str())?;
    text(out, unit.generation.as_str())?;
    int8(out, i64::from(unit.ordinal));
    text(out, &unit.unit_id)?;
    text(out, &unit.path)?;
    match unit.part {
        Some(part) => int8(out, i64::from(part)),
        None => null(out),
    }
    int8(out, to_db(unit.start, "unit start")?);
    int8(out, to_db(unit.end, "unit end")?);
    text(out, &unit.sha256)?;
    text(out, &unit.body)
}

/// A `text` field: its length in bytes (a signed 32-bit count), then its UTF-8 bytes (no
/// terminator, no escaping).
fn text(out: &mut Vec<u8>, text: &str) -> Result<(), AdapterError> {
    let length = i32::try_from(text.len()).map_err(|_| {
        AdapterError::Invalid(format!(
            "a unit's text of {} bytes is too long for PostgreSQL",
            text.len()
        ))
    })?;
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(text.as_bytes());
    Ok(())
}

/// An `int8` field: length 8, then the value big-endian.
fn int8(out: &mut Vec<u8>, value: i64) {
    out.extend_from_slice(&8i32.to_be_bytes());
    out.extend_from_slice(&value.to_be_bytes());
}

/// A `NULL` field: length -1 and no bytes.
fn null(out: &mut Vec<u8>) {
    out.extend_from_slice(&(-1i32).to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{DocumentId, RunId};

    fn unit(part: Option<u32>, body: &str) -> Unit {
        Unit {
            document: DocumentId::new("d"),
            generation: RunId::new("r"),
            ordinal: 258,
            unit_id: String::new(),
            path: "Điều 1".into(),
            part,
            start: 1,
            end: 0x0102_0304_0506_0708,
            sha256: "ab".into(),
            body: body.into(),
        }
    }

    /// `len` as a field's length prefix.
    fn len(len: i32) -> Vec<u8> {
        len.to_be_bytes().to_vec()
    }

    #[test]
    fn the_header_and_trailer_are_the_documented_bytes() {
        let mut out = Vec::new();
        header(&mut out);
        trailer(&mut out);
        assert_eq!(
            out,
            [
                b'P', b'G', b'C', b'O', b'P', b'Y', b'\n', 0xff, b'\r', b'\n', 0, // signature
                0, 0, 0, 0, // flags
                0, 0, 0, 0, // header extension length
                0xff, 0xff, // trailer
            ]
        );
    }

    #[test]
    fn a_tuple_is_ten_length_prefixed_fields_with_null_for_no_part() -> Result<(), AdapterError> {
        // Multi-byte UTF-8 (`Đ` is two bytes, `ề` three), an empty text, tab, backslash and
        // newline (sent raw: binary COPY escapes nothing), and no part (NULL).
        let body = "a\tb\\\n€";
        let mut out = Vec::new();
        unit_tuple(&mut out, &unit(None, body))?;
        let mut expected = vec![0, 10];
        expected.extend(len(1));
        expected.push(b'd');
        expected.extend(len(1));
        expected.push(b'r');
        expected.extend(len(8));
        expected.extend([0, 0, 0, 0, 0, 0, 1, 2]);
        expected.extend(len(0)); // the empty unit id: a zero-length field, not NULL
        expected.extend(len(9));
        expected.extend([0xc4, 0x90, b'i', 0xe1, 0xbb, 0x81, b'u', b' ', b'1']);
        expected.extend(len(-1));
        expected.extend(len(8));
        expected.extend([0, 0, 0, 0, 0, 0, 0, 1]);
        expected.extend(len(8));
        expected.extend([1, 2, 3, 4, 5, 6, 7, 8]);
        expected.extend(len(2));
        expected.extend(b"ab");
        assert_eq!(body.len(), 8);
        expected.extend(len(8));
        expected.extend([b'a', b'\t', b'b', b'\\', b'\n', 0xe2, 0x82, 0xac]);
        assert_eq!(out, expected);
        Ok(())
    }

    #[test]
    fn a_part_is_an_int8_and_an_empty_body_a_zero_length_field() -> Result<(), AdapterError> {
        let mut out = Vec::new();
        unit_tuple(&mut out, &unit(Some(3), ""))?;
        let part_at = 2 + (4 + 1) + (4 + 1) + (4 + 8) + 4 + (4 + 9);
        assert_eq!(
            out[part_at..part_at + 12],
            [0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 3]
        );
        assert_eq!(
            out[out.len() - 4..],
            len(0)[..],
            "the empty body ends the tuple"
        );
        Ok(())
    }

    #[test]
    fn an_offset_beyond_bigint_is_refused_and_nothing_is_appended() {
        let mut too_far = unit(None, "x");
        too_far.end = u64::MAX;
        let mut out = vec![7];
        let result = unit_tuple(&mut out, &too_far);
        assert!(
            matches!(result, Err(AdapterError::Invalid(_))),
            "{result:?}"
        );
        assert_eq!(out, [7], "nothing appended");
    }

    #[test]
    fn a_stream_is_the_header_the_tuples_and_the_trailer() -> Result<(), AdapterError> {
        let (a, b) = (unit(None, "x"), unit(Some(1), "yz"));
        let mut stream = Vec::new();
        header(&mut stream);
        unit_tuple(&mut stream, &a)?;
        unit_tuple(&mut stream, &b)?;
        trailer(&mut stream);
        let (mut one, mut two) = (Vec::new(), Vec::new());
        unit_tuple(&mut one, &a)?;
        unit_tuple(&mut two, &b)?;
        assert_eq!(
            stream[..19],
            SIGNATURE.iter().chain(&[0; 8]).copied().collect::<Vec<_>>()
        );
        assert_eq!(stream[19..19 + one.len()], one[..]);
        assert_eq!(stream[19 + one.len()..stream.len() - 2], two[..]);
        assert_eq!(stream[stream.len() - 2..], [0xff, 0xff]);
        Ok(())
    }
}
