//! Judging rounds, strictly in the order they started: complete ones after an answer, and
//! those past their deadline once every waiting answer was read. A judged round's answers
//! go into its targets' records and the quality window, and its verdict moves the state
//! machine (the hysteresis of `up` and `down` rounds).

use super::reply::LateProbe;
use super::round::{next_tick, sequence, Kind, GATEWAY_SLOT, SLOTS};
use super::{Reason, State, Transition, WanHealth};
use crate::config::Wan;
use crate::time::{Duration, Instant};
use core::net::IpAddr;

/// Which rounds a judging call may end.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Due {
    /// Complete rounds and those past their deadline.
    ByClock,
    /// Complete rounds only.
    WhenComplete,
}

impl WanHealth {
    /// Judges every round that is complete or past its deadline, oldest first.
    pub fn handle_timeout(
        &mut self,
        now: Instant,
        wan: &Wan,
        gateway: Option<IpAddr>,
        judged: &mut dyn FnMut(Transition),
    ) {
        self.judge_rounds(now, wan, gateway, Due::ByClock, judged);
    }

    /// Judges the oldest rounds while they are complete, and no round by its deadline:
    /// for the caller of [`WanHealth::handle_reply`], whose next answers may still be
    /// waiting in the socket. Only [`WanHealth::handle_timeout`], called once everything
    /// waiting was read, ends a round by the clock.
    pub fn handle_complete(
        &mut self,
        now: Instant,
        wan: &Wan,
        gateway: Option<IpAddr>,
        judged: &mut dyn FnMut(Transition),
    ) {
        self.judge_rounds(now, wan, gateway, Due::WhenComplete, judged);
    }

    fn judge_rounds(
        &mut self,
        now: Instant,
        wan: &Wan,
        gateway: Option<IpAddr>,
        due: Due,
        judged: &mut dyn FnMut(Transition),
    ) {
        while let Some(r) = self.rounds.front() {
            let past_deadline = due == Due::ByClock && now >= r.deadline;
            if !r.complete() && !past_deadline {
                break;
            }
            if self.triggers(r, wan) {
                // Lost, as far as its timeout goes: a confirmation starts, and the probe
                // stays open until the confirmation's verdict.
                self.start_confirmation(now, wan);
                let deadline = self.confirming.map_or(now, |c| c.deadline());
                if let Some(r) = self.rounds.front_mut() {
                    (r.kind, r.deadline) = (Kind::Trigger, deadline);
                }
                continue;
            }
            self.judge_oldest(now, wan, gateway, judged);
        }
    }

    pub(super) fn judge_oldest(
        &mut self,
        now: Instant,
        wan: &Wan,
        gateway: Option<IpAddr>,
        judged: &mut dyn FnMut(Transition),
    ) {
        let Some(r) = self.rounds.pop_front() else {
            return;
        };
        let suspect = r.kind == Kind::Steady && self.suspect(&r, wan);
        let (mut n, mut answered) = (0u8, 0u8);
        for (slot, _) in wan.targets(self.family).filter(|(slot, _)| r.sent & (1 << slot) != 0) {
            n += 1;
            let ok = r.answered & (1 << slot) != 0;
            answered += u8::from(ok);
            let rtt = ok.then(|| Duration::from_micros(u64::from(r.rtt[slot])));
            self.targets[slot].record(rtt);
            self.recent.record(rtt);
        }
        // What went unanswered may still answer late (by ICMP; a TCP probe's caller closes
        // its socket now: see `take_abandoned`).
        let unanswered = r.sent & !r.answered & !r.lost;
        if unanswered != 0 {
            if self.abandoned.is_full() {
                self.abandoned.pop_front();
            }
            let _ = self.abandoned.push_back((r.number, unanswered));
        }
        for slot in (0..SLOTS).filter(|&slot| unanswered & (1 << slot) != 0) {
            if self.late.is_full() {
                self.late.pop_front();
            }
            let late = LateProbe { seq: sequence(r.number, slot), dst: r.dst[slot], start: r.start, slot: slot as u8 };
            let _ = self.late.push_back(late);
        }
        let gw_probed = r.sent & (1 << GATEWAY_SLOT) != 0;
        let gw_ok = r.answered & (1 << GATEWAY_SLOT) != 0;
        if gw_probed {
            self.gateway.record(gw_ok.then(|| Duration::from_micros(u64::from(r.rtt[GATEWAY_SLOT]))));
        }
        let need = wan.need(self.family);
        let failure = if gw_probed && !gw_ok && answered == 0 {
            Reason::GatewayUnreachable(gateway.unwrap_or(r.dst[GATEWAY_SLOT]))
        } else {
            Reason::TargetsUnreachable { answered, total: n, need, gateway: gw_probed.then_some(gw_ok) }
        };
        let good = answered >= need.min(n);
        // Not up, a round is good only with quality good enough to recover.
        let short = if good && !self.is_up() { self.quality_short(wan) } else { None };
        let verdict = match (self.state, r.kind) {
            (s @ (State::NoLink | State::Disabled), _) => (s, self.reason),
            // A steady probe never counts by itself: its loss only starts a confirmation.
            (State::Up { .. }, Kind::Steady) => {
                if answered == 0 && suspect && self.confirming.is_none() {
                    self.start_confirmation(now, wan);
                }
                (self.state, self.reason)
            }
            // A round to every target still out when the WAN came up is only a sample too.
            (_, Kind::Steady | Kind::Sample | Kind::Trigger) | (State::Up { .. }, Kind::Full) => {
                (self.state, self.reason)
            }
            (State::Up { .. }, _) if good => (State::Up { bad_rounds: 0 }, Reason::ProbesAnswered),
            (State::Up { bad_rounds }, _) if bad_rounds + 1 >= wan.down => (State::Down { good_rounds: 0 }, failure),
            (State::Up { bad_rounds }, _) => (State::Up { bad_rounds: bad_rounds + 1 }, failure),
            (State::Init, _) if good && short.is_none() => (State::Up { bad_rounds: 0 }, Reason::ProbesAnswered),
            (State::Down { good_rounds }, _) if good && short.is_none() => {
                if good_rounds + 1 >= wan.up {
                    self.eligible_at = now + wan.recovery_wait;
                    (State::Up { bad_rounds: 0 }, Reason::Recovered)
                } else {
                    (State::Down { good_rounds: good_rounds + 1 }, Reason::ProbesAnswered)
                }
            }
            // Within a state only the transition names this round's cause; the state keeps
            // the reason it was entered with (see set_state).
            (State::Init | State::Down { .. }, _) => (State::Down { good_rounds: 0 }, short.unwrap_or(failure)),
        };
        let (mut state, mut reason) = verdict;
        if let (State::Up { .. }, Some(poor)) = (state, self.quality_failure(wan)) {
            (state, reason) = (State::Down { good_rounds: 0 }, poor);
        }
        let was_up = self.is_up();
        let transition = self.set_state(now, state, reason);
        if was_up && !self.is_up() {
            // Down: rounds to every target from the next (half-interval) grid point on.
            self.confirming = None;
            self.next_round = Some(next_tick(now, wan.interval_while_down()));
        } else if !was_up && self.is_up() {
            self.next_round = Some(next_tick(now, wan.interval));
        }
        let confirm_over =
            self.confirming.is_some_and(|c| c.sent >= c.rounds) && !self.rounds.iter().any(|r| r.kind == Kind::Confirm);
        if confirm_over {
            self.end_confirmation(now);
        }
        if let Some(t) = transition {
            judged(t);
        }
    }
}
