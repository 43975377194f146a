//! The configuration model of `/etc/config/dualwan`: the reader of the option tables in
//! [`crate::options`] (types, ranges, defaults) and the checks between options and between
//! interfaces.
//!
//! Input is config text or a parsed [`uci::Package`]; output is a [`Config`] with fixed
//! capacities, or every error found (not just the first), each with the line it points at.
//! Unknown section types and unknown options are warnings, so a config written for a newer
//! dualwan still loads. Pure: reading the file is `sys::config_file`'s job.

use crate::kernel::IfName;
use crate::options::{
    self, Opt, Section, Type, Value, BOOL_FALSE, BOOL_TRUE, GATEWAY_WORDS, KERNEL_TABLES, USE_BALANCE,
};
use crate::route::{DevName, Family, PortRange, Prefix};
use crate::time::Duration;
use crate::uci::{self, OptionRef, Package, SectionRef};
use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::string::String;
use std::vec::Vec;

/// Most WAN interfaces one config may define (enabled or not).
pub const MAX_WANS: usize = 8;
/// Most `track_ip` targets per interface, both families together.
pub const MAX_TARGETS: usize = 8;
/// Longest interface (section) name; it appears in status, logs and hotplug variables.
pub const NAME_MAX: usize = 32;
/// Largest config file read, in bytes: a real one is a few KiB.
pub const FILE_MAX: usize = 64 * 1024;
/// How many priorities of `ip rule` belong to dualwan, starting at `rule_priority`.
pub const RULE_SPAN: u32 = 100;
/// How many routing tables belong to dualwan, starting at `table_base`.
pub const TABLE_SPAN: u32 = 17;
/// Most `config rule` sections.
pub const MAX_POLICIES: usize = 16;
/// Most ports or port ranges in one `src_port` / `dest_port`.
pub const PORTS_MAX: usize = 16;
/// Offset (from `rule_priority`) of the first priority the kernel rules of `config rule`
/// sections take, one per port combination, in file order.
pub const POLICY_SLOT_FIRST: u32 = 10;
/// How many priorities those kernel rules may take: up to, not including, the catch-all.
pub const POLICY_SLOTS: u32 = 80;
/// Tables (and nexthop groups) for `config rule` sections that balance over a set of WANs
/// other than the catch-all's: `table_base + 1 + MAX_WANS` onwards.
pub const BALANCE_SETS: usize = 8;

/// Name of a WAN: the UCI section name.
pub type WanName = heapless::String<NAME_MAX>;

/// Longest netifd interface name accepted in `option network`. netifd itself takes any UCI
/// section name (early versions kept it in `char name[IFNAMSIZ]`); LuCI limits new
/// interfaces to 15 characters, since devices such as `pppoe-NAME` derive from it.
pub const NETWORK_MAX: usize = 15;

/// A netifd interface name (`network.interface.NAME` on ubus).
pub type NetName = heapless::String<NETWORK_MAX>;

/// Where a WAN's kernel device comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// `option device`: a fixed kernel device.
    Device(IfName),
    /// `option network`: netifd's interface of that name; its `l3_device`, address and
    /// gateway are asked over ubus and known only at run time.
    Network(NetName),
}

/// How traffic is spread over the WANs.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Everything on the best working WAN.
    Failover,
    /// New connections shared by `weight` among the working WANs of the lowest metric.
    Balance,
}

impl Mode {
    /// Every mode, in the order of its option's words.
    pub const ALL: [Mode; 2] = [Mode::Failover, Mode::Balance];
}

/// A set of WANs by index in the config (at most [`MAX_WANS`]): who carries a family's
/// traffic in balance mode, or a rule's.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct WanSet(u8);

impl WanSet {
    /// No WAN.
    pub const EMPTY: WanSet = WanSet(0);

    /// Just `wan`.
    pub const fn one(wan: usize) -> WanSet {
        WanSet(1 << wan)
    }

    /// Adds `wan` (ignored beyond [`MAX_WANS`]).
    pub fn insert(&mut self, wan: usize) {
        if wan < MAX_WANS {
            self.0 |= 1 << wan;
        }
    }

    /// True if `wan` is in the set.
    pub const fn contains(self, wan: usize) -> bool {
        wan < MAX_WANS && self.0 & (1 << wan) != 0
    }

    /// True if no WAN is in it.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// How many WANs are in it.
    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// The WANs in it, lowest index first.
    pub fn iter(self) -> impl Iterator<Item = usize> {
        (0..MAX_WANS).filter(move |&w| self.contains(w))
    }

    /// The lowest WAN in it.
    pub fn first(self) -> Option<usize> {
        self.iter().next()
    }

    /// The WANs of both sets.
    pub const fn union(self, other: WanSet) -> WanSet {
        WanSet(self.0 | other.0)
    }

    /// The WANs of this set that are not in `other`.
    pub const fn minus(self, other: WanSet) -> WanSet {
        WanSet(self.0 & !other.0)
    }
}

/// Which packets a `config rule` section selects by protocol (`option proto`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP (IPv4) and ICMPv6 (IPv6).
    Icmp,
    /// Any protocol.
    All,
}

impl Proto {
    /// All four, in the order of their option's words.
    pub const ALL: [Proto; 4] = [Proto::Tcp, Proto::Udp, Proto::Icmp, Proto::All];

    /// True if ports can be selected on (TCP and UDP).
    pub const fn has_ports(self) -> bool {
        matches!(self, Proto::Tcp | Proto::Udp)
    }
}

/// Which families a `config rule` section makes kernel rules for (`option family`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PolicyFamily {
    /// IPv4 only.
    Ipv4,
    /// IPv6 only.
    Ipv6,
    /// Both (each only while dualwan routes it: see [`Config::tracks`]).
    Any,
}

impl PolicyFamily {
    /// All three, in the order of their option's words.
    pub const ALL: [PolicyFamily; 3] = [PolicyFamily::Ipv4, PolicyFamily::Ipv6, PolicyFamily::Any];

    /// True if rules of `family` are made.
    pub const fn covers(self, family: Family) -> bool {
        matches!(
            (self, family),
            (PolicyFamily::Any, _) | (PolicyFamily::Ipv4, Family::V4) | (PolicyFamily::Ipv6, Family::V6)
        )
    }

    /// Just `family`.
    pub const fn of(family: Family) -> PolicyFamily {
        match family {
            Family::V4 => PolicyFamily::Ipv4,
            Family::V6 => PolicyFamily::Ipv6,
        }
    }
}

/// What a `config rule`'s traffic gets while none of its `use` WANs is up.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PolicyLastResort {
    /// The main table decides (its default routes).
    Main,
    /// Rejected with ICMP unreachable.
    Unreachable,
    /// Dropped silently.
    Blackhole,
}

impl PolicyLastResort {
    /// All three, in the order of their option's words.
    pub const ALL: [PolicyLastResort; 3] =
        [PolicyLastResort::Main, PolicyLastResort::Unreachable, PolicyLastResort::Blackhole];
}

/// Name of a `config rule` section.
pub type PolicyName = heapless::String<NAME_MAX>;

/// Ports and port ranges of one `src_port` / `dest_port` option.
pub type Ports = heapless::Vec<PortRange, PORTS_MAX>;

/// What a `config rule`'s `list use` asks for, resolved against the interfaces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Use {
    /// No `use`: whatever carries the rest of the traffic (the catch-all's choice).
    Global,
    /// The first of these WANs (by index) that is up, in this order of preference.
    Ordered(heapless::Vec<u8, MAX_WANS>),
    /// `balance`: the WANs of `wans` that are up share the traffic by weight; with `tiered`
    /// (`balance` alone: every enabled WAN), only those of the lowest metric that is up.
    Balance {
        /// Who may carry it.
        wans: WanSet,
        /// Metric tiers apply (`list use 'balance'` alone).
        tiered: bool,
    },
}

