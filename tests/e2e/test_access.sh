#!/usr/bin/env bash
# End to end: who may do what (docs/console.md). A Ferry instance of its own with a users file;
# tests/e2e/access_test.py then drives every role against every API route, sessions and their
# CSRF tokens, logout, wrong, expired, removed and renewed tokens, the audit trail, the
# security headers, ferryctl with each role's token, and looks for tokens in the logs.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
cd "$REPO"
# shellcheck source=tests/e2e/lib.sh
source tests/e2e/lib.sh "$@"

USERS=$(mktemp -d)
chmod 700 "$USERS"
{ read -r FILE_TOKEN; read -r FILE_HASH; } < <("$BUILD/coordinator/ferry-coordinator" --new-token dash)
printf '{"users": [{"name": "dash", "role": "viewer", "token_hash": "%s"}]}\n' "$FILE_HASH" \
  >"$USERS/users.json"
export FERRY_COORDINATOR_USERS=$USERS/users.json
ferry_up 7
unset FERRY_COORDINATOR_USERS

FERRY_URL=$FERRY_COORDINATOR_URL ADMIN_TOKEN=$(cat "$FERRY_COORDINATOR_TOKEN_FILE") \
  FILE_TOKEN=$FILE_TOKEN FERRYCTL=$BUILD/ferryctl/ferryctl \
  FERRY_LOGS=$FERRY_STACK_DIR/ferry/$INSTANCE/logs \
  python3 tests/e2e/access_test.py || failures=$((failures + 1))
rm -rf "$USERS"
