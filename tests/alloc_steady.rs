//! Steady state allocates nothing: probe rounds (ICMP and TCP), replies, judging, timers
//! and the reconcile check run on fixed-capacity storage. A counting global allocator measures the
//! allocations made inside the core's calls while the simulated router runs for a minute.

mod common;
mod sim;

use common::alloc::{allocations, Counting};
use dualwan::health::STANDBY_EVERY;
use dualwan::route::Family;
use dualwan::time::{Duration, Instant};
use dualwan::ubus::{Answer, Session, DUALWAN};

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn probe_rounds_allocate_nothing_in_steady_state() {
    let mut s = sim::Sim::new(sim::config());
    s.alloc_meter = allocations;
    s.run_for(Duration::from_secs(3)); // start-up may allocate; not measured
    let probes_before = s.probes;
    // The meter itself must see an allocation made inside a core call.
    s.core_allocs = 0;
    s.core(|_, _| drop(std::hint::black_box(Box::new(1u64))));
    assert_eq!(s.core_allocs, 1, "the counting allocator is not counting");
    s.core_allocs = 0;
    s.run_for(Duration::from_secs(60));
    let probes = s.probes - probes_before;
    // A healthy WAN's round is one probe to one target (the gateway now and then).
    let rounds = probes;
    // Two WANs: the active one's probe every interval, the standby's every STANDBY_EVERY.
    let per_interval = 60_000_000 / sim::config().wans[0].interval.as_micros();
    let expected = per_interval + per_interval / u64::from(STANDBY_EVERY);
    assert!(rounds >= expected, "only {rounds} rounds ran, {expected} expected");
    println!("allocations per round: {}", s.core_allocs / rounds);
    println!("allocations in {rounds} rounds: {}", s.core_allocs);
    assert_eq!(s.core_allocs, 0);
}

#[test]
fn a_failover_and_back_allocates_nothing_either() {
    let mut s = sim::Sim::new(sim::config());
    s.alloc_meter = allocations;
    s.run_for(Duration::from_secs(3));
    s.core_allocs = 0;
    s.lines[0].upstream_works = false;
    s.run_for(Duration::from_secs(3));
    assert_eq!(s.d.active(Family::V4), Some(1));
    s.lines[0].upstream_works = true;
    s.run_for(Duration::from_secs(15));
    assert_eq!(s.d.active(Family::V4), Some(0));
    assert_eq!(s.core_allocs, 0, "transitions, logs and route changes");
}

#[test]
fn a_wan_following_netifd_allocates_nothing_on_its_answers_and_events() {
    let mut s = sim::Sim::new(sim::network_config());
    s.alloc_meter = allocations;
    s.run_for(Duration::from_secs(3));
    s.core_allocs = 0;
    // A resync asks netifd; events ask again; a down and an up answer move traffic.
    s.run_for(Duration::from_secs(60));
    s.netifd_says("wan", dualwan::netifd::NetifdStatus::DOWN);
    assert_eq!(s.d.active(Family::V4), Some(1));
    let up = sim::netifd_up(&s.lines[0]);
    s.netifd_says("wan", up);
    s.run_for(Duration::from_secs(15));
    assert_eq!(s.d.active(Family::V4), Some(0));
    assert!(s.asks.len() >= 4, "{:?}", s.asks);
    assert_eq!(s.core_allocs, 0);
}

#[test]
fn dual_stack_rounds_and_an_ipv6_failover_allocate_nothing() {
    let mut s = sim::Sim::new(sim::dual_config());
    s.alloc_meter = allocations;
    s.run_for(Duration::from_secs(3));
    s.core_allocs = 0;
    let probes_before = s.probes;
    s.run_for(Duration::from_secs(30));
    // Two WANs and two families: the active WAN's probe every interval, the standby's
    // every STANDBY_EVERY.
    let per_interval = 30_000_000 / sim::dual_config().wans[0].interval.as_micros();
    let expected = 2 * (per_interval + per_interval / u64::from(STANDBY_EVERY));
    assert!(s.probes - probes_before >= expected, "both families probed: {} of {expected}", s.probes - probes_before);
    s.lines[0].upstream6_works = false;
    s.run_for(Duration::from_secs(3));
    assert_eq!((s.d.active(Family::V4), s.d.active(Family::V6)), (Some(0), Some(1)));
    s.lines[0].upstream6_works = true;
    s.run_for(Duration::from_secs(15));
    assert_eq!(s.d.active(Family::V6), Some(0));
    assert_eq!(s.core_allocs, 0);
}

