//! Timelines of balance mode and `config rule` sections, with simulated time and the fake
//! kernel of `sim` (which keeps nexthop objects, walks rules with their selectors and, like
//! Linux, drops the nexthops of a line that loses carrier without a word).

mod sim;

use dualwan::config::{load_str, Config};
use dualwan::health::Status;
use dualwan::route::{Family, Op};
use dualwan::time::Duration;
use sim::{foreign_routes, foreign_rules, Packet, Sim};

/// Two lines as in `sim::config`, in balance mode, both metric 10, weights 3 and 1.
const BALANCE: &str = "config globals 'globals'\n\toption mode 'balance'\n\
config interface 'wan'\n\toption device 'wan1'\n\toption metric '10'\n\toption weight '3'\n\
\tlist track_ip '203.0.113.1'\n\tlist track_ip '203.0.113.2'\n\tlist track_ip '203.0.113.3'\n\
config interface 'wanb'\n\toption device 'wan2'\n\toption metric '10'\n\toption weight '1'\n\
\tlist track_ip '203.0.113.1'\n\tlist track_ip '203.0.113.2'\n\tlist track_ip '203.0.113.3'\n";

fn load(text: &str) -> Config {
    let (config, report) = load_str(text);
    config.unwrap_or_else(|| panic!("{:?}", report.errors))
}

fn settle(text: &str) -> Sim {
    let mut s = Sim::new(load(text));
    s.run_for(Duration::from_secs(2));
    for wan in 0..s.d.config().wans.len() {
        assert_eq!(s.d.health(wan, Family::V4).status(), Status::Online, "{:#?}", s.logs);
    }
    s
}

/// Where 60 LAN destinations leave, as counts per line: (wan1, wan2, elsewhere).
fn spread(s: &Sim) -> (usize, usize, usize) {
    let mut n = (0, 0, 0);
    for i in 1..=60 {
        match s.route_get(&Packet::from_lan("192.0.2.130", &format!("198.51.100.{i}"))) {
            Some("wan1") => n.0 += 1,
            Some("wan2") => n.1 += 1,
            _ => n.2 += 1,
        }
    }
    n
}

fn group_ops(s: &Sim, from: usize) -> Vec<String> {
    s.ops[from..].iter().filter(|op| matches!(op, Op::ReplaceNexthop(_))).map(|op| op.to_string()).collect()
}

#[test]
fn balance_installs_a_resilient_group_by_weight_and_leaves_foreign_state_alone() {
    let s = settle(BALANCE);
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
            "default nhid 5050 table 100 proto dualwan",
        ]
    );
    let nexthops: Vec<String> = s.nexthops.iter().map(|n| n.to_string()).collect();
    assert_eq!(
        nexthops,
        [
            "id 5010 via 192.0.2.1 dev #2 proto dualwan",
            "id 5030 via 192.0.2.1 dev #2 proto dualwan",
            "id 5011 via 192.0.2.9 dev #3 proto dualwan",
            "id 5031 via 192.0.2.9 dev #3 proto dualwan",
            "id 5050 group 5010,3/5011/5030,3/5031 type resilient buckets 128 idle_timer 120 proto dualwan",
        ]
    );
    let (a, b, none) = spread(&s);
    assert_eq!(none, 0);
    assert!((35..=55).contains(&a) && a + b == 60, "3:1 by weight, got {a}:{b}");
    assert_eq!(s.d.carriers(Family::V4).global.len(), 2);
    assert!(s.logs.iter().any(|l| l.contains("traffic shared by wan (weight 3), wanb (weight 1)")), "{:#?}", s.logs);
    for r in foreign_routes() {
        assert!(s.routes.contains(&r), "{r} gone");
    }
    for r in foreign_rules() {
        assert!(s.rules.contains(&r), "{r} gone");
    }
}

