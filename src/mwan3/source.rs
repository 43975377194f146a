//! mwan3's `config interface` sections (and its globals): what each tracks and how,
//! checked against what dualwan takes, then paired into dualwan interfaces. mwan3 has one
//! section per family (`family 'ipv4'`, the default, or `'ipv6'`); an IPv4 and an IPv6
//! section whose netifd interfaces use the same device become one dual-stack interface.
//!
//! mwan3's own defaults, where a section leaves an option out: `enabled` 0, `family` ipv4,
//! `track_method` ping, `reliability` 1, `count` 1, `timeout` 4 s, `interval` 10 s, `down` 5,
//! `up` 5, `size` 56, `max_ttl` 60, `failure_interval` and `recovery_interval` = `interval`,
//! `check_quality` 0 with `failure_latency` 1000 ms, `recovery_latency` 500 ms,
//! `failure_loss` 40 %, `recovery_loss` 10 %, `initial_state` online, no `flush_conntrack`.
//! Its lists (`track_ip`, `flush_conntrack`) are read only when written with `list`.

use super::emit::{Output, Section};
use super::network::{Network, DYNAMIC_PROTOS};
use super::{lost, note, Notice};
use crate::config::{parse_bool, usable_target, MAX_TARGETS, MAX_WANS, NETWORK_MAX};
use crate::uci::{OptionRef, Package, SectionRef};
use core::net::IpAddr;

/// One whole-number option carried over: mwan3's default, dualwan's, dualwan's range.
struct Field {
    name: &'static str,
    mwan3: u32,
    dualwan: u32,
    min: u32,
    max: u32,
    /// Seconds, kept in milliseconds (dualwan takes up to 3 decimals).
    seconds: bool,
}

const fn field(name: &'static str, mwan3: u32, dualwan: u32, min: u32, max: u32, seconds: bool) -> Field {
    Field { name, mwan3, dualwan, min, max, seconds }
}

/// In the order dualwan's option table writes them; ranges and defaults as there.
const FIELDS: [Field; 9] = [
    field("reliability", 1, 1, 1, MAX_TARGETS as u32, false),
    field("interval", 10_000, 200, 100, 60_000, true),
    field("timeout", 4_000, 500, 100, 30_000, true),
    field("down", 5, 4, 1, 100, false),
    field("up", 5, 3, 1, 100, false),
    field("failure_latency", 1000, 1000, 1, 30_000, false),
    field("recovery_latency", 500, 500, 1, 29_999, false),
    field("failure_loss", 40, 40, 1, 100, false),
    field("recovery_loss", 10, 10, 0, 99, false),
];
const RELIABILITY: usize = 0;
const INTERVAL: usize = 1;
const FAILURE_LATENCY: usize = 5;

/// A carried value, and whether the mwan3 section set it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Num {
    v: u32,
    set: bool,
}

/// How the targets are probed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Method {
    /// ICMP echo: dualwan's default.
    Icmp,
    /// TCP connections to this port.
    Tcp(u16),
}

/// One mwan3 interface section, read.
#[derive(Debug)]
pub(super) struct Side<'a> {
    /// Section name: the netifd interface.
    pub name: &'a str,
    /// Line of its `config`.
    pub line: u32,
    /// `family 'ipv6'`.
    pub v6: bool,
    /// `enabled` (mwan3's default: 0).
    pub enabled: bool,
    /// Usable `track_ip` entries.
    targets: Vec<IpAddr>,
    nums: [Num; 9],
    check_quality: bool,
    method: Method,
    /// `flush_conntrack` has `ifdown` or `disconnected`.
    pub flush_down: bool,
    /// `flush_conntrack` has `ifup` or `connected`.
    pub flush_up: bool,
    /// Line of `flush_conntrack`, or of the section.
    pub flush_line: u32,
    notices: Vec<Notice>,
}

