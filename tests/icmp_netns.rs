//! `sys::icmp::ProbeSocket` against the real kernel, in network namespaces made for each test.
//!
//! Lab (names `dwicmp<pid><test>a` / `...b`, removed by `Lab`'s `Drop`, panics included):
//! ```text
//!  ns a (the router)                          ns b (next hop, forwards, no routes beyond)
//!  wan0 192.0.2.1/24  ── veth ──────────────  lan0 192.0.2.2/24
//!  wan1 198.51.100.1/24 ── veth ────────────  lan1 198.51.100.2/24
//!  203.0.113.0/24 via 192.0.2.2
//! ```
//! Needs root (CI runs as root). `DUALWAN_SKIP_NETNS=1` skips with a printed line instead.
//! Each test runs its body on a thread of its own that enters ns a with `setns(2)` (which
//! changes only the calling thread), so the harness threads never leave the root namespace.

use dualwan::sys::icmp::{Family, IcmpError, IcmpOp, ProbeSocket};
use dualwan::wire::icmp::{EchoId, ErrorKind, Icmp, Malformed};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::fs::File;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsFd, AsRawFd};
use std::process::Command;
use std::time::{Duration, Instant};

const WAN0_ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
/// In wan0's connected subnet, with no host behind it.
const ABSENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 99);
const WAN1_ADDR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// Routed via the peer, which has no route there and answers net unreachable.
const BEYOND: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 5);
const IDENT: u16 = 0xd0a1;

/// Two namespaces wired as in the module doc; both are deleted on drop.
struct Lab {
    a: String,
    b: String,
}

impl Lab {
    /// Builds the lab, or returns `None` (after printing why) when `DUALWAN_SKIP_NETNS=1`.
    fn new(test: &str) -> Option<Lab> {
        if std::env::var_os("DUALWAN_SKIP_NETNS").is_some_and(|v| v == "1") {
            println!("skip {test}: DUALWAN_SKIP_NETNS=1");
            return None;
        }
        // SAFETY: geteuid(2) takes nothing and cannot fail.
        let euid = unsafe { libc::geteuid() };
        assert!(euid == 0, "{test}: netns tests need root (CI runs them as root); set DUALWAN_SKIP_NETNS=1 to skip");
        let id = std::process::id();
        // Made before the first command so that Drop removes whatever part got created.
        let lab = Lab { a: format!("dwicmp{id}{test}a"), b: format!("dwicmp{id}{test}b") };
        let (a, b) = (lab.a.as_str(), lab.b.as_str());
        ip(&["netns", "add", a]);
        ip(&["netns", "add", b]);
        ip(&["-n", a, "link", "add", "wan0", "type", "veth", "peer", "name", "lan0", "netns", b]);
        ip(&["-n", a, "link", "add", "wan1", "type", "veth", "peer", "name", "lan1", "netns", b]);
        ip(&["-n", a, "addr", "add", "192.0.2.1/24", "dev", "wan0"]);
        ip(&["-n", a, "addr", "add", "198.51.100.1/24", "dev", "wan1"]);
        ip(&["-n", b, "addr", "add", "192.0.2.2/24", "dev", "lan0"]);
        ip(&["-n", b, "addr", "add", "198.51.100.2/24", "dev", "lan1"]);
        for (ns, dev) in [(a, "lo"), (a, "wan0"), (a, "wan1"), (b, "lo"), (b, "lan0"), (b, "lan1")] {
            ip(&["-n", ns, "link", "set", dev, "up"]);
        }
        ip(&["-n", a, "route", "add", "203.0.113.0/24", "via", "192.0.2.2", "dev", "wan0"]);
        // A host that does not forward drops transit packets silently; a router answers
        // "net unreachable" when it has no route (net/ipv4/route.c `ip_error`).
        ip(&["netns", "exec", b, "sysctl", "-qw", "net.ipv4.ip_forward=1"]);
        Some(lab)
    }

