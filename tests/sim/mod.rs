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

pub mod capture;
pub mod ubusd;

use dualwan::calls::CallAnswer;
use dualwan::config::{Config, Gateway, Globals, LogLevel, NetName, Wan};
use dualwan::daemon::{Daemon, Event, HotplugAction, TcpEnd};
use dualwan::interpreter::{self, Adapters};
use dualwan::kernel::{Addr, Change, DumpKind, KernelEvent, Link};
use dualwan::netifd::{self, NetifdStatus};
use dualwan::route::{Family, Group, Nexthop, NexthopKind, Op, Prefix, Route, RouteType, Rule, RuleAction, Selectors};
use dualwan::route::{PortRange, TABLE_MAIN};
use dualwan::status::{family_word, write_status, Blob, StatusError};
use dualwan::sys::tcp_probe::TCP_PROBES_MAX;
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
    /// Share of the Internet targets' answers lost on the way back (0.3: 30 % iid, as
    /// the lab's nftables `numgen random` rule); the gateway's are not.
    pub loss: f64,
    /// The ISP drops ICMP echo requests to the Internet (some LTE carriers): the targets
    /// never answer a ping, TCP passes, the gateway still answers.
    pub echo_filtered: bool,
    /// A firewall on the way rejects TCP SYNs with an ICMP error: TCP probes are known lost
    /// half an RTT after they went out.
    pub syn_rejected: bool,
    /// Targets that never answer over this line (a host that went away).
    pub silent: Vec<IpAddr>,
}

impl Line {
    /// Whether `dst` is the line's gateway (of either family).
    fn is_gateway(&self, dst: IpAddr) -> bool {
        dst == IpAddr::V4(self.gateway) || dst == IpAddr::V6(self.gateway6)
    }

    /// Whether an echo request to `dst` would be answered now (before random loss).
    fn answers_echo(&self, dst: IpAddr) -> bool {
        self.answers(dst) && (self.is_gateway(dst) || !self.echo_filtered)
    }

