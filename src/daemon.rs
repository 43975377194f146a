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
//! gateway are preferred over what the kernel shows (IPv4; IPv6 always comes from the
//! kernel: on OpenWrt it usually belongs to a second interface such as `wan6`).
//!
//! Each WAN has a health per family it tracks; each family has its own active WAN, its own
//! probe socket per WAN and its own rules and routes. Link facts (device, carrier) are
//! shared: a pulled cable takes both families down at once.

use crate::config::{Config, FlushConntrack, Gateway, LogLevel, NetName, Source, MAX_WANS};
use crate::health::{Reason, ReplyOutcome, State, Status, Transition, WanHealth};
use crate::kernel::{Change, DumpKind, IfName, KernelEvent};
use crate::netifd::NetifdStatus;
use crate::plan::{self, LinkView};
use crate::reconcile::{self, Installed, Ownership};
use crate::route::{Family, Op, RouteType, TABLE_MAIN};
use crate::time::{Duration, Instant};
use core::fmt::Write;
use core::net::IpAddr;

/// Queued actions; a round of 8 WANs × 9 probes (the targets of both families together
/// plus two gateways) fits with room for ops and logs.
pub const ACTIONS_MAX: usize = 160;
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
/// Addresses remembered per WAN device and family (IPv6 devices often hold several: a
/// DHCPv6 one, SLAAC ones, deprecated ones of an old prefix).
const ADDRS_MAX: usize = 6;
/// Default routes in main remembered per WAN device and family (the lowest metric is used).
const DEFAULTS_MAX: usize = 4;

/// One log line, built without allocating.
pub type LogLine = heapless::String<LOG_LINE_MAX>;

/// Something the adapters must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Ask the kernel for a full dump of this kind (answers arrive via `handle_kernel`).
    Dump(DumpKind),
    /// Open (or re-open) WAN `wan`'s probe socket of `src`'s family, bound to `device` and
    /// `src`.
    OpenProbe {
        /// WAN slot.
        wan: usize,
        /// Device to bind to.
        device: IfName,
        /// Source address to bind to; its family is the socket's.
        src: IpAddr,
        /// ICMP identifier of its probes.
        ident: u16,
    },
    /// Close WAN `wan`'s probe socket of `family`.
    CloseProbe {
        /// WAN slot.
        wan: usize,
        /// Which of its two sockets.
        family: Family,
    },
    /// Send one echo request on WAN `wan`'s socket of `dst`'s family.
    SendProbe {
        /// WAN slot.
        wan: usize,
        /// Target (for IPv6 possibly a link-local gateway, on the WAN's device).
        dst: IpAddr,
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
        /// The WAN's address of the family that moved, the one its connections were
        /// masqueraded to.
        addr: IpAddr,
    },
}

/// One address of a WAN device as the core keeps it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct KnownAddr {
    addr: IpAddr,
    /// Not deprecated: chosen over deprecated ones.
    preferred: bool,
}

/// What the core knows of one family of one WAN.
#[derive(Clone, Debug)]
struct FamilyRuntime {
    health: WanHealth,
    /// Addresses of the family that probes may leave from (IPv6: global, past DAD).
    addrs: heapless::Vec<KnownAddr, ADDRS_MAX>,
    main_defaults: heapless::Vec<(IpAddr, u32), DEFAULTS_MAX>,
    /// The (ifindex, address) its probe socket was opened for.
    socket: Option<(u32, IpAddr)>,
    /// After a socket error, no new socket before this instant.
    socket_retry_at: Instant,
    /// The last address the WAN had: its connections are NAT'd to it even after the
    /// address is gone.
    nat_addr: Option<IpAddr>,
}

impl FamilyRuntime {
    fn new(now: Instant, wan: &crate::config::Wan, family: Family) -> Self {
        FamilyRuntime {
            health: WanHealth::new(now, wan, family),
            addrs: heapless::Vec::new(),
            main_defaults: heapless::Vec::new(),
            socket: None,
            socket_retry_at: now,
            nat_addr: None,
        }
    }

