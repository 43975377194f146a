//! The planner: (config, health, what we know of each WAN's link) → which WANs carry
//! traffic, and the rules, routes and nexthop objects that make it so. Each family is
//! planned on its own, with the same layout in its own rule list and tables (the kernel
//! keeps IPv4 and IPv6 tables apart); a family no enabled WAN tracks gets no entries at all.
//!
//! Layout, with `P = rule_priority` and `T = table_base`:
//! ```text
//! P+0          from all lookup main suppress_prefixlength 0   LAN, connected and static routes
//!                                                               win; main's defaults don't
//! P+1+wan      from <WAN address> lookup T+1+wan              probes and replies of a WAN
//!                                                               always leave by that WAN
//! P+10+k       <selectors of `config rule`s> lookup <table>   a rule's traffic: its WAN's table
//!              (or lookup main / unreachable / blackhole)     T+1+wan, its balance table, T;
//!                                                               its last_resort when none is up
//! P+90         from all lookup T                               everything else: the active WAN
//! table T+1+wan:   default via <gateway> dev <device>      (IPv6: often via fe80::1)
//! table T:         failover: default via <active gateway> dev <active device>
//!                  balance:  default nhid P+30 (IPv6: P+40)
//!                  (none with last_resort main: main's DHCP defaults take over;
//!                   `unreachable default` with last_resort unreachable)
//! table T+9+s:     default nhid P+51+s (IPv6: P+61+s)   balance set s of the rules
//! nexthop P+10+wan and P+30+wan (IPv6: P+20+wan, P+40+wan):   (balance only)
//!                  via <gateway> dev <device>   the WAN's two twins
//! nexthop P+50+s (IPv6: P+60+s):      group of the set's WANs that are up, each by its
//!                                     twins with its weight, type resilient
//! ```
//! `wan` is the WAN's index in the config, `k` counts the kernel rules of `config rule`
//! sections in file order (one per port combination), `s` is a balance set (0: the
//! catch-all's). Switching WAN is one route replace in table T (failover), or one replace
//! of a nexthop group (balance). The main table is never touched.
//!
//! Why twins: the kernel hashes a packet to a bucket of a resilient group, and marks the
//! bucket busy, only when the group has more than one member; a group of one is used
//! without choosing. With each WAN in the group twice (two nexthop objects, same next hop,
//! same weight) a WAN left alone still has its buckets' activity tracked, so a WAN that
//! returns takes over only buckets that were idle for `balance_idle`: the connections made
//! during the outage stay where they are.

use crate::config::{Config, LastResort, Mode, PolicyLastResort, Proto, Use, WanSet, BALANCE_SETS, MAX_POLICIES};
use crate::config::{MAX_WANS, POLICY_SLOTS, POLICY_SLOT_FIRST};
use crate::route::{DevName, Family, Group, Member, Nexthop, NexthopKind, Prefix, Resilient, Route, RouteType, Rule};
use crate::route::{RuleAction, Selectors, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, IPV6_METRIC};
use crate::route::{PROTO_DUALWAN, TABLE_MAIN};
use crate::time::Instant;
use core::net::IpAddr;

/// Offset of the `lookup main suppress_prefixlength 0` rule.
pub const RULE_MAIN: u32 = 0;
/// Offset of the first per-WAN source rule (plus the WAN's index).
pub const RULE_WAN: u32 = 1;
/// Offset of the rule that sends traffic to the active table.
pub const RULE_ACTIVE: u32 = 90;
/// Offset of a priority the plan never uses: the start-up check of CAP_NET_ADMIN asks the
/// kernel to delete a rule there (`sys::netlink::Netlink::check_admin`).
pub const RULE_NEVER: u32 = crate::config::RULE_SPAN - 1;
/// Offset (from `rule_priority`) of WAN `wan`'s first IPv4 nexthop id (`+10` more for
/// IPv6, `+20` more for its twin).
pub const NEXTHOP_WAN: u32 = 10;
/// Offset of the catch-all's IPv4 group id (`+10` more for IPv6); balance set `s` of the
/// rules is `+1+s` from there.
pub const NEXTHOP_GROUP: u32 = 50;
/// Hash buckets of each resilient group: enough for weights 1-100 among a few WANs.
pub const GROUP_BUCKETS: u16 = 128;