#[test]
fn a_dying_wan_leaves_the_group_in_one_change_within_the_detection_bound_and_rejoins() {
    let mut s = settle(BALANCE);
    let before = s.ops.len();
    s.lines[0].upstream_works = false;
    let took = s.run_until_cond(Duration::from_secs(5), |s| spread(s) == (0, 60, 0)).expect("all on wan2");
    let w = &s.d.config().wans[0];
    let bound = w.interval.as_micros() * u64::from(w.down) + w.timeout.as_micros();
    assert!(took.as_micros() <= bound, "took {took:?}, bound {bound} us");
    assert_eq!(
        group_ops(&s, before),
        ["nexthop replace id 5050 group 5011/5031 type resilient buckets 128 idle_timer 120 proto dualwan"],
        "one atomic change"
    );
    assert!(s.logs.iter().any(|l| l.contains("traffic shared by wanb (weight 1); wan offline")), "{:#?}", s.logs);
    // Back after `up` good rounds and the recovery wait, with its weight.
    let before = s.ops.len();
    s.lines[0].upstream_works = true;
    let back = s.run_until_cond(Duration::from_secs(30), |s| spread(s).0 > 30).expect("rejoined");
    assert!(back >= s.d.config().wans[0].recovery_wait, "rejoined after {back:?}");
    assert_eq!(group_ops(&s, before).len(), 1, "{:?}", group_ops(&s, before));
    assert_eq!(spread(&s).2, 0);
}

#[test]
fn carrier_loss_is_a_failover_at_once_even_though_the_kernel_drops_the_nexthop_silently() {
    let mut s = settle(BALANCE);
    s.set_carrier(0, false);
    assert_eq!(spread(&s), (0, 60, 0));
    s.run_for(Duration::from_secs(3));
    let warnings: Vec<&String> = s.logs.iter().filter(|l| l.contains("re-reading")).collect();
    assert!(warnings.is_empty(), "the daemon re-read the nexthops instead of failing on them: {warnings:#?}");
    assert!(!s.nexthops.iter().any(|n| n.to_string().contains("id 5010") || n.to_string().contains("id 5030")));
    // The line comes back: its nexthop is made again and it rejoins.
    s.set_carrier(0, true);
    s.run_until_cond(Duration::from_secs(30), |s| spread(s).0 > 30).expect("rejoined");
    assert!(s.nexthops.iter().any(|n| n.to_string().starts_with("id 5010 via")));
}

#[test]
fn the_last_wan_going_down_lets_last_resort_decide() {
    let mut s = settle(&BALANCE.replace("'balance'\n", "'balance'\n\toption last_resort 'unreachable'\n"));
    s.lines[0].upstream_works = false;
    s.lines[1].upstream_works = false;
    s.run_for(Duration::from_secs(3));
    let (_, routes) = s.ours();
    assert!(routes.contains(&"unreachable default table 100 proto dualwan".to_string()), "{routes:?}");
    assert!(s.nexthops.is_empty(), "{:?}", s.nexthops);
    assert_eq!(spread(&s), (0, 0, 60));
}

#[test]
fn a_lower_metric_tier_is_used_alone_while_any_of_it_is_up() {
    let text = BALANCE.replace("'wan2'\n\toption metric '10'", "'wan2'\n\toption metric '20'");
    let mut s = settle(&text);
    assert_eq!(spread(&s), (60, 0, 0), "wanb is in a higher tier");
    s.lines[0].upstream_works = false;
    s.run_until_cond(Duration::from_secs(5), |s| spread(s) == (0, 60, 0)).expect("the next tier");
    s.lines[0].upstream_works = true;
    let back = s.run_until_cond(Duration::from_secs(30), |s| spread(s) == (60, 0, 0)).expect("back to the first tier");
    assert!(back >= s.d.config().wans[0].recovery_wait);
}

#[test]
fn shutdown_removes_groups_nexthops_and_routes_and_nothing_else() {
    let mut s = settle(BALANCE);
    s.d.shutdown(s.now);
    s.drain();
    assert!(s.d.is_stopped());
    assert!(s.nexthops.is_empty());
    assert_eq!(s.routes, foreign_routes());
    assert_eq!(s.rules, foreign_rules());
}

#[test]
fn a_reload_to_failover_replaces_the_group_route_and_removes_the_nexthops() {
    let mut s = settle(BALANCE);
    s.core(|d, now| {
        d.reload(
            now,
            load(
                &BALANCE
                    .replace("'balance'", "'failover'")
                    .replace("'wan2'\n\toption metric '10'", "'wan2'\n\toption metric '20'"),
            ),
        )
    });
    s.drain();
    s.run_for(Duration::from_secs(1));
    assert!(s.nexthops.is_empty());
    let (_, routes) = s.ours();
    assert!(routes.contains(&"default via 192.0.2.1 dev #2 table 100 proto dualwan".to_string()), "{routes:?}");
    assert_eq!(spread(&s), (60, 0, 0));
}

