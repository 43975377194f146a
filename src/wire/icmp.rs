//! ICMPv4 echo probes on the wire (RFC 792): emit an echo request, parse what a Linux raw
//! `AF_INET`/`SOCK_RAW`/`IPPROTO_ICMP` socket receives.
//!
//! Contract:
//! - No I/O, no allocation, and no panic on any input: every length is checked once before the
//!   bytes behind it are read.
//! - `emit_echo_request` writes the ICMP message only; the kernel adds the IPv4 header.
//! - `parse` takes the IPv4 header followed by the ICMP message (Linux hands raw sockets the
//!   header as it was on the wire, `tot_len` included). Bytes past the IPv4 total length are
//!   ignored. The IPv4 header checksum is not checked: the kernel drops packets with a bad
//!   one before any socket sees them. The ICMP checksum is checked.
//! - An ICMP error is reported with the destination of the datagram it quotes and, when that
//!   datagram was an echo request, its identifier and sequence number, so the caller can match
//!   it to the probe that caused it.
//! - `Icmp`, `ErrorKind`, `Malformed` and `Full` are shared with `wire::icmp6`, so both families
//!   parse into the same values; addresses are `IpAddr`, and this parser only makes `V4` ones.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr};

/// ICMP type of an echo reply (RFC 792).
pub const ECHO_REPLY: u8 = 0;
/// ICMP type of destination unreachable (RFC 792).
pub const DEST_UNREACHABLE: u8 = 3;
const SOURCE_QUENCH: u8 = 4;
const REDIRECT: u8 = 5;
/// ICMP type of an echo request (RFC 792).
pub const ECHO_REQUEST: u8 = 8;
/// ICMP type of time exceeded (RFC 792).
pub const TIME_EXCEEDED: u8 = 11;
/// ICMP type of parameter problem (RFC 792).
pub const PARAMETER_PROBLEM: u8 = 12;

/// IPv4 protocol number of ICMP.
const PROTO_ICMP: u8 = 1;

/// Length of an IPv4 header without options (IHL 5).
pub const IPV4_HEADER_LEN: usize = 20;

/// Length of the ICMP header: type, code, checksum and four bytes that an echo message uses
/// for its identifier and sequence number.
pub const ICMP_HEADER_LEN: usize = 8;

/// The data every probe carries, so a capture shows whose echo requests these are.
pub const PROBE_PAYLOAD: [u8; 16] = *b"dualwan-probe-v1";

/// Bytes `emit_echo_request` writes: header and payload.
pub const ECHO_REQUEST_LEN: usize = ICMP_HEADER_LEN + PROBE_PAYLOAD.len();

/// The buffer lent to an emitter is too small for the message.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Full;

impl fmt::Display for Full {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "buffer too small for an ICMP echo request ({ECHO_REQUEST_LEN} bytes)")
    }
}

/// Why a received packet could not be read.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// Fewer bytes than an IP header: an IPv4 packet's own, or the one an ICMP or ICMPv6 error
    /// quotes.
    TooShort,
    /// An ICMPv6 message shorter than the 8-byte ICMP header.
    NoIcmpHeader,
    /// The IP version field is not 4.
    NotIpv4,
    /// The IP version field of the header an ICMPv6 error quotes is not 6.
    NotIpv6,
    /// The IHL is below 5, or the total length is too small for the header and an ICMP header.
    BadHeaderLength,
    /// The IPv4 protocol is not ICMP.
    NotIcmp,
    /// Fewer bytes arrived than the packet has: the IPv4 total length promises more, or (for
    /// ICMPv6, which has no length field of its own) the socket cut the message.
    Truncated,
    /// The ICMP checksum does not match the message. For ICMPv6 the kernel checks it and
    /// reports a mismatch to `sys::icmp` instead of the message.
    BadChecksum,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Malformed::TooShort => "shorter than an IP header",
            Malformed::NoIcmpHeader => "shorter than an ICMP header",
            Malformed::NotIpv4 => "IP version is not 4",
            Malformed::NotIpv6 => "quoted IP version is not 6",
            Malformed::BadHeaderLength => "IPv4 header length out of range",
            Malformed::NotIcmp => "IPv4 protocol is not ICMP",
            Malformed::Truncated => "fewer bytes received than the packet holds",
            Malformed::BadChecksum => "ICMP checksum mismatch",
        })
    }
}

