//! A simulated router for timeline tests of the core: a fake kernel that applies the
//! daemon's operations and echoes notifications back, a fake network that answers probes
//! according to which parts of each ISP work, and a fake netifd. The core's actions are
//! carried out by the binary's own interpreter (`dualwan::interpreter::perform`) on this
//! simulated [`World`], so the timelines test what the binary does. Time is simulated;
//! nothing sleeps.
//!
//! netifd answers in one of two ways: at once, from [`World::netifd`] (as over a registered
//! ubus connection), or, with [`Sim::with_ubus`], through the daemon's real ubus session
//! talking to the scripted ubusd of [`ubusd`].
#![allow(dead_code)]

pub mod ubusd;

use dualwan::config::{Config, Gateway, Globals, LogLevel, NetName, Wan};
use dualwan::daemon::{Daemon, Event, HotplugAction};
use dualwan::interpreter::{self, Adapters};
use dualwan::kernel::{Addr, Change, DumpKind, KernelEvent, Link};
use dualwan::netifd::{self, NetifdStatus};
use dualwan::route::{Family, Op, Prefix, Route, RouteType, Rule, RuleAction, TABLE_MAIN};
use dualwan::status::{family_word, write_status, Blob, StatusAnswer, StatusError};
use dualwan::time::{Duration, Instant};
use dualwan::ubus::{Session, DUALWAN};
use dualwan::wire::blob::Writer;
use dualwan::wire::blob_json;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::{Deref, DerefMut};
use ubusd::{FakeUbusd, UbusLink};

pub const TARGETS: [[u8; 4]; 3] = [[203, 0, 113, 1], [203, 0, 113, 2], [203, 0, 113, 3]];
/// The IPv6 Internet host of [`dual_config`].
pub const TARGET6: &str = "2001:db8:ff::1";

/// One simulated ISP line.
#[derive(Clone, Debug)]
pub struct Line {
    pub ifindex: u32,
    pub name: &'static str,
    pub addr: Ipv4Addr,
    pub gateway: Ipv4Addr,
    pub carrier: bool,
    pub gateway_answers: bool,
    pub upstream_works: bool,
    pub rtt: Duration,
    /// The line's global IPv6 address (none: no IPv6 on this line).
    pub addr6: Option<Ipv6Addr>,
    /// Its IPv6 router, link-local as from router advertisements.
    pub gateway6: Ipv6Addr,
    pub gateway6_answers: bool,
    /// The ISP's IPv6 beyond the router works (an IPv6-only outage clears this alone).
    pub upstream6_works: bool,
}

impl Line {
    /// Whether a probe to `dst` would be answered now.
    fn answers(&self, dst: IpAddr) -> bool {
        self.carrier
            && match dst {
                IpAddr::V4(d) if d == self.gateway => self.gateway_answers,
                IpAddr::V4(_) => self.upstream_works && self.gateway_answers,
                IpAddr::V6(d) if d == self.gateway6 => self.gateway6_answers,
                IpAddr::V6(_) => self.upstream6_works && self.gateway6_answers,
            }
    }
}