/// `config rule NAME`: traffic selected by FIB rule selectors and where it goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Section name.
    pub name: PolicyName,
    /// Line of its `config` command.
    pub line: u32,
    /// `src_ip`: source address or prefix.
    pub src_ip: Option<Prefix>,
    /// `dest_ip`: destination address or prefix.
    pub dest_ip: Option<Prefix>,
    /// `proto`.
    pub proto: Proto,
    /// `src_port`: each entry is one kernel rule (times the `dest_port` entries).
    pub src_port: Ports,
    /// `dest_port`.
    pub dest_port: Ports,
    /// `src_iface`: the device the traffic arrives on (`iif`).
    pub src_iface: Option<DevName>,
    /// `family`, as given or inferred from the addresses.
    pub family: PolicyFamily,
    /// `list use` as written: interface names and the word `balance`.
    pub use_names: heapless::Vec<WanName, { MAX_WANS + 1 }>,
    /// `use` resolved (once the interfaces are known).
    pub uses: Use,
    /// `last_resort`.
    pub last_resort: PolicyLastResort,
}

impl Policy {
    /// A rule with every default and the given name.
    pub fn with_defaults(name: &str) -> Policy {
        // Placeholders, each replaced by its option's default.
        let mut policy = Policy {
            name: truncated(name),
            line: 0,
            src_ip: None,
            dest_ip: None,
            proto: Proto::All,
            src_port: Ports::new(),
            dest_port: Ports::new(),
            src_iface: None,
            family: PolicyFamily::Any,
            use_names: heapless::Vec::new(),
            uses: Use::Global,
            last_resort: PolicyLastResort::Main,
        };
        set_defaults(&options::RULE, &mut policy);
        policy
    }

    /// `src_iface` when it can name a netifd interface (`[A-Za-z0-9_]`, at most
    /// [`NETWORK_MAX`]): netifd is asked for its device first (`guest` is `br-guest`).
    pub fn src_netifd(&self) -> Option<&str> {
        let name = self.src_iface.as_ref()?.as_str();
        let netifd = name.len() <= NETWORK_MAX && name.bytes().all(|b| options::NAME_CHARS.allows(b));
        netifd.then_some(name)
    }

    /// `main`, `unreachable` or `blackhole`, as its option says.
    pub fn last_resort_word(&self) -> &'static str {
        match self.last_resort {
            PolicyLastResort::Main => "main",
            PolicyLastResort::Unreachable => "unreachable",
            PolicyLastResort::Blackhole => "blackhole",
        }
    }

    /// How many priorities its kernel rules take: one per combination of a source and a
    /// destination port entry (the two families share them).
    pub fn slots(&self) -> u32 {
        (self.src_port.len().max(1) * self.dest_port.len().max(1)) as u32
    }
}

/// Syslog severity threshold, in syslog's names.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Errors only.
    Err,
    /// Errors and warnings.
    Warning,
    /// Plus every transition and traffic move.
    Notice,
    /// Plus start, stop and reloads.
    Info,
    /// Everything, including per-round results.
    Debug,
}

impl LogLevel {
    /// Every level, in the order of its option's words.
    pub const ALL: [LogLevel; 5] =
        [LogLevel::Err, LogLevel::Warning, LogLevel::Notice, LogLevel::Info, LogLevel::Debug];
}

/// What happens to traffic when no WAN is up.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum LastResort {
    /// Leave the main table (the DHCP default routes) in charge.
    Main,
    /// Fail fast: `unreachable default` in our active table.
    Unreachable,
}

impl LastResort {
    /// Both, in the order of their option's words.
    pub const ALL: [LastResort; 2] = [LastResort::Main, LastResort::Unreachable];
}

/// Where a WAN's next hop of one family comes from (`option gateway`, `option gateway6`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Gateway {
    /// The kernel's default route via this WAN's device (from DHCP, PPP, router
    /// advertisements or netifd); for IPv6 usually a link-local router address.
    Auto,
    /// A fixed address of the option's family.
    Fixed(IpAddr),
}

/// Which conntrack entries are removed when traffic leaves a WAN (`option flush_conntrack`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FlushConntrack {
    /// Never: connections NAT'd out of the WAN are left to time out.
    None,
    /// When traffic leaves the WAN because it went down.
    OnDown,
    /// Whenever traffic leaves the WAN, also when it is still up (failback from a backup).
    OnSwitch,
}

impl FlushConntrack {
    /// All three, in the order of their option's words.
    pub const ALL: [FlushConntrack; 3] = [FlushConntrack::None, FlushConntrack::OnDown, FlushConntrack::OnSwitch];
}

/// How a WAN's targets are probed (`option track_method`); its gateway is always pinged.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TrackMethod {
    /// ICMP echo requests (`icmp`, or `ping` as mwan3 calls it).
    Icmp,
    /// A TCP SYN to `track_port`: a SYN-ACK or a RST is an answer. For lines whose ISP (or
    /// the targets' operators) drops ICMP.
    Tcp,
}

impl TrackMethod {
    /// Both, in the order of their option's words.
    pub const ALL: [TrackMethod; 2] = [TrackMethod::Icmp, TrackMethod::Tcp];

    /// `icmp` / `tcp`: the option's word, as status shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            TrackMethod::Icmp => "icmp",
            TrackMethod::Tcp => "tcp",
        }
    }
}

/// `config globals`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Globals {
    /// Master switch: when off, dualwan keeps no rules or routes.
    pub enabled: bool,
    /// Traffic distribution.
    pub mode: Mode,
    /// Log threshold.
    pub log_level: LogLevel,
    /// First priority of our `ip rule`s; we use `rule_priority .. rule_priority + 99`.
    pub rule_priority: u32,
    /// First of our routing tables; we use `table_base .. table_base + 16`.
    pub table_base: u32,
    /// Behaviour with no WAN up.
    pub last_resort: LastResort,
    /// Balance mode: how long a hash bucket must carry no packet before it moves to a WAN
    /// that (re)joined.
    pub balance_idle: Duration,
}

/// Every option at its default (the option table's).
impl Default for Globals {
    fn default() -> Self {
        // Placeholders, each replaced by its option's default.
        let mut globals = Globals {
            enabled: false,
            mode: Mode::Failover,
            log_level: LogLevel::Err,
            rule_priority: 0,
            table_base: 0,
            last_resort: LastResort::Main,
            balance_idle: Duration::ZERO,
        };
        set_defaults(&options::GLOBALS, &mut globals);
        globals
    }
}

impl Globals {
    /// The rule priorities that belong to dualwan.
    pub fn rule_range(&self) -> core::ops::RangeInclusive<u32> {
        self.rule_priority..=self.rule_priority + (RULE_SPAN - 1)
    }

    /// The routing tables that belong to dualwan.
    pub fn table_range(&self) -> core::ops::RangeInclusive<u32> {
        self.table_base..=self.table_base + (TABLE_SPAN - 1)
    }

    /// The nexthop object ids that belong to dualwan: the numbers of our rule priorities
    /// (another id space; balance mode's nexthops and groups).
    pub fn nexthop_range(&self) -> core::ops::RangeInclusive<u32> {
        self.rule_range()
    }
}

