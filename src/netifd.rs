//! netifd's ubus vocabulary: the object path of an interface, what its `status` method
//! answers, and its `network.interface` events (openwrt/netifd `ubus.c`).
//!
//! ```text
//! ubus call network.interface.wan status
//!   { "up": true, "l3_device": "wwan0", ...,
//!     "ipv4-address": [ { "address": "192.0.2.2", "mask": 29 } ],
//!     "route": [ { "target": "0.0.0.0", "mask": 0, "nexthop": "192.0.2.1", ... } ] }
//! ubus listen network.interface
//!   { "network.interface": { "action": "ifup", "interface": "wan" } }   (or "ifdown")
//! ```
//!
//! Contract: pure functions over blobmsg payloads (the members of a table); they never
//! allocate or panic. [`parse_status`] checks the whole table first
//! ([`blob::check_table`]); members of the wrong type are ignored as netifd's own
//! `blobmsg_parse` consumers do. netifd writes `l3_device`, the addresses and the routes
//! only while the interface is up.

use crate::config::NetName;
use crate::kernel::IfName;
use crate::wire::blob::{self, Attrs, Malformed};
use core::fmt::Write;
use core::net::Ipv4Addr;

/// The event netifd sends when an interface goes up or down.
pub const EVENT: &str = "network.interface";

/// The longest object path: `network.interface.` and a [`NetName`].
pub const PATH_MAX: usize = 18 + crate::config::NETWORK_MAX;

/// The ubus object path of netifd interface `name`.
pub fn object_path(name: &str) -> heapless::String<PATH_MAX> {
    let mut path = heapless::String::new();
    let _ = write!(path, "network.interface.{name}"); // a NetName always fits
    path
}

/// What netifd says of one interface.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetifdStatus {
    /// `up`: the protocol is up (DHCP lease, PPP session, modem connected).
    pub up: bool,
    /// `l3_device`: the kernel device its traffic uses (`pppoe-wan`, `wwan0`).
    pub l3_device: Option<IfName>,
    /// The first `ipv4-address[].address`.
    pub address: Option<Ipv4Addr>,
    /// The `nexthop` of its first IPv4 route with target 0.0.0.0 and mask 0.
    pub gateway: Option<Ipv4Addr>,
}

impl NetifdStatus {
    /// An interface netifd reports down (or does not have).
    pub const DOWN: NetifdStatus = NetifdStatus { up: false, l3_device: None, address: None, gateway: None };
}

/// Parses the reply to `status` (the members of the DATA table).
pub fn parse_status(data: &[u8]) -> Result<NetifdStatus, Malformed> {
    blob::check_table(data)?;
    let mut status = NetifdStatus::default();
    for attr in Attrs::new(data).flatten() {
        match attr.name {
            "up" => status.up = attr.as_bool().unwrap_or(false),
            "l3_device" => {
                // A name the kernel cannot have is no device of ours.
                status.l3_device = attr.as_str().and_then(|s| IfName::try_from(s).ok()).filter(|s| !s.is_empty());
            }
            "ipv4-address" => {
                let first = attr.as_array().into_iter().flatten().flatten().find_map(|entry| {
                    let member = |name| entry.as_table()?.flatten().find(|a| a.name == name);
                    member("address")?.as_str()?.parse::<Ipv4Addr>().ok()
                });
                status.address = first.or(status.address);
            }
            "route" => {
                let gateway = attr.as_array().into_iter().flatten().flatten().find_map(|entry| {
                    let member = |name| entry.as_table()?.flatten().find(|a| a.name == name);
                    let target = member("target")?.as_str()?.parse::<Ipv4Addr>().ok()?;
                    let mask = member("mask")?.as_u32()?;
                    let nexthop = member("nexthop")?.as_str()?.parse::<Ipv4Addr>().ok()?;
                    // A device route (point-to-point) has nexthop 0.0.0.0: no gateway.
                    (target.is_unspecified() && mask == 0 && !nexthop.is_unspecified()).then_some(nexthop)
                });
                status.gateway = gateway.or(status.gateway);
            }
            _ => {}
        }
    }
    Ok(status)
}

