#!/usr/bin/env bash
# Benchmarks: the decoder (ordo-one/benchmark) on the reference workload's payloads, then
# OTLP/HTTP ingest load runs with ../shared/bench/loadgen.py against the release server,
# into the counting sink, the file sink and the durable store; then the store's bytes on
# disk per span (with and without large text), segment scan speed, trace lookups, SQL
# aggregates, free-text search and the UI's first paint with LOOKUP_SPANS stored. Writes
# bench-results/ and the "Latest run" section of docs/benchmarks.md.
#
#   SPANS=200000 CONCURRENCY=4 LOOKUP_SPANS=10000000 DASHBOARD_CALLS_PER_2MIN=10 scripts/bench.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SHARED="${PYFLARE_SHARED:-$ROOT/../shared}"
LOADGEN="$SHARED/bench/loadgen.py"
PY="$ROOT/e2e/.venv/bin/python"
SCRATCH=.build-bench
SPANS="${SPANS:-200000}"
CONCURRENCY="${CONCURRENCY:-4}"
LOOKUP_SPANS="${LOOKUP_SPANS:-10000000}"
JOB_SPANS="${JOB_SPANS:-3600000}"
RCA_SPANS="${RCA_SPANS:-1000000}"
OUT=bench-results
export PYFLARE_BENCHMARKS=1
mkdir -p "$SCRATCH/payloads" "$OUT"

[ -f "$LOADGEN" ] || { echo "bench: $LOADGEN not found (set PYFLARE_SHARED)" >&2; exit 1; }

echo "== payloads (loadgen --no-send, batch 500)"
"$PY" "$LOADGEN" --no-send --spans 500 --pool 1 --batch 500 --seed 7 --out-payload "$SCRATCH/payloads/payload.pb" 2>/dev/null
"$PY" "$LOADGEN" --no-send --spans 500 --pool 1 --batch 500 --seed 7 --json --out-payload "$SCRATCH/payloads/payload.json" 2>/dev/null
"$PY" scripts/bench_store.py payloads --loadgen "$LOADGEN" --out "$SCRATCH/payloads" --count 20

echo "== release build"
swift build -c release --scratch-path "$SCRATCH" --product pyflare

echo "== decoder benchmarks"
swift package --scratch-path "$SCRATCH" benchmark --no-progress --format markdown \
    | tee "$OUT/decode.md"

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_server DATA SINK: starts the release server on DATA; sets PID, OTLP, API. With AUTH=1
# the server checks keys, and KEY is the admin key it printed on its first start.
start_server() {
    local data=$1 sink=$2
    OTLP=$(free_port); API=$(free_port); GRPC=$(free_port)
    printf 'sink:\n  kind: %s\nbatcher:\n  max_queued_spans: 400000\n' "$sink" > "$data/config.yaml"
    if [ "${AUTH:-0}" = 1 ]; then printf 'auth:\n  enabled: true\n' >> "$data/config.yaml"; fi
    "$SCRATCH/release/pyflare" serve --config "$data/config.yaml" --data-dir "$data" \
        --otlp-http-port "$OTLP" --otlp-grpc-port "$GRPC" --api-port "$API" --log-level warning >> "$data/server.log" 2>&1 &
    PID=$!
    for _ in $(seq 300); do curl -sf "http://127.0.0.1:$API/health" >/dev/null && break; sleep 0.1; done
    KEY=$(grep -o 'pfk_[A-Za-z0-9]\{40\}' "$data/server.log" | head -1)
}

# stored_bytes DATA: "spans bytes" of the active segments in DATA's index.
stored_bytes() {
    "$PY" -c 'import sqlite3,sys; r=sqlite3.connect(sys.argv[1]).execute("select sum(rows), sum(bytes_on_disk) from segments where state=\"active\"").fetchone(); print(r[0] or 0, r[1] or 0)' "$1/index.db"
}

