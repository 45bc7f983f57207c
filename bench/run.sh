#!/usr/bin/env bash
# Runs the notes workload against `tenancy serve` (SQLite, tenants t1..tN) and then, back to
# back, against the no-tenancy baseline, and appends one line per pair to a results table.
#
#   bench/run.sh [N ...]            default N: 1 100 1000 10000
#
# BACKEND picks where the tenants live, and the baseline follows it onto the same server:
#   sqlite       one SQLite file per tenant; baseline: one SQLite file, one pool
#   pg-schema    one PostgreSQL schema per tenant (prefix `benchload_`); baseline: schema
#                `bench_baseline`, one pool of 32
#   pg-database  one PostgreSQL database per tenant (prefix `benchdb_`); baseline as above
#   mysql        one MySQL/MariaDB database per tenant (prefix `benchload_`); baseline:
#                database `bench_baseline`, one pool of 32
# Network tenants are kept between runs so that N can grow (run the Ns in increasing order);
# drop them with BACKEND=<backend> bench/run.sh --clean.
#
# Environment (defaults in brackets):
#   DURATION [10] WARMUP [3]        timed and warm-up seconds of each load run
#   CONNECTIONS [64] WRITES [10]    connections; percentage of writes (0 = read run)
#   POPULARITY [uniform]            uniform or zipf (s = 1.1)
#   OUT [/tmp/tenancy-bench]        where data, logs and results go
#   TENANCY_POOL_*                  passed through to the server (budget, idle timeout)
#   LABEL                           a note added to the mix column (say, "budget 512")
#   BACKEND [sqlite]                see above; PG_URL [postgres://postgres@127.0.0.1:5432/postgres],
#                                   MYSQL_URL [mysql://root@127.0.0.1:3306]
#
# Needs release builds: cargo build --release -p artflow-tenancy-server -p artflow-tenancy-bench
# Uses loopback only. Every step is bounded: servers are stopped at the end of each pair.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
CONNECTIONS=${CONNECTIONS:-64}
WRITES=${WRITES:-10}
POPULARITY=${POPULARITY:-uniform}
OUT=${OUT:-${TMPDIR:-/tmp}/tenancy-bench}
PORT=${PORT:-18080}
BASELINE_PORT=${BASELINE_PORT:-18090}
COLD_PROBES=${COLD_PROBES:-10}
BACKEND=${BACKEND:-sqlite}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
MYSQL_URL=${MYSQL_URL:-mysql://root@127.0.0.1:3306}
case "$BACKEND" in
    sqlite) PREFIX=; DB_PORT= ;;
    pg-schema) PREFIX=benchload_; DB_PORT=5432 ;;
    pg-database) PREFIX=benchdb_; DB_PORT=5432 ;;
    mysql) PREFIX=benchload_; DB_PORT=3306 ;;
    *) echo "error: BACKEND must be sqlite, pg-schema, pg-database or mysql, not '$BACKEND'" >&2; exit 2 ;;
esac
[ $# -gt 0 ] || set -- 1 100 1000 10000

if [ "$1" = "--clean" ]; then
    case "$BACKEND" in
        pg-schema)
            psql -qAt "$PG_URL" -c "SELECT format('DROP SCHEMA %I CASCADE;', nspname) FROM pg_namespace WHERE starts_with(nspname, '$PREFIX')" |
                psql -qAt "$PG_URL" -v ON_ERROR_STOP=0 > /dev/null 2>&1 ;;
        pg-database)
            psql -qAt "$PG_URL" -c "SELECT format('DROP DATABASE %I;', datname) FROM pg_database WHERE starts_with(datname, '$PREFIX')" |
                psql -qAt "$PG_URL" -v ON_ERROR_STOP=0 > /dev/null 2>&1 ;;
        mysql)
            mariadb -uroot -h127.0.0.1 -N -e "SELECT CONCAT('DROP DATABASE \`', schema_name, '\`;') FROM information_schema.schemata WHERE schema_name LIKE '${PREFIX}%'" |
                mariadb -uroot -h127.0.0.1 -f > /dev/null 2>&1 ;;
    esac
    rm -rf "$OUT/data/$BACKEND"
    exit 0
