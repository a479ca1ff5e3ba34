#!/usr/bin/env bash
# End-to-end: whole migrations of demo apps through ferryctl on the local stack, with the
# coordinator and two workers of each kind (deploy/local/ferry), checked from outside Ferry:
# the databases (ferry-dump-restore verify, tests/support/pg_fingerprint.sql run with psql on
# both sides, and the app's own checksum), the files (ferry-file-sync verify), DNS (dig against
# the stack's PowerDNS) and HTTP (the app's name resolved through that DNS). Cases:
#   1. replicate (file passes repeat), stop, test-start, test-stop, replicate, migrate; then
#      rollback --yes and the reverse checks
#   2. the dump-restore workers killed during cutover: nothing renamed, the source restarted,
#      failed (source document 4.7.1); replicate again and migrate
#   3. PowerDNS stopped at rename time: automatic rollback (4.7.2)
#   4. a step failing for good (the target bucket missing), fixed, `ferryctl replay`, migrate
#   5. the logical method (docs/logical-replication.md): auto picks it, the app writes while the
#      stream runs; stop (a whole copy, the slot dropped) and replicate again; the cutover's
#      database part is the finish; every write is on the target and nothing of Ferry's is left
#      on either side
# Usage: tests/e2e/test_migration.sh --build DIR   (the stack must be up: make test does it)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
cd "$REPO"

# shellcheck source=tests/e2e/lib.sh
source tests/e2e/lib.sh "$@"

ferry_up 2

# ------------------------------------------------------------------------------------------
echo "== 1. a whole migration, then a rollback"
A=e2e-one
new_app $A 201 --rows 20000 --files 300
v3sum=$(json_field "$(http_by_name $A.ferry.test /data)" checksum)
check "before: $A.ferry.test is the v3 app" serves $A.ferry.test v3 "$v3sum"
fctl -q replicate $A
wait_state $A production replicating/pause 180 || fatal "replication did not reach its pause"
check "replication reached 100%" [ "$(mig $A production reached_100)" = true ]
first=$(passes_of $A)
# file_sync_pause is 2 s: passes go on (waited for, at most a minute)
for ((t = 0; t < 120; t++)); do
  (($(passes_of $A) > first)) && break
  sleep 0.5
done
check "file passes repeat while replicating ($first, then $(passes_of $A))" \
  [ "$(passes_of $A)" -gt "$first" ]
