//! Reconciliation: what the kernel holds of ours versus what the plan wants, as a list of
//! operations — adds and replaces first, deletes last (make before break).
//!
//! [`Installed`] mirrors the kernel's rules and routes that are ours (our protocol value,
//! and our priority range or tables), kept current from dumps and notifications. Entries
//! that are not ours never enter it, so the diff cannot touch them.

use crate::kernel::{Change, KernelEvent};
use crate::plan::Desired;
use crate::route::{Op, Route, Rule, PROTO_DUALWAN};
use core::ops::RangeInclusive;

/// Most entries of ours mirrored per kind; beyond that, extras are dropped (they can only
/// appear if something else writes with our protocol value).
pub const MIRROR_MAX: usize = 32;

/// The rule priorities and tables that are ours.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ownership {
    /// Our `ip rule` priorities.
    pub rules: RangeInclusive<u32>,
    /// Our routing tables.
    pub tables: RangeInclusive<u32>,
}

/// Our entries as the kernel holds them.
#[derive(Clone, Debug, Default)]
pub struct Installed {
    rules: heapless::Vec<Rule, MIRROR_MAX>,
    routes: heapless::Vec<Route, MIRROR_MAX>,
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

    /// Forgets everything (before a full dump).
    pub fn clear(&mut self) {
        self.rules.clear();
        self.routes.clear();
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
            _ => false,
        }
    }

    /// Records the effect of an operation we just sent, before its notification arrives,
    /// so the next diff does not send it again.
    pub fn handle_op(&mut self, op: &Op) {
        match op {
            Op::AddRule(r) => {
                self.set_rule(Change::New, r);
            }
            Op::DelRule(r) => {
                self.set_rule(Change::Del, r);
            }
            Op::AddRoute(r) | Op::ReplaceRoute(r) => {
                self.set_route(Change::New, r);
            }
            Op::DelRoute(r) => {
                self.set_route(Change::Del, r);
            }
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

/// The operations that turn `installed` into `desired`, in a safe order: route adds and
/// replaces, rule adds, then rule deletes and route deletes. Everything in `desired` must
/// be ours (the planner guarantees it).
pub fn diff(desired: &Desired, installed: &Installed, emit: &mut dyn FnMut(Op)) {
    for want in &desired.routes {
        debug_assert_eq!(want.protocol, PROTO_DUALWAN);
        match installed.routes.iter().find(|r| r.same_slot(want)) {
            Some(have) if have == want => {}
            Some(_) => emit(Op::ReplaceRoute(*want)),
            None => emit(Op::AddRoute(*want)),
        }
    }
    for want in &desired.rules {
        if !installed.rules.contains(want) {
            emit(Op::AddRule(*want));
        }
    }
    for have in &installed.rules {
        if !desired.rules.contains(have) {
            emit(Op::DelRule(*have));
        }
    }
    for have in &installed.routes {
        if !desired.routes.iter().any(|r| r.same_slot(have)) {
            emit(Op::DelRoute(*have));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::Family;
    use crate::route::{Prefix, RouteType, RuleAction, TABLE_MAIN};
    use core::net::IpAddr;

    fn own() -> Ownership {
        Ownership { rules: 5000..=5099, tables: 100..=116 }
    }

    fn route(table: u32, gw: [u8; 4], proto: u8) -> Route {
        Route {
            table,
            dst: Prefix::DEFAULT,
            kind: RouteType::Unicast,
            gateway: Some(IpAddr::from(gw)),
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
        diff(&desired, &inst.clone(), &mut |op| inst.handle_op(&op));
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
