//! The pure core of `dualwan run`: inputs go in through `handle_*` with the current time,
//! outputs come out of [`Daemon::poll_action`], and [`Daemon::poll_timeout`] says when to
//! call [`Daemon::handle_timeout`] next. No I/O, no clock, no allocation after start-up
//! (queues and tables have fixed capacities).
//!
//! Nothing is written to the kernel before the first full dump of links, addresses,
//! routes and rules has arrived: without it we would not know what is already ours.
//!
//! A WAN with `option network` learns its device from netifd: [`Action::AskNetifd`] at
//! start, after every ubus (re)registration ([`Daemon::handle_ubus_ready`]), on every
//! netifd event about its interface ([`Daemon::handle_netifd_event`]) and with the 60 s
//! resync; the answer comes back through [`Daemon::handle_netifd`]. Until the first answer
//! such a WAN is left alone (starting, not probed); afterwards netifd's `up` gates it,
//! its `l3_device` is the device netlink links are matched by, and its address and
//! gateway are preferred over what the kernel shows.

use crate::config::{Config, FlushConntrack, Gateway, LogLevel, NetName, Source, MAX_WANS};
use crate::health::{Reason, ReplyOutcome, Status, Transition, WanHealth};
use crate::kernel::{Change, DumpKind, IfName, KernelEvent};
use crate::netifd::NetifdStatus;
use crate::plan::{self, LinkView};
use crate::reconcile::{self, Installed, Ownership};
use crate::route::{Op, RouteType, TABLE_MAIN};
use crate::time::{Duration, Instant};
use core::fmt::Write;
use core::net::Ipv4Addr;

/// Queued actions; a round of 8 WANs × 9 probes fits with room for ops and logs.
pub const ACTIONS_MAX: usize = 128;
/// A log line's capacity; longer lines are cut.
pub const LOG_LINE_MAX: usize = 200;
/// Full re-read of our rules and routes even without notifications.
pub const RESYNC_EVERY: Duration = Duration::from_secs(60);
/// Wait after a probe socket error before opening a new one.
pub const PROBE_RETRY: Duration = Duration::from_secs(5);
/// Wait after a failed kernel write before re-reading and retrying.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Every dump, in the order they must be read (links before their addresses and routes).
const ALL_DUMPS: [DumpKind; 4] = [DumpKind::Links, DumpKind::Addrs, DumpKind::Routes, DumpKind::Rules];
/// Addresses remembered per WAN device (the first is used).
const ADDRS_MAX: usize = 4;
/// Default routes in main remembered per WAN device (the lowest metric is used).
const DEFAULTS_MAX: usize = 4;

/// One log line, built without allocating.
pub type LogLine = heapless::String<LOG_LINE_MAX>;

/// Something the adapters must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Ask the kernel for a full dump of this kind (answers arrive via `handle_kernel`).
    Dump(DumpKind),
    /// Open (or re-open) WAN `wan`'s probe socket, bound to `device` and `src`.
    OpenProbe {
        /// WAN slot.
        wan: usize,
        /// Device to bind to.
        device: IfName,
        /// Source address to bind to.
        src: Ipv4Addr,
        /// ICMP identifier of its probes.
        ident: u16,
    },
    /// Close WAN `wan`'s probe socket.
    CloseProbe {
        /// WAN slot.
        wan: usize,
    },
    /// Send one echo request on WAN `wan`'s socket.
    SendProbe {
        /// WAN slot.
        wan: usize,
        /// Target.
        dst: Ipv4Addr,
        /// ICMP sequence number.
        seq: u16,
    },
    /// Change the kernel's routing; report the result with `handle_op_result`.
    Apply(Op),
    /// Write a log line.
    Log(LogLevel, LogLine),
    /// Tell observers.
    Event(Event),
    /// Ask netifd for the status of interface `network` (`ubus call
    /// network.interface.NAME status`); the answer goes to `handle_netifd`.
    AskNetifd {
        /// WAN slot.
        wan: usize,
        /// The netifd interface.
        network: NetName,
    },
    /// Delete the conntrack entries source-NAT'd to `addr`, WAN `wan`'s address, after
    /// traffic left it (`option flush_conntrack`); the count goes to `handle_flush_result`.
    /// Queued after the route changes of the same move, so that packets of the flushed
    /// connections find the new route and get new entries, not the old NAT address.
    FlushConntrack {
        /// WAN slot.
        wan: usize,
        /// The WAN's address, the one its connections were masqueraded to.
        addr: Ipv4Addr,
    },
}

