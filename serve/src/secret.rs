//! A secret string (the bearer token): never printed, compared in constant time.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A secret string (the bearer token): never printed, compared in constant time.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`; an empty value is no secret (`None`).
    pub fn new(value: impl Into<String>) -> Option<Self> {
        let value = value.into();
        (!value.trim().is_empty()).then(|| Secret(value.trim().to_owned()))
    }

    /// The secret itself, for a caller that must send it (a client, a test).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `offered` is this secret. Both sides are hashed first, so the comparison takes
    /// the same time whatever the lengths and wherever they differ.
    pub fn matches(&self, offered: &str) -> bool {
        let expected = Sha256::digest(self.0.as_bytes());
        let offered = Sha256::digest(offered.as_bytes());
        expected.ct_eq(&offered).into()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_matches_only_itself() {
        let secret = Secret::new("s3cret").into_iter().next();
        let Some(secret) = secret else {
            panic!("a non-empty secret");
        };
        assert!(secret.matches("s3cret"));
        assert!(!secret.matches("s3cre"));
        assert!(!secret.matches("s3cret "));
        assert!(!secret.matches(""));
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
        assert!(Secret::new("  ").is_none());
    }
}
