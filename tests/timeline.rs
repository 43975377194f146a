//! Timelines of the core with simulated time: every health and routing decision of
//! `dualwan run`, without a kernel or a clock.

mod sim;

use dualwan::config::LastResort;
use dualwan::health::{Status, RTO_MIN, STANDBY_EVERY};
use dualwan::netifd::NetifdStatus;
use dualwan::time::Duration;
use sim::{config, foreign_routes, foreign_rules, netifd_up, network_config, Sim};

/// The longest a silent failure of wan may take to move traffic, on the simulated lines
/// (RTT 8 ms: the adaptive timeout is at its floor): the next steady probe within one
/// interval, its timeout, the confirmation's rounds half a timeout apart, the last one's
/// timeout.
fn detection_bound(s: &Sim) -> Duration {
    let w = &s.d.config().wans[0];
    w.interval + confirmation()
}

/// From a steady probe's send to the verdict of the confirmation it starts, at the
/// adaptive timeout's floor: RTO + (down - 1) × RTO / 2 + RTO.
fn confirmation() -> Duration {
    let down = u32::from(sim::config().wans[0].down);
    RTO_MIN + Duration::from_micros(RTO_MIN.as_micros() / 2) * (down - 1) + RTO_MIN
}

fn settle() -> Sim {
    let mut s = Sim::new(config());
    s.run_for(Duration::from_secs(2));
    assert_eq!(s.d.health(0, Family::V4).status(), Status::Online, "{:#?}", s.logs);
    assert_eq!(s.d.health(1, Family::V4).status(), Status::Online);
    assert_eq!(s.egress(), Some("wan1"));
    s
}

#[test]
fn start_installs_the_documented_layout_and_leaves_foreign_state_alone() {
    let s = settle();
    let (rules, routes) = s.ours();
    assert_eq!(
        rules,
        [
            "5000:\tfrom all lookup main suppress_prefixlength 0 proto dualwan",
            "5001:\tfrom 192.0.2.2 lookup 101 proto dualwan",
            "5002:\tfrom 192.0.2.10 lookup 102 proto dualwan",
            "5090:\tfrom all lookup 100 proto dualwan",
        ]
    );
    assert_eq!(
        routes,
        [
            "default via 192.0.2.1 dev #2 table 101 proto dualwan",
            "default via 192.0.2.9 dev #3 table 102 proto dualwan",
            "default via 192.0.2.1 dev #2 table 100 proto dualwan",
        ]
    );
    for r in foreign_routes() {
        assert!(s.routes.contains(&r), "{r} gone");
    }
    for r in foreign_rules() {
        assert!(s.rules.contains(&r), "{r} gone");
    }
}

/// What observers are told is the core's decision: a transition that leaves or reaches a
/// usable state runs the hotplug scripts, every transition and every move of traffic is a
/// ubus event, and the move's reason is the failure of the WAN traffic left, or its recovery.
#[test]
fn failover_and_failback_run_hotplug_and_send_events_with_their_reasons() {
    use dualwan::daemon::Event;
    use dualwan::health::Reason;
    let mut s = settle();
    let hotplug = |action: &'static str, device: &str| (action, "wan".to_string(), device.to_string(), "ipv4");
    let started: Vec<_> = s.hotplugs.iter().map(|h| (h.0, h.1.as_str())).collect();
    assert_eq!(started, [("connected", "wan"), ("connected", "wanb")], "both came up at start");
    let (hotplugs, events) = (s.hotplugs.len(), s.events.len());

    s.lines[0].upstream_works = false;
    s.run_for(Duration::from_secs(3));
    assert_eq!(s.hotplugs[hotplugs..], [(hotplug("disconnected", "wan1"))]);
    let moves: Vec<_> = s.events[events..].iter().filter(|e| matches!(e, Event::Active { .. })).collect();
    let [Event::Active { family, from, to, active, previous, reason }] = moves[..] else { panic!("{moves:?}") };
    assert_eq!(
        (*family, *from, *to, active.as_str(), previous.as_str()),
        (Family::V4, Some(0), Some(1), "wanb", "wan")
    );
    assert_eq!(*reason, s.d.health(0, Family::V4).reason(), "the failure of the WAN traffic left");
    assert!(matches!(reason, Reason::TargetsUnreachable { answered: 0, .. }), "{reason:?}");
    let wan_events: Vec<_> = s.events[events..]
        .iter()
        .filter_map(|e| match e {
            Event::Interface { interface, device, transition, .. } if interface == "wan" => {
                Some((device.as_str(), transition.to))
            }
            _ => None,
        })
        .collect();
    assert_eq!(wan_events.last(), Some(&("wan1", Status::Offline)), "{wan_events:?}");
    assert!(s.events[events..].iter().all(|e| !matches!(e, Event::Interface { interface, .. } if interface == "wanb")));

    let (hotplugs, events) = (s.hotplugs.len(), s.events.len());
    s.lines[0].upstream_works = true;
    s.run_for(Duration::from_secs(15));
    assert_eq!(s.hotplugs[hotplugs..], [(hotplug("connected", "wan1"))]);
    let back = s.events[events..].iter().find_map(|e| match e {
        Event::Active { from, to, active, previous, reason, .. } => {
            Some((*from, *to, active.as_str(), previous.as_str(), *reason))
        }
        _ => None,
    });
    assert_eq!(back, Some((Some(1), Some(0), "wan", "wanb", Reason::Recovered)));
}

#[test]
fn silent_upstream_failure_moves_traffic_within_the_detection_bound() {
    let mut s = settle();
    s.lines[0].upstream_works = false; // the gateway still answers
    let took = s.run_until_cond(Duration::from_secs(5), |s| s.egress() == Some("wan2")).expect("failover");
    let bound = detection_bound(&s);
    assert!(took <= bound, "took {took:?}, bound {bound:?}");
    assert_eq!(s.d.health(0, Family::V4).status(), Status::Offline);
    assert_eq!(
        s.d.health(0, Family::V4).reason().to_string(),
        "gateway answers, targets unreachable (0/3 answered, need 1)"
    );
    assert!(s.logs.iter().any(|l| l.contains("traffic moved to wanb (wan offline: gateway answers")), "{:#?}", s.logs);
    // Back only after `up` good rounds plus the recovery wait.
    s.lines[0].upstream_works = true;
    let back = s.run_until_cond(Duration::from_secs(30), |s| s.egress() == Some("wan1")).expect("failback");
    let w = &s.d.config().wans[0];
    assert!(back >= w.recovery_wait, "returned after {back:?}");
    assert!(back <= w.recovery_wait + Duration::from_secs(2), "returned after {back:?}");
}

/// The end of a recovery wait is a timer of its own: the core asks to be woken then, and
/// traffic returns at that very instant, not at whatever wakes the core next (the replies
/// that arrive at the same instant change nothing by themselves).
#[test]
fn traffic_returns_the_instant_the_recovery_wait_ends() {
    let mut s = settle();
    s.lines[0].upstream_works = false;
    s.run_until_cond(Duration::from_secs(5), |s| s.egress() == Some("wan2")).expect("failover");
    s.lines[0].upstream_works = true;
    s.run_until_cond(Duration::from_secs(5), |s| s.d.health(0, Family::V4).status() == Status::Online)
        .expect("recovered");
    let ends = s.d.health(0, Family::V4).eligible_at();
    assert!(ends > s.now, "in its recovery wait");
    s.run_until(ends);
    assert_eq!(s.egress(), Some("wan1"), "{:#?}", s.logs);
    let stamp = format!("{:>7} traffic moved to wan (back from wanb)", ends.as_micros() / 1000);
    assert!(s.logs.contains(&stamp), "no '{stamp}': {:#?}", s.logs);
}

#[test]
fn carrier_loss_moves_traffic_at_once() {
    let mut s = settle();
    s.set_carrier(0, false);
    assert_eq!(s.egress(), Some("wan2"));
    assert_eq!(s.d.health(0, Family::V4).status(), Status::NoLink);
    assert_eq!(s.d.health(0, Family::V4).reason().to_string(), "carrier lost");
}

