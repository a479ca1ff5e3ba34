#!/usr/bin/env bash
# fuzz/run.sh SECONDS [BUILD_DIR]: runs every libFuzzer target of fuzz/ for SECONDS each, on the
# repository's corpus (fuzz/corpus/<target>/, read only) plus a scratch directory for what it
# finds. Fails on the first crash, leak or timeout, and says where the input that caused it is
# (copy it into fuzz/corpus/<target>/ as crash-<what> once fixed: docs/fuzzing.md).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:?usage: fuzz/run.sh SECONDS [BUILD_DIR]}
build=${2:-build-fuzz}
scratch=$(mktemp -d /tmp/ferry-fuzz.XXXXXX)
status=0
for dir in fuzz/corpus/*/; do
  t=$(basename "$dir")
  bin=$build/fuzz/fuzz_$t
  [[ -x $bin ]] || { echo "fuzz: $bin is not built (make fuzz builds it)" >&2; exit 1; }
  mkdir -p "$scratch/$t"
  log=$scratch/$t.log
  if "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$scratch/$t-" "$scratch/$t" "$dir" >"$log" 2>&1; then
    runs=$(grep -m1 '^stat::number_of_executed_units' "$log" | awk '{print $2}')
    cov=$(grep -E '^#[0-9]+' "$log" | tail -1 | grep -o 'cov: [0-9]*' || true)
    printf '  %-8s %6ss  %10s runs  %s\n' "$t" "$secs" "${runs:-?}" "$cov"
  else
    status=1
    echo "fuzz: $t FAILED; the log and the input are in $scratch:" >&2
    grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | head -20 >&2 || true
  fi
done
((status)) || rm -rf "$scratch"
exit $status
