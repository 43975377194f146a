//! `sys::tcp_probe::TcpProbes` against the real kernel, in network namespaces made for each test.
//!
//! Lab (names `dwtcp<pid><test>a` / `...b`, removed by `Lab`'s `Drop`, panics included):
//! ```text
//!  ns a (the router)                          ns b (the targets, no forwarding)
//!  wan0 192.0.2.1/24  ── veth ──────────────  lan0 192.0.2.2/24
//!       2001:db8:1::1/64                           2001:db8:1::2/64
//!  wan1 198.51.100.1/24 ── veth ────────────  lan1 198.51.100.2/24
//!       2001:db8:2::1/64                           2001:db8:2::2/64
//!  203.0.113.0/24   via 198.51.100.2 dev wan1 metric 100    lo 203.0.113.5/32
//!                   via 192.0.2.2    dev wan0 metric 200       2001:db8:ff::5/128
//!  2001:db8:ff::/48 via 2001:db8:2::2 dev wan1 metric 100
//!                   via 2001:db8:1::2 dev wan0 metric 200
//! ```
//! The routed targets on b's lo are reached by wan1 unless a socket is bound to wan0.
//! Firewalls are nftables tables in ns b; SYNs are counted there by named counters.
//!
//! Needs root (CI runs as root). `DUALWAN_SKIP_NETNS=1` skips with a reason instead. Each test
//! runs its body on a thread of its own that enters a namespace with `setns(2)` (which changes
//! only the calling thread). The tests take one lock for their whole body, as they count the
//! process's descriptors, allocations and CPU time.

mod common;

use common::alloc::{allocations_in, Counting};
use common::netns::{in_ns, ip, may_build_namespaces, sysctl};
use dualwan::sys::clock;
use dualwan::sys::tcp_probe::{TcpOp, TcpOutcome, TcpProbeError, TcpProbes, TcpResult, TCP_PROBES_MAX};
use dualwan::time::{Duration as Span, Instant as At};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::io::{ErrorKind, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

const WAN0: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const PEER0: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const WAN1: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// On b's lo, routed by either WAN, wan1 preferred.
const ROUTED: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 5);
const WAN0_6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
const PEER0_6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2);
const WAN1_6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 1);
const ROUTED6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 5);

/// A port something listens on, one nothing listens on.
const OPEN: u16 = 443;
const CLOSED: u16 = 444;

/// (wan0's address, the peer's address on wan0's link, wan1's address, the routed target) of
/// each family.
fn addrs() -> [(IpAddr, IpAddr, IpAddr, IpAddr); 2] {
    [
        (WAN0.into(), PEER0.into(), WAN1.into(), ROUTED.into()),
        (WAN0_6.into(), PEER0_6.into(), WAN1_6.into(), ROUTED6.into()),
    ]
}

/// Two namespaces wired as in the module doc; both are deleted on drop.
struct Lab {
    a: String,
    b: String,
    _one_at_a_time: MutexGuard<'static, ()>,
}

