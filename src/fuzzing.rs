//! Fuzz harness bodies: one function per input the daemon takes from outside, shared by
//! the cargo-fuzz targets in `fuzz/` and the corpus replay in `tests/fuzz_corpus.rs`, so
//! the fuzzer and `cargo test` run exactly the same code. Not part of the daemon's API.
//!
//! Each function takes arbitrary bytes and panics only when an invariant is broken: a
//! parser that panics, a printer whose output does not read back, or a core that emits a
//! change to a rule or route that is not its own. Panicking on such a finding is the point:
//! the fuzzer records the input and `tests/fuzz_corpus.rs` replays it.

use crate::config::{self, Config, FILE_MAX};
use crate::daemon::{Action, Daemon};
use crate::kernel::{DumpKind, KernelEvent};
use crate::route::Op;
use crate::time::{Duration, Instant};
use crate::ubus::{Answer, Session, DUALWAN};
use crate::wire::icmp::Icmp;
use crate::wire::{blob, blob_json, icmp, icmp6, netlink, rtnl, ubus};
use crate::{netifd, summary, uci};
use core::fmt::Write;
use core::net::{IpAddr, Ipv6Addr};

/// The config file: bytes → UTF-8 → `uci::parse` (+ `show`, `export`) → `config::load_str`.
///
/// Invariants: what `uci export` prints parses again to the same `uci show`; every error
/// names a line; a valid config printed by `dualwan check` loads again to the same config.
pub fn uci_config(data: &[u8]) {
    // `sys::config_file::load` refuses anything larger or not UTF-8 before parsing.
    if data.len() > FILE_MAX {
        return;
    }
    let Ok(text) = core::str::from_utf8(data) else { return };

    match uci::parse(text) {
        Ok(package) => {
            let (mut shown, mut exported) = (String::new(), String::new());
            package.show("dualwan", &mut shown).expect("show into a String");
            package.export("dualwan", &mut exported).expect("export into a String");
            for section in package.sections() {
                let _ = (section.ty(), section.name(), section.type_index(), section.line());
                for option in section.options() {
                    let _ = (option.name(), option.is_list(), option.line());
                    for (value, line) in option.values() {
                        let _ = (value.len(), line);
                    }
                }
            }
            // `uci export` output is a config file of its own: it must read back the same.
            // Except where libuci's own does not: it prints a section type unquoted (only
            // `'` escaped), so a type holding a quote, backslash, `#` or `;` (which
            // `uci_validate_type` allows) reads back differently there too.
            let special = |t: &str| t.contains(['\'', '"', '\\', '#', ';']);
            if package.sections().any(|s| special(s.ty())) {
                return config_checks(text);
            }
            let again = uci::parse(&exported).unwrap_or_else(|e| panic!("export does not parse: {e}\n{exported}"));
            let mut reshown = String::new();
            again.show("dualwan", &mut reshown).expect("show into a String");
            assert_eq!(shown, reshown, "export changes the package:\n{exported}");
        }
        Err(e) => {
            // libuci's own count may say 0; the physical line is what messages use.
            assert!(e.physical >= 1, "parse error without a line: {e}");
            // A quote never closed is blamed on a line at or above the one that failed.
            assert!((1..=e.physical).contains(&e.blamed_line()), "blamed line {}: {e}", e.blamed_line());
            let _ = e.to_string();
        }
    }

    config_checks(text);
}

/// `config::load_str` and what must hold of its result.
fn config_checks(text: &str) {
    let (config, report) = config::load_str(text);
    for problem in report.errors.iter().chain(&report.warnings) {
        let line = problem.display_in("f").to_string();
        assert!(line.starts_with("f:"), "message without its file: {line}");
    }
    assert_eq!(config.is_some(), report.errors.is_empty(), "a config with errors, or none without");
    if let Some(config) = config {
        let effective = effective(&config);
        let (again, report) = config::load_str(&effective);
        let again = again.unwrap_or_else(|| panic!("`dualwan check` output does not load: {report:?}\n{effective}"));
        assert_eq!(effective, self::effective(&again), "`dualwan check` output loads differently");
        // The core starts on any valid config without panicking.
        let mut core = Daemon::new(Instant::ZERO, config, 0x1230);
        while core.poll_action().is_some() {}
    }
}

fn effective(config: &Config) -> String {
    let mut out = String::new();
    config::write_effective(config, &mut out).expect("write into a String");
    out
}

