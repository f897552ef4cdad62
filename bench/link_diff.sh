#!/usr/bin/env bash
# Benchmark: every link of two pophub builds on one city, compared. Runs BEFORE and AFTER (two
# pophub binaries, say the commit before a linker change and this one) on a generated city of N
# people, exports each night's links (source, record, role → person, rule, weight) and prints
# how many differ, a sample of them, and both evaluations.
# Usage: bench/link_diff.sh BEFORE_BIN AFTER_BIN [N] [SEED] [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
before=${1:?usage: bench/link_diff.sh BEFORE_BIN AFTER_BIN [N] [SEED] [WORKDIR]}
after=${2:?usage: bench/link_diff.sh BEFORE_BIN AFTER_BIN [N] [SEED] [WORKDIR]}
persons=${3:-200000}
seed=${4:-7}
work=${5:-${TMPDIR:-/tmp}/pophub-link-diff-$persons}
rm -rf "$work" && mkdir -p "$work"
"$after" generate --persons "$persons" --seed "$seed" --out "$work/city" >/dev/null
links="SELECT source, record_key, role, person_key, link_rule, round(match_weight, 9) AS match_weight FROM person_source ORDER BY source, record_key, role"
for side in before after; do
  bin=${!side}
  /usr/bin/time -f "  $side run: %e s wall, %U s user, %M KB peak" "$bin" run pipelines/nightly.toml --data-root "$work/city" --warehouse "$work/$side" >/dev/null
  "$bin" sql --warehouse "$work/$side" --format csv "$links" >"$work/$side.csv"
  echo "  $side: $("$bin" evaluate --truth "$work/city/truth" --warehouse "$work/$side" | grep -E '^precision')"
done
total=$(($(wc -l <"$work/after.csv") - 1))
differ=$(diff "$work/before.csv" "$work/after.csv" | grep -c '^>' || true)
echo "  links: $total mentions, $differ differ"
diff "$work/before.csv" "$work/after.csv" | head -20 || true