/// `ubus call dualwan status` is answered from the core's state straight into the ubus
/// session's send queue: reading the call, writing the reply and handing it to the socket
/// allocate nothing (the session's buffers were allocated when it was made).
#[test]
fn a_status_call_over_ubus_allocates_nothing() {
    use dualwan::status::StatusAnswer;
    use sim::ubusd::vector;
    let mut s = sim::Sim::new(sim::dual_config());
    s.run_for(Duration::from_secs(3));
    let now = s.now;
    let mut answer = StatusAnswer { core: &s.d, now };
    let mut session = registered(now, &mut answer);
    // b05: the call as ubusd forwards it, to the object id b02 gave us.
    let call = vector("b05");
    let before = allocations();
    session.handle_bytes(now, &call, &mut answer);
    let written = transmit(&mut session, now, &mut answer);
    assert_eq!(allocations() - before, 0, "the call allocated");
    assert_eq!(session.calls(), 1);
    assert!(written > 500, "DATA with the whole status, then STATUS: {written} bytes");
}

/// Balance mode with a `config rule`: rounds, a WAN leaving the group and rejoining (group
/// replaces, the kernel dropping nexthops on carrier loss and the re-read that follows) and
/// the rule's fallback allocate nothing.
#[test]
fn balance_mode_and_rules_allocate_nothing() {
    let text = "config globals 'globals'\n\toption mode 'balance'\n\
        config interface 'wan'\n\toption device 'wan1'\n\toption weight '3'\n\tlist track_ip '203.0.113.1'\n\
        config interface 'wanb'\n\toption device 'wan2'\n\tlist track_ip '203.0.113.1'\n\
        config rule 'voip'\n\toption proto 'udp'\n\toption dest_port '5060,5061'\n\tlist use 'wanb'\n\tlist use 'wan'\n";
    let config = dualwan::config::load_str(text).0.expect("valid");
    let mut s = sim::Sim::new(config);
    s.alloc_meter = allocations;
    s.run_for(Duration::from_secs(3));
    assert_eq!(s.d.carriers(Family::V4).global.len(), 2);
    s.core_allocs = 0;
    s.run_for(Duration::from_secs(20));
    s.lines[1].upstream_works = false;
    s.run_for(Duration::from_secs(3));
    assert_eq!(s.d.carriers(Family::V4).global.len(), 1);
    s.lines[1].upstream_works = true;
    s.run_for(Duration::from_secs(15));
    s.set_carrier(0, false);
    s.run_for(Duration::from_secs(1));
    s.set_carrier(0, true);
    s.run_for(Duration::from_secs(15));
    assert_eq!(s.d.carriers(Family::V4).global.len(), 2, "{:#?}", s.logs);
    assert_eq!(s.core_allocs, 0);
}

/// `track_method tcp`: TCP probes started, answered, closed at their round's verdict and
/// refused by a firewall, a failover and the way back allocate nothing either.
#[test]
fn tcp_probes_allocate_nothing() {
    let mut s = sim::Sim::new(sim::tcp_config());
    s.lines[0].echo_filtered = true;
    s.alloc_meter = allocations;
    s.run_for(Duration::from_secs(3));
    s.core_allocs = 0;
    let tcp_before = s.tcp_probes;
    s.run_for(Duration::from_secs(60));
    // One WAN probes with TCP, a probe per interval.
    let expected = 60_000_000 / sim::tcp_config().wans[0].interval.as_micros();
    assert!(s.tcp_probes - tcp_before >= expected, "{} TCP probes, {expected} expected", s.tcp_probes - tcp_before);
    s.lines[0].upstream_works = false;
    s.run_for(Duration::from_secs(3));
    assert_eq!(s.d.active(Family::V4), Some(1));
    s.lines[0].upstream_works = true;
    s.run_for(Duration::from_secs(15));
    assert_eq!(s.d.active(Family::V4), Some(0));
    s.lines[0].syn_rejected = true;
    s.run_for(Duration::from_secs(3));
    assert_eq!(s.d.active(Family::V4), Some(1));
    assert!(s.tcp_cancels > 0);
    assert_eq!(s.core_allocs, 0);
}

