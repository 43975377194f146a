#!/usr/bin/env bash
# bench/bench.sh [BINARY]: measure dualwan in the netns lab and print one table.
#
#   BINARY        the dualwan to measure (default target/release/dualwan); built
#                 by the caller (make bench), never here
#   TRIALS        trials per fault kind (default 5)
#   CPU_SECONDS   length of the CPU/RSS run (default 60), read in windows of
#                 CPU_WINDOW seconds (default 10); the figure is the median window
#   RECOVERY_WAIT recovery_wait of the fault trials, seconds (default 10, the
#                 daemon's default)
#   FLOOD_SECONDS length of the ICMP flood run (default 30)
#   FLOOD_RATE    packets per second of that flood (default 10000)
#   LOSS_SECONDS  length of the run with 30 % random loss on both WANs (default
#                 600: the issue's "switches in 10 min")
#   SYSCALL_SECONDS length of the strace -c count after the CPU run (default 30;
#                 strace slows the daemon, so it is not part of the CPU figure)
#
# Needs root (network namespaces).  Progress goes to stderr, the table to stdout.
#
# How failover times are measured.  Each trial gets a fresh lab and a fresh
# daemon with default settings, waits until both WANs are online and traffic
# is on wan1, then 1 s, then until the daemon's probe grid (multiples of the
# interval since its start, known from its log stamps) is at a random phase within
# the Nth of TRIALS equal parts of the interval: stratified, so the trials cover
# the interval evenly and the median does not hang on the luck of five draws.
# The clock starts right before the lab.sh fault
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
CPU_WINDOW=${CPU_WINDOW:-10}
RECOVERY_WAIT=${RECOVERY_WAIT:-10}
FLOOD_SECONDS=${FLOOD_SECONDS:-30}
FLOOD_RATE=${FLOOD_RATE:-10000}
LOSS_SECONDS=${LOSS_SECONDS:-600}
SYSCALL_SECONDS=${SYSCALL_SECONDS:-30}

die() { echo "bench: $*" >&2; exit 1; }
say() { echo "[bench] $*" >&2; }

[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
[ -x "$BIN" ] || die "no executable $BIN (build first: cargo build --release)"
case $TRIALS in '' | *[!0-9]* | 0) die "TRIALS must be a positive integer" ;; esac
case $CPU_SECONDS in '' | *[!0-9]* | 0) die "CPU_SECONDS must be a positive integer" ;; esac
case $CPU_WINDOW in '' | *[!0-9]* | 0) die "CPU_WINDOW must be a positive integer" ;; esac
case $RECOVERY_WAIT in '' | *[!0-9]*) die "RECOVERY_WAIT must be whole seconds" ;; esac
case $FLOOD_SECONDS in '' | *[!0-9]* | 0) die "FLOOD_SECONDS must be a positive integer" ;; esac
case $FLOOD_RATE in '' | *[!0-9]* | 0) die "FLOOD_RATE must be a positive integer" ;; esac
case $LOSS_SECONDS in '' | *[!0-9]* | 0) die "LOSS_SECONDS must be a positive integer" ;; esac
case $SYSCALL_SECONDS in '' | *[!0-9]*) die "SYSCALL_SECONDS must be whole seconds (0: no count)" ;; esac
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

# nap_to_phase N: naps until the daemon's clock is at a random phase within the Nth of
# TRIALS equal parts of the interval.
nap_to_phase() {
    local n=$1 off phase target wait
    off=$(daemon_origin_us)
    now
    phase=$(((NOW - off) % INTERVAL_US))
    target=$((((n - 1) * 1000 + RANDOM % 1000) * INTERVAL_US / (TRIALS * 1000)))
    wait=$(((target - phase + INTERVAL_US) % INTERVAL_US))
    nap "$(printf '%d.%06d' $((wait / 1000000)) $((wait % 1000000)))"
}

