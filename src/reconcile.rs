//! Reconciliation: what the kernel holds of ours versus what the plan wants, as a list of
//! operations — adds and replaces first, deletes last (make before break).
//!
//! [`Installed`] mirrors the kernel's rules, routes and nexthop objects that are ours (our
//! protocol value, and our priority range, tables or nexthop ids), kept current from dumps
//! and notifications. Entries that are not ours never enter it, so the diff cannot touch
//! them. Where the kernel removes things as a consequence without saying so (a deleted
//! nexthop takes its routes with it, and leaves the groups it was in), the mirror does the
//! same.

use crate::kernel::{Change, KernelEvent};
use crate::plan::{Desired, MAX_NEXTHOPS, MAX_ROUTES, MAX_RULES};
use crate::route::{Nexthop, NexthopKind, Op, Route, Rule, PROTO_DUALWAN};
use core::ops::RangeInclusive;

/// Entries of ours mirrored beyond what the plan can want, per kind; beyond that, extras
/// are dropped (they can only appear if something else writes with our protocol value).
pub const MIRROR_SLACK: usize = 16;

/// The rule priorities, tables and nexthop ids that are ours.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ownership {
    /// Our `ip rule` priorities.
    pub rules: RangeInclusive<u32>,
    /// Our routing tables.
    pub tables: RangeInclusive<u32>,
    /// Our nexthop ids.
    pub nexthops: RangeInclusive<u32>,
}

/// Our entries as the kernel holds them.
#[derive(Clone, Debug, Default)]
pub struct Installed {
    rules: heapless::Vec<Rule, { MAX_RULES + MIRROR_SLACK }>,
    routes: heapless::Vec<Route, { MAX_ROUTES + MIRROR_SLACK }>,
    nexthops: heapless::Vec<Nexthop, { MAX_NEXTHOPS + MIRROR_SLACK }>,
}

impl Installed {
    /// Our rules the kernel holds.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Our routes the kernel holds.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Our nexthop objects the kernel holds.
    pub fn nexthops(&self) -> &[Nexthop] {
        &self.nexthops
    }

    /// True if the kernel holds nothing of ours.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.routes.is_empty() && self.nexthops.is_empty()
    }

    /// Forgets everything (before a full dump).
    pub fn clear(&mut self) {
        self.rules.clear();
        self.routes.clear();
        self.nexthops.clear();
    }

    /// Forgets the nexthops (before a nexthop dump).
    pub fn clear_nexthops(&mut self) {
        self.nexthops.clear();
    }

    /// Forgets the rules (before a rule dump).
    pub fn clear_rules(&mut self) {
        self.rules.clear();
    }

    /// Forgets the routes (before a route dump).
    pub fn clear_routes(&mut self) {
        self.routes.clear();
    }

    /// Applies a notification or dump entry; returns true if the mirror changed.
    pub fn handle_event(&mut self, event: &KernelEvent, own: &Ownership) -> bool {
        match event {
            KernelEvent::Rule(change, rule) if rule.is_ours(own.rules.clone()) => self.set_rule(*change, rule),
            KernelEvent::Route(change, route) if route.is_ours(own.tables.clone()) => self.set_route(*change, route),
            KernelEvent::Nexthop(change, nh) if nh.is_ours(own.nexthops.clone()) => self.set_nexthop(*change, nh),
            _ => false,
        }
    }

    /// Records the effect of an operation we just sent, before its notification arrives,
    /// so the next diff does not send it again. False if an entry it adds does not fit
    /// (the next diff would send it again).
    pub fn handle_op(&mut self, op: &Op) -> bool {
        match op {
            Op::AddRule(r) => {
                self.set_rule(Change::New, r);
                self.rules.contains(r)
            }
            Op::DelRule(r) => {
                self.set_rule(Change::Del, r);
                true
            }
            Op::AddRoute(r) | Op::ReplaceRoute(r) => {
                self.set_route(Change::New, r);
                self.routes.contains(r)
            }
            Op::DelRoute(r) => {
                self.set_route(Change::Del, r);
                true
            }
            Op::AddNexthop(n) | Op::ReplaceNexthop(n) => {
                self.set_nexthop(Change::New, n);
                self.nexthops.contains(n)
            }
            Op::DelNexthop(n) => {
                self.set_nexthop(Change::Del, n);
                true
            }
        }
    }

    fn set_nexthop(&mut self, change: Change, nh: &Nexthop) -> bool {
        // Ids are unique: a new object with a known id replaces the old one.
        let pos = self.nexthops.iter().position(|n| n.id == nh.id);
        match (change, pos) {
            (Change::New | Change::Replace, Some(i)) => {
                let changed = self.nexthops[i] != *nh;
                self.nexthops[i] = *nh;
                changed
            }
            (Change::New | Change::Replace, None) => self.nexthops.push(*nh).is_ok(),
            (Change::Del, Some(_)) => {
                self.remove_nexthop(nh.id);
                true
            }
            (Change::Del, None) => false,
        }
    }

    /// Removes nexthop `id` as the kernel does: the routes through it go too, and it leaves
    /// every group it was in (a group left empty is removed in turn, with its routes).
    fn remove_nexthop(&mut self, id: u32) {
        self.nexthops.retain(|n| n.id != id);
        self.routes.retain(|r| r.nhid != Some(id));
        let mut emptied: heapless::Vec<u32, { MAX_NEXTHOPS + MIRROR_SLACK }> = heapless::Vec::new();
        for n in self.nexthops.iter_mut() {
            if let NexthopKind::Group(g) = &n.kind {
                if g.members().iter().any(|m| m.id == id) {
                    let rest: heapless::Vec<_, { crate::route::GROUP_MAX }> =
                        g.members().iter().filter(|m| m.id != id).copied().collect();
                    match crate::route::Group::new(&rest, g.resilient) {
                        Some(left) if !rest.is_empty() => n.kind = NexthopKind::Group(left),
                        _ => {
                            let _ = emptied.push(n.id);
                        }
                    }
                }
            }
        }
        for id in emptied {
            self.remove_nexthop(id);
        }
    }

    fn set_rule(&mut self, change: Change, rule: &Rule) -> bool {
        let pos = self.rules.iter().position(|r| r == rule);
        match (change, pos) {
            (Change::New | Change::Replace, None) => self.rules.push(*rule).is_ok(),
            (Change::Del, Some(i)) => {
                self.rules.swap_remove(i);
                true
            }
            _ => false,
        }
    }

    fn set_route(&mut self, change: Change, route: &Route) -> bool {
        // A table holds one route per slot (dst, metric): a new one replaces the old.
        let pos = self.routes.iter().position(|r| r.same_slot(route));
        match (change, pos) {
            (Change::New | Change::Replace, Some(i)) => {
                let changed = self.routes[i] != *route;
                self.routes[i] = *route;
                changed
            }
            (Change::New | Change::Replace, None) => self.routes.push(*route).is_ok(),
            (Change::Del, Some(i)) if self.routes[i] == *route => {
                self.routes.swap_remove(i);
                true
            }
            _ => false,
        }
    }
}