/// The lab's VoIP case: `lte` is the backup for everything, but carries one LAN host's SIP.
const VOIP: &str = "config interface 'wan'\n\toption device 'wan1'\n\toption metric '10'\n\
\tlist track_ip '203.0.113.1'\n\tlist track_ip '203.0.113.2'\n\
config interface 'lte'\n\toption device 'wan2'\n\toption metric '20'\n\
\tlist track_ip '203.0.113.1'\n\tlist track_ip '203.0.113.2'\n\
config rule 'voip'\n\toption src_ip '192.0.2.130'\n\toption proto 'udp'\n\toption dest_port '5060'\n\
\tlist use 'lte'\n\tlist use 'wan'\n";

fn sip(s: &Sim) -> Option<&'static str> {
    s.route_get(&Packet::from_lan("192.0.2.130", "198.51.100.7").udp(5060))
}

#[test]
fn a_rule_sends_its_traffic_by_its_first_wan_and_falls_back_to_the_next() {
    let mut s = settle(VOIP);
    let (rules, _) = s.ours();
    assert!(
        rules.contains(&"5010:\tfrom 192.0.2.130 ipproto udp dport 5060 lookup 102 proto dualwan".to_string()),
        "{rules:?}"
    );
    assert_eq!(sip(&s), Some("wan2"));
    assert_eq!(s.route_get(&Packet::from_lan("192.0.2.130", "198.51.100.7").udp(5061)), Some("wan1"));
    assert_eq!(s.route_get(&Packet::from_lan("192.0.2.131", "198.51.100.7").udp(5060)), Some("wan1"));
    assert_eq!(s.d.carriers(Family::V4).of_policy(s.d.config(), 0).and_then(|w| w.first()), Some(1));
    // lte's upstream dies: SIP moves to wan within the detection bound, and comes back.
    s.lines[1].upstream_works = false;
    let took = s.run_until_cond(Duration::from_secs(5), |s| sip(s) == Some("wan1")).expect("fell back");
    assert!(took <= Duration::from_millis(1300), "{took:?}");
    assert!(s.logs.iter().any(|l| l.contains("rule voip: traffic on wan")), "{:#?}", s.logs);
    s.lines[1].upstream_works = true;
    s.run_until_cond(Duration::from_secs(30), |s| sip(s) == Some("wan2")).expect("back on lte");
}

#[test]
fn a_rule_with_none_of_its_wans_up_gets_its_last_resort() {
    let text = VOIP.replace("\tlist use 'wan'\n", "\toption last_resort 'blackhole'\n");
    let mut s = settle(&text);
    s.lines[1].upstream_works = false;
    s.run_for(Duration::from_secs(3));
    let (rules, _) = s.ours();
    assert!(
        rules.contains(&"5010:\tfrom 192.0.2.130 ipproto udp dport 5060 blackhole proto dualwan".to_string()),
        "{rules:?}"
    );
    assert_eq!(sip(&s), None);
    assert_eq!(s.route_get(&Packet::from_lan("192.0.2.131", "198.51.100.7").udp(5060)), Some("wan1"));
}

#[test]
fn port_lists_become_one_kernel_rule_each_in_file_order() {
    let text = VOIP.replace("'5060'", "'5060,10000-20000'")
        + "config rule 'web'\n\toption proto 'tcp'\n\toption src_port '80,443'\n\toption dest_port '1-1024'\n\tlist use 'lte'\n";
    let s = settle(&text);
    let (rules, _) = s.ours();
    let ours: Vec<&String> = rules.iter().filter(|r| r.starts_with("501")).collect();
    assert_eq!(
        ours,
        [
            "5010:\tfrom 192.0.2.130 ipproto udp dport 5060 lookup 102 proto dualwan",
            "5011:\tfrom 192.0.2.130 ipproto udp dport 10000-20000 lookup 102 proto dualwan",
            "5012:\tfrom all ipproto tcp sport 80 dport 1-1024 lookup 102 proto dualwan",
            "5013:\tfrom all ipproto tcp sport 443 dport 1-1024 lookup 102 proto dualwan",
        ]
    );
}

