//! ICMPv6 echo probes on the wire (RFC 4443): emit an echo request, parse what a Linux raw
//! `AF_INET6`/`SOCK_RAW`/`IPPROTO_ICMPV6` socket receives.
//!
//! Contract:
//! - No I/O, no allocation, and no panic on any input: every length is checked once before the
//!   bytes behind it are read.
//! - Results are the `wire::icmp` types, so both families look the same to the caller.
//! - `emit_echo_request` leaves the checksum zero: on an `IPPROTO_ICMPV6` raw socket the kernel
//!   always computes it, over a pseudo-header holding the addresses it picks (RFC 3542 3.1).
//! - `parse` takes the ICMPv6 message alone: Linux hands raw IPv6 sockets no IPv6 header, so
//!   the source comes from `recvfrom`'s address and the destination is not known (`dst` is
//!   `None`). The checksum is not checked here: the kernel checks it for these sockets and
//!   drops a message that fails (`rawv6_recvmsg`).
//! - An ICMPv6 error is reported with the destination of the packet it quotes and, when that
//!   packet is an echo request right after the fixed IPv6 header, its identifier and sequence
//!   number. Extension headers are not walked: a probe socket sends none.

use super::icmp::{EchoId, ErrorKind, Full, Icmp, Malformed, ECHO_REQUEST_LEN, ICMP_HEADER_LEN, PROBE_PAYLOAD};
use core::net::{IpAddr, Ipv6Addr};

/// ICMPv6 type of destination unreachable (RFC 4443).
pub const DEST_UNREACHABLE: u8 = 1;
/// ICMPv6 type of packet too big (RFC 4443).
pub const PACKET_TOO_BIG: u8 = 2;
/// ICMPv6 type of time exceeded (RFC 4443).
pub const TIME_EXCEEDED: u8 = 3;
/// ICMPv6 type of parameter problem (RFC 4443).
pub const PARAMETER_PROBLEM: u8 = 4;
/// ICMPv6 type of an echo request (RFC 4443).
pub const ECHO_REQUEST: u8 = 128;
/// ICMPv6 type of an echo reply (RFC 4443).
pub const ECHO_REPLY: u8 = 129;

/// IPv6 next header value of ICMPv6.
pub const NEXT_HEADER_ICMPV6: u8 = 58;

/// Length of the fixed IPv6 header (RFC 8200).
pub const IPV6_HEADER_LEN: usize = 40;

/// Writes an echo request (type 128, code 0) carrying `PROBE_PAYLOAD` at the start of `buf`,
/// checksum zero for the kernel to fill in, and returns its length (`ECHO_REQUEST_LEN`). Bytes
/// after it are left alone.
pub fn emit_echo_request(buf: &mut [u8], ident: u16, seq: u16) -> Result<usize, Full> {
    let msg = buf.get_mut(..ECHO_REQUEST_LEN).ok_or(Full)?;
    msg[0] = ECHO_REQUEST;
    msg[1] = 0;
    msg[2..4].copy_from_slice(&[0, 0]);
    msg[4..6].copy_from_slice(&ident.to_be_bytes());
    msg[6..8].copy_from_slice(&seq.to_be_bytes());
    msg[ICMP_HEADER_LEN..].copy_from_slice(&PROBE_PAYLOAD);
    Ok(ECHO_REQUEST_LEN)
}

