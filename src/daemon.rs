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

use crate::action::Outbox;
pub use crate::action::{Action, Event, HotplugAction, LogLine, Names, TcpEnd, TcpTokens, ACTIONS_MAX, LOG_LINE_MAX};
use crate::config::{Config, FlushConntrack, Gateway, LastResort, LogLevel, Mode, WanSet, MAX_WANS};
use crate::health::{self, Reason, Status, Transition, WanHealth, GATEWAY_SLOT};
use crate::kernel::{DumpKind, KernelEvent};
use crate::links::{Links, NetifdChange};
use crate::netifd::NetifdStatus;
use crate::phase::Phase;
use crate::plan::{self, Carriers, LinkView};
use crate::reconcile::{self, Installed, Ownership};
use crate::route::{DevName, Family, NexthopKind, Op};
use crate::time::{Duration, Instant};
use crate::timers::{Timer, Timers};
use core::fmt::Write;
use core::net::IpAddr;

/// Full re-read of our rules and routes even without notifications.
pub const RESYNC_EVERY: Duration = Duration::from_secs(60);
/// Wait after a probe socket error before opening a new one.
pub const PROBE_RETRY: Duration = Duration::from_secs(5);
/// Wait after a failed kernel write before re-reading and retrying.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Every dump, in the order they must be read (links before their addresses and routes).
const ALL_DUMPS: [DumpKind; 5] =
    [DumpKind::Links, DumpKind::Addrs, DumpKind::Routes, DumpKind::Rules, DumpKind::Nexthops];
/// Most kernel changes queued at once.
const OPS_BATCH: usize = 32;
/// Room kept in the action queue for what else an update queues (logs, events, probes).
const QUEUE_RESERVE: usize = 24;

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
}

