#!/usr/bin/env bash
# bench/bench.sh [BINARY]: measure dualwan in the netns lab and print one table.
#
#   BINARY        the dualwan to measure (default target/release/dualwan); built
#                 by the caller (make bench), never here
#   TRIALS        trials per fault kind (default 5)
#   CPU_SECONDS   length of the CPU/RSS run (default 60)
#   RECOVERY_WAIT recovery_wait of the fault trials, seconds (default 10, the
#                 daemon's default)
#   FLOOD_SECONDS length of the ICMP flood run (default 30)
#   FLOOD_RATE    packets per second of that flood (default 10000)
#
# Needs root (network namespaces).  Progress goes to stderr, the table to stdout.
#
# How failover times are measured.  Each trial gets a fresh lab and a fresh
# daemon with default settings, waits until both WANs are online and traffic
# is on wan1, then 1 s plus a random 0-300 ms so faults land at every phase of
# the 0.2 s probe round.  The clock starts right before the lab.sh fault
# command (so the command's own 5-20 ms are included; its median is printed
# below the table) and stops at the daemon's own "traffic moved" log line.
# That line is stamped on the daemon's monotonic clock in ms since its start;
# harness.sh maps it onto our clock through the smallest (received - logged)
# difference over the trial's lines, which is good to about +-1 ms.  The line
# is written just before the route changes go out over netlink (same loop
# iteration, microseconds apart).  Polling `ip route get` every 10 ms instead
# would cost 10-15 ms of resolution, so it only cross-checks: every trial also
# polls the LAN forwarding lookup until the kernel really routes via the other
# WAN, and a trial fails if that never happens.  Polled medians are printed
# below the table.
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LAB=$ROOT/tests/lab/lab.sh
# shellcheck source=tests/lab/harness.sh
. "$ROOT/tests/lab/harness.sh"

BIN=${1:-target/release/dualwan}
TRIALS=${TRIALS:-5}
CPU_SECONDS=${CPU_SECONDS:-60}
RECOVERY_WAIT=${RECOVERY_WAIT:-10}
FLOOD_SECONDS=${FLOOD_SECONDS:-30}
FLOOD_RATE=${FLOOD_RATE:-10000}

die() { echo "bench: $*" >&2; exit 1; }
say() { echo "[bench] $*" >&2; }

[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
[ -x "$BIN" ] || die "no executable $BIN (build first: cargo build --release)"
case $TRIALS in '' | *[!0-9]* | 0) die "TRIALS must be a positive integer" ;; esac
case $CPU_SECONDS in '' | *[!0-9]* | 0) die "CPU_SECONDS must be a positive integer" ;; esac
case $RECOVERY_WAIT in '' | *[!0-9]*) die "RECOVERY_WAIT must be whole seconds" ;; esac
case $FLOOD_SECONDS in '' | *[!0-9]* | 0) die "FLOOD_SECONDS must be a positive integer" ;; esac
case $FLOOD_RATE in '' | *[!0-9]* | 0) die "FLOOD_RATE must be a positive integer" ;; esac
command -v python3 >/dev/null 2>&1 || die "python3 is needed for the ICMP flood (tests/lab/flood.py)"
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")

WORK=$(mktemp -d /tmp/dwbench.XXXXXX)
P=dwbench-$$
trap harness_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

START=$SECONDS

# --- statistics and formatting ----------------------------------------------

# median and max of integers: "MEDIAN MAX" (the median of an even count is the
# mean of the middle two).
stats() {
    printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.0f %.0f\n", m, v[NR] }'
}

ms() { printf '%s ms' "$(us_to_ms "$1")"; }                            # from us
secs() { printf '%d.%02d s' $(($1 / 1000000)) $((($1 % 1000000) / 10000)); } # from us

# --- the fault trials --------------------------------------------------------

CFG=$WORK/trial.conf
write_config "$CFG" "$RECOVERY_WAIT"
CFG6=$WORK/trial6.conf
write_config "$CFG6" "$RECOVERY_WAIT" ipv6
# Balance mode: both WANs metric 10, weight 1; a returning WAN takes its buckets at once
# (balance_idle 0), so that the back trial sees it in the kernel whatever was polled.
CFGB=$WORK/trialb.conf
write_config "$CFGB" "$RECOVERY_WAIT"
sed -i "s/option enabled '1'/option enabled '1'\n\toption mode 'balance'\n\toption balance_idle '0'/; s/option metric '20'/option metric '10'/" "$CFGB"

