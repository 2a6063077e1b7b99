#!/usr/bin/env bash
# Two gateway binaries compared on the translation lane, in one run: for a change to the request
# path, measured against the binary before it. Each binary serves the pass-through lane (OpenAI in,
# OpenAI-compatible upstream out) and the translation lane (OpenAI in, Bedrock ConverseStream out,
# SigV4) from a gateway process per lane, four processes alone on core 1. One load generator
# starts the four lanes' streams in turn, so both binaries meet the same moments of the machine;
# each binary's cost is its lane minus its own pass-through, round by round.
#
#   bench/ab.sh BEFORE_BINARY [AFTER_BINARY]   # AFTER defaults to target/release/switchyard
#
# e.g. `git stash; cargo build --release -p switchyard; cp target/release/switchyard /tmp/before;
# git stash pop; cargo build --release -p switchyard; bench/ab.sh /tmp/before`.
# Knobs: BENCH_ROUNDS (16), BENCH_DURATION (5 s per round at load), BENCH_STREAM_RATE (200
# streams/s in all), BENCH_ARRIVALS (random or even), BENCH_GATEWAY_PORT (18380: the first of
# four). Needs the mock and driver of `cargo build --release -p sy-testkit -p sy-bench --bins`.
# Writes bench/results/ab.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BIN=$ROOT/target/release
BEFORE=${1:?usage: bench/ab.sh BEFORE_BINARY [AFTER_BINARY]}
AFTER=${2:-$BIN/switchyard}
ROUNDS=${BENCH_ROUNDS:-16}
DUR=${BENCH_DURATION:-5}
RATE=${BENCH_STREAM_RATE:-200}
# Streams at load start at random moments (seeded by the round), so that every request meets
# every phase of the other streams' deliveries; BENCH_ARRIVALS=even spaces them evenly, as runs
# before 2026-11-27 evening did.
case ${BENCH_ARRIVALS:-random} in
random) ARRIVALS=(--random-arrivals SEED) ;;
even) ARRIVALS=() ;;
*) echo "BENCH_ARRIVALS is random or even" >&2; exit 1 ;;
esac
PORT=${BENCH_GATEWAY_PORT:-18380}
RESULTS=$ROOT/bench/results
BENCH_TAG=ab
# shellcheck source=bench/lanes-lib.sh
source "$ROOT/bench/lanes-lib.sh"
need_tools jq taskset curl awk
for bin in "$BEFORE" "$AFTER" "$BIN/sy-mock-upstream" "$BIN/sy-bench-stream"; do
    [[ -x "$bin" ]] || die "no executable $bin"
done

start_mock mock --stream-chunks 12 --chunk-interval-ms 2
MOCK=$MOCK_ADDR
start_mock now --stream-chunks 12 --chunk-interval-ms 0
NOW=$MOCK_ADDR

# Gateways in the order the driver starts their streams, reversed every other round. Every
# stream follows one of the other binary's: gateways running the same binary file share its code
# in memory, so a stream that followed its own binary's other lane would find the code they
# share warm. A stream right after a translated one also pays for that one's last work, so the
# order turns round every other round: each build's pass and lane follow a pass-through stream
# in half the rounds and a translated one in the other half.
GATEWAYS=(pass-before pass-after lane-before lane-after)
declare -A GW_PID GW_PORT
for k in "${!GATEWAYS[@]}"; do
    gw=${GATEWAYS[$k]}
    GW_PORT[$gw]=$((PORT + k))
    binary=$BEFORE
    [[ "$gw" == *-after ]] && binary=$AFTER
    lanes_config "${GW_PORT[$gw]}" "$WORK/state-$gw.db" >"$WORK/$gw.toml"
    start_gateway "$binary" "$WORK/$gw.toml" "$gw"
done
for gw in "${GATEWAYS[@]}"; do await_gateway "$gw" "${GW_PORT[$gw]}"; done

