//! One option value's text into its typed value, or why it is refused (the tail of the
//! message `'VALUE' why`): booleans as UCI reads them, seconds with decimals, ports and
//! port ranges, prefixes without host bits, gateways, names; and which addresses are
//! usable targets.

use super::Gateway;
use crate::options::{Section, Type, Value, BOOL_FALSE, BOOL_TRUE, GATEWAY_WORDS};
use crate::route::{Family, PortRange, Prefix};
use crate::time::Duration;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::string::String;

/// `80` or `1000-2000` (ports 1 to 65535, a range not ending before it starts).
pub(super) fn parse_port_range(v: &str) -> Option<PortRange> {
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
pub(super) fn parse<'v>(ty: &Type, v: &'v str) -> Result<Value<'v>, String> {
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
            // Any number of decimals is read, so that `0.0001` is called below 0.1 and
            // `0.1234` too precise, rather than not a number.
            let Some(SecondsText { millis, finer, places }) = read_seconds(v) else {
                return Err(format!("is not a number of seconds (e.g. 0.5, up to {decimals} decimals)"));
            };
            if millis < min.as_millis() {
                Err(format!("is below {min}"))
            } else if millis > max.as_millis() || (millis == max.as_millis() && finer) {
                Err(format!("is above {max}"))
            } else if places > usize::from(decimals) {
                Err(match decimals {
                    0 => "has decimals: whole seconds only".into(),
                    1 => "has more than 1 decimal".into(),
                    n => format!("has more than {n} decimals"),
                })
            } else {
                Ok(Value::Seconds(Duration::from_millis(millis)))
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
pub(super) fn set_defaults<T>(table: &Section<T>, into: &mut T) {
    for opt in table.options {
        if let Some(Ok(value)) = opt.default.map(|d| parse(&opt.ty, d)) {
            (opt.set)(into, value);
        }
    }
}

fn usable_unicast(ip: Ipv4Addr) -> bool {
    !(ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || ip.is_loopback())
}

pub(super) fn usable_unicast6(ip: IpAddr) -> bool {
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

/// A number of seconds with any number of decimals, cut to whole milliseconds.
struct SecondsText {
    millis: u64,
    /// Nonzero digits were cut (the value is a little more than `millis`).
    finer: bool,
    /// How many decimals were written.
    places: usize,
}

/// Reads `12`, `0.5` or `0.0001` (digits, at most one dot with digits on both sides).
fn read_seconds(v: &str) -> Option<SecondsText> {
    let (whole, frac) = v.split_once('.').unwrap_or((v, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || whole.len() > 6 || !digits(whole) || !digits(frac) || v.ends_with('.') {
        return None;
    }
    let mut millis = whole.parse::<u64>().ok()? * 1000;
    for (b, scale) in frac.bytes().zip([100, 10, 1]) {
        millis += u64::from(b - b'0') * scale;
    }
    let finer = frac.bytes().skip(3).any(|b| b != b'0');
    Some(SecondsText { millis, finer, places: frac.len() })
}

/// Seconds with up to three decimals: `10`, `0.5`, `0.25`, `1.125`.
pub fn parse_seconds(v: &str) -> Option<Duration> {
    read_seconds(v).filter(|s| s.places <= 3).map(|s| Duration::from_millis(s.millis))
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
