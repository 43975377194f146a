//! Timelines of the core with simulated time: every health and routing decision of
//! `dualwan run`, without a kernel or a clock.

mod sim;

use dualwan::config::LastResort;
use dualwan::health::Status;
use dualwan::netifd::NetifdStatus;
use dualwan::time::Duration;
use sim::{config, foreign_routes, foreign_rules, netifd_up, network_config, Sim};

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
    let w = &s.d.config().wans[0];
    let bound = w.interval.as_micros() * u64::from(w.down) + w.timeout.as_micros();
    assert!(took.as_micros() <= bound, "took {took:?}, bound {bound} us");
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
    use dualwan::route::{Prefix, Route, RouteType, Rule, RuleAction, PROTO_DUALWAN};
    use std::net::Ipv4Addr;
    // Entries a crashed run would leave: our protocol, our range, stale values.
    let mut s = Sim::new(config());
    let stale_rule = Rule {
        family: dualwan::route::Family::V4,
        priority: 5007,
        src: Some(Prefix::host(Ipv4Addr::new(192, 0, 2, 99).into())),
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
    let w = &s.d.config().wans[0];
    let bound = w.interval.as_micros() * u64::from(w.down) + w.timeout.as_micros();
    assert!(took.as_micros() <= bound, "took {took:?}, bound {bound} us");
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
