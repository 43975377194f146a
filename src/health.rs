//! Per-WAN health: probe rounds, per-target RTT/jitter/loss, and the hysteresis state
//! machine that turns round results and link facts into online/offline.
//!
//! One `WanHealth` judges one family of one WAN: IPv4 and IPv6 of a line can fail apart
//! (an ISP's IPv6 breaks while IPv4 works), so each has its own rounds and state.
//!
//! Pure: every method takes `now`. A round sends one echo request to every `track_ip` of
//! its family (and to that family's gateway when `check_gateway`); it ends when all have answered or its timeout
//! passes, and rounds are judged strictly in the order they started, so overlapping rounds
//! (timeout > interval) cannot reorder the verdicts. A round is good when at least
//! `reliability` targets of the family answered (at most as many as it has); the gateway's answer only names the cause of a failure,
//! it never takes a WAN down by itself (many ISP gateways drop ICMP).

use crate::config::{Wan, MAX_TARGETS};
use crate::route::Family;
use crate::time::{Duration, Instant};
use core::fmt;
use core::net::IpAddr;

/// Probes remembered per target for loss, average RTT and jitter.
pub const HISTORY: usize = 16;
/// Rounds that may be waiting for replies at once; when a new round would exceed this, the
/// oldest is judged early (only with timeout > 8 × interval).
pub const ROUNDS_IN_FLIGHT: usize = 8;
/// A healthy WAN's gateway is probed every this many rounds (every round otherwise).
pub const GATEWAY_EVERY: u16 = 4;
/// Probe slot of the gateway; `track_ip[i]` uses slot `i`.
pub const GATEWAY_SLOT: usize = MAX_TARGETS;
const SLOTS: usize = MAX_TARGETS + 1;
const LOST: u32 = u32::MAX;

/// RTT history of one probe target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetStats {
    /// Newest last; `LOST` marks a probe without answer. Only `filled` entries are valid.
    samples: [u32; HISTORY],
    next: u8,
    filled: u8,
}

impl Default for TargetStats {
    fn default() -> Self {
        TargetStats { samples: [LOST; HISTORY], next: 0, filled: 0 }
    }
}

impl TargetStats {
    /// Records one probe: its RTT, or `None` if it was lost.
    pub fn record(&mut self, rtt: Option<Duration>) {
        let us = rtt.map_or(LOST, |d| d.as_micros().min(u64::from(LOST - 1)) as u32);
        self.samples[usize::from(self.next)] = us;
        self.next = (self.next + 1) % HISTORY as u8;
        self.filled = (self.filled + 1).min(HISTORY as u8);
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

    /// Lost probes in the history, in percent (0 with no history).
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
}

/// The state machine. Each variant carries the counter its hysteresis needs.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// Usable link, no round judged yet since start: the first verdict decides.
    Init,
    /// Working; `bad_rounds` failed rounds in a row so far (< `down`).
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

/// Why the WAN is in its state: specific enough to act on.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Just configured, no probe judged yet.
    Starting,
    /// The first round after start succeeded.
    ProbesAnswered,
    /// `up` good rounds in a row after being down.
    Recovered,
    /// The device lost `IFF_LOWER_UP`.
    CarrierLost,
    /// Device, carrier, address and gateway are back: probing again.
    LinkRestored,
    /// The device is administratively down.
    LinkDown,
    /// The device does not exist (unplugged USB modem, not yet created).
    DeviceMissing,
    /// netifd reports the interface of `option network` down.
    InterfaceDown,
    /// The device has no address of the family (for IPv6: no global one that finished
    /// duplicate address detection).
    AddressRemoved,
    /// `gateway auto` and the kernel has no default route of the family via the device.
    NoGateway,
    /// The gateway and the targets did not answer.
    GatewayUnreachable(IpAddr),
    /// Too few targets answered; `gateway` tells whether the gateway did (None: not probed).
    TargetsUnreachable {
        /// Targets that answered in the failing round.
        answered: u8,
        /// Targets probed.
        total: u8,
        /// `reliability`.
        need: u8,
        /// Whether the gateway answered, if it was probed.
        gateway: Option<bool>,
    },
    /// Disabled in the config.
    Disabled,
    /// No `track_ip` of this family: the family is neither probed nor routed.
    NotTracked(Family),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Reason::Starting => f.write_str("starting"),
            Reason::ProbesAnswered => f.write_str("probes answered"),
            Reason::Recovered => f.write_str("recovered"),
            Reason::CarrierLost => f.write_str("carrier lost"),
            Reason::LinkRestored => f.write_str("link restored"),
            Reason::LinkDown => f.write_str("link down"),
            Reason::DeviceMissing => f.write_str("device missing"),
            Reason::InterfaceDown => f.write_str("interface down (netifd)"),
            Reason::AddressRemoved => f.write_str("address removed"),
            Reason::NoGateway => f.write_str("no default route via the device"),
            Reason::GatewayUnreachable(gw) => write!(f, "gateway {gw} unreachable"),
            Reason::TargetsUnreachable { answered, total, need, gateway } => {
                if gateway == Some(true) {
                    f.write_str("gateway answers, ")?;
                }
                write!(f, "targets unreachable ({answered}/{total} answered, need {need})")
            }
            Reason::Disabled => f.write_str("disabled"),
            Reason::NotTracked(family) => write!(f, "no {family} track_ip"),
        }
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

