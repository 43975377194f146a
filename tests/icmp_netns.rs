//! `sys::icmp::ProbeSocket` against the real kernel, in network namespaces made for each test.
//!
//! Lab (names `dwicmp<pid><test>a` / `...b`, removed by `Lab`'s `Drop`, panics included):
//! ```text
//!  ns a (the router)                          ns b (next hop, forwards, no routes beyond)
//!  wan0 192.0.2.1/24  ── veth ──────────────  lan0 192.0.2.2/24
//!       2001:db8:1::1/64                           2001:db8:1::2/64, fe80::1/64 (gateway)
//!  wan1 198.51.100.1/24 ── veth ────────────  lan1 198.51.100.2/24
//!       2001:db8:2::1/64                           2001:db8:2::2/64, fe80::2/64
//!  203.0.113.0/24 via 192.0.2.2               lo 2001:db8:ff::1/128
//!  2001:db8:ff::/48 via fe80::1 dev wan0
//! ```
//! No DAD in either namespace, so no address is ever tentative unless a test asks for it.
//! The IPv6 probes through a real chain of routers use the shared lab (`tests/lab/lab.sh` with
//! IPv6): `icmp6_probes_through_the_lab_router_reach_inet_by_either_wan`.
//!
//! Needs root (CI runs as root). `DUALWAN_SKIP_NETNS=1` skips with a printed line instead.
//! Each test runs its body on a thread of its own that enters ns a with `setns(2)` (which
//! changes only the calling thread), so the harness threads never leave the root namespace.

mod common;

use common::alloc::{allocations_in, Counting};
use common::netns::{in_ns, ip, may_build_namespaces, run_ok, sysctl};
use dualwan::sys::icmp::{Family, IcmpError, IcmpOp, ProbeSocket};
use dualwan::wire::icmp::{EchoId, ErrorKind, Icmp, Malformed};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
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

const WAN0_ADDR6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
const PEER6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2);
/// The peer's link-local address on wan0's link: the gateway, as a router advertisement
/// would announce it.
const GW6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
/// The peer's link-local address on wan1's link.
const GW6_WAN1: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);
const WAN1_ADDR6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 1);
/// On the peer's lo, reached through the gateway route.
const ROUTED6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 1);
/// Routed via the gateway, which has no route there and answers destination unreachable.
const BEYOND6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 5);

/// Two namespaces wired as in the module doc; both are deleted on drop.
struct Lab {
    a: String,
    b: String,
}

impl Lab {
    /// Builds the lab, or returns `None` (after printing why) when `DUALWAN_SKIP_NETNS=1`.
    fn new(test: &str) -> Option<Lab> {
        if !may_build_namespaces() {
            return None;
        }
        let id = std::process::id();
        // Made before the first command so that Drop removes whatever part got created.
        let lab = Lab { a: format!("dwicmp{id}{test}a"), b: format!("dwicmp{id}{test}b") };
        let (a, b) = (lab.a.as_str(), lab.b.as_str());
        ip(&["netns", "add", a]);
        ip(&["netns", "add", b]);
        // Before any device exists, so every device takes it: addresses are usable at once.
        for ns in [a, b] {
            sysctl(ns, &["net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"]);
        }
        ip(&["-n", a, "link", "add", "wan0", "type", "veth", "peer", "name", "lan0", "netns", b]);
        ip(&["-n", a, "link", "add", "wan1", "type", "veth", "peer", "name", "lan1", "netns", b]);
        ip(&["-n", a, "addr", "add", "192.0.2.1/24", "dev", "wan0"]);
        ip(&["-n", a, "addr", "add", "198.51.100.1/24", "dev", "wan1"]);
        ip(&["-n", b, "addr", "add", "192.0.2.2/24", "dev", "lan0"]);
        ip(&["-n", b, "addr", "add", "198.51.100.2/24", "dev", "lan1"]);
        ip(&["-n", a, "addr", "add", "2001:db8:1::1/64", "dev", "wan0", "nodad"]);
        ip(&["-n", a, "addr", "add", "2001:db8:2::1/64", "dev", "wan1", "nodad"]);
        ip(&["-n", b, "addr", "add", "2001:db8:1::2/64", "dev", "lan0", "nodad"]);
        ip(&["-n", b, "addr", "add", "fe80::1/64", "dev", "lan0", "nodad"]);
        ip(&["-n", b, "addr", "add", "2001:db8:2::2/64", "dev", "lan1", "nodad"]);
        ip(&["-n", b, "addr", "add", "fe80::2/64", "dev", "lan1", "nodad"]);
        ip(&["-n", b, "addr", "add", "2001:db8:ff::1/128", "dev", "lo"]);
        for (ns, dev) in [(a, "lo"), (a, "wan0"), (a, "wan1"), (b, "lo"), (b, "lan0"), (b, "lan1")] {
            ip(&["-n", ns, "link", "set", dev, "up"]);
        }
        ip(&["-n", a, "route", "add", "203.0.113.0/24", "via", "192.0.2.2", "dev", "wan0"]);
        ip(&["-n", a, "route", "add", "2001:db8:ff::/48", "via", "fe80::1", "dev", "wan0"]);
        // A host that does not forward drops transit packets silently; a router answers
        // "net unreachable" when it has no route (net/ipv4/route.c `ip_error`; for IPv6
        // "no route", net/ipv6/route.c `ip6_pkt_drop`).
        sysctl(b, &["net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"]);
        Some(lab)
    }

