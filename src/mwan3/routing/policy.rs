//! mwan3's members and policies, read: each policy's members per family as tiers by
//! metric (mwan3 leaves out a member whose metric is above 256), the weight of each
//! interface there, each interface's best metric, and the policy's last resort. Options
//! mwan3 does not have are reported.

use super::{Wans, CHAIN_NAME_MAX};
use crate::config::MAX_WANS;
use crate::mwan3::source::Read;
use crate::mwan3::{lost, note, uint, value, Notice};
use crate::uci::{Package, SectionRef};

/// mwan3 leaves out members whose metric is higher.
const MEMBER_METRIC_MAX: u32 = 256;

/// One member: an interface of a policy with its metric and weight.
#[derive(Copy, Clone)]
pub(super) struct Member {
    /// The dualwan interface.
    wan: usize,
    /// Its section's family is IPv6.
    v6: bool,
    metric: u32,
    weight: u32,
}

/// What a policy's traffic gets while none of its members is online.
#[derive(Copy, Clone, PartialEq, Eq)]
pub(super) enum LastResort {
    Unreachable,
    Blackhole,
    /// mwan3's `default`: the main table.
    Main,
}

pub(super) struct Policy<'a> {
    pub(super) name: &'a str,
    /// Per family, its members whose settings are part of a dualwan interface, by metric
    /// (an interface counted once, at its first member in `use_member` order)...
    pub(super) tiers: [Wans; 2],
    /// ...and the weight of each interface there.
    pub(super) weight: [[u32; MAX_WANS]; 2],
    /// Each interface's lowest metric among its members.
    pub(super) best: [Option<u32>; MAX_WANS],
    pub(super) last_resort: LastResort,
    /// Its name is too long: mwan3 makes no chain of it.
    pub(super) skipped: bool,
}

pub(super) fn read_members<'a>(
    pkg: &'a Package,
    read: &Read<'_>,
    notices: &mut Vec<Notice>,
) -> Vec<(&'a str, Option<Member>)> {
    let mut members = Vec::new();
    for s in pkg.sections().filter(|s| s.ty() == "member") {
        let Some(name) = s.name() else { continue };
        let metric = member_number(&s, name, "metric", notices);
        let weight = member_number(&s, name, "weight", notices);
        unknown_options(&s, &["interface", "metric", "weight"], ["member", name, "members"], notices);
        let member = match value(&s, "interface") {
            None => {
                lost(notices, s.line(), format_args!("member '{name}' has no interface"));
                None
            }
            Some((_, line)) if metric > MEMBER_METRIC_MAX => {
                note(
                    notices,
                    line,
                    format_args!("member '{name}': metric {metric} is above 256, which mwan3 leaves out"),
                );
                None
            }
            Some((iface, line)) => match read.wan(iface) {
                Some((wan, true, v6)) => Some(Member { wan, v6, metric, weight }),
                // The disabled half of a pair: never online in mwan3 either.
                Some((_, false, _)) => None,
                None => {
                    let known = read.sides.iter().any(|s| s.name == iface);
                    let why = if known { "is not translated" } else { "is no interface section" };
                    lost(notices, line, format_args!("member '{name}': interface '{iface}' {why}"));
                    None
                }
            },
        };
        members.push((name, member));
    }
    members
}

/// Reports the options of member or policy section `s` other than `known`; `what` names
/// it: `["member", NAME, "members"]`.
fn unknown_options(s: &SectionRef<'_>, known: &[&str], what: [&str; 3], notices: &mut Vec<Notice>) {
    let [ty, name, types] = what;
    for o in s.options() {
        let option = o.name();
        if !known.contains(&option) {
            let why = format_args!("{ty} '{name}': option '{option}' is not an option of mwan3's {types}");
            lost(notices, o.line(), why);
        }
    }
}

/// A member's `metric` or `weight` (mwan3's default of both is 1).
fn member_number(s: &SectionRef<'_>, name: &str, option: &str, notices: &mut Vec<Notice>) -> u32 {
    let Some((v, line)) = value(s, option) else { return 1 };
    uint(v).unwrap_or_else(|| {
        lost(notices, line, format_args!("member '{name}': {option} '{v}' is not a whole number: 1 taken"));
        1
    })
}

pub(super) fn read_policies<'a>(
    pkg: &'a Package,
    members: &[(&str, Option<Member>)],
    notices: &mut Vec<Notice>,
) -> Vec<Policy<'a>> {
    let mut policies = Vec::new();
    for s in pkg.sections().filter(|s| s.ty() == "policy") {
        let Some(name) = s.name() else { continue };
        let mut tiers = [Wans::NONE; 2];
        let mut weight = [[0; MAX_WANS]; 2];
        let mut best = [None; MAX_WANS];
        if let Some(o) = s.option("use_member") {
            if !o.is_list() {
                note(notices, o.line(), format_args!(
                    "policy '{name}': use_member is an option, not a list: mwan3 reads no member from it; read as the list it was meant to be"
                ));
            }
            for (v, line) in o.values() {
                match members.iter().find(|(n, _)| *n == v) {
                    Some((_, Some(m))) => {
                        // An interface's first member in the family counts.
                        let f = usize::from(m.v6);
                        let known = tiers[f].len;
                        if tiers[f].add(m.wan, m.metric) == known {
                            weight[f][m.wan] = m.weight;
                        }
                        let b: &mut Option<u32> = &mut best[m.wan];
                        *b = Some(b.map_or(m.metric, |b| b.min(m.metric)));
                    }
                    Some((_, None)) => {}
                    None => lost(notices, line, format_args!("policy '{name}': member '{v}' does not exist")),
                }
            }
        }
        for t in &mut tiers {
            t.sort_by_metric();
        }
        let last_resort = match value(&s, "last_resort") {
            Some(("blackhole", _)) => LastResort::Blackhole,
            Some(("default", _)) => LastResort::Main,
            _ => LastResort::Unreachable,
        };
        unknown_options(&s, &["use_member", "last_resort"], ["policy", name, "policies"], notices);
        let skipped = name.len() > CHAIN_NAME_MAX;
        policies.push(Policy { name, tiers, weight, best, last_resort, skipped });
    }
    policies
}
