//! [`Sha256Digest`] and [`UnitId`]: a sha256 and a unit id kept as their raw bytes where they
//! are computed, held and compared (a plan holds one of each per unit, `Copy`, no heap), and
//! written as lowercase hex only where they leave the process (a SQL bind, a plan's JSON, a
//! census field, a report, a message).
//!
//! Comparing a digest with a recorded hex sha256 ([`Sha256Digest::matches`]) writes the hex on
//! the stack and allocates nothing, so a check over every unit of a scope costs its hashing and
//! no `String` per unit. Their serde form is the lowercase hex string, so a plan's JSON and its
//! canonical bytes are what they were when both were `String`s; reading hex back
//! ([`std::str::FromStr`], `Deserialize`) accepts exactly that form and refuses anything else
//! with a [`HexError`], so a value read always writes back byte for byte.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// Why a text is not a digest's hex form.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    /// The text has the wrong number of characters.
    #[error("a {what} is {expected} lowercase hex digits, not {found} bytes of text")]
    Length {
        /// What was being read (`sha256`, `unit id`).
        what: &'static str,
        /// How many hex digits it takes.
        expected: usize,
        /// The text's length in bytes.
        found: usize,
    },
    /// The text holds something other than `0-9a-f` (uppercase digits included: the form is
    /// canonical, so that what is read writes back unchanged).
    #[error("a {what} is lowercase hex digits; byte {at} is {found:?}")]
    Digit {
        /// What was being read.
        what: &'static str,
        /// The byte offset of the first offending character.
        at: usize,
        /// That character.
        found: char,
    },
}

/// The value of each byte as a lowercase hex digit, [`NOT_HEX`] for any other byte.
const HEX_VALUES: [u8; 256] = {
    let mut values = [NOT_HEX; 256];
    let mut digit = 0;
    while digit < 16 {
        values[b"0123456789abcdef"[digit] as usize] = digit as u8;
        digit += 1;
    }
    values
};

/// [`HEX_VALUES`]' mark of a byte that is not a lowercase hex digit (its high bits are set).
const NOT_HEX: u8 = 0xff;

/// The `N` bytes whose lowercase hex is `text` (`2 × N` digits), or why not.
// A table lookup per digit, the digits' validity folded into one test at the end: a plan read
// parses two of these per unit, and the per-digit branch and early return took 4 % of a full
// run's CPU at 200,000 units.
fn parse_hex<const N: usize>(what: &'static str, text: &str) -> Result<[u8; N], HexError> {
    let bytes = text.as_bytes();
    if bytes.len() != 2 * N {
        return Err(HexError::Length {
            what,
            expected: 2 * N,
            found: bytes.len(),
        });
    }
    let mut out = [0u8; N];
    let mut seen = 0u8;
    for (byte, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let (high, low) = (
            HEX_VALUES[usize::from(pair[0])],
            HEX_VALUES[usize::from(pair[1])],
        );
        seen |= high | low;
        *byte = (high << 4) | low;
    }
    if seen <= 0x0f {
        return Ok(out);
    }
    Err(first_non_digit(what, text))
}

/// The error for `text`, of the right length, that holds something other than lowercase hex
/// digits: its first such character.
fn first_non_digit(what: &'static str, text: &str) -> HexError {
    let at = text
        .bytes()
        .position(|b| HEX_VALUES[usize::from(b)] == NOT_HEX)
        .unwrap_or_default();
    HexError::Digit {
        what,
        at,
        // `at` is the first non-digit, so everything before it is ASCII: a boundary.
        found: text
            .get(at..)
            .and_then(|t| t.chars().next())
            .unwrap_or_default(),
    }
}

/// The lowercase hex digits of `bytes` (at most 32), on the stack.
fn digits_of(bytes: &[u8]) -> [u8; 64] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 64];
    for (pair, &byte) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0x0f)];
    }
    out
}

