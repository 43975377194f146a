//! The core's timers: one named deadline per purpose, in a fixed table. The earliest armed
//! timer is when the core must next be woken ([`crate::daemon::Daemon::poll_timeout`]); a
//! timer that is due fires once ([`Timers::expire`]) and the core does that timer's work.
//!
//! Contract: a timer is either disarmed or armed at one instant; arming replaces the instant
//! ([`Timers::set`]) or keeps the earlier one ([`Timers::set_earlier`]). Nothing fires by
//! itself: `handle_timeout(now)` asks for each timer whether it is due at `now`. Pure, no
//! allocation: the table has a slot for every timer of [`MAX_WANS`] WANs.

use crate::config::MAX_WANS;
use crate::route::Family;
use crate::time::Instant;

/// One timer of the core.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Timer {
    /// The periodic full re-read of the kernel and of netifd.
    Resync,
    /// An early full re-read: soon after a failed kernel write or dump, at once after
    /// actions were dropped. Whichever of it and [`Timer::Resync`] fires first does the
    /// re-read for both.
    Retry,
    /// WAN `wan`'s `family` health has a probe round to start or to judge (the instant
    /// `WanHealth::next_deadline` gives).
    Round {
        /// WAN index.
        wan: usize,
        /// The health's family.
        family: Family,
    },
    /// WAN `wan`'s recovery wait for `family` ends: traffic may return to it.
    Recovery {
        /// WAN index.
        wan: usize,
        /// The family that recovered.
        family: Family,
    },
    /// The pause after WAN `wan`'s `family` probe socket failed ends: a new one may be opened.
    SocketRetry {
        /// WAN index.
        wan: usize,
        /// The socket's family.
        family: Family,
    },
    /// WAN `wan`'s on-demand round (`ubus call dualwan probe`) is due to start, or to be
    /// judged at its deadline.
    OnDemand {
        /// WAN index.
        wan: usize,
    },
}

/// Timers that every WAN has per family: round, recovery, socket retry.
const PER_FAMILY: usize = 3;
/// Timers that are not a WAN's: resync, retry.
const GLOBAL: usize = 2;
/// The first slot of the per-WAN (not per-family) timers: on-demand rounds.
const PER_WAN: usize = GLOBAL + MAX_WANS * 2 * PER_FAMILY;
/// Slots in the table.
const SLOTS: usize = PER_WAN + MAX_WANS;

impl Timer {
    /// Its slot in the table; `None` for a WAN beyond [`MAX_WANS`].
    fn slot(self) -> Option<usize> {
        let of_wan = |wan: usize, family: Family, kind: usize| {
            (wan < MAX_WANS).then(|| GLOBAL + (wan * 2 + family.index()) * PER_FAMILY + kind)
        };
        match self {
            Timer::Resync => Some(0),
            Timer::Retry => Some(1),
            Timer::Round { wan, family } => of_wan(wan, family, 0),
            Timer::Recovery { wan, family } => of_wan(wan, family, 1),
            Timer::SocketRetry { wan, family } => of_wan(wan, family, 2),
            Timer::OnDemand { wan } => (wan < MAX_WANS).then_some(PER_WAN + wan),
        }
    }

    /// The WAN a per-WAN timer belongs to.
    fn wan_of_slot(slot: usize) -> Option<usize> {
        match slot.checked_sub(PER_WAN) {
            Some(wan) => Some(wan),
            None => slot.checked_sub(GLOBAL).map(|i| i / (2 * PER_FAMILY)),
        }
    }
}

/// Every timer's deadline, `None` while disarmed.
#[derive(Clone, Debug)]
pub struct Timers {
    at: [Option<Instant>; SLOTS],
}

impl Default for Timers {
    fn default() -> Self {
        Timers { at: [None; SLOTS] }
    }
}

impl Timers {
    /// When `timer` fires, if it is armed.
    pub fn get(&self, timer: Timer) -> Option<Instant> {
        self.at[timer.slot()?]
    }

    /// Arms `timer` at `at`, or disarms it with `None`.
    pub fn set(&mut self, timer: Timer, at: Option<Instant>) {
        if let Some(slot) = timer.slot() {
            self.at[slot] = at;
        }
    }

    /// Arms `timer` at `at` unless it is armed earlier already.
    pub fn set_earlier(&mut self, timer: Timer, at: Instant) {
        let at = self.get(timer).map_or(at, |t| t.min(at));
        self.set(timer, Some(at));
    }

    /// True if `timer` is due at `now`; it is disarmed then (it fires once).
    pub fn expire(&mut self, timer: Timer, now: Instant) -> bool {
        let due = self.get(timer).is_some_and(|at| at <= now);
        if due {
            self.set(timer, None);
        }
        due
    }

    /// The earliest armed deadline.
    pub fn next(&self) -> Option<Instant> {
        self.at.iter().flatten().min().copied()
    }

    /// For a new config: the timers of WAN `i` stay if `keep(i)`, all others are disarmed.
    pub fn reload(&mut self, keep: impl Fn(usize) -> bool) {
        for (slot, at) in self.at.iter_mut().enumerate() {
            if Timer::wan_of_slot(slot).is_some_and(|wan| !keep(wan)) {
                *at = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;

    #[test]
    fn the_earliest_armed_timer_is_next_and_fires_once() {
        let t = |ms| Instant::from_millis(ms);
        let mut timers = Timers::default();
        assert_eq!(timers.next(), None);
        let round = Timer::Round { wan: 7, family: Family::V6 };
        timers.set(Timer::Resync, Some(t(60_000)));
        timers.set(round, Some(t(200)));
        timers.set_earlier(Timer::Retry, t(1_000));
        timers.set_earlier(Timer::Retry, t(5_000));
        assert_eq!(timers.get(Timer::Retry), Some(t(1_000)), "the earlier instant stays");
        assert_eq!(timers.next(), Some(t(200)));
        assert!(!timers.expire(round, t(199)));
        assert!(timers.expire(round, t(200)));
        assert!(!timers.expire(round, t(201)), "fired once");
        assert_eq!(timers.next(), Some(t(1_000)));
        assert_eq!(timers.get(Timer::Round { wan: MAX_WANS, family: Family::V4 }), None, "no such WAN");
    }

    #[test]
    fn a_reload_keeps_only_the_timers_of_kept_wans() {
        let at = Some(Instant::ZERO + Duration::from_secs(1));
        let mut timers = Timers::default();
        let all = |wan| {
            [
                Timer::Round { wan, family: Family::V4 },
                Timer::Recovery { wan, family: Family::V6 },
                Timer::SocketRetry { wan, family: Family::V6 },
                Timer::OnDemand { wan },
            ]
        };
        timers.set(Timer::Resync, at);
        for wan in 0..MAX_WANS {
            all(wan).into_iter().for_each(|t| timers.set(t, at));
        }
        timers.reload(|wan| wan == 1);
        assert_eq!(timers.get(Timer::Resync), at);
        assert!(all(1).into_iter().all(|t| timers.get(t) == at));
        for wan in (0..MAX_WANS).filter(|&w| w != 1) {
            assert!(all(wan).into_iter().all(|t| timers.get(t).is_none()), "WAN {wan}");
        }
    }
}
