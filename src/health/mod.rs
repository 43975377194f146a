//! Per-WAN health: probes, per-target RTT/jitter/loss and adaptive timeouts, and the
//! hysteresis state machine that turns their answers and link facts into online/offline.
//!
//! One `WanHealth` judges one family of one WAN: IPv4 and IPv6 of a line can fail apart
//! (an ISP's IPv6 breaks while IPv4 works), so each has its own probes and state. Pure:
//! every method takes `now`. A probe is a destination and a 16-bit sequence number; its
//! answer ([`WanHealth::handle_reply`]) or early loss ([`WanHealth::handle_lost`]) does not
//! care whether it went out as an ICMP echo or a TCP SYN.
//!
//! Contract, how a line is watched:
//!
//! - **Steady probes** (state `Up`, nothing suspicious): one probe per `interval`, to the
//!   family's targets in turn. They go out on a grid of multiples of `interval` on the
//!   monotonic clock, so every WAN and family with the same interval sends in the same
//!   wake-up. Every [`GATEWAY_EVERY`]th steady probe also asks the gateway (for its RTT in
//!   the status; its answer never decides health). A WAN that carries none of the
//!   family's traffic (standby) probes on every [`STANDBY_EVERY`]th grid point instead.
//! - **Adaptive timeout.** A probe to a target is lost when it is not answered within that
//!   target's timeout: RFC 6298's estimator over its answered probes, smoothed RTT + 4 ×
//!   RTT variation, at least [`RTO_MIN`] and at most `timeout` (`timeout` itself until the
//!   target has answered once).
//! - **Confirmation.** A steady probe that is lost, to a target whose previous probe was
//!   answered, starts a confirmation: `down` rounds, each to every target of the family and
//!   the gateway, the first at once and the others half a confirmation timeout apart (the
//!   largest adaptive timeout of the family's targets), so the sends span the line's own
//!   timeouts: a loss burst shorter than that cannot fail every round, and a jittery line
//!   (Wi-Fi, LTE) gets a longer span. All rounds share one deadline, the last one's start
//!   plus the timeout (a round that went out late, its daemon not scheduled in time, gets
//!   a whole timeout from its send), and the lost steady probe stays open until then too, so its answer
//!   and the early rounds' may come late (a delay spike is not a dead line). As soon as
//!   one round (or, with `reliability 1`, that steady probe) has `reliability` answers the
//!   line is alive: no more rounds go out, the outstanding ones become samples, and steady
//!   probing resumes at the next grid point. The line is down when all `down` rounds
//!   failed.
//! - **Rounds while not up** (`Init`, `Down`): every half `interval` a round to every target and
//!   the gateway with `timeout` as its deadline; the first verdict decides `Init`, and `up`
//!   good rounds in a row bring a `Down` WAN back (traffic returns after `recovery_wait`).
//! - A round is good when at least `reliability` targets of the family answered (at most
//!   as many as it has). A steady probe is a round of one target that never counts as
//!   good or bad by itself. The gateway's answer only names the cause of a failure
//!   (`gateway … unreachable`); many ISP gateways drop ICMP.
//! - Rounds are judged strictly in the order they started, when all their probes have
//!   answered or been lost, or at their deadline; an answer counts as long as its round has
//!   not been judged. An answer ends only complete rounds ([`WanHealth::handle_complete`]);
//!   deadlines are judged by [`WanHealth::handle_timeout`] after the loop read every
//!   waiting answer, so a daemon that was not scheduled at a deadline does not lose answers
//!   that were waiting for it, not even those queued behind another round's.
//! - A round judged without some of its answers names those probes once
//!   ([`WanHealth::take_abandoned`]): a TCP probe's socket is closed then, as its answer
//!   no longer decides anything (an echo reply that comes late still teaches the RTT).
//! - **Quality** (`check_quality`): the family's last [`HISTORY`] target probes, of any
//!   kind, give the loss (percent lost) and the latency (mean RTT of the answered ones).
//!   While up with a full window, loss ≥ `failure_loss` or latency ≥ `failure_latency`
//!   takes the line down at once; while down, a round is good only if loss ≤
//!   `recovery_loss` and latency ≤ `recovery_latency` as well.
//!
//! Detection of a silent failure (every answer stops at t = 0): the next steady probe goes
//! out within `interval`, is lost after its target's timeout, and the confirmation ends
//! (`down` - 1) / 2 + 1 timeouts later: at most `interval` + (`down` + 3) / 2 × timeout,
//! where timeout is the adaptive one ([`RTO_MIN`] on a short, steady path; `timeout` at
//! worst). README's "Why
//! these defaults" has the arithmetic, also of false switches under random loss.
//!
//! One [`WanHealth`] per WAN and family; its methods are spread by idea: `round` (rounds,
//! sequence numbers, sending), `reply` (answers, known losses, late answers), `judge`
//! (verdicts through the hysteresis), `confirm` (a lost steady probe's confirmation) and
//! `quality` (`check_quality`); `stats` holds a target's record and RTT estimator, `reason`
//! the reasons and their words. This module holds the state machine: its state, the
//! statuses it shows, its accessors and the link coming and going.

