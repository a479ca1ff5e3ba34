# deploy/demo/lib.sh: shell helpers shared by make demo (deploy/demo.sh) and the end-to-end
# tests (tests/e2e/): ask the coordinator through ferryctl, wait for a migration's state, and
# look at the result from outside Ferry (DNS through dig, HTTP through curl, the databases
# through psql and tests/support/pg_fingerprint.sql).
# Source it after setting BUILD (the CMake build dir) and the ferryctl settings
# (eval "$(deploy/local/ferry env)").

# ferryctl with the build's binary.
fctl() { "$BUILD/ferryctl/ferryctl" "$@"; }

# mig APP ENV FIELD: a field of the migration APP.ENV from `ferryctl status APP --json`
# (a dotted path: state, phase, reached_100, files.percent, error.message); "" when absent.
mig() {
  fctl status "$1" --json 2>/dev/null | python3 -c '
import json, sys
app_env, path = sys.argv[1], sys.argv[2].split(".")
try:
    data = json.load(sys.stdin)
except ValueError:
    sys.exit(0)
for m in data.get("migrations", []):
    if m.get("env") != app_env:
        continue
    v = m
    for p in path:
        v = v.get(p) if isinstance(v, dict) else None
    if v is None:
        v = ""
    print(str(v).lower() if isinstance(v, bool) else v)
' "$2" "$3"
}

