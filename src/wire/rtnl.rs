//! rtnetlink (`NETLINK_ROUTE`) messages as the kernel sends them: link entries, address,
//! route and rule entries of IPv4 and IPv6 and nexthop objects (notifications and dump
//! entries share one layout), ACKs, errors and the end of a dump; and the nexthop requests
//! dualwan sends.
//!
//! Contract: [`parse`] turns one message (walked with `wire::netlink::Messages`) into a
//! [`Parsed`] value. It neither allocates nor panics: every length is checked before it is
//! read, and a message that fails a check is reported as [`Malformed`] so the caller can
//! skip and count it. The netlink header, attributes, ACKs and errors are
//! `wire::netlink`'s. Families and message types this crate does not model come back as
//! [`Parsed::Ignored`]; unknown attribute types inside a modelled message are skipped.
//! Numbers are host-endian except addresses, which are in network order (rtnetlink(7)).
//!
//! Route and rule requests are encoded in `sys::netlink` with neli's types, which have no
//! nexthop objects: [`emit_nexthop`] writes those (and the nexthop dump request) into a
//! buffer the caller lends.

use crate::kernel::{Addr, Change, IfName, KernelEvent, Link};
use crate::route::{DevName, Family, Group, Member, Nexthop, NexthopKind, Op, PortRange, Prefix, Resilient, Route};
use crate::route::{RouteType, Rule, RuleAction, Selectors, GROUP_MAX};
use crate::wire::netlink::{i32_at, parse_control, u32_at, Attrs, Control, Full, Malformed, Message, Writer};
use crate::wire::netlink::{AF_INET, AF_INET6, AF_UNSPEC, NLA_TYPE_MASK, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP};
use crate::wire::netlink::{NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST};
use core::net::IpAddr;

/// `RTM_NEWLINK`.
pub const RTM_NEWLINK: u16 = 16;
/// `RTM_DELLINK`.
pub const RTM_DELLINK: u16 = 17;
/// `RTM_NEWADDR`.
pub const RTM_NEWADDR: u16 = 20;
/// `RTM_DELADDR`.
pub const RTM_DELADDR: u16 = 21;
/// `RTM_NEWROUTE`.
pub const RTM_NEWROUTE: u16 = 24;
/// `RTM_DELROUTE`.
pub const RTM_DELROUTE: u16 = 25;
/// `RTM_NEWRULE`.
pub const RTM_NEWRULE: u16 = 32;
/// `RTM_DELRULE`.
pub const RTM_DELRULE: u16 = 33;
/// `RTM_NEWNEXTHOP` (Linux 5.3+).
pub const RTM_NEWNEXTHOP: u16 = 104;
/// `RTM_DELNEXTHOP`.
pub const RTM_DELNEXTHOP: u16 = 105;
/// `RTM_GETNEXTHOP`.
pub const RTM_GETNEXTHOP: u16 = 106;
/// The nexthop notification group (`RTNLGRP_NEXTHOP`).
pub const RTNLGRP_NEXTHOP: u32 = 32;

/// `IFF_UP`.
pub const IFF_UP: u32 = 0x1;
/// `IFF_LOWER_UP`: carrier present.
pub const IFF_LOWER_UP: u32 = 0x1_0000;

/// `RTN_UNICAST`.
pub const RTN_UNICAST: u8 = 1;
/// `RTN_BLACKHOLE`.
pub const RTN_BLACKHOLE: u8 = 6;
/// `RTN_UNREACHABLE`.
pub const RTN_UNREACHABLE: u8 = 7;
/// `RTN_PROHIBIT`.
pub const RTN_PROHIBIT: u8 = 8;

/// `FR_ACT_TO_TBL`: look the packet up in a table.
pub const FR_ACT_TO_TBL: u8 = 1;
/// `FR_ACT_BLACKHOLE`.
pub const FR_ACT_BLACKHOLE: u8 = 6;
/// `FR_ACT_UNREACHABLE`.
pub const FR_ACT_UNREACHABLE: u8 = 7;
/// `FR_ACT_PROHIBIT`.
pub const FR_ACT_PROHIBIT: u8 = 8;
/// `FIB_RULE_INVERT` in `fib_rule_hdr.flags` (`ip rule add not ...`).
pub const FIB_RULE_INVERT: u32 = 0x2;

// Attribute types (include/uapi/linux/{if_link,if_addr,rtnetlink,fib_rules}.h).
const IFLA_IFNAME: u16 = 3;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_FLAGS: u16 = 8;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_TABLE: u16 = 15;
const RTA_NH_ID: u16 = 30;
const FRA_DST: u16 = 1;
const FRA_IIFNAME: u16 = 3;
const FRA_SRC: u16 = 2;
const FRA_PRIORITY: u16 = 6;
const FRA_SUPPRESS_IFGROUP: u16 = 13;
const FRA_SUPPRESS_PREFIXLEN: u16 = 14;
const FRA_TABLE: u16 = 15;
const FRA_L3MDEV: u16 = 19;
const FRA_PROTOCOL: u16 = 21;
const FRA_IP_PROTO: u16 = 22;
const FRA_SPORT_RANGE: u16 = 23;
const FRA_DPORT_RANGE: u16 = 24;
const FRA_SPORT_MASK: u16 = 28;
const FRA_DPORT_MASK: u16 = 29;
/// Rule attributes that select packets on something `Rule` does not model: fwmark (10),
/// flow/realm (11), tun_id (12), fwmask (16), oifname (17), uid range (20), dscp (25),
/// flowlabel and its mask (26, 27), dscp mask (30). The kernel emits each only when it is
/// set (`fib_nl_fill_rule`), so presence alone means "selects on it".
const FRA_OTHER_SELECTORS: &[u16] = &[10, 11, 12, 16, 17, 20, 25, 26, 27, 30];
// Nexthop attributes (include/uapi/linux/nexthop.h).
const NHA_ID: u16 = 1;
const NHA_GROUP: u16 = 2;
const NHA_GROUP_TYPE: u16 = 3;
const NHA_BLACKHOLE: u16 = 4;
const NHA_OIF: u16 = 5;
const NHA_GATEWAY: u16 = 6;
const NHA_ENCAP_TYPE: u16 = 7;
const NHA_ENCAP: u16 = 8;
const NHA_FDB: u16 = 11;
const NHA_RES_GROUP: u16 = 12;
const NHA_RES_GROUP_BUCKETS: u16 = 1;
const NHA_RES_GROUP_IDLE_TIMER: u16 = 2;
const NHA_RES_GROUP_UNBALANCED_TIMER: u16 = 3;
/// `NEXTHOP_GRP_TYPE_RES` (`NEXTHOP_GRP_TYPE_MPATH` is 0).
const NEXTHOP_GRP_TYPE_RES: u16 = 1;
/// The resilient group timers are `clock_t`, in units of `USER_HZ` (100 on every Linux
/// architecture).
const USER_HZ: u32 = 100;
/// Size of `struct nhmsg`.
const NHMSG_LEN: usize = 8;
/// Size of `struct nexthop_grp`.
const NEXTHOP_GRP_LEN: usize = 8;

