#!/usr/bin/env bash
# Benchmark: one large delimited file through ingest, staging and publish. Builds a payments
# CSV of about SIZE_MB megabytes (unique keys) from a generated city, runs a two-source pipeline
# on it and prints wall time and peak memory (GNU time) with the run's summary.
# Usage: bench/big_csv.sh SIZE_MB [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${1:?usage: bench/big_csv.sh SIZE_MB [WORKDIR]}
work=${2:-${TMPDIR:-/tmp}/pophub-big-csv}
source bench/build.sh
rm -rf "$work" && mkdir -p "$work"
"$bin" generate --persons 20000 --seed 5 --out "$work/city" > /dev/null
src="$work/city/social_security/pension_payments.csv"
target=$((size_mb * 1024 * 1024))
{
  head -n 1 "$src"
  copy=0
  written=0
  while [ "$written" -lt "$target" ]; do
    copy=$((copy + 1))
    tail -n +2 "$src" | sed "s/^SI/C${copy}SI/"
    written=$((written + $(stat -c %s "$src")))
  done
} > "$work/payments.csv"
ls -l "$work/payments.csv"
cp "$work/city/social_security/insured_persons.csv" "$work/insured.csv"
cat > "$work/big.toml" <<TOML
[pipeline]
name = "big_csv"
as_of = "2026-11-01"

[[source]]
name = "si_insured"
department = "social_security"
path = "insured.csv"
format = "csv"
record_key = "AAC001"
  [[source.mention]]
  role = "insured"
  citizen_id = "AAC002"
  name = "AAC003"
  [source.facts]
  kind = "insured"
  mention = "insured"
  internal_id = "AAC001"

[[source]]
name = "si_payments"
department = "social_security"
path = "payments.csv"
format = "csv"
record_key = { sql = "\"AAC001\" || '-' || \"AAE002\"" }
  [source.facts]
  kind = "payment"
  via = "si_insured"
  internal_id = "AAC001"
  month = "AAE002"
  amount = "AAE019"
TOML
/usr/bin/time -f "  run: %e s wall, %M KB peak" "$bin" run "$work/big.toml" --warehouse "$work/warehouse"