impl Lab {
    /// Builds the lab, or returns `None` (after saying why) when `DUALWAN_SKIP_NETNS=1`.
    fn new(test: &str) -> Option<Lab> {
        if !may_build_namespaces() {
            return None;
        }
        static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let id = std::process::id();
        // Made before the first command so that Drop removes whatever part got created.
        let lab = Lab { a: format!("dwtcp{id}{test}a"), b: format!("dwtcp{id}{test}b"), _one_at_a_time: turn };
        let (a, b) = (lab.a.as_str(), lab.b.as_str());
        ip(&["netns", "add", a]);
        ip(&["netns", "add", b]);
        for ns in [a, b] {
            sysctl(ns, &["net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"]);
        }
        ip(&["-n", a, "link", "add", "wan0", "type", "veth", "peer", "name", "lan0", "netns", b]);
        ip(&["-n", a, "link", "add", "wan1", "type", "veth", "peer", "name", "lan1", "netns", b]);
        for (ns, addr, dev) in [
            (a, "192.0.2.1/24", "wan0"),
            (a, "198.51.100.1/24", "wan1"),
            (b, "192.0.2.2/24", "lan0"),
            (b, "198.51.100.2/24", "lan1"),
            (b, "203.0.113.5/32", "lo"),
        ] {
            ip(&["-n", ns, "addr", "add", addr, "dev", dev]);
        }
        for (ns, addr, dev) in [
            (a, "2001:db8:1::1/64", "wan0"),
            (a, "2001:db8:2::1/64", "wan1"),
            (b, "2001:db8:1::2/64", "lan0"),
            (b, "2001:db8:2::2/64", "lan1"),
            (b, "2001:db8:ff::5/128", "lo"),
        ] {
            ip(&["-n", ns, "addr", "add", addr, "dev", dev, "nodad"]);
        }
        for (ns, dev) in [(a, "lo"), (a, "wan0"), (a, "wan1"), (b, "lo"), (b, "lan0"), (b, "lan1")] {
            ip(&["-n", ns, "link", "set", dev, "up"]);
        }
        ip(&["-n", a, "route", "add", "203.0.113.0/24", "via", "198.51.100.2", "dev", "wan1", "metric", "100"]);
        ip(&["-n", a, "route", "add", "203.0.113.0/24", "via", "192.0.2.2", "dev", "wan0", "metric", "200"]);
        ip(&["-n", a, "route", "add", "2001:db8:ff::/48", "via", "2001:db8:2::2", "dev", "wan1", "metric", "100"]);
        ip(&["-n", a, "route", "add", "2001:db8:ff::/48", "via", "2001:db8:1::2", "dev", "wan0", "metric", "200"]);
        // A device gets its link-local address when the kernel sees its carrier, up to 1 s
        // after `up` (linkwatch); until then neighbour discovery sends nothing and the first
        // IPv6 SYN waits for its retransmission.
        let ready = common::lab::wait_until(Duration::from_secs(5), || {
            [(a, "wan0"), (a, "wan1"), (b, "lan0"), (b, "lan1")].iter().all(|(ns, dev)| {
                let out =
                    Command::new("ip").args(["-n", ns, "-6", "addr", "show", "dev", dev, "scope", "link"]).output();
                out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("fe80::"))
            })
        });
        assert!(ready.is_some(), "no IPv6 link-local addresses after 5 s");
        Some(lab)
    }

    /// Runs `f` on a new thread inside ns a and returns its result; a panic in `f` is re-raised
    /// here with its message.
    fn in_a<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        in_ns(&self.a, f)
    }

    /// The same inside ns b.
    fn in_b<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        in_ns(&self.b, f)
    }

    /// Loads an nftables ruleset into ns b.
    fn nft_b(&self, ruleset: &str) {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.b, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run nft");
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), ruleset.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "nft -f: {}\n{ruleset}", String::from_utf8_lossy(&out.stderr));
    }

    /// Packets counted so far by the named counter `name` of table `inet probe` in ns b.
    fn counter_b(&self, name: &str) -> u64 {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.b, "nft", "list", "counter", "inet", "probe", name])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let packets = text.split_whitespace().skip_while(|w| *w != "packets").nth(1);
        packets.and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("counter {name}: {text}"))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// A listening socket on `addr`, made in the calling thread's namespace (it stays there).
fn listen(addr: IpAddr, port: u16) -> TcpListener {
    let l = TcpListener::bind(SocketAddr::new(addr, port)).unwrap_or_else(|e| panic!("listen {addr} {port}: {e}"));
    l.set_nonblocking(true).unwrap();
    l
}

fn open(device: &str, src: IpAddr) -> TcpProbes {
    TcpProbes::open(device, src).unwrap_or_else(|e| panic!("open {device} {src}: {e}"))
}

fn deadline_in(span: Duration) -> At {
    clock::now() + Span::from_micros(span.as_micros() as u64)
}

fn start(probes: &mut TcpProbes, dst: IpAddr, port: u16, token: u16, within: Duration) {
    probes.start(dst, port, token, deadline_in(within)).unwrap_or_else(|e| panic!("start {dst} {port}: {e}"));
}