impl WanRuntime {
    fn new(now: Instant, wan: &crate::config::Wan) -> Self {
        let family = |f| FamilyRuntime { health: WanHealth::new(now, wan, f), socket: None, nat_addr: None };
        WanRuntime { families: Family::ALL.map(family), flushed: 0 }
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

    /// Asks for the dumps of `kinds` that are not outstanding already. Until they are done
    /// nothing is written to the kernel.
    fn request_dumps(&mut self, kinds: &[DumpKind]) {
        for &kind in kinds {
            if self.phase.sync_mut().await_dump(kind) {
                self.push(Action::Dump(kind));
            }
        }
    }

    /// Forgets what the given dumps will report again, and asks for them.
    fn resync(&mut self, kinds: &[DumpKind]) {
        for &kind in kinds {
            self.links.forget(kind);
            match kind {
                DumpKind::Routes => self.installed.clear_routes(),
                DumpKind::Rules => self.installed.clear_rules(),
                DumpKind::Nexthops => self.installed.clear_nexthops(),
                DumpKind::Links | DumpKind::Addrs => {}
            }
        }
        self.request_dumps(kinds);
    }

    /// Queues an [`Action::AskNetifd`] for every enabled WAN that follows `only` (or any
    /// netifd interface).
    fn ask_netifd_for(&mut self, only: Option<&str>) {
        for wan in 0..self.config.wans.len() {
            let Some(network) = self.config.wans[wan].network().filter(|_| self.config.wans[wan].enabled) else {
                continue;
            };
            if only.is_some_and(|n| n != network.as_str()) {
                continue;
            }
            let network = network.clone();
            self.push(Action::AskNetifd { wan, network });
        }
        for k in 0..self.config.policies.len() {
            let Some(name) = self.config.policies[k].src_netifd() else { continue };
            if only.is_some_and(|n| n != name) {
                continue;
            }
            let network = crate::config::truncated(name);
            self.push(Action::AskNetifd { wan: MAX_WANS, network });
        }
    }

    fn ask_netifd(&mut self) {
        self.ask_netifd_for(None);
    }

    /// Some WAN follows a netifd interface: its events are worth hearing.
    fn listen_netifd(&mut self) {
        let rules = self.config.policies.iter().any(|p| p.src_netifd().is_some());
        if rules || self.config.wans.iter().any(|w| w.network().is_some()) {
            self.push(Action::ListenNetifd);
        }
    }

    /// The ubus connection is (again) registered: netifd may have changed meanwhile.
    pub fn handle_ubus_ready(&mut self, _now: Instant) {
        self.ask_netifd();
    }

    /// netifd sent a `network.interface` event about `interface` (`ifup`, `ifdown`).
    pub fn handle_netifd_event(&mut self, _now: Instant, interface: &str) {
        self.ask_netifd_for(Some(interface));
    }

    /// netifd's answer to an [`Action::AskNetifd`] about interface `network`: for the WAN
    /// that follows it now (a reload may have changed which, or made it none).
    pub fn handle_netifd_answer(&mut self, now: Instant, network: &str, status: NetifdStatus) {
        let device = status.l3_device.as_ref().and_then(|d| DevName::new(d));
        if let Some(wan) = self.config.wans.iter().position(|w| w.network().is_some_and(|n| n == network)) {
            self.handle_netifd(now, wan, status);
        }
        // A rule's src_iface that netifd knows is its device; one it does not know (or
        // not yet) is taken as a device name itself.
        for k in 0..self.config.policies.len() {
            if self.config.policies[k].src_netifd() != Some(network) || device.is_none() || self.devices[k] == device {
                continue;
            }
            self.devices[k] = device;
            let (rule, dev) = (self.config.policies[k].name.clone(), OrNone(device));
            self.log(LogLevel::Info, format_args!("rule {rule}: src_iface {network} is device {dev} (netifd)"));
            self.mark_dirty();
            self.update(now);
        }
    }

    /// netifd's status of WAN `wan`'s interface (an interface netifd does not have counts
    /// as down).
    fn handle_netifd(&mut self, now: Instant, wan: usize, status: NetifdStatus) {
        if self.config.wans.get(wan).is_none_or(|w| w.network().is_none()) {
            return;
        }
        match self.links.handle_netifd(wan, status) {
            NetifdChange::Same => return,
            NetifdChange::Device if self.phase.sync().is_synced() => {
                self.resync(&[DumpKind::Links, DumpKind::Addrs, DumpKind::Routes]);
            }
            NetifdChange::Device | NetifdChange::Status => {}
        }
        if let Some(s) = self.links.netifd(wan).cloned() {
            let name = self.config.wans[wan].name.clone();
            if s.up {
                let (device, address, gateway) = (OrNone(s.l3_device), OrNone(s.address), OrNone(s.gateway));
                let args = format_args!("{name}: netifd: up, device {device}, address {address}, gateway {gateway}");
                self.log(LogLevel::Info, args);
            } else {
                self.log(LogLevel::Info, format_args!("{name}: netifd: down"));
            }
        }
        self.mark_dirty();
        self.update(now);
    }

    /// A netlink notification or dump entry.
    pub fn handle_kernel(&mut self, now: Instant, event: &KernelEvent) {
        match event {
            KernelEvent::Link(..) | KernelEvent::Addr(..) | KernelEvent::Route(..) => {
                let seen = self.links.handle_kernel(&self.config, event);
                if seen.changed {
                    self.mark_dirty();
                }
                if let Some((wan, family, gw)) = seen.kept {
                    self.log_kept_gateway(wan, family, gw);
                }
                if seen.routes_gone && self.phase.sync().is_synced() {
                    self.resync(&[DumpKind::Routes]);
                }
                // Our nexthops on a device that went down are gone, maybe with groups and
                // their routes; the kernel says nothing of it.
                let ours_on = |oif: u32| {
                    self.installed
                        .nexthops()
                        .iter()
                        .any(|n| matches!(n.kind, NexthopKind::Via { oif: o, .. } if o == oif))
                };
                if seen.nexthops_gone.is_some_and(ours_on) && self.phase.sync().is_synced() {
                    self.resync(&[DumpKind::Nexthops, DumpKind::Routes]);
                }
                if matches!(event, KernelEvent::Route(..)) {
                    self.mirror(event);
                }
            }
            KernelEvent::Rule(..) | KernelEvent::Nexthop(..) => self.mirror(event),
            KernelEvent::Overrun => {
                self.log(LogLevel::Warning, format_args!("netlink notifications lost, re-reading kernel state"));
                self.resync(&ALL_DUMPS);
            }
            KernelEvent::DumpDone(kind) => {
                if let Some(first) = self.phase.sync_mut().dump_done(*kind) {
                    // The first read is worth a line; the periodic re-reads are not.
                    let level = if first { LogLevel::Info } else { LogLevel::Debug };
                    self.log(level, format_args!("kernel state read, {} WANs configured", self.wans.len()));
                }
                self.mark_dirty();
            }
        }
        self.update(now);
    }

    /// The main table's last default route via WAN `wan`'s device vanished and its gateway
    /// `gw` is kept: say so once, if that gateway is the one the WAN uses.
    fn log_kept_gateway(&mut self, wan: usize, family: Family, gw: IpAddr) {
        let auto = |w: &&crate::config::Wan| w.enabled && w.tracks(family) && w.gateway_of(family) == Gateway::Auto;
        let Some(w) = self.config.wans.get(wan).filter(auto) else { return };
        if self.links.view(&self.config, wan, family).gateway != Some(gw) {
            return;
        }
        let (name, ipv6) = (w.name.clone(), ipv6_word(family));
        let args =
            format_args!("{name}: {ipv6}main-table default route via {gw} vanished; keeping it (address unchanged)");
        self.log(LogLevel::Notice, args);
    }

    /// A rule or route event for the mirror of our entries.
    fn mirror(&mut self, event: &KernelEvent) {
        let own = self.ownership();
        if self.installed.handle_event(event, &own) {
            self.mark_dirty();
        }
    }

    /// A dump could not be read: try everything again a little later.
    pub fn handle_dump_error(&mut self, now: Instant, kind: DumpKind, error: &dyn core::fmt::Display) {
        self.log(LogLevel::Warning, format_args!("reading kernel state ({kind}): {error}"));
        self.phase.sync_mut().give_up_dump(kind);
        self.timers.set_earlier(Timer::Retry, now + RETRY_AFTER);
    }

    /// An ICMP echo reply from `src` arrived on WAN `wan`'s socket of `src`'s family.
    pub fn handle_reply(&mut self, now: Instant, wan: usize, src: IpAddr, ident: u16, seq: u16) {
        if wan >= self.wans.len() || ident != self.ident(wan) {
            return;
        }
        let family = Family::of(&src);
        // Foreign, late and duplicate replies change nothing (the health counts them).
        let _ = self.family_mut(wan, family).health.handle_reply(now, src, seq);
        // A complete round is judged at once rather than at its deadline.
        self.judge(now, wan, family, false);
        self.update(now);
    }

    /// The probe to `dst` with sequence `seq` on WAN `wan` is known lost before its
    /// deadline (an ICMP error about it, a TCP connection refused on the way): its round
    /// may be judged at once.
    pub fn handle_probe_lost(&mut self, now: Instant, wan: usize, dst: IpAddr, seq: u16) {
        if wan >= self.wans.len() {
            return;
        }
        let family = Family::of(&dst);
        if self.family_mut(wan, family).health.handle_lost(dst, seq) {
            self.judge(now, wan, family, false);
            self.update(now);
        }
    }

    /// WAN `wan`'s TCP probe to `dst` with `token` (its sequence number) ended: an answer
    /// counts as an echo reply would, a known loss may end its round early, and a timeout
    /// is left to the health's own deadline. `why` (SYN-ACK, RST, the error) is for the
    /// debug log.
    pub fn handle_tcp_result(
        &mut self,
        now: Instant,
        wan: usize,
        dst: IpAddr,
        token: u16,
        end: TcpEnd,
        why: &dyn core::fmt::Display,
    ) {
        if wan >= self.wans.len() {
            return;
        }
        match end {
            TcpEnd::Answered => {
                let family = Family::of(&dst);
                // Late and unknown answers change nothing (the health counts them).
                let _ = self.family_mut(wan, family).health.handle_reply(now, dst, token);
                self.judge(now, wan, family, false);
                self.update(now);
            }
            TcpEnd::Lost => {
                let (name, port) = (self.config.wans[wan].name.clone(), self.config.wans[wan].track_port);
                self.log(LogLevel::Debug, format_args!("{name}: TCP probe to {dst} port {port} lost: {why}"));
                self.handle_probe_lost(now, wan, dst, token);
            }
            TcpEnd::TimedOut => {}
        }
    }

    /// WAN `wan`'s probe socket of `family` could not be opened or used.
    pub fn handle_probe_error(&mut self, now: Instant, wan: usize, family: Family, error: &dyn core::fmt::Display) {
        if wan < self.wans.len() {
            let name = self.config.wans[wan].name.clone();
            self.log(LogLevel::Warning, format_args!("{name}: {family} probe socket: {error}"));
            // Forget the socket; a new one is tried after a pause, so a persistent error
            // (missing capability) costs one attempt per PROBE_RETRY, not one per round.
            self.family_mut(wan, family).socket = None;
            self.timers.set(Timer::SocketRetry { wan, family }, Some(now + PROBE_RETRY));
            self.mark_dirty();
        }
        self.update(now);
    }

    /// The result of an [`Action::Apply`]: `Err(text)` when the kernel refused it.
    pub fn handle_op_result(&mut self, now: Instant, op: &Op, result: Result<(), &dyn core::fmt::Display>) {
        if let Err(e) = result {
            self.log(LogLevel::Warning, format_args!("{op}: {e}; re-reading kernel state"));
            // Our mirror assumed success: re-read soon, not at once, so a persistent error
            // cannot spin the loop.
            self.timers.set_earlier(Timer::Retry, now + RETRY_AFTER);
        }
    }

    /// The result of an [`Action::FlushConntrack`] for WAN `wan`: how many entries NAT'd to
    /// `addr` the kernel deleted, or why it could not.
    pub fn handle_flush_result(
        &mut self,
        _now: Instant,
        wan: usize,
        addr: IpAddr,
        result: Result<u32, &dyn core::fmt::Display>,
    ) {
        let Some(name) = self.config.wans.get(wan).map(|w| w.name.clone()) else { return };
        match result {
            Ok(n) => {
                self.wans[wan].flushed += u64::from(n);
                let level = if n > 0 { LogLevel::Notice } else { LogLevel::Info };
                let s = if n == 1 { "" } else { "s" };
                self.log(level, format_args!("{name}: flushed {n} connection{s} NAT'd to {addr}"));
            }
            Err(e) => self.log(LogLevel::Warning, format_args!("{name}: flushing connections NAT'd to {addr}: {e}")),
        }
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
        }
        self.update(now);
    }