/// What became of one received echo reply.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ReplyOutcome {
    /// Answered an outstanding probe in time.
    Matched(Duration),
    /// No outstanding probe has this sequence number (late, or never sent).
    Unknown,
    /// The probe with this sequence went to another address.
    WrongSource,
    /// The probe was already answered.
    Duplicate,
}

/// One round of probes waiting for replies.
#[derive(Copy, Clone, Debug)]
struct Round {
    number: u16,
    start: Instant,
    deadline: Instant,
    /// Slots probed (bit per slot).
    sent: u16,
    /// Slots answered in time.
    answered: u16,
    /// Where each slot's probe went.
    dst: [IpAddr; SLOTS],
    /// RTT in µs per answered slot.
    rtt: [u32; SLOTS],
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
    rounds: heapless::Deque<Round, ROUNDS_IN_FLIGHT>,
    /// Start of the next round while probing; `None` while not probing.
    next_round: Option<Instant>,
    round_number: u16,
    /// Replies that matched nothing outstanding (late, foreign, duplicate).
    ignored: u32,
}

/// Encodes a probe's round and slot into the ICMP sequence number.
pub fn sequence(round: u16, slot: usize) -> u16 {
    ((round & 0x0fff) << 4) | (slot as u16 & 0x0f)
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
            rounds: heapless::Deque::new(),
            next_round: None,
            round_number: 0,
            ignored: 0,
        }
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
            State::Up { bad_rounds: 0 } => Status::Online,
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

    /// Replies that were not counted.
    pub fn ignored(&self) -> u32 {
        self.ignored
    }

    /// Is a probe round running or scheduled?
    pub fn is_probing(&self) -> bool {
        self.next_round.is_some()
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
        if self.next_round.is_some() || self.state == State::Disabled {
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

    /// The link became unusable: probing stops and the WAN is down at once.
    pub fn link_lost(&mut self, now: Instant, reason: Reason) -> Option<Transition> {
        if self.state == State::Disabled {
            return None;
        }
        self.next_round = None;
        self.rounds.clear();
        if self.state == State::NoLink {
            // Still no link; the newest cause is the one to show (a device that is deleted
            // is first reported down, then missing).
            self.reason = reason;
            return None;
        }
        self.set_state(now, State::NoLink, reason)
    }

    /// If a round is due, starts it: calls `send(dst, seq)` for each probe.
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
        }
        self.round_number = self.round_number.wrapping_add(1);
        let mut round = Round {
            number: self.round_number,
            start: now,
            deadline: now + wan.timeout,
            sent: 0,
            answered: 0,
            dst: [self.family.unspecified(); SLOTS],
            rtt: [0; SLOTS],
        };
        for (slot, ip) in wan.targets(self.family) {
            round.sent |= 1 << slot;
            round.dst[slot] = ip;
            send(ip, sequence(round.number, slot));
        }
        // While the WAN is healthy the gateway is asked every GATEWAY_EVERY rounds only: its
        // answer names a failure's cause but never decides health. Once a round fails it is
        // asked every round, so the round that takes the WAN down knows the cause.
        let healthy = self.state == State::Up { bad_rounds: 0 };
        let gateway_due = !healthy || self.round_number % GATEWAY_EVERY == 0;
        if let (true, true, Some(gw)) = (wan.check_gateway, gateway_due, gateway) {
            round.sent |= 1 << GATEWAY_SLOT;
            round.dst[GATEWAY_SLOT] = gw;
            send(gw, sequence(round.number, GATEWAY_SLOT));
        }
        let _ = self.rounds.push_back(round); // room was made above
                                              // Keep a steady cadence; after a long stall (suspend, debugger) do not burst.
        let next = due + wan.interval;
        self.next_round = Some(if next <= now { now + wan.interval } else { next });
    }

    /// An echo reply from `src` with sequence `seq` arrived at `now`.
    pub fn handle_reply(&mut self, now: Instant, src: IpAddr, seq: u16) -> ReplyOutcome {
        let slot = usize::from(seq & 0x0f);
        let number = seq >> 4;
        let outcome = match self.rounds.iter_mut().find(|r| r.number & 0x0fff == number) {
            None => ReplyOutcome::Unknown,
            Some(_) if slot >= SLOTS => ReplyOutcome::Unknown,
            Some(r) if r.sent & (1 << slot) == 0 => ReplyOutcome::Unknown,
            Some(r) if r.dst[slot] != src => ReplyOutcome::WrongSource,
            Some(r) if r.answered & (1 << slot) != 0 => ReplyOutcome::Duplicate,
            Some(r) if now > r.deadline => ReplyOutcome::Unknown,
            Some(r) => {
                let rtt = now.saturating_since(r.start);
                r.answered |= 1 << slot;
                r.rtt[slot] = rtt.as_micros().min(u64::from(LOST - 1)) as u32;
                ReplyOutcome::Matched(rtt)
            }
        };
        if !matches!(outcome, ReplyOutcome::Matched(_)) {
            self.ignored = self.ignored.saturating_add(1);
        }
        outcome
    }

    /// Judges every round that is complete or past its deadline, oldest first.
    pub fn handle_timeout(
        &mut self,
        now: Instant,
        wan: &Wan,
        gateway: Option<IpAddr>,
        judged: &mut dyn FnMut(Transition),
    ) {
        while let Some(r) = self.rounds.front() {
            if r.answered != r.sent && now < r.deadline {
                break;
            }
            self.judge_oldest(now, wan, gateway, judged);
        }
    }

    fn judge_oldest(&mut self, now: Instant, wan: &Wan, gateway: Option<IpAddr>, judged: &mut dyn FnMut(Transition)) {
        let Some(r) = self.rounds.pop_front() else {
            return;
        };
        let mut n = 0;
        let mut answered = 0u8;
        for (slot, _) in wan.targets(self.family) {
            n += 1;
            let ok = r.answered & (1 << slot) != 0;
            answered += u8::from(ok);
            self.targets[slot].record(ok.then(|| Duration::from_micros(u64::from(r.rtt[slot]))));
        }
        let gw_probed = r.sent & (1 << GATEWAY_SLOT) != 0;
        let gw_ok = r.answered & (1 << GATEWAY_SLOT) != 0;
        if gw_probed {
            self.gateway.record(gw_ok.then(|| Duration::from_micros(u64::from(r.rtt[GATEWAY_SLOT]))));
        }
        let need = wan.need(self.family);
        let good = answered >= need;
        let failure = if gw_probed && !gw_ok && answered == 0 {
            Reason::GatewayUnreachable(gateway.unwrap_or(r.dst[GATEWAY_SLOT]))
        } else {
            Reason::TargetsUnreachable { answered, total: n, need, gateway: gw_probed.then_some(gw_ok) }
        };
        let (state, reason) = match (self.state, good) {
            (State::Init, true) => (State::Up { bad_rounds: 0 }, Reason::ProbesAnswered),
            (State::Init, false) => (State::Down { good_rounds: 0 }, failure),
            (State::Up { .. }, true) => (State::Up { bad_rounds: 0 }, Reason::ProbesAnswered),
            (State::Up { bad_rounds }, false) if bad_rounds + 1 >= wan.down => {
                (State::Down { good_rounds: 0 }, failure)
            }
            (State::Up { bad_rounds }, false) => (State::Up { bad_rounds: bad_rounds + 1 }, failure),
            (State::Down { good_rounds }, true) if good_rounds + 1 >= wan.up => {
                self.eligible_at = now + wan.recovery_wait;
                (State::Up { bad_rounds: 0 }, Reason::Recovered)
            }
            (State::Down { good_rounds }, true) => {
                (State::Down { good_rounds: good_rounds + 1 }, Reason::ProbesAnswered)
            }
            // Within a state only the transition names this round's cause; the state keeps
            // the reason it was entered with (see set_state).
            (State::Down { .. }, false) => (State::Down { good_rounds: 0 }, failure),
            (s @ (State::NoLink | State::Disabled), _) => (s, self.reason),
        };
        if let Some(t) = self.set_state(now, state, reason) {
            judged(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    fn wan() -> Wan {
        let mut w = Wan::with_defaults("wan", "eth1");
        w.down = 3; // the timelines below count rounds; keep them independent of defaults
        for ip in [[203, 0, 113, 1], [203, 0, 113, 2], [203, 0, 113, 3]] {
            w.track_ip.push(Ipv4Addr::from(ip).into()).unwrap();
        }
        w
    }

    const GW: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

    /// Runs one round at `t` ms in which `answer(dst)` decides who replies (after 5 ms), and
    /// judges it at its deadline. Returns the transitions it caused.
    fn round(h: &mut WanHealth, w: &Wan, t: u64, answer: &dyn Fn(IpAddr) -> bool) -> Vec<Transition> {
        let now = Instant::from_millis(t);
        let mut out = Vec::new();
        let mut sent = Vec::new();
        h.start_round(now, w, Some(GW), &mut |dst, seq| sent.push((dst, seq)), &mut |tr| out.push(tr));
        for (dst, seq) in sent {
            if answer(dst) {
                assert!(matches!(h.handle_reply(now + Duration::from_millis(5), dst, seq), ReplyOutcome::Matched(_)));
            }
        }
        h.handle_timeout(now + w.timeout, w, Some(GW), &mut |tr| out.push(tr));
        out
    }

    #[test]
    fn hysteresis_needs_down_bad_and_up_good_rounds_in_a_row() {
        let w = wan();
        let mut h = WanHealth::new(Instant::ZERO, &w, Family::V4);
        h.link_usable(Instant::ZERO);
        let all = |_: IpAddr| true;
        let gateway_only = |ip: IpAddr| ip == GW;
        assert_eq!(round(&mut h, &w, 0, &all)[0].to, Status::Online);
        // Two bad rounds, then a good one: the bad count resets.
        round(&mut h, &w, 300, &gateway_only);
        assert_eq!(h.status(), Status::Disconnecting);
        round(&mut h, &w, 600, &gateway_only);
        round(&mut h, &w, 900, &all);
        assert_eq!(h.state(), State::Up { bad_rounds: 0 });
        // Three bad rounds in a row: down, with the specific reason.
        round(&mut h, &w, 1200, &gateway_only);
        round(&mut h, &w, 1500, &gateway_only);
        let t = round(&mut h, &w, 1800, &gateway_only);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].to, Status::Offline);
        assert_eq!(h.reason().to_string(), "gateway answers, targets unreachable (0/3 answered, need 1)");
        // Recovery needs `up` good rounds and then waits `recovery_wait` for traffic.
        round(&mut h, &w, 2100, &all);
        round(&mut h, &w, 2400, &all);
        assert_eq!(h.status(), Status::Connecting);
        let t = round(&mut h, &w, 2700, &all);
        assert_eq!(t[0].to, Status::Online);
        assert_eq!(h.reason(), Reason::Recovered);
        assert_eq!(h.eligible_at(), Instant::from_millis(2700) + w.timeout + w.recovery_wait);
        assert_eq!(h.transitions(), 3);
    }

    #[test]
    fn a_silent_gateway_is_named_but_answers_from_targets_keep_the_wan_up() {
        let w = wan();
        let mut h = WanHealth::new(Instant::ZERO, &w, Family::V4);
        h.link_usable(Instant::ZERO);
        let targets_only = |ip: IpAddr| ip != GW;
        for i in 0..10 {
            round(&mut h, &w, i * 300, &targets_only);
        }
        assert_eq!(h.status(), Status::Online);
        assert_eq!(h.gateway().loss_percent(), 100);
        let nothing = |_: IpAddr| false;
        for i in 10..13 {
            round(&mut h, &w, i * 300, &nothing);
        }
        assert_eq!(h.reason().to_string(), "gateway 192.0.2.1 unreachable");
    }

    #[test]
    fn a_healthy_gateway_is_asked_every_fourth_round_a_failing_one_every_round() {
        let w = wan();
        let mut h = WanHealth::new(Instant::ZERO, &w, Family::V4);
        h.link_usable(Instant::ZERO);
        let gw_probes = |h: &mut WanHealth, t: u64, answer: bool| {
            let now = Instant::from_millis(t);
            let mut sent = Vec::new();
            h.start_round(now, &w, Some(GW), &mut |d, s| sent.push((d, s)), &mut |_| {});
            for &(d, s) in &sent {
                if answer {
                    h.handle_reply(now, d, s);
                }
            }
            h.handle_timeout(now + w.timeout, &w, Some(GW), &mut |_| {});
            sent.iter().filter(|(d, _)| *d == GW).count()
        };
        let asked: usize = (0..12).map(|i| gw_probes(&mut h, i * 300, true)).sum();
        assert_eq!(asked, 1 + 3, "Init round, then every 4th of 11 healthy rounds");
        let asked: usize = (12..14).map(|i| gw_probes(&mut h, i * 300, false)).sum();
        assert!(asked >= 1, "asked again once a round failed");
        assert_eq!(gw_probes(&mut h, 14 * 300, false), 1);
    }

    #[test]
    fn replies_count_only_for_the_probe_they_answer() {
        let w = wan();
        let mut h = WanHealth::new(Instant::ZERO, &w, Family::V4);
        h.link_usable(Instant::ZERO);
        let mut sent = Vec::new();
        h.start_round(Instant::ZERO, &w, Some(GW), &mut |d, s| sent.push((d, s)), &mut |_| {});
        let (dst, seq) = sent[0];
        let t = Instant::from_millis(1);
        assert_eq!(h.handle_reply(t, Ipv4Addr::new(198, 51, 100, 9).into(), seq), ReplyOutcome::WrongSource);
        assert_eq!(h.handle_reply(t, dst, seq ^ 0x100), ReplyOutcome::Unknown);
        assert!(matches!(h.handle_reply(t, dst, seq), ReplyOutcome::Matched(_)));
        assert_eq!(h.handle_reply(t, dst, seq), ReplyOutcome::Duplicate);
        let (dst2, seq2) = sent[1];
        assert_eq!(h.handle_reply(Instant::from_millis(501), dst2, seq2), ReplyOutcome::Unknown, "late");
        assert_eq!(h.ignored(), 4);
    }

    #[test]
    fn overlapping_rounds_are_judged_in_order() {
        let mut w = wan();
        w.timeout = Duration::from_millis(1000);
        w.down = 1;
        let mut h = WanHealth::new(Instant::ZERO, &w, Family::V4);
        h.link_usable(Instant::ZERO);
        h.start_round(Instant::ZERO, &w, None, &mut |_, _| {}, &mut |_| {});
        let mut second = Vec::new();
        h.start_round(Instant::from_millis(300), &w, None, &mut |d, s| second.push((d, s)), &mut |_| {});
        for (d, s) in second {
            h.handle_reply(Instant::from_millis(310), d, s);
        }
        // The complete second round must wait for the first (which will fail).
        let mut seen = Vec::new();
        h.handle_timeout(Instant::from_millis(320), &w, None, &mut |t| seen.push(t));
        assert!(seen.is_empty());
        h.handle_timeout(Instant::from_millis(1000), &w, None, &mut |t| seen.push(t));
        assert_eq!(seen.iter().map(|t| t.to).collect::<Vec<_>>(), [Status::Offline, Status::Connecting]);
        assert_eq!(h.status(), Status::Connecting, "the good second round counts after the bad first");
    }

    #[test]
    fn link_loss_is_immediate_and_recovery_starts_from_down() {
        let w = wan();
        let mut h = WanHealth::new(Instant::ZERO, &w, Family::V4);
        h.link_usable(Instant::ZERO);
        round(&mut h, &w, 0, &|_| true);
        let t = h.link_lost(Instant::from_millis(700), Reason::CarrierLost).unwrap();
        assert_eq!((t.from, t.to, t.reason), (Status::Online, Status::NoLink, Reason::CarrierLost));
        assert!(!h.is_probing());
        assert_eq!(h.link_lost(Instant::from_millis(800), Reason::DeviceMissing), None);
        assert_eq!(h.reason(), Reason::DeviceMissing, "the newest cause is shown");
        h.link_usable(Instant::from_millis(900));
        assert_eq!(h.state(), State::Down { good_rounds: 0 });
    }

    #[test]
    fn stats_track_loss_average_and_jitter() {
        let mut s = TargetStats::default();
        for ms in [10, 20, 10, 20] {
            s.record(Some(Duration::from_millis(ms)));
        }
        s.record(None);
        assert_eq!(s.loss_percent(), 20);
        assert_eq!(s.avg_rtt(), Some(Duration::from_millis(15)));
        assert_eq!(s.jitter(), Some(Duration::from_millis(10)));
        assert!(!s.is_up());
        for _ in 0..HISTORY {
            s.record(Some(Duration::from_millis(1)));
        }
        assert_eq!(s.loss_percent(), 0, "old losses leave the window");
        assert_eq!(s.probes(), HISTORY);
    }

    #[test]
    fn each_family_probes_and_judges_only_its_own_targets() {
        let mut w = wan(); // three IPv4 targets
        w.reliability = 2;
        let v6: IpAddr = "2001:db8:ff::1".parse().unwrap();
        w.track_ip.insert(1, v6).unwrap();
        let gw6: IpAddr = "fe80::1".parse().unwrap();
        let mut h6 = WanHealth::new(Instant::ZERO, &w, Family::V6);
        h6.link_usable(Instant::ZERO);
        let mut sent = Vec::new();
        h6.start_round(Instant::ZERO, &w, Some(gw6), &mut |d, s| sent.push((d, s)), &mut |_| {});
        assert_eq!(sent.iter().map(|(d, _)| *d).collect::<Vec<_>>(), [v6, gw6]);
        assert_eq!(sent[0].1 & 0x0f, 1, "the slot is the target's place in track_ip");
        // One IPv6 target: reliability 2 is capped at 1 for this family.
        h6.handle_reply(Instant::from_millis(3), v6, sent[0].1);
        h6.handle_reply(Instant::from_millis(3), gw6, sent[1].1);
        let mut seen = Vec::new();
        h6.handle_timeout(Instant::from_millis(3), &w, Some(gw6), &mut |t| seen.push(t));
        assert_eq!(h6.status(), Status::Online);
        assert_eq!(h6.target(1).probes(), 1);
        assert_eq!(h6.target(0).probes(), 0, "an IPv4 target is not IPv6's business");
        let mut h4 = WanHealth::new(Instant::ZERO, &w, Family::V4);
        h4.link_usable(Instant::ZERO);
        let mut sent = Vec::new();
        h4.start_round(Instant::ZERO, &w, Some(GW), &mut |d, s| sent.push((d, s)), &mut |_| {});
        assert!(sent.iter().all(|(d, _)| d.is_ipv4()));
        assert_eq!(sent.len(), 4);
        // Without IPv6 targets the family is not judged at all.
        let only4 = wan();
        let none = WanHealth::new(Instant::ZERO, &only4, Family::V6);
        assert_eq!(none.status(), Status::Disabled);
        assert_eq!(none.reason().to_string(), "no IPv6 track_ip");
    }
}
