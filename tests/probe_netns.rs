//! `ubus call dualwan probe` end to end, on the real OpenWrt ubusd and `ubus` command
//! (`../shared/owrt`): `dualwan run` in the lab's `rtr` namespace, `wan` tracking two
//! targets of which ISP 1 drops the echo requests to one (nftables), `wanb` tracking all
//! three. The real `ubus call` waits for the deferred reply and prints each probe's answer
//! and RTT; a WAN without carrier is answered at once with its reason; the errors a caller
//! can make get their statuses. Skipped without `../shared/owrt`; needs root
//! (`DUALWAN_SKIP_NETNS=1` skips it).

mod common;

use common::config::Config;
use common::daemon::BIN;
use common::lab::{lab_or_skip, wait_until};
use common::ubusd::Ubusd;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// ISP 1 drops the echo requests it forwards to 203.0.113.2 (a table of the test's own in
/// the lab's namespace, gone with it).
const DROP_ONE_TARGET: &str = "table inet dwprobe {
    chain forward {
        type filter hook forward priority -5; policy accept;
        ip daddr 203.0.113.2 icmp type echo-request drop
    }
}
";

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

#[test]
fn ubus_call_probe_answers_each_target_with_its_rtt_or_error() {
    let Some(lab) = lab_or_skip("probe") else { return };
    let sock = lab.dir().join("ubus.sock");
    let Some(ubusd) = Ubusd::start(&sock) else { return };
    let nft = lab.dir().join("drop-one-target.nft");
    std::fs::write(&nft, DROP_ONE_TARGET).unwrap();
    lab.run("isp1", &["nft", "-f", nft.to_str().unwrap()]);

    let cfg = Config::new()
        .interface("wan")
        .device("wan1")
        .metric(10)
        .track(&["203.0.113.1", "203.0.113.2"])
        .option("timeout 1")
        .interface("wanb")
        .device("wan2")
        .metric(20)
        .track(&["203.0.113.1", "203.0.113.2", "203.0.113.3"])
        .write(&lab);
    let args = ["run", "-c", &cfg, "--log", "stderr", "--ubus-socket", sock.to_str().unwrap()];
    let mut d = lab.spawn_in("rtr", BIN, &args);
    // wan's first round waits out the dropped target: wanb is online first.
    let up = wait_until(Duration::from_secs(5), || {
        let log = lab.stderr_of(&d);
        log.contains("wan: connecting -> online") && log.contains("wanb: connecting -> online")
    });
    assert!(up.is_some(), "{}", lab.stderr_of(&d));
    assert!(ubusd.wait_for(&["dualwan"], 3), "no registration:\n{}", lab.stderr_of(&d));
    let listed = ubusd.ubus(&["-v", "list", "dualwan"]);
    assert!(text(&listed.stdout).contains("\"probe\":{\"interface\":\"String\"}"), "{}", text(&listed.stdout));

    // One target answers, the other is dropped: `ubus call` waits for the round's end, one
    // `timeout` (1 s) after the call, and prints both and the gateway.
    let started = Instant::now();
    let (raw, v) = ubusd.call_json("dualwan", "probe", Some(r#"{"interface":"wan"}"#));
    let took = started.elapsed();
    eprintln!("--- ubus call dualwan probe (took {took:?}) ---\n{raw}");
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(5), "{took:?}");
    assert_eq!(v["interface"], "wan");
    let probes = v["probes"].as_array().expect("probes").clone();
    assert_eq!(probes.len(), 3, "{raw}");
    let (answered, dropped, gateway) = (&probes[0], &probes[1], &probes[2]);
    assert_eq!(
        (&answered["ip"], &answered["kind"], &answered["method"]),
        (&json!("203.0.113.1"), &json!("target"), &json!("icmp"))
    );
    assert_eq!(answered["answered"], true);
    let rtt = answered["rtt"].as_f64().expect("an rtt");
    assert!(rtt > 0.0 && rtt < 500.0, "{rtt}");
    assert!(answered.get("error").is_none());
    assert_eq!(
        *dropped,
        json!({ "ip": "203.0.113.2", "kind": "target", "method": "icmp", "answered": false, "error": "timeout" })
    );
    assert_eq!(
        (&gateway["ip"], &gateway["kind"], &gateway["answered"]),
        (&json!("192.0.2.1"), &json!("gateway"), &json!(true))
    );
    assert!(gateway["rtt"].as_f64().is_some_and(|r| r > 0.0));
    assert!(lab.stderr_of(&d).contains("wan: probing now (ubus call), 3 probes"));

    // wanb's three targets answer over ISP 2: the round ends with its last answer.
    let started = Instant::now();
    let (_, v) = ubusd.call_json("dualwan", "probe", Some(r#"{"interface":"wanb"}"#));
    assert!(started.elapsed() < Duration::from_millis(500), "{:?}", started.elapsed());
    let probes = v["probes"].as_array().unwrap();
    assert_eq!(probes.len(), 4);
    assert!(probes.iter().all(|p| p["answered"] == true && p["rtt"].as_f64().is_some()), "{v}");

    // The errors a caller can make: no such interface, no argument.
    let out = ubusd.call("dualwan", "probe", Some(r#"{"interface":"lte"}"#));
    assert_eq!(out.status.code(), Some(252), "NOT_FOUND: {}", text(&out.stderr));
    let out = ubusd.call("dualwan", "probe", Some("{}"));
    assert_eq!(out.status.code(), Some(254), "INVALID_ARGUMENT: {}", text(&out.stderr));

    // Without carrier wanb cannot be probed: answered at once, with status's reason.
    lab.carrier_down(2);
    let gone = wait_until(Duration::from_secs(3), || lab.stderr_of(&d).contains("wanb: online -> no_link"));
    assert!(gone.is_some(), "{}", lab.stderr_of(&d));
    let started = Instant::now();
    let (_, v) = ubusd.call_json("dualwan", "probe", Some(r#"{"interface":"wanb"}"#));
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(v, json!({ "interface": "wanb", "probes": [], "error": "carrier lost" }));
    let (_, status) = ubusd.call_json("dualwan", "status", Some(r#"{"interface":"wanb"}"#));
    let reason: &Value = &status["interfaces"]["wanb"]["reason"];
    assert_eq!(reason, "carrier lost", "the same words as status");

    // The daemon never counted the on-demand probes: wan stayed online throughout.
    assert!(!lab.stderr_of(&d).contains("wan: online ->"), "{}", lab.stderr_of(&d));
    assert_eq!(lab.active(), "wan1");
    assert!(lab.terminate(&mut d).success(), "{}", lab.stderr_of(&d));
}
