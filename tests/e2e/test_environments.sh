#!/usr/bin/env bash
# End-to-end: one app with three environments (test, acceptance, production), each in a DNS
# zone of its own (deploy/demo/setup --envs ... --zone-per-env), migrated as the source
# document describes (4.3 to 4.6): every environment replicated (`ferryctl replicate APP`), the
# non-production ones stopped to take their last copy, the final migration started from
# production renaming the names of all of them, the non-production v4 apps started; then
# `ferryctl rollback APP --yes` and the reverse. Checked from outside Ferry, environment by
# environment: DNS (dig against the stack's PowerDNS: the v3 names carry the source suffix, the
# plain names lead to the v4 app, TTLs lowered and given back), HTTP through the names, the
# databases (tests/support/pg_fingerprint.sql through psql on both servers, sequences included;
# no _ferry schema left) and the files (ferry-file-sync verify).
# Usage: tests/e2e/test_environments.sh --build DIR   (the stack must be up: make test does it)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
cd "$REPO"

# shellcheck source=tests/e2e/lib.sh
source tests/e2e/lib.sh "$@"
# The names get their TTL back this long after the migration (deploy/local/ferry's 30 s would
# only make the test wait longer).
export FERRY_COORDINATOR_TTL_RESTORE_AFTER=10s
ferry_up 4

A=e2e-envs
INDEX=205
V3=127.0.1.$INDEX V4=127.0.2.$INDEX
ENVS=(test acceptance production)
OTHERS=(test acceptance)
# test is replicated for the first time only after the final migration (4.6: "you can migrate
# non-production data after the final migration"): its names are swapped by then.
EARLY=(acceptance production)
OLD_TTL=3600 LOW_TTL=60 # setup's records and the spec's dns_ttl

echo "== one app, three environments, three zones"
new_app $A $INDEX --rows 3000 --files 40 --envs test,acceptance,production --zone-per-env
declare -A port name name3 name4 sum
for e in "${ENVS[@]}"; do
  port[$e]=$(demo_port $A "$e")
  name[$e]=$(demo_name $A "$e") || fatal "no DNS name for $A.$e in its spec"
  name3[$e]=$(demo_name $A "$e" -v3)
  name4[$e]=$(demo_name $A "$e" -v4)
  sum[$e]=$(json_field "$(http_by_name "${name[$e]}" /data "${port[$e]}")" checksum)
  check "before: $e: ${name[$e]} is the v3 app" serves "${name[$e]}" v3 "${sum[$e]}" "${port[$e]}"
  check "before: $e: ${name4[$e]} -> $V4" resolves_to "${name4[$e]}" "$V4"
done
check "the environments hold different data (test ${sum[test]:0:8}, acceptance ${sum[acceptance]:0:8}, production ${sum[production]:0:8})" \
  [ "$(printf '%s\n' "${sum[@]}" | sort -u | wc -l)" -eq 3 ]
zones=$(for e in "${ENVS[@]}"; do printf '%s\n' "${name[$e]#*.}"; done | sort -u | wc -l)
check "each environment in a zone of its own ($zones zones)" [ "$zones" -eq 3 ]

echo "== replicate acceptance and production"
for e in "${EARLY[@]}"; do fctl -q replicate $A --env "$e"; done
for e in "${EARLY[@]}"; do
  wait_state $A "$e" replicating/pause 180 || fatal "replication of $e did not reach its pause"
  check "$e: replication reached 100%" [ "$(mig $A "$e" reached_100)" = true ]
  check "$e: the names' TTL is lowered to $LOW_TTL" \
    bash -c '[[ $1 == "$3" && $2 == "$3" ]]' _ "$(dns_ttl "${name[$e]}")" "$(dns_ttl "${name4[$e]}")" "$LOW_TTL"
done

# The final migration copies production only (4.6); test and acceptance get their last copy
# by stopping their replication (4.5), as a user keeping their data would before migrating.
echo "== stop the replication of acceptance"
fctl -q stop $A --env acceptance
wait_state $A acceptance stopped 180 || fatal "stop acceptance"

echo "== migrate (from production, renaming every environment)"
migrate_app -q $A || fatal "ferryctl migrate $A"
wait_state $A production migrated 300 || fatal "migrate"

echo "== replicate test for the first time, after the final migration"
fctl -q replicate $A --env test || fatal "ferryctl replicate $A --env test"
wait_state $A test replicating/pause 180 || fatal "replication of test after the migration"
check "test: replication after the final migration reached 100%" [ "$(mig $A test reached_100)" = true ]
check "test: no TTL step (the names are swapped already): ${name[test]} TTL $(dns_ttl "${name[test]}")" \
  [ "$(dns_ttl "${name[test]}")" = "$OLD_TTL" ]
