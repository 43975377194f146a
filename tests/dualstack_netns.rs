//! Dual-stack failover against a real kernel: the lab of `tests/lab` with IPv6
//! (`DWLAB_IPV6=1`: 2001:db8::/32 addresses, `fe80::1` routers), the daemon in `rtr`
//! tracking three IPv4 and three IPv6 hosts per WAN. Each family must fail over on its
//! own, foreign IPv6 rules and routes (also in our priority range and tables) must stay,
//! and SIGTERM must leave both families' rules and routes as they were.
//! Needs root; `DUALWAN_SKIP_NETNS=1` skips.

mod common;

use common::config::Config;
use common::daemon::BIN;
use common::lab::{lab6_or_skip, wait_until, Lab};
use std::process::Child;
use std::time::{Duration, Instant};

/// Detection defaults (interval 0.4 s, timeout 0.5 s, down 4): the bound of a silent
/// failure, interval + (down + 3) / 2 × timeout (README, "Why these defaults"), reached
/// only on a path whose adaptive timeout is at its ceiling.
const DETECTION: Duration = Duration::from_millis(400 + 7 * 500 / 2);
/// Slack for the lab's scheduling on a busy machine (two shared cores).
const SLACK: Duration = Duration::from_millis(700);

/// Foreign IPv6 state a router may have: another program's rule inside our priority range,
/// a static route in our active table, a rule and table of its own.
const FOREIGN6: [&[&str]; 3] = [
    &["ip", "-6", "rule", "add", "pref", "5050", "from", "2001:db8:99::/64", "lookup", "300"],
    &["ip", "-6", "route", "add", "2001:db8:77::/48", "via", "fe80::1", "dev", "wan1", "table", "100"],
    &["ip", "-6", "route", "add", "2001:db8:66::/48", "via", "fe80::1", "dev", "wan2", "table", "300"],
];

/// Starts the daemon and waits until both families are on `wan`.
fn start(lab: &Lab, cfg: &str) -> Child {
    let child = lab.spawn_in("rtr", BIN, &["run", "-c", cfg, "--log", "stderr"]);
    let ready = wait_until(Duration::from_secs(8), || {
        let log = lab.stderr_of(&child);
        log.contains(" traffic on wan\n")
            && log.contains("IPv6 traffic on wan\n")
            && log.contains("wanb: IPv6 connecting -> online")
            && log.contains("wanb: connecting -> online")
    });
    assert!(ready.is_some(), "daemon did not come up:\n{}", lab.stderr_of(&child));
    assert_eq!(on(lab), ("wan1".into(), "wan1".into()), "not on wan1 after start");
    child
}

/// (IPv4, IPv6) device of both rtr's own and the LAN's traffic, or "split" when they differ.
fn on(lab: &Lab) -> (String, String) {
    let agree = |a: String, b: String| if a == b { a } else { format!("split {a}/{b}") };
    (agree(lab.active(), lab.lan_active()), agree(lab.active6(), lab.lan_active6()))
}

/// SIGTERM; exit 0 and both families' rules and routes exactly as before the start.
fn stop(lab: &Lab, child: &mut Child, before: &(String, String)) -> String {
    let status = lab.terminate(child);
    let log = lab.stderr_of(child);
    assert!(status.success(), "daemon exited with {status}:\n{log}");
    assert_eq!(lab.snapshot(), before.0, "IPv4 rules and routes differ from before the start");
    assert_eq!(lab.snapshot6(), before.1, "IPv6 rules and routes differ from before the start");
    log
}

/// isp1 stops forwarding IPv6 only; its router (fe80::1) still answers.
fn ipv6_upstream(lab: &Lab, fail: bool) {
    let rule =
        if fail { "add rule inet dwlab upstream meta nfproto ipv6 drop" } else { "flush chain inet dwlab upstream" };
    let args: Vec<&str> = std::iter::once("nft").chain(rule.split(' ')).collect();
    lab.run("isp1", &args);
}

