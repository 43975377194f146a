#!/usr/bin/env python3
"""Capture real rtnetlink messages for the parser tests in src/wire/rtnl/tests.rs.

Run as root: python3 capture.py OUTDIR. The script creates a throw-away network namespace,
re-runs itself inside it, builds a veth pair with routes and rules there (documentation
addresses only), and writes one message per .hex file, byte for byte as the kernel sent it.
"""
import socket
import struct
import subprocess
import sys
import os

RTM_NEWLINK, RTM_DELADDR, RTM_NEWROUTE, RTM_DELRULE = 16, 21, 24, 33
RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE, RTM_GETRULE = 18, 22, 26, 34
RTM_GETNEXTHOP = 106
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE, NLM_F_DUMP = 0x1, 0x4, 0x200, 0x400, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
SOL_NETLINK, NETLINK_EXT_ACK = 270, 11
SETUP = """
ip link add dw0 type veth peer name dw1
ip link set dw0 up
ip link set dw1 up
ip addr add 192.0.2.2/24 dev dw0
ip route add default via 192.0.2.1 dev dw0 table 101 proto 201 metric 10
ip route add unreachable 203.0.113.0/24 table 1000 proto 201
ip rule add pref 5000 lookup main suppress_prefixlength 0 proto 201
ip rule add pref 5001 from 192.0.2.2 lookup 101 proto 201
ip rule add pref 5001 fwmark 7 lookup 200
ip rule add pref 5099 unreachable proto 201
ip rule add pref 6000 not from 198.51.100.0/24 lookup 1000
ip -6 addr add 2001:db8:1::2/64 dev dw0 nodad
ip -6 addr add 2001:db8:1::3/64 dev dw0 nodad preferred_lft 0
ip -6 route add default via fe80::1 dev dw0 table 101 proto 201 metric 10
ip -6 route add default from 2001:db8::/48 via fe80::1 dev dw0 metric 512
ip -6 rule add pref 5000 lookup main suppress_prefixlength 0 proto 201
ip -6 rule add pref 5001 from 2001:db8:1::2 lookup 101 proto 201
"""
# Balance mode and `config rule` sections (added later; see capture_balance).
SETUP_BALANCE = """
ip nexthop add id 5010 via 192.0.2.1 dev dw0 proto 201
ip nexthop add id 5020 via fe80::1 dev dw0 proto 201
ip nexthop add id 5030 group 5010,3 type resilient buckets 128 idle_timer 120 proto 201
ip nexthop add id 5040 group 5020 type resilient buckets 128 idle_timer 120 proto 201
ip route add default nhid 5030 table 100 proto 201
ip -6 route add default nhid 5040 table 100 proto 201
ip rule add pref 5010 from 192.0.2.130 to 198.51.100.0/24 iif br-guest ipproto udp dport 5060 lookup 102 proto 201
ip -6 rule add pref 5011 ipproto tcp sport 1000-2000 dport 443 blackhole proto 201
"""


def messages(data):
    off = 0
    while off + 16 <= len(data):
        ln, ty = struct.unpack_from("=IH", data, off)
        yield ty, data[off:off + ln]
        off += (ln + 3) & ~3


def attr(msg, hdrlen, want):
    off = 16 + hdrlen
    while off + 4 <= len(msg):
        ln, ty = struct.unpack_from("=HH", msg, off)
        if ty == want:
            return msg[off + 4:off + ln]
        off += (ln + 3) & ~3
    return None


def dump(sock, ty, body):
    sock.send(struct.pack("=IHHII", 16 + len(body), ty, NLM_F_REQUEST | NLM_F_DUMP, ty, 0) + body)
    while True:
        for mty, msg in messages(sock.recv(65536)):
            if mty == NLMSG_DONE:
                return
            yield msg


def wait_for(sock, ty, needle):
    while True:
        for mty, msg in messages(sock.recv(65536)):
            if mty == ty and needle in msg:
                return msg


def save(outdir, name, msg):
    with open(os.path.join(outdir, name + ".hex"), "w") as f:
        f.write(msg.hex() + "\n")


def save_datagrams(outdir, name, datagrams):
    with open(os.path.join(outdir, name + ".hex"), "w") as f:
        f.write("".join(d.hex() + "\n" for d in datagrams))


def replies(s, outdir):
    """Whole datagrams, as a request reads them: the reply to an IPv4 rule dump (seq 41) up
    to its NLMSG_DONE, and the kernel's refusal (seq 42, extended ACK on) of a route whose
    gateway is not on any link."""
    s.send(struct.pack("=IHHII", 28, RTM_GETRULE, NLM_F_REQUEST | NLM_F_DUMP, 41, 0)
           + struct.pack("=8BI", 2, 0, 0, 0, 0, 0, 0, 0, 0))
    datagrams = []
    while not any(ty == NLMSG_DONE for d in datagrams for ty, _ in messages(d)):
        datagrams.append(s.recv(65536))
    save_datagrams(outdir, "reply-dump-rules", datagrams)

    s.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
    oif = socket.if_nametoindex("dw0")
    # default via 198.51.100.1 dev dw0 table 102 proto 201: 198.51.100.1 is not on dw0.
    rtmsg = struct.pack("=8BI", 2, 0, 0, 0, 102, 201, 0, 1, 0)
    attrs = struct.pack("=HH4s", 8, 5, socket.inet_aton("198.51.100.1")) + struct.pack("=HHI", 8, 4, oif)
    flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
    s.send(struct.pack("=IHHII", 16 + len(rtmsg) + len(attrs), RTM_NEWROUTE, flags, 42, 0) + rtmsg + attrs)
    save_datagrams(outdir, "reply-route-add-refused", [s.recv(65536)])


