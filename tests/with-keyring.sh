#!/usr/bin/env bash
# Runs a command inside a private D-Bus session with an unlocked, throw-away
# gnome-keyring (the real Secret Service), never touching a user's keyring.
#   tests/with-keyring.sh cargo test ...
set -euo pipefail
if [ -z "${LATCHKEY_IN_KEYRING_SESSION:-}" ]; then
  exec dbus-run-session -- env LATCHKEY_IN_KEYRING_SESSION=1 "$0" "$@"
fi
XDG_DATA_HOME="$(mktemp -d)"
export XDG_DATA_HOME
trap 'rm -rf "$XDG_DATA_HOME"' EXIT
eval "$(printf %s latchkey-test | gnome-keyring-daemon --unlock --components=secrets)"
export GNOME_KEYRING_CONTROL
# Tests that need the Secret Service fail (instead of skipping) when this is set.
export LATCHKEY_REQUIRE_KEYCHAIN=1
"$@"
