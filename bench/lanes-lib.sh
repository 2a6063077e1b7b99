# Shared by bench/lanes.sh and bench/ab.sh (sourced, not run): the mocks, the gateways'
# configuration, and the cleanup that ends every process a script started. The sourcing script
# sets BIN and BENCH_TAG (its name in log lines) first.

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sy-bench-$BENCH_TAG.XXXXXX")
PIDS=()

log() { printf '[bench-%s %s] %s\n' "$BENCH_TAG" "$(date +%H:%M:%S)" "$*" >&2; }
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

# Builds the release binaries of the packages given (unless BENCH_SKIP_BUILD=1).
build_release() {
    [[ "${BENCH_SKIP_BUILD:-0}" == 1 ]] && return
    log "building release binaries"
    local args=() package
    for package in "$@"; do args+=(-p "$package"); done
    cargo build --release "${args[@]}" --bins >&2
}

# Stops with a clear message unless every command given is on the PATH.
need_tools() {
    local tool
    for tool in "$@"; do command -v "$tool" >/dev/null || die "needs $tool"; done
}

# $1: a name; the rest: the mock's flags. Sets MOCK_ADDR (not a subshell, so PIDS keeps the PID).
start_mock() {
    local name=$1
    shift
    MOCK_ADDR=
    : >"$WORK/$name.out"
    taskset -c 0 "$BIN/sy-mock-upstream" --listen 127.0.0.1:0 "$@" >"$WORK/$name.out" 2>"$WORK/$name.log" &
    PIDS+=($!)
    for _ in $(seq 100); do
        MOCK_ADDR=$(sed -n 's/^listening on //p' "$WORK/$name.out")
        [[ -n "$MOCK_ADDR" ]] && break
        sleep 0.1
    done
    [[ -n "$MOCK_ADDR" ]] || die "the mock $name did not start"
}

# A gateway's configuration: $1 its port, $2 its SQLite file; $MOCK paces the words, $NOW answers
# at once. Models: bench-pass (OpenAI-compatible), bench-lane (Bedrock, SigV4), bench-key (Bedrock,
# API key), each also as bench-...-now on the instant mock.
lanes_config() {
    cat <<EOF
[server]
listen = "127.0.0.1:$1"
shutdown_grace_ms = 1000
[storage]
url = "sqlite://$2"
[providers.openai-mock]
kind = "openai-compatible"
base_url = "http://$MOCK/v1"
[providers.bedrock-mock]
kind = "bedrock"
base_url = "http://$MOCK"
region = "us-east-1"
access_key_id = "AKIDBENCHMARK000000"
secret_access_key = "bench-secret-access-key"
[providers.openai-now]
kind = "openai-compatible"
base_url = "http://$NOW/v1"
[providers.bedrock-now]
kind = "bedrock"
base_url = "http://$NOW"
region = "us-east-1"
access_key_id = "AKIDBENCHMARK000000"
secret_access_key = "bench-secret-access-key"
[providers.bedrock-key]
kind = "bedrock"
base_url = "http://$MOCK"
region = "us-east-1"
api_key = "bench-bedrock-api-key"
[providers.bedrock-key-now]
kind = "bedrock"
base_url = "http://$NOW"
region = "us-east-1"
api_key = "bench-bedrock-api-key"
[[models]]
name = "bench-key"
deployments = [{ provider = "bedrock-key", model = "anthropic.claude-3-5-sonnet-20240620-v1:0" }]
[[models]]
name = "bench-key-now"
deployments = [{ provider = "bedrock-key-now", model = "anthropic.claude-3-5-sonnet-20240620-v1:0" }]
[[models]]
name = "bench-pass"
deployments = [{ provider = "openai-mock", model = "mock-model" }]
[[models]]
name = "bench-lane"
deployments = [{ provider = "bedrock-mock", model = "anthropic.claude-3-5-sonnet-20240620-v1:0" }]
[[models]]
name = "bench-pass-now"
deployments = [{ provider = "openai-now", model = "mock-model" }]
[[models]]
name = "bench-lane-now"
deployments = [{ provider = "bedrock-now", model = "anthropic.claude-3-5-sonnet-20240620-v1:0" }]
EOF
}

# Starts `$1 serve` on core 1 with config $2 as gateway $3; sets GW_PID[$3].
start_gateway() {
    SWITCHYARD_LOG=warn taskset -c 1 "$1" serve --config "$2" >"$WORK/gateway-$3.out" 2>"$WORK/gateway-$3.log" &
    GW_PID[$3]=$!
    PIDS+=("${GW_PID[$3]}")
}

# Waits for gateway $1 on port $2 to answer /healthz.
await_gateway() {
    local health=http://127.0.0.1:$2/healthz
    for _ in $(seq 100); do
        curl -fsS -m 1 "$health" >/dev/null 2>&1 && return
        sleep 0.1
    done
    curl -fsS -m 1 "$health" >/dev/null || { cat "$WORK/gateway-$1.log" >&2; die "the $1 gateway did not start"; }
}