/// What the core knows of one WAN.
#[derive(Clone, Debug)]
struct WanRuntime {
    health: WanHealth,
    ifindex: Option<u32>,
    admin_up: bool,
    lower_up: bool,
    addrs: heapless::Vec<Ipv4Addr, ADDRS_MAX>,
    main_defaults: heapless::Vec<(Ipv4Addr, u32), DEFAULTS_MAX>,
    /// The (ifindex, address) its probe socket was opened for.
    socket: Option<(u32, Ipv4Addr)>,
    /// After a socket error, no new socket before this instant.
    socket_retry_at: Instant,
    /// netifd's last answer, for a WAN with `option network` (`None` before the first).
    netifd: Option<NetifdStatus>,
    /// The last `l3_device` netifd named, kept while it names none (for status and hotplug).
    last_device: IfName,
    /// The last address the WAN had: its connections are NAT'd to it even after the
    /// address is gone.
    nat_addr: Option<Ipv4Addr>,
    /// Conntrack entries deleted for this WAN since start.
    flushed: u64,
}

impl WanRuntime {
    fn new(now: Instant, enabled: bool) -> Self {
        WanRuntime {
            health: WanHealth::new(now, enabled),
            ifindex: None,
            admin_up: false,
            lower_up: false,
            addrs: heapless::Vec::new(),
            main_defaults: heapless::Vec::new(),
            socket: None,
            socket_retry_at: now,
            netifd: None,
            last_device: IfName::new(),
            nat_addr: None,
            flushed: 0,
        }
    }
}

/// Counters for status and benchmarks.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Probes sent.
    pub probes: u64,
    /// Replies matched to a probe.
    pub replies: u64,
    /// Replies ignored (foreign, late, duplicate, wrong source or identifier).
    pub ignored: u64,
    /// Kernel writes issued.
    pub ops: u64,
    /// Kernel writes that failed.
    pub op_errors: u64,
    /// Actions dropped because the queue was full.
    pub dropped_actions: u64,
}

/// The daemon's core.
pub struct Daemon {
    config: Config,
    ident_base: u16,
    wans: heapless::Vec<WanRuntime, MAX_WANS>,
    installed: Installed,
    active: Option<usize>,
    actions: heapless::Deque<Action, ACTIONS_MAX>,
    /// Dumps still outstanding before the kernel view is complete.
    pending_dumps: heapless::Vec<DumpKind, 4>,
    synced: bool,
    /// The kernel state has been read completely at least once.
    read_once: bool,
    dirty: bool,
    stopping: bool,
    next_resync: Instant,
    /// `now` of the previous `handle_timeout`.
    last_timeout: Instant,
    counters: Counters,
    /// Actions dropped since the last warning about it.
    dropped_unlogged: u64,
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
    /// The transition.
    pub transition: Transition,
}

/// Something observers (ubus listeners, hotplug scripts) are told about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// WAN `wan`'s status changed.
    Interface {
        /// WAN slot.
        wan: usize,
        /// The change.
        transition: Transition,
    },
    /// Traffic moved from one WAN to another (or to none).
    Active {
        /// The WAN traffic left, if any.
        from: Option<usize>,
        /// The WAN now carrying traffic, if any.
        to: Option<usize>,
    },
}

