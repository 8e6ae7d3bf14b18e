#!/usr/bin/env bash
# End-to-end test of the real Lineup app: the built binary under a virtual display (Xvfb),
# driven through WebDriver (tauri-driver + WebKitWebDriver), against a real
# `lineup-server --demo`, on a private session D-Bus where dunst owns the notification name and
# dbus-monitor records every Notify call, with gnome-keyring (Secret Service) and a kernel
# session keyring for the identity key.
#
# Installs what is missing first (Debian packages, tauri-driver, npm packages) and says so,
# builds lineup-server and lineup-app (debug), then runs tests/e2e/session.sh inside
# `dbus-run-session`. Screenshots and logs go to tests/artifacts/e2e/.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
source scripts/lib.sh

ensure_node
# Build set from scripts/lib.sh, plus what this test runs: display, WebDriver, bus, notification
# daemon and its client, keyrings, the Korean font (or screenshots show boxes), screenshot tools.
ensure_apt "${APP_BUILD_PACKAGES[@]}" xvfb xauth webkit2gtk-driver dbus dbus-x11 dunst libnotify-bin \
    gnome-keyring keyutils fonts-nanum x11-apps imagemagick

if ! command -v tauri-driver >/dev/null; then
    say "installing tauri-driver 2.1.0 (cargo install, about 30 s)"
    without_clippy cargo install tauri-driver --version 2.1.0 --locked
fi
if [ ! -d tests/e2e/node_modules/selenium-webdriver ]; then
    say "installing npm packages of tests/e2e (selenium-webdriver)"
    (cd tests/e2e && npm ci --no-audit --no-fund)
fi

say "building lineup-server and lineup-app (debug)"
# One workspace build: scripts/test has just run `cargo test --workspace`, and building the
# binaries with the same (workspace-wide) feature set reuses that build instead of compiling
# the server's and the app's dependency trees a second time with per-package features.
cargo build --locked --workspace --bins
target_dir="$(cargo metadata --format-version 1 --no-deps | node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(0)).target_directory)')"
export LINEUP_E2E_SERVER_BIN="$target_dir/debug/lineup-server"
export LINEUP_E2E_APP_BIN="$target_dir/debug/lineup-app"

rm -rf tests/artifacts/e2e
mkdir -p tests/artifacts/e2e
say "running the app end to end (logs and screenshots in tests/artifacts/e2e)"
# A private session bus for everything below; a fresh kernel session keyring too, in case the
# core's key store falls back to keyutils.
# The session bus daemon reports every service it activates (desktop portals, accessibility)
# on stderr: that goes to a log; everything else is shown.
noise='portal|Gtk-WARNING|dbus-daemon\[|pw\.conf|^$|Joined session keyring|max threads value|SpiRegistry'
dbus-run-session -- keyctl session lineup-e2e bash tests/e2e/session.sh \
    2> >(tee tests/artifacts/e2e/session-stderr.log | grep -v -E "$noise" >&2)
