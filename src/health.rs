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
//!   the status; its answer never decides health).
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
//! - **Rounds while not up** (`Init`, `Down`): every `interval` a round to every target and
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

use crate::config::{Wan, MAX_TARGETS};
use crate::route::Family;
use crate::time::{Duration, Instant};
use core::fmt;
use core::net::IpAddr;

/// Probes remembered per target for loss, average RTT and jitter; also the quality window.
pub const HISTORY: usize = 16;
/// Rounds that may be waiting for answers at once; when a new round would exceed this,
/// the oldest is judged early (a confirmation of more than 8 rounds, or timeout > 8 ×
/// interval while down).
pub const ROUNDS_IN_FLIGHT: usize = 8;
/// A healthy WAN's gateway is asked with every this many steady probes (6 s at the
/// default interval): for its RTT in the status, at the cost of one probe.
pub const GATEWAY_EVERY: u16 = 20;
/// The adaptive timeout's floor: below it, scheduling noise on a busy router and a
/// target's occasional slow answer would start confirmations for nothing.
pub const RTO_MIN: Duration = Duration::from_millis(50);
/// Probes remembered after their round was judged without their answer: one that comes
/// late still teaches the RTT estimator (a delay spike raises the timeouts).
pub const LATE_MAX: usize = 16;
/// Probe slot of the gateway; `track_ip[i]` uses slot `i`.
pub const GATEWAY_SLOT: usize = MAX_TARGETS;
const SLOTS: usize = MAX_TARGETS + 1;
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

fn micros(d: Duration) -> u32 {
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
    /// `check_quality`: too many of the last probes were lost.
    Loss {
        /// Lost probes of the window, percent.
        percent: u8,
        /// `failure_loss`, or `recovery_loss` while recovering.
        limit: u8,
        /// Not good enough to recover (rather than bad enough to fail).
        recovering: bool,
    },
    /// `check_quality`: the answered probes of the window took too long on average.
    Latency {
        /// Their mean RTT, ms.
        ms: u32,
        /// `failure_latency`, or `recovery_latency` while recovering.
        limit: u32,
        /// Not good enough to recover (rather than bad enough to fail).
        recovering: bool,
    },
    /// Disabled in the config.
    Disabled,
    /// No `track_ip` of this family: the family is neither probed nor routed.
    NotTracked(Family),
}

/// A whole number with thousands separators: `1,240`.
struct Thousands(u32);

impl fmt::Display for Thousands {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        match (n / 1_000_000, n / 1000 % 1000) {
            (0, 0) => write!(f, "{n}"),
            (0, k) => write!(f, "{k},{:03}", n % 1000),
            (m, k) => write!(f, "{m},{k:03},{:03}", n % 1000),
        }
    }
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
            Reason::Loss { percent, limit, recovering: false } => {
                write!(f, "loss {percent} % ≥ failure_loss {limit} %")
            }
            Reason::Loss { percent, limit, recovering: true } => {
                write!(f, "loss {percent} % > recovery_loss {limit} %")
            }
            Reason::Latency { ms, limit, recovering: false } => {
                write!(f, "latency {} ms ≥ failure_latency {} ms", Thousands(ms), Thousands(limit))
            }
            Reason::Latency { ms, limit, recovering: true } => {
                write!(f, "latency {} ms > recovery_latency {} ms", Thousands(ms), Thousands(limit))
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

/// Why a round was sent; it decides what its verdict means.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Kind {
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
struct Round {
    number: u16,
    kind: Kind,
    start: Instant,
    deadline: Instant,
    /// Slots probed (bit per slot).
    sent: u16,
    /// Slots answered before the round was judged.
    answered: u16,
    /// Slots known lost before their deadline (an ICMP error, a refused TCP connection).
    lost: u16,
    /// Where each slot's probe went.
    dst: [IpAddr; SLOTS],
    /// RTT in µs per answered slot.
    rtt: [u32; SLOTS],
}

impl Round {
    fn complete(&self) -> bool {
        (self.answered | self.lost) == self.sent
    }

    /// Targets (not the gateway) that answered.
    fn targets_answered(&self) -> u8 {
        (self.answered & !(1 << GATEWAY_SLOT)).count_ones() as u8
    }
}

/// A probe judged lost whose answer may still come.
#[derive(Copy, Clone, Debug)]
struct LateProbe {
    seq: u16,
    dst: IpAddr,
    start: Instant,
    /// Its slot: `track_ip[slot]`, or [`GATEWAY_SLOT`].
    slot: u8,
}

/// Which rounds a judging call may end.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Due {
    /// Complete rounds and those past their deadline.
    ByClock,
    /// Complete rounds only.
    WhenComplete,
}