/// A device that does not exist (a typo of `eth1`, a modem not plugged in) is named once
/// at start and once after each reload, not every round; status says `device missing`;
/// the other WAN carries the traffic meanwhile.
#[test]
fn a_missing_device_is_a_warning_once_per_start_and_reload_and_its_reason() {
    let missing = "wanb: device 'eht1' does not exist (yet); waiting for it";
    let told = |s: &Sim| s.logs.iter().filter(|l| l.contains(missing)).count();
    let typo = || {
        let mut c = config();
        c.wans[1] = dualwan::config::Wan {
            source: dualwan::config::Source::Device("eht1".try_into().unwrap()),
            ..c.wans[1].clone()
        };
        c
    };
    let mut s = Sim::new(typo());
    s.run_for(Duration::from_secs(1));
    assert_eq!(told(&s), 1, "{:#?}", s.logs);
    assert_eq!(s.egress(), Some("wan1"));
    s.run_for(Duration::from_secs(30));
    assert_eq!(told(&s), 1, "once, not every round or resync: {:#?}", s.logs);
    assert_eq!(s.d.health(1, Family::V4).status(), Status::NoLink);
    assert_eq!(s.d.health(1, Family::V4).reason().to_string(), "device missing");
    let v: serde_json::Value = serde_json::from_str(&s.status_json(Some("wanb")).unwrap()).unwrap();
    let wanb = &v["interfaces"]["wanb"];
    assert_eq!((wanb["status"].as_str(), wanb["reason"].as_str()), (Some("no_link"), Some("device missing")), "{v}");

    s.core(|d, now| d.reload(now, typo()));
    s.run_for(Duration::from_secs(1));
    assert_eq!(told(&s), 2, "named again after the reload: {:#?}", s.logs);
    // The typo fixed: no word about it any more.
    s.core(|d, now| d.reload(now, config()));
    s.run_for(Duration::from_secs(3));
    assert_eq!(told(&s), 2);
    assert_eq!(s.d.health(1, Family::V4).status(), Status::Online, "{:#?}", s.logs);
    // A device that goes while running is a transition with that reason, not this warning.
    s.replace_device(1, "wan2x", 33);
    s.run_for(Duration::from_secs(1));
    assert_eq!(s.d.health(1, Family::V4).reason().to_string(), "device missing");
    assert!(s.logs.iter().any(|l| l.contains("wanb: online -> no_link (device missing)")), "{:#?}", s.logs);
    assert_eq!(s.logs.iter().filter(|l| l.contains("does not exist")).count(), 2, "{:#?}", s.logs);
}

#[test]
fn a_dead_gateway_is_named() {
    let mut s = settle();
    s.lines[0].gateway_answers = false;
    s.run_until_cond(Duration::from_secs(5), |s| s.egress() == Some("wan2")).expect("failover");
    assert_eq!(s.d.health(0, Family::V4).reason().to_string(), "gateway 192.0.2.1 unreachable");
}

#[test]
fn with_both_down_last_resort_applies_and_the_first_to_recover_is_used() {
    for last_resort in [LastResort::Main, LastResort::Unreachable] {
        let mut c = config();
        c.globals.last_resort = last_resort;
        let mut s = Sim::new(c);
        s.run_for(Duration::from_secs(2));
        s.lines[0].upstream_works = false;
        s.lines[1].upstream_works = false;
        s.run_for(Duration::from_secs(3));
        assert_eq!(s.d.active(Family::V4), None);
        let active_table: Vec<_> = s.routes.iter().filter(|r| r.table == 100 && r.dst.addr.is_ipv4()).collect();
        match last_resort {
            LastResort::Main => assert!(active_table.is_empty(), "{active_table:?}"),
            LastResort::Unreachable => {
                assert_eq!(active_table[0].to_string(), "unreachable default table 100 proto dualwan")
            }
        }
        s.lines[1].upstream_works = true;
        s.run_until_cond(Duration::from_secs(5), |s| s.d.active(Family::V4) == Some(1)).expect("backup used");
        assert_eq!(s.egress(), Some("wan2"));
    }
}

#[test]
fn rules_deleted_behind_our_back_are_restored() {
    let mut s = settle();
    let before = s.ours();
    s.delete_rule_externally(5090);
    s.delete_rule_externally(5000);
    assert_eq!(s.ours(), before);
}

#[test]
fn a_failed_write_is_retried_after_a_re_read() {
    let mut s = settle();
    s.fail_next_op = Some("Operation not permitted");
    s.set_carrier(0, false);
    assert_eq!(s.egress(), Some("wan1"), "the replace failed");
    s.run_for(Duration::from_secs(2));
    assert_eq!(s.egress(), Some("wan2"), "{:#?}", s.logs);
}

#[test]
fn shutdown_removes_exactly_what_is_ours() {
    let mut s = settle();
    s.d.shutdown(s.now);
    s.drain();
    assert!(s.d.is_stopped());
    assert_eq!(s.routes, foreign_routes());
    assert_eq!(s.rules, foreign_rules());
}

#[test]
fn many_failovers_leave_foreign_state_untouched() {
    let mut s = settle();
    for _ in 0..50 {
        s.set_carrier(0, false);
        s.run_for(Duration::from_millis(500));
        s.set_carrier(0, true);
        s.run_for(Duration::from_secs(12));
    }
    assert_eq!(s.egress(), Some("wan1"));
    assert!(s.d.health(0, Family::V4).transitions() >= 100);
    for r in foreign_routes() {
        assert!(s.routes.contains(&r));
    }
    assert_eq!(s.rules.iter().filter(|r| r.protocol != dualwan::route::PROTO_DUALWAN).count(), 1);
}

#[test]
fn a_restart_after_a_crash_replaces_stale_entries_without_duplicates() {
    use dualwan::route::{Prefix, Route, RouteType, Rule, RuleAction, Selectors, PROTO_DUALWAN};
    use std::net::Ipv4Addr;
    // Entries a crashed run would leave: our protocol, our range, stale values.
    let mut s = Sim::new(config());
    let stale_rule = Rule {
        family: dualwan::route::Family::V4,
        priority: 5007,
        src: Some(Prefix::host(Ipv4Addr::new(192, 0, 2, 99).into())),
        selectors: Selectors::NONE,
        action: RuleAction::Lookup(107),
        suppress_prefixlen: None,
        protocol: PROTO_DUALWAN,
        other_selectors: false,
    };
    let stale_route = Route {
        table: 107,
        dst: Prefix::DEFAULT,
        kind: RouteType::Unicast,
        gateway: Some(Ipv4Addr::new(192, 0, 2, 97).into()),
        nhid: None,
        oif: 2,
        metric: 0,
        protocol: PROTO_DUALWAN,
    };
    s.run_for(Duration::from_secs(2));
    let good = s.ours();
    s.rules.push(stale_rule);
    s.routes.push(stale_route);
    // The process dies without cleaning up; a new one starts on the same kernel.
    s.d = dualwan::daemon::Daemon::new(s.now, config(), 0x4000);
    s.drain();
    s.run_for(Duration::from_secs(2));
    assert!(!s.rules.contains(&stale_rule));
    assert!(!s.routes.contains(&stale_route));
    assert_eq!(s.ours(), good, "no duplicates, nothing missing");
}

