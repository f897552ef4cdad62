#!/usr/bin/env bash
# Benchmark: two nights of a city of N people: the first night, then the generator's next night
# (every department's exports changed a little) and the same night again (nothing changed).
# Prints each run's wall time and peak memory (GNU time), its stage timings from the manifest
# (the night commit included), and the nights listing.
# Usage: bench/nights.sh N [SEED] [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
persons=${1:?usage: bench/nights.sh N [SEED] [WORKDIR]}
seed=${2:-7}
work=${3:-${TMPDIR:-/tmp}/pophub-nights-$persons}
profile=${PROFILE:-release}
cargo build --quiet --profile "$profile"
dir=$profile; [ "$profile" = dev ] && dir=debug
bin="${CARGO_TARGET_DIR:-target}/$dir/pophub"
rm -rf "$work" && mkdir -p "$work"
measure() { /usr/bin/time -f "  $1: %e s wall, %M KB peak" "${@:2}"; }
stages() {
  python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print("   ", ", ".join("%s %.3fs" % (s["stage"], s["seconds"]) for s in m["stages"]))' \
    "$work/warehouse/_runs/$("$bin" nights --warehouse "$work/warehouse" --format json | python3 -c 'import json,sys; l=json.load(sys.stdin); print(next(n["run_id"] for n in l["nights"] if n["current"]))').json"
}
measure generate "$bin" generate --persons "$persons" --seed "$seed" --out "$work/night1"
measure generate "$bin" generate --persons "$persons" --seed "$seed" --night 2 --out "$work/night2"
measure "night 1" "$bin" run pipelines/nightly.toml --data-root "$work/night1" --warehouse "$work/warehouse" > /dev/null
stages
measure "night 2 (every export changed)" "$bin" run pipelines/nightly.toml --data-root "$work/night2" --warehouse "$work/warehouse" --as-of 2026-11-02 > /dev/null
stages
measure "night 2 again (nothing changed)" "$bin" run pipelines/nightly.toml --data-root "$work/night2" --warehouse "$work/warehouse" --as-of 2026-11-02 > /dev/null
stages
"$bin" nights --warehouse "$work/warehouse"
