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
//!
//! Sets and lists of interfaces are small fixed arrays ([`Wans`]) and bit masks, not
//! vectors: the binary runs on routers, and this keeps the translator small in it.

use super::emit::{Output, Section};
use super::network::Network;
use super::source::Read;
use super::{digits, lost, note, uint, value, Notice};
use crate::config::MAX_WANS;
use crate::route::{Family, Prefix};
use crate::uci::{Package, SectionRef};
use core::fmt::{self, Write};
use core::net::{IpAddr, Ipv4Addr};

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
/// The families' names, by [`Family::index`].
const FAMILY: [&str; 2] = ["ipv4", "ipv6"];
/// `proto` values that dualwan's rules have (mwan3 takes names and numbers): the value,
/// dualwan's name, and the one family it matches in mwan3 (ICMP IPv4's, ICMPv6 IPv6's).
const PROTOS: [(&str, &str, Option<usize>); 9] = [
    ("tcp", "tcp", None),
    ("6", "tcp", None),
    ("udp", "udp", None),
    ("17", "udp", None),
    ("icmp", "icmp", Some(0)),
    ("1", "icmp", Some(0)),
    ("icmpv6", "icmp", Some(1)),
    ("ipv6-icmp", "icmp", Some(1)),
    ("58", "icmp", Some(1)),
];
/// The options of a rule that select its traffic by address, then by port.
const ADDRESSES: [&str; 2] = ["src_ip", "dest_ip"];
const PORTS: [&str; 2] = ["src_port", "dest_port"];
/// The options of mwan3's rules.
const RULE_OPTIONS: [&str; 12] = [
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

/// Interfaces in an order, each with a metric: a policy's members of one family (sorted by
/// metric, so that each run of one metric is a tier), or the interfaces a rule uses. Each
/// interface is there at most once, so there are at most [`MAX_WANS`].
#[derive(Copy, Clone)]
struct Wans {
    len: usize,
    wan: [u8; MAX_WANS],
    metric: [u32; MAX_WANS],
}

impl Wans {
    const NONE: Wans = Wans { len: 0, wan: [0; MAX_WANS], metric: [0; MAX_WANS] };

    /// The interfaces, in order.
    fn wans(&self) -> &[u8] {
        &self.wan[..self.len]
    }

    /// Adds an interface at the end unless it is there already; its index.
    fn add(&mut self, wan: usize, metric: u32) -> usize {
        if let Some(i) = self.wans().iter().position(|&w| usize::from(w) == wan) {
            return i;
        }
        let i = self.len;
        self.wan[i] = wan as u8;
        self.metric[i] = metric;
        self.len += 1;
        i
    }

    /// By metric, keeping the order of equal ones: an insertion sort (a handful of
    /// entries), far smaller in the binary than the standard library's sorts.
    fn sort_by_metric(&mut self) {
        for i in 1..self.len {
            let mut j = i;
            while j > 0 && self.metric[j - 1] > self.metric[j] {
                self.wan.swap(j - 1, j);
                self.metric.swap(j - 1, j);
                j -= 1;
            }
        }
    }

    /// Where the tier (the run of one metric) that starts at `i` ends.
    fn tier_end(&self, i: usize) -> usize {
        let mut end = i + 1;
        while end < self.len && self.metric[end] == self.metric[i] {
            end += 1;
        }
        end
    }

    /// Entry `i` shares its tier with another interface.
    fn shared(&self, i: usize) -> bool {
        self.tier_end(i) > i + 1 || (i > 0 && self.metric[i - 1] == self.metric[i])
    }

    /// The set of the interfaces, one bit each.
    fn set(&self) -> u32 {
        self.wans().iter().fold(0, |set, &w| set | 1 << w)
    }
}

/// One member: an interface of a policy with its metric and weight.
#[derive(Copy, Clone)]
struct Member {
    /// The dualwan interface.
    wan: usize,
    /// Its section's family is IPv6.
    v6: bool,
    metric: u32,
    weight: u32,
}

/// What a policy's traffic gets while none of its members is online.
#[derive(Copy, Clone, PartialEq, Eq)]
enum LastResort {
    Unreachable,
    Blackhole,
    /// mwan3's `default`: the main table.
    Main,
}

struct Policy<'a> {
    name: &'a str,
    /// Per family, its members whose settings are part of a dualwan interface, by metric
    /// (an interface counted once, at its first member in `use_member` order)...
    tiers: [Wans; 2],
    /// ...and the weight of each interface there.
    weight: [[u32; MAX_WANS]; 2],
    /// Each interface's lowest metric among its members.
    best: [Option<u32>; MAX_WANS],
    last_resort: LastResort,
    /// Its name is too long: mwan3 makes no chain of it.
    skipped: bool,
}

