# tests/e2e/lib.sh: what the end-to-end tests share: the stack's settings, a Ferry instance
# of their own with quick failure handling, assertions, demo apps, and checks made from outside
# Ferry. Source it from a test, in the repository's root with REPO set, passing the test's
# command line: `source tests/e2e/lib.sh "$@"`.
#
# The command line every test takes: --build DIR (the build whose binaries run). A test with
# options of its own sets E2E_OPTIONS (their usage, "[--apps N]") before sourcing and reads them
# from E2E_ARGS; without it, anything else is a usage error.
BUILD="" E2E_ARGS=()
while (($#)); do
  case $1 in
    --build) BUILD=${2-}; shift 2 || shift ;;
    *) E2E_ARGS+=("$1"); shift ;;
  esac
done
if [[ -z $BUILD || ! -d $BUILD ]] || [[ -z ${E2E_OPTIONS-} && ${#E2E_ARGS[@]} -gt 0 ]]; then
  echo "usage: $0 --build DIR ${E2E_OPTIONS-}" >&2
  exit 2
fi
BUILD=$(cd "$BUILD" && pwd)
eval "$(deploy/local/stack env)"
INSTANCE=e2e-$$
# Quick failure handling for a test: short leases (progress and failover every 2 s), one retry.
export FERRY_WORKER_LEASE=6s FERRY_COORDINATOR_MAX_RETRIES=1 FERRY_COORDINATOR_BACKOFF=1s
export FERRY_COORDINATOR_CUTOVER_MARGIN=10s FERRY_KAFKA_SESSION_TIMEOUT=6s
# shellcheck source=deploy/demo/lib.sh
source deploy/demo/lib.sh

failures=0
APPS=()
check() { # check DESCRIPTION COMMAND...: one assertion
  local what=$1
  shift
  if "$@"; then
    printf '  ok    %s\n' "$what"
  else
    printf '  FAIL  %s\n' "$what"
    failures=$((failures + 1))
  fi
}
fatal() {
  printf '  FATAL %s\n' "$*"
  failures=$((failures + 1))
  exit 1
}
finish() {
  local rc=$?
  for a in "${APPS[@]}"; do deploy/demo/setup --app "$a" --remove >/dev/null 2>&1 || true; done
  deploy/local/ferry down --name "$INSTANCE" >/dev/null 2>&1 || true
  # A sanitizer report in any Ferry process's log is a failure (ASan builds).
  if grep -l -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" \
    "$FERRY_STACK_DIR/ferry/$INSTANCE/logs/"*.log 2>/dev/null; then
    echo "FAIL: sanitizer reports in the logs above"
    failures=$((failures + 1))
  fi
  if ((failures > 0 || rc != 0)); then
    echo "== logs: $FERRY_STACK_DIR/ferry/$INSTANCE/logs (tail of each)"
    for f in "$FERRY_STACK_DIR/ferry/$INSTANCE/logs/"*.log; do
      echo "-- $f"
      tail -n 15 "$f"
    done
    echo "e2e: $failures failure(s)"
    exit 1
  fi
  rm -rf "$FERRY_STACK_DIR/ferry/$INSTANCE"
  echo "e2e: all checks passed"
}
trap finish EXIT

# new_app NAME INDEX [setup options]: a demo app, created in the coordinator. Its database
# moves by dump_restore unless the options say --method (the logical method has its own cases:
# each environment's stream holds a worker slot for the whole replication).
new_app() {
  local app=$1 index=$2
  shift 2
  [[ " $* " == *" --method "* ]] || set -- "$@" --method dump_restore
  APPS+=("$app")
  deploy/demo/setup --app "$app" --remove >/dev/null 2>&1 || true
  deploy/demo/setup --app "$app" --index "$index" --build "$BUILD" "$@" >/dev/null ||
    fatal "setup of $app"
  fctl -q create "$FERRY_STACK_DIR/demo/$app.json" || fatal "ferryctl create $app"
}

# pg_hostport URL: "host=H port=P" of a postgresql://user@H:P/db URL from the stack's settings
# (FERRY_PG_SOURCE_URL, FERRY_PG_TARGET_URL), so a stack moved to other ports is followed.
pg_hostport() {
  local rest=${1#*://}
  rest=${rest#*@}
  rest=${rest%%/*}
  local host=${rest%:*}
  host=${host#[}
  printf 'host=%s port=%s' "${host%]}" "${rest##*:}"
}
db_equal() { # db_equal APP [ENV]: the source and target databases are equal (ferry-dump-restore verify)
  local db
  db=$(demo_db "$1" "${2:-production}")
  FERRY_SECRET_PG_SOURCE=$FERRY_PG_SOURCE_PASSWORD FERRY_SECRET_PG_TARGET=$FERRY_PG_TARGET_PASSWORD \
    "$BUILD/workers/dump_restore/ferry-dump-restore" verify \
    --source "$(pg_hostport "$FERRY_PG_SOURCE_URL") dbname=$db user=ferry" --source-secret PG_SOURCE \
    --target "$(pg_hostport "$FERRY_PG_TARGET_URL") dbname=$db user=ferry" --target-secret PG_TARGET >/dev/null
}
# db_same_fingerprint APP [ENV]: the source and target databases are the same by
# tests/support/pg_fingerprint.sql (objects, owners, grants, sequences, large objects, rows),
# asked with psql from outside Ferry.
db_same_fingerprint() { db_same "$(demo_db "$1" "${2:-production}")"; }
# no_ferry_left APP [ENV]: the target database holds no _ferry schema.
no_ferry_left() { no_ferry_schema "$(demo_db "$1" "${2:-production}")"; }
# same_sequence APP [ENV]: public.orders_id_seq has the same last_value and is_called on both sides.
same_sequence() {
  local db src
  db=$(demo_db "$1" "${2:-production}")
  src=$(seq_state source "$db") || return 1
  [[ -n $src && $src == "$(seq_state target "$db")" ]]
}
files_equal() { # files_equal APP [ENV]: every source file is in the bucket, same size and MD5
  local env=${2:-production}
  "$BUILD/workers/file_sync/ferry-file-sync" verify \
    --source "$FERRY_STACK_DIR/files/$1-v3/$env" --target "s3://$1-v4/$env/" >/dev/null
}
resolves_to() { [[ $(dns_a "$1") == "$2" ]]; }
# serves NAME GENERATION [CHECKSUM [PORT]]: the app's name leads to that generation; with a
# CHECKSUM (even an empty one, from an app that returned none), the app's data checksum must be
# that and not empty.
serves() {
  local body
  body=$(http_by_name "$1" /data "${4:-18090}") || return 1
  [[ $(json_field "$body" generation) == "$2" ]] || return 1
  [[ $# -lt 3 ]] && return 0
  [[ -n $3 && $(json_field "$body" checksum) == "$3" ]]
}
same_nonempty() { [[ -n $1 && $1 == "$2" ]]; } # same_nonempty A B: A is not empty and B is A
state_is() { [[ $(mig "$1" production state) == "$2" ]]; }
passes_of() { mig "$1" production pass; }
supervisor_state() { # the supervisord state of a program, asked over XML-RPC by supervisorctl
  # (its URL and credentials from the stack's config file: no password on a command line)
  supervisorctl -c "$FERRY_STACK_DIR/supervisor/supervisord.conf" status "$1" 2>/dev/null |
    awk '{print $2}'
}
running() { [[ $(supervisor_state "$1") == RUNNING ]]; }
stopped() { [[ $(supervisor_state "$1") =~ ^(STOPPED|EXITED|FATAL)$ ]]; } # a state, not a failed query

# migrate_all APP...: `ferryctl migrate -f -` for all of them; the apps the coordinator refused
# while their names' lowered TTL was still spreading (FERRY_COORDINATOR_TTL_WAIT_MAX) are asked
# again every second, up to 120 s. Any other refusal fails.
migrate_all() {
  local todo=("$@") left a out deadline=$((SECONDS + 120))
  while ((${#todo[@]})); do
    out=$(printf '%s\n' "${todo[@]}" | fctl -q migrate -f - 2>&1) && return 0
    left=()
    for a in "${todo[@]}"; do
      [[ $(mig "$a" production state) == replicating ]] && left+=("$a")
    done
    ((${#left[@]})) || return 0
    if [[ ${out,,} != *ttl* ]] || ((SECONDS >= deadline)); then
      printf '%s\n' "$out" >&2
      return 1
    fi
    todo=("${left[@]}")
    sleep 1
  done
}

# ferry_up REDIS_DB: this test's Ferry instance, two workers of each kind, and ferryctl's settings.
ferry_up() {
  echo "== Ferry instance $INSTANCE: coordinator and two workers of each kind"
  deploy/local/ferry up --name "$INSTANCE" --build "$BUILD" --workers 2 \
    --port $((18750 + $$ % 40)) --redis-db "$1" --fresh || fatal "deploy/local/ferry up"
  eval "$(deploy/local/ferry env --name "$INSTANCE")"
}