    /// Runs `f` on a new thread inside ns b (see `in_a`).
    fn in_b<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        in_ns(&self.b, f)
    }

    /// Runs `f` on a new thread inside ns a and returns its result; a panic in `f` is re-raised
    /// here with its message.
    fn in_a<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        in_ns(&self.a, f)
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

#[test]
fn icmp6_reply_reaches_only_the_socket_that_sent_the_probe() {
    let Some(lab) = Lab::new("reply6") else { return };
    lab.in_a(|| {
        let mut probe = open("wan0", WAN0_ADDR6, IDENT);
        let mut other_ident = open("wan0", WAN0_ADDR6, IDENT + 1);
        let mut other_device = open("wan1", WAN0_ADDR6, IDENT);
        let mut other_addr = open("wan0", WAN1_ADDR6, IDENT);
        let mut ipv4 = open("wan0", WAN0_ADDR, IDENT);
        assert_eq!((probe.family(), ipv4.family()), (Family::V6, Family::V4));

        // The peer on the link, then an address behind the gateway (a route via fe80::1).
        for (seq, dst) in [(7, PEER6), (8, ROUTED6)] {
            probe.send_echo(dst.into(), seq).unwrap();
            let reply = next_packet(&mut probe, Duration::from_secs(2));
            assert_eq!(reply, Some(Ok(Icmp::EchoReply { src: dst.into(), dst: None, ident: IDENT, seq })), "{dst}");
        }
        assert_silent(&mut probe, "the probe socket, after its replies,");
        assert_silent(&mut other_ident, "an ICMPv6 socket with another ident (BPF)");
        assert_silent(&mut other_device, "an ICMPv6 socket bound to wan1 (SO_BINDTODEVICE)");
        assert_silent(&mut other_addr, "an ICMPv6 socket bound to 2001:db8:2::1 (bind)");
        assert_silent(&mut ipv4, "an ICMP socket with the same ident");
    });
}

#[test]
fn icmp6_probe_to_a_link_local_gateway_leaves_through_the_sockets_device() {
    let Some(lab) = Lab::new("ll6") else { return };
    lab.in_a(|| {
        let mut wan0 = open("wan0", WAN0_ADDR6, IDENT);
        let mut wan1 = open("wan1", WAN1_ADDR6, IDENT + 1);
        wan0.send_echo(GW6.into(), 1).unwrap();
        let reply = next_packet(&mut wan0, Duration::from_secs(2));
        assert_eq!(reply, Some(Ok(Icmp::EchoReply { src: GW6.into(), dst: None, ident: IDENT, seq: 1 })));

        // fe80::1 is only on wan0's link: out of wan1 nobody has it. fe80::2 is on wan1's.
        wan1.send_echo(GW6.into(), 2).unwrap();
        assert_eq!(next_packet(&mut wan1, Duration::from_millis(500)), None, "fe80::1 answered on wan1");
        wan1.send_echo(GW6_WAN1.into(), 3).unwrap();
        let reply = next_packet(&mut wan1, Duration::from_secs(2));
        assert_eq!(reply, Some(Ok(Icmp::EchoReply { src: GW6_WAN1.into(), dst: None, ident: IDENT + 1, seq: 3 })));
        assert_silent(&mut wan0, "wan0's socket, after wan1's probes,");
    });
}

