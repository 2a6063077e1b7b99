#!/usr/bin/env bash
# What keys and rate limits cost: added latency of the gateway over the mock upstream, open loop at a
# fixed rate, and the gateway's CPU per request, in one run for three gateways: open mode, keys mode
# with in-process limits, and keys mode with limits shared through Redis (each call checks a key and
# its tenant: requests, tokens and a concurrency lease). Runs go open, local, redis, local, open, so
# the machine's drift during the run falls on both sides of the comparison.
#
#   bench/keys.sh                   # 20 s per measurement (~2.5 min plus the build)
#   BENCH_QUICK=1 bench/keys.sh     # 5 s per measurement
#
# Needs Redis on 127.0.0.1:6379 (BENCH_REDIS_URL overrides). Writes bench/results/keys.md.
# Knobs: BENCH_DURATION, BENCH_RATE (req/s, 2000), BENCH_GATEWAY_PORT (18180), BENCH_SKIP_BUILD=1,
# BENCH_LIMITS (the limits set on the key and its tenant, JSON fields; default all three, high).
#
# Budgets: BENCH_RUNS picks other runs, named MODE plus an optional digit: open, local, redis, keys
# (keys mode, no limits or budgets), budget (keys mode, a budget on the key and its tenant that
# never runs out), and pgkeys / pgbudget (the same on a scratch PostgreSQL database, BENCH_PG_URL
# names the server). The usage ledger is on in every run.
#   BENCH_RUNS="keys1 budget1 pgkeys1 pgbudget1 keys2 budget2 pgkeys2 pgbudget2" BENCH_NAME=budgets bench/keys.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
if [[ "${BENCH_QUICK:-0}" == 1 ]]; then DUR=${BENCH_DURATION:-5}; else DUR=${BENCH_DURATION:-20}; fi
RATE=${BENCH_RATE:-2000}
PORT=${BENCH_GATEWAY_PORT:-18180}
REDIS_URL=${BENCH_REDIS_URL:-redis://127.0.0.1:6379}
ADMIN_KEY=bench-admin-key
LIMITS=${BENCH_LIMITS:-'"rpm": 100000000, "tpm": 10000000000, "max_concurrent": 100000'}
BUDGET='"budget_usd": "1000000000", "budget_period": "month", "budget_tz": "America/New_York"'
RUNS=${BENCH_RUNS:-open1 local1 redis local2 open2}
NAME=${BENCH_NAME:-keys}
PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
PG_DB=""
BIN=$ROOT/target/release
RESULTS=$ROOT/bench/results
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sy-bench-keys.XXXXXX")
PIDS=()

log() { printf '[bench-keys %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
cleanup() {
    local status=$? pid
    trap - EXIT
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    [[ -n "$PG_DB" ]] && psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $PG_DB" >/dev/null 2>&1
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT

if [[ "${BENCH_SKIP_BUILD:-0}" != 1 ]]; then
    log "building release binaries"
    cargo build --release -p switchyard -p sy-testkit --bins >&2
fi
OHA=$(command -v oha || echo "$HOME/.cargo/bin/oha")
if [[ ! -x "$OHA" ]]; then log "installing oha"; cargo install oha --locked; OHA=$HOME/.cargo/bin/oha; fi
for tool in jq taskset curl awk; do command -v "$tool" >/dev/null || die "needs $tool"; done

taskset -c 0 "$BIN/sy-mock-upstream" --listen 127.0.0.1:0 >"$WORK/mock.out" 2>"$WORK/mock.log" &
PIDS+=($!)
for _ in $(seq 100); do
    MOCK=$(sed -n 's/^listening on //p' "$WORK/mock.out")
    [[ -n "$MOCK" ]] && break
    sleep 0.1
done
[[ -n "${MOCK:-}" ]] || die "the mock did not start"
BODY=$(jq -c . bench/body.json)
PREFIX="sy-bench-$$"

# gateway MODE RUN: writes the config for the mode and starts the gateway on core 1.
gateway() {
    local mode=$1 auth=open storage="url = \"sqlite://$WORK/$2.db\""
    [[ $mode != open ]] && auth=keys
    [[ $mode == redis ]] && storage+=$'\n'"redis_url = \"$REDIS_URL\""$'\n'"redis_prefix = \"$PREFIX\""
    if [[ $mode == pg* ]]; then
        [[ -n "$PG_DB" ]] && psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $PG_DB" >/dev/null
        PG_DB="sy_bench_$$_$2"
        psql -q "$PG_URL/postgres" -c "CREATE DATABASE $PG_DB" >/dev/null || die "cannot create $PG_DB"
        storage="url = \"$PG_URL/$PG_DB\""
    fi
    cat >"$WORK/$mode.toml" <<EOF
[server]
listen = "127.0.0.1:$PORT"
shutdown_grace_ms = 1000
[storage]
$storage
[auth]
mode = "$auth"
admin_key = "$ADMIN_KEY"
[providers.mock]
kind = "openai-compatible"
base_url = "http://$MOCK/v1"
[[models]]
name = "bench-model"
deployments = [{ provider = "mock", model = "mock-model" }]
[[prices]]
provider = "mock"
model = "mock-model"
input = "2.50"
output = "10.00"
EOF
    SWITCHYARD_LOG=warn taskset -c 1 "$BIN/switchyard" serve --config "$WORK/$mode.toml" \
        >"$WORK/$mode.out" 2>"$WORK/$mode.log" &
    GATEWAY_PID=$!
    PIDS+=("$GATEWAY_PID")
    for _ in $(seq 100); do
        curl -fsS -m 1 "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    cat "$WORK/$mode.log" >&2
    die "the $mode gateway did not start"
}

stop_gateway() {
    kill -TERM "$GATEWAY_PID"
    wait "$GATEWAY_PID" 2>/dev/null || true
}

# measure NAME URL [HEADER...]: open-loop oha run into $WORK/NAME.json.
measure() {
    local name=$1 url=$2
    shift 2
    local headers=(-H 'content-type: application/json')
    for h in "$@"; do headers+=(-H "$h"); done
    taskset -c 0 "$OHA" -n 2000 -c 16 --no-tui --output-format quiet -m POST "${headers[@]}" -d "$BODY" "$url" >/dev/null
    log "$name: $RATE req/s for $DUR s"
    taskset -c 0 "$OHA" -z "${DUR}s" -w --no-tui --output-format json -q "$RATE" --latency-correction \
        -m POST "${headers[@]}" -d "$BODY" "$url" >"$WORK/$name.json"
}
ms() { jq -r --arg p "$2" '.latencyPercentiles[$p] * 1000000 | round / 1000' "$WORK/$1.json"; }
done_requests() { jq '[.statusCodeDistribution[]] | add // 0' "$WORK/$1.json"; }
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
CLK_TCK=$(getconf CLK_TCK)
declare -A CPU_US
errors() { jq '([.errorDistribution[]] | add // 0) + ([.statusCodeDistribution | to_entries[] | select(.key != "200") | .value] | add // 0)' "$WORK/$1.json"; }
calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }

measure direct "http://$MOCK/v1/chat/completions"
URL=http://127.0.0.1:$PORT/v1/chat/completions
for run in $RUNS; do
    mode=${run%[0-9]}
    gateway "$mode" "$run"
    # Clients send a key in open mode too (the SDKs always do): the same header, ignored.
    headers=("authorization: Bearer sk-sy-$(printf 'x%.0s' $(seq 43))")
    if [[ $mode != open ]]; then
        # Limits and budgets high enough never to refuse, so every call pays for the full check.
        case $mode in
        local | redis) fields=", $LIMITS" ;;
        budget | pgbudget) fields=", $BUDGET" ;;
        *) fields="" ;;
        esac
        curl -fsS -X POST -H "authorization: Bearer $ADMIN_KEY" -H 'content-type: application/json' \
            -d "{\"id\": \"bench\"$fields}" \
            "http://127.0.0.1:$PORT/admin/v1/tenants" >/dev/null
        KEY=$(curl -fsS -X POST -H "authorization: Bearer $ADMIN_KEY" -H 'content-type: application/json' \
            -d "{\"tenant\": \"bench\"$fields}" \
            "http://127.0.0.1:$PORT/admin/v1/keys" | jq -r .key)
        headers=("authorization: Bearer $KEY")
        [[ $(curl -s -o /dev/null -w '%{http_code}' -X POST -H "${headers[0]}" -H 'content-type: application/json' -d "$BODY" "$URL") == 200 ]] \
            || die "the $mode gateway refused the benchmark key"
    fi
    before=$(cpu_ticks "$GATEWAY_PID")
    measure "$run" "$URL" "${headers[@]}"
    after=$(cpu_ticks "$GATEWAY_PID")
    CPU_US[$run]=$(calc "($after - $before) / $CLK_TCK * 1000000 / $(done_requests "$run")")
    stop_gateway
