# Latchkey — the two commands are `make run` and `make test`.
# Both install what is missing (idempotently), then build and run.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

CARGO ?= cargo
JOBS ?= 2
export CARGO_TERM_COLOR ?= never
# Debian packages the build and the tests need.
APT_PACKAGES := build-essential pkg-config curl jq openssl ca-certificates \
  libdbus-1-dev dbus-daemon gnome-keyring libsecret-tools libglib2.0-bin
DATA_HOME := $(or $(XDG_DATA_HOME),$(HOME)/.local/share)
TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
DEMO_DIR := $(DATA_HOME)/latchkey/local-demo

.PHONY: help deps deps-apt deps-node run test test-rust test-clerkjs lint fmt bench fuzz

help:
	@echo "make run    build and start the local demo instance (the app lands in a later issue)"
	@echo "make test   install what is missing, then fmt, clippy and every test"
	@echo "make bench  measure the emulator and the engine; write docs/benchmarks.md"
	@echo "make fuzz   property tests of the callback parser and JWT handling, 100k cases each"

## ---------------------------------------------------------------- dependencies

deps: deps-apt deps-node

# Installs only what is missing; `apt-get update` only when something is.
deps-apt:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y --no-install-recommends $$missing; \
	fi
	@command -v node >/dev/null || { echo "error: Node.js 20+ and npm are needed (https://nodejs.org)"; exit 1; }
	@command -v $(CARGO) >/dev/null || { echo "error: a Rust toolchain is needed (https://rustup.rs)"; exit 1; }

deps-node: tests/clerkjs/node_modules/.package-lock.json

tests/clerkjs/node_modules/.package-lock.json: tests/clerkjs/package-lock.json
	cd tests/clerkjs && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

## ---------------------------------------------------------------- run

# Until the desktop app lands, `make run` starts the local demo instance the
# app will embed (persisted in $(DEMO_DIR)) and shows how to use it.
run: deps-apt
	$(CARGO) build -j$(JOBS) --release -p clerk-emulator
	@echo
	@echo "Starting the local Clerk demo instance (state in $(DEMO_DIR))."
	@echo "Open the printed URL + /demo in a browser for the demo web app;"
	@echo "see crates/clerk-emulator/README.md for a curl walkthrough. Ctrl-C stops it."
	@echo
	"$(TARGET_DIR)/release/clerk-emulator" --seed demo --data-dir "$(DEMO_DIR)"

## ---------------------------------------------------------------- test

test: deps lint test-rust test-clerkjs
	@echo "make test: all green"

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy -j$(JOBS) --workspace --all-targets --all-features -- -D warnings
	# The shipped emulator (no test controls) must build and lint on its own.
	$(CARGO) clippy -j$(JOBS) -p clerk-emulator --all-targets -- -D warnings
	# Secure storage is the platform store, never keyring's silent mock.
	$(CARGO) tree -p latchkey-core -e features -i keyring | grep -q 'keyring feature "sync-secret-service"'
	$(CARGO) tree -p latchkey-core -e features -i keyring | grep -q 'keyring feature "apple-native"'
	$(CARGO) tree -p latchkey-core -e features -i keyring | grep -q 'keyring feature "windows-native"'

# Every Rust test runs against a real Secret Service (gnome-keyring in a
# private D-Bus session).
test-rust:
	tests/with-keyring.sh $(CARGO) test -j$(JOBS) --workspace --all-features
	# The emulator as the app and CLI embed it: no test controls.
	$(CARGO) test -j$(JOBS) -p clerk-emulator --lib

# Clerk's own SDK against the emulator binary (with test controls, for the
# request log the test reads).
test-clerkjs: deps-node
	$(CARGO) build -j$(JOBS) -p clerk-emulator --features test-controls
	cd tests/clerkjs && EMULATOR_BIN="$(TARGET_DIR)/debug/clerk-emulator" timeout 300 node --test --test-reporter=spec

# The same property tests `make test` runs with a few thousand cases,
# with 100,000 (release build; a few minutes on 2 cores).
fuzz:
	LATCHKEY_FUZZ_CASES=100000 $(CARGO) test -j$(JOBS) --release -p latchkey-core --test core -- --nocapture property_ parser_never_panics grammar_generated

## ---------------------------------------------------------------- bench

bench: deps-apt deps-node
	$(CARGO) bench -j$(JOBS) -p clerk-emulator --features test-controls --bench emulator_bench
	$(CARGO) bench -j$(JOBS) -p latchkey-core --bench engine_bench
	$(CARGO) build -j$(JOBS) --release -p latchkey-cli -p clerk-emulator
	tests/with-keyring.sh python3 tests/bench/cli_vs_clerkjs.py
