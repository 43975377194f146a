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
//!
//! This module holds the kernel's numbers (message types, flags, attribute types and
//! header sizes, from the uapi headers), [`Parsed`] with the dispatch by message type, and
//! the attribute readers every entry shares. Each kind of entry is a file of its own:
//! `link` (links and addresses), `route`, `rule` and `nexthop` (parse and emit).

mod link;
mod nexthop;
mod route;
mod rule;

pub use link::{parse_addr, parse_link};
pub use nexthop::{emit_nexthop, emit_nexthop_dump, parse_nexthop};
pub use route::parse_route;
pub use rule::parse_rule;

use crate::kernel::{Change, IfName, KernelEvent};
use crate::route::Family;
use crate::wire::netlink::{parse_control, Control, Malformed, Message};
use crate::wire::netlink::{AF_INET, AF_INET6, NLM_F_REPLACE};
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
mod tests;