mod confirm;
mod judge;
pub mod on_demand;
mod quality;
mod reason;
mod reply;
mod round;
mod stats;

pub use reason::Reason;
pub use reply::{answer_window, ReplyOutcome, LATE_MAX};
pub use round::{sequence, slot_of, GATEWAY_EVERY, GATEWAY_SLOT, ROUNDS_IN_FLIGHT, STANDBY_EVERY};
pub use stats::{TargetStats, HISTORY, RTO_MIN};

use crate::config::{Wan, MAX_TARGETS};
use crate::route::Family;
use crate::time::Instant;
use confirm::Confirmation;
use core::fmt;
use reply::LateProbe;
use round::Round;

/// The state machine. Each variant carries the counter its hysteresis needs.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// Usable link, no round judged yet since start: the first verdict decides.
    Init,
    /// Working; `bad_rounds` failed confirmation rounds in a row so far (< `down`).
    Up {
        /// Consecutive failed rounds.
        bad_rounds: u8,
    },
    /// Not working; `good_rounds` good rounds in a row so far (< `up`).
    Down {
        /// Consecutive good rounds.
        good_rounds: u8,
    },
    /// No carrier, no device, no address or no gateway: nothing is probed.
    NoLink,
    /// `option enabled '0'`.
    Disabled,
}

/// What the outside world sees (ubus, LuCI): mwan3's vocabulary.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Up, last round good.
    Online,
    /// Down, last round bad.
    Offline,
    /// Down but recovering (or no verdict yet).
    Connecting,
    /// Up but failing.
    Disconnecting,
    /// Disabled in the config.
    Disabled,
    /// No carrier, device, address or gateway.
    NoLink,
}

impl Status {
    /// The status word used in logs, ubus and LuCI.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Online => "online",
            Status::Offline => "offline",
            Status::Connecting => "connecting",
            Status::Disconnecting => "disconnecting",
            Status::Disabled => "disabled",
            Status::NoLink => "no_link",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A change of [`Status`] worth reporting.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    /// Status before.
    pub from: Status,
    /// Status after.
    pub to: Status,
    /// Why.
    pub reason: Reason,
}

impl Transition {
    /// The WAN became usable (hotplug `ACTION=connected`).
    pub fn went_up(&self) -> bool {
        let up = |s: Status| matches!(s, Status::Online | Status::Disconnecting);
        up(self.to) && !up(self.from)
    }

    /// The WAN stopped being usable (hotplug `ACTION=disconnected`).
    pub fn went_down(&self) -> bool {
        let up = |s: Status| matches!(s, Status::Online | Status::Disconnecting);
        up(self.from) && !up(self.to)
    }
}

