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
use super::{lost, note, uint, value, Notice};
use crate::config::{parse_bool, usable_target, MAX_TARGETS, MAX_WANS, NETWORK_MAX};
use crate::time::Duration;
use crate::uci::{OptionRef, Package, SectionRef};
use core::fmt::{self, Write};
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

/// In the order dualwan's option table writes them; ranges and defaults as there (a test
/// holds them to it).
const FIELDS: [Field; 9] = [
    field("reliability", 1, 1, 1, MAX_TARGETS as u32, false),
    field("interval", 10_000, 400, 100, 60_000, true),
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

/// What an option of mwan3's interfaces other than [`FIELDS`] is to the translation.
#[derive(Copy, Clone)]
enum Opt {
    /// Read on its own (`family`, `track_ip`, `flush_conntrack`), or once `interval` is
    /// known (`failure_interval`, `recovery_interval`).
    Apart,
    Enabled,
    CheckQuality,
    TrackMethod,
    HttpingSsl,
    KeepFailureInterval,
    InitialState,
    /// No counterpart in dualwan, harmless at mwan3's default: that default, and what
    /// dualwan does instead.
    Fixed(u32, &'static str),
}

/// The options of mwan3's interfaces besides [`FIELDS`].
const OPTIONS: [(&str, Opt); 14] = [
    ("enabled", Opt::Enabled),
    ("family", Opt::Apart),
    ("track_ip", Opt::Apart),
    ("flush_conntrack", Opt::Apart),
    ("failure_interval", Opt::Apart),
    ("recovery_interval", Opt::Apart),
    ("track_method", Opt::TrackMethod),
    ("httping_ssl", Opt::HttpingSsl),
    ("check_quality", Opt::CheckQuality),
    ("keep_failure_interval", Opt::KeepFailureInterval),
    ("initial_state", Opt::InitialState),
    ("count", Opt::Fixed(1, "dualwan sends one probe per target and round")),
    ("size", Opt::Fixed(56, "dualwan's probes have a fixed size")),
    ("max_ttl", Opt::Fixed(60, "dualwan's probes use the system's TTL")),
];

/// mwan3's track methods that dualwan has no probe for, and what they send.
const OTHER_METHODS: [(&str, &str); 5] = [
    ("httping", "HTTP requests; `track_method 'tcp'` with `track_port '80'` is the nearest"),
    ("arping", "ARP requests on the link"),
    ("nslookup", "DNS queries"),
    ("nping-udp", "UDP probes"),
    ("nping-arp", "ARP probes"),
];

/// The port of mwan3's `nping-tcp` probes.
const NPING_TCP_PORT: u16 = 80;

/// A carried value, and whether the mwan3 section set it.
#[derive(Copy, Clone)]
struct Num {
    v: u32,
    set: bool,
}

/// A value of a [`Field`] as dualwan's config writes it (seconds as `10`, `0.5`).
struct Shown<'f>(&'f Field, u32);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.seconds {
            Duration::from_millis(self.1.into()).fmt(f)
        } else {
            self.1.fmt(f)
        }
    }
}

/// One mwan3 interface section, read.
pub(super) struct Side<'a> {
    /// Section name: the netifd interface.
    pub name: &'a str,
    /// Line of its `config`.
    pub line: u32,
    /// `family 'ipv6'`.
    pub v6: bool,
    /// `enabled` (mwan3's default: 0).
    pub enabled: bool,
    /// Its dualwan interface (an index into [`Read::wans`]), if it has one.
    pub wan: Option<usize>,
    /// The section of the other family on the same device.
    partner: Option<usize>,
    /// Usable `track_ip` entries.
    targets: Vec<IpAddr>,
    nums: [Num; 9],
    check_quality: bool,
    /// `track_method 'nping-tcp'` (else ICMP echo).
    tcp: bool,
    /// `flush_conntrack` has `ifdown` or `disconnected`.
    pub flush_down: bool,
    /// `flush_conntrack` has `ifup` or `connected`.
    pub flush_up: bool,
    /// Line of `flush_conntrack`, or of the section.
    pub flush_line: u32,
    notices: Vec<Notice>,
}

