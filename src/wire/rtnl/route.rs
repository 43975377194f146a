//! Route entries: `struct rtmsg` with its `RTA_*` attributes, in either family; tables
//! beyond 255, routes through nexthop objects and reject routes as the kernel reports them.

use super::{attr_u32, family, ip, prefix_len};
use super::{RTA_DST, RTA_GATEWAY, RTA_NH_ID, RTA_OIF, RTA_PRIORITY, RTA_TABLE, RTMSG_LEN};
use super::{RTN_BLACKHOLE, RTN_PROHIBIT, RTN_UNICAST, RTN_UNREACHABLE};
use crate::route::{Prefix, Route, RouteType};
use crate::wire::netlink::{Attrs, Malformed};

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
