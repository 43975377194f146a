//! Rounds of probes: why a round was sent ([`Kind`]) and what it waits for ([`Round`]), the
//! sequence number that names a probe's round and slot (`track_ip[i]` is slot `i`, the
//! gateway [`GATEWAY_SLOT`]), the grid steady probes go out on, sending each round when it
//! is due ([`WanHealth::start_round`]) and naming the probes judged without their answer
//! ([`WanHealth::take_abandoned`]).

use super::{State, Transition, WanHealth};
use crate::config::{Wan, MAX_TARGETS};
use crate::time::{Duration, Instant};
use core::net::IpAddr;

/// Rounds that may be waiting for answers at once; when a new round would exceed this,
/// the oldest is judged early (a confirmation of more than 8 rounds, or timeout > 8 ×
/// interval / 2 while down).
pub const ROUNDS_IN_FLIGHT: usize = 8;
/// A healthy WAN's gateway is asked with every this many steady probes (6 s at the
/// default interval): for its RTT in the status, at the cost of one probe.
pub const GATEWAY_EVERY: u16 = 20;
/// A standby WAN (carrying none of the family's traffic) sends a steady probe on every
/// this many of the interval's grid points.
pub const STANDBY_EVERY: u32 = 2;
/// Probe slot of the gateway; `track_ip[i]` uses slot `i`.
pub const GATEWAY_SLOT: usize = MAX_TARGETS;
pub(super) const SLOTS: usize = MAX_TARGETS + 1;

/// Why a round was sent; it decides what its verdict means.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// One target of a healthy WAN, in turn.
    Steady,
    /// Every target, after a steady probe was lost.
    Confirm,
    /// The steady probe whose loss started the confirmation: open until its verdict, an
    /// answer to it is one more sign of life, never a verdict of its own.
    Trigger,
    /// A confirmation round sent before another one proved the line alive: its answers
    /// are samples, not a verdict.
    Sample,
    /// Every target, while the WAN is not up.
    Full,
}

/// One round of probes waiting for answers.
#[derive(Copy, Clone, Debug)]
pub(super) struct Round {
    pub(super) number: u16,
    pub(super) kind: Kind,
    pub(super) start: Instant,
    pub(super) deadline: Instant,
    /// Slots probed (bit per slot).
    pub(super) sent: u16,
    /// Slots answered before the round was judged.
    pub(super) answered: u16,
    /// Slots known lost before their deadline (an ICMP error, a refused TCP connection).
    pub(super) lost: u16,
    /// Where each slot's probe went.
    pub(super) dst: [IpAddr; SLOTS],
    /// RTT in µs per answered slot.
    pub(super) rtt: [u32; SLOTS],
}

impl Round {
    pub(super) fn complete(&self) -> bool {
        (self.answered | self.lost) == self.sent
    }

    /// Targets (not the gateway) that answered.
    pub(super) fn targets_answered(&self) -> u8 {
        (self.answered & !(1 << GATEWAY_SLOT)).count_ones() as u8
    }
}

/// The round number's bits in a sequence number (above the 4 of the slot).
pub(super) const ROUND_NUMBER_MASK: u16 = 0x07ff;

/// Encodes a probe's round and slot into the ICMP sequence number: 11 bits of round number
/// (2048 rounds before it wraps, far more than are ever in flight or remembered as late),
/// bit 15 clear (on-demand rounds set it: [`super::on_demand`]).
pub fn sequence(round: u16, slot: usize) -> u16 {
    ((round & ROUND_NUMBER_MASK) << 4) | (slot as u16 & 0x0f)
}

/// The slot a probe's sequence number names: `track_ip[slot]`, or [`GATEWAY_SLOT`].
pub fn slot_of(seq: u16) -> usize {
    usize::from(seq & 0x0f)
}

/// The first multiple of `interval` after `now`: the grid steady probes go out on.
pub(super) fn next_tick(now: Instant, interval: Duration) -> Instant {
    let step = interval.as_micros().max(1);
    Instant::from_micros((now.as_micros() / step + 1) * step)
}

