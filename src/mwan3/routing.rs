//! mwan3's members, policies and rules → dualwan's globals (`mode`, `last_resort`), each
//! interface's `metric`, `weight` and `flush_conntrack`, and `config rule` sections.
//!
//! mwan3 sends a rule's traffic to a policy: of its members (an interface, `metric`
//! default 1, `weight` default 1; a metric above 256 leaves the member out) that are online,
//! those of the lowest metric share new connections by weight; with none online, the
//! policy's `last_resort` (`unreachable`, the default, `blackhole`, or `default`: the main
//! table). Rules (`src_ip`, `src_port`, `dest_ip`, `dest_port`, `proto` default all,
//! `src_iface` a netifd interface, `family` default any, `ipset`, `sticky` with `timeout`,
//! `logging`, `use_policy`: a policy or `default`, `unreachable`, `blackhole`) are tried in
//! file order, the first match wins, and what no rule matches uses the main table.
//!
//! dualwan has one arrangement of the interfaces (`mode`, `metric`, `weight`) for the
//! traffic no rule takes. The policy of the first rule that takes all traffic (mwan3's
//! `default_rule_v4`) gives it; that rule then needs no section of its own. Other rules get
//! `use` lists: the interfaces in order of preference (a policy whose metrics all differ),
//! `balance` alone (the globals' tiers), or the named interfaces and `balance` (one tier,
//! by weight).

use super::emit::{Output, Section};
use super::network::Network;
use super::source::Read;
use super::{lost, note, sort_by_key, Notice};
use crate::route::{Family, Prefix};
use crate::uci::{Package, SectionRef};
use core::net::IpAddr;

/// Most `config rule` sections dualwan takes.
const MAX_RULES: usize = 16;
/// Kernel rules the `config rule` sections may take in all, one per port combination.
const RULE_SLOTS: usize = 80;
/// Different sets of named interfaces the rules may balance over.
const BALANCE_SETS: usize = 8;
/// mwan3 leaves out members whose metric is higher.
const MEMBER_METRIC_MAX: u32 = 256;
/// mwan3 skips policies and rules with longer names (they name its iptables chains).
const CHAIN_NAME_MAX: usize = 15;
/// Most ports and ranges in one `src_port` or `dest_port`.
const PORTS_MAX: usize = 16;
/// dualwan's weights.
const WEIGHT_MAX: u32 = 100;
/// A family set, by [`Family::index`].
type Families = [bool; 2];
const BOTH: Families = [true, true];

fn family_word(f: usize) -> &'static str {
    ["ipv4", "ipv6"][f]
}

/// One member: an interface of a policy with its metric and weight.
#[derive(Clone, Debug)]
struct Member {
    /// The dualwan interface.
    wan: usize,
    /// Its section's family is IPv6.
    v6: bool,
    metric: u32,
    weight: u32,
}

/// What a policy's traffic gets while none of its members is online.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum LastResort {
    Unreachable,
    Blackhole,
    /// mwan3's `default`: the main table.
    Main,
}

#[derive(Debug)]
struct Policy<'a> {
    name: &'a str,
    /// Members whose settings are part of a dualwan interface, in `use_member` order.
    members: Vec<Member>,
    last_resort: LastResort,
    /// Its name is too long: mwan3 makes no chain of it.
    skipped: bool,
}

/// Where a rule sends its traffic.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Target {
    Policy(usize),
}

/// One mwan3 rule, read.
#[derive(Debug)]
struct Rule {
    name: String,
    line: u32,
    /// Families it can match.
    families: Families,
    /// Source prefixes (a comma list), none for any.
    src: Vec<Prefix>,
    dest: Vec<Prefix>,
    /// `tcp`, `udp` or `icmp`; `None` for all.
    proto: Option<&'static str>,
    src_port: Vec<(u16, u16)>,
    dest_port: Vec<(u16, u16)>,
    /// The device of `src_iface`.
    src_iface: Option<String>,
    target: Option<Target>,
    notices: Vec<Notice>,
    /// Why it has no dualwan rule.
    refused: Option<Notice>,
}

impl Rule {
    /// Takes all traffic of its families.
    fn is_catch_all(&self) -> bool {
        self.refused.is_none()
            && self.src.is_empty()
            && self.dest.is_empty()
            && self.proto.is_none()
            && self.src_iface.is_none()
            && self.target.is_some()
    }
}

/// What a policy is in dualwan, for one family.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Use {
    /// No member of the family.
    Empty,
    /// These interfaces in this order (with the policy's metric of each).
    Ordered(Vec<(usize, u32)>),
    /// These interfaces by weight: the named ones and `balance`.
    Named(Vec<usize>),
    /// The globals' arrangement: `balance` alone.
    Global,
}

/// The globals' arrangement of the interfaces.
#[derive(Debug)]
struct Arrangement {
    metric: Vec<u32>,
    weight: Vec<u32>,
    balance: bool,
    /// The catch-all's policy.
    main: Option<usize>,
}

/// Everything a rule's translation needs.
struct Ctx<'r, 'a> {
    read: &'r Read<'a>,
    policies: &'r [Policy<'a>],
    arr: &'r Arrangement,
}