    /// Whether a probe to `dst` would be answered now (before random loss and filters).
    fn answers(&self, dst: IpAddr) -> bool {
        self.carrier
            && !self.silent.contains(&dst)
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
    /// The fake kernel's nexthop objects (balance mode's).
    pub nexthops: Vec<Nexthop>,
    pub logs: Vec<String>,
    /// The ubus events the core sent, oldest first.
    pub events: Vec<Event>,
    /// Probe sockets opened so far.
    pub opens: usize,
    /// Probes sent so far.
    pub probes: u64,
    /// Echo requests sent to Internet targets (not to a gateway) so far.
    pub echoes_to_targets: u64,
    pub ops: Vec<Op>,
    /// Open probe sockets by WAN index, per family: the ICMP identifier they were opened for.
    sockets: Vec<[Option<u16>; 2]>,
    in_flight: Vec<(Instant, usize, IpAddr, u16, u16)>,
    /// Open TCP probe sets by WAN index, per family.
    tcp_sets: Vec<[bool; 2]>,
    /// TCP probes in flight, oldest first.
    pub tcp_in_flight: Vec<TcpProbe>,
    /// TCP probes started so far (refused ones included).
    pub tcp_probes: u64,
    /// TCP probes cancelled while in flight (their round judged without their answer).
    pub tcp_cancels: u64,
    /// The most TCP probes one set had in flight at once.
    pub tcp_most: usize,
    /// TCP results handed to the core: (WAN, target, how it ended), oldest first.
    pub tcp_results: Vec<(usize, IpAddr, TcpEnd)>,
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
    /// Hotplug runs for rules (`ACTION=rule`), oldest first: (RULE, FAMILY, VIA, PREVIOUS).
    pub rule_hotplugs: Vec<(String, &'static str, String, String)>,
    /// The daemon's ubus session and the scripted ubusd ([`Sim::with_ubus`]).
    pub ubus: Option<UbusLink>,
    /// Kernel notifications of applied ops, delivered once the actions are done.
    notifications: Vec<KernelEvent>,
    /// netifd's answers, delivered once the actions are done.
    answers: Vec<(NetName, NetifdStatus)>,
    /// Allocations the world made during the interpreter's run (not the core's).
    excluded: u64,
    /// State of the random generator behind `Line::loss` (xorshift64*; fixed seed, so a
    /// run is the same every time).
    pub rng: u64,
    /// Times the loop woke up (a deadline or a reply), as `dualwan run`'s poll would.
    pub wakeups: u64,
}

/// One TCP probe in flight in the simulated network.
#[derive(Clone, Debug)]
pub struct TcpProbe {
    pub wan: usize,
    pub dst: IpAddr,
    pub token: u16,
    /// When the adapter gives up on it.
    pub deadline: Instant,
    /// When and how it ends before that, if it does: a SYN-ACK, or an ICMP error.
    pub ends: Option<(Instant, TcpEnd)>,
}

impl TcpProbe {
    /// When it ends, and how: its answer or error, else its deadline.
    fn end(&self) -> (Instant, TcpEnd) {
        match self.ends {
            Some((at, end)) if at < self.deadline => (at, end),
            _ => (self.deadline, TcpEnd::TimedOut),
        }
    }
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
    Config { policies: heapless::Vec::new(), globals: Globals::default(), wans }
}

/// [`config`] with `wan`'s targets probed by TCP (`track_method tcp`, port 443).
pub fn tcp_config() -> Config {
    let mut c = config();
    c.wans[0].track_method = dualwan::config::TrackMethod::Tcp;
    c
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
        nhid: None,
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
            nhid: None,
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
            nhid: None,
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
        selectors: Selectors::NONE,
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
                loss: 0.0,
                echo_filtered: false,
                syn_rejected: false,
                silent: Vec::new(),
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
                loss: 0.0,
                echo_filtered: false,
                syn_rejected: false,
                silent: Vec::new(),
            },
        ];
        let mut lines = lines;
        if config.wans.len() > 2 {
            // A third line, for configs with three WANs.
            lines.push(Line {
                ifindex: 4,
                name: "wan3",
                addr: Ipv4Addr::new(192, 0, 2, 18),
                gateway: Ipv4Addr::new(192, 0, 2, 17),
                addr6: Some("2001:db8:3::2".parse().unwrap()),
                rtt: Duration::from_millis(20),
                ..lines[0].clone()
            });
        }
        let n = config.wans.len();
        let now = Instant::from_millis(1_000);
        let netifd = vec![("wan", netifd_up(&lines[0])), ("wanb", netifd_up(&lines[1]))];
        let w = World {
            now,
            lines,
            rules: foreign_rules(),
            routes: foreign_routes(),
            nexthops: Vec::new(),
            logs: Vec::new(),
            events: Vec::new(),
            opens: 0,
            probes: 0,
            echoes_to_targets: 0,
            ops: Vec::new(),
            sockets: vec![[None; 2]; n],
            in_flight: Vec::new(),
            tcp_sets: vec![[false; 2]; n],
            tcp_in_flight: Vec::new(),
            tcp_probes: 0,
            tcp_cancels: 0,
            tcp_most: 0,
            tcp_results: Vec::new(),
            fail_next_op: None,
            alloc_meter: || 0,
            core_allocs: 0,
            netifd,
            asks: Vec::new(),
            flushes: Vec::new(),
            conntrack: Vec::new(),
            fail_next_flush: None,
            hotplugs: Vec::new(),
            rule_hotplugs: Vec::new(),
            ubus,
            notifications: Vec::new(),
            answers: Vec::new(),
            excluded: 0,
            rng: 0x9e37_79b9_7f4a_7c15,
            wakeups: 0,
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
    /// answered by the core (status, probe). True if the session heard anything.
    fn pump_ubus(&mut self) -> bool {
        let now = self.w.now;
        let World { ubus, netifd, .. } = &mut self.w;
        let Some(link) = ubus.as_mut() else { return false };
        link.pump(now, netifd, &mut CallAnswer { core: &mut self.d, now })
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
            let next_tcp = self.w.tcp_in_flight.iter().map(|p| p.end().0).min();
            let next_ubus = self.w.ubus.as_ref().and_then(UbusLink::next_deadline);
            let next =
                [self.core(|d, _| d.poll_timeout()), next_reply, next_tcp, next_ubus].into_iter().flatten().min();
            let Some(next) = next.filter(|&t| t <= until) else {
                break;
            };
            self.w.now = self.w.now.max(next);
            self.w.wakeups += 1;
            let (due, later): (Vec<_>, Vec<_>) = self.w.in_flight.drain(..).partition(|r| r.0 <= self.w.now);
            self.w.in_flight = later;
            for (_, wan, src, ident, seq) in due {
                self.core(|d, now| d.handle_reply(now, wan, src, ident, seq));
            }
            // As `dualwan run`: the sets that are ready, then those past their deadline.
            let now = self.w.now;
            let (ended, going): (Vec<_>, Vec<_>) = self.w.tcp_in_flight.drain(..).partition(|p| p.end().0 <= now);
            self.w.tcp_in_flight = going;
            for p in ended {
                let end = p.end().1;
                let why = match end {
                    TcpEnd::Answered => "SYN-ACK",
                    TcpEnd::Lost => "EHOSTUNREACH: No route to host",
                    TcpEnd::TimedOut => "no answer",
                };
                self.w.tcp_results.push((p.wan, p.dst, end));
                self.core(|d, now| d.handle_tcp_result(now, p.wan, p.dst, p.token, end, &why));
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

    /// Sets a line's carrier and tells the daemon, as the kernel would: a line losing
    /// carrier loses its nexthop objects (and with them maybe groups and their routes),
    /// without a notification.
    pub fn set_carrier(&mut self, i: usize, up: bool) {
        self.lines[i].carrier = up;
        if !up {
            let oif = self.lines[i].ifindex;
            let on_it: Vec<u32> = self
                .nexthops
                .iter()
                .filter(|n| matches!(n.kind, NexthopKind::Via { oif: o, .. } if o == oif))
                .map(|n| n.id)
                .collect();
            for id in on_it {
                let _silent = self.remove_nexthop(id);
            }
        }
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

    /// Removes the main table's `family` default route via line `i`'s device, with the
    /// notification (netifd or a person deleting it; the device and address stay).
    pub fn delete_main_default(&mut self, i: usize, family: Family) {
        let oif = self.lines[i].ifindex;
        let pos = self
            .routes
            .iter()
            .position(|r| r.table == TABLE_MAIN && r.dst.is_default() && r.oif == oif && r.family() == family)
            .expect("a main default via the line");
        let r = self.routes.remove(pos);
        self.deliver(KernelEvent::Route(Change::Del, r));
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
    /// A uniform number in [0, 1) from the simulation's own generator.
    pub fn random(&mut self) -> f64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

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
            DumpKind::Nexthops => events.extend(self.nexthops.iter().map(|n| KernelEvent::Nexthop(Change::New, *n))),
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

    /// Applies an op like the kernel would, with its notifications.
    fn apply_op(&mut self, op: Op) -> Result<Vec<KernelEvent>, &'static str> {
        if let Op::AddRoute(r) | Op::ReplaceRoute(r) = op {
            if r.nhid.is_some_and(|id| !self.nexthops.iter().any(|n| n.id == id)) {
                return Err("Nexthop id does not exist");
            }
        }
        match op {
            Op::AddNexthop(n) | Op::ReplaceNexthop(n) => {
                if matches!(op, Op::AddNexthop(_)) && self.nexthops.iter().any(|x| x.id == n.id) {
                    return Err("File exists");
                }
                match n.kind {
                    NexthopKind::Via { oif, .. } if !self.lines.iter().any(|l| l.ifindex == oif && l.carrier) => {
                        return Err("Network is down");
                    }
                    NexthopKind::Group(g)
                        if g.members().iter().any(|m| !self.nexthops.iter().any(|x| x.id == m.id)) =>
                    {
                        return Err("Invalid nexthop id");
                    }
                    _ => {}
                }
                self.nexthops.retain(|x| x.id != n.id);
                self.nexthops.push(n);
                return Ok(vec![KernelEvent::Nexthop(Change::New, n)]);
            }
            Op::DelNexthop(n) => {
                if !self.nexthops.iter().any(|x| x.id == n.id) {
                    return Err("No such file or directory");
                }
                return Ok(self.remove_nexthop(n.id));
            }
            _ => {}
        }
        self.apply_one(op).map(|e| vec![e])
    }

    /// Removes nexthop `id` as the kernel does: its routes go without a word, it leaves its
    /// groups (a group left empty goes too). Returns the nexthop notifications.
    fn remove_nexthop(&mut self, id: u32) -> Vec<KernelEvent> {
        let Some(pos) = self.nexthops.iter().position(|n| n.id == id) else { return Vec::new() };
        let gone = self.nexthops.remove(pos);
        self.routes.retain(|r| r.nhid != Some(id));
        let mut events = vec![KernelEvent::Nexthop(Change::Del, gone)];
        let mut emptied = Vec::new();
        for n in self.nexthops.iter_mut() {
            if let NexthopKind::Group(g) = n.kind {
                if g.members().iter().any(|m| m.id == id) {
                    let rest: Vec<_> = g.members().iter().filter(|m| m.id != id).copied().collect();
                    if rest.is_empty() {
                        emptied.push(n.id);
                    } else {
                        n.kind = NexthopKind::Group(Group::new(&rest, g.resilient).unwrap());
                        events.push(KernelEvent::Nexthop(Change::New, *n));
                    }
                }
            }
        }
        for id in emptied {
            events.extend(self.remove_nexthop(id));
        }
        events
    }

    /// Applies a rule or route op like the kernel would, with its notification.
    fn apply_one(&mut self, op: Op) -> Result<KernelEvent, &'static str> {
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
            Op::AddNexthop(_) | Op::ReplaceNexthop(_) | Op::DelNexthop(_) => unreachable!("see apply_op"),
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

    /// The device a packet leaves by, as `ip route get` finds it: the rules in priority
    /// order (ours, the foreign ones, the kernel's `main` at 32766) and the tables they
    /// name; a route through a nexthop group picks a member by the packet's hash and the
    /// members' weights (like the kernel, the same packet always takes the same member
    /// while the group is unchanged). Only default routes exist in this kernel.
    pub fn route_get(&self, p: &Packet) -> Option<&'static str> {
        let family = Family::of(&p.dst);
        let mut rules: Vec<&Rule> = self.rules.iter().filter(|r| r.family == family).collect();
        rules.sort_by_key(|r| r.priority);
        let main = Rule {
            family,
            priority: 32766,
            src: None,
            selectors: Selectors::NONE,
            action: RuleAction::Lookup(TABLE_MAIN),
            suppress_prefixlen: None,
            protocol: 2,
            other_selectors: false,
        };
        for r in rules.into_iter().chain([&main]) {
            if r.other_selectors || !p.matches(r) {
                continue;
            }
            match r.action {
                RuleAction::Lookup(table) => {
                    let defaults = self.routes.iter().filter(|x| x.table == table && x.dst.is_default());
                    let Some(route) = defaults.filter(|x| x.family() == family).min_by_key(|x| x.metric) else {
                        continue;
                    };
                    if r.suppress_prefixlen.is_some() {
                        continue; // every route here is a default: suppressed
                    }
                    return match route.kind {
                        RouteType::Unicast => self.via(route, p),
                        _ => None,
                    };
                }
                _ => return None,
            }
        }
        None
    }

    fn via(&self, route: &Route, p: &Packet) -> Option<&'static str> {
        let oif = match route.nhid {
            None => route.oif,
            Some(id) => {
                let nh = self.nexthops.iter().find(|n| n.id == id)?;
                let via = match nh.kind {
                    NexthopKind::Group(g) => {
                        let total: u32 = g.members().iter().map(|m| u32::from(m.weight)).sum();
                        let mut point = p.hash() % total;
                        let member = g.members().iter().find(|m| {
                            let hit = point < u32::from(m.weight);
                            point = point.saturating_sub(u32::from(m.weight));
                            hit
                        })?;
                        self.nexthops.iter().find(|n| n.id == member.id)?
                    }
                    _ => nh,
                };
                match via.kind {
                    NexthopKind::Via { oif, .. } => oif,
                    _ => return None,
                }
            }
        };
        self.lines.iter().find(|l| l.ifindex == oif).map(|l| l.name)
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

    fn open_probe(
        &mut self,
        wan: usize,
        _device: &str,
        src: IpAddr,
        ident: u16,
        tcp: bool,
    ) -> Result<(), &'static str> {
        let family = Family::of(&src);
        self.close_probe(wan, family);
        self.sockets[wan][family.index()] = Some(ident);
        self.tcp_sets[wan][family.index()] = tcp;
        self.opens += 1;
        Ok(())
    }

    fn close_probe(&mut self, wan: usize, family: Family) {
        self.sockets[wan][family.index()] = None;
        self.tcp_sets[wan][family.index()] = false;
        self.outside(|w| w.tcp_in_flight.retain(|p| p.wan != wan || Family::of(&p.dst) != family));
    }

    fn send_probe(&mut self, wan: usize, dst: IpAddr, seq: u16) {
        self.probes += 1;
        self.echoes_to_targets += u64::from(!self.lines[wan].is_gateway(dst));
        let ident = self.sockets[wan][Family::of(&dst).index()].expect("probe on a closed socket");
        let lost = self.lines[wan].loss > 0.0 && !self.lines[wan].is_gateway(dst) && {
            let loss = self.lines[wan].loss;
            self.random() < loss
        };
        let l = &self.lines[wan];
        if l.answers_echo(dst) && !lost {
            let arrival = self.now + l.rtt;
            self.outside(|w| w.in_flight.push((arrival, wan, dst, ident, seq)));
        }
    }

    fn send_tcp_probe(
        &mut self,
        wan: usize,
        dst: IpAddr,
        _port: u16,
        token: u16,
        deadline: Instant,
    ) -> Result<(), &'static str> {
        let family = Family::of(&dst);
        assert!(self.tcp_sets[wan][family.index()], "TCP probe without a set");
        self.probes += 1;
        self.tcp_probes += 1;
        let in_set =
            |w: &World| w.tcp_in_flight.iter().filter(|p| p.wan == wan && Family::of(&p.dst) == family).count();
        if in_set(self) >= TCP_PROBES_MAX {
            return Err("TCP probe: all probes in flight");
        }
        let lost = self.lines[wan].loss > 0.0 && {
            let loss = self.lines[wan].loss;
            self.random() < loss
        };
        let l = &self.lines[wan];
        let ends = if l.syn_rejected {
            Some((self.now + Duration::from_micros(l.rtt.as_micros() / 2), TcpEnd::Lost))
        } else if l.answers(dst) && !lost {
            Some((self.now + l.rtt, TcpEnd::Answered))
        } else {
            None
        };
        self.outside(|w| {
            w.tcp_in_flight.push(TcpProbe { wan, dst, token, deadline, ends });
            w.tcp_most = w.tcp_most.max(in_set(w));
        });
        Ok(())
    }

    fn cancel_tcp_probe(&mut self, wan: usize, family: Family, token: u16) {
        let mine = |p: &TcpProbe| p.wan == wan && Family::of(&p.dst) == family && p.token == token;
        if let Some(i) = self.tcp_in_flight.iter().position(mine) {
            self.tcp_in_flight.remove(i);
            self.tcp_cancels += 1;
        }
    }

    fn apply(&mut self, op: &Op) -> Result<(), &'static str> {
        self.outside(|w| {
            w.ops.push(*op);
            let result = match w.fail_next_op.take() {
                Some(e) => Err(e),
                None => w.apply_op(*op),
            };
            result.map(|notifications| w.notifications.extend(notifications))
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

    fn run_hotplug_rule(
        &mut self,
        _now: Instant,
        rule: &str,
        family: Family,
        via: &str,
        previous: &str,
    ) -> Result<(), &'static str> {
        self.outside(|w| w.rule_hotplugs.push((rule.into(), family_word(family), via.into(), previous.into())));
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

/// A packet for [`World::route_get`]: what the kernel's rules can select on.
#[derive(Clone, Debug)]
pub struct Packet {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// The device it arrived on (`None`: sent by the router itself).
    pub iif: Option<&'static str>,
    pub proto: Option<u8>,
    pub sport: Option<u16>,
    pub dport: Option<u16>,
}

impl Packet {
    /// A packet from LAN host `src` to `dst` (any protocol), arriving on `lan0`.
    pub fn from_lan(src: &str, dst: &str) -> Packet {
        Packet {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            iif: Some("lan0"),
            proto: None,
            sport: None,
            dport: None,
        }
    }

    /// This packet as UDP to port `dport`.
    pub fn udp(self, dport: u16) -> Packet {
        Packet { proto: Some(17), sport: Some(40000), dport: Some(dport), ..self }
    }

    fn matches(&self, r: &Rule) -> bool {
        let within = |p: &Option<Prefix>, a: IpAddr| {
            p.is_none_or(|p| {
                let bits = |a: IpAddr| match a {
                    IpAddr::V4(a) => u128::from(u32::from(a)) << 96,
                    IpAddr::V6(a) => u128::from(a),
                };
                // Both families as the top bits of 128: the prefix's first `len` bits.
                let mask = u128::MAX.checked_shl(128 - u32::from(p.len)).unwrap_or(0);
                bits(p.addr) & mask == bits(a) & mask
            })
        };
        let port = |range: &Option<PortRange>, port: Option<u16>| {
            range.is_none_or(|r| port.is_some_and(|p| (r.start..=r.end).contains(&p)))
        };
        let s = &r.selectors;
        within(&r.src, self.src)
            && within(&s.dst, self.dst)
            && s.iif.is_none_or(|d| self.iif == Some(d.as_str()))
            && s.ip_proto.is_none_or(|n| self.proto == Some(n))
            && port(&s.sport, self.sport)
            && port(&s.dport, self.dport)
    }

    /// The kernel hashes addresses (and, with L4 hashing, ports) into a number; any
    /// stable mix will do here.
    fn hash(&self) -> u32 {
        let mut h: u32 = 2166136261;
        for b in format!("{}{}", self.src, self.dst).bytes() {
            h = (h ^ u32::from(b)).wrapping_mul(16777619);
        }
        h
    }
}