/// The operations that turn `installed` into `desired`, in a safe order: nexthop adds and
/// replaces (single ones before the groups made of them), route adds and replaces, rule
/// adds (each followed by the deletes of the rules it takes the place of), then rule
/// deletes, route deletes and nexthop deletes (groups before their members). Everything in
/// `desired` must be ours (the planner guarantees it).
///
/// A nexthop that cannot become the wanted one in place (a group type or bucket count
/// changed, a group where a single one was: the kernel refuses such a replace) is deleted
/// and added again, which takes the routes through it away until they are added back.
pub fn diff(desired: &Desired, installed: &Installed, emit: &mut dyn FnMut(Op)) {
    for groups in [false, true] {
        for want in desired.nexthops.iter().filter(|n| n.is_group() == groups) {
            debug_assert_eq!(want.protocol, PROTO_DUALWAN);
            match installed.nexthops.iter().find(|n| n.id == want.id) {
                Some(have) if have == want => {}
                Some(have) if replaceable(have, want) => emit(Op::ReplaceNexthop(*want)),
                Some(have) => {
                    emit(Op::DelNexthop(*have));
                    emit(Op::AddNexthop(*want));
                }
                None => emit(Op::AddNexthop(*want)),
            }
        }
    }
    for want in &desired.routes {
        debug_assert_eq!(want.protocol, PROTO_DUALWAN);
        match installed.routes.iter().find(|r| r.same_slot(want)) {
            Some(have) if have == want => {}
            Some(_) => emit(Op::ReplaceRoute(*want)),
            None => emit(Op::AddRoute(*want)),
        }
    }
    // A rule that takes the place of another (same family and priority: a rule's WAN
    // changed, or the rules of a reloaded config moved) is added, then the one it replaces
    // is deleted at once: the kernel keeps the older one first until then, and the mirror
    // never holds more than one extra rule.
    let same_slot = |a: &Rule, b: &Rule| a.family == b.family && a.priority == b.priority;
    let added = |have: &Rule| desired.rules.iter().any(|w| same_slot(w, have) && !installed.rules.contains(w));
    for want in &desired.rules {
        if !installed.rules.contains(want) {
            emit(Op::AddRule(*want));
            for have in installed.rules.iter().filter(|h| same_slot(h, want) && !desired.rules.contains(h)) {
                emit(Op::DelRule(*have));
            }
        }
    }
    for have in &installed.rules {
        if !desired.rules.contains(have) && !added(have) {
            emit(Op::DelRule(*have));
        }
    }
    for have in &installed.routes {
        if !desired.routes.iter().any(|r| r.same_slot(have)) {
            emit(Op::DelRoute(*have));
        }
    }
    for groups in [true, false] {
        for have in installed.nexthops.iter().filter(|n| n.is_group() == groups) {
            if !desired.nexthops.iter().any(|n| n.id == have.id) {
                emit(Op::DelNexthop(*have));
            }
        }
    }
}