/// One dualwan interface: one or two mwan3 sections.
pub(super) struct Wan<'a> {
    /// Its name (the IPv4 section's, else the IPv6 one's).
    pub name: &'a str,
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
#[derive(Default)]
pub(super) struct Read<'a> {
    /// Every named interface section, in file order.
    pub sides: Vec<Side<'a>>,
    /// The dualwan interfaces, in file order (at most [`MAX_WANS`]).
    pub wans: Vec<Wan<'a>>,
}

impl Read<'_> {
    /// The dualwan interface of mwan3 interface `name`, whether that section's settings
    /// are part of it (not when it is a disabled half of an enabled pair), and its family.
    pub fn wan(&self, name: &str) -> Option<(usize, bool, bool)> {
        let side = self.sides.iter().position(|s| s.name == name)?;
        let wan = self.sides[side].wan?;
        Some((wan, self.wans[wan].included.contains(&side), self.sides[side].v6))
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
                Err(why) => dropped.push(Section::dropped("interface", why)),
            },
            "member" | "policy" | "rule" => {}
            other => lost(
                &mut out.globals.notices,
                s.line(),
                format_args!("section type '{other}': mwan3 has none such, nor has dualwan"),
            ),
        }
    }
    pair(&mut read, net, out);
    out.interfaces.append(&mut dropped);
    read
}

fn read_globals(s: &SectionRef<'_>, notices: &mut Vec<Notice>) {
    let logging = value(s, "logging").is_some_and(|(v, _)| v == "1");
    for o in s.options() {
        let (v, line) = last(&o).unwrap_or_default();
        let name = o.name();
        let why = match name {
            "mmx_mask" => "': dualwan marks no packets (its ip rules select by address, port and incoming device)",
            "logging" if logging => "': dualwan logs its decisions, not the packets rules match",
            "loglevel" if logging => "' of packet logging",
            "logging" | "loglevel" => continue,
            "rt_table_lookup" => "': dualwan's rules look up only the main table before its own (add a rule for those routes' destinations)",
            "source_routing" if parse_bool(v) != Some(true) => continue,
            "source_routing" => {
                lost(notices, line, format_args!("source_routing: dualwan's tables hold default routes only"));
                continue;
            }
            other => {
                lost(notices, line, format_args!("option '{other}' of globals: not an option mwan3 reads"));
                continue;
            }
        };
        lost(notices, line, format_args!("{name} '{v}{why}"));
    }
}

/// The last value of an option (what mwan3's `config_get` sees of a single value).
#[inline(never)]
fn last<'a>(o: &OptionRef<'a>) -> Option<(&'a str, u32)> {
    o.values().last()
}