/// One dualwan interface: one or two mwan3 sections.
#[derive(Debug)]
pub(super) struct Wan {
    /// Its name (the IPv4 section's, else the IPv6 one's).
    pub name: String,
    /// Line of its first section.
    pub line: u32,
    /// Some section of it is enabled.
    pub enabled: bool,
    /// It has IPv4 targets; it has IPv6 targets.
    pub tracks: [bool; 2],
    /// Its sections whose settings it carries, by index in [`Read::sides`].
    pub included: Vec<usize>,
    /// Its entry in [`Output::interfaces`].
    pub section: usize,
}

/// The interface sections, read and paired.
#[derive(Debug, Default)]
pub(super) struct Read<'a> {
    /// Every named interface section, in file order.
    pub sides: Vec<Side<'a>>,
    /// The dualwan interfaces, in file order (at most [`MAX_WANS`]).
    pub wans: Vec<Wan>,
    /// Per side: its dualwan interface, if it has one.
    pub wan_of: Vec<Option<usize>>,
}

impl Read<'_> {
    /// The dualwan interface of mwan3 interface `name`, and whether that section's settings
    /// are part of it (not when it is a disabled half of an enabled pair).
    pub fn wan(&self, name: &str) -> Option<(usize, bool)> {
        let side = self.sides.iter().position(|s| s.name == name)?;
        let wan = self.wan_of[side]?;
        Some((wan, self.wans[wan].included.contains(&side)))
    }
}

/// Reads the globals and interface sections into `out` (interfaces without metric, weight
/// and `flush_conntrack`, which the routing decides) and says what else is in the file.
pub(super) fn read<'a>(pkg: &'a Package, net: &Network<'_>, out: &mut Output) -> Read<'a> {
    let mut read = Read::default();
    let mut dropped = Vec::new();
    for s in pkg.sections() {
        match s.ty() {
            "globals" => read_globals(&s, &mut out.globals.notices),
            "interface" => match read_side(&s) {
                Ok(side) => read.sides.push(side),
                Err(why) => dropped.push(why),
            },
            "member" | "policy" | "rule" => {}
            other => out
                .globals
                .notices
                .push(Notice::lost(s.line(), format!("section type '{other}': mwan3 has none such, nor has dualwan"))),
        }
    }
    pair(&mut read, net, out);
    out.interfaces.extend(dropped.into_iter().map(|n| Section {
        ty: "interface",
        notices: vec![n],
        ..Section::default()
    }));
    read
}

fn read_globals(s: &SectionRef<'_>, notices: &mut Vec<Notice>) {
    let logging = s.option("logging").and_then(|o| last(&o)).is_some_and(|(v, _)| v == "1");
    for o in s.options() {
        let (v, line) = last(&o).unwrap_or_default();
        let why = match o.name() {
            "mmx_mask" => format!("mmx_mask '{v}': dualwan marks no packets (its ip rules select by address, port and incoming device)"),
            "logging" if logging => "logging '1': dualwan logs its decisions, not the packets rules match".into(),
            "loglevel" if logging => format!("loglevel '{v}' of packet logging"),
            "logging" | "loglevel" => continue,
            "rt_table_lookup" => format!(
                "rt_table_lookup '{v}': dualwan's rules look up only the main table before its own (add a rule for those routes' destinations)"
            ),
            "source_routing" if parse_bool(v) != Some(true) => continue,
            "source_routing" => "source_routing: dualwan's tables hold default routes only".into(),
            other => format!("option '{other}' of globals: not an option mwan3 reads"),
        };
        notices.push(Notice::lost(line, why));
    }
}

/// The last value of an option (what mwan3's `config_get` sees of a single value).
fn last<'a>(o: &OptionRef<'a>) -> Option<(&'a str, u32)> {
    o.values().last()
}

/// A whole number as mwan3's shell arithmetic takes it (decimal, no sign).
fn uint(v: &str) -> Option<u32> {
    (!v.is_empty() && v.len() <= 9 && v.bytes().all(|b| b.is_ascii_digit())).then(|| v.parse().ok())?
}

