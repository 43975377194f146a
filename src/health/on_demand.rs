//! An on-demand round (`ubus call dualwan probe`): one probe to every target and the
//! gateway of a WAN, at once, answered with each probe's outcome and RTT.
//!
//! Contract:
//! - It is no part of the health: its answers never reach a [`super::WanHealth`], so it is
//!   no steady probe, no confirmation round and no RTT sample, and cannot move traffic.
//!   Its probes are told apart by their sequence number (ICMP sequence, TCP token): bit 15
//!   set ([`ON_DEMAND_BIT`]), which the health's rounds never use ([`super::sequence`]
//!   keeps 11 bits of round number). Its own 11-bit serial tells its rounds apart, so an
//!   answer that comes after its round ended counts for nothing.
//! - A probe is pending until it is answered (RTT from the round's start), known lost (an
//!   error text) or the round's deadline passes (`timeout`). The round is complete when no
//!   probe is pending. Pure: every method takes `now`; fixed capacity, no allocation.

use super::round::{GATEWAY_SLOT, ROUND_NUMBER_MASK};
use crate::config::MAX_TARGETS;
use crate::time::{Duration, Instant};
use core::fmt::Write;
use core::net::IpAddr;

/// Set in the sequence number of every on-demand probe, never in a health round's.
pub const ON_DEMAND_BIT: u16 = 0x8000;
/// Probes of one round: every target (of both families) and a gateway per family.
pub const ON_DEMAND_PROBES: usize = MAX_TARGETS + 2;
/// Longest error text kept for a probe (a local error's words); longer ones are cut.
pub const ERROR_TEXT_MAX: usize = 48;

/// A probe's error text (`timeout`, `unreachable`, a local error).
pub type ErrorText = heapless::String<ERROR_TEXT_MAX>;

/// The sequence number (ICMP) or token (TCP) of on-demand round `serial`'s probe in `slot`
/// (`track_ip[slot]`, or [`GATEWAY_SLOT`]).
pub fn on_demand_sequence(serial: u16, slot: usize) -> u16 {
    ON_DEMAND_BIT | ((serial & ROUND_NUMBER_MASK) << 4) | (slot as u16 & 0x0f)
}

/// True for the sequence number of an on-demand probe: its answer goes to the on-demand
/// round, never to the health.
pub fn is_on_demand(seq: u16) -> bool {
    seq & ON_DEMAND_BIT != 0
}

/// What a probe asked.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ProbeKind {
    /// A `track_ip`.
    Target,
    /// The WAN's gateway (always pinged).
    Gateway,
}

impl ProbeKind {
    /// `target` / `gateway`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeKind::Target => "target",
            ProbeKind::Gateway => "gateway",
        }
    }
}

/// How a probe ended (so far).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Sent, nothing yet.
    Pending,
    /// Answered after this long.
    Answered(Duration),
    /// Not answered: `timeout`, `unreachable` or a local error.
    Failed(ErrorText),
}

/// One probe of an on-demand round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnDemandProbe {
    /// Where it went.
    pub dst: IpAddr,
    /// A target or the gateway.
    pub kind: ProbeKind,
    /// The TCP port for a target probed with TCP; `None` for ICMP.
    pub tcp_port: Option<u16>,
    /// Its ICMP sequence number or TCP token.
    pub seq: u16,
    /// How it ended.
    pub outcome: Outcome,
}

/// One on-demand round of one WAN. See the module contract.
#[derive(Clone, Debug)]
pub struct OnDemandRound {
    serial: u16,
    start: Instant,
    deadline: Instant,
    probes: heapless::Vec<OnDemandProbe, ON_DEMAND_PROBES>,
}

impl OnDemandRound {
    /// Round `serial`, started at `now`, judged at `now + timeout` at the latest.
    pub fn new(serial: u16, now: Instant, timeout: Duration) -> Self {
        OnDemandRound { serial, start: now, deadline: now + timeout, probes: heapless::Vec::new() }
    }

    /// Adds the probe of `slot` to `dst` and returns its sequence number (token), or `None`
    /// when the round is full (it cannot be: every target and two gateways fit).
    pub fn add(&mut self, dst: IpAddr, slot: usize, tcp_port: Option<u16>) -> Option<u16> {
        let seq = on_demand_sequence(self.serial, slot);
        let kind = if slot == GATEWAY_SLOT { ProbeKind::Gateway } else { ProbeKind::Target };
        self.probes.push(OnDemandProbe { dst, kind, tcp_port, seq, outcome: Outcome::Pending }).ok()?;
        Some(seq)
    }

