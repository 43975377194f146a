//! `check_quality`: the family's quality window read as loss and latency, judged against
//! `failure_loss`/`failure_latency` while up (only with a full window) and against
//! `recovery_loss`/`recovery_latency` while not up.

use super::{Reason, WanHealth, HISTORY};
use crate::config::Wan;

impl WanHealth {
    /// The window's loss (percent) and latency (ms, 0 without answers).
    fn quality(&self) -> (u8, u32) {
        let ms = self.recent.avg_rtt().map_or(0, |d| d.as_millis().min(u64::from(u32::MAX)) as u32);
        (self.recent.loss_percent(), ms)
    }

    /// `check_quality`'s verdict on a WAN that is up: the reason to take it down, if any.
    /// Only a full window is evidence enough.
    pub(super) fn quality_failure(&self, wan: &Wan) -> Option<Reason> {
        if !wan.check_quality || self.recent.probes() < HISTORY {
            return None;
        }
        let (percent, ms) = self.quality();
        if percent >= wan.failure_loss {
            return Some(Reason::Loss { percent, limit: wan.failure_loss, recovering: false });
        }
        (ms >= wan.failure_latency).then_some(Reason::Latency { ms, limit: wan.failure_latency, recovering: false })
    }

    /// `check_quality`'s verdict on a WAN that is not up: why it is not good enough to
    /// count a round as good, if it is not.
    pub(super) fn quality_short(&self, wan: &Wan) -> Option<Reason> {
        if !wan.check_quality {
            return None;
        }
        let (percent, ms) = self.quality();
        if percent > wan.recovery_loss {
            return Some(Reason::Loss { percent, limit: wan.recovery_loss, recovering: true });
        }
        (ms > wan.recovery_latency).then_some(Reason::Latency { ms, limit: wan.recovery_latency, recovering: true })
    }
}