/// Seconds with up to 3 decimals, in milliseconds.
fn millis(v: &str) -> Option<u32> {
    let (whole, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) || (whole.is_empty() && frac.is_empty()) {
        return None;
    }
    let whole = if whole.is_empty() { 0 } else { uint(whole).filter(|&s| s <= 1_000_000)? };
    let frac: u32 = format!("{frac:0<3}").parse().ok()?;
    Some(whole * 1000 + frac)
}

/// Milliseconds as dualwan's seconds: `10`, `0.5`, `1.25`.
pub(super) fn seconds(ms: u32) -> String {
    match ms % 1000 {
        0 => (ms / 1000).to_string(),
        frac => format!("{}.{}", ms / 1000, format!("{frac:03}").trim_end_matches('0')),
    }
}

fn show(f: &Field, v: u32) -> String {
    if f.seconds {
        seconds(v)
    } else {
        v.to_string()
    }
}

/// Reads one interface section, or says why it has no dualwan interface.
fn read_side<'a>(s: &SectionRef<'a>) -> Result<Side<'a>, Notice> {
    let line = s.line();
    let Some(name) = s.name() else {
        return Err(Notice::lost(line, "interface section without a name: it names no netifd interface".into()));
    };
    let mut notices = Vec::new();
    let family = s.option("family").and_then(|o| last(&o)).unwrap_or(("ipv4", line));
    let v6 = family.0 == "ipv6";
    if !matches!(family.0, "ipv4" | "ipv6") {
        lost(&mut notices, family.1, format_args!("family '{}' is neither ipv4 nor ipv6: read as ipv4", family.0));
    }
    let mut side = Side {
        name,
        line,
        v6,
        enabled: false,
        targets: Vec::new(),
        nums: FIELDS.map(|f| Num { v: f.mwan3, set: false }),
        check_quality: false,
        method: Method::Icmp,
        flush_down: false,
        flush_up: false,
        flush_line: line,
        notices: Vec::new(),
    };
    let mut enabled_set = false;
    let mut httping_ssl = false;
    let mut method = None;
    let mut phase_intervals = Vec::new();
    for o in s.options() {
        let Some((v, vline)) = last(&o) else { continue };
        let bool_of = |notices: &mut Vec<Notice>| {
            parse_bool(v).unwrap_or_else(|| {
                lost(notices, vline, format_args!("{} '{v}' is not a boolean: mwan3 reads it as 0", o.name()));
                false
            })
        };
        let name = o.name();
        if let Some(i) = FIELDS.iter().position(|f| f.name == name) {
            let f = &FIELDS[i];
            let parsed = if f.seconds { millis(v) } else { uint(v) };
            let Some(mut n) = parsed else {
                let unit = if f.seconds { "a number of seconds" } else { "a whole number" };
                lost(
                    &mut notices,
                    vline,
                    format_args!("{name} '{v}' is not {unit}: mwan3's default {} written", show(f, f.mwan3)),
                );
                continue;
            };
            if n < f.min || n > f.max {
                let clamped = n.clamp(f.min, f.max);
                let why = match (i, n) {
                    (RELIABILITY, 0) => " (with 0, mwan3 counts every round good)",
                    _ => "",
                };
                let edge = if n < f.min { "below dualwan's least" } else { "above dualwan's most" };
                lost(&mut notices, vline, format_args!("{name} '{v}' is {edge}, {}: written{why}", show(f, clamped)));
                n = clamped;
            }
            side.nums[i] = Num { v: n, set: true };
            continue;
        }
        match name {
            "enabled" => {
                side.enabled = bool_of(&mut notices);
                enabled_set = true;
            }
            "family" | "track_ip" | "flush_conntrack" => {}
            "track_method" => method = Some((v, vline)),
            "httping_ssl" => httping_ssl = parse_bool(v) == Some(true),
            "check_quality" => side.check_quality = bool_of(&mut notices),
            "count" if uint(v) == Some(1) => {}
            "count" => {
                lost(&mut notices, vline, format_args!("count '{v}': dualwan sends one probe per target and round"))
            }
            "size" if uint(v) == Some(56) => {}
            "size" => lost(&mut notices, vline, format_args!("size '{v}': dualwan's probes have a fixed size")),
            "max_ttl" if uint(v) == Some(60) => {}
            "max_ttl" => {
                lost(&mut notices, vline, format_args!("max_ttl '{v}': dualwan's probes use the system's TTL"))
            }
            "failure_interval" | "recovery_interval" => phase_intervals.push((name, v, vline)),
            "keep_failure_interval" if parse_bool(v) != Some(true) => {}
            "keep_failure_interval" => {
                lost(&mut notices, vline, format_args!("keep_failure_interval: dualwan has one interval"))
            }
            "initial_state" if v == "online" => {}
            "initial_state" => lost(
                &mut notices,
                vline,
                format_args!("initial_state '{v}': dualwan judges an interface by its first probe round"),
            ),
            other => {
                lost(&mut notices, o.line(), format_args!("option '{other}': not an option of mwan3's interfaces"))
            }
        }
    }
    for (name, v, line) in phase_intervals {
        if millis(v) != Some(side.nums[INTERVAL].v) {
            let what = if name == "failure_interval" { "while failing" } else { "while recovering" };
            lost(
                &mut notices,
                line,
                format_args!(
                    "{name} '{v}' ({what}): dualwan has one interval (after a miss it confirms within one interval)"
                ),
            );
        }
    }
    side.method = match method {
        None | Some(("ping" | "nping-icmp", _)) => Method::Icmp,
        Some(("nping-tcp", l)) => {
            note(&mut notices, l, format_args!("nping-tcp probes TCP port 80: track_method tcp, track_port 80"));
            Method::Tcp(80)
        }
        Some((m @ ("httping" | "arping" | "nslookup" | "nping-udp" | "nping-arp"), l)) => {
            let what = match m {
                "httping" if httping_ssl => {
                    "HTTPS requests; `track_method 'tcp'` with `track_port '443'` is the nearest"
                }
                "httping" => "HTTP requests; `track_method 'tcp'` with `track_port '80'` is the nearest",
                "arping" => "ARP requests on the link",
                "nslookup" => "DNS queries",
                "nping-udp" => "UDP probes",
                _ => "ARP probes",
            };
            lost(&mut notices, l, format_args!("track_method '{m}' ({what}): dualwan probes with ICMP echo here"));
            Method::Icmp
        }
        Some((m, l)) => {
            note(&mut notices, l, format_args!("track_method '{m}' is unknown to mwan3, which pings instead"));
            Method::Icmp
        }
    };
    if !enabled_set {
        note(&mut notices, line, format_args!("enabled is unset: mwan3 leaves such an interface disabled"));
    }
    read_targets(s, v6, &mut side.targets, &mut notices);
    read_flush(s, &mut side, &mut notices);
    check_quality_order(&mut side, &mut notices);
    side.notices = notices;
    Ok(side)
}