/// The poll loop in small: waits on the set's fd until `n` results came (from `drain`, or
/// `expire` at the deadlines) or `wait` passed; each result with the time it took since the
/// call and whether `expire` gave it.
fn results(probes: &mut TcpProbes, n: usize, wait: Duration) -> Vec<(TcpResult, Duration, bool)> {
    let t0 = Instant::now();
    let mut got = Vec::new();
    while got.len() < n {
        let left = wait.saturating_sub(t0.elapsed());
        if left.is_zero() {
            break;
        }
        // Wake at the next deadline at the latest, as main's loop does.
        let until_deadline =
            probes.next_deadline().map(|d| Duration::from_micros(d.saturating_since(clock::now()).as_micros()));
        let sleep = until_deadline.map_or(left, |d| d.min(left));
        let ms = u16::try_from(sleep.as_micros().div_ceil(1000)).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(probes.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => panic!("poll: {e}"),
        }
        probes.drain(&mut |r| got.push((r, t0.elapsed(), false))).expect("drain");
        probes.expire(clock::now(), &mut |r| got.push((r, t0.elapsed(), true)));
    }
    got
}

/// The one result of a single probe, within `wait`.
fn one_result(probes: &mut TcpProbes, wait: Duration) -> (TcpResult, Duration, bool) {
    let mut got = results(probes, 1, wait);
    assert_eq!(got.len(), 1, "results: {got:?}");
    got.remove(0)
}

/// TCP sockets of the calling thread's namespace as (state, local port, remote port), from
/// /proc/thread-self/net (/proc/self/net is the namespace of the main thread).
fn tcp_sockets() -> Vec<(u8, u16, u16)> {
    let mut all = Vec::new();
    for file in ["tcp", "tcp6"] {
        let text = std::fs::read_to_string(format!("/proc/thread-self/net/{file}")).unwrap();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let port = |field: &str| u16::from_str_radix(field.rsplit(':').next().unwrap(), 16).unwrap();
            all.push((u8::from_str_radix(f[3], 16).unwrap(), port(f[1]), port(f[2])));
        }
    }
    all
}

/// TCP states in /proc/net/tcp (include/net/tcp_states.h).
const ESTABLISHED: u8 = 1;
const LISTEN: u8 = 10;

/// Descriptors this process holds.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn syn_ack_from_a_listening_port_is_an_answer_and_the_connection_is_reset() {
    let Some(lab) = Lab::new("open") else { return };
    for (src, peer, _, _) in addrs() {
        let listener = lab.in_b(|| listen(peer, OPEN));
        let (result, took, expired) = lab.in_a(|| {
            let mut probes = open("wan0", src);
            start(&mut probes, peer, OPEN, 0x0071, Duration::from_secs(2));
            assert_eq!(probes.len(), 1);
            let got = one_result(&mut probes, Duration::from_secs(3));
            assert!(probes.is_empty());
            // Closed with RST: nothing of ours is left, not even in TIME_WAIT.
            assert_eq!(tcp_sockets(), [], "sockets left in ns a");
            got
        });
        assert_eq!(result, TcpResult { token: 0x0071, dst: peer, outcome: TcpOutcome::Open });
        assert!(!expired && took < Duration::from_secs(1), "{peer}: answered after {took:?}");
        println!("{peer}: SYN-ACK after {took:?}");

        // The target completed the handshake and queued the connection; our RST reset it.
        let (mut conn, _) = listener.accept().expect("the probe's connection in the accept queue");
        conn.set_nonblocking(false).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let read = conn.read(&mut [0u8; 16]);
        assert_eq!(read.map_err(|e| e.kind()), Err(ErrorKind::ConnectionReset), "{peer}: the target's side");
        drop(conn);
        let left = lab.in_b(tcp_sockets);
        assert!(left.iter().all(|&(state, ..)| state == LISTEN), "{peer}: sockets left in ns b: {left:?}");
        assert!(!left.iter().any(|&(state, ..)| state == ESTABLISHED));
    }
}

