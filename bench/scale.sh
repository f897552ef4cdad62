#!/usr/bin/env bash
# Benchmark: the scaling curve. For each size, generates a city, runs one night on it and
# scores it; prints wall time, CPU time and peak memory of the night, each stage's time and peak,
# candidate pairs scored per mention, bytes of peak memory per person, and precision and recall.
# Usage: bench/scale.sh [N…]   (default 200000 1000000 3000000 10000000; PROFILE=dev for the
# debug build; SEED, WORKDIR; KEEP=1 keeps each size's city and warehouse)
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(200000 1000000 3000000 10000000)
seed=${SEED:-7}
root=${WORKDIR:-${TMPDIR:-/tmp}/pophub-scale}
source bench/build.sh
for persons in "${sizes[@]}"; do
  work="$root/$persons"
  rm -rf "$work" && mkdir -p "$work"
  echo "== $persons people"
  measure generate "$bin" generate --persons "$persons" --seed "$seed" --out "$work/city" >/dev/null
  echo "  exports: $(du -sh "$work/city" | cut -f1)"
  /usr/bin/time -f "%e %U %S %M" -o "$work/run.time" "$bin" run pipelines/nightly.toml --data-root "$work/city" --warehouse "$work/warehouse" >/dev/null
  "$bin" evaluate --truth "$work/city/truth" --warehouse "$work/warehouse" --json "$work/evaluation.json" >/dev/null
  manifest=$(ls -t "$work"/warehouse/_runs/*.json | head -1)
  python3 - "$persons" "$work/run.time" "$manifest" "$work/evaluation.json" <<'PY'
import json, sys
persons = int(sys.argv[1])
wall, user, system, peak_kb = open(sys.argv[2]).read().split()
m = json.load(open(sys.argv[3]))
e = json.load(open(sys.argv[4]))
l = m["linkage"]
peak = int(peak_kb) * 1024
print("  night: %.1f s wall, %.1f s CPU (%.2f cores), peak %.2f GB = %d bytes per person" % (
    float(wall), float(user) + float(system), (float(user) + float(system)) / float(wall), peak / 1e9, peak // persons))
for s in m["stages"]:
    print("    %-15s %8.1f s   peak so far %6.2f GB" % (s["stage"], s["seconds"], s["peak_memory_bytes"] / 1e9))
print("    publish: " + ", ".join("%s %.1f s" % (t["stage"], t["seconds"]) for t in m.get("publish_stages", [])))
print("  mentions %d, persons %d, candidate pairs %d = %.2f per mention" % (l["mentions"], l["persons"], l["pairs_scored"], l["pairs_scored"] / max(l["mentions"], 1)))
pw = e.get("pairwise", e)
print("  precision %s, recall %s" % (pw.get("precision"), pw.get("recall")))
PY
  [ -n "${KEEP:-}" ] || rm -rf "$work"
done
