#!/usr/bin/env bash
# `make bench`: SPOM Login (production path: `idp serve` = granian unless IDP_SERVER=gunicorn, PostgreSQL, Redis) and the peer
# (node oidc-provider, ../shared/bench/peer) started side by side, each pinned to SERVER_CPU, the load
# pinned to LOAD_CPU; the shared harness and bench_extra.py run against both in the same run; then
# bench/report.py writes bench/results/latest.{md,json} and docs/performance.md.
#
# Variables: SHARED_BENCH (../shared/bench; needs peer/node_modules and wrk, see its README),
#   DURATION (5 s per run), REPEAT (3), CF_REPEAT (3), WORKERS (1), THREADS (4), CLIENT_CACHE (2 = IDP_CLIENT_CACHE_SECONDS), EMBEDDED (1 = also the
#   embedded default: SQLite + in-process store, one worker), PG_URL (postgresql+psycopg://postgres@127.0.0.1:5432),
#   REDIS_URL (redis://127.0.0.1:6379/0), TAG (run label), PROFILE (1 = then each row of the production server
#   again under py-spy: results/raw/<tag>/profile_<row>.txt, summarised by bench/profile_summary.py).
# Throttles: every IDP_RATE_* limit and IDP_THROTTLE_{ACCOUNT,DEVICE}_FREE are raised to 10^9 for the run, so the sign-in and token limits
# never answer 429 and the figures measure the work, not the limiter (the throttle check itself still runs).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SHARED_BENCH=$(realpath "${SHARED_BENCH:-../shared/bench}")
export SHARED_BENCH
DURATION=${DURATION:-5}; REPEAT=${REPEAT:-3}; CF_REPEAT=${CF_REPEAT:-3}
WORKERS=${WORKERS:-1}; THREADS=${THREADS:-4}; CLIENT_CACHE=${CLIENT_CACHE:-2}; EMBEDDED=${EMBEDDED:-1}
SERVER_CPU=${SERVER_CPU:-1}; LOAD_CPU=${LOAD_CPU:-0}
PG_URL=${PG_URL:-postgresql+psycopg://postgres@127.0.0.1:5432}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
TAG=${TAG:-$(date -u +%Y%m%dT%H%M%SZ)}
PY=$ROOT/.venv/bin/python
IDP=$ROOT/.venv/bin/idp
HPY=python3   # the harness needs only the standard library
OUT=$ROOT/bench/results/raw/$TAG
mkdir -p "$OUT"
PORT=8199; PEER_PORT=3100
DB=bench_$$
WORK=$(mktemp -d /tmp/idp-bench-XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  "$PY" - "$REDIS_URL" "bench$$:" <<'EOF' || true
import sys, redis
r = redis.Redis.from_url(sys.argv[1])
keys = list(r.scan_iter(match=sys.argv[2] + "*", count=1000))
for i in range(0, len(keys), 500):
    r.delete(*keys[i:i + 500])
EOF
  rm -rf "$WORK"
}
trap cleanup EXIT

wait_up() {  # bounded readiness wait (<= 30 s)
  for _ in $(seq 1 300); do curl -fsS -o /dev/null "$1/.well-known/openid-configuration" 2>/dev/null && return 0; sleep 0.1; done
  echo "server at $1 did not start" >&2; return 1
}

rate_env() {  # every IDP_RATE_*_LIMIT very high (see the header)
  grep -o 'rate_[a-z_]*_limit' idp/core/settings.py | sort -u | while read -r f; do
    echo "IDP_$(echo "$f" | tr a-z A-Z)=1000000000"; done
  # the harness signs in one account from 16 workers at once: in-flight attempts count against the
  # per-account allowance until they succeed, so its free attempts are raised too
  echo IDP_THROTTLE_ACCOUNT_FREE=1000000000; echo IDP_THROTTLE_DEVICE_FREE=1000000000
}

seed() {  # $1 = label; env = provider settings. Prints "client_id client_secret".
  "$IDP" init >/dev/null
  printf 'Quartz-Lamp-Violin-9317\n' | "$IDP" users create --registration-number bench1 --name "Bench User" \
    --email bench1@example.edu --password-stdin >/dev/null
  "$IDP" clients create --name "Bench $1" --trusted --redirect-uri http://127.0.0.1:3199/cb \
    --grant-type client_credentials --grant-type authorization_code --grant-type refresh_token \
    --auth-method client_secret_basic --json | "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(d["client_id"], d["client_secret"])'
}

start_idp() {  # $1 = label, rest = extra env; starts `idp serve` pinned, sets IDP_PID CID CSECRET
  local label=$1; shift
  local envs=(IDP_ISSUER=http://127.0.0.1:$PORT IDP_INSTANCE_DIR=$WORK/$label IDP_LOG_LEVEL=WARNING
              IDP_ACCESS_TOKEN_SECONDS=3600 $(rate_env) "$@")
  mkdir -p "$WORK/$label"
  read -r CID CSECRET < <(export "${envs[@]}"; seed "$label")
  env "${envs[@]}" taskset -c "$SERVER_CPU" "$IDP" serve --port $PORT --workers "$W" --threads "$T" \
    > "$OUT/idp_$label.log" 2>&1 &
  IDP_PID=$!; PIDS+=("$IDP_PID")
  wait_up "http://127.0.0.1:$PORT"
}

rss_of() {  # RSS in KiB of the worker processes (children of $1), or of $1 itself when it has none
  local kids; kids=$(pgrep -P "$1" | tr '\n' ',' | sed 's/,$//')
  ps -o rss= -p "${kids:-$1}" | xargs
}

stop_pid() { kill -TERM "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

run_suite() {  # $1 = label, $2 = issuer, $3 = client id, $4 = secret, $5 = username, $6 = password, $7 = server pid
  local label=$1 iss=$2
  echo "$label before: $(rss_of "$7")" >> "$OUT/rss.txt"
  echo "== $label: loadavg $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/loadavg.txt"
  export ISSUER=$iss CLIENT_ID=$3 CLIENT_SECRET=$4 BENCH_USERNAME=$5 BENCH_PASSWORD=$6 REDIRECT_URI=http://127.0.0.1:3199/cb
  set +e
  (cd "$SHARED_BENCH" && timeout 900 $HPY bench_endpoints.py --duration "$DURATION" --repeat "$REPEAT" --warmup 2 \
    --load-cpus "$LOAD_CPU" --server-pid "$7" --json "$OUT/endpoints_$label.json") | tee "$OUT/endpoints_$label.log"
  (cd "$SHARED_BENCH" && timeout 900 $HPY bench_code_flow.py --duration "$DURATION" --repeat "$CF_REPEAT" --warmup 2 \
    --load-cpus "$LOAD_CPU" --server-pid "$7" --json "$OUT/codeflow_$label.json") | tee "$OUT/codeflow_$label.log"
  timeout 900 $HPY "$ROOT/bench/bench_extra.py" --duration "$DURATION" --repeat "$REPEAT" --load-cpus "$LOAD_CPU" \
    --server-pid "$7" --json "$OUT/extra_$label.json" | tee "$OUT/extra_$label.log"
  set -e
  echo "== $label done: loadavg $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/loadavg.txt"
  echo "$label after:  $(rss_of "$7")" >> "$OUT/rss.txt"
}

profile_rows() {  # PROFILE=1: each row again under py-spy (the one worker, 250 Hz), summarised per row
  local worker; worker=$(pgrep -P "$1" | head -1)
  local spy="$ROOT/.venv/bin/py-spy" e=(--issuer "$ISSUER" --load-cpus "$LOAD_CPU" --server-pid "$1")
  for row in discovery jwks token_cc introspect code_flow userinfo refresh sso; do
    "$spy" record -p "$worker" -r 250 --format raw -o "$OUT/profile_$row.raw" --nonblocking >/dev/null 2>&1 &
    local spy_pid=$!; sleep 1
    case $row in
      code_flow) (cd "$SHARED_BENCH" && timeout 300 $HPY bench_code_flow.py "${e[@]}" --phases sat --repeat 1 \
                   --warmup 0 --duration "$DURATION") >/dev/null ;;
      userinfo|refresh|sso) timeout 300 $HPY "$ROOT/bench/bench_extra.py" "${e[@]}" --rows $row --repeat 1 \
                   --duration "$DURATION" >/dev/null ;;
      *) (cd "$SHARED_BENCH" && timeout 300 $HPY bench_endpoints.py "${e[@]}" --endpoints $row --phases sat \
                   --repeat 1 --warmup 0 --duration "$DURATION") >/dev/null ;;
    esac
    kill -INT "$spy_pid" 2>/dev/null || true; wait "$spy_pid" 2>/dev/null || true
    "$PY" bench/profile_summary.py "$OUT/profile_$row.raw" --top 30 > "$OUT/profile_$row.txt" || true
    echo "profiled $row: $(head -1 "$OUT/profile_$row.txt")"
  done
}