/// `config interface NAME`: one WAN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wan {
    /// Section name.
    pub name: WanName,
    /// Line of its `config` command, for messages about the section as a whole.
    pub line: u32,
    /// Probed and used at all.
    pub enabled: bool,
    /// The kernel device, or the netifd interface that names it at run time.
    pub source: Source,
    /// IPv4 next hop.
    pub gateway: Gateway,
    /// IPv6 next hop (used only when some `track_ip` is IPv6).
    pub gateway6: Gateway,
    /// Preference: lower wins.
    pub metric: u32,
    /// Balance mode: its share of new connections among the WANs of its metric.
    pub weight: u8,
    /// Probe the gateway too, to tell a dead gateway from a dead upstream.
    pub check_gateway: bool,
    /// Internet hosts whose answers decide whether the WAN works, IPv4 and IPv6 mixed;
    /// each family's targets decide that family's health.
    pub track_ip: heapless::Vec<IpAddr, MAX_TARGETS>,
    /// How the targets are probed.
    pub track_method: TrackMethod,
    /// With `track_method tcp`: the targets' port the SYNs go to.
    pub track_port: u16,
    /// Targets that must answer for a round to count as good, per family (capped at the
    /// number of targets of the family: see [`Wan::need`]).
    pub reliability: u8,
    /// Time between the starts of two rounds.
    pub interval: Duration,
    /// How long a probe may take.
    pub timeout: Duration,
    /// Failed rounds in a row before the WAN is down.
    pub down: u8,
    /// Good rounds in a row before it is up again.
    pub up: u8,
    /// How long a recovered WAN must stay up before traffic returns to it.
    pub recovery_wait: Duration,
    /// When the conntrack entries NAT'd to this WAN's address are removed.
    pub flush_conntrack: FlushConntrack,
    /// Also judge the line by its loss and latency (`failure_*`, `recovery_*`).
    pub check_quality: bool,
    /// With `check_quality`: mean RTT (ms) of the answered recent probes that takes the
    /// line down.
    pub failure_latency: u32,
    /// With `check_quality`: mean RTT (ms) at or below which a down line may recover.
    pub recovery_latency: u32,
    /// With `check_quality`: percent of the recent probes lost that takes the line down.
    pub failure_loss: u8,
    /// With `check_quality`: percent lost at or below which a down line may recover.
    pub recovery_loss: u8,
}

impl Wan {
    /// True if `other` probes the same link the same way (name, enabled, device or network,
    /// gateway, targets and how they are probed, gateway probing): its health so far still holds. Timing, hysteresis,
    /// metric and flush settings may differ; they apply from the next round on.
    pub fn same_probing(&self, other: &Wan) -> bool {
        self.name == other.name
            && self.enabled == other.enabled
            && self.source == other.source
            && self.gateway == other.gateway
            && self.gateway6 == other.gateway6
            && self.track_ip == other.track_ip
            && self.track_method == other.track_method
            && self.track_port == other.track_port
            && self.check_gateway == other.check_gateway
    }

    /// An interface with every default (the option table's) and the given name and device.
    pub fn with_defaults(name: &str, device: &str) -> Wan {
        // Placeholders, each replaced by its option's default.
        let mut wan = Wan {
            name: truncated(name),
            line: 0,
            enabled: false,
            source: Source::Device(truncated(device)),
            gateway: Gateway::Auto,
            gateway6: Gateway::Auto,
            metric: 0,
            weight: 0,
            check_gateway: false,
            track_ip: heapless::Vec::new(),
            track_method: TrackMethod::Icmp,
            track_port: 0,
            reliability: 0,
            interval: Duration::ZERO,
            timeout: Duration::ZERO,
            down: 0,
            up: 0,
            recovery_wait: Duration::ZERO,
            flush_conntrack: FlushConntrack::None,
            check_quality: false,
            failure_latency: 0,
            recovery_latency: 0,
            failure_loss: 0,
            recovery_loss: 0,
        };
        set_defaults(&options::INTERFACE, &mut wan);
        wan
    }

    /// True if some `track_ip` is of `family`: only then is the family probed, judged and
    /// routed for this WAN.
    pub fn tracks(&self, family: Family) -> bool {
        self.track_ip.iter().any(|ip| Family::of(ip) == family)
    }

    /// The `track_ip` targets of `family` with their index in `track_ip`.
    pub fn targets(&self, family: Family) -> impl Iterator<Item = (usize, IpAddr)> + '_ {
        self.track_ip.iter().enumerate().filter(move |(_, ip)| Family::of(ip) == family).map(|(i, ip)| (i, *ip))
    }

    /// Targets of `family` that must answer for a round of that family to be good:
    /// `reliability`, but never more than the family has.
    pub fn need(&self, family: Family) -> u8 {
        let n = self.targets(family).count() as u8;
        self.reliability.min(n)
    }

    /// True if its targets are probed with TCP (its gateway never is).
    pub fn probes_tcp(&self) -> bool {
        self.track_method == TrackMethod::Tcp
    }

    /// The gateway option of `family`.
    pub fn gateway_of(&self, family: Family) -> Gateway {
        match family {
            Family::V4 => self.gateway,
            Family::V6 => self.gateway6,
        }
    }

    /// An interface with every default that follows netifd's interface `network`.
    pub fn with_network(name: &str, network: &str) -> Wan {
        Wan { source: Source::Network(truncated(network)), ..Wan::with_defaults(name, "") }
    }

    /// The configured kernel device (`None` for a netifd interface: see the daemon).
    pub fn device(&self) -> Option<&IfName> {
        match &self.source {
            Source::Device(d) => Some(d),
            Source::Network(_) => None,
        }
    }

    /// The netifd interface it follows, if any.
    pub fn network(&self) -> Option<&NetName> {
        match &self.source {
            Source::Network(n) => Some(n),
            Source::Device(_) => None,
        }
    }
}

/// A validated configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// `config globals`.
    pub globals: Globals,
    /// Interfaces in file order; the index is the WAN's slot (its table is `table_base + 1 + slot`).
    pub wans: heapless::Vec<Wan, MAX_WANS>,
    /// `config rule` sections in file order.
    pub policies: heapless::Vec<Policy, MAX_POLICIES>,
}

impl Config {
    /// The WAN called `name`, with its slot.
    pub fn wan(&self, name: &str) -> Option<(usize, &Wan)> {
        self.wans.iter().enumerate().find(|(_, w)| w.name == name)
    }

    /// True if some enabled WAN tracks `family`: only then does dualwan route that family.
    /// An IPv4-only config leaves IPv6 routing entirely alone, and the other way round.
    pub fn tracks(&self, family: Family) -> bool {
        self.wans.iter().any(|w| w.enabled && w.tracks(family))
    }

    /// The enabled WANs: whom balance mode shares traffic among (by metric tier).
    pub fn enabled_wans(&self) -> WanSet {
        let mut set = WanSet::EMPTY;
        self.wans.iter().enumerate().filter(|(_, w)| w.enabled).for_each(|(i, _)| set.insert(i));
        set
    }

    /// The balance sets that need a table and a group of their own, in the order of
    /// their tables (`table_base + 1 + MAX_WANS + i`): those of rules that balance over
    /// something else than the catch-all does (in balance mode, every enabled WAN by tier).
    pub fn balance_sets(&self) -> heapless::Vec<(WanSet, bool), BALANCE_SETS> {
        let mut sets: heapless::Vec<(WanSet, bool), BALANCE_SETS> = heapless::Vec::new();
        let global = (self.enabled_wans(), true);
        for p in &self.policies {
            if let Use::Balance { wans, tiered } = p.uses {
                let set = (wans, tiered);
                if (self.globals.mode == Mode::Balance && set == global) || sets.contains(&set) {
                    continue;
                }
                let _ = sets.push(set); // more are refused by the reader
            }
        }
        sets
    }
}

