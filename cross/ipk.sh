#!/usr/bin/env bash
# cross/ipk.sh [TARGET...|luci|all]: OpenWrt .ipk packages of the cross builds and of the
# LuCI app, without an SDK.
#
#   TARGET   a Rust target triple (see cross/build.sh), `luci` (luci-app-dualwan, for every
#            architecture), or `all` (the default: every target and luci); a target's
#            binary target/TARGET/release/dualwan must exist (cross/build.sh TARGET).
#   DIST     output directory (default dist/)
#   SOURCE_DATE_EPOCH  timestamp of every file in the package (default: the time of the
#            last commit), so that two builds of one commit give identical bytes
#
# Writes DIST/dualwan_<version>-r<release>_<arch>.ipk in the format OpenWrt's
# scripts/ipkg-build writes: a gzip'd tar (not an `ar` archive as on Debian) of
# ./debian-binary, ./data.tar.gz and ./control.tar.gz in that order; GNU tar format,
# numeric owners (0/0), names sorted, one fixed mtime, gzip without name or time.
# Version, release, license, maintainer, URL and description come from the feed's Makefile
# (openwrt/net/dualwan/Makefile) and the installed files from openwrt/files, the same
# ones the SDK package installs.
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FEED_MAKEFILE=$ROOT/openwrt/net/dualwan/Makefile
FILES=$ROOT/openwrt/files
DIST=${DIST:-$ROOT/dist}

die() { echo "cross/ipk.sh: $*" >&2; exit 1; }

# The targets (ALL) and their OpenWrt architectures (arch_of).
# shellcheck source=cross/targets.sh
. "$ROOT/cross/targets.sh"

# make variable NAME from the feed Makefile (`NAME:=value`).
feed_var() {
    sed -n "s/^$1:=//p" "$FEED_MAKEFILE" | head -n1
}

PKG_VERSION=$(feed_var PKG_VERSION)
PKG_RELEASE=$(feed_var PKG_RELEASE)
PKG_LICENSE=$(feed_var PKG_LICENSE)
PKG_MAINTAINER=$(feed_var PKG_MAINTAINER)
URL=$(sed -n 's/^[[:space:]]*URL:=//p' "$FEED_MAKEFILE" | head -n1)
if [ -z "$PKG_VERSION" ] || [ -z "$PKG_RELEASE" ]; then die "no PKG_VERSION/PKG_RELEASE in $FEED_MAKEFILE"; fi
CRATE_VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$ROOT/Cargo.toml" | head -n1)
[ "$PKG_VERSION" = "$CRATE_VERSION" ] ||
    die "PKG_VERSION $PKG_VERSION in $FEED_MAKEFILE differs from Cargo.toml's $CRATE_VERSION"
VERSION=$PKG_VERSION-r$PKG_RELEASE
# The description's lines, each with one leading space, as package-pack.mk writes them.
DESCRIPTION=$(sed -n '/^define Package\/dualwan\/description$/,/^endef$/p' "$FEED_MAKEFILE" |
    sed '1d;$d' | sed 's/^[[:space:]]*/ /')
[ -n "$DESCRIPTION" ] || die "no description in $FEED_MAKEFILE"

if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    SOURCE_DATE_EPOCH=$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || true)
    [ -n "$SOURCE_DATE_EPOCH" ] || SOURCE_DATE_EPOCH=$(stat -c %Y "$FEED_MAKEFILE")
fi

# tar exactly as ipkg-build runs it (plus explicit owners: we are not under fakeroot).
tar_gz() {
    tar --format=gnu --numeric-owner --owner=0 --group=0 --sort=name \
        --mtime="@$SOURCE_DATE_EPOCH" -cf - "$@" | gzip -n
}

