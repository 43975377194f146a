//! Proves the network-namespace lab itself (tests/lab/lab.sh), without dualwan:
//! reachability through both ISPs and through the router for the LAN, each
//! fault and its undo, teardown, and snapshot stability; the same over IPv6 in an IPv6 lab.
//!
//! Needs root; `DUALWAN_SKIP_NETNS=1` skips it.

mod common;

use common::lab::{
    lab6_or_skip, lab_or_skip, script, wait_until, Lab, GW, GW6, GW6_GLOBAL, LAN_GW6, TARGETS, TARGETS6, TRAFFIC,
    TRAFFIC6,
};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Wait for a reply where none is the expected outcome.
const SHORT: Duration = Duration::from_millis(300);

fn wan(n: u8) -> String {
    format!("wan{n}")
}

/// rtr pings `dst` out of wanN (SO_BINDTODEVICE: the lookup takes wanN's default route).
fn via(lab: &Lab, n: u8, dst: &str) -> bool {
    lab.ping("rtr", &["-I", &wan(n), dst])
}

fn silent_via(lab: &Lab, n: u8, dst: &str) -> bool {
    !lab.ping_within("rtr", &["-I", &wan(n), dst], SHORT)
}

fn lower_up(lab: &Lab, n: u8) -> bool {
    let out = lab.exec("rtr", ["ip", "-o", "link", "show", &wan(n)]);
    assert!(out.status.success(), "ip link show {}", wan(n));
    String::from_utf8_lossy(&out.stdout).contains("LOWER_UP")
}

fn set_forwarding(lab: &Lab, on: bool) {
    let v = if on { "1" } else { "0" };
    let out = lab.exec("rtr", ["sh", "-c", &format!("echo {v} > /proc/sys/net/ipv4/ip_forward")]);
    assert!(out.status.success());
}

