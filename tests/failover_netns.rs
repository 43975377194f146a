//! `dualwan run` against a real kernel: the lab of `tests/lab` (five network namespaces),
//! one lab per test, the daemon in `rtr`. Each test injects a fault, watches where rtr's own
//! traffic (`active`) and the LAN's forwarded traffic (`lan_active`) go, checks the reason
//! the daemon logs, and ends with SIGTERM: exit status 0 and rtr's rules and routes exactly
//! as they were before the daemon started.
//!
//! Scenarios 1–3 and 5 keep the detection defaults (interval 0.4 s, timeout 0.5 s, down 4,
//! up 3) so their timings prove them. Needs root; `DUALWAN_SKIP_NETNS=1` skips.

mod common;

use common::config::Config;
use common::daemon::{wait_up, BIN, SILENT_UPSTREAM};
use common::lab::{lab_or_skip, wait_until, Lab, GW};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Detection defaults, for the timing bounds.
const INTERVAL: Duration = Duration::from_millis(400);
const UP_ROUNDS: u32 = 3;

/// Starts the daemon and waits until both WANs are online and traffic is on `wan`.
fn start(lab: &Lab, cfg: &str) -> Child {
    let child = lab.spawn_in("rtr", BIN, &["run", "-c", cfg, "--log", "stderr"]);
    wait_up(lab, &child);
    assert!(on(lab, "wan1"), "traffic is not on wan1 after start");
    child
}

/// SIGTERM; asserts exit status 0 and the snapshot taken before start. Returns the log.
fn stop(lab: &Lab, child: &mut Child, before: &str) -> String {
    let status: ExitStatus = lab.terminate(child);
    let log = lab.stderr_of(child);
    assert!(status.success(), "daemon exited with {status}:\n{log}");
    assert!(log.contains("stopped; our rules and routes are removed"), "no stop line:\n{log}");
    assert_eq!(lab.snapshot(), before, "rtr's rules and routes differ from before the start");
    log
}

/// Both rtr's own traffic and the LAN's go out of `dev`.
fn on(lab: &Lab, dev: &str) -> bool {
    lab.active() == dev && lab.lan_active() == dev
}

/// Runs `fault`, then waits for `cond`: the time from just before the fault until `cond` held.
fn after(fault: impl FnOnce(), timeout: Duration, cond: impl FnMut() -> bool) -> Option<Duration> {
    let t0 = Instant::now();
    fault();
    wait_until(timeout, cond).map(|_| t0.elapsed())
}

/// The log's messages (time and level cut off).
fn messages(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| {
            let mut parts = l.trim_start().splitn(3, ' ');
            let (_time, _level) = (parts.next()?, parts.next()?);
            Some(parts.next()?.trim_start().to_string())
        })
        .collect()
}

fn count(log: &str, message: &str) -> usize {
    messages(log).iter().filter(|m| *m == message).count()
}

/// Asserts that the log has this exact message.
fn assert_logged(log: &str, message: &str) {
    assert!(count(log, message) > 0, "expected log message {message:?} in:\n{log}");
}

/// The last status transition of interface `name` (`wan: a -> b (why)`).
fn last_transition(log: &str, name: &str) -> Option<String> {
    let prefix = format!("{name}: ");
    messages(log).into_iter().rev().find(|m| m.starts_with(&prefix) && m.contains(" -> "))
}