/// A digest's lowercase hex digits, on the stack: the text of a [`Sha256Digest`] or a [`UnitId`]
/// where one is needed only for a moment (a field hashed, a bind, a comparison), without a
/// `String`.
#[derive(Clone, Copy)]
pub struct HexDigits {
    digits: [u8; 64],
    len: usize,
}

impl HexDigits {
    /// The digits as text.
    pub fn as_str(&self) -> &str {
        hex_str(&self.digits, self.len)
    }
}

impl std::ops::Deref for HexDigits {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for HexDigits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for HexDigits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// A serde visitor of a digest's hex string.
struct HexVisitor<const N: usize>(&'static str);

impl<const N: usize> serde::de::Visitor<'_> for HexVisitor<N> {
    type Value = [u8; N];

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {} of {} lowercase hex digits", self.0, 2 * N)
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<[u8; N], E> {
        parse_hex(self.0, text).map_err(E::custom)
    }
}

/// A sha256 digest, raw. Its text form (`Display`, [`Sha256Digest::hex`], serde) is 64 lowercase
/// hex digits, the form every recorded sha256 takes. Ordered as its hex is.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sha256Digest([u8; 32]);

impl Sha256Digest {
    /// The sha256 of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Sha256Digest(Sha256::digest(bytes).into())
    }

    /// The digest whose bytes are `bytes` (e.g. a hasher's output).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Sha256Digest(bytes)
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// 64 lowercase hex digits.
    pub fn hex(&self) -> String {
        self.hex_prefix(32)
    }

    /// The lowercase hex of the first `bytes` bytes (all 32 at most): `2 × bytes` digits.
    pub fn hex_prefix(&self, bytes: usize) -> String {
        let digits = self.digits();
        hex_str(&digits, bytes.min(32) * 2).to_owned()
    }

    /// Whether `hex` is this digest written as 64 lowercase hex digits: the comparison of a
    /// computed digest with a recorded one, without allocating.
    pub fn matches(&self, hex: &str) -> bool {
        self.digits().as_slice() == hex.as_bytes()
    }

    /// The hex digits, on the stack.
    fn digits(&self) -> [u8; 64] {
        digits_of(&self.0)
    }

    /// The 64 lowercase hex digits, on the stack.
    pub fn hex_digits(&self) -> HexDigits {
        HexDigits {
            digits: self.digits(),
            len: 64,
        }
    }
}

/// The text forms of a hex id (`$what` names it in errors): `Display` and serde as its
/// lowercase hex digits ([`HexDigits`]), `Debug` as `Name(hex)`, `FromStr` and `Deserialize`
/// reading exactly those digits (anything else is a [`HexError`]), and `==` with its hex text
/// (`str`, `&str`, `String`): equal when the text is exactly its lowercase hex.
macro_rules! hex_text {
    ($id:ident, $what:literal) => {
        impl fmt::Display for $id {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.hex_digits().as_str())
            }
        }

        impl fmt::Debug for $id {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($id), "({})"), self)
            }
        }

        impl FromStr for $id {
            type Err = HexError;

            fn from_str(text: &str) -> Result<Self, HexError> {
                parse_hex($what, text).map($id)
            }
        }

        impl Serialize for $id {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.hex_digits().as_str())
            }
        }

        impl<'de> Deserialize<'de> for $id {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_str(HexVisitor($what)).map($id)
            }
        }

        impl PartialEq<str> for $id {
            fn eq(&self, hex: &str) -> bool {
                self.matches(hex)
            }
        }

        impl PartialEq<&str> for $id {
            fn eq(&self, hex: &&str) -> bool {
                self.matches(hex)
            }
        }

        impl PartialEq<String> for $id {
            fn eq(&self, hex: &String) -> bool {
                self.matches(hex)
            }
        }
    };
}

hex_text!(Sha256Digest, "sha256");

/// How many bytes of a sha256 a unit id keeps: 16 (128 bits, 32 hex digits).
pub const UNIT_ID_BYTES: usize = 16;