# lan_share: in balance mode, wan1 if any of 16 LAN destinations leaves by wan1, else
# wan2 (all moved), or none.
lan_share() {
    local out
    out=$(for i in $(seq 100 115); do echo "route get 203.0.113.$i from 192.0.2.130 iif lan0"; done |
        ip -n "$P-rtr" -4 -batch - 2>/dev/null) || true
    case $out in
        *" dev wan1 "*) echo wan1 ;;
        *" dev wan2 "*) echo wan2 ;;
        *) echo none ;;
    esac
}

# lan_dev6: the device LAN IPv6 traffic leaves by (the ipv6 trials' wait_dev).
lan_dev6() { "$LAB" "$P" lan-active6; }

declare -A MOVE BACK MOVE_POLL BACK_POLL FAILS CMD_US

# trial KIND N: one fault and its recovery; appends to the arrays above. KIND ipv6 is an
# IPv6-only upstream loss in a dual-stack lab: only IPv6 traffic must move.
trial() {
    local kind=$1 n=$2 fail restore t0 t1 t2 ev poll bpoll move back why='' cfg=$CFG moved='notice +traffic moved to'
    local dev=lan_dev ready='traffic on wan1' gone='wan2' returned='wan1'
    case $kind in
        carrier) fail=(carrier-down 1) restore=(carrier-up 1) ;;
        upstream) fail=(upstream-fail 1) restore=(upstream-restore 1) ;;
        blackhole) fail=(gw-blackhole 1) restore=(gw-restore 1) ;;
        ipv6)
            fail=(exec isp1 nft add rule inet dwlab upstream meta nfproto ipv6 drop)
            restore=(exec isp1 nft flush chain inet dwlab upstream)
            cfg=$CFG6 moved='IPv6 traffic moved to' dev=lan_dev6 ;;
        balance)
            # Balance: wan1 leaves the group (all on wan2) and rejoins it.
            fail=(upstream-fail 1) restore=(upstream-restore 1)
            # (`.` for the parentheses: the same pattern goes to grep -E and to awk -v.)
            cfg=$CFGB moved='traffic shared by' dev=lan_share ready='traffic shared by wan1 .weight 1., wan2'
            gone='wan2 .weight 1.; wan1' returned='wan1 .weight 1., wan2' ;;
    esac
    if [ "$kind" = ipv6 ]; then DWLAB_IPV6=1 "$LAB" "$P" up; else "$LAB" "$P" up; fi
    daemon_start "$BIN" "$cfg" "$WORK/$kind.$n.log"
    if ! wait_log "$ready" 5 || ! wait_log 'wan1: .*-> online' 5 || ! wait_log 'wan2: .*-> online' 5 ||
        { [ "$kind" = ipv6 ] && ! wait_log 'IPv6 traffic on wan1' 5; }; then
        why="daemon not ready within 5 s"
    elif [ "$kind" = balance ] && [ "$(lan_share)" != wan1 ]; then
        why="no LAN destination on wan1 before the fault"
    else
        nap "1.$(printf %03d $((RANDOM % 300)))"
        now; t0=$NOW
        "$LAB" "$P" "${fail[@]}"
        now; t1=$NOW
        if ! WAIT_DEV=$dev wait_dev wan2 10 0.01; then
            why="traffic still on $($dev) 10 s after ${fail[*]}"
        else
            poll=$((NOW - t0))
            if ! wait_log "$moved $gone" 2 || ! ev=$(log_event_us "$moved $gone") || [ -z "$ev" ]; then
                why="kernel moved traffic but no '$moved $gone' line"
            elif [ "$kind" = ipv6 ] && [ "$(lan_dev)" != wan1 ]; then
                why="an IPv6-only loss moved IPv4 traffic too"
            else
                move=$((ev - t0))
                now; t2=$NOW
                "$LAB" "$P" "${restore[@]}"
                if ! WAIT_DEV=$dev wait_dev wan1 $((RECOVERY_WAIT + 20)) 0.01; then
                    why="traffic still on $($dev) $((RECOVERY_WAIT + 20)) s after ${restore[*]}"
                else
                    bpoll=$((NOW - t2))
                    if ! wait_log "$moved $returned" 2 || ! ev=$(log_event_us "$moved $returned" "$t2") || [ -z "$ev" ]; then
                        why="kernel moved traffic back but no '$moved $returned' line"
                    else
                        back=$((ev - t2))
                    fi
                fi
            fi
        fi
    fi
    daemon_stop
    [ -n "$why" ] || [ "$DAEMON_RC" = 0 ] || why="dualwan exited with $DAEMON_RC on SIGTERM"
    "$LAB" "$P" down
    if [ -n "$why" ]; then
        FAILS[$kind]=$((${FAILS[$kind]:-0} + 1))
        say "$kind $n/$TRIALS: FAILED: $why (log kept: $WORK/$kind.$n.log, until exit)"
        sed 's/^[0-9]* /    /' "$WORK/$kind.$n.log" | tail -n 15 >&2
        return 0
    fi
    MOVE[$kind]+=" $move" MOVE_POLL[$kind]+=" $poll" BACK[$kind]+=" $back" BACK_POLL[$kind]+=" $bpoll"
    CMD_US[$kind]+=" $((t1 - t0))"
    if [ $((move - poll)) -gt 2000 ]; then
        say "$kind $n/$TRIALS: note: the log line came $(ms $((move - poll))) after the kernel route changed"
    fi
    say "$(printf '%-9s %d/%d: moved %10s (polled %10s), back %8s (polled %8s)' "$kind" "$n" "$TRIALS" \
        "$(ms "$move")" "$(ms "$poll")" "$(secs "$back")" "$(secs "$bpoll")")"
}

