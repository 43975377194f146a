#!/usr/bin/env bash
# cross/apk.sh [TARGET...|luci|all]: OpenWrt 25.12 packages (apk-tools 3 `.apk`) of the
# cross builds and of the LuCI app, without an SDK.
#
#   TARGET   a Rust target triple (see cross/build.sh), `luci` (luci-app-dualwan, noarch),
#            or `all` (the default: every target and luci); a target's binary
#            target/TARGET/release/dualwan must exist (cross/build.sh TARGET).
#   DIST     output directory (default dist/): DIST/apk/<arch>/dualwan-<version>.apk and
#            DIST/apk/noarch/luci-app-dualwan-<version>.apk. OpenWrt's file names carry no
#            architecture, hence a folder per architecture, as in the SDK's bin/packages/.
#   SOURCE_DATE_EPOCH  every file's mtime (default: the time of the last commit), so that
#            two builds of one commit give identical bytes
#   PKG_RELEASE  overrides the feed Makefile's (tests build a higher release to upgrade to)
#   APK_MKPKG    the packer (default `python3 cross/apk.py mkpkg`); the real `apk mkpkg`
#            takes the same options and, run as root, writes the same bytes
#
# Stages each package the way OpenWrt's include/package-pack.mk does with CONFIG_USE_APK:
# the files Package/<pkg>/install puts in IDIR, `lib/apk/packages/<pkg>.rusers` (USERID),
# `<pkg>.list` (every file and symlink, sorted; taken before the conffiles files exist),
# `<pkg>.conffiles` and `<pkg>.conffiles_static` (each conffile with its sha256), and the
# post-install, post-upgrade and pre-deinstall scripts it generates; then runs mkpkg with
# the --info fields it passes. Version, release, license, maintainer, URL, description and
# dependencies are read from openwrt/net/dualwan/Makefile, the files from openwrt/files:
# the SDK's package and this one install the same things.
set -euo pipefail
export LC_ALL=C
umask 022

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FEED_MAKEFILE=$ROOT/openwrt/net/dualwan/Makefile
LUCI_MAKEFILE=$ROOT/openwrt/luci-app-dualwan/Makefile
FILES=$ROOT/openwrt/files
DIST=${DIST:-$ROOT/dist}
APK_MKPKG=${APK_MKPKG:-python3 $ROOT/cross/apk.py mkpkg}

die() { echo "cross/apk.sh: $*" >&2; exit 1; }

# The targets (ALL) and their OpenWrt architectures (arch_of).
# shellcheck source=cross/targets.sh
. "$ROOT/cross/targets.sh"

# make variable NAME (`NAME:=value`, optionally indented) from Makefile $2.
make_var() {
    sed -n "s/^[[:space:]]*$1:=//p" "$2" | head -n1
}
# The text of `define NAME` ... `endef` as make's $(strip) leaves it: one line.
make_define() {
    sed -n "\#^define $1\$#,\#^endef\$#p" "$2" | sed '1d;$d' | tr -s '[:space:]' ' ' | sed 's/^ //;s/ $//'
}
# Dependencies as package-pack.mk flattens them for `--info depends:`: libc
# (PKG_DEFAULT_DEPENDS) first, then each +package of make variable $1 in Makefile $2, in
# order; @conditions and $(variables) (RUST_ARCH_DEPENDS) name no package.
depends_of() {
    local word deps=libc
    for word in $(make_var "$1" "$2"); do
        case $word in
            +*) deps="$deps ${word#+}" ;;
        esac
    done
    echo "$deps"
}

PKG_VERSION=$(make_var PKG_VERSION "$FEED_MAKEFILE")
PKG_RELEASE=${PKG_RELEASE:-$(make_var PKG_RELEASE "$FEED_MAKEFILE")}
PKG_LICENSE=$(make_var PKG_LICENSE "$FEED_MAKEFILE")
PKG_MAINTAINER=$(make_var PKG_MAINTAINER "$FEED_MAKEFILE")
URL=$(make_var URL "$FEED_MAKEFILE")
if [ -z "$PKG_VERSION" ] || [ -z "$PKG_RELEASE" ]; then die "no PKG_VERSION/PKG_RELEASE in $FEED_MAKEFILE"; fi
case $PKG_RELEASE in *[!0-9]*) die "PKG_RELEASE '$PKG_RELEASE' is not a number" ;; esac
CRATE_VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$ROOT/Cargo.toml" | head -n1)
[ "$PKG_VERSION" = "$CRATE_VERSION" ] ||
    die "PKG_VERSION $PKG_VERSION in $FEED_MAKEFILE differs from Cargo.toml's $CRATE_VERSION"