fi
CONFIG=()
SERVER=()
if [ "$BACKEND" != sqlite ]; then
    mkdir -p "$OUT"
    case "$BACKEND" in
        pg-schema) SERVER=(--server pg1); KIND=postgres; URL=$PG_URL; ISOLATION='isolation = "schema"' ;;
        pg-database) SERVER=(--server pg1); KIND=postgres; URL=$PG_URL; ISOLATION='isolation = "database"' ;;
        mysql) SERVER=(--server my1); KIND=mysql; URL=$MYSQL_URL; ISOLATION= ;;
    esac
    printf '[servers.%s]\nkind = "%s"\nurl = "%s"\n%s\nprefix = "%s"\n' \
        "${SERVER[1]}" "$KIND" "$URL" "$ISOLATION" "$PREFIX" > "$OUT/$BACKEND.toml"
    CONFIG=(--config "$OUT/$BACKEND.toml")
fi

mkdir -p "$OUT"
TABLE=$OUT/results.md
JSONL=$OUT/results.jsonl
[ -f "$TABLE" ] || cat > "$TABLE" <<'EOF'
| N | mix | popularity | tenancy req/s | baseline req/s | ratio | p50 / p99 ms (tenancy) | p50 / p99 ms (baseline) | RSS start → peak MB (tenancy) | RSS peak MB (baseline) | tenant fds peak | tenant files peak | threads peak | cold first request ms (median / max) | warm request ms (median) | errors | foreign rows | isolation |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
EOF

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

wait_http() { # host port: waits up to 30 s for /healthz (tenancy) or any answer (baseline)
    for _ in $(seq 1 300); do
        if curl -s -o /dev/null -H "Host: $1" "http://127.0.0.1:$2/healthz"; then return 0; fi
        sleep 0.1
    done
    log "server on port $2 did not answer"; return 1
}

kb() { awk -v k="$1" '$1 == k":" { print $2 }' "/proc/$2/status" 2>/dev/null; }

# Open tenant database files of a process: "connections" counts fds on tenant .sqlite
# files (one per open connection), "pools" the distinct files among them.
open_tenant_files() { # pid data_dir
    local dir
    dir=$(realpath "$2")/tenants
    find "/proc/$1/fd" -type l -printf '%l\n' 2>/dev/null | grep -E "^$dir/[^/]+\.sqlite$" || true
}

# Open connections of a process to the database server (established TCP connections).
db_connections() { ss -tnpH state established "( dport = :$DB_PORT )" 2>/dev/null | grep -c "pid=$1," || true; }

# PostgreSQL database mode: the tenant databases that have a connection open, one a line.
pg_tenant_databases() {
    psql -qAt "$PG_URL" -c "SELECT DISTINCT datname FROM pg_stat_activity WHERE starts_with(datname, '$PREFIX')" 2>/dev/null || true
}

sample() { # pid data_dir file: every 0.5 s while the process lives,
    # "rss_kb hwm_kb tenant_fds tenant_files threads" (sqlx runs one thread per SQLite
    # connection, so threads less the runtime's few is a second count of connections)
    while kill -0 "$1" 2>/dev/null; do
        local files rss hwm
        rss=$(kb VmRSS "$1" || echo 0); hwm=$(kb VmHWM "$1" || echo 0)
        if [ "$BACKEND" = pg-database ]; then
            echo "$rss $hwm $(db_connections "$1") $(pg_tenant_databases | grep -c . || true) $(kb Threads "$1" || echo 0)" >> "$3"
        elif [ "$BACKEND" != sqlite ]; then
            echo "$rss $hwm $(db_connections "$1") 1 $(kb Threads "$1" || echo 0)" >> "$3"
        else
            files=$(open_tenant_files "$1" "$2")
            echo "$rss $hwm $(printf '%s' "$files" | grep -c . || true) $(printf '%s' "$files" | sort -u | grep -c . || true) $(kb Threads "$1" || echo 0)" >> "$3"
        fi
        sleep 0.5
    done
}

max_col() { awk -v c="$1" 'BEGIN { m = 0 } $c > m { m = $c } END { print m }' "$2"; }

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) print "n/a"; else print a[int((NR + 1) / 2)] }'; }

