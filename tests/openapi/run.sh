#!/usr/bin/env bash
# Property-based test of /openapi.json: starts a real `lineup-server --demo` on 127.0.0.1 (port
# 0), then runs schemathesis against the document it serves with every check (`--checks all`):
# examples, coverage, fuzzing and stateful phases. hooks.py registers an Ed25519 identity and
# signs every generated request (staff bearer on the box office), so the signed routes are
# tested beyond 401. Installs its pinned Python packages into tests/openapi/.venv first.
#
# Bounded for CI: LINEUP_OPENAPI_EXAMPLES (100) test cases per operation and phase, and
# LINEUP_OPENAPI_MAX_TIME (60 s; fuzzing and stateful testing go on until it is spent).
# The seed is fixed by default (one that passed in full), so CI runs the same cases each time
# (a slower machine runs a prefix of them within the time cap); LINEUP_OPENAPI_SEED=random
# explores new ones, any other value repeats a printed run. Reports (JUnit, server log):
# tests/artifacts/openapi/. Exit status non-zero on any failure.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
source "$root/scripts/lib.sh"

venv="${LINEUP_OPENAPI_VENV:-$here/.venv}"
ensure_venv "$venv" "$here/requirements.txt"

# The server as the Rust tests build it (already built when scripts/test calls this).
server=$(cd "$root" && cargo build --locked -p lineup-server --bin lineup-server --message-format=json-render-diagnostics \
    | "$venv/bin/python" -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable"):
        print(m["executable"])')
[ -x "$server" ] || { echo "run.sh: lineup-server was not built" >&2; exit 1; }

artifacts="${LINEUP_OPENAPI_ARTIFACTS:-$root/tests/artifacts/openapi}"
rm -rf "$artifacts" && mkdir -p "$artifacts"
work=$(mktemp -d)
pid=
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# Rate limits far above what one test identity sends, so 429 stays the exception it is for a
# person (its documentation is still checked whenever it happens).
LINEUP_RATE_PER_IDENTITY=1000 LINEUP_BURST_PER_IDENTITY=100000 \
LINEUP_RATE_PER_ADDRESS=1000 LINEUP_BURST_PER_ADDRESS=100000 \
    "$server" --demo --demo-open-in 3 --verify-contacts off --addr 127.0.0.1:0 --data-dir "$work/data" > "$artifacts/server.log" 2>&1 &
pid=$!
url=
for _ in $(seq 1 300); do
    url=$(grep -o 'listening on http://[^ ]*' "$artifacts/server.log" | head -1 | cut -d' ' -f3 || true)
    [ -n "$url" ] && grep -q 'Demo staff token:' "$artifacts/server.log" && break
    kill -0 "$pid" 2>/dev/null || { cat "$artifacts/server.log" >&2; echo "run.sh: lineup-server exited" >&2; exit 1; }
    sleep 0.1
done
[ -n "$url" ] || { cat "$artifacts/server.log" >&2; echo "run.sh: lineup-server did not start" >&2; exit 1; }
token=$(grep -o 'Demo staff token: .*' "$artifacts/server.log" | head -1 | cut -d' ' -f4)

seed=()
case "${LINEUP_OPENAPI_SEED:-291180939919353608940768562437968356850}" in
    random) ;;
    *) seed=(--seed "${LINEUP_OPENAPI_SEED:-291180939919353608940768562437968356850}") ;;
esac
# Run where schemathesis's caches (.hypothesis, .schemathesis) go away afterwards.
cd "$work"
LINEUP_URL="$url" LINEUP_STAFF_TOKEN="$token" SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$here" \
    "$venv/bin/schemathesis" --config-file "$here/schemathesis.toml" run "$url/openapi.json" \
    --checks all \
    --max-examples "${LINEUP_OPENAPI_EXAMPLES:-100}" \
    --max-time "${LINEUP_OPENAPI_MAX_TIME:-60}" \
    --generation-database none \
    --report junit --report-junit-path "$artifacts/junit.xml" \
    --no-color "${seed[@]}"
