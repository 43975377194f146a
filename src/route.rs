//! Policy-routing entries of both families as plain values: what the planner wants, what the kernel
//! holds, and what the netlink adapter encodes.
//!
//! `Display` writes them in `ip rule` / `ip route` syntax: one format for logs, test
//! assertions and the fake kernel of the timeline tests. Kernel values this crate does not
//! know are kept (`Other(n)`), never rejected.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `rtm_protocol` of every route and rule dualwan creates ("dualwan" in logs). Entries with
/// another protocol are never ours, whatever table or priority they use.
pub const PROTO_DUALWAN: u8 = 201;

/// The metric the kernel gives an IPv6 route added without one (`IP6_RT_PRIO_USER`); IPv6
/// routes are planned with it so that what the kernel reports equals what was asked for.
pub const IPV6_METRIC: u32 = 1024;

/// The kernel's main table (`RT_TABLE_MAIN`).
pub const TABLE_MAIN: u32 = 254;

/// An address family. The kernel keeps rules and routing tables per family: table 100 of
/// IPv4 and table 100 of IPv6 are two tables, and each family fails over on its own.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4 (`AF_INET`).
    V4,
    /// IPv6 (`AF_INET6`).
    V6,
}

impl Family {
    /// Both, in the order status and plans list them.
    pub const ALL: [Family; 2] = [Family::V4, Family::V6];

    /// The family of `addr`.
    pub const fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// 0 for IPv4, 1 for IPv6: an index into per-family arrays.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Longest prefix length: 32 or 128.
    pub const fn max_len(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }

    /// The unspecified address (`0.0.0.0`, `::`).
    pub const fn unspecified(self) -> IpAddr {
        match self {
            Family::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        }
    }

    /// `IPv4` or `IPv6`, for logs.
    pub const fn name(self) -> &'static str {
        match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A prefix such as `192.0.2.0/24` or `2001:db8::/32`; length 0 is the default route.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Prefix {
    /// Network address (host bits are kept as the kernel reported them).
    pub addr: IpAddr,
    /// Prefix length, 0..=32 or 0..=128.
    pub len: u8,
}

impl Prefix {
    /// `0.0.0.0/0`.
    pub const DEFAULT: Prefix = Prefix::default_of(Family::V4);

    /// The default route's prefix of `family` (`0.0.0.0/0`, `::/0`).
    pub const fn default_of(family: Family) -> Prefix {
        Prefix { addr: family.unspecified(), len: 0 }
    }

    /// A single host, `/32` or `/128`.
    pub const fn host(addr: IpAddr) -> Prefix {
        Prefix { addr, len: Family::of(&addr).max_len() }
    }

    /// The prefix's family.
    pub const fn family(&self) -> Family {
        Family::of(&self.addr)
    }

    /// True for the default route's prefix.
    pub const fn is_default(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.len == 0 {
            f.write_str("default")
        } else if self.len == self.family().max_len() {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.len)
        }
    }
}

/// `rtm_type` of a route.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum RouteType {
    /// Forward via a gateway or device.
    Unicast,
    /// Reject with ICMP unreachable (`unreachable default`).
    Unreachable,
    /// Drop silently.
    Blackhole,
    /// Reject with administratively prohibited.
    Prohibit,
    /// Local, broadcast and every other type: kept, never created.
    Other(u8),
}

/// One route in one table; its family is its destination's.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Route {
    /// Routing table id.
    pub table: u32,
    /// Destination prefix.
    pub dst: Prefix,
    /// What the route does.
    pub kind: RouteType,
    /// Next hop (`via`), if any; of the destination's family.
    pub gateway: Option<IpAddr>,
    /// The nexthop object it goes through (`nhid`, `RTA_NH_ID`); `gateway` and `oif` are
    /// then unset (the kernel's copy of the object's next hops is not kept).
    pub nhid: Option<u32>,
    /// Output interface index (`dev`), 0 when none.
    pub oif: u32,
    /// Route metric (`RTA_PRIORITY`).
    pub metric: u32,
    /// `rtm_protocol`: who installed it.
    pub protocol: u8,
}

impl Route {
    /// The route's family.
    pub const fn family(&self) -> Family {
        self.dst.family()
    }

