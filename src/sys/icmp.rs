//! Raw ICMP probe sockets, one per WAN: the only code that holds an ICMP file descriptor.
//!
//! Contract:
//! - `ProbeSocket::open` makes a non-blocking `AF_INET`/`SOCK_RAW`/`IPPROTO_ICMP` socket bound
//!   to the WAN's device (`SO_BINDTODEVICE`) and address (`bind`), so probes leave through that
//!   WAN with its address and only packets to that address on that device arrive.
//! - Two kernel filters keep everything else off the poll loop: `ICMP_FILTER` passes only echo
//!   reply, destination unreachable and time exceeded; a classic BPF program passes only echo
//!   replies carrying this socket's identifier and errors quoting an echo request with it. Other
//!   hosts' pings, other programs' pings and other WANs' probes never wake the loop.
//! - `send_echo` and `recv` allocate nothing: the receive buffer is owned from `open` on and the
//!   request is built on the stack.
//! - The socket is never connected and never sets `IP_RECVERR`, so the kernel reports ICMP
//!   errors only as packets to read, never as a pending errno on `recv` (net/ipv4/raw.c
//!   `raw_err`).

use crate::kernel::IFNAME_MAX;
use crate::wire::icmp::{self, Icmp, Malformed, ECHO_REQUEST_LEN};
use core::fmt;
use core::mem;
use core::net::SocketAddrV4;
use nix::errno::Errno;
use nix::sys::socket::{self, sockopt, AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, SockaddrIn};
use std::ffi::OsString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

/// Size of the receive buffer. RFC 1812 (4.3.2.3) keeps ICMP errors within 576 bytes and
/// Linux's `icmp_send` does the same; a reply to one of our probes is 44 bytes. A longer
/// datagram is cut by `recv(2)` and then reported as `Malformed::Truncated`.
pub const RECV_BUF_LEN: usize = 576;

/// `ICMP_FILTER` option of `SOL_RAW` sockets (linux/icmp.h); not in the libc crate.
const ICMP_FILTER: libc::c_int = 1;

/// `SO_ATTACH_FILTER` (asm-generic/socket.h; the same 26 on every architecture OpenWrt
/// targets); the libc crate defines it only for Android.
const SO_ATTACH_FILTER: libc::c_int = 26;

// ICMP types as the kernel filters take them.
const ECHO_REPLY: u32 = icmp::ECHO_REPLY as u32;
const DEST_UNREACHABLE: u32 = icmp::DEST_UNREACHABLE as u32;
const ECHO_REQUEST: u32 = icmp::ECHO_REQUEST as u32;
const TIME_EXCEEDED: u32 = icmp::TIME_EXCEEDED as u32;

/// The system call that failed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum IcmpOp {
    /// `socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)`.
    Socket,
    /// `setsockopt(SO_BINDTODEVICE)`.
    BindDevice,
    /// `bind` to the WAN's address.
    Bind,
    /// `setsockopt(SOL_RAW, ICMP_FILTER)`.
    TypeFilter,
    /// `setsockopt(SO_ATTACH_FILTER)`.
    Filter,
    /// `sendto` of an echo request.
    Send,
    /// `recv` of a packet.
    Recv,
}

impl fmt::Display for IcmpOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IcmpOp::Socket => "socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)",
            IcmpOp::BindDevice => "setsockopt(SO_BINDTODEVICE)",
            IcmpOp::Bind => "bind",
            IcmpOp::TypeFilter => "setsockopt(ICMP_FILTER)",
            IcmpOp::Filter => "setsockopt(SO_ATTACH_FILTER)",
            IcmpOp::Send => "sendto",
            IcmpOp::Recv => "recv",
        })
    }
}

/// A failed system call on a probe socket.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct IcmpError {
    /// Which call.
    pub op: IcmpOp,
    /// What the kernel answered.
    pub errno: Errno,
}

impl IcmpError {
    fn new(op: IcmpOp) -> impl FnOnce(Errno) -> IcmpError {
        move |errno| IcmpError { op, errno }
    }
}

