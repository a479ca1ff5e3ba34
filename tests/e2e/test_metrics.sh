#!/usr/bin/env bash
# End-to-end: the coordinator's /metrics scraped by a real Prometheus (Debian's prometheus, on
# loopback, its own port and data directory, scraping every second with a viewer's token (a
# user of its own, read-only: docs/console.md) as a bearer credentials file, and loading deploy/prometheus/ferry-alerts.yml). A demo app is
# replicated and migrated (dump_restore); the test then asks Prometheus's HTTP API for the
# figures of that migration: its state, its cutover's downtime (the same as the API's), its last
# copy, step durations of every kind, workers alive and their slots, dead letters; the target is
# up and the alert rules are loaded.
# Usage: tests/e2e/test_metrics.sh --build DIR   (the stack must be up: make test does it)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
cd "$REPO"
command -v prometheus >/dev/null || { echo "prometheus is not installed (deploy/install-deps.sh)" >&2; exit 1; }

# shellcheck source=tests/e2e/lib.sh
source tests/e2e/lib.sh "$@"

PROM_DIR=$(mktemp -d)
PROM_PID=""
stop_prometheus() {
  local rc=$?
  if [[ -n $PROM_PID ]]; then
    kill "$PROM_PID" 2>/dev/null || true
    wait "$PROM_PID" 2>/dev/null || true
  fi
  if ((failures > 0 || rc != 0)) && [[ -f $PROM_DIR/prometheus.log ]]; then
    echo "== prometheus log (tail)"
    tail -n 20 "$PROM_DIR/prometheus.log"
  fi
  rm -rf "$PROM_DIR"
  (exit "$rc")
  finish
}
trap stop_prometheus EXIT

ferry_up 5

# ------------------------------------------------------------------------------------------
echo "== a whole migration"
A=e2e-metrics
new_app $A 231 --rows 2000 --files 20
fctl -q replicate $A
wait_state $A production replicating/pause 180 || fatal "replication did not reach its pause"
migrate_app -q $A || fatal "ferryctl migrate $A"
wait_state $A production migrated 300 || fatal "migrate"
MIG=$A.production
# The audit trail names who ran each command, and the environments a command without --env
# changed (docs/console.md).
audited() { # audited ACTION: ACTION by admin, accepted, on A's production
  fctl history "$A" --json | python3 -c '
import json, sys
sys.exit(0 if any(e["action"] == sys.argv[1] and e["user"] == "admin" and e["status"] == 202
                  and e["app"] == sys.argv[2] and e["env"] == "production"
                  for e in json.load(sys.stdin)["audit"]) else 1)' "$1" "$A"
}
check "the audit trail has replicate by admin on $A's production" audited replicate
check "the audit trail has migrate by admin on $A's production" audited migrate

# ------------------------------------------------------------------------------------------
echo "== Prometheus scrapes /metrics"
PROM_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
PROM=http://127.0.0.1:$PROM_PORT
# Prometheus reads as a viewer: the least a scrape needs.
(umask 077 && fctl user add prometheus --role viewer >"$PROM_DIR/token" 2>/dev/null) ||
  fatal "ferryctl user add prometheus --role viewer"
cat >"$PROM_DIR/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $REPO/deploy/prometheus/ferry-alerts.yml
scrape_configs:
  - job_name: ferry
    metrics_path: /metrics
    authorization:
      type: Bearer
      credentials_file: $PROM_DIR/token
    static_configs:
      - targets: ["${FERRY_COORDINATOR_URL#http://}"]
EOF
prometheus --config.file="$PROM_DIR/prometheus.yml" --storage.tsdb.path="$PROM_DIR/data" \
  --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn >"$PROM_DIR/prometheus.log" 2>&1 &
PROM_PID=$!