impl Daemon {
    /// A core for `config`; its first actions ask for the kernel dumps. `ident_base` makes the
    /// ICMP identifiers of this process distinct from other pingers (use the pid).
    pub fn new(now: Instant, config: Config, ident_base: u16) -> Daemon {
        let mut wans = heapless::Vec::new();
        for w in &config.wans {
            let _ = wans.push(WanRuntime::new(now, w.enabled)); // same capacity as config.wans
        }
        let mut d = Daemon {
            config,
            ident_base,
            wans,
            installed: Installed::default(),
            active: None,
            actions: heapless::Deque::new(),
            pending_dumps: heapless::Vec::new(),
            synced: false,
            read_once: false,
            dirty: false,
            stopping: false,
            next_resync: now + RESYNC_EVERY,
            last_timeout: now,
            started: now,
            history: heapless::Deque::new(),
            counters: Counters::default(),
            dropped_unlogged: 0,
        };
        d.request_dumps(&ALL_DUMPS);
        d.ask_netifd();
        d
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The WAN carrying traffic, if any.
    pub fn active(&self) -> Option<usize> {
        self.active
    }

    /// Health of WAN `slot`.
    pub fn health(&self, slot: usize) -> &WanHealth {
        &self.wans[slot].health
    }

    /// What is known of WAN `slot`'s link.
    pub fn link(&self, slot: usize) -> LinkView {
        self.link_view(slot)
    }

    /// Our rules and routes as the kernel holds them.
    pub fn installed(&self) -> &Installed {
        &self.installed
    }

    /// When the daemon started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// The last transitions, oldest first.
    pub fn history(&self) -> impl DoubleEndedIterator<Item = &HistoryEntry> {
        self.history.iter()
    }

    /// Counters since start.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// WAN `slot`'s kernel device: the configured one, or netifd's `l3_device` for
    /// `option network` (the last one named while the interface is down; empty before
    /// netifd named any).
    pub fn device(&self, slot: usize) -> &str {
        self.device_name(slot).or(self.wans.get(slot).map(|w| &w.last_device)).map_or("", IfName::as_str)
    }

    /// Conntrack entries deleted for WAN `slot` since start (or since its config changed).
    pub fn flushed(&self, slot: usize) -> u64 {
        self.wans.get(slot).map_or(0, |w| w.flushed)
    }

    /// netifd's last answer about WAN `slot`'s interface, if it follows one.
    pub fn netifd(&self, slot: usize) -> Option<&NetifdStatus> {
        self.wans.get(slot)?.netifd.as_ref()
    }

    fn device_name(&self, slot: usize) -> Option<&IfName> {
        match &self.config.wans.get(slot)?.source {
            Source::Device(d) => Some(d),
            Source::Network(_) => self.wans[slot].netifd.as_ref()?.l3_device.as_ref(),
        }
    }

    /// ICMP identifier of WAN `slot`'s probes.
    pub fn ident(&self, slot: usize) -> u16 {
        self.ident_base.wrapping_add(slot as u16)
    }

    /// True once a stop was requested and every entry of ours is gone (or could not be).
    pub fn is_stopped(&self) -> bool {
        self.stopping
            && self.actions.is_empty()
            && self.installed.rules().is_empty()
            && self.installed.routes().is_empty()
    }

    fn ownership(&self) -> Ownership {
        Ownership { rules: self.config.globals.rule_range(), tables: self.config.globals.table_range() }
    }

    fn push(&mut self, action: Action) {
        if let Err(action) = self.actions.push_back(action) {
            self.counters.dropped_actions += 1;
            self.dropped_unlogged += 1;
            // A dropped dump would stay pending forever (and the kernel view never complete),
            // a dropped op leaves the mirror wrong: read everything again at the next timeout.
            if let Action::Dump(kind) = action {
                self.pending_dumps.retain(|k| *k != kind);
            }
            self.next_resync = self.next_resync.min(self.last_timeout);
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

    fn request_dumps(&mut self, kinds: &[DumpKind]) {
        for &kind in kinds {
            if !self.pending_dumps.contains(&kind) {
                let _ = self.pending_dumps.push(kind);
                self.push(Action::Dump(kind));
            }
        }
    }

    fn link_view(&self, slot: usize) -> LinkView {
        let w = &self.wans[slot];
        let netifd = w.netifd.as_ref().filter(|n| n.up);
        let gateway = match self.config.wans[slot].gateway {
            Gateway::Fixed(ip) => Some(ip),
            Gateway::Auto => netifd
                .and_then(|n| n.gateway)
                .or_else(|| w.main_defaults.iter().min_by_key(|(_, metric)| *metric).map(|(gw, _)| *gw)),
        };
        // netifd's address, once the kernel has it on the device (a probe socket cannot
        // bind an address the device does not hold yet).
        let addr = netifd.and_then(|n| n.address).filter(|a| w.addrs.contains(a)).or(w.addrs.first().copied());
        LinkView { ifindex: w.ifindex, addr, gateway }
    }

    /// Why WAN `slot` cannot be probed, or `None` if it can.
    fn link_problem(&self, slot: usize) -> Option<Reason> {
        let w = &self.wans[slot];
        let view = self.link_view(slot);
        if w.netifd.as_ref().is_some_and(|n| !n.up) {
            Some(Reason::InterfaceDown)
        } else if w.ifindex.is_none() {
            Some(Reason::DeviceMissing)
        } else if !w.admin_up {
            Some(Reason::LinkDown)
        } else if !w.lower_up {
            Some(Reason::CarrierLost)
        } else if view.addr.is_none() {
            Some(Reason::AddressRemoved)
        } else if view.gateway.is_none() {
            Some(Reason::NoGateway)
        } else {
            None
        }
    }

    /// Queues an [`Action::AskNetifd`] for every enabled WAN that follows `only` (or any
    /// netifd interface).
    fn ask_netifd_for(&mut self, only: Option<&str>) {
        for slot in 0..self.config.wans.len() {
            let wan = &self.config.wans[slot];
            let Source::Network(network) = &wan.source else { continue };
            if !wan.enabled || only.is_some_and(|n| n != network.as_str()) {
                continue;
            }
            let network = network.clone();
            self.push(Action::AskNetifd { wan: slot, network });
        }
    }

    fn ask_netifd(&mut self) {
        self.ask_netifd_for(None);
    }

    /// The ubus connection is (again) registered: netifd may have changed meanwhile.
    pub fn handle_ubus_ready(&mut self, _now: Instant) {
        self.ask_netifd();
    }

    /// netifd sent a `network.interface` event about `interface` (`ifup`, `ifdown`).
    pub fn handle_netifd_event(&mut self, _now: Instant, interface: &str) {
        self.ask_netifd_for(Some(interface));
    }

    /// netifd's answer to an [`Action::AskNetifd`] for WAN `slot` (an interface netifd
    /// does not have counts as down).
    pub fn handle_netifd(&mut self, now: Instant, slot: usize, status: NetifdStatus) {
        if self.config.wans.get(slot).is_none_or(|w| w.network().is_none()) {
            return;
        }
        if let Some(device) = &status.l3_device {
            self.wans[slot].last_device = device.clone();
        }
        let old = self.wans[slot].netifd.replace(status);
        let new = self.wans[slot].netifd.as_ref();
        if old.as_ref() == new {
            return;
        }
        let (old_device, new_device) =
            (old.as_ref().and_then(|s| s.l3_device.as_ref()), new.and_then(|s| s.l3_device.as_ref()));
        if old_device != new_device {
            // Another device (PPP reconnected, an LTE `_4` sub-interface): what we know of
            // the old one does not apply; read links, addresses and routes again to find
            // the new one's.
            let w = &mut self.wans[slot];
            w.ifindex = None;
            w.admin_up = false;
            w.lower_up = false;
            w.addrs.clear();
            w.main_defaults.clear();
            if self.synced {
                self.resync(&[DumpKind::Links, DumpKind::Addrs, DumpKind::Routes]);
            }
        }
        if let Some(s) = self.wans[slot].netifd.clone() {
            let name = self.config.wans[slot].name.clone();
            if s.up {
                struct Or<T>(Option<T>);
                impl<T: core::fmt::Display> core::fmt::Display for Or<T> {
                    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                        match &self.0 {
                            Some(v) => write!(f, "{v}"),
                            None => f.write_str("none"),
                        }
                    }
                }
                self.log(
                    LogLevel::Info,
                    format_args!(
                        "{name}: netifd: up, device {}, address {}, gateway {}",
                        Or(s.l3_device),
                        Or(s.address),
                        Or(s.gateway)
                    ),
                );
            } else {
                self.log(LogLevel::Info, format_args!("{name}: netifd: down"));
            }
        }
        self.dirty = true;
        self.update(now);
    }

    /// A netlink notification or dump entry.
    pub fn handle_kernel(&mut self, now: Instant, event: &KernelEvent) {
        match event {
            KernelEvent::Link(change, link) => {
                let mut routes_gone = false;
                for slot in 0..self.wans.len() {
                    let named = self.device_name(slot) == Some(&link.name);
                    let w = &mut self.wans[slot];
                    let same = w.ifindex == Some(link.ifindex);
                    match change {
                        Change::New if named => {
                            if !same {
                                // A new device (USB modem replugged): its addresses are new too.
                                w.addrs.clear();
                                w.main_defaults.clear();
                            }
                            w.ifindex = Some(link.ifindex);
                            w.admin_up = link.up;
                            w.lower_up = link.lower_up;
                        }
                        // Renamed away from our device name, or deleted (with its routes,
                        // which the kernel removes without notifying).
                        Change::New | Change::Del if same => {
                            routes_gone = true;
                            w.ifindex = None;
                            w.admin_up = false;
                            w.lower_up = false;
                            w.addrs.clear();
                            w.main_defaults.clear();
                        }
                        _ => continue,
                    }
                    self.dirty = true;
                }
                if routes_gone && self.synced {
                    self.resync(&[DumpKind::Routes]);
                }
            }
            KernelEvent::Addr(change, addr) => {
                // Removing an address silently removes the routes through it.
                let mut routes_gone = false;
                for w in self.wans.iter_mut().filter(|w| w.ifindex == Some(addr.ifindex)) {
                    let pos = w.addrs.iter().position(|a| *a == addr.addr);
                    match (change, pos) {
                        (Change::New, None) => {
                            let _ = w.addrs.push(addr.addr); // extra addresses are not needed
                        }
                        (Change::Del, Some(i)) => {
                            w.addrs.remove(i);
                            routes_gone = true;
                        }
                        _ => continue,
                    }
                    self.dirty = true;
                }
                if routes_gone && self.synced {
                    self.resync(&[DumpKind::Routes]);
                }
            }
            KernelEvent::Route(change, route) => {
                if route.table == TABLE_MAIN && route.dst.is_default() && route.kind == RouteType::Unicast {
                    if let Some(gw) = route.gateway {
                        for w in self.wans.iter_mut().filter(|w| w.ifindex == Some(route.oif)) {
                            let pos = w.main_defaults.iter().position(|(g, m)| *g == gw && *m == route.metric);
                            match (change, pos) {
                                (Change::New, None) => {
                                    let _ = w.main_defaults.push((gw, route.metric));
                                }
                                (Change::Del, Some(i)) => {
                                    w.main_defaults.remove(i);
                                }
                                _ => continue,
                            }
                            self.dirty = true;
                        }
                    }
                }
                let own = self.ownership();
                if self.installed.handle_event(event, &own) {
                    self.dirty = true;
                }
            }
            KernelEvent::Rule(..) => {
                let own = self.ownership();
                if self.installed.handle_event(event, &own) {
                    self.dirty = true;
                }
            }
            KernelEvent::Overrun => {
                self.log(LogLevel::Warning, format_args!("netlink notifications lost, re-reading kernel state"));
                self.resync(&ALL_DUMPS);
            }
            KernelEvent::DumpDone(kind) => {
                if let Some(i) = self.pending_dumps.iter().position(|k| k == kind) {
                    self.pending_dumps.swap_remove(i);
                }
                if self.pending_dumps.is_empty() && !self.synced {
                    self.synced = true;
                    // The first read is worth a line; the periodic re-reads are not.
                    let level = if self.read_once { LogLevel::Debug } else { LogLevel::Info };
                    self.read_once = true;
                    self.log(level, format_args!("kernel state read, {} WANs configured", self.wans.len()));
                }
                self.dirty = true;
            }
        }
        self.update(now);
    }

    /// Forgets what the given dumps will report again, and asks for them. Until they are
    /// done nothing is written to the kernel.
    fn resync(&mut self, kinds: &[DumpKind]) {
        for kind in kinds {
            match kind {
                DumpKind::Links => {
                    for w in self.wans.iter_mut() {
                        w.ifindex = None;
                        w.admin_up = false;
                        w.lower_up = false;
                        w.addrs.clear();
                        w.main_defaults.clear();
                    }
                }
                DumpKind::Addrs => self.wans.iter_mut().for_each(|w| w.addrs.clear()),
                DumpKind::Routes => {
                    self.installed.clear_routes();
                    self.wans.iter_mut().for_each(|w| w.main_defaults.clear());
                }
                DumpKind::Rules => self.installed.clear_rules(),
            }
        }
        self.synced = false;
        self.request_dumps(kinds);
    }

    /// A dump could not be read: try everything again a little later.
    pub fn handle_dump_error(&mut self, now: Instant, kind: DumpKind, error: &dyn core::fmt::Display) {
        self.log(LogLevel::Warning, format_args!("reading kernel state ({kind}): {error}"));
        if let Some(i) = self.pending_dumps.iter().position(|k| *k == kind) {
            self.pending_dumps.swap_remove(i);
        }
        self.next_resync = self.next_resync.min(now + RETRY_AFTER);
    }

    /// An ICMP echo reply arrived on WAN `slot`'s socket.
    pub fn handle_reply(&mut self, now: Instant, slot: usize, src: Ipv4Addr, ident: u16, seq: u16) {
        if slot >= self.wans.len() || ident != self.ident(slot) {
            self.counters.ignored += 1;
            return;
        }
        match self.wans[slot].health.handle_reply(now, src, seq) {
            ReplyOutcome::Matched(_) => self.counters.replies += 1,
            _ => self.counters.ignored += 1,
        }
        // A complete round is judged at once rather than at its deadline.
        self.judge(now, slot);
        self.update(now);
    }

    /// A probe socket could not be opened or used.
    pub fn handle_probe_error(&mut self, now: Instant, slot: usize, error: &dyn core::fmt::Display) {
        if slot < self.wans.len() {
            let name = self.config.wans[slot].name.clone();
            self.log(LogLevel::Warning, format_args!("{name}: probe socket: {error}"));
            // Forget the socket; a new one is tried after a pause, so a persistent error
            // (missing capability) costs one attempt per PROBE_RETRY, not one per round.
            self.wans[slot].socket = None;
            self.wans[slot].socket_retry_at = now + PROBE_RETRY;
            self.dirty = true;
        }
        self.update(now);
    }

    /// The result of an [`Action::Apply`]: `Err(text)` when the kernel refused it.
    pub fn handle_op_result(&mut self, now: Instant, op: &Op, result: Result<(), &dyn core::fmt::Display>) {
        if let Err(e) = result {
            self.counters.op_errors += 1;
            self.log(LogLevel::Warning, format_args!("{op}: {e}; re-reading kernel state"));
            // Our mirror assumed success: re-read soon, not at once, so a persistent error
            // cannot spin the loop.
            self.next_resync = self.next_resync.min(now + RETRY_AFTER);
        }
    }

    /// The result of an [`Action::FlushConntrack`] for WAN `slot`: how many entries NAT'd to
    /// `addr` the kernel deleted, or why it could not.
    pub fn handle_flush_result(
        &mut self,
        _now: Instant,
        slot: usize,
        addr: Ipv4Addr,
        result: Result<u32, &dyn core::fmt::Display>,
    ) {
        let Some(name) = self.config.wans.get(slot).map(|w| w.name.clone()) else { return };
        match result {
            Ok(n) => {
                self.wans[slot].flushed += u64::from(n);
                let level = if n > 0 { LogLevel::Notice } else { LogLevel::Info };
                let s = if n == 1 { "" } else { "s" };
                self.log(level, format_args!("{name}: flushed {n} connection{s} NAT'd to {addr}"));
            }
            Err(e) => self.log(LogLevel::Warning, format_args!("{name}: flushing connections NAT'd to {addr}: {e}")),
        }
    }

    /// Time passed: start and judge probe rounds, apply recovery waits, resync.
    pub fn handle_timeout(&mut self, now: Instant) {
        if now >= self.next_resync {
            self.next_resync = now + RESYNC_EVERY;
            self.resync(&ALL_DUMPS);
            self.ask_netifd();
        }
        for slot in 0..self.wans.len() {
            self.judge(now, slot);
            let wan = &self.config.wans[slot];
            let gateway = self.link_view(slot).gateway;
            let ident_ok = self.wans[slot].socket.is_some();
            let mut sends: heapless::Vec<(Ipv4Addr, u16), 9> = heapless::Vec::new();
            let mut transitions: heapless::Vec<Transition, 2> = heapless::Vec::new();
            self.wans[slot].health.start_round(
                now,
                wan,
                gateway,
                &mut |dst, seq| {
                    let _ = sends.push((dst, seq));
                },
                &mut |t| {
                    let _ = transitions.push(t);
                },
            );
            for t in transitions {
                self.report(now, slot, t);
            }
            if ident_ok {
                for (dst, seq) in sends {
                    self.counters.probes += 1;
                    self.push(Action::SendProbe { wan: slot, dst, seq });
                }
            }
        }
        // A recovery wait that ended since the last call may move traffic back; a socket
        // retry pause that ended may open a probe socket.
        let last = core::mem::replace(&mut self.last_timeout, now);
        let passed = |t: Instant| t > last && t <= now;
        if self.wans.iter().any(|w| (w.health.is_up() && passed(w.health.eligible_at())) || passed(w.socket_retry_at)) {
            self.dirty = true;
        }
        self.update(now);
    }

    fn judge(&mut self, now: Instant, slot: usize) {
        let gateway = self.link_view(slot).gateway;
        let mut transitions: heapless::Vec<Transition, 8> = heapless::Vec::new();
        let wan = &self.config.wans[slot];
        self.wans[slot].health.handle_timeout(now, wan, gateway, &mut |t| {
            let _ = transitions.push(t);
        });
        for t in transitions {
            self.report(now, slot, t);
        }
    }

    fn report(&mut self, now: Instant, slot: usize, t: Transition) {
        self.dirty = true;
        let name = self.config.wans[slot].name.clone();
        if self.history.is_full() {
            self.history.pop_front();
        }
        let _ = self.history.push_back(HistoryEntry { at: now, wan: name.clone(), transition: t });
        self.push(Action::Event(Event::Interface { wan: slot, transition: t }));
        // Going up or down is a notice; progress within a state (connecting) is info.
        let level = if matches!(t.to, Status::Online | Status::Offline | Status::NoLink) {
            LogLevel::Notice
        } else {
            LogLevel::Info
        };
        self.log(level, format_args!("{name}: {} -> {} ({})", t.from, t.to, t.reason));
    }

    /// When [`Daemon::handle_timeout`] must run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next = Some(self.next_resync);
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        for w in &self.wans {
            consider(w.health.next_deadline());
            // A better WAN in its recovery wait: wake when the wait ends.
            if w.health.is_up() && !self.stopping && w.health.eligible_at() > self.last_timeout {
                consider(Some(w.health.eligible_at()));
            }
            if w.socket.is_none() && w.socket_retry_at > self.last_timeout {
                consider(Some(w.socket_retry_at));
            }
        }
        next
    }

    /// The next thing for the adapters to do.
    /// Once the queue is empty after it overflowed, one warning says how many were dropped.
    pub fn poll_action(&mut self) -> Option<Action> {
        let action = self.actions.pop_front();
        if action.is_none() && self.dropped_unlogged > 0 {
            let n = core::mem::take(&mut self.dropped_unlogged);
            if LogLevel::Warning <= self.config.globals.log_level {
                let mut line = LogLine::new();
                let _ = write!(line, "{n} actions dropped (queue of {ACTIONS_MAX} full); re-reading kernel state");
                return Some(Action::Log(LogLevel::Warning, line));
            }
        }
        action
    }

    /// SIGHUP with a valid new config. Interfaces that probe the same link the same way keep
    /// their health and sockets (a LuCI save that changes a timer must not drop traffic);
    /// new ones, and ones whose device, gateway or targets changed, start afresh.
    pub fn reload(&mut self, now: Instant, config: Config) {
        let old_own = self.ownership();
        let mut wans: heapless::Vec<WanRuntime, MAX_WANS> = heapless::Vec::new();
        for (slot, w) in config.wans.iter().enumerate() {
            let keep = self.config.wans.get(slot).filter(|old| old.same_probing(w)).map(|_| self.wans[slot].clone());
            let rt = match keep {
                Some(rt) => rt,
                None => {
                    if self.wans.get(slot).is_some_and(|o| o.socket.is_some()) {
                        self.push(Action::CloseProbe { wan: slot });
                    }
                    WanRuntime::new(now, w.enabled)
                }
            };
            let _ = wans.push(rt);
        }
        for slot in config.wans.len()..self.wans.len() {
            if self.wans[slot].socket.is_some() {
                self.push(Action::CloseProbe { wan: slot });
            }
        }
        let ranges_changed =
            config.globals.rule_range() != old_own.rules || config.globals.table_range() != old_own.tables;
        if ranges_changed {
            // Entries under the old ranges would become invisible: remove them now.
            for r in self.installed.rules().to_vec() {
                self.push(Action::Apply(Op::DelRule(r)));
            }
            for r in self.installed.routes().to_vec() {
                self.push(Action::Apply(Op::DelRoute(r)));
            }
            self.installed.clear();
        }
        self.config = config;
        self.wans = wans;
        self.active = self.active.filter(|&a| a < self.wans.len() && self.wans[a].health.is_up());
        self.log(LogLevel::Info, format_args!("configuration reloaded"));
        // Links, addresses and routes must be known again for the new slots.
        self.resync(&ALL_DUMPS);
        self.ask_netifd();
        self.update(now);
    }

    /// SIGTERM: remove everything of ours. Poll actions until [`Daemon::is_stopped`].
    pub fn shutdown(&mut self, now: Instant) {
        self.stopping = true;
        for slot in 0..self.wans.len() {
            if self.wans[slot].socket.take().is_some() {
                self.push(Action::CloseProbe { wan: slot });
            }
        }
        self.dirty = true;
        self.update(now);
    }

    /// Brings links, sockets, the active WAN and the kernel in line with what is known.
    fn update(&mut self, now: Instant) {
        if !self.dirty || !self.synced {
            return;
        }
        self.dirty = false;
        if !self.stopping {
            self.update_links(now);
        }
        let links: heapless::Vec<LinkView, MAX_WANS> = (0..self.wans.len()).map(|i| self.link_view(i)).collect();
        for (w, link) in self.wans.iter_mut().zip(&links) {
            if link.addr.is_some() {
                w.nat_addr = link.addr;
            }
        }
        let active = if self.stopping || !self.config.globals.enabled {
            None
        } else {
            let ready: heapless::Vec<plan::Readiness, MAX_WANS> = self
                .wans
                .iter()
                .map(|w| plan::Readiness { up: w.health.is_up(), eligible_at: w.health.eligible_at() })
                .collect();
            let candidate = plan::choose_active(&self.config, &ready, &links, now);
            // Keep the current WAN while it works and the candidate is not better.
            match (self.active, candidate) {
                (Some(cur), Some(cand))
                    if ready[cur].up && self.config.wans[cur].metric <= self.config.wans[cand].metric =>
                {
                    Some(cur)
                }
                _ => candidate,
            }
        };
        let left = self.active.filter(|_| active != self.active && !self.stopping);
        if active != self.active {
            self.log_move(self.active, active);
            self.push(Action::Event(Event::Active { from: self.active, to: active }));
            self.active = active;
        }
        let desired = if self.stopping { plan::Desired::default() } else { plan::plan(&self.config, &links, active) };
        let mut ops: heapless::Vec<Op, 32> = heapless::Vec::new();
        reconcile::diff(&desired, &self.installed, &mut |op| {
            let _ = ops.push(op);
        });
        for op in ops {
            self.installed.handle_op(&op);
            self.counters.ops += 1;
            self.log(LogLevel::Debug, format_args!("{op}"));
            self.push(Action::Apply(op));
        }
        if let Some(slot) = left {
            self.flush_left(slot);
        }
    }

    /// Traffic left WAN `slot`: ask for its NAT'd connections to be flushed if its
    /// `flush_conntrack` says so.
    fn flush_left(&mut self, slot: usize) {
        let (Some(wan), Some(w)) = (self.config.wans.get(slot), self.wans.get(slot)) else { return };
        let wanted = match wan.flush_conntrack {
            FlushConntrack::None => false,
            FlushConntrack::OnDown => !w.health.is_up(),
            FlushConntrack::OnSwitch => true,
        };
        match (wanted, w.nat_addr) {
            (true, Some(addr)) => self.push(Action::FlushConntrack { wan: slot, addr }),
            (true, None) => {
                let name = wan.name.clone();
                self.log(LogLevel::Debug, format_args!("{name}: no address known, no connections to flush"));
            }
            (false, _) => {}
        }
    }

    fn log_move(&mut self, from: Option<usize>, to: Option<usize>) {
        let name = |slot: Option<usize>| slot.map(|s| self.config.wans[s].name.clone());
        let why = from
            .map(|s| (self.config.wans[s].name.clone(), self.wans[s].health.status(), self.wans[s].health.reason()));
        match (name(to), why) {
            (Some(to), Some((from, status, reason))) if status != Status::Online => {
                self.log(LogLevel::Notice, format_args!("traffic moved to {to} ({from} {status}: {reason})"))
            }
            (Some(to), Some((from, ..))) => {
                self.log(LogLevel::Notice, format_args!("traffic moved to {to} (back from {from})"))
            }
            (Some(to), None) => self.log(LogLevel::Notice, format_args!("traffic on {to}")),
            (None, _) => {
                let how = match self.config.globals.last_resort {
                    crate::config::LastResort::Main => "main routing table in charge",
                    crate::config::LastResort::Unreachable => "traffic rejected",
                };
                if !self.stopping {
                    self.log(LogLevel::Notice, format_args!("no WAN up: {how}"));
                }
            }
        }
    }

    fn update_links(&mut self, now: Instant) {
        for slot in 0..self.wans.len() {
            if !self.config.wans[slot].enabled {
                continue;
            }
            // Until netifd has answered, nothing is known of the device: no verdict yet.
            if self.config.wans[slot].network().is_some() && self.wans[slot].netifd.is_none() {
                continue;
            }
            let problem = self.link_problem(slot);
            let view = self.link_view(slot);
            let transition = match problem {
                Some(reason) => self.wans[slot].health.link_lost(now, reason),
                None => self.wans[slot].health.link_usable(now),
            };
            if let Some(t) = transition {
                self.report(now, slot, t);
            }
            let want_socket = match (problem, view.ifindex, view.addr) {
                (None, Some(ifindex), Some(addr)) => Some((ifindex, addr)),
                _ => None,
            };
            if want_socket.is_some() && self.wans[slot].socket.is_none() && now < self.wans[slot].socket_retry_at {
                continue;
            }
            if want_socket != self.wans[slot].socket {
                match want_socket {
                    Some((_, src)) => {
                        let device = self.device_name(slot).cloned().unwrap_or_default();
                        let ident = self.ident(slot);
                        self.push(Action::OpenProbe { wan: slot, device, src, ident });
                    }
                    None => self.push(Action::CloseProbe { wan: slot }),
                }
                self.wans[slot].socket = want_socket;
            }
        }
    }
}
