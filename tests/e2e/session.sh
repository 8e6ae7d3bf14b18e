#!/usr/bin/env bash
# The inside of the end-to-end test, run by tests/e2e/run.sh under `dbus-run-session` (so the
# session bus is private to this run). Starts the display, the notification recorder and daemon,
# the keyring, the demo server and tauri-driver, each in its own process group, runs the
# WebDriver test, and kills every group on the way out whatever happens.
set -euo pipefail
: "${LINEUP_E2E_SERVER_BIN:?run tests/e2e/run.sh}" "${LINEUP_E2E_APP_BIN:?run tests/e2e/run.sh}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
art="$root/tests/artifacts/e2e"
work="$(mktemp -d /tmp/lineup-e2e.XXXXXX)"
groups=()

log() { printf '[e2e %s] %s\n' "$(date +%T)" "$*" >&2; }

# start NAME CMD...: runs CMD in a new session (so a process group of its own), output to a log.
start() {
    local name=$1
    shift
    setsid "$@" >"$art/$name.log" 2>&1 &
    groups+=("$!")
}

cleanup() {
    local rc=$?
    set +e
    for pg in "${groups[@]}"; do kill -TERM -- "-$pg" 2>/dev/null; done
    sleep 0.5
    for pg in "${groups[@]}"; do kill -KILL -- "-$pg" 2>/dev/null; done
    rm -rf "$work"
    if [ "$rc" -eq 0 ]; then log "passed"; else log "FAILED (exit $rc); see $art"; fi
    exit "$rc"
}
trap cleanup EXIT INT TERM

# wait_for WHAT SECONDS CMD...: polls CMD until it succeeds.
wait_for() {
    local what=$1 secs=$2
    shift 2
    for _ in $(seq $((secs * 10))); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    log "timed out waiting for $what"
    return 1
}

free_port() {
    node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{process.stdout.write(String(s.address().port));s.close()})'
}

# A home of its own: the keyring files, the app's data dir and dunst's config all land here.
export HOME="$work/home" XDG_DATA_HOME="$work/home/.local/share" XDG_CONFIG_HOME="$work/home/.config"
export XDG_CACHE_HOME="$work/home/.cache" XDG_RUNTIME_DIR="$work/run"
mkdir -p "$HOME" "$XDG_DATA_HOME" "$XDG_CONFIG_HOME" "$XDG_CACHE_HOME" "$XDG_RUNTIME_DIR"
chmod 700 "$XDG_RUNTIME_DIR"
export NO_AT_BRIDGE=1 LANG=C.UTF-8

log "virtual display"
exec 3>"$work/display"
start xvfb Xvfb -displayfd 3 -screen 0 1280x900x24 -nolisten tcp
exec 3>&-
wait_for "Xvfb" 10 test -s "$work/display"
export DISPLAY=":$(tr -d '[:space:]' <"$work/display")"

log "notification recorder and daemon on $DBUS_SESSION_BUS_ADDRESS"
start notify-monitor dbus-monitor --session \
    "type='method_call',interface='org.freedesktop.Notifications',member='Notify'"
start dunst dunst
wait_for "dunst on the bus" 10 dbus-send --session --print-reply --dest=org.freedesktop.DBus \
    /org/freedesktop/DBus org.freedesktop.DBus.GetNameOwner string:org.freedesktop.Notifications
# Proves the recorder itself sees a notification before the app's is checked.
notify-send "lineup-e2e-probe" "recorder check"
wait_for "the probe in the recorder" 10 grep -q lineup-e2e-probe "$art/notify-monitor.log"

log "keyring (Secret Service: a fresh login keyring, unlocked with a throwaway password)"
# An empty password makes no login collection, and without one the store has nowhere to write.
printf 'lineup-e2e' | setsid gnome-keyring-daemon --foreground --unlock --components=secrets >"$art/keyring.log" 2>&1 &
groups+=("$!")
wait_for "gnome-keyring on the bus" 10 dbus-send --session --print-reply --dest=org.freedesktop.DBus \
    /org/freedesktop/DBus org.freedesktop.DBus.GetNameOwner string:org.freedesktop.secrets