/// The simulated world around the core: what the interpreter's adapters act on.
pub struct World {
    pub now: Instant,
    pub lines: Vec<Line>,
    pub rules: Vec<Rule>,
    pub routes: Vec<Route>,
    pub logs: Vec<String>,
    /// The ubus events the core sent, oldest first.
    pub events: Vec<Event>,
    /// Probe sockets opened so far.
    pub opens: usize,
    /// Probes sent so far.
    pub probes: u64,
    pub ops: Vec<Op>,
    /// Open probe sockets by WAN index, per family: the ICMP identifier they were opened for.
    sockets: Vec<[Option<u16>; 2]>,
    in_flight: Vec<(Instant, usize, IpAddr, u16, u16)>,
    /// Fail the next kernel write with this error text.
    pub fail_next_op: Option<&'static str>,
    /// Reads a global allocation counter (the allocation test installs one).
    pub alloc_meter: fn() -> u64,
    /// Allocations made inside the daemon's own calls and the interpreter (not the world's).
    pub core_allocs: u64,
    /// What the fake netifd answers, by interface; an interface not listed gets no answer
    /// (as while ubus is away).
    pub netifd: Vec<(&'static str, NetifdStatus)>,
    /// Every netifd interface the daemon asked about, oldest first.
    pub asks: Vec<String>,
    /// Every conntrack flush asked for: (WAN index, address, where traffic went when the
    /// flush was carried out), oldest first.
    pub flushes: Vec<(usize, IpAddr, Option<&'static str>)>,
    /// Connections the fake conntrack table holds NAT'd to each address; a flush empties
    /// the address's count and reports it.
    pub conntrack: Vec<(IpAddr, u32)>,
    /// Fail the next flush with this error text.
    pub fail_next_flush: Option<&'static str>,
    /// Hotplug runs, oldest first: (ACTION, INTERFACE, DEVICE, FAMILY).
    pub hotplugs: Vec<(&'static str, String, String, &'static str)>,
    /// The daemon's ubus session and the scripted ubusd ([`Sim::with_ubus`]).
    pub ubus: Option<UbusLink>,
    /// Kernel notifications of applied ops, delivered once the actions are done.
    notifications: Vec<KernelEvent>,
    /// netifd's answers, delivered once the actions are done.
    answers: Vec<(NetName, NetifdStatus)>,
    /// Allocations the world made during the interpreter's run (not the core's).
    excluded: u64,
}

/// The core and its simulated world (whose fields read as the sim's own: `s.lines`).
pub struct Sim {
    pub d: Daemon,
    w: World,
}

impl Deref for Sim {
    type Target = World;
    fn deref(&self) -> &World {
        &self.w
    }
}

impl DerefMut for Sim {
    fn deref_mut(&mut self) -> &mut World {
        &mut self.w
    }
}

pub fn config() -> Config {
    let mut wans = heapless::Vec::new();
    for (name, dev, metric) in [("wan", "wan1", 10), ("wanb", "wan2", 20)] {
        let mut w = Wan::with_defaults(name, dev);
        w.metric = metric;
        w.gateway = Gateway::Auto;
        for t in TARGETS {
            w.track_ip.push(Ipv4Addr::from(t).into()).unwrap();
        }
        wans.push(w).unwrap();
    }
    Config { globals: Globals::default(), wans }
}

/// [`config`] with an IPv6 target on both interfaces: dual-stack failover.
pub fn dual_config() -> Config {
    let mut c = config();
    for w in c.wans.iter_mut() {
        w.track_ip.push(TARGET6.parse().unwrap()).unwrap();
    }
    c
}

/// `wan` follows netifd's interface `wan` (on wan1), `wanb` is device wan2.
pub fn network_config() -> Config {
    let mut c = config();
    let wan = Wan { source: dualwan::config::Source::Network("wan".try_into().unwrap()), ..c.wans[0].clone() };
    c.wans[0] = wan;
    c
}

/// netifd's status of an up interface on line `line`.
pub fn netifd_up(line: &Line) -> NetifdStatus {
    NetifdStatus {
        up: true,
        l3_device: Some(line.name.try_into().unwrap()),
        address: Some(line.addr),
        gateway: Some(line.gateway),
    }
}

/// Foreign state a real router has: DHCP defaults in main, a static route elsewhere, rules
/// of other software.
pub fn foreign_routes() -> Vec<Route> {
    let dflt = |gw: [u8; 4], oif, metric| Route {
        table: TABLE_MAIN,
        dst: Prefix::DEFAULT,
        kind: RouteType::Unicast,
        gateway: Some(Ipv4Addr::from(gw).into()),
        oif,
        metric,
        protocol: 16, // dhcp
    };
    vec![
        dflt([192, 0, 2, 1], 2, 10),
        dflt([192, 0, 2, 9], 3, 20),
        Route {
            table: 200,
            dst: Prefix { addr: Ipv4Addr::new(198, 51, 100, 0).into(), len: 24 },
            kind: RouteType::Unicast,
            gateway: Some(Ipv4Addr::new(192, 0, 2, 1).into()),
            oif: 2,
            metric: 0,
            protocol: 4, // static
        },
        // Router advertisements' defaults (OpenWrt puts them in main, with a metric per
        // interface), and a foreign IPv6 route in a table of ours.
        Route {
            dst: Prefix::default_of(Family::V6),
            gateway: Some("fe80::1".parse().unwrap()),
            metric: 1024,
            protocol: 9, // ra
            ..dflt([0; 4], 2, 0)
        },
        Route {
            dst: Prefix::default_of(Family::V6),
            gateway: Some("fe80::1".parse().unwrap()),
            metric: 1025,
            protocol: 9,
            ..dflt([0; 4], 3, 0)
        },
        Route {
            table: 100,
            dst: Prefix { addr: "2001:db8:77::".parse().unwrap(), len: 48 },
            kind: RouteType::Unicast,
            gateway: Some("fe80::1".parse().unwrap()),
            oif: 2,
            metric: 0,
            protocol: 4,
        },
    ]
}

pub fn foreign_rules() -> Vec<Rule> {
    vec![Rule {
        family: Family::V4,
        priority: 4000,
        src: None,
        action: RuleAction::Lookup(200),
        suppress_prefixlen: None,
        protocol: 0,
        other_selectors: true,
    }]
}

impl Sim {
    /// A router with two working lines, the daemon started and settled; netifd answers at
    /// once.
    pub fn new(config: Config) -> Sim {
        Sim::build(config, None)
    }

    /// [`Sim::new`] with the daemon's ubus session connected to a scripted ubusd: netifd
    /// answers over ubus, and ubus faults are part of the timeline.
    pub fn with_ubus(config: Config) -> Sim {
        Sim::build(config, Some(UbusLink { session: Session::new(DUALWAN), ubusd: FakeUbusd::new() }))
    }

    fn build(config: Config, ubus: Option<UbusLink>) -> Sim {
        let lines = vec![
            Line {
                ifindex: 2,
                name: "wan1",
                addr: Ipv4Addr::new(192, 0, 2, 2),
                gateway: Ipv4Addr::new(192, 0, 2, 1),
                carrier: true,
                gateway_answers: true,
                upstream_works: true,
                rtt: Duration::from_millis(8),
                addr6: Some("2001:db8:1::2".parse().unwrap()),
                gateway6: "fe80::1".parse().unwrap(),
                gateway6_answers: true,
                upstream6_works: true,
            },
            Line {
                ifindex: 3,
                name: "wan2",
                addr: Ipv4Addr::new(192, 0, 2, 10),
                gateway: Ipv4Addr::new(192, 0, 2, 9),
                carrier: true,
                gateway_answers: true,
                upstream_works: true,
                rtt: Duration::from_millis(30),
                addr6: Some("2001:db8:2::2".parse().unwrap()),
                gateway6: "fe80::1".parse().unwrap(),
                gateway6_answers: true,
                upstream6_works: true,
            },
        ];
        let n = config.wans.len();
        let now = Instant::from_millis(1_000);
        let netifd = vec![("wan", netifd_up(&lines[0])), ("wanb", netifd_up(&lines[1]))];
        let w = World {
            now,
            lines,
            rules: foreign_rules(),
            routes: foreign_routes(),
            logs: Vec::new(),
            events: Vec::new(),
            opens: 0,
            probes: 0,
            ops: Vec::new(),
            sockets: vec![[None; 2]; n],
            in_flight: Vec::new(),
            fail_next_op: None,
            alloc_meter: || 0,
            core_allocs: 0,
            netifd,
            asks: Vec::new(),
            flushes: Vec::new(),
            conntrack: Vec::new(),
            fail_next_flush: None,
            hotplugs: Vec::new(),
            ubus,
            notifications: Vec::new(),
            answers: Vec::new(),
            excluded: 0,
        };
        let mut sim = Sim { d: Daemon::new(now, config, 0x4000), w };
        sim.drain();
        sim
    }

    /// Calls into the daemon, counting the allocations made inside the call.
    pub fn core<R>(&mut self, f: impl FnOnce(&mut Daemon, Instant) -> R) -> R {
        let before = (self.w.alloc_meter)();
        let r = f(&mut self.d, self.w.now);
        self.w.core_allocs += (self.w.alloc_meter)() - before;
        r
    }

    fn deliver(&mut self, e: KernelEvent) {
        self.core(|d, now| d.handle_kernel(now, &e));
    }

    /// Carries out every queued action with the binary's interpreter, feeding results,
    /// kernel notifications, netifd's answers and ubus traffic back, until all is quiet.
    pub fn drain(&mut self) {
        loop {
            let before = (self.w.alloc_meter)();
            self.w.excluded = 0;
            let now = self.w.now;
            interpreter::perform(&mut self.d, &mut self.w, now);
            let used = (self.w.alloc_meter)() - before;
            self.w.core_allocs += used.saturating_sub(self.w.excluded);
            let heard = self.pump_ubus();
            let answers = std::mem::take(&mut self.w.answers);
            let notifications = std::mem::take(&mut self.w.notifications);
            if answers.is_empty() && notifications.is_empty() && !heard {
                break;
            }
            for (network, status) in answers {
                self.core(|d, now| d.handle_netifd_answer(now, &network, status));
            }
            for e in notifications {
                self.deliver(e);
            }
        }
    }

    /// Moves bytes between the daemon's ubus session and the scripted ubusd; calls are
    /// answered by the core's status writer. True if the session heard anything.
    fn pump_ubus(&mut self) -> bool {
        let now = self.w.now;
        let World { ubus, netifd, .. } = &mut self.w;
        let Some(link) = ubus.as_mut() else { return false };
        link.pump(now, netifd, &mut StatusAnswer { core: &self.d, now })
    }

    /// The status as `ubus call dualwan status` answers it (`only` one interface), in the
    /// JSON that `dualwan status --json` prints of that reply.
    pub fn status_json(&self, only: Option<&str>) -> Result<String, StatusError> {
        let mut buf = vec![0u8; dualwan::wire::ubus::MAX_MESSAGE];
        let mut reply = Writer::new(&mut buf);
        write_status(&self.d, self.w.now, only, &mut Blob::new(&mut reply))?;
        Ok(blob_json::table_to_string(reply.written(), false))
    }

    /// The scripted ubusd ([`Sim::with_ubus`] only).
    pub fn ubusd(&mut self) -> &mut FakeUbusd {
        &mut self.w.ubus.as_mut().expect("a Sim::with_ubus").ubusd
    }

    /// The daemon's ubus session ([`Sim::with_ubus`] only).
    pub fn session(&self) -> &Session {
        &self.w.ubus.as_ref().expect("a Sim::with_ubus").session
    }

    /// Runs the loop until `until`, waking at the core's deadlines, reply arrivals and the
    /// ubus session's and ubusd's deadlines.
    pub fn run_until(&mut self, until: Instant) {
        loop {
            let next_reply = self.w.in_flight.iter().map(|r| r.0).min();
            let next_ubus = self.w.ubus.as_ref().and_then(UbusLink::next_deadline);
            let next = [self.core(|d, _| d.poll_timeout()), next_reply, next_ubus].into_iter().flatten().min();
            let Some(next) = next.filter(|&t| t <= until) else {
                break;
            };
            self.w.now = self.w.now.max(next);
            let (due, later): (Vec<_>, Vec<_>) = self.w.in_flight.drain(..).partition(|r| r.0 <= self.w.now);
            self.w.in_flight = later;
            for (_, wan, src, ident, seq) in due {
                self.core(|d, now| d.handle_reply(now, wan, src, ident, seq));
            }
            let now = self.w.now;
            if let Some(link) = self.w.ubus.as_mut() {
                link.session.handle_timeout(now);
            }
            self.pump_ubus();
            self.core(|d, now| d.handle_timeout(now));
            self.drain();
        }
        self.w.now = until;
    }

    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    /// Runs until `cond` holds (checked at every wake-up); returns the time it took.
    pub fn run_until_cond(&mut self, limit: Duration, cond: impl Fn(&Sim) -> bool) -> Option<Duration> {
        let start = self.now;
        let step = Duration::from_millis(1);
        while self.now.saturating_since(start) < limit {
            if cond(self) {
                return Some(self.now.saturating_since(start));
            }
            let t = self.now + step;
            self.run_until(t);
        }
        cond(self).then(|| self.now.saturating_since(start))
    }

    /// Sets a line's carrier and tells the daemon, as the kernel would.
    pub fn set_carrier(&mut self, i: usize, up: bool) {
        self.lines[i].carrier = up;
        let link = self.link(i);
        self.deliver(KernelEvent::Link(Change::New, link));
        self.drain();
    }

    /// netifd's status of `interface` becomes `status`, and netifd says so with an event
    /// (over ubus with [`Sim::with_ubus`], where it reaches the daemon only if it listens).
    pub fn netifd_says(&mut self, interface: &'static str, status: NetifdStatus) {
        match self.w.netifd.iter_mut().find(|(n, _)| *n == interface) {
            Some(entry) => entry.1 = status,
            None => self.w.netifd.push((interface, status)),
        }
        let now = self.w.now;
        match self.w.ubus.as_mut() {
            Some(link) => {
                let action = if self.w.netifd.iter().any(|(n, s)| *n == interface && s.up) { "ifup" } else { "ifdown" };
                link.ubusd.announce(now, action, interface);
            }
            None => self.core(|d, now| d.handle_netifd_event(now, interface)),
        }
        self.drain();
    }

    /// Line `i`'s device is replaced by a new one, `name` with `ifindex` (a modem that
    /// reconnects as `wwan0_4`): the kernel deletes the old link with its routes (silently)
    /// and creates the new one with the address and main's default route moved to it.
    pub fn replace_device(&mut self, i: usize, name: &'static str, ifindex: u32) {
        let old = self.lines[i].ifindex;
        let gone = self.link(i);
        self.routes.retain(|r| r.oif != old || r.table == TABLE_MAIN);
        self.deliver(KernelEvent::Link(Change::Del, gone));
        self.lines[i].name = name;
        self.lines[i].ifindex = ifindex;
        let l = self.lines[i].clone();
        self.deliver(KernelEvent::Link(Change::New, self.link(i)));
        for a in World::addrs(&l) {
            self.deliver(KernelEvent::Addr(Change::New, a));
        }
        let moved: Vec<Route> = self.routes.iter().filter(|r| r.oif == old).copied().collect();
        for r in moved {
            self.routes.retain(|x| *x != r);
            self.deliver(KernelEvent::Route(Change::Del, r));
            let new = Route { oif: ifindex, ..r };
            self.routes.push(new);
            self.deliver(KernelEvent::Route(Change::New, new));
        }
        self.drain();
    }

    /// Removes a rule behind the daemon's back, with the notification.
    pub fn delete_rule_externally(&mut self, priority: u32) {
        let pos = self.rules.iter().position(|r| r.priority == priority).expect("rule present");
        let r = self.rules.remove(pos);
        self.deliver(KernelEvent::Rule(Change::Del, r));
        self.drain();
    }
}

impl World {
    fn link(&self, i: usize) -> Link {
        let l = &self.lines[i];
        Link { ifindex: l.ifindex, name: l.name.try_into().unwrap(), up: true, lower_up: l.carrier }
    }

    /// Runs `f` on the world, its allocations not counted as the core's.
    fn outside<R>(&mut self, f: impl FnOnce(&mut World) -> R) -> R {
        let before = (self.alloc_meter)();
        let r = f(self);
        self.excluded += (self.alloc_meter)() - before;
        r
    }

    /// What the kernel reports for a dump of `kind`, in its order.
    fn dump_events(&self, kind: DumpKind) -> Vec<KernelEvent> {
        let mut events = Vec::new();
        match kind {
            DumpKind::Links => {
                for i in 0..self.lines.len() {
                    events.push(KernelEvent::Link(Change::New, self.link(i)));
                }
            }
            DumpKind::Addrs => {
                for l in &self.lines {
                    events.extend(Self::addrs(l).map(|a| KernelEvent::Addr(Change::New, a)));
                }
            }
            DumpKind::Routes => events.extend(self.routes.iter().map(|r| KernelEvent::Route(Change::New, *r))),
            DumpKind::Rules => events.extend(self.rules.iter().map(|r| KernelEvent::Rule(Change::New, *r))),
        }
        events.push(KernelEvent::DumpDone(kind));
        events
    }

    /// A line's addresses as the kernel reports them: IPv4, IPv6 link-local, IPv6 global.
    fn addrs(l: &Line) -> impl Iterator<Item = Addr> {
        let v4 = Addr { ifindex: l.ifindex, addr: l.addr.into(), prefix_len: 29, scope: 0, flags: 0x80 };
        let link_local = Addr { addr: "fe80::2".parse().unwrap(), prefix_len: 64, scope: 253, flags: 0x80, ..v4 };
        let global = l.addr6.map(|a| Addr { addr: a.into(), prefix_len: 64, scope: 0, flags: 0x80, ..v4 });
        [Some(v4), Some(link_local), global].into_iter().flatten()
    }

    /// Applies an op like the kernel would, with its notification.
    fn apply_op(&mut self, op: Op) -> Result<KernelEvent, &'static str> {
        // Like the kernel, IPv6 stores a route added without a metric with metric 1024.
        let v6_metric = |r: Route| match r.metric {
            0 if r.family() == Family::V6 => Route { metric: 1024, ..r },
            _ => r,
        };
        let op = match op {
            Op::AddRoute(r) => Op::AddRoute(v6_metric(r)),
            Op::ReplaceRoute(r) => Op::ReplaceRoute(v6_metric(r)),
            other => other,
        };
        Ok(match op {
            Op::AddRoute(r) => {
                if self.routes.iter().any(|x| x.same_slot(&r)) {
                    return Err("File exists");
                }
                self.routes.push(r);
                KernelEvent::Route(Change::New, r)
            }
            Op::ReplaceRoute(r) => {
                self.routes.retain(|x| !x.same_slot(&r));
                self.routes.push(r);
                KernelEvent::Route(Change::New, r)
            }
            Op::DelRoute(r) => {
                let before = self.routes.len();
                self.routes.retain(|x| *x != r);
                if before == self.routes.len() {
                    return Err("No such process");
                }
                KernelEvent::Route(Change::Del, r)
            }
            Op::AddRule(r) => {
                if self.rules.contains(&r) {
                    return Err("File exists");
                }
                self.rules.push(r);
                KernelEvent::Rule(Change::New, r)
            }
            Op::DelRule(r) => {
                let pos = self.rules.iter().position(|x| *x == r).ok_or("No such file or directory")?;
                self.rules.remove(pos);
                KernelEvent::Rule(Change::Del, r)
            }
        })
    }

    /// The device the router's traffic uses now: our active table's route if our rule
    /// sends traffic there, else main's lowest-metric default (what `ip route get` shows).
    pub fn egress(&self) -> Option<&'static str> {
        self.egress_in(100)
    }

