//! Unit tests of the rtnetlink parser and the nexthop requests: real captures (see
//! `tests/vectors/rtnl/README.md`), built messages, truncations and corruptions.

use super::*;
use crate::kernel::Addr;
use crate::route::Family;
use crate::route::NexthopKind;
use crate::route::{Prefix, Route, RouteType, Rule, RuleAction, Selectors};
use crate::wire::netlink::{
    align4, ext_ack_msg, Messages, NLMSGERR_ATTR_MSG, NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN, NLMSG_NOOP,
    NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_DUMP_INTR, NLM_F_MULTI,
};
use crate::wire::netlink::{AF_UNSPEC, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST};
use core::net::IpAddr;

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::from([a, b, c, d])
}
use crate::route::{Op, PROTO_DUALWAN, TABLE_MAIN};

/// One captured message (see `tests/vectors/rtnl/README.md`).
fn capture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/vectors/rtnl/{name}.hex", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let text = text.trim();
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex")).collect()
}

fn only(datagram: &[u8]) -> Parsed {
    let mut msgs = Messages::new(datagram);
    let msg = msgs.next().expect("one message").expect("well-formed header");
    assert!(msgs.next().is_none());
    parse(&msg).expect("well-formed message")
}

fn rule(name: &str) -> Rule {
    match only(&capture(name)) {
        Parsed::Event(KernelEvent::Rule(Change::New, r)) => r,
        other => panic!("{name}: {other:?}"),
    }
}

const ALL: &[&str] = &[
    "addr-dw0",
    "event-deladdr-dw0",
    "event-delrule-5099",
    "event-newlink-dw0-nocarrier",
    "link-dw0-up",
    "route-table1000",
    "route-table101",
    "rule-0-plain",
    "rule-32766-plain",
    "rule-32767-plain",
    "rule-5000-plain",
    "rule-5001-fwmark",
    "rule-5001-plain",
    "rule-5099-plain",
    "rule-6000-plain",
    "nexthop-5010",
    "nexthop6-5020",
    "group-5030",
    "route-nhid-table100",
    "route6-nhid-table100",
    "rule-5010-selectors",
    "rule6-5011-selectors",
];

#[test]
fn rules_from_a_real_dump() {
    assert_eq!(
        rule("rule-5000-plain"),
        Rule {
            family: Family::V4,
            priority: 5000,
            src: None,
            selectors: Selectors::NONE,
            action: RuleAction::Lookup(TABLE_MAIN),
            suppress_prefixlen: Some(0),
            protocol: PROTO_DUALWAN,
            other_selectors: false,
        }
    );
    assert_eq!(
        rule("rule-5001-plain"),
        Rule {
            family: Family::V4,
            priority: 5001,
            src: Some(Prefix::host(v4(192, 0, 2, 2))),
            selectors: Selectors::NONE,
            action: RuleAction::Lookup(101),
            suppress_prefixlen: None,
            protocol: PROTO_DUALWAN,
            other_selectors: false,
        }
    );
    assert_eq!(
        rule("rule-5099-plain"),
        Rule {
            family: Family::V4,
            priority: 5099,
            src: None,
            selectors: Selectors::NONE,
            action: RuleAction::Unreachable,
            suppress_prefixlen: None,
            protocol: PROTO_DUALWAN,
            other_selectors: false,
        }
    );
    // The foreign rule at our priority: fwmark makes it a different rule.
    let fw = rule("rule-5001-fwmark");
    assert_eq!((fw.priority, fw.action, fw.protocol), (5001, RuleAction::Lookup(200), 0));
    assert!(fw.other_selectors);
    // `not from ...`: FIB_RULE_INVERT; the table is only in FRA_TABLE (hdr says 252).
    let not = rule("rule-6000-plain");
    assert_eq!(not.src, Some(Prefix { addr: v4(198, 51, 100, 0), len: 24 }));
    assert_eq!(not.action, RuleAction::Lookup(1000));
    assert!(not.other_selectors);
    // The kernel's own rules: local (priority 0, no FRA_PRIORITY), main, default.
    assert_eq!(rule("rule-0-plain").priority, 0);
    assert_eq!(rule("rule-0-plain").action, RuleAction::Lookup(255));
    assert_eq!(rule("rule-32766-plain").action, RuleAction::Lookup(TABLE_MAIN));
    assert_eq!(rule("rule-32767-plain").action, RuleAction::Lookup(253));
    for name in ["rule-0-plain", "rule-32766-plain", "rule-32767-plain"] {
        assert!(!rule(name).other_selectors, "{name}");
        assert_eq!(rule(name).protocol, 2, "{name}: RTPROT_KERNEL");
    }
}