fn read_targets(s: &SectionRef<'_>, v6: bool, targets: &mut Vec<IpAddr>, notices: &mut Vec<Notice>) {
    let Some(o) = s.option("track_ip") else { return };
    if !o.is_list() {
        note(notices, o.line(), format_args!("track_ip is an option, not a list: mwan3 reads no target from it (the interface never comes online); read as the list it was meant to be"));
    }
    for (v, line) in o.values() {
        let why = match v.parse::<IpAddr>() {
            Err(_) if v.chars().any(|c| c.is_ascii_alphabetic()) && !v.contains(':') => {
                "is a host name: dualwan takes addresses only"
            }
            Err(_) => "is not an IP address",
            Ok(ip) if ip.is_ipv6() != v6 => {
                if v6 {
                    "is an IPv4 address in an ipv6 interface: mwan3 never reaches it"
                } else {
                    "is an IPv6 address in an ipv4 interface: mwan3 never reaches it"
                }
            }
            Ok(ip) if !usable_target(ip) => "is not an Internet host (unicast, not link-local)",
            Ok(ip) if targets.contains(&ip) => continue,
            Ok(ip) => {
                targets.push(ip);
                continue;
            }
        };
        lost(notices, line, format_args!("track_ip '{v}' {why}"));
    }
}

