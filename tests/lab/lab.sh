#!/usr/bin/env bash
# dualwan network-namespace lab: a home router with two WAN uplinks.
#
#   lab.sh PREFIX COMMAND [ARGS]
#
# PREFIX makes the namespace names unique (PREFIX-rtr, PREFIX-isp1, PREFIX-isp2,
# PREFIX-inet, PREFIX-lan) so several labs can run side by side.  See README.md
# beside this file for the topology and every command.
#
# Only documentation address ranges are used (192.0.2.0/24, 198.51.100.0/24,
# 203.0.113.0/24, and with DWLAB_IPV6=1 2001:db8::/32 and fe80::/64), and only
# inside the namespaces this script creates.
set -euo pipefail

usage() {
    cat >&2 <<'EOF'
usage: lab.sh PREFIX COMMAND [ARGS]
  up                      build the lab (tears down any old lab of that PREFIX first)
  down                    remove everything (idempotent)
  upstream-fail N         isp N stops forwarding; its gateway still answers ping
  upstream-restore N
  carrier-down N          isp N's router-facing veth goes down: rtr's wanN loses carrier
  carrier-up N
  gw-blackhole N          isp N drops everything from/to the router (IP and ARP)
  gw-restore N
  loss N PCT              isp N drops PCT% of the packets it forwards inet -> router
  loss-clear N
  ping-drop N             isp N drops the echo requests it forwards (ICMP filtered, TCP passes)
  ping-restore N
  active                  device rtr uses for 203.0.113.50: wan1, wan2 or none
  lan-active              same, for LAN traffic from 192.0.2.130 arriving on lan0
  snapshot                rtr's IPv4 rules and routes (all tables), sorted
  active6                 device rtr uses for 2001:db8:f::50 (IPv6 labs)
  lan-active6             same, for LAN traffic from 2001:db8:80::2 arriving on lan0
  snapshot6               rtr's IPv6 rules and routes (all tables), sorted
  exec NS CMD...          run CMD in namespace NS (rtr, isp1, isp2, inet, lan)
environment for up: DWLAB_IPV6=1 adds IPv6 (see README.md), DWLAB_RTR_RP_FILTER=0|1|2
EOF
    exit 2
}

[ $# -ge 2 ] || usage
P=$1
CMD=$2
shift 2
case $P in
    '' | *[!A-Za-z0-9_.-]* | -*) echo "lab.sh: bad PREFIX '$P' (use [A-Za-z0-9_.-])" >&2; exit 2 ;;
