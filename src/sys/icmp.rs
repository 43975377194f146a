//! Raw ICMP and ICMPv6 probe sockets, one per WAN: the only code that holds an ICMP file
//! descriptor.
//!
//! Contract:
//! - `ProbeSocket::open` makes a non-blocking raw socket of the source address's family
//!   (`AF_INET`/`IPPROTO_ICMP` or `AF_INET6`/`IPPROTO_ICMPV6`) bound to the WAN's device
//!   (`SO_BINDTODEVICE`) and address (`bind`), so probes leave through that WAN with its address
//!   and only packets to that address on that device arrive.
//! - Two kernel filters keep everything else off the poll loop: a type filter (`ICMP_FILTER`:
//!   echo reply, destination unreachable, time exceeded; `ICMP6_FILTER`: echo reply and the
//!   error types 1-4), and a classic BPF program passing only echo replies carrying this
//!   socket's identifier and errors quoting an echo request with it. Other hosts' pings, other
//!   programs' pings, other WANs' probes and neighbour discovery never wake the loop.
//! - `send_echo` and `recv` allocate nothing: the receive buffer is owned from `open` on and the
//!   request and addresses are built on the stack.
//! - The socket is never connected and never sets `IP_RECVERR`/`IPV6_RECVERR`, so the kernel
//!   reports ICMP errors only as packets to read, never as a pending errno on `recv`
//!   (net/ipv4/raw.c `raw_err`, net/ipv6/raw.c `rawv6_err`).
//! - IPv6: a link-local destination (the usual gateway, `fe80::1`) is sent with the device's
//!   index as its scope. The kernel computes and checks ICMPv6 checksums itself; a message that
//!   fails is reported as `Malformed::BadChecksum` or not at all (see `recv`).

use crate::kernel::IFNAME_MAX;
use crate::wire::icmp::{self, Icmp, Malformed, ECHO_REQUEST_LEN};
use crate::wire::icmp6;
use core::fmt;
use core::mem;
use core::net::{IpAddr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use nix::errno::Errno;
use nix::sys::socket::{
    self, sockopt, AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, SockaddrIn, SockaddrIn6,
};
use std::ffi::OsString;
use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

/// Size of the receive buffer. RFC 1812 (4.3.2.3) keeps ICMP errors within 576 bytes and
/// Linux's `icmp_send` does the same; a reply to one of our probes is 44 bytes. An ICMPv6 error
/// may be up to 1232 bytes (RFC 4443 2.4 (c)), but one about a probe quotes its 64 bytes: 112.
/// A longer datagram is cut by `recv(2)` and then reported as `Malformed::Truncated`.
pub const RECV_BUF_LEN: usize = 576;

/// `ICMP_FILTER` option of `SOL_RAW` sockets (linux/icmp.h); not in the libc crate.
const ICMP_FILTER: libc::c_int = 1;

/// `ICMP6_FILTER` option of `IPPROTO_ICMPV6` sockets (linux/icmpv6.h); not in the libc crate.
const ICMP6_FILTER: libc::c_int = 1;

/// `SO_ATTACH_FILTER` (asm-generic/socket.h; the same 26 on every architecture OpenWrt
/// targets); the libc crate defines it only for Android.
const SO_ATTACH_FILTER: libc::c_int = 26;

// ICMP types as the kernel filters take them.
const ECHO_REPLY: u32 = icmp::ECHO_REPLY as u32;
const DEST_UNREACHABLE: u32 = icmp::DEST_UNREACHABLE as u32;
const ECHO_REQUEST: u32 = icmp::ECHO_REQUEST as u32;
const TIME_EXCEEDED: u32 = icmp::TIME_EXCEEDED as u32;

/// The IP version a probe socket speaks: that of its source address.
pub use crate::route::Family;

/// The system call that failed; `IcmpError` names it with its family's arguments.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum IcmpOp {
    /// `socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)` or `socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6)`.
    Socket,
    /// `setsockopt(SO_BINDTODEVICE)`.
    BindDevice,
    /// `if_nametoindex` of the device (IPv6: the scope of link-local destinations).
    IfIndex,
    /// `bind` to the WAN's address.
    Bind,
    /// `setsockopt(SOL_RAW, ICMP_FILTER)` or `setsockopt(IPPROTO_ICMPV6, ICMP6_FILTER)`.
    TypeFilter,
    /// `setsockopt(SO_ATTACH_FILTER)`.
    Filter,
    /// `sendto` of an echo request.
    Send,
    /// `recv` (IPv4) or `recvmsg` (IPv6) of a packet.
    Recv,
}