/// Identifier and sequence number of an echo message.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct EchoId {
    /// Identifier: which prober sent it.
    pub ident: u16,
    /// Sequence number: which probe of that prober.
    pub seq: u16,
}

/// The ICMP and ICMPv6 error types whose message quotes the datagram that caused them. Codes
/// are kept as sent: their meanings differ between the families.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// ICMP type 3 (code 0 net, 1 host, 3 port, 13 administratively prohibited, ...) or ICMPv6
    /// type 1 (code 0 no route, 1 administratively prohibited, 3 address, 4 port, ...).
    DestUnreachable(u8),
    /// ICMPv6 type 2: a link on the path has a smaller MTU, which is given.
    PacketTooBig {
        /// The MTU of the next hop.
        mtu: u32,
    },
    /// ICMP type 11 or ICMPv6 type 3: the TTL or hop limit reached zero in transit, or
    /// reassembly timed out.
    TimeExceeded,
    /// ICMP type 12 or ICMPv6 type 4, with its code: a header field the receiver cannot process.
    ParameterProblem(u8),
    /// Another ICMP error type that quotes a datagram: 4 source quench, 5 redirect.
    Other(u8),
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::DestUnreachable(code) => write!(f, "destination unreachable (code {code})"),
            ErrorKind::PacketTooBig { mtu } => write!(f, "packet too big (MTU {mtu})"),
            ErrorKind::TimeExceeded => f.write_str("time exceeded"),
            ErrorKind::ParameterProblem(code) => write!(f, "parameter problem (code {code})"),
            ErrorKind::Other(ty) => write!(f, "ICMP error type {ty}"),
        }
    }
}

/// One ICMP or ICMPv6 message as received on a raw socket.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Icmp {
    /// ICMP type 0 or ICMPv6 type 129: the answer to a probe.
    EchoReply {
        /// Who answered.
        src: IpAddr,
        /// The address the reply was sent to; `None` for ICMPv6, whose raw sockets deliver the
        /// message without the IPv6 header. (A probe socket is bound to its source address, so
        /// a unicast reply it receives was sent to that address.)
        dst: Option<IpAddr>,
        /// Identifier copied from the request.
        ident: u16,
        /// Sequence number copied from the request.
        seq: u16,
    },
    /// ICMP type 8 or ICMPv6 type 128: someone pinging this host.
    EchoRequest {
        /// Who is pinging.
        src: IpAddr,
        /// The address being pinged; `None` for ICMPv6, as for `EchoReply`.
        dst: Option<IpAddr>,
        /// Identifier chosen by the sender.
        ident: u16,
        /// Sequence number chosen by the sender.
        seq: u16,
    },
    /// An error about a datagram this host sent.
    Error {
        /// The router or host that reports the error.
        src: IpAddr,
        /// What went wrong.
        kind: ErrorKind,
        /// Destination of the quoted datagram.
        orig_dst: IpAddr,
        /// Identifier and sequence number when the quoted datagram is an echo request.
        echo: Option<EchoId>,
    },
    /// Any other type, kept rather than rejected.
    Other {
        /// The sender.
        src: IpAddr,
        /// ICMP type.
        ty: u8,
        /// ICMP code.
        code: u8,
    },
}