#[test]
fn icmp6_no_route_from_the_gateway_names_our_probe() {
    let Some(lab) = Lab::new("unreach6") else { return };
    lab.in_a(|| {
        let mut probe = open("wan0", WAN0_ADDR6, IDENT);
        let mut other_ident = open("wan0", WAN0_ADDR6, IDENT + 1);
        probe.send_echo(BEYOND6.into(), 9).unwrap();
        let error = next_packet(&mut probe, Duration::from_secs(2));
        // The gateway answers from its global address: the one source address selection
        // (RFC 6724) picks for our global destination.
        assert_eq!(
            error,
            Some(Ok(Icmp::Error {
                src: PEER6.into(),
                kind: ErrorKind::DestUnreachable(0),
                orig_dst: BEYOND6.into(),
                echo: Some(EchoId { ident: IDENT, seq: 9 }),
            }))
        );
        assert_silent(&mut other_ident, "an ICMPv6 socket with another ident, for an error about our probe,");
    });
}

#[test]
fn icmp6_ping_from_the_namespace_does_not_reach_the_socket() {
    let Some(lab) = Lab::new("ping6") else { return };
    let has_ping = Command::new("ping").arg("-V").output().is_ok_and(|o| o.status.success());
    let peer_ns = lab.b.clone();
    lab.in_a(|| {
        let mut probe = open("wan0", WAN0_ADDR6, IDENT);
        probe.send_echo(PEER6.into(), 3).unwrap();
        let reply = next_packet(&mut probe, Duration::from_secs(2));
        assert!(matches!(reply, Some(Ok(Icmp::EchoReply { seq: 3, .. }))), "{reply:?}");

        if !has_ping {
            println!("note: ping (iputils-ping) not installed; the ping checks were not run");
            return;
        }
        // Another program's echo replies from the peer, the gateway's link-local address and
        // a routed address, on the same device and to the same address as ours.
        for dst in ["2001:db8:1::2", "fe80::1%wan0", "2001:db8:ff::1"] {
            run_ok(Command::new("ping").args(["-6", "-c1", "-W2", "-q", dst]));
        }
        assert_silent(&mut probe, "the probe socket, after another program's pings,");
        // And the gateway's error about another program's echo request: ping fails, we hear
        // nothing.
        let unreachable = Command::new("ping").args(["-6", "-c1", "-W1", "-q", "2001:db8:ff::5"]).output().unwrap();
        assert!(!unreachable.status.success(), "ping to an unrouted address succeeded");
        assert_silent(&mut probe, "the probe socket, after an error about another program's ping,");

        // The peer pinging our address: the kernel answers it, our socket never sees it.
        run_ok(Command::new("ip").args(["netns", "exec", &peer_ns, "ping", "-6", "-c1", "-W2", "-q", "2001:db8:1::1"]));
        assert_silent(&mut probe, "the probe socket, after the peer's ping,");
    });
}

/// An IPv6 packet from the peer to wan0's address carrying `msg` as ICMPv6, checksummed
/// unless `bad_checksum`.
fn icmp6_packet(msg: &[u8], bad_checksum: bool) -> Vec<u8> {
    let mut msg = msg.to_vec();
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&PEER6.octets());
    pseudo.extend_from_slice(&WAN0_ADDR6.octets());
    pseudo.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, 58]);
    pseudo.extend_from_slice(&msg);
    let sum = dualwan::wire::icmp::checksum(&pseudo) ^ if bad_checksum { 0x0100 } else { 0 };
    msg[2..4].copy_from_slice(&sum.to_be_bytes());
    let mut packet = vec![0x60, 0, 0, 0];
    packet.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    packet.extend_from_slice(&[58, 64]);
    packet.extend_from_slice(&PEER6.octets());
    packet.extend_from_slice(&WAN0_ADDR6.octets());
    packet.extend_from_slice(&msg);
    packet
}

/// Sends a whole IPv6 `packet` (header included) from the calling thread's namespace.
fn send_raw6(packet: &[u8]) {
    // SAFETY: socket(2) takes plain values; the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_INET6, libc::SOCK_RAW, libc::IPPROTO_RAW) };
    assert!(fd >= 0, "socket(AF_INET6, SOCK_RAW, IPPROTO_RAW): {}", Errno::last());
    // SAFETY: `fd` was just opened and is owned here alone.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // IPPROTO_RAW implies IPV6_HDRINCL on Linux: the kernel sends `packet` as it is.
    let to = nix::sys::socket::SockaddrIn6::from(std::net::SocketAddrV6::new(WAN0_ADDR6, 0, 0, 0));
    nix::sys::socket::sendto(fd.as_raw_fd(), packet, &to, nix::sys::socket::MsgFlags::empty()).expect("sendto");
}