/// Most rules the plan can hold: per family one per WAN, the two fixed ones, and those of
/// `config rule` sections.
pub const MAX_RULES: usize = 2 * (MAX_WANS + 2 + POLICY_SLOTS as usize);
/// Most routes the plan can hold: per family one per WAN, the active one and one per rule
/// balance set.
pub const MAX_ROUTES: usize = 2 * (MAX_WANS + 1 + BALANCE_SETS);
/// Most nexthop objects the plan can hold: per family two per WAN and one group per
/// balance set (the catch-all's and the rules').
pub const MAX_NEXTHOPS: usize = 2 * (2 * MAX_WANS + 1 + BALANCE_SETS);

/// What the planner needs to know of one family of one WAN's link.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkView {
    /// Device index, when the device exists.
    pub ifindex: Option<u32>,
    /// The WAN's address of the family (IPv6: a global one).
    pub addr: Option<IpAddr>,
    /// Its next hop of the family (fixed, or learnt from main's default route).
    pub gateway: Option<IpAddr>,
}

/// The rules, routes and nexthop objects dualwan wants in the kernel.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Desired {
    /// Rules, all within our priority range.
    pub rules: heapless::Vec<Rule, MAX_RULES>,
    /// Routes, all within our tables.
    pub routes: heapless::Vec<Route, MAX_ROUTES>,
    /// Nexthop objects (balance only), all with our ids.
    pub nexthops: heapless::Vec<Nexthop, MAX_NEXTHOPS>,
}

impl Desired {
    /// Forgets everything (before planning again).
    pub fn clear(&mut self) {
        self.rules.clear();
        self.routes.clear();
        self.nexthops.clear();
    }
}

/// Who carries one family's traffic: what the core chose, what the planner lays out.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Carriers {
    /// The catch-all: the active WAN (failover, at most one) or the members of its group
    /// (balance).
    pub global: WanSet,
    /// The members of each rule balance set's group, in [`Config::balance_sets`] order.
    pub sets: [WanSet; BALANCE_SETS],
    /// Per `config rule` with an ordered `use`: the WAN that carries it.
    pub ordered: [Option<u8>; MAX_POLICIES],
}

impl Carriers {
    /// Every WAN that carries some of the family's traffic.
    pub fn all(&self) -> WanSet {
        let ordered = self.ordered.iter().flatten().map(|&w| WanSet::one(usize::from(w)));
        self.sets.iter().copied().chain(ordered).fold(self.global, WanSet::union)
    }

    /// Who carries rule `k`'s traffic of this family: `None` while none of its WANs is up
    /// (its `last_resort` applies).
    pub fn of_policy(&self, config: &Config, k: usize) -> Option<WanSet> {
        let set = match &config.policies.get(k)?.uses {
            Use::Global => return Some(self.global),
            Use::Ordered(_) => self.ordered[k].map_or(WanSet::EMPTY, |w| WanSet::one(usize::from(w))),
            Use::Balance { wans, tiered } => match balance_set(config, *wans, *tiered) {
                Some(s) => self.sets[s],
                None => self.global,
            },
        };
        (!set.is_empty()).then_some(set)
    }
}

/// The index of a rule balance set among [`Config::balance_sets`]; `None` for the
/// catch-all's own (balance mode, every enabled WAN by tier).
fn balance_set(config: &Config, wans: WanSet, tiered: bool) -> Option<usize> {
    config.balance_sets().iter().position(|s| *s == (wans, tiered))
}

/// The routing table of WAN `wan`.
pub fn wan_table(config: &Config, wan: usize) -> u32 {
    config.globals.table_base + 1 + wan as u32
}