fctl -q stop $A
wait_state $A production stopped 180 || fatal "stop"
check "stopped: the databases are equal" db_equal $A
check "stopped: the files are equal" files_equal $A
check "stopped: the databases are the same by pg_fingerprint.sql" db_same_fingerprint $A
fctl -q test-start $A
wait_state $A production testing/running 120 || fatal "test-start"
check "test: the v4 app runs (supervisord)" running $A-v4-production
check "test: the v4 app serves the copied data" \
  same_nonempty "$v3sum" "$(json_field "$(curl -fsS -m 5 http://127.0.2.201:18090/data)" checksum)"
fctl -q test-stop $A
wait_state $A production stopped 120 || fatal "test-stop"
check "test stopped: the v4 app is stopped" stopped $A-v4-production
fctl -q replicate $A
wait_state $A production replicating/pause 180 || fatal "replicate again"
migrate_app -q $A || fatal "ferryctl migrate $A"
wait_state $A production migrated 300 || fatal "migrate"
check "migrated: the databases are equal" db_equal $A
check "migrated: the databases are the same by pg_fingerprint.sql (schema, owners, grants, sequences, rows)" \
  db_same_fingerprint $A
check "migrated: orders_id_seq as on the source (last_value is_called: source $(seq_state source $A), target $(seq_state target $A))" \
  same_sequence $A
check "migrated: no _ferry schema left on the target" no_ferry_left $A
check "migrated: the files are equal" files_equal $A
check "migrated: DNS $A.ferry.test -> 127.0.2.201 (v4)" resolves_to $A.ferry.test 127.0.2.201
check "migrated: DNS $A-v3.ferry.test -> 127.0.1.201 (v3)" resolves_to $A-v3.ferry.test 127.0.1.201
check "migrated: $A-v4.ferry.test no longer resolves" resolves_to $A-v4.ferry.test ""
check "migrated: http://$A.ferry.test is v4 with the migrated data" serves $A.ferry.test v4 "$v3sum"
check "migrated: both apps run" running $A-v4-production
check "migrated: v3 runs under its -v3 name" serves $A-v3.ferry.test v3 "$v3sum"
fctl -q rollback $A --yes
wait_state $A production rolled_back 180 || fatal "rollback"
check "rolled back: DNS $A.ferry.test -> 127.0.1.201 (v3)" resolves_to $A.ferry.test 127.0.1.201
check "rolled back: DNS $A-v4.ferry.test -> 127.0.2.201" resolves_to $A-v4.ferry.test 127.0.2.201
check "rolled back: $A-v3.ferry.test no longer resolves" resolves_to $A-v3.ferry.test ""
check "rolled back: http://$A.ferry.test is v3 again" serves $A.ferry.test v3 "$v3sum"
check "rolled back: the v4 app is stopped" stopped $A-v4-production

# ------------------------------------------------------------------------------------------
echo "== 2. the dump-restore workers killed during cutover"
B=e2e-killed
new_app $B 202 --rows 20000 --files 100
fctl -q replicate $B
wait_state $B production replicating/pause 180 || fatal "replicate $B"
# Killed as soon as the cutover starts (it first stops both apps, then copies): the copy
# then finds no worker, and the sync's time limit (last duration + 10 s here) runs out.
migrate_app -q $B || fatal "ferryctl migrate $B"
deploy/local/ferry kill --name "$INSTANCE" dump_restore
at_kill=$(mig $B production state)/$(mig $B production phase)
check "the workers were killed during the cutover ($at_kill)" \
  bash -c '[[ "$1" == cutover/stop_* || "$1" == cutover/sync ]]' _ "$at_kill"
wait_state $B production failed 180 || fatal "the cutover did not fail"
check "failed with the sync's error: $(mig $B production error.message | cut -c1-100)" \
  [ -n "$(mig $B production error.message)" ]
check "nothing renamed: $B.ferry.test -> 127.0.1.202 (v3)" resolves_to $B.ferry.test 127.0.1.202
check "nothing renamed: $B-v4.ferry.test -> 127.0.2.202" resolves_to $B-v4.ferry.test 127.0.2.202
check "the source app was restarted and serves by its name" serves $B.ferry.test v3
check "the v4 app stays stopped" stopped $B-v4-production
deploy/local/ferry workers --name "$INSTANCE" dump_restore 2
fctl -q replicate $B
wait_state $B production replicating/pause 180 || fatal "replicate after the failed cutover"
migrate_app -q $B || fatal "ferryctl migrate $B again"
wait_state $B production migrated 300 || fatal "migrate after the failed cutover"
check "then migrated: databases equal" db_equal $B
check "then migrated: $B.ferry.test serves v4" serves $B.ferry.test v4

# ------------------------------------------------------------------------------------------
echo "== 3. PowerDNS stopped at rename time: automatic rollback"
C=e2e-nodns
new_app $C 203 --rows 5000 --files 50
fctl -q replicate $C
wait_state $C production replicating/pause 180 || fatal "replicate $C"
# Stopped as the cutover starts: stopping the apps and the last copy need no DNS, the rename
# does.
migrate_app -q $C || fatal "ferryctl migrate $C"
deploy/local/stack stop pdns >/dev/null
# The rollback starts. It may also stop within a second (its own rename needs PowerDNS too, and
# the e2e settings retry once after 1 s), so the migration's history tells, not a poll that
# could miss the state.
started=0
for ((t = 0; t < 360; t++)); do
  state=$(mig $C production state)
  if [[ $state == rolling_back || $state == rolled_back ]]; then
    started=1
  elif [[ $state == failed ]] &&
    fctl history $C.production --count 1000 | grep -q -- '-> rolling_back'; then
    started=1
  fi
  ((started)) || [[ $state == failed ]] && break
  sleep 0.5
done
((started)) || {
  deploy/local/stack start pdns >/dev/null
  fatal "no automatic rollback (the migration is $(mig $C production state))"
}
deploy/local/stack start pdns >/dev/null
# The rollback renames too: if it got there before PowerDNS was back, its step failed for good
# (replayable); replay continues it.
if wait_state $C production rolled_back 180 2>/dev/null; then
  why=$(mig $C production error.message)
else
  check "the rollback stopped on PowerDNS being down, replayable" \
    [ "$(mig $C production state)/$(mig $C production replayable)" = failed/true ]
  why=$(mig $C production error.message)
  fctl -q replay $C
  wait_state $C production rolled_back 180 || fatal "the rollback did not end after a replay"
fi
check "the failure was reported: $(echo "$why" | cut -c1-100)" [ -n "$why" ]
check "DNS as before: $C.ferry.test -> 127.0.1.203" resolves_to $C.ferry.test 127.0.1.203
check "DNS as before: $C-v4.ferry.test -> 127.0.2.203" resolves_to $C-v4.ferry.test 127.0.2.203
check "the source app serves by its name" serves $C.ferry.test v3
check "the v4 app is stopped" stopped $C-v4-production

# ------------------------------------------------------------------------------------------
echo "== 4. a failed step, fixed, replayed, and the migration finished"
D=e2e-replay
new_app $D 204 --rows 5000 --files 50
"$BUILD/deploy/demo/ferry-demo-s3" remove "$D-v4" >/dev/null 2>&1 || fatal "removing the bucket"
fctl -q replicate $D
wait_state $D production failed 180 || fatal "the file pass did not fail"
check "failed on the missing bucket: $(mig $D production error.message | cut -c1-100)" \
  bash -c '[[ "$1" == *NoSuchBucket* ]]' _ "$(mig $D production error.message)"
check "the failure is replayable" [ "$(mig $D production replayable)" = true ]
"$BUILD/deploy/demo/ferry-demo-s3" create "$D-v4" >/dev/null || fatal "creating the bucket"
fctl -q replay $D
wait_state $D production replicating/pause 180 || fatal "replay"
migrate_app -q $D || fatal "ferryctl migrate $D"
wait_state $D production migrated 300 || fatal "migrate after the replay"
check "after the replay: the files are equal" files_equal $D
check "after the replay: $D.ferry.test serves v4" serves $D.ferry.test v4

# ------------------------------------------------------------------------------------------
echo "== 5. the logical method: a stream under writes, the cutover by its finish"
E=e2e-logical
new_app $E 205 --rows 20000 --files 50 --method auto
edb=$(demo_db $E production)
slot=ferry_e2e_logical_production
on_source() { demo_psql source "$edb" -c "$1"; }
fctl -q replicate $E
wait_state $E production replicating/pause 180 || fatal "replicate $E"
check "auto chose logical ($(mig $E production database.why))" \
  [ "$(mig $E production database.method)" = logical ]
check "the slot $slot is on the source" \
  [ "$(on_source "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot'")" = 1 ]
# The app's writes while the stream runs: inserts, updates (a key change among them), deletes,
# each its own transaction, for about 10 s.
(
  for ((i = 1; i <= 200; i++)); do
    on_source "BEGIN;
      INSERT INTO public.orders (customer, amount, created_at, details)
           VALUES ('load $i', $i.5, now(), '{\"load\": $i}');
      UPDATE public.orders SET amount = amount + 1, note = 'updated $i' WHERE id = $((i * 37));
      UPDATE public.orders SET id = id + 1000000 WHERE id = $((i * 41 + 3));
      DELETE FROM public.orders WHERE id = $((i * 43 + 5));
      COMMIT;" >/dev/null || exit 1
    sleep 0.05
  done
) &
load=$!
lagged=""
for ((t = 0; t < 40; t++)); do
  lag=$(mig $E production database.stream.lag_ms)
  [[ -n $lag && $lag != null ]] && lagged=$lag
  sleep 0.25
done
wait $load || fatal "the write load on the source failed"
check "the stream reported its lag while the app wrote (last ${lagged:-none} ms)" [ -n "$lagged" ]
status_shows_slot() { # APP SLOT: ferryctl status names the method and the slot
  local out
  out=$(fctl status "$1.production") || return 1
  [[ $out == *"Database method:"*logical* && $out == *"Replication slot:"*"$2"* ]]
}
cutover_by_finish() { # APP: the cutover ran the logical finish, and no whole copy
  fctl steps "$1" --json | python3 -c '
import json, sys
purposes = [s["purpose"] for s in json.load(sys.stdin)["steps"]]
sys.exit(0 if "cutover.finish" in purposes and "cutover.dr" not in purposes else 1)'
}
check "ferryctl status shows the method and the slot" status_shows_slot $E $slot
# Stop: a whole verified copy, the slot dropped first (the copy must not take Ferry's
# publication to the target); then replicating again starts the method over.
slot_and_publication() { # SIDE: how many of Ferry's slot and publication the side holds
  demo_psql "$1" "$edb" -c "SELECT (SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot') + (SELECT count(*) FROM pg_publication WHERE pubname = '$slot')"
}
fctl -q stop $E
wait_state $E production stopped 180 || fatal "stop $E"
check "stopped: the databases are equal" db_equal $E
check "stopped: no slot or publication on the source" [ "$(slot_and_publication source)" = 0 ]
check "stopped: no publication of Ferry's copied to the target" [ "$(slot_and_publication target)" = 0 ]
fctl -q replicate $E
wait_state $E production replicating/pause 180 || fatal "replicate $E again"
check "replicating again: logical, with its slot" \
  [ "$(mig $E production database.method)/$(slot_and_publication source)" = logical/2 ]
for ((i = 1; i <= 20; i++)); do
  on_source "UPDATE public.orders SET note = 'again $i' WHERE id = $((i * 53))" >/dev/null ||
    fatal "a write on the source failed"
done
src_rows=$(on_source "SELECT count(*) FROM public.orders")
migrate_app -q $E || fatal "ferryctl migrate $E"
wait_state $E production migrated 300 || fatal "migrate $E"
check "migrated with the finish, not a whole copy" cutover_by_finish $E
check "migrated: every write of the load is on the target ($src_rows rows)" \
  [ "$(demo_psql target "$edb" -c "SELECT count(*) FROM public.orders")" = "$src_rows" ]
check "migrated: the databases are equal" db_equal $E
check "migrated: the databases are the same by pg_fingerprint.sql" db_same_fingerprint $E
check "migrated: orders_id_seq as on the source" same_sequence $E
check "migrated: no _ferry schema left on the target" no_ferry_left $E
check "migrated: no slot and no publication left on the source" [ "$(slot_and_publication source)" = 0 ]
check "migrated: no publication of Ferry's on the target" [ "$(slot_and_publication target)" = 0 ]
check "migrated: $E.ferry.test serves v4" serves $E.ferry.test v4
check "migrated: the downtime was recorded ($(mig $E production cutover.downtime_ms) ms)" \
  [ -n "$(mig $E production cutover.downtime_ms)" ]