# prom_value EXPR: the value of the first series EXPR gives now ("" when none).
prom_value() {
  curl -fsS -m 5 -G --data-urlencode "query=$1" "$PROM/api/v1/query" 2>/dev/null | python3 -c '
import json, sys
try:
    r = json.load(sys.stdin)["data"]["result"]
except (ValueError, KeyError):
    sys.exit(0)
print(r[0]["value"][1] if r else "")'
}
# prom_has EXPR [SECONDS]: EXPR gives a series within SECONDS (default 60), asked every second.
prom_has() {
  local deadline=$((SECONDS + ${2:-60}))
  while ((SECONDS < deadline)); do
    [[ -n $(prom_value "$1") ]] && return 0
    sleep 1
  done
  echo "    Prometheus has no series for: $1 (now: $(prom_value "${1%% *}"))"
  return 1
}
target_health() {
  curl -fsS -m 5 "$PROM/api/v1/targets" 2>/dev/null | python3 -c '
import json, sys
try:
    t = json.load(sys.stdin)["data"]["activeTargets"]
except (ValueError, KeyError):
    sys.exit(0)  # not answering yet
print(" ".join("%s:%s" % (x["health"], x.get("lastError", "")) for x in t))'
}
rules_loaded() {
  curl -fsS -m 5 "$PROM/api/v1/rules" 2>/dev/null | python3 -c '
import json, sys
try:
    g = json.load(sys.stdin)["data"]["groups"]
except (ValueError, KeyError):
    g = []
print(sum(len(x["rules"]) for x in g if x["name"] == "ferry"))'
}

for ((t = 0; t < 60; t++)); do
  [[ $(target_health) == up:* ]] && break
  sleep 1
done
check "Prometheus's target is up ($(target_health))" [ "$(target_health | cut -d: -f1)" = up ]
check "migrated: ferry_migrations{state=\"migrated\"} >= 1" \
  prom_has 'ferry_migrations{state="migrated"} >= 1'
check "the migration's state: ferry_migration_state{migration=\"$MIG\",state=\"migrated\"} == 1" \
  prom_has "ferry_migration_state{migration=\"$MIG\",state=\"migrated\"} == 1"
for kind in dump_restore file_sync dns app; do
  check "steps of $kind ended and were timed: ferry_step_duration_seconds_count{kind=\"$kind\",outcome=\"succeeded\"} > 0" \
    prom_has "ferry_step_duration_seconds_count{kind=\"$kind\",outcome=\"succeeded\"} > 0"
done
check "a step duration histogram: ferry_step_duration_seconds_bucket{kind=\"dump_restore\",le=\"+Inf\"} > 0" \
  prom_has 'sum(ferry_step_duration_seconds_bucket{kind="dump_restore",le="+Inf"}) > 0'
check "the cutover's downtime: ferry_cutover_downtime_seconds{migration=\"$MIG\"} > 0" \
  prom_has "ferry_cutover_downtime_seconds{migration=\"$MIG\"} > 0"
api_ms=$(mig $A production cutover.downtime_ms)
prom_s=$(prom_value "ferry_cutover_downtime_seconds{migration=\"$MIG\"}")
check "the downtime is the API's ($api_ms ms, Prometheus $prom_s s)" \
  python3 -c 'import sys; sys.exit(0 if sys.argv[1] and round(float(sys.argv[2]) * 1000) == int(sys.argv[1]) else 1)' \
  "$api_ms" "${prom_s:-0}"
check "the last copy's duration: ferry_last_copy_seconds{migration=\"$MIG\",kind=\"dump_restore\"} > 0" \
  prom_has "ferry_last_copy_seconds{migration=\"$MIG\",kind=\"dump_restore\"} > 0"
check "the cutover's limit: ferry_cutover_limit_seconds{migration=\"$MIG\"} > 0" \
  prom_has "ferry_cutover_limit_seconds{migration=\"$MIG\"} > 0"
for kind in dump_restore file_sync dns app; do
  check "two $kind workers alive: ferry_workers_alive{kind=\"$kind\"} == 2" \
    prom_has "ferry_workers_alive{kind=\"$kind\"} == 2"
done
check "free worker slots: ferry_worker_slots_free{kind=\"dump_restore\"} > 0, at most the slots" \
  prom_has 'ferry_worker_slots_free{kind="dump_restore"} > 0 and ferry_worker_slots_free <= ferry_worker_slots'
check "dead letters: ferry_dead_letters == 0" prom_has 'ferry_dead_letters == 0'
check "retries counted per kind: ferry_step_retries_total{kind=\"dns\"} >= 0" \
  prom_has 'ferry_step_retries_total{kind="dns"} >= 0'
check "no migration failed: the alert FerryMigrationFailed's expression is empty" \
  [ -z "$(prom_value 'ferry_migration_state{state="failed"} == 1')" ]
check "the alert rules are loaded ($(rules_loaded) in group ferry)" [ "$(rules_loaded)" -gt 0 ]