# --- heap allocations per round (a test someone else writes) -----------------

ALLOCS=n/a
alloc_note=
if command -v cargo >/dev/null 2>&1; then
    say "allocations: cargo test --release --test alloc_steady"
    out=$(cd "$ROOT" && cargo test --release --test alloc_steady -- --nocapture 2>&1) || true
    n=$(printf '%s\n' "$out" | sed -n 's/.*allocations per round: *\([0-9][0-9.]*\).*/\1/p' | head -n1)
    if [ -n "$n" ]; then
        ALLOCS=$n
    else
        alloc_note="no 'allocations per round' line from the alloc_steady test (not written yet, or it failed)"
        say "$alloc_note"
        printf '%s\n' "$out" | grep -m1 -E '^error|panicked|FAILED' | sed 's/^/    /' >&2 || true
    fi
else
    alloc_note="cargo not found: allocation count not measured"
fi

# --- CPU and memory at default settings ----------------------------------------

say "CPU: $CPU_SECONDS s of 2 WANs x 3 targets, default settings"
write_config "$WORK/cpu.conf"
"$LAB" "$P" up
daemon_start "$BIN" "$WORK/cpu.conf" "$WORK/cpu.log"
wait_ready 5 || die "daemon not ready within 5 s: $(cut -d' ' -f2- "$WORK/cpu.log" | tail -n 5)"
[ "$(cat "/proc/$DAEMON_PID/comm")" = dualwan ] || die "pid $DAEMON_PID is not dualwan"
nap 2
clk_tck=$(getconf CLK_TCK)
# utime and stime are fields 14 and 15; the command name (field 2) has no
# spaces here.
cpu_ticks() { awk '{ print $14 + $15, $14, $15 }' "/proc/$DAEMON_PID/stat"; }
# Nanoseconds on the CPU, where the kernel keeps schedstat (CONFIG_SCHED_INFO).
sched_ns() { awk '{ print $1 }' "/proc/$DAEMON_PID/schedstat" 2>/dev/null || true; }
read -r ticks0 ut0 st0 < <(cpu_ticks)
ns0=$(sched_ns)
now; c0=$NOW
nap "$CPU_SECONDS"
read -r ticks1 ut1 st1 < <(cpu_ticks)
ns1=$(sched_ns)
now; c1=$NOW
hwm_kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$DAEMON_PID/status")
rss_split=$(awk '/^Rss(Anon|File):/ { printf "%s%s %s KiB", sep, $1, $2; sep = ", " }' "/proc/$DAEMON_PID/status")
wall_us=$((c1 - c0))
# CPU ms per minute, in tenths: ticks * 1000/CLK_TCK ms over wall_us.
cpu_tenths=$(((ticks1 - ticks0) * 1000 * 10 * 60000000 / clk_tck / wall_us))
sched_note=
if [ -n "$ns0" ] && [ -n "$ns1" ] && [ "$ns1" -gt 0 ]; then
    sched_tenths=$(((ns1 - ns0) * 600 / wall_us))
    sched_note="schedstat (ns) gives $((sched_tenths / 10)).$((sched_tenths % 10)) ms per minute"