#[test]
fn nexthops_groups_and_routes_through_them_from_a_real_dump() {
    let nexthop = |name: &str| match only(&capture(name)) {
        Parsed::Event(KernelEvent::Nexthop(Change::New, n)) => n,
        other => panic!("{name}: {other:?}"),
    };
    let a = nexthop("nexthop-5010");
    assert!(matches!(a.kind, NexthopKind::Via { gateway, oif } if gateway == v4(192, 0, 2, 1) && oif != 0));
    assert_eq!((a.id, a.protocol, a.family()), (5010, 201, Some(Family::V4)));
    let a6 = nexthop("nexthop6-5020");
    assert_eq!(a6.family(), Some(Family::V6));
    let group = nexthop("group-5030");
    assert_eq!(group.family(), None, "AF_UNSPEC");
    assert_eq!(group.to_string(), "id 5030 group 5010,3 type resilient buckets 128 idle_timer 120 proto dualwan");
    // Our own request for the same group reads back as the kernel reports it.
    let mut buf = [0u8; 256];
    let len = emit_nexthop(&mut buf, 7, &Op::AddNexthop(group)).unwrap();
    let msg = Messages::new(&buf[..len]).next().unwrap().unwrap();
    assert_eq!((msg.ty, msg.flags), (RTM_NEWNEXTHOP, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL));
    assert_eq!(parse(&msg), Ok(Parsed::Event(KernelEvent::Nexthop(Change::New, group))));
    for n in [a, a6] {
        let len = emit_nexthop(&mut buf, 8, &Op::ReplaceNexthop(n)).unwrap();
        let msg = Messages::new(&buf[..len]).next().unwrap().unwrap();
        assert_eq!(msg.flags & NLM_F_REPLACE, NLM_F_REPLACE);
        assert_eq!(parse(&msg), Ok(Parsed::Event(KernelEvent::Nexthop(Change::New, n))));
    }
    // A delete names nothing but the id (the kernel refuses other fields).
    let len = emit_nexthop(&mut buf, 9, &Op::DelNexthop(group)).unwrap();
    assert_eq!(&buf[16..24], &[0; 8], "an empty nhmsg");
    assert_eq!(len, 16 + 8 + 8);
    // The kernel adds the group's next hops to a route for show: only the id is kept.
    let route = |name: &str| match only(&capture(name)) {
        Parsed::Event(KernelEvent::Route(Change::New, r)) => r,
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(route("route-nhid-table100").to_string(), "default nhid 5030 table 100 proto dualwan");
    assert_eq!(
        Op::AddRoute(route("route6-nhid-table100")).to_string(),
        "-6 route add default nhid 5040 table 100 proto dualwan metric 1024"
    );
}

#[test]
fn rules_with_selectors_from_a_real_dump() {
    let v4 = rule("rule-5010-selectors");
    assert!(!v4.other_selectors, "the full mask of a single port is no selector of its own");
    assert_eq!(
        v4.to_string(),
        "5010:\tfrom 192.0.2.130 to 198.51.100.0/24 iif br-guest ipproto udp dport 5060 lookup 102 proto dualwan"
    );
    let Parsed::Event(KernelEvent::Rule(Change::New, v6)) = only(&capture("rule6-5011-selectors")) else {
        panic!("not a rule")
    };
    assert_eq!(
        Op::AddRule(v6).to_string(),
        "-6 rule add 5011:\tfrom all ipproto tcp sport 1000-2000 dport 443 blackhole proto dualwan"
    );
    // Any other port mask is a selector this crate does not model.
    let mut p = capture("rule-5010-selectors")[16..].to_vec();
    let at = p.windows(4).position(|w| w == [6, 0, 29, 0]).expect("FRA_DPORT_MASK");
    p[at + 4] = 0xf0;
    assert!(parse_rule(&p).unwrap().unwrap().other_selectors);
}

#[test]
fn rule_deletion_notification() {
    let Parsed::Event(KernelEvent::Rule(Change::Del, r)) = only(&capture("event-delrule-5099")) else {
        panic!("not a rule deletion");
    };
    assert_eq!((r.priority, r.action, r.protocol), (5099, RuleAction::Unreachable, 201));
}

#[test]
fn routes_from_a_real_dump() {
    let Parsed::Event(KernelEvent::Route(Change::New, r)) = only(&capture("route-table101")) else {
        panic!("not a route");
    };
    assert_eq!(r.table, 101);
    assert_eq!(r.dst, Prefix::DEFAULT);
    assert_eq!(r.kind, RouteType::Unicast);
    assert_eq!(r.gateway, Some(v4(192, 0, 2, 1)));
    assert_ne!(r.oif, 0);
    assert_eq!((r.metric, r.protocol), (10, PROTO_DUALWAN));

    let Parsed::Event(KernelEvent::Route(Change::New, r)) = only(&capture("route-table1000")) else {
        panic!("not a route");
    };
    let want = Route {
        table: 1000,
        dst: Prefix { addr: v4(203, 0, 113, 0), len: 24 },
        kind: RouteType::Unreachable,
        gateway: None,
        nhid: None,
        oif: 0,
        metric: 0,
        protocol: PROTO_DUALWAN,
    };
    assert_eq!(r, want);
}

#[test]
fn links_and_addresses_from_real_messages() {
    let Parsed::Event(KernelEvent::Link(Change::New, up)) = only(&capture("link-dw0-up")) else {
        panic!("not a link");
    };
    assert_eq!(up.name.as_str(), "dw0");
    assert!(up.up && up.lower_up);
    let Parsed::Event(KernelEvent::Link(Change::New, down)) = only(&capture("event-newlink-dw0-nocarrier")) else {
        panic!("not a link");
    };
    assert_eq!(down.ifindex, up.ifindex);
    assert!(down.up && !down.lower_up);

    let want = Addr { ifindex: up.ifindex, addr: v4(192, 0, 2, 2), prefix_len: 24, scope: 0, flags: 0x80 };
    assert_eq!(only(&capture("addr-dw0")), Parsed::Event(KernelEvent::Addr(Change::New, want)));
    assert_eq!(only(&capture("event-deladdr-dw0")), Parsed::Event(KernelEvent::Addr(Change::Del, want)));
}

/// Every prefix of every capture, and every capture with one byte flipped, must parse
/// or be rejected without a panic.
#[test]
fn truncated_and_corrupted_messages_never_panic() {
    for name in ALL {
        let bytes = capture(name);
        let walk = |buf: &[u8]| {
            for msg in Messages::new(buf).flatten() {
                let _ = (parse(&msg), ext_ack_msg(&msg));
            }
        };
        for end in 0..=bytes.len() {
            walk(&bytes[..end]);
            // A truncated payload behind an intact-looking header.
            let mut cut = bytes[..end].to_vec();
            if end >= NLMSG_HDRLEN {
                cut[..4].copy_from_slice(&(end as u32).to_ne_bytes());
                walk(&cut);
            }
        }
        for at in 0..bytes.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut bad = bytes.clone();
                bad[at] ^= flip;
                walk(&bad);
            }
        }
    }
}