    /// The round timer of WAN `wan`'s `family` fired: judge the rounds that are over, start
    /// the next if it is due, and send its probes.
    fn probe_round(&mut self, now: Instant, wan: usize, family: Family) {
        self.judge(now, wan, family, true);
        let gateway = self.link(wan, family).gateway;
        let config = &self.config.wans[wan];
        let f = &mut self.wans[wan].families[family.index()];
        let socket_open = f.socket.is_some();
        let mut sends: heapless::Vec<(IpAddr, u16), 9> = heapless::Vec::new();
        let mut transitions: heapless::Vec<Transition, 2> = heapless::Vec::new();
        f.health.start_round(
            now,
            config,
            gateway,
            &mut |dst, seq| {
                let _ = sends.push((dst, seq));
            },
            &mut |t| {
                let _ = transitions.push(t);
            },
        );
        self.rearm_round(wan, family);
        for t in transitions {
            self.report(now, wan, family, t);
        }
        // A round judged to make room closes its TCP probes before the new round's go out.
        self.close_abandoned(wan, family);
        if !socket_open {
            return;
        }
        let w = &self.config.wans[wan];
        let (tcp, port, deadline) = (w.probes_tcp(), w.track_port, now + health::answer_window(w));
        for (dst, seq) in sends {
            // The gateway is always pinged: many answer ICMP and listen on no port.
            if tcp && health::slot_of(seq) != GATEWAY_SLOT {
                self.push(Action::SendTcpProbe { wan, dst, port, token: seq, deadline });
            } else {
                self.push(Action::SendProbe { wan, dst, seq });
            }
        }
    }

