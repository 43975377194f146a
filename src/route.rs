//! IPv4 policy-routing entries as plain values: what the planner wants, what the kernel
//! holds, and what the netlink adapter encodes.
//!
//! `Display` writes them in `ip rule` / `ip route` syntax: one format for logs, test
//! assertions and the fake kernel of the timeline tests. Kernel values this crate does not
//! know are kept (`Other(n)`), never rejected.

use core::fmt;
use core::net::Ipv4Addr;

/// `rtm_protocol` of every route and rule dualwan creates ("dualwan" in logs). Entries with
/// another protocol are never ours, whatever table or priority they use.
pub const PROTO_DUALWAN: u8 = 201;

/// The kernel's main table (`RT_TABLE_MAIN`).
pub const TABLE_MAIN: u32 = 254;

/// An IPv4 prefix such as `192.0.2.0/24`; `0.0.0.0/0` is the default route.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Prefix {
    /// Network address (host bits are kept as the kernel reported them).
    pub addr: Ipv4Addr,
    /// Prefix length, 0..=32.
    pub len: u8,
}

impl Prefix {
    /// `0.0.0.0/0`.
    pub const DEFAULT: Prefix = Prefix { addr: Ipv4Addr::UNSPECIFIED, len: 0 };

    /// A single host, `/32`.
    pub const fn host(addr: Ipv4Addr) -> Prefix {
        Prefix { addr, len: 32 }
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
        } else if self.len == 32 {
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

/// One IPv4 route in one table.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Route {
    /// Routing table id.
    pub table: u32,
    /// Destination prefix.
    pub dst: Prefix,
    /// What the route does.
    pub kind: RouteType,
    /// Next hop (`via`), if any.
    pub gateway: Option<Ipv4Addr>,
    /// Output interface index (`dev`), 0 when none.
    pub oif: u32,
    /// Route metric (`RTA_PRIORITY`).
    pub metric: u32,
    /// `rtm_protocol`: who installed it.
    pub protocol: u8,
}

impl Route {
    /// True if dualwan created this route: our protocol in one of our tables.
    pub fn is_ours(&self, tables: core::ops::RangeInclusive<u32>) -> bool {
        self.protocol == PROTO_DUALWAN && tables.contains(&self.table)
    }

    /// The key the kernel uses to tell routes apart in one table (for replace/delete).
    pub fn same_slot(&self, other: &Route) -> bool {
        self.table == other.table && self.dst == other.dst && self.metric == other.metric
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

/// One IPv4 routing policy rule.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Rule {
    /// `pref`: rules are tried in ascending order.
    pub priority: u32,
    /// `from PREFIX`, if the rule selects on source address.
    pub src: Option<Prefix>,
    /// What happens on a match.
    pub action: RuleAction,
    /// `suppress_prefixlength N`: ignore matched routes with prefix length <= N.
    pub suppress_prefixlen: Option<u8>,
    /// `protocol` (`FRA_PROTOCOL`, Linux 4.17+): who installed it.
    pub protocol: u8,
    /// The rule also selects on something this crate does not model (iif, oif, fwmark,
    /// dst, tos, ...). Such a rule is never equal to one we want.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_reads_like_iproute2() {
        let r = Route {
            table: 101,
            dst: Prefix::DEFAULT,
            kind: RouteType::Unicast,
            gateway: Some(Ipv4Addr::new(192, 0, 2, 1)),
            oif: 3,
            metric: 0,
            protocol: PROTO_DUALWAN,
        };
        assert_eq!(r.to_string(), "default via 192.0.2.1 dev #3 table 101 proto dualwan");
        let rule = Rule {
            priority: 5000,
            src: None,
            action: RuleAction::Lookup(TABLE_MAIN),
            suppress_prefixlen: Some(0),
            protocol: PROTO_DUALWAN,
            other_selectors: false,
        };
        assert_eq!(rule.to_string(), "5000:\tfrom all lookup main suppress_prefixlength 0 proto dualwan");
    }

    #[test]
    fn ownership_needs_both_protocol_and_range() {
        let mut rule = Rule {
            priority: 5001,
            src: Some(Prefix::host(Ipv4Addr::new(192, 0, 2, 2))),
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

/// One change to the kernel's routing state. `Display` is the equivalent `ip` command.
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
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::AddRoute(r) => write!(f, "route add {r}"),
            Op::ReplaceRoute(r) => write!(f, "route replace {r}"),
            Op::DelRoute(r) => write!(f, "route del {r}"),
            Op::AddRule(r) => write!(f, "rule add {r}"),
            Op::DelRule(r) => write!(f, "rule del {r}"),
        }
    }
}