/// inet's Icmp InEchos counter: echo requests that reached the "Internet".
fn inet_in_echos(lab: &Lab) -> u64 {
    let out = lab.exec("inet", ["cat", "/proc/net/snmp"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let mut icmp = text.lines().filter(|l| l.starts_with("Icmp: "));
    let (head, vals) = (icmp.next().unwrap(), icmp.next().unwrap());
    let i = head.split_whitespace().position(|h| h == "InEchos").unwrap();
    vals.split_whitespace().nth(i).unwrap().parse().unwrap()
}

fn rule_count(lab: &Lab, isp: u8, chain: &str) -> usize {
    let out = lab.exec(&format!("isp{isp}"), ["nft", "list", "chain", "inet", "dwlab", chain]);
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.trim_end().ends_with("drop")).count()
}

#[test]
fn both_wans_reach_every_target_and_lan_is_natted() {
    let Some(lab) = lab_or_skip("reach") else { return };
    for n in 1..=2u8 {
        assert!(via(&lab, n, GW[usize::from(n) - 1]), "gateway of isp{n} answers");
        for t in TARGETS.iter().chain([&TRAFFIC]) {
            assert!(via(&lab, n, t), "{t} reachable via wan{n}");
        }
    }
    // inet has no route to 192.0.2.128/25: this works only through the masquerade.
    assert!(lab.ping("lan", &[TRAFFIC]), "LAN client reaches {TRAFFIC} through rtr");
    assert!(lab.ping("lan", &["192.0.2.129"]));
    assert_eq!(lab.active(), "wan1");
    assert_eq!(lab.lan_active(), "wan1");

    // `ip route get ... iif lan0` is an input-path lookup: without forwarding
    // on rtr it fails ("No route to host"), and lan-active says none.
    set_forwarding(&lab, false);
    assert_eq!(lab.lan_active(), "none");
    assert_eq!(lab.active(), "wan1");
    set_forwarding(&lab, true);
    assert_eq!(lab.lan_active(), "wan1");
}

#[test]
fn upstream_fail_keeps_gateway_answering() {
    let Some(lab) = lab_or_skip("upstream") else { return };
    for n in 1..=2u8 {
        let other = 3 - n;
        lab.upstream_fail(n);
        lab.upstream_fail(n); // idempotent
        assert_eq!(rule_count(&lab, n, "upstream"), 1);
        assert!(via(&lab, n, GW[usize::from(n) - 1]), "isp{n} gateway still answers");
        for t in TARGETS {
            assert!(silent_via(&lab, n, t), "{t} unreachable via wan{n}");
            assert!(via(&lab, other, t), "{t} still reachable via wan{other}");
        }
        if n == 1 {
            // The LAN follows the main table's wan1 default route into the hole.
            assert!(!lab.ping_within("lan", &[TRAFFIC], SHORT));
        }
        lab.upstream_restore(n);
        lab.upstream_restore(n);
        assert_eq!(rule_count(&lab, n, "upstream"), 0);
        for t in TARGETS {
            assert!(via(&lab, n, t), "{t} reachable via wan{n} again");
        }
    }
    assert!(lab.ping("lan", &[TRAFFIC]));
}

#[test]
fn carrier_down_drops_lower_up() {
    let Some(lab) = lab_or_skip("carrier") else { return };
    assert!(lower_up(&lab, 1));
    lab.carrier_down(1);
    lab.carrier_down(1);
    let t = wait_until(Duration::from_secs(1), || !lower_up(&lab, 1));
    assert!(t.is_some(), "wan1 lost LOWER_UP");
    assert!(lower_up(&lab, 2));
    assert!(silent_via(&lab, 1, GW[0]));
    assert!(via(&lab, 2, TARGETS[0]));
    // The kernel keeps the dead route (flagged linkdown) and still picks it:
    // failing over is the daemon's job.
    assert_eq!(lab.active(), "wan1");

    lab.carrier_up(1);
    lab.carrier_up(1);
    assert!(wait_until(Duration::from_secs(1), || lower_up(&lab, 1)).is_some());
    assert!(
        wait_until(Duration::from_secs(3), || via(&lab, 1, TARGETS[0])).is_some(),
        "wan1 works again after carrier-up"
    );
}

#[test]
fn gw_blackhole_silences_gateway() {
    let Some(lab) = lab_or_skip("blackhole") else { return };
    lab.gw_blackhole(1);
    lab.gw_blackhole(1);
    assert!(silent_via(&lab, 1, GW[0]), "192.0.2.1 is silent");
    assert!(silent_via(&lab, 1, TARGETS[1]));
    assert!(via(&lab, 2, GW[1]));
    assert!(via(&lab, 2, TARGETS[1]));
    lab.gw_restore(1);
    lab.gw_restore(1);
    assert!(wait_until(Duration::from_secs(3), || via(&lab, 1, GW[0])).is_some(), "192.0.2.1 answers after gw-restore");
    assert!(via(&lab, 1, TARGETS[1]));
}

#[test]
fn loss_drops_about_pct_inet_to_router_only() {
    let Some(lab) = lab_or_skip("loss") else { return };
    lab.loss(1, 30);
    lab.loss(1, 30);
    assert_eq!(rule_count(&lab, 1, "loss"), 1);
    let s = lab.ping_stats("rtr", 100, &["-I", "wan1", TARGETS[0]]);
    let pct = s.loss_pct();
    assert!((10.0..=55.0).contains(&pct), "loss 1 30 lost {pct}% ({s:?})");
    let s2 = lab.ping_stats("rtr", 100, &["-I", "wan2", TARGETS[0]]);
    assert_eq!(s2.received, s2.sent, "wan2 is not affected");

    // One direction: at 100% every echo request still reaches inet, no reply comes back.
    lab.loss(1, 100);
    let before = inet_in_echos(&lab);
    let out = lab.exec("rtr", ["ping", "-n", "-q", "-c3", "-i", "0.01", "-W", "0.3", "-I", "wan1", TARGETS[0]]);
    assert!(!out.status.success(), "no reply at 100% loss");
    assert!(inet_in_echos(&lab) >= before + 3, "requests got through router -> inet");

    lab.loss_clear(1);
    lab.loss_clear(1);
    assert_eq!(rule_count(&lab, 1, "loss"), 0);
    let s3 = lab.ping_stats("rtr", 100, &["-I", "wan1", TARGETS[0]]);
    assert_eq!(s3.received, s3.sent, "no loss after loss-clear");
}

#[test]
fn down_is_complete_and_idempotent() {
    let Some(lab) = lab_or_skip("down") else { return };
    // A process inside rtr, with its stderr captured, like the daemon's.
    let mut child = lab.spawn_in("rtr", "sh", &["-c", "ip -o link show wan1 >&2; exec sleep 30"]);
    assert!(
        wait_until(Duration::from_secs(2), || lab.stderr_of(&child).contains("wan1")).is_some(),
        "stderr captured: {:?}",
        lab.stderr_of(&child)
    );
    let out = Command::new(script()).args([lab.prefix(), "exec", "rtr", "true"]).status().unwrap();
    assert!(out.success(), "lab.sh exec");

    lab.down();
    for r in common::lab::ROLES {
        let ns = lab.ns(r);
        assert!(!Path::new("/run/netns").join(&ns).exists(), "{ns} removed");
    }
    let listed = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&listed.stdout).contains(lab.prefix()));
    assert!(
        wait_until(Duration::from_secs(2), || child.try_wait().unwrap().is_some()).is_some(),
        "down ended the process left in rtr"
    );
    lab.down();
    lab.down();
    // A prefix that never existed.
    let st = Command::new(script()).args([&format!("{}-never", lab.prefix()), "down"]).status().unwrap();
    assert!(st.success());
}

