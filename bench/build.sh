# Sourced by the benchmarks: builds pophub (the release profile unless PROFILE=dev: figures are
# reported for release builds) and sets `bin`, or takes BIN=path as it is; and `measure NAME
# CMD…` (wall time and peak memory).
if [ -n "${BIN:-}" ]; then
  bin=$BIN
else
  profile=${PROFILE:-release}
  cargo build --quiet --locked --profile "$profile"
  dir=$profile; [ "$profile" = dev ] && dir=debug
  bin="${CARGO_TARGET_DIR:-target}/$dir/pophub"
fi
measure() { /usr/bin/time -f "  $1: %e s wall, %M KB peak" "${@:2}"; }
