#!/usr/bin/env bash
# make demo: a whole migration on the local stack. Brings the stack up, starts Ferry (the
# coordinator and one worker of each kind, deploy/local/ferry), prepares the demo app "shop"
# (deploy/demo/setup: a v3 app with its database, files and DNS name, and an empty v4
# environment), then drives the migration with ferryctl as a user would: replicate, stop, test
# the v4 app, replicate again, migrate; and checks the result from outside Ferry (the databases
# with ferry-dump-restore verify and with tests/support/pg_fingerprint.sql through psql, the
# files, DNS, HTTP by the app's name).
#
# Options (environment): DEMO_ROWS (default 200000), DEMO_FILES (default 2000),
# FERRY_BUILD_DIR (default build).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
BUILD=${FERRY_BUILD_DIR:-$REPO/build}
ROWS=${DEMO_ROWS:-200000}
NFILES=${DEMO_FILES:-2000}
APP=shop

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
fail() {
  printf '\ndemo: FAILED: %s\n' "$*" >&2
  printf 'demo: logs of Ferry: %s/ferry/demo/logs\n' "${FERRY_STACK_DIR:-/tmp/ferry-stack}" >&2
  exit 1
}

step "The local stack (Kafka, Redis, two PostgreSQL, S3Proxy, PowerDNS, supervisord)"
deploy/local/stack up
eval "$(deploy/local/stack env)"

# A short lease, so that a killed worker's step moves on quickly in the demo.
export FERRY_WORKER_LEASE=${FERRY_WORKER_LEASE:-10s}

step "Ferry: the coordinator and one worker of each kind"
deploy/local/ferry up --build "$BUILD" --fresh
eval "$(deploy/local/ferry env)"
# shellcheck source=deploy/demo/lib.sh
source deploy/demo/lib.sh
# The Migration page (docs/console.md): the app's technical contact is an operator of it; its
# token is shown once by ferryctl and kept in a file only the user can read.
PAGE=$FERRY_COORDINATOR_URL/
CONTACT_TOKEN=$FERRY_STACK_DIR/ferry/demo/$APP-contact.token
(umask 077 && fctl user add "$APP-contact" --role operator --apps "$APP" >"$CONTACT_TOKEN" 2>/dev/null) ||
  fail "cannot add the user $APP-contact"
echo "The Migration page: $PAGE (follow the demo there; log in with the token in $CONTACT_TOKEN)"

step "The app to migrate: $APP on v3 ($ROWS rows, $NFILES files), an empty v4 environment"
deploy/demo/setup --app "$APP" --remove >/dev/null 2>&1 || true
deploy/demo/setup --app "$APP" --index 1 --rows "$ROWS" --files "$NFILES" --build "$BUILD"
spec=$FERRY_STACK_DIR/demo/$APP.json
v3=$(http_by_name "$APP.ferry.test" /data) || fail "the v3 app does not answer by its name"
echo "$APP.ferry.test -> $(dns_a "$APP.ferry.test") serves: $v3"

step "ferryctl create $spec; ferryctl replicate $APP"
fctl create "$spec"
fctl replicate "$APP"
fctl watch "$APP" # until the first full cycle: the dump-restore and a file pass at 100%
[[ $(mig "$APP" production reached_100) == true ]] || fail "replication did not reach 100%"

step "Stop replication, then test the v4 app"
fctl stop "$APP"
fctl watch "$APP"
fctl test-start "$APP"
VERBOSE=1 wait_state "$APP" production testing/running 180 || fail "the test start did not finish"
v4=$(curl -fsS -m 10 "http://127.0.2.1:18090/data") || fail "the v4 app does not answer in the test"
echo "the v4 app under test (127.0.2.1) serves: $v4"
fctl test-stop "$APP"
VERBOSE=1 wait_state "$APP" production stopped 180 || fail "the test stop did not finish"

step "Replicate again, then migrate (the v3 app stops, the database catches up, DNS renamed, v4 starts)"
fctl replicate "$APP"
fctl watch "$APP"
migrate_app "$APP" || fail "ferryctl migrate $APP was refused"
fctl watch "$APP"
[[ $(mig "$APP" production state) == migrated ]] ||
  fail "the migration ended $(mig "$APP" production state): $(mig "$APP" production error.message)"
