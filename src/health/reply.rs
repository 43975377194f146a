//! Answers: a reply finds its outstanding probe by sequence number and source (or is only
//! counted as ignored), a probe can be known lost before its deadline, and the answer to a
//! probe already judged lost (one of the last [`LATE_MAX`]) still teaches its target's RTT
//! estimator. [`answer_window`] bounds how long any answer may count.

use super::round::{Kind, GATEWAY_SLOT, ROUND_NUMBER_MASK, SLOTS};
use super::stats::micros;
use super::WanHealth;
use crate::config::{Wan, MAX_TARGETS};
use crate::time::{Duration, Instant};
use core::net::IpAddr;

/// Probes remembered after their round was judged without their answer: one that comes
/// late still teaches the RTT estimator (a delay spike raises the timeouts).
pub const LATE_MAX: usize = 16;

/// What became of one received answer.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ReplyOutcome {
    /// Answered an outstanding probe.
    Matched(Duration),
    /// Answered a probe already judged lost: its RTT teaches the timeout, nothing else.
    Late(Duration),
    /// No outstanding probe has this sequence number (late, or never sent).
    Unknown,
    /// The probe with this sequence went to another address.
    WrongSource,
    /// The probe was already answered (or already known lost).
    Duplicate,
}

/// A probe judged lost whose answer may still come.
#[derive(Copy, Clone, Debug)]
pub(super) struct LateProbe {
    pub(super) seq: u16,
    pub(super) dst: IpAddr,
    pub(super) start: Instant,
    /// Its slot: `track_ip[slot]`, or [`GATEWAY_SLOT`].
    pub(super) slot: u8,
}

/// The longest an answer to a probe may count after the probe went out: the steady probe
/// that starts a confirmation waits for the confirmation's verdict, at most its own timeout,
/// `down` - 1 half timeouts and a timeout more; every other round's deadline comes sooner.
/// A TCP probe's socket is kept that long at most.
pub fn answer_window(wan: &Wan) -> Duration {
    let half = Duration::from_micros(wan.timeout.as_micros() / 2);
    wan.timeout * 2 + half * u32::from(wan.down.max(1) - 1)
}

impl WanHealth {
    /// Finds the outstanding probe `seq` went out as: (round index, slot).
    fn probe_of(&self, src: IpAddr, seq: u16) -> Result<(usize, usize), ReplyOutcome> {
        let slot = usize::from(seq & 0x0f);
        let number = seq >> 4;
        let (i, r) = self
            .rounds
            .iter()
            .enumerate()
            .find(|(_, r)| r.number & ROUND_NUMBER_MASK == number)
            .ok_or(ReplyOutcome::Unknown)?;
        if slot >= SLOTS || r.sent & (1 << slot) == 0 {
            return Err(ReplyOutcome::Unknown);
        }
        if r.dst[slot] != src {
            return Err(ReplyOutcome::WrongSource);
        }
        if (r.answered | r.lost) & (1 << slot) != 0 {
            return Err(ReplyOutcome::Duplicate);
        }
        Ok((i, slot))
    }

    /// An answer from `src` to the probe with sequence `seq` arrived at `now`: an echo
    /// reply, or for TCP a SYN-ACK or a reset.
    pub fn handle_reply(&mut self, now: Instant, src: IpAddr, seq: u16) -> ReplyOutcome {
        let (i, slot) = match self.probe_of(src, seq) {
            Ok(found) => found,
            Err(ReplyOutcome::Unknown) => {
                let Some(p) = self.late.iter().find(|p| p.seq == seq && p.dst == src).copied() else {
                    self.ignored = self.ignored.saturating_add(1);
                    return ReplyOutcome::Unknown;
                };
                // Forget it: a duplicate answer is no second sample.
                self.late.iter_mut().filter(|q| q.seq == seq).for_each(|q| q.dst = self.family.unspecified());
                let rtt = now.saturating_since(p.start);
                match usize::from(p.slot) {
                    GATEWAY_SLOT => self.gateway.learn(rtt),
                    slot => self.targets[slot % MAX_TARGETS].learn(rtt),
                }
                return ReplyOutcome::Late(rtt);
            }
            Err(outcome) => {
                self.ignored = self.ignored.saturating_add(1);
                return outcome;
            }
        };
        let Some(r) = self.rounds.iter_mut().nth(i) else { return ReplyOutcome::Unknown };
        let rtt = now.saturating_since(r.start);
        r.answered |= 1 << slot;
        r.rtt[slot] = micros(rtt);
        let evidence = matches!(r.kind, Kind::Confirm | Kind::Trigger);
        if evidence && self.confirming.is_some_and(|c| r.targets_answered() >= c.need) {
            self.end_confirmation(now);
        }
        ReplyOutcome::Matched(rtt)
    }

    /// The probe to `dst` with sequence `seq` is known lost before its deadline (an ICMP
    /// error about it, a TCP connection refused by a firewall on the way). Returns false
    /// if no outstanding probe matches.
    pub fn handle_lost(&mut self, dst: IpAddr, seq: u16) -> bool {
        let Ok((i, slot)) = self.probe_of(dst, seq) else { return false };
        if let Some(r) = self.rounds.iter_mut().nth(i) {
            r.lost |= 1 << slot;
        }
        true
    }
}
