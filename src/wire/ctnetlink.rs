//! ctnetlink (`NETLINK_NETFILTER`, subsystem `NFNL_SUBSYS_CTNETLINK`): conntrack entries as
//! the kernel dumps them, and the two requests dualwan sends — a dump of one address
//! family's table and the deletion of one entry.
//!
//! Contract: [`parse`] turns one message (walked with `wire::netlink::Messages`) into a
//! [`Parsed`] value without allocating or panicking; every length is checked before it is
//! read and a message that fails a check is [`Malformed`]. Attributes this module does not
//! model (counters, timeout, protoinfo, NAT sequence adjustments, labels...) are skipped.
//! [`emit_dump`] and [`emit_delete`] write into a buffer the caller lends and return the
//! length, or [`Full`] when it does not fit. The netlink header, attributes, ACKs and errors
//! are `wire::netlink`'s.
//!
//! The layout (include/uapi/linux/netfilter/nfnetlink{,_conntrack}.h): `nlmsg_type` is
//! `subsystem << 8 | message`; `struct nfgenmsg { u8 family; u8 version; __be16 res_id }`
//! follows the header; then attributes. Nested attributes (the tuples) carry `NLA_F_NESTED`
//! when the kernel sends them (`nla_nest_start`) and we set it when we send them. Unlike
//! rtnetlink, every value inside is big-endian: ports, `CTA_ID`, `CTA_STATUS`, `CTA_ZONE`.
//!
//! The kernel deletes one entry per request, found by a complete tuple (`CTA_TUPLE_ORIG`
//! or `CTA_TUPLE_REPLY`) in a zone; a request without a tuple flushes the whole table (or,
//! on newer kernels, what `CTA_MARK`/`CTA_STATUS` select) — there is no "reply destination
//! is X" filter for deletion. So removing the entries NAT'd to an address is: dump, pick
//! with [`Entry::nat_to`], delete each by its original tuple and `CTA_ID` (so a new entry
//! that reuses the tuple meanwhile is not hit: the kernel answers `ENOENT`).
//!
//! Tuples of both families parse; IPv6 entries and requests use the same types.

use crate::wire::netlink::{parse_control, Attrs, Control, Full, Malformed, Message, Writer};
use crate::wire::netlink::{AF_INET, AF_INET6, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST};
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `NFNL_SUBSYS_CTNETLINK`.
pub const NFNL_SUBSYS_CTNETLINK: u8 = 1;
/// `IPCTNL_MSG_CT_NEW` in the ctnetlink subsystem: a dump entry or a new-entry event.
pub const CT_NEW: u16 = (NFNL_SUBSYS_CTNETLINK as u16) << 8;
/// `IPCTNL_MSG_CT_GET`: the dump request.
pub const CT_GET: u16 = CT_NEW | 1;
/// `IPCTNL_MSG_CT_DELETE`: delete one entry (or a destroy event).
pub const CT_DELETE: u16 = CT_NEW | 2;
/// Size of `struct nfgenmsg`.
pub const NFGENMSG_LEN: usize = 4;
/// `NFNETLINK_V0`.
const NFNETLINK_V0: u8 = 0;

// enum ctattr_type
const CTA_TUPLE_ORIG: u16 = 1;
const CTA_TUPLE_REPLY: u16 = 2;
const CTA_STATUS: u16 = 3;
const CTA_ID: u16 = 12;
const CTA_ZONE: u16 = 18;
// enum ctattr_tuple
const CTA_TUPLE_IP: u16 = 1;
const CTA_TUPLE_PROTO: u16 = 2;
// enum ctattr_ip
const CTA_IP_V4_SRC: u16 = 1;
const CTA_IP_V4_DST: u16 = 2;
const CTA_IP_V6_SRC: u16 = 3;
const CTA_IP_V6_DST: u16 = 4;
// enum ctattr_l4proto
const CTA_PROTO_NUM: u16 = 1;
const CTA_PROTO_SRC_PORT: u16 = 2;
const CTA_PROTO_DST_PORT: u16 = 3;
const CTA_PROTO_ICMP_ID: u16 = 4;
const CTA_PROTO_ICMP_TYPE: u16 = 5;
const CTA_PROTO_ICMP_CODE: u16 = 6;
const CTA_PROTO_ICMPV6_ID: u16 = 7;
const CTA_PROTO_ICMPV6_TYPE: u16 = 8;
const CTA_PROTO_ICMPV6_CODE: u16 = 9;

