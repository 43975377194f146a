//! The pure core of `dualwan run`: inputs go in through `handle_*` with the current time,
//! outputs come out of [`Daemon::poll_action`], and [`Daemon::poll_timeout`] says when to
//! call [`Daemon::handle_timeout`] next. No I/O, no clock, no allocation after start-up
//! (queues and tables have fixed capacities).
//!
//! Nothing is written to the kernel before the first full dump of links, addresses,
//! routes and rules has arrived: without it we would not know what is already ours. Which
//! dumps are outstanding, whether anything changed since the last update and whether the
//! core is stopping make up its [`Phase`].
//!
//! A WAN with `option network` learns its device from netifd: [`Action::AskNetifd`] at
//! start, after every ubus (re)registration ([`Daemon::handle_ubus_ready`]), on every
//! netifd event about its interface ([`Daemon::handle_netifd_event`], heard after
//! [`Action::ListenNetifd`]) and with the 60 s resync; the answer comes back through
//! [`Daemon::handle_netifd_answer`]. Until the first answer such a WAN is left alone
//! (starting, not probed); afterwards netifd's `up` gates it.
//!
//! What observers are told is decided here: every transition is an [`Event::Interface`],
//! going up or down also runs the hotplug scripts ([`Action::Hotplug`]), and every move of
//! traffic is an [`Event::Active`] with its reason.
//!
//! A WAN with `track_method tcp` has its targets probed by TCP ([`Action::SendTcpProbe`],
//! its gateway still pinged): each probe ends in [`Daemon::handle_tcp_result`], an answer
//! counting as an echo reply, a known loss ending its round early and a timeout left to the
//! health's deadline; the probes of a round judged without their answer are closed
//! ([`Action::CancelTcpProbes`]), so a set holds at most every target of
//! [`crate::health::ROUNDS_IN_FLIGHT`] rounds.
//!
//! Each WAN has a health per family it tracks; each family has its own carriers (the
//! active WAN, or in balance mode the WANs sharing the traffic, and those of each `config
//! rule`: chosen by [`plan::choose`]), its own probe socket per WAN and its own rules,
//! routes and nexthops. What is known of each WAN's link is kept in [`Links`]; every
//! deadline is a named timer in [`Timers`].
//!
//! Kernel changes leave in batches that fit the action queue: when the queue has drained
//! and changes are still missing, [`Daemon::poll_action`] queues the next batch (a config
//! with many rules needs a few hundred at start).
//!
//! The core is one [`Daemon`] whose methods are spread by idea: `kernel` (dumps,
//! notifications, write results), `netifd` (interfaces followed through ubus), `probes`
//! (rounds, replies, health transitions, probe sockets), `on_demand` (`ubus call dualwan
//! probe`: one immediate round beside the health), `update` (carriers chosen and the
//! kernel reconciled), `announce` (traffic moves told to logs, ubus and hotplug) and
//! `lifecycle` (reload and shutdown). This module holds its state, its accessors, time
//! passing and the action queue.

mod announce;
mod kernel;
mod lifecycle;
mod netifd;
mod on_demand;
mod probes;
mod update;

use crate::action::Outbox;
pub use crate::action::{Action, Event, HotplugAction, LogLine, Names, TcpEnd, TcpTokens, ACTIONS_MAX, LOG_LINE_MAX};
use crate::config::{Config, LogLevel, MAX_WANS};
use crate::health::{Transition, WanHealth};
use crate::kernel::DumpKind;
use crate::links::Links;
use crate::phase::Phase;
use crate::plan::{self, Carriers, LinkView};
use crate::reconcile::{Installed, Ownership};
use crate::route::Family;
use crate::time::{Duration, Instant};
use crate::timers::{Timer, Timers};
use core::fmt::Write;
use core::net::IpAddr;
pub use on_demand::{ProbeRefusal, ProbeReport};

/// Full re-read of our rules and routes even without notifications.
pub const RESYNC_EVERY: Duration = Duration::from_secs(60);
/// Wait after a probe socket error before opening a new one.
pub const PROBE_RETRY: Duration = Duration::from_secs(5);
/// Wait after a failed kernel write before re-reading and retrying.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Every dump, in the order they must be read (links before their addresses and routes).
const ALL_DUMPS: [DumpKind; 5] =
    [DumpKind::Links, DumpKind::Addrs, DumpKind::Routes, DumpKind::Rules, DumpKind::Nexthops];

/// What the core keeps of one family of one WAN.
#[derive(Clone, Debug)]
struct FamilyRuntime {
    health: WanHealth,
    /// The (ifindex, address) its probe socket was opened for.
    socket: Option<(u32, IpAddr)>,
    /// The last address the WAN had: its connections are NAT'd to it even after the
    /// address is gone.
    nat_addr: Option<IpAddr>,
}