# ingest NAME SINK [loadgen args...]; with KEEP=1 the data directory stays in $OUT/$NAME.data.
ingest() {
    local name=$1 sink=$2; shift 2
    local data; data=$(mktemp -d)
    start_server "$data" "$sink"
    local pid=$PID otlp=$OTLP api=$API
    local auth=()
    if [ -n "$KEY" ]; then auth=(--header "x-api-key:$KEY"); fi
    "$PY" "$LOADGEN" --endpoint "http://127.0.0.1:$otlp/v1/traces" --spans "$SPANS" --batch 500 \
        --concurrency "$CONCURRENCY" --retries 5 --report "$OUT/$name.json" "${auth[@]}" "$@" > "$OUT/$name.txt" 2>&1
    sleep 1
    local flushed; flushed=$(curl -s "${auth[@]/--header/-H}" "http://127.0.0.1:$api/metrics" | awk '/^pyflare_batcher_flushed_spans_total/ {print $2}')
    local rss; rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
    kill -TERM "$pid"; wait "$pid" || true
    local stored="" bytes=""
    if [ "$sink" = file ]; then
        stored=$(cat "$data"/exports/spans*.jsonl | wc -l)
        bytes=$(du -sb "$data/exports" | cut -f1)
    elif [ "$sink" = store ]; then
        read -r stored bytes < <(stored_bytes "$data")
    fi
    "$PY" - "$OUT/$name.json" "$name" "$sink" "${flushed:-0}" "$rss" "$stored" "$bytes" >> "$OUT/ingest.md" <<'PYEOF'
import json, sys
report, name, sink, flushed, rss, stored, nbytes = sys.argv[1:]
r = json.load(open(report))
lat = r["latency_ms"]
extra = ""
if stored:
    unit = "lines" if sink == "file" else "spans in segments"
    extra = f"{int(stored):,} {unit}, {int(nbytes)/max(1,int(stored)):,.0f} B/span on disk"
print(f"| {name} | {sink} | {r['spans_sent_ok']:,} | {r['spans_per_s']:,.0f} | {int(float(flushed)):,} | "
      f"{lat['p50']} / {lat['p99']} | {int(rss)/1024:,.0f} MiB | {r['status']} {extra} |")
PYEOF
    if [ "${KEEP:-0}" = 1 ]; then rm -rf "$OUT/$name.data"; mv "$data" "$OUT/$name.data"; else rm -rf "$data"; fi
}

echo "== ingest load runs ($SPANS spans, batch 500, $CONCURRENCY connections)"
{
    echo "| run | sink | spans acknowledged | spans/s acknowledged | spans flushed to sink | latency ms p50 / p99 | peak RSS | statuses, storage |"
    echo "|---|---|---|---|---|---|---|---|"
} > "$OUT/ingest.md"
ingest protobuf-counting counting
# The same with keys on (issue 23: at most 5% slower): every request's key checked.
AUTH=1 ingest protobuf-counting-auth counting
ingest protobuf-gzip-counting counting --gzip --pool 400  # pre-gzipped: loadgen re-gzips reused payloads in Python
ingest json-counting counting --json
ingest protobuf-file file
# Every payload distinct (loadgen re-sends its pool of 200 with new ids otherwise): segments
# holding two copies of a text would compress it once, flattering bytes per span.
KEEP=1 ingest protobuf-store store --pool $(( (SPANS + 499) / 500 ))
cat "$OUT/ingest.md"

# grpc_ingest NAME SINK [bench_grpc.py args...]: the same load as TraceService/Export calls.
grpc_ingest() {
    local name=$1 sink=$2; shift 2
    local data; data=$(mktemp -d)
    start_server "$data" "$sink"
    local result; result=$("$PY" scripts/bench_grpc.py --loadgen "$LOADGEN" --endpoint "127.0.0.1:$GRPC" --spans "$SPANS" \
        --concurrency "$CONCURRENCY" "$@")
    local rss; rss=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status")
    kill -TERM "$PID"; wait "$PID" || true
    rm -rf "$data"
    "$PY" - "$result" "$name" "$sink" "$rss" >> "$OUT/grpc.md" <<'ROW'
import json, sys
r = json.loads(sys.argv[1])
rss_mib = int(sys.argv[4]) / 1024
print(f"| {sys.argv[2]} | {sys.argv[3]} | {r['spans_acked']:,} | {r['spans_per_s']:,} | "
      f"{r['p50_ms']} / {r['p99_ms']} | {rss_mib:,.0f} MiB | {r['errors'] or 'none'} |")
ROW
}

echo "== OTLP/gRPC ingest ($SPANS spans, batch 500, $CONCURRENCY channels, scripts/bench_grpc.py)"
{
    echo "| run | sink | spans acknowledged | spans/s acknowledged | latency ms p50 / p99 | peak RSS | errors |"
    echo "|---|---|---|---|---|---|---|"
} > "$OUT/grpc.md"
grpc_ingest grpc-counting counting
grpc_ingest grpc-gzip-counting counting --gzip
grpc_ingest grpc-store store
cat "$OUT/grpc.md"