/// Health of one family of one WAN.
#[derive(Clone, Debug)]
pub struct WanHealth {
    family: Family,
    state: State,
    since: Instant,
    reason: Reason,
    transitions: u32,
    /// Traffic may go to this WAN from this instant on (recovery wait after a return).
    eligible_at: Instant,
    /// Indexed like `track_ip`; only the entries of this family are used.
    targets: [TargetStats; MAX_TARGETS],
    gateway: TargetStats,
    /// The family's last target probes, any target: the quality window.
    recent: TargetStats,
    rounds: heapless::Deque<Round, ROUNDS_IN_FLIGHT>,
    /// The newest probes judged lost, for their late answers.
    late: heapless::Deque<LateProbe, LATE_MAX>,
    /// Per round judged since the last [`WanHealth::take_abandoned`]: its number and the
    /// slots whose probes were neither answered nor known lost (bit per slot).
    abandoned: heapless::Deque<(u16, u16), ROUNDS_IN_FLIGHT>,
    /// When the next probe or round goes out while probing; `None` while not probing (or
    /// while a confirmation that has sent all its rounds waits for their verdict).
    next_round: Option<Instant>,
    confirming: Option<Confirmation>,
    /// Position of the next steady probe among the family's targets.
    turn: u8,
    /// Steady probes sent: the gateway goes with every GATEWAY_EVERYth.
    steady: u16,
    round_number: u16,
    /// Replies that matched nothing outstanding (late, foreign, duplicate).
    ignored: u32,
    /// Confirmations started since start.
    confirmations: u32,
    /// Carries none of the family's traffic (see [`WanHealth::set_standby`]).
    standby: bool,
}

impl WanHealth {
    /// The `family` health of `wan`, not judged yet. A disabled WAN, or one without
    /// targets of the family, stays `Disabled`.
    pub fn new(now: Instant, wan: &Wan, family: Family) -> WanHealth {
        let (state, reason) = if !wan.enabled {
            (State::Disabled, Reason::Disabled)
        } else if !wan.tracks(family) {
            (State::Disabled, Reason::NotTracked(family))
        } else {
            (State::NoLink, Reason::Starting)
        };
        WanHealth {
            family,
            state,
            since: now,
            reason,
            transitions: 0,
            eligible_at: now,
            targets: Default::default(),
            gateway: TargetStats::default(),
            recent: TargetStats::default(),
            rounds: heapless::Deque::new(),
            late: heapless::Deque::new(),
            abandoned: heapless::Deque::new(),
            next_round: None,
            confirming: None,
            turn: 0,
            steady: 0,
            round_number: 0,
            ignored: 0,
            confirmations: 0,
            standby: false,
        }
    }

    /// Whether this WAN carries none of the family's traffic now: a failover backup, or a
    /// WAN waiting out `recovery_wait`. Its steady probes then go every
    /// [`STANDBY_EVERY`]th grid point: a backup's health matters only once the active line
    /// fails, and on a metered backup (LTE) every probe is paid for. Becoming a carrier
    /// brings its next steady probe forward to the interval's grid.
    pub fn set_standby(&mut self, now: Instant, standby: bool, wan: &Wan) {
        if self.standby && !standby && self.confirming.is_none() && matches!(self.state, State::Up { .. }) {
            let sooner = round::next_tick(now, wan.interval);
            if self.next_round.is_some_and(|at| sooner < at) {
                self.next_round = Some(sooner);
            }
        }
        self.standby = standby;
    }

    /// The family it judges.
    pub fn family(&self) -> Family {
        self.family
    }

    /// The state machine's state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Status as the outside world names it.
    pub fn status(&self) -> Status {
        match self.state {
            State::Init => Status::Connecting,
            // A confirmation shows, but is no transition of its own: the verdict is one.
            State::Up { bad_rounds: 0 } if self.confirming.is_none() => Status::Online,
            State::Up { .. } => Status::Disconnecting,
            State::Down { good_rounds: 0 } => Status::Offline,
            State::Down { .. } => Status::Connecting,
            State::NoLink => Status::NoLink,
            State::Disabled => Status::Disabled,
        }
    }