/// The kernel reports an unset `suppress_prefixlength` / `suppress_ifgroup` as -1.
const FRA_UNSET: u32 = u32::MAX;

/// Size of `struct ifinfomsg`.
const IFINFOMSG_LEN: usize = 16;
/// Size of `struct ifaddrmsg`.
const IFADDRMSG_LEN: usize = 8;
/// Size of `struct rtmsg`.
const RTMSG_LEN: usize = 12;
/// Size of `struct fib_rule_hdr`.
const FIB_RULE_HDR_LEN: usize = 12;

/// What one message means to dualwan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A link, or an address, route or rule of either family, added/updated or removed.
    Event(KernelEvent),
    /// `NLMSG_ERROR` with error 0: the request succeeded.
    Ack,
    /// `NLMSG_ERROR` with a negative error: the kernel refused the request with this errno.
    Error(i32),
    /// `NLMSG_DONE`; `error` is the dump's own result (0, or a negative errno).
    Done {
        /// 0 when the dump completed, else a negative errno.
        error: i32,
    },
    /// A family, type or entry dualwan does not model (neighbours, bridge ports, MPLS,
    /// multicast routing...).
    Ignored,
}

impl From<Control> for Parsed {
    fn from(control: Control) -> Parsed {
        match control {
            Control::Ack => Parsed::Ack,
            Control::Error(errno) => Parsed::Error(errno),
            Control::Done { error } => Parsed::Done { error },
            Control::Other => Parsed::Ignored,
        }
    }
}

/// Parse one message. Never panics; see the module contract.
pub fn parse(msg: &Message<'_>) -> Result<Parsed, Malformed> {
    let p = msg.payload;
    let change = match msg.ty {
        RTM_DELLINK | RTM_DELADDR | RTM_DELROUTE | RTM_DELRULE | RTM_DELNEXTHOP => Change::Del,
        RTM_NEWROUTE if msg.flags & NLM_F_REPLACE != 0 => Change::Replace,
        _ => Change::New,
    };
    if let Some(control) = parse_control(msg) {
        return control.map(Parsed::from);
    }
    let event = match msg.ty {
        RTM_NEWLINK | RTM_DELLINK => parse_link(p)?.map(|l| KernelEvent::Link(change, l)),
        RTM_NEWADDR | RTM_DELADDR => parse_addr(p)?.map(|a| KernelEvent::Addr(change, a)),
        RTM_NEWROUTE | RTM_DELROUTE => parse_route(p)?.map(|r| KernelEvent::Route(change, r)),
        RTM_NEWRULE | RTM_DELRULE => parse_rule(p)?.map(|r| KernelEvent::Rule(change, r)),
        RTM_NEWNEXTHOP | RTM_DELNEXTHOP => parse_nexthop(p)?.map(|n| KernelEvent::Nexthop(change, n)),
        _ => None,
    };
    Ok(event.map_or(Parsed::Ignored, Parsed::Event))
}

/// `struct ifinfomsg` + `IFLA_*`. `None` for families other than `AF_UNSPEC`.
pub fn parse_link(p: &[u8]) -> Result<Option<Link>, Malformed> {
    if p.len() < IFINFOMSG_LEN {
        return Err(Malformed("short ifinfomsg"));
    }
    // The bridge driver sends AF_BRIDGE link messages to the same group, and RTM_DELLINK
    // with AF_BRIDGE only means "left the bridge" (br_ifinfo_notify); the device itself is
    // always reported with AF_UNSPEC (rtnl_fill_ifinfo).
    if p[0] != AF_UNSPEC {
        return Ok(None);
    }
    let ifindex = i32_at(p, 4).unwrap_or(0);
    if ifindex <= 0 {
        return Err(Malformed("ifinfomsg without an ifindex"));
    }
    let flags = u32_at(p, 8);
    let mut name = None;
    for attr in Attrs::new(&p[IFINFOMSG_LEN..]) {
        let (ty, data) = attr?;
        if ty == IFLA_IFNAME {
            name = Some(parse_ifname(data)?);
        }
    }
    Ok(Some(Link {
        ifindex: ifindex as u32,
        name: name.ok_or(Malformed("link without IFLA_IFNAME"))?,
        up: flags & IFF_UP != 0,
        lower_up: flags & IFF_LOWER_UP != 0,
    }))
}

/// The family of an `AF_INET`/`AF_INET6` message; `None` for every other family.
fn family(af: u8) -> Option<Family> {
    match af {
        AF_INET => Some(Family::V4),
        AF_INET6 => Some(Family::V6),
        _ => None,
    }
}

/// Checks a prefix length against its family.
fn prefix_len(family: Family, len: u8) -> Result<u8, Malformed> {
    match family {
        _ if len <= family.max_len() => Ok(len),
        Family::V4 => Err(Malformed("IPv4 prefix longer than 32")),
        Family::V6 => Err(Malformed("IPv6 prefix longer than 128")),
    }
}

/// `struct ifaddrmsg` + `IFA_*`. `None` for families other than `AF_INET`/`AF_INET6`.
pub fn parse_addr(p: &[u8]) -> Result<Option<Addr>, Malformed> {
    if p.len() < IFADDRMSG_LEN {
        return Err(Malformed("short ifaddrmsg"));
    }
    let Some(fam) = family(p[0]) else { return Ok(None) };
    let prefix_len = prefix_len(fam, p[1])?;
    let (mut local, mut address) = (None, None);
    // ifa_flags holds the low 8 bits; IFA_FLAGS (Linux 3.14+) all of them.
    let mut flags = u32::from(p[2]);
    for attr in Attrs::new(&p[IFADDRMSG_LEN..]) {
        match attr? {
            (IFA_LOCAL, data) => local = Some(ip(fam, data)?),
            (IFA_ADDRESS, data) => address = Some(ip(fam, data)?),
            (IFA_FLAGS, data) => flags = attr_u32(data)?,
            _ => {}
        }
    }
    // On point-to-point links IFA_ADDRESS is the peer; IFA_LOCAL is always our own
    // address when present (rtnetlink(7)). IPv6 sends IFA_LOCAL only for a peer address.
    let addr = local.or(address).ok_or(Malformed("address without IFA_LOCAL/IFA_ADDRESS"))?;
    Ok(Some(Addr { ifindex: u32_at(p, 4), addr, prefix_len, scope: p[3], flags }))
}