/// 16 rules of 5 port entries each: 80 kernel rules per family, more than the action queue
/// holds at once. They go out in batches, all of them, with no overflow.
#[test]
fn a_config_of_eighty_kernel_rules_is_installed_in_batches_without_overflow() {
    let mut text = VOIP.replace(
        "\tlist track_ip '203.0.113.1'\n",
        "\tlist track_ip '203.0.113.1'\n\tlist track_ip '2001:db8:ff::1'\n",
    );
    text = text.replace("config rule 'voip'\n\toption src_ip '192.0.2.130'\n", "config rule 'voip'\n");
    text = text.replace("'5060'", "'5060,5061,5062,5063,5064'");
    for i in 1..16 {
        text += &format!(
            "config rule 'r{i}'\n\toption proto 'tcp'\n\toption dest_port '{0},{1},{2},{3},{4}'\n\tlist use 'wan'\n",
            i * 10,
            i * 10 + 1,
            i * 10 + 2,
            i * 10 + 3,
            i * 10 + 4
        );
    }
    let s = settle(&text);
    let (rules, _) = s.ours();
    assert_eq!(rules.len(), 2 * (4 + 80), "{rules:#?}");
    assert!(!s.logs.iter().any(|l| l.contains("dropped")), "{:#?}", s.logs);
    let mut s = s;
    s.d.shutdown(s.now);
    s.drain();
    assert!(s.d.is_stopped());
    assert_eq!(s.rules, foreign_rules());
}

#[test]
fn a_rule_balancing_over_named_wans_gets_its_own_table_and_group() {
    let text = VOIP.replace("\tlist use 'wan'\n", "\tlist use 'wan'\n\tlist use 'balance'\n");
    let mut s = settle(&text);
    let (rules, routes) = s.ours();
    assert!(
        rules.contains(&"5010:\tfrom 192.0.2.130 ipproto udp dport 5060 lookup 109 proto dualwan".to_string()),
        "{rules:?}"
    );
    assert!(routes.contains(&"default nhid 5051 table 109 proto dualwan".to_string()), "{routes:?}");
    assert!(
        routes.contains(&"default via 192.0.2.1 dev #2 table 100 proto dualwan".to_string()),
        "failover for the rest"
    );
    let both = (1..=60)
        .map(|i| s.route_get(&Packet::from_lan("192.0.2.130", &format!("198.51.100.{i}")).udp(5060)))
        .collect::<std::collections::HashSet<_>>();
    assert_eq!(both.len(), 2, "{both:?}");
    s.set_carrier(1, false);
    assert_eq!(sip(&s), Some("wan1"));
    s.run_for(Duration::from_secs(2));
    assert!(!s.logs.iter().any(|l| l.contains("re-reading")), "{:#?}", s.logs);
}

/// Stale rules of ours (a crashed run with another config) beyond what the mirror has room
/// for besides the plan: the plan is installed and the stale rules removed, those the
/// mirror had no room for at the first read by the periodic re-read, without the core
/// spinning on changes it cannot record.
#[test]
fn more_stale_entries_of_ours_than_the_mirror_holds_are_cleaned_up() {
    use dualwan::route::{Prefix, Rule, RuleAction, Selectors, PROTO_DUALWAN};
    let text = VOIP.replace("'5060'", "'5060,5061,5062,5063,5064'");
    let mut text = text.replace(
        "\tlist track_ip '203.0.113.1'\n",
        "\tlist track_ip '203.0.113.1'\n\tlist track_ip '2001:db8:ff::1'\n",
    );
    for i in 1..16 {
        text += &format!(
            "config rule 'r{i}'\n\toption proto 'tcp'\n\toption dest_port '{},{},{},{},{}'\n\tlist use 'wan'\n",
            i * 10,
            i * 10 + 1,
            i * 10 + 2,
            i * 10 + 3,
            i * 10 + 4
        );
    }
    let mut s = Sim::new(load(&text));
    for i in 0..40u8 {
        s.rules.push(Rule {
            family: Family::V4,
            priority: 5091 + u32::from(i % 8),
            src: Some(Prefix::host(std::net::Ipv4Addr::new(198, 51, 100, i).into())),
            selectors: Selectors::NONE,
            action: RuleAction::Lookup(103),
            suppress_prefixlen: None,
            protocol: PROTO_DUALWAN,
            other_selectors: false,
        });
    }
    s.d = dualwan::daemon::Daemon::new(s.now, load(&text), 0x4000);
    s.drain();
    s.run_for(Duration::from_secs(65));
    let (rules, _) = s.ours();
    assert!(rules.iter().all(|r| !r.starts_with("509") || r.starts_with("5090")), "{rules:#?}");
    assert_eq!(rules.len(), (4 + 80) + (4 + 75), "voip is IPv4 only: {rules:#?}");
    assert!(s.ops.len() < 1000, "{} ops", s.ops.len());
}