/// The interface a `network.interface` event is about (the members of its data table);
/// `None` when it names none this daemon could follow.
pub fn parse_event(data: &[u8]) -> Option<NetName> {
    blob::check_table(data).ok()?;
    let name = Attrs::new(data).flatten().find(|a| a.name == "interface")?.as_str()?;
    NetName::try_from(name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::blob::{Full, Writer};

    fn build(f: impl FnOnce(&mut Writer<'_>) -> Result<(), Full>) -> Vec<u8> {
        let mut buf = vec![0u8; 2048];
        let mut w = Writer::new(&mut buf);
        f(&mut w).unwrap();
        let len = w.len();
        buf.truncate(len);
        buf
    }

    /// What netifd answers for an up DHCP interface (ubus.c `netifd_dump_status`, abridged
    /// to the members in its order), with an IPv6 default route before the IPv4 one.
    fn dhcp_up() -> Vec<u8> {
        build(|w| {
            w.bool("up", true)?;
            w.bool("pending", false)?;
            w.bool("available", true)?;
            w.bool("autostart", true)?;
            w.bool("dynamic", false)?;
            w.u32("uptime", 1234)?;
            w.string("l3_device", "wwan0_4")?;
            w.string("proto", "dhcp")?;
            w.string("device", "wwan0")?;
            w.u32("metric", 0)?;
            let a = w.begin_array("ipv4-address")?;
            let t = w.begin_table("")?;
            w.string("address", "192.0.2.2")?;
            w.u32("mask", 29)?;
            w.end(t);
            w.end(a);
            let a = w.begin_array("route")?;
            for (target, mask, nexthop) in
                [("::", 0, "fe80::1"), ("192.0.2.0", 29, "0.0.0.0"), ("0.0.0.0", 0, "192.0.2.1")]
            {
                let t = w.begin_table("")?;
                w.string("target", target)?;
                w.u32("mask", mask)?;
                w.string("nexthop", nexthop)?;
                w.u32("metric", 0)?;
                w.string("source", "0.0.0.0/0")?;
                w.end(t);
            }
            w.end(a);
            let t = w.begin_table("data")?;
            w.end(t);
            Ok(())
        })
    }

    #[test]
    fn an_up_interface_gives_device_address_and_gateway() {
        let status = parse_status(&dhcp_up()).unwrap();
        assert_eq!(
            status,
            NetifdStatus {
                up: true,
                l3_device: Some("wwan0_4".try_into().unwrap()),
                address: Some(Ipv4Addr::new(192, 0, 2, 2)),
                gateway: Some(Ipv4Addr::new(192, 0, 2, 1)),
            }
        );
    }

    #[test]
    fn a_down_interface_has_nothing_but_up_false() {
        let data = build(|w| {
            w.bool("up", false)?;
            w.bool("pending", true)?;
            w.string("proto", "pppoe")?;
            Ok(())
        });
        assert_eq!(parse_status(&data).unwrap(), NetifdStatus::DOWN);
        assert_eq!(parse_status(&[]).unwrap(), NetifdStatus::DOWN, "an empty table");
    }

    #[test]
    fn odd_members_are_ignored_and_bad_bytes_refused() {
        let data = build(|w| {
            w.string("up", "yes")?; // wrong type: not up
            w.string("l3_device", "a-name-longer-than-15")?;
            w.u32("ipv4-address", 7)?;
            let a = w.begin_array("route")?;
            let t = w.begin_table("")?;
            w.string("target", "0.0.0.0")?;
            w.u32("mask", 0)?;
            w.string("nexthop", "0.0.0.0")?; // point-to-point: no gateway
            w.end(t);
            w.end(a);
            Ok(())
        });
        assert_eq!(parse_status(&data).unwrap(), NetifdStatus::DOWN);
        let good = dhcp_up();
        for end in 0..good.len() {
            let _ = parse_status(&good[..end]); // never panics
        }
        assert!(parse_status(&good[..good.len() - 3]).is_err());
    }

    #[test]
    fn events_name_their_interface() {
        let data = build(|w| {
            w.string("action", "ifdown")?;
            w.string("interface", "wan_4")
        });
        assert_eq!(parse_event(&data).as_deref(), Some("wan_4"));
        let long = build(|w| w.string("interface", "an_interface_name_too_long"));
        assert_eq!(parse_event(&long), None);
        assert_eq!(parse_event(&build(|w| w.u32("interface", 1))), None);
        assert_eq!(object_path("wanb").as_str(), "network.interface.wanb");
        assert_eq!(object_path("abcdefghijklmno").len(), PATH_MAX);
    }
}