CFG=$WORK/trial.conf
write_config "$CFG" "$RECOVERY_WAIT"
# The default interval in µs, as the daemon reads it (its effective config).
INTERVAL_US=$("$BIN" check -c "$CFG" | awk -F"'" '$1 ~ /option interval / { printf "%d", $2 * 1000000; exit }')
[ "${INTERVAL_US:-0}" -gt 0 ] || die "no interval in '$BIN check -c $CFG'"

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
        nap 1
        nap_to_phase "$n"
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
ctx_switches() { awk '/^voluntary_ctxt_switches:/ { print $2 }' "/proc/$DAEMON_PID/status"; }
read -r ticks0 ut0 st0 < <(cpu_ticks)
ns0=$(sched_ns)
cs0=$(ctx_switches)
now; c0=$NOW
# Windows: a burst of other work on the shared machine (a build, a cron job) lands in
# one or two of them, and the median leaves it out.
windows=() wns=$ns0 wc=$c0
for ((w = 0; w < CPU_SECONDS; w += CPU_WINDOW)); do
    nap "$((CPU_SECONDS - w < CPU_WINDOW ? CPU_SECONDS - w : CPU_WINDOW))"
    ns=$(sched_ns)
    now
    [ -z "$ns" ] || windows+=("$(((ns - wns) * 600 / (NOW - wc)))")
    wns=$ns wc=$NOW
done
read -r ticks1 ut1 st1 < <(cpu_ticks)
ns1=$(sched_ns)
cs1=$(ctx_switches)
now; c1=$NOW
hwm_kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$DAEMON_PID/status")
rss_split=$(awk '/^Rss(Anon|File):/ { printf "%s%s %s KiB", sep, $1, $2; sep = ", " }' "/proc/$DAEMON_PID/status")
wall_us=$((c1 - c0))
# CPU ms per minute, in tenths: ticks * 1000/CLK_TCK ms over wall_us.
tick_tenths=$(((ticks1 - ticks0) * 1000 * 10 * 60000000 / clk_tck / wall_us))
cpu_tenths=$tick_tenths cpu_source="utime+stime (ticks)"
sched_note=
if [ -n "$ns0" ] && [ -n "$ns1" ] && [ "$ns1" -gt 0 ]; then
    # schedstat counts nanoseconds on the CPU: the figure, where the kernel keeps it
    # (a tick is 10 ms, a quarter of the whole minute's budget).
    whole_tenths=$(((ns1 - ns0) * 600 / wall_us))
    read -r cpu_tenths whigh < <(stats "${windows[@]}")
    wlow=$(printf '%s\n' "${windows[@]}" | sort -n | head -n1)
    tenths() { echo "$(($1 / 10)).$(($1 % 10))"; }
    cpu_source="schedstat, the median of ${#windows[@]} windows of $CPU_WINDOW s (from $(tenths "$wlow") to $(tenths "$whigh"); the whole run $(tenths "$whole_tenths") ms per minute)"
    sched_note="utime+stime give $((tick_tenths / 10)).$((tick_tenths % 10)) ms per minute"
fi
user_ms=$(((ut1 - ut0) * 1000 / clk_tck)) sys_ms=$(((st1 - st0) * 1000 / clk_tck))
quiet_lines=$(awk -v a="$c0" -v b="$c1" '$1 >= a && $1 <= b { $1 = $2 = $3 = ""; sub(/^ +/, ""); print }' "$WORK/cpu.log")
log_quiet="no log lines in that run"
if [ -n "$quiet_lines" ]; then
    log_quiet="$(printf '%s\n' "$quiet_lines" | wc -l | tr -d ' ') log line(s) in that run, e.g. \"$(printf '%s\n' "$quiet_lines" | head -n1)\""
fi
wakeups_tenths=$(((cs1 - cs0) * 10000000 / wall_us))
# User and system shares: ticks are 10 ms, a quarter of the minute's budget, so where
# perf is there its cpu-clock samples of the daemon (taken only while it runs) split
# the figure instead.
split_row="$user_ms / $sys_ms ms" split_note="user/system from /proc/PID/stat ticks"
if [ "$SYSCALL_SECONDS" -gt 0 ] && command -v perf >/dev/null 2>&1; then
    say "user/system split: perf record for $SYSCALL_SECONDS s"
    perf record -q -F 25000 -e cpu-clock -o "$WORK/perf.data" -p "$DAEMON_PID" -- sleep "$SYSCALL_SECONDS" >/dev/null 2>&1 || true
    read -r pu pk < <(perf script -i "$WORK/perf.data" -F ip 2>/dev/null |
        awk '{ if ($1 ~ /^ffff/) k++; else u++ } END { print u + 0, k + 0 }')
    if [ "$((pu + pk))" -gt 100 ]; then
        ut=$((cpu_tenths * pu / (pu + pk)))
        split_row="$((ut / 10)).$((ut % 10)) / $(((cpu_tenths - ut) / 10)).$(((cpu_tenths - ut) % 10)) ms"
        split_note="user/system split by $((pu + pk)) perf cpu-clock samples ($((pu * 100 / (pu + pk))) % user)"
    fi
