//! NETLINK_NETFILTER adapter: removes the conntrack entries NAT'd to one address.
//!
//! Contract:
//! - [`Conntrack::open`] makes one blocking socket with a 1 s receive timeout (like the
//!   request socket of `sys::netlink`), so a lost reply costs at most a second. Its buffers
//!   (one receive datagram, one request, a batch of [`BATCH`] entries) are allocated there
//!   and reused; nothing is allocated per flush.
//! - [`Conntrack::flush_nat_to`] dumps the table of the address's family, keeps the
//!   entries [`Entry::nat_to`] selects (reply destination = the address, original source
//!   not), then deletes each by its original tuple and `CTA_ID`. A dump is never
//!   interleaved with deletes on the socket: when more than [`BATCH`] entries match, the
//!   batch is deleted and the table dumped again, at most [`MAX_ROUNDS`] times. An entry
//!   that is gone by the time it is deleted (`ENOENT`: it timed out, or its tuple now
//!   belongs to a new entry with another id) is not counted and is no error.
//! - The kernel needs `CAP_NET_ADMIN` for every ctnetlink message, and
//!   `nf_conntrack_netlink` (autoloaded on first use where modules can be loaded; OpenWrt
//!   ships it as kmod-nf-conntrack-netlink). Errors name the call: `conntrack dump: ...`.
//!
//! IPv4 is what the daemon asks for today (its WANs have IPv4 addresses). The wire format
//! and this adapter are family-generic: an IPv6 address dumps the `AF_INET6` table and
//! matches `CTA_IP_V6_*` tuples, which is what IPv6 NAT (masquerade66) support needs.

use crate::wire::ctnetlink::{self, Entry, Parsed};
use crate::wire::rtnl::Messages;
use core::fmt;
use core::net::IpAddr;
use nix::errno::Errno;
use nix::sys::socket::{
    bind, recv, send, setsockopt, socket, sockopt, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol,
    SockType,
};
use nix::sys::time::{TimeVal, TimeValLike};
use std::os::fd::{AsRawFd, OwnedFd};

/// Receive buffer for one datagram: the kernel caps dump datagrams at 32 KiB.
pub const RECV_BUF_LEN: usize = 32 * 1024;
/// Matching entries collected per dump before they are deleted.
pub const BATCH: usize = 256;
/// Dump-and-delete rounds per flush: up to `BATCH * MAX_ROUNDS` entries.
pub const MAX_ROUNDS: usize = 64;
/// How long the socket waits for each reply datagram.
pub const REPLY_TIMEOUT_SECS: i64 = 1;
/// Largest request written: a delete with two IPv6 addresses is about 120 bytes.
const REQUEST_MAX: usize = 256;

/// Which adapter call failed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CtOp {
    /// socket(2), setsockopt(2).
    Open,
    /// bind(2).
    Bind,
    /// The dump of the table.
    Dump,
    /// Deleting one entry.
    Delete,
}

/// Why it failed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CtCause {
    /// A system call failed.
    Sys(Errno),
    /// The kernel refused the request.
    Kernel(Errno),
    /// No reply within [`REPLY_TIMEOUT_SECS`].
    Timeout,
    /// A reply failed a check.
    Malformed(&'static str),
    /// More than `BATCH * MAX_ROUNDS` entries matched; the rest stays.
    TooMany,
}

/// A failed conntrack call: `conntrack dump: Operation not permitted (needs CAP_NET_ADMIN)`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ConntrackError {
    /// The call.
    pub op: CtOp,
    /// What went wrong.
    pub cause: CtCause,
}

impl ConntrackError {
    const fn new(op: CtOp, cause: CtCause) -> Self {
        ConntrackError { op, cause }
    }
}

