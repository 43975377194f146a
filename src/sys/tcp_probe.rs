//! TCP connect probes (`track_method tcp`), for lines where ICMP is filtered: the only code that
//! holds a probe's TCP socket.
//!
//! Contract:
//! - `TcpProbes::open` makes the set of one WAN and family: its device, its source address
//!   (whose family is the set's) and one epoll instance. `TcpProbes` is `AsFd` for that epoll
//!   fd: the poll loop watches it for `POLLIN` exactly as it watches an ICMP probe socket, one
//!   fd per WAN and family whatever the number of probes in flight.
//! - `start` sends one probe: a non-blocking TCP socket bound to the device
//!   (`SO_BINDTODEVICE`) and the source address (port 0), `connect` to the target's port, the
//!   socket added to the epoll set for `EPOLLOUT`. Nothing waits: `connect` says `EINPROGRESS`.
//!   A failure before the SYN is on its way is returned at once and nothing stays in flight.
//! - `drain` hands back every probe whose attempt ended, with the caller's token, and closes
//!   its socket at once: SYN-ACK → `Open`, RST → `Reset` (both answers), an ICMP error about the
//!   SYN or a local error → `Lost(errno)`. `expire` closes every probe past its deadline as
//!   `Lost(ETIMEDOUT)`; `cancel` closes the probes of a token without a result.
//! - At most [`TCP_PROBES_MAX`] probes are in flight per set; one more is refused with
//!   `TcpProbeError::Full`. Sockets, results and buffers are on the stack or in the set:
//!   `start`, `drain`, `expire` and `cancel` allocate nothing.
//!
//! Why each option (Linux):
//! - `TCP_SYNCNT` 1 (the option's minimum): the kernel gives up with `ETIMEDOUT` 3 s after the
//!   SYN instead of 127 s, and retransmits it once, at 1 s (the initial RTO; kernels with
//!   `tcp_syn_linear_timeouts` once more at 2 s). A probe whose timeout is at most 1 s is one
//!   SYN; a longer one may be answered to a retransmission, as a browser's connect would be.
//! - `IP_RECVERR`/`IPV6_RECVERR`: tells an ICMP port unreachable (a firewall's plain `reject`)
//!   from a RST: the kernel says `ECONNREFUSED` for both, and only the ICMP one is queued on
//!   the error queue. An ICMP error about the SYN ends the attempt in any case
//!   (`tcp_v4_err`/`tcp_v6_err` in `SYN_SENT`); one processed while `connect` still holds the
//!   socket (a peer that answers within the call, as over a veth) only sets the soft error,
//!   and on kernels whose poll does not report that, the queued error is what raises
//!   `POLLERR` at once. (Linux 6.18 reports it either way; the netns tests see every ICMP
//!   error within 0.1 ms.)
//! - `SO_LINGER` {on, 0}, set only on an open connection just before `close`: close sends RST
//!   instead of FIN, so neither side keeps the connection (no `TIME_WAIT` here, no
//!   `CLOSE_WAIT` on the target). A socket in any other state sends nothing when closed.
//!
//! Cost of one probe, in system calls: `socket`, `setsockopt` × 3 (`SO_BINDTODEVICE`,
//! `TCP_SYNCNT`, `IP_RECVERR`), `bind`, `connect`, `epoll_ctl`, then on the answer
//! `getsockopt(SO_ERROR)` and `close`: 9; plus `setsockopt(SO_LINGER)` for an open port and
//! `recvmsg(MSG_ERRQUEUE)` for a refusal (10). The loop's `poll` and `drain`'s `epoll_wait`
//! are shared by every probe that ends in the same wake-up.
//!
//! IPv4 caveat (as for ICMP probes): with `SO_BINDTODEVICE` and no route through the device,
//! the kernel assumes the target is on the device's link and sends anyway
//! (`ip_route_output_key_hash_rcu`); IPv6 says `ENETUNREACH`. The WAN's routes (or the
//! policy routing that puts them in its table) decide where a probe goes.