/// One mwan3 rule, read.
struct Rule {
    name: String,
    line: u32,
    /// Families it can match.
    families: Families,
    /// Source and destination prefixes (comma lists), none for any.
    addrs: [Vec<Prefix>; 2],
    /// `tcp`, `udp` or `icmp`; `None` for all.
    proto: Option<&'static str>,
    /// Source and destination ports as dualwan writes them, and how many ports and ranges
    /// each has.
    ports: [(usize, String); 2],
    /// The device of `src_iface`.
    src_iface: Option<String>,
    /// The policy it sends its traffic to.
    policy: Option<usize>,
    notices: Vec<Notice>,
    /// Why it has no dualwan rule.
    refused: Option<Notice>,
}

impl Rule {
    /// Takes all traffic of its families.
    fn is_catch_all(&self) -> bool {
        self.refused.is_none()
            && self.addrs[0].is_empty()
            && self.addrs[1].is_empty()
            && self.proto.is_none()
            && self.src_iface.is_none()
            && self.policy.is_some()
    }

    /// Leaves the rule out, for the first reason found.
    #[inline(never)]
    fn refuse(&mut self, line: u32, why: fmt::Arguments<'_>) {
        if self.refused.is_none() {
            self.refused = Some(Notice::lost(line, format!("rule '{}': {why}", self.name)));
        }
    }

    /// Leaves the rule out as mwan3 does, unless it is refused already.
    fn ignore(&mut self, why: &str) {
        if self.refused.is_none() {
            self.refused = Some(Notice::note(self.line, format!("rule '{}' {why}", self.name)));
        }
    }
}

/// What a policy is in dualwan, for one family.
#[derive(Copy, Clone, PartialEq, Eq)]
enum How {
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
struct Use {
    how: How,
    wans: Wans,
}

impl Use {
    const fn of(how: How, wans: Wans) -> Use {
        Use { how, wans }
    }

    const EMPTY: Use = Use::of(How::Empty, Wans::NONE);
}

/// The globals' arrangement of the interfaces.
struct Arrangement {
    metric: [u32; MAX_WANS],
    weight: [u32; MAX_WANS],
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
    let mut rules = Vec::new();
    for s in pkg.sections().filter(|s| s.ty() == "rule") {
        let rule = read_rule(&s, rules.len(), net, &policies);
        rules.push(rule);
    }
    // The catch-all of IPv4 traffic if there is one (an IPv6 one may come first).
    let catch_all = (0..2).find_map(|f| rules.iter().find(|r| r.is_catch_all() && r.families[f]));
    let main = catch_all.and_then(|r| r.policy);
    let arr = arrange(read, &policies, main, out);

    let globals = &mut out.globals;
    globals.option("mode", &if arr.balance { "balance" } else { "failover" });
    let last_resort = main.map_or(LastResort::Main, |p| policies[p].last_resort);
    if let (LastResort::Blackhole, Some(p), Some(r)) = (last_resort, main, catch_all) {
        lost(&mut globals.notices, r.line, format_args!(
            "last_resort 'blackhole' of policy '{}': with no interface up dualwan's globals reject traffic (unreachable) rather than drop it",
            policies[p].name
        ));
    }
    globals.option("last_resort", &if last_resort == LastResort::Main { "main" } else { "unreachable" });