    /// True if dualwan created this route: our protocol in one of our tables.
    pub fn is_ours(&self, tables: core::ops::RangeInclusive<u32>) -> bool {
        self.protocol == PROTO_DUALWAN && tables.contains(&self.table)
    }

    /// The key the kernel uses to tell routes apart in one table (for replace/delete).
    pub fn same_slot(&self, other: &Route) -> bool {
        self.table == other.table
            && self.dst == other.dst
            && self.metric == other.metric
            && self.family() == other.family()
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            RouteType::Unicast => {}
            RouteType::Unreachable => f.write_str("unreachable ")?,
            RouteType::Blackhole => f.write_str("blackhole ")?,
            RouteType::Prohibit => f.write_str("prohibit ")?,
            RouteType::Other(n) => write!(f, "type{n} ")?,
        }
        write!(f, "{}", self.dst)?;
        if let Some(id) = self.nhid {
            write!(f, " nhid {id}")?;
        }
        if let Some(gw) = self.gateway {
            write!(f, " via {gw}")?;
        }
        if self.oif != 0 {
            write!(f, " dev #{}", self.oif)?;
        }
        write!(f, " table {}", self.table)?;
        if self.protocol == PROTO_DUALWAN {
            f.write_str(" proto dualwan")?;
        } else {
            write!(f, " proto {}", self.protocol)?;
        }
        if self.metric != 0 {
            write!(f, " metric {}", self.metric)?;
        }
        Ok(())
    }
}

/// What a rule does when it matches (`fib_rule_hdr.action`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum RuleAction {
    /// `lookup TABLE`.
    Lookup(u32),
    /// `unreachable`.
    Unreachable,
    /// `blackhole`.
    Blackhole,
    /// `prohibit`.
    Prohibit,
    /// Anything else (goto, nop, ...): kept, never created.
    Other(u8),
}

/// One routing policy rule.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Rule {
    /// Whose rule list it belongs to (`ip rule` or `ip -6 rule`).
    pub family: Family,
    /// `pref`: rules are tried in ascending order.
    pub priority: u32,
    /// `from PREFIX`, if the rule selects on source address.
    pub src: Option<Prefix>,
    /// What else it selects on (`to`, `iif`, `ipproto`, `sport`, `dport`): the selectors
    /// of `config rule` sections.
    pub selectors: Selectors,
    /// What happens on a match.
    pub action: RuleAction,
    /// `suppress_prefixlength N`: ignore matched routes with prefix length <= N.
    pub suppress_prefixlen: Option<u8>,
    /// `protocol` (`FRA_PROTOCOL`, Linux 4.17+): who installed it.
    pub protocol: u8,
    /// The rule also selects on something this crate does not model (oif, fwmark, tos,
    /// uid range, port masks, `not`, ...). Such a rule is never equal to one we want.
    pub other_selectors: bool,
}

impl Rule {
    /// True if dualwan created this rule: our protocol and a priority in our range.
    pub fn is_ours(&self, priorities: core::ops::RangeInclusive<u32>) -> bool {
        self.protocol == PROTO_DUALWAN && priorities.contains(&self.priority)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:\t", self.priority)?;
        match self.src {
            Some(p) if !p.is_default() => write!(f, "from {p}")?,
            _ => f.write_str("from all")?,
        }
        write!(f, "{}", self.selectors)?;
        if self.other_selectors {
            f.write_str(" [other selectors]")?;
        }
        match self.action {
            RuleAction::Lookup(TABLE_MAIN) => f.write_str(" lookup main")?,
            RuleAction::Lookup(t) => write!(f, " lookup {t}")?,
            RuleAction::Unreachable => f.write_str(" unreachable")?,
            RuleAction::Blackhole => f.write_str(" blackhole")?,
            RuleAction::Prohibit => f.write_str(" prohibit")?,
            RuleAction::Other(n) => write!(f, " action{n}")?,
        }
        if let Some(n) = self.suppress_prefixlen {
            write!(f, " suppress_prefixlength {n}")?;
        }
        if self.protocol == PROTO_DUALWAN {
            f.write_str(" proto dualwan")?;
        }
        Ok(())
    }
}