/// `flush_conntrack`: a list of the events (`ifup`, `ifdown`, `connected`, `disconnected`)
/// at which mwan3 flushes the whole conntrack table; `always` and `never` are its older
/// words (its upgrade turns them into `ifup`+`ifdown` and nothing).
fn read_flush(s: &SectionRef<'_>, side: &mut Side<'_>, notices: &mut Vec<Notice>) {
    let Some(o) = s.option("flush_conntrack") else { return };
    side.flush_line = o.line();
    let legacy = o.values().all(|(v, _)| matches!(v, "always" | "never"));
    if !o.is_list() && !legacy {
        note(notices, o.line(), format_args!("flush_conntrack is an option, not a list: mwan3 reads nothing from it; read as the list it was meant to be"));
    }
    for (v, line) in o.values() {
        match v {
            "ifdown" | "disconnected" => side.flush_down = true,
            "ifup" | "connected" => side.flush_up = true,
            "always" => (side.flush_down, side.flush_up) = (true, true),
            "never" => {}
            other => lost(notices, line, format_args!("flush_conntrack '{other}': not an mwan3 event")),
        }
    }
}

/// dualwan wants recovery stricter than failure (or a line would go down and come back on
/// the same figures); mwan3 takes anything.
fn check_quality_order(side: &mut Side<'_>, notices: &mut Vec<Notice>) {
    for failure in [FAILURE_LATENCY, FAILURE_LATENCY + 2] {
        let recovery = failure + 1;
        let (f, r) = (side.nums[failure], side.nums[recovery]);
        if r.v < f.v {
            continue;
        }
        let written = f.v.saturating_sub(1).max(FIELDS[recovery].min);
        lost(
            notices,
            side.line,
            format_args!(
                "{} {} is not below {} {}: dualwan needs recovery stricter than failure, {written} written",
                FIELDS[recovery].name, r.v, FIELDS[failure].name, f.v
            ),
        );
        side.nums[recovery] = Num { v: written, set: true };
        if written >= f.v {
            side.nums[failure] = Num { v: written + 1, set: true };
        }
    }
}

/// Pairs IPv4 and IPv6 sections on one device into dualwan interfaces, in file order.
fn pair(read: &mut Read<'_>, net: &Network<'_>, out: &mut Output) {
    let sides = &read.sides;
    let device = |i: usize| net.device(sides[i].name);
    let mut partner: Vec<Option<usize>> = vec![None; sides.len()];
    for i in (0..sides.len()).filter(|&i| !sides[i].v6) {
        let Some(dev) = device(i) else { continue };
        if let Some(j) =
            (0..sides.len()).find(|&j| sides[j].v6 && partner[j].is_none() && device(j) == Some(dev.clone()))
        {
            partner[i] = Some(j);
            partner[j] = Some(i);
        }
    }
    read.wan_of = vec![None; sides.len()];
    for i in 0..sides.len() {
        if partner[i].is_some_and(|j| j < i) {
            continue;
        }
        // IPv4 first.
        let mut group: Vec<usize> = core::iter::once(i).chain(partner[i]).collect();
        if sides[group[0]].v6 {
            group.reverse();
        }
        let mut section = Section::new("interface", sides[group[0]].name);
        if let [a, b] = group[..] {
            note(&mut section.notices, sides[i].line, format_args!(
                "'{}' (ipv4) and '{}' (line {}, ipv6) use the same device, {} (network config): one dual-stack interface",
                sides[a].name,
                sides[b].name,
                sides[b].line,
                device(a).unwrap_or_default()
            ));
        }
        let wan = build(read, &group, net, &mut section);
        let index = read.wans.len();
        match wan {
            Some(mut w) if index < MAX_WANS => {
                for &k in &group {
                    read.wan_of[k] = Some(index);
                }
                w.section = out.interfaces.len();
                read.wans.push(w);
            }
            Some(_) => {
                let text = format!("more than {MAX_WANS} interfaces: dualwan takes {MAX_WANS}");
                section =
                    Section { ty: "interface", notices: vec![Notice::lost(sides[i].line, text)], ..Section::default() };
            }
            None => section.name = None,
        }
        out.interfaces.push(section);
    }
}

