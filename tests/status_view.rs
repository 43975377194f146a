//! The status view after real transitions in the simulated router: keys, values and
//! history as `ubus call dualwan status` will show them.

mod sim;

use dualwan::status::{write_status, Blob, StatusError};
use dualwan::time::Duration;
use dualwan::wire::blob::Writer;
use serde_json::Value;

/// The status as ubus answers it, read as JSON the way `dualwan status --json` prints it.
fn status(s: &sim::Sim, only: Option<&str>) -> Result<Value, StatusError> {
    let text = s.status_json(only)?;
    Ok(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")))
}

#[test]
fn status_shows_state_reason_targets_and_history() {
    let mut s = sim::Sim::new(sim::config());
    s.run_for(Duration::from_secs(5));
    s.lines[0].upstream_works = false;
    s.run_for(Duration::from_secs(3));
    let v = status(&s, None).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["version", "uptime", "mode", "active", "interfaces", "history"]);
    assert_eq!(v["active"], "wanb");
    assert_eq!(v["uptime"], 8);
    let wan = &v["interfaces"]["wan"];
    assert_eq!(wan["status"], "offline");
    assert_eq!(wan["active"], false);
    assert_eq!(wan["address"], "192.0.2.2");
    assert_eq!(wan["gateway"], "192.0.2.1");
    assert_eq!(wan["reason"], "gateway answers, targets unreachable (0/3 answered, need 1)");
    assert!(wan["offline"].as_u64().unwrap() >= 1);
    assert_eq!(wan["online"], 0);
    assert_eq!(wan["track_ip"][0]["ip"], "203.0.113.1");
    assert_eq!(wan["track_ip"][0]["status"], "down");
    assert!(wan["track_ip"][0]["packetloss"].as_u64().unwrap() > 0);
    assert_eq!(wan["gateway_probe"]["status"], "up");
    let wanb = &v["interfaces"]["wanb"];
    assert_eq!(wanb["status"], "online");
    assert_eq!(wanb["track_ip"][1]["latency"], 30.0, "the simulated line's RTT");
    assert_eq!(wanb["track_ip"][1]["packetloss"], 0);
    let newest = &v["history"][0];
    assert_eq!((newest["interface"].as_str(), newest["to"].as_str()), (Some("wan"), Some("offline")));
}

#[test]
fn one_interface_or_not_found() {
    let mut s = sim::Sim::new(sim::config());
    s.run_for(Duration::from_secs(2));
    let v = status(&s, Some("wanb")).unwrap();
    let names: Vec<&String> = v["interfaces"].as_object().unwrap().keys().collect();
    assert_eq!(names, ["wanb"]);
    assert_eq!(status(&s, Some("nosuch")).unwrap_err(), StatusError::NotFound);
}

#[test]
fn a_small_buffer_is_full_not_a_panic() {
    let mut s = sim::Sim::new(sim::config());
    s.run_for(Duration::from_secs(2));
    let mut small = [0u8; 256];
    let mut reply = Writer::new(&mut small);
    assert_eq!(write_status(&s.d, s.now, None, &mut Blob::new(&mut reply)), Err(StatusError::Full));
}

#[test]
fn flushed_connections_are_counted_per_interface_after_transitions() {
    let mut s = sim::Sim::new(sim::config());
    s.run_for(Duration::from_secs(2));
    s.conntrack = vec![("192.0.2.2".parse().unwrap(), 3)];
    s.lines[0].upstream_works = false;
    s.run_for(Duration::from_secs(3));
    let v = status(&s, None).unwrap();
    let wan = v["interfaces"]["wan"].as_object().unwrap();
    let keys: Vec<&str> = wan.keys().map(String::as_str).collect();
    let at = keys.iter().position(|k| *k == "transitions").unwrap();
    assert_eq!(keys[at + 1], "flushed", "{keys:?}");
    assert_eq!(wan["flushed"], 3);
    assert_eq!(v["interfaces"]["wanb"]["flushed"], 0);
}

/// The recorded dual-stack replies the LuCI tests render were written by hand from the
/// documented layout: the daemon's real output must have the same keys in the same order
/// (top level, an interface without `option network`, a target, a gateway probe, a history
/// entry), so the page is tested against what it will really get.
#[test]
fn the_luci_dual_stack_fixture_has_the_daemons_keys() {
    let mut s = sim::Sim::new(sim::dual_config());
    s.run_for(Duration::from_secs(3));
    s.lines[0].upstream6_works = false;
    s.run_for(Duration::from_secs(3));
    let real = status(&s, None).unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/luci/replies/dualstack-v6-failover.json");
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&real), keys(&fixture), "top level");
    let real_wan = &real["interfaces"]["wanb"];
    let fixture_wan = fixture["interfaces"].as_object().unwrap().values().find(|w| w.get("network").is_none()).unwrap();
    assert_eq!(keys(real_wan), keys(fixture_wan), "an interface");
    for probe in ["gateway_probe", "gateway_probe6"] {
        assert_eq!(keys(&real_wan[probe]), keys(&fixture_wan[probe]), "{probe}");
    }
    assert_eq!(keys(&real_wan["track_ip"][0]), keys(&fixture_wan["track_ip"][0]), "a target");
    assert_eq!(keys(&real["history"][0]), keys(&fixture["history"][0]), "a history entry");
    // And the IPv6 failover itself reads as the fixture says it does.
    assert_eq!((real["active"].as_str(), real["active6"].as_str()), (Some("wan"), Some("wanb")));
    assert_eq!(real["interfaces"]["wan"]["status6"], "offline");
}

/// The same for the recorded reply of a WAN probing with TCP beside one that pings: an
/// interface, a TCP target, an ICMP target and the gateway probe have the daemon's keys.
#[test]
fn the_luci_tcp_fixture_has_the_daemons_keys() {
    let mut s = sim::Sim::new(sim::tcp_config());
    s.run_for(Duration::from_secs(3));
    let real = status(&s, None).unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/luci/replies/tcp-probes.json");
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&real), keys(&fixture), "top level");
    let (tcp, icmp) = (&real["interfaces"]["wan"], &real["interfaces"]["wanb"]);
    assert_eq!(keys(icmp), keys(&fixture["interfaces"]["wan"]), "an interface");
    assert_eq!(keys(&tcp["track_ip"][0]), keys(&fixture["interfaces"]["lte"]["track_ip"][0]), "a TCP target");
    assert_eq!(tcp["track_ip"][0]["port"], 443);
    assert_eq!(keys(&icmp["track_ip"][0]), keys(&fixture["interfaces"]["wan"]["track_ip"][0]), "an ICMP target");
    // The fixture's gateway does not answer: it has no measurements.
    let measured = ["latency", "jitter", "last_rtt"];
    let unmeasured: Vec<String> =
        keys(&tcp["gateway_probe"]).into_iter().filter(|k| !measured.contains(&k.as_str())).collect();
    assert_eq!(unmeasured, keys(&fixture["interfaces"]["lte"]["gateway_probe"]), "a gateway probe");
    assert_eq!(tcp["gateway_probe"]["method"], "icmp");
    assert_eq!(keys(&real["history"][0]), keys(&fixture["history"][0]), "a history entry");
}