# wait_state APP ENV STATE[/PHASE] SECONDS: waits until the migration is there; prints the
# states it goes through (when VERBOSE=1); returns 1 on timeout or when it lands in another
# state at rest (failed, rolled_back, migrated, stopped) than the one awaited.
wait_state() {
  local app=$1 env=$2 want=$3 secs=$4 state phase now last="" deadline=$((SECONDS + $4))
  while ((SECONDS < deadline)); do
    state=$(mig "$app" "$env" state)
    phase=$(mig "$app" "$env" phase)
    now=$state${phase:+/$phase}
    if [[ ${VERBOSE:-0} == 1 && $now != "$last" ]]; then
      printf '  %s.%s: %s\n' "$app" "$env" "$now"
    fi
    last=$now
    if [[ $now == "$want" || $state == "$want" ]]; then
      return 0
    fi
    case $state in
      failed | rolled_back | migrated | stopped)
        if [[ ${want%%/*} != "$state" ]]; then
          printf 'wait_state: %s.%s is %s, not %s: %s\n' "$app" "$env" "$now" "$want" \
            "$(mig "$app" "$env" error.message)" >&2
          return 1
        fi
        ;;
    esac
    sleep 0.5
  done
  printf 'wait_state: %s.%s still %s after %ss (waiting for %s)\n' "$app" "$env" "$last" \
    "$secs" "$want" >&2
  return 1
}

# dns_a NAME: the A record(s) the stack's PowerDNS answers for NAME, asked over DNS.
dns_a() {
  dig +short +norecurse +time=2 +tries=2 -p "${FERRY_PDNS_DNS_ADDR##*:}" \
    "@${FERRY_PDNS_DNS_ADDR%%:*}" "$1" A
}

# http_by_name NAME PATH [PORT]: GET http://NAME:PORT/PATH (port 18090 unless given), NAME
# resolved by the stack's DNS (not /etc/hosts): what a user of the app would get.
http_by_name() {
  local ip port=${3:-18090}
  ip=$(dns_a "$1" | head -n 1)
  [[ -n $ip ]] || {
    printf 'http_by_name: %s does not resolve\n' "$1" >&2
    return 1
  }
  curl -fsS -m 10 --resolve "$1:$port:$ip" "http://$1:$port/${2#/}"
}

# json_field JSON FIELD: a top-level field of a JSON text.
json_field() {
  python3 -c 'import json,sys; v=json.loads(sys.argv[1]).get(sys.argv[2]); print("" if v is None else v)' "$1" "$2"
}

# ---------------------------------------------------------------- demo apps (deploy/demo/setup)

DEMO_LIB_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# demo_db APP [ENV]: the database of an environment of a demo app, on both servers: <app> for
# production, <app>_<env> for any other environment.
demo_db() {
  if [[ ${2:-production} == production ]]; then printf '%s' "$1"; else printf '%s_%s' "$1" "$2"; fi
}

# demo_port APP [ENV]: the port the environment's two programs listen on (18090 for
# production), from the marker setup wrote.
demo_port() {
  local p
  p=$(sed -n "s/^port\\.${2:-production}=//p" "$FERRY_STACK_DIR/demo/$1.setup" 2>/dev/null | head -n 1)
  printf '%s' "${p:-18090}"
}

# demo_name APP ENV [SUFFIX]: a DNS name of the environment (no trailing dot): SUFFIX "" is
# the source's name before cutover (shop.ferry.test, shop-test.<zone>), -v4 the target's
# (shop-v4-test.<zone>), -v3 the source's after cutover. The zone is the spec's.
demo_name() {
  local app=$1 env=$2 zone tail=""
  zone=$(python3 -c '
import json, sys
spec = json.load(open(sys.argv[1]))
print(spec["environments"][sys.argv[2]]["source"]["dns"]["zone"])
' "$FERRY_STACK_DIR/demo/$app.json" "$env") || return 1
  [[ $env == production ]] || tail=-$env
  printf '%s%s%s.%s' "$app" "${3-}" "$tail" "${zone%.}"
}

# demo_psql SIDE DB ARGS...: psql on the stack's source or target server (FERRY_PG_*_URL); the
# password goes through the environment, never the command line.
demo_psql() {
  local side=$1 db=$2 url pw
  shift 2
  if [[ $side == source ]]; then
    url=$FERRY_PG_SOURCE_URL pw=$FERRY_PG_SOURCE_PASSWORD
  else
    url=$FERRY_PG_TARGET_URL pw=$FERRY_PG_TARGET_PASSWORD
  fi
  [[ $url =~ ^postgres(ql)?://([^@/:]+)@([^:/]+):([0-9]+) ]] || {
    printf 'demo_psql: FERRY_PG_%s_URL is not postgresql://user@host:port/db\n' "${side^^}" >&2
    return 2
  }
  PGPASSWORD=$pw PGCONNECT_TIMEOUT=5 psql -X -q -At -v ON_ERROR_STOP=1 \
    "host=${BASH_REMATCH[3]} port=${BASH_REMATCH[4]} user=${BASH_REMATCH[2]} dbname=$db" "$@"
}

# pg_fingerprint SIDE DB: the rows tests/support/pg_fingerprint.sql gives for the database
# (schema, comments, owners, grants, sequence values and is_called, large objects, every
# table's rows), sorted: equal text means equal databases.
pg_fingerprint() {
  local sql=$DEMO_LIB_REPO/tests/support/pg_fingerprint.sql
  [[ -f $sql ]] || {
    printf 'pg_fingerprint: %s is missing: the database comparison needs it\n' "$sql" >&2
    return 2
  }
  # The same session settings on both sides, whatever the servers' defaults.
  PGTZ=UTC PGDATESTYLE=ISO PGOPTIONS='-c extra_float_digits=3' demo_psql "$1" "$2" -F ' | ' -f "$sql" |
    LC_ALL=C sort
}

# db_same DB: the database DB is the same on the source and the target server by
# pg_fingerprint; when not, the differing rows (at most 20) go to standard error.
db_same() {
  local src tgt
  src=$(pg_fingerprint source "$1") || return 1
  tgt=$(pg_fingerprint target "$1") || return 1
  if [[ -z $src ]]; then
    printf 'db_same: the fingerprint of %s on the source is empty\n' "$1" >&2
    return 1
  fi
  if [[ $src != "$tgt" ]]; then
    printf 'db_same: %s differs (< source, > target):\n' "$1" >&2
    diff <(printf '%s\n' "$src") <(printf '%s\n' "$tgt") | grep '^[<>]' | head -n 20 >&2
    return 1
  fi
}

# no_ferry_schema DB: the target database DB holds no schema _ferry (ferry-dump-restore's mark
# of an unfinished copy; a finished copy leaves none).
no_ferry_schema() {
  local n
  n=$(demo_psql target "$1" -c "SELECT count(*) FROM pg_namespace WHERE nspname = '_ferry'") || return 1
  [[ $n == 0 ]]
}

# seq_state SIDE DB: "last_value is_called" of the demo's sequence public.orders_id_seq.
seq_state() {
  demo_psql "$1" "$2" -F ' ' -c 'SELECT last_value, is_called FROM public.orders_id_seq'
}

# migrate_app [FERRYCTL OPTIONS] APP: `ferryctl migrate`, asked again every second while the
# coordinator refuses it because the names' lowered TTL has not yet had time to reach resolvers
# (source document 4.6; at most FERRY_COORDINATOR_TTL_WAIT_MAX, 5 s on deploy/local/ferry),
# for up to MIGRATE_TTL_WAIT seconds (default 120). Any other refusal is returned at once.
migrate_app() {
  local out rc said=0 deadline=$((SECONDS + ${MIGRATE_TTL_WAIT:-120}))
  while :; do
    rc=0
    out=$(fctl migrate "$@" 2>&1) || rc=$?
    if ((rc == 1)) && [[ ${out,,} == *ttl* ]] && ((SECONDS < deadline)); then
      if ((!said)); then
        printf '  %s\n  (the lowered TTL is still spreading: asking again every second)\n' "$out"
        said=1
      fi
      sleep 1
      continue
    fi
    if ((rc == 0)); then
      [[ -z $out ]] || printf '%s\n' "$out"
    else
      printf '%s\n' "$out" >&2
    fi
    return "$rc"
  done
}

# dns_ttl NAME: the TTL the stack's PowerDNS gives NAME's A record ("" when it has none).
dns_ttl() {
  dig +noall +answer +norecurse +time=2 +tries=2 -p "${FERRY_PDNS_DNS_ADDR##*:}" \
    "@${FERRY_PDNS_DNS_ADDR%%:*}" "$1" A | awk '$4 == "A" {print $2; exit}'
}
