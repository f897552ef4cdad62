#!/usr/bin/env bash
# Benchmark: generate a city of N people, run the nightly pipeline on it and score the result.
# Prints wall time and peak memory of each step (GNU time) and the evaluation.
# Usage: bench/city.sh N [SEED] [WORKDIR]   (PROFILE=dev for the debug build)
set -euo pipefail
cd "$(dirname "$0")/.."
persons=${1:?usage: bench/city.sh N [SEED] [WORKDIR]}
seed=${2:-7}
work=${3:-${TMPDIR:-/tmp}/pophub-bench-$persons}
source bench/build.sh
rm -rf "$work" && mkdir -p "$work"
measure generate "$bin" generate --persons "$persons" --seed "$seed" --out "$work/city"
du -sh "$work/city"
measure run "$bin" run pipelines/nightly.toml --data-root "$work/city" --warehouse "$work/warehouse"
measure evaluate "$bin" evaluate --truth "$work/city/truth" --warehouse "$work/warehouse" --json "$work/evaluation.json"
