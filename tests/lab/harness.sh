# shellcheck shell=bash
# Shared by tests/lab/demo.sh and bench/bench.sh (sourced, not run): start
# dualwan inside a lab's router namespace with a timestamped log, wait for
# what it says or does, and tidy up.
#
# Times are microseconds from bash's $EPOCHREALTIME (CLOCK_REALTIME).  The
# daemon stamps its log lines with CLOCK_MONOTONIC since its own start; NTP
# slews both clocks alike, so they differ by a constant offset unless the wall
# clock is stepped during a run.  See log_event_us for the conversion.
#
# Callers set LAB (path of lab.sh), P (lab prefix) and WORK (a temp dir), and
# call harness_cleanup from their EXIT trap.

if [ -z "${BASH_VERSINFO:-}" ] || [ "${BASH_VERSINFO[0]}" -lt 5 ]; then
    echo "needs bash 5 or newer (for \$EPOCHREALTIME)" >&2
    exit 1
fi

DAEMON_PID=
READER_PID=
# shellcheck disable=SC2034 # read by the scripts that source this file
DAEMON_RC=
DAEMON_LOG=
NAP_FD=

# NOW = current time in microseconds.
now() { NOW=${EPOCHREALTIME//[!0-9]/}; }

# Sleeps without forking sleep(1): a read with a timeout on a FIFO nobody writes.
nap() {
    if [ -z "$NAP_FD" ]; then
        mkfifo "$WORK/nap"
        exec {NAP_FD}<>"$WORK/nap"
    fi
    read -r -t "$1" -u "$NAP_FD" _ || true
}

# ms with one decimal from microseconds, e.g. 1234567 -> 1234.6
us_to_ms() { printf '%d.%d' $(($1 / 1000)) $((($1 % 1000) / 100)); }

# write_config FILE [RECOVERY_WAIT [ipv6]]: the lab's two WANs, three targets each
# (and three IPv6 ones with "ipv6", for a lab built with DWLAB_IPV6=1), every
# other option at its default.
write_config() {
    local file=$1 rw=${2:-} v6=${3:-} n
    {
        printf "config globals 'globals'\n\toption enabled '1'\n"
        for n in 1 2; do
            printf "\nconfig interface 'wan%s'\n\toption device 'wan%s'\n\toption metric '%s0'\n" "$n" "$n" "$n"
            printf "\tlist track_ip '203.0.113.%s'\n" 1 2 3
            [ -z "$v6" ] || printf "\tlist track_ip '2001:db8:f::%s'\n" 1 2 3
            [ -z "$rw" ] || printf "\toption recovery_wait '%s'\n" "$rw"
        done
    } >"$file"
}

# daemon_start BIN CFG LOG [PREFIX_FOR_TERMINAL]
# Runs `BIN run -c CFG --log stderr` in $P-rtr (with `--ubus-socket
# $DAEMON_UBUS_SOCKET` when that is set).  Every stderr line goes to LOG
# as "RECEIVED_US LINE"; with a prefix it is echoed as well, to stderr or to
# the fd in DAEMON_ECHO_FD.
# Sets DAEMON_PID (the daemon itself: lab.sh and ip netns exec both exec).
daemon_start() {
    local bin=$1 cfg=$2 echo_prefix=${4:-}
    DAEMON_LOG=$3
    : >"$DAEMON_LOG"
    rm -f "$WORK/stderr.fifo"
    mkfifo "$WORK/stderr.fifo"
    (
        trap '' INT
        local line
        while IFS= read -r line; do
            printf '%s %s\n' "${EPOCHREALTIME//[!0-9]/}" "$line" >>"$DAEMON_LOG"
            [ -z "$echo_prefix" ] || printf '%s%s\n' "$echo_prefix" "$line" >&"${DAEMON_ECHO_FD:-2}"
        done
    ) <"$WORK/stderr.fifo" &
    READER_PID=$!
    "$LAB" "$P" exec rtr "$bin" run -c "$cfg" --log stderr ${DAEMON_UBUS_SOCKET:+--ubus-socket "$DAEMON_UBUS_SOCKET"} \
        2>"$WORK/stderr.fifo" </dev/null &
    DAEMON_PID=$!
    DAEMON_RC=
}

# log_has ERE: does the log have a matching line?
log_has() { grep -Eq -- "$1" "$DAEMON_LOG"; }

# wait_log ERE TIMEOUT_S: waits for a matching log line; fails on timeout or
# when the daemon has exited.
wait_log() {
    local deadline
    now
    deadline=$((NOW + ${2%.*} * 1000000))
    while ! log_has "$1"; do
        now
        [ "$NOW" -lt "$deadline" ] || return 1
        kill -0 "$DAEMON_PID" 2>/dev/null || { nap 0.1; log_has "$1"; return; }
        nap 0.01
    done
}

# Waits for the daemon to report both WANs online and traffic on wan1.
wait_ready() {
    wait_log 'traffic on wan1' "$1" &&
        wait_log 'wan1: .*-> online' "$1" && wait_log 'wan2: .*-> online' "$1"
}

# log_event_us ERE [SINCE_US]: when the first matching line (written at or
# after SINCE_US) was written, in our clock (microseconds), or nothing.  The
# daemon's first field is milliseconds (truncated) since its start on its
# monotonic clock; every line was received here (and stamped) a little after it
# was written, so the smallest "received - logged" over all lines is the offset
# between the two clocks, to about +-1 ms (the truncation plus the quickest
# pipe hop, some microseconds).
log_event_us() {
    awk -v re="$1" -v since="${2:-0}" '
        function logged(s,   p) { p = index(s, "."); return substr(s, 1, p - 1) * 1000000 + substr(s, p + 1) * 1000 }
        $2 ~ /^[0-9]+\.[0-9][0-9][0-9]$/ {
            d = $1 - logged($2)
            if (!seen || d < off) { off = d; seen = 1 }
            if ($0 ~ re) { at[++n] = logged($2) }
        }
        END {
            # A line is stamped up to 1 ms early (truncation): allow for it.
            for (i = 1; i <= n; i++) if (at[i] + off + 1000 >= since) { printf "%.0f\n", at[i] + off; exit }
        }
    ' "$DAEMON_LOG"
}

# daemon_origin_us: the daemon's clock origin (its start) on our clock: its log stamps
# are ms since then, so the smallest (received - logged) over its lines so far.
daemon_origin_us() {
    awk '
        $2 ~ /^[0-9]+\.[0-9][0-9][0-9]$/ {
            p = index($2, "."); d = $1 - (substr($2, 1, p - 1) * 1000000 + substr($2, p + 1) * 1000)
            if (!seen || d < off) { off = d; seen = 1 }
        }
        END { printf "%.0f\n", off }
    ' "$DAEMON_LOG"
}

# SIGTERM, then wait (SIGKILL after 5 s).  Sets DAEMON_RC.
# shellcheck disable=SC2034 # DAEMON_RC is for the scripts that source this file
daemon_stop() {
    [ -n "$DAEMON_PID" ] || return 0
    kill -TERM "$DAEMON_PID" 2>/dev/null || true
    for _ in $(seq 250); do
        kill -0 "$DAEMON_PID" 2>/dev/null || break
        nap 0.02
    done
    if kill -0 "$DAEMON_PID" 2>/dev/null; then
        echo "dualwan did not stop within 5 s of SIGTERM; killing it" >&2
        kill -KILL "$DAEMON_PID" 2>/dev/null || true
    fi
    DAEMON_RC=0
    wait "$DAEMON_PID" || DAEMON_RC=$?
    DAEMON_PID=
    [ -z "$READER_PID" ] || wait "$READER_PID" 2>/dev/null || true
    READER_PID=
}

# The device LAN traffic to 203.0.113.50 leaves by (wan1, wan2 or none): the
# forwarding lookup of `lab.sh lan-active`, with ip(8) called directly since a
# lab.sh call costs ~7 ms and this is polled.
lan_dev() {
    local out
    out=$(ip -n "$P-rtr" -4 route get 203.0.113.50 from 192.0.2.130 iif lan0 2>/dev/null) || true
    case $out in
        *" dev wan1 "* | *" dev wan1") echo wan1 ;;
        *" dev wan2 "* | *" dev wan2") echo wan2 ;;
        *) echo none ;;
    esac
}

