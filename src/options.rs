//! Every option of `/etc/config/dualwan`, declared once: its section, name, type with its
//! range, default, a short help text, and where its value lives in [`Globals`] or [`Wan`].
//!
//! The reader in [`crate::config`], its unknown-option warnings, `dualwan check`'s effective
//! config and `dualwan check --schema` (the JSON the LuCI app validates with) all walk
//! these tables, so adding an option is one entry here plus its field. Static data only:
//! nothing here allocates.

use crate::config::{
    FlushConntrack, Gateway, Globals, LastResort, LogLevel, Mode, Policy, PolicyFamily, PolicyLastResort, Proto,
    Source, TrackMethod, Wan, WanName, MAX_POLICIES, MAX_TARGETS, MAX_WANS, NAME_MAX, NETWORK_MAX, PORTS_MAX,
    RULE_SPAN, TABLE_SPAN,
};
use crate::kernel::IFNAME_MAX;
use crate::route::{DevName, Family, PortRange, Prefix};
use crate::time::Duration;
use crate::wire::blob_json;
use core::fmt::{self, Write};
use core::net::IpAddr;

/// UCI's true words, as `uci_get_bool` and OpenWrt's shell helpers accept them; the first
/// is the one `dualwan check` prints.
pub const BOOL_TRUE: [&str; 5] = ["1", "yes", "on", "true", "enabled"];
/// UCI's false words; the first is the one `dualwan check` prints.
pub const BOOL_FALSE: [&str; 5] = ["0", "no", "off", "false", "disabled"];

/// What a [`Type::Gateway`] takes besides an address: `auto` is [`Gateway::Auto`].
pub const GATEWAY_WORDS: [&str; 1] = ["auto"];

/// The characters of a UCI section name (libuci's `uci_validate_name`), in [`Chars`] syntax.
pub const UCI_NAME_CHARS: &str = "A-Za-z0-9_";

/// [`UCI_NAME_CHARS`] as a [`Chars`].
pub const NAME_CHARS: Chars = Chars::Only(UCI_NAME_CHARS);

/// The word of a rule's `list use` that stands for balancing (the rest are interface names).
pub const USE_BALANCE: &str = "balance";

/// What a kernel device name may not contain (`option device`, `option src_iface`).
const DEVICE_CHARS: Chars = Chars::Not("/: \t");

/// The kernel's own routing tables (default, main, local): ours must not overlap them.
pub const KERNEL_TABLES: (u32, u32) = (253, 255);

/// One section type and its options.
pub struct Section<T: 'static> {
    /// The section type (`config TYPE`).
    pub ty: &'static str,
    /// Most sections of this type in one config.
    pub max: usize,
    /// Longest name, for a section type whose sections need one (`None`: a name is optional).
    pub name_max: Option<usize>,
    /// Options of which exactly one must be given.
    pub one_of: &'static [&'static str],
    /// The options, in the order `dualwan check` prints them.
    pub options: &'static [Opt<T>],
}

/// One option.
pub struct Opt<T: 'static> {
    /// Its name in UCI.
    pub name: &'static str,
    /// What it takes.
    pub ty: Type,
    /// Its default as `dualwan check` prints it; `None`: no default (required, or unset).
    pub default: Option<&'static str>,
    /// One short line for `--schema`.
    pub help: &'static str,
    /// Its current value in the section's struct (`None`: not printed).
    pub get: fn(&T) -> Option<Value<'_>>,
    /// Stores a value the reader accepted.
    pub set: fn(&mut T, Value<'_>),
}

/// What an option takes.
pub enum Type {
    /// A UCI boolean ([`BOOL_TRUE`], [`BOOL_FALSE`]).
    Bool,
    /// A whole number in `min..=max`. With `span` > 1 it is the first of `span` consecutive
    /// numbers (priorities, tables) that must not overlap `reserved`.
    Uint { min: u32, max: u32, span: u32, reserved: Option<(u32, u32)> },
    /// Seconds in `min..=max` with up to `decimals` decimals.
    Seconds { min: Duration, max: Duration, decimals: u8 },
    /// One of these words, or one of `aliases`: another name of the word at its index
    /// (read as that word; `dualwan check` prints the word).
    Enum { words: &'static [&'static str], aliases: &'static [(&'static str, usize)] },
    /// `auto` or a unicast address of the family (IPv6: link-local allowed).
    Gateway { family: Family },
    /// A list of `min..=max` distinct Internet hosts: unicast addresses of either family,
    /// not link-local.
    Hosts { min: u8, max: u8 },
    /// A name of 1 to `max` bytes made of `chars`; `invalid` is the reason given otherwise.
    Name { max: u8, chars: Chars, invalid: &'static str },
    /// Any text; read by the init script, not by the daemon.
    Text,
    /// An address or prefix of either family (`192.0.2.0/24`, `2001:db8::1`), host bits
    /// zero.
    Prefix,
    /// Ports 1-65535 and ranges `a-b`, comma separated (or as a `list`), at most `max`.
    Ports { max: u8 },
    /// A `list` of at most `max` interface section names, or the word [`USE_BALANCE`].
    Uses { max: u8 },
}