/// The table holding the active WAN's default route.
pub fn active_table(config: &Config) -> u32 {
    config.globals.table_base
}

/// The table of rule balance set `s`.
pub fn set_table(config: &Config, s: usize) -> u32 {
    config.globals.table_base + 1 + (MAX_WANS + s) as u32
}

/// The id of WAN `wan`'s nexthop of `family`: its first (`twin` 0) or its second.
pub fn nexthop_id(config: &Config, family: Family, wan: usize, twin: usize) -> u32 {
    config.globals.rule_priority + NEXTHOP_WAN + 10 * (2 * twin + family.index()) as u32 + wan as u32
}

/// The id of a group of `family`: the catch-all's (`None`) or rule balance set `s`'s.
pub fn group_id(config: &Config, family: Family, set: Option<usize>) -> u32 {
    let s = set.map_or(0, |s| s as u32 + 1);
    config.globals.rule_priority + NEXTHOP_GROUP + 10 * family.index() as u32 + s
}

/// What [`choose_active`] needs of a WAN's health.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Readiness {
    /// The WAN is up.
    pub up: bool,
    /// Traffic may go to it from this instant on.
    pub eligible_at: Instant,
}

/// True if WAN `i` may carry `family`'s traffic: enabled, tracking the family, up, with a
/// known device and next hop.
fn usable(config: &Config, family: Family, ready: &[Readiness], links: &[LinkView], i: usize) -> bool {
    let (Some(w), Some(r), Some(l)) = (config.wans.get(i), ready.get(i), links.get(i)) else { return false };
    w.enabled && w.tracks(family) && r.up && l.ifindex.is_some() && l.gateway.is_some()
}

/// Picks the WAN that should carry `family`'s traffic, given the one that carries it now
/// (none while dualwan is disabled).
///
/// The candidate is the lowest metric among WANs that track the family, are up for it and
/// whose recovery wait is over; a WAN still in its recovery wait is a candidate only when
/// no settled WAN is up. The `current` WAN keeps the traffic while it is up and the
/// candidate's metric is not lower (equal metrics never flap). `ready` and `links` are of
/// `family`, by WAN index.
pub fn choose_active(
    config: &Config,
    family: Family,
    ready: &[Readiness],
    links: &[LinkView],
    current: Option<usize>,
    now: Instant,
) -> Option<usize> {
    if !config.globals.enabled {
        return None;
    }
    let usable = |i: usize| usable(config, family, ready, links, i);
    let by_metric = |a: &usize, b: &usize| config.wans[*a].metric.cmp(&config.wans[*b].metric);
    let settled = (0..config.wans.len()).filter(|&i| usable(i) && ready[i].eligible_at <= now).min_by(by_metric);
    let candidate = settled.or_else(|| (0..config.wans.len()).filter(|&i| usable(i)).min_by(by_metric));
    let metric = |i: usize| config.wans.get(i).map(|w| w.metric);
    match (current, candidate) {
        (Some(cur), Some(cand)) if ready.get(cur).is_some_and(|r| r.up) && metric(cur) <= metric(cand) => Some(cur),
        _ => candidate,
    }
}

/// Picks the WAN of a rule's ordered `use` list that should carry its `family` traffic:
/// the first in `order` that is up and settled (or, when none is, the first that is up);
/// the `current` one keeps it while usable unless an earlier one is ready. As
/// [`choose_active`] with the list's order for metrics.
pub fn choose_ordered(
    config: &Config,
    family: Family,
    ready: &[Readiness],
    links: &[LinkView],
    order: &[u8],
    current: Option<usize>,
    now: Instant,
) -> Option<usize> {
    if !config.globals.enabled {
        return None;
    }
    let usable = |i: usize| usable(config, family, ready, links, i);
    let listed = || order.iter().map(|&w| usize::from(w));
    let rank = |i: usize| listed().position(|w| w == i);
    let settled = listed().find(|&i| usable(i) && ready[i].eligible_at <= now);
    let candidate = settled.or_else(|| listed().find(|&i| usable(i)));
    match (current, candidate) {
        (Some(cur), Some(cand)) if usable(cur) && rank(cur).is_some() && rank(cur) <= rank(cand) => Some(cur),
        _ => candidate,
    }
}