/// `struct rtmsg` + `RTA_*`. `None` for families other than `AF_INET`/`AF_INET6`.
///
/// Multipath routes (`RTA_MULTIPATH`) are reported without gateway and device: dualwan
/// never creates them and leaves them alone. A route through a nexthop object (`RTA_NH_ID`)
/// keeps only the id: the kernel adds the object's gateway and device (or its group's
/// next hops) for show, not as the route's own. A source prefix (`RTA_SRC`, IPv6
/// source-specific routes such as OpenWrt's `default from 2001:db8::/48`) is not kept.
pub fn parse_route(p: &[u8]) -> Result<Option<Route>, Malformed> {
    if p.len() < RTMSG_LEN {
        return Err(Malformed("short rtmsg"));
    }
    let Some(fam) = family(p[0]) else { return Ok(None) };
    let dst_len = prefix_len(fam, p[1])?;
    let mut route = Route {
        table: u32::from(p[4]),
        dst: Prefix { addr: fam.unspecified(), len: dst_len },
        kind: match p[7] {
            RTN_UNICAST => RouteType::Unicast,
            RTN_UNREACHABLE => RouteType::Unreachable,
            RTN_BLACKHOLE => RouteType::Blackhole,
            RTN_PROHIBIT => RouteType::Prohibit,
            n => RouteType::Other(n),
        },
        gateway: None,
        nhid: None,
        oif: 0,
        metric: 0,
        protocol: p[5],
    };
    let mut dst = None;
    for attr in Attrs::new(&p[RTMSG_LEN..]) {
        match attr? {
            (RTA_DST, data) => dst = Some(ip(fam, data)?),
            (RTA_GATEWAY, data) => route.gateway = Some(ip(fam, data)?),
            (RTA_OIF, data) => route.oif = attr_u32(data)?,
            (RTA_PRIORITY, data) => route.metric = attr_u32(data)?,
            // rtm_table is only 8 bits; tables >= 256 are only in RTA_TABLE.
            (RTA_TABLE, data) => route.table = attr_u32(data)?,
            (RTA_NH_ID, data) => route.nhid = Some(attr_u32(data)?),
            _ => {}
        }
    }
    if route.nhid.is_some() {
        (route.gateway, route.oif) = (None, 0);
    }
    // IPv6 gives reject routes the loopback device (`ip -6 route` hides it); they have no
    // real output device, in either family.
    if !matches!(route.kind, RouteType::Unicast | RouteType::Other(_)) {
        route.oif = 0;
    }
    match (dst, dst_len) {
        (Some(addr), _) => route.dst.addr = addr,
        (None, 0) => {}
        (None, _) => return Err(Malformed("route prefix without RTA_DST")),
    }
    Ok(Some(route))
}

/// `struct fib_rule_hdr` + `FRA_*`. `None` for families other than `AF_INET`/`AF_INET6`.
pub fn parse_rule(p: &[u8]) -> Result<Option<Rule>, Malformed> {
    if p.len() < FIB_RULE_HDR_LEN {
        return Err(Malformed("short fib_rule_hdr"));
    }
    let Some(fam) = family(p[0]) else { return Ok(None) };
    let (dst_len, src_len, tos, table, action) = (p[1], p[2], p[3], p[4], p[7]);
    prefix_len(fam, dst_len)?;
    prefix_len(fam, src_len)?;
    let flags = u32_at(p, 8);
    let mut other = tos != 0 || flags & FIB_RULE_INVERT != 0;
    let (mut priority, mut src, mut dst, mut suppress, mut protocol) = (0, None, None, None, 0);
    let mut selectors = Selectors::NONE;
    let mut table = u32::from(table);
    for attr in Attrs::new(&p[FIB_RULE_HDR_LEN..]) {
        let (ty, data) = attr?;
        match ty {
            // The kernel omits FRA_PRIORITY for priority 0 (the `local` rule).
            FRA_PRIORITY => priority = attr_u32(data)?,
            FRA_SRC => src = Some(ip(fam, data)?),
            FRA_DST => dst = Some(ip(fam, data)?),
            FRA_IIFNAME => match DevName::new(parse_ifname(data)?.as_str()) {
                Some(name) => selectors.iif = Some(name),
                None => other = true,
            },
            FRA_IP_PROTO => selectors.ip_proto = Some(*data.first().ok_or(Malformed("empty FRA_IP_PROTO"))?),
            FRA_SPORT_RANGE => selectors.sport = Some(port_range(data)?),
            FRA_DPORT_RANGE => selectors.dport = Some(port_range(data)?),
            // Linux 6.16+ reports a single port with the full mask: the same selector.
            FRA_SPORT_MASK | FRA_DPORT_MASK => other |= data != [0xff, 0xff],
            FRA_TABLE => table = attr_u32(data)?,
            FRA_PROTOCOL => protocol = *data.first().ok_or(Malformed("empty FRA_PROTOCOL"))?,
            FRA_SUPPRESS_PREFIXLEN => match attr_u32(data)? {
                FRA_UNSET => {}
                n => match u8::try_from(n) {
                    Ok(n) => suppress = Some(n),
                    Err(_) => other = true,
                },
            },
            // Always present since Linux 3.12; -1 when unset.
            FRA_SUPPRESS_IFGROUP => other |= attr_u32(data)? != FRA_UNSET,
            FRA_L3MDEV => other |= data.first().is_some_and(|&v| v != 0),
            t if FRA_OTHER_SELECTORS.contains(&t) => other = true,
            _ => {}
        }
    }
    let src = match (src, src_len) {
        (_, 0) => None,
        (Some(addr), len) => Some(Prefix { addr, len }),
        (None, _) => return Err(Malformed("rule source length without FRA_SRC")),
    };
    selectors.dst = match (dst, dst_len) {
        (_, 0) => None,
        (Some(addr), len) => Some(Prefix { addr, len }),
        (None, _) => return Err(Malformed("rule destination length without FRA_DST")),
    };
    let action = match action {
        FR_ACT_TO_TBL => RuleAction::Lookup(table),
        FR_ACT_UNREACHABLE => RuleAction::Unreachable,
        FR_ACT_BLACKHOLE => RuleAction::Blackhole,
        FR_ACT_PROHIBIT => RuleAction::Prohibit,
        n => RuleAction::Other(n),
    };
    Ok(Some(Rule {
        family: fam,
        priority,
        src,
        selectors,
        action,
        suppress_prefixlen: suppress,
        protocol,
        other_selectors: other,
    }))
}

/// `struct fib_rule_port_range`: first and last port, host order.
fn port_range(data: &[u8]) -> Result<PortRange, Malformed> {
    let bytes: [u8; 4] = data.try_into().map_err(|_| Malformed("port range not 4 bytes"))?;
    let start = u16::from_ne_bytes([bytes[0], bytes[1]]);
    let end = u16::from_ne_bytes([bytes[2], bytes[3]]);
    Ok(PortRange { start, end })
}

