//! One mwan3 rule, read as far as dualwan can say the same: its families, addresses (as
//! iptables reads them), protocol, ports, incoming device and policy; or why it has no
//! dualwan rule (refused, or ignored as mwan3 ignores it), with a notice for each
//! difference.

use super::policy::Policy;
use super::{Families, BOTH, CHAIN_NAME_MAX, FAMILY};
use crate::mwan3::network::Network;
use crate::mwan3::{digits, lost, note, value, Notice};
use crate::route::{Family, Prefix};
use crate::uci::SectionRef;
use core::fmt::{self, Write};
use core::net::{IpAddr, Ipv4Addr};

/// Most ports and ranges in one `src_port` or `dest_port`.
const PORTS_MAX: usize = 16;
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
pub(super) const PORTS: [&str; 2] = ["src_port", "dest_port"];
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

/// One mwan3 rule, read.
pub(super) struct Rule {
    pub(super) name: String,
    pub(super) line: u32,
    /// Families it can match.
    pub(super) families: Families,
    /// Source and destination prefixes (comma lists), none for any.
    pub(super) addrs: [Vec<Prefix>; 2],
    /// `tcp`, `udp` or `icmp`; `None` for all.
    pub(super) proto: Option<&'static str>,
    /// Source and destination ports as dualwan writes them, and how many ports and ranges
    /// each has.
    pub(super) ports: [(usize, String); 2],
    /// The device of `src_iface`.
    pub(super) src_iface: Option<String>,
    /// The policy it sends its traffic to.
    pub(super) policy: Option<usize>,
    pub(super) notices: Vec<Notice>,
    /// Why it has no dualwan rule.
    pub(super) refused: Option<Notice>,
}

impl Rule {
    /// Takes all traffic of its families.
    pub(super) fn is_catch_all(&self) -> bool {
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

/// Reads rule `index` (counted among rules) as far as dualwan can say the same.
pub(super) fn read_rule(s: &SectionRef<'_>, index: usize, net: &Network<'_>, policies: &[Policy<'_>]) -> Rule {
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