/// What the core keeps of one WAN besides its link.
#[derive(Clone, Debug)]
struct WanRuntime {
    /// By [`Family::index`].
    families: [FamilyRuntime; 2],
    /// Conntrack entries deleted for this WAN since start.
    flushed: u64,
    /// Its device was looked for since start or the last reload (the log names a missing
    /// one then, once; a device that goes later is a transition, `device missing`).
    device_checked: bool,
}

impl WanRuntime {
    fn new(now: Instant, wan: &crate::config::Wan) -> Self {
        let family = |f| FamilyRuntime { health: WanHealth::new(now, wan, f), socket: None, nat_addr: None };
        WanRuntime { families: Family::ALL.map(family), flushed: 0, device_checked: false }
    }
}

/// The daemon's core.
pub struct Daemon {
    config: Config,
    /// Added to the WAN index for each WAN's ICMP identifier.
    ident_base: u16,
    /// By WAN index (that of `config.wans`).
    wans: heapless::Vec<WanRuntime, MAX_WANS>,
    links: Links,
    installed: Installed,
    /// Entries of ours under ranges a reload gave up (another `rule_priority` or
    /// `table_base`): removed before anything else is written. Allocated by that reload.
    retiring: Option<Box<Installed>>,
    /// What the kernel should hold, as last planned.
    desired: plan::Desired,
    /// The last plan is not fully queued yet (the queue was full).
    reconcile_pending: bool,
    /// Who carries each family's traffic, by [`Family::index`].
    carriers: [Carriers; 2],
    /// The family's carriers were chosen at least once (since start or the last reload).
    routed: [bool; 2],
    /// The devices netifd named for the rules' `src_iface` (by rule).
    devices: plan::PolicyDevices,
    phase: Phase,
    timers: Timers,
    outbox: Outbox,
    started: Instant,
    history: heapless::Deque<HistoryEntry, HISTORY_MAX>,
    /// Per WAN index, its on-demand round (`ubus call dualwan probe`).
    on_demand: [on_demand::OnDemand; MAX_WANS],
}

/// Transitions remembered for status, newest last.
pub const HISTORY_MAX: usize = 16;

/// One remembered transition of a WAN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEntry {
    /// When it happened.
    pub at: Instant,
    /// The WAN's name.
    pub wan: crate::config::WanName,
    /// The family whose health changed.
    pub family: Family,
    /// The transition.
    pub transition: Transition,
}

