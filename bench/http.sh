#!/usr/bin/env bash
# HTTP benchmark of a release build on the embedded SQLite default:
#   1. starts `roster serve` on a fresh data directory (127.0.0.1, a free port),
#   2. records its idle RSS,
#   3. creates N users from shared/data/users.py through POST /v1/users (one client),
#   4. runs wrk (2 threads, 64 connections, 10 s) on GET /healthz, then on GET /v1/users/{id}
#      over all created ids, then on the ZITADEL dialect's Connect GetUserByID, the Upvest
#      dialect's GET /compat/upvest/users/{id} and the Transmit dialect's GET
#      /compat/transmit/v1/users/{id} over the same ids, then on a page of 100 users natively and
#      through the Upvest dialect, then on a search by the prefix of the primary e-mail or phone
#      natively and through Transmit's search_prefix, then MATTR's read by id and its claims
#      search next to the native filter on the same claim, then Ubisecure CustomerID's GET105 in
#      XML and in JSON, and prints RSS after the load.
#   Every person's given and family names are also their claims (load_users.py --claims).
# usage: bench/http.sh [N=10000]   (needs wrk: apt-get install wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-10000}"
USERS_PY="${USERS_PY:-../shared/data/users.py}"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 1; }

cargo build --release -q -p roster-server
work="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export ROSTER_BOOTSTRAP_TOKEN="rst_bench_$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
ROSTER_LOG=warn ./target/release/roster serve --listen "127.0.0.1:$port" --data-dir "$work/data" &
pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 100); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.05; done
rss() { awk '/VmRSS/ { printf "%.1f MiB", $2 / 1024 }' "/proc/$pid/status"; }
echo "idle RSS: $(rss)"

python3 "$USERS_PY" --count "$N" | python3 bench/load_users.py "$base" "$ROSTER_BOOTSTRAP_TOKEN" --claims > "$work/ids"

echo "== GET /healthz"
wrk -t2 -c64 -d10s --latency "$base/healthz" | grep -E "Requests/sec|99%|Non-2xx"
echo "== GET /v1/users/{id} ($N users)"
ROSTER_IDS="$work/ids" ROSTER_TOKEN="$ROSTER_BOOTSTRAP_TOKEN" \
    wrk -t2 -c64 -d10s --latency -s bench/get_by_id.lua "$base" | grep -E "Requests/sec|99%|non-2xx"
echo "== ZITADEL Connect GetUserByID ($N users)"
ROSTER_IDS="$work/ids" ROSTER_TOKEN="$ROSTER_BOOTSTRAP_TOKEN" \
    wrk -t2 -c64 -d10s --latency -s bench/zitadel_get_by_id.lua "$base" | grep -E "Requests/sec|99%|non-2xx"
echo "== Upvest GET /compat/upvest/users/{id} ($N users)"
ROSTER_IDS="$work/ids" ROSTER_TOKEN="$ROSTER_BOOTSTRAP_TOKEN" ROSTER_USERS_PATH=/compat/upvest/users \
    wrk -t2 -c64 -d10s --latency -s bench/get_by_id.lua "$base" | grep -E "Requests/sec|99%|non-2xx"
echo "== Transmit GET /compat/transmit/v1/users/{id} ($N users)"
ROSTER_IDS="$work/ids" ROSTER_TOKEN="$ROSTER_BOOTSTRAP_TOKEN" ROSTER_USERS_PATH=/compat/transmit/v1/users \
    wrk -t2 -c64 -d10s --latency -s bench/get_by_id.lua "$base" | grep -E "Requests/sec|99%|non-2xx"
# The prefix of the primary e-mail or phone (40 of the first 10,000 people), both ways.
prefix="$(python3 -c 'import urllib.parse as u; print(u.quote("emails[primary eq true and value sw \"roho\"] or phones[primary eq true and value sw \"roho\"]"))')"
for page in "/v1/users?limit=100" "/compat/upvest/users?limit=100" \
    "/v1/users?limit=100&filter=$prefix" "/compat/transmit/v1/users?page_limit=100&search_prefix=roho"; do
    echo "== GET $page"
    wrk -t2 -c64 -d10s --latency -H "Authorization: Bearer $ROSTER_BOOTSTRAP_TOKEN" "$base$page" \
        | grep -E "Requests/sec|99%|Non-2xx"
done
echo "== MATTR GET /compat/mattr/v1/users/{id} ($N users)"
ROSTER_IDS="$work/ids" ROSTER_TOKEN="$ROSTER_BOOTSTRAP_TOKEN" ROSTER_USERS_PATH=/compat/mattr/v1/users \
    wrk -t2 -c64 -d10s --latency -s bench/get_by_id.lua "$base" | grep -E "Requests/sec|99%|non-2xx"
# The family name of the first person (10 people in 100,000 have it), as a claim, both ways.
claim="$(python3 -c 'import urllib.parse as u; print(u.quote("claims.familyName eq \"Toviko\""))')"
echo "== GET /v1/users?filter=claims.familyName eq \"Toviko\""
wrk -t2 -c64 -d10s --latency -H "Authorization: Bearer $ROSTER_BOOTSTRAP_TOKEN" "$base/v1/users?filter=$claim" \
    | grep -E "Requests/sec|99%|Non-2xx"
echo "== MATTR POST /compat/mattr/v1/users/search {\"claims\": {\"familyName\": \"Toviko\"}}"
ROSTER_TOKEN="$ROSTER_BOOTSTRAP_TOKEN" ROSTER_BODY='{"claims": {"familyName": "Toviko"}}' \
    wrk -t2 -c64 -d10s --latency -s bench/post.lua "$base/compat/mattr/v1/users/search" \
    | grep -E "Requests/sec|99%|non-2xx"
for accept in application/xml application/json; do
    echo "== Ubisecure GET105 /compat/ubisecure/2.1/users/{id}, Accept: $accept ($N users)"
    ROSTER_IDS="$work/ids" ROSTER_TOKEN="$ROSTER_BOOTSTRAP_TOKEN" ROSTER_ACCEPT="$accept" \
        ROSTER_USERS_PATH=/compat/ubisecure/2.1/users \
        wrk -t2 -c64 -d10s --latency -s bench/get_by_id.lua "$base" | grep -E "Requests/sec|99%|non-2xx"
done
echo "RSS after load: $(rss)"