    /// Closes the TCP probes of WAN `wan`'s `family` rounds judged without their answer:
    /// they no longer count (for ICMP there is nothing to close).
    fn close_abandoned(&mut self, wan: usize, family: Family) {
        let tcp = self.config.wans[wan].probes_tcp();
        let mut tokens: heapless::Vec<u16, { health::ROUNDS_IN_FLIGHT * crate::config::MAX_TARGETS }> =
            heapless::Vec::new();
        self.family_mut(wan, family).health.take_abandoned(&mut |seq| {
            if tcp && health::slot_of(seq) != GATEWAY_SLOT {
                let _ = tokens.push(seq);
            }
        });
        // In actions of a round's worth (MAX_TARGETS), so that closing costs the queue
        // little more than one action per round.
        for chunk in tokens.chunks(crate::config::MAX_TARGETS) {
            let tokens = TcpTokens::from_slice(chunk).unwrap_or_default();
            self.push(Action::CancelTcpProbes { wan, family, tokens });
        }
    }

    /// Judges WAN `wan`'s `family` rounds that are complete, and with `by_clock` also
    /// those past their deadline (only when every waiting answer was read: from a timer,
    /// never from an answer, as the next answer may be queued behind it).
    fn judge(&mut self, now: Instant, wan: usize, family: Family, by_clock: bool) {
        let gateway = self.link(wan, family).gateway;
        let mut transitions: heapless::Vec<Transition, 8> = heapless::Vec::new();
        let config = &self.config.wans[wan];
        let health = &mut self.wans[wan].families[family.index()].health;
        let confirmations = health.confirmations();
        let mut push = |t| {
            let _ = transitions.push(t);
        };
        if by_clock {
            health.handle_timeout(now, config, gateway, &mut push);
        } else {
            health.handle_complete(now, config, gateway, &mut push);
        }
        let suspect = health.confirmations() != confirmations;
        self.rearm_round(wan, family);
        self.close_abandoned(wan, family);
        if suspect {
            let (name, rounds) = (self.config.wans[wan].name.clone(), self.config.wans[wan].down);
            let ipv6 = ipv6_word(family);
            self.log(
                LogLevel::Debug,
                format_args!("{name}: {ipv6}a probe went unanswered: confirming ({rounds} rounds)"),
            );
        }
        for t in transitions {
            self.report(now, wan, family, t);
        }
    }

    /// Sets WAN `wan`'s `family` round timer to when its health next has work; called
    /// after every change of the health's rounds.
    fn rearm_round(&mut self, wan: usize, family: Family) {
        let at = self.health(wan, family).next_deadline();
        self.timers.set(Timer::Round { wan, family }, at);
    }

