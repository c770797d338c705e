#!/usr/bin/env bash
# Soak: a release build on the embedded SQLite default under a steady mix of reads and writes
# (bench/soak.lua: 80% reads by id, 10% merge patches, 5% creates, 5% queries) for MINUTES
# minutes, with the RSS of the process sampled every 30 s — it must stay flat (no leak).
#   1. starts `roster serve` on a fresh data directory (127.0.0.1, a free port),
#   2. creates N users from shared/data/users.py,
#   3. runs wrk (2 threads, 32 connections) in 30 s slices, printing requests/s, errors and RSS
#      after each; the samples go to target/soak.csv.
# usage: bench/soak.sh [MINUTES=10] [N=10000]   (needs wrk: apt-get install wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES="${1:-10}"
N="${2:-10000}"
USERS_PY="${USERS_PY:-../shared/data/users.py}"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 1; }

cargo build --release -q -p roster-server
work="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export ROSTER_BOOTSTRAP_TOKEN="rst_soak_$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
ROSTER_CONFIG=/dev/null ROSTER_LOG=warn ./target/release/roster serve --listen "127.0.0.1:$port" --data-dir "$work/data" &
pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 100); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.05; done
rss_kib() { awk '/VmRSS/ { print $2 }' "/proc/$pid/status"; }

python3 "$USERS_PY" --count "$N" | python3 bench/load_users.py "$base" "$ROSTER_BOOTSTRAP_TOKEN" > "$work/ids"
echo "minute,requests_per_second,errors,rss_mib" > target/soak.csv
echo "after loading $N users: RSS $(( $(rss_kib) / 1024 )) MiB"
slices=$(( MINUTES * 2 ))
for s in $(seq 1 "$slices"); do
    out="$(ROSTER_IDS="$work/ids" ROSTER_TOKEN="$ROSTER_BOOTSTRAP_TOKEN" \
        wrk -t2 -c32 -d30s -s bench/soak.lua "$base")"
    rps="$(echo "$out" | awk '/Requests\/sec/ { print $2 }')"
    errors="$(echo "$out" | awk '/non-2xx or errors/ { print $4 }')"
    rss="$(awk -v k="$(rss_kib)" 'BEGIN { printf "%.1f", k / 1024 }')"
    minute="$(awk -v s="$s" 'BEGIN { printf "%.1f", s / 2 }')"
    echo "$minute,$rps,$errors,$rss" >> target/soak.csv
    echo "minute $minute: $rps req/s, $errors errors, RSS $rss MiB"
done
echo "samples in target/soak.csv"