/// `ip` commands in a namespace, one batch.
fn ip_batch(lab: &Lab, role: &str, batch: &str) {
    let mut child = Command::new("ip")
        .args(["-n", &lab.ns(role), "-batch", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ip -batch");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(batch.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{role}: ip -batch {batch:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn rules(lab: &Lab) -> Vec<String> {
    lab.run("rtr", &["ip", "-4", "rule", "show"]).lines().map(|l| l.trim_end().to_string()).collect()
}

fn routes(lab: &Lab) -> Vec<String> {
    lab.run("rtr", &["ip", "-4", "route", "show", "table", "all"]).lines().map(|l| l.trim_end().to_string()).collect()
}

fn ours(lines: Vec<String>) -> Vec<String> {
    lines.into_iter().filter(|l| l.contains("proto 201")).collect()
}

fn foreign(lines: Vec<String>) -> Vec<String> {
    lines.into_iter().filter(|l| !l.contains("proto 201")).collect()
}

fn route_table(lab: &Lab, table: u32) -> String {
    lab.run("rtr", &["ip", "-4", "route", "show", "table", &table.to_string()])
}

/// Scenario 1: the primary's upstream dies silently (its gateway still answers).
#[test]
fn silent_upstream_failure_moves_traffic_and_back() {
    let Some(lab) = lab_or_skip("up") else { return };
    // Every default, recovery_wait (10 s) included.
    let cfg = Config::lab().write(&lab);
    let before = lab.snapshot();
    let mut d = start(&lab, &cfg);

    let took = after(|| lab.upstream_fail(1), Duration::from_secs(4), || on(&lab, "wan2"))
        .unwrap_or_else(|| panic!("no failover:\n{}", lab.stderr_of(&d)));
    eprintln!("timing: silent upstream failure -> traffic on wan2 in {took:?}");
    assert!(took <= Duration::from_millis(1500), "failover took {took:?}");
    let log = lab.stderr_of(&d);
    assert_logged(&log, &format!("wan: disconnecting -> offline ({SILENT_UPSTREAM})"));
    assert_logged(&log, &format!("traffic moved to wanb (wan offline: {SILENT_UPSTREAM})"));

    let wait = Duration::from_secs(10);
    let back = after(|| lab.upstream_restore(1), Duration::from_secs(20), || on(&lab, "wan1"))
        .unwrap_or_else(|| panic!("no failback:\n{}", lab.stderr_of(&d)));
    eprintln!("timing: upstream restored -> traffic back on wan1 in {back:?}");
    // A down WAN's rounds go every half interval.
    let rounds = INTERVAL / 2 * (UP_ROUNDS - 1);
    assert!(back >= wait + rounds, "traffic returned before up rounds + recovery_wait: {back:?}");
    assert!(back <= wait + Duration::from_secs(2), "failback took {back:?}");
    let log = lab.stderr_of(&d);
    assert_logged(&log, "wan: connecting -> online (recovered)");
    assert_logged(&log, "traffic moved to wan (back from wanb)");
    stop(&lab, &mut d, &before);
}

/// Scenario 2: carrier loss is a netlink event: no probe round is waited for.
#[test]
fn carrier_loss_moves_traffic_at_once() {
    let Some(lab) = lab_or_skip("carrier") else { return };
    let cfg = Config::lab().all("recovery_wait 2").write(&lab);
    let before = lab.snapshot();
    let mut d = start(&lab, &cfg);

    let took = after(|| lab.carrier_down(1), Duration::from_secs(3), || on(&lab, "wan2"))
        .unwrap_or_else(|| panic!("no failover:\n{}", lab.stderr_of(&d)));
    eprintln!("timing: carrier down -> traffic on wan2 in {took:?}");
    assert!(took <= Duration::from_millis(300), "failover took {took:?}");
    let log = lab.stderr_of(&d);
    assert_logged(&log, "wan: online -> no_link (carrier lost)");
    assert_logged(&log, "traffic moved to wanb (wan no_link: carrier lost)");

    let back = after(|| lab.carrier_up(1), Duration::from_secs(8), || on(&lab, "wan1"))
        .unwrap_or_else(|| panic!("no failback:\n{}", lab.stderr_of(&d)));
    eprintln!("timing: carrier up -> traffic back on wan1 in {back:?}");
    assert!(back >= Duration::from_secs(2), "traffic returned before recovery_wait: {back:?}");
    assert!(back <= Duration::from_secs(4), "failback took {back:?}");
    assert_logged(&lab.stderr_of(&d), "traffic moved to wan (back from wanb)");
    stop(&lab, &mut d, &before);
}

/// Scenario 3: the primary's gateway stops answering altogether (IP and ARP).
#[test]
fn blackholed_gateway_moves_traffic() {
    let Some(lab) = lab_or_skip("gwbh") else { return };
    let cfg = Config::lab().all("recovery_wait 2").write(&lab);
    let before = lab.snapshot();
    let mut d = start(&lab, &cfg);

    let took = after(|| lab.gw_blackhole(1), Duration::from_secs(4), || on(&lab, "wan2"))
        .unwrap_or_else(|| panic!("no failover:\n{}", lab.stderr_of(&d)));
    eprintln!("timing: gateway blackholed -> traffic on wan2 in {took:?}");
    assert!(took <= Duration::from_millis(1500), "failover took {took:?}");
    let reason = format!("gateway {} unreachable", GW[0]);
    let log = lab.stderr_of(&d);
    assert_logged(&log, &format!("wan: disconnecting -> offline ({reason})"));
    assert_logged(&log, &format!("traffic moved to wanb (wan offline: {reason})"));

    let back = after(|| lab.gw_restore(1), Duration::from_secs(10), || on(&lab, "wan1"))
        .unwrap_or_else(|| panic!("no failback:\n{}", lab.stderr_of(&d)));
    eprintln!("timing: gateway restored -> traffic back on wan1 in {back:?}");
    assert!(back >= Duration::from_secs(2), "traffic returned before recovery_wait: {back:?}");
    stop(&lab, &mut d, &before);
}

/// Scenario 4: both upstreams dead: `last_resort` decides; then the backup recovers first.
fn both_dead(tag: &str, last_resort: &str) {
    let Some(lab) = lab_or_skip(tag) else { return };
    // Default recovery_wait (10 s): a recovered backup is used at once when nothing else is up.
    let cfg = Config::lab().global(&format!("last_resort {last_resort}")).write(&lab);
    let before = lab.snapshot();
    let mut d = start(&lab, &cfg);

    lab.upstream_fail(1);
    lab.upstream_fail(2);
    let how = if last_resort == "main" { "main routing table in charge" } else { "traffic rejected" };
    let line = format!("no WAN up: {how}");
    let seen = wait_until(Duration::from_secs(5), || count(&lab.stderr_of(&d), &line) > 0);
    assert!(seen.is_some(), "no {line:?}:\n{}", lab.stderr_of(&d));
    if last_resort == "main" {
        // Main's DHCP defaults decide: wan1 has metric 10.
        assert!(on(&lab, "wan1"), "active {} lan {}", lab.active(), lab.lan_active());
        assert_eq!(route_table(&lab, 100), "", "table 100 should be empty");
    } else {
        // `ip route get` fails: rule 5000 suppresses main's defaults, table 100 is unreachable.
        assert!(on(&lab, "none"), "active {} lan {}", lab.active(), lab.lan_active());
        assert!(route_table(&lab, 100).contains("unreachable default"), "{}", route_table(&lab, 100));
    }

    let took = after(|| lab.upstream_restore(2), Duration::from_secs(5), || on(&lab, "wan2"))
        .unwrap_or_else(|| panic!("backup not used:\n{}", lab.stderr_of(&d)));
    eprintln!("timing: backup restored ({last_resort}) -> traffic on wan2 in {took:?}");
    assert!(took < Duration::from_secs(10), "a recovered backup must not wait when nothing else is up");
    let log = lab.stderr_of(&d);
    assert_logged(&log, "wanb: connecting -> online (recovered)");
    assert_logged(&log, "traffic on wanb");
    assert!(!lab.stderr_of(&d).contains("traffic moved to wan ("), "the primary is still dead");
    stop(&lab, &mut d, &before);
}

#[test]
fn both_dead_last_resort_main() {
    both_dead("deadmain", "main");
}

#[test]
fn both_dead_last_resort_unreachable() {
    both_dead("deadunr", "unreachable");
}

/// Scenario 5: 30 % loss on the way back through ISP 1 for two minutes: a lost probe starts
/// a confirmation, which fails only if all four rounds of three lose every answer, so the
/// daemon must not flap.
///
/// Not certain, only likely: a confirmation fails with 0.3¹² ≈ 5·10⁻⁷, and two minutes
/// hold about 150 of them, so a flap has ≈ 10⁻⁴ odds per run with the defaults. A failure
/// here after four "0/3 answered" rounds is that event, not a bug.
#[test]
fn thirty_percent_loss_does_not_flap() {
    let Some(lab) = lab_or_skip("loss") else { return };
    // Debug: the confirmations are logged.
    let cfg = Config::lab().global("log_level debug").write(&lab);
    let before = lab.snapshot();
    let mut d = start(&lab, &cfg);

    lab.loss(1, 30);
    let stats = lab.ping_stats("rtr", 200, &["-I", "wan1", common::lab::TRAFFIC]);
    assert!((10.0..=55.0).contains(&stats.loss_pct()), "the fault should drop ~30%: {stats:?}");
    let t0 = Instant::now();
    let (mut samples, mut wrong) = (0u32, Vec::new());
    while t0.elapsed() < Duration::from_secs(120) {
        let tick = Instant::now();
        let (a, l) = (lab.active(), lab.lan_active());
        samples += 1;
        if a != "wan1" || l != "wan1" {
            wrong.push(format!("{:?}: active {a}, lan {l}", t0.elapsed()));
        }
        std::thread::sleep(Duration::from_millis(100).saturating_sub(tick.elapsed()));
    }
    lab.loss_clear(1);
    let log = lab.stderr_of(&d);
    let confirming = "wan: a probe went unanswered: confirming (4 rounds)";
    let confirmations = count(&log, confirming);
    eprintln!("loss: {samples} samples, {} off wan1; {confirmations} confirmations; ping loss {stats:?}", wrong.len());
    assert!(wrong.is_empty(), "traffic left wan1: {wrong:?}\n{log}");
    assert!(!log.contains("traffic moved"), "the daemon flapped:\n{log}");
    // About 0.3 × 0.7 of the 600 steady probes start one.
    assert!(confirmations > 30, "with 30% loss lost probes should start confirmations:\n{log}");
    stop(&lab, &mut d, &before);
}

/// Scenario 6: routes and rules that are not ours survive 50 failovers, a restart after
/// SIGKILL does not duplicate our rules, and SIGTERM leaves the kernel as it was.
#[test]
fn foreign_state_survives_fifty_failovers_and_a_kill() {
    let Some(lab) = lab_or_skip("foreign") else { return };
    ip_batch(
        &lab,
        "rtr",
        "route add 198.51.100.128/25 via 192.0.2.9 table 200\n\
         rule add pref 4000 fwmark 7 lookup 200\n\
         rule add pref 5050 fwmark 9 lookup 200\n",
    );
    // Quick rounds so 50 returns take seconds, not minutes (detection defaults are proven
    // by the other scenarios); no recovery wait.
    let cfg = Config::lab().all("recovery_wait 0").all("interval 0.1").all("timeout 0.2").write(&lab);
    let before = lab.snapshot();
    let (foreign_rules, foreign_routes) = (foreign(rules(&lab)), foreign(routes(&lab)));
    assert!(foreign_rules.iter().any(|r| r.starts_with("5050:")), "{foreign_rules:?}");
    let mut d = start(&lab, &cfg);
    assert_eq!(foreign(rules(&lab)), foreign_rules);
    assert_eq!(foreign(routes(&lab)), foreign_routes);

    let t0 = Instant::now();
    for i in 0..50 {
        lab.carrier_down(1);
        let moved = wait_until(Duration::from_secs(2), || lab.active() == "wan2");
        assert!(moved.is_some(), "failover {i}: not moved:\n{}", lab.stderr_of(&d));
        lab.carrier_up(1);
        let back = wait_until(Duration::from_secs(3), || lab.active() == "wan1");
        assert!(back.is_some(), "failover {i}: not back:\n{}", lab.stderr_of(&d));
    }
    eprintln!("50 failovers and returns in {:?}", t0.elapsed());
    assert!(on(&lab, "wan1"));
    let log = lab.stderr_of(&d);
    // Every fault moved traffic and every return brought it back. Each move names its cause
    // (nearly always "wan no_link: carrier lost"; once, under load, another), and these are
    // lower bounds: what this test guards is the foreign state.
    let moves = messages(&log).iter().filter(|m| m.starts_with("traffic moved to wanb (wan ")).count();
    let returns = count(&log, "traffic moved to wan (back from wanb)");
    assert!(moves >= 50 && returns >= 50 && moves.abs_diff(returns) <= 1, "{moves} moves, {returns} returns\n{log}");
    assert_eq!(foreign(rules(&lab)), foreign_rules, "foreign rules changed");
    assert_eq!(foreign(routes(&lab)), foreign_routes, "foreign or main routes changed");
    stop(&lab, &mut d, &before);

    // SIGKILL leaves our entries behind; the next start adopts them instead of adding twice.
    let mut d = start(&lab, &cfg);
    let installed = ours(rules(&lab));
    assert_eq!(installed.len(), 4, "{installed:?}");
    d.kill().unwrap();
    d.wait().unwrap();
    assert_eq!(ours(rules(&lab)), installed, "our rules after SIGKILL");
    let mut d = start(&lab, &cfg);
    std::thread::sleep(Duration::from_millis(500));
    let again = ours(rules(&lab));
    assert_eq!(again, installed, "rules after the restart (duplicates?)");
    let mut prios: Vec<&str> = again.iter().map(|l| l.split(':').next().unwrap()).collect();
    prios.dedup();
    assert_eq!(prios.len(), 4, "{again:?}");
    assert_eq!(ours(routes(&lab)).len(), 3, "{:?}", ours(routes(&lab)));
    assert_eq!(foreign(rules(&lab)), foreign_rules);
    assert_eq!(foreign(routes(&lab)), foreign_routes);
    stop(&lab, &mut d, &before);
}

/// Scenario 7: our rules and the active route removed behind the daemon's back come back.
#[test]
fn deleted_rules_are_restored() {
    let Some(lab) = lab_or_skip("ruledel") else { return };
    let cfg = Config::lab().write(&lab);
    let before = lab.snapshot();
    let mut d = start(&lab, &cfg);
    let (want_rules, want_routes) = (ours(rules(&lab)), ours(routes(&lab)));
    assert_eq!(want_rules.len(), 4, "{want_rules:?}");

    let took = after(
        || ip_batch(&lab, "rtr", "rule del pref 5090\n"),
        Duration::from_secs(1),
        || ours(rules(&lab)) == want_rules,
    );
    eprintln!("timing: rule 5090 deleted -> restored in {took:?}");
    assert!(took.is_some(), "rule 5090 not restored: {:?}\n{}", rules(&lab), lab.stderr_of(&d));

    // What `ip rule flush` would do to ours, without removing the lab's own rules.
    let took = after(
        || ip_batch(&lab, "rtr", "rule del pref 5000\nrule del pref 5001\nrule del pref 5002\nrule del pref 5090\n"),
        Duration::from_secs(1),
        || ours(rules(&lab)) == want_rules,
    );
    eprintln!("timing: all our rules deleted -> restored in {took:?}");
    assert!(took.is_some(), "rules not restored: {:?}\n{}", rules(&lab), lab.stderr_of(&d));

    let took = after(
        || ip_batch(&lab, "rtr", "route del default table 100\nroute del default table 101\n"),
        Duration::from_secs(1),
        || ours(routes(&lab)) == want_routes,
    );
    eprintln!("timing: our routes deleted -> restored in {took:?}");
    assert!(took.is_some(), "routes not restored: {:?}\n{}", routes(&lab), lab.stderr_of(&d));
    assert!(on(&lab, "wan1"));
    assert!(!lab.stderr_of(&d).contains("traffic moved"));
    stop(&lab, &mut d, &before);
}

/// Scenario 8: a new DHCP lease on the primary: new address, new gateway.
#[test]
fn address_and_gateway_change_are_followed() {
    let Some(lab) = lab_or_skip("readdr") else { return };
    let cfg = Config::lab().all("recovery_wait 2").write(&lab);
    let before = lab.snapshot();
    let mut d = start(&lab, &cfg);
    assert!(rules(&lab).iter().any(|r| r == "5001:\tfrom 192.0.2.2 lookup 101 proto 201"));

    // ISP 1 renumbers its side: .1 -> .4 (delete first: removing a primary address would
    // take same-subnet secondaries with it).
    ip_batch(&lab, "isp1", "addr del 192.0.2.1/29 dev cust\naddr add 192.0.2.4/29 dev cust\n");
    // The router's new lease, as netifd applies it.
    ip_batch(
        &lab,
        "rtr",
        "addr del 192.0.2.2/29 dev wan1\n\
         addr add 192.0.2.3/29 dev wan1\n\
         route replace default via 192.0.2.4 dev wan1 proto dhcp metric 10\n",
    );
    let followed = wait_until(Duration::from_secs(10), || {
        rules(&lab).iter().any(|r| r == "5001:\tfrom 192.0.2.3 lookup 101 proto 201")
            && route_table(&lab, 101).trim_end() == "default via 192.0.2.4 dev wan1 proto 201"
            && route_table(&lab, 100).trim_end() == "default via 192.0.2.4 dev wan1 proto 201"
            && on(&lab, "wan1")
    });
    eprintln!("timing: new lease -> followed and traffic on wan1 in {followed:?}");
    assert!(
        followed.is_some(),
        "rules {:?}\ntable 101 {:?}\n{}",
        rules(&lab),
        route_table(&lab, 101),
        lab.stderr_of(&d)
    );
    assert!(!rules(&lab).iter().any(|r| r.contains("192.0.2.2")), "{:?}", rules(&lab));
    let log = lab.stderr_of(&d);
    let last = last_transition(&log, "wan").unwrap();
    assert!(last.contains("-> online"), "wan is not online: {last}\n{log}");
    assert!(lab.ping("lan", &[common::lab::TRAFFIC]), "LAN traffic does not flow through the new lease");

    // Put the lab back as it was, so the final snapshot can be compared.
    ip_batch(&lab, "isp1", "addr del 192.0.2.4/29 dev cust\naddr add 192.0.2.1/29 dev cust\n");
    ip_batch(
        &lab,
        "rtr",
        "addr del 192.0.2.3/29 dev wan1\n\
         addr add 192.0.2.2/29 dev wan1\n\
         route replace default via 192.0.2.1 dev wan1 proto dhcp metric 10\n",
    );
    let back = wait_until(Duration::from_secs(10), || {
        rules(&lab).iter().any(|r| r == "5001:\tfrom 192.0.2.2 lookup 101 proto 201") && on(&lab, "wan1")
    });
    assert!(back.is_some(), "{}", lab.stderr_of(&d));
    stop(&lab, &mut d, &before);
}

fn ifindex(lab: &Lab, dev: &str) -> u32 {
    lab.run("rtr", &["cat", &format!("/sys/class/net/{dev}/ifindex")]).trim().parse().unwrap()
}

/// Scenario 9: the primary's device disappears and comes back with a new ifindex (USB modem
/// replug).
#[test]
fn device_replug_is_followed() {
    let Some(lab) = lab_or_skip("replug") else { return };
    // A third WAN whose device is a typo: named once at start, and nothing else changes.
    let typo = "lte: device 'eht1' does not exist (yet); waiting for it";
    let lte = Config::lab().interface("lte").device("eht1").metric(30).track(&common::lab::TARGETS);
    let cfg = lte.all("recovery_wait 2").write(&lab);
    let before = lab.snapshot();
    let mut d = start(&lab, &cfg);
    assert_eq!(count(&lab.stderr_of(&d), typo), 1, "{}", lab.stderr_of(&d));
    let old = ifindex(&lab, "wan1");

    let took = after(|| ip_batch(&lab, "rtr", "link del wan1\n"), Duration::from_secs(1), || on(&lab, "wan2"))
        .unwrap_or_else(|| panic!("no failover:\n{}", lab.stderr_of(&d)));
    eprintln!("timing: wan1 deleted -> traffic on wan2 in {took:?}");
    // The kernel takes a device down (RTM_NEWLINK without IFF_UP) before deleting it
    // (RTM_DELLINK): the transition is logged with the first cause ("link down"); the
    // status then shows the newest one ("device missing").
    let log = lab.stderr_of(&d);
    let reason = ["device missing", "link down"]
        .into_iter()
        .find(|r| count(&log, &format!("wan: online -> no_link ({r})")) > 0)
        .unwrap_or_else(|| panic!("no no_link transition:\n{log}"));
    assert_logged(&log, &format!("traffic moved to wanb (wan no_link: {reason})"));
    let gone = wait_until(Duration::from_secs(1), || route_table(&lab, 101).is_empty());
    assert!(gone.is_some(), "table 101 still routes via the deleted device");

    // Recreate it as lab.sh does.
    let (rtr, isp1) = (lab.ns("rtr"), lab.ns("isp1"));
    let st = Command::new("ip")
        .args(["link", "add", "wan1", "netns", &rtr, "type", "veth", "peer", "name", "cust", "netns", &isp1])
        .status()
        .unwrap();
    assert!(st.success());
    ip_batch(&lab, "isp1", "addr add 192.0.2.1/29 dev cust\nlink set cust up\n");
    ip_batch(
        &lab,
        "rtr",
        "addr add 192.0.2.2/29 dev wan1\nlink set wan1 up\n\
         route add default via 192.0.2.1 dev wan1 proto dhcp metric 10\n",
    );
    let new = ifindex(&lab, "wan1");
    assert_ne!(new, old);
    let back = wait_until(Duration::from_secs(10), || on(&lab, "wan1"))
        .unwrap_or_else(|| panic!("traffic did not return:\n{}", lab.stderr_of(&d)));
    eprintln!("timing: wan1 recreated -> traffic back on wan1 in {back:?} (ifindex {old} -> {new})");
    assert_eq!(route_table(&lab, 101).trim_end(), "default via 192.0.2.1 dev wan1 proto 201");
    let log = lab.stderr_of(&d);
    assert_logged(&log, "wan: connecting -> online (recovered)");
    assert_logged(&log, "traffic moved to wan (back from wanb)");
    assert!(lab.ping("lan", &[common::lab::TRAFFIC]), "LAN traffic does not flow over the new device");
    let log = stop(&lab, &mut d, &before);
    // The deleted wan1 was a transition, not a warning; the typo was named once.
    assert_eq!((log.matches("does not exist").count(), count(&log, typo)), (1, 1), "{log}");
}

/// Sends forged echo replies to DST from SRC, with the daemon's identifier and every
/// sequence number its recent and coming rounds can use, until DURATION is over.
const FLOOD_PY: &str = r#"
import socket, struct, sys, time
ident, start, dst, src, duration = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4], float(sys.argv[5])
payload = b"dualwan-probe-v1"
def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.bind((src, 0))
end, sent = time.time() + duration, 0
while time.time() < end:
    est = int((time.time() - start) / 0.2) + 1
    for rnd in range(max(0, est - 40), est + 40):
        for slot in range(9):
            seq = ((rnd & 0x0fff) << 4) | slot
            head = struct.pack("!BBHHH", 0, 0, 0, ident, seq)
            c = checksum(head + payload)
            s.sendto(struct.pack("!BBHHH", 0, 0, c, ident, seq) + payload, (dst, 0))
            sent += 1
print(sent)
"#;

/// Scenario 10: echo replies from hosts that were not probed do not keep a dead WAN up.
#[test]
fn forged_replies_do_not_keep_a_dead_wan_up() {
    let Some(lab) = lab_or_skip("forged") else { return };
    let cfg = Config::lab().write(&lab);
    let before = lab.snapshot();
    let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    let mut d = start(&lab, &cfg);
    // The daemon's identifier for slot 0 (`ip netns exec` execs, so this is its pid).
    let ident = (d.id() as u16) & 0xfff0;

    // The targets stop answering probes over ISP 1. (lab.sh's upstream-fail would drop the
    // forged packets too: ISP 1 forwards nothing then.) The gateway still answers.
    lab.run("inet", &["nft", "add table ip dwtest"]);
    lab.run("inet", &["nft", "add chain ip dwtest input { type filter hook input priority filter; }"]);
    lab.run("inet", &["nft", "add rule ip dwtest input ip saddr 192.0.2.0/29 icmp type echo-request drop"]);
    let reps0 = lab.icmp_counter("rtr", "InEchoReps");
    let mut flood = lab.spawn_in(
        "inet",
        "python3",
        &["-c", FLOOD_PY, &ident.to_string(), &started.to_string(), "192.0.2.2", "203.0.113.50", "4"],
    );
    let took = wait_until(Duration::from_secs(4), || on(&lab, "wan2"));
    let status = flood.wait().unwrap();
    assert!(status.success(), "flood: {}", lab.stderr_of(&flood));
    let reps = lab.icmp_counter("rtr", "InEchoReps") - reps0;
    eprintln!("forged: {reps} foreign echo replies reached rtr; traffic on wan2 after {took:?}");
    assert!(reps > 1000, "the flood did not reach the router ({reps} replies)");
    assert!(took.is_some(), "forged replies kept wan up:\n{}", lab.stderr_of(&d));
    let log = lab.stderr_of(&d);
    assert_logged(&log, &format!("wan: disconnecting -> offline ({SILENT_UPSTREAM})"));
    assert_logged(&log, &format!("traffic moved to wanb (wan offline: {SILENT_UPSTREAM})"));
    lab.run("inet", &["nft", "delete table ip dwtest"]);
    stop(&lab, &mut d, &before);
}

/// SIGHUP with a config that fails validation, then with one that cannot be read (a FIFO in
/// its place): each is logged as `FILE:LINE:` / `FILE:` with the reason, the running
/// configuration stays in force and rtr's rules and routes are not touched.
#[test]
fn reload_with_an_invalid_config_keeps_everything() {
    let Some(lab) = lab_or_skip("hup") else { return };
    let cfg = Config::lab().write(&lab);
    let before = lab.snapshot();
    let mut d = start(&lab, &cfg);
    let (rules0, routes0) = (rules(&lab), routes(&lab));
    assert!(!ours(rules0.clone()).is_empty() && !ours(routes0.clone()).is_empty());
    let hup = || assert!(Command::new("kill").args(["-HUP", &d.id().to_string()]).status().unwrap().success());
    let kept = format!("{cfg}: invalid configuration, keeping the running one");

    let good = std::fs::read_to_string(&cfg).unwrap();
    let bad = good.replacen("\toption metric 20\n", "\toption metric twenty\n", 1);
    let line = bad.lines().position(|l| l == "\toption metric twenty").unwrap() + 1;
    std::fs::write(&cfg, &bad).unwrap();
    hup();
    let logged = wait_until(Duration::from_secs(2), || count(&lab.stderr_of(&d), &kept) == 1);
    assert!(logged.is_some(), "no reload refusal:\n{}", lab.stderr_of(&d));
    assert_logged(
        &lab.stderr_of(&d),
        &format!("{cfg}:{line}: option 'metric' in interface 'wanb': 'twenty' is not a whole number"),
    );

    std::fs::remove_file(&cfg).unwrap();
    assert!(Command::new("mkfifo").arg(&cfg).status().unwrap().success());
    hup();
    let logged = wait_until(Duration::from_secs(2), || count(&lab.stderr_of(&d), &kept) == 2);
    assert!(logged.is_some(), "the daemon hangs on a FIFO config:\n{}", lab.stderr_of(&d));
    assert_logged(&lab.stderr_of(&d), &format!("{cfg}: cannot read: not a regular file"));

    // Nothing moved, and the old config still works: it fails over as before.
    assert_eq!(rules(&lab), rules0, "rules changed after a refused reload");
    assert_eq!(routes(&lab), routes0, "routes changed after a refused reload");
    assert!(on(&lab, "wan1"));
    let took = after(|| lab.upstream_fail(1), Duration::from_secs(4), || on(&lab, "wan2"));
    assert!(took.is_some(), "no failover after a refused reload:\n{}", lab.stderr_of(&d));
    let log = lab.stderr_of(&d);
    assert!(!log.contains("reloaded"), "{log}");
    stop(&lab, &mut d, &before);
}

/// `check_quality`: a line that answers but loses half of its answers (failure_loss 20 %)
/// goes offline with the loss as its reason, and traffic comes back once the loss is gone
/// (`up` rounds plus `recovery_wait`).
#[test]
fn half_lost_answers_with_check_quality_move_traffic_and_back() {
    let Some(lab) = lab_or_skip("quality") else { return };
    let cfg = Config::lab().all("check_quality 1").all("failure_loss 20").all("recovery_wait 2").write(&lab);
    let before = lab.snapshot();
    let mut d = start(&lab, &cfg);

    let took = after(|| lab.loss(1, 50), Duration::from_secs(30), || on(&lab, "wan2"))
        .unwrap_or_else(|| panic!("50 % loss did not move traffic:\n{}", lab.stderr_of(&d)));
    eprintln!("timing: 50 % loss -> traffic on wan2 in {took:?}");
    let log = lab.stderr_of(&d);
    let down = last_transition(&log, "wan").unwrap_or_default();
    assert!(
        down.contains("-> offline (loss ") && down.ends_with(" % ≥ failure_loss 20 %)"),
        "not a loss verdict: {down}\n{log}"
    );
    assert!(messages(&log).iter().any(|m| m.starts_with("traffic moved to wanb (wan offline: loss ")), "{log}");

    let back = after(|| lab.loss_clear(1), Duration::from_secs(20), || on(&lab, "wan1"))
        .unwrap_or_else(|| panic!("no failback:\n{}", lab.stderr_of(&d)));
    eprintln!("timing: loss cleared -> traffic back on wan1 in {back:?}");
    assert!(back >= Duration::from_secs(2), "traffic returned before recovery_wait: {back:?}");
    assert_logged(&lab.stderr_of(&d), "wan: connecting -> online (recovered)");
    stop(&lab, &mut d, &before);
}

/// Issue 14, part 4 (the seed's accident): the main table's default route of a working
/// wan is deleted while its device, carrier and address stay. Traffic stays on it (the
/// gateway learned is kept, said once), and health still decides: an upstream outage
/// later fails over and back.
#[test]
fn a_deleted_main_default_route_keeps_the_wan() {
    let Some(lab) = lab_or_skip("mainrt") else { return };
    let cfg = Config::lab().all("recovery_wait 2").write(&lab);
    let before = lab.snapshot();
    let mut d = start(&lab, &cfg);

    ip_batch(&lab, "rtr", "route del default via 192.0.2.1 dev wan1\n");
    std::thread::sleep(Duration::from_secs(3));
    let log = lab.stderr_of(&d);
    assert_eq!(
        count(&log, "wan: main-table default route via 192.0.2.1 vanished; keeping it (address unchanged)"),
        1,
        "{log}"
    );
    assert!(on(&lab, "wan1"), "traffic left wan1 (active {}, lan {}):\n{log}", lab.active(), lab.lan_active());
    assert!(!log.contains("traffic moved"), "{log}");
    assert_eq!(route_table(&lab, 101).trim_end(), "default via 192.0.2.1 dev wan1 proto 201");
    assert!(lab.ping("lan", &[common::lab::TRAFFIC]), "LAN traffic does not flow through wan1");

    let took = after(|| lab.upstream_fail(1), Duration::from_secs(4), || on(&lab, "wan2"))
        .unwrap_or_else(|| panic!("no failover without the main route:\n{}", lab.stderr_of(&d)));
    eprintln!("timing: silent upstream failure (main route gone) -> traffic on wan2 in {took:?}");
    assert_logged(&lab.stderr_of(&d), &format!("wan: disconnecting -> offline ({SILENT_UPSTREAM})"));
    let back = after(|| lab.upstream_restore(1), Duration::from_secs(10), || on(&lab, "wan1"))
        .unwrap_or_else(|| panic!("no failback without the main route:\n{}", lab.stderr_of(&d)));
    eprintln!("timing: upstream restored -> traffic back on wan1 in {back:?}");

    // Put main's route back as it was, for the final snapshot.
    ip_batch(&lab, "rtr", "route add default via 192.0.2.1 dev wan1 proto dhcp metric 10\n");
    std::thread::sleep(Duration::from_millis(300));
    stop(&lab, &mut d, &before);
}