impl fmt::Display for IcmpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ICMP {}: {}", self.op, self.errno)?;
        let hint = match (self.op, self.errno) {
            (IcmpOp::Socket | IcmpOp::BindDevice, Errno::EPERM | Errno::EACCES) => "needs CAP_NET_RAW",
            (IcmpOp::BindDevice, Errno::ENODEV) => "no such device",
            (IcmpOp::Bind, Errno::EADDRNOTAVAIL) => "address not assigned to this host",
            _ => return Ok(()),
        };
        write!(f, " ({hint})")
    }
}

impl std::error::Error for IcmpError {}

/// A raw ICMP socket that sends one WAN's probes and receives their answers.
pub struct ProbeSocket {
    fd: OwnedFd,
    ident: u16,
    buf: [u8; RECV_BUF_LEN],
}

impl ProbeSocket {
    /// Checks that this process may open probe sockets (CAP_NET_RAW) by opening a raw ICMP
    /// socket and closing it at once. Probe sockets are opened later, per WAN, once its
    /// device has an address; this makes a missing capability a start-up error instead.
    pub fn check_raw() -> Result<(), IcmpError> {
        let fd = socket::socket(AddressFamily::Inet, SockType::Raw, SockFlag::SOCK_CLOEXEC, SockProtocol::Icmp)
            .map_err(IcmpError::new(IcmpOp::Socket))?;
        drop(fd);
        Ok(())
    }

    /// Opens a probe socket leaving through `device` from `src`, whose echo requests carry
    /// `ident`. Needs CAP_NET_RAW. Fails with `EADDRNOTAVAIL` (op `Bind`) while `src` is not
    /// assigned, and with `ENODEV` (op `BindDevice`) for a name no device can have.
    pub fn open(device: &str, src: core::net::IpAddr, ident: u16) -> Result<Self, IcmpError> {
        // Temporary until ICMPv6 sockets land.
        let core::net::IpAddr::V4(src) = src else { return Err(IcmpError::new(IcmpOp::Socket)(Errno::EAFNOSUPPORT)) };
        // An empty name would unbind and the kernel silently cuts names at IFNAMSIZ - 1 or a
        // NUL, binding some other device: none of these names a device.
        if device.is_empty() || device.len() > IFNAME_MAX || device.contains('\0') {
            return Err(IcmpError::new(IcmpOp::BindDevice)(Errno::ENODEV));
        }
        let fd = socket::socket(
            AddressFamily::Inet,
            SockType::Raw,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
            SockProtocol::Icmp,
        )
        .map_err(IcmpError::new(IcmpOp::Socket))?;

        // Filters before binding: until then the socket matches every ICMP packet of the
        // namespace; whatever slipped in before the filters is drained below.
        let pass = (1 << ECHO_REPLY) | (1 << DEST_UNREACHABLE) | (1 << TIME_EXCEEDED);
        // A set bit drops that type; types above 31 always pass this filter (net/ipv4/raw.c
        // `icmp_filter`) and are left to the BPF program.
        let icmp_filter: u32 = !pass;
        set_opt(fd.as_fd(), libc::SOL_RAW, ICMP_FILTER, &icmp_filter).map_err(IcmpError::new(IcmpOp::TypeFilter))?;
        attach_probe_filter(fd.as_fd(), ident).map_err(IcmpError::new(IcmpOp::Filter))?;

        socket::setsockopt(&fd, sockopt::BindToDevice, &OsString::from(device))
            .map_err(IcmpError::new(IcmpOp::BindDevice))?;
        socket::bind(fd.as_raw_fd(), &SockaddrIn::from(SocketAddrV4::new(src, 0)))
            .map_err(IcmpError::new(IcmpOp::Bind))?;

        let mut probe = ProbeSocket { fd, ident, buf: [0; RECV_BUF_LEN] };
        while probe.recv()?.is_some() {}
        Ok(probe)
    }

    /// The identifier this socket's echo requests carry and its filter accepts.
    pub fn ident(&self) -> u16 {
        self.ident
    }