fn message(ty: u16, flags: u16, payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&((NLMSG_HDRLEN + payload.len()) as u32).to_ne_bytes());
    m.extend_from_slice(&ty.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&7u32.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(payload);
    m
}

fn attr(ty: u16, data: &[u8]) -> Vec<u8> {
    let mut a = Vec::new();
    a.extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
    a.extend_from_slice(&ty.to_ne_bytes());
    a.extend_from_slice(data);
    a.resize(align4(a.len()), 0);
    a
}

#[test]
fn acks_errors_and_done() {
    let mut err = (-17i32).to_ne_bytes().to_vec();
    err.extend_from_slice(&[0; 16]); // the echoed request header
    assert_eq!(only(&message(NLMSG_ERROR, 0, &err)), Parsed::Error(17));
    assert_eq!(only(&message(NLMSG_ERROR, 0, &[0; 20])), Parsed::Ack);
    assert_eq!(only(&message(NLMSG_DONE, NLM_F_MULTI, &[0; 4])), Parsed::Done { error: 0 });
    assert_eq!(only(&message(NLMSG_DONE, NLM_F_MULTI, &[])), Parsed::Done { error: 0 });
    let intr = (-4i32).to_ne_bytes();
    assert_eq!(only(&message(NLMSG_DONE, NLM_F_MULTI, &intr)), Parsed::Done { error: -4 });
    let msg = message(NLMSG_ERROR, 0, &[0; 2]);
    let msg = Messages::new(&msg).next().unwrap().unwrap();
    assert!(parse(&msg).is_err());
    assert_eq!(only(&message(NLMSG_NOOP, 0, &[])), Parsed::Ignored);
}