/// One packet from a raw ICMP socket (`wire::icmp::parse`) and the same bytes as a message
/// from a raw ICMPv6 socket (`wire::icmp6::parse`).
///
/// Invariants: neither parser panics; each reports addresses of its own family only.
pub fn icmp(data: &[u8]) {
    if let Ok(parsed) = icmp::parse(data) {
        assert!(addrs(&parsed).iter().all(IpAddr::is_ipv4), "ICMP parser made an IPv6 address: {parsed:?}");
        show(&parsed);
    }
    let _ = icmp::checksum(data);
    // The source an ICMPv6 socket would report; the parser only passes it through.
    let src = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2);
    if let Ok(parsed) = icmp6::parse(src, data) {
        assert!(addrs(&parsed).iter().all(IpAddr::is_ipv6), "ICMPv6 parser made an IPv4 address: {parsed:?}");
        show(&parsed);
    }
}

/// Formats `icmp` as a log line would.
fn show(icmp: &Icmp) {
    if let Icmp::Error { kind, .. } = icmp {
        let _ = kind.to_string();
    }
    let _ = format!("{icmp:?}");
}

/// Every address in `icmp`.
fn addrs(icmp: &Icmp) -> Vec<IpAddr> {
    match *icmp {
        Icmp::EchoReply { src, dst, .. } | Icmp::EchoRequest { src, dst, .. } => {
            [Some(src), dst].into_iter().flatten().collect()
        }
        Icmp::Error { src, orig_dst, .. } => vec![src, orig_dst],
        Icmp::Other { src, .. } => vec![src],
    }
}

/// The config the netlink harness runs the core with: two WANs on `wan1` and `wan2`, the
/// lab's layout, so that fuzzed links, addresses and routes can match them.
const NETLINK_CONFIG: &str = "config globals 'globals'\n\toption rule_priority '5000'\n\toption table_base '100'\n\
config interface 'wan'\n\toption device 'wan1'\n\toption metric '10'\n\tlist track_ip '203.0.113.1'\n\
\tlist track_ip '2001:db8:f::1'\n\
config interface 'wanb'\n\toption device 'wan2'\n\toption metric '20'\n\tlist track_ip '203.0.113.2'\n\
\tlist track_ip '2001:db8:f::2'\n";

/// [`NETLINK_CONFIG`] in balance mode with a `config rule`: nexthops and rule selectors too.
const NETLINK_BALANCE: &str = "config globals 'globals'\n\toption mode 'balance'\n\
config interface 'wan'\n\toption device 'wan1'\n\toption weight '3'\n\tlist track_ip '203.0.113.1'\n\
\tlist track_ip '2001:db8:f::1'\n\
config interface 'wanb'\n\toption device 'wan2'\n\tlist track_ip '203.0.113.2'\n\
\tlist track_ip '2001:db8:f::2'\n\
config rule 'voip'\n\toption proto 'udp'\n\toption dest_port '5060,10000-20000'\n\tlist use 'wanb'\n\
\tlist use 'wan'\n";

/// One datagram from a `NETLINK_ROUTE` socket (notification or dump reply):
/// `netlink::Messages` walk, `rtnl::parse` of every message (link, address, route, rule,
/// ACK/error, done), the extended-ACK text, the datagram read by the request path
/// (`netlink::Reply`) as the answer to an ACK and to a dump, then every event handed to the
/// core as dump entries and as notifications.
///
/// Invariant: whatever the kernel claims to hold, the core only ever changes rules, routes
/// and nexthops that are its own (protocol 201, in its priority range, tables and nexthop
/// ids), in failover and in balance mode.
pub fn rtnl(data: &[u8]) {
    let mut events: Vec<KernelEvent> = Vec::new();
    if let Some(Ok(first)) = netlink::Messages::new(data).next() {
        let _ = netlink::Reply::ack(first.seq).read(data, &mut |_| Ok(()));
        let _ = netlink::Reply::data(first.seq).read(data, &mut |m| rtnl::parse(m).map(drop));
    }
    for msg in netlink::Messages::new(data) {
        let Ok(msg) = msg else { continue };
        let _ = netlink::ext_ack_msg(&msg);
        if let Ok(rtnl::Parsed::Event(event)) = rtnl::parse(&msg) {
            match &event {
                KernelEvent::Route(_, route) => {
                    let _ = route.to_string();
                }
                KernelEvent::Rule(_, rule) => {
                    let _ = rule.to_string();
                }
                KernelEvent::Nexthop(_, nh) => {
                    let _ = nh.to_string();
                }
                _ => {}
            }
            events.push(event);
        }
    }

    for text in [NETLINK_CONFIG, NETLINK_BALANCE] {
        core_sees(text, &events);
    }
}