/// What a config message is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The file is not valid UCI.
    Parse(uci::ParseError),
    /// The file could not be read.
    Read(String),
    /// The file is larger than [`FILE_MAX`].
    TooLarge(usize),
    /// An option's value has the wrong type or range: `(section, option, value, why)`.
    Value { section: String, option: &'static str, value: String, why: String },
    /// A section-level problem: `(section, what)`.
    Section { section: String, what: String },
    /// More interfaces than [`MAX_WANS`].
    TooManyWans,
    /// More `config rule` sections than [`MAX_POLICIES`].
    TooManyPolicies,
    /// No interface is enabled.
    NoEnabledWan,
    /// A section type this version does not know (warning).
    UnknownSection { ty: String },
    /// An option this version does not know (warning).
    UnknownOption { section: String, option: String },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Parse(e) => write!(f, "{}", e),
            Problem::Read(e) => write!(f, "cannot read: {e}"),
            Problem::TooLarge(n) => {
                write!(f, "file is {n} bytes, more than the {FILE_MAX} allowed")
            }
            Problem::Value { section, option, value, why } => {
                write!(f, "option '{option}' in {section}: '{value}' {why}")
            }
            Problem::Section { section, what } => write!(f, "{section}: {what}"),
            Problem::TooManyWans => write!(f, "more than {MAX_WANS} interface sections"),
            Problem::TooManyPolicies => write!(f, "more than {MAX_POLICIES} rule sections"),
            Problem::NoEnabledWan => {
                write!(f, "no enabled interface: nothing to fail over between")
            }
            Problem::UnknownSection { ty } => write!(f, "unknown section type '{ty}' ignored"),
            Problem::UnknownOption { section, option } => {
                write!(f, "unknown option '{option}' in {section} ignored")
            }
        }
    }
}

/// One error or warning, with the line it points at (0: the file as a whole).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// 1-based line in the config file.
    pub line: u32,
    /// What is wrong.
    pub problem: Problem,
}

impl ConfigError {
    /// `FILE:LINE: what is wrong`, the form every config message takes.
    pub fn display_in<'a>(&'a self, file: &'a str) -> impl fmt::Display + 'a {
        struct In<'a>(&'a str, &'a ConfigError);
        impl fmt::Display for In<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                if self.1.line == 0 {
                    write!(f, "{}: {}", self.0, self.1.problem)
                } else {
                    write!(f, "{}:{}: {}", self.0, self.1.line, self.1.problem)
                }
            }
        }
        In(file, self)
    }
}

/// The result of loading: the config (if there were no errors) and all messages.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Errors: any makes the config unusable.
    pub errors: Vec<ConfigError>,
    /// Warnings: reported, the config is still used.
    pub warnings: Vec<ConfigError>,
}

/// Parses and validates config text.
pub fn load_str(text: &str) -> (Option<Config>, Report) {
    let mut report = Report::default();
    match uci::parse(text) {
        Ok(package) => {
            let config = from_package(&package, &mut report);
            let config = if report.errors.is_empty() { config } else { None };
            report.errors.sort_by_key(|e| e.line);
            report.warnings.sort_by_key(|e| e.line);
            (config, report)
        }
        Err(e) => {
            // libuci's own count can point before the error (see `uci::ParseError`).
            report.errors.push(ConfigError { line: e.physical, problem: Problem::Parse(e) });
            (None, report)
        }
    }
}

/// Builds a [`Config`] from parsed UCI, collecting every problem into `report`.
pub fn from_package(package: &Package, report: &mut Report) -> Option<Config> {
    let mut globals = Globals::default();
    let mut globals_seen: Option<u32> = None;
    let mut wans: heapless::Vec<Wan, MAX_WANS> = heapless::Vec::new();
    let mut too_many_reported = false;
    // Read once the interfaces they name are all known.
    let mut rule_sections: Vec<SectionRef<'_>> = Vec::new();

    for section in package.sections() {
        match section.ty() {
            "globals" => {
                if let Some(first) = globals_seen {
                    report.errors.push(ConfigError {
                        line: section.line(),
                        problem: Problem::Section {
                            section: label(&section),
                            what: format!("second globals section (the first is on line {first})"),
                        },
                    });
                    continue;
                }
                globals_seen = Some(section.line());
                read_globals(&section, &mut globals, report);
            }
            "interface" => {
                let wan = read_wan(&section, report);
                if wans.push(wan).is_err() && !too_many_reported {
                    too_many_reported = true;
                    report.errors.push(ConfigError { line: section.line(), problem: Problem::TooManyWans });
                }
            }
            "rule" => rule_sections.push(section),
            other => report
                .warnings
                .push(ConfigError { line: section.line(), problem: Problem::UnknownSection { ty: other.into() } }),
        }
    }

    check_wans(&wans, globals.mode, report);
    let mut config = Config { globals, wans, policies: heapless::Vec::new() };
    for section in &rule_sections {
        let policy = read_policy(section, &config, report);
        if config.policies.push(policy).is_err() {
            report.errors.push(ConfigError { line: section.line(), problem: Problem::TooManyPolicies });
            break;
        }
    }
    check_policies(&config, report);
    if report.errors.is_empty() {
        Some(config)
    } else {
        None
    }
}

/// `interface 'wan'`, `globals 'globals'`, or `@globals[0]` for an anonymous section.
fn label(section: &SectionRef<'_>) -> String {
    match section.name() {
        Some(name) => format!("{} '{}'", section.ty(), name),
        None => format!("anonymous {} section", section.ty()),
    }
}

/// Reads the options of one section as its table declares them.
struct Reader<'r, 'a> {
    section: &'r SectionRef<'a>,
    label: String,
    report: &'r mut Report,
}