fctl -q stop $A --env test
wait_state $A test stopped 180 || fatal "stop test"
# The v4 apps of test and acceptance: started by the migration, or else by the user (4.5: start
# the app on its Environment Details page; here a test start through Ferry).
for e in "${OTHERS[@]}"; do
  if ! running "$A-v4-$e"; then
    echo "  $e: the migration left its v4 app stopped: ferryctl test-start $A --env $e"
    fctl -q test-start $A --env "$e" || fatal "test-start $e"
    wait_state $A "$e" testing/running 120 || fatal "test-start $e"
  fi
done

for e in "${ENVS[@]}"; do
  db=$(demo_db $A "$e")
  check "migrated: $e: DNS ${name[$e]} -> $V4 (v4)" resolves_to "${name[$e]}" "$V4"
  check "migrated: $e: DNS ${name3[$e]} -> $V3 (v3, source suffix)" resolves_to "${name3[$e]}" "$V3"
  check "migrated: $e: ${name4[$e]} no longer resolves" resolves_to "${name4[$e]}" ""
  check "migrated: $e: http://${name[$e]}:${port[$e]} is v4 with $e's data" \
    serves "${name[$e]}" v4 "${sum[$e]}" "${port[$e]}"
  check "migrated: $e: http://${name3[$e]}:${port[$e]} is v3" serves "${name3[$e]}" v3 "${sum[$e]}" "${port[$e]}"
  check "migrated: $e: database $db the same by pg_fingerprint.sql on both servers" \
    db_same_fingerprint $A "$e"
  check "migrated: $e: orders_id_seq as on the source (last_value is_called: source $(seq_state source "$db"), target $(seq_state target "$db"))" \
    same_sequence $A "$e"
  check "migrated: $e: no _ferry schema left in $db on the target" no_ferry_left $A "$e"
  check "migrated: $e: the files are equal" files_equal $A "$e"
done
check "migrated: the v4 production app runs" running $A-v4-production
check "migrated: the v3 production app runs (under its -v3 name)" running $A-v3-production

# The names get their old TTL back FERRY_COORDINATOR_TTL_RESTORE_AFTER after the migration.
echo "== the names' TTL given back"
restored=0
for ((t = 0; t < 60; t++)); do
  restored=1
  for e in "${ENVS[@]}"; do
    [[ $(dns_ttl "${name[$e]}") == "$OLD_TTL" && $(dns_ttl "${name3[$e]}") == "$OLD_TTL" ]] || restored=0
  done
  ((restored)) && break
  sleep 1
done
for e in "${ENVS[@]}"; do
  check "migrated: $e: TTL $OLD_TTL again on ${name[$e]} ($(dns_ttl "${name[$e]}")) and ${name3[$e]} ($(dns_ttl "${name3[$e]}"))" \
    bash -c '[[ $1 == "$3" && $2 == "$3" ]]' _ "$(dns_ttl "${name[$e]}")" "$(dns_ttl "${name3[$e]}")" "$OLD_TTL"
done

echo "== rollback"
rc=0
fctl -q rollback $A >/dev/null 2>&1 || rc=$?
check "rollback without --yes is refused (exit $rc), the migration stays migrated" \
  bash -c '[[ $1 != 0 && $2 == migrated ]]' _ "$rc" "$(mig $A production state)"
fctl -q rollback $A --yes || fatal "ferryctl rollback $A --yes"
wait_state $A production rolled_back 180 || fatal "rollback"
for e in "${ENVS[@]}"; do
  check "rolled back: $e: DNS ${name[$e]} -> $V3 (v3)" resolves_to "${name[$e]}" "$V3"
  check "rolled back: $e: DNS ${name4[$e]} -> $V4" resolves_to "${name4[$e]}" "$V4"
  check "rolled back: $e: ${name3[$e]} no longer resolves" resolves_to "${name3[$e]}" ""
  check "rolled back: $e: http://${name[$e]}:${port[$e]} is v3 again" \
    serves "${name[$e]}" v3 "${sum[$e]}" "${port[$e]}"
done
check "rolled back: the v4 production app is stopped" stopped $A-v4-production
check "rolled back: the v3 production app runs" running $A-v3-production
for e in "${OTHERS[@]}"; do
  if [[ $(mig $A "$e" state) == testing ]]; then
    fctl -q test-stop $A --env "$e" || fatal "test-stop $e"
    wait_state $A "$e" stopped 120 || fatal "test-stop $e"
  fi
  check "rolled back: $e: its v4 app is stopped" stopped "$A-v4-$e"
done