/// Seconds with up to 3 decimals, in milliseconds.
fn millis(v: &str) -> Option<u32> {
    let (whole, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || (whole.is_empty() && frac.is_empty()) {
        return None;
    }
    let whole = if whole.is_empty() { 0 } else { uint(whole).filter(|&s| s <= 1_000_000)? };
    let mut ms = 0;
    for (i, b) in frac.bytes().enumerate() {
        if !b.is_ascii_digit() {
            return None;
        }
        ms += u32::from(b - b'0') * [100, 10, 1][i];
    }
    Some(whole * 1000 + ms)
}

/// Milliseconds as dualwan's seconds: `10`, `0.5`, `1.25` (what [`Shown`] writes).
#[cfg(test)]
pub(super) fn seconds(ms: u32) -> String {
    Duration::from_millis(ms.into()).to_string()
}

/// A boolean as mwan3 reads it: anything else is 0, and reported.
fn boolean(notices: &mut Vec<Notice>, name: &str, (v, line): (&str, u32)) -> bool {
    parse_bool(v).unwrap_or_else(|| {
        lost(notices, line, format_args!("{name} '{v}' is not a boolean: mwan3 reads it as 0"));
        false
    })
}

/// Reads one interface section, or says why it has no dualwan interface.
fn read_side<'a>(s: &SectionRef<'a>) -> Result<Side<'a>, Vec<Notice>> {
    let line = s.line();
    let mut notices = Vec::new();
    let Some(name) = s.name() else {
        lost(&mut notices, line, format_args!("interface section without a name: it names no netifd interface"));
        return Err(notices);
    };
    let family = value(s, "family").unwrap_or(("ipv4", line));
    let v6 = family.0 == "ipv6";
    if !v6 && family.0 != "ipv4" {
        lost(&mut notices, family.1, format_args!("family '{}' is neither ipv4 nor ipv6: read as ipv4", family.0));
    }
    let mut side = Side {
        name,
        line,
        v6,
        enabled: false,
        wan: None,
        partner: None,
        targets: Vec::new(),
        nums: FIELDS.map(|f| Num { v: f.mwan3, set: false }),
        check_quality: false,
        tcp: false,
        flush_down: false,
        flush_up: false,
        flush_line: line,
        notices: Vec::new(),
    };
    let (mut enabled_set, mut httping_ssl, mut method) = (false, false, None);
    for o in s.options() {
        let Some(value @ (v, vline)) = last(&o) else { continue };
        let name = o.name();
        if let Some(i) = FIELDS.iter().position(|f| f.name == name) {
            read_field(&mut notices, &mut side.nums[i], i, value);
            continue;
        }
        let Some(&(_, what)) = OPTIONS.iter().find(|(n, _)| *n == name) else {
            lost(&mut notices, o.line(), format_args!("option '{name}': not an option of mwan3's interfaces"));
            continue;
        };
        match what {
            Opt::Apart => {}
            Opt::Enabled => {
                side.enabled = boolean(&mut notices, name, value);
                enabled_set = true;
            }
            Opt::CheckQuality => side.check_quality = boolean(&mut notices, name, value),
            Opt::TrackMethod => method = Some(value),
            Opt::HttpingSsl => httping_ssl = parse_bool(v) == Some(true),
            Opt::KeepFailureInterval if parse_bool(v) == Some(true) => {
                lost(&mut notices, vline, format_args!("keep_failure_interval: dualwan has no failure interval"))
            }
            Opt::InitialState if v != "online" => lost(
                &mut notices,
                vline,
                format_args!("initial_state '{v}': dualwan judges an interface by its first probe round"),
            ),
            Opt::Fixed(default, instead) if uint(v) != Some(default) => {
                lost(&mut notices, vline, format_args!("{name} '{v}': {instead}"))
            }
            Opt::KeepFailureInterval | Opt::InitialState | Opt::Fixed(..) => {}
        }
    }
    // mwan3's intervals while an interface fails or recovers: dualwan sets both paces itself.
    for o in s.options() {
        let (what, instead) = match o.name() {
            "failure_interval" => ("failing", "dualwan confirms a miss with rounds half a timeout apart"),
            "recovery_interval" => ("recovering", "dualwan's rounds while down go every half interval"),
            _ => continue,
        };
        let Some((v, line)) = last(&o) else { continue };
        if millis(v) != Some(side.nums[INTERVAL].v) {
            let name = o.name();
            lost(&mut notices, line, format_args!("{name} '{v}' (while {what}): {instead}"));
        }
    }
    match method {
        None | Some(("ping" | "nping-icmp", _)) => {}
        Some(("nping-tcp", l)) => {
            note(&mut notices, l, format_args!("nping-tcp probes TCP port 80: track_method tcp, track_port 80"));
            side.tcp = true;
        }
        Some((m, l)) => match OTHER_METHODS.iter().find(|(name, _)| *name == m) {
            Some(&(_, what)) => {
                let what = if m == "httping" && httping_ssl {
                    "HTTPS requests; `track_method 'tcp'` with `track_port '443'` is the nearest"
                } else {
                    what
                };
                lost(&mut notices, l, format_args!("track_method '{m}' ({what}): dualwan probes with ICMP echo here"));
            }
            None => note(&mut notices, l, format_args!("track_method '{m}' is unknown to mwan3, which pings instead")),
        },
    }
    if !enabled_set {
        note(&mut notices, line, format_args!("enabled is unset: mwan3 leaves such an interface disabled"));
    }
    read_targets(s, v6, &mut side.targets, &mut notices);
    read_flush(s, &mut side, &mut notices);
    check_quality_order(&mut side, &mut notices);
    side.notices = notices;
    Ok(side)
}

