//! What a policy is in dualwan for one rule and one family: a `use` list (interfaces in
//! order, named interfaces by weight, or the globals' arrangement), with notices where
//! dualwan says it differently; and one list for both families when one says what each
//! family's says.

use super::policy::Policy;
use super::{Ctx, Wans, FAMILY};
use crate::config::MAX_WANS;
use crate::mwan3::source::Read;
use crate::mwan3::{lost, Notice};
use core::fmt::Write;

/// What a policy is in dualwan, for one family.
#[derive(Copy, Clone, PartialEq, Eq)]
pub(super) enum How {
    /// No member of the family.
    Empty,
    /// These interfaces in this order (with the policy's metric of each).
    Ordered,
    /// These interfaces by weight: the named ones and `balance`.
    Named,
    /// The globals' arrangement: `balance` alone.
    Global,
}

/// A `use` list: how, and the interfaces (none for `Empty` and `Global`).
#[derive(Copy, Clone)]
pub(super) struct Use {
    pub(super) how: How,
    pub(super) wans: Wans,
}

impl Use {
    const fn of(how: How, wans: Wans) -> Use {
        Use { how, wans }
    }

    pub(super) const EMPTY: Use = Use::of(How::Empty, Wans::NONE);
}

/// The names of interfaces, `a, b`.
fn names(read: &Read<'_>, wans: &[u8]) -> String {
    let mut text = String::new();
    for &w in wans {
        if !text.is_empty() {
            text.push_str(", ");
        }
        text.push_str(read.wans[usize::from(w)].name);
    }
    text
}

/// Policy `p` for family `f`, with notices about what dualwan says differently.
pub(super) fn use_for(ctx: &Ctx<'_, '_>, p: usize, f: usize, notices: &mut Vec<Notice>, line: u32) -> Use {
    let policy = &ctx.policies[p];
    let t = &policy.tiers[f];
    if t.len == 0 {
        return Use::EMPTY;
    }
    // The catch-all's policy is what the globals say, whatever the family.
    if ctx.arr.balance && ctx.arr.main == Some(p) {
        check_weights(ctx, policy, f, notices, line);
        return Use::of(How::Global, Wans::NONE);
    }
    if !(0..t.len).any(|i| t.shared(i)) {
        return Use::of(How::Ordered, *t);
    }
    check_weights(ctx, policy, f, notices, line);
    if ctx.arr.balance && same_as_global(ctx, t, f) {
        return Use::of(How::Global, Wans::NONE);
    }
    let first = t.tier_end(0);
    if first == t.len {
        return Use::of(How::Named, *t);
    }
    let family = FAMILY[f];
    if first > 1 {
        let rest = names(ctx.read, &t.wans()[first..]);
        lost(notices, line, format_args!(
            "policy '{}' ({family}): falling back to {rest} after the first tier: dualwan balances over the named interfaces without a fallback",
            policy.name
        ));
        let mut tier = *t;
        tier.len = first;
        return Use::of(How::Named, tier);
    }
    let mut i = 0;
    while i < t.len {
        let end = t.tier_end(i);
        if end - i > 1 {
            let tier = names(ctx.read, &t.wans()[i..end]);
            lost(
                notices,
                line,
                format_args!("policy '{}' ({family}): {tier} share a tier: dualwan uses them in order", policy.name),
            );
        }
        i = end;
    }
    Use::of(How::Ordered, *t)
}

/// The tiers of `t` as sets of the interfaces `live` takes, empty ones left out.
fn tier_sets(t: &Wans, live: &dyn Fn(usize) -> bool) -> [u32; MAX_WANS] {
    let mut sets = [0; MAX_WANS];
    let (mut n, mut i) = (0, 0);
    while i < t.len {
        let end = t.tier_end(i);
        let set = t.wans()[i..end].iter().filter(|&&w| live(usize::from(w))).fold(0, |set, &w| set | 1 << w);
        if set != 0 {
            sets[n] = set;
            n += 1;
        }
        i = end;
    }
    sets
}

/// The globals' tiers of family `f` are the policy's (enabled interfaces only).
fn same_as_global(ctx: &Ctx<'_, '_>, t: &Wans, f: usize) -> bool {
    let wans = &ctx.read.wans;
    let live = |w: usize| wans[w].enabled && wans[w].tracks[f];
    let mut by_metric = Wans::NONE;
    for w in (0..wans.len()).filter(|&w| live(w)) {
        by_metric.add(w, ctx.arr.metric[w]);
    }
    by_metric.sort_by_metric();
    tier_sets(t, &live) == tier_sets(&by_metric, &live)
}

