//! Nexthop objects (Linux 5.3+): `struct nhmsg` with its `NHA_*` attributes parsed (a
//! gateway on a device, or a group of weighted members, resilient or not), and the
//! requests dualwan sends (add, replace, delete, dump) written into a buffer the caller
//! lends.

use super::{attr_u32, family, ip};
use super::{
    NEXTHOP_GRP_LEN, NEXTHOP_GRP_TYPE_RES, NHMSG_LEN, RTM_DELNEXTHOP, RTM_GETNEXTHOP, RTM_NEWNEXTHOP, USER_HZ,
};
use super::{NHA_BLACKHOLE, NHA_ENCAP, NHA_ENCAP_TYPE, NHA_FDB, NHA_GATEWAY, NHA_GROUP, NHA_GROUP_TYPE, NHA_ID};
use super::{NHA_OIF, NHA_RES_GROUP, NHA_RES_GROUP_BUCKETS, NHA_RES_GROUP_IDLE_TIMER, NHA_RES_GROUP_UNBALANCED_TIMER};
use crate::route::{Family, Group, Member, Nexthop, NexthopKind, Op, Resilient, GROUP_MAX};
use crate::wire::netlink::{u32_at, Attrs, Full, Malformed, Writer};
use crate::wire::netlink::{AF_INET, AF_INET6, AF_UNSPEC, NLA_TYPE_MASK, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP};
use crate::wire::netlink::{NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST};
use core::net::IpAddr;

/// `struct nhmsg` + `NHA_*`: a nexthop object. `None` for families other than
/// `AF_INET`/`AF_INET6` and, for groups, `AF_UNSPEC`.
pub fn parse_nexthop(p: &[u8]) -> Result<Option<Nexthop>, Malformed> {
    if p.len() < NHMSG_LEN {
        return Err(Malformed("short nhmsg"));
    }
    let fam = match p[0] {
        AF_UNSPEC => None,
        af => match family(af) {
            Some(f) => Some(f),
            None => return Ok(None),
        },
    };
    let protocol = p[2];
    let (mut id, mut gateway, mut oif, mut other) = (None, None, None, false);
    let mut members: heapless::Vec<Member, GROUP_MAX> = heapless::Vec::new();
    let (mut grouped, mut resilient) = (false, None);
    for attr in Attrs::new(&p[NHMSG_LEN..]) {
        let (ty, data) = attr?;
        match ty & NLA_TYPE_MASK {
            NHA_ID => id = Some(attr_u32(data)?),
            NHA_GROUP => {
                grouped = true;
                if data.len() % NEXTHOP_GRP_LEN != 0 {
                    return Err(Malformed("NHA_GROUP not a whole number of entries"));
                }
                for entry in data.chunks_exact(NEXTHOP_GRP_LEN) {
                    // Weight - 1: its low byte, then its high byte (Linux 6.12+; 0 before).
                    let weight = (u16::from(entry[5]) << 8 | u16::from(entry[4])).saturating_add(1);
                    other |= members.push(Member { id: u32_at(entry, 0), weight }).is_err();
                }
            }
            NHA_GROUP_TYPE => {
                let bytes: [u8; 2] = data.try_into().map_err(|_| Malformed("NHA_GROUP_TYPE not 2 bytes"))?;
                if u16::from_ne_bytes(bytes) == NEXTHOP_GRP_TYPE_RES {
                    resilient.get_or_insert(Resilient { buckets: 0, idle_timer: 0, unbalanced_timer: 0 });
                }
            }
            NHA_RES_GROUP => {
                let r = resilient.get_or_insert(Resilient { buckets: 0, idle_timer: 0, unbalanced_timer: 0 });
                for inner in Attrs::new(data) {
                    match inner? {
                        (NHA_RES_GROUP_BUCKETS, d) => {
                            let b: [u8; 2] = d.try_into().map_err(|_| Malformed("buckets not 2 bytes"))?;
                            r.buckets = u16::from_ne_bytes(b);
                        }
                        (NHA_RES_GROUP_IDLE_TIMER, d) => r.idle_timer = attr_u32(d)? / USER_HZ,
                        (NHA_RES_GROUP_UNBALANCED_TIMER, d) => r.unbalanced_timer = attr_u32(d)? / USER_HZ,
                        _ => {}
                    }
                }
            }
            NHA_GATEWAY => gateway = Some(ip(fam.ok_or(Malformed("gateway of a nexthop without family"))?, data)?),
            NHA_OIF => oif = Some(attr_u32(data)?),
            NHA_BLACKHOLE | NHA_ENCAP_TYPE | NHA_ENCAP | NHA_FDB => other = true,
            _ => {}
        }
    }
    let id = id.ok_or(Malformed("nexthop without NHA_ID"))?;
    let kind = match (grouped, gateway, oif) {
        _ if other => NexthopKind::Other,
        (true, ..) => Group::new(&members, resilient).map_or(NexthopKind::Other, NexthopKind::Group),
        (false, Some(gateway), Some(oif)) => NexthopKind::Via { gateway, oif },
        _ => NexthopKind::Other,
    };
    Ok(Some(Nexthop { id, kind, protocol }))
}