/// Picks the WANs of `wans` that share `family`'s traffic (balance): those that are up
/// and settled, and with `tiered` only those of the lowest metric among them. A WAN in its
/// recovery wait joins once it is over, unless no settled WAN is up at all (then every
/// usable one of the lowest metric is used); members of `current` stay while usable. As in
/// [`choose_active`], the current tier keeps the traffic until a lower metric is ready.
#[allow(clippy::too_many_arguments)]
pub fn choose_balance(
    config: &Config,
    family: Family,
    ready: &[Readiness],
    links: &[LinkView],
    wans: WanSet,
    tiered: bool,
    current: WanSet,
    now: Instant,
) -> WanSet {
    if !config.globals.enabled {
        return WanSet::EMPTY;
    }
    let usable = |i: usize| wans.contains(i) && usable(config, family, ready, links, i);
    let settled = |i: usize| usable(i) && ready[i].eligible_at <= now;
    let metric = |i: usize| config.wans[i].metric;
    let tier = if tiered {
        let ready_tier = wans.iter().filter(|&i| settled(i)).map(metric).min();
        let candidate = ready_tier.or_else(|| wans.iter().filter(|&i| usable(i)).map(metric).min());
        let current_tier = current.iter().filter(|&i| usable(i)).map(metric).min();
        match (current_tier, candidate) {
            (Some(c), Some(n)) if n >= c => Some(c),
            (_, n) => n,
        }
    } else {
        None
    };
    let in_tier = |i: usize| usable(i) && tier.is_none_or(|t| metric(i) == t);
    let mut members = WanSet::EMPTY;
    wans.iter().filter(|&i| in_tier(i) && (settled(i) || current.contains(i))).for_each(|i| members.insert(i));
    if members.is_empty() {
        wans.iter().filter(|&i| in_tier(i)).for_each(|i| members.insert(i));
    }
    members
}

/// Who should carry `family`'s traffic: the catch-all, every rule balance set and every
/// rule with an ordered `use`, given who does now. `ready` and `links` are of `family`.
pub fn choose(
    config: &Config,
    family: Family,
    ready: &[Readiness],
    links: &[LinkView],
    current: &Carriers,
    now: Instant,
) -> Carriers {
    let global = match config.globals.mode {
        Mode::Failover => {
            let active = choose_active(config, family, ready, links, current.global.first(), now);
            active.map_or(WanSet::EMPTY, WanSet::one)
        }
        Mode::Balance => {
            let all = config.enabled_wans();
            choose_balance(config, family, ready, links, all, true, current.global, now)
        }
    };
    let mut next = Carriers { global, ..Carriers::default() };
    for (s, (wans, tiered)) in config.balance_sets().iter().enumerate() {
        next.sets[s] = choose_balance(config, family, ready, links, *wans, *tiered, current.sets[s], now);
    }
    for (k, p) in config.policies.iter().enumerate() {
        if let Use::Ordered(order) = &p.uses {
            let current = current.ordered[k].map(usize::from);
            next.ordered[k] = choose_ordered(config, family, ready, links, order, current, now).map(|w| w as u8);
        }
    }
    next
}

/// The devices netifd named for the rules' `src_iface`, by rule (`None`: the option's own
/// text is the device).
pub type PolicyDevices = [Option<DevName>; MAX_POLICIES];