VERSION=$PKG_VERSION-r$PKG_RELEASE
DESCRIPTION=$(make_define Package/dualwan/description "$FEED_MAKEFILE")
[ -n "$DESCRIPTION" ] || die "no description in $FEED_MAKEFILE"
DEPENDS=$(depends_of DEPENDS "$FEED_MAKEFILE")
CONFFILES=$(make_define Package/dualwan/conffiles "$FEED_MAKEFILE" | tr ' ' '\n')
USERID=$(make_var USERID "$FEED_MAKEFILE")

if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    SOURCE_DATE_EPOCH=$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || true)
    [ -n "$SOURCE_DATE_EPOCH" ] || SOURCE_DATE_EPOCH=$(stat -c %Y "$FEED_MAKEFILE")
fi
export SOURCE_DATE_EPOCH

# The scripts package-pack.mk generates for package $1 into ADIR $2 (Package/<pkg>/postinst
# and prerm, if any, in $2/postinst-pkg and $2/prerm-pkg, appended without their #! line).
# default_postinst (OpenWrt's /lib/functions.sh) enables and starts the package's init
# scripts on a router, only enables them when building an image (IPKG_INSTROOT set), and
# only starts them on an upgrade; default_prerm stops and disables them. A root without
# /lib/functions.sh (an empty offline root) makes them do nothing.
write_scripts() {
    local pkg=$1 adir=$2
    {
        echo '#!/bin/sh'
        echo '[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0'
        echo '[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0'
        echo '. ${IPKG_INSTROOT}/lib/functions.sh'
        echo 'export root="${IPKG_INSTROOT}"'
        echo "export pkgname=\"$pkg\""
        echo 'add_group_and_user'
        echo 'default_postinst'
        [ ! -f "$adir/postinst-pkg" ] || sed '/^\s*#!/d' "$adir/postinst-pkg"
    } >"$adir/post-install"
    {
        echo '#!/bin/sh'
        echo 'export PKG_UPGRADE=1'
        sed '/^\s*#!/d' "$adir/post-install"
    } >"$adir/post-upgrade"
    {
        echo '#!/bin/sh'
        echo '[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0'
        echo '. ${IPKG_INSTROOT}/lib/functions.sh'
        echo 'export root="${IPKG_INSTROOT}"'
        echo "export pkgname=\"$pkg\""
        echo 'default_prerm'
        [ ! -f "$adir/prerm-pkg" ] || sed '/^\s*#!/d' "$adir/prerm-pkg"
    } >"$adir/pre-deinstall"
    chmod 0755 "$adir/post-install" "$adir/post-upgrade" "$adir/pre-deinstall"
}

# lib/apk/packages/<pkg>.list, .conffiles and .conffiles_static in IDIR $2 (ADIR $3 holds
# `conffiles` if the package has any), in package-pack.mk's order.
write_metadata() {
    local pkg=$1 idir=$2 adir=$3 meta=$2/lib/apk/packages file
    (cd "$idir" && find . -type f,l -printf "/%P\n" | sort) >"$idir.list"
    mv "$idir.list" "$meta/$pkg.list"
    if [ -f "$adir/conffiles" ]; then
        mv -f "$adir/conffiles" "$meta/$pkg.conffiles"
        for file in $(cat "$meta/$pkg.conffiles"); do
            [ -f "$idir/$file" ] || continue
            echo "$file $(sha256sum "$idir/$file" | cut -d' ' -f1)" >>"$meta/$pkg.conffiles_static"
        done
    fi
}

