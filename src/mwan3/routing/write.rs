//! The translation written: one or more dualwan `config rule` sections per mwan3 rule,
//! within dualwan's limits on rules, and each interface's `metric`, `weight` and
//! `flush_conntrack`.

use super::arrange::Arrangement;
use super::policy::LastResort;
use super::rule::{Rule, PORTS};
use super::uses::{merge, use_for, How, Use};
use super::{Ctx, Families, BOTH, FAMILY};
use crate::mwan3::emit::{Output, Section};
use crate::mwan3::source::Read;
use crate::mwan3::{lost, note, Notice};
use crate::route::Prefix;
use core::fmt::Write;

/// Most `config rule` sections dualwan takes.
const MAX_RULES: usize = 16;
/// Kernel rules the `config rule` sections may take in all, one per port combination.
const RULE_SLOTS: usize = 80;
/// Different sets of named interfaces the rules may balance over.
const BALANCE_SETS: usize = 8;

/// The names of the families in `fams`, joined by `sep`.
fn family_words(fams: Families, sep: &str) -> String {
    let mut words = String::new();
    for f in 0..2 {
        if fams[f] {
            if !words.is_empty() {
                words.push_str(sep);
            }
            words.push_str(FAMILY[f]);
        }
    }
    words
}

/// The enabled interfaces track family `f`: dualwan routes it.
fn tracked(read: &Read<'_>, f: usize) -> bool {
    read.wans.iter().any(|w| w.enabled && w.tracks[f])
}

/// Running totals against dualwan's limits on rules.
#[derive(Default)]
struct Limits {
    rules: usize,
    slots: usize,
    /// The sets of interfaces balanced over, one bit each.
    sets: Vec<u32>,
    names: Vec<String>,
}

pub(super) fn write_rules(ctx: &Ctx<'_, '_>, rules: &mut [Rule], out: &mut Output) {
    let mut covered: Families = [false; 2];
    let mut covered_by = [String::new(), String::new()];
    let mut global: Families = [false; 2];
    let mut limits = Limits::default();
    for r in rules {
        let live: Families = [r.families[0] && !covered[0], r.families[1] && !covered[1]];
        let first = match r.refused.take() {
            None if live == [false, false] => {
                let mut by = String::new();
                for f in (0..2).filter(|&f| r.families[f]) {
                    let sep = if by.is_empty() { "" } else { "', '" };
                    let _ = write!(by, "{sep}{}", covered_by[f]);
                }
                let text = format!("rule '{}' never matches in mwan3: rule '{by}' above takes all its traffic", r.name);
                Some(Notice::note(r.line, text))
            }
            refused => refused,
        };
        if let Some(n) = first {
            r.notices.insert(0, n);
            out.rules.push(Section::dropped("rule", core::mem::take(&mut r.notices)));
            continue;
        }
        let Some(p) = r.policy else { continue };
        if r.is_catch_all() {
            for f in (0..2).filter(|&f| live[f]) {
                covered[f] = true;
                covered_by[f].clone_from(&r.name);
            }
            if ctx.arr.main == Some(p) {
                let text = format!(
                    "rule '{}' takes all {} traffic to policy '{}': the globals (mode, last_resort) and the interfaces' metric and weight say the same",
                    r.name,
                    family_words(live, " and "),
                    ctx.policies[p].name
                );
                r.notices.insert(0, Notice::note(r.line, text));
                out.rules.push(Section::dropped("rule", core::mem::take(&mut r.notices)));
                global = [global[0] || live[0], global[1] || live[1]];
                continue;
            }
        }
        write_rule(ctx, r, p, live, &mut limits, out);
    }
    for f in 0..2 {
        if tracked(ctx.read, f) && !global[f] && !covered[f] {
            lost(&mut out.globals.notices, 0, format_args!(
                "no rule takes all {} traffic to a policy: mwan3 leaves what no rule takes to the main table, dualwan to the interfaces by metric",
                FAMILY[f]
            ));
        }
    }
}