impl IcmpOp {
    /// The call as `family`'s sockets make it.
    pub fn call(self, family: Family) -> &'static str {
        match (self, family) {
            (IcmpOp::Socket, Family::V4) => "socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)",
            (IcmpOp::Socket, Family::V6) => "socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6)",
            (IcmpOp::BindDevice, _) => "setsockopt(SO_BINDTODEVICE)",
            (IcmpOp::IfIndex, _) => "if_nametoindex",
            (IcmpOp::Bind, _) => "bind",
            (IcmpOp::TypeFilter, Family::V4) => "setsockopt(ICMP_FILTER)",
            (IcmpOp::TypeFilter, Family::V6) => "setsockopt(ICMP6_FILTER)",
            (IcmpOp::Filter, _) => "setsockopt(SO_ATTACH_FILTER)",
            (IcmpOp::Send, _) => "sendto",
            (IcmpOp::Recv, Family::V4) => "recv",
            (IcmpOp::Recv, Family::V6) => "recvmsg",
        }
    }
}

/// A failed system call on a probe socket.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct IcmpError {
    /// The socket's family.
    pub family: Family,
    /// Which call.
    pub op: IcmpOp,
    /// What the kernel answered.
    pub errno: Errno,
}

impl IcmpError {
    fn new(family: Family, op: IcmpOp) -> impl Fn(Errno) -> IcmpError + Copy {
        move |errno| IcmpError { family, op, errno }
    }
}

impl fmt::Display for IcmpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proto = match self.family {
            Family::V4 => "ICMP",
            Family::V6 => "ICMPv6",
        };
        write!(f, "{proto} {}: {}", self.op.call(self.family), self.errno)?;
        let hint = match (self.op, self.errno) {
            (IcmpOp::Socket | IcmpOp::BindDevice, Errno::EPERM | Errno::EACCES) => "needs CAP_NET_RAW",
            (IcmpOp::BindDevice | IcmpOp::IfIndex, Errno::ENODEV) => "no such device",
            // An IPv6 address is not usable until duplicate address detection has passed.
            (IcmpOp::Bind, Errno::EADDRNOTAVAIL) if self.family == Family::V6 => {
                "address not assigned to this host, or still tentative"
            }
            (IcmpOp::Bind, Errno::EADDRNOTAVAIL) => "address not assigned to this host",
            (IcmpOp::Send, Errno::EAFNOSUPPORT) => "destination of the other address family",
            _ => return Ok(()),
        };
        write!(f, " ({hint})")
    }
}

impl std::error::Error for IcmpError {}

/// A raw ICMP or ICMPv6 socket that sends one WAN's probes and receives their answers.
pub struct ProbeSocket {
    fd: OwnedFd,
    ident: u16,
    family: Family,
    /// IPv6: the device's index, the scope of link-local destinations. 0 for IPv4.
    ifindex: u32,
    buf: [u8; RECV_BUF_LEN],
}

impl ProbeSocket {
    /// Checks that this process may open probe sockets (CAP_NET_RAW) by opening a raw ICMP
    /// socket and closing it at once. Probe sockets are opened later, per WAN, once its
    /// device has an address; this makes a missing capability a start-up error instead.
    /// (The capability covers both families; IPv4 is asked as it always exists.)
    pub fn check_raw() -> Result<(), IcmpError> {
        let fd = socket::socket(AddressFamily::Inet, SockType::Raw, SockFlag::SOCK_CLOEXEC, SockProtocol::Icmp)
            .map_err(IcmpError::new(Family::V4, IcmpOp::Socket))?;
        drop(fd);
        Ok(())
    }

