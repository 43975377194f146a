//! An ICMP junk flood at the router changes no health decision: `dualwan run` in the lab with
//! default settings, then 10 s of 10,000 packets per second from `inet` to both WAN addresses
//! (`tests/lab/flood.py`: other hosts' echo replies, replies with the daemon's identifier but
//! the wrong source or sequence number, ICMP errors quoting its probes, bad checksums,
//! truncated and random ICMP). No status transition may be logged, traffic stays on wan1,
//! and the daemon's CPU for the flood is printed (`make bench` has the 30 s figure). Needs
//! root; `DUALWAN_SKIP_NETNS=1` skips.

mod common;

use common::config::Config;
use common::daemon::{wait_up, BIN};
use common::lab::{lab_or_skip, Lab, TRAFFIC, WAN_ADDR};
use common::proc::{clk_tck, cpu_ticks};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const FLOOD_SECONDS: u64 = 10;
const FLOOD_RATE: u32 = 10_000;

/// Device of a route lookup in rtr, with extra `ip route get` arguments.
fn route_dev(lab: &Lab, extra: &[&str]) -> String {
    let out = Command::new("ip")
        .args(["-n", &lab.ns("rtr"), "-4", "route", "get", TRAFFIC])
        .args(extra)
        .output()
        .expect("run ip route get");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split_whitespace().skip_while(|w| *w != "dev").nth(1).unwrap_or("none").to_string()
}

#[test]
fn icmp_flood_changes_no_health_decision() {
    let Some(lab) = lab_or_skip("flood") else { return };
    let cfg = Config::lab().write(&lab);
    let before = lab.snapshot();
    let mut d = lab.spawn_in("rtr", BIN, &["run", "-c", &cfg, "--log", "stderr"]);
    wait_up(&lab, &d);
    std::thread::sleep(Duration::from_secs(1));

    let pid = d.id();
    let ident = (pid as u16 & 0xfff0).to_string();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lab/flood.py");
    let dsts = WAN_ADDR.join(",");
    let log0 = lab.stderr_of(&d).len();
    let (icmp0, ticks0, t0) = (lab.icmp_counter("rtr", "InMsgs"), cpu_ticks(pid), Instant::now());
    let mut flood = lab.spawn_in(
        "inet",
        "python3",
        &[script.to_str().unwrap(), &ident, &FLOOD_SECONDS.to_string(), &FLOOD_RATE.to_string(), &dsts],
    );
    let mut off = Vec::new();
    let mut samples = 0;
    let status = loop {
        if let Some(st) = flood.try_wait().unwrap() {
            break st;
        }
        let (a, l) = (route_dev(&lab, &[]), route_dev(&lab, &["from", common::lab::LAN_CLIENT, "iif", "lan0"]));
        samples += 1;
        if a != "wan1" || l != "wan1" {
            off.push(format!("{:?}: active {a}, lan {l}", t0.elapsed()));
        }
        assert!(t0.elapsed() < Duration::from_secs(FLOOD_SECONDS + 30), "flood.py does not end");
        std::thread::sleep(Duration::from_millis(100));
    };
    let (icmp1, ticks1, wall) = (lab.icmp_counter("rtr", "InMsgs"), cpu_ticks(pid), t0.elapsed());
    let report = lab.stderr_of(&flood);
    let out = lab.stdout_of(&flood);
    assert!(status.success(), "flood.py: {report}{out}");
    let arrived = icmp1 - icmp0;
    let tck = clk_tck();
    let cpu_ms = ticks1.saturating_sub(ticks0) * 1000 / tck;
    eprintln!(
        "{} {arrived} ICMP messages reached rtr; daemon CPU {cpu_ms} ms in {:.1} s \
         ({:.0} ms per minute; one tick = {} ms; a shared machine)",
        out.trim(),
        wall.as_secs_f64(),
        cpu_ms as f64 * 60.0 / wall.as_secs_f64(),
        1000 / tck
    );
    assert!(
        arrived >= u64::from(FLOOD_RATE) * FLOOD_SECONDS / 2,
        "the flood did not reach the router: {arrived} ICMP messages ({out})"
    );

    let log = lab.stderr_of(&d);
    let during = &log[log0..];
    assert!(!during.contains(" -> ") && !during.contains("traffic"), "the flood changed a health decision:\n{during}");
    assert!(off.is_empty(), "traffic left wan1 during the flood ({samples} samples): {off:?}");

    let exit = lab.terminate(&mut d);
    assert!(exit.success(), "daemon exited with {exit}:\n{}", lab.stderr_of(&d));
    assert_eq!(lab.snapshot(), before, "rtr's rules and routes differ from before the start");
}