/// Translates members, policies and rules into `out`.
pub(super) fn translate(pkg: &Package, net: &Network<'_>, read: &Read<'_>, out: &mut Output) {
    let members = read_members(pkg, read, &mut out.globals.notices);
    let policies = read_policies(pkg, &members, &mut out.globals.notices);
    let rules: Vec<Rule> = pkg
        .sections()
        .filter(|s| s.ty() == "rule")
        .enumerate()
        .map(|(i, s)| read_rule(&s, i, net, &policies))
        .collect();
    // The catch-all of IPv4 traffic if there is one (an IPv6 one may come first).
    let catch_all = |f: usize| rules.iter().find(|r| r.is_catch_all() && r.families[f]);
    let main = catch_all(0).or_else(|| catch_all(1)).and_then(|r| r.target).map(|Target::Policy(p)| p);
    let arr = arrange(read, &policies, main, out);

    out.globals.option("mode", if arr.balance { "balance" } else { "failover" });
    let last_resort = main.map_or(LastResort::Main, |p| policies[p].last_resort);
    if last_resort == LastResort::Blackhole {
        let line = catch_all(0).or_else(|| catch_all(1)).map_or(0, |r| r.line);
        lost(&mut out.globals.notices, line, format_args!(
            "last_resort 'blackhole' of policy '{}': with no interface up dualwan's globals reject traffic (unreachable) rather than drop it",
            policies[main.unwrap_or(0)].name
        ));
    }
    out.globals.option("last_resort", if last_resort == LastResort::Main { "main" } else { "unreachable" });

    let ctx = Ctx { read, policies: &policies, arr: &arr };
    write_rules(&ctx, rules, out);
    write_interfaces(read, &arr, out);
}

fn read_members(pkg: &Package, read: &Read<'_>, notices: &mut Vec<Notice>) -> Vec<(String, Option<Member>)> {
    let mut members = Vec::new();
    for s in pkg.sections().filter(|s| s.ty() == "member") {
        let Some(name) = s.name() else { continue };
        let mut lost = |line: u32, text: String| notices.push(Notice::lost(line, text));
        let mut number = |option: &str, default: u32| match value(&s, option) {
            None => default,
            Some((v, line)) => uint(v).unwrap_or_else(|| {
                lost(line, format!("member '{name}': {option} '{v}' is not a whole number: {default} taken"));
                default
            }),
        };
        let (metric, weight) = (number("metric", 1), number("weight", 1));
        for o in s.options().filter(|o| !matches!(o.name(), "interface" | "metric" | "weight")) {
            lost(o.line(), format!("member '{name}': option '{}' is not an option of mwan3's members", o.name()));
        }
        let member = match value(&s, "interface") {
            None => {
                lost(s.line(), format!("member '{name}' has no interface"));
                None
            }
            Some((iface, line)) => match read.wan(iface) {
                _ if metric > MEMBER_METRIC_MAX => {
                    note(
                        notices,
                        line,
                        format_args!("member '{name}': metric {metric} is above 256, which mwan3 leaves out"),
                    );
                    None
                }
                Some((wan, true)) => {
                    let v6 = read.sides.iter().find(|s| s.name == iface).is_some_and(|s| s.v6);
                    Some(Member { wan, v6, metric, weight })
                }
                // The disabled half of a pair: never online in mwan3 either.
                Some((_, false)) => None,
                None => {
                    let known = read.sides.iter().any(|s| s.name == iface);
                    let why = if known { "is not translated" } else { "is no interface section" };
                    lost(line, format!("member '{name}': interface '{iface}' {why}"));
                    None
                }
            },
        };
        members.push((name.to_string(), member));
    }
    members
}

fn read_policies<'a>(
    pkg: &'a Package,
    members: &[(String, Option<Member>)],
    notices: &mut Vec<Notice>,
) -> Vec<Policy<'a>> {
    let mut policies = Vec::new();
    for s in pkg.sections().filter(|s| s.ty() == "policy") {
        let Some(name) = s.name() else { continue };
        let mut list = Vec::new();
        if let Some(o) = s.option("use_member") {
            if !o.is_list() {
                note(notices, o.line(), format_args!(
                    "policy '{name}': use_member is an option, not a list: mwan3 reads no member from it; read as the list it was meant to be"
                ));
            }
            for (v, line) in o.values() {
                match members.iter().find(|(n, _)| n == v) {
                    Some((_, Some(m))) => list.push(m.clone()),
                    Some((_, None)) => {}
                    None => lost(notices, line, format_args!("policy '{name}': member '{v}' does not exist")),
                }
            }
        }
        let last_resort = match value(&s, "last_resort").map(|(v, _)| v) {
            Some("blackhole") => LastResort::Blackhole,
            Some("default") => LastResort::Main,
            _ => LastResort::Unreachable,
        };
        for o in s.options().filter(|o| !matches!(o.name(), "use_member" | "last_resort")) {
            lost(
                notices,
                o.line(),
                format_args!("policy '{name}': option '{}' is not an option of mwan3's policies", o.name()),
            );
        }
        let skipped = name.len() > CHAIN_NAME_MAX;
        policies.push(Policy { name, members: list, last_resort, skipped });
    }
    policies
}

/// The last value of option `name`, and its line. Out of line: called in many places.
#[inline(never)]
fn value<'a>(s: &SectionRef<'a>, name: &str) -> Option<(&'a str, u32)> {
    s.option(name)?.values().last()
}

fn uint(v: &str) -> Option<u32> {
    (!v.is_empty() && v.len() <= 9 && v.bytes().all(|b| b.is_ascii_digit())).then(|| v.parse().ok())?
}

