#!/usr/bin/env bash
# Fuzzes every parser target for MINUTES minutes each (default 5) with cargo fuzz (libFuzzer,
# AddressSanitizer, the nightly toolchain), then prints per target: minutes, runs, corpus size and
# findings. The committed seeds are in fuzz/seeds/<target>; what a run learns goes to
# fuzz/corpus/<target> (not committed), a crash to fuzz/artifacts/<target>/ (keep each finding as
# a unit test next to the code it broke).
#   bench/fuzz.sh 10            # ten minutes a target
#   TARGETS="xlsx dates" bench/fuzz.sh 2
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-5}"
targets="${TARGETS:-delimited json_lines xlsx citizen_id dates address}"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/pophub-fuzz-target}"
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
cd fuzz
cargo +nightly fuzz build >/dev/null
printf '%-12s %8s %12s %8s %s\n' target minutes runs corpus findings
for t in $targets; do
    mkdir -p "corpus/$t"
    log="$(mktemp)"
    status=0
    # -rss_limit_mb: an input that makes a parser hold more than 2 GB is a finding too.
    cargo +nightly fuzz run "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time=$((minutes * 60)) -rss_limit_mb=2048 -max_len=65536 -timeout=20 -print_final_stats=1 \
        >"$log" 2>&1 || status=$?
    runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')"
    corpus="$(ls "corpus/$t" | wc -l)"
    findings="$(ls "artifacts/$t" 2>/dev/null | wc -l)"
    printf '%-12s %8s %12s %8s %s\n' "$t" "$minutes" "$runs" "$corpus" "$findings$([ $status -ne 0 ] && echo " (exit $status: see $log)")"
done