fi
quiet_lines=$(awk -v a="$c0" -v b="$c1" '$1 >= a && $1 <= b { $1 = $2 = $3 = ""; sub(/^ +/, ""); print }' "$WORK/cpu.log")
log_quiet="no log lines in that run"
if [ -n "$quiet_lines" ]; then
    log_quiet="$(printf '%s\n' "$quiet_lines" | wc -l | tr -d ' ') log line(s) in that run, e.g. \"$(printf '%s\n' "$quiet_lines" | head -n1)\""
fi
daemon_stop
"$LAB" "$P" down
[ "$DAEMON_RC" = 0 ] || say "note: dualwan exited with $DAEMON_RC on SIGTERM after the CPU run"

# --- CPU under an ICMP flood ---------------------------------------------------
#
# From inet, FLOOD_RATE packets per second of ICMP junk to both WAN addresses
# (tests/lab/flood.py: other hosts' echo replies, replies with the daemon's
# identifier but a wrong source or sequence number, ICMP errors quoting its
# probes, bad checksums, truncated and random ICMP).  "Unchanged" means no
# status transition or traffic line in the daemon's log during the flood and
# the LAN's traffic on wan1 at every 0.2 s poll.

say "flood: $FLOOD_SECONDS s of $FLOOD_RATE pkt/s ICMP junk at both WANs, default settings"
"$LAB" "$P" up
daemon_start "$BIN" "$WORK/cpu.conf" "$WORK/flood.log"
wait_ready 5 || die "daemon not ready within 5 s: $(cut -d' ' -f2- "$WORK/flood.log" | tail -n 5)"
nap 2
icmp_in() { ip netns exec "$P-rtr" awk '/^Icmp: / { if (h) { print $2; exit } h = 1 }' /proc/net/snmp; }
in0=$(icmp_in)
read -r fticks0 _ _ < <(cpu_ticks)
fns0=$(sched_ns)
now; f0=$NOW
"$LAB" "$P" exec inet python3 "$ROOT/tests/lab/flood.py" $((DAEMON_PID & 0xfff0)) "$FLOOD_SECONDS" "$FLOOD_RATE" \
    192.0.2.2,192.0.2.10 >"$WORK/flood.out" 2>&1 &
FLOOD_PID=$!
flood_off=0 flood_polls=0
while kill -0 "$FLOOD_PID" 2>/dev/null; do
    flood_polls=$((flood_polls + 1))
    [ "$(lan_dev)" = wan1 ] || flood_off=$((flood_off + 1))
    nap 0.2
done
flood_rc=0
wait "$FLOOD_PID" || flood_rc=$?
read -r fticks1 _ _ < <(cpu_ticks)
fns1=$(sched_ns)
now; f1=$NOW
in1=$(icmp_in)
flood_wall=$((f1 - f0))
flood_tenths=$(((fticks1 - fticks0) * 1000 * 10 * 60000000 / clk_tck / flood_wall))
flood_sched_note=
if [ -n "$fns0" ] && [ -n "$fns1" ] && [ "$fns1" -gt 0 ]; then
    t=$(((fns1 - fns0) * 600 / flood_wall))
    flood_sched_note="schedstat gives $((t / 10)).$((t % 10)) ms per minute"
fi
flood_said=$(sed -n 's/^flood: //p' "$WORK/flood.out" | tail -n1)
[ "$flood_rc" = 0 ] && [ -n "$flood_said" ] || die "flood.py failed ($flood_rc): $(tail -n 5 "$WORK/flood.out")"
flood_changes=$(awk -v a="$f0" -v b="$f1" '$1 >= a && $1 <= b && (/ -> / || /traffic/)' "$WORK/flood.log" | wc -l)
flood_unchanged=no
[ "$flood_changes" = 0 ] && [ "$flood_off" = 0 ] && flood_unchanged=yes
daemon_stop
"$LAB" "$P" down
[ "$DAEMON_RC" = 0 ] || say "note: dualwan exited with $DAEMON_RC on SIGTERM after the flood run"
say "flood: $flood_said; $((in1 - in0)) ICMP messages reached rtr; $flood_changes transition line(s), $flood_off of $flood_polls polls off wan1"

