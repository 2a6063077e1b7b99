#!/usr/bin/env bash
# What translation costs: the same streamed chat request, sent by an OpenAI client through the
# gateway, once to an OpenAI-compatible upstream (the pass-through lane: bytes relayed, model edited)
# and once to a Bedrock upstream answering ConverseStream (the translation lane: OpenAI decoded into
# the canonical model, encoded as Converse and signed with SigV4; the answer's event-stream frames
# decoded, CRCs checked, and re-framed as OpenAI chunks). Both upstreams are the same mock, playing
# the same words with the same pauses; the runs interleave (pass, lane, ant, pass, lane, ant) at
# the same offered load, with the gateway alone on core 1. The third run is the ingress side: an
# Anthropic Messages client (`/v1/messages`) answered by the OpenAI-compatible upstream, so the
# request is decoded from Anthropic and encoded as OpenAI, and the chunks re-framed as Anthropic
# events.
#
#   bench/lanes.sh                   # 20 s per run
#   BENCH_QUICK=1 bench/lanes.sh     # 5 s per run
#
# Knobs: BENCH_DURATION, BENCH_STREAM_RATE (streams/s, 200), BENCH_GATEWAY_PORT (18280),
# BENCH_SKIP_BUILD=1. Writes bench/results/lanes.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
if [[ "${BENCH_QUICK:-0}" == 1 ]]; then DUR=${BENCH_DURATION:-5}; else DUR=${BENCH_DURATION:-20}; fi
RATE=${BENCH_STREAM_RATE:-200}
PORT=${BENCH_GATEWAY_PORT:-18280}
CHUNKS=12
INTERVAL_MS=2
BIN=$ROOT/target/release
RESULTS=$ROOT/bench/results
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sy-bench-lanes.XXXXXX")
PIDS=()

log() { printf '[bench-lanes %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
cleanup() {
    local status=$? pid
    trap - EXIT
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT

if [[ "${BENCH_SKIP_BUILD:-0}" != 1 ]]; then
    log "building release binaries"
    cargo build --release -p switchyard -p sy-testkit -p sy-bench --bins >&2
fi
for tool in jq taskset curl awk; do command -v "$tool" >/dev/null || die "needs $tool"; done

taskset -c 0 "$BIN/sy-mock-upstream" --listen 127.0.0.1:0 --stream-chunks "$CHUNKS" \
    --chunk-interval-ms "$INTERVAL_MS" >"$WORK/mock.out" 2>"$WORK/mock.log" &
PIDS+=($!)
for _ in $(seq 100); do
    MOCK=$(sed -n 's/^listening on //p' "$WORK/mock.out")
    [[ -n "$MOCK" ]] && break
    sleep 0.1
done
[[ -n "${MOCK:-}" ]] || die "the mock did not start"

cat >"$WORK/lanes.toml" <<EOF
[server]
listen = "127.0.0.1:$PORT"
shutdown_grace_ms = 1000
[storage]
url = "sqlite://$WORK/state.db"
[providers.openai-mock]
kind = "openai-compatible"
base_url = "http://$MOCK/v1"
[providers.bedrock-mock]
kind = "bedrock"
base_url = "http://$MOCK"
region = "us-east-1"
access_key_id = "AKIDBENCHMARK000000"
secret_access_key = "bench-secret-access-key"
[[models]]
name = "bench-pass"
deployments = [{ provider = "openai-mock", model = "mock-model" }]
[[models]]
name = "bench-lane"
deployments = [{ provider = "bedrock-mock", model = "anthropic.claude-3-5-sonnet-20240620-v1:0" }]
EOF
SWITCHYARD_LOG=warn taskset -c 1 "$BIN/switchyard" serve --config "$WORK/lanes.toml" \
    >"$WORK/gateway.out" 2>"$WORK/gateway.log" &
GATEWAY_PID=$!
PIDS+=("$GATEWAY_PID")
for _ in $(seq 100); do
    curl -fsS -m 1 "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fsS -m 1 "http://127.0.0.1:$PORT/healthz" >/dev/null || { cat "$WORK/gateway.log" >&2; die "the gateway did not start"; }

URL=http://127.0.0.1:$PORT/v1/chat/completions
for lane in pass lane; do
    jq -c --arg m "bench-$lane" '.model = $m | .stream = true' bench/body.json >"$WORK/$lane.json"
    out=$(curl -fsS -m 10 -X POST -H 'content-type: application/json' --data-binary "@$WORK/$lane.json" "$URL")
    grep -q 'data: \[DONE\]' <<<"$out" || die "the $lane lane's stream did not end with [DONE]: ${out:0:400}"
done
ANT_URL=http://127.0.0.1:$PORT/v1/messages
jq -c '{model: "bench-pass", max_tokens: 512, stream: true,
        system: ([.messages[] | select(.role == "system") | .content] | join("\n")),
        messages: [.messages[] | select(.role != "system")]}' bench/body.json >"$WORK/ant.json"
out=$(curl -fsS -m 10 -X POST -H 'content-type: application/json' --data-binary "@$WORK/ant.json" "$ANT_URL")
grep -q 'event: message_stop' <<<"$out" || die "the Anthropic lane's stream did not end with message_stop: ${out:0:400}"

cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }
CLK_TCK=$(getconf CLK_TCK)
declare -A CPU_US
for run in pass1 lane1 ant1 pass2 lane2 ant2; do
    lane=${run%[12]}
    url=$URL
    [[ "$lane" == ant ]] && url=$ANT_URL
    log "$run: $RATE streams/s for $DUR s"
    before=$(cpu_ticks "$GATEWAY_PID")
    taskset -c 0 "$BIN/sy-bench-stream" --url "$url" --body-file "$WORK/$lane.json" \
        --duration "${DUR}s" --rate "$RATE" >"$WORK/$run.json"
    after=$(cpu_ticks "$GATEWAY_PID")
    count=$(jq '.count' "$WORK/$run.json")
    CPU_US[$run]=$(calc "($after - $before) / $CLK_TCK * 1000000 / $count")
    sleep 2
