#!/usr/bin/env bash
# Free-text search over a large store: loadgen's reference workload (SPANS spans, default
# 10 M) with a word in 0.1 % of the spans and another in 10 spans, in one-span traces of the
# load's own services spread over the run and over its 2-hour window (every segment then
# overlaps every other in time, the hard case for a newest-first search). Then the first page
# of each search, and of a word no span holds, on the restarted server; then the UI's first
# paint of the traces list and of a 100,000-span trace (scripts/bench_ui.py).
#
#   scripts/bench_search.sh BINARY [SPANS] [OUT_DIR]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BIN="$1"; SPANS="${2:-10000000}"; OUT="${3:-bench-results/search}"
PY="$ROOT/e2e/.venv/bin/python"
LOADGEN="${PYFLARE_SHARED:-$ROOT/../shared}/bench/loadgen.py"
mkdir -p "$OUT"
DATA=$(mktemp -d)
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start() {
    OTLP=$(free_port); API=$(free_port); GRPC=$(free_port)
    printf 'sink:\n  kind: store\nscheduler:\n  enabled: false\n' > "$DATA/config.yaml"
    "$BIN" serve --config "$DATA/config.yaml" --data-dir "$DATA" --otlp-http-port "$OTLP" --otlp-grpc-port "$GRPC" \
        --api-port "$API" --log-level warning >> "$OUT/server.log" 2>&1 &
    PID=$!
    for _ in $(seq 600); do curl -sf "http://127.0.0.1:$API/health" >/dev/null && break; sleep 0.1; done
}
start
"$PY" scripts/bench_store.py markers --loadgen "$LOADGEN" --endpoint "http://127.0.0.1:$OTLP/v1/traces" --api "http://127.0.0.1:$API" \
    --word zyzzyva --share 0.001 --rare-word quetzalcoatlus --rare 10 --until-spans "$SPANS" > "$OUT/markers.txt" &
MARKERS=$!
"$PY" "$LOADGEN" --endpoint "http://127.0.0.1:$OTLP/v1/traces" --spans "$SPANS" --batch 500 --concurrency 4 \
    --pool 400 --retries 8 > "$OUT/load.txt" 2>&1
wait "$MARKERS"
cat "$OUT/markers.txt"
kill -TERM "$PID"; wait "$PID" || true   # seals what is left
du -sb "$DATA/segments" | tee "$OUT/segments-bytes.txt"
start
"$PY" scripts/bench_store.py search --api "http://127.0.0.1:$API" --words zyzzyva,quetzalcoatlus,xylophonically --runs 5 \
    | tee "$OUT/search.md"
"$PY" scripts/bench_ui.py --api "http://127.0.0.1:$API" --otlp "http://127.0.0.1:$OTLP/v1/traces" --runs 5 | tee "$OUT/ui.md"
kill -TERM "$PID"; wait "$PID" || true
rm -rf "$DATA"
