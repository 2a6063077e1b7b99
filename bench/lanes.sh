#!/usr/bin/env bash
# What translation costs: the same streamed chat request, sent by an OpenAI client through the
# gateway, once to an OpenAI-compatible upstream (the pass-through lane: bytes relayed, model edited)
# and once to a Bedrock upstream answering ConverseStream (the translation lane: OpenAI decoded into
# the canonical model, encoded as Converse and signed with SigV4; the answer's event-stream frames
# decoded, CRCs checked, and re-framed as OpenAI chunks). Both upstreams are the same mock, playing
# the same words at the same moments (ConverseStream's frames are delivered where the chat
# stream's chunks are). The third lane is the ingress side: an Anthropic Messages client
# (`/v1/messages`) answered by the OpenAI-compatible upstream, so the request is decoded from
# Anthropic and encoded as OpenAI, and the chunks re-framed as Anthropic events. The fourth,
# "key", is the translation lane with a Bedrock API key instead of SigV4: what signing costs.
#
# Each lane has its own gateway process (the same binary and configuration), so each process
# serves one kind of request only, as a deployment that translates every request would; the
# fifth, "again", is the pass-through lane on one more gateway: its difference from pass is the
# method's noise floor. After a warm-up, with the gateways alone on core 1:
# 1. Interleaved at load: in each round one load generator starts the lanes' streams in turn
#    (pass, lane, again, key, ant, pass, ...) at random moments at the offered load in all, so
#    every request meets every phase of the others' deliveries, and every lane meets the
#    same moments of the machine and its drift cancels out of their differences; each lane's cost
#    is the median over the rounds of its difference from the pass-through streams of its round.
# 2. Separate runs at load, one lane at a time in short rounds, in turn forwards and backwards,
#    for each lane's gateway CPU per stream (which interleaving cannot tell apart).
# 3. One stream at a time, interleaved, against a mock that answers at once: the gateway's own
#    latency for a request and its whole answer, without queueing and without idle pauses.
# `sy-bench-translate` then times the lane's translation work in process, warm and cold.
#
#   bench/lanes.sh                   # 12 rounds of each: 5 s interleaved and 5 s per lane at load, 5 s one at a time
#   BENCH_QUICK=1 bench/lanes.sh     # 2 rounds of 5 s and 3 s
#
# Knobs: BENCH_ROUNDS, BENCH_DURATION, BENCH_STREAM_RATE (streams/s, 200), BENCH_GATEWAY_PORT
# (18280: the first of five ports), BENCH_SKIP_BUILD=1. Writes bench/results/lanes.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
if [[ "${BENCH_QUICK:-0}" == 1 ]]; then
    DUR=${BENCH_DURATION:-5} ROUNDS=${BENCH_ROUNDS:-2} LAT_DUR=3
else
    DUR=${BENCH_DURATION:-5} ROUNDS=${BENCH_ROUNDS:-12} LAT_DUR=5
fi
RATE=${BENCH_STREAM_RATE:-200}
PORT=${BENCH_GATEWAY_PORT:-18280}
CHUNKS=12
INTERVAL_MS=2
BIN=$ROOT/target/release
RESULTS=$ROOT/bench/results
BENCH_TAG=lanes
# shellcheck source=bench/lanes-lib.sh
source "$ROOT/bench/lanes-lib.sh"

build_release switchyard sy-testkit sy-bench
need_tools jq taskset curl awk

start_mock mock --stream-chunks "$CHUNKS" --chunk-interval-ms "$INTERVAL_MS"
MOCK=$MOCK_ADDR
# The same answers at once, for timing a request alone (the whole answer is the gateway's work).
start_mock now --stream-chunks "$CHUNKS" --chunk-interval-ms 0
NOW=$MOCK_ADDR

# One gateway per lane: the same configuration on its own port, with its own state.
GATEWAYS=(pass lane key ant again)
declare -A GW_PID GW_PORT
for k in "${!GATEWAYS[@]}"; do
    gw=${GATEWAYS[$k]}
    GW_PORT[$gw]=$((PORT + k))
    lanes_config "${GW_PORT[$gw]}" "$WORK/state-$gw.db" >"$WORK/lanes-$gw.toml"
    start_gateway "$BIN/switchyard" "$WORK/lanes-$gw.toml" "$gw"
done
for gw in "${GATEWAYS[@]}"; do await_gateway "$gw" "${GW_PORT[$gw]}"; done
# The URL of lane $1: its gateway's (a -now lane uses its lane's), the Anthropic lane at /v1/messages.
lane_url() {
    local gw=${1%-now}
    [[ "$gw" == ant ]] && { echo "http://127.0.0.1:${GW_PORT[ant]}/v1/messages"; return; }
    echo "http://127.0.0.1:${GW_PORT[$gw]}/v1/chat/completions"
}

for lane in pass lane key pass-now lane-now key-now; do
    jq -c --arg m "bench-$lane" '.model = $m | .stream = true' bench/body.json >"$WORK/$lane.json"
