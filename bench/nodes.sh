#!/usr/bin/env bash
# One node against two on the same PostgreSQL database, on this machine: a fresh database, N
# people from shared/data/users.py loaded through the first node, then wrk (10 s each) on
#   reads   GET /v1/users/{id} over the loaded ids,
#   creates POST /v1/users, a new username each time,
#   mixed   bench/soak.lua (80% reads, 10% patches, 5% creates, 5% queries),
# first with 64 connections to one node, then with 32 to each of two nodes at once (their rates
# added); then roster-bench's lifecycle iteration (create, patch, lock, delete) the same way.
# Every node shares the machine's cores with PostgreSQL and wrk.
# usage: bench/nodes.sh [N=10000]   (needs wrk and a PostgreSQL at ROSTER_BENCH_POSTGRES_URL,
#        default postgres://postgres@127.0.0.1:5432; the database roster_nodes_bench is recreated)
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-10000}"
USERS_PY="${USERS_PY:-../shared/data/users.py}"
PG="${ROSTER_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 1; }

cargo build --release -q -p roster-server -p roster-bench
psql "$PG/postgres" -qc "drop database if exists roster_nodes_bench" -c "create database roster_nodes_bench"
export ROSTER_DATABASE_URL="$PG/roster_nodes_bench"
export ROSTER_BOOTSTRAP_TOKEN="rst_bench_$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
work="$(mktemp -d)"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
bases=()
for n in 1 2; do
    port="$(free_port)"
    ROSTER_LOG=warn ./target/release/roster serve --listen "127.0.0.1:$port" --data-dir "$work/data$n" &
    pids+=($!)
    bases+=("http://127.0.0.1:$port")
    for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.05; done
done
python3 "$USERS_PY" --count "$N" | python3 bench/load_users.py "${bases[0]}" "$ROSTER_BOOTSTRAP_TOKEN" > "$work/ids"

# wrk on one node with `connections`, printing its rate; `tag` keeps usernames apart.
run() {
    local what="$1" base="$2" connections="$3" tag="$4"
    local script=bench/get_by_id.lua
    case "$what" in creates) script=bench/create.lua ;; mixed) script=bench/soak.lua ;; esac
    ROSTER_IDS="$work/ids" ROSTER_TOKEN="$ROSTER_BOOTSTRAP_TOKEN" ROSTER_TAG="$tag" \
        wrk -t1 -c"$connections" -d10s --latency -s "$script" "$base" \
        | awk -v w="$what" -v b="$base" '/Requests\/sec/ { r = $2 } /99%/ { p = $2 } /non-2xx/ { e = $NF }
            END { printf "%s %s %s req/s p99 %s errors %s\n", w, b, r, p, e }'
}
for what in reads creates mixed; do
    echo "== $what, one node, 64 connections"
    run "$what" "${bases[0]}" 64 "one-$what"
    echo "== $what, two nodes, 32 connections each at once"
    run "$what" "${bases[0]}" 32 "a-$what" > "$work/a" &
    first=$!
    run "$what" "${bases[1]}" 32 "b-$what" > "$work/b" &
    wait "$first" "$!"
    cat "$work/a" "$work/b"
    awk '{ s += $3 } END { printf "total %.0f req/s\n", s }' "$work/a" "$work/b"
done
echo "== lifecycle, one node, 64 clients"
ROSTER_BENCH_TOKEN="$ROSTER_BOOTSTRAP_TOKEN" ./target/release/roster-bench --lifecycle-at "${bases[0]}" | grep -v '^total'
echo "== lifecycle, two nodes, 32 clients each at once"
ROSTER_BENCH_TOKEN="$ROSTER_BOOTSTRAP_TOKEN" ./target/release/roster-bench --lifecycle-at "${bases[0]}" --lifecycle-at "${bases[1]}"