package() {
    local target=$1 arch bin work
    arch=$(arch_of "$target") || die "unknown target '$target'"
    bin=$ROOT/target/$target/release/dualwan
    [ -x "$bin" ] || die "no $bin: build it first (cross/build.sh $target)"
    work=$(mktemp -d "${TMPDIR:-/tmp}/dualwan-ipk.XXXXXX")
    # shellcheck disable=SC2064
    trap "rm -rf '$work'" RETURN

    # --- data: what lands on the router ---
    local d=$work/data
    install -d -m 0755 "$d/usr/sbin" "$d/etc/init.d" "$d/etc/config" "$d/etc/capabilities" \
        "$d/etc/hotplug.d/dualwan" "$d/usr/share/acl.d"
    install -m 0755 "$bin" "$d/usr/sbin/dualwan"
    install -m 0755 "$FILES/dualwan.init" "$d/etc/init.d/dualwan"
    install -m 0600 "$FILES/dualwan.config" "$d/etc/config/dualwan" # INSTALL_CONF
    install -m 0644 "$FILES/dualwan.capabilities.json" "$d/etc/capabilities/dualwan.json"
    install -m 0644 "$FILES/dualwan.acl.json" "$d/usr/share/acl.d/dualwan.json"
    install -m 0644 "$FILES/hotplug.README" "$d/etc/hotplug.d/dualwan/README"
    chmod 0755 "$d"
    (cd "$d" && tar_gz .) >"$work/data.tar.gz"

    # --- control: metadata and the maintainer scripts ---
    local c=$work/CONTROL installed_size
    install -d -m 0755 "$c"
    installed_size=$(gzip -dc "$work/data.tar.gz" | wc -c)
    {
        echo "Package: dualwan"
        echo "Version: $VERSION"
        echo "Depends: libc, kmod-nf-conntrack-netlink"
        echo "Source: feeds/dualwan/net/dualwan"
        echo "SourceName: dualwan"
        echo "License: $PKG_LICENSE"
        echo "Section: net"
        echo "Require-User: dualwan:dualwan"
        echo "SourceDateEpoch: $SOURCE_DATE_EPOCH"
        [ -z "$URL" ] || echo "URL: $URL"
        echo "Maintainer: $PKG_MAINTAINER"
        echo "Architecture: $arch"
        echo "Installed-Size: $installed_size"
        printf 'Description: %s\n' "$DESCRIPTION"
    } >"$c/control"
    echo "/etc/config/dualwan" >"$c/conffiles"
    # OpenWrt's own scripts: default_postinst creates the user, enables and starts the
    # service (only on a first install, not on upgrade: then it restarts it);
    # default_prerm stops and disables it.
    cat >"$c/postinst" <<'EOF'
#!/bin/sh
[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0
[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0
. ${IPKG_INSTROOT}/lib/functions.sh
default_postinst $0 $@
EOF
    cat >"$c/prerm" <<'EOF'
#!/bin/sh
[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0
. ${IPKG_INSTROOT}/lib/functions.sh
default_prerm $0 $@
EOF
    chmod 0644 "$c/control" "$c/conffiles"
    chmod 0755 "$c/postinst" "$c/prerm"
    (cd "$c" && tar_gz .) >"$work/control.tar.gz"

    # --- the package ---
    echo "2.0" >"$work/debian-binary"
    chmod 0644 "$work/debian-binary" "$work/data.tar.gz" "$work/control.tar.gz"
    mkdir -p "$DIST"
    local out=$DIST/dualwan_${VERSION}_$arch.ipk
    (cd "$work" && tar_gz ./debian-binary ./data.tar.gz ./control.tar.gz) >"$out.tmp"
    mv "$out.tmp" "$out"
    echo "$out"
}

# luci-app-dualwan_<version>_all.ipk: the files and control that the app's stage.sh lays
# out, packed the same way.
package_luci() {
    local work
    work=$(mktemp -d "${TMPDIR:-/tmp}/dualwan-luci-ipk.XXXXXX")
    # shellcheck disable=SC2064
    trap "rm -rf '$work'" RETURN
    VERSION=$PKG_VERSION sh "$ROOT/openwrt/luci-app-dualwan/stage.sh" "$work/data" "$work/CONTROL"
    chmod 0755 "$work/data" "$work/CONTROL"
    (cd "$work/data" && tar_gz .) >"$work/data.tar.gz"
    (cd "$work/CONTROL" && tar_gz .) >"$work/control.tar.gz"
    echo "2.0" >"$work/debian-binary"
    chmod 0644 "$work/debian-binary" "$work/data.tar.gz" "$work/control.tar.gz"
    mkdir -p "$DIST"
    local out=$DIST/luci-app-dualwan_${PKG_VERSION}_all.ipk
    (cd "$work" && tar_gz ./debian-binary ./data.tar.gz ./control.tar.gz) >"$out.tmp"
    mv "$out.tmp" "$out"
    echo "$out"
}

[ $# -gt 0 ] || set -- all
for t in "$@"; do
    case $t in
        all)
            for a in $ALL; do package "$a"; done
            package_luci
            ;;
        luci) package_luci ;;
        *) package "$t" ;;
    esac
done