#[test]
fn rst_from_a_closed_port_is_an_answer() {
    let Some(lab) = Lab::new("closed") else { return };
    lab.in_a(|| {
        for (src, peer, _, routed) in addrs() {
            let mut probes = open("wan0", src);
            start(&mut probes, peer, CLOSED, 1, Duration::from_secs(2));
            start(&mut probes, routed, CLOSED, 2, Duration::from_secs(2));
            let mut got = results(&mut probes, 2, Duration::from_secs(3));
            got.sort_by_key(|(r, ..)| r.token);
            let outcomes: Vec<_> = got.iter().map(|(r, _, expired)| (r.token, r.dst, r.outcome, *expired)).collect();
            assert_eq!(
                outcomes,
                [(1, peer, TcpOutcome::Reset, false), (2, routed, TcpOutcome::Reset, false)],
                "from {src}"
            );
            assert!(got.iter().all(|(_, took, _)| *took < Duration::from_secs(1)));
            assert_eq!(tcp_sockets(), []);
        }
    });
}

/// Drops TCP to `OPEN` in ns b's input, counting the SYNs of each family.
const DROP_RULES: &str = "table inet probe {
    counter syn4 {}
    counter syn6 {}
    chain input {
        type filter hook input priority 0; policy accept;
        meta nfproto ipv4 tcp dport 443 tcp flags & (syn | ack) == syn counter name syn4
        meta nfproto ipv6 tcp dport 443 tcp flags & (syn | ack) == syn counter name syn6
        tcp dport 443 drop
    }
}";

#[test]
fn a_dropped_syn_is_lost_at_the_deadline() {
    let Some(lab) = Lab::new("drop") else { return };
    lab.nft_b(DROP_RULES);
    let listeners: Vec<TcpListener> = lab.in_b(|| addrs().map(|(_, peer, ..)| listen(peer, OPEN)).into());
    lab.in_a(|| {
        for (src, peer, ..) in addrs() {
            let mut probes = open("wan0", src);
            start(&mut probes, peer, OPEN, 9, Duration::from_millis(700));
            let (result, took, expired) = one_result(&mut probes, Duration::from_secs(2));
            assert_eq!(result, TcpResult { token: 9, dst: peer, outcome: TcpOutcome::Lost(Errno::ETIMEDOUT) });
            assert!(expired, "reported by expire, not by the socket");
            assert!(took >= Duration::from_millis(690) && took < Duration::from_millis(1000), "{peer}: {took:?}");
            assert!(probes.is_empty());
            assert_eq!(tcp_sockets(), [], "the timed-out socket is closed");
        }
    });
    // One SYN each: the kernel's first retransmission would come at 1 s.
    assert_eq!((lab.counter_b("syn4"), lab.counter_b("syn6")), (1, 1));
    for l in &listeners {
        assert_eq!(l.accept().map(drop).map_err(|e| e.kind()), Err(ErrorKind::WouldBlock));
    }
}

#[test]
fn the_kernel_retransmits_a_syn_once_and_gives_up_at_3_s() {
    let Some(lab) = Lab::new("syncnt") else { return };
    lab.nft_b(DROP_RULES);
    common::skip::progress("waiting for the kernel to give up on its SYNs (3 s)");
    let syns = lab.in_a(|| {
        // Both families at once: one 3 s wait.
        let mut sets: Vec<TcpProbes> = addrs().iter().map(|&(src, ..)| open("wan0", src)).collect();
        for (probes, (_, peer, ..)) in sets.iter_mut().zip(addrs()) {
            start(probes, peer, OPEN, 3, Duration::from_secs(10));
        }
        let started = Instant::now();
        for (probes, (_, peer, ..)) in sets.iter_mut().zip(addrs()) {
            let (result, _, expired) = one_result(probes, Duration::from_secs(6));
            let took = started.elapsed();
            // TCP_SYNCNT 1: SYN at 0 s, again at 1 s, ETIMEDOUT at 3 s (1 s + 2 s backoff),
            // long before the 10 s deadline.
            assert_eq!(result.outcome, TcpOutcome::Lost(Errno::ETIMEDOUT), "{peer}");
            assert!(!expired, "{peer}: reported by the socket");
            assert!(took > Duration::from_millis(2500) && took < Duration::from_millis(4500), "{peer}: {took:?}");
            println!("{peer}: the kernel gave up after {took:?}");
        }
        // Kernels with `tcp_syn_linear_timeouts` (6.18 here; not OpenWrt's 6.6 or 6.12) wait
        // 1 s, not 2 s, before the second retransmission and send it within the same 3 s.
        let linear = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_syn_linear_timeouts")
            .is_ok_and(|v| v.trim().parse::<u32>().is_ok_and(|n| n > 0));
        if linear {
            3
        } else {
            2
        }
    });
    assert_eq!((lab.counter_b("syn4"), lab.counter_b("syn6")), (syns, syns), "SYNs sent per probe");
}