done
cp "$WORK/pass.json" "$WORK/again.json"
cp "$WORK/pass-now.json" "$WORK/again-now.json"
for lane in pass lane key again pass-now lane-now key-now again-now; do
    out=$(curl -fsS -m 10 -X POST -H 'content-type: application/json' --data-binary "@$WORK/$lane.json" "$(lane_url "$lane")")
    grep -q 'data: \[DONE\]' <<<"$out" || die "the $lane lane's stream did not end with [DONE]: ${out:0:400}"
done
jq -c '{model: "bench-pass", max_tokens: 512, stream: true,
        system: ([.messages[] | select(.role == "system") | .content] | join("\n")),
        messages: [.messages[] | select(.role != "system")]}' bench/body.json >"$WORK/ant.json"
out=$(curl -fsS -m 10 -X POST -H 'content-type: application/json' --data-binary "@$WORK/ant.json" "$(lane_url ant)")
grep -q 'event: message_stop' <<<"$out" || die "the Anthropic lane's stream did not end with message_stop: ${out:0:400}"

cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) printf "%.3f", v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
CLK_TCK=$(getconf CLK_TCK)
declare -A CPU_US
# One stream run of lane $1 for $2 seconds into $WORK/$3.json; the gateway's CPU per stream.
run_lane() {
    local lane=$1 secs=$2 run=$3 pid before after count
    pid=${GW_PID[${lane%-now}]}
    before=$(cpu_ticks "$pid")
    taskset -c 0 "$BIN/sy-bench-stream" --url "$(lane_url "$lane")" --body-file "$WORK/$lane.json" \
        --duration "${secs}s" --rate "$RATE" >"$WORK/$run.json"
    after=$(cpu_ticks "$pid")
    count=$(jq '.count' "$WORK/$run.json")
    CPU_US[$run]=$(calc "($after - $before) / $CLK_TCK * 1000000 / $count")
    sleep 1
}
# One interleaved run of lanes $3... for $1 seconds into $WORK/$2.json ("lanes": one summary each,
# in order); $LOAD: the load flags.
run_interleaved() {
    local secs=$1 run=$2 lane args=()
    shift 2
    for lane in "$@"; do
        args+=(--url "$(lane_url "$lane")" --body-file "$WORK/$lane.json")
    done
    taskset -c 0 "$BIN/sy-bench-stream" "${args[@]}" --duration "${secs}s" "${LOAD[@]}" >"$WORK/$run.json"
    sleep 1
}
# Splits interleaved run $1 into one file per lane $3...: $WORK/<lane><$2>.json.
split_lanes() {
    local run=$1 suffix=$2 i=0 lane
    shift 2
    for lane in "$@"; do
        jq ".lanes[$i]" "$WORK/$run.json" >"$WORK/$lane$suffix.json"
        i=$((i + 1))
    done
}
log "warm-up: 3 s per lane"
for lane in pass lane ant key again; do run_lane "$lane" 3 "warm-$lane"; done
# Pass-through and translating lanes alternate, so that pass and again follow a translating
# lane and lane and key follow a pass-through one: the gateways run one binary file, whose code
# they share in memory, and a stream right after another of its own path (pass after again)
# would find that path's code warm.
INTERLEAVED=(pass lane again key ant)
for round in $(seq "$ROUNDS"); do
    # At random moments, seeded by the round: evenly spaced, each request would meet the
    # deliveries of the same lanes' streams every time (see `sy-bench-stream --random-arrivals`).
    LOAD=(--rate "$RATE" --random-arrivals "$round")
    log "round $round, interleaved ${INTERLEAVED[*]}: $RATE streams/s in all for $DUR s"
    run_interleaved "$DUR" "mix$round" "${INTERLEAVED[@]}"
    split_lanes "mix$round" "-mix$round" "${INTERLEAVED[@]}"
done
RUNS=()
for round in $(seq "$ROUNDS"); do
    order=(pass lane key ant)
    ((round % 2)) || order=(ant key lane pass)
    for lane in "${order[@]}"; do
        log "round $round, $lane: $RATE streams/s for $DUR s"
        run_lane "$lane" "$DUR" "$lane$round"
        RUNS+=("$lane$round")
    done
done
# One request at a time against the instant mock: no queueing, no pauses, so the time to the
# first byte and to the end is the gateway's own latency for a request and its whole answer.
ALONE=(pass-now lane-now again-now key-now)
LOAD=(--concurrency 1)
for round in $(seq "$ROUNDS"); do
    log "round $round, interleaved ${ALONE[*]}: one stream at a time for $LAT_DUR s"
    run_interleaved "$LAT_DUR" "alone$round" "${ALONE[@]}"
    split_lanes "alone$round" "$round" "${ALONE[@]}"
done
log "sy-bench-translate"
"$BIN/sy-bench-translate" bench/body.json >"$WORK/translate.txt"