/// The dualwan interface of the sections `group` (IPv4 first), written into `section`;
/// `None` (and the reason in `section`) if it cannot be had.
fn build(read: &Read<'_>, group: &[usize], net: &Network<'_>, section: &mut Section) -> Option<Wan> {
    let sides = &read.sides;
    let enabled = group.iter().any(|&k| sides[k].enabled);
    let included: Vec<usize> = group.iter().copied().filter(|&k| sides[k].enabled || !enabled).collect();
    let first = &sides[group[0]];
    let main = &sides[included[0]];
    for &k in group.iter().filter(|k| !included.contains(k)) {
        let s = &sides[k];
        note(
            &mut section.notices,
            s.line,
            format_args!("'{}' ({}) is disabled: its targets and settings are left out", s.name, family_word(s.v6)),
        );
    }
    for &k in group {
        section.notices.extend(sides[k].notices.iter().cloned());
    }

    // Follow netifd's interface as mwan3 does: its dynamic `NAME_4` child for LTE modems.
    let mut network = first.name.to_string();
    if net.proto(&network).is_some_and(|p| DYNAMIC_PROTOS.contains(&p)) {
        let child = format!("{network}_{}", if first.v6 { 6 } else { 4 });
        if child.len() <= NETWORK_MAX {
            note(
                &mut section.notices,
                first.line,
                format_args!("its addresses are on netifd's '{child}' (proto {})", net.proto(&network).unwrap_or("")),
            );
            network = child;
        }
    }
    if network.len() > NETWORK_MAX {
        let text =
            format!("'{network}' is longer than the {NETWORK_MAX} characters of a netifd interface dualwan follows");
        section.notices.push(Notice::lost(first.line, text));
        return None;
    }
    if net.known() && net.interface(first.name).is_none() && net.device(&network).is_none() {
        note(&mut section.notices, first.line, format_args!("the network config has no interface '{}'", first.name));
    }

    let targets = targets(read, &included, section);
    if targets.is_empty() {
        let text = "no usable track_ip (mwan3 trusts netifd alone then), and no other interface's of that family to borrow: dualwan needs targets to probe";
        section.notices.push(Notice::lost(first.line, text.into()));
        return None;
    }
    let tracks = [targets.iter().any(|t| t.is_ipv4()), targets.iter().any(|t| t.is_ipv6())];

    if !enabled {
        section.option("enabled", "0");
    }
    section.option("network", &network);
    if let Method::Tcp(port) = main.method {
        section.option("track_method", "tcp");
        section.option("track_port", port);
    }
    for t in &targets {
        section.list("track_ip", t);
    }
    write_settings(sides, &included, targets.len(), section);
    Some(Wan { name: first.name.into(), line: first.line, enabled, tracks, included, section: 0 })
}

fn family_word(v6: bool) -> &'static str {
    if v6 {
        "ipv6"
    } else {
        "ipv4"
    }
}