/// `ipproto` numbers a rule selects on (`FRA_IP_PROTO`).
pub const IPPROTO_ICMP: u8 = 1;
/// TCP.
pub const IPPROTO_TCP: u8 = 6;
/// UDP.
pub const IPPROTO_UDP: u8 = 17;
/// ICMPv6: what `proto icmp` selects in IPv6 rules.
pub const IPPROTO_ICMPV6: u8 = 58;

/// A kernel device name kept inline (`Copy`), for `iif` (`FRA_IIFNAME`): at most
/// [`crate::kernel::IFNAME_MAX`] bytes.
#[derive(Copy, Clone, PartialEq, Eq, Hash)]
pub struct DevName {
    len: u8,
    bytes: [u8; crate::kernel::IFNAME_MAX],
}

impl DevName {
    /// `name`, or `None` if it is empty or longer than a device name can be.
    pub fn new(name: &str) -> Option<DevName> {
        let mut bytes = [0; crate::kernel::IFNAME_MAX];
        bytes.get_mut(..name.len()).filter(|_| !name.is_empty())?.copy_from_slice(name.as_bytes());
        Some(DevName { len: name.len() as u8, bytes })
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        // Built from a &str in `new`, cut nowhere: always UTF-8.
        core::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl fmt::Debug for DevName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl fmt::Display for DevName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A port or a range of ports, inclusive (`FRA_SPORT_RANGE`, `FRA_DPORT_RANGE`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct PortRange {
    /// First port.
    pub start: u16,
    /// Last port (equal to `start` for a single port).
    pub end: u16,
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

/// The selectors of a rule besides its source: what `config rule` sections match on. All
/// of them are FIB rule attributes, so a matched packet needs no firewall mark.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Selectors {
    /// `to PREFIX` (`FRA_DST`).
    pub dst: Option<Prefix>,
    /// `iif DEVICE` (`FRA_IIFNAME`): packets that arrived on this device.
    pub iif: Option<DevName>,
    /// `ipproto N` (`FRA_IP_PROTO`, Linux 4.17+).
    pub ip_proto: Option<u8>,
    /// `sport A[-B]` (`FRA_SPORT_RANGE`, Linux 4.17+).
    pub sport: Option<PortRange>,
    /// `dport A[-B]` (`FRA_DPORT_RANGE`, Linux 4.17+).
    pub dport: Option<PortRange>,
}

impl Selectors {
    /// None at all: the rule selects on its source only.
    pub const NONE: Selectors = Selectors { dst: None, iif: None, ip_proto: None, sport: None, dport: None };
}

/// ` to P iif D ipproto udp sport A dport B`, as `ip rule` prints them (nothing if none).
impl fmt::Display for Selectors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = self.dst.filter(|p| !p.is_default()) {
            write!(f, " to {p}")?;
        }
        if let Some(d) = self.iif {
            write!(f, " iif {d}")?;
        }
        match self.ip_proto {
            Some(IPPROTO_ICMP) => f.write_str(" ipproto icmp")?,
            Some(IPPROTO_TCP) => f.write_str(" ipproto tcp")?,
            Some(IPPROTO_UDP) => f.write_str(" ipproto udp")?,
            Some(IPPROTO_ICMPV6) => f.write_str(" ipproto ipv6-icmp")?,
            Some(n) => write!(f, " ipproto {n}")?,
            None => {}
        }
        if let Some(p) = self.sport {
            write!(f, " sport {p}")?;
        }
        if let Some(p) = self.dport {
            write!(f, " dport {p}")?;
        }
        Ok(())
    }
}

/// Most members of a nexthop group this crate keeps (two per WAN: see `plan`'s twins).
pub const GROUP_MAX: usize = 2 * crate::config::MAX_WANS;

/// One member of a nexthop group: a nexthop id and its weight.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Member {
    /// The member nexthop's id.
    pub id: u32,
    /// Its share of the group relative to the others' (1 or more).
    pub weight: u16,
}