impl WanHealth {
    /// If a probe or round is due, sends it: calls `send(dst, seq)` for each probe.
    pub fn start_round(
        &mut self,
        now: Instant,
        wan: &Wan,
        gateway: Option<IpAddr>,
        send: &mut dyn FnMut(IpAddr, u16),
        judged: &mut dyn FnMut(Transition),
    ) {
        let Some(due) = self.next_round else { return };
        if now < due {
            return;
        }
        if self.rounds.is_full() {
            self.judge_oldest(now, wan, gateway, judged);
            // The verdict may have changed what is due (a WAN that went down).
            if self.next_round.is_none_or(|at| now < at) {
                return;
            }
        }
        let kind = match (self.state, self.confirming) {
            (State::Up { .. }, Some(_)) => Kind::Confirm,
            (State::Up { .. }, None) => Kind::Steady,
            _ => Kind::Full,
        };
        self.round_number = self.round_number.wrapping_add(1);
        let mut round = Round {
            number: self.round_number,
            kind,
            start: now,
            deadline: now + wan.timeout,
            sent: 0,
            answered: 0,
            lost: 0,
            dst: [self.family.unspecified(); SLOTS],
            rtt: [0; SLOTS],
        };
        let mut probe = |round: &mut Round, slot: usize, ip: IpAddr| {
            round.sent |= 1 << slot;
            round.dst[slot] = ip;
            send(ip, sequence(round.number, slot));
        };
        let with_gateway = match kind {
            Kind::Steady => {
                let n = wan.targets(self.family).count().max(1);
                let turn = usize::from(self.turn) % n;
                self.turn = ((turn + 1) % n) as u8;
                if let Some((slot, ip)) = wan.targets(self.family).nth(turn) {
                    probe(&mut round, slot, ip);
                    round.deadline = now + self.targets[slot].timeout(wan.timeout);
                }
                self.steady = self.steady.wrapping_add(1);
                let every = if self.standby { wan.interval * STANDBY_EVERY } else { wan.interval };
                self.next_round = Some(next_tick(now.max(due), every));
                self.steady % GATEWAY_EVERY == 1
            }
            Kind::Confirm | Kind::Sample | Kind::Trigger => {
                if let Some(c) = self.confirming.as_mut() {
                    c.sent += 1;
                    // A round sent late (the daemon was not scheduled at its start) still
                    // gets a whole timeout for its answers.
                    round.deadline = c.deadline().max(now + c.timeout);
                    // The last round sent: the verdict, not a clock, decides what comes next.
                    self.next_round = (c.sent < c.rounds).then_some(c.start_of(c.sent));
                }
                for (slot, ip) in wan.targets(self.family) {
                    probe(&mut round, slot, ip);
                }
                true
            }
            Kind::Full => {
                for (slot, ip) in wan.targets(self.family) {
                    probe(&mut round, slot, ip);
                }
                self.next_round = Some(next_tick(now.max(due), wan.interval_while_down()));
                true
            }
        };
        if let (true, true, Some(gw)) = (wan.check_gateway, with_gateway, gateway) {
            probe(&mut round, GATEWAY_SLOT, gw);
        }
        let _ = self.rounds.push_back(round); // room was made above
    }

    /// Hands `each` the sequence number of every probe whose round was judged, since the
    /// last call, without its answer (nor a known loss): its answer no longer decides
    /// anything. The caller closes such probes' TCP sockets, which keeps at most every
    /// target of [`ROUNDS_IN_FLIGHT`] rounds open. Call after each call that judges
    /// ([`WanHealth::handle_timeout`], [`WanHealth::start_round`]); older rounds beyond
    /// [`ROUNDS_IN_FLIGHT`] are forgotten.
    pub fn take_abandoned(&mut self, each: &mut dyn FnMut(u16)) {
        while let Some((number, slots)) = self.abandoned.pop_front() {
            for slot in (0..SLOTS).filter(|&slot| slots & (1 << slot) != 0) {
                each(sequence(number, slot));
            }
        }
    }
}