#[test]
fn reload_keeps_unchanged_wans_and_moves_our_ranges_cleanly() {
    let mut s = settle();
    let transitions = s.d.health(0, Family::V4).transitions();
    let since = s.d.health(0, Family::V4).since();
    // Same WANs, another rule range and table base.
    let mut c = config();
    c.globals.rule_priority = 7000;
    c.globals.table_base = 200;
    s.core(|d, now| d.reload(now, c));
    s.drain();
    s.run_for(Duration::from_secs(1));
    assert_eq!(s.d.health(0, Family::V4).transitions(), transitions, "health kept");
    assert_eq!(s.d.health(0, Family::V4).since(), since);
    let (rules, routes) = s.ours();
    assert!(rules.iter().all(|r| r.starts_with("70")), "{rules:?}");
    assert!(routes.iter().all(|r| r.contains("table 20")), "{routes:?}");
    assert_eq!(rules.len(), 4);
    assert_eq!(s.egress_in(200), Some("wan1"));
    // Timers, hysteresis and metrics changed (a LuCI save): health, routes and observers
    // see nothing, and the new timing applies.
    let mut c = s.d.config().clone();
    c.wans[1].timeout = Duration::from_millis(700);
    c.wans[0].recovery_wait = Duration::from_secs(3);
    c.wans[1].down = 5;
    let kept = (
        s.d.health(0, Family::V4).transitions(),
        s.d.health(1, Family::V4).transitions(),
        s.d.health(1, Family::V4).since(),
    );
    let (events, ops) = (s.events.len(), s.ops.len());
    s.core(|d, now| d.reload(now, c));
    s.drain();
    s.run_for(Duration::from_secs(2));
    assert_eq!(
        (
            s.d.health(0, Family::V4).transitions(),
            s.d.health(1, Family::V4).transitions(),
            s.d.health(1, Family::V4).since()
        ),
        kept
    );
    assert_eq!(s.events.len(), events, "no status change reported: {:?}", &s.events[events..]);
    assert_eq!(s.ops.len(), ops, "no kernel write: {:?}", &s.ops[ops..]);
    assert_eq!(s.egress_in(200), Some("wan1"));
    // New targets: wanb is measured afresh; wan keeps its state.
    let mut c = s.d.config().clone();
    c.wans[1].track_ip.reverse();
    let (kept, wanb_since) = (s.d.health(0, Family::V4).transitions(), s.d.health(1, Family::V4).since());
    s.core(|d, now| d.reload(now, c));
    s.drain();
    s.run_for(Duration::from_secs(2));
    assert_eq!(s.d.health(0, Family::V4).transitions(), kept);
    assert_eq!(s.d.health(1, Family::V4).status(), Status::Online);
    assert!(s.d.health(1, Family::V4).since() > wanb_since, "wanb started afresh");
}

#[test]
fn a_probe_socket_error_is_retried_after_a_pause_not_every_round() {
    let mut s = settle();
    let opens_before = s.opens;
    s.core(|d, now| {
        d.handle_probe_error(now, 0, dualwan::route::Family::V4, &"Operation not permitted (needs CAP_NET_RAW)")
    });
    s.drain();
    s.run_for(Duration::from_secs(3));
    assert_eq!(s.opens, opens_before, "no new socket during the pause");
    s.run_for(Duration::from_secs(3));
    assert_eq!(s.opens, opens_before + 1, "one new socket after the pause");
    assert!(s.logs.iter().any(|l| l.contains("wan: IPv4 probe socket: Operation not permitted")));
}

// --- option network: the device, address and gateway come from netifd -----------------

fn settle_network() -> Sim {
    let mut s = Sim::new(network_config());
    s.run_for(Duration::from_secs(2));
    assert_eq!(s.d.health(0, Family::V4).status(), Status::Online, "{:#?}", s.logs);
    assert_eq!(s.d.health(1, Family::V4).status(), Status::Online);
    assert_eq!(s.egress(), Some("wan1"));
    s
}

#[test]
fn a_network_wan_follows_netifds_new_l3_device() {
    let mut s = settle_network();
    assert_eq!(s.d.device(0), "wan1");
    assert!(s.logs.iter().any(|l| l.contains("wan: netifd: up, device wan1, address 192.0.2.2, gateway 192.0.2.1")));
    // The modem reconnects as a new device (wwan0 -> wwan0_4): the old one vanishes first.
    s.replace_device(0, "wan1_4", 4);
    assert_eq!(s.egress(), Some("wan2"), "{:#?}", s.logs);
    assert_eq!(s.d.health(0, Family::V4).reason().to_string(), "device missing");
    assert_eq!(s.d.device(0), "wan1", "not ours until netifd names it");
    // netifd's ifup names the new l3_device: links, addresses and routes are read again.
    let up = netifd_up(&s.lines[0]);
    s.netifd_says("wan", up);
    assert_eq!(s.d.device(0), "wan1_4");
    let back = s.run_until_cond(Duration::from_secs(15), |s| s.egress() == Some("wan1_4"));
    assert!(back.is_some(), "{:#?}", s.logs);
    let (_, routes) = s.ours();
    assert!(routes.contains(&"default via 192.0.2.1 dev #4 table 101 proto dualwan".to_string()), "{routes:?}");
    assert!(routes.iter().all(|r| !r.contains("dev #2")), "{routes:?}");
}

#[test]
fn netifd_reporting_down_moves_traffic_at_once_and_up_brings_it_back() {
    let mut s = settle_network();
    s.netifd_says("wan", NetifdStatus::DOWN);
    assert_eq!(s.egress(), Some("wan2"), "at once, without waiting for probes");
    assert_eq!(s.d.device(0), "wan1", "the last device netifd named, for status and hotplug");
    assert_eq!(s.d.health(0, Family::V4).status(), Status::NoLink);
    assert_eq!(s.d.health(0, Family::V4).reason().to_string(), "interface down (netifd)");
    assert!(s.logs.iter().any(|l| l.contains("traffic moved to wanb") && l.contains("interface down (netifd)")));
    // Another interface's event asks nothing about ours.
    let asked = s.asks.len();
    s.netifd_says("lan", NetifdStatus::DOWN);
    assert_eq!(s.asks.len(), asked);
    let up = netifd_up(&s.lines[0]);
    s.netifd_says("wan", up);
    let back = s.run_until_cond(Duration::from_secs(15), |s| s.egress() == Some("wan1")).expect("back");
    let w = &s.d.config().wans[0];
    assert!(back >= w.recovery_wait, "returned after {back:?}");
    assert_eq!(s.d.health(0, Family::V4).reason().to_string(), "recovered");
}

#[test]
fn netifd_is_asked_at_start_after_ubus_registers_on_its_events_and_every_resync() {
    let mut s = Sim::new(network_config());
    assert_eq!(s.asks, ["wan"], "at start");
    s.run_for(Duration::from_secs(2));
    s.core(|d, now| d.handle_ubus_ready(now));
    s.drain();
    assert_eq!(s.asks.len(), 2, "after a (re)registration");
    s.core(|d, now| d.handle_netifd_event(now, "wan"));
    s.drain();
    assert_eq!(s.asks.len(), 3, "on an event");
    s.run_for(Duration::from_secs(60));
    assert_eq!(s.asks, ["wan"; 4], "with the resync");
    assert_eq!(s.egress(), Some("wan1"), "an unchanged answer changes nothing");
    // Interfaces with a device never ask.
    let mut s = Sim::new(sim::config());
    s.run_for(Duration::from_secs(61));
    s.core(|d, now| d.handle_ubus_ready(now));
    s.drain();
    assert!(s.asks.is_empty());
}

#[test]
fn a_network_wan_waits_for_netifds_first_answer() {
    let mut c = network_config();
    c.wans[0].source = dualwan::config::Source::Network("wwan".try_into().unwrap());
    let mut s = Sim::new(c); // the fake netifd knows no `wwan`: no answer
    s.run_for(Duration::from_secs(3));
    assert_eq!(s.d.health(0, Family::V4).status(), Status::NoLink, "{:#?}", s.logs);
    assert_eq!(s.d.health(0, Family::V4).reason().to_string(), "starting");
    assert_eq!(s.egress(), Some("wan2"));
    let up = netifd_up(&s.lines[0]);
    s.netifd.push(("wwan", up));
    s.core(|d, now| d.handle_ubus_ready(now));
    s.drain();
    s.run_until_cond(Duration::from_secs(3), |s| s.d.health(0, Family::V4).status() == Status::Online).expect("online");
}

// --- option flush_conntrack: which connections are flushed when traffic moves ----------

