#!/usr/bin/env bash
# Switchyard benchmark: what the gateway adds over talking to the upstream directly.
#
#   bench/run.sh                   # full run, 20 s per measurement (~3 min plus the build)
#   BENCH_QUICK=1 bench/run.sh     # smoke run, 3 s per measurement
#
# Prints a Markdown report and writes it to bench/results/latest.md (raw JSON and logs in
# bench/results/latest/). See bench/README.md for what is measured and how to read it.
#
# Knobs (environment): BENCH_DURATION (seconds per measurement; default 20, 3 when BENCH_QUICK=1),
# BENCH_DRAIN (pause between runs, s), BENCH_RATE (open-loop req/s, 2000), BENCH_CONNECTIONS
# (closed-loop connections, 64), BENCH_STREAM_RATE (streams/s, 200), BENCH_STREAMS (concurrent
# streams for the memory test, 1000), BENCH_GATEWAY_PORT (first port tried, 18080),
# BENCH_SKIP_BUILD=1.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

if [[ "${BENCH_QUICK:-0}" == 1 ]]; then
    DUR=${BENCH_DURATION:-3}
    DRAIN=${BENCH_DRAIN:-1}
else
    DUR=${BENCH_DURATION:-20}
    DRAIN=${BENCH_DRAIN:-3}
fi
RATE=${BENCH_RATE:-2000}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
STREAM_RATE=${BENCH_STREAM_RATE:-200}
STREAMS=${BENCH_STREAMS:-1000}
GATEWAY_PORT_BASE=${BENCH_GATEWAY_PORT:-18080}
STREAM_CHUNKS=12
CHUNK_INTERVAL_MS=20
# Cores: everything that generates or answers load on core 0, the gateway alone on core 1.
LOAD_CORE=0
GATEWAY_CORE=1