fn status(s: &Sim) -> serde_json::Value {
    serde_json::from_str(&s.status_json(None).unwrap()).unwrap()
}

#[test]
fn status_shows_each_wans_share_and_each_rules_wans() {
    let text = BALANCE.to_string() + "config rule 'voip'\n\toption proto 'udp'\n\toption dest_port '5060'\n\tlist use 'wanb'\n\tlist use 'wan'\n\toption last_resort 'unreachable'\n";
    let mut s = settle(&text);
    let v = status(&s);
    assert_eq!((v["mode"].as_str(), v["active"].as_str()), (Some("balance"), Some("wan wanb")));
    let (wan, wanb) = (&v["interfaces"]["wan"], &v["interfaces"]["wanb"]);
    assert_eq!((wan["weight"].as_u64(), wan["share"].as_u64(), wan["tier"].as_bool()), (Some(3), Some(75), Some(true)));
    assert_eq!(
        (wanb["weight"].as_u64(), wanb["share"].as_u64(), wanb["active"].as_bool()),
        (Some(1), Some(25), Some(true))
    );
    assert_eq!(v["rules"]["voip"]["via"], "wanb");
    assert_eq!(v["rules"]["voip"]["priority"], 5010);
    assert!(v["rules"]["voip"].get("via6").is_none(), "IPv6 is not tracked");
    s.lines[1].upstream_works = false;
    s.run_for(Duration::from_secs(2));
    let v = status(&s);
    assert_eq!(v["active"], "wan");
    assert_eq!(
        (v["interfaces"]["wan"]["share"].as_u64(), v["interfaces"]["wanb"]["share"].as_u64()),
        (Some(100), Some(0))
    );
    assert_eq!(v["interfaces"]["wanb"]["tier"], true, "down, but of the tier in use");
    assert_eq!(v["rules"]["voip"]["via"], "wan");
    s.lines[0].upstream_works = false;
    s.run_for(Duration::from_secs(2));
    let v = status(&s);
    assert_eq!((v["active"].as_str(), v["rules"]["voip"]["via"].as_str()), (Some(""), Some("unreachable")));
    // The summary `dualwan status` prints from the same facts.
    let mut buf = vec![0u8; 65536];
    let mut w = dualwan::wire::blob::Writer::new(&mut buf);
    dualwan::status::write_status(&s.d, s.now, None, &mut dualwan::status::Blob::new(&mut w)).unwrap();
    let len = w.len();
    let mut summary = String::new();
    dualwan::summary::write_summary(&buf[..len], &mut summary).unwrap();
    assert!(summary.contains("rules:\n    voip   5010  via unreachable\n"), "{summary}");
}