/// The `ip nexthop` requests: add, replace or delete (by id) the nexthop of a nexthop
/// [`Op`], asking for an ACK; anything else writes nothing and gives `Ok(0)`.
pub fn emit_nexthop(buf: &mut [u8], seq: u32, op: &Op) -> Result<usize, Full> {
    let ack = NLM_F_REQUEST | NLM_F_ACK;
    let (ty, flags, nh) = match op {
        Op::AddNexthop(n) => (RTM_NEWNEXTHOP, ack | NLM_F_CREATE | NLM_F_EXCL, n),
        Op::ReplaceNexthop(n) => (RTM_NEWNEXTHOP, ack | NLM_F_CREATE | NLM_F_REPLACE, n),
        Op::DelNexthop(n) => (RTM_DELNEXTHOP, ack, n),
        _ => return Ok(0),
    };
    let mut w = Writer::new(buf);
    w.header(ty, flags, seq)?;
    let delete = ty == RTM_DELNEXTHOP;
    // A delete names the id only: the kernel refuses any other field (`nh_valid_get_del_req`).
    let family = match nh.family() {
        Some(Family::V4) if !delete => AF_INET,
        Some(Family::V6) if !delete => AF_INET6,
        _ => AF_UNSPEC,
    };
    let protocol = if delete { 0 } else { nh.protocol };
    w.bytes(&[family, 0, protocol, 0, 0, 0, 0, 0])?;
    w.attr(NHA_ID, &nh.id.to_ne_bytes())?;
    if delete {
        return w.finish();
    }
    match &nh.kind {
        NexthopKind::Via { gateway, oif } => {
            w.attr(NHA_OIF, &oif.to_ne_bytes())?;
            match gateway {
                IpAddr::V4(a) => w.attr(NHA_GATEWAY, &a.octets())?,
                IpAddr::V6(a) => w.attr(NHA_GATEWAY, &a.octets())?,
            }
        }
        NexthopKind::Group(g) => {
            let mut entries = [0u8; NEXTHOP_GRP_LEN * GROUP_MAX];
            for (m, entry) in g.members().iter().zip(entries.chunks_exact_mut(NEXTHOP_GRP_LEN)) {
                let weight = m.weight.saturating_sub(1);
                entry[..4].copy_from_slice(&m.id.to_ne_bytes());
                (entry[4], entry[5]) = (weight as u8, (weight >> 8) as u8);
            }
            w.attr(NHA_GROUP, &entries[..NEXTHOP_GRP_LEN * g.members().len()])?;
            if let Some(r) = g.resilient {
                w.attr(NHA_GROUP_TYPE, &NEXTHOP_GRP_TYPE_RES.to_ne_bytes())?;
                let nest = w.begin(NHA_RES_GROUP)?;
                w.attr(NHA_RES_GROUP_BUCKETS, &r.buckets.to_ne_bytes())?;
                w.attr(NHA_RES_GROUP_IDLE_TIMER, &r.idle_timer.saturating_mul(USER_HZ).to_ne_bytes())?;
                w.attr(NHA_RES_GROUP_UNBALANCED_TIMER, &r.unbalanced_timer.saturating_mul(USER_HZ).to_ne_bytes())?;
                w.end(nest)?;
            }
        }
        NexthopKind::Other => return Err(Full),
    }
    w.finish()
}

/// The dump request for every nexthop object.
pub fn emit_nexthop_dump(buf: &mut [u8], seq: u32) -> Result<usize, Full> {
    let mut w = Writer::new(buf);
    w.header(RTM_GETNEXTHOP, NLM_F_REQUEST | NLM_F_DUMP, seq)?;
    w.bytes(&[AF_UNSPEC, 0, 0, 0, 0, 0, 0, 0])?;
    w.finish()
}
