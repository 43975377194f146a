#!/usr/bin/env bash
# tests/lab/demo.sh [BINARY]: dualwan failing over and back in the netns lab,
# narrated.  What `make demo` runs, as root; BINARY (default
# target/release/dualwan) is built by the caller, never here.  ~20 s.
#
# Builds the lab (lab.sh installs iproute2, nftables and ping if missing),
# runs dualwan in the router namespace with its log shown as [dualwan] lines,
# breaks ISP1's upstream, restores it, breaks only ISP1's IPv6 and restores it,
# pulls ISP1's cable and plugs it back, timing each move by polling `lab.sh
# active` (or `active6`) every 20 ms, then stops dualwan with SIGTERM and checks
# that the router's rules and routes of both families are as before.
# With ../shared/owrt (the real OpenWrt ubusd and ubus), dualwan registers on a
# private ubusd and the demo ends with `ubus call dualwan status`; without it the
# daemon runs without ubus, as it does on a router before ubusd is up.
# The lab is always torn down.  NO_COLOR=1 turns colours off.
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
LAB=$HERE/lab.sh
# shellcheck source=tests/lab/harness.sh
. "$HERE/harness.sh"

BIN=${1:-target/release/dualwan}
RECOVERY_WAIT=5

if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
    B=$'\e[1m' D=$'\e[2m' G=$'\e[32m' R=$'\e[31m' N=$'\e[0m'
else
    B='' D='' G='' R='' N=''
fi

