//! The ubus session on its socket shell (`ubus::Session` under `sys::ubus::UbusSocket`, as
//! `common::ubus_peer` puts them together) against a replay of ubusd: a `UnixListener` in a temp
//! dir, driven step by step from the test thread between calls into the adapter (no other
//! threads), that speaks
//! the bytes the real ubusd sent in the captures in `tests/vectors/ubus/` with our ids patched in.

mod common;

use common::alloc::{allocations, Counting};
use common::ubus_peer::Ubus;
use dualwan::sys::clock;
use dualwan::time::{Duration, Instant};
use dualwan::ubus::{Answer, Cause, Notice, State, UbusOp, BACKOFF_MAX, BACKOFF_MIN, DUALWAN};
use dualwan::wire::blob::{Attrs, Full, Writer};
use dualwan::wire::ubus::{self as wire, Message, MsgType};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::time::Duration as StdDuration;

// --- a counting allocator: serving a call must not allocate ----------------------------

#[global_allocator]
static GLOBAL: Counting = Counting;

// --- the captures -------------------------------------------------------------------------

#[path = "sim/capture.rs"]
mod capture;
use capture::vector;

/// `bytes` with the big-endian u32 at `at` replaced.
fn patch(mut bytes: Vec<u8>, at: usize, value: u32) -> Vec<u8> {
    bytes[at..at + 4].copy_from_slice(&value.to_be_bytes());
    bytes
}

const CLIENT: u32 = 0x1234_5678;
const OBJECT: u32 = 0x7e00_1001;
const CALLER: u32 = 0x0bad_cafe;

fn hello(client: u32) -> Vec<u8> {
    patch(vector("a01"), 4, client)
}

/// b02 (DATA: OBJID, OBJTYPE) and b03 (STATUS 0) with our object id.
fn add_object_answer() -> Vec<u8> {
    let mut both = patch(vector("b02"), 16, OBJECT);
    both.extend(vector("b03"));
    both
}

/// Our ADD_OBJECT: b01's layout, with `status {interface: STRING}` and
/// `probe {interface: STRING}` in the layout of a02's typed arguments.
#[rustfmt::skip]
const ADD_OBJECT: [u8; 96] = [
    0x00, 0x06, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x58,
    0x02, 0x00, 0x00, 0x0c, b'd', b'u', b'a', b'l', b'w', b'a', b'n', 0x00,
    0x06, 0x00, 0x00, 0x48,
    0x82, 0x00, 0x00, 0x24, 0x00, 0x06, b's', b't', b'a', b't', b'u', b's', 0x00, 0x00, 0x00, 0x00,
    0x85, 0x00, 0x00, 0x14, 0x00, 0x09, b'i', b'n', b't', b'e', b'r', b'f', b'a', b'c', b'e', 0x00,
    0x00, 0x00, 0x00, 0x03,
    0x82, 0x00, 0x00, 0x20, 0x00, 0x05, b'p', b'r', b'o', b'b', b'e', 0x00,
    0x85, 0x00, 0x00, 0x14, 0x00, 0x09, b'i', b'n', b't', b'e', b'r', b'f', b'a', b'c', b'e', 0x00,
    0x00, 0x00, 0x00, 0x03,
];

/// An INVOKE as ubusd forwards it (b05's layout: OBJID, METHOD, USER, GROUP, DATA); `data`
/// is the DATA payload, `None` for no DATA attribute.
fn invoke(seq: u16, objid: u32, method: &str, data: Option<&[u8]>) -> Vec<u8> {
    let mut buf = vec![0u8; 1024];
    buf[1] = 5;
    buf[2..4].copy_from_slice(&seq.to_be_bytes());
    buf[4..8].copy_from_slice(&CALLER.to_be_bytes());
    let mut w = Writer::new(&mut buf[8..]);
    let container = w.begin_blob(0).unwrap();
    w.blob_u32(3, objid).unwrap();
    w.blob_string(4, method).unwrap();
    w.blob_string(12, "root").unwrap();
    w.blob_string(13, "root").unwrap();
    if let Some(data) = data {
        let nest = w.begin_blob(7).unwrap();
        w.encoded(data).unwrap();
        w.end(nest);
    }
    w.end(container);
    let len = 8 + w.len();
    buf.truncate(len);
    buf
}