/// The core of config `text` given `events` as dump entries, then as notifications.
fn core_sees(text: &str, events: &[KernelEvent]) {
    let (config, _) = config::load_str(text);
    let config = config.expect("the netlink harness config is valid");
    let ownership = (config.globals.rule_range(), config.globals.table_range(), config.globals.nexthop_range());
    let mut core = Daemon::new(Instant::ZERO, config, 0x1230);
    let mut now = Instant::ZERO;
    let check = |core: &mut Daemon| {
        while let Some(action) = core.poll_action() {
            if let Action::Apply(op) = &action {
                let ours = match op {
                    Op::AddRule(r) | Op::DelRule(r) => r.is_ours(ownership.0.clone()),
                    Op::AddRoute(r) | Op::ReplaceRoute(r) | Op::DelRoute(r) => r.is_ours(ownership.1.clone()),
                    Op::AddNexthop(n) | Op::ReplaceNexthop(n) | Op::DelNexthop(n) => n.is_ours(ownership.2.clone()),
                };
                assert!(ours, "the core would change what is not its own: {op}");
            }
        }
    };
    // As the answers to the start-up dumps...
    for event in events {
        core.handle_kernel(now, event);
    }
    for kind in [DumpKind::Links, DumpKind::Addrs, DumpKind::Routes, DumpKind::Rules, DumpKind::Nexthops] {
        core.handle_kernel(now, &KernelEvent::DumpDone(kind));
    }
    check(&mut core);
    // ...then again as notifications, with time passing so that rounds start.
    for event in events {
        now = now + Duration::from_millis(50);
        core.handle_kernel(now, event);
        core.handle_timeout(now);
        check(&mut core);
    }
    core.shutdown(now);
    check(&mut core);
}

/// Bytes from the ubusd socket: first as one message (`ubus::message_len` and
/// `ubus::parse`, every accessor, then its DATA as the daemon and `dualwan status` read it:
/// `blob::check_table`, netifd's status and event parsers, the JSON printer and the status
/// summary), then as what ubusd says to the daemon's [`Session`]: once as the first bytes
/// of a connection, once after registration with a subscription and an ask out, in pieces.
///
/// Invariant for the session: whatever ubusd says, everything it writes is well-formed ubus
/// messages.
pub fn ubus(data: &[u8]) {
    ubus_message(data);
    ubus_session(data);
}

fn ubus_message(data: &[u8]) {
    let _ = ubus::message_len(data);
    // The payload as a bare blobmsg table too, as the DATA of some message.
    blobmsg(data);
    let Ok(msg) = ubus::parse(data) else { return };
    let _ = (msg.ty, msg.seq, msg.peer, msg.status(), msg.objpath(), msg.objid(), msg.method());
    let _ = (msg.objtype(), msg.signature(), msg.target(), msg.active(), msg.no_reply(), msg.user(), msg.group());
    for id in 0..=u8::MAX {
        let _ = msg.attr(id);
    }
    if let Some(args) = msg.args() {
        for attr in args.flatten() {
            let _ = (attr.as_str(), attr.as_bool(), attr.as_u16(), attr.as_u32(), attr.as_u64(), attr.as_f64());
        }
    }
    if let Some(data) = msg.data() {
        blobmsg(data);
    }
    if let Some(signature) = msg.signature() {
        blobmsg(signature);
    }
}

