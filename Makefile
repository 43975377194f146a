# dualwan — build, test, demo and benchmark. `make demo` and `make test` run as root on a
# fresh Debian/Ubuntu machine and install what they need themselves.

CARGO   ?= cargo
BIN     := target/release/dualwan
DEBS    := iproute2 nftables iputils-ping procps python3 conntrack busybox-static

.PHONY: all build test soak demo bench lint deps toolchain fuzz cross ipk apk musl qemu schema luci-real clean

all: build

# Debian packages the network-namespace lab needs (installed only when missing);
# busybox-static is the shell and tools of ../shared/owrt/procd-ns.sh's root (procd_netns).
deps:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# rustfmt and clippy for `make lint`.
toolchain:
	@rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
	@rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt

build:
	$(CARGO) build --release --locked

# Unit tests, timelines of the core, UCI and ubus vectors, the real-kernel tests in network
# namespaces (root needed; DUALWAN_SKIP_NETNS=1 skips those), the tests against the real
# OpenWrt programs in ../shared/owrt (skipped without it), then the LuCI app's tests.
# tests/run.sh shows a test that could not do its work as "skipped: REASON" and ends with
# the number of skipped tests (with CI=true, any skip fails). The cross builds come first:
# the package tests pack them and tests/qemu.rs runs each under qemu-user.
test: deps cross qemu
	bash tests/run.sh

# The fault soak of tests/soak_netns.rs for SOAK_SECONDS (default an hour; `make test` runs
# it for 5 minutes). DUALWAN_SOAK_SEED=N replays a run's fault sequence. Root needed.
SOAK_SECONDS ?= 3600
soak: deps
	DUALWAN_SOAK_SECONDS=$(SOAK_SECONDS) $(CARGO) test --locked --test soak_netns -- --nocapture

demo: deps build
	bash tests/lab/demo.sh $(BIN)

# The LuCI config page's Chromium tests under LuCI's own runtime, which this repository
# may not hold: LUCI_SRC is a LuCI source tree or git directory (tests/luci/run.sh).
luci-real:
	DUALWAN_REAL_LUCI=1 LUCI_SRC=$(LUCI_SRC) bash tests/luci/run.sh 'config browser'

bench: deps build
	bash bench/bench.sh $(BIN)

lint: toolchain
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

# The LuCI app's copy of the option table: `dualwan check --schema` of this tree. Committed;
# tests/config_check.rs fails while it differs from the binary's output.
SCHEMA := openwrt/luci-app-dualwan/htdocs/luci-static/resources/dualwan/schema.json
schema:
	$(CARGO) run --locked --quiet -- check --schema > $(SCHEMA).tmp
	mv $(SCHEMA).tmp $(SCHEMA)

# Static, stripped musl binaries for the routers: target/<triple>/release/dualwan for
# x86_64, aarch64, armv7, mipsel and mips (installs its toolchains itself; see cross/).
cross:
	bash cross/build.sh all

# The x86_64 one alone (stable toolchain, about 30 s cold).
musl:
	bash cross/build.sh x86_64-unknown-linux-musl

# dist/dualwan_<version>-r<release>_<arch>.ipk for the five architectures, no SDK needed.
ipk: cross
	bash cross/ipk.sh all

# dist/apk/<arch>/dualwan-<version>-r<release>.apk for the same five architectures and
# dist/apk/noarch/luci-app-dualwan-<version>-r1.apk: apk-tools 3 packages for OpenWrt 25.12,
# no SDK needed (cross/apk.sh stages them as the SDK does, cross/apk.py packs them).
apk: cross
	bash cross/apk.sh all

# qemu-user for tests/qemu.rs (Debian's qemu-user-static).
qemu:
	@dpkg -s qemu-user-static >/dev/null 2>&1 || { \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static >/dev/null; }

# Fuzz every input parser with cargo-fuzz (nightly), FUZZ_SECONDS each (default 10 min),
# starting from the committed seeds and regressions; new corpus entries go to
# fuzz/corpus/TARGET (not committed), crashes to fuzz/artifacts/TARGET. A crash stops the
# run: add its input to fuzz/regressions/TARGET/ once fixed. `cargo test` replays both.
FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?= uci_config icmp rtnl ubus
fuzz:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	for t in $(FUZZ_TARGETS); do \
		mkdir -p fuzz/corpus/$$t && \
		$(CARGO) +nightly fuzz run $$t fuzz/corpus/$$t fuzz/seeds/$$t fuzz/regressions/$$t -- \
			-max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 || exit 1; \
	done

clean:
	$(CARGO) clean
	rm -rf dist