use dualwan::config::FlushConntrack;
use std::net::{IpAddr, Ipv4Addr};

const WAN1_ADDR: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
const WAN2_ADDR: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));

/// Both lines up with the given policies, connections NAT'd to each WAN in the fake table.
fn settle_flushing(wan: FlushConntrack, wanb: FlushConntrack) -> Sim {
    let mut c = config();
    c.wans[0].flush_conntrack = wan;
    c.wans[1].flush_conntrack = wanb;
    let mut s = Sim::new(c);
    s.run_for(Duration::from_secs(2));
    assert_eq!(s.egress(), Some("wan1"));
    s.conntrack = vec![(WAN1_ADDR, 3), (WAN2_ADDR, 2)];
    s
}

/// wan's upstream fails until traffic is on wanb, then recovers until traffic is back.
fn fail_and_recover(s: &mut Sim) {
    s.lines[0].upstream_works = false;
    s.run_until_cond(Duration::from_secs(5), |s| s.egress() == Some("wan2")).expect("failover");
    s.run_for(Duration::from_secs(1));
    s.lines[0].upstream_works = true;
    s.run_until_cond(Duration::from_secs(30), |s| s.egress() == Some("wan1")).expect("failback");
    s.run_for(Duration::from_secs(1));
}

#[test]
fn on_down_flushes_the_failed_wans_connections_once_after_the_route_moved() {
    let mut s = settle_flushing(FlushConntrack::OnDown, FlushConntrack::OnDown);
    assert!(s.flushes.is_empty(), "nothing at start");
    s.lines[0].upstream_works = false;
    s.run_until_cond(Duration::from_secs(5), |s| s.egress() == Some("wan2")).expect("failover");
    // The route already pointed at wan2 when the flush ran: new packets of the flushed
    // connections get entries NAT'd to wan2, not to the dead address again.
    assert_eq!(s.flushes, [(0, WAN1_ADDR, Some("wan2"))]);
    assert!(s.logs.iter().any(|l| l.ends_with("wan: flushed 3 connections NAT'd to 192.0.2.2")), "{:#?}", s.logs);
    assert_eq!((s.d.flushed(0), s.d.flushed(1)), (3, 0));
    // Staying down asks nothing more; the failback leaves wanb (still up) alone.
    s.run_for(Duration::from_secs(5));
    s.lines[0].upstream_works = true;
    s.run_until_cond(Duration::from_secs(30), |s| s.egress() == Some("wan1")).expect("failback");
    s.run_for(Duration::from_secs(1));
    assert_eq!(s.flushes.len(), 1, "{:?}", s.flushes);
    assert_eq!(s.conntrack, [(WAN1_ADDR, 0), (WAN2_ADDR, 2)]);
}

#[test]
fn none_never_flushes() {
    let mut s = settle_flushing(FlushConntrack::None, FlushConntrack::None);
    fail_and_recover(&mut s);
    s.set_carrier(0, false);
    s.run_for(Duration::from_secs(1));
    assert_eq!(s.egress(), Some("wan2"));
    assert!(s.flushes.is_empty(), "{:?}", s.flushes);
    assert_eq!(s.d.flushed(0), 0);
}

#[test]
fn on_switch_also_flushes_the_backup_on_failback() {
    let mut s = settle_flushing(FlushConntrack::OnDown, FlushConntrack::OnSwitch);
    fail_and_recover(&mut s);
    assert_eq!(s.flushes, [(0, WAN1_ADDR, Some("wan2")), (1, WAN2_ADDR, Some("wan1"))]);
    assert!(s.logs.iter().any(|l| l.ends_with("wanb: flushed 2 connections NAT'd to 192.0.2.10")), "{:#?}", s.logs);
    assert_eq!((s.d.flushed(0), s.d.flushed(1)), (3, 2));
    // on_down on the backup: its failback flushes nothing.
    let mut s = settle_flushing(FlushConntrack::OnSwitch, FlushConntrack::OnDown);
    fail_and_recover(&mut s);
    assert_eq!(s.flushes, [(0, WAN1_ADDR, Some("wan2"))]);
}

#[test]
fn carrier_loss_flushes_at_once_and_a_failing_backup_that_carries_nothing_is_left_alone() {
    let mut s = settle_flushing(FlushConntrack::OnDown, FlushConntrack::OnDown);
    // The backup fails while traffic is on wan: no traffic leaves it.
    s.lines[1].upstream_works = false;
    s.run_until_cond(Duration::from_secs(5), |s| s.d.health(1, Family::V4).status() == Status::Offline)
        .expect("wanb down");
    assert!(s.flushes.is_empty());
    s.set_carrier(0, false);
    // No WAN up: the main table's defaults are in charge (here the one via wan2).
    assert_eq!(s.flushes, [(0, WAN1_ADDR, Some("wan2"))]);
    assert_eq!(s.d.active(Family::V4), None);
}

#[test]
fn a_failed_flush_is_a_warning_and_counts_nothing() {
    let mut s = settle_flushing(FlushConntrack::OnDown, FlushConntrack::OnDown);
    s.fail_next_flush = Some("conntrack dump: Operation not permitted (needs CAP_NET_ADMIN)");
    s.set_carrier(0, false);
    assert_eq!(s.flushes.len(), 1);
    assert_eq!(s.d.flushed(0), 0);
    assert!(
        s.logs.iter().any(|l| l.ends_with(
            "wan: flushing connections NAT'd to 192.0.2.2: conntrack dump: Operation not permitted (needs CAP_NET_ADMIN)"
        )),
        "{:#?}",
        s.logs
    );
}

/// Bounds audit: a burst that overflows the action queue (here: notifications of overruns
/// arriving faster than the adapters run) drops actions, says so in one warning once the
/// queue is empty, and re-reads the kernel at the next timeout, even where the dropped
/// actions were the dumps themselves (a dropped dump must not stay pending for good).
#[test]
fn an_overflowing_action_queue_is_logged_and_resynced() {
    use dualwan::daemon::{Action, Daemon, ACTIONS_MAX};
    use dualwan::kernel::{DumpKind, KernelEvent};
    use dualwan::time::Instant;
    let all = [DumpKind::Links, DumpKind::Addrs, DumpKind::Routes, DumpKind::Rules];
    let now = Instant::ZERO;
    let mut core = Daemon::new(now, config(), 0x1230);
    for _ in 0..ACTIONS_MAX {
        for kind in all {
            core.handle_kernel(now, &KernelEvent::DumpDone(kind));
        }
        core.handle_kernel(now, &KernelEvent::Overrun);
    }
    let mut actions = Vec::new();
    while let Some(a) = core.poll_action() {
        actions.push(a);
    }
    assert_eq!(actions.len(), ACTIONS_MAX + 1, "the queue holds its capacity, then one warning");
    let Some(Action::Log(_, line)) = actions.last() else { panic!("no warning last: {actions:?}") };
    let tail = format!("actions dropped (queue of {ACTIONS_MAX} full); re-reading kernel state");
    assert!(line.ends_with(&tail), "{line}");
    let dropped: u64 = line.split(' ').next().and_then(|n| n.parse().ok()).expect("a count first");
    assert!(dropped > 0);
    assert_eq!(core.poll_action(), None, "the warning comes once");

    core.handle_timeout(now + Duration::from_millis(1));
    let mut dumps = Vec::new();
    while let Some(a) = core.poll_action() {
        if let Action::Dump(kind) = a {
            dumps.push(kind);
        }
    }
    assert_eq!(dumps, all, "no full re-read after the drop");
}

// --- Dual stack: each family has its own health, active WAN, rules and tables. ---

use dualwan::route::Family;
use sim::dual_config;

fn settle_dual() -> Sim {
    let mut s = Sim::new(dual_config());
    s.run_for(Duration::from_secs(2));
    for slot in 0..2 {
        for family in Family::ALL {
            assert_eq!(s.d.health(slot, family).status(), Status::Online, "{slot} {family}: {:#?}", s.logs);
        }
    }
    assert_eq!((s.egress(), s.egress6()), (Some("wan1"), Some("wan1")));
    s
}

