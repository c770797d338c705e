#!/usr/bin/env bash
# The benchmark of docs/benchmarks.md: builds the release binaries, then runs roster-bench, which
# starts `roster serve` on a fresh SQLite file and a fresh PostgreSQL database in turn, loads the
# people of shared/data/users.py and measures the HTTP API. Arguments go to roster-bench
# (`--users 1000000`, `--backend sqlite`, `--seconds 10`; see `--help`).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p roster-server -p roster-bench
exec ./target/release/roster-bench --users-py "${USERS_PY:-../shared/data/users.py}" "$@"