/// The targets of the included sections, at most [`MAX_TARGETS`] shared fairly between the
/// families; a section without any borrows another interface's of its family.
fn targets(read: &Read<'_>, included: &[usize], section: &mut Section) -> Vec<IpAddr> {
    let sides = &read.sides;
    let mut per_family: Vec<Vec<IpAddr>> = Vec::new();
    for &k in included {
        let s = &sides[k];
        if !s.targets.is_empty() {
            per_family.push(s.targets.clone());
            continue;
        }
        let lender = sides.iter().find(|o| o.v6 == s.v6 && !o.targets.is_empty() && (o.enabled || !s.enabled));
        if let Some(lender) = lender {
            lost(
                &mut section.notices,
                s.line,
                format_args!(
                "'{}' has no usable track_ip (mwan3 trusts netifd alone then): dualwan needs targets, '{}''s are used",
                s.name, lender.name
            ),
            );
            per_family.push(lender.targets.clone());
        }
    }
    let total: usize = per_family.iter().map(Vec::len).sum();
    if total <= MAX_TARGETS {
        return per_family.concat();
    }
    // Each family gets its share, the first the rounding.
    let share = MAX_TARGETS / per_family.len();
    let mut keep: Vec<usize> = per_family.iter().map(|t| t.len().min(share)).collect();
    let mut spare = MAX_TARGETS - keep.iter().sum::<usize>();
    for (k, t) in keep.iter_mut().zip(&per_family) {
        let more = (t.len() - *k).min(spare);
        *k += more;
        spare -= more;
    }
    let mut out = Vec::new();
    let mut left_out = Vec::new();
    for (t, k) in per_family.iter().zip(keep) {
        out.extend_from_slice(&t[..k]);
        left_out.extend(t[k..].iter().map(|ip| ip.to_string()));
    }
    lost(
        &mut section.notices,
        sides[included[0]].line,
        format_args!("track_ip {}: dualwan probes at most {MAX_TARGETS} targets", left_out.join(", ")),
    );
    out
}

/// `reliability` to `recovery_loss`, `check_quality`: the first included section's, each
/// written when mwan3's section set it or mwan3's default differs from dualwan's.
fn write_settings(sides: &[Side<'_>], included: &[usize], targets: usize, section: &mut Section) {
    let main = &sides[included[0]];
    let mut nums = main.nums;
    for &k in &included[1..] {
        let other = &sides[k];
        for (i, f) in FIELDS.iter().enumerate() {
            if other.nums[i].set && other.nums[i].v != nums[i].v {
                note(
                    &mut section.notices,
                    other.line,
                    format_args!(
                        "'{}' has {} {}, '{}' {}: one value per dualwan interface, {} written",
                        other.name,
                        f.name,
                        show(f, other.nums[i].v),
                        main.name,
                        show(f, nums[i].v),
                        show(f, nums[i].v)
                    ),
                );
            }
        }
        if other.method != main.method || other.check_quality != main.check_quality {
            let text =
                format!("'{}' probes differently from '{}': '{}''s way is written", other.name, main.name, main.name);
            section.notices.push(Notice::note(other.line, text));
        }
    }
    let own = main.targets.len().max(1) as u32;
    if nums[RELIABILITY].v > own {
        lost(&mut section.notices, main.line, format_args!(
            "reliability {} with {own} targets: mwan3 never counts a round good; dualwan counts at most the targets a family has",
            nums[RELIABILITY].v
        ));
    }
    if nums[RELIABILITY].v > targets as u32 {
        nums[RELIABILITY] = Num { v: targets as u32, set: true };
    }
    let defaulted: Vec<&Field> =
        FIELDS.iter().zip(&nums).filter(|(f, n)| !n.set && f.mwan3 != f.dualwan).map(|(f, _)| f).collect();
    if !defaulted.is_empty() {
        let theirs: Vec<String> = defaulted.iter().map(|f| format!("{} {}", f.name, show(f, f.mwan3))).collect();
        let ours: Vec<String> = defaulted.iter().map(|f| show(f, f.dualwan)).collect();
        note(
            &mut section.notices,
            main.line,
            format_args!(
                "unset in mwan3, whose defaults are written: {} (leave them out for dualwan's: {})",
                theirs.join(", "),
                ours.join(", ")
            ),
        );
    }
    if main.check_quality {
        let text = "check_quality: mwan3 judges each round's ping per target; dualwan judges the mean latency and the loss of its last 16 probes";
        section.notices.push(Notice::note(main.line, text.into()));
    }
    for (i, f) in FIELDS.iter().enumerate() {
        if i == FAILURE_LATENCY && main.check_quality {
            section.option("check_quality", "1");
        }
        if nums[i].set || f.mwan3 != f.dualwan {
            section.option(f.name, show(f, nums[i].v));
        }
    }
}
