#!/usr/bin/env python3
"""Capture real ctnetlink (NETLINK_NETFILTER, conntrack) messages for the tests in
src/wire/ctnetlink.rs.

Run as root: python3 capture.py OUTDIR. The script builds three throw-away network namespaces,
a LAN client, a router that masquerades out of its WAN (as fw4 does) and a server, makes a
TCP, a UDP and an ICMP flow through the router plus one TCP connection of the router's own,
then, inside the router, dumps the conntrack table and deletes the masqueraded TCP entry with
a request built here (independently of the Rust encoder), saving each message to a .hex file
byte for byte. Documentation addresses only.
"""
import os
import socket
import struct
import subprocess
import sys
import time

NETLINK_NETFILTER = 12
CT_GET, CT_DELETE = (1 << 8) | 1, (1 << 8) | 2
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 0x1, 0x4, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
NESTED = 0x8000

SETUP = {
    "c": """
ip link set lo up
ip addr add 192.0.2.1/29 dev wan
ip addr add 203.0.113.50/32 dev lo
ip link set wan up
ip route add 192.0.2.0/24 via 192.0.2.2
""",
    "r": """
ip link set lo up
ip addr add 192.0.2.2/29 dev wan
ip addr add 192.0.2.129/25 dev lan
ip link set wan up
ip link set lan up
ip route add default via 192.0.2.1
sysctl -qw net.ipv4.ip_forward=1
""",
    "l": """
ip link set lo up
ip addr add 192.0.2.130/25 dev lan
ip link set lan up
ip route add default via 192.0.2.129
""",
}
NFT = 'table ip cap {\n chain post {\n  type nat hook postrouting priority srcnat;\n  oifname "wan" masquerade\n }\n}\n'


def run(ns, cmd, **kw):
    return subprocess.run(["ip", "netns", "exec", ns] + cmd, check=True, **kw)


def messages(data):
    off = 0
    while off + 16 <= len(data):
        ln, ty = struct.unpack_from("=IH", data, off)
        yield ty, data[off:off + ln]
        off += (ln + 3) & ~3


def attrs(buf):
    off = 0
    while off + 4 <= len(buf):
        ln, ty = struct.unpack_from("=HH", buf, off)
        yield ty & 0x3FFF, buf[off + 4:off + ln]
        off += (ln + 3) & ~3


def nla(ty, payload):
    raw = struct.pack("=HH", 4 + len(payload), ty) + payload
    return raw + b"\0" * ((4 - len(raw) % 4) % 4)


def name_of(msg):
    """tcp-masq, udp-masq, icmp-masq or tcp-local, from the entry's tuples."""
    top = dict(attrs(msg[20:]))
    orig = dict(attrs(top[1]))
    reply = dict(attrs(top[2]))
    proto = dict(attrs(orig[2]))[1][0]
    osrc = dict(attrs(orig[1]))[1]
    rdst = dict(attrs(reply[1]))[2]
    kind = {6: "tcp", 17: "udp", 1: "icmp"}.get(proto, "proto%d" % proto)
    return "%s-%s" % (kind, "local" if osrc == rdst else "masq")


def inside(outdir):
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    s.bind((0, 0))
    # Dump the IPv4 conntrack table: nfgenmsg { AF_INET, NFNETLINK_V0, res_id 0 }.
    s.send(struct.pack("=IHHII", 20, CT_GET, NLM_F_REQUEST | NLM_F_DUMP, 1, 0) + struct.pack("=BBH", 2, 0, 0))
    entries = {}
    done = None
    while done is None:
        for ty, msg in messages(s.recv(65536)):
            if ty == NLMSG_DONE:
                done = msg
            elif ty == CT_GET & 0xFF00 | 0:  # IPCTNL_MSG_CT_NEW: a dump entry
                entries[name_of(msg)] = msg
    for name, msg in sorted(entries.items()):
        save(outdir, "entry-" + name, msg)
    save(outdir, "done", done)
    # Delete the masqueraded TCP entry by its original tuple and its id.
    top = dict(attrs(entries["tcp-masq"][20:]))
    orig = dict(attrs(top[1]))
    ip = dict(attrs(orig[1]))
    proto = dict(attrs(orig[2]))
    body = struct.pack("=BBH", 2, 0, 0)
    body += nla(1 | NESTED, nla(1 | NESTED, nla(1, ip[1]) + nla(2, ip[2]))
                + nla(2 | NESTED, nla(1, proto[1]) + nla(2, proto[2]) + nla(3, proto[3])))
    body += nla(12, top[12])
    for name in ("delete-tcp-masq", "delete-tcp-masq-again"):
        req = struct.pack("=IHHII", 16 + len(body), CT_DELETE, NLM_F_REQUEST | NLM_F_ACK, 7, 0) + body
        if name == "delete-tcp-masq":
            save(outdir, "request-" + name, req)
        s.send(req)
        for ty, msg in messages(s.recv(65536)):
            if ty == NLMSG_ERROR:
                save(outdir, "ack-" + name, msg)


def save(outdir, name, msg):
    with open(os.path.join(outdir, name + ".hex"), "w") as f:
        f.write(msg.hex() + "\n")


def main():
    if sys.argv[1] == "--inside":
        inside(sys.argv[2])
        return
    p = "dwct%d-" % os.getpid()
    ns = {k: p + k for k in "lrc"}
    try:
        for n in ns.values():
            subprocess.run(["ip", "netns", "add", n], check=True)
        subprocess.run(["ip", "link", "add", "lan", "netns", ns["l"], "type", "veth", "peer", "name", "lan",
                        "netns", ns["r"]], check=True)
        subprocess.run(["ip", "link", "add", "wan", "netns", ns["r"], "type", "veth", "peer", "name", "wan",
                        "netns", ns["c"]], check=True)
        for k, script in SETUP.items():
            for line in script.strip().splitlines():
                run(ns[k], line.split())
        run(ns["r"], ["nft", "-f", "-"], input=NFT.encode())
        server = subprocess.Popen(["ip", "netns", "exec", ns["c"], sys.executable, "-c",
                                   "import socket,time\n"
                                   "l=socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
                                   "l.bind(('203.0.113.50', 8080)); l.listen(4)\n"
                                   "c=[l.accept() for _ in range(2)]; time.sleep(30)\n"])
        time.sleep(0.3)
        keep = "import socket,sys,time\ns=socket.create_connection(('203.0.113.50',8080)); time.sleep(30)\n"
        clients = [subprocess.Popen(["ip", "netns", "exec", ns[k], sys.executable, "-c", keep]) for k in "lr"]
        run(ns["l"], [sys.executable, "-c",
                      "import socket\nsocket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', "
                      "('203.0.113.50', 5353))\n"])
        run(ns["l"], ["ping", "-c1", "-W1", "203.0.113.50"], stdout=subprocess.DEVNULL)
        time.sleep(0.3)
        run(ns["r"], [sys.executable, os.path.abspath(__file__), "--inside", os.path.abspath(sys.argv[1])])
        for c in clients + [server]:
            c.kill()
    finally:
        for n in ns.values():
            subprocess.run(["ip", "netns", "del", n])


main()