#[test]
fn an_ipv6_only_outage_moves_only_ipv6_and_foreign_ipv6_state_stays() {
    let Some(lab) = lab6_or_skip("ds6") else { return };
    for cmd in FOREIGN6 {
        lab.run("rtr", cmd);
    }
    let before = (lab.snapshot(), lab.snapshot6());
    let cfg = Config::lab_dual_stack().all("recovery_wait 2").write(&lab);
    let mut child = start(&lab, &cfg);
    let ours = lab.snapshot6();
    for want in [
        "5000:\tfrom all lookup main suppress_prefixlength 0 proto 201",
        "5001:\tfrom 2001:db8:1::2 lookup 101 proto 201",
        "5002:\tfrom 2001:db8:2::2 lookup 102 proto 201",
        "5090:\tfrom all lookup 100 proto 201",
        "default via fe80::1 dev wan1 table 100 proto 201",
        "default via fe80::1 dev wan2 table 102 proto 201",
    ] {
        assert!(ours.contains(want), "missing {want:?} in\n{ours}");
    }

    let t0 = Instant::now();
    ipv6_upstream(&lab, true);
    let moved = wait_until(Duration::from_secs(5), || on(&lab).1 == "wan2").map(|_| t0.elapsed());
    let log = lab.stderr_of(&child);
    let moved = moved.unwrap_or_else(|| panic!("IPv6 did not move:\n{log}"));
    assert!(moved <= DETECTION + SLACK, "IPv6 moved after {moved:?}");
    assert_eq!(on(&lab).0, "wan1", "IPv4 must stay on wan1:\n{log}");
    assert!(
        log.contains(
            "wan: IPv6 disconnecting -> offline (gateway answers, targets unreachable (0/3 answered, need 1))"
        ),
        "{log}"
    );
    assert!(!log.contains("wan: online -> ") && !log.contains("wan: disconnecting -> offline"), "IPv4 stayed:\n{log}");
    // The LAN's IPv6 connection through wan2 works (the lab masquerades IPv6 on both WANs).
    assert!(lab.ping("lan", &["-6", common::lab::TRAFFIC6]), "LAN IPv6 ping via wan2 failed");

    ipv6_upstream(&lab, false);
    let back = wait_until(Duration::from_secs(10), || on(&lab).1 == "wan1");
    assert!(back.is_some(), "IPv6 did not come back:\n{}", lab.stderr_of(&child));
    let log = stop(&lab, &mut child, &before);
    println!("IPv6-only outage: IPv6 moved after {moved:?}; IPv4 stayed on wan1");
    assert!(log.contains("IPv6 traffic moved to wan (back from wanb)"), "{log}");
}

#[test]
fn a_full_failure_moves_both_families_and_a_pulled_cable_does_it_at_once() {
    let Some(lab) = lab6_or_skip("dsall") else { return };
    let before = (lab.snapshot(), lab.snapshot6());
    let cfg = Config::lab_dual_stack().all("recovery_wait 1").write(&lab);
    let mut child = start(&lab, &cfg);

    let t0 = Instant::now();
    lab.upstream_fail(1);
    let both = wait_until(Duration::from_secs(5), || on(&lab) == ("wan2".into(), "wan2".into()));
    let both = both.map(|_| t0.elapsed()).unwrap_or_else(|| panic!("not both moved:\n{}", lab.stderr_of(&child)));
    assert!(both <= DETECTION + SLACK, "both moved after {both:?}");
    lab.upstream_restore(1);
    let back = wait_until(Duration::from_secs(10), || on(&lab) == ("wan1".into(), "wan1".into()));
    assert!(back.is_some(), "not both back:\n{}", lab.stderr_of(&child));

    let t0 = Instant::now();
    lab.carrier_down(1);
    let cut = wait_until(Duration::from_secs(2), || on(&lab) == ("wan2".into(), "wan2".into()));
    let cut = cut.map(|_| t0.elapsed()).unwrap_or_else(|| panic!("carrier loss:\n{}", lab.stderr_of(&child)));
    assert!(cut < Duration::from_millis(500), "carrier loss moved both after {cut:?}");
    let log = lab.stderr_of(&child);
    assert!(log.contains("wan: online -> no_link (carrier lost)"), "{log}");
    assert!(log.contains("wan: IPv6 online -> no_link (carrier lost)"), "{log}");
    lab.carrier_up(1);
    let back = wait_until(Duration::from_secs(15), || on(&lab) == ("wan1".into(), "wan1".into()));
    assert!(back.is_some(), "not both back after the cable:\n{}", lab.stderr_of(&child));
    stop(&lab, &mut child, &before);
    println!("full failure: both families moved after {both:?}; carrier loss after {cut:?}");
}

