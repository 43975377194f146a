#!/usr/bin/env python3
"""ICMP junk for the router's WAN addresses, at a fixed rate, from the lab's inet namespace.

    flood.py IDENT SECONDS RATE DST[,DST...]

IDENT is the daemon's ICMP identifier for slot 0 (pid & 0xfff0; slot n uses IDENT+n, and
the n-th DST is taken to be WAN slot n). Sends RATE packets per second for SECONDS, built
with IP_HDRINCL so any source can be forged, cycling through:

  foreign     echo replies from a probe target with another identifier
  wrongsrc    echo replies with the daemon's identifier and a live-looking sequence number,
              from hosts it never probes
  wrongseq    echo replies with the daemon's identifier from a probe target, but a sequence
              number no probe uses (its low nibble, the target index, is 10..15)
  unreach     destination unreachable quoting an echo request with the daemon's identifier
  timex       time exceeded quoting the same
  badsum      an echo reply with the daemon's identifier and a wrong checksum
  truncated   ICMP shorter than its 8-byte header (type echo reply, our identifier bytes)
  garbage     random bytes as ICMP (random type/code) and a timestamp request

FLOOD_KINDS=wrongseq,timex (environment) sends only those kinds.

Prints one line at the end: "flood: SENT packets in SECS s: RATE pkt/s (kinds...)".
Packets are prebuilt; the loop only paces and sends, in bursts every millisecond.
"""
import os
import random
import socket
import struct
import sys
import time

TARGETS = ["203.0.113.1", "203.0.113.2", "203.0.113.3"]
# Not the router's LAN (192.0.2.128/25): ICMP timestamp requests "from" an address there make
# rtr's kernel queue its replies for a LAN neighbour that never answers ARP, and then rtr's own
# WAN pings lose 30-80 % with no dualwan running at all (rp_filter is 0 in the lab). That is
# the kernel's trouble, not a health decision to test.
STRANGERS = ["198.51.100.77", "203.0.113.50", "203.0.113.99", "198.51.100.200"]
PAYLOAD = b"dualwan-probe-v1"


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def ip(src, dst, body, proto=1):
    # tot_len, id and the header checksum are filled in by the kernel with IP_HDRINCL.
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 0, 0, 0, 64, proto, 0,
                       socket.inet_aton(src), socket.inet_aton(dst))
    return head + body


def icmp(typ, code, rest, data, good=True):
    c = csum(struct.pack("!BBH", typ, code, 0) + rest + data)
    if not good:
        c ^= 0x5A5A
    return struct.pack("!BBH", typ, code, c) + rest + data


def echo(typ, ident, seq, good=True):
    return icmp(typ, 0, struct.pack("!HH", ident, seq), PAYLOAD, good)


def live_seq(rnd):
    return ((rnd.randrange(4096)) << 4) | rnd.randrange(4)


def dead_seq(rnd):
    return ((rnd.randrange(4096)) << 4) | rnd.randrange(10, 16)


def build(ident, dsts, rnd):
    kinds = {}
    for slot, dst in enumerate(dsts):
        ours = (ident + slot) & 0xFFFF
        other = (ident + 0x100 + rnd.randrange(0xE00)) & 0xFFFF
        err_from = ["198.51.100.1", "198.51.100.5", rnd.choice(STRANGERS)]
        for _ in range(64):
            t = rnd.choice(TARGETS)
            kinds.setdefault("foreign", []).append(
                (ip(t, dst, echo(0, other, rnd.randrange(65536))), dst))
            kinds.setdefault("wrongsrc", []).append(
                (ip(rnd.choice(STRANGERS), dst, echo(0, ours, live_seq(rnd))), dst))
            kinds.setdefault("wrongseq", []).append(
                (ip(t, dst, echo(0, ours, dead_seq(rnd))), dst))
            quoted = ip(dst, t, echo(8, ours, live_seq(rnd)))[:28]
            kinds.setdefault("unreach", []).append(
                (ip(rnd.choice(err_from), dst, icmp(3, rnd.choice([0, 1, 3, 13]), b"\0\0\0\0", quoted)), dst))
            kinds.setdefault("timex", []).append(
                (ip(rnd.choice(err_from), dst, icmp(11, 0, b"\0\0\0\0", quoted)), dst))
            kinds.setdefault("badsum", []).append(
                (ip(t, dst, echo(0, ours, live_seq(rnd), good=False)), dst))
            cut = echo(0, ours, live_seq(rnd))[: rnd.randrange(1, 8)]
            kinds.setdefault("truncated", []).append((ip(t, dst, cut), dst))
            junk = bytes(rnd.randrange(256) for _ in range(rnd.randrange(8, 120)))
            if rnd.randrange(2):
                junk = icmp(13, 0, struct.pack("!HH", ours, live_seq(rnd)), junk[:12])
            kinds.setdefault("garbage", []).append((ip(rnd.choice(STRANGERS + TARGETS), dst, junk), dst))
    only = [k for k in os.environ.get("FLOOD_KINDS", "").split(",") if k]
    names = sorted(k for k in kinds if not only or k in only)
    packets = []
    for i in range(max(len(v) for v in kinds.values())):
        for k in names:
            packets.append(kinds[k][i % len(kinds[k])])
    return packets, names


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    ident, seconds, rate = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    dsts = sys.argv[4].split(",")
    packets, names = build(ident, dsts, random.Random(ident))
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    send = s.sendto
    n = len(packets)
    sent = errors = 0
    start = time.monotonic()
    end = start + seconds
    while True:
        now = time.monotonic()
        if now >= end:
            break
        due = int((now - start) * rate) - sent
        if due <= 0:
            time.sleep(0.001)
            continue
        for _ in range(min(due, rate // 100 + 1)):
            pkt, dst = packets[sent % n]
            try:
                send(pkt, (dst, 0))
            except OSError:
                errors += 1
            sent += 1
    took = time.monotonic() - start
    print("flood: %d packets in %.2f s: %.0f pkt/s, %d send errors (%s)"
          % (sent, took, sent / took, errors, " ".join(names)))


if __name__ == "__main__":
    main()