    /// Opens a probe socket leaving through `device` from `src`, whose echo requests carry
    /// `ident`; its family is `src`'s. Needs CAP_NET_RAW. Fails with `EADDRNOTAVAIL` (op `Bind`)
    /// while `src` is not assigned (for IPv6 also while it is tentative), and with `ENODEV` (op
    /// `BindDevice`) for a name no device can have.
    pub fn open(device: &str, src: IpAddr, ident: u16) -> Result<Self, IcmpError> {
        let family = Family::of(&src);
        let err = |op| IcmpError::new(family, op);
        // An empty name would unbind and the kernel silently cuts names at IFNAMSIZ - 1 or a
        // NUL, binding some other device: none of these names a device.
        if device.is_empty() || device.len() > IFNAME_MAX || device.contains('\0') {
            return Err(err(IcmpOp::BindDevice)(Errno::ENODEV));
        }
        let (af, proto) = match family {
            Family::V4 => (AddressFamily::Inet, SockProtocol::Icmp),
            Family::V6 => (AddressFamily::Inet6, SockProtocol::IcmpV6),
        };
        let fd = socket::socket(af, SockType::Raw, SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC, proto)
            .map_err(err(IcmpOp::Socket))?;

        // Filters before binding: until then the socket matches every ICMP packet of the
        // namespace; whatever slipped in before the filters is drained below.
        match family {
            Family::V4 => {
                let pass = (1 << ECHO_REPLY) | (1 << DEST_UNREACHABLE) | (1 << TIME_EXCEEDED);
                // A set bit drops that type; types above 31 always pass this filter
                // (net/ipv4/raw.c `icmp_filter`) and are left to the BPF program.
                let icmp_filter: u32 = !pass;
                set_opt(fd.as_fd(), libc::SOL_RAW, ICMP_FILTER, &icmp_filter).map_err(err(IcmpOp::TypeFilter))?;
                attach_filter(fd.as_fd(), &mut probe_filter(ident)).map_err(err(IcmpOp::Filter))?;
            }
            Family::V6 => {
                set_opt(fd.as_fd(), libc::IPPROTO_ICMPV6, ICMP6_FILTER, &icmp6_type_filter())
                    .map_err(err(IcmpOp::TypeFilter))?;
                attach_filter(fd.as_fd(), &mut probe_filter6(ident)).map_err(err(IcmpOp::Filter))?;
            }
        }

        socket::setsockopt(&fd, sockopt::BindToDevice, &OsString::from(device)).map_err(err(IcmpOp::BindDevice))?;
        let ifindex = match src {
            IpAddr::V4(src) => {
                socket::bind(fd.as_raw_fd(), &SockaddrIn::from(SocketAddrV4::new(src, 0)))
                    .map_err(err(IcmpOp::Bind))?;
                0
            }
            IpAddr::V6(src) => {
                // Looked up after SO_BINDTODEVICE accepted the name, so a missing device is
                // reported by that call, as for IPv4.
                let ifindex = nix::net::if_::if_nametoindex(device).map_err(err(IcmpOp::IfIndex))?;
                let addr = SocketAddrV6::new(src, 0, 0, scope(src, ifindex));
                socket::bind(fd.as_raw_fd(), &SockaddrIn6::from(addr)).map_err(err(IcmpOp::Bind))?;
                ifindex
            }
        };

        let mut probe = ProbeSocket { fd, ident, family, ifindex, buf: [0; RECV_BUF_LEN] };
        while probe.recv()?.is_some() {}
        Ok(probe)
    }

    /// The identifier this socket's echo requests carry and its filter accepts.
    pub fn ident(&self) -> u16 {
        self.ident
    }

    /// The family of this socket: that of the address it was opened with.
    pub fn family(&self) -> Family {
        self.family
    }

    /// Sends one echo request with sequence number `seq` to `dst`, which must be of this
    /// socket's family (else `EAFNOSUPPORT`, nothing sent).
    ///
    /// Errors to expect, none fatal (count the probe as lost): `ENETUNREACH` when there is no
    /// route out of the device (link down, `src` removed, device deleted), `EHOSTUNREACH` for an
    /// unreachable route, `ENOBUFS`/`EAGAIN` when a queue is full, `EPERM` when netfilter drops
    /// it, and `ENODEV` when a device of the same name was created again: the socket holds the
    /// old ifindex and must be reopened, as after any change of the WAN's address.
    pub fn send_echo(&mut self, dst: IpAddr, seq: u16) -> Result<(), IcmpError> {
        let err = IcmpError::new(self.family, IcmpOp::Send);
        let mut msg = [0u8; ECHO_REQUEST_LEN];
        // Neither emitter can fail: the buffer is exactly the request's size.
        let emitted = match self.family {
            Family::V4 => icmp::emit_echo_request(&mut msg, self.ident, seq),
            Family::V6 => icmp6::emit_echo_request(&mut msg, self.ident, seq),
        };
        let len = emitted.map_err(|_| err(Errno::EMSGSIZE))?;
        let fd = self.fd.as_raw_fd();
        let sent = match (self.family, dst) {
            (Family::V4, IpAddr::V4(dst)) => send_to(fd, &msg[..len], &SockaddrIn::from(SocketAddrV4::new(dst, 0))),
            (Family::V6, IpAddr::V6(dst)) => {
                let to = SocketAddrV6::new(dst, 0, 0, scope(dst, self.ifindex));
                send_to(fd, &msg[..len], &SockaddrIn6::from(to))
            }
            _ => Err(Errno::EAFNOSUPPORT),
        };
        sent.map_err(err)
    }

