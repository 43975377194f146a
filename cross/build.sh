#!/usr/bin/env bash
# cross/build.sh [TARGET...|all]: static, stripped musl builds of dualwan for routers.
#
#   TARGET   a Rust target triple below, or `all` (the default). The binary lands in
#            target/TARGET/release/dualwan, where `make bench` and cross/ipk.sh look.
#
#   x86_64-unknown-linux-musl       x86-64
#   aarch64-unknown-linux-musl      filogic, bcm27xx (aarch64_cortex-a53)
#   armv7-unknown-linux-musleabihf  ipq40xx (arm_cortex-a7_neon-vfpv4)
#   mipsel-unknown-linux-musl       ramips (mipsel_24kc)
#   mips-unknown-linux-musl         ath79 (mips_24kc, big-endian)
#
# Two kinds of build:
#   - x86_64 and aarch64: the stable toolchain with the prebuilt musl std from
#     `rustup target add`, linked by rust-lld (which ships with rustc). No C toolchain.
#   - MIPS and 32-bit ARM have no prebuilt musl std to download, so std is compiled from
#     source (-Zbuild-std) by a pinned nightly, and cargo-zigbuild links with zig, whose
#     bundled musl provides libc.a and the crt objects (so Rust's self-contained ones,
#     which a build-std sysroot lacks, are turned off).
#
# Installs what it needs (rustup targets/components, ziglang from PyPI, cargo-zigbuild
# from crates.io) when missing; a re-run with everything in place only runs cargo.
# Every binary is checked: static (no interpreter, no NEEDED), no build-machine paths,
# and, on MIPS, the soft-float ABI that OpenWrt's 24kc targets use.
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# The nightly for build-std. Pinned: std's own dependencies come from its Cargo.lock.
NIGHTLY=${DUALWAN_NIGHTLY:-nightly-2026-05-19}
# zig 0.17's libc replaces musl's malloc with its own; 0.14.1 keeps stock musl.
ZIGLANG_VERSION=0.14.1
CARGO_ZIGBUILD_VERSION=0.24.1
STABLE_TARGETS="x86_64-unknown-linux-musl aarch64-unknown-linux-musl"
ZIG_TARGETS="armv7-unknown-linux-musleabihf mipsel-unknown-linux-musl mips-unknown-linux-musl"
# optimize_for_size: std's smaller variants of sort, formatting, etc. (mipsel: 781 KB -> 517 KB).
BUILD_STD=(-Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size)

die() { echo "cross/build.sh: $*" >&2; exit 1; }
say() { echo "[cross] $*" >&2; }

# --- tools, installed once -----------------------------------------------------------

ensure_stable_target() {
    rustup target list --installed | grep -qx "$1" || rustup target add "$1"
}

ensure_nightly() {
    if ! rustup +"$NIGHTLY" component list --installed 2>/dev/null | grep -q '^rust-src'; then
        rustup toolchain install "$NIGHTLY" --profile minimal --component rust-src
    fi
}

ensure_zig() {
    if [ "$(python3 -m ziglang version 2>/dev/null)" != "$ZIGLANG_VERSION" ]; then
        python3 -m pip install --quiet --disable-pip-version-check "ziglang==$ZIGLANG_VERSION"
    fi
    if [ "$(cargo-zigbuild --version 2>/dev/null | awk '{print $2}')" != "$CARGO_ZIGBUILD_VERSION" ]; then
        cargo install --locked --quiet cargo-zigbuild --version "$CARGO_ZIGBUILD_VERSION"
    fi
}

# --- flags ---------------------------------------------------------------------------

# Paths of this machine that must not end up in a binary (panic locations, file!()).
# When several prefixes match, rustc applies the last one: the most specific go last.
remap_flags() {
    local cargo_home=${CARGO_HOME:-$HOME/.cargo} sysroot=$1
    printf '%s ' "--remap-path-prefix=$HOME=~" \
        "--remap-path-prefix=$cargo_home/registry/src=/cargo" \
        "--remap-path-prefix=$sysroot/lib/rustlib/src/rust=/rustc" \
        "--remap-path-prefix=$ROOT=/dualwan"
}

# --- checks on the result ------------------------------------------------------------