fi
# System calls per second: strace -c on the same daemon afterwards (ptrace slows every
# call, so this window is not the CPU figure's).
syscalls_note="not counted (no strace)"
syscalls_per_s=n/a
if [ "$SYSCALL_SECONDS" -gt 0 ] && command -v strace >/dev/null 2>&1; then
    say "system calls: strace -c for $SYSCALL_SECONDS s"
    strace -c -f -p "$DAEMON_PID" -o "$WORK/strace.txt" 2>/dev/null &
    STRACE_PID=$!
    nap "$SYSCALL_SECONDS"
    kill -INT "$STRACE_PID" 2>/dev/null || true
    wait "$STRACE_PID" 2>/dev/null || true
    if [ -s "$WORK/strace.txt" ]; then
        # Rows: % time, seconds, usecs/call, calls, [errors], syscall; the last is "total".
        read -r calls top < <(awk -v s="$SYSCALL_SECONDS" '
            $1 ~ /^[0-9.]+$/ && $NF == "total" { total = $4 }
            $1 ~ /^[0-9.]+$/ && $NF != "total" { out = out sprintf("%s%s %.1f/s", (out ? ", " : ""), $NF, $4 / s) }
            END { printf "%.1f %s\n", total / s, out }' "$WORK/strace.txt")
        syscalls_per_s=$calls
        syscalls_note="$calls system calls per second over $SYSCALL_SECONDS s of strace -c ($top)"
    fi
fi
daemon_stop
"$LAB" "$P" down
[ "$DAEMON_RC" = 0 ] || say "note: dualwan exited with $DAEMON_RC on SIGTERM after the CPU run"

# --- memory of the static musl build: what a router runs --------------------------

# The glibc test build's RSS is mostly glibc's shared pages; a router runs the static musl
# binary (make bench builds the x86_64 one with cross/build.sh).
MUSL_BIN=$ROOT/target/x86_64-unknown-linux-musl/release/dualwan
musl_hwm_kb= musl_split="not measured: no $MUSL_BIN (bash cross/build.sh x86_64-unknown-linux-musl)"
if [ -x "$MUSL_BIN" ]; then
    say "memory: the static musl build, 20 s"
    "$LAB" "$P" up
    daemon_start "$MUSL_BIN" "$WORK/cpu.conf" "$WORK/musl.log"
    wait_ready 5 || die "static build not ready within 5 s: $(cut -d' ' -f2- "$WORK/musl.log" | tail -n 5)"
    nap 20
    musl_hwm_kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$DAEMON_PID/status")
    musl_split=$(awk '/^Rss(Anon|File):/ { printf "%s%s %s KiB", sep, $1, $2; sep = ", " }' "/proc/$DAEMON_PID/status")
    daemon_stop
    "$LAB" "$P" down
fi

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

# --- 30 % random loss on both WANs ---------------------------------------------
#
# The lab's `loss N 30` (nftables numgen random, ISP N drops 30 % of what it forwards
# to the router: the targets' answers, not the gateway's) on both WANs for
# LOSS_SECONDS, default settings but log_level debug so that every confirmation
# (a lost probe starting the `down` rounds) is logged and counted. A switch is a
# "traffic moved" line; LAN traffic is also polled every second.

say "loss: $LOSS_SECONDS s of 30 % random loss on both WANs, default settings"
write_config "$WORK/loss.conf"
sed -i "0,/option enabled '1'/s//option enabled '1'\n\toption log_level 'debug'/" "$WORK/loss.conf"
"$LAB" "$P" up
daemon_start "$BIN" "$WORK/loss.conf" "$WORK/loss.log"
wait_ready 5 || die "daemon not ready within 5 s: $(cut -d' ' -f2- "$WORK/loss.log" | tail -n 5)"
"$LAB" "$P" loss 1 30
"$LAB" "$P" loss 2 30
read -r lticks0 _ _ < <(cpu_ticks)
lns0=$(sched_ns)
now; l0=$NOW
loss_off=0 loss_polls=0 next_say=60
while now; [ $((NOW - l0)) -lt $((LOSS_SECONDS * 1000000)) ]; do
    loss_polls=$((loss_polls + 1))
    [ "$(lan_dev)" = wan1 ] || loss_off=$((loss_off + 1))
    if [ $(((NOW - l0) / 1000000)) -ge "$next_say" ]; then
        say "loss: $next_say s of $LOSS_SECONDS, $(grep -c 'traffic moved' "$WORK/loss.log" || true) switch(es) so far"
        next_say=$((next_say + 60))
    fi
    nap 1
done
now; l1=$NOW
read -r lticks1 _ _ < <(cpu_ticks)
lns1=$(sched_ns)
in_window() { awk -v a="$l0" -v b="$l1" -v re="$1" '$1 >= a && $1 <= b && $0 ~ re' "$WORK/loss.log" | wc -l; }
loss_switches=$(in_window 'traffic moved')
loss_offline=$(in_window ' -> offline')
loss_confirms=$(in_window 'a probe went unanswered: confirming')
loss_cpu=$(((lticks1 - lticks0) * 1000 * 60000000 / clk_tck / (l1 - l0)))
if [ -n "$lns0" ] && [ -n "$lns1" ] && [ "$lns1" -gt 0 ]; then
    loss_cpu=$(((lns1 - lns0) * 60 / (l1 - l0)))
fi
daemon_stop
"$LAB" "$P" down
[ "$DAEMON_RC" = 0 ] || say "note: dualwan exited with $DAEMON_RC on SIGTERM after the loss run"
say "loss: $loss_switches switch(es), $loss_offline offline transition(s), $loss_confirms confirmations, LAN off wan1 in $loss_off of $loss_polls polls"

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

fault_row() { # kind label median_target_us max_target_us target_text
    local kind=$1 med max ok
    if [ -z "${MOVE[$kind]:-}" ]; then
        row "$2" "fail" "fail" "$5" ✗
        return
    fi
    # shellcheck disable=SC2086 # word splitting of the value list is wanted
    read -r med max < <(stats ${MOVE[$kind]})
    ok=$(mark $((med <= $3 && max <= $4 && ${FAILS[$kind]:-0} == 0)))
    local label=$2
    [ -z "${FAILS[$kind]:-}" ] || label+=" (${FAILS[$kind]} of $TRIALS failed)"
    row "$label" "$(ms "$med")" "$(ms "$max")" "$5" "$ok"
}
back_row() { # kind label [median_target_us target_text]: the target is recovery_wait + more
    local kind=$1 med max
    if [ -z "${BACK[$kind]:-}" ]; then
        row "$2" "fail" "fail" "${4:-—}" ✗
        return
    fi
    # shellcheck disable=SC2086
    read -r med max < <(stats ${BACK[$kind]})
    if [ -n "${3:-}" ]; then
        row "$2" "$(secs "$med")" "$(secs "$max")" "$4" "$(mark $((med <= RECOVERY_WAIT * 1000000 + $3)))"
    else
        row "$2" "$(secs "$med")" "$(secs "$max")" "—" ""
    fi
}

fault_row carrier "carrier loss → traffic moved" 50000 50000 "≤ 50 ms"
fault_row upstream "silent upstream loss → traffic moved" 500000 700000 "≤ 500 ms (max ≤ 700)"
fault_row blackhole "gateway blackhole → traffic moved" 500000 700000 "≤ 500 ms (max ≤ 700)"
fault_row ipv6 "IPv6-only upstream loss → IPv6 moved" 500000 700000 "≤ 500 ms (max ≤ 700)"
fault_row balance "balance: silent upstream loss → WAN left group" 500000 700000 "≤ 500 ms (max ≤ 700)"
back_row carrier "carrier back → traffic back"
back_row upstream "upstream back → traffic back (failback)" 1000000 "recovery_wait + ≤ 1 s"
back_row blackhole "gateway back → traffic back (failback)" 1000000 "recovery_wait + ≤ 1 s"
back_row ipv6 "IPv6 back → IPv6 traffic back"
back_row balance "balance: upstream back → WAN rejoined"
loss_span="$LOSS_SECONDS s"
[ $((LOSS_SECONDS % 60)) != 0 ] || loss_span="$((LOSS_SECONDS / 60)) min"
row "switches in $loss_span at 30 % random loss (both WANs)" "$loss_switches" "—" "0" \
    "$(mark $((loss_switches == 0 && loss_off == 0)))"
row "idle CPU per minute (2 WANs × 3 targets)" "$((cpu_tenths / 10)).$((cpu_tenths % 10)) ms" "—" "≤ 40 ms" \
    "$(mark $((cpu_tenths <= 400)))"
row "  of which user / system" "$split_row" "—" "—" ""
row "  wake-ups (sleeps in poll) per second" "$((wakeups_tenths / 10)).$((wakeups_tenths % 10))" "—" "—" ""
row "  system calls per second (strace -c)" "$syscalls_per_s" "—" "—" ""
row "CPU per minute at 30 % loss (both WANs)" "$loss_cpu ms" "—" "—" ""
row "CPU per minute under a $FLOOD_RATE pkt/s ICMP flood" "$((flood_tenths / 10)).$((flood_tenths % 10)) ms" "—" "—" ""
row "health decisions unchanged by that flood" "$flood_unchanged" "—" "yes" "$(mark "$([ "$flood_unchanged" = yes ] && echo 1)")"
# 2 MB read strictly: 2,000,000 bytes = 1953 KiB.
if [ -n "$musl_hwm_kb" ]; then
    row "peak RSS (VmHWM), static musl build" "$musl_hwm_kb KiB" "—" "≤ 2 MB" "$(mark $((musl_hwm_kb * 1024 <= 2000000)))"
else
    row "peak RSS (VmHWM), static musl build" "n/a" "—" "≤ 2 MB" ""
fi
row "  the glibc test build, after the CPU run" "$hwm_kb KiB" "—" "—" ""
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
echo "dualwan bench: $TRIALS trials per fault, recovery_wait $RECOVERY_WAIT s, defaults otherwise (interval 0.4 s, timeout 0.5 s, down 4, up 3)"
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
echo "Failback: from the restore command to \"traffic moved\" back; ✓ when the median is within recovery_wait + 1 s."
echo "Loss: $LOSS_SECONDS s of 30 % random loss on both WANs' answers: $loss_switches switch(es), $loss_offline offline transition(s), LAN traffic off wan1 in $loss_off of $loss_polls polls; $loss_confirms confirmations (a lost probe starting the 4 rounds), each failing with 0.3^12 ≈ 5·10⁻⁷ (README, Why these defaults)."
echo "CPU: $cpu_source over $((wall_us / 1000000)) s; user $((ut1 - ut0)), system $((st1 - st0)) ticks from /proc/PID/stat (CLK_TCK $clk_tck, one tick = $((1000 / clk_tck)) ms)${sched_note:+; $sched_note}; $split_note; $((cs1 - cs0)) sleeps in poll; $syscalls_note; $log_quiet."
echo "  System time includes the kernel's work on each probe: in the lab a ping's whole path (veth, the ISP's and inet's forwarding and nftables) may run in the daemon's sendto()."
echo "Flood: $flood_said, $((in1 - in0)) ICMP messages reached the router in $((flood_wall / 1000000)) s; daemon utime+stime $((fticks1 - fticks0)) ticks${flood_sched_note:+; $flood_sched_note}; $flood_changes transition/traffic line(s) in the log, LAN traffic off wan1 in $flood_off of $flood_polls polls."
echo "  CPU figures are noisy: the machine's cores are shared with other work, and the sender and the kernel's receive path run beside the daemon."
echo "RSS: the static musl build ${MUSL_BIN#"$ROOT"/} after 20 s: $musl_split; the glibc test build at the end of the CPU run: $rss_split (its file pages are mostly the shared glibc)."
[ -z "$alloc_note" ] || echo "Allocations: $alloc_note."
echo "Total bench time: $((SECONDS - START)) s on $(nproc) CPU(s), $(uname -r)."
