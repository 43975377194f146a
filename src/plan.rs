//! The planner: (config, health, what we know of each WAN's link) → which WAN carries
//! traffic, and the rules and routes that make it so. Each family is planned on its own,
//! with the same layout in its own rule list and tables (the kernel keeps IPv4 and IPv6
//! tables apart); a family no enabled WAN tracks gets no entries at all.
//!
//! Layout, with `P = rule_priority` and `T = table_base`:
//! ```text
//! P+0          from all lookup main suppress_prefixlength 0   LAN, connected and static routes
//!                                                               win; main's defaults don't
//! P+1+wan      from <WAN address> lookup T+1+wan              probes and replies of a WAN
//!                                                               always leave by that WAN
//! P+90         from all lookup T                               everything else: the active WAN
//! table T+1+wan:   default via <gateway> dev <device>      (IPv6: often via fe80::1)
//! table T:         default via <active gateway> dev <active device>
//!                  (none with last_resort main: main's DHCP defaults take over;
//!                   `unreachable default` with last_resort unreachable)
//! ```
//! `wan` is the WAN's index in the config. Switching WAN is one route replace in table T.
//! The main table is never touched.

use crate::config::{Config, LastResort, MAX_WANS};
use crate::route::{Family, Prefix, Route, RouteType, Rule, RuleAction, IPV6_METRIC, PROTO_DUALWAN, TABLE_MAIN};
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

/// Most rules the plan can hold: per family one per WAN plus the two fixed ones.
pub const MAX_RULES: usize = 2 * (MAX_WANS + 2);
/// Most routes the plan can hold: per family one per WAN plus the active one.
pub const MAX_ROUTES: usize = 2 * (MAX_WANS + 1);

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

/// The rules and routes dualwan wants in the kernel.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Desired {
    /// Rules, all within our priority range.
    pub rules: heapless::Vec<Rule, MAX_RULES>,
    /// Routes, all within our tables.
    pub routes: heapless::Vec<Route, MAX_ROUTES>,
}

/// The routing table of WAN `wan`.
pub fn wan_table(config: &Config, wan: usize) -> u32 {
    config.globals.table_base + 1 + wan as u32
}

/// The table holding the active WAN's default route.
pub fn active_table(config: &Config) -> u32 {
    config.globals.table_base
}

/// What [`choose_active`] needs of a WAN's health.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Readiness {
    /// The WAN is up.
    pub up: bool,
    /// Traffic may go to it from this instant on.
    pub eligible_at: Instant,
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
    let usable = |i: usize| {
        let w = &config.wans[i];
        w.enabled && w.tracks(family) && ready[i].up && links[i].ifindex.is_some() && links[i].gateway.is_some()
    };
    let by_metric = |a: &usize, b: &usize| config.wans[*a].metric.cmp(&config.wans[*b].metric);
    let settled = (0..config.wans.len()).filter(|&i| usable(i) && ready[i].eligible_at <= now).min_by(by_metric);
    let candidate = settled.or_else(|| (0..config.wans.len()).filter(|&i| usable(i)).min_by(by_metric));
    let metric = |i: usize| config.wans.get(i).map(|w| w.metric);
    match (current, candidate) {
        (Some(cur), Some(cand)) if ready.get(cur).is_some_and(|r| r.up) && metric(cur) <= metric(cand) => Some(cur),
        _ => candidate,
    }
}

/// Adds the rules and routes of `family` for this config, these links (of the family) and
/// this active WAN to `desired`.
pub fn plan(config: &Config, family: Family, links: &[LinkView], active: Option<usize>, desired: &mut Desired) {
    let g = &config.globals;
    if !g.enabled || !config.tracks(family) {
        return;
    }
    let rule = |offset: u32, src: Option<Prefix>, action: RuleAction, suppress: Option<u8>| Rule {
        family,
        priority: g.rule_priority + offset,
        src,
        action,
        suppress_prefixlen: suppress,
        protocol: PROTO_DUALWAN,
        other_selectors: false,
    };
    let default_via = |table: u32, gateway: IpAddr, oif: u32| Route {
        table,
        dst: Prefix::default_of(family),
        kind: RouteType::Unicast,
        gateway: Some(gateway),
        oif,
        metric: if family == Family::V6 { IPV6_METRIC } else { 0 },
        protocol: PROTO_DUALWAN,
    };
    // Capacities: MAX_RULES/MAX_ROUTES leave room for every WAN plus the fixed entries.
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
    let _ = desired.rules.push(rule(RULE_ACTIVE, None, RuleAction::Lookup(active_table(config)), None));
    let active_route = active.and_then(|wan| {
        let link = links.get(wan)?;
        Some(default_via(active_table(config), link.gateway?, link.ifindex?))
    });
    match (active_route, g.last_resort) {
        (Some(route), _) => {
            let _ = desired.routes.push(route);
        }
        (None, LastResort::Unreachable) => {
            let _ = desired.routes.push(Route {
                kind: RouteType::Unreachable,
                gateway: None,
                oif: 0,
                ..default_via(active_table(config), family.unspecified(), 0)
            });
        }
        (None, LastResort::Main) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load_str, Wan};
    use crate::health::WanHealth;
    use crate::time::Duration;
    use core::net::Ipv4Addr;

    fn plan4(c: &Config, links: &[LinkView], active: Option<usize>) -> Desired {
        let mut d = Desired::default();
        plan(c, Family::V4, links, active, &mut d);
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
        plan(&c, Family::V6, &l6, Some(0), &mut d);
        assert_eq!(d, Desired::default(), "no IPv6 track_ip: IPv6 routing is left alone");
        c.wans[1].track_ip.push("2001:db8:ff::1".parse().unwrap()).unwrap();
        plan(&c, Family::V4, &links(), Some(0), &mut d);
        plan(&c, Family::V6, &l6, Some(1), &mut d);
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