impl<'a> Reader<'_, 'a> {
    fn bad(&mut self, line: u32, option: &'static str, value: &str, why: String) {
        self.report.errors.push(ConfigError {
            line,
            problem: Problem::Value { section: self.label.clone(), option, value: value.into(), why },
        });
    }

    fn section_error(&mut self, line: u32, what: String) {
        self.report.errors.push(ConfigError { line, problem: Problem::Section { section: self.label.clone(), what } });
    }

    /// The single value of `name`, or `None` if unset (errors if given as a list).
    fn single(&mut self, name: &'static str) -> Option<(OptionRef<'a>, &'a str)> {
        let option = self.section.option(name)?;
        let (first, _) = option.values().next()?;
        if option.is_list() {
            self.bad(option.line(), name, first, "is a list; this option takes one value".into());
            return None;
        }
        Some((option, first))
    }

    /// Every option of `table` into `into`, then a warning for each option the table does
    /// not know.
    fn read<T>(&mut self, table: &Section<T>, into: &mut T) {
        for opt in table.options {
            if table.one_of.contains(&opt.name) {
                // The group is read where its first option stands.
                if table.one_of[0] == opt.name {
                    if let Some((name, line, v)) = self.one_of(table.one_of) {
                        if let Some(given) = table.options.iter().find(|o| o.name == name) {
                            self.value(given, line, v, into);
                        }
                    }
                }
                continue;
            }
            match opt.ty {
                // Not the daemon's: known only so that setting it is no warning.
                Type::Text => {}
                Type::Hosts { min, max } => {
                    if let Some(hosts) = self.hosts(opt.name, min, max) {
                        (opt.set)(into, Value::Hosts(&hosts));
                    }
                }
                Type::Ports { max } => {
                    if let Some(ports) = self.ports(opt.name, max) {
                        (opt.set)(into, Value::Ports(&ports));
                    }
                }
                Type::Uses { max } => {
                    if let Some(names) = self.uses(opt.name, max) {
                        (opt.set)(into, Value::Uses(&names));
                    }
                }
                _ => {
                    if let Some((option, v)) = self.single(opt.name) {
                        self.value(opt, option.line(), v, into);
                    }
                }
            }
        }
        for option in self.section.options() {
            if !table.options.iter().any(|o| o.name == option.name()) {
                self.report.warnings.push(ConfigError {
                    line: option.line(),
                    problem: Problem::UnknownOption { section: self.label.clone(), option: option.name().into() },
                });
            }
        }
    }

    fn value<T>(&mut self, opt: &Opt<T>, line: u32, v: &str, into: &mut T) {
        match parse(&opt.ty, v) {
            Ok(value) => (opt.set)(into, value),
            Err(why) => self.bad(line, opt.name, v, why),
        }
    }

    /// Of `names` (a table's `one_of`), exactly one must be given: that one with its line
    /// and value, or `None` after the error.
    fn one_of(&mut self, names: &[&'static str]) -> Option<(&'static str, u32, &'a str)> {
        let mut first: Option<(&'static str, u32, &'a str)> = None;
        let mut clash = false;
        for &name in names {
            let Some((option, v)) = self.single(name) else { continue };
            match first {
                None => first = Some((name, option.line(), v)),
                Some((earlier, ..)) if !clash => {
                    clash = true;
                    let what = format!("options '{earlier}' and '{name}' exclude each other: give one");
                    self.section_error(option.line(), what);
                }
                Some(_) => {}
            }
        }
        if first.is_none() {
            let what = format!("option '{}' is missing", names.join("' or '"));
            self.section_error(self.section.line(), what);
        }
        first.filter(|_| !clash)
    }

    /// A [`Type::Hosts`] list (`None` if not given): each bad, repeated or surplus entry is
    /// an error of its own line; a missing list, when `min` > 0, one of the section.
    fn hosts(&mut self, name: &'static str, min: u8, max: u8) -> Option<heapless::Vec<IpAddr, MAX_TARGETS>> {
        let Some(option) = self.section.option(name) else {
            if min > 0 {
                let what = format!("no 'list {name}': at least one Internet host to probe is needed");
                self.section_error(self.section.line(), what);
            }
            return None;
        };
        let mut hosts: heapless::Vec<IpAddr, MAX_TARGETS> = heapless::Vec::new();
        for (v, line) in option.values() {
            let why = match v.parse::<IpAddr>() {
                Ok(ip) if !usable_target(ip) => Some(
                    if ip.is_ipv6() && !usable_unicast6(ip) {
                        "is not a unicast address"
                    } else if ip.is_ipv6() {
                        "is a link-local address, not an Internet host"
                    } else {
                        "is not a unicast address"
                    }
                    .to_string(),
                ),
                Ok(ip) if hosts.contains(&ip) => Some("is listed twice".to_string()),
                Ok(ip) => match hosts.len() < usize::from(max) && hosts.push(ip).is_ok() {
                    true => None,
                    false => Some(format!("is one more than the {max} targets allowed")),
                },
                Err(_) if v.contains(':') => Some("is not an IPv6 address".into()),
                Err(_) if v.chars().any(|c| c.is_ascii_alphabetic()) => {
                    Some("is not an IP address (host names are not resolved: use an address)".into())
                }
                Err(_) => Some("is not an IPv4 or IPv6 address".into()),
            };
            if let Some(why) = why {
                self.bad(line, name, v, why);
            }
        }
        Some(hosts)
    }
}

impl<'a> Reader<'_, 'a> {
    /// A [`Type::Ports`] option (`None` if not given): comma lists, given once or as a
    /// `list`; each bad or surplus entry is an error of its line.
    fn ports(&mut self, name: &'static str, max: u8) -> Option<Ports> {
        let option = self.section.option(name)?;
        let mut ports = Ports::new();
        for (v, line) in option.values() {
            for item in v.split(',') {
                let why = match parse_port_range(item) {
                    Some(range) if ports.contains(&range) => Some("is listed twice".to_string()),
                    Some(range) => match ports.len() < usize::from(max) && ports.push(range).is_ok() {
                        true => None,
                        false => Some(format!("is one more than the {max} ports or ranges allowed")),
                    },
                    None if item
                        .split_once('-')
                        .is_some_and(|(a, b)| a.parse::<u16>().ok() > b.parse::<u16>().ok()) =>
                    {
                        Some("is a range that ends before it starts".into())
                    }
                    None => Some("is not a port (1-65535) or a range a-b".into()),
                };
                if let Some(why) = why {
                    self.bad(line, name, item, why);
                }
            }
        }
        Some(ports)
    }

    /// A [`Type::Uses`] list (`None` if not given): interface names or `balance`, each at
    /// most once. Whether the names exist is checked with the interfaces.
    fn uses(&mut self, name: &'static str, max: u8) -> Option<heapless::Vec<WanName, { MAX_WANS + 1 }>> {
        let option = self.section.option(name)?;
        let mut names: heapless::Vec<WanName, { MAX_WANS + 1 }> = heapless::Vec::new();
        for (v, line) in option.values() {
            let why = if v.is_empty() || v.len() > NAME_MAX || !v.bytes().all(|b| options::NAME_CHARS.allows(b)) {
                Some(format!(
                    "is not an interface name (1-{NAME_MAX} characters of A-Z, a-z, 0-9, _) or '{USE_BALANCE}'"
                ))
            } else if names.iter().any(|n| n == v) {
                Some("is listed twice".into())
            } else if names.len() >= usize::from(max) || names.push(truncated(v)).is_err() {
                Some(format!("is one more than the {max} entries allowed"))
            } else {
                None
            };
            if let Some(why) = why {
                self.bad(line, name, v, why);
            }
        }
        Some(names)
    }
}

/// `80` or `1000-2000` (ports 1 to 65535, a range not ending before it starts).
fn parse_port_range(v: &str) -> Option<PortRange> {
    let port = |s: &str| s.parse::<u16>().ok().filter(|&p| p > 0 && s.bytes().all(|b| b.is_ascii_digit()));
    let (start, end) = match v.split_once('-') {
        Some((a, b)) => (port(a)?, port(b)?),
        None => (port(v)?, port(v)?),
    };
    (start <= end).then_some(PortRange { start, end })
}

/// `192.0.2.0/24`, `2001:db8::/32` or a single address; host bits must be zero.
fn parse_prefix(v: &str) -> Result<Prefix, String> {
    let (addr, len) = match v.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (v, None),
    };
    let Ok(addr) = addr.parse::<IpAddr>() else {
        return Err("is not an IPv4 or IPv6 address or prefix (e.g. 192.0.2.0/24)".into());
    };
    let family = Family::of(&addr);
    let len = match len.map(|l| (l, l.parse::<u8>())) {
        None => family.max_len(),
        Some((_, Ok(n))) if n <= family.max_len() && len.is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit())) => n,
        Some((l, _)) => return Err(format!("has prefix length '{l}': {family} takes 0 to {}", family.max_len())),
    };
    let prefix = Prefix { addr, len };
    let network = prefix_network(prefix);
    if network != addr {
        return Err(format!("has host bits set: the prefix is {network}/{len}"));
    }
    Ok(prefix)
}

/// The address of `p` with its host bits cleared.
fn prefix_network(p: Prefix) -> IpAddr {
    match p.addr {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(p.len)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(p.len)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
        }
    }
}

