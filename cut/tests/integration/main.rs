//! The cut engine's one integration test binary, a module per concern (as ripgrep's
//! `tests/tests.rs`):
//!
//! - `presets`: the presets on realistic documents (exact paths, NFC/NFD, line endings, size
//!   limits, stable ids, custom levels);
//! - `properties`: for arbitrary text, every cut is lossless, deterministic, within its limit,
//!   with unique ids (regressions in `tests/proptest-regressions/`).

mod presets;
mod properties;
