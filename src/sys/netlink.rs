//! NETLINK_ROUTE adapter, IPv4 and IPv6: kernel notifications in, dumps on request, route
//! and rule changes out.
//!
//! Contract:
//! - [`Netlink::open`] makes two sockets. The *event* socket is non-blocking, joined to the
//!   link group and the address, route and rule groups of both families, with a 512 KiB
//!   receive buffer; poll [`Netlink::event_fd`] and call [`Netlink::drain_events`] when it
//!   is readable. The *request* socket is [`request::Requests`], the request path this
//!   adapter shares with `sys::conntrack` (blocking, 1 s per reply, answers matched by
//!   sequence number); [`Netlink::dump`] and [`Netlink::apply`] use it.
//! - Every message, notification or dump entry, goes through `wire::rtnl::parse`; a message
//!   that fails its checks is skipped and counted in [`Netlink::malformed`], never a panic.
//! - `ENOBUFS` on the event socket means the kernel dropped notifications: the sink gets
//!   [`KernelEvent::Overrun`] and should dump everything again. So does a notification
//!   datagram larger than the buffer.
//! - Nothing is allocated on the event path: one receive buffer, allocated at open, serves
//!   both sockets (calls take `&mut self`, so they never overlap). Requests are encoded with
//!   neli's message types, which allocate a little per request; dumps and changes are rare.
//!
//! What neli does and what we do ourselves: neli opens and configures the netlink sockets of
//! both adapters (`NlSocket`: socket, bind, multicast groups, non-blocking mode, receive
//! buffer size, extended ACKs) and encodes the rtnetlink requests (`Nlmsghdr`, `Ifinfomsg`,
//! `Ifaddrmsg`, `Rtmsg`, `Fibmsg`, `Rtattr`), which it models with the kernel's own
//! constants. Everything the kernel sends is read by plain send(2)/recv(2) into our buffer
//! and parsed by our own code (`wire::netlink`, `wire::rtnl`, `wire::ctnetlink`): neli's
//! `recv` builds a `Groups` vector per datagram and its parsing allocates per message and
//! attribute, while notifications must cost no allocation, and a parser of ours checks
//! every length, never panics on what the kernel or a fuzzer hands it, and reads real
//! captures in its tests. neli's `NlSocketHandle` (a 3 x 32 KiB buffer pool we would never
//! use) and its router (which starts a thread) are not used, and neli has no conntrack
//! types: ctnetlink requests are written by `wire::ctnetlink`.

pub mod request;

use crate::kernel::{DumpKind, KernelEvent};
use crate::route::{Family, Op, Route, RouteType, Rule, RuleAction, Selectors};
use crate::wire::netlink::{Full, Message, Messages};
use crate::wire::rtnl::{self, Parsed};
use core::fmt;
use core::net::IpAddr;
use neli::consts::nl::NlmF;
use neli::consts::rtnl::{
    Arphrd, FrAct, Frattr, IfaF, Iff, RtAddrFamily, RtScope, RtTable, Rta, RtaType, Rtm, RtmF, Rtn, Rtprot,
};
use neli::consts::socket::NlFamily;
use neli::nl::{NlPayload, NlmsghdrBuilder};
use neli::rtnl::{FibmsgBuilder, IfaddrmsgBuilder, IfinfomsgBuilder, Rtattr, RtattrBuilder, RtmsgBuilder};
use neli::socket::NlSocket;
use neli::types::{Buffer, RtBuffer};
use neli::utils::Groups;
use neli::{Size, ToBytes};
use nix::errno::Errno;
use nix::sys::socket::{setsockopt, sockopt};
use request::{borrow, errno_of, open_socket, recv_datagram, OpenStep, Requests};
pub use request::{ExtAck, NlCause, EXT_ACK_MAX, RECV_BUF_LEN, REPLY_TIMEOUT_SECS};
use std::io::{self, Cursor};
use std::os::fd::{AsRawFd, BorrowedFd};

/// Kernel receive-queue size asked for on the event socket, so a burst (an interface with
/// many routes going away) does not overflow it.
pub const EVENT_RCVBUF: usize = 512 * 1024;

/// Multicast groups of the event socket (`RTNLGRP_*` numbers, not bitmasks). A kernel
/// without nexthop objects has no such group; joining it there is harmless.
const EVENT_GROUPS: [u32; 8] = [
    libc::RTNLGRP_LINK,
    libc::RTNLGRP_IPV4_IFADDR,
    libc::RTNLGRP_IPV4_ROUTE,
    libc::RTNLGRP_IPV4_RULE,
    libc::RTNLGRP_IPV6_IFADDR,
    libc::RTNLGRP_IPV6_ROUTE,
    libc::RTNLGRP_IPV6_RULE,
    rtnl::RTNLGRP_NEXTHOP,
];

/// Room for the longest nexthop request (a group of every WAN with resilient parameters).
const NEXTHOP_REQUEST_MAX: usize = 256;