    /// Reads one packet: `Ok(None)` when nothing is queued, `Ok(Some(Err(_)))` for a packet that
    /// does not parse (count it and keep draining), `Ok(Some(Ok(icmp)))` otherwise.
    ///
    /// IPv6: the kernel checks the ICMPv6 checksum while copying the message out and drops the
    /// message if it is wrong (`rawv6_recvmsg`). A non-blocking `recvmsg` then says `EAGAIN`, so
    /// `Ok(None)` here and any message behind it waits for the next poll; kernels before 5.19,
    /// where `rawv6_recvmsg` got `noblock` apart from the flags, say `EHOSTUNREACH` instead,
    /// returned here as `Malformed::BadChecksum`.
    pub fn recv(&mut self) -> Result<Option<Result<Icmp, Malformed>>, IcmpError> {
        let err = IcmpError::new(self.family, IcmpOp::Recv);
        loop {
            let got = match self.family {
                Family::V4 => socket::recv(self.fd.as_raw_fd(), &mut self.buf, MsgFlags::empty())
                    .map(|n| icmp::parse(&self.buf[..n])),
                Family::V6 => self.recv6(),
            };
            match got {
                Ok(packet) => return Ok(Some(packet)),
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return Ok(None),
                // Not connected and no IPV6_RECVERR: nothing else sets this errno on a receive.
                Err(Errno::EHOSTUNREACH) if self.family == Family::V6 => return Ok(Some(Err(Malformed::BadChecksum))),
                Err(errno) => return Err(err(errno)),
            }
        }
    }

    /// One `recvmsg` on an IPv6 socket: the message and, from the socket address, its sender.
    fn recv6(&mut self) -> Result<Result<Icmp, Malformed>, Errno> {
        let mut iov = [IoSliceMut::new(&mut self.buf)];
        let msg = socket::recvmsg::<SockaddrIn6>(self.fd.as_raw_fd(), &mut iov, None, MsgFlags::empty())?;
        // rawv6_recvmsg always fills in the sender.
        let src = msg.address.map_or(Ipv6Addr::UNSPECIFIED, |a| a.ip());
        let (len, cut) = (msg.bytes, msg.flags.contains(MsgFlags::MSG_TRUNC));
        if cut {
            return Ok(Err(Malformed::Truncated));
        }
        Ok(icmp6::parse(src, &self.buf[..len]))
    }
}

impl AsFd for ProbeSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for ProbeSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl fmt::Debug for ProbeSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProbeSocket")
            .field("fd", &self.fd.as_raw_fd())
            .field("family", &self.family)
            .field("ident", &self.ident)
            .finish()
    }
}

/// `sendto(2)` of one datagram, again when a signal interrupts it.
fn send_to(fd: RawFd, msg: &[u8], to: &dyn socket::SockaddrLike) -> Result<(), Errno> {
    loop {
        match socket::sendto(fd, msg, to, MsgFlags::empty()) {
            Ok(_) => return Ok(()),
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(errno),
        }
    }
}

/// The scope id a socket address for `addr` needs: the device's index for a link-local
/// address (fe80::/10), which names no link by itself; 0 for any other.
fn scope(addr: Ipv6Addr, ifindex: u32) -> u32 {
    if addr.is_unicast_link_local() {
        ifindex
    } else {
        0
    }
}

/// `setsockopt(2)` with a plain value, for the options nix has no wrapper for.
fn set_opt<T>(fd: BorrowedFd<'_>, level: libc::c_int, name: libc::c_int, val: &T) -> Result<(), Errno> {
    let len = mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: `val` points to `len` readable bytes for the whole call and `fd` is an open
    // socket borrowed for it; the kernel copies what it needs and keeps no pointer.
    let rc = unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, (val as *const T).cast(), len) };
    Errno::result(rc).map(drop)
}

/// Attaches a classic BPF `program` to `fd`.
fn attach_filter(fd: BorrowedFd<'_>, program: &mut [libc::sock_filter]) -> Result<(), Errno> {
    let fprog = libc::sock_fprog { len: program.len() as libc::c_ushort, filter: program.as_mut_ptr() };
    // `program` outlives the call; the kernel copies it (`sk_attach_filter`).
    set_opt(fd, libc::SOL_SOCKET, SO_ATTACH_FILTER, &fprog)
}

/// The `ICMP6_FILTER` words of a probe socket: 256 bits, bit `t % 32` of word `t / 32` for type
/// `t`, a set bit blocking that type. (Linux's `icmpv6_filter` and glibc's `ICMP6_FILTER_*`
/// macros agree on this; RFC 3542 leaves the representation open. With the bits inverted every
/// IPv6 test in tests/icmp_netns.rs fails.) Only echo reply and the errors that quote a packet
/// pass.
fn icmp6_type_filter() -> [u32; 8] {
    let mut words = [u32::MAX; 8];
    for ty in [
        icmp6::ECHO_REPLY,
        icmp6::DEST_UNREACHABLE,
        icmp6::PACKET_TOO_BIG,
        icmp6::TIME_EXCEEDED,
        icmp6::PARAMETER_PROBLEM,
    ] {
        words[usize::from(ty / 32)] &= !(1 << (ty % 32));
    }
    words
}