#[test]
fn icmp_errors_are_losses_before_the_deadline_and_a_reject_is_no_rst() {
    let Some(lab) = Lab::new("reject") else { return };
    // Every port answers differently; 449 answers for the target, with a RST.
    lab.nft_b(
        "table inet probe {
            chain input {
                type filter hook input priority 0; policy accept;
                meta nfproto ipv4 tcp dport 445 reject with icmp type host-unreachable
                meta nfproto ipv4 tcp dport 446 reject with icmp type admin-prohibited
                meta nfproto ipv4 tcp dport 447 reject with icmp type net-unreachable
                meta nfproto ipv6 tcp dport 445 reject with icmpv6 type addr-unreachable
                meta nfproto ipv6 tcp dport 446 reject with icmpv6 type admin-prohibited
                meta nfproto ipv6 tcp dport 447 reject with icmpv6 type no-route
                tcp dport 448 reject
                tcp dport 449 reject with tcp reset
            }
        }",
    );
    let _listeners: Vec<TcpListener> =
        lab.in_b(|| addrs().into_iter().flat_map(|(_, peer, ..)| (445..=449).map(move |p| listen(peer, p))).collect());
    let expected = |family_v4: bool, port: u16| match (family_v4, port) {
        (_, 445) => TcpOutcome::Lost(Errno::EHOSTUNREACH),
        // ICMP code 13, communication administratively prohibited (RFC 1812).
        (true, 446) => TcpOutcome::Lost(Errno::EHOSTUNREACH),
        (false, 446) => TcpOutcome::Lost(Errno::EACCES),
        (_, 447) => TcpOutcome::Lost(Errno::ENETUNREACH),
        // Port unreachable: the kernel's errno is that of a RST, the error queue tells them apart.
        (_, 448) => TcpOutcome::Lost(Errno::ECONNREFUSED),
        _ => TcpOutcome::Reset,
    };
    lab.in_a(|| {
        for (src, peer, ..) in addrs() {
            let mut probes = open("wan0", src);
            for port in 445..=449 {
                start(&mut probes, peer, port, port, Duration::from_secs(3));
            }
            let mut got = results(&mut probes, 5, Duration::from_secs(4));
            got.sort_by_key(|(r, ..)| r.token);
            assert_eq!(got.len(), 5, "{got:?}");
            for (result, took, expired) in got {
                let port = result.token;
                assert_eq!(result.outcome, expected(src.is_ipv4(), port), "{peer} port {port}");
                assert!(!expired && took < Duration::from_millis(500), "{peer} port {port}: after {took:?}");
                println!("{peer} port {port}: {} after {took:?}", result.outcome);
            }
            assert_eq!(tcp_sockets(), []);
        }
    });
}

#[test]
fn a_probe_leaves_by_its_device_with_its_address_whatever_the_routes_prefer() {
    let Some(lab) = Lab::new("bound") else { return };
    lab.nft_b(
        "table inet probe {
            counter lan0_v4 {}
            counter lan0_v6 {}
            counter lan1 {}
            counter lan0_other {}
            chain input {
                type filter hook input priority 0; policy accept;
                tcp dport 443 tcp flags & (syn | ack) != syn accept
                iifname \"lan0\" ip saddr 192.0.2.1 tcp dport 443 counter name lan0_v4 accept
                iifname \"lan0\" ip6 saddr 2001:db8:1::1 tcp dport 443 counter name lan0_v6 accept
                iifname \"lan0\" tcp dport 443 counter name lan0_other accept
                iifname \"lan1\" tcp dport 443 counter name lan1 accept
            }
        }",
    );
    let listeners: Vec<TcpListener> = lab.in_b(|| addrs().map(|(.., routed)| listen(routed, OPEN)).into());
    lab.in_a(|| {
        for (_, _, _, routed) in addrs() {
            // Control: an unbound connection takes the preferred route, wan1.
            TcpStream::connect_timeout(&SocketAddr::new(routed, OPEN), Duration::from_secs(2)).unwrap();
        }
    });
    assert_eq!((lab.counter_b("lan1"), lab.counter_b("lan0_v4"), lab.counter_b("lan0_v6")), (2, 0, 0));
    lab.in_a(|| {
        for (src, _, _, routed) in addrs() {
            let mut probes = open("wan0", src);
            start(&mut probes, routed, OPEN, 5, Duration::from_secs(2));
            let (result, ..) = one_result(&mut probes, Duration::from_secs(3));
            assert_eq!(result.outcome, TcpOutcome::Open, "{routed} from {src} by wan0");
        }
    });
    assert_eq!(
        [lab.counter_b("lan0_v4"), lab.counter_b("lan0_v6"), lab.counter_b("lan0_other"), lab.counter_b("lan1")],
        [1, 1, 0, 2],
        "SYNs on each link, after the probes"
    );
    drop(listeners);
}