#[test]
fn dual_stack_installs_the_same_layout_for_ipv6() {
    let s = settle_dual();
    let (rules, routes) = s.ours();
    let v6: Vec<&String> = rules.iter().chain(&routes).filter(|r| r.starts_with("-6")).collect();
    assert_eq!(
        v6,
        [
            "-6 5000:\tfrom all lookup main suppress_prefixlength 0 proto dualwan",
            "-6 5001:\tfrom 2001:db8:1::2 lookup 101 proto dualwan",
            "-6 5002:\tfrom 2001:db8:2::2 lookup 102 proto dualwan",
            "-6 5090:\tfrom all lookup 100 proto dualwan",
            "-6 default via fe80::1 dev #2 table 101 proto dualwan metric 1024",
            "-6 default via fe80::1 dev #3 table 102 proto dualwan metric 1024",
            "-6 default via fe80::1 dev #2 table 100 proto dualwan metric 1024",
        ]
    );
    assert_eq!(rules.len() + routes.len(), 14, "IPv4's seven are there too");
    for r in foreign_routes() {
        assert!(s.routes.contains(&r), "{r} gone");
    }
    // The link-local address is never the source of a rule or a probe.
    assert!(!rules.iter().any(|r| r.contains("fe80")));
}

#[test]
fn an_ipv6_only_outage_moves_only_ipv6() {
    let mut s = settle_dual();
    s.lines[0].upstream6_works = false; // IPv4 of the same line keeps working
    let took = s.run_until_cond(Duration::from_secs(5), |s| s.egress6() == Some("wan2")).expect("IPv6 failover");
    let bound = detection_bound(&s);
    assert!(took <= bound, "took {took:?}, bound {bound:?}");
    assert_eq!(s.egress(), Some("wan1"), "IPv4 stays");
    assert_eq!(s.d.health(0, Family::V4).status(), Status::Online);
    assert_eq!(s.d.health(0, Family::V6).status(), Status::Offline);
    assert_eq!(
        s.d.health(0, Family::V6).reason().to_string(),
        "gateway answers, targets unreachable (0/1 answered, need 1)"
    );
    assert!(s.logs.iter().any(|l| l.contains("wan: IPv6 disconnecting -> offline")), "{:#?}", s.logs);
    assert!(s.logs.iter().any(|l| l.contains("IPv6 traffic moved to wanb")), "{:#?}", s.logs);
    assert!(!s.logs.iter().any(|l| l.contains("traffic moved") && !l.contains("IPv6 traffic moved")), "IPv4 stayed");
    // Events carry the family.
    use dualwan::daemon::Event;
    assert!(s.events.iter().any(|e| matches!(e, Event::Active { family: Family::V6, to: Some(1), .. })));
    assert!(!s.events.iter().any(|e| matches!(e, Event::Active { family: Family::V4, to: Some(1), .. })));
    s.lines[0].upstream6_works = true;
    let back = s.run_until_cond(Duration::from_secs(30), |s| s.egress6() == Some("wan1")).expect("IPv6 failback");
    assert!(back >= s.d.config().wans[0].recovery_wait, "returned after {back:?}");
}

#[test]
fn a_full_failure_moves_both_families_and_carrier_loss_does_it_at_once() {
    let mut s = settle_dual();
    s.lines[0].upstream_works = false;
    s.lines[0].upstream6_works = false;
    s.run_until_cond(Duration::from_secs(5), |s| s.egress() == Some("wan2") && s.egress6() == Some("wan2"))
        .expect("both moved");
    s.lines[0].upstream_works = true;
    s.lines[0].upstream6_works = true;
    s.run_until_cond(Duration::from_secs(30), |s| s.egress() == Some("wan1") && s.egress6() == Some("wan1"))
        .expect("both back");
    s.set_carrier(0, false);
    assert_eq!((s.egress(), s.egress6()), (Some("wan2"), Some("wan2")));
    for family in Family::ALL {
        assert_eq!(s.d.health(0, family).reason().to_string(), "carrier lost");
    }
}

#[test]
fn ipv6_needs_a_global_address_and_a_router() {
    let mut s = settle_dual();
    // The ISP withdraws IPv6 on wan1: the global address goes, the link-local one stays.
    let addr6 = s.lines[0].addr6.take().unwrap();
    let gone = dualwan::kernel::Addr { ifindex: 2, addr: addr6.into(), prefix_len: 64, scope: 0, flags: 0x80 };
    s.core(|d, now| d.handle_kernel(now, &dualwan::kernel::KernelEvent::Addr(dualwan::kernel::Change::Del, gone)));
    s.drain();
    assert_eq!(s.d.health(0, Family::V6).status(), Status::NoLink);
    assert_eq!(s.d.health(0, Family::V6).reason().to_string(), "address removed");
    assert_eq!(s.d.health(0, Family::V4).status(), Status::Online);
    assert_eq!((s.egress(), s.egress6()), (Some("wan1"), Some("wan2")));
    let (rules, _) = s.ours();
    assert!(!rules.iter().any(|r| r.contains("2001:db8:1::2")), "{rules:?}");
    // A tentative address (duplicate detection running) is not usable yet either.
    let tentative = dualwan::kernel::Addr { flags: dualwan::kernel::IFA_F_TENTATIVE, ..gone };
    s.core(|d, now| d.handle_kernel(now, &dualwan::kernel::KernelEvent::Addr(dualwan::kernel::Change::New, tentative)));
    s.drain();
    assert_eq!(s.d.health(0, Family::V6).status(), Status::NoLink);
    // DAD done: the same address again, now usable; IPv6 recovers like any link.
    s.lines[0].addr6 = Some(addr6);
    s.core(|d, now| d.handle_kernel(now, &dualwan::kernel::KernelEvent::Addr(dualwan::kernel::Change::New, gone)));
    s.drain();
    s.run_until_cond(Duration::from_secs(30), |s| s.egress6() == Some("wan1")).expect("IPv6 back on wan1");
}

#[test]
fn ipv4_only_configs_leave_ipv6_alone_and_shutdown_removes_both_families() {
    let s = settle();
    let (rules, routes) = s.ours();
    assert!(!rules.iter().chain(&routes).any(|r| r.starts_with("-6")), "{rules:?} {routes:?}");
    assert!(s.ops.iter().all(|op| op.family() == Family::V4));
    let mut s = settle_dual();
    s.core(|d, now| d.shutdown(now));
    s.drain();
    assert!(s.d.is_stopped());
    assert_eq!(s.ours(), (vec![], vec![]));
    for r in foreign_routes() {
        assert!(s.routes.contains(&r), "{r} gone");
    }
}

#[test]
fn status_shows_both_families() {
    let mut s = settle_dual();
    s.lines[1].upstream6_works = false;
    s.run_for(Duration::from_secs(3));
    let text = s.status_json(None).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!((v["active"].as_str(), v["active6"].as_str()), (Some("wan"), Some("wan")));
    let wanb = &v["interfaces"]["wanb"];
    assert_eq!(wanb["status"], "online");
    assert_eq!(wanb["status6"], "offline");
    assert_eq!(wanb["address6"], "2001:db8:2::2");
    assert_eq!(wanb["gateway6"], "fe80::1");
    assert_eq!(wanb["track_ip"][3]["ip"], "2001:db8:ff::1");
    assert_eq!(wanb["track_ip"][3]["status"], "down");
    assert_eq!(wanb["track_ip"][0]["status"], "up");
    assert_eq!(wanb["gateway_probe6"]["ip"], "fe80::1");
    let h = v["history"].as_array().unwrap();
    assert!(h.iter().any(|e| e["interface"] == "wanb" && e["family"] == "ipv6" && e["to"] == "offline"), "{h:?}");
}