/// One value of a single-valued option, or why it is refused (the tail of the message
/// `'VALUE' why`).
fn parse<'v>(ty: &Type, v: &'v str) -> Result<Value<'v>, String> {
    match *ty {
        Type::Bool => parse_bool(v)
            .map(Value::Bool)
            .ok_or_else(|| "is not a boolean (use 1/0, yes/no, on/off, true/false)".into()),
        Type::Uint { min, max, .. } => match v.parse::<u32>() {
            Ok(n) if n < min => Err(format!("is below {min}")),
            Ok(n) if n > max => Err(format!("is above {max}")),
            Ok(n) => Ok(Value::Uint(n)),
            Err(_) => Err("is not a whole number".into()),
        },
        Type::Seconds { min, max, decimals } => {
            let places = v.split_once('.').map_or(0, |(_, frac)| frac.len());
            match parse_seconds(v).filter(|_| places <= usize::from(decimals)) {
                Some(d) if d < min => Err(format!("is below {min}")),
                Some(d) if d > max => Err(format!("is above {max}")),
                Some(d) => Ok(Value::Seconds(d)),
                None => Err(format!("is not a number of seconds (e.g. 0.5, up to {decimals} decimals)")),
            }
        }
        Type::Enum { words, aliases } => words
            .iter()
            .position(|w| *w == v)
            .or_else(|| aliases.iter().find(|(alias, _)| *alias == v).map(|&(_, i)| i))
            .map(Value::Word)
            .ok_or_else(|| format!("is not one of: {}", words.join(", "))),
        Type::Gateway { .. } if v == GATEWAY_WORDS[0] => Ok(Value::Gateway(Gateway::Auto)),
        Type::Gateway { family: Family::V4 } => match v.parse::<Ipv4Addr>() {
            Ok(ip) if usable_unicast(ip) => Ok(Value::Gateway(Gateway::Fixed(ip.into()))),
            Ok(_) => Err("is not a unicast address".into()),
            Err(_) => Err("is neither 'auto' nor an IPv4 address".into()),
        },
        // A link-local router address (fe80::1) is the usual IPv6 next hop: allowed.
        Type::Gateway { family: Family::V6 } => match v.parse::<Ipv6Addr>() {
            Ok(ip) if usable_unicast6(ip.into()) => Ok(Value::Gateway(Gateway::Fixed(ip.into()))),
            Ok(_) => Err("is not a unicast address".into()),
            Err(_) => Err("is neither 'auto' nor an IPv6 address".into()),
        },
        Type::Name { max, chars, invalid } => {
            if v.is_empty() || v.len() > usize::from(max) || !v.bytes().all(|b| chars.allows(b)) {
                Err(invalid.into())
            } else {
                Ok(Value::Name(v))
            }
        }
        Type::Text => Ok(Value::Name(v)),
        Type::Prefix => parse_prefix(v).map(Value::Prefix),
        // Read by `Reader::hosts`, `Reader::ports` and `Reader::uses`.
        Type::Hosts { .. } | Type::Ports { .. } | Type::Uses { .. } => Err("takes a list".into()),
    }
}

/// Sets every option of `table` that has a default to it.
fn set_defaults<T>(table: &Section<T>, into: &mut T) {
    for opt in table.options {
        if let Some(Ok(value)) = opt.default.map(|d| parse(&opt.ty, d)) {
            (opt.set)(into, value);
        }
    }
}

fn read_globals(section: &SectionRef<'_>, g: &mut Globals, report: &mut Report) {
    let mut r = Reader { section, label: label(section), report };
    r.read(&options::GLOBALS, g);
    let tables = g.table_range();
    if tables.start() <= &KERNEL_TABLES.1 && tables.end() >= &KERNEL_TABLES.0 {
        if let Some(option) = section.option("table_base") {
            let value = option.values().next().map(|(v, _)| v).unwrap_or("");
            let (first, last) = KERNEL_TABLES;
            let why = format!(
                "makes our tables {}..{} overlap the kernel's tables {first}-{last}",
                tables.start(),
                tables.end()
            );
            r.bad(option.line(), "table_base", value, why);
        }
    }
}

fn read_wan(section: &SectionRef<'_>, report: &mut Report) -> Wan {
    let name = section.name().unwrap_or("");
    let mut wan = Wan::with_defaults(name, "");
    wan.line = section.line();
    let mut r = Reader { section, label: label(section), report };
    if section.name().is_none() {
        r.section_error(section.line(), "interface sections need a name (config interface 'wan')".into());
    } else if name.len() > NAME_MAX {
        r.section_error(section.line(), format!("name is longer than {NAME_MAX} characters"));
    }
    r.read(&options::INTERFACE, &mut wan);
    if usize::from(wan.reliability) > wan.track_ip.len() && !wan.track_ip.is_empty() {
        let line = section.option("reliability").map(|o| o.line()).unwrap_or(section.line());
        let why = format!("is more than the {} track_ip targets", wan.track_ip.len());
        r.bad(line, "reliability", &wan.reliability.to_string(), why);
    }
    if let (Some(port), false) = (section.option("track_port"), wan.probes_tcp()) {
        let value = port.values().next().map_or("", |(v, _)| v).to_string();
        r.report.warnings.push(ConfigError {
            line: port.line(),
            problem: Problem::Value {
                section: r.label.clone(),
                option: "track_port",
                value,
                why: "does nothing: track_method is icmp".into(),
            },
        });
    }
    // Recovery must be stricter than failure, or a line would go down and come back on the
    // same figures. The message points at the recovery option, or at the failure one if
    // only that was given.
    let pairs = [
        ("recovery_loss", "failure_loss", u32::from(wan.recovery_loss), u32::from(wan.failure_loss)),
        ("recovery_latency", "failure_latency", wan.recovery_latency, wan.failure_latency),
    ];
    for (recovery, failure, rv, fv) in pairs {
        if rv < fv {
            continue;
        }
        let failure_only = section.option(recovery).is_none() && section.option(failure).is_some();
        let (option, value, why) = if failure_only {
            (failure, fv, format!("is not above {recovery} {rv} (recovery must be stricter than failure)"))
        } else {
            (recovery, rv, format!("is not below {failure} {fv} (recovery must be stricter than failure)"))
        };
        let line = section.option(option).map_or(section.line(), |o| o.line());
        r.bad(line, option, &value.to_string(), why);
    }
    wan
}

/// Checks that concern several interfaces at once. In balance mode interfaces of equal
/// metric share the traffic, so equal metrics are allowed there.
fn check_wans(wans: &[Wan], mode: Mode, report: &mut Report) {
    let enabled: Vec<&Wan> = wans.iter().filter(|w| w.enabled && !source_is_empty(&w.source)).collect();
    for (i, w) in enabled.iter().enumerate() {
        for earlier in &enabled[..i] {
            let taken = match (&earlier.source, &w.source) {
                (Source::Device(a), Source::Device(b)) if a == b => Some(format!("device '{b}'")),
                (Source::Network(a), Source::Network(b)) if a == b => Some(format!("network '{b}'")),
                _ => None,
            };
            if let Some(what) = taken {
                report.errors.push(ConfigError {
                    line: w.line,
                    problem: Problem::Section {
                        section: format!("interface '{}'", w.name),
                        what: format!("{what} is already used by interface '{}'", earlier.name),
                    },
                });
            }
            if earlier.metric == w.metric && mode == Mode::Failover {
                report.errors.push(ConfigError {
                    line: w.line,
                    problem: Problem::Section {
                        section: format!("interface '{}'", w.name),
                        what: format!(
                            "metric {} is already used by interface '{}' (metrics of enabled interfaces must differ)",
                            w.metric, earlier.name
                        ),
                    },
                });
            }
        }
    }
    if !wans.is_empty() && !wans.iter().any(|w| w.enabled) {
        report.errors.push(ConfigError { line: wans[0].line, problem: Problem::NoEnabledWan });
    } else if wans.is_empty() {
        report.errors.push(ConfigError { line: 0, problem: Problem::NoEnabledWan });
    }
}