#[test]
fn icmp6_bad_checksums_and_oversized_messages_are_not_taken_for_replies() {
    let Some(lab) = Lab::new("csum6") else { return };
    let reply = |seq: u16, len: usize| {
        let mut m = vec![129, 0, 0, 0];
        m.extend_from_slice(&IDENT.to_be_bytes());
        m.extend_from_slice(&seq.to_be_bytes());
        m.resize(len, 0x5a);
        m
    };
    let from_peer = |packets: &[Vec<u8>]| lab.in_b(|| packets.iter().for_each(|p| send_raw6(p)));
    lab.in_a(|| {
        let mut probe = open("wan0", WAN0_ADDR6, IDENT);
        let expect = |seq| Some(Ok(Icmp::EchoReply { src: PEER6.into(), dst: None, ident: IDENT, seq }));

        // A well-formed reply with our identifier passes whoever sends it...
        from_peer(&[icmp6_packet(&reply(100, 24), false)]);
        assert_eq!(next_packet(&mut probe, Duration::from_secs(2)), expect(100));

        // ...one with a bad checksum passes the filters, but the kernel drops it when it is
        // read: EAGAIN on this kernel (nothing to read), EHOSTUNREACH before 5.19.
        from_peer(&[icmp6_packet(&reply(101, 24), true)]);
        let got = next_packet(&mut probe, Duration::from_millis(300));
        assert!(matches!(got, None | Some(Err(Malformed::BadChecksum))), "{got:?}");

        // A good reply queued behind a bad one is still read (at the next poll).
        from_peer(&[icmp6_packet(&reply(102, 24), true), icmp6_packet(&reply(103, 24), false)]);
        let got = next_packet(&mut probe, Duration::from_secs(2));
        let got = if got == Some(Err(Malformed::BadChecksum)) {
            next_packet(&mut probe, Duration::from_secs(2))
        } else {
            got
        };
        assert_eq!(got, expect(103));

        // Longer than the receive buffer: reported as cut, not parsed from its first bytes.
        from_peer(&[icmp6_packet(&reply(104, 1000), false)]);
        assert_eq!(next_packet(&mut probe, Duration::from_secs(2)), Some(Err(Malformed::Truncated)));
        assert_silent(&mut probe, "the probe socket, after the injected messages,");
    });
}

#[test]
fn icmp6_open_and_send_report_what_the_kernel_refused() {
    let Some(lab) = Lab::new("errs6") else { return };
    lab.in_a(|| {
        let v6 = |op, errno| IcmpError { family: Family::V6, op, errno };
        let err = ProbeSocket::open("nosuch0", WAN0_ADDR6.into(), IDENT).unwrap_err();
        assert_eq!(err, v6(IcmpOp::BindDevice, Errno::ENODEV));
        let absent: IpAddr = "2001:db8:1::9".parse().unwrap();
        let err = ProbeSocket::open("wan0", absent, IDENT).unwrap_err();
        assert_eq!(err, v6(IcmpOp::Bind, Errno::EADDRNOTAVAIL));

        // A destination of the other family is refused before the kernel sees it.
        let mut probe = open("wan0", WAN0_ADDR6, IDENT);
        assert_eq!(probe.send_echo(PEER.into(), 1), Err(v6(IcmpOp::Send, Errno::EAFNOSUPPORT)));
        let mut ipv4 = open("wan0", WAN0_ADDR, IDENT);
        let err = ipv4.send_echo(PEER6.into(), 1).unwrap_err();
        assert_eq!(err, IcmpError { family: Family::V4, op: IcmpOp::Send, errno: Errno::EAFNOSUPPORT });

        // An address under duplicate address detection is tentative, and cannot be bound
        // until DAD has passed (about 1-2 s here).
        sysctl_here("net.ipv6.conf.wan0.accept_dad=1");
        ip(&["addr", "add", "2001:db8:1::9/64", "dev", "wan0"]);
        let err = ProbeSocket::open("wan0", absent, IDENT).unwrap_err();
        assert_eq!(err, v6(IcmpOp::Bind, Errno::EADDRNOTAVAIL));
        assert!(err.to_string().ends_with("(address not assigned to this host, or still tentative)"), "{err}");
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut late = loop {
            match ProbeSocket::open("wan0", absent, IDENT) {
                Ok(s) => break s,
                Err(e) if e == v6(IcmpOp::Bind, Errno::EADDRNOTAVAIL) && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Err(e) => panic!("open after DAD: {e}"),
            }
        };
        late.send_echo(PEER6.into(), 2).unwrap();
        assert!(matches!(next_packet(&mut late, Duration::from_secs(2)), Some(Ok(Icmp::EchoReply { seq: 2, .. }))));

        // The bound address removed: while another address keeps the prefix route the kernel
        // still sends, from the address that is gone (so the owner must reopen on removal);
        // with the last one gone (or the link down, which removes them) there is no route.
        ip(&["addr", "del", "2001:db8:1::1/64", "dev", "wan0"]);
        assert_eq!(probe.send_echo(PEER6.into(), 3), Ok(()));
        ip(&["addr", "del", "2001:db8:1::9/64", "dev", "wan0"]);
        assert_eq!(probe.send_echo(PEER6.into(), 4), Err(v6(IcmpOp::Send, Errno::ENETUNREACH)));
    });
}

