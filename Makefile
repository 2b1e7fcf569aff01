# Latchkey — the two commands are `make run` and `make test`.
# Both install what is missing (idempotently), then build and run.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

CARGO ?= cargo
JOBS ?= 2
export CARGO_TERM_COLOR ?= never
# Debian packages the build and the tests need.
APT_PACKAGES := build-essential pkg-config file curl jq openssl ca-certificates libssl-dev \
  libdbus-1-dev dbus-daemon dbus-user-session gnome-keyring libsecret-tools libglib2.0-bin \
  libwebkit2gtk-4.1-dev libjavascriptcoregtk-4.1-dev libsoup-3.0-dev \
  libayatana-appindicator3-dev librsvg2-dev libxdo-dev \
  xvfb xauth webkit2gtk-driver at-spi2-core xdg-utils desktop-file-utils \
  fonts-dejavu-core imagemagick dunst libnotify-bin xdotool xclip rpm weston
DATA_HOME := $(or $(XDG_DATA_HOME),$(HOME)/.local/share)
TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
DEMO_DIR := $(DATA_HOME)/latchkey/local-demo
# tauri-driver (the WebDriver bridge for the end-to-end tests) lives here.
TOOLS := $(TARGET_DIR)/tools
APP_RELEASE := $(TARGET_DIR)/release/latchkey-app

.PHONY: help deps deps-apt deps-node deps-driver run ui test test-rust test-ui test-clerkjs \
  test-e2e build-e2e bindings lint fmt bench bench-app fuzz proof emulator package test-package

help:
	@echo "make run       build the desktop app as users get it and open it on the local demo instance"
	@echo "make test      install what is missing, then fmt, clippy and every test (Rust, UI, end-to-end, the .deb installed)"
	@echo "make package   release .deb and .rpm in target/release/bundle (app, CLI, desktop entry, icons)"
	@echo "make bench  measure the emulator and the engine; write docs/benchmarks.md"
	@echo "make fuzz   property tests (callback parser, JWT/JWKS, FAPI answers and models, damaged keychain entries), 100k cases each"
	@echo "make proof  the reliability campaign at full size (faults, soak, 100k property cases, crash"
	@echo "            matrix, canaries); rewrites its section of docs/reliability.md, fails on a broken goal"

## ---------------------------------------------------------------- dependencies

deps: deps-apt deps-node deps-driver

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

deps-node: tests/clerkjs/node_modules/.package-lock.json ui/node_modules/.package-lock.json

tests/clerkjs/node_modules/.package-lock.json: tests/clerkjs/package-lock.json
	cd tests/clerkjs && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

ui/node_modules/.package-lock.json: ui/package-lock.json
	cd ui && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Pinned to Tauri 2 (the registry also has 3.0 alphas).
deps-driver:
	@[ -x "$(TOOLS)/bin/tauri-driver" ] || $(CARGO) install -j$(JOBS) tauri-driver --locked --version '^2' --root "$(TOOLS)"

## ---------------------------------------------------------------- build

# The UI, built into ui/dist (embedded in the app binary at compile time).
ui: deps-node
	cd ui && npm run --silent build -- --logLevel warn

## ---------------------------------------------------------------- run

# The app as users get it: UI built and embedded, release build. It starts
# (or attaches to) the local demo instance in $(DEMO_DIR) and registers the
# dev.latchkey.desktop:// scheme for this user. Without a display it says so
# and shows the CLI and the emulator instead.
run: deps-apt ui
	$(CARGO) build -j$(JOBS) --release -p latchkey-app -p latchkey-cli
	@if [ -z "$${DISPLAY:-}$${WAYLAND_DISPLAY:-}" ]; then \
	  echo; \
	  echo "No display here (DISPLAY and WAYLAND_DISPLAY are unset): the desktop app needs one."; \
	  echo "Try it under a virtual display:   xvfb-run -a $(APP_RELEASE)"; \
	  echo "Or use the command line, on the same local demo instance:"; \
	  echo "  $(TARGET_DIR)/release/latchkey status          # accounts (starts the local demo)"; \
	  echo "  $(TARGET_DIR)/release/latchkey sign-in         # sign in through a browser"; \
	  echo "  make emulator                                  # the local Clerk on its own (curl walkthrough: crates/clerk-emulator/README.md)"; \
	else \
	  "$(APP_RELEASE)"; \
	fi