# --- failover trials -----------------------------------------------------------

for kind in carrier upstream blackhole ipv6 balance; do
    for n in $(seq "$TRIALS"); do
        trial "$kind" "$n"
    done
done

# --- the table -------------------------------------------------------------------

# Columns are padded by characters (the table has arrows and check marks), so
# UTF-8 continuation bytes do not count.
pad() { # WIDTH TEXT [r]: left-aligned, or right-aligned with r
    local w=$1 s=$2 t
    t=${s//[$'\x80'-$'\xbf']/}
    local fill=$((w - ${#t}))
    [ "$fill" -gt 0 ] || fill=0
    if [ "${3:-}" = r ]; then printf '%*s%s' "$fill" '' "$s"; else printf '%s%*s' "$s" "$fill" ''; fi
}
ROWS=()
row() { ROWS+=("$1|$2|$3|$4|$5"); } # label median max target ok
mark() { if [ "$1" = 1 ]; then echo ✓; else echo ✗; fi; }

fault_row() { # kind label target_us target_text
    local kind=$1 med max ok
    if [ -z "${MOVE[$kind]:-}" ]; then
        row "$2" "fail" "fail" "$4" ✗
        return
    fi
    # shellcheck disable=SC2086 # word splitting of the value list is wanted
    read -r med max < <(stats ${MOVE[$kind]})
    ok=$(mark $((max <= $3 && ${FAILS[$kind]:-0} == 0)))
    local label=$2
    [ -z "${FAILS[$kind]:-}" ] || label+=" (${FAILS[$kind]} of $TRIALS failed)"
    row "$label" "$(ms "$med")" "$(ms "$max")" "$4" "$ok"
}
back_row() { # kind label
    local kind=$1 med max
    if [ -z "${BACK[$kind]:-}" ]; then
        row "$2" "fail" "fail" "—" ✗
        return
    fi
    # shellcheck disable=SC2086
    read -r med max < <(stats ${BACK[$kind]})
    row "$2" "$(secs "$med")" "$(secs "$max")" "—" ""
}

fault_row carrier "carrier loss → traffic moved" 100000 "≤ 100 ms"
fault_row upstream "silent upstream loss → traffic moved" 1500000 "≤ 1.5 s"
fault_row blackhole "gateway blackhole → traffic moved" 1500000 "≤ 1.5 s"
fault_row ipv6 "IPv6-only upstream loss → IPv6 moved" 1500000 "≤ 1.5 s"
fault_row balance "balance: silent upstream loss → WAN left group" 1500000 "≤ 1.5 s"
back_row carrier "carrier back → traffic back"
back_row upstream "upstream back → traffic back"
back_row blackhole "gateway back → traffic back"
back_row ipv6 "IPv6 back → IPv6 traffic back"
back_row balance "balance: upstream back → WAN rejoined"
row "CPU per minute (2 WANs × 3 targets)" "$((cpu_tenths / 10)).$((cpu_tenths % 10)) ms" "—" "≤ 20 ms" \
    "$(mark $((cpu_tenths <= 200)))"
row "CPU per minute under a $FLOOD_RATE pkt/s ICMP flood" "$((flood_tenths / 10)).$((flood_tenths % 10)) ms" "—" "—" ""
row "health decisions unchanged by that flood" "$flood_unchanged" "—" "yes" "$(mark "$([ "$flood_unchanged" = yes ] && echo 1)")"
# 2 MB read strictly: 2,000,000 bytes = 1953 KiB.
row "peak RSS (VmHWM) after that run" "$hwm_kb KiB" "—" "≤ 2 MB" "$(mark $((hwm_kb * 1024 <= 2000000)))"
bins=("$BIN")
for b in "$ROOT"/target/*/release/dualwan; do
    [ -f "$b" ] && [ "$b" != "$BIN" ] && bins+=("$b")
done
for b in "${bins[@]}"; do
    size=$(stat -c %s "$b")
    label="binary size ${b#"$ROOT"/}"
    grep -q '\.symtab' "$b" && label+=" (NOT stripped)"
    row "$label" "$((size / 1024)).$(((size % 1024) * 10 / 1024)) KiB" "—" "—" ""
done
if [ "$ALLOCS" = n/a ]; then
    row "heap allocations per probe round" "n/a" "—" "0" ""
else
    row "heap allocations per probe round" "$ALLOCS" "—" "0" "$(mark "$(awk -v a="$ALLOCS" 'BEGIN { print (a == 0) }')")"
fi

widths=(11 6 3 6 2)
headers=(measurement median max target ok)
for r in "${ROWS[@]}"; do
    IFS='|' read -r -a cells <<<"$r"
    for i in 0 1 2 3 4; do
        c=${cells[i]:-}
        t=${c//[$'\x80'-$'\xbf']/}
        [ "${#t}" -le "${widths[i]}" ] || widths[i]=${#t}
    done
done
line() { # cells...; numbers right-aligned
    printf '| %s | %s | %s | %s | %s |\n' "$(pad "${widths[0]}" "$1")" "$(pad "${widths[1]}" "$2" r)" \
        "$(pad "${widths[2]}" "$3" r)" "$(pad "${widths[3]}" "$4")" "$(pad "${widths[4]}" "$5")"
}
dashes() { printf '%*s' "$1" '' | tr ' ' -; }

echo
echo "dualwan bench: $TRIALS trials per fault, recovery_wait $RECOVERY_WAIT s, defaults otherwise (interval 0.2 s, timeout 0.5 s, down 4, up 3)"
echo
line "${headers[@]}"
printf '|-%s-|-%s:|-%s:|-%s-|-%s-|\n' "$(dashes "${widths[0]}")" "$(dashes "${widths[1]}")" \
    "$(dashes "${widths[2]}")" "$(dashes "${widths[3]}")" "$(dashes "${widths[4]}")"
for r in "${ROWS[@]}"; do
    IFS='|' read -r -a cells <<<"$r"
    line "${cells[0]}" "${cells[1]}" "${cells[2]}" "${cells[3]}" "${cells[4]:-}"
done
echo
echo "Fault times run from just before the lab.sh fault command to the daemon's \"traffic moved\" log line (±1 ms); ✓ means every trial met the target."
polled=
for kind in carrier upstream blackhole ipv6 balance; do
    [ -n "${MOVE_POLL[$kind]:-}" ] || continue
    # shellcheck disable=SC2086
    read -r med _ < <(stats ${MOVE_POLL[$kind]})
    # shellcheck disable=SC2086
    read -r cmd _ < <(stats ${CMD_US[$kind]})
    polled+="${polled:+; }$kind $(ms "$med") (fault command $(ms "$cmd"))"
done
[ -z "$polled" ] || echo "Cross-check, kernel route polled every 10 ms, medians: $polled."
echo "Recovery times run from the restore command to \"traffic moved\" back: up 3 rounds + recovery_wait $RECOVERY_WAIT s are in them."
echo "CPU: utime+stime from /proc/PID/stat over $((wall_us / 1000000)) s (user $((ut1 - ut0)), system $((st1 - st0)) ticks; CLK_TCK $clk_tck, one tick = $((1000 / clk_tck)) ms)${sched_note:+; $sched_note}; $log_quiet."
echo "  System time includes the kernel's work on each probe: in the lab a ping's whole path (veth, the ISP's and inet's forwarding and nftables) may run in the daemon's sendto()."
echo "Flood: $flood_said, $((in1 - in0)) ICMP messages reached the router in $((flood_wall / 1000000)) s; daemon utime+stime $((fticks1 - fticks0)) ticks${flood_sched_note:+; $flood_sched_note}; $flood_changes transition/traffic line(s) in the log, LAN traffic off wan1 in $flood_off of $flood_polls polls."
echo "  CPU figures are noisy: the machine's cores are shared with other work, and the sender and the kernel's receive path run beside the daemon."
echo "RSS at the end of that run: $rss_split (file pages are mostly the shared libc and the binary)."
[ -z "$alloc_note" ] || echo "Allocations: $alloc_note."
echo "Total bench time: $((SECONDS - START)) s on $(nproc) CPU(s), $(uname -r)."
