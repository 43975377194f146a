#!/usr/bin/env bash
# The luci-app-dualwan tests, one entry point for make/CI:
#   bash tests/luci/run.sh [NAME-FILTER]
# Installs what is missing (Debian's chromium, the npm dev tooling from package-lock.json),
# then runs static checks, page-logic tests on recorded replies and the headless Chromium
# page test. Prints one line per test and closes with "N passed, N failed"; exits non-zero
# on any failure. DUALWAN_SKIP_BROWSER=1 skips the Chromium part (and its installs).
#
# Screenshots of the status page at 1280 px and at 375 px (a phone), with a filled chart
# and a "Test now" result, are written to tests/luci/out/status-1280.png and
# tests/luci/out/status-375.png; regenerate just them with:
#   bash tests/luci/run.sh screenshots
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v node >/dev/null 2>&1; then
	echo "installing: nodejs npm"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi

if [ "${DUALWAN_SKIP_BROWSER:-}" != 1 ]; then
	if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
		echo "installing: chromium (Debian)"
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
	fi
	# playwright-core only drives the system Chromium; it never downloads a browser.
	export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
	if ! npm ls --silent playwright-core >/dev/null 2>&1; then
		echo "installing: npm ci (tests/luci)"
		npm ci --silent --no-audit --no-fund --ignore-scripts
	fi
fi

mkdir -p out
exec node run.js "$@"