/// Which adapter call failed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum NlOp {
    /// Creating or configuring a socket (socket, setsockopt, fcntl).
    Open,
    /// bind(2).
    Bind,
    /// Joining the multicast groups.
    Subscribe,
    /// Reading notifications from the event socket.
    Recv,
    /// A dump request.
    Dump(DumpKind),
    /// A route or rule change.
    Apply(ApplyKind),
}

/// The changes [`Netlink::apply`] makes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ApplyKind {
    /// `RTM_NEWROUTE` with `NLM_F_CREATE | NLM_F_EXCL`.
    RouteAdd,
    /// `RTM_NEWROUTE` with `NLM_F_CREATE | NLM_F_REPLACE`.
    RouteReplace,
    /// `RTM_DELROUTE`.
    RouteDel,
    /// `RTM_NEWRULE` with `NLM_F_CREATE | NLM_F_EXCL`.
    RuleAdd,
    /// `RTM_DELRULE`.
    RuleDel,
    /// `RTM_NEWNEXTHOP` with `NLM_F_CREATE | NLM_F_EXCL`.
    NexthopAdd,
    /// `RTM_NEWNEXTHOP` with `NLM_F_CREATE | NLM_F_REPLACE`.
    NexthopReplace,
    /// `RTM_DELNEXTHOP`.
    NexthopDel,
}

impl ApplyKind {
    /// The kind of change `op` is.
    pub const fn of(op: &Op) -> ApplyKind {
        match op {
            Op::AddRoute(_) => ApplyKind::RouteAdd,
            Op::ReplaceRoute(_) => ApplyKind::RouteReplace,
            Op::DelRoute(_) => ApplyKind::RouteDel,
            Op::AddRule(_) => ApplyKind::RuleAdd,
            Op::DelRule(_) => ApplyKind::RuleDel,
            Op::AddNexthop(_) => ApplyKind::NexthopAdd,
            Op::ReplaceNexthop(_) => ApplyKind::NexthopReplace,
            Op::DelNexthop(_) => ApplyKind::NexthopDel,
        }
    }
}

/// A failed netlink call: `netlink rule add: File exists`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetlinkError {
    /// The call that failed.
    pub op: NlOp,
    /// What went wrong.
    pub cause: NlCause,
}

impl NetlinkError {
    const fn new(op: NlOp, cause: NlCause) -> Self {
        NetlinkError { op, cause }
    }

    /// The errno, whether a system call or the kernel's reply reported it.
    pub fn errno(&self) -> Option<Errno> {
        self.cause.errno()
    }
}

impl fmt::Display for NlOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NlOp::Open => "open",
            NlOp::Bind => "bind",
            NlOp::Subscribe => "subscribe",
            NlOp::Recv => "recv",
            NlOp::Dump(DumpKind::Links) => "dump links",
            NlOp::Dump(DumpKind::Addrs) => "dump addresses",
            NlOp::Dump(DumpKind::Routes) => "dump routes",
            NlOp::Dump(DumpKind::Rules) => "dump rules",
            NlOp::Dump(DumpKind::Nexthops) => "dump nexthops",
            NlOp::Apply(ApplyKind::RouteAdd) => "route add",
            NlOp::Apply(ApplyKind::RouteReplace) => "route replace",
            NlOp::Apply(ApplyKind::RouteDel) => "route del",
            NlOp::Apply(ApplyKind::RuleAdd) => "rule add",
            NlOp::Apply(ApplyKind::RuleDel) => "rule del",
            NlOp::Apply(ApplyKind::NexthopAdd) => "nexthop add",
            NlOp::Apply(ApplyKind::NexthopReplace) => "nexthop replace",
            NlOp::Apply(ApplyKind::NexthopDel) => "nexthop del",
        })
    }
}

impl fmt::Display for NetlinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "netlink {}: {}", self.op, self.cause)
    }
}

impl std::error::Error for NetlinkError {}

/// The NETLINK_ROUTE adapter: an event socket, a request socket and their buffers.
pub struct Netlink {
    events: NlSocket,
    /// Also lends its receive buffer to the event socket.
    requests: Requests,
    /// The request being encoded.
    out: Cursor<Vec<u8>>,
    /// Notifications skipped (the request socket counts its own).
    malformed: u64,
}

impl Netlink {
    /// Open and configure both sockets. Needs `CAP_NET_ADMIN` only for changes (and for a
    /// receive buffer above `net.core.rmem_max`, which otherwise caps it).
    pub fn open() -> Result<Netlink, NetlinkError> {
        let events = open_socket(NlFamily::Route).map_err(open_err)?;
        events.add_mcast_membership(Groups::new_groups(&EVENT_GROUPS)).map_err(io_err(NlOp::Subscribe))?;
        events.nonblock().map_err(io_err(NlOp::Open))?;
        // SO_RCVBUFFORCE ignores rmem_max but needs CAP_NET_ADMIN; SO_RCVBUF is capped.
        if setsockopt(&borrow(&events), sockopt::RcvBufForce, &EVENT_RCVBUF).is_err() {
            events.set_recv_buffer_size(EVENT_RCVBUF).map_err(io_err(NlOp::Open))?;
        }
        let requests = Requests::open(NlFamily::Route).map_err(open_err)?;
        Ok(Netlink { events, requests, out: Cursor::new(Vec::with_capacity(256)), malformed: 0 })
    }