/// One classic BPF instruction (linux/filter.h).
const fn insn(code: u32, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code: code as u16, jt, jf, k }
}

/// The classic BPF program of a probe socket. A raw socket's filter sees the packet from the
/// IPv4 header on (`raw_rcv` pushes it back before queueing), so offsets into the ICMP message
/// are taken relative to X = IHL * 4. It accepts an echo reply whose identifier is `ident`, and a
/// destination unreachable or time exceeded whose quoted datagram is an echo request with
/// identifier `ident`; it drops everything else, including packets too short for a load.
fn probe_filter(ident: u16) -> [libc::sock_filter; 18] {
    use libc::{
        BPF_ADD, BPF_ALU, BPF_AND, BPF_B, BPF_H, BPF_IND, BPF_JEQ, BPF_JMP, BPF_K, BPF_LD, BPF_LDX, BPF_LSH, BPF_MISC,
        BPF_MSH, BPF_RET, BPF_TAX, BPF_X,
    };
    let ident = u32::from(ident);
    // Jump offsets count instructions after the jump: index of the target minus (index + 1).
    const ACCEPT: u8 = 16;
    const DROP: u8 = 17;
    [
        // 0: X = 4 * (packet[0] & 0xf), the IPv4 header length.
        insn(BPF_LDX | BPF_B | BPF_MSH, 0, 0, 0),
        // 1: A = ICMP type.
        insn(BPF_LD | BPF_B | BPF_IND, 0, 0, 0),
        // 2: echo reply -> 3, else -> 5.
        insn(BPF_JMP | BPF_JEQ | BPF_K, 0, 2, ECHO_REPLY),
        // 3: A = identifier (loads are big-endian, as the field is on the wire).
        insn(BPF_LD | BPF_H | BPF_IND, 0, 0, 4),
        // 4: ours -> accept, else drop.
        insn(BPF_JMP | BPF_JEQ | BPF_K, ACCEPT - 5, DROP - 5, ident),
        // 5: destination unreachable -> 7.
        insn(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, DEST_UNREACHABLE),
        // 6: time exceeded -> 7, else drop.
        insn(BPF_JMP | BPF_JEQ | BPF_K, 0, DROP - 7, TIME_EXCEEDED),
        // 7-11: X = outer header length + quoted header length (quoted IPv4 header at X + 8).
        insn(BPF_LD | BPF_B | BPF_IND, 0, 0, 8),
        insn(BPF_ALU | BPF_AND | BPF_K, 0, 0, 0x0f),
        insn(BPF_ALU | BPF_LSH | BPF_K, 0, 0, 2),
        insn(BPF_ALU | BPF_ADD | BPF_X, 0, 0, 0),
        insn(BPF_MISC | BPF_TAX, 0, 0, 0),
        // 12: A = quoted ICMP type; 13: echo request -> 14, else drop.
        insn(BPF_LD | BPF_B | BPF_IND, 0, 0, 8),
        insn(BPF_JMP | BPF_JEQ | BPF_K, 0, DROP - 14, ECHO_REQUEST),
        // 14: A = quoted identifier; 15: ours -> accept, else drop.
        insn(BPF_LD | BPF_H | BPF_IND, 0, 0, 12),
        insn(BPF_JMP | BPF_JEQ | BPF_K, 0, DROP - 16, ident),
        // 16: accept the whole packet (an IPv4 datagram is at most 65535 bytes).
        insn(BPF_RET | BPF_K, 0, 0, 0xffff),
        // 17: drop.
        insn(BPF_RET | BPF_K, 0, 0, 0),
    ]
}