impl fmt::Display for ConntrackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            CtOp::Open => "open",
            CtOp::Bind => "bind",
            CtOp::Dump => "dump",
            CtOp::Delete => "delete",
        };
        write!(f, "conntrack {op}: ")?;
        match self.cause {
            CtCause::Sys(e) | CtCause::Kernel(e) => {
                f.write_str(e.desc())?;
                match (self.op, e) {
                    (_, Errno::EPERM) => f.write_str(" (needs CAP_NET_ADMIN)"),
                    // netlink_create: no NETLINK_NETFILTER in this kernel.
                    (CtOp::Open, Errno::EPROTONOSUPPORT) => f.write_str(" (kernel without nfnetlink)"),
                    // nfnetlink: no ctnetlink subsystem registered (module not loaded).
                    (CtOp::Dump, Errno::ENOENT | Errno::EOPNOTSUPP) => {
                        f.write_str(" (is nf_conntrack_netlink loaded? kmod-nf-conntrack-netlink)")
                    }
                    _ => Ok(()),
                }
            }
            CtCause::Timeout => write!(f, "no reply within {REPLY_TIMEOUT_SECS} s"),
            CtCause::Malformed(why) => write!(f, "malformed reply: {why}"),
            CtCause::TooMany => write!(f, "more than {} entries matched; the rest are left", BATCH * MAX_ROUNDS),
        }
    }
}

impl std::error::Error for ConntrackError {}

/// The NETLINK_NETFILTER socket and its buffers.
pub struct Conntrack {
    fd: OwnedFd,
    buf: Box<[u8]>,
    out: [u8; REQUEST_MAX],
    batch: Box<heapless::Vec<Entry, BATCH>>,
    seq: u32,
    malformed: u64,
}