#[test]
fn start_reports_what_the_kernel_refused() {
    let Some(lab) = Lab::new("errs") else { return };
    let v4 = lab.in_a(|| {
        for (src, peer, _, _) in addrs() {
            let family = dualwan::route::Family::of(&src);
            let call = |op, errno| TcpProbeError::Call { family, op, errno };
            let soon = deadline_in(Duration::from_secs(1));

            // The device is looked up per probe (IPv6: once, for link-local scopes).
            match TcpProbes::open("nosuch0", src) {
                Ok(mut probes) => {
                    assert_eq!(probes.start(peer, OPEN, 1, soon), Err(call(TcpOp::BindDevice, Errno::ENODEV)))
                }
                Err(e) => assert_eq!(e, call(TcpOp::IfIndex, Errno::ENODEV)),
            }
            let absent: IpAddr =
                if src.is_ipv4() { "192.0.2.77".parse().unwrap() } else { "2001:db8:1::77".parse().unwrap() };
            let mut gone = open("wan0", absent);
            assert_eq!(gone.start(peer, OPEN, 1, soon), Err(call(TcpOp::Bind, Errno::EADDRNOTAVAIL)));

            let mut probes = open("wan0", src);
            let other: IpAddr = if src.is_ipv4() { PEER0_6.into() } else { PEER0.into() };
            assert_eq!(probes.start(other, OPEN, 1, soon), Err(call(TcpOp::Connect, Errno::EAFNOSUPPORT)));
            // wan1's subnet is not routed by wan0. IPv6 looks up routes of the bound device
            // only: none. IPv4 then assumes the target is on the bound device's link and sends
            // anyway (`ip_route_output_key_hash_rcu`), as it does for ICMP probes.
            let off_link: IpAddr =
                if src.is_ipv4() { "198.51.100.2".parse().unwrap() } else { "2001:db8:2::2".parse().unwrap() };
            match family {
                dualwan::route::Family::V6 => {
                    assert_eq!(probes.start(off_link, OPEN, 1, soon), Err(call(TcpOp::Connect, Errno::ENETUNREACH)))
                }
                dualwan::route::Family::V4 => {
                    assert_eq!(probes.start(off_link, OPEN, 1, soon), Ok(()));
                    probes.clear();
                }
            }
            assert!(probes.is_empty(), "nothing in flight after a refused start");
        }
        // Link down: its routes are gone, nothing leaves by the device; IPv6 addresses leave
        // with the link (without keep_addr_on_down).
        let v4 = open("wan0", WAN0.into());
        ip(&["link", "set", "wan0", "down"]);
        for (src, peer, ..) in addrs() {
            let family = dualwan::route::Family::of(&src);
            let mut probes = open("wan0", src);
            let err = probes.start(peer, OPEN, 1, deadline_in(Duration::from_secs(1))).unwrap_err();
            let expected = match family {
                dualwan::route::Family::V4 => (TcpOp::Connect, Errno::ENETUNREACH),
                dualwan::route::Family::V6 => (TcpOp::Bind, Errno::EADDRNOTAVAIL),
            };
            assert_eq!(err, TcpProbeError::Call { family, op: expected.0, errno: expected.1 });
            println!("{src} with the link down: {err}");
        }
        v4
    });
    // The device deleted and made again under its name, as PPP does on every reconnect: each
    // probe binds by name, so a set opened before still works.
    let mut v4 = v4;
    ip(&["-n", &lab.a, "link", "del", "wan0"]);
    ip(&["-n", &lab.a, "link", "add", "wan0", "type", "veth", "peer", "name", "lan0", "netns", &lab.b]);
    ip(&["-n", &lab.a, "addr", "add", "192.0.2.1/24", "dev", "wan0"]);
    ip(&["-n", &lab.b, "addr", "add", "192.0.2.2/24", "dev", "lan0"]);
    ip(&["-n", &lab.a, "link", "set", "wan0", "up"]);
    ip(&["-n", &lab.b, "link", "set", "lan0", "up"]);
    lab.in_a(|| {
        start(&mut v4, PEER0.into(), CLOSED, 2, Duration::from_secs(2));
        let (result, ..) = one_result(&mut v4, Duration::from_secs(3));
        assert_eq!(result.outcome, TcpOutcome::Reset, "through the new wan0");
    });
}