    /// Runs `f` on a new thread inside ns a and returns its result; a panic in `f` is re-raised
    /// here with its message.
    fn in_a<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|s| {
            s.spawn(|| {
                enter(&self.a);
                f()
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Deleting a namespace deletes its devices; the veth pair goes with either end.
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// Runs `ip ARGS` (iproute2).
fn ip(args: &[&str]) {
    run_ok(Command::new("ip").args(args));
}

/// Runs `cmd` with its output captured, panicking with that output if it fails.
fn run_ok(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// Moves the calling thread into network namespace `ns`.
fn enter(ns: &str) {
    let file = File::open(format!("/var/run/netns/{ns}")).expect("open netns file");
    // SAFETY: `file` is an open namespace file for the whole call; setns(2) only changes this
    // thread's namespace, which this thread owns until it ends.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns {ns}: {}", Errno::last());
}

/// The first packet `sock` receives within `wait`, or `None`.
fn next_packet(sock: &mut ProbeSocket, wait: Duration) -> Option<Result<Icmp, Malformed>> {
    let deadline = Instant::now() + wait;
    loop {
        if let Some(packet) = sock.recv().expect("recv") {
            return Some(packet);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX).max(1);
        let mut fds = [PollFd::new(sock.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => panic!("poll: {e}"),
        }
    }
}

fn open(device: &str, src: impl Into<IpAddr>, ident: u16) -> ProbeSocket {
    let src = src.into();
    ProbeSocket::open(device, src, ident).unwrap_or_else(|e| panic!("open {device} {src}: {e}"))
}

fn assert_silent(sock: &mut ProbeSocket, what: &str) {
    let got = next_packet(sock, Duration::from_millis(150));
    assert_eq!(got, None, "{what} received a packet");
}

#[test]
fn reply_reaches_only_the_socket_that_sent_the_probe() {
    let Some(lab) = Lab::new("reply") else { return };
    lab.in_a(|| {
        let mut probe = open("wan0", WAN0_ADDR, IDENT);
        let mut other_ident = open("wan0", WAN0_ADDR, IDENT + 1);
        let mut other_device = open("wan1", WAN0_ADDR, IDENT);
        let mut other_addr = open("wan0", WAN1_ADDR, IDENT);
        assert_eq!(probe.ident(), IDENT);

        probe.send_echo(PEER.into(), 7).unwrap();
        let reply = next_packet(&mut probe, Duration::from_secs(2));
        assert_eq!(
            reply,
            Some(Ok(Icmp::EchoReply { src: PEER.into(), dst: Some(WAN0_ADDR.into()), ident: IDENT, seq: 7 }))
        );
        assert_silent(&mut probe, "the probe socket, after its one reply,");
        // The reply was queued to every matching raw socket when it arrived; these never match.
        assert_silent(&mut other_ident, "a socket with another ident (BPF)");
        assert_silent(&mut other_device, "a socket bound to wan1 (SO_BINDTODEVICE)");
        assert_silent(&mut other_addr, "a socket bound to 198.51.100.1 (bind)");
    });
}

#[test]
fn echo_to_an_absent_host_gets_no_reply() {
    let Some(lab) = Lab::new("absent") else {
        return;
    };
    lab.in_a(|| {
        let mut probe = open("wan0", WAN0_ADDR, IDENT);
        probe.send_echo(ABSENT.into(), 1).unwrap();
        // ARP gives up after about 3 s (3 solicitations, 1 s apart); the kernel then reports
        // host unreachable from our own address. Well before that: nothing.
        assert_eq!(next_packet(&mut probe, Duration::from_millis(500)), None);

        // The socket still works.
        probe.send_echo(PEER.into(), 2).unwrap();
        let reply = next_packet(&mut probe, Duration::from_secs(2));
        assert!(matches!(reply, Some(Ok(Icmp::EchoReply { seq: 2, .. }))), "{reply:?}");
    });
}

#[test]
fn net_unreachable_from_the_next_hop_names_our_probe() {
    let Some(lab) = Lab::new("unreach") else {
        return;
    };
    lab.in_a(|| {
        let mut probe = open("wan0", WAN0_ADDR, IDENT);
        let mut other_ident = open("wan0", WAN0_ADDR, IDENT + 1);
        probe.send_echo(BEYOND.into(), 9).unwrap();
        let error = next_packet(&mut probe, Duration::from_secs(2));
        assert_eq!(
            error,
            Some(Ok(Icmp::Error {
                src: PEER.into(),
                kind: ErrorKind::DestUnreachable(0),
                orig_dst: BEYOND.into(),
                echo: Some(EchoId { ident: IDENT, seq: 9 }),
            }))
        );
        assert_silent(&mut other_ident, "a socket with another ident, for an error about our probe,");
    });
}

#[test]
fn ping_from_the_namespace_does_not_reach_the_socket() {
    let Some(lab) = Lab::new("ping") else { return };
    let has_ping = Command::new("ping").arg("-V").output().is_ok_and(|o| o.status.success());
    let peer_ns = lab.b.clone();
    lab.in_a(|| {
        let mut probe = open("wan0", WAN0_ADDR, IDENT);
        // First prove the socket is live, so the silence below means something.
        probe.send_echo(PEER.into(), 3).unwrap();
        let reply = next_packet(&mut probe, Duration::from_secs(2));
        assert!(matches!(reply, Some(Ok(Icmp::EchoReply { seq: 3, .. }))), "{reply:?}");

        if !has_ping {
            println!("note: ping (iputils-ping) not installed; the ping checks were not run");
            return;
        }
        // A child process starts in the namespace of the thread that forks it: ns a. Its
        // identifier is its pid (iputils, raw socket as root) or the kernel's choice.
        run_ok(Command::new("ping").args(["-c1", "-W2", "-q", "192.0.2.2"]));
        assert_silent(&mut probe, "the probe socket, after another program's ping,");

        // The peer pinging our address: the kernel answers it, our socket never sees it.
        run_ok(Command::new("ip").args(["netns", "exec", &peer_ns, "ping", "-c1", "-W2", "-q", "192.0.2.1"]));
        assert_silent(&mut probe, "the probe socket, after the peer's ping,");
    });
}

#[test]
fn open_and_send_report_what_the_kernel_refused() {
    let Some(lab) = Lab::new("errs") else { return };
    lab.in_a(|| {
        let err = ProbeSocket::open("nosuch0", WAN0_ADDR.into(), IDENT).unwrap_err();
        assert_eq!((err.op, err.errno), (IcmpOp::BindDevice, Errno::ENODEV));
        assert!(err.to_string().ends_with("(no such device)"), "{err}");

        let err = ProbeSocket::open("wan0", Ipv4Addr::new(203, 0, 113, 1).into(), IDENT).unwrap_err();
        assert_eq!((err.op, err.errno), (IcmpOp::Bind, Errno::EADDRNOTAVAIL));

        // Link down: no route through the bound device.
        let mut probe = open("wan0", WAN0_ADDR, IDENT);
        ip(&["link", "set", "wan0", "down"]);
        let err = probe.send_echo(PEER.into(), 1).unwrap_err();
        assert_eq!(err, IcmpError { family: Family::V4, op: IcmpOp::Send, errno: Errno::ENETUNREACH });
        ip(&["link", "set", "wan0", "up"]);
        probe.send_echo(PEER.into(), 2).unwrap();

        // SO_BINDTODEVICE holds an ifindex: a device re-created under the same name (as PPP
        // does on every reconnect) is another device, and the socket must be reopened.
        ip(&["link", "del", "wan0"]);
        ip(&["link", "add", "wan0", "type", "veth", "peer", "name", "wan0p"]);
        ip(&["addr", "add", "192.0.2.1/24", "dev", "wan0"]);
        ip(&["link", "set", "wan0", "up"]);
        let err = probe.send_echo(PEER.into(), 3).unwrap_err();
        assert_eq!(err, IcmpError { family: Family::V4, op: IcmpOp::Send, errno: Errno::ENODEV });
        let mut reopened = open("wan0", WAN0_ADDR, IDENT);
        reopened.send_echo(PEER.into(), 4).unwrap();
    });
}
