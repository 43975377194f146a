//! The one netlink request path, used by the rtnetlink adapter (`sys::netlink`) and the
//! ctnetlink one (`sys::conntrack`): a request sent on a blocking socket, its answer read
//! back.
//!
//! Contract:
//! - [`Requests::open`] makes a socket of one netlink protocol, bound to a port id the kernel
//!   picks, blocking with a [`REPLY_TIMEOUT_SECS`] receive timeout, so a lost reply costs at
//!   most that and never hangs the loop; extended ACKs are asked for (Linux 4.12+; older
//!   kernels simply lack them). Its receive buffer is allocated there and reused: nothing
//!   is allocated per request.
//! - [`Requests::ack`] sends a request made with `NLM_F_ACK` and waits for its
//!   `NLMSG_ERROR`; [`Requests::dump`] sends one that returns data and hands each data
//!   message to the caller until `NLMSG_DONE`, then says whether the kernel flagged the dump
//!   as interrupted (`NLM_F_DUMP_INTR`). Which messages belong to the answer, where it ends
//!   and what an error says is decided by `wire::netlink::Reply`; this module moves bytes.
//! - A request's own header carries its sequence number ([`Requests::next_seq`] hands them
//!   out); replies with another number (late answers to requests that timed out) are
//!   skipped.
//! - Before each send, whatever an earlier request left unread is dropped: a reply after
//!   its timeout, the rest of a dump abandoned on an error. Reading is also what moves an
//!   unfinished dump along (`netlink_recvmsg` continues it), and the kernel refuses a new
//!   dump with EBUSY while one is still running on the socket.
//! - A call interrupted by a signal (EINTR) is repeated. `ENOBUFS` from recv(2) means the
//!   kernel dropped a message for this socket because its queue was full (netlink(7)): the
//!   answer may be what was lost, so the request fails with it. A datagram larger than the
//!   buffer fails the request as malformed: its tail is gone.
//! - Failures are an [`NlCause`]; each adapter's error adds the call that failed.

use crate::wire::netlink::{Malformed, Message, Messages, Reply, Step};
use core::fmt;
use neli::consts::socket::NlFamily;
use neli::socket::NlSocket;
use neli::utils::Groups;
use nix::errno::Errno;
use nix::sys::socket::{recv, send, setsockopt, sockopt, MsgFlags};
use nix::sys::time::{TimeVal, TimeValLike};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

/// Receive buffer for one datagram. The kernel never builds a dump datagram larger than
/// 32 KiB (`netlink_recvmsg` caps `max_recvmsg_len`), and a notification is one message.
pub const RECV_BUF_LEN: usize = 32 * 1024;

/// How long a request socket waits for each reply datagram.
pub const REPLY_TIMEOUT_SECS: i64 = 1;

/// Longest extended-ACK text kept in an error.
pub const EXT_ACK_MAX: usize = 96;

/// The kernel's explanation of a refused request (extended ACK), possibly empty.
pub type ExtAck = heapless::String<EXT_ACK_MAX>;

/// Why a netlink call failed (the adapters' errors say which call).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NlCause {
    /// A system call on the socket failed.
    Sys(Errno),
    /// The kernel refused the request (`NLMSG_ERROR`, or `NLMSG_DONE` with an error), with
    /// its explanation if it gave one.
    Kernel(Errno, ExtAck),
    /// No reply within [`REPLY_TIMEOUT_SECS`].
    Timeout,
    /// The reply failed a length or value check.
    Malformed(&'static str),
    /// The dump was interrupted by concurrent changes twice in a row (`NLM_F_DUMP_INTR`).
    Interrupted,
    /// The request cannot be expressed exactly; nothing was sent.
    Unencodable(&'static str),
}

impl NlCause {
    /// The errno, whether a system call or the kernel's reply reported it.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            NlCause::Sys(e) | NlCause::Kernel(e, _) => Some(*e),
            _ => None,
        }
    }
}

impl fmt::Display for NlCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NlCause::Sys(e) | NlCause::Kernel(e, _) => {
                f.write_str(e.desc())?;
                if *e == Errno::EPERM {
                    f.write_str(" (needs CAP_NET_ADMIN)")?;
                }
                match self {
                    NlCause::Kernel(_, why) if !why.is_empty() => write!(f, " ({why})"),
                    _ => Ok(()),
                }
            }
            NlCause::Timeout => write!(f, "no reply within {REPLY_TIMEOUT_SECS} s"),
            NlCause::Malformed(why) => write!(f, "malformed reply: {why}"),
            NlCause::Interrupted => f.write_str("dump interrupted twice by concurrent changes"),
            NlCause::Unencodable(why) => f.write_str(why),
        }
    }
}

/// The step of opening a socket that failed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum OpenStep {
    /// socket(2), setsockopt(2), fcntl(2).
    Socket,
    /// bind(2).
    Bind,
}

/// A netlink socket of `protocol` (neli's), bound to a port id the kernel assigns.
pub fn open_socket(protocol: NlFamily) -> Result<NlSocket, (OpenStep, Errno)> {
    let socket = NlSocket::new(protocol).map_err(|e| (OpenStep::Socket, errno_of(&e)))?;
    socket.bind(None, Groups::empty()).map_err(|e| (OpenStep::Bind, errno_of(&e)))?;
    Ok(socket)
}

/// The errno behind one of neli's `io::Error`s.
pub fn errno_of(e: &io::Error) -> Errno {
    e.raw_os_error().map_or(Errno::EIO, Errno::from_raw)
}

