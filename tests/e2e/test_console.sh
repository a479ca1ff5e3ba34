#!/usr/bin/env bash
# End-to-end: the Migration page (coordinator/ui/, docs/console.md) in a real browser. Starts a
# Ferry instance of its own (instance "console", its own port and Redis database 6), creates two
# demo apps (shop and crm, dump_restore), and through the API with the bootstrap admin token two
# users: ops-shop (operator of shop) and watcher (viewer). Then tests/e2e/console_test.py drives
# headless Chromium (Selenium): the operator logs in with the form, replicates shop from the page
# and watches it reach 100 % without a reload; crm offers it no command; the viewer sees no command
# anywhere; forged requests without the CSRF token, or from a role that may not, get 403; the
# cookie is HttpOnly and SameSite=Strict; logout ends the session; no CSP violation.
# Screenshots: BUILD/test-output/console/ (console.png: the list and a migration in progress).
# Needs python3-selenium, chromium and chromium-driver (deploy/install-deps.sh).
# Usage: tests/e2e/test_console.sh --build DIR   (the stack must be up: make test does it)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
cd "$REPO"

PY=/usr/bin/python3 # Debian's, with python3-selenium (not a pyenv or venv one)
for need in "$PY" /usr/bin/chromium /usr/bin/chromedriver; do
  [[ -x $need ]] || { echo "test_console: $need is missing (deploy/install-deps.sh)" >&2; exit 1; }
done
"$PY" -c 'import selenium' 2>/dev/null ||
  { echo "test_console: python3-selenium is missing (deploy/install-deps.sh)" >&2; exit 1; }

# shellcheck source=tests/e2e/lib.sh
source tests/e2e/lib.sh "$@"
INSTANCE=console # lib.sh's finish() stops and removes this instance
REDIS_DB=6
OUT=$BUILD/test-output/console
rm -rf "$OUT"
mkdir -p "$OUT"

# a free port of its own
# one upload at a time: shop's file pass lasts long enough for the page to show it under way
export FERRY_FILE_SYNC_CONCURRENCY=1
PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
echo "== Ferry instance $INSTANCE on port $PORT, Redis db $REDIS_DB"
deploy/local/ferry up --name "$INSTANCE" --build "$BUILD" --workers 2 --port "$PORT" \
  --redis-db "$REDIS_DB" --fresh || fatal "deploy/local/ferry up"
eval "$(deploy/local/ferry env --name "$INSTANCE")"
URL=$FERRY_COORDINATOR_URL

echo "== demo apps shop and crm (and three more, for a fuller list in the screenshots)"
new_app shop 221 --rows 200000 --files 6000
new_app crm 222 --rows 5000 --files 50
EXTRA=(billing wiki blog)
for i in "${!EXTRA[@]}"; do new_app "${EXTRA[i]}" $((223 + i)) --rows 2000 --files 30; done

# api METHOD PATH [BODY]: the API as the bootstrap admin (the token from its 0600 file, given to
# curl on stdin, never on a command line); prints the body, fails on an HTTP error.
api() {
  local args=(-sS -m 20 -X "$1" -H @- -H 'Content-Type: application/json' -w '\n%{http_code}')
  [[ $# -ge 3 ]] && args+=(--data-binary "$3")
  local out code
  out=$(printf 'Authorization: Bearer %s\n' "$(cat "$FERRY_COORDINATOR_TOKEN_FILE")" |
    curl "${args[@]}" "$URL$2") || return 1
  code=${out##*$'\n'}
  out=${out%$'\n'*}
  printf '%s\n' "$out"
  [[ $code == 2* ]] || { printf 'test_console: %s %s: HTTP %s: %s\n' "$1" "$2" "$code" "$out" >&2; return 1; }
}
token_of() { "$PY" -c 'import json, sys; print(json.load(sys.stdin)["token"])'; }

echo "== users: ops-shop (operator of shop), watcher (viewer)"
api DELETE /v1/users/ops-shop >/dev/null 2>&1 || true
api DELETE /v1/users/watcher >/dev/null 2>&1 || true
OPS=$(api POST /v1/users '{"name":"ops-shop","role":"operator","apps":["shop"]}' | token_of) ||
  fatal "POST /v1/users ops-shop"
VIEW=$(api POST /v1/users '{"name":"watcher","role":"viewer"}' | token_of) ||
  fatal "POST /v1/users watcher"
check "the users' tokens look like fy1.<name>.<secret>" \
  [ "${OPS#fy1.ops-shop.}" != "$OPS" -a "${VIEW#fy1.watcher.}" != "$VIEW" ]

for a in billing wiki; do api POST "/v1/apps/$a/replicate" '{}' >/dev/null || fatal "replicate $a"; done
# and a few apps only listed (crm's spec under other names, never replicated: a fuller list for
# the screenshots, as on a platform with many apps still to migrate)
for a in booking forms hr intranet inventory payroll portal tickets; do
  spec=$("$PY" -c 'import json, sys, uuid
s = json.load(open(sys.argv[1]))
s["app"] = sys.argv[2]
for e in s["environments"].values():
    e["source"]["id"], e["target"]["id"] = str(uuid.uuid4()), str(uuid.uuid4())
print(json.dumps(s))' "$FERRY_STACK_DIR/demo/crm.json" "$a") || fatal "spec for $a"
  api POST /v1/apps "$spec" >/dev/null || fatal "POST /v1/apps $a"
done

echo "== the page in headless Chromium"
rc=0
FERRY_UI_URL=$URL FERRY_OPERATOR_TOKEN=$OPS FERRY_VIEWER_TOKEN=$VIEW FERRY_UI_APP=shop \
  FERRY_UI_OTHER=crm FERRY_UI_OUT=$OUT FERRY_UI_WAIT=180 \
  "$PY" tests/e2e/console_test.py || rc=$?
check "the browser test (tests/e2e/console_test.py)" [ "$rc" -eq 0 ]

echo "== the audit trail has the page's commands"
audit=$(api GET '/v1/audit?app=shop&count=100') || audit=""
check "audit: ops-shop's replicate of shop is recorded" \
  "$PY" -c 'import json, sys
a = json.loads(sys.argv[1])["audit"]
sys.exit(0 if any(e.get("user") == "ops-shop" and e.get("action") == "replicate" and e.get("status") == 202 for e in a) else 1)' "$audit"
check "audit: the viewer's forged command on shop was refused and recorded (403)" \
  "$PY" -c 'import json, sys
a = json.loads(sys.argv[1])["audit"]
sys.exit(0 if any(e.get("user") == "watcher" and e.get("status") == 403 for e in a) else 1)' "$audit"

echo "console: screenshots in $OUT"
ls "$OUT"