impl Type {
    /// A plain whole number in `min..=max`.
    const fn uint(min: u32, max: u32) -> Type {
        Type::Uint { min, max, span: 1, reserved: None }
    }

    /// One of these words, without aliases.
    const fn words(words: &'static [&'static str]) -> Type {
        Type::Enum { words, aliases: &[] }
    }

    /// True for a type given with `list`.
    pub const fn is_list(&self) -> bool {
        matches!(self, Type::Hosts { .. } | Type::Uses { .. })
    }
}

/// The characters a name may hold, written as inside a regular expression's brackets
/// (`A-Za-z0-9_`: ranges and single characters, nothing else); validate.js reads the same.
#[derive(Copy, Clone)]
pub enum Chars {
    /// Only these.
    Only(&'static str),
    /// Any but these.
    Not(&'static str),
}

impl Chars {
    /// True if byte `c` is allowed.
    pub fn allows(self, c: u8) -> bool {
        match self {
            Chars::Only(set) => in_set(set, c),
            Chars::Not(set) => !in_set(set, c),
        }
    }
}

/// `c` in a bracket-style set: `a-z` is a range, any other byte stands for itself.
fn in_set(set: &str, c: u8) -> bool {
    let b = set.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if i + 2 < b.len() && b[i + 1] == b'-' {
            if (b[i]..=b[i + 2]).contains(&c) {
                return true;
            }
            i += 3;
        } else {
            if b[i] == c {
                return true;
            }
            i += 1;
        }
    }
    false
}

/// A value of an option, typed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    /// [`Type::Bool`].
    Bool(bool),
    /// [`Type::Uint`].
    Uint(u32),
    /// [`Type::Seconds`].
    Seconds(Duration),
    /// [`Type::Enum`]: the index of the word.
    Word(usize),
    /// [`Type::Gateway`].
    Gateway(Gateway),
    /// [`Type::Hosts`].
    Hosts(&'a [IpAddr]),
    /// [`Type::Name`] and [`Type::Text`].
    Name(&'a str),
    /// [`Type::Prefix`].
    Prefix(Prefix),
    /// [`Type::Ports`].
    Ports(&'a [PortRange]),
    /// [`Type::Uses`].
    Uses(&'a [WanName]),
}

/// The enum value at a [`Value::Word`]'s index in `all` (the enum's values in word order).
fn word<E: Copy>(value: Value<'_>, all: &[E]) -> Option<E> {
    match value {
        Value::Word(i) => all.get(i).copied(),
        _ => None,
    }
}

/// `config globals`: at most one.
pub static GLOBALS: Section<Globals> = Section {
    ty: "globals",
    max: 1,
    name_max: None,
    one_of: &[],
    options: &[
        Opt {
            name: "enabled",
            ty: Type::Bool,
            default: Some("1"),
            help: "0: keep no rules or routes at all",
            get: |g| Some(Value::Bool(g.enabled)),
            set: |g, v| {
                if let Value::Bool(b) = v {
                    g.enabled = b
                }
            },
        },
        Opt {
            name: "mode",
            ty: Type::words(&["failover", "balance"]),
            default: Some("failover"),
            help: "failover: the best working WAN; balance: share by weight",
            get: |g| Some(Value::Word(g.mode as usize)),
            set: |g, v| g.mode = word(v, &Mode::ALL).unwrap_or(g.mode),
        },
        Opt {
            name: "log_level",
            ty: Type::words(&["err", "warning", "notice", "info", "debug"]),
            default: Some("info"),
            help: "syslog threshold",
            get: |g| Some(Value::Word(g.log_level as usize)),
            set: |g, v| g.log_level = word(v, &LogLevel::ALL).unwrap_or(g.log_level),
        },
        Opt {
            name: "rule_priority",
            // Priority 0 is the local table's rule and 32766/32767 are main/default.
            ty: Type::Uint { min: 1, max: 32765 - RULE_SPAN, span: RULE_SPAN, reserved: None },
            default: Some("5000"),
            help: "first priority of our ip rules",
            get: |g| Some(Value::Uint(g.rule_priority)),
            set: |g, v| {
                if let Value::Uint(n) = v {
                    g.rule_priority = n
                }
            },
        },
        Opt {
            name: "table_base",
            ty: Type::Uint { min: 1, max: u32::MAX - TABLE_SPAN, span: TABLE_SPAN, reserved: Some(KERNEL_TABLES) },
            default: Some("100"),
            help: "first of our routing tables",
            get: |g| Some(Value::Uint(g.table_base)),
            set: |g, v| {
                if let Value::Uint(n) = v {
                    g.table_base = n
                }
            },
        },
        Opt {
            name: "last_resort",
            ty: Type::words(&["main", "unreachable"]),
            default: Some("main"),
            help: "no WAN up: leave the main table in charge, or reject traffic",
            get: |g| Some(Value::Word(g.last_resort as usize)),
            set: |g, v| g.last_resort = word(v, &LastResort::ALL).unwrap_or(g.last_resort),
        },
        Opt {
            name: "balance_idle",
            ty: Type::Seconds { min: Duration::ZERO, max: Duration::from_secs(3600), decimals: 0 },
            default: Some("120"),
            help: "balance: seconds a flow idles before a returning WAN takes it",
            get: |g| Some(Value::Seconds(g.balance_idle)),
            set: |g, v| {
                if let Value::Seconds(d) = v {
                    g.balance_idle = d
                }
            },
        },
        Opt {
            name: "user",
            ty: Type::Text,
            default: None,
            help: "init script: run as this user (unset: root)",
            get: |_| None,
            set: |_, _| {},
        },
    ],
};

/// `config interface NAME`: one WAN each.
pub static INTERFACE: Section<Wan> = Section {
    ty: "interface",
    max: MAX_WANS,
    name_max: Some(NAME_MAX),
    one_of: &["device", "network"],
    options: &[
        Opt {
            name: "enabled",
            ty: Type::Bool,
            default: Some("1"),
            help: "probe and use this WAN",
            get: |w| Some(Value::Bool(w.enabled)),
            set: |w, v| {
                if let Value::Bool(b) = v {
                    w.enabled = b
                }
            },
        },
        Opt {
            name: "device",
            ty: Type::Name {
                max: IFNAME_MAX as u8,
                chars: DEVICE_CHARS,
                invalid: "is not a valid device name (1-15 characters, no '/', ':' or spaces)",
            },
            default: None,
            help: "kernel device, e.g. eth1",
            get: |w| w.device().map(|d| Value::Name(d)),
            set: |w, v| {
                if let Value::Name(s) = v {
                    w.source = Source::Device(crate::config::truncated(s))
                }
            },
        },
        Opt {
            name: "network",
            ty: Type::Name {
                max: NETWORK_MAX as u8,
                chars: Chars::Only(UCI_NAME_CHARS),
                invalid: "is not a netifd interface name (1-15 characters of A-Z, a-z, 0-9, _)",
            },
            default: None,
            help: "netifd interface to follow instead of a device",
            get: |w| w.network().map(|n| Value::Name(n)),
            set: |w, v| {
                if let Value::Name(s) = v {
                    w.source = Source::Network(crate::config::truncated(s))
                }
            },
        },
        Opt {
            name: "gateway",
            ty: Type::Gateway { family: Family::V4 },
            default: Some("auto"),
            help: "IPv4 next hop",
            get: |w| Some(Value::Gateway(w.gateway)),
            set: |w, v| {
                if let Value::Gateway(g) = v {
                    w.gateway = g
                }
            },
        },
        Opt {
            name: "gateway6",
            ty: Type::Gateway { family: Family::V6 },
            default: Some("auto"),
            help: "IPv6 next hop",
            get: |w| Some(Value::Gateway(w.gateway6)),
            set: |w, v| {
                if let Value::Gateway(g) = v {
                    w.gateway6 = g
                }
            },
        },
        Opt {
            name: "metric",
            ty: Type::uint(0, 65535),
            default: Some("0"),
            help: "lower is preferred; differs between WANs in failover mode",
            get: |w| Some(Value::Uint(w.metric)),
            set: |w, v| {
                if let Value::Uint(n) = v {
                    w.metric = n
                }
            },
        },
        Opt {
            name: "weight",
            ty: Type::uint(1, 100),
            default: Some("1"),
            help: "balance: share of new connections among equal metrics",
            get: |w| Some(Value::Uint(w.weight.into())),
            set: |w, v| {
                if let Value::Uint(n) = v {
                    w.weight = n as u8
                }
            },
        },
        Opt {
            name: "check_gateway",
            ty: Type::Bool,
            default: Some("1"),
            help: "probe the gateway too",
            get: |w| Some(Value::Bool(w.check_gateway)),
            set: |w, v| {
                if let Value::Bool(b) = v {
                    w.check_gateway = b
                }
            },
        },
        Opt {
            name: "track_ip",
            ty: Type::Hosts { min: 1, max: MAX_TARGETS as u8 },
            default: None,
            help: "Internet hosts to probe",
            get: |w| Some(Value::Hosts(&w.track_ip)),
            set: |w, v| {
                if let Value::Hosts(ips) = v {
                    w.track_ip = heapless::Vec::from_slice(ips).unwrap_or_default()
                }
            },
        },
        Opt {
            name: "track_method",
            // mwan3 calls ICMP echo `ping`: its configs carry over.
            ty: Type::Enum { words: &["icmp", "tcp"], aliases: &[("ping", 0)] },
            default: Some("icmp"),
            help: "icmp: echo requests; tcp: a SYN to track_port (gateway: icmp)",
            get: |w| Some(Value::Word(w.track_method as usize)),
            set: |w, v| w.track_method = word(v, &TrackMethod::ALL).unwrap_or(w.track_method),
        },
        Opt {
            name: "track_port",
            ty: Type::uint(1, 65535),
            default: Some("443"),
            help: "tcp: the targets' port; a SYN-ACK or a RST is an answer",
            get: |w| Some(Value::Uint(w.track_port.into())),
            set: |w, v| {
                if let Value::Uint(n) = v {
                    w.track_port = n as u16
                }
            },
        },
        Opt {
            name: "reliability",
            ty: Type::uint(1, MAX_TARGETS as u32),
            default: Some("1"),
            help: "targets that must answer, per family",
            get: |w| Some(Value::Uint(w.reliability.into())),
            set: |w, v| {
                if let Value::Uint(n) = v {
                    w.reliability = n as u8
                }
            },
        },
        Opt {
            name: "interval",
            ty: Type::Seconds { min: Duration::from_millis(100), max: Duration::from_secs(60), decimals: 3 },
            default: Some("0.4"),
            help: "seconds between probes while up (twice as often while down)",
            get: |w| Some(Value::Seconds(w.interval)),
            set: |w, v| {
                if let Value::Seconds(d) = v {
                    w.interval = d
                }
            },
        },
        Opt {
            name: "timeout",
            ty: Type::Seconds { min: Duration::from_millis(100), max: Duration::from_secs(30), decimals: 3 },
            default: Some("0.5"),
            help: "most seconds a probe may take (adaptive timeout's ceiling)",
            get: |w| Some(Value::Seconds(w.timeout)),
            set: |w, v| {
                if let Value::Seconds(d) = v {
                    w.timeout = d
                }
            },
        },
        Opt {
            name: "down",
            ty: Type::uint(1, 100),
            default: Some("4"),
            help: "failed rounds after a miss (over one interval) before down",
            get: |w| Some(Value::Uint(w.down.into())),
            set: |w, v| {
                if let Value::Uint(n) = v {
                    w.down = n as u8
                }
            },
        },
        Opt {
            name: "up",
            ty: Type::uint(1, 100),
            default: Some("3"),
            help: "good rounds in a row before a down WAN is up",
            get: |w| Some(Value::Uint(w.up.into())),
            set: |w, v| {
                if let Value::Uint(n) = v {
                    w.up = n as u8
                }
            },
        },
        Opt {
            name: "recovery_wait",
            ty: Type::Seconds { min: Duration::ZERO, max: Duration::from_secs(3600), decimals: 3 },
            default: Some("10"),
            help: "seconds up before traffic returns",
            get: |w| Some(Value::Seconds(w.recovery_wait)),
            set: |w, v| {
                if let Value::Seconds(d) = v {
                    w.recovery_wait = d
                }
            },
        },
        Opt {
            name: "check_quality",
            ty: Type::Bool,
            default: Some("0"),
            help: "also fail on loss or latency (failure_*, recovery_*)",
            get: |w| Some(Value::Bool(w.check_quality)),
            set: |w, v| {
                if let Value::Bool(b) = v {
                    w.check_quality = b
                }
            },
        },
        Opt {
            name: "failure_latency",
            ty: Type::uint(1, 30_000),
            default: Some("1000"),
            help: "ms of mean RTT over the last 16 probes that take the WAN down",
            get: |w| Some(Value::Uint(w.failure_latency)),
            set: |w, v| {
                if let Value::Uint(n) = v {
                    w.failure_latency = n
                }
            },
        },
        Opt {
            name: "recovery_latency",
            ty: Type::uint(1, 29_999),
            default: Some("500"),
            help: "ms of mean RTT a down WAN must be at or below to recover",
            get: |w| Some(Value::Uint(w.recovery_latency)),
            set: |w, v| {
                if let Value::Uint(n) = v {
                    w.recovery_latency = n
                }
            },
        },
        Opt {
            name: "failure_loss",
            ty: Type::uint(1, 100),
            default: Some("40"),
            help: "% of the last 16 probes lost that take the WAN down",
            get: |w| Some(Value::Uint(w.failure_loss.into())),
            set: |w, v| {
                if let Value::Uint(n) = v {
                    w.failure_loss = n as u8
                }
            },
        },
        Opt {
            name: "recovery_loss",
            ty: Type::uint(0, 99),
            default: Some("10"),
            help: "% lost a down WAN must be at or below to recover",
            get: |w| Some(Value::Uint(w.recovery_loss.into())),
            set: |w, v| {
                if let Value::Uint(n) = v {
                    w.recovery_loss = n as u8
                }
            },
        },
        Opt {
            name: "flush_conntrack",
            ty: Type::words(&["none", "on_down", "on_switch"]),
            default: Some("on_down"),
            help: "drop its NAT'd connections when traffic leaves",
            get: |w| Some(Value::Word(w.flush_conntrack as usize)),
            set: |w, v| w.flush_conntrack = word(v, &FlushConntrack::ALL).unwrap_or(w.flush_conntrack),
        },
    ],
};

/// `config rule NAME`: traffic picked by kernel rule selectors and the WANs it uses.
pub static RULE: Section<Policy> = Section {
    ty: "rule",
    max: MAX_POLICIES,
    name_max: Some(NAME_MAX),
    one_of: &[],
    options: &[
        Opt {
            name: "src_ip",
            ty: Type::Prefix,
            default: None,
            help: "source address or prefix",
            get: |p| p.src_ip.map(Value::Prefix),
            set: |p, v| {
                if let Value::Prefix(a) = v {
                    p.src_ip = Some(a)
                }
            },
        },
        Opt {
            name: "dest_ip",
            ty: Type::Prefix,
            default: None,
            help: "destination address or prefix",
            get: |p| p.dest_ip.map(Value::Prefix),
            set: |p, v| {
                if let Value::Prefix(a) = v {
                    p.dest_ip = Some(a)
                }
            },
        },
        Opt {
            name: "proto",
            ty: Type::words(&["tcp", "udp", "icmp", "all"]),
            default: Some("all"),
            help: "protocol",
            get: |p| Some(Value::Word(p.proto as usize)),
            set: |p, v| p.proto = word(v, &Proto::ALL).unwrap_or(p.proto),
        },
        Opt {
            name: "src_port",
            ty: Type::Ports { max: PORTS_MAX as u8 },
            default: None,
            help: "source ports (tcp, udp): 5060, 1000-2000, 80,443",
            get: |p| (!p.src_port.is_empty()).then_some(Value::Ports(&p.src_port)),
            set: |p, v| {
                if let Value::Ports(ports) = v {
                    p.src_port = heapless::Vec::from_slice(ports).unwrap_or_default()
                }
            },
        },
        Opt {
            name: "dest_port",
            ty: Type::Ports { max: PORTS_MAX as u8 },
            default: None,
            help: "destination ports (tcp, udp): 5060, 1000-2000, 80,443",
            get: |p| (!p.dest_port.is_empty()).then_some(Value::Ports(&p.dest_port)),
            set: |p, v| {
                if let Value::Ports(ports) = v {
                    p.dest_port = heapless::Vec::from_slice(ports).unwrap_or_default()
                }
            },
        },
        Opt {
            name: "src_iface",
            ty: Type::Name {
                max: IFNAME_MAX as u8,
                chars: DEVICE_CHARS,
                invalid: "is not a valid device name (1-15 characters, no '/', ':' or spaces)",
            },
            default: None,
            help: "where the traffic arrives: netifd interface or device",
            get: |p| p.src_iface.as_ref().map(|d| Value::Name(d.as_str())),
            set: |p, v| {
                if let Value::Name(s) = v {
                    p.src_iface = DevName::new(s)
                }
            },
        },
        Opt {
            name: "family",
            ty: Type::words(&["ipv4", "ipv6", "any"]),
            default: None,
            help: "ipv4, ipv6 or any; unset: the addresses' (or any)",
            get: |p| Some(Value::Word(p.family as usize)),
            set: |p, v| p.family = word(v, &PolicyFamily::ALL).unwrap_or(p.family),
        },
        Opt {
            name: "use",
            ty: Type::Uses { max: MAX_WANS as u8 + 1 },
            default: None,
            help: "interfaces by preference, or balance; unset: as all traffic",
            get: |p| (!p.use_names.is_empty()).then_some(Value::Uses(&p.use_names)),
            set: |p, v| {
                if let Value::Uses(names) = v {
                    p.use_names = heapless::Vec::from_slice(names).unwrap_or_default()
                }
            },
        },
        Opt {
            name: "last_resort",
            ty: Type::words(&["main", "unreachable", "blackhole"]),
            default: Some("main"),
            help: "none of use up: main table, reject, or drop",
            get: |p| Some(Value::Word(p.last_resort as usize)),
            set: |p, v| p.last_resort = word(v, &PolicyLastResort::ALL).unwrap_or(p.last_resort),
        },
    ],
};

/// Writes the tables as JSON (`dualwan check --schema`), keys in a fixed order; the README
/// describes the shape.
pub fn write_schema(out: &mut dyn Write) -> fmt::Result {
    out.write_str("{\n\t\"bool\": {\"true\": ")?;
    words(out, &BOOL_TRUE)?;
    out.write_str(", \"false\": ")?;
    words(out, &BOOL_FALSE)?;
    out.write_str("},\n\t\"sections\": {\n")?;
    section(out, &GLOBALS)?;
    out.write_str(",\n")?;
    section(out, &INTERFACE)?;
    out.write_str(",\n")?;
    section(out, &RULE)?;
    out.write_str("\n\t}\n}\n")
}

fn section<T>(out: &mut dyn Write, s: &Section<T>) -> fmt::Result {
    out.write_str("\t\t")?;
    string(out, s.ty)?;
    out.write_str(": {\n\t\t\t\"name\": ")?;
    match s.name_max {
        Some(max) => {
            write!(out, "{{\"min\": 1, \"max\": {max}, \"chars\": ")?;
            string(out, UCI_NAME_CHARS)?;
            out.write_char('}')?;
        }
        None => out.write_str("null")?,
    }
    write!(out, ",\n\t\t\t\"max\": {},\n\t\t\t\"one_of\": ", s.max)?;
    words(out, s.one_of)?;
    out.write_str(",\n\t\t\t\"options\": {")?;
    for (i, opt) in s.options.iter().enumerate() {
        out.write_str(if i == 0 { "\n\t\t\t\t" } else { ",\n\t\t\t\t" })?;
        option(out, opt.name, &opt.ty, opt.default, opt.help)?;
    }
    out.write_str("\n\t\t\t}\n\t\t}")
}

fn option(out: &mut dyn Write, name: &str, ty: &Type, default: Option<&str>, help: &str) -> fmt::Result {
    string(out, name)?;
    out.write_str(": {\"type\": ")?;
    match ty {
        Type::Bool => string(out, "bool")?,
        Type::Uint { min, max, span, reserved } => {
            write!(out, "\"uint\", \"min\": {min}, \"max\": {max}")?;
            if *span > 1 {
                write!(out, ", \"span\": {span}")?;
            }
            if let Some((from, to)) = reserved {
                write!(out, ", \"reserved\": [{from}, {to}]")?;
            }
        }
        Type::Seconds { min, max, decimals } => {
            write!(out, "\"seconds\", \"min\": {min}, \"max\": {max}, \"decimals\": {decimals}")?
        }
        Type::Enum { words: w, aliases } => {
            out.write_str("\"enum\", \"words\": ")?;
            words(out, w)?;
            if !aliases.is_empty() {
                out.write_str(", \"aliases\": {")?;
                for (i, &(alias, word)) in aliases.iter().enumerate() {
                    out.write_str(if i == 0 { "" } else { ", " })?;
                    string(out, alias)?;
                    out.write_str(": ")?;
                    string(out, w.get(word).copied().unwrap_or_default())?;
                }
                out.write_char('}')?;
            }
        }
        Type::Gateway { family } => {
            let family = match family {
                Family::V4 => "ipv4",
                Family::V6 => "ipv6",
            };
            write!(out, "\"gateway\", \"family\": \"{family}\", \"words\": ")?;
            words(out, &GATEWAY_WORDS)?;
        }
        Type::Hosts { min, max } => write!(out, "\"hosts\", \"min\": {min}, \"max\": {max}")?,
        Type::Name { max, chars, invalid } => {
            write!(out, "\"name\", \"min\": 1, \"max\": {max}, ")?;
            let (key, set) = match chars {
                Chars::Only(set) => ("chars", set),
                Chars::Not(set) => ("forbid", set),
            };
            write!(out, "\"{key}\": ")?;
            string(out, set)?;
            out.write_str(", \"invalid\": ")?;
            string(out, invalid)?;
        }
        Type::Text => string(out, "text")?,
        Type::Prefix => string(out, "prefix")?,
        Type::Ports { max } => write!(out, "\"ports\", \"max\": {max}")?,
        Type::Uses { max } => {
            write!(out, "\"wans\", \"max\": {max}, \"words\": ")?;
            words(out, &[USE_BALANCE])?;
        }
    }
    write!(out, ", \"list\": {}, \"default\": ", ty.is_list())?;
    match default {
        Some(d) => string(out, d)?,
        None => out.write_str("null")?,
    }
    out.write_str(", \"help\": ")?;
    string(out, help)?;
    out.write_char('}')
}

fn words(out: &mut dyn Write, list: &[&str]) -> fmt::Result {
    out.write_char('[')?;
    for (i, w) in list.iter().enumerate() {
        if i > 0 {
            out.write_str(", ")?;
        }
        string(out, w)?;
    }
    out.write_char(']')
}

fn string(out: &mut dyn Write, s: &str) -> fmt::Result {
    blob_json::string(out, s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn character_sets_read_as_a_bracket_expression() {
        let name = Chars::Only(UCI_NAME_CHARS);
        assert!(b"azAZ09_".iter().all(|&c| name.allows(c)));
        assert!(!b"-. /".iter().any(|&c| name.allows(c)));
        let device = Chars::Not("/: \t");
        assert!(b"eth0-wan.1".iter().all(|&c| device.allows(c)));
        assert!(!b"/: \t".iter().any(|&c| device.allows(c)));
        assert!(in_set("-", b'-') && in_set("a-", b'-') && !in_set("a-", b'b'));
    }

    /// The reason a name is refused names the range the table checks.
    #[test]
    fn name_messages_state_their_length() {
        for opt in INTERFACE.options {
            if let Type::Name { max, invalid, .. } = opt.ty {
                assert!(invalid.contains(&format!("(1-{max} characters")), "{}: {invalid}", opt.name);
            }
        }
    }

    #[test]
    fn option_names_are_unique_and_one_of_names_options() {
        fn names<T>(s: &Section<T>) -> Vec<&'static str> {
            s.options.iter().map(|o| o.name).collect()
        }
        for names in [names(&GLOBALS), names(&INTERFACE)] {
            let mut sorted = names.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), names.len(), "{names:?}");
        }
        assert!(INTERFACE.one_of.iter().all(|n| names(&INTERFACE).contains(n)));
    }

    #[test]
    fn the_schema_is_json_with_every_option() {
        let mut out = String::new();
        write_schema(&mut out).unwrap();
        assert!(out.contains("\"forbid\": \"/: \\t\""), "{out}");
        assert!(
            out.contains("\"interval\": {\"type\": \"seconds\", \"min\": 0.1, \"max\": 60, \"decimals\": 3"),
            "{out}"
        );
        for opt in GLOBALS.options.iter().map(|o| o.name).chain(INTERFACE.options.iter().map(|o| o.name)) {
            assert!(out.contains(&format!("\t\"{opt}\": {{\"type\"")), "{opt}");
        }
    }
}