/// Reads one `config rule` section: its options, then what needs them together or the
/// interfaces (families of the addresses, ports and proto, the `use` names).
fn read_policy(section: &SectionRef<'_>, config: &Config, report: &mut Report) -> Policy {
    let name = section.name().unwrap_or("");
    let mut p = Policy::with_defaults(name);
    p.line = section.line();
    let mut r = Reader { section, label: label(section), report };
    if section.name().is_none() {
        r.section_error(section.line(), "rule sections need a name (config rule 'voip')".into());
    } else if name.len() > NAME_MAX {
        r.section_error(section.line(), format!("name is longer than {NAME_MAX} characters"));
    }
    r.read(&options::RULE, &mut p);
    let line_of = |option: &str| section.option(option).map_or(section.line(), |o| o.line());
    let value_of = |option: &str| {
        section.option(option).and_then(|o| o.values().next()).map_or(String::new(), |(v, _)| v.to_string())
    };

    // One family per rule: the addresses', or the one given.
    let (src, dst) = (p.src_ip.map(|a| a.family()), p.dest_ip.map(|a| a.family()));
    if let (Some(a), Some(b)) = (src, dst) {
        if a != b {
            r.bad(
                line_of("dest_ip"),
                "dest_ip",
                &value_of("dest_ip"),
                format!("is {b} but src_ip is {a}: a rule is of one family"),
            );
        }
    }
    match (section.option("family").is_some(), src.or(dst)) {
        (false, Some(f)) => p.family = PolicyFamily::of(f),
        (false, None) => p.family = PolicyFamily::Any,
        (true, Some(f)) if p.family != PolicyFamily::of(f) => {
            let option = if src.is_some() { "src_ip" } else { "dest_ip" };
            let why = format!("does not match {option} '{}', an {f} address", value_of(option));
            r.bad(line_of("family"), "family", &value_of("family"), why);
        }
        (true, _) => {}
    }
    for family in Family::ALL {
        if p.family.covers(family) && p.family != PolicyFamily::Any && !config.tracks(family) {
            let what = format!(
                "no enabled interface tracks {family}: dualwan leaves {family} alone and this rule does nothing"
            );
            r.report.warnings.push(ConfigError {
                line: section.line(),
                problem: Problem::Section { section: r.label.clone(), what },
            });
        }
    }

    // Ports need a protocol that has them.
    if !p.proto.has_ports() {
        let proto = if section.option("proto").is_some() { value_of("proto") } else { "all".into() };
        for option in ["src_port", "dest_port"] {
            if section.option(option).is_some() {
                let why = format!("needs proto tcp or udp (proto is '{proto}')");
                r.bad(line_of(option), option, &value_of(option), why);
            }
        }
    }

    // `use`: interface names (each an interface section), and `balance`.
    let mut ordered: heapless::Vec<u8, MAX_WANS> = heapless::Vec::new();
    let mut named = WanSet::EMPTY;
    let mut balance = false;
    for (v, line) in section.option("use").map(|o| o.values().collect::<Vec<_>>()).unwrap_or_default() {
        if v == USE_BALANCE {
            balance = true;
            continue;
        }
        match config.wan(v) {
            Some((i, w)) => {
                if !named.contains(i) {
                    named.insert(i);
                    let _ = ordered.push(i as u8);
                }
                if !w.enabled {
                    r.report.warnings.push(ConfigError {
                        line,
                        problem: Problem::Value {
                            section: r.label.clone(),
                            option: "use",
                            value: v.into(),
                            why: "is a disabled interface: never used".into(),
                        },
                    });
                }
            }
            None if v.len() <= NAME_MAX && v.bytes().all(|b| options::NAME_CHARS.allows(b)) => r.bad(
                line,
                "use",
                v,
                format!("is not an interface section (config interface '{v}') nor '{USE_BALANCE}'"),
            ),
            None => {} // reported by `Reader::uses`
        }
    }
    p.uses = match (balance, ordered.is_empty()) {
        (false, true) => Use::Global,
        (false, false) => Use::Ordered(ordered),
        (true, true) => Use::Balance { wans: config.enabled_wans(), tiered: true },
        (true, false) => Use::Balance { wans: named, tiered: false },
    };
    p
}

/// Checks between rules: their kernel rules fit the priorities set aside for them, and
/// their balance sets the tables.
fn check_policies(config: &Config, report: &mut Report) {
    let mut used = 0;
    let mut sets: heapless::Vec<(WanSet, bool), BALANCE_SETS> = heapless::Vec::new();
    let global = (config.enabled_wans(), true);
    for p in &config.policies {
        used += p.slots();
        let section = format!("rule '{}'", p.name);
        if used > POLICY_SLOTS {
            let what = format!(
                "needs {} kernel rules (one per port combination), {used} in all: more than the {POLICY_SLOTS} priorities \
                 rule_priority+{POLICY_SLOT_FIRST} to +{} hold",
                p.slots(),
                POLICY_SLOT_FIRST + POLICY_SLOTS - 1
            );
            report.errors.push(ConfigError { line: p.line, problem: Problem::Section { section, what } });
            return;
        }
        if let Use::Balance { wans, tiered } = p.uses {
            let set = (wans, tiered);
            let catch_all = config.globals.mode == Mode::Balance && set == global;
            let own = !catch_all && !sets.contains(&set);
            if own && sets.push(set).is_err() {
                let what = format!("balances over more different sets of interfaces than the {BALANCE_SETS} allowed");
                report.errors.push(ConfigError { line: p.line, problem: Problem::Section { section, what } });
                return;
            }
        }
    }
}

/// An interface whose device or network was missing or invalid (already reported).
fn source_is_empty(source: &Source) -> bool {
    match source {
        Source::Device(d) => d.is_empty(),
        Source::Network(n) => n.is_empty(),
    }
}

fn usable_unicast(ip: Ipv4Addr) -> bool {
    !(ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || ip.is_loopback())
}

fn usable_unicast6(ip: IpAddr) -> bool {
    !(ip.is_unspecified() || ip.is_multicast() || ip.is_loopback())
}

/// An Internet host to probe: unicast, and for IPv6 not link-local (fe80::/10 names a host
/// on one link only; the gateway is probed through `gateway6`).
pub fn usable_target(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => usable_unicast(v4),
        IpAddr::V6(v6) => usable_unicast6(ip) && (v6.segments()[0] & 0xffc0) != 0xfe80,
    }
}

/// UCI booleans, as `uci_get_bool` and OpenWrt's shell helpers accept them.
pub fn parse_bool(v: &str) -> Option<bool> {
    if BOOL_TRUE.contains(&v) {
        Some(true)
    } else if BOOL_FALSE.contains(&v) {
        Some(false)
    } else {
        None
    }
}