/// The operations that remove everything in `installed`, in the safe order of [`diff`]'s
/// deletes: rules, routes, groups, then their members.
pub fn remove_all(installed: &Installed, emit: &mut dyn FnMut(Op)) {
    installed.rules.iter().for_each(|r| emit(Op::DelRule(*r)));
    installed.routes.iter().for_each(|r| emit(Op::DelRoute(*r)));
    for groups in [true, false] {
        installed.nexthops.iter().filter(|n| n.is_group() == groups).for_each(|n| emit(Op::DelNexthop(*n)));
    }
}

/// True if the kernel changes `have` into `want` in place (`NLM_F_REPLACE`): a single
/// nexthop into another, a group into one of the same type and bucket count.
fn replaceable(have: &Nexthop, want: &Nexthop) -> bool {
    match (&have.kind, &want.kind) {
        (NexthopKind::Via { .. }, NexthopKind::Via { .. }) => true,
        (NexthopKind::Group(h), NexthopKind::Group(w)) => {
            h.resilient.map(|r| r.buckets) == w.resilient.map(|r| r.buckets)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::Family;
    use crate::route::{Prefix, RouteType, RuleAction, Selectors, TABLE_MAIN};
    use core::net::IpAddr;

    fn own() -> Ownership {
        Ownership { rules: 5000..=5099, tables: 100..=116, nexthops: 5000..=5099 }
    }

    fn route(table: u32, gw: [u8; 4], proto: u8) -> Route {
        Route {
            table,
            dst: Prefix::DEFAULT,
            kind: RouteType::Unicast,
            gateway: Some(IpAddr::from(gw)),
            nhid: None,
            oif: 2,
            metric: 0,
            protocol: proto,
        }
    }

    fn rule(priority: u32, proto: u8) -> Rule {
        Rule {
            family: Family::V4,
            priority,
            src: None,
            selectors: Selectors::NONE,
            action: RuleAction::Lookup(TABLE_MAIN),
            suppress_prefixlen: Some(0),
            protocol: proto,
            other_selectors: false,
        }
    }

    fn ops(desired: &Desired, installed: &Installed) -> Vec<String> {
        let mut out = Vec::new();
        diff(desired, installed, &mut |op| out.push(op.to_string()));
        out
    }

    #[test]
    fn foreign_entries_never_enter_the_mirror() {
        let mut inst = Installed::default();
        let foreign = [
            KernelEvent::Route(Change::New, route(254, [192, 0, 2, 1], 16)), // DHCP default in main
            KernelEvent::Route(Change::New, route(100, [192, 0, 2, 1], 4)),  // static, in our table
            KernelEvent::Route(Change::New, route(200, [192, 0, 2, 1], PROTO_DUALWAN)), // not our table
            KernelEvent::Rule(Change::New, rule(5001, 0)),
            KernelEvent::Rule(Change::New, rule(6000, PROTO_DUALWAN)),
        ];
        for e in &foreign {
            assert!(!inst.handle_event(e, &own()), "{e:?}");
        }
        assert!(ops(&Desired::default(), &inst).is_empty());
    }

    #[test]
    fn switching_is_one_replace_and_stale_entries_go_last() {
        let mut inst = Installed::default();
        inst.handle_event(&KernelEvent::Route(Change::New, route(100, [192, 0, 2, 1], PROTO_DUALWAN)), &own());
        inst.handle_event(&KernelEvent::Rule(Change::New, rule(5050, PROTO_DUALWAN)), &own());
        let mut desired = Desired::default();
        desired.routes.push(route(100, [192, 0, 2, 9], PROTO_DUALWAN)).unwrap();
        desired.rules.push(rule(5000, PROTO_DUALWAN)).unwrap();
        assert_eq!(
            ops(&desired, &inst),
            [
                "route replace default via 192.0.2.9 dev #2 table 100 proto dualwan",
                "rule add 5000:\tfrom all lookup main suppress_prefixlength 0 proto dualwan",
                "rule del 5050:\tfrom all lookup main suppress_prefixlength 0 proto dualwan",
            ]
        );
        // Once applied, nothing is left to do.
        diff(&desired, &inst.clone(), &mut |op| assert!(inst.handle_op(&op)));
        assert!(ops(&desired, &inst).is_empty());
    }

    #[test]
    fn a_notification_of_a_deleted_rule_brings_it_back() {
        let mut inst = Installed::default();
        let mut desired = Desired::default();
        desired.rules.push(rule(5000, PROTO_DUALWAN)).unwrap();
        inst.handle_op(&Op::AddRule(desired.rules[0]));
        assert!(ops(&desired, &inst).is_empty());
        assert!(inst.handle_event(&KernelEvent::Rule(Change::Del, desired.rules[0]), &own()));
        assert_eq!(ops(&desired, &inst).len(), 1);
    }
}
