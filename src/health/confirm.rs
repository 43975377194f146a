//! Confirmation of a lost steady probe: whether the loss is news, the `down` rounds to
//! every target half a timeout apart with one shared deadline ([`Confirmation`]), and its
//! end, when a round proves the line alive or every round was judged.

use super::round::{next_tick, Kind, Round};
use super::WanHealth;
use crate::config::Wan;
use crate::time::{Duration, Instant};

/// A confirmation in progress: `down` rounds to every target after a lost steady probe.
#[derive(Copy, Clone, Debug)]
pub(super) struct Confirmation {
    /// Rounds sent so far.
    pub(super) sent: u8,
    /// Rounds it sends (`down`).
    pub(super) rounds: u8,
    /// When its first round went out.
    pub(super) first: Instant,
    /// The largest adaptive timeout of the targets when it started: twice the gap between
    /// two rounds, and the wait after the last one's start.
    pub(super) timeout: Duration,
    /// Answers a round needs (`reliability`, capped).
    pub(super) need: u8,
    /// Steady probing's interval, to resume on its grid.
    pub(super) interval: Duration,
}

impl Confirmation {
    /// When round `n` (from 0) goes out: half a timeout after the one before.
    pub(super) fn start_of(&self, n: u8) -> Instant {
        self.first + Duration::from_micros(self.timeout.as_micros() / 2) * u32::from(n)
    }

    /// The deadline all its rounds share: one timeout after the last one went out.
    pub(super) fn deadline(&self) -> Instant {
        self.start_of(self.rounds.saturating_sub(1)) + self.timeout
    }
}

impl WanHealth {
    /// The confirmation is over: a round has enough answers (the line is alive), or every
    /// round was judged. No more rounds go out; outstanding rounds without enough answers
    /// become samples (their verdict no longer matters), and steady probing resumes on its
    /// grid.
    pub(super) fn end_confirmation(&mut self, now: Instant) {
        let Some(c) = self.confirming.take() else { return };
        for r in self.rounds.iter_mut().filter(|r| r.kind == Kind::Confirm && r.targets_answered() < c.need) {
            r.kind = Kind::Sample;
        }
        if self.is_up() {
            self.next_round = Some(next_tick(now, c.interval));
        }
    }

    /// Whether the steady probe `r`, past its timeout and not known lost, starts a
    /// confirmation: unanswered, while up and not confirming ([`WanHealth::suspect`]).
    pub(super) fn triggers(&self, r: &Round, wan: &Wan) -> bool {
        r.kind == Kind::Steady
            && r.lost == 0
            && r.targets_answered() == 0
            && self.is_up()
            && self.confirming.is_none()
            && self.suspect(r, wan)
    }

    /// Whether the loss of steady probe `r` is news: its target answered its previous
    /// probe, or no target of the family did. A target that is dead while others answer
    /// (its operator dropped ICMP) does not make the line suspect every time it is asked.
    pub(super) fn suspect(&self, r: &Round, wan: &Wan) -> bool {
        let up = |slot: usize| self.targets[slot].is_up() || self.targets[slot].probes() == 0;
        let mut targets = wan.targets(self.family).map(|(slot, _)| slot);
        let probed_was_up = wan.targets(self.family).any(|(slot, _)| r.sent & (1 << slot) != 0 && up(slot));
        probed_was_up || !targets.any(up)
    }

    /// Starts a confirmation at `now`: its first round goes out at once.
    pub(super) fn start_confirmation(&mut self, now: Instant, wan: &Wan) {
        let rounds = wan.down.max(1);
        let timeout = wan
            .targets(self.family)
            .map(|(slot, _)| self.targets[slot].timeout(wan.timeout))
            .max()
            .unwrap_or(wan.timeout);
        self.confirming = Some(Confirmation {
            sent: 0,
            rounds,
            first: now,
            timeout,
            need: wan.need(self.family),
            interval: wan.interval,
        });
        self.confirmations = self.confirmations.saturating_add(1);
        self.next_round = Some(now);
    }
}