BIN=$ROOT/target/release
RESULTS=$ROOT/bench/results
RAW=$RESULTS/latest
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sy-bench.XXXXXX")
PIDS=()
GATEWAY_PID=

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
    log "ERROR: $*"
    exit 1
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ -d "$WORK" ]]; then
        mkdir -p "$RAW"
        cp -f "$WORK"/*.log "$WORK"/*.toml "$RAW"/ 2>/dev/null || true
        rm -rf "$WORK"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
# 1. Build.
if [[ "${BENCH_SKIP_BUILD:-0}" != 1 ]]; then
    log "building release binaries"
    cargo build --release -p switchyard -p sy-testkit -p sy-bench --bins >&2 \
        || die "release build failed (log above)"
fi
for b in switchyard sy-mock-upstream sy-bench-stream; do
    [[ -x "$BIN/$b" ]] || die "missing $BIN/$b"
done

# 2. oha.
OHA=$(command -v oha || true)
if [[ -z "$OHA" && -x "$HOME/.cargo/bin/oha" ]]; then OHA=$HOME/.cargo/bin/oha; fi
if [[ -z "$OHA" ]]; then
    log "installing oha"
    cargo install oha --locked
    OHA=$HOME/.cargo/bin/oha
fi
if ! command -v jq >/dev/null && command -v apt-get >/dev/null; then
    log "installing jq"
    (apt-get update -qq && apt-get install -y -qq jq) >&2 || die "cannot install jq"
fi
for tool in jq taskset ss getconf curl awk; do
    command -v "$tool" >/dev/null || die "needs $tool"
done
(($(nproc) >= 2)) || die "needs at least 2 cores (load on core $LOAD_CORE, gateway on core $GATEWAY_CORE)"

# ---------------------------------------------------------------------------------------------
# Helpers.
port_free() { [[ -z "$(ss -Hltn "sport = :$1")" ]]; }

free_port_from() {
    local p=$1
    while ! port_free "$p"; do
        p=$((p + 1))
        ((p < $1 + 100)) || die "no free port in $1..$((p - 1))"
    done
    echo "$p"
}

# start_mock NAME ARGS... : starts sy-mock-upstream on core 0, sets MOCK_ADDR.
start_mock() {
    local name=$1
    shift
    taskset -c "$LOAD_CORE" "$BIN/sy-mock-upstream" --listen 127.0.0.1:0 "$@" \
        >"$WORK/$name.out" 2>"$WORK/$name.log" &
    PIDS+=($!)
    local pid=$!
    for _ in $(seq 100); do
        MOCK_ADDR=$(sed -n 's/^listening on //p' "$WORK/$name.out")
        [[ -n "$MOCK_ADDR" ]] && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    cat "$WORK/$name.log" >&2
    die "$name did not start"
}

# kB of a /proc/PID/status field (VmRSS, VmHWM).
proc_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }

# utime + stime of PID, in clock ticks (fields 14 and 15; the comm field is skipped safely).
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }

alive() { kill -0 "$GATEWAY_PID" 2>/dev/null || die "the gateway exited (log: $RAW/gateway.log)"; }

drain() { sleep "$DRAIN"; }

calc() { awk "BEGIN { printf \"%.${2:-3}f\", $1 }"; }

CLK_TCK=$(getconf CLK_TCK)
CPU_BEFORE=0
WALL_BEFORE=0
cpu_start() {
    CPU_BEFORE=$(cpu_ticks "$GATEWAY_PID")
    WALL_BEFORE=$EPOCHREALTIME
}
# cpu_end NAME REQUESTS: records the gateway's CPU seconds, share of its core and µs per request.
declare -A CPU_US CPU_S CPU_BUSY
cpu_end() {
    local after wall
    after=$(cpu_ticks "$GATEWAY_PID")
    wall=$(calc "$EPOCHREALTIME - $WALL_BEFORE" 6)
    CPU_S[$1]=$(calc "($after - $CPU_BEFORE) / $CLK_TCK" 2)
    CPU_BUSY[$1]=$(calc "100 * ($after - $CPU_BEFORE) / $CLK_TCK / $wall" 0)
    if (($2 > 0)); then
        CPU_US[$1]=$(calc "($after - $CPU_BEFORE) / $CLK_TCK * 1000000 / $2" 1)
    else
        CPU_US[$1]=n/a
    fi
}

OHA_COMMON=(-z "${DUR}s" -w --no-tui --output-format json -m POST -H 'content-type: application/json')

# oha_run NAME URL ARGS... -> $RAW/NAME.json
oha_run() {
    local name=$1 url=$2
    shift 2
    log "$name: oha $* ($DUR s)"
    taskset -c "$LOAD_CORE" "$OHA" "$@" "${OHA_COMMON[@]}" -d "$BODY" "$url" >"$RAW/$name.json"
}

# stream_run NAME URL BODY_FILE ARGS... -> $RAW/NAME.json
stream_run() {
    local name=$1 url=$2 body=$3
    shift 3
    log "$name: sy-bench-stream $* ($DUR s)"
    taskset -c "$LOAD_CORE" "$BIN/sy-bench-stream" --url "$url" --body-file "$body" \
        --duration "${DUR}s" "$@" >"$RAW/$name.json"
}

# Requests answered (any status) by an oha run.
oha_done() { jq '[.statusCodeDistribution[]] | add // 0' "$RAW/$1.json"; }
# Failed requests of an oha run: transport errors plus non-2xx answers.
oha_errors() {
    jq '([.errorDistribution[]] | add // 0) + ([.statusCodeDistribution | to_entries[] | select(.key | startswith("2") | not) | .value] | add // 0)' "$RAW/$1.json"
}
# oha latency percentile (p50, p90, p99, p99.9) in ms.
oha_ms() { jq -r --arg p "$2" '.latencyPercentiles[$p] // empty | . * 1000 | . * 1000 | round / 1000' "$RAW/$1.json"; }
oha_rps() { jq -r '.summary.requestsPerSec | . * 10 | round / 10' "$RAW/$1.json"; }
# A field of a sy-bench-stream summary.
sj() { jq -r ".$2 // \"n/a\"" "$RAW/$1.json"; }
# a - b with 3 decimals, or n/a.
minus() { if [[ -n "$1" && -n "$2" && "$1" != n/a && "$2" != n/a ]]; then calc "$1 - $2"; else echo n/a; fi; }

# ---------------------------------------------------------------------------------------------
# 3. Processes and config.
rm -rf "$RAW"
mkdir -p "$RAW"
jq -c . bench/body.json >"$WORK/body.json"
jq -c '.model = "bench-stream" | .stream = true' bench/body.json >"$WORK/stream-body.json"
# The gateway asks the upstream for usage (provider stream_usage, on by default) and strips it
# before the client; the direct run asks for it itself, so the mock plays the same 15 frames to both.
jq -c '.stream_options = {include_usage: true}' "$WORK/stream-body.json" >"$WORK/stream-body-direct.json"
BODY=$(cat "$WORK/body.json")
BODY_BYTES=$(wc -c <"$WORK/body.json")

start_mock mock
MOCK=$MOCK_ADDR
start_mock mock-stream --stream-chunks "$STREAM_CHUNKS" --chunk-interval-ms "$CHUNK_INTERVAL_MS"
STREAM_MOCK=$MOCK_ADDR
log "mock upstreams: $MOCK (plain), $STREAM_MOCK ($STREAM_CHUNKS chunks, ${CHUNK_INTERVAL_MS} ms apart)"

GATEWAY_PORT=$(free_port_from "$GATEWAY_PORT_BASE")
GATEWAY=127.0.0.1:$GATEWAY_PORT
cat >"$WORK/bench.toml" <<EOF
# Generated by bench/run.sh.
[server]
listen = "$GATEWAY"
shutdown_grace_ms = 2000

[providers.mock]
kind = "openai-compatible"
base_url = "http://$MOCK/v1"

[providers.mock-stream]
kind = "openai-compatible"
base_url = "http://$STREAM_MOCK/v1"

[[models]]
name = "bench-model"
deployments = [{ provider = "mock", model = "mock-model" }]

[[models]]
name = "bench-stream"
deployments = [{ provider = "mock-stream", model = "mock-model" }]
EOF

SWITCHYARD_LOG=warn taskset -c "$GATEWAY_CORE" "$BIN/switchyard" serve --config "$WORK/bench.toml" \
    --listen "$GATEWAY" >"$WORK/gateway.out" 2>"$WORK/gateway.log" &
GATEWAY_PID=$!
PIDS+=("$GATEWAY_PID")
for _ in $(seq 100); do
    port_free "$GATEWAY_PORT" || break
    kill -0 "$GATEWAY_PID" 2>/dev/null || { cat "$WORK/gateway.log" >&2; die "the gateway did not start"; }
    sleep 0.1
done
port_free "$GATEWAY_PORT" && die "the gateway is not listening on $GATEWAY"
IDLE_RSS_KB=$(proc_kb "$GATEWAY_PID" VmRSS)
log "gateway pid $GATEWAY_PID on $GATEWAY (core $GATEWAY_CORE), idle RSS ${IDLE_RSS_KB} kB"

D_URL=http://$MOCK/v1/chat/completions
G_URL=http://$GATEWAY/v1/chat/completions
DS_URL=http://$STREAM_MOCK/v1/chat/completions

# Smoke checks: each path must answer 200 before anything is measured.
check() {
    local url=$1 body=$2 code
    code=$(curl -sS -o "$WORK/check.out" -w '%{http_code}' -m 10 -X POST -H 'content-type: application/json' \
        --data-binary "@$body" "$url") || die "POST $url failed"
    [[ "$code" == 200 ]] || die "POST $url answered $code: $(head -c 400 "$WORK/check.out")"
}
curl -fsS -m 5 "http://$GATEWAY/readyz" >/dev/null || die "GET /readyz on the gateway failed"
check "$D_URL" "$WORK/body.json"
check "$G_URL" "$WORK/body.json"
check "$DS_URL" "$WORK/stream-body-direct.json"
check "$G_URL" "$WORK/stream-body.json"
grep -q 'data: \[DONE\]' "$WORK/check.out" || die "the gateway's stream did not end with data: [DONE]"

# Warm-up (not measured): connection pools, allocator, page faults.
log "warm-up"
taskset -c "$LOAD_CORE" "$OHA" -n 2000 -c 16 --no-tui --output-format quiet -m POST \
    -H 'content-type: application/json' -d "$BODY" "$G_URL" >/dev/null
taskset -c "$LOAD_CORE" "$OHA" -n 2000 -c 16 --no-tui --output-format quiet -m POST \
    -H 'content-type: application/json' -d "$BODY" "$D_URL" >/dev/null
drain

# ---------------------------------------------------------------------------------------------
# 5a. Open loop, fixed rate: direct, then through the gateway.
oha_run open-direct "$D_URL" -q "$RATE" --latency-correction
drain
alive
cpu_start
oha_run open-gateway "$G_URL" -q "$RATE" --latency-correction
cpu_end open-gateway "$(oha_done open-gateway)"
alive
drain

# 5b. Closed loop, max throughput: through the gateway, then direct.
cpu_start
oha_run closed-gateway "$G_URL" -c "$CONNECTIONS"
cpu_end closed-gateway "$(oha_done closed-gateway)"
alive
drain
oha_run closed-direct "$D_URL" -c "$CONNECTIONS"
drain

# 5d. Streaming, open loop: direct, then through the gateway.
stream_run stream-direct "$DS_URL" "$WORK/stream-body-direct.json" --rate "$STREAM_RATE"
drain
cpu_start
stream_run stream-gateway "$G_URL" "$WORK/stream-body.json" --rate "$STREAM_RATE"
cpu_end stream-gateway "$(sj stream-gateway count)"
alive
drain

# 5e. Many concurrent streams through the gateway; sample its RSS while they run.
(
    while kill -0 "$GATEWAY_PID" 2>/dev/null; do
        awk '$1 == "VmRSS:" { print $2 }' "/proc/$GATEWAY_PID/status" 2>/dev/null || true
        sleep 0.2
    done
) >"$WORK/rss-samples.txt" &
SAMPLER_PID=$!
PIDS+=("$SAMPLER_PID")
cpu_start
stream_run streams-gateway "$G_URL" "$WORK/stream-body.json" --concurrency "$STREAMS" --ramp-up 1s
cpu_end streams-gateway "$(sj streams-gateway count)"
kill "$SAMPLER_PID" 2>/dev/null || true
wait "$SAMPLER_PID" 2>/dev/null || true
alive
STREAMS_RSS_KB=$(sort -n "$WORK/rss-samples.txt" | tail -n 1)
cp "$WORK/rss-samples.txt" "$RAW/"

# 5f. Peak RSS over the whole run.
sleep 1
PEAK_RSS_KB=$(proc_kb "$GATEWAY_PID" VmHWM)
# The kernel's RSS counters are batched per CPU, so a sample can exceed VmHWM by a few pages.
((STREAMS_RSS_KB > PEAK_RSS_KB)) && PEAK_RSS_KB=$STREAMS_RSS_KB
END_RSS_KB=$(proc_kb "$GATEWAY_PID" VmRSS)

# ---------------------------------------------------------------------------------------------
# 6. Report.
mb() { if [[ -n "$1" ]]; then calc "$1 / 1024" 1; else echo n/a; fi; }
COMMIT=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]]; then COMMIT="$COMMIT (working tree has uncommitted changes)"; fi
CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
WARN_LINES=$(grep -cE 'WARN|ERROR' "$WORK/gateway.log" || true)

row_open() { # label name
    local n=$1
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$2" "$(oha_ms "$n" p50)" "$(oha_ms "$n" p90)" \
        "$(oha_ms "$n" p99)" "$(oha_ms "$n" p99.9)" "$(oha_rps "$n")" "$(oha_errors "$n")"
}

{
    echo "# Switchyard benchmark"
    echo
    echo "- Date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "- Commit: $COMMIT"
    echo "- Machine: $(nproc) cores, ${CPU_MODEL:-unknown CPU}, kernel $(uname -r), load average at end $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- Toolchain: $(rustc --version 2>/dev/null || echo unknown); $("$OHA" --version)"
    echo "- Layout: mock upstreams, oha and sy-bench-stream pinned to core $LOAD_CORE; the gateway alone on core $GATEWAY_CORE; SWITCHYARD_LOG=warn"
    echo "- Each run: ${DUR} s, ${DRAIN} s pause between runs; request body ${BODY_BYTES} bytes (bench/body.json)"
    [[ "${BENCH_QUICK:-0}" == 1 ]] && echo "- **Quick mode (BENCH_QUICK=1): short runs, numbers are indicative only.**"
    echo
    echo "## Non-streaming, open loop at ${RATE} req/s (latency in ms, corrected for coordinated omission)"
    echo
    echo "| Path | p50 | p90 | p99 | p99.9 | achieved req/s | errors |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    row_open open-direct "direct to mock"
    row_open open-gateway "through gateway"
    printf '| **added by gateway** | **%s** | **%s** | **%s** | **%s** | | |\n' \
        "$(minus "$(oha_ms open-gateway p50)" "$(oha_ms open-direct p50)")" \
        "$(minus "$(oha_ms open-gateway p90)" "$(oha_ms open-direct p90)")" \
        "$(minus "$(oha_ms open-gateway p99)" "$(oha_ms open-direct p99)")" \
        "$(minus "$(oha_ms open-gateway p99.9)" "$(oha_ms open-direct p99.9)")"
    echo
    echo "## Non-streaming, closed loop (max throughput, ${CONNECTIONS} connections)"
    echo
    echo "| Path | req/s | p50 ms | p99 ms | errors |"
    echo "|---|---:|---:|---:|---:|"
    for n in closed-direct closed-gateway; do
        label="direct to mock"
        [[ $n == closed-gateway ]] && label="through gateway"
        printf '| %s | %s | %s | %s | %s |\n' "$label" "$(oha_rps "$n")" "$(oha_ms "$n" p50)" "$(oha_ms "$n" p99)" "$(oha_errors "$n")"
    done
    echo
    echo "Gateway core busy during the gateway run: ${CPU_BUSY[closed-gateway]} % (near 100 %: the gateway was the limit; well below: the load side on core $LOAD_CORE was)."
    echo
    echo "## Gateway CPU per request (core $GATEWAY_CORE; utime+stime from /proc, ${CLK_TCK} ticks/s)"
    echo
    echo "| Run | requests | gateway CPU s | gateway core busy | CPU µs / request |"
    echo "|---|---:|---:|---:|---:|"
    cpu_row() { printf '| %s | %s | %s | %s %% | **%s** |\n' "$1" "$3" "${CPU_S[$2]}" "${CPU_BUSY[$2]}" "${CPU_US[$2]}"; }
    cpu_row "open loop $RATE req/s" open-gateway "$(oha_done open-gateway)"
    cpu_row "closed loop, $CONNECTIONS connections" closed-gateway "$(oha_done closed-gateway)"
    cpu_row "streaming $STREAM_RATE streams/s" stream-gateway "$(sj stream-gateway count)"
    cpu_row "$STREAMS concurrent streams" streams-gateway "$(sj streams-gateway count)"
    echo
    echo "## Streaming, open loop at ${STREAM_RATE} streams/s (${STREAM_CHUNKS} chunks ${CHUNK_INTERVAL_MS} ms apart; ms from the scheduled start)"
    echo
    echo "| Path | TTFB p50 | TTFB p90 | TTFB p99 | total p50 | total p99 | streams | errors |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    for n in stream-direct stream-gateway; do
        label="direct to mock"
        [[ $n == stream-gateway ]] && label="through gateway"
        printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$label" "$(sj "$n" ttfb_p50_ms)" "$(sj "$n" ttfb_p90_ms)" \
            "$(sj "$n" ttfb_p99_ms)" "$(sj "$n" total_p50_ms)" "$(sj "$n" total_p99_ms)" "$(sj "$n" count)" "$(sj "$n" errors)"
    done
    printf '| **added by gateway** | **%s** | **%s** | **%s** | **%s** | **%s** | | |\n' \
        "$(minus "$(sj stream-gateway ttfb_p50_ms)" "$(sj stream-direct ttfb_p50_ms)")" \
        "$(minus "$(sj stream-gateway ttfb_p90_ms)" "$(sj stream-direct ttfb_p90_ms)")" \
        "$(minus "$(sj stream-gateway ttfb_p99_ms)" "$(sj stream-direct ttfb_p99_ms)")" \
        "$(minus "$(sj stream-gateway total_p50_ms)" "$(sj stream-direct total_p50_ms)")" \
        "$(minus "$(sj stream-gateway total_p99_ms)" "$(sj stream-direct total_p99_ms)")"
    echo
    echo "## ${STREAMS} concurrent streams through the gateway (closed loop)"
    echo
    echo "| streams done | errors | streams/s | max open | TTFB p50 | TTFB p99 | total p50 | total p99 |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$(sj streams-gateway count)" "$(sj streams-gateway errors)" \
        "$(sj streams-gateway ok_per_s)" "$(sj streams-gateway max_in_flight)" "$(sj streams-gateway ttfb_p50_ms)" \
        "$(sj streams-gateway ttfb_p99_ms)" "$(sj streams-gateway total_p50_ms)" "$(sj streams-gateway total_p99_ms)"
    echo
    echo "Gateway core busy: ${CPU_BUSY[streams-gateway]} % (well below 100 %: the latencies here reflect the saturated load side on core $LOAD_CORE, mock and driver, more than the gateway)."
    echo
    echo "## Gateway memory"
    echo
    echo "| idle RSS after start | max RSS during ${STREAMS} streams | peak RSS (VmHWM, whole run) | RSS at end |"
    echo "|---:|---:|---:|---:|"
    printf '| %s MiB | %s MiB | %s MiB | %s MiB |\n' "$(mb "$IDLE_RSS_KB")" "$(mb "$STREAMS_RSS_KB")" "$(mb "$PEAK_RSS_KB")" "$(mb "$END_RSS_KB")"
    echo
    errors_total=0
    for n in open-gateway closed-gateway; do errors_total=$((errors_total + $(oha_errors "$n"))); done
    for n in stream-gateway streams-gateway; do errors_total=$((errors_total + $(sj "$n" errors))); done
    echo "## Problems"
    echo
    if ((errors_total == 0 && WARN_LINES == 0)); then
        echo "None: no failed request through the gateway, no warning in its log."
    else
        echo "- Failed requests through the gateway (all runs): $errors_total"
        for n in open-gateway closed-gateway open-direct closed-direct; do
            jq -r --arg n "$n" '.errorDistribution | to_entries[] | "- \($n): \(.value) × \(.key)"' "$RAW/$n.json"
            jq -r --arg n "$n" '.statusCodeDistribution | to_entries[] | select(.key | startswith("2") | not) | "- \($n): \(.value) × HTTP \(.key)"' "$RAW/$n.json"
        done
        for n in stream-direct stream-gateway streams-gateway; do
            jq -r --arg n "$n" '.error_samples[] | "- \($n): \(.count) × \(.message)"' "$RAW/$n.json"
        done
        echo "- Warning/error lines in the gateway log: $WARN_LINES (bench/results/latest/gateway.log)"
        if ((WARN_LINES > 0)); then
            echo
            echo '```'
            grep -E 'WARN|ERROR' "$WORK/gateway.log" | cut -c1-300 | sort | uniq -c | sort -rn | head -n 10
            echo '```'
        fi
    fi
    echo
    echo "Raw results: bench/results/latest/*.json"
} >"$WORK/report.md"

cp "$WORK/report.md" "$RESULTS/latest.md"
cat "$WORK/report.md"
log "report written to bench/results/latest.md"