    fn report(&mut self, now: Instant, wan: usize, family: Family, t: Transition) {
        self.mark_dirty();
        // A WAN back up waits `recovery_wait` before traffic returns: wake when it ends.
        let health = self.health(wan, family);
        let waiting = health.is_up() && health.eligible_at() > now && !self.phase.is_stopping();
        let recovery_ends = waiting.then(|| health.eligible_at());
        self.timers.set(Timer::Recovery { wan, family }, recovery_ends);
        let name = self.config.wans[wan].name.clone();
        if self.history.is_full() {
            self.history.pop_front();
        }
        let _ = self.history.push_back(HistoryEntry { at: now, wan: name.clone(), family, transition: t });
        let device = crate::kernel::IfName::try_from(self.device(wan)).unwrap_or_default();
        let interface = name.clone();
        self.push(Action::Event(Event::Interface { wan, family, transition: t, interface, device: device.clone() }));
        if let Some(action) = HotplugAction::of(&t) {
            self.push(Action::Hotplug { action, wan, interface: name.clone(), device, family });
        }
        // Going up or down is a notice; progress within a state (connecting) is info.
        let level = if matches!(t.to, Status::Online | Status::Offline | Status::NoLink) {
            LogLevel::Notice
        } else {
            LogLevel::Info
        };
        let ipv6 = ipv6_word(family);
        self.log(level, format_args!("{name}: {ipv6}{} -> {} ({})", t.from, t.to, t.reason));
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

    /// SIGHUP with a valid new config. Interfaces that probe the same link the same way keep
    /// their health, link, sockets and timers (a LuCI save that changes a timer must not
    /// drop traffic); new ones, and ones whose device, gateway or targets changed, start
    /// afresh.
    pub fn reload(&mut self, now: Instant, config: Config) {
        let old_own = self.ownership();
        let mut keep = [false; MAX_WANS];
        for (wan, w) in config.wans.iter().enumerate() {
            keep[wan] = self.config.wans.get(wan).is_some_and(|old| old.same_probing(w));
        }
        let mut wans: heapless::Vec<WanRuntime, MAX_WANS> = heapless::Vec::new();
        for (wan, w) in config.wans.iter().enumerate() {
            let runtime = if keep[wan] {
                self.wans[wan].clone()
            } else {
                self.close_sockets(wan);
                WanRuntime::new(now, w)
            };
            let _ = wans.push(runtime);
        }
        for wan in config.wans.len()..self.wans.len() {
            self.close_sockets(wan);
        }
        self.links.reload(config.wans.len(), |wan| keep[wan]);
        self.timers.reload(|wan| keep.get(wan) == Some(&true));
        let g = &config.globals;
        let ranges_changed = g.rule_range() != old_own.rules
            || g.table_range() != old_own.tables
            || g.nexthop_range() != old_own.nexthops;
        if ranges_changed {
            // Entries under the old ranges would become invisible: remove them first.
            let mut retiring = Box::new(Installed::default());
            core::mem::swap(&mut *retiring, &mut self.installed);
            self.retiring = Some(retiring);
            self.reconcile_pending = true;
        }
        self.config = config;
        self.wans = wans;
        // Rules may have changed: they are announced afresh (without a previous), and
        // netifd is asked again for their devices.
        self.routed = [false; 2];
        self.devices = [None; crate::config::MAX_POLICIES];
        for (family, carriers) in Family::ALL.into_iter().zip(self.carriers.iter_mut()) {
            // Rules and their sets may have changed: only the catch-all's choice is kept.
            let up = |a: usize| a < self.wans.len() && self.wans[a].families[family.index()].health.is_up();
            let mut global = WanSet::EMPTY;
            carriers.global.iter().filter(|&a| up(a)).for_each(|a| global.insert(a));
            *carriers = Carriers { global, ..Carriers::default() };
        }
        self.log(LogLevel::Info, format_args!("configuration reloaded"));
        // Links, addresses and routes must be known again for the new WANs.
        self.resync(&ALL_DUMPS);
        self.listen_netifd();
        self.ask_netifd();
        self.update(now);
    }

    /// Closes WAN `wan`'s open probe sockets (the WAN's runtime is about to go).
    fn close_sockets(&mut self, wan: usize) {
        for family in Family::ALL {
            if self.wans.get_mut(wan).is_some_and(|w| w.families[family.index()].socket.take().is_some()) {
                self.push(Action::CloseProbe { wan, family });
            }
        }
    }

    /// SIGTERM: remove everything of ours. Poll actions until [`Daemon::is_stopped`].
    pub fn shutdown(&mut self, now: Instant) {
        self.phase.stop();
        for wan in 0..self.wans.len() {
            self.close_sockets(wan);
            // Traffic goes nowhere any more: no recovery wait to wake for.
            for family in Family::ALL {
                self.timers.set(Timer::Recovery { wan, family }, None);
            }
        }
        self.mark_dirty();
        self.update(now);
    }

    /// Brings links, sockets, the carriers and the kernel in line with what is known.
    fn update(&mut self, now: Instant) {
        if !self.phase.sync_mut().take_dirty() {
            return;
        }
        let stopping = self.phase.is_stopping();
        if !stopping {
            self.update_links(now);
        }
        self.desired.clear();
        // Per family, the WANs its traffic left in this update (their connections may be
        // flushed).
        let mut left: [WanSet; 2] = [WanSet::EMPTY; 2];
        for family in Family::ALL {
            let links: heapless::Vec<LinkView, MAX_WANS> =
                (0..self.wans.len()).map(|wan| self.link(wan, family)).collect();
            for (w, link) in self.wans.iter_mut().zip(&links) {
                if link.addr.is_some() {
                    w.families[family.index()].nat_addr = link.addr;
                }
            }
            let current = self.carriers[family.index()];
            let next = if stopping {
                Carriers::default()
            } else {
                let ready: heapless::Vec<plan::Readiness, MAX_WANS> = self
                    .wans
                    .iter()
                    .map(|w| &w.families[family.index()].health)
                    .map(|h| plan::Readiness { up: h.is_up(), eligible_at: h.eligible_at() })
                    .collect();
                plan::choose(&self.config, family, &ready, &links, &current, now)
            };
            if next.global != current.global {
                match self.config.globals.mode {
                    Mode::Failover => {
                        let (from, to) = (current.global.first(), next.global.first());
                        self.log_move(family, from, to);
                        self.announce_move(family, from, to);
                    }
                    Mode::Balance => {
                        self.log_share(family, current.global, next.global);
                        self.announce_share(family, current.global, next.global);
                    }
                }
            }
            self.policies_moved(family, &current, &next);
            if !stopping {
                left[family.index()] = current.all().minus(next.all());
            }
            self.carriers[family.index()] = next;
            self.routed[family.index()] |= !stopping;
            if !stopping {
                plan::plan(&self.config, family, &links, &next, &self.devices, &mut self.desired);
            }
        }
        self.reconcile();
        for family in Family::ALL {
            for wan in left[family.index()].iter() {
                self.flush_moved_from(wan, family);
            }
        }
    }

    /// Queues the kernel changes that bring what is installed to what is desired (first,
    /// removing what a reload retired), as many as the action queue has room for; the
    /// rest follow once it has drained ([`Daemon::poll_action`]).
    fn reconcile(&mut self) {
        let per_op = if LogLevel::Debug <= self.config.globals.log_level { 2 } else { 1 };
        let room = ACTIONS_MAX.saturating_sub(self.outbox.len() + QUEUE_RESERVE) / per_op;
        let mut ops: heapless::Vec<Op, OPS_BATCH> = heapless::Vec::new();
        let mut more = false;
        let limit = room.min(OPS_BATCH);
        let mut take = |ops: &mut heapless::Vec<Op, OPS_BATCH>, op: Op| {
            if ops.len() < limit {
                let _ = ops.push(op);
            } else {
                more = true;
            }
        };
        if let Some(retiring) = &self.retiring {
            reconcile::remove_all(retiring, &mut |op| take(&mut ops, op));
        }
        let retired = ops.len();
        reconcile::diff(&self.desired, &self.installed, &mut |op| take(&mut ops, op));
        let mut full = false;
        for (i, op) in ops.into_iter().enumerate() {
            // Retired entries are no longer visible as ours: forget them as they go.
            match (&mut self.retiring, i < retired) {
                (Some(retiring), true) => {
                    retiring.handle_op(&op);
                }
                _ => full |= !self.installed.handle_op(&op),
            }
            self.log(LogLevel::Debug, format_args!("{op}"));
            self.push(Action::Apply(op));
        }
        if full {
            // Only stale entries of ours (a crashed run's, another config's) beyond what
            // the plan can want fill the mirror: remove what is not wanted first, and
            // add the rest once there is room (the next update).
            self.log(LogLevel::Warning, format_args!("more entries of ours in the kernel than expected"));
            let mut deletes: heapless::Vec<Op, OPS_BATCH> = heapless::Vec::new();
            reconcile::diff(&self.desired, &self.installed, &mut |op| {
                if matches!(op, Op::DelRule(_) | Op::DelRoute(_) | Op::DelNexthop(_)) {
                    let _ = deletes.push(op);
                }
            });
            for op in deletes {
                self.installed.handle_op(&op);
                self.push(Action::Apply(op));
            }
            more = false;
        }
        if self.retiring.as_ref().is_some_and(|r| r.is_empty()) {
            self.retiring = None;
        }
        self.reconcile_pending = more;
    }

    /// `family`'s traffic left WAN `wan`: ask for its NAT'd connections of that family to
    /// be flushed if its `flush_conntrack` says so.
    fn flush_moved_from(&mut self, wan: usize, family: Family) {
        let (Some(config), Some(w)) = (self.config.wans.get(wan), self.wans.get(wan)) else { return };
        let f = &w.families[family.index()];
        let wanted = match config.flush_conntrack {
            FlushConntrack::None => false,
            FlushConntrack::OnDown => !f.health.is_up(),
            FlushConntrack::OnSwitch => true,
        };
        match (wanted, f.nat_addr) {
            (true, Some(addr)) => self.push(Action::FlushConntrack { wan, addr }),
            (true, None) => {
                let name = config.name.clone();
                self.log(LogLevel::Debug, format_args!("{name}: no {family} address known, no connections to flush"));
            }
            (false, _) => {}
        }
    }

    /// Balance mode: the WANs sharing `family`'s traffic changed from `from` to `to`.
    fn log_share(&mut self, family: Family, from: WanSet, to: WanSet) {
        let ipv6 = ipv6_word(family);
        if to.is_empty() {
            let how = match self.config.globals.last_resort {
                LastResort::Main => "main routing table in charge",
                LastResort::Unreachable => "traffic rejected",
            };
            if !self.phase.is_stopping() {
                let for_ipv6 = if family == Family::V6 { " for IPv6" } else { "" };
                self.log(LogLevel::Notice, format_args!("no WAN up{for_ipv6}: {how}"));
            }
            return;
        }
        let mut line = LogLine::new();
        let _ = write!(line, "{ipv6}traffic shared by ");
        for (i, wan) in to.iter().enumerate() {
            let w = &self.config.wans[wan];
            let _ = write!(line, "{}{} (weight {})", if i == 0 { "" } else { ", " }, w.name, w.weight);
        }
        for wan in from.minus(to).iter() {
            let h = self.health(wan, family);
            let (name, status, reason) = (self.config.wans[wan].name.clone(), h.status(), h.reason());
            let _ = match status {
                Status::Online => write!(line, "; {name} left"),
                _ => write!(line, "; {name} {status}: {reason}"),
            };
        }
        self.log(LogLevel::Notice, format_args!("{line}"));
    }

    /// Each `config rule` whose traffic of `family` changed WANs: a log line, a
    /// `dualwan.rule` event and the hotplug scripts (`ACTION=rule`).
    fn policies_moved(&mut self, family: Family, from: &Carriers, to: &Carriers) {
        if self.phase.is_stopping() {
            return;
        }
        let ipv6 = ipv6_word(family);
        for k in 0..self.config.policies.len() {
            let (before, after) = (from.of_policy(&self.config, k), to.of_policy(&self.config, k));
            if before == after || !self.config.policies[k].family.covers(family) || !self.config.tracks(family) {
                continue;
            }
            let mut line = LogLine::new();
            let _ = write!(line, "rule {}: {ipv6}traffic ", self.config.policies[k].name);
            match after {
                Some(wans) => {
                    let _ = line.push_str("on ");
                    for (i, wan) in wans.iter().enumerate() {
                        let _ = write!(line, "{}{}", if i == 0 { "" } else { ", " }, self.config.wans[wan].name);
                    }
                }
                None => {
                    let _ = write!(line, "to its last resort ({})", self.config.policies[k].last_resort_word());
                }
            }
            self.log(LogLevel::Notice, format_args!("{line}"));
            let rule = self.config.policies[k].name.clone();
            // Before the first plan nobody carried anything: no previous.
            let previous = if self.routed[family.index()] { self.via(from, k) } else { Names::new() };
            let via = self.via(to, k);
            self.push(Action::Event(Event::Rule {
                rule: rule.clone(),
                family,
                via: via.clone(),
                previous: previous.clone(),
            }));
            self.push(Action::HotplugRule { rule, family, via, previous });
        }
    }

    /// Tells ubus listeners that `family`'s traffic moved, and why: the failure of the WAN
    /// it left, or (that WAN still up) its recovery; with no WAN left before, why the new
    /// one is up.
    fn announce_move(&mut self, family: Family, from: Option<usize>, to: Option<usize>) {
        let health = |wan: usize| self.health(wan, family);
        let reason = match (from, to) {
            (Some(f), _) if !health(f).is_up() => health(f).reason(),
            (Some(_), _) => Reason::Recovered,
            (None, Some(t)) => health(t).reason(),
            (None, None) => return,
        };
        let set = |wan: Option<usize>| wan.map_or(WanSet::EMPTY, WanSet::one);
        let (active, previous) = (self.names(set(to)), self.names(set(from)));
        self.push(Action::Event(Event::Active { family, from, to, active, previous, reason }));
    }

    /// Balance mode: tells ubus listeners that the WANs sharing `family`'s traffic changed,
    /// and why: the failure of a WAN that left, or else why one joined.
    fn announce_share(&mut self, family: Family, from: WanSet, to: WanSet) {
        let health = |wan: usize| self.health(wan, family);
        let reason = match (from.minus(to).first(), to.minus(from).first()) {
            (Some(left), _) if !health(left).is_up() => health(left).reason(),
            (Some(_), _) => Reason::Recovered,
            (None, Some(joined)) => health(joined).reason(),
            (None, None) => return,
        };
        let (active, previous) = (self.names(to), self.names(from));
        let (from, to) = (from.first(), to.first());
        self.push(Action::Event(Event::Active { family, from, to, active, previous, reason }));
    }

    /// The names of `wans`, separated by spaces (cut at [`crate::action::NAMES_MAX`]).
    fn names(&self, wans: WanSet) -> Names {
        let mut names = Names::new();
        for (i, wan) in wans.iter().enumerate() {
            let _ = write!(names, "{}{}", if i == 0 { "" } else { " " }, self.config.wans[wan].name);
        }
        names
    }

    /// Who carries rule `k`'s traffic per `carriers`: WAN names, or its last resort word.
    fn via(&self, carriers: &Carriers, k: usize) -> Names {
        match carriers.of_policy(&self.config, k) {
            Some(wans) => self.names(wans),
            None => {
                let mut word = Names::new();
                let _ = word.push_str(self.config.policies[k].last_resort_word());
                word
            }
        }
    }

    fn log_move(&mut self, family: Family, from: Option<usize>, to: Option<usize>) {
        let name = |wan: Option<usize>| wan.map(|w| self.config.wans[w].name.clone());
        let why = from.map(|w| {
            let h = self.health(w, family);
            (self.config.wans[w].name.clone(), h.status(), h.reason())
        });
        let ipv6 = ipv6_word(family);
        match (name(to), why) {
            (Some(to), Some((from, status, reason))) if status != Status::Online => {
                self.log(LogLevel::Notice, format_args!("{ipv6}traffic moved to {to} ({from} {status}: {reason})"))
            }
            (Some(to), Some((from, ..))) => {
                self.log(LogLevel::Notice, format_args!("{ipv6}traffic moved to {to} (back from {from})"))
            }
            (Some(to), None) => self.log(LogLevel::Notice, format_args!("{ipv6}traffic on {to}")),
            (None, _) => {
                let how = match self.config.globals.last_resort {
                    LastResort::Main => "main routing table in charge",
                    LastResort::Unreachable => "traffic rejected",
                };
                if !self.phase.is_stopping() {
                    let for_ipv6 = if family == Family::V6 { " for IPv6" } else { "" };
                    self.log(LogLevel::Notice, format_args!("no WAN up{for_ipv6}: {how}"));
                }
            }
        }
    }

    fn update_links(&mut self, now: Instant) {
        for wan in 0..self.wans.len() {
            if !self.config.wans[wan].enabled {
                continue;
            }
            // Until netifd has answered, nothing is known of the device: no verdict yet.
            if self.links.awaits_netifd(&self.config, wan) {
                continue;
            }
            for family in Family::ALL {
                if self.config.wans[wan].tracks(family) {
                    self.update_family_link(now, wan, family);
                }
            }
        }
    }

    /// Starts or stops WAN `wan`'s `family` probing as its link allows, and opens, moves or
    /// closes its probe socket to match.
    fn update_family_link(&mut self, now: Instant, wan: usize, family: Family) {
        let source = self.links.probe_source(&self.config, wan, family);
        let health = &mut self.family_mut(wan, family).health;
        let transition = match source {
            Err(reason) => health.link_lost(now, reason),
            Ok(_) => health.link_usable(now),
        };
        self.rearm_round(wan, family);
        if let Some(t) = transition {
            self.report(now, wan, family, t);
        }
        let want_socket = source.ok();
        let socket = self.wans[wan].families[family.index()].socket;
        let pausing = self.timers.get(Timer::SocketRetry { wan, family }).is_some_and(|at| now < at);
        if want_socket.is_some() && socket.is_none() && pausing {
            return;
        }
        if want_socket != socket {
            match want_socket {
                Some((_, src)) => {
                    let device = self.links.device_name(&self.config, wan).cloned().unwrap_or_default();
                    let (ident, tcp) = (self.ident(wan), self.config.wans[wan].probes_tcp());
                    self.push(Action::OpenProbe { wan, device, src, ident, tcp });
                }
                None => self.push(Action::CloseProbe { wan, family }),
            }
            self.family_mut(wan, family).socket = want_socket;
        }
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