probe() { # host port: one request on a fresh connection, in ms
    curl -s -o /dev/null -w '%{time_total}\n' -H "Host: $1" "http://127.0.0.1:$2/notes?limit=10" |
        awk '{ printf "%.2f\n", $1 * 1000 }'
}

loadgen() { # port tenants
    "$BIN/loadgen" --target "127.0.0.1:$1" --tenants "$2" --connections "$CONNECTIONS" \
        --duration-secs "$DURATION" --warmup-secs "$WARMUP" --write-percent "$WRITES" \
        --popularity "$POPULARITY" --json
}

run_tenancy() { # n
    local n=$1 data=$OUT/data/sqlite-$1 samples=$OUT/samples-tenancy-$BACKEND-$1.txt
    [ "$BACKEND" = sqlite ] || data=$OUT/data/$BACKEND
    log "seeding $n tenants in $data ($BACKEND)"
    "$BIN/seed" "${CONFIG[@]}" --data-dir "$data" --tenants "$n" "${SERVER[@]}" --json \
        > "$OUT/seed-$BACKEND-$n.json"
    : > "$samples"

    TENANCY_LOG=warn "$BIN/tenancy" "${CONFIG[@]}" --data-dir "$data" serve --listen "127.0.0.1:$PORT" \
        > "$OUT/serve-$n.log" 2>&1 &
    local pid=$!
    wait_http localhost "$PORT"
    START_RSS=$(kb VmRSS "$pid")
    sample "$pid" "$data" "$samples" &
    local sampler=$!

    log "load on tenancy, N=$n"
    TENANCY_JSON=$(loadgen "$PORT" "$n") || { log "foreign rows on tenancy, N=$n"; FAILED=1; }
    # The tenants holding an open connection now, one "…/<id>.sqlite" or "<prefix><id>" a line.
    if [ "$BACKEND" = pg-database ]; then
        TENANCY_WARM_FILES=$(pg_tenant_databases | sed "s|^$PREFIX|/|; s|$|.sqlite|")
    else
        TENANCY_WARM_FILES=$(open_tenant_files "$pid" "$data" | sort -u)
    fi

    # Cold: tenants that hold no open connection now (evicted, or idle-closed) on a fresh
    # TCP connection each; warm: one that does.
    COLD=n/a; COLD_MAX=n/a; WARM=n/a
    if [ "$n" -gt 1 ] && { [ "$BACKEND" = sqlite ] || [ "$BACKEND" = pg-database ]; }; then
        local cold=() k
        for k in $(seq 1 "$n" | shuf -n $((COLD_PROBES * 4)) --random-source=<(yes)); do
            grep -q "/t$k.sqlite$" <<< "$TENANCY_WARM_FILES" || cold+=("$k")
            [ ${#cold[@]} -ge "$COLD_PROBES" ] && break
        done
        local times=""
        [ ${#cold[@]} -gt 0 ] && times=$(for k in "${cold[@]}"; do probe "t$k.localhost" "$PORT"; done)
        if [ -n "$times" ]; then
            COLD=$(median <<< "$times"); COLD_MAX=$(sort -n <<< "$times" | tail -1)
        fi
    fi
    local warm_id=t1
    [ "$BACKEND" = sqlite ] || [ "$BACKEND" = pg-database ] && warm_id=$(head -1 <<< "$TENANCY_WARM_FILES" | sed -E 's|.*/(t[0-9]+)\.sqlite$|\1|')
    if [ -n "$warm_id" ]; then
        WARM=$(for _ in $(seq 1 "$COLD_PROBES"); do probe "$warm_id.localhost" "$PORT"; done | median)
    fi

    PEAK_RSS=$(( $(kb VmHWM "$pid") ))
    kill -TERM "$pid"; wait "$pid" || true
    wait "$sampler" || true
    PEAK_CONNS=$(max_col 3 "$samples"); PEAK_POOLS=$(max_col 4 "$samples")
    PEAK_THREADS=$(max_col 5 "$samples")

    ISOLATION=$("$BIN/verify" "${CONFIG[@]}" --data-dir "$data") || { log "isolation check failed, N=$n"; FAILED=1; }
}

run_baseline() {
    local db=$OUT/data/baseline.sqlite samples=$OUT/samples-baseline.txt
    : > "$samples"
    local source=(--database "$db") check=(--baseline "$db")
    case "$BACKEND" in
        pg-*) source=(--postgres "$PG_URL" --max-connections 32); check=(--baseline-postgres "$PG_URL") ;;
        mysql) source=(--mysql "$MYSQL_URL" --max-connections 32); check=(--baseline-mysql "$MYSQL_URL") ;;
    esac
    "$BIN/baseline" "${source[@]}" --listen "127.0.0.1:$BASELINE_PORT" \
        > "$OUT/baseline.log" 2>&1 &
    local pid=$!
    wait_http localhost "$BASELINE_PORT"
    sample "$pid" "$OUT/data" "$samples" &
    local sampler=$!

    log "load on baseline"
    BASELINE_JSON=$(loadgen "$BASELINE_PORT" 1) || { log "foreign rows on baseline"; FAILED=1; }
    BASELINE_RSS=$(kb VmHWM "$pid")
    kill -TERM "$pid"; wait "$pid" || true
    wait "$sampler" || true
    BASELINE_ISOLATION=$("$BIN/verify" "${check[@]}") || { log "baseline isolation failed"; FAILED=1; }
}

row() { # n
    local t=$TENANCY_JSON b=$BASELINE_JSON
    local mix="$((100 - WRITES))/$WRITES"
    [ "$WRITES" = 0 ] && mix="read"
    mix="$mix${LABEL:+, $LABEL}"
    [ "$BACKEND" = sqlite ] || mix="$mix, $BACKEND"
    jq -rn --argjson t "$t" --argjson b "$b" --argjson iso "$ISOLATION" \
        --arg n "$1" --arg mix "$mix" --arg pop "$POPULARITY" \
        --arg srss "$START_RSS" --arg prss "$PEAK_RSS" --arg brss "$BASELINE_RSS" \
        --arg conns "$PEAK_CONNS" --arg pools "$PEAK_POOLS" --arg threads "$PEAK_THREADS" \
        --arg cold "$COLD" --arg coldmax "$COLD_MAX" --arg warm "$WARM" '
        def ms: . / 1000 | . * 100 | round / 100;
        def mb: tonumber / 1024 | . * 10 | round / 10;
        "| \($n) | \($mix) | \($pop) | \($t.requests_per_second | round) | \($b.requests_per_second | round) | \($t.requests_per_second / $b.requests_per_second * 1000 | round / 1000) | \($t.p50_us | ms) / \($t.p99_us | ms) | \($b.p50_us | ms) / \($b.p99_us | ms) | \($srss | mb) → \($prss | mb) | \($brss | mb) | \($conns) | \($pools) | \($threads) | \($cold) / \($coldmax) | \($warm) | \($t.errors) / \($b.errors) | \($t.foreign_rows) / \($b.foreign_rows) | \($iso.tenants) dbs, \($iso.foreign_rows) foreign |"'
    jq -cn --argjson t "$t" --argjson b "$b" --argjson iso "$ISOLATION" \
        --argjson biso "$BASELINE_ISOLATION" --arg n "$1" --arg writes "$WRITES" \
        --arg pop "$POPULARITY" --arg srss "$START_RSS" --arg prss "$PEAK_RSS" \
        --arg brss "$BASELINE_RSS" --arg conns "$PEAK_CONNS" --arg pools "$PEAK_POOLS" \
        --arg threads "$PEAK_THREADS" --arg cold "$COLD" --arg coldmax "$COLD_MAX" --arg warm "$WARM" \
        '{n: $n, writes: $writes, popularity: $pop, tenancy: $t, baseline: $b,
          isolation: $iso, baseline_isolation: $biso, start_rss_kb: $srss,
          peak_rss_kb: $prss, baseline_peak_rss_kb: $brss, peak_connections: $conns,
          peak_pools: $pools, peak_threads: $threads, cold_ms_median: $cold, cold_ms_max: $coldmax,
          warm_ms_median: $warm}' >> "$JSONL"
}

FAILED=0
for n in "$@"; do
    run_tenancy "$n"
    run_baseline
    row "$n" | tee -a "$TABLE"
done
exit "$FAILED"