#[test]
fn extended_ack_message() {
    let mut err = (-22i32).to_ne_bytes().to_vec();
    let request = message(RTM_NEWROUTE, 0x5, &[0; 12]);
    err.extend_from_slice(&request);
    err.extend(attr(NLMSGERR_ATTR_MSG, b"Nexthop has invalid gateway\0"));
    let full = message(NLMSG_ERROR, NLM_F_ACK_TLVS, &err);
    let msg = Messages::new(&full).next().unwrap().unwrap();
    assert_eq!(parse(&msg), Ok(Parsed::Error(22)));
    assert_eq!(ext_ack_msg(&msg), Some("Nexthop has invalid gateway"));

    let mut capped = (-22i32).to_ne_bytes().to_vec();
    capped.extend_from_slice(&request[..NLMSG_HDRLEN]);
    capped.extend(attr(NLMSGERR_ATTR_MSG, b"Invalid prefix\0"));
    let capped = message(NLMSG_ERROR, NLM_F_ACK_TLVS | NLM_F_CAPPED, &capped);
    let msg = Messages::new(&capped).next().unwrap().unwrap();
    assert_eq!(ext_ack_msg(&msg), Some("Invalid prefix"));

    let plain = message(NLMSG_ERROR, 0, &err);
    assert_eq!(ext_ack_msg(&Messages::new(&plain).next().unwrap().unwrap()), None);
    let short = message(NLMSG_ERROR, NLM_F_ACK_TLVS, &err[..6]);
    assert_eq!(ext_ack_msg(&Messages::new(&short).next().unwrap().unwrap()), None);
}

#[test]
fn several_messages_in_one_datagram() {
    let mut dgram = message(RTM_NEWRULE, NLM_F_MULTI, &capture("rule-5000-plain")[16..]);
    dgram.extend(message(NLMSG_DONE, NLM_F_MULTI | NLM_F_DUMP_INTR, &[0; 4]));
    let msgs: Vec<_> = Messages::new(&dgram).collect::<Result<_, _>>().unwrap();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[1].flags & NLM_F_DUMP_INTR, NLM_F_DUMP_INTR);
    assert!(matches!(parse(&msgs[0]), Ok(Parsed::Event(KernelEvent::Rule(..)))));
    assert_eq!(parse(&msgs[1]), Ok(Parsed::Done { error: 0 }));
}

#[test]
fn families_we_do_not_model_are_ignored() {
    // AF_BRIDGE RTM_DELLINK means "left the bridge", not "device gone".
    let mut ifi = vec![7, 0, 1, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0];
    ifi.extend(attr(IFLA_IFNAME, b"lan1\0"));
    assert_eq!(only(&message(RTM_DELLINK, 0, &ifi)), Parsed::Ignored);
    // The same message with AF_UNSPEC is a real removal.
    ifi[0] = AF_UNSPEC;
    let Parsed::Event(KernelEvent::Link(Change::Del, link)) = only(&message(RTM_DELLINK, 0, &ifi)) else {
        panic!("not a link removal");
    };
    assert_eq!((link.ifindex, link.name.as_str(), link.up), (3, "lan1", true));
    // MPLS routes, IPv4 multicast routing rules (RTNL_FAMILY_IPMR), AF_PACKET addresses.
    for (ty, af) in [(RTM_NEWROUTE, 28), (RTM_NEWRULE, 128)] {
        assert_eq!(only(&message(ty, 0, &[af, 0, 0, 0, 254, 0, 0, 1, 0, 0, 0, 0])), Parsed::Ignored);
    }
    assert_eq!(only(&message(RTM_NEWADDR, 0, &[17, 64, 0, 0, 1, 0, 0, 0])), Parsed::Ignored);
    // Neighbour messages.
    assert_eq!(only(&message(28, 0, &[2, 0, 0, 0])), Parsed::Ignored);
}