#[test]
fn a_full_set_refuses_more_and_every_way_out_closes_the_socket() {
    let Some(lab) = Lab::new("full") else { return };
    lab.nft_b(DROP_RULES);
    lab.in_a(|| {
        for (src, peer, ..) in addrs() {
            let family = dualwan::route::Family::of(&src);
            let before = open_fds();
            let mut probes = open("wan0", src);
            assert_eq!(open_fds(), before + 1, "the epoll fd");
            let (near, far) = (deadline_in(Duration::from_millis(300)), deadline_in(Duration::from_secs(30)));
            for token in 0..TCP_PROBES_MAX as u16 {
                // Half expire soon, half wait for cancel.
                let deadline = if token % 2 == 0 { near } else { far };
                probes.start(peer, OPEN, token, deadline).unwrap_or_else(|e| panic!("probe {token}: {e}"));
            }
            assert_eq!(open_fds(), before + 1 + TCP_PROBES_MAX);
            assert_eq!(probes.start(peer, OPEN, 999, far), Err(TcpProbeError::Full { family }));
            assert_eq!(open_fds(), before + 1 + TCP_PROBES_MAX, "a refused probe opens nothing");

            // Nothing answers: the near half expires, each reported once, with its token.
            let got = results(&mut probes, TCP_PROBES_MAX / 2, Duration::from_secs(2));
            let mut tokens: Vec<u16> = got.iter().map(|(r, ..)| r.token).collect();
            tokens.sort_unstable();
            assert_eq!(tokens, (0..TCP_PROBES_MAX as u16).step_by(2).collect::<Vec<_>>());
            assert!(got.iter().all(|(r, _, expired)| *expired && r.outcome == TcpOutcome::Lost(Errno::ETIMEDOUT)));
            assert_eq!(probes.len(), TCP_PROBES_MAX / 2);
            assert_eq!(open_fds(), before + 1 + TCP_PROBES_MAX / 2);
            assert_eq!(probes.next_deadline(), Some(far));

            // Room again.
            probes.start(peer, OPEN, 1000, far).unwrap();
            assert_eq!(probes.cancel(1000), 1);
            assert_eq!(probes.cancel(1000), 0, "cancelled once");
            for token in (1..TCP_PROBES_MAX as u16).step_by(4) {
                assert_eq!(probes.cancel(token), 1);
            }
            assert_eq!(open_fds(), before + 1 + TCP_PROBES_MAX / 4);
            probes.clear();
            assert_eq!((probes.len(), open_fds()), (0, before + 1));
            // Nothing left to report after a cancel.
            assert_eq!(results(&mut probes, 1, Duration::from_millis(100)), []);

            probes.start(peer, OPEN, 7, far).unwrap();
            drop(probes);
            assert_eq!(open_fds(), before, "dropping the set closes its probes and the epoll fd");
            assert_eq!(tcp_sockets(), []);
        }
    });
}

/// Counts each thread's heap allocations: probing must make none.
#[global_allocator]
static GLOBAL: Counting = Counting;