/// `struct nhmsg` + `NHA_*`: a nexthop object. `None` for families other than
/// `AF_INET`/`AF_INET6` and, for groups, `AF_UNSPEC`.
pub fn parse_nexthop(p: &[u8]) -> Result<Option<Nexthop>, Malformed> {
    if p.len() < NHMSG_LEN {
        return Err(Malformed("short nhmsg"));
    }
    let fam = match p[0] {
        AF_UNSPEC => None,
        af => match family(af) {
            Some(f) => Some(f),
            None => return Ok(None),
        },
    };
    let protocol = p[2];
    let (mut id, mut gateway, mut oif, mut other) = (None, None, None, false);
    let mut members: heapless::Vec<Member, GROUP_MAX> = heapless::Vec::new();
    let (mut grouped, mut resilient) = (false, None);
    for attr in Attrs::new(&p[NHMSG_LEN..]) {
        let (ty, data) = attr?;
        match ty & NLA_TYPE_MASK {
            NHA_ID => id = Some(attr_u32(data)?),
            NHA_GROUP => {
                grouped = true;
                if data.len() % NEXTHOP_GRP_LEN != 0 {
                    return Err(Malformed("NHA_GROUP not a whole number of entries"));
                }
                for entry in data.chunks_exact(NEXTHOP_GRP_LEN) {
                    // Weight - 1: its low byte, then its high byte (Linux 6.12+; 0 before).
                    let weight = (u16::from(entry[5]) << 8 | u16::from(entry[4])).saturating_add(1);
                    other |= members.push(Member { id: u32_at(entry, 0), weight }).is_err();
                }
            }
            NHA_GROUP_TYPE => {
                let bytes: [u8; 2] = data.try_into().map_err(|_| Malformed("NHA_GROUP_TYPE not 2 bytes"))?;
                if u16::from_ne_bytes(bytes) == NEXTHOP_GRP_TYPE_RES {
                    resilient.get_or_insert(Resilient { buckets: 0, idle_timer: 0, unbalanced_timer: 0 });
                }
            }
            NHA_RES_GROUP => {
                let r = resilient.get_or_insert(Resilient { buckets: 0, idle_timer: 0, unbalanced_timer: 0 });
                for inner in Attrs::new(data) {
                    match inner? {
                        (NHA_RES_GROUP_BUCKETS, d) => {
                            let b: [u8; 2] = d.try_into().map_err(|_| Malformed("buckets not 2 bytes"))?;
                            r.buckets = u16::from_ne_bytes(b);
                        }
                        (NHA_RES_GROUP_IDLE_TIMER, d) => r.idle_timer = attr_u32(d)? / USER_HZ,
                        (NHA_RES_GROUP_UNBALANCED_TIMER, d) => r.unbalanced_timer = attr_u32(d)? / USER_HZ,
                        _ => {}
                    }
                }
            }
            NHA_GATEWAY => gateway = Some(ip(fam.ok_or(Malformed("gateway of a nexthop without family"))?, data)?),
            NHA_OIF => oif = Some(attr_u32(data)?),
            NHA_BLACKHOLE | NHA_ENCAP_TYPE | NHA_ENCAP | NHA_FDB => other = true,
            _ => {}
        }
    }
    let id = id.ok_or(Malformed("nexthop without NHA_ID"))?;
    let kind = match (grouped, gateway, oif) {
        _ if other => NexthopKind::Other,
        (true, ..) => Group::new(&members, resilient).map_or(NexthopKind::Other, NexthopKind::Group),
        (false, Some(gateway), Some(oif)) => NexthopKind::Via { gateway, oif },
        _ => NexthopKind::Other,
    };
    Ok(Some(Nexthop { id, kind, protocol }))
}

/// The `ip nexthop` requests: add, replace or delete (by id) the nexthop of a nexthop
/// [`Op`], asking for an ACK; anything else writes nothing and gives `Ok(0)`.
pub fn emit_nexthop(buf: &mut [u8], seq: u32, op: &Op) -> Result<usize, Full> {
    let ack = NLM_F_REQUEST | NLM_F_ACK;
    let (ty, flags, nh) = match op {
        Op::AddNexthop(n) => (RTM_NEWNEXTHOP, ack | NLM_F_CREATE | NLM_F_EXCL, n),
        Op::ReplaceNexthop(n) => (RTM_NEWNEXTHOP, ack | NLM_F_CREATE | NLM_F_REPLACE, n),
        Op::DelNexthop(n) => (RTM_DELNEXTHOP, ack, n),
        _ => return Ok(0),
    };
    let mut w = Writer::new(buf);
    w.header(ty, flags, seq)?;
    let delete = ty == RTM_DELNEXTHOP;
    // A delete names the id only: the kernel refuses any other field (`nh_valid_get_del_req`).
    let family = match nh.family() {
        Some(Family::V4) if !delete => AF_INET,
        Some(Family::V6) if !delete => AF_INET6,
        _ => AF_UNSPEC,
    };
    let protocol = if delete { 0 } else { nh.protocol };
    w.bytes(&[family, 0, protocol, 0, 0, 0, 0, 0])?;
    w.attr(NHA_ID, &nh.id.to_ne_bytes())?;
    if delete {
        return w.finish();
    }
    match &nh.kind {
        NexthopKind::Via { gateway, oif } => {
            w.attr(NHA_OIF, &oif.to_ne_bytes())?;
            match gateway {
                IpAddr::V4(a) => w.attr(NHA_GATEWAY, &a.octets())?,
                IpAddr::V6(a) => w.attr(NHA_GATEWAY, &a.octets())?,
            }
        }
        NexthopKind::Group(g) => {
            let mut entries = [0u8; NEXTHOP_GRP_LEN * GROUP_MAX];
            for (m, entry) in g.members().iter().zip(entries.chunks_exact_mut(NEXTHOP_GRP_LEN)) {
                let weight = m.weight.saturating_sub(1);
                entry[..4].copy_from_slice(&m.id.to_ne_bytes());
                (entry[4], entry[5]) = (weight as u8, (weight >> 8) as u8);
            }
            w.attr(NHA_GROUP, &entries[..NEXTHOP_GRP_LEN * g.members().len()])?;
            if let Some(r) = g.resilient {
                w.attr(NHA_GROUP_TYPE, &NEXTHOP_GRP_TYPE_RES.to_ne_bytes())?;
                let nest = w.begin(NHA_RES_GROUP)?;
                w.attr(NHA_RES_GROUP_BUCKETS, &r.buckets.to_ne_bytes())?;
                w.attr(NHA_RES_GROUP_IDLE_TIMER, &r.idle_timer.saturating_mul(USER_HZ).to_ne_bytes())?;
                w.attr(NHA_RES_GROUP_UNBALANCED_TIMER, &r.unbalanced_timer.saturating_mul(USER_HZ).to_ne_bytes())?;
                w.end(nest)?;
            }
        }
        NexthopKind::Other => return Err(Full),
    }
    w.finish()
}

