#!/usr/bin/env bash
# Provisioning and migration throughput: creates N tenants on one backend with the seed tool
# (its time is the provisioning figure), then migrates them all with `tenancy migrate` and a
# three-statement migration (add a column, index it, update a tenth of the rows).
#
#   bench/migrate.sh [BACKEND ...]    sqlite | pg-schema | pg-database | mariadb
#                                     (default: sqlite pg-schema)
#
# Environment: TENANTS [1000], PARALLEL [unset: the command's default], OUT
# [/tmp/tenancy-bench-migrate], PG_URL [postgres://postgres@127.0.0.1:5432/postgres],
# MYSQL_URL [mysql://root@127.0.0.1:3306]. Network tenants get the prefix `benchmig_`, and
# their schemas or databases are dropped at the end. Needs the release builds.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release}
TENANTS=${TENANTS:-1000}
OUT=${OUT:-${TMPDIR:-/tmp}/tenancy-bench-migrate}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
MYSQL_URL=${MYSQL_URL:-mysql://root@127.0.0.1:3306}
PREFIX=benchmig_
[ $# -gt 0 ] || set -- sqlite pg-schema

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# The demo's migrations plus 0002, three statements per backend.
migrations() {
    local dir=$OUT/migrations
    rm -rf "$dir"; cp -r "$ROOT/crates/tenancy-server/migrations" "$dir"
    cat > "$dir/sqlite/0002_pinned.sql" <<'EOF'
ALTER TABLE notes ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;
CREATE INDEX notes_pinned ON notes (pinned);
UPDATE notes SET pinned = 1 WHERE id % 10 = 0;
EOF
    cat > "$dir/postgres/0002_pinned.sql" <<'EOF'
ALTER TABLE notes ADD COLUMN pinned BOOLEAN NOT NULL DEFAULT false;
CREATE INDEX notes_pinned ON notes (pinned);
UPDATE notes SET pinned = true WHERE id % 10 = 0;
EOF
    cat > "$dir/mysql/0002_pinned.sql" <<'EOF'
ALTER TABLE notes ADD COLUMN pinned BOOLEAN NOT NULL DEFAULT false;
CREATE INDEX notes_pinned ON notes (pinned);
UPDATE notes SET pinned = true WHERE id % 10 = 0;
EOF
    echo "$dir"
}

config() { # backend -> prints a tenancy.toml path (empty for sqlite)
    local file=$OUT/$1.toml
    case $1 in
        sqlite) return 0 ;;
        pg-schema) printf '[servers.pg1]\nkind = "postgres"\nurl = "%s"\nisolation = "schema"\nprefix = "%s"\n' "$PG_URL" "$PREFIX" > "$file" ;;
        pg-database) printf '[servers.pg1]\nkind = "postgres"\nurl = "%s"\nisolation = "database"\nprefix = "%s"\n' "$PG_URL" "$PREFIX" > "$file" ;;
        mariadb) printf '[servers.my1]\nkind = "mysql"\nurl = "%s"\nprefix = "%s"\n' "$MYSQL_URL" "$PREFIX" > "$file" ;;
    esac
    echo "$file"
}

cleanup() { # backend: drops what the network tenants left
    case $1 in
        # One statement per schema: dropping a thousand in one transaction runs out of locks.
        pg-schema) psql -qAt "$PG_URL" -c "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, '$PREFIX')" |
            while read -r s; do psql -qAt "$PG_URL" -c "SET client_min_messages = warning; DROP SCHEMA \"$s\" CASCADE"; done ;;
        pg-database) psql -qAt "$PG_URL" -c "SELECT datname FROM pg_database WHERE starts_with(datname, '$PREFIX')" |
            while read -r db; do psql -qAt "$PG_URL" -c "DROP DATABASE \"$db\" WITH (FORCE)"; done ;;
        mariadb) mysql -h 127.0.0.1 -u root -N -e "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '${PREFIX}%'" |
            while read -r db; do mysql -h 127.0.0.1 -u root -e "DROP DATABASE \`$db\`"; done ;;
    esac
}

mkdir -p "$OUT"
DIR=$(migrations)
for backend in "$@"; do
    data=$OUT/data-$backend
    rm -rf "$data"; cleanup "$backend"
    cfg=$(config "$backend")
    args=(--data-dir "$data"); [ -n "$cfg" ] && args+=(--config "$cfg")
    seed=(--tenants "$TENANTS" --json)
    case $backend in
        sqlite) seed+=(--notes 100) ;;
        pg-*) seed+=(--server pg1 --notes 0) ;;
        mariadb) seed+=(--server my1 --notes 0) ;;
    esac

    log "provisioning $TENANTS tenants on $backend"
    provision=$("$BIN/seed" "${args[@]}" "${seed[@]}")
    log "$provision"

    log "migrating $TENANTS tenants on $backend"
    parallel=(); [ -n "${PARALLEL:-}" ] && parallel=(--parallel "$PARALLEL")
    start=$(date +%s.%N)
    TENANCY_TENANT_MIGRATIONS_DIR=$DIR "$BIN/tenancy" "${args[@]}" --json migrate "${parallel[@]}" \
        > "$OUT/migrate-$backend.json" 2> "$OUT/migrate-$backend.err" || log "migrate reported failures"
    end=$(date +%s.%N)
    seconds=$(echo "$end - $start" | bc -l)
    migrated=$(grep -c '"event":"tenant".*"status":"migrated"' "$OUT/migrate-$backend.json" || true)
    jq -cn --arg backend "$backend" --argjson provision "$provision" --arg seconds "$seconds" \
        --arg tenants "$TENANTS" --arg migrated "$migrated" \
        '{backend: $backend, provision: $provision, migrate_seconds: ($seconds | tonumber),
          migrate_tenants_per_second: (($tenants | tonumber) / ($seconds | tonumber)),
          outcomes_migrated: ($migrated | tonumber)}' | tee -a "$OUT/results.jsonl"
    cleanup "$backend"
done