/// `ip route replace default via NEW` in main (a DHCP renewal with a new router, the
/// soak's renumbering) reports only the new route: the old gateway must be forgotten at
/// once, in both families, or the WAN's tables keep the dead one until the next re-read.
#[test]
fn a_replaced_main_default_route_moves_the_gateway_at_once() {
    use dualwan::kernel::{Change, KernelEvent};
    let mut s = settle_dual();
    for (old, new) in [("192.0.2.9", "192.0.2.12"), ("fe80::1", "fe80::2")] {
        let (old, new): (std::net::IpAddr, std::net::IpAddr) = (old.parse().unwrap(), new.parse().unwrap());
        let pos = s
            .routes
            .iter()
            .position(|r| r.table == 254 && r.dst.is_default() && r.oif == 3 && r.gateway == Some(old))
            .expect("main default of wan2");
        let replaced = dualwan::route::Route { gateway: Some(new), ..s.routes[pos] };
        s.routes[pos] = replaced;
        s.core(|d, now| d.handle_kernel(now, &KernelEvent::Route(Change::Replace, replaced)));
        s.drain();
        let (_, routes) = s.ours();
        let want = format!("default via {new} dev #3 table 102 proto dualwan");
        assert!(routes.iter().any(|r| r.contains(&want)), "{want} not in {routes:?}");
        assert!(!routes.iter().any(|r| r.contains(&format!("via {old} dev #3"))), "{routes:?}");
    }
    assert_eq!(s.d.link(1, Family::V6).gateway, "fe80::2".parse().ok());
}

// --- Detection: steady probes in turn, confirmation, the cost of watching, quality ------

/// Detection over 60 phases spread evenly over the probe grid's interval: what README's
/// "Why these defaults" computes. The failure lands anywhere in the interval; the next
/// steady probe finds it, times out after RTO_MIN (8 ms RTT), and the `down` rounds, half
/// an RTO_MIN apart, end RTO_MIN after the last one:
/// U(0, interval) + RTO_MIN + (down - 1) × RTO_MIN / 2 + RTO_MIN.
#[test]
fn detection_over_the_phases_of_the_interval_matches_the_arithmetic() {
    let mut took = Vec::new();
    let interval = sim::config().wans[0].interval;
    for k in 0..60 {
        let mut s = settle();
        s.run_for(Duration::from_micros(interval.as_micros() * k / 60));
        s.lines[0].upstream_works = false;
        let t = s.run_until_cond(Duration::from_secs(3), |s| s.egress() == Some("wan2")).expect("failover");
        took.push(t.as_micros() / 1000);
    }
    took.sort_unstable();
    let w = &sim::config().wans[0];
    let (i, confirm) = (w.interval.as_micros() / 1000, confirmation().as_micros() / 1000);
    let (least, most) = (confirm, i + confirm);
    let median = took[took.len() / 2];
    println!("detection over {} phases: min {} ms, median {median} ms, max {} ms", took.len(), took[0], took[59]);
    assert!(took[0] >= least - 1 && took[59] <= most + 1, "{took:?} outside {least}..{most} ms");
    // The upper median of 60 evenly spaced phases sits up to one phase step off the middle.
    let (mid, step) = ((least + most) / 2, i.div_ceil(60));
    assert!(median.abs_diff(mid) <= step, "median {median} ms, arithmetic {mid} ms: {took:?}");
}

/// 30 % random loss of the targets' answers on both lines, iid, for two simulated hours:
/// traffic never moves. A lost steady probe starts a confirmation (about 0.3 × 0.7 of
/// them: the target's previous probe must have been answered); one fails only when all
/// `down` rounds of three probes are lost, 0.3^12 ≈ 5·10⁻⁷.
#[test]
fn thirty_percent_random_loss_for_two_hours_never_switches() {
    let mut s = settle();
    for line in &mut s.lines {
        line.loss = 0.3;
    }
    let transitions = [0, 1].map(|w| s.d.health(w, Family::V4).transitions());
    let (probes, confirmations) = (s.probes, [0, 1].map(|w| s.d.health(w, Family::V4).confirmations()));
    for _ in 0..12 {
        s.run_for(Duration::from_secs(600));
        assert_eq!(s.egress(), Some("wan1"));
        assert_eq!([0, 1].map(|w| s.d.health(w, Family::V4).transitions()), transitions, "{:#?}", s.logs);
    }
    let confirmed = [0, 1].map(|w| s.d.health(w, Family::V4).confirmations() - confirmations[w]);
    // One steady probe per interval and line.
    let steady = 7200.0 / (s.d.config().wans[0].interval.as_micros() as f64 / 1e6);
    for (w, &n) in confirmed.iter().enumerate() {
        let rate = f64::from(n) / steady;
        println!("wan {w}: {n} confirmations in 2 h, {rate:.3} per steady probe");
        assert!((0.15..=0.27).contains(&rate), "wan {w}: {rate}");
    }
    println!("{} probes in 2 h", s.probes - probes);
    assert!(!s.logs.iter().any(|l| l.contains("traffic moved")), "{:#?}", s.logs);
}

/// The cost of watching a healthy router (2 WANs × 3 targets): one probe per interval on
/// the active WAN and one per STANDBY_EVERY intervals on the standby, on the same
/// wake-ups, the gateway with every twentieth; each answer is a wake-up of its own (the
/// lines' RTTs differ). (2 + 1/2) × 1/0.4 s = 6.25 wake-ups a second and (1 + 1/2) × 2.5
/// × 1.05 = 3.9 probes: what the CPU figure of `make bench` rests on.
#[test]
fn a_healthy_router_wakes_to_send_and_for_each_answer() {
    let mut s = settle();
    s.run_for(Duration::from_secs(5));
    let (wakeups, probes) = (s.wakeups, s.probes);
    s.run_for(Duration::from_secs(60));
    let per_second = |n: u64| n as f64 / 60.0;
    let (w, p) = (per_second(s.wakeups - wakeups), per_second(s.probes - probes));
    println!("healthy: {w:.1} wake-ups and {p:.1} probes a second");
    let per_interval = 1.0 / (s.d.config().wans[0].interval.as_micros() as f64 / 1e6);
    let standby = 1.0 / f64::from(STANDBY_EVERY);
    let (want_w, want_p) = ((2.0 + standby) * per_interval, (1.0 + standby) * per_interval * 1.05);
    assert!((p - want_p).abs() <= 0.1, "{p} probes/s, {want_p} expected");
    assert!((w - want_w).abs() <= 0.2, "{w} wake-ups/s, {want_w} expected");
}

/// `check_quality`: a line that answers but loses half its answers goes offline with the
/// loss as its reason, and comes back once clean for `up` rounds plus `recovery_wait`.
#[test]
fn check_quality_takes_a_lossy_line_offline_and_back() {
    let mut c = config();
    for w in c.wans.iter_mut() {
        w.check_quality = true;
        w.failure_loss = 20;
    }
    let mut s = Sim::new(c);
    s.run_for(Duration::from_secs(2));
    assert_eq!(s.egress(), Some("wan1"));
    s.lines[0].loss = 0.5;
    let took = s.run_until_cond(Duration::from_secs(30), |s| s.egress() == Some("wan2")).expect("moved");
    let reason = s.d.health(0, Family::V4).reason().to_string();
    println!("50 % loss moved traffic after {took:?}: {reason}");
    assert!(reason.starts_with("loss ") && reason.ends_with(" % ≥ failure_loss 20 %"), "{reason}");
    assert!(
        s.logs.iter().any(|l| l.contains(&format!("traffic moved to wanb (wan offline: {reason})"))),
        "{:#?}",
        s.logs
    );
    s.run_for(Duration::from_secs(20));
    assert_eq!(s.egress(), Some("wan2"), "still lossy: stays away");
    s.lines[0].loss = 0.0;
    let back = s.run_until_cond(Duration::from_secs(30), |s| s.egress() == Some("wan1")).expect("back");
    let w = &s.d.config().wans[0];
    // The window of 16 probes must drain to recovery_loss first (five rounds), then `up`.
    let most = w.recovery_wait + w.interval * (5 + u32::from(w.up)) + Duration::from_millis(100);
    assert!(back >= w.recovery_wait && back <= most, "{back:?}, at most {most:?}");
    // The status shows what it is judged on.
    let v: serde_json::Value = serde_json::from_str(&s.status_json(None).unwrap()).unwrap();
    let q = &v["interfaces"]["wan"]["quality"];
    assert_eq!(q["check"], true, "{q}");
    assert_eq!(q["failure_loss"], 20);
    assert_eq!(q["packetloss"], 0);
    assert!(q["latency"].as_f64().is_some_and(|ms| (7.0..=9.0).contains(&ms)), "{q}");
}

