#!/usr/bin/env bash
# End-to-end: 20 demo apps migrating at once with two workers of each kind, all replicated,
# migrated and checked from outside Ferry (databases verified and compared with
# tests/support/pg_fingerprint.sql, files verified, DNS, HTTP by name).
# Usage: tests/e2e/test_many_apps.sh --build DIR [--apps N]   (the stack must be up)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
cd "$REPO"

E2E_OPTIONS="[--apps N]"
# shellcheck source=tests/e2e/lib.sh
source tests/e2e/lib.sh "$@"
N=20
set -- "${E2E_ARGS[@]}"
while (($#)); do
  case $1 in
    --apps) N=${2-}; shift 2 || shift ;;
    *) fatal "usage: $0 --build DIR [--apps N]" ;;
  esac
done
[[ $N =~ ^[0-9]+$ ]] || fatal "--apps: a number"
# Twenty cutovers queue behind the per-database-host limit (2 copies at once): the cutover's
# time limit (last duration + margin) must allow for that wait.
export FERRY_COORDINATOR_CUTOVER_MARGIN=5m
ferry_up 3

names=()
for i in $(seq 1 "$N"); do
  names+=("$(printf 'e2e-m%02d' "$i")")
done
echo "== $N apps set up"
for i in $(seq 1 "$N"); do
  new_app "${names[i - 1]}" $((100 + i)) --rows $((2000 * i)) --files $((20 + 5 * i))
done
declare -A before
for a in "${names[@]}"; do
  before[$a]=$(json_field "$(http_by_name "$a.ferry.test" /data)" checksum)
done
started=$SECONDS
echo "== replicate all"
printf '%s\n' "${names[@]}" | fctl -q replicate -f -
for a in "${names[@]}"; do
  wait_state "$a" production replicating/pause 600 || fatal "replicate $a"
done
echo "   all at 100% after $((SECONDS - started)) s"
echo "== migrate all"
migrate_all "${names[@]}" || fatal "ferryctl migrate -f -"
for a in "${names[@]}"; do
  wait_state "$a" production migrated 600 || fatal "migrate $a"
done
echo "   all migrated after $((SECONDS - started)) s in all"
for i in $(seq 1 "$N"); do
  a=${names[i - 1]}
  check "$a: databases equal" db_equal "$a"
  check "$a: databases the same by pg_fingerprint.sql" db_same_fingerprint "$a"
  check "$a: no _ferry schema left on the target" no_ferry_left "$a"
  check "$a: files equal" files_equal "$a"
  check "$a: DNS $a.ferry.test -> 127.0.2.$((100 + i))" resolves_to "$a.ferry.test" "127.0.2.$((100 + i))"
  check "$a: http://$a.ferry.test is v4 with the migrated data" serves "$a.ferry.test" v4 "${before[$a]}"
done
workers_used=$(fctl workers --json | python3 -c '
import json, sys
ws = json.load(sys.stdin).get("workers", [])
print(len([w for w in ws if w.get("alive")]))')
check "two workers of each kind alive at the end ($workers_used)" [ "$workers_used" -eq 8 ]