fctl status "$APP"

step "What Ferry did, checked from outside Ferry"
ok=0
src="host=127.0.0.1 port=15432 dbname=$APP user=ferry"
tgt="host=127.0.0.1 port=15433 dbname=$APP user=ferry"
export FERRY_SECRET_PG_SOURCE=$FERRY_PG_SOURCE_PASSWORD FERRY_SECRET_PG_TARGET=$FERRY_PG_TARGET_PASSWORD
if "$BUILD/workers/dump_restore/ferry-dump-restore" verify --source "$src" --source-secret PG_SOURCE \
  --target "$tgt" --target-secret PG_TARGET; then
  echo "  [ok] the databases are equal: every table's row count and checksum (ferry-dump-restore verify)"
else
  ok=1
fi
if db_same "$APP"; then
  echo "  [ok] the databases are the same by pg_fingerprint.sql on both servers: objects, owners, grants, sequences, rows"
else
  echo "  [FAILED] the databases differ by tests/support/pg_fingerprint.sql (above)"
  ok=1
fi
src_seq=$(seq_state source "$APP") || src_seq=""
tgt_seq=$(seq_state target "$APP") || tgt_seq=""
if [[ -n $src_seq && $src_seq == "$tgt_seq" ]]; then
  called=false
  [[ ${tgt_seq#* } == t ]] && called=true
  echo "  [ok] the sequence orders_id_seq carried over: last_value ${tgt_seq% *}, is_called $called on both"
else
  echo "  [FAILED] the sequence orders_id_seq: source '$src_seq', target '$tgt_seq' (last_value is_called)"
  ok=1
fi
if no_ferry_schema "$APP"; then
  echo "  [ok] no _ferry schema left in the target database (the copy finished)"
else
  echo "  [FAILED] the target database still holds the schema _ferry"
  ok=1
fi
if "$BUILD/workers/file_sync/ferry-file-sync" verify --source "$FERRY_STACK_DIR/files/$APP-v3/production" \
  --target "s3://$APP-v4/production/"; then
  echo "  [ok] the files are equal: every file's size and MD5 against the bucket (ferry-file-sync verify)"
else
  ok=1
fi
prod=$(dns_a "$APP.ferry.test")
old=$(dns_a "$APP-v3.ferry.test")
if [[ $prod == 127.0.2.1 && $old == 127.0.1.1 ]]; then
  echo "  [ok] DNS: $APP.ferry.test -> $prod (the v4 app), $APP-v3.ferry.test -> $old (the v3 app)"
else
  echo "  [FAILED] DNS: $APP.ferry.test -> '$prod', $APP-v3.ferry.test -> '$old'"
  ok=1
fi
after=$(http_by_name "$APP.ferry.test" /data) || after=""
if [[ $(json_field "$after" generation) == v4 &&
  $(json_field "$after" checksum) == $(json_field "$v3" checksum) &&
  $(json_field "$after" rows) == $(json_field "$v3" rows) &&
  $(json_field "$after" files_checksum) == $(json_field "$v3" files_checksum) ]]; then
  echo "  [ok] http://$APP.ferry.test:18090/ is the v4 app serving the migrated data: $after"
else
  echo "  [FAILED] http://$APP.ferry.test:18090/ answers: $after (before: $v3)"
  ok=1
fi
((ok == 0)) || fail "a check did not pass"

cat <<EOF

The migration is done. Everything stays up:
  eval "\$(deploy/local/stack env)"; eval "\$(deploy/local/ferry env)"
  $BUILD/ferryctl/ferryctl status $APP           # the migration's status
  $BUILD/ferryctl/ferryctl history $APP          # who did what (the audit trail)
  $BUILD/ferryctl/ferryctl rollback $APP --yes   # back to v3 (what v4 wrote since is lost)
  deploy/local/ferry down; deploy/local/stack down

The Migration page: $PAGE
  log in with the token in $CONTACT_TOKEN ($APP's technical contact: an operator of $APP),
  or with the admin token in $FERRY_COORDINATOR_TOKEN_FILE
EOF
