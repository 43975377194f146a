//! Rule entries: `struct fib_rule_hdr` with its `FRA_*` attributes, in either family. The
//! selectors dualwan writes are modelled; any other selector marks the rule as selecting on
//! something else, so it is never mistaken for one of ours.

use super::{attr_u32, family, ip, parse_ifname, prefix_len};
use super::{FIB_RULE_HDR_LEN, FIB_RULE_INVERT, FRA_OTHER_SELECTORS, FRA_UNSET};
use super::{FRA_DPORT_MASK, FRA_DPORT_RANGE, FRA_DST, FRA_IIFNAME, FRA_IP_PROTO, FRA_L3MDEV, FRA_PRIORITY};
use super::{FRA_PROTOCOL, FRA_SPORT_MASK, FRA_SPORT_RANGE, FRA_SRC, FRA_SUPPRESS_IFGROUP, FRA_SUPPRESS_PREFIXLEN};
use super::{FRA_TABLE, FR_ACT_BLACKHOLE, FR_ACT_PROHIBIT, FR_ACT_TO_TBL, FR_ACT_UNREACHABLE};
use crate::route::{DevName, PortRange, Prefix, Rule, RuleAction, Selectors};
use crate::wire::netlink::{u32_at, Attrs, Malformed};

/// `struct fib_rule_hdr` + `FRA_*`. `None` for families other than `AF_INET`/`AF_INET6`.
pub fn parse_rule(p: &[u8]) -> Result<Option<Rule>, Malformed> {
    if p.len() < FIB_RULE_HDR_LEN {
        return Err(Malformed("short fib_rule_hdr"));
    }
    let Some(fam) = family(p[0]) else { return Ok(None) };
    let (dst_len, src_len, tos, table, action) = (p[1], p[2], p[3], p[4], p[7]);
    prefix_len(fam, dst_len)?;
    prefix_len(fam, src_len)?;
    let flags = u32_at(p, 8);
    let mut other = tos != 0 || flags & FIB_RULE_INVERT != 0;
    let (mut priority, mut src, mut dst, mut suppress, mut protocol) = (0, None, None, None, 0);
    let mut selectors = Selectors::NONE;
    let mut table = u32::from(table);
    for attr in Attrs::new(&p[FIB_RULE_HDR_LEN..]) {
        let (ty, data) = attr?;
        match ty {
            // The kernel omits FRA_PRIORITY for priority 0 (the `local` rule).
            FRA_PRIORITY => priority = attr_u32(data)?,
            FRA_SRC => src = Some(ip(fam, data)?),
            FRA_DST => dst = Some(ip(fam, data)?),
            FRA_IIFNAME => match DevName::new(parse_ifname(data)?.as_str()) {
                Some(name) => selectors.iif = Some(name),
                None => other = true,
            },
            FRA_IP_PROTO => selectors.ip_proto = Some(*data.first().ok_or(Malformed("empty FRA_IP_PROTO"))?),
            FRA_SPORT_RANGE => selectors.sport = Some(port_range(data)?),
            FRA_DPORT_RANGE => selectors.dport = Some(port_range(data)?),
            // Linux 6.16+ reports a single port with the full mask: the same selector.
            FRA_SPORT_MASK | FRA_DPORT_MASK => other |= data != [0xff, 0xff],
            FRA_TABLE => table = attr_u32(data)?,
            FRA_PROTOCOL => protocol = *data.first().ok_or(Malformed("empty FRA_PROTOCOL"))?,
            FRA_SUPPRESS_PREFIXLEN => match attr_u32(data)? {
                FRA_UNSET => {}
                n => match u8::try_from(n) {
                    Ok(n) => suppress = Some(n),
                    Err(_) => other = true,
                },
            },
            // Always present since Linux 3.12; -1 when unset.
            FRA_SUPPRESS_IFGROUP => other |= attr_u32(data)? != FRA_UNSET,
            FRA_L3MDEV => other |= data.first().is_some_and(|&v| v != 0),
            t if FRA_OTHER_SELECTORS.contains(&t) => other = true,
            _ => {}
        }
    }
    let src = match (src, src_len) {
        (_, 0) => None,
        (Some(addr), len) => Some(Prefix { addr, len }),
        (None, _) => return Err(Malformed("rule source length without FRA_SRC")),
    };
    selectors.dst = match (dst, dst_len) {
        (_, 0) => None,
        (Some(addr), len) => Some(Prefix { addr, len }),
        (None, _) => return Err(Malformed("rule destination length without FRA_DST")),
    };
    let action = match action {
        FR_ACT_TO_TBL => RuleAction::Lookup(table),
        FR_ACT_UNREACHABLE => RuleAction::Unreachable,
        FR_ACT_BLACKHOLE => RuleAction::Blackhole,
        FR_ACT_PROHIBIT => RuleAction::Prohibit,
        n => RuleAction::Other(n),
    };
    Ok(Some(Rule {
        family: fam,
        priority,
        src,
        selectors,
        action,
        suppress_prefixlen: suppress,
        protocol,
        other_selectors: other,
    }))
}

/// `struct fib_rule_port_range`: first and last port, host order.
fn port_range(data: &[u8]) -> Result<PortRange, Malformed> {
    let bytes: [u8; 4] = data.try_into().map_err(|_| Malformed("port range not 4 bytes"))?;
    let start = u16::from_ne_bytes([bytes[0], bytes[1]]);
    let end = u16::from_ne_bytes([bytes[2], bytes[3]]);
    Ok(PortRange { start, end })
}