/// Seconds with up to three decimals: `10`, `0.5`, `0.25`, `1.125`.
pub fn parse_seconds(v: &str) -> Option<Duration> {
    let (whole, frac) = match v.split_once('.') {
        Some((w, f)) => (w, f),
        None => (v, ""),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || whole.len() > 6 || !digits(whole) || frac.len() > 3 || !digits(frac) {
        return None;
    }
    if v.ends_with('.') {
        return None;
    }
    let whole: u64 = whole.parse().ok()?;
    let mut ms = 0u64;
    for (i, b) in frac.bytes().enumerate() {
        ms += u64::from(b - b'0') * [100, 10, 1][i];
    }
    Some(Duration::from_millis(whole * 1000 + ms))
}

pub(crate) fn truncated<const N: usize>(s: &str) -> heapless::String<N> {
    let mut out = heapless::String::new();
    for c in s.chars() {
        if out.push(c).is_err() {
            break;
        }
    }
    out
}

/// Writes the effective configuration, every value included, in UCI syntax (what
/// `dualwan check` prints).
pub fn write_effective(config: &Config, out: &mut dyn fmt::Write) -> fmt::Result {
    writeln!(out, "config globals 'globals'")?;
    write_options(&options::GLOBALS, &config.globals, out)?;
    for w in &config.wans {
        writeln!(out)?;
        writeln!(out, "config interface '{}'", w.name)?;
        write_options(&options::INTERFACE, w, out)?;
    }
    for p in &config.policies {
        writeln!(out)?;
        writeln!(out, "config rule '{}'", p.name)?;
        write_options(&options::RULE, p, out)?;
    }
    Ok(())
}

/// Each option of `table` that has a value in `from`, in table order.
fn write_options<T>(table: &Section<T>, from: &T, out: &mut dyn fmt::Write) -> fmt::Result {
    for opt in table.options {
        match (opt.get)(from) {
            Some(Value::Hosts(ips)) => {
                for ip in ips {
                    writeln!(out, "\tlist {} '{ip}'", opt.name)?;
                }
            }
            Some(Value::Uses(names)) => {
                for name in names {
                    writeln!(out, "\tlist {} '{name}'", opt.name)?;
                }
            }
            Some(value) => {
                write!(out, "\toption {} ", opt.name)?;
                write_value(&opt.ty, value, out)?;
                writeln!(out)?;
            }
            None => {}
        }
    }
    Ok(())
}

/// One value, quoted, as [`parse`] reads it back.
fn write_value(ty: &Type, value: Value<'_>, out: &mut dyn fmt::Write) -> fmt::Result {
    match value {
        Value::Bool(b) => write!(out, "'{}'", if b { BOOL_TRUE[0] } else { BOOL_FALSE[0] }),
        Value::Uint(n) => write!(out, "'{n}'"),
        Value::Seconds(d) => write!(out, "'{d}'"),
        Value::Word(i) => match ty {
            Type::Enum { words, .. } => write!(out, "'{}'", words.get(i).copied().unwrap_or_default()),
            _ => Ok(()),
        },
        Value::Gateway(Gateway::Auto) => write!(out, "'{}'", GATEWAY_WORDS[0]),
        Value::Gateway(Gateway::Fixed(ip)) => write!(out, "'{ip}'"),
        // A kernel device name may hold a quote: write it as UCI reads it back.
        Value::Name(s) => uci::write_quoted(out, s),
        // One `list` line each: see `write_options`.
        Value::Hosts(_) | Value::Uses(_) => Ok(()),
        Value::Prefix(p) if p.len == p.family().max_len() => write!(out, "'{}'", p.addr),
        Value::Prefix(p) => write!(out, "'{}/{}'", p.addr, p.len),
        Value::Ports(ports) => {
            out.write_char('\'')?;
            for (i, p) in ports.iter().enumerate() {
                write!(out, "{}{p}", if i == 0 { "" } else { "," })?;
            }
            out.write_char('\'')
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_accept_decimals_and_reject_the_rest() {
        assert_eq!(parse_seconds("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_seconds("10"), Some(Duration::from_secs(10)));
        assert_eq!(parse_seconds("1.125"), Some(Duration::from_millis(1125)));
        assert_eq!(parse_seconds("0.05"), Some(Duration::from_millis(50)));
        for bad in ["", ".5", "5.", "-1", "1e3", "0.0001", "1,5", "abc", "9999999"] {
            assert_eq!(parse_seconds(bad), None, "{bad}");
        }
    }

    /// Found by fuzzing: `dualwan check` printed `option device 'ww'n0'`, which does not
    /// parse; Linux allows a quote in a device name.
    #[test]
    fn effective_config_quotes_a_device_name() {
        let text = "config interface 'wan'\n\toption device \"ww'n0\"\n\tlist track_ip '1.1.1.1'\n";
        let config = load_str(text).0.unwrap();
        let mut out = String::new();
        write_effective(&config, &mut out).unwrap();
        assert!(out.contains("\toption device 'ww'\\''n0'\n"), "{out}");
        assert_eq!(load_str(&out).0.unwrap().wans[0].device().map(|d| d.as_str()), Some("ww'n0"));
    }

    /// What `--schema` gives as a default is what `dualwan check` prints for an unset option.
    #[test]
    fn defaults_print_as_the_table_states_them() {
        fn each<T>(table: &Section<T>, from: &T) {
            for opt in table.options {
                let Some(default) = opt.default else { continue };
                let mut out = String::new();
                write_value(&opt.ty, (opt.get)(from).expect(opt.name), &mut out).unwrap();
                assert_eq!(out, format!("'{default}'"), "{}", opt.name);
            }
        }
        each(&options::GLOBALS, &Globals::default());
        each(&options::INTERFACE, &Wan::with_defaults("wan", "eth1"));
    }

    /// Every word and both ends of every range fit the field behind the option.
    #[test]
    fn each_option_keeps_what_it_accepts() {
        fn each<T>(table: &Section<T>, mut into: T) {
            for opt in table.options {
                let values: Vec<Value<'_>> = match opt.ty {
                    Type::Bool => vec![Value::Bool(false), Value::Bool(true)],
                    Type::Uint { min, max, .. } => vec![Value::Uint(min), Value::Uint(max)],
                    Type::Seconds { min, max, .. } => vec![Value::Seconds(min), Value::Seconds(max)],
                    Type::Enum { words, .. } => (0..words.len()).map(Value::Word).collect(),
                    _ => continue,
                };
                for value in values {
                    (opt.set)(&mut into, value);
                    assert_eq!((opt.get)(&into), Some(value), "{}", opt.name);
                }
            }
        }
        each(&options::GLOBALS, Globals::default());
        each(&options::INTERFACE, Wan::with_defaults("wan", "eth1"));
    }

    /// mwan3's word for ICMP echo reads as `icmp` and is printed so; the port is TCP's.
    #[test]
    fn ping_is_icmp_and_track_port_belongs_to_tcp() {
        let base = "config interface 'wan'\n\toption device 'eth1'\n\tlist track_ip '1.1.1.1'\n";
        let (config, report) = load_str(&format!("{base}\toption track_method 'ping'\n"));
        let wan = &config.expect("valid").wans[0];
        assert_eq!((wan.track_method, wan.track_port), (TrackMethod::Icmp, 443));
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        let mut out = String::new();
        write_effective(&load_str(&format!("{base}\toption track_method 'ping'\n")).0.unwrap(), &mut out).unwrap();
        assert!(out.contains("\toption track_method 'icmp'\n\toption track_port '443'\n"), "{out}");

        let (config, report) = load_str(&format!("{base}\toption track_method 'tcp'\n\toption track_port '80'\n"));
        let wan = &config.expect("valid").wans[0];
        assert_eq!((wan.track_method, wan.track_port), (TrackMethod::Tcp, 80));
        assert!(wan.probes_tcp() && report.warnings.is_empty());

        let (config, report) = load_str(&format!("{base}\toption track_port '80'\n"));
        assert!(config.is_some());
        assert_eq!(
            report.warnings.iter().map(|w| w.display_in("F").to_string()).collect::<Vec<_>>(),
            ["F:4: option 'track_port' in interface 'wan': '80' does nothing: track_method is icmp"]
        );
        for (bad, why) in [
            ("\toption track_method 'nping-tcp'\n", "'nping-tcp' is not one of: icmp, tcp"),
            ("\toption track_port '0'\n", "'0' is below 1"),
            ("\toption track_port '65536'\n", "'65536' is above 65535"),
        ] {
            let (config, report) = load_str(&format!("{base}{bad}"));
            assert!(config.is_none(), "{bad}");
            assert!(report.errors[0].problem.to_string().ends_with(why), "{bad}: {:?}", report.errors);
        }
    }

    #[test]
    fn booleans_follow_uci() {
        assert_eq!(parse_bool("on"), Some(true));
        assert_eq!(parse_bool("disabled"), Some(false));
        assert_eq!(parse_bool("2"), None);
    }
}