    /// The event socket, for poll(2) (readable = notifications waiting).
    pub fn event_fd(&self) -> BorrowedFd<'_> {
        borrow(&self.events)
    }

    /// Messages skipped because they failed a check (both sockets, since open).
    pub fn malformed(&self) -> u64 {
        self.malformed + self.requests.malformed()
    }

    /// Read the event socket until it is empty and hand every notification to `sink`.
    /// Families and types dualwan does not model are dropped.
    pub fn drain_events(&mut self, sink: &mut dyn FnMut(KernelEvent)) -> Result<(), NetlinkError> {
        let buf = self.requests.buffer();
        loop {
            let len = match recv_datagram(self.events.as_raw_fd(), buf) {
                Ok(len) => len,
                Err(Errno::EAGAIN) => return Ok(()),
                // The queue overflowed and the kernel dropped notifications (netlink(7));
                // the error is reported once and the socket keeps working.
                Err(Errno::ENOBUFS) => {
                    sink(KernelEvent::Overrun);
                    continue;
                }
                Err(e) => return Err(NetlinkError::new(NlOp::Recv, NlCause::Sys(e))),
            };
            let Some(datagram) = buf.get(..len) else {
                // Larger than the buffer: the rest was cut off and its news is lost.
                self.malformed += 1;
                sink(KernelEvent::Overrun);
                continue;
            };
            for msg in Messages::new(datagram) {
                match msg.and_then(|m| rtnl::parse(&m)) {
                    Ok(Parsed::Event(event)) => sink(event),
                    Ok(_) => {}
                    Err(_) => self.malformed += 1,
                }
            }
        }
    }

    /// Dump every link, or every address, route (all tables) or rule of both families:
    /// each entry goes to `sink` as a `Change::New` event, then `DumpDone(kind)`.
    ///
    /// If the kernel flags the dump as interrupted by a concurrent change
    /// (`NLM_F_DUMP_INTR`: entries may be missing), it is requested once more, so the sink
    /// may see an entry twice before `DumpDone`; treat entries as upserts.
    pub fn dump(&mut self, kind: DumpKind, sink: &mut dyn FnMut(KernelEvent)) -> Result<(), NetlinkError> {
        let op = NlOp::Dump(kind);
        for _attempt in 0..2 {
            let seq = self.requests.next_seq();
            encode_dump(&mut self.out, kind, seq).map_err(|c| NetlinkError::new(op, c))?;
            let mut entry = |msg: &Message<'_>| {
                if let Parsed::Event(event) = rtnl::parse(msg)? {
                    sink(event);
                }
                Ok(())
            };
            let interrupted = match self.requests.dump(self.out.get_ref(), &mut entry) {
                Ok(interrupted) => interrupted,
                // A kernel without nexthop objects (before 5.3) holds none of ours.
                Err(cause) if kind == DumpKind::Nexthops && cause.errno() == Some(Errno::EOPNOTSUPP) => false,
                Err(cause) => return Err(NetlinkError::new(op, cause)),
            };
            if !interrupted {
                sink(KernelEvent::DumpDone(kind));
                return Ok(());
            }
        }
        Err(NetlinkError::new(op, NlCause::Interrupted))
    }

    /// Make one change and wait for the kernel's answer. `EEXIST` (add of a taken slot),
    /// `ESRCH`/`ENOENT` (delete of something absent) and the rest come back as
    /// `NlCause::Kernel`.
    pub fn apply(&mut self, op: &Op) -> Result<(), NetlinkError> {
        let nl_op = NlOp::Apply(ApplyKind::of(op));
        let seq = self.requests.next_seq();
        encode_op(&mut self.out, op, seq).map_err(|c| NetlinkError::new(nl_op, c))?;
        self.requests.ack(self.out.get_ref()).map_err(|c| NetlinkError::new(nl_op, c))
    }

    /// Checks that this process may change routing: CAP_NET_ADMIN in the user namespace
    /// that owns the network namespace. Asks the kernel to delete a rule of ours that the
    /// plan never makes (`priority` is the caller's [`crate::plan::RULE_NEVER`] slot):
    /// rtnetlink checks the capability before it looks for the rule
    /// (`rtnetlink_rcv_msg`), so `EPERM` means the capability is missing and `ENOENT` that
    /// it is there. Nothing that is not ours can match: the request carries protocol 201.
    pub fn check_admin(&mut self, priority: u32) -> Result<(), NetlinkError> {
        let never = Rule {
            family: Family::V4,
            priority,
            src: None,
            selectors: Selectors::NONE,
            action: RuleAction::Unreachable,
            suppress_prefixlen: None,
            protocol: crate::route::PROTO_DUALWAN,
            other_selectors: false,
        };
        match self.apply(&Op::DelRule(never)) {
            // A leftover of ours was there; it would have been removed anyway.
            Ok(()) => Ok(()),
            Err(e) if e.errno() == Some(Errno::EPERM) => Err(e),
            // The kernel looked for the rule: the request was allowed.
            Err(NetlinkError { cause: NlCause::Kernel(..), .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// A failed step of opening a socket, as this adapter names it.
fn open_err((step, errno): (OpenStep, Errno)) -> NetlinkError {
    let op = match step {
        OpenStep::Socket => NlOp::Open,
        OpenStep::Bind => NlOp::Bind,
    };
    NetlinkError::new(op, NlCause::Sys(errno))
}

/// A failed neli socket call, as this adapter names it.
fn io_err(op: NlOp) -> impl Fn(io::Error) -> NetlinkError {
    move |e| NetlinkError::new(op, NlCause::Sys(errno_of(&e)))
}

const BUILD_FAILED: NlCause = NlCause::Unencodable("neli could not build the request");

fn attr<T, P>(ty: T, payload: P) -> Result<Rtattr<T, Buffer>, NlCause>
where
    T: RtaType,
    P: Size + ToBytes,
{
    RtattrBuilder::default().rta_type(ty).rta_payload(payload).build().map_err(|_| BUILD_FAILED)
}

/// An address attribute: 4 or 16 bytes in network order.
fn addr_attr<T: RtaType>(ty: T, addr: IpAddr) -> Result<Rtattr<T, Buffer>, NlCause> {
    match addr {
        IpAddr::V4(a) => attr(ty, a.octets()),
        IpAddr::V6(a) => attr(ty, a.octets()),
    }
}

fn af(family: Family) -> RtAddrFamily {
    match family {
        Family::V4 => RtAddrFamily::Inet,
        Family::V6 => RtAddrFamily::Inet6,
    }
}

/// Write one request (header + payload) into `out`, replacing what was there.
fn encode<P: Size + ToBytes>(
    out: &mut Cursor<Vec<u8>>,
    ty: Rtm,
    flags: NlmF,
    seq: u32,
    payload: P,
) -> Result<(), NlCause> {
    let msg = NlmsghdrBuilder::default()
        .nl_type(ty)
        .nl_flags(NlmF::REQUEST | flags)
        .nl_seq(seq)
        // 0 = "the kernel"; it fills in our port id on replies.
        .nl_pid(0)
        .nl_payload(NlPayload::Payload(payload))
        .build()
        .map_err(|_| BUILD_FAILED)?;
    out.get_mut().clear();
    out.set_position(0);
    msg.to_bytes(out).map_err(|_| BUILD_FAILED)
}

/// Encode the dump request for `kind`: every entry of every family, no filter (entries of
/// families other than IPv4 and IPv6 are parsed as ignored).
fn encode_dump(out: &mut Cursor<Vec<u8>>, kind: DumpKind, seq: u32) -> Result<(), NlCause> {
    let dump = NlmF::DUMP;
    match kind {
        DumpKind::Links => {
            // Links of every family come as AF_UNSPEC; AF_BRIDGE port entries are ignored.
            let msg = IfinfomsgBuilder::default()
                .ifi_family(RtAddrFamily::Unspecified)
                .ifi_type(Arphrd::from(0))
                .ifi_flags(Iff::empty())
                .build()
                .map_err(|_| BUILD_FAILED)?;
            encode(out, Rtm::Getlink, dump, seq, msg)
        }
        DumpKind::Addrs => {
            let msg = IfaddrmsgBuilder::default()
                .ifa_family(RtAddrFamily::Unspecified)
                .ifa_prefixlen(0)
                .ifa_flags(IfaF::empty())
                .ifa_scope(RtScope::Universe)
                .ifa_index(0)
                .build()
                .map_err(|_| BUILD_FAILED)?;
            encode(out, Rtm::Getaddr, dump, seq, msg)
        }
        DumpKind::Routes => {
            let msg = rtmsg(RtAddrFamily::Unspecified, 0, RtTable::Unspec, 0, RT_SCOPE_UNIVERSE, 0, RtBuffer::new())?;
            encode(out, Rtm::Getroute, dump, seq, msg)
        }
        DumpKind::Rules => {
            let msg = fibmsg(RtAddrFamily::Unspecified, 0, 0, 0, FrAct::Unspec, RtBuffer::new())?;
            encode(out, Rtm::Getrule, dump, seq, msg)
        }
        DumpKind::Nexthops => lend(out, |buf| rtnl::emit_nexthop_dump(buf, seq)),
    }
}

/// Lets a `wire` emitter write one request into `out`, replacing what was there.
fn lend(out: &mut Cursor<Vec<u8>>, emit: impl FnOnce(&mut [u8]) -> Result<usize, Full>) -> Result<(), NlCause> {
    let buf = out.get_mut();
    buf.clear();
    buf.resize(NEXTHOP_REQUEST_MAX, 0);
    let len = emit(buf).map_err(|_| NlCause::Unencodable("nexthop request does not fit"))?;
    buf.truncate(len);
    out.set_position(0);
    Ok(())
}

// Attributes neli has no names for (include/uapi/linux/{rtnetlink,fib_rules}.h).
const RTA_NH_ID: u16 = 30;
const FRA_IP_PROTO: u16 = 22;
const FRA_SPORT_RANGE: u16 = 23;
const FRA_DPORT_RANGE: u16 = 24;

// rtm_scope values (include/uapi/linux/rtnetlink.h).
const RT_SCOPE_UNIVERSE: u8 = 0;
const RT_SCOPE_LINK: u8 = 253;
const RT_SCOPE_NOWHERE: u8 = 255;

fn rtmsg(
    family: RtAddrFamily,
    dst_len: u8,
    table: RtTable,
    protocol: u8,
    scope: u8,
    ty: u8,
    attrs: RtBuffer<Rta, Buffer>,
) -> Result<neli::rtnl::Rtmsg, NlCause> {
    RtmsgBuilder::default()
        .rtm_family(family)
        .rtm_dst_len(dst_len)
        .rtm_src_len(0)
        .rtm_tos(0)
        .rtm_table(table)
        .rtm_protocol(Rtprot::from(protocol))
        .rtm_scope(RtScope::from(scope))
        .rtm_type(Rtn::from(ty))
        .rtm_flags(RtmF::empty())
        .rtattrs(attrs)
        .build()
        .map_err(|_| BUILD_FAILED)
}

fn fibmsg(
    family: RtAddrFamily,
    src_len: u8,
    dst_len: u8,
    table: u8,
    action: FrAct,
    attrs: RtBuffer<Frattr, Buffer>,
) -> Result<neli::rtnl::Fibmsg, NlCause> {
    FibmsgBuilder::default()
        .fib_family(family)
        .fib_dst_len(dst_len)
        .fib_src_len(src_len)
        .fib_tos(0)
        .fib_table(RtTable::from(table))
        .fib_action(action)
        .rtattrs(attrs)
        .build()
        .map_err(|_| BUILD_FAILED)
}

/// `rtm_table` / `fib_rule_hdr.table` hold 8 bits; larger ids go only in the attribute
/// (`RT_TABLE_UNSPEC` in the header means "see RTA_TABLE / FRA_TABLE").
fn table_byte(table: u32) -> u8 {
    u8::try_from(table).unwrap_or(0)
}

/// Encode `op` as a request asking for an ACK.
fn encode_op(out: &mut Cursor<Vec<u8>>, op: &Op, seq: u32) -> Result<(), NlCause> {
    let ack = NlmF::ACK;
    match op {
        Op::AddRoute(r) => encode(out, Rtm::Newroute, ack | NlmF::CREATE | NlmF::EXCL, seq, route_msg(r, false)?),
        Op::ReplaceRoute(r) => {
            encode(out, Rtm::Newroute, ack | NlmF::CREATE | NlmF::REPLACE, seq, route_msg(r, false)?)
        }
        Op::DelRoute(r) => encode(out, Rtm::Delroute, ack, seq, route_msg(r, true)?),
        Op::AddRule(r) => encode(out, Rtm::Newrule, ack | NlmF::CREATE | NlmF::EXCL, seq, rule_msg(r)?),
        Op::DelRule(r) => encode(out, Rtm::Delrule, ack, seq, rule_msg(r)?),
        Op::AddNexthop(_) | Op::ReplaceNexthop(_) | Op::DelNexthop(_) => {
            lend(out, |buf| rtnl::emit_nexthop(buf, seq, op))
        }
    }
}

fn route_type(kind: RouteType) -> u8 {
    match kind {
        RouteType::Unicast => rtnl::RTN_UNICAST,
        RouteType::Unreachable => rtnl::RTN_UNREACHABLE,
        RouteType::Blackhole => rtnl::RTN_BLACKHOLE,
        RouteType::Prohibit => rtnl::RTN_PROHIBIT,
        RouteType::Other(n) => n,
    }
}

/// `struct rtmsg` + attributes for `route`.
///
/// On delete the kernel (`fib_table_delete`) removes the first route in the slot whose
/// given fields all match: type, protocol, gateway and oif are compared when non-zero, so
/// they are all sent; scope is `RT_SCOPE_NOWHERE` ("any"), since `Route` does not carry it.
/// Metric 0 cannot be asked for exactly: the kernel reads priority 0 as "any".
fn route_msg(route: &Route, delete: bool) -> Result<neli::rtnl::Rtmsg, NlCause> {
    let scope = match (delete, route.kind, route.gateway) {
        (true, ..) => RT_SCOPE_NOWHERE,
        // `dev X` without a gateway: the destination is on the link (what `ip route` does).
        (false, RouteType::Unicast, None) if route.oif != 0 => RT_SCOPE_LINK,
        // Gateway routes and unreachable/blackhole/prohibit (fib_props[] allow universe).
        _ => RT_SCOPE_UNIVERSE,
    };
    let mut attrs = RtBuffer::new();
    attrs.push(attr(Rta::Table, route.table)?);
    if route.dst.len > 0 {
        attrs.push(addr_attr(Rta::Dst, route.dst.addr)?);
    }
    if let Some(gw) = route.gateway {
        attrs.push(addr_attr(Rta::Gateway, gw)?);
    }
    if route.oif != 0 {
        attrs.push(attr(Rta::Oif, route.oif)?);
    }
    if let Some(id) = route.nhid {
        attrs.push(attr(Rta::from(RTA_NH_ID), id)?);
    }
    if route.metric != 0 {
        attrs.push(attr(Rta::Priority, route.metric)?);
    }
    let table = RtTable::from(table_byte(route.table));
    rtmsg(af(route.family()), route.dst.len, table, route.protocol, scope, route_type(route.kind), attrs)
}

/// `struct fib_rule_hdr` + attributes for `rule`.
///
/// On delete the kernel (`rule_find`) removes the first rule whose *given* fields match:
/// priority, action, table, source, the other selectors, suppress_prefixlength and
/// protocol are all sent, and the protocol keeps it off rules dualwan did not create. A
/// rule with selectors this crate does not model cannot be described, so it is refused
/// rather than approximated.
fn rule_msg(rule: &Rule) -> Result<neli::rtnl::Fibmsg, NlCause> {
    if rule.other_selectors {
        return Err(NlCause::Unencodable("rule has selectors dualwan cannot encode; not sent"));
    }
    let (action, table) = match rule.action {
        RuleAction::Lookup(t) => (rtnl::FR_ACT_TO_TBL, Some(t)),
        RuleAction::Unreachable => (rtnl::FR_ACT_UNREACHABLE, None),
        RuleAction::Blackhole => (rtnl::FR_ACT_BLACKHOLE, None),
        RuleAction::Prohibit => (rtnl::FR_ACT_PROHIBIT, None),
        RuleAction::Other(n) => (n, None),
    };
    let src = rule.src.filter(|p| p.len > 0);
    let mut attrs = RtBuffer::new();
    attrs.push(attr(Frattr::Priority, rule.priority)?);
    if let Some(p) = src {
        attrs.push(addr_attr(Frattr::Src, p.addr)?);
    }
    let sel = &rule.selectors;
    let dst = sel.dst.filter(|p| p.len > 0);
    if let Some(p) = dst {
        attrs.push(addr_attr(Frattr::Dst, p.addr)?);
    }
    if let Some(name) = sel.iif {
        let mut bytes = [0u8; crate::kernel::IFNAME_MAX + 1];
        bytes[..name.as_str().len()].copy_from_slice(name.as_str().as_bytes());
        attrs.push(attr(Frattr::Iifname, &bytes[..=name.as_str().len()])?);
    }
    if let Some(n) = sel.ip_proto {
        attrs.push(attr(Frattr::from(FRA_IP_PROTO), n)?);
    }
    for (ty, range) in [(FRA_SPORT_RANGE, sel.sport), (FRA_DPORT_RANGE, sel.dport)] {
        if let Some(r) = range {
            let [a, b] = r.start.to_ne_bytes();
            let [c, d] = r.end.to_ne_bytes();
            attrs.push(attr(Frattr::from(ty), [a, b, c, d])?);
        }
    }
    if let Some(t) = table {
        attrs.push(attr(Frattr::Table, t)?);
    }
    if let Some(n) = rule.suppress_prefixlen {
        attrs.push(attr(Frattr::SuppressPrefixlen, u32::from(n))?);
    }
    attrs.push(attr(Frattr::Protocol, rule.protocol)?);
    let (src_len, dst_len) = (src.map_or(0, |p| p.len), dst.map_or(0, |p| p.len));
    fibmsg(af(rule.family), src_len, dst_len, table.map_or(0, table_byte), FrAct::from(action), attrs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::Family;
    use crate::wire::netlink::{Reply, AF_INET6, AF_UNSPEC};
    use crate::wire::netlink::{NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST};
    use core::net::IpAddr;

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::from([a, b, c, d])
    }
    use crate::kernel::Change;
    use crate::route::{Prefix, PROTO_DUALWAN, TABLE_MAIN};

    /// Encode `op` with neli and read it back with our parser: the two must agree.
    fn roundtrip(op: &Op) -> (Message<'static>, Parsed) {
        let mut out = Cursor::new(Vec::new());
        encode_op(&mut out, op, 42).expect("encodable");
        let bytes: &'static [u8] = Box::leak(out.into_inner().into_boxed_slice());
        let mut msgs = Messages::new(bytes);
        let msg = msgs.next().unwrap().unwrap();
        assert!(msgs.next().is_none(), "one message per request");
        assert_eq!(msg.seq, 42);
        (msg, rtnl::parse(&msg).unwrap())
    }

    fn gw_route(table: u32, gw: [u8; 4], metric: u32) -> Route {
        Route {
            table,
            dst: Prefix::DEFAULT,
            kind: RouteType::Unicast,
            gateway: Some(IpAddr::from(gw)),
            nhid: None,
            oif: 7,
            metric,
            protocol: PROTO_DUALWAN,
        }
    }

    const REQUEST_ACK: u16 = NLM_F_REQUEST | NLM_F_ACK;
    const CREATE: u16 = NLM_F_CREATE;
    const EXCL: u16 = NLM_F_EXCL;
    const REPLACE: u16 = NLM_F_REPLACE;

    #[test]
    fn ipv6_requests_carry_their_family() {
        let route = Route {
            dst: Prefix::default_of(Family::V6),
            gateway: "fe80::1".parse().ok(),
            ..gw_route(101, [192, 0, 2, 1], 0)
        };
        let (msg, parsed) = roundtrip(&Op::ReplaceRoute(route));
        assert_eq!(msg.payload[0], AF_INET6);
        assert_eq!(parsed, Parsed::Event(KernelEvent::Route(Change::Replace, route)));
        let rule = Rule {
            family: Family::V6,
            priority: 5001,
            src: Some(Prefix::host("2001:db8:1::2".parse().unwrap())),
            selectors: Selectors::NONE,
            action: RuleAction::Lookup(101),
            suppress_prefixlen: None,
            protocol: PROTO_DUALWAN,
            other_selectors: false,
        };
        for op in [Op::AddRule(rule), Op::DelRule(rule)] {
            let (msg, parsed) = roundtrip(&op);
            assert_eq!((msg.payload[0], msg.payload[2]), (AF_INET6, 128), "family and source length");
            let change = if matches!(op, Op::AddRule(_)) { Change::New } else { Change::Del };
            assert_eq!(parsed, Parsed::Event(KernelEvent::Rule(change, rule)));
        }
    }

    #[test]
    fn route_requests_carry_every_field() {
        for route in [
            gw_route(101, [192, 0, 2, 1], 0),
            gw_route(1000, [198, 51, 100, 1], 20),
            Route {
                table: 102,
                dst: Prefix { addr: v4(203, 0, 113, 0), len: 24 },
                kind: RouteType::Unreachable,
                gateway: None,
                nhid: None,
                oif: 0,
                metric: 0,
                protocol: PROTO_DUALWAN,
            },
        ] {
            let (msg, parsed) = roundtrip(&Op::AddRoute(route));
            assert_eq!((msg.ty, msg.flags), (rtnl::RTM_NEWROUTE, REQUEST_ACK | CREATE | EXCL));
            assert_eq!(parsed, Parsed::Event(KernelEvent::Route(Change::New, route)));
            // Tables >= 256 only fit in RTA_TABLE; the header says RT_TABLE_UNSPEC.
            assert_eq!(msg.payload[4], u8::try_from(route.table).unwrap_or(0));
            assert_eq!(msg.payload[6], RT_SCOPE_UNIVERSE);

            let (msg, parsed) = roundtrip(&Op::ReplaceRoute(route));
            assert_eq!((msg.ty, msg.flags), (rtnl::RTM_NEWROUTE, REQUEST_ACK | CREATE | REPLACE));
            // The request's NLM_F_REPLACE reads back as the kernel's notification does.
            assert_eq!(parsed, Parsed::Event(KernelEvent::Route(Change::Replace, route)));

            let (msg, parsed) = roundtrip(&Op::DelRoute(route));
            assert_eq!((msg.ty, msg.flags), (rtnl::RTM_DELROUTE, REQUEST_ACK));
            assert_eq!(parsed, Parsed::Event(KernelEvent::Route(Change::Del, route)));
            assert_eq!(msg.payload[6], RT_SCOPE_NOWHERE, "delete matches any scope");
        }
    }

    #[test]
    fn device_routes_get_link_scope() {
        let mut route = gw_route(101, [0; 4], 0);
        route.gateway = None;
        route.dst = Prefix { addr: v4(192, 0, 2, 0), len: 24 };
        let (msg, _) = roundtrip(&Op::AddRoute(route));
        assert_eq!(msg.payload[6], RT_SCOPE_LINK);
    }

    #[test]
    fn rule_requests_carry_every_field() {
        let rules = [
            Rule {
                family: Family::V4,
                priority: 5000,
                src: None,
                selectors: Selectors::NONE,
                action: RuleAction::Lookup(TABLE_MAIN),
                suppress_prefixlen: Some(0),
                protocol: PROTO_DUALWAN,
                other_selectors: false,
            },
            Rule {
                family: Family::V4,
                priority: 5001,
                src: Some(Prefix::host(v4(192, 0, 2, 2))),
                selectors: Selectors::NONE,
                action: RuleAction::Lookup(1000),
                suppress_prefixlen: None,
                protocol: PROTO_DUALWAN,
                other_selectors: false,
            },
            Rule {
                family: Family::V4,
                priority: 5099,
                src: None,
                selectors: Selectors::NONE,
                action: RuleAction::Unreachable,
                suppress_prefixlen: None,
                protocol: PROTO_DUALWAN,
                other_selectors: false,
            },
            Rule { action: RuleAction::Blackhole, ..rules_base() },
            Rule { action: RuleAction::Prohibit, ..rules_base() },
        ];
        for rule in rules {
            let (msg, parsed) = roundtrip(&Op::AddRule(rule));
            assert_eq!((msg.ty, msg.flags), (rtnl::RTM_NEWRULE, REQUEST_ACK | CREATE | EXCL));
            assert_eq!(parsed, Parsed::Event(KernelEvent::Rule(Change::New, rule)));
            let (msg, parsed) = roundtrip(&Op::DelRule(rule));
            assert_eq!((msg.ty, msg.flags), (rtnl::RTM_DELRULE, REQUEST_ACK));
            assert_eq!(parsed, Parsed::Event(KernelEvent::Rule(Change::Del, rule)));
        }
    }

    fn rules_base() -> Rule {
        Rule {
            family: Family::V4,
            priority: 5098,
            src: Some(Prefix { addr: v4(198, 51, 100, 0), len: 24 }),
            selectors: Selectors::NONE,
            action: RuleAction::Lookup(101),
            suppress_prefixlen: None,
            protocol: PROTO_DUALWAN,
            other_selectors: false,
        }
    }

    #[test]
    fn rules_with_unmodelled_selectors_are_not_sent() {
        let rule = Rule { other_selectors: true, ..rules_base() };
        let mut out = Cursor::new(Vec::new());
        for op in [Op::AddRule(rule), Op::DelRule(rule)] {
            assert!(matches!(encode_op(&mut out, &op, 1), Err(NlCause::Unencodable(_))));
        }
    }

    #[test]
    fn dump_requests() {
        let mut out = Cursor::new(Vec::new());
        for (kind, ty, family) in [
            (DumpKind::Links, 18, AF_UNSPEC),
            (DumpKind::Addrs, 22, AF_UNSPEC),
            (DumpKind::Routes, 26, AF_UNSPEC),
            (DumpKind::Rules, 34, AF_UNSPEC),
        ] {
            encode_dump(&mut out, kind, 9).unwrap();
            let bytes = out.get_ref().clone();
            let msg = Messages::new(&bytes).next().unwrap().unwrap();
            assert_eq!((msg.ty, msg.flags, msg.seq), (ty, 0x1 | 0x300, 9), "{kind:?}");
            assert_eq!(msg.payload[0], family, "{kind:?}");
        }
    }

    // The two tests below open real netlink sockets but only read (dumps) in the current
    // namespace; they need no privileges and change nothing.

    #[test]
    fn an_abandoned_dump_does_not_block_the_next_one() {
        let mut nl = Netlink::open().unwrap();
        let mut clean = 0;
        nl.dump(DumpKind::Rules, &mut |_| clean += 1).unwrap();
        // A dump whose reply nobody reads, as if it had timed out. Without the drain before
        // the next request the kernel would refuse that one with EBUSY.
        let stale = nl.requests.next_seq();
        encode_dump(&mut nl.out, DumpKind::Links, stale).unwrap();
        nl.requests.send(nl.out.get_ref()).unwrap();
        let mut events = Vec::new();
        nl.dump(DumpKind::Rules, &mut |e| events.push(e)).unwrap();
        assert_eq!(events.len(), clean, "{events:?}");
        assert!(events.iter().all(|e| matches!(e, KernelEvent::Rule(..) | KernelEvent::DumpDone(_))));
    }

    #[test]
    fn replies_to_other_requests_are_skipped_and_a_missing_reply_times_out() {
        let mut nl = Netlink::open().unwrap();
        // Another request's reply (a whole dump, with its NLMSG_DONE) arrives while we wait
        // for the answer to request 12345, which never comes.
        let other = nl.requests.next_seq();
        encode_dump(&mut nl.out, DumpKind::Rules, other).unwrap();
        nl.requests.send(nl.out.get_ref()).unwrap();
        let start = std::time::Instant::now();
        let cause = nl.requests.wait(Reply::ack(12345), &mut |_| Ok(())).unwrap_err();
        let err = NetlinkError::new(NlOp::Apply(ApplyKind::RuleAdd), cause);
        assert_eq!(err.cause, NlCause::Timeout);
        assert!(start.elapsed() < std::time::Duration::from_secs(3));
    }

    #[test]
    fn errors_name_the_call() {
        let exists = NetlinkError::new(NlOp::Apply(ApplyKind::RuleAdd), NlCause::Kernel(Errno::EEXIST, ExtAck::new()));
        assert_eq!(exists.to_string(), "netlink rule add: File exists");
        assert_eq!(exists.errno(), Some(Errno::EEXIST));
        let perm =
            NetlinkError::new(NlOp::Apply(ApplyKind::RouteReplace), NlCause::Kernel(Errno::EPERM, ExtAck::new()));
        assert_eq!(perm.to_string(), "netlink route replace: Operation not permitted (needs CAP_NET_ADMIN)");
        let why = ExtAck::try_from("Nexthop has invalid gateway").unwrap();
        let inval = NetlinkError::new(NlOp::Apply(ApplyKind::RouteAdd), NlCause::Kernel(Errno::EINVAL, why));
        assert_eq!(inval.to_string(), "netlink route add: Invalid argument (Nexthop has invalid gateway)");
        let timeout = NetlinkError::new(NlOp::Dump(DumpKind::Rules), NlCause::Timeout);
        assert_eq!(timeout.to_string(), "netlink dump rules: no reply within 1 s");
        assert_eq!(timeout.errno(), None);
        let sock = NetlinkError::new(NlOp::Open, NlCause::Sys(Errno::EMFILE));
        assert_eq!(sock.to_string(), "netlink open: Too many open files");
    }
}