package() {
    local target=$1 arch bin work
    arch=$(arch_of "$target") || die "unknown target '$target'"
    bin=$ROOT/target/$target/release/dualwan
    [ -x "$bin" ] || die "no $bin: build it first (cross/build.sh $target)"
    work=$(mktemp -d "${TMPDIR:-/tmp}/dualwan-apk.XXXXXX")
    # shellcheck disable=SC2064
    trap "rm -rf '$work'" RETURN
    local idir=$work/ipkg-$arch/dualwan adir=$work/apk-$arch/dualwan
    mkdir -p "$idir" "$adir"
    chmod 0755 "$work" "$idir"

    # Package/dualwan/install (INSTALL_CONF is mode 0600).
    install -d -m 0755 "$idir/usr/sbin" "$idir/etc/init.d" "$idir/etc/config" "$idir/etc/capabilities" \
        "$idir/etc/hotplug.d/dualwan" "$idir/usr/share/acl.d"
    install -m 0755 "$bin" "$idir/usr/sbin/dualwan"
    install -m 0755 "$FILES/dualwan.init" "$idir/etc/init.d/dualwan"
    install -m 0600 "$FILES/dualwan.config" "$idir/etc/config/dualwan"
    install -m 0644 "$FILES/dualwan.capabilities.json" "$idir/etc/capabilities/dualwan.json"
    install -m 0644 "$FILES/dualwan.acl.json" "$idir/usr/share/acl.d/dualwan.json"
    install -m 0644 "$FILES/hotplug.README" "$idir/etc/hotplug.d/dualwan/README"

    mkdir -p "$idir/lib/apk/packages"
    [ -z "$CONFFILES" ] || echo "$CONFFILES" >"$adir/conffiles"
    write_scripts dualwan "$adir"
    [ -z "$USERID" ] || echo "$USERID" >"$idir/lib/apk/packages/dualwan.rusers"
    write_metadata dualwan "$idir" "$adir"

    local out=$DIST/apk/$arch/dualwan-$VERSION.apk
    mkdir -p "${out%/*}"
    # shellcheck disable=SC2086 # APK_MKPKG is a command and its first arguments
    $APK_MKPKG \
        --info "name:dualwan" \
        --info "version:$VERSION" \
        --info "description:$DESCRIPTION" \
        --info "arch:$arch" \
        --info "license:$PKG_LICENSE" \
        --info "origin:feeds/dualwan/net/dualwan" \
        --info "url:$URL" \
        --info "maintainer:$PKG_MAINTAINER" \
        --script "post-install:$adir/post-install" \
        --script "post-upgrade:$adir/post-upgrade" \
        --script "pre-deinstall:$adir/pre-deinstall" \
        --info "depends:$DEPENDS" \
        --files "$idir" \
        --output "$out"
    echo "$out"
}

# luci-app-dualwan: the files of the app's stage.sh, as luci.mk builds it (PKGARCH all →
# arch noarch; luci.mk's PKG_RELEASE 1; its postinst, which clears LuCI's caches, appended
# to the generated post-install). No URL or maintainer, as luci.mk sets none.
package_luci() {
    local work
    work=$(mktemp -d "${TMPDIR:-/tmp}/dualwan-luci-apk.XXXXXX")
    # shellcheck disable=SC2064
    trap "rm -rf '$work'" RETURN
    local idir=$work/ipkg-all/luci-app-dualwan adir=$work/apk-all/luci-app-dualwan
    VERSION=$PKG_VERSION sh "$ROOT/openwrt/luci-app-dualwan/stage.sh" "$idir" "$work/CONTROL"
    mkdir -p "$adir" "$idir/lib/apk/packages"
    chmod 0755 "$work" "$idir"
    cp "$work/CONTROL/postinst" "$adir/postinst-pkg"
    write_scripts luci-app-dualwan "$adir"
    write_metadata luci-app-dualwan "$idir" "$adir"

    local version=$PKG_VERSION-r1 out
    out=$DIST/apk/noarch/luci-app-dualwan-$version.apk
    mkdir -p "${out%/*}"
    # shellcheck disable=SC2086 # APK_MKPKG is a command and its first arguments
    $APK_MKPKG \
        --info "name:luci-app-dualwan" \
        --info "version:$version" \
        --info "description:$(make_var LUCI_DESCRIPTION "$LUCI_MAKEFILE")" \
        --info "arch:noarch" \
        --info "license:$(make_var PKG_LICENSE "$LUCI_MAKEFILE")" \
        --info "origin:feeds/dualwan/luci-app-dualwan" \
        --info "url:" \
        --info "maintainer:" \
        --script "post-install:$adir/post-install" \
        --script "post-upgrade:$adir/post-upgrade" \
        --script "pre-deinstall:$adir/pre-deinstall" \
        --info "depends:$(depends_of LUCI_DEPENDS "$LUCI_MAKEFILE")" \
        --files "$idir" \
        --output "$out"
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
