//! Timelines of `ubus call dualwan probe` in simulated time: the core's on-demand round and
//! the real `ubus::Session` answering it later, run by the binary's interpreter against
//! the scripted ubusd. Each reply is read as `ubus call` prints it (JSON).

mod sim;

use dualwan::health::Status;
use dualwan::route::Family;
use dualwan::time::{Duration, Instant};
use dualwan::wire::ubus::{STATUS_INVALID_ARGUMENT, STATUS_NOT_FOUND, STATUS_NO_MEMORY, STATUS_OK};
use serde_json::{json, Value};
use sim::{config, tcp_config, Sim};

/// A router with both lines online and the daemon registered on the scripted ubusd.
fn settle(config: dualwan::config::Config) -> Sim {
    let mut s = Sim::with_ubus(config);
    s.run_for(Duration::from_secs(3));
    assert!(s.session().is_ready());
    assert_eq!(s.d.health(0, Family::V4).status(), Status::Online, "{:#?}", s.logs);
    s
}

/// The replies so far: (when, status, data as JSON).
fn replies(s: &mut Sim) -> Vec<(Instant, u32, Value)> {
    let u = s.ubusd();
    let data = u.replies.iter().map(|(st, d)| (*st, serde_json::from_str(d).unwrap_or(Value::Null)));
    u.replied_at.iter().zip(data).map(|(at, (st, d))| (*at, st, d)).collect()
}

/// Calls `probe` on `interface` now, as `ubus call dualwan probe` would.
fn call(s: &mut Sim, seq: u16, interface: Option<&str>) {
    let now = s.now;
    s.ubusd().call(now, seq, "probe", interface);
}

#[test]
fn a_probe_is_answered_when_every_probe_is_answered_or_timed_out() {
    let mut s = settle(config());
    // 203.0.113.2 went away; the others and the gateway answer after the line's 8 ms.
    s.lines[0].silent.push("203.0.113.2".parse().unwrap());
    let t0 = s.now;
    let sent = s.probes;
    call(&mut s, 7, Some("wan"));
    s.run_for(Duration::from_millis(400));
    assert!(replies(&mut s).is_empty(), "the silent target may still answer until `timeout`");
    s.run_for(Duration::from_millis(200));
    let got = replies(&mut s);
    assert_eq!(got.len(), 1, "{got:?}");
    let (at, status, reply) = &got[0];
    assert_eq!(*status, STATUS_OK);
    assert_eq!(*at, t0 + Duration::from_millis(500), "judged at `timeout` after the call");
    assert_eq!(
        *reply,
        json!({
            "interface": "wan",
            "probes": [
                { "ip": "203.0.113.1", "kind": "target", "method": "icmp", "answered": true, "rtt": 8.0 },
                { "ip": "203.0.113.2", "kind": "target", "method": "icmp", "answered": false, "error": "timeout" },
                { "ip": "203.0.113.3", "kind": "target", "method": "icmp", "answered": true, "rtt": 8.0 },
                { "ip": "192.0.2.1", "kind": "gateway", "method": "icmp", "answered": true, "rtt": 8.0 },
            ]
        })
    );
    assert!(s.probes - sent >= 4, "the round's four probes went out");
    // The silent target's steady probes make the health confirm (its own doing); the
    // other targets keep the line up.
    assert!(s.d.health(0, Family::V4).is_up());
}

#[test]
fn a_round_that_is_all_answered_ends_at_the_last_answer() {
    let mut s = settle(config());
    let t0 = s.now;
    call(&mut s, 8, Some("wanb"));
    s.run_for(Duration::from_millis(100));
    let got = replies(&mut s);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, t0 + Duration::from_millis(30), "wanb's RTT, not its timeout");
    let probes = got[0].2["probes"].as_array().unwrap().clone();
    assert_eq!(probes.len(), 4);
    assert!(probes.iter().all(|p| p["answered"] == json!(true) && p["rtt"] == json!(30.0)), "{probes:?}");
    assert_eq!(probes[3]["ip"], "192.0.2.9", "wanb's gateway");
}

#[test]
fn tcp_targets_say_their_port_and_error_and_the_gateway_is_pinged() {
    let mut s = settle(tcp_config());
    s.lines[0].syn_rejected = true;
    call(&mut s, 9, Some("wan"));
    s.run_for(Duration::from_millis(600));
    let got = replies(&mut s);
    assert_eq!(got.len(), 1, "{got:?}");
    let probes = got[0].2["probes"].as_array().unwrap().clone();
    assert_eq!(
        probes[0],
        json!({ "ip": "203.0.113.1", "kind": "target", "method": "tcp", "port": 443, "answered": false,
                "error": "EHOSTUNREACH: No route to host" })
    );
    assert_eq!(
        probes[3],
        json!({ "ip": "192.0.2.1", "kind": "gateway", "method": "icmp", "answered": true, "rtt": 8.0 })
    );
}

#[test]
fn unknown_interfaces_missing_arguments_and_links_down_are_answered_at_once() {
    let mut s = settle(config());
    let t0 = s.now;
    call(&mut s, 10, Some("lte"));
    call(&mut s, 11, None);
    s.set_carrier(1, false);
    s.drain();
    call(&mut s, 12, Some("wanb"));
    s.run_for(Duration::from_millis(1));
    let got = replies(&mut s);
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got.iter().all(|r| r.0 == t0), "all at once");
    assert_eq!(got[0].1, STATUS_NOT_FOUND);
    assert_eq!(got[1].1, STATUS_INVALID_ARGUMENT);
    assert_eq!(
        (got[2].1, &got[2].2),
        (STATUS_OK, &json!({ "interface": "wanb", "probes": [], "error": "carrier lost" }))
    );
}