f() { jq -r ".$2 // \"n/a\"" "$WORK/$1.json"; }
# The median over the rounds of lane $1's field $2 minus the pass-through run's ($2 = cpu: CPU);
# $3: the pass-through lane (pass); $4: what the run's name has before the round number.
delta() {
    differences "$@" | median
}
# Each round's difference, as delta takes it, one per line.
differences() {
    local round a b base=${3:-pass} mix=${4:-}
    for round in $(seq "$ROUNDS"); do
        if [[ "$2" == cpu ]]; then a=${CPU_US[$1$round]} b=${CPU_US[$base$round]}
        else a=$(f "$1$mix$round" "$2") b=$(f "$base$mix$round" "$2"); fi
        calc "$a - $b"
        echo
    done
}
# The middle half of the rounds' differences (the 25th to the 75th percentile), in µs.
quartiles() {
    differences "$@" | sort -g | awk '{ v[NR] = $1 * 1000 } END {
        lo = v[int((NR - 1) * 0.25) + 1]; hi = v[int((NR - 1) * 0.75 + 0.5) + 1]
        printf "%+.0f to %+.0f", lo, hi }'
}
# The median over the rounds of lane $1's field $2; $3 as $4 of delta.
middle() {
    local round mix=${3:-}
    for round in $(seq "$ROUNDS"); do
        if [[ "$2" == cpu ]]; then echo "${CPU_US[$1$round]}"; else f "$1$mix$round" "$2"; fi
    done | median
}
mkdir -p "$RESULTS"
{
    echo "# Lanes: pass-through vs translation (OpenAI in, Bedrock ConverseStream out) and Anthropic ingress (Anthropic in, OpenAI out), ms"
    echo
    echo "- Date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); commit $(git rev-parse --short=12 HEAD); load average at end $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- Open loop, $RATE streams/s; $CHUNKS words ${INTERVAL_MS} ms apart from the same mock; mock and load on core 0, the gateways alone on core 1, one gateway process per lane (the same binary and configuration). Lanes: pass (OpenAI to OpenAI-compatible), lane (OpenAI to Bedrock ConverseStream, SigV4), key (the same with a Bedrock API key: no SigV4), ant (Anthropic to OpenAI-compatible), again (pass on its own gateway: the method's noise floor)."
    echo
    echo "Interleaved at load: $ROUNDS rounds of $DUR s, the lanes' streams started in turn at $RATE streams/s in all; medians over the rounds (each lane against the pass-through streams of its round), ms:"
    echo
    echo "| lane | first byte p50 | whole stream p50 | first byte p50 added | middle half of rounds, µs | whole stream p50 added | middle half of rounds, µs | errors |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    for lane in "${INTERLEAVED[@]}"; do
        errors=0
        for round in $(seq "$ROUNDS"); do errors=$((errors + $(f "$lane-mix$round" errors))); done
        printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$lane" "$(middle "$lane" ttfb_p50_ms -mix)" \
            "$(middle "$lane" total_p50_ms -mix)" "$(delta "$lane" ttfb_p50_ms pass -mix)" \
            "$(quartiles "$lane" ttfb_p50_ms pass -mix)" "$(delta "$lane" total_p50_ms pass -mix)" \
            "$(quartiles "$lane" total_p50_ms pass -mix)" "$errors"
    done
    echo
    echo "Separate runs at load: $ROUNDS rounds of $DUR s per lane, in turn forwards and backwards:"
    echo
    echo "| run | streams | errors | first byte p50 | p99 | whole stream p50 | p99 | gateway CPU µs/stream |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    for run in "${RUNS[@]}"; do
        printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$run" "$(f "$run" count)" "$(f "$run" errors)" \
            "$(f "$run" ttfb_p50_ms)" "$(f "$run" ttfb_p99_ms)" "$(f "$run" total_p50_ms)" "$(f "$run" total_p99_ms)" "${CPU_US[$run]}"
    done
    echo
    echo "Medians over the rounds (each lane against the pass-through run of its round):"
    echo
    echo "| lane | first byte p50 | whole stream p50 | gateway CPU µs/stream | first byte p50 added | whole stream p50 added | CPU added µs/stream |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    for lane in pass lane key ant; do
        printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$lane" "$(middle "$lane" ttfb_p50_ms)" \
            "$(middle "$lane" total_p50_ms)" "$(middle "$lane" cpu)" "$(delta "$lane" ttfb_p50_ms)" \
            "$(delta "$lane" total_p50_ms)" "$(delta "$lane" cpu)"
    done
    echo
    echo "One stream at a time, interleaved, answers at once (the gateway's own latency per request; medians over the rounds, in µs):"
    echo
    echo "| lane | first byte p50 | p90 | whole stream p50 | p90 | first byte p50 added | whole stream p50 added |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    for lane in "${ALONE[@]}"; do
        us() { calc "$1 * 1000"; }
        printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$lane" "$(us "$(middle "$lane" ttfb_p50_ms)")" \
            "$(us "$(middle "$lane" ttfb_p90_ms)")" "$(us "$(middle "$lane" total_p50_ms)")" \
            "$(us "$(middle "$lane" total_p90_ms)")" "$(us "$(delta "$lane" ttfb_p50_ms pass-now)")" \
            "$(us "$(delta "$lane" total_p50_ms pass-now)")"
    done
    echo
    echo '```'
    cat "$WORK/translate.txt"
    echo '```'
} | tee "$RESULTS/lanes.md"