/// The Internet checksum of RFC 1071: one's complement of the one's complement sum of the
/// big-endian 16-bit words, an odd last byte padded with zero. Over a message whose checksum
/// field is filled in correctly it yields 0.
pub fn checksum(data: &[u8]) -> u16 {
    // A u64 cannot overflow here: that would take more than 2^48 words.
    let mut sum: u64 = 0;
    let mut words = data.chunks_exact(2);
    for word in &mut words {
        sum += u64::from(u16::from_be_bytes([word[0], word[1]]));
    }
    if let [last] = words.remainder() {
        sum += u64::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Writes an echo request (type 8, code 0) carrying `PROBE_PAYLOAD` at the start of `buf`, with
/// its checksum, and returns its length (`ECHO_REQUEST_LEN`). Bytes after it are left alone.
pub fn emit_echo_request(buf: &mut [u8], ident: u16, seq: u16) -> Result<usize, Full> {
    let msg = buf.get_mut(..ECHO_REQUEST_LEN).ok_or(Full)?;
    msg[0] = ECHO_REQUEST;
    msg[1] = 0;
    // The checksum is computed with its own field zero (RFC 792).
    msg[2..4].copy_from_slice(&[0, 0]);
    msg[4..6].copy_from_slice(&ident.to_be_bytes());
    msg[6..8].copy_from_slice(&seq.to_be_bytes());
    msg[ICMP_HEADER_LEN..].copy_from_slice(&PROBE_PAYLOAD);
    let sum = checksum(msg);
    msg[2..4].copy_from_slice(&sum.to_be_bytes());
    Ok(ECHO_REQUEST_LEN)
}

/// Reads one packet from a raw ICMP socket: an IPv4 header, then the ICMP message.
pub fn parse(packet: &[u8]) -> Result<Icmp, Malformed> {
    let ip = Ipv4::parse(packet)?;
    if ip.proto != PROTO_ICMP {
        return Err(Malformed::NotIcmp);
    }
    let total = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
    if total > packet.len() {
        return Err(Malformed::Truncated);
    }
    if total < ip.header_len + ICMP_HEADER_LEN {
        return Err(Malformed::BadHeaderLength);
    }
    // header_len + 8 <= total <= packet.len(), so this slice holds at least the ICMP header.
    let msg = &packet[ip.header_len..total];
    if checksum(msg) != 0 {
        return Err(Malformed::BadChecksum);
    }
    let (ty, code) = (msg[0], msg[1]);
    let echo = EchoId { ident: u16::from_be_bytes([msg[4], msg[5]]), seq: u16::from_be_bytes([msg[6], msg[7]]) };
    let (src, dst) = (IpAddr::V4(ip.src), Some(IpAddr::V4(ip.dst)));
    let kind = match ty {
        ECHO_REPLY => return Ok(Icmp::EchoReply { src, dst, ident: echo.ident, seq: echo.seq }),
        ECHO_REQUEST => return Ok(Icmp::EchoRequest { src, dst, ident: echo.ident, seq: echo.seq }),
        DEST_UNREACHABLE => ErrorKind::DestUnreachable(code),
        TIME_EXCEEDED => ErrorKind::TimeExceeded,
        PARAMETER_PROBLEM => ErrorKind::ParameterProblem(code),
        SOURCE_QUENCH | REDIRECT => ErrorKind::Other(ty),
        _ => return Ok(Icmp::Other { src, ty, code }),
    };
    // Errors quote the IPv4 header of the offending datagram and at least its first 64 bits
    // of data (RFC 792), which for an echo request are type, code, checksum, ident and seq.
    let quoted = &msg[ICMP_HEADER_LEN..];
    let orig = Ipv4::parse(quoted)?;
    // Only the first fragment starts with the ICMP header; its total length is the original
    // datagram's, not the quote's, so it is not checked against what was quoted.
    let echo = match quoted.get(orig.header_len..orig.header_len + ICMP_HEADER_LEN) {
        Some(inner) if orig.proto == PROTO_ICMP && orig.frag_offset == 0 && inner[0] == ECHO_REQUEST => Some(EchoId {
            ident: u16::from_be_bytes([inner[4], inner[5]]),
            seq: u16::from_be_bytes([inner[6], inner[7]]),
        }),
        _ => None,
    };
    Ok(Icmp::Error { src, kind, orig_dst: IpAddr::V4(orig.dst), echo })
}

/// The fields of an IPv4 header this module needs.
struct Ipv4 {
    header_len: usize,
    proto: u8,
    frag_offset: u16,
    src: Ipv4Addr,
    dst: Ipv4Addr,
}

impl Ipv4 {
    /// Checks the fixed header (length, version, IHL) and reads its fields. Does not look at the
    /// total length: a quoted header's describes bytes that were not quoted.
    fn parse(bytes: &[u8]) -> Result<Ipv4, Malformed> {
        let h: &[u8; IPV4_HEADER_LEN] =
            bytes.get(..IPV4_HEADER_LEN).and_then(|h| h.try_into().ok()).ok_or(Malformed::TooShort)?;
        if h[0] >> 4 != 4 {
            return Err(Malformed::NotIpv4);
        }
        let header_len = usize::from(h[0] & 0x0f) * 4;
        if header_len < IPV4_HEADER_LEN {
            return Err(Malformed::BadHeaderLength);
        }
        Ok(Ipv4 {
            header_len,
            proto: h[9],
            frag_offset: u16::from_be_bytes([h[6], h[7]]) & 0x1fff,
            src: Ipv4Addr::new(h[12], h[13], h[14], h[15]),
            dst: Ipv4Addr::new(h[16], h[17], h[18], h[19]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    /// Decodes a hex string (fixtures are written as the captures printed them).
    fn hex(s: &str) -> Vec<u8> {
        let s: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        s.chunks(2).map(|p| u8::from_str_radix(core::str::from_utf8(p).unwrap(), 16).unwrap()).collect()
    }

    // Captured on Linux 6.18 in two network namespaces joined by a veth pair: a raw ICMP
    // socket bound to 192.0.2.1 (device wan0) sent an echo request with ident 0x1234, seq 1 and
    // payload "dualwan-probe-v1" to the peer 192.0.2.2; this is what recv(2) returned. The reply
    // was generated by the peer's kernel.
    const REPLY: &str = "4500002c 2d990000 4001c934 c0000202 c0000201
                         00008726 12340001 6475616c 77616e2d 70726f62 652d7631";

    // Same setup, seq 2 sent to 203.0.113.5, routed via the peer, which forwards but has no
    // route there: the peer's kernel answered with destination unreachable, code 0 (net),
    // quoting our whole echo request (RFC 1812 routers quote as much as fits in 576 bytes).
    const NET_UNREACHABLE: &str = "45c00048 2d9a0000 4001c857 c0000202 c0000201
                                   0300fcff 00000000
                                   4500002c 75f04000 4001c6d9 c0000201 cb007105
                                   08007f25 12340002 6475616c 77616e2d 70726f62 652d7631";

    /// A 20-byte IPv4 header for hand-built packets (header checksum left zero: not checked).
    fn ipv4_header(total: u16, proto: u8, src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
        let mut h = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, proto, 0, 0];
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h.extend_from_slice(&src);
        h.extend_from_slice(&dst);
        h
    }

    /// Fills in the ICMP checksum of `packet`, whose ICMP message starts at `at`.
    fn fix_checksum(packet: &mut [u8], at: usize) {
        packet[at + 2..at + 4].copy_from_slice(&[0, 0]);
        let sum = checksum(&packet[at..]);
        packet[at + 2..at + 4].copy_from_slice(&sum.to_be_bytes());
    }

    #[test]
    fn checksum_matches_rfc_1071_example() {
        // RFC 1071 section 3: these bytes sum to 0xddf2, whose complement is the checksum.
        assert_eq!(checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]), !0xddf2);
    }

    #[test]
    fn checksum_pads_an_odd_byte_and_handles_empty() {
        assert_eq!(checksum(&[]), 0xffff);
        assert_eq!(checksum(&[0x01]), !0x0100);
        // The classic minimal echo request: type 8, ident 1, seq 1 sums to 0x0802.
        assert_eq!(checksum(&[8, 0, 0, 0, 0, 1, 0, 1]), 0xf7fd);
        // Carries fold back in: 0xffff + 0x0001 = 0x1_0000 -> 0x0001.
        assert_eq!(checksum(&[0xff, 0xff, 0x00, 0x01]), !0x0001);
    }

    #[test]
    fn emit_writes_the_captured_request_bytes() {
        // The quoted request in NET_UNREACHABLE is what the kernel sent for ident 0x1234, seq 2.
        let capture = hex(NET_UNREACHABLE);
        let mut buf = [0xaa; 64];
        let n = emit_echo_request(&mut buf, 0x1234, 2).unwrap();
        assert_eq!(n, ECHO_REQUEST_LEN);
        assert_eq!(&buf[..n], &capture[48..]);
        assert_eq!(&buf[..4], &[8, 0, 0x7f, 0x25]);
        assert!(buf[n..].iter().all(|&b| b == 0xaa), "bytes after the message untouched");
        assert_eq!(checksum(&buf[..n]), 0);
    }

    #[test]
    fn emit_reports_full_for_every_short_buffer() {
        for len in 0..ECHO_REQUEST_LEN {
            let mut buf = vec![0; len];
            assert_eq!(emit_echo_request(&mut buf, 1, 1), Err(Full), "len {len}");
        }
        let mut exact = [0; ECHO_REQUEST_LEN];
        assert_eq!(emit_echo_request(&mut exact, u16::MAX, u16::MAX), Ok(ECHO_REQUEST_LEN));
        assert_eq!(checksum(&exact), 0);
    }

    #[test]
    fn parses_captured_echo_reply() {
        let reply = hex(REPLY);
        assert_eq!(
            parse(&reply),
            Ok(Icmp::EchoReply { src: v4(192, 0, 2, 2), dst: Some(v4(192, 0, 2, 1)), ident: 0x1234, seq: 1 })
        );
    }

    #[test]
    fn bytes_past_the_total_length_are_ignored() {
        let mut reply = hex(REPLY);
        reply.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef, 0x55]);
        assert!(matches!(parse(&reply), Ok(Icmp::EchoReply { seq: 1, .. })));
    }

    #[test]
    fn parses_captured_net_unreachable_quoting_our_request() {
        let err = hex(NET_UNREACHABLE);
        assert_eq!(
            parse(&err),
            Ok(Icmp::Error {
                src: v4(192, 0, 2, 2),
                kind: ErrorKind::DestUnreachable(0),
                orig_dst: v4(203, 0, 113, 5),
                echo: Some(EchoId { ident: 0x1234, seq: 2 }),
            })
        );
    }

    #[test]
    fn error_quoting_only_the_rfc_792_minimum_still_names_the_probe() {
        // Keep the quoted IPv4 header and 64 bits of its data, as an RFC 792 router would.
        let mut err = hex(NET_UNREACHABLE);
        err.truncate(20 + 8 + 20 + 8);
        err[2..4].copy_from_slice(&56u16.to_be_bytes());
        fix_checksum(&mut err, 20);
        assert!(matches!(parse(&err), Ok(Icmp::Error { echo: Some(EchoId { ident: 0x1234, seq: 2 }), .. })));

        // With the quoted header alone the destination is known but not the probe.
        err.truncate(20 + 8 + 20);
        err[2..4].copy_from_slice(&48u16.to_be_bytes());
        fix_checksum(&mut err, 20);
        assert!(matches!(
            parse(&err),
            Ok(Icmp::Error { echo: None, orig_dst, .. }) if orig_dst == v4(203, 0, 113, 5)
        ));

        // Less than a quoted header is malformed.
        err.truncate(20 + 8 + 19);
        err[2..4].copy_from_slice(&47u16.to_be_bytes());
        fix_checksum(&mut err, 20);
        assert_eq!(parse(&err), Err(Malformed::TooShort));
    }

    #[test]
    fn time_exceeded_quoting_udp_has_no_echo_id() {
        // Time exceeded (type 11, code 0) from 198.51.100.9 about a UDP datagram to 203.0.113.7.
        let mut p = ipv4_header(56, PROTO_ICMP, [198, 51, 100, 9], [192, 0, 2, 1]);
        p.extend_from_slice(&[11, 0, 0, 0, 0, 0, 0, 0]);
        p.extend_from_slice(&ipv4_header(40, 17, [192, 0, 2, 1], [203, 0, 113, 7]));
        p.extend_from_slice(&[0x82, 0x9a, 0x82, 0x9b, 0, 20, 0, 0]);
        fix_checksum(&mut p, 20);
        assert_eq!(
            parse(&p),
            Ok(Icmp::Error {
                src: v4(198, 51, 100, 9),
                kind: ErrorKind::TimeExceeded,
                orig_dst: v4(203, 0, 113, 7),
                echo: None,
            })
        );
    }

    #[test]
    fn parameter_problem_keeps_its_code() {
        // Parameter problem, code 2 (bad length), about our echo request to 203.0.113.7.
        let mut p = ipv4_header(56, PROTO_ICMP, [198, 51, 100, 9], [192, 0, 2, 1]);
        p.extend_from_slice(&[12, 2, 0, 0, 0, 0, 0, 0]);
        p.extend_from_slice(&ipv4_header(44, PROTO_ICMP, [192, 0, 2, 1], [203, 0, 113, 7]));
        p.extend_from_slice(&[8, 0, 0, 0, 0x12, 0x34, 0, 5]);
        fix_checksum(&mut p, 20);
        assert_eq!(
            parse(&p),
            Ok(Icmp::Error {
                src: v4(198, 51, 100, 9),
                kind: ErrorKind::ParameterProblem(2),
                orig_dst: v4(203, 0, 113, 7),
                echo: Some(EchoId { ident: 0x1234, seq: 5 }),
            })
        );
    }

    #[test]
    fn quoted_echo_request_after_ip_options_is_found() {
        // Outer header and quoted header both carry 4 bytes of options (IHL 6): a record of
        // NOPs ended by End of Options List (RFC 791).
        let mut p = ipv4_header(24 + 8 + 24 + 8, PROTO_ICMP, [198, 51, 100, 9], [192, 0, 2, 1]);
        p[0] = 0x46;
        p.extend_from_slice(&[1, 1, 1, 0]);
        p.extend_from_slice(&[3, 1, 0, 0, 0, 0, 0, 0]);
        let mut quoted = ipv4_header(24 + 24, PROTO_ICMP, [192, 0, 2, 1], [203, 0, 113, 7]);
        quoted[0] = 0x46;
        quoted.extend_from_slice(&[1, 1, 1, 0]);
        p.extend_from_slice(&quoted);
        p.extend_from_slice(&[8, 0, 0xab, 0xcd, 0xbe, 0xef, 0x00, 0x07]);
        fix_checksum(&mut p, 24);
        assert_eq!(
            parse(&p),
            Ok(Icmp::Error {
                src: v4(198, 51, 100, 9),
                kind: ErrorKind::DestUnreachable(1),
                orig_dst: v4(203, 0, 113, 7),
                echo: Some(EchoId { ident: 0xbeef, seq: 7 }),
            })
        );
    }

    #[test]
    fn quoted_non_first_fragment_has_no_echo_id() {
        let mut err = hex(NET_UNREACHABLE);
        // Quoted flags/fragment offset: offset 185 (1480 bytes), so no ICMP header follows.
        err[34..36].copy_from_slice(&185u16.to_be_bytes());
        fix_checksum(&mut err, 20);
        assert!(matches!(parse(&err), Ok(Icmp::Error { echo: None, .. })));
    }

    #[test]
    fn echo_request_round_trips() {
        let mut p = ipv4_header(20 + ECHO_REQUEST_LEN as u16, PROTO_ICMP, [203, 0, 113, 50], [192, 0, 2, 1]);
        let mut msg = [0; ECHO_REQUEST_LEN];
        emit_echo_request(&mut msg, 0xfeed, 0xffff).unwrap();
        p.extend_from_slice(&msg);
        assert_eq!(
            parse(&p),
            Ok(Icmp::EchoRequest { src: v4(203, 0, 113, 50), dst: Some(v4(192, 0, 2, 1)), ident: 0xfeed, seq: 0xffff })
        );
    }

    #[test]
    fn unknown_types_are_kept() {
        // Timestamp request (type 13) with an empty body beyond the header.
        let mut p = ipv4_header(28, PROTO_ICMP, [192, 0, 2, 2], [192, 0, 2, 1]);
        p.extend_from_slice(&[13, 0, 0, 0, 0, 1, 0, 1]);
        fix_checksum(&mut p, 20);
        assert_eq!(parse(&p), Ok(Icmp::Other { src: v4(192, 0, 2, 2), ty: 13, code: 0 }));
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        for capture in [REPLY, NET_UNREACHABLE] {
            let full = hex(capture);
            for len in 0..full.len() {
                let want = if len < IPV4_HEADER_LEN { Malformed::TooShort } else { Malformed::Truncated };
                assert_eq!(parse(&full[..len]), Err(want), "length {len} of {}", full.len());
            }
        }
    }

    #[test]
    fn corrupt_checksum_is_rejected() {
        for capture in [REPLY, NET_UNREACHABLE] {
            let good = hex(capture);
            // Any single-bit flip inside the ICMP message breaks its checksum.
            for at in 20..good.len() {
                let mut bad = good.clone();
                bad[at] ^= 0x10;
                assert_eq!(parse(&bad), Err(Malformed::BadChecksum), "byte {at}");
            }
        }
    }

    #[test]
    fn bad_ip_headers_are_rejected() {
        let good = hex(REPLY);
        let with = |at: usize, val: u8| {
            let mut p = good.clone();
            p[at] = val;
            parse(&p)
        };
        assert_eq!(with(0, 0x65), Err(Malformed::NotIpv4));
        assert_eq!(with(0, 0x44), Err(Malformed::BadHeaderLength));
        assert_eq!(with(0, 0x40), Err(Malformed::BadHeaderLength));
        assert_eq!(with(9, 17), Err(Malformed::NotIcmp));
        // Total length smaller than the IPv4 header plus an ICMP header.
        assert_eq!(with(3, 27), Err(Malformed::BadHeaderLength));
        // IHL 15 (60 bytes) in a 44-byte packet: the total length no longer covers an ICMP header.
        assert_eq!(with(0, 0x4f), Err(Malformed::BadHeaderLength));
        // Total length past the buffer.
        assert_eq!(with(3, 45), Err(Malformed::Truncated));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A fixed-seed xorshift gives the same 20 000 packets on every run.
        let mut state: u32 = 0x2545_f491;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        let reply = hex(NET_UNREACHABLE);
        let mut buf = [0u8; 96];
        for _ in 0..20_000 {
            let len = (next() % 97) as usize;
            // Start from a plausible packet half of the time so the deeper branches are reached.
            if next() % 2 == 0 {
                buf[..reply.len()].copy_from_slice(&reply);
                let at = (next() % 96) as usize;
                buf[at] = next() as u8;
            } else {
                buf.iter_mut().for_each(|b| *b = next() as u8);
            }
            let _ = parse(&buf[..len]);
        }
    }

    #[test]
    fn errors_display_what_failed() {
        assert_eq!(Malformed::BadChecksum.to_string(), "ICMP checksum mismatch");
        assert_eq!(Malformed::Truncated.to_string(), "fewer bytes received than the packet holds");
        assert_eq!(Malformed::NotIpv6.to_string(), "quoted IP version is not 6");
        assert_eq!(Full.to_string(), "buffer too small for an ICMP echo request (24 bytes)");
        assert_eq!(ErrorKind::DestUnreachable(1).to_string(), "destination unreachable (code 1)");
        assert_eq!(ErrorKind::PacketTooBig { mtu: 1280 }.to_string(), "packet too big (MTU 1280)");
        assert_eq!(ErrorKind::ParameterProblem(1).to_string(), "parameter problem (code 1)");
    }
}
