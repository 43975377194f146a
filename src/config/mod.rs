//! The configuration model of `/etc/config/dualwan`: the reader of the option tables in
//! [`crate::options`] (types, ranges, defaults) and the checks between options and between
//! interfaces.
//!
//! Input is config text or a parsed [`uci::Package`]; output is a [`Config`] with fixed
//! capacities, or every error found (not just the first), each with the line it points at.
//! Unknown section types and unknown options are warnings, so a config written for a newer
//! dualwan still loads. Pure: reading the file is `sys::config_file`'s job.
//!
//! This module holds the capacities and the whole config with its globals; the rest, one
//! idea a file:
//! - `wan`: `config interface`, one WAN (its source, gateways, probing, hysteresis);
//! - `policy`: `config rule`, traffic selected by FIB rule selectors and where it goes;
//! - `report`: the errors and warnings, each with its line;
//! - `load`: text or parsed UCI into a [`Config`], with the checks between options, between
//!   interfaces and between rules;
//! - `reader`: one section's options read as its option table declares them;
//! - `value`: one option value's text into its typed value;
//! - `effective`: the effective config written back in UCI syntax.

mod effective;
mod load;
mod policy;
mod reader;
mod report;
mod value;
mod wan;

pub use effective::write_effective;
pub use load::{from_package, load_str};
pub use policy::{Policy, PolicyFamily, PolicyLastResort, PolicyName, Ports, Proto, Use};
pub use report::{ConfigError, Problem, Report};
pub(crate) use value::truncated;
pub use value::{parse_bool, parse_seconds, usable_target};
pub use wan::{FlushConntrack, Gateway, Source, TrackMethod, Wan};

use crate::options;
use crate::route::Family;
use crate::time::Duration;
#[cfg(doc)]
use crate::uci;
use value::set_defaults;

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

#[cfg(test)]
mod tests;
