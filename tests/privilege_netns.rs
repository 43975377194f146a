//! Least privilege against a real kernel: `dualwan run` in the lab's `rtr` namespace as
//! uid/gid 65534 with no groups, holding only the capabilities under test (ambient, via
//! util-linux `setpriv`, as procd grants them from a capabilities file).
//!
//! - CAP_NET_ADMIN + CAP_NET_RAW: it installs its rules, fails over on a silent upstream
//!   failure, has no listening socket, and removes everything on SIGTERM.
//! - Either one missing: it exits non-zero at start with a line naming the missing
//!   capability, and changes nothing.
//!
//! Needs root (to build the lab and to switch uid); `DUALWAN_SKIP_NETNS=1` skips.

mod common;

use common::config::Config;
use common::daemon::{wait_up, BIN, SILENT_UPSTREAM};
use common::lab::{lab_or_skip, wait_until, Lab};
use common::proc::{status_field, NET_ADMIN_AND_RAW};
use std::process::Child;
use std::time::Duration;

/// `nobody`.
const UID: &str = "65534";

/// `dualwan run` as uid/gid 65534 holding exactly `caps` (e.g. "net_admin,net_raw").
fn spawn_with_caps(lab: &Lab, cfg: &str, caps: &str) -> Child {
    lab.spawn_as("rtr", UID.parse().unwrap(), caps, BIN, &["run", "-c", cfg, "--log", "stderr"])
}

fn ours(lab: &Lab) -> Vec<String> {
    let rules = lab.run("rtr", &["ip", "-4", "rule", "show"]);
    let routes = lab.run("rtr", &["ip", "-4", "route", "show", "table", "all"]);
    rules.lines().chain(routes.lines()).filter(|l| l.contains("proto 201")).map(str::to_string).collect()
}

/// Waits for the child to exit on its own; its status and log.
fn exits(lab: &Lab, child: &mut Child) -> (std::process::ExitStatus, String) {
    let mut status = None;
    wait_until(Duration::from_secs(5), || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    let log = lab.stderr_of(child);
    let status = status.unwrap_or_else(|| {
        lab.terminate(child);
        panic!("the daemon kept running without its capabilities:\n{log}")
    });
    (status, log)
}

#[test]
fn runs_as_nobody_with_only_net_admin_and_net_raw() {
    let Some(lab) = lab_or_skip("caps") else { return };
    let cfg = Config::lab().write(&lab);
    let before = lab.snapshot();
    let mut d = spawn_with_caps(&lab, &cfg, "net_admin,net_raw");
    wait_up(&lab, &d);

    // It is the daemon itself (setpriv and `ip netns exec` exec), unprivileged.
    let pid = d.id();
    assert!(std::fs::read_link(format!("/proc/{pid}/exe")).unwrap().ends_with("dualwan"));
    assert_eq!(status_field(pid, "Uid").split_whitespace().collect::<Vec<_>>(), [UID; 4]);
    assert_eq!(status_field(pid, "Gid").split_whitespace().collect::<Vec<_>>(), [UID; 4]);
    assert_eq!(status_field(pid, "Groups"), "");
    let eff = u64::from_str_radix(&status_field(pid, "CapEff"), 16).unwrap();
    assert_eq!(eff, NET_ADMIN_AND_RAW, "effective capabilities {eff:#x}");

    let installed = ours(&lab);
    assert!(installed.iter().any(|l| l.contains("lookup 100")), "no active-table rule: {installed:?}");
    assert!(installed.iter().any(|l| l.contains("default via 192.0.2.1 dev wan1 table 100")), "{installed:?}");

    // No listening socket of its own: TCP, UDP, unix stream/seqpacket (`ss -l`) in rtr.
    let listening = lab.run("rtr", &["ss", "-H", "-l", "-n", "-p", "-t", "-u", "-x"]);
    let mine = format!("pid={pid},");
    let theirs: Vec<&str> = listening.lines().filter(|l| l.contains(&mine)).collect();
    assert!(theirs.is_empty(), "dualwan listens: {theirs:?}");
    // Its sockets: netlink, the raw probe sockets, maybe a unix client (ubusd) - nothing else.
    let all = lab.run("rtr", &["ss", "-H", "-a", "-n", "-p", "-t", "-u", "-x", "-w", "-0"]);
    let kinds: Vec<&str> =
        all.lines().filter(|l| l.contains(&mine)).filter_map(|l| l.split_whitespace().next()).collect();
    assert!(kinds.iter().all(|k| ["???", "raw", "u_str"].contains(k)), "unexpected sockets: {kinds:?}\n{all}");

    lab.upstream_fail(1);
    let moved = wait_until(Duration::from_secs(4), || lab.active() == "wan2" && lab.lan_active() == "wan2");
    assert!(moved.is_some(), "no failover as nobody:\n{}", lab.stderr_of(&d));
    let log = lab.stderr_of(&d);
    assert!(log.contains(&format!("traffic moved to wanb (wan offline: {SILENT_UPSTREAM})")), "{log}");
    assert!(!log.contains("CAP_NET"), "a capability was missing:\n{log}");

    let status = lab.terminate(&mut d);
    let log = lab.stderr_of(&d);
    eprintln!("net_admin + net_raw as {UID}, sockets {kinds:?}: {status}\n{log}");
    assert!(status.success(), "exit {status}:\n{log}");
    assert!(log.contains("stopped; our rules and routes are removed"), "{log}");
    assert_eq!(lab.snapshot(), before, "rules and routes differ from before the start");
}

#[test]
fn without_net_raw_it_says_so_and_exits() {
    let Some(lab) = lab_or_skip("noraw") else { return };
    let cfg = Config::lab().write(&lab);
    let before = lab.snapshot();
    let mut d = spawn_with_caps(&lab, &cfg, "net_admin");
    let (status, log) = exits(&lab, &mut d);
    eprintln!("net_admin only: {status}\n{log}");
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("(needs CAP_NET_RAW): cannot probe, not starting"), "{log}");
    assert!(!log.contains("CAP_NET_ADMIN"), "{log}");
    assert_eq!(lab.snapshot(), before, "it changed routing without CAP_NET_RAW");
}

#[test]
fn without_net_admin_it_says_so_and_exits() {
    let Some(lab) = lab_or_skip("noadmin") else { return };
    let cfg = Config::lab().write(&lab);
    let before = lab.snapshot();
    let mut d = spawn_with_caps(&lab, &cfg, "net_raw");
    let (status, log) = exits(&lab, &mut d);
    eprintln!("net_raw only: {status}\n{log}");
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("(needs CAP_NET_ADMIN): cannot change routing rules, not starting"), "{log}");
    assert_eq!(lab.snapshot(), before);
}