use crate::config::MAX_TARGETS;
use crate::health::ROUNDS_IN_FLIGHT;
use crate::kernel::IFNAME_MAX;
use crate::route::Family;
use crate::time::Instant;
use core::fmt;
use core::net::{IpAddr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use nix::errno::Errno;
use nix::sys::socket::{
    self, sockopt, AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockProtocol, SockType, SockaddrIn,
    SockaddrIn6,
};
use std::ffi::OsString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// Probes one set keeps in flight: every target of [`ROUNDS_IN_FLIGHT`] rounds (the gateway
/// probe stays ICMP), and of one on-demand round (`ubus call dualwan probe`), so that one
/// never takes a health round's room. The health core judges a round that would exceed
/// this early, and must then `cancel` its probes.
pub const TCP_PROBES_MAX: usize = MAX_TARGETS * (ROUNDS_IN_FLIGHT + 1);

/// SYN retransmissions the kernel may make (`TCP_SYNCNT`'s minimum).
const SYN_RETRIES: libc::c_int = 1;

/// `sock_extended_err.ee_origin` of an error from an ICMP or ICMPv6 message (linux/errqueue.h).
const SO_EE_ORIGIN_ICMP: u8 = 2;
const SO_EE_ORIGIN_ICMP6: u8 = 3;

/// How a probe ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TcpOutcome {
    /// SYN-ACK: something listens on the port. The connection was reset at once.
    Open,
    /// RST: nothing listens, but the host (or a firewall speaking for it) answered.
    Reset,
    /// No answer: an ICMP error about the SYN as the kernel turned it into an errno
    /// (`EHOSTUNREACH`, `ENETUNREACH`, `EACCES` for administratively prohibited,
    /// `ECONNREFUSED` for port unreachable), a local error, or `ETIMEDOUT` when the deadline
    /// (or the kernel's own SYN retry limit) passed.
    Lost(Errno),
}

impl TcpOutcome {
    /// True for an answer from the far end: SYN-ACK or RST.
    pub fn answered(self) -> bool {
        matches!(self, TcpOutcome::Open | TcpOutcome::Reset)
    }
}

impl fmt::Display for TcpOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TcpOutcome::Open => f.write_str("SYN-ACK"),
            TcpOutcome::Reset => f.write_str("RST"),
            TcpOutcome::Lost(Errno::ETIMEDOUT) => f.write_str("no answer"),
            // The kernel's name for it is "connection refused", which a reader takes for a RST.
            TcpOutcome::Lost(Errno::ECONNREFUSED) => f.write_str("ICMP port unreachable"),
            TcpOutcome::Lost(errno) => write!(f, "{errno}"),
        }
    }
}

/// What a finished attempt says. `so_error` is the socket's pending error, 0 when the
/// handshake completed; `icmp` is true when an ICMP error about the SYN was queued (asked only
/// for `ECONNREFUSED`, which is otherwise a RST).
pub fn classify(so_error: i32, icmp: bool) -> TcpOutcome {
    match so_error {
        0 => TcpOutcome::Open,
        libc::ECONNREFUSED if !icmp => TcpOutcome::Reset,
        errno => TcpOutcome::Lost(Errno::from_raw(errno)),
    }
}

/// One probe's end, with the token `start` was given.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct TcpResult {
    /// The caller's token (as an ICMP sequence number: round and slot).
    pub token: u16,
    /// The target.
    pub dst: IpAddr,
    /// How it ended.
    pub outcome: TcpOutcome,
}

/// The system call that failed; `TcpProbeError` names it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TcpOp {
    /// `epoll_create1`, at `open`.
    EpollCreate,
    /// `if_nametoindex` of the device (IPv6: the scope of link-local targets).
    IfIndex,
    /// `socket(AF_INET, SOCK_STREAM, IPPROTO_TCP)` or its `AF_INET6` twin.
    Socket,
    /// `setsockopt(SO_BINDTODEVICE)`.
    BindDevice,
    /// `setsockopt(TCP_SYNCNT)`.
    SynCount,
    /// `setsockopt(IP_RECVERR)` or `setsockopt(IPV6_RECVERR)`.
    RecvErr,
    /// `bind` to the WAN's address.
    Bind,
    /// `connect` to the target.
    Connect,
    /// `epoll_ctl(EPOLL_CTL_ADD)` of a probe's socket.
    Watch,
    /// `epoll_wait`.
    Wait,
}