# What the run needs, installed by the run (never by hand): wrk (Debian's package, as the harness's
# README says) and a writable copy of the harness whose peer has its npm packages (../shared is read-only).
if ! command -v wrk >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then apt-get install -y --no-install-recommends wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y --no-install-recommends wrk >/dev/null; }
  else echo "make bench needs wrk: apt-get install -y wrk" >&2; exit 2; fi
fi
if [ ! -d "$SHARED_BENCH/peer/node_modules" ]; then
  HARNESS=$ROOT/bench/.harness
  if [ ! -d "$HARNESS/peer/node_modules" ]; then
    rm -rf "$HARNESS" && cp -r "$SHARED_BENCH" "$HARNESS"
    (cd "$HARNESS/peer" && npm ci --silent --no-audit --no-fund)
  fi
  SHARED_BENCH=$HARNESS
fi

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); loadavg $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/machine.txt"

# 1. the argon2id limit on the server core, same parameters as the provider's defaults
"$PY" bench/bench_extra.py --argon2-cpu "$SERVER_CPU" --duration 4 --repeat 3 --json "$OUT/argon2.json"

# 2. the peer (PEER=0 skips it while iterating on one side)
if [ "${PEER:-1}" = 1 ]; then
(cd "$SHARED_BENCH/peer" && exec taskset -c "$SERVER_CPU" node peer.mjs) > "$OUT/peer.log" 2>&1 &
PEER_PID=$!; PIDS+=("$PEER_PID")
wait_up "http://127.0.0.1:$PEER_PORT"
run_suite peer http://127.0.0.1:$PEER_PORT bench-cc bench-cc-secret-0123456789abcdef0123456789abcdef student1 anything "$PEER_PID"
stop_pid "$PEER_PID"
fi