    /// When it is judged at the latest.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Its probes, in the order they were added.
    pub fn probes(&self) -> &[OnDemandProbe] {
        &self.probes
    }

    fn pending(&mut self, dst: IpAddr, seq: u16) -> Option<&mut OnDemandProbe> {
        self.probes.iter_mut().find(|p| p.seq == seq && p.dst == dst && p.outcome == Outcome::Pending)
    }

    /// An answer from `src` to the probe `seq` arrived at `now`. False if no pending probe
    /// of this round matches (late, duplicate, foreign).
    pub fn handle_answer(&mut self, now: Instant, src: IpAddr, seq: u16) -> bool {
        let start = self.start;
        match self.pending(src, seq) {
            Some(p) => {
                p.outcome = Outcome::Answered(now.saturating_since(start));
                true
            }
            None => false,
        }
    }

    /// The probe `seq` to `dst` is known lost: `why` says how (cut to [`ERROR_TEXT_MAX`]).
    pub fn handle_lost(&mut self, dst: IpAddr, seq: u16, why: &dyn core::fmt::Display) -> bool {
        match self.pending(dst, seq) {
            Some(p) => {
                let mut text = ErrorText::new();
                let _ = write!(text, "{why}"); // cut at capacity
                p.outcome = Outcome::Failed(text);
                true
            }
            None => false,
        }
    }

    /// Every probe still pending fails with `why` (the deadline passed: `timeout`; the
    /// round was given up: a reload, a stop).
    pub fn fail_pending(&mut self, why: &str) {
        for p in self.probes.iter_mut().filter(|p| p.outcome == Outcome::Pending) {
            let mut text = ErrorText::new();
            let _ = text.push_str(&why[..why.len().min(ERROR_TEXT_MAX)]);
            p.outcome = Outcome::Failed(text);
        }
    }

    /// Judges the round at `now`: past its deadline every pending probe timed out. True
    /// when no probe is pending any more.
    pub fn handle_timeout(&mut self, now: Instant) -> bool {
        if now >= self.deadline {
            self.fail_pending("timeout");
        }
        self.is_complete()
    }

    /// No probe is pending.
    pub fn is_complete(&self) -> bool {
        self.probes.iter().all(|p| p.outcome != Outcome::Pending)
    }
}

#[cfg(test)]
mod tests {
    use super::super::sequence;
    use super::*;

    #[test]
    fn on_demand_sequences_never_meet_the_health_rounds() {
        for round in [0u16, 1, 0x7ff, 0x800, 0xfff, 0xffff] {
            for slot in 0..=GATEWAY_SLOT {
                assert!(!is_on_demand(sequence(round, slot)), "health round {round} slot {slot}");
                assert!(is_on_demand(on_demand_sequence(round, slot)));
            }
        }
        assert_ne!(on_demand_sequence(1, 0), on_demand_sequence(2, 0), "serials tell rounds apart");
    }

    #[test]
    fn a_round_ends_when_every_probe_is_answered_lost_or_timed_out() {
        let t0 = Instant::from_millis(1000);
        let a: IpAddr = "198.51.100.1".parse().unwrap();
        let b: IpAddr = "203.0.113.1".parse().unwrap();
        let gw: IpAddr = "192.0.2.1".parse().unwrap();
        let mut r = OnDemandRound::new(5, t0, Duration::from_millis(500));
        let sa = r.add(a, 0, None).unwrap();
        let sb = r.add(b, 1, Some(443)).unwrap();
        let sg = r.add(gw, GATEWAY_SLOT, None).unwrap();
        assert!(!r.handle_answer(t0 + Duration::from_millis(3), gw, sa), "from another host");
        assert!(r.handle_answer(t0 + Duration::from_millis(12), a, sa));
        assert!(!r.handle_answer(t0 + Duration::from_millis(13), a, sa), "a duplicate");
        assert!(r.handle_lost(b, sb, &"EHOSTUNREACH: No route to host"));
        assert!(!r.handle_timeout(t0 + Duration::from_millis(499)), "the gateway may still answer");
        assert!(r.handle_timeout(t0 + Duration::from_millis(500)));
        let outcomes: Vec<_> = r.probes().iter().map(|p| (p.kind, p.seq, p.outcome.clone())).collect();
        let failed = |s: &str| Outcome::Failed(ErrorText::try_from(s).unwrap());
        assert_eq!(
            outcomes,
            [
                (ProbeKind::Target, sa, Outcome::Answered(Duration::from_millis(12))),
                (ProbeKind::Target, sb, failed("EHOSTUNREACH: No route to host")),
                (ProbeKind::Gateway, sg, failed("timeout")),
            ]
        );
    }
}
