#!/usr/bin/env bash
# What the translation lane touches that the pass-through lane does not, in the gateway itself:
# one gateway runs under callgrind's cache simulator with small caches (32 KiB first level,
# 128 KiB last level, so that little survives from one stream's events to the next, as at a
# gateway idling between deliveries), and serves BENCH_STREAMS (30) pass-through streams, then as
# many translated ones (OpenAI in, Bedrock ConverseStream out, SigV4), one at a time against the
# mock that paces its words 2 ms apart. Each lane is counted on its own (instrumentation on for its
# streams only, after five unmeasured ones) and the report lists, per stream, the instructions
# and the code and data lines fetched from the last level, in all and for the functions whose
# own cost differs most between the lanes. Writes bench/results/footprint.md.
#
# Under valgrind, SHA-256 runs without the CPU's SHA instructions (valgrind hides them), so the
# signature's hashing shows far larger there than on the machine. Needs valgrind, jq, curl and the
# release binaries (`cargo build --release -p switchyard -p sy-testkit --bins`; BENCH_SKIP_BUILD=1
# skips the build). Takes about a minute.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
STREAMS=${BENCH_STREAMS:-30}
PORT=${BENCH_GATEWAY_PORT:-18480}
BIN=$ROOT/target/release
RESULTS=$ROOT/bench/results
BENCH_TAG=footprint
# shellcheck source=bench/lanes-lib.sh
source "$ROOT/bench/lanes-lib.sh"

build_release switchyard sy-testkit
need_tools valgrind callgrind_control callgrind_annotate jq curl awk

start_mock mock --stream-chunks 12 --chunk-interval-ms 2
MOCK=$MOCK_ADDR
start_mock now --stream-chunks 12 --chunk-interval-ms 0
NOW=$MOCK_ADDR
lanes_config "$PORT" "$WORK/state.db" >"$WORK/gateway.toml"
SWITCHYARD_LOG=warn valgrind --tool=callgrind --cache-sim=yes --I1=32768,8,64 --D1=32768,8,64 \
    --LL=131072,8,64 --instr-atstart=no --callgrind-out-file="$WORK/callgrind.out" \
    "$BIN/switchyard" serve --config "$WORK/gateway.toml" >"$WORK/gateway.out" 2>"$WORK/gateway.log" &
VALGRIND=$!
PIDS+=("$VALGRIND")
URL=http://127.0.0.1:$PORT/v1/chat/completions
for _ in $(seq 300); do
    curl -fsS -m 1 "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.2
done
curl -fsS -m 1 "http://127.0.0.1:$PORT/healthz" >/dev/null || { cat "$WORK/gateway.log" >&2; die "the gateway did not start"; }

stream() {
    local out
    out=$(curl -fsS -m 60 -X POST -H 'content-type: application/json' --data-binary "@$WORK/$1.json" "$URL")
    grep -q 'data: \[DONE\]' <<<"$out" || die "the $1 stream did not end with [DONE]: ${out:0:300}"
}
LANES=(pass lane)
for lane in "${LANES[@]}"; do
    jq -c --arg m "bench-$lane" '.model = $m | .stream = true' bench/body.json >"$WORK/$lane.json"
    for _ in 1 2 3 4 5; do stream "$lane"; done
done
for lane in "${LANES[@]}"; do
    log "$STREAMS $lane streams under the cache simulator"
    callgrind_control -z "$VALGRIND" >/dev/null 2>&1
    callgrind_control -i on "$VALGRIND" >/dev/null 2>&1
    for _ in $(seq "$STREAMS"); do
        stream "$lane"
        sleep 0.05
    done
    callgrind_control -i off "$VALGRIND" >/dev/null 2>&1
    callgrind_control -d "$lane" "$VALGRIND" >/dev/null 2>&1
done

# Self costs per function: "Ir ILmr DLmr DLmw function", numbers without separators.
costs() {
    callgrind_annotate --auto=no --show-percs=no --show=Ir,ILmr,DLmr,DLmw --threshold=100 "$1" |
        awk '$1 ~ /^[0-9,.]+$/ && NF >= 5 {
            name = $5; for (i = 6; i <= NF; i++) name = name " " $i
            sub(/ \[[^]]*\]$/, "", name); sub(/^[^:]*:/, "", name)
            for (i = 1; i <= 4; i++) { v = $i; gsub(/,/, "", v); if (v == ".") v = 0; n[i] = v }
            print n[1], n[2], n[3], n[4], name
        }'
}
dump() { grep -l "^desc: Trigger: dump $1\$" "$WORK"/callgrind.out* | head -1; }
PASS_DUMP=$(dump pass)
LANE_DUMP=$(dump lane)
[[ -n "$PASS_DUMP" && -n "$LANE_DUMP" ]] || die "callgrind wrote no dump for a lane"
costs "$PASS_DUMP" >"$WORK/pass.costs"
costs "$LANE_DUMP" >"$WORK/lane.costs"

mkdir -p "$RESULTS"
{
    echo "# The lanes' footprint in the gateway ($(date -u +%Y-%m-%dT%H:%M:%SZ), $(git rev-parse --short HEAD))"
    echo
    echo "$STREAMS streams per lane, one at a time, under callgrind with 32 KiB first-level and 128 KiB"
    echo "last-level caches; per stream. Lines are 64-byte lines fetched from memory (last-level misses)."
    echo
    echo "| per stream | pass | lane | lane minus pass |"
    echo "|---|---:|---:|---:|"
    awk -v n="$STREAMS" '
        FNR == NR { if ($5 " " $6 == "PROGRAM TOTALS") for (i = 1; i <= 4; i++) p[i] = $i; next }
        $5 " " $6 == "PROGRAM TOTALS" { for (i = 1; i <= 4; i++) l[i] = $i }
        END {
            split("instructions|code lines|data lines read|data lines written", label, "|")
            for (i = 1; i <= 4; i++)
                printf "| %s | %.0f | %.0f | %+.0f |\n", label[i], p[i] / n, l[i] / n, (l[i] - p[i]) / n
        }' "$WORK/pass.costs" "$WORK/lane.costs"
    echo
    echo "Functions whose own code lines differ most (lane minus pass, per stream; negative: the"
    echo "pass-through lane's own work):"
    echo
    echo "| code lines | instructions | data lines | function |"
    echo "|---:|---:|---:|---|"
    awk -v n="$STREAMS" '
        $5 " " $6 == "PROGRAM TOTALS" { next }
        { name = $5; for (i = 6; i <= NF; i++) name = name " " $i }
        FNR == NR { ir[name] -= $1; il[name] -= $2; dl[name] -= $3 + $4; next }
        { ir[name] += $1; il[name] += $2; dl[name] += $3 + $4 }
        END { for (f in il) printf "%.1f\t%.0f\t%.1f\t%s\n", il[f] / n, ir[f] / n, dl[f] / n, f }' \
        "$WORK/pass.costs" "$WORK/lane.costs" |
        sort -t$'\t' -k1,1gr >"$WORK/diff.tsv"
    row() { awk -F'\t' '{ printf "| %+.1f | %+.0f | %+.1f | `%s` |\n", $1, $2, $3, substr($4, 1, 110) }'; }
    head -25 "$WORK/diff.tsv" | row
    echo "| | | | … |"
    tail -8 "$WORK/diff.tsv" | row
} >"$RESULTS/footprint.md"
cat "$RESULTS/footprint.md"