/// One of [`FIELDS`], `FIELDS[i]`: parsed, and brought into dualwan's range.
fn read_field(notices: &mut Vec<Notice>, num: &mut Num, i: usize, (v, line): (&str, u32)) {
    let f = &FIELDS[i];
    let name = f.name;
    let parsed = if f.seconds { millis(v) } else { uint(v) };
    let Some(mut n) = parsed else {
        let unit = if f.seconds { "a number of seconds" } else { "a whole number" };
        let default = Shown(f, f.mwan3);
        lost(notices, line, format_args!("{name} '{v}' is not {unit}: mwan3's default {default} written"));
        return;
    };
    if n < f.min || n > f.max {
        let clamped = n.clamp(f.min, f.max);
        let why = if i == RELIABILITY && n == 0 { " (with 0, mwan3 counts every round good)" } else { "" };
        let edge = if n < f.min { "below dualwan's least" } else { "above dualwan's most" };
        let shown = Shown(f, clamped);
        lost(notices, line, format_args!("{name} '{v}' is {edge}, {shown}: written{why}"));
        n = clamped;
    }
    *num = Num { v: n, set: true };
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
        let (f, r) = (side.nums[failure].v, side.nums[recovery].v);
        if r < f {
            continue;
        }
        let written = f.saturating_sub(1).max(FIELDS[recovery].min);
        lost(
            notices,
            side.line,
            format_args!(
                "{} {r} is not below {} {f}: dualwan needs recovery stricter than failure, {written} written",
                FIELDS[recovery].name, FIELDS[failure].name
            ),
        );
        side.nums[recovery] = Num { v: written, set: true };
        if written >= f {
            side.nums[failure] = Num { v: written + 1, set: true };
        }
    }
}

/// Pairs IPv4 and IPv6 sections on one device into dualwan interfaces, in file order.
fn pair(read: &mut Read<'_>, net: &Network<'_>, out: &mut Output) {
    let n = read.sides.len();
    let devices: Vec<Option<String>> = read.sides.iter().map(|s| net.device(s.name)).collect();
    for i in 0..n {
        let Some(dev) = devices[i].as_ref().filter(|_| !read.sides[i].v6) else { continue };
        let sides = &read.sides;
        if let Some(j) = (0..n).find(|&j| sides[j].v6 && sides[j].partner.is_none() && devices[j].as_ref() == Some(dev))
        {
            read.sides[i].partner = Some(j);
            read.sides[j].partner = Some(i);
        }
    }
    for i in 0..n {
        let sides = &read.sides;
        let line = sides[i].line;
        // IPv4 first.
        let (group, len) = match sides[i].partner {
            Some(j) if j < i => continue,
            Some(j) if sides[i].v6 => ([j, i], 2),
            Some(j) => ([i, j], 2),
            None => ([i, i], 1),
        };
        let group = &group[..len];
        let mut section = Section::new("interface", sides[group[0]].name);
        if let [a, b] = *group {
            note(&mut section.notices, line, format_args!(
                "'{}' (ipv4) and '{}' (line {}, ipv6) use the same device, {} (network config): one dual-stack interface",
                sides[a].name,
                sides[b].name,
                sides[b].line,
                devices[a].as_deref().unwrap_or_default()
            ));
        }
        let wan = build(read, group, net, &mut section);
        let index = read.wans.len();
        match wan {
            Some(mut w) if index < MAX_WANS => {
                for &k in group {
                    read.sides[k].wan = Some(index);
                }
                w.section = out.interfaces.len();
                read.wans.push(w);
            }
            Some(_) => {
                let mut notices = Vec::new();
                lost(&mut notices, line, format_args!("more than {MAX_WANS} interfaces: dualwan takes {MAX_WANS}"));
                section = Section::dropped("interface", notices);
            }
            None => section.name = None,
        }
        out.interfaces.push(section);
    }
}