/// Adds the rules, routes and nexthops of `family` for this config, these links (of the
/// family), these carriers and these rule devices to `desired`.
pub fn plan(
    config: &Config,
    family: Family,
    links: &[LinkView],
    carriers: &Carriers,
    devices: &PolicyDevices,
    desired: &mut Desired,
) {
    let g = &config.globals;
    if !g.enabled || !config.tracks(family) {
        return;
    }
    let rule = |offset: u32, src: Option<Prefix>, action: RuleAction, suppress: Option<u8>| Rule {
        family,
        priority: g.rule_priority + offset,
        src,
        selectors: Selectors::NONE,
        action,
        suppress_prefixlen: suppress,
        protocol: PROTO_DUALWAN,
        other_selectors: false,
    };
    let default_route = |table: u32| Route {
        table,
        dst: Prefix::default_of(family),
        kind: RouteType::Unicast,
        gateway: None,
        nhid: None,
        oif: 0,
        metric: if family == Family::V6 { IPV6_METRIC } else { 0 },
        protocol: PROTO_DUALWAN,
    };
    let default_via =
        |table: u32, gateway: IpAddr, oif: u32| Route { gateway: Some(gateway), oif, ..default_route(table) };
    // Capacities: MAX_RULES/MAX_ROUTES/MAX_NEXTHOPS leave room for everything pushed here.
    let _ = desired.rules.push(rule(RULE_MAIN, None, RuleAction::Lookup(TABLE_MAIN), Some(0)));
    for (wan, w) in config.wans.iter().enumerate() {
        let link = links.get(wan).copied().unwrap_or_default();
        if !w.enabled || !w.tracks(family) {
            continue;
        }
        if let Some(addr) = link.addr {
            let action = RuleAction::Lookup(wan_table(config, wan));
            let _ = desired.rules.push(rule(RULE_WAN + wan as u32, Some(Prefix::host(addr)), action, None));
        }
        if let (Some(ifindex), Some(gw)) = (link.ifindex, link.gateway) {
            let _ = desired.routes.push(default_via(wan_table(config, wan), gw, ifindex));
        }
    }
    plan_policies(config, family, carriers, devices, desired);
    let _ = desired.rules.push(rule(RULE_ACTIVE, None, RuleAction::Lookup(active_table(config)), None));

    // Balance: one group per set with members, and a nexthop for each member.
    let mut members = WanSet::EMPTY;
    let mut group_route = |set: Option<usize>, wans: WanSet, table: u32| {
        if wans.is_empty() {
            return false;
        }
        let list: heapless::Vec<Member, { 2 * MAX_WANS }> = wans
            .iter()
            .flat_map(|wan| [0, 1].map(|twin| (wan, twin)))
            .map(|(wan, twin)| Member {
                id: nexthop_id(config, family, wan, twin),
                weight: u16::from(config.wans[wan].weight),
            })
            .collect();
        let resilient =
            Resilient { buckets: GROUP_BUCKETS, idle_timer: g.balance_idle.as_secs() as u32, unbalanced_timer: 0 };
        let Some(group) = Group::new(&list, Some(resilient)) else { return false };
        let id = group_id(config, family, set);
        let _ = desired.nexthops.push(Nexthop { id, kind: NexthopKind::Group(group), protocol: PROTO_DUALWAN });
        let _ = desired.routes.push(Route { nhid: Some(id), ..default_route(table) });
        wans.iter().for_each(|w| members.insert(w));
        true
    };
    let active_route = match g.mode {
        Mode::Failover => carriers.global.first().and_then(|wan| {
            let link = links.get(wan)?;
            Some(default_via(active_table(config), link.gateway?, link.ifindex?))
        }),
        Mode::Balance => {
            group_route(None, carriers.global, active_table(config));
            None
        }
    };
    for s in 0..config.balance_sets().len() {
        group_route(Some(s), carriers.sets[s], set_table(config, s));
    }
    let balanced = g.mode == Mode::Balance && !carriers.global.is_empty();
    match (active_route, g.last_resort) {
        (Some(route), _) => {
            let _ = desired.routes.push(route);
        }
        (None, _) if balanced => {}
        (None, LastResort::Unreachable) => {
            let _ = desired.routes.push(Route { kind: RouteType::Unreachable, ..default_route(active_table(config)) });
        }
        (None, LastResort::Main) => {}
    }
    // Members first: a group can only be made of nexthops that exist (the diff orders
    // them so anyway).
    for wan in members.iter() {
        let link = links.get(wan).copied().unwrap_or_default();
        if let (Some(oif), Some(gateway)) = (link.ifindex, link.gateway) {
            for twin in [0, 1] {
                let id = nexthop_id(config, family, wan, twin);
                let via = Nexthop { id, kind: NexthopKind::Via { gateway, oif }, protocol: PROTO_DUALWAN };
                let _ = desired.nexthops.push(via);
            }
        }
    }
}