/// A confirmation in progress: `down` rounds to every target after a lost steady probe.
#[derive(Copy, Clone, Debug)]
struct Confirmation {
    /// Rounds sent so far.
    sent: u8,
    /// Rounds it sends (`down`).
    rounds: u8,
    /// When its first round went out.
    first: Instant,
    /// The largest adaptive timeout of the targets when it started: twice the gap between
    /// two rounds, and the wait after the last one's start.
    timeout: Duration,
    /// Answers a round needs (`reliability`, capped).
    need: u8,
    /// Steady probing's interval, to resume on its grid.
    interval: Duration,
}

impl Confirmation {
    /// When round `n` (from 0) goes out: half a timeout after the one before.
    fn start_of(&self, n: u8) -> Instant {
        self.first + Duration::from_micros(self.timeout.as_micros() / 2) * u32::from(n)
    }

    /// The deadline all its rounds share: one timeout after the last one went out.
    fn deadline(&self) -> Instant {
        self.start_of(self.rounds.saturating_sub(1)) + self.timeout
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
}

/// Encodes a probe's round and slot into the ICMP sequence number.
pub fn sequence(round: u16, slot: usize) -> u16 {
    ((round & 0x0fff) << 4) | (slot as u16 & 0x0f)
}

/// The slot a probe's sequence number names: `track_ip[slot]`, or [`GATEWAY_SLOT`].
pub fn slot_of(seq: u16) -> usize {
    usize::from(seq & 0x0f)
}

/// The longest an answer to a probe may count after the probe went out: the steady probe
/// that starts a confirmation waits for the confirmation's verdict, at most its own timeout,
/// `down` - 1 half timeouts and a timeout more; every other round's deadline comes sooner.
/// A TCP probe's socket is kept that long at most.
pub fn answer_window(wan: &Wan) -> Duration {
    let half = Duration::from_micros(wan.timeout.as_micros() / 2);
    wan.timeout * 2 + half * u32::from(wan.down.max(1) - 1)
}

/// The first multiple of `interval` after `now`: the grid steady probes go out on.
fn next_tick(now: Instant, interval: Duration) -> Instant {
    let step = interval.as_micros().max(1);
    Instant::from_micros((now.as_micros() / step + 1) * step)
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
                self.next_round = Some(next_tick(now.max(due), wan.interval));
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
                self.next_round = Some(next_tick(now.max(due), wan.interval));
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

    /// Finds the outstanding probe `seq` went out as: (round index, slot).
    fn probe_of(&self, src: IpAddr, seq: u16) -> Result<(usize, usize), ReplyOutcome> {
        let slot = usize::from(seq & 0x0f);
        let number = seq >> 4;
        let (i, r) =
            self.rounds.iter().enumerate().find(|(_, r)| r.number & 0x0fff == number).ok_or(ReplyOutcome::Unknown)?;
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
            Err(ReplyOutcome::Unknown) if self.late.iter().any(|p| p.seq == seq && p.dst == src) => {
                let Some(p) = self.late.iter().find(|p| p.seq == seq && p.dst == src).copied() else {
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

    /// The confirmation is over: a round has enough answers (the line is alive), or every
    /// round was judged. No more rounds go out; outstanding rounds without enough answers
    /// become samples (their verdict no longer matters), and steady probing resumes on its
    /// grid.
    fn end_confirmation(&mut self, now: Instant) {
        let Some(c) = self.confirming.take() else { return };
        for r in self.rounds.iter_mut().filter(|r| r.kind == Kind::Confirm && r.targets_answered() < c.need) {
            r.kind = Kind::Sample;
        }
        if self.is_up() {
            self.next_round = Some(next_tick(now, c.interval));
        }
    }

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

    /// Whether the steady probe `r`, past its timeout and not known lost, starts a
    /// confirmation: unanswered, while up and not confirming ([`WanHealth::suspect`]).
    fn triggers(&self, r: &Round, wan: &Wan) -> bool {
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
    fn suspect(&self, r: &Round, wan: &Wan) -> bool {
        let up = |slot: usize| self.targets[slot].is_up() || self.targets[slot].probes() == 0;
        let mut targets = wan.targets(self.family).map(|(slot, _)| slot);
        let probed_was_up = wan.targets(self.family).any(|(slot, _)| r.sent & (1 << slot) != 0 && up(slot));
        probed_was_up || !targets.any(up)
    }

    /// Starts a confirmation at `now`: its first round goes out at once.
    fn start_confirmation(&mut self, now: Instant, wan: &Wan) {
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

    /// The window's loss (percent) and latency (ms, 0 without answers).
    fn quality(&self) -> (u8, u32) {
        let ms = self.recent.avg_rtt().map_or(0, |d| d.as_millis().min(u64::from(u32::MAX)) as u32);
        (self.recent.loss_percent(), ms)
    }

    /// `check_quality`'s verdict on a WAN that is up: the reason to take it down, if any.
    /// Only a full window is evidence enough.
    fn quality_failure(&self, wan: &Wan) -> Option<Reason> {
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
    fn quality_short(&self, wan: &Wan) -> Option<Reason> {
        if !wan.check_quality {
            return None;
        }
        let (percent, ms) = self.quality();
        if percent > wan.recovery_loss {
            return Some(Reason::Loss { percent, limit: wan.recovery_loss, recovering: true });
        }
        (ms > wan.recovery_latency).then_some(Reason::Latency { ms, limit: wan.recovery_latency, recovering: true })
    }

    fn judge_oldest(&mut self, now: Instant, wan: &Wan, gateway: Option<IpAddr>, judged: &mut dyn FnMut(Transition)) {
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
            // Down: rounds to every target from the next grid point on.
            self.confirming = None;
            self.next_round = Some(next_tick(now, wan.interval));
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

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    fn wan() -> Wan {
        let mut w = Wan::with_defaults("wan", "eth1");
        for ip in [[203, 0, 113, 1], [203, 0, 113, 2], [203, 0, 113, 3]] {
            w.track_ip.push(Ipv4Addr::from(ip).into()).unwrap();
        }
        w
    }

    const GW: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const RTT: Duration = Duration::from_millis(5);

    /// Drives one health through time: probes go out at the instants the health asks
    /// for, and `answer(dst)` at that moment decides who replies (after `rtt`).
    struct Drive {
        h: WanHealth,
        w: Wan,
        now: Instant,
        rtt: Duration,
        /// Every probe sent: (when, destination).
        sent: Vec<(Instant, IpAddr)>,
        transitions: Vec<(Instant, Transition)>,
        pending: Vec<(Instant, IpAddr, u16)>,
    }

    impl Drive {
        fn new(w: Wan) -> Drive {
            let mut h = WanHealth::new(Instant::ZERO, &w, Family::V4);
            h.link_usable(Instant::ZERO);
            Drive { h, w, now: Instant::ZERO, rtt: RTT, sent: vec![], transitions: vec![], pending: vec![] }
        }

        /// Runs until `until`, with `answer` deciding which probes are answered.
        fn run(&mut self, until: Instant, answer: &dyn Fn(Instant, IpAddr) -> bool) {
            loop {
                let reply = self.pending.iter().map(|p| p.0).min();
                let next = [self.h.next_deadline(), reply].into_iter().flatten().min();
                let Some(t) = next.filter(|&t| t <= until) else { break };
                self.now = self.now.max(t);
                let now = self.now;
                let (due, later): (Vec<_>, Vec<_>) = self.pending.drain(..).partition(|p| p.0 <= now);
                self.pending = later;
                for (_, src, seq) in due {
                    self.h.handle_reply(now, src, seq);
                }
                let mut out = vec![];
                self.h.handle_timeout(now, &self.w, Some(GW), &mut |t| out.push(t));
                let mut sent = vec![];
                self.h.start_round(now, &self.w, Some(GW), &mut |d, s| sent.push((d, s)), &mut |t| out.push(t));
                for (dst, seq) in sent {
                    self.sent.push((now, dst));
                    if answer(now, dst) {
                        self.pending.push((now + self.rtt, dst, seq));
                    }
                }
                self.transitions.extend(out.into_iter().map(|t| (now, t)));
            }
            self.now = until;
        }

        fn run_ms(&mut self, ms: u64, answer: &dyn Fn(Instant, IpAddr) -> bool) {
            let until = self.now + Duration::from_millis(ms);
            self.run(until, answer);
        }
    }

    fn all(_: Instant, _: IpAddr) -> bool {
        true
    }

    #[test]
    fn a_healthy_wan_sends_one_probe_per_interval_in_turn_and_the_gateway_now_and_then() {
        let mut d = Drive::new(wan());
        d.run_ms(1000, &all);
        assert_eq!(d.h.status(), Status::Online);
        let first = d.sent.len();
        d.run_ms(d.w.interval.as_micros() / 1000 * 40, &all);
        let steady: Vec<_> = d.sent[first..].to_vec();
        // 40 grid points in 40 intervals; the gateway with every twentieth.
        let to_targets: Vec<_> = steady.iter().filter(|(_, ip)| *ip != GW).collect();
        assert_eq!(to_targets.len(), 40);
        assert_eq!(steady.len() - to_targets.len(), 2);
        // In turn, each on a multiple of the interval.
        for pair in to_targets.windows(2) {
            assert_ne!(pair[0].1, pair[1].1);
            assert_eq!(pair[1].0.saturating_since(pair[0].0), d.w.interval);
        }
        assert!(to_targets.iter().all(|(t, _)| t.as_micros() % d.w.interval.as_micros() == 0));
        assert_eq!(d.h.confirmations(), 0);
        // Each target has a history, RTT and an adaptive timeout at the floor.
        for i in 0..3 {
            assert!(d.h.target(i).probes() >= 13);
            assert_eq!(d.h.target(i).avg_rtt(), Some(RTT));
            assert_eq!(d.h.target(i).timeout(d.w.timeout), RTO_MIN);
        }
    }

    #[test]
    fn a_silent_failure_is_confirmed_by_down_rounds_half_a_timeout_apart() {
        let mut d = Drive::new(wan());
        d.run_ms(1000, &all);
        let dead_at = d.now + Duration::from_millis(37);
        let upstream = move |t: Instant, ip: IpAddr| t < dead_at || ip == GW;
        d.run_ms(2000, &upstream);
        let (at, t) = d.transitions.iter().find(|(_, t)| t.to == Status::Offline).copied().expect("offline");
        assert_eq!(t.reason.to_string(), "gateway answers, targets unreachable (0/3 answered, need 1)");
        // The first steady probe after the failure, its timeout, three half timeouts between
        // the four rounds, and the last one's timeout.
        let took = at.saturating_since(dead_at);
        let probe_at = next_tick(dead_at, d.w.interval);
        let half = Duration::from_micros(RTO_MIN.as_micros() / 2);
        let expect = probe_at.saturating_since(dead_at) + RTO_MIN + half * 3 + RTO_MIN;
        assert_eq!(took, expect, "detection");
        // The confirmation: `down` rounds to every target and the gateway, half a timeout
        // apart, the first when the steady probe timed out.
        let confirm: Vec<_> = d.sent.iter().filter(|(t, _)| *t > probe_at && *t <= at).collect();
        assert_eq!(confirm.len(), 4 * 4, "{confirm:?}");
        let starts: Vec<Instant> = confirm.iter().step_by(4).map(|(t, _)| *t).collect();
        assert_eq!(starts[0], probe_at + RTO_MIN);
        for (k, s) in starts.iter().enumerate() {
            assert_eq!(*s, starts[0] + half * k as u32);
        }
        assert_eq!(d.h.confirmations(), 1);
    }

    #[test]
    fn a_late_wake_up_reads_every_waiting_answer_before_a_deadline_judges() {
        // Two full rounds went out; the daemon wakes only after both deadlines, with all
        // their answers waiting in the socket. Each answer ends only complete rounds; the
        // clock judges after the last one was read.
        let mut w = wan();
        w.reliability = 3;
        let mut h = WanHealth::new(Instant::ZERO, &w, Family::V4);
        h.link_usable(Instant::ZERO);
        let (mut sent, mut out) = (vec![], vec![]);
        h.start_round(Instant::ZERO, &w, Some(GW), &mut |d, s| sent.push((d, s)), &mut |t| out.push(t));
        h.start_round(Instant::ZERO + w.interval, &w, Some(GW), &mut |d, s| sent.push((d, s)), &mut |t| out.push(t));
        assert_eq!(sent.len(), 8, "two rounds of three targets and the gateway");
        let late = Instant::ZERO + w.interval + w.timeout + Duration::from_millis(1);
        for (dst, seq) in &sent {
            assert!(matches!(h.handle_reply(late, *dst, *seq), ReplyOutcome::Matched(_)));
            h.handle_complete(late, &w, Some(GW), &mut |t| out.push(t));
        }
        h.handle_timeout(late, &w, Some(GW), &mut |t| out.push(t));
        assert!(out.iter().all(|t| t.to != Status::Offline), "{out:?}");
        assert_eq!(h.status(), Status::Online);
    }

    #[test]
    fn a_confirmation_round_sent_late_still_gets_a_whole_timeout() {
        let mut d = Drive::new(wan());
        d.run_ms(1000, &all);
        let gateway_only = |_: Instant, ip: IpAddr| ip == GW;
        while d.h.confirmations() == 0 {
            d.run_ms(1, &gateway_only);
        }
        // The daemon is not scheduled again until long after the confirmation's deadline;
        // its remaining rounds go out then, and the targets answer them.
        d.now = d.now + Duration::from_millis(500);
        d.run_ms(1000, &all);
        assert!(d.transitions.iter().all(|(_, t)| t.to != Status::Offline), "{:?}", d.transitions);
        assert_eq!(d.h.status(), Status::Online);
        assert_eq!(d.h.confirmations(), 1);
    }

    #[test]
    fn one_answer_in_a_confirmation_ends_it_and_steady_probing_resumes() {
        let mut d = Drive::new(wan());
        d.run_ms(1000, &all);
        // .1 stops answering for one turn of the steady probes: its probe is lost once.
        let first = d.sent.len();
        let lose_one = |_: Instant, ip: IpAddr| ip != IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1));
        d.run_ms(900, &lose_one);
        d.run_ms(1000, &all);
        assert_eq!(d.h.confirmations(), 1);
        assert!(d.transitions.iter().all(|(_, t)| t.to != Status::Offline));
        // Only the first confirmation round went out: 3 targets and the gateway.
        let grid = d.w.interval.as_micros();
        let after: Vec<_> = d.sent[first..].iter().filter(|(t, _)| t.as_micros() % grid != 0).collect();
        assert_eq!(after.len(), 4, "{after:?}");
        assert_eq!(d.h.status(), Status::Online);
    }

    /// A delay spike (a saturated uplink): answers come, but long after the adaptive
    /// timeout. The steady probe that started the confirmation may answer until its
    /// verdict, RTO + 1.5 RTO + RTO after it went out; later the timeout adapts.
    #[test]
    fn a_delay_spike_shorter_than_the_confirmation_is_no_failure() {
        let mut d = Drive::new(wan());
        d.run_ms(1000, &all);
        d.rtt = Duration::from_millis(170); // < 3.5 × RTO_MIN = 175 ms
        d.run_ms(3000, &all);
        assert!(d.h.confirmations() >= 1);
        assert!(d.transitions.iter().all(|(_, t)| t.to != Status::Offline), "{:?}", d.transitions);
        assert_eq!(d.h.status(), Status::Online);
        for i in 0..3 {
            let t = d.h.target(i);
            assert!(t.timeout(d.w.timeout) > Duration::from_millis(150), "adapted: {i} {t:?} {}", d.h.confirmations());
        }
        // Longer than the confirmation's span: that is a dead line.
        let mut d = Drive::new(wan());
        d.run_ms(1000, &all);
        d.rtt = Duration::from_millis(185);
        d.run_ms(1000, &all);
        assert!(d.transitions.iter().any(|(_, t)| t.to == Status::Offline), "{:?}", d.transitions);
    }

    /// A target that is dead while the others answer does not start a confirmation every
    /// time its turn comes; but once no target's newest probe was answered, any lost
    /// probe does (else a line whose every target looked down could never be judged).
    #[test]
    fn a_dead_target_among_live_ones_is_no_news_but_all_silent_is() {
        let dead = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 2));
        let mut d = Drive::new(wan());
        let not_dead = move |_: Instant, ip: IpAddr| ip != dead;
        d.run_ms(1000, &all);
        d.run_ms(d.w.interval.as_micros() / 1000 * 30, &not_dead);
        // Its first lost probe was news (it had answered before); the next nine are not.
        assert_eq!(d.h.confirmations(), 1);
        assert_eq!(d.h.status(), Status::Online);
        // Every target's newest probe lost (as after a delay spike): the next loss counts,
        // whoever's turn it is.
        for i in 0..3 {
            d.h.targets[i].record(None);
        }
        let next = next_tick(d.now, d.w.interval);
        d.run(next + Duration::from_millis(1), &|_, _| false);
        d.run_ms(d.w.interval.as_micros() / 1000, &not_dead);
        assert_eq!(d.h.confirmations(), 2);
    }

    #[test]
    fn the_adaptive_timeout_follows_rfc_6298_within_its_floor_and_ceiling() {
        let mut s = TargetStats::default();
        let ceiling = Duration::from_millis(500);
        assert_eq!(s.timeout(ceiling), ceiling, "no answer yet");
        s.record(Some(Duration::from_millis(100)));
        assert_eq!(s.timeout(ceiling), Duration::from_millis(300), "R + 4 × R/2");
        s.record(Some(Duration::from_millis(100)));
        // RTTVAR = 3/4 × 50 + 0 = 37.5 ms, SRTT 100 ms.
        assert_eq!(s.timeout(ceiling), Duration::from_micros(250_000));
        s.record(None);
        assert_eq!(s.timeout(ceiling), Duration::from_micros(250_000), "a loss changes no estimate");
        for _ in 0..40 {
            s.record(Some(Duration::from_millis(2)));
        }
        assert_eq!(s.timeout(ceiling), RTO_MIN);
        s.record(Some(Duration::from_secs(3)));
        assert_eq!(s.timeout(ceiling), ceiling);
    }

    #[test]
    fn hysteresis_needs_down_bad_and_up_good_rounds_in_a_row() {
        let mut d = Drive::new(wan());
        d.run_ms(1000, &all);
        assert_eq!(d.transitions[0].1.to, Status::Online);
        let gateway_only = |_: Instant, ip: IpAddr| ip == GW;
        d.run_ms(1000, &gateway_only);
        assert_eq!(d.h.status(), Status::Offline);
        assert_eq!(d.h.reason().to_string(), "gateway answers, targets unreachable (0/3 answered, need 1)");
        // Recovery needs `up` good rounds, one per interval, and then `recovery_wait`.
        let back = d.now;
        d.run_ms(1000, &all);
        let (at, t) = *d.transitions.last().unwrap();
        assert_eq!((t.to, t.reason), (Status::Online, Reason::Recovered));
        let rounds = at.saturating_since(back).as_micros() / d.w.interval.as_micros();
        assert!(rounds <= u64::from(d.w.up), "{rounds}");
        assert_eq!(d.h.eligible_at(), at + d.w.recovery_wait);
        assert_eq!(d.h.transitions(), 3);
    }

    #[test]
    fn a_silent_gateway_is_named_but_answers_from_targets_keep_the_wan_up() {
        let mut d = Drive::new(wan());
        let targets_only = |_: Instant, ip: IpAddr| ip != GW;
        d.run_ms(5000, &targets_only);
        assert_eq!(d.h.status(), Status::Online);
        assert_eq!(d.h.gateway().loss_percent(), 100);
        d.run_ms(1000, &|_, _| false);
        assert_eq!(d.h.reason().to_string(), "gateway 192.0.2.1 unreachable");
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
        // Late, but its round is not judged yet: it counts (the loop reads before judging).
        let (dst2, seq2) = sent[1];
        assert!(matches!(h.handle_reply(Instant::from_millis(501), dst2, seq2), ReplyOutcome::Matched(_)));
        h.handle_timeout(Instant::from_millis(501), &w, Some(GW), &mut |_| {});
        // Judged lost, it still teaches the timeout (once), and changes nothing else.
        let (dst3, seq3) = sent[2];
        let late = ReplyOutcome::Late(Duration::from_millis(502));
        assert_eq!(h.handle_reply(Instant::from_millis(502), dst3, seq3), late);
        assert_eq!(h.target(2).last_rtt(), None, "still lost in the history");
        assert_eq!(h.target(2).timeout(w.timeout), w.timeout, "502 ms: the estimate hits the ceiling");
        assert_eq!(h.handle_reply(Instant::from_millis(503), dst3, seq3), ReplyOutcome::Unknown, "once");
        assert_eq!(h.ignored(), 4);
    }

    #[test]
    fn a_probe_known_lost_completes_its_round_early() {
        let w = wan();
        let mut h = WanHealth::new(Instant::ZERO, &w, Family::V4);
        h.link_usable(Instant::ZERO);
        let mut sent = Vec::new();
        h.start_round(Instant::ZERO, &w, Some(GW), &mut |d, s| sent.push((d, s)), &mut |_| {});
        let t = Instant::from_millis(2);
        for &(d, s) in &sent[..3] {
            assert!(h.handle_lost(d, s));
        }
        assert!(!h.handle_lost(sent[0].0, sent[0].1), "known already");
        h.handle_reply(t, sent[3].0, sent[3].1);
        let mut seen = vec![];
        h.handle_timeout(t, &w, Some(GW), &mut |tr| seen.push(tr));
        assert_eq!(seen.len(), 1, "judged at once, not at the deadline");
        assert_eq!(h.reason().to_string(), "gateway answers, targets unreachable (0/3 answered, need 1)");
    }

    /// Rounds judged without some answers name those probes once, for their TCP sockets
    /// to be closed; answered and known-lost ones are not named, nor is a steady probe kept
    /// open for its confirmation.
    #[test]
    fn judged_rounds_name_their_unanswered_probes_once() {
        let w = wan();
        let mut h = WanHealth::new(Instant::ZERO, &w, Family::V4);
        h.link_usable(Instant::ZERO);
        let mut sent = Vec::new();
        h.start_round(Instant::ZERO, &w, Some(GW), &mut |d, s| sent.push((d, s)), &mut |_| {});
        assert_eq!(sent.len(), 4);
        h.handle_reply(Instant::from_millis(3), sent[0].0, sent[0].1);
        assert!(h.handle_lost(sent[1].0, sent[1].1));
        let mut named = Vec::new();
        h.take_abandoned(&mut |seq| named.push(seq));
        assert!(named.is_empty(), "nothing judged yet");
        h.handle_timeout(Instant::from_millis(500), &w, Some(GW), &mut |_| {});
        h.take_abandoned(&mut |seq| named.push(seq));
        assert_eq!(named, [sent[2].1, sent[3].1], "the third target and the gateway");
        assert_eq!(slot_of(named[1]), GATEWAY_SLOT);
        h.take_abandoned(&mut |seq| named.push(seq));
        assert_eq!(named.len(), 2, "once");

        // Up and steady: a lost steady probe becomes the confirmation's trigger and stays
        // open; it is named with the confirmation's verdict.
        let mut d = Drive::new(wan());
        d.run_ms(1000, &all);
        d.h.take_abandoned(&mut |_| {});
        let steady_at = next_tick(d.now, d.w.interval);
        d.run(steady_at + RTO_MIN, &|_, _| false);
        let mut named = Vec::new();
        d.h.take_abandoned(&mut |seq| named.push(seq));
        assert!(d.h.is_confirming());
        assert!(named.is_empty(), "the trigger waits: {named:?}");
        d.run_ms(1000, &|_, _| false);
        d.h.take_abandoned(&mut |seq| named.push(seq));
        assert_eq!(d.h.status(), Status::Offline);
        // The trigger and the `down` rounds to 3 targets and the gateway.
        assert!(named.len() > 1 + 4 * 4, "{}", named.len());
    }

    #[test]
    fn the_answer_window_covers_the_longest_wait() {
        let mut w = wan();
        assert_eq!(answer_window(&w), Duration::from_millis(500 + 500 + 250 * 3));
        w.down = 1;
        assert_eq!(answer_window(&w), Duration::from_millis(1000));
        // The steady probe's own timeout, `down` - 1 half timeouts, the last round's timeout.
        w.down = 100;
        w.timeout = Duration::from_secs(30);
        assert_eq!(answer_window(&w), Duration::from_secs(60 + 15 * 99));
    }

    #[test]
    fn overlapping_rounds_are_judged_in_order() {
        let mut w = wan();
        w.timeout = Duration::from_millis(1000);
        w.up = 1;
        let mut h = WanHealth::new(Instant::ZERO, &w, Family::V4);
        h.link_usable(Instant::ZERO);
        h.start_round(Instant::ZERO, &w, None, &mut |_, _| {}, &mut |_| {});
        let mut second = Vec::new();
        let next = Instant::ZERO + w.interval;
        h.start_round(next, &w, None, &mut |d, s| second.push((d, s)), &mut |_| {});
        assert_eq!(second.len(), 3);
        for (d, s) in second {
            h.handle_reply(next + Duration::from_millis(10), d, s);
        }
        // The complete second round must wait for the first (which will fail).
        let mut seen = Vec::new();
        h.handle_timeout(next + Duration::from_millis(20), &w, None, &mut |t| seen.push(t));
        assert!(seen.is_empty());
        h.handle_timeout(Instant::from_millis(1000), &w, None, &mut |t| seen.push(t));
        assert_eq!(seen.iter().map(|t| t.to).collect::<Vec<_>>(), [Status::Offline, Status::Online]);
    }

    #[test]
    fn link_loss_is_immediate_and_recovery_starts_from_down() {
        let mut d = Drive::new(wan());
        d.run_ms(500, &all);
        let t = d.h.link_lost(Instant::from_millis(700), Reason::CarrierLost).unwrap();
        assert_eq!((t.from, t.to, t.reason), (Status::Online, Status::NoLink, Reason::CarrierLost));
        assert!(!d.h.is_probing());
        assert_eq!(d.h.recent().probes(), 0, "the quality window starts afresh");
        assert_eq!(d.h.link_lost(Instant::from_millis(800), Reason::DeviceMissing), None);
        assert_eq!(d.h.reason(), Reason::DeviceMissing, "the newest cause is shown");
        d.h.link_usable(Instant::from_millis(900));
        assert_eq!(d.h.state(), State::Down { good_rounds: 0 });
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
    fn quality_takes_an_answering_line_down_and_brings_it_back() {
        let mut w = wan();
        w.check_quality = true;
        w.failure_loss = 20;
        w.recovery_loss = 5;
        let mut d = Drive::new(w);
        d.run_ms(2000, &all);
        assert_eq!(d.h.status(), Status::Online);
        // Every other probe to each target is lost: 50 %.
        let half = |t: Instant, ip: IpAddr| ip == GW || (t.as_micros() / 1000 + u64::from(ip.is_ipv4())) % 2 == 0;
        d.run_ms(20_000, &half);
        let down = d.transitions.iter().find(|(_, t)| t.to == Status::Offline).expect("offline");
        let Reason::Loss { percent, limit: 20, recovering: false } = down.1.reason else { panic!("{:?}", down.1) };
        assert!(percent >= 20, "{percent}");
        assert_eq!(down.1.reason.to_string(), format!("loss {percent} % ≥ failure_loss 20 %"));
        // Clean again: the window drains, then `up` good rounds.
        d.run_ms(10_000, &all);
        assert_eq!(d.h.status(), Status::Online);
        assert_eq!(d.h.reason(), Reason::Recovered);
    }

    #[test]
    fn quality_names_latency_with_thousands() {
        let mut w = wan();
        w.check_quality = true;
        w.timeout = Duration::from_secs(3);
        let mut h = WanHealth::new(Instant::ZERO, &w, Family::V4);
        h.link_usable(Instant::ZERO);
        for _ in 0..HISTORY {
            h.recent.record(Some(Duration::from_millis(1240)));
        }
        assert_eq!(
            h.quality_failure(&w).map(|r| r.to_string()).as_deref(),
            Some("latency 1,240 ms ≥ failure_latency 1,000 ms")
        );
        assert_eq!(
            h.quality_short(&w).map(|r| r.to_string()).as_deref(),
            Some("latency 1,240 ms > recovery_latency 500 ms")
        );
        w.check_quality = false;
        assert_eq!(h.quality_failure(&w), None, "off: never");
        assert_eq!(Thousands(12).to_string(), "12");
        assert_eq!(Thousands(1_000).to_string(), "1,000");
        assert_eq!(Thousands(2_030_004).to_string(), "2,030,004");
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