/// `ubus call dualwan probe`: the on-demand rounds (started, joined, paced, judged) and
/// their reports allocate nothing in the core and the interpreter.
#[test]
fn probe_calls_allocate_nothing() {
    let mut s = sim::Sim::new(sim::config());
    s.alloc_meter = allocations;
    s.lines[0].silent.push("203.0.113.2".parse().unwrap()); // one probe times out
    s.run_for(Duration::from_secs(3));
    s.core_allocs = 0;
    let sent = s.probes;
    for _ in 0..100 {
        for wan in 0..2 {
            assert_eq!(s.core(|d, now| d.request_probe(now, wan)), Ok(()));
        }
        s.run_for(Duration::from_millis(200));
    }
    // 20 s of calls every 200 ms: paced to one round (4 probes) per WAN per interval.
    assert!(s.probes - sent > 400, "rounds ran: {}", s.probes - sent);
    assert_eq!(s.core_allocs, 0);
}

/// The deferred reply: the call is held in the session's fixed table and answered later
/// straight into its send queue, allocating nothing.
#[test]
fn a_deferred_probe_reply_allocates_nothing() {
    use dualwan::calls::CallAnswer;
    use dualwan::wire::ubus::{self as wire, MsgType};
    use sim::ubusd::vector;
    let mut s = sim::Sim::new(sim::config());
    s.run_for(Duration::from_secs(3));
    let now = s.now;
    let mut answer = CallAnswer { core: &mut s.d, now };
    let mut session = registered(now, &mut answer);
    // The call as ubusd forwards it, to the object id b02 gave us (b05's), built before
    // measuring.
    let object = u32::from_be_bytes(vector("b05")[16..20].try_into().unwrap());
    let mut call = vec![0u8; 256];
    let len = wire::emit_message(&mut call, MsgType::Invoke, 9, 0x1234, |w| {
        w.blob_u32(wire::ATTR_OBJID, object)?;
        w.blob_string(wire::ATTR_METHOD, "probe")?;
        let data = w.begin_blob(wire::ATTR_DATA)?;
        w.string("interface", "wan")?;
        w.end(data);
        Ok(())
    })
    .unwrap();
    let before = allocations();
    session.handle_bytes(now, &call[..len], &mut answer);
    assert!(session.poll_transmit().is_none(), "nothing answered yet");
    assert_eq!(session.deferred(), 1);
    let empty = |_: &mut dualwan::wire::blob::Writer<'_>| Ok(());
    assert_eq!(session.reply_deferred(0, &empty), 1);
    let written = session.poll_transmit().map_or(0, <[u8]>::len);
    assert_eq!(allocations() - before, 0, "the deferred call allocated");
    assert!(written > 40, "DATA and STATUS: {written} bytes");
    assert_eq!(session.deferred(), 0);
}

/// A session connected and registered as ubusd's side in the captures has it: HELLO, then
/// the ADD_OBJECT answer for our request 1 (what it writes meanwhile is sent).
fn registered(now: Instant, answer: &mut dyn Answer) -> Session {
    let mut session = Session::new(DUALWAN);
    session.handle_timeout(now);
    assert!(session.poll_connect());
    session.handle_connected(now);
    for bytes in [sim::ubusd::vector("a01"), sim::ubusd::vector("b02"), sim::ubusd::vector("b03")] {
        assert_eq!(session.handle_bytes(now, &bytes, answer), bytes.len());
    }
    transmit(&mut session, now, answer);
    assert!(session.is_ready(), "{session:?}");
    session
}

/// Hands everything the session queued to the "socket"; returns the bytes written.
fn transmit(session: &mut Session, now: Instant, answer: &mut dyn Answer) -> usize {
    let mut written = 0;
    while let Some(out) = session.poll_transmit() {
        let n = out.len();
        written += n;
        session.handle_transmitted(now, n, answer);
    }
    written
}
