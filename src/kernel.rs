//! What the kernel tells us, as plain values: link, address, route and rule notifications
//! (and dump entries, which arrive in the same shape). The netlink adapter produces these;
//! the core consumes them. No I/O here.

use crate::route::{Route, Rule};
use core::net::Ipv4Addr;

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

/// One IPv4 address on an interface (`RTM_NEWADDR` / `RTM_DELADDR`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Addr {
    /// Interface it belongs to.
    pub ifindex: u32,
    /// The local address (`IFA_LOCAL`, or `IFA_ADDRESS` when absent).
    pub addr: Ipv4Addr,
    /// Prefix length of its subnet.
    pub prefix_len: u8,
}

/// Whether a notification adds (or updates) something, or removes it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// `RTM_NEW*`, or an entry of a dump.
    New,
    /// `RTM_DEL*`.
    Del,
}

/// One thing the kernel reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KernelEvent {
    /// A link appeared, changed or disappeared.
    Link(Change, Link),
    /// An IPv4 address was added or removed.
    Addr(Change, Addr),
    /// An IPv4 route was added, replaced or removed (any table).
    Route(Change, Route),
    /// An IPv4 rule was added or removed.
    Rule(Change, Rule),
    /// The socket overflowed (`ENOBUFS`): notifications were lost, dump everything again.
    Overrun,
    /// A dump of the given kind finished (`NLMSG_DONE`).
    DumpDone(DumpKind),
}

/// The four dumps a resync asks for.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum DumpKind {
    /// `RTM_GETLINK`.
    Links,
    /// `RTM_GETADDR` (IPv4).
    Addrs,
    /// `RTM_GETROUTE` (IPv4, all tables).
    Routes,
    /// `RTM_GETRULE` (IPv4).
    Rules,
}

impl core::fmt::Display for DumpKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            DumpKind::Links => "links",
            DumpKind::Addrs => "addresses",
            DumpKind::Routes => "routes",
            DumpKind::Rules => "rules",
        })
    }
}