# wait_dev DEV TIMEOUT_S POLL_S: polls lan_dev (or the function named in
# WAIT_DEV) until it says DEV; sets NOW to the time of the first poll that saw
# it.  Fails on timeout.
wait_dev() {
    local deadline dev
    now
    deadline=$((NOW + ${2%.*} * 1000000))
    while :; do
        dev=$(${WAIT_DEV:-lan_dev})
        now
        [ "$dev" != "$1" ] || return 0
        [ "$NOW" -lt "$deadline" ] || return 1
        nap "$3"
    done
}

harness_cleanup() {
    if [ -n "$DAEMON_PID" ]; then
        kill -TERM "$DAEMON_PID" 2>/dev/null || true
        nap 0.5 2>/dev/null || sleep 0.5
        kill -KILL "$DAEMON_PID" 2>/dev/null || true
        wait "$DAEMON_PID" 2>/dev/null || true
        DAEMON_PID=
    fi
    [ -z "${P:-}" ] || "$LAB" "$P" down >/dev/null 2>&1 || true
    if [ -n "$READER_PID" ]; then
        kill "$READER_PID" 2>/dev/null || true
        wait "$READER_PID" 2>/dev/null || true
        READER_PID=
    fi
    [ -z "$NAP_FD" ] || exec {NAP_FD}>&-
    [ -z "${WORK:-}" ] || rm -rf "$WORK"
}