# 3. SPOM Login on the production path
psql -q -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE $DB" >/dev/null
W=$WORKERS T=$THREADS
start_idp prod IDP_CLIENT_CACHE_SECONDS="$CLIENT_CACHE" IDP_DATABASE_URL="$PG_URL/$DB" IDP_REDIS_URL="$REDIS_URL" IDP_REDIS_PREFIX="bench$$:"
if [ "${SURGE_ONLY:-0}" != 1 ]; then
  run_suite prod http://127.0.0.1:$PORT "$CID" "$CSECRET" bench1 Quartz-Lamp-Violin-9317 "$IDP_PID"
fi
if [ "${SURGE:-0}" = 1 ] || [ "${SURGE_ONLY:-0}" = 1 ]; then  # the exam-morning surge (bench/surge.py)
  timeout 900 $HPY "$ROOT/bench/surge.py" --issuer "http://127.0.0.1:$PORT" --client-id "$CID" --client-secret "$CSECRET" \
    --username bench1 --password Quartz-Lamp-Violin-9317 --server-pid "$IDP_PID" --load-cpus "$LOAD_CPU" \
    --rates "${SURGE_RATES:-5,10,15,20,25,30,40}" --step-seconds "${SURGE_STEP:-15}" --json "$OUT/surge.json" | tee "$OUT/surge.log"
fi
[ "${PROFILE:-0}" = 1 ] && profile_rows "$IDP_PID"
stop_pid "$IDP_PID"

# 4. the embedded default (SQLite + in-process store; one worker by design)
if [ "$EMBEDDED" = 1 ]; then
  W=1 T=$THREADS
  start_idp embedded IDP_CLIENT_CACHE_SECONDS="$CLIENT_CACHE"
  run_suite embedded http://127.0.0.1:$PORT "$CID" "$CSECRET" bench1 Quartz-Lamp-Violin-9317 "$IDP_PID"
  stop_pid "$IDP_PID"
fi

echo "server=${IDP_SERVER:-granian} workers=$WORKERS threads=$THREADS (embedded: 1 worker, $THREADS threads) client_cache_seconds=$CLIENT_CACHE duration=$DURATION repeat=$REPEAT cf_repeat=$CF_REPEAT" > "$OUT/config.txt"
"$PY" bench/report.py "$OUT"
