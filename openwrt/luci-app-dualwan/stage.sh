#!/bin/sh
# Lays out luci-app-dualwan as it goes on the router, for the project's .ipk builder
# (cross/ipk.sh), which does not use OpenWrt's luci.mk:
#
#   stage.sh DATADIR [CONTROLDIR]
#
# DATADIR receives the package's files under their installed paths (www/..., usr/...),
# files 0644 and folders 0755; pack it as data.tar.gz. With CONTROLDIR, also writes
# `control` (Package, Version, Depends: luci-base, dualwan; Architecture: all) and
# `postinst` (clears LuCI's caches and makes rpcd re-read the ACLs, as luci.mk's does),
# to pack as control.tar.gz. The version is the daemon's (Cargo.toml) unless VERSION is
# set; Installed-Size is the files' bytes. Nothing here depends on the time, the file
# system or who runs it. ipk-files.txt lists what DATADIR receives (a test keeps it true).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
data=${1:?usage: stage.sh DATADIR [CONTROLDIR]}
ctrl=${2:-}

mkdir -p "$data/www"
cp -R "$here/htdocs/." "$data/www/"
cp -R "$here/root/." "$data/"
find "$data" -type d -exec chmod 0755 {} +
find "$data" -type f -exec chmod 0644 {} +

if [ -n "$ctrl" ]; then
	version=${VERSION:-$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$here/../../Cargo.toml" | head -n 1)}
	size=$(find "$data" -type f -exec cat {} + | wc -c | tr -d ' ')
	mkdir -p "$ctrl"
	cat > "$ctrl/control" <<CONTROL
Package: luci-app-dualwan
Version: $version
Depends: luci-base, dualwan
Source: openwrt/luci-app-dualwan
SourceName: luci-app-dualwan
License: GPL-2.0-only
Section: luci
Architecture: all
Installed-Size: $size
Description: LuCI support for dualwan: live status of each WAN (state, reason, targets,
 history, RTT) under Status, and the dualwan settings under Network.
CONTROL
	cat > "$ctrl/postinst" <<'POSTINST'
#!/bin/sh
# New menu entries and ACLs take effect without a reboot.
[ -n "${IPKG_INSTROOT:-}" ] && exit 0
rm -f /tmp/luci-indexcache /tmp/luci-indexcache.*
rm -rf /tmp/luci-modulecache/
killall -HUP rpcd 2>/dev/null
exit 0
POSTINST
	chmod 0644 "$ctrl/control"
	chmod 0755 "$ctrl/postinst"
fi
