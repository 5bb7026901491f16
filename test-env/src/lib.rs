//! What the test suites read from their environment, decided in one place.
//!
//! **The PostgreSQL rule.** The PostgreSQL suites need a server (`IU_CUTTER_TEST_PG_URL`, and
//! for the TLS and least-privilege suites the variables `cargo xtask ci` derives from it).
//! Outside CI a test without its server says it is skipped and why, and passes: a developer
//! without PostgreSQL still runs everything else. In CI (`CI` set, as every CI service and
//! `.ci/run` do) it fails instead, naming what is missing: a CI run whose PostgreSQL suites
//! skipped would report green for tests that never ran.
//!
//! Also here: integer knobs of the trial suites (`IU_CUTTER_FAULTS_*`), a seedable generator
//! for their random moments, and unique names for per-test schemas.

use std::sync::atomic::{AtomicU64, Ordering};

/// The variable naming the test PostgreSQL server (a role that may create schemas).
pub const PG_URL: &str = "IU_CUTTER_TEST_PG_URL";
/// The directory of the test certificates `cargo xtask pg-setup` generates.
pub const PG_TLS: &str = "IU_CUTTER_TEST_PG_TLS";
/// The URL of the least-privilege runtime role `cargo xtask pg-setup` creates.
pub const PG_RUNTIME_URL: &str = "IU_CUTTER_TEST_PG_RUNTIME_URL";
/// The URL of the role that logs in with a client certificate.
pub const PG_CERT_URL: &str = "IU_CUTTER_TEST_PG_CERT_URL";

/// Whether the tests run in CI: `CI` is set to anything but empty, `0` or `false`.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| means_ci(&v))
}

/// Whether a value of `CI` says "this is CI".
fn means_ci(value: &str) -> bool {
    let value = value.trim();
    !value.is_empty() && value != "0" && !value.eq_ignore_ascii_case("false")
}

/// A variable's value, if set and not blank.
fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The values of `names`, all set; otherwise the test cannot run: outside CI, `None` after
/// saying on stderr that `test` is skipped and which variables it lacks; in CI, a panic
/// saying the same, so that the test fails.
pub fn required(test: &str, names: &[&str]) -> Option<Vec<String>> {
    let values: Vec<Option<String>> = names.iter().map(|name| var(name)).collect();
    let missing: Vec<&str> = names
        .iter()
        .zip(&values)
        .filter(|(_, value)| value.is_none())
        .map(|(name, _)| *name)
        .collect();
    if missing.is_empty() {
        return Some(values.into_iter().flatten().collect());
    }
    let why = format!(
        "{} not set: {test} needs the test PostgreSQL server (`cargo xtask pg-setup` prepares \
         the local one and prints the URL to export as {PG_URL}, e.g. \
         {PG_URL}=postgres://iu_cutter:iu_cutter@127.0.0.1:5432/iu_cutter_test; `cargo xtask \
         ci` passes the TLS and role variables it derives from it)",
        missing.join(", ")
    );
    if in_ci() {
        panic!("{why}; CI is set, so the test fails instead of skipping");
    }
    eprintln!("skipped: {why}");
    None
}

/// The test server's URL, by the PostgreSQL rule (see the crate documentation).
pub fn pg_url(test: &str) -> Option<String> {
    required(test, &[PG_URL]).and_then(|mut values| values.pop())
}

/// Says on stderr that `test` is skipped because of `reason`: for what a machine may lack
/// without making the run less trustworthy (a shell to parse completions, permission to mount a
/// tmpfs). Never for a database: see [`required`].
pub fn skip(test: &str, reason: &str) {
    eprintln!("skipped: {test}: {reason}");
}

/// The integer variable `name` (decimal, or hexadecimal after `0x`), or `default`.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| parse_u64(&v))
        .unwrap_or(default)
}

/// A decimal number, or a hexadecimal one after `0x`.
fn parse_u64(text: &str) -> Option<u64> {
    let text = text.trim();
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// A tiny xorshift64*: deterministic and seedable, for the moments of seeded fault trials.
#[derive(Clone, Debug)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator seeded with `seed` (zero, which xorshift cannot leave, counts as one).
    pub fn new(seed: u64) -> Self {
        XorShift(seed.max(1))
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// A name no other test of any process uses at the same time, for a PostgreSQL schema:
/// `<prefix>_<pid>_<nanos>_<n>`, letters, digits and `_` only when `prefix` is.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "{prefix}_{}_{nanos}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xorshift_is_deterministic_and_never_stuck_at_zero() {
        let (mut a, mut b) = (XorShift::new(42), XorShift::new(42));
        let first: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        assert_eq!(first, (0..4).map(|_| b.next_u64()).collect::<Vec<_>>());
        assert_ne!(XorShift::new(0).next_u64(), 0);
    }

    #[test]
    fn unique_names_differ_and_are_identifiers() {
        let (a, b) = (unique_name("t"), unique_name("t"));
        assert_ne!(a, b);
        assert!(
            a.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_'),
            "{a}"
        );
    }

    #[test]
    fn numbers_are_decimal_or_hex_and_unset_knobs_default() {
        assert_eq!(parse_u64(" 50 "), Some(50));
        assert_eq!(parse_u64("0x1005eedf00d"), Some(0x0100_5eed_f00d));
        assert_eq!(parse_u64("fifty"), None);
        assert_eq!(env_u64("IU_CUTTER_TEST_ENV_UNSET_KNOB", 7), 7);
    }

    #[test]
    fn ci_is_any_value_but_blank_zero_or_false() {
        for yes in ["true", "1", "yes", "TRUE"] {
            assert!(means_ci(yes), "{yes}");
        }
        for no in ["", " ", "0", "false", "False"] {
            assert!(!means_ci(no), "{no}");
        }
    }
}
