//! NETLINK_NETFILTER adapter: removes the conntrack entries NAT'd to one address.
//!
//! Contract:
//! - [`Conntrack::open`] makes one request socket of `sys::netlink::request`, the request
//!   path shared with the rtnetlink adapter (blocking, 1 s per reply, answers matched by
//!   sequence number). Its buffers (one receive datagram, one request, a batch of [`BATCH`]
//!   entries) are allocated there and reused; nothing is allocated per flush.
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
//!   Entries that fail their checks are skipped and counted in [`Conntrack::malformed`].
//!
//! Both families: an IPv4 address dumps the `AF_INET` table, an IPv6 address (NAT66,
//! masquerade66) the `AF_INET6` one, whose tuples are `CTA_IP_V6_*`.

use crate::sys::netlink::request::{OpenStep, Requests};
use crate::sys::netlink::NlCause;
use crate::wire::ctnetlink::{self, Entry, Parsed};
use crate::wire::netlink::Message;
use core::fmt;
use core::net::IpAddr;
use neli::consts::socket::NlFamily;
use nix::errno::Errno;

/// Matching entries collected per dump before they are deleted.
pub const BATCH: usize = 256;
/// Dump-and-delete rounds per flush: up to `BATCH * MAX_ROUNDS` entries.
pub const MAX_ROUNDS: usize = 64;
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

/// A failed flush: `conntrack dump: Operation not permitted (needs CAP_NET_ADMIN)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConntrackError {
    /// A netlink call failed.
    Call(CtOp, NlCause),
    /// More than `BATCH * MAX_ROUNDS` entries matched; the rest stays.
    TooMany,
}

impl fmt::Display for ConntrackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (op, cause) = match self {
            ConntrackError::Call(op, cause) => (*op, cause),
            ConntrackError::TooMany => {
                return write!(
                    f,
                    "conntrack delete: more than {} entries matched; the rest are left",
                    BATCH * MAX_ROUNDS
                )
            }
        };
        let name = match op {
            CtOp::Open => "open",
            CtOp::Bind => "bind",
            CtOp::Dump => "dump",
            CtOp::Delete => "delete",
        };
        write!(f, "conntrack {name}: {cause}")?;
        match (op, cause.errno()) {
            // netlink_create: no NETLINK_NETFILTER in this kernel.
            (CtOp::Open, Some(Errno::EPROTONOSUPPORT)) => f.write_str(" (kernel without nfnetlink)"),
            // nfnetlink: no ctnetlink subsystem registered (module not loaded).
            (CtOp::Dump, Some(Errno::ENOENT | Errno::EOPNOTSUPP)) => {
                f.write_str(" (is nf_conntrack_netlink loaded? kmod-nf-conntrack-netlink)")
            }
            _ => Ok(()),
        }
    }
}

impl std::error::Error for ConntrackError {}

/// The NETLINK_NETFILTER request socket and its buffers.
pub struct Conntrack {
    requests: Requests,
    out: [u8; REQUEST_MAX],
    batch: Box<heapless::Vec<Entry, BATCH>>,
}

impl Conntrack {
    /// Opens and binds the socket. Needs no privilege; the requests need `CAP_NET_ADMIN`.
    pub fn open() -> Result<Conntrack, ConntrackError> {
        let requests = Requests::open(NlFamily::Netfilter).map_err(|(step, errno)| {
            let op = match step {
                OpenStep::Socket => CtOp::Open,
                OpenStep::Bind => CtOp::Bind,
            };
            ConntrackError::Call(op, NlCause::Sys(errno))
        })?;
        Ok(Conntrack { requests, out: [0; REQUEST_MAX], batch: Box::default() })
    }

    /// Messages skipped because they failed a check, since open.
    pub fn malformed(&self) -> u64 {
        self.requests.malformed()
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
        Err(ConntrackError::TooMany)
    }

    /// Dumps the table of `addr`'s family into the batch, keeping the entries NAT'd to
    /// `addr`. Returns whether more matched than the batch holds.
    fn collect(&mut self, addr: IpAddr) -> Result<bool, ConntrackError> {
        let fail = |cause| ConntrackError::Call(CtOp::Dump, cause);
        self.batch.clear();
        let seq = self.requests.next_seq();
        let n = ctnetlink::emit_dump(&mut self.out, seq, ctnetlink::family_of(addr))
            .map_err(|_| fail(NlCause::Unencodable("request does not fit")))?;
        let (batch, mut more) = (&mut self.batch, false);
        let mut entry = |msg: &Message<'_>| {
            if let Parsed::Entry(e) = ctnetlink::parse(msg)? {
                if e.nat_to(addr) {
                    more |= batch.push(e).is_err();
                }
            }
            Ok(())
        };
        // An interrupted dump (NLM_F_DUMP_INTR) cannot hurt here: what it misses stays, and
        // what it shows is deleted by id, so a stale entry is an ENOENT.
        let _interrupted = self.requests.dump(&self.out[..n], &mut entry).map_err(fail)?;
        Ok(more)
    }

    /// Deletes one entry; `Ok(false)` when it was already gone.
    fn delete(&mut self, entry: &Entry) -> Result<bool, ConntrackError> {
        let fail = |cause| ConntrackError::Call(CtOp::Delete, cause);
        let seq = self.requests.next_seq();
        let n = ctnetlink::emit_delete(&mut self.out, seq, entry)
            .map_err(|_| fail(NlCause::Unencodable("request does not fit")))?;
        match self.requests.ack(&self.out[..n]) {
            Ok(()) => Ok(true),
            Err(NlCause::Kernel(Errno::ENOENT, _)) => Ok(false),
            Err(cause) => Err(fail(cause)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::netlink::ExtAck;

    #[test]
    fn errors_name_the_call() {
        let kernel = |e| NlCause::Kernel(e, ExtAck::new());
        let e = ConntrackError::Call(CtOp::Dump, kernel(Errno::EPERM));
        assert_eq!(e.to_string(), "conntrack dump: Operation not permitted (needs CAP_NET_ADMIN)");
        let e = ConntrackError::Call(CtOp::Open, NlCause::Sys(Errno::EPROTONOSUPPORT));
        assert_eq!(e.to_string(), "conntrack open: Protocol not supported (kernel without nfnetlink)");
        let e = ConntrackError::Call(CtOp::Dump, kernel(Errno::ENOENT));
        assert_eq!(
            e.to_string(),
            "conntrack dump: No such file or directory (is nf_conntrack_netlink loaded? kmod-nf-conntrack-netlink)"
        );
        let e = ConntrackError::Call(CtOp::Delete, NlCause::Timeout);
        assert_eq!(e.to_string(), "conntrack delete: no reply within 1 s");
    }
}
