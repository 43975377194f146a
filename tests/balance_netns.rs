//! Balance mode and `config rule` sections against a real kernel, in the lab of `tests/lab`
//! (one lab per test, the daemon in `rtr`). Where the LAN's connections leave is what
//! `ip route get DST from LAN_CLIENT iif lan0` says in rtr: the kernel's own choice through
//! our rules, the resilient nexthop group and its hash buckets.
//!
//! Each test ends with SIGTERM: exit status 0, and rtr's rules, routes and nexthop objects
//! exactly as before the daemon started (foreign ones included). Needs root;
//! `DUALWAN_SKIP_NETNS=1` skips.

mod common;

use common::config::Config;
use common::daemon::BIN;
use common::lab::{lab_or_skip, wait_until, Lab, LAN_CLIENT};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The detection bound with the default timing: 4 rounds of 0.2 s and a 0.5 s timeout,
/// plus room for a loaded machine.
const DETECTION: Duration = Duration::from_millis(1800);

/// 60 destinations in the lab's "Internet" range, from 203.0.113.`first` on.
fn destinations(first: u8) -> Vec<String> {
    (first..first + 60).map(|i| format!("203.0.113.{i}")).collect()
}

/// Where the LAN's connections to 60 destinations leave now: (via wan1, via wan2,
/// elsewhere), from one `ip -batch` of 60 `route get`s in rtr. Each look marks the buckets
/// it hashes to busy, as the connections' packets would.
fn spread(lab: &Lab, extra: &str) -> (usize, usize, usize) {
    spread_of(lab, 100, extra)
}

fn spread_of(lab: &Lab, first: u8, extra: &str) -> (usize, usize, usize) {
    let batch: String =
        destinations(first).iter().map(|d| format!("route get {d} from {LAN_CLIENT} iif lan0{extra}\n")).collect();
    let out = ip_batch(lab, &batch);
    let mut n = (0, 0, 0);
    for line in out.lines().filter(|l| l.starts_with("203.0.113.")) {
        if line.contains(" dev wan1 ") {
            n.0 += 1;
        } else if line.contains(" dev wan2 ") {
            n.1 += 1;
        } else {
            n.2 += 1;
        }
    }
    assert_eq!(n.0 + n.1 + n.2, 60, "{out}");
    n
}

