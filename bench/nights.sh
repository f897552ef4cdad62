#!/usr/bin/env bash
# Benchmark: a city of N people over several nights in one drop folder, as departments deliver:
#   1. night 1, every source parsed;
#   2. the next day with one source of eight changed (new pension payments), reusing the others;
#   3. the same night again with --reparse --relink: the full rerun to compare with;
#   4. the next day with every export changed a little (the generator's night 2);
#   5. that night again as a full rerun;
#   6. that night again, nothing changed.
# Prints each run's wall time and peak memory (GNU time), its stage timings (the night commit
# included), how many sources were reused and links carried over, then the nights listing.
# Usage: bench/nights.sh N [SEED] [WORKDIR]   (PROFILE=dev for the debug build)
set -euo pipefail
cd "$(dirname "$0")/.."
persons=${1:?usage: bench/nights.sh N [SEED] [WORKDIR]}
seed=${2:-7}
work=${3:-${TMPDIR:-/tmp}/pophub-nights-$persons}
source bench/build.sh
rm -rf "$work" && mkdir -p "$work"
current_manifest() {
  local run
  run=$("$bin" nights --warehouse "$work/warehouse" --format json | python3 -c 'import json,sys; l=json.load(sys.stdin); print(next(n["run_id"] for n in l["nights"] if n["current"]))')
  echo "$work/warehouse/_runs/$run.json"
}
report() {
  python3 - "$(current_manifest)" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
print("    stages:", ", ".join("%s %.3fs" % (s["stage"], s["seconds"]) for s in m["stages"]))
l = m["linkage"]
print("    sources reused: %d of %d; links carried over: %d of %d mentions; pairs scored: %d" % (sum(s["reused"] for s in m["sources"]), len(m["sources"]), l["mentions_carried"], l["mentions"], l["pairs_scored"]))
PY
}
run() { measure "$1" "$bin" run pipelines/nightly.toml --data-root "$work/drop" --warehouse "$work/warehouse" "${@:2}" > /dev/null; report; }
measure generate "$bin" generate --persons "$persons" --seed "$seed" --out "$work/night1"
measure generate "$bin" generate --persons "$persons" --seed "$seed" --night 2 --out "$work/night2"
cp -r "$work/night1" "$work/drop"
run "night 1 (every source parsed)"
cp "$work/night2/social_security/pension_payments.csv" "$work/drop/social_security/"
run "next day, one source of eight changed" --as-of 2026-11-02
run "the same night, full rerun (--reparse --relink)" --as-of 2026-11-02 --reparse --relink
cp -r "$work/night2/." "$work/drop/"
run "next day, every export changed (generator night 2)" --as-of 2026-11-02
run "the same night, full rerun (--reparse --relink)" --as-of 2026-11-02 --reparse --relink
run "the same night again, nothing changed" --as-of 2026-11-02
"$bin" nights --warehouse "$work/warehouse"