done
redis-cli --scan --pattern "$PREFIX*" 2>/dev/null | xargs -r redis-cli del >/dev/null 2>&1 || true

mkdir -p "$RESULTS"
# The mean of two runs' percentile, for open and local.
pair() { calc "($(ms "${1}1" "$2") + $(ms "${1}2" "$2")) / 2"; }
added() { calc "$1 - $(ms direct "$2")"; }
{
    echo "# Keys and limits: added latency (open loop, $RATE req/s, $DUR s each, ms)"
    echo
    echo "- Date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); commit $(git rev-parse --short=12 HEAD); load average at end $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- Mock, oha and Redis share core 0; the gateway runs alone on core 1."
    echo "- Limits on the key and its tenant (local, redis): {$LIMITS}; budgets (budget, pgbudget): {$BUDGET}"
    echo
    echo "| Run | p50 | p90 | p99 | added p50 | added p99 | gateway CPU µs/request | errors |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    for n in direct $RUNS; do
        printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$n" "$(ms "$n" p50)" "$(ms "$n" p90)" "$(ms "$n" p99)" \
            "$(added "$(ms "$n" p50)" p50)" "$(added "$(ms "$n" p99)" p99)" "${CPU_US[$n]:--}" "$(errors "$n")"
    done
    echo
    has() { [[ " $RUNS " == *" $1 "* ]]; }
    if has open1 && has open2 && has local1 && has local2 && has redis; then
        open50=$(added "$(pair open p50)" p50)
        local50=$(added "$(pair local p50)" p50)
        echo "- Added p50, mean of two runs: open $open50 ms, keys + in-process limits $local50 ms ($(calc "$local50 / $open50")x)."
        echo "- Gateway CPU per request: open $(calc "(${CPU_US[open1]} + ${CPU_US[open2]}) / 2") µs, keys + in-process limits $(calc "(${CPU_US[local1]} + ${CPU_US[local2]}) / 2") µs, Redis-backed limits ${CPU_US[redis]} µs."
        echo "- Redis-backed limits, p99 over open mode (mean of the open runs): $(calc "$(ms redis p99) - $(pair open p99)") ms."
    fi
    for store in "" pg; do
        if has "${store}keys1" && has "${store}keys2" && has "${store}budget1" && has "${store}budget2"; then
            echo "- Budgets on ${store:-sqlite} (mean of two runs each): p99 $(pair "${store}budget" p99) ms with, $(pair "${store}keys" p99) ms without: $(calc "$(pair "${store}budget" p99) - $(pair "${store}keys" p99)") ms added; gateway CPU $(calc "(${CPU_US[${store}budget1]} + ${CPU_US[${store}budget2]}) / 2") µs vs $(calc "(${CPU_US[${store}keys1]} + ${CPU_US[${store}keys2]}) / 2") µs per request."
        fi
    done
} | tee "$RESULTS/$NAME.md"