die() { echo "demo: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces): sudo $0 $*"
[ -x "$BIN" ] || die "no executable $BIN (build first: cargo build --release)"
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")

WORK=$(mktemp -d /tmp/dwdemo.XXXXXX)
P=dwdemo
OWRT=$(cd "$ROOT/.." && pwd)/shared/owrt
UBUSD_PID=
demo_cleanup() {
    if [ -n "$UBUSD_PID" ]; then
        kill -TERM "$UBUSD_PID" 2>/dev/null || true
        wait "$UBUSD_PID" 2>/dev/null || true
    fi
    harness_cleanup
}
trap demo_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

T_START=$SECONDS
heading() { printf '\n%s▸ %s%s\n' "$B" "$*" "$N"; }
info() { printf '  %s\n' "$*"; }
s3() { printf '%d.%03d' $(($1 / 1000000)) $((($1 % 1000000) / 1000)); } # us -> s.mmm
SUMMARY=()
FAILED=0

# measure DEV WHAT TIMEOUT_S SUMMARY_LABEL [ipv6]: polls `lab.sh active` (`active6`) every 20 ms
# until it says DEV (from T0, the moment before the fault command), prints and records the time.
measure() {
    local dev=$1 what=$2 timeout=$3 label=$4 fam=${5:-} d ev logged='' query=active moved='notice +traffic moved to'
    [ -z "$fam" ] || { query=active6; moved='IPv6 traffic moved to'; }
    while :; do
        d=$("$LAB" "$P" $query)
        now
        [ "$d" != "$dev" ] || break
        if [ $((NOW - T0)) -gt $((timeout * 1000000)) ]; then
            printf '  %s%-24s still %s after %d s%s\n' "$R" "$what" "$d" "$timeout" "$N"
            kill -0 "$DAEMON_PID" 2>/dev/null || printf '  %sdualwan is not running any more%s\n' "$R" "$N"
            FAILED=1
            SUMMARY+=("$(printf '%-34s %9s' "$label" failed)")
            return 1
        fi
        nap 0.02
    done
    local took=$((NOW - T0))
    # The daemon's own log says when it moved traffic (to about a millisecond).
    for _ in $(seq 50); do
        ev=$(log_event_us "$moved $dev" "$T0")
        [ -z "$ev" ] || { logged=$(printf '(dualwan logged the move at %s s)' "$(s3 $((ev - T0)))"); break; }
        nap 0.02
    done
    printf '  %-24s %s%7s s%s  %s\n' "$what" "$G" "$(s3 "$took")" "$N" "$logged"
    SUMMARY+=("$(printf '%-34s %7s s' "$label" "$(s3 "$took")")")
}

fault() { # lab.sh command, quietly, with T0 taken just before
    now
    T0=$NOW
    "$LAB" "$P" "$@"
}

printf '%sdualwan demo%s: failover between two WANs in a network-namespace lab\n' "$B" "$N"
info "binary  ${BIN#"$ROOT"/} ($(($(stat -c %s "$BIN") / 1024)) KiB)"

heading "Building the lab"
now; t=$NOW
DWLAB_IPV6=1 "$LAB" "$P" up
now
info "router $P-rtr: wan1 to ISP1 (primary, metric 10), wan2 to ISP2 (metric 20), lan0 to a LAN client"
info "dual stack: 192.0.2.x and 2001:db8:1::2 / 2001:db8:2::2 on the WANs, routers 192.0.2.1/.9 and fe80::1"
info "probe targets 203.0.113.1-3 and 2001:db8:f::1-3 behind both ISPs; built in $(s3 $((NOW - t))) s"
BEFORE=$("$LAB" "$P" snapshot; "$LAB" "$P" snapshot6)

# start_ubusd: the real ubusd on $WORK/ubus.sock, in a mount namespace of its own
# whose /run is empty (ubusd creates /var/run/ubus whatever -s says) and whose
# /dev/kmsg is /dev/null (it logs refused clients there).  Sets UBUSD_PID.
start_ubusd() {
    local sock=$WORK/ubus.sock
    # shellcheck disable=SC2016 # expanded by the inner shell
    unshare -m --propagation private -- sh -c 'set -e
        mount -t tmpfs -o mode=755 tmpfs /run
        if [ -e /dev/kmsg ]; then mount --bind /dev/null /dev/kmsg; fi
        exec "$@"' ubusd "$OWRT/ubusd" -s "$sock" </dev/null >/dev/null 2>"$WORK/ubusd.err" &
    UBUSD_PID=$!
    for _ in $(seq 250); do
        [ ! -S "$sock" ] || { DAEMON_UBUS_SOCKET=$sock; return 0; }
        kill -0 "$UBUSD_PID" 2>/dev/null || break
        nap 0.02
    done
    info "${R}ubusd did not start$N: $(cat "$WORK/ubusd.err" 2>/dev/null)"
    return 1
}

heading "ubus"
DAEMON_UBUS_SOCKET=
if [ -x "$OWRT/ubusd" ] && [ -x "$OWRT/ubus" ] && command -v unshare >/dev/null && start_ubusd; then
    info "the real OpenWrt ubusd (../shared/owrt/ubusd) listens on a private socket: dualwan registers"
    info "its 'dualwan' object there, and \`ubus call dualwan status\` answers at the end"
else
    info "no ubusd here (../shared/owrt/ubusd is absent): ubus is optional, and dualwan fails over without it;"
    info "its one notice that ubus cannot connect (it keeps trying in the background) is expected"
fi

heading "Starting dualwan in the router (recovery_wait $RECOVERY_WAIT s, other settings default)"
write_config "$WORK/dualwan.conf" "$RECOVERY_WAIT" ipv6
DAEMON_ECHO_FD=1
daemon_start "$BIN" "$WORK/dualwan.conf" "$WORK/dualwan.log" "  ${D}[dualwan]$N "
{ wait_ready 5 && wait_log 'IPv6 traffic on wan1' 5; } || die "dualwan did not bring both WANs online within 5 s"
nap 0.2

heading "The router's policy routing, as dualwan set it up"
rules=$("$LAB" "$P" exec rtr ip -4 rule show)
# "PRIO:<tab>selector": aligned priorities, no tabs.
printf '%s\n' "$rules" | awk -F '\t' '{ printf "    %-7s %s\n", $1, $2 }' | sed 's/[[:space:]]*$//'
mapfile -t tables < <(printf '%s\n' "$rules" | sed -n 's/.*lookup \([0-9][0-9]*\).*/\1/p' | sort -un)
for t in "${tables[@]}"; do
    "$LAB" "$P" exec rtr ip -4 route show table "$t" | sed "s/^/    table $t: /; s/[[:space:]]*$//"
done
info "IPv6 has the same layout in its own rule list and tables (ip -6 rule):"
"$LAB" "$P" exec rtr ip -6 rule show | awk -F '\t' '/proto 201/ { printf "    %-7s %s\n", $1, $2 }' | sed 's/[[:space:]]*$//'
"$LAB" "$P" exec rtr ip -6 route show table 100 | sed "s/^/    table 100: /; s/[[:space:]]*$//"
info "traffic uses $("$LAB" "$P" active) (IPv6: $("$LAB" "$P" active6)); LAN traffic uses $("$LAB" "$P" lan-active)"

lan_check() {
    local ping=failed
    "$LAB" "$P" exec lan ping -c1 -W1 -q 203.0.113.50 >/dev/null 2>&1 && ping=ok
    info "LAN traffic uses $("$LAB" "$P" lan-active); LAN ping to 203.0.113.50: $ping"
}

heading "1. Breaking ISP1's upstream (its gateway still answers)"
fault upstream-fail 1
measure wan2 "traffic on wan2 after" 10 "upstream loss -> traffic on wan2" || true
lan_check

heading "2. Restoring ISP1's upstream (back after 3 good rounds + recovery_wait $RECOVERY_WAIT s)"
fault upstream-restore 1
measure wan1 "traffic on wan1 after" 30 "upstream back -> traffic on wan1" || true
lan_check

heading "3. Breaking only ISP1's IPv6 (IPv4 over ISP1 keeps working)"
now
T0=$NOW
"$LAB" "$P" exec isp1 nft add rule inet dwlab upstream meta nfproto ipv6 drop
measure wan2 "IPv6 traffic on wan2 after" 10 "IPv6-only loss -> IPv6 on wan2" ipv6 || true
info "IPv4 traffic still uses $("$LAB" "$P" active); LAN IPv6 traffic uses $("$LAB" "$P" lan-active6)"

heading "4. Restoring ISP1's IPv6"
now
T0=$NOW
"$LAB" "$P" exec isp1 nft flush chain inet dwlab upstream
measure wan1 "IPv6 traffic on wan1 after" 30 "IPv6 back     -> IPv6 on wan1" ipv6 || true

heading "5. Pulling ISP1's cable (carrier loss)"
fault carrier-down 1
measure wan2 "traffic on wan2 after" 10 "carrier loss  -> traffic on wan2" || true
lan_check

heading "6. Plugging the cable back in"
fault carrier-up 1
measure wan1 "traffic on wan1 after" 30 "carrier back  -> traffic on wan1" || true

if [ -n "$DAEMON_UBUS_SOCKET" ]; then
    heading "What ubus says: ubus call dualwan status '{\"interface\":\"wan1\"}'"
    if "$OWRT/ubus" -s "$DAEMON_UBUS_SOCKET" -t 5 wait_for dualwan &&
        out=$("$OWRT/ubus" -s "$DAEMON_UBUS_SOCKET" call dualwan status '{"interface":"wan1"}'); then
        # Its head; the targets, quality and history that follow are in the summary below.
        head=$(printf '%s\n' "$out" | sed -n '1,/"flushed"/p')
        printf '%s\n' "$head" | sed 's/^/    /'
        info "    … $(($(printf '%s\n' "$out" | wc -l) - $(printf '%s\n' "$head" | wc -l))) more lines: quality, track_ip, gateway probes, history"
        info "the same as a summary, \`dualwan status\`:"
        "$BIN" status --ubus-socket "$DAEMON_UBUS_SOCKET" | sed 's/^/    /'
    else
        info "${R}dualwan did not answer on ubus$N"
        FAILED=1
    fi
fi

heading "7. Stopping dualwan (SIGTERM)"
daemon_stop
AFTER=$("$LAB" "$P" snapshot; "$LAB" "$P" snapshot6)
info "dualwan exited with status $DAEMON_RC"
if [ "$BEFORE" = "$AFTER" ]; then
    info "kernel state restored: ${G}yes$N (ip rule, ip -6 rule and every routing table as before dualwan started)"
    restored=1
else
    info "kernel state restored: ${R}no$N; before (-) and after (+):"
    diff <(printf '%s\n' "$BEFORE") <(printf '%s\n' "$AFTER") | sed -n 's/^[<>] /    &/p' | sed 's/    < /    - /; s/    > /    + /'
    restored=0
fi

heading "Summary"
for line in "${SUMMARY[@]}"; do
    info "$line"
done
info "(times from the fault command until \`lab.sh active\` showed the move; polled every 20 ms)"
info "demo took $((SECONDS - T_START)) s"
[ "$FAILED" = 0 ] && [ "$restored" = 1 ] && [ "$DAEMON_RC" = 0 ]