/// `IPS_SRC_NAT` in `CTA_STATUS`: the entry's source was rewritten (SNAT, masquerade).
pub const IPS_SRC_NAT: u32 = 1 << 4;

/// The layer-4 part of a tuple, as the kernel identifies the protocol's flows.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum L4 {
    /// TCP, UDP, UDP-Lite, SCTP, DCCP, GRE (keys): source and destination port.
    Ports {
        /// Source port (host order here; big-endian on the wire).
        src: u16,
        /// Destination port.
        dst: u16,
    },
    /// ICMP (`CTA_PROTO_ICMP_*`): the echo identifier, type and code.
    Icmp {
        /// Echo identifier.
        id: u16,
        /// ICMP type.
        ty: u8,
        /// ICMP code.
        code: u8,
    },
    /// ICMPv6 (`CTA_PROTO_ICMPV6_*`).
    Icmpv6 {
        /// Echo identifier.
        id: u16,
        /// ICMPv6 type.
        ty: u8,
        /// ICMPv6 code.
        code: u8,
    },
    /// Only the protocol number (protocols without ports, e.g. ESP under the generic tracker).
    None,
}

/// One direction of a connection: addresses and the protocol's identifying fields.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Tuple {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IP protocol number (6 TCP, 17 UDP, 1 ICMP...).
    pub proto: u8,
    /// Ports or ICMP identifiers.
    pub l4: L4,
}

/// One conntrack entry, as much of it as deciding and deleting need.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The tuple of the packet that created the entry.
    pub orig: Tuple,
    /// The tuple replies are expected with: after source NAT its destination is the NAT
    /// address (the WAN's address under masquerade).
    pub reply: Tuple,
    /// `CTA_ID`, the kernel's id of the entry (absent on very old kernels).
    pub id: Option<u32>,
    /// `CTA_ZONE` (0, the default zone, when absent).
    pub zone: u16,
    /// `CTA_STATUS` bits (`IPS_*`).
    pub status: u32,
}

impl Entry {
    /// The entry was source-NAT'd to `addr`: replies go to `addr`, which is not where the
    /// connection came from. The router's own connections from `addr` (its probes among
    /// them) and inbound ones are not.
    pub fn nat_to(&self, addr: IpAddr) -> bool {
        self.reply.dst == addr && self.orig.src != addr
    }
}

/// What one ctnetlink message means to dualwan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A conntrack entry (dump entry or `IPCTNL_MSG_CT_NEW` event).
    Entry(Entry),
    /// `NLMSG_ERROR` with error 0.
    Ack,
    /// `NLMSG_ERROR` with this errno (positive).
    Error(i32),
    /// `NLMSG_DONE`, with the dump's result (0 or a negative errno).
    Done {
        /// 0 when the dump completed.
        error: i32,
    },
    /// Anything else (expectations, other subsystems, an entry of an unknown family).
    Ignored,
}

/// Parses one message. Never panics; see the module contract.
pub fn parse(msg: &Message<'_>) -> Result<Parsed, Malformed> {
    if let Some(control) = parse_control(msg) {
        return control.map(Parsed::from);
    }
    match msg.ty {
        CT_NEW | CT_DELETE => parse_entry(msg.payload).map(|e| e.map_or(Parsed::Ignored, Parsed::Entry)),
        _ => Ok(Parsed::Ignored),
    }
}