/// CPU time the calling thread has used (`CLOCK_THREAD_CPUTIME_ID`: the scheduler's count in
/// nanoseconds, where getrusage(2) only counts ticks).
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec for the call to fill.
    assert_eq!(unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) }, 0);
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Runs `rounds` rounds of 4 probes to `dst`'s `port`, each round waited for as the poll loop
/// would (results, or expiry at `within`); returns how many results were `expect` and carried
/// their round's token. Allocates nothing itself.
fn probe_rounds(
    probes: &mut TcpProbes,
    dst: IpAddr,
    port: u16,
    rounds: usize,
    within: Duration,
    expect: TcpOutcome,
) -> usize {
    let mut matching = 0;
    for round in 0..rounds {
        let deadline = deadline_in(within);
        for slot in 0..4u16 {
            probes.start(dst, port, (round as u16) << 4 | slot, deadline).expect("start");
        }
        let mut left = 4;
        while left > 0 {
            let until = probes.next_deadline().map_or(0, |d| d.saturating_since(clock::now()).as_millis());
            let mut fds = [PollFd::new(probes.as_fd(), PollFlags::POLLIN)];
            let _ = poll(&mut fds, PollTimeout::from(u16::try_from(until + 1).unwrap_or(u16::MAX)));
            let mut tally = |r: TcpResult| {
                left -= 1;
                matching += usize::from(r.outcome == expect && r.token >> 4 == round as u16);
            };
            probes.drain(&mut tally).expect("drain");
            probes.expire(clock::now(), &mut tally);
        }
    }
    matching
}

#[test]
fn probes_allocate_nothing_and_cost_little_cpu() {
    let Some(lab) = Lab::new("cost") else { return };
    assert_eq!(allocations_in(|| drop(std::hint::black_box(vec![0u8; 8]))), 1, "the counter does not count");
    lab.nft_b(DROP_RULES);
    let _listeners: Vec<TcpListener> = lab.in_b(|| {
        addrs().into_iter().flat_map(|(_, peer, ..)| [listen(peer, CLOSED + 100), listen(peer, CLOSED + 101)]).collect()
    });
    // The listeners' accept queues fill up (backlog 128), after which the target drops SYNs:
    // keep each case below that.
    lab.in_a(|| {
        for (src, peer, ..) in addrs() {
            let mut probes = open("wan0", src);
            let cases = [
                ("SYN-ACK", CLOSED + 100, TcpOutcome::Open, Duration::from_secs(2)),
                ("RST", CLOSED, TcpOutcome::Reset, Duration::from_secs(2)),
                ("dropped", OPEN, TcpOutcome::Lost(Errno::ETIMEDOUT), Duration::from_millis(5)),
            ];
            for (what, port, expect, within) in cases {
                // Warm-up outside the measurement (first-use paths, the fd table's growth).
                assert_eq!(probe_rounds(&mut probes, peer, port, 2, within, expect), 8, "{what} warm-up");
                let mut answers = 0;
                let n = allocations_in(|| answers = probe_rounds(&mut probes, peer, port, 5, within, expect));
                assert_eq!((n, answers), (0, 20), "allocations and expected outcomes of 20 probes to {peer} ({what})");
            }
            // CPU, with the kernel's work that runs on this thread (the SYN, the target's
            // answer and our RST cross the veth in softirq context, counted here unless the
            // kernel accounts softirq time apart): 100 probes to a listener (its accept queue
            // holds 128), 400 to a closed port.
            for (what, port, expect, rounds) in
                [("SYN-ACK", CLOSED + 101, TcpOutcome::Open, 25), ("RST", CLOSED, TcpOutcome::Reset, 100)]
            {
                let (cpu, wall) = (thread_cpu(), Instant::now());
                let answers = probe_rounds(&mut probes, peer, port, rounds, Duration::from_secs(2), expect);
                let (cpu, wall) = (thread_cpu() - cpu, wall.elapsed());
                assert_eq!(answers, rounds * 4);
                println!(
                    "{peer}: {answers} probes answered by {what}: {:.1} us CPU per probe ({wall:?} wall for all)",
                    cpu.as_secs_f64() * 1e6 / answers as f64
                );
            }
        }
    });
}