/// Reads one ICMPv6 message from a raw ICMPv6 socket; `src` is the sender the socket reported.
pub fn parse(src: Ipv6Addr, msg: &[u8]) -> Result<Icmp, Malformed> {
    let header: &[u8; ICMP_HEADER_LEN] =
        msg.get(..ICMP_HEADER_LEN).and_then(|h| h.try_into().ok()).ok_or(Malformed::NoIcmpHeader)?;
    let (ty, code) = (header[0], header[1]);
    let rest = [header[4], header[5], header[6], header[7]];
    let (ident, seq) = (u16::from_be_bytes([rest[0], rest[1]]), u16::from_be_bytes([rest[2], rest[3]]));
    let src = IpAddr::V6(src);
    let kind = match ty {
        ECHO_REPLY => return Ok(Icmp::EchoReply { src, dst: None, ident, seq }),
        ECHO_REQUEST => return Ok(Icmp::EchoRequest { src, dst: None, ident, seq }),
        DEST_UNREACHABLE => ErrorKind::DestUnreachable(code),
        PACKET_TOO_BIG => ErrorKind::PacketTooBig { mtu: u32::from_be_bytes(rest) },
        TIME_EXCEEDED => ErrorKind::TimeExceeded,
        PARAMETER_PROBLEM => ErrorKind::ParameterProblem(code),
        // Error types RFC 4443 has not defined (5-127) have no known layout; informational
        // ones (128-255) quote nothing.
        _ => return Ok(Icmp::Other { src, ty, code }),
    };
    // Errors quote as much of the offending packet as fits in 1280 bytes (RFC 4443 2.4 (c)),
    // from its IPv6 header on.
    let quoted: &[u8; IPV6_HEADER_LEN] = msg
        .get(ICMP_HEADER_LEN..ICMP_HEADER_LEN + IPV6_HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(Malformed::TooShort)?;
    if quoted[0] >> 4 != 6 {
        return Err(Malformed::NotIpv6);
    }
    let mut orig_dst = [0u8; 16];
    orig_dst.copy_from_slice(&quoted[24..40]);
    let inner_at = ICMP_HEADER_LEN + IPV6_HEADER_LEN;
    let echo = match msg.get(inner_at..inner_at + ICMP_HEADER_LEN) {
        Some(inner) if quoted[6] == NEXT_HEADER_ICMPV6 && inner[0] == ECHO_REQUEST => Some(EchoId {
            ident: u16::from_be_bytes([inner[4], inner[5]]),
            seq: u16::from_be_bytes([inner[6], inner[7]]),
        }),
        _ => None,
    };
    Ok(Icmp::Error { src, kind, orig_dst: IpAddr::V6(Ipv6Addr::from(orig_dst)), echo })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::icmp::checksum;

    fn hex(s: &str) -> Vec<u8> {
        let s: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        s.chunks(2).map(|p| u8::from_str_radix(core::str::from_utf8(p).unwrap(), 16).unwrap()).collect()
    }

    fn v6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    // Captured on Linux 6.18 in two network namespaces joined by a veth pair. In ns a, a raw
    // ICMPv6 socket bound to 2001:db8:1::1 (SO_BINDTODEVICE wan0) sent echo requests with ident
    // 0x1234 and payload "dualwan-probe-v1"; ns b holds 2001:db8:1::2 and forwards. These are the
    // bytes recvfrom(2) returned, all from 2001:db8:1::2 (the sockaddr_in6). Every message and
    // its source are real: `captures_are_verbatim` checks the kernel's checksum over them. The
    // same messages are the fuzz seeds fuzz/seeds/icmp/icmp6-*.bin.
    const PEER: &str = "2001:db8:1::2";
    const OURS: &str = "2001:db8:1::1";

    // Seq 1 to the peer itself: its kernel's echo reply.
    const REPLY: &str = "8100aa5c 12340001 6475616c 77616e2d 70726f62 652d7631";

    // Seq 2 to 2001:db8:ff::5, routed to the peer, which has no route there: destination
    // unreachable, code 0 (no route), quoting our whole request (hop limit 64, flow label
    // 0xc3560 chosen by our kernel).
    const NO_ROUTE: &str = "0100d393 00000000
        600c3560 00183a40 20010db8 00010000 00000000 00000001 20010db8 00ff0000 00000000 00000005
        8000aa5a 12340002 6475616c 77616e2d 70726f62 652d7631";

    // Seq 3 with hop limit 1 to 2001:db8:ff:1::5, which the peer routes on: time exceeded,
    // code 0 (hop limit exceeded in transit).
    const HOP_LIMIT: &str = "0300e2d1 00000000
        60052468 00183a01 20010db8 00010000 00000000 00000001 20010db8 00ff0001 00000000 00000005
        8000aa58 12340003 6475616c 77616e2d 70726f62 652d7631";

    // Seq 4 with 1300 zero bytes after the payload, to 2001:db8:ff:2::5, which the peer routes
    // over a link of MTU 1280: packet too big, MTU 1280. The peer quoted the first 1192 bytes
    // of our packet (1240-byte message); these are its first 72, the rest are zeros.
    const TOO_BIG_HEAD: &str = "0200e6e0 00000500
        6003178c 052c3a40 20010db8 00010000 00000000 00000001 20010db8 00ff0002 00000000 00000005
        8000a542 12340004 6475616c 77616e2d 70726f62 652d7631";
    const TOO_BIG_LEN: usize = 1240;

    // From an IPPROTO_RAW socket: an IPv6 packet with next header 253 (RFC 3692 experiment)
    // and the probe payload, to the peer: parameter problem, code 1 (unrecognized next header),
    // pointer 6 (the next header field).
    const UNKNOWN_NEXT_HEADER: &str = "0401809a 00000006
        60000000 0010fd40 20010db8 00010000 00000000 00000001 20010db8 00010000 00000000 00000002
        6475616c 77616e2d 70726f62 652d7631";

    // The peer running `ping -6 -c1 -s8 -p00 2001:db8:1::1` (iputils 20221126): its echo request.
    const PING_REQUEST: &str = "8000f090 33ac0001 00000000 00000000";

    fn too_big() -> Vec<u8> {
        let mut m = hex(TOO_BIG_HEAD);
        m.resize(TOO_BIG_LEN, 0);
        m
    }

    /// The ICMPv6 checksum over the pseudo-header (RFC 8200 8.1) and `msg`: 0 when it is right.
    fn checksum6(src: Ipv6Addr, dst: Ipv6Addr, msg: &[u8]) -> u16 {
        let mut data = Vec::new();
        data.extend_from_slice(&src.octets());
        data.extend_from_slice(&dst.octets());
        data.extend_from_slice(&(msg.len() as u32).to_be_bytes());
        data.extend_from_slice(&[0, 0, 0, NEXT_HEADER_ICMPV6]);
        data.extend_from_slice(msg);
        checksum(&data)
    }

    fn captures() -> Vec<Vec<u8>> {
        [REPLY, NO_ROUTE, HOP_LIMIT, UNKNOWN_NEXT_HEADER, PING_REQUEST]
            .iter()
            .map(|c| hex(c))
            .chain([too_big()])
            .collect()
    }

    #[test]
    fn captures_are_verbatim() {
        for msg in captures() {
            assert_eq!(checksum6(v6(PEER), v6(OURS), &msg), 0, "{msg:02x?}");
        }
    }

    #[test]
    fn emit_writes_the_captured_request_with_a_zero_checksum() {
        let capture = hex(NO_ROUTE);
        let mut buf = [0xaa; 64];
        let n = emit_echo_request(&mut buf, 0x1234, 2).unwrap();
        assert_eq!(n, ECHO_REQUEST_LEN);
        let mut sent = capture[48..].to_vec();
        // What the kernel put on the wire, before it filled in the checksum.
        sent[2..4].copy_from_slice(&[0, 0]);
        assert_eq!(&buf[..n], &sent[..]);
        assert!(buf[n..].iter().all(|&b| b == 0xaa), "bytes after the message untouched");
        // The kernel's checksum over what we emitted is the one it sent.
        let mut filled = buf[..n].to_vec();
        filled[2..4].copy_from_slice(&checksum6(v6(OURS), v6("2001:db8:ff::5"), &buf[..n]).to_be_bytes());
        assert_eq!(filled, &capture[48..]);
    }

    #[test]
    fn emit_reports_full_for_every_short_buffer() {
        for len in 0..ECHO_REQUEST_LEN {
            let mut buf = vec![0; len];
            assert_eq!(emit_echo_request(&mut buf, 1, 1), Err(Full), "len {len}");
        }
        let mut exact = [0; ECHO_REQUEST_LEN];
        assert_eq!(emit_echo_request(&mut exact, u16::MAX, u16::MAX), Ok(ECHO_REQUEST_LEN));
        assert_eq!(&exact[..8], &[128, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
    }

    #[test]
    fn parses_captured_echo_reply() {
        assert_eq!(
            parse(v6(PEER), &hex(REPLY)),
            Ok(Icmp::EchoReply { src: IpAddr::V6(v6(PEER)), dst: None, ident: 0x1234, seq: 1 })
        );
    }

    #[test]
    fn parses_captured_echo_request() {
        assert_eq!(
            parse(v6(PEER), &hex(PING_REQUEST)),
            Ok(Icmp::EchoRequest { src: IpAddr::V6(v6(PEER)), dst: None, ident: 0x33ac, seq: 1 })
        );
    }

    #[test]
    fn parses_captured_errors_quoting_our_requests() {
        let error = |kind, orig_dst: &str, seq| Icmp::Error {
            src: IpAddr::V6(v6(PEER)),
            kind,
            orig_dst: IpAddr::V6(v6(orig_dst)),
            echo: Some(EchoId { ident: 0x1234, seq }),
        };
        assert_eq!(parse(v6(PEER), &hex(NO_ROUTE)), Ok(error(ErrorKind::DestUnreachable(0), "2001:db8:ff::5", 2)));
        assert_eq!(parse(v6(PEER), &hex(HOP_LIMIT)), Ok(error(ErrorKind::TimeExceeded, "2001:db8:ff:1::5", 3)));
        assert_eq!(
            parse(v6(PEER), &too_big()),
            Ok(error(ErrorKind::PacketTooBig { mtu: 1280 }, "2001:db8:ff:2::5", 4))
        );
    }

    #[test]
    fn error_quoting_another_protocol_has_no_echo_id() {
        assert_eq!(
            parse(v6(PEER), &hex(UNKNOWN_NEXT_HEADER)),
            Ok(Icmp::Error {
                src: IpAddr::V6(v6(PEER)),
                kind: ErrorKind::ParameterProblem(1),
                orig_dst: IpAddr::V6(v6(PEER)),
                echo: None,
            })
        );
    }

    #[test]
    fn error_quoting_an_echo_reply_or_an_extension_header_has_no_echo_id() {
        let mut reply = hex(NO_ROUTE);
        reply[48] = ECHO_REPLY;
        assert!(matches!(parse(v6(PEER), &reply), Ok(Icmp::Error { echo: None, .. })));
        // A quoted hop-by-hop header (next header 0) is not walked.
        let mut hop_by_hop = hex(NO_ROUTE);
        hop_by_hop[8 + 6] = 0;
        assert!(matches!(parse(v6(PEER), &hop_by_hop), Ok(Icmp::Error { echo: None, .. })));
    }

    #[test]
    fn error_quoting_only_a_header_names_the_destination_but_no_probe() {
        let mut err = hex(NO_ROUTE);
        // The quoted header and the first 8 bytes of our request are enough.
        err.truncate(8 + 40 + 8);
        assert!(matches!(parse(v6(PEER), &err), Ok(Icmp::Error { echo: Some(EchoId { seq: 2, .. }), .. })));
        for len in 8 + 40..8 + 40 + 8 {
            let got = parse(v6(PEER), &err[..len]);
            assert!(
                matches!(got, Ok(Icmp::Error { echo: None, orig_dst, .. }) if orig_dst == v6("2001:db8:ff::5")),
                "{len}: {got:?}"
            );
        }
    }

    #[test]
    fn every_truncation_is_an_error_or_a_shorter_quote_never_a_panic() {
        for msg in captures() {
            for len in 0..msg.len() {
                let got = parse(v6(PEER), &msg[..len]);
                if len < ICMP_HEADER_LEN {
                    assert_eq!(got, Err(Malformed::NoIcmpHeader), "length {len}");
                } else if matches!(msg[0], 1..=4) && len < ICMP_HEADER_LEN + IPV6_HEADER_LEN {
                    assert_eq!(got, Err(Malformed::TooShort), "length {len}");
                } else {
                    // No length field: a cut message reads as a shorter one (sys detects the cut).
                    assert!(got.is_ok(), "length {len}: {got:?}");
                }
            }
        }
    }

    #[test]
    fn quoted_header_of_another_version_is_rejected() {
        let mut err = hex(HOP_LIMIT);
        err[8] = 0x45;
        assert_eq!(parse(v6(PEER), &err), Err(Malformed::NotIpv6));
    }

    #[test]
    fn unknown_types_are_kept() {
        // Router advertisement (134) and an undefined error type (100).
        for (ty, code) in [(134, 0), (100, 7), (0, 0), (255, 1)] {
            let msg = [ty, code, 0, 0, 0, 0, 0, 0];
            assert_eq!(parse(v6(PEER), &msg), Ok(Icmp::Other { src: IpAddr::V6(v6(PEER)), ty, code }));
        }
    }

    #[test]
    fn every_single_bit_flip_parses_or_fails_cleanly() {
        for msg in captures() {
            for at in 0..msg.len().min(96) {
                for bit in 0..8 {
                    let mut bad = msg.clone();
                    bad[at] ^= 1 << bit;
                    match parse(v6(PEER), &bad) {
                        Ok(_) | Err(Malformed::NotIpv6 | Malformed::TooShort) => {}
                        Err(e) => panic!("byte {at} bit {bit}: {e}"),
                    }
                }
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A fixed-seed xorshift gives the same 20 000 messages on every run.
        let mut state: u32 = 0x9e37_79b9;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        let base = hex(NO_ROUTE);
        let mut buf = [0u8; 80];
        for _ in 0..20_000 {
            let len = (next() % 81) as usize;
            // Start from a real error half of the time so the deeper branches are reached.
            if next() % 2 == 0 {
                buf[..base.len()].copy_from_slice(&base);
                for _ in 0..1 + next() % 3 {
                    let at = (next() % base.len() as u32) as usize;
                    buf[at] ^= 1 << (next() % 8);
                }
            } else {
                buf.iter_mut().for_each(|b| *b = next() as u8);
            }
            let _ = parse(v6(PEER), &buf[..len]);
        }
    }
}