/// The dump request for every nexthop object.
pub fn emit_nexthop_dump(buf: &mut [u8], seq: u32) -> Result<usize, Full> {
    let mut w = Writer::new(buf);
    w.header(RTM_GETNEXTHOP, NLM_F_REQUEST | NLM_F_DUMP, seq)?;
    w.bytes(&[AF_UNSPEC, 0, 0, 0, 0, 0, 0, 0])?;
    w.finish()
}

fn parse_ifname(data: &[u8]) -> Result<IfName, Malformed> {
    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let text = core::str::from_utf8(&data[..end]).map_err(|_| Malformed("interface name not UTF-8"))?;
    let mut name = IfName::new();
    name.push_str(text).map_err(|_| Malformed("interface name longer than IFNAMSIZ"))?;
    if name.is_empty() {
        return Err(Malformed("empty interface name"));
    }
    Ok(name)
}

fn ip(family: Family, data: &[u8]) -> Result<IpAddr, Malformed> {
    match family {
        Family::V4 => {
            let octets: [u8; 4] = data.try_into().map_err(|_| Malformed("IPv4 address not 4 bytes"))?;
            Ok(IpAddr::from(octets))
        }
        Family::V6 => {
            let octets: [u8; 16] = data.try_into().map_err(|_| Malformed("IPv6 address not 16 bytes"))?;
            Ok(IpAddr::from(octets))
        }
    }
}