impl From<Control> for Parsed {
    fn from(control: Control) -> Parsed {
        match control {
            Control::Ack => Parsed::Ack,
            Control::Error(errno) => Parsed::Error(errno),
            Control::Done { error } => Parsed::Done { error },
            Control::Other => Parsed::Ignored,
        }
    }
}

/// `struct nfgenmsg` + `CTA_*`. `None` for a family other than IPv4/IPv6.
pub fn parse_entry(p: &[u8]) -> Result<Option<Entry>, Malformed> {
    if p.len() < NFGENMSG_LEN {
        return Err(Malformed("short nfgenmsg"));
    }
    let family = p[0];
    if family != AF_INET && family != AF_INET6 {
        return Ok(None);
    }
    let (mut orig, mut reply, mut id, mut zone, mut status) = (None, None, None, 0, 0);
    for attr in Attrs::new(&p[NFGENMSG_LEN..]) {
        match attr? {
            (CTA_TUPLE_ORIG, data) => orig = Some(parse_tuple(data, family)?),
            (CTA_TUPLE_REPLY, data) => reply = Some(parse_tuple(data, family)?),
            (CTA_ID, data) => id = Some(be_u32(data)?),
            (CTA_ZONE, data) => zone = be_u16(data)?,
            (CTA_STATUS, data) => status = be_u32(data)?,
            _ => {}
        }
    }
    Ok(Some(Entry {
        orig: orig.ok_or(Malformed("entry without CTA_TUPLE_ORIG"))?,
        reply: reply.ok_or(Malformed("entry without CTA_TUPLE_REPLY"))?,
        id,
        zone,
        status,
    }))
}

