# Starts a throwaway PostgreSQL cluster for the tests when LINEUP_TEST_DATABASE_URL is not
# given, exports LINEUP_TEST_DATABASE_URL, and stops the cluster when the calling shell exits.
# Sourced by scripts/test.

start_test_postgres() {
    if [ -n "${LINEUP_TEST_DATABASE_URL:-}" ]; then
        say "using the PostgreSQL given in LINEUP_TEST_DATABASE_URL"
        return 0
    fi
    ensure_apt postgresql
    local bindir
    bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -x "$bindir/initdb" ] || { echo "PostgreSQL binaries not found under /usr/lib/postgresql" >&2; exit 1; }
    PG_TMP=$(mktemp -d /tmp/lineup-pg.XXXXXX)
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    local run=()
    if [ "$(id -u)" -eq 0 ]; then
        # PostgreSQL refuses to run as root: run the cluster as the postgres user.
        chown postgres "$PG_TMP"
        run=(runuser -u postgres --)
    fi
    say "starting a throwaway PostgreSQL cluster in $PG_TMP on port $port"
    "${run[@]}" "$bindir/initdb" -D "$PG_TMP/data" -U lineup --auth=trust -E UTF8 >/dev/null
    "${run[@]}" "$bindir/pg_ctl" -D "$PG_TMP/data" -l "$PG_TMP/log" -w -o "-p $port -k $PG_TMP -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off" start >/dev/null
    PG_STOP=("${run[@]}" "$bindir/pg_ctl" -D "$PG_TMP/data" -m immediate stop)
    trap 'stop_test_postgres' EXIT
    export LINEUP_TEST_DATABASE_URL="postgres://lineup@127.0.0.1:$port/postgres"
}

stop_test_postgres() {
    if [ -n "${PG_TMP:-}" ]; then
        "${PG_STOP[@]}" >/dev/null 2>&1 || true
        rm -rf "$PG_TMP"
        PG_TMP=
    fi
}