#[test]
fn ipv6_entries_from_a_real_dump() {
    let v6 = |s: &str| s.parse::<IpAddr>().unwrap();
    let rule = |name: &str| match only(&capture(name)) {
        Parsed::Event(KernelEvent::Rule(Change::New, r)) => r,
        other => panic!("{name}: {other:?}"),
    };
    let main = rule("rule6-5000");
    assert_eq!(main.family, Family::V6);
    assert_eq!(main.to_string(), "5000:\tfrom all lookup main suppress_prefixlength 0 proto dualwan");
    let from = rule("rule6-5001");
    assert_eq!((from.family, from.src), (Family::V6, Some(Prefix::host(v6("2001:db8:1::2")))));
    assert_eq!(from.action, RuleAction::Lookup(101));
    let route = |name: &str| match only(&capture(name)) {
        Parsed::Event(KernelEvent::Route(Change::New, r)) => r,
        other => panic!("{name}: {other:?}"),
    };
    let ours = route("route6-table101");
    assert_eq!(
        Op::AddRoute(ours).to_string(),
        format!("-6 route add default via fe80::1 dev #{} table 101 proto dualwan metric 10", ours.oif)
    );
    // OpenWrt's source-specific default: the source selector is not kept, the gateway is.
    let main = route("route6-main-default-from");
    assert_eq!(
        (main.table, main.dst, main.gateway, main.metric),
        (254, Prefix::default_of(Family::V6), Some(v6("fe80::1")), 512)
    );
    let addr = |name: &str| match only(&capture(name)) {
        Parsed::Event(KernelEvent::Addr(Change::New, a)) => a,
        other => panic!("{name}: {other:?}"),
    };
    let global = addr("addr6-dw0-global");
    assert_eq!((global.addr, global.prefix_len, global.scope), (v6("2001:db8:1::2"), 64, 0));
    assert!(global.usable_source() && global.preferred());
    let old = addr("addr6-dw0-deprecated");
    assert!(old.usable_source() && !old.preferred(), "preferred_lft 0: deprecated, {:#x}", old.flags);
    let link_local = addr("addr6-dw0-linklocal");
    assert_eq!(link_local.scope, 253);
    assert!(!link_local.usable_source());
    // Truncated IPv6 addresses never pass as IPv4 ones.
    let mut cut = capture("addr6-dw0-global");
    cut[16 + 8] = 8; // IFA_ADDRESS length 8: 4 bytes of payload
    assert!(parse(&Messages::new(&cut).next().unwrap().unwrap()).is_err());
}

/// `ip route replace` (and `ip -6 route replace`) notifications carry NLM_F_REPLACE
/// (0x100), seen on Linux 6.18 for both families.
#[test]
fn a_replace_notification_is_a_replace() {
    let mut p = vec![AF_INET6, 0, 0, 0, 254, 4, 0, RTN_UNICAST, 0, 0, 0, 0];
    p.extend(attr(RTA_GATEWAY, &"fe80::3".parse::<core::net::Ipv6Addr>().unwrap().octets()));
    p.extend(attr(RTA_OIF, &2u32.to_ne_bytes()));
    let replaced = only(&message(RTM_NEWROUTE, NLM_F_REPLACE, &p));
    assert!(matches!(replaced, Parsed::Event(KernelEvent::Route(Change::Replace, _))), "{replaced:?}");
    assert!(matches!(only(&message(RTM_NEWROUTE, 0, &p)), Parsed::Event(KernelEvent::Route(Change::New, _))));
}

#[test]
fn reject_routes_have_no_device_in_either_family() {
    // IPv6 reports `unreachable default` with the loopback device as its nexthop.
    let mut p = vec![AF_INET6, 0, 0, 0, 100, 201, 0, RTN_UNREACHABLE, 0, 0, 0, 0];
    p.extend(attr(RTA_OIF, &1u32.to_ne_bytes()));
    p.extend(attr(RTA_PRIORITY, &1024u32.to_ne_bytes()));
    let Parsed::Event(KernelEvent::Route(_, r)) = only(&message(RTM_NEWROUTE, 0, &p)) else { panic!() };
    assert_eq!((r.kind, r.oif, r.family()), (RouteType::Unreachable, 0, Family::V6));
    assert_eq!(Op::AddRoute(r).to_string(), "-6 route add unreachable default table 100 proto dualwan metric 1024");
}

