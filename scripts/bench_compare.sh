#!/usr/bin/env bash
# Two release binaries side by side, run alternately on the same machine: ingest into the
# counting sink and the store, trace lookups and SQL over one shared 2 M-span store, and the
# cost summary. For a change that should not move any figure (a restructuring): run it with
# the binary before and after, and compare each row with the spread of its own repeats.
#
#   scripts/bench_compare.sh BEFORE_BINARY AFTER_BINARY [OUT_DIR]
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
[ $# -ge 2 ] || { echo "usage: $0 BEFORE_BINARY AFTER_BINARY [OUT_DIR]" >&2; exit 2; }
declare -A BIN=([before]="$1" [after]="$2")
OUT="${3:-bench-results/compare}"
PY="$ROOT/e2e/.venv/bin/python"
LOADGEN="${PYFLARE_SHARED:-$ROOT/../shared}/bench/loadgen.py"
mkdir -p "$OUT"

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start BINARY DATA SINK: sets PID, OTLP, API.
start() {
    OTLP=$(free_port); API=$(free_port); GRPC=$(free_port)
    printf 'sink:\n  kind: %s\nbatcher:\n  max_queued_spans: 400000\n' "$3" > "$2/config.yaml"
    "$1" serve --config "$2/config.yaml" --data-dir "$2" --otlp-http-port "$OTLP" --otlp-grpc-port "$GRPC" \
        --api-port "$API" --log-level warning >> "$2/server.log" 2>&1 &
    PID=$!
    for _ in $(seq 300); do curl -sf "http://127.0.0.1:$API/health" >/dev/null && break; sleep 0.1; done
}

# ingest NAME WHICH SINK [loadgen args...]: prints "NAME spans/s p50 p99 statuses".
ingest() {
    local name=$1 which=$2 sink=$3; shift 3
    local data; data=$(mktemp -d)
    start "${BIN[$which]}" "$data" "$sink"
    "$PY" "$LOADGEN" --endpoint "http://127.0.0.1:$OTLP/v1/traces" --spans 200000 --batch 500 --concurrency 4 \
        --retries 5 --report "$OUT/$name.json" "$@" > "$OUT/$name.txt" 2>&1
    kill -TERM "$PID"; wait "$PID"
    "$PY" -c "import json; r = json.load(open('$OUT/$name.json')); print('$name', r['spans_per_s'], r['latency_ms']['p50'], r['latency_ms']['p99'], r['status'])"
    rm -rf "$data"
}

echo "== ingest protobuf -> counting sink"
for i in 1 2 3; do ingest "before-counting-$i" before counting; ingest "after-counting-$i" after counting; done
echo "== ingest protobuf -> store (400 distinct payloads)"
for i in 1 2; do ingest "before-store-$i" before store --pool 400; ingest "after-store-$i" after store --pool 400; done

echo "== trace lookups and SQL over 2 M spans"
data=$(mktemp -d)
start "${BIN[after]}" "$data" store
"$PY" "$LOADGEN" --endpoint "http://127.0.0.1:$OTLP/v1/traces" --spans 2000000 --batch 500 --concurrency 4 --retries 5 \
    --ids-out "$OUT/lookup-ids.txt" > "$OUT/lookup-load.txt" 2>&1
kill -TERM "$PID"; wait "$PID"   # seals the rest
for which in before after before after; do
    start "${BIN[$which]}" "$data" store
    echo "lookup $which $("$PY" scripts/bench_store.py lookup --api "http://127.0.0.1:$API" --ids "$OUT/lookup-ids.txt" --samples 2000)"
    kill -TERM "$PID"; wait "$PID"
done
for which in before after; do echo "sql $which"; "$PY" scripts/bench_store.py sql --pyflare "${BIN[$which]}" --data "$data"; done
rm -rf "$data"

echo "== cost summary (30 days of rollups)"
for which in before after before after; do echo "costs $which"; "$PY" scripts/bench_costs.py --bin "${BIN[$which]}"; done