#[test]
fn ipv6_rules_deleted_behind_its_back_come_back_and_an_ipv4_only_config_leaves_ipv6_alone() {
    let Some(lab) = lab6_or_skip("dsflush") else { return };
    let before = (lab.snapshot(), lab.snapshot6());
    let cfg = Config::lab_dual_stack().write(&lab);
    let mut child = start(&lab, &cfg);
    lab.run("rtr", &["ip", "-6", "rule", "flush"]);
    let restored =
        wait_until(Duration::from_secs(3), || lab.snapshot6().contains("5090:\tfrom all lookup 100 proto 201"));
    assert!(restored.is_some(), "IPv6 rules not restored:\n{}", lab.snapshot6());
    // `ip -6 rule flush` also removed the kernel's own main rule (32766): not ours to restore.
    lab.run("rtr", &["ip", "-6", "rule", "add", "pref", "32766", "lookup", "main"]);
    stop(&lab, &mut child, &before);

    // The same lab with IPv4 targets only: not one IPv6 rule or route is written.
    let text = std::fs::read_to_string(&cfg).unwrap();
    let v4_only: String = text.lines().filter(|l| !l.contains("2001:db8")).map(|l| format!("{l}\n")).collect();
    std::fs::write(&cfg, v4_only).unwrap();
    let mut child = lab.spawn_in("rtr", BIN, &["run", "-c", &cfg, "--log", "stderr"]);
    let up = wait_until(Duration::from_secs(5), || lab.stderr_of(&child).contains(" traffic on wan\n"));
    assert!(up.is_some(), "{}", lab.stderr_of(&child));
    assert_eq!(lab.snapshot6(), before.1, "an IPv4-only config touched IPv6");
    stop(&lab, &mut child, &before);
}

/// Issue 14, part 4, for IPv6: the router advertisement's default route via wan1 vanishes
/// from main while wan1 keeps its global address. The router learned is kept (said once),
/// IPv6 traffic stays, and an IPv6 outage still moves it and back.
#[test]
fn a_vanished_ipv6_default_route_keeps_the_router() {
    let Some(lab) = lab6_or_skip("dsra") else { return };
    let before = (lab.snapshot(), lab.snapshot6());
    let cfg = Config::lab_dual_stack().all("recovery_wait 1").write(&lab);
    let mut child = start(&lab, &cfg);
    lab.run("rtr", &["ip", "-6", "route", "del", "default", "via", "fe80::1", "dev", "wan1"]);
    std::thread::sleep(Duration::from_secs(2));
    let log = lab.stderr_of(&child);
    let line = "wan: IPv6 main-table default route via fe80::1 vanished; keeping it (address unchanged)";
    assert_eq!(log.matches(line).count(), 1, "{log}");
    assert_eq!(on(&lab), ("wan1".into(), "wan1".into()), "{log}");
    assert!(!log.contains("traffic moved"), "{log}");
    ipv6_upstream(&lab, true);
    let moved = wait_until(Duration::from_secs(5), || on(&lab).1 == "wan2");
    assert!(moved.is_some(), "IPv6 did not move:\n{}", lab.stderr_of(&child));
    ipv6_upstream(&lab, false);
    let back = wait_until(Duration::from_secs(10), || on(&lab).1 == "wan1");
    assert!(back.is_some(), "IPv6 did not come back:\n{}", lab.stderr_of(&child));
    lab.run(
        "rtr",
        &["ip", "-6", "route", "add", "default", "via", "fe80::1", "dev", "wan1", "proto", "static", "metric", "10"],
    );
    std::thread::sleep(Duration::from_millis(300));
    stop(&lab, &mut child, &before);
}
