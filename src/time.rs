//! Monotonic time as plain numbers.
//!
//! The core never reads a clock: the poll loop reads `CLOCK_MONOTONIC` once per wake-up
//! (`sys::clock`) and passes the value in. Microsecond resolution because gateway RTTs on a
//! LAN are well below a millisecond. Wall-clock time is never used: routers boot with a
//! wrong clock and jump at NTP sync.

use core::fmt;
use core::ops::{Add, Mul, Sub};

/// A point on the monotonic clock, in microseconds since an arbitrary origin.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(u64);

/// A span of time in microseconds.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(u64);

impl Instant {
    /// The origin; tests start their timelines here.
    pub const ZERO: Instant = Instant(0);

    /// An instant `us` microseconds after the origin.
    pub const fn from_micros(us: u64) -> Self {
        Instant(us)
    }

    /// An instant `ms` milliseconds after the origin.
    pub const fn from_millis(ms: u64) -> Self {
        Instant(ms.saturating_mul(1000))
    }

    /// Microseconds since the origin.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// Time elapsed since `earlier`, zero if `earlier` is in the future.
    pub const fn saturating_since(self, earlier: Instant) -> Duration {
        Duration(self.0.saturating_sub(earlier.0))
    }
}

impl Duration {
    /// No time at all.
    pub const ZERO: Duration = Duration(0);

    /// A duration of `us` microseconds.
    pub const fn from_micros(us: u64) -> Self {
        Duration(us)
    }

    /// A duration of `ms` milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        Duration(ms.saturating_mul(1000))
    }

    /// A duration of `s` seconds.
    pub const fn from_secs(s: u64) -> Self {
        Duration(s.saturating_mul(1_000_000))
    }

    /// Whole microseconds.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// Whole milliseconds, rounded down.
    pub const fn as_millis(self) -> u64 {
        self.0 / 1000
    }

    /// Whole seconds, rounded down.
    pub const fn as_secs(self) -> u64 {
        self.0 / 1_000_000
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(d.0))
    }
}

impl Add for Duration {
    type Output = Duration;
    fn add(self, d: Duration) -> Duration {
        Duration(self.0.saturating_add(d.0))
    }
}

impl Sub for Duration {
    type Output = Duration;
    fn sub(self, d: Duration) -> Duration {
        Duration(self.0.saturating_sub(d.0))
    }
}

impl Mul<u32> for Duration {
    type Output = Duration;
    fn mul(self, n: u32) -> Duration {
        Duration(self.0.saturating_mul(u64::from(n)))
    }
}

/// Seconds with up to three decimals, as the config file writes them (`0.25`, `10`).
impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.as_millis();
        let (s, frac) = (ms / 1000, ms % 1000);
        if frac == 0 {
            write!(f, "{s}")
        } else if frac % 100 == 0 {
            write!(f, "{s}.{}", frac / 100)
        } else if frac % 10 == 0 {
            write!(f, "{s}.{:02}", frac / 10)
        } else {
            write!(f, "{s}.{frac:03}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_instead_of_wrapping() {
        let t = Instant::from_millis(5);
        assert_eq!(t.saturating_since(Instant::from_millis(9)), Duration::ZERO);
        assert_eq!(Instant::from_micros(u64::MAX) + Duration::from_secs(1), Instant::from_micros(u64::MAX));
        assert_eq!((t + Duration::from_millis(3)).as_micros(), 8000);
    }

    #[test]
    fn display_as_config_seconds() {
        assert_eq!(Duration::from_millis(250).to_string(), "0.25");
        assert_eq!(Duration::from_millis(500).to_string(), "0.5");
        assert_eq!(Duration::from_secs(10).to_string(), "10");
        assert_eq!(Duration::from_millis(1005).to_string(), "1.005");
    }
}
