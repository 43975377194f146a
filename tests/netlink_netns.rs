//! Lab tests of `sys::netlink` against the running kernel, each in its own throw-away network
//! namespace with a veth pair (documentation addresses only: 192.0.2.0/24, 198.51.100.0/24,
//! 203.0.113.0/24).
//!
//! Needs root (creating namespaces, changing routes). Without it the tests fail with a clear
//! message, unless `DUALWAN_SKIP_NETNS=1`, which turns each into a printed skip.
//!
//! Each test body runs on a thread of its own that joins the namespace with setns(2) before
//! opening any socket: setns moves only the calling thread, and a socket stays in the
//! namespace it was created in. The namespace is deleted by a guard, also when the body panics.

mod common;

use common::alloc::{allocations, Counting};
use common::netns::{enter, may_build_namespaces};
use dualwan::kernel::{Change, DumpKind, KernelEvent};
use dualwan::route::{Op, Prefix, Route, RouteType, Rule, RuleAction, Selectors, PROTO_DUALWAN, TABLE_MAIN};
use dualwan::sys::netlink::{Netlink, NlCause};
use nix::errno::Errno;
use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Counts heap allocations made by the current thread, to prove the event path makes none.
#[global_allocator]
static GLOBAL: Counting = Counting;

/// A network namespace named `dwnl<pid>-<n>`, deleted on drop.
struct Netns {
    name: String,
}