/// The kernel rules of the `config rule` sections of `family`, from `P+10` on: one per
/// combination of a source and a destination port entry, in file order; the two families
/// share the priorities.
fn plan_policies(config: &Config, family: Family, carriers: &Carriers, devices: &PolicyDevices, desired: &mut Desired) {
    let g = &config.globals;
    let mut slot = 0;
    for (k, p) in config.policies.iter().enumerate() {
        let first = slot;
        slot += p.slots();
        if !p.family.covers(family) {
            continue;
        }
        let action = match (&p.uses, carriers.of_policy(config, k)) {
            (Use::Global, _) => RuleAction::Lookup(active_table(config)),
            (Use::Ordered(_), Some(wans)) => {
                RuleAction::Lookup(wans.first().map_or(TABLE_MAIN, |w| wan_table(config, w)))
            }
            (Use::Balance { wans, tiered }, Some(_)) => match balance_set(config, *wans, *tiered) {
                Some(s) => RuleAction::Lookup(set_table(config, s)),
                None => RuleAction::Lookup(active_table(config)),
            },
            (_, None) => match p.last_resort {
                PolicyLastResort::Main => RuleAction::Lookup(TABLE_MAIN),
                PolicyLastResort::Unreachable => RuleAction::Unreachable,
                PolicyLastResort::Blackhole => RuleAction::Blackhole,
            },
        };
        let ip_proto = match (p.proto, family) {
            (Proto::Tcp, _) => Some(IPPROTO_TCP),
            (Proto::Udp, _) => Some(IPPROTO_UDP),
            (Proto::Icmp, Family::V4) => Some(IPPROTO_ICMP),
            (Proto::Icmp, Family::V6) => Some(IPPROTO_ICMPV6),
            (Proto::All, _) => None,
        };
        // A /0 selects everything: the kernel reports no selector for it.
        let some = |a: Option<Prefix>| a.filter(|a| a.len > 0);
        let iif = devices[k].or(p.src_iface);
        let base = Selectors { dst: some(p.dest_ip), iif, ip_proto, sport: None, dport: None };
        let sports = || p.src_port.iter().map(Some).chain(p.src_port.is_empty().then_some(None));
        let mut n = first;
        for sport in sports() {
            let dports = p.dest_port.iter().map(Some).chain(p.dest_port.is_empty().then_some(None));
            for dport in dports {
                let priority = g.rule_priority + POLICY_SLOT_FIRST + n;
                let selectors = Selectors { sport: sport.copied(), dport: dport.copied(), ..base };
                let _ = desired.rules.push(Rule {
                    family,
                    priority,
                    src: some(p.src_ip),
                    selectors,
                    action,
                    suppress_prefixlen: None,
                    protocol: PROTO_DUALWAN,
                    other_selectors: false,
                });
                n += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load_str, Wan};
    use crate::health::WanHealth;
    use crate::time::Duration;
    use core::net::Ipv4Addr;

    /// Carriers with just the catch-all's active WAN (failover).
    fn on(active: Option<usize>) -> Carriers {
        Carriers { global: active.map_or(WanSet::EMPTY, WanSet::one), ..Carriers::default() }
    }

    fn plan4(c: &Config, links: &[LinkView], active: Option<usize>) -> Desired {
        let mut d = Desired::default();
        plan(c, Family::V4, links, &on(active), &[None; MAX_POLICIES], &mut d);
        d
    }

    fn v4(a: [u8; 4]) -> Option<IpAddr> {
        Some(Ipv4Addr::from(a).into())
    }

    fn config() -> Config {
        let text = "config interface 'wan'\n option device 'wan1'\n option metric 10\n list track_ip 203.0.113.1\n\
                    config interface 'wanb'\n option device 'wan2'\n option metric 20\n list track_ip 203.0.113.1\n";
        load_str(text).0.expect("valid")
    }

    fn links() -> [LinkView; 2] {
        [
            LinkView { ifindex: Some(2), addr: v4([192, 0, 2, 2]), gateway: v4([192, 0, 2, 1]) },
            LinkView { ifindex: Some(3), addr: v4([192, 0, 2, 10]), gateway: v4([192, 0, 2, 9]) },
        ]
    }

    fn show(d: &Desired) -> String {
        let mut s = String::new();
        for r in &d.rules {
            s += &format!("{r}\n");
        }
        for r in &d.routes {
            s += &format!("{r}\n");
        }
        s
    }

    #[test]
    fn plan_reads_like_the_documented_layout() {
        let d = plan4(&config(), &links(), Some(1));
        assert_eq!(
            show(&d),
            "5000:\tfrom all lookup main suppress_prefixlength 0 proto dualwan\n\
             5001:\tfrom 192.0.2.2 lookup 101 proto dualwan\n\
             5002:\tfrom 192.0.2.10 lookup 102 proto dualwan\n\
             5090:\tfrom all lookup 100 proto dualwan\n\
             default via 192.0.2.1 dev #2 table 101 proto dualwan\n\
             default via 192.0.2.9 dev #3 table 102 proto dualwan\n\
             default via 192.0.2.9 dev #3 table 100 proto dualwan\n"
        );
    }

    #[test]
    fn last_resort_decides_the_active_table_without_a_wan() {
        let mut c = config();
        assert!(!show(&plan4(&c, &links(), None)).contains("table 100"));
        c.globals.last_resort = LastResort::Unreachable;
        assert!(show(&plan4(&c, &links(), None)).contains("unreachable default table 100"));
        c.globals.enabled = false;
        assert_eq!(plan4(&c, &links(), Some(0)), Desired::default());
    }

    #[test]
    fn a_recovering_primary_waits_unless_nothing_else_is_up() {
        let c = config();
        let wan: &Wan = &c.wans[0];
        let mut h = [
            WanHealth::new(Instant::ZERO, &c.wans[0], Family::V4),
            WanHealth::new(Instant::ZERO, &c.wans[1], Family::V4),
        ];
        let l = links();
        // Bring both up through real rounds: the primary recovers at ~t, eligible at t + wait.
        for (i, hh) in h.iter_mut().enumerate() {
            hh.link_usable(Instant::ZERO);
            if i == 0 {
                hh.link_lost(Instant::ZERO, crate::health::Reason::CarrierLost);
                hh.link_usable(Instant::ZERO);
            }
            let mut t = Instant::ZERO;
            for _ in 0..wan.up {
                let mut sent = Vec::new();
                hh.start_round(t, &c.wans[i], l[i].gateway, &mut |d, s| sent.push((d, s)), &mut |_| {});
                for (d, s) in sent {
                    hh.handle_reply(t, d, s);
                }
                hh.handle_timeout(t, &c.wans[i], l[i].gateway, &mut |_| {});
                t = t + wan.interval;
            }
        }
        assert!(h[0].is_up() && h[1].is_up());
        let ready: Vec<Readiness> =
            h.iter().map(|h| Readiness { up: h.is_up(), eligible_at: h.eligible_at() }).collect();
        let h = ready;
        let now = Instant::from_millis(1000);
        assert_eq!(choose_active(&c, Family::V4, &h, &l, None, now), Some(1), "primary still in recovery wait");
        assert_eq!(choose_active(&c, Family::V4, &h, &l, None, now + Duration::from_secs(11)), Some(0));
        let only_primary = [l[0], LinkView::default()];
        assert_eq!(choose_active(&c, Family::V4, &h, &only_primary, None, now), Some(0), "better than nothing");
    }

    #[test]
    fn the_current_wan_keeps_traffic_while_up_unless_a_lower_metric_is_ready() {
        let mut c = config();
        let l = links();
        let now = Instant::from_millis(1000);
        let settled = Readiness { up: true, eligible_at: Instant::ZERO };
        let waiting = Readiness { up: true, eligible_at: now + Duration::from_secs(10) };
        let down = Readiness { up: false, eligible_at: Instant::ZERO };
        let choose = |c: &Config, ready: &[Readiness], current| choose_active(c, Family::V4, ready, &l, current, now);
        assert_eq!(choose(&c, &[settled, settled], Some(1)), Some(0), "the lower metric takes over");
        assert_eq!(choose(&c, &[down, settled], Some(0)), Some(1), "a WAN that is down loses traffic");
        // The primary, in its recovery wait, took traffic because nothing else was up; the
        // backup settling with a higher metric does not take it away again.
        assert_eq!(choose(&c, &[waiting, settled], None), Some(1));
        assert_eq!(choose(&c, &[waiting, settled], Some(0)), Some(0));
        // Equal metrics: whichever carries traffic keeps it.
        c.wans[1].metric = c.wans[0].metric;
        assert_eq!(choose(&c, &[settled, settled], Some(1)), Some(1));
        assert_eq!(choose(&c, &[settled, settled], Some(0)), Some(0));
        assert_eq!(choose(&c, &[settled, settled], None), Some(0), "the first of equals");
        c.globals.enabled = false;
        assert_eq!(choose(&c, &[settled, settled], Some(0)), None, "dualwan disabled");
    }

    #[test]
    fn ipv6_gets_the_same_layout_in_its_own_rules_and_tables_only_when_tracked() {
        let mut c = config();
        let l6 = [
            LinkView { ifindex: Some(2), addr: "2001:db8:1::2".parse().ok(), gateway: "fe80::1".parse().ok() },
            LinkView { ifindex: Some(3), addr: "2001:db8:2::2".parse().ok(), gateway: "fe80::2".parse().ok() },
        ];
        let mut d = Desired::default();
        plan(&c, Family::V6, &l6, &on(Some(0)), &[None; MAX_POLICIES], &mut d);
        assert_eq!(d, Desired::default(), "no IPv6 track_ip: IPv6 routing is left alone");
        c.wans[1].track_ip.push("2001:db8:ff::1".parse().unwrap()).unwrap();
        plan(&c, Family::V4, &links(), &on(Some(0)), &[None; MAX_POLICIES], &mut d);
        plan(&c, Family::V6, &l6, &on(Some(1)), &[None; MAX_POLICIES], &mut d);
        let ops: Vec<String> = d
            .rules
            .iter()
            .map(|r| crate::route::Op::AddRule(*r).to_string())
            .chain(d.routes.iter().map(|r| crate::route::Op::AddRoute(*r).to_string()))
            .filter(|s| s.starts_with("-6"))
            .collect();
        assert_eq!(
            ops,
            [
                "-6 rule add 5000:\tfrom all lookup main suppress_prefixlength 0 proto dualwan",
                "-6 rule add 5002:\tfrom 2001:db8:2::2 lookup 102 proto dualwan",
                "-6 rule add 5090:\tfrom all lookup 100 proto dualwan",
                "-6 route add default via fe80::2 dev #3 table 102 proto dualwan metric 1024",
                "-6 route add default via fe80::2 dev #3 table 100 proto dualwan metric 1024",
            ],
            "only wanb tracks IPv6"
        );
        assert_eq!(d.rules.iter().filter(|r| r.family == Family::V4).count(), 4, "IPv4 unchanged");
    }
}
