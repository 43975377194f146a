# dualwan — build, test, demo and benchmark. `make demo` and `make test` run as root on a
# fresh Debian/Ubuntu machine and install what they need themselves.

CARGO   ?= cargo
BIN     := target/release/dualwan
DEBS    := iproute2 nftables iputils-ping procps python3

.PHONY: all build test soak demo bench lint deps toolchain cross ipk clean

all: build

# Debian packages the network-namespace lab needs (installed only when missing).
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
# namespaces (root needed; DUALWAN_SKIP_NETNS=1 skips those), then the LuCI app's tests
# (static checks, page logic, headless Chromium; they close with "N passed, N failed").
test: deps
	$(CARGO) test --locked --all-targets
	bash tests/luci/run.sh

# The fault soak of tests/soak_netns.rs for SOAK_SECONDS (default an hour; `make test` runs
# it for 5 minutes). DUALWAN_SOAK_SEED=N replays a run's fault sequence. Root needed.
SOAK_SECONDS ?= 3600
soak: deps
	DUALWAN_SOAK_SECONDS=$(SOAK_SECONDS) $(CARGO) test --locked --test soak_netns -- --nocapture

demo: deps build
	bash tests/lab/demo.sh $(BIN)

bench: deps build
	bash bench/bench.sh $(BIN)

lint: toolchain
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

# Filled by the packaging work (cross builds for MIPS/ARM, .ipk files).
cross ipk:
	@echo "make $@: not implemented yet (see the packaging issue)"; exit 1

clean:
	$(CARGO) clean
	rm -rf dist