/// A unit's stable id, raw: the first [`UNIT_ID_BYTES`] bytes of a sha256 over the document id
/// and the unit's structural place (the cutter derives it). Its text form (`Display`,
/// [`UnitId::hex`], serde) is 32 lowercase hex digits. Ordered as its hex is.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnitId([u8; UNIT_ID_BYTES]);

impl UnitId {
    /// The id whose bytes are `bytes`.
    pub fn from_bytes(bytes: [u8; UNIT_ID_BYTES]) -> Self {
        UnitId(bytes)
    }

    /// The id of the sha256 `digest`: its first [`UNIT_ID_BYTES`] bytes.
    pub fn of_digest(digest: &Sha256Digest) -> Self {
        let mut id = [0u8; UNIT_ID_BYTES];
        id.copy_from_slice(&digest.0[..UNIT_ID_BYTES]);
        UnitId(id)
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8; UNIT_ID_BYTES] {
        &self.0
    }

    /// 32 lowercase hex digits.
    pub fn hex(&self) -> String {
        self.hex_digits().as_str().to_owned()
    }

    /// The 32 lowercase hex digits, on the stack.
    pub fn hex_digits(&self) -> HexDigits {
        HexDigits {
            digits: digits_of(&self.0),
            len: 2 * UNIT_ID_BYTES,
        }
    }

    /// Whether `hex` is this id written as 32 lowercase hex digits, without allocating.
    pub fn matches(&self, hex: &str) -> bool {
        self.hex_digits().as_str() == hex
    }
}

hex_text!(UnitId, "unit id");

/// A sha256 computed over bytes given a piece at a time (an artifact hashed as it is written or
/// read, a plan's canonical text a document at a time), so that they need never be in memory
/// at once.
#[derive(Clone, Debug, Default)]
pub struct Sha256Hasher(Sha256);

impl Sha256Hasher {
    /// A hasher that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Hashes `bytes` after what came before.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The digest of everything given.
    pub fn finish(self) -> Sha256Digest {
        Sha256Digest(self.0.finalize().into())
    }
}