/// The dualwan interface of the sections `group` (IPv4 first), written into `section`;
/// `None` (and the reason in `section`) if it cannot be had.
fn build<'a>(read: &Read<'a>, group: &[usize], net: &Network<'_>, section: &mut Section) -> Option<Wan<'a>> {
    let sides = &read.sides;
    let notices = &mut section.notices;
    let enabled = group.iter().any(|&k| sides[k].enabled);
    let first = &sides[group[0]];
    let mut included = Vec::new();
    for &k in group {
        let s = &sides[k];
        if s.enabled || !enabled {
            included.push(k);
        } else {
            let (name, family) = (s.name, if s.v6 { "ipv6" } else { "ipv4" });
            note(
                notices,
                s.line,
                format_args!("'{name}' ({family}) is disabled: its targets and settings are left out"),
            );
        }
    }
    for &k in group {
        notices.extend_from_slice(&sides[k].notices);
    }

    // Follow netifd's interface as mwan3 does: its dynamic `NAME_4` child for LTE modems.
    let mut network = first.name.to_string();
    if let Some(proto) = net.proto(first.name).filter(|p| DYNAMIC_PROTOS.contains(p)) {
        let child = format!("{network}_{}", if first.v6 { 6 } else { 4 });
        if child.len() <= NETWORK_MAX {
            note(notices, first.line, format_args!("its addresses are on netifd's '{child}' (proto {proto})"));
            network = child;
        }
    }
    if network.len() > NETWORK_MAX {
        lost(
            notices,
            first.line,
            format_args!(
                "'{network}' is longer than the {NETWORK_MAX} characters of a netifd interface dualwan follows"
            ),
        );
        return None;
    }
    if net.known() && net.interface(first.name).is_none() && net.device(&network).is_none() {
        note(notices, first.line, format_args!("the network config has no interface '{}'", first.name));
    }

    let targets = targets(sides, &included, notices);
    if targets.is_empty() {
        lost(notices, first.line, format_args!("no usable track_ip (mwan3 trusts netifd alone then), and no other interface's of that family to borrow: dualwan needs targets to probe"));
        return None;
    }
    let tracks = [targets.iter().any(IpAddr::is_ipv4), targets.iter().any(IpAddr::is_ipv6)];

    if !enabled {
        section.option("enabled", &"0");
    }
    section.option("network", &network);
    section.mark = section.body.len();
    if sides[included[0]].tcp {
        section.option("track_method", &"tcp");
        section.option("track_port", &NPING_TCP_PORT);
    }
    for t in &targets {
        section.list("track_ip", t);
    }
    write_settings(sides, &included, targets.len(), section);
    Some(Wan { name: first.name, line: first.line, enabled, tracks, included, section: 0 })
}

