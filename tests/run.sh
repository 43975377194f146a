#!/usr/bin/env bash
# `make test`: every Rust test (unit, timelines, vectors, the real-kernel network-namespace
# tests, the real OpenWrt programs when ../shared/owrt is there), then the LuCI app's tests.
# A test that could not do its work is shown as "skipped: REASON" (tests/common/skip.rs), and
# the run ends with the number of skipped tests; with CI=true any skip fails the run.
#   bash tests/run.sh [ARGS FOR cargo test ...]
set -uo pipefail
cd "$(dirname "$0")/.."
export DUALWAN_SKIP_LOG
DUALWAN_SKIP_LOG=$(mktemp "${TMPDIR:-/tmp}/dualwan-skips.XXXXXX")
trap 'rm -f "$DUALWAN_SKIP_LOG"' EXIT
start=$SECONDS

${CARGO:-cargo} test --locked --all-targets "$@" 2>&1 | python3 -u tests/report.py rewrite "$DUALWAN_SKIP_LOG"
rust=${PIPESTATUS[0]}
bash tests/luci/run.sh
luci=$?

echo
echo "make test: $(( (SECONDS - start) / 60 )) min $(( (SECONDS - start) % 60 )) s;" \
	"Rust tests $([ $rust = 0 ] && echo passed || echo FAILED)," \
	"LuCI tests $([ $luci = 0 ] && echo passed || echo FAILED)"
python3 tests/report.py summary "$DUALWAN_SKIP_LOG"
skips=$?
[ $rust = 0 ] && [ $luci = 0 ] && [ $skips = 0 ]