    let ctx = Ctx { read, policies: &policies, arr: &arr };
    write_rules(&ctx, &mut rules, out);
    write_interfaces(read, &arr, out);
}

fn read_members<'a>(pkg: &'a Package, read: &Read<'_>, notices: &mut Vec<Notice>) -> Vec<(&'a str, Option<Member>)> {
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

fn read_policies<'a>(
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

/// Reads rule `index` (counted among rules) as far as dualwan can say the same.
fn read_rule(s: &SectionRef<'_>, index: usize, net: &Network<'_>, policies: &[Policy<'_>]) -> Rule {
    let line = s.line();
    let mut r = Rule {
        name: String::new(),
        line,
        families: BOTH,
        addrs: [Vec::new(), Vec::new()],
        proto: None,
        ports: [(0, String::new()), (0, String::new())],
        src_iface: None,
        policy: None,
        notices: Vec::new(),
        refused: None,
    };
    match s.name() {
        Some(name) if name.len() > CHAIN_NAME_MAX => {
            let text = format!("rule '{name}': its name is longer than {CHAIN_NAME_MAX} characters, so mwan3 skips it");
            r.refused = Some(Notice::note(line, text));
            return r;
        }
        Some(name) => r.name = name.into(),
        None => {
            r.name = format!("rule_{}", index + 1);
            note(&mut r.notices, line, format_args!("a rule without a name: called '{}'", r.name));
        }
    }

    match value(s, "family") {
        None | Some(("any", _)) => {}
        Some((v, l)) => match FAMILY.iter().position(|&f| f == v) {
            Some(f) => r.families = [f == 0, f == 1],
            None => {
                note(&mut r.notices, l, format_args!("family '{v}' is neither ipv4 nor ipv6: any, as mwan3 reads it"))
            }
        },
    }
    for (k, option) in ADDRESSES.iter().enumerate() {
        let Some((v, l)) = value(s, option) else { continue };
        for item in v.split(',') {
            match parse_prefix(item.trim()) {
                Ok(p) => {
                    // An address of one family keeps mwan3 from using the rule for the other.
                    r.families[1 - p.family().index()] = false;
                    if p.len > 0 {
                        r.addrs[k].push(p);
                    }
                }
                Err(why) => r.refuse(l, format_args!("{option} '{item}' {why}")),
            }
        }
    }
    match value(s, "proto") {
        None | Some(("all", _)) => {}
        Some((v, l)) => match PROTOS.iter().find(|p| p.0 == v) {
            Some(&(_, proto, only)) => {
                r.proto = Some(proto);
                if only == Some(0) && r.families[1] {
                    note(
                        &mut r.notices,
                        l,
                        format_args!(
                            "proto icmp: in mwan3 it matches IPv4 only (ip6tables' icmp is not ICMPv6): family ipv4"
                        ),
                    );
                }
                if let Some(f) = only {
                    r.families[1 - f] = false;
                }
            }
            None => r.refuse(l, format_args!("proto '{v}': dualwan's rules take tcp, udp, icmp or all")),
        },
    }
    for (k, option) in PORTS.iter().enumerate() {
        let Some((v, l)) = value(s, option) else { continue };
        if !matches!(r.proto, Some("tcp" | "udp")) {
            note(&mut r.notices, l, format_args!("{option} '{v}' without proto tcp or udp: mwan3 ignores it too"));
            continue;
        }
        match parse_ports(v) {
            Some(ports) => r.ports[k] = ports,
            None => r.refuse(
                l,
                format_args!("{option} '{v}' is not ports dualwan takes (1-65535, a:b ranges, at most {PORTS_MAX})"),
            ),
        }
    }
    if let Some((iface, l)) = value(s, "src_iface") {
        match net.device(iface).filter(|d| valid_device(d)) {
            Some(device) => {
                note(&mut r.notices, l, format_args!("src_iface '{iface}' is device '{device}' (network config)"));
                r.src_iface = Some(device);
            }
            None => {
                let why = if net.known() {
                    "the network config gives no device for it"
                } else {
                    "without the network config its device is unknown"
                };
                r.refuse(l, format_args!("src_iface '{iface}': {why}"));
            }
        }
    }
    if let Some((v, l)) = value(s, "ipset") {
        r.refuse(
            l,
            format_args!("ipset '{v}': dualwan's rules select by address, port and incoming device, not by set"),
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
        let option = o.name();
        if !RULE_OPTIONS.contains(&option) {
            lost(&mut r.notices, o.line(), format_args!("option '{option}' is not an option of mwan3's rules"));
        }
    }
    match value(s, "use_policy") {
        None => r.ignore("has no use_policy: mwan3 ignores it"),
        Some(("default", l)) => r.refuse(
            l,
            format_args!("use_policy 'default' (the main table): dualwan's rules send traffic to interfaces (routes of the main table more specific than a default route always win)"),
        ),
        Some((v @ ("unreachable" | "blackhole"), l)) => r.refuse(
            l,
            format_args!("use_policy '{v}': dualwan's rules send traffic to interfaces, and {v} only when none is up"),
        ),
        Some((v, l)) => match policies.iter().position(|p| p.name == v) {
            Some(p) if policies[p].skipped => r.refuse(
                l,
                format_args!("policy '{v}' has a name longer than {CHAIN_NAME_MAX} characters, so mwan3 skips it"),
            ),
            Some(p) => r.policy = Some(p),
            None => r.refuse(l, format_args!("use_policy '{v}' names no policy")),
        },
    }
    if r.families == [false, false] {
        r.ignore("never matches in mwan3: its addresses and family disagree");
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
    const NOT_A_PREFIX: &str = "has a mask that is not a prefix";
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
    let len = match (digits(len), addr) {
        _ if len.is_empty() => max,
        (Some(n), _) if len.len() <= 3 => match u8::try_from(n) {
            Ok(n) if n <= max => n,
            _ => return Err("has a prefix length beyond its family's"),
        },
        (_, IpAddr::V4(_)) => match len.parse::<Ipv4Addr>().map(u32::from) {
            Ok(m) if m.leading_ones() + m.trailing_zeros() == 32 => m.leading_ones() as u8,
            _ => return Err(NOT_A_PREFIX),
        },
        _ => return Err(NOT_A_PREFIX),
    };
    let addr = match addr {
        IpAddr::V4(a) => IpAddr::V4((u32::from(a) & u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)).into()),
        IpAddr::V6(a) => IpAddr::V6((u128::from(a) & u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)).into()),
    };
    Ok(Prefix { addr, len })
}

/// `80,443,1000:2000` (iptables' multiport; `a-b` taken too) as dualwan writes it
/// (`80,443,1000-2000`), and how many ports and ranges it has.
fn parse_ports(v: &str) -> Option<(usize, String)> {
    let port = |p: &str| digits(p).filter(|p| (1..=65535).contains(p));
    let mut text = String::new();
    let mut count = 0;
    for item in v.split(',') {
        let item = item.trim();
        let (a, b) = item.split_once([':', '-']).unwrap_or((item, item));
        let (a, b) = (port(a)?, port(b)?);
        if a > b {
            return None;
        }
        let sep = if count == 0 { "" } else { "," };
        let _ = if a == b { write!(text, "{sep}{a}") } else { write!(text, "{sep}{a}-{b}") };
        count += 1;
    }
    (count <= PORTS_MAX).then_some((count, text))
}

/// The globals' arrangement: the catch-all's policy gives each interface its metric and,
/// where it balances, its weight; interfaces it leaves out come after, one metric each.
fn arrange(read: &Read<'_>, policies: &[Policy<'_>], main: Option<usize>, out: &mut Output) -> Arrangement {
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

/// The enabled interfaces track family `f`: dualwan routes it.
fn tracked(read: &Read<'_>, f: usize) -> bool {
    read.wans.iter().any(|w| w.enabled && w.tracks[f])
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
fn use_for(ctx: &Ctx<'_, '_>, p: usize, f: usize, notices: &mut Vec<Notice>, line: u32) -> Use {
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
fn merge(ctx: &Ctx<'_, '_>, u4: &Use, u6: &Use) -> Option<Use> {
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

/// Running totals against dualwan's limits on rules.
#[derive(Default)]
struct Limits {
    rules: usize,
    slots: usize,
    /// The sets of interfaces balanced over, one bit each.
    sets: Vec<u32>,
    names: Vec<String>,
}

fn write_rules(ctx: &Ctx<'_, '_>, rules: &mut [Rule], out: &mut Output) {
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
fn write_interfaces(read: &Read<'_>, arr: &Arrangement, out: &mut Output) {
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