impl Daemon {
    /// A core for `config`; its first actions ask for the kernel dumps. `ident_base` makes the
    /// ICMP identifiers of this process distinct from other pingers (use the pid).
    pub fn new(now: Instant, config: Config, ident_base: u16) -> Daemon {
        let wans = config.wans.iter().map(|w| WanRuntime::new(now, w)).collect();
        let mut d = Daemon {
            links: Links::new(config.wans.len()),
            config,
            ident_base,
            wans,
            installed: Installed::default(),
            retiring: None,
            desired: plan::Desired::default(),
            reconcile_pending: false,
            carriers: [Carriers::default(); 2],
            routed: [false; 2],
            devices: [None; crate::config::MAX_POLICIES],
            phase: Phase::new(),
            timers: Timers::default(),
            outbox: Outbox::default(),
            started: now,
            history: heapless::Deque::new(),
            on_demand: Default::default(),
        };
        d.timers.set(Timer::Resync, Some(now + RESYNC_EVERY));
        d.request_dumps(&ALL_DUMPS);
        d.listen_netifd();
        d.ask_netifd();
        d
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The WAN carrying `family`'s traffic, if any (in balance mode: the first of those
    /// sharing it; see [`Daemon::carriers`]).
    pub fn active(&self, family: Family) -> Option<usize> {
        self.carriers[family.index()].global.first()
    }

    /// Who carries `family`'s traffic: the catch-all's WANs, and those of each rule.
    pub fn carriers(&self, family: Family) -> &Carriers {
        &self.carriers[family.index()]
    }

    /// `family` health of WAN `wan`.
    pub fn health(&self, wan: usize, family: Family) -> &WanHealth {
        &self.wans[wan].families[family.index()].health
    }

    /// What is known of WAN `wan`'s link for `family`.
    pub fn link(&self, wan: usize, family: Family) -> LinkView {
        self.links.view(&self.config, wan, family)
    }

    /// When the daemon started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// The last transitions, oldest first.
    pub fn history(&self) -> impl DoubleEndedIterator<Item = &HistoryEntry> {
        self.history.iter()
    }

    /// WAN `wan`'s kernel device: the configured one, or netifd's `l3_device` for
    /// `option network` (the last one named while the interface is down; empty before
    /// netifd named any).
    pub fn device(&self, wan: usize) -> &str {
        self.links.device(&self.config, wan)
    }

    /// Conntrack entries deleted for WAN `wan` since start (or since its config changed).
    pub fn flushed(&self, wan: usize) -> u64 {
        self.wans.get(wan).map_or(0, |w| w.flushed)
    }

    /// ICMP identifier of WAN `wan`'s probes.
    pub fn ident(&self, wan: usize) -> u16 {
        self.ident_base.wrapping_add(wan as u16)
    }

    /// True once a stop was requested and every entry of ours is gone (or could not be).
    pub fn is_stopped(&self) -> bool {
        self.phase.is_stopping() && self.outbox.is_empty() && self.installed.is_empty() && self.retiring.is_none()
    }

    fn ownership(&self) -> Ownership {
        let g = &self.config.globals;
        Ownership { rules: g.rule_range(), tables: g.table_range(), nexthops: g.nexthop_range() }
    }

    fn family_mut(&mut self, wan: usize, family: Family) -> &mut FamilyRuntime {
        &mut self.wans[wan].families[family.index()]
    }

    fn mark_dirty(&mut self) {
        self.phase.sync_mut().mark_dirty();
    }

    fn push(&mut self, action: Action) {
        let dump = if let Action::Dump(kind) = action { Some(kind) } else { None };
        if !self.outbox.push(action) {
            // A dropped dump would stay pending forever (and the kernel view never complete),
            // a dropped op leaves the mirror wrong: read everything again at the next timeout
            // (an instant that has passed whatever its `now`).
            if let Some(kind) = dump {
                self.phase.sync_mut().give_up_dump(kind);
            }
            self.timers.set_earlier(Timer::Retry, Instant::ZERO);
        }
    }

    fn log(&mut self, level: LogLevel, args: core::fmt::Arguments<'_>) {
        if level > self.config.globals.log_level {
            return;
        }
        let mut line = LogLine::new();
        let _ = line.write_fmt(args); // cut at capacity
        self.push(Action::Log(level, line));
    }

    /// Time passed: every timer that is due does its work, then the core brings links,
    /// sockets, the active WANs and the kernel in line.
    pub fn handle_timeout(&mut self, now: Instant) {
        let resync = self.timers.expire(Timer::Resync, now);
        let retry = self.timers.expire(Timer::Retry, now);
        if resync || retry {
            // One full re-read serves both.
            self.timers.set(Timer::Retry, None);
            self.timers.set(Timer::Resync, Some(now + RESYNC_EVERY));
            self.resync(&ALL_DUMPS);
            self.ask_netifd();
        }
        for wan in 0..self.wans.len() {
            for family in Family::ALL {
                if self.timers.expire(Timer::Round { wan, family }, now) {
                    self.probe_round(now, wan, family);
                }
                // A recovery wait that ended may move traffic back; a socket pause that
                // ended may open a probe socket.
                let recovered =
                    self.timers.expire(Timer::Recovery { wan, family }, now) && self.health(wan, family).is_up();
                let may_reopen = self.timers.expire(Timer::SocketRetry { wan, family }, now);
                if recovered || may_reopen {
                    self.mark_dirty();
                }
            }
            if self.timers.expire(Timer::OnDemand { wan }, now) {
                self.on_demand_timeout(now, wan);
            }
        }
        self.update(now);
    }

    /// When [`Daemon::handle_timeout`] must run next: the earliest armed timer.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// The next thing for the adapters to do. Once the queue is empty after it overflowed,
    /// one warning says how many were dropped.
    pub fn poll_action(&mut self) -> Option<Action> {
        if self.outbox.is_empty() && self.reconcile_pending && self.phase.sync().is_synced() {
            self.reconcile();
        }
        self.outbox.pop(LogLevel::Warning <= self.config.globals.log_level)
    }
}

/// `IPv6 ` before a log line's words about IPv6; nothing for IPv4, whose lines name no
/// family (log watchers match them as they are).
fn ipv6_word(family: Family) -> &'static str {
    match family {
        Family::V4 => "",
        Family::V6 => "IPv6 ",
    }
}

/// An optional value in a log line: the value, or `none`.
struct OrNone<T>(Option<T>);

impl<T: core::fmt::Display> core::fmt::Display for OrNone<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match &self.0 {
            Some(v) => write!(f, "{v}"),
            None => f.write_str("none"),
        }
    }
}
