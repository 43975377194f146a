//! `config rule NAME`: traffic selected by FIB rule selectors (addresses, protocol, ports,
//! incoming device, family) and the WANs it may use. Defaults are the option table's
//! ([`options::RULE`]); the `use` names are resolved against the interfaces when loading.

use super::value::{set_defaults, truncated};
#[cfg(doc)]
use super::Config;
use super::{WanName, WanSet, MAX_WANS, NAME_MAX, NETWORK_MAX, PORTS_MAX};
use crate::options;
use crate::route::{DevName, Family, PortRange, Prefix};

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