/// The parameters of a resilient group (`type resilient`, Linux 5.13+): a table of
/// `buckets` hash buckets, each pointing at one member; a bucket moves to another member
/// only when its own member left, or when it carried no packet for `idle_timer`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Resilient {
    /// Hash buckets (fixed when the group is created).
    pub buckets: u16,
    /// Seconds a bucket must be idle before it may move to an underweight member.
    pub idle_timer: u32,
    /// Seconds after which an unbalanced group is rebalanced even with busy buckets
    /// (0: never).
    pub unbalanced_timer: u32,
}

/// A nexthop group: its members, ordered by id, and its type.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Group {
    members: [Member; GROUP_MAX],
    len: u8,
    /// `Some` for a resilient group; `None` for the hash-threshold (`mpath`) type.
    pub resilient: Option<Resilient>,
}

impl Group {
    /// A group of `members` (sorted by id here; more than [`GROUP_MAX`] gives `None`).
    pub fn new(members: &[Member], resilient: Option<Resilient>) -> Option<Group> {
        let mut group = Group { members: [Member::default(); GROUP_MAX], len: 0, resilient };
        group.members.get_mut(..members.len())?.copy_from_slice(members);
        group.len = members.len() as u8;
        group.members[..members.len()].sort_unstable_by_key(|m| m.id);
        Some(group)
    }

    /// The members, ordered by id.
    pub fn members(&self) -> &[Member] {
        &self.members[..usize::from(self.len)]
    }
}

/// What a nexthop object is.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum NexthopKind {
    /// `via GATEWAY dev OIF`: one next hop of the gateway's family.
    Via {
        /// The next hop.
        gateway: IpAddr,
        /// Its device's index.
        oif: u32,
    },
    /// A group of other nexthops.
    Group(Group),
    /// Anything else (blackhole, encapsulation, a bridge fdb nexthop, a group of more
    /// than [`GROUP_MAX`]): kept, never created.
    Other,
}

/// A nexthop object (`ip nexthop`, Linux 5.3+): routes name it by id (`nhid`) instead of
/// carrying their own next hops, so changing it changes every route through it at once.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Nexthop {
    /// Its id, unique in the network namespace (both families share the id space).
    pub id: u32,
    /// What it is.
    pub kind: NexthopKind,
    /// `nh_protocol`: who installed it.
    pub protocol: u8,
}

impl Nexthop {
    /// The family of a single next hop; `None` for a group, which the kernel keeps without
    /// one (`AF_UNSPEC`).
    pub const fn family(&self) -> Option<Family> {
        match &self.kind {
            NexthopKind::Via { gateway, .. } => Some(Family::of(gateway)),
            _ => None,
        }
    }

    /// True if dualwan created it: our protocol and an id in our range.
    pub fn is_ours(&self, ids: core::ops::RangeInclusive<u32>) -> bool {
        self.protocol == PROTO_DUALWAN && ids.contains(&self.id)
    }

    /// True for a group (whose members must exist before it and outlive it).
    pub const fn is_group(&self) -> bool {
        matches!(self.kind, NexthopKind::Group(_))
    }
}