impl TcpOp {
    /// The call as `family`'s sockets make it.
    pub fn call(self, family: Family) -> &'static str {
        match (self, family) {
            (TcpOp::EpollCreate, _) => "epoll_create1",
            (TcpOp::IfIndex, _) => "if_nametoindex",
            (TcpOp::Socket, Family::V4) => "socket(AF_INET, SOCK_STREAM, IPPROTO_TCP)",
            (TcpOp::Socket, Family::V6) => "socket(AF_INET6, SOCK_STREAM, IPPROTO_TCP)",
            (TcpOp::BindDevice, _) => "setsockopt(SO_BINDTODEVICE)",
            (TcpOp::SynCount, _) => "setsockopt(TCP_SYNCNT)",
            (TcpOp::RecvErr, Family::V4) => "setsockopt(IP_RECVERR)",
            (TcpOp::RecvErr, Family::V6) => "setsockopt(IPV6_RECVERR)",
            (TcpOp::Bind, _) => "bind",
            (TcpOp::Connect, _) => "connect",
            (TcpOp::Watch, _) => "epoll_ctl",
            (TcpOp::Wait, _) => "epoll_wait",
        }
    }
}

/// Why a set could not be opened or a probe not started.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TcpProbeError {
    /// [`TCP_PROBES_MAX`] probes of this set are in flight; nothing was sent.
    Full {
        /// The set's family.
        family: Family,
    },
    /// A system call failed; nothing stays in flight.
    Call {
        /// The set's family.
        family: Family,
        /// Which call.
        op: TcpOp,
        /// What the kernel answered.
        errno: Errno,
    },
}

impl TcpProbeError {
    fn call(family: Family, op: TcpOp) -> impl Fn(Errno) -> TcpProbeError + Copy {
        move |errno| TcpProbeError::Call { family, op, errno }
    }
}

impl fmt::Display for TcpProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proto = |family| match family {
            Family::V4 => "TCP",
            Family::V6 => "TCPv6",
        };
        let (family, op, errno) = match *self {
            TcpProbeError::Full { family } => {
                return write!(f, "{} probe: all {TCP_PROBES_MAX} probes in flight", proto(family))
            }
            TcpProbeError::Call { family, op, errno } => (family, op, errno),
        };
        write!(f, "{} probe {}: {}", proto(family), op.call(family), errno)?;
        let hint = match (op, errno) {
            (TcpOp::BindDevice, Errno::EPERM | Errno::EACCES) => "needs CAP_NET_RAW",
            (TcpOp::BindDevice | TcpOp::IfIndex, Errno::ENODEV) => "no such device",
            (TcpOp::Bind, Errno::EADDRNOTAVAIL) if family == Family::V6 => {
                "address not assigned to this host, or still tentative"
            }
            (TcpOp::Bind, Errno::EADDRNOTAVAIL) => "address not assigned to this host",
            (TcpOp::Socket, Errno::EMFILE | Errno::ENFILE) => "out of file descriptors",
            (TcpOp::Connect, Errno::EAFNOSUPPORT) => "target of the other address family",
            _ => return Ok(()),
        };
        write!(f, " ({hint})")
    }
}

impl std::error::Error for TcpProbeError {}

/// One probe in flight.
struct InFlight {
    /// Names the probe in epoll events: unlike the fd number, never reused while a stale
    /// event could still name it (a closed socket stays registered while a forked child
    /// holds it).
    id: u64,
    fd: OwnedFd,
    token: u16,
    dst: IpAddr,
    deadline: Instant,
    /// The error `connect` itself returned (and so took from the socket) when the attempt
    /// ended within the call, e.g. a RST processed before it returned.
    early: Option<Errno>,
}