/// The targets of the included sections, at most [`MAX_TARGETS`] shared fairly between the
/// families; a section without any borrows another interface's of its family.
fn targets(sides: &[Side<'_>], included: &[usize], notices: &mut Vec<Notice>) -> Vec<IpAddr> {
    let mut lists: [&[IpAddr]; 2] = [&[], &[]];
    let mut n = 0;
    for &k in included {
        let s = &sides[k];
        let list = if s.targets.is_empty() {
            let lender = sides.iter().find(|o| o.v6 == s.v6 && !o.targets.is_empty() && (o.enabled || !s.enabled));
            let Some(lender) = lender else { continue };
            lost(
                notices,
                s.line,
                format_args!(
                "'{}' has no usable track_ip (mwan3 trusts netifd alone then): dualwan needs targets, '{}''s are used",
                s.name, lender.name
            ),
            );
            &lender.targets
        } else {
            &s.targets
        };
        lists[n] = list;
        n += 1;
    }
    let lists = &lists[..n];
    let mut out = Vec::new();
    let total: usize = lists.iter().map(|l| l.len()).sum();
    if total <= MAX_TARGETS {
        for l in lists {
            out.extend_from_slice(l);
        }
        return out;
    }
    // Each family gets its share, the first the rounding.
    let share = MAX_TARGETS / n;
    let mut spare = MAX_TARGETS - lists.iter().map(|l| l.len().min(share)).sum::<usize>();
    let mut left_out = String::new();
    for l in lists {
        let more = (l.len() - l.len().min(share)).min(spare);
        spare -= more;
        let keep = l.len().min(share) + more;
        out.extend_from_slice(&l[..keep]);
        for ip in &l[keep..] {
            let _ = write!(left_out, "{}{ip}", if left_out.is_empty() { "" } else { ", " });
        }
    }
    let line = sides[included[0]].line;
    lost(notices, line, format_args!("track_ip {left_out}: dualwan probes at most {MAX_TARGETS} targets"));
    out
}

/// `reliability` to `recovery_loss`, `check_quality`: the first included section's, each
/// written when mwan3's section set it or mwan3's default differs from dualwan's.
fn write_settings(sides: &[Side<'_>], included: &[usize], targets: usize, section: &mut Section) {
    let notices = &mut section.notices;
    let main = &sides[included[0]];
    let mut nums = main.nums;
    for &k in &included[1..] {
        let other = &sides[k];
        for (i, f) in FIELDS.iter().enumerate() {
            let theirs = other.nums[i].v;
            if other.nums[i].set && theirs != nums[i].v {
                let (theirs, ours) = (Shown(f, theirs), Shown(f, nums[i].v));
                note(
                    notices,
                    other.line,
                    format_args!(
                        "'{}' has {} {theirs}, '{}' {ours}: one value per dualwan interface, {ours} written",
                        other.name, f.name, main.name
                    ),
                );
            }
        }
        if other.tcp != main.tcp || other.check_quality != main.check_quality {
            note(
                notices,
                other.line,
                format_args!(
                    "'{}' probes differently from '{}': '{}''s way is written",
                    other.name, main.name, main.name
                ),
            );
        }
    }
    let own = main.targets.len().max(1) as u32;
    if nums[RELIABILITY].v > own {
        lost(notices, main.line, format_args!(
            "reliability {} with {own} targets: mwan3 never counts a round good; dualwan counts at most the targets a family has",
            nums[RELIABILITY].v
        ));
    }
    if nums[RELIABILITY].v > targets as u32 {
        nums[RELIABILITY] = Num { v: targets as u32, set: true };
    }
    // mwan3's defaults where dualwan's differ, and dualwan's.
    let (mut theirs, mut ours) = (String::new(), String::new());
    for (f, n) in FIELDS.iter().zip(&nums) {
        if !n.set && f.mwan3 != f.dualwan {
            let sep = if theirs.is_empty() { "" } else { ", " };
            let _ = write!(theirs, "{sep}{} {}", f.name, Shown(f, f.mwan3));
            let _ = write!(ours, "{sep}{}", Shown(f, f.dualwan));
        }
    }
    if !theirs.is_empty() {
        note(
            notices,
            main.line,
            format_args!("unset in mwan3, whose defaults are written: {theirs} (leave them out for dualwan's: {ours})"),
        );
    }
    if main.check_quality {
        note(notices, main.line, format_args!("check_quality: mwan3 judges each round's ping per target; dualwan judges the mean latency and the loss of its last 16 probes"));
    }
    for (i, f) in FIELDS.iter().enumerate() {
        if i == FAILURE_LATENCY && main.check_quality {
            section.option("check_quality", &"1");
        }
        if nums[i].set || f.mwan3 != f.dualwan {
            section.option(f.name, &Shown(f, nums[i].v));
        }
    }
}

#[cfg(test)]
mod option_table {
    use super::FIELDS;
    use crate::options::{Type, INTERFACE};

    #[test]
    fn the_fields_keep_dualwans_defaults_and_ranges() {
        for f in &FIELDS {
            let opt = INTERFACE.options.iter().find(|o| o.name == f.name).expect(f.name);
            let (min, max) = match opt.ty {
                Type::Uint { min, max, .. } => (min, max),
                Type::Seconds { min, max, .. } => (min.as_millis() as u32, max.as_millis() as u32),
                _ => panic!("{}: not a number", f.name),
            };
            assert_eq!((f.min, f.max), (min, max), "{}", f.name);
            let default = opt.default.expect(f.name);
            let default = match f.seconds {
                true => (default.parse::<f64>().expect(f.name) * 1000.0).round() as u32,
                false => default.parse().expect(f.name),
            };
            assert_eq!(f.dualwan, default, "{}", f.name);
        }
    }
}
