# bench/lib/pg.sh - what the benchmarks share about the local stack's two PostgreSQL servers:
# connections without a password on any command line, and the generated source database of
# bench/dump_restore (pgbench tables plus a documents table). Sourced by bench/*/run after they
# define log, die, PGBIN and WORK and have read `deploy/local/stack env`.

# Splits a postgresql:// URL (no password in it) into the globals <prefix>_{USER,HOST,PORT,QUERY}.
parse_url() {
  local prefix=$1 url=$2
  [[ $url =~ ^(postgres(ql)?://)(([^@/]*)@)?([^/?]*)(/[^?]*)?(\?.*)?$ ]] ||
    die "cannot read the URL in ${prefix}_URL"
  local user=${BASH_REMATCH[4]} hostport=${BASH_REMATCH[5]} query=${BASH_REMATCH[7]}
  [[ $user != *:* ]] || die "the ${prefix} URL carries a password: it must not"
  [[ -n $user ]] || user=${PGUSER:-$(id -un)}
  local host=${hostport%:*} port=5432
  [[ $hostport == *:* ]] && port=${hostport##*:}
  printf -v "${prefix}_USER" %s "$user"
  printf -v "${prefix}_HOST" %s "$host"
  printf -v "${prefix}_PORT" %s "$port"
  printf -v "${prefix}_QUERY" %s "$query"
}
# The URL of database $2 on server $1 (src or tgt); no password in it.
db_url() {
  if [[ $1 == src ]]; then
    printf 'postgresql://%s@%s:%s/%s%s' "$SRC_USER" "$SRC_HOST" "$SRC_PORT" "$2" "$SRC_QUERY"
  else
    printf 'postgresql://%s@%s:%s/%s%s' "$TGT_USER" "$TGT_HOST" "$TGT_PORT" "$2" "$TGT_QUERY"
  fi
}

# Sets up both servers' connections: the URLs' parts, the admin databases, one password file in
# $WORK read by libpq in every tool; checks both servers answer.
bench_pg_connect() {
  parse_url SRC "${FERRY_PG_SOURCE_URL:?not set by deploy/local/stack env}"
  parse_url TGT "${FERRY_PG_TARGET_URL:?not set by deploy/local/stack env}"
  SRC_ADMIN_DB=${FERRY_PG_SOURCE_URL##*/}
  SRC_ADMIN_DB=${SRC_ADMIN_DB%%\?*}
  TGT_ADMIN_DB=${FERRY_PG_TARGET_URL##*/}
  TGT_ADMIN_DB=${TGT_ADMIN_DB%%\?*}
  [[ -n $SRC_ADMIN_DB && -n $TGT_ADMIN_DB ]] || die "the stack's URLs name no database"
  {
    printf '%s:%s:*:%s:%s\n' "$(pgpass_field "$SRC_HOST")" "$SRC_PORT" "$(pgpass_field "$SRC_USER")" \
      "$(pgpass_field "${FERRY_PG_SOURCE_PASSWORD:-}")"
    printf '%s:%s:*:%s:%s\n' "$(pgpass_field "$TGT_HOST")" "$TGT_PORT" "$(pgpass_field "$TGT_USER")" \
      "$(pgpass_field "${FERRY_PG_TARGET_PASSWORD:-}")"
  } >"$WORK/pgpass"
  chmod 600 "$WORK/pgpass"
  export PGPASSFILE=$WORK/pgpass
  unset PGPASSWORD PGSERVICE PGDATABASE
  psql_on src "$SRC_ADMIN_DB" -c 'SELECT 1' >/dev/null 2>"$WORK/connect.log" ||
    die "cannot connect to the source server: $(tail -2 "$WORK/connect.log")"
  psql_on tgt "$TGT_ADMIN_DB" -c 'SELECT 1' >/dev/null 2>"$WORK/connect.log" ||
    die "cannot connect to the target server: $(tail -2 "$WORK/connect.log")"
}

pgpass_field() { local s=${1//\\/\\\\}; printf '%s' "${s//:/\\:}"; }

# psql on server $1 (src or tgt), database $2, then psql's options.
psql_on() {
  local server=$1 db=$2
  shift 2
  PGOPTIONS='-c client_min_messages=warning' \
    "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -At -d "$(db_url "$server" "$db")" "$@"
}

# bench_source DB SCALE DOCS REGENERATE: the source database DB on the source server, generated
# (pgbench tables at SCALE, DOCS documents of 500 characters of text and 2 KB of random bytes,
# about 2.2 GB at scale 80 and 300,000 documents) unless one of the same kind is there already
# (its COMMENT says how it was made), or REGENERATE is 1.
bench_source() {
  local SRC_DB=$1 SCALE=$2 DOCS=$3 REGENERATE=$4 have t0 pre blob post
  local STAMP="ferry bench/dump_restore source: format=$BENCH_SOURCE_FORMAT scale=$SCALE docs=$DOCS"
  have=$(psql_on src "$SRC_ADMIN_DB" -c \
    "SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = '$SRC_DB'")
  if ((REGENERATE)) || [[ $have != "$STAMP" ]]; then
    if [[ -z $have ]] && ! ((REGENERATE)); then
      log "generating the source database $SRC_DB (scale $SCALE, $DOCS documents)"
    else
      log "generating the source database $SRC_DB again (scale $SCALE, $DOCS documents; was: ${have:-none})"
    fi
    t0=$(date +%s)
    psql_on src "$SRC_ADMIN_DB" -c "DROP DATABASE IF EXISTS $SRC_DB WITH (FORCE)" \
      -c "CREATE DATABASE $SRC_DB" >"$WORK/generate.log" 2>&1 || die "creating $SRC_DB failed (see $WORK/generate.log)"
    # d: drop, t: tables, g: rows (client-side COPY ... FREEZE), v: vacuum, p: primary keys
    "$PGBIN/pgbench" -i -I dtgvp -s "$SCALE" -q "$(db_url src "$SRC_DB")" >>"$WORK/generate.log" 2>&1 ||
      die "pgbench -i failed (see $WORK/generate.log)"
    # 2 KB of random bytes per row: pgcrypto's gen_random_bytes (at most 1024 bytes a call) when the
    # server has it (the extension is dropped again, the source has none); else md5 of random().
    if [[ $(psql_on src "$SRC_DB" -c "SELECT count(*) FROM pg_available_extensions WHERE name = 'pgcrypto'") == 1 ]]; then
      pre="CREATE EXTENSION IF NOT EXISTS pgcrypto;"
      blob="gen_random_bytes(1024) || gen_random_bytes(1024)"
      post="DROP EXTENSION pgcrypto;"
    else
      pre="" post=""
      blob="(SELECT decode(string_agg(md5(random()::text || k || i), ''), 'hex') FROM generate_series(1, 128) k)"
    fi
    psql_on src "$SRC_DB" >>"$WORK/generate.log" 2>&1 <<SQL || die "generating documents failed (see $WORK/generate.log)"
$pre
CREATE TABLE documents (
    id bigint PRIMARY KEY,
    title text NOT NULL,
    body text NOT NULL,
    blob bytea NOT NULL,
    created_at timestamptz NOT NULL
);
INSERT INTO documents
SELECT i,
       'Document ' || i || ' ' || left(md5(i::text), 12),
       b.body,
       $blob,
       timestamptz '2020-01-01 00:00:00+00' + i * interval '97 seconds' + random() * interval '1 hour'
  FROM generate_series(1, $DOCS) AS i,
       LATERAL (SELECT left(string_agg(md5(i::text || '/' || k), ' '), 500) AS body
                  FROM generate_series(1, 16) AS k) AS b;
$post
CREATE INDEX documents_created_at_idx ON documents (created_at);
VACUUM (FREEZE, ANALYZE) documents;
COMMENT ON DATABASE $SRC_DB IS '$STAMP';
CHECKPOINT;
SQL
    log "source generated in $(($(date +%s) - t0)) s"
  else
    log "reusing the source database $SRC_DB ($STAMP)"
  fi
}

BENCH_SOURCE_FORMAT=1 # bump when the generated source changes, so old ones are regenerated