/// The TCP probes of one WAN and family in flight, and the epoll fd that says when some ended.
pub struct TcpProbes {
    epoll: OwnedFd,
    family: Family,
    src: IpAddr,
    /// The device's name, for `SO_BINDTODEVICE` on each socket (kept so that no probe
    /// allocates one).
    device: OsString,
    /// IPv6: the device's index, the scope of link-local targets. 0 for IPv4.
    ifindex: u32,
    in_flight: heapless::Vec<InFlight, TCP_PROBES_MAX>,
    /// The next probe's `id`.
    next_id: u64,
}

impl TcpProbes {
    /// Opens the set of probes leaving through `device` from `src`; its family is `src`'s.
    /// Fails with `ENODEV` (op `BindDevice`) for a name no device can have, and for IPv6 (op
    /// `IfIndex`) when the device does not exist. Everything else (`src` not assigned, the
    /// device gone later) shows at each `start`: every probe binds afresh, so a device
    /// re-created under its name (PPP) needs no reopening, except for IPv6 link-local targets,
    /// whose scope is the index looked up here.
    pub fn open(device: &str, src: IpAddr) -> Result<Self, TcpProbeError> {
        let family = Family::of(&src);
        let err = |op| TcpProbeError::call(family, op);
        // An empty name would unbind and the kernel cuts names at IFNAMSIZ - 1 or a NUL,
        // binding some other device: none of these names a device.
        if device.is_empty() || device.len() > IFNAME_MAX || device.contains('\0') {
            return Err(err(TcpOp::BindDevice)(Errno::ENODEV));
        }
        // SAFETY: epoll_create1(2) takes a flag; the result is checked before use.
        let epoll =
            Errno::result(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) }).map_err(err(TcpOp::EpollCreate))?;
        // SAFETY: `epoll` is a new fd that nothing else owns.
        let epoll = unsafe { OwnedFd::from_raw_fd(epoll) };
        let ifindex = match family {
            Family::V4 => 0,
            Family::V6 => nix::net::if_::if_nametoindex(device).map_err(err(TcpOp::IfIndex))?,
        };
        Ok(TcpProbes {
            epoll,
            family,
            src,
            device: OsString::from(device),
            ifindex,
            in_flight: heapless::Vec::new(),
            next_id: 0,
        })
    }

    /// The family of this set: that of its source address.
    pub fn family(&self) -> Family {
        self.family
    }

    /// Probes in flight.
    pub fn len(&self) -> usize {
        self.in_flight.len()
    }

    /// True when no probe is in flight.
    pub fn is_empty(&self) -> bool {
        self.in_flight.is_empty()
    }

    /// The earliest deadline of a probe in flight: when `expire` has work.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.in_flight.iter().map(|p| p.deadline).min()
    }

    /// Sends one probe to `dst`'s `port`; its result, with `token`, comes from `drain`, or from
    /// `expire` once `deadline` has passed. `dst` must be of this set's family (else
    /// `EAFNOSUPPORT`, nothing sent).
    ///
    /// Errors, none fatal (count the probe lost; nothing is in flight): `Full`; `Bind` with
    /// `EADDRNOTAVAIL` when the source address is gone (reopen the set as after any address
    /// change); `BindDevice` with `ENODEV` when the device is gone; `Connect` with
    /// `ENETUNREACH` when no route leaves by the device (link down) or `EHOSTUNREACH` for an
    /// unreachable route; `Socket` with `EMFILE` when the process is out of descriptors.
    pub fn start(&mut self, dst: IpAddr, port: u16, token: u16, deadline: Instant) -> Result<(), TcpProbeError> {
        let family = self.family;
        if self.in_flight.is_full() {
            return Err(TcpProbeError::Full { family });
        }
        let err = |op| TcpProbeError::call(family, op);
        if Family::of(&dst) != family {
            return Err(err(TcpOp::Connect)(Errno::EAFNOSUPPORT));
        }
        let af = match family {
            Family::V4 => AddressFamily::Inet,
            Family::V6 => AddressFamily::Inet6,
        };
        let fd =
            socket::socket(af, SockType::Stream, SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC, SockProtocol::Tcp)
                .map_err(err(TcpOp::Socket))?;
        socket::setsockopt(&fd, sockopt::BindToDevice, &self.device).map_err(err(TcpOp::BindDevice))?;
        set_opt(fd.as_fd(), libc::IPPROTO_TCP, libc::TCP_SYNCNT, &SYN_RETRIES).map_err(err(TcpOp::SynCount))?;
        let recv_err = match family {
            Family::V4 => socket::setsockopt(&fd, sockopt::Ipv4RecvErr, &true),
            Family::V6 => socket::setsockopt(&fd, sockopt::Ipv6RecvErr, &true),
        };
        recv_err.map_err(err(TcpOp::RecvErr))?;
        let raw = fd.as_raw_fd();
        let connected = match (self.src, dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                socket::bind(raw, &SockaddrIn::from(SocketAddrV4::new(src, 0))).map_err(err(TcpOp::Bind))?;
                socket::connect(raw, &SockaddrIn::from(SocketAddrV4::new(dst, port)))
            }
            (IpAddr::V6(src), IpAddr::V6(dst)) => {
                let from = SocketAddrV6::new(src, 0, 0, scope(src, self.ifindex));
                socket::bind(raw, &SockaddrIn6::from(from)).map_err(err(TcpOp::Bind))?;
                socket::connect(raw, &SockaddrIn6::from(SocketAddrV6::new(dst, port, 0, scope(dst, self.ifindex))))
            }
            _ => Err(Errno::EAFNOSUPPORT),
        };
        let early = match connected {
            // Sent; the usual case.
            Err(Errno::EINPROGRESS) => None,
            // Ended within the call (possible when the answer is processed before `connect`
            // returns): `connect` took the error, `drain` reports it.
            Ok(()) => None,
            Err(Errno::ECONNREFUSED) => Some(Errno::ECONNREFUSED),
            Err(errno) => return Err(err(TcpOp::Connect)(errno)),
        };
        // Level-triggered: a socket that is ready already is reported by the next wait.
        let id = self.next_id;
        self.next_id += 1;
        let mut event = libc::epoll_event { events: libc::EPOLLOUT as u32, u64: id };
        // SAFETY: both fds are open; the kernel copies `event` and keeps no pointer to it.
        let rc = unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, raw, &mut event) };
        Errno::result(rc).map_err(err(TcpOp::Watch))?;
        // Cannot fail: checked for room above.
        let _ = self.in_flight.push(InFlight { id, fd, token, dst, deadline, early });
        Ok(())
    }

    /// Hands every probe whose attempt ended to `done` and closes its socket. Call when the
    /// epoll fd is readable; nothing ready is not an error.
    pub fn drain(&mut self, done: &mut dyn FnMut(TcpResult)) -> Result<(), TcpProbeError> {
        let err = TcpProbeError::call(self.family, TcpOp::Wait);
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; TCP_PROBES_MAX];
        loop {
            // SAFETY: `events` has room for TCP_PROBES_MAX entries the kernel writes; timeout 0
            // never blocks.
            let n = unsafe {
                libc::epoll_wait(self.epoll.as_raw_fd(), events.as_mut_ptr(), TCP_PROBES_MAX as libc::c_int, 0)
            };
            let n = match Errno::result(n) {
                Ok(n) => n as usize,
                Err(Errno::EINTR) => continue,
                Err(errno) => return Err(err(errno)),
            };
            for event in &events[..n] {
                // A copy: the struct is packed on some architectures.
                let id = event.u64;
                // Not in flight: a socket closed here that a forked child still holds.
                let Some(i) = self.in_flight.iter().position(|p| p.id == id) else { continue };
                let probe = self.in_flight.swap_remove(i);
                let outcome = settle(&probe);
                done(TcpResult { token: probe.token, dst: probe.dst, outcome });
                // `probe` drops here: close(2).
            }
            // Fewer than asked for: nothing more is ready.
            if n < TCP_PROBES_MAX {
                return Ok(());
            }
        }
    }

    /// Closes every probe whose deadline is at or before `now` and hands it to `done` as
    /// `Lost(ETIMEDOUT)`.
    pub fn expire(&mut self, now: Instant, done: &mut dyn FnMut(TcpResult)) {
        let mut i = 0;
        while i < self.in_flight.len() {
            if self.in_flight[i].deadline <= now {
                let probe = self.in_flight.swap_remove(i);
                done(TcpResult { token: probe.token, dst: probe.dst, outcome: TcpOutcome::Lost(Errno::ETIMEDOUT) });
            } else {
                i += 1;
            }
        }
    }

    /// Closes the probes started with `token`, without a result; returns how many there were.
    /// For a round the core judged before its probes' deadline.
    pub fn cancel(&mut self, token: u16) -> usize {
        let before = self.in_flight.len();
        self.in_flight.retain(|p| p.token != token);
        before - self.in_flight.len()
    }

    /// Closes every probe in flight, without results (the WAN's address or device changed).
    pub fn clear(&mut self) {
        self.in_flight.clear();
    }
}