    /// [`Sim::egress`] for IPv6 traffic.
    pub fn egress6(&self) -> Option<&'static str> {
        self.egress_of(Family::V6, 100)
    }

    /// [`Sim::egress`] with the active table at `table`.
    pub fn egress_in(&self, table: u32) -> Option<&'static str> {
        self.egress_of(Family::V4, table)
    }

    fn egress_of(&self, family: Family, table: u32) -> Option<&'static str> {
        let default = |r: &&Route| r.dst.is_default() && r.family() == family;
        let ours = self.routes.iter().filter(default).find(|r| r.table == table);
        let route = match ours {
            Some(r) if r.kind == RouteType::Unicast => Some(r),
            Some(_) => None,
            None => self
                .routes
                .iter()
                .filter(default)
                .filter(|r| r.table == TABLE_MAIN)
                .filter(|r| self.lines.iter().any(|l| l.ifindex == r.oif && l.carrier))
                .min_by_key(|r| r.metric),
        }?;
        self.lines.iter().find(|l| l.ifindex == route.oif).map(|l| l.name)
    }

    /// Our rules and routes in `ip` syntax, IPv6 ones with `-6 ` in front.
    pub fn ours(&self) -> (Vec<String>, Vec<String>) {
        let v6 = |f: Family| if f == Family::V6 { "-6 " } else { "" };
        let rules = self
            .rules
            .iter()
            .filter(|r| r.protocol == dualwan::route::PROTO_DUALWAN)
            .map(|r| format!("{}{r}", v6(r.family)));
        let routes = self
            .routes
            .iter()
            .filter(|r| r.protocol == dualwan::route::PROTO_DUALWAN)
            .map(|r| format!("{}{r}", v6(r.family())));
        let (mut rules, routes): (Vec<String>, Vec<String>) = (rules.collect(), routes.collect());
        rules.sort(); // the kernel orders rules by priority
        (rules, routes)
    }
}