def inside(outdir):
    for line in SETUP.strip().splitlines():
        subprocess.run(line.split(), check=True)
    ev = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
    ev.bind((0, (1 << 0) | (1 << 4) | (1 << 7)))  # RTNLGRP_LINK, _IPV4_IFADDR, _IPV4_RULE
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
    s.bind((0, 0))
    for msg in dump(s, RTM_GETRULE, struct.pack("=8BI", 2, 0, 0, 0, 0, 0, 0, 0, 0)):
        prio = attr(msg, 12, 6)
        prio = struct.unpack("=I", prio)[0] if prio else 0
        kind = "fwmark" if attr(msg, 12, 10) else "plain"
        save(outdir, "rule-%d-%s" % (prio, kind), msg)
    for msg in dump(s, RTM_GETROUTE, struct.pack("=8BI", 2, 0, 0, 0, 0, 0, 0, 0, 0)):
        table = struct.unpack("=I", attr(msg, 12, 15))[0]
        if table in (101, 1000):
            save(outdir, "route-table%d" % table, msg)
    for msg in dump(s, RTM_GETADDR, struct.pack("=4BI", 2, 0, 0, 0, 0)):
        if attr(msg, 8, 3) == b"dw0\0":
            save(outdir, "addr-dw0", msg)
    for msg in dump(s, RTM_GETLINK, struct.pack("=BBHiII", 0, 0, 0, 0, 0, 0)):
        if attr(msg, 16, 3) == b"dw0\0":
            save(outdir, "link-dw0-up", msg)
    capture6(s, outdir)
    capture_balance(s, outdir)
    replies(s, outdir)
    subprocess.run("ip link set dw1 down".split(), check=True)
    save(outdir, "event-newlink-dw0-nocarrier", wait_for(ev, RTM_NEWLINK, b"dw0\0"))
    subprocess.run("ip rule del pref 5099".split(), check=True)
    save(outdir, "event-delrule-5099", wait_for(ev, RTM_DELRULE, b""))
    subprocess.run("ip addr del 192.0.2.2/24 dev dw0".split(), check=True)
    save(outdir, "event-deladdr-dw0", wait_for(ev, RTM_DELADDR, b""))


def capture6(s, outdir):
    """The IPv6 entries of SETUP (AF_INET6 = 10): rules, routes, the global, deprecated and
    link-local addresses of dw0."""
    for msg in dump(s, RTM_GETRULE, struct.pack("=8BI", 10, 0, 0, 0, 0, 0, 0, 0, 0)):
        prio = attr(msg, 12, 6)
        prio = struct.unpack("=I", prio)[0] if prio else 0
        if prio in (5000, 5001):
            save(outdir, "rule6-%d" % prio, msg)
    for msg in dump(s, RTM_GETROUTE, struct.pack("=8BI", 10, 0, 0, 0, 0, 0, 0, 0, 0)):
        table = struct.unpack("=I", attr(msg, 12, 15))[0]
        if table == 101:
            save(outdir, "route6-table101", msg)
        elif table == 254 and msg[16 + 1] == 0 and attr(msg, 12, 2):  # dst_len 0, RTA_SRC
            save(outdir, "route6-main-default-from", msg)
    for msg in dump(s, RTM_GETADDR, struct.pack("=4BI", 10, 0, 0, 0, 0)):
        addr = attr(msg, 8, 1)
        if addr == socket.inet_pton(socket.AF_INET6, "2001:db8:1::2"):
            save(outdir, "addr6-dw0-global", msg)
        elif addr == socket.inet_pton(socket.AF_INET6, "2001:db8:1::3"):
            save(outdir, "addr6-dw0-deprecated", msg)
        elif addr and addr[:2] == b"\xfe\x80" and struct.unpack_from("=I", msg, 16 + 4)[0] == 2:
            save(outdir, "addr6-dw0-linklocal", msg)


def capture_balance(s, outdir):
    """SETUP_BALANCE's entries: nexthops (AF_UNSPEC dump), the routes through the groups, the
    rules with selectors."""
    for line in SETUP_BALANCE.strip().splitlines():
        subprocess.run(line.split(), check=True)
    for msg in dump(s, RTM_GETNEXTHOP, struct.pack("=4BI", 0, 0, 0, 0, 0)):
        nhid = struct.unpack("=I", attr(msg, 8, 1))[0]
        kind = "group" if attr(msg, 8, 2) else ("nexthop6" if msg[16] == 10 else "nexthop")
        save(outdir, "%s-%d" % (kind, nhid), msg)
    for family, name in ((2, "route-nhid-table100"), (10, "route6-nhid-table100")):
        for msg in dump(s, RTM_GETROUTE, struct.pack("=8BI", family, 0, 0, 0, 0, 0, 0, 0, 0)):
            if struct.unpack("=I", attr(msg, 12, 15))[0] == 100:
                save(outdir, name, msg)
    for family, prio, name in ((2, 5010, "rule-5010-selectors"), (10, 5011, "rule6-5011-selectors")):
        for msg in dump(s, RTM_GETRULE, struct.pack("=8BI", family, 0, 0, 0, 0, 0, 0, 0, 0)):
            p = attr(msg, 12, 6)
            if p and struct.unpack("=I", p)[0] == prio:
                save(outdir, name, msg)


def main():
    if sys.argv[1] == "--inside":
        inside(sys.argv[2])
        return
    ns = "dwcap%d" % os.getpid()
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", ns, sys.executable, os.path.abspath(__file__),
                        "--inside", os.path.abspath(sys.argv[1])], check=True)
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=True)


main()