fn ip_batch(lab: &Lab, batch: &str) -> String {
    let mut child = Command::new("ip")
        .args(["-n", &lab.ns("rtr"), "-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ip -batch");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(batch.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "ip -batch: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// rtr's rules and routes (`Lab::snapshot`) and nexthop objects, for before/after.
fn state(lab: &Lab) -> String {
    let nexthops = lab.run("rtr", &["ip", "nexthop", "show"]);
    format!("{}\nnexthops:\n{nexthops}", lab.snapshot())
}

fn start(lab: &Lab, text: &str, ready: &str) -> Child {
    let cfg = lab.dir().join("dualwan.conf");
    std::fs::write(&cfg, text).unwrap();
    let child = lab.spawn_in("rtr", BIN, &["run", "-c", cfg.to_str().unwrap(), "--log", "stderr"]);
    let up = wait_until(Duration::from_secs(6), || lab.stderr_of(&child).contains(ready));
    assert!(up.is_some(), "no {ready:?} in:\n{}", lab.stderr_of(&child));
    child
}

fn stop(lab: &Lab, child: &mut Child, before: &str) -> String {
    let status: ExitStatus = lab.terminate(child);
    let log = lab.stderr_of(child);
    assert!(status.success(), "daemon exited with {status}:\n{log}");
    assert_eq!(state(lab), before, "rtr's rules, routes or nexthops differ from before the start");
    log
}

/// Runs `fault`, then waits for `cond`: the time from just before the fault until it held.
fn after(fault: impl FnOnce(), timeout: Duration, cond: impl FnMut() -> bool) -> Option<Duration> {
    let t0 = Instant::now();
    fault();
    wait_until(timeout, cond).map(|_| t0.elapsed())
}

/// Both WANs metric 10, `wan` weight 3 and `wanb` weight 1; returns and rejoins fast
/// (recovery_wait 2) and a returning WAN takes buckets idle for 2 s.
fn balance_config() -> String {
    Config::lab()
        .global("mode 'balance'")
        .global("balance_idle 2")
        .on("wan", "weight 3")
        .on("wanb", "metric 10")
        .all("recovery_wait 2")
        .text()
}

#[test]
fn balance_spreads_by_weight_moves_everything_to_the_survivor_and_back() {
    let Some(lab) = lab_or_skip("bal") else { return };
    let before = state(&lab);
    let mut d = start(&lab, &balance_config(), "traffic shared by wan (weight 3), wanb (weight 1)");
    let shown = lab.run("rtr", &["ip", "nexthop", "show"]);
    assert!(shown.contains("group 5010,3/5011/5030,3/5031 type resilient buckets 128 idle_timer 2"), "{shown}");

    let (a, b, _) = spread(&lab, "");
    eprintln!("figure: 60 LAN destinations by weight 3:1 -> wan1 {a}, wan2 {b}");
    assert!((35..=55).contains(&a) && b >= 5, "not roughly 3:1: {a}:{b}");

    // wan's upstream dies: every destination on wan2 within the detection bound.
    let took = after(|| lab.upstream_fail(1), Duration::from_secs(5), || spread(&lab, "") == (0, 60, 0))
        .unwrap_or_else(|| panic!("not all on wan2:\n{}", lab.stderr_of(&d)));
    eprintln!("timing: balance, wan's upstream dies -> all 60 on wan2 in {took:?}");
    assert!(took <= DETECTION, "took {took:?}");

    // Back: once wan has rejoined, the destinations in use stay on wan2 (their buckets are
    // busy: their connections would break), and new ones are shared by weight again (the
    // buckets idle for balance_idle went to wan at once).
    lab.upstream_restore(1);
    let rejoined = wait_until(Duration::from_secs(10), || {
        spread(&lab, "");
        lab.stderr_of(&d).matches("traffic shared by wan (weight 3), wanb (weight 1)").count() >= 2
    });
    assert!(rejoined.is_some(), "wan did not rejoin:\n{}", lab.stderr_of(&d));
    assert_eq!(spread(&lab, ""), (0, 60, 0), "busy flows moved at the rejoin");
    let (a, b, _) = spread_of(&lab, 170, "");
    eprintln!("figure: after the rejoin, 60 new destinations -> wan1 {a}, wan2 {b}; the 60 in use stay on wan2");
    assert!((35..=55).contains(&a) && b >= 5, "new destinations not shared 3:1: {a}:{b}");
    // Idle for longer than balance_idle, buckets of the first 60 may move too, as far as
    // wan is still short of its share.
    std::thread::sleep(Duration::from_secs(3));
    let (a, b, _) = spread(&lab, "");
    eprintln!("figure: the first 60 after 3 s idle -> wan1 {a}, wan2 {b}");
    stop(&lab, &mut d, &before);
}

/// Carrier loss: the kernel drops wan1's nexthop by itself; the daemon re-reads and keeps
/// everything on wan2 without a failed write, and rebuilds it when the carrier returns.
#[test]
fn carrier_loss_in_balance_mode_and_foreign_state() {
    let Some(lab) = lab_or_skip("balc") else { return };
    // Foreign state at our numbers: a nexthop object (a blackhole one: the kernel would drop
    // one on wan1 itself with the carrier), a rule with our selectors at one of our
    // priorities (not ours: no proto 201).
    lab.run("rtr", &["ip", "nexthop", "add", "id", "77", "blackhole"]);
    lab.run("rtr", &["ip", "rule", "add", "pref", "5010", "ipproto", "udp", "dport", "5060", "lookup", "main"]);
    let before = state(&lab);
    let mut d = start(&lab, &balance_config(), "traffic shared by wan (weight 3), wanb (weight 1)");
    let took = after(|| lab.carrier_down(1), Duration::from_secs(3), || spread(&lab, "") == (0, 60, 0))
        .unwrap_or_else(|| panic!("not all on wan2:\n{}", lab.stderr_of(&d)));
    eprintln!("timing: balance, wan1 carrier lost -> all 60 on wan2 in {took:?}");
    assert!(took <= Duration::from_millis(500), "carrier loss is an event: {took:?}");
    lab.carrier_up(1);
    let back = wait_until(Duration::from_secs(10), || {
        lab.run("rtr", &["ip", "nexthop", "show"]).contains("group 5010,3/5011/5030,3/5031")
    });
    assert!(back.is_some(), "wan1 did not rejoin:\n{}", lab.stderr_of(&d));
    let log = lab.stderr_of(&d);
    assert!(!log.contains("re-reading kernel state"), "a write failed:\n{log}");
    let log = stop(&lab, &mut d, &before);
    assert!(log.contains("stopped"), "{log}");
    assert!(lab.run("rtr", &["ip", "nexthop", "show"]).contains("id 77 blackhole"));
}

/// The VoIP case of the issue: `lte` (wan2) is everyone's backup but carries the SIP of
/// one LAN host; when lte's upstream dies SIP falls back to `wan`, and returns.
#[test]
fn a_voip_rule_leaves_by_lte_and_falls_back_to_wan() {
    let Some(lab) = lab_or_skip("voip") else { return };
    let text = Config::new()
        .interface("wan")
        .device("wan1")
        .metric(10)
        .track(&common::lab::TARGETS)
        .interface("lte")
        .device("wan2")
        .metric(20)
        .track(&common::lab::TARGETS)
        .all("recovery_wait 2")
        .text()
        + &format!(
            "\nconfig rule 'voip'\n\toption src_ip '{LAN_CLIENT}'\n\toption proto 'udp'\n\toption dest_port '5060'\n\
             \tlist use 'lte'\n\tlist use 'wan'\n"
        );
    let before = state(&lab);
    let mut d = start(&lab, &text, "rule voip: traffic on lte");
    let sip = || {
        let out = lab.run(
            "rtr",
            &[
                "ip",
                "route",
                "get",
                "203.0.113.50",
                "from",
                LAN_CLIENT,
                "iif",
                "lan0",
                "ipproto",
                "udp",
                "dport",
                "5060",
            ],
        );
        out.split_whitespace().skip_while(|w| *w != "dev").nth(1).unwrap_or("").to_string()
    };
    assert!(wait_until(Duration::from_secs(3), || sip() == "wan2").is_some(), "SIP not on lte:\n{}", lab.stderr_of(&d));
    assert_eq!(lab.lan_active(), "wan1", "everything else leaves by wan");
    assert_eq!(spread(&lab, " ipproto udp dport 5061"), (60, 0, 0), "another port is not SIP");
    let rules = lab.run("rtr", &["ip", "rule", "show", "pref", "5010"]);
    assert!(rules.contains(&format!("from {LAN_CLIENT} ipproto udp dport 5060 lookup 102 proto 201")), "{rules}");

    let took = after(|| lab.upstream_fail(2), Duration::from_secs(5), || sip() == "wan1")
        .unwrap_or_else(|| panic!("SIP did not fall back:\n{}", lab.stderr_of(&d)));
    eprintln!("timing: lte's upstream dies -> SIP on wan in {took:?}");
    assert!(took <= DETECTION, "took {took:?}");
    assert_eq!(lab.lan_active(), "wan1");
    let back = after(|| lab.upstream_restore(2), Duration::from_secs(10), || sip() == "wan2");
    assert!(back.is_some(), "SIP did not return to lte:\n{}", lab.stderr_of(&d));
    stop(&lab, &mut d, &before);
}

/// IPv6 balances on its own group (of IPv6 nexthops via the link-local routers `fe80::1`
/// of each line), and an IPv6-only outage moves only IPv6: IPv4 stays shared.
#[test]
fn ipv6_balances_in_its_own_group_and_an_ipv6_outage_moves_only_ipv6() {
    let Some(lab) = common::lab::lab6_or_skip("bal6") else { return };
    let text = Config::lab_dual_stack().global("mode 'balance'").on("wanb", "metric 10").all("recovery_wait 2").text();
    let before = format!("{}\n{}", state(&lab), lab.snapshot6());
    let mut d = start(&lab, &text, "IPv6 traffic shared by wan (weight 1), wanb (weight 1)");
    let spread6 = || {
        let batch: String = (0x100..0x13c)
            .map(|i| format!("route get 2001:db8:f::{i:x} from {} iif lan0\n", common::lab::LAN_CLIENT6))
            .collect();
        // `route get` takes its family from the address.
        let out = ip_batch(&lab, &batch);
        (out.matches(" dev wan1 ").count(), out.matches(" dev wan2 ").count())
    };
    let (a, b) = spread6();
    eprintln!("figure: 60 IPv6 LAN destinations by weight 1:1 -> wan1 {a}, wan2 {b}");
    assert!(a >= 15 && b >= 15 && a + b == 60, "{a}:{b}");
    let shown = lab.run("rtr", &["ip", "-6", "route", "show", "table", "100"]);
    assert!(shown.contains("default nhid 5060"), "{shown}");
    // IPv6 dies upstream of wan1: IPv6 all on wan2, IPv4 still on both.
    let took = after(
        || {
            lab.run("isp1", &["nft", "add", "rule", "inet", "dwlab", "upstream", "meta", "nfproto", "ipv6", "drop"]);
        },
        Duration::from_secs(5),
        || spread6() == (0, 60),
    )
    .unwrap_or_else(|| panic!("IPv6 did not move:\n{}", lab.stderr_of(&d)));
    eprintln!("timing: balance, wan1's IPv6 upstream dies -> all 60 IPv6 destinations on wan2 in {took:?}");
    assert!(took <= DETECTION, "took {took:?}");
    let (a, b, _) = spread(&lab, "");
    assert!(a > 0 && b > 0, "IPv4 still shared: {a}:{b}");
    lab.run("isp1", &["nft", "flush", "chain", "inet", "dwlab", "upstream"]);
    let status: ExitStatus = lab.terminate(&mut d);
    assert!(status.success());
    assert_eq!(format!("{}\n{}", state(&lab), lab.snapshot6()), before);
}