/// The simulated world as the interpreter's adapters: what the binary does with sockets,
/// done to the fake kernel, network, netifd, conntrack and hotplug.
impl Adapters for World {
    type Error = &'static str;

    fn dump(&mut self, kind: DumpKind, each: &mut dyn FnMut(&KernelEvent)) -> Result<(), &'static str> {
        let events = self.outside(|w| w.dump_events(kind));
        for e in &events {
            each(e);
        }
        Ok(())
    }

    fn open_probe(&mut self, wan: usize, _device: &str, src: IpAddr, ident: u16) -> Result<(), &'static str> {
        self.sockets[wan][Family::of(&src).index()] = Some(ident);
        self.opens += 1;
        Ok(())
    }

    fn close_probe(&mut self, wan: usize, family: Family) {
        self.sockets[wan][family.index()] = None;
    }

    fn send_probe(&mut self, wan: usize, dst: IpAddr, seq: u16) {
        self.probes += 1;
        let ident = self.sockets[wan][Family::of(&dst).index()].expect("probe on a closed socket");
        let l = &self.lines[wan];
        if l.answers(dst) {
            let arrival = self.now + l.rtt;
            self.outside(|w| w.in_flight.push((arrival, wan, dst, ident, seq)));
        }
    }

    fn apply(&mut self, op: &Op) -> Result<(), &'static str> {
        self.outside(|w| {
            w.ops.push(*op);
            let result = match w.fail_next_op.take() {
                Some(e) => Err(e),
                None => w.apply_op(*op),
            };
            result.map(|notification| w.notifications.push(notification))
        })
    }

    fn flush_conntrack(&mut self, wan: usize, addr: IpAddr) -> Result<u32, &'static str> {
        self.outside(|w| {
            let egress = w.egress();
            w.flushes.push((wan, addr, egress));
            match w.fail_next_flush.take() {
                Some(e) => Err(e),
                None => Ok(w.conntrack.iter_mut().find(|(a, _)| *a == addr).map_or(0, |e| std::mem::take(&mut e.1))),
            }
        })
    }

    fn run_hotplug(
        &mut self,
        _now: Instant,
        action: HotplugAction,
        interface: &str,
        device: &str,
        family: Family,
    ) -> Result<(), &'static str> {
        self.outside(|w| w.hotplugs.push((action.as_str(), interface.into(), device.into(), family_word(family))));
        Ok(())
    }

    fn log(&mut self, _level: LogLevel, line: &str) {
        self.outside(|w| w.logs.push(format!("{:>7} {}", w.now.as_micros() / 1000, line)));
    }

    fn ask_netifd(&mut self, now: Instant, network: &NetName) {
        self.outside(|w| {
            w.asks.push(network.to_string());
            match &mut w.ubus {
                Some(link) => {
                    let _ = link.session.ask_netifd(now, network);
                }
                None => {
                    if let Some((_, status)) = w.netifd.iter().find(|(n, _)| *n == network.as_str()) {
                        w.answers.push((network.clone(), status.clone()));
                    }
                }
            }
        });
    }

    fn listen_netifd(&mut self, now: Instant) {
        if let Some(link) = &mut self.ubus {
            link.session.listen(now, netifd::EVENT);
        }
    }

    fn send_event(&mut self, event: &Event) {
        self.outside(|w| w.events.push(event.clone()));
        if let Some(link) = &mut self.ubus {
            link.session.send_event(event.name(), &|out| event.write(out));
        }
    }

    fn ubus(&mut self) -> Option<&mut Session> {
        self.ubus.as_mut().map(|link| &mut link.session)
    }
}