/// `id N via G dev #I proto P` or `id N group A,W/B type resilient buckets 128
/// idle_timer 120 proto P`, as `ip nexthop` prints them (weights of 1 are not shown).
impl fmt::Display for Nexthop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "id {}", self.id)?;
        match &self.kind {
            NexthopKind::Via { gateway, oif } => write!(f, " via {gateway} dev #{oif}")?,
            NexthopKind::Group(g) => {
                f.write_str(" group ")?;
                for (i, m) in g.members().iter().enumerate() {
                    let sep = if i == 0 { "" } else { "/" };
                    write!(f, "{sep}{}", m.id)?;
                    if m.weight != 1 {
                        write!(f, ",{}", m.weight)?;
                    }
                }
                if let Some(r) = g.resilient {
                    write!(f, " type resilient buckets {} idle_timer {}", r.buckets, r.idle_timer)?;
                    if r.unbalanced_timer != 0 {
                        write!(f, " unbalanced_timer {}", r.unbalanced_timer)?;
                    }
                }
            }
            NexthopKind::Other => f.write_str(" [other]")?,
        }
        if self.protocol == PROTO_DUALWAN {
            f.write_str(" proto dualwan")
        } else {
            write!(f, " proto {}", self.protocol)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_reads_like_iproute2() {
        let r = Route {
            table: 101,
            dst: Prefix::DEFAULT,
            kind: RouteType::Unicast,
            gateway: Some(Ipv4Addr::new(192, 0, 2, 1).into()),
            nhid: None,
            oif: 3,
            metric: 0,
            protocol: PROTO_DUALWAN,
        };
        assert_eq!(r.to_string(), "default via 192.0.2.1 dev #3 table 101 proto dualwan");
        let rule = Rule {
            family: Family::V4,
            priority: 5000,
            src: None,
            selectors: Selectors::NONE,
            action: RuleAction::Lookup(TABLE_MAIN),
            suppress_prefixlen: Some(0),
            protocol: PROTO_DUALWAN,
            other_selectors: false,
        };
        assert_eq!(rule.to_string(), "5000:\tfrom all lookup main suppress_prefixlength 0 proto dualwan");
        let v6 = Route { dst: Prefix::default_of(Family::V6), gateway: Some("fe80::1".parse().unwrap()), ..r };
        assert_eq!(
            Op::ReplaceRoute(v6).to_string(),
            "-6 route replace default via fe80::1 dev #3 table 101 proto dualwan"
        );
        let host = Prefix::host("2001:db8::2".parse().unwrap());
        assert_eq!(host.to_string(), "2001:db8::2");
        assert_eq!(Prefix { len: 64, ..host }.to_string(), "2001:db8::2/64");
    }

    #[test]
    fn ownership_needs_both_protocol_and_range() {
        let mut rule = Rule {
            family: Family::V4,
            priority: 5001,
            src: Some(Prefix::host(Ipv4Addr::new(192, 0, 2, 2).into())),
            selectors: Selectors::NONE,
            action: RuleAction::Lookup(101),
            suppress_prefixlen: None,
            protocol: PROTO_DUALWAN,
            other_selectors: false,
        };
        assert!(rule.is_ours(5000..=5099));
        assert!(!rule.is_ours(6000..=6099));
        rule.protocol = 4; // static, e.g. from netifd
        assert!(!rule.is_ours(5000..=5099));
    }
}

/// One change to the kernel's routing state. `Display` is the equivalent `ip` command
/// (with `-6 ` in front for IPv6).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// `ip route add` (fails with EEXIST if the slot is taken).
    AddRoute(Route),
    /// `ip route replace`: atomic swap of the route in the same slot (table, dst, metric).
    ReplaceRoute(Route),
    /// `ip route del`.
    DelRoute(Route),
    /// `ip rule add`.
    AddRule(Rule),
    /// `ip rule del`.
    DelRule(Rule),
    /// `ip nexthop add` (fails with EEXIST if the id is taken).
    AddNexthop(Nexthop),
    /// `ip nexthop replace`: the object with this id changes in place, and with it every
    /// route through it (one atomic change).
    ReplaceNexthop(Nexthop),
    /// `ip nexthop del` (by id).
    DelNexthop(Nexthop),
}

impl Op {
    /// The family the operation acts on; a nexthop group, which the kernel keeps without
    /// a family, counts as IPv4.
    pub const fn family(&self) -> Family {
        match self {
            Op::AddRoute(r) | Op::ReplaceRoute(r) | Op::DelRoute(r) => r.family(),
            Op::AddRule(r) | Op::DelRule(r) => r.family,
            Op::AddNexthop(n) | Op::ReplaceNexthop(n) | Op::DelNexthop(n) => match n.family() {
                Some(f) => f,
                None => Family::V4,
            },
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.family() == Family::V6 {
            f.write_str("-6 ")?;
        }
        match self {
            Op::AddRoute(r) => write!(f, "route add {r}"),
            Op::ReplaceRoute(r) => write!(f, "route replace {r}"),
            Op::DelRoute(r) => write!(f, "route del {r}"),
            Op::AddRule(r) => write!(f, "rule add {r}"),
            Op::DelRule(r) => write!(f, "rule del {r}"),
            Op::AddNexthop(n) => write!(f, "nexthop add {n}"),
            Op::ReplaceNexthop(n) => write!(f, "nexthop replace {n}"),
            Op::DelNexthop(n) => write!(f, "nexthop del {n}"),
        }
    }
}
