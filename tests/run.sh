#!/usr/bin/env bash
# The test command (make test): format check, normal and sanitizer builds, a brief run of every
# fuzz target, the local stack up, ctest (unit and integration) in both builds, the stack down
# again if this run started it.
# Exits non-zero on any failure. A service that is down makes its integration test fail.
set -euo pipefail
cd "$(dirname "$0")/.."

stack=deploy/local/stack
started_stack=""
cleanup() {
    if [ -n "$started_stack" ]; then
        echo "== stack down"
        "$stack" down || true
    fi
}
trap cleanup EXIT

echo "== format and banned-function checks"
make --no-print-directory format-check banned-check

echo "== build (RelWithDebInfo)"
make --no-print-directory build
echo "== build (AddressSanitizer + UndefinedBehaviorSanitizer)"
make --no-print-directory build-asan

echo "== fuzz: each libFuzzer target for 15 s (make fuzz-smoke, docs/fuzzing.md)"
make --no-print-directory fuzz-smoke

if ! "$stack" status >/dev/null 2>&1; then
    started_stack=1
fi
echo "== stack up"
"$stack" up
eval "$("$stack" env)"

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"

status=0
for dir in build build-asan; do
    echo "== ctest in $dir"
    (cd "$dir" && ctest --output-on-failure --timeout 600) || status=1
done
exit $status