done

f() { jq -r ".$2 // \"n/a\"" "$WORK/$1.json"; }
pair() { calc "($(f "${1}1" "$2") + $(f "${1}2" "$2")) / 2"; }
mkdir -p "$RESULTS"
{
    echo "# Lanes: pass-through vs translation (OpenAI in, Bedrock ConverseStream out) and Anthropic ingress (Anthropic in, OpenAI out), ms"
    echo
    echo "- Date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); commit $(git rev-parse --short=12 HEAD); load average at end $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- Open loop, $RATE streams/s, $DUR s per run; $CHUNKS words ${INTERVAL_MS} ms apart from the same mock; mock and load on core 0, gateway alone on core 1."
    echo
    echo "| run | streams | errors | first byte p50 | p99 | whole stream p50 | p99 | gateway CPU µs/stream |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    for run in pass1 lane1 ant1 pass2 lane2 ant2; do
        printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$run" "$(f "$run" count)" "$(f "$run" errors)" \
            "$(f "$run" ttfb_p50_ms)" "$(f "$run" ttfb_p99_ms)" "$(f "$run" total_p50_ms)" "$(f "$run" total_p99_ms)" "${CPU_US[$run]}"
    done
    echo
    echo "- Translation over pass-through (mean of two runs each): first byte p50 +$(calc "$(pair lane ttfb_p50_ms) - $(pair pass ttfb_p50_ms)") ms, whole stream p50 +$(calc "$(pair lane total_p50_ms) - $(pair pass total_p50_ms)") ms, p99 +$(calc "$(pair lane total_p99_ms) - $(pair pass total_p99_ms)") ms; gateway CPU +$(calc "(${CPU_US[lane1]} + ${CPU_US[lane2]} - ${CPU_US[pass1]} - ${CPU_US[pass2]}) / 2") µs per stream."
    echo "- Anthropic ingress (Anthropic in, OpenAI out) over pass-through: first byte p50 +$(calc "$(pair ant ttfb_p50_ms) - $(pair pass ttfb_p50_ms)") ms, whole stream p50 +$(calc "$(pair ant total_p50_ms) - $(pair pass total_p50_ms)") ms; gateway CPU +$(calc "(${CPU_US[ant1]} + ${CPU_US[ant2]} - ${CPU_US[pass1]} - ${CPU_US[pass2]}) / 2") µs per stream."
} | tee "$RESULTS/lanes.md"