/// Reads rule `index` (counted among rules) as far as dualwan can say the same.
fn read_rule(s: &SectionRef<'_>, index: usize, net: &Network<'_>, policies: &[Policy<'_>]) -> Rule {
    let line = s.line();
    let mut r = Rule {
        name: String::new(),
        line,
        families: BOTH,
        src: Vec::new(),
        dest: Vec::new(),
        proto: None,
        src_port: Vec::new(),
        dest_port: Vec::new(),
        src_iface: None,
        target: None,
        notices: Vec::new(),
        refused: None,
    };
    let refuse = |r: &mut Rule, line: u32, text: String| {
        if r.refused.is_none() {
            r.refused = Some(Notice::lost(line, text));
        }
    };
    r.name = match s.name() {
        Some(name) if name.len() > CHAIN_NAME_MAX => {
            let text = format!("rule '{name}': its name is longer than {CHAIN_NAME_MAX} characters, so mwan3 skips it");
            r.refused = Some(Notice::note(line, text));
            return r;
        }
        Some(name) => name.into(),
        None => {
            let name = format!("rule_{}", index + 1);
            note(&mut r.notices, line, format_args!("a rule without a name: called '{name}'"));
            name
        }
    };
    let label = format!("rule '{}'", r.name);

    match value(s, "family") {
        Some(("ipv4", _)) => r.families = [true, false],
        Some(("ipv6", _)) => r.families = [false, true],
        Some(("any", _)) | None => {}
        Some((v, l)) => {
            note(&mut r.notices, l, format_args!("family '{v}' is neither ipv4 nor ipv6: any, as mwan3 reads it"))
        }
    }
    for (option, into_src) in [("src_ip", true), ("dest_ip", false)] {
        let Some((v, l)) = value(s, option) else { continue };
        for item in v.split(',') {
            match parse_prefix(item.trim()) {
                Ok(p) => {
                    // An address of one family keeps mwan3 from using the rule for the other.
                    r.families[1 - p.family().index()] = false;
                    if p.len == 0 {
                        continue;
                    }
                    if into_src {
                        r.src.push(p)
                    } else {
                        r.dest.push(p)
                    }
                }
                Err(why) => refuse(&mut r, l, format!("{label}: {option} '{item}' {why}")),
            }
        }
    }
    match value(s, "proto") {
        None | Some(("all", _)) => {}
        Some(("tcp" | "6", _)) => r.proto = Some("tcp"),
        Some(("udp" | "17", _)) => r.proto = Some("udp"),
        Some(("icmp" | "1", l)) => {
            r.proto = Some("icmp");
            if r.families[1] {
                let text = "proto icmp: in mwan3 it matches IPv4 only (ip6tables' icmp is not ICMPv6): family ipv4";
                r.notices.push(Notice::note(l, text.into()));
            }
            r.families[1] = false;
        }
        Some(("icmpv6" | "ipv6-icmp" | "58", _)) => {
            r.proto = Some("icmp");
            r.families[0] = false;
        }
        Some((v, l)) => refuse(&mut r, l, format!("{label}: proto '{v}': dualwan's rules take tcp, udp, icmp or all")),
    }
    for option in ["src_port", "dest_port"] {
        let Some((v, l)) = value(s, option) else { continue };
        if !matches!(r.proto, Some("tcp" | "udp")) {
            note(&mut r.notices, l, format_args!("{option} '{v}' without proto tcp or udp: mwan3 ignores it too"));
            continue;
        }
        match parse_ports(v) {
            Some(ports) if option == "src_port" => r.src_port = ports,
            Some(ports) => r.dest_port = ports,
            None => refuse(
                &mut r,
                l,
                format!(
                    "{label}: {option} '{v}' is not ports dualwan takes (1-65535, a:b ranges, at most {PORTS_MAX})"
                ),
            ),
        }
    }
    if let Some((iface, l)) = value(s, "src_iface") {
        match net.device(iface).filter(|d| valid_device(d)) {
            Some(device) => {
                note(&mut r.notices, l, format_args!("src_iface '{iface}' is device '{device}' (network config)"));
                r.src_iface = Some(device);
            }
            None if !net.known() => refuse(
                &mut r,
                l,
                format!("{label}: src_iface '{iface}': without the network config its device is unknown"),
            ),
            None => {
                refuse(&mut r, l, format!("{label}: src_iface '{iface}': the network config gives no device for it"))
            }
        }
    }
    if let Some((v, l)) = value(s, "ipset") {
        refuse(
            &mut r,
            l,
            format!("{label}: ipset '{v}': dualwan's rules select by address, port and incoming device, not by set"),
        );
    }
    if let Some((_, l)) = value(s, "sticky").filter(|(v, _)| *v == "1") {
        let timeout = value(s, "timeout").map_or("600", |(t, _)| t);
        lost(&mut r.notices, l, format_args!("sticky (for {timeout} s): dualwan keeps each connection on its interface but does not keep a source address on one"));
    }
    if let Some((_, l)) = value(s, "logging").filter(|(v, _)| *v == "1") {
        lost(&mut r.notices, l, format_args!("logging: dualwan logs its decisions, not the packets a rule matches"));
    }
    for o in s.options() {
        let known = [
            "src_ip",
            "dest_ip",
            "proto",
            "src_port",
            "dest_port",
            "src_iface",
            "family",
            "ipset",
            "sticky",
            "timeout",
            "logging",
            "use_policy",
        ];
        if !known.contains(&o.name()) {
            lost(&mut r.notices, o.line(), format_args!("option '{}' is not an option of mwan3's rules", o.name()));
        }
    }
    match value(s, "use_policy") {
        None => {
            let text = format!("{label} has no use_policy: mwan3 ignores it");
            if r.refused.is_none() {
                r.refused = Some(Notice::note(line, text));
            }
        }
        Some(("default", l)) => refuse(
            &mut r,
            l,
            format!("{label}: use_policy 'default' (the main table): dualwan's rules send traffic to interfaces (routes of the main table more specific than a default route always win)"),
        ),
        Some((v @ ("unreachable" | "blackhole"), l)) => {
            refuse(&mut r, l, format!("{label}: use_policy '{v}': dualwan's rules send traffic to interfaces, and {v} only when none is up"))
        }
        Some((v, l)) => match policies.iter().position(|p| p.name == v) {
            Some(p) if policies[p].skipped => refuse(
                &mut r,
                l,
                format!("{label}: policy '{v}' has a name longer than {CHAIN_NAME_MAX} characters, so mwan3 skips it"),
            ),
            Some(p) => r.target = Some(Target::Policy(p)),
            None => refuse(&mut r, l, format!("{label}: use_policy '{v}' names no policy")),
        },
    }
    if r.families == [false, false] && r.refused.is_none() {
        r.refused =
            Some(Notice::note(line, format!("{label} never matches in mwan3: its addresses and family disagree")));
    }
    r
}

/// A kernel device name dualwan takes.
fn valid_device(d: &str) -> bool {
    !d.is_empty() && d.len() <= crate::kernel::IFNAME_MAX && !d.contains(['/', ':', ' ', '\t'])
}

/// An address or prefix as iptables reads it (`192.0.2.0/24`, `192.0.2.0/255.255.255.0`,
/// `2001:db8::/32`), host bits cleared as iptables clears them.
fn parse_prefix(v: &str) -> Result<Prefix, &'static str> {
    if v.starts_with('!') {
        return Err("is negated: dualwan's rules select, never exclude");
    }
    let (addr, len) = v.split_once('/').unwrap_or((v, ""));
    let Ok(addr) = addr.parse::<IpAddr>() else {
        return Err(if addr.chars().any(|c| c.is_ascii_alphabetic()) && !addr.contains(':') {
            "is a host name: dualwan takes addresses only"
        } else {
            "is not an address"
        });
    };
    let max = Family::of(&addr).max_len();
    let len = match (len, addr) {
        ("", _) => max,
        (l, _) if l.bytes().all(|b| b.is_ascii_digit()) && l.len() <= 3 => match l.parse::<u8>() {
            Ok(n) if n <= max => n,
            _ => return Err("has a prefix length beyond its family's"),
        },
        (mask, IpAddr::V4(_)) => match mask.parse::<core::net::Ipv4Addr>().map(u32::from) {
            Ok(m) if m.leading_ones() + m.trailing_zeros() == 32 => m.leading_ones() as u8,
            _ => return Err("has a mask that is not a prefix"),
        },
        _ => return Err("has a mask that is not a prefix"),
    };
    let addr = match addr {
        IpAddr::V4(a) => IpAddr::V4((u32::from(a) & u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)).into()),
        IpAddr::V6(a) => IpAddr::V6((u128::from(a) & u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)).into()),
    };
    Ok(Prefix { addr, len })
}