esac
[ ${#P} -le 200 ] || { echo "lab.sh: PREFIX too long" >&2; exit 2; }

ROLES=(rtr isp1 isp2 inet lan)
RTR=$P-rtr
INET=$P-inet
LAN=$P-lan

die() { echo "lab.sh: $*" >&2; exit 1; }

# --- tools -----------------------------------------------------------------

# Installs the Debian packages behind missing commands, quietly; one installer
# at a time when several labs start at once.
ensure_tools() {
    local need=()
    command -v ip >/dev/null 2>&1 || need+=(iproute2)
    command -v nft >/dev/null 2>&1 || need+=(nftables)
    command -v ping >/dev/null 2>&1 || need+=(iputils-ping)
    [ ${#need[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null 2>&1 || die "missing ${need[*]} and no apt-get to install them"
    local log=/tmp/dwlab-install.log
    (
        flock -w 300 9 || true
        # Another lab may have installed them while we waited.
        local still=()
        command -v ip >/dev/null 2>&1 || still+=(iproute2)
        command -v nft >/dev/null 2>&1 || still+=(nftables)
        command -v ping >/dev/null 2>&1 || still+=(iputils-ping)
        [ ${#still[@]} -eq 0 ] && exit 0
        export DEBIAN_FRONTEND=noninteractive
        local apt=(apt-get -y -qq -o DPkg::Lock::Timeout=120)
        { "${apt[@]}" install "${still[@]}" ||
            { apt-get -qq -o DPkg::Lock::Timeout=120 update && "${apt[@]}" install "${still[@]}"; }
        } >"$log" 2>&1
    ) 9>/tmp/dwlab-install.lock || { tail -n 20 "$log" >&2; die "could not install ${need[*]}"; }
}

# --- helpers ---------------------------------------------------------------

ns_of() { # role or full name -> full namespace name
    case $1 in
        rtr | isp1 | isp2 | inet | lan) echo "$P-$1" ;;
        "$P"-*) echo "$1" ;;
        *) die "unknown namespace '$1' (rtr, isp1, isp2, inet, lan)" ;;
    esac
}

isp_of() { # N -> isp namespace
    case ${1:-} in
        1 | 2) echo "$P-isp$1" ;;
        *) die "ISP number must be 1 or 2, got '${1:-}'" ;;
    esac
}

ns_exists() { [ -e "/run/netns/$1" ]; }

need_ns() { ns_exists "$1" || die "namespace $1 does not exist (run: lab.sh $P up)"; }

nx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# sysctl writes, one shell per namespace instead of one sysctl(8) per key.
sysctls() { # NS key=value...
    local ns=$1 script='' kv k
    shift
    for kv in "$@"; do
        k=${kv%%=*}
        script+="echo ${kv#*=} > /proc/sys/${k//.//};"
    done
    nx "$ns" sh -ec "$script"
}

# --- up / down -------------------------------------------------------------

cmd_down() ( # subshell: set +e must not leak into cmd_up
    set +e
    local r ns pids
    for r in "${ROLES[@]}"; do
        ns=$P-$r
        ns_exists "$ns" || continue
        # Processes left inside (a daemon under test) would keep the namespace alive.
        mapfile -t pids < <(ip netns pids "$ns" 2>/dev/null)
        if [ ${#pids[@]} -gt 0 ]; then
            kill -TERM "${pids[@]}" 2>/dev/null
            for _ in $(seq 50); do
                mapfile -t pids < <(ip netns pids "$ns" 2>/dev/null)
                [ ${#pids[@]} -eq 0 ] && break
                sleep 0.02
            done
            [ ${#pids[@]} -gt 0 ] && kill -KILL "${pids[@]}" 2>/dev/null
        fi
        ip netns del "$ns" 2>/dev/null
    done
    # A half-deleted name (mount gone, file left) must not make the next up fail.
    for r in "${ROLES[@]}"; do
        [ -e "/run/netns/$P-$r" ] && { umount "/run/netns/$P-$r" 2>/dev/null; rm -f "/run/netns/$P-$r"; }
    done
    exit 0
)

# IPv6 is opt-in: DWLAB_IPV6=1 when running `up`.
ipv6_on() { [ "${DWLAB_IPV6:-0}" = 1 ]; }

# Per-namespace sysctls: rp_filter off (tunable on rtr), forwarding where routing, and
# no IPv6 noise: IPv6 off, or (DWLAB_IPV6=1) on without DAD (no tentative addresses),
# without router advertisements, and keeping addresses over a link's down/up (so
# carrier-down on an ISP's cust does not delete its gateway addresses). Set before any
# device exists, so every device takes the defaults.
base_sysctls() { # NS forwarding rp_filter
    local v6=(net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1)
    if ipv6_on; then
        v6=(net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0
            net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
            net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0
            net.ipv6.conf.all.keep_addr_on_down=1 net.ipv6.conf.default.keep_addr_on_down=1
            net.ipv6.conf.all.forwarding="$2")
    fi
    sysctls "$1" "${v6[@]}" \
        net.ipv4.conf.all.rp_filter="$3" net.ipv4.conf.default.rp_filter="$3" \
        net.ipv4.ip_forward="$2"
}

# The IPv6 half of the lab (DWLAB_IPV6=1), mirroring the IPv4 one: each ISP's
# gateway is fe80::1 on its cust link (as a router advertisement would announce it),
# beside a global address in the customer's /64; inet holds the targets on lo.
up_ipv6() {
    ip -6 -n "$RTR" -batch - <<'EOF'
addr add 2001:db8:1::2/64 dev wan1 nodad
addr add 2001:db8:2::2/64 dev wan2 nodad
addr add 2001:db8:80::1/64 dev lan0 nodad
EOF
    ip -6 -n "$LAN" -batch - <<'EOF'
addr add 2001:db8:80::2/64 dev eth0 nodad
route add default via 2001:db8:80::1 dev eth0
EOF
    ip -6 -n "$P-isp1" -batch - <<'EOF'
addr add 2001:db8:1::1/64 dev cust nodad
addr add fe80::1/64 dev cust nodad
addr add 2001:db8:101::1/64 dev uplink nodad
route add default via 2001:db8:101::2 dev uplink
EOF
    ip -6 -n "$P-isp2" -batch - <<'EOF'
addr add 2001:db8:2::1/64 dev cust nodad
addr add fe80::1/64 dev cust nodad
addr add 2001:db8:102::1/64 dev uplink nodad
route add default via 2001:db8:102::2 dev uplink
EOF
    ip -6 -n "$INET" -batch - <<'EOF'
addr add 2001:db8:101::2/64 dev isp1 nodad
addr add 2001:db8:102::2/64 dev isp2 nodad
addr add 2001:db8:f::1/128 dev lo
addr add 2001:db8:f::2/128 dev lo
addr add 2001:db8:f::3/128 dev lo
addr add 2001:db8:f::50/128 dev lo
route add 2001:db8:1::/64 via 2001:db8:101::1 dev isp1
route add 2001:db8:2::/64 via 2001:db8:102::1 dev isp2
EOF
    # Both gateways are fe80::1: only the device tells them apart, as on real WANs.
    ip -6 -n "$RTR" -batch - <<'EOF'
route add default via fe80::1 dev wan1 proto static metric 10
route add default via fe80::1 dev wan2 proto static metric 20
EOF
}

# nft state of one ISP: each fault is one chain, flushed to clear it.
isp_nft() {
    cat <<'EOF'
table inet dwlab {
    chain upstream {}
    chain loss {}
    chain noping {}
    chain bh_in {}
    chain bh_fwd {}
    chain bh_out {}
    chain input { type filter hook input priority filter; policy accept; jump bh_in; }
    chain forward { type filter hook forward priority filter; policy accept; jump bh_fwd; jump upstream; jump loss; jump noping; }
    chain output { type filter hook output priority filter; policy accept; jump bh_out; }
}
table arp dwlab {
    chain bh_in {}
    chain bh_out {}
    chain input { type filter hook input priority filter; policy accept; jump bh_in; }
    chain output { type filter hook output priority filter; policy accept; jump bh_out; }
}
EOF
}

cmd_up() {
    ensure_tools
    cmd_down
    local ok=0
    trap '[ $ok = 1 ] || cmd_down' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    local r
    for r in "${ROLES[@]}"; do
        ip netns add "$P-$r"
        ip -n "$P-$r" link set lo up
    done
    base_sysctls "$RTR" 1 "${DWLAB_RTR_RP_FILTER:-0}"
    base_sysctls "$P-isp1" 1 0
    base_sysctls "$P-isp2" 1 0
    base_sysctls "$INET" 0 0
    base_sysctls "$LAN" 0 0

    # Wires, created straight inside their namespaces (no names in the root one).
    ip link add wan1 netns "$RTR" type veth peer name cust netns "$P-isp1"
    ip link add wan2 netns "$RTR" type veth peer name cust netns "$P-isp2"
    ip link add lan0 netns "$RTR" type veth peer name eth0 netns "$LAN"
    ip link add uplink netns "$P-isp1" type veth peer name isp1 netns "$INET"
    ip link add uplink netns "$P-isp2" type veth peer name isp2 netns "$INET"

    # rtr: the OpenWrt box.
    ip -n "$RTR" -batch - <<'EOF'
addr add 192.0.2.2/29 dev wan1
addr add 192.0.2.10/29 dev wan2
addr add 192.0.2.129/25 dev lan0
link set wan1 up
link set wan2 up
link set lan0 up
EOF
    # LAN client.
    ip -n "$LAN" -batch - <<'EOF'
addr add 192.0.2.130/25 dev eth0
link set eth0 up
route add default via 192.0.2.129 dev eth0
EOF
    # ISPs: router-facing gateway plus an uplink to inet.
    ip -n "$P-isp1" -batch - <<'EOF'
addr add 192.0.2.1/29 dev cust
addr add 198.51.100.1/30 dev uplink
link set cust up
link set uplink up
route add default via 198.51.100.2 dev uplink
EOF
    ip -n "$P-isp2" -batch - <<'EOF'
addr add 192.0.2.9/29 dev cust
addr add 198.51.100.5/30 dev uplink
link set cust up
link set uplink up
route add default via 198.51.100.6 dev uplink
EOF
    # inet: the targets live on lo (this kernel has no dummy driver); each
    # ISP's customer subnet routes back through that ISP, nothing else.
    ip -n "$INET" -batch - <<'EOF'
addr add 198.51.100.2/30 dev isp1
addr add 198.51.100.6/30 dev isp2
addr add 203.0.113.1/32 dev lo
addr add 203.0.113.2/32 dev lo
addr add 203.0.113.3/32 dev lo
addr add 203.0.113.50/32 dev lo
link set isp1 up
link set isp2 up
route add 192.0.2.0/29 via 198.51.100.1 dev isp1
route add 192.0.2.8/29 via 198.51.100.5 dev isp2
EOF
    # rtr's DHCP-style default routes (what netifd installs from two leases).
    ip -n "$RTR" -batch - <<'EOF'
route add default via 192.0.2.1 dev wan1 proto dhcp metric 10
route add default via 192.0.2.9 dev wan2 proto dhcp metric 20
EOF
    if ipv6_on; then up_ipv6; fi

    # Firewalls: masquerade on the WANs as fw4 does (IPv6 too in an IPv6 lab, so
    # that the LAN client's traffic fails over like its IPv4 traffic: inet routes
    # each ISP's prefix only); fault chains on the ISPs.
    local masq6=''
    if ipv6_on; then masq6='oifname { "wan1", "wan2" } meta nfproto ipv6 masquerade'; fi
    nx "$RTR" nft -f - <<EOF
table inet dwlab {
    chain srcnat {
        type nat hook postrouting priority srcnat; policy accept;
        oifname { "wan1", "wan2" } meta nfproto ipv4 masquerade
        $masq6
    }
}
EOF
    isp_nft | nx "$P-isp1" nft -f -
    isp_nft | nx "$P-isp2" nft -f -

    ok=1
    trap - EXIT INT TERM
}

# --- faults ----------------------------------------------------------------

# Replace the rules of some fault chains in one atomic nft transaction.
set_chains() { # NS "family chain" "rule or empty" ...
    local ns=$1; shift
    local script=''
    while [ $# -ge 2 ]; do
        script+="flush chain $1"$'\n'
        [ -n "$2" ] && script+="add rule $1 $2"$'\n'
        shift 2
    done
    printf '%s' "$script" | nx "$ns" nft -f -
}

fault() { # N on|off upstream|loss|noping [PCT], or N off blackhole
    local ns; ns=$(isp_of "$1")
    need_ns "$ns"
    local on=$2
    case $3 in
        upstream)
            set_chains "$ns" "inet dwlab upstream" "$([ "$on" = on ] && echo drop)" ;;
        noping)
            # Forwarded echo requests only, both families: the gateway's own answers stay,
            # as with a carrier or a firewall that filters ping beyond its network.
            if [ "$on" = on ]; then
                nx "$ns" nft -f - <<'EOF'
flush chain inet dwlab noping
add rule inet dwlab noping iifname "cust" icmp type echo-request drop
add rule inet dwlab noping iifname "cust" icmpv6 type echo-request drop
EOF
            else
                set_chains "$ns" "inet dwlab noping" ''
            fi ;;
        blackhole)
            set_chains "$ns" "inet dwlab bh_in" '' "inet dwlab bh_fwd" '' \
                "inet dwlab bh_out" '' "arp dwlab bh_in" '' "arp dwlab bh_out" '' ;;
        loss)
            # nft rejects "numgen random mod 100 < 100" (the value must fit
            # 0..99), so 100% is a plain drop and 0% no rule at all.
            if [ "$on" = on ] && [ "$4" -ge 100 ]; then
                set_chains "$ns" "inet dwlab loss" 'iifname "uplink" oifname "cust" drop'
            elif [ "$on" = on ] && [ "$4" -gt 0 ]; then
                set_chains "$ns" "inet dwlab loss" \
                    "iifname \"uplink\" oifname \"cust\" numgen random mod 100 < $4 drop"
            else
                set_chains "$ns" "inet dwlab loss" ''
            fi ;;
    esac
}

# The blackhole puts two rules in bh_fwd, so it gets its own transaction.
fault_blackhole_on() {
    local ns; ns=$(isp_of "$1")
    need_ns "$ns"
    nx "$ns" nft -f - <<'EOF'
flush chain inet dwlab bh_in
flush chain inet dwlab bh_fwd
flush chain inet dwlab bh_out
flush chain arp dwlab bh_in
flush chain arp dwlab bh_out
add rule inet dwlab bh_in iifname "cust" drop
add rule inet dwlab bh_fwd iifname "cust" drop
add rule inet dwlab bh_fwd oifname "cust" drop
add rule inet dwlab bh_out oifname "cust" drop
add rule arp dwlab bh_in iifname "cust" drop
add rule arp dwlab bh_out oifname "cust" drop
EOF
}

carrier() { # N up|down
    local ns; ns=$(isp_of "$1")
    need_ns "$ns"
    ip -n "$ns" link set cust "$2"
    # A link going down loses its link-local addresses whatever keep_addr_on_down
    # says, the gateway's fe80::1 with them: an IPv6 lab puts it back.
    if [ "$2" = up ] && [ "$(nx "$ns" cat /proc/sys/net/ipv6/conf/cust/disable_ipv6 2>/dev/null)" = 0 ]; then
        ip -6 -n "$ns" addr replace fe80::1/64 dev cust nodad
    fi
}

# --- queries ---------------------------------------------------------------

dev_of_route() { # reads `ip route get` output, prints wan1/wan2/none
    local dev
    dev=$(sed -n 's/.* dev \([^ ]*\).*/\1/p' | head -n1)
    case $dev in
        wan1 | wan2) echo "$dev" ;;
        *) echo none ;;
    esac
}

cmd_active() {
    need_ns "$RTR"
    { ip -n "$RTR" -4 route get 203.0.113.50 2>/dev/null || true; } | dev_of_route
}

cmd_lan_active() {
    need_ns "$RTR"
    { ip -n "$RTR" -4 route get 203.0.113.50 from 192.0.2.130 iif lan0 2>/dev/null || true; } | dev_of_route
}

cmd_snapshot() { # 4 or 6
    need_ns "$RTR"
    echo "# ip -$1 rule show"
    ip -n "$RTR" -"$1" rule show | sed 's/[[:space:]]*$//' | LC_ALL=C sort
    echo "# ip -$1 route show table all"
    ip -n "$RTR" -"$1" route show table all | sed 's/[[:space:]]*$//' | LC_ALL=C sort
}

cmd_active6() {
    need_ns "$RTR"
    { ip -n "$RTR" -6 route get 2001:db8:f::50 2>/dev/null || true; } | dev_of_route
}

cmd_lan_active6() {
    need_ns "$RTR"
    { ip -n "$RTR" -6 route get 2001:db8:f::50 from 2001:db8:80::2 iif lan0 2>/dev/null || true; } | dev_of_route
}

# --- dispatch --------------------------------------------------------------

num() { [ $# -ge 1 ] || die "$CMD needs an ISP number"; isp_of "$1" >/dev/null; }

case $CMD in
    up) cmd_up ;;
    down) cmd_down ;;
    upstream-fail) num "$@"; fault "$1" on upstream ;;
    upstream-restore) num "$@"; fault "$1" off upstream ;;
    carrier-down) num "$@"; carrier "$1" down ;;
    carrier-up) num "$@"; carrier "$1" up ;;
    gw-blackhole) num "$@"; fault_blackhole_on "$1" ;;
    gw-restore) num "$@"; fault "$1" off blackhole ;;
    loss)
        num "$@"
        [ $# -ge 2 ] || die "usage: loss N PCT"
        case $2 in '' | *[!0-9]* | ????*) die "PCT must be 0..100, got '$2'" ;; esac
        pct=$((10#$2))
        [ "$pct" -le 100 ] || die "PCT must be 0..100, got '$2'"
        fault "$1" on loss "$pct" ;;
    loss-clear) num "$@"; fault "$1" off loss ;;
    ping-drop) num "$@"; fault "$1" on noping ;;
    ping-restore) num "$@"; fault "$1" off noping ;;
    active) cmd_active ;;
    lan-active) cmd_lan_active ;;
    snapshot) cmd_snapshot 4 ;;
    active6) cmd_active6 ;;
    lan-active6) cmd_lan_active6 ;;
    snapshot6) cmd_snapshot 6 ;;
    exec)
        [ $# -ge 2 ] || die "usage: exec NS CMD..."
        ns=$(ns_of "$1"); shift
        need_ns "$ns"
        exec ip netns exec "$ns" "$@" ;;
    -h | --help | help) usage ;;
    *) echo "lab.sh: unknown command '$CMD'" >&2; usage ;;
esac