echo "== store: bytes on disk, scan speed, trace lookups"
{
    echo "| measure | result |"
    echo "|---|---|"
    read -r spans bytes < <(stored_bytes "$OUT/protobuf-store.data")
    echo "| bytes on disk per span, GenAI workload (prompts included; OTLP protobuf 1,844.6) | $((bytes / spans)) B/span in segments, 1/$(( (18446 * spans / bytes + 5) / 10 )) of OTLP ($spans spans) |"
    data=$(mktemp -d)
    start_server "$data" store
    "$PY" scripts/bench_store.py no-text --loadgen "$LOADGEN" --endpoint "http://127.0.0.1:$OTLP/v1/traces" --spans 100000 > /dev/null
    kill -TERM "$PID"; wait "$PID" || true
    read -r spans bytes < <(stored_bytes "$data")
    echo "| bytes on disk per span, same workload without large text | $((bytes / spans)) B/span in segments ($spans spans) |"
    rm -rf "$data"
    scan=$("$SCRATCH/release/pyflare" segment scan "$OUT"/protobuf-store.data/segments/*.seg --columns start_time,service,cost_micros)
    echo "| segment scan, 3 columns (start_time, service, cost_micros), one core | ${scan#*: } |"
    data=$(mktemp -d)
    start_server "$data" store
    # Beside the load: a word in 0.1% of the spans and one in 10, for the search rows below.
    "$PY" scripts/bench_store.py markers --loadgen "$LOADGEN" --endpoint "http://127.0.0.1:$OTLP/v1/traces" --api "http://127.0.0.1:$API" \
        --word zyzzyva --share 0.001 --rare-word quetzalcoatlus --rare 10 --until-spans "$LOOKUP_SPANS" > "$OUT/search-markers.txt" &
    markers=$!
    "$PY" "$LOADGEN" --endpoint "http://127.0.0.1:$OTLP/v1/traces" --spans "$LOOKUP_SPANS" --batch 500 \
        --concurrency "$CONCURRENCY" --retries 5 --ids-out "$OUT/lookup-ids.txt" > "$OUT/lookup-load.txt" 2>&1
    wait "$markers"
    # The server's peak so far: the burst with the scheduler's jobs running over it.
    peak=$(awk '/^VmHWM/ {print int($2 / 1024)}' "/proc/$PID/status")
    kill -TERM "$PID"; wait "$PID" || true   # seals the rest
    echo "| durable ingest sustained, $LOOKUP_SPANS spans (sealing keeps pace) | $(grep -m1 throughput "$OUT/lookup-load.txt" | sed 's/throughput: *//'); peak RSS $peak MiB with the scheduler on |"
    start_server "$data" store
    lookup=$("$PY" scripts/bench_store.py lookup --api "http://127.0.0.1:$API" --ids "$OUT/lookup-ids.txt" --samples 2000)
    "$PY" scripts/bench_store.py search --api "http://127.0.0.1:$API" --words zyzzyva,quetzalcoatlus,xylophonically --runs 5
    "$PY" scripts/bench_ui.py --api "http://127.0.0.1:$API" --otlp "http://127.0.0.1:$OTLP/v1/traces" --runs 5
    kill -TERM "$PID"; wait "$PID" || true
    "$PY" scripts/bench_store.py sql --pyflare "$SCRATCH/release/pyflare" --data "$data"
    read -r spans bytes < <(stored_bytes "$data")
    echo "| GET /api/v1/traces/{id}, $spans spans stored ($(du -sh "$data" | cut -f1) on disk), 2,000 random traces, one connection | $lookup |"
    rm -rf "$data"
} > "$OUT/store.md"
echo "== Parquet export of the same segments (pyflare export parquet)"
{
    echo "| segments | spans | segment bytes | Parquet bytes | seconds (one core) | spans/s | peak RSS |"
    echo "|---|---|---|---|---|---|---|"
    read -r spans bytes < <(stored_bytes "$OUT/protobuf-store.data")
    /usr/bin/time -f "%e %M" -o "$OUT/parquet-time.txt" "$SCRATCH/release/pyflare" export parquet \
        --data-dir "$OUT/protobuf-store.data" --out "$OUT/parquet" > /dev/null 2>&1
    read -r seconds rss < "$OUT/parquet-time.txt"
    echo "| $(ls "$OUT"/protobuf-store.data/segments/*.seg | wc -l) | $spans | $bytes | $(du -sb "$OUT/parquet" | cut -f1) | $seconds | $(awk -v n="$spans" -v s="$seconds" 'BEGIN { printf "%.0f", n / s }') | $(( rss / 1024 )) MiB |"
    rm -rf "$OUT/parquet"
} > "$OUT/parquet.md"
cat "$OUT/parquet.md"
rm -rf "$OUT/protobuf-store.data"
cat "$OUT/store.md"

echo "== scheduled jobs: one cycle over JOB_SPANS spans (an hour at 1,000 spans/s), summaries from the rollups"
{
    echo "| measure | result |"
    echo "|---|---|"
    data=$(mktemp -d)
    PYFLARE_SCHEDULER_ENABLED=false start_server "$data" store
    "$PY" "$LOADGEN" --endpoint "http://127.0.0.1:$OTLP/v1/traces" --spans "$JOB_SPANS" --batch 500 \
        --concurrency "$CONCURRENCY" --retries 5 > "$OUT/jobs-load.txt" 2>&1
    kill -TERM "$PID"; wait "$PID" || true   # seals the rest
    read -r spans bytes < <(stored_bytes "$data")
    cycle=0
    for job in rollup_1m rollup_1h rollup_1d cost_attribution_1h cost_by_dimension_1h cost_by_dimension_1d budgets; do
        line=$(/usr/bin/time -f "%e %M" -o "$OUT/jobs-time.txt" "$SCRATCH/release/pyflare" jobs run "$job" --data-dir "$data")
        read -r seconds kilobytes < "$OUT/jobs-time.txt"
        echo "| \`pyflare jobs run $job\` over $spans spans (first run: everything) | ${line#*: }; ${seconds} s wall, $((kilobytes / 1024)) MB peak RSS |"
        cycle=$("$PY" -c "print(round($cycle + $seconds, 2))")
    done
    echo "| one full cycle (the seven jobs, in order) | ${cycle} s |"
    rm -rf "$data"
} > "$OUT/jobs.md"
"$PY" scripts/bench_costs.py --bin "$SCRATCH/release/pyflare" > "$OUT/costs.md"
cat "$OUT/jobs.md" "$OUT/costs.md"

echo "== root-cause analysis, evaluation and drift jobs over RCA_SPANS spans of the last hour"
{
    echo "| measure | result |"
    echo "|---|---|"
    data=$(mktemp -d)
    PYFLARE_SCHEDULER_ENABLED=false start_server "$data" store
    "$PY" "$LOADGEN" --endpoint "http://127.0.0.1:$OTLP/v1/traces" --spans "$RCA_SPANS" --batch 500 \
        --concurrency "$CONCURRENCY" --retries 5 > "$OUT/rca-load.txt" 2>&1
    kill -TERM "$PID"; wait "$PID" || true   # seals the rest
    read -r spans bytes < <(stored_bytes "$data")
    for job in rollup_1m rollup_1h cost_attribution_1h cost_by_dimension_1h; do
        "$SCRATCH/release/pyflare" jobs run "$job" --data-dir "$data" > /dev/null
    done
    # Drift in 1-minute windows against the minute before: the load spans a few minutes, and a run
    # scores at most 24 windows.
    for job in failure_clusters rca_slices rca_patterns evaluations rag_evaluations drift; do
        line=$(PYFLARE_DRIFT_WINDOW=1m PYFLARE_DRIFT_REFERENCE_OFFSET=1m PYFLARE_DRIFT_REFERENCE_LENGTH=1m \
            /usr/bin/time -f "%e %M" -o "$OUT/rca-time.txt" "$SCRATCH/release/pyflare" jobs run "$job" --data-dir "$data")
        read -r seconds kilobytes < "$OUT/rca-time.txt"
        echo "| \`pyflare jobs run $job\` over $spans spans | ${line#*: }; ${seconds} s wall, $((kilobytes / 1024)) MB peak RSS |"
    done
    rm -rf "$data"
} > "$OUT/rca.md"
cat "$OUT/rca.md"

# Failure clustering: template grouping accuracy on the Loghub 2k samples, and its speed.
"$PY" scripts/bench_templates.py --bin "$SCRATCH/release/pyflare" > "$OUT/templates.md"
cat "$OUT/templates.md"

echo "== retention: compaction throughput and ingest during a compaction"
SCRATCH="$SCRATCH" OUT="$OUT" scripts/bench_compaction.sh

echo "== the dashboards over 30 days (scripts/bench_dashboards.py)"
data=$(mktemp -d)
start_server "$data" store
"$PY" scripts/bench_dashboards.py "http://127.0.0.1:$API" "http://127.0.0.1:$OTLP/v1/traces" --per-slot "${DASHBOARD_CALLS_PER_2MIN:-10}" \
    | grep '^|' > "$OUT/dashboards.md"
kill -TERM "$PID"; wait "$PID" || true
rm -rf "$data"
cat "$OUT/dashboards.md"

echo "== the Kafka tier: an exporter node and a storage node through Tansu (scripts/bench_kafka.py)"
"$PY" scripts/bench_kafka.py --bin "$SCRATCH/release/pyflare" --loadgen "$LOADGEN" --spans "$SPANS" | grep '^|' > "$OUT/kafka.md"
cat "$OUT/kafka.md"

echo "== remote segments: moved to SeaweedFS, read cold and warm (scripts/bench_remote_segments.py)"
"$PY" scripts/bench_remote_segments.py --bin "$SCRATCH/release/pyflare" --loadgen "$LOADGEN" --spans "$SPANS" | grep '^|' > "$OUT/remote.md"
cat "$OUT/remote.md"

echo "== Python SDK overhead (scripts/bench_sdk.py)"
"$PY" scripts/bench_sdk.py > "$OUT/sdk.md"
cat "$OUT/sdk.md"

# Replace the "Latest run" section of docs/benchmarks.md.
{
    sed '/^## Latest run/,$d' docs/benchmarks.md
    echo "## Latest run"
    echo
    echo "$(date -u +%Y-%m-%d), $(nproc) cores, $(swift --version 2>/dev/null | head -1), \`scripts/bench.sh\` (SPANS=$SPANS, CONCURRENCY=$CONCURRENCY); load generator on the same machine."
    echo
    echo "### Decoder (one core, one payload per iteration)"
    echo
    cat "$OUT/decode.md"
    echo
    echo "### OTLP/HTTP ingest"
    echo
    cat "$OUT/ingest.md"
    echo
    echo "### OTLP/gRPC ingest"
    echo
    cat "$OUT/grpc.md"
    echo
    echo "### Durable store"
    echo
    cat "$OUT/store.md"
    echo
    echo "### Parquet export"
    echo
    cat "$OUT/parquet.md"
    echo
    echo "### Kafka tier (\`scripts/bench_kafka.py\`, Tansu in memory on the same cores)"
    echo
    echo "| hop | figures |"
    echo "|---|---|"
    cat "$OUT/kafka.md"
    echo
    echo "### Remote segments (\`scripts/bench_remote_segments.py\`, SeaweedFS on the same cores)"
    echo
    echo "| measure | figures |"
    echo "|---|---|"
    cat "$OUT/remote.md"
    echo
    echo "### Scheduled jobs and cost summaries"
    echo
    cat "$OUT/jobs.md"
    echo
    echo "\`GET /api/v1/costs/summary\` over 30 days of materialized rollups (\`scripts/bench_costs.py\`, one connection):"
    echo
    cat "$OUT/costs.md"
    echo
    echo "The dashboards over 30 days, $(( ${DASHBOARD_CALLS_PER_2MIN:-10} * 21600 )) LLM calls (\`scripts/bench_dashboards.py\`, headless Chromium; navigation start to the main element):"
    echo
    echo "| page | best | median |"
    echo "|---|---|---|"
    cat "$OUT/dashboards.md"
    echo
    echo "### Root-cause analysis, evaluation and drift jobs (one run each, offline, after the rollups)"
    echo
    cat "$OUT/rca.md"
    echo
    echo "### Failure clustering: message templates (Loghub 2k, \`scripts/bench_templates.py\`)"
    echo
    cat "$OUT/templates.md"
    echo
    echo "### Retention and compaction (\`scripts/bench_compaction.sh\`)"
    echo
    cat "$OUT/compaction.md"
    echo
    echo "### Python SDK overhead (\`scripts/bench_sdk.py\`)"
    echo
    cat "$OUT/sdk.md"
} > "$OUT/benchmarks.md.new"
mv "$OUT/benchmarks.md.new" docs/benchmarks.md
echo "bench: docs/benchmarks.md updated"
