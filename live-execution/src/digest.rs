//! [`Sha256Digest`]: a sha256 kept as its 32 bytes where it is computed and compared, and
//! written as lowercase hex only where it leaves the process (a recorded sha256, a plan, a
//! census field, a message).
//!
//! Comparing a digest with a recorded hex sha256 ([`Sha256Digest::matches`]) writes the hex on
//! the stack and allocates nothing, so a check over every unit of a scope costs its hashing and
//! no `String` per unit.

use std::fmt;

use sha2::{Digest as _, Sha256};

/// A sha256 digest, raw. Its text form (`Display`, [`Sha256Digest::hex`]) is 64 lowercase hex
/// digits, the form every recorded sha256 takes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
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
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 64];
        for (pair, &byte) in out.chunks_exact_mut(2).zip(&self.0) {
            pair[0] = DIGITS[usize::from(byte >> 4)];
            pair[1] = DIGITS[usize::from(byte & 0x0f)];
        }
        out
    }
}

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

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(hex_str(&self.digits(), 64))
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256Digest({self})")
    }
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
