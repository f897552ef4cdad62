#!/usr/bin/env bash
# Benchmark: the SQL server under load on a generated city of N people (1,000,000 for the issue's
# figures): 50 concurrent psycopg clients x 200 statements each, a mix of person profiles, voter-roll
# counts and a join, as an analyst (masked) over the wire. Prints errors (must be 0), throughput, and
# p50/p95/p99 latency per kind and overall; first the profile's latency with one client, on the
# server just started and again once warm.
# Usage: bench/serve.sh [N] [SEED] [WORKDIR] [CLIENTS] [STATEMENTS]   (PROFILE=dev for the debug build)
# The city and its warehouse are kept in WORKDIR and reused when they exist.
set -euo pipefail
cd "$(dirname "$0")/.."
persons=${1:-1000000}
seed=${2:-7}
work=${3:-${TMPDIR:-/tmp}/pophub-serve-$persons}
clients=${4:-50}
statements=${5:-200}
source bench/build.sh
mkdir -p "$work"
if [ ! -f "$work/warehouse/_nights/log.json" ]; then
  measure generate "$bin" generate --persons "$persons" --seed "$seed" --out "$work/city"
  measure run "$bin" run pipelines/nightly.toml --data-root "$work/city" --warehouse "$work/warehouse" > /dev/null
fi
# The benchmark's user, made anew (a kept warehouse has it from the last run).
"$bin" user remove bench --warehouse "$work/warehouse" > /dev/null 2>&1 || true
echo "bench analyst pass" | "$bin" user add bench --role analyst --warehouse "$work/warehouse" > /dev/null
venv="$work/venv"
[ -x "$venv/bin/python" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install --quiet 'psycopg[binary]==3.3.9'; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" serve --warehouse "$work/warehouse" --listen "127.0.0.1:$port" 2> "$work/serve.log" &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 600); do (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
# Sample IDs to look up: whole numbers are known to the operator who runs the benchmark.
"$bin" sql "SELECT citizen_id FROM person WHERE citizen_id IS NOT NULL ORDER BY person_key LIMIT 2000" --warehouse "$work/warehouse" --format csv | tail -n +2 > "$work/ids.txt"
districts=$("$bin" sql "SELECT DISTINCT district_code FROM person WHERE district_code IS NOT NULL" --warehouse "$work/warehouse" --format csv | tail -n +2 | paste -sd, -)
echo "one client, profiles only, on a server just started (its caches and the OS's cold):"
"$venv/bin/python" bench/serve_load.py "$port" "$work/ids.txt" "$districts" 1 200 profile
# A server that has been up holds the night's files in the OS cache and their metadata in its
# own: the files are read once more and 100 other persons' profiles run (not counted) first.
cat "$work"/warehouse/*/*.parquet > /dev/null
tail -n 100 "$work/ids.txt" > "$work/ids_warmup.txt"
"$venv/bin/python" bench/serve_load.py "$port" "$work/ids_warmup.txt" "$districts" 1 100 profile > /dev/null
echo "one client, profiles only, on a warm server (the latency of a lookup; the target is p95 <= 50 ms):"
"$venv/bin/python" bench/serve_load.py "$port" "$work/ids.txt" "$districts" 1 200 profile
echo "$clients concurrent clients, the mix:"
"$venv/bin/python" bench/serve_load.py "$port" "$work/ids.txt" "$districts" "$clients" "$statements"
ps -o rss= -p $server | awk '{printf "  server resident memory after the load: %d MB\n", $1/1024}'