    /// Forgets what the kernel reported of the device's addresses and routes.
    fn forget_kernel(&mut self) {
        self.addrs.clear();
        self.main_defaults.clear();
    }
}

/// What the core knows of one WAN.
#[derive(Clone, Debug)]
struct WanRuntime {
    /// Indexed by [`Family::index`].
    fam: [FamilyRuntime; 2],
    ifindex: Option<u32>,
    admin_up: bool,
    lower_up: bool,
    /// netifd's last answer, for a WAN with `option network` (`None` before the first).
    netifd: Option<NetifdStatus>,
    /// The last `l3_device` netifd named, kept while it names none (for status and hotplug).
    last_device: IfName,
    /// Conntrack entries deleted for this WAN since start.
    flushed: u64,
}

impl WanRuntime {
    fn new(now: Instant, wan: &crate::config::Wan) -> Self {
        WanRuntime {
            fam: Family::ALL.map(|f| FamilyRuntime::new(now, wan, f)),
            ifindex: None,
            admin_up: false,
            lower_up: false,
            netifd: None,
            last_device: IfName::new(),
            flushed: 0,
        }
    }

    fn forget_link(&mut self) {
        self.ifindex = None;
        self.admin_up = false;
        self.lower_up = false;
        self.fam.iter_mut().for_each(FamilyRuntime::forget_kernel);
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
    /// The WAN carrying each family's traffic, by [`Family::index`].
    active: [Option<usize>; 2],
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
    /// The family whose health changed.
    pub family: Family,
    /// The transition.
    pub transition: Transition,
}

/// Something observers (ubus listeners, hotplug scripts) are told about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// WAN `wan`'s status for `family` changed.
    Interface {
        /// WAN slot.
        wan: usize,
        /// The family whose health changed.
        family: Family,
        /// The change.
        transition: Transition,
    },
    /// `family`'s traffic moved from one WAN to another (or to none).
    Active {
        /// Which traffic moved.
        family: Family,
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
            let _ = wans.push(WanRuntime::new(now, w)); // same capacity as config.wans
        }
        let mut d = Daemon {
            config,
            ident_base,
            wans,
            installed: Installed::default(),
            active: [None; 2],
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

    /// The WAN carrying IPv4 traffic, if any.
    pub fn active(&self) -> Option<usize> {
        self.active[0]
    }

    /// The WAN carrying `family`'s traffic, if any.
    pub fn active_of(&self, family: Family) -> Option<usize> {
        self.active[family.index()]
    }

    /// IPv4 health of WAN `slot`.
    pub fn health(&self, slot: usize) -> &WanHealth {
        self.health_of(slot, Family::V4)
    }

    /// `family` health of WAN `slot`.
    pub fn health_of(&self, slot: usize, family: Family) -> &WanHealth {
        &self.wans[slot].fam[family.index()].health
    }

    /// What is known of WAN `slot`'s IPv4 link.
    pub fn link(&self, slot: usize) -> LinkView {
        self.link_view(slot, Family::V4)
    }

    /// What is known of WAN `slot`'s link for `family`.
    pub fn link_of(&self, slot: usize, family: Family) -> LinkView {
        self.link_view(slot, family)
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

    fn link_view(&self, slot: usize, family: Family) -> LinkView {
        let w = &self.wans[slot];
        let f = &w.fam[family.index()];
        let netifd = w.netifd.as_ref().filter(|n| n.up && family == Family::V4);
        let gateway = match self.config.wans[slot].gateway_of(family) {
            Gateway::Fixed(ip) => Some(ip),
            Gateway::Auto => netifd
                .and_then(|n| n.gateway)
                .map(IpAddr::V4)
                .or_else(|| f.main_defaults.iter().min_by_key(|(_, metric)| *metric).map(|(gw, _)| *gw)),
        };
        // netifd's address, once the kernel has it on the device (a probe socket cannot
        // bind an address the device does not hold yet); else a preferred one.
        let held = |a: IpAddr| f.addrs.iter().any(|k| k.addr == a);
        let addr = netifd
            .and_then(|n| n.address)
            .map(IpAddr::V4)
            .filter(|a| held(*a))
            .or_else(|| f.addrs.iter().find(|k| k.preferred).map(|k| k.addr))
            .or(f.addrs.first().map(|k| k.addr));
        LinkView { ifindex: w.ifindex, addr, gateway }
    }

    /// Why WAN `slot` cannot be probed for `family`, or `None` if it can.
    fn link_problem(&self, slot: usize, family: Family) -> Option<Reason> {
        let w = &self.wans[slot];
        let view = self.link_view(slot, family);
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
            self.wans[slot].forget_link();
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
                                w.fam.iter_mut().for_each(FamilyRuntime::forget_kernel);
                            }
                            w.ifindex = Some(link.ifindex);
                            w.admin_up = link.up;
                            w.lower_up = link.lower_up;
                        }
                        // Renamed away from our device name, or deleted (with its routes,
                        // which the kernel removes without notifying).
                        Change::New | Change::Del if same => {
                            routes_gone = true;
                            w.forget_link();
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
                let usable = addr.family() == Family::V4 || addr.usable_source();
                let known = KnownAddr { addr: addr.addr, preferred: addr.family() == Family::V4 || addr.preferred() };
                for w in self.wans.iter_mut().filter(|w| w.ifindex == Some(addr.ifindex)) {
                    let addrs = &mut w.fam[addr.family().index()].addrs;
                    let pos = addrs.iter().position(|k| k.addr == addr.addr);
                    match (change, pos) {
                        // Extra addresses beyond the capacity are not needed.
                        (Change::New, None) if usable => {
                            let _ = addrs.push(known);
                        }
                        // DAD finished, the address became deprecated, or failed DAD.
                        (Change::New, Some(i)) if usable && addrs[i] != known => addrs[i] = known,
                        (Change::New, Some(i)) if !usable => {
                            addrs.remove(i);
                        }
                        (Change::Del, Some(i)) => {
                            addrs.remove(i);
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
                if route.table == TABLE_MAIN && route.dst.is_default() {
                    self.main_default(*change, route);
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

    /// A default route of the main table changed: the gateways `gateway auto` learns.
    fn main_default(&mut self, change: Change, route: &crate::route::Route) {
        let family = route.family();
        if change == Change::Replace {
            // The route that held this slot (any device, any gateway) is gone: the kernel
            // reports only the new one. Without this a renumbered gateway would be kept
            // next to its successor, and the older one might be used.
            for w in self.wans.iter_mut() {
                let defaults = &mut w.fam[family.index()].main_defaults;
                let before = defaults.len();
                defaults.retain(|(_, m)| *m != route.metric);
                self.dirty |= defaults.len() != before;
            }
        }
        let Some(gw) = route.gateway.filter(|_| route.kind == RouteType::Unicast) else { return };
        for w in self.wans.iter_mut().filter(|w| w.ifindex == Some(route.oif)) {
            let defaults = &mut w.fam[family.index()].main_defaults;
            let pos = defaults.iter().position(|(g, m)| *g == gw && *m == route.metric);
            match (change, pos) {
                (Change::New | Change::Replace, None) => {
                    let _ = defaults.push((gw, route.metric));
                }
                (Change::Del, Some(i)) => {
                    defaults.remove(i);
                }
                _ => continue,
            }
            self.dirty = true;
        }
    }

    /// Forgets what the given dumps will report again, and asks for them. Until they are
    /// done nothing is written to the kernel.
    fn resync(&mut self, kinds: &[DumpKind]) {
        for kind in kinds {
            match kind {
                DumpKind::Links => self.wans.iter_mut().for_each(WanRuntime::forget_link),
                DumpKind::Addrs => self.wans.iter_mut().flat_map(|w| w.fam.iter_mut()).for_each(|f| f.addrs.clear()),
                DumpKind::Routes => {
                    self.installed.clear_routes();
                    self.wans.iter_mut().flat_map(|w| w.fam.iter_mut()).for_each(|f| f.main_defaults.clear());
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

    /// An ICMP echo reply from `src` arrived on WAN `slot`'s socket of `src`'s family.
    pub fn handle_reply(&mut self, now: Instant, slot: usize, src: IpAddr, ident: u16, seq: u16) {
        if slot >= self.wans.len() || ident != self.ident(slot) {
            self.counters.ignored += 1;
            return;
        }
        let family = Family::of(&src);
        match self.wans[slot].fam[family.index()].health.handle_reply(now, src, seq) {
            ReplyOutcome::Matched(_) => self.counters.replies += 1,
            _ => self.counters.ignored += 1,
        }
        // A complete round is judged at once rather than at its deadline.
        self.judge(now, slot, family);
        self.update(now);
    }

    /// WAN `slot`'s probe socket of `family` could not be opened or used.
    pub fn handle_probe_error(&mut self, now: Instant, slot: usize, family: Family, error: &dyn core::fmt::Display) {
        if slot < self.wans.len() {
            let name = self.config.wans[slot].name.clone();
            self.log(LogLevel::Warning, format_args!("{name}: {family} probe socket: {error}"));
            // Forget the socket; a new one is tried after a pause, so a persistent error
            // (missing capability) costs one attempt per PROBE_RETRY, not one per round.
            let f = &mut self.wans[slot].fam[family.index()];
            f.socket = None;
            f.socket_retry_at = now + PROBE_RETRY;
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
        addr: IpAddr,
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
            for family in Family::ALL {
                // A family the WAN does not track (or a disabled WAN) never has a round:
                // skip it before working out its gateway, on every timeout.
                if self.wans[slot].fam[family.index()].health.state() == State::Disabled {
                    continue;
                }
                self.judge(now, slot, family);
                let wan = &self.config.wans[slot];
                let gateway = self.link_view(slot, family).gateway;
                let f = &mut self.wans[slot].fam[family.index()];
                let socket_open = f.socket.is_some();
                let mut sends: heapless::Vec<(IpAddr, u16), 9> = heapless::Vec::new();
                let mut transitions: heapless::Vec<Transition, 2> = heapless::Vec::new();
                f.health.start_round(
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
                    self.report(now, slot, family, t);
                }
                if socket_open {
                    for (dst, seq) in sends {
                        self.counters.probes += 1;
                        self.push(Action::SendProbe { wan: slot, dst, seq });
                    }
                }
            }
        }
        // A recovery wait that ended since the last call may move traffic back; a socket
        // retry pause that ended may open a probe socket.
        let last = core::mem::replace(&mut self.last_timeout, now);
        let passed = |t: Instant| t > last && t <= now;
        let woke = self
            .wans
            .iter()
            .flat_map(|w| w.fam.iter())
            .any(|f| (f.health.is_up() && passed(f.health.eligible_at())) || passed(f.socket_retry_at));
        if woke {
            self.dirty = true;
        }
        self.update(now);
    }

    fn judge(&mut self, now: Instant, slot: usize, family: Family) {
        let gateway = self.link_view(slot, family).gateway;
        let mut transitions: heapless::Vec<Transition, 8> = heapless::Vec::new();
        let wan = &self.config.wans[slot];
        self.wans[slot].fam[family.index()].health.handle_timeout(now, wan, gateway, &mut |t| {
            let _ = transitions.push(t);
        });
        for t in transitions {
            self.report(now, slot, family, t);
        }
    }

    fn report(&mut self, now: Instant, slot: usize, family: Family, t: Transition) {
        self.dirty = true;
        let name = self.config.wans[slot].name.clone();
        if self.history.is_full() {
            self.history.pop_front();
        }
        let _ = self.history.push_back(HistoryEntry { at: now, wan: name.clone(), family, transition: t });
        self.push(Action::Event(Event::Interface { wan: slot, family, transition: t }));
        // Going up or down is a notice; progress within a state (connecting) is info.
        let level = if matches!(t.to, Status::Online | Status::Offline | Status::NoLink) {
            LogLevel::Notice
        } else {
            LogLevel::Info
        };
        // IPv4 lines read as before dual-stack; IPv6 ones say so.
        let fam = if family == Family::V6 { "IPv6 " } else { "" };
        self.log(level, format_args!("{name}: {fam}{} -> {} ({})", t.from, t.to, t.reason));
    }

    /// When [`Daemon::handle_timeout`] must run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next = Some(self.next_resync);
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        for f in self.wans.iter().flat_map(|w| w.fam.iter()) {
            consider(f.health.next_deadline());
            // A better WAN in its recovery wait: wake when the wait ends.
            if f.health.is_up() && !self.stopping && f.health.eligible_at() > self.last_timeout {
                consider(Some(f.health.eligible_at()));
            }
            if f.socket.is_none() && f.socket_retry_at > self.last_timeout {
                consider(Some(f.socket_retry_at));
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
                    self.close_sockets(slot);
                    WanRuntime::new(now, w)
                }
            };
            let _ = wans.push(rt);
        }
        for slot in config.wans.len()..self.wans.len() {
            self.close_sockets(slot);
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
        for (family, active) in Family::ALL.into_iter().zip(self.active.iter_mut()) {
            *active = active.filter(|&a| a < self.wans.len() && self.wans[a].fam[family.index()].health.is_up());
        }
        self.log(LogLevel::Info, format_args!("configuration reloaded"));
        // Links, addresses and routes must be known again for the new slots.
        self.resync(&ALL_DUMPS);
        self.ask_netifd();
        self.update(now);
    }

    /// Closes WAN `slot`'s open probe sockets (the slot's runtime is about to go).
    fn close_sockets(&mut self, slot: usize) {
        for family in Family::ALL {
            if self.wans.get_mut(slot).is_some_and(|w| w.fam[family.index()].socket.take().is_some()) {
                self.push(Action::CloseProbe { wan: slot, family });
            }
        }
    }

    /// SIGTERM: remove everything of ours. Poll actions until [`Daemon::is_stopped`].
    pub fn shutdown(&mut self, now: Instant) {
        self.stopping = true;
        for slot in 0..self.wans.len() {
            self.close_sockets(slot);
        }
        self.dirty = true;
        self.update(now);
    }

    /// Brings links, sockets, the active WANs and the kernel in line with what is known.
    fn update(&mut self, now: Instant) {
        if !self.dirty || !self.synced {
            return;
        }
        self.dirty = false;
        if !self.stopping {
            self.update_links(now);
        }
        let mut desired = plan::Desired::default();
        let mut left: [Option<usize>; 2] = [None; 2];
        for family in Family::ALL {
            let links: heapless::Vec<LinkView, MAX_WANS> =
                (0..self.wans.len()).map(|i| self.link_view(i, family)).collect();
            for (w, link) in self.wans.iter_mut().zip(&links) {
                if link.addr.is_some() {
                    w.fam[family.index()].nat_addr = link.addr;
                }
            }
            let current = self.active[family.index()];
            let active = if self.stopping || !self.config.globals.enabled {
                None
            } else {
                let ready: heapless::Vec<plan::Readiness, MAX_WANS> = self
                    .wans
                    .iter()
                    .map(|w| &w.fam[family.index()].health)
                    .map(|h| plan::Readiness { up: h.is_up(), eligible_at: h.eligible_at() })
                    .collect();
                let candidate = plan::choose_active(&self.config, family, &ready, &links, now);
                // Keep the current WAN while it works and the candidate is not better.
                match (current, candidate) {
                    (Some(cur), Some(cand))
                        if ready[cur].up && self.config.wans[cur].metric <= self.config.wans[cand].metric =>
                    {
                        Some(cur)
                    }
                    _ => candidate,
                }
            };
            if active != current {
                left[family.index()] = current.filter(|_| !self.stopping);
                self.log_move(family, current, active);
                self.push(Action::Event(Event::Active { family, from: current, to: active }));
                self.active[family.index()] = active;
            }
            if !self.stopping {
                plan::plan(&self.config, family, &links, active, &mut desired);
            }
        }
        let mut ops: heapless::Vec<Op, 48> = heapless::Vec::new();
        reconcile::diff(&desired, &self.installed, &mut |op| {
            let _ = ops.push(op);
        });
        for op in ops {
            self.installed.handle_op(&op);
            self.counters.ops += 1;
            self.log(LogLevel::Debug, format_args!("{op}"));
            self.push(Action::Apply(op));
        }
        for family in Family::ALL {
            if let Some(slot) = left[family.index()] {
                self.flush_left(slot, family);
            }
        }
    }

    /// `family`'s traffic left WAN `slot`: ask for its NAT'd connections of that family to
    /// be flushed if its `flush_conntrack` says so.
    fn flush_left(&mut self, slot: usize, family: Family) {
        let (Some(wan), Some(w)) = (self.config.wans.get(slot), self.wans.get(slot)) else { return };
        let f = &w.fam[family.index()];
        let wanted = match wan.flush_conntrack {
            FlushConntrack::None => false,
            FlushConntrack::OnDown => !f.health.is_up(),
            FlushConntrack::OnSwitch => true,
        };
        match (wanted, f.nat_addr) {
            (true, Some(addr)) => self.push(Action::FlushConntrack { wan: slot, addr }),
            (true, None) => {
                let name = wan.name.clone();
                self.log(LogLevel::Debug, format_args!("{name}: no {family} address known, no connections to flush"));
            }
            (false, _) => {}
        }
    }

    fn log_move(&mut self, family: Family, from: Option<usize>, to: Option<usize>) {
        let name = |slot: Option<usize>| slot.map(|s| self.config.wans[s].name.clone());
        let why = from.map(|s| {
            let h = &self.wans[s].fam[family.index()].health;
            (self.config.wans[s].name.clone(), h.status(), h.reason())
        });
        // IPv4 lines read as before dual-stack; IPv6 ones say so.
        let fam = if family == Family::V6 { "IPv6 " } else { "" };
        match (name(to), why) {
            (Some(to), Some((from, status, reason))) if status != Status::Online => {
                self.log(LogLevel::Notice, format_args!("{fam}traffic moved to {to} ({from} {status}: {reason})"))
            }
            (Some(to), Some((from, ..))) => {
                self.log(LogLevel::Notice, format_args!("{fam}traffic moved to {to} (back from {from})"))
            }
            (Some(to), None) => self.log(LogLevel::Notice, format_args!("{fam}traffic on {to}")),
            (None, _) => {
                let how = match self.config.globals.last_resort {
                    crate::config::LastResort::Main => "main routing table in charge",
                    crate::config::LastResort::Unreachable => "traffic rejected",
                };
                if !self.stopping {
                    let fam = if family == Family::V6 { " for IPv6" } else { "" };
                    self.log(LogLevel::Notice, format_args!("no WAN up{fam}: {how}"));
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
            for family in Family::ALL {
                if !self.config.wans[slot].tracks(family) {
                    continue;
                }
                self.update_family_link(now, slot, family);
            }
        }
    }

    fn update_family_link(&mut self, now: Instant, slot: usize, family: Family) {
        let problem = self.link_problem(slot, family);
        let view = self.link_view(slot, family);
        let f = &mut self.wans[slot].fam[family.index()];
        let transition = match problem {
            Some(reason) => f.health.link_lost(now, reason),
            None => f.health.link_usable(now),
        };
        if let Some(t) = transition {
            self.report(now, slot, family, t);
        }
        let want_socket = match (problem, view.ifindex, view.addr) {
            (None, Some(ifindex), Some(addr)) => Some((ifindex, addr)),
            _ => None,
        };
        let f = &self.wans[slot].fam[family.index()];
        if want_socket.is_some() && f.socket.is_none() && now < f.socket_retry_at {
            return;
        }
        if want_socket != f.socket {
            match want_socket {
                Some((_, src)) => {
                    let device = self.device_name(slot).cloned().unwrap_or_default();
                    let ident = self.ident(slot);
                    self.push(Action::OpenProbe { wan: slot, device, src, ident });
                }
                None => self.push(Action::CloseProbe { wan: slot, family }),
            }
            self.wans[slot].fam[family.index()].socket = want_socket;
        }
    }
}
