//! Timelines of the daemon's ubus conversation in simulated time: the core and its real
//! `ubus::Session`, run by the binary's interpreter, against the scripted ubusd of
//! `sim::ubusd` (ubusd's side in the recorded bytes of `tests/vectors/ubus/`). A ubusd
//! restart, a slow netifd and a bad message are timelines here, not lab runs.

mod sim;

use dualwan::health::Status;
use dualwan::netifd::NetifdStatus;
use dualwan::route::Family;
use dualwan::time::Duration;
use dualwan::ubus::{State, BACKOFF_MIN, REQUEST_TIMEOUT};
use serde_json::Value;
use sim::{network_config, Sim};

/// What the daemon says to ubusd from connecting to knowing its netifd interface.
const CONVERSATION: [&str; 6] = [
    "HELLO",
    "ADD_OBJECT dualwan",
    "ADD_OBJECT anonymous",
    "listen network.interface",
    "LOOKUP network.interface.wan",
    "status wan",
];

/// `wan` follows netifd's `wan` over ubus; registered, subscribed, answered, online.
fn settle() -> Sim {
    let mut s = Sim::with_ubus(network_config());
    assert_eq!(s.asks, ["wan"], "asked at start, before ubus is up");
    assert!(s.ubusd().log.is_empty(), "the ask waits for the registration");
    s.run_for(Duration::from_secs(3));
    assert!(s.session().is_ready());
    assert_eq!(s.ubusd().log, CONVERSATION);
    assert_eq!(s.asks, ["wan"; 2], "asked again once registered");
    assert_eq!(s.d.device(0), "wan1");
    assert_eq!(s.d.health(0, Family::V4).status(), Status::Online, "{:#?}", s.logs);
    assert_eq!(s.egress(), Some("wan1"));
    s
}

/// The log lines ending in `text`.
fn logged<'a>(s: &'a Sim, text: &str) -> Vec<&'a String> {
    s.logs.iter().filter(|l| l.ends_with(text)).collect()
}

#[test]
fn a_ubusd_restart_reconnects_after_the_backoff_and_the_core_asks_netifd_again() {
    let mut s = settle();
    let (said, asked) = (s.ubusd().log.len(), s.asks.len());

    // ubusd exits: EOF on our connection, and no socket for 200 ms.
    let t0 = s.now;
    s.ubusd().stop();
    s.drain();
    assert_eq!(s.session().state(), State::Disconnected { retry_at: t0 + BACKOFF_MIN });
    assert_eq!(logged(&s, "ubus recv: ubusd closed the connection; reconnecting").len(), 1);
    s.run_for(Duration::from_millis(200));
    assert!(!s.session().has_connection());
    s.ubusd().start();

    // 0.5 s after the EOF: connect, HELLO, register, subscribe, Ready, and the core asks.
    s.run_for(Duration::from_secs(1));
    assert_eq!(s.ubusd().registered_at[1..], [t0 + BACKOFF_MIN]);
    assert_eq!(s.ubusd().log[said..], CONVERSATION);
    assert_eq!(s.asks.len(), asked + 1, "one ask, after the registration");
    assert_eq!(logged(&s, "ubus: listening for network.interface events").len(), 2);
    assert_eq!(s.egress(), Some("wan1"), "traffic never moved");

    // Away longer: the failed attempt is reported once, the backoff doubles, and the
    // object is back 0.5 s after a success resets it.
    let t1 = s.now;
    s.ubusd().stop();
    s.drain();
    s.run_for(Duration::from_secs(3));
    s.ubusd().start();
    s.run_for(Duration::from_secs(2));
    // Attempts at +0.5 s (refused, backoff 1 s), +1.5 s (refused, 2 s), +3.5 s: back.
    assert_eq!(s.ubusd().registered_at[2..], [t1 + Duration::from_millis(3500)]);
    assert_eq!(logged(&s, "ubus connect: ECONNREFUSED: Connection refused; retrying in the background").len(), 1);
    assert_eq!(s.asks.len(), asked + 2);
}