/// The false-switch arithmetic, where it can be counted: at 60 % random loss a
/// confirmation fails when all `down` = 4 rounds lose all 3 answers, 0.6^12 ≈ 0.22 %, so
/// two simulated hours hold a few dozen false switches, as many as the confirmations
/// started times that. (At 30 % the same product is 0.3^12 ≈ 5·10⁻⁷: none in years.)
#[test]
fn false_switches_under_heavy_loss_match_the_arithmetic() {
    let mut s = settle();
    s.lines[0].loss = 0.6;
    let (confirmations, downs) = (s.d.health(0, Family::V4).confirmations(), s.logs.len());
    s.run_for(Duration::from_secs(7200));
    let confirmed = f64::from(s.d.health(0, Family::V4).confirmations() - confirmations);
    let offline = s.logs[downs..].iter().filter(|l| l.contains("wan: disconnecting -> offline")).count() as f64;
    let expected = confirmed * 0.6f64.powi(12);
    println!("60 % loss, 2 h: {confirmed} confirmations, {offline} false switches, {expected:.1} expected");
    assert!(expected > 10.0, "too few to count: {expected}");
    // Poisson around the expectation; 0.6^9 (three rounds) would be 4.6 times as many.
    assert!((0.5 * expected..=2.0 * expected).contains(&offline), "{offline} false switches, {expected:.1} expected");
}

// --- A vanished main-table default route (issue 14, part 4) ---------------------------

/// The main table's default route via a working wan goes while its device, carrier and
/// address stay: the gateway already learned is kept (one log line, also across re-reads),
/// traffic stays, and health still decides: an upstream outage later fails over and back.
#[test]
fn a_vanished_main_default_route_keeps_the_wan_and_health_decides() {
    let mut s = settle_dual();
    s.delete_main_default(0, Family::V4);
    s.delete_main_default(0, Family::V6);
    s.run_for(Duration::from_secs(130)); // two re-reads
    assert_eq!((s.egress(), s.egress6()), (Some("wan1"), Some("wan1")), "{:#?}", s.logs);
    let kept = |line: &str| s.logs.iter().filter(|l| l.ends_with(line)).count();
    assert_eq!(kept("wan: main-table default route via 192.0.2.1 vanished; keeping it (address unchanged)"), 1);
    assert_eq!(kept("wan: IPv6 main-table default route via fe80::1 vanished; keeping it (address unchanged)"), 1);
    assert_eq!(s.d.health(0, Family::V4).transitions(), 1, "never left online");
    let (_, routes) = s.ours();
    assert!(routes.contains(&"default via 192.0.2.1 dev #2 table 101 proto dualwan".to_string()), "{routes:?}");
    // Health decides: an outage moves traffic, the recovery brings it back.
    s.lines[0].upstream_works = false;
    s.run_until_cond(Duration::from_secs(3), |s| s.egress() == Some("wan2")).expect("failover");
    s.lines[0].upstream_works = true;
    s.run_until_cond(Duration::from_secs(15), |s| s.egress() == Some("wan1")).expect("failback");
    // A new address replaces the kept gateway (the new lease brings its own route).
    let addr =
        dualwan::kernel::Addr { ifindex: 2, addr: "192.0.2.2".parse().unwrap(), prefix_len: 29, scope: 0, flags: 0x80 };
    s.core(|d, now| d.handle_kernel(now, &dualwan::kernel::KernelEvent::Addr(dualwan::kernel::Change::Del, addr)));
    s.drain();
    assert_eq!(s.d.health(0, Family::V4).reason().to_string(), "address removed", "at once");
    let new = dualwan::kernel::Addr { addr: "192.0.2.3".parse().unwrap(), ..addr };
    s.core(|d, now| d.handle_kernel(now, &dualwan::kernel::KernelEvent::Addr(dualwan::kernel::Change::New, new)));
    s.drain();
    assert_eq!(s.d.health(0, Family::V4).reason().to_string(), "no default route via the device");
    assert_eq!(s.egress(), Some("wan2"));
}

// --- TCP probes (issue 14, part 3) ------------------------------------------------------

use dualwan::config::TrackMethod;
use dualwan::daemon::TcpEnd;
use sim::tcp_config;

/// Probes with TCP to `wan`'s targets, the ISP of `wan` dropping ping: settled, both online.
fn settle_tcp_behind_an_echo_filter() -> Sim {
    let mut s = Sim::new(tcp_config());
    s.lines[0].echo_filtered = true;
    s.run_for(Duration::from_secs(2));
    assert_eq!(s.d.health(0, Family::V4).status(), Status::Online, "{:#?}", s.logs);
    assert_eq!(s.egress(), Some("wan1"));
    s
}

/// The ISP drops ICMP echo to the Internet (some LTE carriers; a firewall dropping ping):
/// pinged, the line looks dead although it works; probed with TCP it stays up. The gateway
/// is still pinged, and answers.
#[test]
fn tcp_probes_keep_a_line_whose_isp_drops_ping_up() {
    let mut s = Sim::new(config());
    s.lines[0].echo_filtered = true;
    s.run_for(Duration::from_secs(3));
    assert_eq!(s.d.health(0, Family::V4).status(), Status::Offline, "pinged, it looks dead");
    assert_eq!(s.egress(), Some("wan2"));
    // Switched to TCP (a LuCI save): the WAN is probed afresh and comes back.
    let mut c = s.d.config().clone();
    c.wans[0].track_method = TrackMethod::Tcp;
    s.core(|d, now| d.reload(now, c));
    s.drain();
    let back = s.run_until_cond(Duration::from_secs(15), |s| s.egress() == Some("wan1")).expect("back on wan1");
    assert!(back <= s.d.config().wans[0].recovery_wait + Duration::from_secs(2), "{back:?}");

    let mut s = settle_tcp_behind_an_echo_filter();
    let (echoes, tcp) = (s.echoes_to_targets, s.tcp_probes);
    s.run_for(Duration::from_secs(60));
    assert_eq!(s.d.health(0, Family::V4).status(), Status::Online);
    assert_eq!(s.d.health(0, Family::V4).transitions(), 1, "never left online");
    assert_eq!(s.d.health(0, Family::V4).confirmations(), 0, "no probe went unanswered");
    // One TCP probe per interval; the ICMP echoes to targets are wanb's alone (its three
    // targets in turn, one per STANDBY_EVERY intervals: it is the standby); wan's gateway
    // still answers its pings.
    let per_minute = Duration::from_secs(60).as_micros() / s.d.config().wans[0].interval.as_micros();
    assert!((per_minute - 1..=per_minute + 1).contains(&(s.tcp_probes - tcp)), "{}", s.tcp_probes - tcp);
    let standby = per_minute / u64::from(STANDBY_EVERY);
    assert!((standby - 1..=standby + 1).contains(&(s.echoes_to_targets - echoes)), "{}", s.echoes_to_targets - echoes);
    assert!(s.tcp_results.iter().all(|(wan, _, end)| *wan == 0 && *end == TcpEnd::Answered));
    assert!(s.d.health(0, Family::V4).gateway().probes() > 0);
    assert!(s.d.health(0, Family::V4).gateway().is_up());
    for i in 0..3 {
        assert_eq!(s.d.health(0, Family::V4).target(i).avg_rtt(), Some(s.lines[0].rtt), "the RTT of the connects");
    }
    assert_eq!(s.tcp_cancels, 0, "every probe answered: nothing to close");
}