/// The outcome of a probe whose socket is ready, read from the socket. On an open connection
/// sets zero linger, so that dropping `probe` sends RST.
fn settle(probe: &InFlight) -> TcpOutcome {
    let fd = probe.fd.as_fd();
    let so_error = match probe.early {
        Some(errno) => errno as i32,
        // A failing getsockopt is itself the reason the probe is lost.
        None => socket::getsockopt(&fd, sockopt::SocketError).unwrap_or_else(|errno| errno as i32),
    };
    let icmp = so_error == libc::ECONNREFUSED && icmp_error_queued(fd);
    let outcome = classify(so_error, icmp);
    if outcome == TcpOutcome::Open {
        // Failing, close sends FIN instead: the answer stands.
        let _ = socket::setsockopt(&fd, sockopt::Linger, &libc::linger { l_onoff: 1, l_linger: 0 });
    }
    outcome
}

/// Room for one `IP_RECVERR`/`IPV6_RECVERR` control message: `sock_extended_err` and the
/// offender's address. Aligned as control message headers must be.
#[repr(C, align(8))]
struct ErrQueueBuf([u8; 128]);

/// True if the socket's error queue holds an error that came from an ICMP or ICMPv6 message
/// (`IP_RECVERR` queues one for every ICMP error about the SYN; nothing else queues on a TCP
/// socket before it is connected).
fn icmp_error_queued(fd: BorrowedFd<'_>) -> bool {
    let mut cmsg = ErrQueueBuf([0; 128]);
    let flags = MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT;
    let Ok(msg) = socket::recvmsg::<()>(fd.as_raw_fd(), &mut [], Some(&mut cmsg.0), flags) else { return false };
    let Ok(cmsgs) = msg.cmsgs() else { return false };
    for c in cmsgs {
        match c {
            ControlMessageOwned::Ipv4RecvErr(e, _) | ControlMessageOwned::Ipv6RecvErr(e, _) => {
                return e.ee_origin == SO_EE_ORIGIN_ICMP || e.ee_origin == SO_EE_ORIGIN_ICMP6
            }
            _ => {}
        }
    }
    false
}

