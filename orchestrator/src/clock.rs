//! Wall-clock time as the journal and the reports write it: UTC RFC 3339 with milliseconds
//! (`2025-01-31T12:00:00.250Z`), and ages such as `24h` or `7d`.
//!
//! No time crate: the civil-date conversions are Howard Hinnant's algorithms, exact for every
//! date from 1970 on (from a day count: the seam's [`civil_from_days`], which the stores' times
//! use too). Timestamps live in the journal only; the census never sees them.
//!
//! The runner reads the time through a [`Clock`]: the [`SystemClock`] unless
//! [`crate::RunOptions::with_clock`] gives it another, such as a [`ManualClock`] that a test
//! moves on instead of sleeping. Durations (`duration_ms`) are measured on [`std::time::Instant`]
//! and lease expiry on the store's clock; neither reads this one.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use iu_cutter_live_execution::{civil_from_days, utc_millis};

/// Where the runner reads wall-clock time: the journal's phase times, the report's start and
/// finish, and the age of a held run's verification (`held_max_age`).
pub trait Clock: Send + Sync {
    /// The time now.
    fn now(&self) -> SystemTime;
}

/// The operating system's clock ([`SystemTime::now`]), the runner's default.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that stands still until it is moved ([`ManualClock::advance`], [`ManualClock::set`]):
/// a test ages a journal in an instant, and every time it reads back is known.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<SystemTime>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: SystemTime) -> Self {
        ManualClock {
            now: Mutex::new(start),
        }
    }

    /// Moves the clock on by `by`.
    pub fn advance(&self, by: Duration) {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) += by;
    }

    /// Sets the clock to `to` (earlier or later).
    pub fn set(&self, to: SystemTime) {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Days since 1970-01-01 of a civil date.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Time since the epoch (times before it count as the epoch).
fn since_epoch(time: SystemTime) -> Duration {
    time.duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// `time` as UTC RFC 3339 with milliseconds, e.g. `2025-01-31T12:00:00.250Z`: as the stores
/// write times ([`utc_millis`]).
pub fn rfc3339(time: SystemTime) -> String {
    utc_millis(u64::try_from(since_epoch(time).as_millis()).unwrap_or(u64::MAX))
}

/// `time` as `YYYYMMDD-HHMMSS` (UTC), for run ids and file names.
pub fn compact(time: SystemTime) -> String {
    let secs = since_epoch(time).as_secs();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn number(text: &str) -> Option<u64> {
    (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// Parses a UTC RFC 3339 timestamp as [`rfc3339`] writes it (the fraction is optional, `z`
/// and `+00:00` are accepted). Other offsets are not: the journal only holds UTC.
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    let body = text
        .strip_suffix('Z')
        .or_else(|| text.strip_suffix('z'))
        .or_else(|| text.strip_suffix("+00:00"))?;
    let (date, time) = body.split_once(['T', 't', ' '])?;
    let mut date = date.split('-');
    let year = number(date.next()?)?;
    let month = u32::try_from(number(date.next()?)?).ok()?;
    let day = u32::try_from(number(date.next()?)?).ok()?;
    if date.next().is_some() || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let (hms, fraction) = match time.split_once('.') {
        Some((hms, fraction)) => (hms, Some(fraction)),
        None => (time, None),
    };
    let mut hms = hms.split(':');
    let hour = number(hms.next()?)?;
    let minute = number(hms.next()?)?;
    let second = number(hms.next()?)?;
    if hms.next().is_some() || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let nanos = match fraction {
        Some(fraction) => {
            number(fraction)?;
            let digits: String = fraction
                .chars()
                .chain("000000000".chars())
                .take(9)
                .collect();
            u32::try_from(number(&digits)?).ok()?
        }
        None => 0,
    };
    let days = days_from_civil(i64::try_from(year).ok()?, month, day);
    let secs = u64::try_from(days).ok()? * 86_400 + hour * 3600 + minute * 60 + second;
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

/// Parses an age: one or more `<number><unit>` with units `s`, `m`, `h`, `d`, `w`, e.g. `24h`,
/// `7d`, `1h30m`, `90s`. Zero is allowed.
pub fn parse_age(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let bad = || {
        format!(
            "`{text}` is not an age; write a number and a unit (s, m, h, d, w), e.g. 24h, 7d or \
             1h30m"
        )
    };
    if text.is_empty() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit: u64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return Err(bad()),
        };
        let value: u64 = digits.parse().map_err(|_| bad())?;
        digits.clear();
        total = value
            .checked_mul(unit)
            .and_then(|secs| total.checked_add(secs))
            .ok_or_else(bad)?;
    }
    if !digits.is_empty() {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

/// An age as the operator writes it, largest units first: `1d2h`, `45s`, `0s`.
pub fn format_age(age: Duration) -> String {
    let mut secs = age.as_secs();
    if secs == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("w", 604_800),
        ("d", 86_400),
        ("h", 3600),
        ("m", 60),
        ("s", 1),
    ] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

/// How far a journaled time lies from a runner's `now` ([`age_of`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Age {
    /// This long before `now`.
    Ago(Duration),
    /// This long after `now`: another clock stamped it (one running fast), or it was edited.
    Ahead(Duration),
}

/// How far ahead of a runner's clock a journaled time may lie and still count as just now:
/// the skew between the clocks of two well-kept machines.
pub const SKEW_TOLERATED: Duration = Duration::from_secs(60);

/// How long before (or after) `now` the journaled time `then` was; `None` when `then` cannot
/// be read.
pub fn age_of(then: &str, now: SystemTime) -> Option<Age> {
    let then = parse_rfc3339(then)?;
    Some(match now.duration_since(then) {
        Ok(ago) => Age::Ago(ago),
        Err(ahead) => Age::Ahead(ahead.duration()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_round_trip() {
        for (secs, millis, text) in [
            (0, 0, "1970-01-01T00:00:00.000Z"),
            (951_782_400, 5, "2000-02-29T00:00:00.005Z"),
            (1_738_324_800, 250, "2025-01-31T12:00:00.250Z"),
            (4_107_542_399, 999, "2100-02-28T23:59:59.999Z"),
        ] {
            let time = UNIX_EPOCH + Duration::from_millis(secs * 1000 + millis);
            assert_eq!(rfc3339(time), text);
            assert_eq!(parse_rfc3339(text), Some(time), "{text}");
        }
        assert_eq!(
            compact(UNIX_EPOCH + Duration::from_secs(1_738_324_800)),
            "20250131-120000"
        );
        assert_eq!(
            parse_rfc3339("2025-01-31T12:00:00+00:00"),
            Some(UNIX_EPOCH + Duration::from_secs(1_738_324_800))
        );
    }

    #[test]
    fn rejects_what_it_does_not_write() {
        for bad in [
            "",
            "2025-01-31",
            "2025-01-31T12:00:00",
            "2025-01-31T12:00:00+02:00",
            "2025-13-01T00:00:00Z",
            "2025-01-31T24:00:00Z",
            "2025-01-31T12:00:00.x5Z",
            "yesterday",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn ages_parse_and_print() {
        assert_eq!(parse_age("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_age("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_age(" 2w "), Ok(Duration::from_secs(1_209_600)));
        assert_eq!(parse_age("0s"), Ok(Duration::ZERO));
        for bad in ["", "24", "h", "1.5h", "-1d", "3y", "99999999999999999999s"] {
            assert!(parse_age(bad).is_err(), "{bad}");
        }
        assert_eq!(format_age(Duration::from_secs(93_600)), "1d2h");
        assert_eq!(format_age(Duration::from_secs(45)), "45s");
        assert_eq!(format_age(Duration::ZERO), "0s");
        let now = UNIX_EPOCH + Duration::from_secs(100);
        assert_eq!(
            age_of("1970-01-01T00:00:40.000Z", now),
            Some(Age::Ago(Duration::from_secs(60)))
        );
        assert_eq!(
            age_of("1970-01-01T00:05:00Z", now),
            Some(Age::Ahead(Duration::from_secs(200)))
        );
        assert_eq!(age_of("garbage", now), None);
    }

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let start = UNIX_EPOCH + Duration::from_secs(1_738_324_800);
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        assert_eq!(clock.now(), start);
        clock.advance(Duration::from_millis(250));
        assert_eq!(rfc3339(clock.now()), "2025-01-31T12:00:00.250Z");
        clock.set(UNIX_EPOCH);
        assert_eq!(clock.now(), UNIX_EPOCH);
    }
}