fn ubus_session(data: &[u8]) {
    let mut answer = |method: &str, args: blob::Attrs<'_>, reply: &mut blob::Writer<'_>| -> u32 {
        for arg in args.flatten() {
            let _ = arg.as_str();
        }
        let _ = reply.string("method", method);
        ubus::STATUS_OK
    };
    let t0 = Instant::from_millis(1_000);
    let mut written = Vec::new();

    // The first thing ubusd says on a new connection.
    let mut session = connected(t0);
    feed(&mut session, t0, data, usize::MAX, &mut answer, &mut written);
    check_framing(&written);

    // What ubusd says to a registered daemon that listens for events and asks netifd.
    let mut session = connected(t0);
    session.listen(t0, netifd::EVENT);
    written.clear();
    let mut greeting = [0u8; 64];
    let hello = ubus::emit_message(&mut greeting, ubus::MsgType::Hello, 0, 0x1234, |_| Ok(())).unwrap_or(0);
    feed(&mut session, t0, &greeting[..hello], usize::MAX, &mut answer, &mut written);
    let data_len = ubus::emit_message(&mut greeting, ubus::MsgType::Data, 1, 0, |w| w.blob_u32(ubus::ATTR_OBJID, 7));
    feed(&mut session, t0, &greeting[..data_len.unwrap_or(0)], usize::MAX, &mut answer, &mut written);
    let status_len =
        ubus::emit_message(&mut greeting, ubus::MsgType::Status, 1, 0, |w| w.blob_u32(ubus::ATTR_STATUS, 0));
    feed(&mut session, t0, &greeting[..status_len.unwrap_or(0)], usize::MAX, &mut answer, &mut written);
    assert!(session.is_ready(), "registration from well-formed answers");
    let _ = session.ask_netifd(t0, "wan");
    let _ = session.send_event("dualwan.active", &|w| w.string("active", "wan"));
    // In pieces whose size the input's first byte picks.
    let piece = usize::from(data.first().copied().unwrap_or(1)).max(1);
    feed(&mut session, t0, data, piece, &mut answer, &mut written);
    session.handle_timeout(t0 + Duration::from_secs(10));
    drain(&mut session, t0, &mut answer, &mut written);
    check_framing(&written);
    let mut sink = Discard;
    while let Some(notice) = session.poll_notice() {
        let _ = write!(sink, "{notice}");
    }
    while session.poll_event().is_some() {}
}

/// A fresh session whose socket just connected.
fn connected(now: Instant) -> Session {
    let mut session = Session::new(DUALWAN);
    session.handle_timeout(now);
    assert!(session.poll_connect());
    session.handle_connected(now);
    session
}

/// Hands `bytes` to the session `piece` bytes at a time, the socket taking all it writes.
fn feed(session: &mut Session, now: Instant, bytes: &[u8], piece: usize, answer: &mut dyn Answer, out: &mut Vec<u8>) {
    let mut at = 0;
    while at < bytes.len() && session.has_connection() {
        let end = bytes.len().min(at.saturating_add(piece));
        let taken = session.handle_bytes(now, &bytes[at..end], answer);
        drain(session, now, answer, out);
        if taken == 0 && !session.wants_input() {
            break;
        }
        at += taken;
    }
}

/// Writes everything the session queued into `out`.
fn drain(session: &mut Session, now: Instant, answer: &mut dyn Answer, out: &mut Vec<u8>) {
    while let Some(pending) = session.poll_transmit() {
        let len = pending.len();
        out.extend_from_slice(pending);
        session.handle_transmitted(now, len, answer);
    }
}

/// `written` is a sequence of whole, well-formed messages.
fn check_framing(written: &[u8]) {
    let mut rest = written;
    while !rest.is_empty() {
        let len = ubus::message_len(rest).expect("a well-formed header").expect("a whole header");
        assert!(len <= rest.len(), "a message cut short");
        ubus::parse(&rest[..len]).expect("a well-formed message");
        rest = &rest[len..];
    }
}

/// A blobmsg table payload through every reader of one.
fn blobmsg(data: &[u8]) {
    let checked = blob::check_table(data).is_ok();
    let _ = netifd::parse_status(data);
    let _ = netifd::parse_event(data);
    // The printer promises safe output on any payload, checked or not.
    let indented = blob_json::table_to_string(data, true);
    let compact = blob_json::table_to_string(data, false);
    if checked {
        assert!(indented.starts_with('{') && indented.ends_with('}'), "not one JSON object: {indented}");
        assert!(compact.starts_with('{') && compact.ends_with('}'), "not one JSON object: {compact}");
        // `dualwan status` only summarises a checked reply.
        let mut text = String::new();
        summary::write_summary(data, &mut text).expect("write into a String");
    }
    let mut sink = Discard;
    let _ = blob_json::write_table(data, false, &mut sink);
}

/// A `fmt::Write` that keeps nothing.
struct Discard;

impl Write for Discard {
    fn write_str(&mut self, _: &str) -> core::fmt::Result {
        Ok(())
    }
}