check_binary() {
    local target=$1 bin=$2 headers attrs leaks
    [ -x "$bin" ] || die "$target: no $bin"
    # (Outputs go through variables: with pipefail, `readelf | grep -q` fails when grep
    # stops reading early.)
    headers=$(readelf -lSdW "$bin" 2>/dev/null)
    if grep -q 'INTERP' <<<"$headers"; then die "$target: $bin is dynamically linked"; fi
    if grep -q '(NEEDED)' <<<"$headers"; then die "$target: $bin needs shared libraries"; fi
    if grep -q '\.symtab' <<<"$headers"; then die "$target: $bin is not stripped"; fi
    leaks=$(strings -n 6 "$bin" | grep -E "$ROOT|$HOME|/root/|/home/|\.cargo/registry|\.rustup" | head -n 5 || true)
    [ -z "$leaks" ] || die "$target: build-machine paths in $bin: $leaks"
    attrs=$(readelf -A "$bin")
    case $target in
        mips*)
            grep -q 'FP ABI: Soft float' <<<"$attrs" ||
                die "$target: $bin is not soft-float ($(grep 'FP ABI' <<<"$attrs" || echo 'no FP ABI'))"
            ;;
        armv7*)
            grep -q 'Tag_ABI_VFP_args: VFP registers' <<<"$attrs" ||
                die "$target: $bin does not use the hard-float (VFP) calling convention"
            ;;
    esac
}

# --- builds --------------------------------------------------------------------------

build_stable() {
    local target=$1 env_target
    ensure_stable_target "$target"
    env_target=$(echo "$target" | tr 'a-z-' 'A-Z_')
    local sysroot
    sysroot=$(rustc --print sysroot)
    say "$target: cargo build (stable, rust-lld)"
    env "CARGO_TARGET_${env_target}_LINKER=rust-lld" \
        RUSTFLAGS="$(remap_flags "$sysroot") -C target-feature=+crt-static" \
        cargo build --release --locked --target "$target"
}

build_zig() {
    local target=$1
    ensure_nightly
    ensure_zig
    local sysroot
    sysroot=$(rustc +"$NIGHTLY" --print sysroot)
    # std's dependencies (from the nightly's library/Cargo.lock) and ours, before building.
    cargo +"$NIGHTLY" fetch --locked "${BUILD_STD[@]}" --target "$target" >/dev/null
    # +crt-static: the MIPS musl targets default to dynamic linking.
    # link-self-contained=no: zig brings musl's crt1.o/libc.a; a build-std sysroot has none.
    # location-detail=none: panic messages carry no file paths (and the binary shrinks).
    # force-unwind-tables=no: with panic=abort nothing unwinds, and this std is built
    #   without its `backtrace` feature, so the panic hook never walks the stack either
    #   (RUST_BACKTRACE has no effect): .eh_frame would only be dead weight (mipsel: 33 KB).
    # linker-messages: lld notes that the (empty) prebuilt-std directory is missing.
    local flags
    flags="$(remap_flags "$sysroot") -C target-feature=+crt-static -C link-self-contained=no -Zlocation-detail=none -Zfmt-debug=none"
    flags="$flags -C force-unwind-tables=no"
    flags="$flags -A linker-messages"
    case $target in
        mips*)
            # relocation-model=static: the binary is a static executable at a fixed address
            # (ELF EXEC), so position-independent code buys nothing; on MIPS it costs a GOT
            # load for every call and string address (mipsel: -48 KB).
            flags="$flags -C relocation-model=static"
            ;;
    esac
    say "$target: cargo zigbuild ($NIGHTLY, build-std, zig $ZIGLANG_VERSION)"
    RUSTFLAGS="$flags" cargo +"$NIGHTLY" zigbuild --release --locked --target "$target" "${BUILD_STD[@]}"
    case $target in
        mips*)
            # LLVM's MIPS backend writes a .pdr record (procedure descriptor, for old
            # debuggers) for every function, and lld's --strip-all keeps it: not loaded at
            # run time, but about an eighth of the file (mipsel: 73 KB).
            local host
            host=$(rustc +"$NIGHTLY" -vV | sed -n 's/^host: //p')
            # (rust-objcopy ships with rustc; it finds the toolchain's libLLVM only this way.)
            LD_LIBRARY_PATH="$sysroot/lib" "$sysroot/lib/rustlib/$host/bin/rust-objcopy" \
                --remove-section=.pdr "target/$target/release/dualwan"
            ;;
    esac
}

build() {
    local target=$1 start=$SECONDS
    case " $STABLE_TARGETS " in
        *" $target "*) build_stable "$target" ;;
        *)
            case " $ZIG_TARGETS " in
                *" $target "*) build_zig "$target" ;;
                *) die "unknown target '$target' (known: $STABLE_TARGETS $ZIG_TARGETS)" ;;
            esac
            ;;
    esac
    local bin=target/$target/release/dualwan
    check_binary "$target" "$bin"
    say "$target: $bin, $(stat -c %s "$bin") bytes, $((SECONDS - start)) s"
}

command -v readelf >/dev/null && command -v strings >/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq binutils >/dev/null
}

[ $# -gt 0 ] || set -- all
targets=()
for t in "$@"; do
    if [ "$t" = all ]; then
        # shellcheck disable=SC2206
        targets+=($STABLE_TARGETS $ZIG_TARGETS)
    else
        targets+=("$t")
    fi
done
for t in "${targets[@]}"; do
    build "$t"
done