# Gateway $1's place in round $2's order (the driver's lane index).
at() {
    local k
    for k in "${!GATEWAYS[@]}"; do [[ "${GATEWAYS[$k]}" == "$1" ]] && break; done
    (($2 % 2)) && echo "$k" || echo $((${#GATEWAYS[@]} - 1 - k))
}
# The driver's arguments for one run: every gateway's URL and its lane's body ($1: "" or -now), in
# round $2's order.
LOAD_ARGS=()
lanes() {
    local gw lane order=()
    for gw in "${GATEWAYS[@]}"; do order[$(at "$gw" "$2")]=$gw; done
    LOAD_ARGS=()
    for gw in "${order[@]}"; do
        lane=${gw%-*}$1
        [[ -f "$WORK/$lane.json" ]] ||
            jq -c --arg m "bench-$lane" '.model = $m | .stream = true' bench/body.json >"$WORK/$lane.json"
        LOAD_ARGS+=(--url "http://127.0.0.1:${GW_PORT[$gw]}/v1/chat/completions" --body-file "$WORK/$lane.json")
    done
}
for gw in "${GATEWAYS[@]}"; do
    lane=${gw%-*}
    jq -c --arg m "bench-$lane" '.model = $m | .stream = true' bench/body.json >"$WORK/$lane.json"
    out=$(curl -fsS -m 10 -X POST -H 'content-type: application/json' --data-binary "@$WORK/$lane.json" \
        "http://127.0.0.1:${GW_PORT[$gw]}/v1/chat/completions")
    grep -q 'data: \[DONE\]' <<<"$out" || die "the $gw stream did not end with [DONE]: ${out:0:400}"
done
# A gateway's CPU time in ns, all its threads.
cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{ ns += $1 } END { print ns }'; }

log "warm-up: 4 s"
lanes "" 1
taskset -c 0 "$BIN/sy-bench-stream" "${LOAD_ARGS[@]}" --duration 4s --rate "$RATE" >/dev/null
declare -A CPU_BEFORE
for gw in "${GATEWAYS[@]}"; do CPU_BEFORE[$gw]=$(cpu_ns "${GW_PID[$gw]}"); done
for round in $(seq "$ROUNDS"); do
    log "round $round at load: $RATE streams/s in all for $DUR s"
    lanes "" "$round"
    taskset -c 0 "$BIN/sy-bench-stream" "${LOAD_ARGS[@]}" --duration "${DUR}s" --rate "$RATE" \
        "${ARRIVALS[@]/SEED/$round}" --samples "$WORK/load$round.txt" >"$WORK/load$round.json"
    sleep 1
done
declare -A CPU_US
for gw in "${GATEWAYS[@]}"; do
    streams=$(for round in $(seq "$ROUNDS"); do jq ".lanes[$(at "$gw" "$round")].count" "$WORK/load$round.json"; done |
        awk '{ n += $1 } END { print n }')
    CPU_US[$gw]=$(awk -v a="$(cpu_ns "${GW_PID[$gw]}")" -v b="${CPU_BEFORE[$gw]}" -v n="$streams" \
        'BEGIN { printf "%.0f", (a - b) / n / 1000 }')
done
for round in $(seq "$ROUNDS"); do
    log "round $round one at a time, answers at once: 3 s"
    lanes -now "$round"
    taskset -c 0 "$BIN/sy-bench-stream" "${LOAD_ARGS[@]}" --duration 3s --concurrency 1 \
        --samples "$WORK/alone$round.txt" >"$WORK/alone$round.json"
    sleep 0.5
done

# Median over the rounds of run kind $1's field $2, gateway $3 minus gateway $4, in µs; with the
# middle half of the rounds.
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) m = v[(NR + 1) / 2]; else m = (v[NR / 2] + v[NR / 2 + 1]) / 2
    lo = v[int((NR - 1) * 0.25) + 1]; hi = v[int((NR - 1) * 0.75 + 0.5) + 1]; printf "%+.0f (%+.0f to %+.0f)", m, lo, hi }'; }
added() {
    for round in $(seq "$ROUNDS"); do
        jq -r "(.lanes[$(at "$3" "$round")].$2 - .lanes[$(at "$4" "$round")].$2) * 1000" "$WORK/$1$round.json"
    done | median
}
# Pooled: every stream of gateway $3 over all rounds of run kind $1 against every stream of
# gateway $4, column $2 of the samples (3: first byte, 4: whole stream); the difference of
# their p50s and of their p90s, in µs, and the streams counted. Ten thousand streams a lane
# give a steadier p50 than one round's few hundred, and the lanes are interleaved, so the
# machine's drift weighs on both alike.
pooled() {
    local lane
    for lane in "$3" "$4"; do
        for round in $(seq "$ROUNDS"); do
            awk -v f="$2" -v l="$(at "$lane" "$round")" '$2 == l { print $f }' "$WORK/$1$round.txt"
        done | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR - 1) * 0.5) + 1], v[int((NR - 1) * 0.9) + 1], NR }'
    done | awk 'NR == 1 { a50 = $1; a90 = $2; n = $3 } NR == 2 { printf "%+.0f / %+.0f (%d streams)", a50 - $1, a90 - $2, n }'
}
mkdir -p "$RESULTS"
{
    echo "# A/B: the translation lane's cost on two binaries, lane minus its own pass-through, µs"
    echo
    echo "- Date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); load average at end $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- before: \`$BEFORE\`; after: \`$AFTER\`"
    echo "- $ROUNDS rounds of $DUR s at $RATE streams/s in all (${BENCH_ARRIVALS:-random} arrivals; 12 words 2 ms apart), and $ROUNDS rounds of 3 s one stream at a time against a mock answering at once; p50 rows: medians over the rounds of each round's p50 difference, the middle half of the rounds in brackets; pooled rows: the p50 and p90 of all the lane's streams over all rounds minus those of all its pass streams."
    echo
    echo "| lane minus pass | before | after |"
    echo "|---|---:|---:|"
    echo "| at load: first byte p50 | $(added load ttfb_p50_ms lane-before pass-before) | $(added load ttfb_p50_ms lane-after pass-after) |"
    echo "| at load: whole stream p50 | $(added load total_p50_ms lane-before pass-before) | $(added load total_p50_ms lane-after pass-after) |"
    echo "| at load: first byte p50 / p90, pooled | $(pooled load 3 lane-before pass-before) | $(pooled load 3 lane-after pass-after) |"
    echo "| at load: gateway CPU per stream | $((CPU_US[lane-before] - CPU_US[pass-before])) | $((CPU_US[lane-after] - CPU_US[pass-after])) |"
    echo "| one at a time: first byte p50 | $(added alone ttfb_p50_ms lane-before pass-before) | $(added alone ttfb_p50_ms lane-after pass-after) |"
    echo "| one at a time: whole stream p50 | $(added alone total_p50_ms lane-before pass-before) | $(added alone total_p50_ms lane-after pass-after) |"
    echo "| one at a time: first byte p50 / p90, pooled | $(pooled alone 3 lane-before pass-before) | $(pooled alone 3 lane-after pass-after) |"
    echo
    echo "Gateway CPU per stream at load, µs: pass ${CPU_US[pass-before]} / ${CPU_US[pass-after]}, lane ${CPU_US[lane-before]} / ${CPU_US[lane-after]} (before / after)."
} | tee "$RESULTS/ab.md"