impl AsFd for TcpProbes {
    /// The epoll fd: readable when some probe ended.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.epoll.as_fd()
    }
}

impl AsRawFd for TcpProbes {
    fn as_raw_fd(&self) -> RawFd {
        self.epoll.as_raw_fd()
    }
}

impl fmt::Debug for TcpProbes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpProbes")
            .field("epoll", &self.epoll.as_raw_fd())
            .field("family", &self.family)
            .field("src", &self.src)
            .field("in_flight", &self.in_flight.len())
            .finish()
    }
}

/// The scope id a socket address for `addr` needs: the device's index for a link-local
/// address, which names no link by itself; 0 for any other.
fn scope(addr: Ipv6Addr, ifindex: u32) -> u32 {
    if addr.is_unicast_link_local() {
        ifindex
    } else {
        0
    }
}

/// `setsockopt(2)` with a plain value, for the options nix has no wrapper for.
fn set_opt<T>(fd: BorrowedFd<'_>, level: libc::c_int, name: libc::c_int, val: &T) -> Result<(), Errno> {
    let len = core::mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: `val` points to `len` readable bytes for the whole call and `fd` is an open
    // socket borrowed for it; the kernel copies what it needs and keeps no pointer.
    let rc = unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, (val as *const T).cast(), len) };
    Errno::result(rc).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_syn_ack_and_rst_and_nothing_else() {
        assert_eq!(classify(0, false), TcpOutcome::Open);
        assert_eq!(classify(libc::ECONNREFUSED, false), TcpOutcome::Reset);
        // A firewall's plain `reject`: ICMP port unreachable, the same errno as a RST.
        assert_eq!(classify(libc::ECONNREFUSED, true), TcpOutcome::Lost(Errno::ECONNREFUSED));
        for errno in [Errno::EHOSTUNREACH, Errno::ENETUNREACH, Errno::EACCES, Errno::ETIMEDOUT, Errno::EPROTO] {
            assert_eq!(classify(errno as i32, false), TcpOutcome::Lost(errno));
            assert_eq!(classify(errno as i32, true), TcpOutcome::Lost(errno));
        }
        assert!(TcpOutcome::Open.answered() && TcpOutcome::Reset.answered());
        assert!(!TcpOutcome::Lost(Errno::ECONNREFUSED).answered());
        assert!(!TcpOutcome::Lost(Errno::ETIMEDOUT).answered());
    }

    #[test]
    fn outcomes_read_as_what_came_back() {
        assert_eq!(TcpOutcome::Open.to_string(), "SYN-ACK");
        assert_eq!(TcpOutcome::Reset.to_string(), "RST");
        assert_eq!(TcpOutcome::Lost(Errno::ETIMEDOUT).to_string(), "no answer");
        assert_eq!(TcpOutcome::Lost(Errno::ECONNREFUSED).to_string(), "ICMP port unreachable");
        assert_eq!(TcpOutcome::Lost(Errno::EHOSTUNREACH).to_string(), "EHOSTUNREACH: No route to host");
    }

    #[test]
    fn errors_name_the_call() {
        let e = |family, op, errno| TcpProbeError::Call { family, op, errno }.to_string();
        assert_eq!(
            e(Family::V4, TcpOp::Socket, Errno::EMFILE),
            "TCP probe socket(AF_INET, SOCK_STREAM, IPPROTO_TCP): EMFILE: Too many open files \
             (out of file descriptors)"
        );
        assert_eq!(
            e(Family::V6, TcpOp::BindDevice, Errno::EPERM),
            "TCPv6 probe setsockopt(SO_BINDTODEVICE): EPERM: Operation not permitted (needs CAP_NET_RAW)"
        );
        assert_eq!(
            e(Family::V6, TcpOp::RecvErr, Errno::EINVAL),
            "TCPv6 probe setsockopt(IPV6_RECVERR): EINVAL: Invalid argument"
        );
        assert!(e(Family::V6, TcpOp::Bind, Errno::EADDRNOTAVAIL)
            .ends_with("(address not assigned to this host, or still tentative)"));
        assert!(e(Family::V4, TcpOp::Connect, Errno::EAFNOSUPPORT).ends_with("(target of the other address family)"));
        assert_eq!(
            e(Family::V4, TcpOp::Connect, Errno::ENETUNREACH),
            "TCP probe connect: ENETUNREACH: Network is unreachable"
        );
        assert_eq!(
            TcpProbeError::Full { family: Family::V4 }.to_string(),
            format!("TCP probe: all {TCP_PROBES_MAX} probes in flight")
        );
    }

    #[test]
    fn impossible_device_names_are_refused_before_the_kernel_sees_them() {
        for name in ["", "a-name-of-16-chr", "eth\0"] {
            for src in [IpAddr::V4(core::net::Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)] {
                let err = TcpProbes::open(name, src).unwrap_err();
                let family = Family::of(&src);
                assert_eq!(err, TcpProbeError::Call { family, op: TcpOp::BindDevice, errno: Errno::ENODEV });
            }
        }
    }
}