/// Probed by TCP, an upstream outage still fails over within the detection bound, names
/// its cause as ICMP would, and traffic comes back after recovery.
#[test]
fn tcp_probes_fail_over_within_the_bound_and_come_back() {
    let mut s = settle_tcp_behind_an_echo_filter();
    s.lines[0].upstream_works = false; // the gateway still answers its pings
    let took = s.run_until_cond(Duration::from_secs(5), |s| s.egress() == Some("wan2")).expect("failover");
    let bound = detection_bound(&s);
    assert!(took <= bound, "took {took:?}, bound {bound:?}");
    assert_eq!(
        s.d.health(0, Family::V4).reason().to_string(),
        "gateway answers, targets unreachable (0/3 answered, need 1)"
    );
    assert_eq!(s.d.health(0, Family::V4).confirmations(), 1);
    s.lines[0].upstream_works = true;
    let back = s.run_until_cond(Duration::from_secs(30), |s| s.egress() == Some("wan1")).expect("failback");
    let w = &s.d.config().wans[0];
    assert!(back >= w.recovery_wait && back <= w.recovery_wait + Duration::from_secs(2), "{back:?}");
    // Nothing was left waiting for its backstop: every unanswered probe was closed at its
    // round's verdict.
    assert!(s.tcp_cancels >= 3, "{}", s.tcp_cancels);
    assert!(!s.tcp_results.iter().any(|(_, _, end)| *end == TcpEnd::TimedOut), "{:?}", s.tcp_results);
}

/// A firewall on the way rejects the SYNs (an ICMP error): each probe is known lost as
/// soon as the error comes back, so the confirmation starts at once and ends as soon as
/// its rounds are lost, without waiting for any timeout.
#[test]
fn a_rejected_syn_is_lost_at_once_and_starts_the_confirmation() {
    let mut c = tcp_config();
    c.globals.log_level = dualwan::config::LogLevel::Debug;
    let mut s = Sim::new(c);
    s.run_for(Duration::from_secs(2));
    assert_eq!(s.d.health(0, Family::V4).status(), Status::Online);
    s.lines[0].syn_rejected = true;
    let took = s.run_until_cond(Duration::from_secs(5), |s| s.egress() == Some("wan2")).expect("failover");
    // The next probe within one interval, lost half an RTT later; then the `down` rounds
    // half a timeout apart, each lost half an RTT after it went out.
    let w = &s.d.config().wans[0];
    let half_rtt = Duration::from_micros(s.lines[0].rtt.as_micros() / 2);
    let rounds = Duration::from_micros(RTO_MIN.as_micros() / 2) * u32::from(w.down - 1);
    assert!(took <= w.interval + half_rtt + rounds + half_rtt, "took {took:?}");
    assert!(took + RTO_MIN < detection_bound(&s), "faster than waiting for timeouts: {took:?}");
    assert!(s.d.health(0, Family::V4).confirmations() >= 1);
    assert!(
        s.logs.iter().any(|l| l.contains("wan: TCP probe to 203.0.113.")
            && l.ends_with(" port 443 lost: EHOSTUNREACH: No route to host")),
        "{:#?}",
        s.logs
    );
    assert!(s.tcp_results.iter().any(|(_, _, end)| *end == TcpEnd::Lost));
}

/// A probe holds a socket until its answer or its round's verdict: rounds judged at their
/// deadline, or early to make room (here `timeout` is 10 intervals while only 8 rounds may
/// wait), close their unanswered probes, so a set never holds more than every target of
/// 8 rounds and nothing waits for the adapter's backstop deadline.
#[test]
fn judged_rounds_close_their_tcp_probes() {
    let mut c = tcp_config();
    c.wans[0].interval = Duration::from_millis(100);
    c.wans[0].timeout = Duration::from_secs(1);
    let mut s = Sim::new(c);
    s.run_for(Duration::from_secs(2));
    assert_eq!(s.d.health(0, Family::V4).status(), Status::Online);
    s.lines[0].upstream_works = false;
    s.run_for(Duration::from_secs(10));
    assert_eq!(s.d.health(0, Family::V4).status(), Status::Offline);
    // Down: a round to the 3 targets every 100 ms, each waiting 1 s: 10 would be open.
    let most = 3 * dualwan::health::ROUNDS_IN_FLIGHT;
    assert_eq!(s.tcp_most, most, "every target of 8 rounds, no more");
    let in_flight = s.tcp_in_flight.iter().filter(|p| p.wan == 0).count();
    assert!(in_flight <= most, "{in_flight}");
    assert!(s.tcp_cancels > 200, "{}", s.tcp_cancels);
    assert!(!s.tcp_results.iter().any(|(_, _, end)| *end == TcpEnd::TimedOut));
    // The backstop: as long as the longest an answer may count (a steady probe kept until
    // its confirmation's verdict).
    let w = &s.d.config().wans[0];
    let p = &s.tcp_in_flight[0];
    assert!(p.deadline <= s.now + dualwan::health::answer_window(w));
    assert_eq!(dualwan::health::answer_window(w), w.timeout * 2 + Duration::from_millis(500) * u32::from(w.down - 1));
    // Back up: answers again, nothing more to close.
    s.lines[0].upstream_works = true;
    s.run_for(Duration::from_secs(15));
    assert_eq!(s.egress(), Some("wan1"));
    let cancels = s.tcp_cancels;
    s.run_for(Duration::from_secs(10));
    assert_eq!(s.tcp_cancels, cancels);
    assert!(s.tcp_in_flight.len() <= 1, "{:?}", s.tcp_in_flight);
}

/// Only the targets of a WAN with `track_method tcp` are probed by TCP: its gateway and the
/// other WAN's targets are pinged, and status says so per target.
#[test]
fn status_shows_how_each_target_is_probed() {
    let mut s = settle_tcp_behind_an_echo_filter();
    s.run_for(Duration::from_secs(10));
    let v: serde_json::Value = serde_json::from_str(&s.status_json(None).unwrap()).unwrap();
    let wan = &v["interfaces"]["wan"];
    for t in wan["track_ip"].as_array().unwrap() {
        let keys: Vec<&str> = t.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys[..4], ["ip", "method", "port", "status"], "{t}");
        assert_eq!(
            (t["method"].as_str(), t["port"].as_u64(), t["status"].as_str()),
            (Some("tcp"), Some(443), Some("up"))
        );
    }
    assert_eq!(wan["gateway_probe"]["method"], "icmp");
    assert!(wan["gateway_probe"].get("port").is_none());
    for t in v["interfaces"]["wanb"]["track_ip"].as_array().unwrap() {
        assert_eq!(t["method"], "icmp", "{t}");
        assert!(t.get("port").is_none());
    }
}

/// Each family's targets are probed by TCP from that family's set: an IPv6-only outage of a
/// TCP-probed line moves only IPv6, as with pings.
#[test]
fn tcp_probes_judge_each_family_apart() {
    let mut c = dual_config();
    c.wans[0].track_method = TrackMethod::Tcp;
    let mut s = Sim::new(c);
    s.lines[0].echo_filtered = true;
    s.run_for(Duration::from_secs(2));
    assert_eq!((s.egress(), s.egress6()), (Some("wan1"), Some("wan1")), "{:#?}", s.logs);
    let v6: IpAddr = sim::TARGET6.parse().unwrap();
    assert!(s.tcp_results.iter().any(|(wan, dst, end)| (*wan, *dst, *end) == (0, v6, TcpEnd::Answered)));
    s.lines[0].upstream6_works = false;
    s.run_until_cond(Duration::from_secs(3), |s| s.egress6() == Some("wan2")).expect("IPv6 failover");
    assert_eq!(s.egress(), Some("wan1"), "IPv4 stays");
    assert_eq!(s.d.health(0, Family::V4).status(), Status::Online);
    assert_eq!(s.d.health(0, Family::V6).status(), Status::Offline);
}