#[test]
fn snapshot_is_stable() {
    let Some(lab) = lab_or_skip("snap") else { return };
    let s1 = lab.snapshot();
    assert!(s1.contains("default via 192.0.2.1 dev wan1 proto dhcp metric 10"), "{s1}");
    assert!(s1.contains("default via 192.0.2.9 dev wan2 proto dhcp metric 20"), "{s1}");
    assert!(s1.contains("32766:\tfrom all lookup main"), "{s1}");

    // Faults and their undo leave rtr's routing state as it was.
    for n in 1..=2u8 {
        lab.upstream_fail(n);
        lab.gw_blackhole(n);
        lab.loss(n, 50);
        lab.carrier_down(n);
    }
    assert_ne!(lab.snapshot(), s1, "linkdown shows in the snapshot");
    for n in 1..=2u8 {
        lab.carrier_up(n);
        lab.loss_clear(n);
        lab.gw_restore(n);
        lab.upstream_restore(n);
    }
    assert!(wait_until(Duration::from_secs(1), || lab.snapshot() == s1).is_some());

    // Rebuilt from scratch: the same state again.
    lab.up();
    assert_eq!(lab.snapshot(), s1);
    assert!(via(&lab, 1, TARGETS[2]));
}

/// rtr pings `dst` over IPv6 out of wanN.
fn via6(lab: &Lab, n: u8, dst: &str) -> bool {
    lab.ping("rtr", &["-6", "-I", &wan(n), dst])
}

fn silent_via6(lab: &Lab, n: u8, dst: &str) -> bool {
    !lab.ping_within("rtr", &["-6", "-I", &wan(n), dst], SHORT)
}

#[test]
fn ipv6_lab_reaches_inet_by_both_wans_and_every_fault_applies() {
    let Some(lab) = lab6_or_skip("ipv6") else { return };
    // fe80::1 on both links: the device tells the gateways apart.
    for n in 1..=2u8 {
        assert!(via6(&lab, n, GW6), "fe80::1 answers on wan{n}");
        assert!(via6(&lab, n, GW6_GLOBAL[usize::from(n) - 1]), "isp{n}'s global address answers");
        for t in TARGETS6.iter().chain([&TRAFFIC6]) {
            assert!(via6(&lab, n, t), "{t} reachable via wan{n}");
        }
    }
    // inet routes only the ISPs' /64s back: the LAN works through the masquerade.
    assert!(lab.ping("lan", &["-6", TRAFFIC6]), "LAN client reaches {TRAFFIC6} through rtr");
    assert!(lab.ping("lan", &["-6", LAN_GW6]));
    assert_eq!((lab.active6().as_str(), lab.lan_active6().as_str()), ("wan1", "wan1"));
    let routes = lab.snapshot6();
    assert!(routes.contains("default via fe80::1 dev wan1 proto static metric 10"), "{routes}");
    assert!(routes.contains("default via fe80::1 dev wan2 proto static metric 20"), "{routes}");
    // IPv4 is untouched.
    assert!(via(&lab, 1, TARGETS[0]) && lab.ping("lan", &[TRAFFIC]));

    // The fault chains are in `inet` tables: they hold IPv6 as well.
    lab.upstream_fail(1);
    assert!(via6(&lab, 1, GW6) && silent_via6(&lab, 1, TARGETS6[0]) && via6(&lab, 2, TARGETS6[0]));
    lab.upstream_restore(1);
    lab.gw_blackhole(1);
    assert!(silent_via6(&lab, 1, GW6) && via6(&lab, 2, GW6));
    lab.gw_restore(1);
    assert!(wait_until(Duration::from_secs(3), || via6(&lab, 1, GW6)).is_some(), "fe80::1 answers after gw-restore");
    lab.loss(1, 100);
    assert!(silent_via6(&lab, 1, TARGETS6[0]));
    lab.loss_clear(1);
    assert!(via6(&lab, 1, TARGETS6[0]));

    // Link-local addresses do not survive a link going down: carrier-up puts fe80::1 back.
    lab.carrier_down(1);
    assert!(silent_via6(&lab, 1, GW6));
    lab.carrier_up(1);
    assert!(
        wait_until(Duration::from_secs(3), || via6(&lab, 1, GW6) && via6(&lab, 1, TARGETS6[0])).is_some(),
        "wan1 works over IPv6 again after carrier-up"
    );
    assert_eq!(lab.active6(), "wan1");
}

#[test]
fn ipv4_lab_has_no_ipv6() {
    let Some(lab) = lab_or_skip("noipv6") else { return };
    let out = lab.exec("rtr", ["ip", "-6", "-o", "addr", "show"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "", "IPv6 addresses in an IPv4 lab");
    assert_eq!(lab.active6(), "none");
}