/// Within a tier, the policy's weights (of family `f`) must be in the interfaces'
/// proportions.
fn check_weights(ctx: &Ctx<'_, '_>, policy: &Policy<'_>, f: usize, notices: &mut Vec<Notice>, line: u32) {
    let (t, theirs) = (&policy.tiers[f], &policy.weight[f]);
    let ours = &ctx.arr.weight;
    let mut i = 0;
    while i < t.len {
        let end = t.tier_end(i);
        let tier = &t.wans()[i..end];
        let w0 = usize::from(tier[0]);
        let (ours0, theirs0) = (u64::from(ours[w0]), u64::from(theirs[w0]));
        let differ = |&w: &u8| {
            let w = usize::from(w);
            u64::from(theirs[w]) * ours0 != theirs0 * u64::from(ours[w])
        };
        if tier.iter().any(differ) {
            let (mut policy_weights, mut dualwan_weights) = (String::new(), String::new());
            for &w in tier {
                let w = usize::from(w);
                let name = ctx.read.wans[w].name;
                let sep = if policy_weights.is_empty() { "" } else { ", " };
                let _ = write!(policy_weights, "{sep}{name} {}", theirs[w]);
                let _ = write!(dualwan_weights, "{sep}{name} {}", ours[w]);
            }
            let text = format!(
                "policy '{}' weighs {policy_weights}: dualwan weighs by interface, {dualwan_weights}",
                policy.name
            );
            if !notices.iter().any(|n| n.text == text) {
                notices.push(Notice::lost(line, text));
            }
        }
        i = end;
    }
}

/// Restricts a use to the interfaces that track family `f`.
fn only(ctx: &Ctx<'_, '_>, u: &Use, f: usize) -> Use {
    if !matches!(u.how, How::Ordered | How::Named) {
        return *u;
    }
    let mut kept = Wans::NONE;
    for i in 0..u.wans.len {
        let w = usize::from(u.wans.wan[i]);
        if ctx.read.wans[w].tracks[f] {
            kept.add(w, u.wans.metric[i]);
        }
    }
    Use::of(if kept.len == 0 { How::Empty } else { u.how }, kept)
}

/// Two uses say the same (one interface in order is one interface by weight).
fn same(a: &Use, b: &Use) -> bool {
    let set = |u: &Use| match u.how {
        How::Named => Some(u.wans.set()),
        How::Ordered if u.wans.len == 1 => Some(u.wans.set()),
        _ => None,
    };
    match (a.how, b.how) {
        (How::Ordered, How::Ordered) => a.wans.wans() == b.wans.wans(),
        _ if set(a).is_some() => set(a) == set(b),
        _ => a.how == b.how,
    }
}

/// One use for both families, if one says what each family's says.
pub(super) fn merge(ctx: &Ctx<'_, '_>, u4: &Use, u6: &Use) -> Option<Use> {
    // The interfaces of `a` and then those of `b` not in `a`, by weight.
    let union = |a: &Use, b: &Use| {
        let mut all = a.wans;
        for &w in b.wans.wans() {
            all.add(usize::from(w), 0);
        }
        Use::of(How::Named, all)
    };
    let candidate = match (u4.how, u6.how) {
        (How::Empty, _) => *u6,
        (_, How::Empty) | (How::Global, How::Global) => *u4,
        (How::Ordered, How::Ordered) => {
            let mut all = u4.wans;
            for i in 0..u6.wans.len {
                let m = u6.wans.metric[i];
                let k = all.add(usize::from(u6.wans.wan[i]), m);
                all.metric[k] = all.metric[k].min(m);
            }
            all.sort_by_metric();
            Use::of(How::Ordered, all)
        }
        (How::Named, How::Named) => union(u4, u6),
        (How::Named, How::Ordered) if u6.wans.len == 1 => union(u4, u6),
        (How::Ordered, How::Named) if u4.wans.len == 1 => union(u6, u4),
        _ => return None,
    };
    (same(&only(ctx, &candidate, 0), u4) && same(&only(ctx, &candidate, 1), u6)).then_some(candidate)
}