# The local Clerk on its own, persisted where the app and CLI keep it.
emulator:
	$(CARGO) build -j$(JOBS) --release -p clerk-emulator
	"$(TARGET_DIR)/release/clerk-emulator" --seed demo --data-dir "$(DEMO_DIR)"

## ---------------------------------------------------------------- packages

TAURI := ui/node_modules/.bin/tauri
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
# The version after this one (the package test's upgrade).
NEXT_VERSION := $(shell echo $(VERSION) | awk -F. '{print $$1"."$$2"."$$3+1}')

# The bundler's config for one build: the CLI goes in beside the app.
define package_config
printf '{"bundle":{"linux":{"deb":{"files":{"/usr/bin/latchkey":"%s"}},"rpm":{"files":{"/usr/bin/latchkey":"%s"}}}}}' "$(1)" "$(1)" > "$(2)"
endef

# Release packages with the Tauri bundler: .deb and .rpm (the app, the
# `latchkey` CLI, the desktop entry that opens dev.latchkey.desktop:// links,
# icons from 16 to 512 px), version from the workspace. No AppImage: its
# bundler downloads tools from outside the package registries.
package: deps-apt ui
	$(CARGO) build -j$(JOBS) --release -p latchkey-app -p latchkey-cli
	$(call package_config,$(TARGET_DIR)/release/latchkey,$(TARGET_DIR)/package.json)
	$(TAURI) bundle --bundles deb,rpm --config "$(TARGET_DIR)/package.json" --ci
	@ls -l $(TARGET_DIR)/release/bundle/deb/*.deb $(TARGET_DIR)/release/bundle/rpm/*.rpm

# The package test's packages: the same bundler and config over the debug
# build the end-to-end tests use (debug info stripped), at this version and
# the next one (for the upgrade in place).
PKG_STAGE := $(TARGET_DIR)/package-test
build-test-package: build-e2e
	rm -rf "$(PKG_STAGE)" && mkdir -p "$(PKG_STAGE)/debug"
	cp "$(TARGET_DIR)/debug/latchkey-app" "$(TARGET_DIR)/debug/latchkey" "$(PKG_STAGE)/debug/"
	strip --strip-debug "$(PKG_STAGE)/debug/latchkey-app" "$(PKG_STAGE)/debug/latchkey"
	$(call package_config,$(PKG_STAGE)/debug/latchkey,$(PKG_STAGE)/package.json)
	CARGO_TARGET_DIR="$(PKG_STAGE)" $(TAURI) bundle --debug --bundles deb,rpm --config "$(PKG_STAGE)/package.json" --ci
	mkdir -p "$(PKG_STAGE)/next" && mv "$(PKG_STAGE)/debug/bundle" "$(PKG_STAGE)/current"
	CARGO_TARGET_DIR="$(PKG_STAGE)" $(TAURI) bundle --debug --bundles deb --config "$(PKG_STAGE)/package.json" --config '{"version":"$(NEXT_VERSION)"}' --ci
	mv "$(PKG_STAGE)/debug/bundle/deb" "$(PKG_STAGE)/next/"

# Installs the .deb (apt-get, as root or with sudo), checks the desktop
# entry and the link handler, starts the installed app through its entry
# with a link, sends it a second one, upgrades it in place while it runs,
# removes it; inspects the .rpm. Leaves the package removed.
test-package: deps-driver build-test-package
	PATH="$(TOOLS)/bin:$$PATH" PKG_DIR="$(PKG_STAGE)" timeout 600 tests/with-keyring.sh node --test --test-concurrency=1 --test-reporter=spec tests/package/

## ---------------------------------------------------------------- test

test: deps lint test-rust test-ui test-clerkjs test-e2e test-package
	@echo "make test: all green"

fmt:
	$(CARGO) fmt --all

lint: ui
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy -j$(JOBS) --workspace --all-targets --all-features -- -D warnings
	# The shipped emulator (no test controls) must build and lint on its own.
	$(CARGO) clippy -j$(JOBS) -p clerk-emulator --all-targets -- -D warnings
	# Secure storage is the platform store, never keyring's silent mock.
	$(CARGO) tree -p latchkey-core -e features -i keyring | grep -q 'keyring feature "sync-secret-service"'
	$(CARGO) tree -p latchkey-core -e features -i keyring | grep -q 'keyring feature "apple-native"'
	$(CARGO) tree -p latchkey-core -e features -i keyring | grep -q 'keyring feature "windows-native"'
	# The shipped app and CLI (which runs `latchkey emulator`) carry no
	# emulator test controls.
	! $(CARGO) tree -p latchkey-app -e features,normal | grep -q 'test-controls'
	! $(CARGO) tree -p latchkey-cli -e features,normal | grep -q 'test-controls'
	# Nor crash points (the failpoints builds are test builds of their own).
	! $(CARGO) tree -p latchkey-app -e features,normal | grep -q 'failpoints'
	! $(CARGO) tree -p latchkey-cli -e features,normal | grep -q 'failpoints'
	# One TLS crypto provider, ring (docs/DESIGN.md, "Binary size"): aws-lc
	# must not come back through a default feature.
	! $(CARGO) tree --workspace -e normal,dev | grep -q 'aws-lc'
	# The repository stands alone: no file cites or reads anything beside it
	# (the contracts and the threat model are docs/contracts.md and
	# docs/threat-model.md; Clerk's OpenAPI specs are in spec/).
	! grep -rnE '\.\./[s]hared|[s]hared/clerk|(CONTRACTS|SECURITY|LINUX-DESKTOP|STYLE)\.md|clerk-fapi\.md|clerkjs-wire\.md' \
	  --include='*.rs' --include='*.md' --include='*.ts' --include='*.svelte' --include='*.mjs' \
	  --include='*.py' --include='*.sh' --include='*.json' --include='*.toml' --include='Makefile' \
	  --exclude-dir=node_modules --exclude-dir=target --exclude-dir=dist .

# Every Rust test runs against a real Secret Service (gnome-keyring in a
# private D-Bus session).
test-rust: ui
	tests/with-keyring.sh $(CARGO) test -j$(JOBS) --workspace --all-features
	# The emulator as the app and CLI embed it: no test controls.
	$(CARGO) test -j$(JOBS) -p clerk-emulator --lib

# Clerk's own SDK against the emulator binary (with test controls, for the
# request log the test reads).
test-clerkjs: deps-node
	$(CARGO) build -j$(JOBS) -p clerk-emulator --features test-controls
	cd tests/clerkjs && EMULATOR_BIN="$(TARGET_DIR)/debug/clerk-emulator" timeout 300 node --test --test-reporter=spec

# Type check (svelte-check) and unit tests (vitest) of the UI.
test-ui: deps-node
	cd ui && npm run --silent check && npm test --silent

# Rewrites ui/src/bindings/ipc.ts from the Rust types (commit the result).
bindings:
	UPDATE_BINDINGS=1 $(CARGO) test -j$(JOBS) -p latchkey-app --test bindings

# The app as users get it (bundled UI, no test features) and the emulator.
build-e2e: ui
	# The app with crash points, for the crash matrix (a copy beside the
	# real one; built first, so the app the tests run is the shipped one).
	# The same packages as the build below, so every dependency is shared
	# and only Latchkey's own crates build twice.
	$(CARGO) build -j$(JOBS) -p latchkey-app -p latchkey-cli --features latchkey-app/failpoints
	cp "$(TARGET_DIR)/debug/latchkey-app" "$(TARGET_DIR)/debug/latchkey-app-failpoints"
	$(CARGO) build -j$(JOBS) -p latchkey-app -p latchkey-cli
	# The standalone emulator with its test controls (the clock); the app
	# embeds it without them (checked by `make lint`).
	$(CARGO) build -j$(JOBS) -p clerk-emulator --features test-controls

# The real app in the real WebKit webview, driven over WebDriver under Xvfb,
# with a real Secret Service and a notification server on a private bus.
# Screenshots land in $(TARGET_DIR)/e2e/screenshots.
test-e2e: deps-driver build-e2e
	rm -rf "$(TARGET_DIR)/e2e/logs" && rm -f "$(TARGET_DIR)"/e2e/app-*.log
	PATH="$(TOOLS)/bin:$$PATH" timeout 900 tests/with-keyring.sh node --test --test-concurrency=1 --test-reporter=spec tests/e2e/
	# Every app log of the run: no token-shaped string, no panic.
	node tests/e2e/scan_logs.mjs

# The same property tests `make test` runs with a few thousand cases,
# with 100,000 (release build; a few minutes on 2 cores).
fuzz:
	LATCHKEY_FUZZ_CASES=100000 $(CARGO) test -j$(JOBS) --release -p latchkey-core --lib --test core -- --nocapture property_ parser_never_panics grammar_generated

# The reliability campaign at full size: refresh policy on the emulator's
# clock, the fault campaign, a 1,000-cycle soak, 100,000 property cases,
# the crash matrices and the canary scans. Builds first, then ≤ 20 minutes
# of tests on 2 cores; rewrites its section of docs/reliability.md and
# exits non-zero when a goal is broken. `make test` runs the same tests at
# small counts (the short version).
proof: deps-apt deps-driver build-e2e
	tests/with-keyring.sh $(CARGO) test -j$(JOBS) --no-run -p latchkey-core -p latchkey-cli -p latchkey-app --all-features
	$(CARGO) test -j$(JOBS) --no-run --release -p latchkey-core --lib --test core
	JOBS=$(JOBS) python3 tests/proof/run.py

## ---------------------------------------------------------------- bench

bench: deps-apt deps-node ui
	$(CARGO) bench -j$(JOBS) -p clerk-emulator --features test-controls --bench emulator_bench
	$(CARGO) bench -j$(JOBS) -p latchkey-core --bench engine_bench
	$(CARGO) build -j$(JOBS) --release -p latchkey-cli -p latchkey-app -p clerk-emulator
	tests/with-keyring.sh python3 tests/bench/cli_vs_clerkjs.py
	$(MAKE) bench-app

# The desktop app against a Tauri hello-world built the same way (release,
# stripped), 15 alternating runs each: cold start, first launch of a fresh
# profile, memory, binary size; then 5 minutes of idle CPU, window shown and
# started hidden. BENCH_RUNS / BENCH_IDLE_SECS change the counts.
bench-app: deps-apt deps-driver ui
	$(CARGO) build -j$(JOBS) --release -p latchkey-app -p clerk-emulator
	# The hello-world with every plugin Latchkey has and its tray (sized only).
	CARGO_TARGET_DIR="$(TARGET_DIR)" $(CARGO) build -j$(JOBS) --release --manifest-path tests/bench/hello/Cargo.toml --features required-plugins
	cp "$(TARGET_DIR)/release/hello-tauri" "$(TARGET_DIR)/release/hello-tauri-plugins"
	CARGO_TARGET_DIR="$(TARGET_DIR)" $(CARGO) build -j$(JOBS) --release --manifest-path tests/bench/hello/Cargo.toml
	PATH="$(TOOLS)/bin:$$PATH" EMULATOR_BIN="$(TARGET_DIR)/release/clerk-emulator" APP_BIN="$(TARGET_DIR)/release/latchkey-app" \
	  tests/with-keyring.sh node tests/bench/app_bench.mjs