    /// True while the WAN can carry traffic.
    pub fn is_up(&self) -> bool {
        matches!(self.state, State::Up { .. })
    }

    /// Since when the WAN is up (or not up), for online/offline durations.
    pub fn since(&self) -> Instant {
        self.since
    }

    /// Reason of the last transition.
    pub fn reason(&self) -> Reason {
        self.reason
    }

    /// How often the WAN went up or down since start.
    pub fn transitions(&self) -> u32 {
        self.transitions
    }

    /// When traffic may (re)turn to this WAN.
    pub fn eligible_at(&self) -> Instant {
        self.eligible_at
    }

    /// Stats of `track_ip[i]` (empty for a target of the other family).
    pub fn target(&self, i: usize) -> &TargetStats {
        &self.targets[i]
    }

    /// Stats of the gateway probes.
    pub fn gateway(&self) -> &TargetStats {
        &self.gateway
    }

    /// The family's last [`HISTORY`] target probes: its loss and latency (the quality).
    pub fn recent(&self) -> &TargetStats {
        &self.recent
    }

    /// Replies that were not counted.
    pub fn ignored(&self) -> u32 {
        self.ignored
    }

    /// Confirmations started since start (each after a lost steady probe).
    pub fn confirmations(&self) -> u32 {
        self.confirmations
    }

    /// True while a confirmation is sending rounds or waiting for their verdict.
    pub fn is_confirming(&self) -> bool {
        self.confirming.is_some()
    }

    /// Is probing going on (a probe or round scheduled, or one waiting for answers)?
    pub fn is_probing(&self) -> bool {
        self.next_round.is_some() || self.confirming.is_some()
    }

    /// The earliest instant at which [`WanHealth::handle_timeout`] or
    /// [`WanHealth::start_round`] has work.
    pub fn next_deadline(&self) -> Option<Instant> {
        let judge = self.rounds.front().map(|r| r.deadline);
        match (judge, self.next_round) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn set_state(&mut self, now: Instant, state: State, reason: Reason) -> Option<Transition> {
        // online<->disconnecting and offline<->connecting are progress within one state, not
        // transitions: they keep `since` and the reason.
        let class = |s: State| match s {
            State::Init => 0,
            State::Up { .. } => 1,
            State::Down { .. } => 2,
            State::NoLink => 3,
            State::Disabled => 4,
        };
        let before = self.status();
        if class(self.state) != class(state) {
            self.since = now;
            self.reason = reason;
        }
        if self.is_up() != matches!(state, State::Up { .. }) {
            self.transitions += 1;
        }
        self.state = state;
        let after = self.status();
        (before != after).then_some(Transition { from: before, to: after, reason })
    }

    /// The link became usable (device present, carrier, address, gateway): probing starts.
    /// After a link loss the WAN needs `up` good rounds (and `recovery_wait`) again.
    pub fn link_usable(&mut self, now: Instant) -> Option<Transition> {
        if self.is_probing() || matches!(self.state, State::Disabled) || !self.rounds.is_empty() {
            return None;
        }
        self.next_round = Some(now);
        let fresh = self.transitions == 0 && self.reason == Reason::Starting;
        let (state, reason) = if fresh {
            (State::Init, Reason::Starting)
        } else {
            (State::Down { good_rounds: 0 }, Reason::LinkRestored)
        };
        self.set_state(now, state, reason)
    }

    /// The link became unusable: probing stops and the WAN is down at once. What was
    /// measured of the old link no longer says anything about quality.
    pub fn link_lost(&mut self, now: Instant, reason: Reason) -> Option<Transition> {
        if self.state == State::Disabled {
            return None;
        }
        self.next_round = None;
        self.confirming = None;
        self.rounds.clear();
        self.late.clear();
        self.abandoned.clear();
        self.recent.clear();
        if self.state == State::NoLink {
            // Still no link; the newest cause is the one to show (a device that is deleted
            // is first reported down, then missing).
            self.reason = reason;
            return None;
        }
        self.set_state(now, State::NoLink, reason)
    }
}

#[cfg(test)]
mod tests;