/// Sets one sysctl in the calling thread's namespace (a child process inherits it).
fn sysctl_here(setting: &str) {
    run_ok(Command::new("sysctl").args(["-qw", setting]));
}

#[test]
fn icmp6_probes_through_the_lab_router_reach_inet_by_either_wan() {
    use common::lab::{lab6_or_skip, GW6 as LAB_GW6, TARGETS6, WAN_ADDR6};
    let Some(lab) = lab6_or_skip("icmp6") else { return };
    let rtr = lab.ns("rtr");
    let target: Ipv6Addr = TARGETS6[0].parse().unwrap();
    let gw: Ipv6Addr = LAB_GW6.parse().unwrap();
    let in_rtr = |f: &(dyn Fn() + Sync)| in_ns(&rtr, f);
    let probe = |wan: usize, dst: Ipv6Addr, seq: u16| {
        let src: Ipv6Addr = WAN_ADDR6[wan].parse().unwrap();
        let mut sock = open(&format!("wan{}", wan + 1), src, IDENT + wan as u16);
        sock.send_echo(dst.into(), seq).unwrap();
        next_packet(&mut sock, Duration::from_secs(1))
    };
    let reply = |src: Ipv6Addr, wan: usize, seq| {
        Some(Ok(Icmp::EchoReply { src: src.into(), dst: None, ident: IDENT + wan as u16, seq }))
    };
    in_rtr(&|| {
        // Both gateways are fe80::1; the socket's device picks the link.
        for wan in 0..2 {
            assert_eq!(probe(wan, gw, 1), reply(gw, wan, 1), "gateway via wan{}", wan + 1);
            assert_eq!(probe(wan, target, 2), reply(target, wan, 2), "target via wan{}", wan + 1);
        }
    });
    // ISP 1 stops forwarding: its gateway still answers, the target only through ISP 2.
    lab.upstream_fail(1);
    in_rtr(&|| {
        assert_eq!(probe(0, gw, 3), reply(gw, 0, 3));
        assert_eq!(probe(0, target, 4), None);
        assert_eq!(probe(1, target, 5), reply(target, 1, 5));
    });
}

/// Counts each thread's heap allocations: probing must make none.
#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn probes_and_replies_allocate_nothing() {
    let Some(lab) = Lab::new("alloc") else { return };
    assert_eq!(allocations_in(|| drop(std::hint::black_box(vec![0u8; 8]))), 1, "the counter does not count");
    lab.in_a(|| {
        let cases: [(IpAddr, IpAddr); 3] =
            [(WAN0_ADDR.into(), PEER.into()), (WAN0_ADDR6.into(), PEER6.into()), (WAN0_ADDR6.into(), GW6.into())];
        for (src, dst) in cases {
            // Opening may allocate (the device name for SO_BINDTODEVICE); probing may not.
            let mut probe = open("wan0", src, IDENT);
            probe.send_echo(dst, 0).unwrap();
            assert!(matches!(next_packet(&mut probe, Duration::from_secs(2)), Some(Ok(Icmp::EchoReply { .. }))));
            let mut replies = 0;
            let n = allocations_in(|| {
                for seq in 1..=20 {
                    probe.send_echo(dst, seq).unwrap();
                    if let Some(Ok(Icmp::EchoReply { seq: got, .. })) = next_packet(&mut probe, Duration::from_secs(2))
                    {
                        replies += usize::from(got == seq);
                    }
                }
            });
            assert_eq!((n, replies), (0, 20), "allocations and replies for 20 probes to {dst}");
        }
    });
}