server_port="$(free_port)"
export LINEUP_E2E_SERVER="http://127.0.0.1:$server_port"
log "lineup-server --demo on $LINEUP_E2E_SERVER"
mkdir -p "$work/server"
# Opens soon enough for a short run, late enough that the app is seen waiting in line first.
# A second campaign for the claim made with `hide_code_on_lock_screen` on, after the demo's
# voucher (half a minute in or later): joining after its draw, the ticket gets its place and
# fate in the join response (the result notification) and the server issues the voucher at
# its admission, which is never earlier than the join (the voucher notification after it).
utc() { date -u -d "$1" +%Y-%m-%dT%H:%M:%SZ; }
export LINEUP_E2E_HIDDEN_CAMPAIGN=hidden LINEUP_E2E_HIDDEN_TITLE="E2E 숨김 할인권"
cat >"$work/campaigns.toml" <<TOML
[[campaign]]
id = "$LINEUP_E2E_HIDDEN_CAMPAIGN"
title = "$LINEUP_E2E_HIDDEN_TITLE"
title_en = "E2E hidden-code voucher"
issuer = "Lineup e2e"
amount = 6000
currency = "KRW"
supply = 10
prequeue_opens_at = "$(utc 'now')"
draw_at = "$(utc "now + ${LINEUP_E2E_HIDDEN_DRAW_IN:-20} seconds")"
opens_at = "$(utc "now + ${LINEUP_E2E_HIDDEN_OPEN_IN:-30} seconds")"
closes_at = "$(utc 'now + 2 hours')"
voucher_expires_at = "$(utc 'now + 30 days')"
admission_rate_per_s = 10
admission_window_s = 300
staff_token = "lineup-e2e-hidden-staff-token"
TOML
# Contacts are verified as on a real server, with the demo sender: each one-time code is printed
# to the server's log (marked DEMO — NOT FOR PRODUCTION), where the test reads it as a person
# reads their messages.
start server "$LINEUP_E2E_SERVER_BIN" --demo --demo-open-in "${LINEUP_E2E_OPEN_IN:-25}" \
    --verify-contacts log \
    --config "$work/campaigns.toml" --addr "127.0.0.1:$server_port" --data-dir "$work/server"
wait_for "the server's /healthz" 30 curl -fsS "$LINEUP_E2E_SERVER/healthz"
wait_for "the demo staff token in the server's output" 10 grep -q '^Demo staff token: ' "$art/server.log"
LINEUP_E2E_STAFF_TOKEN="$(sed -n 's/^Demo staff token: //p' "$art/server.log" | head -1)"
export LINEUP_E2E_STAFF_TOKEN

driver_port="$(free_port)"
native_port="$(free_port)"
export LINEUP_E2E_DRIVER="http://127.0.0.1:$driver_port"
log "tauri-driver on $LINEUP_E2E_DRIVER"
# The app inherits this environment through tauri-driver and WebKitWebDriver.
LINEUP_SERVER="$LINEUP_E2E_SERVER" LINEUP_DATA_DIR="$work/app-data" LINEUP_LOG="info,lineup_app_lib=debug,lineup_core=debug" \
    start tauri-driver tauri-driver --port "$driver_port" --native-port "$native_port"
wait_for "tauri-driver" 15 curl -fsS "$LINEUP_E2E_DRIVER/status"

export LINEUP_E2E_ARTIFACTS="$art" LINEUP_E2E_NOTIFY_LOG="$art/notify-monitor.log" LINEUP_E2E_SERVER_LOG="$art/server.log"
# The person's new phone: a second profile of the app (its own key), for "I changed phones".
export LINEUP_E2E_SECOND_DATA_DIR="$work/app-data-2"
log "WebDriver test"
timeout 400 node --test --test-reporter=spec "$root/tests/e2e/app.e2e.mjs"