#[test]
fn a_slow_netifd_answer_is_given_up_after_the_request_timeout_and_changes_nothing() {
    let mut s = settle();
    // netifd says wan went down, but answers `status` 6 s late.
    s.ubusd().netifd_delay = Duration::from_secs(6);
    let asked = s.now;
    s.netifd_says("wan", NetifdStatus::DOWN);
    assert_eq!(s.ubusd().log[CONVERSATION.len()..], ["LOOKUP network.interface.wan", "status wan"]);
    s.run_for(Duration::from_secs(7));
    let gave_up = format!(
        "{:>7} ubus call network.interface.wan status: no answer within 5 s",
        (asked + REQUEST_TIMEOUT).as_micros() / 1000
    );
    assert!(s.logs.contains(&gave_up), "{:#?}", s.logs);
    // The answer that came at 6 s answered nothing outstanding: wan is still taken as up.
    assert_eq!(s.egress(), Some("wan1"));
    assert!(s.session().is_ready(), "a slow netifd costs no reconnection");
    // In time again: the next event's answer takes effect at once.
    s.ubusd().netifd_delay = Duration::ZERO;
    s.netifd_says("wan", NetifdStatus::DOWN);
    assert_eq!(s.egress(), Some("wan2"));
    assert_eq!(s.d.health(0, Family::V4).reason().to_string(), "interface down (netifd)");
}

#[test]
fn an_oversized_message_resets_the_connection_and_registration_follows_after_the_backoff() {
    let mut s = settle();
    let t0 = s.now;
    s.ubusd().send_oversized(t0);
    s.drain();
    assert_eq!(s.session().state(), State::Disconnected { retry_at: t0 + BACKOFF_MIN });
    assert_eq!(s.ubusd().log.last().map(String::as_str), Some("closed"), "we closed it");
    let reset = "ubus recv: malformed message (65544 bytes, more than the 65536 accepted); reconnecting";
    assert_eq!(logged(&s, reset).len(), 1, "{:#?}", s.logs);
    s.run_for(Duration::from_secs(1));
    assert_eq!(s.ubusd().registered_at[1..], [t0 + BACKOFF_MIN]);
    assert!(s.session().is_ready());
    assert_eq!(s.egress(), Some("wan1"));
}

#[test]
fn failover_and_failback_reach_ubus_listeners_with_their_reasons_and_calls_see_the_core() {
    let mut s = settle();
    let json = |text: &str| -> Value { serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}")) };
    s.lines[0].upstream_works = false;
    s.run_for(Duration::from_secs(3));
    let events: Vec<(String, Value)> = s.ubusd().events.iter().map(|(n, d)| (n.clone(), json(d))).collect();
    let moved = events.iter().find(|(n, e)| n == "dualwan.active" && e["active"] == "wanb").expect("failover event");
    assert_eq!(moved.1["previous"], "wan");
    assert_eq!(moved.1["family"], "ipv4");
    assert_eq!(moved.1["reason"], "gateway answers, targets unreachable (0/3 answered, need 1)");
    let offline = events.iter().find(|(n, e)| n == "dualwan.interface" && e["status"] == "offline").expect("offline");
    assert_eq!((&offline.1["interface"], &offline.1["device"]), (&Value::from("wan"), &Value::from("wan1")));

    // `ubus call dualwan status`, as ubusd forwards it: answered from the core's state.
    let now = s.now;
    s.ubusd().call_status(now, 0x77);
    s.drain();
    let (status, reply) = s.ubusd().replies.last().cloned().expect("a reply");
    assert_eq!(status, 0);
    let reply = json(&reply);
    assert_eq!(
        (reply["active"].as_str(), reply["interfaces"]["wan"]["status"].as_str()),
        (Some("wanb"), Some("offline"))
    );

    s.lines[0].upstream_works = true;
    s.run_for(Duration::from_secs(15));
    let back = s.ubusd().events.iter().map(|(n, d)| (n.clone(), json(d))).rfind(|(n, _)| n == "dualwan.active");
    let (_, back) = back.expect("failback event");
    assert_eq!((back["active"].as_str(), back["previous"].as_str()), (Some("wan"), Some("wanb")));
    assert_eq!(back["reason"], "recovered");
}
