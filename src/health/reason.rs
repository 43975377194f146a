//! Why a WAN is in its state ([`Reason`]), and the words logs, ubus and LuCI show for it
//! (latencies with thousands separators).

use crate::route::Family;
use core::fmt;
use core::net::IpAddr;

/// Why the WAN is in its state: specific enough to act on.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Just configured, no probe judged yet.
    Starting,
    /// The first round after start succeeded.
    ProbesAnswered,
    /// `up` good rounds in a row after being down.
    Recovered,
    /// The device lost `IFF_LOWER_UP`.
    CarrierLost,
    /// Device, carrier, address and gateway are back: probing again.
    LinkRestored,
    /// The device is administratively down.
    LinkDown,
    /// The device does not exist (unplugged USB modem, not yet created).
    DeviceMissing,
    /// netifd reports the interface of `option network` down.
    InterfaceDown,
    /// The device has no address of the family (for IPv6: no global one that finished
    /// duplicate address detection).
    AddressRemoved,
    /// `gateway auto` and the kernel has no default route of the family via the device.
    NoGateway,
    /// The gateway and the targets did not answer.
    GatewayUnreachable(IpAddr),
    /// Too few targets answered; `gateway` tells whether the gateway did (None: not probed).
    TargetsUnreachable {
        /// Targets that answered in the failing round.
        answered: u8,
        /// Targets probed.
        total: u8,
        /// `reliability`.
        need: u8,
        /// Whether the gateway answered, if it was probed.
        gateway: Option<bool>,
    },
    /// `check_quality`: too many of the last probes were lost.
    Loss {
        /// Lost probes of the window, percent.
        percent: u8,
        /// `failure_loss`, or `recovery_loss` while recovering.
        limit: u8,
        /// Not good enough to recover (rather than bad enough to fail).
        recovering: bool,
    },
    /// `check_quality`: the answered probes of the window took too long on average.
    Latency {
        /// Their mean RTT, ms.
        ms: u32,
        /// `failure_latency`, or `recovery_latency` while recovering.
        limit: u32,
        /// Not good enough to recover (rather than bad enough to fail).
        recovering: bool,
    },
    /// Disabled in the config.
    Disabled,
    /// No `track_ip` of this family: the family is neither probed nor routed.
    NotTracked(Family),
}

/// A whole number with thousands separators: `1,240`.
pub(super) struct Thousands(pub(super) u32);

impl fmt::Display for Thousands {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        match (n / 1_000_000, n / 1000 % 1000) {
            (0, 0) => write!(f, "{n}"),
            (0, k) => write!(f, "{k},{:03}", n % 1000),
            (m, k) => write!(f, "{m},{k:03},{:03}", n % 1000),
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Reason::Starting => f.write_str("starting"),
            Reason::ProbesAnswered => f.write_str("probes answered"),
            Reason::Recovered => f.write_str("recovered"),
            Reason::CarrierLost => f.write_str("carrier lost"),
            Reason::LinkRestored => f.write_str("link restored"),
            Reason::LinkDown => f.write_str("link down"),
            Reason::DeviceMissing => f.write_str("device missing"),
            Reason::InterfaceDown => f.write_str("interface down (netifd)"),
            Reason::AddressRemoved => f.write_str("address removed"),
            Reason::NoGateway => f.write_str("no default route via the device"),
            Reason::GatewayUnreachable(gw) => write!(f, "gateway {gw} unreachable"),
            Reason::TargetsUnreachable { answered, total, need, gateway } => {
                if gateway == Some(true) {
                    f.write_str("gateway answers, ")?;
                }
                write!(f, "targets unreachable ({answered}/{total} answered, need {need})")
            }
            Reason::Loss { percent, limit, recovering: false } => {
                write!(f, "loss {percent} % ≥ failure_loss {limit} %")
            }
            Reason::Loss { percent, limit, recovering: true } => {
                write!(f, "loss {percent} % > recovery_loss {limit} %")
            }
            Reason::Latency { ms, limit, recovering: false } => {
                write!(f, "latency {} ms ≥ failure_latency {} ms", Thousands(ms), Thousands(limit))
            }
            Reason::Latency { ms, limit, recovering: true } => {
                write!(f, "latency {} ms > recovery_latency {} ms", Thousands(ms), Thousands(limit))
            }
            Reason::Disabled => f.write_str("disabled"),
            Reason::NotTracked(family) => write!(f, "no {family} track_ip"),
        }
    }
}