/// The classic BPF program of an IPv6 probe socket. An IPv6 raw socket's filter sees the ICMPv6
/// message from its first byte (`rawv6_rcv` queues the packet with the IPv6 header and any
/// extension headers already pulled; the netns tests prove it), so every offset is fixed. It
/// accepts an echo reply whose identifier is `ident`, and an error (types 1-4) whose quoted
/// packet is an echo request with identifier `ident` right after the fixed IPv6 header, as the
/// parser wants it; it drops everything else, including messages too short for a load.
fn probe_filter6(ident: u16) -> [libc::sock_filter; 14] {
    use libc::{BPF_ABS, BPF_B, BPF_H, BPF_JEQ, BPF_JGT, BPF_JMP, BPF_K, BPF_LD, BPF_RET};
    let ident = u32::from(ident);
    let [reply, request] = [icmp6::ECHO_REPLY, icmp6::ECHO_REQUEST].map(u32::from);
    // Where an error's quoted IPv6 header and the ICMPv6 message after it start.
    const QUOTED: u32 = icmp::ICMP_HEADER_LEN as u32;
    const INNER: u32 = QUOTED + icmp6::IPV6_HEADER_LEN as u32;
    const ACCEPT: u8 = 12;
    const DROP: u8 = 13;
    [
        // 0: A = ICMPv6 type; 1: echo reply -> 2, else -> 4.
        insn(BPF_LD | BPF_B | BPF_ABS, 0, 0, 0),
        insn(BPF_JMP | BPF_JEQ | BPF_K, 0, 2, reply),
        // 2: A = identifier; 3: ours -> accept, else drop.
        insn(BPF_LD | BPF_H | BPF_ABS, 0, 0, 4),
        insn(BPF_JMP | BPF_JEQ | BPF_K, ACCEPT - 4, DROP - 4, ident),
        // 4-5: only the error types 1 to 4 go on.
        insn(BPF_JMP | BPF_JGT | BPF_K, DROP - 5, 0, u32::from(icmp6::PARAMETER_PROBLEM)),
        insn(BPF_JMP | BPF_JEQ | BPF_K, DROP - 6, 0, 0),
        // 6: A = quoted next header; 7: ICMPv6 -> 8, else drop.
        insn(BPF_LD | BPF_B | BPF_ABS, 0, 0, QUOTED + 6),
        insn(BPF_JMP | BPF_JEQ | BPF_K, 0, DROP - 8, u32::from(icmp6::NEXT_HEADER_ICMPV6)),
        // 8: A = quoted ICMPv6 type; 9: echo request -> 10, else drop.
        insn(BPF_LD | BPF_B | BPF_ABS, 0, 0, INNER),
        insn(BPF_JMP | BPF_JEQ | BPF_K, 0, DROP - 10, request),
        // 10: A = quoted identifier; 11: ours -> accept, else drop.
        insn(BPF_LD | BPF_H | BPF_ABS, 0, 0, INNER + 4),
        insn(BPF_JMP | BPF_JEQ | BPF_K, 0, DROP - 12, ident),
        // 12: accept the whole message (an IPv6 payload is at most 65535 bytes without jumbograms).
        insn(BPF_RET | BPF_K, 0, 0, 0xffff),
        // 13: drop.
        insn(BPF_RET | BPF_K, 0, 0, 0),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;

    // The kernel runs socket filters on AF_UNIX datagrams too (`unix_dgram_sendmsg`), from the
    // first byte of what was sent: the same view a raw socket's filter has of an IPv4 packet.
    // That runs `probe_filter` in the real BPF interpreter, without privileges.
    fn filtered_pair(ident: u16) -> (UnixDatagram, UnixDatagram) {
        filtered_by(&mut probe_filter(ident))
    }

    // The same for `probe_filter6`: an IPv6 raw socket's filter sees the ICMPv6 message from
    // its first byte, as this one sees the datagram.
    fn filtered_pair6(ident: u16) -> (UnixDatagram, UnixDatagram) {
        filtered_by(&mut probe_filter6(ident))
    }

    fn filtered_by(program: &mut [libc::sock_filter]) -> (UnixDatagram, UnixDatagram) {
        let (tx, rx) = UnixDatagram::pair().unwrap();
        attach_filter(rx.as_fd(), program).unwrap();
        rx.set_nonblocking(true).unwrap();
        (tx, rx)
    }

    fn passes(pair: &(UnixDatagram, UnixDatagram), packet: &[u8]) -> bool {
        pair.0.send(packet).unwrap();
        let mut buf = [0u8; 2048];
        match pair.1.recv(&mut buf) {
            Ok(n) => {
                assert_eq!(&buf[..n], packet, "accepted whole");
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => false,
            Err(e) => panic!("recv: {e}"),
        }
    }

    /// An IPv4 header of `ihl` 32-bit words (options are NOPs) followed by `rest`.
    fn ipv4(ihl: u8, rest: &[u8]) -> Vec<u8> {
        let mut p = vec![0x40 | ihl, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0, 192, 0, 2, 2, 192, 0, 2, 1];
        p.resize(usize::from(ihl) * 4, 1);
        let total = (p.len() + rest.len()) as u16;
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p.extend_from_slice(rest);
        p
    }

    fn echo(ty: u8, ident: u16, seq: u16) -> Vec<u8> {
        let mut m = vec![0; ECHO_REQUEST_LEN];
        icmp::emit_echo_request(&mut m, ident, seq).unwrap();
        m[0] = ty;
        m
    }

    fn error(ty: u8, code: u8, outer_ihl: u8, quoted_ihl: u8, quoted: &[u8]) -> Vec<u8> {
        let mut body = vec![ty, code, 0, 0, 0, 0, 0, 0];
        body.extend_from_slice(&ipv4(quoted_ihl, quoted));
        ipv4(outer_ihl, &body)
    }

    #[test]
    fn filter_passes_only_our_echo_replies() {
        let ours = filtered_pair(0x1234);
        for ihl in [5, 6, 15] {
            assert!(passes(&ours, &ipv4(ihl, &echo(0, 0x1234, 7))), "reply, IHL {ihl}");
            assert!(!passes(&ours, &ipv4(ihl, &echo(0, 0x1235, 7))), "other ident, IHL {ihl}");
            assert!(!passes(&ours, &ipv4(ihl, &echo(0, 0x3412, 7))), "byte-swapped ident");
            assert!(!passes(&ours, &ipv4(ihl, &echo(8, 0x1234, 7))), "echo request");
        }
        // Too short to hold the identifier: the load fails and the packet is dropped.
        assert!(!passes(&ours, &ipv4(5, &[0, 0, 0, 0, 0x12])));
    }

    #[test]
    fn filter_passes_errors_quoting_our_requests() {
        let ours = filtered_pair(0xbeef);
        for (outer, quoted) in [(5, 5), (6, 5), (5, 7), (15, 15)] {
            let request = echo(8, 0xbeef, 1);
            assert!(passes(&ours, &error(3, 1, outer, quoted, &request)), "unreachable {outer}/{quoted}");
            assert!(passes(&ours, &error(11, 0, outer, quoted, &request)), "time exceeded {outer}/{quoted}");
            // Only the first 8 bytes of the quoted ICMP message are needed (RFC 792).
            assert!(passes(&ours, &error(3, 0, outer, quoted, &request[..8])));
            assert!(!passes(&ours, &error(3, 1, outer, quoted, &echo(8, 0xbeee, 1))), "other ident");
            assert!(!passes(&ours, &error(12, 0, outer, quoted, &request)), "parameter problem");
            assert!(!passes(&ours, &error(5, 1, outer, quoted, &request)), "redirect");
            // Quoting an echo reply that carries our identifier: not a probe of ours.
            assert!(!passes(&ours, &error(3, 3, outer, quoted, &echo(0, 0xbeef, 1))));
            // Quote cut before the identifier.
            assert!(!passes(&ours, &error(3, 1, outer, quoted, &request[..5])));
        }
    }

    fn echo6(ty: u8, ident: u16, seq: u16) -> Vec<u8> {
        let mut m = vec![0; ECHO_REQUEST_LEN];
        icmp6::emit_echo_request(&mut m, ident, seq).unwrap();
        m[0] = ty;
        m
    }

    /// An ICMPv6 error quoting a packet whose fixed IPv6 header says `next` and is followed by
    /// `rest`.
    fn error6(ty: u8, code: u8, next: u8, rest: &[u8]) -> Vec<u8> {
        let mut m = vec![ty, code, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&[0x60, 0, 0, 0]);
        m.extend_from_slice(&(rest.len() as u16).to_be_bytes());
        m.extend_from_slice(&[next, 64]);
        m.extend_from_slice(&"2001:db8:1::1".parse::<Ipv6Addr>().unwrap().octets());
        m.extend_from_slice(&"2001:db8:ff::5".parse::<Ipv6Addr>().unwrap().octets());
        m.extend_from_slice(rest);
        m
    }

    #[test]
    fn filter6_passes_only_our_echo_replies() {
        let ours = filtered_pair6(0x1234);
        assert!(passes(&ours, &echo6(129, 0x1234, 7)), "reply");
        assert!(passes(&ours, &echo6(129, 0x1234, 7)[..8]), "reply without payload");
        assert!(!passes(&ours, &echo6(129, 0x1235, 7)), "other ident");
        assert!(!passes(&ours, &echo6(129, 0x3412, 7)), "byte-swapped ident");
        assert!(!passes(&ours, &echo6(128, 0x1234, 7)), "echo request");
        // The ICMPv4 echo reply type, and neighbour discovery, with our identifier's bytes.
        for ty in [0, 133, 134, 135, 136, 143] {
            assert!(!passes(&ours, &echo6(ty, 0x1234, 7)), "type {ty}");
        }
        assert!(!passes(&ours, &[129, 0, 0, 0, 0x12]), "too short for the identifier");
    }

    #[test]
    fn filter6_passes_errors_quoting_our_requests() {
        let ours = filtered_pair6(0xbeef);
        let request = echo6(128, 0xbeef, 1);
        for ty in 1..=4 {
            assert!(passes(&ours, &error6(ty, 0, 58, &request)), "type {ty}");
            // Only the first 8 bytes of the quoted request are needed.
            assert!(passes(&ours, &error6(ty, 0, 58, &request[..8])), "type {ty}, short quote");
            assert!(!passes(&ours, &error6(ty, 0, 58, &echo6(128, 0xbeee, 1))), "type {ty}, other ident");
            assert!(!passes(&ours, &error6(ty, 0, 58, &echo6(129, 0xbeef, 1))), "type {ty}, quoting a reply");
            // Next header 17 (UDP) or 0 (hop-by-hop options): not an echo request at that offset.
            assert!(!passes(&ours, &error6(ty, 0, 17, &request)), "type {ty}, quoting UDP");
            assert!(!passes(&ours, &error6(ty, 0, 0, &request)), "type {ty}, extension header");
            assert!(!passes(&ours, &error6(ty, 0, 58, &request[..5])), "type {ty}, quote cut");
        }
        // Other types with the same layout are not errors this socket wants.
        for ty in [0, 5, 127, 128, 129, 137] {
            assert!(!passes(&ours, &error6(ty, 0, 58, &request)), "type {ty}");
        }
        // A packet too big quotes up to 1232 bytes; the whole message is accepted.
        let mut big = request.clone();
        big.resize(1184, 0);
        assert!(passes(&ours, &error6(2, 0, 58, &big)));
    }

    #[test]
    fn icmp6_type_filter_blocks_all_but_replies_and_errors() {
        let words = icmp6_type_filter();
        // The kernel's test (net/ipv6/raw.c `icmpv6_filter`): a set bit blocks.
        let blocked = |ty: u8| words[usize::from(ty >> 5)] & (1 << (ty & 31)) != 0;
        let passing: Vec<u8> = (0..=255).filter(|&ty| !blocked(ty)).collect();
        assert_eq!(passing, [1, 2, 3, 4, 129]);
    }

    #[test]
    fn errors_name_the_call_and_the_missing_privilege() {
        let e = |op, errno| IcmpError { family: Family::V4, op, errno }.to_string();
        assert_eq!(
            e(IcmpOp::Socket, Errno::EPERM),
            "ICMP socket(AF_INET, SOCK_RAW, IPPROTO_ICMP): EPERM: Operation not permitted (needs CAP_NET_RAW)"
        );
        assert!(e(IcmpOp::Socket, Errno::EACCES).ends_with("(needs CAP_NET_RAW)"));
        assert!(e(IcmpOp::BindDevice, Errno::EPERM).ends_with("(needs CAP_NET_RAW)"));
        assert_eq!(
            e(IcmpOp::BindDevice, Errno::ENODEV),
            "ICMP setsockopt(SO_BINDTODEVICE): ENODEV: No such device (no such device)"
        );
        assert_eq!(e(IcmpOp::Send, Errno::ENETUNREACH), "ICMP sendto: ENETUNREACH: Network is unreachable");

        let e6 = |op, errno| IcmpError { family: Family::V6, op, errno }.to_string();
        assert_eq!(
            e6(IcmpOp::Socket, Errno::EPERM),
            "ICMPv6 socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6): EPERM: Operation not permitted (needs CAP_NET_RAW)"
        );
        assert_eq!(e6(IcmpOp::TypeFilter, Errno::EINVAL), "ICMPv6 setsockopt(ICMP6_FILTER): EINVAL: Invalid argument");
        assert_eq!(e(IcmpOp::TypeFilter, Errno::EINVAL), "ICMP setsockopt(ICMP_FILTER): EINVAL: Invalid argument");
        assert!(
            e6(IcmpOp::Bind, Errno::EADDRNOTAVAIL).ends_with("(address not assigned to this host, or still tentative)")
        );
        assert_eq!(
            e6(IcmpOp::IfIndex, Errno::ENODEV),
            "ICMPv6 if_nametoindex: ENODEV: No such device (no such device)"
        );
        assert!(e6(IcmpOp::Send, Errno::EAFNOSUPPORT).ends_with("(destination of the other address family)"));
        assert_eq!(e6(IcmpOp::Recv, Errno::ENOMEM), "ICMPv6 recvmsg: ENOMEM: Out of memory");
        assert_eq!(Family::V6.to_string(), "IPv6");
    }

    #[test]
    fn impossible_device_names_are_refused_before_the_kernel_sees_them() {
        // Checked before any system call, so this needs no privilege.
        for name in ["", "a-name-of-16-chr", "eth\0"] {
            for src in [IpAddr::V4(core::net::Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)] {
                let err = ProbeSocket::open(name, src, 1).unwrap_err();
                assert_eq!((err.family, err.op, err.errno), (Family::of(&src), IcmpOp::BindDevice, Errno::ENODEV));
            }
        }
    }
}
