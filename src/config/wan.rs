//! `config interface NAME`: one WAN, where its device comes from, its next hops, how it is
//! probed and judged, and what happens to its connections when traffic leaves it. Defaults
//! are the option table's ([`options::INTERFACE`]).

use super::value::{set_defaults, truncated};
use super::{NetName, WanName, MAX_TARGETS};
use crate::kernel::IfName;
use crate::options;
use crate::route::Family;
use crate::time::Duration;
use core::net::IpAddr;

/// Where a WAN's kernel device comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// `option device`: a fixed kernel device.
    Device(IfName),
    /// `option network`: netifd's interface of that name; its `l3_device`, address and
    /// gateway are asked over ubus and known only at run time.
    Network(NetName),
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
    /// Time between two steady probes of a WAN that is up (a WAN that is not up gets a
    /// round every [`Wan::interval_while_down`]).
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
    /// How often a WAN that is not up (starting, down, recovering) gets a round to every
    /// target: twice per `interval`. Steady probing is what idles cost, and a slower
    /// interval keeps it cheap; a line that is back should not wait `up` whole intervals
    /// for its rounds (the grid's half steps include its whole ones, so steady probes
    /// resume in step with the other WANs).
    pub fn interval_while_down(&self) -> Duration {
        Duration::from_micros(self.interval.as_micros() / 2)
    }

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