/// The first `len` of `digits` as text (hex digits are ASCII: the conversion cannot fail).
fn hex_str(digits: &[u8; 64], len: usize) -> &str {
    std::str::from_utf8(digits.get(..len).unwrap_or_default()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_computed_in_pieces_is_the_digest_of_the_whole() {
        let mut hasher = Sha256Hasher::new();
        for piece in ["Điều 1.", "\n", "", "khoản 2"] {
            hasher.update(piece.as_bytes());
        }
        assert_eq!(
            hasher.finish(),
            Sha256Digest::of("Điều 1.\nkhoản 2".as_bytes())
        );
    }

    #[test]
    fn its_hex_is_the_lowercase_hex_of_the_sha256() {
        // sha256("abc"), FIPS 180-2 appendix B.1.
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let digest = Sha256Digest::of(b"abc");
        assert_eq!(digest.hex(), abc);
        assert_eq!(digest.to_string(), abc);
        assert_eq!(digest.hex(), format!("{:x}", Sha256::digest(b"abc")));
        assert_eq!(digest.hex_prefix(16), abc[..32]);
        assert_eq!(digest.hex_prefix(99), abc);
        assert_eq!(digest.hex_prefix(0), "");
        assert_eq!(Sha256Digest::from_bytes(*digest.as_bytes()), digest);
    }

    #[test]
    fn hex_reads_back_to_the_digest_and_writes_back_unchanged() -> Result<(), serde_json::Error> {
        let digest = Sha256Digest::of(b"abc");
        assert_eq!(digest.hex().parse::<Sha256Digest>(), Ok(digest));
        assert_eq!(&*digest.hex_digits(), digest.hex());
        let id = UnitId::of_digest(&digest);
        assert_eq!(id.hex(), "ba7816bf8f01cfea414140de5dae2223");
        assert_eq!(id.hex().parse::<UnitId>(), Ok(id));
        assert_eq!(
            format!("{id:?}"),
            "UnitId(ba7816bf8f01cfea414140de5dae2223)"
        );
        // serde: the JSON string of the hex, both ways.
        let json = serde_json::to_string(&(id, digest))?;
        assert_eq!(json, format!("[\"{id}\",\"{digest}\"]"));
        assert_eq!(
            serde_json::from_str::<(UnitId, Sha256Digest)>(&json)?,
            (id, digest)
        );
        // Raw order is hex order.
        let other = Sha256Digest::of(b"abd");
        assert_eq!(digest.cmp(&other), digest.hex().cmp(&other.hex()));
        Ok(())
    }

    #[test]
    fn every_byte_in_every_position_is_read_as_the_lowercase_digits_say() {
        // The table against the rule, one byte at a time: a digit reads as its value, anything
        // else is refused at its position (an ASCII byte is a character of its own).
        let good = Sha256Digest::of(b"abc").hex();
        for at in 0..64 {
            for byte in 0..=127u8 {
                let mut text = good.clone().into_bytes();
                text[at] = byte;
                let Ok(text) = String::from_utf8(text) else {
                    continue;
                };
                let read = text.parse::<Sha256Digest>();
                match (byte as char).to_digit(16) {
                    Some(_) if !byte.is_ascii_uppercase() => {
                        assert_eq!(read.map(|d| d.hex()), Ok(text), "{byte} at {at}");
                    }
                    _ => assert_eq!(
                        read,
                        Err(HexError::Digit {
                            what: "sha256",
                            at,
                            found: byte as char
                        }),
                        "{byte} at {at}"
                    ),
                }
            }
        }
    }

    #[test]
    fn malformed_hex_is_refused_with_a_typed_error() {
        let good = Sha256Digest::of(b"abc").hex();
        assert_eq!(
            good[..63].parse::<Sha256Digest>(),
            Err(HexError::Length {
                what: "sha256",
                expected: 64,
                found: 63
            })
        );
        assert_eq!(
            good.to_uppercase().parse::<Sha256Digest>(),
            Err(HexError::Digit {
                what: "sha256",
                at: 0,
                found: 'B'
            })
        );
        assert!(matches!(
            format!("{}g", &good[..63]).parse::<Sha256Digest>(),
            Err(HexError::Digit {
                at: 63,
                found: 'g',
                ..
            })
        ));
        // A multi-byte character of the right byte length names the character, not a byte.
        assert_eq!(
            format!("{}é", &good[..30]).parse::<UnitId>(),
            Err(HexError::Digit {
                what: "unit id",
                at: 30,
                found: 'é'
            })
        );
        assert!(matches!(
            good.parse::<UnitId>(),
            Err(HexError::Length {
                what: "unit id",
                expected: 32,
                found: 64
            })
        ));
        assert!(matches!(
            "".parse::<UnitId>(),
            Err(HexError::Length { found: 0, .. })
        ));
        assert!(matches!(
            format!(" {}", &good[..31]).parse::<UnitId>(),
            Err(HexError::Digit {
                at: 0,
                found: ' ',
                ..
            })
        ));
        // Through serde, the same refusal, named in the error; and no other JSON type passes.
        let error = serde_json::from_str::<UnitId>(&format!("\"{}\"", &good[..31]))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            error.contains("a unit id is 32 lowercase hex digits"),
            "{error}"
        );
        let error = serde_json::from_str::<Sha256Digest>(&format!("\"{}\"", good.to_uppercase()))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("byte 0 is 'B'"), "{error}");
        assert!(serde_json::from_str::<Sha256Digest>("42").is_err());
        assert!(serde_json::from_str::<UnitId>("null").is_err());
    }

    #[test]
    fn it_matches_only_its_own_lowercase_hex() {
        let digest = Sha256Digest::of(b"abc");
        assert!(digest.matches(&digest.hex()));
        assert!(!digest.matches(&digest.hex().to_uppercase()));
        assert!(!digest.matches(&digest.hex()[..63]));
        assert!(!digest.matches(&format!("{}0", digest.hex())));
        assert!(!digest.matches(&Sha256Digest::of(b"abd").hex()));
        assert!(!digest.matches(""));
    }
}