/// One rule: one section, or one per family when the policy differs between them, or one
/// per address of a comma list.
fn write_rule(ctx: &Ctx<'_, '_>, r: &mut Rule, p: usize, live: Families, limits: &mut Limits, out: &mut Output) {
    let line = r.line;
    let policy = &ctx.policies[p];
    // A family no enabled interface tracks is left alone by dualwan: what the policy does
    // with it does not matter (unless the rule is only about it).
    let mut matters: Families = [live[0] && tracked(ctx.read, 0), live[1] && tracked(ctx.read, 1)];
    if matters == [false, false] {
        matters = live;
    }
    let mut uses = [Use::EMPTY; 2];
    for f in (0..2).filter(|&f| matters[f]) {
        uses[f] = use_for(ctx, p, f, &mut r.notices, line);
    }
    // The families of each dualwan rule, and what they use.
    let mut parts = [(live, Use::EMPTY); 2];
    let mut n_parts = 1;
    match (matters, merge(ctx, &uses[0], &uses[1])) {
        ([true, true], Some(u)) => parts[0].1 = u,
        ([true, true], None) => {
            note(
                &mut r.notices,
                line,
                format_args!("its policy differs between ipv4 and ipv6: one dualwan rule for each"),
            );
            parts = [([true, false], uses[0]), ([false, true], uses[1])];
            n_parts = 2;
        }
        _ => parts[0].1 = uses[usize::from(matters[1])],
    }
    // Each part's rules: one per source and destination address of its families.
    let mut emitted: Vec<(usize, Option<Prefix>, Option<Prefix>)> = Vec::new();
    for (k, (fams, u)) in parts[..n_parts].iter().enumerate() {
        if u.how == How::Empty {
            let f = [fams[0] && matters[0], fams[1] && matters[1]];
            lost(&mut r.notices, line, format_args!(
                "policy '{}' has no {} member: mwan3 gives the rule's {} traffic its last resort, dualwan lets it through to the next rules",
                policy.name,
                family_words(f, " or "),
                family_words(f, " and ")
            ));
            continue;
        }
        for i in 0..r.addrs[0].len().max(1) {
            let src = r.addrs[0].get(i).copied();
            for j in 0..r.addrs[1].len().max(1) {
                let dest = r.addrs[1].get(j).copied();
                let fam = src.or(dest).map(|a| a.family().index());
                if src.zip(dest).is_some_and(|(a, b)| a.family() != b.family()) || fam.is_some_and(|f| !fams[f]) {
                    continue;
                }
                emitted.push((k, src, dest));
            }
        }
    }
    if emitted.len() > 1 && (r.addrs[0].len() > 1 || r.addrs[1].len() > 1) {
        note(&mut r.notices, line, format_args!("an address list: one dualwan rule per address"));
    }
    let mut sections = Vec::new();
    for (k, src, dest) in emitted {
        let (fams, u) = &parts[k];
        let slots = r.ports[0].0.max(1) * r.ports[1].0.max(1);
        let set = (u.how == How::Named).then(|| u.wans.set());
        let new_set = set.is_some_and(|s| !limits.sets.contains(&s));
        let name = &r.name;
        if limits.rules >= MAX_RULES {
            lost(
                &mut r.notices,
                line,
                format_args!("rule '{name}': more than {MAX_RULES} rules: dualwan takes no more"),
            );
            break;
        }
        if limits.slots + slots > RULE_SLOTS {
            lost(
                &mut r.notices,
                line,
                format_args!(
                    "rule '{name}': more than {RULE_SLOTS} port combinations in all rules: dualwan takes no more"
                ),
            );
            break;
        }
        if new_set && limits.sets.len() >= BALANCE_SETS {
            lost(&mut r.notices, line, format_args!(
                "rule '{name}': more than {BALANCE_SETS} different sets of interfaces to balance over: dualwan takes no more"
            ));
            break;
        }
        limits.rules += 1;
        limits.slots += slots;
        if let (Some(s), true) = (set, new_set) {
            limits.sets.push(s);
        }
        let mut unique = name.clone();
        let mut n = 1;
        while limits.names.contains(&unique) {
            n += 1;
            unique = format!("{name}_{n}");
        }
        let mut s = Section::new("rule", &unique);
        limits.names.push(unique);
        if let Some(a) = src {
            s.option("src_ip", &a);
        }
        if let Some(a) = dest {
            s.option("dest_ip", &a);
        }
        if let Some(proto) = r.proto {
            s.option("proto", &proto);
        }
        for (option, (count, ports)) in PORTS.iter().zip(&r.ports) {
            if *count > 0 {
                s.option(option, ports);
            }
        }
        if let Some(d) = &r.src_iface {
            s.option("src_iface", d);
        }
        if *fams != BOTH && src.or(dest).is_none() {
            s.option("family", &FAMILY[usize::from(fams[1])]);
        }
        for &w in u.wans.wans() {
            s.list("use", &ctx.read.wans[usize::from(w)].name);
        }
        if u.how != How::Ordered {
            s.list("use", &"balance");
        }
        match policy.last_resort {
            LastResort::Unreachable => s.option("last_resort", &"unreachable"),
            LastResort::Blackhole => s.option("last_resort", &"blackhole"),
            LastResort::Main => {}
        }
        sections.push(s);
    }
    let notices = core::mem::take(&mut r.notices);
    match sections.first_mut() {
        Some(first) => first.notices = notices,
        None => out.rules.push(Section::dropped("rule", notices)),
    }
    out.rules.append(&mut sections);
}

/// Each interface's metric and weight (after `network`), and `flush_conntrack`: mwan3
/// flushes the whole table at an interface's events; dualwan flushes the connections
/// NAT'd to the interface traffic leaves, when it went down (`on_down`) or at any switch
/// (`on_switch`). Flushing when an interface comes up (`ifup`, `connected`) is there to
/// move connections back to it: `on_switch` on the interfaces they leave.
pub(super) fn write_interfaces(read: &Read<'_>, arr: &Arrangement, out: &mut Output) {
    let sides = &read.sides;
    let flush = |w: usize, up: bool| {
        read.wans[w].included.iter().any(|&k| if up { sides[k].flush_up } else { sides[k].flush_down })
    };
    for (w, wan) in read.wans.iter().enumerate() {
        let section = &mut out.interfaces[wan.section];
        let mut decided = Section::default();
        decided.option("metric", &arr.metric[w]);
        if arr.weight[w] != 1 {
            decided.option("weight", &arr.weight[w]);
        }
        section.body.insert_str(section.mark, &decided.body);
        let switch = wan.enabled && (0..read.wans.len()).any(|x| x != w && read.wans[x].enabled && flush(x, true));
        let value = if switch {
            "on_switch"
        } else if flush(w, false) {
            "on_down"
        } else {
            "none"
        };
        if flush(w, true) {
            let line = wan.included.iter().map(|&k| sides[k].flush_line).find(|&l| l != wan.line).unwrap_or(wan.line);
            note(&mut section.notices, line, format_args!(
                "flush_conntrack ifup/connected: to move connections back to '{}', dualwan flushes those of the interface traffic leaves (on_switch there)",
                wan.name
            ));
        }
        section.option("flush_conntrack", &value);
    }
}