/// The socket's descriptor as a `BorrowedFd` (nix wants one for setsockopt, poll wants one).
pub fn borrow(socket: &NlSocket) -> BorrowedFd<'_> {
    // SAFETY: `NlSocket` owns this descriptor and closes it only when dropped; the borrow is
    // tied to `socket`, so the descriptor stays open for as long as it is used.
    unsafe { BorrowedFd::borrow_raw(socket.as_raw_fd()) }
}

/// recv(2) one datagram, retrying on EINTR. With `MSG_TRUNC` the result is the datagram's
/// real length, which exceeds `buf.len()` if it was cut (netlink(7) / socket(7)).
pub fn recv_datagram(fd: RawFd, buf: &mut [u8]) -> Result<usize, Errno> {
    loop {
        match recv(fd, buf, MsgFlags::MSG_TRUNC) {
            Err(Errno::EINTR) => continue,
            other => return other,
        }
    }
}

/// A request socket and its receive buffer.
pub struct Requests {
    socket: NlSocket,
    buf: Box<[u8]>,
    seq: u32,
    malformed: u64,
}

impl Requests {
    /// Opens the request socket of `protocol` (see the module contract).
    pub fn open(protocol: NlFamily) -> Result<Requests, (OpenStep, Errno)> {
        let socket = open_socket(protocol)?;
        let timeout = TimeVal::seconds(REPLY_TIMEOUT_SECS);
        setsockopt(&borrow(&socket), sockopt::ReceiveTimeout, &timeout).map_err(|e| (OpenStep::Socket, e))?;
        // Extended ACKs (Linux 4.12+) explain refusals; older kernels simply lack them.
        let _ = socket.enable_ext_ack(true);
        Ok(Requests { socket, buf: vec![0; RECV_BUF_LEN].into_boxed_slice(), seq: 0, malformed: 0 })
    }

    /// The sequence number for the next request.
    pub fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Messages of answers skipped because they failed a check, since open.
    pub fn malformed(&self) -> u64 {
        self.malformed
    }

    /// The receive buffer, lent between requests (the rtnetlink adapter reads its event
    /// socket into it, so one buffer serves both of its sockets).
    pub fn buffer(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    /// Sends `request` (made with `NLM_F_ACK`) and waits for the kernel's answer.
    pub fn ack(&mut self, request: &[u8]) -> Result<(), NlCause> {
        let seq = self.send(request)?;
        self.wait(Reply::ack(seq), &mut |_| Ok(())).map(|_| ())
    }

    /// Sends `request` (a dump, or a get with a reply of one message) and hands every data
    /// message of the answer to `entry`; an entry it rejects is skipped and counted in
    /// [`Requests::malformed`]. Returns whether the kernel flagged the dump as interrupted.
    pub fn dump(
        &mut self,
        request: &[u8],
        entry: &mut dyn FnMut(&Message<'_>) -> Result<(), Malformed>,
    ) -> Result<bool, NlCause> {
        let seq = self.send(request)?;
        self.wait(Reply::data(seq), entry)
    }

    /// Drops what is left unread, then sends `request`; returns its sequence number.
    pub(crate) fn send(&mut self, request: &[u8]) -> Result<u32, NlCause> {
        let Some(Ok(header)) = Messages::new(request).next() else {
            return Err(NlCause::Unencodable("request without a netlink header"));
        };
        self.discard_stale();
        loop {
            match send(self.socket.as_raw_fd(), request, MsgFlags::empty()) {
                Ok(_) => return Ok(header.seq),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(NlCause::Sys(e)),
            }
        }
    }

    /// Reads datagrams until `reply` is complete. Returns whether it was an interrupted dump.
    pub(crate) fn wait(
        &mut self,
        mut reply: Reply,
        entry: &mut dyn FnMut(&Message<'_>) -> Result<(), Malformed>,
    ) -> Result<bool, NlCause> {
        let result = loop {
            let len = match self.recv_reply() {
                Ok(len) => len,
                Err(cause) => break Err(cause),
            };
            match reply.read(&self.buf[..len], entry) {
                Step::More => {}
                Step::Done { interrupted } => break Ok(interrupted),
                Step::Refused(errno, why) => break Err(NlCause::Kernel(Errno::from_raw(errno), ext_ack(why))),
                Step::Malformed(m) => break Err(NlCause::Malformed(m.0)),
            }
        };
        self.malformed += u64::from(reply.skipped());
        result
    }

    /// Reads and drops whatever the socket holds, without waiting.
    fn discard_stale(&mut self) {
        let flags = MsgFlags::MSG_TRUNC | MsgFlags::MSG_DONTWAIT;
        while let Ok(_) | Err(Errno::EINTR) = recv(self.socket.as_raw_fd(), &mut self.buf, flags) {}
    }

    /// One reply datagram; its length fits the buffer.
    fn recv_reply(&mut self) -> Result<usize, NlCause> {
        match recv_datagram(self.socket.as_raw_fd(), &mut self.buf) {
            Ok(len) if len <= self.buf.len() => Ok(len),
            Ok(_) => Err(NlCause::Malformed("reply larger than the receive buffer")),
            // SO_RCVTIMEO expired.
            Err(Errno::EAGAIN) => Err(NlCause::Timeout),
            Err(e) => Err(NlCause::Sys(e)),
        }
    }
}

/// As much of the kernel's explanation as fits.
fn ext_ack(text: Option<&str>) -> ExtAck {
    let mut why = ExtAck::new();
    for c in text.unwrap_or("").chars() {
        if why.push(c).is_err() {
            break;
        }
    }
    why
}