impl Conntrack {
    /// Opens and binds the socket. Needs no privilege; the requests need `CAP_NET_ADMIN`.
    pub fn open() -> Result<Conntrack, ConntrackError> {
        let fd = socket(AddressFamily::Netlink, SockType::Raw, SockFlag::SOCK_CLOEXEC, SockProtocol::NetlinkNetFilter)
            .map_err(|e| ConntrackError::new(CtOp::Open, CtCause::Sys(e)))?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0)).map_err(|e| ConntrackError::new(CtOp::Bind, CtCause::Sys(e)))?;
        setsockopt(&fd, sockopt::ReceiveTimeout, &TimeVal::seconds(REPLY_TIMEOUT_SECS))
            .map_err(|e| ConntrackError::new(CtOp::Open, CtCause::Sys(e)))?;
        Ok(Conntrack {
            fd,
            buf: vec![0; RECV_BUF_LEN].into_boxed_slice(),
            out: [0; REQUEST_MAX],
            batch: Box::default(),
            seq: 0,
            malformed: 0,
        })
    }

    /// Messages skipped because they failed a check, since open.
    pub fn malformed(&self) -> u64 {
        self.malformed
    }

    /// Deletes every conntrack entry source-NAT'd to `addr` (reply destination `addr`,
    /// original source another address); returns how many the kernel deleted.
    pub fn flush_nat_to(&mut self, addr: IpAddr) -> Result<u32, ConntrackError> {
        let mut deleted = 0u32;
        for _round in 0..MAX_ROUNDS {
            let more = self.collect(addr)?;
            for i in 0..self.batch.len() {
                let entry = self.batch[i];
                if self.delete(&entry)? {
                    deleted = deleted.saturating_add(1);
                }
            }
            if !more {
                return Ok(deleted);
            }
        }
        Err(ConntrackError::new(CtOp::Delete, CtCause::TooMany))
    }

    /// Dumps the table of `addr`'s family into the batch, keeping the entries NAT'd to
    /// `addr`. Returns whether more matched than the batch holds.
    fn collect(&mut self, addr: IpAddr) -> Result<bool, ConntrackError> {
        let op = CtOp::Dump;
        self.batch.clear();
        let seq = self.next_seq();
        let n = ctnetlink::emit_dump(&mut self.out, seq, ctnetlink::family_of(addr))
            .map_err(|_| ConntrackError::new(op, CtCause::Malformed("request does not fit")))?;
        self.send(op, n)?;
        let mut more = false;
        loop {
            let len = self.recv_reply(op)?;
            for msg in Messages::new(&self.buf[..len]) {
                let msg = msg.map_err(|m| ConntrackError::new(op, CtCause::Malformed(m.0)))?;
                if msg.seq != seq {
                    continue; // a late reply to an earlier request
                }
                // An interrupted dump (NLM_F_DUMP_INTR) cannot hurt here: what it misses
                // stays, and what it shows is deleted by id, so a stale entry is an ENOENT.
                match ctnetlink::parse(&msg) {
                    Ok(Parsed::Entry(e)) if e.nat_to(addr) => more |= self.batch.push(e).is_err(),
                    Ok(Parsed::Done { error: 0 }) => return Ok(more),
                    Ok(Parsed::Done { error }) | Ok(Parsed::Error(error)) => {
                        return Err(ConntrackError::new(op, CtCause::Kernel(Errno::from_raw(error.saturating_abs()))))
                    }
                    Ok(_) => {}
                    // One bad entry: skip it, the others are still good.
                    Err(_) => self.malformed += 1,
                }
            }
        }
    }

    /// Deletes one entry; `Ok(false)` when it was already gone.
    fn delete(&mut self, entry: &Entry) -> Result<bool, ConntrackError> {
        let op = CtOp::Delete;
        let seq = self.next_seq();
        let n = ctnetlink::emit_delete(&mut self.out, seq, entry)
            .map_err(|_| ConntrackError::new(op, CtCause::Malformed("request does not fit")))?;
        self.send(op, n)?;
        loop {
            let len = self.recv_reply(op)?;
            for msg in Messages::new(&self.buf[..len]) {
                let msg = msg.map_err(|m| ConntrackError::new(op, CtCause::Malformed(m.0)))?;
                if msg.seq != seq {
                    continue;
                }
                match ctnetlink::parse(&msg) {
                    Ok(Parsed::Ack) => return Ok(true),
                    Ok(Parsed::Error(libc::ENOENT)) => return Ok(false),
                    Ok(Parsed::Error(e)) => return Err(ConntrackError::new(op, CtCause::Kernel(Errno::from_raw(e)))),
                    Ok(_) => {}
                    Err(m) => return Err(ConntrackError::new(op, CtCause::Malformed(m.0))),
                }
            }
        }
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Sends the first `n` bytes of the request buffer, after dropping whatever an earlier
    /// request left unread (a reply after its timeout, the rest of an abandoned dump: the
    /// kernel refuses a new dump with EBUSY while one is still running on the socket).
    fn send(&mut self, op: CtOp, n: usize) -> Result<(), ConntrackError> {
        let stale = MsgFlags::MSG_TRUNC | MsgFlags::MSG_DONTWAIT;
        while let Ok(_) | Err(Errno::EINTR) = recv(self.fd.as_raw_fd(), &mut self.buf, stale) {}
        loop {
            match send(self.fd.as_raw_fd(), &self.out[..n], MsgFlags::empty()) {
                Ok(_) => return Ok(()),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(ConntrackError::new(op, CtCause::Sys(e))),
            }
        }
    }

    /// One reply datagram; its length fits the buffer.
    fn recv_reply(&mut self, op: CtOp) -> Result<usize, ConntrackError> {
        loop {
            return match recv(self.fd.as_raw_fd(), &mut self.buf, MsgFlags::MSG_TRUNC) {
                Ok(len) if len <= self.buf.len() => Ok(len),
                Ok(_) => Err(ConntrackError::new(op, CtCause::Malformed("reply larger than the receive buffer"))),
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => Err(ConntrackError::new(op, CtCause::Timeout)),
                Err(e) => Err(ConntrackError::new(op, CtCause::Sys(e))),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_call() {
        let e = ConntrackError::new(CtOp::Dump, CtCause::Kernel(Errno::EPERM));
        assert_eq!(e.to_string(), "conntrack dump: Operation not permitted (needs CAP_NET_ADMIN)");
        let e = ConntrackError::new(CtOp::Open, CtCause::Sys(Errno::EPROTONOSUPPORT));
        assert_eq!(e.to_string(), "conntrack open: Protocol not supported (kernel without nfnetlink)");
        let e = ConntrackError::new(CtOp::Dump, CtCause::Kernel(Errno::ENOENT));
        assert_eq!(
            e.to_string(),
            "conntrack dump: No such file or directory (is nf_conntrack_netlink loaded? kmod-nf-conntrack-netlink)"
        );
        let e = ConntrackError::new(CtOp::Delete, CtCause::Timeout);
        assert_eq!(e.to_string(), "conntrack delete: no reply within 1 s");
    }
}
