//! A simulated router for timeline tests of the core: a fake kernel that applies the
//! daemon's operations and echoes notifications back, and a fake network that answers
//! probes according to which parts of each ISP work. Time is simulated; nothing sleeps.
#![allow(dead_code)]

use dualwan::config::{Config, Gateway, Globals, Wan};
use dualwan::daemon::{Action, Daemon};
use dualwan::kernel::{Addr, Change, DumpKind, KernelEvent, Link};
use dualwan::netifd::NetifdStatus;
use dualwan::route::{Op, Prefix, Route, RouteType, Rule, RuleAction, TABLE_MAIN};
use dualwan::time::{Duration, Instant};
use std::net::Ipv4Addr;

pub const TARGETS: [[u8; 4]; 3] = [[203, 0, 113, 1], [203, 0, 113, 2], [203, 0, 113, 3]];

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
}

pub struct Sim {
    pub d: Daemon,
    pub now: Instant,
    pub lines: Vec<Line>,
    pub rules: Vec<Rule>,
    pub routes: Vec<Route>,
    pub logs: Vec<String>,
    pub events: Vec<dualwan::daemon::Event>,
    /// Probe sockets opened so far.
    pub opens: usize,
    pub ops: Vec<Op>,
    sockets: Vec<bool>,
    in_flight: Vec<(Instant, usize, Ipv4Addr, u16, u16)>,
    /// Fail the next kernel write with this error text.
    pub fail_next_op: Option<&'static str>,
    /// Reads a global allocation counter (the allocation test installs one).
    pub alloc_meter: fn() -> u64,
    /// Allocations made inside the daemon's own calls.
    pub core_allocs: u64,
    /// What the fake netifd answers, by interface; an interface not listed gets no answer
    /// (as while ubus is away).
    pub netifd: Vec<(&'static str, NetifdStatus)>,
    /// Every netifd interface the daemon asked about, oldest first.
    pub asks: Vec<String>,
    /// Every conntrack flush asked for: (WAN slot, address, where traffic went when the
    /// flush was carried out), oldest first.
    pub flushes: Vec<(usize, Ipv4Addr, Option<&'static str>)>,
    /// Connections the fake conntrack table holds NAT'd to each address; a flush empties
    /// the address's count and reports it.
    pub conntrack: Vec<(Ipv4Addr, u32)>,
    /// Fail the next flush with this error text.
    pub fail_next_flush: Option<&'static str>,
}

pub fn config() -> Config {
    let mut wans = heapless::Vec::new();
    for (name, dev, metric) in [("wan", "wan1", 10), ("wanb", "wan2", 20)] {
        let mut w = Wan::with_defaults(name, dev);
        w.metric = metric;
        w.gateway = Gateway::Auto;
        for t in TARGETS {
            w.track_ip.push(Ipv4Addr::from(t)).unwrap();
        }
        wans.push(w).unwrap();
    }
    Config { globals: Globals::default(), wans }
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
        gateway: Some(Ipv4Addr::from(gw)),
        oif,
        metric,
        protocol: 16, // dhcp
    };
    vec![
        dflt([192, 0, 2, 1], 2, 10),
        dflt([192, 0, 2, 9], 3, 20),
        Route {
            table: 200,
            dst: Prefix { addr: Ipv4Addr::new(198, 51, 100, 0), len: 24 },
            kind: RouteType::Unicast,
            gateway: Some(Ipv4Addr::new(192, 0, 2, 1)),
            oif: 2,
            metric: 0,
            protocol: 4, // static
        },
    ]
}

pub fn foreign_rules() -> Vec<Rule> {
    vec![Rule {
        priority: 4000,
        src: None,
        action: RuleAction::Lookup(200),
        suppress_prefixlen: None,
        protocol: 0,
        other_selectors: true,
    }]
}

impl Sim {
    /// A router with two working lines, the daemon started and settled.
    pub fn new(config: Config) -> Sim {
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
            },
        ];
        let n = config.wans.len();
        let now = Instant::from_millis(1_000);
        let mut sim = Sim {
            d: Daemon::new(now, config, 0x4000),
            now,
            lines,
            rules: foreign_rules(),
            routes: foreign_routes(),
            logs: Vec::new(),
            events: Vec::new(),
            opens: 0,
            ops: Vec::new(),
            sockets: vec![false; n],
            in_flight: Vec::new(),
            fail_next_op: None,
            alloc_meter: || 0,
            core_allocs: 0,
            netifd: Vec::new(),
            asks: Vec::new(),
            flushes: Vec::new(),
            conntrack: Vec::new(),
            fail_next_flush: None,
        };
        sim.netifd = vec![("wan", netifd_up(&sim.lines[0])), ("wanb", netifd_up(&sim.lines[1]))];
        sim.drain();
        sim
    }

    fn link(&self, i: usize) -> Link {
        let l = &self.lines[i];
        Link { ifindex: l.ifindex, name: l.name.try_into().unwrap(), up: true, lower_up: l.carrier }
    }

    /// Calls into the daemon, counting the allocations made inside the call.
    pub fn core<R>(&mut self, f: impl FnOnce(&mut Daemon, Instant) -> R) -> R {
        let before = (self.alloc_meter)();
        let r = f(&mut self.d, self.now);
        self.core_allocs += (self.alloc_meter)() - before;
        r
    }

    fn deliver(&mut self, e: KernelEvent) {
        self.core(|d, now| d.handle_kernel(now, &e));
    }

    fn dump(&mut self, kind: DumpKind) {
        let mut events = Vec::new();
        match kind {
            DumpKind::Links => {
                for i in 0..self.lines.len() {
                    events.push(KernelEvent::Link(Change::New, self.link(i)));
                }
            }
            DumpKind::Addrs => {
                for l in &self.lines {
                    events.push(KernelEvent::Addr(
                        Change::New,
                        Addr { ifindex: l.ifindex, addr: l.addr, prefix_len: 29 },
                    ));
                }
            }
            DumpKind::Routes => events.extend(self.routes.iter().map(|r| KernelEvent::Route(Change::New, *r))),
            DumpKind::Rules => events.extend(self.rules.iter().map(|r| KernelEvent::Rule(Change::New, *r))),
        }
        events.push(KernelEvent::DumpDone(kind));
        for e in events {
            self.deliver(e);
        }
    }

    /// Applies an op like the kernel would, with its notification.
    fn apply(&mut self, op: Op) -> Result<KernelEvent, &'static str> {
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

    /// Carries out every queued action, feeding results back, until the queue is empty.
    pub fn drain(&mut self) {
        let mut notifications = Vec::new();
        loop {
            while let Some(action) = self.core(|d, _| d.poll_action()) {
                match action {
                    Action::Dump(kind) => self.dump(kind),
                    Action::OpenProbe { wan, .. } => {
                        self.sockets[wan] = true;
                        self.opens += 1;
                    }
                    Action::CloseProbe { wan } => self.sockets[wan] = false,
                    Action::SendProbe { wan, dst, seq } => {
                        assert!(self.sockets[wan], "probe on a closed socket");
                        let l = &self.lines[wan];
                        let answers = l.carrier
                            && if dst == l.gateway { l.gateway_answers } else { l.upstream_works && l.gateway_answers };
                        if answers {
                            let ident = self.d.ident(wan);
                            self.in_flight.push((self.now + l.rtt, wan, dst, ident, seq));
                        }
                    }
                    Action::Apply(op) => {
                        self.ops.push(op);
                        let result = match self.fail_next_op.take() {
                            Some(e) => Err(e),
                            None => self.apply(op),
                        };
                        match result {
                            Ok(e) => {
                                self.core(|d, now| d.handle_op_result(now, &op, Ok(())));
                                notifications.push(e);
                            }
                            Err(e) => self.core(|d, now| d.handle_op_result(now, &op, Err(&e))),
                        }
                    }
                    Action::Event(e) => self.events.push(e),
                    Action::AskNetifd { wan, network } => {
                        self.asks.push(network.to_string());
                        let answer = self.netifd.iter().find(|(n, _)| *n == network.as_str()).map(|(_, s)| s.clone());
                        if let Some(status) = answer {
                            self.core(|d, now| d.handle_netifd(now, wan, status));
                        }
                    }
                    Action::Log(_, line) => self.logs.push(format!("{:>7} {}", self.now.as_micros() / 1000, line)),
                    Action::FlushConntrack { wan, addr } => {
                        let egress = self.egress();
                        self.flushes.push((wan, addr, egress));
                        match self.fail_next_flush.take() {
                            Some(e) => self.core(|d, now| d.handle_flush_result(now, wan, addr, Err(&e))),
                            None => {
                                let n = self.conntrack.iter_mut().find(|(a, _)| *a == addr).map_or(0, |e| {
                                    let n = e.1;
                                    e.1 = 0;
                                    n
                                });
                                self.core(|d, now| d.handle_flush_result(now, wan, addr, Ok(n)));
                            }
                        }
                    }
                }
            }
            if notifications.is_empty() {
                break;
            }
            for e in std::mem::take(&mut notifications) {
                self.deliver(e);
            }
        }
    }

    /// Runs the loop until `until`, waking at the core's deadlines and reply arrivals.
    pub fn run_until(&mut self, until: Instant) {
        loop {
            let next_reply = self.in_flight.iter().map(|r| r.0).min();
            let next = [self.core(|d, _| d.poll_timeout()), next_reply].into_iter().flatten().min();
            let Some(next) = next.filter(|&t| t <= until) else {
                break;
            };
            self.now = self.now.max(next);
            let (due, later): (Vec<_>, Vec<_>) = self.in_flight.drain(..).partition(|r| r.0 <= self.now);
            self.in_flight = later;
            for (_, wan, src, ident, seq) in due {
                self.core(|d, now| d.handle_reply(now, wan, src, ident, seq));
            }
            self.core(|d, now| d.handle_timeout(now));
            self.drain();
        }
        self.now = until;
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

    /// The device the router's traffic uses now: our active table's route if our rule
    /// sends traffic there, else main's lowest-metric default (what `ip route get` shows).
    pub fn egress(&self) -> Option<&'static str> {
        self.egress_in(100)
    }

    /// [`Sim::egress`] with the active table at `table`.
    pub fn egress_in(&self, table: u32) -> Option<&'static str> {
        let ours = self.routes.iter().find(|r| r.table == table && r.dst.is_default());
        let route = match ours {
            Some(r) if r.kind == RouteType::Unicast => Some(r),
            Some(_) => None,
            None => self
                .routes
                .iter()
                .filter(|r| r.table == TABLE_MAIN && r.dst.is_default())
                .filter(|r| self.lines.iter().any(|l| l.ifindex == r.oif && l.carrier))
                .min_by_key(|r| r.metric),
        }?;
        self.lines.iter().find(|l| l.ifindex == route.oif).map(|l| l.name)
    }

    /// Sets a line's carrier and tells the daemon, as the kernel would.
    pub fn set_carrier(&mut self, i: usize, up: bool) {
        self.lines[i].carrier = up;
        let link = self.link(i);
        self.deliver(KernelEvent::Link(Change::New, link));
        self.drain();
    }

    /// netifd's status of `interface` becomes `status`, and netifd says so with an event.
    pub fn netifd_says(&mut self, interface: &'static str, status: NetifdStatus) {
        match self.netifd.iter_mut().find(|(n, _)| *n == interface) {
            Some(entry) => entry.1 = status,
            None => self.netifd.push((interface, status)),
        }
        self.core(|d, now| d.handle_netifd_event(now, interface));
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
        self.deliver(KernelEvent::Addr(Change::New, Addr { ifindex, addr: l.addr, prefix_len: 29 }));
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

    pub fn ours(&self) -> (Vec<String>, Vec<String>) {
        let rules = self.rules.iter().filter(|r| r.protocol == dualwan::route::PROTO_DUALWAN).map(|r| r.to_string());
        let routes = self.routes.iter().filter(|r| r.protocol == dualwan::route::PROTO_DUALWAN).map(|r| r.to_string());
        let (mut rules, routes): (Vec<String>, Vec<String>) = (rules.collect(), routes.collect());
        rules.sort(); // the kernel orders rules by priority
        (rules, routes)
    }
}