fn attr_u32(data: &[u8]) -> Result<u32, Malformed> {
    let bytes: [u8; 4] = data.try_into().map_err(|_| Malformed("u32 attribute not 4 bytes"))?;
    Ok(u32::from_ne_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::Family;
    use crate::route::NexthopKind;
    use crate::wire::netlink::{
        align4, ext_ack_msg, Messages, NLMSGERR_ATTR_MSG, NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN, NLMSG_NOOP,
        NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_DUMP_INTR, NLM_F_MULTI,
    };
    use core::net::IpAddr;

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::from([a, b, c, d])
    }
    use crate::route::{Op, PROTO_DUALWAN, TABLE_MAIN};

    /// One captured message (see `tests/vectors/rtnl/README.md`).
    fn capture(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/vectors/rtnl/{name}.hex", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let text = text.trim();
        (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex")).collect()
    }

    fn only(datagram: &[u8]) -> Parsed {
        let mut msgs = Messages::new(datagram);
        let msg = msgs.next().expect("one message").expect("well-formed header");
        assert!(msgs.next().is_none());
        parse(&msg).expect("well-formed message")
    }

    fn rule(name: &str) -> Rule {
        match only(&capture(name)) {
            Parsed::Event(KernelEvent::Rule(Change::New, r)) => r,
            other => panic!("{name}: {other:?}"),
        }
    }

    const ALL: &[&str] = &[
        "addr-dw0",
        "event-deladdr-dw0",
        "event-delrule-5099",
        "event-newlink-dw0-nocarrier",
        "link-dw0-up",
        "route-table1000",
        "route-table101",
        "rule-0-plain",
        "rule-32766-plain",
        "rule-32767-plain",
        "rule-5000-plain",
        "rule-5001-fwmark",
        "rule-5001-plain",
        "rule-5099-plain",
        "rule-6000-plain",
        "nexthop-5010",
        "nexthop6-5020",
        "group-5030",
        "route-nhid-table100",
        "route6-nhid-table100",
        "rule-5010-selectors",
        "rule6-5011-selectors",
    ];

    #[test]
    fn rules_from_a_real_dump() {
        assert_eq!(
            rule("rule-5000-plain"),
            Rule {
                family: Family::V4,
                priority: 5000,
                src: None,
                selectors: Selectors::NONE,
                action: RuleAction::Lookup(TABLE_MAIN),
                suppress_prefixlen: Some(0),
                protocol: PROTO_DUALWAN,
                other_selectors: false,
            }
        );
        assert_eq!(
            rule("rule-5001-plain"),
            Rule {
                family: Family::V4,
                priority: 5001,
                src: Some(Prefix::host(v4(192, 0, 2, 2))),
                selectors: Selectors::NONE,
                action: RuleAction::Lookup(101),
                suppress_prefixlen: None,
                protocol: PROTO_DUALWAN,
                other_selectors: false,
            }
        );
        assert_eq!(
            rule("rule-5099-plain"),
            Rule {
                family: Family::V4,
                priority: 5099,
                src: None,
                selectors: Selectors::NONE,
                action: RuleAction::Unreachable,
                suppress_prefixlen: None,
                protocol: PROTO_DUALWAN,
                other_selectors: false,
            }
        );
        // The foreign rule at our priority: fwmark makes it a different rule.
        let fw = rule("rule-5001-fwmark");
        assert_eq!((fw.priority, fw.action, fw.protocol), (5001, RuleAction::Lookup(200), 0));
        assert!(fw.other_selectors);
        // `not from ...`: FIB_RULE_INVERT; the table is only in FRA_TABLE (hdr says 252).
        let not = rule("rule-6000-plain");
        assert_eq!(not.src, Some(Prefix { addr: v4(198, 51, 100, 0), len: 24 }));
        assert_eq!(not.action, RuleAction::Lookup(1000));
        assert!(not.other_selectors);
        // The kernel's own rules: local (priority 0, no FRA_PRIORITY), main, default.
        assert_eq!(rule("rule-0-plain").priority, 0);
        assert_eq!(rule("rule-0-plain").action, RuleAction::Lookup(255));
        assert_eq!(rule("rule-32766-plain").action, RuleAction::Lookup(TABLE_MAIN));
        assert_eq!(rule("rule-32767-plain").action, RuleAction::Lookup(253));
        for name in ["rule-0-plain", "rule-32766-plain", "rule-32767-plain"] {
            assert!(!rule(name).other_selectors, "{name}");
            assert_eq!(rule(name).protocol, 2, "{name}: RTPROT_KERNEL");
        }
    }

    #[test]
    fn nexthops_groups_and_routes_through_them_from_a_real_dump() {
        let nexthop = |name: &str| match only(&capture(name)) {
            Parsed::Event(KernelEvent::Nexthop(Change::New, n)) => n,
            other => panic!("{name}: {other:?}"),
        };
        let a = nexthop("nexthop-5010");
        assert!(matches!(a.kind, NexthopKind::Via { gateway, oif } if gateway == v4(192, 0, 2, 1) && oif != 0));
        assert_eq!((a.id, a.protocol, a.family()), (5010, 201, Some(Family::V4)));
        let a6 = nexthop("nexthop6-5020");
        assert_eq!(a6.family(), Some(Family::V6));
        let group = nexthop("group-5030");
        assert_eq!(group.family(), None, "AF_UNSPEC");
        assert_eq!(group.to_string(), "id 5030 group 5010,3 type resilient buckets 128 idle_timer 120 proto dualwan");
        // Our own request for the same group reads back as the kernel reports it.
        let mut buf = [0u8; 256];
        let len = emit_nexthop(&mut buf, 7, &Op::AddNexthop(group)).unwrap();
        let msg = Messages::new(&buf[..len]).next().unwrap().unwrap();
        assert_eq!((msg.ty, msg.flags), (RTM_NEWNEXTHOP, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL));
        assert_eq!(parse(&msg), Ok(Parsed::Event(KernelEvent::Nexthop(Change::New, group))));
        for n in [a, a6] {
            let len = emit_nexthop(&mut buf, 8, &Op::ReplaceNexthop(n)).unwrap();
            let msg = Messages::new(&buf[..len]).next().unwrap().unwrap();
            assert_eq!(msg.flags & NLM_F_REPLACE, NLM_F_REPLACE);
            assert_eq!(parse(&msg), Ok(Parsed::Event(KernelEvent::Nexthop(Change::New, n))));
        }
        // A delete names nothing but the id (the kernel refuses other fields).
        let len = emit_nexthop(&mut buf, 9, &Op::DelNexthop(group)).unwrap();
        assert_eq!(&buf[16..24], &[0; 8], "an empty nhmsg");
        assert_eq!(len, 16 + 8 + 8);
        // The kernel adds the group's next hops to a route for show: only the id is kept.
        let route = |name: &str| match only(&capture(name)) {
            Parsed::Event(KernelEvent::Route(Change::New, r)) => r,
            other => panic!("{name}: {other:?}"),
        };
        assert_eq!(route("route-nhid-table100").to_string(), "default nhid 5030 table 100 proto dualwan");
        assert_eq!(
            Op::AddRoute(route("route6-nhid-table100")).to_string(),
            "-6 route add default nhid 5040 table 100 proto dualwan metric 1024"
        );
    }

    #[test]
    fn rules_with_selectors_from_a_real_dump() {
        let v4 = rule("rule-5010-selectors");
        assert!(!v4.other_selectors, "the full mask of a single port is no selector of its own");
        assert_eq!(
            v4.to_string(),
            "5010:\tfrom 192.0.2.130 to 198.51.100.0/24 iif br-guest ipproto udp dport 5060 lookup 102 proto dualwan"
        );
        let Parsed::Event(KernelEvent::Rule(Change::New, v6)) = only(&capture("rule6-5011-selectors")) else {
            panic!("not a rule")
        };
        assert_eq!(
            Op::AddRule(v6).to_string(),
            "-6 rule add 5011:\tfrom all ipproto tcp sport 1000-2000 dport 443 blackhole proto dualwan"
        );
        // Any other port mask is a selector this crate does not model.
        let mut p = capture("rule-5010-selectors")[16..].to_vec();
        let at = p.windows(4).position(|w| w == [6, 0, 29, 0]).expect("FRA_DPORT_MASK");
        p[at + 4] = 0xf0;
        assert!(parse_rule(&p).unwrap().unwrap().other_selectors);
    }

    #[test]
    fn rule_deletion_notification() {
        let Parsed::Event(KernelEvent::Rule(Change::Del, r)) = only(&capture("event-delrule-5099")) else {
            panic!("not a rule deletion");
        };
        assert_eq!((r.priority, r.action, r.protocol), (5099, RuleAction::Unreachable, 201));
    }

    #[test]
    fn routes_from_a_real_dump() {
        let Parsed::Event(KernelEvent::Route(Change::New, r)) = only(&capture("route-table101")) else {
            panic!("not a route");
        };
        assert_eq!(r.table, 101);
        assert_eq!(r.dst, Prefix::DEFAULT);
        assert_eq!(r.kind, RouteType::Unicast);
        assert_eq!(r.gateway, Some(v4(192, 0, 2, 1)));
        assert_ne!(r.oif, 0);
        assert_eq!((r.metric, r.protocol), (10, PROTO_DUALWAN));

        let Parsed::Event(KernelEvent::Route(Change::New, r)) = only(&capture("route-table1000")) else {
            panic!("not a route");
        };
        let want = Route {
            table: 1000,
            dst: Prefix { addr: v4(203, 0, 113, 0), len: 24 },
            kind: RouteType::Unreachable,
            gateway: None,
            nhid: None,
            oif: 0,
            metric: 0,
            protocol: PROTO_DUALWAN,
        };
        assert_eq!(r, want);
    }

    #[test]
    fn links_and_addresses_from_real_messages() {
        let Parsed::Event(KernelEvent::Link(Change::New, up)) = only(&capture("link-dw0-up")) else {
            panic!("not a link");
        };
        assert_eq!(up.name.as_str(), "dw0");
        assert!(up.up && up.lower_up);
        let Parsed::Event(KernelEvent::Link(Change::New, down)) = only(&capture("event-newlink-dw0-nocarrier")) else {
            panic!("not a link");
        };
        assert_eq!(down.ifindex, up.ifindex);
        assert!(down.up && !down.lower_up);

        let want = Addr { ifindex: up.ifindex, addr: v4(192, 0, 2, 2), prefix_len: 24, scope: 0, flags: 0x80 };
        assert_eq!(only(&capture("addr-dw0")), Parsed::Event(KernelEvent::Addr(Change::New, want)));
        assert_eq!(only(&capture("event-deladdr-dw0")), Parsed::Event(KernelEvent::Addr(Change::Del, want)));
    }

    /// Every prefix of every capture, and every capture with one byte flipped, must parse
    /// or be rejected without a panic.
    #[test]
    fn truncated_and_corrupted_messages_never_panic() {
        for name in ALL {
            let bytes = capture(name);
            let walk = |buf: &[u8]| {
                for msg in Messages::new(buf).flatten() {
                    let _ = (parse(&msg), ext_ack_msg(&msg));
                }
            };
            for end in 0..=bytes.len() {
                walk(&bytes[..end]);
                // A truncated payload behind an intact-looking header.
                let mut cut = bytes[..end].to_vec();
                if end >= NLMSG_HDRLEN {
                    cut[..4].copy_from_slice(&(end as u32).to_ne_bytes());
                    walk(&cut);
                }
            }
            for at in 0..bytes.len() {
                for flip in [0x01, 0x80, 0xff] {
                    let mut bad = bytes.clone();
                    bad[at] ^= flip;
                    walk(&bad);
                }
            }
        }
    }

    fn message(ty: u16, flags: u16, payload: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&((NLMSG_HDRLEN + payload.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&ty.to_ne_bytes());
        m.extend_from_slice(&flags.to_ne_bytes());
        m.extend_from_slice(&7u32.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(payload);
        m
    }

    fn attr(ty: u16, data: &[u8]) -> Vec<u8> {
        let mut a = Vec::new();
        a.extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
        a.extend_from_slice(&ty.to_ne_bytes());
        a.extend_from_slice(data);
        a.resize(align4(a.len()), 0);
        a
    }

    #[test]
    fn acks_errors_and_done() {
        let mut err = (-17i32).to_ne_bytes().to_vec();
        err.extend_from_slice(&[0; 16]); // the echoed request header
        assert_eq!(only(&message(NLMSG_ERROR, 0, &err)), Parsed::Error(17));
        assert_eq!(only(&message(NLMSG_ERROR, 0, &[0; 20])), Parsed::Ack);
        assert_eq!(only(&message(NLMSG_DONE, NLM_F_MULTI, &[0; 4])), Parsed::Done { error: 0 });
        assert_eq!(only(&message(NLMSG_DONE, NLM_F_MULTI, &[])), Parsed::Done { error: 0 });
        let intr = (-4i32).to_ne_bytes();
        assert_eq!(only(&message(NLMSG_DONE, NLM_F_MULTI, &intr)), Parsed::Done { error: -4 });
        let msg = message(NLMSG_ERROR, 0, &[0; 2]);
        let msg = Messages::new(&msg).next().unwrap().unwrap();
        assert!(parse(&msg).is_err());
        assert_eq!(only(&message(NLMSG_NOOP, 0, &[])), Parsed::Ignored);
    }

    #[test]
    fn extended_ack_message() {
        let mut err = (-22i32).to_ne_bytes().to_vec();
        let request = message(RTM_NEWROUTE, 0x5, &[0; 12]);
        err.extend_from_slice(&request);
        err.extend(attr(NLMSGERR_ATTR_MSG, b"Nexthop has invalid gateway\0"));
        let full = message(NLMSG_ERROR, NLM_F_ACK_TLVS, &err);
        let msg = Messages::new(&full).next().unwrap().unwrap();
        assert_eq!(parse(&msg), Ok(Parsed::Error(22)));
        assert_eq!(ext_ack_msg(&msg), Some("Nexthop has invalid gateway"));

        let mut capped = (-22i32).to_ne_bytes().to_vec();
        capped.extend_from_slice(&request[..NLMSG_HDRLEN]);
        capped.extend(attr(NLMSGERR_ATTR_MSG, b"Invalid prefix\0"));
        let capped = message(NLMSG_ERROR, NLM_F_ACK_TLVS | NLM_F_CAPPED, &capped);
        let msg = Messages::new(&capped).next().unwrap().unwrap();
        assert_eq!(ext_ack_msg(&msg), Some("Invalid prefix"));

        let plain = message(NLMSG_ERROR, 0, &err);
        assert_eq!(ext_ack_msg(&Messages::new(&plain).next().unwrap().unwrap()), None);
        let short = message(NLMSG_ERROR, NLM_F_ACK_TLVS, &err[..6]);
        assert_eq!(ext_ack_msg(&Messages::new(&short).next().unwrap().unwrap()), None);
    }

    #[test]
    fn several_messages_in_one_datagram() {
        let mut dgram = message(RTM_NEWRULE, NLM_F_MULTI, &capture("rule-5000-plain")[16..]);
        dgram.extend(message(NLMSG_DONE, NLM_F_MULTI | NLM_F_DUMP_INTR, &[0; 4]));
        let msgs: Vec<_> = Messages::new(&dgram).collect::<Result<_, _>>().unwrap();
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[1].flags & NLM_F_DUMP_INTR, NLM_F_DUMP_INTR);
        assert!(matches!(parse(&msgs[0]), Ok(Parsed::Event(KernelEvent::Rule(..)))));
        assert_eq!(parse(&msgs[1]), Ok(Parsed::Done { error: 0 }));
    }

    #[test]
    fn families_we_do_not_model_are_ignored() {
        // AF_BRIDGE RTM_DELLINK means "left the bridge", not "device gone".
        let mut ifi = vec![7, 0, 1, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0];
        ifi.extend(attr(IFLA_IFNAME, b"lan1\0"));
        assert_eq!(only(&message(RTM_DELLINK, 0, &ifi)), Parsed::Ignored);
        // The same message with AF_UNSPEC is a real removal.
        ifi[0] = AF_UNSPEC;
        let Parsed::Event(KernelEvent::Link(Change::Del, link)) = only(&message(RTM_DELLINK, 0, &ifi)) else {
            panic!("not a link removal");
        };
        assert_eq!((link.ifindex, link.name.as_str(), link.up), (3, "lan1", true));
        // MPLS routes, IPv4 multicast routing rules (RTNL_FAMILY_IPMR), AF_PACKET addresses.
        for (ty, af) in [(RTM_NEWROUTE, 28), (RTM_NEWRULE, 128)] {
            assert_eq!(only(&message(ty, 0, &[af, 0, 0, 0, 254, 0, 0, 1, 0, 0, 0, 0])), Parsed::Ignored);
        }
        assert_eq!(only(&message(RTM_NEWADDR, 0, &[17, 64, 0, 0, 1, 0, 0, 0])), Parsed::Ignored);
        // Neighbour messages.
        assert_eq!(only(&message(28, 0, &[2, 0, 0, 0])), Parsed::Ignored);
    }

    #[test]
    fn ipv6_entries_from_a_real_dump() {
        let v6 = |s: &str| s.parse::<IpAddr>().unwrap();
        let rule = |name: &str| match only(&capture(name)) {
            Parsed::Event(KernelEvent::Rule(Change::New, r)) => r,
            other => panic!("{name}: {other:?}"),
        };
        let main = rule("rule6-5000");
        assert_eq!(main.family, Family::V6);
        assert_eq!(main.to_string(), "5000:\tfrom all lookup main suppress_prefixlength 0 proto dualwan");
        let from = rule("rule6-5001");
        assert_eq!((from.family, from.src), (Family::V6, Some(Prefix::host(v6("2001:db8:1::2")))));
        assert_eq!(from.action, RuleAction::Lookup(101));
        let route = |name: &str| match only(&capture(name)) {
            Parsed::Event(KernelEvent::Route(Change::New, r)) => r,
            other => panic!("{name}: {other:?}"),
        };
        let ours = route("route6-table101");
        assert_eq!(
            Op::AddRoute(ours).to_string(),
            format!("-6 route add default via fe80::1 dev #{} table 101 proto dualwan metric 10", ours.oif)
        );
        // OpenWrt's source-specific default: the source selector is not kept, the gateway is.
        let main = route("route6-main-default-from");
        assert_eq!(
            (main.table, main.dst, main.gateway, main.metric),
            (254, Prefix::default_of(Family::V6), Some(v6("fe80::1")), 512)
        );
        let addr = |name: &str| match only(&capture(name)) {
            Parsed::Event(KernelEvent::Addr(Change::New, a)) => a,
            other => panic!("{name}: {other:?}"),
        };
        let global = addr("addr6-dw0-global");
        assert_eq!((global.addr, global.prefix_len, global.scope), (v6("2001:db8:1::2"), 64, 0));
        assert!(global.usable_source() && global.preferred());
        let old = addr("addr6-dw0-deprecated");
        assert!(old.usable_source() && !old.preferred(), "preferred_lft 0: deprecated, {:#x}", old.flags);
        let link_local = addr("addr6-dw0-linklocal");
        assert_eq!(link_local.scope, 253);
        assert!(!link_local.usable_source());
        // Truncated IPv6 addresses never pass as IPv4 ones.
        let mut cut = capture("addr6-dw0-global");
        cut[16 + 8] = 8; // IFA_ADDRESS length 8: 4 bytes of payload
        assert!(parse(&Messages::new(&cut).next().unwrap().unwrap()).is_err());
    }

    /// `ip route replace` (and `ip -6 route replace`) notifications carry NLM_F_REPLACE
    /// (0x100), seen on Linux 6.18 for both families.
    #[test]
    fn a_replace_notification_is_a_replace() {
        let mut p = vec![AF_INET6, 0, 0, 0, 254, 4, 0, RTN_UNICAST, 0, 0, 0, 0];
        p.extend(attr(RTA_GATEWAY, &"fe80::3".parse::<core::net::Ipv6Addr>().unwrap().octets()));
        p.extend(attr(RTA_OIF, &2u32.to_ne_bytes()));
        let replaced = only(&message(RTM_NEWROUTE, NLM_F_REPLACE, &p));
        assert!(matches!(replaced, Parsed::Event(KernelEvent::Route(Change::Replace, _))), "{replaced:?}");
        assert!(matches!(only(&message(RTM_NEWROUTE, 0, &p)), Parsed::Event(KernelEvent::Route(Change::New, _))));
    }

    #[test]
    fn reject_routes_have_no_device_in_either_family() {
        // IPv6 reports `unreachable default` with the loopback device as its nexthop.
        let mut p = vec![AF_INET6, 0, 0, 0, 100, 201, 0, RTN_UNREACHABLE, 0, 0, 0, 0];
        p.extend(attr(RTA_OIF, &1u32.to_ne_bytes()));
        p.extend(attr(RTA_PRIORITY, &1024u32.to_ne_bytes()));
        let Parsed::Event(KernelEvent::Route(_, r)) = only(&message(RTM_NEWROUTE, 0, &p)) else { panic!() };
        assert_eq!((r.kind, r.oif, r.family()), (RouteType::Unreachable, 0, Family::V6));
        assert_eq!(Op::AddRoute(r).to_string(), "-6 route add unreachable default table 100 proto dualwan metric 1024");
    }

    #[test]
    fn bad_lengths_and_values_are_malformed() {
        let route = |attrs: &[u8]| {
            let mut p = vec![AF_INET, 24, 0, 0, 101, 201, 0, RTN_UNICAST, 0, 0, 0, 0];
            p.extend_from_slice(attrs);
            parse_route(&p)
        };
        assert!(route(&attr(RTA_DST, &[192, 0, 2])).is_err(), "3-byte address");
        assert!(route(&[]).is_err(), "/24 without RTA_DST");
        assert!(route(&[8, 0, 1, 0, 192]).is_err(), "attribute past the end");
        assert!(route(&[2, 0, 1, 0]).is_err(), "attribute shorter than its header");
        assert!(parse_route(&[AF_INET, 33, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]).is_err(), "/33");
        assert!(parse_route(&[AF_INET; 11]).is_err(), "short rtmsg");
        let ok = route(&attr(RTA_DST, &[192, 0, 2, 0])).unwrap().unwrap();
        assert_eq!(ok.dst, Prefix { addr: v4(192, 0, 2, 0), len: 24 });

        let link = |name: &[u8]| {
            let mut p = vec![0, 0, 1, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0];
            p.extend(attr(IFLA_IFNAME, name));
            parse_link(&p)
        };
        assert!(link(b"a-name-of-16-chr\0").is_err());
        assert!(link(b"\xff\xfe\0").is_err());
        assert!(link(b"\0").is_err());
        assert_eq!(link(b"a-name-of-15-ch\0").unwrap().unwrap().name.as_str(), "a-name-of-15-ch");

        let rule = |hdr_src_len: u8, attrs: &[u8]| {
            let mut p = vec![AF_INET, 0, hdr_src_len, 0, 0, 0, 0, FR_ACT_TO_TBL, 0, 0, 0, 0];
            p.extend_from_slice(attrs);
            parse_rule(&p)
        };
        assert!(rule(32, &[]).is_err(), "source length without FRA_SRC");
        assert!(rule(0, &attr(FRA_PROTOCOL, &[])).is_err(), "empty FRA_PROTOCOL");
        let r = rule(
            0,
            &[attr(FRA_TABLE, &5000u32.to_ne_bytes()), attr(FRA_SUPPRESS_PREFIXLEN, &7u32.to_ne_bytes())].concat(),
        )
        .unwrap()
        .unwrap();
        assert_eq!((r.action, r.suppress_prefixlen, r.protocol), (RuleAction::Lookup(5000), Some(7), 0));
        assert!(!r.other_selectors);
        // Selectors this crate does not model.
        for a in [
            attr(17, b"eth0\0"),
            attr(10, &7u32.to_ne_bytes()),
            attr(20, &[0; 8]),
            attr(FRA_SUPPRESS_IFGROUP, &3u32.to_ne_bytes()),
            attr(FRA_L3MDEV, &[1]),
            attr(FRA_SUPPRESS_PREFIXLEN, &300u32.to_ne_bytes()),
        ] {
            assert!(rule(0, &a).unwrap().unwrap().other_selectors, "{a:?}");
        }
        assert!(!rule(0, &attr(FRA_SUPPRESS_IFGROUP, &u32::MAX.to_ne_bytes())).unwrap().unwrap().other_selectors);
        assert!(!rule(0, &attr(FRA_L3MDEV, &[0])).unwrap().unwrap().other_selectors);
        // Unknown attribute types are skipped.
        assert!(!rule(0, &attr(99, &[1, 2, 3, 4])).unwrap().unwrap().other_selectors);
    }

    #[test]
    fn headers_that_do_not_fit_end_the_walk() {
        let mut dgram = message(NLMSG_NOOP, 0, &[]);
        dgram.extend_from_slice(&[0xff; 10]);
        let items: Vec<_> = Messages::new(&dgram).collect();
        assert_eq!(items.len(), 2);
        assert!(items[0].is_ok() && items[1].is_err());
        let mut long = message(NLMSG_NOOP, 0, &[]);
        long[..4].copy_from_slice(&100u32.to_ne_bytes());
        assert!(Messages::new(&long).next().unwrap().is_err());
        long[..4].copy_from_slice(&8u32.to_ne_bytes());
        assert!(Messages::new(&long).next().unwrap().is_err());
    }
}