#[test]
fn calls_during_a_round_join_it_and_rounds_of_a_wan_are_an_interval_apart() {
    let mut s = settle(config());
    let interval = s.d.config().wans[0].interval;
    let t0 = s.now;
    let sent = s.probes;
    // A flood of calls at once: one round, every caller answered with it; the ninth finds
    // the 8 places for waiting calls taken and is told at once.
    for seq in 20..29 {
        call(&mut s, seq, Some("wan"));
    }
    s.run_for(Duration::from_millis(20));
    let got = replies(&mut s);
    assert_eq!(got.len(), 9, "{got:?}");
    assert_eq!((got[0].0, got[0].1), (t0, STATUS_NO_MEMORY));
    let joined = &got[1..];
    assert!(joined.iter().all(|r| (r.0, r.1) == (t0 + Duration::from_millis(8), STATUS_OK) && r.2 == joined[0].2));
    assert_eq!(joined[0].2["probes"].as_array().map(Vec::len), Some(4));
    let round = s.probes - sent;
    assert!(round <= 4 + 2, "one round (4 probes, and maybe a steady probe): {round}");
    // Right after it ended: the next round waits for `interval` after the first one's start.
    call(&mut s, 30, Some("wan"));
    s.run_for(Duration::from_millis(500));
    let got = replies(&mut s);
    assert_eq!(got.len(), 10);
    assert_eq!(got[9].0, t0 + interval + Duration::from_millis(8), "paced: {got:?}");
}

#[test]
fn a_reload_ends_a_round_with_its_reason() {
    let mut s = settle(config());
    s.lines[0].silent.push("203.0.113.2".parse().unwrap());
    call(&mut s, 40, Some("wan"));
    s.run_for(Duration::from_millis(100));
    let now = s.now;
    s.d.reload(now, config());
    s.drain();
    s.run_for(Duration::from_millis(1));
    let got = replies(&mut s);
    assert_eq!(got.len(), 1, "{got:?}");
    let probes = got[0].2["probes"].as_array().unwrap().clone();
    assert_eq!(probes[1]["error"], "configuration reloaded");
    assert_eq!(probes[0]["answered"], true);
}

/// Runs `s` for `d` in 50 ms steps, calling `probe` on both WANs at each step if `calls`.
fn run_calling(s: &mut Sim, d: Duration, calls: bool) {
    let end = s.now + d;
    let mut seq = 100;
    while s.now < end {
        if calls {
            call(s, seq, Some("wan"));
            call(s, seq + 1, Some("wanb"));
            seq = seq.wrapping_add(2);
        }
        s.run_for(Duration::from_millis(50));
    }
}

#[test]
fn probe_calls_change_nothing_the_health_judges() {
    // Two identical routers; on both, one of wanb's targets is silent, so its health
    // confirms now and then. One is probed from ubus every 50 ms for a minute, the other
    // is left alone. (No random loss: the on-demand probes would draw from the same
    // generator and shift the steady probes' losses.)
    let mut quiet = settle(config());
    let mut probed = settle(config());
    for s in [&mut quiet, &mut probed] {
        s.lines[1].silent.push("203.0.113.3".parse().unwrap());
    }
    run_calling(&mut quiet, Duration::from_secs(60), false);
    run_calling(&mut probed, Duration::from_secs(60), true);
    let rounds = replies(&mut probed).len();
    assert!(rounds > 200, "the calls were answered: {rounds}");
    for wan in 0..2 {
        let (a, b) = (quiet.d.health(wan, Family::V4), probed.d.health(wan, Family::V4));
        assert_eq!(a.status(), b.status(), "WAN {wan}");
        assert_eq!(a.transitions(), b.transitions(), "WAN {wan}: no switch");
        assert_eq!(a.confirmations(), b.confirmations(), "WAN {wan}: no confirmation of their own");
        assert_eq!(a.ignored(), b.ignored(), "WAN {wan}: no answer of theirs reached the health");
        for t in 0..3 {
            assert_eq!(a.target(t).probes(), b.target(t).probes(), "WAN {wan} target {t}: not steady probes");
            assert_eq!(a.target(t).avg_rtt(), b.target(t).avg_rtt(), "WAN {wan} target {t}: no RTT samples");
        }
    }
    assert!(probed.d.health(1, Family::V4).confirmations() > 0, "the silent target made the health confirm");
    assert_eq!(quiet.egress(), probed.egress());
    assert_eq!(quiet.events.len(), probed.events.len(), "no event of their own");
}

#[test]
fn a_reload_closes_the_tcp_probes_its_round_still_waits_for() {
    let mut s = settle(tcp_config());
    s.lines[0].silent.push("203.0.113.2".parse().unwrap());
    call(&mut s, 50, Some("wan"));
    s.run_for(Duration::from_millis(100));
    let in_flight = |s: &Sim| s.tcp_in_flight.iter().filter(|p| p.token & 0x8000 != 0).count();
    assert_eq!(in_flight(&s), 1, "the silent target's on-demand SYN waits");
    let cancels = s.tcp_cancels;
    let now = s.now;
    s.d.reload(now, tcp_config());
    s.drain();
    assert_eq!(in_flight(&s), 0);
    assert_eq!(s.tcp_cancels, cancels + 1);
    s.run_for(Duration::from_millis(1));
    let got = replies(&mut s);
    assert_eq!(got[0].2["probes"][1]["error"], "configuration reloaded");
}
