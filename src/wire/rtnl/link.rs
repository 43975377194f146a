//! Link and address entries: `struct ifinfomsg` with its `IFLA_*` attributes (the device's
//! name, whether it is up and has a carrier) and `struct ifaddrmsg` with its `IFA_*`
//! attributes (our address on point-to-point links too).

use super::{attr_u32, family, ip, parse_ifname, prefix_len};
use super::{IFADDRMSG_LEN, IFA_ADDRESS, IFA_FLAGS, IFA_LOCAL, IFF_LOWER_UP, IFF_UP, IFINFOMSG_LEN, IFLA_IFNAME};
use crate::kernel::{Addr, Link};
use crate::wire::netlink::{i32_at, u32_at, Attrs, Malformed, AF_UNSPEC};

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
