# shellcheck shell=bash
# The five cross targets and OpenWrt's package architecture of each: sourced by
# cross/ipk.sh and cross/apk.sh, so both package the same builds under the same names.

ALL="x86_64-unknown-linux-musl aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf mipsel-unknown-linux-musl mips-unknown-linux-musl"

# arch_of TARGET: OpenWrt's package architecture for a Rust target (fails for others).
arch_of() {
    case $1 in
        x86_64-unknown-linux-musl) echo x86_64 ;;
        aarch64-unknown-linux-musl) echo aarch64_cortex-a53 ;;        # filogic, bcm27xx
        armv7-unknown-linux-musleabihf) echo arm_cortex-a7_neon-vfpv4 ;; # ipq40xx
        mipsel-unknown-linux-musl) echo mipsel_24kc ;;                 # ramips
        mips-unknown-linux-musl) echo mips_24kc ;;                     # ath79
        *) return 1 ;;
    esac
}
