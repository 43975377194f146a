//! The globals' arrangement of the interfaces, for the traffic no rule takes: the
//! catch-all's policy gives each interface its metric and, where it balances, its weight;
//! interfaces it leaves out come after, one metric each. Weights are scaled into
//! dualwan's range.

use super::policy::Policy;
use super::Wans;
use crate::config::MAX_WANS;
use crate::mwan3::emit::Output;
use crate::mwan3::source::Read;
use crate::mwan3::{lost, note, Notice};

/// dualwan's weights.
const WEIGHT_MAX: u32 = 100;

/// The globals' arrangement of the interfaces.
pub(super) struct Arrangement {
    pub(super) metric: [u32; MAX_WANS],
    pub(super) weight: [u32; MAX_WANS],
    pub(super) balance: bool,
    /// The catch-all's policy.
    pub(super) main: Option<usize>,
}

/// The globals' arrangement: the catch-all's policy gives each interface its metric and,
/// where it balances, its weight; interfaces it leaves out come after, one metric each.
pub(super) fn arrange(read: &Read<'_>, policies: &[Policy<'_>], main: Option<usize>, out: &mut Output) -> Arrangement {
    let wans = &read.wans;
    let n = wans.len();
    let mut metric: [Option<u32>; MAX_WANS] = [None; MAX_WANS];
    let mut weight: [Option<u32>; MAX_WANS] = [None; MAX_WANS];
    let mut balance = false;
    if let Some(p) = main {
        let policy = &policies[p];
        for t in &policy.tiers {
            for i in 0..t.len {
                let (w, m) = (usize::from(t.wan[i]), t.metric[i]);
                balance |= t.shared(i);
                match metric[w] {
                    None => metric[w] = Some(m),
                    Some(x) if x != m => lost(
                        &mut out.interfaces[wans[w].section].notices,
                        wans[w].line,
                        format_args!(
                            "policy '{}' gives it metric {x} for ipv4 and {m} for ipv6: one metric per dualwan interface, {x} written",
                            policy.name
                        ),
                    ),
                    Some(_) => {}
                }
            }
        }
    }
    // The weights of interfaces that share a tier (in the catch-all's policy first).
    for policy in main.iter().map(|&p| &policies[p]).chain(policies) {
        for (t, weights) in policy.tiers.iter().zip(&policy.weight) {
            for i in (0..t.len).filter(|&i| t.shared(i)) {
                let w = usize::from(t.wan[i]);
                weight[w].get_or_insert(weights[w]);
            }
        }
    }
    if main.is_none() {
        // No catch-all: each interface by its best metric in any policy.
        for policy in policies {
            for (m, best) in metric.iter_mut().zip(policy.best) {
                if let Some(b) = best {
                    *m = Some(m.map_or(b, |m| m.min(b)));
                }
            }
        }
    }
    if !balance {
        // Failover: enabled interfaces need metrics of their own; the order stays.
        let mut order = Wans::NONE;
        for (w, wan) in wans.iter().enumerate() {
            if let (true, Some(m)) = (wan.enabled, metric[w]) {
                order.add(w, m);
            }
        }
        order.sort_by_metric();
        let mut last: Option<u32> = None;
        for &w in order.wans() {
            let w = usize::from(w);
            let m = metric[w].unwrap_or(0);
            if let Some(l) = last.filter(|&l| m <= l) {
                note(
                    &mut out.interfaces[wans[w].section].notices,
                    wans[w].line,
                    format_args!(
                        "metric {m} is another interface's too: in failover mode each has its own, {} written",
                        l + 1
                    ),
                );
                metric[w] = Some(l + 1);
            }
            last = metric[w];
        }
    }
    let mut next = metric.iter().flatten().max().map_or(1, |m| m + 1);
    for (w, wan) in wans.iter().enumerate() {
        if metric[w].is_some() {
            continue;
        }
        metric[w] = Some(next);
        if let (Some(p), true) = (main, wan.enabled) {
            lost(&mut out.interfaces[wan.section].notices, wan.line, format_args!(
                "not in policy '{}', which takes all traffic: dualwan's globals use it when none of that policy's interfaces is up (metric {next})",
                policies[p].name
            ));
        }
        next += 1;
    }
    let mut weight = weight.map(|w| w.unwrap_or(1));
    scale_weights(&mut weight[..n], &mut out.globals.notices);
    Arrangement { metric: metric.map(|m| m.unwrap_or(0)), weight, balance, main }
}

/// Weights in dualwan's 1-100, in the same proportions as far as they go.
fn scale_weights(weight: &mut [u32], notices: &mut Vec<Notice>) {
    if weight.contains(&0) {
        lost(notices, 0, format_args!("a weight of 0 (mwan3 then picks the interface only when alone): 1 written"));
        for w in weight.iter_mut() {
            *w = (*w).max(1);
        }
    }
    let gcd = weight.iter().fold(0, |a, &b| gcd(a, b));
    let max = weight.iter().copied().max().unwrap_or(1);
    if max > WEIGHT_MAX && gcd > 0 {
        for w in weight.iter_mut() {
            *w /= gcd;
        }
        let max = weight.iter().copied().max().unwrap_or(1);
        if max > WEIGHT_MAX {
            for w in weight.iter_mut() {
                *w = ((*w * WEIGHT_MAX + max / 2) / max).max(1);
            }
            lost(notices, 0, format_args!("weights above {WEIGHT_MAX}: scaled down, proportions rounded"));
        }
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}
