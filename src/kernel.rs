//! What the kernel tells us, as plain values: link, address, route and rule notifications
//! (and dump entries, which arrive in the same shape). The netlink adapter produces these;
//! the core consumes them. No I/O here.

use crate::route::{Family, Nexthop, Route, Rule};
use core::net::IpAddr;

/// Longest interface name the kernel allows, without the NUL (`IFNAMSIZ - 1`).
pub const IFNAME_MAX: usize = 15;

/// An interface name such as `eth1` or `wwan0`.
pub type IfName = heapless::String<IFNAME_MAX>;

/// One link (`RTM_NEWLINK` / `RTM_DELLINK`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// Interface index; a device that is removed and re-created gets a new one.
    pub ifindex: u32,
    /// Interface name (`IFLA_IFNAME`).
    pub name: IfName,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    /// Carrier present (`IFF_LOWER_UP`).
    pub lower_up: bool,
}

/// One address on an interface (`RTM_NEWADDR` / `RTM_DELADDR`), IPv4 or IPv6.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Addr {
    /// Interface it belongs to.
    pub ifindex: u32,
    /// The local address (`IFA_LOCAL`, or `IFA_ADDRESS` when absent).
    pub addr: IpAddr,
    /// Prefix length of its subnet.
    pub prefix_len: u8,
    /// `ifa_scope`: 0 global (`RT_SCOPE_UNIVERSE`), 253 link, 254 host.
    pub scope: u8,
    /// `IFA_F_*` flags (`IFA_FLAGS` when present, else `ifa_flags`).
    pub flags: u32,
}

/// `IFA_F_TEMPORARY` (`IFA_F_SECONDARY` for IPv4): an IPv6 privacy address, replaced daily.
pub const IFA_F_TEMPORARY: u32 = 0x01;
/// `IFA_F_DADFAILED`: duplicate address detection failed; the address is unusable.
pub const IFA_F_DADFAILED: u32 = 0x08;
/// `IFA_F_DEPRECATED`: valid, but its preferred lifetime is over (e.g. an old prefix).
pub const IFA_F_DEPRECATED: u32 = 0x20;
/// `IFA_F_TENTATIVE`: duplicate address detection is still running; it cannot be bound.
pub const IFA_F_TENTATIVE: u32 = 0x40;

impl Addr {
    /// The address's family.
    pub const fn family(&self) -> Family {
        Family::of(&self.addr)
    }

    /// True if probes may leave from this address: global scope (IPv6 link-local addresses
    /// cannot reach the Internet) and not waiting for or failed in duplicate detection.
    pub const fn usable_source(&self) -> bool {
        self.scope == 0 && self.flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED) == 0
    }

    /// True if the address is usable, not deprecated and (IPv6) not a privacy address: the
    /// one to choose when there is a choice, since it stays longest (every change of the
    /// probe source reopens the socket and rewrites the source rule).
    pub const fn preferred(&self) -> bool {
        let temporary = matches!(self.family(), Family::V6) && self.flags & IFA_F_TEMPORARY != 0;
        self.usable_source() && self.flags & IFA_F_DEPRECATED == 0 && !temporary
    }
}

/// Whether a notification adds (or updates) something, or removes it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// `RTM_NEW*`, or an entry of a dump.
    New,
    /// `RTM_NEWROUTE` with `NLM_F_REPLACE` (`ip route replace`, DHCP renewals): the route
    /// took the place of the one in the same slot (table, prefix, metric), whose removal
    /// is never reported on its own.
    Replace,
    /// `RTM_DEL*`.
    Del,
}

/// One thing the kernel reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KernelEvent {
    /// A link appeared, changed or disappeared.
    Link(Change, Link),
    /// An address was added, changed (flags) or removed.
    Addr(Change, Addr),
    /// A route was added, replaced or removed (any table).
    Route(Change, Route),
    /// A rule was added or removed.
    Rule(Change, Rule),
    /// A nexthop object was added, replaced or removed. The kernel removes the nexthops of
    /// a device that goes down or loses carrier (and them from their groups, and a group
    /// left empty with its routes) without a word.
    Nexthop(Change, Nexthop),
    /// The socket overflowed (`ENOBUFS`): notifications were lost, dump everything again.
    Overrun,
    /// A dump of the given kind finished (`NLMSG_DONE`).
    DumpDone(DumpKind),
}

/// The dumps a resync asks for; addresses, routes, rules and nexthops of both families.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum DumpKind {
    /// `RTM_GETLINK`.
    Links,
    /// `RTM_GETADDR`.
    Addrs,
    /// `RTM_GETROUTE` (all tables).
    Routes,
    /// `RTM_GETRULE`.
    Rules,
    /// `RTM_GETNEXTHOP` (a kernel without nexthop objects has none of ours: empty).
    Nexthops,
}

impl core::fmt::Display for DumpKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            DumpKind::Links => "links",
            DumpKind::Addrs => "addresses",
            DumpKind::Routes => "routes",
            DumpKind::Rules => "rules",
            DumpKind::Nexthops => "nexthops",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_sources_are_global_settled_and_preferably_stable() {
        let a =
            |addr: &str, scope, flags| Addr { ifindex: 2, addr: addr.parse().unwrap(), prefix_len: 64, scope, flags };
        let stable = a("2001:db8:1::2", 0, 0x80);
        assert!(stable.usable_source() && stable.preferred());
        let privacy = a("2001:db8:1::9", 0, IFA_F_TEMPORARY);
        assert!(privacy.usable_source() && !privacy.preferred());
        assert!(!a("2001:db8:1::3", 0, IFA_F_TENTATIVE).usable_source());
        assert!(!a("2001:db8:1::4", 0, IFA_F_DADFAILED).usable_source());
        assert!(!a("fe80::2", 253, 0x80).usable_source());
        let old = a("2001:db8:1::5", 0, IFA_F_DEPRECATED);
        assert!(old.usable_source() && !old.preferred());
        // For IPv4 the same bit means "secondary": still a fine source.
        assert!(a("192.0.2.3", 0, 0x01).preferred());
    }
}