#[test]
fn bad_lengths_and_values_are_malformed() {
    let route = |attrs: &[u8]| {
        let mut p = vec![AF_INET, 24, 0, 0, 101, 201, 0, RTN_UNICAST, 0, 0, 0, 0];
        p.extend_from_slice(attrs);
        parse_route(&p)
    };
    assert!(route(&attr(RTA_DST, &[192, 0, 2])).is_err(), "3-byte address");
    assert!(route(&[]).is_err(), "/24 without RTA_DST");
    assert!(route(&[8, 0, 1, 0, 192]).is_err(), "attribute past the end");
    assert!(route(&[2, 0, 1, 0]).is_err(), "attribute shorter than its header");
    assert!(parse_route(&[AF_INET, 33, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]).is_err(), "/33");
    assert!(parse_route(&[AF_INET; 11]).is_err(), "short rtmsg");
    let ok = route(&attr(RTA_DST, &[192, 0, 2, 0])).unwrap().unwrap();
    assert_eq!(ok.dst, Prefix { addr: v4(192, 0, 2, 0), len: 24 });

    let link = |name: &[u8]| {
        let mut p = vec![0, 0, 1, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0];
        p.extend(attr(IFLA_IFNAME, name));
        parse_link(&p)
    };
    assert!(link(b"a-name-of-16-chr\0").is_err());
    assert!(link(b"\xff\xfe\0").is_err());
    assert!(link(b"\0").is_err());
    assert_eq!(link(b"a-name-of-15-ch\0").unwrap().unwrap().name.as_str(), "a-name-of-15-ch");

    let rule = |hdr_src_len: u8, attrs: &[u8]| {
        let mut p = vec![AF_INET, 0, hdr_src_len, 0, 0, 0, 0, FR_ACT_TO_TBL, 0, 0, 0, 0];
        p.extend_from_slice(attrs);
        parse_rule(&p)
    };
    assert!(rule(32, &[]).is_err(), "source length without FRA_SRC");
    assert!(rule(0, &attr(FRA_PROTOCOL, &[])).is_err(), "empty FRA_PROTOCOL");
    let r =
        rule(0, &[attr(FRA_TABLE, &5000u32.to_ne_bytes()), attr(FRA_SUPPRESS_PREFIXLEN, &7u32.to_ne_bytes())].concat())
            .unwrap()
            .unwrap();
    assert_eq!((r.action, r.suppress_prefixlen, r.protocol), (RuleAction::Lookup(5000), Some(7), 0));
    assert!(!r.other_selectors);
    // Selectors this crate does not model.
    for a in [
        attr(17, b"eth0\0"),
        attr(10, &7u32.to_ne_bytes()),
        attr(20, &[0; 8]),
        attr(FRA_SUPPRESS_IFGROUP, &3u32.to_ne_bytes()),
        attr(FRA_L3MDEV, &[1]),
        attr(FRA_SUPPRESS_PREFIXLEN, &300u32.to_ne_bytes()),
    ] {
        assert!(rule(0, &a).unwrap().unwrap().other_selectors, "{a:?}");
    }
    assert!(!rule(0, &attr(FRA_SUPPRESS_IFGROUP, &u32::MAX.to_ne_bytes())).unwrap().unwrap().other_selectors);
    assert!(!rule(0, &attr(FRA_L3MDEV, &[0])).unwrap().unwrap().other_selectors);
    // Unknown attribute types are skipped.
    assert!(!rule(0, &attr(99, &[1, 2, 3, 4])).unwrap().unwrap().other_selectors);
}

#[test]
fn headers_that_do_not_fit_end_the_walk() {
    let mut dgram = message(NLMSG_NOOP, 0, &[]);
    dgram.extend_from_slice(&[0xff; 10]);
    let items: Vec<_> = Messages::new(&dgram).collect();
    assert_eq!(items.len(), 2);
    assert!(items[0].is_ok() && items[1].is_err());
    let mut long = message(NLMSG_NOOP, 0, &[]);
    long[..4].copy_from_slice(&100u32.to_ne_bytes());
    assert!(Messages::new(&long).next().unwrap().is_err());
    long[..4].copy_from_slice(&8u32.to_ne_bytes());
    assert!(Messages::new(&long).next().unwrap().is_err());
}