#[test]
fn rule_moves_are_events_and_hotplug_runs_and_balance_moves_are_active_events() {
    use dualwan::daemon::Event;
    let mut s = settle(VOIP);
    // At start the rule's traffic went by main until a WAN was up: wan answered first.
    let rules: Vec<(&str, &str)> = s
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Rule { rule, via, previous, .. } if rule == "voip" => Some((via.as_str(), previous.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(rules, [("wan", "main"), ("lte", "wan")]);
    assert_eq!(s.rule_hotplugs.last().unwrap(), &("voip".to_string(), "ipv4", "lte".to_string(), "wan".to_string()));
    s.lines[1].upstream_works = false;
    s.run_for(Duration::from_secs(3));
    let last = s.events.iter().rev().find(|e| matches!(e, Event::Rule { .. })).unwrap();
    assert!(matches!(last, Event::Rule { via, previous, .. } if via == "wan" && previous == "lte"), "{last:?}");
    assert_eq!(s.rule_hotplugs.last().unwrap(), &("voip".to_string(), "ipv4", "wan".to_string(), "lte".to_string()));

    // Balance mode: `dualwan.active` names every WAN sharing the traffic.
    let mut s = settle(BALANCE);
    s.lines[1].upstream_works = false;
    s.run_for(Duration::from_secs(3));
    let last = s.events.iter().rev().find(|e| matches!(e, Event::Active { .. })).unwrap();
    let Event::Active { active, previous, reason, .. } = last else { unreachable!() };
    assert_eq!((active.as_str(), previous.as_str()), ("wan", "wan wanb"));
    assert_eq!(*reason, s.d.health(1, Family::V4).reason(), "the failure of the WAN that left");
}

/// A reload that moves our ranges retires every old rule, route and nexthop (the rules of
/// `config rule` sections included) before the new ones work, and leaves nothing behind.
#[test]
fn a_reload_to_other_ranges_retires_rules_routes_and_nexthops() {
    let text = BALANCE.to_string()
        + "config rule 'voip'\n\toption proto 'udp'\n\toption dest_port '5060'\n\tlist use 'wanb'\n";
    let mut s = settle(&text);
    let moved = text.replace("'balance'\n", "'balance'\n\toption rule_priority '7000'\n\toption table_base '200'\n");
    s.core(|d, now| d.reload(now, load(&moved)));
    s.drain();
    s.run_for(Duration::from_secs(1));
    let (rules, routes) = s.ours();
    assert!(rules.iter().all(|r| r.starts_with("70")), "{rules:?}");
    assert!(routes.iter().all(|r| r.contains("table 20")), "{routes:?}");
    assert!(s.nexthops.iter().all(|n| n.id >= 7000), "{:?}", s.nexthops);
    assert_eq!(s.nexthops.len(), 5, "four twins and the group");
    assert!(
        rules.contains(&"7010:\tfrom all ipproto udp dport 5060 lookup 202 proto dualwan".to_string()),
        "{rules:?}"
    );
    s.d.shutdown(s.now);
    s.drain();
    assert!(s.d.is_stopped());
    assert!(s.nexthops.is_empty());
    assert_eq!((s.rules.clone(), s.routes.clone()), (foreign_rules(), foreign_routes()));
}

/// `src_iface` names a netifd interface (its device asked from netifd, followed when it
/// changes) or, when netifd does not know it, a device.
#[test]
fn src_iface_is_netifds_device_for_an_interface_name_and_the_device_otherwise() {
    use dualwan::netifd::NetifdStatus;
    let text = VOIP.replace("\toption src_ip '192.0.2.130'\n", "\toption src_iface 'guest'\n")
        + "config rule 'lab'\n\toption src_iface 'eth9'\n\tlist use 'wan'\n\
           config rule 'vlan'\n\toption src_iface 'br-lan.3'\n\tlist use 'wan'\n";
    let config = load(&text);
    let mut s = Sim::new(config);
    let bridge =
        |dev: &str| NetifdStatus { up: true, l3_device: Some(dev.try_into().unwrap()), address: None, gateway: None };
    s.netifd_says("guest", bridge("br-guest"));
    s.run_for(Duration::from_secs(2));
    let (rules, _) = s.ours();
    let iifs: Vec<&str> =
        rules.iter().filter_map(|r| r.split(" iif ").nth(1)).map(|r| r.split(' ').next().unwrap()).collect();
    assert_eq!(iifs, ["br-guest", "eth9", "br-lan.3"], "{rules:#?}");
    assert!(s.asks.iter().any(|a| a == "guest") && s.asks.iter().any(|a| a == "eth9"), "{:?}", s.asks);
    assert!(!s.asks.iter().any(|a| a == "br-lan.3"), "not a netifd name: not asked");
    // The guest network moves to another bridge: the rule follows.
    s.netifd_says("guest", bridge("br-guest2"));
    let (rules, _) = s.ours();
    assert!(rules.iter().any(|r| r.contains(" iif br-guest2 ")), "{rules:#?}");
    assert!(!rules.iter().any(|r| r.contains(" iif br-guest ")), "{rules:#?}");
    assert!(
        s.logs.iter().any(|l| l.contains("rule voip: src_iface guest is device br-guest2 (netifd)")),
        "{:#?}",
        s.logs
    );
}
