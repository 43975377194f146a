//! One probe target's record: its last [`HISTORY`] probes (loss, mean RTT, jitter) and
//! RFC 6298's RTT estimator, which gives its adaptive timeout (at least [`RTO_MIN`], at most
//! the WAN's `timeout`). The same record over every target of a family is its quality
//! window.

use crate::time::Duration;

/// Probes remembered per target for loss, average RTT and jitter; also the quality window.
pub const HISTORY: usize = 16;
/// The adaptive timeout's floor: below it, scheduling noise on a busy router and a
/// target's occasional slow answer would start confirmations for nothing.
pub const RTO_MIN: Duration = Duration::from_millis(50);
const LOST: u32 = u32::MAX;

/// RTT history of one probe target, and its adaptive timeout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetStats {
    /// Newest last; `LOST` marks a probe without answer. Only `filled` entries are valid.
    samples: [u32; HISTORY],
    next: u8,
    filled: u8,
    /// Smoothed RTT and RTT variation in µs (RFC 6298), valid once `estimated`.
    srtt: u32,
    rttvar: u32,
    estimated: bool,
}

impl Default for TargetStats {
    fn default() -> Self {
        TargetStats { samples: [LOST; HISTORY], next: 0, filled: 0, srtt: 0, rttvar: 0, estimated: false }
    }
}

pub(super) fn micros(d: Duration) -> u32 {
    d.as_micros().min(u64::from(LOST - 1)) as u32
}

impl TargetStats {
    /// Records one probe: its RTT, or `None` if it was lost.
    pub fn record(&mut self, rtt: Option<Duration>) {
        let us = rtt.map_or(LOST, micros);
        self.samples[usize::from(self.next)] = us;
        self.next = (self.next + 1) % HISTORY as u8;
        self.filled = (self.filled + 1).min(HISTORY as u8);
        if us == LOST {
            return;
        }
        // RFC 6298 2.2/2.3: the first answer sets SRTT = R, RTTVAR = R/2; then
        // RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R| and SRTT = 7/8 SRTT + 1/8 R.
        if self.estimated {
            let deviation = self.srtt.abs_diff(us);
            self.rttvar = ((u64::from(self.rttvar) * 3 + u64::from(deviation)) / 4) as u32;
            self.srtt = ((u64::from(self.srtt) * 7 + u64::from(us)) / 8) as u32;
        } else {
            (self.srtt, self.rttvar, self.estimated) = (us, us / 2, true);
        }
    }

    /// Learns from an answer that came too late to count: the RTT estimate only, so that
    /// the timeout grows with a delay spike (the probe stays lost in the history).
    pub fn learn(&mut self, rtt: Duration) {
        let (samples, next, filled) = (self.samples, self.next, self.filled);
        self.record(Some(rtt));
        (self.samples, self.next, self.filled) = (samples, next, filled);
    }

    /// Forgets every probe and the RTT estimate.
    pub fn clear(&mut self) {
        *self = TargetStats::default();
    }

    /// Samples oldest first.
    fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        let start = (usize::from(self.next) + HISTORY - usize::from(self.filled)) % HISTORY;
        (0..usize::from(self.filled)).map(move |i| self.samples[(start + i) % HISTORY])
    }

    /// Probes in the history.
    pub fn probes(&self) -> usize {
        usize::from(self.filled)
    }

    /// RTT of the newest probe, if it was answered.
    pub fn last_rtt(&self) -> Option<Duration> {
        self.iter().last().filter(|&s| s != LOST).map(|s| Duration::from_micros(u64::from(s)))
    }

    /// True if the newest probe was answered.
    pub fn is_up(&self) -> bool {
        self.last_rtt().is_some()
    }

    /// Lost probes in the history, in percent rounded down (0 with no history).
    pub fn loss_percent(&self) -> u8 {
        if self.filled == 0 {
            return 0;
        }
        let lost = self.iter().filter(|&s| s == LOST).count();
        (lost * 100 / usize::from(self.filled)) as u8
    }

    /// Mean RTT of the answered probes in the history.
    pub fn avg_rtt(&self) -> Option<Duration> {
        let (sum, n) = self.iter().filter(|&s| s != LOST).fold((0u64, 0u64), |(s, n), x| (s + u64::from(x), n + 1));
        (n > 0).then(|| Duration::from_micros(sum / n))
    }

    /// Jitter: mean absolute difference between consecutive answered probes.
    pub fn jitter(&self) -> Option<Duration> {
        let mut prev = None;
        let (mut sum, mut n) = (0u64, 0u64);
        for s in self.iter().filter(|&s| s != LOST) {
            if let Some(p) = prev {
                sum += u64::from(s.abs_diff(p));
                n += 1;
            }
            prev = Some(s);
        }
        (n > 0).then(|| Duration::from_micros(sum / n))
    }

    /// How long a probe to this target may take: smoothed RTT + 4 × variation, within
    /// [`RTO_MIN`] … `ceiling`; `ceiling` before the first answer.
    pub fn timeout(&self, ceiling: Duration) -> Duration {
        if !self.estimated {
            return ceiling;
        }
        let rto = Duration::from_micros(u64::from(self.srtt) + 4 * u64::from(self.rttvar));
        rto.max(RTO_MIN).min(ceiling)
    }
}
