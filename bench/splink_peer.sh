#!/usr/bin/env bash
# Peer benchmark: pophub against Splink 5 (DuckDB backend) on the same generated city of N people.
# pophub: its whole night (ingest of the raw GBK/Excel/JSON exports, linking, publishing), wall
# time and peak memory by GNU time, scored by `pophub evaluate`. Splink: the flattened mentions
# an analyst would be handed (person_source's raw columns), tidied in bench/splink_peer.py and
# linked by a standard Splink model; its seconds from creating the linker through clustering,
# the peak memory of the whole Python process, and pairwise precision and recall against the
# same truth. Prints both and the ratio pophub night seconds / Splink link seconds.
# Usage: bench/splink_peer.sh N [SEED] [WORKDIR]   (PROFILE=dev for the debug build; BIN=path;
# Splink goes into a virtual environment at ${TMPDIR:-/tmp}/pophub-splink-venv, made once)
set -euo pipefail
cd "$(dirname "$0")/.."
persons=${1:?usage: bench/splink_peer.sh N [SEED] [WORKDIR]}
seed=${2:-7}
work=${3:-${TMPDIR:-/tmp}/pophub-splink-$persons}
source bench/build.sh
venv=${TMPDIR:-/tmp}/pophub-splink-venv
pins=(splink==5.0.0 duckdb==1.5.4)  # duckdb: the version Splink's own lock file tests with
if ! "$venv/bin/python" -c 'import splink, duckdb; assert (splink.__version__, duckdb.__version__) == ("5.0.0", "1.5.4")' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${pins[@]}"
fi
rm -rf "$work" && mkdir -p "$work"
"$bin" generate --persons "$persons" --seed "$seed" --out "$work/city" >/dev/null
/usr/bin/time -f "%e %M" -o "$work/night.time" \
  "$bin" run pipelines/nightly.toml --data-root "$work/city" --warehouse "$work/warehouse" >/dev/null
"$bin" evaluate --truth "$work/city/truth" --warehouse "$work/warehouse" --json "$work/pophub.json" >/dev/null
"$bin" sql --warehouse "$work/warehouse" --format parquet --out "$work/mentions.parquet" \
  "SELECT source, record_key, role, citizen_id_raw, name_raw, birth_date, sex FROM person_source"
/usr/bin/time -f "%e %M" -o "$work/splink.time" \
  "$venv/bin/python" bench/splink_peer.py "$work/mentions.parquet" "$work/city/truth/mentions.csv" "$work/splink.json" \
  2>"$work/splink.log" || { tail -20 "$work/splink.log"; exit 1; }
python3 - "$persons" "$work" <<'PY'
import json, sys
persons, work = int(sys.argv[1]), sys.argv[2]
night_s, night_kb = open(work + "/night.time").read().split()
py_s, py_kb = open(work + "/splink.time").read().split()
p = json.load(open(work + "/pophub.json"))
s = json.load(open(work + "/splink.json"))
mb = lambda kb: int(kb) * 1024 / 1e6
print("== %d people, %d mentions" % (persons, s["mentions"]))
print("  pophub night:  %8.2f s wall, %7.1f MB peak   precision %.6f recall %.6f" % (
    float(night_s), mb(night_kb), p["precision"], p["recall"]))
print("  splink link:   %8.2f s        %7.1f MB peak   precision %.6f recall %.6f   (python process %.2f s wall)" % (
    s["splink_seconds"], mb(py_kb), s["precision"], s["recall"], float(py_s)))
print("  pophub night / splink link: %.3f (target <= 0.25)" % (float(night_s) / s["splink_seconds"]))
PY
