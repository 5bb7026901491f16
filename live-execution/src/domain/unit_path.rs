//! [`UnitPath`]: a planned unit's structural path, a string that the units of one cut share.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A unit's structural path (`Chương II/Điều 44`): read as a `&str` (it derefs to one,
/// compares, hashes and serialises as one), made from a `String` or a `&str`.
///
/// The cutter writes the paths of a document's units into one buffer and each unit holds its
/// range of it ([`UnitPath::shared`]), so a cut allocates once for all its paths where a
/// `String` per unit cost an allocation, a copy and a free per unit (about a tenth of the cut's
/// time). Cloning one is a reference count, not a copy.
#[derive(Clone)]
pub struct UnitPath {
    /// The buffer holding the path (and, for a cut, its other units' paths); `None` for the
    /// empty path, which so allocates nothing (the cutter builds its units with it, then sets
    /// their paths when the cut ends).
    text: Option<Arc<str>>,
    /// The path's byte range in `text` (`u32`, so that a path is no larger than a `String`).
    start: u32,
    end: u32,
}

impl UnitPath {
    /// The path `text[start..end]`, sharing `text`; `None` if the range is not a `&str` of it
    /// or lies past `u32::MAX`.
    #[inline]
    pub fn shared(text: &Arc<str>, start: usize, end: usize) -> Option<UnitPath> {
        text.get(start..end)?;
        Some(UnitPath {
            text: Some(Arc::clone(text)),
            start: u32::try_from(start).ok()?,
            end: u32::try_from(end).ok()?,
        })
    }

    /// The path as a `&str`.
    #[inline]
    pub fn as_str(&self) -> &str {
        // The range was checked when the path was made (`shared`, `From`): `get` succeeds.
        self.text
            .as_deref()
            .and_then(|text| text.get(self.start as usize..self.end as usize))
            .unwrap_or_default()
    }
}

impl From<&str> for UnitPath {
    fn from(path: &str) -> Self {
        UnitPath::from(Arc::<str>::from(path))
    }
}

impl From<String> for UnitPath {
    fn from(path: String) -> Self {
        UnitPath::from(Arc::<str>::from(path))
    }
}

impl From<Arc<str>> for UnitPath {
    /// The whole of `text`. A text past `u32::MAX` bytes (never a real path) is cut to its
    /// last character boundary before it.
    fn from(text: Arc<str>) -> Self {
        let mut end = text.len().min(u32::MAX as usize);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        UnitPath {
            end: u32::try_from(end).unwrap_or_default(),
            text: Some(text),
            start: 0,
        }
    }
}

impl From<UnitPath> for String {
    fn from(path: UnitPath) -> Self {
        path.as_str().to_owned()
    }
}

impl Default for UnitPath {
    /// The empty path, without an allocation.
    fn default() -> Self {
        UnitPath {
            text: None,
            start: 0,
            end: 0,
        }
    }
}

impl Deref for UnitPath {
    type Target = str;

    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for UnitPath {
    #[inline]
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for UnitPath {
    #[inline]
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for UnitPath {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for UnitPath {}

impl PartialEq<str> for UnitPath {
    #[inline]
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for UnitPath {
    #[inline]
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for UnitPath {
    #[inline]
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<UnitPath> for str {
    #[inline]
    fn eq(&self, other: &UnitPath) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<UnitPath> for &str {
    #[inline]
    fn eq(&self, other: &UnitPath) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<UnitPath> for String {
    #[inline]
    fn eq(&self, other: &UnitPath) -> bool {
        self == other.as_str()
    }
}

impl PartialOrd for UnitPath {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for UnitPath {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for UnitPath {
    /// As its `&str` (so that `Borrow<str>` finds it in a map).
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for UnitPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for UnitPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl Serialize for UnitPath {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for UnitPath {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(UnitPath::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_path_reads_compares_hashes_and_serialises_as_its_str() {
        let text: Arc<str> = Arc::from("(preamble)Chương I/Điều 1");
        let path = UnitPath::shared(&text, 10, text.len()).unwrap_or_else(|| panic!("a range"));
        assert_eq!(path.as_str(), "Chương I/Điều 1");
        assert_eq!(path, UnitPath::from("Chương I/Điều 1"));
        assert_eq!(path, "Chương I/Điều 1");
        assert_eq!(
            format!("{path}|{path:?}"),
            "Chương I/Điều 1|\"Chương I/Điều 1\""
        );
        let json = serde_json::to_string(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(json, "\"Chương I/Điều 1\"");
        assert_eq!(
            serde_json::from_str::<UnitPath>(&json).unwrap_or_else(|e| panic!("{e}")),
            path
        );
        let set: std::collections::HashSet<UnitPath> = [path].into_iter().collect();
        assert!(set.contains("Chương I/Điều 1"));
    }

    #[test]
    fn a_range_off_a_character_boundary_or_past_the_text_is_refused() {
        let text: Arc<str> = Arc::from("Điều");
        assert!(UnitPath::shared(&text, 0, 1).is_none());
        assert!(UnitPath::shared(&text, 0, text.len() + 1).is_none());
        assert!(UnitPath::shared(&text, 2, 1).is_none());
        assert_eq!(
            UnitPath::shared(&text, 0, 0).unwrap_or_else(|| panic!("empty")),
            ""
        );
        assert_eq!(UnitPath::default(), UnitPath::from(""));
        assert_eq!(
            std::mem::size_of::<UnitPath>(),
            std::mem::size_of::<String>()
        );
    }
}