fn args(f: impl FnOnce(&mut Writer<'_>) -> Result<(), Full>) -> Vec<u8> {
    let mut buf = vec![0u8; 256];
    let mut w = Writer::new(&mut buf);
    f(&mut w).unwrap();
    let len = w.len();
    buf.truncate(len);
    buf
}

#[test]
fn the_invoke_helper_rebuilds_b05() {
    let b05 = vector("b05");
    let mut ours = invoke(2, 0xff00_d868, "status", Some(&[]));
    ours[4..8].copy_from_slice(&b05[4..8]);
    assert_eq!(ours, b05);
}

// --- the provider -------------------------------------------------------------------------

/// `status` answers `{ "active": "wan", "interfaces": { "wan": { "up": true, "rtt_ms": 12 } } }`,
/// restricted by an optional `interface`; unknown interface: NOT_FOUND. `pad` adds a string
/// of that many bytes, for replies larger than a socket buffer.
#[derive(Default)]
struct Fixed {
    calls: u32,
    pad: usize,
}

const PAD: &str = match core::str::from_utf8(&[b'x'; 70_000]) {
    Ok(s) => s,
    Err(_) => "",
};

impl Answer for Fixed {
    fn call(&mut self, method: &str, args: Attrs<'_>, reply: &mut Writer<'_>) -> u32 {
        self.calls += 1;
        assert_eq!(method, "status");
        let mut only = None;
        for a in args.flatten() {
            match (a.name, a.as_str()) {
                ("interface", Some(name)) => only = Some(name),
                _ => return wire::STATUS_INVALID_ARGUMENT,
            }
        }
        if only.is_some_and(|n| n != "wan") {
            return wire::STATUS_NOT_FOUND;
        }
        let mut table = || -> Result<(), Full> {
            reply.string("active", "wan")?;
            let all = reply.begin_table("interfaces")?;
            let wan = reply.begin_table("wan")?;
            reply.bool("up", true)?;
            reply.u32("rtt_ms", 12)?;
            reply.end(wan);
            reply.end(all);
            if self.pad > 0 {
                reply.string("pad", &PAD[..self.pad])?;
            }
            Ok(())
        };
        // An overflow is seen by the adapter (Writer::overflowed); the status is ours.
        let _ = table();
        wire::STATUS_OK
    }
}

// --- the replaying ubusd ---------------------------------------------------------------------

struct Replay {
    path: PathBuf,
    listener: Option<UnixListener>,
}

impl Replay {
    fn new(name: &str) -> Replay {
        let dir = std::env::temp_dir().join(format!("dualwan-ubus-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ubus.sock");
        let listener = Some(UnixListener::bind(&path).unwrap());
        Replay { path, listener }
    }

    /// ubusd exits: the listener and its socket file go away.
    fn stop(&mut self) {
        self.listener = None;
        let _ = std::fs::remove_file(&self.path);
    }

    fn start(&mut self) {
        self.listener = Some(UnixListener::bind(&self.path).unwrap());
    }

    /// The connection the adapter made (already queued on the listener).
    fn accept(&self) -> UnixStream {
        let listener = self.listener.as_ref().expect("listening");
        listener.set_nonblocking(true).unwrap();
        let (conn, _) = listener.accept().expect("the adapter connected");
        conn.set_nonblocking(false).unwrap();
        conn.set_read_timeout(Some(StdDuration::from_secs(2))).unwrap();
        conn
    }
}

impl Drop for Replay {
    fn drop(&mut self) {
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Reads one whole message (the adapter has already written it).
fn read_msg(conn: &mut UnixStream) -> Vec<u8> {
    let mut msg = vec![0u8; wire::MIN_MESSAGE];
    conn.read_exact(&mut msg).expect("a message header");
    let len = wire::message_len(&msg).expect("well-formed").expect("complete header");
    msg.resize(len, 0);
    conn.read_exact(&mut msg[wire::MIN_MESSAGE..]).expect("the message body");
    msg
}

/// Runs the adapter the way the daemon's loop does, for up to `max` or until `done`.
fn pump(ubus: &mut Ubus, provider: &mut dyn Answer, max: StdDuration, done: impl Fn(&Ubus) -> bool) -> bool {
    let end = std::time::Instant::now() + max;
    loop {
        ubus.handle_timeout(clock::now());
        if done(ubus) {
            return true;
        }
        if std::time::Instant::now() >= end {
            return false;
        }
        let now = clock::now();
        let wait = ubus.poll_timeout().map_or(20, |t| t.saturating_since(now).as_millis().min(20) as u16);
        let revents = match ubus.fd() {
            Some(fd) => {
                let mut fds = [PollFd::new(fd, ubus.interest())];
                poll(&mut fds, PollTimeout::from(wait)).expect("poll");
                fds[0].revents().unwrap_or(PollFlags::empty())
            }
            None => {
                std::thread::sleep(StdDuration::from_millis(u64::from(wait)));
                PollFlags::empty()
            }
        };
        if !revents.is_empty() {
            ubus.handle_ready(clock::now(), revents, provider);
        }
    }
}

fn settle(ubus: &mut Ubus, provider: &mut dyn Answer) {
    pump(ubus, provider, StdDuration::from_millis(30), |_| false);
}

fn notices(ubus: &mut Ubus) -> Vec<Notice> {
    std::iter::from_fn(|| ubus.poll_notice()).collect()
}

/// Accepts, greets, checks the ADD_OBJECT and answers it; the adapter ends `Ready`.
fn register(replay: &Replay, ubus: &mut Ubus, provider: &mut dyn Answer) -> UnixStream {
    assert!(pump(ubus, provider, StdDuration::from_secs(3), |u| matches!(u.state(), State::WaitHello { .. })));
    let mut conn = replay.accept();
    conn.write_all(&hello(CLIENT)).unwrap();
    assert!(pump(ubus, provider, StdDuration::from_secs(1), |u| matches!(u.state(), State::Registering { .. })));
    assert_eq!(read_msg(&mut conn), ADD_OBJECT);
    // The answer in two pieces, cut inside a header.
    let answer = add_object_answer();
    conn.write_all(&answer[..5]).unwrap();
    settle(ubus, provider);
    assert!(matches!(ubus.state(), State::Registering { .. }));
    conn.write_all(&answer[5..]).unwrap();
    assert!(pump(ubus, provider, StdDuration::from_secs(1), Ubus::is_ready));
    assert_eq!(ubus.state(), State::Ready { object: OBJECT });
    let registered = Notice::Registered { path: "dualwan", object: OBJECT, client: CLIENT };
    assert!(notices(ubus).contains(&registered));
    conn
}

/// Sends one call and returns what came back: DATA (if any) and STATUS.
fn call(conn: &mut UnixStream, ubus: &mut Ubus, provider: &mut dyn Answer, msg: &[u8]) -> Vec<Vec<u8>> {
    conn.write_all(msg).unwrap();
    settle(ubus, provider);
    let mut replies = vec![read_msg(conn)];
    if wire::parse(&replies[0]).unwrap().ty == MsgType::Data {
        replies.push(read_msg(conn));
    }
    replies
}

/// The STATUS the adapter must answer: b07's layout with our ids.
fn status_reply(seq: u16, status: u32, objid: u32) -> Vec<u8> {
    let mut b07 = patch(patch(patch(vector("b07"), 4, CALLER), 16, status), 24, objid);
    b07[2..4].copy_from_slice(&seq.to_be_bytes());
    b07
}

fn only_status(replies: &[Vec<u8>]) -> u32 {
    assert_eq!(replies.len(), 1, "no DATA expected");
    wire::parse(&replies[0]).unwrap().status().expect("a STATUS")
}

#[test]
fn registers_serves_calls_and_sends_events() {
    let replay = Replay::new("serve");
    let mut ubus = Ubus::new(&replay.path, DUALWAN).unwrap();
    let mut provider = Fixed::default();
    assert_eq!(ubus.poll_timeout(), Some(Instant::ZERO), "nothing connected before the first timeout");
    assert!(!ubus.send_event("dualwan.active", &|w| w.string("interface", "wan")));
    assert_eq!(ubus.events_dropped(), 1);
    let mut conn = register(&replay, &mut ubus, &mut provider);
    assert_eq!(ubus.poll_timeout(), None);
    assert_eq!(ubus.interest(), PollFlags::POLLIN);

    // `ubus call dualwan status`, the INVOKE sent one byte at a time.
    let msg = invoke(2, OBJECT, "status", Some(&[]));
    for byte in &msg[..msg.len() - 1] {
        conn.write_all(std::slice::from_ref(byte)).unwrap();
        let mut fds = [PollFd::new(ubus.fd().unwrap(), ubus.interest())];
        poll(&mut fds, PollTimeout::from(100u16)).unwrap();
        let revents = fds[0].revents().unwrap();
        ubus.handle_ready(clock::now(), revents, &mut provider);
    }
    assert_eq!(provider.calls, 0, "not before the last byte");
    conn.write_all(&msg[msg.len() - 1..]).unwrap();
    let mut fds = [PollFd::new(ubus.fd().unwrap(), ubus.interest())];
    poll(&mut fds, PollTimeout::from(1000u16)).unwrap();
    let revents = fds[0].revents().unwrap();
    let now = clock::now();
    let before = allocations();
    ubus.handle_ready(now, revents, &mut provider);
    assert_eq!(allocations() - before, 0, "serving a call allocates nothing");
    assert_eq!(provider.calls, 1);
    let data = read_msg(&mut conn);
    let parsed = wire::parse(&data).unwrap();
    assert_eq!((parsed.ty, parsed.seq, parsed.peer, parsed.objid()), (MsgType::Data, 2, CALLER, Some(OBJECT)));
    let top: Vec<_> = parsed.args().unwrap().map(Result::unwrap).collect();
    assert_eq!((top[0].name, top[0].as_str()), ("active", Some("wan")));
    let wan = top[1].as_table().unwrap().next().unwrap().unwrap();
    let fields: Vec<_> = wan.as_table().unwrap().map(Result::unwrap).collect();
    assert_eq!((wan.name, fields[0].as_bool(), fields[1].as_u32()), ("wan", Some(true), Some(12)));
    assert_eq!(read_msg(&mut conn), status_reply(2, wire::STATUS_OK, OBJECT));

    // With the argument: the known interface, an unknown one.
    let wan = args(|w| w.string("interface", "wan"));
    let replies = call(&mut conn, &mut ubus, &mut provider, &invoke(3, OBJECT, "status", Some(&wan)));
    assert_eq!(replies.len(), 2);
    assert_eq!(replies[1], status_reply(3, wire::STATUS_OK, OBJECT));
    let other = args(|w| w.string("interface", "wanb"));
    let replies = call(&mut conn, &mut ubus, &mut provider, &invoke(4, OBJECT, "status", Some(&other)));
    assert_eq!(replies, [status_reply(4, wire::STATUS_NOT_FOUND, OBJECT)]);

    // What libubus answers without asking the provider.
    let calls = provider.calls;
    let replies = call(&mut conn, &mut ubus, &mut provider, &invoke(5, OBJECT, "nosuch", Some(&[])));
    assert_eq!(replies, [status_reply(5, wire::STATUS_METHOD_NOT_FOUND, OBJECT)]);
    let replies = call(&mut conn, &mut ubus, &mut provider, &invoke(6, OBJECT, "status", None));
    assert_eq!(only_status(&replies), wire::STATUS_INVALID_ARGUMENT);
    let replies = call(&mut conn, &mut ubus, &mut provider, &invoke(7, OBJECT + 1, "status", Some(&[])));
    assert_eq!(replies, [status_reply(7, wire::STATUS_NOT_FOUND, OBJECT + 1)]);
    // Arguments that are not blobmsg: the caller's fault, not ubusd's; the connection stays.
    let garbage = [0x83, 0, 0, 0x40, 1, 2, 3, 4];
    let replies = call(&mut conn, &mut ubus, &mut provider, &invoke(8, OBJECT, "status", Some(&garbage)));
    assert_eq!(only_status(&replies), wire::STATUS_INVALID_ARGUMENT);
    assert_eq!(provider.calls, calls, "the provider saw none of these");
    assert!(ubus.is_ready());

    // An event: INVOKE `send` to object 1, as libubus ubus_send_event writes it.
    assert!(ubus.send_event("dualwan.active", &|w| w.string("interface", "wan")));
    let event = read_msg(&mut conn);
    let parsed = wire::parse(&event).unwrap();
    assert_eq!((parsed.ty, parsed.peer, parsed.objid()), (MsgType::Invoke, 1, Some(1)));
    assert_eq!((parsed.seq, parsed.method()), (2, Some(&b"send"[..])), "the request after ADD_OBJECT");
    let fields: Vec<_> = parsed.args().unwrap().map(Result::unwrap).collect();
    assert_eq!((fields[0].name, fields[0].as_str()), ("id", Some("dualwan.active")));
    let data: Vec<_> = fields[1].as_table().unwrap().map(Result::unwrap).collect();
    assert_eq!((fields[1].name, data[0].name, data[0].as_str()), ("data", "interface", Some("wan")));
    // ubusd's answers: OK is silent, a refusal is reported.
    let mut ok = vector("a04");
    ok[2..4].copy_from_slice(&2u16.to_be_bytes());
    ok = patch(ok, 4, 1);
    conn.write_all(&ok).unwrap();
    conn.write_all(&patch(ok.clone(), 16, wire::STATUS_PERMISSION_DENIED)).unwrap();
    settle(&mut ubus, &mut provider);
    assert_eq!(notices(&mut ubus), [Notice::EventRefused { status: wire::STATUS_PERMISSION_DENIED }]);
    assert_eq!(ubus.events_sent(), 1);

    // A NOTIFY about subscribers (OBJID, ACTIVE 1) changes nothing.
    #[rustfmt::skip]
    let notify = patch(vec![
        0, 10, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0x14,
        3, 0, 0, 8, 0, 0, 0, 0,
        9, 0, 0, 5, 1, 0, 0, 0,
    ], 16, OBJECT);
    conn.write_all(&notify).unwrap();
    settle(&mut ubus, &mut provider);
    assert!(ubus.is_ready());
    assert!(notices(&mut ubus).is_empty());
}

#[test]
fn garbage_resets_and_a_restarted_ubusd_gets_us_back_within_two_seconds() {
    let mut replay = Replay::new("restart");
    let mut ubus = Ubus::new(&replay.path, DUALWAN).unwrap();
    let mut provider = Fixed::default();
    let mut conn = register(&replay, &mut ubus, &mut provider);

    // Garbage: a header with version 1. The adapter closes and comes back after 0.5 s.
    conn.write_all(&[1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 4]).unwrap();
    let t0 = clock::now();
    assert!(pump(&mut ubus, &mut provider, StdDuration::from_secs(1), |u| !u.is_ready()));
    let State::Disconnected { retry_at } = ubus.state() else { panic!("{:?}", ubus.state()) };
    assert!(retry_at.saturating_since(t0) <= BACKOFF_MIN + Duration::from_millis(100));
    let lost = notices(&mut ubus);
    assert!(matches!(lost[..], [Notice::Lost(e)] if e.op == UbusOp::Recv && matches!(e.cause, Cause::Malformed(_))));
    let mut old = [0u8; 1];
    assert_eq!(conn.read(&mut old).unwrap(), 0, "the old connection is closed");
    conn = register(&replay, &mut ubus, &mut provider);
    assert!(clock::now().saturating_since(t0) <= Duration::from_secs(2), "registered again within 2 s");

    // An oversized message: refused the same way.
    conn.write_all(&[0, 5, 0, 9, 0, 0, 0, 1, 0, 0x01, 0, 0]).unwrap();
    assert!(pump(&mut ubus, &mut provider, StdDuration::from_secs(1), |u| !u.is_ready()));
    let lost = notices(&mut ubus);
    let too_large = Cause::Malformed(wire::Malformed::TooLarge(8 + 0x1_0000));
    assert!(matches!(lost[..], [Notice::Lost(e)] if e.cause == too_large), "{lost:?}");
    drop(conn);
    conn = register(&replay, &mut ubus, &mut provider);

    // ubusd restarts: its clients see EOF, its socket goes away for a moment.
    let t0 = clock::now();
    drop(conn);
    replay.stop();
    assert!(pump(&mut ubus, &mut provider, StdDuration::from_secs(1), |u| !u.is_ready()));
    let lost = notices(&mut ubus);
    assert!(matches!(lost[..], [Notice::Lost(e)] if e.cause == Cause::Closed), "{lost:?}");
    std::thread::sleep(StdDuration::from_millis(300));
    replay.start();
    let _conn = register(&replay, &mut ubus, &mut provider);
    let back = clock::now().saturating_since(t0);
    assert!(back <= Duration::from_secs(2), "re-registered after {back} s");
    // The failed attempt while ubusd was away (if any) was reported once at most.
    assert!(notices(&mut ubus).iter().filter(|n| matches!(n, Notice::Unavailable(_))).count() <= 1);
}

#[test]
fn without_ubusd_it_reports_once_and_backs_off() {
    let replay = Replay::new("absent");
    let path = replay.path.with_file_name("nobody.sock");
    let mut ubus = Ubus::new(&path, DUALWAN).unwrap();
    let mut provider = Fixed::default();
    // Simulated time: the adapter never reads a clock.
    let mut now = Instant::from_millis(1000);
    let mut delays = Vec::new();
    for _ in 0..8 {
        ubus.handle_timeout(now);
        let State::Disconnected { retry_at } = ubus.state() else { panic!("{:?}", ubus.state()) };
        delays.push(retry_at.saturating_since(now).as_millis());
        ubus.handle_ready(now, PollFlags::POLLIN, &mut provider);
        now = retry_at;
    }
    assert_eq!(delays, [500, 1000, 2000, 4000, 5000, 5000, 5000, 5000]);
    assert_eq!(BACKOFF_MAX, Duration::from_secs(5));
    let all = notices(&mut ubus);
    assert_eq!(all.len(), 1, "{all:?}");
    let Notice::Unavailable(e) = all[0] else { panic!("{all:?}") };
    assert_eq!((e.op, e.cause), (UbusOp::Connect, Cause::Sys(nix::errno::Errno::ENOENT)));
    assert_eq!(all[0].to_string(), "ubus connect: ENOENT: No such file or directory; retrying in the background");
    assert!(!ubus.send_event("dualwan.interface", &|_| Ok(())));
    assert_eq!(ubus.fd().map(|_| ()), None);
}

#[test]
fn large_replies_are_queued_and_flushed_when_writable() {
    let replay = Replay::new("large");
    let mut ubus = Ubus::new(&replay.path, DUALWAN).unwrap();
    let mut provider = Fixed { pad: 40_000, ..Fixed::default() };
    let mut conn = register(&replay, &mut ubus, &mut provider);

    // Twenty calls of 40 KiB replies while the replay does not read: far beyond the socket's
    // buffer. The adapter queues what does not fit and stops reading until it can answer.
    const CALLS: u16 = 20;
    for seq in 0..CALLS {
        conn.write_all(&invoke(100 + seq, OBJECT, "status", Some(&[]))).unwrap();
    }
    settle(&mut ubus, &mut provider);
    assert!(ubus.interest().contains(PollFlags::POLLOUT), "output pending");
    assert!(!ubus.interest().contains(PollFlags::POLLIN), "no reading while a reply would not fit");
    assert!(provider.calls < u32::from(CALLS));

    // Now the replay reads, and the adapter flushes and serves the rest between reads.
    conn.set_nonblocking(true).unwrap();
    let mut stream = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    let mut got = Vec::new();
    let end = std::time::Instant::now() + StdDuration::from_secs(5);
    while got.len() < 2 * usize::from(CALLS) && std::time::Instant::now() < end {
        settle(&mut ubus, &mut provider);
        loop {
            match conn.read(&mut chunk) {
                Ok(0) => panic!("closed"),
                Ok(n) => stream.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        while let Ok(Some(len)) = wire::message_len(&stream) {
            if len > stream.len() {
                break;
            }
            let msg: Vec<u8> = stream.drain(..len).collect();
            let parsed: Message<'_> = wire::parse(&msg).unwrap();
            got.push((parsed.ty, parsed.seq, parsed.status(), msg.len()));
        }
    }
    assert_eq!(got.len(), 2 * usize::from(CALLS));
    for (i, pair) in got.chunks(2).enumerate() {
        let seq = 100 + i as u16;
        assert_eq!((pair[0].0, pair[0].1), (MsgType::Data, seq));
        assert!(pair[0].3 > 40_000);
        assert_eq!((pair[1].0, pair[1].1, pair[1].2), (MsgType::Status, seq, Some(wire::STATUS_OK)));
    }
    assert_eq!(provider.calls, u32::from(CALLS));
    assert_eq!(ubus.interest(), PollFlags::POLLIN);

    // A reply beyond MAX_MESSAGE: UNKNOWN_ERROR, reported.
    provider.pad = 70_000;
    conn.set_nonblocking(false).unwrap();
    let replies = call(&mut conn, &mut ubus, &mut provider, &invoke(200, OBJECT, "status", Some(&[])));
    assert_eq!(replies, [status_reply(200, wire::STATUS_UNKNOWN_ERROR, OBJECT)]);
    let too_large = Notice::ReplyTooLarge { method: "status" };
    assert!(notices(&mut ubus).contains(&too_large));
    assert!(ubus.is_ready());
}