    /// Sends one echo request with sequence number `seq` to `dst`.
    ///
    /// Errors to expect, none fatal (count the probe as lost): `ENETUNREACH` when there is no
    /// route out of the device (link down, `src` removed, device deleted), `EHOSTUNREACH` for an
    /// unreachable route, `ENOBUFS`/`EAGAIN` when a queue is full, `EPERM` when netfilter drops
    /// it, and `ENODEV` when a device of the same name was created again: the socket holds the
    /// old ifindex and must be reopened, as after any change of the WAN's address.
    pub fn send_echo(&mut self, dst: core::net::IpAddr, seq: u16) -> Result<(), IcmpError> {
        let core::net::IpAddr::V4(dst) = dst else { return Err(IcmpError::new(IcmpOp::Send)(Errno::EAFNOSUPPORT)) };
        let mut msg = [0u8; ECHO_REQUEST_LEN];
        // Cannot fail: the buffer is exactly the request's size.
        let len = icmp::emit_echo_request(&mut msg, self.ident, seq)
            .map_err(|_| IcmpError::new(IcmpOp::Send)(Errno::EMSGSIZE))?;
        let to = SockaddrIn::from(SocketAddrV4::new(dst, 0));
        loop {
            match socket::sendto(self.fd.as_raw_fd(), &msg[..len], &to, MsgFlags::empty()) {
                Ok(_) => return Ok(()),
                Err(Errno::EINTR) => continue,
                Err(errno) => return Err(IcmpError::new(IcmpOp::Send)(errno)),
            }
        }
    }

    /// Reads one packet: `Ok(None)` when nothing is queued, `Ok(Some(Err(_)))` for a packet that
    /// does not parse (count it and keep draining), `Ok(Some(Ok(icmp)))` otherwise.
    pub fn recv(&mut self) -> Result<Option<Result<Icmp, Malformed>>, IcmpError> {
        loop {
            match socket::recv(self.fd.as_raw_fd(), &mut self.buf, MsgFlags::empty()) {
                Ok(n) => return Ok(Some(icmp::parse(&self.buf[..n]))),
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return Ok(None),
                Err(errno) => return Err(IcmpError::new(IcmpOp::Recv)(errno)),
            }
        }
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
        f.debug_struct("ProbeSocket").field("fd", &self.fd.as_raw_fd()).field("ident", &self.ident).finish()
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

/// Attaches `probe_filter(ident)` to `fd`.
fn attach_probe_filter(fd: BorrowedFd<'_>, ident: u16) -> Result<(), Errno> {
    let mut program = probe_filter(ident);
    let fprog = libc::sock_fprog { len: program.len() as libc::c_ushort, filter: program.as_mut_ptr() };
    // `program` outlives the call; the kernel copies it (`sk_attach_filter`).
    set_opt(fd, libc::SOL_SOCKET, SO_ATTACH_FILTER, &fprog)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;

    // The kernel runs socket filters on AF_UNIX datagrams too (`unix_dgram_sendmsg`), from the
    // first byte of what was sent: the same view a raw socket's filter has of an IPv4 packet.
    // That runs `probe_filter` in the real BPF interpreter, without privileges.
    fn filtered_pair(ident: u16) -> (UnixDatagram, UnixDatagram) {
        let (tx, rx) = UnixDatagram::pair().unwrap();
        attach_probe_filter(rx.as_fd(), ident).unwrap();
        rx.set_nonblocking(true).unwrap();
        (tx, rx)
    }

    fn passes(pair: &(UnixDatagram, UnixDatagram), packet: &[u8]) -> bool {
        pair.0.send(packet).unwrap();
        let mut buf = [0u8; 256];
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

    #[test]
    fn errors_name_the_call_and_the_missing_privilege() {
        let e = |op, errno| IcmpError { op, errno }.to_string();
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
    }

    #[test]
    fn impossible_device_names_are_refused_before_the_kernel_sees_them() {
        // Checked before any system call, so this needs no privilege.
        for name in ["", "a-name-of-16-chr", "eth\0"] {
            let err = ProbeSocket::open(name, core::net::Ipv4Addr::LOCALHOST.into(), 1).unwrap_err();
            assert_eq!((err.op, err.errno), (IcmpOp::BindDevice, Errno::ENODEV), "{name:?}");
        }
    }
}