/// `CTA_TUPLE_*` nest: `CTA_TUPLE_IP` { src, dst } and `CTA_TUPLE_PROTO` { num, ... }.
fn parse_tuple(data: &[u8], family: u8) -> Result<Tuple, Malformed> {
    let (mut src, mut dst, mut proto) = (None, None, None);
    let mut ports = (None, None);
    let mut icmp = (None, None, None);
    let mut icmpv6 = (None, None, None);
    for attr in Attrs::new(data) {
        match attr? {
            (CTA_TUPLE_IP, ip) => {
                for a in Attrs::new(ip) {
                    match (a?, family) {
                        ((CTA_IP_V4_SRC, v), AF_INET) => src = Some(IpAddr::V4(v4(v)?)),
                        ((CTA_IP_V4_DST, v), AF_INET) => dst = Some(IpAddr::V4(v4(v)?)),
                        ((CTA_IP_V6_SRC, v), AF_INET6) => src = Some(IpAddr::V6(v6(v)?)),
                        ((CTA_IP_V6_DST, v), AF_INET6) => dst = Some(IpAddr::V6(v6(v)?)),
                        _ => {}
                    }
                }
            }
            (CTA_TUPLE_PROTO, l4) => {
                for a in Attrs::new(l4) {
                    match a? {
                        (CTA_PROTO_NUM, v) => proto = Some(u8_attr(v)?),
                        (CTA_PROTO_SRC_PORT, v) => ports.0 = Some(be_u16(v)?),
                        (CTA_PROTO_DST_PORT, v) => ports.1 = Some(be_u16(v)?),
                        (CTA_PROTO_ICMP_ID, v) => icmp.0 = Some(be_u16(v)?),
                        (CTA_PROTO_ICMP_TYPE, v) => icmp.1 = Some(u8_attr(v)?),
                        (CTA_PROTO_ICMP_CODE, v) => icmp.2 = Some(u8_attr(v)?),
                        (CTA_PROTO_ICMPV6_ID, v) => icmpv6.0 = Some(be_u16(v)?),
                        (CTA_PROTO_ICMPV6_TYPE, v) => icmpv6.1 = Some(u8_attr(v)?),
                        (CTA_PROTO_ICMPV6_CODE, v) => icmpv6.2 = Some(u8_attr(v)?),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let l4 = match (ports, icmp, icmpv6) {
        ((Some(src), Some(dst)), _, _) => L4::Ports { src, dst },
        (_, (Some(id), Some(ty), Some(code)), _) => L4::Icmp { id, ty, code },
        (_, _, (Some(id), Some(ty), Some(code))) => L4::Icmpv6 { id, ty, code },
        _ => L4::None,
    };
    Ok(Tuple {
        src: src.ok_or(Malformed("tuple without a source address of its family"))?,
        dst: dst.ok_or(Malformed("tuple without a destination address of its family"))?,
        proto: proto.ok_or(Malformed("tuple without CTA_PROTO_NUM"))?,
        l4,
    })
}

fn v4(v: &[u8]) -> Result<Ipv4Addr, Malformed> {
    let b: [u8; 4] = v.try_into().map_err(|_| Malformed("IPv4 address not 4 bytes"))?;
    Ok(Ipv4Addr::from(b))
}

fn v6(v: &[u8]) -> Result<Ipv6Addr, Malformed> {
    let b: [u8; 16] = v.try_into().map_err(|_| Malformed("IPv6 address not 16 bytes"))?;
    Ok(Ipv6Addr::from(b))
}

fn u8_attr(v: &[u8]) -> Result<u8, Malformed> {
    match v {
        [b] => Ok(*b),
        _ => Err(Malformed("u8 attribute not 1 byte")),
    }
}

fn be_u16(v: &[u8]) -> Result<u16, Malformed> {
    let b: [u8; 2] = v.try_into().map_err(|_| Malformed("be16 attribute not 2 bytes"))?;
    Ok(u16::from_be_bytes(b))
}

fn be_u32(v: &[u8]) -> Result<u32, Malformed> {
    let b: [u8; 4] = v.try_into().map_err(|_| Malformed("be32 attribute not 4 bytes"))?;
    Ok(u32::from_be_bytes(b))
}

/// The netlink header and `struct nfgenmsg` (`res_id` 0); [`Writer::finish`] patches the length.
fn header(w: &mut Writer<'_>, ty: u16, flags: u16, seq: u32, family: u8) -> Result<(), Full> {
    w.header(ty, flags, seq)?;
    w.bytes(&[family, NFNETLINK_V0, 0, 0])
}

/// The address family byte of a tuple.
pub fn family_of(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => AF_INET,
        IpAddr::V6(_) => AF_INET6,
    }
}

/// `IPCTNL_MSG_CT_GET` with `NLM_F_DUMP` for the whole table of `family` (the kernel skips
/// entries of other families when `nfgen_family` is set).
pub fn emit_dump(buf: &mut [u8], seq: u32, family: u8) -> Result<usize, Full> {
    let mut w = Writer::new(buf);
    header(&mut w, CT_GET, NLM_F_REQUEST | NLM_F_DUMP, seq, family)?;
    w.finish()
}

/// `IPCTNL_MSG_CT_DELETE` (with `NLM_F_ACK`) of `entry`: its original tuple, its zone when
/// not the default one, and its `CTA_ID` when known.
pub fn emit_delete(buf: &mut [u8], seq: u32, entry: &Entry) -> Result<usize, Full> {
    let mut w = Writer::new(buf);
    header(&mut w, CT_DELETE, NLM_F_REQUEST | NLM_F_ACK, seq, family_of(entry.orig.src))?;
    emit_tuple(&mut w, CTA_TUPLE_ORIG, &entry.orig)?;
    if entry.zone != 0 {
        w.attr(CTA_ZONE, &entry.zone.to_be_bytes())?;
    }
    if let Some(id) = entry.id {
        w.attr(CTA_ID, &id.to_be_bytes())?;
    }
    w.finish()
}

fn emit_tuple(w: &mut Writer<'_>, ty: u16, t: &Tuple) -> Result<(), Full> {
    let tuple = w.begin(ty)?;
    let ip = w.begin(CTA_TUPLE_IP)?;
    match (t.src, t.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            w.attr(CTA_IP_V4_SRC, &s.octets())?;
            w.attr(CTA_IP_V4_DST, &d.octets())?;
        }
        (s, d) => {
            // A tuple never mixes families; an IPv4 address in an IPv6 tuple is sent mapped.
            w.attr(CTA_IP_V6_SRC, &as_v6(s).octets())?;
            w.attr(CTA_IP_V6_DST, &as_v6(d).octets())?;
        }
    }
    w.end(ip)?;
    let l4 = w.begin(CTA_TUPLE_PROTO)?;
    w.attr(CTA_PROTO_NUM, &[t.proto])?;
    match t.l4 {
        L4::Ports { src, dst } => {
            w.attr(CTA_PROTO_SRC_PORT, &src.to_be_bytes())?;
            w.attr(CTA_PROTO_DST_PORT, &dst.to_be_bytes())?;
        }
        L4::Icmp { id, ty, code } => {
            w.attr(CTA_PROTO_ICMP_ID, &id.to_be_bytes())?;
            w.attr(CTA_PROTO_ICMP_TYPE, &[ty])?;
            w.attr(CTA_PROTO_ICMP_CODE, &[code])?;
        }
        L4::Icmpv6 { id, ty, code } => {
            w.attr(CTA_PROTO_ICMPV6_ID, &id.to_be_bytes())?;
            w.attr(CTA_PROTO_ICMPV6_TYPE, &[ty])?;
            w.attr(CTA_PROTO_ICMPV6_CODE, &[code])?;
        }
        L4::None => {}
    }
    w.end(l4)?;
    w.end(tuple)
}

fn as_v6(a: IpAddr) -> Ipv6Addr {
    match a {
        IpAddr::V4(v) => v.to_ipv6_mapped(),
        IpAddr::V6(v) => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::netlink::{Messages, NLMSG_HDRLEN};

    /// One captured message (see `tests/vectors/ctnetlink/README.md`).
    fn capture(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/vectors/ctnetlink/{name}.hex", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let text = text.trim();
        (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex")).collect()
    }

    fn only(bytes: &[u8]) -> (Message<'_>, Parsed) {
        let mut msgs = Messages::new(bytes);
        let msg = msgs.next().expect("one message").expect("well-formed header");
        assert!(msgs.next().is_none());
        (msg, parse(&msg).expect("well-formed message"))
    }

    fn entry(name: &str) -> Entry {
        match only(&capture(name)).1 {
            Parsed::Entry(e) => e,
            other => panic!("{name}: {other:?}"),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const LAN: &str = "192.0.2.130";
    const WAN: &str = "192.0.2.2";
    const SERVER: &str = "203.0.113.50";

    #[test]
    fn masqueraded_entries_from_a_real_dump() {
        let tcp = entry("entry-tcp-masq");
        assert_eq!((tcp.orig.src, tcp.orig.dst, tcp.orig.proto), (ip(LAN), ip(SERVER), 6));
        assert_eq!((tcp.reply.src, tcp.reply.dst), (ip(SERVER), ip(WAN)));
        let L4::Ports { src, dst: 8080 } = tcp.orig.l4 else { panic!("{tcp:?}") };
        assert_eq!(tcp.reply.l4, L4::Ports { src: 8080, dst: src }, "masquerade kept the port");
        assert_eq!(tcp.id, Some(0x297f_f1d0));
        assert_eq!(tcp.zone, 0);
        assert_ne!(tcp.status & IPS_SRC_NAT, 0);
        assert!(tcp.nat_to(ip(WAN)));
        assert!(!tcp.nat_to(ip("192.0.2.10")));

        let udp = entry("entry-udp-masq");
        assert_eq!((udp.orig.proto, udp.reply.dst), (17, ip(WAN)));
        assert!(matches!(udp.orig.l4, L4::Ports { dst: 5353, .. }));
        assert!(udp.nat_to(ip(WAN)));

        let icmp = entry("entry-icmp-masq");
        assert_eq!(icmp.orig.proto, 1);
        let L4::Icmp { id, ty: 8, code: 0 } = icmp.orig.l4 else { panic!("{icmp:?}") };
        assert_eq!(icmp.reply.l4, L4::Icmp { id, ty: 0, code: 0 });
        assert!(icmp.nat_to(ip(WAN)));
    }

    #[test]
    fn the_routers_own_connection_is_not_natd() {
        let local = entry("entry-tcp-local");
        assert_eq!((local.orig.src, local.reply.dst), (ip(WAN), ip(WAN)));
        assert_eq!(local.status & IPS_SRC_NAT, 0);
        assert!(!local.nat_to(ip(WAN)));
    }

    #[test]
    fn delete_request_matches_the_one_the_kernel_accepted() {
        // capture.py built this request independently and the kernel acknowledged it.
        let tcp = entry("entry-tcp-masq");
        let want = capture("request-delete-tcp-masq");
        let mut buf = [0u8; 256];
        let n = emit_delete(&mut buf, 7, &tcp).unwrap();
        assert_eq!(&buf[..n], &want[..]);
        let msg = only_msg(&want);
        assert_eq!((msg.ty, msg.flags, msg.seq), (CT_DELETE, NLM_F_REQUEST | NLM_F_ACK, 7));
        // The request parses back into the entry's original tuple.
        let mut back = [0u8; 256];
        let mut w = Writer::new(&mut back);
        header(&mut w, CT_NEW, 0, 7, AF_INET).unwrap();
        emit_tuple(&mut w, CTA_TUPLE_ORIG, &tcp.orig).unwrap();
        emit_tuple(&mut w, CTA_TUPLE_REPLY, &tcp.reply).unwrap();
        w.attr(CTA_ID, &tcp.id.unwrap().to_be_bytes()).unwrap();
        w.attr(CTA_STATUS, &tcp.status.to_be_bytes()).unwrap();
        let n = w.finish().unwrap();
        assert_eq!(only(&back[..n]).1, Parsed::Entry(tcp));
    }

    #[test]
    fn acks_errors_and_done_from_the_kernel() {
        assert_eq!(only(&capture("ack-delete-tcp-masq")).1, Parsed::Ack);
        // The same delete again: the entry is gone.
        assert_eq!(only(&capture("ack-delete-tcp-masq-again")).1, Parsed::Error(libc::ENOENT));
        assert_eq!(only(&capture("done")).1, Parsed::Done { error: 0 });
    }

    #[test]
    fn dump_request() {
        let mut buf = [0u8; 64];
        let n = emit_dump(&mut buf, 9, AF_INET).unwrap();
        let (msg, _) = only(&buf[..n]);
        assert_eq!((msg.ty, msg.flags, msg.seq, msg.payload), (CT_GET, 0x301, 9, &[AF_INET, 0, 0, 0][..]));
        assert_eq!(emit_dump(&mut buf[..19], 9, AF_INET), Err(Full));
    }

    #[test]
    fn other_tuples_round_trip() {
        let v6 = |s: &str| IpAddr::V6(s.parse().unwrap());
        for (orig, reply, zone, id) in [
            (
                Tuple {
                    src: v6("2001:db8::1"),
                    dst: v6("2001:db8:1::2"),
                    proto: 58,
                    l4: L4::Icmpv6 { id: 7, ty: 128, code: 0 },
                },
                Tuple {
                    src: v6("2001:db8:1::2"),
                    dst: v6("2001:db8::1"),
                    proto: 58,
                    l4: L4::Icmpv6 { id: 7, ty: 129, code: 0 },
                },
                0,
                Some(1),
            ),
            (
                Tuple { src: ip(LAN), dst: ip(SERVER), proto: 50, l4: L4::None },
                Tuple { src: ip(SERVER), dst: ip(WAN), proto: 50, l4: L4::None },
                12,
                None,
            ),
        ] {
            let e = Entry { orig, reply, id, zone, status: 0 };
            let mut buf = [0u8; 256];
            let mut w = Writer::new(&mut buf);
            header(&mut w, CT_NEW, 0, 1, family_of(orig.src)).unwrap();
            emit_tuple(&mut w, CTA_TUPLE_ORIG, &orig).unwrap();
            emit_tuple(&mut w, CTA_TUPLE_REPLY, &reply).unwrap();
            w.attr(CTA_ZONE, &zone.to_be_bytes()).unwrap();
            if let Some(id) = id {
                w.attr(CTA_ID, &id.to_be_bytes()).unwrap();
            }
            let n = w.finish().unwrap();
            assert_eq!(only(&buf[..n]).1, Parsed::Entry(e));
            // Its delete request carries the original tuple, then the zone and id if set.
            let n = emit_delete(&mut buf, 2, &e).unwrap();
            let msg = only_msg(&buf[..n]);
            let mut attrs = Attrs::new(&msg.payload[NFGENMSG_LEN..]).map(Result::unwrap);
            let (ty, tuple) = attrs.next().unwrap();
            assert_eq!((ty, parse_tuple(tuple, family_of(orig.src))), (CTA_TUPLE_ORIG, Ok(orig)));
            let rest: Vec<u16> = attrs.map(|(ty, _)| ty).collect();
            let want: Vec<u16> = [(zone != 0).then_some(CTA_ZONE), id.map(|_| CTA_ID)].into_iter().flatten().collect();
            assert_eq!(rest, want);
            assert_eq!(emit_delete(&mut buf[..40], 2, &e), Err(Full));
        }
    }

    #[test]
    fn truncated_and_corrupted_messages_never_panic() {
        for name in ["entry-tcp-masq", "entry-udp-masq", "entry-icmp-masq", "entry-tcp-local"] {
            let good = capture(name);
            for cut in 0..good.len() {
                let mut bytes = good[..cut].to_vec();
                if bytes.len() >= 4 {
                    bytes[..4].copy_from_slice(&(cut as u32).to_ne_bytes());
                }
                for m in Messages::new(&bytes).flatten() {
                    let _ = parse(&m);
                }
            }
            for i in NLMSG_HDRLEN..good.len() {
                for v in [0u8, 1, 0x7f, 0xff] {
                    let mut bytes = good.clone();
                    bytes[i] = v;
                    for m in Messages::new(&bytes).flatten() {
                        let _ = parse(&m);
                    }
                }
            }
        }
    }

    #[test]
    fn entries_missing_a_tuple_or_of_other_families_are_told_apart() {
        let mut buf = [0u8; 128];
        let mut w = Writer::new(&mut buf);
        header(&mut w, CT_NEW, 0, 1, AF_INET).unwrap();
        w.attr(CTA_ID, &1u32.to_be_bytes()).unwrap();
        let n = w.finish().unwrap();
        assert_eq!(parse(&only_msg(&buf[..n])), Err(Malformed("entry without CTA_TUPLE_ORIG")));
        let mut w = Writer::new(&mut buf);
        header(&mut w, CT_NEW, 0, 1, 7).unwrap();
        let n = w.finish().unwrap();
        assert_eq!(parse(&only_msg(&buf[..n])), Ok(Parsed::Ignored));
        let mut w = Writer::new(&mut buf);
        header(&mut w, CT_NEW, 0, 1, AF_INET).unwrap();
        let t = w.begin(CTA_TUPLE_ORIG).unwrap();
        let i = w.begin(CTA_TUPLE_IP).unwrap();
        w.attr(CTA_IP_V4_SRC, &[1, 2, 3]).unwrap();
        w.end(i).unwrap();
        w.end(t).unwrap();
        let n = w.finish().unwrap();
        assert_eq!(parse(&only_msg(&buf[..n])), Err(Malformed("IPv4 address not 4 bytes")));
    }

    fn only_msg(bytes: &[u8]) -> Message<'_> {
        Messages::new(bytes).next().unwrap().unwrap()
    }
}
