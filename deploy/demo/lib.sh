# deploy/demo/lib.sh: shell helpers shared by make demo (deploy/demo.sh) and the end-to-end
# tests (tests/e2e/): ask the coordinator through ferryctl, wait for a migration's state, and
# look at the result from outside Ferry (DNS through dig, HTTP through curl).
# Source it after setting BUILD (the CMake build dir) and the ferryctl settings
# (eval "$(deploy/local/ferry env)").

# ferryctl with the build's binary.
fctl() { "$BUILD/coordinator/ferryctl" "$@"; }

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

# http_by_name NAME PATH: GET http://NAME:18090/PATH, NAME resolved by the stack's DNS (not
# /etc/hosts): what a user of the app would get.
http_by_name() {
  local ip
  ip=$(dns_a "$1" | head -n 1)
  [[ -n $ip ]] || {
    printf 'http_by_name: %s does not resolve\n' "$1" >&2
    return 1
  }
  curl -fsS -m 10 --resolve "$1:18090:$ip" "http://$1:18090/${2#/}"
}

# json_field JSON FIELD: a top-level field of a JSON text.
json_field() {
  python3 -c 'import json,sys; v=json.loads(sys.argv[1]).get(sys.argv[2]); print("" if v is None else v)' "$1" "$2"
}