impl Netns {
    fn create() -> Netns {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!("dwnl{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        run("ip", &["netns", "add", &name]);
        Netns { name }
    }

    /// Run `ip ARGS` inside the namespace; panics with its stderr if it fails.
    fn ip(&self, args: &str) -> String {
        let mut argv = vec!["netns", "exec", &self.name, "ip"];
        argv.extend(args.split_whitespace());
        run("ip", &argv)
    }

    /// Like `ip`, but returns the error text instead of panicking.
    fn try_ip(&self, args: &str) -> Result<String, String> {
        let mut argv = vec!["netns", "exec", &self.name, "ip"];
        argv.extend(args.split_whitespace());
        try_run("ip", &argv)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = try_run("ip", &["netns", "del", &self.name]);
    }
}

fn try_run(cmd: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(cmd).args(args).output().map_err(|e| format!("{cmd}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("{cmd} {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

fn run(cmd: &str, args: &[&str]) -> String {
    try_run(cmd, args).unwrap_or_else(|e| panic!("{e}"))
}

/// Run `body` on its own thread inside a fresh namespace holding `dw0 <-> dw1`, both up,
/// 192.0.2.2/24 on dw0. Returns without running it (after a skip line) with DUALWAN_SKIP_NETNS=1.
fn in_netns(body: impl FnOnce(&Netns) + Send + 'static) {
    if !may_build_namespaces() {
        return;
    }
    let ns = std::sync::Arc::new(Netns::create());
    ns.ip("link add dw0 type veth peer name dw1");
    ns.ip("addr add 192.0.2.2/24 dev dw0");
    ns.ip("link set dw0 up");
    ns.ip("link set dw1 up");
    let inner = ns.clone();
    let result = std::thread::spawn(move || {
        enter(&inner.name);
        body(&inner);
    })
    .join();
    drop(ns); // deletes the namespace before a panic is passed on
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

fn collect(nl: &mut Netlink, kind: DumpKind) -> Vec<KernelEvent> {
    let mut got = Vec::new();
    nl.dump(kind, &mut |e| got.push(e)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got.pop(), Some(KernelEvent::DumpDone(kind)), "dump ends with DumpDone");
    assert!(got.iter().all(|e| !matches!(e, KernelEvent::DumpDone(_))));
    got
}

fn ifindex(nl: &mut Netlink, name: &str) -> u32 {
    collect(nl, DumpKind::Links)
        .into_iter()
        .find_map(|e| match e {
            KernelEvent::Link(Change::New, l) if l.name == name => Some(l.ifindex),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{name} not in the link dump"))
}

fn routes(nl: &mut Netlink) -> Vec<Route> {
    collect(nl, DumpKind::Routes)
        .into_iter()
        .map(|e| match e {
            KernelEvent::Route(Change::New, r) => r,
            other => panic!("route dump gave {other:?}"),
        })
        .collect()
}

fn rules(nl: &mut Netlink) -> Vec<Rule> {
    collect(nl, DumpKind::Rules)
        .into_iter()
        .map(|e| match e {
            KernelEvent::Rule(Change::New, r) => r,
            other => panic!("rule dump gave {other:?}"),
        })
        .collect()
}

fn default_via(gw: [u8; 4], oif: u32, table: u32) -> Route {
    Route {
        table,
        dst: Prefix::DEFAULT,
        kind: RouteType::Unicast,
        gateway: Some(Ipv4Addr::from(gw).into()),
        nhid: None,
        oif,
        metric: 0,
        protocol: PROTO_DUALWAN,
    }
}

fn kernel_errno(result: Result<(), dualwan::sys::netlink::NetlinkError>) -> (Errno, String) {
    let err = result.expect_err("the kernel should refuse this");
    assert!(matches!(err.cause, NlCause::Kernel(..)), "{err:?}");
    (err.errno().unwrap(), err.to_string())
}

#[test]
fn route_add_replace_delete() {
    in_netns(|ns| {
        let mut nl = Netlink::open().unwrap_or_else(|e| panic!("{e}"));
        let dw0 = ifindex(&mut nl, "dw0");

        let first = default_via([192, 0, 2, 1], dw0, 101);
        nl.apply(&Op::AddRoute(first)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ns.ip("-4 route show table 101").trim(), "default via 192.0.2.1 dev dw0 proto 201");
        let table101: Vec<_> = routes(&mut nl).into_iter().filter(|r| r.table == 101).collect();
        assert_eq!(table101, [first]);

        // The slot (table 101, default, metric 0) is taken: EEXIST, as an error.
        let (errno, text) = kernel_errno(nl.apply(&Op::AddRoute(default_via([192, 0, 2, 3], dw0, 101))));
        assert_eq!(errno, Errno::EEXIST);
        assert_eq!(text, "netlink route add: File exists");

        // Replace swaps the route in the slot in one step.
        let second = default_via([192, 0, 2, 3], dw0, 101);
        nl.apply(&Op::ReplaceRoute(second)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ns.ip("-4 route show table 101").trim(), "default via 192.0.2.3 dev dw0 proto 201");
        let table101: Vec<_> = routes(&mut nl).into_iter().filter(|r| r.table == 101).collect();
        assert_eq!(table101, [second]);

        // Delete names the gateway: deleting the old one finds nothing (ESRCH for routes).
        let (errno, _) = kernel_errno(nl.apply(&Op::DelRoute(first)));
        assert_eq!(errno, Errno::ESRCH);
        nl.apply(&Op::DelRoute(second)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ns.ip("-4 route show table 101").trim(), "");
        assert!(routes(&mut nl).iter().all(|r| r.table != 101));
    });
}

#[test]
fn routes_in_large_tables_and_reject_routes() {
    in_netns(|ns| {
        let mut nl = Netlink::open().unwrap_or_else(|e| panic!("{e}"));
        let dw0 = ifindex(&mut nl, "dw0");
        let big = Route { metric: 20, ..default_via([192, 0, 2, 1], dw0, 1000) };
        let unreachable = Route {
            table: 1000,
            dst: Prefix { addr: Ipv4Addr::new(203, 0, 113, 0).into(), len: 24 },
            kind: RouteType::Unreachable,
            gateway: None,
            nhid: None,
            oif: 0,
            metric: 0,
            protocol: PROTO_DUALWAN,
        };
        let blackhole = Route { kind: RouteType::Blackhole, table: 102, ..unreachable };
        for r in [big, unreachable, blackhole] {
            nl.apply(&Op::AddRoute(r)).unwrap_or_else(|e| panic!("{r}: {e}"));
        }
        let shown = ns.ip("-4 route show table 1000");
        assert!(shown.contains("default via 192.0.2.1 dev dw0 proto 201 metric 20"), "{shown}");
        assert!(shown.contains("unreachable 203.0.113.0/24 proto 201"), "{shown}");
        let all = routes(&mut nl);
        for r in [big, unreachable, blackhole] {
            assert!(all.contains(&r), "{r} missing from {all:?}");
        }
        // The kernel's own routes come through too, with their types kept.
        assert!(all.iter().any(|r| r.table == 255 && r.kind == RouteType::Other(2)), "local routes");
        for r in [big, unreachable, blackhole] {
            nl.apply(&Op::DelRoute(r)).unwrap_or_else(|e| panic!("{r}: {e}"));
        }
        assert_eq!(ns.ip("-4 route show table 1000").trim(), "");
    });
}

fn our_rules() -> [Rule; 3] {
    let base = Rule {
        family: dualwan::route::Family::V4,
        priority: 5000,
        src: None,
        selectors: Selectors::NONE,
        action: RuleAction::Lookup(TABLE_MAIN),
        suppress_prefixlen: Some(0),
        protocol: PROTO_DUALWAN,
        other_selectors: false,
    };
    [
        base,
        Rule {
            priority: 5001,
            src: Some(Prefix::host(Ipv4Addr::new(192, 0, 2, 2).into())),
            action: RuleAction::Lookup(101),
            suppress_prefixlen: None,
            ..base
        },
        Rule { priority: 5099, action: RuleAction::Unreachable, suppress_prefixlen: None, ..base },
    ]
}

#[test]
fn rules_add_and_precise_delete() {
    in_netns(|ns| {
        // Foreign rules at our priorities, added first so they come before ours in the
        // kernel's list, where a loose delete would hit them first. The kernel's rule_find
        // treats every field a delete leaves out as a wildcard: the fwmark rules differ from
        // ours only in selectors we do not send; 5099's twin differs from ours in nothing we
        // send but the protocol.
        ns.ip("rule add pref 5001 fwmark 7 lookup 200");
        ns.ip("rule add pref 5001 fwmark 7 lookup 101");
        ns.ip("rule add pref 5099 fwmark 7 unreachable");
        let mut nl = Netlink::open().unwrap_or_else(|e| panic!("{e}"));
        for rule in our_rules() {
            nl.apply(&Op::AddRule(rule)).unwrap_or_else(|e| panic!("{rule}: {e}"));
        }
        let shown = ns.ip("rule show");
        for line in [
            "5000:\tfrom all lookup main suppress_prefixlength 0 proto 201",
            "5001:\tfrom 192.0.2.2 lookup 101 proto 201",
            "5099:\tfrom all unreachable proto 201",
            "5001:\tfrom all fwmark 0x7 lookup 200",
            "5001:\tfrom all fwmark 0x7 lookup 101",
            "5099:\tfrom all fwmark 0x7 unreachable",
        ] {
            assert!(shown.lines().any(|l| l == line), "{line:?} not in\n{shown}");
        }

        let dumped = rules(&mut nl);
        for rule in our_rules() {
            assert!(dumped.contains(&rule), "{rule} not in {dumped:?}");
        }
        let foreign: Vec<_> = dumped.iter().filter(|r| r.priority == 5001 && r.protocol != PROTO_DUALWAN).collect();
        assert_eq!(foreign.len(), 2);
        assert!(foreign.iter().all(|r| r.other_selectors), "fwmark is an unmodelled selector");

        let (errno, text) = kernel_errno(nl.apply(&Op::AddRule(our_rules()[1])));
        assert_eq!(errno, Errno::EEXIST);
        assert_eq!(text, "netlink rule add: File exists");

        nl.apply(&Op::DelRule(our_rules()[1])).unwrap_or_else(|e| panic!("{e}"));
        let shown = ns.ip("rule show");
        assert!(!shown.contains("from 192.0.2.2"), "{shown}");
        assert!(shown.contains("5001:\tfrom all fwmark 0x7 lookup 200"), "{shown}");
        assert!(shown.contains("5001:\tfrom all fwmark 0x7 lookup 101"), "{shown}");

        // Deleting it again: ENOENT (routes say ESRCH).
        let (errno, _) = kernel_errno(nl.apply(&Op::DelRule(our_rules()[1])));
        assert_eq!(errno, Errno::ENOENT);
        for rule in [our_rules()[0], our_rules()[2]] {
            nl.apply(&Op::DelRule(rule)).unwrap_or_else(|e| panic!("{rule}: {e}"));
        }
        assert!(rules(&mut nl).iter().all(|r| r.protocol != PROTO_DUALWAN));
        let shown = ns.ip("rule show");
        assert!(shown.contains("5099:\tfrom all fwmark 0x7 unreachable"), "{shown}");
        assert_eq!(ns.try_ip("rule show pref 5000").map(|s| s.trim().to_owned()), Ok(String::new()));
    });
}

#[test]
fn events_for_links_addresses_routes_and_rules() {
    in_netns(|ns| {
        let mut nl = Netlink::open().unwrap_or_else(|e| panic!("{e}"));
        let dw0 = ifindex(&mut nl, "dw0");
        let mut events = Vec::with_capacity(256);
        nl.drain_events(&mut |e| events.push(e)).unwrap();
        events.clear();

        ns.ip("link set dw1 down");
        ns.ip("addr del 192.0.2.2/24 dev dw0");
        ns.ip("addr add 198.51.100.2/24 dev dw0");
        let route = Route {
            table: 101,
            dst: Prefix { addr: Ipv4Addr::new(203, 0, 113, 0).into(), len: 24 },
            kind: RouteType::Unreachable,
            gateway: None,
            nhid: None,
            oif: 0,
            metric: 0,
            protocol: PROTO_DUALWAN,
        };
        nl.apply(&Op::AddRoute(route)).unwrap();
        let rule = our_rules()[2];
        nl.apply(&Op::AddRule(rule)).unwrap();
        ns.ip("rule flush");

        // Draining what is queued allocates nothing (events is pre-sized).
        let before = allocations();
        nl.drain_events(&mut |e| events.push(e)).unwrap();
        assert_eq!(allocations() - before, 0, "drain_events allocated");
        assert!(events.len() < events.capacity());

        let has = |want: &dyn Fn(&KernelEvent) -> bool| events.iter().any(want);
        assert!(
            has(&|e| matches!(e, KernelEvent::Link(Change::New, l) if l.ifindex == dw0 && l.up && !l.lower_up)),
            "no carrier-loss event for dw0 in {events:?}"
        );
        assert!(
            has(&|e| matches!(e, KernelEvent::Addr(Change::Del, a)
                if a.ifindex == dw0 && a.addr == Ipv4Addr::new(192, 0, 2, 2) && a.prefix_len == 24)),
            "no address removal in {events:?}"
        );
        assert!(
            has(&|e| matches!(e, KernelEvent::Addr(Change::New, a) if a.addr == Ipv4Addr::new(198, 51, 100, 2))),
            "no address addition in {events:?}"
        );
        assert!(has(&|e| *e == KernelEvent::Route(Change::New, route)), "no route event in {events:?}");
        assert!(has(&|e| *e == KernelEvent::Rule(Change::New, rule)), "no rule addition in {events:?}");
        assert!(has(&|e| *e == KernelEvent::Rule(Change::Del, rule)), "no rule removal in {events:?}");
        assert_eq!(nl.malformed(), 0);

        // Nothing left: a second drain returns at once with nothing.
        let mut more = 0;
        nl.drain_events(&mut |_| more += 1).unwrap();
        assert_eq!(more, 0);
    });
}

#[test]
fn overflow_is_reported_as_overrun() {
    in_netns(|ns| {
        let mut nl = Netlink::open().unwrap_or_else(|e| panic!("{e}"));
        // Thousands of route notifications without reading: more than the 512 KiB queue.
        let batch: String = (0..4000u32)
            .map(|i| format!("route add unreachable 203.0.113.{}/32 table {} proto 201\n", i % 256, 2000 + i / 256))
            .collect();
        let path = std::env::temp_dir().join(format!("{}.batch", ns.name));
        std::fs::write(&path, batch).unwrap();
        ns.ip(&format!("-batch {}", path.display()));
        let _ = std::fs::remove_file(&path);

        let (mut overruns, mut routes) = (0, 0);
        nl.drain_events(&mut |e| match e {
            KernelEvent::Overrun => overruns += 1,
            KernelEvent::Route(..) => routes += 1,
            _ => {}
        })
        .unwrap();
        assert!(overruns >= 1, "no Overrun after 4000 unread notifications ({routes} routes read)");
        assert!(routes < 4000);
        // The socket keeps working after the overrun.
        nl.apply(&Op::AddRule(our_rules()[0])).unwrap();
        let mut rules = 0;
        nl.drain_events(&mut |e| rules += matches!(e, KernelEvent::Rule(Change::New, _)) as u32).unwrap();
        assert_eq!(rules, 1);
    });
}

/// The selectors of `config rule` sections (`to`, `iif`, `ipproto`, `sport`, `dport`) go to
/// the kernel as sent, come back from a dump equal, and a delete names them all: a foreign
/// rule with the same selectors and action stays.
#[test]
fn rules_with_selectors_round_trip_and_delete_precisely() {
    use dualwan::route::{DevName, Family, PortRange};
    in_netns(|ns| {
        ns.ip("rule add pref 5010 from 192.0.2.130 to 198.51.100.0/24 iif br-guest ipproto udp dport 5060 lookup 102");
        let mut nl = Netlink::open().unwrap_or_else(|e| panic!("{e}"));
        let v4 = Rule {
            family: Family::V4,
            priority: 5010,
            src: Some(Prefix::host(Ipv4Addr::new(192, 0, 2, 130).into())),
            selectors: Selectors {
                dst: Some(Prefix { addr: Ipv4Addr::new(198, 51, 100, 0).into(), len: 24 }),
                iif: DevName::new("br-guest"),
                ip_proto: Some(17),
                sport: None,
                dport: Some(PortRange { start: 5060, end: 5060 }),
            },
            action: RuleAction::Lookup(102),
            suppress_prefixlen: None,
            protocol: PROTO_DUALWAN,
            other_selectors: false,
        };
        let v6 = Rule {
            family: Family::V6,
            priority: 5011,
            src: None,
            selectors: Selectors {
                dst: Some(Prefix { addr: "2001:db8:f::".parse().unwrap(), len: 48 }),
                iif: None,
                ip_proto: Some(6),
                sport: Some(PortRange { start: 1000, end: 2000 }),
                dport: Some(PortRange { start: 443, end: 443 }),
            },
            action: RuleAction::Blackhole,
            ..v4
        };
        for rule in [v4, v6] {
            nl.apply(&Op::AddRule(rule)).unwrap_or_else(|e| panic!("{rule}: {e}"));
        }
        let shown = ns.ip("rule show pref 5010");
        assert!(
            shown.contains("5010:\tfrom 192.0.2.130 to 198.51.100.0/24 iif br-guest [detached] ipproto udp dport 5060 lookup 102 proto 201"),
            "{shown}"
        );
        let shown6 = ns.ip("-6 rule show pref 5011");
        assert!(
            shown6.contains(
                "5011:\tfrom all to 2001:db8:f::/48 ipproto tcp sport 1000-2000 dport 443 blackhole proto 201"
            ),
            "{shown6}"
        );
        let dumped = rules(&mut nl);
        assert!(dumped.contains(&v4) && dumped.contains(&v6), "{dumped:#?}");
        assert_eq!(
            v4.to_string(),
            "5010:\tfrom 192.0.2.130 to 198.51.100.0/24 iif br-guest ipproto udp dport 5060 lookup 102 proto dualwan"
        );
        // The foreign twin (no proto 201) is not ours and is left alone by the delete.
        let twin = dumped.iter().find(|r| r.priority == 5010 && r.protocol != PROTO_DUALWAN).expect("the foreign twin");
        assert_eq!(twin.selectors, v4.selectors, "modelled, so not an unknown selector");
        nl.apply(&Op::DelRule(v4)).unwrap_or_else(|e| panic!("{e}"));
        nl.apply(&Op::DelRule(v6)).unwrap_or_else(|e| panic!("{e}"));
        let left = rules(&mut nl);
        assert!(left.iter().all(|r| r.protocol != PROTO_DUALWAN), "{left:#?}");
        assert!(ns.ip("rule show pref 5010").contains("iif br-guest"), "the foreign rule stays");
    });
}

/// Balance mode's kernel objects: a nexthop per WAN (IPv4, and IPv6 via a link-local
/// router), a resilient group with weights, a route through it; a replace of the group is
/// one change the route follows; what the dump reports parses back to what was sent; a
/// device losing carrier loses its nexthops (and the group its member) without a
/// notification.
#[test]
fn nexthops_groups_and_routes_through_them() {
    use dualwan::route::{Group, Member, Nexthop, NexthopKind, Resilient};
    in_netns(|ns| {
        ns.ip("link add dw2 type veth peer name dw3");
        ns.ip("addr add 198.51.100.2/24 dev dw2");
        ns.ip("link set dw2 up");
        ns.ip("link set dw3 up");
        ns.ip("-6 addr add 2001:db8:1::2/64 dev dw0 nodad");
        let mut nl = Netlink::open().unwrap_or_else(|e| panic!("{e}"));
        let (dw0, dw2) = (ifindex(&mut nl, "dw0"), ifindex(&mut nl, "dw2"));
        let via = |id, gw: &str, oif| Nexthop {
            id,
            kind: NexthopKind::Via { gateway: gw.parse().unwrap(), oif },
            protocol: PROTO_DUALWAN,
        };
        let (a, b, a6) = (via(5010, "192.0.2.1", dw0), via(5011, "198.51.100.1", dw2), via(5020, "fe80::1", dw0));
        let resilient = Some(Resilient { buckets: 128, idle_timer: 120, unbalanced_timer: 0 });
        let group = |members: &[(u32, u16)]| Nexthop {
            id: 5030,
            kind: NexthopKind::Group(
                Group::new(&members.iter().map(|&(id, weight)| Member { id, weight }).collect::<Vec<_>>(), resilient)
                    .unwrap(),
            ),
            protocol: PROTO_DUALWAN,
        };
        let both = group(&[(5010, 3), (5011, 1)]);
        let route = Route { gateway: None, oif: 0, nhid: Some(5030), ..default_via([0; 4], 0, 100) };
        let mut events = Vec::with_capacity(256);
        nl.drain_events(&mut |e| events.push(e)).unwrap();
        events.clear();
        for op in [Op::AddNexthop(a), Op::AddNexthop(b), Op::AddNexthop(a6), Op::AddNexthop(both), Op::AddRoute(route)]
        {
            nl.apply(&op).unwrap_or_else(|e| panic!("{op}: {e}"));
        }
        let shown = ns.ip("nexthop show");
        assert!(
            shown.contains("id 5030 group 5010,3/5011 type resilient buckets 128 idle_timer 120 unbalanced_timer 0"),
            "{shown}"
        );
        assert!(shown.contains("id 5020 via fe80::1 dev dw0 scope link proto 201"), "{shown}");
        let nexthops: Vec<Nexthop> = collect(&mut nl, DumpKind::Nexthops)
            .into_iter()
            .map(|e| match e {
                KernelEvent::Nexthop(Change::New, n) => n,
                other => panic!("nexthop dump gave {other:?}"),
            })
            .collect();
        assert_eq!(nexthops, [a, b, a6, both]);
        let table100: Vec<Route> = routes(&mut nl).into_iter().filter(|r| r.table == 100).collect();
        assert_eq!(table100, [route], "the route keeps only its nhid");
        nl.drain_events(&mut |e| events.push(e)).unwrap();
        for n in [a, b, a6, both] {
            assert!(events.contains(&KernelEvent::Nexthop(Change::New, n)), "no event for {n} in {events:?}");
        }

        // One member leaves: one replace, and the route goes by the other member.
        let only_b = group(&[(5011, 1)]);
        nl.apply(&Op::ReplaceNexthop(only_b)).unwrap_or_else(|e| panic!("{e}"));
        assert!(ns.ip("route show table 100").contains("via 198.51.100.1 dev dw2"));
        nl.apply(&Op::ReplaceNexthop(both)).unwrap_or_else(|e| panic!("{e}"));

        // dw0 loses carrier: the kernel drops its nexthops and shrinks the group, quietly.
        nl.drain_events(&mut |_| {}).unwrap();
        events.clear();
        ns.ip("link set dw1 down");
        nl.drain_events(&mut |e| events.push(e)).unwrap();
        assert!(!events.iter().any(|e| matches!(e, KernelEvent::Nexthop(..))), "{events:?}");
        let left: Vec<KernelEvent> = collect(&mut nl, DumpKind::Nexthops);
        assert_eq!(left, [KernelEvent::Nexthop(Change::New, b), KernelEvent::Nexthop(Change::New, only_b)]);
        ns.ip("link set dw1 up");

        // Deleting the group takes its route along; then the members go.
        nl.apply(&Op::DelNexthop(only_b)).unwrap_or_else(|e| panic!("{e}"));
        assert!(routes(&mut nl).iter().all(|r| r.table != 100));
        nl.apply(&Op::DelNexthop(b)).unwrap_or_else(|e| panic!("{e}"));
        assert!(collect(&mut nl, DumpKind::Nexthops).is_empty());
        let (errno, text) = kernel_errno(nl.apply(&Op::DelNexthop(b)));
        assert_eq!(errno, Errno::ENOENT);
        assert_eq!(text, "netlink nexthop del: No such file or directory");
        assert_eq!(nl.malformed(), 0);
    });
}