fn show_prefix(p: &Prefix) -> String {
    if p.len == p.family().max_len() {
        p.addr.to_string()
    } else {
        format!("{}/{}", p.addr, p.len)
    }
}

/// `80,443,1000:2000` (iptables' multiport; `a-b` taken too) as port ranges.
fn parse_ports(v: &str) -> Option<Vec<(u16, u16)>> {
    let port =
        |s: &str| s.bytes().all(|b| b.is_ascii_digit()).then(|| s.parse::<u16>().ok()).flatten().filter(|&p| p > 0);
    let ports: Option<Vec<(u16, u16)>> = v
        .split(',')
        .map(|item| {
            let item = item.trim();
            let (a, b) = item.split_once([':', '-']).unwrap_or((item, item));
            let (a, b) = (port(a)?, port(b)?);
            (a <= b).then_some((a, b))
        })
        .collect();
    ports.filter(|p| !p.is_empty() && p.len() <= PORTS_MAX)
}

fn show_ports(ports: &[(u16, u16)]) -> String {
    let items: Vec<String> =
        ports.iter().map(|&(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") }).collect();
    items.join(",")
}

/// A policy's members of family `f` in tiers: by metric, lowest first, each tier's
/// interfaces with their weights in `use_member` order (an interface counted once).
fn tiers(p: &Policy<'_>, f: usize) -> Vec<(u32, Vec<(usize, u32)>)> {
    let mut seen = Vec::new();
    let mut members: Vec<&Member> = Vec::new();
    for m in p.members.iter().filter(|m| usize::from(m.v6) == f) {
        if !seen.contains(&m.wan) {
            seen.push(m.wan);
            members.push(m);
        }
    }
    sort_by_key(&mut members, |m| m.metric);
    let mut tiers: Vec<(u32, Vec<(usize, u32)>)> = Vec::new();
    for m in members {
        match tiers.last_mut() {
            Some((metric, tier)) if *metric == m.metric => tier.push((m.wan, m.weight)),
            _ => tiers.push((m.metric, vec![(m.wan, m.weight)])),
        }
    }
    tiers
}

/// The globals' arrangement: the catch-all's policy gives each interface its metric and,
/// where it balances, its weight; interfaces it leaves out come after, one metric each.
fn arrange(read: &Read<'_>, policies: &[Policy<'_>], main: Option<usize>, out: &mut Output) -> Arrangement {
    let n = read.wans.len();
    let mut metric: Vec<Option<u32>> = vec![None; n];
    let mut weight: Vec<Option<u32>> = vec![None; n];
    let mut balance = false;
    let note = |out: &mut Output, w: usize, notice: Notice| out.interfaces[read.wans[w].section].notices.push(notice);
    if let Some(p) = main {
        let policy = &policies[p];
        for f in 0..2 {
            for (m, tier) in tiers(policy, f) {
                balance |= tier.len() > 1;
                for &(w, wt) in &tier {
                    match metric[w] {
                        None => metric[w] = Some(m),
                        Some(x) if x != m => {
                            let text = format!(
                                "policy '{}' gives it metric {x} for ipv4 and {m} for ipv6: one metric per dualwan interface, {x} written",
                                policy.name
                            );
                            note(out, w, Notice::lost(read.wans[w].line, text));
                        }
                        Some(_) => {}
                    }
                    if tier.len() > 1 {
                        weight[w].get_or_insert(wt);
                    }
                }
            }
        }
    }
    // Weights of interfaces that share traffic only in other policies.
    for policy in policies {
        for f in 0..2 {
            for (_, tier) in tiers(policy, f).into_iter().filter(|(_, t)| t.len() > 1) {
                for (w, wt) in tier {
                    weight[w].get_or_insert(wt);
                }
            }
        }
    }
    if main.is_none() {
        // No catch-all: each interface by its best metric in any policy.
        for policy in policies {
            for m in &policy.members {
                metric[m.wan] = Some(metric[m.wan].map_or(m.metric, |x| x.min(m.metric)));
            }
        }
    }
    if !balance {
        // Failover: enabled interfaces need metrics of their own; the order stays.
        let mut order: Vec<usize> = (0..n).filter(|&w| read.wans[w].enabled && metric[w].is_some()).collect();
        sort_by_key(&mut order, |&w| (metric[w], w));
        let mut last: Option<u32> = None;
        for w in order {
            let m = metric[w].unwrap_or(0);
            if let Some(l) = last.filter(|&l| m <= l) {
                let text = format!(
                    "metric {m} is another interface's too: in failover mode each has its own, {} written",
                    l + 1
                );
                note(out, w, Notice::note(read.wans[w].line, text));
                metric[w] = Some(l + 1);
            }
            last = metric[w];
        }
    }
    let mut next = metric.iter().flatten().max().map_or(1, |m| m + 1);
    for (w, m) in metric.iter_mut().enumerate() {
        if m.is_some() {
            continue;
        }
        *m = Some(next);
        if let (Some(p), true) = (main, read.wans[w].enabled) {
            let text = format!(
                "not in policy '{}', which takes all traffic: dualwan's globals use it when none of that policy's interfaces is up (metric {next})",
                policies[p].name
            );
            note(out, w, Notice::lost(read.wans[w].line, text));
        }
        next += 1;
    }
    let metric: Vec<u32> = metric.into_iter().map(|m| m.unwrap_or(0)).collect();
    let weight = scale_weights(weight, &mut out.globals.notices);
    Arrangement { metric, weight, balance, main }
}

/// Weights in dualwan's 1-100, in the same proportions as far as they go.
fn scale_weights(weight: Vec<Option<u32>>, notices: &mut Vec<Notice>) -> Vec<u32> {
    let mut weight: Vec<u32> = weight.into_iter().map(|w| w.unwrap_or(1)).collect();
    if weight.contains(&0) {
        notices
            .push(Notice::lost(0, "a weight of 0 (mwan3 then picks the interface only when alone): 1 written".into()));
        weight.iter_mut().filter(|w| **w == 0).for_each(|w| *w = 1);
    }
    let gcd = weight.iter().copied().fold(0, gcd);
    let max = weight.iter().copied().max().unwrap_or(1);
    if max > WEIGHT_MAX && gcd > 0 {
        weight.iter_mut().for_each(|w| *w /= gcd);
        let max = weight.iter().copied().max().unwrap_or(1);
        if max > WEIGHT_MAX {
            weight.iter_mut().for_each(|w| *w = ((*w * WEIGHT_MAX + max / 2) / max).max(1));
            lost(notices, 0, format_args!("weights above {WEIGHT_MAX}: scaled down, proportions rounded"));
        }
    }
    weight
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Policy `p` for family `f`, with notices about what dualwan says differently.
fn use_for(ctx: &Ctx<'_, '_>, p: usize, f: usize, notices: &mut Vec<Notice>, line: u32) -> Use {
    let policy = &ctx.policies[p];
    let tiers = tiers(policy, f);
    let names = |wans: &mut dyn Iterator<Item = usize>| -> String {
        wans.map(|w| ctx.read.wans[w].name.as_str()).collect::<Vec<_>>().join(", ")
    };
    if tiers.is_empty() {
        return Use::Empty;
    }
    // The catch-all's policy is what the globals say, whatever the family.
    if ctx.arr.balance && ctx.arr.main == Some(p) {
        check_weights(ctx, policy, &tiers, notices, line);
        return Use::Global;
    }
    if tiers.iter().all(|(_, t)| t.len() == 1) {
        return Use::Ordered(tiers.iter().map(|(m, t)| (t[0].0, *m)).collect());
    }
    check_weights(ctx, policy, &tiers, notices, line);
    if ctx.arr.balance && same_as_global(ctx, &tiers, f) {
        return Use::Global;
    }
    if let [(_, tier)] = &tiers[..] {
        return Use::Named(tier.iter().map(|&(w, _)| w).collect());
    }
    if tiers[0].1.len() > 1 {
        let rest = names(&mut tiers[1..].iter().flat_map(|(_, t)| t.iter().map(|&(w, _)| w)));
        lost(notices, line, format_args!(
            "policy '{}' ({}): falling back to {rest} after the first tier: dualwan balances over the named interfaces without a fallback",
            policy.name,
            family_word(f)
        ));
        return Use::Named(tiers[0].1.iter().map(|&(w, _)| w).collect());
    }
    for (_, tier) in tiers.iter().filter(|(_, t)| t.len() > 1) {
        lost(
            notices,
            line,
            format_args!(
                "policy '{}' ({}): {} share a tier: dualwan uses them in order",
                policy.name,
                family_word(f),
                names(&mut tier.iter().map(|&(w, _)| w))
            ),
        );
    }
    Use::Ordered(tiers.iter().flat_map(|(m, t)| t.iter().map(move |&(w, _)| (w, *m))).collect())
}

/// The globals' tiers of family `f` are the policy's (enabled interfaces only).
fn same_as_global(ctx: &Ctx<'_, '_>, tiers: &[(u32, Vec<(usize, u32)>)], f: usize) -> bool {
    let wans = &ctx.read.wans;
    let live = |w: usize| wans[w].enabled && wans[w].tracks[f];
    let mut ours: Vec<Vec<usize>> =
        tiers.iter().map(|(_, t)| t.iter().map(|&(w, _)| w).filter(|&w| live(w)).collect::<Vec<_>>()).collect();
    ours.retain(|t| !t.is_empty());
    let mut by_metric: Vec<usize> = (0..wans.len()).filter(|&w| live(w)).collect();
    sort_by_key(&mut by_metric, |&w| (ctx.arr.metric[w], w));
    let mut global: Vec<Vec<usize>> = Vec::new();
    for w in by_metric {
        match global.last_mut() {
            Some(t) if ctx.arr.metric[t[0]] == ctx.arr.metric[w] => t.push(w),
            _ => global.push(vec![w]),
        }
    }
    for t in ours.iter_mut().chain(global.iter_mut()) {
        sort_by_key(t, |&w| w);
    }
    ours == global
}

/// Within a tier, the policy's weights must be in the interfaces' proportions.
fn check_weights(
    ctx: &Ctx<'_, '_>,
    policy: &Policy<'_>,
    tiers: &[(u32, Vec<(usize, u32)>)],
    notices: &mut Vec<Notice>,
    line: u32,
) {
    let weight = &ctx.arr.weight;
    for (_, tier) in tiers.iter().filter(|(_, t)| t.len() > 1) {
        let (w0, p0) = tier[0];
        if tier.iter().all(|&(w, p)| u64::from(p) * u64::from(weight[w0]) == u64::from(p0) * u64::from(weight[w])) {
            continue;
        }
        let show = |pick: &dyn Fn(usize, u32) -> u32| {
            tier.iter()
                .map(|&(w, p)| format!("{} {}", ctx.read.wans[w].name, pick(w, p)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let text = format!(
            "policy '{}' weighs {}: dualwan weighs by interface, {}",
            policy.name,
            show(&|_, p| p),
            show(&|w, _| weight[w])
        );
        if !notices.iter().any(|n| n.text == text) {
            notices.push(Notice::lost(line, text));
        }
    }
}

/// Restricts a use to the interfaces that track family `f`.
fn only(ctx: &Ctx<'_, '_>, u: &Use, f: usize) -> Use {
    let tracks = |w: &usize| ctx.read.wans[*w].tracks[f];
    match u {
        Use::Ordered(l) => match l.iter().filter(|(w, _)| tracks(w)).copied().collect::<Vec<_>>() {
            l if l.is_empty() => Use::Empty,
            l => Use::Ordered(l),
        },
        Use::Named(s) => match s.iter().filter(|w| tracks(w)).copied().collect::<Vec<_>>() {
            s if s.is_empty() => Use::Empty,
            s => Use::Named(s),
        },
        other => other.clone(),
    }
}

/// Two uses say the same (one interface in order is one interface by weight).
fn same(a: &Use, b: &Use) -> bool {
    let set = |u: &Use| -> Option<Vec<usize>> {
        let mut s: Vec<usize> = match u {
            Use::Named(s) => s.clone(),
            Use::Ordered(l) if l.len() == 1 => vec![l[0].0],
            _ => return None,
        };
        sort_by_key(&mut s, |&w| w);
        Some(s)
    };
    match (a, b) {
        (Use::Ordered(x), Use::Ordered(y)) => x.iter().map(|p| p.0).eq(y.iter().map(|p| p.0)),
        _ if set(a).is_some() => set(a) == set(b),
        _ => a == b,
    }
}

/// One use for both families, if one says what each family's says.
fn merge(ctx: &Ctx<'_, '_>, u4: &Use, u6: &Use) -> Option<Use> {
    let union = |a: &[usize], b: &[usize]| {
        let mut s = a.to_vec();
        s.extend(b.iter().filter(|w| !a.contains(w)));
        s
    };
    let candidate = match (u4, u6) {
        (Use::Empty, x) | (x, Use::Empty) => x.clone(),
        (Use::Global, Use::Global) => Use::Global,
        (Use::Ordered(a), Use::Ordered(b)) => {
            let mut all: Vec<(usize, u32)> = a.clone();
            for &(w, m) in b {
                match all.iter_mut().find(|(x, _)| *x == w) {
                    Some(e) => e.1 = e.1.min(m),
                    None => all.push((w, m)),
                }
            }
            sort_by_key(&mut all, |&(_, m)| m);
            Use::Ordered(all)
        }
        (Use::Named(a), Use::Named(b)) => Use::Named(union(a, b)),
        (Use::Named(a), Use::Ordered(b)) | (Use::Ordered(b), Use::Named(a)) if b.len() == 1 => {
            Use::Named(union(a, &[b[0].0]))
        }
        _ => return None,
    };
    let fits = |u: &Use, f: usize| match (only(ctx, &candidate, f), u) {
        (Use::Empty, Use::Empty) => true,
        (c, u) => same(&c, u),
    };
    (fits(u4, 0) && fits(u6, 1)).then_some(candidate)
}

/// Running totals against dualwan's limits on rules.
#[derive(Default)]
struct Limits {
    rules: usize,
    slots: usize,
    sets: Vec<Vec<usize>>,
    names: Vec<String>,
}

fn write_rules(ctx: &Ctx<'_, '_>, rules: Vec<Rule>, out: &mut Output) {
    let mut covered: Families = [false; 2];
    let mut covered_by = [String::new(), String::new()];
    let mut global: Families = [false; 2];
    let mut limits = Limits::default();
    for mut r in rules {
        let dropped = |notices: Vec<Notice>| Section { ty: "rule", notices, ..Section::default() };
        if let Some(n) = r.refused.take() {
            r.notices.insert(0, n);
            out.rules.push(dropped(r.notices));
            continue;
        }
        let live: Families = [r.families[0] && !covered[0], r.families[1] && !covered[1]];
        if live == [false, false] {
            let by: Vec<&str> = (0..2).filter(|&f| r.families[f]).map(|f| covered_by[f].as_str()).collect();
            let text = format!(
                "rule '{}' never matches in mwan3: rule '{}' above takes all its traffic",
                r.name,
                by.join("', '")
            );
            r.notices.insert(0, Notice::note(r.line, text));
            out.rules.push(dropped(r.notices));
            continue;
        }
        let Some(Target::Policy(p)) = r.target else { continue };
        if r.is_catch_all() {
            for f in (0..2).filter(|&f| live[f]) {
                covered[f] = true;
                covered_by[f] = r.name.clone();
            }
            if ctx.arr.main == Some(p) {
                let fams: Vec<&str> = (0..2).filter(|&f| live[f]).map(family_word).collect();
                let text = format!(
                    "rule '{}' takes all {} traffic to policy '{}': the globals (mode, last_resort) and the interfaces' metric and weight say the same",
                    r.name,
                    fams.join(" and "),
                    ctx.policies[p].name
                );
                r.notices.insert(0, Notice::note(r.line, text));
                out.rules.push(dropped(r.notices));
                (0..2).filter(|&f| live[f]).for_each(|f| global[f] = true);
                continue;
            }
        }
        write_rule(ctx, r, p, live, &mut limits, out);
    }
    for f in 0..2 {
        let tracked = ctx.read.wans.iter().any(|w| w.enabled && w.tracks[f]);
        if tracked && !global[f] && !covered[f] {
            lost(&mut out.globals.notices, 0, format_args!(
                "no rule takes all {} traffic to a policy: mwan3 leaves what no rule takes to the main table, dualwan to the interfaces by metric",
                family_word(f)
            ));
        }
    }
}

/// One rule: one section, or one per family when the policy differs between them, or one
/// per address of a comma list.
fn write_rule(ctx: &Ctx<'_, '_>, mut r: Rule, p: usize, live: Families, limits: &mut Limits, out: &mut Output) {
    let line = r.line;
    let policy = &ctx.policies[p];
    // A family no enabled interface tracks is left alone by dualwan: what the policy does
    // with it does not matter (unless the rule is only about it).
    let tracked = |f: usize| ctx.read.wans.iter().any(|w| w.enabled && w.tracks[f]);
    let mut matters: Families = [live[0] && tracked(0), live[1] && tracked(1)];
    if matters == [false, false] {
        matters = live;
    }
    let uses: Vec<Use> =
        (0..2).map(|f| if matters[f] { use_for(ctx, p, f, &mut r.notices, line) } else { Use::Empty }).collect();
    let mut parts: Vec<(Families, Use)> = Vec::new();
    match (matters, merge(ctx, &uses[0], &uses[1])) {
        ([true, true], Some(u)) => parts.push((live, u)),
        ([true, true], None) => {
            let text = "its policy differs between ipv4 and ipv6: one dualwan rule for each".to_string();
            r.notices.push(Notice::note(line, text));
            parts.push(([true, false], uses[0].clone()));
            parts.push(([false, true], uses[1].clone()));
        }
        _ => parts.push((live, uses[matters[1] as usize].clone())),
    }
    let mut emitted = Vec::new();
    for (fams, u) in parts {
        if u == Use::Empty {
            let f: Vec<&str> = (0..2).filter(|&f| fams[f] && matters[f]).map(family_word).collect();
            lost(&mut r.notices, line, format_args!(
                "policy '{}' has no {} member: mwan3 gives the rule's {} traffic its last resort, dualwan lets it through to the next rules",
                policy.name,
                f.join(" or "),
                f.join(" and ")
            ));
            continue;
        }
        let srcs: Vec<Option<Prefix>> =
            if r.src.is_empty() { vec![None] } else { r.src.iter().copied().map(Some).collect() };
        let dests: Vec<Option<Prefix>> =
            if r.dest.is_empty() { vec![None] } else { r.dest.iter().copied().map(Some).collect() };
        for src in &srcs {
            for dest in &dests {
                let fam = src.or(*dest).map(|a| a.family().index());
                if src.zip(*dest).is_some_and(|(a, b)| a.family() != b.family()) || fam.is_some_and(|f| !fams[f]) {
                    continue;
                }
                emitted.push((fams, u.clone(), *src, *dest));
            }
        }
    }
    if emitted.len() > 1 && (r.src.len() > 1 || r.dest.len() > 1) {
        note(&mut r.notices, line, format_args!("an address list: one dualwan rule per address"));
    }
    let mut sections = Vec::new();
    for (fams, u, src, dest) in emitted {
        let slots = r.src_port.len().max(1) * r.dest_port.len().max(1);
        let set = match &u {
            Use::Named(s) => {
                let mut s = s.clone();
                sort_by_key(&mut s, |&w| w);
                Some(s)
            }
            _ => None,
        };
        let new_set = set.as_ref().is_some_and(|s| !limits.sets.contains(s));
        let full = if limits.rules >= MAX_RULES {
            Some(format!("more than {MAX_RULES} rules"))
        } else if limits.slots + slots > RULE_SLOTS {
            Some(format!("more than {RULE_SLOTS} port combinations in all rules"))
        } else if new_set && limits.sets.len() >= BALANCE_SETS {
            Some(format!("more than {BALANCE_SETS} different sets of interfaces to balance over"))
        } else {
            None
        };
        if let Some(why) = full {
            lost(&mut r.notices, line, format_args!("rule '{}': {why}: dualwan takes no more", r.name));
            break;
        }
        limits.rules += 1;
        limits.slots += slots;
        if let (Some(s), true) = (set, new_set) {
            limits.sets.push(s);
        }
        let mut name = r.name.clone();
        let mut n = 1;
        while limits.names.contains(&name) {
            n += 1;
            name = format!("{}_{n}", r.name);
        }
        limits.names.push(name.clone());
        let mut s = Section::new("rule", &name);
        if let Some(a) = src {
            s.option("src_ip", show_prefix(&a));
        }
        if let Some(a) = dest {
            s.option("dest_ip", show_prefix(&a));
        }
        if let Some(proto) = r.proto {
            s.option("proto", proto);
        }
        if !r.src_port.is_empty() {
            s.option("src_port", show_ports(&r.src_port));
        }
        if !r.dest_port.is_empty() {
            s.option("dest_port", show_ports(&r.dest_port));
        }
        if let Some(d) = &r.src_iface {
            s.option("src_iface", d);
        }
        if fams != BOTH && src.or(dest).is_none() {
            s.option("family", family_word(fams[1] as usize));
        }
        let wan = |w: usize| ctx.read.wans[w].name.clone();
        match u {
            Use::Ordered(l) => l.iter().for_each(|&(w, _)| s.list("use", wan(w))),
            Use::Named(set) => {
                set.iter().for_each(|&w| s.list("use", wan(w)));
                s.list("use", "balance");
            }
            Use::Global => s.list("use", "balance"),
            Use::Empty => {}
        }
        match policy.last_resort {
            LastResort::Unreachable => s.option("last_resort", "unreachable"),
            LastResort::Blackhole => s.option("last_resort", "blackhole"),
            LastResort::Main => {}
        }
        sections.push(s);
    }
    match sections.first_mut() {
        Some(first) => first.notices = core::mem::take(&mut r.notices),
        None => out.rules.push(Section { ty: "rule", notices: core::mem::take(&mut r.notices), ..Section::default() }),
    }
    out.rules.extend(sections);
}

/// Each interface's metric and weight (after `network`), and `flush_conntrack`: mwan3
/// flushes the whole table at an interface's events; dualwan flushes the connections
/// NAT'd to the interface traffic leaves, when it went down (`on_down`) or at any switch
/// (`on_switch`). Flushing when an interface comes up (`ifup`, `connected`) is there to
/// move connections back to it: `on_switch` on the interfaces they leave.
fn write_interfaces(read: &Read<'_>, arr: &Arrangement, out: &mut Output) {
    let sides = &read.sides;
    let flush = |w: usize, up: bool| {
        read.wans[w].included.iter().any(|&k| if up { sides[k].flush_up } else { sides[k].flush_down })
    };
    let enabled = |w: usize| read.wans[w].enabled;
    for (w, wan) in read.wans.iter().enumerate() {
        let section = &mut out.interfaces[wan.section];
        let at = section.options.iter().position(|o| o.name == "network").map_or(0, |i| i + 1);
        let mut extra = Section::default();
        extra.option("metric", arr.metric[w]);
        if arr.weight[w] != 1 {
            extra.option("weight", arr.weight[w]);
        }
        section.options.splice(at..at, extra.options);
        let switch = enabled(w) && (0..read.wans.len()).any(|x| x != w && enabled(x) && flush(x, true));
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
        section.option("flush_conntrack", value);
    }
}
